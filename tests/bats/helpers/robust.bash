# Helpers for robust.bats (loaded after common.bash).
ROBUST="$ROOT/tests/bats/helpers/pytest_robust.py"
# LD_PRELOAD for the processes started in the background (what `preloaded` uses): a sanitizer
# runtime (SHIM_PRELOAD_FIRST) must come before the shim
PRELOAD="${SHIM_PRELOAD_FIRST:+$SHIM_PRELOAD_FIRST:}$SHIM"

# the e2e suite's venv with pytest-testmon 2.1.3 and pytest-xdist (py3.11), created once from
# tests/e2e/pins.json if missing (the e2e suite reuses it); on failure the reason is on stderr
tm_venv() {
    "$PY" "$ROOT/tests/e2e/envs.py" ensure 2.1.3 3.11
}

integrity() { # integrity <datafile>
    "$PY" -c "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('PRAGMA integrity_check').fetchone()[0])" "$1"
}

# wait until file $1 contains $2 (at most $3 seconds)
wait_for() {
    local i
    for ((i = 0; i < ${3:-20} * 10; i++)); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# wait until a child of process $1 waits in the shim for its run to be ready (at most $2
# seconds): it then holds the inotify descriptor of that wait (shim/coord.c), as
# tests/unit/test_coord.c also looks for
wait_child_waiting() {
    local i c
    for ((i = 0; i < $2 * 10; i++)); do
        for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
            ls -l /proc/"$c"/fd 2>/dev/null | grep -q 'anon_inode:inotify' && return 0
        done
        sleep 0.1
    done
    return 1
}

# a fresh tmpfs at $1 of size $2, or return 1 (no privileges)
try_tmpfs() {
    mkdir -p "$1"
    mount -t tmpfs -o "size=$2,mode=0755" tmpfs "$1" 2>/dev/null
}
