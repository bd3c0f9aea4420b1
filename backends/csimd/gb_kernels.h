/* gemmbench csimd kernels: the C ABI loaded by kernels.py through ctypes.
 *
 * One source tree, compiled once per ISA variant (see gemmbench/native.py); the vector
 * layer (gb_simd.h) picks the intrinsics from the -m flags' predefined macros, and with
 * none of them the portable scalar C runs.
 *
 * Every integer crossing this ABI (shapes, sizes, counts, loop counts, sample indices,
 * codes) is int64_t, in arguments, return values and struct fields alike; only stored
 * data has its own type (int32 block index, int8 weights). Inside, index arithmetic is
 * then int64_t throughout, with no casts. Buffers marked "aligned" must be 64-byte aligned
 * (the wrapper allocates them so); x, y, diag and scales may be unaligned.
 * Arguments fixed at prepare time come first, then x and y (then loops).
 * Every kernel has a *_time twin running it `loops` times in C; it returns elapsed ns.
 */
#ifndef GB_KERNELS_H
#define GB_KERNELS_H

#include <stdint.h>

#define GB_ABI_VERSION 3
#define GB_PANEL 16 /* rows per packed panel, dense float and int8 */

/* Identity of the compiled variant. */
int64_t gb_abi_version(void);
const char *gb_isa(void);
/* Largest |weight| the int8 kernels take (GB_I8_WMAX, gb_simd_int8.h); its negative is the
 * smallest, except that paths without maddubs (scalar, vnni) also take -128. */
int64_t gb_int8_weight_max(void);
int64_t gb_int8_weight_min(void);

/* Dense float32: W (m x k row-major) packed into panels of 16 rows, rows padded with
 * zeros to a multiple of 16; within a panel column j is 16 consecutive floats. */
int64_t gb_dense_packed_floats(int64_t m, int64_t k);
void gb_dense_pack(const float *w, int64_t m, int64_t k, float *packed /* aligned */);
void gb_sgemv(const float *packed, int64_t m, int64_t k, const float *x, float *y);
/* Y (m x n row-major) = W X, X (k x n row-major). */
void gb_sgemm(const float *packed, int64_t m, int64_t k, int64_t n, const float *x, float *y);
int64_t gb_sgemv_time(const float *packed, int64_t m, int64_t k, const float *x, float *y, int64_t loops);
int64_t gb_sgemm_time(const float *packed, int64_t m, int64_t k, int64_t n, const float *x, float *y, int64_t loops);

/* LPCNet 16x1 block-sparse float32 (m % 16 == 0). For each block of 16 output rows:
 * idx holds a count, then the input column of each nonzero 16x1 block; w holds 16
 * floats per block in the same order (aligned). diag may be NULL; otherwise
 * y[r] += diag[r] * x[r % k]. */
void gb_sparse16_sgemv(int64_t m, int64_t k, const int32_t *idx, const float *w, const float *diag,
                       const float *x, float *y);
int64_t gb_sparse16_sgemv_time(int64_t m, int64_t k, const int32_t *idx, const float *w, const float *diag,
                               const float *x, float *y, int64_t loops);

/* int8: activations u8 = 127 + rint(127 * clip(x, -1, 1)) (done inside the call, into
 * xq, which needs gb_int8_xq_bytes(k) aligned bytes), weights s8, int32 accumulators,
 * y[r] = (float)(acc[r] - corr[r]) * scale[r] with corr[r] = 127 * sum_j wq[r][j]. */
int64_t gb_int8_xq_bytes(int64_t k);
void gb_quantize_u8(const float *x, int64_t k, uint8_t *xq);

/* Dense int8: panels of 16 rows x groups of 4 inputs, 64 bytes per group; rows padded
 * to 16, inputs to 4, with zeros. */
int64_t gb_int8_packed_bytes(int64_t m, int64_t k);
void gb_int8_pack(const int8_t *wq, int64_t m, int64_t k, int8_t *packed /* aligned */);
void gb_int8_gemv(const int8_t *packed, int64_t m, int64_t k, const float *scale, const int32_t *corr, uint8_t *xq,
                  const float *x, float *y);
int64_t gb_int8_gemv_time(const int8_t *packed, int64_t m, int64_t k, const float *scale, const int32_t *corr,
                          uint8_t *xq, const float *x, float *y, int64_t loops);

/* Block-sparse int8 with 8x4 blocks (m % 8 == 0, k % 4 == 0). For each block of 8
 * output rows: idx holds a count, then the first input column (a multiple of 4) of
 * each block; w holds 32 bytes per block, row-major 8x4 (aligned). diag as in 16x1,
 * added in float after dequantisation. */
void gb_sparse8x4_int8_gemv(int64_t m, int64_t k, const int32_t *idx, const int8_t *w, const float *scale,
                            const int32_t *corr, const float *diag, uint8_t *xq, const float *x, float *y);
int64_t gb_sparse8x4_int8_gemv_time(int64_t m, int64_t k, const int32_t *idx, const int8_t *w, const float *scale,
                                    const int32_t *corr, const float *diag, uint8_t *xq, const float *x,
                                    float *y, int64_t loops);

/* ---- LPCNet's sample-rate network, fused (lpcnet.c; the math is gemmbench/vocoder.py's) ----
 *
 * A product is one of the kernels above with its prepared arguments; the wrapper fills
 * these structs (ctypes mirrors them, checked field by field against gb_struct_field). */
enum { GB_DENSE_F32 = 0, GB_SPARSE16_F32 = 1, GB_DENSE_INT8 = 2, GB_SPARSE8X4_INT8 = 3 };

typedef struct {
    int64_t kind, m, k;
    const void *w;          /* gb_dense_pack / 16x1 blocks / gb_int8_pack / 8x4 blocks */
    const int32_t *idx;     /* sparse kinds */
    const float *diag;      /* sparse kinds, may be NULL */
    const float *scale;     /* int8 kinds */
    const int32_t *corr;    /* int8 kinds */
    uint8_t *xq;            /* int8 kinds: activation scratch, gb_int8_xq_bytes(k) */
} gb_product;

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
} gb_lpcnet;

enum { GB_PART_CONDITIONING = 0, GB_PART_GRU_A_PRODUCT, GB_PART_GRU_A_GATES, GB_PART_GRU_B, GB_PART_OUTPUT };

/* The layout of each struct the wrapper mirrors ("gb_product", "gb_lpcnet"): its size (-1 for
 * an unknown name), and the name of field i with its offset and size (NULL past the last). */
int64_t gb_struct_size(const char *type);
const char *gb_struct_field(const char *type, int64_t i, int64_t *offset, int64_t *size);

/* One sample t: from != NULL starts from the state [ha, hb] in it; to != NULL receives
 * [ha, hb, p] afterwards. Conditioning is projected at t == start, at frame starts, or
 * every sample (per_sample). */
void gb_lpcnet_step(gb_lpcnet *net, int64_t t, const float *from, float *to);
/* The call's whole sequence from x into out, `loops` times; elapsed ns. */
int64_t gb_lpcnet_run_time(gb_lpcnet *net, const float *x, float *out, int64_t loops);
/* One part (GB_PART_*) `loops` times, t cycling over the call's samples; elapsed ns. Runs
 * on the state the last step left; the parts' sum is one step. */
int64_t gb_lpcnet_part_time(gb_lpcnet *net, int64_t part, int64_t loops);
/* The step's float32 approximations over n values: fn 0 exp, 1 sigmoid, 2 tanh. */
void gb_activation(int64_t fn, const float *x, int64_t n, float *y);

#endif
