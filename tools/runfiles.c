/* runfiles.c: listing, classifying and safely reading coordination files, by the library's
 * rules: its names of a run's files (runid.h), its liveness of a run (runid.h, pidstat.h), its
 * reader of coordination files (safefile.h). */
#include "runfiles.h"
#include "../shim/coord.h" /* the names of the directory and its cache markers */
#include "../shim/runid.h"
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void tool_classify(const char *name, struct tool_file *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", name);
    size_t len = strlen(name);
    if (len >= sizeof out->name)
        return;
    if (strcmp(name, SHIM_COORD_GITIGNORE) == 0 || strcmp(name, SHIM_COORD_CACHEDIR_TAG) == 0) {
        out->kind = TF_MARKER;
        return;
    }
    if (name[0] == '.') {
        const char *t = strstr(name, ".tmp.");
        char *end;
        if (!t || t == name)
            return;
        long pid = strtol(t + 5, &end, 10);
        if (end == t + 5 || *end != '.' || pid <= 0)
            return;
        out->kind = TF_TEMP;
        out->pid = pid;
        return;
    }
    struct shim_run run;
    const char *rest = shim_run_parse(name, &run);
    static const enum tool_file_kind kinds[] = {
        [SHIM_RUN_FILE_NONE] = TF_OTHER,     [SHIM_RUN_FILE_RUN] = TF_RUN,
        [SHIM_RUN_FILE_WORKER] = TF_WORKER,  [SHIM_RUN_FILE_JOURNAL] = TF_JOURNAL,
        [SHIM_RUN_FILE_JOINED] = TF_JOINED,  [SHIM_RUN_FILE_COPY] = TF_COPY};
    if (!rest || (out->kind = kinds[shim_run_file_kind(rest)]) == TF_OTHER)
        return;
    out->pid = run.pid;
    out->start = run.start;
}

int tool_coord_dir(const char *dir, char *out, size_t outsz)
{
    size_t n;
    if (dir && *dir)
        n = (size_t)snprintf(out, outsz, "%s/" SHIM_COORD_DIR_NAME, dir);
    else if (getenv("TESTMON_SHIM_DIR") && *getenv("TESTMON_SHIM_DIR"))
        n = (size_t)snprintf(out, outsz, "%s", getenv("TESTMON_SHIM_DIR"));
    else
        n = (size_t)snprintf(out, outsz, SHIM_COORD_DIR_NAME);
    return n < outsz ? 0 : -1;
}

int tool_pid_exists(long pid)
{
    return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

cJSON *tool_read_json(const char *dir, const char *name, int *missing, char *why, size_t whysz)
{
    char path[4096];
    *missing = 0;
    why[0] = 0;
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) {
        snprintf(why, whysz, "path too long");
        return NULL;
    }
    return shim_read_json_file(path, missing, why, whysz); /* the library's own rules */
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct tool_file *)a)->name, ((const struct tool_file *)b)->name);
}

struct tool_file *tool_list_dir(const char *dir, size_t *n)
{
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    size_t cap = 16;
    struct tool_file *files = malloc(cap * sizeof *files);
    struct dirent *e;
    while (files && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (*n == cap) {
            struct tool_file *more = realloc(files, 2 * cap * sizeof *files);
            if (!more) {
                free(files);
                files = NULL;
                break;
            }
            files = more;
            cap *= 2;
        }
        tool_classify(e->d_name, &files[(*n)++]);
    }
    int err = errno;
    closedir(d);
    if (!files) {
        errno = err ? err : ENOMEM;
        return NULL;
    }
    qsort(files, *n, sizeof *files, by_name);
    return files;
}
