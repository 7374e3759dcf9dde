/* test_hook.c: the symbol-table reader (elfsym.c) and entry hooks (hook.c, park.c) on this
 * program's own functions, as static.c uses them on an interpreter with SQLite linked in: threads
 * calling a function while its hook goes in, an entry that starts with endbr64, the pages'
 * protection given back, a write that fails half way put back.  Hooks change code for good, so
 * each case runs in a forked child. */
#include "elfsym.h"
#include "hook.h"
#include "object.h"
#include "unit.h"
#include <dlfcn.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

/* mprotect, as the shim's objects linked into this program call it: a test can make one call
 * refuse (the n-th one that asks `prot` for the page of `page`), as a security policy would. */
static struct rule {
    uintptr_t page;
    int prot, nth, calls;
} refuse[2] = {{0, -1, 0, 0}, {0, -1, 0, 0}};
int mprotect(void *addr, size_t len, int prot)
{
    for (int i = 0; i < 2; i++)
        if (refuse[i].prot == prot && (uintptr_t)addr == refuse[i].page &&
            ++refuse[i].calls == refuse[i].nth) {
            errno = EACCES;
            return -1;
        }
    return (int)syscall(SYS_mprotect, addr, len, prot);
}
static __attribute__((unused)) void refuse_nth(int rule, const void *addr, int prot, int nth)
{
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    refuse[rule] = (struct rule){(uintptr_t)addr & ~(pg - 1), prot, nth, 0};
}

/* The two functions most cases hook: s = 0, then s += (b ^ i) * 3 + (s >> 3) for i < a; and
 * s = 7, then s = s * 31 + a + i for i < b.  On x86-64 they are written out (below), as the
 * others: compiled, a sanitizer or coverage build fills them with rip-relative displacements to
 * its own data, whose bytes change with the program's layout, and the hook's deliberately
 * conservative scan for branches into the moved bytes (shim_x86_branch_into: a byte scan, not
 * a decode) then refuses a layout where such a byte pair happens to look like one. */
#if defined(__x86_64__)
__asm__(".text\n.globl target_fn\n.hidden target_fn\n.type target_fn, @function\ntarget_fn:\n"
        "  xor %eax, %eax\n  xor %ecx, %ecx\n  test %rdi, %rdi\n  jle 2f\n"
        "1:\n  mov %rsi, %rdx\n  xor %rcx, %rdx\n  lea (%rdx,%rdx,2), %rdx\n  mov %rax, %r8\n"
        "  sar $3, %r8\n  add %r8, %rdx\n  add %rdx, %rax\n  add $1, %rcx\n  cmp %rcx, %rdi\n"
        "  jg 1b\n2:\n  ret\n.size target_fn, .-target_fn\n"
        ".globl second_fn\n.hidden second_fn\n.type second_fn, @function\nsecond_fn:\n"
        "  mov $7, %eax\n  xor %ecx, %ecx\n  test %rsi, %rsi\n  jle 2f\n"
        "1:\n  imul $31, %rax, %rax\n  add %rdi, %rax\n  add %rcx, %rax\n  add $1, %rcx\n"
        "  cmp %rcx, %rsi\n  jg 1b\n2:\n  ret\n.size second_fn, .-second_fn\n");
long target_fn(long a, long b);
long second_fn(long a, long b);
#else
__attribute__((noinline)) long target_fn(long a, long b)
{
    long s = 0;
    for (long i = 0; i < a; i++)
        s += (b ^ i) * 3 + (s >> 3);
    return s;
}
__attribute__((noinline)) long second_fn(long a, long b)
{
    long s = 7;
    for (long i = 0; i < b; i++)
        s = s * 31 + a + i;
    return s;
}
#endif
/* Too short to hold a 5-byte jump: `lea eax, [rdi+1]; ret`, written out so that coverage and
 * sanitizer builds cannot lengthen it. */
#if defined(__x86_64__)
__asm__(".text\n.globl tiny_fn\n.hidden tiny_fn\n.type tiny_fn, @function\ntiny_fn:\n"
        "  lea 1(%rdi), %eax\n  ret\n.size tiny_fn, .-tiny_fn\n");
