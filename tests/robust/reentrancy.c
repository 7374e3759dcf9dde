/* reentrancy.c (built as pytest_reentrancy: the shim takes it for a pytest controller, and
 * tests/common/sqlite3mod.h makes it a sqlite3 module whose calls the shim manages).
 * A managed call may run SQLite calls of its own while a policy is running: the policies' own
 * REAL() calls, and, where SQLite calls its own API through the very slots or entry points the
 * shim redirects (pysqlite3's module, with SQLite compiled in: sqlite3_exec -> sqlite3_prepare_v2
 * -> sqlite3_step, and a nested sqlite3_exec re-reading the schema after CREATE TABLE; an
 * interpreter's hooked entry points, static.h), those inner calls reach the wrappers.  They must
 * pass straight through: the policy is applied once per outermost call.  Here SQLite is
 * libsqlite3, whose inner calls stay inside it; the e2e companion cell `pysqlite3` and the
 * static-3.11 cells run the same policies with the inner calls arriving.  Witnesses, read from
 * the shim's info log: the run is published "ready" exactly once, a worker journal planted
 * before an exec is applied exactly once (a nested application would also deadlock on the
 * controller's lock: the watchdog turns that into a failure), and its row lands once.
 *   pytest_reentrancy DIR LOGFILE      (TESTMON_SHIM_LOG=info:LOGFILE must be set) */
#include "../common/sqlite3mod.h"
#include "../common/testdb.h"
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int passed, failed;
#define CHECK(c, ...)                                                                          \
    do {                                                                                       \
        if (c)                                                                                 \
            passed++;                                                                          \
        else {                                                                                 \
            failed++;                                                                          \
            printf("FAIL %s:%d %s: ", __FILE__, __LINE__, #c);                                 \
            printf(__VA_ARGS__);                                                               \
            printf("\n");                                                                      \
        }                                                                                      \
    } while (0)

static unsigned long long starttime(void)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    for (int field = 2; p && field < 22; field++)
        p = strchr(p + 1, ' ');
    return p ? strtoull(p + 1, NULL, 10) : 0;
}

static int count_in_file(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char line[2048];
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    if (f)
        fclose(f);
    return n;
}

static long long one(sqlite3 *db, const char *sql) { return testdb_int(db, sql, -1); }

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    alarm(30); /* a nested policy would deadlock on the controller's lock */
    char df[4200], journal[4400];
    snprintf(df, sizeof df, "%s/.testmondata", argv[1]);
    sqlite3 *db;
    CHECK(sqlite3_open_v2(df, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) == SQLITE_OK,
          "open");
    /* one exec: CREATE TABLE makes libsqlite3 re-read the schema through its own API */
    char *err = NULL;
    int rc = sqlite3_exec(db, "CREATE TABLE test_execution(id INTEGER PRIMARY KEY, test_name TEXT);"
                              "CREATE TABLE environment(id INTEGER PRIMARY KEY, name TEXT);"
                              "CREATE INDEX ix ON test_execution(test_name)", NULL, NULL, &err);
    CHECK(rc == SQLITE_OK, "create: %s", err ? err : "");
    sqlite3_free(err);
    CHECK(count_in_file(argv[2], ": ready") == 1, "published ready %d times",
          count_in_file(argv[2], ": ready"));

    /* a worker's journal, as worker gw0 would hand it over */
    snprintf(journal, sizeof journal,
             "%s/.testmon-shim/run-%ld-%llu.journal-00000000000000000001-gw0-1.json", argv[1],
             (long)getpid(), starttime());
    FILE *f = fopen(journal, "w");
    CHECK(f != NULL, "cannot write %s", journal);
    if (f) {
        fputs("{\"format\":1,\"worker\":\"gw0\",\"columns\":{\"test_execution\":[\"id\","
              "\"test_name\"]},\"ops\":[{\"t\":\"test_execution\",\"o\":\"I\",\"r\":{\"i\":\"42\"},"
              "\"n\":{\"i\":\"42\"},\"v\":[{\"i\":\"42\"},\"w::t\"]}]}", f);
        fclose(f);
    }
    /* and the run's "a worker joined" flag, as the worker sets it before its first journal */
    char joined[4200];
    snprintf(joined, sizeof joined, "%s/.testmon-shim/run-%ld-%llu.joined", argv[1],
             (long)getpid(), starttime());
    int jfd = open(joined, O_WRONLY | O_CLOEXEC);
    CHECK(jfd >= 0 && pwrite(jfd, "\1", 1, 0) == 1, "cannot set %s", joined);
    if (jfd >= 0)
        close(jfd);
    /* the controller's next write, again an exec whose inner statements re-enter */
    rc = sqlite3_exec(db, "INSERT INTO test_execution(test_name) VALUES ('c::t');"
                          "CREATE TABLE later(x); INSERT INTO later VALUES (1)", NULL, NULL, &err);
    CHECK(rc == SQLITE_OK, "write: %s", err ? err : "");
    sqlite3_free(err);
    CHECK(access(journal, F_OK) != 0, "journal applied and removed");
    CHECK(count_in_file(argv[2], "applied 1 row change(s) from a worker") == 1,
          "journal applied %d times", count_in_file(argv[2], "applied 1 row change(s)"));
    CHECK(one(db, "SELECT count(*) FROM test_execution WHERE id = 42 AND test_name = 'w::t'") == 1,
          "the worker's row");
    CHECK(one(db, "SELECT count(*) FROM test_execution") == 2, "two rows");
    CHECK(one(db, "SELECT max(id) FROM test_execution") == 43, "the controller's row after it");
    CHECK(count_in_file(argv[2], ": ready") == 1, "still one ready");
    CHECK(sqlite3_close(db) == SQLITE_OK, "close");
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
