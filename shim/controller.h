/* controller.h: the controller's side.
 *
 * testmon initialises as usual on the controller's read-write connection.  The shim only
 *  - snapshots, at open, the rows of the table every worker re-derives by itself (environment),
 *    so that a worker later sees what the controller saw before it wrote (the snapshot: those
 *    rows only; the workers' copy of the whole file is the run's copy, runcopy.h);
 *  - publishes the run: "initialising" at open, "ready" once idle with testmon's schema in place;
 *  - applies, before its own next write, what workers handed over (journal.c): the gw0 test sync
 *    of testmon 1.4-2.1.0 reaches the database this way, in the order a serial run writes it. */
#ifndef SHIM_CONTROLLER_H
#define SHIM_CONTROLLER_H
#include "forklock.h"
#include "conn.h"
#include "role.h"
#include <sqlite3.h>

/* Open the datafile for the controller of `run` (role.h, kept for the run's lifetime), snapshot
 * environment and publish the run "initialising". */
int shim_controller_open(const struct shim_run_ctx *run, const char *filename, sqlite3 **ppDb,
                         int flags, const char *vfs);
/* Around sqlite3_step / sqlite3_exec on the controller's datafile connection. */
void shim_controller_before_write(struct shim_conn *c);
void shim_controller_after_step(struct shim_conn *c, int rc);
void shim_controller_close(struct shim_conn *c);
/* After fork: the child is not the controller of its parent's run, and has none. */
void shim_controller_forget(void);
/* At exit: mark the run this process published finished (workers that come late then see
 * "finished", not a hang), and remove the run's copy. */
void shim_controller_exit(void);
/* Guards the run file's state and the journal replay (forklock.h). */
extern struct shim_forklock shim_controller_lock;
#endif
