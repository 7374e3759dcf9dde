#!/usr/bin/env bash
# checks.sh STEP...: the robustness checks behind tests/check.mk.  Steps: fuzz-replay asan ubsan
# tsan valgrind coverage static.  Each step prints its parts' results; the last line adds them all up as
# `N passed, N failed` (exit status 1 if anything failed).  Every step builds into its own BUILD
# directory (build-asan, build-ubsan, build-tsan, build-vg, build-cov, build-fuzz, build-static).
#   E2E_CELL=0      skip the end-to-end cell of the asan step (it needs the e2e venvs)
#   BATS_FILTER=re  only the bats tests whose name matches
set -u
cd "$(dirname "$0")/../.."
MAKE=${MAKE:-make}
MK=(-f Makefile)  # the Makefile includes tests/check.mk (naming it again redefines every target)
SAN_COMMON="-O1 -g -fno-omit-frame-pointer"
ASAN_CFLAGS="$SAN_COMMON -fsanitize=address,undefined -fno-sanitize-recover=undefined"
UBSAN_CFLAGS="$SAN_COMMON -fsanitize=undefined -fno-sanitize-recover=all"
TSAN_CFLAGS="$SAN_COMMON -fsanitize=thread"
COV_CFLAGS="-O1 -g --coverage"  # -O1: the unit programs rely on unused statics being dropped
LIBASAN=$(gcc -print-file-name=libasan.so)
LIBTSAN=$(gcc -print-file-name=libtsan.so)
total_pass=0 total_fail=0
LOGS=${CHECK_LOGS:-build/check-logs}
mkdir -p "$LOGS"

tally() { # name passed failed
    total_pass=$((total_pass + $2)); total_fail=$((total_fail + $3))
    printf '== %-34s %s passed, %s failed\n' "$1:" "$2" "$3"
}

