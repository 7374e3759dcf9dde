/* api.h: the one list of the SQLite functions the shim uses, and how: X(name, kind).
 *   WRAP      has a wrapper in wrappers.c (never exported): a managed sqlite3 module's import
 *             slots lead to it (pymod.h), and so do the hooked entry points of an interpreter
 *             with SQLite linked in (static.h);
 *   WRAP_OPT  the same, where SQLite has it (sqlite3_prepare_v3: SQLite 3.20+);
 *   USE       called by the policies, through REAL().
 * Every one but WRAP_OPT must be found: a process whose SQLite lacks one passes everything
 * through, as a bystander, and says so once (real.c).  This header includes nothing. */
#ifndef SHIM_API_H
#define SHIM_API_H
#define SHIM_REAL_FUNCS(X)                                                                       \
    X(sqlite3_open_v2, WRAP) X(sqlite3_prepare_v2, WRAP) X(sqlite3_prepare_v3, WRAP_OPT)         \
    X(sqlite3_prepare, WRAP) X(sqlite3_step, WRAP) X(sqlite3_exec, WRAP) X(sqlite3_close, WRAP)   \
    X(sqlite3_close_v2, WRAP)                                                                    \
    X(sqlite3_finalize, USE) X(sqlite3_reset, USE) X(sqlite3_db_handle, USE)                     \
    X(sqlite3_get_autocommit, USE) X(sqlite3_commit_hook, USE) X(sqlite3_busy_timeout, USE)      \
    X(sqlite3_errmsg, USE) X(sqlite3_errcode, USE) X(sqlite3_column_count, USE)                  \
    X(sqlite3_column_type, USE) X(sqlite3_column_int64, USE) X(sqlite3_column_double, USE)       \
    X(sqlite3_column_text, USE) X(sqlite3_column_blob, USE) X(sqlite3_column_bytes, USE)         \
    X(sqlite3_column_name, USE) X(sqlite3_bind_int64, USE) X(sqlite3_bind_double, USE)           \
    X(sqlite3_bind_text, USE) X(sqlite3_bind_blob, USE) X(sqlite3_bind_null, USE)                \
    X(sqlite3_mprintf, USE) X(sqlite3_free, USE) X(sqlite3_libversion_number, USE)               \
    X(sqlite3_db_readonly, USE) X(sqlite3_stmt_readonly, USE) X(sqlite3_errstr, USE)             \
    X(sqlite3_backup_init, USE) X(sqlite3_backup_step, USE) X(sqlite3_backup_finish, USE)
#endif
