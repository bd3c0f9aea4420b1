/* Roofline probes: peak arithmetic throughput and read bandwidth of one core.
 *
 * Compiled once per ISA level (gemmbench/machine/native.py); the -m flags select the widest
 * vectors. Each probe returns the nanoseconds its loop took; the caller divides the work.
 * Twelve independent accumulator chains hide the FMA/dot-product latency (4-5 cycles on
 * current x86 cores with two pipes), so throughput, not latency, is what is measured.
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime under -std=c11 */
#include <stdint.h>
#include <time.h>

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif
#if defined(GB_NEON) /* the neon levels (gemmbench/machine/isa.py): aarch64 predefines __ARM_NEON at every level */
#include <arm_neon.h>
#endif

#define CHAINS 12
#define BARRIER() __asm__ __volatile__("" ::: "memory")
/* Keeps a value in a register and opaque to the optimiser, costing no instruction: a memory
 * clobber would force the accumulators through the stack, and a known-constant recurrence
 * could be folded away. */
#if defined(__aarch64__)
#define KEEP_VEC(x) __asm__ __volatile__("" : "+w"(x))
#else
#define KEEP_VEC(x) __asm__ __volatile__("" : "+v"(x))
#endif
#define KEEP_INT(x) __asm__ __volatile__("" : "+r"(x))

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* The chains as twelve named variables: an array of accumulators would live on the stack. */
#define EACH_CHAIN(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

int gb_probe_chains(void) { return CHAINS; }

/* The timed part of every arithmetic probe, in a function taking `iters` and `sink`: iters steps
 * of each chain (STEP), the time it took returned, the chains folded (FOLD) into *sink. */
#define TIME_CHAINS(sum_type)                      \
    int64_t t0 = now_ns();                         \
    for (int64_t i = 0; i < iters; ++i) {          \
        EACH_CHAIN(STEP)                           \
    }                                              \
    int64_t elapsed = now_ns() - t0;               \
    sum_type s = 0;                                \
    EACH_CHAIN(FOLD)                               \
    *sink = s;                                     \
    return elapsed;

/* ---- float32 multiply-add ---- */
#if defined(__AVX512F__)
typedef __m512 vf;
#define VF_LANES 16
#define VF_SET1 _mm512_set1_ps
#define VF_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define VF_SUM(a) _mm512_reduce_add_ps(a)
#elif defined(__AVX2__) && defined(__FMA__)
typedef __m256 vf;
#define VF_LANES 8
#define VF_SET1 _mm256_set1_ps
#define VF_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
static float VF_SUM(__m256 a) {
    float t[8];
    _mm256_storeu_ps(t, a);
    return t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
}
#elif defined(GB_NEON)
typedef float32x4_t vf;
#define VF_LANES 4
#define VF_SET1 vdupq_n_f32
#define VF_FMA(a, b, c) vfmaq_f32(c, a, b)
#define VF_SUM(a) vaddvq_f32(a)
#else
typedef float vf;
#define VF_LANES 1
#define VF_SET1(a) (a)
#define VF_FMA(a, b, c) ((a) * (b) + (c)) /* -ffp-contract=off: a multiply and an add */
#define VF_SUM(a) (a)
#endif

int gb_probe_fma_lanes(void) { return VF_LANES; }

/* iters x CHAINS vector multiply-adds: 2 * VF_LANES * CHAINS * iters flops. */
int64_t gb_probe_fma(int64_t iters, float *sink) {
#define DECLARE(c) vf acc##c = VF_SET1(0.001f * (float)(c));
#define STEP(c) acc##c = VF_FMA(acc##c, a, b); KEEP_VEC(acc##c);
#define FOLD(c) s += VF_SUM(acc##c);
    EACH_CHAIN(DECLARE)
    vf a = VF_SET1(0.999999f), b = VF_SET1(1e-7f);
    TIME_CHAINS(float)
#undef DECLARE
#undef STEP
#undef FOLD
}

/* ---- int8 dot products: u8 x s8 multiply-accumulate into int32 ---- */
#if defined(__AVX512F__) && defined(__AVX512VNNI__)
typedef __m512i vi;
#define VI_MACS 64 /* u8 x s8 products per instruction */
#define VI_SET1 _mm512_set1_epi32
#define VI_DOT(acc, a, b) _mm512_dpbusd_epi32(acc, a, b)
#define VI_FOLD(a) _mm512_reduce_add_epi32(a)
#elif defined(__AVX512BW__)
typedef __m512i vi;
#define VI_MACS 64
#define VI_SET1 _mm512_set1_epi32
/* maddubs (u8 x s8 pairs -> s16), madd with ones (-> s32), add: the non-VNNI int8 path */
#define VI_DOT(acc, a, b) \
    _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(a, b), _mm512_set1_epi16(1)))
