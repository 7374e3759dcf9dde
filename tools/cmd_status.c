/* cmd_status.c: `testmon-shim status [--json] [--all] [DIR]`: the current or last run. */
#include "../shim/runid.h" /* shim_run_alive: the library's rule */
#include "runfiles.h"
#include "tool.h"
#include <cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct run {
    const struct tool_file *f;
    cJSON *json;
    int alive;
    struct timespec mtime;
};

static const char *str_field(const cJSON *obj, const char *key, const char *dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : dflt;
}

static double num_field(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* Current first: a live controller, then the most recently written file. */
static int run_order(const void *pa, const void *pb)
{
    const struct run *a = pa, *b = pb;
    if (a->alive != b->alive)
        return b->alive - a->alive;
    if (a->mtime.tv_sec != b->mtime.tv_sec)
        return a->mtime.tv_sec < b->mtime.tv_sec ? 1 : -1;
    if (a->mtime.tv_nsec != b->mtime.tv_nsec)
        return a->mtime.tv_nsec < b->mtime.tv_nsec ? 1 : -1;
    return strcmp(a->f->name, b->f->name);
}

static int refuse(cJSON *refused, const char *dir, const char *name, const char *why)
{
    tool_error("refusing coordination file %s/%s: %s; remove it (testmon-shim clean removes "
               "files of finished runs)", dir, name, why);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "file", name);
    cJSON_AddStringToObject(r, "reason", why);
    cJSON_AddItemToArray(refused, r);
    return 1;
}

/* The JSON description of one run, with its workers and pending journals. */
static cJSON *describe(const char *dir, const struct run *r, const struct tool_file *files,
                       size_t nfiles, cJSON *refused)
{
    cJSON *o = cJSON_CreateObject();
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)(strlen(r->f->name) - 5), r->f->name);
    cJSON_AddStringToObject(o, "run", name);
    cJSON_AddStringToObject(o, "file", r->f->name);
    cJSON *ctl = cJSON_AddObjectToObject(o, "controller");
    cJSON_AddNumberToObject(ctl, "pid", (double)r->f->pid);
    char start[32];
    snprintf(start, sizeof start, "%llu", r->f->start);
    cJSON_AddStringToObject(ctl, "start", start);
    cJSON_AddBoolToObject(ctl, "alive", r->alive);
    cJSON_AddStringToObject(o, "state", str_field(r->json, "state", "?"));
    cJSON_AddStringToObject(o, "datafile", str_field(r->json, "datafile", "?"));
    cJSON_AddNumberToObject(o, "data_version", num_field(r->json, "data_version"));
    const cJSON *rep = cJSON_GetObjectItemCaseSensitive(r->json, "report");
    cJSON *report = cJSON_AddObjectToObject(o, "report");
    static const char *const counters[] = {"journals_applied", "rows_applied", "journal_errors",
                                           "pins", "pin_failures", "pin_ms"};
    for (size_t i = 0; i < sizeof counters / sizeof *counters; i++)
        cJSON_AddNumberToObject(report, counters[i], num_field(rep, counters[i]));
    cJSON *workers = cJSON_AddArrayToObject(o, "workers");
    cJSON *journals = cJSON_AddArrayToObject(o, "pending_journals");
    for (size_t i = 0; i < nfiles; i++) {
        const struct tool_file *f = &files[i];
        if (f->pid != r->f->pid || f->start != r->f->start)
            continue;
        if (f->kind == TF_JOURNAL) {
            cJSON_AddItemToArray(journals, cJSON_CreateString(f->name));
        } else if (f->kind == TF_WORKER) {
            char why[256];
            int missing;
            cJSON *w = tool_read_json(dir, f->name, &missing, why, sizeof why);
            if (!w) {
                if (!missing)
                    refuse(refused, dir, f->name, why);
                continue;
            }
            cJSON *d = cJSON_CreateObject();
            cJSON_AddStringToObject(d, "file", f->name);
            cJSON_AddStringToObject(d, "worker", str_field(w, "worker", "?"));
            cJSON_AddNumberToObject(d, "pid", num_field(w, "pid"));
            cJSON_AddStringToObject(d, "outcome", str_field(w, "outcome", "?"));
            static const char *const wc[] = {"waited_ms", "tables_copied", "rows_handed_over",
                                             "hand_over_errors"};
            for (size_t k = 0; k < 4; k++)
                cJSON_AddNumberToObject(d, wc[k], num_field(w, wc[k]));
            const cJSON *reads = cJSON_GetObjectItemCaseSensitive(w, "reads");
            if (cJSON_IsString(reads)) { /* the copy of the datafile, or the live file */
                cJSON_AddStringToObject(d, "reads", reads->valuestring);
                cJSON_AddNumberToObject(d, "copy_ms", num_field(w, "copy_ms"));
            }
            cJSON_AddItemToArray(workers, d);
            cJSON_Delete(w);
        }
    }
    return o;
}

static double get(const cJSON *o, const char *k)
{
    return num_field(o, k);
}