int tiny_fn(int x);
/* Written out too, so that every build has these exact entries.  loop_fn(x) returns x + 1 with
 * three instructions in the 6 bytes a hook moves (push rbx; push r12; mov rax, rdi), so a thread
 * calling it in a loop may be stopped between two of them.  wait_fn(p) returns *p + 1: its load,
 * the second of the 8 bytes moved, can be made to wait (userfaultfd), so that a thread is
 * certainly there when the hook goes in.  endbr_fn: an entry built for CET IBT (endbr64 first). */
__asm__(".text\n.globl loop_fn\n.hidden loop_fn\n.type loop_fn, @function\nloop_fn:\n"
        "  push %rbx\n  push %r12\n  mov %rdi, %rax\n  add $1, %rax\n  pop %r12\n  pop %rbx\n"
        "  ret\n.size loop_fn, .-loop_fn\n"
        ".globl wait_fn\n.hidden wait_fn\n.type wait_fn, @function\nwait_fn:\n"
        "  push %rbx\n  mov (%rdi), %rbx\n  lea 1(%rbx), %rax\n  pop %rbx\n  ret\n"
        ".size wait_fn, .-wait_fn\n"
        ".globl endbr_fn\n.hidden endbr_fn\n.type endbr_fn, @function\nendbr_fn:\n"
        "  endbr64\n  push %rbx\n  lea 2(%rdi), %rax\n  pop %rbx\n  ret\n"
        ".size endbr_fn, .-endbr_fn\n");
long loop_fn(long x);
long wait_fn(const long *p);
long endbr_fn(long x);
#else
__attribute__((noinline)) int tiny_fn(int x) { return x + 1; }
#endif

static long (*volatile call_target)(long, long) = target_fn;
static long (*volatile call_second)(long, long) = second_fn;
static long (*orig_target)(long, long), (*orig_second)(long, long);
static int calls;
static long repl_target(long a, long b) { calls++; return orig_target(a, b) + 1000; }
static __attribute__((unused)) long repl_second(long a, long b) { calls++; return orig_second(a, b) - 1; }

static void symbols(void)
{
    const char *names[] = {"target_fn", "second_fn", "no_such_function_here", "main"};
    struct shim_elfsym s[4];
    struct shim_object o;
    CHECK(shim_object_of((void *)&target_fn, &o), "");
    CHECK_EQ_INT(shim_elfsym_lookup(shim_object_path(&o), names, 4, s), 3);
    CHECK(o.bias + s[0].value == (uintptr_t)&target_fn, "target_fn at its address");
    CHECK(s[0].size > 5, "size %zu", s[0].size);
    CHECK(o.bias + s[1].value == (uintptr_t)&second_fn, "");
    CHECK(s[2].value == 0, "a name not there is 0");
    /* the same program stripped of its symbol table, and files that are not ELF */
    char stripped[PATH_MAX], cmd[PATH_MAX * 2 + 64], text[PATH_MAX];
    snprintf(stripped, sizeof stripped, "%s/stripped", unit_tmpdir());
    /* this program's path as it reads its own /proc/self/exe: objcopy reading /proc/<pid>/exe
     * under qemu-user would find the emulator there, not this program */
    char self[PATH_MAX];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    self[sl > 0 ? sl : 0] = 0;
    snprintf(cmd, sizeof cmd, "objcopy --strip-all '%s' %s", self, stripped);
    if (system(cmd) == 0)
        CHECK_EQ_INT(shim_elfsym_lookup(stripped, names, 4, s), SHIM_ELFSYM_STRIPPED);
    else
        unit_skip("objcopy not available");
    snprintf(text, sizeof text, "%s/text", unit_tmpdir());
    unit_write_file(text, "not an ELF file\n");
    CHECK_EQ_INT(shim_elfsym_lookup(text, names, 4, s), SHIM_ELFSYM_UNREADABLE);
    CHECK_EQ_INT(shim_elfsym_lookup("/nonexistent/x", names, 4, s), SHIM_ELFSYM_UNREADABLE);
    /* truncated: the header promises section headers past the end */
    snprintf(cmd, sizeof cmd, "head -c 4096 /proc/%d/exe > %s", (int)getpid(), text);
    CHECK(system(cmd) == 0, "");
    CHECK_EQ_INT(shim_elfsym_lookup(text, names, 4, s), SHIM_ELFSYM_UNREADABLE);
}

