/* test_session.c: the interpreter's witness of a pytest session (session.c).
 *
 * This program stands in for CPython: it defines the C API entry points the shim looks up with
 * dlsym(RTLD_DEFAULT) and is linked -rdynamic so that they are found there, as in a python
 * executable.  Each fake records how it was called. */
#include "session.h"
#include "unit.h"

#define API __attribute__((visibility("default"), used))

static int initialized = 1, finalizing, has_pytest = 1, has_testmon = 1;
static int ensures, releases, held, last_state = -1, looked_up_unheld;
static char module_dict; /* stands for sys.modules: only its address matters */

API int Py_IsInitialized(void) { return initialized; }
API int _Py_IsFinalizing(void) { return finalizing; }
API int PyGILState_Ensure(void)
{
    ensures++;
    held = 1;
    return 1; /* PyGILState_UNLOCKED: the caller had released the GIL, as around open */
}
API void PyGILState_Release(int state)
{
    releases++;
    held = 0;
    last_state = state;
}
API void *PyImport_GetModuleDict(void)
{
    looked_up_unheld |= !held;
    return &module_dict;
}
API void *PyDict_GetItemString(void *dict, const char *key)
{
    looked_up_unheld |= !held;
    if (dict != &module_dict)
        return NULL;
    if (strcmp(key, SHIM_SESSION_PYTEST_MODULE) == 0)
        return has_pytest ? &module_dict : NULL;
    if (strcmp(key, SHIM_SESSION_TESTMON_MODULE) == 0)
        return has_testmon ? &module_dict : NULL;
    return NULL;
}

static void reset(int init, int fin, int pytest, int testmon)
{
    initialized = init, finalizing = fin, has_pytest = pytest, has_testmon = testmon;
    ensures = releases = held = looked_up_unheld = 0;
    last_state = -1;
}

static void session_running(void)
{
    reset(1, 0, 1, 1);
    errno = EBADF;
    CHECK(shim_session_witness() == 1, "both modules imported: a session");
    CHECK_EQ_INT(errno, EBADF);
    CHECK(ensures == 1 && releases == 1 && last_state == 1 && !held,
          "the GIL taken once and given back as it was (ensures %d releases %d state %d)",
          ensures, releases, last_state);
    CHECK(!looked_up_unheld, "sys.modules was read without the GIL");
}

static void module_missing(void)
{
    reset(1, 0, 1, 0);
    CHECK(shim_session_witness() == 0, "pytest without testmon: no");
    reset(1, 0, 0, 1);
    CHECK(shim_session_witness() == 0, "testmon without pytest's session module: no");
    CHECK(ensures == 1 && releases == 1, "the GIL given back on a 'no' too");
}

static void not_running(void)
{
    reset(0, 0, 1, 1);
    CHECK(shim_session_witness() == 0, "an interpreter not initialised: no");
    reset(1, 1, 1, 1);
    CHECK(shim_session_witness() == 0, "a finalising interpreter: no");
    CHECK(ensures == 0, "the GIL is never asked for when Python is not running (%d)", ensures);
}

int main(void)
{
    RUN(session_running);
    RUN(module_missing);
    RUN(not_running);
    return unit_finish();
}
