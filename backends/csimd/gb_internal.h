/* Internal: the kernels as entry points one source file offers another (call.c dispatches
 * gb_call_run to them, lpcnet.c runs them inside its fused step). Hidden, so they are called
 * directly, never through the PLT, and stay out of the ctypes ABI of gb_kernels.h. */
#ifndef GB_INTERNAL_H
#define GB_INTERNAL_H

#include <stdint.h>

#include "gb_kernels.h"

#define GB_INTERNAL __attribute__((visibility("hidden")))

/* Alternation: the dense kernels take `backwards` and read their panels last to first when
 * it is set. A matrix larger than L2 read front to back on every call finds none of itself
 * there (the scan evicts its own head before the next call wants it); alternating the
 * direction, each call starts with the panels the previous one read last, still in L2. The
 * arithmetic of a panel is the same either way, so the output is bit-identical. A gb_call
 * flips its own direction after each call (the state lives in the call, so two matrices
 * never share it and no thread-local or atomic is needed); lpcnet.c alternates by sample.
 * A matrix small enough to stay in L1 is always read forwards. The sparse kernels read
 * forwards only: their variable-length rows cannot be walked backwards without an extra
 * index, and at vocoder sizes (under 1 MB at 10% density) they stay in L2 anyway. */
#define GB_ALTERNATE_BYTES (32 << 10)

/* Every kernel: y = a x (Y = A X with n columns where the kind has a GEMM). */
typedef void gbi_kernel(const gb_product *a, const float *x, float *y, int64_t n, int64_t backwards);

GB_INTERNAL gbi_kernel gbi_dense_f32, gbi_sparse16_f32, gbi_dense_int8, gbi_sparse8x4_int8, gbi_dense_bf16,
    gbi_sparse16_bf16;

/* The kernel of a product's kind. */
GB_INTERNAL void gbi_product(const gb_product *a, const float *x, float *y, int64_t n, int64_t backwards);

#endif
