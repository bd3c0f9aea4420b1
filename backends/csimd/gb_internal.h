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

/* The half-precision kinds (bf16.c, fp16.c) keep a panel's columns in pairs: 64-byte units. */
static inline int64_t gbi_pairs(int64_t k) { return (k + 1) / 2; }
static inline int64_t gbi_panels(int64_t m) { return (m + GB_PANEL - 1) / GB_PANEL; }
static inline int64_t gbi_half_packed_bytes(int64_t m, int64_t k) { return gbi_panels(m) * gbi_pairs(k) * 64; }

/* Every kernel: y = a x (Y = A X with n columns where the kind has a GEMM). */
typedef void gbi_kernel(const gb_product *a, const float *x, float *y, int64_t n, int64_t backwards);

GB_INTERNAL gbi_kernel gbi_dense_f32, gbi_sparse16_f32, gbi_dense_int8, gbi_sparse8x4_int8, gbi_dense_bf16,
    gbi_sparse16_bf16, gbi_dense_fp16, gbi_sparse16_fp16;

/* The batched products (gemm.c) on the GEMV's panels: float32 (dense.c's layout, also gb_sgemm)
 * and dense int8 (int8.c's layout; X quantized into a->act, I8 pass of 64 columns at a time). */
GB_INTERNAL void gbi_sgemm(const float *packed, int64_t m, int64_t k, int64_t n, const float *x, float *y);
GB_INTERNAL void gbi_int8_gemm(const gb_product *a, const float *x, float *y, int64_t n);

/* The AMX kinds (amx.c) exist only in the builds whose flags have their tile instructions; in
 * the others their entries in the kernel table stay empty, and gb_amx_permission says -1. */
#if defined(__AMX_TILE__) && defined(__AMX_INT8__) && defined(__AVX512F__)
#define GBI_AMX_INT8 1
GB_INTERNAL gbi_kernel gbi_amx_int8;
#endif
#if defined(__AMX_TILE__) && defined(__AMX_BF16__) && defined(__AVX512BF16__)
#define GBI_AMX_BF16 1
GB_INTERNAL gbi_kernel gbi_amx_bf16;
#endif
/* Scratch bytes an AMX kind's call makes its activations in (gb_act_bytes). */
GB_INTERNAL int64_t gbi_amx_act_bytes(int64_t kind, int64_t k);

/* ---- block rows in lockstep groups (groups.c): the layout of the block-sparse kinds ----
 *
 * The block rows, sorted by how many units they hold (a unit: `per_unit` blocks stored
 * together, 1 or 2), are cut into groups of `group` rows that one loop runs in lockstep, a
 * step taking one unit of each; a group's shorter rows are padded with zero units (column 0),
 * and the last group is filled up with empty rows (output row -1, never stored). The index
 * stream: the number of ints after these first two, the number of units stored; then per
 * group its step count, the first output row of each of its rows, per step the input column
 * of each block of each unit as uint16 (two to an int32), and the step count once more, so
 * the groups can be walked backwards too. The weights: unit_bytes per unit, in step order. */
typedef struct {
    int64_t rows;       /* block rows */
    int64_t height;     /* output rows per block row */
    int64_t group;      /* block rows per group; group * per_unit is even */
    int64_t per_unit;   /* blocks per unit */
    int64_t unit_bytes; /* bytes of weights per unit */
} gbi_groups;

#define GBI_GROUPS_HEAD 2

static inline int64_t gbi_step_ints(int64_t group, int64_t per_unit) { return group * per_unit / 2; }
static inline int64_t gbi_group_ints(int64_t group, int64_t per_unit, int64_t steps) {
    return 1 + group + steps * gbi_step_ints(group, per_unit) + 1;
}

#define GBI_GROUP 8 /* block rows per group: the kernels name eight accumulators */

/* Writes one unit from its `real` blocks (0 .. per_unit; the rest are zero blocks). */
typedef void gbi_put_unit(const gbi_groups *g, void *dst, const void *const blocks[2], int64_t real);

GB_INTERNAL void gbi_groups_layout(const gbi_groups *g, const int32_t *idx, int64_t *ints, int64_t *units);
GB_INTERNAL void gbi_groups_pack(const gbi_groups *g, const int32_t *idx, const void *w, int64_t block_bytes,
                                 gbi_put_unit *put, int32_t *index, void *packed);

/* One group from its head (step count, output rows, columns) and its weights. */
typedef void gbi_group_fn(const int32_t *head, const uint8_t *w, const void *ctx);

/* Every group of a stream, first to last or last to first; `fn` is inlined where it is a constant. */
static inline __attribute__((always_inline)) void gbi_for_groups(const int32_t *stream, const void *weights,
                                                                 int64_t group, int64_t per_unit, int64_t unit_bytes,
                                                                 int64_t backwards, gbi_group_fn *fn, const void *ctx) {
    const int64_t ints = stream[0], units = stream[1];
    const int32_t *idx = stream + GBI_GROUPS_HEAD, *end = idx + ints;
    const uint8_t *w = weights, *w_end = w + unit_bytes * units;
    if (backwards)
        while (end > idx) {
            const int64_t steps = end[-1];
            end -= gbi_group_ints(group, per_unit, steps), w_end -= unit_bytes * group * steps;
            fn(end, w_end, ctx);
        }
    else
        for (; idx < end; w += unit_bytes * group * idx[0], idx += gbi_group_ints(group, per_unit, idx[0]))
            fn(idx, w, ctx);
}

/* The kernel of a product's kind. */
GB_INTERNAL void gbi_product(const gb_product *a, const float *x, float *y, int64_t n, int64_t backwards);

#endif
