#!/usr/bin/env bats
# The testmon-shim command: run, doctor, status, clean, install/uninstall, --help/--version.
# Uses the command and the library of ${BUILD:-build} and helpers/pytest_fake.py as controller.

load helpers/common
bats_require_minimum_version 1.5.0

TOOL="$ROOT/${BUILD:-build}/testmon-shim"

setup() {
    common_setup
    [ -x "$TOOL" ] || { echo "build the command first: make" >&2; return 1; }
    LIB="$(realpath "$SHIM")"
    LIBC="$(ldd /bin/sh | awk '/libc\.so/ {print $3}')"
    unset LD_PRELOAD TESTMON_SHIM_LIB TESTMON_SHIM_DOCTOR_TIMEOUT
}
teardown() {
    [ -n "${BG:-}" ] && kill "$BG" 2>/dev/null && wait "$BG" 2>/dev/null
    common_teardown
}

# a finished run with two workers that each hand over one row, in $WORK
finished_run() {
    run --separate-stderr "$TOOL" run "$PY" "$FAKE" controller "$WORK" --workers 2 \
        --worker-sql "INSERT INTO test_execution VALUES (NULL, 1, 't::w', 0.1, 0, 0)"
    assert_success
    [ -f "$(ls "$WORK"/.testmon-shim/run-*.json | head -n 1)" ]
}

# start a controller that stays alive (initialising) for a while; sets BG and RUNFILE
live_run() {
    LD_PRELOAD="$LIB" "$PY" "$FAKE" controller "$WORK" --workers 0 --delay 20 >/dev/null 2>&1 &
    BG=$!
    for _ in $(seq 100); do
        RUNFILE="$(ls "$WORK"/.testmon-shim/run-"$BG"-*.json 2>/dev/null | head -n 1)"
        [ -n "$RUNFILE" ] && return 0
        sleep 0.1
    done
    echo "the live controller did not publish its run" >&2
    return 1
}

# ---- --help, --version, usage errors ----

@test "--version prints the library's version" {
    run --separate-stderr "$TOOL" --version
    assert_success
    want="$("$PY" -c 'import ctypes, sys; f = ctypes.CDLL(sys.argv[1]).testmon_shim_version; f.restype = ctypes.c_char_p; print(f().decode())' "$LIB")"
    assert_output "testmon-shim $want"
    assert_equal "$stderr" ""
}

@test "--help lists every command on stdout" {
    run --separate-stderr "$TOOL" --help
    assert_success
    for cmd in run doctor status clean; do assert_line --partial "  $cmd "; done
    assert_equal "$stderr" ""
    run --separate-stderr "$TOOL" status --help
    assert_success
    assert_line --partial "usage: testmon-shim"
}

@test "an unknown command, an unknown option and no command are usage errors (exit 2)" {
    run --separate-stderr "$TOOL" x
    assert_failure 2
    assert_output ""
    assert_equal "$stderr" "testmon-shim: unknown command 'x'; see testmon-shim --help"
    run --separate-stderr "$TOOL"
    assert_failure 2
    assert_equal "$stderr" "testmon-shim: no command given; see testmon-shim --help"
    for args in "--bogus" "status --bogus" "clean --bogus" "doctor --bogus" "run --bogus" \
                "run" "doctor --python" "status a b"; do
        run --separate-stderr "$TOOL" $args
        assert_failure 2
        assert_output ""
        [[ "$stderr" == "testmon-shim: "*"; see testmon-shim --help" ]]
    done
}

# ---- run ----

@test "run: exits with the command's status, LD_PRELOAD holds the library's absolute path" {
    run --separate-stderr "$TOOL" run sh -c 'printf "%s\n" "$LD_PRELOAD"; exit 7'
    assert_failure 7
    assert_output "$LIB"
    assert_equal "$stderr" ""
    run --separate-stderr "$TOOL" run -- true
    assert_success
}

