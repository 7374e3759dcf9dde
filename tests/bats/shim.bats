#!/usr/bin/env bats
# Process-level behaviour of libtestmon_shim.so: roles, waiting, read-only workers, hand-over,
# bystanders and switches.  Uses helpers/pytest_fake.py as controller and workers.

load helpers/common

setup() { common_setup; }
teardown() { common_teardown; }

@test "docs/troubleshooting.md lists every error and warning the shim can print" {
    run "$PY" "$ROOT/tests/bats/helpers/messages.py" "$ROOT"
    assert_success
    assert_output --regexp '^[0-9]+ messages, 0 missing$'
    # the checker itself sees a message that is not listed
    mkdir -p fake/shim fake/docs && cp "$ROOT/docs/troubleshooting.md" fake/docs/
    printf '%s\n' 'void f(void) { shim_log_error("no such message %s; fix it", "x"); }' > fake/shim/x.c
    run "$PY" "$ROOT/tests/bats/helpers/messages.py" fake
    assert_failure
    assert_line 'shim/x.c:1: no such message'
}

@test "shim/'s modules depend one way, as shim/README.md lists them" {
    run "$PY" "$ROOT/tests/modgraph.py" "$ROOT"
    assert_success
    # the checker itself sees a cycle, and a module the table does not list
    mkdir -p fake/shim && cp "$ROOT/shim/README.md" fake/shim/
    printf '#include "b.h"\n' > fake/shim/a.c
    printf '#include "a.h"\n' > fake/shim/b.h
    touch fake/shim/a.h
    run "$PY" "$ROOT/tests/modgraph.py" fake
    assert_failure
    assert_line --regexp '^cycle: (a -> b -> a|b -> a -> b)$'
    assert_line "shim/README.md does not list a"
    # and a use that the includes do not show, read from the objects' symbol tables
    mkdir -p fake2/shim fake2/build/shim
    printf '| `a` | x | - |\n| `b` | y | - |\n' > fake2/shim/README.md
    printf 'int b_f(void);\nint a_f(void) { return b_f(); }\n' > fake2/shim/a.c
    printf 'int b_f(void) { return 1; }\n' > fake2/shim/b.c
    cc -c -o fake2/build/shim/a.o fake2/shim/a.c
    cc -c -o fake2/build/shim/b.o fake2/shim/b.c
    BUILD=build run "$PY" "$ROOT/tests/modgraph.py" fake2
    assert_failure
    assert_line "a.o uses b_f of b, whose header it does not include"
    # a weak declaration (nm: w) is a use too: a lower module calling a higher one when it is
    # linked in, with nothing included, is a back edge all the same
    printf '| `b` | y | - |\n| `a` | x | - |\n' > fake2/shim/README.md
    printf '__attribute__((weak)) int a_f(void);\nint b_f(void) { return a_f ? a_f() : 1; }\n' > fake2/shim/b.c
    printf 'int a_f(void) { return 2; }\n' > fake2/shim/a.c
    cc -c -o fake2/build/shim/a.o fake2/shim/a.c
    cc -c -o fake2/build/shim/b.o fake2/shim/b.c
    BUILD=build run "$PY" "$ROOT/tests/modgraph.py" fake2
    assert_failure
    assert_line "b.o uses a_f of a, whose header it does not include"
}

@test "exports exports.c's functions (version, the plugin's switch and role), no sqlite3_* symbol" {
    run bash -c "nm -D --defined-only '$SHIM' | awk '{print \$3}' | sort"
    assert_success
    assert_output "$(printf '%s\n' testmon_shim_off testmon_shim_role testmon_shim_version)"
    # and wrappers.c has a wrapper for each function api.h marks WRAP or WRAP_OPT (the table is
    # built from api.h: a missing one would not compile), none of them exported
    wrapped=$(grep -o 'X(sqlite3_[a-z0-9_]*, WRAP[A-Z_]*)' "$ROOT/shim/api.h" | sed 's/X(\([^,]*\),.*/\1/')
    [ "$(wc -l <<<"$wrapped")" -ge 8 ]   # open_v2, the prepares, step, exec, the closes
    for f in $wrapped; do grep -q "^static int wrap_$f(" "$ROOT/shim/wrappers.c"; done
}

