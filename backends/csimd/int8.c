/* int8 GEMV, dense and 8x4 block-sparse: u8 activations x s8 weights, int32 accumulators.
 *
 * One 32-bit lane accumulates 4 consecutive inputs of one output row: vpdpbusd does it
 * in one instruction; without VNNI, maddubs (u8 x s8 -> saturating s16 pair sums) then
 * madd with ones (-> s32). Weights |w| <= 63 keep every s16 pair sum below 32767, so the
 * maddubs path is exact by construction, not by luck.
 */
#define _POSIX_C_SOURCE 199309L
#include <string.h>

#include "gb_internal.h"
#include "gb_kernels.h"
#include "gb_simd.h"

int gb_int8_weight_max(void) { return GB_I8_WMAX; }
int gb_int8_weight_min(void) { return GB_I8_WMAX == 127 ? -128 : -GB_I8_WMAX; }

static int round_up(int v, int to) { return (v + to - 1) / to * to; }

int64_t gb_int8_xq_bytes(int k) { return round_up(k, 64); }

/* ---- 16 int32 lanes (one dense panel) and 8 int32 lanes (one 8x4 block) ---- */
#if defined(__AVX512F__) && defined(__AVX512BW__)
typedef __m512i v16i;
typedef __m512i xb16; /* 4 activation bytes broadcast to every lane */
GB_INLINE xb16 xb16_set(int32_t x4) { return _mm512_set1_epi32(x4); }
GB_INLINE v16i v16i_zero(void) { return _mm512_setzero_si512(); }
GB_INLINE v16i v16i_add(v16i a, v16i b) { return _mm512_add_epi32(a, b); }
GB_INLINE v16i v16i_dot4(v16i acc, xb16 x, const int8_t *w) {
#if defined(__AVX512VNNI__)
    return _mm512_dpbusd_epi32(acc, x, _mm512_load_si512((const void *)w));
#else
    __m512i pairs = _mm512_maddubs_epi16(x, _mm512_load_si512((const void *)w));
    return _mm512_add_epi32(acc, _mm512_madd_epi16(pairs, _mm512_set1_epi16(1)));
#endif
}
GB_INLINE v16f v16i_dequant(v16i acc, const int32_t *corr, const float *scale) {
    __m512i d = _mm512_sub_epi32(acc, _mm512_loadu_si512((const void *)corr));
    return _mm512_mul_ps(_mm512_cvtepi32_ps(d), _mm512_loadu_ps(scale));
}
#elif defined(__AVX2__)
typedef struct { __m256i lo, hi; } v16i;
typedef __m256i xb16;
GB_INLINE xb16 xb16_set(int32_t x4) { return _mm256_set1_epi32(x4); }
GB_INLINE v16i v16i_zero(void) { return (v16i){_mm256_setzero_si256(), _mm256_setzero_si256()}; }
GB_INLINE v16i v16i_add(v16i a, v16i b) { return (v16i){_mm256_add_epi32(a.lo, b.lo), _mm256_add_epi32(a.hi, b.hi)}; }
GB_INLINE __m256i dot4_256(__m256i acc, __m256i x, __m256i w) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(x, w), _mm256_set1_epi16(1)));
}
GB_INLINE v16i v16i_dot4(v16i acc, xb16 x, const int8_t *w) {
    return (v16i){dot4_256(acc.lo, x, _mm256_load_si256((const __m256i *)w)),
                  dot4_256(acc.hi, x, _mm256_load_si256((const __m256i *)(w + 32)))};
}
GB_INLINE v16f v16i_dequant(v16i acc, const int32_t *corr, const float *scale) {
    __m256i dlo = _mm256_sub_epi32(acc.lo, _mm256_loadu_si256((const __m256i *)corr));
    __m256i dhi = _mm256_sub_epi32(acc.hi, _mm256_loadu_si256((const __m256i *)(corr + 8)));
    return (v16f){_mm256_mul_ps(_mm256_cvtepi32_ps(dlo), _mm256_loadu_ps(scale)),
                  _mm256_mul_ps(_mm256_cvtepi32_ps(dhi), _mm256_loadu_ps(scale + 8))};
}
#endif

