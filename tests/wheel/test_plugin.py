"""The pytest plugin and the command of the installed wheel, in real pytest processes.

Run by tests/wheel/run.py with the pytest of a venv that has the wheel, pytest-xdist and a
testmon release installed (WHEEL_VENV: that venv).  Every pytest below runs in a fresh project
whose conftest.py records, in each process that imports it, the pid, the xdist worker id and
the copies of libtestmon_shim.so mapped into it.  The controller imports conftest.py before
pytest_cmdline_main, so a controller that started itself again would be seen twice with one pid:
the plugin never does.  No LD_PRELOAD is set unless a test says so.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional

import pytest

VENV = Path(os.environ.get("WHEEL_VENV", sys.prefix))
PYTHON = VENV / "bin" / "python"
TIMEOUT = 180  # seconds for one pytest run
CONFTEST = """\
import json, os
with open('/proc/self/maps') as f:
    shim = sorted({l.split(None, 5)[5].strip() for l in f if 'libtestmon_shim' in l})
with open(os.environ['PROBE_LOG'], 'a') as f:
    f.write(json.dumps({'pid': os.getpid(), 'worker': os.environ.get('PYTEST_XDIST_WORKER'),
                        'shim': shim}) + '\\n')
"""


class Run(NamedTuple):
    rc: int
    output: str
    controllers: List[Dict[str, object]]  # records of processes that are no xdist worker
    workers: List[Dict[str, object]]


def site_library() -> str:
    out = subprocess.run([str(PYTHON), "-c", "import testmon_shim.plugin as p; print(p.LIBRARY)"],
                         stdout=subprocess.PIPE, universal_newlines=True, timeout=60, check=True)
    return os.path.realpath(out.stdout.strip())  # as /proc/self/maps names it


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    tests = "".join("def test_%d():\n    assert calc.add(%d, 1) == %d\n" % (i, i, i + 1)
                    for i in range(4))
    (tmp_path / "test_calc.py").write_text("import calc\n" + tests)
    (tmp_path / "conftest.py").write_text(CONFTEST)
    return tmp_path


def run(project: Path, args: List[str], env: Optional[Dict[str, str]] = None,
        stdin: Optional[str] = None, command: Optional[List[str]] = None) -> Run:
    log = project / "probe.log"
    if log.exists():
        log.unlink()
    e = {k: v for k, v in os.environ.items()
         if not k.startswith(("PYTEST_", "TESTMON_", "COV_")) and k not in ("LD_PRELOAD",
                                                                           "PYTHONPATH")}
    e.update({"PROBE_LOG": str(log), "PYTHONDONTWRITEBYTECODE": "1"})
    e.update(env or {})
    # (testmon reads the cacheprovider's --lf option: it stays)
    cmd = command or [str(PYTHON), "-m", "pytest", "-q"] + args
    p = subprocess.run(cmd, cwd=str(project), env=e, input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True, timeout=TIMEOUT)
    records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return Run(p.returncode, p.stdout, [r for r in records if not r["worker"]],
               [r for r in records if r["worker"]])


def last_run(project: Path) -> Dict[str, Any]:
    """The last run of `testmon-shim status --json` (the command of the wheel)."""
    p = subprocess.run([str(VENV / "bin" / "testmon-shim"), "status", "--json", str(project)],
                       stdout=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert p.returncode == 0, p.stdout
    runs: List[Dict[str, Any]] = json.loads(p.stdout)["runs"]
    assert runs, p.stdout
    return runs[-1]


def test_xdist_run_of_testmon_gets_the_library_in_controller_and_workers(project: Path) -> None:
    r = run(project, ["-n", "2", "--testmon"])
    assert r.rc == 0, r.output
    assert len(r.controllers) == 1 and r.controllers[0]["shim"], r  # loaded, never restarted
    assert len(r.workers) == 2 and all(w["shim"] for w in r.workers), r
    assert "LD_PRELOAD" not in r.output
    st = last_run(project)
    assert st["state"] == "finished" and len(st["workers"]) == 2, st


def test_the_header_says_it_manages_the_run(project: Path) -> None:
    r = run(project, ["-n", "2", "--testmon"], command=[str(PYTHON), "-m", "pytest", "-n", "2",
                                                        "--testmon"])
    assert r.rc == 0, r.output
    assert header(r) == ["testmon-shim %s: managing .testmondata for 2 workers" % version()], r
    off = run(project, [], env={"TESTMON_SHIM": "off"},
              command=[str(PYTHON), "-m", "pytest", "-n", "2", "--testmon"])
    assert off.rc == 0 and header(off) == ["testmon-shim %s: off (TESTMON_SHIM=off)" % version()]
    quiet = run(project, ["-n", "2", "--testmon"])  # -q: no header lines at all, as pytest does
    assert quiet.rc == 0 and header(quiet) == [], quiet.output
    serial = run(project, [], command=[str(PYTHON), "-m", "pytest", "--testmon"])
    assert serial.rc == 0 and header(serial) == [], serial.output


def header(r: Run) -> List[str]:
    """The plugin's header lines (pytest's own `plugins:` line names testmon-shim too)."""
    return [l for l in r.output.splitlines() if l.startswith("testmon-shim ")]


def test_a_serial_run_loads_nothing(project: Path) -> None:
    r = run(project, ["--testmon"])
    assert r.rc == 0, r.output
    assert len(r.controllers) == 1 and not r.controllers[0]["shim"], r
    assert not (project / ".testmon-shim").exists()


@pytest.mark.parametrize("first", ["testmon_shim", "testmon"])
def test_whichever_plugin_pytest_imports_first_the_run_is_managed(project: Path,
                                                                   first: str) -> None:
    # -p testmon imports testmon's plugin, and with it sqlite3, before this one: the library
    # then finds the sqlite3 module already loaded and reaches it in place
    r = run(project, ["-p", first, "-n", "2", "--testmon"])
    assert r.rc == 0, r.output
    assert len(r.controllers) == 1 and r.controllers[0]["shim"], r
    assert len(r.workers) == 2 and all(w["shim"] for w in r.workers), r
    assert len(last_run(project)["workers"]) == 2


def test_early_load_in_a_serial_run_is_switched_off(project: Path) -> None:
    r = run(project, ["-p", "testmon_shim", "-n", "0", "--testmon"])
    assert r.rc == 0, r.output
    assert len(r.controllers) == 1, r
    assert not (project / ".testmon-shim").exists()  # the controller published no run


def test_xdist_without_testmon_manages_nothing(project: Path) -> None:
    r = run(project, ["-n", "2"])
    assert r.rc == 0, r.output
    assert len(r.controllers) == 1, r
    assert not (project / ".testmon-shim").exists()


@pytest.mark.parametrize("how", [["-p", "no:testmon_shim"], ["TESTMON_SHIM=off"]])
def test_opting_out(project: Path, how: List[str]) -> None:
    env = dict([how[0].split("=")]) if "=" in how[0] else {}
    r = run(project, ["-n", "2", "--testmon"] + ([] if env else how), env=env)
    assert r.rc == 0, r.output
    assert len(r.controllers) == 1 and not any(p["shim"] for p in r.controllers + r.workers), r


def test_a_library_preloaded_by_hand_is_used_as_is(project: Path) -> None:
    lib = site_library()
    r = run(project, ["-n", "2", "--testmon"], env={"LD_PRELOAD": lib})
    assert r.rc == 0, r.output
    assert len(r.controllers) == 1 and r.controllers[0]["shim"] == [lib], r
    assert all(w["shim"] == [lib] for w in r.workers), r


SIDE_EFFECT = ("import os, sqlite3\n"  # sqlite3 first: loaded before the plugin, as in IDEs
               "sqlite3.connect(':memory:').execute('select 1')\n"
               "with open('side-effect.log', 'a') as f:\n"
               "    f.write('%d\\n' % os.getpid())\n")


def test_pytest_main_from_a_script_runs_its_code_once(project: Path) -> None:
    (project / "run_tests.py").write_text(
        SIDE_EFFECT + "import sys, pytest\nsys.exit(pytest.main(['-q', '-n', '2', '--testmon']))\n")
    r = run(project, [], command=[str(PYTHON), "run_tests.py"])
    assert r.rc == 0, r.output
    assert len((project / "side-effect.log").read_text().splitlines()) == 1, r.output
    assert len(r.controllers) == 1 and r.controllers[0]["shim"], r
    assert all(w["shim"] for w in r.workers), r
    assert len(last_run(project)["workers"]) == 2  # the library took it for a controller


def test_a_script_from_stdin_is_managed(project: Path) -> None:
    script = SIDE_EFFECT + ("import sys, pytest\n"
                            "sys.exit(pytest.main(['-q', '-n', '2', '--testmon']))\n")
    r = run(project, [], stdin=script, command=[str(PYTHON), "-"])
    assert r.rc == 0, r.output
    assert len((project / "side-effect.log").read_text().splitlines()) == 1, r.output
    assert not [l for l in r.output.splitlines() if l.startswith("testmon-shim")], r.output
    assert len(last_run(project)["workers"]) == 2


def test_a_second_pytest_main_in_one_process_is_managed(project: Path) -> None:
    # a serial session first (nothing loaded, sqlite3 imported by testmon), then an xdist one:
    # the library arrives in the running process and reaches the sqlite3 module in place
    (project / "run_tests.py").write_text(
        SIDE_EFFECT + "import sys, pytest\n"
        "first = pytest.main(['-q', '--testmon'])\n"
        "sys.exit(first or pytest.main(['-q', '-n', '2', '--testmon']))\n")
    r = run(project, [], command=[str(PYTHON), "run_tests.py"])
    assert r.rc == 0, r.output
    assert len((project / "side-effect.log").read_text().splitlines()) == 1, r.output
    assert len({c["pid"] for c in r.controllers}) == 1, r  # never started again
    assert all(w["shim"] for w in r.workers) and len(r.workers) == 2, r
    assert len(last_run(project)["workers"]) == 2


ASAN_PROGRAM = "int main(void) { char b[4] = {0}; return b[0]; }\n"


def test_a_test_may_run_an_addresssanitizer_program(project: Path) -> None:
    # the library is in no child's LD_PRELOAD: ASan insists on coming first in it
    exe = project / "asan_prog"
    cc = subprocess.run(["cc", "-fsanitize=address", "-o", str(exe), "-x", "c", "-"],
                        input=ASAN_PROGRAM, universal_newlines=True, timeout=120)
    assert cc.returncode == 0, "cannot build an ASan program here"
    (project / "test_asan.py").write_text(
        "import subprocess\n"
        "def test_asan_program():\n"
        "    p = subprocess.run([%r], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)\n"
        "    assert p.returncode == 0, p.stdout\n" % str(exe))
    r = run(project, ["-n", "2", "--testmon"])
    assert r.rc == 0, r.output
    assert "5 passed" in r.output, r.output
    assert len(last_run(project)["workers"]) == 2


def version() -> str:
    return (Path(__file__).resolve().parents[2] / "VERSION").read_text().strip()


def test_the_command_from_the_wheel(project: Path) -> None:
    cmd = str(VENV / "bin" / "testmon-shim")
    version = subprocess.run([cmd, "--version"], stdout=subprocess.PIPE,
                             universal_newlines=True, timeout=60)
    want = (Path(__file__).resolve().parents[2] / "VERSION").read_text().strip()
    assert version.returncode == 0 and want in version.stdout, version.stdout
    r = run(project, ["-n", "2", "--testmon", "-p", "no:testmon_shim"],
            command=[cmd, "run", str(PYTHON), "-m", "pytest", "-q", "-n", "2", "--testmon", "-p",
                     "no:testmon_shim"])
    assert r.rc == 0, r.output
    assert r.controllers[0]["shim"] == [site_library()], r
    doctor = subprocess.run([cmd, "doctor", "--no-probe", str(project)], stdout=subprocess.PIPE,
                            universal_newlines=True, timeout=120)
    assert "ok    interpreter: %s" % (VENV / "bin" / "python") in doctor.stdout, doctor.stdout
    assert "ok    pytest plugin: testmon_shim" in doctor.stdout, doctor.stdout
