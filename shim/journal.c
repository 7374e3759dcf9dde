/* journal.c: record (worker), serialise, and replay (controller) row changes. */
#include "journal.h"
#include "coord.h"
#include "log.h"
#include "real.h"
#include "runid.h"
#include "sqlvalue.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define JTABLE "temp.testmon_shim_journal"

/* Column names of schema.table, NULL-terminated array of sqlite3_mprintf strings. */
static char **table_columns(sqlite3 *db, const char *schema, const char *table, int *count)
{
    char *sql = REAL(sqlite3_mprintf)("PRAGMA %s.table_info(\"%w\")", schema, table);
    sqlite3_stmt *st = NULL;
    char **cols = calloc(SHIM_JOURNAL_MAX_COLUMNS + 1, sizeof *cols);
    int n = 0;
    if (cols && REAL(sqlite3_prepare_v2)(db, sql, -1, &st, NULL) == SQLITE_OK) {
        while (REAL(sqlite3_step)(st) == SQLITE_ROW) {
            if (n == SHIM_JOURNAL_MAX_COLUMNS) {
                n = -1;
                break;
            }
            cols[n++] = REAL(sqlite3_mprintf)("%s", REAL(sqlite3_column_text)(st, 1));
        }
    }
    REAL(sqlite3_finalize)(st);
    REAL(sqlite3_free)(sql);
    *count = n;
    return cols;
}

static void free_columns(char **cols)
{
    for (int i = 0; cols && cols[i]; i++)
        REAL(sqlite3_free)(cols[i]);
    free(cols);
}

/* Append to *buf (an sqlite3_mprintf string), freeing the old one. */
static char *cat(char *buf, char *more)
{
    char *r = REAL(sqlite3_mprintf)("%s%s", buf ? buf : "", more ? more : "");
    REAL(sqlite3_free)(buf);
    REAL(sqlite3_free)(more);
    return r;
}

/* Trigger bodies may not qualify table names; an unqualified name in a TEMP trigger finds the
 * TEMP journal table first. */
int shim_journal_track(sqlite3 *db, const char *table)
{
    char *ddl = REAL(sqlite3_mprintf)(
        "CREATE TABLE IF NOT EXISTS " JTABLE "(seq INTEGER PRIMARY KEY, tbl TEXT, op TEXT, "
        "rid INTEGER, nrid INTEGER");
    for (int i = 0; i < SHIM_JOURNAL_MAX_COLUMNS; i++)
        ddl = cat(ddl, REAL(sqlite3_mprintf)(", v%d", i));
    ddl = cat(ddl, REAL(sqlite3_mprintf)(");"));
    int rc = shim_sql_exec(db, ddl);
    REAL(sqlite3_free)(ddl);
    if (rc != SQLITE_OK)
        return rc;

    int n;
    char **cols = table_columns(db, "temp", table, &n);
    if (n <= 0) {
        free_columns(cols);
        shim_log_error("cannot journal table %s: %s columns", table, n < 0 ? "too many" : "no");
        return SQLITE_ERROR;
    }
    char *vcols = NULL, *newv = NULL, *changed = NULL;
    for (int i = 0; i < n; i++) {
        vcols = cat(vcols, REAL(sqlite3_mprintf)(", v%d", i));
        newv = cat(newv, REAL(sqlite3_mprintf)(", NEW.\"%w\"", cols[i]));
        changed = cat(changed, REAL(sqlite3_mprintf)(" OR OLD.\"%w\" IS NOT NEW.\"%w\"", cols[i],
                                                     cols[i]));
    }
    char *sql = REAL(sqlite3_mprintf)(
        "CREATE TEMP TRIGGER IF NOT EXISTS \"" SHIM_JOURNAL_MARK "%w\" AFTER INSERT ON temp.\"%w\" "
        "BEGIN "
        "INSERT INTO testmon_shim_journal(tbl, op, rid, nrid%s) VALUES (%Q, 'I', NEW.rowid, NEW.rowid%s); END;"
        "CREATE TEMP TRIGGER IF NOT EXISTS \"testmon_shim_ju_%w\" AFTER UPDATE ON temp.\"%w\" "
        "WHEN OLD.rowid IS NOT NEW.rowid%s BEGIN "
        "INSERT INTO testmon_shim_journal(tbl, op, rid, nrid%s) VALUES (%Q, 'U', OLD.rowid, NEW.rowid%s); END;"
        "CREATE TEMP TRIGGER IF NOT EXISTS \"testmon_shim_jd_%w\" AFTER DELETE ON temp.\"%w\" BEGIN "
        "INSERT INTO testmon_shim_journal(tbl, op, rid) VALUES (%Q, 'D', OLD.rowid); END;",
        table, table, vcols, table, newv, table, table, changed, vcols, table, newv, table, table,
        table);
    rc = shim_sql_exec(db, sql);
    REAL(sqlite3_free)(sql);
    REAL(sqlite3_free)(vcols);
    REAL(sqlite3_free)(newv);
    REAL(sqlite3_free)(changed);
    free_columns(cols);
    return rc;
}

