/* test_runcopy.c: the run's copy of the datafile, which its workers read (runcopy.c): one
 * committed state, made once per run by whichever worker comes first, never through a planted
 * file, bounded waits, a clear fallback, and removal at the controller's exit. */
#include "runcopy.h"
#include "log.h"
#include "pin.h"
#include "unit.h"
#include "../common/testdb.h"
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>

static char D[PATH_MAX], DF[PATH_MAX];

static void exec_ok(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        unit_printf("exec failed: %s: %s\n", sql, err ? err : "?");
        exit(2);
    }
}

/* A WAL datafile with testmon's core tables, user_version 7, and a pair of tables whose row
 * counts a writer keeps equal in every transaction. */
static void make_datafile(void)
{
    const char *t = unit_tmpdir();
    snprintf(D, sizeof D, "%s/coord", t);
    snprintf(DF, sizeof DF, "%s/.testmondata", t);
    mkdir(D, 0700);
    sqlite3 *db;
    sqlite3_open(DF, &db);
    exec_ok(db, "PRAGMA journal_mode = WAL;" TESTDB_SCHEMA TESTDB_ROWS
                "CREATE TABLE a(x); CREATE TABLE b(x); PRAGMA user_version = 7;");
    sqlite3_close(db);
}

/* Read-only, with a busy timeout as testmon's connections have (sqlite3.connect(timeout=60)):
 * readers that open a WAL file at the same moment may meet one of them recovering its index. */
static long long q(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    sqlite3_busy_timeout(db, 5000);
    long long v = testdb_int(db, sql, -1);
    sqlite3_close(db);
    return v;
}

static int integrity_ok(const char *path)
{
    sqlite3 *db;
    sqlite3_stmt *st = NULL;
    sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    int ok = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK &&
             sqlite3_step(st) == SQLITE_ROW &&
             strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return ok;
}

static void live_exec(const char *sql)
{
    sqlite3 *db;
    sqlite3_open(DF, &db);
    sqlite3_busy_timeout(db, 5000);
    exec_ok(db, sql);
    sqlite3_close(db);
}

static void test_made_then_shared(void)
{
    make_datafile();
    char path[PATH_MAX], path2[PATH_MAX], want[PATH_MAX];
    long ms = -1;
    CHECK_EQ_INT(shim_runcopy_get(D, "run-1-2", DF, 0, 5000, path, sizeof path, &ms),
                 SHIM_RUNCOPY_MADE);
    snprintf(want, sizeof want, "%s/run-1-2.db", D);
    CHECK_STR(path, want);
    CHECK(ms >= 0, "took %ld ms", ms);
    struct stat st;
    CHECK(lstat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0600,
          "copy mode %o", (unsigned)st.st_mode);
    /* the same content, header included: testmon checks user_version and sets WAL again */
    CHECK_EQ_INT(q(path, "SELECT count(*) FROM test_execution"), 3);
    CHECK_EQ_INT(q(path, "SELECT id FROM environment WHERE environment_name = 'other'"), 2);
    CHECK_EQ_INT(q(path, "PRAGMA user_version"), 7);
    sqlite3 *db;
    sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    sqlite3_stmt *s = NULL;
    sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &s, NULL);
    CHECK(sqlite3_step(s) == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(s, 0),
                                                  "wal") == 0, "a read-only copy stays WAL");
    sqlite3_finalize(s);
    sqlite3_close(db);
    /* the controller writes on; the copy does not change, and the next worker shares it */
    live_exec("INSERT INTO test_execution VALUES (4, 3, 't::d', 0.1, 0, 0);");
    CHECK_EQ_INT(shim_runcopy_get(D, "run-1-2", DF, 0, 5000, path2, sizeof path2, &ms),
                 SHIM_RUNCOPY_SHARED);
    CHECK_STR(path2, want);
    CHECK_EQ_INT(q(path2, "SELECT count(*) FROM test_execution"), 3);
    CHECK_EQ_INT(q(DF, "SELECT count(*) FROM test_execution"), 4);
    /* nothing half-made is left: no temporary, no journal */
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/.run-1-2.db.tmp.%ld.0", D, (long)getpid());
    CHECK(access(tmp, F_OK) != 0, "temporary left: %s", tmp);
    strcat(tmp, "-journal");
    CHECK(access(tmp, F_OK) != 0, "journal left: %s", tmp);
    /* the controller's exit removes the copy and its companions, and only this run's */
    CHECK_EQ_INT(shim_runcopy_get(D, "run-1-3", DF, 0, 5000, path2, sizeof path2, &ms),
                 SHIM_RUNCOPY_MADE);
    shim_runcopy_remove(D, "run-1-2");
    const char *gone[] = {"run-1-2.db", "run-1-2.db-wal", "run-1-2.db-shm", "run-1-2.db.lock"};
    for (size_t i = 0; i < sizeof gone / sizeof *gone; i++) {
        snprintf(tmp, sizeof tmp, "%s/%s", D, gone[i]);
        CHECK(access(tmp, F_OK) != 0, "%s still there", gone[i]);
    }
    CHECK(access(path2, F_OK) == 0, "another run's copy was removed");
}

