/* Internal: the fp16 (IEEE binary16) part of the vector layer (gb_simd.h). Same rule: one #if
 * branch per ISA, each defining everything below.
 *
 * fp16 weights are stored 16 to a 32-byte column of a block or panel (16 rows). Widening them
 * to float32 is exact: vcvtph2ps (F16C on avx2, AVX-512F on avx512), vcvt on NEON, bit
 * arithmetic in scalar C. Where the CPU has AVX512_FP16, GB_FP16_MATH is defined and the
 * kernels multiply in fp16 instead: 32 lanes per vfmadd231ph, a pair of 16-row columns at a
 * time, on activations rounded to fp16 once per call; each lane sums at most GB_FP16_TERMS
 * products in fp16 before they are added to float32 sums (docs/csimd.md, "fp16"). */
#ifndef GB_SIMD_FP16_H
#define GB_SIMD_FP16_H

#include <string.h>

#include "gb_simd.h"

/* float32 -> fp16, round to nearest, ties to even, overflow to infinity; a NaN keeps its top
 * ten significand bits (made nonzero), quiet or not: numpy's npy_floatbits_to_halfbits, which
 * astype(np.float16) runs, so the two agree bit for bit. */
GB_INLINE uint16_t gb_fp16_one(float value) {
    uint32_t f;
    memcpy(&f, &value, 4);
    const uint32_t exponent = f & 0x7f800000u, sign = (f >> 16) & 0x8000u;
    if (exponent >= 0x47800000u) { /* overflow, infinity or NaN */
        const uint32_t significand = f & 0x007fffffu;
        if (exponent == 0x7f800000u && significand) return (uint16_t)(sign | 0x7c00u | (significand >> 13 ? significand >> 13 : 1));
        return (uint16_t)(sign | 0x7c00u);
    }
    if (exponent <= 0x38000000u) { /* an fp16 subnormal, or zero */
        if (exponent < 0x33000000u) return (uint16_t)sign;
        uint32_t significand = (0x00800000u + (f & 0x007fffffu)) >> (113 - (exponent >> 23));
        /* ties to even: the shift may have dropped up to 11 bits, so the tie test looks at them too */
        if ((significand & 0x3fffu) != 0x1000u || (f & 0x7ffu)) significand += 0x1000u;
        return (uint16_t)(sign | (significand >> 13));
    }
    uint32_t significand = f & 0x007fffffu;
    if ((significand & 0x3fffu) != 0x1000u) significand += 0x1000u;
    /* a carry out of the significand steps the exponent, up to infinity: both are right */
    return (uint16_t)(sign + ((exponent - 0x38000000u) >> 13) + (significand >> 13));
}

/* fp16 -> float32, exact. */
GB_INLINE float gb_fp16_float(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exponent = (h >> 10) & 0x1fu, significand = h & 0x3ffu;
    uint32_t bits;
    if (exponent == 0x1fu)
        bits = sign | 0x7f800000u | significand << 13;
    else if (exponent)
        bits = sign | (exponent + 112) << 23 | significand << 13;
    else {
        float v = (float)significand * 0x1p-24f; /* a subnormal (or zero): exact in float32 */
        return sign ? -v : v;
    }
    float v;
    memcpy(&v, &bits, 4);
    return v;
}

#if defined(__AVX512F__)
/* 16 fp16 weights (32 aligned bytes) as floats. */
GB_INLINE v16f v16_widen_fp16(const uint16_t *w) { return _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)w)); }
#elif defined(__AVX2__)
#if !defined(__F16C__)
#error "the avx2 level needs -mf16c (gemmbench/machine/isa.py)"
#endif
GB_INLINE v16f v16_widen_fp16(const uint16_t *w) {
    return (v16f){_mm256_cvtph_ps(_mm_load_si128((const __m128i *)w)), _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(w + 8)))};
}
#elif defined(GB_NEON)
GB_INLINE float32x4_t widen4(const uint16_t *w) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(w))); }
GB_INLINE v16f v16_widen_fp16(const uint16_t *w) { return (v16f){widen4(w), widen4(w + 4), widen4(w + 8), widen4(w + 12)}; }
#else
GB_INLINE v16f v16_widen_fp16(const uint16_t *w) {
    v16f r;
    GB_UNROLL for (int i = 0; i < 16; ++i) r.v[i] = gb_fp16_float(w[i]);
    return r;
}
#endif

#if defined(__AVX512F__) && defined(__AVX512FP16__)
#define GB_FP16_MATH 1
/* Products one fp16 lane sums before they go to float32: fp16 keeps 11 significant bits, so a
 * lane summing all of k = 384 products would lose far more (docs/journal/2026-11-29-half-precision.md). */
#define GB_FP16_TERMS 8
typedef __m512h v32h;
GB_INLINE v32h v32h_zero(void) { return _mm512_setzero_ph(); }
/* 32 fp16 from 64 aligned bytes. */
GB_INLINE v32h v32h_load(const uint16_t *p) { return _mm512_castsi512_ph(_mm512_load_si512((const void *)p)); }
/* acc + w a, 32 lanes of fp16, one rounding. */
GB_INLINE v32h v32h_fma(v32h acc, v32h w, v32h a) { return _mm512_fmadd_ph(w, a, acc); }
/* The activations of two columns c0, c1 (lanes 0-15, 16-31) from a table of 16 copies a column. */
GB_INLINE v32h v32h_columns(const uint16_t *table, int64_t c0, int64_t c1) {
    const __m256i lo = _mm256_load_si256((const __m256i *)(table + 16 * c0));
    const __m256i hi = _mm256_load_si256((const __m256i *)(table + 16 * c1));
    return _mm512_castsi512_ph(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1));
}
/* s + both 16-lane halves of h, in float32 (the halves hold the same 16 rows). */
GB_INLINE v16f v16_add_halves(v16f s, v32h h) {
    const __m512i bits = _mm512_castph_si512(h);
    const v16f lo = _mm512_cvtph_ps(_mm512_castsi512_si256(bits)), hi = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(bits, 1));
    return _mm512_add_ps(s, _mm512_add_ps(lo, hi));
}
/* fp16(x[j]) sixteen times at table + 16 j, for j < k (vcvtps2ph: round to nearest even). */
GB_INLINE void gb_fp16_table(const float *x, int64_t k, uint16_t *table) {
    int64_t j = 0;
    for (; j + 16 <= k; j += 16) {
        uint16_t h[16];
        _mm256_storeu_si256((__m256i *)h, _mm512_cvtps_ph(_mm512_loadu_ps(x + j), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        for (int i = 0; i < 16; ++i) _mm256_store_si256((__m256i *)(table + 16 * (j + i)), _mm256_set1_epi16((short)h[i]));
    }
    for (; j < k; ++j) _mm256_store_si256((__m256i *)(table + 16 * j), _mm256_set1_epi16((short)gb_fp16_one(x[j])));
}
#endif

#endif
