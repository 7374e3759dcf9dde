#!/usr/bin/env bats
# Failure modes and hostile input: crashes and kills, stale and planted coordination files,
# concurrent and nested runs, bystanders, unwritable or full locations, odd paths, static SQLite.
# Each test asserts an outcome; what cannot run here is skipped with the reason.

load helpers/common
load helpers/robust

setup() { common_setup; }
teardown() {
    mountpoint -q "$WORK/fs" 2>/dev/null && umount "$WORK/fs"
    common_teardown
}

@test "controller SIGKILLed before ready: its worker gives up at once; the file is intact; the next run works" {
    TESTMON_SHIM_TIMEOUT=30 LD_PRELOAD="$PRELOAD" "$PY" "$FAKE" controller "$WORK" --workers 1 \
        --delay 30 >out.txt 2>err.txt &
    cpid=$!
    # killed once its worker waits, not after a guessed second: a controller and a worker that
    # start slower (a sanitizer build, a loaded machine) would otherwise die or spawn on the
    # wrong side of the kill, and the worker then finds no run of its parent at all
    wait_child_waiting "$cpid" 20
    SECONDS=0
    kill -9 "$cpid"
    wait_for out.txt '"gw0"' 10
    [ "$SECONDS" -lt 5 ]
    run json_field gw0 "d['open_error']"
    result=$(cat out.txt); run json_field gw0 "d['open_error']"
    assert_output "unable to open database file"
    grep -q "exited before its run was ready" err.txt
    [ "$(integrity "$WORK/.testmondata")" = ok ]
    preloaded "$PY" "$FAKE" controller "$WORK" --workers 1
    assert_success
    [ "$(integrity "$WORK/.testmondata")" = ok ]
    # the dead run's file was removed by the next controller
    run bash -c "ls .testmon-shim | grep -c run-$cpid-"
    assert_output 0
}

@test "controller SIGKILLed after ready: the next run works and removes the dead run's files" {
    preloaded "$PY" "$FAKE" controller "$WORK" --workers 0
    assert_success
    preloaded "$PY" "$ROBUST" ready-and-die "$WORK"
    assert_equal "$status" 137
    run bash -c "grep -l '\"state\":\"ready\"' .testmon-shim/run-*.json | wc -l"
    assert_output 1   # the dead run's file says ready, and stays behind
    [ "$(integrity "$WORK/.testmondata")" = ok ]
    preloaded "$PY" "$FAKE" controller "$WORK" --workers 1 --worker-sql "SELECT count(*) FROM environment"
    assert_success
    run json_field gw0 "d['results'][0]['rows']"
    assert_output "[[1]]"
    run bash -c "ls .testmon-shim | grep -v -e '\.worker-' -e '\.joined$' -e '^CACHEDIR.TAG$' | wc -l"
    assert_output 1   # only this run's file (and its worker's report, joined flag, cache marker)
}

@test "controller SIGKILLed while writing: integrity_check ok, the next run works" {
    preloaded "$PY" "$ROBUST" write-and-die "$WORK"
    assert_equal "$status" 137
    [ "$(integrity "$WORK/.testmondata")" = ok ]
    run "$PY" -c "import sqlite3; print(sqlite3.connect('$WORK/.testmondata').execute('select count(*) from test_execution').fetchone()[0])"
    assert_output 0   # the transaction never committed
    rm -f .testmondata   # the fake controller wants its own schema
    preloaded "$PY" "$FAKE" controller "$WORK" --workers 1 --worker-sql "UPDATE test_execution SET forced = 0"
    assert_success
    run json_field controller "d['test_execution']"
    assert_output "[[1, 't::a', 0]]"
}

