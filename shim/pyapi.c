/* pyapi.c: see pyapi.h. */
#include "pyapi.h"
#include <dlfcn.h>
#include <errno.h>

/* dlsym returns void *, which POSIX lets a function pointer be converted from. */
#define FIND(field, name) (py->field = (__typeof__(py->field))dlsym(RTLD_DEFAULT, name))

void shim_pyapi_find(struct shim_pyapi *py)
{
    int saved = errno;
    FIND(is_initialized, "Py_IsInitialized");
    FIND(is_finalizing, "Py_IsFinalizing");
    if (!py->is_finalizing)
        FIND(is_finalizing, "_Py_IsFinalizing");
    FIND(gil_ensure, "PyGILState_Ensure");
    FIND(gil_release, "PyGILState_Release");
    FIND(modules, "PyImport_GetModuleDict");
    FIND(dict_get, "PyDict_GetItemString");
    FIND(add_audit_hook, "PySys_AddAuditHook");
    FIND(tuple_item, "PyTuple_GetItem");
    FIND(fspath, "PyOS_FSPath");
    FIND(utf8, "PyUnicode_AsUTF8");
    FIND(bytes, "PyBytes_AsString");
    FIND(decref, "Py_DecRef");
    FIND(err_clear, "PyErr_Clear");
    dlerror(); /* a failed dlsym leaves a message behind; it is not the caller's */
    errno = saved;
}
