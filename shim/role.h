/* role.h: who is this process, and what does an open of a database mean for it?
 *
 *  controller: a pytest process (argv names pytest) that opens a testmon datafile and is not an
 *              xdist worker of a shim-managed controller.  A serial run is a controller too;
 *              it publishes a run that nobody reads.
 *  worker:     PYTEST_XDIST_WORKER is set (xdist sets it from Python before testmon opens the
 *              file, so it is read lazily here, never in a constructor) and the parent process
 *              published a run for the same datafile.
 *  bystander:  everything else: other databases, other processes, nested pytest runs, workers of
 *              a controller that never opened the datafile (testmon 1.0-1.3 deactivate there:
 *              the workers own the database, so the shim steps aside at once).
 * The first datafile a process opens is its datafile; any other .testmondata is a bystander. */
#ifndef SHIM_ROLE_H
#define SHIM_ROLE_H
#include "coord.h"
#include <cJSON.h>
#include <sqlite3.h>
#include <time.h>

enum shim_role { SHIM_ROLE_NONE = 0, SHIM_ROLE_BYSTANDER, SHIM_ROLE_CONTROLLER, SHIM_ROLE_WORKER };

struct shim_process {
    enum shim_role role;      /* for the datafile; NONE until one is opened */
    char datafile[PATH_MAX];  /* canonical path */
    char dir[PATH_MAX];       /* coordination directory */
    char run_name[96];        /* run-<pid>-<start> of the controller */
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
};
/* Report bad settings once, from a process that uses the shim (init.c). */
void shim_config_report(void);
extern struct shim_config shim_config;
/* getppid() when the library was loaded (init.c). */
extern long shim_initial_ppid;
/* CLOCK_REALTIME_COARSE when the library was loaded (init.c): the clock file times come from. */
extern struct timespec shim_load_time;

/* sqlite3_open_v2 with the policy for this process's role applied. */
int shim_open(const char *filename, sqlite3 **ppDb, int flags, const char *vfs);
/* /proc/self/cmdline into buf (NUL-separated argv, NUL-terminated); its length, 0 if none. */
size_t shim_cmdline(char *buf, size_t bufsz);
/* Is argv[0..] a pytest command line? (reads /proc/self/cmdline) */
int shim_is_pytest_process(void);
/* After fork: the child is a new process with no role yet. */
void shim_role_reset(void);
#endif
