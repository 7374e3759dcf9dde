"""Self-test of the e2e oracle: disagreeing inputs must be detected.

Run with `make e2e-selftest` or `python3 -m unittest discover -s tests/e2e -p 'test_*.py'`.
"""
import os
import shutil
import sqlite3
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import oracle  # noqa: E402
import run  # noqa: E402
import scenario  # noqa: E402

# the one testmon-like schema of the Python tests
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bats",
                                "helpers"))
from pytest_fake import SCHEMA  # noqa: E402

PATTERNS = {"readonly": "attempt to write a readonly database",
            "locked": "database is locked",
            "cantopen": "unable to open database file",
            "internalerror": "INTERNALERROR"}


def mk(rc=0, results=None, output="", timed_out=False):
    return {"rc": rc, "results": dict(results or {}), "output": output, "timed_out": timed_out}


BASE = {"test_a.py::test_1": "passed", "test_a.py::test_2": "failed"}


class CompareRuns(unittest.TestCase):
    def test_agreement_has_no_tags(self):
        oprob, tags = oracle.compare_runs(mk(1, BASE), mk(1, BASE), PATTERNS)
        self.assertEqual((oprob, tags), ([], []))

    def test_different_selection(self):
        x = dict(BASE)
        del x["test_a.py::test_1"]
        _, tags = oracle.compare_runs(mk(1, BASE), mk(1, x), PATTERNS)
        self.assertIn("selection differs", tags)

    def test_extra_test_in_xdist(self):
        x = dict(BASE, **{"test_b.py::test_3": "passed"})
        _, tags = oracle.compare_runs(mk(1, BASE), mk(1, x), PATTERNS)
        self.assertIn("selection differs", tags)

    def test_empty_vs_some(self):
        _, tags = oracle.compare_runs(mk(0, {}), mk(0, BASE), PATTERNS)
        self.assertIn("selection differs", tags)

    def test_different_outcome(self):
        x = dict(BASE, **{"test_a.py::test_2": "passed"})
        _, tags = oracle.compare_runs(mk(1, BASE), mk(1, x), PATTERNS)
        self.assertEqual(tags, ["outcome differs"])

    def test_different_exit(self):
        _, tags = oracle.compare_runs(mk(1, BASE), mk(3, BASE), PATTERNS)
        self.assertIn("exit differs", tags)

    def test_error_string_in_xdist_output(self):
        for tag, pat in PATTERNS.items():
            out = "... sqlite3.OperationalError: %s\n" % pat
            _, tags = oracle.compare_runs(mk(1, BASE), mk(1, BASE, out), PATTERNS)
            self.assertEqual(tags, ["err:" + tag])

    def test_timeout(self):
        _, tags = oracle.compare_runs(mk(1, BASE), mk(None, {}, "", True), PATTERNS)
        self.assertIn("timeout", tags)
        self.assertIn("exit differs", tags)

    def test_missing_junit_in_xdist(self):
        x = mk(3, None)
        x["results"] = None
        _, tags = oracle.compare_runs(mk(1, BASE), x, PATTERNS)
        self.assertIn("selection differs", tags)

    def test_broken_oracle_is_reported(self):
        oprob, _ = oracle.compare_runs(mk(3, BASE, "INTERNALERROR> boom"), mk(3, BASE), PATTERNS)
        self.assertTrue(any("exit status" in p for p in oprob))
        self.assertTrue(any("err:internalerror" in p for p in oprob))
        oprob, _ = oracle.compare_runs(mk(None, {}, "", True), mk(0, {}), PATTERNS)
        self.assertTrue(any("timed out" in p for p in oprob))