/* A writer commits "insert into a; insert into b" in one transaction, many times a second; every
 * copy made meanwhile has count(a) == count(b): the copy is one read transaction, not a file copy
 * of a moving target. */
static void test_one_committed_state(void)
{
    make_datafile();
    volatile int *stop = mmap(NULL, sizeof *stop, PROT_READ | PROT_WRITE,
                              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    *stop = 0;
    pid_t w = fork();
    if (w == 0) {
        sqlite3 *db;
        sqlite3_open(DF, &db);
        sqlite3_busy_timeout(db, 5000);
        for (int i = 0; !*stop && i < 200000; i++)
            sqlite3_exec(db, "BEGIN IMMEDIATE; INSERT INTO a VALUES (randomblob(300));"
                             "INSERT INTO b VALUES (randomblob(300)); COMMIT;", NULL, NULL, NULL);
        sqlite3_close(db);
        _exit(0);
    }
    int bad = 0, made = 0;
    long long last = -1, moved = 0;
    for (int i = 0; i < 20; i++) {
        char name[32], path[PATH_MAX];
        long ms;
        snprintf(name, sizeof name, "run-9-%d", i);
        if (shim_runcopy_get(D, name, DF, 0, 5000, path, sizeof path, &ms) != SHIM_RUNCOPY_MADE)
            continue;
        made++;
        long long na = q(path, "SELECT count(*) FROM a"), nb = q(path, "SELECT count(*) FROM b");
        bad += na != nb;
        moved += na != last;
        last = na;
        CHECK(integrity_ok(path), "copy %d fails integrity_check", i);
        shim_runcopy_remove(D, name);
    }
    *stop = 1;
    int st;
    waitpid(w, &st, 0);
    CHECK_EQ_INT(made, 20);
    CHECK_EQ_INT(bad, 0);
    CHECK(moved > 1, "the writer never got in between copies (%lld distinct states)", moved);
}

/* Eight workers start at once: one makes the copy, seven share it, all read the same state. */
static void test_concurrent_workers(void)
{
    make_datafile();
    enum { N = 8 };
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    pid_t kids[N];
    for (int i = 0; i < N; i++) {
        if ((kids[i] = fork()) == 0) {
            char path[PATH_MAX];
            long ms;
            int r = shim_runcopy_get(D, "run-5-5", DF, 0, 10000, path, sizeof path, &ms);
            long long n = q(path, "SELECT count(*) FROM test_execution");
            int msg[2] = {r, (int)n};
            ssize_t wr = write(p[1], msg, sizeof msg);
            _exit(wr == sizeof msg ? 0 : 1);
        }
    }
    /* the controller writes while they start */
    live_exec("INSERT INTO test_execution VALUES (9, 1, 't::z', 0.1, 0, 0);");
    close(p[1]);
    int made = 0, shared = 0, first = -1, same = 1;
    int msg[2];
    while (read(p[0], msg, sizeof msg) == (ssize_t)sizeof msg) {
        made += msg[0] == SHIM_RUNCOPY_MADE;
        shared += msg[0] == SHIM_RUNCOPY_SHARED;
        if (first < 0)
            first = msg[1];
        same &= msg[1] == first;
    }
    close(p[0]);
    for (int i = 0; i < N; i++)
        waitpid(kids[i], NULL, 0);
    CHECK_EQ_INT(made, 1);
    CHECK_EQ_INT(shared, N - 1);
    /* whichever state the copy caught (3 or 4 executions), every worker saw that one */
    CHECK(same && (first == 3 || first == 4), "workers saw different states (first: %d)", first);
}

/* shim_runcopy_get with what it prints on stderr in *err (malloc'd). */
static int get_said(const char *dir, const char *run, const char *datafile, long timeout_ms,
                    char *path, long *ms, char **err)
{
    struct unit_capture cap = unit_capture_start(2);
    int r = shim_runcopy_get(dir, run, datafile, 1, timeout_ms, path, PATH_MAX, ms);
    *err = unit_capture_end(&cap);
    return r;
}

/* A planted symlink (or anything not a regular file of ours) is refused, never followed. */
static void test_refuses_planted(void)
{
    make_datafile();
    char path[PATH_MAX], target[PATH_MAX], link[PATH_MAX];
    snprintf(target, sizeof target, "%s/elsewhere", unit_tmpdir());
    unit_write_file(target, "not a database");
    snprintf(link, sizeof link, "%s/run-7-7.db", D);
    CHECK(symlink(target, link) == 0, "symlink");
    long ms;
    char *err;
    int r = get_said(D, "run-7-7", DF, 1000, path, &ms, &err);
    CHECK_EQ_INT(r, SHIM_RUNCOPY_FAILED);
    CHECK_CONTAINS(err, "refusing ");
    CHECK_CONTAINS(err, "run-7-7.db: not a regular file of ours; run `testmon-shim clean`");
    CHECK_EQ_INT(strchr(err, '\n') == err + strlen(err) - 1, 1); /* one line */
    free(err);
    size_t len;
    char *t = unit_read_file(target, &len);
    CHECK_STR(t, "not a database");
    free(t);
}

/* Failures: the worker is told why and reads the live file; nothing half-made stays. */
static void test_failures(void)
{
    make_datafile();
    char path[PATH_MAX], nodir[PATH_MAX], missing[PATH_MAX];
    long ms;
    snprintf(nodir, sizeof nodir, "%s/no/such/dir", unit_tmpdir());
    char *err;
    int r = get_said(nodir, "run-1-1", DF, 1000, path, &ms, &err);
    CHECK_EQ_INT(r, SHIM_RUNCOPY_FAILED);
    CHECK_CONTAINS(err, "cannot create ");
    CHECK_CONTAINS(err, "this worker reads the live datafile");
    free(err);

    snprintf(missing, sizeof missing, "%s/gone.testmondata", unit_tmpdir());
    r = get_said(D, "run-2-2", missing, 1000, path, &ms, &err);
    CHECK_EQ_INT(r, SHIM_RUNCOPY_FAILED);
    CHECK_CONTAINS(err, "cannot copy ");
    CHECK_CONTAINS(err, "free disk space or set TESTMON_SHIM_DIR elsewhere");
    free(err);
    CHECK(access(missing, F_OK) != 0, "the missing datafile was created");
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/.run-2-2.db.tmp.%ld.0", D, (long)getpid());
    CHECK(access(tmp, F_OK) != 0, "temporary left behind");
    CHECK(access(path, F_OK) != 0, "a copy was published");

    char longname[PATH_MAX + 8];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    r = get_said(D, longname, DF, 1000, path, &ms, &err);
    CHECK_EQ_INT(r, SHIM_RUNCOPY_FAILED);
    CHECK_CONTAINS(err, "coordination path too long");
    free(err);
}

/* Another worker holds the lock: wait, but never past the timeout; a holder that dies releases
 * it at once (flock). */
static void test_lock_bounded(void)
{
    make_datafile();
    char lockpath[PATH_MAX], path[PATH_MAX];
    snprintf(lockpath, sizeof lockpath, "%s/run-3-3.db.lock", D);
    int fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    CHECK(fd >= 0 && flock(fd, LOCK_EX) == 0, "hold the lock");
    long ms;
    long long t0 = unit_now_us();
    char *err;
    int r = get_said(D, "run-3-3", DF, 200, path, &ms, &err);
    long long took = unit_now_us() - t0;
    CHECK_EQ_INT(r, SHIM_RUNCOPY_FAILED);
    CHECK(took >= 200000 && took < unit_scaled_ms(3000) * 1000LL, "waited %lld us", took);
    CHECK(ms >= 200, "reported %ld ms", ms);
    CHECK_CONTAINS(err, "another worker held ");
    free(err);
    close(fd);

    /* a holder killed mid-copy */
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    pid_t k = fork();
    if (k == 0) {
        int f = open(lockpath, O_RDWR | O_CLOEXEC);
        flock(f, LOCK_EX);
        ssize_t w = write(p[1], "x", 1);
        (void)w;
        pause();
        _exit(0);
    }
    char c;
    CHECK(read(p[0], &c, 1) == 1, "holder ready");
    kill(k, SIGKILL);
    waitpid(k, NULL, 0);
    t0 = unit_now_us();
    CHECK_EQ_INT(shim_runcopy_get(D, "run-3-3", DF, 0, 10000, path, sizeof path, &ms),
                 SHIM_RUNCOPY_MADE);
    CHECK(unit_now_us() - t0 < unit_scaled_ms(2000) * 1000LL, "waited for a dead holder");
    close(p[0]);
    close(p[1]);
}

/* errno survives, as everywhere in the shim. */
static void test_errno(void)
{
    make_datafile();
    char path[PATH_MAX];
    long ms;
    errno = 1234;
    shim_runcopy_get(D, "run-4-4", DF, 0, 1000, path, sizeof path, &ms);
    CHECK_EQ_INT(errno, 1234);
    errno = 4321;
    shim_runcopy_remove(D, "run-4-4");
    shim_runcopy_remove(D, "run-4-4");
    CHECK_EQ_INT(errno, 4321);
}

static char xfs_mnt[PATH_MAX];

/* A check that exits early (exec_ok) must not leave the image mounted. */
static void umount_xfs(void)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "umount %s 2>/dev/null", xfs_mnt);
    if (xfs_mnt[0] && system(cmd) == 0)
        xfs_mnt[0] = 0;
}

