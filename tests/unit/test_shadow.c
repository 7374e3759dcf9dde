/* test_shadow.c: a worker connection's TEMP shadows (shadow.c), on a read-only connection to a
 * testmon-like file, without a run around them: what install puts in temp (environment from the
 * controller's snapshot, a view for every other table), which failed prepares the classifier
 * owns, what a take copies from main's schema (columns, defaults, NOT NULL, primary keys,
 * indexes, rowids) and journals, and how restore sets a copy aside and a later take gets it back. */
#include "journal.h"
#include "shadow.h"
#include "unit.h"
#include "../common/testdb.h"

/* testmon's core tables, and tables whose schema a copy must keep: defaults and NOT NULL, a
 * composite primary key, a table without a rowid alias whose rowids have a gap, a name that
 * needs quoting. */
static const char *const SCHEMA =
    TESTDB_SCHEMA TESTDB_ROWS
    "CREATE TABLE opts(id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT 'dflt', n INT);"
    "CREATE TABLE pair(a TEXT, b INTEGER, v TEXT, PRIMARY KEY (a, b));"
    "INSERT INTO pair VALUES ('x', 1, 'one');"
    "CREATE TABLE nopk(a TEXT, b INTEGER);"
    "INSERT INTO nopk VALUES ('a', 1), ('b', 2), ('c', 3); DELETE FROM nopk WHERE a = 'b';"
    "CREATE TABLE \"we\"\"ird\"(\"col \"\"q\"\"\" TEXT, x INTEGER PRIMARY KEY);"
    "INSERT INTO \"we\"\"ird\" VALUES ('q1', 10);";

/* A fresh datafile, opened read-only as a worker opens the run's copy. */
static sqlite3 *open_ro(void)
{
    char df[PATH_MAX];
    snprintf(df, sizeof df, "%s/.testmondata", unit_tmpdir());
    sqlite3 *db = NULL;
    sqlite3_open(df, &db);
    if (sqlite3_exec(db, SCHEMA, NULL, NULL, NULL) != SQLITE_OK) {
        unit_printf("schema: %s\n", sqlite3_errmsg(db));
        exit(2);
    }
    sqlite3_close(db);
    sqlite3_open_v2(df, &db, SQLITE_OPEN_READONLY, NULL);
    return db;
}

static long long num(sqlite3 *db, const char *sql) { return testdb_int(db, sql, -999); }

/* The first column of the first row of sql as text ("(none)" without a row). */
static const char *text(sqlite3 *db, const char *sql)
{
    static char out[256];
    sqlite3_stmt *st = NULL;
    snprintf(out, sizeof out, "(none)");
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        snprintf(out, sizeof out, "%s", sqlite3_column_text(st, 0) ? (const char *)
                                        sqlite3_column_text(st, 0) : "(null)");
    sqlite3_finalize(st);
    return out;
}

/* What temp holds under `name`: "table", "view", or "(none)". */
static const char *temp_kind(sqlite3 *db, const char *name)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT type FROM temp.sqlite_master WHERE name = '%s' AND type IN "
                              "('table', 'view')", name);
    return text(db, sql);
}

static int journaled(sqlite3 *db, const char *table)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM temp.sqlite_master WHERE type = 'trigger' "
                              "AND name = '" SHIM_JOURNAL_MARK "%s'", table);
    return num(db, sql) == 1;
}

/* The controller's snapshot of environment as its run file carries it (controller.c). */
static cJSON *snapshot(void)
{
    return cJSON_Parse("{\"present\": true, \"columns\": [\"id\", \"environment_name\", "
                       "\"system_packages\", \"python_version\"], \"rows\": ["
                       "[{\"i\": \"1\"}, {\"i\": \"1\"}, \"default\", \"pk-a\", \"3.11\"],"
                       "[{\"i\": \"5\"}, {\"i\": \"5\"}, \"old\", \"pk-c\", \"3.8\"]]}");
}

