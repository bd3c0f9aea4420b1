/* What the CPU says of itself through CPUID (and XGETBV for the OS-enabled register state),
 * as the bit mask gb_cpuid_flags() returns. /proc/cpuinfo can disagree with it: under valgrind,
 * CPUID is valgrind's and hides AVX-512, which valgrind cannot run, while /proc still lists it.
 * Bits: see CPUID_FLAGS in gemmbench/machine/fingerprint.py. */
#include <stdint.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

uint64_t gb_cpuid_flags(void) {
    unsigned a, b, c, d, max = __get_cpuid_max(0, 0);
    uint64_t flags = 0;
    if (max < 7 || !__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1;
    uint64_t xcr0 = osxsave ? xgetbv0() : 0;
    int ymm = (xcr0 & 0x6) == 0x6, zmm = ymm && (xcr0 & 0xe0) == 0xe0, tiles = (xcr0 & 0x60000) == 0x60000;
    __cpuid_count(7, 0, a, b, c, d);
    unsigned b7 = b, c7 = c, d7 = d;
    __cpuid_count(7, 1, a, b, c, d);
    unsigned a71 = a;
    if (ymm && fma) flags |= 1u << 0;                    /* fma */
    if (ymm && (b7 >> 5) & 1) flags |= 1u << 1;          /* avx2 */
    if (zmm && (b7 >> 16) & 1) flags |= 1u << 2;         /* avx512f */
    if (zmm && (b7 >> 17) & 1) flags |= 1u << 3;         /* avx512dq */
    if (zmm && (b7 >> 30) & 1) flags |= 1u << 4;         /* avx512bw */
    if (zmm && (b7 >> 31) & 1) flags |= 1u << 5;         /* avx512vl */
    if (zmm && (c7 >> 11) & 1) flags |= 1u << 6;         /* avx512_vnni */
    if (zmm && (a71 >> 5) & 1) flags |= 1u << 7;         /* avx512_bf16 */
    if (zmm && (d7 >> 23) & 1) flags |= 1u << 8;         /* avx512_fp16 */
    if (tiles && (d7 >> 24) & 1) flags |= 1u << 9;       /* amx_tile */
    if (tiles && (d7 >> 25) & 1) flags |= 1u << 10;      /* amx_int8 */
    if (tiles && (d7 >> 22) & 1) flags |= 1u << 11;      /* amx_bf16 */
    if (ymm && (a71 >> 4) & 1) flags |= 1u << 12;        /* avx_vnni */
    return flags | (1ull << 63);                         /* bit 63: CPUID was read */
}
#else
uint64_t gb_cpuid_flags(void) { return 0; }
#endif
