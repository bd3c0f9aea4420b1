/* Internal: the kernels as entry points one source file offers another (lpcnet.c runs the
 * GEMV kernels inside its fused step). Hidden, so they are called directly, never through
 * the PLT, and stay out of the ctypes ABI of gb_kernels.h. */
#ifndef GB_INTERNAL_H
#define GB_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#include "gb_kernels.h"

#define GB_INTERNAL __attribute__((visibility("hidden")))

/* The dense GEMV kernels take `backwards` and read their panels last to first when it is set.
 * A matrix larger than L2 read front to back on every call finds none of itself there (the
 * scan evicts its own head before the next call wants it); alternating the direction, each
 * call starts with the panels the previous one read last, still in L2. The arithmetic of a
 * panel is the same either way, so the output is bit-identical. Callers alternate: lpcnet.c
 * by sample, the exported entry points through gb_alternate on a flag per kernel. The flag is
 * a relaxed atomic, plain loads and stores: threads racing on it only share a direction, and
 * a _Thread_local in a shared library costs a __tls_get_addr call (5 ns, a third of a 48x16
 * GEMV). A matrix small enough to stay in L1 is always read forwards. */
#define GB_ALTERNATE_BYTES (64 << 10)

static inline int gb_alternate(atomic_int *flag, int64_t bytes) {
    if (bytes <= GB_ALTERNATE_BYTES) return 0;
    int now = atomic_load_explicit(flag, memory_order_relaxed);
    atomic_store_explicit(flag, !now, memory_order_relaxed);
    return now;
}

GB_INTERNAL void gbi_sgemv(const float *packed, int64_t m, int64_t k, const float *x, float *y, int backwards);
GB_INTERNAL void gbi_sparse16_sgemv(int64_t m, int64_t k, const int32_t *idx, const float *w, const float *diag,
                                    const float *x, float *y);
GB_INTERNAL void gbi_int8_gemv(const int8_t *packed, int64_t m, int64_t k, const float *scale, const int32_t *corr,
                               uint8_t *xq, const float *x, float *y, int backwards);
GB_INTERNAL void gbi_sparse8x4_int8_gemv(int64_t m, int64_t k, const int32_t *idx, const int8_t *w, const float *scale,
                                         const int32_t *corr, const float *diag, uint8_t *xq, const float *x,
                                         float *y);

#endif
