#!/usr/bin/env bash
# Install, from Debian's packages, what a make target needs and the machine lacks; nothing else.
# Python packages are not installed here: the demo and the tests create their own venvs.
#   scripts/install-deps.sh [TARGET...]   install the missing packages of each TARGET (default: test)
#   scripts/install-deps.sh --list TARGET print TARGET's packages, one a line
# Targets (each includes the ones it names):
#   build   `make`: a C compiler, make, pkg-config, the headers of SQLite and cJSON
#   wheel   build, plus dpkg-dev (dpkg-source unpacks cJSON's Debian source package) and Python's
#           venv (the wheel tools, zig included, come from PyPI into .venvs/)
#   demo    wheel: the demo builds the wheel and installs it in a venv
#   check   build, plus what the fast tier runs: bats (bats-support, bats-assert; parallel runs
#           them at once), sqlite3, git, xfsprogs (test_runcopy mounts an xfs image to test the
#           reflink copy of the datafile), python3.11-dev (libpython3.11-pic.a), zlib1g-dev,
#           libexpat1-dev and llvm (llvm-strip): the emulated python-build-standalone
#           interpreters of tests/static/build-python.sh; patchelf (othersqlite.bats gives a copy
#           of libsqlite3 its own SONAME, as auditwheel does); libzydis-dev (test_x86_ref checks
#           the hook's instruction decoder against Zydis)
#   test    check and wheel, plus clang (libFuzzer, with its recommended compiler-rt) and
#           valgrind: make check-slow, a suite of make test
# Says on stderr what it installs; when nothing is missing it runs no apt-get and prints nothing.
set -euo pipefail

pkgs_of() { # pkgs_of TARGET: its packages, one a line
    case "$1" in
        build) printf '%s\n' gcc make pkg-config libsqlite3-dev libcjson-dev ;;
        wheel) pkgs_of build; printf '%s\n' dpkg-dev python3 python3-venv ;;
        demo)  pkgs_of wheel ;;
        check) pkgs_of build
               printf '%s\n' binutils sqlite3 git python3 python3-venv bats bats-support \
                   bats-assert parallel xfsprogs python3.11-dev python3.11-venv zlib1g-dev \
                   libexpat1-dev llvm patchelf libzydis-dev ;;
        test)  pkgs_of check; pkgs_of wheel; printf '%s\n' clang valgrind ;;
        *) echo "install-deps: unknown target '$1' (build, wheel, demo, check or test)" >&2
           return 2 ;;
    esac
}

if [ "${1:-}" = "--list" ]; then
    [ $# -eq 2 ] || { echo "usage: $0 --list TARGET" >&2; exit 2; }
    list=$(pkgs_of "$2") || exit 2
    sort -u <<<"$list"
    exit 0
fi
targets=("$@")
((${#targets[@]})) || targets=(test)
wanted=()
for t in "${targets[@]}"; do
    list=$(pkgs_of "$t") || exit 2
    mapfile -t -O "${#wanted[@]}" wanted <<<"$list"
done
mapfile -t wanted < <(printf '%s\n' "${wanted[@]}" | sort -u)

missing=()
for p in "${wanted[@]}"; do
    # python3-venv is Debian's; an interpreter from pyenv or elsewhere brings venv itself.  Its
    # ensurepip is what Debian's python3 lacks without it (the venv module is there either way).
    if [ "$p" = python3-venv ] && python3 -m ensurepip --version >/dev/null 2>&1; then
        continue
    fi
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
((${#missing[@]})) || exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-deps: ${targets[*]} needs ${missing[*]}: installing with ${sudo:+sudo }apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}" >/dev/null
