/* pymod.c: see pymod.h. */
#include "pymod.h"
#include "got.h"
#include "log.h"
#include "object.h"
#include "real.h"
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <link.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define SHIM_STR_(x) #x
#define SHIM_STR(x) SHIM_STR_(x)

struct pymod {
    uintptr_t lo, hi;                  /* the module's span */
    char name[PATH_MAX];               /* its file, for messages ("" for the program) */
    struct shim_got_import imp[SHIM_REAL_COUNT]; /* its import slots of the wrapped functions */
    void *orig[SHIM_REAL_COUNT];       /* what they led to before the shim */
    uintptr_t sqlite_bias;             /* the SQLite it calls: that object's load bias */
    char sqlite_name[PATH_MAX];        /* and its file */
    int managed;                       /* its slots lead to the wrappers */
};

struct shim_forklock shim_pymod_lock = SHIM_FORKLOCK_INIT;
static struct pymod mods[SHIM_MAX_PYMODS];
static atomic_int count;
static int chosen = -1; /* the module whose SQLite the policies call; under shim_pymod_lock */
static void *wrapper[SHIM_REAL_COUNT];
static shim_open_fn open_entry[SHIM_MAX_PYMODS];
static char unreachable[PATH_MAX + 512];

shim_open_fn shim_pymod_open_of(int i)
{
    return (shim_open_fn)mods[i].orig[SHIM_REAL_sqlite3_open_v2];
}
const char *shim_pymod_name(int i) { return mods[i].name[0] ? mods[i].name : "the program"; }
const char *shim_pymod_sqlite_name(int i)
{
    return mods[i].sqlite_name[0] ? mods[i].sqlite_name : "the program";
}
int shim_pymod_count(void) { return atomic_load_explicit(&count, memory_order_acquire); }
const char *shim_pymod_unreachable(void) { return unreachable; }

static const char *base_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* The interpreter's dlopen, which its extension loader calls; NULL until hooked (below). */
static void *(*real_dlopen)(const char *, int);

/* A handle for a loaded object, without loading anything: the program's for "".  Through the
 * real dlopen: where this code is linked into the program whose slot is hooked (a unit test),
 * plain dlopen would come back through the hook. */
static void *handle_of(const char *name)
{
    void *(*open)(const char *, int) = real_dlopen ? real_dlopen : dlopen;
    return open(name[0] ? name : NULL, RTLD_NOLOAD | RTLD_LAZY);
}

/* What a slot of the object spanning [lo, hi) leads to.  A slot the dynamic linker has not
 * filled yet (lazy binding: the program of a C test, Debian's python3.11 calling dlopen) still
 * points into the object's own PLT; then the function is what the linker would bind, looked up
 * as it would: the global scope first, then the object's own dependencies.  NULL if nothing
 * defines it (such a slot is left alone). */
static void *resolved(void *value, uintptr_t lo, uintptr_t hi, void *handle, const char *name)
{
    if ((uintptr_t)value < lo || (uintptr_t)value >= hi)
        return value;
    /* Inside the object and defined there: SQLite compiled into the module, bound already. */
    void *own = handle ? dlsym(handle, name) : NULL;
    void *def = own == value ? value : dlsym(RTLD_DEFAULT, name);
    if (!def)
        def = own;
    dlerror();
    return def;
}

/* What an import leads to now: its GLOB_DAT (bound at load) if it has one, else its JUMP_SLOT,
 * resolved if still lazy.  NULL if nothing defines it (then it is left alone). */
static void *import_target(const struct shim_got_import *imp, uintptr_t lo, uintptr_t hi,
                           void *handle, const char *name)
{
    void **slot = imp->ptr ? imp->ptr : imp->plt;
    return slot ? resolved(__atomic_load_n(slot, __ATOMIC_ACQUIRE), lo, hi, handle, name) : NULL;
}

/* Both slots of each import, and the value for each, into a flat list for shim_got_write;
 * how many. */
static int flatten(const struct shim_got_import imp[], void *const value[], int n, void **slots[],
                   void *values[])
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (imp[i].plt) {
            slots[k] = imp[i].plt;
            values[k++] = value[i];
        }
        if (imp[i].ptr) {
            slots[k] = imp[i].ptr;
            values[k++] = value[i];
        }
    }
    return k;
}

/* Remember why the module `name` cannot be watched; -1. */
static int say_unreachable(const char *name, const char *what)
{
    snprintf(unreachable, sizeof unreachable, "the sqlite3 module %s: %s",
             name[0] ? name : "of the program", what);
    shim_log_debug("%s", unreachable);
    return -1;
}