@test "stale coordination files, a reused pid among them, are never trusted, never waited for, and removed" {
    preloaded "$PY" "$FAKE" controller "$WORK" --workers 0
    mkdir -p .testmon-shim && chmod 700 .testmon-shim
    # pid 1 is alive but started at another time; 999999999 does not exist; a stale journal
    for f in run-1-1.json run-999999999-5.json run-1-1.journal-00000000000000000001-gw0-7.json; do
        echo '{"format":1,"state":"initialising","datafile":"x","ops":[],"columns":{}}' > .testmon-shim/$f
    done
    # the workers' copies of crashed runs: garbage, and a symlink (unlinked, never followed)
    echo garbage > .testmon-shim/run-999999999-5.db
    touch .testmon-shim/run-999999999-5.db-wal .testmon-shim/run-999999999-5.db.lock
    echo keep > target && ln -s "$PWD/target" .testmon-shim/run-1-1.db
    SECONDS=0
    preloaded "$PY" "$FAKE" controller "$WORK" --workers 2 --worker-sql "UPDATE test_execution SET forced = 0"
    assert_success
    [ "$SECONDS" -lt 10 ]
    assert_equal "$stderr" ""
    run bash -c "ls .testmon-shim | grep -c '^run-1-1\|^run-999999999-'"
    assert_output 0
    assert_equal "$(cat target)" keep
}

@test "two runs at once in the same directory and in different directories: no cross-talk" {
    mkdir a b
    # the schema first (two fake controllers racing to create it would fail on their own)
    preloaded "$PY" "$FAKE" controller "$WORK/a" --workers 0
    LD_PRELOAD="$PRELOAD" "$PY" "$FAKE" controller "$WORK/a" --workers 2 --delay 0.5 \
        --worker-sql "SELECT count(*) FROM environment" >a.out 2>a.err &
    LD_PRELOAD="$PRELOAD" "$PY" "$FAKE" controller "$WORK/b" --workers 2 --delay 0.5 \
        --worker-sql "SELECT count(*) FROM environment" >b.out 2>b.err &
    LD_PRELOAD="$PRELOAD" "$PY" "$FAKE" controller "$WORK/a" --workers 2 --delay 0.2 \
        --worker-sql "SELECT count(*) FROM environment" >a2.out 2>a2.err &
    wait
    for o in a b a2; do
        result=$(cat $o.out)
        run json_field controller "d['worker_rcs']"
        [ "$output" = "[0, 0]" ] || { echo "$o: $(cat $o.out $o.err)"; false; }
        [ ! -s $o.err ] || { cat $o.err; false; }
    done
    [ "$(integrity "$WORK/a/.testmondata")" = ok ]
}

@test "a nested pytest inside a worker is a bystander: no wait, no coordination files, upstream behaviour" {
    mkdir inner
    SECONDS=0
    preloaded env PYTEST_XDIST_WORKER=gw3 "$PY" "$FAKE" controller "$WORK/inner" --workers 1 \
        --worker-sql "SELECT count(*) FROM environment"
    assert_success
    [ "$SECONDS" -lt 10 ]
    assert_equal "$stderr" ""
    [ ! -e "$WORK/inner/.testmon-shim" ]
    run json_field gw0 "d['results'][0]['rows']"
    assert_output "[[1]]"
}

@test "bystanders from threads opening files named .testmondata: only the first is managed, all work" {
    preloaded "$PY" "$ROBUST" threads "$WORK" 4
    assert_success
    assert_equal "$stderr" ""
    assert_output '{"errors": [], "main_rows": 50}'
    [ -d "$WORK/.testmon-shim" ]
    for i in 0 1 2 3; do [ ! -e "$WORK/t$i/.testmon-shim" ]; done
}

@test "an unwritable coordination location: one clear line, workers step aside at once" {
    SECONDS=0
    preloaded env TESTMON_SHIM_DIR=/proc/self/nonexistent "$PY" "$FAKE" controller "$WORK" --workers 1 \
        --worker-sql "SELECT count(*) FROM environment"
    assert_success
    [ "$SECONDS" -lt 10 ]
    [[ "$stderr" == *"cannot create coordination directory /proc/self/nonexistent"*"set TESTMON_SHIM_DIR"* ]]
    [ "$(grep -c 'testmon-shim' <<<"$stderr")" -eq 1 ]
    run json_field gw0 "d['results'][0]['rows']"
    assert_output "[[1]]"
}

