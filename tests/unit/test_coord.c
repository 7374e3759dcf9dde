/* test_coord.c: the coordination directory and files, finding a run, the bounded wait (a run's
 * name and its controller's liveness: test_runid.c). */
#include "coord.h"
#include "pidstat.h"
#include "safefile.h"
#include "unit.h"
#include <dirent.h>
#include <dlfcn.h>
#include <poll.h>

#define ERRNO_MARK 4242

/* Timing.  Each bound below tells one behaviour from another (returned at once or on an event,
 * against waited for the timeout), never a latency: the bound is a quarter of the wait's timeout,
 * which sanitizer builds on a loaded two-core machine stay far below (the slowest seen: a wake
 * 95 ms after the event, ASan at load 9). */
#define WAIT_MS unit_scaled_ms(5000)       /* the timeout of the waits that must not wait */
#define AT_ONCE_US (WAIT_MS * 1000LL / 4)  /* "at once", "soon": well before that timeout */
/* Under UNIT_TIME_SCALE (valgrind) the timeouts and the bounds scale alike (unit.h). */

/* coord.c's wait sleeps in poll() on its inotify descriptor for at most 100 ms at a time and
 * re-checks the run file after each slice, so a wait deaf to the rename would still end within a
 * slice: on a loaded machine no wall-clock bound tells that from a wake by the event.  While
 * poll_stretch_ms is set, every slice lasts that long instead (this program's poll() is the one
 * the linked-in coord.o calls), so only the event can end such a wait early. */
static int poll_stretch_ms;
int poll(struct pollfd *fds, nfds_t n, int timeout)
{
    static int (*real)(struct pollfd *, nfds_t, int);
    if (!real)
        real = (int (*)(struct pollfd *, nfds_t, int))dlsym(RTLD_NEXT, "poll");
    return real(fds, n, poll_stretch_ms && timeout >= 0 ? poll_stretch_ms : timeout);
}

/* Opens of one path by this process (the linked-in safefile.o calls this open()): how often a
 * wait reads the run file. */
static const char *volatile counted_path;
static int counted_opens;
int open(const char *path, int flags, ...)
{
    static int (*real)(const char *, int, ...);
    if (!real)
        real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    const char *want = counted_path;
    if (want && strcmp(path, want) == 0)
        __atomic_add_fetch(&counted_opens, 1, __ATOMIC_RELAXED);
    return real(path, flags, mode);
}

/* A worker finds its controller's run by the controller's pid: the start time in the name is
 * what the controller read of itself, which may differ from what the worker reads. */
static void test_find_run(void)
{
    const char *T = unit_tmpdir();
    long pid = getpid();
    unsigned long long seen = shim_pid_starttime(pid), start = 0;
    char p[PATH_MAX];
    CHECK_EQ_INT(shim_coord_find_run(T, pid, seen, &start), 0);
    /* stale runs of earlier processes with this pid, other pids, other kinds of file */
    const char *other[] = {"run-%ld-1.json", "run-%ld-%llu.journal-1-gw0-2.json",
                           "run-%ld-%llu.joined", "run-%ld-%llu.db", "run-%ld0-%llu.json",
                           "run-+%ld-%llu.json", "run-%ld-%llux.json", ".run-%ld-%llu.json.tmp.1.1"};
    for (size_t i = 0; i < sizeof other / sizeof *other; i++) {
        char name[128];
        snprintf(name, sizeof name, other[i], pid, seen + 4);
        snprintf(p, sizeof p, "%s/%s", T, name);
        unit_write_file(p, "{}");
    }
    snprintf(p, sizeof p, "%s/run-%ld-%llu.json", T, pid, seen - 1);
    unit_write_file(p, "{}");
    errno = ERRNO_MARK;
    CHECK_EQ_INT(shim_coord_find_run(T, pid, seen, &start), 0);
    CHECK_EQ_INT(errno, ERRNO_MARK);
    CHECK_EQ_INT(start, 0);
    /* the controller's run, named 4 ticks later than we read it (qemu-user) */
    snprintf(p, sizeof p, "%s/run-%ld-%llu.json", T, pid, seen + 4);
    unit_write_file(p, "{}");
    CHECK_EQ_INT(shim_coord_find_run(T, pid, seen, &start), 1);
    CHECK_EQ_INT(start, seen + 4);
    /* one named as we read it is closer */
    snprintf(p, sizeof p, "%s/run-%ld-%llu.json", T, pid, seen);
    unit_write_file(p, "{}");
    CHECK_EQ_INT(shim_coord_find_run(T, pid, seen, &start), 1);
    CHECK_EQ_INT(start, seen);
    snprintf(p, sizeof p, "%s/missing", T);
    CHECK_EQ_INT(shim_coord_find_run(p, pid, seen, &start), -1);
}

