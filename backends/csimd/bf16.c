/* bf16 weights, dense and 16x1 block-sparse: half the bytes of float32, float32 accumulators.
 *
 * Both kinds store their weights in pairs (gb_kernels.h, gb_simd_bf16.h). Without
 * AVX512_BF16 the kernels widen each pair to two float vectors and multiply the exact
 * float32 activations; with it (GB_BF16_DOT) they round the activations to bf16 once per
 * call and let vdpbf16ps do both products of a pair in one instruction. */
#define _POSIX_C_SOURCE 199309L
#include <string.h>

#include "gb_internal.h"
#include "gb_kernels.h"
#include "gb_rows16.h"
#include "gb_simd.h"
#include "gb_simd_bf16.h"

#if defined(GB_BF16_DOT)
int64_t gb_bf16_rounds_activations(void) { return 1; }
#else
int64_t gb_bf16_rounds_activations(void) { return 0; }
#endif

void gb_round_bf16(const float *x, int64_t n, uint16_t *out) {
    for (int64_t i = 0; i < n; ++i) out[i] = gb_bf16_one(x[i]);
}

int64_t gb_bf16_packed_bytes(int64_t m, int64_t k) { return gbi_half_packed_bytes(m, k); }

void gb_bf16_pack(const uint16_t *restrict w, int64_t m, int64_t k, uint16_t *restrict packed) {
    for (int64_t p = 0; p < gbi_panels(m); ++p)
        for (int64_t q = 0; q < gbi_pairs(k); ++q)
            for (int64_t r = 0; r < GB_PANEL; ++r)
                for (int64_t i = 0; i < 2; ++i) {
                    const int64_t row = p * GB_PANEL + r, col = 2 * q + i;
                    *packed++ = row < m && col < k ? w[row * k + col] : 0;
                }
}

#if defined(GB_BF16_DOT)
/* bf16(x) into act, padded with a zero to a whole pair. */
static void round_activations(const float *restrict x, int64_t k, uint16_t *restrict act) {
    int64_t j = 0;
    for (; j + 16 <= k; j += 16) v16_store_bf16(act + j, v16_loadu(x + j));
    for (; j < k; ++j) act[j] = gb_bf16_one(x[j]);
    if (k % 2) act[k] = 0;
}
#endif

/* ---- dense ---- */

#if defined(GB_BF16_DOT)
GB_INLINE v16f panel_dot(const uint16_t *restrict a, int64_t pairs, const uint16_t *restrict act) {
    v16f s0 = v16_zero(), s1 = v16_zero(), s2 = v16_zero(), s3 = v16_zero();
    int64_t q = 0;
    for (; q + 4 <= pairs; q += 4, a += 128) {
        s0 = v16_dot_bf16(s0, gb_load_u32(act + 2 * q), a);
        s1 = v16_dot_bf16(s1, gb_load_u32(act + 2 * q + 2), a + 32);
        s2 = v16_dot_bf16(s2, gb_load_u32(act + 2 * q + 4), a + 64);
        s3 = v16_dot_bf16(s3, gb_load_u32(act + 2 * q + 6), a + 96);
    }
    for (; q < pairs; ++q, a += 32) s0 = v16_dot_bf16(s0, gb_load_u32(act + 2 * q), a);
    return v16_add(v16_add(s0, s1), v16_add(s2, s3));
}
#else
/* A pair's two columns times x[j], x[j + 1]; k odd: the last pair's second weight is a zero
 * that must not meet x[k], which is past the end of x. */
GB_INLINE v16f panel_dot(const uint16_t *restrict a, int64_t k, const float *restrict x) {
    v16f s0 = v16_zero(), s1 = v16_zero(), s2 = v16_zero(), s3 = v16_zero(), even, odd;
    int64_t j = 0;
    for (; j + 4 <= k; j += 4, a += 64) {
        v16_widen_pairs(a, &even, &odd);
        s0 = v16_fma(even, v16_set1(x[j]), s0);
        s1 = v16_fma(odd, v16_set1(x[j + 1]), s1);
        v16_widen_pairs(a + 32, &even, &odd);
        s2 = v16_fma(even, v16_set1(x[j + 2]), s2);
        s3 = v16_fma(odd, v16_set1(x[j + 3]), s3);
    }
    for (; j < k; j += 2, a += 32) {
        v16_widen_pairs(a, &even, &odd);
        s0 = v16_fma(even, v16_set1(x[j]), s0);
        if (j + 1 < k) s1 = v16_fma(odd, v16_set1(x[j + 1]), s1);
    }
    return v16_add(v16_add(s0, s1), v16_add(s2, s3));
}
#endif

