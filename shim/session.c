/* session.c: see session.h. */
#include "session.h"
#include "pyapi.h"
#include <errno.h>

int shim_session_witness(void)
{
    int saved = errno;
    struct shim_pyapi py;
    int yes = 0;
    shim_pyapi_find(&py);
    /* Not Python, or Python not (or no longer) running: taking the GIL during finalisation
     * could end this thread. */
    if (py.is_initialized && py.gil_ensure && py.gil_release && py.modules && py.dict_get &&
        py.is_initialized() && !(py.is_finalizing && py.is_finalizing())) {
        int gil = py.gil_ensure();
        void *modules = py.modules();
        /* PyDict_GetItemString: borrowed references, never raises */
        yes = modules && py.dict_get(modules, SHIM_SESSION_PYTEST_MODULE) &&
              py.dict_get(modules, SHIM_SESSION_TESTMON_MODULE);
        py.gil_release(gil);
    }
    errno = saved;
    return yes;
}
