/* Internal: the one vector layer. Kernels are written once against the types and functions
 * here (and in gb_simd_int8.h, its int8 half); only this layer names intrinsics.
 *
 * Each ISA is one branch of #if, picked by the compiler's predefined macros for the -m flags
 * of the level (gemmbench/machine/isa.py): __AVX512F__, __AVX2__, GB_NEON (aarch64), else portable
 * scalar C. A new ISA is one more branch defining every type and function of the branch above
 * it, plus its GB_ISA name; nothing in the kernels changes.
 *
 *   v16f   16 float lanes: one zmm, two ymm, four NEON q registers, or sixteen scalars
 *
 * Also here: the ISA's identity (GB_ISA, the name gemmbench.isa gives the level) and the
 * timing helpers every *_time entry point uses. */
#ifndef GB_SIMD_H
#define GB_SIMD_H

#include <stdint.h>
#include <time.h>

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif
/* aarch64 always predefines __ARM_NEON, so its scalar build would look like a NEON one: the
 * neon levels name themselves with -DGB_NEON (gemmbench/machine/isa.py), the way -mavx2 names avx2. */
#if defined(GB_NEON)
#if !defined(__ARM_NEON)
#error "GB_NEON needs an Advanced SIMD target (aarch64)"
#endif
#include <arm_neon.h>
#endif

#define GB_INLINE static inline __attribute__((always_inline))
/* A lane loop of the scalar branch, unrolled so its lanes live in registers, not on the stack. */
#define GB_UNROLL _Pragma("GCC unroll 16")

/* ---- identity: the level these flags build, as gemmbench/machine/isa.py names it ---- */
#if defined(__AMX_INT8__) && defined(__AVX512VNNI__)
#define GB_ISA "amx-int8"
#elif defined(__AMX_BF16__) && defined(__AVX512BF16__)
#define GB_ISA "amx-bf16"
#elif defined(__AVX512F__) && defined(__AVX512FP16__)
#define GB_ISA "avx512fp16"
#elif defined(__AVX512F__) && defined(__AVX512BF16__)
#define GB_ISA "avx512bf16"
#elif defined(__AVX512F__) && defined(__AVX512VNNI__)
#define GB_ISA "avx512vnni"
#elif defined(__AVX512F__) && defined(__AVX512BW__)
#define GB_ISA "avx512"
#elif defined(__AVX2__) && defined(__FMA__)
#define GB_ISA "avx2"
#elif defined(GB_NEON) && defined(__ARM_FEATURE_DOTPROD)
#define GB_ISA "neon-dotprod"
#elif defined(GB_NEON)
#define GB_ISA "neon"
#else
#define GB_ISA "scalar"
#endif

/* ---- timing: each *_time entry point is `t0 = gb_now_ns(); loop { call; GB_BARRIER(); }
 * return gb_now_ns() - t0;`, written out where it is used. ---- */

/* Keeps the timed loop honest: outputs must be stored and inputs reloaded each round. */
#define GB_BARRIER() __asm__ __volatile__("" ::: "memory")

GB_INLINE int64_t gb_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* ---- the eight uint16 columns of a lockstep step (groups.c), as two words of four ----
 * x86: one 16-byte vector load and two moves to general registers instead of two 8-byte loads.
 * The 16x1 float kernel runs out of load slots (per block: its weights, the broadcast of its
 * input, a share of the index) before vector ALU slots, so one load less per eight blocks pays
 * (docs/journal/2026-11-29-csimd-kernels.md). The 8x4 int8 kernel lost by it, so it keeps its scalar loads. The
 * empty asm keeps gcc from splitting the vector load back into two scalar loads. */
#if defined(__AVX2__) || defined(__AVX512F__)
GB_INLINE void gb_columns8(const int32_t *idx, uint64_t *c0, uint64_t *c1) {
    __m128i v = _mm_loadu_si128((const __m128i *)idx);
    __asm__("" : "+x"(v));
    *c0 = (uint64_t)_mm_cvtsi128_si64(v), *c1 = (uint64_t)_mm_extract_epi64(v, 1);
}
#else
GB_INLINE void gb_columns8(const int32_t *idx, uint64_t *c0, uint64_t *c1) {
    __builtin_memcpy(c0, idx, 8), __builtin_memcpy(c1, idx + 2, 8);
}
#endif

