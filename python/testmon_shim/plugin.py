"""pytest plugin of testmon-shim (entry point pytest11 `testmon_shim`): a pytest-xdist run of
testmon gets libtestmon_shim.so in its controller and workers, with no LD_PRELOAD and no wrapper.

The library interposes SQLite's C API where the dynamic linker binds `_sqlite3`'s calls to it.
CPython loads `_sqlite3` with RTLD_NOW|RTLD_LOCAL at the first `import sqlite3`, and its
references are looked up in the global scope first: the executable, LD_PRELOAD, then libraries
dlopen'ed with RTLD_GLOBAL.  Hence two ways in:

* early load: this module is imported before anything imported sqlite3, so loading the library
  RTLD_GLOBAL now is all the controller needs.  That happens only when the command line,
  PYTEST_ADDOPTS or the ini file's addopts could ask for xdist; if xdist and testmon turn out
  not to be both active, the library is switched off for the process (testmon_shim_off).
* re-exec: pytest imports pytest11 plugins in the order of the installed distributions (the
  directory order of site-packages), and testmon's plugin imports sqlite3: `_sqlite3` is then
  bound for good.  The controller starts itself again with LD_PRELOAD (costs one more pytest
  start-up) in pytest_cmdline_main, before testmon opens its datafile in pytest_configure.

Either way os.environ gets LD_PRELOAD, which xdist's workers (children of the controller) and
their children inherit.  A serial run, or one without testmon, loads nothing and re-executes
nothing.  Stays out of the way: TESTMON_SHIM=off, `-p no:testmon_shim`, a library already in the
process (LD_PRELOAD by hand, `testmon-shim run`), an xdist worker, a _sqlite3 extension module
carrying its own SQLite (one line on stderr, then upstream behaviour).  A Python with SQLite built
in (python-build-standalone, uv's) is reached either way: the library hooks SQLite when it loads.
Never writes to stdout.
"""
from __future__ import annotations

import os
import shlex
import sys
from typing import Any, Iterable, List, Optional, Tuple

import pytest

LIB_NAME = "libtestmon_shim.so"
LIBRARY = os.path.join(os.path.dirname(os.path.abspath(__file__)), LIB_NAME)
# Set in the environment of the re-executed controller: a second miss is reported, not retried.
REEXEC_MARK = "TESTMON_SHIM_REEXEC"
OFF_VALUES = ("off", "0", "false", "no")  # as the library reads TESTMON_SHIM (shim/init.c)
# Options with which pytest-xdist starts workers (long forms may be abbreviated by argparse).
XDIST_SHORT = ("-n", "-d")
XDIST_LONG = ("--numprocesses", "--tx", "--dist", "--maxprocesses")
# testmon is active when one of these options is set and --no-testmon is not (testmon's own
# rule, configure.py of 1.x-2.2).
TESTMON_DESTS = ("testmon", "testmon_noselect", "testmon_nocollect", "testmon_forceselect",
                 "tmnet")


class _State:
    library: Any = None  # the ctypes.CDLL of an early load
    sessions = 0  # pytest_cmdline_main calls in this process (pytester runs pytest in-process)


def _say(message: str) -> None:
    """One line on stderr (never stdout: pytest and execnet own it)."""
    sys.stderr.write("testmon-shim: %s\n" % message)
    sys.stderr.flush()


def _info(message: str) -> None:
    """Said only with TESTMON_SHIM_LOG at info or debug, as the library's own info lines."""
    level = os.environ.get("TESTMON_SHIM_LOG", "").split(":", 1)[0].lower()
    if level in ("info", "debug"):
        _say(message)


def switched_off() -> bool:
    return os.environ.get("TESTMON_SHIM", "").lower() in OFF_VALUES


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
    """The shim already in this process (preloaded, or loaded early here), or None."""
    paths = _mapped(["libtestmon_shim"])
    return paths[0] if paths else None


def sqlite_built_in() -> bool:
    """Is _sqlite3 built into the interpreter, SQLite with it (python-build-standalone, as uv
    installs it)?  The library reaches it all the same, by hooking SQLite's entry points when it
    is loaded (shim/static.h), whether sqlite3 was imported already or not; where it cannot
    (a symbol table stripped), it says so itself at the datafile's first open."""
    return "_sqlite3" in sys.builtin_module_names


def sqlite_unreachable() -> bool:
    """Does an imported _sqlite3 extension module carry its own SQLite (no libsqlite3.so
    mapped), out of any library's reach?"""
    return (not sqlite_built_in() and "_sqlite3" in sys.modules
            and not _mapped(["libsqlite3.so"]))


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


