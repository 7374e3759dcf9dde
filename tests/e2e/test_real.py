"""Self-test of the real-project replay's pure logic (tests/e2e/real.py) and its data file.

Run with `make e2e-selftest` (no venvs, no network).
"""
import io
import json
import os
import shutil
import sys
import tarfile
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import oracle  # noqa: E402
import real  # noqa: E402
from test_oracle import PATTERNS, DbCase, mk  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def make_sdist(path, members):
    """A .tar.gz with the given {name: bytes or None (a directory)}."""
    with tarfile.open(path, "w:gz") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                t.addfile(info)
            else:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))


class Sdist(unittest.TestCase):
    def setUp(self):
        self.d = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.d)

    def test_top_directory_stripped_directories_skipped(self):
        p = os.path.join(self.d, "p-1.0.tar.gz")
        make_sdist(p, {"p-1.0/": None, "p-1.0/p/__init__.py": b"x = 1\n",
                       "p-1.0/tests/test_p.py": b"def test(): pass\n"})
        self.assertEqual(real.read_sdist(p), {"p/__init__.py": b"x = 1\n",
                                              "tests/test_p.py": b"def test(): pass\n"})

    def test_unsafe_members_refused(self):
        for bad in ("p-1.0/../evil.py", "/etc/evil", "top-level-file"):
            p = os.path.join(self.d, "bad.tar.gz")
            make_sdist(p, {bad: b"x"})
            with self.assertRaises(ValueError, msg=bad):
                real.read_sdist(p)

    def test_cached_sdist_is_found_without_pip(self):
        d = os.path.join(self.d, "p", "1.0")
        os.makedirs(d)
        make_sdist(os.path.join(d, "p-1.0.tar.gz"), {"p-1.0/a.py": b""})
        self.assertEqual(real.fetch_sdist(self.d, "p", "1.0"), os.path.join(d, "p-1.0.tar.gz"))

    def test_two_cached_sdists_are_an_error(self):
        d = os.path.join(self.d, "p", "1.0")
        os.makedirs(d)
        for n in ("p-1.0.tar.gz", "P-1.0.tar.gz"):
            make_sdist(os.path.join(d, n), {"p-1.0/a.py": b""})
        with self.assertRaises(RuntimeError):
            real.fetch_sdist(self.d, "p", "1.0")


class Overlay(unittest.TestCase):
    def setUp(self):
        self.d = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.d)

    def test_plan(self):
        cur = {"a.py": b"1", "b.py": b"2", "gone.py": b"3", ".testmondata": b"db",
               ".pytest_cache/v/x": b"c", "pkg/__pycache__/m.pyc": b"c"}
        new = {"a.py": b"1", "b.py": b"changed", "new/c.py": b"4"}
        self.assertEqual(real.plan_overlay(cur, new), (["b.py", "new/c.py"], ["gone.py"]))

    def test_kept_names_never_written(self):
        self.assertEqual(real.plan_overlay({}, {".testmondata": b"x", "a.py": b""}),
                         (["a.py"], []))

    def test_apply_makes_copies_identical_with_fixed_mtimes(self):
        copies = [os.path.join(self.d, c) for c in ("one", "two")]
        for c in copies:
            os.makedirs(os.path.join(c, "old"))
            with open(os.path.join(c, "old", "x.py"), "w") as f:
                f.write("old")
            with open(os.path.join(c, ".testmondata"), "w") as f:
                f.write("db")
        n = real.apply_release(copies, {"a.py": b"A", "pkg/b.py": b"B"}, 1700000010)
        self.assertEqual(n, 3)
        for c in copies:
            self.assertEqual(real.tree_files(c), {"a.py": b"A", "pkg/b.py": b"B"})
            self.assertEqual(os.stat(os.path.join(c, "pkg", "b.py")).st_mtime, 1700000010)
            self.assertTrue(os.path.exists(os.path.join(c, ".testmondata")))
        # an unchanged file keeps its mtime; a changed one gets the new step's
        n = real.apply_release(copies, {"a.py": b"A", "pkg/b.py": b"B2"}, 1700000020)
        self.assertEqual(n, 1)
        self.assertEqual(os.stat(os.path.join(copies[1], "a.py")).st_mtime, 1700000010)
        self.assertEqual(os.stat(os.path.join(copies[1], "pkg", "b.py")).st_mtime, 1700000020)


