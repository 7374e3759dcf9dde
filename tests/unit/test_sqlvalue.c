/* test_sqlvalue.c: SQLite values <-> JSON through a real :memory: database (sqlvalue.c). */
#include "sqlvalue.h"
#include "unit.h"
#include <float.h>
#include <math.h>
#include <stdint.h>

static sqlite3 *db;

/* Store `sql_literal` in t, encode it, print and re-parse the JSON (as a journal travels), bind
 * it into u, and compare type and value of both rows in SQL.  Returns the JSON text. */
static char *round_trip(const char *sql_literal)
{
    char sql[512];
    sqlite3_exec(db, "DELETE FROM t; DELETE FROM u", NULL, NULL, NULL);
    snprintf(sql, sizeof sql, "INSERT INTO t(v) VALUES (%s)", sql_literal);
    CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "SELECT v FROM t", -1, &st, NULL);
    CHECK(sqlite3_step(st) == SQLITE_ROW, "row");
    cJSON *v = shim_value_from_column(st, 0);
    sqlite3_finalize(st);
    char *text = cJSON_PrintUnformatted(v);
    cJSON_Delete(v);
    cJSON *back = cJSON_Parse(text);
    CHECK(back != NULL, "re-parse %s", text);
    sqlite3_prepare_v2(db, "INSERT INTO u(v) VALUES (?)", -1, &st, NULL);
    CHECK_EQ_INT(shim_value_bind(st, 1, back), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    cJSON_Delete(back);
    sqlite3_prepare_v2(db, "SELECT typeof(t.v) = typeof(u.v) AND t.v IS u.v, typeof(u.v), quote(u.v)"
                           " FROM t, u", -1, &st, NULL);
    CHECK(sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 1,
          "%s came back as %s %s (json %s)", sql_literal, sqlite3_column_text(st, 1),
          sqlite3_column_text(st, 2), text);
    sqlite3_finalize(st);
    return text;
}

static double stored_double(void)
{
    sqlite3_stmt *st;
    double d = NAN;
    sqlite3_prepare_v2(db, "SELECT v FROM u", -1, &st, NULL);
    if (sqlite3_step(st) == SQLITE_ROW)
        d = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    return d;
}

static void check_json(char *text, const char *want)
{
    CHECK_STR(text, want);
    free(text);
}

static void test_null_and_integers(void)
{
    check_json(round_trip("NULL"), "null");
    check_json(round_trip("0"), "{\"i\":\"0\"}");
    check_json(round_trip("-1"), "{\"i\":\"-1\"}");
    check_json(round_trip("-9223372036854775808"), "{\"i\":\"-9223372036854775808\"}");
    check_json(round_trip("9223372036854775807"), "{\"i\":\"9223372036854775807\"}");
    check_json(round_trip("9007199254740993"), "{\"i\":\"9007199254740993\"}"); /* 2^53+1 */
}

static void test_doubles(void)
{
    static const struct {
        const char *lit;
        double want;
    } cases[] = {{"0.1", 0.1},       {"1e300", 1e300},     {"-1e-300", -1e-300},
                 {"1.5", 1.5},       {"4.9e-324", 4.9e-324}, {"1.7976931348623157e308", DBL_MAX},
                 {"0.30000000000000004", 0.30000000000000004}, {"123456789.123456789", 123456789.123456789}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        free(round_trip(cases[i].lit));
        double d = stored_double();
        CHECK(d == cases[i].want, "%s came back as %.17g", cases[i].lit, d);
    }
    free(round_trip("1e999")); /* SQLite stores an overflowing literal as +Inf */
    CHECK(isinf(stored_double()) && stored_double() > 0, "+Inf came back as %g", stored_double());
    free(round_trip("-1e999"));
    CHECK(isinf(stored_double()) && stored_double() < 0, "-Inf came back as %g", stored_double());
    char *text = round_trip("-0.0");
    CHECK(strncmp(text, "{\"f\":", 5) == 0, "-0.0 is a real: %s", text);
    free(text);
    double z = stored_double();
    CHECK(z == 0.0 && signbit(z), "-0.0 keeps its sign (got %g)", z);
    text = round_trip("2.0");
    CHECK(strncmp(text, "{\"f\":", 5) == 0, "2.0 stays a real, not an integer: %s", text);
    free(text);
}

