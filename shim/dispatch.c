/* dispatch.c: every intercepted call on its way to a policy.  An open: the role of the file in
 * this process (role.h), then the controller's or worker's open; anything else: find the managed
 * connection, run its policy around the real call. */
#include "dispatch.h"
#include "conn.h"
#include "controller.h"
#include "guard.h"
#include "log.h"
#include "pymod.h"
#include "real.h"
#include "role.h"
#include "settings.h"
#include "unmanaged.h"
#include "worker.h"
#include <errno.h>
#include <limits.h>

/* Fail a worker's open in a way Python reports as OperationalError: a real handle in error
 * state from a path that cannot exist.  The reason was already printed on stderr. */
static int fail_open(sqlite3 **ppDb)
{
    REAL(sqlite3_open_v2)("/nonexistent/testmon-shim/refused", ppDb, SQLITE_OPEN_READONLY, NULL);
    return SQLITE_CANTOPEN;
}

int shim_open(const char *filename, sqlite3 **ppDb, int flags, const char *vfs)
{
    int saved = errno;
    /* Without every function the policies need (real.c said which), nobody is managed. */
    const struct shim_run_ctx *run = NULL;
    enum shim_role role =
        shim_real_complete() ? shim_role_for_open(filename, flags, &run) : SHIM_ROLE_BYSTANDER;
    int rc;
    shim_enter();
    /* Bad settings are said once per run, by its controller: workers inherit the same ones, and
     * a worker whose controller never used the shim lets unmanaged.c decide. */
    if (role == SHIM_ROLE_CONTROLLER)
        shim_settings_report();
    /* From here on the sqlite3 module's statements must pass the policies: redirect its calls
     * (pymod.h), or leave the whole run to upstream, as it was, with the reason. */
    char why[PATH_MAX + 256];
    if ((role == SHIM_ROLE_CONTROLLER || role == SHIM_ROLE_WORKER) &&
        shim_pymod_manage(why, sizeof why) != 0) {
        shim_log_error("cannot redirect the sqlite3 module's calls to SQLite (%s): this process "
                       "steps aside and pytest -n --testmon runs as without the shim", why);
        shim_role_step_aside();
        role = SHIM_ROLE_BYSTANDER;
    }
    switch (role) {
    case SHIM_ROLE_CONTROLLER:
        rc = shim_controller_open(run, filename, ppDb, flags, vfs);
        break;
    case SHIM_ROLE_WORKER:
        rc = shim_worker_open(run, filename, ppDb, flags, vfs);
        if (rc < 0) { /* not SQLite's: worker.h's outcome */
            switch ((enum shim_worker_outcome)rc) {
            case SHIM_WORKER_STEP_ASIDE:
                shim_role_step_aside();
                rc = REAL(sqlite3_open_v2)(filename, ppDb, flags, vfs);
                shim_unmanaged_worker(run); /* gw0 says why, if it is not deliberate */
                break;
            case SHIM_WORKER_REFUSED:
                rc = fail_open(ppDb);
                break;
            }
        }
        break;
    default:
        rc = REAL(sqlite3_open_v2)(filename, ppDb, flags, vfs);
    }
    shim_leave();
    errno = saved;
    return rc;
}

int shim_open_module(int i, const char *filename, sqlite3 **ppDb, int flags, const char *vfs,
                     shim_open_fn real)
{
    switch (shim_pymod_admit(i)) {
    case SHIM_PYMOD_SAME:
        return shim_open(filename, ppDb, flags, vfs);
    case SHIM_PYMOD_OTHER:
        shim_unmanaged_other_sqlite(filename, flags, shim_pymod_name(i));
        return real(filename, ppDb, flags, vfs);
    default: /* real.c said what its SQLite lacks */
        return real(filename, ppDb, flags, vfs);
    }
}

/* Around a statement that runs on a managed connection: the controller applies what workers
 * handed over before it starts a transaction; afterwards each role looks at what happened. */
