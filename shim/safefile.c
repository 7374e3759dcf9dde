/* safefile.c: see safefile.h.  No logging here: callers word the message for their users. */
#include "safefile.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

cJSON *shim_read_json_file(const char *path, int *missing, char *why, size_t whysz)
{
    int saved = errno;
    *missing = 0;
    why[0] = 0;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT)
            *missing = 1;
        else if (errno == ELOOP)
            snprintf(why, whysz, "a symlink");
        else
            snprintf(why, whysz, "%s", strerror(errno));
        errno = saved;
        return NULL;
    }
    struct stat st;
    cJSON *json = NULL;
    char *buf = NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, whysz, "not a regular file");
    } else if (st.st_uid != geteuid()) {
        snprintf(why, whysz, "owned by uid %ld, not us", (long)st.st_uid);
    } else if ((unsigned long long)st.st_size > SHIM_COORD_MAX_BYTES) {
        snprintf(why, whysz, "%lld bytes is too large", (long long)st.st_size);
    } else if (!(buf = malloc((size_t)st.st_size + 1))) {
        snprintf(why, whysz, "out of memory");
    } else {
        size_t off = 0;
        while (off < (size_t)st.st_size) {
            ssize_t r = read(fd, buf + off, (size_t)st.st_size - off);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            off += (size_t)r;
        }
        const char *end = NULL;
        json = cJSON_ParseWithLengthOpts(buf, off, &end, 0);
        while (json && end && end < buf + off && strchr(" \t\r\n", *end))
            end++;
        if (!json || !cJSON_IsObject(json) || end != buf + off) { /* trailing junk too */
            snprintf(why, whysz, "not valid JSON (truncated or corrupt)");
            cJSON_Delete(json);
            json = NULL;
        }
    }
    free(buf);
    close(fd);
    errno = saved;
    return json;
}

enum shim_dir_state shim_dir_state(const char *dir, struct stat *st, char *parent,
                                   size_t parentsz)
{
    int saved = errno;
    enum shim_dir_state r;
    if (lstat(dir, st) != 0) {
        if (errno != ENOENT) {
            r = SHIM_DIR_UNINSPECTABLE;
        } else {
            char up[4096];
            snprintf(up, sizeof up, "%s", dir);
            char *slash = strrchr(up, '/');
            if (!slash)
                snprintf(up, sizeof up, ".");
            else if (slash == up)
                up[1] = 0; /* "/" */
            else
                *slash = 0;
            if (parent)
                snprintf(parent, parentsz, "%s", up);
            r = access(up, W_OK | X_OK) == 0 ? SHIM_DIR_CREATABLE : SHIM_DIR_UNCREATABLE;
        }
    } else if (!S_ISDIR(st->st_mode)) {
        r = SHIM_DIR_NOT_DIR;
    } else if (st->st_uid != geteuid()) {
        r = SHIM_DIR_FOREIGN;
    } else if (st->st_mode & 022) {
        r = SHIM_DIR_OPEN;
    } else {
        r = SHIM_DIR_OK;
    }
    errno = saved;
    return r;
}
