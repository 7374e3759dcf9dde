/* test_real.c: resolution of the real SQLite functions (real.c) in a program linked to
 * libsqlite3.  Resolution happens once per process, so each way in runs in a forked child with an
 * empty table.  test_real_dl.c covers a process where SQLite is loaded RTLD_LOCAL later. */
#include "unit.h"
#include <dlfcn.h>
#include <pthread.h>

static const char *const names[SHIM_REAL_COUNT] = {
#define X(name) #name,
    SHIM_REAL_FUNCS(X)
#undef X
};

static void *libsqlite;

static void expect_all_from_libsqlite(void)
{
    int bad = 0;
    for (int i = 0; i < SHIM_REAL_COUNT; i++) {
        void *want = dlsym(libsqlite, names[i]);
        void *got = atomic_load(&shim_real_table[i]);
        if (!want || got != want) {
            bad++;
            unit_printf("  %s: %p, want %p\n", names[i], got, want);
        }
    }
    CHECK_EQ_INT(bad, 0);
    /* typed use through REAL() */
    CHECK_EQ_INT(REAL(sqlite3_libversion_number)(), sqlite3_libversion_number());
}

static void clear(void)
{
    for (int i = 0; i < SHIM_REAL_COUNT; i++)
        atomic_store(&shim_real_table[i], NULL);
}

static void from_program(void)
{
    clear();
    void *p = shim_real_resolve(SHIM_REAL_sqlite3_step, (const void *)&from_program);
    CHECK(p == dlsym(libsqlite, "sqlite3_step"), "the step function");
    expect_all_from_libsqlite();
}

static void from_libsqlite(void)
{
    clear();
    void *p = shim_real_resolve(SHIM_REAL_sqlite3_open_v2, dlsym(libsqlite, "sqlite3_exec"));
    CHECK(p == dlsym(libsqlite, "sqlite3_open_v2"), "open_v2");
    expect_all_from_libsqlite();
}

static void from_libc(void)
{
    clear(); /* a caller whose scope has no SQLite: RTLD_NEXT finds it */
    void *p = shim_real_resolve(SHIM_REAL_sqlite3_close, (const void *)&printf);
    CHECK(p == dlsym(libsqlite, "sqlite3_close"), "close");
    expect_all_from_libsqlite();
}

static void no_caller(void)
{
    clear();
    void *p = shim_real_resolve(SHIM_REAL_sqlite3_exec, NULL);
    CHECK(p == dlsym(libsqlite, "sqlite3_exec"), "exec");
    expect_all_from_libsqlite();
}

/* concurrent first calls resolve once and agree */
static void *first_call(void *arg)
{
    (void)arg;
    return REAL(sqlite3_prepare_v2);
}
static void threads(void)
{
    clear();
    pthread_t th[8];
    for (int i = 0; i < 8; i++)
        pthread_create(&th[i], NULL, first_call, NULL);
    int same = 1;
    for (int i = 0; i < 8; i++) {
        void *r;
        pthread_join(th[i], &r);
        same &= r == dlsym(libsqlite, "sqlite3_prepare_v2");
    }
    CHECK(same, "every thread got the real prepare_v2");
    expect_all_from_libsqlite();
}

/* a filled entry is used as is: mocks are never overwritten by resolution */
static int mock_errcode(sqlite3 *db)
{
    (void)db;
    return 4242;
}
static void mock_kept(void)
{
    clear();
    atomic_store(&shim_real_table[SHIM_REAL_sqlite3_errcode], (void *)mock_errcode);
    CHECK_EQ_INT(REAL(sqlite3_errcode)(NULL), 4242);
    unit_real_fill();
    unit_real_mock(SHIM_REAL_sqlite3_errcode, (void *)mock_errcode);
    CHECK_EQ_INT(REAL(sqlite3_errcode)(NULL), 4242);
}

int main(void)
{
    unit_watchdog(20);
    libsqlite = dlopen("libsqlite3.so.0", RTLD_NOLOAD | RTLD_LAZY);
    CHECK(libsqlite != NULL, "libsqlite3 is loaded");
    if (!libsqlite)
        return unit_finish();
    RUN_FORKED(from_program);
    RUN_FORKED(from_libsqlite);
    RUN_FORKED(from_libc);
    RUN_FORKED(no_caller);
    RUN_FORKED(threads);
    RUN_FORKED(mock_kept);
    return unit_finish();
}
