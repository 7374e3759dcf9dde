/* guard.h: per-thread re-entrancy depth.
 *
 * libsqlite3 calls its own API through its PLT (sqlite3_exec -> sqlite3_prepare_v2 -> ...), and
 * the shim's policies call SQLite too.  Only the outermost call on a thread applies a policy;
 * anything nested passes straight through.  initial-exec TLS keeps this at one load. */
#ifndef SHIM_GUARD_H
#define SHIM_GUARD_H
extern _Thread_local int shim_depth;
static inline int shim_nested(void) { return shim_depth > 0; }
static inline void shim_enter(void) { shim_depth++; }
static inline void shim_leave(void) { shim_depth--; }
#endif
