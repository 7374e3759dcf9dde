/* x86.c: see x86.h.  References: Intel SDM vol. 2, chapter 2 (instruction format) and appendix A
 * (opcode map).  The known one-byte and 0F-map opcodes are the ones gcc and clang emit in
 * prologues and the first blocks of SQLite's API functions: pushes, moves, arithmetic, tests,
 * lea, endbr64, nops, the stack protector's fs-relative load, conditional branches. */
#include "x86.h"
#include <string.h>

/* Operand shape of an opcode: whether a ModRM byte follows, and the immediate's size
 * (IMM_Z: 4 bytes, or 2 with a 0x66 prefix; IMM_V: IMM_Z, or 8 with REX.W). */
enum { NONE = 0, MODRM = 1 };
enum { IMM0 = 0, IMM8 = 1, IMM_Z = 2, IMM_V = 3 };

struct form {
    unsigned char ok, modrm, imm;
};

static struct form one_byte(uint8_t op, int *branch, int *ends, int *rel8, int *call)
{
    struct form f = {1, NONE, IMM0};
    *branch = *ends = *rel8 = *call = 0;
    if (op < 0x40 && (op & 7) <= 3) /* ALU r/m forms (0F, the prefixes: elsewhere) */
        f.modrm = MODRM;
    else if (op < 0x40 && (op & 7) == 4) /* ALU al, imm8 */
        f.imm = IMM8;
    else if (op < 0x40 && (op & 7) == 5) /* ALU eax, imm32 */
        f.imm = IMM_Z;
    else if (op >= 0x50 && op <= 0x5F) /* push/pop r */
        ;
    else if (op == 0x63) /* movsxd */
        f.modrm = MODRM;
    else if (op == 0x68)
        f.imm = IMM_Z;
    else if (op == 0x6A)
        f.imm = IMM8;
    else if (op == 0x69)
        f.modrm = MODRM, f.imm = IMM_Z;
    else if (op == 0x6B)
        f.modrm = MODRM, f.imm = IMM8;
    else if (op >= 0x70 && op <= 0x7F) /* jcc rel8 */
        f.imm = IMM8, *branch = *rel8 = 1;
    else if (op == 0x80 || op == 0x83 || op == 0xC0 || op == 0xC1 || op == 0xC6)
        f.modrm = MODRM, f.imm = IMM8;
    else if (op == 0x81 || op == 0xC7)
        f.modrm = MODRM, f.imm = IMM_Z;
    else if ((op >= 0x84 && op <= 0x8B) || op == 0x8D || (op >= 0xD0 && op <= 0xD3))
        f.modrm = MODRM;
    else if ((op >= 0x90 && op <= 0x99))
        ; /* nop, xchg, cdqe, cqo */
    else if (op == 0xA8 || (op >= 0xB0 && op <= 0xB7))
        f.imm = IMM8;
    else if (op == 0xA9)
        f.imm = IMM_Z;
    else if (op >= 0xB8 && op <= 0xBF)
        f.imm = IMM_V;
    else if (op == 0xC3)
        *ends = 1;
    else if (op == 0xE8) /* call rel32 */
        f.imm = IMM_Z, *branch = *call = 1;
    else if (op == 0xE9) /* jmp rel32 */
        f.imm = IMM_Z, *branch = *ends = 1;
    else if (op == 0xEB) /* jmp rel8 */
        f.imm = IMM8, *branch = *ends = *rel8 = 1;
    else if (op == 0xF6 || op == 0xF7 || op == 0xFE || op == 0xFF)
        f.modrm = MODRM; /* F6/F7 /0 and /1 take an immediate: see decode */
    else
        f.ok = 0;
    return f;
}

static struct form two_byte(uint8_t op, int *branch)
{
    struct form f = {1, MODRM, IMM0};
    *branch = 0;
    if (op >= 0x80 && op <= 0x8F) /* jcc rel32 */
        f.modrm = NONE, f.imm = IMM_Z, *branch = 1;
    else if (op == 0x1E || op == 0x1F || op == 0x10 || op == 0x11 || op == 0x28 || op == 0x29 ||
             op == 0x57 || op == 0x6F || op == 0x7F || op == 0xD6 || op == 0xEF ||
             (op >= 0x40 && op <= 0x4F) || (op >= 0x90 && op <= 0x9F) || op == 0xAF ||
             op == 0xB6 || op == 0xB7 || op == 0xBE || op == 0xBF)
        ; /* endbr64 and hint nops, SSE moves and pxor/xorps, cmov, setcc, imul, movzx/movsx */
    else
        f.ok = 0;
    return f;
}

