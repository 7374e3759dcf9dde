"""The sample project and the sequence of steps of the e2e suite.

A step mutates the world identically for both copies (project files in both copies,
fake installed distributions in the cell's shared fake-site dir, database markers in
both databases), then both copies are run.  Stdlib only, Python 3.8+.
"""
import os
import re
import shutil
import sqlite3

# ------------------------------------------------------------------ project
PYTEST_INI = "[pytest]\n"

COMMON = '''\
def check_num(x):
    if not isinstance(x, (int, float)):
        raise TypeError(x)
    return x


def norm(s):
    return " ".join(s.split())
'''

CALC = '''\
from common import check_num


def add(a, b):
    return check_num(a) + check_num(b)


def mul(a, b):
    return check_num(a) * check_num(b)
'''

TEXTUTIL = '''\
from common import norm


def shout(s):
    return norm(s).upper() + "!"


def words(s):
    return norm(s).split(" ") if norm(s) else []
'''

TEST_CALC = '''\
from calc import add, mul


def test_add():
    assert add(1, 2) == 3


def test_add_neg():
    assert add(-1, -2) == -3


def test_mul():
    assert mul(3, 4) == 12
'''

TEST_TEXT = '''\
from textutil import shout, words


def test_shout():
    assert shout("hi  there") == "HI THERE!"


def test_words():
    assert words(" a b  c ") == ["a", "b", "c"]


def test_words_empty():
    assert words("   ") == []
'''

TEST_MISC = '''\
import calc
import textutil


def test_misc_calc():
    assert calc.mul(2, calc.add(1, 1)) == 4


def test_misc_text():
    assert textutil.shout("x") == "X!"
'''

TEST_EXTRA = '''\
from calc import add


def test_extra():
    assert add(10, 5) == 15
'''

# Tests that take time, added by the step timed_add: testmon orders the selected tests by the
# durations it recorded (per test, per class, per module: sort_items_by_duration), and xdist
# requires every worker to collect the same tests in the same order.  The sleeps are chosen so
# that the steps below reorder the two modules when a worker orders from the database as it is
# after gw0's test sync instead of before it (testmon 1.4-2.1.0 sync in gw0): test_timed.py
# averages 50 ms over 4 tests against test_timed2.py's 27 ms, and deleting its slowest test
# drops it to 17 ms; renaming, adding and moving tests of test_timed2.py then move its average
# (a placeholder counts as 0 s) or its class's (keyed by the class name alone) across.
TIMED_HELPER = '''\
def scale(x):
    return x * 2
'''

TEST_TIMED = '''\
import time

from timed_helper import scale


class TestTimed:
    def test_slow(self):
        time.sleep(0.15)
        assert scale(1) == 2

    def test_quick(self):
        assert scale(2) == 4

    def test_medium(self):
        time.sleep(0.05)
        assert scale(3) == 6


def test_module_quick():
    assert scale(0) == 0
'''

TEST_TIMED2 = '''\
import time

from timed_helper import scale


class TestOther:
    def test_other_slow(self):
        time.sleep(0.08)
        assert scale(4) == 8

    def test_other_quick(self):
        assert scale(5) == 10


def test_module_other():
    assert scale(6) == 12
'''

INITIAL = {
    "pytest.ini": PYTEST_INI,
    "common.py": COMMON,
    "calc.py": CALC,
    "textutil.py": TEXTUTIL,
    "test_calc.py": TEST_CALC,
    "test_text.py": TEST_TEXT,
    "test_misc.py": TEST_MISC,
}

# Fixed, strictly increasing mtimes so both copies have identical file times.
BASE_MTIME = 1700000000


