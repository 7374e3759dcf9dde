#!/usr/bin/env python3
"""Real-project replay of testmon-shim (`make e2e-real`).

For every cell (testmon release of pins.json x project of real.json) it unpacks each release of
the project's PyPI source distribution in turn over identical working trees and runs
`pytest --testmon` in each: `serial/` (-p no:xdist: the oracle, never with the shim) and
`xdist/` (-n 2, with the shim preloaded unless --shim off), concurrently.  Midway a fake
installed distribution appears (a dependency change); the last step reruns the last release
unchanged.

Agreement, at every step: the same test ids executed with the same outcomes, the same exit
status, no error pattern in the xdist output, and the same state in the database (tests,
environments, failure flags: oracle.split_dump).  The fingerprint tables are not part of it:
how many of their rows differ from the serial run's is reported.  Wherever the xdist run
differed in anything, fingerprints included, `noise/` runs the serial step again from the state
the serial copy had before it, and the same figures are reported for serial against serial (the
noise floor).  Policy after a disagreeing step, as in run.py: the xdist copy's database is
replaced by the serial copy's.

Usage: `python3 tests/e2e/real.py --help` and tests/e2e/README.md.  Stdlib only, Python 3.8+.
"""
import argparse
import concurrent.futures
import json
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback
from typing import Any, Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import envs  # noqa: E402
import oracle  # noqa: E402
import run  # noqa: E402
import scenario  # noqa: E402

say = run.say
BASE_MTIME = 1700000000
# Names a release never overwrites or deletes in a working tree: testmon's and pytest's files.
KEPT_PREFIXES = (".testmondata", ".pytest_cache", ".testmon-shim", "__pycache__")
COPIES = ("serial", "xdist", "noise")
RERUN = "rerun"


# ------------------------------------------------------------------ source distributions
def read_sdist(path: str) -> Dict[str, bytes]:
    """The regular files of a source distribution, by path below its top directory."""
    files = {}  # type: Dict[str, bytes]
    with tarfile.open(path) as t:
        for m in t.getmembers():
            if not m.isfile():
                continue
            parts = m.name.split("/")
            if m.name.startswith("/") or ".." in parts or len(parts) < 2 or not parts[-1]:
                raise ValueError("%s: unsafe or top-level member %r" % (path, m.name))
            f = t.extractfile(m)
            if f is None:
                raise ValueError("%s: cannot read member %r" % (path, m.name))
            files["/".join(parts[1:])] = f.read()
    return files


def is_kept(rel: str) -> bool:
    return any(part.startswith(KEPT_PREFIXES) for part in rel.split("/"))


def plan_overlay(current: Dict[str, bytes], new: Dict[str, bytes]) -> Tuple[List[str], List[str]]:
    """(files to write, files to delete) that turn a working tree into a release: the release's
    files whose content differs or that are missing, and the tree's files the release lacks
    (never testmon's or pytest's own files)."""
    writes = sorted(r for r, data in new.items() if current.get(r) != data and not is_kept(r))
    deletes = sorted(r for r in current if r not in new and not is_kept(r))
    return writes, deletes


def tree_files(root: str) -> Dict[str, bytes]:
    out = {}  # type: Dict[str, bytes]
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(KEPT_PREFIXES)]
        for fn in filenames:
            rel = os.path.relpath(os.path.join(dirpath, fn), root).replace(os.sep, "/")
            if not is_kept(rel):
                with open(os.path.join(dirpath, fn), "rb") as f:
                    out[rel] = f.read()
    return out


def apply_release(copies: List[str], files: Dict[str, bytes], mtime: int) -> int:
    """Unpack a release over every copy (identically, with fixed mtimes); returns the number
    of files written or deleted in the first copy."""
    changed = 0
    for i, root in enumerate(copies):
        writes, deletes = plan_overlay(tree_files(root), files)
        for rel in writes:
            p = os.path.join(root, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(files[rel])
            os.utime(p, (mtime, mtime))
        for rel in deletes:
            os.remove(os.path.join(root, rel))
        if i == 0:
            changed = len(writes) + len(deletes)
    return changed


def find_sdist(d: str) -> List[str]:
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith((".tar.gz", ".tgz")))


