/* 1-D convolution kernels (gemmbench op conv1d): direct, streaming, Winograd F(m, 3).
 *
 * The ctypes signatures live in gemmbench/backends/conv1d/native.py (not in gb_kernels.h).
 * Geometry shared by all: output t reads input frame t + k d - left for tap k; frames outside
 * [0, t_in) are the zero padding, which no kernel materialises: edge tiles mask their loads.
 *
 * Direct, channels-last (x (t_in, c_in), y (t_out, c_out)): lanes are output channels. A panel
 * of CL_P output channels times CL_T output frames is held in registers; each (tap, input
 * channel) step loads CL_P/16 weight vectors and broadcasts CL_T input values. The lowered
 * matrix of im2col is never built: for stride 1 its row t is frames t-left .. t-left+span of x,
 * read in place (MEC's observation: in 1-D channels-last it is a view of x).
 *
 * Direct, channels-first (x (c_in, t_in), y (c_out, t_out)): lanes are output frames; a tap is
 * an unaligned load of the input row shifted by k d (the shifted GEMMs of kn2row, fused into
 * one register tile). CF_R output channels (broadcast weights) times CF_V vectors of 16 frames.
 *
 * Streaming: y = W2 [frame t - span, ..., frame t] with W2 (c_out, k c_in) in csimd's dense
 * GEMV panel layout; the state is a ring of span + 1 frames, read in place (no stacking copy).
 *
 * Winograd F(m, 3): input tiles transformed (B^T d) into a workspace, alpha = m + 2 products
 * of (tiles x c_in) by the transformed weights (G g, done in prepare) through the channels-last
 * direct kernel with one tap, output transform (A^T M). Transforms are vectors over channels.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <string.h>

#include "gb_kernels.h"
#include "gb_simd.h"

#if defined(__AVX512F__)
#define CL_V 2  /* channels-last: 32 output channels x 12 frames = 24 zmm accumulators */
#define CL_T 12
#define CF_R 8  /* channels-first: 8 output channels x 48 frames = 24 zmm accumulators */
#define CF_V 3
#elif defined(__AVX2__) || defined(GB_NEON)
#define CL_V 1  /* a v16f is two ymm: 16 channels x 6 frames = 12 ymm accumulators (NEON: 24 of 32 q) */
#define CL_T 6
#define CF_R 6
#define CF_V 1
#else
#define CL_V 1
#define CL_T 4
#define CF_R 2
#define CF_V 1
#endif
#define CL_P (16 * CL_V)
/* Outputs computed by every panel before the next ones: the input frames they read (192 x c_in
 * floats) stay in L2 while all the weight panels pass over them; a multiple of every tile width. */
#define TIME_BLOCK 192
#define WINO_MAX_ALPHA 8

/* ---- loads and stores of part of a vector ---- */

/* Lanes [lo, hi) from p[lane], zero elsewhere; lanes outside are never read. */
GB_INLINE v16f v16_load_range(const float *p, int lo, int hi) {
    if (lo < 0) lo = 0;
    if (hi > 16) hi = 16;
    if (hi <= lo) return v16_zero();
    if (lo == 0 && hi == 16) return v16_loadu(p);
#if defined(__AVX512F__)
    __mmask16 m = (__mmask16)(((1u << hi) - 1u) & ~((1u << lo) - 1u));
    return _mm512_maskz_loadu_ps(m, p);
#elif defined(__AVX2__)
    __m256i i0 = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), i1 = _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15);
    __m256i l = _mm256_set1_epi32(lo - 1), h = _mm256_set1_epi32(hi);
    __m256i m0 = _mm256_and_si256(_mm256_cmpgt_epi32(i0, l), _mm256_cmpgt_epi32(h, i0));
    __m256i m1 = _mm256_and_si256(_mm256_cmpgt_epi32(i1, l), _mm256_cmpgt_epi32(h, i1));
    return (v16f){_mm256_maskload_ps(p, m0), _mm256_maskload_ps(p + 8, m1)};
#elif defined(GB_NEON)
    float tmp[16] = {0};
    for (int i = lo; i < hi; ++i) tmp[i] = p[i];
    return v16_loadu(tmp);
#else
    v16f r = v16_zero();
    for (int i = lo; i < hi; ++i) r.v[i] = p[i];
    return r;
