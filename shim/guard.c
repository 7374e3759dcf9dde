/* guard.c: the per-thread re-entrancy depth (guard.h).  Defined here, in its own module, so
 * that the wrappers and the dispatcher use a leaf's symbol, not init's. */
#include "guard.h"

_Thread_local int shim_depth;
