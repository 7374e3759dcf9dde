#!/usr/bin/env bats
# Every other SQLite in the process is left alone: a library with its own copy of SQLite (the
# auditwheel layout of pyproj and other wheels: libsqlite3 copied under another name and SONAME,
# needed only by that library; fixtures/second_user.c), used before Python's sqlite3 module is
# loaded or after, behaves byte for byte as without the shim: in a plain script (a bystander), and
# in the controller and workers of a managed pytest --testmon run, serial and -n 2.  (The e2e
# suite's companion cells do the same with pyproj's real wheel and with pysqlite3.)

load helpers/common
load helpers/robust

setup_file() {
    local d="$BATS_FILE_TMPDIR/second" lib
    mkdir -p "$d"
    lib=$(ldconfig -p | awk '/libsqlite3\.so\.0 / {print $NF; exit}')
    cp "$(readlink -f "$lib")" "$d/libsqlite3-second.so.0"
    patchelf --set-soname libsqlite3-second.so.0 "$d/libsqlite3-second.so.0"
    cc -shared -fPIC -o "$d/libsecond_user.so" "$ROOT/tests/bats/fixtures/second_user.c" \
        -L"$d" -l:libsqlite3-second.so.0 -Wl,-rpath,'$ORIGIN' -ldl
    cp "$ROOT/tests/bats/fixtures/second.py" "$d/"
}

setup() {
    common_setup
    SECOND="$BATS_FILE_TMPDIR/second"
}
teardown() { common_teardown; }

@test "the fixture is a second copy: its own SONAME, needed by its library alone" {
    run bash -c "readelf -d '$SECOND/libsecond_user.so' | grep NEEDED"
    assert_line --partial "[libsqlite3-second.so.0]"
    refute_line --partial "[libsqlite3.so.0]"
}

@test "a second SQLite used before or after sqlite3, in a script: the same output as without the shim" {
    for order in first last; do
        mkdir -p "plain-$order" "shim-$order"
        run --separate-stderr "$PY" "$SECOND/second.py" "$SECOND" "$order" "plain-$order"
        assert_success
        want="$output"
        # its functions are its own copy's, and it worked
        [[ "$want" == *"second: rc=0 rows=1 sum=42 errmsg=another row available open=libsqlite3-second.so.0 step=libsqlite3-second.so.0 errmsg_fn=libsqlite3-second.so.0"* ]]
        [[ "$want" == *"python: (1, 7)"* ]]
        preloaded "$PY" "$SECOND/second.py" "$SECOND" "$order" "shim-$order"
        assert_success
        assert_equal "$output" "$want"
        assert_equal "$stderr" ""
    done
}

# a project whose tests use the second SQLite; `first`: every process uses it before anything
# imports sqlite3 (a sitecustomize on PYTHONPATH), `last`: only its tests do
second_project() { # second_project <dir> first|last
    mkdir -p "$1/site"
    cat > "$1/test_second.py" <<EOS
import sys
sys.path.insert(0, "$SECOND")
import second


def test_second_sqlite(tmp_path):
    out = second.use_second("$SECOND", str(tmp_path / "s.db"))
    assert out.startswith("second: rc=0 rows=1 sum=42 errmsg=another row available open=libsqlite3-second.so.0 step=libsqlite3-second.so.0"), out


def test_python_sqlite(tmp_path):
    assert second.use_python(str(tmp_path / "p.db")) == "python: (1, 7)"


def test_plain():
    assert 1 + 1 == 2
EOS
    if [ "$2" = first ]; then
        printf 'import sys, tempfile\nsys.path.insert(0, "%s")\nimport second\nout = second.use_second("%s", tempfile.mkdtemp() + "/site.db")\nassert " rc=0 " in out, out\n' \
            "$SECOND" "$SECOND" > "$1/site/sitecustomize.py"
    fi
}

# a dependency appears (testmon 2.1.3's upstream failure under xdist): a fake installed
# distribution on PYTHONPATH
add_dependency() { # add_dependency <dir>
    mkdir -p "$1/site/zzz_e2e_late-1.0.dist-info"
    printf 'Metadata-Version: 2.1\nName: zzz-e2e-late\nVersion: 1.0\n' > "$1/site/zzz_e2e_late-1.0.dist-info/METADATA"
}

@test "a second SQLite in the controller and workers of a managed run, serial and -n 2, in both orders" {
    local venv
    venv=$(tm_venv) || skip "no testmon 2.1.3 venv: $venv"
    for order in first last; do
        local p="$WORK/$order"
        second_project "$p" "$order"
        cd "$p"
        # the serial run records the tests; after the dependency appears all of them run again,
        # where upstream's workers stop on a read-only database
        for args in "-p no:xdist" "-n 2"; do
            [ "$args" = "-n 2" ] && add_dependency "$p"
            PYTHONPATH="$p/site" preloaded "$venv/bin/python" -m pytest -q --testmon -p no:randomly $args
            assert_success
            assert_line --regexp '^3 passed'
            refute_output --partial "readonly"
            assert_equal "$stderr" ""
        done
        # the run with -n 2 after the dependency change was managed: its run finished, with workers
        run "$ROOT/${BUILD:-build}/testmon-shim" status --json "$p"
        assert_success
        run "$PY" -c "import json, sys; r = json.loads(sys.argv[1])['runs'][-1]; print(r['state'], len(r['workers']))" "$output"
        assert_output "finished 2"
        cd "$WORK"
    done
}