/* Watch the module holding init; under shim_pymod_lock. */
static int watch_locked(const void *init)
{
    struct shim_object o;
    if (!shim_object_of(init, &o))
        return -1;
    int n = atomic_load_explicit(&count, memory_order_relaxed);
    for (int k = 0; k < n; k++)
        if (mods[k].lo == o.lo)
            return 0;
    if (n == SHIM_MAX_PYMODS)
        return say_unreachable(o.name, "one more sqlite3 module in this process than the "
                               "shim watches (" SHIM_STR(SHIM_MAX_PYMODS) ")");
    const char *names[SHIM_REAL_COUNT];
    for (int i = 0; i < SHIM_REAL_COUNT; i++)
        names[i] = wrapper[i] ? shim_real_name(i) : NULL;
    struct pymod *m = &mods[n];
    memset(m, 0, sizeof *m);
    char why[256];
    if (shim_got_find_at(init, names, SHIM_REAL_COUNT, m->imp, why, sizeof why) < 0)
        return say_unreachable(o.name, why);
    void *handle = handle_of(o.name);
    for (int i = 0; i < SHIM_REAL_COUNT; i++) {
        m->orig[i] = import_target(&m->imp[i], o.lo, o.hi, handle, names[i]);
        if (!m->orig[i])
            m->imp[i] = (struct shim_got_import){NULL, NULL};
    }
    if (handle)
        dlclose(handle);
    void *open = m->orig[SHIM_REAL_sqlite3_open_v2];
    struct shim_object sq;
    if (!open || !shim_object_of(open, &sq))
        return say_unreachable(o.name, "it calls its SQLite without an import slot (SQLite "
                               "is linked into it and hidden), so the shim cannot reach it");
    /* A second copy of this library (preloaded, and loaded again by hand) got there first. */
    if (strncmp(base_of(sq.name), "libtestmon_shim", 15) == 0)
        return 0;
    m->lo = o.lo;
    m->hi = o.hi;
    snprintf(m->name, sizeof m->name, "%s", o.name);
    m->sqlite_bias = sq.bias;
    snprintf(m->sqlite_name, sizeof m->sqlite_name, "%s", sq.name);
    /* Everything above is in place before the first call can reach the open entry. */
    void **slot[2], *value[2], *entry[1] = {(void *)open_entry[n]};
    int written, k = flatten(&m->imp[SHIM_REAL_sqlite3_open_v2], entry, 1, slot, value);
    if (shim_got_write(slot, value, k, &written, why, sizeof why) != 0) {
        shim_got_write(slot, (void *[2]){open, open}, written, &k, why, sizeof why);
        return say_unreachable(o.name, why);
    }
    atomic_store_explicit(&count, n + 1, memory_order_release);
    shim_log_debug("watching the sqlite3 module %s (SQLite: %s)", shim_pymod_name(n),
                   shim_pymod_sqlite_name(n));
    return 0;
}

int shim_pymod_watch(const void *init)
{
    int saved = errno;
    pthread_mutex_lock(&shim_pymod_lock.m);
    int rc = watch_locked(init);
    pthread_mutex_unlock(&shim_pymod_lock.m);
    errno = saved;
    return rc;
}

enum shim_pymod_admit shim_pymod_admit(int i)
{
    pthread_mutex_lock(&shim_pymod_lock.m);
    if (chosen < 0) {
        void *handle = handle_of(mods[i].sqlite_name);
        void *wrapped[SHIM_REAL_COUNT];
        for (int k = 0; k < SHIM_REAL_COUNT; k++)
            wrapped[k] = mods[i].imp[k].plt || mods[i].imp[k].ptr ? mods[i].orig[k] : NULL;
        shim_real_fill(handle, wrapped);
        if (handle)
            dlclose(handle);
        chosen = i;
    }
    enum shim_pymod_admit r = mods[i].sqlite_bias != mods[chosen].sqlite_bias ? SHIM_PYMOD_OTHER
                              : shim_real_complete() ? SHIM_PYMOD_SAME
                                                     : SHIM_PYMOD_INCOMPLETE;
    pthread_mutex_unlock(&shim_pymod_lock.m);
    return r;
}

int shim_pymod_manage(char *why, size_t whysz)
{
    int rc = 0;
    pthread_mutex_lock(&shim_pymod_lock.m);
    int n = atomic_load_explicit(&count, memory_order_relaxed);
    for (int k = 0; chosen >= 0 && k < n && rc == 0; k++) {
        struct pymod *m = &mods[k];
        if (m->managed || m->sqlite_bias != mods[chosen].sqlite_bias)
            continue;
        struct shim_got_import imp[SHIM_REAL_COUNT];
        memcpy(imp, m->imp, sizeof imp);
        /* the open slots already lead to the module's open entry */
        imp[SHIM_REAL_sqlite3_open_v2] = (struct shim_got_import){NULL, NULL};
        void **slot[2 * SHIM_REAL_COUNT], *value[2 * SHIM_REAL_COUNT], *back[2 * SHIM_REAL_COUNT];
        int n_slots = flatten(imp, wrapper, SHIM_REAL_COUNT, slot, value);
        flatten(imp, m->orig, SHIM_REAL_COUNT, slot, back);
        int written;
        char how[256];
        if (shim_got_write(slot, value, n_slots, &written, how, sizeof how) != 0) {
            /* All or nothing: a module half redirected would run statements of a managed
             * connection past their policy. */
            int undone;
            shim_got_write(slot, back, n_slots, &undone, how, sizeof how);
            snprintf(why, whysz, "%s: %s", shim_pymod_name(k), how);
            rc = -1;
            break;
        }
        m->managed = 1;
        shim_log_debug("%s: its calls to SQLite lead through the shim", shim_pymod_name(k));
    }
    pthread_mutex_unlock(&shim_pymod_lock.m);
    return rc;
}

