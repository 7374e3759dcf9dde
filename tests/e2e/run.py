#!/usr/bin/env python3
"""End-to-end compatibility suite of testmon-shim.

For every cell (testmon release x CPython) it creates a cached venv under
$(repo)/.venvs, generates a small sample project twice (a serial copy and an xdist
copy) and walks through scenario.STEPS.  At each step the serial copy runs
`pytest --testmon -p no:xdist` (the oracle, never with the shim) and the xdist copy
runs `pytest --testmon -n N` with the shim preloaded (unless --shim off).  Both must
agree on the executed tests and outcomes, exit status and database content; the
xdist output must not contain the error patterns of pins.json.

Policy after a disagreeing step: the xdist copy's database is replaced by a copy of
the serial copy's database, so every step starts from identical state and later steps
do not inherit the damage (expectations stay per-step and deterministic).

Usage: see `python3 tests/e2e/run.py --help` and tests/e2e/README.md.
Stdlib only; runs on Python 3.8+.
"""
import argparse
import concurrent.futures
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import envs  # noqa: E402
import oracle  # noqa: E402
import scenario  # noqa: E402

PRINT_LOCK = threading.Lock()


def say(*a):
    with PRINT_LOCK:
        print(*a, flush=True)


def load_pins(path):
    with open(path) as f:
        return json.load(f)


# ------------------------------------------------------------------ processes
DROP_ENV_PREFIXES = ("PYTEST_", "COV_CORE_", "COVERAGE_")
DROP_ENV = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV",
            "TESTMON_DATAFILE", "PYTHONBREAKPOINT", "PYTHONINSPECT"}


def base_env(fakesite, venv):
    env = {k: v for k, v in os.environ.items()
           if k not in DROP_ENV and not k.startswith(DROP_ENV_PREFIXES)}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONPATH"] = fakesite
    env["PATH"] = os.path.join(venv, "bin") + os.pathsep + env.get("PATH", "")
    return env


def split_preload(value):
    return [p for p in value.replace(" ", ":").split(":") if p]


def set_preload(env, shim_lib, first, with_shim):
    """LD_PRELOAD of a run: the caller's entries pass through, except the shim and the libraries
    of --preload-first, which come first (a sanitizer runtime before the sanitized shim) and only
    in a run with the shim."""
    preload = [p for p in split_preload(env.get("LD_PRELOAD", ""))
               if os.path.abspath(p) not in [shim_lib] + first]
    if with_shim:
        preload = first + [shim_lib] + preload
    if preload:
        env["LD_PRELOAD"] = ":".join(preload)
    else:
        env.pop("LD_PRELOAD", None)