# run a command whose last "N passed, N failed" line is its result; no such line = 1 failure
counted() { # name command...
    local name=$1 log="$LOGS/${1//[^A-Za-z0-9_.-]/_}.log" rc counts p f; shift
    "$@" >"$log" 2>&1; rc=$?
    counts=$(tests/result-line.sh "$log")
    p=${counts% *} f=${counts#* }
    [ -n "$counts" ] || { p=0; f=1; }
    [ "$rc" -eq 0 ] || [ "$f" -gt 0 ] || f=1
    if [ "$f" -gt 0 ]; then echo "--- $name failed (exit $rc), log $log:"; tail -n 40 "$log"; fi
    tally "$name" "$p" "$f"
}

# one command, one result
single() { # name command...
    local name=$1 log="$LOGS/${1//[^A-Za-z0-9_.-]/_}.log"; shift
    if "$@" >"$log" 2>&1; then tally "$name" 1 0
    else echo "--- $name failed, log $log:"; tail -n 40 "$log"; tally "$name" 0 1; fi
}

bats_run() { # [VAR=value...] files...: bats with that environment; prints N passed, N failed
    local tap rc
    # PYTHONUNBUFFERED makes print() two write()s (text, then newline), so the JSON lines of two
    # fake workers sharing stdout can interleave into one unparseable line; buffered, each
    # process's output is one write at exit
    tap=$(unset PYTHONUNBUFFERED; while [[ $1 == *=* ]]; do export "${1?}"; shift; done
          bats --tap ${BATS_FILTER:+--filter "$BATS_FILTER"} "$@" 2>&1); rc=$?
    [[ $tap == *ThreadSanitizer* || $tap == *AddressSanitizer* || $tap == *"runtime error:"* ]] &&
        { echo "sanitizer report in the bats output"; rc=1; }
    printf '%s\n' "$tap"
    tests/tap-count.sh <<<"$tap"
    return "$rc"
}

build() { # BUILD CFLAGS
    "$MAKE" -s "${MK[@]}" BUILD="$1" CFLAGS="$2" all
}

step_fuzz_replay() {
    single "fuzz: build" "$MAKE" -s "${MK[@]}" fuzz-build
    local t files n
    for t in runfile journal prepare classify; do
        files=(tests/fuzz/corpus-$t/*)
        n=${#files[@]}
        # each file once, sanitizers and leak checking on; any report is a failure
        if build-fuzz/fuzz_$t -runs=1 -artifact_prefix="$LOGS/fuzz-replay-$t-" "${files[@]}" >"$LOGS/fuzz-replay-$t.log" 2>&1; then
            tally "fuzz-replay $t ($n inputs)" "$n" 0
        else
            echo "--- fuzz-replay $t failed:"; grep -A30 -m1 'ERROR\|runtime error' "$LOGS/fuzz-replay-$t.log"
            tally "fuzz-replay $t ($n inputs)" 0 1
        fi
    done
}

step_asan() {
    single "asan: build" build build-asan "$ASAN_CFLAGS"
    counted "asan: unit" env ASAN_OPTIONS=detect_leaks=1 "$MAKE" -s "${MK[@]}" BUILD=build-asan \
        CFLAGS="$ASAN_CFLAGS" unit
    counted "asan: bats" bats_run BUILD=build-asan SHIM_PRELOAD_FIRST="$LIBASAN" \
        ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 tests/bats/shim.bats tests/bats/robust.bats \
        tests/bats/static.bats
    counted "asan: robust programs" env ASAN_OPTIONS=detect_leaks=1 SHIM_PRELOAD_FIRST="$LIBASAN" \
        tests/robust/programs.sh build-asan "$ASAN_CFLAGS"
    if [ "${E2E_CELL:-1}" != 0 ]; then
        # the ASan runtime first in the pytest processes' LD_PRELOAD, then the shim (ASan's
        # own link-order check, left on, aborts any process where it is not first); one cell, not
        # its launcher cells: the bats suite above already runs the launchers' path under ASan
        counted "asan: e2e testmon 2.1.3 py3.11" env ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
            "$MAKE" -s "${MK[@]}" BUILD=build-asan CFLAGS="$ASAN_CFLAGS" e2e TESTMON=2.1.3 \
            PYTHON=3.11 LAUNCHERS=none COMPANIONS=none SHIM_PRELOAD_FIRST="$LIBASAN"
    fi
}

# The older python-build-standalone layout (SQLite inside libpython3.11.so, which the library
# hooks there: shim/static.h): one e2e cell, nine steps, on tests/static/build-python.sh's emulation of it,
# next to the matrix's static-3.11 cells (SQLite inside the executable).
step_static() {
    single "static: build the interpreters" tests/static/build-python.sh .cache/static-python
    # the matrix's first nine steps: the fresh database, edits and every dependency change, where
    # 2.1.3 fails upstream
    counted "static: e2e testmon 2.1.3, SQLite inside libpython3.11.so" "$MAKE" -s "${MK[@]}" e2e \
        BUILD=build-static TESTMON=2.1.3 PYTHON="$PWD/.cache/static-python/shared/bin/python3.11" \
        LAUNCHERS=none COMPANIONS=none STEPS=rerun,edit_body,edit_test,dep_add_late,dep_add_early,dep_upgrade,dep_downgrade,dep_remove
}

step_ubsan() {
    single "ubsan: build" build build-ubsan "$UBSAN_CFLAGS"
    counted "ubsan: unit" "$MAKE" -s "${MK[@]}" BUILD=build-ubsan CFLAGS="$UBSAN_CFLAGS" unit
    # libubsan need not come first: the shim's own NEEDED entry loads it
    counted "ubsan: bats" bats_run BUILD=build-ubsan UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        tests/bats/shim.bats tests/bats/robust.bats
    counted "ubsan: robust programs" tests/robust/programs.sh build-ubsan "$UBSAN_CFLAGS"
}

step_tsan() {
    single "tsan: build" build build-tsan "$TSAN_CFLAGS"
    counted "tsan: unit" env TSAN_OPTIONS=halt_on_error=1 "$MAKE" -s "${MK[@]}" BUILD=build-tsan \
        CFLAGS="$TSAN_CFLAGS" unit
    # Python under TSan starts in seconds: the tests that assert wall-clock bounds are left out
    counted "tsan: bats" bats_run BUILD=build-tsan SHIM_PRELOAD_FIRST="$LIBTSAN" \
        TSAN_OPTIONS=halt_on_error=1:report_signal_unsafe=0 \
        BATS_FILTER="${BATS_FILTER:-exports|link|bystander|publishes|handed|scratch|dies before|pass-through|LOG=|bad settings|symlink}" \
        tests/bats/shim.bats
    # report_thread_leaks=0: a child forked at the gate inherits the parent's thread table
    counted "tsan: robust programs (fork/threads stress)" env TSAN_OPTIONS=halt_on_error=1:report_thread_leaks=0 \
        SHIM_PRELOAD_FIRST="$LIBTSAN" tests/robust/programs.sh build-tsan "$TSAN_CFLAGS"
}

step_valgrind() {
    single "valgrind: build" build build-vg "-O1 -g"
    counted "valgrind: unit" "$MAKE" -s "${MK[@]}" BUILD=build-vg CFLAGS="-O1 -g" \
        UNIT_RUN=tests/robust/vg-run.sh unit
}

step_coverage() {
    rm -rf build-cov
    # the library and the command (tools/), both with --coverage
    single "coverage: build" build build-cov "$COV_CFLAGS"
    # the unit tests include test_tool_pure (the command's pure functions)
    counted "coverage: unit" "$MAKE" -s "${MK[@]}" BUILD=build-cov CFLAGS="$COV_CFLAGS" unit
    counted "coverage: bats" bats_run BUILD=build-cov tests/bats/shim.bats tests/bats/robust.bats \
        tests/bats/tool.bats tests/bats/static.bats
    counted "coverage: robust programs" tests/robust/programs.sh build-cov "$COV_CFLAGS"
    local rep=build-cov/coverage.txt d pct
    tests/robust/coverage-report.sh build-cov shim tools | tee "$rep"
    for d in shim tools; do
        pct=$(sed -n "s|^TOTAL $d/ .* \([0-9.]*\)%\$|\1|p" "$rep")
        if [ -n "$pct" ] && awk "BEGIN{exit !($pct >= ${COVERAGE_MIN:-90})}"; then
            tally "coverage: $d/ lines >= ${COVERAGE_MIN:-90}% ($pct%)" 1 0
        else
            tally "coverage: $d/ lines >= ${COVERAGE_MIN:-90}% (${pct:-?}%)" 0 1
        fi
    done
}

run_step() { # the step's function, its own totals last
    case $1 in
    fuzz-replay) step_fuzz_replay ;;
    asan|ubsan|tsan|valgrind|coverage|static) "step_$1" ;;
    esac
    echo "step-total $total_pass $total_fail"
}
for s in "$@"; do
    case $s in
    fuzz-replay|asan|ubsan|tsan|valgrind|coverage|static) ;;
    *) echo "checks.sh: unknown step $s" >&2; exit 2 ;;
    esac
done

# The steps build into directories of their own and share nothing but read-only venvs, so
# CHECK_JOBS (default 2, the machine's cores) of them run at once: much of each is one core's
# work (a compiler, valgrind's one thread, bats one test at a time).  Each step's lines go to a
# file and are printed whole, in the order asked, when it ends; the totals add up from them.
jobs=${CHECK_JOBS:-2}
out=$LOGS/steps
rm -rf "$out" && mkdir -p "$out"
next=0
for s in "$@"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
    ( total_pass=0 total_fail=0; run_step "$s" ) >"$out/$next-$s.txt" 2>&1 &
    next=$((next + 1))
done
wait
i=0
for s in "$@"; do
    f=$out/$i-$s.txt
    grep -v '^step-total ' "$f"
    read -r _ p fl < <(grep '^step-total ' "$f" || echo "step-total 0 1")
    total_pass=$((total_pass + p)); total_fail=$((total_fail + fl))
    i=$((i + 1))
done
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
