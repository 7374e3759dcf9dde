/* test_runid.c: a run's identity (runid.c): its name made and parsed strictly, which of a run's
 * files a name is (the library's and the command's one reading), the start-time rule, and
 * whether a run's controller still lives (a reused pid, qemu-user's later reading, a dead child,
 * a zombie). */
#include "pidstat.h"
#include "runid.h"
#include "unit.h"

#define ERRNO_MARK 4242

static void test_name_and_parse(void)
{
    char out[SHIM_RUN_NAME_MAX];
    struct shim_run r = {123, 456789ULL}, got;
    shim_run_name(&r, out, sizeof out);
    CHECK_STR(out, "run-123-456789");
    struct shim_run widest = {LONG_MAX, ULLONG_MAX};
    shim_run_name(&widest, out, sizeof out);
    CHECK(strlen(out) + 1 <= SHIM_RUN_NAME_MAX, "%s fits", out);
    const char *rest = shim_run_parse(out, &got);
    CHECK(rest && !*rest && got.pid == LONG_MAX && got.start == ULLONG_MAX, "the widest name");
    rest = shim_run_parse("run-123-456.journal-1-gw0-2.json", &got);
    CHECK_STR(rest, ".journal-1-gw0-2.json");
    CHECK_EQ_INT(got.pid, 123);
    CHECK_EQ_INT(got.start, 456);
    /* digits only: no sign, no space, no pid 0, nothing that overflows */
    const char *bad[] = {"run-0-5.json", "run--1-2.json", "run-+1-2.json", "run-1--2.json",
                         "run-1-+2.json", "run- 1-2.json", "run-1- 2.json", "run-1.json",
                         "run-1-.json", "run--.json", "run-x-1.json", "Run-1-2.json",
                         ".run-1-2.json.tmp.3.4", "run-99999999999999999999-1.json",
                         "run-1-99999999999999999999.json", "run-"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(!shim_run_parse(bad[i], &got), "%s parsed", bad[i]);
}

static void test_file_kinds(void)
{
    static const struct {
        const char *rest;
        enum shim_run_file kind;
    } cases[] = {
        {".json", SHIM_RUN_FILE_RUN},
        {".worker-gw0-789.json", SHIM_RUN_FILE_WORKER},
        {".journal-00000000000000000001-gw1-9.json", SHIM_RUN_FILE_JOURNAL},
        {".joined", SHIM_RUN_FILE_JOINED},
        {".db", SHIM_RUN_FILE_COPY}, {".db-wal", SHIM_RUN_FILE_COPY},
        {".db-shm", SHIM_RUN_FILE_COPY}, {".db.lock", SHIM_RUN_FILE_COPY},
        {"", SHIM_RUN_FILE_NONE}, {"json", SHIM_RUN_FILE_NONE}, {"x.json", SHIM_RUN_FILE_NONE},
        {".txt", SHIM_RUN_FILE_NONE}, {".worker", SHIM_RUN_FILE_NONE},
        {".worker-gw0", SHIM_RUN_FILE_NONE}, {".journal-1.jsonx", SHIM_RUN_FILE_NONE},
        {".joined.x", SHIM_RUN_FILE_NONE}, {".joinedjson", SHIM_RUN_FILE_NONE},
        {".db.x", SHIM_RUN_FILE_NONE}, {".dbx", SHIM_RUN_FILE_NONE},
        {".db-journal", SHIM_RUN_FILE_NONE}, {".foo.json", SHIM_RUN_FILE_NONE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        CHECK(shim_run_file_kind(cases[i].rest) == cases[i].kind, "'%s': %d, want %d",
              cases[i].rest, shim_run_file_kind(cases[i].rest), cases[i].kind);
}

/* shim_start_same_process: the order, not equality (runid.h) */
static void test_start_rule(void)
{
    CHECK(shim_start_same_process(100, 100), "equal");
    CHECK(shim_start_same_process(104, 100), "the controller read itself later (qemu-user)");
    CHECK(!shim_start_same_process(99, 100), "recorded by a process that started earlier: stale");
    CHECK(!shim_start_same_process(1, 100), "long before");
    CHECK(!shim_start_same_process(100, 0), "nothing seen: the process is gone");
    unsigned long long skew = (unsigned long long)sysconf(_SC_CLK_TCK) * SHIM_START_SKEW_MAX_S;
    CHECK(shim_start_same_process(100 + skew, 100), "at the bound");
    CHECK(!shim_start_same_process(101 + skew, 100), "beyond it");
}

static void test_run_alive(void)
{
    struct shim_run self = {getpid(), shim_pid_starttime(getpid())};
    errno = ERRNO_MARK;
    CHECK(shim_run_alive(&self), "self is alive");
    CHECK_EQ_INT(errno, ERRNO_MARK);
    struct shim_run reused = {getpid(), self.start - 1};
    CHECK(!shim_run_alive(&reused), "same pid, an earlier start: a run of a reused pid");
    /* qemu-user answers a process's own /proc/self/stat 3-4 ticks later than others read it */
    struct shim_run later = {getpid(), self.start + 4};
    CHECK(shim_run_alive(&later), "the controller's own reading, a few ticks later: alive");
    long hz = sysconf(_SC_CLK_TCK);
    struct shim_run far = {getpid(), self.start + (unsigned long long)hz * SHIM_START_SKEW_MAX_S};
    CHECK(shim_run_alive(&far), "%d s later: still within the skew", SHIM_START_SKEW_MAX_S);
    far.start++;
    CHECK(!shim_run_alive(&far), "beyond the skew: not this process");
    struct shim_run zero = {0, self.start}, neg = {-1, self.start};
    CHECK(!shim_run_alive(&zero), "pid 0");
    CHECK(!shim_run_alive(&neg), "pid -1");
    struct shim_run init = {1, shim_pid_starttime(1)};
    CHECK(shim_run_alive(&init), "pid 1 with its start time");

    /* a dead child, reaped */
    int rel;
    pid_t child = unit_blocked_child(&rel);
    struct shim_run c = {child, shim_pid_starttime(child)};
    CHECK(shim_run_alive(&c), "a live child");
    close(rel);
    waitpid(child, NULL, 0);
    errno = ERRNO_MARK;
    CHECK(!shim_run_alive(&c), "a dead child");
    CHECK_EQ_INT(errno, ERRNO_MARK);

    /* a zombie: exited, not reaped, still in /proc with its start time */
    child = unit_blocked_child(&rel);
    struct shim_run z = {child, shim_pid_starttime(child)};
    close(rel);
    char state = 0;
    unsigned long long start = 0;
    for (long i = 0; i < unit_scaled_ms(200) &&
                     (shim_pidstat(child, &state, &start) != 0 || state != 'Z'); i++)
        unit_sleep_ms(5);
    CHECK(state == 'Z', "the child is a zombie");
    CHECK_EQ_INT(start, z.start);
    CHECK(!shim_run_alive(&z), "a zombie is not alive");
    waitpid(child, NULL, 0);
}

int main(void)
{
    unit_watchdog(20);
    RUN(test_name_and_parse);
    RUN(test_file_kinds);
    RUN(test_start_rule);
    RUN(test_run_alive);
    return unit_finish();
}
