/* Internal: the int8 half of the vector layer (gb_simd.h): u8 activations x s8 weights into
 * int32 lanes, and the float conversions on either side. Same rule: one #if branch per ISA,
 * each defining everything below.
 *
 *   v16i   16 int32 lanes: one dense panel's 16 rows
 *   v8i    8 int32 lanes: one 8x4 block's 8 rows
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

/* The 4 activation bytes at p as one int32: the unit a dot4 broadcasts to every lane. */
GB_INLINE int32_t gb_load4(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* u8 = 127 + rint(127 * clip(x, -1, 1)), rounding half to even as np.rint does. */
GB_INLINE uint8_t gb_quantize_one(float x) {
    float t = x * 127.0f;
    t = t < -127.0f ? -127.0f : (t > 127.0f ? 127.0f : t);
    /* Adding and removing 1.5 * 2^23 rounds half to even, like cvtps2dq and np.rint. */
    t = (t + 12582912.0f) - 12582912.0f;
    return (uint8_t)(127 + (int)t);
}

/* ---- activations: 32 at once, u8 = 127 + rint(127 * clip(x, -1, 1)) ----
 * In 256-bit registers on AVX-512 too: the 8x4 kernel is all ymm, and 512-bit instructions
 * in it cost more than they save (50 ns of an 800 ns call, measured on a Sapphire Rapids
 * class VM: likely the core's frequency license for 512-bit work). */
#if defined(__AVX2__)
/* rint(127 * clip(x, -1, 1)) as int32, 8 lanes */
GB_INLINE __m256i quantize8(const float *x) {
    const __m256 lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
    return _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(_mm256_loadu_ps(x), hi), lo), hi));
}
/* 32 at once, in 256-bit registers: two saturating packs (exact: the values are within
 * [-127, 127]) leave 4-element chunks of the four vectors side by side per 128-bit lane, a
 * dword permutation restores the order, +127 as bytes wraps [-127, 127] onto [0, 254]. */
GB_INLINE void v32_quantize_u8(const float *x, uint8_t *dst /* 32 bytes */) {
    const __m256i ab = _mm256_packs_epi32(quantize8(x), quantize8(x + 8));
    const __m256i cd = _mm256_packs_epi32(quantize8(x + 16), quantize8(x + 24));
    const __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(ab, cd), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)dst, _mm256_add_epi8(bytes, _mm256_set1_epi8(127)));
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
