/* test_worker.c: controller and worker end to end, in process (worker.c, controller.c,
 * dispatch.c, journal.c).  This process is the controller; a forked child acts as worker gw0.
 * SQL goes through dispatch.c's shim_prepare/shim_step, as the exported wrappers would send it. */
#include "controller.h"
#include "coord.h"
#include "dispatch.h"
#include "role.h"
#include "settings.h"
#include "worker.h"
#include "runcopy.h"
#include "unit.h"
#include "runfile.h"
#include "../common/testdb.h"
#include <dirent.h>

static char T[PATH_MAX], DF[PATH_MAX], DIRC[PATH_MAX];
static long long ctl_env_rowid; /* what the controller got for its environment insert */

static const char *const SCHEMA =
    TESTDB_SCHEMA TESTDB_ROWS
    "INSERT INTO environment VALUES (5, 'old', 'pk-c', '3.8');"
    "PRAGMA user_version = 7;";

static long long query_int(sqlite3 *db, const char *sql) { return testdb_int(db, sql, -999); }

static double query_double(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    double v = -999;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* A plain read-write connection that bypasses the shim (the file as anyone else sees it). */
static double file_double(const char *sql)
{
    sqlite3 *db;
    sqlite3_open_v2(DF, &db, SQLITE_OPEN_READWRITE, NULL);
    double v = query_double(db, sql);
    sqlite3_close(db);
    return v;
}
static long long file_int(const char *sql)
{
    sqlite3 *db;
    sqlite3_open_v2(DF, &db, SQLITE_OPEN_READWRITE, NULL);
    long long v = query_int(db, sql);
    sqlite3_close(db);
    return v;
}

static int journal_files(void)
{
    DIR *d = opendir(DIRC);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strstr(e->d_name, ".journal-") != NULL;
    if (d)
        closedir(d);
    return n;
}


/* In a forked child: set up as role.c does for a worker whose parent is the controller, with
 * TESTMON_SHIM_TIMEOUT=5 at load. */
static void become_worker(const char *id)
{
    unit_as_run(DF, id);
    setenv("TESTMON_SHIM_TIMEOUT", "5", 1);
    shim_settings_capture();
}

static void worker_side(void)
{
    /* init.c's atfork handler has reset the role and forgotten the parent's connections */
    CHECK_EQ_INT(shim_role_now(), SHIM_ROLE_NONE);
    CHECK_EQ_INT(atomic_load(&shim_conn_count), 0);
    become_worker("gw0");

    size_t len0;
    char *bytes0 = unit_read_file(DF, &len0);
    sqlite3 *db = NULL;
    int rc = shim_worker_open(&unit_run, DF, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    CHECK_EQ_INT(rc, SQLITE_OK);
    if (rc != SQLITE_OK)
        return;
    CHECK_EQ_INT(sqlite3_db_readonly(db, "main"), 1);
    struct shim_conn *c = shim_conn_find(db);
    CHECK(c && c->kind == SHIM_CONN_WORKER, "managed as a worker");

    /* environment: the rows the controller saw before it wrote */
    CHECK_EQ_INT(query_int(db, "SELECT count(*) FROM environment"), 3);
    CHECK_EQ_INT(unit_run_sql(db, "INSERT INTO environment(environment_name, system_packages, "
                         "python_version) VALUES ('new', 'pk-n', '3.12')"), SQLITE_DONE);
    CHECK_EQ_INT(sqlite3_last_insert_rowid(db), ctl_env_rowid);
    CHECK_EQ_INT(unit_run_sql(db, "INSERT INTO environment(environment_name, system_packages, "
                         "python_version) VALUES ('default', 'pk-a', '3.11')"), SQLITE_CONSTRAINT);
    CHECK_EQ_INT(sqlite3_extended_errcode(db), SQLITE_CONSTRAINT_UNIQUE);
    CHECK_EQ_INT(journal_files(), 0); /* the worker's environment is its own business */

    /* a write to test_execution: copied on first write, journaled, handed over after commit;
     * committed, it leaves the worker's view: the worker reads the run's state again, as every
     * other worker does (worker.h, the rule) */
    CHECK_EQ_INT(unit_run_sql(db, "UPDATE test_execution SET duration = 9.5 WHERE id = 1"), SQLITE_DONE);
    CHECK(query_double(db, "SELECT duration FROM test_execution WHERE id = 1") == 0.5,
          "a committed write leaves the worker's view");
    CHECK_EQ_INT(query_int(db, "SELECT count(*) FROM temp.sqlite_master WHERE type = 'view' "
                               "AND name = 'test_execution'"), 1);
    CHECK_EQ_INT(query_int(db, "SELECT duration FROM temp.testmon_shim_own_test_execution "
                               "WHERE id = 1"), 9); /* set aside, not lost */
    CHECK(file_double("SELECT duration FROM test_execution WHERE id = 1") == 0.5,
          "a read-write reader still sees the old value");
    CHECK_EQ_INT(journal_files(), 1);

    /* scratch tables are not handed over */
    CHECK_EQ_INT(unit_run_sql(db, "INSERT INTO mcall_id(name) VALUES ('scratch')"), SQLITE_DONE);
    CHECK_EQ_INT(query_int(db, "SELECT count(*) FROM mcall_id"), 1);
    CHECK_EQ_INT(journal_files(), 1);

    /* a rolled-back write is not handed over */
    CHECK_EQ_INT(unit_run_sql(db, "BEGIN"), SQLITE_DONE);
    CHECK_EQ_INT(unit_run_sql(db, "UPDATE test_execution SET failed = 1 WHERE id = 2"), SQLITE_DONE);
    CHECK_EQ_INT(unit_run_sql(db, "ROLLBACK"), SQLITE_DONE);
    CHECK_EQ_INT(journal_files(), 1);

    /* in an explicit transaction: the worker sees its own writes until COMMIT, which hands them
     * over; the copy taken back still holds the first transaction's rows, so a new row gets the
     * rowid the controller will expect after replaying both journals */
    CHECK_EQ_INT(unit_run_sql(db, "BEGIN"), SQLITE_DONE);
    CHECK_EQ_INT(unit_run_sql(db, "INSERT INTO test_execution(environment_id, test_name, duration, failed, "
                         "forced) VALUES (6, 'w::new', 0.25, 0, 0)"), SQLITE_DONE);
    CHECK_EQ_INT(sqlite3_last_insert_rowid(db), 4);
    CHECK(query_double(db, "SELECT duration FROM test_execution WHERE id = 1") == 9.5,
          "inside its transaction the worker sees its earlier write again");
    CHECK_EQ_INT(query_int(db, "SELECT count(*) FROM test_execution"), 4);
    CHECK_EQ_INT(journal_files(), 1);
    CHECK_EQ_INT(unit_run_sql(db, "COMMIT"), SQLITE_DONE);
    CHECK_EQ_INT(journal_files(), 2);
    CHECK_EQ_INT(query_int(db, "SELECT count(*) FROM test_execution"), 3);
    CHECK_EQ_INT(query_int(db, "SELECT count(*) FROM test_execution WHERE test_name = 'w::new'"), 0);

    /* a statement still reading the copy when the transaction commits does not keep it: the
     * view is back at once, and the reader finishes on what it had */
    sqlite3_stmt *rd = NULL;
    CHECK_EQ_INT(unit_run_sql(db, "BEGIN"), SQLITE_DONE);
    CHECK_EQ_INT(unit_run_sql(db, "UPDATE test_execution SET failed = 1 WHERE id = 2"), SQLITE_DONE);
    CHECK_EQ_INT(shim_prepare(SHIM_PREPARE_V2, db, "SELECT id FROM test_execution", -1, 0, &rd,
                              NULL), SQLITE_OK);
    CHECK_EQ_INT(shim_step(rd, sqlite3_step), SQLITE_ROW);
    CHECK_EQ_INT(unit_run_sql(db, "COMMIT"), SQLITE_DONE);
    CHECK_EQ_INT(query_int(db, "SELECT count(*) FROM temp.sqlite_master WHERE type = 'view' "
                               "AND name = 'test_execution'"), 1);
    CHECK_EQ_INT(query_int(db, "SELECT failed FROM test_execution WHERE id = 2"), 0);
    sqlite3_finalize(rd);
    CHECK_EQ_INT(unit_run_sql(db, "UPDATE test_execution SET failed = 0 WHERE id = 2"), SQLITE_DONE);
    CHECK_EQ_INT(journal_files(), 4);

    /* a statement prepared against the copy and stepped again once the view is back (Python
     * keeps prepared statements in a cache): SQLite re-prepares it against the view and refuses;
     * the shim takes the copy back and the statement runs */
    sqlite3_stmt *ins = NULL;
    CHECK_EQ_INT(unit_run_sql(db, "BEGIN"), SQLITE_DONE);
    CHECK_EQ_INT(shim_prepare(SHIM_PREPARE_V2, db, "INSERT INTO test_execution(environment_id, "
                              "test_name, duration, failed, forced) VALUES (6, ?, 0.5, 0, 0)", -1,
                              0, &ins, NULL), SQLITE_OK);
    sqlite3_bind_text(ins, 1, "w::cached1", -1, SQLITE_STATIC);
    CHECK_EQ_INT(shim_step(ins, sqlite3_step), SQLITE_DONE);
    CHECK_EQ_INT(unit_run_sql(db, "COMMIT"), SQLITE_DONE);
    CHECK_EQ_INT(journal_files(), 5);
    CHECK_EQ_INT(query_int(db, "SELECT count(*) FROM temp.sqlite_master WHERE type = 'view' "
                               "AND name = 'test_execution'"), 1);
    sqlite3_reset(ins);
    sqlite3_bind_text(ins, 1, "w::cached2", -1, SQLITE_STATIC);
    CHECK_EQ_INT(shim_step(ins, sqlite3_step), SQLITE_DONE);
    CHECK_EQ_INT(sqlite3_last_insert_rowid(db), 6);
    sqlite3_finalize(ins);
    CHECK_EQ_INT(journal_files(), 6);
    CHECK_EQ_INT(query_int(db, "SELECT count(*) FROM test_execution"), 3);

    /* the file itself was never written */
    size_t len1;
    char *bytes1 = unit_read_file(DF, &len1);
    CHECK(len0 == len1 && memcmp(bytes0, bytes1, len0) == 0, "datafile bytes unchanged");
    free(bytes0), free(bytes1);
    CHECK_EQ_INT(shim_close(db, sqlite3_close), SQLITE_OK);
    CHECK_EQ_INT(atomic_load(&shim_conn_count), 0);
    CHECK_EQ_INT(journal_files(), 6); /* nothing pending at close */
}

/* Many workers open the run's copy at the same moment, none open before: each one's first read
 * of a WAL file whose index another is still rebuilding must wait (SQLite says "database is
 * locked" to a connection without a busy handler), not fail.  Python sets its own busy timeout
 * only once sqlite3_open_v2 has returned, after the shim's shadows. */
static void workers_at_once(void)
{
    enum { N = 8, ROUNDS = 5 };
    int bad = 0;
    for (int round = 0; round < ROUNDS; round++) {
        /* a fresh copy, as its maker leaves it: no -wal, no -shm */
        shim_runcopy_remove(DIRC, unit_run.run_name);
        char copy[PATH_MAX], shm[PATH_MAX + 8];
        long ms;
        CHECK_EQ_INT(shim_runcopy_get(DIRC, unit_run.run_name, DF, 0, 5000, copy, sizeof copy, &ms),
                     SHIM_RUNCOPY_MADE);
        snprintf(shm, sizeof shm, "%s-shm", copy);
        CHECK(access(shm, F_OK) != 0, "the maker leaves no -shm");
        int go[2], res[2];
        CHECK(pipe(go) == 0 && pipe(res) == 0, "pipes");
        pid_t kids[N];
        for (int i = 0; i < N; i++) {
            if ((kids[i] = fork()) == 0) {
                close(go[1]);
                char id[8], b;
                snprintf(id, sizeof id, "gw%d", i);
                become_worker(id);
                ssize_t r = read(go[0], &b, 1); /* all start together */
                (void)r;
                struct unit_capture cap = unit_capture_start(2);
                sqlite3 *db = NULL;
                int rc = shim_worker_open(&unit_run, DF, &db, SQLITE_OPEN_READWRITE, NULL);
                long long n = rc == SQLITE_OK ? query_int(db, "SELECT count(*) FROM environment")
                                               : -1;
                char *err = unit_capture_end(&cap);
                int ok = rc == SQLITE_OK && n == 3 && !err[0];
                if (!ok)
                    unit_printf("%s: open %d, %lld environment rows, stderr: %s\n", id, rc, n,
                                err);
                ssize_t w = write(res[1], &ok, sizeof ok);
                (void)w;
                _exit(0);
            }
        }
        close(go[0]);
        close(res[1]);
        close(go[1]); /* EOF releases them all */
        int ok, got = 0;
        while (read(res[0], &ok, sizeof ok) == (ssize_t)sizeof ok) {
            got++;
            bad += !ok;
        }
        close(res[0]);
        for (int i = 0; i < N; i++)
            waitpid(kids[i], NULL, 0);
        CHECK_EQ_INT(got, N);
    }
    CHECK_EQ_INT(bad, 0);
}

/* The same, made certain: another process holds the copy locked for 300 ms while a worker
 * opens it; the worker waits (within TESTMON_SHIM_TIMEOUT) instead of failing its shadows. */
static void worker_waits_out_a_lock(void)
{
    shim_runcopy_remove(DIRC, unit_run.run_name);
    char copy[PATH_MAX];
    long ms;
    CHECK_EQ_INT(shim_runcopy_get(DIRC, unit_run.run_name, DF, 0, 5000, copy, sizeof copy, &ms),
                 SHIM_RUNCOPY_MADE);
    int held[2];
    CHECK(pipe(held) == 0, "pipe");
    pid_t holder = fork();
    if (holder == 0) {
        sqlite3 *h = NULL;
        sqlite3_open_v2(copy, &h, SQLITE_OPEN_READWRITE, NULL);
        int rc = sqlite3_exec(h, "PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; "
                                 "SELECT count(*) FROM environment;", NULL, NULL, NULL);
        ssize_t w = write(held[1], &rc, sizeof rc);
        (void)w;
        unit_sleep_ms(300);
        sqlite3_exec(h, "COMMIT", NULL, NULL, NULL);
        sqlite3_close(h);
        _exit(0);
    }
    int hrc = -1;
    CHECK(read(held[0], &hrc, sizeof hrc) == (ssize_t)sizeof hrc && hrc == SQLITE_OK,
          "the copy is held (%d)", hrc);
    pid_t w = fork();
    if (w == 0) {
        become_worker("gw5");
        struct unit_capture cap = unit_capture_start(2);
        sqlite3 *db = NULL;
        int rc = shim_worker_open(&unit_run, DF, &db, SQLITE_OPEN_READWRITE, NULL);
        long long n = rc == SQLITE_OK ? query_int(db, "SELECT count(*) FROM environment") : -1;
        char *err = unit_capture_end(&cap);
        if (rc != SQLITE_OK || n != 3 || err[0])
            unit_printf("open %d, %lld environment rows, stderr: %s\n", rc, n, err);
        _exit(rc == SQLITE_OK && n == 3 && !err[0] ? 0 : 1);
    }
    int st = -1;
    waitpid(w, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the worker waited out the lock (status 0x%x)",
          st);
    waitpid(holder, NULL, 0);
    close(held[0]);
    close(held[1]);
}

static void test_end_to_end(void)
{
    snprintf(T, sizeof T, "%s", unit_tmpdir());
    snprintf(DF, sizeof DF, "%s/.testmondata", T);
    sqlite3 *setup;
    sqlite3_open(DF, &setup);
    CHECK_EQ_INT(sqlite3_exec(setup, SCHEMA, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(setup);

    /* the controller, set up as role.c does */
    unit_as_run(DF, NULL);
    snprintf(DIRC, sizeof DIRC, "%s", unit_run.dir);

    sqlite3 *db = NULL;
    CHECK_EQ_INT(shim_controller_open(&unit_run, DF, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                 SQLITE_OK);
    struct stat st;
    CHECK(stat(DIRC, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700,
          "coordination directory next to the datafile, mode 0700");
    cJSON *j = unit_run_file(DIRC);
    CHECK(j != NULL, "run file published at open");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "state")), "initialising");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "datafile")), DF);
    const cJSON *ctl = cJSON_GetObjectItem(j, "controller");
    CHECK_EQ_INT(cJSON_GetObjectItem(ctl, "pid") ? cJSON_GetObjectItem(ctl, "pid")->valuedouble : 0,
                 getpid());
    const cJSON *env = cJSON_GetObjectItem(j, "environment");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(env, "present")), "environment snapshot present");
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(env, "rows")), 3);
    char *cols = cJSON_PrintUnformatted(cJSON_GetObjectItem(env, "columns"));
    CHECK_STR(cols, "[\"id\",\"environment_name\",\"system_packages\",\"python_version\"]");
    free(cols);
    CHECK_EQ_INT(cJSON_GetObjectItem(j, "data_version")
                     ? cJSON_GetObjectItem(j, "data_version")->valuedouble : -1, 7);
    cJSON_Delete(j);

    /* ready once idle: not on a ROW, on the step that finishes */
    sqlite3_stmt *q = NULL;
    CHECK_EQ_INT(shim_prepare(SHIM_PREPARE_V2, db, "SELECT count(*) FROM test_execution", -1, 0,
                              &q, NULL), SQLITE_OK);
    CHECK_EQ_INT(shim_step(q, sqlite3_step), SQLITE_ROW);
    CHECK_STR(unit_run_state(DIRC), "initialising");
    CHECK_EQ_INT(shim_step(q, sqlite3_step), SQLITE_DONE);
    CHECK_STR(unit_run_state(DIRC), "ready");
    sqlite3_finalize(q);

    /* the controller writes after its snapshot */
    CHECK_EQ_INT(unit_run_sql(db, "INSERT INTO environment(environment_name, system_packages, "
                         "python_version) VALUES ('new', 'pk-n', '3.12')"), SQLITE_DONE);
    ctl_env_rowid = sqlite3_last_insert_rowid(db);
    CHECK_EQ_INT(ctl_env_rowid, 6);

    RUN_FORKED(worker_side);

    /* the worker's changes wait in journal files until the controller's next write */
    CHECK_EQ_INT(journal_files(), 6);
    CHECK(file_double("SELECT duration FROM test_execution WHERE id = 1") == 0.5, "not yet");
    CHECK_EQ_INT(unit_run_sql(db, "INSERT INTO test_execution(environment_id, test_name, duration, failed, "
                         "forced) VALUES (6, 'c::own', 1.5, 0, 0)"), SQLITE_DONE);
    CHECK_EQ_INT(sqlite3_last_insert_rowid(db), 7); /* after the worker's rows 4, 5 and 6 */
    CHECK_EQ_INT(file_int("SELECT count(*) FROM test_execution WHERE id IN (5, 6) AND test_name "
                          "LIKE 'w::cached_'"), 2);
    CHECK_EQ_INT(journal_files(), 0);
    CHECK(file_double("SELECT duration FROM test_execution WHERE id = 1") == 9.5,
          "the worker's update landed");
    CHECK_EQ_INT(file_int("SELECT count(*) FROM test_execution WHERE id = 4 AND test_name = "
                          "'w::new' AND environment_id = 6 AND duration = 0.25"), 1);
    CHECK_EQ_INT(file_int("SELECT failed FROM test_execution WHERE id = 2"), 0); /* rolled back */
    CHECK_EQ_INT(file_int("SELECT count(*) FROM mcall_id"), 0);                 /* scratch */
    CHECK_EQ_INT(file_int("SELECT count(*) FROM environment"), 4);

    workers_at_once();
    worker_waits_out_a_lock();

    /* finished at exit; then closed and forgotten */
    shim_controller_exit();
    CHECK_STR(unit_run_state(DIRC), "finished");
    CHECK_EQ_INT(shim_close(db, sqlite3_close), SQLITE_OK);
    CHECK_EQ_INT(atomic_load(&shim_conn_count), 0);
}

int main(void)
{
    unit_watchdog(20);
    unit_real_fill();
    RUN(test_end_to_end);
    return unit_finish();
}
