#!/usr/bin/env python3
"""Write the compatibility tables of docs/compatibility.md from build/e2e-results.json and
build/e2e-real-results.json, and the aarch64 table from build/aarch64/ (make e2e-aarch64).

  scripts/compat-table.py [RESULTS] [DOC] [REAL_RESULTS] [AARCH64_DIR]

One row per testmon release: the interpreters whose cells passed with the shim, the steps that
agreed with the serial run, and what the same release does without the shim (from the pins
file's expectations, which `make e2e SHIM=off` asserts); then the real-project replay
(`make e2e-real`): the steps that agreed with the shim and, from e2e-real-results-off.json
beside it when `make e2e-real SHIM=off` wrote one, without it.

`make e2e` and `make e2e-real` are separate runs: the columns of a results file that is absent
keep what the table had, and the sources line under the table says so."""
import json
import os
import re
import sys
import time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
results_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "build", "e2e-results.json")
readme_path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "docs", "compatibility.md")
real_path = sys.argv[3] if len(sys.argv) > 3 else os.path.join(root, "build",
                                                                "e2e-real-results.json")
real_off_path = os.path.join(os.path.dirname(real_path), "e2e-real-results-off.json")
pins = json.load(open(os.path.join(root, "tests", "e2e", "pins.json")))
real_data = json.load(open(os.path.join(root, "tests", "e2e", "real.json")))


def load(path, mode, command):
    """A results file of one shim mode, or None (with a note on stderr) if absent."""
    try:
        data = json.load(open(path))
    except (OSError, ValueError) as e:
        print("compat-table: %s: %s; its columns keep what the table had (run `%s`)"
              % (os.path.relpath(path, root), e, command), file=sys.stderr)
        return None
    if data.get("shim") not in ((mode, True) if mode == "on" else (mode,)):
        sys.exit("compat-table: %s is not a run with shim %s" % (path, mode))
    return data


results = load(results_path, "on", "make e2e")
real_on = load(real_path, "on", "make e2e-real")
real_off = load(real_off_path, "off", "make e2e-real SHIM=off")
aarch64_dir = sys.argv[4] if len(sys.argv) > 4 else os.path.join(root, "build", "aarch64")
aarch64_on = load(os.path.join(aarch64_dir, "e2e-wheel.json"), "wheel", "make e2e-aarch64")
if not (results or real_on or real_off or aarch64_on):
    sys.exit("compat-table: no results to write (run `make e2e`, `make e2e-real` or "
             "`make e2e-aarch64` first)")


def vkey(v):
    return tuple(int(x) for x in re.findall(r"\d+", v))


rows = {}
launched = {}
companions = {}
for cell in (results or {}).get("cells", []):
    if cell.get("launcher"):  # pytest.main() cells: a table of their own
        launched.setdefault(cell["launcher"], []).append(cell)
    elif cell.get("companion"):  # another SQLite in the test processes: one too
        companions.setdefault(cell["companion"], []).append(cell)
    else:
        rows.setdefault(cell["release"], []).append(cell)

def synthetic_cells(cells, release):
    cells = sorted(cells, key=lambda c: vkey(c["python"]))
    pys = ", ".join(c["python"] for c in cells)
    verdicts = {c["verdict"] for c in cells}
    on = pins["releases"].get(release, {}).get("expected", {}).get("on", {})
    seen = sorted({s for c in cells for s in (c.get("observed") or {})})
    if verdicts == {"pass"}:
        verdict = "pass"
    elif verdicts <= {"pass", "bug reproduced"} and on and vkey(release) < (1, 4):
        # testmon 1.0-1.3 deactivate in the controller; the shim steps aside (see pins notes)
        verdict = "as upstream (steps aside)"
    elif verdicts <= {"pass", "bug reproduced"} and on:
        # expected with the shim too: upstream behaviour the shim cannot change (pins notes)
        verdict = "pass; as upstream at " + ", ".join(seen)
    else:
        verdict = ", ".join(sorted(verdicts))
    steps = ", ".join("%s/%s" % (c.get("passed_steps", "-"), c.get("total_steps", "-")) for c in cells)
    off = pins["releases"].get(release, {}).get("expected", {}).get("off", {})
    broken = sorted({k.split("@")[0] for k, tags in off.items()
                     if any(t.lstrip("?") not in ("~racy",) for t in tags)})
    upstream = ("fails at: " + ", ".join(broken)) if broken else "agrees with serial"
    return [pys, verdict, steps, upstream]


def real_figure(cells, steps_aside):
    """'pass, 18/18 steps' for one testmon release's real-project cells."""
    if not cells:
        return "not run"
    agreed = sum(c.get("passed_steps", 0) or 0 for c in cells)
    total = sum(c.get("total_steps", 0) or 0 for c in cells)
    verdicts = {c["verdict"] for c in cells}
    if verdicts == {"pass"}:
        verdict = "pass"
    elif verdicts <= {"pass", "bug reproduced"} and steps_aside:
        verdict = "as upstream (steps aside)"
    elif verdicts == {"agrees"}:
        verdict = "agrees with serial"
    elif verdicts <= {"agrees", "upstream differs"}:
        verdict = "differs"
    else:
        verdict = ", ".join(sorted(verdicts))
    return "%s, %d/%d steps" % (verdict, agreed, total)


