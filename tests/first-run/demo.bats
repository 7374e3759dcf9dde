#!/usr/bin/env bats
# make demo: it must pass, show each arm's tests and the counts README promises, say "same N tests
# as a serial run" for the shim's runs, show upstream's failure in one line, write no escape code
# to a non-terminal, and leave git status as it found it.  Slow (make wheel, a venv): a suite of
# make test, not of make check (make first-run).

load ../bats/helpers/common

setup() {
    unset LD_PRELOAD PYTEST_ADDOPTS TESTMON_SHIM TESTMON_SHIM_LOG TESTMON_SHIM_DIR TESTMON_DATAFILE
    cd "$ROOT"
}

@test "make demo: the shim's runs are the serial runs, upstream fails, git status untouched" {
    before="$(git status --porcelain 2>/dev/null || true)"
    run make -s demo
    echo "$output"
    assert_success
    # each arm shows what it ran
    assert_line "-- serial: pytest --testmon"
    assert_line "-- upstream: pytest -n 2 --testmon -p no:testmon_shim   (the shim switched off)"
    assert_line "-- shim: pytest -n 2 --testmon"
    assert_equal "$(grep -c '^exit status 0; ran 5 tests: 5 passed$' <<<"$output")" 3   # record, serial, shim
    assert_line --regexp '^exit status [1-9][0-9]*; ran 0 tests'
    assert_line --regexp '^  INTERNALERROR> .*attempt to write a readonly database$'
    assert_line "same 5 tests as a serial run, same outcomes (5 passed), same exit status (0)"
    assert_equal "$(grep -c '^exit status 0; ran 1 test: 1 passed$' <<<"$output")" 2
    assert_line "same 1 test as a serial run, same outcomes (1 passed), same exit status (0)"
    assert_line --regexp '^the shim managed the run \(testmon-shim status: finished, [1-9][0-9]* workers\)$'
    assert_line --regexp '^== the shim fixed it: '
    # no LD_PRELOAD in the demo's commands, no escape codes (this output is no terminal)
    refute_output --partial "LD_PRELOAD"
    [ "$(grep -c $'\033' <<<"$output")" -eq 0 ]
    [ "$(git status --porcelain 2>/dev/null || true)" = "$before" ]
    [ ! -e "$ROOT/.testmondata" ]
}