#if defined(__AVX2__)
typedef __m256i v8i;
GB_INLINE v8i v8i_zero(void) { return _mm256_setzero_si256(); }
GB_INLINE v8i v8i_add(v8i a, v8i b) { return _mm256_add_epi32(a, b); }
GB_INLINE v8i v8i_dot4(v8i acc, int32_t x4, const int8_t *w) {
    __m256i x = _mm256_set1_epi32(x4), wv = _mm256_load_si256((const __m256i *)w);
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    return _mm256_dpbusd_epi32(acc, x, wv);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(x, wv), _mm256_set1_epi16(1)));
#endif
}
/* y = (float)(acc - corr) * scale [+ diag * xr]: a separate multiply and add, as numpy does. */
GB_INLINE void v8i_store(float *y, v8i acc, const int32_t *corr, const float *scale, const float *diag,
                         const float *xr) {
    __m256 v = _mm256_cvtepi32_ps(_mm256_sub_epi32(acc, _mm256_loadu_si256((const __m256i *)corr)));
    v = _mm256_mul_ps(v, _mm256_loadu_ps(scale));
    if (diag) v = _mm256_add_ps(v, _mm256_mul_ps(_mm256_loadu_ps(diag), _mm256_loadu_ps(xr)));
    _mm256_storeu_ps(y, v);
}
#endif

/* ---- activations: u8 = 127 + rint(127 * clip(x, -1, 1)), round half to even ---- */
GB_INLINE uint8_t quantize_one(float x) {
    float t = x * 127.0f;
    t = t < -127.0f ? -127.0f : (t > 127.0f ? 127.0f : t);
    /* Adding and removing 1.5 * 2^23 rounds half to even, like cvtps2dq and np.rint. */
    t = (t + 12582912.0f) - 12582912.0f;
    return (uint8_t)(127 + (int)t);
}

static void quantize_u8(const float *restrict x, int k, uint8_t *restrict xq) {
    int j = 0;
#if defined(__AVX512F__)
    const __m512 lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
    for (; j + 16 <= k; j += 16) {
        __m512 t = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(_mm512_loadu_ps(x + j), hi), lo), hi);
        __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(t), _mm512_set1_epi32(127));
        _mm_storeu_si128((__m128i *)(xq + j), _mm512_cvtepi32_epi8(q));
    }
#elif defined(__AVX2__)
    const __m256 lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
    for (; j + 8 <= k; j += 8) {
        __m256 t = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(_mm256_loadu_ps(x + j), hi), lo), hi);
        __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(t), _mm256_set1_epi32(127));
        __m128i q16 = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
        _mm_storel_epi64((__m128i *)(xq + j), _mm_packus_epi16(q16, q16));
    }
#endif
    for (; j < k; ++j) xq[j] = quantize_one(x[j]);
    for (; j % 4; ++j) xq[j] = 0; /* padded inputs meet zero weights */
}

void gb_quantize_u8(const float *x, int k, uint8_t *xq) { quantize_u8(x, k, xq); }

