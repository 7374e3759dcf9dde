/* envvars.c: the grammar of the shim's settings (envvars.h); shared with the command. */
#include "envvars.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int shim_envvars_off(const char *value)
{
    static const char *const off[] = SHIM_ENVVARS_OFF_VALUES;
    for (size_t i = 0; value && i < sizeof off / sizeof *off; i++)
        if (strcasecmp(value, off[i]) == 0)
            return 1;
    return 0;
}

int shim_envvars_seconds(const char *value, double max_s, long *ms)
{
    if (!value || !*value)
        return -1;
    int saved = errno; /* strtod sets ERANGE */
    char *end;
    double secs = strtod(value, &end);
    errno = saved;
    /* !(secs > 0) also refuses NaN, which every comparison fails */
    if (*end || !(secs > 0) || secs > max_s)
        return -1;
    *ms = (long)(secs * 1000);
    return 0;
}

int shim_envvars_timeout_ms(const char *value, long *ms)
{
    *ms = SHIM_ENVVARS_TIMEOUT_DEFAULT_MS;
    if (!value || !*value)
        return 0;
    return shim_envvars_seconds(value, SHIM_ENVVARS_TIMEOUT_MAX_S, ms);
}

int shim_envvars_log(const char *value, const char **file)
{
    static const char *const words[] = SHIM_ENVVARS_LOG_LEVELS;
    *file = NULL;
    if (!value || !*value)
        return 0;
    const char *colon = strchr(value, ':');
    size_t n = colon ? (size_t)(colon - value) : strlen(value);
    int level = -1;
    if (n == 1 && value[0] >= '0' && value[0] < '0' + (int)(sizeof words / sizeof *words))
        level = value[0] - '0';
    for (int i = 0; level < 0 && i < (int)(sizeof words / sizeof *words); i++)
        if (strlen(words[i]) == n && strncmp(words[i], value, n) == 0)
            level = i;
    if (level >= 0 && colon && colon[1])
        *file = colon + 1;
    return level;
}
