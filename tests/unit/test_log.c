/* test_log.c: TESTMON_SHIM_LOG parsing, where messages go, errno, truncation (log.c).
 * The log level and file are process-global, so each case runs in a fresh forked child. */
#include "log.h"
#include "unit.h"

static const char *T;

static int count_char(const char *s, char c)
{
    int n = 0;
    for (; *s; s++)
        n += *s == c;
    return n;
}

/* Levels enabled after configure(spec), as a 4-char mask "EWID" ('-' when off). */
static void levels(const char *spec, int want_rc, const char *want_mask)
{
    struct unit_capture cap = unit_capture_start(2);
    int rc = shim_log_configure(spec);
    char *msg = unit_capture_end(&cap);
    char mask[5] = "----";
    for (int i = 0; i < 4; i++)
        if (shim_log_enabled(i))
            mask[i] = "EWID"[i];
    CHECK(rc == want_rc, "configure(%s) returned %d", spec ? spec : "NULL", rc);
    CHECK(strcmp(mask, want_mask) == 0, "configure(%s): levels %s, want %s", spec ? spec : "NULL",
          mask, want_mask);
    /* Silent either way: a bad value is reported by the processes that use the shim, once per
     * run (settings.c's shim_settings_report, tests/bats/unmanaged.bats), never by every process
     * the preload reaches as it loads. */
    CHECK_STR(msg, "");
    free(msg);
}

#define LEVEL_CASE(fn, spec, rc, mask)                                                           \
    static void fn(void) { levels(spec, rc, mask); }
LEVEL_CASE(lv_default, NULL, 0, "E---")
LEVEL_CASE(lv_empty, "", 0, "E---")
LEVEL_CASE(lv_error, "error", 0, "E---")
LEVEL_CASE(lv_warn, "warn", 0, "EW--")
LEVEL_CASE(lv_info, "info", 0, "EWI-")
LEVEL_CASE(lv_debug, "debug", 0, "EWID")
LEVEL_CASE(lv_0, "0", 0, "E---")
LEVEL_CASE(lv_1, "1", 0, "EW--")
LEVEL_CASE(lv_2, "2", 0, "EWI-")
LEVEL_CASE(lv_3, "3", 0, "EWID")
LEVEL_CASE(lv_debug_colon, "debug:", 0, "EWID")
LEVEL_CASE(lv_junk, "verbose", -1, "E---")
LEVEL_CASE(lv_4, "4", -1, "E---")
LEVEL_CASE(lv_12, "12", -1, "E---")
LEVEL_CASE(lv_prefix, "deb", -1, "E---")
LEVEL_CASE(lv_longer, "debugx", -1, "E---")
LEVEL_CASE(lv_colon_only, ":/tmp/x", -1, "E---")

/* What each level writes to stderr, with stdout watched too. */
static void writes_by_level(const char *spec, int errors, int warns, int infos, int debugs)
{
    struct unit_capture out = unit_capture_start(1), err = unit_capture_start(2);
    shim_log_configure(spec);
    shim_log_set_tag("worker gw3");
    shim_log_error("E-%d", 1);
    shim_log_warn("W-%d", 2);
    shim_log_info("I-%d", 3);
    shim_log_debug("D-%d", 4);
    char *e = unit_capture_end(&err), *o = unit_capture_end(&out);
    CHECK_STR(o, "");
    CHECK_EQ_INT(strstr(e, "E-1") != NULL, errors);
    CHECK_EQ_INT(strstr(e, "W-2") != NULL, warns);
    CHECK_EQ_INT(strstr(e, "I-3") != NULL, infos);
    CHECK_EQ_INT(strstr(e, "D-4") != NULL, debugs);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "testmon-shim[%ld] worker gw3: error: E-1\n", (long)getpid());
    CHECK_CONTAINS(e, prefix);
    free(e);
    free(o);
}
static void out_error(void) { writes_by_level("error", 1, 0, 0, 0); }
static void out_info(void) { writes_by_level("info", 1, 1, 1, 0); }
static void out_debug(void) { writes_by_level("debug", 1, 1, 1, 1); }
static void out_junk(void) { writes_by_level("loud", 1, 0, 0, 0); }

static void to_file(void)
{
    char path[PATH_MAX], spec[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/log-%ld", T, (long)getpid());
    snprintf(spec, sizeof spec, "info:%s", path);
    struct unit_capture out = unit_capture_start(1), err = unit_capture_start(2);
    mode_t old = umask(0);
    CHECK_EQ_INT(shim_log_configure(spec), 0);
    umask(old);
    shim_log_error("an error");
    shim_log_warn("a warning");
    shim_log_info("some info");
    shim_log_debug("debugging");
    char *e = unit_capture_end(&err), *o = unit_capture_end(&out);
    char *f = unit_read_file(path, NULL);
    CHECK_STR(o, "");
    CHECK_CONTAINS(e, "an error"); /* errors reach stderr even with a log file */
    CHECK(!strstr(e, "a warning") && !strstr(e, "some info"), "only errors on stderr: %s", e);
    CHECK_CONTAINS(f, "an error");
    CHECK_CONTAINS(f, "a warning");
    CHECK_CONTAINS(f, "some info");
    CHECK(f && !strstr(f, "debugging"), "no debug at info");
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "log file mode 0600");
    free(e), free(o), free(f);
}

