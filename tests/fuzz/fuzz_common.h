/* fuzz_common.h: shared set-up for the libFuzzer targets (tests/fuzz/fuzz_*.c).
 *
 * The targets link the shim's objects except wrappers.o plus the real libsqlite3, like the unit
 * tests, so the table of real functions is filled from the linked library.  Each target works in
 * a private directory (under /dev/shm when available: no disk I/O per execution) holding a
 * testmon-like datafile. */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H
#include "../common/testdb.h"
#include "coord.h"
#include "pidstat.h"
#include "real.h"
#include "role.h"
#include "settings.h"
#include <dirent.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const FUZZ_SCHEMA =
    TESTDB_SCHEMA
    "CREATE TABLE file_fp(id INTEGER PRIMARY KEY, filename TEXT, method_checksums BLOB, "
    "  mtime FLOAT, fsha TEXT, UNIQUE (filename, fsha, method_checksums));"
    "CREATE TABLE test_execution_file_fp(test_execution_id INTEGER, fingerprint_id INTEGER, "
    "  FOREIGN KEY(test_execution_id) REFERENCES test_execution(id) ON DELETE CASCADE);"
    "CREATE TABLE metadata(dataid TEXT PRIMARY KEY, data TEXT);"
    "CREATE TABLE nopk(a TEXT, b INTEGER);"
    "CREATE TABLE \"we\"\"ird\"(\"col \"\"q\"\"\" TEXT, x INTEGER PRIMARY KEY);"
    TESTDB_ROWS
    "INSERT INTO file_fp VALUES (1, 'a.py', x'00ff', 1.5, 'abc'), (2, 'b.py', x'', 2.5, 'def');"
    "INSERT INTO test_execution_file_fp VALUES (1, 1), (2, 1), (3, 2);"
    "INSERT INTO metadata VALUES ('data_version', '1');"
    "INSERT INTO nopk VALUES ('a', 1), ('b', 2);"
    "INSERT INTO \"we\"\"ird\" VALUES ('q1', 10);"
    "PRAGMA user_version = 3;";

static __attribute__((unused)) void fuzz_real_fill(void)
{
    void *fns[SHIM_REAL_COUNT] = {
#define X(name, kind) [SHIM_REAL_##name] = (void *)&name,
        SHIM_REAL_FUNCS(X)
#undef X
    };
    shim_real_set_all(fns);
}

static char fuzz_root[PATH_MAX];

static __attribute__((unused)) void fuzz_rm_dir_files(const char *dir, const char *contains)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[PATH_MAX + 256];
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        if (contains && !strstr(e->d_name, contains))
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
}

static __attribute__((unused)) void fuzz_cleanup(void)
{
    char dir[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/.testmon-shim", fuzz_root);
    fuzz_rm_dir_files(dir, NULL);
    rmdir(dir);
    fuzz_rm_dir_files(fuzz_root, NULL);
    rmdir(fuzz_root);
}

/* A private directory with a testmon-like .testmondata; returns the datafile's path. */
static __attribute__((unused)) const char *fuzz_make_datafile(const char *tag)
{
    static char df[PATH_MAX];
    char tmpl[PATH_MAX];
    struct stat st;
    const char *base = stat("/dev/shm", &st) == 0 && access("/dev/shm", W_OK) == 0 ? "/dev/shm"
                                                                                   : "/tmp";
    snprintf(tmpl, sizeof tmpl, "%s/testmon-fuzz-%s.XXXXXX", base, tag);
    if (!mkdtemp(tmpl) || !realpath(tmpl, fuzz_root)) {
        perror("mkdtemp");
        exit(2);
    }
    atexit(fuzz_cleanup);
    snprintf(df, sizeof df, "%s/.testmondata", fuzz_root);
    sqlite3 *db;
    if (sqlite3_open(df, &db) != SQLITE_OK ||
        sqlite3_exec(db, FUZZ_SCHEMA, NULL, NULL, NULL) != SQLITE_OK) {
        fprintf(stderr, "fuzz: cannot create %s: %s\n", df, sqlite3_errmsg(db));
        exit(2);
    }
    sqlite3_close(db);
    return df;
}

/* The run of the worker the targets play (role.h), handed to shim_worker_open. */
static struct shim_run_ctx fuzz_run;

/* Set fuzz_run up as role.c does for worker gw0 whose controller is this very process (alive,
 * so the run is judged by its file alone), with a timeout of 0 ms at load: "initialising" is
 * then a timeout at once, not a wait. */
static __attribute__((unused)) void fuzz_be_worker(const char *df)
{
    memset(&fuzz_run, 0, sizeof fuzz_run);
    snprintf(fuzz_run.datafile, sizeof fuzz_run.datafile, "%s", df);
    shim_coord_dir(df, fuzz_run.dir, sizeof fuzz_run.dir);
    mkdir(fuzz_run.dir, 0700);
    fuzz_run.run.pid = getpid();
    fuzz_run.run.start = shim_pid_starttime(getpid());
    shim_run_name(&fuzz_run.run, fuzz_run.run_name, sizeof fuzz_run.run_name);
    snprintf(fuzz_run.worker_id, sizeof fuzz_run.worker_id, "gw0");
    setenv("TESTMON_SHIM_TIMEOUT", "0.0001", 1); /* in range, and 0 whole milliseconds */
    shim_settings_capture();
}

/* Publish the controller's run file for the worker set up by fuzz_be_worker: ready, this
 * datafile, a snapshot of environment. */
static __attribute__((unused)) void fuzz_publish_ready(const char *df)
{
    char *text = sqlite3_mprintf(
        "{\"format\":1,\"state\":\"ready\",\"datafile\":\"%s\",\"data_version\":3,"
        "\"environment\":{\"present\":true,\"columns\":[\"id\",\"environment_name\","
        "\"system_packages\",\"python_version\"],\"rows\":[[{\"i\":\"1\"},{\"i\":\"1\"},"
        "\"default\",\"pk-a\",\"3.11\"]]}}",
        df);
    char name[160];
    snprintf(name, sizeof name, "%s.json", fuzz_run.run_name);
    if (shim_coord_write(fuzz_run.dir, name, text) != 0)
        abort();
    sqlite3_free(text);
}
#endif
