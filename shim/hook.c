/* hook.c: see hook.h.  In three steps: plan every hook on a fresh page (stubs, trampolines, the
 * jumps that will replace the entries) and read the targets' protection, with nothing changed;
 * hand the trampolines to `ready`; write the entries with the other threads held (park.h),
 * putting back whatever was written when a step fails. */
#include "hook.h"
#include "maps.h"
#include "park.h"
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
enum {
    SLOT = 128,     /* per hook: its stub, then its trampoline */
    STUB = 16,      /* the stub: an absolute jump to the replacement */
    JMP5 = 5,       /* jmp rel32: what replaces the entry */
    ENDBR = 4,      /* endbr64 */
    MAX_HOOKS = 16,
    MAX_SPAN = 24,  /* bytes replaced at one entry: 4 + an instruction of at most 15, rounded */
    SCAN = 64,      /* bytes of a function read when its size is unknown */
};
static const uint8_t endbr64[ENDBR] = {0xF3, 0x0F, 0x1E, 0xFA};

/* One hook, planned: what is written where, what was there, and what that page's protection is. */
struct site {
    uint8_t *at;     /* where the jump goes: the entry, or just after its endbr64 */
    size_t len;      /* bytes replaced there: whole instructions, at least JMP5 */
    uint8_t jump[MAX_SPAN], saved[MAX_SPAN];
    uint8_t *code;   /* the moved instructions, in the trampoline */
    struct shim_x86_moved moved;
    uintptr_t page[2]; /* the one or two pages [at, at + len) touches */
    int prot[2];
    int npages;
    int live;        /* the jump is in place */
};

/* Everything the write needs, and what it leaves for the message (said once the threads are
 * released: nothing that allocates runs while they are held). */
struct plan {
    struct site s[MAX_HOOKS];
    int n;
    size_t pagesz;
    int err;             /* errno of the first mprotect refused */
    const void *err_at;
    int err_restoring;   /* 0: making it writable; 1: giving its protection back */
    int stuck;           /* hooks written that could not be put back */
};

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
static void put_abs_jump(uint8_t *at, uintptr_t to)
{
    static const uint8_t op[6] = {0xFF, 0x25, 0, 0, 0, 0};
    memcpy(at, op, sizeof op);
    memcpy(at + sizeof op, &to, sizeof to);
}

/* Into buf: `jmp rel32` that, run at `from`, goes to `to` (within 32-bit reach: alloc_near). */
static void put_rel_jump(uint8_t *buf, uintptr_t from, uintptr_t to)
{
    int32_t rel = (int32_t)((int64_t)to - (int64_t)(from + JMP5));
    buf[0] = 0xE9;
    memcpy(buf + 1, &rel, 4);
}

/* --- the write, with the other threads held: system calls and memcpy only --- */

/* Make the site's pages writable (or give them their protection back).  A page that was
 * writable already is left alone. */
static int set_writable(struct plan *p, struct site *s, int writable)
{
    for (int k = 0; k < s->npages; k++) {
        if (s->prot[k] & PROT_WRITE)
            continue;
        if (mprotect((void *)s->page[k], p->pagesz,
                     writable ? s->prot[k] | PROT_WRITE : s->prot[k]) != 0) {
            if (!p->err)
                p->err = errno, p->err_at = s->at, p->err_restoring = !writable;
            return -1;
        }
    }
    return 0;
}

static int write_all(void *arg)
{
    struct plan *p = arg;
    int i;
    for (i = 0; i < p->n; i++) {
        struct site *s = &p->s[i];
        if (set_writable(p, s, 1) != 0)
            break;
        memcpy(s->at, s->jump, s->len);
        s->live = 1;
        if (set_writable(p, s, 0) != 0)
            break; /* written, and put back below with the others */
    }
    if (i == p->n)
        return 0;
    /* Put back every site written, this one included: the stub page they lead to goes. */
    for (; i >= 0; i--) {
        struct site *s = &p->s[i];
        if (!s->live)
            continue;
        if (set_writable(p, s, 1) != 0) {
            p->stuck++; /* stays hooked: its stub page must stay too */
            continue;
        }
        memcpy(s->at, s->saved, s->len);
        s->live = 0;
        set_writable(p, s, 0); /* failing, it leaves a writable page with the code as it was */
    }
    return -1;
}