#endif
}

/* The first n lanes (n may exceed 16: all of them). */
GB_INLINE void v16_store_n(float *p, v16f a, int n) {
    if (n >= 16) { v16_storeu(p, a); return; }
    if (n <= 0) return;
#if defined(__AVX512F__)
    _mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1u), a);
#else
    float tmp[16];
    v16_storeu(tmp, a);
    for (int i = 0; i < n; ++i) p[i] = tmp[i];
#endif
}

/* 16 lanes at p[0], p[stride], ...: the first n of them, zero beyond. */
GB_INLINE v16f v16_gather_n(const float *p, int64_t stride, int n) {
    if (stride == 1) return v16_load_range(p, 0, n);
    float tmp[16] = {0};
    for (int i = 0; i < n && i < 16; ++i) tmp[i] = p[i * stride];
    return v16_loadu(tmp);
}

GB_INLINE void v16_scatter_n(float *p, int64_t stride, v16f a, int n) {
    if (stride == 1) { v16_store_n(p, a, n); return; }
    float tmp[16];
    v16_storeu(tmp, a);
    for (int i = 0; i < n && i < 16; ++i) p[i * stride] = tmp[i];
}

static int64_t blocks_of(int n, int b) { return (n + b - 1) / b; }

/* The native loop of every entry point here: `loops` calls of fn(plan, x, y), elapsed ns. fn is a
 * constant at each call site, so the call inlines. */
typedef void (*conv_call)(void *plan, const float *x, float *y);

GB_INLINE int64_t time_calls(conv_call fn, void *plan, const float *x, float *y, int64_t loops) {
    int64_t t0 = gb_now_ns();
    for (int64_t i = 0; i < loops; ++i) {
        fn(plan, x, y);
        GB_BARRIER();
    }
    return gb_now_ns() - t0;
}

/* ================================================================ channels-last direct */

int gb_conv1d_cl_panel(void) { return CL_P; }

int64_t gb_conv1d_cl_packed_floats(int c_out, int c_in, int k) {
    return blocks_of(c_out, CL_P) * CL_P * (int64_t)c_in * k;
}

/* w (c_out, c_in, k) -> per panel of CL_P output channels: [tap][input channel][CL_P]. */
void gb_conv1d_cl_pack(const float *restrict w, int c_out, int c_in, int k, float *restrict packed) {
    for (int64_t p = 0; p < blocks_of(c_out, CL_P); ++p)
        for (int kk = 0; kk < k; ++kk)
            for (int c = 0; c < c_in; ++c)
                for (int r = 0; r < CL_P; ++r) {
                    int64_t o = p * CL_P + r;
                    packed[((p * k + kk) * c_in + c) * CL_P + r] = o < c_out ? w[(o * c_in + c) * k + kk] : 0.0f;
                }
}

/* nt frames (a constant at each call site) with every tap inside x; x at the tile's first
 * frame minus left, y at its first output. */
GB_INLINE void cl_tile(const float *restrict a, int c_in, int k, int d, const float *restrict x, float *restrict y,
                       int64_t ldy, int rows, int nt) {
    v16f acc[CL_T][CL_V];
    for (int j = 0; j < nt; ++j)
        for (int v = 0; v < CL_V; ++v) acc[j][v] = v16_zero();
    for (int kk = 0; kk < k; ++kk) {
        const float *xk = x + (int64_t)kk * d * c_in;
        const float *ak = a + (int64_t)kk * c_in * CL_P;
        for (int c = 0; c < c_in; ++c) {
            v16f w[CL_V];
            for (int v = 0; v < CL_V; ++v) w[v] = v16_load(ak + (int64_t)c * CL_P + 16 * v);
            for (int j = 0; j < nt; ++j) {
                v16f b = v16_set1(xk[(int64_t)j * c_in + c]);
                for (int v = 0; v < CL_V; ++v) acc[j][v] = v16_fma(w[v], b, acc[j][v]);
            }
        }
    }
    for (int j = 0; j < nt; ++j)
        for (int v = 0; v < CL_V; ++v) v16_store_n(y + (int64_t)j * ldy + 16 * v, acc[j][v], rows - 16 * v);
}

