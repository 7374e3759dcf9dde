#!/usr/bin/env python3
"""Tests of the installed wheel: `make wheel-test`, the suite `wheel` of tests/run.sh (so CI).

1. dist/ holds the sdist and one x86_64 wheel of VERSION, tagged manylinux for a glibc no newer
   than 2.28, whose `auditwheel show` names the same tag (nothing needed beyond glibc: cJSON is
   compiled in), and which carries the library, the command, the plugin and the man page.
2. The e2e scenario with the wheel (tests/e2e/run.py --shim wheel): fresh venvs with the wheel,
   a testmon release and pytest-xdist installed by pip, no LD_PRELOAD anywhere; the `-n 2` copy
   must agree with the serial oracle at every step.  Releases and steps: CELLS and STEPS below.
3. The plugin and the command in real pytest processes (tests/wheel/test_plugin.py), run by the
   pytest of one of those venvs.
4. The cost of the plugin in a serial run: `pytest --testmon` with it and with
   -p no:testmon_shim, interleaved, CPU time; printed as a figure, not counted as a test.

Ends with `N passed, N failed`.  Stdlib only (Python 3.8+).
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from typing import List, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
import envs  # noqa: E402

# 2.0.15: readonly at the fresh database; 2.1.3: after a dependency change; 2.1.4: after one is
# removed or downgraded; 2.2.0: --testmon-nocollect.  Python 3.8 and 3.11 (2.2.0's pins start
# at 3.11), and static-3.11, the emulated python-build-standalone (SQLite linked in: the plugin
# loads the library, which hooks it).
CELLS = ["2.0.15", "2.1.3", "2.1.4", "2.2.0"]
PYTHONS = "3.8,3.11,static-3.11"
# The steps where those releases fail upstream under xdist (docs/compatibility.md's table),
# after `fresh`: each a few seconds per copy.
STEPS = "dep_add_late,dep_upgrade,dep_downgrade,dep_remove,test_fail,fail_fixed,nocollect"
PLUGIN_VENV = ("2.1.4", "3.11")  # the venv whose pytest runs test_plugin.py
TIMEOUT = 1800
MAX_GLIBC = (2, 28)
GLIBC = {"libc.so.6", "libpthread.so.0", "libdl.so.2", "libm.so.6", "librt.so.1"}

results: List[Tuple[str, bool, str]] = []


def check(name: str, ok: bool, detail: str = "") -> None:
    results.append((name, ok, detail))
    print("%s %s%s" % ("ok  " if ok else "FAIL", name, (": " + detail) if detail else ""),
          flush=True)


def version() -> str:
    with open(os.path.join(REPO, "VERSION")) as f:
        return f.read().strip()


def tools_python() -> str:
    """The venv of make wheel (build, auditwheel, ...), created by tools/wheel/build.py."""
    found = sorted(glob.glob(os.path.join(REPO, ".venvs", "wheel-tools-*", ".wheel-ok")),
                   key=os.path.getmtime)
    if not found:
        sys.exit("wheel-test: no tools venv (.venvs/wheel-tools-*): run make wheel first")
    return str(envs.venv_python(os.path.dirname(found[-1])))


def check_dist(ver: str) -> str:
    """Item 1; returns the x86_64 wheel."""
    sdists = glob.glob(os.path.join(REPO, "dist", "testmon_shim-%s.tar.gz" % ver))
    check("sdist dist/testmon_shim-%s.tar.gz" % ver, len(sdists) == 1)
    wheels = glob.glob(os.path.join(REPO, "dist", "testmon_shim-%s-*x86_64*.whl" % ver))
    check("one x86_64 wheel of %s in dist/" % ver, len(wheels) == 1, " ".join(wheels))
    if len(wheels) != 1:
        sys.exit("wheel-test: no wheel to test: run make wheel")
    whl = wheels[0]
    tags = re.findall(r"manylinux_(\d+)_(\d+)_x86_64", os.path.basename(whl))
    glibc = max((int(a), int(b)) for a, b in tags) if tags else (99, 0)
    check("wheel tag manylinux for glibc <= %d.%d" % MAX_GLIBC, glibc <= MAX_GLIBC,
          os.path.basename(whl))
    show = subprocess.run([tools_python(), "-m", "auditwheel", "show", whl],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=300).stdout
    said = re.search(r'consistent with the following platform tag:\s*"?(manylinux_\d+_\d+_x86_64)',
                     show)
    want = "manylinux_%d_%d_x86_64" % glibc
    tag = said.group(1) if said else ""
    check("auditwheel show: consistent with %s" % want, tag == want,
          tag or show.strip().replace("\n", " ")[:300])
    libs = set(re.findall(r"(lib[\w+-]+\.so[.\d]*)\s+with\s+versions", show))
    check("auditwheel show: nothing needed beyond glibc",
          "following external shared libraries" not in show and bool(libs) and libs <= GLIBC,
          ", ".join(sorted(libs)))
    names = zipfile.ZipFile(whl).namelist()
    for want_file in ("testmon_shim/libtestmon_shim.so", "testmon_shim/testmon-shim",
                      "testmon_shim/plugin.py",
                      "testmon_shim-%s.data/data/share/man/man1/testmon-shim.1" % ver):
        check("the wheel holds %s" % want_file, want_file in names)
    lic = [n for n in names if re.match(r"testmon_shim-[^/]+\.dist-info/(licenses/)?LICENSE$", n)]
    check("the wheel carries LICENSE (with cJSON's, compiled into the library)",
          len(lic) == 1 and b"cJSON" in zipfile.ZipFile(whl).read(lic[0]) if lic else False,
          " ".join(n for n in names if "dist-info" in n))
    return whl


def content_addressed(whl: str, build: str) -> str:
    """A copy of the wheel under a directory named by its content: the venvs' key is its path."""
    with open(whl, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:12]
    d = os.path.join(build, "wheel-test", digest)
    os.makedirs(d, exist_ok=True)
    dst = os.path.join(d, os.path.basename(whl))
    if not os.path.exists(dst):
        shutil.copy2(whl, dst)
    return dst


