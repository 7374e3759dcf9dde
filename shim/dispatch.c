/* dispatch.c: find the managed connection, run the policy around the real call. */
#include "dispatch.h"
#include "conn.h"
#include "controller.h"
#include "guard.h"
#include "real.h"
#include "worker.h"
#include <errno.h>

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

