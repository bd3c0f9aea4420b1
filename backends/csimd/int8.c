/* int8 GEMV, dense and 8x4 block-sparse: u8 activations x s8 weights, int32 accumulators,
 * written against the int8 vector layer (gb_simd_int8.h). */
#define _POSIX_C_SOURCE 199309L
#include <string.h>

#include "gb_internal.h"
#include "gb_kernels.h"
#include "gb_simd.h"
#include "gb_simd_int8.h"

int64_t gb_int8_weight_max(void) { return GB_I8_WMAX; }
int64_t gb_int8_weight_min(void) { return GB_I8_WMAX == 127 ? -128 : -GB_I8_WMAX; }

static int64_t round_up(int64_t v, int64_t to) { return (v + to - 1) / to * to; }

int64_t gb_int8_xq_bytes(int64_t k) { return round_up(k, 64); }

/* ---- activations: u8 = 127 + rint(127 * clip(x, -1, 1)), round half to even ---- */
static void quantize_u8(const float *restrict x, int64_t k, uint8_t *restrict xq) {
    int64_t j = 0;
    for (; j + 16 <= k; j += 16) v16_quantize_u8(v16_loadu(x + j), xq + j);
    for (; j < k; ++j) xq[j] = gb_quantize_one(x[j]);
    for (; j % 4; ++j) xq[j] = 0; /* padded inputs meet zero weights */
}

void gb_quantize_u8(const float *x, int64_t k, uint8_t *xq) { quantize_u8(x, k, xq); }

/* ---- dense: panels of 16 rows x groups of 4 inputs, 64 bytes per group ---- */
int64_t gb_int8_packed_bytes(int64_t m, int64_t k) { return round_up(m, GB_PANEL) * round_up(k, 4); }

void gb_int8_pack(const int8_t *restrict wq, int64_t m, int64_t k, int8_t *restrict packed) {
    const int64_t groups = round_up(k, 4) / 4;
    for (int64_t p = 0; p < round_up(m, GB_PANEL) / GB_PANEL; ++p)
        for (int64_t g = 0; g < groups; ++g)
            for (int64_t r = 0; r < GB_PANEL; ++r)
                for (int64_t i = 0; i < 4; ++i) {
                    int64_t row = p * GB_PANEL + r, col = 4 * g + i;
                    packed[(p * groups + g) * 64 + 4 * r + i] = row < m && col < k ? wq[row * k + col] : 0;
                }
}