static void test_coord_dir(void)
{
    char out[PATH_MAX];
    unsetenv("TESTMON_SHIM_DIR");
    CHECK(shim_coord_dir("/a/b/.testmondata", out, sizeof out) == 0, "");
    CHECK_STR(out, "/a/b/.testmon-shim");
    CHECK(shim_coord_dir("/.testmondata", out, sizeof out) == 0, "");
    CHECK_STR(out, "/.testmon-shim");
    char small[10];
    CHECK(shim_coord_dir("/a/b/.testmondata", small, sizeof small) == -1, "too long");
    setenv("TESTMON_SHIM_DIR", "/x/y", 1);
    CHECK(shim_coord_dir("/a/b/.testmondata", out, sizeof out) == 0, "");
    CHECK_STR(out, "/x/y");
    CHECK(shim_coord_dir("/a/b/.testmondata", small, 4) == -1, "$TESTMON_SHIM_DIR too long");
    setenv("TESTMON_SHIM_DIR", "", 1);
    CHECK(shim_coord_dir("/a/b/.testmondata", out, sizeof out) == 0, "");
    CHECK_STR(out, "/a/b/.testmon-shim");
    unsetenv("TESTMON_SHIM_DIR");
}

/* ensure_dir(dir) with stderr captured; returns rc, *msg gets what was logged. */
static int ensure(const char *dir, char **msg)
{
    struct unit_capture cap = unit_capture_start(2);
    errno = ERRNO_MARK;
    int rc = shim_coord_ensure_dir(dir);
    int e = errno;
    *msg = unit_capture_end(&cap);
    CHECK_EQ_INT(e, ERRNO_MARK);
    return rc;
}

static void test_ensure_dir(void)
{
    const char *T = unit_tmpdir();
    char d[PATH_MAX], f[PATH_MAX], *msg;
    struct stat st;
    mode_t old = umask(022);

    snprintf(d, sizeof d, "%s/new", T);
    CHECK_EQ_INT(ensure(d, &msg), 0);
    CHECK_STR(msg, "");
    free(msg);
    CHECK(lstat(d, &st) == 0 && S_ISDIR(st.st_mode), "created");
    CHECK_EQ_INT(st.st_mode & 0777, 0700);
    CHECK_EQ_INT(ensure(d, &msg), 0); /* already there, ours */
    free(msg);

    snprintf(d, sizeof d, "%s/ok755", T);
    mkdir(d, 0755);
    CHECK_EQ_INT(ensure(d, &msg), 0);
    free(msg);

    snprintf(d, sizeof d, "%s/link", T);
    snprintf(f, sizeof f, "%s/new", T);
    CHECK(symlink(f, d) == 0, "symlink");
    CHECK_EQ_INT(ensure(d, &msg), -1);
    CHECK_CONTAINS(msg, d);
    free(msg);

    snprintf(d, sizeof d, "%s/afile", T);
    unit_write_file(d, "x");
    CHECK_EQ_INT(ensure(d, &msg), -1);
    CHECK_CONTAINS(msg, "not a directory");
    free(msg);

    static const mode_t bad[] = {0770, 0702, 0777, 0720};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(d, sizeof d, "%s/bad%o", T, (unsigned)bad[i]);
        mkdir(d, 0700);
        chmod(d, bad[i]);
        CHECK(ensure(d, &msg) == -1, "mode %o refused", (unsigned)bad[i]);
        CHECK_CONTAINS(msg, "writable by others");
        free(msg);
    }

    snprintf(d, sizeof d, "%s/no/such/parent", T);
    CHECK_EQ_INT(ensure(d, &msg), -1);
    CHECK_CONTAINS(msg, "cannot create");
    free(msg);

    if (geteuid() == 0) {
        snprintf(d, sizeof d, "%s/theirs", T);
        mkdir(d, 0700);
        CHECK(chown(d, 65534, 65534) == 0, "chown");
        CHECK_EQ_INT(ensure(d, &msg), -1);
        CHECK_CONTAINS(msg, "belongs to uid 65534");
        free(msg);
    } else {
        unit_skip("a directory owned by another uid needs root (chown)");
    }
    umask(old);
}