class Junit(unittest.TestCase):
    def setUp(self):
        self.d = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.d)

    def test_parse(self):
        p = os.path.join(self.d, "j.xml")
        with open(p, "w") as f:
            f.write('<?xml version="1.0"?><testsuites><testsuite>'
                    '<testcase classname="test_a" name="test_1" time="0.1"/>'
                    '<testcase classname="test_a" name="test_2"><failure message="x"/></testcase>'
                    '<testcase classname="test_b" name="test_3"><skipped/></testcase>'
                    '<testcase classname="test_b" name="test_4"><error message="e"/></testcase>'
                    '</testsuite></testsuites>')
        self.assertEqual(oracle.parse_junit(p), {
            "test_a::test_1": "passed", "test_a::test_2": "failed",
            "test_b::test_3": "skipped", "test_b::test_4": "error"})

    def test_missing_file(self):
        self.assertIsNone(oracle.parse_junit(os.path.join(self.d, "nope.xml")))


def make_db(path, ids_offset=0, failed=0, packages="a 1.0", fp=b"\x01\x02", extra_test=False,
            duration=0.1, mtime=1.0, survey="x", user_version=13, fsha="sha"):
    con = sqlite3.connect(path)
    con.executescript(SCHEMA)
    o = ids_offset
    con.execute("INSERT INTO environment VALUES (?, 'default', ?, '3.11.7')", (1 + o, packages))
    con.execute("INSERT INTO test_execution VALUES (?, ?, 'test_a.py::test_1', ?, 0, 0)",
                (10 + o, 1 + o, duration))
    con.execute("INSERT INTO test_execution VALUES (?, ?, 'test_a.py::test_2', ?, ?, 0)",
                (11 + o, 1 + o, duration, failed))
    if extra_test:
        con.execute("INSERT INTO test_execution VALUES (?, ?, 'test_a.py::test_3', 0, 0, 0)",
                    (12 + o, 1 + o))
    con.execute("INSERT INTO file_fp VALUES (?, 'a.py', ?, ?, ?)", (20 + o, fp, mtime, fsha))
    con.execute("INSERT INTO test_execution_file_fp VALUES (?, ?)", (10 + o, 20 + o))
    con.execute("INSERT INTO test_execution_file_fp VALUES (?, ?)", (11 + o, 20 + o))
    con.execute("INSERT INTO metadata VALUES ('survey', ?)", (survey,))
    con.execute("PRAGMA user_version = %d" % user_version)
    con.commit()
    con.close()


class DbCase(unittest.TestCase):
    """A test case with testmon-like databases made in a temporary directory (make_db), dumped
    as the oracle dumps them."""

    def setUp(self):
        self.d = tempfile.mkdtemp()
        self.n = 0

    def tearDown(self):
        shutil.rmtree(self.d)

    def db(self, **kw):
        self.n += 1
        p = os.path.join(self.d, "db%d" % self.n)
        make_db(p, **kw)
        return oracle.dump_db(p)


