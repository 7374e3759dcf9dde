"""`testmon-shim` (and `python -m testmon_shim`): the package's native command, which finds the
library beside itself.  `doctor` without --python checks this interpreter, the one the package
is installed in, rather than the first python3 on PATH."""
from __future__ import annotations

import os
import sys
from typing import List, Optional

COMMAND = os.path.join(os.path.dirname(os.path.abspath(__file__)), "testmon-shim")


def command_line(args: List[str]) -> List[str]:
    given = any(a == "--python" or a.startswith("--python=") for a in args[1:])
    if args[:1] == ["doctor"] and sys.executable and not given:
        args = ["doctor", "--python", sys.executable] + args[1:]
    return [COMMAND] + args


def main(argv: Optional[List[str]] = None) -> int:
    argv = command_line(sys.argv[1:] if argv is None else argv)
    try:
        os.execv(COMMAND, argv)
    except OSError as e:
        sys.stderr.write("testmon-shim: cannot run %s (%s): reinstall testmon-shim\n"
                         % (COMMAND, e.strerror))
        return 125  # as `testmon-shim run` when the library is missing
    return 0  # not reached: execv replaces this process


if __name__ == "__main__":
    sys.exit(main())
