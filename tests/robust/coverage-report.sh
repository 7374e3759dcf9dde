#!/usr/bin/env bash
# coverage-report.sh BUILD [DIR...]: line coverage of DIR/*.c (default: shim tools) from the .gcda
# files in BUILD/DIR (gcov), one line per file and a TOTAL line per directory:
#   TOTAL shim/            <lines> <covered> <percent>%
set -u
cd "$(dirname "$0")/../.."
b=${1:-build-cov}; shift
(($#)) || set -- shim tools
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '%-22s %7s %7s %8s\n' file lines covered percent
for d in "$@"; do
    tl=0 te=0
    for src in "$d"/*.c; do
        out=$(cd "$tmp" && gcov -n -o "$OLDPWD/$b/$d" "$OLDPWD/$src" 2>/dev/null)
        line=$(awk -v f="$src" '$0 ~ "^File .*"f"'"'"'$" {getline; print; exit}' <<<"$out")
        pct=$(sed -nE 's/Lines executed:([0-9.]+)% of ([0-9]+)/\1/p' <<<"$line")
        n=$(sed -nE 's/Lines executed:([0-9.]+)% of ([0-9]+)/\2/p' <<<"$line")
        [ -n "$n" ] || { pct=0; n=$(grep -c . "$src"); echo "$src: no coverage data" >&2; }
        e=$(awk "BEGIN{printf \"%d\", $pct * $n / 100 + 0.5}")
        tl=$((tl + n)); te=$((te + e))
        printf '%-22s %7d %7d %7.2f%%\n' "$src" "$n" "$e" "$pct"
    done
    printf '%-22s %7d %7d %7.2f%%\n' "TOTAL $d/" "$tl" "$te" \
        "$(awk "BEGIN{print ($tl ? 100 * $te / $tl : 0)}")"
done
