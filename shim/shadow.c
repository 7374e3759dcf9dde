/* shadow.c: the TEMP shadows of a worker connection's main tables (shadow.h): built from main's
 * schema (PRAGMA table_info, index_list, index_info), installed at open, taken on a write and set
 * aside after a commit. */
#include "shadow.h"
#include "datafile.h"
#include "journal.h"
#include "log.h"
#include "real.h"
#include "sqlvalue.h"
#include <stdio.h>
#include <string.h>

/* Scratch tables that testmon 2.0.0-2.0.12 keep in the main database: keyed by per-process ids
 * and re-filled by every process, so a worker's rows are its own business and are not handed
 * over (the controller wrote its own).  From 2.0.13 they are TEMP tables anyway. */
static const char *const scratch_tables[] = {
    "mcall_id", "temp_files_checksums", "temp_filenames", "changed_files_fshas",
    "changed_files_mhashes",
};

int shim_shadow_is_scratch(const char *table)
{
    for (size_t i = 0; i < sizeof scratch_tables / sizeof *scratch_tables; i++)
        if (strcmp(table, scratch_tables[i]) == 0)
            return 1;
    return 0;
}

/* CREATE TEMP TABLE statement for main.<table>, from PRAGMA table_info (no foreign keys: the
 * copy's parents may be views, and the controller's replay enforces them in main). */
static char *temp_table_ddl(sqlite3 *db, const char *table)
{
    char *sql = REAL(sqlite3_mprintf)("PRAGMA main.table_info(\"%w\")", table);
    sqlite3_stmt *st = NULL;
    int rc = REAL(sqlite3_prepare_v2)(db, sql, -1, &st, NULL);
    REAL(sqlite3_free)(sql);
    if (rc != SQLITE_OK)
        return NULL;
    char *cols = NULL, *pk = NULL;
    int npk = 0, ncols = 0;
    while (REAL(sqlite3_step)(st) == SQLITE_ROW) {
        const char *name = (const char *)REAL(sqlite3_column_text)(st, 1);
        const char *type = (const char *)REAL(sqlite3_column_text)(st, 2);
        int notnull = (int)REAL(sqlite3_column_int64)(st, 3);
        const char *dflt = (const char *)REAL(sqlite3_column_text)(st, 4);
        int pkpos = (int)REAL(sqlite3_column_int64)(st, 5);
        char *def = REAL(sqlite3_mprintf)("%s\"%w\" %s%s%s%s", ncols ? ", " : "", name,
                                          type ? type : "", notnull ? " NOT NULL" : "",
                                          dflt ? " DEFAULT " : "", dflt ? dflt : "");
        char *joined = REAL(sqlite3_mprintf)("%s%s", cols ? cols : "", def);
        REAL(sqlite3_free)(cols);
        REAL(sqlite3_free)(def);
        cols = joined;
        if (pkpos) {
            char *p = REAL(sqlite3_mprintf)("%s%s\"%w\"", pk ? pk : "", pk ? ", " : "", name);
            REAL(sqlite3_free)(pk);
            pk = p;
            npk++;
        }
        ncols++;
    }
    REAL(sqlite3_finalize)(st);
    char *ddl = NULL;
    if (ncols) {
        /* PRIMARY KEY("id") on a column declared INTEGER is the rowid alias, as inline. */
        ddl = REAL(sqlite3_mprintf)("CREATE TEMP TABLE \"%w\" (%s%s%s%s)", table, cols,
                                    npk ? ", PRIMARY KEY (" : "", npk ? pk : "", npk ? ")" : "");
    }
    REAL(sqlite3_free)(cols);
    REAL(sqlite3_free)(pk);
    return ddl;
}

/* Recreate main.<table>'s indexes on temp.<table> (unique ones carry constraints). */
static int copy_indexes(sqlite3 *db, const char *table)
{
    char *sql = REAL(sqlite3_mprintf)("SELECT l.name, l.\"unique\", l.origin, "
                                      "(SELECT group_concat('\"' || replace(i.name, '\"', '\"\"') || '\"', ',') FROM "
                                      "pragma_index_info(l.name, 'main') i) "
                                      "FROM pragma_index_list(%Q, 'main') l",
                                      table);
    sqlite3_stmt *st = NULL;
    int rc = REAL(sqlite3_prepare_v2)(db, sql, -1, &st, NULL);
    REAL(sqlite3_free)(sql);
    int n = 0;
    while (rc == SQLITE_OK && REAL(sqlite3_step)(st) == SQLITE_ROW) {
        int uniq = (int)REAL(sqlite3_column_int64)(st, 1);
        const char *origin = (const char *)REAL(sqlite3_column_text)(st, 2);
        const char *cols = (const char *)REAL(sqlite3_column_text)(st, 3);
        if (!cols || (origin && strcmp(origin, "pk") == 0))
            continue; /* expressions, or the primary key (already in the table) */
        char *ddl = REAL(sqlite3_mprintf)("CREATE %sINDEX temp.\"testmon_shim_ix%d_%w\" ON "
                                          "\"%w\"(%s)", uniq ? "UNIQUE " : "", n++, table, table,
                                          cols);
        rc = shim_sql_exec(db, ddl);
        REAL(sqlite3_free)(ddl);
    }
    REAL(sqlite3_finalize)(st);
    return rc;
}

