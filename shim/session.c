/* session.c: see session.h. */
#include "session.h"
#include <dlfcn.h>
#include <errno.h>

/* The few CPython entry points used, by their stable-ABI signatures (PyGILState_STATE is an
 * enum, passed as int; PyObject * as void *). */
struct py_api {
    int (*is_initialized)(void);
    int (*is_finalizing)(void); /* Py_IsFinalizing (3.13+) or _Py_IsFinalizing; may be NULL */
    int (*gil_ensure)(void);
    void (*gil_release)(int);
    void *(*modules)(void);
    void *(*dict_get)(void *, const char *);
};

static int find_api(struct py_api *py)
{
    py->is_initialized = (int (*)(void))dlsym(RTLD_DEFAULT, "Py_IsInitialized");
    py->is_finalizing = (int (*)(void))dlsym(RTLD_DEFAULT, "Py_IsFinalizing");
    if (!py->is_finalizing)
        py->is_finalizing = (int (*)(void))dlsym(RTLD_DEFAULT, "_Py_IsFinalizing");
    py->gil_ensure = (int (*)(void))dlsym(RTLD_DEFAULT, "PyGILState_Ensure");
    py->gil_release = (void (*)(int))dlsym(RTLD_DEFAULT, "PyGILState_Release");
    py->modules = (void *(*)(void))dlsym(RTLD_DEFAULT, "PyImport_GetModuleDict");
    py->dict_get = (void *(*)(void *, const char *))dlsym(RTLD_DEFAULT, "PyDict_GetItemString");
    return py->is_initialized && py->gil_ensure && py->gil_release && py->modules &&
           py->dict_get;
}

int shim_session_witness(void)
{
    int saved = errno;
    struct py_api py;
    int yes = 0;
    /* Not Python, or Python not (or no longer) running: taking the GIL during finalisation
     * could end this thread. */
    if (find_api(&py) && py.is_initialized() && !(py.is_finalizing && py.is_finalizing())) {
        int gil = py.gil_ensure();
        void *modules = py.modules();
        /* PyDict_GetItemString: borrowed references, never raises */
        yes = modules && py.dict_get(modules, SHIM_SESSION_PYTEST_MODULE) &&
              py.dict_get(modules, SHIM_SESSION_TESTMON_MODULE);
        py.gil_release(gil);
    }
    dlerror(); /* a failed dlsym leaves a message behind; it is not the caller's */
    errno = saved;
    return yes;
}
