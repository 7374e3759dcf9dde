/* test_journal.c: record changes of TEMP copies on a read-only connection, flush them to a file,
 * replay them on a second copy of the database, and refuse malformed journals (journal.c). */
#include "journal.h"
#include "unit.h"
#include <dirent.h>

static char T[PATH_MAX], ORIG[PATH_MAX], COPY[PATH_MAX], DIRC[PATH_MAX];

static const char *const SCHEMA =
    "CREATE TABLE test_execution(id INTEGER PRIMARY KEY, test_name TEXT, duration REAL, "
    "  failed INTEGER, blobcol BLOB);"
    "CREATE TABLE nopk(a TEXT, b INTEGER);"
    "CREATE TABLE \"we\"\"ird\"(\"col \"\"q\"\"\" TEXT, x INTEGER PRIMARY KEY);"
    "INSERT INTO test_execution VALUES (1, 't1', 0.5, 0, x'00ff'), (2, 't2', 1.25, 1, NULL), "
    "  (5, 't5', NULL, 0, x'');"
    "INSERT INTO nopk VALUES ('a', 1), ('b', 2), ('c', 3);"
    "INSERT INTO \"we\"\"ird\" VALUES ('q1', 10);";

/* The rows of schema.table as text, types included, in rowid order. */
static char *dump(sqlite3 *db, const char *schema, const char *table)
{
    char *sql = sqlite3_mprintf("SELECT rowid, * FROM %s.\"%w\" ORDER BY rowid", schema, table);
    sqlite3_stmt *st;
    char *out = sqlite3_mprintf("");
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        sqlite3_free(sql);
        return sqlite3_mprintf("(error: %s)", sqlite3_errmsg(db));
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            char *v;
            switch (sqlite3_column_type(st, i)) {
            case SQLITE_INTEGER:
                v = sqlite3_mprintf("i%lld", sqlite3_column_int64(st, i));
                break;
            case SQLITE_FLOAT:
            {
                char num[40]; /* not sqlite3_mprintf: it prints at most 16 digits */
                snprintf(num, sizeof num, "%.17g", sqlite3_column_double(st, i));
                v = sqlite3_mprintf("f%s", num);
            }
                break;
            case SQLITE_TEXT:
                v = sqlite3_mprintf("t%Q", sqlite3_column_text(st, i));
                break;
            case SQLITE_BLOB:
            {
                const unsigned char *b = sqlite3_column_blob(st, i);
                int nb = sqlite3_column_bytes(st, i);
                v = sqlite3_mprintf("b");
                for (int k = 0; k < nb; k++) {
                    char *w = sqlite3_mprintf("%s%02x", v, b[k]);
                    sqlite3_free(v);
                    v = w;
                }
            }
                break;
            default:
                v = sqlite3_mprintf("null");
            }
            char *n = sqlite3_mprintf("%s%s%s", out, i ? "," : "", v);
            sqlite3_free(out);
            sqlite3_free(v);
            out = n;
        }
        char *n = sqlite3_mprintf("%s;", out);
        sqlite3_free(out);
        out = n;
    }
    sqlite3_finalize(st);
    sqlite3_free(sql);
    return out;
}

static int exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    CHECK(rc == SQLITE_OK, "%s: %s", sql, err ? err : "?");
    sqlite3_free(err);
    return rc;
}

static int journal_files(const char *dir, char *first, size_t firstsz)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".journal-")) {
            if (!n && first)
                snprintf(first, firstsz, "%s", e->d_name);
            n++;
        }
    if (d)
        closedir(d);
    return n;
}

static void copy_file(const char *from, const char *to)
{
    size_t len;
    char *b = unit_read_file(from, &len);
    FILE *f = fopen(to, "wb");
    fwrite(b, 1, len, f);
    fclose(f);
    free(b);
}

/* A TEMP copy of main.<table> with its rowids, as worker.c makes it. */
static void shadow(sqlite3 *db, const char *ddl, const char *table, const char *cols)
{
    exec(db, ddl);
    char *sql = sqlite3_mprintf("INSERT INTO temp.\"%w\"(rowid, %s) SELECT rowid, %s FROM main.\"%w\"",
                                table, cols, cols, table);
    exec(db, sql);
    sqlite3_free(sql);
    CHECK_EQ_INT(shim_journal_track(db, table), SQLITE_OK);
    /* tracking again is harmless: one set of triggers, each change journaled once */
    CHECK_EQ_INT(shim_journal_track(db, table), SQLITE_OK);
}

