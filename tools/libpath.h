/* libpath.h: where the library is, and how it joins LD_PRELOAD. */
#ifndef TOOL_LIBPATH_H
#define TOOL_LIBPATH_H
#include <stddef.h>

#define TOOL_LIB_NAME "libtestmon_shim.so"

/* The library's absolute path: $TESTMON_SHIM_LIB, else <bindir>/../lib/libtestmon_shim.so, else
 * <bindir>/libtestmon_shim.so (the build tree).  0, or -1 with a one-line reason in why. */
int tool_find_library(char *out, size_t outsz, char *why, size_t whysz);

/* The new LD_PRELOAD value: the existing entries (separated by ':' or blanks, as glibc reads
 * them) without lib itself and without any other copy of libtestmon_shim.so, which would watch
 * the same sqlite3 module, then lib last: what the user preloaded keeps its place (a sanitizer
 * runtime must come first), and the shim needs no particular one.  Returns a malloc'd string (NULL on allocation failure); *dropped
 * is set to the number of other copies removed. */
char *tool_compose_preload(const char *lib, const char *existing, int *dropped);
#endif