/* "c1","c2",... of main.<table> (sqlite3_mprintf string), or NULL. */
static char *column_list(sqlite3 *db, const char *table)
{
    char *sql = REAL(sqlite3_mprintf)("SELECT group_concat('\"' || replace(name, '\"', '\"\"') || "
                                      "'\"', ', ') FROM pragma_table_info(%Q, 'main')", table);
    sqlite3_stmt *st = NULL;
    char *cols = NULL;
    if (REAL(sqlite3_prepare_v2)(db, sql, -1, &st, NULL) == SQLITE_OK &&
        REAL(sqlite3_step)(st) == SQLITE_ROW && REAL(sqlite3_column_text)(st, 0))
        cols = REAL(sqlite3_mprintf)("%s", REAL(sqlite3_column_text)(st, 0));
    REAL(sqlite3_finalize)(st);
    REAL(sqlite3_free)(sql);
    return cols;
}

/* Fill temp.<table> from the controller's snapshot of it: rows of [rowid, values...]. */
static int fill_from_snapshot(sqlite3 *db, const char *table, const cJSON *snap)
{
    const cJSON *cols = cJSON_GetObjectItemCaseSensitive(snap, "columns");
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(snap, "rows");
    if (!cJSON_IsArray(cols) || !cJSON_IsArray(rows))
        return SQLITE_MISMATCH;
    char *names, *marks;
    if (shim_sql_column_lists(cols, 0, &names, &marks) != SQLITE_OK)
        return SQLITE_MISMATCH;
    char *sql = REAL(sqlite3_mprintf)("INSERT INTO temp.\"%w\"(rowid%s) VALUES (?%s)", table,
                                      names, marks);
    REAL(sqlite3_free)(names);
    REAL(sqlite3_free)(marks);
    sqlite3_stmt *st = NULL;
    int rc = REAL(sqlite3_prepare_v2)(db, sql, -1, &st, NULL);
    REAL(sqlite3_free)(sql);
    const cJSON *row;
    cJSON_ArrayForEach(row, rows)
    {
        if (rc != SQLITE_OK)
            break;
        if (cJSON_GetArraySize(row) != cJSON_GetArraySize(cols) + 1) {
            rc = SQLITE_MISMATCH;
            break;
        }
        int i = 1;
        const cJSON *v;
        cJSON_ArrayForEach(v, row) if (rc == SQLITE_OK) rc = shim_value_bind(st, i++, v);
        if (rc == SQLITE_OK && (rc = REAL(sqlite3_step)(st)) == SQLITE_DONE)
            rc = SQLITE_OK;
        REAL(sqlite3_reset)(st);
    }
    REAL(sqlite3_finalize)(st);
    return rc;
}

/* The name a journaled copy of <table> goes by while it is set aside (see restore_views). */
#define OWN_PREFIX "testmon_shim_own_"

/* Does sql (an sqlite3_mprintf string, freed here) return a row? */
static int has_row(sqlite3 *db, char *sql)
{
    sqlite3_stmt *st = NULL;
    int yes = sql && REAL(sqlite3_prepare_v2)(db, sql, -1, &st, NULL) == SQLITE_OK &&
              REAL(sqlite3_step)(st) == SQLITE_ROW;
    REAL(sqlite3_finalize)(st);
    REAL(sqlite3_free)(sql);
    return yes;
}

/* Does temp.<name> exist as a table? */
static int temp_table_exists(sqlite3 *db, const char *name)
{
    return has_row(db, REAL(sqlite3_mprintf)("SELECT 1 FROM temp.sqlite_master WHERE type = "
                                             "'table' AND name = %Q", name));
}

/* Swap the shadow of <table> between the view of the run's state and the worker's own copy, in
 * one savepoint: to_own drops the view and renames the set-aside copy back; otherwise the copy is
 * renamed aside and the view created again.  The copy's indexes and journal triggers follow the
 * renames, and its rowids stay what the controller was handed. */