def run_pytest(venv, proj, args, env, timeout, log_path, launcher=None, target=envs.HOST):
    """Run pytest in proj (`python -m pytest`, or the launcher's command line, which calls
    pytest.main()) on the target (envs.Target); never hangs (process group killed on
    timeout)."""
    cmd = target.wrap((launcher or [envs.venv_python(venv), "-m", "pytest"]) + args, proj)
    t0 = time.time()
    p = subprocess.Popen(cmd, cwd=proj, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    timed_out = False
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
        out, _ = p.communicate()
    out = out.decode("utf-8", "replace")
    if timed_out:
        out += "\n[e2e] TIMEOUT after %s s: %s\n" % (timeout, " ".join(cmd))
    with open(log_path, "w") as f:
        f.write("$ cd %s && %s\n" % (proj, " ".join(cmd)))
        if "LD_PRELOAD" in env:
            f.write("# LD_PRELOAD=%s\n" % env["LD_PRELOAD"])
        f.write(out)
    return {"rc": None if timed_out else p.returncode, "output": out,
            "timed_out": timed_out, "seconds": round(time.time() - t0, 2),
            "cmd": cmd}


def db_files(proj):
    return [os.path.join(proj, ".testmondata" + s) for s in ("", "-wal", "-shm", "-journal")]


def resync_db(src_proj, dst_proj):
    for f in db_files(dst_proj):
        if os.path.exists(f):
            os.remove(f)
    for s, d in zip(db_files(src_proj), db_files(dst_proj)):
        if os.path.exists(s):
            shutil.copy2(s, d)


# ------------------------------------------------------------------ cells
class Cell:
    def __init__(self, release, ver, profile, launcher=None, companion=None):
        self.release = release
        self.ver = ver
        self.profile = profile      # the pins profile of its venv (pytest 7 or 8)
        self.launcher = launcher    # None: `python -m pytest`; else a key of launchers.json
        self.companion = companion  # None, or a key of companions.json
        self.name = "%s-py%s" % (release, ver)
        if launcher:
            self.name += "-%s-%s" % (profile, launcher)
        if companion:
            self.name += "-" + companion

    @property
    def venv_job(self):
        """What its venv is made of: (release, X.Y, profile, companion or None)."""
        return (self.release, self.ver, self.profile, self.companion)


def expected_for(pins, release, ver, mode):
    exp = pins["releases"][release].get("expected", {}).get(mode, {})
    out = {}
    for key, tags in exp.items():
        if key.startswith("_"):
            continue
        step, _, only = key.partition("@")
        if only and only != ver:
            continue
        if only or step not in out:
            out[step] = sorted(tags)
    return out


def races_for(pins, release):
    """{race: face} of the documented upstream races of a release (pins.json "upstream_races")."""
    return {name: race["face"] for name, race in pins.get("upstream_races", {}).items()
            if release in race["releases"]}


def launcher_expected(spec, profile, mode):
    """A launcher cell's expectations: `<step>` or `<step>@<profile>` keys of launchers.json."""
    out = {}
    for key, tags in spec.get("expected", {}).get(mode, {}).items():
        step, _, only = key.partition("@")
        if only and only != profile:
            continue
        if only or step not in out:
            out[step] = sorted(tags)
    return out


def launcher_command(launch, name, venv, work):
    """The launcher's command line before pytest's arguments, its scripts written to work/launch."""
    d = os.path.join(work, "launch")
    os.makedirs(d, exist_ok=True)
    for fname, text in launch["scripts"].items():
        with open(os.path.join(d, fname), "w") as f:
            f.write(text)
    return [a.replace("{python}", envs.venv_python(venv)).replace("{dir}", d)
            for a in launch["launchers"][name]]


def run_cell(cell, ctx):
    pins = ctx["pins"]
    rel, ver = cell.release, cell.ver
    res = {"release": rel, "python": ver, "steps": [], "notes": [], "problems": []}
    if cell.launcher:
        res.update(launcher=cell.launcher, profile=cell.profile)
    if cell.companion:
        res.update(companion=cell.companion, profile=cell.profile)
    py = ctx["pythons"].get(ver)
    if not py or not py[0]:
        res.update(verdict="SKIP", reason=py[1] if py else "no python%s found" % ver)
        return res
    venv = ctx["venvs"].get(cell.venv_job)
    if isinstance(venv, Exception) or venv is None:
        res.update(verdict="FAIL", reason="venv: %s" % venv)
        res["problems"].append("venv creation failed: %s" % venv)
        return res
    pver = pins["releases"][rel]["partner"].get(ver)
    pvenv = ctx["venvs"].get((rel, pver, cell.profile, None))
    pnote = None
    if not pver:
        pnote = "no partner interpreter configured"
    elif not ctx["pythons"].get(pver, (None,))[0]:
        pnote = ctx["pythons"].get(pver, (None, "no python%s found" % pver))[1]
    elif isinstance(pvenv, Exception) or pvenv is None:
        pnote = "partner venv: %s" % pvenv
    res["venv"] = venv
    res["partner"] = pver
    work = os.path.join(ctx["workroot"], cell.name)
    shutil.rmtree(work, ignore_errors=True)
    serial_dir = os.path.join(work, "serial")
    xdist_dir = os.path.join(work, "xdist")
    fakesite = os.path.join(work, "fakesite")
    logs = os.path.join(work, "logs")
    for d in (serial_dir, xdist_dir, fakesite, logs):
        os.makedirs(d)
    world = scenario.World([serial_dir, xdist_dir], fakesite)
    if cell.companion:  # its files, with the sample's first step (the same mtime)
        comp = ctx["companions"]["companions"][cell.companion]
        world.step_index = 1
        for rel_path, text in comp["project"].items():
            world.write(rel_path, text)
        for rel_path, text in comp["site"].items():
            with open(os.path.join(fakesite, rel_path), "w") as f:
                f.write(text)
    patterns = pins["error_patterns"]
    timeout = ctx["timeout"]
    # the wheel's plugin must do what the preloaded shim does; switched off, upstream's bug shows
    pins_mode = {"wheel": "on", "wheel-off": "off"}.get(ctx["mode"], ctx["mode"])
    expected = expected_for(pins, rel, ver, pins_mode)
    launcher = None
    wanted = ctx["steps"]
    if cell.launcher or cell.companion:  # companions expect what the launcher cells do
        launch = ctx["launch"]
        expected = launcher_expected(launch["cells"][rel], cell.profile, pins_mode)
        if cell.launcher:
            launcher = launcher_command(launch, cell.launcher, venv, work)
        wanted = [s for s in launch["steps"] if not wanted or s in wanted]
    step_tags = []
    oracle_problems = []
    skipped_steps = set()
    narrowed = bool(wanted)
    wanted = set(wanted or ())
    for s in scenario.STEPS:  # a narrowed run keeps the steps the wanted ones build on
        if s.name in wanted:
            wanted.update(s.needs)
    steps = [s for s in scenario.STEPS if not narrowed or s.name in wanted
             or s.name == "fresh"]
    for i, step in enumerate(steps, 1):
        world.step_index = i
        step.apply(world)
        use_venv = venv
        if step.python == "partner":
            if pnote:
                say("SKIP: %s step %s: %s" % (cell.name, step.name, pnote))
                res["notes"].append("%s skipped: %s" % (step.name, pnote))
                res["steps"].append({"name": step.name, "skipped": pnote})
                skipped_steps.add(step.name)
                continue
            use_venv = pvenv
        n = scenario.count_tests(serial_dir) + 2 if step.n_from_tests else step.n
        common = ["--testmon", "-p", "no:randomly", "-rfE"]
        # (the cacheprovider must stay: testmon reads options["lf"])
        common += step.args
        runs = {}
        jobs = {}
        for kind, proj, extra in (("serial", serial_dir, ["-p", "no:xdist"]),
                                  ("xdist", xdist_dir, ["-n", str(n)])):
            junit = os.path.join(logs, "%02d-%s-%s.xml" % (i, step.name, kind))
            if os.path.exists(junit):
                os.remove(junit)
            env = base_env(fakesite, use_venv)
            set_preload(env, ctx["shim_lib"], ctx["preload_first"],
                        kind == "xdist" and ctx["mode"] == "on")
            if ctx["mode"] in ("wheel", "wheel-off"):  # no LD_PRELOAD: the plugin's job
                kept = [p for p in split_preload(env.get("LD_PRELOAD", ""))
                        if os.path.basename(p) != "libtestmon_shim.so"]
                if kept:
                    env["LD_PRELOAD"] = ":".join(kept)
                else:
                    env.pop("LD_PRELOAD", None)
                # the oracle without the plugin; wheel-off (the negative control with the wheel
                # installed): the xdist run without it too
                if kind == "serial" or ctx["mode"] == "wheel-off":
                    extra = extra + ["-p", "no:testmon_shim"]
            args = common + extra + ["--junitxml=" + junit]
            log = os.path.join(logs, "%02d-%s-%s.log" % (i, step.name, kind))
            jobs[kind] = (use_venv, proj, args, env, timeout, log, launcher, junit)
        if ctx["parallel_copies"]:
            with concurrent.futures.ThreadPoolExecutor(2) as ex:
                futs = {k: ex.submit(run_pytest, *v[:7], target=ctx["target"])
                        for k, v in jobs.items()}
                runs = {k: f.result() for k, f in futs.items()}
        else:
            runs = {k: run_pytest(*v[:7], target=ctx["target"]) for k, v in jobs.items()}
        for k in runs:
            runs[k]["results"] = oracle.parse_junit(jobs[k][7])
            runs[k]["errors"] = oracle.find_errors(runs[k]["output"], patterns)
        oprob, tags = oracle.compare_runs(runs["serial"], runs["xdist"], patterns)
        d_serial = oracle.dump_db(os.path.join(serial_dir, ".testmondata"))
        d_xdist = oracle.dump_db(os.path.join(xdist_dir, ".testmondata"))
        if d_serial.get("exists") and d_serial.get("integrity") != "ok":
            oprob.append("serial integrity_check: %s" % d_serial.get("integrity"))
        relaxed = []
        if step.deselects:  # the guarantee for deselection (oracle.relax_deselected)
            ran = set(runs["serial"]["results"] or {}) | set(runs["xdist"]["results"] or {})
            d_serial, d_xdist, relaxed = oracle.relax_deselected(d_serial, d_xdist, ran)
        db_diffs = oracle.compare_dumps(d_serial, d_xdist)
        if d_xdist.get("exists") and d_xdist.get("integrity") != "ok":
            tags.append("integrity_check failed")
        if db_diffs:
            tags.append("db differs")
        tags = sorted(set(tags))
        for p in oprob:
            oracle_problems.append("%s: oracle broken: %s" % (step.name, p))
        exp = expected.get(step.name, [])
        rec = {
            "name": step.name, "doc": step.doc, "args": step.args, "n": n,
            "python": pver if step.python == "partner" else ver,
            "serial": _run_summary(runs["serial"]), "xdist": _run_summary(runs["xdist"]),
            "tags": tags, "expected": exp, "db_diffs": db_diffs, "oracle_problems": oprob,
        }
        if relaxed:
            rec["not_recorded_by_xdist"] = relaxed
        if tags:
            rec["xdist_tail"] = runs["xdist"]["output"].splitlines()[-40:]
            rec["selection_diff"] = oracle.diff_results(runs["serial"]["results"],
                                                         runs["xdist"]["results"])
        if tags or oprob:
            resync_db(serial_dir, xdist_dir)
            rec["resynced"] = True
        res["steps"].append(rec)
        step_tags.append((step.name, tags))
        if ctx["verbose"]:
            say("  %s %-14s serial rc=%s ran=%d  xdist rc=%s ran=%d  %s" % (
                cell.name, step.name, runs["serial"]["rc"],
                len(runs["serial"]["results"] or {}), runs["xdist"]["rc"],
                len(runs["xdist"]["results"] or {}), tags or "ok"))
    for s in skipped_steps:
        expected.pop(s, None)
    # "*": what any step without its own expectation may show (an upstream race of the release
    # that is not the shim's: 1.3.7's workers each run a read-write testmon on the live file)
    anystep = expected.pop("*", None)
    if anystep:
        for s, _ in step_tags:
            expected.setdefault(s, anystep)
    if narrowed:
        expected = {k: v for k, v in expected.items() if k in dict(step_tags)}
    # without the shim (the negative control) upstream may lose its documented races at any
    # step: oracle.cell_verdict tolerates exactly their faces there, and says so
    off = ctx["mode"] in ("off", "wheel-off")
    verdict, problems, tolerated = oracle.cell_verdict(
        step_tags, expected, oracle_problems, any_face=off,
        races=races_for(pins, rel) if off else None)
    res["verdict"] = verdict
    res["problems"] = problems
    res["tolerated"] = [{"step": s, "race": r, "tags": t} for s, r, t in tolerated]
    for t in res["tolerated"]:
        res["notes"].append(race_note(t))
        next(st for st in res["steps"] if st["name"] == t["step"])["tolerated_race"] = t["race"]
    res["passed_steps"] = sum(1 for _, t in step_tags if not t)
    res["total_steps"] = len(step_tags)
    res["observed"] = {s: t for s, t in step_tags if t}
    if verdict == "FAIL" or ctx["keep_work"]:
        res["work_dir"] = work
    else:
        shutil.rmtree(work, ignore_errors=True)
    return res


def race_note(t):
    """How a tolerated upstream race (an entry of a cell's "tolerated") is reported."""
    return "tolerated upstream race at %s: %s %s" % (t["step"], t["race"], t["tags"])


def _run_summary(r):
    return {"rc": r["rc"], "timed_out": r["timed_out"], "seconds": r["seconds"],
            "errors": r["errors"], "results": r["results"]}


# ------------------------------------------------------------------ reporting
def print_failure_details(res):
    say("")
    say("=== FAIL %s on CPython %s ===" % (res["release"], res["python"]))
    for p in res["problems"]:
        say("  problem: %s" % p)
    for st in res.get("steps", []):
        if not st.get("tags") and not st.get("oracle_problems"):
            continue
        exp = st.get("expected")
        if exp and exp == st.get("tags") and not st.get("oracle_problems"):
            continue
        say("  -- step %s (%s): tags=%s expected=%s%s" % (
            st["name"], st["doc"], st["tags"], exp,
            " (tolerated upstream race: %s)" % st["tolerated_race"] if st.get("tolerated_race")
            else ""))
        say("     serial rc=%s ran=%s" % (st["serial"]["rc"], sorted(st["serial"]["results"] or {})))
        say("     xdist  rc=%s ran=%s" % (st["xdist"]["rc"], sorted(st["xdist"]["results"] or {})))
        for line in st.get("selection_diff", []):
            say("   " + line)
        for line in st.get("db_diffs", []):
            say("     db: " + line)
        for line in st.get("oracle_problems", []):
            say("     oracle: " + line)
        if st.get("xdist_tail"):
            say("     xdist output (tail):")
            for line in st["xdist_tail"][-25:]:
                say("       | " + line)
    if res.get("work_dir"):
        say("  work dir kept: %s" % res["work_dir"])


def short_signature(tags):
    """The most telling part of a signature, for the table."""
    errs = [t[4:] for t in tags if t.startswith("err:") and t not in ("err:traceback",)]
    if errs:
        return "+".join(errs)
    return "+".join(t.replace(" differs", "") for t in tags)


def say_failures(prefix, results, name_of):
    """Last, next to the count: each failed cell's name and first problems, for a log read from
    its end (as CI's excerpt is).  real.py uses it too."""
    for r in results:
        if r["verdict"] == "FAIL":
            say("%s: FAILED %s: %s" % (prefix, name_of(r),
                                       "; ".join(r["problems"][:3]) or "see above"))


def expected_observed(res):
    """A cell's failing steps but those tolerated as a documented upstream race: what pins.json
    expects, or would have to (--record)."""
    raced = {t["step"] for t in res.get("tolerated", [])}
    return {s: t for s, t in res.get("observed", {}).items() if s not in raced}


def print_table(results):
    say("")
    say("%-8s %-6s %-7s %-15s %s" % ("testmon", "python", "steps", "verdict", "notes"))
    say("-" * 78)
    for r in results:
        steps = "%s/%s" % (r.get("passed_steps", "-"), r.get("total_steps", "-"))
        notes = []
        if r.get("launcher"):
            notes.append("launcher %s, %s" % (r["launcher"], r["profile"]))
        if r["verdict"] == "SKIP":
            notes.append("SKIP: %s" % r.get("reason"))
        if r["verdict"] == "bug reproduced":
            groups = {}
            for s, t in sorted(expected_observed(r).items(),
                               key=lambda kv: scenario.STEP_NAMES.index(kv[0])):
                groups.setdefault(short_signature(t), []).append(s)
            notes.append("expected " + "; ".join(
                "%s: %s" % (sig, ",".join(steps)) for sig, steps in groups.items()))
        notes += r.get("notes", [])
        if r["verdict"] == "FAIL":
            notes.append("; ".join(r.get("problems", []))[:300])
        say("%-8s %-6s %-7s %-15s %s" % (r["release"], r["python"], steps, r["verdict"],
                                          " / ".join(notes)))


def record_expectations(results):
    """Print the observed signatures in pins.json form (for --record)."""
    by_rel = {}
    by_launch = {}
    for r in results:
        if r["verdict"] == "SKIP":
            continue
        if r.get("launcher"):  # launchers.json form: <step>@<profile>, the same for every launcher
            obs = by_launch.setdefault(r["release"], {})
            for s, t in expected_observed(r).items():
                if obs.setdefault("%s@%s" % (s, r["profile"]), t) != t:
                    say("e2e: launchers disagree at %s %s: %s" % (r["release"], s, t))
            continue
        by_rel.setdefault(r["release"], {})[r["python"]] = expected_observed(r)
    out = {}
    for rel, per_py in by_rel.items():
        steps = set()
        for obs in per_py.values():
            steps |= set(obs)
        exp = {}
        for s in sorted(steps, key=scenario.STEP_NAMES.index):
            vals = {py: obs.get(s, []) for py, obs in per_py.items()}
            uniq = {json.dumps(v) for v in vals.values()}
            if len(uniq) == 1 and len(per_py) > 1:
                exp[s] = next(iter(vals.values()))
            else:
                for py, v in vals.items():
                    if v:
                        exp["%s@%s" % (s, py)] = v
        out[rel] = exp
    say(json.dumps(out, indent=1, sort_keys=False))
    if by_launch:
        say("launchers.json:")
        say(json.dumps(by_launch, indent=1, sort_keys=True))


# ------------------------------------------------------------------ main
def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--testmon", default=os.environ.get("TESTMON", ""),
                    help="comma-separated releases (default: all in pins)")
    ap.add_argument("--python", default=os.environ.get("PYTHON", ""),
                    help="comma-separated X.Y versions or interpreter paths (filter + hint)")
    ap.add_argument("--shim", default=os.environ.get("SHIM", "on") or "on",
                    choices=["on", "off", "wheel", "wheel-off"],
                    help="wheel: no LD_PRELOAD; the venvs have --wheel installed, whose pytest "
                         "plugin brings the library into the xdist runs (the serial runs get "
                         "-p no:testmon_shim); wheel-off: the same venvs, both runs with "
                         "-p no:testmon_shim (a negative control: pins' 'off' expectations)")
    ap.add_argument("--target", default=os.environ.get("TARGET") or "host",
                    choices=["host", "aarch64"],
                    help="where the cells' interpreters run: aarch64 is Debian's arm64 CPython "
                         "emulated in the sysroot of tests/aarch64/sysroot.sh (venvs and work "
                         "dirs inside it; results in BUILD/e2e-aarch64-results.json)")
    ap.add_argument("--wheel", default=os.environ.get("WHEEL", ""),
                    help="the testmon-shim wheel for --shim wheel (its own venvs, whl-*)")
    ap.add_argument("--shim-lib", default=os.environ.get("SHIM_LIB", ""),
                    help="path of libtestmon_shim.so (default: $REPO/build/libtestmon_shim.so)")
    ap.add_argument("--preload-first", default=os.environ.get("SHIM_PRELOAD_FIRST", ""),
                    help="libraries (colon-separated) preloaded before the shim in the xdist "
                         "runs, e.g. the sanitizer runtime of a sanitized shim "
                         "(default: $SHIM_PRELOAD_FIRST)")
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("JOBS") or 2))
    ap.add_argument("--pins", default=os.path.join(HERE, "pins.json"))
    ap.add_argument("--launchers", default=os.environ.get("LAUNCHERS") or "all",
                    choices=["all", "none", "only"],
                    help="the launcher cells of launchers.json (pytest.main() from a script, "
                         "_jb_pytest_runner.py, python -c): with the others, none, or only them")
    ap.add_argument("--launch", default=os.path.join(HERE, "launchers.json"))
    ap.add_argument("--companions", default=os.environ.get("COMPANIONS") or "all",
                    choices=["all", "none", "only"],
                    help="the companion cells of companions.json (a second SQLite in the test "
                         "processes, another sqlite3 module): with the others, none, or only "
                         "them")
    ap.add_argument("--companion", action="append", default=[],
                    help="only this companion of companions.json (repeatable; default: all)")
    ap.add_argument("--companions-file", default=os.path.join(HERE, "companions.json"))
    ap.add_argument("--build", default=os.environ.get("BUILD") or "build",
                    help="build dir (relative to the repo unless absolute)")
    ap.add_argument("--venvs", default=os.path.join(REPO, ".venvs"))
    ap.add_argument("--results", default="",
                    help="the results file, in the build dir unless absolute (default: "
                         "e2e-results.json, e2e-<target>-results.json for another target)")
    ap.add_argument("--steps", default=os.environ.get("STEPS", ""),
                    help="comma-separated step names (debugging; fresh always runs)")
    ap.add_argument("--keep-work", action="store_true")
    ap.add_argument("--sequential-copies", action="store_true",
                    help="run the serial and the xdist copy one after the other")
    ap.add_argument("--expect-bug", action="store_true",
                    help="a negative control: every cell must show the upstream bug its pins "
                         "describe ('bug reproduced'); a cell that merely agrees fails")
    ap.add_argument("--record", action="store_true",
                    help="also print the observed failure signatures in pins.json form")
    ap.add_argument("-v", "--verbose", action="store_true",
                    default=bool(os.environ.get("E2E_VERBOSE")))
    return ap.parse_args(argv)


