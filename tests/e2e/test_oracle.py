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


SCHEMA = """
CREATE TABLE environment (id INTEGER PRIMARY KEY ASC, environment_name TEXT,
    system_packages TEXT, python_version TEXT);
CREATE TABLE test_execution (id INTEGER PRIMARY KEY ASC, environment_id INTEGER,
    test_name TEXT, duration FLOAT, failed BIT, forced BIT,
    FOREIGN KEY(environment_id) REFERENCES environment(id));
CREATE TABLE file_fp (id INTEGER PRIMARY KEY, filename TEXT, method_checksums BLOB,
    mtime FLOAT, fsha TEXT);
CREATE TABLE test_execution_file_fp (test_execution_id INTEGER, fingerprint_id INTEGER,
    FOREIGN KEY(test_execution_id) REFERENCES test_execution(id),
    FOREIGN KEY(fingerprint_id) REFERENCES file_fp(id));
CREATE TABLE metadata (dataid TEXT PRIMARY KEY, data TEXT);
"""


def make_db(path, ids_offset=0, failed=0, packages="a 1.0", fp=b"\x01\x02", extra_test=False,
            duration=0.1, mtime=1.0, survey="x", user_version=13):
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
    con.execute("INSERT INTO file_fp VALUES (?, 'a.py', ?, ?, 'sha')", (20 + o, fp, mtime))
    con.execute("INSERT INTO test_execution_file_fp VALUES (?, ?)", (10 + o, 20 + o))
    con.execute("INSERT INTO test_execution_file_fp VALUES (?, ?)", (11 + o, 20 + o))
    con.execute("INSERT INTO metadata VALUES ('survey', ?)", (survey,))
    con.execute("PRAGMA user_version = %d" % user_version)
    con.commit()
    con.close()


class Dumps(unittest.TestCase):
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

    def test_ids_durations_mtimes_survey_ignored(self):
        a = self.db()
        b = self.db(ids_offset=100, duration=9.9, mtime=5.0, survey="other")
        self.assertEqual(oracle.compare_dumps(a, b), [])
        self.assertEqual(a["integrity"], "ok")

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


class Verdict(unittest.TestCase):
    def test_all_pass(self):
        self.assertEqual(oracle.cell_verdict([("a", []), ("b", [])], {})[0], "pass")

    def test_unexpected_failure(self):
        self.assertEqual(oracle.cell_verdict([("a", ["selection differs"])], {})[0], "FAIL")

    def test_expected_reproduced(self):
        v, _ = oracle.cell_verdict([("a", ["error: x"]), ("b", [])], {"a": ["error: x"]})
        self.assertEqual(v, "bug reproduced")

    def test_expected_not_reproduced(self):
        self.assertEqual(oracle.cell_verdict([("a", [])], {"a": ["error: x"]})[0], "FAIL")

    def test_expected_different_signature(self):
        v, _ = oracle.cell_verdict([("a", ["error: x", "db differs"])], {"a": ["error: x"]})
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
        self.assertEqual(oracle.cell_verdict([("a", [])], {}, ["a: oracle broken"])[0], "FAIL")

    def test_expectation_for_step_not_run(self):
        self.assertEqual(oracle.cell_verdict([("a", [])], {"zz": ["x"]})[0], "FAIL")


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
                    self.assertIn(step, scenario.STEP_NAMES, "%s: %s" % (rel, key))
                    if py:
                        self.assertIn(py, spec["pythons"], "%s: %s" % (rel, key))

    def test_expected_for_prefers_interpreter_specific(self):
        pins = {"releases": {"r": {"expected": {"off": {
            "a": ["x"], "a@3.8": ["y"], "b@3.11": ["z"], "_note": "n"}}}}}
        self.assertEqual(run.expected_for(pins, "r", "3.8", "off"), {"a": ["y"]})
        self.assertEqual(run.expected_for(pins, "r", "3.11", "off"), {"a": ["x"], "b": ["z"]})


if __name__ == "__main__":
    unittest.main()
