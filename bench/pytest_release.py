#!/usr/bin/env python3
"""Release latency: a controller that publishes "ready" only once all its workers are waiting.

Named pytest_*.py because the shim recognises a controller by a pytest command line.  Run with
LD_PRELOAD of the shim in an empty directory:

  pytest_release.py DIR N      the controller: starts N workers (PYTEST_XDIST_WORKER=gwI), waits
                               until each has said it is about to open DIR/.testmondata, lets them
                               settle into the shim's wait, then creates testmon-like tables in one
                               transaction (the shim publishes ready at that commit)

Prints one JSON line: the workers' shim reports (DIR/.testmon-shim/*.worker-*.json), whose
released_after_us is the time from the controller's ready (the run file's ready_mono_us) to the
moment the worker read it.  Nothing is timed here: the figures are the shim's own.
"""
import glob
import json
import os
import sqlite3
import subprocess
import sys
import time

SETTLE_S = 0.3  # from "about to open" to blocking in the shim's inotify wait: a few ms


def worker(path, fd):
    os.write(fd, b"x")
    os.close(fd)
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=60)
    con.execute("SELECT count(*) FROM environment").fetchall()
    con.close()


def controller(d, n):
    path = os.path.join(d, ".testmondata")
    con = sqlite3.connect(path, timeout=60)
    con.execute("SELECT 1 FROM sqlite_master").fetchall()  # opened: the run is initialising
    r, w = os.pipe()
    procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", path,
                               str(w)], env=dict(os.environ, PYTEST_XDIST_WORKER="gw%d" % i),
                              pass_fds=(w,)) for i in range(n)]
    os.close(w)
    got = 0
    while got < n:
        b = os.read(r, n - got)
        if not b:
            break
        got += len(b)
    time.sleep(SETTLE_S)
    con.execute("BEGIN")  # one transaction (DDL gets no implicit BEGIN): ready at its commit
    con.execute("CREATE TABLE environment (id INTEGER PRIMARY KEY, environment_name TEXT)")
    con.execute("CREATE TABLE test_execution (id INTEGER PRIMARY KEY, test_name TEXT)")
    con.commit()
    rcs = [p.wait() for p in procs]
    con.close()
    reports = [json.load(open(f)) for f in glob.glob(os.path.join(d, ".testmon-shim",
                                                                   "*.worker-*.json"))]
    print(json.dumps({"workers": n, "rcs": rcs, "reports": reports}))
    return max(rcs, default=0)


if __name__ == "__main__":
    if sys.argv[1] == "--worker":
        worker(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(controller(sys.argv[1], int(sys.argv[2])))
