/* AMX tile GEMM, int8 and bf16: Y (m x n) = W X for the batched cases (gb_kernels.h: GB_AMX_*).
 *
 * A tile register holds 16 rows of 64 bytes. The weights, packed once into tiles of 16 rows x
 * 64 int8 or 32 bf16 inputs, are the A operand as stored. The activations are made inside each
 * call from X (k x n, row-major), GB_AMX_COLUMNS columns at a time, into B tiles in the layout
 * the tile products take: B row g holds, for each of 16 columns, the 4 (int8) or 2 (bf16)
 * consecutive inputs that meet A's bytes 4g .. 4g + 3 (or pair g), one 32-bit lane per column.
 * C, 16 rows x 16 columns of int32 or float, is then a block of Y as Y is stored.
 *
 * int8 runs tdpbsud (s8 A x u8 B): the scheme's u8 activations x s8 weights with the weights
 * as A. tdpbusd takes the u8 operand as A, so the activations would be A and each C tile the
 * transpose of a block of Y. bf16 runs tdpbf16ps: bf16 weights x bf16-rounded activations,
 * summed in float32 (in the tile, 32 products of a row at a time).
 *
 * Tiles in use: C 0-3 (2 row panels x 2 column tiles), A 4-5, B 6-7. */
#define _DEFAULT_SOURCE /* syscall() */
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gb_internal.h"
#include "gb_kernels.h"
#include "gb_simd.h"

#define TILE 1024           /* bytes of a tile: 16 rows x 64 bytes */
#define TILE_ROW 64
#define GB_AMX_COLUMNS 64   /* columns of X made into activations at a time: four column tiles */
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

static int64_t is_amx(int64_t kind) { return kind == GB_AMX_INT8 || kind == GB_AMX_BF16; }
static int64_t inputs_per_row(int64_t kind) { return kind == GB_AMX_INT8 ? 64 : 32; }
static int64_t chunks_of(int64_t kind, int64_t k) { return (k + inputs_per_row(kind) - 1) / inputs_per_row(kind); }
static int64_t panels(int64_t m) { return (m + GB_PANEL - 1) / GB_PANEL; }

int64_t gbi_amx_act_bytes(int64_t kind, int64_t k) { return chunks_of(kind, k) * TILE * (GB_AMX_COLUMNS / 16); }

int64_t gb_amx_packed_bytes(int64_t kind, int64_t m, int64_t k) {
    return is_amx(kind) ? panels(m) * chunks_of(kind, k) * TILE : -1;
}

void gb_amx_pack(int64_t kind, const void *w, int64_t m, int64_t k, void *packed) {
    const int64_t per = inputs_per_row(kind), size = TILE_ROW / per, chunks = chunks_of(kind, k);
    const uint8_t *src = w;
    uint8_t *dst = packed;
    for (int64_t p = 0; p < panels(m); ++p)
        for (int64_t c = 0; c < chunks; ++c)
            for (int64_t r = 0; r < GB_PANEL; ++r) {
                uint8_t *row = dst + (p * chunks + c) * TILE + r * TILE_ROW;
                const int64_t i = p * GB_PANEL + r, j = c * per, count = k - j < per ? k - j : per;
                memset(row, 0, TILE_ROW);
                if (i < m) memcpy(row, src + (i * k + j) * size, count * size);
            }
}

/* The kernel grants the tile state to the whole process, so asking once is enough; until it
 * has been granted, the first tile instruction would fault. */
int64_t gb_amx_permission(void) {
#if defined(GBI_AMX_INT8) || defined(GBI_AMX_BF16)
    static int64_t answer = -2; /* not asked yet */
    if (answer == -2) answer = syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0 ? 0 : errno;
    return answer;
#else
    return -1;
#endif
}

#if defined(GBI_AMX_INT8) || defined(GBI_AMX_BF16)

/* The tile product of the kind; a build has the instructions of its own kind only, and the
 * other kind's kernel is not compiled there, so its branch is never taken. */
#if defined(GBI_AMX_INT8)
#define TDP_INT8(c, a, b) _tile_dpbsud(c, a, b)
#else
#define TDP_INT8(c, a, b) __builtin_unreachable()
#endif
#if defined(GBI_AMX_BF16)
#define TDP_BF16(c, a, b) _tile_dpbf16ps(c, a, b)
#else
#define TDP_BF16(c, a, b) __builtin_unreachable()
#endif
#define TDP(bf16, c, a, b)      \
    do {                        \
        if (bf16)               \
            TDP_BF16(c, a, b);  \
        else                    \
            TDP_INT8(c, a, b);  \
    } while (0)

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

/* Eight full tiles of 16 rows x 64 bytes: ragged rows and columns are padded in the data. */
GB_INLINE void configure_tiles(void) {
    tile_config c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    for (int t = 0; t < 8; ++t) c.colsb[t] = TILE_ROW, c.rows[t] = 16;
    _tile_loadconfig(&c);
}

/* ---- activations: column tiles of B, tile (t, c) at (t * chunks + c) KiB ---- */

