/* test_datafile.c: canonical names of database files, candidates, identity (datafile.c). */
#include "datafile.h"
#include "unit.h"

static char T[PATH_MAX];     /* canonical temp dir */
static char REAL_DF[PATH_MAX]; /* T/real/.testmondata (exists) */

static const char *canon(const char *name, int uri)
{
    static char out[PATH_MAX];
    memset(out, 'Z', sizeof out);
    return shim_datafile_canonical(name, uri, out, sizeof out) == 0 ? out : NULL;
}

/* canon() of a name built from a format */
static const char *canonf(int uri, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *canonf(int uri, const char *fmt, ...)
{
    char name[PATH_MAX + 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return canon(name, uri);
}

static void setup(void)
{
    snprintf(T, sizeof T, "%s", unit_tmpdir());
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/real", T);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/real/sub", T);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/real/my dir", T);
    mkdir(p, 0700);
    snprintf(REAL_DF, sizeof REAL_DF, "%s/real/.testmondata", T);
    unit_write_file(REAL_DF, "");
    snprintf(p, sizeof p, "%s/real/my dir/.testmondata", T);
    unit_write_file(p, "");
    char target[PATH_MAX];
    snprintf(target, sizeof target, "%s/real", T);
    snprintf(p, sizeof p, "%s/link", T);
    if (symlink(target, p) != 0)
        perror("symlink");
    snprintf(p, sizeof p, "%s/filelink.db", T);
    if (symlink(REAL_DF, p) != 0)
        perror("symlink");
}

static void test_plain_and_relative(void)
{
    char p[PATH_MAX + 32];
    CHECK_STR(canon(REAL_DF, 0), REAL_DF);
    snprintf(p, sizeof p, "%s/real/sub/../.testmondata", T);
    CHECK_STR(canon(p, 0), REAL_DF);
    CHECK_STR(canonf(0, "%s//real/./.testmondata", T), REAL_DF);
    char cwd[PATH_MAX];
    CHECK(getcwd(cwd, sizeof cwd) != NULL, "getcwd");
    snprintf(p, sizeof p, "%s/real", T);
    CHECK(chdir(p) == 0, "chdir");
    CHECK_STR(canon(".testmondata", 0), REAL_DF);
    CHECK_STR(canon("./.testmondata", 0), REAL_DF);
    CHECK_STR(canon("sub/../.testmondata", 0), REAL_DF);
    CHECK_STR(canon(".testmondata", SQLITE_OPEN_URI), REAL_DF);
    CHECK(chdir(cwd) == 0, "chdir back");
}

static void test_uris(void)
{
    char p[PATH_MAX + 64], want[PATH_MAX + 32];
    snprintf(p, sizeof p, "file:%s", REAL_DF);
    CHECK_STR(canon(p, 0), REAL_DF);
    CHECK_STR(canon(p, SQLITE_OPEN_URI), REAL_DF);
    snprintf(p, sizeof p, "file://%s", REAL_DF);
    CHECK_STR(canon(p, 0), REAL_DF);
    snprintf(p, sizeof p, "file://localhost%s", REAL_DF);
    CHECK_STR(canon(p, 0), REAL_DF);
    snprintf(p, sizeof p, "file://otherhost%s", REAL_DF);
    CHECK(canon(p, 0) == NULL, "a remote authority is not a local file");
    snprintf(p, sizeof p, "file://localhostx%s", REAL_DF);
    CHECK(canon(p, 0) == NULL, "authority 'localhostx' is not localhost");
    snprintf(p, sizeof p, "file:%s?mode=ro", REAL_DF);
    CHECK_STR(canon(p, 0), REAL_DF);
    snprintf(p, sizeof p, "file:%s?mode=ro&cache=private", REAL_DF);
    CHECK_STR(canon(p, 0), REAL_DF);
    snprintf(p, sizeof p, "file:%s#frag", REAL_DF);
    CHECK_STR(canon(p, 0), REAL_DF);
    CHECK_STR(canonf(0, "file:%s?mode=ro#frag?x", REAL_DF), REAL_DF);
    /* percent-encoding: "%2E" is '.', "%2f" is '/', "%20" a space */
    snprintf(p, sizeof p, "file:%s/real/%%2Etestmondata", T);
    CHECK_STR(canon(p, 0), REAL_DF);
    snprintf(p, sizeof p, "file:%s%%2freal%%2F.testmondata", T);
    CHECK_STR(canon(p, 0), REAL_DF);
    snprintf(p, sizeof p, "file:%s/real/my%%20dir/.testmondata?mode=ro", T);
    snprintf(want, sizeof want, "%s/real/my dir/.testmondata", T);
    CHECK_STR(canon(p, 0), want);
    CHECK(canonf(0, "file:%s/real/%%00.testmondata", T) == NULL, "an encoded NUL is no file name");
    /* relative URI, as testmon 2.0.0/2.0.1 spell it */
    char cwd[PATH_MAX];
    CHECK(getcwd(cwd, sizeof cwd) != NULL, "getcwd");
    snprintf(p, sizeof p, "%s/real", T);
    CHECK(chdir(p) == 0, "chdir");
    CHECK_STR(canon("file:.testmondata", 0), REAL_DF);
    CHECK_STR(canon("file:.testmondata?mode=ro", SQLITE_OPEN_URI), REAL_DF);
    CHECK(chdir(cwd) == 0, "chdir back");
}

static void test_not_files(void)
{
    char out[PATH_MAX];
    CHECK(shim_datafile_canonical(NULL, 0, out, sizeof out) == -1, "NULL");
    CHECK(shim_datafile_canonical("", 0, out, sizeof out) == -1, "empty name (temp db)");
    CHECK(canon(":memory:", 0) == NULL, ":memory:");
    CHECK(canon(":memory:", SQLITE_OPEN_URI) == NULL, ":memory: with URI flag");
    CHECK(canon("file::memory:", 0) == NULL, "file::memory:");
    CHECK(canon("file::memory:?cache=shared", 0) == NULL, "file::memory:?cache=shared");
    CHECK(canon("file:", 0) == NULL, "file: with no path");
    CHECK(canon("file:?mode=ro", 0) == NULL, "file:?mode=ro");
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "file:%s?mode=memory", REAL_DF);
    CHECK(canon(p, 0) == NULL, "mode=memory");
    CHECK(canonf(0, "file:%s?cache=shared&mode=memory", REAL_DF) == NULL, "mode=memory after another parameter");
}

