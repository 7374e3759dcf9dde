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
    /* pytest.main() in this process: python -c calling it, an IDE's runner (not any script) */
    ARGV("python3", "-c", "import pytest; pytest.main()", "-n", "2", "--testmon");
    CHECK_EQ_INT(missed(NULL, NULL, &since, out), 1);
    ARGV("python3", "-c", "import subprocess; subprocess.run(['pytest'])", "--testmon");
    CHECK_EQ_INT(missed(NULL, NULL, &since, out), 0);
    ARGV("python3", "/opt/pycharm/helpers/pycharm/_jb_pytest_runner.py", "--path", ".", "--",
         "--testmon");
    CHECK_EQ_INT(missed(NULL, NULL, &since, out), 1);
    ARGV("python3", "/ext/python_files/vscode_pytest/run_pytest_script.py", "--testmon");
    CHECK_EQ_INT(missed(NULL, NULL, &since, out), 1);
    ARGV("python3", "run_tests.py", "--testmon");
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

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL, "create %s", path);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* testmon switched on in pytest's configuration file only: the file of the datafile's directory
 * (pytest's rootdir), or the nearest above it, decides. */
static void test_ini_only(void)
{
    char dir[PATH_MAX], sub[PATH_MAX], out[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/ini", unit_tmpdir());
    snprintf(sub, sizeof sub, "%s/pkg", dir);
    mkdir(dir, 0700);
    mkdir(sub, 0700);
    CHECK(chdir(dir) == 0, "chdir");
    struct timespec since = now_coarse();
    since.tv_sec -= 5;
    touch(".testmondata", 0);
    ARGV("pytest", "-n", "2");
    CHECK_EQ_INT(missed(NULL, NULL, &since, out), 0); /* no configuration file */
    write_text("pytest.ini", "[pytest]\naddopts = -p no:randomly\n");
    CHECK_EQ_INT(missed(NULL, NULL, &since, out), 0);
    write_text("pytest.ini", "[pytest]\naddopts = -p no:randomly\n    --testmon\n");
    CHECK_EQ_INT(missed(NULL, NULL, &since, out), 1);
    CHECK(chdir(sub) == 0, "chdir"); /* from below: the same rootdir, the same file */
    CHECK_EQ_INT(missed(NULL, NULL, &since, out), 1);
    CHECK(chdir(dir) == 0, "chdir");
    unlink("pytest.ini");
    /* pyproject.toml, tox.ini and setup.cfg count only with their pytest section */
    write_text("pyproject.toml", "[tool.black]\nline-length = 100 # --testmon\n");
    CHECK_EQ_INT(missed(NULL, NULL, &since, out), 0);
    write_text("pyproject.toml", "[tool.pytest.ini_options]\naddopts = [\"--testmon\"]\n");
    CHECK_EQ_INT(missed(NULL, NULL, &since, out), 1);
    unlink("pyproject.toml");
    write_text("tox.ini", "[tox]\nenvlist = py311\n[pytest]\naddopts = --testmon\n");
    CHECK_EQ_INT(missed(NULL, NULL, &since, out), 1);
    unlink("tox.ini");
    write_text("setup.cfg", "[tool:pytest]\naddopts = --testmon-noselect\n");
    CHECK_EQ_INT(missed(NULL, NULL, &since, out), 1);
    /* an old datafile is never blamed, whatever the configuration says */
    touch(".testmondata", 60);
    CHECK_EQ_INT(missed(NULL, NULL, &since, out), 0);
    /* TESTMON_DATAFILE elsewhere: the working directory's configuration decides */
    char elsewhere[PATH_MAX];
    snprintf(elsewhere, sizeof elsewhere, "%s/other.db", unit_tmpdir());
    touch(elsewhere, 0);
    CHECK_EQ_INT(missed(NULL, elsewhere, &since, out), 1);
    unlink("setup.cfg");
    CHECK_EQ_INT(missed(NULL, elsewhere, &since, out), 0);
    /* still only pytest itself */
    write_text("pytest.ini", "[pytest]\naddopts = --testmon\n");
    touch(".testmondata", 0);
    ARGV("/usr/bin/timeout", "60", "pytest");
    CHECK_EQ_INT(missed(NULL, NULL, &since, out), 0);
}

/* `pytest sub/tests`: pytest's rootdir, and the datafile, may lie below the working directory. */
static void test_rootdir_below_cwd(void)
{
    char dir[PATH_MAX], proj[PATH_MAX], tests[PATH_MAX], out[PATH_MAX], want[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/below", unit_tmpdir());
    snprintf(proj, sizeof proj, "%s/proj", dir);
    snprintf(tests, sizeof tests, "%s/proj/tests", dir);
    mkdir(dir, 0700);
    mkdir(proj, 0700);
    mkdir(tests, 0700);
    CHECK(chdir(dir) == 0, "chdir");
    struct timespec since = now_coarse();
    since.tv_sec -= 5;
    snprintf(want, sizeof want, "%s/.testmondata", proj);
    touch(want, 0);
    write_text("proj/tests/test_a.py", "def test_a(): pass\n");
    ARGV("pytest", "-n", "2", "--testmon", "proj/tests");
    CHECK_EQ_INT(missed(NULL, NULL, &since, out), 1);
    CHECK_STR(out, want);
    ARGV("pytest", "--testmon", "proj/tests/test_a.py::test_a"); /* a node id */
    CHECK_EQ_INT(missed(NULL, NULL, &since, out), 1);
    CHECK_STR(out, want);
    ARGV("python3", "-m", "pytest", "-k", "nothing", "--testmon", "no/such/dir");
    CHECK_EQ_INT(missed(NULL, NULL, &since, out), 0); /* nothing found from the cwd either */
    touch(want, 60); /* old: not this run's */
    ARGV("pytest", "--testmon", "proj/tests");
    CHECK_EQ_INT(missed(NULL, NULL, &since, out), 0);
}

int main(void)
{
    unit_watchdog(20);
    unit_real_fill();
    RUN(test_command_line);
    RUN(test_datafile_age_and_place);
    RUN(test_ini_only);
    RUN(test_rootdir_below_cwd);
    return unit_finish();
}