static cJSON *journal;  /* what the worker handed over */
static sqlite3 *worker; /* read-only, with the TEMP copies */

static void setup(void)
{
    snprintf(T, sizeof T, "%s", unit_tmpdir());
    snprintf(ORIG, sizeof ORIG, "%s/orig.db", T);
    snprintf(COPY, sizeof COPY, "%s/copy.db", T);
    snprintf(DIRC, sizeof DIRC, "%s/coord", T);
    mkdir(DIRC, 0700);
    sqlite3 *db;
    sqlite3_open(ORIG, &db);
    exec(db, SCHEMA);
    sqlite3_close(db);
    copy_file(ORIG, COPY);
}

static void test_record_and_flush(void)
{
    size_t before_len;
    char *before = unit_read_file(ORIG, &before_len);
    CHECK_EQ_INT(sqlite3_open_v2(ORIG, &worker, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_db_readonly(worker, "main"), 1);
    shadow(worker, "CREATE TEMP TABLE test_execution(id INTEGER PRIMARY KEY, test_name TEXT, "
                   "duration REAL, failed INTEGER, blobcol BLOB)",
           "test_execution", "id, test_name, duration, failed, blobcol");
    shadow(worker, "CREATE TEMP TABLE nopk(a TEXT, b INTEGER)", "nopk", "a, b");
    shadow(worker, "CREATE TEMP TABLE \"we\"\"ird\"(\"col \"\"q\"\"\" TEXT, x INTEGER PRIMARY KEY)",
           "we\"ird", "\"col \"\"q\"\"\", x");

    /* unqualified names land in the TEMP copies */
    exec(worker, "INSERT INTO test_execution(test_name, duration, failed, blobcol) "
                 "VALUES ('t6', 0.30000000000000004, 0, x'000100')");
    exec(worker, "UPDATE test_execution SET duration = 2.5, failed = 1 WHERE id = 1");
    exec(worker, "UPDATE test_execution SET failed = failed WHERE id = 1"); /* no change */
    exec(worker, "DELETE FROM test_execution WHERE id = 2");
    exec(worker, "INSERT OR REPLACE INTO test_execution VALUES (5, 't5-new', 9.0, 1, NULL)");
    exec(worker, "INSERT OR REPLACE INTO test_execution VALUES (7, 't7', -0.0, 0, 'text')");
    exec(worker, "UPDATE test_execution SET id = 100 WHERE id = 7"); /* a rowid change */
    exec(worker, "BEGIN; INSERT INTO test_execution(test_name) VALUES ('in txn'); COMMIT");
    exec(worker, "BEGIN; INSERT INTO test_execution(test_name) VALUES ('rolled back'); ROLLBACK");
    exec(worker, "INSERT INTO nopk VALUES ('d', 4)");
    exec(worker, "UPDATE nopk SET b = 20 WHERE a = 'b'");
    exec(worker, "DELETE FROM nopk WHERE a = 'a'");
    exec(worker, "DELETE FROM nopk WHERE a = 'd'");
    exec(worker, "INSERT INTO nopk VALUES ('e', 5)"); /* may reuse the freed rowid */
    exec(worker, "INSERT INTO \"we\"\"ird\"(\"col \"\"q\"\"\") VALUES ('it''s')");
    exec(worker, "UPDATE \"we\"\"ird\" SET \"col \"\"q\"\"\" = 'q2' WHERE x = 10");

    errno = 4242;
    CHECK_EQ_INT(shim_journal_flush(worker, DIRC, "run-1-2", "gw0/../x"), 14); /* row changes */
    CHECK_EQ_INT(errno, 4242);
    char name[256] = "";
    CHECK_EQ_INT(journal_files(DIRC, name, sizeof name), 1);
    CHECK(strncmp(name, "run-1-2.journal-", 16) == 0, "journal file name %s", name);
    CHECK(strstr(name, "-gw0____x-") != NULL, "the worker id is made a safe token: %s", name);
    char path[PATH_MAX + 300];
    snprintf(path, sizeof path, "%s/%s", DIRC, name);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "journal file mode 0600");
    char *text = unit_read_file(path, NULL);
    journal = cJSON_Parse(text);
    CHECK(journal != NULL, "the journal is JSON");
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(journal, "ops")), 14);
    free(text);
    unlink(path);

    /* flushed rows are cleared: a second flush writes nothing */
    sqlite3_stmt *s;
    sqlite3_prepare_v2(worker, "SELECT count(*) FROM temp.testmon_shim_journal", -1, &s, NULL);
    sqlite3_step(s);
    CHECK_EQ_INT(sqlite3_column_int(s, 0), 0);
    sqlite3_finalize(s);
    CHECK_EQ_INT(shim_journal_flush(worker, DIRC, "run-1-2", "gw0"), 0);
    CHECK_EQ_INT(journal_files(DIRC, NULL, 0), 0);

    /* nothing tracked at all: no journal table, nothing written */
    sqlite3 *plain;
    sqlite3_open(":memory:", &plain);
    CHECK_EQ_INT(shim_journal_flush(plain, DIRC, "run-1-2", "gw1"), 0);
    CHECK_EQ_INT(journal_files(DIRC, NULL, 0), 0);
    sqlite3_close(plain);

    /* the read-only file was never written */
    size_t after_len;
    char *after = unit_read_file(ORIG, &after_len);
    CHECK(before_len == after_len && memcmp(before, after, before_len) == 0, "file unchanged");
    free(before), free(after);
}

