/* park.c: see park.h.  Between the first tgkill and the release only system calls and
 * arithmetic run here (no stdio, no malloc, no lock): a stopped thread may hold any of them. */
#include "park.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define PARK_SIGNAL SIGURG
#define PF_IO_WORKER 0x00000010 /* linux/sched.h: an io_uring worker, which runs no user code */

enum { IDLE = 0, HOLD, GO_MOVED, GO_STAY };

/* One writer at a time (the library's constructor); the handler reads what it needs with
 * acquire loads after seeing HOLD or GO_*. */
static struct {
    int phase;   /* futex word: IDLE, HOLD, then GO_MOVED or GO_STAY */
    int arrived; /* futex word: threads in the handler */
    int left;    /* futex word: threads that went on */
    int moved;
    shim_park_move_fn move;
    void *arg;
    struct sigaction before; /* the handler that was there, for signals not sent from here */
    int held[SHIM_PARK_MAX_THREADS]; /* the tids that arrived, for a message naming one that did not */
} P;

static long futex(int *word, int op, int val, long timeout_ms)
{
    struct timespec t = {timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
    return syscall(SYS_futex, word, op, val, timeout_ms >= 0 ? &t : NULL, NULL, 0);
}

/* CPUID serialises the processor that runs it (Intel SDM vol. 3A, 8.3): whatever it fetched
 * before is discarded, so code written by another processor is seen as written. */
static void serialize(void)
{
#if defined(__x86_64__) || defined(__i386__)
    unsigned a = 0, b, c = 0, d;
    __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d) : : "memory");
#else
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}

static uintptr_t *pc_of(void *ucv)
{
#if defined(__x86_64__)
    return (uintptr_t *)&((ucontext_t *)ucv)->uc_mcontext.gregs[REG_RIP];
#else
    (void)ucv;
    return NULL;
#endif
}

static void chain(int sig, siginfo_t *si, void *uc)
{
    if (P.before.sa_flags & SA_SIGINFO) {
        if (P.before.sa_sigaction)
            P.before.sa_sigaction(sig, si, uc);
    } else if (P.before.sa_handler != SIG_DFL && P.before.sa_handler != SIG_IGN) {
        P.before.sa_handler(sig);
    } /* SIG_DFL of SIGURG: ignored */
}

static void on_signal(int sig, siginfo_t *si, void *uc)
{
    int saved = errno;
    if (__atomic_load_n(&P.phase, __ATOMIC_ACQUIRE) != HOLD || si->si_code != SI_TKILL ||
        si->si_pid != getpid()) {
        chain(sig, si, uc);
        errno = saved;
        return;
    }
    int i = __atomic_fetch_add(&P.arrived, 1, __ATOMIC_ACQ_REL);
    if (i < SHIM_PARK_MAX_THREADS)
        __atomic_store_n(&P.held[i], (int)syscall(SYS_gettid), __ATOMIC_RELEASE);
    futex(&P.arrived, FUTEX_WAKE_PRIVATE, 1, -1);
    int phase;
    while ((phase = __atomic_load_n(&P.phase, __ATOMIC_ACQUIRE)) == HOLD)
        futex(&P.phase, FUTEX_WAIT_PRIVATE, HOLD, -1);
    uintptr_t *pc = pc_of(uc);
    if (phase == GO_MOVED && pc) {
        shim_park_move_fn move = __atomic_load_n(&P.move, __ATOMIC_ACQUIRE);
        uintptr_t to = move(__atomic_load_n(&P.arg, __ATOMIC_ACQUIRE), *pc);
        if (to != *pc) {
            *pc = to; /* sigreturn resumes there */
            __atomic_fetch_add(&P.moved, 1, __ATOMIC_RELAXED);
        }
    }
    serialize();
    __atomic_fetch_add(&P.left, 1, __ATOMIC_RELEASE);
    futex(&P.left, FUTEX_WAKE_PRIVATE, 1, -1);
    errno = saved;
}

/* --- reading /proc/self/task without stdio --- */

static void task_path(char *buf, int tid, const char *leaf)
{
    char digits[16];
    int n = 0;
    do
        digits[n++] = (char)('0' + tid % 10);
    while ((tid /= 10) > 0);
    char *p = stpcpy(buf, "/proc/self/task/");
    while (n > 0)
        *p++ = digits[--n];
    *p++ = '/';
    strcpy(p, leaf);
}

/* The file's first bytes, NUL-terminated; -1 if it cannot be read (the thread is gone). */
static ssize_t read_small(const char *path, char *buf, size_t sz)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n;
    do
        n = read(fd, buf, sz - 1);
    while (n < 0 && errno == EINTR);
    close(fd);
    if (n >= 0)
        buf[n] = 0;
    return n;
}

