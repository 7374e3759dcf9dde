/* real.c: find the real SQLite functions.
 *
 * Order of attempts, first success wins, and the whole table comes from that one library:
 *  1. caller-relative: dladdr(caller) names the object that called us (e.g. _sqlite3.so or
 *     libsqlite3 itself); dlopen(RTLD_NOLOAD) on it and dlsym() searches that object's own
 *     dependency scope, which does not contain LD_PRELOAD objects.  This finds conda's or a
 *     wheel's copy as well as the system one.
 *  2. RTLD_NEXT: works for programs linked to libsqlite3 directly (the sqlite3 CLI).
 *  3. the SONAME libsqlite3.so.0, if already loaded.
 * A candidate that turns out to be one of our own wrappers is rejected (it would recurse). */
#include "real.h"
#include "log.h"
#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

_Atomic(void *) shim_real_table[SHIM_REAL_COUNT];

static const char *const names[SHIM_REAL_COUNT] = {
#define X(name) #name,
    SHIM_REAL_FUNCS(X)
#undef X
};

static pthread_mutex_t resolve_lock = PTHREAD_MUTEX_INITIALIZER;
static int resolved_once; /* guarded by resolve_lock */

/* Is `p` inside the shim itself? */
static int is_ours(void *p)
{
    Dl_info self, cand;
    if (!p || !dladdr((void *)&shim_real_resolve, &self) || !dladdr(p, &cand))
        return 0;
    return self.dli_fbase == cand.dli_fbase;
}

static void *lookup(void *handle, const char *name)
{
    void *p = dlsym(handle, name);
    return (p && !is_ours(p)) ? p : NULL;
}

/* A handle for the SQLite library seen from `caller`, or NULL. */
static void *handle_from_caller(const void *caller)
{
    Dl_info info;
    if (!caller || !dladdr((void *)caller, &info) || !info.dli_fname || !*info.dli_fname)
        return NULL;
    void *h = dlopen(info.dli_fname, RTLD_NOLOAD | RTLD_LAZY);
    if (!h)
        return NULL;
    void *probe = lookup(h, "sqlite3_libversion_number");
    if (!probe) {
        dlclose(h);
        return NULL;
    }
    /* Pin the library that actually defines SQLite, not the caller. */
    Dl_info lib;
    void *libh = NULL;
    if (dladdr(probe, &lib) && lib.dli_fname)
        libh = dlopen(lib.dli_fname, RTLD_NOLOAD | RTLD_LAZY);
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

void *shim_real_resolve(int id, const void *caller)
{
    pthread_mutex_lock(&resolve_lock);
    if (!resolved_once) {
        void *h = handle_from_caller(caller);
        int ok = h && fill_table(h);
        if (!ok)
            ok = fill_table(RTLD_NEXT);
        if (!ok && (h = dlopen("libsqlite3.so.0", RTLD_NOLOAD | RTLD_LAZY)))
            ok = fill_table(h);
        resolved_once = ok;
    }
    pthread_mutex_unlock(&resolve_lock);
    void *p = atomic_load_explicit(&shim_real_table[id], memory_order_acquire);
    if (!p)
        shim_log_error("cannot find the real %s in this process (is SQLite a shared library "
                       "here?); "
                       "unset LD_PRELOAD or run `testmon-shim doctor`", names[id]);
    return p;
}
