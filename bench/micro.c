/* micro.c: per-call cost of SQLite calls, to be run with and without LD_PRELOAD of the shim (the
 * same binary, so the difference is the library's).  Built twice (bench.mk):
 *   micro         a C program calling SQLite: a bystander like any other; the library never sees
 *                 its calls (it touches Python's sqlite3 module only), so nothing may differ;
 *   micro-module  the same program exporting PyInit__sqlite3 (-DSQLITE3_MODULE -rdynamic): a
 *                 sqlite3 module in the library's eyes (shim/pymod.h), like _sqlite3 in Python.
 *                 Alone it is watched: its opens pass the library's open entry, its statements
 *                 go straight to SQLite.  With -t DIR, started under a name beginning with
 *                 pytest, it first opens DIR/.testmondata as a controller does and keeps it open:
 *                 the module is managed, and its calls on other connections (the cases below)
 *                 take the wrappers' path for connections the shim does not manage.
 *
 *   micro [-n SCALE] [-r REPEATS] [-d TMPDIR] [-t DIR] [CASE...]
 *
 * Cases (all on handles the shim does not manage):
 *   step_reset   sqlite3_step + sqlite3_reset of "select 1" on an in-memory db
 *   prepare_v2   sqlite3_prepare_v2 + sqlite3_finalize of "select 1"
 *   open_memory  sqlite3_open_v2(":memory:") + sqlite3_close_v2
 *   open_file    sqlite3_open_v2(<tmp file>) + sqlite3_close_v2
 *
 * Output: one line per case, "CASE ns_per_iteration" for each repeat (space-separated), then
 * "preloaded 0|1" (whether testmon_shim_version is visible in this process).  Iteration counts
 * are fixed (scaled by -n) so that callgrind instruction counts are repeatable. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void die(const char *what, sqlite3 *db)
{
    fprintf(stderr, "micro: %s failed: %s\n", what, db ? sqlite3_errmsg(db) : "?");
    exit(2);
}

static long run_step_reset(long n, const char *dir)
{
    (void)dir;
    sqlite3 *db;
    sqlite3_stmt *st;
    if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL))
        die("open", db);
    if (sqlite3_prepare_v2(db, "select 1", -1, &st, NULL))
        die("prepare", db);
    long sum = 0;
    for (long i = 0; i < n; i++) {
        sum += sqlite3_step(st);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    sqlite3_close_v2(db);
    return sum;
}

static long run_prepare(long n, const char *dir)
{
    (void)dir;
    sqlite3 *db;
    sqlite3_stmt *st;
    if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL))
        die("open", db);
    long sum = 0;
    for (long i = 0; i < n; i++) {
        sum += sqlite3_prepare_v2(db, "select 1", -1, &st, NULL);
        sqlite3_finalize(st);
    }
    sqlite3_close_v2(db);
    return sum;
}

static long open_loop(long n, const char *name)
{
    long sum = 0;
    for (long i = 0; i < n; i++) {
        sqlite3 *db;
        sum += sqlite3_open_v2(name, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
        sum += sqlite3_close_v2(db);
    }
    return sum;
}

static long run_open_memory(long n, const char *dir)
{
    (void)dir;
    return open_loop(n, ":memory:");
}

static long run_open_file(long n, const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/micro-%ld.db", dir, (long)getpid());
    long sum = open_loop(n, path);
    unlink(path);
    return sum;
}

static const struct bench {
    const char *name;
    long (*fn)(long, const char *);
    long iters; /* at scale 1 */
} benches[] = {
    {"step_reset", run_step_reset, 2000000},
    {"prepare_v2", run_prepare, 200000},
    {"open_memory", run_open_memory, 20000},
    {"open_file", run_open_file, 10000},
};

#ifdef SQLITE3_MODULE
__attribute__((visibility("default"), used)) void *PyInit__sqlite3(void) { return 0; }
#endif

int main(int argc, char **argv)
{
    double scale = 1;
    int repeats = 5;
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    const char *managed = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "n:r:d:t:")) != -1) {
        switch (opt) {
        case 'n': scale = atof(optarg); break;
        case 'r': repeats = atoi(optarg); break;
        case 'd': dir = optarg; break;
        case 't': managed = optarg; break;
        default:
            fprintf(stderr, "usage: micro [-n SCALE] [-r REPEATS] [-d TMPDIR] [-t DIR] [CASE...]\n");
            return 2;
        }
    }
    sqlite3 *datafile = NULL; /* -t: held open for the whole run, as a controller does */
    if (managed) {
        char path[4096];
        snprintf(path, sizeof path, "%s/.testmondata", managed);
        if (sqlite3_open_v2(path, &datafile, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL))
            die("open the datafile", datafile);
    }
    long sink = 0;
    for (size_t b = 0; b < sizeof benches / sizeof *benches; b++) {
        int wanted = optind >= argc;
        for (int i = optind; i < argc; i++)
            wanted |= strcmp(argv[i], benches[b].name) == 0;
        if (!wanted)
            continue;
        long n = (long)(benches[b].iters * scale);
        if (n < 1)
            n = 1;
        printf("%s", benches[b].name);
        for (int r = 0; r < repeats; r++) {
            double t0 = now_ns();
            sink += benches[b].fn(n, dir);
            printf(" %.3f", (now_ns() - t0) / (double)n);
        }
        printf("\n");
    }
    printf("preloaded %d\n", dlsym(RTLD_DEFAULT, "testmon_shim_version") != NULL);
    if (datafile)
        sqlite3_close_v2(datafile);
    return sink == -1; /* keep the loops */
}