static int swap_shadow(sqlite3 *db, const char *table, int to_own)
{
    char *sql = to_own
        ? REAL(sqlite3_mprintf)("SAVEPOINT testmon_shim_s; DROP VIEW temp.\"%w\"; "
                                "ALTER TABLE temp.\"" OWN_PREFIX "%w\" RENAME TO \"%w\"; "
                                "RELEASE testmon_shim_s", table, table, table)
        : REAL(sqlite3_mprintf)("SAVEPOINT testmon_shim_s; ALTER TABLE temp.\"%w\" RENAME TO "
                                "\"" OWN_PREFIX "%w\"; CREATE TEMP VIEW \"%w\" AS SELECT * FROM "
                                "main.\"%w\"; RELEASE testmon_shim_s", table, table, table, table);
    int rc = shim_sql_exec(db, sql);
    REAL(sqlite3_free)(sql);
    if (rc != SQLITE_OK) {
        shim_sql_exec(db, "ROLLBACK TO testmon_shim_s");
        shim_sql_exec(db, "RELEASE testmon_shim_s");
    }
    return rc;
}

/* Turn the shadow of <table> into a TEMP table: from the snapshot (environment), the worker's
 * own copy set aside at its last commit (is_view, *copied = 0), or a copy of main's rows
 * (*copied = 1); journaled unless it is environment or scratch.  Runs in a savepoint. */
static int materialise(sqlite3 *db, const char *table, const cJSON *snapshot, int is_view,
                       int *copied)
{
    *copied = 0;
    char own[300];
    snprintf(own, sizeof own, OWN_PREFIX "%s", table);
    if (is_view && temp_table_exists(db, own)) {
        int rc = swap_shadow(db, table, 1);
        if (rc == SQLITE_OK)
            shim_log_debug("took back this worker's own copy of table %s", table);
        else
            shim_log_error("cannot take back this worker's copy of table %s (%s); its writes to "
                           "it will fail: please report this with TESTMON_SHIM_LOG=debug output",
                           table, REAL(sqlite3_errmsg)(db));
        return rc;
    }
    char *ddl = temp_table_ddl(db, table);
    if (!ddl)
        return SQLITE_ERROR;
    int rc = shim_sql_exec(db, "SAVEPOINT testmon_shim_m");
    if (rc != SQLITE_OK) {
        REAL(sqlite3_free)(ddl);
        return rc;
    }
    if (is_view) {
        char *drop = REAL(sqlite3_mprintf)("DROP VIEW temp.\"%w\"", table);
        rc = shim_sql_exec(db, drop);
        REAL(sqlite3_free)(drop);
    }
    if (rc == SQLITE_OK)
        rc = shim_sql_exec(db, ddl);
    if (rc == SQLITE_OK)
        rc = copy_indexes(db, table);
    int from_snapshot = snapshot && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(snapshot,
                                                                                 "present"));
    if (rc == SQLITE_OK && from_snapshot) {
        rc = fill_from_snapshot(db, table, snapshot);
    } else if (rc == SQLITE_OK && !snapshot) {
        /* Keep rowids: the journal names rows by rowid, also in tables without an alias. */
        char *cols = column_list(db, table);
        char *copy = REAL(sqlite3_mprintf)("INSERT INTO temp.\"%w\"(rowid, %s) SELECT rowid, %s "
                                           "FROM main.\"%w\"", table, cols, cols, table);
        rc = cols ? shim_sql_exec(db, copy) : SQLITE_ERROR;
        REAL(sqlite3_free)(copy);
        REAL(sqlite3_free)(cols);
    }
    if (rc == SQLITE_OK && !snapshot && strcmp(table, SHIM_ENV_TABLE) != 0 &&
        !shim_shadow_is_scratch(table))
        rc = shim_journal_track(db, table);
    if (rc != SQLITE_OK)
        shim_sql_exec(db, "ROLLBACK TO testmon_shim_m");
    shim_sql_exec(db, "RELEASE testmon_shim_m");
    REAL(sqlite3_free)(ddl);
    if (rc != SQLITE_OK) {
        shim_log_error("cannot shadow table %s in this worker (%s); its writes to it will fail: "
                       "please report this with TESTMON_SHIM_LOG=debug output", table,
                       REAL(sqlite3_errmsg)(db));
    } else {
        shim_log_debug("shadowed table %s with a TEMP copy", table);
        *copied = 1;
    }
    return rc;
}

int shim_shadow_take(sqlite3 *db, const char *table, int *copied)
{
    return materialise(db, table, NULL, 1, copied);
}

