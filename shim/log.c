/* log.c: write(2) from a stack buffer, errno preserved; one line per call. */
#include "log.h"
#include "envvars.h"
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* TESTMON_SHIM_LOG's levels (envvars.h) are this enum's, by number */
_Static_assert(sizeof((const char *[])SHIM_ENVVARS_LOG_LEVELS) / sizeof(const char *) ==
                   SHIM_LOG_DEBUG + 1, "one level name per shim_log_level");

static atomic_int level = SHIM_LOG_ERROR;
static atomic_int file_fd = -1;
static char tag[48] = "";
static char deferred[320]; /* a problem found at load, reported where the shim is in use */

int shim_log_configure(const char *spec)
{
    if (!spec || !*spec)
        return 0; /* the level stays what it is */
    const char *file;
    int lv = shim_envvars_log(spec, &file);
    if (lv < 0)
        return -1; /* reported by shim_settings_report() where the shim is in use */
    if (file) {
        int saved = errno;
        int fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
            snprintf(deferred, sizeof deferred, "cannot open log file %s: %s; logging to stderr",
                     file, strerror(errno));
        else
            atomic_store(&file_fd, fd);
        errno = saved;
    }
    atomic_store(&level, lv);
    return 0;
}

void shim_log_report_deferred(void)
{
    if (deferred[0])
        shim_log_error("%s", deferred);
    deferred[0] = 0;
}

int shim_log_enabled(int lv) { return lv <= atomic_load_explicit(&level, memory_order_relaxed); }

void shim_log_set_tag(const char *t) { snprintf(tag, sizeof tag, "%s", t ? t : ""); }

void shim_log(int lv, const char *fmt, ...)
{
    if (!shim_log_enabled(lv))
        return;
    int saved = errno;
    static const char *const names[] = {"error", "warning", "info", "debug"};
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "testmon-shim[%ld]%s%s: %s: ", (long)getpid(),
                     tag[0] ? " " : "", tag, names[lv]);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof buf)
        n += vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof buf - 1)
        n = (int)sizeof buf - 2;
    for (int i = 0; i < n; i++) /* one message, one line */
        if ((unsigned char)buf[i] < 0x20)
            buf[i] = ' ';
    buf[n++] = '\n';
    int fd = atomic_load(&file_fd);
    /* Errors go to stderr even when a log file is set: the user must see them. */
    if (fd < 0 || lv == SHIM_LOG_ERROR) {
        ssize_t w = write(STDERR_FILENO, buf, (size_t)n);
        (void)w;
    }
    if (fd >= 0) {
        ssize_t w = write(fd, buf, (size_t)n);
        (void)w;
    }
    errno = saved;
}