@test "does not link libsqlite3" {
    run bash -c "readelf -d '$SHIM' | grep NEEDED"
    assert_success
    refute_output --partial sqlite
}

@test "bystanders: sqlite3 CLI, git, bash behave exactly as without the shim" {
    command -v sqlite3 >/dev/null || skip "sqlite3 CLI not installed"
    for cmd in "sqlite3 :memory: 'select 1+1; create table t(x); insert into t values(3); select * from t;'" \
               "git --version" "bash -c 'echo hi; exit 3'" "sqlite3 $WORK/.testmondata 'create table a(x); select count(*) from a'"; do
        run bash -c "$cmd"; want_out="$output"; want_status="$status"
        rm -f "$WORK/.testmondata"
        preloaded bash -c "$cmd"
        assert_equal "$output" "$want_out"
        assert_equal "$status" "$want_status"
        assert_equal "$stderr" ""
        rm -f "$WORK/.testmondata"
    done
    [ ! -e "$WORK/.testmon-shim" ]
}

@test "a non-pytest Python process opening .testmondata is a bystander" {
    preloaded "$PY" -c "import sqlite3; c = sqlite3.connect('.testmondata'); c.execute('create table t(x)'); c.commit()"
    assert_success
    assert_equal "$stderr" ""
    [ ! -e "$WORK/.testmon-shim" ]
}

@test "controller publishes its run: ready after initialising, finished at exit, mode 0600 in a 0700 dir" {
    preloaded "$PY" "$FAKE" controller "$WORK" --workers 0
    assert_success
    run bash -c "ls $WORK/.testmon-shim/run-*.json | wc -l"
    assert_output 1
    run "$PY" -c "import glob, json; print(json.load(open(glob.glob('$WORK/.testmon-shim/run-*.json')[0]))['state'])"
    assert_output finished
    run stat -c %a "$WORK/.testmon-shim" "$(ls $WORK/.testmon-shim/run-*.json)"
    assert_output "$(printf '700\n600')"
}

@test "workers wait for ready, then see the controller's state before it wrote, read-only" {
    preloaded "$PY" "$FAKE" controller "$WORK" --workers 2 --delay 0.5 \
        --worker-sql "SELECT * FROM environment" \
        --worker-sql "INSERT INTO environment VALUES (NULL, 'default', 'pkgs', '3')" \
        --worker-sql "INSERT INTO environment VALUES (NULL, 'default', 'pkgs', '3')"
    assert_success
    # neither opened before the controller's schema was committed, and both woke promptly
    ready_at=$(json_field controller "d['ready_at']")
    for w in gw0 gw1; do
        run json_field $w "0 <= d['opened_at'] - $ready_at < 2"
        assert_output True
    done
    # the environment as the controller saw it at open: empty; the insert gets the controller's id
    run json_field gw1 "d['results'][0]['rows'], d['results'][1]['lastrowid']"
    assert_output "([], 1)"
    # the same insert again is the UNIQUE violation testmon expects (IntegrityError)
    run json_field gw1 "d['results'][2]['error']"
    assert_output --partial "IntegrityError: UNIQUE constraint failed"
    # nothing a worker wrote to environment reached the file
    run "$PY" -c "import sqlite3; print(sqlite3.connect('$WORK/.testmondata').execute('select count(*) from environment').fetchone()[0])"
    assert_output 1
}