/* One output frame whose window reaches into the padding: only the taps on real frames. */
static void cl_edge(const float *restrict a, int c_in, int k, int d, const float *restrict x, int t_in, int frame0,
                    float *restrict y, int rows) {
    v16f acc[CL_V];
    for (int v = 0; v < CL_V; ++v) acc[v] = v16_zero();
    for (int kk = 0; kk < k; ++kk) {
        int f = frame0 + kk * d;
        if (f < 0 || f >= t_in) continue;
        const float *xr = x + (int64_t)f * c_in;
        const float *ak = a + (int64_t)kk * c_in * CL_P;
        for (int c = 0; c < c_in; ++c) {
            v16f b = v16_set1(xr[c]);
            for (int v = 0; v < CL_V; ++v) acc[v] = v16_fma(v16_load(ak + (int64_t)c * CL_P + 16 * v), b, acc[v]);
        }
    }
    for (int v = 0; v < CL_V; ++v) v16_store_n(y + 16 * v, acc[v], rows - 16 * v);
}

/* y frame t at y + t yf (yf = c_out, or s c_out for one phase of a transposed layer). */
static void conv1d_cl(const float *restrict packed, int c_out, int c_in, int k, int d, int left, int t_in,
                      int t_out, const float *restrict x, float *restrict y, int64_t yf) {
    int span = (k - 1) * d;
    /* outputs whose whole window lies in x: [first, last) */
    int first = left, last = t_in - span + left;
    if (last > t_out) last = t_out;
    for (int tb = 0; tb < t_out; tb += TIME_BLOCK) {
        int end = tb + TIME_BLOCK < t_out ? tb + TIME_BLOCK : t_out;
        int lim = last < end ? last : end;
        for (int64_t p = 0; p < blocks_of(c_out, CL_P); ++p) {
            const float *a = packed + p * CL_P * (int64_t)c_in * k;
            int rows = c_out - (int)p * CL_P;
            float *yp = y + p * CL_P;
            int t = tb;
            while (t < end) {
                const float *xt = x + ((int64_t)t - left) * c_in;
                float *yt = yp + (int64_t)t * yf;
                if (t >= first && t + CL_T <= lim) {
                    cl_tile(a, c_in, k, d, xt, yt, yf, rows, CL_T);
                    t += CL_T;
                } else if (t >= first && t + 4 <= lim) {
                    cl_tile(a, c_in, k, d, xt, yt, yf, rows, 4);
                    t += 4;
                } else if (t >= first && t < lim) {
                    cl_tile(a, c_in, k, d, xt, yt, yf, rows, 1);
                    t += 1;
                } else {
                    cl_edge(a, c_in, k, d, x, t_in, t - left, yt, rows);
                    t += 1;
                }
            }
        }
    }
}


/* ================================================================ channels-first direct */

int gb_conv1d_cf_rows(void) { return CF_R; }

int64_t gb_conv1d_cf_packed_floats(int c_out, int c_in, int k) {
    return blocks_of(c_out, CF_R) * CF_R * (int64_t)c_in * k;
}

/* w (c_out, c_in, k) -> per block of CF_R output channels: [input channel][tap][CF_R]. */
void gb_conv1d_cf_pack(const float *restrict w, int c_out, int c_in, int k, float *restrict packed) {
    for (int64_t b = 0; b < blocks_of(c_out, CF_R); ++b)
        for (int c = 0; c < c_in; ++c)
            for (int kk = 0; kk < k; ++kk)
                for (int r = 0; r < CF_R; ++r) {
                    int64_t o = b * CF_R + r;
                    packed[((b * c_in + c) * k + kk) * CF_R + r] = o < c_out ? w[(o * c_in + c) * k + kk] : 0.0f;
                }
}

/* CF_R channels x CF_V vectors of frames from output t0. `full`: every load inside x and every
 * frame an output (a constant at each call site); else loads and stores are masked. */
