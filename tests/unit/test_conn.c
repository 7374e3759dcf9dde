/* test_conn.c: the registry of managed connections (conn.c), with a mock commit hook and
 * autocommit, then with a real database; forget_all after fork. */
#include "conn.h"
#include "unit.h"
#include <pthread.h>
#include <stdint.h>

/* ---- mocks ---- */
/* test_threads' eight threads reach the hook concurrently: each call takes its own slot with one
 * atomic increment, so no two threads write the same entry; the main thread reads the entries
 * only after pthread_join or on its own. */
static atomic_int hook_calls;
static sqlite3 *hook_db[64];
static int (*hook_fn[64])(void *);
static void *hook_arg[64];
static void *mock_commit_hook(sqlite3 *db, int (*fn)(void *), void *arg)
{
    int i = atomic_fetch_add(&hook_calls, 1);
    if (i < 64) {
        hook_db[i] = db;
        hook_fn[i] = fn;
        hook_arg[i] = arg;
    }
    return NULL;
}
static int autocommit = 1;
static int mock_get_autocommit(sqlite3 *db)
{
    (void)db;
    return autocommit;
}

static sqlite3 *fake(int i) { return (sqlite3 *)(uintptr_t)(0x1000 + 16 * i); }

static void test_add_find_remove(void)
{
    struct shim_conn *c[SHIM_MAX_CONNS];
    atomic_store(&hook_calls, 0);
    for (int i = 0; i < SHIM_MAX_CONNS; i++) {
        c[i] = shim_conn_add(fake(i), i % 2 ? SHIM_CONN_WORKER : SHIM_CONN_CONTROLLER);
        CHECK(c[i] != NULL, "slot %d", i);
    }
    CHECK_EQ_INT(atomic_load(&shim_conn_count), SHIM_MAX_CONNS);
    CHECK_EQ_INT(atomic_load(&hook_calls), SHIM_MAX_CONNS);
    int hooks_ok = 1;
    for (int i = 0; i < SHIM_MAX_CONNS; i++)
        hooks_ok &= hook_db[i] == fake(i) && hook_arg[i] == c[i] && hook_fn[i] != NULL;
    CHECK(hooks_ok, "one commit hook per connection, on its own slot");
    int found_ok = 1;
    for (int i = 0; i < SHIM_MAX_CONNS; i++)
        found_ok &= shim_conn_find(fake(i)) == c[i] &&
                    c[i]->kind == (i % 2 ? SHIM_CONN_WORKER : SHIM_CONN_CONTROLLER);
    CHECK(found_ok, "find returns each connection's slot and kind");
    CHECK(shim_conn_find(NULL) == NULL, "find(NULL)");
    CHECK(shim_conn_find(fake(99)) == NULL, "find(unknown)");

    /* the 17th is refused, with a message, and nothing changes */
    struct unit_capture cap = unit_capture_start(2);
    errno = 4242;
    struct shim_conn *extra = shim_conn_add(fake(SHIM_MAX_CONNS), SHIM_CONN_WORKER);
    int e = errno;
    char *msg = unit_capture_end(&cap);
    CHECK(extra == NULL, "17th refused");
    CHECK_CONTAINS(msg, "more than 16");
    CHECK_EQ_INT(e, 4242);
    free(msg);
    CHECK_EQ_INT(atomic_load(&shim_conn_count), SHIM_MAX_CONNS);
    CHECK_EQ_INT(atomic_load(&hook_calls), SHIM_MAX_CONNS);
    CHECK(shim_conn_find(fake(SHIM_MAX_CONNS)) == NULL, "the refused one is not tracked");

    /* remove one: gone, count down, removing twice is harmless, its slot is reused */
    shim_conn_remove(c[5]);
    CHECK(shim_conn_find(fake(5)) == NULL, "removed");
    CHECK_EQ_INT(atomic_load(&shim_conn_count), SHIM_MAX_CONNS - 1);
    shim_conn_remove(c[5]);
    CHECK_EQ_INT(atomic_load(&shim_conn_count), SHIM_MAX_CONNS - 1);
    struct shim_conn *again = shim_conn_add(fake(42), SHIM_CONN_CONTROLLER);
    CHECK(again == c[5], "the free slot is reused");
    CHECK(shim_conn_find(fake(42)) == again && again->kind == SHIM_CONN_CONTROLLER, "");
    CHECK(shim_conn_find(fake(4)) == c[4], "others untouched");
}

/* in a forked child, init.c's atfork handler has already forgotten the parent's handles */
static void child_forgets(void)
{
    CHECK_EQ_INT(atomic_load(&shim_conn_count), 0);
    CHECK(shim_conn_find(fake(4)) == NULL, "the parent's connection is not the child's");
    struct shim_conn *c = shim_conn_add(fake(4), SHIM_CONN_WORKER);
    CHECK(c != NULL && shim_conn_find(fake(4)) == c, "the child can manage its own");
}