/* The other layout: the functions inside a shared library, its load bias not the program's. */
static void symbols_of_a_library(void)
{
    void *h = dlopen(UNIT_BUILD_DIR "/libhidden.so", RTLD_NOW | RTLD_LOCAL);
    CHECK(h != NULL, "%s", dlerror());
    if (!h)
        return;
    int (*entry)(int) = (int (*)(int))dlsym(h, "exported_entry");
    CHECK(dlsym(h, "hidden_twice") == NULL, "hidden from the dynamic linker");
    struct shim_object o;
    CHECK(shim_object_of((void *)entry, &o), "");
    CHECK_CONTAINS(shim_object_path(&o), "libhidden.so");
    const char *names[] = {"hidden_twice", "exported_entry"};
    struct shim_elfsym s[2];
    CHECK_EQ_INT(shim_elfsym_lookup(shim_object_path(&o), names, 2, s), 2);
    CHECK(o.bias + s[1].value == (uintptr_t)entry, "the exported one where dlsym has it");
    int (*hidden)(int) = (int (*)(int))(o.bias + s[0].value);
    CHECK_EQ_INT(hidden(20), 41); /* callable: it is the function */
    CHECK_EQ_INT(shim_elfsym_lookup(UNIT_BUILD_DIR "/libhidden-stripped.so", names, 2, s),
                 SHIM_ELFSYM_STRIPPED);
    dlclose(h);
}

static size_t size_of(void *fn)
{
    const char *names[] = {fn == (void *)&target_fn ? "target_fn"
                           : fn == (void *)&second_fn ? "second_fn"
#if defined(__x86_64__)
                           : fn == (void *)&loop_fn ? "loop_fn"
                           : fn == (void *)&wait_fn ? "wait_fn"
                           : fn == (void *)&endbr_fn ? "endbr_fn"
#endif
                           : "tiny_fn"};
    struct shim_elfsym s;
    struct shim_object o;
    shim_object_of(fn, &o);
    return shim_elfsym_lookup(shim_object_path(&o), names, 1, &s) == 1 ? s.size : 0;
}

#if defined(__x86_64__)
/* Is this run one where a signal arrives only at some points of a thread's code?  TSan delivers
 * it at the thread's next intercepted call, valgrind between its blocks of translated code:
 * neither ever stops a thread between two moved instructions. */
static int signals_deferred(void)
{
#if defined(__SANITIZE_THREAD__)
    return 1;
#else
    const char *p = getenv("LD_PRELOAD");
    return p && strstr(p, "vgpreload");
#endif
}

/* Both also keep threads of their own with every signal blocked: ThreadSanitizer's background
 * thread (in every process that started a thread, and again in each forked child), and every
 * thread valgrind is not running at the moment.  So the hooks are refused there, as for any
 * thread that cannot be held (park.h); a case that needs them says so and stops. */
static int tool_refused(int rc, const char *why)
{
    if (signals_deferred() && rc == -1 && strstr(why, "blocks SIGURG")) {
        unit_skip("this run's own threads (ThreadSanitizer's, valgrind's) block every signal: "
                  "the hooks are refused, as for any thread that cannot be held");
        return 1;
    }
    return 0;
}

static void hooked(void)
{
    /* through the volatile pointers: GCC knows these functions have no side effects and would
     * move direct calls past the hook */
    long want_t = call_target(50, 3), want_s = call_second(4, 9);
    struct shim_hook h[2] = {{(void *)&target_fn, size_of((void *)&target_fn), (void *)&repl_target, NULL},
                             {(void *)&second_fn, size_of((void *)&second_fn), (void *)&repl_second, NULL}};
    char why[256] = "";
    int rc = shim_hook_install(h, 2, NULL, NULL, NULL, why, sizeof why);
    if (tool_refused(rc, why))
        return;
    CHECK_EQ_INT(rc, 0);
    if (why[0])
        unit_printf("  why: %s\n", why);
    orig_target = (long (*)(long, long))h[0].trampoline;
    orig_second = (long (*)(long, long))h[1].trampoline;
    if (!orig_target || !orig_second)
        return;
    CHECK(call_target(50, 3) == want_t + 1000, "a call goes to the replacement");
    CHECK(call_second(4, 9) == want_s - 1, "");
    CHECK_EQ_INT(calls, 2);
    CHECK(orig_target(50, 3) == want_t, "the trampoline runs the original");
    CHECK(orig_second(4, 9) == want_s, "");
    CHECK_EQ_INT(calls, 2);
}

