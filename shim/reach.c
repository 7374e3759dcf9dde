/* reach.c: see reach.h. */
#include "reach.h"
#include "log.h"
#include "role.h"
#include <errno.h>
#include <link.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *base_of(const char *arg)
{
    const char *slash = strrchr(arg, '/');
    return slash ? slash + 1 : arg;
}

static int is_pytest(const char *arg)
{
    const char *b = base_of(arg);
    return strncmp(b, "pytest", 6) == 0 || strncmp(b, "py.test", 7) == 0;
}

/* Is this process pytest itself (not a wrapper such as strace, time or timeout, whose own command
 * line names pytest too), and did it ask for testmon?  pytest is argv[0], or argv[0] is python
 * and pytest is its script or its -m module.  Stricter than role.c's shim_is_pytest_process on
 * purpose: there `coverage run -m pytest` must still be a controller, here a false alarm costs
 * more than silence. */
static int asks_testmon(const char *cmdline, size_t n, const char *addopts)
{
    const char *end = cmdline + n, *arg = cmdline;
    int pytest = is_pytest(arg);
    if (!pytest && strncmp(base_of(arg), "python", 6) == 0) {
        for (arg += strlen(arg) + 1; arg < end && arg[0] == '-'; arg += strlen(arg) + 1) {
            if (strcmp(arg, "-m") == 0) {
                arg += strlen(arg) + 1;
                pytest = arg < end && (strcmp(arg, "pytest") == 0 || strcmp(arg, "py.test") == 0);
                break;
            }
            if (strcmp(arg, "-c") == 0)
                break; /* python -c CODE: not pytest */
            if (strcmp(arg, "-X") == 0 || strcmp(arg, "-W") == 0)
                arg += strlen(arg) + 1; /* an option with a separate value */
        }
        if (!pytest && arg < end && arg[0] != '-')
            pytest = is_pytest(arg);
    }
    if (!pytest)
        return 0;
    for (arg = cmdline; arg < end; arg += strlen(arg) + 1)
        if (strncmp(arg, "--testmon", 9) == 0) /* --testmon, --testmon-noselect, ... */
            return 1;
    return addopts && strstr(addopts, "--testmon") != NULL;
}

/* Modified at or after `since`?  File times come from the kernel's coarse clock, which is why
 * the caller takes `since` from CLOCK_REALTIME_COARSE. */
static int written_since(const char *path, const struct timespec *since)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    return st.st_mtim.tv_sec > since->tv_sec ||
           (st.st_mtim.tv_sec == since->tv_sec && st.st_mtim.tv_nsec >= since->tv_nsec);
}

int shim_reach_missed(const char *cmdline, size_t n, const char *addopts, const char *datafile,
                      const struct timespec *since, char *out, size_t outsz)
{
    if (!asks_testmon(cmdline, n, addopts))
        return 0;
    if (datafile && *datafile) {
        snprintf(out, outsz, "%s", datafile);
        return written_since(out, since);
    }
    /* testmon keeps .testmondata in pytest's rootdir: here or the nearest parent holding one */
    char dir[PATH_MAX];
    if (!getcwd(dir, sizeof dir))
        return 0;
    for (;;) {
        struct stat st;
        if ((size_t)snprintf(out, outsz, "%s/.testmondata", strcmp(dir, "/") ? dir : "") >=
            outsz)
            return 0;
        if (stat(out, &st) == 0)
            return written_since(out, since);
        char *slash = strrchr(dir, '/');
        if (!slash || slash == dir)
            return 0;
        *slash = 0;
    }
}

static int is_libsqlite3(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size, (void)arg;
    const char *base = strrchr(info->dlpi_name, '/');
    return strncmp(base ? base + 1 : info->dlpi_name, "libsqlite3.so", 13) == 0;
}

static int forked; /* a child forked from the process that ran pytest: the parent speaks */

void shim_reach_after_fork(void) { forked = 1; }

/* Could this process be pytest at all?  argv[0]'s name, which glibc keeps for free, rules out
 * shells, compilers and git without a system call at their exit. */
static int maybe_pytest(void)
{
    const char *n = program_invocation_short_name;
    return strncmp(n, "pytest", 6) == 0 || strncmp(n, "py.test", 7) == 0 ||
           strncmp(n, "python", 6) == 0;
}

void shim_reach_check_at_exit(void)
{
    if (shim_config.disabled || forked || shim_proc.role != SHIM_ROLE_NONE || !maybe_pytest())
        return; /* off, a forked child, a datafile did pass through the shim, or not pytest */
    /* With libsqlite3.so loaded, the shim was reachable and this process just never opened the
     * datafile: a testmon 1.x controller under xdist leaves that to its workers. */
    if (dl_iterate_phdr(is_libsqlite3, NULL))
        return;
    int saved = errno;
    char cmdline[8192], path[PATH_MAX];
    size_t n = shim_cmdline(cmdline, sizeof cmdline);
    if (n > 0) {
        if (shim_reach_missed(cmdline, n, getenv("PYTEST_ADDOPTS"),
                              getenv("TESTMON_DATAFILE"), &shim_load_time, path, sizeof path))
            shim_log_error("pytest --testmon wrote %s without passing through the shim: this "
                           "Python has SQLite linked in (python-build-standalone, as uv installs "
                           "it), which LD_PRELOAD cannot reach; `testmon-shim doctor` checks a "
                           "Python, use one whose sqlite3 module loads libsqlite3.so", path);
    }
    errno = saved;
}