static void test_apply(void)
{
    sqlite3 *db;
    CHECK_EQ_INT(sqlite3_open_v2(COPY, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    CHECK(journal != NULL, "have a journal");
    CHECK_EQ_INT(shim_journal_apply(db, journal), 14); /* row changes applied */
    static const char *const tables[] = {"test_execution", "nopk", "we\"ird"};
    for (int i = 0; i < 3; i++) {
        char *w = dump(worker, "temp", tables[i]), *c = dump(db, "main", tables[i]);
        CHECK(strcmp(w, c) == 0, "%s: worker %s\ncontroller %s", tables[i], w, c);
        sqlite3_free(w), sqlite3_free(c);
    }
    char *c = dump(db, "main", "test_execution");
    CHECK_CONTAINS(c, "f0.30000000000000004");
    CHECK(!strstr(c, "rolled back"), "a rolled-back insert is not replayed");
    CHECK_CONTAINS(c, "i100,i100"); /* the moved row, rowid == id */
    CHECK_CONTAINS(c, "b000100;"); /* a blob with zero bytes */
    sqlite3_free(c);
    CHECK_EQ_INT(sqlite3_get_autocommit(db), 1); /* the savepoint was released */
    sqlite3_close(db);
}

static void apply_refused(const char *what, const char *json_text)
{
    sqlite3 *db;
    sqlite3_open_v2(COPY, &db, SQLITE_OPEN_READWRITE, NULL);
    char *before[3] = {dump(db, "main", "test_execution"), dump(db, "main", "nopk"),
                       dump(db, "main", "sqlite_master")};
    cJSON *j = cJSON_Parse(json_text);
    CHECK(j != NULL, "%s: test JSON parses", what);
    struct unit_capture cap = unit_capture_start(2);
    int rc = shim_journal_apply(db, j);
    char *msg = unit_capture_end(&cap);
    CHECK(rc == -1, "%s: applied (rc %d)", what, rc);
    /* the reason is the caller's to print (one line, with the file name): none logged here */
    CHECK(msg[0] == 0, "%s: nothing logged by apply itself: %s", what, msg);
    CHECK(shim_journal_apply_error()[0] != 0, "%s: a reason is given", what);
    char *after[3] = {dump(db, "main", "test_execution"), dump(db, "main", "nopk"),
                      dump(db, "main", "sqlite_master")};
    for (int i = 0; i < 3; i++) {
        CHECK(strcmp(before[i], after[i]) == 0, "%s: database changed:\n%s\n%s", what, before[i],
              after[i]);
        sqlite3_free(before[i]), sqlite3_free(after[i]);
    }
    CHECK(sqlite3_get_autocommit(db) == 1, "%s: no transaction left open", what);
    free(msg);
    cJSON_Delete(j);
    sqlite3_close(db);
}

#define TE_COLS "\"columns\":{\"test_execution\":[\"id\",\"test_name\",\"duration\",\"failed\",\"blobcol\"]}"
#define GOOD_OP "{\"t\":\"test_execution\",\"o\":\"I\",\"r\":{\"i\":\"50\"},\"n\":{\"i\":\"50\"},"   \
                "\"v\":[{\"i\":\"50\"},\"new\",null,null,null]}"

static void test_apply_refuses(void)
{
    apply_refused("format 2", "{\"format\":2," TE_COLS ",\"ops\":[" GOOD_OP "]}");
    apply_refused("no format", "{" TE_COLS ",\"ops\":[" GOOD_OP "]}");
    apply_refused("format as text", "{\"format\":\"1\"," TE_COLS ",\"ops\":[" GOOD_OP "]}");
    apply_refused("columns not an object", "{\"format\":1,\"columns\":[],\"ops\":[" GOOD_OP "]}");
    apply_refused("ops not an array", "{\"format\":1," TE_COLS ",\"ops\":{}}");
    apply_refused("unknown table",
                  "{\"format\":1,\"columns\":{\"nosuch\":[\"a\"]},\"ops\":[" GOOD_OP ","
                  "{\"t\":\"nosuch\",\"o\":\"I\",\"r\":{\"i\":\"1\"},\"n\":{\"i\":\"1\"},\"v\":[\"x\"]}]}");
    apply_refused("delete from an unknown table",
                  "{\"format\":1," TE_COLS ",\"ops\":[" GOOD_OP ",{\"t\":\"nosuch\",\"o\":\"D\",\"r\":{\"i\":\"1\"}}]}");
    apply_refused("table without columns",
                  "{\"format\":1,\"columns\":{},\"ops\":[{\"t\":\"test_execution\",\"o\":\"I\","
                  "\"r\":{\"i\":\"1\"},\"n\":{\"i\":\"1\"},\"v\":[]}]}");
    apply_refused("too few values",
                  "{\"format\":1," TE_COLS ",\"ops\":[" GOOD_OP ",{\"t\":\"test_execution\",\"o\":\"I\","
                  "\"r\":{\"i\":\"51\"},\"n\":{\"i\":\"51\"},\"v\":[{\"i\":\"51\"},\"x\"]}]}");
    apply_refused("too many values",
                  "{\"format\":1," TE_COLS ",\"ops\":[" GOOD_OP ",{\"t\":\"test_execution\",\"o\":\"U\","
                  "\"r\":{\"i\":\"1\"},\"n\":{\"i\":\"1\"},\"v\":[{\"i\":\"1\"},\"x\",null,null,null,null]}]}");
    apply_refused("unknown op",
                  "{\"format\":1," TE_COLS ",\"ops\":[" GOOD_OP ",{\"t\":\"test_execution\",\"o\":\"X\","
                  "\"r\":{\"i\":\"1\"},\"n\":{\"i\":\"1\"},\"v\":[{\"i\":\"1\"},\"x\",null,null,null]}]}");
    apply_refused("missing rowid",
                  "{\"format\":1," TE_COLS ",\"ops\":[" GOOD_OP ",{\"t\":\"test_execution\",\"o\":\"D\"}]}");
    apply_refused("malformed rowid",
                  "{\"format\":1," TE_COLS ",\"ops\":[" GOOD_OP ",{\"t\":\"test_execution\",\"o\":\"D\",\"r\":{\"i\":\"1x\"}}]}");
    apply_refused("malformed value",
                  "{\"format\":1," TE_COLS ",\"ops\":[" GOOD_OP ",{\"t\":\"test_execution\",\"o\":\"I\","
                  "\"r\":{\"i\":\"52\"},\"n\":{\"i\":\"52\"},\"v\":[{\"i\":\"52\"},{\"q\":1},null,null,null]}]}");
    apply_refused("column not a string",
                  "{\"format\":1,\"columns\":{\"test_execution\":[\"id\",5]},\"ops\":[" GOOD_OP "]}");
    apply_refused("hostile table name",
                  "{\"format\":1,\"columns\":{\"nopk\\\"; DROP TABLE test_execution; --\":[\"a\"]},"
                  "\"ops\":[" GOOD_OP ",{\"t\":\"nopk\\\"; DROP TABLE test_execution; --\",\"o\":\"D\",\"r\":{\"i\":\"1\"}}]}");
    apply_refused("hostile table name in an insert",
                  "{\"format\":1,\"columns\":{\"nopk\\\"(rowid,a) VALUES (99,'x'); DELETE FROM nopk; --\":[\"a\"]},"
                  "\"ops\":[" GOOD_OP ",{\"t\":\"nopk\\\"(rowid,a) VALUES (99,'x'); DELETE FROM nopk; --\","
                  "\"o\":\"I\",\"r\":{\"i\":\"9\"},\"n\":{\"i\":\"9\"},\"v\":[\"x\"]}]}");
    apply_refused("hostile column name",
                  "{\"format\":1,\"columns\":{\"nopk\":[\"a\\\" = 'x', \\\"b\"]},"
                  "\"ops\":[" GOOD_OP ",{\"t\":\"nopk\",\"o\":\"U\",\"r\":{\"i\":\"1\"},\"n\":{\"i\":\"1\"},\"v\":[\"y\"]}]}");
    apply_refused("constraint violation after a good op",
                  "{\"format\":1," TE_COLS ",\"ops\":[" GOOD_OP ",{\"t\":\"test_execution\",\"o\":\"U\","
                  "\"r\":{\"i\":\"1\"},\"n\":{\"i\":\"5\"},\"v\":[{\"i\":\"5\"},\"x\",null,null,null]}]}");
}

/* a journal table with more columns than the journal can carry is refused */
static void test_too_wide(void)
{
    sqlite3 *db;
    sqlite3_open(":memory:", &db);
    char *ddl = sqlite3_mprintf("CREATE TEMP TABLE wide(c0");
    for (int i = 1; i <= SHIM_JOURNAL_MAX_COLUMNS; i++) {
        char *n = sqlite3_mprintf("%s, c%d", ddl, i);
        sqlite3_free(ddl);
        ddl = n;
    }
    char *n = sqlite3_mprintf("%s)", ddl);
    sqlite3_free(ddl);
    exec(db, n);
    sqlite3_free(n);
    struct unit_capture cap = unit_capture_start(2);
    int rc = shim_journal_track(db, "wide");
    char *msg = unit_capture_end(&cap);
    CHECK_EQ_INT(rc, SQLITE_ERROR);
    CHECK_CONTAINS(msg, "too many");
    free(msg);
    /* exactly the maximum works */
    exec(db, "ALTER TABLE wide RENAME TO wide2");
    ddl = sqlite3_mprintf("CREATE TEMP TABLE ok32(c0");
    for (int i = 1; i < SHIM_JOURNAL_MAX_COLUMNS; i++) {
        n = sqlite3_mprintf("%s, c%d", ddl, i);
        sqlite3_free(ddl);
        ddl = n;
    }
    n = sqlite3_mprintf("%s)", ddl);
    sqlite3_free(ddl);
    exec(db, n);
    sqlite3_free(n);
    CHECK_EQ_INT(shim_journal_track(db, "ok32"), SQLITE_OK);
    exec(db, "INSERT INTO ok32(c0, c31) VALUES (1, 'last')");
    CHECK_EQ_INT(shim_journal_flush(db, DIRC, "run-9-9", "gw9"), 1);
    char name[256];
    CHECK_EQ_INT(journal_files(DIRC, name, sizeof name), 1);
    char path[PATH_MAX + 300];
    snprintf(path, sizeof path, "%s/%s", DIRC, name);
    char *text = unit_read_file(path, NULL);
    CHECK_CONTAINS(text, "\"last\"]");
    free(text);
    unlink(path);
    sqlite3_close(db);
}

int main(void)
{
    unit_watchdog(20);
    unit_real_fill();
    setup();
    RUN(test_record_and_flush);
    RUN(test_apply);
    RUN(test_apply_refuses);
    RUN(test_too_wide);
    sqlite3_close(worker);
    cJSON_Delete(journal);
    return unit_finish();
}