class Dumps(DbCase):
    def test_split(self):
        state, fps = oracle.split_dump(self.db())
        self.assertEqual(sorted(state["tables"]), ["environment", "test_execution"])
        self.assertEqual(sorted(fps["tables"]), ["file_fp", "test_execution_file_fp"])

    def test_fingerprint_difference_is_not_a_state_difference(self):
        a, b = self.db(), self.db(fp=b"\x09")
        self.assertEqual(oracle.compare_dumps(oracle.split_dump(a)[0], oracle.split_dump(b)[0]),
                         [])
        differ, total = oracle.count_row_diffs(oracle.split_dump(a)[1], oracle.split_dump(b)[1])
        # the file_fp row and both links to it, on each side
        self.assertEqual((differ, total), (6, 6))

    def test_failure_flag_is_a_state_difference(self):
        a, b = self.db(), self.db(failed=1)
        self.assertNotEqual(
            oracle.compare_dumps(oracle.split_dump(a)[0], oracle.split_dump(b)[0]), [])

    def test_count_row_diffs_multiset_and_missing_table(self):
        a = {"tables": {"t": ["x", "x", "y"]}}
        b = {"tables": {"t": ["x", "y"], "u": ["z"]}}
        self.assertEqual(oracle.count_row_diffs(a, b), (2, 6))
        self.assertEqual(oracle.count_row_diffs(a, a), (0, 6))


class StepRecord(DbCase):
    RES = {"t.py::a": "passed", "t.py::b": "failed"}

    def rec(self, xrun, xdb):
        return real.step_record("1.0", {"serial": mk(1, self.RES), "xdist": xrun},
                                {"serial": self.db(), "xdist": xdb}, PATTERNS)

    def test_agreement(self):
        r = self.rec(mk(1, self.RES), self.db(ids_offset=7, duration=3.0))
        self.assertEqual(r["copies"]["xdist"]["tags"], [])
        self.assertEqual(r["copies"]["xdist"]["fingerprint_rows"], [0, 6])
        self.assertFalse(real.needs_noise(r["copies"]["xdist"]))
        self.assertEqual(r["oracle_problems"], [])

    def test_fingerprints_only_differ(self):
        r = self.rec(mk(1, self.RES), self.db(fp=b"\x07"))
        self.assertEqual(r["copies"]["xdist"]["tags"], [])
        self.assertEqual(r["copies"]["xdist"]["fingerprint_rows"][0], 6)
        self.assertTrue(real.needs_noise(r["copies"]["xdist"]))

    def test_state_differs(self):
        r = self.rec(mk(1, self.RES), self.db(packages="a 2.0"))
        self.assertEqual(r["copies"]["xdist"]["tags"], ["db differs"])
        self.assertTrue(r["copies"]["xdist"]["db_diffs"])

    def test_selection_and_exit_differ(self):
        r = self.rec(mk(0, {"t.py::a": "passed"}), self.db())
        self.assertEqual(r["copies"]["xdist"]["tags"], ["exit differs", "selection differs"])
        self.assertEqual(r["copies"]["xdist"]["selection_diff"],
                         ["  only serial: t.py::b (failed)"])
        self.assertTrue(real.needs_noise(r["copies"]["xdist"]))

    def test_broken_serial_run_is_an_oracle_problem(self):
        r = real.step_record("1.0", {"serial": mk(3, self.RES, "INTERNALERROR"),
                                     "xdist": mk(3, self.RES)},
                             {"serial": self.db(), "xdist": self.db()}, PATTERNS)
        self.assertTrue(r["oracle_problems"])


