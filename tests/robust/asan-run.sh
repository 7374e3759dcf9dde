#!/bin/sh
# asan-run.sh PROGRAM: UNIT_RUN prefix for `make unit` with the ASan build and leak checking on.
# test_role's re-executed children leak on purpose (see lsan-test_role.supp); for that program
# alone, leaks whose stack passes through child_main are suppressed.  fast_unwind_on_malloc=0:
# the frame-pointer unwinder stops inside libsqlite3 (built without frame pointers), and the
# suppression needs the whole stack to see child_main.
case $(basename "$1") in
test_role)
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0" \
    LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$(cd "$(dirname "$0")" && pwd)/lsan-test_role.supp" \
        exec "$@" ;;
esac
exec "$@"
