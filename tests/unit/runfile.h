/* runfile.h: shared by the controller and worker tests: the run they play, driving statements
 * through the dispatch layer as the exported wrappers would, and reading the controller's run
 * file. */
#ifndef UNIT_RUNFILE_H
#define UNIT_RUNFILE_H
#include "coord.h"
#include "dispatch.h"
#include "pidstat.h"
#include "role.h"
#include <cJSON.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The run of this test program, handed to shim_controller_open and shim_worker_open as role.c
 * would hand its own. */
static struct shim_run_ctx unit_run;

/* Make unit_run what role.c decides at a first open of `datafile`: a controller's own run
 * (worker_id NULL), or worker `worker_id`'s whose controller is this process's parent. */
static inline void unit_as_run(const char *datafile, const char *worker_id)
{
    memset(&unit_run, 0, sizeof unit_run);
    snprintf(unit_run.datafile, sizeof unit_run.datafile, "%s", datafile);
    shim_coord_dir(datafile, unit_run.dir, sizeof unit_run.dir);
    unit_run.run.pid = worker_id ? getppid() : getpid();
    unit_run.run.start = shim_pid_starttime(unit_run.run.pid);
    if (worker_id) {
        /* the controller's own reading names the run (qemu-user reads it later than we do) */
        shim_coord_find_run(unit_run.dir, unit_run.run.pid, unit_run.run.start,
                            &unit_run.run.start);
        snprintf(unit_run.worker_id, sizeof unit_run.worker_id, "%s", worker_id);
    }
    shim_run_name(&unit_run.run, unit_run.run_name, sizeof unit_run.run_name);
}

/* Prepare and step sql to the end through the dispatch layer; returns the last step's rc (or
 * prepare's rc when it failed). */
static inline int unit_run_sql(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int rc = shim_prepare(SHIM_PREPARE_V2, db, sql, -1, 0, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    while ((rc = shim_step(st, sqlite3_step)) == SQLITE_ROW)
        ;
    sqlite3_finalize(st);
    return rc;
}

/* The parsed <dir>/<run>.json of this process's run, or NULL. */
static inline cJSON *unit_run_file(const char *dir)
{
    char name[160];
    int missing;
    snprintf(name, sizeof name, "%s.json", unit_run.run_name);
    return shim_coord_read(dir, name, &missing);
}

/* Its "state", or "(none)". */
static inline const char *unit_run_state(const char *dir)
{
    static char s[32];
    cJSON *j = unit_run_file(dir);
    snprintf(s, sizeof s, "%s", j ? cJSON_GetStringValue(cJSON_GetObjectItem(j, "state")) : "(none)");
    cJSON_Delete(j);
    return s;
}
#endif
