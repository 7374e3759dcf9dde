/* runcopy.c: the copy of the datafile that a run's workers read (see runcopy.h for why). */
#include "runcopy.h"
#include "coord.h"
#include "log.h"
#include "pin.h"
#include "real.h"
#include "runid.h"
#include "sqlvalue.h"
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <fcntl.h>
#include <linux/fs.h> /* FICLONE */
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* A finished copy at path that is safe to open: a regular file of ours (never a symlink).
 * 1 yes, 0 absent, -1 present but refused (logged). */
static int usable(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return 0;
    if (S_ISREG(st.st_mode) && st.st_uid == geteuid())
        return 1;
    shim_log_error("refusing %s: not a regular file of ours; run `testmon-shim clean`", path);
    return -1;
}

/* Take the run's copy lock within timeout_ms; the fd, or -1 (logged). */
static int lock_copy(const char *lockpath, long timeout_ms)
{
    int fd = open(lockpath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        shim_log_error("cannot create %s: %s; this worker reads the live datafile", lockpath,
                       strerror(errno));
        return -1;
    }
    long long end = shim_coord_now_us() + timeout_ms * 1000LL;
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if ((errno != EWOULDBLOCK && errno != EINTR) || shim_coord_now_us() >= end) {
            shim_log_error("another worker held %s for %g s; this worker reads the live datafile",
                           lockpath, timeout_ms / 1000.0);
            close(fd);
            return -1;
        }
        nap_ms(1);
    }
    return fd;
}

/* Copy datafile to tmp (created here, 0600) in one backup step: one read transaction, so the
 * copy is one committed state of the file.  SQLITE_OK or an SQLite code with *err set. */
static int copy_to(const char *datafile, const char *tmp, long timeout_ms, const char **err)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        *err = strerror(errno);
        return SQLITE_CANTOPEN;
    }
    close(fd); /* SQLite takes an empty file for a new database, and keeps its mode */
    sqlite3 *src = NULL, *dst = NULL;
    int rc = REAL(sqlite3_open_v2)(datafile, &src, SQLITE_OPEN_READONLY, NULL);
    if (rc == SQLITE_OK)
        rc = REAL(sqlite3_open_v2)(tmp, &dst, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_backup *b = REAL(sqlite3_backup_init)(dst, "main", src, "main");
        rc = b ? SQLITE_OK : REAL(sqlite3_errcode)(dst);
        /* BUSY/LOCKED: the source's read lock is briefly unavailable (a WAL restart) */
        long long end = shim_coord_now_us() + timeout_ms * 1000LL;
        while (b && ((rc = REAL(sqlite3_backup_step)(b, -1)) == SQLITE_BUSY ||
                     rc == SQLITE_LOCKED) && shim_coord_now_us() < end)
            nap_ms(1);
        if (b) {
            int frc = REAL(sqlite3_backup_finish)(b);
            rc = rc == SQLITE_DONE ? frc : rc;
        }
    }
    if (rc != SQLITE_OK)
        *err = REAL(sqlite3_errstr)(rc);
    REAL(sqlite3_close)(dst); /* NULL is a no-op */
    REAL(sqlite3_close)(src);
    return rc;
}

/* Reflink `from` to a new file `to` (O_EXCL|O_NOFOLLOW, 0600): 0, or the errno.
 *
 * A clone shares the datafile's blocks but not its page cache (Linux caches per inode), so the
 * workers' first reads would go to the disk one SQLite page at a time, while the live file is
 * cached: at 250 MB that cost more than the copy it replaced saves (+0.3 s to the first test).
 * So the clone is read ahead at once (POSIX_FADV_WILLNEED), while the workers are still
 * starting up: in 1 MiB steps, because the kernel caps one request at its read-ahead window
 * (a few hundred KiB to a few MiB); each step only queues the reads. */
static int clone_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in < 0)
        return errno;
    int out = open(to, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    int e = out < 0 ? errno : ioctl(out, FICLONE, in) == 0 ? 0 : errno;
    struct stat st;
    if (e == 0 && fstat(out, &st) == 0)
        for (off_t at = 0; at < st.st_size; at += 1 << 20)
            (void)posix_fadvise(out, at, 1 << 20, POSIX_FADV_WILLNEED);
    close(in);
    if (out >= 0)
        close(out);
    if (e && out >= 0)
        unlink(to);
    return e;
}

/* Where the filesystem shares extents (btrfs, xfs, bcachefs), the copy costs the same whatever
 * the datafile's size: reflink the file and its WAL while a read transaction pins one committed
 * state.  Why that is one state: while the reader holds its snapshot (its WAL frames 1..N),
 * SQLite neither resets nor rewrites those frames, so the WAL clone holds them whole; a
 * checkpoint running meanwhile may rewrite database pages, but only with the content of frames
 * 1..N, which the clone's WAL also holds and which win when the copy is opened (its WAL index is
 * rebuilt from its own WAL); frames appended after N are the later committed states or a torn
 * tail that recovery drops by checksum.  0, or an errno (ENOTSUP, EXDEV, ... : copy instead). */
