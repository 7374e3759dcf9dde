#!/usr/bin/env python3
"""A stand-in for a pytest-testmon controller and its xdist workers, for process-level tests.

Named pytest_*.py because the shim recognises a controller by a pytest command line; a copy under
another name (run_tests.py, _jb_pytest_runner.py) stands for pytest.main() called by a launcher,
which the shim recognises by the modules a pytest session with testmon has imported: --session
imports stand-ins of those (_pytest.main, testmon.pytest_testmon) in the controller.  It speaks
to .testmondata the way testmon does (Python's sqlite3, unqualified table names, implicit BEGIN)
and prints one JSON line per process on stdout for the test to inspect.

  pytest_fake.py controller DIR [--workers N] [--delay S] [--worker-delay S] [--die-before-ready]
                 [--session] [--worker-dir DIR2] [--worker-sql SQL]...   statements every worker
                 executes after opening; --worker-dir: the workers open DIR2's datafile instead
  pytest_fake.py worker DIR [--worker-sql SQL]...   (run with PYTEST_XDIST_WORKER set)
"""
import argparse
import json
import os
import sqlite3
import subprocess
import sys
import time
import types

# The testmon-like schema of the Python tests (tests/e2e/test_oracle.py imports it too; the C
# tests' is tests/common/testdb.h): testmon 2.x's tables, mcall_id standing for 2.0.x's
# per-process scratch tables.
SCHEMA = """
CREATE TABLE environment (id INTEGER PRIMARY KEY ASC, environment_name TEXT,
    system_packages TEXT, python_version TEXT,
    UNIQUE (environment_name, system_packages, python_version));
CREATE TABLE test_execution (id INTEGER PRIMARY KEY ASC, environment_id INTEGER,
    test_name TEXT, duration FLOAT, failed BIT, forced BIT,
    FOREIGN KEY(environment_id) REFERENCES environment(id));
CREATE TABLE file_fp (id INTEGER PRIMARY KEY, filename TEXT, method_checksums BLOB,
    mtime FLOAT, fsha TEXT);
CREATE TABLE test_execution_file_fp (test_execution_id INTEGER, fingerprint_id INTEGER,
    FOREIGN KEY(test_execution_id) REFERENCES test_execution(id),
    FOREIGN KEY(fingerprint_id) REFERENCES file_fp(id));
CREATE TABLE mcall_id (id INTEGER PRIMARY KEY ASC, exec_id INTEGER);
CREATE TABLE metadata (dataid TEXT PRIMARY KEY, data TEXT);
"""


def emit(obj):
    """One JSON line in one write(): lines of concurrent workers must never interleave."""
    os.write(1, (json.dumps(obj) + "\n").encode())


def controller(a):
    if a.session:  # what sys.modules holds when testmon opens its datafile in a pytest session
        for name in ("_pytest", "_pytest.main", "testmon", "testmon.pytest_testmon"):
            sys.modules.setdefault(name, types.ModuleType(name))
    path = os.path.join(a.dir, ".testmondata")
    con = sqlite3.connect(path, timeout=60)
    con.execute("PRAGMA journal_mode = %s" % ("DELETE" if a.rollback else "WAL"))
    fresh = not con.execute("SELECT 1 FROM sqlite_master").fetchall()
    workers = []
    for i in range(a.workers):  # spawned before the schema exists: they must wait for ready
        env = dict(os.environ, PYTEST_XDIST_WORKER="gw%d" % i)
        args = [sys.executable, os.path.abspath(__file__), "worker", a.worker_dir or a.dir]
        for sql in a.worker_sql:
            args += ["--worker-sql", sql]
        args += ["--worker-delay", str(a.worker_delay)]
        workers.append(subprocess.Popen(args, env=env))
    ready_at = None
    time.sleep(a.delay)
    if a.die_before_ready:
        os._exit(3)
    # One transaction, schema and rows: the shim may call the run ready at any idle point with
    # a schema, and these workers, unlike xdist's, started before the initialisation (to show
    # the wait), so they read the state of the first idle point: it must be the whole of it.
    con.execute("BEGIN")
    if fresh:
        for stmt in SCHEMA.split(";"):
            if stmt.strip():
                con.execute(stmt)
    con.execute("INSERT OR IGNORE INTO environment VALUES (NULL, 'default', 'pkgs', '3')")
    con.execute("INSERT OR IGNORE INTO test_execution VALUES (1, 1, 't::a', 0.1, 0, 1)")
    if fresh:
        ready_at = time.time()  # the shim publishes "ready" inside the commit's step, not later
    con.commit()
    con.execute("SELECT count(*) FROM environment").fetchall()
    rcs = [w.wait() for w in workers]
    with con:  # the controller's next write applies what workers handed over
        con.execute("INSERT OR REPLACE INTO metadata VALUES ('done', '1')")
    rows = con.execute("SELECT id, test_name, forced FROM test_execution ORDER BY id").fetchall()
    emit(({"role": "controller", "worker_rcs": rcs, "test_execution": rows,
                      "ready_at": ready_at}))
    return max(rcs, default=0)


def worker(a):
    path = os.path.join(a.dir, ".testmondata")
    time.sleep(a.worker_delay)
    t0 = time.monotonic()
    try:
        con = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=60)
        con.execute("SELECT 1").fetchall()
    except sqlite3.Error as e:
        emit(({"role": "worker", "id": os.environ.get("PYTEST_XDIST_WORKER"),
                          "open_error": str(e), "waited": time.monotonic() - t0}))
        return 4
    waited = time.monotonic() - t0
    opened_at = time.time()
    results = []
    for sql in a.worker_sql:
        try:
            with con:
                cur = con.execute(sql)
                results.append({"sql": sql, "ok": True, "rowcount": cur.rowcount,
                                "lastrowid": cur.lastrowid, "rows": cur.fetchall()})
        except sqlite3.Error as e:
            results.append({"sql": sql, "ok": False, "error": type(e).__name__ + ": " + str(e)})
    emit(({"role": "worker", "id": os.environ.get("PYTEST_XDIST_WORKER"),
                      "waited": waited, "opened_at": opened_at, "results": results}))
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("role", choices=["controller", "worker"])
    p.add_argument("dir")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--die-before-ready", action="store_true")
    p.add_argument("--rollback", action="store_true",
                   help="a rollback-journal datafile (testmon 1.x), not WAL")
    p.add_argument("--worker-dir", default="",
                   help="controller: the directory whose datafile the workers open")
    p.add_argument("--session", action="store_true",
                   help="controller: import stand-ins of a pytest session's modules first")
    p.add_argument("--worker-sql", action="append", default=[])
    p.add_argument("--worker-delay", type=float, default=0.0,
                   help="seconds a worker sleeps before opening the datafile")
    a = p.parse_args()
    sys.stdout.flush()
    return controller(a) if a.role == "controller" else worker(a)


if __name__ == "__main__":
    sys.exit(main())