static void before(struct shim_conn *c, sqlite3 *db)
{
    if (c->kind == SHIM_CONN_CONTROLLER && REAL(sqlite3_get_autocommit)(db))
        shim_controller_before_write(c);
}

static void after(struct shim_conn *c, int rc)
{
    if (c->kind == SHIM_CONN_CONTROLLER)
        shim_controller_after_step(c, rc);
    else
        shim_worker_after_step(c);
}

/* The whole step runs guarded: libsqlite3 re-enters its own API from inside step (schema
 * re-reads), and those internal statements must never see a policy. */
int shim_step(sqlite3_stmt *stmt, int (*real)(sqlite3_stmt *))
{
    sqlite3 *db = REAL(sqlite3_db_handle)(stmt);
    struct shim_conn *c = shim_conn_find(db);
    if (!c)
        return real(stmt);
    int saved = errno;
    shim_enter();
    before(c, db);
    errno = saved;
    int rc = real(stmt);
    if (rc == SQLITE_ERROR && c->kind == SHIM_CONN_WORKER)
        rc = shim_worker_after_failed_step(c, stmt, rc, real);
    saved = errno;
    after(c, rc);
    shim_leave();
    errno = saved;
    return rc;
}

struct prepare_args {
    enum shim_prepare_variant v;
    sqlite3 *db;
    const char *sql;
    int n;
    unsigned flags;
    sqlite3_stmt **pp;
    const char **tail;
};

static int call_prepare(void *p)
{
    struct prepare_args *a = p;
    switch (a->v) {
    case SHIM_PREPARE_V1:
        return REAL(sqlite3_prepare)(a->db, a->sql, a->n, a->pp, a->tail);
    case SHIM_PREPARE_V3:
        return REAL(sqlite3_prepare_v3)(a->db, a->sql, a->n, a->flags, a->pp, a->tail);
    default:
        return REAL(sqlite3_prepare_v2)(a->db, a->sql, a->n, a->pp, a->tail);
    }
}

int shim_prepare(enum shim_prepare_variant v, sqlite3 *db, const char *sql, int n, unsigned flags,
                 sqlite3_stmt **pp, const char **tail)
{
    struct prepare_args a = {v, db, sql, n, flags, pp, tail};
    int rc = call_prepare(&a);
    struct shim_conn *c;
    if (rc != SQLITE_ERROR || !(c = shim_conn_find(db)) || c->kind != SHIM_CONN_WORKER)
        return rc;
    int saved = errno;
    shim_enter();
    rc = shim_worker_after_failed_prepare(c, rc, call_prepare, &a);
    shim_leave();
    errno = saved;
    return rc;
}

/* Guarded like step.  testmon's workers run no writing scripts once the controller has
 * migrated the file, so statements inside exec need no shadow materialisation. */
int shim_exec(sqlite3 *db, const char *sql, int (*cb)(void *, int, char **, char **), void *arg,
              char **errmsg)
{
    struct shim_conn *c = shim_conn_find(db);
    if (!c)
        return REAL(sqlite3_exec)(db, sql, cb, arg, errmsg);
    int saved = errno;
    shim_enter();
    before(c, db);
    errno = saved;
    int rc = REAL(sqlite3_exec)(db, sql, cb, arg, errmsg);
    saved = errno;
    after(c, rc);
    shim_leave();
    errno = saved;
    return rc;
}

int shim_close(sqlite3 *db, int (*real)(sqlite3 *))
{
    struct shim_conn *c = shim_conn_find(db);
    if (c) {
        int saved = errno;
        shim_enter();
        if (c->kind == SHIM_CONN_CONTROLLER)
            shim_controller_close(c);
        else
            shim_worker_close(c);
        shim_leave();
        errno = saved;
    }
    int rc = real(db);
    if (c && rc == SQLITE_OK)
        shim_conn_remove(c);
    return rc;
}

