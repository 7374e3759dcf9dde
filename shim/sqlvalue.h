/* sqlvalue.h: SQLite values <-> JSON, losslessly.
 * null -> null; integer -> {"i":"<decimal>"} (a JSON number would lose int64 precision);
 * real -> {"f":<number>}; text -> "<string>", or {"t":"<hex>"} when it holds a NUL byte;
 * blob -> {"b":"<hex>"}. */
#ifndef SHIM_SQLVALUE_H
#define SHIM_SQLVALUE_H
#include <cJSON.h>
#include <sqlite3.h>
cJSON *shim_value_from_column(sqlite3_stmt *stmt, int col);
/* Bind v to parameter idx (1-based).  Returns an SQLite result code; SQLITE_MISMATCH if v is not
 * a value in the encoding above. */
int shim_value_bind(sqlite3_stmt *stmt, int idx, const cJSON *v);
/* From a JSON array of column names: *names = `, "c1", "c2"` (or `, "c1" = ?, ...` when
 * assign) and *marks = `, ?, ?` (sqlite3_mprintf strings, identifiers quoted with %w).
 * SQLITE_MISMATCH if a name is not a string (nothing allocated then). */
int shim_sql_column_lists(const cJSON *cols, int assign, char **names, char **marks);
/* Run sql on db (all statements); returns an SQLite result code, message logged on error. */
int shim_sql_exec(sqlite3 *db, const char *sql);
#endif