/* ---- v16f ---- */
#if defined(__AVX512F__)
typedef __m512 v16f;
GB_INLINE v16f v16_zero(void) { return _mm512_setzero_ps(); }
GB_INLINE v16f v16_load(const float *p) { return _mm512_load_ps(p); }
GB_INLINE v16f v16_loadu(const float *p) { return _mm512_loadu_ps(p); }
GB_INLINE void v16_storeu(float *p, v16f a) { _mm512_storeu_ps(p, a); }
GB_INLINE v16f v16_set1(float a) { return _mm512_set1_ps(a); }
GB_INLINE v16f v16_fma(v16f a, v16f b, v16f c) { return _mm512_fmadd_ps(a, b, c); }
GB_INLINE v16f v16_mul(v16f a, v16f b) { return _mm512_mul_ps(a, b); }
GB_INLINE v16f v16_add(v16f a, v16f b) { return _mm512_add_ps(a, b); }
#elif defined(__AVX2__)
typedef struct { __m256 lo, hi; } v16f;
GB_INLINE v16f v16_zero(void) { return (v16f){_mm256_setzero_ps(), _mm256_setzero_ps()}; }
GB_INLINE v16f v16_load(const float *p) { return (v16f){_mm256_load_ps(p), _mm256_load_ps(p + 8)}; }
GB_INLINE v16f v16_loadu(const float *p) { return (v16f){_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
GB_INLINE void v16_storeu(float *p, v16f a) { _mm256_storeu_ps(p, a.lo); _mm256_storeu_ps(p + 8, a.hi); }
GB_INLINE v16f v16_set1(float a) { __m256 b = _mm256_set1_ps(a); return (v16f){b, b}; }
GB_INLINE v16f v16_fma(v16f a, v16f b, v16f c) {
    return (v16f){_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)};
}
GB_INLINE v16f v16_mul(v16f a, v16f b) { return (v16f){_mm256_mul_ps(a.lo, b.lo), _mm256_mul_ps(a.hi, b.hi)}; }
GB_INLINE v16f v16_add(v16f a, v16f b) { return (v16f){_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)}; }
#elif defined(GB_NEON)
/* Four q registers of NEON's 32: a kernel naming eight accumulators (the block-sparse groups)
 * fills all 32, so gcc spills some; correct, and untimed here (no aarch64 host). */
typedef struct { float32x4_t q0, q1, q2, q3; } v16f;
GB_INLINE v16f v16_zero(void) { float32x4_t z = vdupq_n_f32(0.0f); return (v16f){z, z, z, z}; }
GB_INLINE v16f v16_loadu(const float *p) { return (v16f){vld1q_f32(p), vld1q_f32(p + 4), vld1q_f32(p + 8), vld1q_f32(p + 12)}; }
GB_INLINE v16f v16_load(const float *p) { return v16_loadu(p); }
GB_INLINE void v16_storeu(float *p, v16f a) {
    vst1q_f32(p, a.q0), vst1q_f32(p + 4, a.q1), vst1q_f32(p + 8, a.q2), vst1q_f32(p + 12, a.q3);
}
GB_INLINE v16f v16_set1(float a) { float32x4_t b = vdupq_n_f32(a); return (v16f){b, b, b, b}; }
/* c + a b, fused (fmla) */
GB_INLINE v16f v16_fma(v16f a, v16f b, v16f c) {
    return (v16f){vfmaq_f32(c.q0, a.q0, b.q0), vfmaq_f32(c.q1, a.q1, b.q1), vfmaq_f32(c.q2, a.q2, b.q2),
                  vfmaq_f32(c.q3, a.q3, b.q3)};
}
GB_INLINE v16f v16_mul(v16f a, v16f b) {
    return (v16f){vmulq_f32(a.q0, b.q0), vmulq_f32(a.q1, b.q1), vmulq_f32(a.q2, b.q2), vmulq_f32(a.q3, b.q3)};
}
GB_INLINE v16f v16_add(v16f a, v16f b) {
    return (v16f){vaddq_f32(a.q0, b.q0), vaddq_f32(a.q1, b.q1), vaddq_f32(a.q2, b.q2), vaddq_f32(a.q3, b.q3)};
}
#else
#define GB_SCALAR 1
typedef struct { float v[16]; } v16f;
GB_INLINE v16f v16_zero(void) { v16f r = {{0}}; return r; }
GB_INLINE v16f v16_loadu(const float *p) { v16f r; for (int i = 0; i < 16; ++i) r.v[i] = p[i]; return r; }
GB_INLINE v16f v16_load(const float *p) { return v16_loadu(p); }
GB_INLINE void v16_storeu(float *p, v16f a) { for (int i = 0; i < 16; ++i) p[i] = a.v[i]; }
GB_INLINE v16f v16_set1(float a) { v16f r; for (int i = 0; i < 16; ++i) r.v[i] = a; return r; }
GB_INLINE v16f v16_fma(v16f a, v16f b, v16f c) { for (int i = 0; i < 16; ++i) c.v[i] += a.v[i] * b.v[i]; return c; }
GB_INLINE v16f v16_mul(v16f a, v16f b) { for (int i = 0; i < 16; ++i) a.v[i] *= b.v[i]; return a; }
GB_INLINE v16f v16_add(v16f a, v16f b) { for (int i = 0; i < 16; ++i) a.v[i] += b.v[i]; return a; }
#endif