@test "run: prepends to existing LD_PRELOAD entries, never twice, and drops other copies" {
    LD_PRELOAD="$LIBC" run --separate-stderr "$TOOL" run printenv LD_PRELOAD
    assert_success
    assert_output "$LIB:$LIBC"
    LD_PRELOAD="$LIBC $LIB" run --separate-stderr "$TOOL" run printenv LD_PRELOAD
    assert_output "$LIB:$LIBC"
    mkdir other && cp "$LIB" other/libtestmon_shim.so
    LD_PRELOAD="$WORK/other/libtestmon_shim.so:$LIBC" run --separate-stderr "$TOOL" run printenv LD_PRELOAD
    assert_success
    assert_output "$LIB:$LIBC"
    [[ "$stderr" == *"removed 1 other copy"* ]]
}

@test "run: the preloaded shim manages a pytest controller" {
    finished_run
    run "$PY" -c "import glob, json, re; print([json.load(open(f))['state'] for f in glob.glob('$WORK/.testmon-shim/run-*.json') if re.search(r'/run-[0-9]+-[0-9]+[.]json$', f)])"
    assert_output "['finished']"
}

@test "run: a missing command exits 127, a non-executable one 126, no library 125" {
    run -127 --separate-stderr "$TOOL" run no-such-command-xyz
    assert_failure 127
    assert_equal "$stderr" "testmon-shim: run: no-such-command-xyz: command not found"
    run -127 --separate-stderr "$TOOL" run ./missing
    touch plain
    run -126 --separate-stderr "$TOOL" run ./plain
    assert_equal "$stderr" "testmon-shim: run: ./plain: cannot execute: Permission denied"
    TESTMON_SHIM_LIB=/nonexistent/lib.so run --separate-stderr "$TOOL" run true
    assert_failure 125
    [[ "$stderr" == "testmon-shim: run: TESTMON_SHIM_LIB=/nonexistent/lib.so: No such file or directory" ]]
}

@test "run: TESTMON_SHIM_LIB overrides the library next to the command" {
    cp "$LIB" "$WORK/copy.so"
    TESTMON_SHIM_LIB="$WORK/copy.so" run --separate-stderr "$TOOL" run printenv LD_PRELOAD
    assert_success
    assert_output "$WORK/copy.so"
}

# ---- doctor ----

@test "doctor: the real interpreter works, the probe leaves nothing behind" {
    mkdir tmp
    TMPDIR="$WORK/tmp" run --separate-stderr "$TOOL" doctor --python "$PY" "$WORK"
    [ "$status" -eq 0 ] || [ "$status" -eq 3 ]
    assert_line "ok    library: $LIB (exports testmon_shim_version)"
    assert_line --regexp '^ok    sqlite: _sqlite3 .* calls libsqlite3\.so\.0 through the dynamic linker'
    assert_line --regexp '^ok    live probe: '
    assert_line --regexp '^verdict: works'
    [ "$(ls -A tmp)" = "" ]
    [ ! -e "$WORK/.testmon-shim" ]
}

@test "doctor: a relative --python path still reaches the live probe" {
    ln -s "$PY" ./relpython
    run --separate-stderr "$TOOL" doctor --python ./relpython "$WORK"
    [ "$status" -eq 0 ] || [ "$status" -eq 3 ]
    assert_line --regexp '^ok    live probe: '
    assert_line --regexp '^verdict: works'
}

# a fake interpreter answering doctor's query: _sqlite3 is the given object, with given packages
fake_python() { # fake_python <object> [testmon-version]
    local tm="${2:+\"$2\"}"
    cat > fakepy <<EOS
#!/bin/sh
echo '{"executable": "/fake/python", "version": "3.12.0", "builtin": false, "maps": [],
 "sqlite3_file": "$1", "sqlite_version": "3.45.0",
 "packages": {"pytest": "8.0.0", "pytest-xdist": "3.5.0", "pytest-testmon": ${tm:-null}}}'
EOS
    chmod +x fakepy
}

compile_so() { # compile_so <name> <C source> [libs]
    printf '%s\n' "$2" > "$1.c"
    cc -shared -fPIC -o "$1.so" "$1.c" ${3:-}
}

