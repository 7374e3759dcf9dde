/* role.c: classify an open (role.h); dispatch.c applies the role's policy. */
#include "role.h"
#include "cmdline.h"
#include "coord.h"
#include "datafile.h"
#include "pidstat.h"
#include "runid.h"
#include "session.h"
#include <sqlite3.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct shim_forklock shim_role_lock = SHIM_FORKLOCK_INIT;

/* Would this process's role rest on the interpreter's witness (session.h)?  Not for a worker, a
 * pytest command line, or a process a running test started. */
static int needs_witness(void)
{
    const char *wid = getenv("PYTEST_XDIST_WORKER");
    return !(wid && *wid) && !shim_config.started_by_test && !shim_cmdline_is_pytest();
}

/* Decide the role of a first datafile open; called with shim_role_lock held.  `session`: the
 * interpreter's witness, asked before the lock was taken (-1: not asked, not needed). */
static enum shim_role decide(const char *canonical, int session)
{
    const char *wid = getenv("PYTEST_XDIST_WORKER");
    snprintf(shim_proc.datafile, sizeof shim_proc.datafile, "%s", canonical);
    if (shim_coord_dir(canonical, shim_proc.dir, sizeof shim_proc.dir) != 0)
        return SHIM_ROLE_BYSTANDER;
    if (wid && *wid) {
        snprintf(shim_proc.worker_id, sizeof shim_proc.worker_id, "%s", wid);
        shim_proc.run.pid = shim_initial_ppid ? shim_initial_ppid : (long)getppid();
        /* 0 if the parent is gone: worker_open then tells a dead controller from none. */
        shim_proc.run.start = getppid() == shim_proc.run.pid
                                  ? shim_pid_starttime(shim_proc.run.pid) : 0;
        /* The controller named its run with the start time it read of itself, which need not be
         * what we read of it (coord.h, shim_start_same_process: qemu-user): take the name of
         * the run file our parent published, by its pid, if there is one; stale ones of an
         * earlier process with that pid are passed over. */
        if (shim_proc.run.start)
            shim_coord_find_run(shim_proc.dir, shim_proc.run.pid, shim_proc.run.start,
                                &shim_proc.run.start);
        shim_run_name(&shim_proc.run, shim_proc.run_name, sizeof shim_proc.run_name);
        return SHIM_ROLE_WORKER; /* confirmed by worker_open, which may step aside */
    }
    if (session == 0 || (session < 0 && !shim_cmdline_is_pytest()))
        return SHIM_ROLE_BYSTANDER;
    shim_proc.run.pid = (long)getpid();
    shim_proc.run.start = shim_pid_starttime(shim_proc.run.pid);
    shim_run_name(&shim_proc.run, shim_proc.run_name, sizeof shim_proc.run_name);
    return SHIM_ROLE_CONTROLLER;
}

int shim_role_would_control(void)
{
    const char *wid = getenv("PYTEST_XDIST_WORKER");
    if (wid && *wid)
        return 0;
    return shim_cmdline_is_pytest() || (!shim_config.started_by_test && shim_session_witness());
}

enum shim_role shim_role_for_open(const char *filename, int flags)
{
    char canonical[PATH_MAX];
    int saved = errno;
    if (!shim_datafile_maybe(filename) ||
        shim_datafile_canonical(filename, flags & SQLITE_OPEN_URI, canonical, sizeof canonical) ||
        !shim_datafile_is_candidate(canonical)) {
        errno = saved;
        return SHIM_ROLE_BYSTANDER;
    }
    pthread_mutex_lock(&shim_role_lock.m);
    if (shim_proc.role == SHIM_ROLE_NONE) {
        int session = -1;
        if (needs_witness()) {
            /* Asking the interpreter may wait for the GIL: never under shim_role_lock, which a
             * thread holding the GIL could be waiting for. */
            pthread_mutex_unlock(&shim_role_lock.m);
            session = shim_session_witness();
            pthread_mutex_lock(&shim_role_lock.m);
        }
        if (shim_proc.role == SHIM_ROLE_NONE)
            shim_proc.role = decide(canonical, session);
    }
    enum shim_role role =
        strcmp(shim_proc.datafile, canonical) == 0 ? shim_proc.role : SHIM_ROLE_BYSTANDER;
    pthread_mutex_unlock(&shim_role_lock.m);
    errno = saved;
    return role;
}

void shim_role_step_aside(void)
{
    pthread_mutex_lock(&shim_role_lock.m);
    shim_proc.role = SHIM_ROLE_BYSTANDER;
    pthread_mutex_unlock(&shim_role_lock.m);
}

void shim_role_reset(void)
{
    memset(&shim_proc, 0, sizeof shim_proc);
}