def fetch_sdist(cache: str, project: str, version: str, timeout: int = 600) -> str:
    """The cached source distribution of project==version, downloaded once with pip into
    CACHE/<project>/<version>/ (a temporary dir renamed into place, so never half there)."""
    dest = os.path.join(cache, project, version)
    if os.path.isdir(dest):
        found = find_sdist(dest)
        if len(found) == 1:
            return found[0]
        raise RuntimeError("%s holds %d source distributions, expected 1: remove it" %
                           (dest, len(found)))
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".download-", dir=os.path.dirname(dest))
    try:
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "PYTHONHOME", "LD_PRELOAD", "PIP_REQUIRE_VIRTUALENV")}
        cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q",
               "--no-deps", "--no-binary", project, "-d", tmp, "%s==%s" % (project, version)]
        try:
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               universal_newlines=True, timeout=timeout, env=env,
                               stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise RuntimeError("pip download %s==%s took more than %d s" % (project, version,
                                                                              timeout))
        if r.returncode != 0:
            tail = (r.stdout.strip().splitlines() or ["(no output)"])[-1]
            raise RuntimeError("pip download %s==%s failed: %s" % (project, version, tail))
        found = find_sdist(tmp)
        if len(found) != 1:
            raise RuntimeError("pip download %s==%s gave %d source distributions, expected 1" %
                               (project, version, len(found)))
        try:
            os.rename(tmp, dest)
        except OSError:  # another run put it there first
            if not os.path.isdir(dest):
                raise
        return find_sdist(dest)[0]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------ judging
def step_record(name: str, runs: Dict[str, Dict[str, Any]], dumps: Dict[str, Dict[str, Any]],
                patterns: Dict[str, str]) -> Dict[str, Any]:
    """Compare one step's runs (and database dumps) of the copies with the serial one.

    runs/dumps: by copy name ("serial", "xdist", optionally "noise"); a run has rc, results,
    output, timed_out.  Returns the step's record: oracle problems (the serial run itself is
    unusable), and per other copy its disagreement tags (oracle.compare_runs' plus "db differs"
    for the state and "integrity_check failed"), the state differences and the fingerprint rows
    differing (count, total)."""
    rec = {"name": name, "oracle_problems": [], "copies": {}}  # type: Dict[str, Any]
    s_state, s_fps = oracle.split_dump(dumps["serial"])
    if dumps["serial"].get("exists") and dumps["serial"].get("integrity") != "ok":
        rec["oracle_problems"].append("serial integrity_check: %s" %
                                      dumps["serial"].get("integrity"))
    for kind in runs:
        if kind == "serial":
            continue
        oprob, tags = oracle.compare_runs(runs["serial"], runs[kind], patterns)
        if kind == "xdist":
            rec["oracle_problems"].extend(oprob)
        state, fps = oracle.split_dump(dumps[kind])
        state_diffs = oracle.compare_dumps(s_state, state, names=("serial", kind))
        if state_diffs:
            tags.append("db differs")
        if dumps[kind].get("exists") and dumps[kind].get("integrity") != "ok":
            tags.append("integrity_check failed")
        rec["copies"][kind] = {
            "tags": sorted(set(tags)), "db_diffs": state_diffs,
            "fingerprint_rows": list(oracle.count_row_diffs(s_fps, fps)),
            "selection_diff": oracle.diff_results(runs["serial"].get("results"),
                                                  runs[kind].get("results")),
        }
    return rec


def summarise_fingerprints(steps: List[Dict[str, Any]], kind: str) -> Dict[str, int]:
    """Fingerprint rows differing from serial, over the steps of a cell where that copy ran: the
    sum, the rows compared, the steps where any differ and the steps measured."""
    out = {"rows": 0, "total": 0, "steps": 0, "measured": 0}
    for st in steps:
        c = st.get("copies", {}).get(kind)
        if not c:
            continue
        differ, total = c["fingerprint_rows"]
        out["rows"] += differ
        out["total"] += total
        out["steps"] += 1 if differ else 0
        out["measured"] += 1
    return out


def off_verdict(step_tags: List[Tuple[str, List[str]]], problems: List[str]) -> str:
    """SHIM=off records what upstream does: only a broken oracle or runner fails the cell."""
    if problems:
        return "FAIL"
    return "upstream differs" if any(t for _, t in step_tags) else "agrees"


