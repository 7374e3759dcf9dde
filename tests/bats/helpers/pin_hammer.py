"""pytest plugin for tests/bats/pinned.bats (-p pin_hammer): in the xdist controller, once its
initialisation is over and before any worker starts (pytest_xdist_setupnodes), start another
process that writes the datafile as hard as it can until the run ends: a table filled and
emptied, VACUUM (which moves every page), automatic checkpoints every 10 pages, and a tool's
checkpoints of every mode.  Whatever reaches the database file while the workers read it would tear their reads.
Its counts go to $PIN_HAMMER_STATS when it stops, with how many of its rounds found the
database file changed since it started (the file the workers read)."""
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any, Optional

HAMMER = r'''
import json, os, sqlite3, sys, time
datafile, stop, stats = sys.argv[1:4]
con = sqlite3.connect(datafile, timeout=60, isolation_level=None)  # a second controller
con.execute("PRAGMA wal_autocheckpoint = 10")
# A tool's checkpoints (the sqlite3 shell's have no busy timeout).  With a long one, a FULL,
# RESTART or TRUNCATE checkpoint holds every writer off while it waits for the readers of an
# older state, and the pin is one: testmon's writes would wait that long (shim/README.md).
tool = sqlite3.connect(datafile, timeout=0.05, isolation_level=None)
con.execute("CREATE TABLE IF NOT EXISTS pin_hammer(x)")
n = {"rounds": 0, "checkpoints_stopped": 0, "wal_max": 0, "file_changed": 0}
def stamp():  # the database file the workers read: did anything write it?
    st = os.stat(datafile)
    return st.st_size, st.st_mtime_ns, st.st_ino
first = stamp()
open(stop + ".running", "w").close()
while not os.path.exists(stop) and os.getppid() != 1:
    con.execute("BEGIN IMMEDIATE")
    con.executemany("INSERT INTO pin_hammer VALUES (randomblob(2000))", [()] * 200)
    con.execute("COMMIT")
    con.execute("DELETE FROM pin_hammer")
    con.execute("VACUUM")
    n["checkpoints_stopped"] += con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[0]
    for mode in ("FULL", "RESTART", "TRUNCATE"):
        try:
            n["checkpoints_stopped"] += tool.execute("PRAGMA wal_checkpoint(%s)" % mode).fetchone()[0]
        except sqlite3.OperationalError:  # locked: a writer was in the middle of a transaction
            n["checkpoints_stopped"] += 1
    n["rounds"] += 1
    n["file_changed"] += stamp() != first
    n["wal_max"] = max(n["wal_max"], os.path.getsize(datafile + "-wal"))
con.execute("DROP TABLE pin_hammer")
con.close()
tool.close()
with open(stats, "w") as f:
    json.dump(n, f)
'''

_proc: Optional[subprocess.Popen] = None


def _stop_file(config: Any) -> str:
    return os.path.join(str(config.rootpath), ".pin-hammer-stop")


def pytest_xdist_setupnodes(config: Any, specs: Any) -> None:
    global _proc
    stop = _stop_file(config)
    for p in (stop, stop + ".running"):
        if os.path.exists(p):
            os.remove(p)
    libc = ctypes.CDLL(None)
    _proc = subprocess.Popen(
        [sys.executable, "-c", HAMMER, os.path.join(str(config.rootpath), ".testmondata"), stop,
         os.environ["PIN_HAMMER_STATS"]],
        preexec_fn=lambda: libc.prctl(1, signal.SIGKILL))  # PR_SET_PDEATHSIG: dies with us
    for _ in range(600):  # writing before the first worker starts
        if os.path.exists(stop + ".running"):
            break
        time.sleep(0.01)


def pytest_sessionfinish(session: Any) -> None:
    if _proc is None:
        return
    open(_stop_file(session.config), "w").close()
    _proc.wait(timeout=120)
