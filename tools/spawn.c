/* spawn.c: fork/exec with pipes, a deadline and a process-group kill. */
#include "spawn.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CAP (64 * 1024)

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

struct buf {
    char *p;
    size_t len;
};

static void drain(int *fd, struct buf *b)
{
    char tmp[4096];
    ssize_t n = read(*fd, tmp, sizeof tmp);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        close(*fd);
        *fd = -1;
        return;
    }
    size_t take = b->len + (size_t)n > CAP ? CAP - b->len : (size_t)n;
    memcpy(b->p + b->len, tmp, take);
    b->len += take;
    b->p[b->len] = 0;
}

int tool_spawn(char *const argv[], const char *cwd, const char *const *env, long timeout_ms,
               struct tool_child *c)
{
    memset(c, 0, sizeof *c);
    int out[2], err[2], status_pipe[2];
    if (pipe2(out, O_CLOEXEC) != 0)
        return -1;
    if (pipe2(err, O_CLOEXEC) != 0) {
        close(out[0]);
        close(out[1]);
        return -1;
    }
    if (pipe2(status_pipe, O_CLOEXEC) != 0) {
        close(out[0]), close(out[1]), close(err[0]), close(err[1]);
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(out[0]), close(out[1]), close(err[0]), close(err[1]);
        close(status_pipe[0]), close(status_pipe[1]);
        errno = e;
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        for (const char *const *p = env; p && p[0]; p += 2)
            p[1] ? setenv(p[0], p[1], 1) : unsetenv(p[0]);
        int e = 0;
        if (cwd && chdir(cwd) != 0)
            e = errno;
        else {
            execvp(argv[0], argv);
            e = errno;
        }
        ssize_t w = write(status_pipe[1], &e, sizeof e);
        (void)w;
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    close(status_pipe[1]);
    int e = 0;
    ssize_t r;
    while ((r = read(status_pipe[0], &e, sizeof e)) < 0 && errno == EINTR)
        ;
    close(status_pipe[0]);
    struct buf bo = {malloc(CAP + 1), 0}, be = {malloc(CAP + 1), 0};
    if (bo.p)
        bo.p[0] = 0;
    if (be.p)
        be.p[0] = 0;
    int fo = out[0], fe = err[0];
    long deadline = now_ms() + timeout_ms;
    if (r == (ssize_t)sizeof e) {
        c->exec_errno = e;
    } else {
        while ((fo >= 0 || fe >= 0) && bo.p && be.p) {
            long left = deadline - now_ms();
            if (left <= 0) {
                c->timed_out = 1;
                break;
            }
            struct pollfd p[2] = {{.fd = fo, .events = POLLIN}, {.fd = fe, .events = POLLIN}};
            if (poll(p, 2, (int)(left > 1000 ? 1000 : left)) < 0 && errno != EINTR)
                break;
            if (fo >= 0 && p[0].revents)
                drain(&fo, &bo);
            if (fe >= 0 && p[1].revents)
                drain(&fe, &be);
        }
    }
    /* The output is closed (or the deadline passed): reap it, killing it at the deadline. */
    int st = 0, killed = 0;
    for (;;) {
        if (c->timed_out && !killed) {
            kill(-pid, SIGKILL); /* its process group: grandchildren too */
            kill(pid, SIGKILL);
            killed = 1;
        }
        pid_t w = waitpid(pid, &st, killed ? 0 : WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR)
            break;
        if (w == 0 && now_ms() >= deadline)
            c->timed_out = 1;
        else if (w == 0) {
            struct timespec ts = {0, 10 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    if (fo >= 0)
        close(fo);
    if (fe >= 0)
        close(fe);
    if (WIFEXITED(st)) {
        c->exited = 1;
        c->code = WEXITSTATUS(st);
    } else if (WIFSIGNALED(st))
        c->signal = WTERMSIG(st);
    c->out = bo.p;
    c->err = be.p;
    return 0;
}

void tool_child_free(struct tool_child *c)
{
    free(c->out);
    free(c->err);
    c->out = c->err = NULL;
}
