/* role.h: who is this process, and what does an open of a database mean for it?
 *
 *  controller: a process that runs a pytest session with testmon, however it was started, that
 *              opens a testmon datafile and is not an xdist worker (PYTEST_XDIST_WORKER unset).
 *              Either witness makes it one:
 *                - its command line names pytest (`pytest`, `py.test`, `python -m pytest`, and
 *                  wrappers such as `coverage run -m pytest`): as before, whatever started it;
 *                - pytest.main() called by anything else (IDE runners such as PyCharm's
 *                  _jb_pytest_runner.py, VS Code's script, run_tests.py, `python -c`): the
 *                  interpreter has _pytest.main and testmon.pytest_testmon imported when the
 *                  datafile is opened (session.h), and the process was not started by a running
 *                  test (PYTEST_CURRENT_TEST, which pytest sets around every test since 3.2 and
 *                  children inherit, was absent when the library was loaded).  So a plain script
 *                  or a `sqlite3` shell opening the datafile stays a bystander, and a nested
 *                  pytest.main() that a test starts stays one as it always was, for pytest 7 (no
 *                  PYTEST_VERSION) as for 8.
 *              A serial run is a controller too; it publishes a run that nobody reads.
 *  worker:     PYTEST_XDIST_WORKER is set (xdist sets it from Python before testmon opens the
 *              file, so it is read lazily here, never in a constructor) and the parent process
 *              published a run for the same datafile.
 *  bystander:  everything else: other databases, other processes, nested pytest runs, workers of
 *              a controller that never opened the datafile (testmon 1.0-1.3 deactivate there:
 *              the workers own the database, so the shim steps aside at once).
 * The first datafile a process opens is its datafile; any other .testmondata is a bystander. */
#ifndef SHIM_ROLE_H
#define SHIM_ROLE_H
#include "forklock.h"
#include "runid.h"
#include <limits.h>

enum shim_role { SHIM_ROLE_NONE = 0, SHIM_ROLE_BYSTANDER, SHIM_ROLE_CONTROLLER, SHIM_ROLE_WORKER };

/* The run this process belongs to, decided with its role at its first datafile open and not
 * changed after that (until a fork, whose child decides anew).  Handed to the policies as a
 * const pointer (dispatch.c to controller.c, worker.c, unmanaged.c), which keep it: nothing
 * but role.c writes it. */
struct shim_run_ctx {
    char datafile[PATH_MAX];          /* canonical path */
    char dir[PATH_MAX];               /* coordination directory (coord.h) */
    struct shim_run run;              /* the controller's: this process, or a worker's parent */
    char run_name[SHIM_RUN_NAME_MAX]; /* run-<pid>-<start> (runid.h) */
    char worker_id[32];               /* PYTEST_XDIST_WORKER; "" in a controller */
};

/* The role an open of `filename` has in this process (decided at the first datafile open, under
 * a lock, then fixed; another file, or another .testmondata, is a bystander's): CONTROLLER,
 * WORKER (to be confirmed by worker.c, which may step aside), or BYSTANDER.  For a controller or
 * a worker, *run is the run; otherwise NULL. */
enum shim_role shim_role_for_open(const char *filename, int flags,
                                  const struct shim_run_ctx **run);
/* This process's role now: NONE until a datafile was opened (any thread, no lock). */
enum shim_role shim_role_now(void);
/* Would a datafile open now make this process a controller (the rule above; asks the
 * interpreter's witness where the command line does not tell)?  Decides nothing. */
int shim_role_would_control(void);
/* The worker stepped aside (no run of its controller): a bystander from now on. */
void shim_role_step_aside(void);
/* After fork: the child is a new process with no role and no run yet. */
void shim_role_reset(void);
/* Guards the decision of the role (forklock.h). */
extern struct shim_forklock shim_role_lock;
#endif
