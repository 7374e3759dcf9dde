/* test_tool_pure.c: the testmon-shim command's pure functions: coordination file names,
 * LD_PRELOAD composition, and the ELF dynamic symbol reader (on this very program). */
#include "unit.h"
#include "elf.h"
#include "libpath.h"
#include "runfiles.h"
#include <sqlite3.h>

static void test_classify(void)
{
    struct tool_file f;
    tool_classify("run-123-456.json", &f);
    CHECK_EQ_INT(f.kind, TF_RUN);
    CHECK_EQ_INT(f.pid, 123);
    CHECK_EQ_INT(f.start, 456);
    tool_classify("run-123-456.worker-gw0-789.json", &f);
    CHECK_EQ_INT(f.kind, TF_WORKER);
    CHECK_EQ_INT(f.pid, 123);
    tool_classify("run-123-456.journal-00000000000000000001-gw1-9.json", &f);
    CHECK_EQ_INT(f.kind, TF_JOURNAL);
    CHECK_EQ_INT(f.start, 456);
    tool_classify(".run-123-456.json.tmp.42.1", &f);
    CHECK_EQ_INT(f.kind, TF_TEMP);
    CHECK_EQ_INT(f.pid, 42);
    tool_classify("run-123-456.joined", &f); /* removed by clean with its run */
    CHECK_EQ_INT(f.kind, TF_JOINED);
    CHECK_EQ_INT(f.pid, 123);
    const char *copies[] = {"run-123-456.db", "run-123-456.db-wal", "run-123-456.db-shm",
                            "run-123-456.db.lock"}; /* the workers' copy: removed with its run */
    for (size_t i = 0; i < sizeof copies / sizeof *copies; i++) {
        tool_classify(copies[i], &f);
        CHECK(f.kind == TF_COPY && f.pid == 123 && f.start == 456, "%s: kind %d", copies[i],
              f.kind);
    }
    tool_classify(".run-123-456.db.tmp.77.0-journal", &f); /* SQLite's, while copying */
    CHECK_EQ_INT(f.kind, TF_TEMP);
    CHECK_EQ_INT(f.pid, 77);
    const char *others[] = {"run-123-456.txt", "run-123.json", "run--1-2.json", "run-+1-2.json",
                            "run-1-2json", "notes.json", ".hidden", ".x.tmp.", ".x.tmp.abc.1",
                            "run-0-5.json", "run-1-2.worker", "run-1-2.joined.x", "run-0-5.joined",
                            "run-1-2.joinedjson", "run-1-2.db.x", "run-1-2.dbx", "run-1-2.db-journal",
                            "run-0-5.db"};
    for (size_t i = 0; i < sizeof others / sizeof *others; i++) {
        tool_classify(others[i], &f);
        CHECK(f.kind == TF_OTHER, "%s classified as %d", others[i], f.kind);
    }
}

static void test_compose(void)
{
    int dropped;
    char *s = tool_compose_preload("/a/libtestmon_shim.so", NULL, &dropped);
    CHECK_STR(s, "/a/libtestmon_shim.so");
    CHECK_EQ_INT(dropped, 0);
    free(s);
    s = tool_compose_preload("/a/libtestmon_shim.so", "/x/liba.so  /y/libb.so", &dropped);
    CHECK_STR(s, "/x/liba.so:/y/libb.so:/a/libtestmon_shim.so");
    free(s);
    s = tool_compose_preload("/a/libtestmon_shim.so", "/x/liba.so:/a/libtestmon_shim.so", &dropped);
    CHECK_STR(s, "/x/liba.so:/a/libtestmon_shim.so");
    CHECK_EQ_INT(dropped, 0);
    free(s);
    s = tool_compose_preload("/a/libtestmon_shim.so", "/old/libtestmon_shim.so:libc.so.6:",
                             &dropped);
    CHECK_STR(s, "libc.so.6:/a/libtestmon_shim.so");
    CHECK_EQ_INT(dropped, 1);
    free(s);
}

static void test_elf(void)
{
    struct tool_elf e;
    char why[256];
    (void)sqlite3_libversion(); /* this program calls SQLite through the dynamic linker */
    if (!CHECK(tool_elf_open("/proc/self/exe", &e, why, sizeof why) == 0, "%s", why))
        return;
    CHECK_EQ_INT(tool_elf_symbol(&e, "sqlite3_libversion"), TOOL_ELF_UNDEFINED);
    CHECK_EQ_INT(tool_elf_symbol(&e, "no_such_symbol_anywhere"), TOOL_ELF_ABSENT);
    int libsqlite = 0;
    const char *n;
    for (size_t i = 0; (n = tool_elf_needed(&e, i)); i++)
        libsqlite |= strncmp(n, "libsqlite3", 10) == 0;
    CHECK(libsqlite, "no DT_NEEDED libsqlite3");
    tool_elf_close(&e);
    /* not ELF, and missing */
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/text", unit_tmpdir());
    FILE *f = fopen(path, "w");
    fputs("this is not an ELF file, but it is long enough to have a header.......", f);
    fclose(f);
    CHECK(tool_elf_open(path, &e, why, sizeof why) == -1, "");
    CHECK_STR(why, "not an ELF file");
    CHECK(tool_elf_open("/nonexistent/x.so", &e, why, sizeof why) == -1, "");
    /* a truncated copy of a real object is refused, not read out of bounds */
    snprintf(path, sizeof path, "%s/trunc.so", unit_tmpdir());
    char cmd[PATH_MAX * 2];
    snprintf(cmd, sizeof cmd, "head -c 4096 /proc/%ld/exe > '%s'", (long)getpid(), path);
    if (CHECK(system(cmd) == 0, ""))
        CHECK(tool_elf_open(path, &e, why, sizeof why) == -1, "truncated object accepted");
}

int main(void)
{
    RUN(test_classify);
    RUN(test_compose);
    RUN(test_elf);
    return unit_finish();
}