@test "doctor: _sqlite3 calling libsqlite3 through the dynamic linker is ok (ELF check)" {
    compile_so und 'int sqlite3_open_v2(const char *, void **, int, const char *);
int sqlite3_step(void *);
int f(void) { return sqlite3_open_v2(0, 0, 0, 0) + sqlite3_step(0); }' -lsqlite3
    fake_python "$WORK/und.so" 2.1.3
    run --separate-stderr "$TOOL" doctor --python ./fakepy --no-probe
    assert_success
    assert_line "ok    sqlite: _sqlite3 $WORK/und.so calls libsqlite3.so.0 through the dynamic linker (SQLite 3.45.0)"
    assert_line "note  live probe: skipped (--no-probe)"
    assert_line "verdict: works"
}

@test "doctor: _sqlite3 defining sqlite3_open_v2 (bundled SQLite) cannot work" {
    compile_so def 'int sqlite3_open_v2(const char *f, void **d, int fl, const char *v) { (void)f; (void)d; (void)fl; (void)v; return 0; }'
    fake_python "$WORK/def.so" 2.1.3
    run --separate-stderr "$TOOL" doctor --python ./fakepy --no-probe
    assert_failure 1
    assert_line --regexp "^FAIL  sqlite: _sqlite3 $WORK/def.so defines sqlite3_open_v2 itself"
    assert_line --regexp "^verdict: cannot work: sqlite: .*use a Python whose _sqlite3 links libsqlite3.so.0 \(Debian's python3, pyenv, deadsnakes\)$"
}

@test "doctor: _sqlite3 without any dynamic sqlite3_open_v2 (static, hidden) cannot work" {
    compile_so none 'int f(void) { return 1; }'
    fake_python "$WORK/none.so" 2.1.3
    run --separate-stderr "$TOOL" doctor --python ./fakepy --no-probe
    assert_failure 1
    assert_line --regexp "^FAIL  sqlite: _sqlite3 $WORK/none.so has no dynamic reference to sqlite3_open_v2: SQLite is linked statically and hidden"
}

@test "doctor: says which testmon releases need the shim" {
    compile_so und 'int sqlite3_open_v2(const char *, void **, int, const char *);
int f(void) { return sqlite3_open_v2(0, 0, 0, 0); }' -lsqlite3
    for pair in "1.3.7|note  pytest-testmon 1.3.7: not managed" \
                "2.0.15|ok    pytest-testmon 2.0.15: needs the shim under pytest-xdist" \
                "2.2.0|note  pytest-testmon 2.2.0: needs the shim only with --testmon-nocollect"; do
        fake_python "$WORK/und.so" "${pair%%|*}"
        run --separate-stderr "$TOOL" doctor --python ./fakepy --no-probe
        assert_success
        assert_line --partial "${pair#*|}"
    done
    fake_python "$WORK/und.so"
    run --separate-stderr "$TOOL" doctor --python ./fakepy --no-probe
    assert_failure 3
    assert_line "warn  pytest-testmon: not installed in this interpreter"
    assert_line "verdict: works, with 1 warning(s)"
}

@test "doctor: a bad --python is a usage error; a hanging interpreter is killed at the deadline" {
    run --separate-stderr "$TOOL" doctor --python /nonexistent
    assert_failure 2
    assert_output ""
    assert_equal "$stderr" "testmon-shim: doctor: --python /nonexistent: No such file or directory; see testmon-shim --help"
    run --separate-stderr "$TOOL" doctor --python "$PY" /nonexistent-dir
    assert_failure 2
    printf '#!/bin/sh\nsleep 30\n' > hang && chmod +x hang
    SECONDS=0
    TESTMON_SHIM_DOCTOR_TIMEOUT=1 run --separate-stderr "$TOOL" doctor --python ./hang
    assert_failure 1
    [ "$SECONDS" -lt 10 ]
    assert_line --regexp "^FAIL  interpreter: /.*/hang did not finish within 1\.0 s \(killed\)$"
}

