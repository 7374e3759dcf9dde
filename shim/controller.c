/* controller.c: the environment snapshot, publication and journal application in the controller. */
#include "controller.h"
#include "coord.h"
#include "datafile.h"
#include "journal.h"
#include "log.h"
#include "pidstat.h"
#include "pin.h"
#include "real.h"
#include "runcopy.h"
#include "runid.h"
#include "sqlvalue.h"
#include <cJSON.h>
#include <dirent.h>
#include <stdatomic.h>
#include <stdio.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct shim_forklock shim_controller_lock = SHIM_FORKLOCK_INIT;
/* This controller's run (role.h), kept from its open: the same one at every open (role.c decides it
 * once), stored before the connection can be used. */
static const struct shim_run_ctx *ctx;
static cJSON *snapshot;        /* environment rows as the controller found them */
static char state[16];         /* "", initialising, ready, finished; under lock */
/* What the controller still does at its idle points: nothing, publish ready, or pin the
 * datafile's state for the workers (runcopy.h) until one joins.  Lock-free view for the
 * per-step check; changed under lock. */
enum { PHASE_NONE = 0, PHASE_INITIALISING, PHASE_PINNING };
static atomic_int phase;
static long long data_version;
static struct timespec dir_mtime; /* last seen mtime of the coordination directory */
/* set by the first worker (coord.h); NULL: look always.  Written under lock, read without. */
static const _Atomic unsigned char *_Atomic joined;
static long long ready_us;      /* CLOCK_MONOTONIC us when "ready" was published; under lock */
static long journals_applied, rows_applied, journal_errors; /* for the run report; under lock */
/* The pinned state (pin.h) and the file that says so (runcopy.h); under lock. */
static sqlite3 *pin;
static int pin_fd = -1;
static long pins, pin_failures; /* for the run report */
static long long pin_us;        /* time spent pinning, in this process */

/* {"present":bool,"columns":[...],"rows":[[rowid,...],...]} of main.environment. */
static cJSON *take_snapshot(sqlite3 *db)
{
    cJSON *snap = cJSON_CreateObject();
    sqlite3_stmt *st = NULL;
    int rc = REAL(sqlite3_prepare_v2)(db, "SELECT rowid, * FROM main.\"" SHIM_ENV_TABLE "\"", -1,
                                      &st, NULL);
    cJSON_AddBoolToObject(snap, "present", rc == SQLITE_OK);
    if (rc != SQLITE_OK) /* no such table yet: a fresh database */
        return snap;
    cJSON *cols = cJSON_AddArrayToObject(snap, "columns");
    int n = REAL(sqlite3_column_count)(st);
    for (int i = 1; i < n; i++)
        cJSON_AddItemToArray(cols, cJSON_CreateString(REAL(sqlite3_column_name)(st, i)));
    cJSON *rows = cJSON_AddArrayToObject(snap, "rows");
    while ((rc = REAL(sqlite3_step)(st)) == SQLITE_ROW) {
        cJSON *row = cJSON_CreateArray();
        for (int i = 0; i < n; i++)
            cJSON_AddItemToArray(row, shim_value_from_column(st, i));
        cJSON_AddItemToArray(rows, row);
    }
    if (rc != SQLITE_DONE)
        shim_log_warn("could not read the environment table at open (%s); workers will see it "
                      "as it is when they start", REAL(sqlite3_errmsg)(db));
    REAL(sqlite3_finalize)(st);
    if (rc != SQLITE_DONE) {
        cJSON_Delete(snap);
        snap = cJSON_CreateObject();
        cJSON_AddBoolToObject(snap, "present", 0);
        cJSON_AddBoolToObject(snap, "unreadable", 1);
    }
    return snap;
}

