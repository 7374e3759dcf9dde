/* pyapi.h: the CPython entry points the shim calls, found at run time.
 *
 * The library never links libpython: most processes it lands in are not Python, and a Python's
 * C API lives in its executable (python-build-standalone, Debian's python3) or in a
 * libpython3.X.so.  What it needs is looked up by name in the global scope (dlsym RTLD_DEFAULT)
 * and called by its stable-ABI signature: PyObject * as void *, PyGILState_STATE (an enum) as
 * int.  Two modules use it: session.h asks the interpreter whether a pytest session runs, and
 * static.h watches sqlite3.connect with an audit hook where it cannot reach SQLite.  One table,
 * so that a signature is written once. */
#ifndef SHIM_PYAPI_H
#define SHIM_PYAPI_H

struct shim_pyapi {
    /* the interpreter's state (session.h) */
    int (*is_initialized)(void);   /* Py_IsInitialized */
    int (*is_finalizing)(void);    /* Py_IsFinalizing (3.13+), else _Py_IsFinalizing; may be NULL */
    int (*gil_ensure)(void);       /* PyGILState_Ensure */
    void (*gil_release)(int);      /* PyGILState_Release */
    void *(*modules)(void);        /* PyImport_GetModuleDict: borrowed */
    void *(*dict_get)(void *, const char *); /* PyDict_GetItemString: borrowed, never raises */
    /* an audit hook's arguments (static.h) */
    int (*add_audit_hook)(int (*)(const char *, void *, void *), void *); /* PySys_AddAuditHook */
    void *(*tuple_item)(void *, long);   /* PyTuple_GetItem: borrowed */
    void *(*fspath)(void *);             /* PyOS_FSPath: a new reference */
    const char *(*utf8)(void *);         /* PyUnicode_AsUTF8 */
    char *(*bytes)(void *);              /* PyBytes_AsString */
    void (*decref)(void *);              /* Py_DecRef */
    void (*err_clear)(void);             /* PyErr_Clear */
};

/* Fill *py from the global scope: each entry NULL where this process has no such function (not
 * Python, or a Python without it).  errno and dlerror() are left as they were. */
void shim_pyapi_find(struct shim_pyapi *py);
#endif