def run_summary(r: Dict[str, Any], keep_results: bool) -> Dict[str, Any]:
    """What the results file keeps of a run: counts of outcomes, and every test id and outcome
    only where some copy disagreed (a real suite has hundreds of tests per step)."""
    results = r.get("results")
    counts = {}  # type: Dict[str, int]
    for outcome in (results or {}).values():
        counts[outcome] = counts.get(outcome, 0) + 1
    out = {"rc": r["rc"], "timed_out": r["timed_out"], "seconds": r["seconds"],
           "errors": r["errors"], "ran": None if results is None else len(results),
           "outcomes": counts}
    if keep_results:
        out["results"] = results
    return out


# ------------------------------------------------------------------ cells
class Cell:
    def __init__(self, release: str, project: str) -> None:
        self.release = release
        self.project = project
        self.name = "%s-%s" % (release, project)


def pytest_env(fakesite: str, venv: str, copy_dir: str, pythonpath: List[str],
               ctx: Dict[str, Any], with_shim: bool) -> Dict[str, str]:
    env = run.base_env(fakesite, venv)
    # unlike the synthetic project, real suites are large: each process would compile their
    # sources and pytest would rewrite their test modules again (about 1.5 s of CPU per -n 2 run
    # of more-itertools); the caches are invalidated by the fixed, per-step mtimes as usual
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join([fakesite] + [os.path.join(copy_dir, p)
                                                      for p in pythonpath])
    run.set_preload(env, ctx["shim_lib"], ctx["preload_first"], with_shim)
    return env


RELEASE_STEPS = "*"


def expand_expected(expected: Dict[str, List[str]], releases: List[str]) -> Dict[str, List[str]]:
    """A cell's expectations by step: the key "*" stands for every release step of the project
    (not the rerun); a step named explicitly keeps its own."""
    out = {k: v for k, v in expected.items() if k != RELEASE_STEPS}
    if RELEASE_STEPS in expected:
        for r in releases:
            out.setdefault(r, expected[RELEASE_STEPS])
    return out


def needs_noise(copy_rec: Dict[str, Any]) -> bool:
    """A second serial run is worth its cost where the xdist run differed from the serial one in
    anything, fingerprints included: only there is there a difference to set the noise beside."""
    return bool(copy_rec["tags"]) or copy_rec["fingerprint_rows"][0] > 0


def save_state(src: str, dst: str) -> None:
    """Copy a working tree's testmon database and pytest cache to dst (emptied first)."""
    shutil.rmtree(dst, ignore_errors=True)
    os.makedirs(dst)
    for f in run.db_files(src):
        if os.path.exists(f):
            shutil.copy2(f, dst)
    if os.path.isdir(os.path.join(src, ".pytest_cache")):
        shutil.copytree(os.path.join(src, ".pytest_cache"), os.path.join(dst, ".pytest_cache"))


def restore_state(saved: str, dst: str) -> None:
    for f in run.db_files(dst):
        if os.path.exists(f):
            os.remove(f)
    shutil.rmtree(os.path.join(dst, ".pytest_cache"), ignore_errors=True)
    for e in os.listdir(saved):
        if e == ".pytest_cache":
            shutil.copytree(os.path.join(saved, e), os.path.join(dst, e))
        else:
            shutil.copy2(os.path.join(saved, e), dst)


