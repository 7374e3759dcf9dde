/* unmanaged.c: see unmanaged.h. */
#include "unmanaged.h"
#include "coord.h"
#include "datafile.h"
#include "log.h"
#include "role.h"
#include "safefile.h"
#include "settings.h"
#include <dirent.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int shim_unmanaged_parent_holds(long pid, const char *datafile, char *other, unsigned othersz)
{
    struct stat want, st;
    char dir[64];
    if (stat(datafile, &want) != 0)
        return 0;
    snprintf(dir, sizeof dir, "/proc/%ld/fd", pid);
    DIR *d = opendir(dir); /* our own uid's process: readable without privileges */
    if (!d)
        return 0;
    int found = 0;
    struct dirent *e;
    while (found != 1 && (e = readdir(d))) {
        if (e->d_name[0] == '.' || fstatat(dirfd(d), e->d_name, &st, 0) != 0 ||
            !S_ISREG(st.st_mode))
            continue;
        if (st.st_dev == want.st_dev && st.st_ino == want.st_ino) {
            found = 1;
            continue;
        }
        char link[PATH_MAX];
        ssize_t n = readlinkat(dirfd(d), e->d_name, link, sizeof link - 1);
        if (n <= 0)
            continue;
        link[n] = 0;
        const char *base = strrchr(link, '/');
        if (base && strcmp(base + 1, SHIM_DATAFILE_BASENAME) == 0) {
            snprintf(other, othersz, "%s", link);
            found = 2;
        }
    }
    closedir(d);
    return found;
}

/* Was process `pid` started inside an xdist worker (PYTEST_XDIST_WORKER in the environment it
 * started with)?  Then it is a nested pytest, a bystander by rule (role.h), and so are the
 * workers it starts.  /proc/<pid>/environ holds that initial environment, not later changes. */
static int started_in_worker(long pid)
{
    static const char key[] = "PYTEST_XDIST_WORKER=";
    char path[64], buf[8192];
    snprintf(path, sizeof path, "/proc/%ld/environ", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    /* Entries are NUL-terminated; keep the tail of each read that may hold a cut entry start. */
    size_t have = 0, keep = sizeof key - 1;
    int found = 0, at_start = 1;
    ssize_t n;
    while (!found && (n = read(fd, buf + have, sizeof buf - have)) > 0) {
        size_t len = have + (size_t)n, i;
        for (i = 0; i < len && !found; i++) {
            if (at_start && len - i >= keep && memcmp(buf + i, key, keep) == 0)
                found = 1;
            if (at_start && len - i < keep)
                break; /* an entry start too close to the end: look again with more bytes */
            at_start = buf[i] == 0;
        }
        have = i < len ? len - i : 0;
        memmove(buf, buf + len - have, have);
    }
    close(fd);
    return found;
}

/* Did the controller already say why it could not publish (an unusable coordination directory,
 * safefile.h)?  Then the worker has nothing to add. */
static int controller_spoke(const char *dir)
{
    struct stat st;
    enum shim_dir_state d = shim_dir_state(dir, &st, NULL, 0);
    return d != SHIM_DIR_OK && d != SHIM_DIR_CREATABLE;
}

void shim_unmanaged_worker(const struct shim_run_ctx *run)
{
    int saved = errno;
    if (shim_settings()->started_by_test || strcmp(run->worker_id, "gw0") != 0) {
        errno = saved;
        return; /* a nested run, or not the run's first worker: gw0 speaks for the run */
    }
    long pid = run->run.pid;
    if (started_in_worker(pid)) {
        errno = saved;
        return; /* the parent is a pytest nested in another run's worker: a bystander */
    }
    char other[PATH_MAX];
    int holds = shim_unmanaged_parent_holds(pid, run->datafile, other, sizeof other);
    if (holds == 1 && !controller_spoke(run->dir)) {
        shim_settings_report(); /* the controller did not: it never used the shim */
        shim_log_error("the controller (pid %ld) has %s open but published no run: it was not "
                       "recognised as a pytest session with testmon, so this xdist run is not "
                       "managed and may fail as upstream does ('attempt to write a readonly "
                       "database'); start pytest as `pytest` or `python -m pytest`, run "
                       "`testmon-shim doctor`, and please report how this one was started",
                       pid, run->datafile);
    } else if (holds == 2) {
        shim_settings_report();
        shim_log_error("this worker opens %s but its controller (pid %ld) has %s open: it cannot "
                       "find its run, so this xdist run is not managed; give the controller and "
                       "its workers the same datafile (rootdir, or TESTMON_DATAFILE as an "
                       "absolute path)", run->datafile, pid, other);
    }
    errno = saved;
}

void shim_unmanaged_other_sqlite(const char *filename, int flags, const char *module)
{
    static atomic_int said;
    char canonical[PATH_MAX];
    int saved = errno;
    const char *wid = getenv("PYTEST_XDIST_WORKER");
    /* Said only where it matters: the datafile itself, by a run's controller or worker. */
    if (!atomic_load(&said) && shim_datafile_canonical(filename, flags & SQLITE_OPEN_URI,
                                                       canonical, sizeof canonical) == 0 &&
        shim_datafile_is_candidate(canonical) && ((wid && *wid) || shim_role_would_control()) &&
        !atomic_exchange(&said, 1))
        shim_log_error("%s opens %s through %s, whose SQLite is not the one the shim manages "
                       "here (another sqlite3 module opened the datafile first): that connection "
                       "is not managed, and pytest -n --testmon may fail as without the shim; "
                       "let testmon and the project use one sqlite3 module", wid && *wid ? "this "
                       "worker" : "this controller", canonical, module);
    errno = saved;
}
