#!/usr/bin/env bash
# Install what building and testing testmon-shim needs, from Debian's packages, if missing.
# Python packages for the tests are not installed here: the tests create their own venvs.
set -euo pipefail
# clang (libFuzzer, with its recommended compiler-rt) and valgrind: make check-slow, a suite of
# make test.  xfsprogs: test_frozen mounts an xfs image to test the reflink copy of the datafile.
# dpkg-dev: dpkg-source unpacks cJSON's Debian source package for the wheel (make wheel).
# python3.11-dev (libpython3.11-pic.a), zlib1g-dev, libexpat1-dev, llvm (llvm-strip): the emulated
# python-build-standalone interpreters of tests/static/build-python.sh (static-3.11 cells).
# parallel: bats runs tests at once with it (make check's fast tier).
# patchelf: othersqlite.bats gives a copy of libsqlite3 its own SONAME (as auditwheel does).
pkgs=(gcc make pkg-config binutils libsqlite3-dev libcjson-dev sqlite3 git python3 python3-venv
      bats bats-support bats-assert clang valgrind xfsprogs
      dpkg-dev python3.11-dev python3.11-venv zlib1g-dev libexpat1-dev llvm parallel patchelf)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# python3-venv is Debian's; an interpreter from pyenv or elsewhere brings venv itself.
if ((${#missing[@]})) && [[ " ${missing[*]} " == *" python3-venv "* ]] && python3 -m venv --help >/dev/null 2>&1; then
    missing=("${missing[@]/python3-venv}")
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | grep -v '^$' || true)
((${#missing[@]})) || exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}" >/dev/null
