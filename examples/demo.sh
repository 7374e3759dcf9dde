#!/usr/bin/env bash
# `make demo`: the sample project (examples/sample) under pytest-testmon 2.1.3 (the last release
# for Python < 3.10), installed the way README says: the wheel in a venv next to pytest-testmon and
# pytest-xdist, then plain `pytest -n 2 --testmon`, no LD_PRELOAD.
#
# The sample's tests are recorded once by a serial `pytest --testmon`; that copy, .testmondata
# included, is copied three times, a dependency is installed into the venv (as `pip install` or
# a lock-file update does), and each copy runs once from that same state:
#   serial    pytest --testmon                             the oracle
#   upstream  pytest -n 2 --testmon -p no:testmon_shim     the shim switched off: fails
#   shim      pytest -n 2 --testmon                        must run the same tests as serial,
#                                                          with the same outcomes and exit status
# Then calc.mean is edited in the serial and shim copies: testmon selects only the tests that use
# it, and again the shim's run must be the serial one's.  Each run's tests come from its JUnit
# report (examples/demo_compare.py); the demo exits 1 unless both comparisons hold, upstream
# failed, and the shim managed the run.  (The new package must sort after the existing ones:
# testmon 2.1.3 reads the first environment row in index order, and only a newer row sorting
# later makes the workers try to insert one.)
#
# Each copy has its own pytest.ini, so it is its own rootdir with its own .testmondata.  Written:
# build/demo/ (the copies and each run's log), dist/ (make wheel, which builds again only when
# the sources changed), .venvs/demo-*; nothing the repository tracks.
# Environment: PYTHON (python3), TESTMON (2.1.3), BUILD (build).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
TESTMON=${TESTMON:-2.1.3}
BUILD=${BUILD:-build}
WORK="$ROOT/$BUILD/demo"
ARCH=$(uname -m)
VERSION=$(cat VERSION)
PYVER=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
VENV="$ROOT/.venvs/demo-$TESTMON-py$PYVER"
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; else BOLD= PLAIN=; fi
say() { printf '\n%s== %s%s\n' "$BOLD" "$*" "$PLAIN"; }
arm() { printf '\n%s-- %s%s\n' "$BOLD" "$*" "$PLAIN"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }
compare() { "$PY" "$ROOT/examples/demo_compare.py" "$@"; }
# the host's wheel of this version in dist/, if there is exactly one
host_wheel() { ls dist/testmon_shim-"$VERSION"-*-manylinux*_"$ARCH".whl 2>/dev/null | head -n 2; }

# Nothing from the caller's environment reaches the runs: not a preload, not pytest options.
unset LD_PRELOAD PYTEST_ADDOPTS PYTHONPATH TESTMON_DATAFILE TESTMON_SHIM TESTMON_SHIM_DIR \
    TESTMON_SHIM_LOG TESTMON_SHIM_TIMEOUT PYTEST_XDIST_WORKER
export PYTHONDONTWRITEBYTECODE=1
rm -rf "$WORK"
mkdir -p "$WORK"

# 1. The wheel: `make wheel` builds it only when its sources changed since the last build
#    (tools/wheel/build.py keeps their hash beside dist/'s files).
say "make wheel WHEEL_ARCHS=$ARCH (log: $BUILD/demo/wheel.log)"
make -s -C "$ROOT" wheel WHEEL_ARCHS="$ARCH" >"$WORK/wheel.log" 2>&1 ||
    { tail -n 20 "$WORK/wheel.log" >&2; die "make wheel failed (see $WORK/wheel.log)"; }
wheel=$(host_wheel)
[ -n "$wheel" ] && [ "$(wc -l <<<"$wheel")" -eq 1 ] || die "make wheel made no single $ARCH wheel in dist/"

# 2. The venv: pytest-testmon, pytest-xdist and pytest once (pinned as the e2e matrix's pytest 8
#    profile, tests/e2e/pins.json; made again when the pins change); the wheel whenever it changed.
PINS="pytest-testmon==$TESTMON pytest-xdist==3.6.1 execnet==2.1.1 pytest==8.3.5"
if [ "$(cat "$VENV/.demo-ok" 2>/dev/null)" != "$PINS" ]; then
    say "creating ${VENV#"$ROOT"/} ($PINS)"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
    # shellcheck disable=SC2086  # one word per pin
    "$VENV/bin/pip" install -q --disable-pip-version-check $PINS
    printf '%s\n' "$PINS" >"$VENV/.demo-ok"
fi
hash=$(sha256sum "$wheel" | cut -c1-16) # installed again whenever the wheel changed
if [ "$(cat "$VENV/.demo-wheel" 2>/dev/null)" != "$hash $wheel" ]; then
    say "pip install $wheel"
    "$VENV/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps "$wheel"
    printf '%s %s\n' "$hash" "$wheel" >"$VENV/.demo-wheel"
