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
 * So every worker of a run reads one state: the state after the controller's initialisation and
 * before any write a worker caused.  Where the datafile is in WAL mode (testmon 2.x) that state
 * stays in the datafile itself: the controller pins it (pin.h) at each idle point until a
 * worker joins, and says so in <dir>/<run>.db.pin ("<st_dev> <st_ino>", empty when not pinned),
 * which it writes under an exclusive flock and a worker reads under a shared one.  A worker sets
 * the run's joined flag (coord.h) before it reads that file, and the controller pins again only
 * while the flag is clear, so the state a worker reads is the last one pinned, for the whole run
 * (late replacements included); the pin is held until the controller exits.  The worker then
 * opens the datafile with immutable=1: no copy, no disk, nothing that grows with the file.
 *
 * Otherwise (a rollback-journal datafile, a checkpoint another connection stopped, no joined
 * flag) the first worker of a run copies the datafile, in one read transaction, to <dir>/<run>.db
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
#include <sys/stat.h>

enum shim_runcopy_result {
    SHIM_RUNCOPY_MADE = 0, /* this process made the copy */
    SHIM_RUNCOPY_SHARED,   /* another worker had made it */
    SHIM_RUNCOPY_FAILED,   /* no copy (reason logged): read the live file */
    SHIM_RUNCOPY_CLONED,   /* this process made the copy as a reflink (btrfs, xfs, bcachefs) */
    SHIM_RUNCOPY_PINNED,   /* no copy: the datafile's state pinned by the controller (pin.h);
                            * *path is the URI to open, with SQLITE_OPEN_URI */
};

/* What the workers of run `run_name` read of `datafile`: its path (or URI) in *path.  The
 * pinned datafile if the controller says so and may_pin (this worker set the joined flag), else
 * the run's copy.  Waits at most timeout_ms for the controller that is pinning or another worker
 * that is copying; *took_ms is the time this call took. */
enum shim_runcopy_result shim_runcopy_get(const char *dir, const char *run_name,
                                          const char *datafile, int may_pin, long timeout_ms,
                                          char *path, size_t pathsz, long *took_ms);
/* The controller's side of <run>.db.pin: open (create, 0600) it, its fd or -1 (said); try to
 * lock it exclusively without waiting (0: locked, no worker is reading it); write the pinned
 * file's identity (NULL: nothing pinned) and unlock. */
int shim_runcopy_pin_open(const char *dir, const char *run_name);
int shim_runcopy_pin_try_lock(int fd);
void shim_runcopy_pin_say(int fd, const struct stat *pinned);
/* The controller, at exit: remove the run's copy and its companions (-wal, -shm, .lock, .pin). */
void shim_runcopy_remove(const char *dir, const char *run_name);
#endif
