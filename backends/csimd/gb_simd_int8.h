/* Internal: the int8 half of the vector layer (gb_simd.h): u8 activations x s8 weights into
 * int32 lanes, and the float conversions on either side. Same rule: one #if branch per ISA,
 * each defining everything below.
 *
 *   v16i   16 int32 lanes: one dense panel's 16 rows
 *   v8i    8 int32 lanes: one 8x4 block's 8 rows
 *
 * aarch64 (GB_NEON): s8 x s8 instead (sdot with the dot product extension, smull and pairwise
 * adds without), activations without their offset: see GB_I8_ACT_OFFSET.
 *
 * One int32 lane accumulates 4 consecutive inputs of one output row ("dot4"): vpdpbusd does
 * it in one instruction; without VNNI, maddubs (u8 x s8 -> saturating s16 pair sums) then
 * madd with ones (-> s32). Weights |w| <= 63 keep every s16 pair sum below 32767
 * (2 * 254 * 63 = 32004), so the maddubs path is exact by construction; GB_I8_WMAX says which
 * range a build takes. */
#ifndef GB_SIMD_INT8_H
#define GB_SIMD_INT8_H

#include <string.h>

#include "gb_simd.h"

#if defined(__AVX512VNNI__) || !defined(__AVX2__)
#define GB_I8_WMAX 127 /* vpdpbusd and scalar C: no int16 intermediate */
#else
#define GB_I8_WMAX 63 /* maddubs: 2 * 254 * 63 = 32004 < 32767, its int16 pair sums never saturate */
#endif

/* The activation byte is GB_I8_ACT_OFFSET + rint(127 * clip(x, -1, 1)). x86's dot products take
 * u8 x s8, so LPCNet's unsigned activations keep their offset 127 and the kernels subtract
 * corr[r] = 127 * sum_j w[r][j] after the product. NEON's sdot and smull take s8 x s8: there the
 * offset is dropped before the product (offset 0, the byte holds a signed t in [-127, 127]) and
 * corr is 0. The integer acc - corr is the same either way, so is every output (gemmbench.quant,
 * scheme w127-row-u8off). With |t| <= 127 and w >= -128, two s8 x s8 products sum to at most
 * 2 * 128 * 127 = 32512, so NEON's int16 pair sums (without dot product) never wrap. */
#if defined(GB_NEON)
#define GB_I8_ACT_OFFSET 0
#else
#define GB_I8_ACT_OFFSET 127
#endif

/* The 4 activation bytes at p as one int32: the unit a dot4 broadcasts to every lane. */
GB_INLINE int32_t gb_load4(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* GB_I8_ACT_OFFSET + rint(127 * clip(x, -1, 1)), rounding half to even as np.rint does. */
GB_INLINE uint8_t gb_quantize_one(float x) {
    float t = x * 127.0f;
    t = t < -127.0f ? -127.0f : (t > 127.0f ? 127.0f : t);
    /* Adding and removing 1.5 * 2^23 rounds half to even, like cvtps2dq and np.rint. */
    t = (t + 12582912.0f) - 12582912.0f;
    return (uint8_t)(GB_I8_ACT_OFFSET + (int)t);
}

/* ---- activations: 32 at once, u8 = 127 + rint(127 * clip(x, -1, 1)) ----
 * In 256-bit registers on AVX-512 too: the 8x4 kernel is all ymm, and 512-bit instructions
 * in it cost more than they save, likely through the core's frequency license for 512-bit work
 * (docs/journal/2026-11-29-csimd-kernels.md). */
#if defined(__AVX2__)
/* rint(127 * clip(x, -1, 1)) as int32, 8 lanes */
GB_INLINE __m256i quantize8_ps(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
    return _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(x, hi), lo), hi));
}
GB_INLINE __m256i quantize8(const float *x) { return quantize8_ps(_mm256_loadu_ps(x)); }
/* 32 at once, in 256-bit registers: two saturating packs (exact: the values are within
 * [-127, 127]) leave 4-element chunks of the four vectors side by side per 128-bit lane, a
 * dword permutation restores the order, +127 as bytes wraps [-127, 127] onto [0, 254]. */
