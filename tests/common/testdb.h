/* testdb.h: what the C tests share about a testmon-like database (unit tests, fuzz targets,
 * robustness programs): the core of testmon's schema, a few rows, and a one-value query. */
#ifndef TESTDB_H
#define TESTDB_H
#include <sqlite3.h>
#include <stddef.h>

/* testmon 2.x's environment and test_execution (with its index), and the 2.0.x scratch table
 * mcall_id. */
#define TESTDB_SCHEMA                                                                            \
    "CREATE TABLE environment(id INTEGER PRIMARY KEY ASC, environment_name TEXT, "              \
    "  system_packages TEXT, python_version TEXT, "                                              \
    "  UNIQUE (environment_name, system_packages, python_version));"                            \
    "CREATE TABLE test_execution(id INTEGER PRIMARY KEY ASC, environment_id INTEGER, "          \
    "  test_name TEXT, duration FLOAT, failed BIT, forced BIT, "                                 \
    "  FOREIGN KEY(environment_id) REFERENCES environment(id));"                                \
    "CREATE INDEX test_execution_fk_name ON test_execution (environment_id, test_name);"         \
    "CREATE TABLE mcall_id(id INTEGER PRIMARY KEY, name TEXT);"
/* Two environments; three executions, one of them failed. */
#define TESTDB_ROWS                                                                              \
    "INSERT INTO environment VALUES (1, 'default', 'pk-a', '3.11'), (2, 'other', 'pk-b', '3.11');" \
    "INSERT INTO test_execution VALUES (1, 1, 't::a', 0.5, 0, 0), (2, 1, 't::b', 1.0, 0, 0),"    \
    "  (3, 2, 't::c', 2.0, 1, 0);"

/* The first column of the first row of sql, or `fail` when it does not prepare or has no row. */
static inline long long testdb_int(sqlite3 *db, const char *sql, long long fail)
{
    sqlite3_stmt *st = NULL;
    long long v = fail;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}
#endif
