/* test_pymod.c: Python's sqlite3 modules, watched and managed (pymod.c).  This program is a
 * Python in the library's eyes: it exports Py_Initialize and PyInit__sqlite3 (-rdynamic), and it
 * calls SQLite through its own import slots, as _sqlite3 does.  So the library's constructor has
 * watched it already and hooked its dlopen slot, exactly as in a Python that preloads it; the
 * fixtures are sqlite3 modules loaded later through that dlopen (unit.mk). */
#include "got.h"
#include "pymod.h"
#include "unit.h"
#include "unmanaged.h"
#include "wrappers.h"
#include "../common/testdb.h"
#include <dlfcn.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
/* Their runtimes refuse RTLD_DEEPBIND (google/sanitizers#611): the plain build runs these. */
#define NO_DEEPBIND 1
#endif

void Py_Initialize(void) {}
void *PyInit__sqlite3(void) { return 0; }

/* The index of the watched module whose file name contains `part` ("" for the program). */
static int module_named(const char *part)
{
    for (int i = 0; i < shim_pymod_count(); i++) {
        const char *n = shim_pymod_name(i);
        if (part[0] ? strstr(n, part) != NULL : strcmp(n, "the program") == 0)
            return i;
    }
    return -1;
}

/* What the program's own slot for `name` holds now: its PLT slot, or its pointer slot where
 * it has none.  Both slots of a name always hold the same. */
static void *program_slot(const char *name)
{
    struct shim_got_import imp[1];
    char why[256];
    const char *one[1] = {name};
    if (shim_got_find_at((void *)&module_named, one, 1, imp, why, sizeof why) != 1)
        return NULL;
    if (imp[0].plt && imp[0].ptr && *imp[0].plt != *imp[0].ptr &&
        *imp[0].ptr != (void *)dlsym(RTLD_DEFAULT, name))
        return (void *)-1; /* a pointer slot rewritten apart from the PLT slot: never right */
    return *(imp[0].plt ? imp[0].plt : imp[0].ptr);
}

static void *libsqlite(const char *name)
{
    void *h = dlopen("libsqlite3.so.0", RTLD_NOLOAD | RTLD_LAZY);
    void *p = h ? dlsym(h, name) : NULL;
    if (h)
        dlclose(h);
    return p;
}

