/* test_x86.c: instruction lengths and relocation (x86.c) on byte sequences compilers emit at the
 * start of functions, and refusals for what must not be moved. */
#include "unit.h"
#include "x86.h"

static int len_of(const uint8_t *p, size_t n)
{
    struct shim_x86_insn in;
    const char *why;
    return shim_x86_decode(p, n, &in, &why);
}
#define LEN(expect, ...)                                                                         \
    do {                                                                                         \
        static const uint8_t b_[] = {__VA_ARGS__};                                               \
        CHECK_EQ_INT(len_of(b_, sizeof b_), expect);                                             \
    } while (0)

static void lengths(void)
{
    LEN(4, 0xF3, 0x0F, 0x1E, 0xFA);                         /* endbr64 */
    LEN(2, 0x41, 0x57);                                     /* push r15 */
    LEN(1, 0x55);                                           /* push rbp */
    LEN(3, 0x48, 0x89, 0xE5);                               /* mov rbp, rsp */
    LEN(4, 0x48, 0x83, 0xEC, 0x28);                         /* sub rsp, 0x28 */
    LEN(7, 0x48, 0x81, 0xEC, 0x00, 0x01, 0x00, 0x00);       /* sub rsp, 0x100 */
    LEN(9, 0x64, 0x48, 0x8B, 0x04, 0x25, 0x28, 0, 0, 0);    /* mov rax, fs:0x28 */
    LEN(5, 0x48, 0x89, 0x44, 0x24, 0x18);                   /* mov [rsp+0x18], rax */
    LEN(7, 0x48, 0x8D, 0x05, 1, 2, 3, 4);                   /* lea rax, [rip+x] */
    LEN(11, 0x48, 0xC7, 0x05, 1, 2, 3, 4, 5, 6, 7, 8);      /* mov qword [rip+x], imm32 */
    LEN(5, 0xB9, 0x80, 0, 0, 0);                            /* mov ecx, 0x80 */
    LEN(10, 0x48, 0xB8, 1, 2, 3, 4, 5, 6, 7, 8);            /* movabs rax, imm64 */
    LEN(2, 0x66, 0x90);                                     /* xchg ax, ax */
    LEN(2, 0x31, 0xF6);                                     /* xor esi, esi */
    LEN(3, 0x80, 0xC9, 0x80);                               /* or cl, 0x80 */
    LEN(5, 0x0F, 0x1F, 0x44, 0x00, 0x00);                   /* nop dword [rax+rax] */
    LEN(6, 0x66, 0x0F, 0x1F, 0x44, 0x00, 0x00);             /* nop word [rax+rax] */
    LEN(3, 0xF6, 0xC1, 0x01);                               /* test cl, 1 */
    LEN(6, 0xF7, 0xC1, 1, 0, 0, 0);                         /* test ecx, 1 */
    LEN(2, 0x74, 0x10);                                     /* je +0x10 */
    LEN(6, 0x0F, 0x84, 1, 0, 0, 0);                         /* je rel32 */
    LEN(5, 0xE8, 1, 0, 0, 0);                               /* call rel32 */
    LEN(5, 0xE9, 1, 0, 0, 0);                               /* jmp rel32 */
    LEN(0, 0xFF, 0x25, 0, 0, 0, 0);                         /* jmp [rip]: refused */
    LEN(0, 0xCC);                                           /* int3: unknown */
    LEN(0, 0x67, 0x8B, 0x00);                               /* addr32: refused */
    LEN(0, 0x48, 0x8B);                                     /* truncated */
}