/* --- finding modules --- */

/* Python's extension loader (dynload_shlib.c) always passes a name with a slash, so the caller
 * that glibc sees (here: this library, for RPATH and $ORIGIN) does not change the result.  A
 * dlopen a module's initialisation makes on this thread passes straight through. */
static _Thread_local int in_hook;
static void *dlopen_hook(const char *file, int mode)
{
    void *h = real_dlopen(file, mode);
    if (h && file && !in_hook && strncmp(base_of(file), "_sqlite3", 8) == 0) {
        in_hook = 1;
        int saved = errno;
        void *init = dlsym(h, "PyInit__sqlite3");
        if (init)
            shim_pymod_watch(init);
        dlerror(); /* the loader asks dlerror() after its own dlsym only */
        errno = saved;
        in_hook = 0;
    }
    return h;
}

/* Hook the dlopen slot of the object that holds `py` (Py_Initialize): the interpreter. */
static void hook_dlopen(void *py)
{
    struct shim_object o;
    if (!py || !shim_object_of(py, &o))
        return;
    const char *names[1] = {"dlopen"};
    struct shim_got_import imp[1];
    char why[256];
    if (shim_got_find_at(py, names, 1, imp, why, sizeof why) < 1) {
        shim_log_debug("the interpreter (%s) has no dlopen slot: sqlite3 modules loaded later "
                       "are not seen", shim_object_path(&o));
        return;
    }
    void *handle = handle_of(o.name);
    void *real = import_target(&imp[0], o.lo, o.hi, handle, "dlopen");
    if (handle)
        dlclose(handle);
    if (!real || real == (void *)dlopen_hook)
        return;
    real_dlopen = (void *(*)(const char *, int))real;
    void **slot[2], *value[2], *hook[1] = {(void *)dlopen_hook};
    int written, k = flatten(imp, hook, 1, slot, value);
    if (shim_got_write(slot, value, k, &written, why, sizeof why) != 0)
        shim_log_debug("cannot hook the interpreter's dlopen (%s): sqlite3 modules loaded later "
                       "are not seen", why);
}

/* Loaded objects named _sqlite3*: their load biases (the callback only collects; dlopen must
 * not run inside dl_iterate_phdr). */
struct candidates {
    uintptr_t bias[SHIM_MAX_PYMODS];
    char name[SHIM_MAX_PYMODS][PATH_MAX];
    int n;
};

static int collect(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct candidates *c = arg;
    if (info->dlpi_name && strncmp(base_of(info->dlpi_name), "_sqlite3", 8) == 0 &&
        c->n < SHIM_MAX_PYMODS) {
        c->bias[c->n] = info->dlpi_addr;
        snprintf(c->name[c->n], PATH_MAX, "%s", info->dlpi_name);
        c->n++;
    }
    return 0;
}

void shim_pymod_init(void *const wrappers[], shim_open_fn const opens[SHIM_MAX_PYMODS])
{
    int saved = errno;
    memcpy(wrapper, wrappers, sizeof wrapper);
    memcpy(open_entry, opens, sizeof open_entry);
    /* Not Python (a shell, a compiler, git: most processes a preload reaches): two failed hash
     * lookups, nothing else.  Not the program's name: a Python may be started by any name. */
    void *py = dlsym(RTLD_DEFAULT, "Py_Initialize");
    void *init = dlsym(RTLD_DEFAULT, "PyInit__sqlite3");
    if (!py && !init) {
        dlerror();
        errno = saved;
        return;
    }
    hook_dlopen(py);
    /* _sqlite3 built into the program or libpython, calling a libsqlite3.so (where SQLite is
     * linked in and hidden instead, static.h hooks it). */
    if (init && dlsym(RTLD_DEFAULT, "sqlite3_libversion_number"))
        shim_pymod_watch(init);
    /* Extension modules loaded already (the plugin loads this library after `import sqlite3`). */
    static struct candidates c;
    c.n = 0;
    dl_iterate_phdr(collect, &c);
    for (int k = 0; k < c.n; k++) {
        void *h = handle_of(c.name[k]);
        void *mine = h ? dlsym(h, "PyInit__sqlite3") : NULL;
        if (mine)
            shim_pymod_watch(mine);
        if (h)
            dlclose(h);
    }
    dlerror();
    errno = saved;
}