GB_INLINE void int8_panel(const int8_t *restrict packed, int64_t m, int64_t groups, const float *restrict scale,
                          const int32_t *restrict corr, const uint8_t *restrict xq, float *restrict y, int64_t r0) {
    const int8_t *a = packed + r0 / GB_PANEL * groups * 64;
    v16i s0 = v16i_zero(), s1 = v16i_zero(), s2 = v16i_zero(), s3 = v16i_zero();
    int64_t g = 0;
    for (; g + 4 <= groups; g += 4, a += 256) {
        s0 = v16i_dot4(s0, xq + 4 * g, a);
        s1 = v16i_dot4(s1, xq + 4 * g + 4, a + 64);
        s2 = v16i_dot4(s2, xq + 4 * g + 8, a + 128);
        s3 = v16i_dot4(s3, xq + 4 * g + 12, a + 192);
    }
    for (; g < groups; ++g, a += 64) s0 = v16i_dot4(s0, xq + 4 * g, a);
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

static void int8_gemv(const int8_t *restrict packed, int64_t m, int64_t k, const float *restrict scale,
                      const int32_t *restrict corr, uint8_t *restrict xq, const float *restrict x, float *restrict y,
                      int backwards) {
    quantize_u8(x, k, xq);
    const int64_t groups = round_up(k, 4) / 4, last = round_up(m, GB_PANEL) - GB_PANEL;
    if (backwards)
        for (int64_t r0 = last; r0 >= 0; r0 -= GB_PANEL) int8_panel(packed, m, groups, scale, corr, xq, y, r0);
    else
        for (int64_t r0 = 0; r0 < m; r0 += GB_PANEL) int8_panel(packed, m, groups, scale, corr, xq, y, r0);
}

void gbi_int8_gemv(const int8_t *packed, int64_t m, int64_t k, const float *scale, const int32_t *corr, uint8_t *xq,
                   const float *x, float *y, int backwards) {
    int8_gemv(packed, m, k, scale, corr, xq, x, y, backwards);
}

static atomic_int int8_gemv_backwards;

void gb_int8_gemv(const int8_t *packed, int64_t m, int64_t k, const float *scale, const int32_t *corr, uint8_t *xq,
                  const float *x, float *y) {
    int8_gemv(packed, m, k, scale, corr, xq, x, y, gb_alternate(&int8_gemv_backwards, m * k));
}

int64_t gb_int8_gemv_time(const int8_t *packed, int64_t m, int64_t k, const float *scale, const int32_t *corr,
                          uint8_t *xq, const float *x, float *y, int64_t loops) {
    const int64_t t0 = gb_now_ns();
    for (int64_t i = 0; i < loops; ++i) {
        int8_gemv(packed, m, k, scale, corr, xq, x, y, gb_alternate(&int8_gemv_backwards, m * k));
        GB_BARRIER();
    }
    return gb_now_ns() - t0;
}

/* ---- 8x4 block-sparse ---- */
static void sparse8x4(int64_t m, int64_t k, const int32_t *restrict idx, const int8_t *restrict w,
                      const float *restrict scale, const int32_t *restrict corr, const float *restrict diag,
                      uint8_t *restrict xq, const float *restrict x, float *restrict y) {
    quantize_u8(x, k, xq);
    for (int64_t r0 = 0; r0 < m; r0 += 8) {
        int64_t count = *idx++, b = 0;
        v8i s0 = v8i_zero(), s1 = v8i_zero(), s2 = v8i_zero(), s3 = v8i_zero();
        for (; GB_INT8_CHAINS == 4 && b + 4 <= count; b += 4, idx += 4, w += 128) {
            s0 = v8i_dot4(s0, xq + idx[0], w);
            s1 = v8i_dot4(s1, xq + idx[1], w + 32);
            s2 = v8i_dot4(s2, xq + idx[2], w + 64);
            s3 = v8i_dot4(s3, xq + idx[3], w + 96);
        }
        for (; b < count; ++b, ++idx, w += 32) s0 = v8i_dot4(s0, xq + *idx, w);
        const float *xr = x + r0 % k;
        float xs[8];
        if (diag && r0 % k + 8 > k) {
            for (int64_t i = 0; i < 8; ++i) xs[i] = x[(r0 + i) % k];
            xr = xs;
        }
        v8i_dequant_store(y + r0, v8i_add(v8i_add(s0, s1), v8i_add(s2, s3)), corr + r0, scale + r0,
                          diag ? diag + r0 : NULL, xr);
    }
}

void gbi_sparse8x4_int8_gemv(int64_t m, int64_t k, const int32_t *idx, const int8_t *w, const float *scale,
                             const int32_t *corr, const float *diag, uint8_t *xq, const float *x, float *y) {
    sparse8x4(m, k, idx, w, scale, corr, diag, xq, x, y);
}

void gb_sparse8x4_int8_gemv(int64_t m, int64_t k, const int32_t *idx, const int8_t *w, const float *scale,
                            const int32_t *corr, const float *diag, uint8_t *xq, const float *x, float *y) {
    sparse8x4(m, k, idx, w, scale, corr, diag, xq, x, y);
}

int64_t gb_sparse8x4_int8_gemv_time(int64_t m, int64_t k, const int32_t *idx, const int8_t *w, const float *scale,
                                    const int32_t *corr, const float *diag, uint8_t *xq, const float *x,
                                    float *y, int64_t loops) {
    const int64_t t0 = gb_now_ns();
    for (int64_t i = 0; i < loops; ++i) {
        sparse8x4(m, k, idx, w, scale, corr, diag, xq, x, y);
        GB_BARRIER();
    }
    return gb_now_ns() - t0;
}
