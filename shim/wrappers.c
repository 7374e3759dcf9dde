/* wrappers.c: see wrappers.h.  Each wrapper passes straight through when no connection is
 * managed or the call is nested, and otherwise hands over to dispatch.c; an open goes to
 * dispatch.c only when its name could be testmon's datafile. */
#include "wrappers.h"
#include "conn.h"
#include "datafile.h"
#include "dispatch.h"
#include "guard.h"
#include "settings.h"

/* The path of a managed process's calls on connections it does not manage, first thing in every
 * wrapper but the opens: no managed connection, so the real function, by a tail jump.  The table
 * is filled before any slot or hook leads here (real.h; a hook's trampoline is in it before the
 * hook's jump is written, hook.h), so the entry is never NULL.  Everything
 * else lives out of line (SLOW), so this path saves no register and sets up no frame. */
#define FAST_PATH(name, ...)                                                                     \
    do {                                                                                         \
        if (__builtin_expect(atomic_load_explicit(&shim_conn_count, memory_order_relaxed) == 0,  \
                             1))                                                                 \
            return REAL(name)(__VA_ARGS__);                                                      \
    } while (0)
#define UNMANAGED() \
    (__builtin_expect(atomic_load_explicit(&shim_conn_count, memory_order_relaxed) == 0, 1) || \
     shim_nested())
#define SLOW __attribute__((noinline, cold)) static

/* --- opens --- */

/* An open through the i-th watched sqlite3 module: its own SQLite unless the name could be the
 * datafile (dispatch.c decides the rest, and may make this module's SQLite the managed one). */
static int module_open(int i, const char *filename, sqlite3 **ppDb, int flags, const char *vfs)
{
    shim_open_fn real = shim_pymod_open_of(i);
    if (shim_off() || shim_nested() || !shim_datafile_maybe(filename))
        return real(filename, ppDb, flags, vfs);
    return shim_open_module(i, filename, ppDb, flags, vfs, real);
}

#define MODULE_OPEN(i)                                                                           \
    static int open_m##i(const char *f, sqlite3 **pp, int fl, const char *vfs)                  \
    {                                                                                            \
        return module_open(i, f, pp, fl, vfs);                                                   \
    }
MODULE_OPEN(0) MODULE_OPEN(1) MODULE_OPEN(2) MODULE_OPEN(3)
MODULE_OPEN(4) MODULE_OPEN(5) MODULE_OPEN(6) MODULE_OPEN(7)
_Static_assert(SHIM_MAX_PYMODS == 8, "one open entry per watchable module");

/* An open in an interpreter with SQLite linked in (static.h), whose entry is hooked for every
 * caller: SQLite's one copy is the managed one from the start. */
static __typeof__(sqlite3_open_v2) wrap_sqlite3_open_v2;
static int wrap_sqlite3_open_v2(const char *filename, sqlite3 **ppDb, int flags, const char *vfs)
{
    if (shim_off() || shim_nested() || !shim_datafile_maybe(filename))
        return REAL(sqlite3_open_v2)(filename, ppDb, flags, vfs);
    return shim_open(filename, ppDb, flags, vfs);
}

/* --- statements --- */

SLOW int prepare_v2_slow(sqlite3 *db, const char *sql, int n, sqlite3_stmt **pp,
                         const char **tail)
{
    if (UNMANAGED())
        return REAL(sqlite3_prepare_v2)(db, sql, n, pp, tail);
    return shim_prepare(SHIM_PREPARE_V2, db, sql, n, 0, pp, tail);
}

static __typeof__(sqlite3_prepare_v2) wrap_sqlite3_prepare_v2;
static int wrap_sqlite3_prepare_v2(sqlite3 *db, const char *sql, int n, sqlite3_stmt **pp,
                           const char **tail)
{
    FAST_PATH(sqlite3_prepare_v2, db, sql, n, pp, tail);
    return prepare_v2_slow(db, sql, n, pp, tail);
}

SLOW int prepare_v3_slow(sqlite3 *db, const char *sql, int n, unsigned int flags,
                         sqlite3_stmt **pp, const char **tail)
{
    if (UNMANAGED())
        return REAL(sqlite3_prepare_v3)(db, sql, n, flags, pp, tail);
    return shim_prepare(SHIM_PREPARE_V3, db, sql, n, flags, pp, tail);
}

