/* journal.h: a worker's writes, handed to the controller.
 *
 * In a worker every main table it writes becomes a TEMP copy (shadow.h).  For tables whose
 * contents outlive the run, AFTER triggers record each row change, in order, in
 * temp.testmon_shim_journal; when the worker's transaction commits, the rows are written to
 * <dir>/<run>.journal-<time>-<worker>-<pid>.json and cleared.  The controller replays them by
 * rowid on its own connection before its next write (controller.c), so the database ends up as
 * if the worker had written it: this is how the gw0 test sync of testmon 1.4-2.1.0 lands. */
#ifndef SHIM_JOURNAL_H
#define SHIM_JOURNAL_H
#include <cJSON.h>
#include <sqlite3.h>

#define SHIM_JOURNAL_MAX_COLUMNS 32
/* The name of the AFTER INSERT trigger that shim_journal_track gives temp.<table> is this prefix
 * and the table's name: the mark by which shadow.c finds the tables whose changes are journaled. */
#define SHIM_JOURNAL_MARK "testmon_shim_ji_"

/* Worker: record changes of temp.<table> from now on.  Returns an SQLite result code. */
int shim_journal_track(sqlite3 *db, const char *table);
/* Worker: write pending changes to a journal file and clear them.  Returns the number of row
 * changes handed over (0: nothing pending), or -1 (logged). */
int shim_journal_flush(sqlite3 *db, const char *dir, const char *run_name, const char *worker_id);
/* Controller: apply one parsed journal file in a savepoint.  Returns the number of row changes
 * applied, or -1 (logged, rolled back). */
int shim_journal_apply(sqlite3 *db, const cJSON *journal);
/* Why the last shim_journal_apply on this thread failed ("" if it did not). */
const char *shim_journal_apply_error(void);
#endif
