#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it: C unit tests, bats process-level tests, the
# end-to-end oracle's self-test, the end-to-end matrix against real testmon releases, and the
# robustness checks of `make check-slow` (sanitizers, valgrind, coverage, fuzz corpus replay).
# Each suite prints its own results; the last line adds them up as `N passed, N failed`.
# SUITES=unit,bats,e2e,slow limits the run (default: all).
set -u
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}
SUITES=${SUITES:-unit,bats,e2e,slow}
total_pass=0 total_fail=0 status=0
log_dir=${BUILD:-build}/test-logs
mkdir -p "$log_dir"

# count "N passed, N failed" from the last such line of a log
add_counts() { # suite log rc
    local line p f
    line=$(grep -E '^[A-Za-z:]* ?[0-9]+ passed, [0-9]+ failed' "$2" | tail -n 1)
    p=$(sed -E 's/.*\b([0-9]+) passed.*/\1/' <<<"$line")
    f=$(sed -E 's/.*\b([0-9]+) failed.*/\1/' <<<"$line")
    if [ -z "$line" ]; then p=0; f=1; echo "$1: no result line (exit $3): counted as one failure"; fi
    if [ "$3" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then f=1; echo "$1: exit $3 with no failure counted: counted as one"; fi
    total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
    [ "$3" -eq 0 ] || status=1
    echo "== $1: $p passed, $f failed"
}

suite() { # name command...
    local name=$1; shift
    case ",$SUITES," in *",$name,"*) ;; *) return 0 ;; esac
    echo "== $name: $*"
    "$@" 2>&1 | tee "$log_dir/$name.log"
    add_counts "$name" "$log_dir/$name.log" "${PIPESTATUS[0]}"
}

# bats prints TAP: turn it into the same closing line
bats_suite() {
    local rc
    bats --tap tests/bats 2>&1 | tee "$log_dir/bats.tap"
    rc=${PIPESTATUS[0]}
    tests/tap-count.sh <"$log_dir/bats.tap"
    return "$rc"
}

"$MAKE" -s all || { echo "0 passed, 1 failed"; exit 1; }
suite unit "$MAKE" -s unit
suite bats bats_suite
# the matrix runs whole: variables a caller may have exported must not narrow it
suite e2e env -u PYTHON -u TESTMON -u SHIM -u STEPS -u JOBS -u SHIM_PRELOAD_FIRST "$MAKE" -s e2e
# check-slow builds into its own directories (build-asan, ...); its count is checks.sh's closing
# line.  Whole too: none of the variables that skip or narrow its parts.
suite slow env -u BATS_FILTER -u E2E_CELL -u COVERAGE_MIN -u SHIM -u STEPS -u JOBS \
    -u SHIM_PRELOAD_FIRST CHECK_LOGS="$log_dir/slow" "$MAKE" -s check-slow
echo "$total_pass passed, $total_fail failed"
exit $status