static void all_or_none(void)
{
    uint8_t before[8];
    memcpy(before, (void *)&target_fn, sizeof before);
    long want = call_target(7, 1);
    struct shim_hook h[2] = {{(void *)&target_fn, size_of((void *)&target_fn), (void *)&repl_target, NULL},
                             {(void *)&tiny_fn, size_of((void *)&tiny_fn), (void *)&repl_second, NULL}};
    char why[256] = "";
    CHECK_EQ_INT(shim_hook_install(h, 2, NULL, NULL, NULL, why, sizeof why), -1);
    CHECK_CONTAINS(why, "cannot hook");
    CHECK(memcmp(before, (void *)&target_fn, sizeof before) == 0, "the first one left alone");
    CHECK(call_target(7, 1) == want && calls == 0, "still the original");
}

/* A count out of range is refused before anything is mapped or written. */
static void counts_out_of_range(void)
{
    uint8_t before[8];
    memcpy(before, (void *)&target_fn, sizeof before);
    struct shim_hook h[17];
    for (int i = 0; i < 17; i++)
        h[i] = (struct shim_hook){(void *)&target_fn, size_of((void *)&target_fn),
                                  (void *)&repl_target, NULL};
    char why[256] = "";
    CHECK_EQ_INT(shim_hook_install(h, 17, NULL, NULL, NULL, why, sizeof why), -1);
    CHECK_CONTAINS(why, "cannot hook 17 functions");
    CHECK_EQ_INT(shim_hook_install(h, 0, NULL, NULL, NULL, why, sizeof why), -1);
    CHECK_CONTAINS(why, "cannot hook 0 functions");
    CHECK(memcmp(before, (void *)&target_fn, sizeof before) == 0, "nothing written");
    CHECK(h[0].trampoline == NULL, "no trampoline");
}
#else
/* Elsewhere (aarch64) the hook refuses, with the reason static.c passes on to the line the
 * controller says, and changes nothing. */
static void refused_elsewhere(void)
{
    uint8_t before[16];
    memcpy(before, (void *)&target_fn, sizeof before);
    long want = call_target(7, 1);
    struct shim_hook h[1] = {{(void *)&target_fn, size_of((void *)&target_fn),
                              (void *)&repl_target, NULL}};
    char why[256] = "";
    CHECK_EQ_INT(shim_hook_install(h, 1, NULL, NULL, NULL, why, sizeof why), -1);
    CHECK_CONTAINS(why, "implemented for x86-64 only");
    CHECK(memcmp(before, (void *)&target_fn, sizeof before) == 0, "nothing written");
    CHECK(h[0].trampoline == NULL, "no trampoline");
    CHECK(call_target(7, 1) == want && calls == 0, "still the original");
}
#endif

#if defined(__x86_64__)
/* --- threads --- */

static long (*volatile call_loop)(long) = loop_fn;
static long (*orig_loop)(long);
static long repl_loop(long x) { return __atomic_load_n(&orig_loop, __ATOMIC_ACQUIRE)(x) + 1000; }

struct looper {
    pthread_t t;
    int stop;
    long calls, hooked, wrong;
};

static void *loop(void *arg)
{
    struct looper *l = arg;
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    for (long i = 0; !__atomic_load_n(&l->stop, __ATOMIC_RELAXED); i++) {
        long r = call_loop(i);
        if (r == i + 1001)
            __atomic_fetch_add(&l->hooked, 1, __ATOMIC_RELAXED);
        else if (r != i + 1)
            __atomic_fetch_add(&l->wrong, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&l->calls, 1, __ATOMIC_RELAXED);
#if defined(__SANITIZE_THREAD__)
        if (!(i & 255)) { /* TSan hands the thread its signal in an interceptor */
            pthread_mutex_lock(&m);
            pthread_mutex_unlock(&m);
        }
#endif
    }
    (void)m;
    return NULL;
}

static void loop_ready(const struct shim_hook *h, int n, void *arg)
{
    (void)n, (void)arg;
    __atomic_store_n(&orig_loop, (long (*)(long))h[0].trampoline, __ATOMIC_RELEASE);
}

enum { LOOPERS = 3, ROUNDS = 10 };
struct round {
    int rc, held, moved, wrong, all_saw_hook, entry_jumps;
    char why[256];
};

