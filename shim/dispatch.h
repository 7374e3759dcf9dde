/* dispatch.h: from an intercepted call to its role's policy.  The wrappers (wrappers.c) call
 * shim_open for an open that is not nested and could name the datafile, the rest only when some
 * connection is managed. */
#ifndef SHIM_DISPATCH_H
#define SHIM_DISPATCH_H
#include "pymod.h"
#include <sqlite3.h>

enum shim_prepare_variant { SHIM_PREPARE_V1, SHIM_PREPARE_V2, SHIM_PREPARE_V3 };

/* An open through the i-th watched sqlite3 module (pymod.h) of a name that could be the
 * datafile: the first such open chooses the SQLite the shim manages; an open through a module
 * whose SQLite is another one passes through to `real`, its own (said once, where it matters). */
int shim_open_module(int i, const char *filename, sqlite3 **ppDb, int flags, const char *vfs,
                     shim_open_fn real);
/* sqlite3_open_v2 with the policy of this process's role for the file applied. */
int shim_open(const char *filename, sqlite3 **ppDb, int flags, const char *vfs);
int shim_step(sqlite3_stmt *stmt, int (*real)(sqlite3_stmt *));
int shim_prepare(enum shim_prepare_variant v, sqlite3 *db, const char *sql, int n, unsigned flags,
                 sqlite3_stmt **pp, const char **tail);
int shim_exec(sqlite3 *db, const char *sql, int (*cb)(void *, int, char **, char **), void *arg,
              char **errmsg);
int shim_close(sqlite3 *db, int (*real)(sqlite3 *));
#endif
