/* safefile.h: read a coordination file the safe way, and judge a coordination directory.
 * Shared by the library and the testmon-shim command, so both refuse exactly the same files
 * and directories.
 *
 * Never through a symlink (O_NOFOLLOW), only a regular file owned by us, at most
 * SHIM_COORD_MAX_BYTES, and a whole JSON object with nothing after it. */
#ifndef SHIM_SAFEFILE_H
#define SHIM_SAFEFILE_H
#include <cJSON.h>
#include <stddef.h>
#include <sys/stat.h>

#define SHIM_COORD_MAX_BYTES (16u << 20)

/* The parsed object, or NULL: *missing set when the file does not exist, else `why` says what
 * is wrong with it (e.g. "owned by uid 65534, not us").  errno is preserved. */
cJSON *shim_read_json_file(const char *path, int *missing, char *why, size_t whysz);

/* What the coordination directory `dir` is (lstat, never followed; nothing is created).  Only
 * OK and CREATABLE let a run use it.  *st is filled when the directory exists, `parent` (may be
 * NULL) names the directory that would hold it when it does not; errno is preserved. */
enum shim_dir_state {
    SHIM_DIR_OK,            /* a directory of ours that nobody else can write */
    SHIM_DIR_CREATABLE,     /* absent, and its parent lets us create it */
    SHIM_DIR_UNCREATABLE,   /* absent, and its parent does not */
    SHIM_DIR_UNINSPECTABLE, /* lstat failed for another reason than its absence */
    SHIM_DIR_NOT_DIR,       /* a file or a symlink */
    SHIM_DIR_FOREIGN,       /* another user's */
    SHIM_DIR_OPEN,          /* writable by group or others */
};
enum shim_dir_state shim_dir_state(const char *dir, struct stat *st, char *parent,
                                   size_t parentsz);
#endif
