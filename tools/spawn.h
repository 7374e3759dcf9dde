/* spawn.h: run a child with a deadline and capture its output (for doctor's probes). */
#ifndef TOOL_SPAWN_H
#define TOOL_SPAWN_H
#include <stddef.h>

struct tool_child {
    int exec_errno;    /* the exec failed with this errno (then nothing else is set) */
    int timed_out;     /* killed (with its process group) at the deadline */
    int exited, code;  /* exited normally with code */
    int signal;        /* or killed by this signal */
    char *out, *err;   /* stdout and stderr, NUL-terminated, at most 64 KiB each (caller frees) */
};

/* Run argv[0] (searched on PATH) in cwd (NULL: ours) with env changes: pairs NAME, VALUE
 * (VALUE NULL unsets), ending with NULL.  stdin is /dev/null.  Never longer than timeout_ms.
 * 0, or -1 if the child could not be started (fork/pipe failure, errno set). */
int tool_spawn(char *const argv[], const char *cwd, const char *const *env, long timeout_ms,
               struct tool_child *c);
void tool_child_free(struct tool_child *c);
#endif