static int count_entries(const char *dir, int hidden_only)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && (!hidden_only || e->d_name[0] == '.'))
            n++;
    if (d)
        closedir(d);
    return n;
}

/* read with stderr captured; *msg (if given) gets the log, else it must be empty. */
static cJSON *rd(const char *dir, const char *name, int *missing, char **msg)
{
    struct unit_capture cap = unit_capture_start(2);
    errno = ERRNO_MARK;
    *missing = -1;
    cJSON *j = shim_coord_read(dir, name, missing);
    int e = errno;
    char *m = unit_capture_end(&cap);
    CHECK_EQ_INT(e, ERRNO_MARK);
    if (msg)
        *msg = m;
    else
        free(m);
    return j;
}

static void test_write_read(void)
{
    const char *T = unit_tmpdir();
    char p[PATH_MAX], *msg;
    int missing;
    struct stat st;
    mode_t old = umask(0); /* the mode must come from the shim, not from the umask */
    errno = ERRNO_MARK;
    CHECK_EQ_INT(shim_coord_write(T, "a.json", "{\"x\":1,\"s\":\"caf\xc3\xa9\"}"), 0);
    CHECK_EQ_INT(errno, ERRNO_MARK);
    umask(old);
    snprintf(p, sizeof p, "%s/a.json", T);
    CHECK(lstat(p, &st) == 0 && S_ISREG(st.st_mode), "written");
    CHECK_EQ_INT(st.st_mode & 0777, 0600);
    CHECK_EQ_INT(count_entries(T, 0), 1);
    cJSON *j = rd(T, "a.json", &missing, NULL);
    CHECK(j && missing == 0, "read back");
    CHECK_EQ_INT(cJSON_GetObjectItem(j, "x") ? cJSON_GetObjectItem(j, "x")->valueint : -1, 1);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "s")), "caf\xc3\xa9");
    cJSON_Delete(j);
    /* overwrite: the new contents, still one file, no temporaries left behind */
    for (int i = 0; i < 5; i++)
        CHECK_EQ_INT(shim_coord_write(T, "a.json", "{\"x\":2}"), 0);
    j = rd(T, "a.json", &missing, NULL);
    CHECK_EQ_INT(j && cJSON_GetObjectItem(j, "x") ? cJSON_GetObjectItem(j, "x")->valueint : -1, 2);
    cJSON_Delete(j);
    CHECK_EQ_INT(count_entries(T, 0), 1);
    CHECK_EQ_INT(count_entries(T, 1), 0);

    j = rd(T, "missing.json", &missing, &msg);
    CHECK(!j && missing == 1, "a missing file is reported as missing");
    CHECK_STR(msg, "");
    free(msg);

    /* into a directory that does not exist: -1, logged, errno kept */
    snprintf(p, sizeof p, "%s/nodir", T);
    struct unit_capture cap = unit_capture_start(2);
    errno = ERRNO_MARK;
    int rc = shim_coord_write(p, "a.json", "{}");
    int e = errno;
    msg = unit_capture_end(&cap);
    CHECK_EQ_INT(rc, -1);
    CHECK_EQ_INT(e, ERRNO_MARK);
    CHECK_CONTAINS(msg, "cannot create");
    free(msg);
    /* onto a symlink: the rename replaces the link itself, the target is untouched */
    char target[PATH_MAX], link[PATH_MAX];
    snprintf(target, sizeof target, "%s/target", T);
    unit_write_file(target, "precious");
    snprintf(link, sizeof link, "%s/l.json", T);
    CHECK(symlink(target, link) == 0, "symlink");
    CHECK_EQ_INT(shim_coord_write(T, "l.json", "{}"), 0);
    char *t = unit_read_file(target, NULL);
    CHECK_STR(t, "precious");
    free(t);
    CHECK(lstat(link, &st) == 0 && S_ISREG(st.st_mode), "the symlink was replaced by a file");
}

