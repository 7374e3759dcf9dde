/* unit.h: a tiny test harness for the shim's C unit tests (header-only, one include per program).
 *
 * Counting is per check: every CHECK* adds one to "passed" or "failed".  A program ends with
 * `return unit_finish();`, which prints exactly one line "N passed, N failed" on stdout (skips are
 * reported on their own "SKIP ..." lines before it) and returns non-zero on any failure.
 * Failure messages go to the original stdout even while a test captures fd 1 or fd 2.
 *
 * Helpers: a private temporary directory removed at exit, capture of a file descriptor into
 * memory, running a check function in a forked child (its counts are merged), and the table of
 * real SQLite functions filled from the linked libsqlite3, with single entries replaceable by
 * mocks. */
#ifndef UNIT_H
#define UNIT_H
#include "real.h"
/* Tests build paths in PATH_MAX buffers from a short temp dir; truncation cannot happen there. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif
#pragma GCC diagnostic ignored "-Wformat-zero-length" /* CHECK(cond, "") */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int unit_passed, unit_failed, unit_out = -1;
static const char *unit_current = "?";

static __attribute__((unused)) void unit_init_out(void)
{
    if (unit_out < 0) {
        unit_out = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 100);
        if (unit_out < 0)
            unit_out = STDOUT_FILENO;
    }
}

static void unit_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static __attribute__((unused)) void unit_printf(const char *fmt, ...)
{
    unit_init_out();
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof buf)
        n = sizeof buf - 1;
    ssize_t w = write(unit_out, buf, (size_t)n);
    (void)w;
}

static int unit_check(int ok, const char *file, int line, const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static __attribute__((unused)) int unit_check(int ok, const char *file, int line, const char *expr, const char *fmt, ...)
{
    if (ok) {
        unit_passed++;
        return 1;
    }
    unit_failed++;
    char msg[2048] = "";
    if (fmt && *fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
    }
    unit_printf("FAIL %s:%d [%s] %s%s%s\n", file, line, unit_current, expr, msg[0] ? ": " : "",
                msg);
    return 0;
}

/* CHECK(cond, fmt, ...): fmt describes the failure (may be ""). Each returns 1 if it passed. */
#define CHECK(cond, ...) unit_check(!!(cond), __FILE__, __LINE__, #cond, __VA_ARGS__)
#define CHECK_EQ_INT(a, b)                                                                       \
    __extension__({                                                                              \
        long long unit_a_ = (long long)(a), unit_b_ = (long long)(b);                            \
        unit_check(unit_a_ == unit_b_, __FILE__, __LINE__, #a " == " #b, "%lld != %lld",         \
                   unit_a_, unit_b_);                                                            \
    })
#define CHECK_STR(a, b)                                                                          \
    __extension__({                                                                              \
        const char *unit_a_ = (a), *unit_b_ = (b);                                               \
        unit_check(unit_a_ && unit_b_ && strcmp(unit_a_, unit_b_) == 0, __FILE__, __LINE__,      \
                   #a " == " #b, "\"%s\" != \"%s\"", unit_a_ ? unit_a_ : "(null)",               \
                   unit_b_ ? unit_b_ : "(null)");                                                \
    })
#define CHECK_CONTAINS(hay, needle)                                                              \
    __extension__({                                                                              \
        const char *unit_h_ = (hay), *unit_n_ = (needle);                                        \
        unit_check(unit_h_ && strstr(unit_h_, unit_n_) != NULL, __FILE__, __LINE__,             \
                   #hay " contains " #needle, "\"%s\" not in \"%.600s\"", unit_n_,               \
                   unit_h_ ? unit_h_ : "(null)");                                                \
    })

static __attribute__((unused)) void unit_skip(const char *why) { unit_printf("SKIP [%s] %s\n", unit_current, why); }

#define RUN(fn)                                                                                  \
    do {                                                                                         \
        unit_current = #fn;                                                                      \
        fn();                                                                                    \
    } while (0)

static __attribute__((unused)) int unit_finish(void)
{
    unit_printf("%d passed, %d failed\n", unit_passed, unit_failed);
    return unit_failed ? 1 : 0;
}

/* ---- time ---- */
static __attribute__((unused)) long long unit_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static __attribute__((unused)) void unit_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---- temporary directory, removed at exit by the process that made it ---- */
static char unit_tmp_root[PATH_MAX];
static pid_t unit_tmp_owner;

static __attribute__((unused)) int unit_rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(p);
    return 0;
}

static __attribute__((unused)) void unit_tmp_cleanup(void)
{
    if (unit_tmp_root[0] && getpid() == unit_tmp_owner)
        nftw(unit_tmp_root, unit_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh directory (canonical path, no symlinks) inside the program's private temp dir. */
static __attribute__((unused)) const char *unit_tmpdir(void)
{
    static char buf[8][PATH_MAX];
    static int next;
    if (!unit_tmp_root[0]) {
        const char *base = getenv("TMPDIR");
        char tmpl[PATH_MAX];
        snprintf(tmpl, sizeof tmpl, "%s/testmon-unit.XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(tmpl) || !realpath(tmpl, unit_tmp_root)) {
            perror("mkdtemp");
            exit(2);
        }
        unit_tmp_owner = getpid();
        atexit(unit_tmp_cleanup);
    }
    char *out = buf[next++ % 8];
    static int seq;
    if (snprintf(out, PATH_MAX, "%s/d%d", unit_tmp_root, seq++) >= PATH_MAX)
        exit(2);
    if (mkdir(out, 0700) != 0) {
        perror("mkdir");
        exit(2);
    }
    return out;
}

static __attribute__((unused)) void unit_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(2);
    }
    fputs(text, f);
    fclose(f);
}

