/* hook.h: make a function that is called directly, without an import slot, jump to ours instead.
 *
 * For SQLite linked into the interpreter (static.h): the function's first instructions are
 * replaced by a 5-byte jump to a stub near it, which jumps on to `replacement`; the instructions
 * that were replaced move to a trampoline that runs them and jumps back, so calling *trampoline
 * is calling the original.  The stubs live on one page mapped within 32-bit reach of the targets.
 * All hooks are installed or none.  Must run before any thread can call a target (the library's
 * constructor): the 5 bytes are not written atomically.  x86-64 only (x86.h); elsewhere, and when
 * the system forbids writing code (an SELinux or PaX policy), it refuses with the reason. */
#ifndef SHIM_HOOK_H
#define SHIM_HOOK_H
#include <stddef.h>

struct shim_hook {
    void *target;      /* the function to hook */
    size_t size;       /* its size in bytes (from the symbol table), 0 if unknown */
    void *replacement; /* where calls to target go */
    void *trampoline;  /* out: the original function */
};

/* 0, or -1 with a one-line reason in why (nothing changed). */
int shim_hook_install(struct shim_hook *hooks, int n, char *why, size_t whysz);
#endif