/* The fraction of path's pages in the page cache, waiting up to 2 s for it to pass `want`
 * (read-ahead runs asynchronously). */
static double resident_fraction(const char *path, double want)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    double frac = 0;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size == 0)
        goto out;
    long pg = sysconf(_SC_PAGESIZE);
    size_t pages = ((size_t)st.st_size + (size_t)pg - 1) / (size_t)pg;
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    unsigned char *vec = malloc(pages);
    for (int i = 0; m != MAP_FAILED && vec && i < 200; i++) {
        size_t in = 0;
        if (mincore(m, (size_t)st.st_size, vec) != 0)
            break;
        for (size_t k = 0; k < pages; k++)
            in += vec[k] & 1;
        frac = (double)in / (double)pages;
        if (frac >= want)
            break;
        unit_sleep_ms(10);
    }
    free(vec);
    if (m != MAP_FAILED)
        munmap(m, (size_t)st.st_size);
out:
    if (fd >= 0)
        close(fd);
    return frac;
}

/* Is the first extent of path shared with another file (a reflink)? */
static int first_extent_shared(const char *path)
{
    int fd = open(path, O_RDONLY);
    struct {
        struct fiemap m;
        struct fiemap_extent e[1];
    } f;
    memset(&f, 0, sizeof f);
    f.m.fm_length = ~0ULL;
    f.m.fm_flags = FIEMAP_FLAG_SYNC;
    f.m.fm_extent_count = 1;
    int shared = fd >= 0 && ioctl(fd, FS_IOC_FIEMAP, &f.m) == 0 && f.m.fm_mapped_extents == 1 &&
                 (f.e[0].fe_flags & FIEMAP_EXTENT_SHARED);
    if (fd >= 0)
        close(fd);
    return shared;
}

