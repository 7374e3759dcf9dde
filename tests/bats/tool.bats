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

@test "run: appends to existing LD_PRELOAD entries (theirs stay first), never twice, and drops other copies" {
    LD_PRELOAD="$LIBC" run --separate-stderr "$TOOL" run printenv LD_PRELOAD
    assert_success
    assert_output "$LIBC:$LIB"
    LD_PRELOAD="$LIBC $LIB" run --separate-stderr "$TOOL" run printenv LD_PRELOAD
    assert_output "$LIBC:$LIB"
    mkdir other && cp "$LIB" other/libtestmon_shim.so
    LD_PRELOAD="$WORK/other/libtestmon_shim.so:$LIBC" run --separate-stderr "$TOOL" run printenv LD_PRELOAD
    assert_success
    assert_output "$LIBC:$LIB"
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

@test "doctor: _sqlite3 carrying its own SQLite and calling it through its import slots (pysqlite3's) works" {
    compile_so own 'int sqlite3_open_v2(const char *f, void **d, int fl, const char *v) { (void)f; (void)d; (void)fl; (void)v; return 0; }
int f(void) { return sqlite3_open_v2(0, 0, 0, 0); }'
    run readelf -rW "$WORK/own.so"
    assert_output --regexp 'JUMP_SLOT .* sqlite3_open_v2'   # a default-visibility call: the PLT
    fake_python "$WORK/own.so" 2.1.3
    run --separate-stderr "$TOOL" doctor --python ./fakepy --no-probe
    assert_success
    assert_line "ok    sqlite: _sqlite3 $WORK/own.so carries its own SQLite (3.45.0) and calls it through its import slots, which the shim redirects"
}

@test "doctor: _sqlite3 defining sqlite3_open_v2 (bundled SQLite) and calling it directly cannot work" {
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
    assert_line --regexp "^FAIL  sqlite: _sqlite3 $WORK/none.so has SQLite linked in and hidden .*, and its symbol table lacks SQLite's entry points; use a Python"
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
    # a WAL datafile: its state pinned for the workers, which read it with no copy
    assert_line --regexp '^state pinned for the workers: [1-9][0-9]* times \([0-9]+ ms\), not pinned: 0$'
    assert_line "workers: 2"
    assert_line --regexp '^  worker gw0: pid [0-9]+, outcome ready, waited [0-9]+ ms, tables copied 1, rows handed over 1, hand-over errors 0, reads the datafile \(pinned\) \([0-9]+ ms\)$'
    assert_line --regexp '^  worker gw1: .*, reads the datafile \(pinned\) '
    assert_line "pending journals: 0"
    cd /  # the same with TESTMON_SHIM_DIR, as JSON
    TESTMON_SHIM_DIR="$WORK/.testmon-shim" run --separate-stderr "$TOOL" status --json
    assert_success
    run "$PY" -c 'import json, sys; d = json.load(sys.stdin); r = d["runs"][0]
print(r["state"], r["controller"]["alive"], r["report"]["journals_applied"], sorted(w["worker"] for w in r["workers"]), r["pending_journals"])' <<<"$output"
    assert_output "finished False 2 ['gw0', 'gw1'] []"
}

@test "status: a rollback-journal datafile (testmon 1.x) cannot be pinned: one worker copies it, the other shares the copy" {
    run --separate-stderr "$TOOL" run "$PY" "$FAKE" controller "$WORK" --workers 2 --rollback \
        --worker-sql "INSERT INTO test_execution VALUES (NULL, 1, 't::w', 0.1, 0, 0)"
    assert_success
    run --separate-stderr "$TOOL" status "$WORK"
    assert_success
    assert_line "state pinned for the workers: 0 times (0 ms), not pinned: 1"
    assert_equal "$(grep -c 'reads the copy (made)' <<<"$output")" 1
    assert_equal "$(grep -c 'reads the copy (shared)' <<<"$output")" 1
    assert_line "journals applied: 2"
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
    # the workers' copy of a controller that crashed before removing it
    touch .testmon-shim/run-5-5.db{,-wal,-shm,.lock} .testmon-shim/.run-5-5.db.tmp.999999999.0
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

# what `clean --dry-run` says it would remove, then what `clean` removes: the two lists of names
dry_then_clean() { # dry_then_clean [DIR]: sets DRY and DONE
    run --separate-stderr "$TOOL" clean --dry-run "$@"
    assert_success
    DRY="$(sed -n 's/^would remove //p' <<<"$output")"
    run --separate-stderr "$TOOL" clean "$@"
    assert_success
    DONE="$(sed -n 's/^removed //p' <<<"$output")"
}

@test "clean --dry-run lists exactly what clean then removes" {
    finished_run   # its run file, two worker reports, the joined flag, the directory's markers
    touch .testmon-shim/.run-1-1.json.tmp.999999999.1 .testmon-shim/run-5-5.journal-1-gw0-6.json
    touch .testmon-shim/run-5-5.db{,-wal,-shm,.lock}
    ln -s /etc/hostname .testmon-shim/run-6-6.json
    n=$(ls -A .testmon-shim | wc -l)
    dry_then_clean "$WORK"
    assert_equal "$DRY" "$DONE"
    assert_equal "$(wc -l <<<"$DONE")" $((n + 1))   # every file, then the directory
    assert_equal "$(tail -n 1 <<<"$DONE")" "$WORK/.testmon-shim"
    grep -qx "$WORK/.testmon-shim/.gitignore" <<<"$DONE"
    grep -qx "$WORK/.testmon-shim/run-6-6.json (a symlink, not followed)" <<<"$DONE"
    [ ! -e .testmon-shim ]
    [ -f /etc/hostname ]
}

@test "clean --dry-run beside a live run: the same list, markers and directory kept" {
    live_run
    echo '{"state": "finished"}' > .testmon-shim/run-999999999-1.json
    touch .testmon-shim/run-999999999-1.worker-gw0-7.json
    dry_then_clean
    assert_equal "$DRY" "$DONE"
    assert_equal "$DONE" ".testmon-shim/run-999999999-1.json
.testmon-shim/run-999999999-1.worker-gw0-7.json"
    assert_line "kept 2 file(s) in .testmon-shim (1 live run(s))"
    [ -f .testmon-shim/.gitignore ]
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
    # and the directory's cache markers
    assert_equal "$(ls -A .testmon-shim)" "$(printf '%s\n' .gitignore CACHEDIR.TAG "$(basename "${RUNFILE%.json}").joined" "$(basename "$RUNFILE")")"
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

# ---- error paths and bad inputs, one message each ----

@test "--help of each command prints the usage on stdout" {
    for cmd in run clean doctor; do
        run --separate-stderr "$TOOL" $cmd --help
        assert_success
        assert_line --index 0 "usage: testmon-shim [--help] [--version] COMMAND [ARGS]"
        assert_equal "$stderr" ""
    done
}

@test "usage errors of clean, status and doctor: each one message, exit 2" {
    long="$(printf 'd%.0s' $(seq 4100))"
    usage=(
        "clean a b|clean: more than one directory given"
        "doctor a b|doctor: more than one directory given"
        "clean /nonexistent-dir|clean: /nonexistent-dir is not a directory"
        "status /nonexistent-dir|status: /nonexistent-dir is not a directory"
    )
    for pair in "${usage[@]}"; do
        run --separate-stderr "$TOOL" ${pair%%|*}
        assert_failure 2
        assert_output ""
        assert_equal "$stderr" "testmon-shim: ${pair#*|}; see testmon-shim --help"
    done
    for cmd in clean status; do
        run --separate-stderr "$TOOL" $cmd "$long"
        assert_failure 2
        assert_output ""
        assert_equal "$stderr" "testmon-shim: $cmd: directory name too long"
    done
    for t in abc 0 -1 3601 1x; do
        TESTMON_SHIM_DOCTOR_TIMEOUT=$t run --separate-stderr "$TOOL" doctor --no-probe
        assert_failure 2
        assert_output ""
        assert_equal "$stderr" "testmon-shim: doctor: TESTMON_SHIM_DOCTOR_TIMEOUT=$t is not a number of seconds; see testmon-shim --help"
    done
}

@test "run: another copy in LD_PRELOAD is reported even when the command is missing" {
    mkdir other && cp "$LIB" other/libtestmon_shim.so
    LD_PRELOAD="$WORK/other/libtestmon_shim.so" run -127 --separate-stderr "$TOOL" run no-such-command-xyz
    assert_failure 127
    assert_output ""
    assert_equal "$stderr" "testmon-shim: run: removed 1 other copy(ies) of libtestmon_shim.so from LD_PRELOAD; using $LIB
testmon-shim: run: no-such-command-xyz: command not found"
}

@test "run and doctor: a command with no library beside it or in ../lib says where it looked" {
    mkdir bin && cp "$TOOL" bin/testmon-shim
    bin="$(realpath bin)"
    run --separate-stderr bin/testmon-shim run true
    assert_failure 125
    assert_output ""
    assert_equal "$stderr" "testmon-shim: run: cannot find libtestmon_shim.so (looked for $bin/../lib/libtestmon_shim.so and $bin/libtestmon_shim.so); set TESTMON_SHIM_LIB to its absolute path"
    run --separate-stderr bin/testmon-shim doctor --python "$PY" "$WORK"
    assert_failure 1
    assert_line --index 0 "FAIL  library: cannot find libtestmon_shim.so (looked for $bin/../lib/libtestmon_shim.so and $bin/libtestmon_shim.so); set TESTMON_SHIM_LIB to its absolute path"
    assert_line "note  live probe: skipped (no library or no interpreter)"
    assert_line "verdict: cannot work: library: cannot find libtestmon_shim.so (looked for $bin/../lib/libtestmon_shim.so and $bin/libtestmon_shim.so); set TESTMON_SHIM_LIB to its absolute path"
}

@test "doctor: a missing, non-ELF or foreign TESTMON_SHIM_LIB fails the library check" {
    printf 'not a library\n' > short.so
    head -c 200 /dev/zero | tr '\0' 'x' > text.so
    compile_so none 'int f(void) { return 1; }'
    for pair in "/nonexistent/lib.so|TESTMON_SHIM_LIB=/nonexistent/lib.so: No such file or directory" \
                "$WORK/short.so|$WORK/short.so: not an ELF file" \
                "$WORK/text.so|$WORK/text.so: not an ELF file" \
                "$WORK/none.so|$WORK/none.so does not export testmon_shim_version: not the shim, or a broken build"; do
        TESTMON_SHIM_LIB="${pair%%|*}" run --separate-stderr "$TOOL" doctor --python "$PY" --no-probe "$WORK"
        assert_failure 1
        assert_line --index 0 "FAIL  library: ${pair#*|}"
        assert_line "verdict: cannot work: library: ${pair#*|}"
    done
}

# a fake interpreter whose answer to doctor's query is the given shell code
fake_python_sh() { # fake_python_sh <shell code run for "-c QUERY"> [shell code run for the probe]
    cat > fakepy <<EOS
#!/bin/sh
if [ "\$1" = "-c" ]; then
$1
else
${2:-exit 0}
fi
EOS
    chmod +x fakepy
}

@test "doctor: an interpreter that fails, dies, cannot start or answers nonsense" {
    cases=(
        "echo 'Traceback (most recent call last):' >&2; echo 'ValueError: boom' >&2; exit 3|exited with status 3: ValueError: boom"
        "exit 4|exited with status 4"
        "kill -9 \$\$|killed by signal 9"
        "echo hello|did not answer like a Python 3 interpreter"
        "echo '[1, 2]'|did not answer like a Python 3 interpreter"
    )
    for pair in "${cases[@]}"; do
        fake_python_sh "${pair%%|*}"
        run --separate-stderr "$TOOL" doctor --python "$WORK/fakepy" "$WORK"
        assert_failure 1
        assert_line "FAIL  interpreter: $WORK/fakepy ${pair#*|}"
        assert_line "note  live probe: skipped (no library or no interpreter)"
        assert_line "verdict: cannot work: interpreter: $WORK/fakepy ${pair#*|}"
    done
    printf '#!/nonexistent/interpreter\n' > badpy && chmod +x badpy
    run --separate-stderr "$TOOL" doctor --python="$WORK/badpy" --no-probe
    assert_failure 1
    assert_line "FAIL  interpreter: $WORK/badpy cannot execute: No such file or directory"
}

@test "doctor: python3 from PATH, or none on PATH" {
    mkdir bin empty
    compile_so und 'int sqlite3_open_v2(const char *, void **, int, const char *);
int f(void) { return sqlite3_open_v2(0, 0, 0, 0); }' -lsqlite3
    fake_python "$WORK/und.so" 2.1.3
    mv fakepy bin/python3
    run --separate-stderr env PATH="$WORK/empty:$WORK/bin" "$TOOL" doctor --no-probe "$WORK"
    assert_success
    assert_line "ok    interpreter: $WORK/bin/python3 (Python 3.12.0, sys.executable /fake/python)"
    run --separate-stderr env PATH="$WORK/empty" "$TOOL" doctor --no-probe "$WORK"
    assert_failure 1
    assert_line "FAIL  interpreter: no python3 on PATH; give one with --python PATH"
}

# doctor's query answer with the given _sqlite3 fields and packages
query_json() { # query_json <sqlite fields, JSON members> [packages JSON object]
    local pk="${2:-{\"pytest\": \"8.0.0\", \"pytest-xdist\": \"3.5.0\", \"pytest-testmon\": \"2.1.3\"\}}"
    printf "echo '{\"version\": \"3.12.0\", \"builtin\": true, %s, \"packages\": %s}'" "$1" "$pk"
}

@test "doctor: where _sqlite3 lives: an import error, built in, unreadable or without libsqlite3" {
    compile_so und 'int sqlite3_open_v2(const char *, void **, int, const char *);
int f(void) { return sqlite3_open_v2(0, 0, 0, 0); }' -lsqlite3
    cp und.so libpython3.12.so.1.0
    compile_so noneed 'int sqlite3_open_v2(const char *, void **, int, const char *);
int f(void) { return sqlite3_open_v2(0, 0, 0, 0); }'
    compile_so none 'int f(void) { return 1; }'
    printf 'int f(void) { return 1; }\n' > obj.c && cc -c -o obj.o obj.c
    "$PY" -c 'import sys; sys.stdout.buffer.write(b"\x7fELF\x01\x01\x01" + bytes(57))' > elf32.so
    head -c 200 /dev/zero | tr '\0' 'x' > text.so
    cases=(
        "1|\"sqlite3_error\": \"ModuleNotFoundError: No module named _sqlite3\", \"maps\": []|FAIL  sqlite: the interpreter cannot import sqlite3 (ModuleNotFoundError: No module named _sqlite3); testmon needs it"
        "0|\"maps\": [\"/usr/lib/libsqlite3.so.0\", \"$WORK/libpython3.12.so.1.0\"], \"executable\": \"/x/python\", \"sqlite_version\": \"3.40.1\"|ok    sqlite: _sqlite3 (built in) $WORK/libpython3.12.so.1.0 calls libsqlite3.so.0 through the dynamic linker (SQLite 3.40.1)"
        "1|\"maps\": [], \"executable\": \"$WORK/none.so\"|FAIL  sqlite: _sqlite3 (built in) $WORK/none.so has SQLite linked in and hidden (python-build-standalone: uv, rye, mise), and its symbol table lacks SQLite's entry points; use a Python whose _sqlite3 links libsqlite3.so.0 (Debian's python3, pyenv, deadsnakes)"
        "3|\"maps\": []|warn  sqlite: _sqlite3 is built in and its object is unknown; the live probe decides"
        "3|\"sqlite3_file\": \"$WORK/text.so\", \"maps\": []|warn  sqlite: cannot inspect _sqlite3 $WORK/text.so: not an ELF file; the live probe decides"
        "3|\"sqlite3_file\": \"$WORK/missing.so\", \"maps\": []|warn  sqlite: cannot inspect _sqlite3 $WORK/missing.so: No such file or directory; the live probe decides"
        "3|\"sqlite3_file\": \"$WORK/elf32.so\", \"maps\": []|warn  sqlite: cannot inspect _sqlite3 $WORK/elf32.so: not a little-endian ELF64 object (this check reads only those); the live probe decides"
        "3|\"sqlite3_file\": \"$WORK/obj.o\", \"maps\": []|warn  sqlite: cannot inspect _sqlite3 $WORK/obj.o: no dynamic symbol table (a static object?); the live probe decides"
        "3|\"sqlite3_file\": \"$WORK/noneed.so\", \"maps\": []|warn  sqlite: _sqlite3 $WORK/noneed.so calls sqlite3_open_v2 through the dynamic linker but names no libsqlite3 (SQLite ?); the live probe decides"
    )
    for c in "${cases[@]}"; do
        want_status="${c%%|*}"; rest="${c#*|}"
        fake_python_sh "$(query_json "${rest%%|*}")"
        run --separate-stderr "$TOOL" doctor --python "$WORK/fakepy" --no-probe "$WORK"
        assert_equal "$status" "$want_status"
        assert_line "${rest#*|}"
    done
}

@test "doctor: missing packages and unparsable or old testmon versions" {
    compile_so und 'int sqlite3_open_v2(const char *, void **, int, const char *);
int f(void) { return sqlite3_open_v2(0, 0, 0, 0); }' -lsqlite3
    fake_python_sh "$(query_json "\"sqlite3_file\": \"$WORK/und.so\", \"maps\": []" \
        '{"pytest": null, "pytest-xdist": null, "pytest-testmon": "dev"}')"
    run --separate-stderr "$TOOL" doctor --python "$WORK/fakepy" --no-probe "$WORK"
    assert_failure 3
    assert_line "warn  pytest: not installed in this interpreter"
    assert_line "warn  pytest-xdist: not installed in this interpreter (without -n there is nothing to coordinate)"
    assert_line "warn  pytest-testmon dev: unrecognised version"
    assert_line "verdict: works, with 3 warning(s)"
    fake_python_sh "$(query_json "\"sqlite3_file\": \"$WORK/und.so\", \"maps\": []" \
        '{"pytest": "8.0.0", "pytest-xdist": "3.5.0", "pytest-testmon": "0.9.1"}')"
    run --separate-stderr "$TOOL" doctor --python "$WORK/fakepy" --no-probe "$WORK"
    assert_success
    assert_line "note  pytest-testmon 0.9.1: not managed: releases before 1.0 are not supported"
}

@test "doctor: the coordination directory: default, TESTMON_SHIM_DIR, uncreatable, a symlink, too long, private" {
    compile_so und 'int sqlite3_open_v2(const char *, void **, int, const char *);
int f(void) { return sqlite3_open_v2(0, 0, 0, 0); }' -lsqlite3
    fake_python "$WORK/und.so" 2.1.3
    run --separate-stderr "$TOOL" doctor --python "$WORK/fakepy" --no-probe
    assert_success
    assert_line "ok    coordination directory: .testmon-shim (created by the first run)"
    TESTMON_SHIM_DIR="$WORK/sub/coord" run --separate-stderr "$TOOL" doctor --python "$WORK/fakepy" --no-probe
    assert_failure 1
    assert_line "FAIL  coordination directory: cannot create $WORK/sub/coord: $WORK/sub is not writable; set TESTMON_SHIM_DIR to a writable directory"
    mkdir sub
    TESTMON_SHIM_DIR="$WORK/sub/coord" run --separate-stderr "$TOOL" doctor --python "$WORK/fakepy" --no-probe
    assert_success
    assert_line "ok    coordination directory: $WORK/sub/coord (created by the first run)"
    TESTMON_SHIM_DIR="/$(printf 'd%.0s' $(seq 4100))" run --separate-stderr "$TOOL" doctor --python "$WORK/fakepy" --no-probe
    assert_failure 1
    assert_line "FAIL  coordination directory: name too long; set TESTMON_SHIM_DIR"
    mkdir -m 700 real && ln -s real .testmon-shim
    run --separate-stderr "$TOOL" doctor --python "$WORK/fakepy" --no-probe "$WORK"
    assert_failure 1
    assert_line "FAIL  coordination directory: $WORK/.testmon-shim is not a directory (a symlink?); remove it"
    rm .testmon-shim && mkdir -m 700 .testmon-shim
    run --separate-stderr "$TOOL" doctor --python "$WORK/fakepy" --no-probe "$WORK"
    assert_success
    assert_line "ok    coordination directory: $WORK/.testmon-shim"
}

@test "doctor: a coordination directory of another user fails" {
    [ "$(id -u)" -eq 0 ] || skip "needs root to give a directory to another user"
    compile_so und 'int sqlite3_open_v2(const char *, void **, int, const char *);
int f(void) { return sqlite3_open_v2(0, 0, 0, 0); }' -lsqlite3
    fake_python "$WORK/und.so" 2.1.3
    mkdir -m 700 .testmon-shim && chown 65534 .testmon-shim
    run --separate-stderr "$TOOL" doctor --python "$WORK/fakepy" --no-probe "$WORK"
    assert_failure 1
    assert_line "FAIL  coordination directory: $WORK/.testmon-shim belongs to uid 65534; remove it or set TESTMON_SHIM_DIR"
}

@test "doctor: each outcome of the live probe" {
    compile_so und 'int sqlite3_open_v2(const char *, void **, int, const char *);
int f(void) { return sqlite3_open_v2(0, 0, 0, 0); }' -lsqlite3
    q="$(query_json "\"sqlite3_file\": \"$WORK/und.so\", \"maps\": []")"
    run_file='mkdir -m 700 .testmon-shim && echo "{\"state\": \"$1\"}" > .testmon-shim/run-1-1.json'
    version="$("$TOOL" --version | cut -d' ' -f2)"
    cases=(
        "1|echo oops >&2; exit 1|FAIL  live probe: $WORK/fakepy under the preload exited with status 1: oops"
        "1|echo '{\"shim_version\": null}'|FAIL  live probe: the shim did not see the probe's SQLite calls (no "
        "1|set -- ready; $run_file|FAIL  live probe: the shim saw the probe but its run is ready, not finished"
        "1|mkdir -m 700 .testmon-shim; echo '{}' > .testmon-shim/run-1-1.json|FAIL  live probe: the shim saw the probe but its run is unreadable, not finished"
        "3|set -- finished; $run_file; echo '{\"shim_version\": \"0.0.1\"}'|warn  live probe: works, but the library is version 0.0.1 and this command $version"
        "3|set -- finished; $run_file; echo 'a note' >&2; echo 'the last note' >&2|ok    live probe: a pytest process under the preload published its run (state finished), with messages on stderr"
    )
    for c in "${cases[@]}"; do
        want_status="${c%%|*}"; rest="${c#*|}"
        fake_python_sh "$q" "${rest%%|*}"
        run --separate-stderr "$TOOL" doctor --python "$WORK/fakepy" "$WORK"
        assert_equal "$status" "$want_status"
        assert_line --partial "${rest#*|}"
    done
    assert_line "warn  live probe stderr: the last note"
    mkdir tmp
    TMPDIR="$WORK/tmp/missing" run --separate-stderr "$TOOL" doctor --python "$WORK/fakepy" "$WORK"
    assert_failure 3
    assert_line --regexp "^warn  live probe: cannot create a temporary directory $WORK/tmp/missing/testmon-shim-doctor\.[A-Za-z0-9]{6}: No such file or directory\$"
    [ "$(ls -A tmp)" = "" ]
}

