/* Dense float32 SGEMV over 16-row panels (the batched product on the same panels: gemm.c). */
#define _POSIX_C_SOURCE 199309L
#include <string.h>

#include "gb_internal.h"
#include "gb_kernels.h"
#include "gb_simd.h"

static int64_t panels(int64_t m) { return (m + GB_PANEL - 1) / GB_PANEL; }

int64_t gb_dense_packed_floats(int64_t m, int64_t k) { return panels(m) * GB_PANEL * k; }

void gb_dense_pack(const float *restrict w, int64_t m, int64_t k, float *restrict packed) {
    for (int64_t p = 0; p < panels(m); ++p) {
        float *dst = packed + p * GB_PANEL * k;
        for (int64_t j = 0; j < k; ++j)
            for (int64_t r = 0; r < GB_PANEL; ++r) {
                int64_t row = p * GB_PANEL + r;
                dst[j * GB_PANEL + r] = row < m ? w[row * k + j] : 0.0f;
            }
    }
}

#if defined(GB_SCALAR)
/* Scalar: two rows at a time, two sums each, all in registers (sixteen column sums would live
 * in memory); the panel's stride-16 reads stay in L1. */
GB_INLINE v16f panel_dot(const float *restrict a, int64_t k, const float *restrict x) {
    v16f out;
    for (int64_t r = 0; r < GB_PANEL; r += 2) {
        const float *ar = a + r;
        float s0 = 0.0f, s1 = 0.0f, t0 = 0.0f, t1 = 0.0f;
        int64_t j = 0;
        for (; j + 2 <= k; j += 2) {
            const float *c0 = ar + j * GB_PANEL, *c1 = c0 + GB_PANEL;
            s0 += c0[0] * x[j];
            t0 += c0[1] * x[j];
            s1 += c1[0] * x[j + 1];
            t1 += c1[1] * x[j + 1];
        }
        if (j < k) {
            s0 += ar[j * GB_PANEL] * x[j];
            t0 += ar[j * GB_PANEL + 1] * x[j];
        }
        out.v[r] = s0 + s1;
        out.v[r + 1] = t0 + t1;
    }
    return out;
}
#else
/* One panel: four accumulators over j hide the FMA latency. The panels are read as one
 * sequential stream, which the hardware prefetcher follows; software prefetch 256 to 2048
 * floats ahead (T0 or T1) and two panels at once measured no faster. Once W outgrows L2
 * (1152 x 384 floats: 1.77 MB) the part of it that is not left in L2 by the previous call
 * (see gb_alternate in gb_internal.h) streams at the L3 read bandwidth. */
GB_INLINE v16f panel_dot(const float *restrict a, int64_t k, const float *restrict x) {
    v16f s0 = v16_zero(), s1 = v16_zero(), s2 = v16_zero(), s3 = v16_zero();
    int64_t j = 0;
    for (; j + 4 <= k; j += 4, a += 4 * GB_PANEL) {
        s0 = v16_fma(v16_load(a), v16_set1(x[j]), s0);
        s1 = v16_fma(v16_load(a + GB_PANEL), v16_set1(x[j + 1]), s1);
        s2 = v16_fma(v16_load(a + 2 * GB_PANEL), v16_set1(x[j + 2]), s2);
        s3 = v16_fma(v16_load(a + 3 * GB_PANEL), v16_set1(x[j + 3]), s3);
    }
    for (; j < k; ++j, a += GB_PANEL) s0 = v16_fma(v16_load(a), v16_set1(x[j]), s0);
    return v16_add(v16_add(s0, s1), v16_add(s2, s3));
}
#endif

/* Kernels are static and wrapped: an exported function may be interposed, so calls to it from the
 * timing loop could not be inlined and would go through the PLT. */
GB_INLINE void sgemv_panel(const float *restrict packed, int64_t m, int64_t k, const float *restrict x, float *restrict y,
                           int64_t p) {
    v16f s = panel_dot(packed + p * GB_PANEL * k, k, x);
    v16_store_rows(y + p * GB_PANEL, s, m - p * GB_PANEL);
}

/* Two loops rather than a computed index, so the forward one compiles as it did alone. */
static void sgemv(const float *restrict packed, int64_t m, int64_t k, const float *restrict x, float *restrict y,
                  int64_t backwards) {
    if (backwards)
        for (int64_t p = panels(m) - 1; p >= 0; --p) sgemv_panel(packed, m, k, x, y, p);
    else
        for (int64_t p = 0; p < panels(m); ++p) sgemv_panel(packed, m, k, x, y, p);
}

void gb_sgemm(const float *packed, int64_t m, int64_t k, int64_t n, const float *x, float *y) {
    if (n == 1)
        sgemv(packed, m, k, x, y, 0);
    else
        gbi_sgemm(packed, m, k, n, x, y);
}

/* A single column is a vector: the GEMV kernel hides the FMA latency over k. */
void gbi_dense_f32(const gb_product *a, const float *x, float *y, int64_t n, int64_t backwards) {
    if (n == 1)
        sgemv(a->w, a->m, a->k, x, y, backwards);
    else
        gbi_sgemm(a->w, a->m, a->k, n, x, y);
}