static void test_read_refuses(void)
{
    const char *T = unit_tmpdir();
    char p[PATH_MAX], q[PATH_MAX], *msg;
    int missing;
    cJSON *j;

    snprintf(p, sizeof p, "%s/good.json", T);
    unit_write_file(p, "{\"state\":\"ready\"}");
    snprintf(q, sizeof q, "%s/sym.json", T);
    CHECK(symlink(p, q) == 0, "symlink");
    j = rd(T, "sym.json", &missing, &msg);
    CHECK(!j && missing == 0, "a symlink is refused");
    CHECK_CONTAINS(msg, "refusing");
    free(msg);

    snprintf(p, sizeof p, "%s/fifo.json", T);
    CHECK(mkfifo(p, 0600) == 0, "mkfifo");
    long long t0 = unit_now_us();
    j = rd(T, "fifo.json", &missing, &msg);
    CHECK(!j && missing == 0, "a FIFO is refused");
    CHECK(unit_now_us() - t0 < unit_scaled_ms(1000) * 1000LL, "without blocking");
    CHECK_CONTAINS(msg, "not a regular file");
    free(msg);

    snprintf(p, sizeof p, "%s/adir.json", T);
    mkdir(p, 0700);
    j = rd(T, "adir.json", &missing, &msg);
    CHECK(!j && missing == 0, "a directory is refused");
    free(msg);

    snprintf(p, sizeof p, "%s/big.json", T);
    int fd = open(p, O_WRONLY | O_CREAT, 0600);
    CHECK(fd >= 0 && ftruncate(fd, (off_t)SHIM_COORD_MAX_BYTES + 1) == 0, "sparse file");
    close(fd);
    j = rd(T, "big.json", &missing, &msg);
    CHECK(!j && missing == 0, "an oversized file is refused");
    CHECK_CONTAINS(msg, "too large");
    free(msg);

    static const char *const bad[] = {"",          "{\"state\":",  "{\"state\":\"rea",
                                      "not json",  "[1,2,3]",      "42",
                                      "\"ready\"", "null",         "{\"a\":1,}",
                                      "{\"state\":\"ready\"} x", "{}{}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(p, sizeof p, "%s/bad.json", T);
        unit_write_file(p, bad[i]);
        j = rd(T, "bad.json", &missing, &msg);
        CHECK(!j && missing == 0, "refused: '%s'", bad[i]);
        CHECK_CONTAINS(msg, "not valid JSON");
        free(msg);
        cJSON_Delete(j);
    }

    if (geteuid() == 0) {
        snprintf(p, sizeof p, "%s/theirs.json", T);
        unit_write_file(p, "{\"state\":\"ready\"}");
        CHECK(chown(p, 65534, 65534) == 0, "chown");
        j = rd(T, "theirs.json", &missing, &msg);
        CHECK(!j && missing == 0, "a file of another uid is refused");
        CHECK_CONTAINS(msg, "owned by uid 65534");
        free(msg);
    } else {
        unit_skip("a file owned by another uid needs root (chown)");
    }
}

/* ---- the bounded wait ---- */

static void put_state(const char *dir, const struct shim_run *run, const char *state)
{
    char name[128], text[256];
    shim_run_name(run, name, sizeof name);
    strcat(name, ".json");
    snprintf(text, sizeof text, "{\"format\":1,\"state\":\"%s\"}", state);
    if (shim_coord_write(dir, name, text) != 0)
        exit(2);
}

static long long last_seen_us; /* of the last wait_(): when READY was read, 0 if at first look */

