/* fuzz_prepare.c: arbitrary SQL on a worker's datafile connection.
 *
 * A worker connection is opened as in a real run (shim_worker_open: read-only main, a TEMP view
 * shadowing every main table, temp.environment from the controller's snapshot).  The input is
 * SQL text; each statement is prepared through dispatch.c (shim_prepare: a write to a shadow view
 * fails with "cannot modify X because it is a view", which the worker parses to materialise a
 * TEMP copy and prepare again) and stepped through shim_step (journal hand-over at commit).
 * Whenever an input changed the connection's state, the connection is closed through shim_close
 * and reopened, so inputs stay independent.  Nothing may crash or trip a sanitizer, and the
 * datafile itself must never change.
 * Hostile-but-irrelevant SQL is fenced off: no ATTACH (it would create files), defensive mode, a
 * progress limit and a length limit. */
#include "dispatch.h"
#include "fuzz_common.h"
#include "worker.h"

static const char *DF;
static sqlite3 *db;
static int last_schema;
static long long file_size;

static int deny_attach(void *arg, int action, const char *a, const char *b, const char *c,
                       const char *d)
{
    (void)arg, (void)a, (void)b, (void)c, (void)d;
    return (action == SQLITE_ATTACH || action == SQLITE_DETACH) ? SQLITE_DENY : SQLITE_OK;
}

static int progress(void *arg)
{
    return ++*(int *)arg > 2000; /* x 100 VM steps */
}
static int ticks;

static int temp_schema_version(void)
{
    sqlite3_stmt *st = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA temp.schema_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void open_worker(void)
{
    int rc = shim_worker_open(&fuzz_run, DF, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK || !db || !sqlite3_db_readonly(db, "main")) {
        fprintf(stderr, "fuzz_prepare: worker open failed (%d)\n", rc);
        abort();
    }
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
    sqlite3_limit(db, SQLITE_LIMIT_LENGTH, 1 << 20);
    sqlite3_limit(db, SQLITE_LIMIT_SQL_LENGTH, 1 << 16);
    sqlite3_set_authorizer(db, deny_attach, NULL);
    sqlite3_progress_handler(db, 100, progress, &ticks);
    last_schema = temp_schema_version();
}

static void close_worker(void)
{
    if (shim_close(db, sqlite3_close) != SQLITE_OK)
        abort(); /* every statement was finalized */
    db = NULL;
    if (atomic_load(&shim_conn_count) != 0)
        abort();
    fuzz_rm_dir_files(fuzz_run.dir, ".journal-");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_real_fill();
    DF = fuzz_make_datafile("prepare");
    fuzz_be_worker(DF);
    fuzz_publish_ready(DF);
    struct stat st;
    stat(DF, &st);
    file_size = st.st_size;
    open_worker();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *sql = malloc(size + 1);
    memcpy(sql, data, size);
    sql[size] = 0;
    const char *p = sql;
    long long changes0 = sqlite3_total_changes(db);
    int dirty = 0; /* a statement that may change connection state (PRAGMA x = y, ...) */
    for (int n = 0; n < 16 && p && *p; n++) {
        sqlite3_stmt *st = NULL;
        const char *tail = NULL;
        ticks = 0;
        int rc = shim_prepare(SHIM_PREPARE_V2, db, p, -1, 0, &st, &tail);
        if (rc != SQLITE_OK && st)
            abort(); /* a failed prepare hands back no statement */
        if (st) {
            if (!sqlite3_stmt_readonly(st) && sqlite3_strnicmp(sqlite3_sql(st), "PRAGMA", 6) == 0)
                dirty = 1;
            for (int rows = 0; rows < 64 && shim_step(st, sqlite3_step) == SQLITE_ROW; rows++)
                ;
            sqlite3_finalize(st);
        }
        if (!tail || tail == p)
            break;
        p = tail;
    }
    free(sql);
    if (dirty || !sqlite3_get_autocommit(db) || sqlite3_total_changes(db) != changes0 ||
        temp_schema_version() != last_schema) {
        close_worker();
        struct stat st;
        if (stat(DF, &st) != 0 || st.st_size != file_size)
            abort(); /* a worker wrote the datafile */
        open_worker();
    }
    return 0;
}