def run_cell(cell: Cell, ctx: Dict[str, Any]) -> Dict[str, Any]:
    data = ctx["data"]
    proj = data["projects"][cell.project]
    res = {"release": cell.release, "project": cell.project,
           "held_out": bool(proj.get("held_out")), "steps": [], "problems": []}
    venv = ctx["venvs"].get(cell.release)
    if not isinstance(venv, str):
        res.update(verdict="FAIL", problems=["venv: %s" % venv])
        return res
    sdists = ctx["sdists"].get(cell.project)
    if not isinstance(sdists, dict):
        res.update(verdict="FAIL", problems=["source distributions: %s" % sdists])
        return res
    work = os.path.join(ctx["workroot"], cell.name)
    shutil.rmtree(work, ignore_errors=True)
    kinds = [k for k in COPIES if k != "noise" or ctx["noise"]]
    dirs = {k: os.path.join(work, k) for k in kinds}
    fakesite = os.path.join(work, "fakesite")
    logs = os.path.join(work, "logs")
    saved = os.path.join(work, "serial-before-step")
    for d in list(dirs.values()) + [fakesite, logs]:
        os.makedirs(d)
    world = scenario.World([dirs[k] for k in kinds], fakesite)
    patterns = ctx["pins"]["error_patterns"]
    expected = expand_expected(data.get("expected", {}).get(ctx["mode"], {}).get(cell.release, {}),
                               proj["releases"])
    step_tags = []  # type: List[Tuple[str, List[str]]]
    oracle_problems = []  # type: List[str]

    def job(i: int, name: str, kind: str) -> Tuple[Tuple[Any, ...], str]:
        junit = os.path.join(logs, "%02d-%s-%s.xml" % (i, name, kind))
        extra = ["-n", "2"] if kind == "xdist" else ["-p", "no:xdist"]
        # --rootdir: a release without pytest configuration would otherwise take its rootdir
        # (and so testmon's datafile) from a setup.py or pyproject.toml above the working tree,
        # such as this repository's, shared by every copy and cell
        args = (["--testmon", "-p", "no:randomly", "-rfE", "--rootdir=" + dirs[kind]] +
                list(proj.get("args", [])) + extra + ["--junitxml=" + junit])
        env = pytest_env(fakesite, venv, dirs[kind], proj.get("pythonpath", []), ctx,
                         kind == "xdist" and ctx["mode"] == "on")
        log = os.path.join(logs, "%02d-%s-%s.log" % (i, name, kind))
        return (venv, dirs[kind], args, env, ctx["timeout"], log), junit

    def finish(r: Dict[str, Any], junit: str) -> Dict[str, Any]:
        r["results"] = oracle.parse_junit(junit)
        r["errors"] = oracle.find_errors(r["output"], patterns)
        return r

    for i, name in enumerate(list(proj["releases"]) + [RERUN], 1):
        changed = 0
        if name != RERUN:
            changed = apply_release([dirs[k] for k in kinds], read_sdist(sdists[name]),
                                    BASE_MTIME + 10 * i)
        if name == proj.get("dep_change_at"):
            world.dist_set(data["dependency"]["name"], data["dependency"]["version"])
        if ctx["noise"]:
            save_state(dirs["serial"], saved)
        jobs = {k: job(i, name, k) for k in ("serial", "xdist")}
        with concurrent.futures.ThreadPoolExecutor(len(jobs)) as ex:
            futs = {k: ex.submit(run.run_pytest, *v[0]) for k, v in jobs.items()}
            runs = {k: finish(f.result(), jobs[k][1]) for k, f in futs.items()}
        dumps = {k: oracle.dump_db(os.path.join(dirs[k], ".testmondata")) for k in runs}
        rec = step_record(name, runs, dumps, patterns)
        if ctx["noise"] and needs_noise(rec["copies"]["xdist"]):
            # the same serial run again, from the state the serial copy had before this step
            restore_state(saved, dirs["noise"])
            v, junit = job(i, name, "noise")
            runs["noise"] = finish(run.run_pytest(*v), junit)
            dumps["noise"] = oracle.dump_db(os.path.join(dirs["noise"], ".testmondata"))
            rec["copies"]["noise"] = step_record(
                name, {"serial": runs["serial"], "noise": runs["noise"]},
                {"serial": dumps["serial"], "noise": dumps["noise"]}, patterns)["copies"]["noise"]
        rec["files_changed"] = changed
        rec["dependency_change"] = name == proj.get("dep_change_at")
        disagree = any(c["tags"] for c in rec["copies"].values())
        rec["runs"] = {k: run_summary(r, keep_results=disagree) for k, r in runs.items()}
        rec["expected"] = sorted(expected.get(name, []))
        for p in rec["oracle_problems"]:
            oracle_problems.append("%s: oracle broken: %s" % (name, p))
        x = rec["copies"]["xdist"]
        if x["tags"] or rec["oracle_problems"]:
            run.resync_db(dirs["serial"], dirs["xdist"])
            x["resynced"] = True
        for c, kind in ((c, k) for k, c in rec["copies"].items() if c["tags"]):
            c["output_tail"] = runs[kind]["output"].splitlines()[-40:]
        step_tags.append((name, x["tags"]))
        res["steps"].append(rec)
        if ctx["verbose"]:
            n = rec["copies"].get("noise")
            say("  %s %-7s %3d files  serial rc=%s ran=%d  xdist rc=%s ran=%d %s fp %d/%d%s" % (
                cell.name, name, changed, runs["serial"]["rc"],
                len(runs["serial"]["results"] or {}), runs["xdist"]["rc"],
                len(runs["xdist"]["results"] or {}), x["tags"] or "ok",
                x["fingerprint_rows"][0], x["fingerprint_rows"][1],
                "  noise %s fp %d" % (n["tags"] or "ok", n["fingerprint_rows"][0]) if n else ""))
    if ctx["mode"] == "on":
        verdict, problems, _ = oracle.cell_verdict(step_tags, expected, oracle_problems)
    else:
        problems = oracle_problems
        verdict = off_verdict(step_tags, problems)
    res.update(verdict=verdict, problems=problems,
               passed_steps=sum(1 for _, t in step_tags if not t), total_steps=len(step_tags),
               observed={s: t for s, t in step_tags if t},
               fingerprints={k: summarise_fingerprints(res["steps"], k)
                             for k in kinds if k != "serial"})
    res["noise_steps"] = {st["name"]: st["copies"]["noise"]["tags"] for st in res["steps"]
                          if st["copies"].get("noise", {}).get("tags")}
    if verdict == "FAIL" or ctx["keep_work"]:
        res["work_dir"] = work
    else:
        shutil.rmtree(work, ignore_errors=True)
    return res


