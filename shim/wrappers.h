/* wrappers.h: the functions that stand in for SQLite's where the shim manages calls.  Nothing
 * here is exported: a managed sqlite3 module's import slots (pymod.h) and the entry hooks of an
 * interpreter with SQLite linked in (static.h) lead to them, and nothing else can. */
#ifndef SHIM_WRAPPERS_H
#define SHIM_WRAPPERS_H
#include "pymod.h"
#include "real.h"

/* The wrapper of each function api.h marks WRAP or WRAP_OPT (NULL for the others), and the open
 * entry of each watchable sqlite3 module: for init.c to hand to pymod.h and static.h. */
void shim_wrappers(void *wrappers[SHIM_REAL_COUNT], shim_open_fn opens[SHIM_MAX_PYMODS]);
#endif
