#!/usr/bin/env bats
# The datafile's state pinned for the workers (shim/pin.h): workers read the datafile itself,
# opened immutable, while everything else writes it.  Real pytest-xdist and testmon on a
# project that looks like one (helpers/pin_project.py); each run's tests are compared with a
# serial run from the same state, the oracle; PRAGMA integrity_check after every run.

load helpers/common
load helpers/robust

setup() { common_setup; }
teardown() { common_teardown; }

PROJECT="$BATS_TEST_DIRNAME/helpers/pin_project.py"

# pin_setup: a recorded project in ./proj, then edited (a few tests affected), and the serial
# oracle's tests from a copy of that state in ./oracle.txt
pin_setup() {
    venv=$(tm_venv)
    "$PY" "$PROJECT" make proj
    cd proj
    run "$venv/bin/python" -m pytest -p no:randomly --testmon -q
    assert_success
    "$PY" "$PROJECT" edit .
    cd ..
    oracle proj oracle.txt
}

# oracle <project> <file>: the tests a serial `pytest --testmon` runs from a copy of the
# project as it is now (its datafile and WAL included)
oracle() {
    rm -rf oracle-proj
    cp -a "$1" oracle-proj
    (cd oracle-proj && "$venv/bin/python" -m pytest -p no:randomly --testmon -q -rA >../oracle.out 2>&1) || true
    "$PY" "$PROJECT" ran oracle.out >"$2"
    [ -s "$2" ] || { cat oracle.out; false; }
    rm -rf oracle-proj
}

# workers_read <project> [<controller pid>]: what each worker of the project's runs (of that
# controller's) read, one line each
workers_read() {
    "$PY" -c '
import glob, json, sys
for p in sorted(glob.glob(sys.argv[1] + "/.testmon-shim/run-%s-*.worker-*.json" % sys.argv[2])):
    d = json.load(open(p))
    print(d["worker"], d.get("reads"))' "$1" "${2:-*}"
}