GB_INLINE void cf_tile(const float *restrict a, int c_in, int k, int d, int left, int t_in, int t_out,
                       const float *restrict x, float *restrict y, int64_t yf, int64_t yc, int t0, int rows,
                       int full) {
    v16f acc[CF_R][CF_V];
    for (int r = 0; r < CF_R; ++r)
        for (int v = 0; v < CF_V; ++v) acc[r][v] = v16_zero();
    for (int c = 0; c < c_in; ++c) {
        const float *xr = x + (int64_t)c * t_in;
        const float *ac = a + (int64_t)c * k * CF_R;
        for (int kk = 0; kk < k; ++kk) {
            int base = t0 + kk * d - left;
            v16f xv[CF_V];
            for (int v = 0; v < CF_V; ++v) {
                int b = base + 16 * v;
                xv[v] = full ? v16_loadu(xr + b) : v16_load_range(xr + b, -b, t_in - b);
            }
            const float *w = ac + kk * CF_R;
            for (int r = 0; r < CF_R; ++r) {
                v16f wr = v16_set1(w[r]);
                for (int v = 0; v < CF_V; ++v) acc[r][v] = v16_fma(xv[v], wr, acc[r][v]);
            }
        }
    }
    for (int r = 0; r < CF_R && r < rows; ++r)
        for (int v = 0; v < CF_V; ++v)
            v16_scatter_n(y + (int64_t)r * yc + (int64_t)(t0 + 16 * v) * yf, yf, acc[r][v],
                          full ? 16 : t_out - t0 - 16 * v);
}

/* y (frame t, channel o) at y[o yc + t yf]: yf = 1, yc = t_out, or a phase's strides. */
static void conv1d_cf(const float *restrict packed, int c_out, int c_in, int k, int d, int left, int t_in,
                      int t_out, const float *restrict x, float *restrict y, int64_t yf, int64_t yc) {
    int span = (k - 1) * d, width = 16 * CF_V;
    for (int tb = 0; tb < t_out; tb += TIME_BLOCK) {
        int end = tb + TIME_BLOCK < t_out ? tb + TIME_BLOCK : t_out;
        for (int64_t b = 0; b < blocks_of(c_out, CF_R); ++b) {
            const float *a = packed + b * CF_R * (int64_t)c_in * k;
            float *yb = y + b * CF_R * yc;
            int rows = c_out - (int)b * CF_R;
            for (int t0 = tb; t0 < end; t0 += width) {
                if (t0 >= left && t0 + width <= t_out && t0 + width - 1 + span - left < t_in)
                    cf_tile(a, c_in, k, d, left, t_in, t_out, x, yb, yf, yc, t0, rows, 1);
                else
                    cf_tile(a, c_in, k, d, left, t_in, t_out, x, yb, yf, yc, t0, rows, 0);
            }
        }
    }
}


/* ================================================================ streaming */

/* y += panel (16 rows x n columns, gb_dense_pack layout from a) x xr[0..n): four accumulators over
 * the columns, as csimd's GEMV; returns a past the columns read. */
GB_INLINE const float *panel_segment(const float *restrict a, const float *restrict xr, int n, v16f s[4]) {
    int c = 0;
    for (; c + 4 <= n; c += 4, a += 64) {
        s[0] = v16_fma(v16_load(a), v16_set1(xr[c]), s[0]);
        s[1] = v16_fma(v16_load(a + 16), v16_set1(xr[c + 1]), s[1]);
        s[2] = v16_fma(v16_load(a + 32), v16_set1(xr[c + 2]), s[2]);
        s[3] = v16_fma(v16_load(a + 48), v16_set1(xr[c + 3]), s[3]);
    }
    for (; c < n; ++c, a += 16) s[0] = v16_fma(v16_load(a), v16_set1(xr[c]), s[0]);
    return a;
}

/* t new frames, each written into the ring, then y = W2 [the taps' frames].
 * packed: gb_dense_pack of W2 (c_out, k c_in), W2[o][kk c_in + c] = w[o][c][kk] (16-row panels).
 * ring: 2 (span + 1) frames of c_in. A frame goes to slot h and h + span + 1, so the last
 * span + 1 frames, oldest first, always lie contiguous from slot h + 1: tap kk is slot
 * h + 1 + kk d, no index wraps, and with dilation 1 the stacked input is one vector, read
 * exactly as the GEMV of W2 reads x. */
