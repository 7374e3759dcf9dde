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


# ------------------------------------------------------------------ targets
class Target:
    """Where a cell's interpreters run.  "host": this machine, as always.  "aarch64": Debian's
    arm64 CPython in the sysroot that tests/aarch64/sysroot.sh builds (cached in
    .cache/aarch64), run by qemu-user in a chroot.  Every file under that sysroot has one
    absolute path inside the chroot and outside it (the sysroot holds its own path as a symlink
    to its /), so the runner writes projects and venvs there and reads logs, junit files and
    databases as it does on the host; only the commands it starts go through
    tests/aarch64/chroot.sh.  A venv there is made without emulated pip, which is slow: the
    chroot's python makes it (--without-pip), the host's pip installs the pinned packages'
    aarch64 wheels into it (--platform, --target) and the host's CPython of the same version
    byte-compiles them (.pyc files do not depend on the CPU)."""
    CHROOT = os.path.join(REPO, "tests", "aarch64", "chroot.sh")
    SYSROOT = os.path.join(REPO, "tests", "aarch64", "sysroot.sh")

    def __init__(self, name="host"):
        if name not in ("host", "aarch64"):
            raise ValueError("unknown target %r (host or aarch64)" % name)
        self.name = name
        self.root = None
        self.cache = os.path.join(REPO, ".cache", "aarch64")

    def prepare(self):
        """Build or reuse the sysroot; None, or the reason it cannot be had (one line)."""
        if self.name == "host":
            return None
        try:
            r = subprocess.run([self.SYSROOT, self.cache], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, universal_newlines=True, timeout=1200)
        except (OSError, subprocess.TimeoutExpired) as e:
            return "tests/aarch64/sysroot.sh: %s" % e
        if r.returncode != 0:
            return (r.stderr.strip().splitlines() or ["sysroot.sh: exit %d" % r.returncode])[-1]
        self.root = r.stdout.strip().splitlines()[-1]
        return None

    def wrap(self, cmd, cwd=None):
        """The command line that runs cmd on this target, in cwd (under the sysroot)."""
        if self.name == "host":
            return list(cmd)
        return [self.CHROOT, "-C", cwd or self.root] + list(cmd)

    def under(self, default, name):
        """Where the runner keeps its directory `name` (venvs, work dirs): on the host
        `default`, else inside the sysroot, where the chroot sees it."""
        return default if self.name == "host" else os.path.join(self.root, name)

    def find_python(self, ver, explicit=None):
        if self.name == "host":
            return find_python(ver, explicit)
        exe = "/usr/bin/python" + ver
        try:
            out = subprocess.run(self.wrap([exe, "-c", PROBE]), stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, universal_newlines=True, timeout=120)
            res = out.stdout.strip().partition(" ")[0] if out.returncode == 0 else None
        except (OSError, subprocess.TimeoutExpired):
            res = None
        if res != ver:
            return None, "aarch64: no python%s in the sysroot %s" % (ver, self.root)
        return exe, "the arm64 sysroot (tests/aarch64/sysroot.sh), emulated"

    def host_pip(self):
        """A pip on the host: the runner's own, else one in a venv under the cache."""
        if subprocess.run([sys.executable, "-m", "pip", "--version"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, timeout=120).returncode == 0:
            return [sys.executable, "-m", "pip"]
        venv = os.path.join(self.cache, "hostpip")
        py = os.path.join(venv, "bin", "python")
        if not os.path.exists(py):
            subprocess.run([sys.executable, "-m", "venv", venv], check=True, timeout=600)
        return [py, "-m", "pip"]

    def fill_venv(self, path, pyexe, ver, packages, env):
        """Make the venv `path` with the sysroot's interpreter and install packages (aarch64
        wheels only); returns what is installed, one name==version a line."""
        subprocess.run(self.wrap([pyexe, "-m", "venv", "--without-pip", path]), check=True,
                       timeout=600, stdout=subprocess.DEVNULL)
        site = os.path.join(path, "lib", "python" + ver, "site-packages")
        nodot = ver.replace(".", "")
        penv = dict(env, PIP_CACHE_DIR=os.path.join(self.cache, "pip-cache"))
        r = subprocess.run(self.host_pip() + [
            "install", "--quiet", "--disable-pip-version-check", "--no-compile", "--upgrade",
            "--target", site, "--platform", "manylinux2014_aarch64", "--python-version", ver,
            "--implementation", "cp", "--abi", "cp" + nodot, "--only-binary=:all:"] +
            list(packages), timeout=900, env=penv, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, universal_newlines=True)
        if r.returncode != 0:
            raise RuntimeError("pip install (aarch64 wheels) failed for %s:\n%s" % (
                path, r.stdout[-3000:]))
        hostpy = shutil.which("/usr/bin/python" + ver) or shutil.which("python" + ver)
        if hostpy:  # else the emulated interpreter compiles what it imports, at every start
            subprocess.run([hostpy, "-m", "compileall", "-q", "-j", "2", site],
                           stdout=subprocess.DEVNULL, timeout=600)
        return "".join(sorted("%s\n" % d[:-len(".dist-info")].replace("-", "==", 1)
                              for d in os.listdir(site) if d.endswith(".dist-info")))


HOST = Target("host")


def venv_key(pyexe, packages, target=HOST):
    # the interpreter's real path too: builds of one CPython (Debian's python3.11 and the
    # static-SQLite ones built from its libpython) share sys.version
    full = subprocess.run(target.wrap([pyexe, "-c", "import os, sys; print(sys.version, "
                                                    "os.path.realpath(sys.executable))"]),
                          stdout=subprocess.PIPE, universal_newlines=True, timeout=120).stdout
    h = hashlib.sha256(json.dumps([full, sorted(packages)]).encode()).hexdigest()
    return h[:10]


def ensure_venv(root, release, ver, pyexe, packages, log=print, prefix="tm", stamp=".e2e-ok",
                target=HOST):
    """Create (once) and return the venv dir for (release, interpreter):
    ROOT/<prefix><release>-py<X.Y>-<hash of interpreter and packages>.  The benchmarks use it
    too (prefix "bench-", their own stamp file).  target: where the interpreter runs (Target)."""
    os.makedirs(root, exist_ok=True)
    name = "%s%s-py%s-%s" % (prefix, release, ver, venv_key(pyexe, packages, target))
    path = os.path.join(root, name)
    stamp = os.path.join(path, stamp)
    if os.path.exists(stamp):
        return path
    with open(path + ".lock", "w") as lockf:
        fcntl.flock(lockf, fcntl.LOCK_EX)
        if os.path.exists(stamp):
            return path
        log("creating venv %s%s" % (name, "" if target.name == "host" else
                                        " (%s, emulated)" % target.name))
        shutil.rmtree(path, ignore_errors=True)
        env = dict(os.environ)
        for k in ("PYTHONPATH", "PIP_REQUIRE_VIRTUALENV", "PYTHONHOME", "LD_PRELOAD"):
            env.pop(k, None)
        if target.name != "host":
            freeze = target.fill_venv(path, pyexe, ver, packages, env)
            with open(stamp, "w") as f:
                f.write(freeze)
            return path
        subprocess.run([pyexe, "-m", "venv", path], check=True, timeout=600)
        vpy = os.path.join(path, "bin", "python")
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