static void test_the_program_is_watched_from_load(void)
{
    int me = module_named("");
    CHECK(me >= 0, "the constructor watched the program");
    CHECK(strstr(shim_pymod_sqlite_name(me), "libsqlite3.so") != NULL, "its SQLite: %s",
          shim_pymod_sqlite_name(me));
    /* its open leads to the library, the rest still straight to SQLite */
    CHECK(program_slot("sqlite3_open_v2") != libsqlite("sqlite3_open_v2"), "open watched");
    void *wrappers[SHIM_REAL_COUNT];
    shim_open_fn opens[SHIM_MAX_PYMODS];
    shim_wrappers(wrappers, opens);
    CHECK(program_slot("sqlite3_step") != wrappers[SHIM_REAL_sqlite3_step], "step untouched");
    CHECK(shim_pymod_open_of(me) == (shim_open_fn)libsqlite("sqlite3_open_v2"),
          "the module's own open is libsqlite3's");
    sqlite3 *db = NULL;
    CHECK_EQ_INT(sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    CHECK_EQ_INT(testdb_int(db, "SELECT 1", -1), 1);
    sqlite3_close_v2(db);
    int n = shim_pymod_count();
    CHECK_EQ_INT(shim_pymod_watch((void *)&PyInit__sqlite3), 0);
    CHECK_EQ_INT(shim_pymod_count(), n); /* twice: a no-op */
}

/* Python loads the extension later: the interpreter's dlopen slot leads through the hook. */
static void test_a_module_loaded_later_is_watched(void)
{
    int n = shim_pymod_count();
    void *plain = dlopen(UNIT_BUILD_DIR "/libgot.so", RTLD_NOW | RTLD_LOCAL);
    CHECK(plain != NULL, "%s", dlerror());
    CHECK_EQ_INT(shim_pymod_count(), n); /* not named _sqlite3*: not looked at */
    void *h = dlopen(UNIT_BUILD_DIR "/_sqlite3_fixture.so", RTLD_NOW | RTLD_LOCAL);
    CHECK(h != NULL, "%s", dlerror());
    CHECK_EQ_INT(shim_pymod_count(), n + 1);
    int m = module_named("_sqlite3_fixture.so");
    CHECK(m >= 0, "watched");
    int (*open)(const char *, sqlite3 **) = (int (*)(const char *, sqlite3 **))dlsym(h, "gotlib_open");
    int (*close)(sqlite3 *) = (int (*)(sqlite3 *))dlsym(h, "gotlib_close");
    sqlite3 *db = NULL;
    CHECK(open && open(":memory:", &db) == SQLITE_OK, "an open through the module");
    CHECK_EQ_INT(testdb_int(db, "SELECT 1", -1), 1);
    CHECK(close && close(db) == SQLITE_OK, "");
    CHECK(dlerror() == NULL, "the hook leaves no dlerror() behind");
}

/* SQLite linked into the module and hidden: nothing to rewrite, and the reason is kept. */
static void test_a_module_without_slots(void)
{
    int n = shim_pymod_count();
    void *h = dlopen(UNIT_BUILD_DIR "/_sqlite3_hidden.so", RTLD_NOW | RTLD_LOCAL);
    CHECK(h != NULL, "%s", dlerror());
    CHECK_EQ_INT(shim_pymod_count(), n);
    CHECK_CONTAINS(shim_pymod_unreachable(), "_sqlite3_hidden.so: it calls its SQLite without an "
                                             "import slot");
}

/* The first datafile open chooses the SQLite; a module with another one is told apart. */
static void test_admit(void)
{
#ifdef NO_DEEPBIND
    unit_skip("RTLD_DEEPBIND under a sanitizer runtime; the plain build runs it");
    return;
#endif
    /* DEEPBIND: this program links libsqlite3 into the global scope, which a module's references
     * would otherwise bind to first (in Python nothing puts SQLite there) */
    void *h = dlopen(UNIT_BUILD_DIR "/_sqlite3_other.so", RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    CHECK(h != NULL, "%s", dlerror());
    int other = module_named("_sqlite3_other.so"), me = module_named("");
    CHECK(other >= 0 && me >= 0, "both watched");
    if (other < 0 || me < 0)
        return;
    CHECK(strstr(shim_pymod_sqlite_name(other), "liboldsqlite.so") != NULL, "%s",
          shim_pymod_sqlite_name(other));
    CHECK(!shim_real_complete(), "nothing chosen yet");
    CHECK_EQ_INT(shim_pymod_admit(me), SHIM_PYMOD_SAME);
    CHECK(shim_real_complete(), "the program's SQLite fills the table");
    CHECK(REAL(sqlite3_step) == (__typeof__(&sqlite3_step))libsqlite("sqlite3_step"), "");
    CHECK_EQ_INT(shim_pymod_admit(other), SHIM_PYMOD_OTHER);
    CHECK_EQ_INT(shim_pymod_admit(me), SHIM_PYMOD_SAME);
}

/* The other SQLite chosen first (it lacks what the shim needs): incomplete, said once. */
static void test_admit_incomplete(void)
{
#ifdef NO_DEEPBIND
    unit_skip("RTLD_DEEPBIND under a sanitizer runtime; the plain build runs it");
    return;
#endif
    /* DEEPBIND: this program links libsqlite3 into the global scope, which a module's references
     * would otherwise bind to first (in Python nothing puts SQLite there) */
    void *h = dlopen(UNIT_BUILD_DIR "/_sqlite3_other.so", RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    CHECK(h != NULL, "%s", dlerror());
    int other = module_named("_sqlite3_other.so");
    struct unit_capture cap = unit_capture_start(2);
    enum shim_pymod_admit r = shim_pymod_admit(other);
    char *msg = unit_capture_end(&cap);
    CHECK_EQ_INT(r, SHIM_PYMOD_INCOMPLETE);
    CHECK_CONTAINS(msg, "this process's SQLite (3006000) lacks");
    CHECK_EQ_INT(shim_pymod_admit(module_named("")), SHIM_PYMOD_OTHER);
    free(msg);
}

/* Managed: the module's other slots lead to the wrappers, which pass an unmanaged statement on. */
static void test_manage(void)
{
    void *h = dlopen(UNIT_BUILD_DIR "/_sqlite3_fixture.so", RTLD_NOW | RTLD_LOCAL);
    CHECK(h != NULL, "%s", dlerror());
    int me = module_named("");
    CHECK_EQ_INT(shim_pymod_admit(me), SHIM_PYMOD_SAME);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    /* bind the program's step slot before (lazy binding) */
    CHECK_EQ_INT(sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    CHECK_EQ_INT(testdb_int(db, "SELECT 1", -1), 1);
    char why[512] = "";
    CHECK_EQ_INT(shim_pymod_manage(why, sizeof why), 0);
    void *wrappers[SHIM_REAL_COUNT];
    shim_open_fn opens[SHIM_MAX_PYMODS];
    shim_wrappers(wrappers, opens);
    CHECK(program_slot("sqlite3_step") == wrappers[SHIM_REAL_sqlite3_step], "step redirected");
    CHECK(program_slot("sqlite3_prepare_v2") == wrappers[SHIM_REAL_sqlite3_prepare_v2], "");
    CHECK(program_slot("sqlite3_open_v2") == (void *)opens[me], "open still the module's entry");
    CHECK(program_slot("sqlite3_column_int64") == libsqlite("sqlite3_column_int64"),
          "a function the shim does not wrap stays SQLite's");
    /* the wrappers pass statements on connections nobody manages straight through */
    CHECK_EQ_INT(sqlite3_prepare_v2(db, "SELECT 40 + 2", -1, &st, NULL), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_step(st), SQLITE_ROW);
    CHECK_EQ_INT(sqlite3_column_int64(st, 0), 42);
    sqlite3_finalize(st);
    CHECK_EQ_INT(sqlite3_close_v2(db), SQLITE_OK);
    /* the fixture module uses the same SQLite: managed too */
    struct shim_got_import imp[1];
    const char *one[1] = {"sqlite3_close_v2"};
    CHECK_EQ_INT(shim_got_find_at(dlsym(h, "gotlib_close"), one, 1, imp, why, sizeof why), 1);
    CHECK(imp[0].plt && *imp[0].plt == wrappers[SHIM_REAL_sqlite3_close_v2],
          "the fixture's close redirected");
    CHECK_EQ_INT(shim_pymod_manage(why, sizeof why), 0); /* again: nothing left to do */
}

/* A datafile opened through a module whose SQLite is not the managed one: one line, from a run's
 * worker (or controller) only, once; nothing for another file or a plain process. */
static void test_other_sqlite_said_once(void)
{
    char path[PATH_MAX], other[PATH_MAX];
    snprintf(path, sizeof path, "%s/.testmondata", unit_tmpdir());
    snprintf(other, sizeof other, "%s/other.db", unit_tmpdir());
    unsetenv("PYTEST_XDIST_WORKER");
    struct unit_capture cap = unit_capture_start(2);
    shim_unmanaged_other_sqlite(path, 0, "/x/_sqlite3.so"); /* not a run's process */
    setenv("PYTEST_XDIST_WORKER", "gw1", 1);
    shim_unmanaged_other_sqlite(other, 0, "/x/_sqlite3.so"); /* not the datafile */
    errno = 99;
    shim_unmanaged_other_sqlite(path, 0, "/x/_sqlite3.so");
    int e = errno;
    shim_unmanaged_other_sqlite(path, 0, "/x/_sqlite3.so");
    char *msg = unit_capture_end(&cap);
    CHECK_EQ_INT(e, 99);
    CHECK_CONTAINS(msg, "this worker opens ");
    CHECK_CONTAINS(msg, ".testmondata through /x/_sqlite3.so, whose SQLite is not the one the "
                        "shim manages here");
    int lines = 0;
    for (const char *c = msg; *c; c++)
        lines += *c == '\n';
    CHECK_EQ_INT(lines, 1);
    free(msg);
    unsetenv("PYTEST_XDIST_WORKER");
}

int main(void)
{
    unit_watchdog(60);
    RUN(test_the_program_is_watched_from_load);
    RUN(test_a_module_loaded_later_is_watched);
    RUN(test_a_module_without_slots);
    RUN_FORKED(test_admit); /* a process chooses its SQLite once */
    RUN_FORKED(test_admit_incomplete);
    RUN_FORKED(test_manage);
    RUN_FORKED(test_other_sqlite_said_once);
    return unit_finish();
}
