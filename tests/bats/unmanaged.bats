#!/usr/bin/env bats
# Never silent: a pytest --testmon run under xdist that the preloaded shim does not manage says
# why, in one line, once per run (shim/unmanaged.h has the list of reasons and who says each).
# Reasons covered elsewhere: SQLite linked into the interpreter (robust.bats, "SQLite linked
# statically"), an unusable coordination directory (robust.bats: one line, from the controller).

load helpers/common

setup() { common_setup; }
teardown() { common_teardown; }

launcher() { cp "$FAKE" "$WORK/$1"; }
shim_lines() { grep -c 'testmon-shim\[' <<<"$stderr" || true; }

@test "a controller the shim did not recognise: its first worker says so, once, with the fix" {
    launcher run_tests.py   # no pytest command line, no pytest session in its interpreter
    preloaded "$PY" "$WORK/run_tests.py" controller "$WORK" --workers 2 --worker-sql "SELECT 1"
    assert_success
    [ ! -e .testmon-shim ]
    assert_equal "$(shim_lines)" 1
    [[ "$stderr" == *"worker gw0: error: the controller (pid "*") has $WORK/.testmondata open but published no run: it was not recognised as a pytest session with testmon"*"start pytest as \`pytest\` or \`python -m pytest\`"* ]] || { echo "$stderr"; false; }
}

@test "a worker that cannot find its run (its controller has another datafile): gw0 says so, once" {
    mkdir a b
    "$PY" "$FAKE" controller "$WORK/b" --workers 0 >/dev/null   # b's datafile exists, unmanaged
    preloaded "$PY" "$FAKE" controller "$WORK/a" --worker-dir "$WORK/b" --workers 2 --worker-sql "SELECT 1"
    assert_success
    assert_equal "$(shim_lines)" 1
    [[ "$stderr" == *"worker gw0: error: this worker opens $WORK/b/.testmondata but its controller (pid "*") has $WORK/a/.testmondata open: it cannot find its run"*"the same datafile"* ]] || { echo "$stderr"; false; }
}

@test "the kill switch: TESTMON_SHIM=off keeps every process quiet, whatever else is wrong" {
    launcher run_tests.py
    preloaded env TESTMON_SHIM=off TESTMON_SHIM_TIMEOUT=soon "$PY" "$WORK/run_tests.py" controller "$WORK" --workers 2
    assert_success
    assert_equal "$stderr" ""
    [ ! -e .testmon-shim ]
}

@test "deliberate step-asides stay quiet: a controller that never opens the datafile (testmon 1.0-1.3), a pytest a test started" {
    "$PY" "$FAKE" controller "$WORK" --workers 0 >/dev/null
    # a parent that holds nothing open: testmon 1.0-1.3 deactivate in the controller
    preloaded env PYTEST_XDIST_WORKER=gw0 "$PY" "$FAKE" worker "$WORK" --worker-sql "SELECT 1"
    assert_success
    assert_equal "$stderr" ""
    # an unrecognised controller whose workers a running test started (PYTEST_CURRENT_TEST)
    launcher run_tests.py
    preloaded env PYTEST_CURRENT_TEST="t.py::t (call)" "$PY" "$WORK/run_tests.py" controller "$WORK" --workers 2
    assert_success
    assert_equal "$stderr" ""
}

@test "bad settings are said once per run, not by every worker" {
    preloaded env TESTMON_SHIM_LOG=loud TESTMON_SHIM_TIMEOUT=soon "$PY" "$FAKE" controller "$WORK" --workers 3
    assert_success
    [ "$(grep -c 'TESTMON_SHIM_LOG=loud is not LEVEL\[:FILE\]' <<<"$stderr")" -eq 1 ] || { echo "$stderr"; false; }
    [ "$(grep -c 'TESTMON_SHIM_TIMEOUT=soon is not a number of seconds' <<<"$stderr")" -eq 1 ] || { echo "$stderr"; false; }
    assert_equal "$(shim_lines)" 2
    # a controller that never used the shim cannot say them: its first worker does, once
    launcher run_tests.py
    rm -rf .testmondata*
    preloaded env TESTMON_SHIM_TIMEOUT=soon "$PY" "$WORK/run_tests.py" controller "$WORK" --workers 3
    assert_success
    [ "$(grep -c 'worker gw0: error: TESTMON_SHIM_TIMEOUT=soon is not a number of seconds' <<<"$stderr")" -eq 1 ] || { echo "$stderr"; false; }
    assert_equal "$(shim_lines)" 2   # and why the run is not managed
}
