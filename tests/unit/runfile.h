/* runfile.h: reading the controller's run file in unit tests (test_controller, test_worker). */
#ifndef UNIT_RUNFILE_H
#define UNIT_RUNFILE_H
#include "coord.h"
#include "role.h"
#include <cJSON.h>
#include <stdio.h>

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
