/* real.h: the real SQLite functions: those of the one SQLite the shim manages in this process.
 *
 * The shim never links libsqlite3 and exports no sqlite3_* symbol, so nothing binds to it by
 * name.  The table is filled once, before any call can reach a wrapper: from the SQLite of the
 * first sqlite3 module that opens testmon's datafile (pymod.h: shim_real_fill), or from an
 * interpreter's symbol table where SQLite is linked in (static.h: shim_real_set_all).  Every
 * SQLite function the shim calls goes through REAL(); a direct call would be an undefined symbol
 * in a Python process, or bind to another copy of SQLite. */
#ifndef SHIM_REAL_H
#define SHIM_REAL_H
#include "forklock.h"
#include "api.h"
#include <sqlite3.h>
#include <stdatomic.h>

enum shim_real_id {
#define X(name, kind) SHIM_REAL_##name,
    SHIM_REAL_FUNCS(X)
#undef X
    SHIM_REAL_COUNT
};

extern _Atomic(void *) shim_real_table[SHIM_REAL_COUNT];

/* The name of function `id` ("sqlite3_step"). */
const char *shim_real_name(int id);
/* May this process's SQLite lack function `id` (api.h: WRAP_OPT)? */
int shim_real_optional(int id);
/* Is function `id` wrapped (api.h: WRAP or WRAP_OPT)? */
int shim_real_wrapped(int id);
/* Did the table get every function this process needs (all but the optional ones)?  0 also
 * before it was filled.  Without them the process passes everything through. */
int shim_real_complete(void);
/* Fill the table from the SQLite library `handle` (dlsym: that object and its dependencies),
 * taking known[id] instead where it is not NULL (what a module's import slot led to: the very
 * function it called).  Says once if a required function is missing.  Returns
 * shim_real_complete(). */
int shim_real_fill(void *handle, void *const known[SHIM_REAL_COUNT]);
/* Fill the whole table at once: an interpreter with SQLite linked in, whose functions were found
 * in its symbol table (static.h).  Called before any SQLite call. */
void shim_real_set_all(void *const fns[SHIM_REAL_COUNT]);

/* The real function `name`, typed.  Only called once the table is filled (dispatch.c asks
 * shim_real_complete before any policy runs). */
#define REAL(name) ((__typeof__(&name))shim_real_get(SHIM_REAL_##name))

static inline void *shim_real_get(int id)
{
    return atomic_load_explicit(&shim_real_table[id], memory_order_acquire);
}

/* Guards filling the table (forklock.h). */
extern struct shim_forklock shim_real_lock;
#endif
