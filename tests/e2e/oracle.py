"""The oracle of the e2e suite: parse results, canonicalise databases, compare.

Everything here is pure (no subprocesses) so tests/e2e/test_oracle.py can feed it
disagreeing inputs.  Stdlib only, Python 3.8+.
"""
import ast
import collections
import os
import shutil
import sqlite3
import tempfile
import xml.etree.ElementTree as ET
from typing import Dict, List, Optional, Tuple

# Columns that legitimately differ between two identical runs (or between the two
# copies): timings, mtimes, timestamps, run counters.  Row ids are dropped separately
# (any INTEGER PRIMARY KEY) and foreign keys are resolved to natural keys.
VOLATILE_COLUMNS = {
    "duration", "mtime", "ctime", "timestamp", "time", "created", "updated",
    "exec_id",  # pure surrogate, always also a FK when meaningful
    # testmon's cache key of a file's content in a fingerprint row.  A fingerprint is unique by
    # (filename, method_checksums): the first test to record it writes the fsha, and later
    # tests with the same checksums reuse that row whatever their fsha (fetch_or_create_file_fp,
    # 2.x), so which fsha survives depends on the order tests finish in, which xdist changes.
    # A stale fsha only makes testmon compute the checksums again; they decide selection.
    "fsha",
}
# Tables holding survey/statistics metadata (not testmon's dependency data).
IGNORED_TABLES = {"metadata"}
TEMP_SCRATCH_PREFIXES = ("temp_", "changed_files_", "mcall_id")


# ---------------------------------------------------------------- junit results
def parse_junit(path):
    """Return {nodeid: outcome} from a pytest --junitxml file.

    outcome is one of passed/failed/error/skipped.  A missing or unparsable file
    returns None (the run produced no report)."""
    if not path or not os.path.exists(path):
        return None
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError:
        return None
    results = {}
    for case in root.iter("testcase"):
        cls = case.get("classname", "")
        name = case.get("name", "")
        nodeid = "%s::%s" % (cls, name) if cls else name
        outcome = "passed"
        for child in case:
            if child.tag == "failure":
                outcome = "failed"
            elif child.tag == "error":
                # an error in teardown of a failed test keeps "failed"
                outcome = "error" if outcome == "passed" else outcome
            elif child.tag == "skipped":
                outcome = "skipped" if outcome == "passed" else outcome
        if nodeid in results and results[nodeid] != "passed":
            continue  # call failure + teardown error: keep the first non-pass
        results[nodeid] = outcome
    return results


def find_errors(output, patterns):
    """Tags of the error patterns present in a run's output.

    patterns: {tag: literal string}; returns ["err:<tag>", ...] in pattern order."""
    return ["err:" + tag for tag, text in patterns.items() if text in (output or "")]


def compare_runs(serial, xdist, patterns):
    """Compare one step's serial (oracle) and xdist runs.

    serial/xdist: dicts with keys rc (int or None for timeout), results ({nodeid:
    outcome} or None), output (str), timed_out (bool).
    Returns (oracle_problems, tags): oracle_problems are reasons the serial run itself
    is unusable; tags is the sorted list of disagreement tags for the xdist run."""
    oracle = []
    if serial.get("timed_out"):
        oracle.append("serial run timed out")
    if serial.get("rc") not in (0, 1, 5):
        oracle.append("serial exit status %r" % (serial.get("rc"),))
    if serial.get("results") is None and serial.get("rc") != 5:
        oracle.append("serial run wrote no junit xml")
    for e in find_errors(serial.get("output"), patterns):
        oracle.append("serial output contains %s" % e)

    tags = set()
    if xdist.get("timed_out"):
        tags.add("timeout")
    if xdist.get("rc") != serial.get("rc"):
        tags.add("exit differs")
    s_res = serial.get("results") or {}
    x_res = xdist.get("results") or {}
    if set(s_res) != set(x_res):
        tags.add("selection differs")
    else:
        if any(s_res[k] != x_res[k] for k in s_res):
            tags.add("outcome differs")
    tags.update(find_errors(xdist.get("output"), patterns))
    return oracle, sorted(tags)


def diff_results(serial_res, xdist_res):
    """Human-readable difference of two {nodeid: outcome} maps."""
    s = serial_res or {}
    x = xdist_res or {}
    lines = []
    for k in sorted(set(s) - set(x)):
        lines.append("  only serial: %s (%s)" % (k, s[k]))
    for k in sorted(set(x) - set(s)):
        lines.append("  only xdist:  %s (%s)" % (k, x[k]))
    for k in sorted(set(s) & set(x)):
        if s[k] != x[k]:
            lines.append("  outcome:     %s serial=%s xdist=%s" % (k, s[k], x[k]))
    return lines


