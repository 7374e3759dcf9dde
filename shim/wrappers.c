/* wrappers.c: the exported sqlite3_* functions.  Each resolves the real function, passes
 * straight through when nothing is managed or the call is nested, and otherwise hands over to
 * dispatch.c.  A bystander pays one atomic load, a TLS load and two branches. */
#include "conn.h"
#include "dispatch.h"
#include "guard.h"
#include "real.h"
#include "role.h"

#define SHIM_EXPORT __attribute__((visibility("default")))
#define UNMANAGED() \
    (__builtin_expect(atomic_load_explicit(&shim_conn_count, memory_order_relaxed) == 0, 1) || \
     shim_nested())

SHIM_EXPORT int sqlite3_open_v2(const char *filename, sqlite3 **ppDb, int flags, const char *vfs)
{
    __typeof__(&sqlite3_open_v2) real = REAL(sqlite3_open_v2);
    if (!real)
        return SQLITE_ERROR;
    if (shim_config.disabled || shim_nested())
        return real(filename, ppDb, flags, vfs);
    return shim_open(filename, ppDb, flags, vfs);
}

SHIM_EXPORT int sqlite3_prepare_v2(sqlite3 *db, const char *sql, int n, sqlite3_stmt **pp,
                                   const char **tail)
{
    __typeof__(&sqlite3_prepare_v2) real = REAL(sqlite3_prepare_v2);
    if (!real)
        return SQLITE_MISUSE;
    if (UNMANAGED())
        return real(db, sql, n, pp, tail);
    return shim_prepare(SHIM_PREPARE_V2, db, sql, n, 0, pp, tail);
}

SHIM_EXPORT int sqlite3_prepare_v3(sqlite3 *db, const char *sql, int n, unsigned int flags,
                                   sqlite3_stmt **pp, const char **tail)
{
    __typeof__(&sqlite3_prepare_v3) real = REAL(sqlite3_prepare_v3);
    if (!real)
        return SQLITE_MISUSE; /* SQLite older than 3.20 has no prepare_v3 */
    if (UNMANAGED())
        return real(db, sql, n, flags, pp, tail);
    return shim_prepare(SHIM_PREPARE_V3, db, sql, n, flags, pp, tail);
}

SHIM_EXPORT int sqlite3_prepare(sqlite3 *db, const char *sql, int n, sqlite3_stmt **pp,
                                const char **tail)
{
    __typeof__(&sqlite3_prepare) real = REAL(sqlite3_prepare);
    if (!real)
        return SQLITE_MISUSE;
    if (UNMANAGED())
        return real(db, sql, n, pp, tail);
    return shim_prepare(SHIM_PREPARE_V1, db, sql, n, 0, pp, tail);
}

SHIM_EXPORT int sqlite3_step(sqlite3_stmt *stmt)
{
    __typeof__(&sqlite3_step) real = REAL(sqlite3_step);
    if (!real)
        return SQLITE_MISUSE;
    if (UNMANAGED())
        return real(stmt);
    return shim_step(stmt, real);
}

SHIM_EXPORT int sqlite3_exec(sqlite3 *db, const char *sql,
                             int (*cb)(void *, int, char **, char **), void *arg, char **errmsg)
{
    __typeof__(&sqlite3_exec) real = REAL(sqlite3_exec);
    if (!real)
        return SQLITE_MISUSE;
    if (UNMANAGED())
        return real(db, sql, cb, arg, errmsg);
    return shim_exec(db, sql, cb, arg, errmsg);
}

SHIM_EXPORT int sqlite3_close(sqlite3 *db)
{
    __typeof__(&sqlite3_close) real = REAL(sqlite3_close);
    if (!real)
        return SQLITE_MISUSE;
    if (UNMANAGED())
        return real(db);
    return shim_close(db, real);
}

SHIM_EXPORT int sqlite3_close_v2(sqlite3 *db)
{
    __typeof__(&sqlite3_close_v2) real = REAL(sqlite3_close_v2);
    if (!real)
        return SQLITE_MISUSE;
    if (UNMANAGED())
        return real(db);
    return shim_close(db, real);
}

/* The one non-SQLite export: lets tools and tests ask a process whether the shim is loaded. */
SHIM_EXPORT const char *testmon_shim_version(void) { return TESTMON_SHIM_VERSION; }