static long long read_user_version(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    long long v = -1;
    if (REAL(sqlite3_prepare_v2)(db, "PRAGMA main.user_version", -1, &st, NULL) == SQLITE_OK &&
        REAL(sqlite3_step)(st) == SQLITE_ROW)
        v = REAL(sqlite3_column_int64)(st, 0);
    REAL(sqlite3_finalize)(st);
    return v;
}

static int has_tables(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int yes = REAL(sqlite3_prepare_v2)(db, "SELECT 1 FROM main.sqlite_master WHERE type = 'table'",
                                       -1, &st, NULL) == SQLITE_OK &&
              REAL(sqlite3_step)(st) == SQLITE_ROW;
    REAL(sqlite3_finalize)(st);
    return yes;
}

/* Write the run file with the current state; lock held. */
static void publish_locked(const char *new_state)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "format", 1);
    cJSON_AddStringToObject(j, "state", new_state);
    cJSON *ctl = cJSON_AddObjectToObject(j, "controller");
    cJSON_AddNumberToObject(ctl, "pid", (double)ctx->run.pid);
    char start[32];
    snprintf(start, sizeof start, "%llu", ctx->run.start);
    cJSON_AddStringToObject(ctl, "start", start);
    cJSON_AddStringToObject(j, "datafile", ctx->datafile);
    cJSON_AddNumberToObject(j, "data_version", (double)data_version);
    if (strcmp(new_state, "initialising") == 0)
        ready_us = 0; /* a re-opened run gets a new ready time */
    if (strcmp(new_state, "ready") == 0 && !ready_us)
        ready_us = shim_coord_now_us(); /* before the write: a release includes the rename */
    if (ready_us) /* for the workers' release latency (report released_after_us) */
        cJSON_AddNumberToObject(j, "ready_mono_us", (double)ready_us);
    cJSON_AddItemToObject(j, "environment", cJSON_Duplicate(snapshot, 1));
    cJSON *rep = cJSON_AddObjectToObject(j, "report");
    cJSON_AddNumberToObject(rep, "journals_applied", (double)journals_applied);
    cJSON_AddNumberToObject(rep, "rows_applied", (double)rows_applied);
    cJSON_AddNumberToObject(rep, "journal_errors", (double)journal_errors);
    cJSON_AddNumberToObject(rep, "pins", (double)pins);
    cJSON_AddNumberToObject(rep, "pin_failures", (double)pin_failures);
    cJSON_AddNumberToObject(rep, "pin_ms", (double)pin_us / 1000.0);
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    char name[SHIM_RUN_NAME_MAX + 8];
    snprintf(name, sizeof name, "%s" SHIM_RUN_JSON, ctx->run_name);
    if (text && shim_coord_write(ctx->dir, name, text) == 0) {
        snprintf(state, sizeof state, "%s", new_state);
        if (strcmp(new_state, "initialising") == 0)
            atomic_store(&phase, PHASE_INITIALISING);
        else if (strcmp(new_state, "finished") == 0)
            atomic_store(&phase, PHASE_NONE); /* ready: the caller has set it */
        shim_log_info("published %s/%s: %s", ctx->dir, name, new_state);
    }
    free(text);
}

/* Remove the files of runs whose controller is gone (crashed, killed, or finished): they can
 * never become ready again, and a reused pid cannot match them (the start time differs).  Live
 * runs, e.g. a concurrent pytest in the same directory, are left alone. */
static void remove_stale_runs(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        struct shim_run run;
        const char *rest = shim_run_parse(e->d_name, &run);
        if (!rest || *rest != '.' || shim_run_alive(&run)) /* any file of a run, if it is gone */
            continue;
        char path[PATH_MAX + 256];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) == 0)
            shim_log_debug("removed stale %s", path);
    }
    if (d)
        closedir(d);
}

/* Let go of the pinned state and say so to workers to come; under lock.  Called when no worker
 * of the run is left, so no reader should hold the word: one that does (a stray process) is
 * waited for at most a second, then the word is emptied anyway, which it reads as no pin. */