# ------------------------------------------------------------------ reporting
def fp_figure(f: Optional[Dict[str, int]]) -> str:
    if not f:
        return "-"
    if not f["measured"]:
        return "not needed"
    return "%d/%d rows at %d of %d steps" % (f["rows"], f["total"], f["steps"], f["measured"])


def print_failure_details(res: Dict[str, Any]) -> None:
    say("")
    say("=== FAIL testmon %s on %s ===" % (res["release"], res["project"]))
    for p in res["problems"]:
        say("  problem: %s" % p)
    for st in res.get("steps", []):
        c = st["copies"].get("xdist", {})
        if not c.get("tags") and not st.get("oracle_problems"):
            continue
        if st.get("expected") and st["expected"] == c.get("tags"):
            continue
        say("  -- step %s: tags=%s expected=%s" % (st["name"], c.get("tags"), st.get("expected")))
        for kind in ("serial", "xdist"):
            r = st["runs"][kind]
            say("     %-6s rc=%s ran=%s %s" % (kind, r["rc"], r["ran"], r["outcomes"]))
        for line in c.get("selection_diff", [])[:20]:
            say("   " + line)
        for line in c.get("db_diffs", [])[:12]:
            say("     db: " + line)
        for line in st.get("oracle_problems", []):
            say("     oracle: " + line)
        for line in c.get("output_tail", [])[-20:]:
            say("       | " + line)
    if res.get("work_dir"):
        say("  work dir kept: %s" % res["work_dir"])


def print_table(results: List[Dict[str, Any]], noise: bool) -> None:
    say("")
    say("fingerprint rows differing from the serial run: xdist (the figure of the shim's run) "
        "and noise (a second serial run)")
    say("%-8s %-15s %-6s %-17s %-28s %s" % ("testmon", "project", "steps", "verdict",
                                            "fingerprints xdist", "noise" if noise else ""))
    say("-" * 100)
    for r in results:
        steps = "%s/%s" % (r.get("passed_steps", "-"), r.get("total_steps", "-"))
        fps = r.get("fingerprints", {})
        extra = fp_figure(fps.get("noise")) if noise else ""
        if r.get("noise_steps"):
            extra += "; serial runs disagree at %s" % ", ".join(sorted(r["noise_steps"]))
        notes = []
        if r["verdict"] == "upstream differs":
            notes.append("at " + ", ".join("%s (%s)" % (s, run.short_signature(t))
                                          for s, t in r.get("observed", {}).items()))
        if r["verdict"] == "FAIL":
            notes.append("; ".join(r.get("problems", []))[:300])
        say("%-8s %-15s %-6s %-17s %-28s %s %s" % (
            r["release"], r["project"] + ("*" if r.get("held_out") else ""), steps,
            r["verdict"], fp_figure(fps.get("xdist")), extra, " / ".join(notes)))
    if any(r.get("held_out") for r in results):
        say("* held out: not used while the runner was written (an independent check)")


def noise_floor(results: List[Dict[str, Any]]) -> Dict[str, Dict[str, int]]:
    """Per project, over its cells: fingerprint rows differing (xdist and noise) and the steps
    at which two serial runs disagreed in anything else."""
    out = {}  # type: Dict[str, Dict[str, int]]
    for r in results:
        p = out.setdefault(r["project"], {"xdist_rows": 0, "noise_rows": 0, "rows": 0,
                                          "noise_disagreeing_steps": 0, "steps": 0})
        fps = r.get("fingerprints", {})
        p["xdist_rows"] += fps.get("xdist", {}).get("rows", 0)
        p["noise_rows"] += fps.get("noise", {}).get("rows", 0)
        p["rows"] += fps.get("xdist", {}).get("total", 0)
        p["noise_disagreeing_steps"] += len(r.get("noise_steps", {}))
        p["steps"] += r.get("total_steps", 0) or 0
    return out


