/* reach.h: a pytest --testmon that never reached the shim says so when it exits.
 *
 * The shim reaches SQLite through a sqlite3 module's import slots (pymod.h) or, in an
 * interpreter with SQLite linked in, through hooks on its entry points (static.h).  Where neither
 * can be had (a sqlite3 module with SQLite linked into it and hidden: no slot to rewrite; an
 * interpreter whose hooks could not go in, where static.h's audit hook did not say so already:
 * a Python without audit hooks), the shim sees nothing and the run fails exactly as without it.
 * The one trace such a run leaves is the datafile itself: testmon wrote it while the shim never
 * saw it opened.  At exit, a pytest process that asked for testmon (on its command line, in
 * PYTEST_ADDOPTS, or in its configuration file) checks for that and prints one line, instead of
 * silently doing nothing.  Started through pytest.main(), pytest is recognised where its command
 * line shows it: `python -c` code calling pytest.main(), PyCharm's _jb_pytest_runner.py, VS
 * Code's run_pytest_script.py; a project's own script stays silent (it cannot be told apart). */
#ifndef SHIM_REACH_H
#define SHIM_REACH_H
#include <stddef.h>
#include <time.h>

/* The check itself, on explicit inputs (for tests): cmdline is NUL-separated argv of n bytes;
 * addopts is $PYTEST_ADDOPTS or NULL; datafile is $TESTMON_DATAFILE or NULL.  Returns 1 and
 * the datafile's path in out when the process is pytest, a datafile was modified at or after
 * `since` (that one, or the nearest .testmondata above a path argument or the working
 * directory: pytest's rootdir), and testmon was asked for: --testmon... in argv or addopts, or
 * in the pytest configuration file (pytest.ini, .pytest.ini, pyproject.toml, tox.ini,
 * setup.cfg with a pytest section) found from the datafile's directory upwards (from the
 * working directory for $TESTMON_DATAFILE); else 0. */
int shim_reach_missed(const char *cmdline, size_t n, const char *addopts, const char *datafile,
                      const struct timespec *since, char *out, size_t outsz);
/* At exit: if no datafile was opened through the shim, no sqlite3 module is watched (with one,
 * the shim was reachable: testmon 1.x controllers under xdist leave the datafile to their
 * workers), static.h's audit hook did not say why already, and shim_reach_missed says one was
 * written, print the one line. */
void shim_reach_check_at_exit(void);
/* In a forked child: stay silent at exit (the parent, if it is the pytest, speaks). */
void shim_reach_after_fork(void);
#endif
