/* real.c: find the real SQLite functions.
 *
 * Order of attempts, first success wins, and the whole table comes from that one library:
 *  1. caller-relative: the object that called us (e.g. _sqlite3.so or libsqlite3 itself);
 *     dlopen(RTLD_NOLOAD) on it and dlsym() searches that object's own dependency scope, which
 *     does not contain LD_PRELOAD objects.  This finds conda's or a wheel's copy as well as the
 *     system one.
 *  2. RTLD_NEXT: works for programs linked to libsqlite3 directly (the sqlite3 CLI).
 *  3. the SONAME libsqlite3.so.0, if already loaded.
 * A candidate that turns out to be one of our own wrappers is rejected (it would recurse).
 * Objects are found by address (object.h).  An interpreter with SQLite linked in fills the table
 * at load instead (static.h: shim_real_set_all), and nothing is resolved here. */
#include "real.h"
#include "log.h"
#include "object.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

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
static atomic_int complete; /* every required function found */

struct shim_forklock shim_real_lock = SHIM_FORKLOCK_INIT;
static int resolved_once; /* guarded by shim_real_lock */

int shim_real_optional(int id) { return id >= 0 && id < SHIM_REAL_COUNT && optional[id]; }
int shim_real_complete(void) { return atomic_load_explicit(&complete, memory_order_acquire); }

/* The first required function the table lacks, or -1; under shim_real_lock. */
static int first_missing(void)
{
    for (int i = 0; i < SHIM_REAL_COUNT; i++)
        if (!optional[i] && !atomic_load_explicit(&shim_real_table[i], memory_order_relaxed))
            return i;
    return -1;
}

/* Once resolved: is anything required missing?  Then say so, once, and pass everything
 * through (dispatch.c asks shim_real_complete before any policy). */
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

/* A handle for the object holding addr, without loading anything; NULL if none. */
static void *handle_of(const void *addr)
{
    struct shim_object o;
    if (!shim_object_of(addr, &o))
        return NULL;
    return dlopen(o.name[0] ? o.name : NULL, RTLD_NOLOAD | RTLD_LAZY);
}

static uintptr_t self_lo, self_hi; /* the shim's own segments; under shim_real_lock */

/* Is `p` inside the shim itself? */
static int is_ours(void *p)
{
    if (!self_hi) {
        struct shim_object self;
        if (shim_object_of((void *)&shim_real_resolve, &self)) {
            self_lo = self.lo;
            self_hi = self.hi;
        }
    }
    return p && (uintptr_t)p >= self_lo && (uintptr_t)p < self_hi;
}

static void *lookup(void *handle, const char *name)
{
    void *p = dlsym(handle, name);
    return (p && !is_ours(p)) ? p : NULL;
}

/* A handle for the SQLite library seen from `caller`, or NULL. */
static void *handle_from_caller(const void *caller)
{
    void *h = handle_of(caller);
    if (!h)
        return NULL;
    void *probe = lookup(h, "sqlite3_libversion_number");
    /* Pin the library that actually defines SQLite, not the caller. */
    void *libh = probe ? handle_of(probe) : NULL;
    dlclose(h);
    return libh;
}

static int fill_table(void *handle)
{
    void *first = lookup(handle, "sqlite3_libversion_number");
    if (!first)
        return 0;
    for (int i = 0; i < SHIM_REAL_COUNT; i++)
        atomic_store_explicit(&shim_real_table[i], lookup(handle, names[i]),
                              memory_order_release);
    return 1;
}


const char *shim_real_name(int id) { return id >= 0 && id < SHIM_REAL_COUNT ? names[id] : "?"; }

void shim_real_set_all(void *const fns[SHIM_REAL_COUNT])
{
    pthread_mutex_lock(&shim_real_lock.m);
    for (int i = 0; i < SHIM_REAL_COUNT; i++)
        atomic_store_explicit(&shim_real_table[i], fns[i], memory_order_release);
    resolved_once = 1;
    check_complete();
    pthread_mutex_unlock(&shim_real_lock.m);
}

void *shim_real_resolve(int id, const void *caller)
{
    pthread_mutex_lock(&shim_real_lock.m);
    if (!resolved_once) {
        void *h = handle_from_caller(caller);
        int ok = h && fill_table(h);
        if (!ok)
            ok = fill_table(RTLD_NEXT);
        if (!ok && (h = dlopen("libsqlite3.so.0", RTLD_NOLOAD | RTLD_LAZY)))
            ok = fill_table(h);
        resolved_once = ok;
        if (ok)
            check_complete();
    }
    pthread_mutex_unlock(&shim_real_lock.m);
    void *p = atomic_load_explicit(&shim_real_table[id], memory_order_acquire);
    if (!p)
        shim_log_error("cannot find the real %s in this process (is SQLite a shared library "
                       "here?); "
                       "unset LD_PRELOAD or run `testmon-shim doctor`", names[id]);
    return p;
}
