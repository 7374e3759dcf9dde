/* shadow.h: the TEMP shadows of a worker connection's main tables, and their schema.
 *
 * A worker opens the run's copy read-only (worker.h) and shadows every main table with a TEMP
 * object of the same name: SQLite resolves an unqualified name in temp first, so testmon's
 * unmodified SQL lands there.
 *   - environment: a TEMP table holding the rows the controller saw before it wrote (its
 *     snapshot, controller.h), so the worker's lookup, insert (same new id) and delete take the
 *     same path as in a serial run;
 *   - every other table: a TEMP view of main.  The first statement that writes one turns it into
 *     a TEMP copy (prepare-time, before the statement compiles against it: shim_shadow_take),
 *     with main's columns, defaults, primary key, indexes and rowids, whose changes are journaled
 *     for the controller (journal.h) unless the table is per-process scratch.
 * A copy is never dropped: after a commit (shim_shadow_restore) it is renamed aside, to
 * temp.testmon_shim_own_<table>, and the view comes back; the next write takes that copy back
 * (renamed again), so the rows it adds get the rowids the controller expects after replaying the
 * worker's earlier journals.  Both swaps run in a savepoint: a failure leaves the schema as it
 * was.  Writes to testmon's own TEMP tables are untouched.
 *
 * Everything here runs on the worker's connection through the real functions (real.h), inside
 * the caller's guard: these statements never reach a policy. */
#ifndef SHIM_SHADOW_H
#define SHIM_SHADOW_H
#include <cJSON.h>
#include <sqlite3.h>
#include <stddef.h>

/* Shadow every main table of db: environment by a TEMP table filled from `snapshot` (the run
 * file's "environment" object: {"present", "columns", "rows": [[rowid, values...]...]}; NULL, or
 * one the controller marked "unreadable": filled from main as it is now), every other table by a
 * TEMP view.  Returns an SQLite result code. */
int shim_shadow_install(sqlite3 *db, const cJSON *snapshot);

/* The classifier: did the prepare that just failed on `db` write to one of our shadow views (a
 * TEMP view over a main table of the same name)?  Then *name is that view's (and main table's)
 * name.  SQLite refuses such a write at prepare with "cannot modify X because it is a view"
 * (sqlite3IsReadOnly), before the authorizer sees UPDATE or DELETE, so the message is the one
 * reliable witness.  Exposed for tests and fuzzing. */
int shim_shadow_written_view(sqlite3 *db, char *name, size_t namesz);

/* Turn the view shadowing `table` into a TEMP table the worker writes: its own copy set aside at
 * its last commit if there is one (*copied = 0), else a new copy of main's rows (*copied = 1).
 * Returns an SQLite result code; a failure is logged, and the view is left in place. */
int shim_shadow_take(sqlite3 *db, const char *table, int *copied);

/* After a commit has been handed over: every journaled copy is set aside and its view created
 * again, so the worker reads the run's state.  Returns how many were set aside; *found is how many
 * there were (a copy a running statement still reads stays, logged). */
int shim_shadow_restore(sqlite3 *db, int *found);

/* Is `table` per-process scratch (kept in the worker, never handed over)?  Exposed for tests. */
int shim_shadow_is_scratch(const char *table);
#endif
