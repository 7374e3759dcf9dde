"""What `-n 2 --testmon` with the shim buys a user (`make bench`, section `gain`).

On more-itertools, one of the real projects of `make e2e-real`, from its source distributions:
the database is made by a run on release FROM, then release TO is unpacked over the tree (a
real release diff) and the suite is run again, three ways, in rotating order:

- `serial`: `pytest --testmon` (what a testmon user runs without xdist);
- `testmon+xdist`: `pytest -n 2 --testmon` with the shim preloaded;
- `xdist`: `pytest -n 2` without testmon (what an xdist user runs: every test).

and a second rerun after a one-line edit of one function of the project (the edit-and-rerun
loop testmon exists for).  Each arm restores the database made on FROM before it runs, so all
three start from the same state.  From the junit reports: how many tests ran and the sum of
their durations, so the table can say how the figures scale with cores on paper
(T(n) = T(2) - D/2 + D/n, D the tests' own time, the rest fixed start-up).
"""
import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from typing import Any, Dict, List, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
import real  # noqa: E402
from common import clean_env, med  # noqa: E402

PROJECT = "more-itertools"
FROM, TO = "9.1.0", "10.0.0"
# one line in one function, in the module most tests use: testmon selects its tests only
EDIT_FILE = "more_itertools/more.py"
EDIT_FUNC = "def always_reversible("
ARMS = {
    "serial": (["--testmon", "-p", "no:xdist"], True),
    "testmon+xdist": (["--testmon", "-n", "2"], True),
    "xdist": (["-n", "2", "-p", "no:testmon"], False),
}


def log(msg: str) -> None:
    print("bench: gain: " + msg, file=sys.stderr, flush=True)


def run_arm(venv: str, root: str, lib: str, arm: str, junit: str) -> Dict[str, Any]:
    args, shim = ARMS[arm]
    env = clean_env()
    env.pop("PYTHONPATH", None)
    if shim and "-n" in args:
        env["LD_PRELOAD"] = lib
    cmd = [os.path.join(venv, "bin", "python"), "-m", "pytest", "-q", "-p", "no:randomly",
           "--junitxml", junit] + args
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=root, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - t0
    if r.returncode not in (0, 5):
        sys.exit("bench: gain: %s failed (rc %d) in %s:\n%s" % (" ".join(cmd), r.returncode,
                                                               root, r.stdout[-3000:]))
    cases = ET.parse(junit).getroot().iter("testcase")
    times = [float(c.get("time") or 0) for c in cases]
    return {"wall": wall, "tests": len(times), "test_s": sum(times)}


def edit_one_function(root: str) -> None:
    p = os.path.join(root, EDIT_FILE)
    with open(p) as f:
        s = f.read()
    i = s.index(EDIT_FUNC)
    j = s.index('"""', s.index('"""', i) + 3) + 3  # after the docstring
    s = s[:j] + "\n    _bench_edit = 1" + s[j:]
    with open(p, "w") as f:
        f.write(s)


def save(root: str, dst: str) -> None:
    shutil.rmtree(dst, ignore_errors=True)
    os.makedirs(dst)
    for name in os.listdir(root):
        if name.startswith(".testmondata"):
            shutil.copy2(os.path.join(root, name), dst)


def restore(saved: str, root: str) -> None:
    for name in os.listdir(root):
        if name.startswith((".testmondata", ".testmon-shim")):
            p = os.path.join(root, name)
            shutil.rmtree(p) if os.path.isdir(p) else os.unlink(p)
    for name in os.listdir(saved):
        shutil.copy2(os.path.join(saved, name), root)


def bench_gain(lib: str, venv: str, tmp: str, rounds: int) -> Dict[str, Any]:
    cache = os.environ.get("E2E_REAL_CACHE") or os.path.join(REPO, ".cache", "e2e-real")
    files = {v: real.read_sdist(real.fetch_sdist(cache, PROJECT, v)) for v in (FROM, TO)}
    root = os.path.join(tmp, "gain")
    os.makedirs(root)
    real.apply_release([root], files[FROM], real.BASE_MTIME)
    junit = os.path.join(tmp, "gain.xml")
    base = run_arm(venv, root, lib, "serial", junit)  # the database of FROM (and bytecode)
    log("%s %s: %d tests, %.1f s" % (PROJECT, FROM, base["tests"], base["wall"]))
    saved = os.path.join(tmp, "gain-db")
    save(root, saved)
    real.apply_release([root], files[TO], real.BASE_MTIME + 100)
    at_to = os.path.join(tmp, "gain-db-to")
    res = {"project": PROJECT, "from": FROM, "to": TO, "base_tests": base["tests"],
           "scenarios": {}}
    names = list(ARMS)
    for scen in ("release", "edit"):
        if scen == "edit":
            # the rerun after an edit starts from the database of TO (made serially)
            restore(saved, root)
            run_arm(venv, root, lib, "serial", junit)
            edit_one_function(root)
            save(root, at_to)
            saved_scen = at_to
        else:
            saved_scen = saved
        got = {a: [] for a in names}  # type: Dict[str, List[Dict[str, Any]]]
        for r in range(rounds):
            order = names[r % 3:] + names[:r % 3]
            if r % 2:
                order = order[::-1]
            for arm in order:
                restore(saved_scen, root)
                got[arm].append(run_arm(venv, root, lib, arm, junit))
        res["scenarios"][scen] = got
        log("%s: %s" % (scen, ", ".join("%s %.2f s" % (a, med([x["wall"] for x in v]))
                                         for a, v in got.items())))
    return res


def table_rows(res: Dict[str, Any]) -> List[Tuple[str, ...]]:
    rows = []
    what = {"release": "rerun after the release diff %s -> %s" % (res["from"], res["to"]),
            "edit": "rerun after a one-line edit in %s" % EDIT_FILE}
    for scen, got in res["scenarios"].items():
        walls = {a: med([x["wall"] for x in v]) for a, v in got.items()}
        tests = {a: med([x["tests"] for x in v]) for a, v in got.items()}
        d = med([x["test_s"] for x in got["testmon+xdist"]])
        fixed = walls["testmon+xdist"] - d / 2
        paper = ", ".join("-n %d ~%.1f s" % (n, fixed + d / n) for n in (4, 8))
        rows.append(("gain", "%s, %s: %d tests; serial --testmon / -n 2 --testmon + shim / "
                     "-n 2 without testmon (%d tests)" % (
                         PROJECT, what[scen], tests["testmon+xdist"], tests["xdist"]),
                     "%.2f s / %.2f s" % (walls["serial"], walls["xdist"]),
                     "%.2f s" % walls["testmon+xdist"],
                     "x%.2f faster than serial testmon, x%.2f than plain xdist; on paper %s"
                     % (walls["serial"] / walls["testmon+xdist"],
                        walls["xdist"] / walls["testmon+xdist"], paper),
                     "medians of %d rotations" % len(got["serial"]), "(context)", "-"))
    return rows
