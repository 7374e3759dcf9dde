/* test_real.c: the table of real SQLite functions (real.c), filled from a library handle with the
 * functions a module's import slots led to taking precedence.  The table is filled once per
 * process in real use, so each case runs in a forked child with an empty table.  test_real_dl.c
 * covers a program that does not link SQLite at all. */
#include "unit.h"
#include <dlfcn.h>
#include <pthread.h>

static const char *const names[SHIM_REAL_COUNT] = {
#define X(name, kind) #name,
    SHIM_REAL_FUNCS(X)
#undef X
};

static void *libsqlite;

static int differing_from_libsqlite(void)
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
    return bad;
}

static void clear(void)
{
    for (int i = 0; i < SHIM_REAL_COUNT; i++)
        atomic_store(&shim_real_table[i], NULL);
}

static void empty_before(void)
{
    clear();
    CHECK(!shim_real_complete(), "nothing filled: not complete");
}

static void from_handle(void)
{
    clear();
    CHECK_EQ_INT(shim_real_fill(libsqlite, NULL), 1);
    CHECK_EQ_INT(differing_from_libsqlite(), 0);
    CHECK(shim_real_complete(), "complete");
    /* typed use through REAL() */
    CHECK_EQ_INT(REAL(sqlite3_libversion_number)(), sqlite3_libversion_number());
}

/* What a module's slot led to wins over the library's own: the module calls exactly that. */
static int other_step(sqlite3_stmt *s)
{
    (void)s;
    return 4242;
}
static void known_first(void)
{
    clear();
    void *known[SHIM_REAL_COUNT] = {0};
    known[SHIM_REAL_sqlite3_step] = (void *)other_step;
    CHECK_EQ_INT(shim_real_fill(libsqlite, known), 1);
    CHECK_EQ_INT(REAL(sqlite3_step)(NULL), 4242);
    CHECK(atomic_load(&shim_real_table[SHIM_REAL_sqlite3_prepare_v2]) ==
              dlsym(libsqlite, "sqlite3_prepare_v2"), "the others from the library");
}

/* No library: only what is known, and not complete (one line says what is missing). */
static void known_only(void)
{
    clear();
    void *known[SHIM_REAL_COUNT] = {0};
    known[SHIM_REAL_sqlite3_step] = (void *)other_step;
    struct unit_capture cap = unit_capture_start(2);
    int complete = shim_real_fill(NULL, known);
    char *msg = unit_capture_end(&cap);
    CHECK_EQ_INT(complete, 0);
    CHECK_CONTAINS(msg, "lacks sqlite3_open_v2, which the shim needs");
    free(msg);
}

/* Threads filling at once (two modules opening the datafile together) agree. */
static void *filler(void *arg)
{
    (void)arg;
    shim_real_fill(libsqlite, NULL);
    return REAL(sqlite3_prepare_v2);
}
static void threads(void)
{
    clear();
    pthread_t th[8];
    for (int i = 0; i < 8; i++)
        pthread_create(&th[i], NULL, filler, NULL);
    int same = 1;
    for (int i = 0; i < 8; i++) {
        void *r;
        pthread_join(th[i], &r);
        same &= r == dlsym(libsqlite, "sqlite3_prepare_v2");
    }
    CHECK(same, "every thread got the real prepare_v2");
    CHECK_EQ_INT(differing_from_libsqlite(), 0);
}

/* unit.h's mocks replace one entry of a filled table */
static int mock_errcode(sqlite3 *db)
{
    (void)db;
    return 4242;
}
static void mock_kept(void)
{
    clear();
    unit_real_fill();
    unit_real_mock(SHIM_REAL_sqlite3_errcode, (void *)mock_errcode);
    CHECK_EQ_INT(REAL(sqlite3_errcode)(NULL), 4242);
}

static void wrapped_and_optional(void)
{
    CHECK(shim_real_wrapped(SHIM_REAL_sqlite3_step), "step is wrapped");
    CHECK(shim_real_wrapped(SHIM_REAL_sqlite3_prepare_v3), "prepare_v3 is wrapped");
    CHECK(!shim_real_wrapped(SHIM_REAL_sqlite3_errmsg), "errmsg is only used");
    CHECK(shim_real_optional(SHIM_REAL_sqlite3_prepare_v3), "prepare_v3 may be missing");
    CHECK(!shim_real_optional(SHIM_REAL_sqlite3_step), "step may not");
    CHECK(!shim_real_wrapped(-1) && !shim_real_wrapped(SHIM_REAL_COUNT), "out of range");
    CHECK(strcmp(shim_real_name(SHIM_REAL_sqlite3_step), "sqlite3_step") == 0, "its name");
    CHECK(strcmp(shim_real_name(-1), "?") == 0, "out of range");
}

int main(void)
{
    unit_watchdog(20);
    libsqlite = dlopen("libsqlite3.so.0", RTLD_NOLOAD | RTLD_LAZY);
    CHECK(libsqlite != NULL, "libsqlite3 is loaded");
    if (!libsqlite)
        return unit_finish();
    RUN_FORKED(empty_before);
    RUN_FORKED(from_handle);
    RUN_FORKED(known_first);
    RUN_FORKED(known_only);
    RUN_FORKED(threads);
    RUN_FORKED(mock_kept);
    RUN(wrapped_and_optional);
    return unit_finish();
}
