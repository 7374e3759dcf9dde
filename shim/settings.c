/* settings.c: the settings captured at load, and the switch (settings.h). */
#include "settings.h"
#include "envvars.h"
#include "log.h"
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

static struct shim_settings settings = {.timeout_ms = SHIM_ENVVARS_TIMEOUT_DEFAULT_MS};
static atomic_int off;      /* written at load and by the plugin's switch, read by every open */
static atomic_int reported; /* shim_settings_report said its lines */

void shim_settings_capture(void)
{
    /* An xdist worker's parent is its controller; if the controller dies before the worker opens
     * the datafile, getppid() then names a reaper, so remember the parent we started under. */
    settings.initial_ppid = (long)getppid();
    clock_gettime(CLOCK_REALTIME_COARSE, &settings.load_time); /* vDSO: no system call */
    /* Bad settings are reported by the processes that use the shim (shim_settings_report), not
     * by every shell and compiler the preload reaches. */
    settings.bad_log = shim_log_configure(getenv("TESTMON_SHIM_LOG")) != 0;
    settings.bad_timeout =
        shim_envvars_timeout_ms(getenv("TESTMON_SHIM_TIMEOUT"), &settings.timeout_ms) != 0;
    settings.started_by_test = getenv("PYTEST_CURRENT_TEST") != NULL;
    atomic_store_explicit(&off, shim_envvars_off(getenv("TESTMON_SHIM")), memory_order_relaxed);
}

void shim_settings_after_fork(void) { settings.initial_ppid = (long)getppid(); }

const struct shim_settings *shim_settings(void) { return &settings; }

int shim_off(void) { return atomic_load_explicit(&off, memory_order_relaxed); }

void shim_switch_off(void) { atomic_store_explicit(&off, 1, memory_order_relaxed); }

void shim_settings_report(void)
{
    if (!atomic_exchange(&reported, 1)) {
        if (settings.bad_log)
            shim_log_error("TESTMON_SHIM_LOG=%s is not LEVEL[:FILE] with LEVEL "
                           "error|warn|info|debug; logging errors only",
                           getenv("TESTMON_SHIM_LOG"));
        if (settings.bad_timeout)
            shim_log_error("TESTMON_SHIM_TIMEOUT=%s is not a number of seconds in (0, %d]; "
                           "using %ld", getenv("TESTMON_SHIM_TIMEOUT"),
                           SHIM_ENVVARS_TIMEOUT_MAX_S, SHIM_ENVVARS_TIMEOUT_DEFAULT_MS / 1000);
    }
    shim_log_report_deferred();
}