static void print_run(const char *dir, const cJSON *o)
{
    const cJSON *ctl = cJSON_GetObjectItemCaseSensitive(o, "controller");
    int alive = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ctl, "alive"));
    const char *state = str_field(o, "state", "?");
    printf("run: %s\n", str_field(o, "run", "?"));
    printf("directory: %s\n", dir);
    printf("controller: pid %.0f, %s\n", get(ctl, "pid"),
           alive ? "running" : "controller gone");
    if (!alive && strcmp(state, "finished") != 0)
        printf("state: %s (the controller exited without finishing)\n", state);
    else
        printf("state: %s\n", state);
    printf("datafile: %s\n", str_field(o, "datafile", "?"));
    printf("data version: %.0f\n", get(o, "data_version"));
    const cJSON *rep = cJSON_GetObjectItemCaseSensitive(o, "report");
    printf("journals applied: %.0f\nrows applied: %.0f\njournal errors: %.0f\n",
           get(rep, "journals_applied"), get(rep, "rows_applied"), get(rep, "journal_errors"));
    /* the datafile's state pinned for the workers (shim/pin.h), when they read no copy */
    if (get(rep, "pins") >= 0) /* a run of a library that pins */
        printf("state pinned for the workers: %.0f times (%.0f ms), not pinned: %.0f\n",
               get(rep, "pins"), get(rep, "pin_ms"), get(rep, "pin_failures"));
    const cJSON *w;
    const cJSON *workers = cJSON_GetObjectItemCaseSensitive(o, "workers");
    printf("workers: %d\n", cJSON_GetArraySize(workers));
    cJSON_ArrayForEach(w, workers) {
        printf("  worker %s: pid %.0f, outcome %s, waited %.0f ms, tables copied %.0f, rows "
               "handed over %.0f, hand-over errors %.0f", str_field(w, "worker", "?"),
               get(w, "pid"), str_field(w, "outcome", "?"), get(w, "waited_ms"),
               get(w, "tables_copied"), get(w, "rows_handed_over"), get(w, "hand_over_errors"));
        if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(w, "reads")))
            printf(", reads the %s (%.0f ms)", str_field(w, "reads", "?"), get(w, "copy_ms"));
        printf("\n");
    }
    const cJSON *journals = cJSON_GetObjectItemCaseSensitive(o, "pending_journals");
    printf("pending journals: %d\n", cJSON_GetArraySize(journals));
    cJSON_ArrayForEach(w, journals)
        printf("  %s\n", w->valuestring);
}

int cmd_status(int argc, char **argv)
{
    int as_json = 0, all = 0;
    const char *arg_dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (TOOL_IS_HELP(argv[i])) {
            tool_help();
            return TOOL_OK;
        } else if (strcmp(argv[i], "--json") == 0)
            as_json = 1;
        else if (strcmp(argv[i], "--all") == 0)
            all = 1;
        else if (argv[i][0] == '-' && argv[i][1])
            return tool_usage_error("status: unknown option '%s'", argv[i]);
        else if (arg_dir)
            return tool_usage_error("status: more than one directory given");
        else
            arg_dir = argv[i];
    }
    char dir[PATH_MAX];
    if (tool_coord_dir(arg_dir, dir, sizeof dir) != 0) {
        tool_error("status: directory name too long");
        return TOOL_USAGE;
    }
    if (arg_dir) {
        struct stat st;
        if (stat(arg_dir, &st) != 0 || !S_ISDIR(st.st_mode))
            return tool_usage_error("status: %s is not a directory", arg_dir);
    }
    cJSON *out = cJSON_CreateObject(), *runs_json = NULL, *refused = NULL;
    cJSON_AddStringToObject(out, "directory", dir);
    runs_json = cJSON_AddArrayToObject(out, "runs");
    refused = cJSON_AddArrayToObject(out, "refused");
    int rc = TOOL_OK;
    struct stat st;
    struct tool_file *files = NULL;
    size_t nfiles = 0, nruns = 0;
    struct run *runs = NULL;
    if (lstat(dir, &st) != 0) {
        tool_error("status: no coordination directory %s: no run under the shim here yet",
                   dir);
        rc = TOOL_FAIL;
        goto done;
    }
    if (!S_ISDIR(st.st_mode)) {
        tool_error("status: refusing %s: not a directory (a symlink?); remove it", dir);
        rc = TOOL_FAIL;
        goto done;
    }
    if (!(files = tool_list_dir(dir, &nfiles))) {
        tool_error("status: cannot read %s: %s", dir, strerror(errno));
        rc = TOOL_FAIL;
        goto done;
    }
    runs = calloc(nfiles ? nfiles : 1, sizeof *runs);
    for (size_t i = 0; runs && i < nfiles; i++) {
        if (files[i].kind != TF_RUN)
            continue;
        char why[256], path[PATH_MAX + 256];
        int missing;
        cJSON *j = tool_read_json(dir, files[i].name, &missing, why, sizeof why);
        if (!j) {
            if (!missing)
                rc = refuse(refused, dir, files[i].name, why);
            continue;
        }
        struct run *r = &runs[nruns++];
        r->f = &files[i];
        r->json = j;
        r->alive = shim_run_alive(&(struct shim_run){files[i].pid, files[i].start});
        snprintf(path, sizeof path, "%s/%s", dir, files[i].name);
        if (lstat(path, &st) == 0)
            r->mtime = st.st_mtim;
    }
    if (nruns == 0) {
        tool_error("status: no run in %s", dir);
        rc = TOOL_FAIL;
        goto done;
    }
    qsort(runs, nruns, sizeof *runs, run_order);
    for (size_t i = 0; i < (all ? nruns : 1); i++)
        cJSON_AddItemToArray(runs_json, describe(dir, &runs[i], files, nfiles, refused));
    if (cJSON_GetArraySize(refused) > 0)
        rc = TOOL_FAIL;
done:
    if (as_json) {
        char *text = cJSON_Print(out);
        if (text)
            puts(text);
        free(text);
    } else {
        const cJSON *r;
        int first = 1;
        cJSON_ArrayForEach(r, runs_json) {
            if (!first)
                putchar('\n');
            first = 0;
            print_run(dir, r);
        }
    }
    for (size_t i = 0; i < nruns; i++)
        cJSON_Delete(runs[i].json);
    free(runs);
    free(files);
    cJSON_Delete(out);
    return rc;
}