/* Store the first `rows` lanes: a full store, or through a stack buffer for the ragged last panel. */
GB_INLINE void v16_store_rows(float *y, v16f a, int64_t rows) {
    if (rows >= 16) {
        v16_storeu(y, a);
        return;
    }
    float tmp[16];
    v16_storeu(tmp, a);
    for (int64_t i = 0; i < rows; ++i) y[i] = tmp[i];
}

/* The first `count` (0 .. 16) lanes from p, zero in the others; lanes past count are never read. */
#if defined(__AVX512F__)
GB_INLINE __mmask16 gb_lanes(int64_t count) { return (__mmask16)(count >= 16 ? 0xFFFF : (1u << count) - 1); }
GB_INLINE v16f v16_loadn(const float *p, int64_t count) { return _mm512_maskz_loadu_ps(gb_lanes(count), p); }
GB_INLINE void v16_storen(float *p, v16f a, int64_t count) { _mm512_mask_storeu_ps(p, gb_lanes(count), a); }
#elif defined(__AVX2__)
GB_INLINE __m256i gb_lanes8(int64_t count) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
GB_INLINE v16f v16_loadn(const float *p, int64_t count) {
    return (v16f){_mm256_maskload_ps(p, gb_lanes8(count)), _mm256_maskload_ps(p + 8, gb_lanes8(count - 8))};
}
GB_INLINE void v16_storen(float *p, v16f a, int64_t count) {
    _mm256_maskstore_ps(p, gb_lanes8(count), a.lo), _mm256_maskstore_ps(p + 8, gb_lanes8(count - 8), a.hi);
}
#else
GB_INLINE v16f v16_loadn(const float *p, int64_t count) {
    float tmp[16] = {0};
    for (int64_t i = 0; i < count && i < 16; ++i) tmp[i] = p[i];
    return v16_loadu(tmp);
}
GB_INLINE void v16_storen(float *p, v16f a, int64_t count) {
    float tmp[16];
    v16_storeu(tmp, a);
    for (int64_t i = 0; i < count && i < 16; ++i) p[i] = tmp[i];
}
#endif

/* y[r] += diag[r] * x[r % k] for 16 rows starting at r0, shared by the sparse kernels. */
GB_INLINE v16f v16_diag_term(const float *diag, const float *x, int64_t k, int64_t r0) {
    int64_t c0 = r0 % k;
    if (c0 + 16 <= k) return v16_mul(v16_loadu(diag + r0), v16_loadu(x + c0));
    float xs[16];
    for (int64_t i = 0; i < 16; ++i) xs[i] = x[(r0 + i) % k];
    return v16_mul(v16_loadu(diag + r0), v16_loadu(xs));
}

#endif
