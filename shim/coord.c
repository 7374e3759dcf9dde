/* coord.c: the coordination directory: its markers, safe atomic writes, safe reads, finding a
 * run, and the bounded wait for one. */
#include "coord.h"
#include "log.h"
#include "safefile.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int shim_coord_dir(const char *datafile, char *out, size_t outsz)
{
    const char *env = getenv("TESTMON_SHIM_DIR");
    if (env && *env)
        return (size_t)snprintf(out, outsz, "%s", env) < outsz ? 0 : -1;
    const char *slash = strrchr(datafile, '/');
    int dirlen = slash ? (int)(slash - datafile) : 0;
    return (size_t)snprintf(out, outsz, "%.*s/" SHIM_COORD_DIR_NAME, dirlen, datafile) < outsz
               ? 0 : -1;
}

/* Write one marker file into a directory just created; a failure only costs the marker. */
static void write_marker(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    size_t len = strlen(text);
    if (write(fd, text, len) != (ssize_t)len)
        unlink(path); /* a half marker is worse than none */
    close(fd);
}

int shim_coord_ensure_dir(const char *dir)
{
    int saved = errno;
    if (mkdir(dir, 0700) == 0) {
        /* Ours from the start: mark it as a cache, as pytest marks .pytest_cache, so that the
         * project's version control and backups leave it alone.  Written before any run file,
         * so a directory with runs in it always has them. */
        write_marker(dir, SHIM_COORD_GITIGNORE, "# Created by testmon-shim automatically.\n*\n");
        write_marker(dir, SHIM_COORD_CACHEDIR_TAG,
                     "Signature: 8a477f597d28d172789f06886806bc55\n"
                     "# This file is a cache directory tag created by testmon-shim.\n"
                     "# For information about cache directory tags, see:\n"
                     "#\thttps://bford.info/cachedir/spec.html\n");
    } else if (errno != EEXIST) {
        shim_log_error("cannot create coordination directory %s: %s; make its parent writable or "
                       "set TESTMON_SHIM_DIR to a writable directory", dir, strerror(errno));
        errno = saved;
        return -1;
    }
    struct stat st;
    int rc = -1;
    switch (shim_dir_state(dir, &st, NULL, 0)) {
    case SHIM_DIR_OK:
        rc = 0;
        break;
    case SHIM_DIR_NOT_DIR:
        shim_log_error("coordination directory %s is not a directory (a symlink?); remove it or "
                       "set TESTMON_SHIM_DIR", dir);
        break;
    case SHIM_DIR_FOREIGN:
        shim_log_error("coordination directory %s belongs to uid %ld, not to us; remove it or set "
                       "TESTMON_SHIM_DIR", dir, (long)st.st_uid);
        break;
    case SHIM_DIR_OPEN:
        shim_log_error("coordination directory %s is writable by others (mode %03o); "
                       "run `chmod 700 %s`", dir, (unsigned)(st.st_mode & 0777), dir);
        break;
    default: /* removed or made unreadable since the mkdir */
        shim_log_error("cannot inspect coordination directory %s; set TESTMON_SHIM_DIR to a "
                       "directory of yours", dir);
        break;
    }
    errno = saved;
    return rc;
}

int shim_coord_write(const char *dir, const char *name, const char *text)
{
    int saved = errno;
    char tmp[PATH_MAX], final[PATH_MAX];
    static unsigned counter;
    unsigned c = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
    if ((size_t)snprintf(final, sizeof final, "%s/%s", dir, name) >= sizeof final ||
        (size_t)snprintf(tmp, sizeof tmp, "%s/.%s.tmp.%ld.%u", dir, name, (long)getpid(), c) >=
            sizeof tmp) {
        shim_log_error("coordination path too long in %s; set TESTMON_SHIM_DIR to a shorter "
                       "directory", dir);
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        shim_log_error("cannot create %s: %s; make the directory writable or set "
                       "TESTMON_SHIM_DIR", tmp, strerror(errno));
        errno = saved;
        return -1;
    }
    size_t len = strlen(text), off = 0;
    int err = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            err = w < 0 ? errno : EIO;
            break;
        }
        off += (size_t)w;
    }
    if (close(fd) != 0 && !err)
        err = errno;
    if (!err && rename(tmp, final) != 0)
        err = errno;
    if (err) {
        unlink(tmp);
        shim_log_error("cannot write %s: %s; free disk space or set TESTMON_SHIM_DIR elsewhere",
                       final, strerror(err));
    }
    errno = saved;
    return err ? -1 : 0;
}