fi
SITE=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
FAKE_DEP="$SITE/zz_demo_dependency-1.0.dist-info"
trap 'rm -rf "$FAKE_DEP"' EXIT
rm -rf "$FAKE_DEP"
versions=$("$VENV/bin/python" -c 'import sys
from importlib.metadata import version as v
print("pytest-testmon %s, pytest-xdist %s, pytest %s, testmon-shim %s, Python %s" % (v("pytest-testmon"),
      v("pytest-xdist"), v("pytest"), v("testmon-shim"), sys.version.split()[0]))')
say "the sample project (examples/sample) in ${VENV#"$ROOT"/}: $versions"
echo "copies in $BUILD/demo/, each its own rootdir (pytest.ini) with its own .testmondata; each run's"
echo "output is in $BUILD/demo/<copy>-<step>.log, its tests in a JUnit report beside it"

# one pytest run of a copy, from inside it: pytest_in <copy> <step> <pytest args...>; sets rc
pytest_in() {
    local copy=$1 step=$2
    shift 2
    set +e
    (cd "$WORK/$copy" && PATH="$VENV/bin:$PATH" pytest "$@" -rA -o junit_family=xunit1 \
        --junitxml="$WORK/$copy-$step.xml") >"$WORK/$copy-$step.log" 2>&1
    rc=$?
    set -e
}
# the line that says why upstream failed: the database error, else xdist's, else the first exception
why() {
    grep -m 1 -E 'readonly database|database is locked|Different tests were collected' "$1" ||
        grep -m 1 -E '^INTERNALERROR> [A-Za-z0-9_.]*(Error|Exception)' "$1" ||
        echo "(no error line; see ${1#"$ROOT"/})"
}

say "1. pytest --testmon records the sample's tests"
cp -r examples/sample "$WORK/base"
pytest_in base record --testmon
compare show "$WORK/base-record.xml" "$rc"
[ "$rc" -eq 0 ] || die "the first serial run failed (see $WORK/base-record.log)"
for copy in serial upstream shim; do cp -r "$WORK/base" "$WORK/$copy"; done

say "2. a dependency is installed (zz-demo-dependency 1.0, as after pip install); each copy runs once"
mkdir -p "$FAKE_DEP"
printf 'Metadata-Version: 2.1\nName: zz-demo-dependency\nVersion: 1.0\n' >"$FAKE_DEP/METADATA"
arm "serial: pytest --testmon"
pytest_in serial dep --testmon
serial_rc=$rc
compare show "$WORK/serial-dep.xml" "$rc"
arm "upstream: pytest -n 2 --testmon -p no:testmon_shim   (the shim switched off)"
pytest_in upstream dep -n 2 --testmon -p no:testmon_shim
upstream_rc=$rc
compare show "$WORK/upstream-dep.xml" "$rc"
upstream_why=$(why "$WORK/upstream-dep.log")
echo "  $upstream_why"
arm "shim: pytest -n 2 --testmon"
pytest_in shim dep -n 2 --testmon
shim_rc=$rc
compare show "$WORK/shim-dep.xml" "$rc"
ok=1
compare same "$WORK/serial-dep.xml" "$serial_rc" "$WORK/shim-dep.xml" "$shim_rc" || ok=0
# the shim managed that run: its coordination file says so (testmon-shim status)
managed=$("$VENV/bin/testmon-shim" status --json "$WORK/shim" 2>/dev/null | "$PY" -c '
import json, sys
r = json.load(sys.stdin)["runs"][0]
print("%s, %d workers" % (r["state"], len(r.get("workers") or [])))' 2>/dev/null) || managed=
if [[ "$managed" == "finished, "[1-9]* ]]; then
    echo "the shim managed the run (testmon-shim status: $managed)"
else
    echo "the shim did not manage the run (testmon-shim status: ${managed:-no run})"
    ok=0
fi

say "3. calc.mean is edited: testmon selects only the tests that use it"
for copy in serial shim; do
    sed -i 's|return sum(values) / len(values)|return sum(values) / float(len(values))|' \
        "$WORK/$copy/calc.py"
done
arm "serial: pytest --testmon"
pytest_in serial edit --testmon
serial_rc=$rc
compare show "$WORK/serial-edit.xml" "$rc"
arm "shim: pytest -n 2 --testmon"
pytest_in shim edit -n 2 --testmon
compare show "$WORK/shim-edit.xml" "$rc"
compare same "$WORK/serial-edit.xml" "$serial_rc" "$WORK/shim-edit.xml" "$rc" || ok=0

if [ "$upstream_rc" -eq 0 ]; then
    say "unexpected: without the shim, pytest -n 2 --testmon passed (testmon $TESTMON; see $BUILD/demo/upstream-dep.log)"
    exit 1
fi
if [ "$ok" -ne 1 ]; then
    say "FAILED: with the shim, pytest -n 2 --testmon did not run what serial pytest --testmon ran (see $BUILD/demo/)"
    exit 1
fi
say "the shim fixed it: without it pytest -n 2 --testmon stopped (exit $upstream_rc); with it, the same tests as serial pytest --testmon, at both steps"