/* Whole file into a malloc'd buffer (NUL-terminated); *len gets the size.  NULL if unreadable. */
static __attribute__((unused)) char *unit_read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n + 1 >= cap)
            buf = realloc(buf, cap *= 2);
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

/* ---- capture a file descriptor (1 or 2) into memory ---- */
struct unit_capture {
    int fd, saved, mem;
};

static __attribute__((unused)) struct unit_capture unit_capture_start(int fd)
{
    struct unit_capture c = {fd, -1, -1};
    c.mem = memfd_create("unit-capture", MFD_CLOEXEC);
    c.saved = fcntl(fd, F_DUPFD_CLOEXEC, 100);
    if (c.mem < 0 || c.saved < 0 || dup2(c.mem, fd) < 0) {
        perror("capture");
        exit(2);
    }
    return c;
}

/* Restore the descriptor; returns what was written to it (malloc'd, NUL-terminated). */
static __attribute__((unused)) char *unit_capture_end(struct unit_capture *c)
{
    dup2(c->saved, c->fd);
    close(c->saved);
    off_t size = lseek(c->mem, 0, SEEK_END);
    char *buf = malloc((size_t)size + 1);
    ssize_t r = pread(c->mem, buf, (size_t)size, 0);
    buf[r > 0 ? r : 0] = 0;
    close(c->mem);
    return buf;
}

/* ---- run checks in a forked child; its counts are added to ours ---- */
#if defined(UNIT_COVERAGE) /* a --coverage build (unit.mk): libgcov's */
void __gcov_dump(void);
#endif
static __attribute__((unused)) void unit_fork(void (*fn)(void), const char *name)
{
    int p[2];
    if (pipe(p) != 0) {
        perror("pipe");
        exit(2);
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        unit_current = name;
        unit_passed = unit_failed = 0;
        fn();
        unit_tmp_cleanup(); /* a temp dir the child made itself (_exit skips atexit) */
#if defined(UNIT_COVERAGE) /* _exit skips the dump at exit: a forked case's lines would not count */
        __gcov_dump();
#endif
        int counts[2] = {unit_passed, unit_failed};
        ssize_t w = write(p[1], counts, sizeof counts);
        (void)w;
        _exit(0);
    }
    close(p[1]);
    int counts[2] = {0, 0};
    ssize_t r = read(p[0], counts, sizeof counts);
    close(p[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    unit_passed += counts[0];
    unit_failed += counts[1];
    const char *saved = unit_current;
    unit_current = name;
    CHECK(r == (ssize_t)sizeof counts && WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "child died (status 0x%x) before reporting", st);
    unit_current = saved;
}

#define RUN_FORKED(fn) unit_fork(fn, #fn)

/* A child that waits on a pipe; closing *release lets it exit with status 0 (the caller reaps
 * it, or leaves it a zombie). */
static __attribute__((unused)) pid_t unit_blocked_child(int *release)
{
    int p[2];
    if (pipe(p) != 0)
        exit(2);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[1]);
        char c;
        ssize_t r = read(p[0], &c, 1);
        (void)r;
        _exit(0);
    }
    close(p[0]);
    *release = p[1];
    return pid;
}

/* ---- the table of real functions ---- */
/* Fill every entry from the libsqlite3 this program links (as real.c would find it). */
static __attribute__((unused)) void unit_real_fill(void)
{
    void *fns[SHIM_REAL_COUNT] = {
#define X(name, kind) [SHIM_REAL_##name] = (void *)&name,
        SHIM_REAL_FUNCS(X)
#undef X
    };
    shim_real_set_all(fns); /* as static.c does: resolved, and complete */
}
/* Replace one entry by a mock; returns the previous one. */
static __attribute__((unused)) void *unit_real_mock(int id, void *fn) { return atomic_exchange(&shim_real_table[id], fn); }

/* UNIT_TIME_SCALE: a factor (1 to 1000, default 1) for every wall-clock bound, for runs that
 * slow the program down (tests/robust/vg-run.sh sets it for valgrind).  A test scales a timeout
 * and every bound derived from it alike, so each bound still tells one behaviour from another. */
static __attribute__((unused)) double unit_time_scale(void)
{
    static double scale;
    if (scale == 0) {
        const char *e = getenv("UNIT_TIME_SCALE");
        char *end;
        double v = e && *e ? strtod(e, &end) : 1;
        if (e && *e && (*end || !(v >= 1 && v <= 1000))) {
            unit_printf("FAIL UNIT_TIME_SCALE=%s: not a number from 1 to 1000\n", e);
            exit(2);
        }
        scale = v;
    }
    return scale;
}
static __attribute__((unused)) long unit_scaled_ms(long ms) { return (long)(ms * unit_time_scale()); }

/* A watchdog so that a hung wait fails the program instead of the whole run (seconds times
 * UNIT_TIME_SCALE). */
static __attribute__((unused)) void unit_watchdog(unsigned seconds)
{
    unit_init_out();
    signal(SIGALRM, SIG_DFL);
    alarm((unsigned)(seconds * unit_time_scale()));
}
#endif
