/* hook.c: see hook.h. */
#include "hook.h"
#include "x86.h"
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000 /* Linux 4.17; older kernels take it as a hint */
#endif

#if defined(__x86_64__)
enum { SLOT = 128, STUB = 16, JMP5 = 5 };

static int reach32(uintptr_t from, uintptr_t to)
{
    int64_t d = (int64_t)to - (int64_t)from;
    return d > (int64_t)INT32_MIN + 4096 && d < (int64_t)INT32_MAX - 4096;
}

/* A page within 32-bit reach of [lo, hi): tried just below and just above, a megabyte apart. */
static uint8_t *alloc_near(uintptr_t lo, uintptr_t hi, size_t len)
{
    const uintptr_t step = 1 << 20;
    for (uintptr_t off = step; off < (1u << 30); off += step) {
        uintptr_t cands[2] = {(hi + off) & ~(step - 1), lo > off + step ? (lo - off) & ~(step - 1) : 0};
        for (int i = 0; i < 2; i++) {
            if (!cands[i])
                continue;
            void *p = mmap((void *)cands[i], len, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
            if (p == MAP_FAILED)
                continue;
            uintptr_t a = (uintptr_t)p;
            if (reach32(a, lo) && reach32(a, hi) && reach32(a + len, lo) && reach32(a + len, hi))
                return p;
            munmap(p, len);
        }
    }
    return NULL;
}

/* `jmp [rip+0]` followed by the absolute address: 14 bytes, reaches anywhere. */
static size_t put_abs_jump(uint8_t *at, uintptr_t to)
{
    static const uint8_t op[6] = {0xFF, 0x25, 0, 0, 0, 0};
    memcpy(at, op, sizeof op);
    memcpy(at + sizeof op, &to, sizeof to);
    return sizeof op + sizeof to;
}

/* Write `len` bytes at code address `at`, making its pages writable for the moment. */
static int write_code(uint8_t *at, const uint8_t *bytes, size_t len)
{
    long pg = sysconf(_SC_PAGESIZE);
    uintptr_t first = (uintptr_t)at & ~(uintptr_t)(pg - 1);
    size_t span = (uintptr_t)at + len - first;
    if (mprotect((void *)first, span, PROT_READ | PROT_WRITE | PROT_EXEC) != 0)
        return -1;
    memcpy(at, bytes, len);
    return mprotect((void *)first, span, PROT_READ | PROT_EXEC);
}

int shim_hook_install(struct shim_hook *hooks, int n, char *why, size_t whysz)
{
    enum { MAX_HOOKS = 16 };
    if (n < 1 || n > MAX_HOOKS) {
        snprintf(why, whysz, "cannot hook %d functions (1 to %d)", n, MAX_HOOKS);
        return -1;
    }
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < n; i++) {
        uintptr_t t = (uintptr_t)hooks[i].target;
        lo = t < lo ? t : lo;
        hi = t + 64 > hi ? t + 64 : hi;
    }
    long pg = sysconf(_SC_PAGESIZE);
    size_t len = ((size_t)n * SLOT + (size_t)pg - 1) & ~(size_t)(pg - 1);
    uint8_t *page = alloc_near(lo, hi, len);
    if (!page) {
        snprintf(why, whysz, "no memory could be mapped near SQLite's code for the hooks");
        return -1;
    }
    /* Plan every hook first: stubs and trampolines, and the jumps that will replace entries. */
    uint8_t entry[MAX_HOOKS][24];
    size_t stolen[MAX_HOOKS];
    for (int i = 0; i < n; i++) {
        uint8_t *slot = page + (size_t)i * SLOT, *tramp = slot + STUB;
        const uint8_t *code = hooks[i].target;
        size_t size = hooks[i].size ? hooks[i].size : 64, out = 0;
        const char *w = NULL;
        put_abs_jump(slot, (uintptr_t)hooks[i].replacement);
        stolen[i] = shim_x86_relocate(code, (uintptr_t)code, size < 64 ? size : 64, JMP5, tramp,
                                      (uintptr_t)tramp, SLOT - STUB - 14, &out, &w);
        if (!stolen[i] || shim_x86_branch_into(code, (uintptr_t)code, stolen[i], size, stolen[i])) {
            snprintf(why, whysz, "cannot hook the function at %p: %s", (void *)code,
                     w ? w : "a branch into its first bytes");
            munmap(page, len);
            return -1;
        }
        put_abs_jump(tramp + out, (uintptr_t)code + stolen[i]);
        hooks[i].trampoline = tramp;
        int32_t rel = (int32_t)((int64_t)(uintptr_t)slot - (int64_t)((uintptr_t)code + JMP5));
        entry[i][0] = 0xE9;
        memcpy(&entry[i][1], &rel, 4);
        memset(&entry[i][JMP5], 0xCC, sizeof entry[i] - JMP5); /* never run: trap if they are */
    }
    if (mprotect(page, len, PROT_READ | PROT_EXEC) != 0) {
        snprintf(why, whysz, "cannot make the hooks' page executable (%s): a security policy "
                 "forbids it", strerror(errno));
        munmap(page, len);
        return -1;
    }
    uint8_t saved[MAX_HOOKS][24];
    for (int i = 0; i < n; i++) {
        memcpy(saved[i], hooks[i].target, stolen[i]);
        if (write_code(hooks[i].target, entry[i], stolen[i]) != 0) {
            int e = errno;
            for (int j = 0; j < i; j++) /* put back what was changed */
                write_code(hooks[j].target, saved[j], stolen[j]);
            snprintf(why, whysz, "cannot write SQLite's code to hook it (%s): a security policy "
                     "forbids it", strerror(e));
            munmap(page, len);
            return -1;
        }
    }
    return 0;
}
#else
int shim_hook_install(struct shim_hook *hooks, int n, char *why, size_t whysz)
{
    (void)hooks, (void)n;
    snprintf(why, whysz, "hooking SQLite linked into the interpreter is implemented for x86-64 "
             "only");
    return -1;
}
#endif