static void file_unopenable(void)
{
    char spec[PATH_MAX + 32], link[PATH_MAX], target[PATH_MAX];
    snprintf(spec, sizeof spec, "debug:%s/no/such/dir/log", T);
    struct unit_capture err = unit_capture_start(2);
    errno = 4242;
    int rc = shim_log_configure(spec);
    int e = errno;
    char *quiet = unit_capture_end(&err);
    CHECK_STR(quiet, ""); /* nothing at load: not every process uses the shim */
    free(quiet);
    err = unit_capture_start(2);
    shim_log_report_deferred(); /* where the shim is in use */
    shim_log_report_deferred(); /* once */
    shim_log_info("still logging");
    char *m = unit_capture_end(&err);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(e, 4242);
    CHECK_CONTAINS(m, "cannot open log file");
    CHECK_EQ_INT(count_char(m, '\n'), 2);
    CHECK_CONTAINS(m, "still logging"); /* falls back to stderr */
    free(m);
    /* a symlink is not followed */
    snprintf(target, sizeof target, "%s/target-%ld", T, (long)getpid());
    snprintf(link, sizeof link, "%s/link-%ld", T, (long)getpid());
    unit_write_file(target, "precious\n");
    CHECK(symlink(target, link) == 0, "symlink");
    snprintf(spec, sizeof spec, "info:%s", link);
    err = unit_capture_start(2);
    shim_log_configure(spec);
    shim_log_report_deferred();
    shim_log_info("must not land in the target");
    m = unit_capture_end(&err);
    CHECK_CONTAINS(m, "cannot open log file");
    char *t = unit_read_file(target, NULL);
    CHECK_STR(t, "precious\n");
    free(m), free(t);
}

static void errno_kept(void)
{
    shim_log_configure("debug");
    struct unit_capture err = unit_capture_start(2);
    errno = 4242;
    shim_log_error("x %s", strerror(EACCES));
    int e1 = errno;
    shim_log_debug("y");
    int e2 = errno;
    shim_log_set_tag("t");
    int e3 = errno;
    free(unit_capture_end(&err));
    CHECK_EQ_INT(e1, 4242);
    CHECK_EQ_INT(e2, 4242);
    CHECK_EQ_INT(e3, 4242);
    /* even when stderr is closed (write fails with EBADF) */
    int saved = dup(2);
    close(2);
    errno = 4242;
    shim_log_error("into a closed stderr");
    CHECK_EQ_INT(errno, 4242);
    dup2(saved, 2);
    close(saved);
}

static void long_message(void)
{
    static char big[5000];
    memset(big, 'x', sizeof big - 1);
    struct unit_capture err = unit_capture_start(2);
    shim_log_set_tag("a very long tag that is longer than the forty-seven bytes it may have");
    shim_log_error("%s", big);
    shim_log_error("%s", "next");
    char *m = unit_capture_end(&err);
    char *nl = strchr(m, '\n');
    CHECK(nl != NULL, "a newline ends the message");
    CHECK(nl && nl - m + 1 <= 1024, "one line of at most 1024 bytes (%ld)", nl ? (long)(nl - m + 1) : -1L);
    CHECK_EQ_INT(count_char(m, '\n'), 2);
    CHECK(nl && strncmp(nl + 1, "testmon-shim[", 13) == 0, "the next message starts a new line");
    free(m);
}

static void embedded_newlines(void)
{
    struct unit_capture err = unit_capture_start(2);
    shim_log_error("a path with a\nnewline and a\ttab");
    char *m = unit_capture_end(&err);
    CHECK_EQ_INT(count_char(m, '\n'), 1);
    CHECK_CONTAINS(m, "a path with a newline and a tab");
    free(m);
}

int main(void)
{
    unit_watchdog(20);
    T = unit_tmpdir();
    RUN_FORKED(embedded_newlines);
    RUN_FORKED(lv_default);
    RUN_FORKED(lv_empty);
    RUN_FORKED(lv_error);
    RUN_FORKED(lv_warn);
    RUN_FORKED(lv_info);
    RUN_FORKED(lv_debug);
    RUN_FORKED(lv_0);
    RUN_FORKED(lv_1);
    RUN_FORKED(lv_2);
    RUN_FORKED(lv_3);
    RUN_FORKED(lv_debug_colon);
    RUN_FORKED(lv_junk);
    RUN_FORKED(lv_4);
    RUN_FORKED(lv_12);
    RUN_FORKED(lv_prefix);
    RUN_FORKED(lv_longer);
    RUN_FORKED(lv_colon_only);
    RUN_FORKED(out_error);
    RUN_FORKED(out_info);
    RUN_FORKED(out_debug);
    RUN_FORKED(out_junk);
    RUN_FORKED(to_file);
    RUN_FORKED(file_unopenable);
    RUN_FORKED(errno_kept);
    RUN_FORKED(long_message);
    return unit_finish();
}