/* One process: LOOPERS threads call loop_fn in a loop while its hook goes in. */
static void one_round(struct round *out)
{
    struct looper l[LOOPERS];
    memset(l, 0, sizeof l);
    for (int i = 0; i < LOOPERS; i++)
        pthread_create(&l[i].t, NULL, loop, &l[i]);
    for (int i = 0; i < LOOPERS; i++)
        while (__atomic_load_n(&l[i].calls, __ATOMIC_RELAXED) < 1000)
            sched_yield();
    struct shim_hook h = {(void *)&loop_fn, size_of((void *)&loop_fn), (void *)&repl_loop, NULL};
    struct shim_park_stats st = {-1, -1};
    orig_loop = NULL;
    /* the trampoline is set before the jump is written (as static.c fills the table of real
     * functions): a thread may call through the hook at once */
    out->rc = shim_hook_install(&h, 1, loop_ready, NULL, &st, out->why, sizeof out->why);
    out->held = st.threads, out->moved = st.moved;
    long long until = unit_now_us() + unit_scaled_ms(5000) * 1000LL;
    out->all_saw_hook = 1;
    for (int i = 0; i < LOOPERS && out->rc == 0; i++)
        while (__atomic_load_n(&l[i].hooked, __ATOMIC_RELAXED) < 100 && unit_now_us() < until)
            sched_yield();
    for (int i = 0; i < LOOPERS; i++) {
        __atomic_store_n(&l[i].stop, 1, __ATOMIC_RELAXED);
        pthread_join(l[i].t, NULL);
        out->wrong += (int)l[i].wrong;
        out->all_saw_hook &= l[i].hooked >= 100;
    }
    out->entry_jumps = ((uint8_t *)&loop_fn)[0] == 0xE9;
}

static void threads_while_hooking(void)
{
    struct round *r = mmap(NULL, sizeof *r * ROUNDS, PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(r != MAP_FAILED, "");
    int rounds = 0, moved = 0, held = 0, failed = 0;
    /* each round a process of its own: the hook is for good */
    for (; rounds < ROUNDS; rounds++) {
        struct round *me = &r[rounds];
        memset(me, 0, sizeof *me);
        me->rc = -2;
        pid_t pid = fork();
        if (pid == 0) {
            one_round(me);
            _exit(0);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        if (tool_refused(me->rc, me->why))
            break;
        int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0 && me->rc == 0 && me->wrong == 0 &&
                 me->all_saw_hook && me->entry_jumps && me->held == LOOPERS;
        if (!ok && failed++ < 3)
            CHECK(ok, "round %d: status 0x%x, rc %d (%s), %d wrong results, every thread saw "
                  "the hook: %d, the entry jumps: %d, %d threads held", rounds, st, me->rc,
                  me->why, me->wrong, me->all_saw_hook, me->entry_jumps, me->held);
        moved += me->moved, held += me->held;
    }
    CHECK_EQ_INT(failed, 0);
    unit_printf("  %d rounds: %d threads held while the hook went in, %d of them moved from "
                "between two moved instructions to the trampoline\n", rounds, held, moved);
    munmap(r, sizeof *r * ROUNDS);
}

/* A thread certainly between two moved instructions: wait_fn's load waits for a page that
 * userfaultfd holds back until the hook is in.  It goes on in the trampoline (its call started
 * before the hook: the original's result), and the next call is hooked.  Without being moved it
 * would resume in the middle of the jump. */
static long (*orig_wait)(const long *);
static long repl_wait(const long *p) { return orig_wait(p) + 1000; }
static void wait_ready(const struct shim_hook *h, int n, void *arg)
{
    (void)n, (void)arg;
    __atomic_store_n(&orig_wait, (long (*)(const long *))h[0].trampoline, __ATOMIC_RELEASE);
}
static long (*volatile call_wait)(const long *) = wait_fn;
static void *waiting(void *arg)
{
    long r = call_wait(arg);
    return (void *)r;
}

static void a_thread_between_two_moved_instructions(void)
{
    if (signals_deferred()) {
        unit_skip("a thread waiting in a page fault takes its signal at chosen points only here");
        return;
    }
    long pg = sysconf(_SC_PAGESIZE);
    int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
    struct uffdio_api api = {.api = UFFD_API};
    long *page = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct uffdio_register reg = {.range = {(uintptr_t)page, (uint64_t)pg},
                                  .mode = UFFDIO_REGISTER_MODE_MISSING};
    if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) != 0 || ioctl(uffd, UFFDIO_REGISTER, &reg) != 0) {
        unit_printf("SKIP [%s] userfaultfd: %s\n", unit_current, strerror(errno));
        return;
    }
    pthread_t t;
    pthread_create(&t, NULL, waiting, page);
    struct uffd_msg msg;
    CHECK(read(uffd, &msg, sizeof msg) == (ssize_t)sizeof msg &&
          msg.event == UFFD_EVENT_PAGEFAULT, "the thread waits in wait_fn's load");
    struct shim_hook h = {(void *)&wait_fn, size_of((void *)&wait_fn), (void *)&repl_wait, NULL};
    struct shim_park_stats st = {-1, -1};
    char why[512] = "";
    CHECK_EQ_INT(shim_hook_install(&h, 1, wait_ready, NULL, &st, why, sizeof why), 0);
    CHECK(st.threads == 1 && st.moved == 1, "held %d, moved %d", st.threads, st.moved);
    long *src = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    src[0] = 41;
    struct uffdio_copy cp = {(uintptr_t)page, (uintptr_t)src, (uint64_t)pg, 0, 0};
    CHECK(ioctl(uffd, UFFDIO_COPY, &cp) == 0, "%s", strerror(errno));
    void *r = NULL;
    pthread_join(t, &r);
    CHECK((long)r == 42, "the waiting call finished as the original (%ld)", (long)r);
    CHECK(call_wait(page) == 1042, "the next call is hooked");
    close(uffd);
}