# ---------------------------------------------------------------- database dump
def _copy_db(path, tmpdir):
    """Copy a database with its -wal/-shm so reading never touches the original."""
    dst = os.path.join(tmpdir, os.path.basename(path))
    for suffix in ("", "-wal", "-shm", "-journal"):
        if os.path.exists(path + suffix):
            shutil.copy2(path + suffix, dst + suffix)
    return dst


def _norm(v):
    if isinstance(v, bytes):
        return "x'" + v.hex() + "'"
    return v


def dump_connection(con):
    """Canonical content of an open testmon database.

    Schema-driven: tables and columns come from sqlite_master / PRAGMA table_info,
    foreign keys from PRAGMA foreign_key_list.  Surrogate integer primary keys are
    dropped, FK columns are replaced by the canonical form of the referenced row,
    volatile columns (durations, mtimes, timestamps) and survey metadata are dropped.
    Returns {"user_version": n, "tables": {name: sorted list of row reprs}}."""
    tables = [r[0] for r in con.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name")]
    info = {}
    for t in tables:
        cols = con.execute('PRAGMA table_info("%s")' % t).fetchall()
        # (cid, name, type, notnull, dflt, pk)
        pk_cols = [c[1] for c in cols if c[5]]
        surrogate = None
        if len(pk_cols) == 1:
            ctype = [c[2] for c in cols if c[1] == pk_cols[0]][0]
            if ctype.upper() == "INTEGER":
                surrogate = pk_cols[0]
        fks = {}
        for fk in con.execute('PRAGMA foreign_key_list("%s")' % t).fetchall():
            # (id, seq, table, from, to, on_update, on_delete, match)
            fks[fk[3]] = (fk[2], fk[4])
        info[t] = {"cols": [c[1] for c in cols], "surrogate": surrogate, "fks": fks}

    cache = {}

    def canon_row(t, row, depth=0):
        meta = info[t]
        out = []
        for name, val in zip(meta["cols"], row):
            if name == meta["surrogate"] and name not in meta["fks"]:
                continue
            if name.lower() in VOLATILE_COLUMNS and name not in meta["fks"]:
                continue
            if name in meta["fks"] and val is not None and depth < 4:
                rt, rcol = meta["fks"][name]
                val = ("->" + rt, canon_ref(rt, rcol, val, depth + 1))
            out.append((name, _norm(val)))
        return tuple(out)

    def canon_ref(rt, rcol, val, depth):
        if rt not in info:
            return ("dangling", _norm(val))
        if rcol is None:
            rcol = info[rt]["surrogate"] or "rowid"
        key = (rt, rcol, val)
        if key not in cache:
            rows = con.execute('SELECT * FROM "%s" WHERE "%s" = ?' % (rt, rcol), (val,)).fetchall()
            if len(rows) != 1:
                cache[key] = ("dangling" if not rows else "ambiguous", _norm(val))
            else:
                cache[key] = canon_row(rt, rows[0], depth)
        return cache[key]

    result = {"user_version": con.execute("PRAGMA user_version").fetchone()[0], "tables": {}}
    # Tables that others point to (fingerprints) are compared as sets: two rows that differ only
    # in a volatile column (fsha: 2.1+ keep one row per fsha) are the same fingerprint to the
    # tests that point to them, and which of them survives depends on the order tests finish in.
    referenced = {rt for meta in info.values() for rt, _ in meta["fks"].values()}
    for t in tables:
        if t in IGNORED_TABLES or t.startswith(TEMP_SCRATCH_PREFIXES):
            continue
        rows = [repr(canon_row(t, r)) for r in con.execute('SELECT * FROM "%s"' % t)]
        result["tables"][t] = sorted(set(rows) if t in referenced else rows)
    return result


def dump_db(path):
    """Dump a database file (see dump_connection) plus its integrity_check result.

    Returns {"exists": bool, "integrity": str, "user_version", "tables"}."""
    if not os.path.exists(path):
        return {"exists": False, "integrity": None, "user_version": None, "tables": {}}
    tmpdir = tempfile.mkdtemp(prefix="e2e-dump-")
    try:
        copy = _copy_db(path, tmpdir)
        con = sqlite3.connect(copy)
        try:
            integrity = "; ".join(r[0] for r in con.execute("PRAGMA integrity_check"))
            d = dump_connection(con)
        finally:
            con.close()
    except sqlite3.DatabaseError as e:
        return {"exists": True, "integrity": "unreadable: %s" % e, "user_version": None,
                "tables": {}}
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    d["exists"] = True
    d["integrity"] = integrity
    return d


def compare_dumps(a, b, names=("serial", "xdist")):
    """Return a list of human-readable differences between two dumps (empty = same).

    names: how the two sides are called in the messages."""
    na, nb = names
    diffs = []
    if a.get("exists") != b.get("exists"):
        diffs.append("database exists: %s=%s %s=%s" % (na, a.get("exists"), nb, b.get("exists")))
        return diffs
    for name, d in ((na, a), (nb, b)):
        if d.get("exists") and d.get("integrity") != "ok":
            diffs.append("%s integrity_check: %s" % (name, d.get("integrity")))
    if a.get("user_version") != b.get("user_version"):
        diffs.append("user_version: %s=%s %s=%s" % (na, a.get("user_version"), nb,
                                                   b.get("user_version")))
    ta, tb = a.get("tables", {}), b.get("tables", {})
    for t in sorted(set(ta) | set(tb)):
        if t not in ta or t not in tb:
            diffs.append("table %s only in %s" % (t, na if t in ta else nb))
            continue
        ra, rb = list(ta[t]), list(tb[t])
        if ra != rb:
            only_a = _multiset_minus(ra, rb)
            only_b = _multiset_minus(rb, ra)
            diffs.append("table %s: %d rows only %s, %d only %s" %
                         (t, len(only_a), na, len(only_b), nb))
            for r in only_a[:3]:
                diffs.append("    %s: %s" % (na, _shorten(r)))
            for r in only_b[:3]:
                diffs.append("    %s: %s" % (nb, _shorten(r)))
    return diffs


# The table of recorded tests and its name column: testmon 2.x, and 1.x.
TEST_TABLES = {"test_execution": "test_name", "node": "name"}


def _mentions(value, table, dropped, col):
    """Does a canonical value (nested ("->table", row) references) name a dropped test?"""
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "->" + table:
        return dict(value[1]).get(col) in dropped if isinstance(value[1], tuple) else False
    if isinstance(value, tuple):
        return any(_mentions(v, table, dropped, col) for v in value)
    return False


def _refs(value, table):
    """The canonical rows of `table` a canonical value refers to."""
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "->" + table:
        return {repr(value[1])}
    if isinstance(value, tuple):
        return set().union(set(), *(_refs(v, table) for v in value))
    return set()


def relax_deselected(serial, xdist, executed):
    """The guarantee for a step that deselects tests (-k, -m, a path): the xdist database may
    lack tests the serial one recorded, if this step did not run them, and with them every row
    that names them and the fingerprints only they used.  testmon 2.1.1+ under xdist syncs the
    tests the workers collected after deselection, where a serial run syncs before it; each such
    test is unknown to the next run, which selects it as the serial run selects it as affected.

    Returns (serial', xdist', dropped test names): both dumps without those rows, to compare as
    usual; anything else that differs still differs."""
    dropped = set()
    for table, col in TEST_TABLES.items():
        names = [{dict(ast.literal_eval(r)).get(col) for r in d.get("tables", {}).get(table, [])}
                 for d in (serial, xdist)]
        dropped |= {n for n in names[0] - names[1] if n not in executed}
    if not dropped:
        return serial, xdist, []

    def names_dropped(table, row):
        col = TEST_TABLES.get(table)
        return bool(col and dict(row).get(col) in dropped) or any(
            _mentions(v, tt, dropped, c) for _, v in row for tt, c in TEST_TABLES.items())

    def strip(d):
        parsed = {t: [ast.literal_eval(r) for r in rows] for t, rows in d.get("tables", {}).items()}
        gone = []
        for t, rows in parsed.items():
            gone += [row for row in rows if names_dropped(t, row)]
            parsed[t] = [row for row in rows if not names_dropped(t, row)]
        for t in parsed:  # rows (fingerprints) that only the dropped rows referred to
            was = set().union(set(), *(_refs(row, t) for row in gone))
            still = set().union(set(), *(_refs(row, t) for rows in parsed.values() for row in rows))
            parsed[t] = [row for row in parsed[t] if repr(row) not in was - still]
        out = dict(d)
        out["tables"] = {t: sorted(repr(r) for r in rows) for t, rows in parsed.items()}
        return out

    return strip(serial), strip(xdist), sorted(dropped)


def _shorten(row, head=110, tail=190):
    return row if len(row) <= head + tail + 5 else row[:head] + " ... " + row[-tail:]


def _multiset_minus(a, b):
    """The elements of a not matched one for one in b, in a's order."""
    rest = collections.Counter(b)
    out = []
    for x in a:
        if rest[x]:
            rest[x] -= 1
        else:
            out.append(x)
    return out


# Tables of what each test executed (per-file method fingerprints and their links to tests), as
# opposed to the state a run leaves: the tests, environments and failure flags.  On real code the
# fingerprints depend on which test first imported a module (import-time lines are traced into
# it), so they legitimately differ when the same tests run in another order or split over workers.
FINGERPRINT_TABLES = {"fingerprint", "node_fingerprint", "file_fp", "test_execution_file_fp",
                      "suite_execution_file_fsha"}


def split_dump(d):
    """Split a dump (see dump_db) into (state, fingerprints): two dumps of the same form, the
    first without FINGERPRINT_TABLES, the second with only them (and no user_version)."""
    tables = d.get("tables", {})
    state = dict(d, tables={t: r for t, r in tables.items() if t not in FINGERPRINT_TABLES})
    fps = dict(d, user_version=None,
               tables={t: r for t, r in tables.items() if t in FINGERPRINT_TABLES})
    return state, fps


def count_row_diffs(a, b):
    """Rows found in one dump's tables and not the other's, counted on both sides: (number of
    differing rows, number of rows of both dumps).  A table missing on one side counts whole."""
    ta, tb = a.get("tables", {}), b.get("tables", {})
    differ = total = 0
    for t in set(ta) | set(tb):
        ra, rb = ta.get(t, []), tb.get(t, [])
        total += len(ra) + len(rb)
        differ += len(_multiset_minus(ra, rb)) + len(_multiset_minus(rb, ra))
    return differ, total


RACY = "~racy"


def signature_matches(tags, expected):
    """Does an observed tag set match an expected signature?

    Every expected tag must be observed, except those written "?tag" (optional: for
    secondary symptoms whose presence depends on timing).  Nothing else may be
    observed.  An empty expectation matches only an empty observation.  A signature
    containing "~racy" also matches a step that agreed (a timing-dependent upstream race,
    documented in pins.json)."""
    required = {t for t in expected if not t.startswith(("?", "~"))}
    optional = {t[1:] for t in expected if t.startswith("?")}
    tags = set(tags)
    if not expected:
        return not tags
    if not tags:
        # "~racy": an upstream race that does not show on every run; passing is allowed
        return RACY in expected
    return required <= tags and tags <= (required | optional)


def race_shown(tags: List[str], races: Dict[str, List[str]]) -> Optional[str]:
    """The documented upstream race (races: {name: face}, pins.json "upstream_races") whose face a
    failing step's tags show exactly, or None.  A face is a signature: its required tags must all
    be there and nothing outside it ("?tag" optional), so a readonly crash beside the mark of a
    race is not that race."""
    for name in sorted(races):
        if tags and signature_matches(tags, races[name]):
            return name
    return None


Tolerated = Tuple[str, str, List[str]]  # (step, race, tags)


def cell_verdict(step_tags: List[Tuple[str, List[str]]], expected: Dict[str, List[str]],
                 oracle_problems: Optional[List[str]] = None, any_face: bool = False,
                 races: Optional[Dict[str, List[str]]] = None
                 ) -> Tuple[str, List[str], List[Tolerated]]:
    """Judge a cell.

    step_tags: ordered list of (step, tags) actually observed in the xdist copy.
    expected: {step: [tags]} expected failures for this cell and shim mode.
    any_face: a negative control (no shim): at a step with an expected failure, any failure
    shows the upstream bug; which of its faces it shows (a crash, or xdist's KeyError after
    it, a timing-dependent secondary symptom) is not asserted.
    races: {name: face} the release's documented upstream races (pins.json "upstream_races"),
    consulted only in a negative control: a step without an expected failure whose tags show one
    of these faces exactly is tolerated (returned, for the log and the results), not a failure.
    Upstream may lose such a race at any step, and the control asserts that upstream is broken
    where pinned, not that it is broken nowhere else.  Any other failure where none is expected
    still fails the cell, and so does an expected failure that does not show.
    Returns (verdict, problems, tolerated): verdict is "pass", "bug reproduced" or "FAIL";
    tolerated lists (step, race, tags), which never count as the bug reproduced."""
    problems = list(oracle_problems or [])
    seen = dict(step_tags)
    reproduced = 0
    tolerated: List[Tolerated] = []
    for step, tags in step_tags:
        exp = sorted(expected.get(step, []))
        race = race_shown(tags, races or {}) if any_face and not exp else None
        if race:
            tolerated.append((step, race, sorted(tags)))
        elif tags and not exp:
            problems.append("%s: unexpected failure %s" % (step, tags))
        elif exp and not tags and RACY in exp:
            continue
        elif exp and not tags:
            problems.append("%s: expected failure %s did not reproduce" % (step, exp))
        elif exp and not signature_matches(tags, exp) and not any_face:
            problems.append("%s: expected %s, got %s" % (step, exp, sorted(tags)))
        elif exp:
            reproduced += 1
    for step in expected:
        if step not in seen:
            problems.append("%s: expected failure listed for a step that did not run" % step)
    if problems:
        return "FAIL", problems, tolerated
    return ("bug reproduced" if reproduced else "pass"), problems, tolerated
