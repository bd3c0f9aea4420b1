/* gemmbench csimd kernels: the C ABI loaded by kernels.py through ctypes.
 *
 * One source tree, compiled once per ISA variant (see gemmbench/machine/native.py); the vector
 * layer (gb_simd.h) picks the intrinsics from the -m flags' predefined macros, and with
 * none of them the portable scalar C runs.
 *
 * Every integer crossing this ABI (shapes, sizes, counts, loop counts, sample indices,
 * codes) is int64_t, in arguments, return values and struct fields alike; only stored
 * data has its own type (int32 block index, int8 and bf16 weights). Inside, index
 * arithmetic is then int64_t throughout, with no casts. Buffers marked "aligned" must be
 * 64-byte aligned (the wrapper allocates them so); x, y, diag and scales may be unaligned.
 *
 * A matrix is prepared once (packed, quantized, rounded) into a gb_product; a gb_call
 * binds it to x and y, and the measured call is gb_call_run(call): one pointer, so the
 * Python side pays for one ctypes argument (docs/csimd.md, "The call path").
 */
#ifndef GB_KERNELS_H
#define GB_KERNELS_H

#include <stdint.h>

#define GB_ABI_VERSION 7
#define GB_PANEL 16 /* rows per packed panel of the dense kinds */

/* Identity of the compiled variant. */
int64_t gb_abi_version(void);
const char *gb_isa(void);
/* Largest |weight| the int8 kernels take (GB_I8_WMAX, gb_simd_int8.h); its negative is the
 * smallest, except that paths without maddubs (scalar, vnni) also take -128. */
int64_t gb_int8_weight_max(void);
int64_t gb_int8_weight_min(void);
/* The offset in the int8 kinds' activation byte: 127 (u8, x86 and scalar), or 0 on NEON, whose
 * s8 x s8 products take t = rint(127 x) as it is (gb_simd_int8.h: GB_I8_ACT_OFFSET). */
int64_t gb_int8_act_offset(void);
/* 1 when the bf16 kinds round the activations to bf16 and use vdpbf16ps, 0 when they widen
 * the weights to float32 and multiply exact float32 activations. */
int64_t gb_bf16_rounds_activations(void);
/* How many products an fp16 lane sums before float32 takes over, where the fp16 kinds round the
 * activations to fp16 and multiply in fp16 (vfmadd231ph); 0 where they widen the weights to float32. */
int64_t gb_fp16_lane_terms(void);

/* ---- the products: one kind per storage format ----
 *
 * GB_DENSE_F32     W (m x k) in panels of 16 rows (rows padded with zeros to a multiple of
 *                  16); within a panel column j is 16 consecutive floats. Runs GEMV (n = 1)
 *                  and small-batch GEMM: Y (m x n) = W X, X (k x n), both row-major.
 * GB_SPARSE16_F32  LPCNet's 16x1 blocks (m % 16 == 0), block rows in lockstep groups of 8
 *                  (gb_internal.h: the groups layout; gb_sparse_layout/pack below).
 * GB_DENSE_INT8    panels of 16 rows x groups of 4 inputs, 64 bytes per group (rows padded
 *                  to 16, inputs to 4, with zeros).
 * GB_SPARSE8X4_INT8  8x4 blocks (m % 8 == 0, k % 4 == 0), 32 bytes each, row-major, block
 *                  rows in lockstep groups of 8.
 * GB_DENSE_BF16    bf16 weights in panels of 16 rows x pairs of inputs: for pair p, lane r
 *                  holds (w[r][2p], w[r][2p+1]), 64 bytes per pair (k padded to even).
 * GB_SPARSE16_BF16 16x1 blocks of bf16 in pairs of a block row's blocks, 64 bytes a pair:
 *                  lane r = (first block's w[r], second block's w[r]); block rows in lockstep
 *                  groups of 8, a step taking one pair of each; an odd count's last block is
 *                  paired with a zero block (its column repeated).
 * GB_AMX_INT8      AMX tiles (amx.c), batched GEMM Y (m x n) = W X: int8 weights in tiles of
 *                  16 rows x 64 inputs, 1 KiB each, row-major within the tile (rows padded to
 *                  16, inputs to 64, with zeros); tile (p, c) of row panel p and input chunk c
 *                  at (p * chunks + c) KiB. The int8 scheme of GB_DENSE_INT8, 8-bit weights.
 * GB_AMX_BF16      the same tiles of bf16: 16 rows x 32 inputs (inputs padded to 32).
 * GB_DENSE_FP16    fp16 (IEEE binary16) weights in panels of 16 rows; within a panel column j
 *                  is 16 consecutive fp16, 32 bytes (k padded to even: a pair of columns is 64).
 * GB_SPARSE16_FP16 16x1 blocks of fp16 in pairs of a block row's blocks, 64 bytes a pair: the
 *                  first block's 16 rows, then the second's; grouped and paired as 16x1 bf16.
 *
 * The block-sparse kinds share one layout (gb_internal.h: block rows in lockstep groups):
 * columns are stored as uint16, so k <= 65536. Each is made from the usual LPCNet form (per
 * block row: a count, then the first input column of each block; the blocks' weights in that
 * order) by gb_sparse_layout and gb_sparse_pack.
 *
 * int8 kinds: activations u8 = 127 + rint(127 * clip(x, -1, 1)), made inside the call into
 * `act` (gb_act_bytes(kind, k) aligned bytes); y[r] = (float)(acc[r] - corr[r]) * scale[r]
 * with corr[r] = 127 * sum_j wq[r][j]. NEON: offset 0 for both (gb_int8_act_offset). bf16 kinds that round activations write bf16(x) into
 * `act` the same way; fp16 kinds that multiply in fp16 write 16 copies of fp16(x[j]) per column. diag (sparse kinds, may be NULL): y[r] += diag[r] * x[r % k], in
 * float32 after the product. */