# workers_gone <project>: wait (at most 20 s) until no worker named in the project's reports runs
workers_gone() {
    local pid
    for pid in $("$PY" -c '
import glob, json, sys
for p in glob.glob(sys.argv[1] + "/.testmon-shim/*.worker-*.json"):
    print(json.load(open(p))["pid"])' "$1"); do
        for _ in $(seq 200); do [ -e "/proc/$pid" ] || break; sleep 0.1; done
        [ ! -e "/proc/$pid" ]
    done
}

@test "while another process writes the datafile as hard as it can (VACUUM, checkpoints of every mode) and a second run starts on it, the workers of a run, a late replacement included, run exactly the serial oracle's tests; the file is intact" {
    pin_setup
    cd proj
    # run 1: the hammer writes from before the first worker starts to the end; a worker dies
    # and is replaced; a test holds the run until run 2 has started
    env LD_PRELOAD="${SHIM_PRELOAD_FIRST:+$SHIM_PRELOAD_FIRST:}$SHIM" TESTMON_SHIM_TIMEOUT=60 \
        PYTHONPATH="$ROOT/tests/bats/helpers" PIN_HAMMER_STATS="$WORK/hammer.json" \
        PIN_KILL_WORKER="$WORK/worker-killed" PIN_WAIT_FOR="$WORK/run2-started" \
        "$venv/bin/python" -m pytest -p no:randomly -p pin_hammer -n 3 --testmon -q -rA \
        >"$WORK/run1.out" 2>"$WORK/run1.err" &
    run1=$!
    # run 2 on the same datafile, while run 1 runs (its controller initialises, pins or copies)
    for _ in $(seq 1200); do [ -e "$WORK/worker-killed" ] && break; sleep 0.1; done
    preloaded env TESTMON_SHIM_TIMEOUT=60 PIN_STARTED="$WORK/run2-started" \
        "$venv/bin/python" -m pytest -p no:randomly -n 2 --testmon -q -rA
    run2_rc=$status
    printf '%s\n' "$output" >"$WORK/run2.out"
    wait "$run1" && run1_rc=0 || run1_rc=$?
    cd ..

    # run 1: exactly the oracle's tests, the killed worker's test failed (crashed), all else passed
    "$PY" "$PROJECT" ran "$WORK/run1.out" >run1.txt
    diff oracle.txt run1.txt || { cat "$WORK/run1.out" "$WORK/run1.err"; false; }
    [ "$run1_rc" -eq 1 ] || { cat "$WORK/run1.out"; false; }
    grep -q "crashed while running 'tests/test_m0.py::test_worker_dies_once'" "$WORK/run1.out"
    ! grep -q "Different tests were collected\|INTERNALERROR" "$WORK/run1.out"
    [[ "$(cat "$WORK/run1.err")" != *"testmon-shim"* ]] || { cat "$WORK/run1.err"; false; }
    # the hammer wrote throughout, its checkpoints were stopped short, and the database file
    # the workers read never changed meanwhile
    run "$PY" -c 'import json, sys; d = json.load(open(sys.argv[1])); print(d["rounds"] >= 2, d["checkpoints_stopped"] > 0, d["wal_max"] > 0, d["file_changed"])' "$WORK/hammer.json"
    assert_output "True True True 0"
    # run 2 worked beside it (it may find the file pinned or copy it: either is one state); it
    # may find every test recorded by run 1 already (exit 5, no tests ran)
    [ "$run2_rc" -eq 0 ] || [ "$run2_rc" -eq 5 ] || { cat "$WORK/run2.out"; false; }
    ! grep -q "Different tests were collected\|INTERNALERROR" "$WORK/run2.out"
    [ "$(integrity "$PWD/proj/.testmondata")" = ok ]
    # every worker of run 1 (gw0-gw2 and the replacement gw3) read the pinned datafile
    run workers_read proj "$run1"
    for w in gw0 gw1 gw2 gw3; do
        assert_line "$w datafile (pinned)"
    done
    # and the next run is the oracle's again (the state both runs left)
    oracle proj oracle2.txt
    cd proj
    preloaded "$venv/bin/python" -m pytest -p no:randomly -n 2 --testmon -q -rA
    printf '%s\n' "$output" >"$WORK/run3.out"
    cd ..
    "$PY" "$PROJECT" ran "$WORK/run3.out" >run3.txt
    diff oracle2.txt run3.txt
    [ "$(integrity "$PWD/proj/.testmondata")" = ok ]
}

@test "the controller killed mid-run (its state pinned, its writes in the WAL): the file is intact, and a rerun runs exactly the serial oracle's tests from what it left" {
    pin_setup
    cd proj
    preloaded env TESTMON_SHIM_TIMEOUT=60 PIN_KILL_CONTROLLER="$WORK/controller-killed" \
        "$venv/bin/python" -m pytest -p no:randomly -n 2 --testmon -q -rA
    [ -e "$WORK/controller-killed" ]
    assert_failure
    # nothing of the dead run holds the file: no process of it is left to read it
    workers_gone .
    [ "$(integrity "$PWD/.testmondata")" = ok ]
    ls .testmon-shim/ | grep -q '\.db\.pin$' # the dead controller's word is still there
    cd ..
    oracle proj oracle2.txt
    cd proj
    preloaded env TESTMON_SHIM_TIMEOUT=60 "$venv/bin/python" -m pytest -p no:randomly -n 2 --testmon -q -rA
    assert_success
    printf '%s\n' "$output" >"$WORK/rerun.out"
    [[ "$stderr" != *"testmon-shim"* ]] || { echo "$stderr"; false; }
    run workers_read .
    assert_line "gw0 datafile (pinned)"
    assert_line "gw1 datafile (pinned)"
    # the dead run's files are gone (the rerun's controller removed them), the rerun's too
    run bash -c 'ls .testmon-shim | grep -c "\.db"'
    assert_output 0
    cd ..
    "$PY" "$PROJECT" ran "$WORK/rerun.out" >rerun.txt
    diff oracle2.txt rerun.txt
    [ "$(integrity "$PWD/proj/.testmondata")" = ok ]
}
