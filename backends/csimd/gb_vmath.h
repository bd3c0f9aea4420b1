/* Internal: the element-wise float32 math of the fused LPCNet step on 16-lane vectors
 * (gb_simd.h's v16f): exp, sigmoid and tanh in two variants, horizontal reductions, and the
 * tree sampler's compare.
 *
 * Accurate (the default). exp is Cephes' expf: n = round(x log2 e), r = x - n ln 2 in two
 * parts (Cody-Waite), a degree-5 polynomial in r, times 2^n; x is clamped to [-87, 87], so
 * every result is a normal float. sigmoid = 1 / (1 + exp(-x)) and tanh = 1 - 2 / (1 + exp(2x)),
 * with true divisions (on Zen 5 the rcp14 estimate plus a Newton step measured slower than
 * vdivps). Measured against float64 at 2e6 points over [-20, 20], the same on every ISA (the
 * test asserts slightly looser bounds): exp within 1.26 ulp (relative 1.2e-7); sigmoid within
 * 1.9e-7 relative (8.9e-8 absolute); tanh within 1.8e-7 absolute, 3e-7 relative where
 * |x| >= 0.5; nearer 0 the subtraction 1 - 2 / (1 + e^2x) cancels and the relative error
 * grows (1.4e-3 at worst, at tiny x) while the absolute one stays below 1.8e-7, which is
 * what the step's norm-wise error sees.
 *
 * Fast. tanh(x) ~ x (N0 + N1 x^2 + N2 x^4) / (1 + D1 x^2 + D2 x^4) with x clamped to
 * [-C, C], where the rational function reaches 1; sigmoid(x) = 1/2 + tanh(x / 2) / 2 with
 * the scale folded into its own coefficients (clamp 2C). The coefficients are a minimax fit
 * of tanh on [0, 9] (gemmbench/ops/lpcnet_activations.py states them and the bounds). The
 * rational function is within 8.6e-5 of tanh (4.3e-5 of sigmoid); the denominator's
 * reciprocal is, as in LPCNet, the ISA's estimate, whose relative error adds to that at most
 * |value| times: rcpps's 1.5 x 2^-12 on AVX2 (tanh within 4.56e-4, sigmoid 2.28e-4), rcp14's
 * 2^-14 on AVX-512 (1.5e-4, 7.4e-5); NEON refines frecpe's 8 bits and scalar C divides, so
 * there the rational function's error is all. No exp, no division: about ten vector
 * operations each (a Newton step on the estimate measured slower on the AVX2 gates:
 * docs/journal/2026-12-07-lpcnet-step.md).
 */
#ifndef GB_VMATH_H
#define GB_VMATH_H

#include "gb_simd.h"

#if defined(__AVX512F__)
GB_INLINE v16f v16_sub(v16f a, v16f b) { return _mm512_sub_ps(a, b); }
GB_INLINE v16f v16_div(v16f a, v16f b) { return _mm512_div_ps(a, b); }
GB_INLINE v16f v16_min(v16f a, v16f b) { return _mm512_min_ps(a, b); }
GB_INLINE v16f v16_max(v16f a, v16f b) { return _mm512_max_ps(a, b); }
GB_INLINE v16f v16_round(v16f a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
/* a * 2^n for integral n in [-126, 127] */
GB_INLINE v16f v16_ldexp(v16f a, v16f n) { return _mm512_scalef_ps(a, n); }
/* 1 / d for d >= 1: rcp14's estimate (relative error below 2^-14) */
GB_INLINE v16f v16_recip(v16f d) { return _mm512_rcp14_ps(d); }
#elif defined(__AVX2__)
#define GB_V16_BINARY(name, op) \
    GB_INLINE v16f name(v16f a, v16f b) { return (v16f){op(a.lo, b.lo), op(a.hi, b.hi)}; }
GB_V16_BINARY(v16_sub, _mm256_sub_ps)
GB_V16_BINARY(v16_div, _mm256_div_ps)
GB_V16_BINARY(v16_min, _mm256_min_ps)
GB_V16_BINARY(v16_max, _mm256_max_ps)
GB_INLINE __m256 round8(__m256 a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
GB_INLINE v16f v16_round(v16f a) { return (v16f){round8(a.lo), round8(a.hi)}; }
GB_INLINE __m256 pow2_8(__m256 n) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23));
}
GB_INLINE v16f v16_ldexp(v16f a, v16f n) {
    return (v16f){_mm256_mul_ps(a.lo, pow2_8(n.lo)), _mm256_mul_ps(a.hi, pow2_8(n.hi))};
}
/* rcpps's estimate (relative error below 1.5 x 2^-12) */
GB_INLINE v16f v16_recip(v16f d) { return (v16f){_mm256_rcp_ps(d.lo), _mm256_rcp_ps(d.hi)}; }
#elif defined(GB_NEON)
#define GB_V16_BINARY(name, op) \
    GB_INLINE v16f name(v16f a, v16f b) { return (v16f){op(a.q0, b.q0), op(a.q1, b.q1), op(a.q2, b.q2), op(a.q3, b.q3)}; }
