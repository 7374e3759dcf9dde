/* runid.c: a run's name and files, and whether its controller lives (runid.h); shared with the
 * command. */
#include "runid.h"
#include "pidstat.h"
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void shim_run_name(const struct shim_run *run, char *out, size_t outsz)
{
    snprintf(out, outsz, "run-%ld-%llu", run->pid, run->start);
}

/* Decimal digits at s, at least one, into *v without overflow; the first byte after them. */
static const char *digits(const char *s, unsigned long long max, unsigned long long *v)
{
    const char *p = s;
    for (*v = 0; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (*v > (max - d) / 10)
            return NULL;
        *v = *v * 10 + d;
    }
    return p > s ? p : NULL;
}

const char *shim_run_parse(const char *name, struct shim_run *run)
{
    unsigned long long pid, start;
    const char *p = strncmp(name, "run-", 4) == 0 ? digits(name + 4, LONG_MAX, &pid) : NULL;
    if (!p || *p != '-' || pid == 0 || !(p = digits(p + 1, ULLONG_MAX, &start)))
        return NULL;
    run->pid = (long)pid;
    run->start = start;
    return p;
}

/* Does s end with tail (and hold more than it)? */
static int longer_and_ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);
    return n > t && strcmp(s + n - t, tail) == 0;
}

enum shim_run_file shim_run_file_kind(const char *rest)
{
    static const char *const copy[] = SHIM_RUN_COPY_SUFFIXES;
    for (size_t i = 0; i < sizeof copy / sizeof *copy; i++)
        if (strcmp(rest, copy[i]) == 0)
            return SHIM_RUN_FILE_COPY;
    if (strcmp(rest, SHIM_RUN_JOINED) == 0)
        return SHIM_RUN_FILE_JOINED;
    if (strcmp(rest, SHIM_RUN_JSON) == 0)
        return SHIM_RUN_FILE_RUN;
    if (!longer_and_ends_with(rest, SHIM_RUN_JSON))
        return SHIM_RUN_FILE_NONE;
    if (strncmp(rest, SHIM_RUN_WORKER, strlen(SHIM_RUN_WORKER)) == 0)
        return SHIM_RUN_FILE_WORKER;
    if (strncmp(rest, SHIM_RUN_JOURNAL, strlen(SHIM_RUN_JOURNAL)) == 0)
        return SHIM_RUN_FILE_JOURNAL;
    return SHIM_RUN_FILE_NONE;
}

int shim_start_same_process(unsigned long long recorded, unsigned long long seen)
{
    long hz = sysconf(_SC_CLK_TCK);
    unsigned long long slack = (unsigned long long)(hz > 0 ? hz : 100) * SHIM_START_SKEW_MAX_S;
    return seen != 0 && recorded >= seen && recorded - seen <= slack;
}

int shim_run_alive(const struct shim_run *run)
{
    char state;
    unsigned long long seen;
    /* a zombie still has its start time: exited all the same */
    return shim_pidstat(run->pid, &state, &seen) == 0 && state != 'Z' && state != 'X' &&
           shim_start_same_process(run->start, seen);
}
