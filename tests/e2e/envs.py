"""Interpreter discovery and cached venvs for the e2e suite (stdlib only, Python 3.8+)."""
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

PROBE = "import sys; print('%d.%d %s' % (sys.version_info[0], sys.version_info[1], sys.executable))"


def _probe(exe):
    """Return (X.Y, real executable) of a working interpreter, or None."""
    try:
        out = subprocess.run([exe, "-c", PROBE], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, timeout=60,
                             universal_newlines=True)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0 or not out.stdout.strip():
        return None
    ver, _, real = out.stdout.strip().partition(" ")
    return ver, real


def _pyenv_candidates(ver):
    pyenv = shutil.which("pyenv") or os.path.expanduser("~/.pyenv/bin/pyenv")
    if not os.access(pyenv, os.X_OK):
        return []
    try:
        bare = subprocess.run([pyenv, "versions", "--bare"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, timeout=60,
                              universal_newlines=True).stdout.split()
    except (OSError, subprocess.TimeoutExpired):
        return []
    pat = re.compile(r"^%s\.(\d+)$" % re.escape(ver))
    found = sorted((int(m.group(1)), v) for v in bare for m in [pat.match(v)] if m)
    cands = []
    for _, v in reversed(found):
        try:
            prefix = subprocess.run([pyenv, "prefix", v], stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, timeout=60,
                                    universal_newlines=True).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            continue
        if prefix:
            cands.append(os.path.join(prefix, "bin", "python" + ver))
    return cands


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STATIC_PREFIX = "static-"


def static_python(ver):
    """The emulated python-build-standalone interpreter "static-X.Y" (SQLite linked in and
    hidden), built once by tests/static/build-python.sh into .cache/static-python.

    Returns (executable, how) or (None, reason)."""
    out = os.path.join(REPO, ".cache", "static-python")
    script = os.path.join(REPO, "tests", "static", "build-python.sh")
    try:
        r = subprocess.run([script, out], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, "static-%s: %s" % (ver, e)
    if r.returncode != 0:
        last = (r.stdout.strip().splitlines() or ["exit %d" % r.returncode])[-1]
        return None, "static-%s: build-python.sh failed: %s" % (ver, last)
    exe = os.path.join(out, "bin", "python" + ver)
    res = _probe(exe)
    if not res or res[0] != ver:
        return None, "static-%s: %s is not a working Python %s" % (ver, exe, ver)
    return exe, "built by tests/static/build-python.sh"


def find_python(ver, explicit=None):
    """Find a CPython X.Y at run time: explicit path(s), python3.N on PATH, pyenv prefix; or
    "static-X.Y", the emulated static-SQLite interpreter (static_python).

    Returns (executable, how) or (None, reason)."""
    if ver.startswith(STATIC_PREFIX):
        return static_python(ver[len(STATIC_PREFIX):])
    cands = []
    for path in (explicit or {}).get(ver, []):
        cands.append((path, "given"))
    onpath = shutil.which("python" + ver)
    if onpath:
        cands.append((onpath, "PATH"))
    for c in _pyenv_candidates(ver):
        cands.append((c, "pyenv"))
    for exe, how in cands:
        res = _probe(exe)
        if res and res[0] == ver:
            return res[1], how
    return None, "no python%s found" % ver


def venv_key(pyexe, packages):
    # the interpreter's real path too: builds of one CPython (Debian's python3.11 and the
    # static-SQLite ones built from its libpython) share sys.version
    full = subprocess.run([pyexe, "-c", "import os, sys; print(sys.version, "
                                        "os.path.realpath(sys.executable))"],
                          stdout=subprocess.PIPE, universal_newlines=True, timeout=60).stdout
    h = hashlib.sha256(json.dumps([full, sorted(packages)]).encode()).hexdigest()
    return h[:10]


def ensure_venv(root, release, ver, pyexe, packages, log=print, prefix="tm", stamp=".e2e-ok"):
    """Create (once) and return the venv dir for (release, interpreter):
    ROOT/<prefix><release>-py<X.Y>-<hash of interpreter and packages>.  The benchmarks use it
    too (prefix "bench-", their own stamp file)."""
    os.makedirs(root, exist_ok=True)
    name = "%s%s-py%s-%s" % (prefix, release, ver, venv_key(pyexe, packages))
    path = os.path.join(root, name)
    stamp = os.path.join(path, stamp)
    if os.path.exists(stamp):
        return path
    with open(path + ".lock", "w") as lockf:
        fcntl.flock(lockf, fcntl.LOCK_EX)
        if os.path.exists(stamp):
            return path
        log("creating venv %s" % name)
        shutil.rmtree(path, ignore_errors=True)
        subprocess.run([pyexe, "-m", "venv", path], check=True, timeout=600)
        vpy = os.path.join(path, "bin", "python")
        env = dict(os.environ)
        for k in ("PYTHONPATH", "PIP_REQUIRE_VIRTUALENV", "PYTHONHOME", "LD_PRELOAD"):
            env.pop(k, None)
        r = subprocess.run([vpy, "-m", "pip", "install", "--disable-pip-version-check",
                            "-q"] + list(packages), timeout=900, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True)
        if r.returncode != 0:
            raise RuntimeError("pip install failed for %s:\n%s" % (name, r.stdout[-3000:]))
        freeze = subprocess.run([vpy, "-m", "pip", "freeze", "--all",
                                 "--disable-pip-version-check"], stdout=subprocess.PIPE,
                                universal_newlines=True, timeout=300, env=env).stdout
        with open(stamp, "w") as f:
            f.write(freeze)
    return path


def venv_python(path):
    return os.path.join(path, "bin", "python")


def ensure_pinned(release, ver, root=None, pins_path=None):
    """The venv of the e2e suite for (release, X.Y), created once with the pins of pins.json."""
    here = os.path.dirname(os.path.abspath(__file__))
    root = root or os.path.join(os.path.dirname(os.path.dirname(here)), ".venvs")
    with open(pins_path or os.path.join(here, "pins.json")) as f:
        pins = json.load(f)
    spec = pins["releases"][release]
    exe, how = find_python(ver)
    if not exe:
        raise RuntimeError(how)
    return ensure_venv(root, release, ver, exe, pins["profiles"][spec["profile"]] + spec["packages"],
                       log=lambda m: print(m, file=sys.stderr))


if __name__ == "__main__":
    # envs.py ensure RELEASE X.Y: print the venv's path (creating it once), as the bats tests
    # need it; exit 1 with the reason on stderr if it cannot be had.
    if len(sys.argv) != 4 or sys.argv[1] != "ensure":
        sys.exit("usage: envs.py ensure RELEASE X.Y")
    try:
        print(ensure_pinned(sys.argv[2], sys.argv[3]))
    except Exception as e:  # a missing interpreter, or pip failing: the caller reports it
        sys.exit("envs.py: %s" % e)