/* On a filesystem that shares extents the copy is a reflink of the datafile and its WAL: its
 * extents are shared, it holds the rows that only the WAL has, and later writes do not reach
 * it.  With the coordination directory on another filesystem the clone cannot be, and the
 * backup copy takes over.  Needs root and mkfs.xfs (an xfs image on a loop device). */
static void test_clone_on_xfs(void)
{
    char img[PATH_MAX], mnt[PATH_MAX], cmd[3 * PATH_MAX], df[PATH_MAX], dir[PATH_MAX];
    const char *t = unit_tmpdir();
    snprintf(img, sizeof img, "%s/xfs.img", t);
    snprintf(mnt, sizeof mnt, "%s/xfs", t);
    mkdir(mnt, 0700);
    if (geteuid() != 0) {
        unit_skip("not root: cannot mount an xfs image to test the reflink copy");
        return;
    }
    snprintf(cmd, sizeof cmd, "truncate -s 320M %s && mkfs.xfs -q -m reflink=1 %s >/dev/null 2>&1"
             " && mount -o loop %s %s 2>/dev/null", img, img, img, mnt);
    if (system(cmd) != 0) {
        unit_skip("cannot make and mount an xfs image (mkfs.xfs from xfsprogs, a loop device)");
        return;
    }
    snprintf(xfs_mnt, sizeof xfs_mnt, "%s", mnt);
    atexit(umount_xfs);
    snprintf(df, sizeof df, "%s/.testmondata", mnt);
    snprintf(dir, sizeof dir, "%s/coord", mnt);
    mkdir(dir, 0700);
    sqlite3 *w;
    sqlite3_open(df, &w);
    exec_ok(w, "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;" TESTDB_SCHEMA
               "CREATE TABLE blobs(x); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
               "WHERE i < 2500) INSERT INTO blobs SELECT randomblob(4000) FROM n;");
    exec_ok(w, "PRAGMA wal_checkpoint(TRUNCATE); INSERT INTO blobs VALUES ('only in the WAL');");
    char path[PATH_MAX], wal[PATH_MAX + 8];
    long ms = -1;
    CHECK_EQ_INT(shim_runcopy_get(dir, "run-5-5", df, 0, 5000, path, sizeof path, &ms),
                 SHIM_RUNCOPY_CLONED);
    snprintf(wal, sizeof wal, "%s-wal", path);
    struct stat st;
    CHECK(lstat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "copy mode %o",
          (unsigned)st.st_mode);
    CHECK(lstat(wal, &st) == 0 && (st.st_mode & 0777) == 0600, "the copy's WAL is there");
    CHECK(first_extent_shared(path), "the copy shares the datafile's extents");
    /* a clone does not share the page cache: it is read ahead at once, so that the workers'
     * first reads do not go to the disk page by page */
    double res = resident_fraction(path, 0.9);
    CHECK(res >= 0.9, "%.0f %% of the clone in the page cache", res * 100);
    exec_ok(w, "INSERT INTO blobs VALUES ('after the copy');");
    CHECK_EQ_INT(q(path, "SELECT count(*) FROM blobs"), 2501);
    CHECK_EQ_INT(q(path, "SELECT count(*) FROM blobs WHERE x = 'only in the WAL'"), 1);
    CHECK(integrity_ok(path), "the clone passes integrity_check");
    CHECK_EQ_INT(q(df, "SELECT count(*) FROM blobs"), 2502);
    shim_runcopy_remove(dir, "run-5-5");
    CHECK(access(wal, F_OK) != 0, "the copy's WAL is removed with it");
    /* another filesystem: the backup copy */
    char other[PATH_MAX];
    snprintf(other, sizeof other, "%s/coord-elsewhere", t);
    mkdir(other, 0700);
    CHECK_EQ_INT(shim_runcopy_get(other, "run-5-6", df, 0, 5000, path, sizeof path, &ms),
                 SHIM_RUNCOPY_MADE);
    CHECK_EQ_INT(q(path, "SELECT count(*) FROM blobs"), 2502);
    shim_runcopy_remove(other, "run-5-6");
    sqlite3_close(w);
    umount_xfs();
    CHECK(xfs_mnt[0] == 0, "umount %s", mnt);
    unlink(img);
}