def old_rows(text):
    """{release: [cells after the release]} of the releases' table in the document (4 or 6 wide)."""
    m = re.search(r"<!-- compat-table:begin -->\n(.*?)\n<!-- compat-table:end -->", text, re.S)
    out = {}
    for line in (m.group(1) if m else "").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] not in ("testmon", "---"):
            out[cells[0]] = cells[1:] + ["not run"] * (6 - len(cells[1:]))
    return out


def by_release(data):
    out = {}
    for cell in (data or {}).get("cells", []):
        out.setdefault(cell["release"], []).append(cell)
    return out


text = open(readme_path).read()
old = old_rows(text)
ron, roff = by_release(real_on), by_release(real_off)
lines = ["| testmon | Python | with the shim | steps agreeing | without the shim (upstream) "
         "| real projects, with the shim | real projects, without |",
         "|---|---|---|---|---|---|---|"]
for release in sorted(set(rows) | set(old) | set(ron) | set(roff), key=vkey):
    if rows and release not in rows:
        continue  # no longer in the matrix
    kept = old.get(release, ["-"] * 4 + ["not run"] * 2)
    first = synthetic_cells(rows[release], release) if rows else kept[:4]
    aside = bool(real_data.get("expected", {}).get("on", {}).get(release))
    on = real_figure(ron.get(release), aside) if real_on else kept[4]
    off = real_figure(roff.get(release), False) if real_off else kept[5]
    lines.append("| %s |" % release + "".join(" %s |" % c for c in first + [on, off]))
lines.append("")
sources = []
for data, path, what, has in ((results, results_path, "the first four columns", rows),
                              (real_on, real_path, "real projects", real_on),
                              (real_off, real_off_path, "real projects without the shim",
                               real_off)):
    rel = os.path.relpath(path, root)
    if has:
        projects = sorted({c["project"] for c in data.get("cells", []) if "project" in c})
        when = data.get("finished") or data.get("started") or ""
        sources.append("%s: `%s`%s%s" % (what, rel, " (%s)" % ", ".join(projects) if projects
                                         else "", ", " + when if when else ""))
    else:
        sources.append("%s: as in the previous table (no `%s`%s)" % (
            what, rel, " with them" if data else ""))
lines.append("Sources: " + "; ".join(sources) + ".")
FLOOR = "Real projects, fingerprint rows differing"
if real_on and real_on.get("noise_floor"):
    lines.append("")
    lines.append(FLOOR + " from the serial run's after each step, summed over all releases: " +
                 "; ".join("%s %d with -n 2 and the shim, %d between two serial runs (of %d)" % (
                     p, f["xdist_rows"], f["noise_rows"], f["rows"])
                     for p, f in sorted(real_on["noise_floor"].items())) + ".")
elif not real_on:
    kept_floor = [line for line in text.splitlines() if line.startswith(FLOOR)]
    lines += [""] + kept_floor[:1] if kept_floor else []
table = "\n".join(lines)

# The launcher cells (tests/e2e/launchers.json): one row per way of starting pytest.
launch = json.load(open(os.path.join(root, "tests", "e2e", "launchers.json")))
LAUNCHER_NAMES = {"script": "`python run_tests.py` (a script calling `pytest.main()`)",
                  "jb": "`python _jb_pytest_runner.py` (PyCharm's runner's name)",
                  "dash_c": "`python -c \"import pytest; pytest.main()\"`"}
ltable = ["| started as | testmon, pytest | with the shim | steps agreeing |"
          " without the shim (upstream) |", "|---|---|---|---|---|"]
for name in launch["launchers"]:
    cells = sorted(launched.get(name, []), key=lambda c: (vkey(c["release"]), c["profile"]))
    if not cells:
        continue
    combos = ", ".join("%s/%s" % (c["release"], c["profile"].replace("pytest", "")) for c in cells)
    verdicts = sorted({c["verdict"] for c in cells})
    steps = ", ".join("%s/%s" % (c.get("passed_steps", "-"), c.get("total_steps", "-"))
                      for c in cells)
    fails = ["%s at %s" % (rel, ", ".join(spec["expected"]["off"]))
             for rel, spec in launch["cells"].items() if spec["expected"]["off"]]
    ltable.append("| %s | %s | %s | %s | fails: %s |" % (
        LAUNCHER_NAMES.get(name, name), combos, ", ".join(verdicts), steps, "; ".join(fails)))
ltable.append("")
ltable.append("Steps: %s (Python %s)." % (", ".join(launch["steps"]), launch["python"]))
ltable = "\n".join(ltable)


# The companion cells (tests/e2e/companions.json): one row per companion.
comp = json.load(open(os.path.join(root, "tests", "e2e", "companions.json")))
ctable = ["| in every test process | testmon | with the shim | steps agreeing |",
          "|---|---|---|---|"]
