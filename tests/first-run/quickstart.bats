#!/usr/bin/env bats
# README's quick start, run as written: its code block, extracted from between the quick-start
# markers, in a fresh venv with pytest-testmon 2.1.3 and pytest-xdist, with `~/your-project` a
# copy of examples/sample (HOME points at a scratch directory; the caches stay the user's).
# Then the failure the shim exists for: a dependency is installed, and the same
# `pytest -n auto --testmon` must still pass, with the shim managing the run.
# Slow (make wheel, a venv): a suite of make test, not of make check (make first-run).

load ../bats/helpers/common

setup() {
    WORK="$(mktemp -d "${BATS_TMPDIR:-/tmp}/first-run.XXXXXX")"
    unset LD_PRELOAD PYTEST_ADDOPTS TESTMON_SHIM TESTMON_SHIM_LOG TESTMON_SHIM_DIR TESTMON_DATAFILE
}
teardown() {
    rm -rf "$WORK"
}

@test "README's quick start works as written, in a fresh venv" {
    block="$(sed -n '/^<!-- quick-start:begin -->$/,/^<!-- quick-start:end -->$/p' "$ROOT/README.md" |
        sed -e '1,/^```/d' -e '/^```$/,$d')"
    [ -n "$block" ]
    # the user's project and its venv, as they were before the shim
    "$PY" -m venv "$WORK/venv"
    "$WORK/venv/bin/pip" install -q --disable-pip-version-check "pytest-testmon==2.1.3" \
        "pytest-xdist==3.6.1" "pytest>=7,<9"
    mkdir -p "$WORK/home"
    cp -r "$ROOT/examples/sample" "$WORK/home/your-project"
    # the block, from the repository, with the project's venv active
    run bash -c '
        export PYENV_ROOT="${PYENV_ROOT:-$HOME/.pyenv}" XDG_CACHE_HOME="${XDG_CACHE_HOME:-$HOME/.cache}"
        export HOME="$1"
        . "$2/bin/activate"
        cd "$3"
        set -eo pipefail
        eval "$4"' _ "$WORK/home" "$WORK/venv" "$ROOT" "$block"
    echo "$output" | tail -n 30
    assert_success
    assert_line --regexp '^=+ 5 passed in '
    [ -f "$WORK/home/your-project/.testmondata" ]
    # the shim managed that run (no LD_PRELOAD anywhere: the wheel's plugin)
    cd "$WORK/home/your-project"
    run "$WORK/venv/bin/testmon-shim" status
    assert_success
    assert_line "state: finished"
    assert_line --regexp '^workers: [1-9]'
    # a dependency is installed: upstream 2.1.3 would stop with "attempt to write a readonly
    # database" here (make demo shows it); with the wheel the run passes
    site="$("$WORK/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    mkdir "$site/zz_quickstart_dependency-1.0.dist-info"
    printf 'Metadata-Version: 2.1\nName: zz-quickstart-dependency\nVersion: 1.0\n' \
        > "$site/zz_quickstart_dependency-1.0.dist-info/METADATA"
    run env PATH="$WORK/venv/bin:$PATH" pytest -n auto --testmon
    echo "$output" | tail -n 20
    assert_success
    assert_line --regexp '^=+ 5 passed in '
    refute_output --partial "readonly database"
}
