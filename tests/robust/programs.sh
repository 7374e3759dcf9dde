#!/usr/bin/env bash
# programs.sh BUILD CFLAGS: build the C programs of tests/robust against BUILD's shim and run them
# with it preloaded: the fork/threads stress (pytest_stress) and the re-entrancy test
# (pytest_reentrancy).  Prints each program's result and a closing `N passed, N failed`.
#   SHIM_PRELOAD_FIRST=lib   preloaded before the shim: the sanitizer runtime of a sanitized BUILD
#                            (the programs link it too, but LD_PRELOAD comes before their NEEDED
#                            entries, so without it the shim would load ahead of the runtime)
set -u
cd "$(dirname "$0")/../.."
B=$1 CFLAGS=$2
case $B in /*) SHIM=$B/libtestmon_shim.so ;; *) SHIM=$PWD/$B/libtestmon_shim.so ;; esac
out=$(dirname "$SHIM")/tests/robust
mkdir -p "$out"
[ -f "$SHIM" ] || { echo "no $SHIM"; echo "0 passed, 1 failed"; exit 1; }
pass=0 fail=0
for p in stress reentrancy; do
    # shellcheck disable=SC2086
    # -rdynamic: PyInit__sqlite3 (tests/common/sqlite3mod.h) makes each program a sqlite3 module
    if ! cc -std=c11 -D_GNU_SOURCE -Wall -Wextra $CFLAGS -rdynamic -o "$out/pytest_$p" \
        "tests/robust/$p.c" -lsqlite3 -lpthread; then
        fail=$((fail + 1)); continue
    fi
done
run() { # name command...
    local name=$1; shift
    local w; w=$(mktemp -d "${TMPDIR:-/tmp}/shim-robust.XXXXXX")
    local log=$w/out.txt
    ( cd "$w" && env -u PYTEST_XDIST_WORKER -u TESTMON_SHIM -u TESTMON_SHIM_DIR \
        TESTMON_SHIM_LOG="info:$w/shim.log" LD_PRELOAD="${SHIM_PRELOAD_FIRST:+$SHIM_PRELOAD_FIRST:}$SHIM" "$@" "$w" "$w/shim.log" ) >"$log" 2>&1
    local rc=$?
    local counts p f
    counts=$(tests/result-line.sh "$log")
    p=${counts% *} f=${counts#* }
    [ -n "$counts" ] || { p=0; f=1; }
    [ "$rc" -eq 0 ] || [ "$f" -gt 0 ] || f=1
    if [ "$f" -gt 0 ]; then echo "--- $name failed (exit $rc):"; cat "$log"; fi
    # sanitizer reports in the shim log or program output are failures too
    if grep -q 'ThreadSanitizer\|AddressSanitizer\|runtime error' "$log"; then
        echo "--- $name: sanitizer report"; cat "$log"; f=$((f + 1))
    fi
    echo "$name: $p passed, $f failed"
    pass=$((pass + p)); fail=$((fail + f))
    rm -rf "$w"
}
run "fork/threads stress" "$out/pytest_stress"
run "re-entrancy" "$out/pytest_reentrancy"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