# ------------------------------------------------------------------ main
def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--testmon", default=os.environ.get("TESTMON", ""),
                    help="comma-separated testmon releases (default: all of pins.json)")
    ap.add_argument("--projects", default=os.environ.get("PROJECTS", ""),
                    help="comma-separated projects of real.json (default: those not held "
                         "out; all: every one)")
    ap.add_argument("--shim", default=os.environ.get("SHIM", "on") or "on", choices=["on", "off"])
    ap.add_argument("--noise", default=os.environ.get("NOISE", ""), choices=["", "on", "off"],
                    help="run the second serial copy (default: on with the shim, off without)")
    ap.add_argument("--shim-lib", default=os.environ.get("SHIM_LIB", ""))
    ap.add_argument("--preload-first", default=os.environ.get("SHIM_PRELOAD_FIRST", ""))
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("JOBS") or 2))
    ap.add_argument("--data", default=os.path.join(HERE, "real.json"))
    ap.add_argument("--pins", default=os.path.join(HERE, "pins.json"))
    ap.add_argument("--build", default=os.environ.get("BUILD") or "build")
    ap.add_argument("--cache", default=os.environ.get("E2E_REAL_CACHE") or
                    os.path.join(REPO, ".cache", "e2e-real"),
                    help="where source distributions are kept (default: .cache/e2e-real)")
    ap.add_argument("--keep-work", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true",
                    default=bool(os.environ.get("E2E_VERBOSE")))
    return ap.parse_args(argv)


def select_projects(data: Dict[str, Any], asked: List[str]) -> List[str]:
    """The projects asked for; none: those not held out; "all": every project."""
    if asked == ["all"]:
        return list(data["projects"])
    return asked or [p for p, spec in data["projects"].items() if not spec.get("held_out")]


def results_path(build: str, mode: str) -> str:
    """Where a run's results go: a SHIM=off run does not replace the results with the shim."""
    return os.path.join(build, "e2e-real-results.json" if mode == "on" else
                        "e2e-real-results-off.json")


def _split(value: str) -> List[str]:
    return [x.strip() for x in value.split(",") if x.strip()]


