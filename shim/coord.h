/* coord.h: the coordination directory and the files in it, between a controller and its workers.
 *
 * One run per controller (runid.h names it and its files), in a private directory next to the
 * datafile (or $TESTMON_SHIM_DIR).  Files are written whole to a temporary name
 * (.<name>.tmp.<pid>.<n>) and renamed into place, created O_EXCL|O_NOFOLLOW mode 0600; readers
 * refuse symlinks, other owners, non-regular and oversized files (safefile.h).
 * A directory the shim creates also gets the markers of a cache (the convention of .pytest_cache,
 * mypy's and ruff's caches), so that a project's `git status` stays clean and backup tools skip it:
 *     <dir>/.gitignore      "*": git ignores the directory, this file included
 *     <dir>/CACHEDIR.TAG    the Cache Directory Tagging signature (bford.info/cachedir) */
#ifndef SHIM_COORD_H
#define SHIM_COORD_H
#include <cJSON.h>
#include <limits.h>
#include <stddef.h>
#include <sys/types.h>
#include <unistd.h>

#include "runid.h"
#include "safefile.h" /* SHIM_COORD_MAX_BYTES */

/* The coordination directory's name beside the datafile (the command looks there too). */
#define SHIM_COORD_DIR_NAME ".testmon-shim"
/* The coordination directory for a datafile: $TESTMON_SHIM_DIR, else SHIM_COORD_DIR_NAME in the
 * datafile's directory; 0 or -1 (name too long). */
int shim_coord_dir(const char *datafile, char *out, size_t outsz);
/* Create it if missing (0700, with the cache markers) and check that it is ours: a real
 * directory, owned by us, not writable by group or others.  Returns 0 or -1 with a message
 * logged. */
int shim_coord_ensure_dir(const char *dir);
/* The cache markers' names (tools/ lists and removes them too). */
#define SHIM_COORD_GITIGNORE ".gitignore"
#define SHIM_COORD_CACHEDIR_TAG "CACHEDIR.TAG"

/* Write text to dir/name atomically.  0, or -1 with a message logged. */
int shim_coord_write(const char *dir, const char *name, const char *text);
/* Read and parse dir/name.  Returns the JSON (caller frees), or NULL with *missing set when the
 * file does not exist, or NULL with a message logged when it is unsafe or not valid JSON. */
cJSON *shim_coord_read(const char *dir, const char *name, int *missing);

enum shim_wait_result {
    SHIM_WAIT_READY = 0,
    SHIM_WAIT_MISSING,   /* no such run: the controller never opened the datafile */
    SHIM_WAIT_DEAD,      /* the controller exited before publishing ready */
    SHIM_WAIT_TIMEOUT,   /* still not ready after timeout_ms */
    SHIM_WAIT_INVALID,   /* unreadable or unsafe coordination file */
};
/* Is there a run file of any run of controller pid `pid` (used when its start time is unknown
 * because it has exited)? */
int shim_coord_any_run_of(const char *dir, long pid);
/* A worker's search for its controller's run: the run file run-<pid>-<start>.json of dir whose
 * start names the process that holds pid now, started at `seen` as this process reads it
 * (shim_start_same_process; the closest if several would).  1 with *start set to the start in
 * its name, 0 if there is none (stale files of an earlier process with that pid are passed
 * over), -1 if dir cannot be read. */
int shim_coord_find_run(const char *dir, long pid, unsigned long long seen,
                        unsigned long long *start);
/* Wait until dir/<run>.json says "ready" (or "finished"), woken by inotify, checking the
 * controller's liveness (our parent is alive as long as getppid() names it: a parent's pid
 * cannot be reused while its child lives, and its children are handed to another parent the
 * moment it exits; any other controller by shim_run_alive); never longer than timeout_ms.  On
 * READY *out holds the parsed file and *seen_us the CLOCK_MONOTONIC time (us) at which it was
 * read, 0 if it was ready at first look. */
enum shim_wait_result shim_coord_wait_ready(const char *dir, const struct shim_run *run,
                                            long timeout_ms, cJSON **out, long *waited_ms,
                                            long long *seen_us);
/* CLOCK_MONOTONIC in microseconds (system-wide: comparable between processes). */
long long shim_coord_now_us(void);

/* The "a worker joined" flag, so that a controller nobody joins (a serial run) never looks for
 * journals: the controller creates <run>.joined (one zero byte, 0600) and maps it read-only;
 * a worker sets its first byte with one pwrite when it opens, before its first journal.  The
 * controller's check is then a load, no system call.  Returns the mapped byte, or NULL (then always look). */
const _Atomic unsigned char *shim_coord_joined_map(const char *dir, const char *run_name);
/* Worker: set the flag.  0, 1 if the controller has none (look always), -1 logged. */
int shim_coord_joined_set(const char *dir, const char *run_name);
/* Controller, when it opens its datafile again (a new run in the same process: pytest.main()
 * called again): clear the flag, whose workers are gone.  0, or -1. */
int shim_coord_joined_clear(const char *dir, const char *run_name);
#endif