static void conv1d_stream(const float *restrict packed, int c_out, int c_in, int k, int d, int t, int channels_last,
                          float *restrict ring, int32_t *restrict head, const float *restrict x, float *restrict y) {
    int slots = (k - 1) * d + 1;
    int64_t cols = (int64_t)k * c_in;
    for (int tt = 0; tt < t; ++tt) {
        int h = *head;
        float *slot = ring + (int64_t)h * c_in, *twin = slot + (int64_t)slots * c_in;
        if (channels_last) {
            memcpy(slot, x + (int64_t)tt * c_in, sizeof(float) * (size_t)c_in);
        } else {
            for (int c = 0; c < c_in; ++c) slot[c] = x[(int64_t)c * t + tt];
        }
        memcpy(twin, slot, sizeof(float) * (size_t)c_in);
        const float *window = ring + (int64_t)(h + 1) * c_in;
        for (int64_t p = 0; p < blocks_of(c_out, 16); ++p) {
            const float *a = packed + p * 16 * cols;
            v16f s[4] = {v16_zero(), v16_zero(), v16_zero(), v16_zero()};
            if (d == 1)
                panel_segment(a, window, (int)cols, s);
            else
                for (int kk = 0; kk < k; ++kk) a = panel_segment(a, window + (int64_t)kk * d * c_in, c_in, s);
            v16f sum = v16_add(v16_add(s[0], s[1]), v16_add(s[2], s[3]));
            int rows = c_out - (int)p * 16;
            if (channels_last)
                v16_store_n(y + (int64_t)tt * c_out + p * 16, sum, rows);
            else
                v16_scatter_n(y + p * 16 * (int64_t)t + tt, t, sum, rows);
        }
        *head = h + 1 == slots ? 0 : h + 1;
    }
}

/* ================================================================ Winograd F(m, 3) */

typedef struct {
    int32_t m, alpha, c_in, c_out, left, t_in, t_out, tiles_per_block;
    int64_t x_frame, x_channel;  /* element (frame f, channel c) of x at x[f x_frame + c x_channel] */
    int64_t y_frame, y_channel;
    const float *bt;             /* alpha x alpha, B^T */
    const float *at;             /* m x alpha, A^T */
    const float *u;              /* alpha transformed weight matrices, each packed by gb_conv1d_cl_pack (k = 1) */
    int64_t u_floats;            /* floats per packed matrix */
    float *v;                    /* workspace: alpha x tiles_per_block x c_in */
    float *mprod;                /* workspace: alpha x tiles_per_block x c_out */
} gb_winograd_plan;

int64_t gb_winograd_struct_size(void) { return (int64_t)sizeof(gb_winograd_plan); }

/* Tiles j0 .. j0+nj-1 of x into v[xi][j][c] = sum_a B^T[xi][a] x[frame j m + a - left][c].
 * alpha is a constant at each call site (see winograd_block), so the loops unroll and the
 * coefficients stay in registers across the channel loop. */
GB_INLINE void winograd_input(const gb_winograd_plan *g, const float *restrict x, int j0, int nj, int alpha) {
    int c_in = g->c_in, tiles = g->tiles_per_block;
    v16f bt[WINO_MAX_ALPHA][WINO_MAX_ALPHA];
    for (int xi = 0; xi < alpha; ++xi)
        for (int a = 0; a < alpha; ++a) bt[xi][a] = v16_set1(g->bt[xi * alpha + a]);
    for (int j = 0; j < nj; ++j) {
        int f0 = (j0 + j) * g->m - g->left;
        int inside = f0 >= 0 && f0 + alpha <= g->t_in;
        for (int c0 = 0; c0 < c_in; c0 += 16) {
            int n = c_in - c0;
            const float *xc = x + (int64_t)c0 * g->x_channel;
            v16f dv[WINO_MAX_ALPHA];
            for (int a = 0; a < alpha; ++a) {
                int f = f0 + a;
                dv[a] = (!inside && (f < 0 || f >= g->t_in)) ? v16_zero()
                        : v16_gather_n(xc + (int64_t)f * g->x_frame, g->x_channel, n);
            }
            for (int xi = 0; xi < alpha; ++xi) {
                v16f s = v16_mul(bt[xi][0], dv[0]);
                for (int a = 1; a < alpha; ++a) s = v16_fma(bt[xi][a], dv[a], s);
                v16_store_n(g->v + ((int64_t)xi * tiles + j) * c_in + c0, s, n);
            }
        }
    }
}