enum {
    GB_DENSE_F32 = 0,
    GB_SPARSE16_F32 = 1,
    GB_DENSE_INT8 = 2,
    GB_SPARSE8X4_INT8 = 3,
    GB_DENSE_BF16 = 4,
    GB_SPARSE16_BF16 = 5,
    GB_AMX_INT8 = 6,
    GB_AMX_BF16 = 7,
    GB_DENSE_FP16 = 8,
    GB_SPARSE16_FP16 = 9,
    GB_KINDS
};

typedef struct {
    int64_t kind, m, k;
    int64_t bytes;          /* weights and index the kernel reads per call: alternation above 64 KiB */
    const void *w;          /* aligned, the kind's layout */
    const int32_t *idx;     /* sparse kinds */
    const float *diag;      /* sparse kinds, may be NULL */
    const float *scale;     /* int8 kinds */
    const int32_t *corr;    /* int8 kinds */
    void *act;              /* scratch for the activations made each call (int8, rounding bf16) */
} gb_product;

/* A product bound to its input and output: what one measured call gets. */
typedef struct {
    gb_product a;
    int64_t n;              /* columns of x and y: 1 for a GEMV */
    const float *x;
    float *y;
    int64_t backwards;      /* the direction of the next call (see gb_internal.h: alternation) */
} gb_call;

/* y = A x (or Y = A X): the measured call. */
void gb_call_run(gb_call *call);
/* The same `loops` times inside C; elapsed ns. */
int64_t gb_call_time(gb_call *call, int64_t loops);
/* gb_call_time with the thread's clocks read around it: clocks[0] elapsed wall ns, clocks[1] the
 * thread's CPU ns over the same loop, clocks[2] its involuntary context switches (-1: not counted). */
void gb_call_sample(gb_call *call, int64_t loops, int64_t *clocks);
/* Does nothing with its one argument: the floor a ctypes call of gb_call_run stands on. */
void gb_noop(gb_call *call);

/* ---- preparing the weights (untimed) ---- */
int64_t gb_act_bytes(int64_t kind, int64_t k);

int64_t gb_dense_packed_floats(int64_t m, int64_t k);
void gb_dense_pack(const float *w, int64_t m, int64_t k, float *packed /* aligned */);
/* The dense float32 GEMM for other kernels' C code (conv1d.c): Y (m x n) = W X, X (k x n),
 * row-major, W from gb_dense_pack. */
void gb_sgemm(const float *packed, int64_t m, int64_t k, int64_t n, const float *x, float *y);

void gb_quantize_u8(const float *x, int64_t k, uint8_t *xq);
int64_t gb_int8_packed_bytes(int64_t m, int64_t k);
void gb_int8_pack(const int8_t *wq, int64_t m, int64_t k, int8_t *packed /* aligned */);

/* A block-sparse kind's layout from the usual form: how many int32 of index and units of
 * weights (returns the bytes of a unit; -1 for a kind that is not block-sparse), then the
 * layout itself into index and packed (aligned). */
int64_t gb_sparse_layout(int64_t kind, int64_t m, const int32_t *idx, int64_t *index_ints, int64_t *units);
void gb_sparse_pack(int64_t kind, int64_t m, const int32_t *idx, const void *w, int32_t *index, void *packed);

/* bf16: round float32 to the nearest bf16, ties to even (NaN stays NaN). */
void gb_round_bf16(const float *x, int64_t n, uint16_t *out);
int64_t gb_bf16_packed_bytes(int64_t m, int64_t k);
void gb_bf16_pack(const uint16_t *w, int64_t m, int64_t k, uint16_t *packed /* aligned */);