class Summaries(unittest.TestCase):
    def step(self, name, x, n=None):
        copies = {"xdist": {"tags": [], "fingerprint_rows": list(x)}}
        if n is not None:
            copies["noise"] = {"tags": [], "fingerprint_rows": list(n)}
        return {"name": name, "copies": copies}

    def test_fingerprints_and_floor(self):
        steps = [self.step("1", (0, 10)), self.step("2", (4, 20), (0, 20)),
                 self.step("3", (2, 30), (1, 30))]
        self.assertEqual(real.summarise_fingerprints(steps, "xdist"),
                         {"rows": 6, "total": 60, "steps": 2, "measured": 3})
        self.assertEqual(real.summarise_fingerprints(steps, "noise"),
                         {"rows": 1, "total": 50, "steps": 1, "measured": 2})
        cell = {"project": "p", "total_steps": 3, "noise_steps": {"3": ["selection differs"]},
                "fingerprints": {"xdist": real.summarise_fingerprints(steps, "xdist"),
                                 "noise": real.summarise_fingerprints(steps, "noise")}}
        self.assertEqual(real.noise_floor([cell, cell])["p"],
                         {"xdist_rows": 12, "noise_rows": 2, "rows": 120,
                          "noise_disagreeing_steps": 2, "steps": 6})

    def test_off_verdict(self):
        self.assertEqual(real.off_verdict([("1", []), ("2", [])], []), "agrees")
        self.assertEqual(real.off_verdict([("1", ["err:readonly"])], []), "upstream differs")
        self.assertEqual(real.off_verdict([("1", [])], ["1: oracle broken"]), "FAIL")

    def test_expand_expected(self):
        exp = {"rerun": ["exit differs"], "*": ["err:x", "~racy"], "2.0": ["db differs"]}
        self.assertEqual(real.expand_expected(exp, ["1.0", "2.0"]),
                         {"rerun": ["exit differs"], "1.0": ["err:x", "~racy"],
                          "2.0": ["db differs"]})
        self.assertEqual(real.expand_expected({"rerun": ["a"]}, ["1.0"]), {"rerun": ["a"]})

    def test_project_selection(self):
        data = {"projects": {"a": {}, "b": {"held_out": True}, "c": {}}}
        self.assertEqual(real.select_projects(data, []), ["a", "c"])
        self.assertEqual(real.select_projects(data, ["all"]), ["a", "b", "c"])
        self.assertEqual(real.select_projects(data, ["b"]), ["b"])


class DataFile(unittest.TestCase):
    def test_real_json_is_consistent(self):
        with open(os.path.join(HERE, "real.json")) as f:
            data = json.load(f)
        with open(os.path.join(HERE, "pins.json")) as f:
            pins = json.load(f)
        main = [p for p, s in data["projects"].items() if not s.get("held_out")]
        self.assertGreaterEqual(len(main), 3)
        for name, spec in data["projects"].items():
            rel = spec["releases"]
            self.assertGreaterEqual(len(rel), 5, name)
            self.assertEqual(len(set(rel)), len(rel), name)
            self.assertNotIn(real.RERUN, rel, name)
            # midway: neither the first release (the fresh database) nor the last
            self.assertIn(spec["dep_change_at"], rel[1:-1], name)
            self.assertTrue(spec.get("why"), name)
            for p in spec.get("pythonpath", []):
                self.assertFalse(os.path.isabs(p) or ".." in p.split("/"), name)
        for mode, per_release in data["expected"].items():
            self.assertIn(mode, ("on", "off"))
            for release, steps in per_release.items():
                self.assertIn(release, pins["releases"])
                for step in steps:
                    self.assertTrue(step in (real.RERUN, real.RELEASE_STEPS) or any(
                        step in p["releases"] for p in data["projects"].values()), step)
        self.assertIn(data["python"], {py for r in pins["releases"].values()
                                       for py in r["pythons"]})


if __name__ == "__main__":
    unittest.main()