GB_INLINE void v32_quantize_u8(const float *x, uint8_t *dst /* 32 bytes */) {
    const __m256i ab = _mm256_packs_epi32(quantize8(x), quantize8(x + 8));
    const __m256i cd = _mm256_packs_epi32(quantize8(x + 16), quantize8(x + 24));
    const __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(ab, cd), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)dst, _mm256_add_epi8(bytes, _mm256_set1_epi8(127)));
}
#elif defined(GB_NEON)
/* rint(127 * clip(x, -1, 1)) for 8 floats, as int16 (fcvtns rounds half to even) */
GB_INLINE int16x8_t quantize8(const float *x) {
    const float32x4_t lo = vdupq_n_f32(-127.0f), hi = vdupq_n_f32(127.0f);
    const int32x4_t a = vcvtnq_s32_f32(vminq_f32(vmaxq_f32(vmulq_f32(vld1q_f32(x), hi), lo), hi));
    const int32x4_t b = vcvtnq_s32_f32(vminq_f32(vmaxq_f32(vmulq_f32(vld1q_f32(x + 4), hi), lo), hi));
    return vcombine_s16(vmovn_s32(a), vmovn_s32(b));
}
/* 32 signed bytes (offset 0: see GB_I8_ACT_OFFSET); the narrowing is exact, |t| <= 127. */
GB_INLINE void v32_quantize_u8(const float *x, uint8_t *dst) {
    for (int i = 0; i < 32; i += 16) {
        const int8x16_t t = vcombine_s8(vmovn_s16(quantize8(x + i)), vmovn_s16(quantize8(x + i + 8)));
        vst1q_u8(dst + i, vreinterpretq_u8_s8(t));
    }
}
#else
GB_INLINE void v32_quantize_u8(const float *x, uint8_t *dst) {
    for (int i = 0; i < 32; ++i) dst[i] = gb_quantize_one(x[i]);
}
#endif

#if defined(__AVX512F__) && defined(__AVX512BW__)
typedef __m512i v16i;
GB_INLINE v16i v16i_zero(void) { return _mm512_setzero_si512(); }
GB_INLINE v16i v16i_add(v16i a, v16i b) { return _mm512_add_epi32(a, b); }
/* acc[r] += sum_i x4[i] * w[4r + i], w 64 aligned bytes */
GB_INLINE v16i v16i_dot4(v16i acc, const uint8_t *x4, const int8_t *w) {
    __m512i x = _mm512_set1_epi32(gb_load4(x4)), wv = _mm512_load_si512((const void *)w);
#if defined(__AVX512VNNI__)
    return _mm512_dpbusd_epi32(acc, x, wv);
#else
    return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(x, wv), _mm512_set1_epi16(1)));
#endif
}
/* Keeps four accumulators where they are across a loop iteration: without it gcc 12 copies
 * three of them into other registers at every step (vpdpbusd overwrites its accumulator),
 * three extra zmm moves per four dot products (6% of the dense kernel, in L1). */
GB_INLINE void v16i_pin(v16i *a, v16i *b, v16i *c, v16i *d) { __asm__("" : "+v"(*a), "+v"(*b), "+v"(*c), "+v"(*d)); }
/* (float)(acc - corr) * scale */
GB_INLINE v16f v16i_dequant(v16i acc, const int32_t *corr, const float *scale) {
    __m512i d = _mm512_sub_epi32(acc, _mm512_loadu_si512((const void *)corr));
    return _mm512_mul_ps(_mm512_cvtepi32_ps(d), _mm512_loadu_ps(scale));
}
/* The GEMM's lanes are columns of Y (gemm.c): 4 inputs of one column per int32 lane. */
GB_INLINE v16i v16i_load(const void *p) { return _mm512_load_si512(p); }
GB_INLINE void v16i_store(void *p, v16i a) { _mm512_store_si512(p, a); }
/* acc[c] += sum_i x[c].byte[i] * w4[i]: x's lanes hold 4 activation bytes each, w4's 4 weights in every lane */
GB_INLINE v16i v16i_dot4_lanes(v16i acc, v16i x, const int8_t *w4) {
    const __m512i w = _mm512_set1_epi32(gb_load4((const uint8_t *)w4));
#if defined(__AVX512VNNI__)
    return _mm512_dpbusd_epi32(acc, x, w);
#else
    return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(x, w), _mm512_set1_epi16(1)));
