/* test_pin.c: the run's state pinned in the datafile itself (pin.c).  While the pin is held,
 * another process that writes, checkpoints in every mode, changes the journal mode and closes its
 * connections leaves the database file byte for byte as it was, and readers that open it with
 * immutable=1 read the pinned state throughout, complete and consistent; without the pin the
 * same process changes the file (so the checks can see a change).  And the cases that must not
 * pin: a rollback-journal file, a reader or a writer in the way. */
#include "pin.h"
#include "unit.h"
#include "../common/testdb.h"
#include <sys/mman.h>
#include <sys/wait.h>

static char DF[PATH_MAX];
/* The connections make_datafile left open, reachable from here: the test's forked children
 * inherit them and exit without closing them, which valgrind would call a leak otherwise. */
sqlite3 *test_pin_owners[8]; /* not static: stores to a static never read would be optimised away */
int test_pin_nowners;

static void exec_ok(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        unit_printf("exec failed: %s: %s\n", sql, err ? err : "?");
        exit(2);
    }
}

/* A WAL datafile (testmon 2.x) at `path` with testmon's core tables, a pair of tables that every
 * writer transaction grows alike, and frames still in the WAL (the connection that wrote them
 * stays open, returned, so no close checkpoints them). */
static sqlite3 *make_datafile(const char *path, const char *journal_mode)
{
    snprintf(DF, sizeof DF, "%s", path);
    sqlite3 *db;
    sqlite3_open(DF, &db);
    char sql[128];
    snprintf(sql, sizeof sql, "PRAGMA journal_mode = %s;", journal_mode);
    exec_ok(db, sql);
    exec_ok(db, "PRAGMA wal_autocheckpoint = 0;" TESTDB_SCHEMA TESTDB_ROWS
                "CREATE TABLE a(x); CREATE TABLE b(x);"
                "INSERT INTO a VALUES (randomblob(500)); INSERT INTO b VALUES (randomblob(500));");
    if (test_pin_nowners < (int)(sizeof test_pin_owners / sizeof *test_pin_owners))
        test_pin_owners[test_pin_nowners++] = db;
    return db;
}

/* FNV-1a of the whole file: the database file's bytes, not what SQLite says they mean. */
static unsigned long long file_hash(const char *path, long long *size)
{
    unsigned long long h = 1469598103934665603ULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    int c;
    while (f && (c = getc(f)) != EOF) {
        h = (h ^ (unsigned char)c) * 1099511628211ULL;
        ++*size;
    }
    if (f)
        fclose(f);
    return h;
}

static long long count_in(sqlite3 *db, const char *table)
{
    char sql[64];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    return testdb_int(db, sql, -1);
}

static sqlite3 *open_reader(void)
{
    char uri[3 * PATH_MAX];
    sqlite3 *db = NULL;
    CHECK_EQ_INT(shim_pin_reader_uri(DF, uri, sizeof uri), 0);
    CHECK_EQ_INT(sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL),
                 SQLITE_OK);
    return db;
}

static int integrity_ok(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int ok = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK &&
             sqlite3_step(st) == SQLITE_ROW &&
             strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
    sqlite3_finalize(st);
    return ok;
}

/* What a second run's controller, a user's tool or testmon's own connection can do to a WAL
 * datafile, from another process: write a lot (the WAL grows past the automatic checkpoint's
 * threshold), checkpoint in every mode, try to leave WAL mode, close (the last close would
 * checkpoint), in `rounds` rounds.  Exits 0. */
static void hammer(int rounds)
{
    for (int r = 0; r < rounds; r++) {
        sqlite3 *w;
        sqlite3_open(DF, &w);
        sqlite3_busy_timeout(w, 50);
        exec_ok(w, "PRAGMA wal_autocheckpoint = 10");
        for (int i = 0; i < 40; i++)
            exec_ok(w, "BEGIN IMMEDIATE; INSERT INTO a VALUES (randomblob(3000));"
                       "INSERT INTO b VALUES (randomblob(3000)); UPDATE test_execution SET "
                       "duration = duration + 1; COMMIT;");
        static const char *const stmts[] = {
            "PRAGMA wal_checkpoint(PASSIVE)", "PRAGMA wal_checkpoint(FULL)",
            "PRAGMA wal_checkpoint(RESTART)", "PRAGMA wal_checkpoint(TRUNCATE)",
            "PRAGMA journal_mode = DELETE", "VACUUM"};
        for (size_t i = 0; i < sizeof stmts / sizeof *stmts; i++)
            sqlite3_exec(w, stmts[i], NULL, NULL, NULL); /* refused or stopped short: fine */
        sqlite3_close(w);
    }
}

