/* main.c: the testmon-shim command: global options and dispatch to a subcommand. */
#include "tool.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: testmon-shim [--help] [--version] COMMAND [ARGS]\n"
    "\n"
    "Runs pytest-testmon under pytest-xdist with libtestmon_shim.so preloaded, and inspects it.\n"
    "\n"
    "commands:\n"
    "  run [--] CMD [ARGS...]          run CMD with the library preloaded (exit status: CMD's;\n"
    "                                  127 not found, 126 not executable, 125 no library)\n"
    "  doctor [--python PATH] [--no-probe] [DIR]\n"
    "                                  check that the shim can work with this interpreter\n"
    "                                  (exit 0 works, 1 cannot work, 2 usage, 3 works with warnings)\n"
    "  status [--json] [--all] [DIR]   the current or last run in DIR/.testmon-shim\n"
    "                                  (or $TESTMON_SHIM_DIR); exit 1 if none or a file is refused\n"
    "  clean [--dry-run] [DIR]         remove files of runs whose controller is gone\n"
    "\n"
    "See testmon-shim(1).\n";

void tool_help(void)
{
    fputs(usage, stdout);
}

void tool_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("testmon-shim: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int tool_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("testmon-shim: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("; see testmon-shim --help\n", stderr);
    va_end(ap);
    return TOOL_USAGE;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {{"run", cmd_run}, {"doctor", cmd_doctor}, {"status", cmd_status},
                {"clean", cmd_clean}};
    if (argc < 2)
        return tool_usage_error("no command given");
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        tool_help();
        return TOOL_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("testmon-shim %s\n", TESTMON_SHIM_VERSION);
        return TOOL_OK;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
        if (strcmp(cmd, cmds[i].name) == 0)
            return cmds[i].fn(argc - 1, argv + 1);
    if (cmd[0] == '-')
        return tool_usage_error("unknown option '%s'", cmd);
    return tool_usage_error("unknown command '%s'", cmd);
}