/* y[frame j m + i][o] = sum_xi A^T[i][xi] mprod[xi][j][o], for the frames below t_out. */
GB_INLINE void winograd_output(const gb_winograd_plan *g, float *restrict y, int j0, int nj, int alpha) {
    int m = alpha - 2, c_out = g->c_out, tiles = g->tiles_per_block;
    v16f at[WINO_MAX_ALPHA - 2][WINO_MAX_ALPHA];
    for (int i = 0; i < m; ++i)
        for (int xi = 0; xi < alpha; ++xi) at[i][xi] = v16_set1(g->at[i * alpha + xi]);
    for (int j = 0; j < nj; ++j) {
        int f0 = (j0 + j) * m, rows = g->t_out - f0 < m ? g->t_out - f0 : m;
        for (int o0 = 0; o0 < c_out; o0 += 16) {
            int n = c_out - o0;
            v16f mv[WINO_MAX_ALPHA];
            for (int xi = 0; xi < alpha; ++xi)
                mv[xi] = v16_load_range(g->mprod + ((int64_t)xi * tiles + j) * c_out + o0, 0, n);
            for (int i = 0; i < rows; ++i) {
                v16f s = v16_mul(at[i][0], mv[0]);
                for (int xi = 1; xi < alpha; ++xi) s = v16_fma(at[i][xi], mv[xi], s);
                v16_scatter_n(y + (int64_t)(f0 + i) * g->y_frame + (int64_t)o0 * g->y_channel, g->y_channel, s, n);
            }
        }
    }
}

GB_INLINE void winograd_block(const gb_winograd_plan *g, const float *restrict x, float *restrict y, int j0, int nj,
                              int alpha) {
    winograd_input(g, x, j0, nj, alpha);
    for (int xi = 0; xi < alpha; ++xi)  /* (nj x c_in) by (c_in x c_out): a one-tap convolution */
        conv1d_cl(g->u + xi * g->u_floats, g->c_out, g->c_in, 1, 1, 0, nj, nj,
                  g->v + (int64_t)xi * g->tiles_per_block * g->c_in,
                  g->mprod + (int64_t)xi * g->tiles_per_block * g->c_out, g->c_out);
    winograd_output(g, y, j0, nj, alpha);
}

static void winograd(const gb_winograd_plan *g, const float *restrict x, float *restrict y) {
    int tiles = (g->t_out + g->m - 1) / g->m;
    for (int j0 = 0; j0 < tiles; j0 += g->tiles_per_block) {
        int nj = tiles - j0 < g->tiles_per_block ? tiles - j0 : g->tiles_per_block;
        switch (g->alpha) {  /* F(2,3), F(4,3), F(6,3) */
        case 4: winograd_block(g, x, y, j0, nj, 4); break;
        case 6: winograd_block(g, x, y, j0, nj, 6); break;
        default: winograd_block(g, x, y, j0, nj, 8); break;
        }
    }
}

int gb_winograd_max_alpha(void) { return WINO_MAX_ALPHA; }

void gb_winograd(const gb_winograd_plan *g, const float *x, float *y) { winograd(g, x, y); }

static void winograd_call(void *plan, const float *x, float *y) { winograd((const gb_winograd_plan *)plan, x, y); }

int64_t gb_winograd_time(const gb_winograd_plan *g, const float *x, float *y, int64_t loops) {
    return time_calls(winograd_call, (void *)g, x, y, loops);
}

/* ================================================================ im2col + csimd's GEMM */

/* lowered (c_in k, t_out) row-major, row c k + kk: frame t + kk d - left of channel c, zero outside x. */
static void im2col(int c_in, int k, int d, int left, int t_in, int t_out, int channels_last,
                   const float *restrict x, float *restrict lowered) {
    int64_t frame = channels_last ? c_in : 1, channel = channels_last ? 1 : t_in;
    for (int c = 0; c < c_in; ++c)
        for (int kk = 0; kk < k; ++kk) {
            float *row = lowered + ((int64_t)c * k + kk) * t_out;
            int shift = kk * d - left;
            for (int t = 0; t < t_out; ++t) {
                int f = t + shift;
                row[t] = (f < 0 || f >= t_in) ? 0.0f : x[(int64_t)f * frame + (int64_t)c * channel];
            }
        }
}

/* y = W2 lowered with W2 (c_out, c_in k) packed by gb_dense_pack; channels-last writes the
 * (c_out, t_out) product into scratch and transposes it into y. */
