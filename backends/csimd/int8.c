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
int64_t gb_int8_act_offset(void) { return GB_I8_ACT_OFFSET; }

static int64_t round_up(int64_t v, int64_t to) { return (v + to - 1) / to * to; }

/* ---- activations: u8 = 127 + rint(127 * clip(x, -1, 1)), round half to even ---- */
static void quantize_u8(const float *restrict x, int64_t k, uint8_t *restrict xq) {
    int64_t j = 0;
    for (; j + 32 <= k; j += 32) v32_quantize_u8(x + j, xq + j);
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
    const uint8_t *xg = xq, *const whole = xq + 16 * (groups / 4), *const end = xq + 4 * groups;
    for (; xg < whole; xg += 16, a += 256) {
        s0 = v16i_dot4(s0, xg, a);
        s1 = v16i_dot4(s1, xg + 4, a + 64);
        s2 = v16i_dot4(s2, xg + 8, a + 128);
        s3 = v16i_dot4(s3, xg + 12, a + 192);
        v16i_pin(&s0, &s1, &s2, &s3);
    }
    for (; xg < end; xg += 4, a += 64) s0 = v16i_dot4(s0, xg, a);
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

/* Four whole panels (64 rows) at once: each broadcast of 4 activation bytes serves four weight
 * vectors instead of one, so a dot product costs 1.25 loads instead of 2 (the one-panel loop
 * is load-bound in L2: docs/journal/2026-11-29-csimd-kernels.md). The gb_simd_int8.h layer's
 * dot4 re-broadcasts per call; the compiler keeps one broadcast. */
GB_INLINE void int8_four_panels(const int8_t *restrict packed, int64_t groups, const float *restrict scale,
                                const int32_t *restrict corr, const uint8_t *restrict xq, float *restrict y,
                                int64_t r0) {
    const int64_t stride = groups * 64;
    const int8_t *a = packed + r0 / GB_PANEL * stride;
    v16i s0 = v16i_zero(), s1 = v16i_zero(), s2 = v16i_zero(), s3 = v16i_zero();
    for (const uint8_t *xg = xq, *const end = xq + 4 * groups; xg < end; xg += 4, a += 64) {
        s0 = v16i_dot4(s0, xg, a);
        s1 = v16i_dot4(s1, xg, a + stride);
        s2 = v16i_dot4(s2, xg, a + 2 * stride);
        s3 = v16i_dot4(s3, xg, a + 3 * stride);
        v16i_pin(&s0, &s1, &s2, &s3);
    }
    v16_storeu(y + r0, v16i_dequant(s0, corr + r0, scale + r0));
    v16_storeu(y + r0 + 16, v16i_dequant(s1, corr + r0 + 16, scale + r0 + 16));
    v16_storeu(y + r0 + 32, v16i_dequant(s2, corr + r0 + 32, scale + r0 + 32));
    v16_storeu(y + r0 + 48, v16i_dequant(s3, corr + r0 + 48, scale + r0 + 48));
}

/* Whole 64-row blocks four panels at a time, then the rest (the ragged panel among them) one at a
 * time; backwards calls walk the same units in reverse. */
static void int8_gemv(const gb_product *a, const float *restrict x, float *restrict y, int64_t backwards) {
    const int64_t m = a->m, k = a->k, groups = round_up(k, 4) / 4, last = round_up(m, GB_PANEL) - GB_PANEL;
    const int64_t quads = m / (4 * GB_PANEL), rest = quads * 4 * GB_PANEL;
    uint8_t *restrict xq = a->act;
    quantize_u8(x, k, xq);
    if (backwards) {
        for (int64_t r0 = last; r0 >= rest; r0 -= GB_PANEL) int8_panel(a->w, m, groups, a->scale, a->corr, xq, y, r0);
        for (int64_t q = quads - 1; q >= 0; --q) int8_four_panels(a->w, groups, a->scale, a->corr, xq, y, q * 64);
    } else {
        for (int64_t q = 0; q < quads; ++q) int8_four_panels(a->w, groups, a->scale, a->corr, xq, y, q * 64);
        for (int64_t r0 = rest; r0 < m; r0 += GB_PANEL) int8_panel(a->w, m, groups, a->scale, a->corr, xq, y, r0);
    }
}

void gbi_dense_int8(const gb_product *a, const float *x, float *y, int64_t n, int64_t backwards) {
    if (n == 1)
        int8_gemv(a, x, y, backwards);
    else
        gbi_int8_gemm(a, x, y, n);
}

/* ---- 8x4 block-sparse: block rows in lockstep groups of 8 (groups.c) ----
 *
 * The groups are walked backwards on every other call (gb_internal.h: alternation): GRU-A's
 * 50 KB of blocks and index just miss a 48 KB L1, and read in the same order each call an
 * LRU cache keeps none of them; reversed, each call starts on what the last one read last. */
#define GROUP GBI_GROUP

/* y[dst .. dst + 8) from one block row's accumulator: dequantised, plus the diagonal term (its
 * x[(dst + i) % k] costs a division, paid only where there is a diagonal). */
typedef struct {
    const int32_t *restrict corr;
    const float *restrict scale, *restrict diag, *restrict x;
    float *restrict y;
    int64_t k;
} row_out;

GB_INLINE void store_row(const row_out *o, v8i acc, int32_t dst, const int diag) {
    if (dst < 0) return; /* a row filling up the last group */
    if (!diag) {
        v8i_dequant_store(o->y + dst, acc, o->corr + dst, o->scale + dst, NULL, NULL);
        return;
    }
    const int64_t c0 = dst % o->k;
    const float *xr = o->x + c0;
    float xs[8];
    if (c0 + 8 > o->k) {
        for (int64_t i = 0; i < 8; ++i) xs[i] = o->x[(dst + i) % o->k];
        xr = xs;
    }
    v8i_dequant_store(o->y + dst, acc, o->corr + dst, o->scale + dst, o->diag + dst, xr);
}

typedef struct {
    row_out out;
    const uint8_t *restrict xq;
} group_ctx;

/* One group from its head: the eight accumulators are named, not an array (gcc keeps an
 * unrolled array of vectors in registers but copies every one of them at each step). */
GB_INLINE void group(const int32_t *restrict head, const int8_t *restrict w, const group_ctx *c, const int diag) {
    const uint8_t *restrict xq = c->xq;
    const int64_t steps = head[0];
    const int32_t *restrict dst = head + 1, *restrict idx = head + 1 + GROUP;
    v8i s0 = v8i_zero(), s1 = v8i_zero(), s2 = v8i_zero(), s3 = v8i_zero();
    v8i s4 = v8i_zero(), s5 = v8i_zero(), s6 = v8i_zero(), s7 = v8i_zero();
    for (int64_t s = 0; s < steps; ++s, idx += GROUP / 2, w += 32 * GROUP) {
        uint64_t c0, c1;
        memcpy(&c0, idx, 8), memcpy(&c1, idx + 2, 8);
        s0 = v8i_dot4(s0, xq + (uint16_t)c0, w);
        s1 = v8i_dot4(s1, xq + (uint16_t)(c0 >> 16), w + 32);
        s2 = v8i_dot4(s2, xq + (uint16_t)(c0 >> 32), w + 64);
        s3 = v8i_dot4(s3, xq + (c0 >> 48), w + 96);
        s4 = v8i_dot4(s4, xq + (uint16_t)c1, w + 128);
        s5 = v8i_dot4(s5, xq + (uint16_t)(c1 >> 16), w + 160);
        s6 = v8i_dot4(s6, xq + (uint16_t)(c1 >> 32), w + 192);
        s7 = v8i_dot4(s7, xq + (c1 >> 48), w + 224);
    }
    const row_out *o = &c->out;
    store_row(o, s0, dst[0], diag), store_row(o, s1, dst[1], diag), store_row(o, s2, dst[2], diag);
    store_row(o, s3, dst[3], diag), store_row(o, s4, dst[4], diag), store_row(o, s5, dst[5], diag);
    store_row(o, s6, dst[6], diag), store_row(o, s7, dst[7], diag);
}

/* With and without a diagonal: each its own loops, without a test per row. */
GB_INLINE void group_diag(const int32_t *head, const uint8_t *w, const void *c) { group(head, (const int8_t *)w, c, 1); }
GB_INLINE void group_plain(const int32_t *head, const uint8_t *w, const void *c) { group(head, (const int8_t *)w, c, 0); }

static void sparse8x4(const gb_product *a, const float *restrict x, float *restrict y, int64_t backwards) {
    uint8_t *restrict xq = a->act;
    quantize_u8(x, a->k, xq);
    const group_ctx c = {{a->corr, a->scale, a->diag, x, y, a->k}, xq};
    if (a->diag)
        gbi_for_groups(a->idx, a->w, GROUP, 1, 32, backwards, group_diag, &c);
    else
        gbi_for_groups(a->idx, a->w, GROUP, 1, 32, backwards, group_plain, &c);
}

void gbi_sparse8x4_int8(const gb_product *a, const float *x, float *y, int64_t n, int64_t backwards) {
    (void)n;
    sparse8x4(a, x, y, backwards);
}