@test "doctor: an unsafe coordination directory fails" {
    mkdir -m 777 .testmon-shim
    run --separate-stderr "$TOOL" doctor --python "$PY" --no-probe "$WORK"
    assert_failure 1
    assert_line "FAIL  coordination directory: $WORK/.testmon-shim is writable by others; run \`chmod 700 $WORK/.testmon-shim\`"
}

# ---- status ----

@test "status: a finished run, its counters and its workers" {
    finished_run
    run --separate-stderr "$TOOL" status "$WORK"
    assert_success
    assert_equal "$stderr" ""
    assert_line --regexp '^controller: pid [0-9]+, controller gone$'
    assert_line "state: finished"
    assert_line "datafile: $(realpath "$WORK")/.testmondata"
    assert_line "journals applied: 2"
    assert_line "rows applied: 2"
    assert_line "journal errors: 0"
    assert_line "workers: 2"
    assert_line --regexp '^  worker gw0: pid [0-9]+, outcome ready, waited [0-9]+ ms, tables copied 1, rows handed over 1, hand-over errors 0$'
    assert_line --regexp '^  worker gw1: '
    assert_line "pending journals: 0"
    cd /  # the same with TESTMON_SHIM_DIR, as JSON
    TESTMON_SHIM_DIR="$WORK/.testmon-shim" run --separate-stderr "$TOOL" status --json
    assert_success
    run "$PY" -c 'import json, sys; d = json.load(sys.stdin); r = d["runs"][0]
print(r["state"], r["controller"]["alive"], r["report"]["journals_applied"], sorted(w["worker"] for w in r["workers"]), r["pending_journals"])' <<<"$output"
    assert_output "finished False 2 ['gw0', 'gw1'] []"
}

@test "status: a live controller is running; a dead one that never finished is reported" {
    live_run
    run --separate-stderr "$TOOL" status
    assert_success
    assert_line "controller: pid $BG, running"
    assert_line "state: initialising"
    kill -9 "$BG"; wait "$BG" 2>/dev/null || true; BG=
    run --separate-stderr "$TOOL" status
    assert_line --regexp "^controller: pid [0-9]+, controller gone$"
    assert_line "state: initialising (the controller exited without finishing)"
}

@test "status: refuses a planted symlink, a foreign-looking file and invalid JSON" {
    mkdir -m 700 .testmon-shim
    echo '{"state": "ready"}' > secret.json
    ln -s "$WORK/secret.json" .testmon-shim/run-1-1.json
    run --separate-stderr "$TOOL" status
    assert_failure 1
    assert_output ""
    [[ "$stderr" == *"testmon-shim: refusing coordination file .testmon-shim/run-1-1.json: a symlink; remove it"* ]]
    rm .testmon-shim/run-1-1.json
    printf '{"state": "ready"} junk' > .testmon-shim/run-2-2.json
    truncate -s 17M .testmon-shim/run-3-3.json
    run --separate-stderr "$TOOL" status --json
    assert_failure 1
    [[ "$stderr" == *"run-2-2.json: not valid JSON"* ]]
    [[ "$stderr" == *"run-3-3.json: 17825792 bytes is too large"* ]]
    run "$PY" -c 'import json, sys; d = json.load(sys.stdin); print(len(d["runs"]), sorted(r["file"] for r in d["refused"]))' <<<"$output"
    assert_output "0 ['run-2-2.json', 'run-3-3.json']"
}

@test "status: no coordination directory, or an empty one, is reported (exit 1)" {
    run --separate-stderr "$TOOL" status "$WORK"
    assert_failure 1
    assert_output ""
    assert_equal "$stderr" "testmon-shim: status: no coordination directory $WORK/.testmon-shim: no run under the shim here yet"
    mkdir -m 700 .testmon-shim
    run --separate-stderr "$TOOL" status
    assert_failure 1
    assert_equal "$stderr" "testmon-shim: status: no run in .testmon-shim"
}

# ---- clean ----

