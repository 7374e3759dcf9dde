#!/usr/bin/env python3
"""The demo's evidence (examples/demo.sh): which tests a pytest run ran, with which outcomes, read
from its JUnit XML report (`--junitxml=FILE -o junit_family=xunit1`, which names each test's file).

  demo_compare.py show REPORT STATUS          the run's tests, one a line, and a count
  demo_compare.py same SERIAL STATUS OTHER STATUS
                                              exit 0 and say "same N tests as a serial run" when
                                              the other run ran exactly the serial run's tests,
                                              with the same outcomes and exit status, N > 0;
                                              else exit 1 and say what differs

A missing or unreadable report counts as a run that ran no test.  Stdlib only, Python 3.8+.
"""
import os
import sys
import xml.etree.ElementTree as ET
from typing import Dict, List, Tuple

OUTCOMES = ("failure", "error", "skipped")


def read(path: str) -> Tuple[Dict[str, str], List[str]]:
    """({node id: outcome}, [internal errors]) of a report."""
    tests: Dict[str, str] = {}
    internal: List[str] = []
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return tests, internal
    for case in root.iter("testcase"):
        name, cls = case.get("name", ""), case.get("classname", "")
        outcome = "passed"
        for tag in OUTCOMES:
            if case.find(tag) is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                break
        if cls == "pytest" and name == "internal":  # xdist's report of a worker's INTERNALERROR
            internal.append(outcome)
            continue
        path_ = case.get("file") or cls.replace(".", "/") + ".py"
        module = os.path.splitext(path_)[0].replace("/", ".")
        inner = cls[len(module) + 1:] if cls.startswith(module + ".") else ""
        node = "::".join([path_] + inner.split(".") + [name]) if inner else path_ + "::" + name
        tests[node] = outcome
    return tests, internal


def counts(tests: Dict[str, str]) -> str:
    by: Dict[str, int] = {}
    for outcome in tests.values():
        by[outcome] = by.get(outcome, 0) + 1
    return ", ".join("%d %s" % (n, o) for o, n in sorted(by.items()))


def plural(n: int) -> str:
    return "%d test%s" % (n, "" if n == 1 else "s")


def show(path: str, status: str) -> int:
    tests, internal = read(path)
    line = "exit status %s; ran %s" % (status, plural(len(tests)))
    if tests:
        line += ": " + counts(tests)
    if internal:
        line += "; %d internal error%s" % (len(internal), "" if len(internal) == 1 else "s")
    print(line)
    for node in sorted(tests):
        print("  %-8s %s" % (tests[node], node))
    return 0


def same(serial: str, serial_status: str, other: str, other_status: str) -> int:
    want, _ = read(serial)
    got, internal = read(other)
    problems = []
    if not want:
        problems.append("the serial run ran no test: nothing to compare")
    for node in sorted(set(want) - set(got)):
        problems.append("not run: %s (serial: %s)" % (node, want[node]))
    for node in sorted(set(got) - set(want)):
        problems.append("run, but not by the serial run: %s (%s)" % (node, got[node]))
    for node in sorted(set(want) & set(got)):
        if want[node] != got[node]:
            problems.append("%s: %s, serial %s" % (node, got[node], want[node]))
    if internal:
        problems.append("%d internal error(s)" % len(internal))
    if serial_status != other_status:
        problems.append("exit status %s, serial %s" % (other_status, serial_status))
    if problems:
        print("NOT the same as the serial run:")
        for p in problems:
            print("  " + p)
        return 1
    print("same %s as a serial run, same outcomes (%s), same exit status (%s)"
          % (plural(len(want)), counts(want), serial_status))
    return 0


def main(argv: List[str]) -> int:
    if len(argv) == 3 and argv[0] == "show":
        return show(argv[1], argv[2])
    if len(argv) == 5 and argv[0] == "same":
        return same(*argv[1:])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