class Dumps(DbCase):
    def test_ids_durations_mtimes_survey_ignored(self):
        a = self.db()
        b = self.db(ids_offset=100, duration=9.9, mtime=5.0, survey="other")
        self.assertEqual(oracle.compare_dumps(a, b), [])
        self.assertEqual(a["integrity"], "ok")

    def test_fsha_of_the_same_fingerprint_ignored(self):
        # testmon reuses the fingerprint row of (filename, method_checksums) whatever its fsha
        self.assertEqual(oracle.compare_dumps(self.db(fsha="old"), self.db(fsha="new")), [])

    def test_fingerprints_differing_only_in_fsha_are_one(self):
        # 2.1+: one file_fp row per fsha; a test may point to either: the same fingerprint
        p = os.path.join(self.d, "dup")
        make_db(p, fsha="old")
        con = sqlite3.connect(p)
        con.execute("INSERT INTO file_fp VALUES (21, 'a.py', x'0102', 1.0, 'new')")
        con.execute("UPDATE test_execution_file_fp SET fingerprint_id = 21 WHERE test_execution_id = 11")
        con.commit()
        con.close()
        self.assertEqual(oracle.compare_dumps(oracle.dump_db(p), self.db(fsha="new")), [])

    def test_failure_flag_differs(self):
        self.assertNotEqual(oracle.compare_dumps(self.db(), self.db(failed=1)), [])

    def test_fingerprint_differs(self):
        self.assertNotEqual(oracle.compare_dumps(self.db(), self.db(fp=b"\x01\x03")), [])

    def test_environment_differs(self):
        self.assertNotEqual(oracle.compare_dumps(self.db(), self.db(packages="a 2.0")), [])

    def test_test_recorded_differs(self):
        self.assertNotEqual(oracle.compare_dumps(self.db(), self.db(extra_test=True)), [])

    def test_data_version_differs(self):
        self.assertNotEqual(oracle.compare_dumps(self.db(), self.db(user_version=12)), [])

    def test_fk_resolved_not_compared_by_id(self):
        # same ids, but test_2's fingerprint link points at a different file row
        a = self.db()
        p = os.path.join(self.d, "swap")
        make_db(p)
        con = sqlite3.connect(p)
        con.execute("INSERT INTO file_fp VALUES (21, 'b.py', x'0102', 1.0, 'sha')")
        con.execute("UPDATE test_execution_file_fp SET fingerprint_id = 21 "
                    "WHERE test_execution_id = 11")
        con.commit()
        con.close()
        self.assertNotEqual(oracle.compare_dumps(a, oracle.dump_db(p)), [])

    def test_missing_db(self):
        a = self.db()
        b = oracle.dump_db(os.path.join(self.d, "absent"))
        self.assertNotEqual(oracle.compare_dumps(a, b), [])

    def test_corrupt_db(self):
        a = self.db()
        p = os.path.join(self.d, "corrupt")
        with open(p, "wb") as f:
            f.write(b"SQLite format 3\x00" + b"\xff" * 5000)
        b = oracle.dump_db(p)
        self.assertNotEqual(oracle.compare_dumps(a, b), [])

    def test_wal_content_is_read(self):
        p = os.path.join(self.d, "wal")
        make_db(p)
        con = sqlite3.connect(p)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA wal_autocheckpoint=0")
        con.execute("UPDATE test_execution SET failed = 1 WHERE test_name = 'test_a.py::test_2'")
        con.commit()
        # connection left open: the change lives only in the -wal file
        try:
            b = oracle.dump_db(p)
        finally:
            con.close()
        self.assertEqual(oracle.compare_dumps(self.db(failed=1), b), [])


class Deselection(unittest.TestCase):
    """relax_deselected: what a step that deselects tests may leave out of the xdist db."""

    def setUp(self):
        self.d = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.d)

    def dump(self, name, extra_test, extra_fp=False):
        p = os.path.join(self.d, name)
        make_db(p, extra_test=extra_test)
        if extra_fp:  # the extra test's own fingerprint, used by nobody else
            con = sqlite3.connect(p)
            con.execute("INSERT INTO file_fp VALUES (30, 'test_a.py', x'09', 1.0, 'sha3')")
            con.execute("INSERT INTO test_execution_file_fp VALUES (12, 30)")
            con.commit()
            con.close()
        return oracle.dump_db(p)

    def test_a_test_not_run_may_be_missing_with_its_rows(self):
        serial, xdist = self.dump("s", True, True), self.dump("x", False)
        self.assertTrue(oracle.compare_dumps(serial, xdist))
        s2, x2, dropped = oracle.relax_deselected(serial, xdist, executed={"test_a.py::test_1"})
        self.assertEqual(dropped, ["test_a.py::test_3"])
        self.assertEqual(oracle.compare_dumps(s2, x2), [])

    def test_a_test_that_ran_must_be_recorded(self):
        serial, xdist = self.dump("s", True, True), self.dump("x", False)
        s2, x2, dropped = oracle.relax_deselected(serial, xdist, executed={"test_a.py::test_3"})
        self.assertEqual(dropped, [])
        self.assertTrue(oracle.compare_dumps(s2, x2))

    def test_extra_rows_in_xdist_still_differ(self):
        serial, xdist = self.dump("s", False), self.dump("x", True, True)
        s2, x2, dropped = oracle.relax_deselected(serial, xdist, executed=set())
        self.assertEqual(dropped, [])
        self.assertTrue(oracle.compare_dumps(s2, x2))

    def test_shared_fingerprint_is_kept(self):
        # the dropped test shares a.py's fingerprint with the kept tests: it must stay
        serial, xdist = self.dump("s", True), self.dump("x", False)
        con = sqlite3.connect(os.path.join(self.d, "s"))
        con.execute("INSERT INTO test_execution_file_fp VALUES (12, 20)")
        con.commit()
        con.close()
        serial = oracle.dump_db(os.path.join(self.d, "s"))
        s2, x2, dropped = oracle.relax_deselected(serial, xdist, executed=set())
        self.assertEqual(dropped, ["test_a.py::test_3"])
        self.assertEqual(oracle.compare_dumps(s2, x2), [])
        self.assertEqual(len(s2["tables"]["file_fp"]), 1)

    def test_other_differences_survive(self):
        serial = self.dump("s", True, True)
        p = os.path.join(self.d, "x")
        make_db(p, failed=1)
        xdist = oracle.dump_db(p)
        s2, x2, _ = oracle.relax_deselected(serial, xdist, executed=set())
        self.assertTrue(any("test_execution" in line for line in oracle.compare_dumps(s2, x2)))