/* A thread that blocks the signal that holds threads: nothing is written, the line says which. */
static void *blocking(void *arg)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGURG);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    __atomic_store_n((int *)arg, 1, __ATOMIC_RELEASE);
    while (__atomic_load_n((int *)arg, __ATOMIC_ACQUIRE) == 1)
        unit_sleep_ms(1);
    return NULL;
}

static void a_thread_that_blocks_the_signal(void)
{
    int flag = 0;
    pthread_t t;
    pthread_create(&t, NULL, blocking, &flag);
    while (!__atomic_load_n(&flag, __ATOMIC_ACQUIRE))
        unit_sleep_ms(1);
    uint8_t before[8];
    memcpy(before, (void *)&loop_fn, sizeof before);
    struct shim_hook h = {(void *)&loop_fn, size_of((void *)&loop_fn), (void *)&repl_loop, NULL};
    char why[256] = "";
    errno = 33;
    CHECK_EQ_INT(shim_hook_install(&h, 1, NULL, NULL, NULL, why, sizeof why), -1);
    CHECK_EQ_INT(errno, 33);
    CHECK_CONTAINS(why, "blocks SIGURG, with which the other threads are held");
    CHECK(memcmp(before, (void *)&loop_fn, sizeof before) == 0, "nothing written");
    CHECK(h.trampoline == NULL, "");
    CHECK(call_loop(41) == 42, "the original runs");
    __atomic_store_n(&flag, 2, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
}

/* A thread that cannot take the signal in time (the parent of a vfork waits in the kernel until
 * its child execs or exits): the wait is bounded, and nothing is written. */
static void *vforking(void *arg)
{
    (void)arg;
    pid_t pid = vfork();
    if (pid == 0) {
        struct timespec t = {(SHIM_PARK_WAIT_MS + 1500) / 1000, 0};
        syscall(SYS_nanosleep, &t, NULL); /* a vfork child: system calls only */
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    return NULL;
}

static void a_thread_that_does_not_stop(void)
{
    if (signals_deferred()) {
        unit_skip("vfork is emulated by fork here");
        return;
    }
    pthread_t t;
    pthread_create(&t, NULL, vforking, NULL);
    unit_sleep_ms(100); /* in vfork by now */
    struct shim_hook h = {(void *)&loop_fn, size_of((void *)&loop_fn), (void *)&repl_loop, NULL};
    char why[256] = "";
    long long t0 = unit_now_us();
    CHECK_EQ_INT(shim_hook_install(&h, 1, NULL, NULL, NULL, why, sizeof why), -1);
    long long took = unit_now_us() - t0;
    CHECK_CONTAINS(why, "did not stop within");
    CHECK(took >= SHIM_PARK_WAIT_MS * 1000LL && took < (SHIM_PARK_WAIT_MS + 1000) * 1000LL,
          "gave up after %lld us", took);
    CHECK(((uint8_t *)&loop_fn)[0] == 0x53, "nothing written");
    pthread_join(t, NULL);
    CHECK(call_loop(1) == 2, "the original runs, the late signal ignored");
}

/* --- endbr64 --- */

static long (*volatile call_endbr)(long) = endbr_fn;
static long (*orig_endbr)(long);
static long repl_endbr(long x) { return orig_endbr(x) + 1000; }
static const uint8_t ENDBR64[4] = {0xF3, 0x0F, 0x1E, 0xFA};

static int ready_calls, ready_saw_original;
static void ready(const struct shim_hook *h, int n, void *arg)
{
    ready_calls++;
    ready_saw_original = n == 1 && h[0].trampoline && arg == (void *)&ready_calls &&
                         ((const uint8_t *)h[0].target)[4] == 0x53; /* push rbx, unwritten */
    orig_endbr = (long (*)(long))h[0].trampoline;
}

static void endbr_stays(void)
{
    struct shim_hook h = {(void *)&endbr_fn, size_of((void *)&endbr_fn), (void *)&repl_endbr, NULL};
    char why[256] = "";
    int rc = shim_hook_install(&h, 1, ready, &ready_calls, NULL, why, sizeof why);
    if (tool_refused(rc, why))
        return;
    CHECK_EQ_INT(rc, 0);
    CHECK(ready_calls == 1 && ready_saw_original, "ready: the trampoline first, then the entry");
    const uint8_t *entry = (const uint8_t *)&endbr_fn, *tramp = h.trampoline;
    CHECK(memcmp(entry, ENDBR64, 4) == 0, "the entry still starts with endbr64");
    CHECK(entry[4] == 0xE9, "the jump after it (%02x)", entry[4]);
    CHECK(tramp && memcmp(tramp, ENDBR64, 4) == 0, "the trampoline starts with endbr64 too");
    CHECK(call_endbr(5) == 1007, "an indirect call reaches the replacement");
    CHECK(orig_endbr(5) == 7, "the trampoline, called through a pointer, runs the original");
}

/* --- protection --- */

/* The permissions /proc/self/maps shows for the page of p ("r-xp"), into out. */
static void perms_of(const void *p, char out[5])
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    strcpy(out, "?");
    while (f && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && (uintptr_t)p >= lo &&
            (uintptr_t)p < hi)
            snprintf(out, 5, "%s", perms);
    }
    if (f)
        fclose(f);
}

