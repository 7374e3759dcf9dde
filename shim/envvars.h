/* envvars.h: the grammar of the shim's settings, in one place.
 *
 *   TESTMON_SHIM          one of SHIM_ENVVARS_OFF_VALUES, in any case, switches the shim off
 *   TESTMON_SHIM_TIMEOUT  seconds in (0, 86400], fractions allowed; unset or empty: 60
 *   TESTMON_SHIM_LOG      LEVEL or LEVEL:FILE, LEVEL one of SHIM_ENVVARS_LOG_LEVELS or its
 *                         number 0-3, exactly as written; unset or empty: errors, to stderr
 *
 * The library reads them at load (settings.c, log.c) and the command's doctor judges them
 * beforehand with these same functions: tools/tools.mk compiles this file into both, as it does
 * safefile.c and elfsym.c.  The pytest plugin must decide on TESTMON_SHIM before it loads the
 * library (that is what it decides), so it cannot ask the library; its Python copy of the two
 * lists (python/testmon_shim/_envvars.py) is checked against the lists below by shim.bats.
 * Pure functions: no environment read here, errno untouched. */
#ifndef SHIM_ENVVARS_H
#define SHIM_ENVVARS_H
#include <stddef.h>

/* Values of TESTMON_SHIM that switch the shim off (compared ignoring case). */
#define SHIM_ENVVARS_OFF_VALUES {"off", "0", "false", "no"}
/* The levels of TESTMON_SHIM_LOG, from 0 (errors only) to 3 (log.h's enum). */
#define SHIM_ENVVARS_LOG_LEVELS {"error", "warn", "info", "debug"}
/* TESTMON_SHIM_TIMEOUT when it is unset, empty or unusable; and its bound. */
#define SHIM_ENVVARS_TIMEOUT_DEFAULT_MS 60000L
#define SHIM_ENVVARS_TIMEOUT_MAX_S 86400

/* Does this value of TESTMON_SHIM switch the shim off?  NULL (unset) does not. */
int shim_envvars_off(const char *value);

/* A number of seconds in (0, max_s] into *ms (truncated to whole milliseconds): 0, or -1 when the
 * value is anything else (then *ms is untouched).  NULL or "" is no number. */
int shim_envvars_seconds(const char *value, double max_s, long *ms);
/* TESTMON_SHIM_TIMEOUT: *ms is the timeout, the default for NULL or "".  0, or -1 for a value
 * that is no number of seconds in (0, SHIM_ENVVARS_TIMEOUT_MAX_S] (*ms the default then). */
int shim_envvars_timeout_ms(const char *value, long *ms);

/* TESTMON_SHIM_LOG: its level (0-3), with *file pointing at FILE in value (NULL without one, or
 * with an empty one); -1 for a LEVEL it does not know.  NULL or "" is errors only: 0. */
int shim_envvars_log(const char *value, const char **file);
#endif