static void safe_token(const char *in, char *out, size_t outsz)
{
    size_t n = 0;
    for (; *in && n + 1 < outsz; in++)
        out[n++] = isalnum((unsigned char)*in) ? *in : '_';
    out[n] = 0;
}

int shim_journal_flush(sqlite3 *db, const char *dir, const char *run_name, const char *worker_id)
{
    sqlite3_stmt *st = NULL;
    if (REAL(sqlite3_prepare_v2)(db, "SELECT tbl, op, rid, nrid, * FROM " JTABLE " ORDER BY seq",
                                 -1, &st, NULL) != SQLITE_OK)
        return 0; /* no journal table: nothing was tracked */
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "format", 1);
    cJSON_AddStringToObject(root, "worker", worker_id);
    cJSON *columns = cJSON_AddObjectToObject(root, "columns");
    cJSON *ops = cJSON_AddArrayToObject(root, "ops");
    int rows = 0, rc;
    while ((rc = REAL(sqlite3_step)(st)) == SQLITE_ROW) {
        const char *tbl = (const char *)REAL(sqlite3_column_text)(st, 0);
        const char *op = (const char *)REAL(sqlite3_column_text)(st, 1);
        if (!tbl || !op)
            continue;
        cJSON *cols = cJSON_GetObjectItemCaseSensitive(columns, tbl);
        if (!cols) {
            int n;
            char **names = table_columns(db, "temp", tbl, &n);
            cols = cJSON_AddArrayToObject(columns, tbl);
            for (int i = 0; i < n; i++)
                cJSON_AddItemToArray(cols, cJSON_CreateString(names[i]));
            free_columns(names);
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "t", tbl);
        cJSON_AddStringToObject(o, "o", op);
        cJSON_AddItemToObject(o, "r", shim_value_from_column(st, 2));
        if (op[0] != 'D') {
            cJSON_AddItemToObject(o, "n", shim_value_from_column(st, 3));
            cJSON *v = cJSON_AddArrayToObject(o, "v");
            int ncols = cJSON_GetArraySize(cols);
            for (int i = 0; i < ncols; i++) /* result: tbl op rid nrid seq tbl op rid nrid v0.. */
                cJSON_AddItemToArray(v, shim_value_from_column(st, 9 + i));
        }
        cJSON_AddItemToArray(ops, o);
        rows++;
    }
    REAL(sqlite3_finalize)(st);
    int result = 0;
    if (rows > 0) {
        char *text = cJSON_PrintUnformatted(root);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        char wid[32], name[256];
        safe_token(worker_id, wid, sizeof wid);
        snprintf(name, sizeof name, "%s" SHIM_RUN_JOURNAL "%020lld-%s-%ld" SHIM_RUN_JSON,
                 run_name, (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec, wid, (long)getpid());
        result = text ? shim_coord_write(dir, name, text) : -1;
        free(text);
        if (result == 0) {
            shim_sql_exec(db, "DELETE FROM " JTABLE);
            shim_log_info("handed %d row change(s) to the controller in %s", rows, name);
            result = rows;
        } else {
            shim_log_error("could not hand %d row change(s) to the controller; this run's test "
                           "sync is lost (the next run redoes it)", rows);
        }
    }
    cJSON_Delete(root);
    return result;
}

