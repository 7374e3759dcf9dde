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
 * Objects are found by address with dl_iterate_phdr, not dladdr: dladdr also looks for the
 * nearest symbol, a scan of the object's whole symbol table (1.8 M instructions per resolve in
 * a Python process, most of the cost of the first SQLite call). */
#include "real.h"
#include "log.h"
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

_Atomic(void *) shim_real_table[SHIM_REAL_COUNT];

static const char *const names[SHIM_REAL_COUNT] = {
#define X(name) #name,
    SHIM_REAL_FUNCS(X)
#undef X
};

static pthread_mutex_t resolve_lock = PTHREAD_MUTEX_INITIALIZER;
static int resolved_once; /* guarded by resolve_lock */

/* The loaded object whose segments hold an address: its name ("" for the main program) and
 * the span of its PT_LOAD segments. */
struct object {
    uintptr_t addr, lo, hi;
    char name[4096];
    int found;
};

static int find_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct object *o = arg;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    int hit = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t start = info->dlpi_addr + ph->p_vaddr, end = start + ph->p_memsz;
        lo = start < lo ? start : lo;
        hi = end > hi ? end : hi;
        hit |= o->addr >= start && o->addr < end;
    }
    if (!hit)
        return 0;
    o->lo = lo;
    o->hi = hi;
    o->found = 1;
    snprintf(o->name, sizeof o->name, "%s", info->dlpi_name ? info->dlpi_name : "");
    return 1;
}

static int object_of(const void *addr, struct object *o)
{
    memset(o, 0, sizeof *o);
    o->addr = (uintptr_t)addr;
    return addr && dl_iterate_phdr(find_object, o) && o->found;
}

/* A handle for the object holding addr, without loading anything; NULL if none. */
static void *handle_of(const void *addr)
{
    struct object o;
    if (!object_of(addr, &o))
        return NULL;
    return dlopen(o.name[0] ? o.name : NULL, RTLD_NOLOAD | RTLD_LAZY);
}

static uintptr_t self_lo, self_hi; /* the shim's own segments; under resolve_lock */

/* Is `p` inside the shim itself? */
static int is_ours(void *p)
{
    if (!self_hi) {
        struct object self;
        if (object_of((void *)&shim_real_resolve, &self)) {
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
