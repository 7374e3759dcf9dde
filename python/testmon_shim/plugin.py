"""pytest plugin of testmon-shim (entry point pytest11 `testmon_shim`): a pytest-xdist run of
testmon gets libtestmon_shim.so in its controller and in each worker, with no LD_PRELOAD and no
restart.

The library reaches Python's sqlite3 module by rewriting that module's own import slots, whether
the module was imported before the library loads or after (shim/README.md: "How the shim reaches
SQLite"), and nothing else in the process.  So loading it is all this plugin does, as early as
pytest lets a plugin run code (pytest_addoption, before testmon opens its datafile in
pytest_configure):

* in a controller whose command line, PYTEST_ADDOPTS or ini addopts could ask for xdist; once
  the options are parsed, a run that is not an xdist run of testmon switches it off again
  (testmon_shim_off);
* in an xdist worker (PYTEST_XDIST_WORKER), which runs this plugin too.

Nothing is set in the environment: a test's own subprocesses (an AddressSanitizer-built program,
a nested pytest) start exactly as without the shim.  Stays out of the way: TESTMON_SHIM=off,
`-p no:testmon_shim`, a library already in the process (LD_PRELOAD by hand, `testmon-shim run`),
a platform other than Linux.  Says in pytest's header whether it manages an xdist run of testmon
(`-q` hides it, as every header line).  Never writes to stdout otherwise.
"""
from __future__ import annotations

import os
import shlex
import sys
from typing import Any, Iterable, List, Optional, Tuple

import pytest

from . import _envvars

LIB_NAME = "libtestmon_shim.so"
LIBRARY = os.path.join(os.path.dirname(os.path.abspath(__file__)), LIB_NAME)
# Options with which pytest-xdist starts workers (long forms may be abbreviated by argparse).
XDIST_SHORT = ("-n", "-d")
XDIST_LONG = ("--numprocesses", "--tx", "--dist", "--maxprocesses")
# testmon is active when one of these options is set and --no-testmon is not (testmon's own
# rule, configure.py of 1.x-2.2).
TESTMON_DESTS = ("testmon", "testmon_noselect", "testmon_nocollect", "testmon_forceselect",
                 "tmnet")


class _State:
    library: Any = None  # the ctypes.CDLL this plugin loaded
    why_not: Optional[str] = None  # why the library was not loaded, for the header


def _say(message: str) -> None:
    """One line on stderr (never stdout: pytest and execnet own it)."""
    sys.stderr.write("testmon-shim: %s\n" % message)
    sys.stderr.flush()


def _info(message: str) -> None:
    """Said only with TESTMON_SHIM_LOG at info or debug, as the library's own info lines."""
    level = _envvars.log_level(os.environ.get("TESTMON_SHIM_LOG"))
    if level is not None and level >= _envvars.LOG_LEVELS.index("info"):
        _say(message)


def switched_off() -> bool:
    return _envvars.switched_off(os.environ.get("TESTMON_SHIM"))


def _mapped(names: Iterable[str]) -> List[str]:
    """Paths of the objects mapped into this process whose file name starts with one of names."""
    found = []
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                fields = line.split(None, 5)
                path = fields[5].strip() if len(fields) == 6 else ""
                if path.startswith("/") and os.path.basename(path).startswith(tuple(names)):
                    found.append(path)
    except OSError:
        pass
    return sorted(set(found))


def loaded_library() -> Optional[str]:
    """The shim already in this process (preloaded, or loaded here), or None."""
    paths = _mapped(["libtestmon_shim"])
    return paths[0] if paths else None


def _could_ask_for_xdist(config: pytest.Config) -> bool:
    """Might this run start xdist workers?  The options are not parsed yet (plugins are still
    being loaded), so look at the words that can carry them; when unsure, yes."""
    words = list(config.invocation_params.args)
    try:
        words += shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))
        words += [str(w) for w in config.getini("addopts")]
    except (ValueError, KeyError):
        return True
    if "no:xdist" in words or "-pno:xdist" in words:
        return False
    for w in words:
        if w.startswith(XDIST_SHORT) and not w.startswith("--"):
            return True
        if len(w) > 2 and any(x.startswith(w.split("=", 1)[0]) for x in XDIST_LONG):
            return True
    return False


