/* test_x86_ref.c: x86.c's decoder checked against a reference disassembler, Zydis (used by this
 * test only; the library keeps its small list of known forms), on real code: the entry of every
 * function of Debian's libsqlite3.so.0 and libpython3.11.so.1.0 (their .dynsym: both are
 * stripped) and of the emulated python-build-standalone interpreter (.symtab and .dynsym), or of
 * the files named on the command line.
 *
 * An entry is what hook.c moves: from the function's start (after its endbr64) whole
 * instructions until 5 bytes are covered.  Each instruction x86.c accepts there, and after it
 * those up to 32 bytes into the function, must have Zydis's length, the same RIP-relative or
 * branch operand (its offset in the instruction and its value), and the same call and "does not
 * fall through" classes.  An entry x86.c accepts whole is relocated to 1 MiB away
 * (shim_x86_relocate), and every moved instruction must decode there, by Zydis, to the same
 * mnemonic with the same absolute target.  Refusals are counted by reason and printed:
 * refusing is safe, accepting wrongly is not. */
#include "elfsym.h"
#include "unit.h"
#include "x86.h"
#include <elf.h>
#include <link.h>
#if !defined(NO_ZYDIS)
#include <Zydis/Zydis.h>
#endif

#ifndef REPO_DIR
#define REPO_DIR "."
#endif

#if defined(__x86_64__) && !defined(NO_ZYDIS)
enum { WINDOW = 32, JMP5 = 5, MAX_REASONS = 16 };

struct fn {
    uintptr_t value;
    size_t size;
};

struct object {
    const char *path;
    const unsigned char *map;
    size_t len;
    struct fn *fns;
    size_t n, cap;
    /* results */
    long entries, accepted, refused, insns, rip, branches, mismatches, relocated;
    struct {
        const char *why;
        long count;
    } reasons[MAX_REASONS];
};

static ZydisDecoder zydis;

static int collect(void *arg, const char *name, const struct shim_elfsym *s)
{
    (void)name;
    struct object *o = arg;
    if (!s->value)
        return 0;
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 4096;
        o->fns = realloc(o->fns, o->cap * sizeof *o->fns);
    }
    o->fns[o->n++] = (struct fn){s->value, s->size};
    return 0;
}

static int by_address(const void *a, const void *b)
{
    uintptr_t x = ((const struct fn *)a)->value, y = ((const struct fn *)b)->value;
    return x < y ? -1 : x > y;
}

/* The file bytes of [vaddr, vaddr + want) through its PT_LOAD segments; how many are there. */
static const uint8_t *bytes_at(const struct object *o, uintptr_t vaddr, size_t want, size_t *got)
{
    const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)o->map;
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)(o->map + eh->e_phoff);
    for (int i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type != PT_LOAD || !(ph[i].p_flags & PF_X) || vaddr < ph[i].p_vaddr ||
            vaddr >= ph[i].p_vaddr + ph[i].p_filesz)
            continue;
        size_t off = (size_t)(ph[i].p_offset + (vaddr - ph[i].p_vaddr));
        size_t room = (size_t)(ph[i].p_vaddr + ph[i].p_filesz - vaddr);
        *got = want < room ? want : room;
        return off + *got <= o->len ? o->map + off : NULL;
    }
    return NULL;
}

static void mismatch(struct object *o, uintptr_t at, const uint8_t *p, size_t n, const char *what)
{
    if (o->mismatches++ < 8) {
        char hex[3 * 16 + 1] = "";
        for (size_t i = 0; i < n && i < 16; i++)
            snprintf(hex + 3 * i, 4, "%02x ", p[i]);
        unit_printf("  MISMATCH %s+%#lx: %s [%s]\n", o->path, (unsigned long)at, what, hex);
    }
}

static void count_refusal(struct object *o, const char *why)
{
    o->refused++;
    for (int i = 0; i < MAX_REASONS; i++) {
        if (!o->reasons[i].why || strcmp(o->reasons[i].why, why) == 0) {
            o->reasons[i].why = why;
            o->reasons[i].count++;
            return;
        }
    }
}