def _load_early(config: pytest.Config) -> None:
    # An imported _sqlite3 extension module is bound for good; a built-in one is hooked by the
    # library's constructor, in this thread, before testmon opens its datafile.
    bound = "_sqlite3" in sys.modules and not sqlite_built_in()
    if (switched_off() or _State.library is not None or not sys.platform.startswith("linux")
            or os.environ.get("PYTEST_XDIST_WORKER") or bound or loaded_library()
            or not _could_ask_for_xdist(config)):
        return
    import ctypes  # only here: a run that cannot use xdist does not pay for it

    try:
        _State.library = ctypes.CDLL(LIBRARY, mode=ctypes.RTLD_GLOBAL)
    except OSError as e:
        _say("cannot load %s (%s): reinstall testmon-shim; pytest runs without the shim"
             % (LIBRARY, e))
        return
    _info("loaded %s before sqlite3 was imported" % LIBRARY)


def _active(config: pytest.Config) -> bool:
    """xdist starts workers here (after its own tryfirst pytest_cmdline_main resolved -n auto)
    and testmon is on."""
    option = vars(config.option)
    xdist = bool(option.get("numprocesses")) or bool(option.get("tx"))
    testmon = not option.get("no-testmon") and any(option.get(d) for d in TESTMON_DESTS)
    return xdist and testmon


def preload_value(library: str, existing: str) -> str:
    """LD_PRELOAD with the library first and no other copy of it (as `testmon-shim run`)."""
    rest = [e for e in existing.replace(" ", ":").split(":")
            if e and os.path.basename(e) != LIB_NAME]
    return ":".join([library] + rest)


def _restart_command() -> Optional[List[str]]:
    """This process's own command line, to start it again; None where that cannot work."""
    try:
        with open("/proc/self/cmdline", "rb") as f:
            argv = [os.fsdecode(a) for a in f.read().split(b"\0")[:-1]]
    except OSError:
        return None
    if not argv or sys.argv[0] in ("", "-"):  # a script read from standard input
        return None
    return argv


def _reexec(again: bool) -> None:
    """Start this controller again with LD_PRELOAD; `again`: this is already that start."""
    why = None
    if sqlite_unreachable():
        why = ("this Python's sqlite3 module carries its own SQLite, which the shim cannot "
               "reach; `testmon-shim doctor` checks a Python, use one whose sqlite3 module "
               "loads libsqlite3.so")
    elif again:
        why = ("the library did not load when pytest was started again with LD_PRELOAD=%s; "
               "check it with `testmon-shim doctor`" % os.environ.get("LD_PRELOAD", ""))
    elif _State.sessions > 1:
        why = ("a pytest session in a process that already ran one (pytest.main() called "
               "again) cannot be started again; preload the library: "
               "LD_PRELOAD=%s, or `testmon-shim run`" % LIBRARY)
    argv = None if why else _restart_command()
    if why is None and argv is None:
        why = ("pytest's command line cannot be started again (a script read from standard "
               "input); preload the library: LD_PRELOAD=%s, or `testmon-shim run`" % LIBRARY)
    if why is not None or argv is None:
        _say("%s; pytest-xdist runs testmon as upstream does" % why)
        return
    env = dict(os.environ)
    env["LD_PRELOAD"] = preload_value(LIBRARY, env.get("LD_PRELOAD", ""))
    env[REEXEC_MARK] = "1"
    _info("sqlite3 was imported before this plugin: starting pytest again with LD_PRELOAD")
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(sys.executable, argv, env)
    except OSError as e:
        _say("cannot start pytest again (%s: %s); pytest-xdist runs testmon as upstream does"
             % (sys.executable, e))


# The first hook pytest calls after importing this module, when it registers it; plugins
# imported later (testmon's) may import sqlite3, so this is the moment for an early load.
def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    config = pluginmanager.get_plugin("pytestconfig")
    if isinstance(config, pytest.Config):
        _load_early(config)


def pytest_cmdline_main(config: pytest.Config) -> None:
    _State.sessions += 1
    again = os.environ.pop(REEXEC_MARK, None) is not None  # not for the children
    if switched_off() or hasattr(config, "workerinput") or not sys.platform.startswith("linux"):
        return  # a worker got the library from its controller's environment
    active = _active(config)
    if _State.library is not None:
        if active:
            os.environ["LD_PRELOAD"] = preload_value(LIBRARY, os.environ.get("LD_PRELOAD", ""))
        else:
            _State.library.testmon_shim_off()
        return
    if not active or loaded_library():
        return  # nothing to do, or the library was preloaded by hand / by a re-exec
    _reexec(again)


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
    first = [n for n in order if n in ("testmon", "pytest-testmon", "testmon_shim")][0]
    how = ("before testmon's, so the library loads before sqlite3 is imported"
           if first == "testmon_shim" else
           "after testmon's, so an xdist run of testmon starts its controller again once with "
           "LD_PRELOAD (-p testmon_shim in addopts loads it first and saves that)")
    return "ok", "testmon_shim (%s): active; pytest imports it %s" % (LIBRARY, how)
