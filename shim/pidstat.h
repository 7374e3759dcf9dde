/* pidstat.h: another process as /proc/<pid>/stat shows it: its state and its start time.
 *
 * The start time (field 22: clock ticks since boot) tells a process from a later one that got its
 * pid; the state tells a zombie (exited, not yet reaped, still listed with its start time) from a
 * live process.  comm, field 2, may hold spaces and parentheses: the fields after it are counted
 * from its last ')'.  Shared with the command (tools/tools.mk), which judges runs the same way;
 * errno is left as it was. */
#ifndef SHIM_PIDSTAT_H
#define SHIM_PIDSTAT_H

/* pid's state letter (R, S, D, Z, X, ...) and start time: 0, or -1 when there is no such process
 * or its stat cannot be read (another pid namespace, /proc not mounted). */
int shim_pidstat(long pid, char *state, unsigned long long *start);
/* pid's parent's pid, or -1 as shim_pidstat fails. */
long shim_pid_parent(long pid);
/* pid's start time, or 0 when shim_pidstat fails. */
unsigned long long shim_pid_starttime(long pid);
#endif
