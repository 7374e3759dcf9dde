#!/usr/bin/env bash
# build-python.sh OUTDIR - build an emulated python-build-standalone (PBS) interpreter.
#
# Debian's CPython 3.11 (libpython3.11-pic.a) plus Modules/_sqlite from Debian's python3.11
# source package of the same version, with libsqlite3.a linked INTO the executable: `_sqlite3`
# is built in, PyInit__sqlite3 is exported, no sqlite3_* is in .dynsym, and SQLite's functions
# stay in .symtab as local symbols (like uv's "install_only_stripped" PBS flavour).
#   OUTDIR/bin/python3.11            that interpreter (+ python3, python symlinks); PBS >= 20250517
#   OUTDIR/stripped/bin/python3.11   the same after `llvm-strip --strip-all` (no .symtab)
#   OUTDIR/shared/lib/libpython3.11.so.1.0  older PBS layout: CPython, _sqlite3 and the hidden
#                                    SQLite in the shared library (exports PyInit__sqlite3)
#   OUTDIR/shared/bin/python3.11     the same six-line main() linked against it with rpath
#                                    $ORIGIN/../lib, no SQLite in the executable (+ symlinks)
#   OUTDIR/STAMP                     written last; when it matches, the script exits at once
#   OUTDIR/LOCK                      flock(1)ed for the whole run
# sys.prefix falls back to Debian's /usr, so the stdlib, lib-dynload and venv/pip are Debian's.
# Why this emulates python-build-standalone faithfully: docs/how-it-works.md, "Interpreters with SQLite linked in".
set -euo pipefail