def run_e2e(whl: str, build: str) -> None:
    """Item 2: the e2e runner in wheel mode; one check per cell."""
    cmd = [sys.executable, os.path.join(REPO, "tests", "e2e", "run.py"), "--shim", "wheel",
           "--wheel", whl, "--testmon", ",".join(CELLS), "--python", PYTHONS,
           "--steps", STEPS, "--build", os.path.join(build, "wheel-test"),
           # pytest.main() with the wheel: test_plugin.py (the launcher cells would add venvs)
           "--launchers", "none"]
    print("wheel-test: " + " ".join(cmd), flush=True)
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "SHIM", "STEPS")}
    try:
        p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, timeout=TIMEOUT)
        out = p.stdout
    except subprocess.TimeoutExpired:
        check("e2e with the wheel", False, "timed out after %d s" % TIMEOUT)
        return
    sys.stdout.write(out)
    rows = re.findall(r"^e2e: (\S+-py(?:static-)?\d+\.\d+\S*)\s+(pass|bug reproduced|FAIL|SKIP)\s+"
                      r"(\S+) steps", out, re.M)
    for cell, verdict, steps in rows:
        check("e2e %s with the wheel, no LD_PRELOAD (%s steps agree)" % (cell, steps),
              verdict == "pass", verdict)
    if not rows or p.returncode not in (0, 1):
        check("e2e with the wheel ran", False, "exit %s, no cell rows" % p.returncode)


