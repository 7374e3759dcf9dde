#!/usr/bin/env bash
# chroot.sh [-C DIR] COMMAND [ARG...]: run COMMAND in the arm64 sysroot (tests/aarch64/sysroot.sh),
# in DIR (default: the current directory) and the current environment, as an emulated aarch64
# process tree.  DIR must lie under the sysroot (ROOT), whose paths are the same inside and
# outside the chroot.
# AARCH64_ROOT overrides the sysroot (default .cache/aarch64/root).  Mounts proc in the sysroot
# when it is not mounted (tests/aarch64/run.sh unmounts it when its suite ends).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=${AARCH64_ROOT:-$(cd "$here/../.." && pwd)/.cache/aarch64/root}
die() { echo "chroot.sh: $*" >&2; exit 125; }
[ -f "$root/.sysroot-ok" ] || die "no sysroot in $root; run tests/aarch64/sysroot.sh first"
dir=$PWD
if [ "${1:-}" = -C ]; then
    [ $# -ge 2 ] || die "usage: chroot.sh [-C DIR] COMMAND [ARG...]"
    dir=$2
    shift 2
fi
[ $# -gt 0 ] || die "usage: chroot.sh [-C DIR] COMMAND [ARG...]"
case "$dir/" in
"$root"/*) ;;
*) die "the directory $dir is not under the sysroot $root, so the chroot cannot see it; work under $root" ;;
esac
if ! mountpoint -q "$root/proc"; then
    mount -t proc proc "$root/proc" 2>/dev/null || mountpoint -q "$root/proc" ||
        die "cannot mount proc on $root/proc; run as root"
fi
exec chroot "$root" /usr/bin/env -C "$dir" "$@"
