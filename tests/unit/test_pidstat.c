/* test_pidstat.c: another process as /proc/<pid>/stat shows it (pidstat.c): the start time, read
 * past a comm with spaces and parentheses, and the state, checked against an independent parse;
 * nothing for a process that is gone or no pid at all; errno kept. */
#include "pidstat.h"
#include "unit.h"
#include <sys/prctl.h>

#define ERRNO_MARK 4242

/* Field 22 of /proc/<pid>/stat, parsed independently of pidstat.c. */
static unsigned long long stat_start(long pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    char *s = unit_read_file(path, NULL);
    if (!s)
        return 0;
    char *p = strrchr(s, ')');
    unsigned long long v = 0;
    /* after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
     * stime cutime cstime priority nice threads itrealvalue starttime */
    if (p)
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d "
                      "%*d %llu", &v);
    free(s);
    return v;
}

static char proc_state(long pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    char *s = unit_read_file(path, NULL);
    char *p = s ? strrchr(s, ')') : NULL;
    char c = p ? p[2] : 0;
    free(s);
    return c;
}

static void test_starttime(void)
{
    unsigned long long me = shim_pid_starttime(getpid());
    CHECK(me > 0, "own start time");
    CHECK_EQ_INT(me, stat_start(getpid()));
    /* comm may contain spaces and parentheses */
    char old[17] = "";
    prctl(PR_GET_NAME, old, 0, 0, 0);
    prctl(PR_SET_NAME, "a) b (c) d", 0, 0, 0);
    CHECK_EQ_INT(shim_pid_starttime(getpid()), me);
    char state = 0;
    unsigned long long start = 0;
    CHECK_EQ_INT(shim_pidstat(getpid(), &state, &start), 0);
    /* (its own state is not asserted: qemu-user answers a process's own stat itself, with '0') */
    CHECK_EQ_INT(start, me);
    prctl(PR_SET_NAME, old, 0, 0, 0);

    int rel;
    pid_t child = unit_blocked_child(&rel);
    unsigned long long cs = shim_pid_starttime(child);
    CHECK(cs > 0 && cs >= me, "a live child's start time (%llu)", cs);
    /* another process's stat comes from the kernel: the child sleeps in its read */
    for (int i = 0; i < 200 && shim_pidstat(child, &state, &start) == 0 && state != 'S'; i++)
        usleep(10000);
    CHECK_EQ_INT(state, 'S');
    close(rel);
    waitpid(child, NULL, 0);
    errno = ERRNO_MARK;
    CHECK_EQ_INT(shim_pid_starttime(child), 0);
    CHECK_EQ_INT(shim_pidstat(child, &state, &start), -1);
    CHECK_EQ_INT(errno, ERRNO_MARK);
    CHECK_EQ_INT(shim_pid_starttime(0), 0);
    CHECK_EQ_INT(shim_pid_starttime(-1), 0);
}

/* A child blocked on a pipe sleeps (S); exited and not reaped, it is a zombie (Z) that keeps its
 * start time: the reason runid.c looks at the state at all. */
static void test_state(void)
{
    int rel;
    pid_t child = unit_blocked_child(&rel);
    char state = 0;
    unsigned long long start = 0, cs = 0;
    for (long i = 0; i < unit_scaled_ms(200) && proc_state(child) != 'S'; i++)
        unit_sleep_ms(5);
    CHECK_EQ_INT(shim_pidstat(child, &state, &cs), 0);
    CHECK_EQ_INT(state, 'S');
    CHECK_EQ_INT(cs, stat_start(child));
    close(rel);
    for (long i = 0; i < unit_scaled_ms(200) && proc_state(child) != 'Z'; i++)
        unit_sleep_ms(5);
    CHECK_EQ_INT(shim_pidstat(child, &state, &start), 0);
    CHECK_EQ_INT(state, 'Z');
    CHECK_EQ_INT(start, cs);
    waitpid(child, NULL, 0);
}

/* A process's parent, as the kernel says (a controller tells its workers by it): a child's is
 * this process, this process's is getppid(); no such process, -1. */
static void test_parent(void)
{
    CHECK_EQ_INT(shim_pid_parent(getpid()), getppid());
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    pid_t c = fork();
    if (c == 0) {
        char x;
        close(p[1]);
        _exit(read(p[0], &x, 1) < 0);
    }
    close(p[0]);
    CHECK_EQ_INT(shim_pid_parent(c), getpid());
    close(p[1]);
    waitpid(c, NULL, 0);
    CHECK_EQ_INT(shim_pid_parent(c), -1); /* reaped */
    CHECK_EQ_INT(shim_pid_parent(0), -1);
    CHECK_EQ_INT(shim_pid_parent(-1), -1);
    errno = 77;
    shim_pid_parent(999999999);
    CHECK_EQ_INT(errno, 77);
}

int main(void)
{
    unit_watchdog(20);
    RUN(test_starttime);
    RUN(test_state);
    RUN(test_parent);
    return unit_finish();
}
