/* real.h: the real SQLite functions, resolved at run time.
 *
 * The shim never links libsqlite3: inside Python, _sqlite3 loads libsqlite3 RTLD_LOCAL, so
 * dlsym(RTLD_NEXT) finds nothing and a link-time reference would bind to whatever copy the loader
 * saw first.  Instead the first intercepted call resolves every function from the library its
 * caller actually uses (see real.c).  Every SQLite function the shim calls, interposed or not,
 * goes through REAL(); a direct call would be an undefined symbol in a Python process. */
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

/* Slow path: resolve the whole table using `caller` (a return address inside the library that
 * called us) to find the right SQLite.  Returns the function or NULL (an error was logged). */
void *shim_real_resolve(int id, const void *caller);

/* The name of function `id` ("sqlite3_step"). */
const char *shim_real_name(int id);
/* May this process's SQLite lack function `id` (api.h: WRAP_OPT)? */
int shim_real_optional(int id);
/* Did resolution find every function this process needs (all but the optional ones)?  0 also
 * before anything was resolved.  Without them the process passes everything through. */
int shim_real_complete(void);
/* Fill the whole table at once, and never resolve: an interpreter with SQLite linked in, whose
 * functions were found in its symbol table (static.h).  Called before any SQLite call. */
void shim_real_set_all(void *const fns[SHIM_REAL_COUNT]);

/* The real function `name`, typed.  Must be expanded inside the exported wrapper (or a function
 * it calls with the caller's address) so that __builtin_return_address(0) is the caller. */
#define REAL(name)                                                                               \
    ((__typeof__(&name))shim_real_get(SHIM_REAL_##name, __builtin_return_address(0)))

static inline void *shim_real_get(int id, const void *caller)
{
    void *p = atomic_load_explicit(&shim_real_table[id], memory_order_acquire);
    return p ? p : shim_real_resolve(id, caller);
}

/* Guards the one resolution of the real functions (forklock.h). */
extern struct shim_forklock shim_real_lock;
#endif
