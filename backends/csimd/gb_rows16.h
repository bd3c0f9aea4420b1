/* Internal: what the 16x1 kernels (sparse16.c, bf16.c, fp16.c) share around a group of block rows:
 * where a block row's sum starts (its diagonal term) and where it goes; and, for the layouts that
 * pair a block row's blocks (bf16, fp16), the whole group and the whole kernel around a pair. */
#ifndef GB_ROWS16_H
#define GB_ROWS16_H

#include "gb_internal.h"
#include "gb_simd.h"

typedef struct {
    const float *restrict x, *restrict diag;
    const uint16_t *restrict act; /* bf16(x) or fp16(x) x16 per column, where the kernels round the activations */
    float *restrict y;
    int64_t k;
} rows16;

/* A block row's sum starts from its diagonal term (a division for r % k: only with a diagonal). */
GB_INLINE v16f rows16_start(const rows16 *c, int32_t dst, const int diag) {
    return diag && dst >= 0 ? v16_diag_term(c->diag, c->x, c->k, dst) : v16_zero();
}

/* A block row's 16 sums into y; a row filling up the last group (dst < 0) goes nowhere. */
GB_INLINE void rows16_finish(const rows16 *c, int32_t dst, v16f s) {
    if (dst >= 0) v16_storeu(c->y + dst, s);
}

/* One pair of a block row: s + its two blocks' weights (64 bytes at w) times their two activations
 * (the columns' uint16 pair). */
typedef v16f rows16_pair_fn(const rows16 *c, v16f s, uint32_t columns, const uint16_t *w);

/* One group of pairs: eight named accumulators, one per block row (an array of vectors gets
 * copied), a step taking one pair of each; `pair` is inlined where it is a constant. */
GB_INLINE void rows16_pairs(const int32_t *restrict head, const uint16_t *restrict w, const rows16 *c, const int diag,
                            rows16_pair_fn *pair) {
    const int64_t steps = head[0];
    const int32_t *restrict dst = head + 1, *restrict idx = head + 1 + GBI_GROUP;
    v16f s0 = rows16_start(c, dst[0], diag), s1 = rows16_start(c, dst[1], diag), s2 = rows16_start(c, dst[2], diag);
    v16f s3 = rows16_start(c, dst[3], diag), s4 = rows16_start(c, dst[4], diag), s5 = rows16_start(c, dst[5], diag);
    v16f s6 = rows16_start(c, dst[6], diag), s7 = rows16_start(c, dst[7], diag);
    for (int64_t s = 0; s < steps; ++s, idx += GBI_GROUP, w += 32 * GBI_GROUP) {
        s0 = pair(c, s0, (uint32_t)idx[0], w), s1 = pair(c, s1, (uint32_t)idx[1], w + 32);
        s2 = pair(c, s2, (uint32_t)idx[2], w + 64), s3 = pair(c, s3, (uint32_t)idx[3], w + 96);
        s4 = pair(c, s4, (uint32_t)idx[4], w + 128), s5 = pair(c, s5, (uint32_t)idx[5], w + 160);
        s6 = pair(c, s6, (uint32_t)idx[6], w + 192), s7 = pair(c, s7, (uint32_t)idx[7], w + 224);
    }
    rows16_finish(c, dst[0], s0), rows16_finish(c, dst[1], s1), rows16_finish(c, dst[2], s2), rows16_finish(c, dst[3], s3);
    rows16_finish(c, dst[4], s4), rows16_finish(c, dst[5], s5), rows16_finish(c, dst[6], s6), rows16_finish(c, dst[7], s7);
}

/* A paired kernel over every group (64 bytes a pair): `with_diag` and `plain` are its group
 * with and without the diagonal term, inlined where they are constants. */
GB_INLINE void rows16_run_pairs(const gb_product *a, const float *x, float *y, int64_t backwards,
                                gbi_group_fn *with_diag, gbi_group_fn *plain) {
    const rows16 c = {x, a->diag, a->act, y, a->k};
    if (a->diag)
        gbi_for_groups(a->idx, a->w, GBI_GROUP, 2, 64, backwards, with_diag, &c);
    else
        gbi_for_groups(a->idx, a->w, GBI_GROUP, 2, 64, backwards, plain, &c);
}

#endif
