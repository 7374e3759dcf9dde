/* conn.c: registry of managed connections. */
#include "conn.h"
#include "log.h"
#include "real.h"
#include <pthread.h>
#include <string.h>

static struct shim_conn conns[SHIM_MAX_CONNS];
struct shim_forklock shim_conn_lock = SHIM_FORKLOCK_INIT;
atomic_int shim_conn_count;

struct shim_conn *shim_conn_find(sqlite3 *db)
{
    if (!db)
        return NULL;
    for (int i = 0; i < SHIM_MAX_CONNS; i++)
        if (atomic_load_explicit(&conns[i].db, memory_order_acquire) == db)
            return &conns[i];
    return NULL;
}

static int on_commit(void *arg)
{
    atomic_store(&((struct shim_conn *)arg)->committed, 1);
    return 0; /* let it commit */
}

struct shim_conn *shim_conn_add(sqlite3 *db, int kind)
{
    struct shim_conn *slot = NULL;
    pthread_mutex_lock(&shim_conn_lock.m);
    for (int i = 0; i < SHIM_MAX_CONNS && !slot; i++)
        if (!atomic_load(&conns[i].db))
            slot = &conns[i];
    if (slot) {
        slot->kind = kind;
        atomic_store(&slot->committed, 0);
        atomic_store_explicit(&slot->db, db, memory_order_release);
        atomic_fetch_add(&shim_conn_count, 1);
    }
    pthread_mutex_unlock(&shim_conn_lock.m);
    if (!slot) {
        shim_log_error("more than %d datafile connections in one process; passing this one "
                       "through unmanaged", SHIM_MAX_CONNS);
        return NULL;
    }
    REAL(sqlite3_commit_hook)(db, on_commit, slot);
    return slot;
}

void shim_conn_remove(struct shim_conn *c)
{
    pthread_mutex_lock(&shim_conn_lock.m);
    if (atomic_load(&c->db)) {
        atomic_store(&c->db, NULL);
        atomic_fetch_sub(&shim_conn_count, 1);
    }
    pthread_mutex_unlock(&shim_conn_lock.m);
}

int shim_conn_take_commit(struct shim_conn *c)
{
    if (!atomic_load_explicit(&c->committed, memory_order_relaxed))
        return 0;
    sqlite3 *db = atomic_load(&c->db);
    if (!db || !REAL(sqlite3_get_autocommit)(db))
        return 0;
    return atomic_exchange(&c->committed, 0);
}

void shim_conn_forget_all(void)
{
    for (int i = 0; i < SHIM_MAX_CONNS; i++)
        atomic_store(&conns[i].db, NULL);
    atomic_store(&shim_conn_count, 0);
}