/* Replay one op; returns an SQLite result code. */
static int apply_op(sqlite3 *db, const cJSON *columns, const cJSON *op)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(op, "t");
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(op, "o");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(op, "r");
    if (!cJSON_IsString(t) || !cJSON_IsString(o) || !r)
        return SQLITE_MISMATCH;
    const cJSON *cols = cJSON_GetObjectItemCaseSensitive(columns, t->valuestring);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(op, "v");
    const cJSON *nr = cJSON_GetObjectItemCaseSensitive(op, "n");
    int ncols = cJSON_GetArraySize(cols);
    char *sql;
    if (strcmp(o->valuestring, "D") == 0) {
        sql = REAL(sqlite3_mprintf)("DELETE FROM main.\"%w\" WHERE rowid = ?", t->valuestring);
    } else {
        if (!cJSON_IsArray(cols) || ncols <= 0 || !cJSON_IsArray(v) ||
            cJSON_GetArraySize(v) != ncols || !nr)
            return SQLITE_MISMATCH;
        int update = strcmp(o->valuestring, "U") == 0;
        if (!update && strcmp(o->valuestring, "I") != 0)
            return SQLITE_MISMATCH;
        char *names, *marks;
        if (shim_sql_column_lists(cols, update, &names, &marks) != SQLITE_OK)
            return SQLITE_MISMATCH;
        sql = update ? REAL(sqlite3_mprintf)("UPDATE main.\"%w\" SET rowid = ?%s WHERE rowid = ?",
                                             t->valuestring, names)
                     : REAL(sqlite3_mprintf)("INSERT OR REPLACE INTO main.\"%w\"(rowid%s) "
                                             "VALUES (?%s)", t->valuestring, names, marks);
        REAL(sqlite3_free)(names);
        REAL(sqlite3_free)(marks);
    }
    sqlite3_stmt *st = NULL;
    int rc = REAL(sqlite3_prepare_v2)(db, sql, -1, &st, NULL);
    REAL(sqlite3_free)(sql);
    int idx = 1;
    if (rc == SQLITE_OK && strcmp(o->valuestring, "D") != 0) {
        rc = shim_value_bind(st, idx++, nr);
        const cJSON *val;
        cJSON_ArrayForEach(val, v) if (rc == SQLITE_OK) rc = shim_value_bind(st, idx++, val);
        if (rc == SQLITE_OK && strcmp(o->valuestring, "U") == 0)
            rc = shim_value_bind(st, idx++, r);
    } else if (rc == SQLITE_OK) {
        rc = shim_value_bind(st, idx, r);
    }
    if (rc == SQLITE_OK) {
        rc = REAL(sqlite3_step)(st);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    REAL(sqlite3_finalize)(st);
    return rc;
}

static _Thread_local char apply_error[256];

const char *shim_journal_apply_error(void) { return apply_error; }

int shim_journal_apply(sqlite3 *db, const cJSON *journal)
{
    apply_error[0] = 0;
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(journal, "format");
    const cJSON *columns = cJSON_GetObjectItemCaseSensitive(journal, "columns");
    const cJSON *ops = cJSON_GetObjectItemCaseSensitive(journal, "ops");
    if (!cJSON_IsNumber(format) || format->valueint != 1 || !cJSON_IsObject(columns) ||
        !cJSON_IsArray(ops)) {
        snprintf(apply_error, sizeof apply_error, "not a format-1 journal with columns and ops");
        return -1;
    }
    if (shim_sql_exec(db, "SAVEPOINT testmon_shim_apply") != SQLITE_OK) {
        snprintf(apply_error, sizeof apply_error, "%s", REAL(sqlite3_errmsg)(db));
        return -1;
    }
    const cJSON *op;
    int rc = SQLITE_OK, count = 0;
    cJSON_ArrayForEach(op, ops)
    {
        if ((rc = apply_op(db, columns, op)) != SQLITE_OK)
            break;
        count++;
    }
    if (rc != SQLITE_OK) {
        snprintf(apply_error, sizeof apply_error, "change %d of %d failed: %s", count + 1,
                 cJSON_GetArraySize(ops),
                 rc == SQLITE_MISMATCH ? "malformed change" : REAL(sqlite3_errmsg)(db));
        shim_sql_exec(db, "ROLLBACK TO testmon_shim_apply");
    }
    shim_sql_exec(db, "RELEASE testmon_shim_apply");
    if (rc == SQLITE_OK)
        shim_log_info("applied %d row change(s) from a worker", count);
    return rc == SQLITE_OK ? count : -1;
}
