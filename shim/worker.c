/* worker.c: the wait, the read-only open of the run's copy, the hand-over after each commit, and
 * the worker's report; the shadows' schema is shadow.c's. */
#include "worker.h"
#include "coord.h"
#include "journal.h"
#include "log.h"
#include "real.h"
#include "runcopy.h"
#include "runid.h"
#include "settings.h"
#include "shadow.h"
#include <cJSON.h>
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

/* This worker's run (role.h), kept from its open for the hand-overs and the report: the same
 * one at every open (role.c decides it once). */
static const struct shim_run_ctx *kept;

static const struct shim_run_ctx *my_run(void) { return __atomic_load_n(&kept, __ATOMIC_ACQUIRE); }

/* What this worker did, for `testmon-shim status`: <run>.worker-<id>-<pid>.json, rewritten when
 * something changes (at open, after a table is copied, after a hand-over). */
static struct {
    long waited_ms;              /* for the controller's run to be ready */
    int materialised;
    int restored;                /* copies set aside after a commit (restore_views) */
    long rows_handed, hand_errors;
    long long released_after_us; /* from the controller's ready to seeing it; -1: never waited */
    long copy_ms;                /* time spent getting the run's copy of the datafile */
    char outcome[160];
    const char *reads;           /* "copy (made)", "copy (shared)" or "live datafile" */
} report = {.released_after_us = -1};

void shim_worker_forget(void)
{
    __atomic_store_n(&kept, NULL, __ATOMIC_RELAXED);
    memset(&report, 0, sizeof report);
    report.released_after_us = -1;
}

static void write_report(void)
{
    const struct shim_run_ctx *run = my_run();
    if (!run || !run->dir[0] || !run->run_name[0])
        return;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "format", 1);
    cJSON_AddStringToObject(j, "worker", run->worker_id);
    cJSON_AddNumberToObject(j, "pid", (double)getpid());
    cJSON_AddStringToObject(j, "outcome", report.outcome);
    cJSON_AddNumberToObject(j, "waited_ms", (double)report.waited_ms);
    if (report.released_after_us >= 0) /* only a worker that waited for ready */
        cJSON_AddNumberToObject(j, "released_after_us", (double)report.released_after_us);
    if (report.reads) {
        cJSON_AddStringToObject(j, "reads", report.reads);
        cJSON_AddNumberToObject(j, "copy_ms", (double)report.copy_ms);
    }
    cJSON_AddNumberToObject(j, "tables_copied", report.materialised);
    cJSON_AddNumberToObject(j, "tables_restored", report.restored);
    cJSON_AddNumberToObject(j, "rows_handed_over", (double)report.rows_handed);
    cJSON_AddNumberToObject(j, "hand_over_errors", (double)report.hand_errors);
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    char wid[32], name[256];
    size_t n = 0;
    for (const char *p = run->worker_id; *p && n + 1 < sizeof wid; p++)
        wid[n++] = (isalnum((unsigned char)*p)) ? *p : '_';
    wid[n] = 0;
    snprintf(name, sizeof name, "%s" SHIM_RUN_WORKER "%s-%ld" SHIM_RUN_JSON, run->run_name, wid,
             (long)getpid());
    if (text)
        shim_coord_write(run->dir, name, text);
    free(text);
}

/* Wait for the controller's run to be ready (coord.h).  Returns its run file, or NULL with
 * *outcome what the open does instead; either way said and reported. */