@test "a read-only project directory: the shim adds one clear line, and changes nothing else" {
    try_tmpfs "$WORK/fs" 1m || skip "cannot mount a tmpfs here (needs CAP_SYS_ADMIN)"
    "$PY" "$FAKE" controller "$WORK/fs" --workers 0 >/dev/null
    mount -o remount,ro "$WORK/fs" || skip "cannot remount read-only"
    run --separate-stderr "$PY" "$FAKE" controller "$WORK/fs" --workers 1 --worker-sql "SELECT count(*) FROM environment"
    plain_status=$status plain_out=$output
    SECONDS=0
    preloaded "$PY" "$FAKE" controller "$WORK/fs" --workers 1 --worker-sql "SELECT count(*) FROM environment"
    [ "$SECONDS" -lt 15 ]
    assert_equal "$status" "$plain_status"
    assert_equal "$output" "$plain_out"
    [[ "$stderr" == *"cannot create coordination directory $WORK/fs/.testmon-shim: Read-only file system"* ]]
    [ "$(grep -c 'testmon-shim\[' <<<"$stderr")" -eq 1 ]
    [ ! -e "$WORK/fs/.testmon-shim" ]
}

@test "a full disk (ENOSPC) for coordination files: one clear line, no hang" {
    try_tmpfs "$WORK/fs" 64k || skip "cannot mount a tmpfs here (needs CAP_SYS_ADMIN)"
    mkdir -m 700 "$WORK/fs/c"
    dd if=/dev/zero of="$WORK/fs/fill" bs=4k count=100 2>/dev/null || true
    SECONDS=0
    preloaded env TESTMON_SHIM_DIR="$WORK/fs/c" "$PY" "$FAKE" controller "$WORK" --workers 1 \
        --worker-sql "SELECT count(*) FROM environment"
    assert_success
    [ "$SECONDS" -lt 10 ]
    [[ "$stderr" == *"No space left on device"*"free disk space or set TESTMON_SHIM_DIR"* ]]
    run json_field gw0 "d['results'][0]['rows']"
    assert_output "[[1]]"
}

@test "very long paths, spaces and non-ASCII characters: handed over as usual" {
    long="$WORK/$(printf 'd%.0s' {1..100})/$(printf 'e%.0s' {1..100})/$(printf 'f%.0s' {1..100})/ü ñ ✓ space"
    mkdir -p "$long"
    preloaded "$PY" "$FAKE" controller "$long" --workers 1 --worker-sql "UPDATE test_execution SET forced = NULL"
    assert_success
    assert_equal "$stderr" ""
    run json_field controller "d['test_execution']"
    assert_output "[[1, 't::a', None]]"
    run bash -c "ls \"$long/.testmon-shim\" | grep -c journal"
    assert_output 0
}

@test "hostile run files: truncated, invalid, wrong types, huge, other owner, fifo, directory: refused at once" {
    for mode in truncated invalid wrong-types not-object huge other-owner fifo directory; do
        rm -rf .testmon-shim .testmondata
        preloaded env TESTMON_SHIM=off "$PY" "$ROBUST" plant "$WORK" $mode
        assert_success
        w=$(printf '%s\n' "$output" | tail -n 1 | "$PY" -c 'import json,sys; d=json.loads(sys.stdin.read()); print(d["worker"], d["seconds"] < 5)' 2>/dev/null || true)
        [ "$w" = "error: unable to open database file True" ] || { echo "$mode: $w / $stderr"; false; }
        [ "$(grep -c 'testmon-shim' <<<"$stderr")" -eq 1 ] || { echo "$mode: $stderr"; false; }
        [[ "$stderr" == *"refusing coordination file"* ]] || { echo "$mode: $stderr"; false; }
    done
    # the control: a good planted file is accepted
    rm -rf .testmon-shim .testmondata
    preloaded env TESTMON_SHIM=off "$PY" "$ROBUST" plant "$WORK" good
    [[ "$output" == *'"worker": "opened"'* ]]
}

@test "a world-writable or foreign coordination directory is refused; workers step aside" {
    mkdir -m 777 .testmon-shim && chmod 777 .testmon-shim
    preloaded "$PY" "$FAKE" controller "$WORK" --workers 1 --worker-sql "SELECT count(*) FROM environment"
    assert_success
    [[ "$stderr" == *"is writable by others (mode 777)"* ]]
    run json_field gw0 "d['results'][0]['rows']"
    assert_output "[[1]]"
    chmod 700 .testmon-shim && chown 65534 .testmon-shim
    preloaded "$PY" "$FAKE" controller "$WORK" --workers 0
    assert_success
    [[ "$stderr" == *"belongs to uid 65534"* ]]
    run bash -c "ls .testmon-shim | wc -l"
    assert_output 0
}

