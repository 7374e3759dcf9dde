#!/usr/bin/env python3
"""Write the compatibility table of README.md from build/e2e-results.json.

  scripts/compat-table.py [RESULTS] [README]

One row per testmon release: the interpreters whose cells passed with the shim, the steps that
agreed with the serial run, and what the same release does without the shim (from the pins
file's expectations, which `make e2e SHIM=off` asserts)."""
import json
import os
import re
import sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
results_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "build", "e2e-results.json")
readme_path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "README.md")
try:
    results = json.load(open(results_path))
except (OSError, ValueError) as e:
    sys.exit("compat-table: cannot read %s (%s): run `make e2e` first" % (results_path, e))
pins = json.load(open(os.path.join(root, "tests", "e2e", "pins.json")))
if results.get("shim") not in ("on", True):
    sys.exit("compat-table: %s is a SHIM=off run; the table describes runs with the shim"
             % results_path)


def vkey(v):
    return tuple(int(x) for x in re.findall(r"\d+", v))


rows = {}
for cell in results.get("cells", []):
    rows.setdefault(cell["release"], []).append(cell)

lines = ["| testmon | Python | with the shim | steps agreeing | without the shim (upstream) |",
         "|---|---|---|---|---|"]
for release in sorted(rows, key=vkey):
    cells = sorted(rows[release], key=lambda c: vkey(c["python"]))
    pys = ", ".join(c["python"] for c in cells)
    verdicts = {c["verdict"] for c in cells}
    on = pins["releases"].get(release, {}).get("expected", {}).get("on", {})
    if verdicts == {"pass"}:
        verdict = "pass"
    elif verdicts == {"bug reproduced"} and on:
        # expected with the shim too: upstream behaviour the shim leaves alone (see pins notes)
        verdict = "as upstream (steps aside)"
    else:
        verdict = ", ".join(sorted(verdicts))
    steps = ", ".join("%s/%s" % (c.get("passed_steps", "-"), c.get("total_steps", "-")) for c in cells)
    off = pins["releases"].get(release, {}).get("expected", {}).get("off", {})
    broken = sorted({k.split("@")[0] for k, tags in off.items()
                     if any(t.lstrip("?") not in ("~racy",) for t in tags)})
    upstream = ("fails at: " + ", ".join(broken)) if broken else "agrees with serial"
    lines.append("| %s | %s | %s | %s | %s |" % (release, pys, verdict, steps, upstream))
when = results.get("finished") or results.get("started") or ""
lines.append("")
lines.append("From `%s`%s." % (os.path.relpath(results_path, root), (", " + when) if when else ""))
table = "\n".join(lines)

text = open(readme_path).read()
new = re.sub(r"(<!-- compat-table:begin -->\n).*?(\n<!-- compat-table:end -->)",
             lambda m: m.group(1) + table + m.group(2), text, flags=re.S)
if new == text and table not in text:
    sys.exit("compat-table: markers not found in %s" % readme_path)
open(readme_path, "w").write(new)
print(table)
