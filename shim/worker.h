/* worker.h: an xdist worker's datafile connection is read-only and never writes the file.
 *
 * At open it waits for the controller's run to be ready, opens the run's copy of the file
 * read-only (runcopy.h: a state no concurrent write can change under the worker's selection), and
 * shadows every main table with a TEMP object of the same name (shadow.h): environment by the
 * rows the controller saw before it wrote, every other table by a view of main that the first
 * statement writing it turns into a TEMP copy, journaled for the controller (journal.h).  After
 * each commit it hands the journal over, and writes what it did to its report for `testmon-shim
 * status`.
 *
 * The rule: every worker of a run selects and orders its tests from the same state, the run's
 * copy.  A worker sees its own writes to a table while its transaction lasts; once the
 * transaction has committed and been handed to the controller, the table shows the run's state
 * again (the copy is set aside, and taken back by the worker's next write to that table, so its
 * rowids stay the controller's).  Only the environment stand-in and per-process scratch keep the
 * worker's writes.  Why: testmon 1.4-2.1.0's gw0 writes the test sync in its collection hook and
 * then, like every other worker, orders the selected tests by durations it reads back
 * (sort_items_by_duration over all_tests); xdist requires all workers to collect the same tests
 * in the same order, so gw0 must not order from its own sync while the others order from the
 * copy.  A serial run orders after its sync, but order is not selection: which tests run, and
 * their outcomes, depend only on reads made before the sync. */
#ifndef SHIM_WORKER_H
#define SHIM_WORKER_H
#include "conn.h"
#include "role.h"
#include <sqlite3.h>
#include <stddef.h>

/* What shim_worker_open returns instead of an SQLite result code.  Those are never negative
 * (primary codes 0 to 101, extended ones primary | n << 8), these always are: a caller tells the
 * two apart by the sign before it treats anything as SQLite's. */
enum shim_worker_outcome {
    SHIM_WORKER_STEP_ASIDE = -1, /* no managed controller: open normally */
    SHIM_WORKER_REFUSED = -2,    /* the controller died or timed out; the reason is on stderr */
};

/* Open the datafile for a worker of `run` (role.h, kept for the hand-overs): wait for the run,
 * open its copy read-only, shadow its tables.  Returns an SQLite result code (>= 0), or an
 * outcome above (< 0). */
int shim_worker_open(const struct shim_run_ctx *run, const char *filename, sqlite3 **ppDb,
                     int flags, const char *vfs);

/* Writes to a shadow view: take the tables it writes (shadow.h), then prepare again.
 * `prepare` re-runs the caller's exact prepare call. */
typedef int (*shim_prepare_thunk)(void *args);
int shim_worker_after_failed_prepare(struct shim_conn *c, int rc, shim_prepare_thunk prepare,
                                     void *args);
/* After a step or exec: hand committed journal rows to the controller, then show the run's
 * state again in the tables the transaction wrote (the rule above). */
void shim_worker_after_step(struct shim_conn *c);
/* A step that failed because the statement, prepared against the worker's copy of a table, was
 * re-prepared against the view that replaced it: take the copy back and step again.  Returns
 * the new result code (rc unchanged when that was not the cause). */
int shim_worker_after_failed_step(struct shim_conn *c, sqlite3_stmt *stmt, int rc,
                                  int (*step)(sqlite3_stmt *));
void shim_worker_close(struct shim_conn *c);
/* After fork: the child's report starts empty (a process a worker forks that opens the datafile
 * is a worker of its own, with its own report file). */
void shim_worker_forget(void);
#endif