static void unpin_locked(void)
{
    if (pin_fd >= 0) {
        for (int i = 0; i < 1000 && shim_runcopy_pin_try_lock(pin_fd) != 0; i++)
            usleep(1000);
        shim_runcopy_pin_say(pin_fd, NULL);
    }
    shim_pin_release(&pin);
}

/* Does a worker of run `run` still run: a live child of this process (xdist's workers are the
 * controller's children) whose report names it?  A worker writes its report before it joins. */
static int workers_running(const struct shim_run_ctx *run)
{
    DIR *d = opendir(run->dir);
    struct dirent *e;
    int running = 0;
    while (!running && d && (e = readdir(d))) {
        struct shim_run r;
        const char *rest = shim_run_parse(e->d_name, &r);
        const char *dash = rest ? strrchr(rest, '-') : NULL;
        char st;
        unsigned long long start;
        if (!rest || r.pid != run->run.pid || r.start != run->run.start ||
            shim_run_file_kind(rest) != SHIM_RUN_FILE_WORKER || !dash)
            continue;
        long pid = strtol(dash + 1, NULL, 10);
        running = shim_pid_parent(pid) == (long)getpid() &&
                  shim_pidstat(pid, &st, &start) == 0 && st != 'Z' && st != 'X';
    }
    if (d)
        closedir(d);
    return running;
}

int shim_controller_open(const struct shim_run_ctx *run, const char *filename, sqlite3 **ppDb,
                         int flags, const char *vfs)
{
    int rc = REAL(sqlite3_open_v2)(filename, ppDb, flags, vfs);
    if (rc != SQLITE_OK || !*ppDb)
        return rc;
    __atomic_store_n(&ctx, run, __ATOMIC_RELEASE);
    shim_log_set_tag("controller");
    struct shim_conn *c = shim_conn_add(*ppDb, SHIM_CONN_CONTROLLER);
    if (!c)
        return rc;
    /* Another writer may hold the lock for a moment; Python sets its own timeout after this. */
    REAL(sqlite3_busy_timeout)(*ppDb, 5000);
    cJSON *snap = take_snapshot(*ppDb);
    long long version = read_user_version(*ppDb);
    if (shim_coord_ensure_dir(run->dir) != 0) {
        cJSON_Delete(snap);
        return rc; /* workers will find no run and step aside: upstream behaviour */
    }
    remove_stale_runs(run->dir);
    pthread_mutex_lock(&shim_controller_lock.m);
    if (!atomic_load(&joined)) {
        atomic_store(&joined, shim_coord_joined_map(run->dir, run->run_name));
    } else if (!workers_running(run)) {
        /* Opened again, and no worker of the run is left: testmon replaced a datafile of
         * another format (during its initialisation, before any worker), or pytest.main() runs
         * again in this process: what the last run's workers joined, read and were given is
         * over.  While one runs (another connection of the controller, a plugin's, during the
         * run), all of it stays as the workers found it. */
        shim_coord_joined_clear(run->dir, run->run_name);
        unpin_locked();
        shim_runcopy_remove(run->dir, run->run_name);
        if (pin_fd >= 0)
            close(pin_fd);
        pin_fd = -1;
    }
    cJSON_Delete(snapshot);
    snapshot = snap;
    data_version = version;
    publish_locked("initialising");
    pthread_mutex_unlock(&shim_controller_lock.m);
    return rc;
}

/* Pin the datafile's state for the workers (runcopy.h, pin.h) at an idle point of the
 * controller, until a worker has joined: pinned again whenever the controller wrote since, so
 * the state pinned last is the one after its initialisation.  Under lock. */