static pid_t spawn_hammer(int rounds)
{
    pid_t p = fork();
    if (p == 0) {
        hammer(rounds);
        _exit(0);
    }
    return p;
}

/* Readers in other processes that open the pinned file and check it until told to stop: each
 * pass a complete file (integrity_check) in the pinned state (count(a) == count(b) == 1, three
 * executions with their durations as pinned).  Each writes its number of bad passes. */
static pid_t spawn_reader(volatile int *stop, int fd)
{
    pid_t p = fork();
    if (p == 0) {
        int bad = 0, passes = 0;
        while (!*stop || passes < 3) {
            sqlite3 *db = open_reader();
            bad += !integrity_ok(db) || count_in(db, "a") != 1 || count_in(db, "b") != 1 ||
                   testdb_int(db, "SELECT sum(duration) FROM test_execution", -1) != 3;
            sqlite3_close(db);
            passes++;
        }
        int msg[2] = {bad, passes};
        _exit(write(fd, msg, sizeof msg) == sizeof msg ? 0 : 1);
    }
    return p;
}

static void test_held_against_everything(void)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/.testmondata", unit_tmpdir());
    sqlite3 *owner = make_datafile(path, "wal"); /* testmon's connection: open throughout */
    sqlite3 *pin = NULL;
    struct stat id, st;
    CHECK_EQ_INT(shim_pin_take(DF, &pin, &id), SHIM_PIN_HELD);
    CHECK(pin != NULL, "a pin");
    CHECK(stat(DF, &st) == 0 && st.st_ino == id.st_ino && st.st_dev == id.st_dev, "its identity");
    /* the WAL was checkpointed into the file and truncated: the file holds the state alone */
    char wal[PATH_MAX + 8];
    snprintf(wal, sizeof wal, "%s-wal", DF);
    CHECK(stat(wal, &st) != 0 || st.st_size == 0, "WAL of %lld bytes", (long long)st.st_size);
    long long size0 = 0, size1 = 0;
    unsigned long long h0 = file_hash(DF, &size0);

    volatile int *stop = mmap(NULL, sizeof *stop, PROT_READ | PROT_WRITE,
                              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    *stop = 0;
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    enum { READERS = 3 };
    pid_t readers[READERS];
    for (int i = 0; i < READERS; i++)
        readers[i] = spawn_reader(stop, p[1]);
    /* testmon's own connection writes and checkpoints too */
    exec_ok(owner, "PRAGMA wal_autocheckpoint = 1; INSERT INTO a VALUES (1); INSERT INTO b VALUES (1);");
    pid_t h = spawn_hammer(3);
    int hs;
    waitpid(h, &hs, 0);
    CHECK(WIFEXITED(hs) && WEXITSTATUS(hs) == 0, "the writer ran");
    sqlite3_exec(owner, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    *stop = 1;
    close(p[1]);
    int msg[2], bad = 0, passes = 0;
    while (read(p[0], msg, sizeof msg) == (ssize_t)sizeof msg) {
        bad += msg[0];
        passes += msg[1];
    }
    close(p[0]);
    for (int i = 0; i < READERS; i++)
        waitpid(readers[i], NULL, 0);
    CHECK_EQ_INT(bad, 0);
    CHECK(passes >= 3 * READERS, "%d passes", passes);
    CHECK(file_hash(DF, &size1) == h0 && size1 == size0,
          "the database file changed under the pin (%lld -> %lld bytes)", size0, size1);
    /* everything written is there, in the WAL, for every ordinary reader */
    CHECK(stat(wal, &st) == 0 && st.st_size > 0, "the writes are in the WAL");
    CHECK_EQ_INT(count_in(owner, "a"), 1 + 1 + 3 * 40);
    sqlite3 *r = open_reader();
    CHECK_EQ_INT(count_in(r, "a"), 1); /* the pinned state */
    sqlite3_close(r);

    /* released: checkpoints run again, and the same writer now changes the file (the checks
     * above can see a change); nothing was lost on the way */
    shim_pin_release(&pin);
    CHECK(pin == NULL, "released");
    shim_pin_release(&pin); /* a no-op */
    h = spawn_hammer(1);
    waitpid(h, &hs, 0);
    CHECK(file_hash(DF, &size1) != h0, "the file never changed: the test could not see one");
    CHECK_EQ_INT(count_in(owner, "a"), 1 + 1 + 4 * 40);
    CHECK(integrity_ok(owner), "integrity after the run");
    sqlite3_close(owner);
    munmap((void *)stop, sizeof *stop);
}

/* testmon 1.x's rollback-journal datafile: never pinned, and nothing held (a pinning reader
 * there would block every writer). */
static void test_rollback_journal(void)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/rollback.testmondata", unit_tmpdir());
    sqlite3 *owner = make_datafile(path, "delete");
    sqlite3 *pin = (sqlite3 *)1;
    struct stat id;
    CHECK_EQ_INT(shim_pin_take(DF, &pin, &id), SHIM_PIN_NOT_WAL);
    CHECK(pin == NULL, "no pin");
    sqlite3_busy_timeout(owner, 0);
    CHECK_EQ_INT(sqlite3_exec(owner, "BEGIN EXCLUSIVE; INSERT INTO a VALUES (2); COMMIT;", NULL,
                              NULL, NULL), SQLITE_OK);
    sqlite3_close(owner);
}

