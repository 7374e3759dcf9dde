#!/usr/bin/env bats
# Interpreters with SQLite linked in (python-build-standalone, as uv installs it): the library
# hooks SQLite's entry points through the symbol table at load (shim/static.h), and the same
# policies run as with a managed sqlite3 module elsewhere.  The interpreters are tests/static/
# build-python.sh's emulation, built once into .cache/static-python: SQLite inside the
# executable (PBS since 20250517), inside libpython3.11.so (older PBS), and the executable
# stripped of its symbol table.

load helpers/common

setup_file() {
    "$ROOT/tests/static/build-python.sh" "$ROOT/.cache/static-python" >&2
}

setup() {
    common_setup
    STATIC="$ROOT/.cache/static-python"
    EXE="$STATIC/bin/python3.11" LIBPY="$STATIC/shared/bin/python3.11"
    STRIPPED="$STATIC/stripped/bin/python3.11"
}
teardown() { common_teardown; }

# a controller and two workers on the static interpreter: a worker's INSERT into environment
# gets the controller's id, an UPDATE is journaled and applied by the controller
run_and_check() { # run_and_check <python>
    preloaded env TESTMON_SHIM_LOG=debug "$1" "$FAKE" controller "$WORK" --workers 2 \
        --worker-sql "INSERT INTO environment VALUES (NULL, 'default', 'pkgs', '3')" \
        --worker-sql "UPDATE test_execution SET forced = NULL"
    assert_success
    [ "$(grep -c 'its entry points are hooked' <<<"$stderr")" -eq 3 ] || { echo "$stderr"; false; }
    run json_field gw1 "d['results'][0]['lastrowid'], d['results'][1]['rowcount']"
    assert_output "(1, 1)"
    run json_field controller "d['test_execution']"
    assert_output "[[1, 't::a', None]]"
    run "$PY" -c "import sqlite3; print(sqlite3.connect('$WORK/.testmondata').execute('select count(*) from environment').fetchone()[0])"
    assert_output 1   # the workers' environment rows never reached the file
    run bash -c "cat $WORK/.testmon-shim/run-*.json"
    assert_output --partial '"state":"finished"'
}

@test "SQLite inside the executable: hooked, and controller and workers run the shim's policies" {
    run bash -c "nm -D '$EXE' | grep -c ' sqlite3_'"
    assert_output 0   # no import slot to redirect: only the entry hooks reach it
    run_and_check "$EXE"
}

@test "SQLite inside libpython3.11.so (older python-build-standalone): the same" {
    run bash -c "nm -D '$STATIC/shared/lib/libpython3.11.so.1.0' | grep -c ' sqlite3_'"
    assert_output 0
    run_and_check "$LIBPY"
}

@test "loaded with ctypes (as the pytest plugin loads it) while four threads call SQLite: they are held while the hooks go in, and no call goes wrong" {
    # the runtime of a sanitizer build must come first; the library itself arrives through ctypes
    run --separate-stderr env ${SHIM_PRELOAD_FIRST:+LD_PRELOAD=$SHIM_PRELOAD_FIRST} \
        TESTMON_SHIM_LOG=debug "$EXE" -c '
import ctypes, sqlite3, sys, threading, time
stop, counts, errors = False, [0] * 4, []
def work(i):
    c = sqlite3.connect(":memory:", check_same_thread=False)
    c.execute("create table t(x)")
    try:
        while not stop:
            c.execute("insert into t values (?)", (i,))
            counts[i] += 1
            assert c.execute("select count(*) from t").fetchone()[0] == counts[i]
    except Exception as e:
        errors.append(repr(e))
threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
for t in threads: t.start()
while min(counts) < 100: time.sleep(0.01)
ctypes.CDLL(sys.argv[1])
before = list(counts)
while min(c - b for c, b in zip(counts, before)) < 100: time.sleep(0.01)
stop = True
for t in threads: t.join()
print(errors or "no error")' "$SHIM"
    assert_success
    assert_output "no error"
    [[ "$stderr" == *"its entry points are hooked (4 other threads held meanwhile"* ]] || { echo "$stderr"; false; }
}