static void test_install(void)
{
    sqlite3 *db = open_ro();
    cJSON *snap = snapshot();
    CHECK_EQ_INT(shim_shadow_install(db, snap), SQLITE_OK);
    cJSON_Delete(snap);
    /* environment: a TEMP table with the controller's rows, not main's; not journaled */
    CHECK_STR(temp_kind(db, "environment"), "table");
    CHECK_STR(text(db, "SELECT group_concat(id) FROM (SELECT id FROM environment ORDER BY id)"),
              "1,5");
    CHECK(!journaled(db, "environment"), "the environment stand-in is the worker's own");
    /* its UNIQUE constraint came with it: the same insert fails as in a serial run */
    CHECK_EQ_INT(sqlite3_exec(db, "INSERT INTO environment(environment_name, system_packages, "
                                  "python_version) VALUES ('default', 'pk-a', '3.11')",
                              NULL, NULL, NULL), SQLITE_CONSTRAINT);
    CHECK_EQ_INT(sqlite3_exec(db, "INSERT INTO environment(environment_name, system_packages, "
                                  "python_version) VALUES ('new', 'pk-n', '3.12')",
                              NULL, NULL, NULL), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_last_insert_rowid(db), 6);
    /* every other table: a view of main */
    const char *views[] = {"test_execution", "mcall_id", "opts", "pair", "nopk", "we\"ird"};
    for (size_t i = 0; i < sizeof views / sizeof *views; i++)
        CHECK_STR(temp_kind(db, views[i]), "view");
    CHECK_EQ_INT(num(db, "SELECT count(*) FROM test_execution"), 3);
    sqlite3_close(db);
}

/* No snapshot, or one the controller could not read: environment as main has it now.  A
 * snapshot of a fresh database (no table yet at the controller's open): empty. */
static void test_install_without_snapshot(void)
{
    const char *const cases[] = {NULL, "{\"present\": false, \"unreadable\": true}",
                                 "{\"present\": false}"};
    const char *const want[] = {"1,2", "1,2", "(null)"};
    for (int i = 0; i < 3; i++) {
        sqlite3 *db = open_ro();
        cJSON *snap = cases[i] ? cJSON_Parse(cases[i]) : NULL;
        CHECK_EQ_INT(shim_shadow_install(db, snap), SQLITE_OK);
        cJSON_Delete(snap);
        CHECK_STR(temp_kind(db, "environment"), "table");
        CHECK_STR(text(db, "SELECT group_concat(id) FROM (SELECT id FROM environment ORDER BY "
                           "id)"), want[i]);
        sqlite3_close(db);
    }
}

/* A snapshot that does not fit the table: the install fails, and says so. */
static void test_install_bad_snapshot(void)
{
    sqlite3 *db = open_ro();
    cJSON *snap = cJSON_Parse("{\"present\": true, \"columns\": [\"id\"], \"rows\": [[1]]}");
    struct unit_capture cap = unit_capture_start(2);
    int rc = shim_shadow_install(db, snap);
    char *err = unit_capture_end(&cap);
    CHECK(rc != SQLITE_OK, "a row of bare numbers is no snapshot");
    CHECK_CONTAINS(err, "cannot shadow table environment in this worker");
    free(err);
    cJSON_Delete(snap);
    sqlite3_close(db);
}

/* Did the failed prepare of sql write one of our shadows?  The classifier's answer, name in out. */
static int classify(sqlite3 *db, const char *sql, char *out, size_t outsz)
{
    sqlite3_stmt *st = NULL;
    out[0] = 0;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    sqlite3_finalize(st);
    return rc != SQLITE_OK && shim_shadow_written_view(db, out, outsz);
}

