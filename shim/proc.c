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