static void test_symlinks(void)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/link/.testmondata", T);
    CHECK_STR(canon(p, 0), REAL_DF);
    snprintf(p, sizeof p, "file:%s/link/.testmondata?mode=ro", T);
    CHECK_STR(canon(p, 0), REAL_DF);
    CHECK_STR(canonf(0, "%s/filelink.db", T), REAL_DF);
}

static void test_not_yet_existing(void)
{
    char p[PATH_MAX + 64], want[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/real/fresh.db", T);
    snprintf(want, sizeof want, "%s/real/fresh.db", T);
    CHECK_STR(canon(p, 0), want);
    snprintf(p, sizeof p, "%s/link/fresh.db", T);
    CHECK_STR(canon(p, 0), want);
    CHECK_STR(canonf(0, "file:%s/link/fresh.db?mode=rwc", T), want);
    char cwd[PATH_MAX];
    CHECK(getcwd(cwd, sizeof cwd) != NULL, "getcwd");
    snprintf(p, sizeof p, "%s/link", T);
    CHECK(chdir(p) == 0, "chdir");
    CHECK_STR(canon("fresh.db", 0), want);
    CHECK(chdir(cwd) == 0, "chdir back");
    /* at the root: no doubled slash */
    CHECK_STR(canon("/testmon-unit-no-such-file.db", 0), "/testmon-unit-no-such-file.db");
    /* a missing directory cannot be resolved */
    CHECK(canonf(0, "%s/no-such-dir/x.db", T) == NULL, "missing parent directory");
}

static void test_too_long(void)
{
    static char name[PATH_MAX + 100];
    memset(name, 'a', sizeof name - 1);
    name[0] = '/';
    name[sizeof name - 1] = 0;
    CHECK(canon(name, 0) == NULL, "a name longer than PATH_MAX");
    static char uri[PATH_MAX + 100];
    snprintf(uri, sizeof uri, "file:%s", name);
    CHECK(canon(uri, 0) == NULL, "a URI longer than PATH_MAX");
    /* relative: short name, but cwd + name too long together (from a directory of more than
     * two characters: run from / the two would fit; the aarch64 chroot starts there) */
    static char rel[PATH_MAX - 2];
    memset(rel, 'b', sizeof rel - 1);
    rel[sizeof rel - 1] = 0;
    char cwd[PATH_MAX];
    CHECK(getcwd(cwd, sizeof cwd) != NULL && chdir(unit_tmpdir()) == 0, "chdir");
    CHECK(canon(rel, 0) == NULL, "cwd + relative name longer than PATH_MAX");
    CHECK(chdir(cwd) == 0, "chdir back");
    /* an output buffer too small for the answer */
    char small[8];
    memset(small, 'Z', sizeof small);
    CHECK(shim_datafile_canonical(REAL_DF, 0, small, sizeof small) == -1, "small buffer");
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/real/fresh.db", T);
    CHECK(shim_datafile_canonical(p, 0, small, sizeof small) == -1, "small buffer, fresh file");
    /* exactly enough room */
    char fit[PATH_MAX];
    size_t need = strlen(REAL_DF) + 1;
    CHECK(shim_datafile_canonical(REAL_DF, 0, fit, need) == 0, "buffer of exactly the size");
    CHECK(shim_datafile_canonical(REAL_DF, 0, fit, need - 1) == -1, "one byte short");
}

static void test_candidates(void)
{
    char p[PATH_MAX + 64], want[PATH_MAX + 64];
    unsetenv("TESTMON_DATAFILE");
    CHECK(shim_datafile_is_candidate(REAL_DF), "basename .testmondata");
    CHECK(shim_datafile_is_candidate("/x/y/.testmondata"), "any .testmondata by name");
    CHECK(!shim_datafile_is_candidate("/x/y/other.db"), "other.db");
    CHECK(!shim_datafile_is_candidate("/x/y/.testmondata-journal"), "journal file");
    CHECK(!shim_datafile_is_candidate("/x/y/.testmondata-wal"), "wal file");
    CHECK(!shim_datafile_is_candidate("/x/.testmondata/db"), "a directory named .testmondata");
    CHECK(!shim_datafile_is_candidate("/x/y/x.testmondata"), "suffix only");

    snprintf(want, sizeof want, "%s/real/custom.db", T);
    snprintf(p, sizeof p, "%s/real/custom.db", T);
    setenv("TESTMON_DATAFILE", p, 1);
    CHECK(shim_datafile_is_candidate(want), "absolute $TESTMON_DATAFILE");
    CHECK(!shim_datafile_is_candidate("/x/y/other.db"), "another file with $TESTMON_DATAFILE");
    CHECK(shim_datafile_is_candidate(REAL_DF), ".testmondata stays a candidate");
    snprintf(p, sizeof p, "%s/link/custom.db", T);
    setenv("TESTMON_DATAFILE", p, 1);
    CHECK(shim_datafile_is_candidate(want), "$TESTMON_DATAFILE through a symlinked directory");

    char cwd[PATH_MAX];
    CHECK(getcwd(cwd, sizeof cwd) != NULL, "getcwd");
    snprintf(p, sizeof p, "%s/real", T);
    CHECK(chdir(p) == 0, "chdir");
    setenv("TESTMON_DATAFILE", "custom.db", 1);
    CHECK(shim_datafile_is_candidate(want), "relative $TESTMON_DATAFILE");
    setenv("TESTMON_DATAFILE", "sub/custom.db", 1);
    CHECK(!shim_datafile_is_candidate(want), "relative $TESTMON_DATAFILE naming another file");
    CHECK(chdir(cwd) == 0, "chdir back");

    setenv("TESTMON_DATAFILE", "", 1);
    CHECK(!shim_datafile_is_candidate(want), "empty $TESTMON_DATAFILE");
    /* errno is preserved even when $TESTMON_DATAFILE cannot be resolved */
    snprintf(p, sizeof p, "%s/no-such-dir/custom.db", T);
    setenv("TESTMON_DATAFILE", p, 1);
    errno = 4242;
    CHECK(!shim_datafile_is_candidate(want), "unresolvable $TESTMON_DATAFILE");
    CHECK_EQ_INT(errno, 4242);
    unsetenv("TESTMON_DATAFILE");
}

/* the syscall-free first look: true for every spelling of a datafile, false for others */
static void test_maybe(void)
{
    unsetenv("TESTMON_DATAFILE");
    static const char *const yes[] = {".testmondata", "/a/b/.testmondata", "sub/.testmondata",
                                      "file:.testmondata", "file:/a/.testmondata?mode=ro",
                                      "file:///a/.testmondata#x", "../.testmondata"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        CHECK(shim_datafile_maybe(yes[i]), "maybe: %s", yes[i]);
    static const char *const no[] = {"", ":memory:", "/a/b/other.db", "/a/.testmondata-wal",
                                     "/a/x.testmondata", "/a/.testmondata/db",
                                     "file:/a/x.testmondata?mode=ro", "testmondata"};
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        CHECK(!shim_datafile_maybe(no[i]), "not: %s", no[i]);
    CHECK(!shim_datafile_maybe(NULL), "NULL");
    /* with $TESTMON_DATAFILE any name may be an alias: only the canonical check decides */
    setenv("TESTMON_DATAFILE", "/a/custom.db", 1);
    CHECK(shim_datafile_maybe("/elsewhere/link.db"), "any name with $TESTMON_DATAFILE");
    unsetenv("TESTMON_DATAFILE");
}

int main(void)
{
    unit_watchdog(20);
    setup();
    RUN(test_plain_and_relative);
    RUN(test_uris);
    RUN(test_not_files);
    RUN(test_symlinks);
    RUN(test_not_yet_existing);
    RUN(test_too_long);
    RUN(test_candidates);
    RUN(test_maybe);
    return unit_finish();
}
