/* real.c: the table of the real SQLite functions (real.h).  Filled once per process, by name
 * from the managed module's SQLite, or wholesale from an interpreter's symbol table. */
#include "real.h"
#include "log.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

_Atomic(void *) shim_real_table[SHIM_REAL_COUNT];

static const char *const names[SHIM_REAL_COUNT] = {
#define X(name, kind) #name,
    SHIM_REAL_FUNCS(X)
#undef X
};
#define OPTIONAL_WRAP 0
#define OPTIONAL_WRAP_OPT 1
#define OPTIONAL_USE 0
static const unsigned char optional[SHIM_REAL_COUNT] = {
#define X(name, kind) OPTIONAL_##kind,
    SHIM_REAL_FUNCS(X)
#undef X
};
#define WRAPPED_WRAP 1
#define WRAPPED_WRAP_OPT 1
#define WRAPPED_USE 0
static const unsigned char wrapped[SHIM_REAL_COUNT] = {
#define X(name, kind) WRAPPED_##kind,
    SHIM_REAL_FUNCS(X)
#undef X
};
static atomic_int complete; /* every required function found */

struct shim_forklock shim_real_lock = SHIM_FORKLOCK_INIT;

const char *shim_real_name(int id) { return id >= 0 && id < SHIM_REAL_COUNT ? names[id] : "?"; }
int shim_real_optional(int id) { return id >= 0 && id < SHIM_REAL_COUNT && optional[id]; }
int shim_real_wrapped(int id) { return id >= 0 && id < SHIM_REAL_COUNT && wrapped[id]; }
int shim_real_complete(void) { return atomic_load_explicit(&complete, memory_order_acquire); }

/* The first required function the table lacks, or -1; under shim_real_lock. */
static int first_missing(void)
{
    for (int i = 0; i < SHIM_REAL_COUNT; i++)
        if (!optional[i] && !atomic_load_explicit(&shim_real_table[i], memory_order_relaxed))
            return i;
    return -1;
}

/* Is anything required missing?  Then say so, once, and pass everything through (dispatch.c
 * asks shim_real_complete before any policy).  Under shim_real_lock. */
static void check_complete(void)
{
    int miss = first_missing();
    atomic_store_explicit(&complete, miss < 0, memory_order_release);
    if (miss >= 0) {
        int (*version)(void) =
            (int (*)(void))atomic_load(&shim_real_table[SHIM_REAL_sqlite3_libversion_number]);
        shim_log_error("this process's SQLite (%d) lacks %s, which the shim needs: it passes "
                       "every call through; use a Python whose SQLite is 3.7.15 or newer",
                       version ? version() : 0, names[miss]);
    }
}

int shim_real_fill(void *handle, void *const known[SHIM_REAL_COUNT])
{
    pthread_mutex_lock(&shim_real_lock.m);
    for (int i = 0; i < SHIM_REAL_COUNT; i++) {
        void *p = known && known[i] ? known[i] : handle ? dlsym(handle, names[i]) : NULL;
        atomic_store_explicit(&shim_real_table[i], p, memory_order_release);
    }
    dlerror(); /* an optional function's failed lookup is not the application's error */
    check_complete();
    pthread_mutex_unlock(&shim_real_lock.m);
    return shim_real_complete();
}

void shim_real_set_all(void *const fns[SHIM_REAL_COUNT])
{
    pthread_mutex_lock(&shim_real_lock.m);
    for (int i = 0; i < SHIM_REAL_COUNT; i++)
        atomic_store_explicit(&shim_real_table[i], fns[i], memory_order_release);
    check_complete();
    pthread_mutex_unlock(&shim_real_lock.m);
}
