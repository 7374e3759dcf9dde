/* cmd_run.c: `testmon-shim run [--] CMD [ARGS...]`: exec CMD with the library preloaded. */
#include "libpath.h"
#include "tool.h"
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { RUN_NO_LIBRARY = 125, RUN_NOT_EXECUTABLE = 126, RUN_NOT_FOUND = 127 };

int cmd_run(int argc, char **argv)
{
    int i = 1;
    if (i < argc && strcmp(argv[i], "--") == 0)
        i++;
    else if (i < argc && TOOL_IS_HELP(argv[i])) {
        tool_help();
        return TOOL_OK;
    } else if (i < argc && argv[i][0] == '-')
        return tool_usage_error("run: unknown option '%s' (put -- before a command that starts "
                                "with -)", argv[i]);
    if (i >= argc)
        return tool_usage_error("run: no command given");

    char lib[PATH_MAX], why[PATH_MAX * 3];
    if (tool_find_library(lib, sizeof lib, why, sizeof why) != 0) {
        tool_error("run: %s", why);
        return RUN_NO_LIBRARY;
    }
    int dropped = 0;
    char *preload = tool_compose_preload(lib, getenv("LD_PRELOAD"), &dropped);
    if (!preload) {
        tool_error("run: out of memory");
        return RUN_NO_LIBRARY;
    }
    if (dropped)
        tool_error("run: removed %d other copy(ies) of %s from LD_PRELOAD; using %s", dropped,
                   TOOL_LIB_NAME, lib);
    if (setenv("LD_PRELOAD", preload, 1) != 0) {
        tool_error("run: cannot set LD_PRELOAD: %s", strerror(errno));
        free(preload);
        return RUN_NO_LIBRARY;
    }
    free(preload);
    execvp(argv[i], argv + i);
    int err = errno;
    if (err == ENOENT) {
        tool_error("run: %s: %s", argv[i],
                   strchr(argv[i], '/') ? "no such file" : "command not found");
        return RUN_NOT_FOUND;
    }
    tool_error("run: %s: cannot execute: %s", argv[i], strerror(err));
    return RUN_NOT_EXECUTABLE;
}