static void im2col_gemm(const float *packed, int c_out, int c_in, int k, int d, int left, int t_in, int t_out,
                        int channels_last, float *lowered, float *scratch, const float *x, float *y) {
    im2col(c_in, k, d, left, t_in, t_out, channels_last, x, lowered);
    gb_sgemm(packed, c_out, c_in * k, t_out, lowered, channels_last ? scratch : y);
    if (channels_last)
        for (int o = 0; o < c_out; ++o)
            for (int t = 0; t < t_out; ++t) y[(int64_t)t * c_out + o] = scratch[(int64_t)o * t_out + t];
}

/* ================================================================ the entry point */

enum { GB_CONV_DIRECT = 0, GB_CONV_STREAM = 1, GB_CONV_IM2COL = 2 };

/* One prepared method (its arguments fixed at prepare time: three ctypes arguments per call
 * instead of a dozen, which matters for a streaming call of a few hundred ns). */
typedef struct {
    int32_t method, c_in, c_out, k, dilation, left, t_in, t_out, channels_last;
    int32_t head;             /* stream: ring slot the next frame goes to (state) */
    int64_t y_frame, y_channel, y_offset; /* direct: output (frame t, channel o) at y[y_offset + t y_frame + o y_channel] */
    const float *packed;      /* direct: gb_conv1d_{cl,cf}_pack; stream, im2col: gb_dense_pack of W2 */
    float *ring;              /* stream: span + 1 frames of c_in */
    float *lowered, *scratch; /* im2col: (c_in k, t_out); channels-last: (c_out, t_out) */
} gb_conv1d_plan;

int64_t gb_conv1d_plan_size(void) { return (int64_t)sizeof(gb_conv1d_plan); }

GB_INLINE void conv1d(gb_conv1d_plan *p, const float *x, float *y) {
    switch (p->method) {
    case GB_CONV_DIRECT:
        if (p->channels_last)
            conv1d_cl(p->packed, p->c_out, p->c_in, p->k, p->dilation, p->left, p->t_in, p->t_out, x,
                      y + p->y_offset, p->y_frame);
        else
            conv1d_cf(p->packed, p->c_out, p->c_in, p->k, p->dilation, p->left, p->t_in, p->t_out, x,
                      y + p->y_offset, p->y_frame, p->y_channel);
        break;
    case GB_CONV_STREAM:
        conv1d_stream(p->packed, p->c_out, p->c_in, p->k, p->dilation, p->t_out, p->channels_last, p->ring,
                      &p->head, x, y);
        break;
    default:
        im2col_gemm(p->packed, p->c_out, p->c_in, p->k, p->dilation, p->left, p->t_in, p->t_out, p->channels_last,
                    p->lowered, p->scratch, x, y);
    }
}

void gb_conv1d(gb_conv1d_plan *p, const float *x, float *y) { conv1d(p, x, y); }

static void conv1d_call(void *plan, const float *x, float *y) { conv1d((gb_conv1d_plan *)plan, x, y); }

int64_t gb_conv1d_time(gb_conv1d_plan *p, const float *x, float *y, int64_t loops) {
    return time_calls(conv1d_call, (void *)p, x, y, loops);
}

/* ================================================================ polyphase transposed layers */

/* Plans run one after the other on the same x and y: the phases of a transposed layer, each a
 * direct convolution with its share of the taps writing every s-th output frame. */
typedef struct {
    int32_t count, unused;
    gb_conv1d_plan *plans;
} gb_conv1d_plans;

int64_t gb_conv1d_plans_size(void) { return (int64_t)sizeof(gb_conv1d_plans); }

GB_INLINE void conv1d_group(gb_conv1d_plans *g, const float *x, float *y) {
    for (int i = 0; i < g->count; ++i) conv1d(g->plans + i, x, y);
}

void gb_conv1d_group(gb_conv1d_plans *g, const float *x, float *y) { conv1d_group(g, x, y); }

static void conv1d_group_call(void *plan, const float *x, float *y) { conv1d_group((gb_conv1d_plans *)plan, x, y); }

int64_t gb_conv1d_group_time(gb_conv1d_plans *g, const float *x, float *y, int64_t loops) {
    return time_calls(conv1d_group_call, (void *)g, x, y, loops);
}