def _load(config: pytest.Config) -> None:
    if switched_off():
        _State.why_not = "off (TESTMON_SHIM=%s)" % os.environ.get("TESTMON_SHIM")
        return
    if not sys.platform.startswith("linux"):
        _State.why_not = "not managing: Linux only"
        return
    if _State.library is not None or loaded_library():
        return
    if not os.environ.get("PYTEST_XDIST_WORKER") and not _could_ask_for_xdist(config):
        return
    import ctypes  # only here: a run that cannot use xdist does not pay for it

    try:
        # RTLD_LOCAL: nothing binds to the library by name, it reaches the sqlite3 module itself
        _State.library = ctypes.CDLL(LIBRARY)
    except OSError as e:
        _State.why_not = "not managing: cannot load %s" % LIBRARY
        _say("cannot load %s (%s): reinstall testmon-shim; pytest runs without the shim"
             % (LIBRARY, e))
        return
    _info("loaded %s" % LIBRARY)


def _testmon_on(config: pytest.Config) -> bool:
    option = vars(config.option)
    return not option.get("no-testmon") and any(option.get(d) for d in TESTMON_DESTS)


def _active(config: pytest.Config) -> bool:
    """xdist starts workers here (after its own tryfirst pytest_cmdline_main resolved -n auto)
    and testmon is on."""
    option = vars(config.option)
    xdist = bool(option.get("numprocesses")) or bool(option.get("tx"))
    return xdist and _testmon_on(config)


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput") or bool(os.environ.get("PYTEST_XDIST_WORKER"))


# The first hook pytest calls after importing this module, when it registers it: before testmon
# opens its datafile (pytest_configure), whichever of the two was imported first.
def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    config = pluginmanager.get_plugin("pytestconfig")
    if isinstance(config, pytest.Config):
        _load(config)


def pytest_cmdline_main(config: pytest.Config) -> None:
    # the controller: its options are parsed, -n auto resolved
    if _State.library is not None and not _is_worker(config) and not _active(config):
        _State.library.testmon_shim_off()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # a worker, before testmon's pytest_configure opens the datafile
    if _State.library is not None and _is_worker(config) and not _testmon_on(config):
        _State.library.testmon_shim_off()


def _library_role() -> Optional[str]:
    """The role of this process as the library in it says (exports.c), or None."""
    import ctypes

    lib = _State.library
    if lib is None:
        path = loaded_library()
        if path is None:
            return None
        try:
            lib = ctypes.CDLL(path, mode=os.RTLD_NOLOAD)  # the copy already mapped
        except OSError:
            return None
    try:
        fn = lib.testmon_shim_role
    except AttributeError:  # a library older than the role query
        return None
    fn.restype = ctypes.c_char_p
    role = fn()
    return role.decode() if role else None


def header_line(config: pytest.Config) -> Optional[str]:
    """pytest's header line for this run, or None when testmon under xdist is not asked for."""
    if _is_worker(config) or not _active(config):
        return None
    version = _version()
    if _State.why_not:
        return "testmon-shim %s: %s" % (version, _State.why_not)
    role = _library_role()
    option = vars(config.option)
    workers = option.get("numprocesses") or len(option.get("tx") or [])
    if role == "controller":
        return "testmon-shim %s: managing .testmondata for %s workers" % (version, workers)
    if role is None:
        return "testmon-shim %s: not managing: the library is not loaded" % version
    if role == "none":
        # testmon 1.x controllers leave the datafile to their workers (no coordination needed)
        return ("testmon-shim %s: not managing: this controller did not open testmon's "
                "datafile" % version)
    return ("testmon-shim %s: not managing this run (the reason is on stderr above)"
            % version)


def _version() -> str:
    try:
        from importlib import metadata

        return metadata.version("testmon-shim")
    except Exception:  # not installed as a distribution (a source checkout on sys.path)
        return "?"


def pytest_report_header(config: pytest.Config) -> Optional[str]:
    return header_line(config)


def doctor_report() -> Tuple[str, str]:
    """For `testmon-shim doctor`: ("ok"|"warn"|"FAIL", one line) on this plugin in this Python."""
    from importlib import metadata

    if not os.path.isfile(LIBRARY):
        return "FAIL", "%s is missing: reinstall testmon-shim" % LIBRARY
    if switched_off():
        return "warn", "switched off by TESTMON_SHIM=%s" % os.environ.get("TESTMON_SHIM")
    addopts = shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))
    if any(a in ("no:testmon_shim", "-pno:testmon_shim") for a in addopts):
        return "warn", "blocked by -p no:testmon_shim in PYTEST_ADDOPTS"
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        return "warn", ("not loaded: PYTEST_DISABLE_PLUGIN_AUTOLOAD is set; add -p testmon_shim "
                        "to pytest's arguments")
    order = [ep.name for d in metadata.distributions() for ep in d.entry_points
             if ep.group == "pytest11"]
    if "testmon_shim" not in order:
        return "FAIL", "no pytest11 entry point testmon_shim: reinstall testmon-shim"
    return "ok", ("testmon_shim (%s): active; it loads the library into the controller and the "
                  "workers of an xdist run of testmon" % LIBRARY)
