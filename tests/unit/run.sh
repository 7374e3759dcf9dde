#!/bin/sh
# run.sh RUNPREFIX PROGRAM...: run each unit test program, show its result line (its whole output
# when it failed), then the aggregate "N passed, N failed".  Exit status 1 if anything failed.
prefix=$1; shift
# the programs expect none of the shim's settings from the calling environment
unset TESTMON_SHIM TESTMON_SHIM_LOG TESTMON_SHIM_DIR TESTMON_SHIM_TIMEOUT TESTMON_DATAFILE PYTEST_XDIST_WORKER
passed=0; failed=0; bad=0
for t in "$@"; do
    log=$t.log
    # shellcheck disable=SC2086
    $prefix "$t" >"$log" 2>&1
    st=$?
    last=$(tail -n 1 "$log")
    counts=$(sh "$(dirname "$0")/../result-line.sh" --last "$log")
    p=${counts% *} f=${counts#* }
    if [ -z "$counts" ]; then
        p=0; f=1   # crashed or printed no result line: count the program as one failure
        last="$last (no result line, exit status $st)"
    fi
    passed=$((passed + p)); failed=$((failed + f))
    if [ "$st" -ne 0 ] || [ "$f" -ne 0 ]; then
        bad=1
        [ "$f" -eq 0 ] && failed=$((failed + 1)) && last="$last (exit status $st)"
        echo "--- $(basename "$t"): FAILED"
        cat "$log"
    fi
    grep '^SKIP ' "$log" | sed "s|^|$(basename "$t"): |"
    printf '%-28s %s\n' "$(basename "$t"):" "$last"
done
echo "$passed passed, $failed failed"
exit $bad