def main(argv: Optional[List[str]] = None) -> int:
    a = parse_args(argv)
    t_start = time.time()
    with open(a.data) as f:
        data = json.load(f)
    pins = run.load_pins(a.pins)
    build = a.build if os.path.isabs(a.build) else os.path.join(REPO, a.build)
    shim_lib = os.path.abspath(a.shim_lib or os.path.join(build, "libtestmon_shim.so"))
    if a.shim == "on" and not os.path.exists(shim_lib):
        say("e2e-real: %s does not exist (build it with `make`, or run with SHIM=off)" % shim_lib)
        return 2
    preload_first = [os.path.abspath(p) for p in run.split_preload(a.preload_first)]
    for p in preload_first:
        if not os.path.exists(p):
            say("e2e-real: SHIM_PRELOAD_FIRST: %s does not exist" % p)
            return 2
    releases = _split(a.testmon) or [r for r in pins["releases"]
                                     if r not in data.get("not_by_default", {})]
    projects = select_projects(data, _split(a.projects))
    for r in releases:
        if r not in pins["releases"]:
            say("e2e-real: testmon %s is not in %s" % (r, a.pins))
            return 2
    for p in projects:
        if p not in data["projects"]:
            say("e2e-real: project %s is not in %s (known: %s)" % (p, a.data,
                                                                  ", ".join(data["projects"])))
            return 2
    noise = (a.noise or ("on" if a.shim == "on" else "off")) == "on"
    ver = data["python"]

    def mk_venv(rel: str) -> Tuple[str, Any]:
        try:
            return rel, envs.ensure_pinned(rel, ver, root=os.path.join(REPO, ".venvs"),
                                           pins_path=a.pins)
        except Exception as e:  # reported per cell
            return rel, e

    def mk_sdist(pv: Tuple[str, str]) -> Tuple[Tuple[str, str], Any]:
        try:
            return pv, fetch_sdist(a.cache, pv[0], pv[1])
        except Exception as e:  # reported per cell
            return pv, e
    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        venvs = dict(ex.map(mk_venv, releases))
        got = dict(ex.map(mk_sdist, [(p, v) for p in projects
                                     for v in data["projects"][p]["releases"]]))
    sdists = {}  # type: Dict[str, Any]
    for (p, v), path in got.items():
        if isinstance(path, Exception) or isinstance(sdists.get(p), Exception):
            sdists[p] = sdists[p] if isinstance(sdists.get(p), Exception) else path
        else:
            sdists.setdefault(p, {})[v] = path
    for k, v in list(venvs.items()) + list(sdists.items()):
        if isinstance(v, Exception):
            say("e2e-real: %s: %s" % (k, v))
    say("e2e-real: %d venvs and the sources of %d projects ready in %.0f s; shim %s; jobs=%d" % (
        len(venvs), len(sdists), time.time() - t0, a.shim, a.jobs))
    workroot = os.path.join(build, "e2e-real-work")
    os.makedirs(workroot, exist_ok=True)
    ctx = {"data": data, "pins": pins, "venvs": venvs, "sdists": sdists, "workroot": workroot,
           "mode": a.shim, "shim_lib": shim_lib, "preload_first": preload_first,
           "timeout": data.get("timeout_seconds", 300), "noise": noise,
           "keep_work": a.keep_work, "verbose": a.verbose}
    # the slowest projects first, so that the last cells running are short ones
    cells = [Cell(r, p) for p in projects for r in releases]
    results = [None] * len(cells)  # type: List[Any]

    def one(i: int) -> Tuple[int, Dict[str, Any]]:
        c = cells[i]
        t1 = time.time()
        try:
            r = run_cell(c, ctx)
        except Exception as e:  # a crash of the runner is a cell failure, never a pass
            r = {"release": c.release, "project": c.project, "verdict": "FAIL", "steps": [],
                 "problems": ["runner error: %r" % e], "traceback": traceback.format_exc()}
            say(r["traceback"])
        r["seconds"] = round(time.time() - t1, 1)
        say("e2e-real: %-22s %-16s %s/%s steps  %.0f s" % (
            c.name, r["verdict"], r.get("passed_steps", "-"), r.get("total_steps", "-"),
            r["seconds"]))
        return i, r
    with concurrent.futures.ThreadPoolExecutor(max(1, a.jobs)) as ex:
        for i, r in ex.map(one, range(len(cells))):
            results[i] = r
    for r in results:
        if r["verdict"] == "FAIL":
            print_failure_details(r)
    print_table(results, noise)
    floor = noise_floor(results)
    for p, f in floor.items():
        say("e2e-real: %s: fingerprint rows differing from serial: xdist %d, serial-vs-serial %s "
            "(of %d); steps where two serial runs disagreed otherwise: %s of %d" % (
                p, f["xdist_rows"], f["noise_rows"] if noise else "not measured", f["rows"],
                f["noise_disagreeing_steps"] if noise else "-", f["steps"]))
    n_fail = sum(1 for r in results if r["verdict"] == "FAIL")
    n_pass = len(results) - n_fail
    out = {"shim": a.shim, "shim_lib": shim_lib if a.shim == "on" else None,
           "noise": noise, "python": ver, "seconds": round(time.time() - t_start, 1),
           "jobs": a.jobs, "finished": time.strftime("%Y-%m-%d %H:%M"),
           "projects": {p: {k: data["projects"][p].get(k) for k in
                            ("why", "releases", "dep_change_at", "held_out")} for p in projects},
           "summary": {"passed": n_pass, "failed": n_fail}, "noise_floor": floor,
           "cells": results}
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    out["cpu_seconds"] = round(ru.ru_utime + ru.ru_stime, 1)
    path = results_path(build, a.shim)
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    say("e2e-real: %.0f s, %.0f s of CPU in its processes (an idle machine's cores are the floor "
        "of the wall time: %.0f s on 2), results in %s" % (time.time() - t_start,
                                                         out["cpu_seconds"],
                                                         out["cpu_seconds"] / 2, path))
    run.say_failures("e2e-real", results, lambda r: "%s on %s" % (r["release"], r["project"]))
    say("%d passed, %d failed" % (n_pass, n_fail))
    return 1 if n_fail else 0


if __name__ == "__main__":
    sys.exit(main())