static enum shim_wait_result wait_(const char *dir, const struct shim_run *run, long timeout,
                                   long *waited, long long *elapsed_us, char **msg)
{
    cJSON *out = (cJSON *)1;
    long long seen_us = -1;
    struct unit_capture cap = unit_capture_start(2);
    errno = ERRNO_MARK;
    long long t0 = unit_now_us();
    enum shim_wait_result r = shim_coord_wait_ready(dir, run, timeout, &out, waited, &seen_us);
    *elapsed_us = unit_now_us() - t0;
    CHECK(seen_us == 0 || (r == SHIM_WAIT_READY && seen_us >= t0 && seen_us <= t0 + *elapsed_us),
          "seen_us %lld: 0, or within the wait (same clock)", seen_us);
    last_seen_us = seen_us;
    int e = errno;
    char *m = unit_capture_end(&cap);
    CHECK_EQ_INT(e, ERRNO_MARK);
    if (r == SHIM_WAIT_READY) {
        const cJSON *s = cJSON_GetObjectItem(out, "state");
        CHECK(cJSON_IsString(s), "READY hands out the parsed file");
        cJSON_Delete(out);
    } else {
        CHECK(out == NULL, "no JSON unless READY");
    }
    if (msg)
        *msg = m;
    else
        free(m);
    return r;
}

static void test_wait_immediate(void)
{
    const char *T = unit_tmpdir();
    struct shim_run self = {getpid(), shim_pid_starttime(getpid())};
    long waited = -1;
    long long us;
    char *msg;

    CHECK_EQ_INT(wait_(T, &self, WAIT_MS, &waited, &us, &msg), SHIM_WAIT_MISSING);
    CHECK(us < AT_ONCE_US, "MISSING at once (%lld us)", us);
    CHECK(waited >= 0 && waited < AT_ONCE_US / 1000, "waited_ms %ld", waited);
    free(msg);

    put_state(T, &self, "ready");
    CHECK_EQ_INT(wait_(T, &self, WAIT_MS, &waited, &us, NULL), SHIM_WAIT_READY);
    CHECK(us < AT_ONCE_US, "READY at once (%lld us)", us);
    CHECK(last_seen_us == 0, "no release time when ready at first look: %lld", last_seen_us);
    put_state(T, &self, "finished");
    CHECK_EQ_INT(wait_(T, &self, WAIT_MS, &waited, &us, NULL), SHIM_WAIT_READY);
    CHECK(us < AT_ONCE_US, "finished counts as ready (%lld us)", us);

    /* a ready file of another run (a stale pid) is not ours */
    struct shim_run other = {self.pid, self.start + 7};
    CHECK_EQ_INT(wait_(T, &other, WAIT_MS, &waited, &us, NULL), SHIM_WAIT_MISSING);

    /* initialising, and a timeout of 0: TIMEOUT without waiting */
    put_state(T, &self, "initialising");
    CHECK_EQ_INT(wait_(T, &self, 0, &waited, &us, NULL), SHIM_WAIT_TIMEOUT);
    CHECK(us < AT_ONCE_US, "timeout 0 (%lld us)", us);
}

