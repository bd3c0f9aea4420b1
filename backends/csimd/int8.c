/* int8 GEMV, dense and 8x4 block-sparse: u8 activations x s8 weights, int32 accumulators,
 * written against the int8 vector layer (gb_simd_int8.h). */
#define _POSIX_C_SOURCE 199309L
#include <stdlib.h>
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

static void int8_gemv(const gb_product *a, const float *restrict x, float *restrict y, int64_t backwards) {
    const int64_t m = a->m, k = a->k, groups = round_up(k, 4) / 4, last = round_up(m, GB_PANEL) - GB_PANEL;
    uint8_t *restrict xq = a->act;
    quantize_u8(x, k, xq);
    if (backwards)
        for (int64_t r0 = last; r0 >= 0; r0 -= GB_PANEL) int8_panel(a->w, m, groups, a->scale, a->corr, xq, y, r0);
    else
        for (int64_t r0 = 0; r0 < m; r0 += GB_PANEL) int8_panel(a->w, m, groups, a->scale, a->corr, xq, y, r0);
}

void gbi_dense_int8(const gb_product *a, const float *x, float *y, int64_t n, int64_t backwards) {
    (void)n;
    int8_gemv(a, x, y, backwards);
}

/* ---- 8x4 block-sparse: block rows in groups run in lockstep (layout: gb_kernels.h) ----
 *
 * One block row alone runs a loop of its own length, different from row to row: its exit
 * mispredicts on most rows, and its one accumulator chain waits on the dot-product latency.
 * A group of GB_8X4_GROUP rows sorted by length shares one loop: one exit per group, and
 * GB_8X4_GROUP independent accumulators in flight. */
#define GROUP GB_8X4_GROUP

/* The block rows in the order the groups take them: by count, most first, ties in row order
 * (a counting sort, so stable); counts[] and starts[] (first block of each row) by row. */
typedef struct {
    int64_t rows, *order, *counts, *starts;
} row_order;

static row_order sort_rows(int64_t m, const int32_t *idx) {
    row_order o = {m / 8, malloc(sizeof(int64_t) * (m / 8 + 1)), malloc(sizeof(int64_t) * (m / 8 + 1)),
                   malloc(sizeof(int64_t) * (m / 8 + 1))};
    int64_t most = 0, blocks = 0;
    for (int64_t r = 0; r < o.rows; ++r) {
        o.counts[r] = *idx;
        o.starts[r] = blocks;
        blocks += *idx;
        idx += 1 + *idx;
        most = o.counts[r] > most ? o.counts[r] : most;
    }
    int64_t at = 0;
    for (int64_t c = most; c >= 0; --c)
        for (int64_t r = 0; r < o.rows; ++r)
            if (o.counts[r] == c) o.order[at++] = r;
    return o;
}

static void free_order(row_order o) { free(o.order), free(o.counts), free(o.starts); }

static int64_t groups_of(int64_t rows) { return (rows + GROUP - 1) / GROUP; }

void gb_sparse8x4_layout(int64_t m, const int32_t *idx, int64_t *index_ints, int64_t *blocks) {
    row_order o = sort_rows(m, idx);
    *index_ints = *blocks = 0;
    for (int64_t g = 0; g < groups_of(o.rows); ++g) {
        const int64_t steps = o.counts[o.order[g * GROUP]];
        *index_ints += 1 + GROUP + steps * GROUP;
        *blocks += steps * GROUP;
    }
    free_order(o);
}

/* Columns of the usual form: per row a count, then the columns; the block b of row r is at
 * cols[r] + b, where cols[r] is one past its count. */
void gb_sparse8x4_pack(int64_t m, const int32_t *idx, const int8_t *w, int32_t *index, int8_t *packed) {
    row_order o = sort_rows(m, idx);
    for (int64_t g = 0; g < groups_of(o.rows); ++g) {
        const int64_t first = g * GROUP, steps = o.counts[o.order[first]];
        *index++ = (int32_t)steps;
        for (int64_t i = 0; i < GROUP; ++i) *index++ = first + i < o.rows ? (int32_t)(8 * o.order[first + i]) : -1;
        for (int64_t s = 0; s < steps; ++s)
            for (int64_t i = 0; i < GROUP; ++i, packed += 32) {
                const int64_t r = first + i < o.rows ? o.order[first + i] : -1;
                const int real = r >= 0 && s < o.counts[r];
                const int64_t block = real ? o.starts[r] + s : 0;
                *index++ = real ? idx[r + 1 + o.starts[r] + s] : 0;
                memcpy(packed, w + 32 * block, 32);
                if (!real) memset(packed, 0, 32);
            }
    }
    free_order(o);
}
/* y[dst .. dst + 8) from one block row's accumulator: dequantised, plus the diagonal term. */
GB_INLINE void store_row(const gb_product *a, const float *x, float *y, v8i acc, int64_t dst) {
    const int64_t c0 = dst % a->k;
    const float *xr = x + c0;
    float xs[8];
    if (a->diag && c0 + 8 > a->k) {
        for (int64_t i = 0; i < 8; ++i) xs[i] = x[(dst + i) % a->k];
        xr = xs;
    }
    v8i_dequant_store(y + dst, acc, a->corr + dst, a->scale + dst, a->diag ? a->diag + dst : NULL, xr);
}

static void sparse8x4(const gb_product *a, const float *restrict x, float *restrict y) {
    uint8_t *restrict xq = a->act;
    quantize_u8(x, a->k, xq);
    const int32_t *restrict idx = a->idx;
    const int8_t *restrict w = a->w;
    for (int64_t g = 0; g < groups_of(a->m / 8); ++g) {
        const int64_t steps = *idx++;
        const int32_t *dst = idx;
        idx += GROUP;
        v8i acc[GROUP];
        GB_UNROLL for (int i = 0; i < GROUP; ++i) acc[i] = v8i_zero();
        for (int64_t s = 0; s < steps; ++s, idx += GROUP, w += 32 * GROUP)
            GB_UNROLL for (int i = 0; i < GROUP; ++i) acc[i] = v8i_dot4(acc[i], xq + idx[i], w + 32 * i);
        for (int i = 0; i < GROUP; ++i)
            if (dst[i] >= 0) store_row(a, x, y, acc[i], dst[i]);
    }
}

void gbi_sparse8x4_int8(const gb_product *a, const float *x, float *y, int64_t n, int64_t backwards) {
    (void)n, (void)backwards;
    sparse8x4(a, x, y);
}