/* x86.c's view of one instruction against Zydis's; 1 if they agree. */
static int same(struct object *o, uintptr_t at, const uint8_t *p, size_t avail,
                const struct shim_x86_insn *in)
{
    ZydisDecodedInstruction z;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    o->insns++;
    if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&zydis, p, avail, &z, ops))) {
        mismatch(o, at, p, (size_t)in->len, "accepted, but not an instruction for Zydis");
        return 0;
    }
    if ((int)z.length != in->len) {
        char m[96];
        snprintf(m, sizeof m, "length %d, Zydis %d (%s)", in->len, z.length,
                 ZydisMnemonicGetString(z.mnemonic));
        mismatch(o, at, p, z.length, m);
        return 0;
    }
    int zbranch = z.raw.imm[0].is_relative;
    int zrip = 0;
    for (int i = 0; i < z.operand_count; i++)
        zrip |= ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY && ops[i].mem.base == ZYDIS_REGISTER_RIP;
    int zoff = zbranch ? z.raw.imm[0].offset : zrip ? z.raw.disp.offset : 0;
    int64_t zdisp = zbranch ? z.raw.imm[0].value.s : zrip ? z.raw.disp.value : 0;
    int zcall = z.meta.category == ZYDIS_CATEGORY_CALL && zbranch;
    int zends = z.meta.category == ZYDIS_CATEGORY_UNCOND_BR || z.meta.category == ZYDIS_CATEGORY_RET;
    if (in->branch != zbranch || in->rel_at != zoff || (in->rel_at && in->disp != zdisp) ||
        in->call != zcall || in->ends != zends ||
        (!in->rel_at && (z.attributes & ZYDIS_ATTRIB_IS_RELATIVE))) {
        char m[160];
        snprintf(m, sizeof m, "%s: branch %d/%d, relative operand at %d/%d = %lld/%lld, call "
                 "%d/%d, ends %d/%d (shim/Zydis)", ZydisMnemonicGetString(z.mnemonic), in->branch,
                 zbranch, in->rel_at, zoff, (long long)in->disp, (long long)zdisp, in->call,
                 zcall, in->ends, zends);
        mismatch(o, at, p, z.length, m);
        return 0;
    }
    o->rip += zrip;
    o->branches += zbranch;
    return 1;
}

/* The moved instructions decode, at their new place, to the same mnemonic and target. */
static void check_relocated(struct object *o, uintptr_t at, const uint8_t *src,
                            const uint8_t *dst, uintptr_t dst_at, const struct shim_x86_moved *mv)
{
    o->relocated++;
    for (int k = 0; k < mv->n; k++) {
        ZydisDecodedInstruction a, b;
        ZydisDecodedOperand oa[ZYDIS_MAX_OPERAND_COUNT], ob[ZYDIS_MAX_OPERAND_COUNT];
        const uint8_t *s = src + mv->src_off[k], *d = dst + mv->dst_off[k];
        if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&zydis, s, WINDOW, &a, oa)) ||
            !ZYAN_SUCCESS(ZydisDecoderDecodeFull(&zydis, d, mv->dst_len - mv->dst_off[k], &b, ob)) ||
            a.mnemonic != b.mnemonic) {
            mismatch(o, at, s, 8, "relocated: not the same instruction");
            return;
        }
        for (int i = 0; i < a.operand_count; i++) {
            ZyanU64 ta, tb;
            int rel = (oa[i].type == ZYDIS_OPERAND_TYPE_IMMEDIATE && oa[i].imm.is_relative) ||
                      (oa[i].type == ZYDIS_OPERAND_TYPE_MEMORY && oa[i].mem.base == ZYDIS_REGISTER_RIP);
            if (!rel)
                continue;
            if (!ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&a, &oa[i], at + mv->src_off[k], &ta)) ||
                !ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&b, &ob[i], dst_at + mv->dst_off[k], &tb)) ||
                ta != tb) {
                mismatch(o, at, s, a.length, "relocated: another target");
                return;
            }
        }
    }
}

