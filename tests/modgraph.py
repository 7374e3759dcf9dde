#!/usr/bin/env python3
"""modgraph.py [REPO]: the library's module graph, checked.

A module is a name with shim/NAME.c and/or shim/NAME.h; it depends on every other module whose
header its .c or .h includes.  Prints each module with what it depends on, in dependency order
(leaves first), and exits 1 naming the modules of a cycle, a module that shim/README.md's table
does not list (as `NAME`) or lists with other dependencies than the code has, or one it lists
that does not exist.

The objects are checked too, where they are built (REPO/$BUILD/shim/NAME.o, BUILD defaulting to
build): a symbol an object uses must be defined by its own module or by one it includes, so the
graph read from the symbol tables (nm) is the included one or part of it, and has no cycle
either.  A use is any undefined symbol, weak ones included (nm's `w` and `v`): a weak
declaration that lets a lower module call a higher one when it is linked in is a back edge all
the same, which the includes need not show."""
import os
import re
import subprocess
import sys

root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(__file__), ".."))
shim = os.path.join(root, "shim")
mods = sorted({f.rsplit(".", 1)[0] for f in os.listdir(shim) if f.endswith((".c", ".h"))})
deps = {}
for m in mods:
    d = set()
    for ext in (".c", ".h"):
        p = os.path.join(shim, m + ext)
        if os.path.exists(p):
            d |= set(re.findall(r'^#include "([a-z0-9_]+)\.h"', open(p).read(), re.M))
    deps[m] = sorted(x for x in d if x != m and x in mods)

order, state, bad = [], {}, []


def visit(m, path):
    if state.get(m) == "done":
        return
    if state.get(m) == "open":
        bad.append("cycle: " + " -> ".join(path[path.index(m):] + [m]))
        return
    state[m] = "open"
    for d in deps[m]:
        visit(d, path + [m])
    state[m] = "done"
    order.append(m)


for m in mods:
    visit(m, [])
for m in order:
    print("%-12s %s" % (m, " ".join(deps[m]) or "-"))
rows = re.findall(r"^\| `([a-z0-9_]+)` \|[^|]*\| ([^|]*) \|$",
                  open(os.path.join(shim, "README.md")).read(), re.M)
listed = {m: sorted(u for u in re.split(r"[ ,]+", uses.strip()) if u and u != "-")
          for m, uses in rows}
bad += ["shim/README.md does not list %s" % m for m in mods if m not in listed]
position = {m: i for i, (m, _) in enumerate(rows)}
bad += ["shim/README.md lists %s after %s, which uses it" % (u, m)
        for m in listed for u in listed[m] if u in position and position[u] > position[m]]
bad += ["shim/README.md lists %s, which does not exist" % m for m in sorted(set(listed) - set(mods))]
bad += ["shim/README.md says %s uses %s; the code: %s" % (m, ", ".join(listed[m]) or "-",
                                                          ", ".join(deps[m]) or "-")
        for m in mods if m in listed and listed[m] != deps[m]]

# the symbol tables: who defines what, who uses what
objdir = os.path.join(root, os.environ.get("BUILD") or "build", "shim")
objs = {m: os.path.join(objdir, m + ".o") for m in mods
        if os.path.exists(os.path.join(objdir, m + ".o"))}
if objs:
    defined, used = {}, {}
    for m, o in objs.items():
        out = subprocess.run(["nm", "-P", o], capture_output=True, text=True).stdout
        used[m] = set()
        for line in out.splitlines():
            f = line.split()
            if len(f) >= 2 and f[1] in ("U", "w", "v"):  # undefined: strong, or weak
                used[m].add(f[0])
            elif len(f) >= 2 and f[1] in "TDBRVW" and f[1].isupper():
                defined[f[0]] = m
    for m in objs:
        for sym in sorted(used[m]):
            d = defined.get(sym)
            if d and d != m and d not in deps[m]:
                bad.append("%s.o uses %s of %s, whose header it does not include" % (m, sym, d))
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
