"""List the shim's error and warning messages that docs/troubleshooting.md lacks.

Every shim_log_error/shim_log_warn call in shim/*.c is read (its format string, adjacent literals
joined); its first run of literal text between conversions (%s, %ld, ...) that is at least ten
characters long (up to a semicolon: what follows is the fix) stands for the message, and must occur
in docs/troubleshooting.md.  Prints one line per missing message, `file:line: text`, and a last
line `N messages, N missing`; exits 1 if any is missing.
"""
import glob
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "."
section = open(root + "/docs/troubleshooting.md", encoding="utf-8").read()

CALL = re.compile(r"shim_log_(?:error|warn)\(\s*((?:\"(?:[^\"\\]|\\.)*\"\s*)+)")
SPEC = re.compile(r"%[-+ #0]*[0-9.*]*(?:hh|h|ll|l|z|j|t)?[a-zA-Z%]")

total = missing = 0
for path in sorted(glob.glob(root + "/shim/*.c")):
    text = open(path, encoding="utf-8").read()
    for m in CALL.finditer(text):
        fmt = "".join(re.findall(r"\"((?:[^\"\\]|\\.)*)\"", m.group(1)))
        fmt = fmt.replace('\\"', '"')
        runs = [r.split(";")[0].strip(" :,()") for r in SPEC.split(fmt)]
        key = next((r for r in runs if len(r) >= 10), max(runs, key=len))
        total += 1
        if key not in section:
            missing += 1
            line = text.count("\n", 0, m.start()) + 1
            print("%s:%d: %s" % (path[len(root) + 1:], line, key))
print("%d messages, %d missing" % (total, missing))
sys.exit(1 if missing else 0)
