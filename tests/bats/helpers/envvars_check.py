"""envvars_check.py ROOT LIBRARY: the plugin reads the settings by the library's grammar.

The plugin decides on TESTMON_SHIM before it loads the library, so it keeps a copy of
shim/envvars.h's lists (python/testmon_shim/_envvars.py).  Checked here: the two lists equal the
header's; the library loaded with each of a set of spellings of TESTMON_SHIM says "off"
(testmon_shim_role) exactly when the plugin's switched_off() does; log_level() gives the levels
test_envvars.c expects of shim_envvars_log.  Prints one line per difference and `ok` at the end;
exits 1 on any difference.
"""
import os
import re
import subprocess
import sys
from typing import List, Optional, Tuple

root, library = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(root, "python", "testmon_shim"))
import _envvars  # noqa: E402  (the plugin's module, without importing pytest)

bad: List[str] = []
header = open(os.path.join(root, "shim", "envvars.h")).read()
for macro, mirror in (("SHIM_ENVVARS_OFF_VALUES", _envvars.OFF_VALUES),
                      ("SHIM_ENVVARS_LOG_LEVELS", _envvars.LOG_LEVELS)):
    m = re.search(r"#define %s \{([^}]*)\}" % macro, header)
    listed = tuple(re.findall(r'"([^"]*)"', m.group(1))) if m else None
    if listed != tuple(mirror):
        bad.append("%s is %s in shim/envvars.h, %s in _envvars.py" % (macro, listed, mirror))

# What the library itself says, loaded into a Python with TESTMON_SHIM set (its constructor
# reads it): "off", or "none" (no datafile opened).
PROBE = ("import ctypes, sys; f = ctypes.CDLL(sys.argv[1]).testmon_shim_role; "
         "f.restype = ctypes.c_char_p; print(f().decode())")
first = os.environ.get("SHIM_PRELOAD_FIRST")  # a sanitizer's runtime must come before the library
for value in ("off", "OFF", "Off", "0", "false", "FALSE", "no", "No", "on", "1", "true", "yes",
              "", " off", "off ", "of", "offf", "n", "disable", "\u00f6ff"):
    env = dict(os.environ, TESTMON_SHIM=value, **({"LD_PRELOAD": first} if first else {}))
    out = subprocess.run([sys.executable, "-c", PROBE, library], env=env,
                         stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout
    lib_off = out.strip() == "off"
    if lib_off != _envvars.switched_off(value):
        bad.append("TESTMON_SHIM=%r: the library says %s, the plugin %s"
                   % (value, out.strip(), _envvars.switched_off(value)))

LEVELS: Tuple[Tuple[Optional[str], Optional[int]], ...] = (
    (None, 0), ("", 0), ("error", 0), ("warn", 1), ("info", 2), ("debug", 3), ("0", 0),
    ("3", 3), ("info:/tmp/x", 2), ("debug:", 3), ("4", None), ("INFO", None), ("infox", None),
    (":info", None), ("warning", None), ("\u0663", None), ("2:", 2))
for value, want in LEVELS:
    if _envvars.log_level(value) != want:
        bad.append("TESTMON_SHIM_LOG=%r: level %s, the library's %s"
                   % (value, _envvars.log_level(value), want))
for line in bad:
    print(line)
print("ok" if not bad else "%d difference(s)" % len(bad))
sys.exit(1 if bad else 0)
