/* test_role.c: who is this process, and what an open of a datafile means for it (role.c).
 * Cases that need another command line or a real parent/child pair re-execute this program
 * (/proc/self/exe) with a chosen argv[0] and UNIT_ROLE_MODE; such a child exits 0 on success or
 * with the number of the step that failed. */
#include "cmdline.h"
#include "conn.h"
#include "controller.h"
#include "coord.h"
#include "pidstat.h"
#include "dispatch.h"
#include "role.h"
#include "unit.h"
#include <sys/stat.h>

static char T[PATH_MAX];
static const struct shim_run_ctx unit_no_run; /* a run pointer to see replaced by NULL */

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ---- modes run in a re-executed child ---- */
/* What a child opens or captures, released by child_main whatever step it stopped at: the
 * handles (one in error state after a refused open, the caller's to close, as Python does) and
 * the captured message.  Leak checking (make check-asan) covers the children too. */
static sqlite3 *child_db, *child_db2;
static char *child_msg;

static int child_steps(const char *mode)
{
    const char *t = getenv("UNIT_ROLE_DIR");
    char a[PATH_MAX], b[PATH_MAX], p[PATH_MAX];
    snprintf(a, sizeof a, "%s/a/.testmondata", t);
    snprintf(b, sizeof b, "%s/b/.testmondata", t);
    if (strcmp(mode, "probe") == 0)
        return shim_cmdline_is_pytest() ? 10 : 11;
    unit_real_fill();
    if (strcmp(mode, "controller") == 0) { /* argv[0] is pytest */
        if (shim_open(a, &child_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
            return 1;
        const struct shim_run_ctx *run = NULL;
        if (shim_role_now() != SHIM_ROLE_CONTROLLER || atomic_load(&shim_conn_count) != 1 ||
            shim_role_for_open(a, SQLITE_OPEN_READWRITE, &run) != SHIM_ROLE_CONTROLLER || !run ||
            strcmp(run->datafile, a) != 0 || run->worker_id[0])
            return 2;
        char name[PATH_MAX];
        int missing;
        snprintf(p, sizeof p, "%s/a/.testmon-shim", t);
        snprintf(name, sizeof name, "%s.json", run->run_name);
        cJSON *j = shim_coord_read(p, name, &missing);
        if (!j || strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(j, "state")), "initialising"))
            return 3;
        cJSON_Delete(j);
        if (run->run.pid != getpid() || run->run.start != shim_pid_starttime(getpid()))
            return 4;
        /* another .testmondata: a bystander, nothing published for it */
        if (shim_open(b, &child_db2, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
            return 5;
        snprintf(p, sizeof p, "%s/b/.testmon-shim", t);
        if (atomic_load(&shim_conn_count) != 1 || is_dir(p) || strcmp(run->datafile, a) ||
            shim_role_now() != SHIM_ROLE_CONTROLLER)
            return 6;
        sqlite3_close(child_db2);
        child_db2 = NULL;
        /* the first datafile again, spelled as a URI: managed again */
        char uri[PATH_MAX + 32];
        snprintf(uri, sizeof uri, "file:%s?mode=rw", a);
        int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_URI;
        if (shim_open(uri, &child_db2, flags, NULL) != SQLITE_OK ||
            atomic_load(&shim_conn_count) != 2)
            return 7;
        shim_controller_forget(); /* no "finished" from the destructor */
        return 0;
    }
    if (strcmp(mode, "worker-timeout") == 0) { /* our parent published "initialising" */
        long long t0 = unit_now_us();
        struct unit_capture cap = unit_capture_start(2);
        int rc = shim_open(a, &child_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
        char *msg = child_msg = unit_capture_end(&cap);
        long long us = unit_now_us() - t0;
        if (rc != SQLITE_CANTOPEN)
            return 1;
        if (!child_db || sqlite3_errcode(child_db) == SQLITE_OK)
            return 2; /* a handle in error state, as Python expects */
        if (!strstr(msg, "did not publish ready"))
            return 3;
        if (us < 250000 || us > 2000000)
            return 4;
        if (shim_role_now() != SHIM_ROLE_WORKER || atomic_load(&shim_conn_count) != 0)
            return 5;
        return 0;
    }
    if (strcmp(mode, "worker-find") == 0) { /* our parent published a run, or only stale ones */
        setenv("PYTEST_XDIST_WORKER", "gw1", 1);
        snprintf(a, sizeof a, "%s/d/.testmondata", t);
        const struct shim_run_ctx *run = NULL;
        if (shim_role_for_open(a, SQLITE_OPEN_READWRITE, &run) != SHIM_ROLE_WORKER || !run ||
            strcmp(run->worker_id, "gw1") != 0 || run->run.pid != getppid())
            return 1;
        unsigned long long want = strtoull(getenv("UNIT_WANT_START"), NULL, 10);
        cJSON *out = NULL;
        long waited;
        long long us;
        enum shim_wait_result w =
            shim_coord_wait_ready(run->dir, &run->run, 1000, &out, &waited, &us);
        cJSON_Delete(out);
        if (want) /* found by our parent's pid, named with the start it read of itself */
            return run->run.start != want ? 2 : w != SHIM_WAIT_READY ? 3 : 0;
        /* only a stale run of an earlier process with our parent's pid: none of our parent */
        if (run->run.start != shim_pid_starttime(getppid()))
            return 4;
        return w != SHIM_WAIT_MISSING ? 5 : 0;
    }
    return 99;
}

static int child_main(const char *mode)
{
    int rc = child_steps(mode);
    sqlite3_close(child_db); /* the real sqlite3_close: this program links no wrappers */
    sqlite3_close(child_db2);
    free(child_msg);
    return rc;
}

static int spawn(const char *mode, char *const argv[], const char *extra_env)
{
    pid_t pid = fork();
    if (pid == 0) {
        setenv("UNIT_ROLE_MODE", mode, 1);
        setenv("UNIT_ROLE_DIR", T, 1);
        if (extra_env)
            putenv((char *)extra_env);
        execv("/proc/self/exe", argv);
        _exit(98);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void test_pytest_detection(void)
{
    CHECK(!shim_cmdline_is_pytest(), "this test program is not pytest");
    char *const a1[] = {"pytest", "-n", "2", NULL};
    char *const a2[] = {"/usr/local/bin/py.test", NULL};
    char *const a3[] = {"python3", "-m", "pytest", "-p", "xdist", NULL};
    char *const a4[] = {"/venv/bin/pytest", "tests/", NULL};
    char *const n1[] = {"python3", "script.py", NULL};
    char *const n2[] = {"/usr/bin/git", "status", NULL};
    CHECK_EQ_INT(spawn("probe", a1, NULL), 10);
    CHECK_EQ_INT(spawn("probe", a2, NULL), 10);
    CHECK_EQ_INT(spawn("probe", a3, NULL), 10);
    CHECK_EQ_INT(spawn("probe", a4, NULL), 10);
    CHECK_EQ_INT(spawn("probe", n1, NULL), 11);
    CHECK_EQ_INT(spawn("probe", n2, NULL), 11);
}

static void test_other_files_pass_through(void)
{
    char p[PATH_MAX];
    sqlite3 *db = NULL;
    snprintf(p, sizeof p, "%s/other.db", T);
    CHECK_EQ_INT(shim_open(p, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL), SQLITE_OK);
    CHECK_EQ_INT(shim_role_now(), SHIM_ROLE_NONE);
    CHECK_EQ_INT(sqlite3_db_readonly(db, "main"), 0);
    sqlite3_close(db);
    errno = 4242;
    CHECK_EQ_INT(shim_open(":memory:", &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    CHECK_EQ_INT(errno, 4242);
    sqlite3_close(db);
    CHECK_EQ_INT(shim_role_now(), SHIM_ROLE_NONE);
}

/* not pytest, not a worker: a bystander; the first datafile stays the datafile */
static void test_bystander(void)
{
    char a[PATH_MAX], b[PATH_MAX], d[PATH_MAX];
    snprintf(a, sizeof a, "%s/a/.testmondata", T);
    snprintf(b, sizeof b, "%s/b/.testmondata", T);
    sqlite3 *db = NULL;
    errno = 4242;
    CHECK_EQ_INT(shim_open(a, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL), SQLITE_OK);
    CHECK_EQ_INT(errno, 4242);
    CHECK_EQ_INT(shim_role_now(), SHIM_ROLE_BYSTANDER);
    const struct shim_run_ctx *run = &unit_no_run;
    CHECK_EQ_INT(shim_role_for_open(a, SQLITE_OPEN_READWRITE, &run), SHIM_ROLE_BYSTANDER);
    CHECK(run == NULL, "a bystander has no run");
    CHECK_EQ_INT(atomic_load(&shim_conn_count), 0);
    CHECK_EQ_INT(sqlite3_db_readonly(db, "main"), 0);
    snprintf(d, sizeof d, "%s/a/.testmon-shim", T);
    CHECK(!is_dir(d), "a bystander publishes nothing");
    sqlite3_close(db);
    CHECK_EQ_INT(shim_open(b, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL), SQLITE_OK);
    CHECK_EQ_INT(shim_role_now(), SHIM_ROLE_BYSTANDER);
    sqlite3_close(db);
    shim_role_reset();
    CHECK_EQ_INT(shim_role_now(), SHIM_ROLE_NONE);
}

static void test_controller(void)
{
    char *const argv[] = {"pytest", "-p", "testmon", NULL};
    CHECK_EQ_INT(spawn("controller", argv, NULL), 0);
}

/* an xdist worker whose parent never published a run steps aside and opens normally */
static void worker_without_run(void)
{
    char a[PATH_MAX], c[PATH_MAX];
    snprintf(c, sizeof c, "%s/c", T);
    mkdir(c, 0700);
    snprintf(a, sizeof a, "%s/.testmondata", c);
    setenv("PYTEST_XDIST_WORKER", "gw3", 1);
    sqlite3 *db = NULL;
    CHECK_EQ_INT(shim_open(a, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL), SQLITE_OK);
    CHECK_EQ_INT(shim_role_now(), SHIM_ROLE_BYSTANDER);
    CHECK_EQ_INT(sqlite3_db_readonly(db, "main"), 0);
    CHECK_EQ_INT(atomic_load(&shim_conn_count), 0);
    sqlite3_close(db);
}

/* a worker whose controller (this process) stays initialising is refused after the timeout */
static void test_worker_refused(void)
{
    char a[PATH_MAX], dir[PATH_MAX];
    snprintf(a, sizeof a, "%s/a/.testmondata", T);
    snprintf(dir, sizeof dir, "%s/a/.testmon-shim", T);
    mkdir(dir, 0700);
    struct shim_run self = {getpid(), shim_pid_starttime(getpid())};
    char name[128], text[PATH_MAX + 64];
    shim_run_name(&self, name, sizeof name);
    strcat(name, ".json");
    snprintf(text, sizeof text, "{\"format\":1,\"state\":\"initialising\",\"datafile\":\"%s\"}", a);
    CHECK_EQ_INT(shim_coord_write(dir, name, text), 0);
    char *const argv[] = {"python3", "-c", "import xdist", NULL};
    static char env[] = "TESTMON_SHIM_TIMEOUT=0.3";
    setenv("PYTEST_XDIST_WORKER", "gw1", 1);
    CHECK_EQ_INT(spawn("worker-timeout", argv, env), 0);
    unsetenv("PYTEST_XDIST_WORKER");
}

/* The worker names its controller's run as the controller did, although they read the
 * controller's start time differently (qemu-user: the controller's own reading is a few ticks
 * later), and still passes over a stale run of an earlier process with the same pid. */
static void test_worker_finds_run(void)
{
    char d[PATH_MAX], dir[PATH_MAX], a[PATH_MAX], name[128], stale[128], text[PATH_MAX + 64];
    snprintf(d, sizeof d, "%s/d", T);
    mkdir(d, 0700);
    snprintf(a, sizeof a, "%s/.testmondata", d);
    snprintf(dir, sizeof dir, "%s/.testmon-shim", d);
    mkdir(dir, 0700);
    snprintf(text, sizeof text, "{\"format\":1,\"state\":\"ready\",\"datafile\":\"%s\"}", a);
    /* a run of a dead process that had this pid before us */
    struct shim_run old = {getpid(), 1};
    shim_run_name(&old, stale, sizeof stale);
    strcat(stale, ".json");
    CHECK_EQ_INT(shim_coord_write(dir, stale, text), 0);
    char *const argv[] = {"python3", "-m", "xdist", NULL};
    CHECK_EQ_INT(spawn("worker-find", argv, "UNIT_WANT_START=0"), 0);
    /* our run, with the start time we read of ourselves plus 4 ticks, as under qemu-user */
    struct shim_run self = {getpid(), shim_pid_starttime(getpid()) + 4};
    shim_run_name(&self, name, sizeof name);
    strcat(name, ".json");
    CHECK_EQ_INT(shim_coord_write(dir, name, text), 0);
    static char want[64];
    snprintf(want, sizeof want, "UNIT_WANT_START=%llu", self.start);
    CHECK_EQ_INT(spawn("worker-find", argv, want), 0);
}

int main(void)
{
    const char *mode = getenv("UNIT_ROLE_MODE");
    if (mode)
        return child_main(mode);
    unit_watchdog(20);
    unit_real_fill();
    snprintf(T, sizeof T, "%s", unit_tmpdir());
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/a", T);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/b", T);
    mkdir(p, 0700);
    RUN(test_pytest_detection);
    RUN(test_other_files_pass_through);
    RUN(test_bystander);
    RUN(test_controller);
    RUN_FORKED(worker_without_run);
    RUN(test_worker_refused);
    RUN(test_worker_finds_run);
    return unit_finish();
}