#define VI_FOLD(a) _mm512_reduce_add_epi32(a)
#elif defined(__AVX2__)
typedef __m256i vi;
#define VI_MACS 32
#define VI_SET1 _mm256_set1_epi32
#define VI_DOT(acc, a, b) \
    _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1)))
static int32_t VI_FOLD(__m256i a) {
    int32_t t[8];
    _mm256_storeu_si256((__m256i *)t, a);
    return t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
}
#elif defined(GB_NEON)
/* s8 x s8, as csimd's NEON kernels multiply: sdot, else smull, a pairwise add and sadalp */
typedef int32x4_t vi;
#define VI_MACS 16
#define VI_SET1 vdupq_n_s32
#define VI_FOLD(a) vaddvq_s32(a)
#if defined(__ARM_FEATURE_DOTPROD)
#define VI_DOT(acc, a, b) vdotq_s32(acc, vreinterpretq_s8_s32(a), vreinterpretq_s8_s32(b))
#else
#define VI_DOT(acc, a, b)                                                                                  \
    vpadalq_s16(acc, vpaddq_s16(vmull_s8(vget_low_s8(vreinterpretq_s8_s32(a)), vget_low_s8(vreinterpretq_s8_s32(b))), \
                                vmull_high_s8(vreinterpretq_s8_s32(a), vreinterpretq_s8_s32(b))))
#endif
#else
typedef int32_t vi;
#define VI_MACS 4
#define VI_SET1(a) (a)
/* four u8 x s8 products, as one 32-bit lane of a dot-product instruction holds */
#define VI_DOT(acc, a, b)                                                                           \
    ((acc) + (int32_t)(uint8_t)(a) * (int8_t)(b) + (int32_t)(uint8_t)((a) >> 8) * (int8_t)((b) >> 8) + \
     (int32_t)(uint8_t)((a) >> 16) * (int8_t)((b) >> 16) + (int32_t)(uint8_t)((a) >> 24) * (int8_t)((b) >> 24))
#define VI_FOLD(a) (a)
#define VI_KEEP KEEP_INT
#endif
#ifndef VI_KEEP
#define VI_KEEP KEEP_VEC
#endif

int gb_probe_int8_macs(void) { return VI_MACS; }

/* iters x CHAINS dot-product steps: 2 * VI_MACS * CHAINS * iters int8 operations. After each
 * step the u8 operand is declared changed (no instruction, no real dependency), so the
 * maddubs + madd of the non-VNNI paths cannot be computed once and shared or hoisted: each
 * step pays the full sequence, as in a real kernel. */
int64_t gb_probe_int8(int64_t iters, int32_t *sink) {
#define DECLARE(c) vi acc##c = VI_SET1(c);
#define STEP(c) acc##c = VI_DOT(acc##c, a, b); VI_KEEP(a); VI_KEEP(acc##c);
#define FOLD(c) s += VI_FOLD(acc##c);
    EACH_CHAIN(DECLARE)
    vi a = VI_SET1(0x01020304), b = VI_SET1(0x01FF0102);
    TIME_CHAINS(int32_t)
#undef DECLARE
#undef STEP
#undef FOLD
}

/* ---- half-precision arithmetic: the instruction a level's bf16 or fp16 kernels compute with ----
 * vdpbf16ps (AVX512_BF16: two bf16 products per float lane) or vfmadd231ph (AVX512_FP16: 32
 * fp16 lanes); 64 flops an instruction either way. Where the level has neither, the kernels
 * widen to float32 and the float32 probe is their peak: gb_probe_half_flops() says 0. */
#if defined(__AVX512BF16__) && !defined(__AVX512FP16__)
typedef __m512 vh;
#define VH_FLOPS 64
#define VH_DECLARE(c) vh acc##c = _mm512_set1_ps(0.001f * (float)(c));
#define VH_OPERANDS __m512bh a = (__m512bh)_mm512_set1_epi32(0x3f803f80), b = (__m512bh)_mm512_set1_epi32(0x33d633d6);
#define VH_STEP(acc, a, b) _mm512_dpbf16_ps(acc, a, b)
#define VH_SUM(a) _mm512_reduce_add_ps(a)
#elif defined(__AVX512FP16__)
typedef __m512h vh;
#define VH_FLOPS 64
#define VH_DECLARE(c) vh acc##c = _mm512_set1_ph((_Float16)(0.001f * (float)(c)));
#define VH_OPERANDS vh a = _mm512_set1_ph((_Float16)0.999f), b = _mm512_set1_ph((_Float16)1e-4f);
#define VH_STEP(acc, a, b) _mm512_fmadd_ph(a, b, acc)
#define VH_SUM(a) _mm512_reduce_add_ps(_mm512_cvtxph_ps(_mm512_castph512_ph256(a)))
#else
#define VH_FLOPS 0
#endif