def plugin_venv(whl: str) -> str:
    rel, ver = PLUGIN_VENV
    with open(os.path.join(REPO, "tests", "e2e", "pins.json")) as f:
        pins = json.load(f)
    spec = pins["releases"][rel]
    exe, how = envs.find_python(ver)
    if not exe:
        sys.exit("wheel-test: %s" % how)
    return str(envs.ensure_venv(os.path.join(REPO, ".venvs"), rel, ver, exe,
                                pins["profiles"][spec["profile"]] + spec["packages"] + [whl],
                                log=print, prefix="whl-"))


def run_plugin_tests(venv: str) -> None:
    """Item 3: test_plugin.py under that venv's pytest (the plugin itself kept out of it)."""
    cmd = [envs.venv_python(venv), "-m", "pytest", "-p", "no:testmon_shim", "-p",
           "no:cacheprovider", "-rfE", "-v", os.path.join(HERE, "test_plugin.py")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")
           and k not in ("LD_PRELOAD", "PYTHONPATH")}
    env.update({"WHEEL_VENV": venv, "PYTHONDONTWRITEBYTECODE": "1"})
    try:
        out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             universal_newlines=True, timeout=TIMEOUT, cwd=HERE).stdout
    except subprocess.TimeoutExpired:
        check("test_plugin.py", False, "timed out after %d s" % TIMEOUT)
        return
    sys.stdout.write(out)
    for name, outcome in re.findall(r"^\S*test_plugin\.py::(\S+) (PASSED|FAILED|ERROR)", out,
                                    re.M):
        check("plugin: " + name, outcome == "PASSED", outcome)
    if not re.search(r"test_plugin\.py::", out):
        check("test_plugin.py ran", False, out.strip().splitlines()[-1] if out.strip() else "")


def measure_serial_cost(venv: str, rounds: int = 10) -> None:
    """Item 4: a serial `pytest --testmon` with the plugin against -p no:testmon_shim (ABBA)."""
    py = envs.venv_python(venv)
    with tempfile.TemporaryDirectory() as d:
        for i in range(20):
            with open(os.path.join(d, "test_m%d.py" % i), "w") as f:
                f.write("".join("def test_%d():\n    assert %d\n" % (j, j + 1) for j in range(10)))
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")
               and k not in ("LD_PRELOAD", "PYTHONPATH")}

        def once(extra: List[str]) -> float:
            """CPU seconds of one run (user + system of the child): load on a shared machine
            stretches wall time far more than CPU time."""
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run([py, "-m", "pytest", "-q", "--testmon"] + extra, cwd=d, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300,
                           check=True)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        once([])  # the database, so every timed run is a rerun
        with_p: List[float] = []
        without: List[float] = []
        for i in range(rounds):
            for extra in ([[], ["-p", "no:testmon_shim"]] if i % 2 == 0
                          else [["-p", "no:testmon_shim"], []]):
                (without if extra else with_p).append(once(extra))
    ratios = [a / b for a, b in zip(with_p, without)]
    r = statistics.median(ratios)
    # a figure, not a test: on a shared 2-core machine the spread of single runs (+-30 %) is
    # far wider than the plugin's cost; test_plugin.py asserts what a serial run does not do
    print("wheel-test: serial pytest --testmon with the plugin: median x%.3f of the CPU time "
          "without it (%.3f s vs %.3f s, %d ABBA pairs; ratios %s)" % (
              r, statistics.median(with_p), statistics.median(without), rounds,
              " ".join("%.3f" % x for x in sorted(ratios))), flush=True)


def main() -> int:
    build = os.path.join(REPO, os.environ.get("BUILD") or "build")
    t0 = time.time()
    whl = content_addressed(check_dist(version()), build)
    run_e2e(whl, build)
    venv = plugin_venv(whl)
    run_plugin_tests(venv)
    measure_serial_cost(venv)
    failed = [n for n, ok, _ in results if not ok]
    print("wheel-test: %.0f s" % (time.time() - t0))
    for n in failed:
        print("FAILED: " + n)
    print("%d passed, %d failed" % (len(results) - len(failed), len(failed)), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
