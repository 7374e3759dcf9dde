# Shared set-up for the bats suites: absolute paths, a private scratch directory per test, and
# bats-support/bats-assert from Debian's packages (or BATS_LIB_PATH).
bats_require_minimum_version 1.5.0
ROOT="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)"
SHIM="$ROOT/${BUILD:-build}/libtestmon_shim.so"
FAKE="$ROOT/tests/bats/helpers/pytest_fake.py"
# the interpreter itself, not a pyenv shim script (which would run a dozen bash processes)
PY="${TEST_PYTHON:-$(python3 -c "import sys; print(sys.executable)")}"
for lib in "${BATS_LIB_PATH:-}" /usr/lib/bats /usr/lib/bats-core; do
    if [ -n "$lib" ] && [ -f "$lib/bats-support/load.bash" ]; then
        load "$lib/bats-support/load.bash"
        load "$lib/bats-assert/load.bash"
        break
    fi
done

common_setup() {
    [ -f "$SHIM" ] || { echo "build the library first: make" >&2; return 1; }
    WORK="$(mktemp -d "${BATS_TMPDIR:-/tmp}/shim-bats.XXXXXX")"
    cd "$WORK"
    unset TESTMON_SHIM TESTMON_SHIM_LOG TESTMON_SHIM_DIR TESTMON_SHIM_TIMEOUT TESTMON_DATAFILE
    unset PYTEST_XDIST_WORKER PYTEST_ADDOPTS
}

common_teardown() {
    cd /
    [ -n "${WORK:-}" ] && rm -rf "$WORK"
}

# run a command with the shim preloaded; stdout and stderr kept apart in $output / $stderr
# (SHIM_PRELOAD_FIRST: a library preloaded before the shim, e.g. a sanitizer runtime)
preloaded() {
    run --separate-stderr env LD_PRELOAD="${SHIM_PRELOAD_FIRST:+$SHIM_PRELOAD_FIRST:}$SHIM" "$@"
    result="$output"   # kept for json_field: the next `run` replaces $output
}

# one JSON field of the line whose "role"/"id" matches, via python
json_field() { # json_field <role-or-id> <python-expr on d>
    printf '%s\n' "$result" | "$PY" -c '
import json, sys
want, expr = sys.argv[1], sys.argv[2]
for line in sys.stdin:
    line = line.strip()
    if not line.startswith("{"): continue
    d = json.loads(line)
    if d.get("role") == want or d.get("id") == want:
        print(eval(expr)); break
' "$1" "$2"
}