/* This process's threads, into tids; how many, or -1 (errno set). */
static int list_threads(int *tids, int max, int *too_many)
{
    struct dirent64_ { /* getdents64's record (linux_dirent64) */
        unsigned long long ino;
        long long off;
        unsigned short reclen;
        unsigned char type;
        char name[];
    };
    int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[4096] __attribute__((aligned(8)));
    int n = 0;
    *too_many = 0;
    for (;;) {
        long got = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            int e = errno;
            close(fd);
            errno = e;
            return got < 0 ? -1 : n;
        }
        for (long at = 0; at < got;) {
            const struct dirent64_ *d = (const struct dirent64_ *)(buf + at);
            at += d->reclen;
            int tid = 0;
            const char *c = d->name;
            for (; *c >= '0' && *c <= '9' && tid < INT_MAX / 10; c++)
                tid = tid * 10 + (*c - '0');
            if (*c || tid <= 0)
                continue; /* "." and ".." */
            if (n == max)
                *too_many = 1;
            else
                tids[n++] = tid;
        }
    }
}

enum thread_kind { GONE, NO_USER_CODE, BLOCKS, STOPPABLE };

/* Can thread `tid` be stopped with PARK_SIGNAL?  Zombies and io_uring workers run no user code
 * and are left alone; one that blocks the signal cannot be stopped. */
static enum thread_kind kind_of(int tid)
{
    char path[64], buf[2048];
    task_path(path, tid, "stat");
    if (read_small(path, buf, sizeof buf) <= 0)
        return GONE;
    /* "tid (comm) S ppid pgrp session tty tpgid flags ...": comm may hold anything but ')' ends it */
    char *p = strrchr(buf, ')');
    if (!p || !p[1] || !p[2])
        return GONE;
    char state = p[2];
    unsigned long flags = 0;
    for (int field = 0; field < 7 && p; field++) /* the spaces before state ... flags */
        p = strchr(p + 1, ' ');
    for (p = p ? p + 1 : NULL; p && *p >= '0' && *p <= '9'; p++)
        flags = flags * 10 + (unsigned long)(*p - '0');
    if (state == 'Z' || state == 'X' || (flags & PF_IO_WORKER))
        return NO_USER_CODE;
    task_path(path, tid, "status");
    if (read_small(path, buf, sizeof buf) <= 0)
        return GONE;
    const char *blk = strstr(buf, "\nSigBlk:");
    if (!blk)
        return STOPPABLE;
    unsigned long long mask = 0;
    for (blk += 8; *blk == '\t' || *blk == ' '; blk++)
        ;
    for (;; blk++) {
        int v = *blk >= '0' && *blk <= '9' ? *blk - '0' : *blk >= 'a' && *blk <= 'f' ? *blk - 'a' + 10 : -1;
        if (v < 0)
            break;
        mask = mask << 4 | (unsigned)v;
    }
    return mask & (1ULL << (PARK_SIGNAL - 1)) ? BLOCKS : STOPPABLE;
}

static int thread_gone(int tid)
{
    char path[64];
    task_path(path, tid, "");
    return access(path, F_OK) != 0;
}

static long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

/* --- holding them --- */

enum problem { NONE, CANNOT_LIST, TOO_MANY, BLOCKED, CANNOT_SIGNAL, TIMEOUT };

