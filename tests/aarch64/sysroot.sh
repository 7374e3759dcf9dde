#!/usr/bin/env bash
# sysroot.sh [CACHE]: an arm64 (aarch64) Debian sysroot that this x86-64 machine runs under qemu
# user-mode emulation, in a chroot; idempotent, cached in CACHE (default .cache/aarch64, ignored
# by git).  What it makes:
#   CACHE/root           Debian bookworm's arm64 python3.11 (stdlib byte-compiled on the host:
#                        .pyc files do not depend on the CPU), SQLite and cJSON with their headers
#                        and libraries (the cross-built unit tests link them), dash, bash, coreutils
#   CACHE/root/cross-lib libsqlite3.so and libcjson.so alone, for aarch64-linux-gnu-gcc -L
#   CACHE/apt            a private apt root (its own status file, lists and downloaded debs): the
#                        host's dpkg is never told about arm64
#   ROOT/<ROOT's path>   a relative symlink to the sysroot's own /, so that any file under ROOT
#                        has one absolute path inside the chroot and outside it: the e2e runner
#                        on the host writes a project or a venv there and the emulated pytest
#                        reads the same paths (tests/aarch64/README.md)
# Host packages it installs when missing: qemu-user-static, binfmt-support (qemu as the binfmt
# handler of aarch64 ELF files, flag F: no copy of qemu inside the chroot), gcc-aarch64-linux-gnu,
# libc6-dev-arm64-cross (make CC=aarch64-linux-gnu-gcc).  Needs root: apt-get, mount, chroot.
# Prints the sysroot's path on stdout; every failure is one line on stderr naming cause and fix.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${1:-$repo/.cache/aarch64}
die() { echo "sysroot.sh: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (apt-get, mount, chroot): run it as root, or with sudo"
mkdir -p "$cache"
cache=$(cd "$cache" && pwd -P) # no symlink in ROOT's path: the path symlink below relies on it
root=$cache/root apt=$cache/apt
export DEBIAN_FRONTEND=noninteractive

# One at a time per cache: two suites building one sysroot would extract over each other.
exec 9>"$cache/.lock"
flock -w 600 9 || die "another sysroot.sh held $cache/.lock for 600 s; wait for it, or remove the lock if no such process runs"

# --- host packages -------------------------------------------------------------------------------
host_pkgs=(qemu-user-static binfmt-support gcc-aarch64-linux-gnu libc6-dev-arm64-cross
           debian-archive-keyring)
missing=()
for p in "${host_pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "sysroot.sh: installing ${missing[*]}" >&2
    timeout 600 apt-get update -qq >&2 || die "apt-get update failed; check the network to Debian's mirror"
    timeout 900 apt-get install -y -qq "${missing[@]}" >/dev/null ||
        die "apt-get install ${missing[*]} failed; run it by hand to see why"
fi

# --- binfmt: the kernel hands aarch64 ELF files to qemu ---------------------------------------
bm=/proc/sys/fs/binfmt_misc
if [ ! -e "$bm/status" ]; then
    mount -t binfmt_misc binfmt_misc "$bm" ||
        die "cannot mount binfmt_misc on $bm; run as root on a kernel with CONFIG_BINFMT_MISC"
fi
if [ ! -e "$bm/qemu-aarch64" ]; then
    update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
fi
if [ ! -e "$bm/qemu-aarch64" ]; then # by hand, as binfmt-support would (F: opened now)
    printf '%s' ':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/libexec/qemu-binfmt/aarch64-binfmt-P:PF' \
        >"$bm/register" 2>/dev/null ||
        die "cannot register qemu-aarch64 in $bm/register; is qemu-user-static installed?"
fi
grep -q '^enabled' "$bm/qemu-aarch64" || echo 1 >"$bm/qemu-aarch64"
grep -q '^flags:.*F' "$bm/qemu-aarch64" ||
    die "binfmt entry qemu-aarch64 lacks flag F (qemu must be opened at registration to run in a chroot); remove it (echo -1 > $bm/qemu-aarch64) and run again"

# --- the arm64 packages, through a private apt root ------------------------------------------------
# Suites and mirror: the host's own (its sources.list(.d)), for the arm64 architecture.
# binutils: test_hook strips a copy of itself with objcopy.  libpython3.11-dev, zlib1g-dev,
# libexpat1-dev: static-python.sh links an emulated python-build-standalone interpreter.
pkgs=(python3.11 python3.11-venv libpython3.11-stdlib libsqlite3-0 libsqlite3-dev libcjson1
      libcjson-dev dash bash coreutils binutils libpython3.11-dev zlib1g-dev libexpat1-dev)
stamp=$root/.sysroot-ok
want="format 3; ${pkgs[*]}"
if [ -f "$stamp" ] && [ "$(head -n 1 "$stamp")" = "$want" ]; then
    echo "$root"
    exit 0
fi
mirror=$(grep -rhoE 'https?://[^ ]*/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null |
         head -n 1 | tr -d ' ' || true)
mirror=${mirror:-http://deb.debian.org/debian}
mirror=${mirror%/}
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[ -n "$suite" ] || die "cannot tell the host's Debian suite from /etc/os-release (VERSION_CODENAME); this script knows Debian only"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$keyring" ] || die "$keyring is missing; apt-get install debian-archive-keyring"
mkdir -p "$apt"/{etc,state/lists/partial,cache/archives/partial}
: >"$apt/state/status"
cat >"$apt/etc/sources.list" <<SRC
deb [arch=arm64 signed-by=$keyring] $mirror $suite main
deb [arch=arm64 signed-by=$keyring] $mirror $suite-updates main
deb [arch=arm64 signed-by=$keyring] ${mirror%/debian}/debian-security $suite-security main
SRC
cat >"$apt/etc/apt.conf" <<CONF
Dir "/";
Dir::State "$apt/state";
Dir::State::status "$apt/state/status";
Dir::Cache "$apt/cache";
Dir::Etc::SourceList "$apt/etc/sources.list";
Dir::Etc::SourceParts "/dev/null";
Dir::Etc::Preferences "/dev/null";
Dir::Etc::PreferencesParts "/dev/null";
APT::Architecture "arm64";
APT::Architectures { "arm64"; };
APT::Install-Recommends "false";
Debug::NoLocking "true";
CONF
export APT_CONFIG=$apt/etc/apt.conf
timeout 600 apt-get update -qq >&2 ||
    die "apt-get update of the arm64 lists failed (mirror $mirror, suite $suite); check the network to the mirror"
timeout 900 apt-get install -y -qq --download-only "${pkgs[@]}" >&2 ||
    die "downloading the arm64 packages failed; run APT_CONFIG=$apt/etc/apt.conf apt-get install --download-only ${pkgs[*]} to see why"
unset APT_CONFIG

# Extract every deb (a fresh tree: a half-extracted one is never reused).
rm -rf "$root.new"
mkdir -p "$root.new"
n=0
for deb in "$apt"/cache/archives/*.deb; do
    dpkg-deb -x "$deb" "$root.new" || die "dpkg-deb -x $deb failed; remove $apt/cache/archives and run again"
    n=$((n + 1))
done
((n > 0)) || die "no arm64 deb was downloaded into $apt/cache/archives"
r=$root.new
# The merged /usr that base-files' maintainer scripts would make (not run by dpkg-deb -x): the
# dynamic loader is looked for at /lib/ld-linux-aarch64.so.1.
for d in bin sbin lib; do
    if [ -d "$r/$d" ] && [ ! -L "$r/$d" ]; then
        mkdir -p "$r/usr/$d"
        cp -a "$r/$d/." "$r/usr/$d/"
        rm -rf "${r:?}/$d"
    fi
    ln -sfn "usr/$d" "$r/$d"
done
[ -e "$r/usr/bin/sh" ] || ln -s dash "$r/usr/bin/sh"
[ -x "$r/usr/bin/python3.11" ] || die "the sysroot has no usr/bin/python3.11 after extraction"
mkdir -p "$r/tmp" "$r/proc" "$r/dev/shm" "$r/etc" "$r/root"
chmod 1777 "$r/tmp" "$r/dev/shm"
# Device nodes of its own rather than a bind of the host's /dev: nothing under ROOT is a mount
# but proc, so removing the cache can never reach the host's devices.
for node in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
    IFS=: read -r name major minor <<<"$node"
    mknod -m 666 "$r/dev/$name" c "$major" "$minor"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$r/etc/passwd"
printf 'root:x:0:\n' >"$r/etc/group"
cp /etc/resolv.conf "$r/etc/" 2>/dev/null || true
# ROOT's own path inside ROOT, relative, so it resolves to the sysroot's / in the chroot and to
# ROOT outside it.
mkdir -p "$r$(dirname "$root")"
ln -sfn "$(realpath -m --relative-to="$r$(dirname "$root")" "$r")" "$r$root"
# The stdlib byte-compiled by the host's CPython 3.11 (the same magic number), names as in the
# chroot: emulated, each start would otherwise compile what it imports, every time.
hostpy=$(command -v /usr/bin/python3.11 python3.11 | head -n 1) ||
    die "no python3.11 on the host to byte-compile the sysroot's stdlib; apt-get install python3.11"
nice -n 10 "$hostpy" -m compileall -q -j 2 -s "$r" -p / "$r/usr/lib/python3.11" >/dev/null ||
    die "byte-compiling the sysroot's stdlib with $hostpy failed"
# What the cross compiler links the unit tests with: SQLite and cJSON alone (the sysroot's
# lib directory would also bring its libc.so linker script, whose absolute paths name the
# host's /lib; the cross toolchain's own libc is the one to link).
mkdir -p "$r/cross-lib"
for lib in libsqlite3.so.0 libcjson.so.1; do
    [ -e "$r/usr/lib/aarch64-linux-gnu/$lib" ] || die "the sysroot has no usr/lib/aarch64-linux-gnu/$lib"
    ln -sfn "../usr/lib/aarch64-linux-gnu/$lib" "$r/cross-lib/${lib%.*}"
done
printf '%s\n%s debs from %s %s\n' "$want" "$n" "$mirror" "$suite" >"$r/.sysroot-ok"
# Swap in the new tree; an old one may hold a proc mount (tests/aarch64/chroot.sh mounts it).
if [ -d "$root" ]; then
    if mountpoint -q "$root/proc"; then umount "$root/proc" || die "cannot unmount $root/proc; stop what runs in the chroot and run again"; fi
    rm -rf "$root"
fi
mv "$root.new" "$root"
echo "sysroot.sh: arm64 sysroot in $root ($n debs)" >&2
echo "$root"
