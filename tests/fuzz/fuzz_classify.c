/* fuzz_classify.c: the worker's statement classifier, against hostile SQL.
 *
 * A worker connection is opened once as in a real run (shim_worker_open: read-only main, a TEMP
 * view shadowing every main table, temp.environment from the controller's snapshot).  The input
 * is SQL text; each statement is prepared on that connection (never stepped, so the connection
 * never changes and inputs cost one prepare each), and every failed prepare goes through
 * shim_shadow_written_view, the decision the worker takes before it copies a table: "did this
 * statement write one of our shadow views, and which?".
 *
 * The oracle is independent of the classifier's own query: the classifier must answer yes
 * exactly when SQLite's message is "cannot modify <T> because it is a view" with <T> one of the
 * main tables listed once at start-up, and then name <T>.  fuzz_prepare covers what follows a
 * yes (the copy, the re-prepare, the journal, the hand-over) at a far higher cost per input. */
#include "fuzz_common.h"
#include "shadow.h"
#include "worker.h"

static sqlite3 *db;
static char *tables[64];
static int ntables;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_real_fill();
    const char *df = fuzz_make_datafile("classify");
    fuzz_be_worker(df);
    fuzz_publish_ready(df);
    if (shim_worker_open(&fuzz_run, df, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                         NULL) != SQLITE_OK ||
        !sqlite3_db_readonly(db, "main"))
        abort();
    sqlite3_limit(db, SQLITE_LIMIT_SQL_LENGTH, 1 << 16);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT name FROM main.sqlite_master WHERE type = 'table'", -1,
                           &st, NULL) != SQLITE_OK)
        abort();
    while (ntables < 64 && sqlite3_step(st) == SQLITE_ROW)
        tables[ntables++] = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return 0;
}

/* The oracle: is msg exactly "cannot modify <T> because it is a view" for a main table T? */
static const char *expected_view(const char *msg)
{
    static const char head[] = "cannot modify ", tail[] = " because it is a view";
    size_t len = strlen(msg), hl = sizeof head - 1, tl = sizeof tail - 1;
    if (len <= hl + tl || memcmp(msg, head, hl) != 0 || strcmp(msg + len - tl, tail) != 0)
        return NULL;
    for (int i = 0; i < ntables; i++)
        if (strlen(tables[i]) == len - hl - tl && memcmp(msg + hl, tables[i], len - hl - tl) == 0)
            return tables[i];
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *sql = malloc(size + 1);
    memcpy(sql, data, size);
    sql[size] = 0;
    const char *p = sql;
    for (int n = 0; n < 16 && p && *p; n++) {
        sqlite3_stmt *st = NULL;
        const char *tail = NULL;
        if (sqlite3_prepare_v2(db, p, -1, &st, &tail) != SQLITE_OK) {
            const char *want = expected_view(sqlite3_errmsg(db));
            char name[256];
            int got = shim_shadow_written_view(db, name, sizeof name);
            if (got != (want != NULL) || (got && strcmp(name, want) != 0)) {
                fprintf(stderr, "fuzz_classify: \"%s\" classified %d (%s)\n", sqlite3_errmsg(db),
                        got, got ? name : "-");
                abort();
            }
        }
        sqlite3_finalize(st);
        if (!tail || tail == p)
            break;
        p = tail;
    }
    free(sql);
    return 0;
}