int shim_x86_decode(const uint8_t *p, size_t avail, struct shim_x86_insn *out, const char **why)
{
    size_t i = 0;
    int opsize16 = 0, rexw = 0;
    memset(out, 0, sizeof *out);
    *why = "truncated instruction";
    for (; i < avail && i < 4; i++) { /* legacy prefixes */
        uint8_t b = p[i];
        if (b == 0x66)
            opsize16 = 1;
        else if (b == 0x67) {
            *why = "32-bit addressing prefix";
            return 0;
        } else if (!(b == 0xF2 || b == 0xF3 || b == 0xF0 || b == 0x2E || b == 0x3E ||
                     b == 0x26 || b == 0x36 || b == 0x64 || b == 0x65))
            break;
    }
    if (i < avail && (p[i] & 0xF0) == 0x40) /* REX, last before the opcode */
        rexw = (p[i++] & 8) != 0;
    if (i >= avail)
        return 0;
    int branch = 0, ends = 0, rel8 = 0, call = 0, map0f = 0;
    struct form f;
    uint8_t op = p[i++];
    if (op == 0x0F) {
        map0f = 1;
        if (i >= avail)
            return 0;
        op = p[i++];
        f = two_byte(op, &branch);
        if (!f.ok) {
            *why = "an instruction of the 0F map the hook does not know";
            return 0;
        }
    } else {
        f = one_byte(op, &branch, &ends, &rel8, &call);
        if (!f.ok) {
            *why = "an instruction the hook does not know";
            return 0;
        }
    }
    if (f.modrm) {
        if (i >= avail)
            return 0;
        uint8_t m = p[i++];
        int mod = m >> 6, reg = (m >> 3) & 7, rm = m & 7;
        if (!map0f && (op == 0xF6 || op == 0xF7) && reg <= 1)
            f.imm = op == 0xF6 ? IMM8 : IMM_Z; /* test r/m, imm */
        if (!map0f && op == 0xFF && (reg == 2 || reg == 4 || reg == 3 || reg == 5)) {
            *why = "an indirect call or jump";
            return 0;
        }
        if (mod != 3 && rm == 4) { /* SIB */
            if (i >= avail)
                return 0;
            uint8_t sib = p[i++];
            if (mod == 0 && (sib & 7) == 5)
                i += 4; /* no base: disp32 */
        }
        if (mod == 0 && rm == 5) { /* RIP-relative disp32 */
            out->rel_at = (int)i;
            i += 4;
        } else if (mod == 1)
            i += 1;
        else if (mod == 2)
            i += 4;
    }
    size_t imm = f.imm == IMM8 ? 1
               : f.imm == IMM_Z ? (opsize16 ? 2 : 4)
               : f.imm == IMM_V ? (rexw ? 8 : opsize16 ? 2 : 4) : 0;
    if (branch) {
        if (opsize16) {
            *why = "a 16-bit branch";
            return 0;
        }
        out->rel_at = (int)i;
    }
    i += imm;
    if (i > avail)
        return 0;
    if (out->rel_at) {
        int32_t d32;
        if (branch && rel8)
            out->disp = (int8_t)p[out->rel_at];
        else
            memcpy(&d32, p + out->rel_at, 4), out->disp = d32;
    }
    /* An immediate after a RIP-relative displacement moves the reference point: the CPU adds
     * the displacement to the end of the whole instruction, which is what we record. */
    out->len = (int)i;
    out->branch = branch;
    out->call = call;
    out->ends = ends;
    *why = NULL;
    return (int)i;
}

static int fits32(int64_t v) { return v >= INT32_MIN && v <= INT32_MAX; }