GB_V16_BINARY(v16_sub, vsubq_f32)
GB_V16_BINARY(v16_div, vdivq_f32)
GB_V16_BINARY(v16_min, vminq_f32)
GB_V16_BINARY(v16_max, vmaxq_f32)
/* frintn: to nearest, ties to even */
GB_INLINE v16f v16_round(v16f a) { return (v16f){vrndnq_f32(a.q0), vrndnq_f32(a.q1), vrndnq_f32(a.q2), vrndnq_f32(a.q3)}; }
GB_INLINE float32x4_t pow2_q(float32x4_t n) {
    return vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23));
}
GB_INLINE v16f v16_ldexp(v16f a, v16f n) {
    return (v16f){vmulq_f32(a.q0, pow2_q(n.q0)), vmulq_f32(a.q1, pow2_q(n.q1)), vmulq_f32(a.q2, pow2_q(n.q2)),
                  vmulq_f32(a.q3, pow2_q(n.q3))};
}
/* frecpe's estimate is 8 bits: two frecps steps make it float32's */
GB_INLINE float32x4_t recip_q(float32x4_t d) {
    float32x4_t r = vrecpeq_f32(d);
    r = vmulq_f32(r, vrecpsq_f32(d, r));
    return vmulq_f32(r, vrecpsq_f32(d, r));
}
GB_INLINE v16f v16_recip(v16f d) { return (v16f){recip_q(d.q0), recip_q(d.q1), recip_q(d.q2), recip_q(d.q3)}; }
#else
#include <string.h>
#define GB_V16_BINARY(name, expr)                                       \
    GB_INLINE v16f name(v16f a, v16f b) {                               \
        for (int i = 0; i < 16; ++i) a.v[i] = (expr);                   \
        return a;                                                       \
    }
GB_V16_BINARY(v16_sub, a.v[i] - b.v[i])
GB_V16_BINARY(v16_div, a.v[i] / b.v[i])
GB_V16_BINARY(v16_min, a.v[i] < b.v[i] ? a.v[i] : b.v[i])
GB_V16_BINARY(v16_max, a.v[i] > b.v[i] ? a.v[i] : b.v[i])
/* Adding and removing 1.5 * 2^23 rounds to nearest even (|a| < 2^22), like roundscale. */
GB_INLINE v16f v16_round(v16f a) {
    for (int i = 0; i < 16; ++i) a.v[i] = (a.v[i] + 12582912.0f) - 12582912.0f;
    return a;
}
GB_INLINE v16f v16_ldexp(v16f a, v16f n) {
    for (int i = 0; i < 16; ++i) {
        uint32_t bits = (uint32_t)((int32_t)n.v[i] + 127) << 23;
        float pow2;
        memcpy(&pow2, &bits, sizeof pow2);
        a.v[i] *= pow2;
    }
    return a;
}
GB_INLINE v16f v16_recip(v16f d) {
    for (int i = 0; i < 16; ++i) d.v[i] = 1.0f / d.v[i];
    return d;
}
#endif

/* The scalar build keeps these out of line: inlined into every caller, sixteen-lane arrays of
 * floats made gcc's alias analysis take 15 s per compile, for no speed a scalar build needs. */
#if defined(GB_SCALAR)
#define GB_VMATH static __attribute__((noinline))
#else
#define GB_VMATH GB_INLINE
#endif

