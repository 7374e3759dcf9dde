#!/usr/bin/env bash
# run.sh: the aarch64 suite (make e2e-aarch64; tests/run.sh's suite `aarch64`).  On this x86-64
# machine, under qemu-user emulation in the arm64 sysroot of sysroot.sh (built once, cached in
# .cache/aarch64):
#   unit    the library and the command built with aarch64-linux-gnu-gcc, the C unit tests run
#           emulated (unit.sh)
#   wheel   the aarch64 wheel that `make wheel` built, installed in the sysroot's venvs, and plain
#           `pytest -n 2 --testmon` against the serial oracle (tests/e2e/run.py --target aarch64
#           --shim wheel): testmon 2.0.15, 2.1.3, 2.1.4 and 2.2.0 on Debian's arm64 Python 3.11,
#           through fresh, a dependency added late and early, and removed, and 2.1.3 with pyproj's
#           own SQLite used in every process (the companion cell pyproj-first); then
#           `python -m testmon_shim doctor` in such a venv must say the shim works
#   off     the negative control, the same wheel switched off (-p no:testmon_shim): each
#           release shows its upstream bug where pins.json records it (2.0.15 at fresh, 2.1.3
#           once a dependency is added, 2.1.4 once one is removed)
#   static  the wheel on an emulated python-build-standalone interpreter (SQLite linked in,
#           static-python.sh), which the shim cannot hook on aarch64: the controller and
#           doctor must say so plainly, and the run must be upstream's (static_check.py)
# The parts run at once (two cores); each is bounded.  Logs and results in BUILD/aarch64/.  Last
# line: `N passed, N failed`.  AARCH64_WHEEL=PATH tests another wheel than dist/'s newest.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
build=${BUILD:-build}
case $build in /*) ;; *) build=$repo/$build ;; esac
out=$build/aarch64
py=${E2E_PYTHON:-python3}
t0=$SECONDS
fail() { echo "aarch64: $*" >&2; echo "0 passed, 1 failed"; exit 1; }
mkdir -p "$out" "$repo/.cache/aarch64"
rm -f "$out"/*.log "$out"/*.json "$out"/*.rc

# One suite at a time per checkout: they share the sysroot and its proc mount.
exec 8>"$repo/.cache/aarch64/.suite-lock"
flock -w 900 8 || fail "another aarch64 suite held .cache/aarch64/.suite-lock for 900 s; wait for it to end"
root=$("$here/sysroot.sh") || fail "the arm64 sysroot could not be built (sysroot.sh's line above says why)"
# proc stays mounted in the sysroot only while the suite runs
trap 'mountpoint -q "$root/proc" && umount "$root/proc"' EXIT

wheel=${AARCH64_WHEEL:-$(ls -t dist/testmon_shim-*aarch64*.whl 2>/dev/null | head -n 1)}
[ -f "$wheel" ] || fail "no aarch64 wheel (dist/testmon_shim-*aarch64*.whl); run make wheel, or set AARCH64_WHEEL"
# the venvs are keyed by the wheel's path: a path that names its content
sum=$(sha256sum "$wheel" | cut -c1-12)
mkdir -p "$repo/.cache/aarch64/wheels/$sum"
cp -p "$wheel" "$repo/.cache/aarch64/wheels/$sum/"
wheel=$repo/.cache/aarch64/wheels/$sum/$(basename "$wheel")
echo "aarch64: sysroot $root, wheel $wheel"

# tests/e2e/run.py on the aarch64 target; a caller's variables must not narrow it
e2e=(env -u PYTHON -u TESTMON -u SHIM -u STEPS -u JOBS -u LAUNCHERS -u SHIM_PRELOAD_FIRST
     "$py" tests/e2e/run.py --target aarch64 --python 3.11 --launchers none --companions none
     --wheel "$wheel"
     --build "$build")

part_unit() { timeout 900 "$here/unit.sh"; }

part_wheel() {
    local rc=0 dl venv
    # and pyproj's aarch64 wheel, whose own SQLite every process uses before sqlite3 is loaded
    # (the companion cell pyproj-first: tests/e2e/companions.json)
    timeout 900 "${e2e[@]}" --results aarch64/e2e-wheel.json --shim wheel \
        --testmon 2.0.15,2.1.3,2.1.4,2.2.0 --companions all --companion pyproj-first \
        --steps dep_add_late,dep_add_early,dep_remove --jobs 4 || rc=1
    # doctor, in the 2.1.3 venv the cells used: the library, the interpreter's SQLite, the
    # plugin, and live probes of a controller and a worker
    venv=$(ls -d "$root"/venvs/whl-2.1.3-py3.11-* 2>/dev/null | head -n 1)
    dl=$root/tmp/doctor
    rm -rf "$dl" && mkdir -p "$dl"
    if [ -z "$venv" ]; then
        echo "doctor: no whl-2.1.3 venv in $root/venvs (the cells above made none)"
        echo "0 passed, 1 failed"
        return 1
    fi
    timeout 300 "$here/chroot.sh" -C "$dl" "$venv/bin/python" -m testmon_shim doctor >"$out/doctor.txt" 2>&1
    local drc=$?
    sed 's/^/doctor: /' "$out/doctor.txt"
    local p=0 f=0
    if [ "$drc" -eq 0 ] && grep -q '^verdict: works' "$out/doctor.txt" &&
       grep -q '^ok    live probe: a pytest process under the preload published its run' "$out/doctor.txt" &&
       grep -q '^ok    live probe: .*its worker joined its run' "$out/doctor.txt"; then
        p=1
    else
        f=1 rc=1
        echo "doctor: FAILED (exit $drc): it must exit 0 with 'verdict: works' and both live probes ok"
    fi
    # the closing line of the part: the cells' counts plus doctor's
    local counts
    counts=$(tests/result-line.sh "$out/wheel.log")
    echo "$(( ${counts% *} + p )) passed, $(( ${counts#* } + f )) failed"
    return $rc
}

part_off() {
    local rc=0 p=0 f=0 counts name spec specs=(2.0.15:fresh 2.1.3:dep_add_late
                                               2.1.4:dep_add_early,dep_remove)
    # each release through the steps that show its bug (and fresh, which always runs), at once
    for spec in "${specs[@]}"; do
        name=e2e-off-${spec%%:*}
        ( timeout 600 "${e2e[@]}" --results "aarch64/$name.json" --shim wheel-off --expect-bug \
              --testmon "${spec%%:*}" --steps "${spec#*:}" --jobs 1 >"$out/$name.log" 2>&1
          echo $? >"$out/$name.rc" ) &
    done
    wait
    for spec in "${specs[@]}"; do
        name=e2e-off-${spec%%:*}
        cat "$out/$name.log"
        [ "$(cat "$out/$name.rc")" = 0 ] || rc=1
        counts=$(tests/result-line.sh "$out/$name.log")
        [ -n "$counts" ] || counts="0 1"
        p=$((p + ${counts% *})) f=$((f + ${counts#* }))
    done
    echo "$p passed, $f failed"
    return $rc
}

part_static() { timeout 900 "$py" "$here/static_check.py" "$wheel"; }

# The parts at once; each writes its log, its exit status last.
parts=(unit wheel off static)
for part in "${parts[@]}"; do
    ( "part_$part" >"$out/$part.log" 2>&1; echo $? >"$out/$part.rc" ) &
done
wait
total_p=0 total_f=0 status=0
for part in "${parts[@]}"; do
    echo "== aarch64 $part"
    cat "$out/$part.log"
    counts=$(tests/result-line.sh "$out/$part.log")
    rc=$(cat "$out/$part.rc" 2>/dev/null || echo 1)
    if [ -z "$counts" ]; then counts="0 1"; echo "aarch64 $part: no result line (exit $rc)"; fi
    p=${counts% *} f=${counts#* }
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "aarch64 $part: exit $rc with no failure counted: counted as one"; fi
    total_p=$((total_p + p)) total_f=$((total_f + f))
    [ "$rc" -eq 0 ] || status=1
    echo "== aarch64 $part: $p passed, $f failed"
done
echo "aarch64: $((SECONDS - t0)) s"
echo "$total_p passed, $total_f failed"
exit $status
