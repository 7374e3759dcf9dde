#!/usr/bin/env bats
# scripts/install-deps.sh: each make target installs what it needs and the machine lacks, and
# nothing else; with nothing missing no apt-get runs.  dpkg-query, apt-get and sudo are fakes.

load helpers/common

DEPS="$ROOT/scripts/install-deps.sh"

setup() {
    common_setup
    mkdir bin
    # installed: every package but those named in $WORK/missing
    cat > bin/dpkg-query <<EOS
#!/bin/sh
for p; do :; done
grep -qx "\$p" "$WORK/missing" 2>/dev/null && exit 1
printf 'install ok installed'
EOS
    printf '#!/bin/sh\necho "apt-get $*" >> "%s/apt.log"\n' "$WORK" > bin/apt-get
    printf '#!/bin/sh\nexec "$@"\n' > bin/sudo
    chmod +x bin/*
    export PATH="$WORK/bin:$PATH"
    : > missing
}
teardown() { common_teardown; }

@test "nothing missing: no apt-get, nothing printed, for every target" {
    for t in build wheel demo check test; do
        run --separate-stderr "$DEPS" "$t"
        assert_success
        assert_output ""
        assert_equal "$stderr" ""
    done
    run --separate-stderr "$DEPS"
    assert_success
    [ ! -e apt.log ]
}

@test "only the asked target's missing packages are installed, and said on stderr" {
    printf '%s\n' clang valgrind dpkg-dev gcc bats > missing
    run --separate-stderr "$DEPS" wheel
    assert_success
    assert_equal "$stderr" "install-deps: wheel needs dpkg-dev gcc: installing with $([ "$(id -u)" -eq 0 ] || echo 'sudo ')apt-get"
    assert_equal "$(cat apt.log)" "apt-get update -qq
apt-get install -y -qq dpkg-dev gcc"
    rm apt.log
    run --separate-stderr "$DEPS" build
    assert_equal "$(tail -n 1 apt.log)" "apt-get install -y -qq gcc"
    rm apt.log
    run --separate-stderr "$DEPS" check
    assert_equal "$(tail -n 1 apt.log)" "apt-get install -y -qq bats gcc"
    rm apt.log
    run --separate-stderr "$DEPS"   # no target: everything make test needs
    assert_equal "$(tail -n 1 apt.log)" "apt-get install -y -qq bats clang dpkg-dev gcc valgrind"
}

@test "an unknown target is a usage error; --list prints a target's packages" {
    run --separate-stderr "$DEPS" bogus
    assert_failure 2
    assert_equal "$stderr" "install-deps: unknown target 'bogus' (build, wheel, demo, check or test)"
    [ ! -e apt.log ]
    run --separate-stderr "$DEPS" --list build
    assert_success
    assert_output "$(printf '%s\n' gcc libcjson-dev libsqlite3-dev make pkg-config)"
}

@test "make wheel and make demo install no test tool; each goal passes its own target" {
    for t in wheel demo; do
        run "$DEPS" --list "$t"
        assert_success
        for p in clang valgrind bats llvm xfsprogs parallel; do refute_line "$p"; done
        assert_line dpkg-dev
    done
    cd "$ROOT"
    for pair in "deps|build" "wheel|wheel" "wheel-test|wheel" "demo|demo" "check|check" "test|test"; do
        run make -n "${pair%%|*}"
        assert_line "scripts/install-deps.sh ${pair#*|}"
    done
}
