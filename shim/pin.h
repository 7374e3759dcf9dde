/* pin.h: the run's state pinned in the datafile itself, so that a run's workers read it with no
 * copy at all.  Where this is not possible (runcopy.h) the workers read a copy, as before.
 *
 * In WAL mode the database file changes only when a checkpoint copies frames of the WAL back
 * into it (backfills them).  A checkpoint backfills nothing unless it gets the wal-index's read
 * mark 0 exclusively (wal.c: walCheckpoint), and a reader whose transaction begins when every
 * frame of the WAL is already in the database file reads that file alone and holds read mark 0,
 * shared, until its transaction ends (walTryBeginRead).  So the pin:
 *   1. checkpoints the WAL wholly and truncates it (PRAGMA wal_checkpoint(TRUNCATE)), without
 *      waiting: a checkpoint that another connection's reader or writer stops is no pin;
 *   2. begins a read transaction (BEGIN, and one read: SQLite starts it at the first read);
 *   3. looks at the WAL again: still empty, so no frame came between 1 and 2 and the read mark
 *      taken in 2 is 0 (with a frame, the pin lets go: the caller falls back to a copy).
 * While that transaction is open, no connection of any process that keeps SQLite's locking
 * protocol can change the database file: writers append to the WAL, every checkpoint stops
 * short of backfilling (the automatic ones, PRAGMA wal_checkpoint of any mode, a second run's
 * controller), the WAL cannot be reset (its frames are not backfilled), and what would rewrite
 * the file otherwise (a change of journal mode, the checkpoint of a last connection's close)
 * needs the EXCLUSIVE lock that the pin's own SHARED lock refuses: in WAL mode a connection
 * keeps SHARED on the database file for as long as it is open.  test_pin.c checks each of
 * these from another process.  A reader that opens the file with `immutable=1` (no locks, no
 * WAL, no wal-index) then reads exactly the pinned state, for as long as the pin is held, and at
 * the cost of opening a file: the pages are the datafile's own, in the page cache already.
 *
 * What it cannot stop: a program that writes the file without SQLite's locks (cp over it, a
 * connection opened with nolock=1 or immutable=1 that writes), which would break any reader of
 * the datafile, with or without the shim. */
#ifndef SHIM_PIN_H
#define SHIM_PIN_H
#include <sqlite3.h>
#include <stddef.h>
#include <sys/stat.h>

enum shim_pin_result {
    SHIM_PIN_HELD = 0, /* *pin holds the state of the file; *id the file it is */
    SHIM_PIN_NOT_WAL,  /* a rollback-journal datafile (testmon 1.x): it can never be pinned */
    SHIM_PIN_BUSY,     /* another connection stopped the checkpoint or wrote in between */
    SHIM_PIN_FAILED,   /* the file could not be opened or read */
};

/* Pin datafile's committed state (above).  *pin is NULL unless SHIM_PIN_HELD.  Never waits for
 * a lock, never creates the file; errno is left as it was. */
enum shim_pin_result shim_pin_take(const char *datafile, sqlite3 **pin, struct stat *id);
/* Is datafile's WAL empty (or absent)?  1 yes, 0 it holds frames, -1 cannot tell.  Held, a pin
 * is still the file's latest state while this says 1: nothing was written since. */
int shim_pin_wal_empty(const char *datafile);
/* End the read transaction and close; *pin becomes NULL.  NULL is a no-op. */
void shim_pin_release(sqlite3 **pin);
/* "file:<datafile, percent-encoded>?immutable=1" into out: the name a reader of the pinned
 * state opens with SQLITE_OPEN_URI.  0, or -1 when it does not fit. */
int shim_pin_reader_uri(const char *datafile, char *out, size_t outsz);
#endif
