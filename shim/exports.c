/* exports.c: the library's only exported functions (the version script lists these and nothing
 * else): for the pytest plugin (python/testmon_shim/plugin.py) and for tools and tests that ask a
 * process about the shim through ctypes.  No sqlite3_* symbol is among them (pymod.h). */
#include "role.h"
#include "settings.h"

#define SHIM_EXPORT __attribute__((visibility("default")))

/* The version: tools and tests ask a process whether the shim is loaded. */
SHIM_EXPORT const char *testmon_shim_version(void) { return TESTMON_SHIM_VERSION; }

/* The plugin's switch: it loaded the library into a run that turned out not to be an xdist run
 * of testmon, so this process passes everything through, as with TESTMON_SHIM=off.  Called from
 * Python before testmon opens its datafile. */
SHIM_EXPORT void testmon_shim_off(void)
{
    shim_switch_off();
}

/* This process's role for the datafile, for the plugin's header line: "controller", "worker",
 * "bystander" (opened it, or a run's process, unmanaged: the reason was said on stderr), "off",
 * or "none" (no datafile opened through the shim). */
SHIM_EXPORT const char *testmon_shim_role(void)
{
    if (shim_off())
        return "off";
    switch (shim_role_now()) {
    case SHIM_ROLE_CONTROLLER:
        return "controller";
    case SHIM_ROLE_WORKER:
        return "worker";
    case SHIM_ROLE_BYSTANDER:
        return "bystander";
    default:
        return "none";
    }
}
