/* log.h: diagnostics.  Silent unless TESTMON_SHIM_LOG asks; real errors always reach stderr.
 * Never stdout: pytest and execnet own it (a worker's stdout is its wire to the controller). */
#ifndef SHIM_LOG_H
#define SHIM_LOG_H

enum shim_log_level { SHIM_LOG_ERROR = 0, SHIM_LOG_WARN = 1, SHIM_LOG_INFO = 2, SHIM_LOG_DEBUG = 3 };

/* Apply TESTMON_SHIM_LOG: "LEVEL" or "LEVEL:FILE" (envvars.h has the grammar).
 * Returns 0, or -1 for a value it does not understand (then logging stays at errors; the caller
 * reports it). */
int shim_log_configure(const char *spec);
int shim_log_enabled(int level);
/* Print, once, a problem shim_log_configure found (an unusable log file): called by the processes
 * that use the shim, not by every shell the preload reaches. */
void shim_log_report_deferred(void);
void shim_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define shim_log_error(...) shim_log(SHIM_LOG_ERROR, __VA_ARGS__)
#define shim_log_warn(...) shim_log(SHIM_LOG_WARN, __VA_ARGS__)
#define shim_log_info(...) shim_log(SHIM_LOG_INFO, __VA_ARGS__)
#define shim_log_debug(...)                                                                      \
    do {                                                                                         \
        if (shim_log_enabled(SHIM_LOG_DEBUG))                                                    \
            shim_log(SHIM_LOG_DEBUG, __VA_ARGS__);                                               \
    } while (0)
/* Set the tag printed after the pid (e.g. "controller", "worker gw1"). */
void shim_log_set_tag(const char *tag);
#endif