class World:
    """Applies a change to both project copies and the shared fake-site dir."""

    def __init__(self, copies, fakesite, step_index=0):
        self.copies = copies          # [serial_dir, xdist_dir]
        self.fakesite = fakesite      # on PYTHONPATH of every run of the cell
        self.step_index = step_index

    def _mtime(self):
        return BASE_MTIME + 10 * self.step_index

    def write(self, rel, text):
        for c in self.copies:
            p = os.path.join(c, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write(text)
            os.utime(p, (self._mtime(), self._mtime()))

    def replace(self, rel, old, new):
        with open(os.path.join(self.copies[0], rel)) as f:
            text = f.read()
        if old not in text:
            raise AssertionError("scenario bug: %r not in %s" % (old, rel))
        self.write(rel, text.replace(old, new, 1))

    def delete(self, rel):
        for c in self.copies:
            os.remove(os.path.join(c, rel))

    def move(self, rel, new_rel):
        """Move a file, keeping its contents (a fresh mtime, as a checkout gives it)."""
        with open(os.path.join(self.copies[0], rel)) as f:
            text = f.read()
        self.delete(rel)
        self.write(new_rel, text)

    # Fake installed distributions: a *.dist-info with METADATA in a directory that
    # is on PYTHONPATH (sys.path) of every run, so both pkg_resources.working_set
    # (1.x, 2.0.0-2.0.2) and importlib.metadata.distributions() (2.0.3+) list it.
    def dist_set(self, name, version):
        self.dist_remove(name)
        d = os.path.join(self.fakesite, "%s-%s.dist-info" % (name.replace("-", "_"), version))
        os.makedirs(d)
        with open(os.path.join(d, "METADATA"), "w") as f:
            f.write("Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (name, version))
        with open(os.path.join(d, "RECORD"), "w") as f:
            f.write("")

    def dist_remove(self, name):
        prefix = name.replace("-", "_") + "-"
        for e in os.listdir(self.fakesite):
            if e.startswith(prefix) and e.endswith(".dist-info"):
                shutil.rmtree(os.path.join(self.fakesite, e))

    def set_user_version(self, value):
        """Make both databases look like they were left by an older testmon release."""
        for c in self.copies:
            p = os.path.join(c, ".testmondata")
            con = sqlite3.connect(p)
            try:
                cur = con.execute("PRAGMA user_version").fetchone()[0]
                new = value if value is not None else (cur - 1 if cur > 0 else cur + 1)
                con.execute("PRAGMA user_version = %d" % new)
                con.commit()
            finally:
                con.close()


def init_project(world):
    for rel, text in INITIAL.items():
        world.write(rel, text)


# ------------------------------------------------------------------ steps
class Step:
    def __init__(self, name, doc, apply=None, args=(), n=2, python="self",
                 n_from_tests=False, needs=(), deselects=False):
        self.name = name
        self.doc = doc
        self.apply = apply or (lambda w: None)
        self.args = list(args)
        self.n = n
        self.python = python            # "self" or "partner"
        self.n_from_tests = n_from_tests  # -n = number of test functions + 2
        self.needs = tuple(needs)       # steps whose changes this one builds on (STEPS=...)
        self.deselects = deselects      # -k and the like: oracle.relax_deselected applies


def _fail(w):
    w.replace("textutil.py", 'return norm(s).upper() + "!"', 'return norm(s).lower() + "!"')


def _fix(w):
    w.replace("textutil.py", 'return norm(s).lower() + "!"', 'return norm(s).upper() + "!"')


STEPS = [
    Step("fresh", "fresh database, everything runs", init_project),
    Step("rerun", "unchanged rerun, nothing runs"),
    Step("edit_body", "edit a function body (calc.mul)",
         lambda w: w.replace("calc.py", "return check_num(a) * check_num(b)",
                             "result = check_num(a) * check_num(b)\n    return result")),
    Step("edit_test", "edit a test (test_words)",
         lambda w: w.replace("test_text.py", 'assert words(" a b  c ") == ["a", "b", "c"]',
                             'assert words(" a b  c d") == ["a", "b", "c", "d"]')),
    Step("dep_add_late", "install a dependency whose name sorts late",
         lambda w: w.dist_set("zzz-e2e-late", "1.0")),
    Step("dep_add_early", "install a dependency whose name sorts early",
         lambda w: w.dist_set("aaa-e2e-early", "1.0")),
    Step("dep_upgrade", "upgrade a dependency (zzz-e2e-late 1.0 -> 2.0)",
         lambda w: w.dist_set("zzz-e2e-late", "2.0")),
    Step("dep_downgrade", "downgrade a dependency (zzz-e2e-late 2.0 -> 1.0)",
         lambda w: w.dist_set("zzz-e2e-late", "1.0")),
    Step("dep_remove", "remove a dependency (aaa-e2e-early)",
         lambda w: w.dist_remove("aaa-e2e-early")),
    Step("py_change", "run with the partner interpreter (same testmon release)",
         python="partner"),
    Step("py_back", "back to the cell's own interpreter"),
    Step("test_fail", "a source change makes tests fail", _fail),
    Step("fail_rerun", "unchanged rerun: failing tests run again"),
    Step("fail_fixed", "the failure is fixed", _fix),
    Step("add_test_file", "add a test file",
         lambda w: w.write("test_extra.py", TEST_EXTRA)),
    Step("del_test_file", "delete a test file (test_misc.py)",
         lambda w: w.delete("test_misc.py")),
    Step("env_change", "--testmon-env envB", args=["--testmon-env", "envB"]),
    Step("env_back", "back to the default environment"),
    Step("nocollect", "edit add() and run with --testmon-nocollect",
         lambda w: w.replace("calc.py", "return check_num(a) + check_num(b)",
                             "total = check_num(a) + check_num(b)\n    return total"),
         args=["--testmon-nocollect"]),
    Step("noselect", "--testmon-noselect after the collecting runs",
         args=["--testmon-noselect"]),
    Step("data_version", "database left by an older testmon (PRAGMA user_version changed)",
         lambda w: w.set_user_version(None)),
    Step("many_workers", "edit common.norm so many tests run, with more workers than tests",
         lambda w: w.replace("common.py", 'return " ".join(s.split())',
                             'parts = s.split()\n    return " ".join(parts)'),
         n_from_tests=True),
]


def _timed_add(w):
    w.write("timed_helper.py", TIMED_HELPER)
    w.write("test_timed.py", TEST_TIMED)
    w.write("test_timed2.py", TEST_TIMED2)


def _edit_scale(w):
    """Change timed_helper.scale's body (a new constant term each time), so every timed test
    is selected."""
    with open(os.path.join(w.copies[0], "timed_helper.py")) as f:
        text = f.read()
    m = re.search(r"return x \* 2( \+ 0 \* (\d+))?\n", text)
    if not m:
        raise AssertionError("scenario bug: no known body in timed_helper.py")
    n = int(m.group(2) or 0) + 1
    w.replace("timed_helper.py", m.group(0), "return x * 2 + 0 * %d\n" % n)


def _timed(*changes):
    def apply(w):
        for change in changes:
            change(w)
        _edit_scale(w)
    return apply


_T = ("timed_add",)
STEPS += [
    Step("timed_add", "add modules of tests that take time (a class, module-level tests)",
         _timed_add),
    Step("timed_del_in_class", "delete the slowest test of a class while its others are "
         "selected (gw0's sync changes the recorded averages the workers sort by)",
         _timed(lambda w: w.replace("test_timed.py", "    def test_slow(self):\n"
                                    "        time.sleep(0.15)\n        assert scale(1) == 2\n\n",
                                    "")), needs=_T),
    Step("timed_rename_in_class", "rename the slow test of the other module's class",
         _timed(lambda w: w.replace("test_timed2.py", "def test_other_slow(",
                                    "def test_other_slow_renamed(")), needs=_T),
    Step("timed_add_tests", "add a test to that class and a module-level one",
         _timed(lambda w: w.replace("test_timed2.py", "\n\ndef test_module_other",
                                    "\n\n    def test_other_added(self):\n"
                                    "        assert scale(7) == 14\n\n\ndef test_module_other"),
                lambda w: w.replace("test_timed2.py", "    assert scale(6) == 12\n",
                                    "    assert scale(6) == 12\n\n\ndef test_module_added():\n"
                                    "    assert scale(8) == 16\n")),
         needs=_T),
    Step("timed_rename_module_test", "rename a module-level test while the class is selected",
         _timed(lambda w: w.replace("test_timed.py", "def test_module_quick(",
                                    "def test_module_quick_renamed(")), needs=_T),
    Step("timed_becomes_slow", "a quick test becomes slow",
         _timed(lambda w: w.replace("test_timed.py", "    def test_quick(self):\n",
                                    "    def test_quick(self):\n        time.sleep(0.12)\n")),
         needs=_T),
    Step("timed_move_file", "move a whole test file into a subdirectory",
         _timed(lambda w: w.move("test_timed2.py", "moved/test_timed2.py")), needs=_T),
]

TEST_KNEW = '''\
from calc import add, mul


def test_knew_add():
    assert add(2, 2) == 4


def test_knew_mul():
    assert mul(2, 2) == 4
'''

STEPS += [
    Step("k_edit", "edit add() and mul(), run with -k add (deselection)",
         lambda w: (w.replace("calc.py", "def add(a, b):\n", "def add(a, b):\n    a = a + 0\n"),
                    w.replace("calc.py", "def mul(a, b):\n", "def mul(a, b):\n    a = a * 1\n")),
         args=["-k", "add"], deselects=True),
    Step("k_new_tests", "add a test file, run with -k add: one new test selected, one not",
         lambda w: w.write("test_knew.py", TEST_KNEW), args=["-k", "add"], deselects=True),
    Step("k_all", "run without -k: what -k left out runs now"),
]

STEP_NAMES = [s.name for s in STEPS]


def count_tests(proj):
    n = 0
    for e in os.listdir(proj):
        if e.startswith("test_") and e.endswith(".py"):
            with open(os.path.join(proj, e)) as f:
                n += sum(1 for line in f if line.startswith("def test_"))
    return n
