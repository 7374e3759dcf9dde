/* role.c: classify an open and dispatch it to the controller or worker policy. */
#include "role.h"
#include "controller.h"
#include "datafile.h"
#include "guard.h"
#include "log.h"
#include "real.h"
#include "worker.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct shim_process shim_proc;
struct shim_config shim_config = {.disabled = 0, .timeout_ms = 60000};
static pthread_mutex_t role_lock = PTHREAD_MUTEX_INITIALIZER;

size_t shim_cmdline(char *buf, size_t bufsz)
{
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, bufsz - 1) : -1;
    if (fd >= 0)
        close(fd);
    n = n > 0 ? n : 0;
    buf[n] = 0;
    return (size_t)n;
}

int shim_is_pytest_process(void)
{
    char buf[8192];
    size_t n = shim_cmdline(buf, sizeof buf);
    for (char *arg = buf; arg < buf + n; arg += strlen(arg) + 1) {
        const char *base = strrchr(arg, '/');
        base = base ? base + 1 : arg;
        if (strncmp(base, "pytest", 6) == 0 || strncmp(base, "py.test", 7) == 0)
            return 1;
    }
    return 0;
}

/* Fail a worker's open in a way Python reports as OperationalError: a real handle in error
 * state from a path that cannot exist.  The reason was already printed on stderr. */
static int fail_open(sqlite3 **ppDb)
{
    REAL(sqlite3_open_v2)("/nonexistent/testmon-shim/refused", ppDb, SQLITE_OPEN_READONLY, NULL);
    return SQLITE_CANTOPEN;
}

/* Decide the role of a first datafile open; called with role_lock held. */
static enum shim_role decide(const char *canonical)
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
                                  ? shim_proc_starttime(shim_proc.run.pid) : 0;
        shim_coord_run_name(&shim_proc.run, shim_proc.run_name, sizeof shim_proc.run_name);
        return SHIM_ROLE_WORKER; /* confirmed by worker_open, which may step aside */
    }
    if (!shim_is_pytest_process())
        return SHIM_ROLE_BYSTANDER;
    shim_proc.run.pid = (long)getpid();
    shim_proc.run.start = shim_proc_starttime(shim_proc.run.pid);
    shim_coord_run_name(&shim_proc.run, shim_proc.run_name, sizeof shim_proc.run_name);
    return SHIM_ROLE_CONTROLLER;
}

int shim_open(const char *filename, sqlite3 **ppDb, int flags, const char *vfs)
{
    char canonical[PATH_MAX];
    int saved = errno;
    if (!shim_datafile_maybe(filename) ||
        shim_datafile_canonical(filename, flags & SQLITE_OPEN_URI, canonical, sizeof canonical) ||
        !shim_datafile_is_candidate(canonical)) {
        errno = saved;
        return REAL(sqlite3_open_v2)(filename, ppDb, flags, vfs);
    }
    pthread_mutex_lock(&role_lock);
    enum shim_role role;
    if (shim_proc.role == SHIM_ROLE_NONE)
        shim_proc.role = decide(canonical);
    role = strcmp(shim_proc.datafile, canonical) == 0 ? shim_proc.role : SHIM_ROLE_BYSTANDER;
    pthread_mutex_unlock(&role_lock);
    errno = saved;

    int rc;
    shim_enter();
    if (role == SHIM_ROLE_CONTROLLER || role == SHIM_ROLE_WORKER)
        shim_config_report();
    switch (role) {
    case SHIM_ROLE_CONTROLLER:
        rc = shim_controller_open(filename, ppDb, flags, vfs);
        break;
    case SHIM_ROLE_WORKER:
        rc = shim_worker_open(filename, ppDb, flags, vfs);
        if (rc == SHIM_WORKER_STEP_ASIDE) {
            pthread_mutex_lock(&role_lock);
            shim_proc.role = SHIM_ROLE_BYSTANDER;
            pthread_mutex_unlock(&role_lock);
            rc = REAL(sqlite3_open_v2)(filename, ppDb, flags, vfs);
        } else if (rc == SHIM_WORKER_REFUSED) {
            rc = fail_open(ppDb);
        }
        break;
    default:
        rc = REAL(sqlite3_open_v2)(filename, ppDb, flags, vfs);
    }
    shim_leave();
    errno = saved;
    return rc;
}

void shim_role_reset(void)
{
    pthread_mutex_init(&role_lock, NULL);
    memset(&shim_proc, 0, sizeof shim_proc);
}