# ---- status and clean: more than one run, bad files ----

# plant a run of a dead controller (pid 999999999) with the given start, state and mtime
plant_run() { # plant_run <start> <state> <touch -d date>
    [ -d .testmon-shim ] || mkdir -m 700 .testmon-shim
    printf '{"state": "%s", "datafile": "%s/.testmondata", "data_version": 2, "report": {"journals_applied": 1, "rows_applied": 3, "journal_errors": 0}}\n' \
        "$2" "$WORK" > ".testmon-shim/run-999999999-$1.json"
    touch -d "$3" ".testmon-shim/run-999999999-$1.json"
}

@test "status: the newest run first; --all lists every run; pending journals are listed" {
    plant_run 1 finished "2026-01-01 10:00:00"
    plant_run 2 ready "2026-01-02 10:00:00"
    plant_run 3 finished "2026-01-01 10:00:00"
    touch .testmon-shim/run-999999999-2.journal-5-gw1-7.json .testmon-shim/run-999999999-1.journal-5-gw0-6.json
    run --separate-stderr "$TOOL" status
    assert_success
    assert_line --index 0 "run: run-999999999-2"
    assert_line "state: ready (the controller exited without finishing)"
    assert_line "data version: 2"
    assert_line "rows applied: 3"
    assert_line "pending journals: 1"
    assert_line "  run-999999999-2.journal-5-gw1-7.json"
    assert_equal "$(grep -c '^run: ' <<<"$output")" 1
    run --separate-stderr "$TOOL" status --all
    assert_success
    # newest first; equal times by name
    assert_equal "$(grep '^run: ' <<<"$output" | tr '\n' ' ')" "run: run-999999999-2 run: run-999999999-1 run: run-999999999-3 "
    assert_equal "$(grep -c '^$' <<<"$output")" 2
    assert_line "  run-999999999-1.journal-5-gw0-6.json"
}