GB_INLINE int32_t load4(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* ---- dense: panels of 16 rows x groups of 4 inputs, 64 bytes per group ---- */
int64_t gb_int8_packed_bytes(int m, int k) { return (int64_t)round_up(m, GB_PANEL) * round_up(k, 4); }

void gb_int8_pack(const int8_t *restrict wq, int m, int k, int8_t *restrict packed) {
    int groups = round_up(k, 4) / 4;
    for (int p = 0; p < round_up(m, GB_PANEL) / GB_PANEL; ++p)
        for (int g = 0; g < groups; ++g)
            for (int r = 0; r < GB_PANEL; ++r)
                for (int i = 0; i < 4; ++i) {
                    int row = p * GB_PANEL + r, col = 4 * g + i;
                    int8_t v = row < m && col < k ? wq[(int64_t)row * k + col] : 0;
                    packed[((int64_t)p * groups + g) * 64 + 4 * r + i] = v;
                }
}

#if defined(GB_SCALAR)
/* Scalar: row by row (each row's 4 bytes per group are contiguous), sums in registers. */
static void int8_gemv(const int8_t *restrict packed, int m, int k, const float *restrict scale,
                      const int32_t *restrict corr, uint8_t *restrict xq, const float *restrict x, float *restrict y,
                      int backwards) {
    quantize_u8(x, k, xq);
    int groups = round_up(k, 4) / 4;
    (void)backwards; /* row by row, the scalar build is compute bound */
    for (int row = 0; row < m; ++row) {
        const int8_t *a = packed + (int64_t)(row / GB_PANEL) * groups * 64 + 4 * (row % GB_PANEL);
        int32_t s0 = 0, s1 = 0;
        for (int g = 0; g < groups; ++g, a += 64) {
            const uint8_t *xg = xq + 4 * g;
            s0 += xg[0] * a[0] + xg[1] * a[1];
            s1 += xg[2] * a[2] + xg[3] * a[3];
        }
        y[row] = (float)(s0 + s1 - corr[row]) * scale[row];
    }
}
#else
GB_INLINE void int8_panel(const int8_t *restrict packed, int m, int groups, const float *restrict scale,
                          const int32_t *restrict corr, const uint8_t *restrict xq, float *restrict y, int r0) {
    const int8_t *a = packed + (int64_t)(r0 / GB_PANEL) * groups * 64;
    v16i s0 = v16i_zero(), s1 = v16i_zero(), s2 = v16i_zero(), s3 = v16i_zero();
    int g = 0;
    for (; g + 4 <= groups; g += 4, a += 256) {
        s0 = v16i_dot4(s0, xb16_set(load4(xq + 4 * g)), a);
        s1 = v16i_dot4(s1, xb16_set(load4(xq + 4 * g + 4)), a + 64);
        s2 = v16i_dot4(s2, xb16_set(load4(xq + 4 * g + 8)), a + 128);
        s3 = v16i_dot4(s3, xb16_set(load4(xq + 4 * g + 12)), a + 192);
    }
    for (; g < groups; ++g, a += 64) s0 = v16i_dot4(s0, xb16_set(load4(xq + 4 * g)), a);
    v16i s = v16i_add(v16i_add(s0, s1), v16i_add(s2, s3));
    if (r0 + GB_PANEL <= m) {
        v16_storeu(y + r0, v16i_dequant(s, corr + r0, scale + r0));
    } else { /* ragged last panel: pad corr/scale so the vector code reads no further */
        int32_t c[16] = {0};
        float sc[16] = {0};
        memcpy(c, corr + r0, sizeof(int32_t) * (m - r0));
        memcpy(sc, scale + r0, sizeof(float) * (m - r0));
        v16_store_rows(y + r0, v16i_dequant(s, c, sc), m - r0);
    }
}

static void int8_gemv(const int8_t *restrict packed, int m, int k, const float *restrict scale,
                      const int32_t *restrict corr, uint8_t *restrict xq, const float *restrict x, float *restrict y,
                      int backwards) {
    quantize_u8(x, k, xq);
    const int groups = round_up(k, 4) / 4, last = round_up(m, GB_PANEL) - GB_PANEL;
    if (backwards)
        for (int r0 = last; r0 >= 0; r0 -= GB_PANEL) int8_panel(packed, m, groups, scale, corr, xq, y, r0);
    else
        for (int r0 = 0; r0 < m; r0 += GB_PANEL) int8_panel(packed, m, groups, scale, corr, xq, y, r0);
}
#endif

void gbi_int8_gemv(const int8_t *packed, int m, int k, const float *scale, const int32_t *corr, uint8_t *xq,
                   const float *x, float *y, int backwards) {
    int8_gemv(packed, m, k, scale, corr, xq, x, y, backwards);
}

static atomic_int int8_gemv_backwards;

void gb_int8_gemv(const int8_t *packed, int m, int k, const float *scale, const int32_t *corr, uint8_t *xq,
                  const float *x, float *y) {
    int8_gemv(packed, m, k, scale, corr, xq, x, y, gb_alternate(&int8_gemv_backwards, (int64_t)m * k));
}

int64_t gb_int8_gemv_time(const int8_t *packed, int m, int k, const float *scale, const int32_t *corr,
                          uint8_t *xq, const float *x, float *y, int64_t loops) {
    GB_TIME_LOOP(loops, int8_gemv(packed, m, k, scale, corr, xq, x, y,
                                  gb_alternate(&int8_gemv_backwards, (int64_t)m * k)));
}

/* ---- 8x4 block-sparse ---- */
#if defined(GB_SCALAR)
static void sparse8x4(int m, int k, const int32_t *restrict idx, const int8_t *restrict w,
                      const float *restrict scale, const int32_t *restrict corr, const float *restrict diag,
                      uint8_t *restrict xq, const float *restrict x, float *restrict y) {
    quantize_u8(x, k, xq);
    for (int r0 = 0; r0 < m; r0 += 8) {
        int count = *idx++;
        int32_t acc[8] = {0};
        for (int b = 0; b < count; ++b, w += 32) {
            const uint8_t *xb = xq + *idx++;
            for (int r = 0; r < 8; ++r)
                acc[r] += xb[0] * w[4 * r] + xb[1] * w[4 * r + 1] + xb[2] * w[4 * r + 2] + xb[3] * w[4 * r + 3];
        }
        for (int r = 0; r < 8; ++r) {
            float v = (float)(acc[r] - corr[r0 + r]) * scale[r0 + r];
            y[r0 + r] = diag ? v + diag[r0 + r] * x[(r0 + r) % k] : v;
        }
    }
}
#else
static void sparse8x4(int m, int k, const int32_t *restrict idx, const int8_t *restrict w,
                      const float *restrict scale, const int32_t *restrict corr, const float *restrict diag,
                      uint8_t *restrict xq, const float *restrict x, float *restrict y) {
    quantize_u8(x, k, xq);
    for (int r0 = 0; r0 < m; r0 += 8) {
        int count = *idx++;
        v8i s0 = v8i_zero(), s1 = v8i_zero(), s2 = v8i_zero(), s3 = v8i_zero();
        int b = 0;
        for (; b + 4 <= count; b += 4, idx += 4, w += 128) {
            s0 = v8i_dot4(s0, load4(xq + idx[0]), w);
            s1 = v8i_dot4(s1, load4(xq + idx[1]), w + 32);
            s2 = v8i_dot4(s2, load4(xq + idx[2]), w + 64);
            s3 = v8i_dot4(s3, load4(xq + idx[3]), w + 96);
        }
        for (; b < count; ++b, ++idx, w += 32) s0 = v8i_dot4(s0, load4(xq + *idx), w);
        const float *xr = x + r0 % k;
        float xs[8];
        if (diag && r0 % k + 8 > k) {
            for (int i = 0; i < 8; ++i) xs[i] = x[(r0 + i) % k];
            xr = xs;
        }
        v8i_store(y + r0, v8i_add(v8i_add(s0, s1), v8i_add(s2, s3)), corr + r0, scale + r0,
                  diag ? diag + r0 : NULL, xr);
    }
}
#endif

void gbi_sparse8x4_int8_gemv(int m, int k, const int32_t *idx, const int8_t *w, const float *scale,
                             const int32_t *corr, const float *diag, uint8_t *xq, const float *x, float *y) {
    sparse8x4(m, k, idx, w, scale, corr, diag, xq, x, y);
}

void gb_sparse8x4_int8_gemv(int m, int k, const int32_t *idx, const int8_t *w, const float *scale,
                            const int32_t *corr, const float *diag, uint8_t *xq, const float *x, float *y) {
    sparse8x4(m, k, idx, w, scale, corr, diag, xq, x, y);
}

int64_t gb_sparse8x4_int8_gemv_time(int m, int k, const int32_t *idx, const int8_t *w, const float *scale,
                                    const int32_t *corr, const float *diag, uint8_t *xq, const float *x,
                                    float *y, int64_t loops) {
    GB_TIME_LOOP(loops, sparse8x4(m, k, idx, w, scale, corr, diag, xq, x, y));
}
