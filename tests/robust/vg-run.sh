#!/bin/sh
# vg-run.sh PROGRAM: UNIT_RUN prefix for `make unit` under valgrind memcheck.  Every wall-clock
# bound of the unit tests (the watchdog, test_coord's waits and their "at once" bounds) is scaled
# by UNIT_TIME_SCALE (default here 20, for valgrind's 20-50x slowdown; see tests/unit/unit.h):
# a timeout and the bounds derived from it scale alike, so they still tell the behaviours apart.
# Two programs cannot run under valgrind and run natively (with a SKIP line saying so):
#   test_role      re-executes itself through /proc/self/exe with argv[0] "pytest"; under
#                  valgrind /proc/self/exe is valgrind's launcher, which refuses such names;
#   test_sqlvalue  checks exact double round trips through strtod; valgrind's floating point
#                  emulation (64-bit, not x87 80-bit, intermediates) rounds 1e300 and DBL_MAX off.
case $(basename "$1") in
test_role|test_sqlvalue)
    echo "SKIP [valgrind] $(basename "$1") runs without valgrind (see tests/robust/vg-run.sh)"
    exec "$@" ;;
esac
UNIT_TIME_SCALE=${UNIT_TIME_SCALE:-20}
export UNIT_TIME_SCALE
# test_hook rewrites functions it has already run (shim/hook.h): valgrind must look for changed
# code everywhere, file-backed text included, or it keeps running its old translation.  (The
# library itself hooks in its constructor, before the hooked code first runs.)
smc=
[ "$(basename "$1")" = test_hook ] && smc=--smc-check=all
exec valgrind -q $smc --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite "$@"
