/* Internal: the kernels as entry points one source file offers another (lpcnet.c runs the
 * GEMV kernels inside its fused step). Hidden, so they are called directly, never through
 * the PLT, and stay out of the ctypes ABI of gb_kernels.h. */
#ifndef GB_INTERNAL_H
#define GB_INTERNAL_H

#include <stdint.h>

#include "gb_kernels.h"

#define GB_INTERNAL __attribute__((visibility("hidden")))

GB_INTERNAL void gbi_sgemv(const float *packed, int m, int k, const float *x, float *y);
GB_INTERNAL void gbi_sparse16_sgemv(int m, int k, const int32_t *idx, const float *w, const float *diag,
                                    const float *x, float *y);
GB_INTERNAL void gbi_int8_gemv(const int8_t *packed, int m, int k, const float *scale, const int32_t *corr,
                               uint8_t *xq, const float *x, float *y);
GB_INTERNAL void gbi_sparse8x4_int8_gemv(int m, int k, const int32_t *idx, const int8_t *w, const float *scale,
                                         const int32_t *corr, const float *diag, uint8_t *xq, const float *x,
                                         float *y);

#endif
