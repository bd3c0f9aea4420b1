/* fp16 weights, dense and 16x1 block-sparse: half the bytes of float32.
 *
 * Both kinds store 16 rows of one input column as 32 bytes (gb_kernels.h), two columns to a
 * 64-byte unit. Without AVX512_FP16 the kernels widen each column to float32 and multiply the
 * exact float32 activations in float32; with it (GB_FP16_MATH, gb_simd_fp16.h) they round the
 * activations to fp16 once per call into a table of 16 copies a column, multiply a unit's two
 * columns in one vfmadd231ph and move each lane's fp16 sum into float32 every GB_FP16_TERMS
 * products. */
#define _POSIX_C_SOURCE 199309L
#include <string.h>

#include "gb_internal.h"
#include "gb_kernels.h"
#include "gb_rows16.h"
#include "gb_simd.h"
#include "gb_simd_fp16.h"

#if defined(GB_FP16_MATH)
int64_t gb_fp16_lane_terms(void) { return GB_FP16_TERMS; }
#else
int64_t gb_fp16_lane_terms(void) { return 0; }
#endif

void gb_round_fp16(const float *x, int64_t n, uint16_t *out) {
    for (int64_t i = 0; i < n; ++i) out[i] = gb_fp16_one(x[i]);
}

int64_t gb_fp16_packed_bytes(int64_t m, int64_t k) { return gbi_half_packed_bytes(m, k); }

void gb_fp16_pack(const uint16_t *restrict w, int64_t m, int64_t k, uint16_t *restrict packed) {
    for (int64_t p = 0; p < gbi_panels(m); ++p)
        for (int64_t j = 0; j < 2 * gbi_pairs(k); ++j)
            for (int64_t r = 0; r < GB_PANEL; ++r) {
                const int64_t row = p * GB_PANEL + r;
                *packed++ = row < m && j < k ? w[row * k + j] : 0;
            }
}

/* ---- dense ---- */

#if defined(GB_FP16_MATH)
/* Pair of columns q of a panel times its two columns of the activation table. */
GB_INLINE v32h pairs_fp16(v32h h, const uint16_t *restrict a, const uint16_t *restrict table, int64_t q) {
    return v32h_fma(h, v32h_load(a + 32 * q), v32h_load(table + 32 * q));
}

/* Four fp16 accumulators, each taking every fourth pair of columns for GB_FP16_TERMS pairs,
 * then moved into the float32 sum. */
GB_INLINE v16f panel_dot(const uint16_t *restrict a, int64_t pairs, const uint16_t *restrict table) {
    v16f sum = v16_zero();
    for (int64_t q = 0; q < pairs;) {
        const int64_t end = q + 4 * GB_FP16_TERMS < pairs ? q + 4 * GB_FP16_TERMS : pairs;
        v32h h0 = v32h_zero(), h1 = v32h_zero(), h2 = v32h_zero(), h3 = v32h_zero();
        for (; q + 4 <= end; q += 4) {
            h0 = pairs_fp16(h0, a, table, q), h1 = pairs_fp16(h1, a, table, q + 1);
            h2 = pairs_fp16(h2, a, table, q + 2), h3 = pairs_fp16(h3, a, table, q + 3);
        }
        /* the last chunk's odd pairs to h1 .. h3, which took a pair fewer than h0 */
        if (q < end) h1 = pairs_fp16(h1, a, table, q++);
        if (q < end) h2 = pairs_fp16(h2, a, table, q++);
        if (q < end) h3 = pairs_fp16(h3, a, table, q++);
        sum = v16_add_halves(v16_add_halves(sum, h0), h1);
        sum = v16_add_halves(v16_add_halves(sum, h2), h3);
    }
    return sum;
}
#else
/* Column j's 16 weights times x[j]; the padding column of an odd k is never read (x[k] is past x). */
GB_INLINE v16f panel_dot(const uint16_t *restrict a, int64_t k, const float *restrict x) {
    v16f s0 = v16_zero(), s1 = v16_zero(), s2 = v16_zero(), s3 = v16_zero();
    int64_t j = 0;
    for (; j + 4 <= k; j += 4, a += 64) {
        s0 = v16_fma(v16_widen_fp16(a), v16_set1(x[j]), s0);
        s1 = v16_fma(v16_widen_fp16(a + 16), v16_set1(x[j + 1]), s1);
        s2 = v16_fma(v16_widen_fp16(a + 32), v16_set1(x[j + 2]), s2);
        s3 = v16_fma(v16_widen_fp16(a + 48), v16_set1(x[j + 3]), s3);
    }
    for (; j < k; ++j, a += 16) s0 = v16_fma(v16_widen_fp16(a), v16_set1(x[j]), s0);
    return v16_add(v16_add(s0, s1), v16_add(s2, s3));
}
#endif

GB_INLINE void dense_panel(const gb_product *a, const float *restrict x, float *restrict y, int64_t p) {
    const uint16_t *panel = (const uint16_t *)a->w + p * gbi_pairs(a->k) * 32;
#if defined(GB_FP16_MATH)
    (void)x;
    const v16f s = panel_dot(panel, gbi_pairs(a->k), a->act);
#else
    const v16f s = panel_dot(panel, a->k, x);
#endif
    v16_store_rows(y + p * GB_PANEL, s, a->m - p * GB_PANEL);
}

