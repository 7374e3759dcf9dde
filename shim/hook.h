/* hook.h: make a function that is called directly, without an import slot, jump to ours instead.
 *
 * For SQLite linked into the interpreter (static.h): the function's first instructions are
 * replaced by a 5-byte jump to a stub near it, which jumps on to `replacement`; the instructions
 * that were replaced move to a trampoline that runs them and jumps back, so calling *trampoline
 * is calling the original.  The stubs live on one page mapped within 32-bit reach of the targets.
 * All hooks are installed or none.
 *
 * Threads.  The library's constructor may run while other threads exist: the pytest plugin loads
 * it with ctypes into a running interpreter (an xdist worker already has execnet's receiving
 * thread then; a debugger or an IDE runner has its own).  So the entry points are written while
 * every other thread is held in a signal handler, and a thread held between two of the moved
 * instructions goes on at the same instruction in the trampoline (park.h, which also says why
 * neither one atomic store nor the kernel's int3-first sequence would be enough: they make the
 * write atomic, not the instructions a thread has half run).  With no other thread (the library
 * preloaded) nobody is held.
 *
 * endbr64.  A function built for Intel's indirect branch tracking (CET IBT, -fcf-protection)
 * starts with endbr64, where every indirect call must land.  It stays there: the jump is written
 * after it, the trampoline (which the shim calls through a pointer) starts with an endbr64 of its
 * own, and it jumps back with a direct jmp, which needs none.
 *
 * Protection.  The pages written are made writable (their protection plus PROT_WRITE, so that
 * they stay executable) for the write, and then given back the protection /proc/self/maps
 * showed before (maps.h), not an assumed r-x.  A system that forbids writable code (SELinux
 * execmod, PaX MPROTECT, systemd's MemoryDenyWriteExecute, prctl PR_SET_MDWE) refuses the
 * mprotect: then nothing is changed, and the reason names the policy.
 *
 * x86-64 only (x86.h); elsewhere it refuses with the reason. */
#ifndef SHIM_HOOK_H
#define SHIM_HOOK_H
#include "park.h"
#include <stddef.h>

struct shim_hook {
    void *target;      /* the function to hook */
    size_t size;       /* its size in bytes (from the symbol table), 0 if unknown */
    void *replacement; /* where calls to target go */
    void *trampoline;  /* out: the original function; NULL where the hook is not in place */
};

/* Called once every trampoline is ready and before any entry point is written, so that what
 * calls the trampolines (the table of real functions) is in place before the first call arrives
 * through a hook, from any thread. */
typedef void (*shim_hook_ready_fn)(const struct shim_hook *hooks, int n, void *arg);

/* Install the n hooks: 0, or -1 with a one-line reason in why.  On -1 no entry point is changed
 * (each trampoline is NULL), except where a written one could not be put back because mprotect
 * refused twice: that hook stays, and its trampoline with it.  `ready` may be NULL; stats (may be
 * NULL) says how many other threads were held and moved. */
int shim_hook_install(struct shim_hook *hooks, int n, shim_hook_ready_fn ready, void *arg,
                      struct shim_park_stats *stats, char *why, size_t whysz);
#endif