@test "status: an unreadable worker file is refused (exit 1), the run still shown" {
    plant_run 1 finished "2026-01-01 10:00:00"
    printf '{"worker": "gw0"' > .testmon-shim/run-999999999-1.worker-gw0-6.json
    printf '{"worker": "gw1", "pid": 6, "outcome": "ready", "waited_ms": 3, "tables_copied": 1, "rows_handed_over": 2, "hand_over_errors": 0}' \
        > .testmon-shim/run-999999999-1.worker-gw1-7.json
    printf '{"worker": "gw2", "pid": 8, "outcome": "ready", "waited_ms": 0, "reads": "copy (made)", "copy_ms": 4, "tables_copied": 0, "rows_handed_over": 0, "hand_over_errors": 0}' \
        > .testmon-shim/run-999999999-1.worker-gw2-8.json
    run --separate-stderr "$TOOL" status
    assert_failure 1
    assert_equal "$stderr" "testmon-shim: refusing coordination file .testmon-shim/run-999999999-1.worker-gw0-6.json: not valid JSON (truncated or corrupt); remove it (testmon-shim clean removes files of finished runs)"
    assert_line "workers: 2"
    assert_line "  worker gw1: pid 6, outcome ready, waited 3 ms, tables copied 1, rows handed over 2, hand-over errors 0"
    assert_line "  worker gw2: pid 8, outcome ready, waited 0 ms, tables copied 0, rows handed over 0, hand-over errors 0, reads the copy (made) (4 ms)"
}

