/* runfiles.h: reading a coordination directory (.testmon-shim) the way the shim does.
 *
 * A run's files are named as shim/runid.h says; besides them a directory holds
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

/* Does a process with this pid exist (any start time)?  For the writer of a temporary file;
 * a run's controller is judged by shim_run_alive (shim/runid.h). */
int tool_pid_exists(long pid);

/* Read and parse dir/name with shim_coord_read's rules: no symlink, a regular file owned by us,
 * at most 16 MiB, a JSON object.  NULL with *missing=1 if absent, or NULL with a reason in why. */
cJSON *tool_read_json(const char *dir, const char *name, int *missing, char *why, size_t whysz);

/* All entries of dir, classified, sorted by name; *n entries, malloc'd (caller frees).  NULL with
 * errno set if the directory cannot be read. */
struct tool_file *tool_list_dir(const char *dir, size_t *n);
#endif
