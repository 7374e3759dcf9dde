/* test_hook.c: the symbol-table reader (elfsym.c) and entry hooks (hook.c) on this program's own
 * functions, as static.c uses them on an interpreter with SQLite linked in.  Hooks change code
 * for good, so each case runs in a forked child. */
#include "elfsym.h"
#include "hook.h"
#include "object.h"
#include "unit.h"
#include <dlfcn.h>

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
/* Too short to hold a 5-byte jump: `lea eax, [rdi+1]; ret`, written out so that coverage and
 * sanitizer builds cannot lengthen it. */
#if defined(__x86_64__)
__asm__(".text\n.globl tiny_fn\n.hidden tiny_fn\n.type tiny_fn, @function\ntiny_fn:\n"
        "  lea 1(%rdi), %eax\n  ret\n.size tiny_fn, .-tiny_fn\n");
int tiny_fn(int x);
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
                           : fn == (void *)&second_fn ? "second_fn" : "tiny_fn"};
    struct shim_elfsym s;
    struct shim_object o;
    shim_object_of(fn, &o);
    return shim_elfsym_lookup(shim_object_path(&o), names, 1, &s) == 1 ? s.size : 0;
}

#if defined(__x86_64__)
static void hooked(void)
{
    /* through the volatile pointers: GCC knows these functions have no side effects and would
     * move direct calls past the hook */
    long want_t = call_target(50, 3), want_s = call_second(4, 9);
    struct shim_hook h[2] = {{(void *)&target_fn, size_of((void *)&target_fn), (void *)&repl_target, NULL},
                             {(void *)&second_fn, size_of((void *)&second_fn), (void *)&repl_second, NULL}};
    char why[256] = "";
    CHECK_EQ_INT(shim_hook_install(h, 2, why, sizeof why), 0);
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
    CHECK_EQ_INT(shim_hook_install(h, 2, why, sizeof why), -1);
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
    CHECK_EQ_INT(shim_hook_install(h, 17, why, sizeof why), -1);
    CHECK_CONTAINS(why, "cannot hook 17 functions");
    CHECK_EQ_INT(shim_hook_install(h, 0, why, sizeof why), -1);
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
    CHECK_EQ_INT(shim_hook_install(h, 1, why, sizeof why), -1);
    CHECK_CONTAINS(why, "implemented for x86-64 only");
    CHECK(memcmp(before, (void *)&target_fn, sizeof before) == 0, "nothing written");
    CHECK(h[0].trampoline == NULL, "no trampoline");
    CHECK(call_target(7, 1) == want && calls == 0, "still the original");
}
#endif

int main(void)
{
    unit_watchdog(20);
    RUN_FORKED(symbols_of_a_library);
    RUN_FORKED(symbols);
#if defined(__x86_64__)
    RUN_FORKED(hooked);
    RUN_FORKED(all_or_none);
    RUN_FORKED(counts_out_of_range);
#else
    RUN_FORKED(refused_elsewhere);
#endif
    return unit_finish();
}