static int clone_to(const char *datafile, const char *tmp, long timeout_ms)
{
    char wal[PATH_MAX + 8], twal[PATH_MAX + 8];
    snprintf(wal, sizeof wal, "%s-wal", datafile);
    snprintf(twal, sizeof twal, "%s-wal", tmp);
    sqlite3 *src = NULL;
    sqlite3_stmt *st = NULL;
    int e = EIO;
    if (REAL(sqlite3_open_v2)(datafile, &src, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        REAL(sqlite3_busy_timeout)(src, (int)(timeout_ms < 1000000 ? timeout_ms : 1000000));
        if (shim_sql_exec(src, "BEGIN") == SQLITE_OK &&
            REAL(sqlite3_prepare_v2)(src, "SELECT count(*) FROM sqlite_master", -1, &st,
                                     NULL) == SQLITE_OK &&
            REAL(sqlite3_step)(st) == SQLITE_ROW) {
            struct stat ws;
            e = clone_file(datafile, tmp);
            if (e == 0 && stat(wal, &ws) == 0 && ws.st_size > 0 && (e = clone_file(wal, twal)))
                unlink(tmp);
        }
        REAL(sqlite3_finalize)(st);
        shim_sql_exec(src, "COMMIT");
    }
    REAL(sqlite3_close)(src);
    return e;
}

/* Publish the copy at tmp (and its WAL, first: a worker that finds the copy must find its WAL
 * with it) as path. */
static int publish(const char *tmp, const char *path)
{
    char twal[PATH_MAX + 8], pwal[PATH_MAX + 8];
    snprintf(twal, sizeof twal, "%s-wal", tmp);
    snprintf(pwal, sizeof pwal, "%s-wal", path);
    if (access(twal, F_OK) == 0 && rename(twal, pwal) != 0)
        return -1;
    return rename(tmp, path);
}

/* Clone, else copy; publish by rename, or clean up and say why. */
static enum shim_runcopy_result make_copy(const char *datafile, const char *dir,
                                           const char *tmp, const char *path, long timeout_ms)
{
    const char *err = "";
    char twal[PATH_MAX + 8], journal[PATH_MAX + 16];
    snprintf(twal, sizeof twal, "%s-wal", tmp);
    snprintf(journal, sizeof journal, "%s-journal", tmp);
    unlink(tmp); /* left by a process that had our pid and died while copying */
    unlink(twal);
    int cloned = clone_to(datafile, tmp, timeout_ms) == 0;
    int rc = cloned ? SQLITE_OK : copy_to(datafile, tmp, timeout_ms, &err);
    if (rc == SQLITE_OK && publish(tmp, path) != 0) {
        rc = SQLITE_IOERR;
        err = strerror(errno);
    }
    if (rc == SQLITE_OK)
        return cloned ? SHIM_RUNCOPY_CLONED : SHIM_RUNCOPY_MADE;
    unlink(tmp);
    unlink(twal);
    unlink(journal);
    shim_log_error("cannot copy %s for the workers to %s (%s); this worker reads the live "
                   "datafile: free disk space or set TESTMON_SHIM_DIR elsewhere",
                   datafile, dir, err);
    return SHIM_RUNCOPY_FAILED;
}

/* Open <run>.db.pin, a regular file of ours, for `flags`; the fd or -1 (absent: -1, errno
 * ENOENT, nothing said; else said). */
static int open_pin_file(const char *path, int flags)
{
    /* O_NONBLOCK: a FIFO planted in its place must be refused, not block the open */
    int fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600);
    struct stat st;
    if (fd < 0 && errno != ELOOP) {
        if (errno != ENOENT)
            shim_log_error("cannot open %s: %s; the workers read a copy of the datafile", path,
                           strerror(errno));
        return -1;
    }
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
        shim_log_error("refusing %s: not a regular file of ours; run `testmon-shim clean`", path);
        if (fd >= 0)
            close(fd);
        errno = EPERM;
        return -1;
    }
    return fd;
}

/* The controller's word on run `run_name`: the pinned datafile's URI in *uri if it pinned
 * `datafile`, read under a shared lock taken within timeout_ms.  1 pinned, 0 not (or unsure). */
