/* static.c: see static.h. */
#include "static.h"
#include "cmdline.h"
#include "datafile.h"
#include "elfsym.h"
#include "hook.h"
#include "log.h"
#include "object.h"
#include "pyapi.h"
#include "real.h"
#include "role.h"
#include "settings.h"
#include <dlfcn.h>
#include <limits.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum shim_static_state state;
static char why[PATH_MAX + 512];
static int said; /* the audit hook printed its line */

enum shim_static_state shim_static_state(void) { return state; }
int shim_static_reported(void) { return said; }
const char *shim_static_why(void) { return why; }

/* --- stepping aside: the one line at the first datafile connect (an audit hook) --- */

static struct shim_pyapi py;

/* The path a sqlite3.connect event names, into buf; 0 if it is not a path. */
static int connect_path(void *args, char *buf, size_t bufsz)
{
    void *db = py.tuple_item(args, 0), *p = db ? py.fspath(db) : NULL;
    const char *s = p ? py.utf8(p) : NULL;
    if (p && !s) { /* bytes */
        py.err_clear();
        s = py.bytes(p);
    }
    if (s)
        snprintf(buf, bufsz, "%s", s);
    if (p)
        py.decref(p);
    py.err_clear(); /* a connect to something that is no path: not ours to fail */
    return s != NULL;
}

static int audit(const char *event, void *args, void *data)
{
    (void)data;
    if (said || strcmp(event, "sqlite3.connect") != 0)
        return 0;
    int saved = errno;
    char path[4096];
    /* Said by the run's controller (role.h's rule), not by its workers, nor by a script or a
     * nested pytest.main() that opens the datafile. */
    if (connect_path(args, path, sizeof path) && shim_datafile_maybe(path) &&
        !shim_off() && shim_role_would_control()) {
        said = 1;
        shim_log_error("this Python has SQLite linked in and %s, so the shim cannot reach it and "
                       "steps aside: pytest -n --testmon may fail as without it; use %s "
                       "(`testmon-shim doctor` checks one)", why,
#if defined(__x86_64__)
                       "a Python whose symbol table is kept (uv's own builds keep it) or whose "
                       "sqlite3 module loads libsqlite3.so"
#else
                       "a Python whose sqlite3 module loads libsqlite3.so (Debian's python3, "
                       "pyenv, deadsnakes): on this CPU the shim hooks no linked-in SQLite"
#endif
        );
    }
    errno = saved;
    return 0;
}

static void watch_connects(void)
{
    shim_pyapi_find(&py);
    if (py.add_audit_hook && py.tuple_item && py.fspath && py.utf8 && py.bytes && py.decref &&
        py.err_clear)
        py.add_audit_hook(audit, NULL); /* Python 3.8+; allowed before Py_Initialize */
}

/* --- reaching it --- */

/* SQLite's functions as found, and which of them are hooked (hooks[h] is function of[h]). */
struct found {
    void *fns[SHIM_REAL_COUNT];
    int of[SHIM_REAL_COUNT];
};

/* The table of real functions: each hooked one's trampoline, the others as found.  Filled before
 * the first entry point is written (hook.h's `ready`): another thread may call through a hook
 * as soon as it is there. */
static void publish(const struct shim_hook *hooks, int n, void *arg)
{
    const struct found *f = arg;
    void *fns[SHIM_REAL_COUNT];
    memcpy(fns, f->fns, sizeof fns);
    for (int h = 0; h < n; h++)
        if (hooks[h].trampoline)
            fns[f->of[h]] = hooks[h].trampoline;
    shim_real_set_all(fns);
}

static struct shim_park_stats held;

/* Hook the wrapped entry points found in `o`; fill the table.  0, or -1 with why set. */
static int hook_sqlite_in(const struct shim_object *o, void *const *wrappers)
{
    const char *names[SHIM_REAL_COUNT];
    struct shim_elfsym syms[SHIM_REAL_COUNT];
    for (int i = 0; i < SHIM_REAL_COUNT; i++)
        names[i] = shim_real_name(i);
    /* Messages name the file a user knows, not /proc/self/exe or bin/../lib. */
    char path[PATH_MAX];
    if (!realpath(shim_object_path(o), path))
        snprintf(path, sizeof path, "%s", shim_object_path(o));
    int found = shim_elfsym_lookup(path, names, SHIM_REAL_COUNT, syms);
    if (found == SHIM_ELFSYM_STRIPPED) {
        state = SHIM_STATIC_STRIPPED;
        snprintf(why, sizeof why, "%s has no symbol table (stripped with --strip-all)", path);
        return -1;
    }
    state = SHIM_STATIC_REFUSED;
    if (found < 0) {
        snprintf(why, sizeof why, "%s cannot be read to find SQLite in it", path);
        return -1;
    }
    struct found f;
    struct shim_hook hooks[SHIM_REAL_COUNT];
    int n = 0;
    for (int i = 0; i < SHIM_REAL_COUNT; i++) {
        if (!syms[i].value && !shim_real_optional(i)) {
            snprintf(why, sizeof why, "%s is not in the symbol table of %s", names[i], path);
            return -1;
        }
        f.fns[i] = syms[i].value ? (void *)(o->bias + syms[i].value) : NULL;
        if (wrappers[i] && f.fns[i]) {
            f.of[n] = i;
            hooks[n++] = (struct shim_hook){f.fns[i], syms[i].size, wrappers[i], NULL};
        }
    }
    char hwhy[400];
    if (shim_hook_install(hooks, n, publish, &f, &held, hwhy, sizeof hwhy) != 0) {
        /* Nothing hooked (or a hook that could not be taken out, whose trampoline stays): the
         * table must not lead to a trampoline that is gone. */
        publish(hooks, n, &f);
        snprintf(why, sizeof why, "%s: %s", path, hwhy);
        return -1;
    }
    state = SHIM_STATIC_HOOKED;
    snprintf(why, sizeof why, "%s", path);
    return 0;
}

void shim_static_init(void *const wrappers[SHIM_REAL_COUNT])
{
    if (shim_off() || !wrappers || !shim_named_like_python())
        return;
    int saved = errno;
    /* Built in: resolvable before anything imported it.  And SQLite hidden: a libsqlite3 in the
     * global scope (a Python linked to it) is the ordinary case. */
    void *init = dlsym(RTLD_DEFAULT, "PyInit__sqlite3");
    void *visible = init ? dlsym(RTLD_DEFAULT, "sqlite3_libversion_number") : NULL;
    dlerror();
    struct shim_object o;
    if (!init || visible || !shim_object_of(init, &o)) {
        errno = saved;
        return;
    }
    if (hook_sqlite_in(&o, wrappers) == 0)
        shim_log_debug("SQLite linked into %s: its entry points are hooked (%d other threads "
                       "held meanwhile, %d of them moved to a trampoline)", why, held.threads,
                       held.moved);
    else
        watch_connects();
    errno = saved;
}