/* A reader of an older state (a worker of another run reading the live file) stops the
 * checkpoint, and a writer in the middle of a transaction too: no pin, at once. */
static void test_in_the_way(void)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/busy.testmondata", unit_tmpdir());
    sqlite3 *owner = make_datafile(path, "wal");
    sqlite3 *reader;
    sqlite3_open_v2(DF, &reader, SQLITE_OPEN_READONLY, NULL);
    exec_ok(reader, "BEGIN; SELECT count(*) FROM a;");
    exec_ok(owner, "INSERT INTO a VALUES (3); INSERT INTO b VALUES (3);");
    sqlite3 *pin;
    struct stat id;
    long long t0 = unit_now_us();
    CHECK_EQ_INT(shim_pin_take(DF, &pin, &id), SHIM_PIN_BUSY);
    CHECK(pin == NULL, "no pin");
    CHECK(unit_now_us() - t0 < unit_scaled_ms(1000) * 1000LL, "it waited");
    exec_ok(reader, "COMMIT");
    exec_ok(owner, "BEGIN IMMEDIATE; INSERT INTO a VALUES (4);");
    CHECK_EQ_INT(shim_pin_take(DF, &pin, &id), SHIM_PIN_BUSY);
    exec_ok(owner, "INSERT INTO b VALUES (4); COMMIT;");
    CHECK_EQ_INT(shim_pin_take(DF, &pin, &id), SHIM_PIN_HELD);
    sqlite3 *r = open_reader();
    CHECK_EQ_INT(count_in(r, "a"), 3);
    sqlite3_close(r);
    shim_pin_release(&pin);
    sqlite3_close(reader);
    sqlite3_close(owner);
    /* a file that is not there is not created */
    char missing[PATH_MAX];
    snprintf(missing, sizeof missing, "%s/none.testmondata", unit_tmpdir());
    CHECK_EQ_INT(shim_pin_take(missing, &pin, &id), SHIM_PIN_FAILED);
    CHECK(access(missing, F_OK) != 0, "created %s", missing);
}

/* The reader's name: any path, its special characters percent-encoded, opens that file. */
static void test_reader_uri(void)
{
    char dir[PATH_MAX], path[PATH_MAX], uri[3 * PATH_MAX];
    snprintf(dir, sizeof dir, "%s/a dir?x=1#y%%20é", unit_tmpdir());
    CHECK(mkdir(dir, 0700) == 0, "mkdir");
    snprintf(path, sizeof path, "%s/.testmondata", dir);
    sqlite3 *owner = make_datafile(path, "wal");
    sqlite3 *pin;
    struct stat id;
    CHECK_EQ_INT(shim_pin_take(DF, &pin, &id), SHIM_PIN_HELD);
    CHECK_EQ_INT(shim_pin_reader_uri(DF, uri, sizeof uri), 0);
    CHECK(strncmp(uri, "file:/", 6) == 0, "%s", uri);
    CHECK_CONTAINS(uri, "a%20dir%3Fx%3D1%23y%2520%C3%A9/.testmondata?immutable=1");
    sqlite3 *r = open_reader();
    CHECK_EQ_INT(count_in(r, "test_execution"), 3);
    sqlite3_close(r);
    CHECK_EQ_INT(shim_pin_reader_uri(DF, uri, 20), -1);
    CHECK_EQ_INT(shim_pin_reader_uri(DF, uri, strlen(uri)), -1); /* no room for the NUL */
    shim_pin_release(&pin);
    sqlite3_close(owner);
}

static void test_errno(void)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/errno.testmondata", unit_tmpdir());
    sqlite3 *owner = make_datafile(path, "wal");
    sqlite3 *pin;
    struct stat id;
    errno = 1234;
    shim_pin_take(DF, &pin, &id);
    CHECK_EQ_INT(errno, 1234);
    errno = 4321;
    shim_pin_release(&pin);
    CHECK_EQ_INT(errno, 4321);
    sqlite3_close(owner);
}

int main(void)
{
    unit_real_fill();
    RUN(test_held_against_everything);
    RUN(test_rollback_journal);
    RUN(test_in_the_way);
    RUN(test_reader_uri);
    RUN(test_errno);
    return unit_finish();
}
