#!/usr/bin/env bash
# static-python.sh: an emulated python-build-standalone interpreter for aarch64, as
# tests/static/build-python.sh makes one for x86-64 (README, "Interpreters with SQLite linked
# in"): Debian's arm64 CPython 3.11 (libpython3.11-pic.a of the sysroot) with Modules/_sqlite
# built in and libsqlite3.a linked into the executable, its symbols hidden (local in .symtab,
# absent from .dynsym), cross-compiled with aarch64-linux-gnu-gcc.  Prints its path,
# <sysroot>/static/bin/python3.11 (sys.prefix falls back to the sysroot's /usr).  Modules/_sqlite
# comes from the x86-64 build's download (tests/static/build-python.sh .cache/static-python,
# which it runs when missing).  Idempotent: a stamp names what it was built from.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
die() { echo "static-python.sh: $*" >&2; exit 1; }
root=$("$here/sysroot.sh") || die "no arm64 sysroot (sysroot.sh's line above says why)"
out=$root/static
cc=aarch64-linux-gnu-gcc
command -v "$cc" >/dev/null || die "$cc is missing; apt-get install gcc-aarch64-linux-gnu"
src=$repo/.cache/static-python/src/Modules/_sqlite
if [ ! -f "$src/module.c" ]; then
    "$repo/tests/static/build-python.sh" "$repo/.cache/static-python" >&2 ||
        die "tests/static/build-python.sh could not fetch Modules/_sqlite"
fi
cfgdir=$root/usr/lib/python3.11/config-3.11-aarch64-linux-gnu
lib=$root/usr/lib/aarch64-linux-gnu
for f in "$cfgdir/libpython3.11-pic.a" "$lib/libsqlite3.a" "$lib/libz.a" "$lib/libexpat.a" \
         "$root/usr/include/python3.11/Python.h"; do
    [ -f "$f" ] || die "$f is missing from the sysroot; remove .cache/aarch64/root/.sysroot-ok and run again"
done
stamp=$(cat "$root/.sysroot-ok" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$out/STAMP" 2>/dev/null)" = "$stamp" ]; then
    echo "$out/bin/python3.11"
    exit 0
fi
rm -rf "$out" && mkdir -p "$out/build" "$out/bin"
b=$out/build
cat >"$b/main.c" <<'C'
#include <Python.h>
PyMODINIT_FUNC PyInit__sqlite3(void);
int main(int argc, char **argv) {
    PyImport_AppendInittab("_sqlite3", PyInit__sqlite3);
    return Py_BytesMain(argc, argv);
}
C
cflags=(-O2 -g0 -flto -fPIC -DPy_BUILD_CORE_BUILTIN -DPY_SQLITE_ENABLE_LOAD_EXTENSION=1
        -I"$root/usr/include/python3.11" -idirafter "$root/usr/include")
objs=()
for c in "$b/main.c" "$src"/*.c; do
    o=$b/$(basename "$c" .c).o
    [ "$c" = "$b/main.c" ] || objs+=("$o")
    nice "$cc" "${cflags[@]}" -c "$c" -o "$o" || die "compiling $(basename "$c") failed"
done
nice "$cc" -O2 -flto -flto-partition=one -pie -o "$out/bin/python3.11" "$b/main.o" \
    -Wl,--whole-archive "$cfgdir/libpython3.11-pic.a" "${objs[@]}" -Wl,--no-whole-archive \
    "$lib/libsqlite3.a" -Wl,--exclude-libs,libsqlite3.a -Wl,-z,now "$lib/libz.a" "$lib/libexpat.a" \
    -lm -ldl -lpthread -lutil -Xlinker -export-dynamic || die "linking python3.11 failed"
ln -sfn python3.11 "$out/bin/python3"
ln -sfn python3.11 "$out/bin/python"
# what the tests rely on, as build-python.sh checks it
dyn=$(aarch64-linux-gnu-nm -D "$out/bin/python3.11") && sym=$(aarch64-linux-gnu-nm "$out/bin/python3.11") ||
    die "nm failed on $out/bin/python3.11"
grep -q ' sqlite3_' <<<"$dyn" && die "sqlite3_* symbols are exported in .dynsym"
grep -q ' T PyInit__sqlite3$' <<<"$dyn" || die "PyInit__sqlite3 is not exported in .dynsym"
grep -q ' t sqlite3_step$' <<<"$sym" || die "sqlite3_step is not a local symbol in .symtab"
err=$("$here/chroot.sh" -C "$root" /static/bin/python3.11 -I -c 'import sqlite3, sys
maps = open("/proc/self/maps").read()
assert "_sqlite3" in sys.builtin_module_names, "_sqlite3 is not built in"
assert "libsqlite3.so" not in maps, "libsqlite3.so is loaded"
print(sqlite3.sqlite_version)' 2>&1) || die "the emulated interpreter fails: ${err##*$'\n'}"
echo "$stamp" >"$out/STAMP"
echo "$out/bin/python3.11"
