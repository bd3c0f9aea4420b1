/* Block rows in lockstep groups: the layout the block-sparse kinds share (gb_internal.h).
 *
 * One block row alone runs a loop of its own length, different from row to row: its exit
 * mispredicts on most rows, and its one accumulator chain waits on the multiply-add latency.
 * Sorted by length and cut into groups that share one loop, the rows cost one loop exit per
 * group and keep a group's worth of independent accumulators in flight; the shorter rows of a
 * group are padded with zero blocks. */
#include <stdlib.h>
#include <string.h>

#include "gb_internal.h"
#include "gb_kernels.h"

/* The block rows in the order the groups take them: by units, most first, ties in row order
 * (a counting sort, so stable); counts[] (blocks) and starts[] (first block) by row. */
typedef struct {
    int64_t *order, *counts, *starts;
} row_order;

static int64_t units_of(const gbi_groups *g, int64_t blocks) { return (blocks + g->per_unit - 1) / g->per_unit; }

static row_order sort_rows(const gbi_groups *g, const int32_t *idx) {
    const int64_t size = sizeof(int64_t) * (g->rows + 1);
    row_order o = {malloc(size), malloc(size), malloc(size)};
    int64_t most = 0, blocks = 0;
    for (int64_t r = 0; r < g->rows; ++r) {
        o.counts[r] = *idx;
        o.starts[r] = blocks;
        blocks += *idx;
        idx += 1 + *idx;
        most = units_of(g, o.counts[r]) > most ? units_of(g, o.counts[r]) : most;
    }
    int64_t at = 0;
    for (int64_t u = most; u >= 0; --u)
        for (int64_t r = 0; r < g->rows; ++r)
            if (units_of(g, o.counts[r]) == u) o.order[at++] = r;
    return o;
}

static void free_order(row_order o) { free(o.order), free(o.counts), free(o.starts); }

static int64_t groups_in(const gbi_groups *g) { return (g->rows + g->group - 1) / g->group; }

static int64_t steps_of(const gbi_groups *g, const row_order *o, int64_t group) {
    return units_of(g, o->counts[o->order[group * g->group]]);
}

void gbi_groups_layout(const gbi_groups *g, const int32_t *idx, int64_t *ints, int64_t *units) {
    row_order o = sort_rows(g, idx);
    *ints = GBI_GROUPS_HEAD, *units = 0;
    for (int64_t n = 0; n < groups_in(g); ++n) {
        *ints += gbi_group_ints(g->group, g->per_unit, steps_of(g, &o, n));
        *units += steps_of(g, &o, n) * g->group;
    }
    free_order(o);
}

/* In the usual form, per row a count, then the columns: block b of row r is at idx[r + 1 +
 * starts[r] + b], its weights at w + block_bytes (starts[r] + b). Columns are stored as uint16
 * (k <= 65536), so one 8-byte load brings four of them: loads are what these kernels run out
 * of (each block also loads its weights and broadcasts its activations). */
void gbi_groups_pack(const gbi_groups *g, const int32_t *idx, const void *w, int64_t block_bytes, gbi_put_unit *put,
                     int32_t *index, void *packed) {
    int64_t ints, units;
    gbi_groups_layout(g, idx, &ints, &units);
    *index++ = (int32_t)(ints - GBI_GROUPS_HEAD), *index++ = (int32_t)units;
    row_order o = sort_rows(g, idx);
    uint8_t *out = packed;
    for (int64_t n = 0; n < groups_in(g); ++n) {
        const int64_t first = n * g->group, steps = steps_of(g, &o, n);
        *index++ = (int32_t)steps;
        for (int64_t i = 0; i < g->group; ++i)
            *index++ = first + i < g->rows ? (int32_t)(g->height * o.order[first + i]) : -1;
        uint8_t *columns = (uint8_t *)index;
        for (int64_t s = 0; s < steps; ++s)
            for (int64_t i = 0; i < g->group; ++i, out += g->unit_bytes) {
                const int64_t r = first + i < g->rows ? o.order[first + i] : -1;
                const void *blocks[2] = {NULL, NULL};
                int64_t real = 0;
                for (int64_t b = s * g->per_unit; r >= 0 && b < o.counts[r] && real < g->per_unit; ++b, ++real)
                    blocks[real] = (const uint8_t *)w + block_bytes * (o.starts[r] + b);
                for (int64_t u = 0; u < g->per_unit; ++u) {
                    const int64_t b = s * g->per_unit + (u < real ? u : 0);
                    const uint16_t column = (uint16_t)(real ? idx[r + 1 + o.starts[r] + b] : 0);
                    memcpy(columns, &column, 2), columns += 2;
                }
                put(g, out, blocks, real);
            }
        index += steps * gbi_step_ints(g->group, g->per_unit);
        *index++ = (int32_t)steps;
    }
    free_order(o);
}

