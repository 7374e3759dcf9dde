/* libpath.c: locating libtestmon_shim.so next to the command, and composing LD_PRELOAD. */
#include "libpath.h"
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int tool_find_library(char *out, size_t outsz, char *why, size_t whysz)
{
    const char *env = getenv("TESTMON_SHIM_LIB");
    char resolved[PATH_MAX];
    if (env && *env) {
        errno = 0;
        if (!realpath(env, resolved) || !is_file(resolved)) {
            snprintf(why, whysz, "TESTMON_SHIM_LIB=%s: %s", env,
                     errno ? strerror(errno) : "not a regular file");
            return -1;
        }
        if ((size_t)snprintf(out, outsz, "%s", resolved) >= outsz) {
            snprintf(why, whysz, "TESTMON_SHIM_LIB=%s: path too long", env);
            return -1;
        }
        return 0;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        snprintf(why, whysz, "cannot read /proc/self/exe: %s; set TESTMON_SHIM_LIB",
                 strerror(errno));
        return -1;
    }
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = 0;
    char installed[PATH_MAX + 64], beside[PATH_MAX + 64];
    snprintf(installed, sizeof installed, "%s/../lib/%s", exe, TOOL_LIB_NAME);
    snprintf(beside, sizeof beside, "%s/%s", exe, TOOL_LIB_NAME);
    const char *cands[] = {installed, beside};
    for (size_t i = 0; i < 2; i++) {
        if (is_file(cands[i]) && realpath(cands[i], resolved) &&
            (size_t)snprintf(out, outsz, "%s", resolved) < outsz)
            return 0;
    }
    snprintf(why, whysz, "cannot find %s (looked for %s/../lib/%s and %s/%s); set "
             "TESTMON_SHIM_LIB to its absolute path", TOOL_LIB_NAME, exe, TOOL_LIB_NAME, exe,
             TOOL_LIB_NAME);
    return -1;
}

/* Is this LD_PRELOAD entry the library itself, or another copy of it? 1 same, 2 other copy. */
static int classify(const char *entry, const char *lib)
{
    if (strcmp(entry, lib) == 0)
        return 1;
    char resolved[PATH_MAX];
    if (realpath(entry, resolved) && strcmp(resolved, lib) == 0)
        return 1;
    const char *base = strrchr(entry, '/');
    base = base ? base + 1 : entry;
    return strcmp(base, TOOL_LIB_NAME) == 0 ? 2 : 0;
}

char *tool_compose_preload(const char *lib, const char *existing, int *dropped)
{
    *dropped = 0;
    if (!existing)
        existing = "";
    size_t cap = strlen(lib) + strlen(existing) + 2;
    char *out = malloc(cap), *copy = strdup(existing);
    if (!out || !copy) {
        free(out);
        free(copy);
        return NULL;
    }
    size_t len = 0;
    out[0] = 0;
    char *save = NULL;
    for (char *e = strtok_r(copy, ": \t", &save); e; e = strtok_r(NULL, ": \t", &save)) {
        int c = classify(e, lib);
        if (c == 1)
            continue;
        if (c == 2) {
            (*dropped)++;
            continue;
        }
        len += (size_t)snprintf(out + len, cap - len, "%s:", e);
    }
    snprintf(out + len, cap - len, "%s", lib);
    free(copy);
    return out;
}
