/* test_cmdline.c: the command line and the one rule for words that name pytest or Python
 * (cmdline.c).  role.h's reading of a whole command line, in a re-executed process with another
 * argv, is test_role's; reach.c's stricter one is test_reach's. */
#include "cmdline.h"
#include "unit.h"

static void test_words(void)
{
    /* pytest_probe.py: `testmon-shim doctor`'s live probe is named so to be a pytest process */
    const char *const pytest[] = {"pytest", "py.test", "pytest-3", "pytest3.11", "/venv/bin/pytest",
                                  "/usr/local/bin/py.test", "/tmp/d/pytest_probe.py"};
    const char *const other[] = {"python3", "/usr/bin/git", "xpytest", "py_test", "/pytest/run",
                                 "Pytest", "", "/"};
    for (size_t i = 0; i < sizeof pytest / sizeof *pytest; i++)
        CHECK(shim_cmdline_names_pytest(pytest[i]), "%s names pytest", pytest[i]);
    for (size_t i = 0; i < sizeof other / sizeof *other; i++)
        CHECK(!shim_cmdline_names_pytest(other[i]), "'%s' does not", other[i]);
    CHECK(shim_cmdline_names_python("python3.11"), "");
    CHECK(shim_cmdline_names_python("/usr/bin/python3"), "");
    CHECK(shim_cmdline_names_python("python"), "");
    CHECK(!shim_cmdline_names_python("/opt/python3/bin/pip"), "the directory is not the name");
    CHECK(!shim_cmdline_names_python("ipython"), "");
    CHECK(shim_cmdline_pytest_module("pytest"), "");
    CHECK(shim_cmdline_pytest_module("py.test"), "");
    CHECK(!shim_cmdline_pytest_module("pytest_cov"), "a module is named exactly");
    CHECK(!shim_cmdline_pytest_module("xdist"), "");
    CHECK_STR(shim_cmdline_base("/a/b/c"), "c");
    CHECK_STR(shim_cmdline_base("c"), "c");
    CHECK_STR(shim_cmdline_base("/a/"), "");
}

/* This program's own command line, as the kernel keeps it; and argv[0]'s name as glibc does. */
static void test_self(void)
{
    char buf[8192];
    errno = 4242;
    size_t n = shim_cmdline(buf, sizeof buf);
    CHECK_EQ_INT(errno, 4242);
    CHECK(n > 0 && strcmp(shim_cmdline_base(buf), "test_cmdline") == 0, "argv[0] %s", buf);
    CHECK_EQ_INT(buf[n], 0);
    char small[4];
    CHECK_EQ_INT(shim_cmdline(small, sizeof small), 3); /* cut, still terminated */
    CHECK_EQ_INT(small[3], 0);
    CHECK(!shim_cmdline_is_pytest(), "this test program is not pytest");
    CHECK(!shim_named_like_python(), "nor named like Python");
    char *saved = program_invocation_short_name;
    program_invocation_short_name = "python3.11";
    CHECK(shim_named_like_python(), "python3.11");
    program_invocation_short_name = "py.test";
    CHECK(shim_named_like_python(), "py.test");
    program_invocation_short_name = "bash";
    CHECK(!shim_named_like_python(), "bash");
    program_invocation_short_name = saved;
}

int main(void)
{
    RUN(test_words);
    RUN(test_self);
    return unit_finish();
}
