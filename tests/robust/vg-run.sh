#!/bin/sh
# vg-run.sh PROGRAM: UNIT_RUN prefix for `make unit` under valgrind memcheck.  Four programs cannot
# run under valgrind and run natively (with a SKIP line saying so):
#   test_role      re-executes itself through /proc/self/exe with argv[0] "pytest"; under
#                  valgrind /proc/self/exe is valgrind's launcher, which refuses such names;
#   test_sqlvalue  checks exact double round trips through strtod; valgrind's floating point
#                  emulation (64-bit, not x87 80-bit, intermediates) rounds 1e300 and DBL_MAX off;
#   test_controller, test_coord  assert wall-clock bounds (a 20 s watchdog, "DEAD within 370 ms")
#                  that valgrind's 20-50x slowdown breaks; memcheck itself reported nothing in them.
case $(basename "$1") in
test_role|test_sqlvalue|test_controller|test_coord)
    echo "SKIP [valgrind] $(basename "$1") runs without valgrind (see tests/robust/vg-run.sh)"
    exec "$@" ;;
esac
exec valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite "$@"