static __typeof__(sqlite3_prepare_v3) wrap_sqlite3_prepare_v3;
static int wrap_sqlite3_prepare_v3(sqlite3 *db, const char *sql, int n, unsigned int flags,
                           sqlite3_stmt **pp, const char **tail)
{
    FAST_PATH(sqlite3_prepare_v3, db, sql, n, flags, pp, tail);
    return prepare_v3_slow(db, sql, n, flags, pp, tail);
}

SLOW int prepare_slow(sqlite3 *db, const char *sql, int n, sqlite3_stmt **pp, const char **tail)
{
    if (UNMANAGED())
        return REAL(sqlite3_prepare)(db, sql, n, pp, tail);
    return shim_prepare(SHIM_PREPARE_V1, db, sql, n, 0, pp, tail);
}

static __typeof__(sqlite3_prepare) wrap_sqlite3_prepare;
static int wrap_sqlite3_prepare(sqlite3 *db, const char *sql, int n, sqlite3_stmt **pp, const char **tail)
{
    FAST_PATH(sqlite3_prepare, db, sql, n, pp, tail);
    return prepare_slow(db, sql, n, pp, tail);
}

/* The hottest call of all. */
SLOW int step_slow(sqlite3_stmt *stmt)
{
    if (UNMANAGED())
        return REAL(sqlite3_step)(stmt);
    return shim_step(stmt, REAL(sqlite3_step));
}

static __typeof__(sqlite3_step) wrap_sqlite3_step;
static int wrap_sqlite3_step(sqlite3_stmt *stmt)
{
    FAST_PATH(sqlite3_step, stmt);
    return step_slow(stmt);
}

SLOW int exec_slow(sqlite3 *db, const char *sql, int (*cb)(void *, int, char **, char **),
                   void *arg, char **errmsg)
{
    if (UNMANAGED())
        return REAL(sqlite3_exec)(db, sql, cb, arg, errmsg);
    return shim_exec(db, sql, cb, arg, errmsg);
}

static __typeof__(sqlite3_exec) wrap_sqlite3_exec;
static int wrap_sqlite3_exec(sqlite3 *db, const char *sql, int (*cb)(void *, int, char **, char **),
                     void *arg, char **errmsg)
{
    FAST_PATH(sqlite3_exec, db, sql, cb, arg, errmsg);
    return exec_slow(db, sql, cb, arg, errmsg);
}

/* close and close_v2: `real` says which. */
SLOW int close_slow(sqlite3 *db, int (*real)(sqlite3 *))
{
    if (UNMANAGED())
        return real(db);
    return shim_close(db, real);
}

static __typeof__(sqlite3_close) wrap_sqlite3_close;
static int wrap_sqlite3_close(sqlite3 *db)
{
    FAST_PATH(sqlite3_close, db);
    return close_slow(db, REAL(sqlite3_close));
}

static __typeof__(sqlite3_close_v2) wrap_sqlite3_close_v2;
static int wrap_sqlite3_close_v2(sqlite3 *db)
{
    FAST_PATH(sqlite3_close_v2, db);
    return close_slow(db, REAL(sqlite3_close_v2));
}

/* --- the tables --- */

/* Every function api.h marks WRAP or WRAP_OPT has its wrapper here, wrap_<name>: a missing one
 * does not compile. */
#define WRAPPER_WRAP(name) (void *)&wrap_##name
#define WRAPPER_WRAP_OPT(name) (void *)&wrap_##name
#define WRAPPER_USE(name) NULL
void shim_wrappers(void *wrappers[SHIM_REAL_COUNT], shim_open_fn opens[SHIM_MAX_PYMODS])
{
    static void *const table[SHIM_REAL_COUNT] = {
#define X(name, kind) [SHIM_REAL_##name] = WRAPPER_##kind(name),
        SHIM_REAL_FUNCS(X)
#undef X
    };
    static const shim_open_fn open_entries[SHIM_MAX_PYMODS] = {
        open_m0, open_m1, open_m2, open_m3, open_m4, open_m5, open_m6, open_m7};
    for (int i = 0; i < SHIM_REAL_COUNT; i++)
        wrappers[i] = table[i];
    for (int i = 0; i < SHIM_MAX_PYMODS; i++)
        opens[i] = open_entries[i];
}
