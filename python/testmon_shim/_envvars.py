"""The grammar of the shim's settings, as the library reads them (shim/envvars.h).

The plugin decides on TESTMON_SHIM before it loads the library (that is the decision), so it
cannot ask the library; these two lists are a copy of the header's, which tests/bats/shim.bats
checks against it.  Change them together.
"""
from __future__ import annotations

from typing import Optional

OFF_VALUES = ("off", "0", "false", "no")  # SHIM_ENVVARS_OFF_VALUES, compared ignoring case
LOG_LEVELS = ("error", "warn", "info", "debug")  # SHIM_ENVVARS_LOG_LEVELS, 0 to 3


def switched_off(value: Optional[str]) -> bool:
    """Does this value of TESTMON_SHIM switch the shim off (shim_envvars_off)?"""
    # strcasecmp folds ASCII letters only
    return value is not None and value.isascii() and value.lower() in OFF_VALUES


def log_level(value: Optional[str]) -> Optional[int]:
    """The level of TESTMON_SHIM_LOG, LEVEL or LEVEL:FILE (shim_envvars_log): 0 (errors only)
    when unset or empty, None for a LEVEL the library does not know (it then logs errors only,
    and says so)."""
    if not value:
        return 0
    word = value.split(":", 1)[0]
    numbers = [str(n) for n in range(len(LOG_LEVELS))]  # ASCII digits only, as in C
    if word in numbers:
        return numbers.index(word)
    return LOG_LEVELS.index(word) if word in LOG_LEVELS else None
