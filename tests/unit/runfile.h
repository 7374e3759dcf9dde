/* runfile.h: shared by the controller and worker tests: driving statements through the dispatch
 * layer as the exported wrappers would, and reading the controller's run file. */
#ifndef UNIT_RUNFILE_H
#define UNIT_RUNFILE_H
#include "coord.h"
#include "dispatch.h"
#include "role.h"
#include <cJSON.h>
#include <stdio.h>

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
    snprintf(name, sizeof name, "%s.json", shim_proc.run_name);
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
