/* test_reach.c: a pytest --testmon that never reached the shim is told so at exit (reach.c). */
#include "reach.h"
#include "role.h"
#include "unit.h"

#define ARGV(...) argv_of((const char *[]){__VA_ARGS__, NULL})
static char cmd[512];
static size_t cmdlen;
/* NUL-separated, as /proc/self/cmdline */
static void argv_of(const char **args)
{
    cmdlen = 0;
    for (; *args; args++) {
        size_t l = strlen(*args) + 1;
        memcpy(cmd + cmdlen, *args, l);
        cmdlen += l;
    }
}

static struct timespec now_coarse(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME_COARSE, &t);
    return t;
}

static void touch(const char *path, time_t age_s)
{
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    CHECK(fd >= 0, "create %s", path);
    close(fd);
    struct timespec times[2] = {now_coarse(), now_coarse()};
    times[0].tv_sec -= age_s;
    times[1].tv_sec -= age_s;
    utimensat(AT_FDCWD, path, times, 0);
}

static int missed(const char *addopts, const char *datafile, const struct timespec *since,
                  char *out)
{
    return shim_reach_missed(cmd, cmdlen, addopts, datafile, since, out, PATH_MAX);
}

static void test_command_line(void)
{
    char dir[PATH_MAX], out[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/cmd", unit_tmpdir());
    mkdir(dir, 0700);
    CHECK(chdir(dir) == 0, "chdir");
    struct timespec since = now_coarse();
    since.tv_sec -= 5;
    touch(".testmondata", 0);
    ARGV("/usr/bin/python3", "/venv/bin/pytest", "-n", "2", "--testmon");
    CHECK_EQ_INT(missed(NULL, NULL, &since, out), 1);
    char want[PATH_MAX];
    snprintf(want, sizeof want, "%s/.testmondata", dir);
    CHECK_STR(out, want);
    ARGV("pytest", "--testmon-noselect");
    CHECK_EQ_INT(missed(NULL, NULL, &since, out), 1);
    ARGV("py.test", "-p", "no:xdist");
    CHECK_EQ_INT(missed("-x --testmon", NULL, &since, out), 1); /* PYTEST_ADDOPTS */
    /* no testmon asked for, or not pytest: never a word */
    ARGV("pytest", "-n", "2");
    CHECK_EQ_INT(missed(NULL, NULL, &since, out), 0);
    CHECK_EQ_INT(missed("-x", NULL, &since, out), 0);
    ARGV("python3", "-c", "import sqlite3", "--testmon");
    CHECK_EQ_INT(missed(NULL, NULL, &since, out), 0);
    ARGV("/usr/bin/git", "status");
    CHECK_EQ_INT(missed("--testmon", NULL, &since, out), 0);
    ARGV("/usr/bin/python3.11", "-X", "dev", "-W", "error", "-m", "pytest", "--testmon");
    CHECK_EQ_INT(missed(NULL, NULL, &since, out), 1);
    ARGV("python3", "-u", "/venv/bin/py.test", "--testmon");
    CHECK_EQ_INT(missed(NULL, NULL, &since, out), 1);
    /* wrappers name pytest and --testmon on their own command line: they are not pytest */
    ARGV("strace", "-f", "python", "-m", "pytest", "--testmon");
    CHECK_EQ_INT(missed(NULL, NULL, &since, out), 0);
    ARGV("/usr/bin/timeout", "60", "pytest", "--testmon");
    CHECK_EQ_INT(missed(NULL, NULL, &since, out), 0);
    ARGV("python3", "-c", "import pytest; pytest.main()", "pytest", "--testmon");
    CHECK_EQ_INT(missed(NULL, NULL, &since, out), 0);
    ARGV("python3", "-m", "pip", "install", "pytest", "--testmon");
    CHECK_EQ_INT(missed(NULL, NULL, &since, out), 0);
    ARGV("python3", "tool.py", "pytest", "--testmon");
    CHECK_EQ_INT(missed(NULL, NULL, &since, out), 0);
}

static void test_datafile_age_and_place(void)
{
    char dir[PATH_MAX], sub[PATH_MAX], out[PATH_MAX], want[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/age", unit_tmpdir());
    snprintf(sub, sizeof sub, "%s/tests/unit", dir);
    mkdir(dir, 0700);
    snprintf(want, sizeof want, "%s/tests", dir);
    mkdir(want, 0700);
    mkdir(sub, 0700);
    CHECK(chdir(dir) == 0, "chdir");
    ARGV("pytest", "--testmon");
    struct timespec since = now_coarse();
    since.tv_sec -= 5;
    CHECK_EQ_INT(missed(NULL, NULL, &since, out), 0); /* no datafile anywhere */
    touch(".testmondata", 60);
    CHECK_EQ_INT(missed(NULL, NULL, &since, out), 0); /* written before the process started */
    touch(".testmondata", 0);
    CHECK(chdir(sub) == 0, "chdir");
    CHECK_EQ_INT(missed(NULL, NULL, &since, out), 1); /* found in the nearest parent */
    snprintf(want, sizeof want, "%s/.testmondata", dir);
    CHECK_STR(out, want);
    /* the nearest one decides: an old one in between hides the fresh one above */
    snprintf(want, sizeof want, "%s/tests/.testmondata", dir);
    touch(want, 60);
    CHECK_EQ_INT(missed(NULL, NULL, &since, out), 0);
    /* TESTMON_DATAFILE names it */
    snprintf(want, sizeof want, "%s/elsewhere.db", dir);
    CHECK_EQ_INT(missed(NULL, want, &since, out), 0); /* does not exist */
    touch(want, 0);
    CHECK_EQ_INT(missed(NULL, want, &since, out), 1);
    CHECK_STR(out, want);
    CHECK(mkdir(".testmondata.d", 0700) == 0, "mkdir");
    CHECK_EQ_INT(missed(NULL, ".testmondata.d", &since, out), 0); /* not a regular file */
}

int main(void)
{
    unit_watchdog(20);
    unit_real_fill();
    RUN(test_command_line);
    RUN(test_datafile_age_and_place);
    return unit_finish();
}
