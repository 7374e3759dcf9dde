/* worker.c: waiting, the read-only open, shadows, and copy-on-first-write. */
#include "worker.h"
#include "coord.h"
#include "datafile.h"
#include "runcopy.h"
#include "journal.h"
#include "log.h"
#include "proc.h"
#include "real.h"
#include "sqlvalue.h"
#include <cJSON.h>
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

/* What this worker did, for `testmon-shim status`: <run>.worker-<id>-<pid>.json, rewritten when
 * something changes (at open, after a table is copied, after a hand-over). */
static struct {
    int materialised;
    int restored;                /* copies set aside after a commit (restore_views) */
    long rows_handed, hand_errors;
    long long released_after_us; /* from the controller's ready to seeing it; -1: never waited */
    long copy_ms;                /* time spent getting the run's copy of the datafile */
    char outcome[160];
    const char *reads;           /* "copy (made)", "copy (shared)" or "live datafile" */
} report = {.released_after_us = -1};

void shim_worker_forget(void)
{
    memset(&report, 0, sizeof report);
    report.released_after_us = -1;
}

static void write_report(void)
{
    if (!shim_proc.dir[0] || !shim_proc.run_name[0])
        return;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "format", 1);
    cJSON_AddStringToObject(j, "worker", shim_proc.worker_id);
    cJSON_AddNumberToObject(j, "pid", (double)getpid());
    cJSON_AddStringToObject(j, "outcome", report.outcome);
    cJSON_AddNumberToObject(j, "waited_ms", (double)shim_proc.waited_ms);
    if (report.released_after_us >= 0) /* only a worker that waited for ready */
        cJSON_AddNumberToObject(j, "released_after_us", (double)report.released_after_us);
    if (report.reads) {
        cJSON_AddStringToObject(j, "reads", report.reads);
        cJSON_AddNumberToObject(j, "copy_ms", (double)report.copy_ms);
    }
    cJSON_AddNumberToObject(j, "tables_copied", report.materialised);
    cJSON_AddNumberToObject(j, "tables_restored", report.restored);
    cJSON_AddNumberToObject(j, "rows_handed_over", (double)report.rows_handed);
    cJSON_AddNumberToObject(j, "hand_over_errors", (double)report.hand_errors);
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    char wid[32], name[256];
    size_t n = 0;
    for (const char *p = shim_proc.worker_id; *p && n + 1 < sizeof wid; p++)
        wid[n++] = (isalnum((unsigned char)*p)) ? *p : '_';
    wid[n] = 0;
    snprintf(name, sizeof name, "%s.worker-%s-%ld.json", shim_proc.run_name, wid, (long)getpid());
    if (text)
        shim_coord_write(shim_proc.dir, name, text);
    free(text);
}

/* Scratch tables that testmon 2.0.0-2.0.12 keep in the main database: keyed by per-process ids
 * and re-filled by every process, so a worker's rows are its own business and are not handed
 * over (the controller wrote its own).  From 2.0.13 they are TEMP tables anyway. */
static const char *const scratch_tables[] = {
    "mcall_id", "temp_files_checksums", "temp_filenames", "changed_files_fshas",
    "changed_files_mhashes",
};

int shim_worker_is_scratch(const char *table)
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

/* Fill temp.<table> from the controller's snapshot rows: [rowid, values...]. */
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
 * own copy set aside at its last commit, or a copy of main's rows; journaled unless it is
 * environment or scratch.  Runs in a savepoint. */
static int materialise(sqlite3 *db, const char *table, const cJSON *snapshot, int is_view)
{
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
        !shim_worker_is_scratch(table))
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
        if (is_view) {
            report.materialised++;
            write_report();
        }
    }
    return rc;
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

static int install_shadows(sqlite3 *db, const cJSON *snapshot)
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
            rc = materialise(db, names[i], usable ? snapshot : NULL, 0);
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

