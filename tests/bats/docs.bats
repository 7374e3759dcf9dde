#!/usr/bin/env bats
# README.md and docs/: the shape README promises (one quick start of at most ten lines, one
# command for the demo and one for the tests, the one CI runs), links that resolve, make targets
# that exist; and the demo's comparison (examples/demo_compare.py) on reports made up here.
# Running the quick start and the demo themselves is tests/first-run (make first-run).

load helpers/common

setup() { common_setup; }
teardown() { common_teardown; }

# README's quick start: the lines of the code block between the quick-start markers
quick_start() {
    sed -n '/^<!-- quick-start:begin -->$/,/^<!-- quick-start:end -->$/p' "$ROOT/README.md" |
        sed -e '1,/^```/d' -e '/^```$/,$d'
}

@test "README: one quick start of at most ten lines, one command for the demo, one for the tests" {
    run quick_start
    assert_success
    [ -n "$output" ]
    [ "$(grep -c . <<<"$output")" -le 10 ]
    assert_line --regexp '^make wheel( |$)'
    assert_line --regexp '^pip install dist/testmon_shim-'
    assert_line --regexp 'pytest -n auto --testmon'
    refute_output --partial LD_PRELOAD=
    assert_equal "$(grep -c 'quick-start:begin' "$ROOT/README.md")" 1
    # the demo and the tests: each a block of one command
    blocks="$(awk '/^```/ { if (inside) { print body; inside = 0 } else { inside = 1; body = "" }; next }
                   inside { body = body (body == "" ? "" : "|") $0 }' "$ROOT/README.md")"
    grep -qx 'make demo' <<<"$blocks"
    grep -qx 'make test' <<<"$blocks"
    # short enough to read in three minutes; the deep material is in docs/
    [ "$(wc -l < "$ROOT/README.md")" -le 120 ]
    run grep -c 'pip install testmon-shim' "$ROOT/README.md"   # not on PyPI: a command that fails
    assert_output 0
}

@test "CI runs exactly README's test command" {
    run grep -E '^[^#]*\bmake\b' "$ROOT/.ci/run"
    assert_success
    assert_equal "${#lines[@]}" 1
    [[ "${lines[0]}" == "make test "* || "${lines[0]}" == "make test" ]]
}

@test "README and docs/: every relative link and #anchor resolves" {
    run "$PY" "$ROOT/tests/bats/helpers/links.py" "$ROOT"
    assert_success
    assert_output --regexp '^[0-9]+ links, 0 broken$'
    # the checker itself sees a missing file and a missing heading
    mkdir docs
    printf '# T\n\n## Real heading\n\n[a](../nope.md) [b](#real-heading) [c](#no-heading) [d](https://x.y/z)\n' \
        > docs/t.md
    run "$PY" "$ROOT/tests/bats/helpers/links.py" "$WORK" "$WORK/docs/t.md"
    assert_failure
    assert_line "docs/t.md:5: ../nope.md: no such file"
    assert_line "docs/t.md:5: #no-heading: no heading #no-heading in docs/t.md"
    assert_line "3 links, 2 broken"
}

@test "README and docs/: every make target they name exists" {
    targets="$(cd "$ROOT" && make -pRrq -f Makefile : 2>/dev/null |
        awk -F: '/^[a-zA-Z0-9][^$#\/\t=]*:([^=]|$)/ {print $1}' | sort -u)"
    grep -qx demo <<<"$targets"
    run "$PY" "$ROOT/tests/bats/helpers/links.py" --make-targets "$ROOT"
    assert_success
    [ "${#lines[@]}" -gt 10 ]
    for line in "${lines[@]}"; do
        t="${line#*: }"
        [ "$t" = all ] || grep -qx -- "$t" <<<"$targets" || { echo "$line: no such make target"; false; }
    done
}

# a JUnit report (xunit1) of the given "outcome file::name" pairs
report() { # report <file> <outcome:node>...
    local out=$1; shift
    {
        printf '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">'
        for t in "$@"; do
            local outcome=${t%%:*} node=${t#*:} file name inner=""
            file=${node%%::*} name=${node##*::}
            case $outcome in
                failed) inner='<failure message="x"/>' ;;
                error) inner='<error message="x"/>' ;;
                skipped) inner='<skipped message="x"/>' ;;
            esac
            printf '<testcase classname="%s" name="%s" file="%s">%s</testcase>' \
                "${file%.py}" "$name" "$file" "$inner"
        done
        printf '</testsuite></testsuites>\n'
    } > "$out"
}

@test "demo_compare: the same tests, outcomes and exit status agree; anything else fails, and says what" {
    CMP="$ROOT/examples/demo_compare.py"
    report serial.xml passed:t.py::a failed:t.py::b passed:u.py::c
    report same.xml passed:u.py::c failed:t.py::b passed:t.py::a
    run "$PY" "$CMP" same serial.xml 1 same.xml 1
    assert_success
    assert_output "same 3 tests as a serial run, same outcomes (1 failed, 2 passed), same exit status (1)"
    run "$PY" "$CMP" show serial.xml 1
    assert_line --index 0 "exit status 1; ran 3 tests: 1 failed, 2 passed"
    assert_line --index 1 "  passed   t.py::a"
    report other.xml passed:t.py::a passed:t.py::b passed:v.py::d
    run "$PY" "$CMP" same serial.xml 1 other.xml 0
    assert_failure 1
    assert_line "NOT the same as the serial run:"
    assert_line "  not run: u.py::c (serial: passed)"
    assert_line "  run, but not by the serial run: v.py::d (passed)"
    assert_line "  t.py::b: passed, serial failed"
    assert_line "  exit status 0, serial 1"
    # no report at all (a run that died), and a serial run that ran nothing, never agree
    run "$PY" "$CMP" same serial.xml 1 missing.xml 1
    assert_failure 1
    assert_line "  not run: t.py::a (serial: passed)"
    report empty.xml
    run "$PY" "$CMP" same empty.xml 0 empty.xml 0
    assert_failure 1
    assert_line "  the serial run ran no test: nothing to compare"
}