static void protection_given_back(void)
{
    char before[5], after[5];
    /* code of this program: r-x, and r-x again */
    perms_of((void *)&loop_fn, before);
    struct shim_hook h = {(void *)&loop_fn, size_of((void *)&loop_fn), (void *)&repl_loop, NULL};
    char why[256] = "";
    int rc = shim_hook_install(&h, 1, NULL, NULL, NULL, why, sizeof why);
    if (tool_refused(rc, why))
        return;
    CHECK_EQ_INT(rc, 0);
    orig_loop = (long (*)(long))h.trampoline;
    perms_of((void *)&loop_fn, after);
    CHECK_STR(before, "r-xp");
    CHECK_STR(after, before);
    /* a function on an rwx page (a JIT's): rwx again, not r-x */
    uint8_t *rwx = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(rwx != MAP_FAILED, "");
    /* push rbx; mov rax, rdi; add rax, 1; pop rbx; ret */
    static const uint8_t loop_bytes[] = {0x53, 0x48, 0x89, 0xF8, 0x48, 0x83, 0xC0, 0x01, 0x5B, 0xC3};
    memcpy(rwx + 64, loop_bytes, sizeof loop_bytes);
    struct shim_hook h2 = {rwx + 64, sizeof loop_bytes, (void *)&repl_loop, NULL};
    CHECK_EQ_INT(shim_hook_install(&h2, 1, NULL, NULL, NULL, why, sizeof why), 0);
    perms_of(rwx + 64, after);
    CHECK_STR(after, "rwxp");
    long (*copy)(long) = (long (*)(long))(void *)(rwx + 64);
    CHECK(copy(1) == 1002, "the copy is hooked (to the same replacement)");
    munmap(rwx, 4096);
}

/* The second mprotect of the second hook (its protection back) fails after its bytes were
 * written: both are put back, and the page of stubs they led to can go. */