/* A unit of one block: the block, or zeros. */
static void put_copy(const gbi_groups *g, void *dst, const void *const blocks[2], int64_t real) {
    if (real)
        memcpy(dst, blocks[0], g->unit_bytes);
    else
        memset(dst, 0, g->unit_bytes);
}

/* A unit of two bf16 16x1 blocks: lane r = (first block's w[r], second block's w[r]). */
static void put_bf16_pair(const gbi_groups *g, void *dst, const void *const blocks[2], int64_t real) {
    (void)g;
    uint16_t *out = dst;
    for (int64_t r = 0; r < 16; ++r)
        for (int64_t b = 0; b < 2; ++b) out[2 * r + b] = b < real ? ((const uint16_t *)blocks[b])[r] : 0;
}

/* A unit of two fp16 16x1 blocks: the first block's 16 weights, then the second's (or zeros). */
static void put_fp16_pair(const gbi_groups *g, void *dst, const void *const blocks[2], int64_t real) {
    (void)g;
    for (int64_t b = 0; b < 2; ++b)
        if (b < real)
            memcpy((uint8_t *)dst + 32 * b, blocks[b], 32);
        else
            memset((uint8_t *)dst + 32 * b, 0, 32);
}

/* Each block-sparse kind's groups: how tall its blocks are, how many bytes a block has. */
static int block_layout(int64_t kind, int64_t m, gbi_groups *g, int64_t *block_bytes, gbi_put_unit **put) {
    switch (kind) {
    case GB_SPARSE16_F32: *g = (gbi_groups){m / 16, 16, GBI_GROUP, 1, 64}, *block_bytes = 64, *put = put_copy; return 1;
    case GB_SPARSE8X4_INT8: *g = (gbi_groups){m / 8, 8, GBI_GROUP, 1, 32}, *block_bytes = 32, *put = put_copy; return 1;
    case GB_SPARSE16_BF16: *g = (gbi_groups){m / 16, 16, GBI_GROUP, 2, 64}, *block_bytes = 32, *put = put_bf16_pair; return 1;
    case GB_SPARSE16_FP16: *g = (gbi_groups){m / 16, 16, GBI_GROUP, 2, 64}, *block_bytes = 32, *put = put_fp16_pair; return 1;
    default: return 0;
    }
}

int64_t gb_sparse_layout(int64_t kind, int64_t m, const int32_t *idx, int64_t *index_ints, int64_t *units) {
    gbi_groups g;
    int64_t block_bytes;
    gbi_put_unit *put;
    if (!block_layout(kind, m, &g, &block_bytes, &put)) return -1;
    gbi_groups_layout(&g, idx, index_ints, units);
    return g.unit_bytes;
}

void gb_sparse_pack(int64_t kind, int64_t m, const int32_t *idx, const void *w, int32_t *index, void *packed) {
    gbi_groups g;
    int64_t block_bytes;
    gbi_put_unit *put;
    if (block_layout(kind, m, &g, &block_bytes, &put)) gbi_groups_pack(&g, idx, w, block_bytes, put, index, packed);
}