#endif
}
/* (float)(acc - corr) * scale, one row's corr and scale in every lane */
GB_INLINE v16f v16i_dequant1(v16i acc, int32_t corr, float scale) {
    return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc, _mm512_set1_epi32(corr))), _mm512_set1_ps(scale));
}
/* 127 + rint(127 clip(x, -1, 1)) per lane, as int32 */
GB_INLINE __m512i quantize16(v16f x) {
    const __m512 lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
    return _mm512_add_epi32(_mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(x, hi), lo), hi)),
                            _mm512_set1_epi32(127));
}
/* Lane c: the activation bytes of a[c], b[c], c[c], d[c], in that order (4 inputs of one column). */
GB_INLINE v16i v16i_quantize4(v16f a, v16f b, v16f c, v16f d) {
    return _mm512_or_si512(_mm512_or_si512(quantize16(a), _mm512_slli_epi32(quantize16(b), 8)),
                           _mm512_or_si512(_mm512_slli_epi32(quantize16(c), 16), _mm512_slli_epi32(quantize16(d), 24)));
}
#elif defined(__AVX2__)
typedef struct { __m256i lo, hi; } v16i;
GB_INLINE __m256i dot4_256(__m256i acc, __m256i x, __m256i w) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(x, w), _mm256_set1_epi16(1)));
}
GB_INLINE v16i v16i_zero(void) { return (v16i){_mm256_setzero_si256(), _mm256_setzero_si256()}; }
GB_INLINE v16i v16i_add(v16i a, v16i b) { return (v16i){_mm256_add_epi32(a.lo, b.lo), _mm256_add_epi32(a.hi, b.hi)}; }
GB_INLINE void v16i_pin(v16i *a, v16i *b, v16i *c, v16i *d) { (void)a, (void)b, (void)c, (void)d; }
GB_INLINE v16i v16i_dot4(v16i acc, const uint8_t *x4, const int8_t *w) {
    __m256i x = _mm256_set1_epi32(gb_load4(x4));
    return (v16i){dot4_256(acc.lo, x, _mm256_load_si256((const __m256i *)w)),
                  dot4_256(acc.hi, x, _mm256_load_si256((const __m256i *)(w + 32)))};
}
GB_INLINE v16f v16i_dequant(v16i acc, const int32_t *corr, const float *scale) {
    __m256i dlo = _mm256_sub_epi32(acc.lo, _mm256_loadu_si256((const __m256i *)corr));
    __m256i dhi = _mm256_sub_epi32(acc.hi, _mm256_loadu_si256((const __m256i *)(corr + 8)));
    return (v16f){_mm256_mul_ps(_mm256_cvtepi32_ps(dlo), _mm256_loadu_ps(scale)),
                  _mm256_mul_ps(_mm256_cvtepi32_ps(dhi), _mm256_loadu_ps(scale + 8))};
}
GB_INLINE v16i v16i_load(const void *p) {
    return (v16i){_mm256_load_si256((const __m256i *)p), _mm256_load_si256((const __m256i *)p + 1)};
}
GB_INLINE void v16i_store(void *p, v16i a) { _mm256_store_si256((__m256i *)p, a.lo), _mm256_store_si256((__m256i *)p + 1, a.hi); }
GB_INLINE v16i v16i_dot4_lanes(v16i acc, v16i x, const int8_t *w4) {
    const __m256i w = _mm256_set1_epi32(gb_load4((const uint8_t *)w4));
    return (v16i){dot4_256(acc.lo, x.lo, w), dot4_256(acc.hi, x.hi, w)};
}
GB_INLINE v16f v16i_dequant1(v16i acc, int32_t corr, float scale) {
    const __m256i c = _mm256_set1_epi32(corr);
    const __m256 s = _mm256_set1_ps(scale);
    return (v16f){_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(acc.lo, c)), s),
                  _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(acc.hi, c)), s)};
}
GB_INLINE __m256i bytes4_256(__m256 a, __m256 b, __m256 c, __m256 d) {
    const __m256i offset = _mm256_set1_epi32(127);
    const __m256i qa = _mm256_add_epi32(quantize8_ps(a), offset), qb = _mm256_add_epi32(quantize8_ps(b), offset);
    const __m256i qc = _mm256_add_epi32(quantize8_ps(c), offset), qd = _mm256_add_epi32(quantize8_ps(d), offset);
    return _mm256_or_si256(_mm256_or_si256(qa, _mm256_slli_epi32(qb, 8)),
                           _mm256_or_si256(_mm256_slli_epi32(qc, 16), _mm256_slli_epi32(qd, 24)));
}
GB_INLINE v16i v16i_quantize4(v16f a, v16f b, v16f c, v16f d) {
    return (v16i){bytes4_256(a.lo, b.lo, c.lo, d.lo), bytes4_256(a.hi, b.hi, c.hi, d.hi)};
}
#elif defined(GB_NEON)
/* acc[r] += the 4 signed bytes of x (the same in every lane) times row r's 4 weights in w:
 * sdot with the dot product extension, else two widening multiplies into int16 and two
 * pairwise adds (products of 4 rows x 4 inputs: 16 bytes of w). */