die() { echo "build-python.sh: $*" >&2; exit 1; }
[ $# -eq 1 ] || die "usage: build-python.sh OUTDIR"
mkdir -p "$1" && out=$(cd "$1" && pwd)
# Concurrent callers (e2e tests, bench) wait for one build instead of overwriting each other's.
exec 9>"$out/LOCK" && flock 9 || die "cannot lock $out/LOCK"

# python3.11-config on PATH may be another Python's (pyenv): use Debian's explicitly.
pycfg=$(grep -m1 '/bin/python3\.11-config$' <(dpkg -L python3.11-dev 2>/dev/null)) \
    || die "python3.11-dev is not installed (its python3.11-config)"
pyver=$(dpkg-query -W -f='${Version}' python3.11) || die "python3.11 is not installed"
sqlver=$(dpkg-query -W -f='${Version}' libsqlite3-dev) || die "libsqlite3-dev is not installed"
stamp=$(printf 'python3.11 %s\nlibsqlite3-dev %s\nscript %s\n' "$pyver" "$sqlver" \
        "$(sha256sum < "${BASH_SOURCE[0]}" | cut -d' ' -f1)")
[ "$(cat "$out/STAMP" 2>/dev/null)" = "$stamp" ] && exit 0
rm -f "$out/STAMP"

# 1. Source: Modules/_sqlite from the orig tarball of Debian's python3.11 source package, fetched
#    with a private deb-src list and apt state under OUTDIR (system apt configuration untouched;
#    APT_CONFIG skips /etc/apt/apt.conf.d, whose update hooks would refresh system caches).
dl=$out/download upver=${pyver#*:} && upver=${upver%-*}
origs=("$dl/python3.11_$upver".orig.tar.*)
if [ ! -f "${origs[0]}" ]; then
    mkdir -p "$dl/lists/partial" "$dl/cache/archives/partial"
    # the system's own deb822 list of Debian's mirror, wherever apt keeps its source parts
    eval "$(apt-config shell parts Dir::Etc::sourceparts/d)"
    sys=$(grep -l '^Types: deb$' "${parts:-/etc/apt/sources.list.d/}"*.sources 2>/dev/null) \
        || die "no deb822 .sources list of Debian's mirror in ${parts:-?}"
    sys=${sys%%$'\n'*}
    sed 's/^Types: deb$/Types: deb-src/' "$sys" > "$dl/src.sources"
    # No apt.conf.d; download as root (_apt cannot write to OUTDIR) without apt's warning.
    printf 'Dir::Etc::Parts "/dev/null";\nAPT::Sandbox::User "root";\n' > "$dl/apt.conf"
    apt=(env APT_CONFIG="$dl/apt.conf" apt-get -q -o "Dir::Etc::SourceList=$dl/src.sources"
         -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$dl/lists" -o "Dir::Cache=$dl/cache")
    "${apt[@]}" update >&2 || die "apt-get update (deb-src) failed"
    # The mirror indexes only each suite's newest revision, so the installed one may be gone;
    # every python3.11 $upver-* shares one orig tarball (one pool file name), which is all we
    # use, so fall back to the suites' own revisions.
    for want in "=$pyver" $(sed -n 's/^Suites://p' "$sys" | xargs printf ' /%s'); do
        (cd "$dl" && "${apt[@]}" source --download-only "python3.11$want" >&2) && break
    done
    origs=("$dl/python3.11_$upver".orig.tar.*)
    [ -f "${origs[0]}" ] || die "apt-get source found no python3.11 source of upstream $upver"
fi
rm -rf "$out/src" && mkdir -p "$out/src"
tar -xf "${origs[0]}" -C "$out/src" --strip-components=1 --wildcards '*/Modules/_sqlite/*' \
    || die "cannot extract Modules/_sqlite from ${origs[0]}"

# 2. Build: _sqlite3 + six-line main(), linked with the whole PIC libpython and libsqlite3.a
#    whose symbols --exclude-libs makes hidden (local in .symtab, absent from .dynsym).
#    -fPIC (not -fPIE): the LTO objects also go into the shared library below.
b=$out/build && rm -rf "$b" && mkdir -p "$b"
cat > "$b/main.c" <<'EOF'
#include <Python.h>
PyMODINIT_FUNC PyInit__sqlite3(void);
int main(int argc, char **argv) {
    PyImport_AppendInittab("_sqlite3", PyInit__sqlite3);
    return Py_BytesMain(argc, argv);
}
EOF
cflags=(-O2 -g0 -flto -fPIC -DPy_BUILD_CORE_BUILTIN -DPY_SQLITE_ENABLE_LOAD_EXTENSION=1
        $($pycfg --includes))
sqlobjs=()   # Modules/_sqlite; main.o is separate (it must stay out of the shared library)
for c in "$b/main.c" "$out/src/Modules/_sqlite"/*.c; do
    o=$b/$(basename "$c" .c).o; [ "$c" = "$b/main.c" ] || sqlobjs+=("$o")
    nice gcc "${cflags[@]}" -c "$c" -o "$o" || die "compiling $(basename "$c") failed"
done
libsqlite=$(gcc -print-file-name=libsqlite3.a) && [ -f "$libsqlite" ] || die "no libsqlite3.a"
libpy=("$($pycfg --configdir)/libpython3.11-pic.a" "${sqlobjs[@]}")   # linked whole
hide=("$libsqlite" -Wl,--exclude-libs,libsqlite3.a -Wl,-z,now -lm -lz -lexpat -ldl -lpthread -lutil)
mkdir -p "$out/bin" "$out/stripped/bin" "$out/shared/bin" "$out/shared/lib"
nice gcc -O2 -flto -flto-partition=one -pie -o "$out/bin/python3.11" "$b/main.o" \
    -Wl,--whole-archive "${libpy[@]}" -Wl,--no-whole-archive "${hide[@]}" -Xlinker -export-dynamic \
    || die "linking python3.11 failed"
llvm-strip --strip-all -o "$out/stripped/bin/python3.11" "$out/bin/python3.11" \
    || die "llvm-strip failed"
# Older PBS layout: everything but main() in libpython3.11.so.1.0; $ORIGIN is resolved from the
# executable's real path, so venvs' symlinks to it still find the library.
lib=$out/shared/lib/libpython3.11.so.1.0
nice gcc -O2 -flto -flto-partition=one -shared -Wl,-soname,libpython3.11.so.1.0 -o "$lib" \
    -Wl,--whole-archive "${libpy[@]}" -Wl,--no-whole-archive "${hide[@]}" \
    || die "linking libpython3.11.so.1.0 failed"
nice gcc -O2 -flto -pie -o "$out/shared/bin/python3.11" "$b/main.o" "$lib" \
    -Wl,-rpath,'$ORIGIN/../lib' -Wl,-z,now || die "linking shared/bin/python3.11 failed"
for d in "$out/bin" "$out/stripped/bin" "$out/shared/bin"; do
    ln -sfn python3.11 "$d/python3"; ln -sfn python3.11 "$d/python"
done

# 3. Check what the tests rely on.
py=$out/bin/python3.11
dyn=$(nm -D "$py") && sym=$(nm "$py") || die "nm failed on $py"
grep -q ' sqlite3_' <<<"$dyn" && die "sqlite3_* symbols are exported in .dynsym"
grep -q ' T PyInit__sqlite3$' <<<"$dyn" || die "PyInit__sqlite3 is not exported in .dynsym"
for f in sqlite3_step sqlite3_open_v2 sqlite3_prepare_v2; do
    grep -q " t $f\$" <<<"$sym" || die "$f is not a local symbol in .symtab"
done
readelf -S "$out/stripped/bin/python3.11" | grep -q '\.symtab' && die "stripped binary still has .symtab"
spy=$out/shared/bin/python3.11
sym=$(nm -a "$spy"; nm -D "$spy") || die "nm failed on $spy"
grep -q 'sqlite3_' <<<"$sym" && die "$spy has sqlite3_* symbols"
dyn=$(nm -D "$lib") && sym=$(nm "$lib") || die "nm failed on $lib"
grep -q ' sqlite3_' <<<"$dyn" && die "sqlite3_* symbols are exported in $lib's .dynsym"
grep -q ' T PyInit__sqlite3$' <<<"$dyn" || die "PyInit__sqlite3 is not exported by $lib"
grep -q ' t sqlite3_step$' <<<"$sym" || die "sqlite3_step is not a local symbol in $lib's .symtab"
# Python-side failures die with the last line of the traceback, e.g. "AssertionError: ...".
# argv[1]: the object SQLite is linked into, which must be mapped (real path, as in maps).
for p in "$py" "$out/stripped/bin/python3.11" "$spy"; do
    holder=$(realpath "$p"); [ "$p" != "$spy" ] || holder=$(realpath "$lib")
    err=$("$p" -I -c 'import sqlite3, sys
maps = open("/proc/self/maps").read()
assert sys.argv[1] in maps, sys.argv[1] + " is not mapped"
assert "_sqlite3" in sys.builtin_module_names, "_sqlite3 is not built in"
assert sys.modules["_sqlite3"].__spec__.origin == "built-in", "_sqlite3 was not loaded built-in"
assert "libsqlite3.so" not in maps, "libsqlite3.so is loaded"
assert sys.base_prefix == "/usr", "sys.base_prefix is " + sys.base_prefix
sqlite3.connect(":memory:").enable_load_extension(False)
print(sqlite3.sqlite_version)' "$holder" 2>&1) || die "$p: ${err##*$'\n'}"
done
venv=$(mktemp -d) && trap 'rm -rf "$venv"' EXIT
for p in "$py" "$spy"; do
    rm -rf "$venv/v"
    err=$("$p" -m venv "$venv/v" 2>&1 && "$venv/v/bin/pip" --version 2>&1) || die "$p venv/pip: ${err##*$'\n'}"
done
# The last venv's python is a symlink to $spy: $ORIGIN must still find OUTDIR/shared/lib.
[ "$(readlink -f "$venv/v/bin/python")" = "$(realpath "$spy")" ] && [ -L "$venv/v/bin/python" ] \
    || die "the venv's python is not a symlink to $spy"
err=$("$venv/v/bin/python" -c 'import sys, _sqlite3
assert sys.argv[1] in open("/proc/self/maps").read(), sys.argv[1] + " is not mapped"' \
    "$(realpath "$lib")" 2>&1) || die "venv python: ${err##*$'\n'}"

echo "$stamp" > "$out/STAMP"
