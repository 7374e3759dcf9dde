#!/bin/sh
# tsan-run.sh PROGRAM: UNIT_RUN prefix for `make unit` with the TSan build.  One program is left
# out (a SKIP line says so):
#   test_coord   asserts wall-clock bounds of tens of milliseconds (a 250 ms wait "never beyond
#                310 ms", wake-ups "within 50 ms") that TSan's slowdown on a loaded machine breaks
#                (seen: 332 ms).  It is single-threaded and the shim starts no threads, so TSan has
#                nothing to check in it; the normal, ASan, UBSan, coverage and valgrind runs
#                (natively, see vg-run.sh) keep it.
case $(basename "$1") in
test_coord)
    echo "SKIP [tsan] test_coord: wall-clock bounds, no threads (see tests/robust/tsan-run.sh)"
    echo "0 passed, 0 failed"
    exit 0 ;;
esac
exec "$@"
