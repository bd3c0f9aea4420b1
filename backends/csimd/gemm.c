/* The batched products Y (m x n) = W X, X (k x n) and Y row-major, float32 and int8, on the
 * weights the GEMV kernels take (dense.c's 16-row panels, int8.c's panels of 16 rows x groups of
 * 4 inputs): packed once in prepare, shared with the GEMV.
 *
 * Lanes are columns of Y. A tile holds MR rows x 16 columns in MR accumulators; each step
 * (an input j, or a group of 4 inputs for int8) loads one vector of X's row (16 columns) and
 * broadcasts each of the MR rows' weights from the panel, so X is read as it is stored, every
 * weight is loaded once per 16 columns, and each row of the tile is stored as a row of Y. The
 * panel (16 rows x k: 24 KiB float32, 6 KiB int8 at k = 384) stays in L1 while every column
 * chunk of X passes over it, so the weights stream from L2 or L3 once per call. (The GEMM this
 * replaced had rows in lanes: eight columns per tile, each result column scattered row by row.)
 *
 * int8: X is quantized inside the call (u8 = 127 + rint(127 clip(x, -1, 1)), the GEMV's scheme)
 * into the operand's scratch, 64 columns at a time: per chunk of 16 columns, group g of 4 inputs
 * is one 64-byte vector whose lane c holds the 4 activation bytes of column c, the operand
 * vpdpbusd (or maddubs) takes against the 4 weights of one row broadcast. Every column of Y is
 * then exactly the int8 GEMV of that column of X (quant.int8_gemv_reference).
 */
#define _POSIX_C_SOURCE 199309L
#include <string.h>

#include "gb_internal.h"
#include "gb_kernels.h"
#include "gb_simd.h"
#include "gb_simd_int8.h"

#define COLS 16              /* columns per tile: one v16f or v16i of accumulators per row */
#define I8_PASS_COLS 64      /* columns of X quantized per pass (the scratch holds this many: gb_act_bytes) */

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* ---- float32: a tile of MR rows of a panel (row stride GB_PANEL floats per input) ---- */
#define F32_STEP(MR, xv)                                                                                       \
    GB_UNROLL for (int r = 0; r < MR; ++r) acc[r] = v16_fma(xv, v16_set1(w[r]), acc[r]);

#define F32_TILE(MR)                                                                                          \
    static void f32_tile_##MR(const float *restrict w, int64_t k, const float *restrict x, int64_t n,           \
                              int64_t cols, float *restrict y, int64_t rows) {                                \
        v16f acc[MR];                                                                                         \
        GB_UNROLL for (int r = 0; r < MR; ++r) acc[r] = v16_zero();                                           \
        if (cols == COLS)                                                                                     \
            for (int64_t j = 0; j < k; ++j, w += GB_PANEL, x += n) {                                          \
                const v16f xv = v16_loadu(x);                                                                 \
                F32_STEP(MR, xv)                                                                              \
            }                                                                                                 \
        else                                                                                                  \
            for (int64_t j = 0; j < k; ++j, w += GB_PANEL, x += n) {                                          \
                const v16f xv = v16_loadn(x, cols);                                                           \
                F32_STEP(MR, xv)                                                                              \
            }                                                                                                 \
        GB_UNROLL for (int r = 0; r < MR; ++r) if (r < rows) v16_storen(y + r * n, acc[r], cols);             \
    }

/* ---- int8: a tile of MR rows of a panel (64 bytes per group of 4 inputs) x NV chunks of 16 columns ---- */
#define I8_TILE(MR, NV)                                                                                       \
    static void i8_tile_##MR##_##NV(const int8_t *restrict w, int64_t groups, const uint8_t *restrict xp,      \
                                    float *restrict y, int64_t n, int64_t cols, const int32_t *restrict corr,  \
                                    const float *restrict scale, int64_t rows) {                              \
        v16i acc[MR][NV];                                                                                     \
        GB_UNROLL for (int r = 0; r < MR; ++r) GB_UNROLL for (int v = 0; v < NV; ++v) acc[r][v] = v16i_zero(); \
        for (int64_t g = 0; g < groups; ++g, w += 64, xp += 64) {                                            \
            v16i xv[NV];                                                                                      \
            GB_UNROLL for (int v = 0; v < NV; ++v) xv[v] = v16i_load(xp + v * groups * 64);                   \
            GB_UNROLL for (int r = 0; r < MR; ++r) GB_UNROLL for (int v = 0; v < NV; ++v)                     \
                acc[r][v] = v16i_dot4_lanes(acc[r][v], xv[v], w + 4 * r);                                     \
            GB_UNROLL for (int i = 0; i + 4 <= MR * NV; i += 4)                                               \
                v16i_pin(&acc[i / NV][i % NV], &acc[(i + 1) / NV][(i + 1) % NV], &acc[(i + 2) / NV][(i + 2) % NV], \
                         &acc[(i + 3) / NV][(i + 3) % NV]);                                                   \
        }                                                                                                     \
        GB_UNROLL for (int r = 0; r < MR; ++r)                                                                \
            if (r < rows) GB_UNROLL for (int v = 0; v < NV; ++v)                                              \
                v16_storen(y + r * n + 16 * v, v16i_dequant1(acc[r][v], corr[r], scale[r]), cols - 16 * v);   \
    }