/* The first column of each row of sql (at most max, each sqlite3_mprintf'd: the caller frees
 * them with sqlite3_free): their count, or minus the SQLite code of a failed prepare. */
static int query_names(sqlite3 *db, const char *sql, char **names, int max)
{
    sqlite3_stmt *st = NULL;
    int rc = REAL(sqlite3_prepare_v2)(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return -rc;
    int n = 0;
    while (n < max && REAL(sqlite3_step)(st) == SQLITE_ROW)
        names[n++] = REAL(sqlite3_mprintf)("%s", REAL(sqlite3_column_text)(st, 0));
    REAL(sqlite3_finalize)(st);
    return n;
}

int shim_shadow_install(sqlite3 *db, const cJSON *snapshot)
{
    char *names[256];
    int n = query_names(db, "SELECT name FROM main.sqlite_master WHERE type = 'table' AND name "
                            "NOT LIKE 'sqlite\\_%' ESCAPE '\\'", names, 256);
    if (n < 0)
        return -n;
    int rc = SQLITE_OK;
    for (int i = 0; i < n; i++) {
        if (strcmp(names[i], SHIM_ENV_TABLE) == 0) {
            /* an unreadable snapshot: the best left is the table as it is now */
            int usable = snapshot && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(snapshot,
                                                                                   "unreadable"));
            int copied;
            rc = materialise(db, names[i], usable ? snapshot : NULL, 0, &copied);
        } else {
            char *sql = REAL(sqlite3_mprintf)("CREATE TEMP VIEW \"%w\" AS SELECT * FROM "
                                              "main.\"%w\"", names[i], names[i]);
            rc = shim_sql_exec(db, sql);
            REAL(sqlite3_free)(sql);
        }
        REAL(sqlite3_free)(names[i]);
        if (rc != SQLITE_OK) {
            for (int j = i + 1; j < n; j++)
                REAL(sqlite3_free)(names[j]);
            return rc;
        }
    }
    shim_log_debug("installed %d shadow(s)", n);
    return SQLITE_OK;
}

/* Is temp.<name> one of our shadow views (a temp view over a main table of that name)? */
static int is_shadow_view(sqlite3 *db, const char *name)
{
    return has_row(db, REAL(sqlite3_mprintf)(
        "SELECT 1 FROM temp.sqlite_master t, main.sqlite_master m WHERE t.type = 'view' AND "
        "t.name = %Q AND m.type = 'table' AND m.name = %Q", name, name));
}

/* The statement classifier (shadow.h says why the message).  Only our own shadows are acted on:
 * a view of the same name over a main table. */
int shim_shadow_written_view(sqlite3 *db, char *name, size_t namesz)
{
    static const char head[] = "cannot modify ", tail[] = " because it is a view";
    const char *msg = REAL(sqlite3_errmsg)(db);
    size_t len = msg ? strlen(msg) : 0, hl = sizeof head - 1, tl = sizeof tail - 1;
    if (len <= hl + tl || strncmp(msg, head, hl) != 0 || strcmp(msg + len - tl, tail) != 0 ||
        len - hl - tl >= namesz)
        return 0;
    memcpy(name, msg + hl, len - hl - tl);
    name[len - hl - tl] = 0;
    return is_shadow_view(db, name);
}

/* The rule (worker.h): once a transaction has committed and been handed over, the tables it
 * wrote show the run's state again.  The journaled copies (journal.h marks each with its insert
 * trigger) are set aside, not dropped (shadow.h says why). */
int shim_shadow_restore(sqlite3 *db, int *found)
{
    char *names[256];
    int n = query_names(db, "SELECT tbl_name FROM temp.sqlite_master WHERE type = 'trigger' AND "
                            "substr(name, 1, length('" SHIM_JOURNAL_MARK "')) = '"
                            SHIM_JOURNAL_MARK "' AND substr(tbl_name, 1, length('" OWN_PREFIX
                            "')) != '" OWN_PREFIX "'", names, 256);
    int restored = 0;
    for (int i = 0; i < n; i++) {
        if (swap_shadow(db, names[i], 0) == SQLITE_OK) {
            restored++;
            shim_log_debug("table %s shows the run's state again", names[i]);
        } else {
            /* a statement still reading the copy holds it: it stays until the next commit, and
             * meanwhile this worker may order its tests from its own writes */
            shim_log_error("table %s keeps this worker's writes after its commit (%s); if xdist "
                           "says 'Different tests were collected', please report this with "
                           "TESTMON_SHIM_LOG=debug output", names[i], REAL(sqlite3_errmsg)(db));
        }
        REAL(sqlite3_free)(names[i]);
    }
    *found = n > 0 ? n : 0;
    return restored;
}