static int pinned(const char *dir, const char *run_name, const char *datafile, long timeout_ms,
                  char *uri, size_t urisz)
{
    char path[PATH_MAX], text[64];
    if ((size_t)snprintf(path, sizeof path, "%s/%s" SHIM_RUN_COPY_PIN, dir, run_name) >=
        sizeof path)
        return 0;
    int fd = open_pin_file(path, O_RDONLY);
    if (fd < 0)
        return 0; /* no controller of ours pinned anything: testmon 1.x, an older library */
    long long end = shim_coord_now_us() + timeout_ms * 1000LL;
    int locked;
    while (!(locked = flock(fd, LOCK_SH | LOCK_NB) == 0) &&
           (errno == EWOULDBLOCK || errno == EINTR) && shim_coord_now_us() < end)
        nap_ms(1); /* the controller is pinning: a checkpoint, a few ms */
    ssize_t n = locked ? pread(fd, text, sizeof text - 1, 0) : -1;
    close(fd); /* releases the lock: the joined flag, set before, keeps the pin as it is */
    if (!locked)
        shim_log_error("the controller held %s for %g s; this worker reads a copy", path,
                       timeout_ms / 1000.0);
    uintmax_t dev, ino;
    struct stat st;
    if (n <= 0)
        return 0;
    text[n] = 0;
    if (sscanf(text, "%ju %ju", &dev, &ino) != 2 || stat(datafile, &st) != 0 ||
        (uintmax_t)st.st_dev != dev || (uintmax_t)st.st_ino != ino) {
        shim_log_info("the controller pinned another file than %s (replaced?): this worker "
                      "reads a copy", datafile);
        return 0;
    }
    return shim_pin_reader_uri(datafile, uri, urisz) == 0;
}

enum shim_runcopy_result shim_runcopy_get(const char *dir, const char *run_name,
                                          const char *datafile, int may_pin, long timeout_ms,
                                          char *path, size_t pathsz, long *took_ms)
{
    int saved = errno;
    long long t0 = shim_coord_now_us();
    enum shim_runcopy_result res = SHIM_RUNCOPY_FAILED;
    char lockpath[PATH_MAX], tmp[PATH_MAX];
    if (may_pin && pinned(dir, run_name, datafile, timeout_ms, path, pathsz)) {
        res = SHIM_RUNCOPY_PINNED;
    } else if ((size_t)snprintf(path, pathsz, "%s/%s" SHIM_RUN_COPY, dir, run_name) >= pathsz ||
               (size_t)snprintf(lockpath, sizeof lockpath, "%s.lock", path) >= sizeof lockpath ||
               (size_t)snprintf(tmp, sizeof tmp, "%s/.%s" SHIM_RUN_COPY ".tmp.%ld.0", dir,
                                run_name, (long)getpid()) >= sizeof tmp) {
        shim_log_error("coordination path too long in %s; this worker reads the live datafile",
                       dir);
    } else {
        /* Every worker but the first finds the copy made: one lstat, no lock.  Else look again
         * under the lock: another worker may have made it meanwhile. */
        int u = usable(path), lock = -1;
        if (u == 0 && (lock = lock_copy(lockpath, timeout_ms)) >= 0)
            u = usable(path);
        if (u != 0)
            res = u > 0 ? SHIM_RUNCOPY_SHARED : SHIM_RUNCOPY_FAILED;
        else if (lock >= 0)
            res = make_copy(datafile, dir, tmp, path, timeout_ms);
        if (lock >= 0)
            close(lock); /* releases the flock */
    }
    *took_ms = (long)((shim_coord_now_us() - t0) / 1000);
    errno = saved;
    return res;
}

int shim_runcopy_pin_open(const char *dir, const char *run_name)
{
    int saved = errno;
    char path[PATH_MAX];
    int fd = -1;
    if ((size_t)snprintf(path, sizeof path, "%s/%s" SHIM_RUN_COPY_PIN, dir, run_name) <
        sizeof path)
        fd = open_pin_file(path, O_RDWR | O_CREAT);
    if (fd < 0 && errno == ENOENT) /* the directory went away */
        shim_log_error("cannot create %s; the workers read a copy of the datafile", path);
    errno = saved;
    return fd;
}

int shim_runcopy_pin_try_lock(int fd)
{
    int saved = errno;
    int rc = flock(fd, LOCK_EX | LOCK_NB) == 0 ? 0 : -1;
    errno = saved;
    return rc;
}

void shim_runcopy_pin_say(int fd, const struct stat *pinned_file)
{
    int saved = errno;
    char text[64];
    int n = pinned_file ? snprintf(text, sizeof text, "%ju %ju\n",
                                   (uintmax_t)pinned_file->st_dev, (uintmax_t)pinned_file->st_ino)
                        : 0;
    /* Emptied first.  A word half written (a full disk) is no word to a worker: too short to
     * parse, or another inode; it copies. */
    if (ftruncate(fd, 0) != 0 || (n > 0 && pwrite(fd, text, (size_t)n, 0) != n))
        shim_log_error("cannot write the pin file (%s); the workers read a copy of the datafile",
                       strerror(errno));
    flock(fd, LOCK_UN);
    errno = saved;
}

void shim_runcopy_remove(const char *dir, const char *run_name)
{
    int saved = errno;
    static const char *const suffixes[] = SHIM_RUN_COPY_SUFFIXES;
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        char path[PATH_MAX];
        if ((size_t)snprintf(path, sizeof path, "%s/%s%s", dir, run_name, suffixes[i]) <
            sizeof path)
            unlink(path);
    }
    errno = saved;
}
