/* tool.h: what the testmon-shim command's modules share: exit codes, messages, subcommands. */
#ifndef TOOL_H
#define TOOL_H
#include <stddef.h>
#include <string.h>

#ifndef TESTMON_SHIM_VERSION
#define TESTMON_SHIM_VERSION "unknown"
#endif

/* Exit codes common to every subcommand (doctor and run add their own, see the man page). */
enum { TOOL_OK = 0, TOOL_FAIL = 1, TOOL_USAGE = 2 };

/* "testmon-shim: <message>" on stderr, one line. */
void tool_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A usage error: the message, a pointer to --help; returns TOOL_USAGE. */
int tool_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The --help text, on stdout. */
void tool_help(void);
/* Is arg --help or -h? */
#define TOOL_IS_HELP(arg) (strcmp((arg), "--help") == 0 || strcmp((arg), "-h") == 0)

int cmd_run(int argc, char **argv);    /* argv[0] is "run" */
int cmd_doctor(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_clean(int argc, char **argv);
#endif