GB_INLINE void dense_panel(const gb_product *a, const float *restrict x, const uint16_t *restrict act,
                           float *restrict y, int64_t p) {
    const uint16_t *panel = (const uint16_t *)a->w + p * gbi_pairs(a->k) * 32;
#if defined(GB_BF16_DOT)
    (void)x;
    const v16f s = panel_dot(panel, gbi_pairs(a->k), act);
#else
    (void)act;
    const v16f s = panel_dot(panel, a->k, x);
#endif
    v16_store_rows(y + p * GB_PANEL, s, a->m - p * GB_PANEL);
}

/* Four whole panels (64 rows) at once, two accumulators each: a broadcast activation (pair)
 * serves four weight vectors instead of one, and eight chains cover vdpbf16ps's latency (it is
 * deep and issues at half rate); more chains gained nothing (docs/journal/2026-11-29-half-precision.md). */
#if defined(GB_BF16_DOT)
GB_INLINE void dense_four_panels(const gb_product *a, const float *restrict x, const uint16_t *restrict act,
                                 float *restrict y, int64_t p0) {
    (void)x;
    const int64_t pairs = gbi_pairs(a->k), stride = pairs * 32;
    const uint16_t *restrict w = (const uint16_t *)a->w + p0 * stride;
    float *restrict out = y + p0 * GB_PANEL;
    v16f s0 = v16_zero(), s1 = v16_zero(), s2 = v16_zero(), s3 = v16_zero();
    v16f t0 = v16_zero(), t1 = v16_zero(), t2 = v16_zero(), t3 = v16_zero();
    int64_t q = 0;
    for (; q + 2 <= pairs; q += 2, w += 64) {
        const uint32_t x0 = gb_load_u32(act + 2 * q), x1 = gb_load_u32(act + 2 * q + 2);
        s0 = v16_dot_bf16(s0, x0, w), t0 = v16_dot_bf16(t0, x1, w + 32);
        s1 = v16_dot_bf16(s1, x0, w + stride), t1 = v16_dot_bf16(t1, x1, w + stride + 32);
        s2 = v16_dot_bf16(s2, x0, w + 2 * stride), t2 = v16_dot_bf16(t2, x1, w + 2 * stride + 32);
        s3 = v16_dot_bf16(s3, x0, w + 3 * stride), t3 = v16_dot_bf16(t3, x1, w + 3 * stride + 32);
    }
    if (q < pairs) {
        const uint32_t x0 = gb_load_u32(act + 2 * q);
        s0 = v16_dot_bf16(s0, x0, w), s1 = v16_dot_bf16(s1, x0, w + stride);
        s2 = v16_dot_bf16(s2, x0, w + 2 * stride), s3 = v16_dot_bf16(s3, x0, w + 3 * stride);
    }
    v16_storeu(out, v16_add(s0, t0)), v16_storeu(out + 16, v16_add(s1, t1));
    v16_storeu(out + 32, v16_add(s2, t2)), v16_storeu(out + 48, v16_add(s3, t3));
}
#elif defined(__AVX512F__)
/* Widened: a pair's first weights times x[j], its second times x[j + 1] (k odd: the last pair's
 * second weight is a zero that must not meet x[k], past the end of x). */
