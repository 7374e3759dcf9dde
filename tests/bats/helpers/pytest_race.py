"""pytest plugin (-p pytest_race) that forces testmon 2.1.x's selection race, for robust.bats.

testmon 2.1.1-2.1.4's controller syncs the collected tests (TestmonXdistSync) as soon as every
worker that has reported ready has collected; a worker still in pytest_configure is not counted.
That worker then reads the database in several queries while the controller writes: here gw1
reads "which tests are affected" before the sync and "which tests are known" after it, so for a
new environment it finds nothing affected and every test known, deselects all of them, and xdist
stops with "Different tests were collected".

With TESTMON_RACE set, the order is forced with marker files in the working directory (every
wait is bounded, so a run that does not follow this order ends instead of hanging):
  1. gw1 computes its affected tests (DB.determine_tests), writes gw1-selected, and waits for
     synced before going on to read the known tests;
  2. gw0 waits for gw1-selected before it collects;
  3. the controller writes synced after its pytest_xdist_node_collection_finished hooks (the
     sync among them) have run.
The same order makes 2.0.2-2.1.0 (gw0 syncs in its collection hook, reported to the controller
before step 3) and 2.2.0 stop upstream too (tests/e2e/pins.json, upstream_races).
"""
import os
import time

import pytest

RACE = bool(os.environ.get("TESTMON_RACE"))
WORKER = os.environ.get("PYTEST_XDIST_WORKER")


def _wait_for(name, seconds=20.0):
    end = time.time() + seconds
    while not os.path.exists(name) and time.time() < end:
        time.sleep(0.02)


def _touch(name):
    open(name, "w").close()


if RACE and WORKER == "gw1":
    import testmon.db

    _determine_tests = testmon.db.DB.determine_tests

    def determine_tests(self, *args, **kwargs):
        result = _determine_tests(self, *args, **kwargs)
        _touch("gw1-selected")
        _wait_for("synced")
        return result

    testmon.db.DB.determine_tests = determine_tests


def pytest_collection(session):
    if RACE and WORKER == "gw0":
        _wait_for("gw1-selected")


@pytest.hookimpl(hookwrapper=True)
def pytest_xdist_node_collection_finished(node, ids):
    yield
    if RACE:
        _touch("synced")
