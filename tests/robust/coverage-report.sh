#!/usr/bin/env bash
# coverage-report.sh BUILD: line coverage of shim/*.c from the .gcda files in BUILD/shim (gcov),
# one line per file and a TOTAL line.
set -u
cd "$(dirname "$0")/../.."
b=${1:-build-cov}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tl=0 te=0
printf '%-22s %7s %7s %8s\n' file lines covered percent
for src in shim/*.c; do
    out=$(cd "$tmp" && gcov -n -o "$OLDPWD/$b/shim" "$OLDPWD/$src" 2>/dev/null)
    line=$(awk -v f="$src" '$0 ~ "^File .*"f"'"'"'$" {getline; print; exit}' <<<"$out")
    pct=$(sed -nE 's/Lines executed:([0-9.]+)% of ([0-9]+)/\1/p' <<<"$line")
    n=$(sed -nE 's/Lines executed:([0-9.]+)% of ([0-9]+)/\2/p' <<<"$line")
    [ -n "$n" ] || { pct=0; n=$(grep -c . "$src"); echo "$src: no coverage data" >&2; }
    e=$(awk "BEGIN{printf \"%d\", $pct * $n / 100 + 0.5}")
    tl=$((tl + n)); te=$((te + e))
    printf '%-22s %7d %7d %7.2f%%\n' "$src" "$n" "$e" "$pct"
done
printf 'TOTAL %23d %7d %.2f%%\n' "$tl" "$te" "$(awk "BEGIN{print 100 * $te / $tl}")"
