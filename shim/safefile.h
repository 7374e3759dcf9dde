/* safefile.h: read a coordination file the safe way.  Shared by the library and the
 * testmon-shim command, so both refuse exactly the same files.
 *
 * Never through a symlink (O_NOFOLLOW), only a regular file owned by us, at most
 * SHIM_COORD_MAX_BYTES, and a whole JSON object with nothing after it. */
#ifndef SHIM_SAFEFILE_H
#define SHIM_SAFEFILE_H
#include <cJSON.h>
#include <stddef.h>

#define SHIM_COORD_MAX_BYTES (16u << 20)

/* The parsed object, or NULL: *missing set when the file does not exist, else `why` says what
 * is wrong with it (e.g. "owned by uid 65534, not us").  errno is preserved. */
cJSON *shim_read_json_file(const char *path, int *missing, char *why, size_t whysz);
#endif
