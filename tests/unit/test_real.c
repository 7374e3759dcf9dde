/* test_real.c: resolution of the real SQLite functions (real.c) in a program linked to
 * libsqlite3.  Resolution happens once per process, so each way in runs in a forked child with an
 * empty table.  test_real_dl.c covers a process where SQLite is loaded RTLD_LOCAL later. */
#include "unit.h"
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>

static const char *const names[SHIM_REAL_COUNT] = {
#define X(name, kind) #name,
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

/* A fork while another thread resolves: the child resolves all the same, because the fork
 * handler re-initialises the lock that the parent's thread held (init.c, real.h).  The resolving
 * thread is held inside the lock by this program's own dl_iterate_phdr, which real.c's object
 * lookup calls (object.c), once armed. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
/* ASan's and TSan's runtimes call dl_iterate_phdr while they start, before dlsym can be used:
 * this program cannot define its own there. */
#define NO_ITERATE_OVERRIDE 1
#endif
static int entered[2], release_[2];
#ifndef NO_ITERATE_OVERRIDE
static atomic_int block_iterate;

int dl_iterate_phdr(int (*cb)(struct dl_phdr_info *, size_t, void *), void *data)
{
    static int (*real)(int (*)(struct dl_phdr_info *, size_t, void *), void *);
    if (!real)
        real = (int (*)(int (*)(struct dl_phdr_info *, size_t, void *), void *))dlsym(
            RTLD_NEXT, "dl_iterate_phdr");
    if (atomic_exchange(&block_iterate, 0)) {
        char c = 'x';
        ssize_t n = write(entered[1], &c, 1);
        n = read(release_[0], &c, 1);
        (void)n;
    }
    return real(cb, data);
}

static void *resolver(void *arg)
{
    (void)arg;
    return shim_real_resolve(SHIM_REAL_sqlite3_step, (const void *)&from_program);
}
#else
static atomic_int block_iterate;
static void *resolver(void *arg)
{
    (void)arg;
    return NULL;
}
#endif

static void fork_while_resolving(void)
{
#ifdef NO_ITERATE_OVERRIDE
    unit_skip("under ASan/TSan (their runtimes own dl_iterate_phdr); the plain build runs it");
    return;
#endif
    clear();
    CHECK(pipe(entered) == 0 && pipe(release_) == 0, "");
    atomic_store(&block_iterate, 1);
    pthread_t t;
    pthread_create(&t, NULL, resolver, NULL);
    char c;
    CHECK(read(entered[0], &c, 1) == 1, "the resolver holds the lock");
    pid_t pid = fork();
    if (pid == 0) {
        alarm(5); /* a lock inherited held would hang here */
        void *p = shim_real_resolve(SHIM_REAL_sqlite3_step, (const void *)&from_program);
        _exit(p == dlsym(libsqlite, "sqlite3_step") ? 0 : 1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child resolved (status 0x%x)", st);
    CHECK(write(release_[1], "x", 1) == 1, "");
    void *r;
    pthread_join(t, &r);
    CHECK(r == dlsym(libsqlite, "sqlite3_step"), "and so did the parent's thread");
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
    RUN_FORKED(fork_while_resolving);
    return unit_finish();
}
