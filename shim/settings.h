/* settings.h: what this process's library took from its environment when it was loaded, and the
 * one switch that may turn it off later.
 *
 * Captured once, by init.c's constructor (shim_settings_capture), before any other module runs,
 * and only read after that, through a const pointer: TESTMON_SHIM, TESTMON_SHIM_TIMEOUT and
 * TESTMON_SHIM_LOG by envvars.h's grammar, PYTEST_CURRENT_TEST, the parent and the time.  Read at
 * load, not later, on purpose: by the first datafile open this process's own pytest session may
 * have set PYTEST_CURRENT_TEST, and its parent may have exited.  (PYTEST_XDIST_WORKER is the
 * exception, read by role.c at that open: xdist sets it from Python.)  The run this process
 * belongs to is not here: role.c decides it at the first datafile open (role.h). */
#ifndef SHIM_SETTINGS_H
#define SHIM_SETTINGS_H
#include <time.h>

struct shim_settings {
    long timeout_ms;          /* TESTMON_SHIM_TIMEOUT, 60 s unless set */
    int bad_log, bad_timeout; /* unusable values, said by shim_settings_report */
    int started_by_test;      /* PYTEST_CURRENT_TEST was set: a running test started this process */
    long initial_ppid;        /* getppid() at load: an xdist worker's controller */
    struct timespec load_time; /* CLOCK_REALTIME_COARSE, the clock file times come from */
};

/* Read the environment (init.c's constructor; a test that sets another environment).  Also
 * applies TESTMON_SHIM_LOG (log.h) and TESTMON_SHIM. */
void shim_settings_capture(void);
/* In a child after fork: its parent is the process that forked, not the one the library was
 * loaded under (init.c's handler). */
void shim_settings_after_fork(void);
/* The settings, read-only. */
const struct shim_settings *shim_settings(void);

/* Is the shim off: TESTMON_SHIM at load, or the pytest plugin since (shim_switch_off)?  Every
 * open reads it: one relaxed load. */
int shim_off(void);
/* The plugin's switch (exports.c): this process passes everything through from now on. */
void shim_switch_off(void);

/* Say the unusable settings, once per process, from a process that uses the shim (a run's
 * controller, or the worker that speaks for an unmanaged run), not from every shell the preload
 * reaches; and what log.c deferred. */
void shim_settings_report(void);
#endif