def main(argv=None):
    a = parse_args(argv)
    t_start = time.time()
    pins = load_pins(a.pins)
    build = a.build if os.path.isabs(a.build) else os.path.join(REPO, a.build)
    shim_lib = os.path.abspath(a.shim_lib or os.path.join(build, "libtestmon_shim.so"))
    if a.shim == "on" and not os.path.exists(shim_lib):
        say("e2e: %s does not exist (build it with `make`, or run with SHIM=off)" % shim_lib)
        return 2
    preload_first = [os.path.abspath(p) for p in split_preload(a.preload_first)]
    for p in preload_first:
        if not os.path.exists(p):
            say("e2e: --preload-first/SHIM_PRELOAD_FIRST: %s does not exist" % p)
            return 2
    if a.shim in ("wheel", "wheel-off") and not os.path.isfile(a.wheel):
        say("e2e: --shim wheel needs --wheel PATH of a built wheel (make wheel); got %r" % a.wheel)
        return 2
    releases = [r.strip() for r in a.testmon.split(",") if r.strip()] or list(pins["releases"])
    for r in releases:
        if r not in pins["releases"]:
            say("e2e: testmon %s is not in %s (known: %s)" % (r, a.pins, ", ".join(pins["releases"])))
            return 2
    explicit = {}
    ver_filter = []
    for item in [p.strip() for p in a.python.split(",") if p.strip()]:
        if not re.match(r"^(%s)?\d+\.\d+$" % envs.STATIC_PREFIX, item):  # a path, not X.Y
            exe = item if os.sep in item else shutil.which(item)
            pr = envs._probe(exe) if exe else None
            if not pr:
                say("e2e: PYTHON=%s is not a working interpreter" % item)
                return 2
            explicit.setdefault(pr[0], []).append(exe)
            ver_filter.append(pr[0])
        else:
            ver_filter.append(item)
    only_extra = a.launchers == "only" or a.companions == "only"
    cells = [] if only_extra else [
        Cell(r, v, pins["releases"][r]["profile"]) for r in releases
        for v in pins["releases"][r]["pythons"] if not ver_filter or v in ver_filter]
    launch = load_pins(a.launch)
    companions = load_pins(a.companions_file)
    if a.companions != "none" and a.launchers != "only" and (
            not ver_filter or companions["python"] in ver_filter):
        for name in a.companion:
            if name not in companions["companions"]:
                say("e2e: --companion %s is not in %s (known: %s)" % (
                    name, a.companions_file, ", ".join(companions["companions"])))
                return 2
        cells += [Cell(r, companions["python"], prof, companion=name)
                  for name, comp in companions["companions"].items()
                  if not a.companion or name in a.companion
                  for r, prof in comp["releases"].items() if r in releases]
    if (a.launchers != "none" and a.companions != "only"
            and (not ver_filter or launch["python"] in ver_filter)):
        cells += [Cell(r, launch["python"], prof, name) for r in releases
                  if r in launch["cells"] for prof in launch["cells"][r]["profiles"]
                  for name in launch["launchers"]]
    if not cells:
        say("e2e: no cell matches TESTMON=%s PYTHON=%s" % (a.testmon, a.python))
        return 2
    needed = set()
    for c in cells:
        needed.add(c.ver)
        p = pins["releases"][c.release]["partner"].get(c.ver)
        if p and not c.launcher and not c.companion:  # those do not change interpreters
            needed.add(p)
    target = envs.Target(a.target)
    why = target.prepare()
    if why:
        say("e2e: the %s target cannot be had: %s" % (a.target, why))
        return 2
    if target.name != "host" and a.venvs == os.path.join(REPO, ".venvs"):
        a.venvs = target.under(a.venvs, "venvs")
    pythons = {v: target.find_python(v, explicit) for v in sorted(needed)}
    for v, (exe, how) in sorted(pythons.items()):
        if exe:
            say("e2e: python%s = %s (%s)" % (v, exe, how))
        else:
            say("SKIP: %s" % how)
    # venvs (own + partner if a step uses it), created in parallel, each once
    wanted_steps = set(s for s in a.steps.split(",") if s)
    partner = not wanted_steps or any(s.python == "partner" and (s.name in wanted_steps or any(
        s.name in t.needs for t in scenario.STEPS if t.name in wanted_steps))
        for s in scenario.STEPS)
    venv_jobs = set()
    for c in cells:
        if pythons[c.ver][0]:
            venv_jobs.add(c.venv_job)
            p = pins["releases"][c.release]["partner"].get(c.ver)
            if (partner and p and pythons.get(p, (None,))[0] and not c.launcher
                    and not c.companion):
                venv_jobs.add((c.release, p, c.profile, None))
    venvs = {}

    def mk(job):
        rel, v, profile, companion = job
        spec = pins["releases"][rel]
        pk = pins["profiles"][profile] + spec["packages"]
        if companion:
            pk = pk + companions["companions"][companion]["packages"]
        prefix = "tm"
        if a.shim in ("wheel", "wheel-off"):  # the wheel's path names its content
            pk, prefix = pk + [os.path.abspath(a.wheel)], "whl-"
        try:
            return job, envs.ensure_venv(a.venvs, rel, v, pythons[v][0], pk, log=say,
                                         prefix=prefix, target=target)
        except Exception as e:  # reported per cell
            return job, e
    t_v = time.time()
    with concurrent.futures.ThreadPoolExecutor(max(1, min(4, a.jobs * 2))) as ex:
        for job, v in ex.map(mk, sorted(venv_jobs, key=lambda j: tuple(x or "" for x in j))):
            venvs[job] = v
            if isinstance(v, Exception):
                say("e2e: venv for testmon %s on %s failed: %s" % (job[0], job[1], v))
    say("e2e: %d venvs ready in %.0f s; shim %s%s; %d cells, jobs=%d" % (
        len(venvs), time.time() - t_v, a.shim,
        " (%s)" % ":".join(preload_first + [shim_lib]) if a.shim == "on" else "",
        len(cells), a.jobs))
    workroot = target.under(os.path.join(build, "e2e-work"), "e2e-work")
    if a.results:  # runs that keep their own results may run at once: their own work dirs too
        workroot = os.path.join(workroot, os.path.splitext(os.path.basename(a.results))[0])
    os.makedirs(workroot, exist_ok=True)
    ctx = {"pins": pins, "pythons": pythons, "venvs": venvs, "workroot": workroot,
           "mode": a.shim, "shim_lib": shim_lib, "preload_first": preload_first,
           "launch": launch, "companions": companions, "target": target,
           "timeout": pins.get("timeout_seconds", 120),
           "keep_work": a.keep_work, "verbose": a.verbose,
           "steps": [s for s in a.steps.split(",") if s],
           "parallel_copies": not a.sequential_copies}
    results = [None] * len(cells)

    def one(i):
        c = cells[i]
        t0 = time.time()
        try:
            r = run_cell(c, ctx)
        except Exception as e:  # a crash of the runner is a cell failure, never a pass
            import traceback
            r = {"release": c.release, "python": c.ver, "verdict": "FAIL", "steps": [],
                 "notes": [], "problems": ["runner error: %r" % e],
                 "traceback": traceback.format_exc()}
            say(r["traceback"])
        if a.expect_bug and r["verdict"] == "pass":
            r["verdict"] = "FAIL"
            r["problems"].append("--expect-bug: the upstream bug was not reproduced; a negative "
                                 "control that agrees proves nothing")
        r["seconds"] = round(time.time() - t0, 1)
        say("e2e: %-16s %-15s %s/%s steps  %.0f s%s" % (
            c.name, r["verdict"], r.get("passed_steps", "-"),
            r.get("total_steps", "-"), r["seconds"],
            "".join("  (%s)" % race_note(t) for t in r.get("tolerated", []))))
        return i, r
    with concurrent.futures.ThreadPoolExecutor(max(1, a.jobs)) as ex:
        for i, r in ex.map(one, range(len(cells))):
            results[i] = r
    for r in results:
        if r["verdict"] == "FAIL":
            print_failure_details(r)
    print_table(results)
    if a.record:
        record_expectations(results)
    n_pass = sum(1 for r in results if r["verdict"] in ("pass", "bug reproduced"))
    n_fail = sum(1 for r in results if r["verdict"] == "FAIL")
    n_skip = sum(1 for r in results if r["verdict"] == "SKIP")
    out = {"shim": a.shim, "shim_lib": shim_lib if a.shim == "on" else None,
           "preload_first": preload_first if a.shim == "on" else None,
           "seconds": round(time.time() - t_start, 1), "jobs": a.jobs,
           "pythons": {v: p[0] for v, p in pythons.items()},
           "summary": {"passed": n_pass, "failed": n_fail, "skipped": n_skip},
           "cells": results}
    out["target"] = target.name
    results_path = os.path.join(build, a.results or (
        "e2e-results.json" if target.name == "host" else "e2e-%s-results.json" % target.name))
    with open(results_path, "w") as f:
        json.dump(out, f, indent=1, sort_keys=False)
    say("e2e: %.0f s, results in %s" % (time.time() - t_start, results_path))
    say_failures("e2e", results, lambda r: "%s on %s%s" % (
        r["release"], r["python"],
        " (launcher %s, %s)" % (r["launcher"], r["profile"]) if r.get("launcher") else ""))
    line = "%d passed, %d failed" % (n_pass, n_fail)
    if n_skip:
        line += ", %d skipped" % n_skip
    say(line)
    return 1 if n_fail else 0


if __name__ == "__main__":
    sys.exit(main())
