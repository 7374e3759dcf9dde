/* conn.h: the few connections the shim manages (a controller's or worker's datafile handle).
 *
 * Every other connection is untracked and passes straight through.  Lookups are lock-free scans
 * of a small array of atomic handles; the array is empty in bystander processes, so their hot
 * path is one atomic load of shim_conn_count and a branch. */
#ifndef SHIM_CONN_H
#define SHIM_CONN_H
#include "forklock.h"
#include <sqlite3.h>
#include <stdatomic.h>

#define SHIM_MAX_CONNS 16

enum shim_conn_kind { SHIM_CONN_CONTROLLER = 1, SHIM_CONN_WORKER = 2 };

struct shim_conn {
    _Atomic(sqlite3 *) db;
    int kind;
    atomic_int committed; /* set by the commit hook, consumed after the step that committed */
};

extern atomic_int shim_conn_count;

struct shim_conn *shim_conn_find(sqlite3 *db);
/* Track db; installs the commit hook.  NULL if the table is full (logged). */
struct shim_conn *shim_conn_add(sqlite3 *db, int kind);
void shim_conn_remove(struct shim_conn *c);
/* Take the "a transaction committed since last asked" flag, only once the connection is back in
 * autocommit (the commit is then durable and visible to other processes). */
int shim_conn_take_commit(struct shim_conn *c);
/* After fork: the child's copies of the parent's handles are not ours to manage. */
void shim_conn_forget_all(void);
/* Guards the connection table (forklock.h: taken around fork). */
extern struct shim_forklock shim_conn_lock;
#endif
