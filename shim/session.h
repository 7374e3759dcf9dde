/* session.h: is this process running a pytest session with testmon?  Asked of the interpreter.
 *
 * A controller started as `pytest` or `python -m pytest` is known by its command line, but
 * pytest.main() can be called by anything: PyCharm's _jb_pytest_runner.py, VS Code's run script,
 * a project's run_tests.py, `python -c`.  Their command lines name no pytest.  What they share is
 * the interpreter's state when testmon opens its datafile: pytest's session module (_pytest.main)
 * and testmon's plugin (testmon.pytest_testmon) are imported.  The shim asks CPython through its
 * C API (pyapi.h: found at run time, the shim never links libpython), holding the GIL for a
 * dictionary look-up: CPython releases the GIL around sqlite3_open_v2, so the opening thread
 * takes it back the way any C callback does (PyGILState_Ensure/Release).  Costs one look-up per
 * process, at its first datafile open. */
#ifndef SHIM_SESSION_H
#define SHIM_SESSION_H

/* 1 if this process is a CPython interpreter (initialised, not finalising) whose sys.modules
 * holds both modules above; 0 otherwise, including every process that is not Python.  Must not
 * be called with a shim lock held: it may wait for the GIL. */
int shim_session_witness(void);

/* The modules the witness looks for (exposed for tests). */
#define SHIM_SESSION_PYTEST_MODULE "_pytest.main"
#define SHIM_SESSION_TESTMON_MODULE "testmon.pytest_testmon"
#endif
