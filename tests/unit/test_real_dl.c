/* test_real_dl.c: the table of real functions in a program that does NOT link libsqlite3 (see
 * unit.mk), as in Python, where _sqlite3 loads libsqlite3 RTLD_LOCAL: filled from a library
 * that is not in the global scope, and from one that lacks what the shim needs. */
#include "unit.h"
#include <dlfcn.h>

static const char *const names[SHIM_REAL_COUNT] = {
#define X(name, kind) #name,
    SHIM_REAL_FUNCS(X)
#undef X
};

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void test_local_library(void)
{
    void *h = dlopen("libsqlite3.so.0", RTLD_NOW | RTLD_LOCAL);
    CHECK(h != NULL, "dlopen libsqlite3 RTLD_LOCAL");
    if (!h)
        return;
    CHECK(dlsym(RTLD_DEFAULT, "sqlite3_open_v2") == NULL, "not in the global scope");
    CHECK_EQ_INT(shim_real_fill(h, NULL), 1);
    int bad = 0;
    for (int i = 0; i < SHIM_REAL_COUNT; i++)
        bad += atomic_load(&shim_real_table[i]) != dlsym(h, names[i]);
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(REAL(sqlite3_libversion_number)(),
                 ((int (*)(void))dlsym(h, "sqlite3_libversion_number"))());
}

/* An SQLite without the functions the policies need: one line naming the first one missing, and
 * the process passes everything through (dispatch.c asks shim_real_complete). */
static void test_incomplete_library(void)
{
    void *h = dlopen(UNIT_BUILD_DIR "/liboldsqlite.so", RTLD_NOW | RTLD_LOCAL);
    CHECK(h != NULL, "%s", dlerror());
    if (!h)
        return;
    struct unit_capture cap = unit_capture_start(2);
    errno = 4242;
    int complete = shim_real_fill(h, NULL);
    int e = errno;
    char *msg = unit_capture_end(&cap);
    CHECK_EQ_INT(complete, 0);
    CHECK_EQ_INT(e, 4242);
    CHECK(atomic_load(&shim_real_table[SHIM_REAL_sqlite3_open_v2]) == dlsym(h, "sqlite3_open_v2"),
          "what it has is used");
    CHECK(!shim_real_complete(), "incomplete");
    CHECK_CONTAINS(msg, "this process's SQLite (3006000) lacks sqlite3_prepare_v2, which the shim "
                        "needs: it passes every call through");
    CHECK_EQ_INT(count_lines(msg), 1);
    free(msg);
}

int main(void)
{
    unit_watchdog(20);
    CHECK(dlopen("libsqlite3.so.0", RTLD_NOLOAD | RTLD_LAZY) == NULL, "not loaded yet");
    RUN_FORKED(test_incomplete_library); /* a table per process */
    RUN(test_local_library);
    return unit_finish();
}
