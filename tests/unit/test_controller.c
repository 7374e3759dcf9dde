/* test_controller.c: the controller's publication and journal intake (controller.c), on a fresh
 * database and with journals it must not apply.  The worker side is in test_worker.c. */
#include "controller.h"
#include "coord.h"
#include "dispatch.h"
#include "role.h"
#include "runcopy.h"
#include "unit.h"
#include "runfile.h"
#include <dirent.h>
#include <stdint.h>
#include <sys/file.h>

static char DF[PATH_MAX], DIRC[PATH_MAX];

static void as_controller(const char *datafile)
{
    unit_as_run(datafile, NULL);
    snprintf(DIRC, sizeof DIRC, "%s", unit_run.dir);
}

static int exists(const char *dir, const char *name)
{
    char p[PATH_MAX + 256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

/* A fresh database: initialising until testmon's schema is in place and the connection idle. */
static void fresh_database(void)
{
    const char *T = unit_tmpdir();
    snprintf(DF, sizeof DF, "%s/.testmondata", T);
    as_controller(DF);
    sqlite3 *db = NULL;
    CHECK_EQ_INT(shim_controller_open(&unit_run, DF, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                 SQLITE_OK);
    cJSON *j = unit_run_file(DIRC);
    CHECK_STR(j ? cJSON_GetStringValue(cJSON_GetObjectItem(j, "state")) : NULL, "initialising");
    const cJSON *env = cJSON_GetObjectItem(j, "environment");
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(env, "present")), "no environment table yet");
    cJSON_Delete(j);

    CHECK_EQ_INT(unit_run_sql(db, "PRAGMA user_version"), SQLITE_DONE);
    CHECK_STR(unit_run_state(DIRC), "initialising"); /* idle, but no schema */
    CHECK_EQ_INT(unit_run_sql(db, "BEGIN"), SQLITE_DONE);
    CHECK_EQ_INT(unit_run_sql(db, "CREATE TABLE environment(id INTEGER PRIMARY KEY, environment_name TEXT)"),
                 SQLITE_DONE);
    CHECK_STR(unit_run_state(DIRC), "initialising"); /* inside a transaction */
    CHECK_EQ_INT(unit_run_sql(db, "CREATE TABLE test_execution(id INTEGER PRIMARY KEY, test_name TEXT)"),
                 SQLITE_DONE);
    CHECK_EQ_INT(unit_run_sql(db, "PRAGMA user_version = 4"), SQLITE_DONE);
    CHECK_EQ_INT(unit_run_sql(db, "COMMIT"), SQLITE_DONE);
    j = unit_run_file(DIRC);
    CHECK_STR(j ? cJSON_GetStringValue(cJSON_GetObjectItem(j, "state")) : NULL, "ready");
    CHECK_EQ_INT(cJSON_GetObjectItem(j, "data_version")
                     ? cJSON_GetObjectItem(j, "data_version")->valuedouble : -1, 4);
    /* when ready was published (CLOCK_MONOTONIC us): workers report their release from it */
    const cJSON *rt = cJSON_GetObjectItem(j, "ready_mono_us");
    CHECK(cJSON_IsNumber(rt) && rt->valuedouble > 0 && rt->valuedouble <= shim_coord_now_us(),
          "ready_mono_us in the run file");
    cJSON_Delete(j);

    /* a second controller connection to the same datafile is ready again once idle */
    sqlite3 *db2 = NULL;
    CHECK_EQ_INT(shim_controller_open(&unit_run, DF, &db2, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    CHECK_EQ_INT(atomic_load(&shim_conn_count), 2);
    CHECK_EQ_INT(unit_run_sql(db2, "SELECT 1"), SQLITE_DONE);
    CHECK_STR(unit_run_state(DIRC), "ready");
    CHECK_EQ_INT(shim_close(db2, sqlite3_close), SQLITE_OK);

    /* finished at exit, once */
    shim_controller_exit();
    CHECK_STR(unit_run_state(DIRC), "finished");
    CHECK_EQ_INT(shim_close(db, sqlite3_close), SQLITE_OK);
    CHECK_EQ_INT(atomic_load(&shim_conn_count), 0);
}

/* A datafile with test_execution, opened by this process as its controller, run ready. */
static sqlite3 *ready_controller(void)
{
    const char *T = unit_tmpdir();
    snprintf(DF, sizeof DF, "%s/.testmondata", T);
    sqlite3 *setup;
    sqlite3_open(DF, &setup);
    sqlite3_exec(setup, "CREATE TABLE test_execution(id INTEGER PRIMARY KEY, test_name TEXT)",
                 NULL, NULL, NULL);
    sqlite3_close(setup);
    as_controller(DF);
    sqlite3 *db = NULL;
    CHECK_EQ_INT(shim_controller_open(&unit_run, DF, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    CHECK_EQ_INT(unit_run_sql(db, "SELECT 1"), SQLITE_DONE);
    CHECK_STR(unit_run_state(DIRC), "ready");
    return db;
}

/* Journals: only this run's are applied, in name order; a bad one is kept, with a message. */
static void journal_intake(void)
{
    sqlite3 *db = ready_controller();

    char ok1[256], ok2[256], bad[256], other[256];
    snprintf(ok1, sizeof ok1, "%s.journal-00000000000000000001-gw0-1.json", unit_run.run_name);
    snprintf(ok2, sizeof ok2, "%s.journal-00000000000000000002-gw1-2.json", unit_run.run_name);
    snprintf(bad, sizeof bad, "%s.journal-00000000000000000003-gw2-3.json", unit_run.run_name);
    snprintf(other, sizeof other, "run-%ld-%llu.journal-00000000000000000001-gw0-1.json",
             (long)getpid(), unit_run.run.start + 1);
#define OP(id, name)                                                                             \
    "{\"t\":\"test_execution\",\"o\":\"I\",\"r\":{\"i\":\"" #id "\"},\"n\":{\"i\":\"" #id        \
    "\"},\"v\":[{\"i\":\"" #id "\"},\"" name "\"]}"
#define JOURNAL(ops)                                                                             \
    "{\"format\":1,\"worker\":\"gw0\",\"columns\":{\"test_execution\":[\"id\",\"test_name\"]},"  \
    "\"ops\":[" ops "]}"
    /* ok2 replaces row 10 that ok1 inserted: applied in name order, ok2 wins */
    CHECK_EQ_INT(shim_coord_write(DIRC, ok2, JOURNAL(OP(10, "second"))), 0);
    CHECK_EQ_INT(shim_coord_write(DIRC, ok1, JOURNAL(OP(10, "first") "," OP(11, "one"))), 0);
    CHECK_EQ_INT(shim_coord_write(DIRC, bad, "{\"format\":1,\"ops\":[]}"), 0);
    CHECK_EQ_INT(shim_coord_write(DIRC, other, JOURNAL(OP(99, "not ours"))), 0);

    /* not before a worker has joined: the controller does not even look */
    CHECK_EQ_INT(unit_run_sql(db, "SELECT count(*) FROM test_execution"), SQLITE_DONE);
    CHECK(exists(DIRC, ok1) && exists(DIRC, ok2), "no look before a worker joined");
    CHECK_EQ_INT(shim_coord_joined_set(DIRC, unit_run.run_name), 0); /* what a worker does */

    struct unit_capture cap = unit_capture_start(2);
    int rc = unit_run_sql(db, "INSERT INTO test_execution(test_name) VALUES ('own')");
    char *msg = unit_capture_end(&cap);
    CHECK_EQ_INT(rc, SQLITE_DONE);
    CHECK_EQ_INT(sqlite3_last_insert_rowid(db), 12); /* after the replayed rows */
    CHECK(!exists(DIRC, ok1) && !exists(DIRC, ok2), "applied journals are removed");
    CHECK(exists(DIRC, bad), "a journal that cannot be applied is kept");
    CHECK_CONTAINS(msg, bad);
    CHECK(exists(DIRC, other), "another run's journal is left alone");
    free(msg);

    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "SELECT group_concat(id || '=' || test_name, ',') FROM "
                           "(SELECT * FROM test_execution ORDER BY id)", -1, &st, NULL);
    sqlite3_step(st);
    CHECK_STR((const char *)sqlite3_column_text(st, 0), "10=second,11=one,12=own");
    sqlite3_finalize(st);

    /* journals arriving later are applied at close at the latest */
    char late[256];
    snprintf(late, sizeof late, "%s.journal-00000000000000000004-gw0-1.json", unit_run.run_name);
    CHECK_EQ_INT(shim_coord_write(DIRC, late, JOURNAL(OP(20, "late"))), 0);
    cap = unit_capture_start(2);
    CHECK_EQ_INT(shim_close(db, sqlite3_close), SQLITE_OK);
    free(unit_capture_end(&cap));
    CHECK(!exists(DIRC, late), "applied at close");
    sqlite3 *setup;
    sqlite3_open(DF, &setup);
    sqlite3_prepare_v2(setup, "SELECT test_name FROM test_execution WHERE id = 20", -1, &st, NULL);
    CHECK(sqlite3_step(st) == SQLITE_ROW, "row 20 there");
    sqlite3_finalize(st);
    sqlite3_close(setup);
    shim_controller_exit();
}

/* A serial run: nobody joins, so no statement looks for journals (not one stat: the flag is a
 * mapped byte); a worker joining arms the look before the controller's next write. */
static void serial_then_joined(void)
{
    sqlite3 *db = ready_controller();
    char flag[256];
    snprintf(flag, sizeof flag, "%s/%s.joined", DIRC, unit_run.run_name);
    struct stat st;
    CHECK(stat(flag, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0600,
          "the controller created its joined flag, mode 0600");

    /* a journal of this run (as a worker that could not set the flag would leave it) */
    char j1[256], j2[256];
    snprintf(j1, sizeof j1, "%s.journal-00000000000000000001-gw0-1.json", unit_run.run_name);
    snprintf(j2, sizeof j2, "%s.journal-00000000000000000002-gw0-1.json", unit_run.run_name);
    CHECK_EQ_INT(shim_coord_write(DIRC, j1, JOURNAL(OP(5, "from gw0"))), 0);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(unit_run_sql(db, "INSERT INTO test_execution(test_name) VALUES ('own')"),
                     SQLITE_DONE);
    CHECK(exists(DIRC, j1), "not applied: no worker joined");
    CHECK_EQ_INT(sqlite3_last_insert_rowid(db), 3);

    /* a worker joins: the journal is applied before the controller's next statement */
    CHECK_EQ_INT(shim_coord_joined_set(DIRC, unit_run.run_name), 0);
    CHECK_EQ_INT(unit_run_sql(db, "INSERT INTO test_execution(test_name) VALUES ('own')"),
                 SQLITE_DONE);
    CHECK(!exists(DIRC, j1), "applied once a worker joined");
    CHECK_EQ_INT(sqlite3_last_insert_rowid(db), 6); /* after the replayed row 5 */
    CHECK_EQ_INT(shim_coord_write(DIRC, j2, JOURNAL(OP(9, "later"))), 0);
    CHECK_EQ_INT(unit_run_sql(db, "INSERT INTO test_execution(test_name) VALUES ('own')"),
                 SQLITE_DONE);
    CHECK(!exists(DIRC, j2), "and from then on before every write");
    CHECK_EQ_INT(sqlite3_last_insert_rowid(db), 10);
    CHECK_EQ_INT(shim_close(db, sqlite3_close), SQLITE_OK);
    shim_controller_exit();
}

/* A worker of a controller without the flag (it could not create it) has nothing to set; a
 * flag that is not a regular file of ours is refused. */
static void joined_flag_edges(void)
{
    const char *T = unit_tmpdir();
    char dir[PATH_MAX], path[PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%s/coord", T);
    CHECK_EQ_INT(mkdir(dir, 0700), 0);
    CHECK_EQ_INT(shim_coord_joined_set(dir, "run-1-2"), 1);
    snprintf(path, sizeof path, "%s/run-1-2.joined", dir);
    CHECK_EQ_INT(symlink("/dev/null", path), 0);
    struct unit_capture cap = unit_capture_start(2);
    int rc = shim_coord_joined_set(dir, "run-1-2");
    free(unit_capture_end(&cap));
    CHECK_EQ_INT(rc, -1);
    const _Atomic unsigned char *flag = shim_coord_joined_map(dir, "run-3-4");
    CHECK(flag && *flag == 0, "mapped, clear");
    CHECK_EQ_INT(shim_coord_joined_set(dir, "run-3-4"), 0);
    CHECK(flag && *flag == 1, "set through the file, seen in the mapping");
    CHECK(!shim_coord_joined_map(dir, "run-3-4"), "never maps another's flag: O_EXCL");
    /* a FIFO planted as the flag: refused at once, never blocking the worker's open */
    snprintf(path, sizeof path, "%s/run-5-6.joined", dir);
    CHECK_EQ_INT(mkfifo(path, 0600), 0);
    cap = unit_capture_start(2);
    long long t0 = unit_now_us();
    rc = shim_coord_joined_set(dir, "run-5-6");
    long long took = unit_now_us() - t0;
    char *msg = unit_capture_end(&cap);
    CHECK_EQ_INT(rc, -1);
    CHECK(took < unit_scaled_ms(1000) * 1000LL, "refused in %lld us", took);
    CHECK(strstr(msg, "run-5-6.joined") != NULL, "the message names the file: %s", msg);
    free(msg);
}

/* An unusable coordination directory: the open still succeeds, nothing is published. */
static void bad_directory(void)
{
    const char *T = unit_tmpdir();
    snprintf(DF, sizeof DF, "%s/.testmondata", T);
    as_controller(DF);
    unit_write_file(DIRC, "a file where the directory should be");
    sqlite3 *db = NULL;
    struct unit_capture cap = unit_capture_start(2);
    int rc = shim_controller_open(&unit_run, DF, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    char *msg = unit_capture_end(&cap);
    CHECK_EQ_INT(rc, SQLITE_OK);
    CHECK_CONTAINS(msg, "not a directory");
    free(msg);
    CHECK_EQ_INT(unit_run_sql(db, "CREATE TABLE environment(id INTEGER PRIMARY KEY)"), SQLITE_DONE);
    CHECK_EQ_INT(sqlite3_db_readonly(db, "main"), 0);
    shim_close(db, sqlite3_close);
    shim_controller_exit();
}

/* The controller's word on the pin (runcopy.h): "<dev> <ino>" of the pinned file, "" if none,
 * "(absent)" if there is no such file. */
static const char *pin_word(void)
{
    static char s[64];
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/%s.db.pin", DIRC, unit_run.run_name);
    FILE *f = fopen(p, "r");
    snprintf(s, sizeof s, "(absent)");
    if (f) {
        size_t n = fread(s, 1, sizeof s - 1, f);
        s[n] = 0;
        fclose(f);
    }
    return s;
}

static long long wal_size(void)
{
    char p[PATH_MAX + 8];
    struct stat st;
    snprintf(p, sizeof p, "%s-wal", DF);
    return stat(p, &st) == 0 ? (long long)st.st_size : -1;
}

/* What a worker of this run reads: how many executions. */
static long long worker_sees(int *pinned)
{
    char path[3 * PATH_MAX];
    long ms;
    int r = shim_runcopy_get(DIRC, unit_run.run_name, DF, 1, 2000, path, sizeof path, &ms);
    *pinned = r == SHIM_RUNCOPY_PINNED;
    sqlite3 *db = NULL;
    sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | (*pinned ? SQLITE_OPEN_URI : 0), NULL);
    long long n = -1;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM test_execution", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* A WAL datafile (testmon 2.x): the state is pinned before ready is published, pinned again at
 * each idle point after the controller wrote, until a worker joins; from then on it stays what
 * the workers read, whatever the controller writes, until the controller exits.  A new run in
 * the same process (pytest.main() again) pins its own state. */
static void pins_until_joined(void)
{
    const char *T = unit_tmpdir();
    snprintf(DF, sizeof DF, "%s/.testmondata", T);
    sqlite3 *setup;
    sqlite3_open(DF, &setup);
    sqlite3_exec(setup, "PRAGMA journal_mode = WAL; CREATE TABLE test_execution(id INTEGER "
                        "PRIMARY KEY, test_name TEXT)", NULL, NULL, NULL);
    sqlite3_close(setup);
    as_controller(DF);
    sqlite3 *db = NULL;
    CHECK_EQ_INT(shim_controller_open(&unit_run, DF, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    CHECK_STR(pin_word(), "(absent)");
    CHECK_EQ_INT(unit_run_sql(db, "SELECT 1"), SQLITE_DONE);
    CHECK_STR(unit_run_state(DIRC), "ready");
    struct stat st;
    char want[64];
    stat(DF, &st);
    snprintf(want, sizeof want, "%ju %ju\n", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
    CHECK_STR(pin_word(), want);

    /* the controller writes on before any worker joins: the pin follows */
    CHECK_EQ_INT(unit_run_sql(db, "INSERT INTO test_execution(test_name) VALUES ('init')"),
                 SQLITE_DONE);
    CHECK_EQ_INT(wal_size(), 0);
    int pinned;
    CHECK_EQ_INT(shim_coord_joined_set(DIRC, unit_run.run_name), 0); /* a worker joins */
    CHECK_EQ_INT(worker_sees(&pinned), 1);
    CHECK(pinned, "the worker read the pinned datafile");

    /* from now on: the controller's writes go to the WAL, the workers' state stays */
    CHECK_EQ_INT(unit_run_sql(db, "INSERT INTO test_execution(test_name) VALUES ('run1')"),
                 SQLITE_DONE);
    CHECK_EQ_INT(unit_run_sql(db, "INSERT INTO test_execution(test_name) VALUES ('run2')"),
                 SQLITE_DONE);
    CHECK(wal_size() > 0, "the run's writes are in the WAL");
    CHECK_STR(pin_word(), want);
    CHECK_EQ_INT(worker_sees(&pinned), 1); /* a late replacement too */
    CHECK(pinned, "the late worker read the pinned datafile");
    CHECK_EQ_INT(unit_run_sql(db, "PRAGMA wal_checkpoint(TRUNCATE)"), SQLITE_DONE);
    CHECK(wal_size() > 0, "a checkpoint went through the pin");
    CHECK_EQ_INT(worker_sees(&pinned), 1);

    /* another connection of the controller while a worker runs (a plugin's): nothing changes */
    int hold[2];
    CHECK(pipe(hold) == 0, "pipe");
    pid_t w = fork();
    if (w == 0) {
        char c;
        close(hold[1]);
        _exit(read(hold[0], &c, 1) < 0);
    }
    close(hold[0]);
    char report[256];
    snprintf(report, sizeof report, "%s.worker-gw0-%ld.json", unit_run.run_name, (long)w);
    CHECK_EQ_INT(shim_coord_write(DIRC, report, "{\"format\":1}"), 0);
    sqlite3 *db3 = NULL;
    CHECK_EQ_INT(shim_controller_open(&unit_run, DF, &db3, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    CHECK_EQ_INT(unit_run_sql(db3, "SELECT 1"), SQLITE_DONE);
    CHECK_STR(pin_word(), want);
    CHECK_EQ_INT(worker_sees(&pinned), 1);
    CHECK(pinned, "the running worker's state was let go");
    CHECK_EQ_INT(shim_close(db3, sqlite3_close), SQLITE_OK);
    close(hold[1]);
    waitpid(w, NULL, 0);

    /* pytest.main() again in this process (its workers gone): a new run, its own state pinned;
     * a stray reader of the word holds the open up for a second at most */
    char pinpath[PATH_MAX + 64];
    snprintf(pinpath, sizeof pinpath, "%s/%s.db.pin", DIRC, unit_run.run_name);
    int stray = open(pinpath, O_RDONLY);
    CHECK(stray >= 0 && flock(stray, LOCK_SH) == 0, "a stray reader");
    sqlite3 *db2 = NULL;
    long long t0 = unit_now_us();
    CHECK_EQ_INT(shim_controller_open(&unit_run, DF, &db2, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    CHECK(unit_now_us() - t0 < unit_scaled_ms(3000) * 1000LL, "held up %lld us", unit_now_us() - t0);
    close(stray);
    CHECK_STR(pin_word(), "(absent)"); /* the last run's state is gone with its files */
    CHECK_EQ_INT(unit_run_sql(db2, "SELECT 1"), SQLITE_DONE);
    CHECK_STR(unit_run_state(DIRC), "ready");
    CHECK_STR(pin_word(), want);
    CHECK_EQ_INT(wal_size(), 0);
    CHECK_EQ_INT(shim_coord_joined_set(DIRC, unit_run.run_name), 0);
    CHECK_EQ_INT(worker_sees(&pinned), 3);
    CHECK(pinned, "the second run's worker read the pinned datafile");
    CHECK_EQ_INT(shim_close(db2, sqlite3_close), SQLITE_OK);

    /* at exit: counted in the run file, let go, its file removed; checkpoints run again */
    shim_controller_exit();
    cJSON *j = unit_run_file(DIRC);
    const cJSON *rep = cJSON_GetObjectItem(j, "report");
    CHECK(cJSON_GetObjectItem(rep, "pins") && cJSON_GetObjectItem(rep, "pins")->valuedouble >= 3,
          "pins counted");
    CHECK_EQ_INT(cJSON_GetObjectItem(rep, "pin_failures")
                     ? cJSON_GetObjectItem(rep, "pin_failures")->valuedouble : -1, 0);
    cJSON_Delete(j);
    CHECK_STR(pin_word(), "(absent)");
    CHECK_EQ_INT(unit_run_sql(db, "INSERT INTO test_execution(test_name) VALUES ('after')"),
                 SQLITE_DONE);
    CHECK_EQ_INT(unit_run_sql(db, "PRAGMA wal_checkpoint(TRUNCATE)"), SQLITE_DONE);
    CHECK_EQ_INT(wal_size(), 0);
    CHECK_EQ_INT(shim_close(db, sqlite3_close), SQLITE_OK);
}

/* A rollback-journal datafile (testmon 1.x) is never pinned: a pinning reader would hold every
 * writer off.  The workers copy it. */
static void rollback_not_pinned(void)
{
    sqlite3 *db = ready_controller();
    CHECK_STR(pin_word(), "");
    CHECK_EQ_INT(shim_coord_joined_set(DIRC, unit_run.run_name), 0);
    int pinned;
    CHECK_EQ_INT(worker_sees(&pinned), 0);
    CHECK(!pinned, "a copy");
    CHECK_EQ_INT(unit_run_sql(db, "INSERT INTO test_execution(test_name) VALUES ('w')"), SQLITE_DONE);
    shim_controller_exit();
    CHECK_EQ_INT(shim_close(db, sqlite3_close), SQLITE_OK);
}

int main(void)
{
    unit_watchdog(20);
    unit_real_fill();
    RUN_FORKED(fresh_database);
    RUN_FORKED(journal_intake);
    RUN_FORKED(serial_then_joined);
    RUN_FORKED(joined_flag_edges);
    RUN_FORKED(bad_directory);
    RUN_FORKED(pins_until_joined);
    RUN_FORKED(rollback_not_pinned);
    return unit_finish();
}