/* A copy must behave as the original from its new address. */
static void relocation(void)
{
    uint8_t dst[64];
    struct shim_x86_moved mv;
    const char *why;
    /* push r15; push r14; lea rax, [rip+0x100]: the lea keeps its target */
    static const uint8_t a[] = {0x41, 0x57, 0x41, 0x56, 0x48, 0x8D, 0x05, 0, 1, 0, 0, 0xC3};
    uintptr_t src_at = 0x400000, dst_at = 0x500000;
    size_t took = shim_x86_relocate(a, src_at, sizeof a, 5, dst, dst_at, sizeof dst, &mv, &why);
    CHECK_EQ_INT((int)took, 11);
    CHECK_EQ_INT((int)mv.dst_len, 11);
    CHECK(mv.n == 3 && mv.src_off[1] == 2 && mv.src_off[2] == 4 && mv.dst_off[2] == 4,
          "each instruction's place in the source and the copy");
    int32_t disp;
    memcpy(&disp, dst + 7, 4);
    CHECK(dst_at + 11 + disp == src_at + 11 + 0x100, "lea re-aimed: %d", disp);
    /* je +0x20 (rel8), then 3 bytes: widened to 0F 84 rel32 with the same target */
    static const uint8_t b[] = {0x74, 0x20, 0x48, 0x89, 0xE5, 0xC3};
    took = shim_x86_relocate(b, src_at, sizeof b, 5, dst, dst_at, sizeof dst, &mv, &why);
    CHECK_EQ_INT((int)took, 5);
    CHECK_EQ_INT((int)mv.dst_len, 9);
    CHECK(mv.n == 2 && mv.src_off[1] == 2 && mv.dst_off[1] == 6, "the widened jcc moves the next one");
    CHECK(dst[0] == 0x0F && dst[1] == 0x84, "widened jcc");
    memcpy(&disp, dst + 2, 4);
    CHECK(dst_at + 6 + disp == src_at + 2 + 0x20, "jcc target kept");
    /* jmp rel32 at the entry (a tail call): re-aimed */
    static const uint8_t c[] = {0xE9, 0x10, 0, 0, 0};
    took = shim_x86_relocate(c, src_at, sizeof c, 5, dst, dst_at, sizeof dst, &mv, &why);
    CHECK_EQ_INT((int)took, 5);
    memcpy(&disp, dst + 1, 4);
    CHECK(dst_at + 5 + disp == src_at + 5 + 0x10, "tail jump re-aimed");
    /* refusals */
    static const uint8_t short_fn[] = {0x8D, 0x47, 0x01, 0xC3, 0x90, 0x90}; /* lea; ret */
    CHECK_EQ_INT((int)shim_x86_relocate(short_fn, src_at, sizeof short_fn, 5, dst, dst_at,
                                        sizeof dst, &mv, &why), 0);
    CHECK_CONTAINS(why, "ends");
    static const uint8_t into[] = {0x74, 0x01, 0x90, 0x90, 0x90, 0x90}; /* je into the 5 bytes */
    CHECK_EQ_INT((int)shim_x86_relocate(into, src_at, sizeof into, 5, dst, dst_at, sizeof dst,
                                        &mv, &why), 0);
    CHECK_CONTAINS(why, "branch into");
    /* a call must be the last instruction moved: a thread inside the callee returns after it */
    static const uint8_t call_then[] = {0xE8, 1, 0, 0, 0, 0x55, 0xC3};
    CHECK_EQ_INT((int)shim_x86_relocate(call_then, src_at, sizeof call_then, 6, dst, dst_at,
                                        sizeof dst, &mv, &why), 0);
    CHECK_CONTAINS(why, "a call within");
    CHECK_EQ_INT((int)shim_x86_relocate(call_then, src_at, sizeof call_then, 5, dst, dst_at,
                                        sizeof dst, &mv, &why), 5);
    CHECK_EQ_INT((int)shim_x86_relocate(a, src_at, sizeof a, 5, dst, src_at + (3ULL << 31),
                                        sizeof dst, &mv, &why), 0);
    CHECK_CONTAINS(why, "out of reach");
}

static void branches_into(void)
{
    /* a loop further down jumping back to entry+2 (rel32), and one to the entry itself */
    uint8_t code[300];
    memset(code, 0x90, sizeof code);
    int32_t back = -(int32_t)(200 + 5) + 2;
    code[200] = 0xE9;
    memcpy(code + 201, &back, 4);
    CHECK(shim_x86_branch_into(code, 0x1000, 5, sizeof code, 5), "rel32 into the entry found");
    back = -(int32_t)(200 + 5);
    memcpy(code + 201, &back, 4);
    CHECK(!shim_x86_branch_into(code, 0x1000, 5, sizeof code, 5), "to the entry itself is fine");
    memset(code, 0x90, sizeof code);
    code[20] = 0x75; /* jne -19 -> entry+3 */
    code[21] = (uint8_t)(int8_t)(3 - 22);
    CHECK(shim_x86_branch_into(code, 0x1000, 5, sizeof code, 5), "rel8 into the entry found");
}

int main(void)
{
    unit_current = "lengths";
    lengths();
    unit_current = "relocation";
    relocation();
    unit_current = "branches_into";
    branches_into();
    return unit_finish();
}
