#!/bin/sh
# tap-count.sh < TAP: bats' TAP output as the suites' closing line `N passed, N failed, N skipped`.
# A skipped test ("ok N ... # skip reason") is not a pass: it is listed (SKIPPED: ...) and counted
# apart.  Used by tests/run.sh and tests/robust/checks.sh.
awk '
/^ok .* # skip/ { skipped++; print "SKIPPED: " $0; next }
/^ok /          { passed++ }
/^not ok /      { failed++ }
END { printf "%d passed, %d failed, %d skipped\n", passed, failed, skipped }'
