/* proc.c: see proc.h. */
#include "proc.h"
#include "envvars.h"
#include "log.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct shim_process shim_proc;
struct shim_config shim_config = {.disabled = 0, .timeout_ms = SHIM_ENVVARS_TIMEOUT_DEFAULT_MS};
long shim_initial_ppid;
struct timespec shim_load_time;

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

int shim_named_like_python(void)
{
    const char *n = program_invocation_short_name;
    return strncmp(n, "python", 6) == 0 || strncmp(n, "pytest", 6) == 0 ||
           strncmp(n, "py.test", 7) == 0;
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

void shim_config_report(void)
{
    if (shim_config.bad_log)
        shim_log_error("TESTMON_SHIM_LOG=%s is not LEVEL[:FILE] with LEVEL error|warn|info|debug; "
                       "logging errors only", getenv("TESTMON_SHIM_LOG"));
    if (shim_config.bad_timeout)
        shim_log_error("TESTMON_SHIM_TIMEOUT=%s is not a number of seconds in (0, %d]; using %ld",
                       getenv("TESTMON_SHIM_TIMEOUT"), SHIM_ENVVARS_TIMEOUT_MAX_S,
                       SHIM_ENVVARS_TIMEOUT_DEFAULT_MS / 1000);
    shim_config.bad_log = shim_config.bad_timeout = 0;
    shim_log_report_deferred();
}
