/* runid.h: a run's identity: its controller's pid and start time, the names of its files made
 * and parsed here only, and whether the process the name means is still there.
 *
 * A run is named after its controller's pid and start time as the controller reads its own, so
 * a reused pid never matches a stale file:
 *     run-<pid>-<start>.json                    the run file: the controller's state
 *     run-<pid>-<start>.worker-<id>-<pid>.json  one worker's report
 *     run-<pid>-<start>.journal-<t>-<id>-<pid>.json  a worker's writes, handed to the controller
 *     run-<pid>-<start>.joined                  one byte: non-zero once a worker has joined
 *     run-<pid>-<start>.db[-wal|-shm|.lock|.pin]  the run's copy of the datafile, or the
 *                                               datafile's pinned state (runcopy.h)
 * Every reader of a coordination directory (coord, controller, the command's status and clean)
 * parses names with shim_run_parse and shim_run_file_kind; tools/tools.mk compiles this file
 * into the command. */
#ifndef SHIM_RUNID_H
#define SHIM_RUNID_H
#include <stddef.h>

struct shim_run {
    long pid;                 /* the controller's */
    unsigned long long start; /* /proc/<pid>/stat field 22, as the controller read its own */
};

/* What follows a run's name in the names of its files. */
#define SHIM_RUN_JSON ".json"        /* the run file; reports and journals end with it too */
#define SHIM_RUN_WORKER ".worker-"   /* then <id>-<pid>.json */
#define SHIM_RUN_JOURNAL ".journal-" /* then <time>-<id>-<pid>.json */
#define SHIM_RUN_JOINED ".joined"
#define SHIM_RUN_COPY ".db"          /* the run's copy, and SQLite's files and the lock beside it */
#define SHIM_RUN_COPY_SUFFIXES {SHIM_RUN_COPY, SHIM_RUN_COPY "-wal", SHIM_RUN_COPY "-shm", \
                                SHIM_RUN_COPY ".lock", SHIM_RUN_COPY_PIN}
#define SHIM_RUN_COPY_PIN SHIM_RUN_COPY ".pin" /* the controller's word on the pinned datafile */

/* "run-<pid>-<start>" into out; at most this long (with its NUL). */
#define SHIM_RUN_NAME_MAX 48
void shim_run_name(const struct shim_run *run, char *out, size_t outsz);
/* Does `name` start with a run's name (run-, a pid > 0 and a start time in decimal digits, no
 * sign, no spaces)?  Then *run is that run and the rest of name is returned, else NULL. */
const char *shim_run_parse(const char *name, struct shim_run *run);

enum shim_run_file {
    SHIM_RUN_FILE_NONE = 0, /* not one of a run's files */
    SHIM_RUN_FILE_RUN,
    SHIM_RUN_FILE_WORKER,
    SHIM_RUN_FILE_JOURNAL,
    SHIM_RUN_FILE_JOINED,
    SHIM_RUN_FILE_COPY,
};
/* Which of a run's files has `rest` (what shim_run_parse returned) after the run's name? */
enum shim_run_file shim_run_file_kind(const char *rest);

/* Does a run whose controller recorded `recorded` as its own start time name the process that
 * now holds its pid, whose start time this process reads as `seen`?  Not an equality, because
 * two processes need not read one process's start time alike: qemu-user answers a process's
 * reads of its own /proc/self/stat (and /proc/<own pid>/stat) itself, 3-4 clock ticks later than
 * what every other process reads from the kernel (measured here, tests/aarch64/README.md), and
 * containers and sandboxes rewrite /proc too.  What does hold is an order: a pid comes round
 * again only after its previous process has exited and been reaped, so a run recorded by an
 * earlier process with this pid started before the current one (recorded < seen, a stale file),
 * while the current process's own reading is never earlier than the kernel's.  The only slack is
 * upwards, at most SHIM_START_SKEW_MAX_S seconds (an emulator's reading taken once it is up). */
#define SHIM_START_SKEW_MAX_S 60
int shim_start_same_process(unsigned long long recorded, unsigned long long seen);
/* Is the run's controller still the same live process: not a zombie, its start time judged by
 * shim_start_same_process (pidstat.h)?  errno is left as it was. */
int shim_run_alive(const struct shim_run *run);
#endif