/* How a 16-row panel is cut into tiles, per ISA: as many rows as the registers hold accumulators
 * for (AVX-512: 16 zmm of 32; AVX2 and NEON hold a v16f in 2 ymm of 16 or 4 q of 32). */
#if defined(__AVX512F__)
F32_TILE(16)
I8_TILE(16, 1)
/* int8 takes pairs of chunks (32 columns) where there are two: 10 loads per 16 dot products instead of 17 */
I8_TILE(8, 2)
#define I8_PAIR_TILES(T) T(0, 8) T(8, 8)
#define F32_TILES(T) T(0, 16)
#define I8_TILES(T) T(0, 16)
#elif defined(__AVX2__) || defined(GB_NEON)
F32_TILE(6)
F32_TILE(4)
I8_TILE(4, 1)
#define F32_TILES(T) T(0, 6) T(6, 6) T(12, 4)
#define I8_TILES(T) T(0, 4) T(4, 4) T(8, 4) T(12, 4)
#else
F32_TILE(1)
I8_TILE(1, 1)
#define F32_TILES(T) T(0, 1) T(1, 1) T(2, 1) T(3, 1) T(4, 1) T(5, 1) T(6, 1) T(7, 1) \
    T(8, 1) T(9, 1) T(10, 1) T(11, 1) T(12, 1) T(13, 1) T(14, 1) T(15, 1)
#define I8_TILES(T) F32_TILES(T)
#endif

void gbi_sgemm(const float *packed, int64_t m, int64_t k, int64_t n, const float *x, float *y) {
    for (int64_t p = 0; p * GB_PANEL < m; ++p) {
        const float *a = packed + p * GB_PANEL * k;
        const int64_t rows = min64(GB_PANEL, m - p * GB_PANEL);
        float *yp = y + p * GB_PANEL * n;
        for (int64_t c0 = 0; c0 < n; c0 += COLS) {
            const int64_t cols = min64(COLS, n - c0);
#define F32_RUN(r0, MR) \
    if (r0 < rows) f32_tile_##MR(a + r0, k, x + c0, n, cols, yp + r0 * n + c0, min64(MR, rows - r0));
            F32_TILES(F32_RUN)
#undef F32_RUN
        }
    }
}

/* Columns s0 .. s0 + width of X, quantized: chunk c (16 columns), group g at act + (c groups + g) 64;
 * inputs past k (the last group's padding) meet zero weights, columns past width are never stored. */
static void quantize_columns(const float *restrict x, int64_t k, int64_t n, int64_t s0, int64_t width, uint8_t *act) {
    const int64_t groups = (k + 3) / 4;
    for (int64_t c = 0; c * COLS < width; ++c) {
        const int64_t cols = min64(COLS, width - c * COLS);
        const float *xc = x + s0 + c * COLS;
        uint8_t *out = act + c * groups * 64;
        for (int64_t g = 0; g < groups; ++g, out += 64) {
            v16f v[4];
            for (int i = 0; i < 4; ++i) v[i] = 4 * g + i < k ? v16_loadn(xc + (4 * g + i) * n, cols) : v16_zero();
            v16i_store(out, v16i_quantize4(v[0], v[1], v[2], v[3]));
        }
    }
}

void gbi_int8_gemm(const gb_product *a, const float *x, float *y, int64_t n) {
    const int64_t m = a->m, k = a->k, groups = (k + 3) / 4;
    uint8_t *act = a->act;
    for (int64_t s0 = 0; s0 < n; s0 += I8_PASS_COLS) {
        const int64_t width = min64(I8_PASS_COLS, n - s0);
        quantize_columns(x, k, n, s0, width, act);
        for (int64_t p = 0; p * GB_PANEL < m; ++p) {
            const int8_t *w = (const int8_t *)a->w + p * groups * 64;
            const int64_t r = p * GB_PANEL, rows = min64(GB_PANEL, m - r);
            int64_t c = 0;
#if defined(I8_PAIR_TILES)
            for (; (c + 2) * COLS <= width; c += 2) {
                float *yc = y + r * n + s0 + c * COLS;
                const uint8_t *xp = act + c * groups * 64;
#define I8_RUN(r0, MR)                                                                                        \
    if (r0 < rows)                                                                                            \
        i8_tile_##MR##_2(w + 4 * r0, groups, xp, yc + r0 * n, n, 2 * COLS, a->corr + r + r0, a->scale + r + r0, \
                         min64(MR, rows - r0));
                I8_PAIR_TILES(I8_RUN)
#undef I8_RUN
            }
#endif
            for (; c * COLS < width; ++c) {
                const int64_t cols = min64(COLS, width - c * COLS);
                float *yc = y + r * n + s0 + c * COLS;
                const uint8_t *xp = act + c * groups * 64;
#define I8_RUN(r0, MR)                                                                                        \
    if (r0 < rows)                                                                                            \
        i8_tile_##MR##_1(w + 4 * r0, groups, xp, yc + r0 * n, n, cols, a->corr + r + r0, a->scale + r + r0,    \
                         min64(MR, rows - r0));
                I8_TILES(I8_RUN)
#undef I8_RUN
            }
        }
    }
}