int gb_probe_half_flops(void) { return VH_FLOPS; }

/* iters x CHAINS half-precision instructions (none where VH_FLOPS is 0). */
int64_t gb_probe_half(int64_t iters, float *sink) {
#if VH_FLOPS
#define STEP(c) acc##c = VH_STEP(acc##c, a, b); KEEP_VEC(acc##c);
#define FOLD(c) s += VH_SUM(acc##c);
    EACH_CHAIN(VH_DECLARE)
    VH_OPERANDS
    TIME_CHAINS(float)
#undef STEP
#undef FOLD
#else
    (void)iters;
    *sink = 0;
    return 0;
#endif
}

/* ---- read bandwidth: sum a buffer of n floats (64-byte aligned, n a multiple of 128), reps times.
 * Eight accumulators: two loads a cycle meet a 4-cycle add latency without waiting. ---- */
int64_t gb_probe_read(const float *buf, int64_t n, int64_t reps, float *sink) {
#if defined(__AVX512F__)
    __m512 s[8];
    for (int j = 0; j < 8; ++j) s[j] = _mm512_setzero_ps();
    int64_t t0 = now_ns();
    for (int64_t r = 0; r < reps; ++r) {
        for (int64_t i = 0; i < n; i += 128)
            for (int j = 0; j < 8; ++j) s[j] = _mm512_add_ps(s[j], _mm512_load_ps(buf + i + 16 * j));
        BARRIER();
    }
    int64_t elapsed = now_ns() - t0;
    __m512 total = _mm512_setzero_ps();
    for (int j = 0; j < 8; ++j) total = _mm512_add_ps(total, s[j]);
    *sink = _mm512_reduce_add_ps(total);
#elif defined(__AVX2__)
    __m256 s[8];
    for (int j = 0; j < 8; ++j) s[j] = _mm256_setzero_ps();
    int64_t t0 = now_ns();
    for (int64_t r = 0; r < reps; ++r) {
        for (int64_t i = 0; i < n; i += 64)
            for (int j = 0; j < 8; ++j) s[j] = _mm256_add_ps(s[j], _mm256_load_ps(buf + i + 8 * j));
        BARRIER();
    }
    int64_t elapsed = now_ns() - t0;
    float t[8], total = 0;
    for (int j = 0; j < 8; ++j) {
        _mm256_storeu_ps(t, s[j]);
        for (int l = 0; l < 8; ++l) total += t[l];
    }
    *sink = total;
#elif defined(GB_NEON)
    float32x4_t s[8];
    for (int j = 0; j < 8; ++j) s[j] = vdupq_n_f32(0.0f);
    int64_t t0 = now_ns();
    for (int64_t r = 0; r < reps; ++r) {
        for (int64_t i = 0; i < n; i += 32)
            for (int j = 0; j < 8; ++j) s[j] = vaddq_f32(s[j], vld1q_f32(buf + i + 4 * j));
        BARRIER();
    }
    int64_t elapsed = now_ns() - t0;
    float total = 0;
    for (int j = 0; j < 8; ++j) total += vaddvq_f32(s[j]);
    *sink = total;
#else
    float s[8] = {0};
    int64_t t0 = now_ns();
    for (int64_t r = 0; r < reps; ++r) {
        for (int64_t i = 0; i < n; i += 8)
            for (int j = 0; j < 8; ++j) s[j] += buf[i + j];
        BARRIER();
    }
    int64_t elapsed = now_ns() - t0;
    *sink = s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
#endif
    return elapsed;
}

/* ---- the core clock: a chain of dependent 64-bit multiplies, each waiting on the last.
 * imul r64 takes 3 cycles on every x86-64 core of the last decade (Intel since Nehalem, AMD
 * since Zen), so iters * CLOCK_CHAIN_CYCLES cycles took the returned ns. Multiplies, not adds:
 * recent cores execute chains of small immediate adds faster than one a cycle. ---- */
#define CLOCK_CHAIN_CYCLES 3
int gb_probe_clock_cycles(void) {
#if defined(__x86_64__)
    return CLOCK_CHAIN_CYCLES;
#else
    return 0; /* not measured: no latency known for this architecture */
#endif
}

int64_t gb_probe_clock(int64_t iters, int64_t *sink) {
    uint64_t v = 3;
    int64_t t0 = now_ns();
#if defined(__x86_64__)
    for (int64_t i = 0; i < iters; ++i) __asm__ __volatile__("imul %0, %0" : "+r"(v));
#endif
    int64_t elapsed = now_ns() - t0;
    *sink = (int64_t)v;
    return elapsed;
}