GB_INLINE int32x4_t dot4_qq(int32x4_t acc, int8x16_t wv, int8x16_t x) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, wv, x);
#else
    const int16x8_t rows01 = vmull_s8(vget_low_s8(wv), vget_low_s8(x)), rows23 = vmull_high_s8(wv, x);
    return vpadalq_s16(acc, vpaddq_s16(rows01, rows23));
#endif
}
GB_INLINE int32x4_t dot4_q(int32x4_t acc, int8x16_t x, const int8_t *w) { return dot4_qq(acc, vld1q_s8(w), x); }
GB_INLINE int8x16_t dup4(const uint8_t *x4) { return vreinterpretq_s8_s32(vdupq_n_s32(gb_load4(x4))); }
typedef struct { int32x4_t q0, q1, q2, q3; } v16i;
GB_INLINE v16i v16i_zero(void) { int32x4_t z = vdupq_n_s32(0); return (v16i){z, z, z, z}; }
GB_INLINE v16i v16i_add(v16i a, v16i b) {
    return (v16i){vaddq_s32(a.q0, b.q0), vaddq_s32(a.q1, b.q1), vaddq_s32(a.q2, b.q2), vaddq_s32(a.q3, b.q3)};
}
GB_INLINE v16i v16i_dot4(v16i acc, const uint8_t *x4, const int8_t *w) {
    const int8x16_t x = dup4(x4);
    return (v16i){dot4_q(acc.q0, x, w), dot4_q(acc.q1, x, w + 16), dot4_q(acc.q2, x, w + 32), dot4_q(acc.q3, x, w + 48)};
}
GB_INLINE void v16i_pin(v16i *a, v16i *b, v16i *c, v16i *d) { (void)a, (void)b, (void)c, (void)d; }
GB_INLINE float32x4_t dequant_q(int32x4_t acc, const int32_t *corr, const float *scale) {
    return vmulq_f32(vcvtq_f32_s32(vsubq_s32(acc, vld1q_s32(corr))), vld1q_f32(scale));
}
GB_INLINE v16f v16i_dequant(v16i acc, const int32_t *corr, const float *scale) {
    return (v16f){dequant_q(acc.q0, corr, scale), dequant_q(acc.q1, corr + 4, scale + 4),
                  dequant_q(acc.q2, corr + 8, scale + 8), dequant_q(acc.q3, corr + 12, scale + 12)};
}
GB_INLINE v16i v16i_load(const void *p) {
    const int32_t *q = p;
    return (v16i){vld1q_s32(q), vld1q_s32(q + 4), vld1q_s32(q + 8), vld1q_s32(q + 12)};
}
GB_INLINE void v16i_store(void *p, v16i a) {
    int32_t *q = p;
    vst1q_s32(q, a.q0), vst1q_s32(q + 4, a.q1), vst1q_s32(q + 8, a.q2), vst1q_s32(q + 12, a.q3);
}
GB_INLINE int32x4_t dot4_lanes_q(int32x4_t acc, int32x4_t x, int8x16_t w) { return dot4_qq(acc, vreinterpretq_s8_s32(x), w); }
GB_INLINE v16i v16i_dot4_lanes(v16i acc, v16i x, const int8_t *w4) {
    const int8x16_t w = dup4((const uint8_t *)w4);
    return (v16i){dot4_lanes_q(acc.q0, x.q0, w), dot4_lanes_q(acc.q1, x.q1, w), dot4_lanes_q(acc.q2, x.q2, w),
                  dot4_lanes_q(acc.q3, x.q3, w)};
}
GB_INLINE v16f v16i_dequant1(v16i acc, int32_t corr, float scale) {
    const int32x4_t c = vdupq_n_s32(corr);
    const float32x4_t s = vdupq_n_f32(scale);
    return (v16f){vmulq_f32(vcvtq_f32_s32(vsubq_s32(acc.q0, c)), s), vmulq_f32(vcvtq_f32_s32(vsubq_s32(acc.q1, c)), s),
                  vmulq_f32(vcvtq_f32_s32(vsubq_s32(acc.q2, c)), s), vmulq_f32(vcvtq_f32_s32(vsubq_s32(acc.q3, c)), s)};
}
/* the signed byte rint(127 clip(x)) (offset 0) of each lane, in the low 8 bits */
GB_INLINE int32x4_t quantize4_q(float32x4_t x) {
    const float32x4_t lo = vdupq_n_f32(-127.0f), hi = vdupq_n_f32(127.0f);
    return vandq_s32(vcvtnq_s32_f32(vminq_f32(vmaxq_f32(vmulq_f32(x, hi), lo), hi)), vdupq_n_s32(255));
}
GB_INLINE int32x4_t bytes4_q(float32x4_t a, float32x4_t b, float32x4_t c, float32x4_t d) {
    return vorrq_s32(vorrq_s32(quantize4_q(a), vshlq_n_s32(quantize4_q(b), 8)),
                     vorrq_s32(vshlq_n_s32(quantize4_q(c), 16), vshlq_n_s32(quantize4_q(d), 24)));
}
GB_INLINE v16i v16i_quantize4(v16f a, v16f b, v16f c, v16f d) {
    return (v16i){bytes4_q(a.q0, b.q0, c.q0, d.q0), bytes4_q(a.q1, b.q1, c.q1, d.q1), bytes4_q(a.q2, b.q2, c.q2, d.q2),
                  bytes4_q(a.q3, b.q3, c.q3, d.q3)};
}
#else
/* Lane r of acc += the 4 bytes at x4 times row r's 4 weights; v16i and v8i below share it. */
GB_INLINE void dot4_lanes(int32_t *acc, int lanes, const uint8_t *x4, const int8_t *w) {
    GB_UNROLL for (int r = 0; r < lanes; ++r)
        acc[r] += x4[0] * w[4 * r] + x4[1] * w[4 * r + 1] + x4[2] * w[4 * r + 2] + x4[3] * w[4 * r + 3];
}
typedef struct { int32_t v[16]; } v16i;
GB_INLINE v16i v16i_zero(void) { v16i r = {{0}}; return r; }
GB_INLINE v16i v16i_add(v16i a, v16i b) { for (int i = 0; i < 16; ++i) a.v[i] += b.v[i]; return a; }
GB_INLINE v16i v16i_dot4(v16i acc, const uint8_t *x4, const int8_t *w) { dot4_lanes(acc.v, 16, x4, w); return acc; }
GB_INLINE void v16i_pin(v16i *a, v16i *b, v16i *c, v16i *d) { (void)a, (void)b, (void)c, (void)d; }
GB_INLINE v16f v16i_dequant(v16i acc, const int32_t *corr, const float *scale) {
    v16f r;
    for (int i = 0; i < 16; ++i) r.v[i] = (float)(acc.v[i] - corr[i]) * scale[i];
    return r;
}
GB_INLINE v16i v16i_load(const void *p) { v16i r; memcpy(r.v, p, sizeof r.v); return r; }
GB_INLINE void v16i_store(void *p, v16i a) { memcpy(p, a.v, sizeof a.v); }
GB_INLINE v16i v16i_dot4_lanes(v16i acc, v16i x, const int8_t *w4) {
    GB_UNROLL for (int c = 0; c < 16; ++c) {
        const uint32_t b = (uint32_t)x.v[c];
        acc.v[c] += (int32_t)(b & 255) * w4[0] + (int32_t)((b >> 8) & 255) * w4[1] + (int32_t)((b >> 16) & 255) * w4[2] +
                    (int32_t)(b >> 24) * w4[3];
    }
    return acc;
}
GB_INLINE v16f v16i_dequant1(v16i acc, int32_t corr, float scale) {
    v16f r;
    for (int i = 0; i < 16; ++i) r.v[i] = (float)(acc.v[i] - corr) * scale;
    return r;
}
GB_INLINE v16i v16i_quantize4(v16f a, v16f b, v16f c, v16f d) {
    v16i r;
    for (int i = 0; i < 16; ++i)
        r.v[i] = (int32_t)((uint32_t)gb_quantize_one(a.v[i]) | (uint32_t)gb_quantize_one(b.v[i]) << 8 |
                           (uint32_t)gb_quantize_one(c.v[i]) << 16 | (uint32_t)gb_quantize_one(d.v[i]) << 24);
    return r;
}
#endif