static void put_back_when_protection_cannot_be_restored(void)
{
    long want_t = call_target(9, 2), want_s = call_second(3, 4);
    uint8_t before_t[16], before_s[16];
    memcpy(before_t, (void *)&target_fn, 16);
    memcpy(before_s, (void *)&second_fn, 16);
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    struct shim_hook h[2] = {{(void *)&target_fn, size_of((void *)&target_fn), (void *)&repl_target, NULL},
                             {(void *)&second_fn, size_of((void *)&second_fn), (void *)&repl_second, NULL}};
    /* the page of second_fn: its second "give back r-x" is hook 2's (hook 1 on the same page
     * gave it back once before), or its first when the two are on different pages */
    int same = ((uintptr_t)&second_fn & ~(pg - 1)) == ((uintptr_t)&target_fn & ~(pg - 1));
    refuse_nth(0, (void *)&second_fn, PROT_READ | PROT_EXEC, same ? 2 : 1);
    char why[256] = "";
    errno = 21;
    int rc = shim_hook_install(h, 2, NULL, NULL, NULL, why, sizeof why);
    if (tool_refused(rc, why))
        return;
    CHECK_EQ_INT(rc, -1);
    CHECK_EQ_INT(errno, 21);
    CHECK_CONTAINS(why, "its protection back after hooking it (mprotect: Permission denied): a "
                        "policy forbids writable code");
    CHECK(memcmp(before_t, (void *)&target_fn, 16) == 0, "the first hook put back");
    CHECK(memcmp(before_s, (void *)&second_fn, 16) == 0, "the second one put back too");
    CHECK(!h[0].trampoline && !h[1].trampoline, "no trampoline");
    CHECK(call_target(9, 2) == want_t && call_second(3, 4) == want_s && calls == 0,
          "the originals run");
    char perms[5];
    perms_of((void *)&second_fn, perms);
    CHECK_STR(perms, "r-xp");
}

/* Refused at once (making the page writable): the line names the policies; and when even putting
 * a hook back is refused, that hook stays, whole, with its trampoline. */
static void refused_by_a_policy(void)
{
    struct shim_hook h = {(void *)&loop_fn, size_of((void *)&loop_fn), (void *)&repl_loop, NULL};
    refuse_nth(0, (void *)&loop_fn, PROT_READ | PROT_WRITE | PROT_EXEC, 1);
    char why[512] = "";
    int rc = shim_hook_install(&h, 1, NULL, NULL, NULL, why, sizeof why);
    if (tool_refused(rc, why))
        return;
    CHECK_EQ_INT(rc, -1);
    CHECK_CONTAINS(why, "writable to hook it (mprotect: Permission denied): a policy forbids "
                        "writable code (SELinux execmod, PaX MPROTECT");
    CHECK(((uint8_t *)&loop_fn)[0] == 0x53 && !h.trampoline, "nothing written");
    /* written; its protection back refused; making it writable again to put it back refused */
    refuse_nth(0, (void *)&loop_fn, PROT_READ | PROT_EXEC, 1);
    refuse_nth(1, (void *)&loop_fn, PROT_READ | PROT_WRITE | PROT_EXEC, 2);
    CHECK_EQ_INT(shim_hook_install(&h, 1, loop_ready, NULL, NULL, why, sizeof why), -1);
    CHECK_CONTAINS(why, "a hook written could not be taken out and stays");
    CHECK(((uint8_t *)&loop_fn)[0] == 0xE9 && h.trampoline, "the hook, whole, and its trampoline");
    CHECK(call_loop(1) == 1002, "calls go through it to the original");
}
#endif

int main(void)
{
    unit_watchdog(60);
    RUN_FORKED(symbols_of_a_library);
    RUN_FORKED(symbols);
#if defined(__x86_64__)
    RUN_FORKED(hooked);
    RUN_FORKED(all_or_none);
    RUN_FORKED(counts_out_of_range);
    RUN_FORKED(endbr_stays);
    RUN_FORKED(protection_given_back);
    RUN_FORKED(put_back_when_protection_cannot_be_restored);
    RUN_FORKED(refused_by_a_policy);
    RUN_FORKED(a_thread_that_blocks_the_signal);
    RUN_FORKED(a_thread_that_does_not_stop);
    RUN_FORKED(a_thread_between_two_moved_instructions);
    RUN(threads_while_hooking);
#else
    RUN_FORKED(refused_elsewhere);
#endif
    return unit_finish();
}