@test "a worker's write to a main table is handed to the controller, which applies it" {
    preloaded "$PY" "$FAKE" controller "$WORK" --workers 1 \
        --worker-sql "UPDATE test_execution SET forced = NULL" \
        --worker-sql "SELECT forced FROM test_execution"
    assert_success
    # committed and handed over, the write leaves the worker's view: it reads the run's state
    # again, as every other worker does (worker.h, the rule)
    run json_field gw0 "d['results'][0]['rowcount'], d['results'][1]['rows']"
    assert_output "(1, [[1]])"
    run json_field controller "d['test_execution']"
    assert_output "[[1, 't::a', None]]"
    run bash -c "ls $WORK/.testmon-shim/ | grep -c journal"
    assert_output 0   # applied and removed
}

@test "a worker's write to per-process scratch tables stays in the worker" {
    preloaded "$PY" "$FAKE" controller "$WORK" --workers 1 \
        --worker-sql "INSERT INTO mcall_id VALUES (NULL, 7)"
    assert_success
    run json_field gw0 "d['results'][0]['ok']"
    assert_output True
    run "$PY" -c "import sqlite3; print(sqlite3.connect('$WORK/.testmondata').execute('select count(*) from mcall_id').fetchone()[0])"
    assert_output 0
}

@test "a worker whose controller dies before ready fails at once with one clear line" {
    # dies before the worker opens; dies while the worker waits
    for delays in "--delay 0.3 --worker-delay 1.2" "--delay 0.5 --worker-delay 0"; do
        rm -rf .testmondata* .testmon-shim
        preloaded env TESTMON_SHIM_TIMEOUT=30 "$PY" "$FAKE" controller "$WORK" --workers 1 $delays --die-before-ready
        assert_equal "$status" 3
        run json_field gw0 "d['open_error'], d['waited'] < 2"
        assert_output "('unable to open database file', True)"
        [[ "$stderr" == *"worker gw0: error: the controller (pid "*") exited before its run was ready; nothing was written, run pytest again"* ]]
        [ "$(grep -c 'testmon-shim' <<<"$stderr")" -eq 1 ]
    done
}

@test "a worker never waits past TESTMON_SHIM_TIMEOUT" {
    preloaded env TESTMON_SHIM_TIMEOUT=1 "$PY" "$FAKE" controller "$WORK" --workers 1 --delay 4
    run json_field gw0 "d['open_error'], 0.8 < d['waited'] < 2"
    assert_output "('unable to open database file', True)"
    [[ "$stderr" == *"did not publish ready within 1 s; raise TESTMON_SHIM_TIMEOUT"* ]]
    [ "$(grep -c 'testmon-shim' <<<"$stderr")" -eq 1 ]
}

@test "workers of a controller that never opened the datafile step aside at once (testmon 1.0-1.3)" {
    "$PY" -c "import sqlite3; c = sqlite3.connect('.testmondata'); c.execute('create table t(x)'); c.commit()"
    SECONDS=0
    preloaded env PYTEST_XDIST_WORKER=gw0 "$PY" -c "
import sqlite3; c = sqlite3.connect('.testmondata'); c.execute('insert into t values (1)'); c.commit()
print(c.execute('select count(*) from t').fetchone()[0])"
    assert_success
    assert_output 1
    assert_equal "$stderr" ""
    [ "$SECONDS" -lt 3 ]
}

@test "TESTMON_SHIM=off is a pure pass-through" {
    preloaded env TESTMON_SHIM=off "$PY" "$FAKE" controller "$WORK" --workers 1 \
        --worker-sql "INSERT INTO environment VALUES (NULL, 'x', 'y', 'z')"
    [ ! -e "$WORK/.testmon-shim" ]
    run json_field gw0 "d['results'][0]['error']"
    assert_output --partial "readonly database"
}

@test "TESTMON_SHIM_LOG=info:FILE logs there, stderr stays silent" {
    preloaded env TESTMON_SHIM_LOG="info:$WORK/shim.log" "$PY" "$FAKE" controller "$WORK" --workers 1
    assert_success
    assert_equal "$stderr" ""
    run grep -c "published .* ready" "$WORK/shim.log"
    assert_output 1
    run grep -c "worker gw0: info: opened" "$WORK/shim.log"
    assert_output 1
}

