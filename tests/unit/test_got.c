/* test_got.c: finding an object's import slots and rewriting them (got.c), on objects that call
 * SQLite as _sqlite3 does (fixtures/gotlib.c): lazily bound with partial RELRO (libgot.so), and
 * with -z now, where every slot is read-only after relocation (libgot-now.so). */
#include "got.h"
#include "unit.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>

static const char *const names[] = {"sqlite3_libversion_number", "sqlite3_open_v2",
                                    "sqlite3_errmsg", "no_such_function"};
enum { VERSION, OPEN, ERRMSG, NONE, NNAMES };

struct lib {
    void *h;
    int (*version)(void);
    const void *(*errmsg_ptr)(void);
    const char *(*errmsg)(sqlite3 *);
};

static struct lib load(const char *file)
{
    struct lib l = {0};
    l.h = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    CHECK(l.h != NULL, "%s", dlerror());
    if (l.h) {
        l.version = (int (*)(void))dlsym(l.h, "gotlib_version");
        l.errmsg_ptr = (const void *(*)(void))dlsym(l.h, "gotlib_errmsg_ptr");
        l.errmsg = (const char *(*)(sqlite3 *))dlsym(l.h, "gotlib_errmsg");
    }
    return l;
}

/* The permissions of the mapping holding addr, as /proc/self/maps shows them ("r--p"). */
static void perms_of(const void *addr, char out[5])
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    strcpy(out, "?");
    while (f && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char p[5];
        if (sscanf(line, "%lx-%lx %4s", &lo, &hi, p) == 3 && (uintptr_t)addr >= lo &&
            (uintptr_t)addr < hi)
            strcpy(out, p);
    }
    if (f)
        fclose(f);
}

static int fake_version(void) { return 4242; }
static const char *fake_errmsg(sqlite3 *db)
{
    (void)db;
    return "fake";
}

static void finds_slots(const char *file)
{
    struct lib l = load(file);
    if (!l.h)
        return;
    struct shim_got_import imp[NNAMES];
    char why[256] = "";
    int n = shim_got_find_at((void *)l.version, names, NNAMES, imp, why, sizeof why);
    CHECK_EQ_INT(n, 3);
    CHECK(imp[VERSION].plt && imp[OPEN].plt, "the calls' slots (JUMP_SLOT)");
    /* called and its address taken: a pointer slot, and on aarch64 a PLT slot too (x86-64's
     * linker makes the PLT jump through the pointer slot instead) */
    CHECK(imp[ERRMSG].ptr != NULL, "its pointer slot");
    CHECK(!imp[NONE].plt && !imp[NONE].ptr, "not the one it does not import");
    void *lib = dlopen("libsqlite3.so.0", RTLD_NOLOAD | RTLD_LAZY);
    /* bound at load (RTLD_NOW): each slot holds libsqlite3's function */
    CHECK(imp[VERSION].plt && *imp[VERSION].plt == dlsym(lib, names[VERSION]), "version bound");
    CHECK(imp[ERRMSG].ptr && *imp[ERRMSG].ptr == l.errmsg_ptr(), "the pointer it reads");
    dlclose(lib);
    dlclose(l.h);
}

static void test_finds_lazy(void) { finds_slots(UNIT_BUILD_DIR "/libgot.so"); }
static void test_finds_now(void) { finds_slots(UNIT_BUILD_DIR "/libgot-now.so"); }

/* The program's own slots: an executable, PIE or not, is an object like any other. */
static void test_finds_in_the_program(void)
{
    struct shim_got_import imp[NNAMES];
    char why[256];
    CHECK(sqlite3_libversion_number() > 0, "the program calls it");
    CHECK(shim_got_find_at((void *)&test_finds_in_the_program, names, NNAMES, imp, why,
                           sizeof why) >= 1, "%s", why);
    CHECK(imp[VERSION].plt || imp[VERSION].ptr, "the program's version slot");
}

/* Rewriting one object's slot redirects its calls and nobody else's; protection comes back. */
static void rewrites(const char *file, const char *want_perms)
{
    struct lib l = load(file);
    if (!l.h)
        return;
    int real = sqlite3_libversion_number();
    CHECK_EQ_INT(l.version(), real);
    struct shim_got_import imp[1];
    char why[256] = "", before[5], after[5];
    const char *one[1] = {names[VERSION]};
    CHECK_EQ_INT(shim_got_find_at((void *)l.version, one, 1, imp, why, sizeof why), 1);
    void **slot[1] = {imp[0].plt};
    void *orig = *slot[0];
    perms_of(slot[0], before);
    CHECK(strcmp(before, want_perms) == 0, "slot page %s, want %s", before, want_perms);
    void *fake[1] = {(void *)fake_version};
    int written = -1;
    errno = 4321;
    CHECK_EQ_INT(shim_got_write(slot, fake, 1, &written, why, sizeof why), 0);
    CHECK_EQ_INT(errno, 4321);
    CHECK_EQ_INT(written, 1);
    CHECK_EQ_INT(l.version(), 4242);
    CHECK_EQ_INT(sqlite3_libversion_number(), real); /* the program's own call: untouched */
    perms_of(slot[0], after);
    CHECK(strcmp(after, before) == 0, "protection back: %s, was %s", after, before);
    void *back[1] = {orig};
    CHECK_EQ_INT(shim_got_write(slot, back, 1, &written, why, sizeof why), 0);
    CHECK_EQ_INT(l.version(), real);
    dlclose(l.h);
}

