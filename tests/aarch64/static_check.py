#!/usr/bin/env python3
"""static_check.py WHEEL: the aarch64 wheel on an interpreter with SQLite linked in (the emulated
python-build-standalone of static-python.sh, uv's kind), emulated in the arm64 sysroot.

The shim cannot hook linked-in SQLite on aarch64 (shim/README.md says why), so it must say so
plainly and change nothing: `pytest -n 2 --testmon` runs as upstream does and its controller says,
in one line, that this Python cannot be managed and what to use instead; `testmon-shim doctor`
exits 1 with the reason and the advice.  Prints one line per check, then `N passed, N failed`.
Stdlib only."""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
import envs  # noqa: E402

RELEASE = "2.1.3"
TEST = "from mod import f\n\n\ndef test_f():\n    assert f() == 1\n\n\ndef test_g():\n    assert f() + 1 == 2\n"


def main(argv):
    if len(argv) != 2 or not os.path.isfile(argv[1]):
        print("static_check.py: usage: static_check.py WHEEL (an aarch64 testmon-shim wheel)")
        print("0 passed, 1 failed")
        return 2
    wheel = os.path.abspath(argv[1])
    passed = failed = 0

    def check(ok, what, detail=""):
        nonlocal passed, failed
        print("%s  %s%s" % ("ok  " if ok else "FAIL", what, "" if ok or not detail else
                                                               "\n      " + detail[-2000:]))
        passed, failed = passed + bool(ok), failed + (not ok)

    target = envs.Target("aarch64")
    why = target.prepare()
    if why:
        print("static_check.py: the arm64 sysroot cannot be had: %s" % why)
        print("0 passed, 1 failed")
        return 1
    r = subprocess.run([os.path.join(HERE, "static-python.sh")], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, timeout=900)
    if r.returncode != 0:
        print((r.stderr.strip().splitlines() or ["static-python.sh failed"])[-1])
        print("0 passed, 1 failed")
        return 1
    exe = r.stdout.strip().splitlines()[-1][len(target.root):]  # its path inside the chroot
    with open(os.path.join(REPO, "tests", "e2e", "pins.json")) as f:
        pins = json.load(f)
    spec = pins["releases"][RELEASE]
    venv = envs.ensure_venv(os.path.join(target.root, "venvs"), RELEASE, "3.11", exe,
                            pins["profiles"][spec["profile"]] + spec["packages"] + [wheel],
                            prefix="static-whl-", target=target,
                            log=lambda m: print("static_check.py: " + m))
    proj = os.path.join(target.root, "tmp", "static-check")
    subprocess.run(["rm", "-rf", proj], check=True)
    os.makedirs(proj)
    for name, text in (("mod.py", "def f():\n    return 1\n"), ("test_mod.py", TEST),
                       ("pytest.ini", "[pytest]\n")):
        with open(os.path.join(proj, name), "w") as f:
            f.write(text)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "TESTMON", "COV")) and k not in ("LD_PRELOAD", "PYTHONPATH")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    py = envs.venv_python(venv)

    def run(*args, timeout=300):
        p = subprocess.run(target.wrap([py] + list(args), proj), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True, env=env,
                           timeout=timeout)
        return p.returncode, p.stdout

    rc, out = run("-c", "import sys, sqlite3; print('_sqlite3' in sys.builtin_module_names)")
    check(rc == 0 and out.strip() == "True", "the interpreter has _sqlite3 built in", out)
    rc, out = run("-m", "pytest", "-n", "2", "--testmon", "-p", "no:randomly")
    lines = [ln for ln in out.splitlines() if ln.startswith("testmon-shim[")]
    check(rc == 0 and "2 passed" in out, "pytest -n 2 --testmon runs as upstream does (exit %d)" % rc,
          out)
    said = [ln for ln in lines if "this Python has SQLite linked in" in ln]
    check(len(said) == 1, "the controller says once that it cannot reach this Python", out)
    check(bool(said) and "x86-64 only" in said[0], "... and why: the hook is x86-64 only",
          "\n".join(lines))
    check(not os.path.isdir(os.path.join(proj, ".testmon-shim")), "no run was published",
          "a .testmon-shim directory exists")
    rc, out = run("-m", "testmon_shim", "doctor", timeout=600)
    print("\n".join("      doctor: " + ln for ln in out.splitlines()))
    fail = [ln for ln in out.splitlines() if ln.startswith("FAIL") and "sqlite:" in ln]
    check(rc == 1, "doctor exits 1: the shim cannot work with this Python (exit %d)" % rc, out)
    check(len(fail) == 1 and "x86-64 only" in fail[0] and "libsqlite3.so.0" in fail[0],
          "doctor says why (x86-64 only) and what to use instead", out)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