size_t shim_x86_relocate(const uint8_t *src, uintptr_t src_at, size_t avail, size_t need,
                         uint8_t *dst, uintptr_t dst_at, size_t dstcap,
                         struct shim_x86_moved *moved, const char **why)
{
    size_t s = 0, d = 0;
    int64_t targets[SHIM_X86_MAX_MOVED];
    int ntargets = 0;
    memset(moved, 0, sizeof *moved);
    while (s < need) {
        struct shim_x86_insn in;
        if (!shim_x86_decode(src + s, avail - s, &in, why))
            return 0;
        if (in.ends && s + (size_t)in.len < need) {
            *why = "the function ends within the bytes the hook needs";
            return 0;
        }
        /* A thread inside the callee returns to the instruction after the call: inside the
         * moved bytes, which the jump then overwrites.  After the last one is the place the
         * trampoline jumps back to, unchanged. */
        if (in.call && s + (size_t)in.len < need) {
            *why = "a call within the bytes the hook needs";
            return 0;
        }
        if (dstcap - d < (size_t)in.len + 4 || d > UINT16_MAX - 32) {
            *why = "trampoline too small";
            return 0;
        }
        if (moved->n == SHIM_X86_MAX_MOVED) {
            *why = "too many instructions in the bytes the hook moves";
            return 0;
        }
        moved->src_off[moved->n] = (uint16_t)s;
        moved->dst_off[moved->n] = (uint16_t)d;
        moved->n++;
        int64_t end_src = (int64_t)(src_at + s + (size_t)in.len);
        if (in.branch) {
            int64_t target = end_src + in.disp;
            targets[ntargets++] = target; /* at most one per instruction */
            uint8_t op = src[s + (size_t)in.rel_at - 1];
            int wide = in.rel_at && !(in.len == in.rel_at + 1); /* already rel32 */
            size_t at;
            if (wide) { /* copy and re-aim the rel32 */
                memcpy(dst + d, src + s, (size_t)in.len);
                at = d + (size_t)in.rel_at;
                d += (size_t)in.len;
            } else if (op == 0xEB) { /* jmp rel8 -> jmp rel32 */
                dst[d] = 0xE9;
                at = d + 1;
                d += 5;
            } else { /* jcc rel8 -> 0F 8x rel32 (prefixes before a short jcc are hints) */
                dst[d] = 0x0F;
                dst[d + 1] = (uint8_t)(0x80 | (op & 0x0F));
                at = d + 2;
                d += 6;
            }
            int64_t rel = target - (int64_t)(dst_at + d);
            if (!fits32(rel)) {
                *why = "a branch target out of reach of the trampoline";
                return 0;
            }
            int32_t r = (int32_t)rel;
            memcpy(dst + at, &r, 4);
        } else {
            memcpy(dst + d, src + s, (size_t)in.len);
            if (in.rel_at) { /* RIP-relative operand: same target from the new place */
                int64_t target = end_src + in.disp;
                int64_t rel = target - (int64_t)(dst_at + d + (size_t)in.len);
                if (!fits32(rel)) {
                    *why = "a RIP-relative operand out of reach of the trampoline";
                    return 0;
                }
                int32_t r = (int32_t)rel;
                memcpy(dst + d + in.rel_at, &r, 4);
            }
            d += (size_t)in.len;
        }
        s += (size_t)in.len;
    }
    for (int t = 0; t < ntargets; t++)
        if (targets[t] > (int64_t)src_at && targets[t] < (int64_t)(src_at + s)) {
            *why = "a branch into the bytes the hook moves";
            return 0;
        }
    moved->src_len = s;
    moved->dst_len = d;
    *why = NULL;
    return s;
}

/* rel8 branches (jcc 70-7F, jmp EB) reach 127 bytes back at most, so only the first bytes of
 * the function can hold one aimed at its start; rel32 ones (jmp E9, call E8, jcc 0F 8x) are
 * checked everywhere.  A byte scan, not a decode: a data byte that looks like a branch only
 * makes the hook refuse. */
int shim_x86_branch_into(const uint8_t *code, uintptr_t at, size_t from, size_t len,
                         size_t stolen)
{
    int64_t lo = (int64_t)at + 1, hi = (int64_t)(at + stolen); /* strictly inside */
    for (size_t j = from; j < len; j++) {
        int64_t target;
        int32_t r;
        uint8_t b = code[j];
        if (((b >= 0x70 && b <= 0x7F) || b == 0xEB) && j + 2 <= len && j < 160) {
            target = (int64_t)(at + j + 2) + (int8_t)code[j + 1];
        } else if ((b == 0xE8 || b == 0xE9) && j + 5 <= len) {
            memcpy(&r, code + j + 1, 4);
            target = (int64_t)(at + j + 5) + r;
        } else if (b == 0x0F && j + 6 <= len && code[j + 1] >= 0x80 && code[j + 1] <= 0x8F) {
            memcpy(&r, code + j + 2, 4);
            target = (int64_t)(at + j + 6) + r;
        } else
            continue;
        if (target >= lo && target < hi)
            return 1;
    }
    return 0;
}