class Verdict(unittest.TestCase):
    def test_all_pass(self):
        self.assertEqual(oracle.cell_verdict([("a", []), ("b", [])], {})[0], "pass")

    def test_unexpected_failure(self):
        self.assertEqual(oracle.cell_verdict([("a", ["selection differs"])], {})[0], "FAIL")

    def test_expected_reproduced(self):
        v = oracle.cell_verdict([("a", ["error: x"]), ("b", [])], {"a": ["error: x"]})[0]
        self.assertEqual(v, "bug reproduced")

    def test_expected_not_reproduced(self):
        self.assertEqual(oracle.cell_verdict([("a", [])], {"a": ["error: x"]})[0], "FAIL")

    def test_expected_different_signature(self):
        v = oracle.cell_verdict([("a", ["error: x", "db differs"])], {"a": ["error: x"]})[0]
        self.assertEqual(v, "FAIL")

    def test_optional_tags(self):
        exp = {"a": ["err:x", "?db differs"]}
        self.assertEqual(oracle.cell_verdict([("a", ["err:x"])], exp)[0], "bug reproduced")
        self.assertEqual(oracle.cell_verdict([("a", ["err:x", "db differs"])], exp)[0],
                         "bug reproduced")
        self.assertEqual(oracle.cell_verdict([("a", ["db differs"])], exp)[0], "FAIL")
        self.assertEqual(oracle.cell_verdict([("a", ["err:x", "exit differs"])], exp)[0], "FAIL")
        self.assertEqual(oracle.cell_verdict([("a", [])], {"a": ["?x"]})[0], "FAIL")

    def test_racy(self):
        exp = {"a": ["err:x", "~racy"]}
        self.assertEqual(oracle.cell_verdict([("a", [])], exp)[0], "pass")
        self.assertEqual(oracle.cell_verdict([("a", ["err:x"])], exp)[0], "bug reproduced")
        self.assertEqual(oracle.cell_verdict([("a", ["err:y"])], exp)[0], "FAIL")
        self.assertEqual(oracle.cell_verdict([("a", ["err:x", "err:y"])], exp)[0], "FAIL")

    def test_oracle_problem_fails(self):
        # a negative control asserts that the bug shows, not which face it shows
        exp = {"a": ["err:x", "readonly"]}
        self.assertEqual(oracle.cell_verdict([("a", ["err:y"])], exp)[0], "FAIL")
        self.assertEqual(oracle.cell_verdict([("a", ["err:y"])], exp, any_face=True)[0],
                         "bug reproduced")
        self.assertEqual(oracle.cell_verdict([("a", [])], exp, any_face=True)[0], "FAIL")
        self.assertEqual(oracle.cell_verdict([("a", []), ("b", ["err:y"])], exp,
                                             any_face=True)[0], "FAIL")
        self.assertEqual(oracle.cell_verdict([("a", [])], {}, ["a: oracle broken"])[0], "FAIL")

    def test_expectation_for_step_not_run(self):
        self.assertEqual(oracle.cell_verdict([("a", [])], {"zz": ["x"]})[0], "FAIL")