#if defined(__AVX2__)
typedef __m256i v8i;
GB_INLINE v8i v8i_zero(void) { return _mm256_setzero_si256(); }
GB_INLINE v8i v8i_add(v8i a, v8i b) { return _mm256_add_epi32(a, b); }
/* acc[r] += sum_i x4[i] * w[4r + i], w 32 aligned bytes */
GB_INLINE v8i v8i_dot4(v8i acc, const uint8_t *x4, const int8_t *w) {
    __m256i x = _mm256_set1_epi32(gb_load4(x4)), wv = _mm256_load_si256((const __m256i *)w);
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    return _mm256_dpbusd_epi32(acc, x, wv);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(x, wv), _mm256_set1_epi16(1)));
#endif
}
/* y = (float)(acc - corr) * scale [+ diag * xr]: a separate multiply and add, as numpy does. */
GB_INLINE void v8i_dequant_store(float *y, v8i acc, const int32_t *corr, const float *scale, const float *diag,
                                 const float *xr) {
    __m256 v = _mm256_cvtepi32_ps(_mm256_sub_epi32(acc, _mm256_loadu_si256((const __m256i *)corr)));
    v = _mm256_mul_ps(v, _mm256_loadu_ps(scale));
    if (diag) v = _mm256_add_ps(v, _mm256_mul_ps(_mm256_loadu_ps(diag), _mm256_loadu_ps(xr)));
    _mm256_storeu_ps(y, v);
}
#elif defined(GB_NEON)
typedef struct { int32x4_t q0, q1; } v8i;
GB_INLINE v8i v8i_zero(void) { int32x4_t z = vdupq_n_s32(0); return (v8i){z, z}; }
GB_INLINE v8i v8i_add(v8i a, v8i b) { return (v8i){vaddq_s32(a.q0, b.q0), vaddq_s32(a.q1, b.q1)}; }
GB_INLINE v8i v8i_dot4(v8i acc, const uint8_t *x4, const int8_t *w) {
    const int8x16_t x = dup4(x4);
    return (v8i){dot4_q(acc.q0, x, w), dot4_q(acc.q1, x, w + 16)};
}
/* y = (float)(acc - corr) * scale [+ diag * xr]: a separate multiply and add, as numpy does. */
GB_INLINE float32x4_t dequant_diag_q(int32x4_t acc, const int32_t *corr, const float *scale, const float *diag,
                                     const float *xr) {
    const float32x4_t v = dequant_q(acc, corr, scale);
    return diag ? vaddq_f32(v, vmulq_f32(vld1q_f32(diag), vld1q_f32(xr))) : v;
}
GB_INLINE void v8i_dequant_store(float *y, v8i acc, const int32_t *corr, const float *scale, const float *diag,
                                 const float *xr) {
    vst1q_f32(y, dequant_diag_q(acc.q0, corr, scale, diag, xr));
    vst1q_f32(y + 4, dequant_diag_q(acc.q1, corr + 4, scale + 4, diag ? diag + 4 : NULL, xr ? xr + 4 : NULL));
}
#else
typedef struct { int32_t v[8]; } v8i;
GB_INLINE v8i v8i_zero(void) { v8i r = {{0}}; return r; }
GB_INLINE v8i v8i_add(v8i a, v8i b) { for (int i = 0; i < 8; ++i) a.v[i] += b.v[i]; return a; }
GB_INLINE v8i v8i_dot4(v8i acc, const uint8_t *x4, const int8_t *w) { dot4_lanes(acc.v, 8, x4, w); return acc; }
GB_INLINE void v8i_dequant_store(float *y, v8i acc, const int32_t *corr, const float *scale, const float *diag,
                                 const float *xr) {
    for (int i = 0; i < 8; ++i) {
        float v = (float)(acc.v[i] - corr[i]) * scale[i];
        y[i] = diag ? v + diag[i] * xr[i] : v;
    }
}
#endif

#endif
