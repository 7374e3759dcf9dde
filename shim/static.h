/* static.h: reach an interpreter that has SQLite linked in (python-build-standalone, the
 * Pythons uv, rye and mise install).
 *
 * There _sqlite3 and SQLite are inside the executable (or libpython), SQLite's functions are
 * hidden from the dynamic linker and called directly: there is no import slot to rewrite
 * (pymod.h).  Their addresses are still in the file's full symbol table (.symtab: uv installs
 * builds stripped of debug information only).  So, once, in the library's constructor (before
 * Python starts when the library is preloaded; in the running interpreter when the pytest plugin
 * loads it, whose other threads are then held while code is written: hook.h):
 *   1. PyInit__sqlite3 resolvable at load means _sqlite3 is built in (an extension module that
 *      defines it is not in the global scope); only processes named python* or pytest* look;
 *   2. every function of real.h is looked up in that object's .symtab (elfsym.h);
 *   3. the entry points of the wrapped functions (wrappers.h) are hooked (hook.h) to jump to
 *      those wrappers; the table of real functions (real.h: shim_real_set_all) is filled, with
 *      the trampolines, which run the originals, before the first entry point is written.
 * From then on a call from _sqlite3 takes exactly the path a managed module's call takes
 * (pymod.h): the same wrappers, dispatch and policies; SQLite's calls to its own API reach the
 * hooks too and are nested calls.  Nothing here is a second policy.  This is the only place the
 * shim writes code: elsewhere it rewrites import slots, which are data.
 * Where that cannot be done (the symbol table stripped with --strip-all, a function missing, an
 * instruction the hook does not know, a system that forbids writing code, not x86-64), the
 * process steps aside: an audit hook (PySys_AddAuditHook, which Python allows before it starts
 * too) watches sqlite3.connect, and the first connect to a testmon datafile by a process that
 * is not an xdist worker prints one line naming the reason. */
#ifndef SHIM_STATIC_H
#define SHIM_STATIC_H
#include "real.h"
#include <stddef.h>

enum shim_static_state {
    SHIM_STATIC_NONE = 0,   /* not a Python with _sqlite3 built in: nothing to do */
    SHIM_STATIC_HOOKED,     /* reached: calls go through the wrappers */
    SHIM_STATIC_STRIPPED,   /* built in, but no symbol table to find SQLite in */
    SHIM_STATIC_REFUSED,    /* built in, but it could not be hooked (shim_static_why) */
};

/* The constructor's step (init.c): `wrappers` (wrappers.h) are where the hooked entry points
 * lead, NULL where a function is not wrapped. */
void shim_static_init(void *const wrappers[SHIM_REAL_COUNT]);
enum shim_static_state shim_static_state(void);
/* For STRIPPED/REFUSED, the reason; for HOOKED, the object that holds SQLite. */
const char *shim_static_why(void);
/* Did the audit hook say why it steps aside?  (Then reach.h stays quiet at exit.) */
int shim_static_reported(void);

#endif
