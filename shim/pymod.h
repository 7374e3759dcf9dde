/* pymod.h: Python's sqlite3 extension modules in this process, the only SQLite callers the shim
 * touches.
 *
 * A process may hold several SQLites: the one `_sqlite3` uses, a copy a wheel bundles for its own
 * library (pyproj's PROJ opens proj.db through one), a C program's.  The library exports no
 * sqlite3_* symbol, so the dynamic linker binds every one of them exactly as without it.  Instead
 * it rewrites import slots (got.h) of the sqlite3 modules only, in two steps:
 *   1. watched: as soon as a module is seen, its sqlite3_open_v2 slot leads to an open entry of
 *      its own (wrappers.c), which passes every open through to the module's own SQLite and
 *      looks only at names that could be testmon's datafile;
 *   2. managed: at the first datafile open of a controller or worker (dispatch.c), the module's
 *      SQLite becomes the one the policies call (real.h), and the module's remaining wrapped
 *      functions (api.h: WRAP) lead to the wrappers.  A process that never opens the datafile in
 *      one of those roles never has a step, prepare or close of its own redirected.
 * A sqlite3 module is an object that defines PyInit__sqlite3: CPython's `_sqlite3` extension, a
 * replacement such as pysqlite3's, or an interpreter with `_sqlite3` built in that calls a
 * libsqlite3.so.  Found when the library loads (those already loaded: the pytest plugin loads it
 * late, through ctypes) and when Python loads one later: the interpreter's own dlopen slot (the
 * one its extension loader calls) leads through a hook that looks at each `_sqlite3*` file it
 * loads.  An interpreter with SQLite linked in calls it directly, without slots: static.h. */
#ifndef SHIM_PYMOD_H
#define SHIM_PYMOD_H
#include "api.h"
#include "forklock.h"
#include <sqlite3.h>

/* How many sqlite3 modules one process can have watched (CPython's and one replacement are the
 * real cases). */
#define SHIM_MAX_PYMODS 8

typedef int (*shim_open_fn)(const char *, sqlite3 **, int, const char *);

/* Set up, once, from the constructor: `wrappers` (api.h ids; NULL where not wrapped) are where a
 * managed module's calls go, `opens[i]` the open entry of the i-th module.  Watches the modules
 * loaded already and hooks the interpreter's dlopen for later ones.  Does nothing in a process
 * that is not Python (no Py_Initialize, no PyInit__sqlite3). */
void shim_pymod_init(void *const wrappers[], shim_open_fn const opens[SHIM_MAX_PYMODS]);

/* Watch the sqlite3 module that defines `init` (its PyInit__sqlite3): 0, or -1 if it cannot be
 * (then shim_pymod_unreachable says why).  Watching one twice is a no-op.  (init.c's scan and
 * the dlopen hook call it; exposed for tests.) */
int shim_pymod_watch(const void *init);

/* Module i's own sqlite3_open_v2: what it called before the shim. */
shim_open_fn shim_pymod_open_of(int i);

enum shim_pymod_admit {
    SHIM_PYMOD_SAME = 0,  /* its SQLite is the one the shim manages (chosen now, if first) */
    SHIM_PYMOD_OTHER,     /* another module's SQLite was chosen first */
    SHIM_PYMOD_INCOMPLETE /* its SQLite lacks a function the shim needs (real.c said which) */
};
/* A datafile open through module i: the first one chooses the SQLite the policies call. */
enum shim_pymod_admit shim_pymod_admit(int i);

/* A controller or worker manages its datafile: redirect the wrapped functions of every module
 * that uses the managed SQLite.  0, or -1 with a one-line reason in why (slots written before
 * the failure are put back).  A no-op where nothing is watched (static.h's interpreters). */
int shim_pymod_manage(char *why, size_t whysz);

/* The file of module i and of its SQLite, for messages. */
const char *shim_pymod_name(int i);
const char *shim_pymod_sqlite_name(int i);
/* How many modules are watched. */
int shim_pymod_count(void);
/* Why a sqlite3 module seen in this process could not be watched ("" if none). */
const char *shim_pymod_unreachable(void);

/* Guards the table of modules (forklock.h). */
extern struct shim_forklock shim_pymod_lock;
#endif