@test "the hook's instruction decoder agrees with Zydis on the entry of every function of both emulated interpreters" {
    # built with the default flags whatever BUILD says: it checks the decoder, not a build of it
    make -s -C "$ROOT" BUILD=build build/tests/unit/test_x86_ref >&2
    run "$ROOT/build/tests/unit/test_x86_ref" "$EXE" "$STATIC/shared/lib/libpython3.11.so.1.0"
    assert_success
    assert_line --regexp "^  $EXE \(.symtab and .dynsym\): [0-9]{4,} entries, [0-9]+ accepted, [0-9]+ refused, 0 mismatches"
    assert_line --regexp "libpython3.11.so.1.0 \(.symtab and .dynsym\): [0-9]{4,} entries, [0-9]+ accepted, [0-9]+ refused, 0 mismatches"
}

@test "on the static interpreter a plain script opening the datafile stays a bystander" {
    "$EXE" "$FAKE" controller "$WORK" --workers 0 >/dev/null
    preloaded "$EXE" -c "import sqlite3; sqlite3.connect('$WORK/.testmondata').execute('insert into metadata values (\"k\", \"v\")').connection.commit()"
    assert_success
    assert_equal "$stderr" ""
    [ ! -e .testmon-shim ]
}

@test "symbol table stripped: one line at the controller's first datafile open, workers and scripts quiet" {
    preloaded "$STRIPPED" "$FAKE" controller "$WORK" --workers 2 --worker-sql "SELECT 1"
    assert_success
    [ "$(grep -c 'testmon-shim\[' <<<"$stderr")" -eq 1 ] || { echo "$stderr"; false; }
    [[ "$stderr" == *"controller"*"this Python has SQLite linked in and $STRIPPED has no symbol table (stripped with --strip-all), so the shim cannot reach it and steps aside"*"testmon-shim doctor"* ]] || [[ "$stderr" == *"this Python has SQLite linked in and $STRIPPED has no symbol table (stripped with --strip-all), so the shim cannot reach it and steps aside"*"testmon-shim doctor"* ]] || { echo "$stderr"; false; }
    [ ! -e .testmon-shim ]
    # a script, and the kill switch: silent
    preloaded "$STRIPPED" -c "import sqlite3; sqlite3.connect('$WORK/.testmondata')"
    assert_equal "$stderr" ""
    preloaded env TESTMON_SHIM=off "$STRIPPED" "$FAKE" controller "$WORK" --workers 1
    assert_success
    assert_equal "$stderr" ""
}

@test "doctor --python: a static interpreter with its symbol table works, a stripped one cannot" {
    # the live probe preloads the library alone: not under a sanitizer, whose runtime must come
    # first (SHIM_PRELOAD_FIRST; the sanitized library is checked by the tests above)
    probe=(); [ -z "${SHIM_PRELOAD_FIRST:-}" ] || probe=(--no-probe)
    run --separate-stderr "$ROOT/${BUILD:-build}/testmon-shim" doctor --python "$EXE" "${probe[@]}" "$WORK"
    assert_line --regexp "^ok    sqlite: _sqlite3 \(built in\) $EXE has SQLite linked in and hidden .*the shim hooks its entry points, found in the symbol table$"
    [ -n "${SHIM_PRELOAD_FIRST:-}" ] || assert_line "ok    live probe: a pytest process under the preload published its run (state finished)"
    run --separate-stderr "$ROOT/${BUILD:-build}/testmon-shim" doctor --python "$STRIPPED" --no-probe "$WORK"
    assert_failure 1
    assert_line --regexp "^FAIL  sqlite: _sqlite3 \(built in\) $STRIPPED has SQLite linked in and hidden .*no symbol table to find it in \(stripped with --strip-all\)"
}
