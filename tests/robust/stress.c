/* stress.c (built as pytest_stress, so the shim takes it for a pytest controller; a sqlite3
 * module through tests/common/sqlite3mod.h, so its own calls are the managed ones): threads step
 * statements on the managed datafile connection and on unmanaged connections while the main
 * thread forks; every child uses SQLite on its own (a fresh connection, a fresh role) and exits
 * with its verdict.  Run with the shim preloaded, also under TSan.
 * Two kinds of children:
 *  - fork + exec (what subprocess and xdist's execnet do): forked while the threads are inside
 *    SQLite and the shim, the child runs only the shim's atfork handler before exec'ing this
 *    program again as `child`, which then uses SQLite with the shim preloaded;
 *  - plain fork, the child using SQLite at once: SQLite itself is not fork-safe while another
 *    thread is inside it (its global mutexes, e.g. the allocator's, stay locked in the child:
 *    observed as a hang in sqlite3Malloc), so these forks happen at a gate that the threads hold
 *    (shared) around every SQLite call, their opens and closes included, and that favours the
 *    forking writer; the threads exit only after the last fork (a sanitizer runtime's thread
 *    teardown takes its allocator's locks).  The shim's own state (role, managed connections,
 *    locks) must still be reset in the child.
 * Nothing waits unbounded: every child has its own alarm (it survives exec) and the parent one for
 * the whole run; either reports what hung.
 *   pytest_stress DIR [LOG]     ($STRESS_ROUNDS statements per thread, default 200)
 * Exit status 0 and the line "N passed, N failed" when every thread and child did its work. */
#include "../common/sqlite3mod.h"
#include "../common/testdb.h"
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[4096];
static sqlite3 *managed;
static int rounds = 200;
static atomic_int errors;
static pthread_rwlock_t gate;        /* shared: a thread inside SQLite; exclusive: a gated fork */
static pthread_barrier_t forks_done; /* the threads exit after the last fork */
static volatile sig_atomic_t stage;  /* the fork in progress (k + 1), for the alarm's report */
static volatile pid_t current_child;
#define CHILD_ALARM 60 /* s: a child normally takes well under one */
#define RUN_ALARM 180  /* s: the whole run normally takes a few */

static int exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    int rc;
    for (int tries = 0; tries < 200; tries++) {
        rc = sqlite3_exec(db, sql, NULL, NULL, &err);
        sqlite3_free(err);
        err = NULL;
        if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
            break;
        usleep(1000);
    }
    return rc;
}

static long long count(sqlite3 *db, const char *sql) { return testdb_int(db, sql, -1); }

static void *managed_thread(void *arg)
{
    long id = (long)arg;
    for (int i = 0; i < rounds; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "INSERT INTO test_execution(test_name) VALUES ('t%ld-%d')", id, i);
        pthread_rwlock_rdlock(&gate);
        int bad = exec(managed, sql) != SQLITE_OK ||
                  count(managed, "SELECT count(*) FROM test_execution") < 1;
        if (bad)
            fprintf(stderr, "managed thread %ld: %s\n", id, sqlite3_errmsg(managed));
        pthread_rwlock_unlock(&gate);
        if (bad) {
            atomic_fetch_add(&errors, 1);
            break;
        }
    }
    pthread_barrier_wait(&forks_done);
    return NULL;
}

static void *unmanaged_thread(void *arg)
{
    long id = (long)arg;
    char path[4200];
    snprintf(path, sizeof path, "%s/other-%ld.db", dir, id);
    sqlite3 *db = NULL;
    pthread_rwlock_rdlock(&gate);
    int bad = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
                  SQLITE_OK ||
              exec(db, "CREATE TABLE IF NOT EXISTS x(v)") != SQLITE_OK;
    pthread_rwlock_unlock(&gate);
    if (bad)
        atomic_fetch_add(&errors, 1);
    for (int i = 0; i < rounds && !bad; i++) {
        pthread_rwlock_rdlock(&gate);
        bad = exec(db, "INSERT INTO x VALUES (randomblob(8))") != SQLITE_OK ||
              count(db, "SELECT count(*) FROM x") != i + 1;
        pthread_rwlock_unlock(&gate);
        if (bad)
            atomic_fetch_add(&errors, 1);
    }
    pthread_rwlock_rdlock(&gate);
    sqlite3_close(db);
    pthread_rwlock_unlock(&gate);
    pthread_barrier_wait(&forks_done);
    return NULL;
}