int shim_worker_open(const char *filename, sqlite3 **ppDb, int flags, const char *vfs)
{
    (void)filename;
    char label[64];
    snprintf(label, sizeof label, "worker %s", shim_proc.worker_id);
    shim_log_set_tag(label);
    cJSON *run = NULL;
    long long seen_us;
    enum shim_wait_result w =
        shim_coord_wait_ready(shim_proc.dir, &shim_proc.run, shim_config.timeout_ms, &run,
                              &shim_proc.waited_ms, &seen_us);
    const cJSON *ready_us = cJSON_GetObjectItemCaseSensitive(run, "ready_mono_us");
    if (w == SHIM_WAIT_READY && seen_us && cJSON_IsNumber(ready_us))
        report.released_after_us = seen_us - (long long)ready_us->valuedouble;
    static const char *const outcomes[] = {
        [SHIM_WAIT_READY] = "ready", [SHIM_WAIT_MISSING] = "stepped aside: no run",
        [SHIM_WAIT_DEAD] = "refused: controller exited", [SHIM_WAIT_TIMEOUT] = "refused: timeout",
        [SHIM_WAIT_INVALID] = "refused: invalid coordination file"};
    snprintf(report.outcome, sizeof report.outcome, "%s", outcomes[w]);
    if (w != SHIM_WAIT_MISSING)
        write_report();
    switch (w) {
    case SHIM_WAIT_MISSING:
        shim_log_info("no run published by parent pid %ld (testmon 1.0-1.3, or no shim in the "
                      "controller): stepping aside", shim_proc.run.pid);
        return SHIM_WORKER_STEP_ASIDE;
    case SHIM_WAIT_DEAD:
        shim_log_error("the controller (pid %ld) exited before its run was ready; nothing was "
                       "written, run pytest again", shim_proc.run.pid);
        return SHIM_WORKER_REFUSED;
    case SHIM_WAIT_TIMEOUT:
        shim_log_error("the controller (pid %ld) did not publish ready within %g s; raise "
                       "TESTMON_SHIM_TIMEOUT or look at the controller", shim_proc.run.pid,
                       shim_config.timeout_ms / 1000.0);
        return SHIM_WORKER_REFUSED;
    case SHIM_WAIT_INVALID:
        return SHIM_WORKER_REFUSED; /* the reason is already on stderr */
    case SHIM_WAIT_READY:
        break;
    }
    const cJSON *df = cJSON_GetObjectItemCaseSensitive(run, "datafile");
    if (!cJSON_IsString(df) || strcmp(df->valuestring, shim_proc.datafile) != 0) {
        shim_log_info("the controller's datafile is %s, not this one: stepping aside",
                      cJSON_IsString(df) ? df->valuestring : "?");
        cJSON_Delete(run);
        return SHIM_WORKER_STEP_ASIDE;
    }
    /* Joined: from now on the controller looks for journals before its writes. */
    shim_coord_joined_set(shim_proc.dir, shim_proc.run_name);
    /* Read the run's copy (runcopy.h): a selection that no concurrent write can tear. */
    char copy[PATH_MAX];
    static const char *const reads[] = {[SHIM_RUNCOPY_MADE] = "copy (made)",
                                        [SHIM_RUNCOPY_SHARED] = "copy (shared)",
                                        [SHIM_RUNCOPY_FAILED] = "live datafile",
                                        [SHIM_RUNCOPY_CLONED] = "copy (cloned)"};
    enum shim_runcopy_result got =
        shim_runcopy_get(shim_proc.dir, shim_proc.run_name, shim_proc.datafile,
                         shim_config.timeout_ms, copy, sizeof copy, &report.copy_ms);
    report.reads = reads[got];
    int ro = (flags & ~(SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI)) |
             SQLITE_OPEN_READONLY;
    int rc = REAL(sqlite3_open_v2)(got == SHIM_RUNCOPY_FAILED ? shim_proc.datafile : copy, ppDb,
                                   ro, vfs);
    if (rc == SQLITE_OK && *ppDb) {
        /* The shadows are the first reads, and another worker may be rebuilding the copy's WAL
         * index at that moment (SQLITE_BUSY_RECOVERY): wait, within the shim's bound.  Python
         * sets its own timeout after the open returns, as for the controller's connection. */
        REAL(sqlite3_busy_timeout)(*ppDb, (int)(shim_config.timeout_ms < INT_MAX
                                                     ? shim_config.timeout_ms : INT_MAX));
        struct shim_conn *c = shim_conn_add(*ppDb, SHIM_CONN_WORKER);
        const cJSON *snap = cJSON_GetObjectItemCaseSensitive(run, "environment");
        if (c && install_shadows(*ppDb, cJSON_IsObject(snap) ? snap : NULL) != SQLITE_OK)
            shim_log_error("could not install shadows (%s); this worker's writes will fail",
                           REAL(sqlite3_errmsg)(*ppDb));
        shim_log_info("opened %s read-only (%s, %ld ms) after waiting %ld ms",
                      shim_proc.datafile, report.reads, report.copy_ms, shim_proc.waited_ms);
    }
    write_report();
    cJSON_Delete(run);
    return rc;
}

