/* datafile.h: is this open() about testmon's datafile?
 *
 * testmon names its file `<rootdir>/.testmondata` or $TESTMON_DATAFILE, as a plain path or as a
 * `file:` URI (2.0.14+ add `?mode=ro`; 2.0.0/2.0.1 use a cwd-relative `file:.testmondata`).
 * The same file must be recognised however it is spelled, so names are reduced to a canonical
 * absolute path (symlinks resolved, URI decoded) before they are compared. */
#ifndef SHIM_DATAFILE_H
#define SHIM_DATAFILE_H
#include <stddef.h>

#define SHIM_DATAFILE_BASENAME ".testmondata"
/* The table of the datafile whose pre-run rows workers must see (controller.h, worker.h). */
#define SHIM_ENV_TABLE "environment"

/* Cheap first look, no system call: could `filename` name a datafile at all?  Its last component
 * (before a URI's query) must be .testmondata, unless $TESTMON_DATAFILE is set, when any name may
 * be an alias of it and only the canonical comparison can tell.  Keeps realpath() off bystanders'
 * opens. */
int shim_datafile_maybe(const char *filename);

/* Canonical absolute path of `filename` as SQLite would open it (`uri`: SQLITE_OPEN_URI was
 * given, or the name starts with "file:", which Debian's SQLite treats as a URI anyway).
 * Returns 0, or -1 for names that are no file (":memory:", "", mode=memory, too long). */
int shim_datafile_canonical(const char *filename, int uri, char *out, size_t outsz);

/* Does the canonical path name a testmon datafile by name: basename .testmondata, or the file
 * that $TESTMON_DATAFILE names?  Identity (which one, this process) is role.c's business. */
int shim_datafile_is_candidate(const char *canonical);
#endif
