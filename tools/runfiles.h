/* runfiles.h: reading a coordination directory (.testmon-shim) the way the shim does.
 *
 * Names (see shim/coord.h):
 *   run-<pid>-<start>.json                    the controller's run file
 *   run-<pid>-<start>.worker-<id>-<pid>.json  one worker's report
 *   run-<pid>-<start>.journal-*.json          a worker's hand-over not yet applied
 *   run-<pid>-<start>.joined                  one byte: a worker joined
 *   run-<pid>-<start>.db[-wal|-shm|.lock]     the copy of the datafile the workers read
 *   .<name>.tmp.<pid>.<n>                     a file being written (renamed into place)
 *   .gitignore, CACHEDIR.TAG                  the cache markers of a directory the shim made */
#ifndef TOOL_RUNFILES_H
#define TOOL_RUNFILES_H
#include <cJSON.h>
#include <stddef.h>

#include "../shim/safefile.h" /* the library's reader of coordination files */

enum tool_file_kind {
    TF_OTHER = 0, TF_RUN, TF_WORKER, TF_JOURNAL, TF_TEMP, TF_JOINED, TF_COPY, TF_MARKER
};

struct tool_file {
    char name[256];
    enum tool_file_kind kind;
    long pid;                 /* the run's controller (RUN, WORKER, JOURNAL); the writer (TEMP) */
    unsigned long long start; /* the controller's start time (0 for TEMP) */
};

/* Classify a directory entry by name alone; 0 on success (kind may be TF_OTHER). */
void tool_classify(const char *name, struct tool_file *out);

/* The coordination directory: DIR/.testmon-shim if dir is given, else $TESTMON_SHIM_DIR, else
 * ./.testmon-shim.  0, or -1 if too long. */
int tool_coord_dir(const char *dir, char *out, size_t outsz);

/* Is the controller pid with that start time (as it read its own) still the same live,
 * non-zombie process?  The library's rule: shim_start_same_process (shim/coord.h). */
int tool_run_alive(long pid, unsigned long long start);
/* Does a process with this pid exist (any start time)? */
int tool_pid_exists(long pid);

/* Read and parse dir/name with shim_coord_read's rules: no symlink, a regular file owned by us,
 * at most 16 MiB, a JSON object.  NULL with *missing=1 if absent, or NULL with a reason in why. */
cJSON *tool_read_json(const char *dir, const char *name, int *missing, char *why, size_t whysz);

/* All entries of dir, classified, sorted by name; *n entries, malloc'd (caller frees).  NULL with
 * errno set if the directory cannot be read. */
struct tool_file *tool_list_dir(const char *dir, size_t *n);
#endif
