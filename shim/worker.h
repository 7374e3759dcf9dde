/* worker.h: an xdist worker's datafile connection is read-only and never writes the file.
 *
 * At open it waits for the controller's run to be ready, opens the run's copy of the file
 * read-only (frozen.h: a state no concurrent write can change under the worker's selection), and
 * shadows every main table with a TEMP object of the same name (SQLite resolves unqualified names
 * in temp first, so testmon's unmodified SQL lands there):
 *   - environment: a TEMP table holding the rows the controller saw before it wrote, so the
 *     worker's lookup, insert (same new id) and delete take the same path as in a serial run;
 *   - every other table: a TEMP view of main.  The first statement that writes one turns it into
 *     a TEMP copy (prepare-time, before the statement compiles against it) whose changes are
 *     journaled for the controller unless the table is per-process scratch.
 * Writes to testmon's own TEMP tables are untouched. */
#ifndef SHIM_WORKER_H
#define SHIM_WORKER_H
#include "conn.h"
#include <sqlite3.h>
#include <stddef.h>

enum { SHIM_WORKER_STEP_ASIDE = -1000, SHIM_WORKER_REFUSED = -1001 };

/* Returns an SQLite result code, or STEP_ASIDE (no managed controller: open normally), or
 * REFUSED (the controller died or timed out; a one-line reason is on stderr). */
int shim_worker_open(const char *filename, sqlite3 **ppDb, int flags, const char *vfs);

/* Writes to a shadow view: materialise the tables it writes, then prepare again.
 * `prepare` re-runs the caller's exact prepare call. */
typedef int (*shim_prepare_thunk)(void *args);
int shim_worker_after_failed_prepare(struct shim_conn *c, int rc, shim_prepare_thunk prepare,
                                     void *args);
/* After a step or exec: hand committed journal rows to the controller. */
void shim_worker_after_step(struct shim_conn *c);
void shim_worker_close(struct shim_conn *c);

/* The classifier: did the prepare that just failed on `db` write to one of our shadow views?
 * Then *name is that view's (and main table's) name.  Exposed for tests and fuzzing. */
int shim_worker_written_view(sqlite3 *db, char *name, size_t namesz);
/* Is `table` per-process scratch (never handed over)?  Exposed for tests. */
int shim_worker_is_scratch(const char *table);
#endif
