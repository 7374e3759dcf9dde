/* role.c: classify an open (role.h); dispatch.c applies the role's policy. */
#include "role.h"
#include "cmdline.h"
#include "coord.h"
#include "datafile.h"
#include "pidstat.h"
#include "runid.h"
#include "session.h"
#include "settings.h"
#include <sqlite3.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct shim_forklock shim_role_lock = SHIM_FORKLOCK_INIT;
/* Written under shim_role_lock at the first datafile open, then only read: the run before the
 * role (a release store), so that whoever sees a role sees the run it came with. */
static struct shim_run_ctx ctx;
static enum shim_role role;

/* Would this process's role rest on the interpreter's witness (session.h)?  Not for a worker, a
 * pytest command line, or a process a running test started. */
static int needs_witness(void)
{
    const char *wid = getenv("PYTEST_XDIST_WORKER");
    return !(wid && *wid) && !shim_settings()->started_by_test && !shim_cmdline_is_pytest();
}

/* Decide the role of a first datafile open, filling ctx; called with shim_role_lock held.
 * `session`: the interpreter's witness, asked before the lock was taken (-1: not asked, not
 * needed). */
static enum shim_role decide(const char *canonical, int session)
{
    const char *wid = getenv("PYTEST_XDIST_WORKER");
    snprintf(ctx.datafile, sizeof ctx.datafile, "%s", canonical);
    if (shim_coord_dir(canonical, ctx.dir, sizeof ctx.dir) != 0)
        return SHIM_ROLE_BYSTANDER;
    if (wid && *wid) {
        long ppid = shim_settings()->initial_ppid;
        snprintf(ctx.worker_id, sizeof ctx.worker_id, "%s", wid);
        ctx.run.pid = ppid ? ppid : (long)getppid();
        /* 0 if the parent is gone: worker_open then tells a dead controller from none. */
        ctx.run.start = getppid() == ctx.run.pid ? shim_pid_starttime(ctx.run.pid) : 0;
        /* The controller named its run with the start time it read of itself, which need not be
         * what we read of it (runid.h, shim_start_same_process: qemu-user): take the name of
         * the run file our parent published, by its pid, if there is one; stale ones of an
         * earlier process with that pid are passed over. */
        if (ctx.run.start)
            shim_coord_find_run(ctx.dir, ctx.run.pid, ctx.run.start, &ctx.run.start);
        shim_run_name(&ctx.run, ctx.run_name, sizeof ctx.run_name);
        return SHIM_ROLE_WORKER; /* confirmed by worker_open, which may step aside */
    }
    if (session == 0 || (session < 0 && !shim_cmdline_is_pytest()))
        return SHIM_ROLE_BYSTANDER;
    ctx.run.pid = (long)getpid();
    ctx.run.start = shim_pid_starttime(ctx.run.pid);
    shim_run_name(&ctx.run, ctx.run_name, sizeof ctx.run_name);
    return SHIM_ROLE_CONTROLLER;
}

enum shim_role shim_role_now(void) { return __atomic_load_n(&role, __ATOMIC_ACQUIRE); }

int shim_role_would_control(void)
{
    const char *wid = getenv("PYTEST_XDIST_WORKER");
    if (wid && *wid)
        return 0;
    return shim_cmdline_is_pytest() ||
           (!shim_settings()->started_by_test && shim_session_witness());
}

enum shim_role shim_role_for_open(const char *filename, int flags,
                                  const struct shim_run_ctx **run)
{
    char canonical[PATH_MAX];
    int saved = errno;
    *run = NULL;
    if (!shim_datafile_maybe(filename) ||
        shim_datafile_canonical(filename, flags & SQLITE_OPEN_URI, canonical, sizeof canonical) ||
        !shim_datafile_is_candidate(canonical)) {
        errno = saved;
        return SHIM_ROLE_BYSTANDER;
    }
    pthread_mutex_lock(&shim_role_lock.m);
    if (role == SHIM_ROLE_NONE) {
        int session = -1;
        if (needs_witness()) {
            /* Asking the interpreter may wait for the GIL: never under shim_role_lock, which a
             * thread holding the GIL could be waiting for. */
            pthread_mutex_unlock(&shim_role_lock.m);
            session = shim_session_witness();
            pthread_mutex_lock(&shim_role_lock.m);
        }
        if (role == SHIM_ROLE_NONE)
            __atomic_store_n(&role, decide(canonical, session), __ATOMIC_RELEASE);
    }
    enum shim_role r = strcmp(ctx.datafile, canonical) == 0 ? role : SHIM_ROLE_BYSTANDER;
    pthread_mutex_unlock(&shim_role_lock.m);
    if (r == SHIM_ROLE_CONTROLLER || r == SHIM_ROLE_WORKER)
        *run = &ctx;
    errno = saved;
    return r;
}

void shim_role_step_aside(void)
{
    pthread_mutex_lock(&shim_role_lock.m);
    __atomic_store_n(&role, SHIM_ROLE_BYSTANDER, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&shim_role_lock.m);
}

void shim_role_reset(void)
{
    memset(&ctx, 0, sizeof ctx);
    role = SHIM_ROLE_NONE;
}