static cJSON *await_run(const struct shim_run_ctx *run, enum shim_worker_outcome *outcome)
{
    const struct shim_settings *set = shim_settings();
    cJSON *file = NULL;
    long long seen_us;
    enum shim_wait_result w = shim_coord_wait_ready(run->dir, &run->run, set->timeout_ms, &file,
                                                    &report.waited_ms, &seen_us);
    const cJSON *ready_us = cJSON_GetObjectItemCaseSensitive(file, "ready_mono_us");
    if (w == SHIM_WAIT_READY && seen_us && cJSON_IsNumber(ready_us))
        report.released_after_us = seen_us - (long long)ready_us->valuedouble;
    static const char *const outcomes[] = {
        [SHIM_WAIT_READY] = "ready", [SHIM_WAIT_MISSING] = "stepped aside: no run",
        [SHIM_WAIT_DEAD] = "refused: controller exited", [SHIM_WAIT_TIMEOUT] = "refused: timeout",
        [SHIM_WAIT_INVALID] = "refused: invalid coordination file"};
    snprintf(report.outcome, sizeof report.outcome, "%s", outcomes[w]);
    if (w != SHIM_WAIT_MISSING)
        write_report();
    *outcome = SHIM_WORKER_REFUSED;
    switch (w) {
    case SHIM_WAIT_MISSING:
        shim_log_info("no run published by parent pid %ld (testmon 1.0-1.3, or no shim in the "
                      "controller): stepping aside", run->run.pid);
        *outcome = SHIM_WORKER_STEP_ASIDE;
        break;
    case SHIM_WAIT_DEAD:
        shim_log_error("the controller (pid %ld) exited before its run was ready; nothing was "
                       "written, run pytest again", run->run.pid);
        break;
    case SHIM_WAIT_TIMEOUT:
        shim_log_error("the controller (pid %ld) did not publish ready within %g s; raise "
                       "TESTMON_SHIM_TIMEOUT or look at the controller", run->run.pid,
                       set->timeout_ms / 1000.0);
        break;
    case SHIM_WAIT_INVALID:
        break; /* the reason is already on stderr */
    case SHIM_WAIT_READY:
        return file;
    }
    cJSON_Delete(file);
    return NULL;
}

/* Open the run's copy read-only (runcopy.h: a selection that no concurrent write can tear), or
 * the live datafile when there is none, and shadow its tables (shadow.h) from the environment
 * snapshot in the run file.  Returns SQLite's result code. */
static int open_copy(const struct shim_run_ctx *run, const cJSON *run_file, int may_pin,
                     sqlite3 **ppDb, int flags, const char *vfs)
{
    long timeout_ms = shim_settings()->timeout_ms;
    char copy[3 * PATH_MAX + 32]; /* a path, or the pinned datafile's percent-encoded URI */
    static const char *const reads[] = {[SHIM_RUNCOPY_MADE] = "copy (made)",
                                        [SHIM_RUNCOPY_SHARED] = "copy (shared)",
                                        [SHIM_RUNCOPY_FAILED] = "live datafile",
                                        [SHIM_RUNCOPY_CLONED] = "copy (cloned)",
                                        [SHIM_RUNCOPY_PINNED] = "datafile (pinned)"};
    enum shim_runcopy_result got = shim_runcopy_get(run->dir, run->run_name, run->datafile,
                                                    may_pin, timeout_ms, copy, sizeof copy,
                                                    &report.copy_ms);
    report.reads = reads[got];
    int ro = (flags & ~(SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI)) |
             SQLITE_OPEN_READONLY | (got == SHIM_RUNCOPY_PINNED ? SQLITE_OPEN_URI : 0);
    int rc = REAL(sqlite3_open_v2)(got == SHIM_RUNCOPY_FAILED ? run->datafile : copy, ppDb, ro,
                                   vfs);
    if (rc != SQLITE_OK || !*ppDb)
        return rc;
    /* The shadows are the first reads, and another worker may be rebuilding the copy's WAL
     * index at that moment (SQLITE_BUSY_RECOVERY): wait, within the shim's bound.  Python sets
     * its own timeout after the open returns, as for the controller's connection. */
    REAL(sqlite3_busy_timeout)(*ppDb, (int)(timeout_ms < INT_MAX ? timeout_ms : INT_MAX));
    struct shim_conn *c = shim_conn_add(*ppDb, SHIM_CONN_WORKER);
    const cJSON *snap = cJSON_GetObjectItemCaseSensitive(run_file, "environment");
    if (c && shim_shadow_install(*ppDb, cJSON_IsObject(snap) ? snap : NULL) != SQLITE_OK)
        shim_log_error("could not install shadows (%s); this worker's writes will fail",
                       REAL(sqlite3_errmsg)(*ppDb));
    shim_log_info("opened %s read-only (%s, %ld ms) after waiting %ld ms", run->datafile,
                  report.reads, report.copy_ms, report.waited_ms);
    return rc;
}