/* A thread held at pc inside the bytes a live jump replaced goes on at the same instruction in
 * the trampoline; anywhere else, it stays. */
static uintptr_t move(void *arg, uintptr_t pc)
{
    const struct plan *p = arg;
    for (int i = 0; i < p->n; i++) {
        const struct site *s = &p->s[i];
        uintptr_t at = (uintptr_t)s->at;
        if (!s->live || pc <= at || pc >= at + s->len)
            continue;
        for (int k = 0; k < s->moved.n; k++)
            if (at + s->moved.src_off[k] == pc)
                return (uintptr_t)s->code + s->moved.dst_off[k];
    }
    return pc;
}

/* --- planning --- */

static int plan_site(struct plan *p, int i, struct shim_hook *h, uint8_t *slot, char *why,
                     size_t whysz)
{
    struct site *s = &p->s[i];
    uint8_t *entry = h->target, *tramp = slot + STUB;
    size_t size = h->size ? h->size : SCAN, avail = size < SCAN ? size : SCAN;
    int ibt = avail >= ENDBR && memcmp(entry, endbr64, ENDBR) == 0;
    const char *w = NULL;
    s->at = entry + (ibt ? ENDBR : 0);
    s->code = tramp + (ibt ? ENDBR : 0);
    put_abs_jump(slot, (uintptr_t)h->replacement);
    if (ibt)
        memcpy(tramp, endbr64, ENDBR);
    s->len = shim_x86_relocate(s->at, (uintptr_t)s->at, avail - (ibt ? ENDBR : 0), JMP5, s->code,
                               (uintptr_t)s->code, SLOT - STUB - ENDBR - JMP5, &s->moved, &w);
    /* A branch elsewhere in the function that lands inside the bytes replaced would land in
     * the middle of the jump. */
    if (!s->len || s->len > MAX_SPAN ||
        shim_x86_branch_into(s->at, (uintptr_t)s->at, s->len, size - (ibt ? ENDBR : 0), s->len)) {
        snprintf(why, whysz, "cannot hook the function at %p: %s", (void *)entry,
                 w ? w : s->len > MAX_SPAN ? "too long an instruction" : "a branch into its first bytes");
        return -1;
    }
    uint8_t *back = s->code + s->moved.dst_len;
    put_rel_jump(back, (uintptr_t)back, (uintptr_t)s->at + s->len);
    h->trampoline = tramp;
    put_rel_jump(s->jump, (uintptr_t)s->at, (uintptr_t)slot);
    memset(s->jump + JMP5, 0xCC, s->len - JMP5); /* never run: int3 if they are */
    memcpy(s->saved, s->at, s->len);
    s->page[0] = (uintptr_t)s->at & ~(p->pagesz - 1);
    s->page[1] = ((uintptr_t)s->at + s->len - 1) & ~(p->pagesz - 1);
    s->npages = s->page[1] != s->page[0] ? 2 : 1;
    return 0;
}

/* The protection each page had: what it gets back.  Unknown (no /proc): code, r-x. */
static void read_protections(struct plan *p)
{
    uintptr_t at[MAX_HOOKS * 2];
    int prot[MAX_HOOKS * 2];
    for (int i = 0; i < p->n; i++)
        at[2 * i] = p->s[i].page[0], at[2 * i + 1] = p->s[i].page[1];
    shim_maps_prot(at, 2 * p->n, prot);
    for (int i = 0; i < 2 * p->n; i++)
        p->s[i / 2].prot[i % 2] = prot[i] >= 0 ? prot[i] : PROT_READ | PROT_EXEC;
}