static void test_text(void)
{
    check_json(round_trip("''"), "\"\"");
    check_json(round_trip("'plain'"), "\"plain\"");
    free(round_trip("'h\xc3\xa9llo \xe2\x98\x83 \xf0\x9d\x84\x9e'"));
    free(round_trip("'quote '' and \" and \\ and newline' || char(10) || 'x' || char(9)"));
    free(round_trip("'123'")); /* text that looks like a number stays text */
    free(round_trip("'{\"i\":\"1\"}'")); /* text that looks like an encoding stays text */
    /* a NUL byte inside text: all of it arrives, and it stays text */
    check_json(round_trip("'a' || char(0) || 'b'"), "{\"t\":\"610062\"}");
    check_json(round_trip("char(0)"), "{\"t\":\"00\"}");
    free(round_trip("'x' || char(0) || char(0) || 'h\xc3\xa9'"));
}

static void test_blobs(void)
{
    check_json(round_trip("x'00010200ff00'"), "{\"b\":\"00010200ff00\"}");
    check_json(round_trip("x''"), "{\"b\":\"\"}");
    check_json(round_trip("zeroblob(3)"), "{\"b\":\"000000\"}");
    check_json(round_trip("x'DEADBEEF'"), "{\"b\":\"deadbeef\"}");
}

static void test_bind_rejects(void)
{
    static const char *const bad[] = {
        "5",          "true",         "[1]",           "{}",           "{\"x\":1}",
        "{\"i\":1}",  "{\"i\":\"12x\"}", "{\"f\":\"1.5\"}", "{\"b\":\"abc\"}", "{\"b\":\"zz\"}",
        "{\"b\":5}",  "{\"i\":\"1\",\"f\":2}", "{\"i\":\"\"}", "{\"i\":\" 5\"}",
        "{\"i\":\"99999999999999999999\"}", "{\"i\":\"-99999999999999999999\"}",
        "{\"b\":\"0g\"}", "{\"b\":\" 1\"}", "{\"b\":\"+1\"}", "{\"i\":\"0x10\"}",
        "{\"t\":\"abc\"}", "{\"t\":\"zz\"}", "{\"t\":5}", "{\"T\":\"00\"}",
    };
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "SELECT ?", -1, &st, NULL);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cJSON *v = cJSON_Parse(bad[i]);
        CHECK(v != NULL, "parse %s", bad[i]);
        int rc = shim_value_bind(st, 1, v);
        CHECK(rc == SQLITE_MISMATCH, "%s bound with rc %d", bad[i], rc);
        cJSON_Delete(v);
    }
    /* a well-formed value into a parameter that does not exist: SQLite's own error */
    cJSON *v = cJSON_Parse("{\"i\":\"1\"}");
    CHECK_EQ_INT(shim_value_bind(st, 2, v), SQLITE_RANGE);
    cJSON_Delete(v);
    sqlite3_finalize(st);
}

static void test_sql_exec(void)
{
    CHECK_EQ_INT(shim_sql_exec(db, "CREATE TABLE e(x); INSERT INTO e VALUES (1); INSERT INTO e "
                                   "VALUES (2)"), SQLITE_OK);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "SELECT count(*) FROM e", -1, &st, NULL);
    sqlite3_step(st);
    CHECK_EQ_INT(sqlite3_column_int(st, 0), 2);
    sqlite3_finalize(st);
    struct unit_capture cap = unit_capture_start(2);
    int rc = shim_sql_exec(db, "INSERT INTO nosuch VALUES (1)");
    char *msg = unit_capture_end(&cap);
    CHECK_EQ_INT(rc, SQLITE_ERROR);
    CHECK_STR(msg, ""); /* internal SQL failures are the caller's to report */
    free(msg);
}

int main(void)
{
    unit_watchdog(20);
    unit_real_fill();
    if (sqlite3_open(":memory:", &db) != SQLITE_OK)
        return 2;
    sqlite3_exec(db, "CREATE TABLE t(v); CREATE TABLE u(v)", NULL, NULL, NULL);
    RUN(test_null_and_integers);
    RUN(test_doubles);
    RUN(test_text);
    RUN(test_blobs);
    RUN(test_bind_rejects);
    RUN(test_sql_exec);
    sqlite3_close(db);
    return unit_finish();
}
