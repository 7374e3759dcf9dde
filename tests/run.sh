#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it: C unit tests, bats process-level tests, the
# end-to-end oracle's self-test, the end-to-end matrix against real testmon releases, the replay of
# real projects' releases (e2e-real), the robustness checks of `make check-slow` (sanitizers,
# valgrind, coverage, fuzz corpus replay), the Python package: `make wheel`, then the
# installed-wheel tests (tests/wheel/run.py), a new user's first minutes (tests/first-run:
# README's quick start in a fresh venv, make demo), and the aarch64 suite under emulation
# (tests/aarch64/run.sh).
# Each suite prints its own results; the last line adds them up as `N passed, N failed`.
# SUITES=unit,bats,e2e,e2e-off,e2e-real,slow,wheel,first-run,aarch64 limits the run (default: all);
# e2e-quick (one cell, a few steps) only runs when named: make check is SUITES=unit,bats,e2e-quick.
set -u
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}
SUITES=${SUITES:-unit,bats,e2e,e2e-off,e2e-real,slow,wheel,first-run,aarch64}
total_pass=0 total_fail=0 status=0
log_dir=${BUILD:-build}/test-logs
mkdir -p "$log_dir"
rm -f "$log_dir"/*.summary

# count "N passed, N failed" from the last such line of a log
add_counts() { # suite log rc seconds
    local counts p f
    counts=$(tests/result-line.sh "$2")
    p=${counts% *} f=${counts#* }
    if [ -z "$counts" ]; then p=0; f=1; echo "$1: no result line (exit $3): counted as one failure"; fi
    if [ "$3" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then f=1; echo "$1: exit $3 with no failure counted: counted as one"; fi
    total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
    [ "$3" -eq 0 ] || status=1
    echo "== $1: $p passed, $f failed (${4:-?} s)" | tee "$log_dir/$1.summary"
}

suite() { # name command...
    local name=$1; shift
    case ",$SUITES," in *",$name,"*) ;; *) return 0 ;; esac
    echo "== $name: $*"
    local t0=$SECONDS
    "$@" 2>&1 | tee "$log_dir/$name.log"
    add_counts "$name" "$log_dir/$name.log" "${PIPESTATUS[0]}" $((SECONDS - t0))
}

# bats prints TAP: turn it into the same closing line.  BATS_JOBS=N runs N tests at once (make
# check: needs GNU parallel; the whole suite in CI runs them one by one, as timed tests expect).
bats_suite() { # [DIR]: tests/bats by default
    local rc dir=${1:-tests/bats} jobs=()
    local tap="$log_dir/$(basename "$dir").tap"
    if [ "${BATS_JOBS:-1}" -gt 1 ] && command -v parallel >/dev/null; then
        jobs=(--jobs "$BATS_JOBS" --no-parallelize-within-files)
    fi
    bats --tap "${jobs[@]}" "$dir" 2>&1 | tee "$tap"
    rc=${PIPESTATUS[0]}
    tests/tap-count.sh <"$tap"
    return "$rc"
}

"$MAKE" -s all || { echo "0 passed, 1 failed"; exit 1; }
suite unit "$MAKE" -s unit
suite bats bats_suite
# make check's one cell: testmon 2.1.3 through the dependency change that breaks it upstream
suite e2e-quick env -u PYTHON -u TESTMON -u SHIM -u STEPS -u JOBS -u SHIM_PRELOAD_FIRST -u COMPANIONS "$MAKE" -s e2e \
    TESTMON=2.1.3 PYTHON=3.11 LAUNCHERS=none COMPANIONS=none STEPS=rerun,edit_body,dep_add_late
# the matrix runs whole: variables a caller may have exported must not narrow it
suite e2e env -u PYTHON -u TESTMON -u SHIM -u STEPS -u JOBS -u SHIM_PRELOAD_FIRST -u LAUNCHERS \
    -u COMPANIONS "$MAKE" -s e2e
# the negative control: without the shim, upstream's bug must show in every cell of 2.0.2-2.1.4
suite e2e-off env -u PYTHON -u TESTMON -u SHIM -u STEPS -u JOBS "$MAKE" -s e2e-off
# real projects' releases (tests/e2e/real.py), whole too
suite e2e-real env -u TESTMON -u PROJECTS -u SHIM -u NOISE -u JOBS -u SHIM_PRELOAD_FIRST \
    "$MAKE" -s e2e-real
# check-slow builds into its own directories (build-asan, ...); its count is checks.sh's closing
# line.  Whole too: none of the variables that skip or narrow its parts.
suite slow env -u BATS_FILTER -u E2E_CELL -u COVERAGE_MIN -u SHIM -u STEPS -u JOBS \
    -u SHIM_PRELOAD_FIRST CHECK_LOGS="$log_dir/slow" "$MAKE" -s check-slow
# the wheels (dist/), then fresh venvs with the wheel and no LD_PRELOAD (tests/wheel/run.py)
suite wheel env -u LD_PRELOAD -u SHIM -u STEPS -u JOBS "$MAKE" -s wheel-test
# README's quick start as written, in a fresh venv, then make demo (one at a time: both build the wheel)
first_run_suite() { BATS_JOBS=1 bats_suite tests/first-run; }
suite first-run first_run_suite
# aarch64, emulated by qemu-user in an arm64 sysroot (tests/aarch64): the cross-built unit tests,
# the aarch64 wheel's e2e cells against the serial oracle, its negative control, doctor
suite aarch64 env -u AARCH64_WHEEL "$MAKE" -s e2e-aarch64
# last, next to the count: which suites failed, for a log read from its end
grep -h '^== [a-z0-9-]*: [0-9]* passed, [1-9][0-9]* failed' "$log_dir"/*.summary 2>/dev/null
echo "$total_pass passed, $total_fail failed"
exit $status