/* 16 columns of one row of X (the real `mask` of them, zeros elsewhere and past k). */
GB_INLINE __m512 x_row(const float *x, int64_t k, int64_t n, int64_t j, int64_t c0, __mmask16 mask) {
    return _mm512_maskz_loadu_ps(j < k ? mask : 0, x + (j < k ? j : 0) * n + c0);
}

/* u8 = 127 + rint(127 clip(x, -1, 1)) in each 32-bit lane (cvtps2dq rounds half to even, as np.rint). */
GB_INLINE __m512i quantize16(__m512 v) {
    const __m512 lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
    const __m512i t = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(v, hi), lo), hi));
    return _mm512_add_epi32(t, _mm512_set1_epi32(127));
}

#if defined(GBI_AMX_BF16)
GB_INLINE __m512i bf16_lanes(__m512 v) { return _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(v)); }
#endif

/* B row g of a column tile: int8, lane i = the bytes of x[4g .. 4g + 3][c0 + i]; bf16, lane i =
 * bf16(x[2g][c0 + i]) | bf16(x[2g + 1][c0 + i]) << 16. */
GB_INLINE __m512i b_row(const int bf16, const float *x, int64_t k, int64_t n, int64_t g, int64_t c0, __mmask16 mask) {
    (void)bf16; /* int8 builds have no bf16 rows */
#if defined(GBI_AMX_BF16)
    if (bf16) {
        const __m512i lo = bf16_lanes(x_row(x, k, n, 2 * g, c0, mask));
        return _mm512_or_si512(lo, _mm512_slli_epi32(bf16_lanes(x_row(x, k, n, 2 * g + 1, c0, mask)), 16));
    }
#endif
    __m512i row = quantize16(x_row(x, k, n, 4 * g, c0, mask));
    row = _mm512_or_si512(row, _mm512_slli_epi32(quantize16(x_row(x, k, n, 4 * g + 1, c0, mask)), 8));
    row = _mm512_or_si512(row, _mm512_slli_epi32(quantize16(x_row(x, k, n, 4 * g + 2, c0, mask)), 16));
    return _mm512_or_si512(row, _mm512_slli_epi32(quantize16(x_row(x, k, n, 4 * g + 3, c0, mask)), 24));
}

GB_INLINE __mmask16 columns_mask(int64_t cols) { return cols >= 16 ? 0xffff : (__mmask16)((1u << cols) - 1); }

GB_INLINE void make_activations(const int bf16, const float *x, int64_t k, int64_t n, int64_t c0, int64_t ctiles,
                                int64_t chunks, uint8_t *act) {
    for (int64_t t = 0; t < ctiles; ++t) {
        const int64_t col = c0 + 16 * t;
        const __mmask16 mask = columns_mask(n - col);
        for (int64_t g = 0; g < 16 * chunks; ++g)
            _mm512_store_si512((void *)(act + t * chunks * TILE + g * TILE_ROW), b_row(bf16, x, k, n, g, col, mask));
    }
}

/* ---- the product ---- */

/* C (2 x 2 tiles) = the row panels at a0 and a0 + chunks KiB times the column tiles at b0 and
 * b0 + chunks KiB, over every chunk of inputs. two_rows and two_cols are constants where it is
 * called, so a smaller block neither loads nor multiplies the tiles it lacks. */
GB_INLINE void block(const int bf16, const uint8_t *a0, const uint8_t *b0, int64_t chunks, const int two_rows,
                     const int two_cols) {
    const uint8_t *a1 = a0 + chunks * TILE, *b1 = b0 + chunks * TILE;
    _tile_zero(0);
    if (two_cols) _tile_zero(1);
    if (two_rows) _tile_zero(2);
    if (two_rows && two_cols) _tile_zero(3);
    for (int64_t c = 0; c < chunks; ++c) {
        _tile_loadd(4, a0 + c * TILE, TILE_ROW);
        _tile_loadd(6, b0 + c * TILE, TILE_ROW);
        TDP(bf16, 0, 4, 6);
        if (two_cols) {
            _tile_loadd(7, b1 + c * TILE, TILE_ROW);
            TDP(bf16, 1, 4, 7);
        }
        if (two_rows) {
            _tile_loadd(5, a1 + c * TILE, TILE_ROW);
            TDP(bf16, 2, 5, 6);
            if (two_cols) TDP(bf16, 3, 5, 7);
        }
    }
}

/* ---- the results ----
 *
 * A C tile is stored straight into Y where all of it lies inside Y (a vector load of data a
 * tile store just wrote waits for the store to commit, so reading each C tile back through a
 * scratch buffer cost most of the call: docs/journal/2026-11-29-amx.md); the ragged tiles of the
 * last row panel and the last columns go through a scratch copy of their real rows and columns.
 * int8 tiles land in Y as their int32 sums, dequantised in place once the pass is done. */

/* Where a C tile at Y's rows r0.. and columns c0.. is stored, and its row stride in bytes. */
GB_INLINE void *tile_home(const gb_product *a, float *y, int64_t n, int64_t r0, int64_t c0, void *scratch,
                          int64_t *stride) {
    const int inside = r0 + GB_PANEL <= a->m && c0 + 16 <= n;
    *stride = inside ? 4 * n : TILE_ROW;
    return inside ? (void *)(y + r0 * n + c0) : scratch;
}

