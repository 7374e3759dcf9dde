#!/bin/sh
# result-line.sh [--last] [FILE]: the counts of the closing line every suite prints,
# `N passed, N failed` (a label before it, `, N skipped` after it, are allowed), as "P F" on
# stdout, from the last such line of FILE (default: standard input); with --last, only if it is
# the very last line.  Prints nothing and exits 1 when there is none.  The one parser of that line
# for tests/run.sh, tests/unit/run.sh, tests/robust/checks.sh and tests/robust/programs.sh.
last=0
if [ "${1:-}" = --last ]; then last=1; shift; fi
awk -v last="$last" '
    last { found = "" }
    match($0, /(^|[^0-9])[0-9]+ passed, [0-9]+ failed/) {
        s = substr($0, RSTART, RLENGTH)
        sub(/^[^0-9]/, "", s)
        split(s, w, " ")
        found = w[1] " " w[3]
    }
    END { if (found == "") exit 1; print found }' "${1:--}"
