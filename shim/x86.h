/* x86.h: just enough of x86-64 to move a function's first instructions elsewhere.
 *
 * To hook a function of an interpreter that has SQLite linked in (hook.h), its first 5 bytes
 * become a jump; the instructions they held are copied to a trampoline that then jumps back, so
 * the original function stays callable.  Copying means decoding instruction lengths and
 * re-aiming anything relative to the instruction pointer: RIP-relative operands, and relative
 * jumps and calls (short ones are widened to 32 bits).  Only the instructions compilers put at
 * the start of functions are known; anything else is refused, never guessed. */
#ifndef SHIM_X86_H
#define SHIM_X86_H
#include <stddef.h>
#include <stdint.h>

struct shim_x86_insn {
    int len;      /* bytes */
    int rel_at;   /* offset of a 32-bit RIP-relative displacement or branch offset; 0: none */
    int branch;   /* 1: jcc/jmp/call with a relative target (rel8 or rel32) */
    int call;     /* 1: a call (E8): it leaves its return address, inside the function, on a stack */
    int ends;     /* 1: control never falls through (ret, jmp) */
    int64_t disp; /* the relative operand's value (for branches and RIP-relative operands) */
};

/* Decode the instruction at p (at most `avail` bytes).  Returns its length, or 0 if it is not one
 * of the known forms (then *why names it). */
int shim_x86_decode(const uint8_t *p, size_t avail, struct shim_x86_insn *out, const char **why);

/* Where each moved instruction starts, in the source and in the copy: a thread stopped between
 * two of them while the hook goes in (hook.h) goes on at the same instruction in the copy. */
#define SHIM_X86_MAX_MOVED 16
struct shim_x86_moved {
    size_t src_len; /* bytes taken from the source */
    size_t dst_len; /* bytes written to the copy (a widened short branch is longer) */
    int n;          /* instructions */
    uint16_t src_off[SHIM_X86_MAX_MOVED], dst_off[SHIM_X86_MAX_MOVED];
};

/* Copy whole instructions from `src` (which runs at address src_at) until at least `need` bytes
 * are covered, re-encoded to run at dst_at, into dst (capacity dstcap).  Returns the number of
 * source bytes taken and fills *moved, or returns 0 with *why set: an unknown instruction, a
 * branch into the bytes being moved, a function that ends first, a call before the last of them
 * (a thread inside the callee would return into the jump that replaces them), or a target out of
 * 32-bit reach of dst_at. */
size_t shim_x86_relocate(const uint8_t *src, uintptr_t src_at, size_t avail, size_t need,
                         uint8_t *dst, uintptr_t dst_at, size_t dstcap,
                         struct shim_x86_moved *moved, const char **why);

/* Does any relative branch in code[from, len) (code runs at `at`) look like it lands strictly
 * inside (at, at + stolen)?  A byte scan that may see branches that are not there (then the
 * hook is refused, which is safe) but misses none of rel32 form, nor rel8 ones; see x86.c. */
int shim_x86_branch_into(const uint8_t *code, uintptr_t at, size_t from, size_t len,
                         size_t stolen);
#endif
