/* reach.c: see reach.h. */
#include "reach.h"
#include "cmdline.h"
#include "log.h"
#include "pymod.h"
#include "role.h"
#include "settings.h"
#include "static.h"
#include <errno.h>
#include <link.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Cut a canonical path to its parent directory ("/a/b" -> "/a", "/a" -> "/"); 0 at "/". */
static int parent_dir(char *dir)
{
    char *slash = strrchr(dir, '/');
    if (!slash || (slash == dir && !dir[1]))
        return 0;
    slash == dir ? (void)(dir[1] = 0) : (void)(*slash = 0);
    return 1;
}

/* Runners that call pytest.main() in their own process, known by their file names: PyCharm's
 * and VS Code's.  (A project's own run_tests.py cannot be told from any other script.) */
static int is_ide_runner(const char *arg)
{
    const char *b = shim_cmdline_base(arg);
    return strcmp(b, "_jb_pytest_runner.py") == 0 || strcmp(b, "run_pytest_script.py") == 0;
}

/* Is this process pytest itself (not a wrapper such as strace, time or timeout, whose own command
 * line names pytest too)?  pytest is argv[0], or argv[0] is python and pytest is its script or
 * its -m module, or its script is an IDE's runner, or its -c code calls pytest.main(); which
 * words name pytest and Python is cmdline.h's rule.  Stricter than role.c's
 * shim_cmdline_is_pytest on purpose: there `coverage run -m pytest` must still be a controller,
 * here a false alarm costs more than silence.  Returns pytest's first own argument (possibly
 * `end`), or NULL if this is not pytest. */
static const char *pytest_args(const char *cmdline, const char *end)
{
    const char *arg = cmdline;
    if (shim_cmdline_names_pytest(arg))
        return arg + strlen(arg) + 1;
    if (!shim_cmdline_names_python(arg))
        return NULL;
    for (arg += strlen(arg) + 1; arg < end && arg[0] == '-'; arg += strlen(arg) + 1) {
        if (strcmp(arg, "-m") == 0) {
            arg += strlen(arg) + 1;
            return arg < end && shim_cmdline_pytest_module(arg) ? arg + strlen(arg) + 1 : NULL;
        }
        if (strcmp(arg, "-c") == 0) { /* python -c CODE: pytest only if CODE runs it here */
            arg += strlen(arg) + 1;
            return arg < end && strstr(arg, "pytest.main(") ? arg + strlen(arg) + 1 : NULL;
        }
        if (strcmp(arg, "-X") == 0 || strcmp(arg, "-W") == 0)
            arg += strlen(arg) + 1; /* an option with a separate value */
    }
    return arg < end && (shim_cmdline_names_pytest(arg) || is_ide_runner(arg))
               ? arg + strlen(arg) + 1 : NULL;
}

/* Does pytest's configuration file for `dir` (the first one found from dir upwards, as pytest
 * looks for it) switch testmon on?  An approximation that errs on the side of silence: the
 * file holds a pytest section and names --testmon. */
static int ini_asks_testmon(const char *dir)
{
    static const struct {
        const char *name, *section; /* section NULL: the file is pytest's whatever it holds */
    } files[] = {{"pytest.ini", NULL}, {".pytest.ini", NULL},
                 {"pyproject.toml", "[tool.pytest.ini_options]"}, {"tox.ini", "[pytest]"},
                 {"setup.cfg", "[tool:pytest]"}};
    char d[PATH_MAX];
    if (!realpath(dir, d))
        return 0;
    for (;;) {
        for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
            char path[PATH_MAX + 32], text[65536];
            snprintf(path, sizeof path, "%s/%s", strcmp(d, "/") ? d : "", files[i].name);
            FILE *f = fopen(path, "re");
            if (!f)
                continue;
            size_t len = fread(text, 1, sizeof text - 1, f);
            fclose(f);
            text[len] = 0;
            if (files[i].section && !strstr(text, files[i].section))
                continue; /* not pytest's file: pytest looks further */
            return strstr(text, "--testmon") != NULL;
        }
        if (!parent_dir(d))
            return 0;
    }
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

/* The nearest .testmondata from `start` upwards into out (testmon keeps it in pytest's rootdir:
 * the directory of the ini file, or an ancestor of the arguments).  1 found, 0 none. */