static void say_refused(const struct plan *p, char *why, size_t whysz)
{
    const char *policy = p->err == EACCES || p->err == EPERM
        ? ": a policy forbids writable code (SELinux execmod, PaX MPROTECT, systemd's "
          "MemoryDenyWriteExecute)" : "";
    const char *stuck = p->stuck ? "; a hook written could not be taken out and stays" : "";
    if (p->err_restoring)
        snprintf(why, whysz, "cannot give SQLite's code at %p its protection back after hooking "
                 "it (mprotect: %s)%s%s", p->err_at, strerror(p->err), policy, stuck);
    else
        snprintf(why, whysz, "cannot make SQLite's code at %p writable to hook it (mprotect: "
                 "%s)%s%s", p->err_at, strerror(p->err), policy, stuck);
}

static int install(struct shim_hook *hooks, int n, shim_hook_ready_fn ready, void *arg,
                   struct shim_park_stats *stats, char *why, size_t whysz)
{
    if (stats)
        *stats = (struct shim_park_stats){0, 0};
    if (n < 1 || n > MAX_HOOKS) {
        snprintf(why, whysz, "cannot hook %d functions (1 to %d)", n, MAX_HOOKS);
        return -1;
    }
    for (int i = 0; i < n; i++)
        hooks[i].trampoline = NULL;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < n; i++) {
        uintptr_t t = (uintptr_t)hooks[i].target;
        lo = t < lo ? t : lo;
        hi = t + SCAN > hi ? t + SCAN : hi;
    }
    static struct plan plan; /* large; one install per process (the constructor's) at a time */
    struct plan *p = &plan;
    memset(p, 0, sizeof *p);
    p->n = n;
    p->pagesz = (size_t)sysconf(_SC_PAGESIZE);
    size_t len = ((size_t)n * SLOT + p->pagesz - 1) & ~(p->pagesz - 1);
    uint8_t *page = alloc_near(lo, hi, len);
    if (!page) {
        snprintf(why, whysz, "no memory could be mapped near SQLite's code for the hooks");
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (plan_site(p, i, &hooks[i], page + (size_t)i * SLOT, why, whysz) != 0) {
            for (int j = 0; j < n; j++)
                hooks[j].trampoline = NULL;
            munmap(page, len);
            return -1;
        }
    if (mprotect(page, len, PROT_READ | PROT_EXEC) != 0) {
        snprintf(why, whysz, "cannot make the hooks' page executable (%s): a policy forbids "
                 "code written at run time (SELinux execmem, PaX MPROTECT, systemd's "
                 "MemoryDenyWriteExecute)", strerror(errno));
        for (int j = 0; j < n; j++)
            hooks[j].trampoline = NULL;
        munmap(page, len);
        return -1;
    }
    read_protections(p);
    if (ready)
        ready(hooks, n, arg);
    int rc = shim_park_run(write_all, move, p, stats, why, whysz);
    if (rc == 0)
        return 0;
    if (p->err) /* else park.h said why: nothing was written */
        say_refused(p, why, whysz);
    for (int i = 0; i < n; i++)
        if (!p->s[i].live)
            hooks[i].trampoline = NULL;
    if (!p->stuck)
        munmap(page, len);
    return -1;
}

int shim_hook_install(struct shim_hook *hooks, int n, shim_hook_ready_fn ready, void *arg,
                      struct shim_park_stats *stats, char *why, size_t whysz)
{
    int saved = errno; /* the mmap tries near the targets fail on purpose */
    int rc = install(hooks, n, ready, arg, stats, why, whysz);
    errno = saved;
    return rc;
}
#else
int shim_hook_install(struct shim_hook *hooks, int n, shim_hook_ready_fn ready, void *arg,
                      struct shim_park_stats *stats, char *why, size_t whysz)
{
    (void)hooks, (void)n, (void)ready, (void)arg;
    if (stats)
        *stats = (struct shim_park_stats){0, 0};
    snprintf(why, whysz, "hooking SQLite linked into the interpreter is implemented for x86-64 "
             "only");
    return -1;
}
#endif