/* a forked child: its own connections only (the parent's are not usable after fork) */
static int child(int k)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/child-%d.db", dir, k);
    sqlite3 *db = NULL, *mem = NULL;
    int ok = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) == SQLITE_OK &&
             exec(db, "CREATE TABLE c(v); INSERT INTO c VALUES (1), (2)") == SQLITE_OK &&
             count(db, "SELECT sum(v) FROM c") == 3 &&
             sqlite3_open(":memory:", &mem) == SQLITE_OK &&
             exec(mem, "CREATE TABLE m(v); INSERT INTO m VALUES (5)") == SQLITE_OK &&
             count(mem, "SELECT v FROM m") == 5;
    /* and the datafile, which in the child is a first open again: it must not hang or fail */
    sqlite3 *df = NULL;
    snprintf(path, sizeof path, "%s/.testmondata", dir);
    ok = ok && sqlite3_open_v2(path, &df, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
         count(df, "SELECT count(*) >= 0 FROM test_execution") == 1;
    sqlite3_close(df);
    sqlite3_close(mem);
    sqlite3_close(db);
    return ok ? 0 : 1;
}

/* The parent's alarm: say where it hung, take the child along, fail. */
static void on_alarm(int sig)
{
    (void)sig;
    char msg[] = "stress: hung, still running at the run's alarm (fork ? of 8 in progress; 0: "
                 "none, the threads)\n0 passed, 1 failed\n";
    *strchr(msg, '?') = (char)('0' + stage);
    if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) {
    }
    if (current_child > 0)
        kill(current_child, SIGKILL);
    _exit(3);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR [LOG]\n", argv[0]);
        return 2;
    }
    snprintf(dir, sizeof dir, "%s", argv[1]);
    if (argc > 3 && strcmp(argv[2], "child") == 0)
        return child(atoi(argv[3]));
    if (getenv("STRESS_ROUNDS"))
        rounds = atoi(getenv("STRESS_ROUNDS"));
    signal(SIGALRM, on_alarm);
    alarm(RUN_ALARM);
    pthread_rwlockattr_t ga;
    pthread_rwlockattr_init(&ga);
    /* the default lets the threads' overlapping shared holds starve the fork until they end */
    pthread_rwlockattr_setkind_np(&ga, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&gate, &ga);
    pthread_barrier_init(&forks_done, NULL, 5);
    char path[4200];
    snprintf(path, sizeof path, "%s/.testmondata", dir);
    if (sqlite3_open_v2(path, &managed, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK ||
        exec(managed, "PRAGMA journal_mode = WAL; CREATE TABLE IF NOT EXISTS test_execution("
                      "id INTEGER PRIMARY KEY, test_name TEXT)") != SQLITE_OK) {
        fprintf(stderr, "cannot set up %s\n", path);
        return 2;
    }
    sqlite3_busy_timeout(managed, 10000);
    pthread_t th[4];
    for (long i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, managed_thread, (void *)i);
    for (long i = 2; i < 4; i++)
        pthread_create(&th[i], NULL, unmanaged_thread, (void *)i);
    int children = 0, bad_children = 0;
    for (int k = 0; k < 8; k++) {
        stage = k + 1;
        fflush(NULL);
        int gated = k % 2;
        if (gated)
            pthread_rwlock_wrlock(&gate);
        pid_t pid = fork();
        if (pid == 0) {
            signal(SIGALRM, SIG_DFL);
            alarm(CHILD_ALARM); /* kept across exec */
        }
        if (pid == 0 && gated)
            _exit(child(k));
        if (pid == 0) {
            char num[16];
            snprintf(num, sizeof num, "%d", k);
            execl("/proc/self/exe", argv[0], dir, "child", num, (char *)NULL);
            _exit(127);
        }
        if (gated)
            pthread_rwlock_unlock(&gate);
        if (pid > 0) {
            current_child = pid;
            children++;
            int st;
            waitpid(pid, &st, 0);
            current_child = 0;
            if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM) {
                bad_children++;
                fprintf(stderr, "child %d (%s): hung, killed by its %d s alarm\n", k,
                        gated ? "forked at the gate" : "fork + exec", CHILD_ALARM);
            } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                bad_children++;
                fprintf(stderr, "child %d: status 0x%x\n", k, st);
            }
        }
        usleep(2000);
    }
    stage = 0;
    pthread_barrier_wait(&forks_done);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    long long rows = count(managed, "SELECT count(*) FROM test_execution");
    int ok_rows = rows == 2LL * rounds;
    if (!ok_rows)
        fprintf(stderr, "rows: %lld, want %d\n", rows, 2 * rounds);
    int ok_close = sqlite3_close(managed) == SQLITE_OK;
    int p = (errors == 0) + (bad_children == 0 && children == 8) + ok_rows + ok_close;
    printf("%d passed, %d failed\n", p, 4 - p);
    return p == 4 ? 0 : 1;
}
