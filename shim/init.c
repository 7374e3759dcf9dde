/* init.c: library lifecycle.  The constructor runs in every process the preload reaches (shells,
 * git, compilers...), so it only reads a few environment variables: no SQLite, no files unless a
 * log file was asked for.  In a process named like Python it also looks for the sqlite3 module
 * (pymod.h: the loaded objects, and the interpreter's dlopen slot for later loads) or, where
 * SQLite is linked into the interpreter, reads its symbol table once (static.h).
 * PYTEST_XDIST_WORKER is deliberately not read here (xdist sets it later from Python); role.c
 * reads it at the first datafile open. */
#include "conn.h"
#include "controller.h"
#include "forklock.h"
#include "guard.h"
#include "log.h"
#include "pymod.h"
#include "reach.h"
#include "real.h"
#include "role.h"
#include "settings.h"
#include "static.h"
#include "worker.h"
#include "wrappers.h"
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

/* How long fork waits for each lock another thread holds (forklock.h): the shim's critical
 * sections take microseconds, or a busy wait of SQLite's under the controller's replay. */
#define SHIM_FORK_LOCK_WAIT_MS 200

/* Every lock of the shim, in the order the code nests them: prepare takes them in this order
 * (forklock.h).  role's is released before anything else is taken; pymod's is held while the
 * table of real functions is filled, under real's. */
static struct shim_forklock *const fork_locks[] = {&shim_role_lock, &shim_controller_lock,
                                                   &shim_conn_lock, &shim_pymod_lock,
                                                   &shim_real_lock};

static void child_after_fork(void)
{
    /* The child is a new process: not the parent's controller, and the parent's handles are
     * not its to manage.  Its locks are fresh (forklock.h). */
    shim_forklock_child();
    shim_conn_forget_all();
    shim_role_reset();
    shim_controller_forget();
    shim_worker_forget();
    shim_reach_after_fork();
    shim_settings_after_fork(); /* the forking process is this child's parent */
}

__attribute__((constructor)) static void shim_init(void)
{
    int saved = errno;
    shim_settings_capture(); /* settings.h: the environment, once */
    shim_forklock_register(fork_locks, (int)(sizeof fork_locks / sizeof *fork_locks),
                           SHIM_FORK_LOCK_WAIT_MS);
    pthread_atfork(shim_forklock_prepare, shim_forklock_parent, child_after_fork);
    void *wrappers[SHIM_REAL_COUNT];
    shim_open_fn opens[SHIM_MAX_PYMODS];
    shim_wrappers(wrappers, opens);
    /* A Python with SQLite linked in is hooked now (static.h: with any other thread held while
     * its code is written); a sqlite3 module is watched (pymod.h). */
    shim_static_init(wrappers);
    if (!shim_off())
        shim_pymod_init(wrappers, opens);
    errno = saved;
}

__attribute__((destructor)) static void shim_fini(void)
{
    int saved = errno;
    shim_controller_exit();
    shim_reach_check_at_exit();
    errno = saved;
}
