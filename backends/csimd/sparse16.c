/* LPCNet's 16x1 block-sparse float32 SGEMV: blocks run down 16 output rows, block rows in
 * lockstep groups of 8 (groups.c), walked backwards every other call (gb_internal.h). */
#define _POSIX_C_SOURCE 199309L
#include <string.h>

#include "gb_internal.h"
#include "gb_kernels.h"
#include "gb_rows16.h"
#include "gb_simd.h"

#define GROUP GBI_GROUP

#if defined(GB_SCALAR)
/* Scalar: a group's rows one after another, each row's 16 sums in registers (eight rows' sums
 * would live on the stack); the step-major layout is walked with a stride. */
GB_INLINE void group(const int32_t *restrict head, const float *restrict w, const rows16 *c, const int diag) {
    const int64_t steps = head[0];
    const int32_t *restrict dst = head + 1;
    const uint8_t *columns = (const uint8_t *)(head + 1 + GROUP);
    for (int64_t i = 0; i < GROUP; ++i) {
        if (dst[i] < 0) continue;
        float sum[16];
        for (int64_t r = 0; r < 16; ++r) sum[r] = diag ? c->diag[dst[i] + r] * c->x[(dst[i] + r) % c->k] : 0.0f;
        for (int64_t s = 0; s < steps; ++s) {
            uint16_t column;
            memcpy(&column, columns + 2 * (s * GROUP + i), 2);
            const float xj = c->x[column], *block = w + 16 * (s * GROUP + i);
            for (int64_t r = 0; r < 16; ++r) sum[r] += block[r] * xj;
        }
        for (int64_t r = 0; r < 16; ++r) c->y[dst[i] + r] = sum[r];
    }
}
#else
/* One group: eight named accumulators, one per block row (an array of vectors gets copied). */
GB_INLINE void group(const int32_t *restrict head, const float *restrict w, const rows16 *c, const int diag) {
    const float *restrict x = c->x;
    const int64_t steps = head[0];
    const int32_t *restrict dst = head + 1, *restrict idx = head + 1 + GROUP;
    v16f s0 = rows16_start(c, dst[0], diag), s1 = rows16_start(c, dst[1], diag), s2 = rows16_start(c, dst[2], diag);
    v16f s3 = rows16_start(c, dst[3], diag), s4 = rows16_start(c, dst[4], diag), s5 = rows16_start(c, dst[5], diag);
    v16f s6 = rows16_start(c, dst[6], diag), s7 = rows16_start(c, dst[7], diag);
    for (int64_t s = 0; s < steps; ++s, idx += GROUP / 2, w += 16 * GROUP) {
        uint64_t c0, c1;
        gb_columns8(idx, &c0, &c1);
        s0 = v16_fma(v16_load(w), v16_set1(x[(uint16_t)c0]), s0);
        s1 = v16_fma(v16_load(w + 16), v16_set1(x[(uint16_t)(c0 >> 16)]), s1);
        s2 = v16_fma(v16_load(w + 32), v16_set1(x[(uint16_t)(c0 >> 32)]), s2);
        s3 = v16_fma(v16_load(w + 48), v16_set1(x[c0 >> 48]), s3);
        s4 = v16_fma(v16_load(w + 64), v16_set1(x[(uint16_t)c1]), s4);
        s5 = v16_fma(v16_load(w + 80), v16_set1(x[(uint16_t)(c1 >> 16)]), s5);
        s6 = v16_fma(v16_load(w + 96), v16_set1(x[(uint16_t)(c1 >> 32)]), s6);
        s7 = v16_fma(v16_load(w + 112), v16_set1(x[c1 >> 48]), s7);
    }
    rows16_finish(c, dst[0], s0), rows16_finish(c, dst[1], s1), rows16_finish(c, dst[2], s2), rows16_finish(c, dst[3], s3);
    rows16_finish(c, dst[4], s4), rows16_finish(c, dst[5], s5), rows16_finish(c, dst[6], s6), rows16_finish(c, dst[7], s7);
}
#endif

GB_INLINE void group_diag(const int32_t *head, const uint8_t *w, const void *c) { group(head, (const float *)w, c, 1); }
GB_INLINE void group_plain(const int32_t *head, const uint8_t *w, const void *c) { group(head, (const float *)w, c, 0); }

void gbi_sparse16_f32(const gb_product *a, const float *x, float *y, int64_t n, int64_t backwards) {
    (void)n;
    const rows16 c = {x, a->diag, NULL, y, a->k};
    if (a->diag)
        gbi_for_groups(a->idx, a->w, GROUP, 1, 64, backwards, group_diag, &c);
    else
        gbi_for_groups(a->idx, a->w, GROUP, 1, 64, backwards, group_plain, &c);
}