static void test_wait_invalid(void)
{
    const char *T = unit_tmpdir();
    struct shim_run self = {getpid(), shim_pid_starttime(getpid())};
    char name[128], path[PATH_MAX], *msg;
    long waited;
    long long us;
    shim_run_name(&self, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s.json", T, name);
    static const char *const bad[] = {"{\"state\":\"rea", "{\"format\":1}", "{\"state\":1}",
                                      "[\"ready\"]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        unit_write_file(path, bad[i]);
        CHECK(wait_(T, &self, WAIT_MS, &waited, &us, &msg) == SHIM_WAIT_INVALID, "INVALID: %s",
              bad[i]);
        CHECK(us < AT_ONCE_US, "at once (%lld us)", us);
        CHECK(msg[0] != 0, "a reason is logged");
        free(msg);
    }
    unlink(path);
    CHECK(symlink("/dev/null", path) == 0, "symlink");
    CHECK_EQ_INT(wait_(T, &self, WAIT_MS, &waited, &us, NULL), SHIM_WAIT_INVALID);
}

static void test_wait_timeout(void)
{
    const char *T = unit_tmpdir();
    struct shim_run self = {getpid(), shim_pid_starttime(getpid())};
    long waited;
    long long us;
    put_state(T, &self, "initialising");
    long timeout = unit_scaled_ms(250);
    CHECK_EQ_INT(wait_(T, &self, timeout, &waited, &us, NULL), SHIM_WAIT_TIMEOUT);
    CHECK(us >= timeout * 1000, "not before the timeout (%lld us)", us);
    CHECK(us < 4 * timeout * 1000, "ended by the timeout, not long after (%lld us)", us);
    CHECK(waited >= timeout && waited < 4 * timeout, "waited_ms %ld", waited);
    /* unrelated files appearing meanwhile do not end the wait early */
}

/* A child renames a ready file into place after `delay_ms`; returns its pid; *when gets the
 * CLOCK_MONOTONIC time (us) just after the rename, in shared memory. */
static pid_t renamer(const char *dir, const struct shim_run *run, long delay_ms,
                     volatile long long *when, int noise)
{
    pid_t pid = fork();
    if (pid == 0) {
        unit_sleep_ms(delay_ms);
        char name[128], tmp[PATH_MAX], fin[PATH_MAX];
        shim_run_name(run, name, sizeof name);
        for (int i = 0; i < noise; i++) { /* unrelated churn in the directory */
            snprintf(tmp, sizeof tmp, "%s/noise-%d", dir, i);
            unit_write_file(tmp, "{}");
        }
        snprintf(tmp, sizeof tmp, "%s/.tmp-ready", dir);
        snprintf(fin, sizeof fin, "%s/%s.json", dir, name);
        unit_write_file(tmp, "{\"format\":1,\"state\":\"ready\"}");
        if (rename(tmp, fin) != 0)
            _exit(1);
        *when = unit_now_us();
        _exit(0);
    }
    return pid;
}

static void test_wait_wakes_on_rename(void)
{
    const char *T = unit_tmpdir();
    struct shim_run self = {getpid(), shim_pid_starttime(getpid())};
    volatile long long *when = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                                    -1, 0);
    long waited;
    long long us;
    for (int round = 0; round < 3; round++) {
        *when = 0;
        put_state(T, &self, "initialising");
        /* staggered delays, and unrelated churn in rounds 1 and 2 (events that must not end the
         * wait); every poll slice as long as the whole wait: only the event can end it early */
        pid_t c = renamer(T, &self, 130 + 35 * round, when, round);
        poll_stretch_ms = WAIT_MS;
        enum shim_wait_result r = wait_(T, &self, WAIT_MS, &waited, &us, NULL);
        long long woke = unit_now_us();
        poll_stretch_ms = 0;
        int st;
        waitpid(c, &st, 0);
        CHECK_EQ_INT(r, SHIM_WAIT_READY);
        CHECK(*when > 0, "the child renamed the file");
        long long latency = woke - *when;
        CHECK(latency < AT_ONCE_US, "woken %lld us after the rename (by the event, not by the "
              "timeout)", latency);
        CHECK(last_seen_us > 0 && last_seen_us <= woke, "a waiter's release time: %lld",
              last_seen_us);
    }
    munmap((void *)when, 4096);
}

/* Events that name other files never make the waiter read the run file again.  The file is read
 * at the first look, once more after the watch is set, once after the event that names it, and
 * once per expired 100 ms liveness slice; twenty other files renamed into the directory
 * meanwhile (other workers' reports, journals, temporary files) add no read.  The child starts
 * once the waiter has its inotify descriptor, so the renames reach the watch. */
