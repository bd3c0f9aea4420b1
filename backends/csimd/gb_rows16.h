/* Internal: what the 16x1 kernels (sparse16.c, bf16.c, fp16.c) share around a group of block rows:
 * where a block row's sum starts (its diagonal term) and where it goes. */
#ifndef GB_ROWS16_H
#define GB_ROWS16_H

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

#endif