@test "TESTMON_SHIM=off restores upstream behaviour exactly (same output as without the preload)" {
    "$PY" "$FAKE" controller "$WORK" --workers 1 --worker-sql "INSERT INTO environment VALUES (NULL, 'x', 'y', 'z')" >plain.out 2>plain.err
    plain_rc=$?
    rm -rf .testmondata*
    preloaded env TESTMON_SHIM=off "$PY" "$FAKE" controller "$WORK" --workers 1 --worker-sql "INSERT INTO environment VALUES (NULL, 'x', 'y', 'z')"
    assert_equal "$status" "$plain_rc"
    run json_field gw0 "d['results']"
    off="$output"
    result=$(cat plain.out); run json_field gw0 "d['results']"
    assert_equal "$off" "$output"
    [ ! -e .testmon-shim ]
}

@test "SQLite linked statically (python-build-standalone-like): nothing breaks, and pytest --testmon says the shim was not reached" {
    a=$(gcc -print-file-name=libsqlite3.a)
    [ -f "$a" ] || skip "no libsqlite3.a (libsqlite3-dev) to link statically"
    cat > pytest_static.c <<'C'
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    sqlite3 *db; char *err = 0;
    if (sqlite3_open_v2(".testmondata", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, 0)) return 1;
    int rc = sqlite3_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES (1)", 0, 0, &err);
    printf("rc=%d\n", rc);
    fflush(stdout);
    if (fork() == 0) /* a forked child that leaves through exit(): the parent alone speaks */
        exit(0);
    wait(0);
    return sqlite3_close(db) || rc;
}
C
    cc -o pytest_static pytest_static.c "$a" -lm -lpthread -ldl || skip "cannot link SQLite statically"
    run bash -c "ldd ./pytest_static | grep -c sqlite"
    assert_output 0
    # without --testmon: a bystander like any other, silent
    preloaded env TESTMON_SHIM_LOG=debug ./pytest_static
    assert_success
    assert_output "rc=0"
    assert_equal "$stderr" ""
    [ ! -e .testmon-shim ]   # never reached: no controller, no run file
    # with --testmon: the datafile was written behind the shim's back; one line at exit says so
    rm .testmondata
    preloaded ./pytest_static --testmon
    assert_success
    assert_output "rc=0"
    assert_equal "$(wc -l <<<"$stderr")" 1
    [[ "$stderr" == *"pytest --testmon wrote $PWD/.testmondata without passing through the shim"*"testmon-shim doctor"* ]]
    [ ! -e .testmon-shim ]
    # testmon switched on in pytest.ini only: the same line
    rm .testmondata
    printf '[pytest]\naddopts = -q --testmon\n' > pytest.ini
    preloaded ./pytest_static
    assert_success
    assert_equal "$(wc -l <<<"$stderr")" 1
    [[ "$stderr" == *"pytest --testmon wrote $PWD/.testmondata without passing through the shim"* ]]
    rm pytest.ini
    # pytest.main() from python -c, as an interpreter with SQLite linked in runs it: the same line
    rm .testmondata
    cp pytest_static python3-static
    preloaded ./python3-static -c "import pytest; pytest.main()" -n 2 --testmon
    assert_success
    assert_equal "$(wc -l <<<"$stderr")" 1
    [[ "$stderr" == *"pytest --testmon wrote $PWD/.testmondata without passing through the shim"* ]]
    # an old datafile (written before the process started) is not blamed on it
    touch -d '-1 hour' .testmondata
    cat > pytest_ro.c <<'C'
int main(void) { return 0; }
C
    cc -o pytest_ro pytest_ro.c
    preloaded ./pytest_ro --testmon
    assert_success
    assert_equal "$stderr" ""
    rm .testmondata
    TESTMON_SHIM=off preloaded ./pytest_static --testmon
    assert_success
    assert_output "rc=0"
    assert_equal "$stderr" ""
}

