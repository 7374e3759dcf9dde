#!/usr/bin/env bash
# unit.sh: the library and the command built with the cross compiler (make
# CC=aarch64-linux-gnu-gcc), warnings as errors, and the C unit tests run under emulation in the
# arm64 sysroot (tests/aarch64/sysroot.sh, which it builds or reuses).  The build goes to
# <sysroot>/build-unit, where the chroot sees it.  Last line: `N passed, N failed`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
root=$("$here/sysroot.sh") || { echo "0 passed, 1 failed"; exit 1; }
lib=$root/usr/lib/aarch64-linux-gnu
for tool in aarch64-linux-gnu-gcc aarch64-linux-gnu-objcopy; do
    command -v "$tool" >/dev/null || { echo "unit.sh: $tool is missing; apt-get install gcc-aarch64-linux-gnu" >&2; echo "0 passed, 1 failed"; exit 1; }
done
# Emulated, the programs run several times slower than native, more so on a loaded machine:
# their timeouts and the bounds derived from them scale alike (tests/unit/unit.h), so each
# still tells one behaviour from another.
export UNIT_TIME_SCALE=${UNIT_TIME_SCALE:-4}
# SQLite and cJSON from the sysroot (cross-lib holds only those two: sysroot.sh says why)
exec "${MAKE:-make}" -s -j2 CC=aarch64-linux-gnu-gcc OBJCOPY=aarch64-linux-gnu-objcopy \
    BUILD="$root/build-unit" WERROR=-Werror \
    CJSON_LIBS="-L$root/cross-lib -Wl,-rpath-link=$lib -lcjson" \
    UNIT_RUN="$here/chroot.sh -C $root" unit
