#!/usr/bin/env bash
# Put the third-party C sources the Python package builds from into third_party/ (git-ignored,
# shipped in the sdist), so that `pip install` of the sdist needs nothing but a C compiler and
# make:
#   third_party/cjson/cJSON.c, LICENSE  Debian's source package cjson, of the same version as
#                                       the installed libcjson-dev (Debian's patches applied)
#   third_party/include/cJSON.h         from the same source package
#   third_party/include/sqlite3.h       the installed libsqlite3-dev's header (public domain);
#                                       the shim only needs its declarations, never the library
#   third_party/SOURCES                 which versions, for the record
# apt-get source runs with private lists under build/apt-src (-o Dir::...), so the system's apt
# configuration is untouched.  Nothing is done when third_party/SOURCES already names the same
# versions.  Usage: tools/wheel/sources.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
out=third_party
die() { echo "wheel-sources: $*" >&2; exit 1; }

ver_of() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || die "$1 is not installed (scripts/install-deps.sh installs it)"; }
cjson_ver=$(ver_of libcjson-dev)
sqlite_ver=$(ver_of libsqlite3-dev)
want="cjson $cjson_ver (Debian source package, patches applied)
sqlite3.h from libsqlite3-dev $sqlite_ver"
if [ -f "$out/SOURCES" ] && [ "$(cat "$out/SOURCES")" = "$want" ] && [ -f "$out/cjson/cJSON.c" ]; then
    exit 0
fi
command -v dpkg-source >/dev/null || die "dpkg-source not found: apt-get install dpkg-dev"
[ -f /usr/include/sqlite3.h ] || die "/usr/include/sqlite3.h not found: apt-get install libsqlite3-dev"

apt_dir=$(pwd)/$build/apt-src
rm -rf "$apt_dir"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/src"
# the system's own mirror and suites, as deb-src
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
{
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && awk -v k="$keyring" '
            /^Types:/ { deb = ($0 ~ /(^| )deb( |$)/) } /^URIs:/ { u = $2 } /^Suites:/ { $1 = ""; s = $0 }
            /^Components:/ { $1 = ""; c = $0 }
            /^$/ { if (deb && u) { n = split(s, a, " "); for (i = 1; i <= n; i++) print "deb-src [signed-by=" k "] " u " " a[i] c } deb = 0; u = "" }
            END { if (deb && u) { n = split(s, a, " "); for (i = 1; i <= n; i++) print "deb-src [signed-by=" k "] " u " " a[i] c } }' "$f"
    done
    if [ -f /etc/apt/sources.list ]; then sed -n 's/^deb \(.*\)$/deb-src \1/p' /etc/apt/sources.list; fi
} | sort -u >"$apt_dir/sources.list"
[ -s "$apt_dir/sources.list" ] || die "no Debian mirror found in /etc/apt/sources.list{,.d/*.sources}"
apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
          -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
          -o Acquire::Retries=3 -o Acquire::http::Timeout=60)
timeout 600 apt-get -qq "${apt_opts[@]}" update >"$apt_dir/update.log" 2>&1 ||
    die "apt-get update of the source lists failed (see $apt_dir/update.log)"
(cd "$apt_dir/src" && timeout 600 apt-get -qq "${apt_opts[@]}" source --download-only "cjson=$cjson_ver") \
    >"$apt_dir/source.log" 2>&1 ||
    die "apt-get source cjson=$cjson_ver failed (see $apt_dir/source.log)"
(cd "$apt_dir/src" && dpkg-source -x ./cjson_*.dsc cjson) >"$apt_dir/extract.log" 2>&1 ||
    die "dpkg-source -x of cjson failed (see $apt_dir/extract.log)"

rm -rf "$out"
mkdir -p "$out/cjson" "$out/include"
cp "$apt_dir/src/cjson/cJSON.c" "$apt_dir/src/cjson/LICENSE" "$out/cjson/"
cp "$apt_dir/src/cjson/cJSON.h" /usr/include/sqlite3.h "$out/include/"
printf '%s\n' "$want" >"$out/SOURCES"
echo "wheel-sources: $out/ from cjson $cjson_ver and libsqlite3-dev $sqlite_ver"
