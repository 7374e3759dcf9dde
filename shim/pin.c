/* pin.c: the run's state pinned in the datafile itself (see pin.h for why it holds). */
#include "pin.h"
#include "real.h"
#include "sqlvalue.h"
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

int shim_pin_wal_empty(const char *datafile)
{
    char wal[PATH_MAX + 8];
    struct stat st;
    if ((size_t)snprintf(wal, sizeof wal, "%s-wal", datafile) >= sizeof wal)
        return -1;
    if (stat(wal, &st) != 0)
        return errno == ENOENT ? 1 : -1;
    return st.st_size == 0;
}

/* Checkpoint db's WAL wholly and truncate it, without waiting (db has no busy handler):
 * SHIM_PIN_HELD if done, else why not. */
static enum shim_pin_result checkpoint(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    enum shim_pin_result r = SHIM_PIN_FAILED;
    if (REAL(sqlite3_prepare_v2)(db, "PRAGMA main.wal_checkpoint(TRUNCATE)", -1, &st, NULL) ==
        SQLITE_OK) {
        int rc = REAL(sqlite3_step)(st);
        /* One row: busy, frames in the WAL, frames backfilled; -1 frames on a file that is not
         * in WAL mode.  A stopped checkpoint answers busy=1, or SQLITE_BUSY itself. */
        if (rc == SQLITE_ROW && REAL(sqlite3_column_int64)(st, 1) == -1)
            r = SHIM_PIN_NOT_WAL;
        else if (rc == SQLITE_ROW && REAL(sqlite3_column_int64)(st, 0) == 0)
            r = SHIM_PIN_HELD;
        else if (rc == SQLITE_ROW || rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
            r = SHIM_PIN_BUSY;
    }
    REAL(sqlite3_finalize)(st);
    return r;
}

/* Begin a read transaction on db: BEGIN only marks it, the first read starts it. */
static int begin_read(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int ok = shim_sql_exec(db, "BEGIN") == SQLITE_OK &&
             REAL(sqlite3_prepare_v2)(db, "SELECT count(*) FROM main.sqlite_master", -1, &st,
                                      NULL) == SQLITE_OK &&
             REAL(sqlite3_step)(st) == SQLITE_ROW;
    REAL(sqlite3_finalize)(st);
    return ok;
}

enum shim_pin_result shim_pin_take(const char *datafile, sqlite3 **pin, struct stat *id)
{
    int saved = errno;
    sqlite3 *db = NULL;
    *pin = NULL;
    /* Read-write: a read-only connection may not checkpoint.  It never writes a row. */
    enum shim_pin_result r = SHIM_PIN_FAILED;
    if (REAL(sqlite3_open_v2)(datafile, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
        (r = checkpoint(db)) == SHIM_PIN_HELD) {
        if (!begin_read(db) || stat(datafile, id) != 0)
            r = SHIM_PIN_FAILED;
        else if (shim_pin_wal_empty(datafile) != 1)
            r = SHIM_PIN_BUSY; /* a writer came in between: the read mark may not be 0 */
    }
    if (r == SHIM_PIN_HELD)
        *pin = db;
    else
        shim_pin_release(&db);
    errno = saved;
    return r;
}

void shim_pin_release(sqlite3 **pin)
{
    if (!*pin)
        return;
    int saved = errno;
    if (!REAL(sqlite3_get_autocommit)(*pin))
        shim_sql_exec(*pin, "COMMIT");
    REAL(sqlite3_close)(*pin);
    *pin = NULL;
    errno = saved;
}

int shim_pin_reader_uri(const char *datafile, char *out, size_t outsz)
{
    static const char pre[] = "file:", post[] = "?immutable=1", hexd[] = "0123456789ABCDEF";
    size_t n = 0;
    if (outsz < sizeof pre)
        return -1;
    memcpy(out, pre, sizeof pre - 1);
    n = sizeof pre - 1;
    /* Everything but unreserved characters and '/' percent-encoded: SQLite decodes %HH in a
     * URI's path, and '?', '#' and '%' would otherwise end or change it. */
    for (const unsigned char *p = (const unsigned char *)datafile; *p; p++) {
        int plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || strchr("-._~/", *p);
        if (n + (plain ? 1 : 3) >= outsz)
            return -1;
        if (plain) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hexd[*p >> 4];
            out[n++] = hexd[*p & 15];
        }
    }
    if (n + sizeof post > outsz)
        return -1;
    memcpy(out + n, post, sizeof post);
    return 0;
}