int shim_park_run(int (*write)(void *arg), shim_park_move_fn move, void *arg,
                  struct shim_park_stats *stats, char *why, size_t whysz)
{
    static int tids[SHIM_PARK_MAX_THREADS], sent[SHIM_PARK_MAX_THREADS];
    int saved = errno;
    struct shim_park_stats st = {0, 0};
    sigset_t all, mask;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &mask); /* no handler runs on this thread meanwhile */
    const int self = (int)syscall(SYS_gettid), pid = getpid();
    enum problem problem = NONE;
    int err = 0, culprit = 0, too_many = 0, nsent = 0, rc = -1;
    int n = list_threads(tids, SHIM_PARK_MAX_THREADS, &too_many);
    if (n < 0) {
        problem = CANNOT_LIST, err = errno;
    } else if (n == 1 && tids[0] == self && !too_many) { /* alone: nobody to hold */
        rc = write(arg);
        serialize();
        goto done;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK; /* ONSTACK: as Go's runtime requires */
    sigfillset(&sa.sa_mask);
    __atomic_store_n(&P.move, move, __ATOMIC_RELAXED);
    __atomic_store_n(&P.arg, arg, __ATOMIC_RELAXED);
    __atomic_store_n(&P.arrived, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&P.left, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&P.moved, 0, __ATOMIC_RELAXED);
    if (problem == NONE && sigaction(PARK_SIGNAL, &sa, &P.before) != 0)
        problem = CANNOT_SIGNAL, err = errno;
    if (problem != NONE)
        goto done;
    __atomic_store_n(&P.phase, HOLD, __ATOMIC_RELEASE);
    const long deadline = now_ms() + SHIM_PARK_WAIT_MS;
    /* Signal every thread not signalled yet, wait for them, and list again: a thread may have
     * started one before it stopped.  Done when a listing shows no new one. */
    while (problem == NONE) {
        int fresh = 0;
        n = list_threads(tids, SHIM_PARK_MAX_THREADS, &too_many);
        if (n < 0) {
            problem = CANNOT_LIST, err = errno;
            break;
        }
        for (int i = 0; i < n && problem == NONE; i++) {
            int known = tids[i] == self;
            for (int j = 0; j < nsent && !known; j++)
                known = sent[j] == tids[i];
            if (known)
                continue;
            enum thread_kind k = kind_of(tids[i]);
            if (k == GONE || k == NO_USER_CODE)
                continue;
            if (k == BLOCKS) {
                problem = BLOCKED, culprit = tids[i];
            } else if (syscall(SYS_tgkill, pid, tids[i], PARK_SIGNAL) == 0) {
                sent[nsent++] = tids[i], fresh++;
            } else if (errno != ESRCH) {
                problem = CANNOT_SIGNAL, err = errno, culprit = tids[i];
            }
        }
        if (problem == NONE && too_many)
            problem = TOO_MANY;
        if (problem != NONE || !fresh)
            break;
        for (;;) { /* until every signalled thread is held or gone */
            int arrived = __atomic_load_n(&P.arrived, __ATOMIC_ACQUIRE), gone = 0;
            for (int j = 0; j < nsent && arrived < nsent; j++)
                gone += thread_gone(sent[j]);
            if (arrived + gone >= nsent)
                break;
            if (now_ms() > deadline) {
                problem = TIMEOUT;
                for (int j = 0; j < nsent && !culprit; j++) {
                    int held = 0;
                    for (int h = 0; h < arrived && h < SHIM_PARK_MAX_THREADS && !held; h++)
                        held = __atomic_load_n(&P.held[h], __ATOMIC_ACQUIRE) == sent[j];
                    if (!held && !thread_gone(sent[j]))
                        culprit = sent[j];
                }
                break;
            }
            futex(&P.arrived, FUTEX_WAIT_PRIVATE, arrived, 10);
        }
    }
    if (problem == NONE) {
        rc = write(arg);
        serialize();
    }
    __atomic_store_n(&P.phase, problem == NONE ? GO_MOVED : GO_STAY, __ATOMIC_RELEASE);
    futex(&P.phase, FUTEX_WAKE_PRIVATE, INT_MAX, -1);
    for (;;) { /* every held thread has read what it needs: the caller may free arg after */
        int left = __atomic_load_n(&P.left, __ATOMIC_ACQUIRE);
        if (left >= __atomic_load_n(&P.arrived, __ATOMIC_ACQUIRE))
            break;
        futex(&P.left, FUTEX_WAIT_PRIVATE, left, 10);
    }
    st.threads = __atomic_load_n(&P.arrived, __ATOMIC_ACQUIRE);
    st.moved = __atomic_load_n(&P.moved, __ATOMIC_ACQUIRE);
    __atomic_store_n(&P.phase, IDLE, __ATOMIC_RELEASE);
    sigaction(PARK_SIGNAL, &P.before, NULL);
done:
    pthread_sigmask(SIG_SETMASK, &mask, NULL);
    /* The threads go on: messages may allocate now. */
    switch (problem) {
    case NONE:
        break;
    case CANNOT_LIST:
        snprintf(why, whysz, "cannot list this process's threads to hold them while code is "
                 "rewritten (/proc/self/task: %s; is /proc mounted?)", strerror(err));
        break;
    case TOO_MANY:
        snprintf(why, whysz, "more than %d threads to hold while code is rewritten",
                 SHIM_PARK_MAX_THREADS);
        break;
    case BLOCKED:
        snprintf(why, whysz, "thread %d blocks SIGURG, with which the other threads are held "
                 "while code is rewritten", culprit);
        break;
    case CANNOT_SIGNAL:
        snprintf(why, whysz, "cannot send SIGURG to thread %d to hold it while code is "
                 "rewritten (%s)", culprit, strerror(err));
        break;
    case TIMEOUT:
        snprintf(why, whysz, "thread %d did not stop within %d ms to be held while code is "
                 "rewritten (stopped by a debugger, or waiting in the kernel)", culprit,
                 SHIM_PARK_WAIT_MS);
        break;
    }
    if (stats)
        *stats = st;
    errno = saved;
    return problem == NONE ? rc : -1;
}
