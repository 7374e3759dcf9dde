#!/usr/bin/env python3
"""Helpers for robust.bats (named pytest_* so that the shim takes it for a pytest controller).

  pytest_robust.py write-and-die DIR        open DIR/.testmondata, write in a big transaction and
                                            SIGKILL itself half-way through
  pytest_robust.py ready-and-die DIR       open DIR/.testmondata, let the run become ready, SIGKILL
  pytest_robust.py threads DIR N            open DIR/.testmondata, then N threads each create and
                                            write DIR/tN/.testmondata (same name, other files)
  pytest_robust.py plant DIR MODE           plant a hostile file as this process's own run file
                                            (MODE: truncated, invalid, wrong-types, not-object,
                                            huge, other-owner, fifo, directory), start a worker
                                            child, print its outcome as JSON
"""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time


def write_and_die(d):
    con = sqlite3.connect(os.path.join(d, ".testmondata"), isolation_level=None)
    con.execute("CREATE TABLE IF NOT EXISTS test_execution (id INTEGER PRIMARY KEY, name TEXT, "
                "blob BLOB)")
    con.execute("SELECT count(*) FROM test_execution").fetchall()  # idle: ready
    con.execute("BEGIN")
    for i in range(20000):
        con.execute("INSERT INTO test_execution (name, blob) VALUES (?, randomblob(200))",
                    ("t%d" % i,))
        if i == 15000:
            os.kill(os.getpid(), signal.SIGKILL)


def ready_and_die(d):
    con = sqlite3.connect(os.path.join(d, ".testmondata"))
    con.execute("SELECT count(*) FROM environment").fetchall()  # idle with a schema: ready
    os.kill(os.getpid(), signal.SIGKILL)


def threads(d, n):
    con = sqlite3.connect(os.path.join(d, ".testmondata"))
    con.execute("CREATE TABLE IF NOT EXISTS t (x)")
    con.commit()
    errors = []

    def work(i):
        try:
            sub = os.path.join(d, "t%d" % i)
            os.makedirs(sub, exist_ok=True)
            c = sqlite3.connect(os.path.join(sub, ".testmondata"), timeout=30)
            c.execute("CREATE TABLE IF NOT EXISTS t (x)")
            for k in range(50):
                with c:
                    c.execute("INSERT INTO t VALUES (?)", (k,))
            assert c.execute("SELECT count(*) FROM t").fetchone()[0] == 50
            c.close()
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    ts = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for k in range(50):
        with con:
            con.execute("INSERT INTO t VALUES (?)", (k,))
    for t in ts:
        t.join()
    print(json.dumps({"errors": errors, "main_rows": con.execute("SELECT count(*) FROM t").fetchone()[0]}))
    return 1 if errors else 0


def plant(d, mode):
    con = sqlite3.connect(os.path.join(d, ".testmondata"))  # (the shim is off for the planting)
    con.execute("CREATE TABLE IF NOT EXISTS environment (id INTEGER PRIMARY KEY, n TEXT)")
    con.commit()
    con.close()
    start = open("/proc/self/stat").read().rsplit(")", 1)[1].split()[19]
    cdir = os.path.join(d, ".testmon-shim")
    os.makedirs(cdir, mode=0o700, exist_ok=True)
    path = os.path.join(cdir, "run-%d-%s.json" % (os.getpid(), start))
    good = json.dumps({"format": 1, "state": "ready", "datafile": os.path.realpath(
        os.path.join(d, ".testmondata")), "environment": {"present": False}})
    if mode == "truncated":
        open(path, "w").write(good[: len(good) // 2])
    elif mode == "invalid":
        open(path, "w").write("{state: ready}")
    elif mode == "wrong-types":
        open(path, "w").write(json.dumps({"state": ["ready"], "datafile": 7}))
    elif mode == "not-object":
        open(path, "w").write('"ready"')
    elif mode == "huge":
        with open(path, "w") as f:
            f.write(good)
            f.truncate(64 << 20)  # sparse: 64 MiB
    elif mode == "other-owner":
        open(path, "w").write(good)
        os.chown(path, 65534, 65534)
    elif mode == "fifo":
        os.mkfifo(path, 0o600)
    elif mode == "directory":
        os.mkdir(path)
    elif mode == "good":
        open(path, "w").write(good)
    env = dict(os.environ, PYTEST_XDIST_WORKER="gw0")
    env.pop("TESTMON_SHIM", None)
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-c", """
import sqlite3, sys
try:
    c = sqlite3.connect(sys.argv[1]); c.execute('select count(*) from environment').fetchall()
    print('opened')
except sqlite3.Error as e:
    print('error: %s' % e)
""", os.path.join(d, ".testmondata")], env=env, capture_output=True, text=True, timeout=120)
    sys.stderr.write(p.stderr)
    print(json.dumps({"worker": p.stdout.strip(), "seconds": time.monotonic() - t0}))
    return 0


def main():
    cmd, d = sys.argv[1], sys.argv[2]
    if cmd == "write-and-die":
        return write_and_die(d)
    if cmd == "ready-and-die":
        return ready_and_die(d)
    if cmd == "threads":
        return threads(d, int(sys.argv[3]))
    if cmd == "plant":
        return plant(d, sys.argv[3])
    return 2


if __name__ == "__main__":
    sys.exit(main())