for name, spec in comp["companions"].items():
    cells = sorted(companions.get(name, []), key=lambda c: vkey(c["release"]))
    if cells:
        ctable.append("| %s: %s | %s | %s | %s |" % (
            name, spec["why"], ", ".join(c["release"] for c in cells),
            ", ".join(sorted({c["verdict"] for c in cells})),
            ", ".join("%s/%s" % (c.get("passed_steps", "-"), c.get("total_steps", "-"))
                      for c in cells)))
ctable.append("")
ctable.append("Steps: %s (Python %s), compared with serial runs that have the same companion."
              % (", ".join(launch["steps"]), comp["python"]))
ctable = "\n".join(ctable)

def counts_of(log):
    """'N passed, N failed' of a suite part's log (its last such line), or None."""
    try:
        found = re.findall(r"(\d+) passed, (\d+) failed", open(log).read())
    except OSError:
        return None
    return "%s passed, %s failed" % found[-1] if found else None


def aarch64_table(data):
    """The aarch64 suite's table (tests/aarch64/README.md): one row per release of the wheel's
    cells, the negative control beside it, then the unit tests and the linked-in SQLite case."""
    off = {}
    for name in sorted(os.listdir(aarch64_dir)):
        if name.startswith("e2e-off-") and name.endswith(".json"):
            for c in json.load(open(os.path.join(aarch64_dir, name))).get("cells", []):
                off[c["release"]] = c
    out = ["| testmon | Python | with the wheel (`pytest -n 2 --testmon`) | steps agreeing "
           "| with `-p no:testmon_shim` (upstream) |", "|---|---|---|---|---|"]
    for c in sorted(data.get("cells", []), key=lambda c: vkey(c["release"])):
        if c.get("companion"):
            continue  # said below the table
        o = off.get(c["release"])
        exp_off = pins["releases"].get(c["release"], {}).get("expected", {}).get("off", {})
        ran = {st["name"] for st in c.get("steps", [])}
        upstream = ("not run" if any(k.split("@")[0] in ran for k in exp_off)
                    else "not run (no upstream bug at these steps)")
        if o:
            seen = [s for s in (o.get("observed") or {})]
            upstream = ("%s at %s" % (o["verdict"], ", ".join(seen)) if seen else o["verdict"])
        out.append("| %s | %s (Debian's arm64) | %s | %s/%s | %s |" % (
            c["release"], c["python"], c["verdict"], c.get("passed_steps", "-"),
            c.get("total_steps", "-"), upstream))
    steps = sorted({s["name"] for c in data.get("cells", []) if not c.get("companion")
                    for s in c.get("steps", [])},
                   key=lambda n: [st["name"] for c in data["cells"] for st in c["steps"]].index(n))
    comps = ["%s with testmon %s: %s, %s/%s steps" % (
        c["companion"], c["release"], c["verdict"], c.get("passed_steps", "-"),
        c.get("total_steps", "-")) for c in data.get("cells", []) if c.get("companion")]
    out.append("")
    if comps:
        out.append("Companion cells (another SQLite in every test process, [Other SQLites in the test processes]"
                   "(#other-sqlites-in-the-test-processes)): %s." % "; ".join(comps))
        out.append("")
    unit = counts_of(os.path.join(aarch64_dir, "unit.log")) or "not run"
    static = counts_of(os.path.join(aarch64_dir, "static.log")) or "not run"
    when = time.strftime("%Y-%m-%d", time.gmtime(
        os.path.getmtime(os.path.join(aarch64_dir, "e2e-wheel.json"))))
    out.append("Steps: %s. The C unit tests, built with `aarch64-linux-gnu-gcc`: %s. SQLite "
               "linked into the interpreter (an emulated python-build-standalone for aarch64): "
               "not reached, and said so by the controller and `doctor` (%s checks: "
               "tests/aarch64/static_check.py). Sources: `%s`, %s." % (
                   ", ".join(steps), unit, static,
                   os.path.relpath(aarch64_dir, root) + "/", when))
    return "\n".join(out)


def put(text, marker, body):
    new = re.sub(r"(<!-- %s:begin -->\n).*?(\n<!-- %s:end -->)" % (marker, marker),
                 lambda m: m.group(1) + body + m.group(2), text, flags=re.S)
    if new == text and body not in text:
        sys.exit("compat-table: %s markers not found in %s" % (marker, readme_path))
    return new


# a LAUNCHERS=only run with no real-project results leaves the releases' table as it is
write_releases = rows or real_on or real_off
if write_releases:
    text = put(text, "compat-table", table)
if launched:
    text = put(text, "launcher-table", ltable)
if companions:
    text = put(text, "companion-table", ctable)
if aarch64_on:
    atable = aarch64_table(aarch64_on)
    text = put(text, "aarch64-table", atable)
open(readme_path, "w").write(text)
if write_releases:
    print(table)
if launched:
    print(ltable)
if companions:
    print(ctable)
if aarch64_on:
    print(atable)