# The negative control's rule (oracle.cell_verdict with any_face and races): every pinned step
# must show the bug, any face; any other step may show exactly the face of a documented upstream
# race of the release, reported and not counted; anything else fails.
MISMATCH = ["db differs", "err:collect-mismatch", "exit differs", "selection differs"]
RACES = {"late-worker-selection": ["err:collect-mismatch", "?db differs", "?exit differs",
                                   "?selection differs"]}
PINNED = {"dep_remove": ["err:internalerror", "err:readonly", "exit differs"]}
READONLY = ["err:internalerror", "err:readonly", "exit differs"]


def control(step_tags, expected=PINNED, races=RACES, any_face=True):
    return oracle.cell_verdict(step_tags, expected, any_face=any_face, races=races)


class NegativeControl(unittest.TestCase):
    def test_pinned_step_any_face(self):
        v, problems, tolerated = control([("fresh", []), ("dep_remove", ["err:traceback"])])
        self.assertEqual((v, problems, tolerated), ("bug reproduced", [], []))

    def test_pinned_step_must_fail(self):
        v, problems, _ = control([("fresh", []), ("dep_remove", [])])
        self.assertEqual(v, "FAIL")
        self.assertIn("did not reproduce", problems[0])

    def test_pinned_step_showing_a_race_still_shows_the_bug(self):
        # any face: the control asserts that upstream is broken there, not how
        self.assertEqual(control([("dep_remove", MISMATCH)])[0], "bug reproduced")

    def test_race_elsewhere_is_tolerated_and_reported(self):
        v, problems, tolerated = control([("fresh", MISMATCH), ("dep_remove", READONLY)])
        self.assertEqual((v, problems), ("bug reproduced", []))
        self.assertEqual(tolerated, [("fresh", "late-worker-selection", MISMATCH)])

    def test_race_face_with_optional_symptoms_missing(self):
        # at a step where the serial run exits 1 too, only the mismatch and the selection differ
        tags = ["err:collect-mismatch", "selection differs"]
        v, _, tolerated = control([("test_fail", tags), ("dep_remove", READONLY)])
        self.assertEqual(v, "bug reproduced")
        self.assertEqual(tolerated, [("test_fail", "late-worker-selection", tags)])

    def test_tolerated_race_is_not_the_bug(self):
        # a cell whose only failure is a tolerated race has not reproduced anything
        # (run.py --expect-bug then fails it)
        v, problems, tolerated = control([("fresh", MISMATCH)], expected={})
        self.assertEqual((v, problems), ("pass", []))
        self.assertEqual(len(tolerated), 1)

    def test_other_failure_elsewhere_fails(self):
        v, problems, tolerated = control([("fresh", READONLY), ("dep_remove", READONLY)])
        self.assertEqual(v, "FAIL")
        self.assertEqual(problems, ["fresh: unexpected failure %s" % READONLY])
        self.assertEqual(tolerated, [])

    def test_race_face_with_something_else_fails(self):
        # the mark of the race beside a readonly crash is not the race
        tags = sorted(MISMATCH + ["err:readonly"])
        self.assertEqual(control([("fresh", tags), ("dep_remove", READONLY)])[0], "FAIL")

    def test_race_face_without_its_mark_fails(self):
        # the symptoms that may follow the mismatch, without it, are some other failure
        tags = ["db differs", "exit differs", "selection differs"]
        self.assertEqual(control([("fresh", tags), ("dep_remove", READONLY)])[0], "FAIL")

    def test_release_without_that_race_fails(self):
        self.assertEqual(control([("fresh", MISMATCH), ("dep_remove", READONLY)],
                                 races={})[0], "FAIL")

    def test_with_the_shim_races_are_not_consulted(self):
        # the shim ends these races: with it, every step agrees as pinned
        v, _, tolerated = control([("fresh", MISMATCH)], expected={}, any_face=False)
        self.assertEqual((v, tolerated), ("FAIL", []))

    def test_the_ci_failure_of_issue_19(self):
        # 2.1.4 on 3.8, make e2e-off, 2026-12-06: the race at fresh, the bug where pinned
        pins = run.load_pins(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                          "pins.json"))
        exp = run.expected_for(pins, "2.1.4", "3.8", "off")
        exp = {s: t for s, t in exp.items() if s in ("fresh", "dep_downgrade", "dep_remove")}
        observed = [("fresh", MISMATCH), ("rerun", []), ("dep_downgrade", READONLY),
                    ("dep_remove", READONLY)]
        v, problems, tolerated = oracle.cell_verdict(observed, exp, any_face=True,
                                                     races=run.races_for(pins, "2.1.4"))
        self.assertEqual((v, problems), ("bug reproduced", []))
        self.assertEqual(tolerated, [("fresh", "late-worker-selection", MISMATCH)])
        # 2.0.15 declares no such race (its sync crashes first): the same observation fails it
        self.assertEqual(run.races_for(pins, "2.0.15"), {})
        self.assertEqual(oracle.cell_verdict(observed, exp, any_face=True,
                                             races=run.races_for(pins, "2.0.15"))[0], "FAIL")

    def test_race_shown(self):
        self.assertEqual(oracle.race_shown(MISMATCH, RACES), "late-worker-selection")
        self.assertIsNone(oracle.race_shown([], RACES))
        self.assertIsNone(oracle.race_shown(READONLY, RACES))


