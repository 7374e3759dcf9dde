/* runfiles.c: naming, liveness and safe reading of coordination files. */
#include "runfiles.h"
#include "../shim/coord.h"  /* the names of the cache markers, shim_start_same_process */
#include "../shim/runcopy.h" /* the names of the run's copy */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
    long pid;
    unsigned long long start;
    int n = 0;
    if (sscanf(name, "run-%ld-%llu%n", &pid, &start, &n) != 2 || n <= 0 || name[n] != '.' ||
        pid <= 0 || name[4] == '-' || name[4] == '+')
        return;
    const char *rest = name + n;
    static const char *const copy[] = SHIM_RUNCOPY_SUFFIXES;
    int is_copy = 0;
    for (size_t i = 0; i < sizeof copy / sizeof *copy; i++)
        is_copy |= strcmp(rest, copy[i]) == 0;
    if (!is_copy && strcmp(rest, ".joined") != 0 &&
        (len < 5 || strcmp(name + len - 5, ".json") != 0))
        return;
    out->pid = pid;
    out->start = start;
    if (is_copy) /* the workers' copy of the datafile, its WAL files and lock */
        out->kind = TF_COPY;
    else if (strcmp(rest, ".joined") == 0) /* the controller's "a worker joined" flag */
        out->kind = TF_JOINED;
    else if (strcmp(rest, ".json") == 0)
        out->kind = TF_RUN;
    else if (strncmp(rest, ".worker-", 8) == 0)
        out->kind = TF_WORKER;
    else if (strncmp(rest, ".journal-", 9) == 0)
        out->kind = TF_JOURNAL;
}

int tool_coord_dir(const char *dir, char *out, size_t outsz)
{
    size_t n;
    if (dir && *dir)
        n = (size_t)snprintf(out, outsz, "%s/.testmon-shim", dir);
    else if (getenv("TESTMON_SHIM_DIR") && *getenv("TESTMON_SHIM_DIR"))
        n = (size_t)snprintf(out, outsz, "%s", getenv("TESTMON_SHIM_DIR"));
    else
        n = (size_t)snprintf(out, outsz, ".testmon-shim");
    return n < outsz ? 0 : -1;
}

/* /proc/<pid>/stat: fields after comm, which may hold spaces and parentheses. */
static int read_stat(long pid, char *state, unsigned long long *start)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ')
        return -1;
    *state = p[2];
    p++;
    for (int field = 3; field < 22; field++) {
        p = strchr(p + 1, ' ');
        if (!p)
            return -1;
    }
    *start = strtoull(p + 1, NULL, 10);
    return 0;
}

int tool_run_alive(long pid, unsigned long long start)
{
    char state;
    unsigned long long st;
    if (pid <= 0 || read_stat(pid, &state, &st) != 0)
        return 0;
    /* the library's rule (shim/coord.h): not an equality, qemu-user and some sandboxes answer a
     * process's reads of its own start time differently from the kernel's */
    return state != 'Z' && state != 'X' && shim_start_same_process(start, st);
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