GB_INLINE void copy_real_part(const gb_product *a, const int32_t *tile, float *y, int64_t n, int64_t r0, int64_t c0) {
    const int64_t rows = a->m - r0 < GB_PANEL ? a->m - r0 : GB_PANEL;
    const __mmask16 mask = columns_mask(n - c0);
    for (int64_t r = 0; r < rows; ++r)
        _mm512_mask_storeu_epi32(y + (r0 + r) * n + c0, mask, _mm512_load_si512(tile + 16 * r));
}

#define STORE_TILE(t, r0, c0)                                                   \
    do {                                                                        \
        int64_t stride;                                                         \
        void *home = tile_home(a, y, n, r0, c0, scratch, &stride);              \
        _tile_stored(t, home, stride);                                          \
        if (home == (void *)scratch) copy_real_part(a, scratch, y, n, r0, c0);  \
    } while (0)

GB_INLINE void store_block(const gb_product *a, float *y, int64_t n, int64_t r0, int64_t c0, const int two_rows,
                           const int two_cols) {
    _Alignas(64) int32_t scratch[256];
    STORE_TILE(0, r0, c0);
    if (two_cols) STORE_TILE(1, r0, c0 + 16);
    if (two_rows) STORE_TILE(2, r0 + GB_PANEL, c0);
    if (two_rows && two_cols) STORE_TILE(3, r0 + GB_PANEL, c0 + 16);
}

/* Y's columns c0 .. c0 + cols, int32 sums as stored, to (float)(acc - corr[r]) * scale[r]: the
 * reference's order of operations. */
GB_INLINE void dequantize(const gb_product *a, float *y, int64_t n, int64_t c0, int64_t cols) {
    for (int64_t r = 0; r < a->m; ++r) {
        const __m512i corr = _mm512_set1_epi32(a->corr[r]);
        const __m512 scale = _mm512_set1_ps(a->scale[r]);
        for (int64_t c = c0; c < c0 + cols; c += 16) {
            const __mmask16 mask = columns_mask(c0 + cols - c);
            const __m512i acc = _mm512_maskz_loadu_epi32(mask, y + r * n + c);
            _mm512_mask_storeu_ps(y + r * n + c, mask, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc, corr)), scale));
        }
    }
}

GB_INLINE void block_and_store(const int bf16, const gb_product *a, const uint8_t *a0, const uint8_t *b0,
                               int64_t chunks, float *y, int64_t n, int64_t r0, int64_t c0, const int two_rows,
                               const int two_cols) {
    block(bf16, a0, b0, chunks, two_rows, two_cols);
    store_block(a, y, n, r0, c0, two_rows, two_cols);
}

GB_INLINE void amx_gemm(const int bf16, const gb_product *a, const float *x, float *y, int64_t n) {
    const int64_t chunks = chunks_of(bf16 ? GB_AMX_BF16 : GB_AMX_INT8, a->k), p_end = panels(a->m);
    const uint8_t *w = a->w, *act = a->act;
    configure_tiles();
    for (int64_t c0 = 0; c0 < n; c0 += GB_AMX_COLUMNS) {
        const int64_t cols = n - c0 < GB_AMX_COLUMNS ? n - c0 : GB_AMX_COLUMNS, ctiles = (cols + 15) / 16;
        make_activations(bf16, x, a->k, n, c0, ctiles, chunks, a->act);
        for (int64_t p = 0; p < p_end; p += 2)
            for (int64_t t = 0; t < ctiles; t += 2) {
                const uint8_t *a0 = w + p * chunks * TILE, *b0 = act + t * chunks * TILE;
                const int64_t r0 = p * GB_PANEL, col = c0 + 16 * t;
                const int two_rows = p + 1 < p_end, two_cols = t + 1 < ctiles;
                if (two_rows && two_cols)
                    block_and_store(bf16, a, a0, b0, chunks, y, n, r0, col, 1, 1);
                else if (two_rows)
                    block_and_store(bf16, a, a0, b0, chunks, y, n, r0, col, 1, 0);
                else if (two_cols)
                    block_and_store(bf16, a, a0, b0, chunks, y, n, r0, col, 0, 1);
                else
                    block_and_store(bf16, a, a0, b0, chunks, y, n, r0, col, 0, 0);
            }
        if (!bf16) dequantize(a, y, n, c0, cols);
    }
    _tile_release(); /* back to the init state: a context switch then saves no tile data */
}

#endif

/* The weights stay in L2 (GRU-A: 442 KB int8, 884 KB bf16) and are read once per 64 columns,
 * so the kernels do not alternate their direction. */
#if defined(GBI_AMX_INT8)
void gbi_amx_int8(const gb_product *a, const float *x, float *y, int64_t n, int64_t backwards) {
    (void)backwards;
    amx_gemm(0, a, x, y, n);
}
#endif

#if defined(GBI_AMX_BF16)
void gbi_amx_bf16(const gb_product *a, const float *x, float *y, int64_t n, int64_t backwards) {
    (void)backwards;
    amx_gemm(1, a, x, y, n);
}
#endif