@test "clean: removes a finished run, stray temp files and the directory" {
    finished_run
    touch .testmon-shim/.run-1-1.json.tmp.999999999.1 .testmon-shim/run-5-5.journal-1-gw0-6.json
    n=$(ls -A .testmon-shim | wc -l)
    run --separate-stderr "$TOOL" clean "$WORK"
    assert_success
    assert_equal "$(grep -c '^removed .*/\.testmon-shim/' <<<"$output")" "$n"
    assert_line "removed $WORK/.testmon-shim"
    [ ! -e .testmon-shim ]
}

@test "clean --dry-run removes nothing" {
    finished_run
    before="$(ls -A .testmon-shim)"
    run --separate-stderr "$TOOL" clean --dry-run
    assert_success
    assert_line --regexp '^would remove \.testmon-shim/run-[0-9]+-[0-9]+\.json$'
    assert_line "would remove .testmon-shim"
    assert_equal "$(ls -A .testmon-shim)" "$before"
}

@test "clean: keeps the files of a live run, removes the stale one beside it" {
    live_run  # (its controller removed older runs itself at open: plant a stale run afterwards)
    old="run-999999999-1.json run-999999999-1.worker-gw0-7.json"
    for f in $old; do echo '{"state": "finished"}' > ".testmon-shim/$f"; done
    run --separate-stderr "$TOOL" clean
    assert_success
    for f in $old; do assert_line "removed .testmon-shim/$f"; done
    assert_line "kept 2 file(s) in .testmon-shim (1 live run(s))"   # its run file, its joined flag
    [ -f "$RUNFILE" ]
    assert_equal "$(ls .testmon-shim)" "$(printf '%s\n' "$(basename "${RUNFILE%.json}").joined" "$(basename "$RUNFILE")")"
}

@test "clean: never follows a symlink; an unsafe directory is refused" {
    mkdir -m 700 .testmon-shim
    echo keep > target
    ln -s "$WORK/target" .testmon-shim/run-1-1.json
    run --separate-stderr "$TOOL" clean
    assert_success
    assert_line "removed .testmon-shim/run-1-1.json (a symlink, not followed)"
    assert_equal "$(cat target)" keep
    mkdir real && ln -s real link && mkdir link2 && ln -s "$WORK/real" link2/.testmon-shim
    run --separate-stderr "$TOOL" clean link2
    assert_failure 1
    [[ "$stderr" == *"refusing link2/.testmon-shim: not a directory (a symlink?)"* ]]
    [ -d real ]
}

# ---- install / uninstall ----

@test "make install/uninstall into DESTDIR; the installed run finds the installed library" {
    mk=(make -s -C "$ROOT" BUILD="${BUILD:-build}")
    grep -q '^include tools/tools.mk' "$ROOT/Makefile" || mk+=(-f Makefile -f tools/tools.mk)
    # install exactly what was tested: never rebuild the library or the command here
    mk+=(-o "${BUILD:-build}/libtestmon_shim.so" -o "${BUILD:-build}/testmon-shim")
    run "${mk[@]}" install PREFIX=/usr/local DESTDIR="$WORK/dest"
    assert_success
    d="$WORK/dest/usr/local"
    [ -x "$d/bin/testmon-shim" ] && [ -f "$d/lib/libtestmon_shim.so" ] && [ -f "$d/share/man/man1/testmon-shim.1" ]
    run --separate-stderr "$d/bin/testmon-shim" run printenv LD_PRELOAD
    assert_success
    assert_output "$d/lib/libtestmon_shim.so"
    run "$d/bin/testmon-shim" --version
    assert_output --regexp '^testmon-shim [0-9]+\.[0-9]+\.[0-9]+'
    run "${mk[@]}" uninstall PREFIX=/usr/local DESTDIR="$WORK/dest"
    assert_success
    [ ! -e "$d/bin/testmon-shim" ] && [ ! -e "$d/lib/libtestmon_shim.so" ] && [ ! -e "$d/share/man/man1/testmon-shim.1" ]
}
