/* datafile.c: canonical names for database files. */
#include "datafile.h"
#include "hex.h"
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Decode the path part of a file: URI into out.  Returns 0, or -1 if it is not a file. */
static int uri_path(const char *uri, char *out, size_t outsz)
{
    const char *p = uri + 5; /* after "file:" */
    if (p[0] == '/' && p[1] == '/') {
        p += 2; /* authority: empty or "localhost" */
        if (strncmp(p, "localhost", 9) == 0)
            p += 9;
        if (*p != '/')
            return -1;
    }
    size_t n = 0;
    for (; *p && *p != '?' && *p != '#'; p++) {
        int c = (unsigned char)*p;
        if (c == '%' && shim_hexval(p[1]) >= 0 && shim_hexval(p[2]) >= 0) {
            c = shim_hexval(p[1]) * 16 + shim_hexval(p[2]);
            p += 2;
        }
        if (n + 1 >= outsz || c == 0)
            return -1;
        out[n++] = (char)c;
    }
    out[n] = 0;
    /* mode=memory makes it no file at all */
    const char *q = strchr(uri, '?');
    if (q && strstr(q, "mode=memory"))
        return -1;
    return n ? 0 : -1;
}

int shim_datafile_canonical(const char *filename, int uri, char *out, size_t outsz)
{
    char raw[PATH_MAX], joined[PATH_MAX];
    if (!filename || !*filename || strcmp(filename, ":memory:") == 0)
        return -1;
    if (strncmp(filename, "file:", 5) == 0 || (uri && strncmp(filename, "file:", 5) == 0)) {
        if (uri_path(filename, raw, sizeof raw) < 0 || strcmp(raw, ":memory:") == 0)
            return -1;
    } else {
        if (strlen(filename) >= sizeof raw)
            return -1;
        strcpy(raw, filename);
    }
    if (raw[0] != '/') {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd))
            return -1;
        if ((size_t)snprintf(joined, sizeof joined, "%s/%s", cwd, raw) >= sizeof joined)
            return -1;
    } else {
        strcpy(joined, raw);
    }
    char real[PATH_MAX];
    if (realpath(joined, real)) {
        if (strlen(real) >= outsz)
            return -1;
        strcpy(out, real);
        return 0;
    }
    /* Not there yet (a fresh database): resolve the directory, keep the last component. */
    char *slash = strrchr(joined, '/');
    const char *base = slash + 1;
    *slash = 0;
    char dir[PATH_MAX];
    if (!realpath(joined[0] ? joined : "/", dir))
        return -1;
    size_t dl = strlen(dir);
    if (dl + 1 + strlen(base) + 1 > outsz || !*base)
        return -1;
    strcpy(out, dir);
    if (dl > 1)
        out[dl++] = '/';
    strcpy(out + dl, base);
    return 0;
}

int shim_datafile_maybe(const char *filename)
{
    const char *env = getenv("TESTMON_DATAFILE");
    if (env && *env)
        return 1;
    if (!filename)
        return 0;
    size_t len = strcspn(filename, "?#");
    static const char base[] = SHIM_DATAFILE_BASENAME;
    size_t bl = sizeof base - 1;
    if (len < bl || memcmp(filename + len - bl, base, bl) != 0)
        return 0;
    return len == bl || filename[len - bl - 1] == '/' || filename[len - bl - 1] == ':';
}

int shim_datafile_is_candidate(const char *canonical)
{
    const char *slash = strrchr(canonical, '/');
    if (slash && strcmp(slash + 1, SHIM_DATAFILE_BASENAME) == 0)
        return 1;
    const char *env = getenv("TESTMON_DATAFILE");
    if (!env || !*env)
        return 0;
    int saved = errno;
    char want[PATH_MAX];
    int match = shim_datafile_canonical(env, 0, want, sizeof want) == 0 &&
                strcmp(want, canonical) == 0;
    errno = saved;
    return match;
}