class Pins(unittest.TestCase):
    def test_pins_are_consistent(self):
        pins = run.load_pins(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                          "pins.json"))
        for rel, spec in pins["releases"].items():
            self.assertIn(spec["profile"], pins["profiles"], rel)
            self.assertIn("pytest-testmon==%s" % rel, spec["packages"], rel)
            for v in spec["pythons"]:
                self.assertIn(v, spec["partner"], rel)
            for mode, exp in spec.get("expected", {}).items():
                self.assertIn(mode, ("on", "off"), rel)
                for key in exp:
                    if key.startswith("_"):
                        continue
                    step, _, py = key.partition("@")
                    self.assertIn(step, list(scenario.STEP_NAMES) + ["*"], "%s: %s" % (rel, key))
                    if py:
                        self.assertIn(py, spec["pythons"], "%s: %s" % (rel, key))

    def test_upstream_races_are_well_formed(self):
        pins = run.load_pins(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                          "pins.json"))
        tags = {"exit differs", "selection differs", "outcome differs", "db differs", "timeout",
                "integrity_check failed"} | {"err:" + k for k in pins["error_patterns"]}
        for name, race in pins["upstream_races"].items():
            self.assertTrue(race["note"], name)
            self.assertTrue(race["face"], name)
            for rel in race["releases"]:
                self.assertIn(rel, pins["releases"], name)
            for t in race["face"]:  # a face is what a failing step shows: no "~racy"
                self.assertIn(t.lstrip("?"), tags, "%s: %s" % (name, t))
        # the races the negative control knows of (issue 19)
        self.assertEqual(sorted(run.races_for(pins, "2.1.3")), ["late-worker-selection"])
        self.assertEqual(sorted(run.races_for(pins, "2.1.0")), ["late-worker-selection"])
        self.assertEqual(sorted(run.races_for(pins, "1.3.7")), ["read-write-workers"])
        self.assertEqual(run.races_for(pins, "2.0.15"), {})

    def test_expected_for_prefers_interpreter_specific(self):
        pins = {"releases": {"r": {"expected": {"off": {
            "a": ["x"], "a@3.8": ["y"], "b@3.11": ["z"], "_note": "n"}}}}}
        self.assertEqual(run.expected_for(pins, "r", "3.8", "off"), {"a": ["y"]})
        self.assertEqual(run.expected_for(pins, "r", "3.11", "off"), {"a": ["x"], "b": ["z"]})


if __name__ == "__main__":
    unittest.main()
