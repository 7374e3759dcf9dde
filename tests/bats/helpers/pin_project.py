"""A project for tests/bats/pinned.bats: six modules of a package, tests in classes and
functions that take time and import lazily, one test that kills its xdist worker once (xdist
replaces it: a late worker), one that kills the controller once, one that holds the run until a
second run on the same datafile has started.  Each of those acts only where its variable is set,
so a serial oracle runs them as plain tests.

    pin_project.py make DIR     write the project
    pin_project.py edit DIR     change two modules (a few of the tests are affected)
    pin_project.py ran FILE     the test ids a `pytest -rA` output in FILE ran, sorted, one a line
"""
import os
import re
import sys
import textwrap

MODULES = 6


def module(i: int, edit: int) -> str:
    return textwrap.dedent('''\
        """Module %d of the sample package."""


        def base(x):
            return x * %d + %d


        def twice(x):
            return 2 * base(x)


        class Shape:
            def __init__(self, n):
                self.n = n

            def area(self):
                return base(self.n) ** 2
        ''') % (i, i + 1, edit)


def tests(i: int) -> str:
    extra = ""
    if i == 0:
        extra = textwrap.dedent('''\


            def test_worker_dies_once():
                """Kills its xdist worker the first time: xdist starts a replacement."""
                mark = os.environ.get("PIN_KILL_WORKER")
                if mark and os.environ.get("PYTEST_XDIST_WORKER") and not os.path.exists(mark):
                    open(mark, "w").close()
                    os.kill(os.getpid(), signal.SIGKILL)
                from pkg import m1
                assert m1.twice(1) == 2 * m1.base(1)
            ''')
    if i == 1:
        extra = textwrap.dedent('''\


            def test_controller_dies_once():
                """Kills the controller (this worker's parent) the first time."""
                mark = os.environ.get("PIN_KILL_CONTROLLER")
                if mark and os.environ.get("PYTEST_XDIST_WORKER") and not os.path.exists(mark):
                    open(mark, "w").close()
                    time.sleep(0.5)  # other tests are running meanwhile
                    os.kill(os.getppid(), signal.SIGKILL)
                    time.sleep(5)  # killed with its controller, or gone well within workers_gone's bound
                assert m1.base(0) == 0 * 2 + m1.base(0) - m1.base(0) + m1.base(0)


            def test_holds_until_second_run():
                """Holds the run until a second run on the same datafile has started."""
                mark = os.environ.get("PIN_WAIT_FOR")
                for _ in range(600):
                    if not mark or os.path.exists(mark):
                        break
                    time.sleep(0.1)
                assert m1.twice(2) == 2 * m1.base(2)
            ''')
    return textwrap.dedent('''\
        import os
        import signal
        import time

        import pytest

        from pkg import m%(i)d


        class TestShape:
            @pytest.mark.parametrize("n", [1, 2, 3])
            def test_area(self, n):
                time.sleep(0.15)
                assert m%(i)d.Shape(n).area() == m%(i)d.base(n) ** 2

            def test_lazy(self):
                from pkg import m%(j)d  # imported only here
                time.sleep(0.15)
                assert m%(j)d.twice(3) == 2 * m%(j)d.base(3)


        def test_twice():
            time.sleep(0.15)
            assert m%(i)d.twice(4) == 2 * m%(i)d.base(4)
        ''') % {"i": i, "j": (i + 1) % MODULES} + extra


CONFTEST = '''import os


def pytest_sessionstart(session):
    """A second run says it has started (tests/bats/pinned.bats)."""
    mark = os.environ.get("PIN_STARTED")
    if mark and not hasattr(session.config, "workerinput"):
        open(mark, "w").close()
'''


def make(root: str) -> None:
    os.makedirs(os.path.join(root, "pkg"))
    os.makedirs(os.path.join(root, "tests"))
    open(os.path.join(root, "pkg", "__init__.py"), "w").close()
    for i in range(MODULES):
        with open(os.path.join(root, "pkg", "m%d.py" % i), "w") as f:
            f.write(module(i, 0))
        with open(os.path.join(root, "tests", "test_m%d.py" % i), "w") as f:
            f.write(tests(i))
    with open(os.path.join(root, "conftest.py"), "w") as f:
        f.write(CONFTEST)
    with open(os.path.join(root, "pytest.ini"), "w") as f:
        f.write("[pytest]\ntestpaths = tests\n")


def edit(root: str) -> None:
    for i in (1, 4):
        with open(os.path.join(root, "pkg", "m%d.py" % i), "w") as f:
            f.write(module(i, 7))


def ran(path: str) -> None:
    with open(path) as f:
        ids = {m.group(2) for m in re.finditer(r"^(PASSED|FAILED|ERROR) (\S+)", f.read(), re.M)}
    print("\n".join(sorted(ids)))


if __name__ == "__main__":
    {"make": make, "edit": edit, "ran": ran}[sys.argv[1]](sys.argv[2])
