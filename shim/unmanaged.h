/* unmanaged.h: say, once per run, why a pytest --testmon run under xdist is not managed.
 *
 * A preloaded shim that silently does nothing leaves the user with the upstream error and no
 * clue.  Each reason is said by one process of the run, once:
 *   - SQLite the shim cannot reach (linked into a sqlite3 module and hidden, or into an
 *     interpreter whose entry points could not be hooked): the controller, at its first datafile
 *     open (static.h's audit hook) or at exit (reach.h);
 *   - a second sqlite3 module with its own SQLite opening the datafile: the process, once
 *     (shim_unmanaged_other_sqlite below);
 *   - a coordination directory the controller cannot use: the controller, when it tries;
 *   - bad settings (TESTMON_SHIM_LOG, TESTMON_SHIM_TIMEOUT): the controller; the workers of a
 *     managed run inherited the same settings and stay quiet;
 *   - a controller the shim did not recognise (role.h), or a worker that cannot find its run
 *     because its controller uses another datafile: the run's first worker, gw0, which finds no
 *     run of its parent while the parent holds a datafile open;
 *   - the kill switch, TESTMON_SHIM=off: nobody; it is the way to keep the shim quiet.
 * Deliberate step-asides stay quiet too: testmon 1.0-1.3 (the controller never opens the
 * datafile), and a pytest that a running test starts (PYTEST_CURRENT_TEST at load). */
#ifndef SHIM_UNMANAGED_H
#define SHIM_UNMANAGED_H
#include "role.h"

/* A worker of `run` (role.h) did not join it (worker.c stepped aside): if it is gw0, started by
 * xdist rather than by a test, and its parent holds this datafile or another datafile open, say
 * why, and report bad settings the unmanaged controller did not. */
void shim_unmanaged_worker(const struct shim_run_ctx *run);

/* An open of `filename` through a sqlite3 module (`module`, its file) whose SQLite is not the one
 * the shim manages (pymod.h: another module opened the datafile first): if it is the datafile and
 * this process is a run's controller or worker, say so once.  The open itself passes through to
 * that module's SQLite, unmanaged (dispatch.c). */
void shim_unmanaged_other_sqlite(const char *filename, int flags, const char *module);

/* What the parent `pid` holds open, compared with `datafile` (canonical): 1 the same file, 2 a
 * different file named .testmondata (its path in other), 0 neither or unreadable.  For tests. */
int shim_unmanaged_parent_holds(long pid, const char *datafile, char *other, unsigned othersz);
#endif
