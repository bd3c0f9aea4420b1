/* LPCNet's 16x1 block-sparse float32 SGEMV (runtime layout: blocks run down 16 output rows). */
#define _POSIX_C_SOURCE 199309L
#include "gb_internal.h"
#include "gb_kernels.h"
#include "gb_simd.h"

#if defined(GB_SCALAR)
static void sparse16(int64_t m, int64_t k, const int32_t *restrict idx, const float *restrict w, const float *restrict diag,
                     const float *restrict x, float *restrict y) {
    for (int64_t r0 = 0; r0 < m; r0 += 16) {
        int64_t count = *idx++;
        float s[16];
        for (int64_t r = 0; r < 16; ++r) s[r] = diag ? diag[r0 + r] * x[(r0 + r) % k] : 0.0f;
        for (int64_t b = 0; b < count; ++b, w += 16) {
            const float xj = x[*idx++];
            for (int64_t r = 0; r < 16; ++r) s[r] += w[r] * xj;
        }
        for (int64_t r = 0; r < 16; ++r) y[r0 + r] = s[r];
    }
}
#else
static void sparse16(int64_t m, int64_t k, const int32_t *restrict idx, const float *restrict w, const float *restrict diag,
                     const float *restrict x, float *restrict y) {
    for (int64_t r0 = 0; r0 < m; r0 += 16) {
        int64_t count = *idx++;
        /* Four accumulators: one chain would wait on the FMA latency for every block. */
        v16f s0 = diag ? v16_diag_term(diag, x, k, r0) : v16_zero();
        v16f s1 = v16_zero(), s2 = v16_zero(), s3 = v16_zero();
        int64_t b = 0;
        for (; b + 4 <= count; b += 4, idx += 4, w += 64) {
            s0 = v16_fma(v16_load(w), v16_set1(x[idx[0]]), s0);
            s1 = v16_fma(v16_load(w + 16), v16_set1(x[idx[1]]), s1);
            s2 = v16_fma(v16_load(w + 32), v16_set1(x[idx[2]]), s2);
            s3 = v16_fma(v16_load(w + 48), v16_set1(x[idx[3]]), s3);
        }
        for (; b < count; ++b, ++idx, w += 16) s0 = v16_fma(v16_load(w), v16_set1(x[*idx]), s0);
        v16_storeu(y + r0, v16_add(v16_add(s0, s1), v16_add(s2, s3)));
    }
}
#endif

void gbi_sparse16_f32(const gb_product *a, const float *x, float *y, int64_t n, int64_t backwards) {
    (void)n, (void)backwards;
    sparse16(a->m, a->k, a->idx, a->w, a->diag, x, y);
}
