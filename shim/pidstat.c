/* pidstat.c: reading /proc/<pid>/stat (pidstat.h); shared with the command. */
#include "pidstat.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* pid's /proc/<pid>/stat into buf; the text after comm's last ')' (" S ppid ..."), or NULL. */
static char *read_stat(long pid, char *buf, size_t bufsz)
{
    char path[64];
    if (pid <= 0)
        return NULL; /* /proc/0 does not exist; /proc/-1 would be no pid at all */
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    int saved = errno;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, bufsz - 1);
    if (fd >= 0)
        close(fd);
    errno = saved;
    if (n <= 0)
        return NULL;
    buf[n] = 0;
    /* comm may contain spaces and parentheses: fields restart after the last ')' */
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && p[2] ? p + 1 : NULL;
}

int shim_pidstat(long pid, char *state, unsigned long long *start)
{
    char buf[1024];
    char *p = read_stat(pid, buf, sizeof buf);
    if (!p)
        return -1;
    *state = p[1];
    for (int field = 3; field < 22; field++) { /* p is before field 3 (state) */
        p = strchr(p + 1, ' ');
        if (!p)
            return -1;
    }
    int saved = errno;
    *start = strtoull(p + 1, NULL, 10);
    errno = saved; /* strtoull may set ERANGE */
    return 0;
}

long shim_pid_parent(long pid)
{
    char buf[1024];
    char *p = read_stat(pid, buf, sizeof buf);
    if (!p || !(p = strchr(p + 1, ' '))) /* field 4, after the state */
        return -1;
    int saved = errno;
    long ppid = strtol(p + 1, NULL, 10);
    errno = saved;
    return ppid > 0 ? ppid : -1;
}

unsigned long long shim_pid_starttime(long pid)
{
    char state;
    unsigned long long start;
    return shim_pidstat(pid, &state, &start) == 0 ? start : 0;
}
