/* proc.h: this process, as the shim sees it: its role for the datafile and the run it belongs
 * to, and the settings read at load.  The leaf that every policy module reads;
 * it calls nothing above it.  Who writes what: role.c the role and the run (under its lock, at
 * the first datafile open), init.c the settings and the load-time facts, the worker its wait. */
#ifndef SHIM_PROC_H
#define SHIM_PROC_H
#include "coord.h"
#include <limits.h>
#include <stddef.h>
#include <time.h>

enum shim_role { SHIM_ROLE_NONE = 0, SHIM_ROLE_BYSTANDER, SHIM_ROLE_CONTROLLER, SHIM_ROLE_WORKER };

struct shim_process {
    enum shim_role role;      /* for the datafile; NONE until one is opened */
    char datafile[PATH_MAX];  /* canonical path */
    char dir[PATH_MAX];       /* coordination directory */
    char run_name[SHIM_RUN_NAME_MAX]; /* run-<pid>-<start> of the controller (runid.h) */
    struct shim_run run;
    char worker_id[32];
    long waited_ms;
};
extern struct shim_process shim_proc;

/* Library-wide switches, captured from the environment at load (init.c). */
struct shim_config {
    int disabled;   /* TESTMON_SHIM=off */
    long timeout_ms; /* TESTMON_SHIM_TIMEOUT seconds, default 60 */
    int bad_log, bad_timeout; /* unparsable settings, not yet reported */
    int started_by_test; /* PYTEST_CURRENT_TEST was set at load: a test started this process */
};
extern struct shim_config shim_config;
/* Report bad settings once, from a process that uses the shim. */
void shim_config_report(void);
/* getppid() when the library was loaded. */
extern long shim_initial_ppid;
/* CLOCK_REALTIME_COARSE when the library was loaded: the clock file times come from. */
extern struct timespec shim_load_time;
#endif