void gbi_dense_fp16(const gb_product *a, const float *x, float *y, int64_t n, int64_t backwards) {
    (void)n;
#if defined(GB_FP16_MATH)
    gb_fp16_table(x, a->k, a->act);
#endif
    if (backwards)
        for (int64_t p = gbi_panels(a->m) - 1; p >= 0; --p) dense_panel(a, x, y, p);
    else
        for (int64_t p = 0; p < gbi_panels(a->m); ++p) dense_panel(a, x, y, p);
}

/* ---- 16x1 block-sparse: blocks in pairs, block rows in lockstep groups of 8 (groups.c) ---- */

#if defined(GB_FP16_MATH)
/* One pair of a block row in fp16: both blocks' 16 rows in one vfmadd231ph. */
GB_INLINE v32h pair_fp16(const rows16 *c, v32h h, uint32_t columns, const uint16_t *w) {
    return v32h_fma(h, v32h_load(w), v32h_columns(c->act, columns & 0xffffu, columns >> 16));
}

/* One group: eight float32 accumulators, one per block row, each fed by an fp16 one every
 * GB_FP16_TERMS steps (named, not arrays: an array of vectors gets copied). */
GB_INLINE void group(const int32_t *restrict head, const uint16_t *restrict w, const rows16 *c, const int diag) {
    const int64_t steps = head[0];
    const int32_t *restrict dst = head + 1, *restrict idx = head + 1 + GBI_GROUP;
    v16f s0 = rows16_start(c, dst[0], diag), s1 = rows16_start(c, dst[1], diag), s2 = rows16_start(c, dst[2], diag);
    v16f s3 = rows16_start(c, dst[3], diag), s4 = rows16_start(c, dst[4], diag), s5 = rows16_start(c, dst[5], diag);
    v16f s6 = rows16_start(c, dst[6], diag), s7 = rows16_start(c, dst[7], diag);
    for (int64_t s = 0; s < steps;) {
        const int64_t end = s + GB_FP16_TERMS < steps ? s + GB_FP16_TERMS : steps;
        v32h h0 = v32h_zero(), h1 = v32h_zero(), h2 = v32h_zero(), h3 = v32h_zero();
        v32h h4 = v32h_zero(), h5 = v32h_zero(), h6 = v32h_zero(), h7 = v32h_zero();
        for (; s < end; ++s, idx += GBI_GROUP, w += 32 * GBI_GROUP) {
            h0 = pair_fp16(c, h0, (uint32_t)idx[0], w), h1 = pair_fp16(c, h1, (uint32_t)idx[1], w + 32);
            h2 = pair_fp16(c, h2, (uint32_t)idx[2], w + 64), h3 = pair_fp16(c, h3, (uint32_t)idx[3], w + 96);
            h4 = pair_fp16(c, h4, (uint32_t)idx[4], w + 128), h5 = pair_fp16(c, h5, (uint32_t)idx[5], w + 160);
            h6 = pair_fp16(c, h6, (uint32_t)idx[6], w + 192), h7 = pair_fp16(c, h7, (uint32_t)idx[7], w + 224);
        }
        s0 = v16_add_halves(s0, h0), s1 = v16_add_halves(s1, h1), s2 = v16_add_halves(s2, h2);
        s3 = v16_add_halves(s3, h3), s4 = v16_add_halves(s4, h4), s5 = v16_add_halves(s5, h5);
        s6 = v16_add_halves(s6, h6), s7 = v16_add_halves(s7, h7);
    }
    rows16_finish(c, dst[0], s0), rows16_finish(c, dst[1], s1), rows16_finish(c, dst[2], s2), rows16_finish(c, dst[3], s3);
    rows16_finish(c, dst[4], s4), rows16_finish(c, dst[5], s5), rows16_finish(c, dst[6], s6), rows16_finish(c, dst[7], s7);
}
#else
/* One pair of a block row: its two blocks' weights, widened, times their two activations. */
GB_INLINE v16f pair(const rows16 *c, v16f s, uint32_t columns, const uint16_t *w) {
    const uint32_t c0 = columns & 0xffffu, c1 = columns >> 16;
    return v16_fma(v16_widen_fp16(w + 16), v16_set1(c->x[c1]), v16_fma(v16_widen_fp16(w), v16_set1(c->x[c0]), s));
}

GB_INLINE void group(const int32_t *head, const uint16_t *w, const rows16 *c, const int diag) {
    rows16_pairs(head, w, c, diag, pair);
}
#endif

GB_INLINE void group_diag(const int32_t *head, const uint8_t *w, const void *c) { group(head, (const uint16_t *)w, c, 1); }
GB_INLINE void group_plain(const int32_t *head, const uint8_t *w, const void *c) { group(head, (const uint16_t *)w, c, 0); }

void gbi_sparse16_fp16(const gb_product *a, const float *x, float *y, int64_t n, int64_t backwards) {
    (void)n;
#if defined(GB_FP16_MATH)
    gb_fp16_table(x, a->k, a->act);
#endif
    rows16_run_pairs(a, x, y, backwards, group_diag, group_plain);
}