/* The controller pinned the datafile's state (pin.h) and said so in <run>.db.pin: a worker that
 * set the joined flag reads the datafile itself, by its immutable URI, and keeps reading the
 * pinned state while the controller writes on; one that did not, or finds the word about
 * another file, an empty word, a controller that holds the file past the bound or a planted
 * file, reads a copy, and says why where it is not the plain case. */
static void test_pinned(void)
{
    make_datafile();
    char path[3 * PATH_MAX], pinpath[PATH_MAX];
    long ms;
    snprintf(pinpath, sizeof pinpath, "%s/run-6-6.db.pin", D);
    /* no word: a copy */
    CHECK_EQ_INT(shim_runcopy_get(D, "run-6-6", DF, 1, 1000, path, sizeof path, &ms),
                 SHIM_RUNCOPY_MADE);
    shim_runcopy_remove(D, "run-6-6");
    int fd = shim_runcopy_pin_open(D, "run-6-6");
    CHECK(fd >= 0, "pin file");
    struct stat pst;
    CHECK(fstat(fd, &pst) == 0 && (pst.st_mode & 0777) == 0600, "mode %o", (unsigned)pst.st_mode);
    CHECK_EQ_INT(shim_runcopy_pin_try_lock(fd), 0);
    sqlite3 *pin;
    struct stat id;
    CHECK_EQ_INT(shim_pin_take(DF, &pin, &id), SHIM_PIN_HELD);
    shim_runcopy_pin_say(fd, &id);
    CHECK_EQ_INT(shim_runcopy_get(D, "run-6-6", DF, 1, 1000, path, sizeof path, &ms),
                 SHIM_RUNCOPY_PINNED);
    CHECK(strncmp(path, "file:", 5) == 0 && strstr(path, "?immutable=1"), "%s", path);
    live_exec("INSERT INTO test_execution VALUES (4, 3, 't::d', 0.1, 0, 0);");
    sqlite3 *db;
    CHECK_EQ_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL),
                 SQLITE_OK);
    CHECK_EQ_INT(testdb_int(db, "SELECT count(*) FROM test_execution", -1), 3);
    CHECK_EQ_INT(testdb_int(db, "PRAGMA user_version", -1), 7);
    sqlite3_close(db);
    CHECK_EQ_INT(q(DF, "SELECT count(*) FROM test_execution"), 4);
    char dir_nocopy[PATH_MAX];
    snprintf(dir_nocopy, sizeof dir_nocopy, "%s/run-6-6.db", D);
    CHECK(access(dir_nocopy, F_OK) != 0, "a copy was made beside the pin");

    /* a worker that could not set the joined flag: the controller may pin again, so a copy */
    CHECK_EQ_INT(shim_runcopy_get(D, "run-6-6", DF, 0, 1000, path, sizeof path, &ms),
                 SHIM_RUNCOPY_MADE);
    shim_runcopy_remove(D, "run-6-6");

    /* the word names another file (the datafile replaced since) */
    fd = shim_runcopy_pin_open(D, "run-6-6");
    CHECK_EQ_INT(shim_runcopy_pin_try_lock(fd), 0);
    struct stat other = id;
    other.st_ino++;
    shim_runcopy_pin_say(fd, &other);
    CHECK_EQ_INT(shim_runcopy_get(D, "run-6-6", DF, 1, 1000, path, sizeof path, &ms),
                 SHIM_RUNCOPY_MADE);
    shim_runcopy_remove(D, "run-6-6");
    close(fd);

    /* nothing pinned (an empty word) */
    fd = shim_runcopy_pin_open(D, "run-6-6");
    CHECK_EQ_INT(shim_runcopy_pin_try_lock(fd), 0);
    shim_runcopy_pin_say(fd, NULL);
    CHECK_EQ_INT(shim_runcopy_get(D, "run-6-6", DF, 1, 1000, path, sizeof path, &ms),
                 SHIM_RUNCOPY_MADE);
    shim_runcopy_remove(D, "run-6-6");
    close(fd);

    /* the controller holds it (pinning) past the bound: said, and a copy */
    fd = shim_runcopy_pin_open(D, "run-6-6");
    CHECK_EQ_INT(shim_runcopy_pin_try_lock(fd), 0);
    shim_runcopy_pin_say(fd, &id);
    CHECK_EQ_INT(shim_runcopy_pin_try_lock(fd), 0);
    int other_fd = shim_runcopy_pin_open(D, "run-6-6"); /* another descriptor: another owner */
    CHECK(shim_runcopy_pin_try_lock(other_fd) != 0, "a second exclusive lock");
    char *err;
    long long t0 = unit_now_us();
    int r = get_said(D, "run-6-6", DF, 200, path, &ms, &err);
    CHECK_EQ_INT(r, SHIM_RUNCOPY_MADE);
    CHECK(unit_now_us() - t0 >= 200000, "did not wait for the controller");
    CHECK_CONTAINS(err, "the controller held ");
    CHECK_CONTAINS(err, "run-6-6.db.pin for 0.2 s; this worker reads a copy");
    free(err);
    flock(fd, LOCK_UN);
    close(other_fd);
    close(fd);
    shim_runcopy_remove(D, "run-6-6");
    char gone[PATH_MAX];
    snprintf(gone, sizeof gone, "%s/run-6-6.db.pin", D);
    CHECK(access(gone, F_OK) != 0, "the pin file is removed with the run's copy");

    /* a planted symlink: refused, never followed, a copy */
    char target[PATH_MAX];
    snprintf(target, sizeof target, "%s/pinned-elsewhere", unit_tmpdir());
    unit_write_file(target, "1 2\n");
    CHECK(symlink(target, pinpath) == 0, "symlink");
    r = get_said(D, "run-6-6", DF, 1000, path, &ms, &err);
    CHECK_EQ_INT(r, SHIM_RUNCOPY_MADE);
    CHECK_CONTAINS(err, "run-6-6.db.pin: not a regular file of ours; run `testmon-shim clean`");
    free(err);
    struct unit_capture cap = unit_capture_start(2);
    int planted = shim_runcopy_pin_open(D, "run-6-6");
    err = unit_capture_end(&cap);
    CHECK(planted < 0, "the controller opened a planted file");
    CHECK_CONTAINS(err, "refusing ");
    free(err);
    size_t len;
    char *t = unit_read_file(target, &len);
    CHECK_STR(t, "1 2\n");
    free(t);
    shim_pin_release(&pin);
}

int main(void)
{
    unit_watchdog(60);
    unit_real_fill();
    RUN(test_made_then_shared);
    RUN(test_one_committed_state);
    RUN(test_concurrent_workers);
    RUN(test_refuses_planted);
    RUN(test_failures);
    RUN(test_lock_bounded);
    RUN(test_errno);
    RUN(test_pinned);
    RUN(test_clone_on_xfs);
    return unit_finish();
}