static void test_classifier(void)
{
    sqlite3 *db = open_ro();
    CHECK_EQ_INT(shim_shadow_install(db, NULL), SQLITE_OK);
    char name[64];
    CHECK(classify(db, "UPDATE test_execution SET failed = 1", name, sizeof name), "update");
    CHECK_STR(name, "test_execution");
    CHECK(classify(db, "DELETE FROM \"we\"\"ird\"", name, sizeof name), "quoted name");
    CHECK_STR(name, "we\"ird");
    CHECK(!classify(db, "SELECT * FROM nosuch", name, sizeof name), "another error");
    /* a view of the user's own in temp, over no main table, is not ours to copy */
    CHECK_EQ_INT(sqlite3_exec(db, "CREATE TEMP VIEW mine AS SELECT 1 AS x", NULL, NULL, NULL),
                 SQLITE_OK);
    CHECK(!classify(db, "DELETE FROM mine", name, sizeof name), "a view that shadows nothing");
    /* a name that does not fit is no answer */
    CHECK(!classify(db, "UPDATE test_execution SET failed = 1", name, 8), "too long");
    sqlite3_close(db);
}

static void test_take(void)
{
    sqlite3 *db = open_ro();
    CHECK_EQ_INT(shim_shadow_install(db, NULL), SQLITE_OK);
    int copied = -1;
    CHECK_EQ_INT(shim_shadow_take(db, "test_execution", &copied), SQLITE_OK);
    CHECK_EQ_INT(copied, 1);
    CHECK_STR(temp_kind(db, "test_execution"), "table");
    CHECK_STR(text(db, "SELECT group_concat(id || ':' || test_name) FROM test_execution"),
              "1:t::a,2:t::b,3:t::c");
    CHECK(journaled(db, "test_execution"), "a table that outlives the run is journaled");
    /* main's index came along, under a name of the shim's */
    CHECK_EQ_INT(num(db, "SELECT count(*) FROM temp.sqlite_master WHERE type = 'index' AND "
                         "tbl_name = 'test_execution' AND name LIKE 'testmon_shim_ix%'"), 1);
    CHECK_EQ_INT(sqlite3_exec(db, "INSERT INTO test_execution(environment_id, test_name) VALUES "
                                  "(1, 't::d')", NULL, NULL, NULL), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_last_insert_rowid(db), 4);
    CHECK_EQ_INT(num(db, "SELECT count(*) FROM temp.testmon_shim_journal WHERE op = 'I' AND "
                         "tbl = 'test_execution' AND rid = 4"), 1);
    /* scratch: copied, not journaled */
    CHECK_EQ_INT(shim_shadow_take(db, "mcall_id", &copied), SQLITE_OK);
    CHECK_EQ_INT(copied, 1);
    CHECK(!journaled(db, "mcall_id"), "per-process scratch stays in the worker");
    /* defaults and NOT NULL */
    CHECK_EQ_INT(shim_shadow_take(db, "opts", &copied), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_exec(db, "INSERT INTO opts(n) VALUES (1)", NULL, NULL, NULL), SQLITE_OK);
    CHECK_STR(text(db, "SELECT name FROM opts WHERE n = 1"), "dflt");
    CHECK_EQ_INT(sqlite3_exec(db, "INSERT INTO opts(name) VALUES (NULL)", NULL, NULL, NULL),
                 SQLITE_CONSTRAINT);
    /* a composite primary key still refuses a duplicate */
    CHECK_EQ_INT(shim_shadow_take(db, "pair", &copied), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_exec(db, "INSERT INTO pair VALUES ('x', 1, 'again')", NULL, NULL, NULL),
                 SQLITE_CONSTRAINT);
    /* rowids kept where no column aliases them: the journal names rows by rowid */
    CHECK_EQ_INT(shim_shadow_take(db, "nopk", &copied), SQLITE_OK);
    CHECK_STR(text(db, "SELECT group_concat(rowid) FROM (SELECT rowid FROM nopk ORDER BY rowid)"),
              "1,3");
    /* a name that needs quoting, columns too */
    CHECK_EQ_INT(shim_shadow_take(db, "we\"ird", &copied), SQLITE_OK);
    CHECK_STR(text(db, "SELECT \"col \"\"q\"\"\" FROM \"we\"\"ird\" WHERE x = 10"), "q1");
    /* the file itself is never written: the connection is read-only */
    CHECK_EQ_INT(num(db, "SELECT count(*) FROM main.test_execution"), 3);
    sqlite3_close(db);
}