@test "bad settings: one clear line from the processes using the shim, silence elsewhere" {
    preloaded env TESTMON_SHIM_LOG=loud TESTMON_SHIM_TIMEOUT=soon bash -c "echo 42"
    assert_success
    assert_output 42
    assert_equal "$stderr" ""
    preloaded env TESTMON_SHIM_LOG=loud TESTMON_SHIM_TIMEOUT=soon "$PY" "$FAKE" controller "$WORK" --workers 0
    assert_success
    [ "$(grep -c 'TESTMON_SHIM_LOG=loud is not LEVEL\[:FILE\]' <<<"$stderr")" -eq 1 ]
    [ "$(grep -c 'TESTMON_SHIM_TIMEOUT=soon is not a number of seconds' <<<"$stderr")" -eq 1 ]
}

@test "the plugin reads TESTMON_SHIM and TESTMON_SHIM_LOG by the library's grammar (shim/envvars.h)" {
    run "$PY" "$ROOT/tests/bats/helpers/envvars_check.py" "$ROOT" "$SHIM"
    assert_success
    assert_output ok
    # the checker itself sees a list that drifted
    mkdir -p fake/shim fake/python/testmon_shim
    sed 's/"off", "0", "false", "no"/"off", "0", "false", "no", "disabled"/' \
        "$ROOT/shim/envvars.h" > fake/shim/envvars.h
    cp "$ROOT/python/testmon_shim/_envvars.py" fake/python/testmon_shim/
    run "$PY" "$ROOT/tests/bats/helpers/envvars_check.py" fake "$SHIM"
    assert_failure
    assert_line --partial "SHIM_ENVVARS_OFF_VALUES is ('off', '0', 'false', 'no', 'disabled')"
}

@test "a symlink planted as the run file is refused, never followed" {
    "$PY" -c "import sqlite3; c = sqlite3.connect('.testmondata'); c.execute('create table t(x)'); c.commit()"
    ln -s /etc/passwd "$WORK/decoy"
    mkdir -m 700 .testmon-shim
    # a parent that plants a link where its own run file would be, then starts a worker
    preloaded "$PY" -c "
import os, subprocess, sys
start = open('/proc/self/stat').read().rsplit(')', 1)[1].split()[19]
os.symlink('$WORK/decoy', '.testmon-shim/run-%d-%s.json' % (os.getpid(), start))
sys.exit(subprocess.call([sys.executable, '-c', 'import sqlite3; sqlite3.connect(\".testmondata\").execute(\"select 1\")'],
                         env=dict(os.environ, PYTEST_XDIST_WORKER='gw0')))"
    assert_failure
    [[ "$stderr" == *"refusing coordination file"*": a symlink; remove it"* ]]
    [ "$(cat /etc/passwd | wc -c)" -gt 0 ]
}

@test "the coordination directory leaves no trace in the project: git status stays clean, backups skip it" {
    command -v git >/dev/null || skip "git not installed"
    git init -q . && git config user.email t@t && git config user.name t
    printf '.testmondata*\n' > .gitignore   # testmon's own file, as projects ignore it
    git add .gitignore && git commit -qm init
    preloaded "$PY" "$FAKE" controller "$WORK" --workers 1
    assert_success
    [ -d .testmon-shim ]
    run git status --porcelain --untracked-files=all
    assert_output ""
    # the Cache Directory Tagging signature (bford.info/cachedir), as in .pytest_cache
    run head -c 43 .testmon-shim/CACHEDIR.TAG
    assert_output "Signature: 8a477f597d28d172789f06886806bc55"
    # a directory the user made (TESTMON_SHIM_DIR) is not the shim's to mark
    mkdir -m 700 mine
    preloaded env TESTMON_SHIM_DIR="$WORK/mine" "$PY" "$FAKE" controller "$WORK" --workers 0
    assert_success
    [ ! -e mine/.gitignore ] && [ ! -e mine/CACHEDIR.TAG ]
}
