/* real.h: the real SQLite functions, resolved at run time.
 *
 * The shim never links libsqlite3: inside Python, _sqlite3 loads libsqlite3 RTLD_LOCAL, so
 * dlsym(RTLD_NEXT) finds nothing and a link-time reference would bind to whatever copy the loader
 * saw first.  Instead the first intercepted call resolves every function from the library its
 * caller actually uses (see real.c).  Every SQLite function the shim calls, interposed or not,
 * goes through REAL(); a direct call would be an undefined symbol in a Python process. */
#ifndef SHIM_REAL_H
#define SHIM_REAL_H
#include <sqlite3.h>
#include <stdatomic.h>

#define SHIM_REAL_FUNCS(X)                                                                       \
    X(sqlite3_open_v2) X(sqlite3_prepare_v2) X(sqlite3_prepare_v3) X(sqlite3_prepare)            \
    X(sqlite3_step) X(sqlite3_exec) X(sqlite3_close) X(sqlite3_close_v2)                         \
    X(sqlite3_finalize) X(sqlite3_reset) X(sqlite3_db_handle)          \
    X(sqlite3_get_autocommit) X(sqlite3_commit_hook) X(sqlite3_busy_timeout) X(sqlite3_errmsg)   \
    X(sqlite3_errcode) X(sqlite3_column_count) X(sqlite3_column_type) X(sqlite3_column_int64)    \
    X(sqlite3_column_double) X(sqlite3_column_text) X(sqlite3_column_blob) X(sqlite3_column_bytes) \
    X(sqlite3_column_name) X(sqlite3_bind_int64) X(sqlite3_bind_double) X(sqlite3_bind_text)     \
    X(sqlite3_bind_blob) X(sqlite3_bind_null) X(sqlite3_mprintf) X(sqlite3_free)                 \
    X(sqlite3_libversion_number) X(sqlite3_db_readonly) X(sqlite3_stmt_readonly)               \
    X(sqlite3_errstr) X(sqlite3_backup_init) X(sqlite3_backup_step) X(sqlite3_backup_finish)

enum shim_real_id {
#define X(name) SHIM_REAL_##name,
    SHIM_REAL_FUNCS(X)
#undef X
    SHIM_REAL_COUNT
};

extern _Atomic(void *) shim_real_table[SHIM_REAL_COUNT];

/* Slow path: resolve the whole table using `caller` (a return address inside the library that
 * called us) to find the right SQLite.  Returns the function or NULL (an error was logged). */
void *shim_real_resolve(int id, const void *caller);

/* The real function `name`, typed.  Must be expanded inside the exported wrapper (or a function
 * it calls with the caller's address) so that __builtin_return_address(0) is the caller. */
#define REAL(name)                                                                               \
    ((__typeof__(&name))shim_real_get(SHIM_REAL_##name, __builtin_return_address(0)))

static inline void *shim_real_get(int id, const void *caller)
{
    void *p = atomic_load_explicit(&shim_real_table[id], memory_order_acquire);
    return p ? p : shim_real_resolve(id, caller);
}

/* For the fork handler: nothing to reset (the table stays valid in the child). */
#endif