cJSON *shim_coord_read(const char *dir, const char *name, int *missing)
{
    char path[PATH_MAX], why[128];
    *missing = 0;
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return NULL;
    cJSON *json = shim_read_json_file(path, missing, why, sizeof why);
    if (!json && !*missing)
        shim_log_error("refusing coordination file %s: %s; remove it", path, why);
    return json;
}

int shim_coord_any_run_of(const char *dir, long pid)
{
    int saved = errno, found = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && !found && (e = readdir(d))) {
        struct shim_run run;
        const char *rest = shim_run_parse(e->d_name, &run);
        found = rest && run.pid == pid && shim_run_file_kind(rest) == SHIM_RUN_FILE_RUN;
    }
    if (d)
        closedir(d);
    errno = saved;
    return found;
}

int shim_coord_find_run(const char *dir, long pid, unsigned long long seen,
                        unsigned long long *start)
{
    int saved = errno, found = 0;
    DIR *d = opendir(dir);
    if (!d) {
        errno = saved;
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        struct shim_run run;
        const char *rest = shim_run_parse(e->d_name, &run);
        if (!rest || run.pid != pid || shim_run_file_kind(rest) != SHIM_RUN_FILE_RUN ||
            !shim_start_same_process(run.start, seen))
            continue;
        if (!found || run.start < *start) /* the closest to what this process reads */
            *start = run.start;
        found = 1;
    }
    closedir(d);
    errno = saved;
    return found;
}

/* Microseconds, not milliseconds: a deadline kept in whole milliseconds, truncated at both ends,
 * let a bounded wait give up to 1 ms before its timeout (test_coord's test_wait_timeout). */
long long shim_coord_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

/* 1 ready, 0 not yet, -1 missing, -2 invalid */
static int check_ready(const char *dir, const char *file, cJSON **out)
{
    int missing;
    cJSON *j = shim_coord_read(dir, file, &missing);
    if (!j)
        return missing ? -1 : -2;
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(j, "state");
    if (!cJSON_IsString(state)) {
        shim_log_error("refusing coordination file %s/%s: no \"state\"; remove it", dir, file);
        cJSON_Delete(j);
        return -2;
    }
    if (strcmp(state->valuestring, "ready") == 0 || strcmp(state->valuestring, "finished") == 0) {
        *out = j;
        return 1;
    }
    cJSON_Delete(j);
    return 0;
}

/* Sleep until an inotify event names `file` (or the queue overflowed), at most ms.  Events for
 * other names are consumed without waking the caller: the controller's temporary file (its
 * close comes just before the rename that matters), other workers' reports, journals.  With
 * many workers waiting on few cores, each needless re-read of the run file delays the others. */
static void wait_for_event_on(int fd, const char *file, int ms)
{
    long long end = shim_coord_now_us() + ms * 1000LL;
    for (;;) {
        long long left = end - shim_coord_now_us();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)((left + 999) / 1000)) <= 0)
            return;
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        ssize_t n;
        int hit = 0;
        while ((n = read(fd, buf, sizeof buf)) > 0)
            for (const char *q = buf; q < buf + n;) {
                const struct inotify_event *e = (const struct inotify_event *)(const void *)q;
                hit |= (e->mask & IN_Q_OVERFLOW) || (e->len && strcmp(e->name, file) == 0);
                q += sizeof *e + e->len;
            }
        if (hit)
            return;
    }
}