static void test_forget_all(void)
{
    CHECK_EQ_INT(atomic_load(&shim_conn_count), SHIM_MAX_CONNS);
    RUN_FORKED(child_forgets);
    CHECK(shim_conn_find(fake(4)) != NULL, "the parent still has its connections");
    shim_conn_forget_all();
    CHECK_EQ_INT(atomic_load(&shim_conn_count), 0);
    CHECK(shim_conn_find(fake(4)) == NULL, "forgotten");
    CHECK(shim_conn_add(fake(1), SHIM_CONN_WORKER) != NULL, "usable after forget_all");
    shim_conn_forget_all();
}

static void test_take_commit_mocked(void)
{
    atomic_store(&hook_calls, 0);
    struct shim_conn *c = shim_conn_add(fake(7), SHIM_CONN_WORKER);
    CHECK(c && atomic_load(&hook_calls) == 1, "hook installed");
    autocommit = 1;
    CHECK_EQ_INT(shim_conn_take_commit(c), 0); /* nothing committed yet */
    CHECK_EQ_INT(hook_fn[0](hook_arg[0]), 0);  /* the hook lets the commit happen */
    autocommit = 0; /* still inside the statement that commits (or a new transaction) */
    CHECK_EQ_INT(shim_conn_take_commit(c), 0);
    autocommit = 1;
    CHECK_EQ_INT(shim_conn_take_commit(c), 1);
    CHECK_EQ_INT(shim_conn_take_commit(c), 0); /* taken once */
    hook_fn[0](hook_arg[0]);
    shim_conn_remove(c);
    CHECK_EQ_INT(shim_conn_take_commit(c), 0); /* a removed connection has nothing to take */
    shim_conn_forget_all();
}

static void test_take_commit_real(void)
{
    sqlite3 *db;
    CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK, "open");
    struct shim_conn *c = shim_conn_add(db, SHIM_CONN_WORKER);
    CHECK(c != NULL, "add");
    sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL);
    CHECK_EQ_INT(shim_conn_take_commit(c), 1);
    sqlite3_exec(db, "BEGIN; INSERT INTO t VALUES (1)", NULL, NULL, NULL);
    CHECK_EQ_INT(shim_conn_take_commit(c), 0);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    CHECK_EQ_INT(shim_conn_take_commit(c), 1);
    sqlite3_exec(db, "BEGIN; INSERT INTO t VALUES (2); ROLLBACK", NULL, NULL, NULL);
    CHECK_EQ_INT(shim_conn_take_commit(c), 0);
    sqlite3_exec(db, "SELECT * FROM t", NULL, NULL, NULL);
    CHECK_EQ_INT(shim_conn_take_commit(c), 0); /* a read commits nothing */
    shim_conn_remove(c);
    sqlite3_close(db);
}

static void *churn(void *arg)
{
    int id = (int)(intptr_t)arg, bad = 0;
    for (int i = 0; i < 2000; i++) {
        struct shim_conn *c = shim_conn_add(fake(100 + id), SHIM_CONN_WORKER);
        if (!c || shim_conn_find(fake(100 + id)) != c)
            bad++;
        if (atomic_load(&shim_conn_count) > SHIM_MAX_CONNS)
            bad++;
        if (c)
            shim_conn_remove(c);
    }
    return (void *)(intptr_t)bad;
}

static void test_threads(void)
{
    pthread_t th[8];
    for (int i = 0; i < 8; i++)
        pthread_create(&th[i], NULL, churn, (void *)(intptr_t)i);
    intptr_t bad = 0;
    for (int i = 0; i < 8; i++) {
        void *r;
        pthread_join(th[i], &r);
        bad += (intptr_t)r;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(atomic_load(&shim_conn_count), 0);
}

int main(void)
{
    unit_watchdog(20);
    unit_real_fill();
    void *real_hook = unit_real_mock(SHIM_REAL_sqlite3_commit_hook, (void *)mock_commit_hook);
    void *real_ac = unit_real_mock(SHIM_REAL_sqlite3_get_autocommit, (void *)mock_get_autocommit);
    RUN(test_add_find_remove);
    RUN(test_forget_all);
    RUN(test_take_commit_mocked);
    RUN(test_threads);
    unit_real_mock(SHIM_REAL_sqlite3_commit_hook, real_hook);
    unit_real_mock(SHIM_REAL_sqlite3_get_autocommit, real_ac);
    RUN(test_take_commit_real);
    return unit_finish();
}
