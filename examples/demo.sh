#!/usr/bin/env bash
# The demo: a sample project under `pytest -n 2 --testmon` with pytest-testmon 2.1.3 (the last
# release for Python < 3.10 users), before and after a dependency changes.  Without the shim the
# xdist workers die with "attempt to write a readonly database"; with it the run passes and
# selects what a serial run selects.  (The new package must sort after the existing ones: testmon
# 2.1.3 reads the first environment row in index order, and only a newer row sorting later
# makes the workers try to insert one.)  Everything happens in build/demo and .venvs/demo-*.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SHIM="$ROOT/${BUILD:-build}/libtestmon_shim.so"
PY=${PYTHON:-python3}
TESTMON=${TESTMON:-2.1.3}
VENV="$ROOT/.venvs/demo-$TESTMON"
WORK="$ROOT/${BUILD:-build}/demo"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

[ -f "$SHIM" ] || { echo "demo: $SHIM is missing: run make first" >&2; exit 2; }
if [ ! -x "$VENV/bin/pytest" ]; then
    say "creating $VENV (pytest-testmon==$TESTMON, pytest-xdist)"
    "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "pytest-testmon==$TESTMON" \
        "pytest-xdist==3.6.1" "pytest>=7,<9"
fi
SITE=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
FAKE_DEP="$SITE/zz_demo_dependency-1.0.dist-info"
trap 'rm -rf "$FAKE_DEP"' EXIT
rm -rf "$WORK" "$FAKE_DEP"
mkdir -p "$WORK"
cp -r examples/sample "$WORK/without-shim"
cp -r examples/sample "$WORK/with-shim"
export PYTHONDONTWRITEBYTECODE=1
unset PYTEST_ADDOPTS

pytest_n2() { (cd "$1" && shift && "$VENV/bin/pytest" -n 2 --testmon -p no:randomly "$@"); }

say "first run: both copies record their tests"
pytest_n2 "$WORK/without-shim" -q
pytest_n2 "$WORK/with-shim" -q

say "a dependency is installed (as after 'pip install' or a lock-file update)"
mkdir -p "$FAKE_DEP"
printf 'Metadata-Version: 2.1\nName: zz-demo-dependency\nVersion: 1.0\n' >"$FAKE_DEP/METADATA"

say "pytest -n 2 --testmon, without the shim"
set +e
pytest_n2 "$WORK/without-shim" -q >"$WORK/without-shim.log" 2>&1
plain=$?
set -e
grep -m 3 -E 'readonly|INTERNALERROR> [a-zA-Z.]*Error' "$WORK/without-shim.log" || true
echo "exit status $plain"

say "LD_PRELOAD=$SHIM pytest -n 2 --testmon"
set +e
LD_PRELOAD="$SHIM${LD_PRELOAD:+:$LD_PRELOAD}" pytest_n2 "$WORK/with-shim" -v 2>&1 | grep -E 'PASSED|FAILED|passed|failed|error|testmon:'
shimmed=${PIPESTATUS[0]}
set -e
echo "exit status $shimmed"

if [ "$plain" -ne 0 ] && [ "$shimmed" -eq 0 ]; then
    say "the shim fixed it: same tests, no read-only error (without it: exit $plain)"
    exit 0
fi
say "unexpected: without shim exit $plain, with shim exit $shimmed (see $WORK/*.log)"
exit 1