enum shim_wait_result shim_coord_wait_ready(const char *dir, const struct shim_run *run,
                                            long timeout_ms, cJSON **out, long *waited_ms,
                                            long long *seen_us)
{
    int saved = errno;
    char name[SHIM_RUN_NAME_MAX], file[SHIM_RUN_NAME_MAX + 8];
    shim_run_name(run, name, sizeof name);
    snprintf(file, sizeof file, "%s" SHIM_RUN_JSON, name);
    long long t0 = shim_coord_now_us();
    enum shim_wait_result res;
    int fd = -1;
    *out = NULL;
    *seen_us = 0;
    if (run->start == 0) { /* the controller exited before we looked */
        *waited_ms = 0;
        errno = saved;
        return shim_coord_any_run_of(dir, run->pid) ? SHIM_WAIT_DEAD : SHIM_WAIT_MISSING;
    }
    for (int round = 0;; round++) {
        int r = check_ready(dir, file, out);
        if (r == 1) {
            if (round > 0)
                *seen_us = shim_coord_now_us();
            res = SHIM_WAIT_READY;
            break;
        }
        if (r == -1 && round == 0) {
            res = SHIM_WAIT_MISSING;
            break;
        }
        if (r == -2) {
            res = SHIM_WAIT_INVALID;
            break;
        }
        int alive = run->pid == (long)getppid() || shim_run_alive(run);
        if (r == -1 || !alive) { /* vanished, or controller gone */
            res = SHIM_WAIT_DEAD;
            break;
        }
        long long left = timeout_ms * 1000LL - (shim_coord_now_us() - t0); /* us */
        if (left <= 0) {
            res = SHIM_WAIT_TIMEOUT;
            break;
        }
        if (fd < 0) {
            /* Watch first, then re-check (round 1): a rename between check and watch is seen. */
            fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
            if (fd >= 0 && inotify_add_watch(fd, dir, IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE) < 0) {
                close(fd);
                fd = -1;
            }
            if (fd >= 0)
                continue;
        }
        /* Wake when our run file changes; re-check liveness at least every 100 ms. */
        int slice = left < 100000 ? (int)((left + 999) / 1000) : 100; /* ms, rounded up */
        if (fd >= 0) {
            wait_for_event_on(fd, file, slice);
        } else {
            struct timespec ts = {0, 2 * 1000000L}; /* no inotify: a short poll */
            nanosleep(&ts, NULL);
        }
    }
    if (fd >= 0)
        close(fd);
    *waited_ms = (long)((shim_coord_now_us() - t0) / 1000);
    errno = saved;
    return res;
}

const _Atomic unsigned char *shim_coord_joined_map(const char *dir, const char *run_name)
{
    int saved = errno;
    char path[PATH_MAX];
    void *p = MAP_FAILED;
    if ((size_t)snprintf(path, sizeof path, "%s/%s" SHIM_RUN_JOINED, dir, run_name) < sizeof path) {
        int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        /* One byte written, not a hole: a fault on a hole of a full tmpfs would be a SIGBUS. */
        if (fd >= 0) {
            if (write(fd, "", 1) == 1)
                p = mmap(NULL, 1, PROT_READ, MAP_SHARED, fd, 0);
            int err = errno;
            if (p == MAP_FAILED)
                unlink(path); /* no half-made flag for workers to refuse: they then say nothing */
            close(fd);
            errno = err;
        }
    }
    if (p == MAP_FAILED)
        shim_log_warn("cannot create %s (%s); the controller looks for worker journals before "
                      "every write", path, strerror(errno));
    errno = saved;
    return p == MAP_FAILED ? NULL : p;
}

int shim_coord_joined_set(const char *dir, const char *run_name)
{
    int saved = errno, rc = -1;
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s" SHIM_RUN_JOINED, dir, run_name) >= sizeof path)
        return -1;
    /* O_NONBLOCK: a FIFO planted in its place must be refused, not block the worker's open */
    int fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd < 0 && errno == ENOENT)
        rc = 1;
    else if (fd < 0 || fstat(fd, &st) != 0)
        shim_log_error("cannot open %s: %s; this worker's journals reach the database only when "
                       "the controller closes it", path, strerror(errno));
    else if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || st.st_size < 1)
        shim_log_error("refusing coordination file %s: not a regular file of ours; remove it",
                       path);
    else if (pwrite(fd, "\1", 1, 0) != 1)
        shim_log_error("cannot write %s: %s; this worker's journals reach the database only "
                       "when the controller closes it", path, strerror(errno));
    else
        rc = 0;
    if (fd >= 0)
        close(fd);
    errno = saved;
    return rc;
}

int shim_coord_joined_clear(const char *dir, const char *run_name)
{
    int saved = errno, rc = -1;
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s" SHIM_RUN_JOINED, dir, run_name) >= sizeof path)
        return -1;
    int fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && pwrite(fd, "", 1, 0) == 1)
        rc = 0;
    if (fd >= 0)
        close(fd);
    errno = saved;
    return rc;
}