@test "status: a symlink in place of the coordination directory is refused" {
    mkdir -m 700 real && ln -s real .testmon-shim
    run --separate-stderr "$TOOL" status
    assert_failure 1
    assert_output ""
    assert_equal "$stderr" "testmon-shim: status: refusing .testmon-shim: not a directory (a symlink?); remove it"
}

@test "clean: nothing to clean; a directory named like a run file is kept" {
    run --separate-stderr "$TOOL" clean
    assert_success
    assert_output "nothing to clean: no .testmon-shim"
    mkdir -m 700 .testmon-shim && mkdir .testmon-shim/run-999999999-1.json
    run --separate-stderr "$TOOL" clean
    assert_success
    assert_output "kept 1 file(s) in .testmon-shim (0 live run(s))"
    [ -d .testmon-shim/run-999999999-1.json ]
}

@test "clean: removes many stale temporary files at once" {
    mkdir -m 700 .testmon-shim
    for i in $(seq 40); do touch ".testmon-shim/.run-1-1.json.tmp.999999999.$i"; done
    run --separate-stderr "$TOOL" clean
    assert_success
    assert_equal "$stderr" ""
    assert_equal "$(grep -c '^removed \.testmon-shim/\.run-1-1\.json\.tmp\.999999999\.[0-9]*$' <<<"$output")" 40
    assert_line "removed .testmon-shim"
    [ ! -e .testmon-shim ]
}