static int nearest_datafile(const char *start, char *out, size_t outsz)
{
    char dir[PATH_MAX];
    if (!realpath(start, dir))
        return 0;
    struct stat st;
    if (stat(dir, &st) != 0 || (!S_ISDIR(st.st_mode) && !parent_dir(dir))) /* a file: its dir */
        return 0;
    do {
        if ((size_t)snprintf(out, outsz, "%s/.testmondata", strcmp(dir, "/") ? dir : "") >=
            outsz)
            return 0;
        if (stat(out, &st) == 0)
            return 1;
    } while (parent_dir(dir));
    return 0;
}

/* Was `path` written since `since`, by a run that asked for testmon (on the command line, in
 * PYTEST_ADDOPTS, or in the configuration file that pytest finds from `ini_dir`; NULL: the
 * datafile's directory, which is pytest's rootdir)? */
static int missed_at(const char *path, int asked, const char *ini_dir,
                     const struct timespec *since)
{
    if (!written_since(path, since))
        return 0;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", ini_dir ? ini_dir : path);
    return asked || ((ini_dir || parent_dir(dir)) && ini_asks_testmon(dir));
}

int shim_reach_missed(const char *cmdline, size_t n, const char *addopts, const char *datafile,
                      const struct timespec *since, char *out, size_t outsz)
{
    const char *end = cmdline + n, *args = pytest_args(cmdline, end), *arg;
    if (!args)
        return 0;
    int asked = addopts && strstr(addopts, "--testmon") != NULL;
    for (arg = args; arg < end; arg += strlen(arg) + 1)
        asked |= strncmp(arg, "--testmon", 9) == 0; /* --testmon, --testmon-noselect, ... */
    if (datafile && *datafile) {
        snprintf(out, outsz, "%s", datafile);
        return missed_at(out, asked, ".", since);
    }
    /* pytest's rootdir holds it: look from each path argument (`pytest sub/tests` may have its
     * rootdir below the working directory), then from the working directory */
    for (arg = args; arg < end; arg += strlen(arg) + 1) {
        char path[PATH_MAX];
        if (arg[0] == '-' || snprintf(path, sizeof path, "%s", arg) >= (int)sizeof path)
            continue;
        char *node = strstr(path, "::"); /* a node id: tests/test_a.py::test_x */
        if (node)
            *node = 0;
        if (nearest_datafile(path, out, outsz) && missed_at(out, asked, NULL, since))
            return 1;
    }
    return nearest_datafile(".", out, outsz) && missed_at(out, asked, NULL, since);
}

static int forked; /* a child forked from the process that ran pytest: the parent speaks */

void shim_reach_after_fork(void) { forked = 1; }

void shim_reach_check_at_exit(void)
{
    /* off, a forked child, a datafile did pass through the shim, not pytest, or static.h said
     * why at the first datafile connect */
    if (shim_off() || forked || shim_role_now() != SHIM_ROLE_NONE ||
        !shim_named_like_python() || shim_static_reported())
        return;
    /* With a sqlite3 module watched, the shim was reachable and this process just never opened
     * the datafile: a testmon 1.x controller under xdist leaves that to its workers. */
    if (shim_pymod_count() > 0)
        return;
    int saved = errno;
    char cmdline[8192], path[PATH_MAX];
    size_t n = shim_cmdline(cmdline, sizeof cmdline);
    if (n > 0) {
        if (!shim_reach_missed(cmdline, n, getenv("PYTEST_ADDOPTS"),
                               getenv("TESTMON_DATAFILE"), &shim_settings()->load_time, path,
                               sizeof path))
            ;
        else if (shim_pymod_unreachable()[0])
            shim_log_error("pytest --testmon wrote %s without passing through the shim: %s; "
                           "`testmon-shim doctor` checks a Python, use one whose sqlite3 module "
                           "calls a libsqlite3.so", path, shim_pymod_unreachable());
        else
            shim_log_error("pytest --testmon wrote %s without passing through the shim: this "
                           "Python has SQLite linked in (python-build-standalone, as uv installs "
                           "it)%s%s, which the shim cannot reach; `testmon-shim doctor` checks a "
                           "Python, use one whose sqlite3 module loads libsqlite3.so", path,
                           shim_static_state() > SHIM_STATIC_HOOKED ? " and " : "",
                           shim_static_state() > SHIM_STATIC_HOOKED ? shim_static_why() : "");
    }
    errno = saved;
}