@test "real pytest-xdist: a worker killed mid-run is replaced, the replacement works under the shim" {
    venv=$(tm_venv)
    mkdir proj && cd proj
    cat > test_a.py <<'PY'
import os, signal
def test_kill():
    if not os.path.exists("killed"):
        open("killed", "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
def test_one(): assert 1
def test_two(): assert 2
def test_three(): assert 3
PY
    preloaded env TESTMON_SHIM_TIMEOUT=30 "$venv/bin/python" -m pytest -p no:randomly \
        -n 2 --testmon -q
    # xdist hands test_kill to gw0 or gw1 (its scheduling, not ours); the replacement is gw2
    [[ "$output" == *"worker 'gw"[01]"' crashed while running 'test_a.py::test_kill'"* ]] || { echo "$output $stderr"; false; }
    [[ "$output" == *"1 failed, 3 passed"* ]] || { echo "$output"; false; }
    [[ "$stderr" != *"testmon-shim"*"error"* ]] || { echo "$stderr"; false; }
    [ "$(integrity "$PWD/.testmondata")" = ok ]
    # the replacement ran under the shim (its worker report says ready)
    run bash -c "cat .testmon-shim/*.worker-gw2-*.json"
    assert_output --partial '"outcome":"ready"'
    # and the next run works: the crashed test runs again and now passes (which of the others
    # testmon re-selects after a crashed worker is testmon's business: seen here, all of them)
    preloaded "$venv/bin/python" -m pytest -p no:randomly -n 2 --testmon -q -rA
    assert_success
    [[ "$output" == *"PASSED test_a.py::test_kill"* ]] || { echo "$output"; false; }
    [[ "$stderr" != *"testmon-shim"* ]] || { echo "$stderr"; false; }
    [ "$(integrity "$PWD/.testmondata")" = ok ]
}

# tm_project <dir>: the e2e suite's sample project (3 modules, 8 tests) and an empty fake-site
tm_project() {
    mkdir -p "$1/site"
    local dir
    dir=$(cd "$1" && pwd)
    (cd "$ROOT/tests/e2e" && "$PY" -c '
import os, sys, scenario
for name, text in scenario.INITIAL.items():
    open(os.path.join(sys.argv[1], name), "w").write(text)' "$dir")
}

# tm_new_dependency <dir>: "install" aaa-e2e-early: a new environment row whose packages sort first
tm_new_dependency() {
    mkdir -p "$1/site/aaa_e2e_early-1.0.dist-info"
    printf 'Metadata-Version: 2.1\nName: aaa-e2e-early\nVersion: 1.0\n' \
        >"$1/site/aaa_e2e_early-1.0.dist-info/METADATA"
}

@test "real pytest-xdist: a late worker's selection is not torn by the controller's sync (testmon 2.1.x race)" {
    venv=$(tm_venv)
    for mode in on off; do
        tm_project "$mode"
        cd "$mode"
        # gw1 reads its affected tests before the controller syncs and the known tests after
        # (pytest_race.py forces that order); the first run records all 8 tests
        for race in "" 1; do
            [ -z "$race" ] || tm_new_dependency .
            preloaded env TESTMON_SHIM="$mode" TESTMON_RACE="$race" TESTMON_SHIM_TIMEOUT=30 \
                PYTHONPATH="$PWD/site:$ROOT/tests/bats/helpers" PYTHONDONTWRITEBYTECODE=1 \
                "$venv/bin/python" -m pytest -p no:randomly -p pytest_race -n 2 --testmon -q
            [ -n "$race" ] || { assert_success; [[ "$output" == *"8 passed"* ]]; }
        done
        [ -e synced ] && [ -e gw1-selected ] # the forced order happened
        if [ "$mode" = on ]; then
            # every worker read the copy made when the first one opened: gw1 selects all 8 tests
            # of the new environment, as gw0 and a serial run do
            assert_success
            [[ "$output" == *"8 passed"* ]] || { echo "$output"; false; }
            [[ "$stderr" != *"testmon-shim"* ]] || { echo "$stderr"; false; }
            run bash -c 'ls .testmon-shim | grep -c "\.db"'
            assert_output 0 # the controller removed the copy at exit
        else
            # the negative control: upstream, gw1 deselects everything
            assert_failure
            [[ "$output" == *"Different tests were collected between gw0 and gw1"* ]] ||
                { echo "$output"; false; }
        fi
        [ "$(integrity "$PWD/.testmondata")" = ok ]
        cd ..
    done
}