@test "doctor: the kill switch and bad settings are said before a run" {
    run --separate-stderr "$TOOL" doctor --python "$PY" --no-probe "$WORK"
    assert_line "ok    settings: TESTMON_SHIM, TESTMON_SHIM_TIMEOUT and TESTMON_SHIM_LOG are usable"
    TESTMON_SHIM=off TESTMON_SHIM_TIMEOUT=soon TESTMON_SHIM_LOG=loud \
        run --separate-stderr "$TOOL" doctor --python "$PY" --no-probe "$WORK"
    assert_failure 3
    assert_line "warn  settings: TESTMON_SHIM=off switches the shim off: runs from this environment are not managed, and the shim says nothing; unset it"
    assert_line "warn  settings: TESTMON_SHIM_TIMEOUT=soon is not a number of seconds in (0, 86400]; the shim would use 60"
    assert_line "warn  settings: TESTMON_SHIM_LOG=loud is not LEVEL[:FILE] with LEVEL error|warn|info|debug; the shim would log errors only"
    TESTMON_SHIM=on TESTMON_SHIM_TIMEOUT=2.5 TESTMON_SHIM_LOG="debug:$WORK/x.log" \
        run --separate-stderr "$TOOL" doctor --python "$PY" --no-probe "$WORK"
    assert_line --partial "ok    settings:"
    [ ! -e "$WORK/x.log" ]   # checked, not opened
}