int shim_worker_open(const struct shim_run_ctx *run, const char *filename, sqlite3 **ppDb,
                     int flags, const char *vfs)
{
    (void)filename; /* run->datafile is the same file, its canonical name (role.h) */
    __atomic_store_n(&kept, run, __ATOMIC_RELEASE);
    char label[64];
    snprintf(label, sizeof label, "worker %s", run->worker_id);
    shim_log_set_tag(label);
    enum shim_worker_outcome outcome;
    cJSON *run_file = await_run(run, &outcome);
    if (!run_file)
        return outcome;
    const cJSON *df = cJSON_GetObjectItemCaseSensitive(run_file, "datafile");
    if (!cJSON_IsString(df) || strcmp(df->valuestring, run->datafile) != 0) {
        shim_log_info("the controller's datafile is %s, not this one: stepping aside",
                      cJSON_IsString(df) ? df->valuestring : "?");
        cJSON_Delete(run_file);
        return SHIM_WORKER_STEP_ASIDE;
    }
    /* Joined: from now on the controller looks for journals before its writes, and pins the
     * datafile's state no more (runcopy.h), so this worker may read the pinned state only if
     * the flag is set. */
    int joined = shim_coord_joined_set(run->dir, run->run_name) == 0;
    int rc = open_copy(run, run_file, joined, ppDb, flags, vfs);
    write_report();
    cJSON_Delete(run_file);
    return rc;
}

/* A write to a shadow view: take the table (shadow.h), counting the copies made for the report. */
static int take(sqlite3 *db, const char *table)
{
    int copied, rc = shim_shadow_take(db, table, &copied);
    if (copied) {
        report.materialised++;
        write_report();
    }
    return rc;
}

int shim_worker_after_failed_prepare(struct shim_conn *c, int rc, shim_prepare_thunk prepare,
                                     void *args)
{
    sqlite3 *db = atomic_load(&c->db);
    char name[256];
    /* One view per round: a statement names few tables, and each round makes progress. */
    for (int round = 0;
         round < 16 && rc == SQLITE_ERROR && shim_shadow_written_view(db, name, sizeof name);
         round++) {
        int failed = take(db, name) != SQLITE_OK;
        rc = prepare(args); /* on failure this restores the caller's error message */
        if (failed)
            break;
    }
    return rc;
}

static void hand_over(struct shim_conn *c)
{
    const struct shim_run_ctx *run = my_run();
    int n = run ? shim_journal_flush(atomic_load(&c->db), run->dir, run->run_name,
                                     run->worker_id) : 0;
    if (n == 0)
        return;
    if (n > 0)
        report.rows_handed += n;
    else
        report.hand_errors++;
    write_report();
}

/* The rule (worker.h): once a transaction has committed and been handed over, the tables it
 * wrote show the run's state again. */
static void restore_views(sqlite3 *db)
{
    int found, restored = shim_shadow_restore(db, &found);
    report.restored += restored;
    if (found > 0)
        write_report();
}

void shim_worker_after_step(struct shim_conn *c)
{
    if (!shim_conn_take_commit(c))
        return;
    hand_over(c);
    restore_views(atomic_load(&c->db));
}

int shim_worker_after_failed_step(struct shim_conn *c, sqlite3_stmt *stmt, int rc,
                                  int (*step)(sqlite3_stmt *))
{
    sqlite3 *db = atomic_load(&c->db);
    char name[256];
    /* A statement prepared while the table it writes was the worker's copy, stepped again after
     * restore_views made it a view: SQLite re-prepares it on the schema change and refuses with
     * the same message as at prepare.  Take the copy back, then reset (which reports the old
     * error, already handled) and step again, which re-prepares against the copy. */
    for (int round = 0;
         round < 16 && rc == SQLITE_ERROR && shim_shadow_written_view(db, name, sizeof name);
         round++) {
        if (take(db, name) != SQLITE_OK)
            break;
        REAL(sqlite3_reset)(stmt);
        rc = step(stmt);
    }
    return rc;
}

void shim_worker_close(struct shim_conn *c) { hand_over(c); }