GB_VMATH v16f v16_exp(v16f x) {
    x = v16_min(v16_max(x, v16_set1(-87.0f)), v16_set1(87.0f));
    v16f n = v16_round(v16_mul(x, v16_set1(1.44269504088896341f)));
    /* n ln 2 in two parts (Cody-Waite): n * 0.693359375 is exact for |n| < 2^15. */
    v16f r = v16_fma(n, v16_set1(2.12194440e-4f), v16_fma(n, v16_set1(-0.693359375f), x));
    v16f p = v16_fma(v16_set1(1.9875691500e-4f), r, v16_set1(1.3981999507e-3f));
    p = v16_fma(p, r, v16_set1(8.3334519073e-3f));
    p = v16_fma(p, r, v16_set1(4.1665795894e-2f));
    p = v16_fma(p, r, v16_set1(1.6666665459e-1f));
    p = v16_fma(p, r, v16_set1(5.0000001201e-1f));
    p = v16_fma(v16_mul(p, r), r, v16_add(r, v16_set1(1.0f)));
    return v16_ldexp(p, n);
}

GB_VMATH v16f v16_sigmoid(v16f x) {
    v16f one = v16_set1(1.0f);
    return v16_div(one, v16_add(one, v16_exp(v16_sub(v16_zero(), x))));
}

GB_VMATH v16f v16_tanh(v16f x) {
    v16f one = v16_set1(1.0f);
    return v16_sub(one, v16_div(v16_set1(2.0f), v16_add(one, v16_exp(v16_add(x, x)))));
}

/* offset + x (n0 + n1 x^2 + n2 x^4) / (1 + d1 x^2 + d2 x^4), x clamped to [-clamp, clamp] */
GB_INLINE v16f v16_rational(v16f x, float clamp, float offset, float n0, float n1, float n2, float d1, float d2) {
    x = v16_min(v16_max(x, v16_set1(-clamp)), v16_set1(clamp));
    v16f y = v16_mul(x, x);
    v16f num = v16_mul(x, v16_fma(v16_fma(v16_set1(n2), y, v16_set1(n1)), y, v16_set1(n0)));
    v16f den = v16_fma(v16_fma(v16_set1(d2), y, v16_set1(d1)), y, v16_set1(1.0f));
    return v16_fma(num, v16_recip(den), v16_set1(offset));
}

GB_VMATH v16f v16_tanh_fast(v16f x) {
    return v16_rational(x, 5.0279f, 0.0f, 1.00024796f, 0.104295723f, 0.000713772373f, 0.437875271f, 0.0133157372f);
}

GB_VMATH v16f v16_sigmoid_fast(v16f x) {
    return v16_rational(x, 10.0558f, 0.5f, 0.250061989f, 0.0065184827f, 1.11526933e-05f, 0.109468818f,
                        0.000832233578f);
}

/* The tree sampler's decisions: bit i of the result is 1 where lane i of v is above thr[i]. */
#if defined(__AVX512F__)
GB_INLINE int64_t v16_above(v16f v, const float *thr) {
    return _mm512_cmp_ps_mask(v, _mm512_loadu_ps(thr), _CMP_GT_OQ);
}
#elif defined(__AVX2__)
GB_INLINE int64_t v16_above(v16f v, const float *thr) {
    int64_t lo = _mm256_movemask_ps(_mm256_cmp_ps(v.lo, _mm256_loadu_ps(thr), _CMP_GT_OQ));
    return lo | (int64_t)_mm256_movemask_ps(_mm256_cmp_ps(v.hi, _mm256_loadu_ps(thr + 8), _CMP_GT_OQ)) << 8;
}
#elif defined(GB_NEON)
GB_INLINE int64_t v16_above(v16f v, const float *thr) {
    static const uint32_t bit[4] = {1, 2, 4, 8};
    uint32x4_t weights = vld1q_u32(bit);
    const float32x4_t q[4] = {v.q0, v.q1, v.q2, v.q3};
    int64_t mask = 0;
    for (int i = 0; i < 4; ++i)
        mask |= (int64_t)vaddvq_u32(vandq_u32(vcgtq_f32(q[i], vld1q_f32(thr + 4 * i)), weights)) << (4 * i);
    return mask;
}
#else
GB_INLINE int64_t v16_above(v16f v, const float *thr) {
    int64_t mask = 0;
    for (int i = 0; i < 16; ++i) mask |= (int64_t)(v.v[i] > thr[i]) << i;
    return mask;
}
#endif

GB_INLINE float v16_hsum(v16f a) {
    float tmp[16], s = 0.0f;
    v16_storeu(tmp, a);
    for (int i = 0; i < 16; ++i) s += tmp[i];
    return s;
}

GB_INLINE float v16_hmax(v16f a) {
    float tmp[16], s;
    v16_storeu(tmp, a);
    s = tmp[0];
    for (int i = 1; i < 16; ++i) s = tmp[i] > s ? tmp[i] : s;
    return s;
}

#endif
