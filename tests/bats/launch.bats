#!/usr/bin/env bats
# Who is a controller: pytest started through pytest.main() by a launcher (a project's script,
# PyCharm's _jb_pytest_runner.py, python -c) is managed like the pytest command; what must stay a
# bystander does (a sqlite3 shell or a plain script on the datafile of a run in progress, a
# pytest.main() that a running test starts).  helpers/pytest_fake.py, copied under a launcher's
# name, stands in for the controller; --session gives it the modules of a pytest session.

load helpers/common
load helpers/robust

setup() { common_setup; }
teardown() { common_teardown; }

# launcher <name>: a copy of the fake controller under a name no pytest command line has
launcher() { cp "$FAKE" "$WORK/$1"; }

run_file_state() {
    "$PY" -c "import glob, json, re; print(' '.join(sorted(json.load(open(f))['state'] for f in glob.glob('$WORK/.testmon-shim/run-*.json') if re.search(r'/run-[0-9]+-[0-9]+[.]json$', f))))"
}

@test "pytest.main() from a script, from _jb_pytest_runner.py and from python -c: the controller is managed" {
    launcher run_tests.py
    launcher _jb_pytest_runner.py
    for how in "run_tests.py" "_jb_pytest_runner.py" "-c"; do
        rm -rf .testmondata* .testmon-shim
        if [ "$how" = -c ]; then
            # the code string is an argument too: it must not name pytest for this case to count
            set -- "$PY" -c "import runpy, sys; sys.argv[0] = '$WORK/run_tests.py'; runpy.run_path(sys.argv[0], run_name='__main__')"
        else
            set -- "$PY" "$WORK/$how"
        fi
        preloaded "$@" controller "$WORK" --session --workers 2 \
            --worker-sql "INSERT INTO environment VALUES (NULL, 'default', 'pkgs', '3')" \
            --worker-sql "INSERT INTO environment VALUES (NULL, 'default', 'pkgs', '3')"
        assert_success
        assert_equal "$stderr" ""
        # the run was published and finished, both workers read the run's copy through it
        assert_equal "$(run_file_state)" finished
        run bash -c "grep -l '\"outcome\":\"ready\"' $WORK/.testmon-shim/*.worker-gw*.json | wc -l"
        assert_output 2
        # a worker's insert gets the controller's id, the same insert again the UNIQUE violation
        # testmon catches: not 'attempt to write a readonly database'
        run json_field gw0 "d['results'][0]['lastrowid'], d['results'][1]['error']"
        assert_output "(1, 'IntegrityError: UNIQUE constraint failed: environment.environment_name, environment.system_packages, environment.python_version')"
    done
}

@test "a pytest.main() that a running test starts stays a bystander (PYTEST_CURRENT_TEST inherited)" {
    launcher run_tests.py
    preloaded env PYTEST_CURRENT_TEST="test_x.py::test_nested (call)" "$PY" "$WORK/run_tests.py" \
        controller "$WORK" --session --workers 0
    assert_success
    assert_equal "$stderr" ""
    [ ! -e "$WORK/.testmon-shim" ]
}

@test "a script that imported pytest but not testmon is a bystander, PYTEST_VERSION or not" {
    for v in "" 8.3.5; do
        preloaded env ${v:+PYTEST_VERSION=$v} "$PY" -c "
import sqlite3, sys, types
sys.modules['_pytest.main'] = types.ModuleType('_pytest.main')
c = sqlite3.connect('.testmondata'); c.execute('create table if not exists t(x)'); c.commit()"
        assert_success
        assert_equal "$stderr" ""
        [ ! -e "$WORK/.testmon-shim" ]
    done
}

# a managed run in progress in $WORK: the controller waits `delay` seconds with its workers
# before it writes; echoes nothing, leaves ctl.out/ctl.err
start_run() {
    "$PY" "$FAKE" controller "$WORK" --workers 0 >/dev/null   # the schema, as a previous run left it
    LD_PRELOAD="$PRELOAD" "$PY" "$FAKE" controller "$WORK" --workers 2 --delay 2 \
        --worker-sql "SELECT count(*) FROM environment" >ctl.out 2>ctl.err &
    CTL=$!
    wait_for_file ".testmon-shim" 10
}
wait_for_file() { local i; for ((i = 0; i < $2 * 10; i++)); do [ -e "$1" ] && return 0; sleep 0.1; done; return 1; }

finish_run() {
    wait "$CTL"
    result=$(cat ctl.out)
    run json_field controller "d['worker_rcs']"
    assert_output "[0, 0]"
    [ ! -s ctl.err ] || { cat ctl.err; false; }
    # one run only: the bystander published nothing
    run bash -c "ls .testmon-shim | grep -c '^run-[0-9]*-[0-9]*\.json$'"
    assert_output 1
}

@test "a sqlite3 shell on the datafile of a run in progress is a bystander" {
    command -v sqlite3 >/dev/null || skip "sqlite3 CLI not installed"
    start_run
    want=$(sqlite3 .testmondata 'select count(*) from environment; pragma user_version')
    preloaded env PYTEST_VERSION=8.3.5 sqlite3 .testmondata 'select count(*) from environment; pragma user_version'
    assert_success
    assert_output "$want"
    assert_equal "$stderr" ""
    finish_run
}

@test "a plain Python script on the datafile of a run in progress is a bystander" {
    start_run
    preloaded env PYTEST_VERSION=8.3.5 "$PY" -c "
import sqlite3
c = sqlite3.connect('.testmondata')
c.execute('create table if not exists notes (x)'); c.execute(\"insert into notes values ('mine')\"); c.commit()
print(c.execute('select count(*) from notes').fetchone()[0])"
    assert_success
    assert_output 1
    assert_equal "$stderr" ""
    finish_run
}