/* Is temp.<name> one of our shadow views (a temp view over a main table of that name)? */
static int is_shadow_view(sqlite3 *db, const char *name)
{
    return has_row(db, REAL(sqlite3_mprintf)(
        "SELECT 1 FROM temp.sqlite_master t, main.sqlite_master m WHERE t.type = 'view' AND "
        "t.name = %Q AND m.type = 'table' AND m.name = %Q", name, name));
}

/* The statement classifier.  "cannot modify X because it is a view" is how SQLite refuses, at
 * prepare, a write to a view without INSTEAD OF triggers (sqlite3IsReadOnly); it is raised before
 * the authorizer sees UPDATE or DELETE, so the message is the one reliable witness.  Only our own
 * shadows are acted on: a view of the same name over a main table. */
int shim_worker_written_view(sqlite3 *db, char *name, size_t namesz)
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

int shim_worker_after_failed_prepare(struct shim_conn *c, int rc, shim_prepare_thunk prepare,
                                     void *args)
{
    sqlite3 *db = atomic_load(&c->db);
    char name[256];
    /* One view per round: a statement names few tables, and each round makes progress. */
    for (int round = 0;
         round < 16 && rc == SQLITE_ERROR && shim_worker_written_view(db, name, sizeof name);
         round++) {
        int failed = materialise(db, name, NULL, 1) != SQLITE_OK;
        rc = prepare(args); /* on failure this restores the caller's error message */
        if (failed)
            break;
    }
    return rc;
}

static void hand_over(struct shim_conn *c)
{
    int n = shim_journal_flush(atomic_load(&c->db), shim_proc.dir, shim_proc.run_name,
                               shim_proc.worker_id);
    if (n == 0)
        return;
    if (n > 0)
        report.rows_handed += n;
    else
        report.hand_errors++;
    write_report();
}

/* The rule (worker.h): once a transaction has committed and been handed over, the tables it
 * wrote show the run's state again.  The journaled copies are set aside, not dropped: a later
 * write takes its copy back, so the rows it adds get the rowids the controller expects after
 * replaying this worker's earlier journals. */
static void restore_views(sqlite3 *db)
{
    char *names[256];
    int n = query_names(db, "SELECT tbl_name FROM temp.sqlite_master WHERE type = 'trigger' AND "
                            "name LIKE 'testmon\\_shim\\_ji\\_%' ESCAPE '\\' AND substr(tbl_name, 1, "
                            "length('" OWN_PREFIX "')) != '" OWN_PREFIX "'", names, 256);
    for (int i = 0; i < n; i++) {
        if (swap_shadow(db, names[i], 0) == SQLITE_OK) {
            report.restored++;
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
    if (n > 0)
        write_report();
}

void shim_worker_after_step(struct shim_conn *c)
{
    if (!shim_conn_take_commit(c))
        return;
    hand_over(c);
    restore_views(atomic_load(&c->db));
}

int shim_worker_after_failed_step(struct shim_conn *c, sqlite3_stmt *stmt, int rc,
                                  int (*step)(sqlite3_stmt *))
{
    sqlite3 *db = atomic_load(&c->db);
    char name[256];
    /* A statement prepared while the table it writes was the worker's copy, stepped again after
     * restore_views made it a view: SQLite re-prepares it on the schema change and refuses with
     * the same message as at prepare.  Take the copy back, then reset (which reports the old
     * error, already handled) and step again, which re-prepares against the copy. */
    for (int round = 0;
         round < 16 && rc == SQLITE_ERROR && shim_worker_written_view(db, name, sizeof name);
         round++) {
        if (materialise(db, name, NULL, 1) != SQLITE_OK)
            break;
        REAL(sqlite3_reset)(stmt);
        rc = step(stmt);
    }
    return rc;
}

void shim_worker_close(struct shim_conn *c) { hand_over(c); }
