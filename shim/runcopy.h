/* runcopy.h: the run's copy: the copy of the datafile that a run's workers read, under one name
 * in the code, the docs and the man page ("the run's copy", <run>.db).  Not to be confused with
 * the controller's snapshot (controller.h), the environment rows it saw at open.
 *
 * A worker computes its test selection from many separate reads, and the controller may commit
 * between two of them.  testmon 2.1.1-2.1.4 sync the collected tests as soon as every worker
 * that has reported ready has collected (TestmonXdistSync counts ready nodes, not started ones):
 * a slow worker can then find the new environment's tests absent in one query (none affected)
 * and present in the next (all known, so all stable), deselect everything, and xdist stops with
 * "Different tests were collected".  This happens without the shim too.  In a serial run the
 * selection reads a database nobody else writes.
 *
 * So the first worker of a run copies the datafile, in one read transaction, to <dir>/<run>.db
 * (runid.h names it, SQLite's WAL files of the workers' read-only connections and the lock):
 * as a reflink of the file and its WAL where the filesystem shares extents (btrfs, xfs,
 * bcachefs: the cost does not grow with the file), else with SQLite's backup API (it does),
 * and every worker of the run (replacements too) opens that copy read-only: the state after the
 * controller's initialisation and before any write a worker caused.  The copy is made under an
 * flock (released if its holder dies), at a temporary name created O_EXCL|O_NOFOLLOW mode 0600,
 * renamed into place; the controller removes it at exit, a later controller or `testmon-shim
 * clean` if it crashed. */
#ifndef SHIM_RUNCOPY_H
#define SHIM_RUNCOPY_H
#include <stddef.h>

enum shim_runcopy_result {
    SHIM_RUNCOPY_MADE = 0, /* this process made the copy */
    SHIM_RUNCOPY_SHARED,   /* another worker had made it */
    SHIM_RUNCOPY_FAILED,   /* no copy (reason logged): read the live file */
    SHIM_RUNCOPY_CLONED,   /* this process made the copy as a reflink (btrfs, xfs, bcachefs) */
};

/* The copy for run `run_name` of `datafile`: its path in *path.  Waits at most timeout_ms for
 * another worker that is making it; *took_ms is the time this call took. */
enum shim_runcopy_result shim_runcopy_get(const char *dir, const char *run_name,
                                          const char *datafile, long timeout_ms, char *path,
                                          size_t pathsz, long *took_ms);
/* The controller, at exit: remove the run's copy and its companions (-wal, -shm, .lock). */
void shim_runcopy_remove(const char *dir, const char *run_name);
#endif
