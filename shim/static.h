/* static.h: reach an interpreter that has SQLite linked in (python-build-standalone, the
 * Pythons uv, rye and mise install).
 *
 * There _sqlite3 and SQLite are inside the executable (or libpython), SQLite's functions are
 * hidden from the dynamic linker, and LD_PRELOAD alone interposes nothing.  Their addresses are
 * still in the file's full symbol table (.symtab: uv installs builds stripped of debug
 * information only).  So, once, in the library's constructor (one thread, before Python
 * starts):
 *   1. PyInit__sqlite3 resolvable at load means _sqlite3 is built in (an extension module is not
 *      loaded yet); only processes named python* or pytest* look;
 *   2. every function of real.h is looked up in that object's .symtab (elfsym.h) and the table
 *      of real functions is filled from it (real.h: shim_real_set_all);
 *   3. the entry points that wrappers.c exports are hooked (hook.h) to jump to those same
 *      wrappers; the table points at the trampolines, which run the originals.
 * From then on a call from _sqlite3 takes exactly the path an interposed call takes: the same
 * wrappers, dispatch and policies, and SQLite's calls to its own API are nested calls, as in
 * libsqlite3.  Nothing here is a second policy.
 * Where that cannot be done (the symbol table stripped with --strip-all, a function missing, an
 * instruction the hook does not know, a system that forbids writing code, not x86-64), the
 * process steps aside: an audit hook (PySys_AddAuditHook, which Python allows before it starts)
 * watches sqlite3.connect, and the first connect to a testmon datafile by a process that is not
 * an xdist worker prints one line naming the reason. */
#ifndef SHIM_STATIC_H
#define SHIM_STATIC_H
#include <stddef.h>

enum shim_static_state {
    SHIM_STATIC_NONE = 0,   /* not a Python with _sqlite3 built in: nothing to do */
    SHIM_STATIC_HOOKED,     /* reached: calls go through the wrappers */
    SHIM_STATIC_STRIPPED,   /* built in, but no symbol table to find SQLite in */
    SHIM_STATIC_REFUSED,    /* built in, but it could not be hooked (shim_static_why) */
};

/* The constructor's step (init.c). */
void shim_static_init(void);
enum shim_static_state shim_static_state(void);
/* For STRIPPED/REFUSED, the reason; for HOOKED, the object that holds SQLite. */
const char *shim_static_why(void);
/* Did the audit hook say why it steps aside?  (Then reach.h stays quiet at exit.) */
int shim_static_reported(void);

/* The exported wrapper that stands in for real function `id` (real.h), or NULL if `id` is not
 * interposed.  Defined by wrappers.c; weak here so that unit tests, which link no wrappers,
 * hook nothing. */
void *shim_wrapper_of(int id) __attribute__((weak));
#endif