static void pin_locked(void)
{
    const _Atomic unsigned char *flag = atomic_load(&joined);
    if (!flag || atomic_load(flag)) {
        atomic_store(&phase, PHASE_NONE); /* the state is the workers' now: it stays */
        return;
    }
    if (pin && shim_pin_wal_empty(ctx->datafile) != 0)
        return; /* pinned, and nothing written since (or no telling: keep what is held) */
    if (pin_fd < 0 && (pin_fd = shim_runcopy_pin_open(ctx->dir, ctx->run_name)) < 0) {
        atomic_store(&phase, PHASE_NONE); /* said; the workers copy */
        return;
    }
    if (shim_runcopy_pin_try_lock(pin_fd) != 0)
        return; /* a worker is reading it: it has set the flag, seen at the next idle point */
    if (atomic_load(flag)) {
        flock(pin_fd, LOCK_UN);
        atomic_store(&phase, PHASE_NONE);
        return;
    }
    long long t0 = shim_coord_now_us();
    shim_pin_release(&pin);
    struct stat id;
    enum shim_pin_result r = shim_pin_take(ctx->datafile, &pin, &id);
    shim_runcopy_pin_say(pin_fd, r == SHIM_PIN_HELD ? &id : NULL);
    pin_us += shim_coord_now_us() - t0;
    pins += r == SHIM_PIN_HELD;
    pin_failures += r != SHIM_PIN_HELD;
    static const char *const why[] = {
        [SHIM_PIN_HELD] = "pinned", [SHIM_PIN_NOT_WAL] = "not in WAL mode: the workers copy it",
        [SHIM_PIN_BUSY] = "not pinned: another connection was reading or writing",
        [SHIM_PIN_FAILED] = "not pinned: it could not be read"};
    shim_log_debug("the datafile's state for the workers: %s (%lld us)", why[r],
                   shim_coord_now_us() - t0);
    if (r == SHIM_PIN_NOT_WAL)
        atomic_store(&phase, PHASE_NONE);
}

/* The run is ready once the controller's connection is idle (autocommit, the statement done)
 * and the file carries a schema (testmon creates its tables in one transaction; user_version is
 * no witness, 1.4.x's data version is 0).  testmon's controller finishes initialising in
 * pytest_configure and the report header, and xdist spawns workers only after that, in its
 * trylast pytest_sessionstart; so no worker can observe a half-initialised file.  From ready
 * until a worker joins, each idle point pins the state again if the controller wrote since
 * (pin_locked).  Until ready, each idle point costs one PRAGMA; once a worker has joined,
 * nothing. */
void shim_controller_after_step(struct shim_conn *c, int rc)
{
    if (rc == SQLITE_ROW || !atomic_load_explicit(&phase, memory_order_relaxed))
        return;
    sqlite3 *db = atomic_load(&c->db);
    if (!REAL(sqlite3_get_autocommit)(db))
        return;
    if (atomic_load(&phase) == PHASE_INITIALISING && !has_tables(db))
        return;
    long long version = atomic_load(&phase) == PHASE_INITIALISING ? read_user_version(db) : 0;
    pthread_mutex_lock(&shim_controller_lock.m);
    if (strcmp(state, "initialising") == 0) {
        data_version = version;
        /* Pinned first: a worker that sees ready finds the controller's word on the pin.
         * Pinning needs the joined flag: without it nothing would tell when to stop. */
        atomic_store(&phase, atomic_load(&joined) ? PHASE_PINNING : PHASE_NONE);
        if (atomic_load(&phase) == PHASE_PINNING)
            pin_locked();
        publish_locked("ready");
    } else if (atomic_load(&phase) == PHASE_PINNING) {
        pin_locked();
    }
    pthread_mutex_unlock(&shim_controller_lock.m);
}