@test "doctor: the live probe starts a controller through pytest.main(); its worker must join the run" {
    mkdir tmp
    TMPDIR="$WORK/tmp" run --separate-stderr "$TOOL" doctor --python "$PY" "$WORK"
    assert_line "ok    live probe: a controller started through pytest.main() is recognised, and its worker joined its run"
    [ "$(ls -A tmp)" = "" ]
    # what the doctor says when the launcher's run or its worker's report is missing
    compile_so und 'int sqlite3_open_v2(const char *, void **, int, const char *);
int f(void) { return sqlite3_open_v2(0, 0, 0, 0); }' -lsqlite3
    q="$(query_json "\"sqlite3_file\": \"$WORK/und.so\", \"maps\": []")"
    run_file='mkdir -m 700 .testmon-shim && echo "{\"state\": \"finished\"}" > .testmon-shim/run-1-1.json'
    launched='mkdir -p launcher/.testmon-shim && chmod 700 launcher/.testmon-shim && echo "{\"state\": \"finished\"}" > launcher/.testmon-shim/run-2-2.json'
    cases=(
        "3|$run_file; echo '{\"launcher_rc\": 0}'|warn  live probe: a controller started through pytest.main() (IDE runners, run_tests.py, python -c) was not recognised, so such runs would not be managed; start pytest as \`pytest\` or \`python -m pytest\`"
        "1|$run_file; $launched; echo '{\"launcher_rc\": 1}'|FAIL  live probe: a worker did not find its controller's run (exit status 1): xdist runs would not be managed"
        "0|$run_file; $launched; echo '{\"outcome\": \"ready\"}' > launcher/.testmon-shim/run-2-2.worker-gw0-3.json; echo '{\"launcher_rc\": 0}'|ok    live probe: a controller started through pytest.main() is recognised, and its worker joined its run"
    )
    for c in "${cases[@]}"; do
        want_status="${c%%|*}"; rest="${c#*|}"
        fake_python_sh "$q" "${rest%%|*}"
        run --separate-stderr "$TOOL" doctor --python "$WORK/fakepy" "$WORK"
        assert_equal "$status" "$want_status"
        assert_line "${rest#*|}"
    done
}