/* A table that main does not have: nothing to copy, said once, the view left as it was. */
static void test_take_failure(void)
{
    sqlite3 *db = open_ro();
    CHECK_EQ_INT(shim_shadow_install(db, NULL), SQLITE_OK);
    int copied = -1;
    struct unit_capture cap = unit_capture_start(2);
    int rc = shim_shadow_take(db, "nosuch", &copied);
    char *err = unit_capture_end(&cap);
    CHECK(rc != SQLITE_OK, "no such table");
    CHECK_EQ_INT(copied, 0);
    CHECK_EQ_INT(err[0], 0); /* no schema to read: the caller's statement says why */
    free(err);
    CHECK_STR(temp_kind(db, "test_execution"), "view");
    sqlite3_close(db);
}

static void test_restore_then_take_back(void)
{
    sqlite3 *db = open_ro();
    CHECK_EQ_INT(shim_shadow_install(db, NULL), SQLITE_OK);
    int found = -1, copied = -1;
    CHECK_EQ_INT(shim_shadow_restore(db, &found), 0); /* nothing taken yet */
    CHECK_EQ_INT(found, 0);
    CHECK_EQ_INT(shim_shadow_take(db, "test_execution", &copied), SQLITE_OK);
    CHECK_EQ_INT(shim_shadow_take(db, "mcall_id", &copied), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_exec(db, "INSERT INTO test_execution(environment_id, test_name) VALUES "
                                  "(1, 't::d'); INSERT INTO mcall_id(name) VALUES ('m')",
                              NULL, NULL, NULL), SQLITE_OK);
    /* after the commit: the journaled copy is set aside and the view is back; scratch stays */
    CHECK_EQ_INT(shim_shadow_restore(db, &found), 1);
    CHECK_EQ_INT(found, 1);
    CHECK_STR(temp_kind(db, "test_execution"), "view");
    CHECK_EQ_INT(num(db, "SELECT count(*) FROM test_execution"), 3);
    CHECK_EQ_INT(num(db, "SELECT count(*) FROM temp.testmon_shim_own_test_execution"), 4);
    CHECK_STR(temp_kind(db, "mcall_id"), "table");
    /* the next write takes the same copy back, so its rowids go on where the worker's did */
    CHECK_EQ_INT(shim_shadow_take(db, "test_execution", &copied), SQLITE_OK);
    CHECK_EQ_INT(copied, 0);
    CHECK_STR(temp_kind(db, "testmon_shim_own_test_execution"), "(none)");
    CHECK_EQ_INT(sqlite3_exec(db, "INSERT INTO test_execution(environment_id, test_name) VALUES "
                                  "(1, 't::e')", NULL, NULL, NULL), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_last_insert_rowid(db), 5);
    CHECK(journaled(db, "test_execution"), "the triggers followed the renames");
    CHECK_EQ_INT(num(db, "SELECT count(*) FROM temp.testmon_shim_journal WHERE rid = 5"), 1);
    CHECK_EQ_INT(shim_shadow_restore(db, &found), 1);
    sqlite3_close(db);
}

static void test_scratch_list(void)
{
    CHECK(shim_shadow_is_scratch("mcall_id"), "");
    CHECK(shim_shadow_is_scratch("temp_files_checksums"), "");
    CHECK(shim_shadow_is_scratch("temp_filenames"), "");
    CHECK(shim_shadow_is_scratch("changed_files_fshas"), "");
    CHECK(shim_shadow_is_scratch("changed_files_mhashes"), "");
    CHECK(!shim_shadow_is_scratch("test_execution"), "");
    CHECK(!shim_shadow_is_scratch("environment"), "");
    CHECK(!shim_shadow_is_scratch("mcall_id2"), "");
}

int main(void)
{
    unit_watchdog(20);
    unit_real_fill();
    RUN(test_install);
    RUN(test_install_without_snapshot);
    RUN(test_install_bad_snapshot);
    RUN(test_classifier);
    RUN(test_take);
    RUN(test_take_failure);
    RUN(test_restore_then_take_back);
    RUN(test_scratch_list);
    return unit_finish();
}