/* AMX (amx.c). Linux hands out the tile state only on request: gb_amx_permission asks for it
 * (arch_prctl ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) the first time, and returns 0 when this
 * process may run tile instructions, else the errno of the refusal; -1 in a library built
 * without AMX. No AMX kernel may run before it returned 0. The packed size of an AMX kind's
 * weights (-1 for another kind), and the packing itself (w: int8 or bf16 bits, m x k row-major). */
int64_t gb_amx_permission(void);
int64_t gb_amx_packed_bytes(int64_t kind, int64_t m, int64_t k);
void gb_amx_pack(int64_t kind, const void *w, int64_t m, int64_t k, void *packed /* aligned */);
/* fp16: round float32 to the nearest fp16, ties to even, bit for bit as numpy's astype(float16). */
void gb_round_fp16(const float *x, int64_t n, uint16_t *out);
int64_t gb_fp16_packed_bytes(int64_t m, int64_t k);
void gb_fp16_pack(const uint16_t *w, int64_t m, int64_t k, uint16_t *packed /* aligned */);
/* ---- LPCNet's sample-rate network, fused (lpcnet.c; the math: gemmbench/ops/lpcnet_step.py) ----
 *
 * Each matrix is a gb_product; the wrapper fills this struct. */
typedef struct {
    int64_t hidden_a, hidden_b, cond_size, levels, frame_size;
    int64_t per_sample;     /* project the conditioning every sample, else at frame starts */
    int64_t start, steps;   /* the call's samples: start .. start + steps - 1 */
    gb_product gru_a, cond_a, gru_b_in, gru_b_rec, cond_b, out;
    const float *bias_a, *bias_b;
    const float *tables;    /* (3, levels, 3 hidden_a) */
    const float *out_gain;  /* (2, levels) */
    const float *features;  /* (frames, cond_size) */
    const int32_t *inputs;  /* (start + steps, 3): signal, prediction, excitation levels */
    /* state and scratch the step writes */
    float *ha, *hb;         /* (hidden_a), (hidden_b) */
    float *ra, *cond_a_out; /* (3 hidden_a) */
    float *xb, *rb, *cond_b_out; /* (3 hidden_b) */
    float *o;               /* (2 levels) */
    float *p;               /* (levels): the distribution */
    float *gates;           /* (2 hidden_a padded to 16): GRU-A's update gate and candidate input between passes */
    int64_t activation;     /* GB_ACTIVATION_*: sigmoid and tanh accurate or fast (gb_vmath.h) */
    int64_t output;         /* GB_OUTPUT_*: the distribution (full) or a sample drawn down the tree */
    int64_t sampling;       /* tree: feed each draw back as the next sample's inputs */
    int64_t depth;          /* tree: log2(levels), at most 8 (a draw byte per level) */
    int64_t draw_key;       /* tree: the SplitMix64 seed of the draws (its uint64 bits) */
    const float *tree;      /* tree: the dual FC packed per round root (lpcnet.c, draw) */
    const float *thresholds; /* tree: (256) logit((byte + 0.5) / 256) */
    int32_t *samples;       /* tree: (steps) the call's draws */
} gb_lpcnet;

enum { GB_PART_CONDITIONING = 0, GB_PART_GRU_A_PRODUCT, GB_PART_GRU_A_GATES, GB_PART_GRU_B, GB_PART_OUTPUT };
enum { GB_ACTIVATION_ACCURATE = 0, GB_ACTIVATION_FAST = 1 };
enum { GB_OUTPUT_FULL = 0, GB_OUTPUT_TREE = 1 };
enum { GB_FN_EXP = 0, GB_FN_SIGMOID, GB_FN_TANH, GB_FN_SIGMOID_FAST, GB_FN_TANH_FAST };

/* One sample t: from != NULL starts from the state [ha, hb] in it; to != NULL receives
 * [ha, hb, p] afterwards (tree: [ha, hb, the call's draws]). Conditioning is projected at t == start, at frame starts, or
 * every sample (per_sample). */
void gb_lpcnet_step(gb_lpcnet *net, int64_t t, const float *from, float *to);
/* The call's whole sequence from x into out, `loops` times; elapsed ns. */
int64_t gb_lpcnet_run_time(gb_lpcnet *net, const float *x, float *out, int64_t loops);
/* One part (GB_PART_*) `loops` times, t cycling over the call's samples; elapsed ns. Runs
 * on the state the last step left; the parts' sum is one step. */
int64_t gb_lpcnet_part_time(gb_lpcnet *net, int64_t part, int64_t loops);
/* The step's float32 approximations over n values (fn: GB_FN_*). */
void gb_activation(int64_t fn, const float *x, int64_t n, float *y);

/* The layout of each struct the wrapper mirrors ("gb_product", "gb_call", "gb_lpcnet"): its
 * size (-1 for an unknown name), and the name of field i with its offset and size (NULL past
 * the last). */
int64_t gb_struct_size(const char *type);
const char *gb_struct_field(const char *type, int64_t i, int64_t *offset, int64_t *size);

#endif