GB_INLINE void dense_four_panels(const gb_product *a, const float *restrict x, const uint16_t *restrict act,
                                 float *restrict y, int64_t p0) {
    (void)act;
    const int64_t k = a->k, stride = gbi_pairs(k) * 32;
    const uint16_t *restrict w = (const uint16_t *)a->w + p0 * stride;
    float *restrict out = y + p0 * GB_PANEL;
    v16f s0 = v16_zero(), s1 = v16_zero(), s2 = v16_zero(), s3 = v16_zero(), even, odd;
    v16f t0 = v16_zero(), t1 = v16_zero(), t2 = v16_zero(), t3 = v16_zero();
    int64_t j = 0;
    for (; j + 2 <= k; j += 2, w += 32) {
        const v16f x0 = v16_set1(x[j]), x1 = v16_set1(x[j + 1]);
        v16_widen_pairs(w, &even, &odd), s0 = v16_fma(even, x0, s0), t0 = v16_fma(odd, x1, t0);
        v16_widen_pairs(w + stride, &even, &odd), s1 = v16_fma(even, x0, s1), t1 = v16_fma(odd, x1, t1);
        v16_widen_pairs(w + 2 * stride, &even, &odd), s2 = v16_fma(even, x0, s2), t2 = v16_fma(odd, x1, t2);
        v16_widen_pairs(w + 3 * stride, &even, &odd), s3 = v16_fma(even, x0, s3), t3 = v16_fma(odd, x1, t3);
    }
    if (j < k) {
        const v16f x0 = v16_set1(x[j]);
        v16_widen_pairs(w, &even, &odd), s0 = v16_fma(even, x0, s0);
        v16_widen_pairs(w + stride, &even, &odd), s1 = v16_fma(even, x0, s1);
        v16_widen_pairs(w + 2 * stride, &even, &odd), s2 = v16_fma(even, x0, s2);
        v16_widen_pairs(w + 3 * stride, &even, &odd), s3 = v16_fma(even, x0, s3);
    }
    v16_storeu(out, v16_add(s0, t0)), v16_storeu(out + 16, v16_add(s1, t1));
    v16_storeu(out + 32, v16_add(s2, t2)), v16_storeu(out + 48, v16_add(s3, t3));
}
#else
/* Narrower vectors: eight accumulators would not stay in registers, so one panel at a time. */
GB_INLINE void dense_four_panels(const gb_product *a, const float *restrict x, const uint16_t *restrict act,
                                 float *restrict y, int64_t p0) {
    for (int64_t p = p0; p < p0 + 4; ++p) dense_panel(a, x, act, y, p);
}
#endif

/* Whole 64-row blocks four panels at a time, then the remaining panels one at a time; backwards
 * calls walk the same units in reverse. */
static void dense_bf16(const gb_product *a, const float *restrict x, float *restrict y, int64_t backwards) {
    const uint16_t *act = a->act;
#if defined(GB_BF16_DOT)
    round_activations(x, a->k, a->act);
#endif
    const int64_t quads = a->m / (4 * GB_PANEL), rest = 4 * quads;
    if (backwards) {
        for (int64_t p = gbi_panels(a->m) - 1; p >= rest; --p) dense_panel(a, x, act, y, p);
        for (int64_t q = quads - 1; q >= 0; --q) dense_four_panels(a, x, act, y, 4 * q);
    } else {
        for (int64_t q = 0; q < quads; ++q) dense_four_panels(a, x, act, y, 4 * q);
        for (int64_t p = rest; p < gbi_panels(a->m); ++p) dense_panel(a, x, act, y, p);
    }
}

void gbi_dense_bf16(const gb_product *a, const float *x, float *y, int64_t n, int64_t backwards) {
    (void)n;
    dense_bf16(a, x, y, backwards);
}

/* ---- 16x1 block-sparse: blocks in pairs, block rows in lockstep groups of 8 (groups.c) ---- */

/* One pair of a block row: its two blocks' weights times their two activations. */
GB_INLINE v16f pair(const rows16 *c, v16f s, uint32_t columns, const uint16_t *w) {
    const uint32_t c0 = columns & 0xffffu, c1 = columns >> 16;
#if defined(GB_BF16_DOT)
    return v16_dot_bf16(s, (uint32_t)c->act[c0] | (uint32_t)c->act[c1] << 16, w);
#else
    v16f even, odd;
    v16_widen_pairs(w, &even, &odd);
    return v16_fma(odd, v16_set1(c->x[c1]), v16_fma(even, v16_set1(c->x[c0]), s));
#endif
}

GB_INLINE void group_diag(const int32_t *head, const uint8_t *w, const void *c) {
    rows16_pairs(head, (const uint16_t *)w, c, 1, pair);
}
GB_INLINE void group_plain(const int32_t *head, const uint8_t *w, const void *c) {
    rows16_pairs(head, (const uint16_t *)w, c, 0, pair);
}

void gbi_sparse16_bf16(const gb_product *a, const float *x, float *y, int64_t n, int64_t backwards) {
    (void)n;
#if defined(GB_BF16_DOT)
    round_activations(x, a->k, a->act);
#endif
    rows16_run_pairs(a, x, y, backwards, group_diag, group_plain);
}