static void check_entry(struct object *o, const struct fn *f)
{
    size_t want = f->size && f->size < 64 ? f->size : 64, got = 0;
    const uint8_t *p = bytes_at(o, f->value, want, &got);
    if (!p || !got)
        return; /* not in a loaded, executable segment of the file (an ifunc resolver's alias?) */
    o->entries++;
    static const uint8_t endbr64[4] = {0xF3, 0x0F, 0x1E, 0xFA};
    size_t start = got >= 4 && memcmp(p, endbr64, 4) == 0 ? 4 : 0, off = start;
    const char *why = NULL;
    int whole = 0; /* every instruction of the 5 bytes a hook moves was accepted */
    while (off < got && off < start + WINDOW) {
        struct shim_x86_insn in;
        if (!shim_x86_decode(p + off, got - off, &in, &why))
            break;
        if (!same(o, f->value + off, p + off, got - off, &in))
            return;
        off += (size_t)in.len;
        if (off >= start + JMP5)
            whole = 1;
        if (in.ends)
            break;
    }
    if (!whole) {
        count_refusal(o, why ? why : "the function ends within the bytes a hook needs");
        return;
    }
    /* as hook.c moves it: to 1 MiB away */
    uint8_t dst[128];
    struct shim_x86_moved mv;
    uintptr_t dst_at = f->value + start + (1 << 20);
    if (!shim_x86_relocate(p + start, f->value + start, got - start, JMP5, dst, dst_at,
                           sizeof dst - 8, &mv, &why)) {
        count_refusal(o, why);
        return;
    }
    o->accepted++;
    check_relocated(o, f->value + start, p + start, dst, dst_at, &mv);
}

static void check_object(const char *path)
{
    struct object o = {.path = path};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        unit_printf("SKIP [%s] %s: %s\n", unit_current, path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return;
    }
    o.len = (size_t)st.st_size;
    o.map = mmap(NULL, o.len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    CHECK(o.map != MAP_FAILED, "%s", path);
    int s1 = shim_elfsym_each(path, 0, collect, &o), s2 = shim_elfsym_each(path, 1, collect, &o);
    CHECK((s1 == 0 || s1 == SHIM_ELFSYM_STRIPPED) && s2 == 0, "%s: symbols %d %d", path, s1, s2);
    qsort(o.fns, o.n, sizeof *o.fns, by_address);
    for (size_t i = 0; i < o.n; i++)
        if (i == 0 || o.fns[i].value != o.fns[i - 1].value)
            check_entry(&o, &o.fns[i]);
    unit_printf("  %s (%s): %ld entries, %ld accepted, %ld refused, %ld mismatches; %ld "
                "instructions compared (%ld RIP-relative, %ld relative branches), %ld relocations "
                "checked\n", path, s1 == 0 ? ".symtab and .dynsym" : ".dynsym", o.entries,
                o.accepted, o.refused, o.mismatches, o.insns, o.rip, o.branches, o.relocated);
    for (int i = 0; i < MAX_REASONS && o.reasons[i].why; i++)
        unit_printf("      refused %6ld: %s\n", o.reasons[i].count, o.reasons[i].why);
    CHECK(o.entries > 100, "%s: only %ld function entries read", path, o.entries);
    CHECK(o.accepted > o.entries / 2, "%s: fewer than half the entries accepted", path);
    CHECK_EQ_INT(o.mismatches, 0);
    CHECK_EQ_INT(o.accepted + o.refused, o.entries);
    free(o.fns);
    munmap((void *)o.map, o.len);
}

int main(int argc, char **argv)
{
    unit_watchdog(120);
    unit_current = "decoder against Zydis";
    ZydisDecoderInit(&zydis, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            check_object(argv[i]);
        return unit_finish();
    }
    check_object("/usr/lib/x86_64-linux-gnu/libsqlite3.so.0");
    check_object("/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0");
    const char *emulated = REPO_DIR "/.cache/static-python/bin/python3.11";
    if (access(emulated, R_OK) == 0)
        check_object(emulated);
    else
        unit_skip("the emulated static interpreter is not built (tests/static/build-python.sh); "
                  "tests/bats/static.bats runs this program on it");
    return unit_finish();
}
#else
int main(void)
{
    unit_current = "decoder against Zydis";
#if defined(NO_ZYDIS)
    CHECK(0, "the reference disassembler is missing: install libzydis-dev "
             "(scripts/install-deps.sh check)");
#else
    unit_skip("the hook's decoder is x86-64 only");
#endif
    return unit_finish();
}
#endif