static void test_rewrites_lazy(void) { rewrites(UNIT_BUILD_DIR "/libgot.so", "rw-p"); }
static void test_rewrites_relro(void) { rewrites(UNIT_BUILD_DIR "/libgot-now.so", "r--p"); }

/* Threads call through the slot while it is rewritten back and forth: every call reaches one of
 * the two functions, whole. */
static atomic_int stop_calls;
static void *caller(void *arg)
{
    int (*version)(void) = (int (*)(void))arg;
    long bad = 0, calls = 0;
    int real = sqlite3_libversion_number();
    while (!atomic_load(&stop_calls)) {
        int v = version();
        bad += v != real && v != 4242;
        calls++;
    }
    return (void *)(bad ? -1L : calls);
}
static void test_concurrent(void)
{
    struct lib l = load(UNIT_BUILD_DIR "/libgot-now.so");
    if (!l.h)
        return;
    struct shim_got_import imp[1];
    char why[256];
    const char *one[1] = {names[VERSION]};
    shim_got_find_at((void *)l.version, one, 1, imp, why, sizeof why);
    void **slot[1] = {imp[0].plt};
    void *orig = *slot[0], *fake = (void *)fake_version;
    pthread_t th[3];
    atomic_store(&stop_calls, 0);
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, caller, (void *)l.version);
    int failures = 0, written;
    for (int i = 0; i < 2000; i++) {
        void *v[1] = {i % 2 ? orig : fake};
        failures += shim_got_write(slot, v, 1, &written, why, sizeof why) != 0;
    }
    void *v[1] = {orig};
    shim_got_write(slot, v, 1, &written, why, sizeof why);
    atomic_store(&stop_calls, 1);
    int ok = 1;
    for (int i = 0; i < 3; i++) {
        void *r;
        pthread_join(th[i], &r);
        ok &= (long)r > 0;
    }
    CHECK_EQ_INT(failures, 0);
    CHECK(ok, "every call reached a whole function");
    CHECK_EQ_INT(l.version(), sqlite3_libversion_number());
    dlclose(l.h);
}

/* A page that cannot be made writable (a read-only shared file mapping): one line why, the slot
 * unwritten, errno kept. */
static void test_refused(void)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/ro", unit_tmpdir());
    int fd = open(path, O_RDWR | O_CREAT, 0600);
    CHECK(fd >= 0 && ftruncate(fd, 4096) == 0, "");
    close(fd);
    fd = open(path, O_RDONLY);
    void *m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    CHECK(m != MAP_FAILED, "");
    void **slot[1] = {(void **)m};
    void *v[1] = {(void *)fake_version};
    char why[256] = "";
    int written = -1;
    errno = 77;
    CHECK_EQ_INT(shim_got_write(slot, v, 1, &written, why, sizeof why), -1);
    CHECK_EQ_INT(errno, 77);
    CHECK_EQ_INT(written, 0);
    CHECK_CONTAINS(why, "is read-only and mprotect refused to open it for writing");
    CHECK(*(void **)m == NULL, "unwritten");
    munmap(m, 4096);
}

static void test_not_an_object(void)
{
    struct shim_got_import slots[NNAMES];
    char why[256] = "";
    CHECK_EQ_INT(shim_got_find_at(NULL, names, NNAMES, slots, why, sizeof why), -1);
    CHECK_CONTAINS(why, "no loaded object holds");
    /* an address no object holds: the first page */
    CHECK_EQ_INT(shim_got_find_at((const void *)(uintptr_t)16, names, NNAMES, slots, why,
                                  sizeof why), -1);
    int written;
    void *v[SHIM_GOT_MAX + 1];
    void **s[SHIM_GOT_MAX + 1] = {0};
    CHECK_EQ_INT(shim_got_write(s, v, SHIM_GOT_MAX + 1, &written, why, sizeof why), -1);
    CHECK_CONTAINS(why, "slots at once");
}

/* A function both called and taken as a pointer: rewriting both slots redirects both. */
static void test_both_slots(void)
{
    struct lib l = load(UNIT_BUILD_DIR "/libgot-now.so");
    if (!l.h)
        return;
    const char *one[1] = {names[ERRMSG]};
    struct shim_got_import imp[1];
    char why[256];
    CHECK_EQ_INT(shim_got_find_at((void *)l.version, one, 1, imp, why, sizeof why), 1);
    void **slot[2] = {imp[0].plt, imp[0].ptr};
    void *orig[2] = {slot[0] ? *slot[0] : NULL, slot[1] ? *slot[1] : NULL};
    void *fake[2] = {(void *)fake_errmsg, (void *)fake_errmsg};
    int written;
    CHECK_EQ_INT(shim_got_write(slot, fake, 2, &written, why, sizeof why), 0);
    CHECK_EQ_INT(written, (slot[0] != NULL) + (slot[1] != NULL));
    CHECK(strcmp(l.errmsg(NULL), "fake") == 0, "the call");
    CHECK(l.errmsg_ptr() == (const void *)fake_errmsg, "the pointer");
    CHECK_EQ_INT(shim_got_write(slot, orig, 2, &written, why, sizeof why), 0);
    CHECK(l.errmsg_ptr() == orig[1], "put back");
    dlclose(l.h);
}

int main(void)
{
    unit_watchdog(60);
    RUN(test_finds_lazy);
    RUN(test_finds_now);
    RUN(test_finds_in_the_program);
    RUN(test_rewrites_lazy);
    RUN(test_rewrites_relro);
    RUN(test_concurrent);
    RUN(test_both_slots);
    RUN(test_refused);
    RUN(test_not_an_object);
    return unit_finish();
}
