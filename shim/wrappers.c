/* wrappers.c: the exported sqlite3_* functions.  Each resolves the real function, passes
 * straight through when nothing is managed or the call is nested, and otherwise hands over to
 * dispatch.c.  A bystander pays two loads and a branch (FAST_PATH). */
#include "conn.h"
#include "dispatch.h"
#include "guard.h"
#include "proc.h"
#include "real.h"
#include "static.h"

#define SHIM_EXPORT __attribute__((visibility("default")))
/* The bystander's path, first thing in every wrapper: the resolved function and no managed
 * connection in the process.  Everything else (resolution, which needs the caller's address,
 * the re-entrancy guard, dispatch) follows only when this fails, so the compiler keeps it out of
 * the fast path: two loads, a test, a branch and a tail jump. */
#define FAST_PATH(name, ...)                                                                     \
    do {                                                                                         \
        __typeof__(&name) fast_ = (__typeof__(&name))atomic_load_explicit(                       \
            &shim_real_table[SHIM_REAL_##name], memory_order_acquire);                           \
        if (__builtin_expect(fast_ != NULL, 1) &&                                                \
            __builtin_expect(atomic_load_explicit(&shim_conn_count, memory_order_relaxed) == 0,  \
                             1))                                                                 \
            return fast_(__VA_ARGS__);                                                           \
    } while (0)
#define UNMANAGED() \
    (__builtin_expect(atomic_load_explicit(&shim_conn_count, memory_order_relaxed) == 0, 1) || \
     shim_nested())
/* Everything after FAST_PATH lives out of line (SLOW) and is reached by a tail call that carries
 * the caller's address (for resolution, see real.h), so a fast path saves no register and sets
 * up no frame.  REAL_AT is REAL() with that address. */
#define SLOW __attribute__((noinline, cold)) static
#define CALLER __builtin_return_address(0)
#define REAL_AT(name, caller) ((__typeof__(&name))shim_real_get(SHIM_REAL_##name, caller))

/* No fast path: any open may be of the datafile (so not cold either). */
__attribute__((noinline)) static int open_slow(const char *filename, sqlite3 **ppDb, int flags,
                                               const char *vfs, const void *caller)
{
    __typeof__(&sqlite3_open_v2) real = REAL_AT(sqlite3_open_v2, caller);
    if (!real)
        return SQLITE_ERROR;
    if (shim_config.disabled || shim_nested())
        return real(filename, ppDb, flags, vfs);
    return shim_open(filename, ppDb, flags, vfs);
}

SHIM_EXPORT int sqlite3_open_v2(const char *filename, sqlite3 **ppDb, int flags, const char *vfs)
{
    return open_slow(filename, ppDb, flags, vfs, CALLER);
}

SLOW int prepare_v2_slow(sqlite3 *db, const char *sql, int n, sqlite3_stmt **pp,
                         const char **tail, const void *caller)
{
    __typeof__(&sqlite3_prepare_v2) real = REAL_AT(sqlite3_prepare_v2, caller);
    if (!real)
        return SQLITE_MISUSE;
    if (UNMANAGED())
        return real(db, sql, n, pp, tail);
    return shim_prepare(SHIM_PREPARE_V2, db, sql, n, 0, pp, tail);
}

SHIM_EXPORT int sqlite3_prepare_v2(sqlite3 *db, const char *sql, int n, sqlite3_stmt **pp,
                                   const char **tail)
{
    FAST_PATH(sqlite3_prepare_v2, db, sql, n, pp, tail);
    return prepare_v2_slow(db, sql, n, pp, tail, CALLER);
}

SLOW int prepare_v3_slow(sqlite3 *db, const char *sql, int n, unsigned int flags,
                         sqlite3_stmt **pp, const char **tail, const void *caller)
{
    __typeof__(&sqlite3_prepare_v3) real = REAL_AT(sqlite3_prepare_v3, caller);
    if (!real)
        return SQLITE_MISUSE; /* SQLite older than 3.20 has no prepare_v3 */
    if (UNMANAGED())
        return real(db, sql, n, flags, pp, tail);
    return shim_prepare(SHIM_PREPARE_V3, db, sql, n, flags, pp, tail);
}

SHIM_EXPORT int sqlite3_prepare_v3(sqlite3 *db, const char *sql, int n, unsigned int flags,
                                   sqlite3_stmt **pp, const char **tail)
{
    FAST_PATH(sqlite3_prepare_v3, db, sql, n, flags, pp, tail);
    return prepare_v3_slow(db, sql, n, flags, pp, tail, CALLER);
}

SLOW int prepare_slow(sqlite3 *db, const char *sql, int n, sqlite3_stmt **pp, const char **tail,
                      const void *caller)
{
    __typeof__(&sqlite3_prepare) real = REAL_AT(sqlite3_prepare, caller);
    if (!real)
        return SQLITE_MISUSE;
    if (UNMANAGED())
        return real(db, sql, n, pp, tail);
    return shim_prepare(SHIM_PREPARE_V1, db, sql, n, 0, pp, tail);
}

SHIM_EXPORT int sqlite3_prepare(sqlite3 *db, const char *sql, int n, sqlite3_stmt **pp,
                                const char **tail)
{
    FAST_PATH(sqlite3_prepare, db, sql, n, pp, tail);
    return prepare_slow(db, sql, n, pp, tail, CALLER);
}

/* The hottest call of all. */
SLOW int step_slow(sqlite3_stmt *stmt, const void *caller)
{
    __typeof__(&sqlite3_step) real = REAL_AT(sqlite3_step, caller);
    if (!real)
        return SQLITE_MISUSE;
    if (UNMANAGED())
        return real(stmt);
    return shim_step(stmt, real);
}

SHIM_EXPORT int sqlite3_step(sqlite3_stmt *stmt)
{
    FAST_PATH(sqlite3_step, stmt);
    return step_slow(stmt, CALLER);
}

SLOW int exec_slow(sqlite3 *db, const char *sql, int (*cb)(void *, int, char **, char **),
                   void *arg, char **errmsg, const void *caller)
{
    __typeof__(&sqlite3_exec) real = REAL_AT(sqlite3_exec, caller);
    if (!real)
        return SQLITE_MISUSE;
    if (UNMANAGED())
        return real(db, sql, cb, arg, errmsg);
    return shim_exec(db, sql, cb, arg, errmsg);
}

SHIM_EXPORT int sqlite3_exec(sqlite3 *db, const char *sql,
                             int (*cb)(void *, int, char **, char **), void *arg, char **errmsg)
{
    FAST_PATH(sqlite3_exec, db, sql, cb, arg, errmsg);
    return exec_slow(db, sql, cb, arg, errmsg, CALLER);
}

/* close and close_v2: `id` says which real function. */
SLOW int close_slow(sqlite3 *db, int id, const void *caller)
{
    int (*real)(sqlite3 *) = (int (*)(sqlite3 *))shim_real_get(id, caller);
    if (!real)
        return SQLITE_MISUSE;
    if (UNMANAGED())
        return real(db);
    return shim_close(db, real);
}

SHIM_EXPORT int sqlite3_close(sqlite3 *db)
{
    FAST_PATH(sqlite3_close, db);
    return close_slow(db, SHIM_REAL_sqlite3_close, CALLER);
}

SHIM_EXPORT int sqlite3_close_v2(sqlite3 *db)
{
    FAST_PATH(sqlite3_close_v2, db);
    return close_slow(db, SHIM_REAL_sqlite3_close_v2, CALLER);
}

/* What an interpreter with SQLite linked in hooks to (static.h): the same wrappers, the functions
 * api.h marks WRAP or WRAP_OPT. */
#define WRAPPER_WRAP(name) (void *)&name
#define WRAPPER_WRAP_OPT(name) (void *)&name
#define WRAPPER_USE(name) NULL
static void *const wrapper[SHIM_REAL_COUNT] = {
#define X(name, kind) [SHIM_REAL_##name] = WRAPPER_##kind(name),
    SHIM_REAL_FUNCS(X)
#undef X
};

void *shim_wrapper_of(int id) { return id >= 0 && id < SHIM_REAL_COUNT ? wrapper[id] : NULL; }

/* The non-SQLite exports: the version (tools and tests ask a process whether the shim is loaded)
 * and the pytest plugin's switch below. */
SHIM_EXPORT const char *testmon_shim_version(void) { return TESTMON_SHIM_VERSION; }

/* The pytest plugin's switch (python/testmon_shim/plugin.py): it loaded the library into a run
 * that turned out not to be an xdist run of testmon, so this process passes everything through,
 * as with TESTMON_SHIM=off.  Called from Python before testmon opens its datafile. */
SHIM_EXPORT void testmon_shim_off(void)
{
    __atomic_store_n(&shim_config.disabled, 1, __ATOMIC_RELAXED);
}
