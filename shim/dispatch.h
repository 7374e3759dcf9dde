/* dispatch.h: from an intercepted call on a managed connection to its role's policy.
 * The exported wrappers (wrappers.c) call these only when some connection is managed. */
#ifndef SHIM_DISPATCH_H
#define SHIM_DISPATCH_H
#include <sqlite3.h>

enum shim_prepare_variant { SHIM_PREPARE_V1, SHIM_PREPARE_V2, SHIM_PREPARE_V3 };

int shim_step(sqlite3_stmt *stmt, int (*real)(sqlite3_stmt *));
int shim_prepare(enum shim_prepare_variant v, sqlite3 *db, const char *sql, int n, unsigned flags,
                 sqlite3_stmt **pp, const char **tail);
int shim_exec(sqlite3 *db, const char *sql, int (*cb)(void *, int, char **, char **), void *arg,
              char **errmsg);
int shim_close(sqlite3 *db, int (*real)(sqlite3 *));
#endif