/* Does pid hold an inotify descriptor (anon_inode:inotify in /proc/<pid>/fd)? */
static int has_inotify_fd(pid_t pid)
{
    char dir[64], link[PATH_MAX + 300], target[64];
    snprintf(dir, sizeof dir, "/proc/%ld/fd", (long)pid);
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = 0;
    while (d && !found && (e = readdir(d))) {
        snprintf(link, sizeof link, "%s/%s", dir, e->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        found = n > 0 && (target[n] = 0, strcmp(target, "anon_inode:inotify") == 0);
    }
    if (d)
        closedir(d);
    return found;
}

static void test_wait_ignores_other_names(void)
{
    const char *T = unit_tmpdir();
    struct shim_run self = {getpid(), shim_pid_starttime(getpid())};
    char name[128], path[PATH_MAX + 160];
    shim_run_name(&self, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s.json", T, name);
    put_state(T, &self, "initialising");
    volatile long long *when = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                                    -1, 0);
    *when = 0;
    pid_t c = fork();
    if (c == 0) {
        char tmp[PATH_MAX + 32], other[PATH_MAX + 160];
        for (int tries = 0; !has_inotify_fd(getppid()) && tries < 5000; tries++)
            unit_sleep_ms(1);
        for (int i = 0; i < 20; i++) {
            snprintf(tmp, sizeof tmp, "%s/.other.tmp", T);
            snprintf(other, sizeof other, "%s/%s.worker-gw%d-1.json", T, name, i);
            unit_write_file(tmp, "{}");
            if (rename(tmp, other) != 0)
                _exit(1);
        }
        unit_sleep_ms(20);
        *when = unit_now_us();
        put_state(T, &self, "ready");
        _exit(0);
    }
    poll_stretch_ms = WAIT_MS;
    counted_path = path;
    counted_opens = 0;
    long waited;
    long long us;
    enum shim_wait_result r = wait_(T, &self, WAIT_MS, &waited, &us, NULL);
    long long woke = unit_now_us();
    counted_path = NULL;
    poll_stretch_ms = 0;
    int st;
    waitpid(c, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child did its part");
    CHECK_EQ_INT(r, SHIM_WAIT_READY);
    CHECK(*when > 0 && woke >= *when, "released by the run file's own rename");
    CHECK(counted_opens >= 3 && counted_opens <= 3 + us / 100000,
          "%d reads of the run file in a wait of %lld us", counted_opens, us);
    munmap((void *)when, 4096);
}

static void test_wait_dead(void)
{
    const char *T = unit_tmpdir();
    long waited;
    long long us;
    /* the controller exits while its file says initialising */
    int rel;
    pid_t ctl = unit_blocked_child(&rel);
    struct shim_run run = {ctl, shim_pid_starttime(ctl)};
    put_state(T, &run, "initialising");
    /* when the killer let the controller go: "after the exit" is judged against that, not
     * against a time since the wait began, which a stall of this process before the wait
     * would shorten */
    volatile long long *exit_at = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    *exit_at = 0;
    pid_t killer = fork();
    if (killer == 0) {
        unit_sleep_ms(120);
        *exit_at = unit_now_us();
        close(rel); /* the controller exits (and stays a zombie until we reap it) */
        _exit(0);
    }
    close(rel);
    CHECK_EQ_INT(wait_(T, &run, WAIT_MS, &waited, &us, NULL), SHIM_WAIT_DEAD);
    long long woke = unit_now_us();
    CHECK(*exit_at > 0 && woke >= *exit_at && woke - *exit_at < AT_ONCE_US,
          "DEAD soon after the exit (%lld us after it)", *exit_at ? woke - *exit_at : -1);
    munmap((void *)exit_at, 4096);
    waitpid(killer, NULL, 0);
    waitpid(ctl, NULL, 0);

    /* already gone and reaped */
    CHECK_EQ_INT(wait_(T, &run, WAIT_MS, &waited, &us, NULL), SHIM_WAIT_DEAD);
    CHECK(us < AT_ONCE_US, "at once (%lld us)", us);

    /* start time unknown (0: the parent had already exited when the worker looked): DEAD if
     * that pid published any run here, MISSING if it never did */
    struct shim_run unknown = {run.pid, 0};
    CHECK_EQ_INT(wait_(T, &unknown, WAIT_MS, &waited, &us, NULL), SHIM_WAIT_DEAD);
    CHECK(us < AT_ONCE_US, "at once (%lld us)", us);
    CHECK(shim_coord_any_run_of(T, run.pid), "a run of that pid is there");
    struct shim_run prefix = {run.pid / 10, 0}; /* run-12-... is not a run of pid 1 */
    CHECK(!shim_coord_any_run_of(T, prefix.pid), "a pid that is a prefix of another");
    CHECK_EQ_INT(wait_(T, &prefix, WAIT_MS, &waited, &us, NULL), SHIM_WAIT_MISSING);
    const char *U = unit_tmpdir();
    char jn[PATH_MAX];
    snprintf(jn, sizeof jn, "%s/run-%ld-5.journal-1-gw0-2.json", U, (long)run.pid);
    unit_write_file(jn, "{}");
    CHECK(!shim_coord_any_run_of(U, run.pid), "a journal file is not a run file");
    CHECK_EQ_INT(wait_(U, &unknown, WAIT_MS, &waited, &us, NULL), SHIM_WAIT_MISSING);

    /* alive, but the run file vanishes while waiting */
    struct shim_run self = {getpid(), shim_pid_starttime(getpid())};
    put_state(T, &self, "initialising");
    pid_t rm = fork();
    if (rm == 0) {
        char name[128], path[PATH_MAX];
        shim_run_name(&self, name, sizeof name);
        snprintf(path, sizeof path, "%s/%s.json", T, name);
        unit_sleep_ms(100);
        unlink(path);
        _exit(0);
    }
    CHECK_EQ_INT(wait_(T, &self, WAIT_MS, &waited, &us, NULL), SHIM_WAIT_DEAD);
    CHECK(us < 100000 + AT_ONCE_US, "soon after the removal (%lld us)", us);
    waitpid(rm, NULL, 0);
}

/* safefile.h's judgement of a directory, which the library (here and in unmanaged.c) and the
 * command's doctor share. */
static void test_dir_state(void)
{
    const char *T = unit_tmpdir();
    char d[PATH_MAX], parent[PATH_MAX] = "";
    struct stat st;
    snprintf(d, sizeof d, "%s/state-ok", T);
    mkdir(d, 0700);
    CHECK_EQ_INT(shim_dir_state(d, &st, parent, sizeof parent), SHIM_DIR_OK);
    chmod(d, 0770);
    CHECK_EQ_INT(shim_dir_state(d, &st, NULL, 0), SHIM_DIR_OPEN);
    snprintf(d, sizeof d, "%s/state-absent", T);
    CHECK_EQ_INT(shim_dir_state(d, &st, parent, sizeof parent), SHIM_DIR_CREATABLE);
    CHECK_STR(parent, T);
    snprintf(d, sizeof d, "%s/no/such/state", T);
    CHECK_EQ_INT(shim_dir_state(d, &st, parent, sizeof parent), SHIM_DIR_UNCREATABLE);
    char want[PATH_MAX];
    snprintf(want, sizeof want, "%s/no/such", T);
    CHECK_STR(parent, want);
    CHECK_EQ_INT(shim_dir_state("state-relative", &st, parent, sizeof parent),
                 SHIM_DIR_CREATABLE);
    CHECK_STR(parent, ".");
    snprintf(d, sizeof d, "%s/state-link", T);
    CHECK(symlink(T, d) == 0, "symlink");
    CHECK_EQ_INT(shim_dir_state(d, &st, NULL, 0), SHIM_DIR_NOT_DIR);
    if (geteuid() == 0) {
        snprintf(d, sizeof d, "%s/state-theirs", T);
        mkdir(d, 0700);
        CHECK(chown(d, 65534, 65534) == 0, "chown");
        CHECK_EQ_INT(shim_dir_state(d, &st, NULL, 0), SHIM_DIR_FOREIGN);
        CHECK_EQ_INT(st.st_uid, 65534);
    }
    errno = EINTR;
    shim_dir_state(d, &st, NULL, 0);
    CHECK_EQ_INT(errno, EINTR);
}

int main(void)
{
    unit_watchdog(20);
    RUN(test_find_run);
    RUN(test_coord_dir);
    RUN(test_ensure_dir);
    RUN(test_dir_state);
    RUN(test_write_read);
    RUN(test_read_refuses);
    RUN(test_wait_immediate);
    RUN(test_wait_invalid);
    RUN(test_wait_timeout);
    RUN(test_wait_wakes_on_rename);
    RUN(test_wait_ignores_other_names);
    RUN(test_wait_dead);
    return unit_finish();
}
