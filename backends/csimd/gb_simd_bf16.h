/* Internal: the bf16 part of the vector layer (gb_simd.h). Same rule: one #if branch per ISA,
 * each defining everything below.
 *
 * bf16 weights are stored in pairs: 64 bytes hold 16 lanes of (first, second) bf16, the
 * first in the low half of each 32-bit lane. A bf16 is the high half of a float32, so
 * widening is a shift (first) or a mask (second), exact, and needs nothing past AVX-512F.
 * Where the CPU has AVX512_BF16, GB_BF16_DOT is defined and v16_dot_bf16 multiplies a pair
 * of bf16 weights by a pair of bf16 activations and adds both products to a float lane
 * (vdpbf16ps); the kernels then round the activations to bf16 once per call. */
#ifndef GB_SIMD_BF16_H
#define GB_SIMD_BF16_H

#include <string.h>

#include "gb_simd.h"

/* float32 -> bf16, round to nearest, ties to even; a NaN stays a (quiet) NaN. */
GB_INLINE uint16_t gb_bf16_one(float f) {
    uint32_t bits;
    memcpy(&bits, &f, 4);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((bits >> 16) | 0x40u);
    return (uint16_t)((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

GB_INLINE uint32_t gb_load_u32(const void *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

#if defined(__AVX512F__)
/* The 16 first (*even) and 16 second (*odd) weights of 64 aligned bytes of pairs, as floats. */
GB_INLINE void v16_widen_pairs(const uint16_t *w, v16f *even, v16f *odd) {
    const __m512i v = _mm512_load_si512((const void *)w);
    *even = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
    *odd = _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32((int)0xffff0000u)));
}
#elif defined(__AVX2__)
GB_INLINE void v16_widen_pairs(const uint16_t *w, v16f *even, v16f *odd) {
    const __m256i lo = _mm256_load_si256((const __m256i *)w), hi = _mm256_load_si256((const __m256i *)(w + 16));
    const __m256i mask = _mm256_set1_epi32((int)0xffff0000u);
    *even = (v16f){_mm256_castsi256_ps(_mm256_slli_epi32(lo, 16)), _mm256_castsi256_ps(_mm256_slli_epi32(hi, 16))};
    *odd = (v16f){_mm256_castsi256_ps(_mm256_and_si256(lo, mask)), _mm256_castsi256_ps(_mm256_and_si256(hi, mask))};
}
#elif defined(GB_NEON)
GB_INLINE void widen_q(const uint16_t *w, float32x4_t *even, float32x4_t *odd) {
    const uint32x4_t v = vreinterpretq_u32_u16(vld1q_u16(w));
    *even = vreinterpretq_f32_u32(vshlq_n_u32(v, 16));
    *odd = vreinterpretq_f32_u32(vandq_u32(v, vdupq_n_u32(0xffff0000u)));
}
GB_INLINE void v16_widen_pairs(const uint16_t *w, v16f *even, v16f *odd) {
    widen_q(w, &even->q0, &odd->q0), widen_q(w + 8, &even->q1, &odd->q1);
    widen_q(w + 16, &even->q2, &odd->q2), widen_q(w + 24, &even->q3, &odd->q3);
}
#else
GB_INLINE void v16_widen_pairs(const uint16_t *w, v16f *even, v16f *odd) {
    GB_UNROLL for (int i = 0; i < 16; ++i) {
        const uint32_t e = (uint32_t)w[2 * i] << 16, o = (uint32_t)w[2 * i + 1] << 16;
        memcpy(&even->v[i], &e, 4);
        memcpy(&odd->v[i], &o, 4);
    }
}
#endif

#if defined(__AVX512F__) && defined(__AVX512BF16__)
#define GB_BF16_DOT 1
/* acc[i] += w first[i] * x2 low half + w second[i] * x2 high half, products of bf16 in float. */
GB_INLINE v16f v16_dot_bf16(v16f acc, uint32_t x2, const uint16_t *w) {
    const __m512i wv = _mm512_load_si512((const void *)w);
    return _mm512_dpbf16_ps(acc, (__m512bh)_mm512_set1_epi32((int)x2), (__m512bh)wv);
}
/* 16 floats -> 16 bf16, round to nearest even (vcvtneps2bf16). */
GB_INLINE void v16_store_bf16(uint16_t *dst, v16f x) {
    _mm256_storeu_si256((__m256i *)dst, (__m256i)_mm512_cvtneps_pbh(x));
}
#endif

#endif
