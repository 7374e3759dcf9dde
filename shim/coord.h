/* coord.h: the coordination file between a controller and its workers.
 *
 * One file per run, named after the controller's pid and start time as the controller reads its
 * own (so a reused pid never matches a stale file: shim_start_same_process says how a reader
 * judges that name), in a private directory next to the datafile (or $TESTMON_SHIM_DIR):
 *     <dir>/run-<pid>-<start>.json            the controller's state: initialising|ready|finished
 *     <dir>/run-<pid>-<start>.journal-*.json  writes a worker hands to the controller
 *     <dir>/run-<pid>-<start>.joined          one byte: non-zero once a worker has joined
 * Files are written whole to a temporary name and renamed into place, created O_EXCL|O_NOFOLLOW
 * mode 0600; readers refuse symlinks, other owners, non-regular and oversized files.
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

#include "safefile.h" /* SHIM_COORD_MAX_BYTES */

struct shim_run {
    long pid;
    unsigned long long start; /* /proc/<pid>/stat field 22, as the controller read its own */
};

/* Start time of pid (field 22 of /proc/<pid>/stat: clock ticks since boot), 0 if the process
 * does not exist or its stat cannot be read. */
unsigned long long shim_proc_starttime(long pid);

/* Does a run whose controller recorded `recorded` as its own start time name the process that
 * now holds its pid, whose start time this process reads as `seen`?  Not an equality, because
 * two processes need not read one process's start time alike: qemu-user answers a process's
 * reads of its own /proc/self/stat (and /proc/<own pid>/stat) itself, 3-4 clock ticks later than
 * what every other process reads from the kernel (measured here, tests/aarch64/README.md), and
 * containers and sandboxes rewrite /proc too.  What does hold is an order: a pid comes round
 * again only after its previous process has exited and been reaped, so a run recorded by an
 * earlier process with this pid started before the current one (recorded < seen, a stale file),
 * while the current process's own reading is never earlier than the kernel's.  The only slack is
 * upwards, at most SHIM_START_SKEW_MAX_S seconds (an emulator's reading taken once it is up).
 * Inline: the command (tools/runfiles.c) judges runs by the same rule without the library. */
#define SHIM_START_SKEW_MAX_S 60
static inline int shim_start_same_process(unsigned long long recorded, unsigned long long seen)
{
    long hz = sysconf(_SC_CLK_TCK);
    unsigned long long slack = (unsigned long long)(hz > 0 ? hz : 100) * SHIM_START_SKEW_MAX_S;
    return seen != 0 && recorded >= seen && recorded - seen <= slack;
}
/* Is the run's controller still the same live process (not a zombie; its start time judged by
 * shim_start_same_process)? */
int shim_run_alive(const struct shim_run *run);

/* The coordination directory for a datafile; 0 or -1 (name too long). */
int shim_coord_dir(const char *datafile, char *out, size_t outsz);
/* Create it if missing (0700, with the cache markers) and check that it is ours: a real
 * directory, owned by us, not writable by group or others.  Returns 0 or -1 with a message
 * logged. */
int shim_coord_ensure_dir(const char *dir);
/* The cache markers' names (tools/ lists and removes them too). */
#define SHIM_COORD_GITIGNORE ".gitignore"
#define SHIM_COORD_CACHEDIR_TAG "CACHEDIR.TAG"
/* "run-<pid>-<start>" */
void shim_coord_run_name(const struct shim_run *run, char *out, size_t outsz);

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
 * moment it exits; any other controller by shim_run_alive); never longer than timeout_ms.  On READY *out holds the parsed file and
 * *seen_us the CLOCK_MONOTONIC time (us) at which it was read, 0 if it was ready at first look. */
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
#endif