static int journal_name_cmp(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* This run's journals (runid.h); scandir's filter has no argument, hence the static, set under
 * shim_controller_lock. */
static struct shim_run filter_run;
static int journal_filter(const struct dirent *d)
{
    struct shim_run run;
    const char *rest = shim_run_parse(d->d_name, &run);
    return rest && run.pid == filter_run.pid && run.start == filter_run.start &&
           shim_run_file_kind(rest) == SHIM_RUN_FILE_JOURNAL;
}

/* Apply workers' journals, oldest first; the cost when nothing changed is one stat. */
static void apply_journals(struct shim_conn *c)
{
    struct stat st;
    const struct shim_run_ctx *me = __atomic_load_n(&ctx, __ATOMIC_ACQUIRE);
    if (!me || !me->dir[0] || stat(me->dir, &st) != 0)
        return;
    pthread_mutex_lock(&shim_controller_lock.m);
    if (st.st_mtim.tv_sec == dir_mtime.tv_sec && st.st_mtim.tv_nsec == dir_mtime.tv_nsec) {
        pthread_mutex_unlock(&shim_controller_lock.m);
        return;
    }
    dir_mtime = st.st_mtim;
    filter_run = me->run;
    struct dirent **list = NULL;
    int n = scandir(me->dir, &list, journal_filter, journal_name_cmp);
    for (int i = 0; i < n; i++) {
        int missing;
        cJSON *j = shim_coord_read(me->dir, list[i]->d_name, &missing);
        int applied = j ? shim_journal_apply(atomic_load(&c->db), j) : -1;
        if (applied >= 0) {
            char path[PATH_MAX + 256];
            snprintf(path, sizeof path, "%s/%s", me->dir, list[i]->d_name);
            unlink(path);
            journals_applied++;
            rows_applied += applied;
        } else if (j) {
            journal_errors++;
            shim_log_error("could not apply worker journal %s/%s (%s); kept for inspection: the "
                           "next run re-syncs its tests", me->dir, list[i]->d_name,
                           shim_journal_apply_error());
        }
        cJSON_Delete(j);
        free(list[i]);
    }
    free(list);
    pthread_mutex_unlock(&shim_controller_lock.m);
}

/* Called when the connection is in autocommit, before the statement that may start the
 * controller's next write.  Until a worker has joined (it sets the flag before it writes a
 * journal) there is nothing to look for: a serial run pays one load per statement. */
void shim_controller_before_write(struct shim_conn *c)
{
    const _Atomic unsigned char *flag = atomic_load_explicit(&joined, memory_order_acquire);
    if (flag && !atomic_load_explicit(flag, memory_order_acquire))
        return;
    apply_journals(c);
}

void shim_controller_close(struct shim_conn *c)
{
    dir_mtime.tv_sec = dir_mtime.tv_nsec = 0; /* force a last look, joined or not */
    apply_journals(c);
}

void shim_controller_forget(void)
{
    journals_applied = rows_applied = journal_errors = 0;
    state[0] = 0;
    atomic_store(&phase, PHASE_NONE);
    pin = NULL; /* the parent's connection: never used, closed or unlocked here */
    if (pin_fd >= 0)
        close(pin_fd); /* a child's close releases no lock of the parent's (flock: the parent's
                        * descriptor still holds it) */
    pin_fd = -1;
    pins = pin_failures = 0;
    pin_us = 0;
    dir_mtime.tv_sec = dir_mtime.tv_nsec = 0;
    ready_us = 0;
    const _Atomic unsigned char *flag = atomic_load(&joined);
    if (flag) /* the parent's run: not ours */
        munmap((void *)flag, 1);
    atomic_store(&joined, NULL);
    __atomic_store_n(&ctx, NULL, __ATOMIC_RELAXED);
}

void shim_controller_exit(void)
{
    if (!__atomic_load_n(&ctx, __ATOMIC_ACQUIRE))
        return; /* not a controller: nothing published */
    pthread_mutex_lock(&shim_controller_lock.m);
    if (state[0] && strcmp(state, "finished") != 0) {
        publish_locked("finished");
        unpin_locked(); /* checkpoints may run again */
        shim_runcopy_remove(ctx->dir, ctx->run_name); /* the workers are done */
    }
    pthread_mutex_unlock(&shim_controller_lock.m);
}
