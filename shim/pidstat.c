/* pidstat.c: reading /proc/<pid>/stat (pidstat.h); shared with the command. */
#include "pidstat.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int shim_pidstat(long pid, char *state, unsigned long long *start)
{
    char path[64], buf[1024];
    if (pid <= 0)
        return -1; /* /proc/0 does not exist; /proc/-1 would be no pid at all */
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    int saved = errno;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
    if (fd >= 0)
        close(fd);
    errno = saved;
    if (n <= 0)
        return -1;
    buf[n] = 0;
    /* comm may contain spaces and parentheses: fields restart after the last ')' */
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ' || !p[2])
        return -1;
    *state = p[2];
    p++;
    for (int field = 3; field < 22; field++) { /* p is before field 3 (state) */
        p = strchr(p + 1, ' ');
        if (!p)
            return -1;
    }
    *start = strtoull(p + 1, NULL, 10);
    errno = saved; /* strtoull may set ERANGE */
    return 0;
}

unsigned long long shim_pid_starttime(long pid)
{
    char state;
    unsigned long long start;
    return shim_pidstat(pid, &state, &start) == 0 ? start : 0;
}
