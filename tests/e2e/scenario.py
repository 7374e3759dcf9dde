"""The sample project and the sequence of steps of the e2e suite.

A step mutates the world identically for both copies (project files in both copies,
fake installed distributions in the cell's shared fake-site dir, database markers in
both databases), then both copies are run.  Stdlib only, Python 3.8+.
"""
import os
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
                 n_from_tests=False):
        self.name = name
        self.doc = doc
        self.apply = apply or (lambda w: None)
        self.args = list(args)
        self.n = n
        self.python = python            # "self" or "partner"
        self.n_from_tests = n_from_tests  # -n = number of test functions + 2


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

STEP_NAMES = [s.name for s in STEPS]


def count_tests(proj):
    n = 0
    for e in os.listdir(proj):
        if e.startswith("test_") and e.endswith(".py"):
            with open(os.path.join(proj, e)) as f:
                n += sum(1 for line in f if line.startswith("def test_"))
    return n
