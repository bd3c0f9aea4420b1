/* A bank of biquad cascades, lane per filter (layouts and flags: gb_iir.h).
 *
 * Each (signal, group of GB_IIR_LANES filters) pair is a chain: one register per state word,
 * transposed direct form II per section,
 *     y = b0 x + s1;   s1 = b1 x + s2 - a1 y;   s2 = b2 x - a2 y,
 * four FMAs and a multiply per section-sample. One chain is latency-bound: s1 -> y -> s1 is two
 * dependent FMAs (8 cycles) per sample. A set of CHAINS chains advances together sample by
 * sample, so the core always has independent FMAs in flight; a set may span two groups (when
 * CHAINS does not divide B) and is padded with dummy chains whose output is dropped, so every
 * B, from 1 up, keeps the FMA ports busy.
 *
 * energy: each chain squares and accumulates its output, storing the sum at every frame end.
 * full:   each chain writes LANES consecutive outputs (one register per sample, lanes = filters)
 *         into a tile on the stack; the tile is transposed in registers and stored as LANES
 *         rows of LANES samples, so (B, F, T) is written row by row, a cache line at a time. */
#define _POSIX_C_SOURCE 199309L
#include <stddef.h>
#include <stdint.h>

#include "gb_iir.h"
#include "gb_simd.h"

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

#if defined(__AVX512F__)
#define LANES 16
typedef __m512 vf;
GB_INLINE vf vf_load(const float *p) { return _mm512_loadu_ps(p); }
GB_INLINE void vf_store(float *p, vf a) { _mm512_storeu_ps(p, a); }
GB_INLINE void vf_stream(float *p, vf a) { _mm512_stream_ps(p, a); }
GB_INLINE vf vf_set1(float a) { return _mm512_set1_ps(a); }
GB_INLINE vf vf_zero(void) { return _mm512_setzero_ps(); }
GB_INLINE vf vf_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
GB_INLINE vf vf_fnma(vf a, vf b, vf c) { return _mm512_fnmadd_ps(a, b, c); }
GB_INLINE vf vf_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
GB_INLINE vf vf_add(vf a, vf b) { return _mm512_add_ps(a, b); }
/* Chains per set by sections: registers hold 2S states (+1 energy sum) per chain. */
#define CHAINS(S) ((S) == 1 ? 8 : (S) == 2 ? 6 : 4)
#define BLOCK_CHAINS 4 /* 2n states, n pending pushes and 4 partial sums per chain */
#elif defined(__AVX2__)
#define LANES 8
typedef __m256 vf;
GB_INLINE vf vf_load(const float *p) { return _mm256_loadu_ps(p); }
GB_INLINE void vf_store(float *p, vf a) { _mm256_storeu_ps(p, a); }
GB_INLINE void vf_stream(float *p, vf a) { _mm256_stream_ps(p, a); }
GB_INLINE vf vf_set1(float a) { return _mm256_set1_ps(a); }
GB_INLINE vf vf_zero(void) { return _mm256_setzero_ps(); }
GB_INLINE vf vf_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
GB_INLINE vf vf_fnma(vf a, vf b, vf c) { return _mm256_fnmadd_ps(a, b, c); }
GB_INLINE vf vf_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
GB_INLINE vf vf_add(vf a, vf b) { return _mm256_add_ps(a, b); }
#define CHAINS(S) ((S) == 1 ? 4 : 3) /* 16 ymm registers */
#define BLOCK_CHAINS 2
#else
#define LANES 1
typedef float vf;
GB_INLINE vf vf_load(const float *p) { return *p; }
GB_INLINE void vf_store(float *p, vf a) { *p = a; }
GB_INLINE void vf_stream(float *p, vf a) { *p = a; }
GB_INLINE vf vf_set1(float a) { return a; }
GB_INLINE vf vf_zero(void) { return 0.0f; }
GB_INLINE vf vf_fma(vf a, vf b, vf c) { return a * b + c; }
GB_INLINE vf vf_fnma(vf a, vf b, vf c) { return c - a * b; }
GB_INLINE vf vf_mul(vf a, vf b) { return a * b; }
GB_INLINE vf vf_add(vf a, vf b) { return a + b; }
#define CHAINS(S) 4
#define BLOCK_CHAINS 4
#endif

#define MAX_CHAINS 8
#ifndef TILE
#define TILE 32 /* samples per tile: a multiple of UNIT */
#endif
#ifndef FULL_CHAINS
#define FULL_CHAINS(S) CHAINS(S)
#endif
#define COEFFS 5

int gb_iir_lanes(void) { return LANES; }
int gb_iir_chains(int sections) { return CHAINS(sections); }

static int groups(int filters) { return (filters + LANES - 1) / LANES; }

int64_t gb_iir_packed_floats(int filters, int sections) {
    return (int64_t)groups(filters) * sections * COEFFS * LANES;
}

int64_t gb_iir_state_floats(int signals, int filters, int sections) {
    return (int64_t)signals * groups(filters) * sections * 2 * LANES;
}

void gb_iir_pack(const float *coeffs, int filters, int sections, float *packed) {
    for (int g = 0; g < groups(filters); ++g)
        for (int k = 0; k < sections; ++k)
            for (int c = 0; c < COEFFS; ++c)
                for (int lane = 0; lane < LANES; ++lane) {
                    int f = g * LANES + lane;
                    float v = f < filters ? coeffs[((int64_t)f * sections + k) * COEFFS + c] : 0.0f;
                    packed[(((int64_t)g * sections + k) * COEFFS + c) * LANES + lane] = v;
                }
}

/* ---- the floating-point control word: flush-to-zero and denormals-are-zero for one call */

#if defined(__x86_64__) || defined(__i386__)
#define FTZ_DAZ 0x8040u /* MXCSR bit 15 flush-to-zero, bit 6 denormals-are-zero */
typedef uint32_t fp_control;
static fp_control fp_get(void) { return _mm_getcsr(); }
static void fp_set(fp_control c) { _mm_setcsr(c); }
static fp_control fp_flushing(fp_control c) { return c | FTZ_DAZ; }
#elif defined(__aarch64__)
#define FPCR_FZ (1ull << 24)
typedef uint64_t fp_control;
static fp_control fp_get(void) { uint64_t c; __asm__ __volatile__("mrs %0, fpcr" : "=r"(c)); return c; }
static void fp_set(fp_control c) { __asm__ __volatile__("msr fpcr, %0" ::"r"(c)); }
static fp_control fp_flushing(fp_control c) { return c | FPCR_FZ; }
#else
typedef uint32_t fp_control;
static fp_control fp_get(void) { return 0; }
static void fp_set(fp_control c) { (void)c; }
static fp_control fp_flushing(fp_control c) { return c; }
#endif

uint32_t gb_iir_fp_control(void) { return (uint32_t)fp_get(); }

/* ---- one chain, one sample */

typedef struct {
    const float *coef; /* the group's [S][5][LANES] */
    const float *x;    /* the signal's T samples */
    float *state;      /* the chain's [S][2][LANES] */
    float *out;        /* the group's first row in out; NULL for a dummy chain */
    int lanes;         /* filters of the group that exist */
} chain;

GB_INLINE vf section_step(const float *c, vf *s1, vf *s2, vf x) {
    vf y = vf_fma(vf_load(c), x, *s1);
    *s1 = vf_fnma(vf_load(c + 3 * LANES), y, vf_fma(vf_load(c + LANES), x, *s2));
    *s2 = vf_fnma(vf_load(c + 4 * LANES), y, vf_mul(vf_load(c + 2 * LANES), x));
    return y;
}

GB_INLINE vf cascade_step(const float *coef, vf *s1, vf *s2, vf x, const int S) {
    for (int k = 0; k < S; ++k) x = section_step(coef + k * COEFFS * LANES, &s1[k], &s2[k], x);
    return x;
}

/* ---- full output: a LANES x LANES tile (rows: samples, columns: filters) out as filter rows */

#if LANES == 16
GB_INLINE void transpose(vf r[16]) {
    vf t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        __m512d a = _mm512_castps_pd(t[i]), b = _mm512_castps_pd(t[i + 1]);
        __m512d c = _mm512_castps_pd(t[i + 2]), d = _mm512_castps_pd(t[i + 3]);
        u[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        u[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        u[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        u[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    /* u[4i + k] holds, for rows 4i..4i+3, column k + 4l in its 128-bit lane l */
    for (int k = 0; k < 4; ++k) {
        vf v = _mm512_shuffle_f32x4(u[k], u[4 + k], 0x88), v2 = _mm512_shuffle_f32x4(u[k], u[4 + k], 0xDD);
        vf w = _mm512_shuffle_f32x4(u[8 + k], u[12 + k], 0x88), w2 = _mm512_shuffle_f32x4(u[8 + k], u[12 + k], 0xDD);
        r[k] = _mm512_shuffle_f32x4(v, w, 0x88);
        r[k + 8] = _mm512_shuffle_f32x4(v, w, 0xDD);
        r[k + 4] = _mm512_shuffle_f32x4(v2, w2, 0x88);
        r[k + 12] = _mm512_shuffle_f32x4(v2, w2, 0xDD);
    }
}
#elif LANES == 8
GB_INLINE void transpose(vf r[8]) {
    vf t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int k = 0; k < 4; ++k) {
        r[k] = _mm256_permute2f128_ps(u[k], u[4 + k], 0x20);
        r[k + 4] = _mm256_permute2f128_ps(u[k], u[4 + k], 0x31);
    }
}
#else
GB_INLINE void transpose(vf r[1]) { (void)r; }
#endif

/* Store one LANES x LANES square of a tile (rows: samples, columns: filters) as `lanes` filter rows
 * of `count` samples at out (row stride `samples`): transposed in registers when whole, element
 * by element at the ragged end of a call. */
GB_INLINE void store_square(const float *square, float *out, int64_t samples, int lanes, int count, int stream) {
    if (count < LANES) {
        for (int i = 0; i < lanes; ++i)
            for (int j = 0; j < count; ++j) out[i * samples + j] = square[j * LANES + i];
        return;
    }
    vf r[LANES];
    for (int j = 0; j < LANES; ++j) r[j] = vf_load(square + j * LANES);
    transpose(r);
    if (stream) {
        for (int i = 0; i < lanes; ++i) vf_stream(out + i * samples, r[i]);
    } else {
        for (int i = 0; i < lanes; ++i) vf_store(out + i * samples, r[i]);
    }
}

/* ---- a set of chains over the whole call */

/* A chain's registers: direct form, s1 and s2 of each section; block form, the modal state v
 * (2S words) in s1 and the next block's pending input push w in s2 (zero at every call boundary,
 * since a call's last block ends with the call). Both keep 2S words per chain between calls. */
#define REGS (2 * GB_IIR_MAX_SECTIONS)

GB_INLINE void load_state(const chain *ch, vf s1[][REGS], vf s2[][REGS], const int C, const int S, const int block) {
    for (int c = 0; c < C; ++c)
        for (int k = 0; k < S; ++k) {
            if (block) {
                s1[c][2 * k] = vf_load(ch[c].state + (2 * k) * LANES);
                s1[c][2 * k + 1] = vf_load(ch[c].state + (2 * k + 1) * LANES);
                s2[c][2 * k] = s2[c][2 * k + 1] = vf_zero();
            } else {
                s1[c][k] = vf_load(ch[c].state + (2 * k) * LANES);
                s2[c][k] = vf_load(ch[c].state + (2 * k + 1) * LANES);
            }
        }
}

GB_INLINE void save_state(const chain *ch, vf s1[][REGS], vf s2[][REGS], const int C, const int S, const int block) {
    for (int c = 0; c < C; ++c)
        for (int k = 0; k < S; ++k) {
            vf_store(ch[c].state + (2 * k) * LANES, block ? s1[c][2 * k] : s1[c][k]);
            vf_store(ch[c].state + (2 * k + 1) * LANES, block ? s1[c][2 * k + 1] : s2[c][k]);
        }
}

/* ---- the block form, lane per filter (backends/iir/blockform.py): per group, for block length L
 * and n = 2S modal states, [H (L) | O (L x n) | Cb (L x n) | P (n x n) | Cr (L x n) | Pr (n x n)]
 * of LANES-wide vectors: the impulse response, the state's read-out C A^j, its push A^(L-1-j) B
 * per input, A^L; Cr and Pr the same for the call's last, shorter block (r = T mod L samples). */

typedef struct {
    int length;  /* L; 0 for the direct form */
    int samples; /* T */
} form;

int64_t gb_iir_block_floats(int filters, int sections, int length) {
    int n = 2 * sections;
    return (int64_t)groups(filters) * (length * (1 + 3 * n) + 2 * n * n) * LANES;
}

/* y at sample t: O[j] v + sum_{i <= j} H[j - i] x[t0 + i]; the input's push on the next state
 * accumulates in w sample by sample, and the block's last sample moves the state on. */
GB_INLINE vf block_step(const chain *ch, vf *v, vf *w, int t, form fm, const int n) {
    const int L = fm.length;
    const int t0 = t / L * L, j = t - t0;
    const int partial = t0 + L > fm.samples, len = partial ? fm.samples - t0 : L;
    const float *h = ch->coef, *o = h + L * LANES, *cb = o + L * n * LANES, *p = cb + L * n * LANES;
    if (partial) {
        cb = p + n * n * LANES;
        p = cb + L * n * LANES;
    }
    vf acc[4] = {vf_zero(), vf_zero(), vf_zero(), vf_zero()};
    for (int k = 0; k < n; ++k) acc[k & 3] = vf_fma(vf_load(o + (j * n + k) * LANES), v[k], acc[k & 3]);
    const float *x = ch->x + t0;
    for (int i = 0; i <= j; ++i) acc[i & 3] = vf_fma(vf_load(h + (j - i) * LANES), vf_set1(x[i]), acc[i & 3]);
    vf xt = vf_set1(x[j]);
    for (int k = 0; k < n; ++k) w[k] = vf_fma(vf_load(cb + (j * n + k) * LANES), xt, w[k]);
    if (j == len - 1) {
        vf next[REGS];
        for (int k = 0; k < n; ++k) {
            next[k] = w[k];
            for (int m = 0; m < n; ++m) next[k] = vf_fma(vf_load(p + (k * n + m) * LANES), v[m], next[k]);
        }
        for (int k = 0; k < n; ++k) {
            v[k] = next[k];
            w[k] = vf_zero();
        }
    }
    return vf_add(vf_add(acc[0], acc[1]), vf_add(acc[2], acc[3]));
}

GB_INLINE vf step(const chain *ch, vf *s1, vf *s2, int t, form fm, const int S, const int block) {
    if (block) return block_step(ch, s1, s2, t, fm, 2 * S);
    return cascade_step(ch->coef, s1, s2, vf_set1(ch->x[t]), S);
}

GB_INLINE void set_energy(const chain *ch, int samples, int frame, form fm, const int C, const int S,
                          const int block) {
    vf s1[MAX_CHAINS][REGS], s2[MAX_CHAINS][REGS];
    load_state(ch, s1, s2, C, S, block);
    int frames = samples / frame;
    for (int f = 0; f < frames; ++f) {
        vf acc[MAX_CHAINS];
        for (int c = 0; c < C; ++c) acc[c] = vf_zero();
        for (int t = f * frame; t < (f + 1) * frame; ++t)
            for (int c = 0; c < C; ++c) {
                vf y = step(&ch[c], s1[c], s2[c], t, fm, S, block);
                acc[c] = vf_fma(y, y, acc[c]);
            }
        for (int c = 0; c < C; ++c) {
            if (!ch[c].out) continue;
            float sums[LANES];
            vf_store(sums, acc[c]);
            for (int i = 0; i < ch[c].lanes; ++i) ch[c].out[(int64_t)i * frames + f] = sums[i];
        }
    }
    save_state(ch, s1, s2, C, S, block);
}

/* A unit of stores: UNIT samples of each filter row, one cache line, written back to back so a
 * non-temporal line is whole at once (avx2: two 8 x 8 squares per row; a write-combining buffer
 * holding half a line while others open is evicted half written, at a heavy cost). */
#define UNIT 16

GB_INLINE void store_unit(const float *tile, float *out, int64_t samples, int lanes, int count, int stream) {
#if LANES == 8
    if (count == UNIT) {
        vf r[8], q[8];
        for (int j = 0; j < 8; ++j) {
            r[j] = vf_load(tile + j * 8);
            q[j] = vf_load(tile + (8 + j) * 8);
        }
        transpose(r);
        transpose(q);
        for (int i = 0; i < lanes; ++i) {
            if (stream) {
                vf_stream(out + i * samples, r[i]);
                vf_stream(out + i * samples + 8, q[i]);
            } else {
                vf_store(out + i * samples, r[i]);
                vf_store(out + i * samples + 8, q[i]);
            }
        }
        return;
    }
#endif
    for (int j0 = 0; j0 < count; j0 += LANES)
        store_square(tile + j0 * LANES, out + j0, samples, lanes, count - j0 < LANES ? count - j0 : LANES, stream);
}

/* A tile of TILE samples per chain fills while the previous tile's squares go out, a few after
 * each sample: the output streams to memory at an even pace while the FMAs run, instead of in
 * bursts that stall the core on a full store buffer between silent stretches. */
typedef struct {
    int t0, count, units; /* the previous tile: first sample, samples, store units per chain */
    int done;             /* units of it stored so far, over all chains */
} pending;

GB_INLINE void store_pending(const chain *ch, float (*tile)[TILE * LANES], pending *p, int until,
                             int64_t samples, int stream) {
    for (; p->done < until; ++p->done) {
        int c = p->done / p->units, j0 = (p->done % p->units) * UNIT;
        if (!ch[c].out) continue;
        int count = p->count - j0 < UNIT ? p->count - j0 : UNIT;
        store_unit(tile[c] + j0 * LANES, ch[c].out + p->t0 + j0, samples, ch[c].lanes, count, stream);
    }
}

GB_INLINE void set_full(const chain *ch, int samples, int stream, form fm, const int C, const int S,
                        const int block) {
    vf s1[MAX_CHAINS][REGS], s2[MAX_CHAINS][REGS];
    float tiles[2][MAX_CHAINS][TILE * LANES] __attribute__((aligned(64)));
    pending prev = {0, 0, 0, 0};
    int buf = 0;
    load_state(ch, s1, s2, C, S, block);
    for (int t0 = 0; t0 < samples; t0 += TILE) {
        int count = samples - t0 < TILE ? samples - t0 : TILE;
        int total = C * prev.units;
        for (int j = 0; j < count; ++j) {
            for (int c = 0; c < C; ++c) {
                vf y = step(&ch[c], s1[c], s2[c], t0 + j, fm, S, block);
                vf_store(tiles[buf][c] + j * LANES, y);
            }
            store_pending(ch, tiles[!buf], &prev, (j + 1) * total / TILE, samples, stream);
        }
        store_pending(ch, tiles[!buf], &prev, total, samples, stream);
        prev = (pending){t0, count, (count + UNIT - 1) / UNIT, 0};
        buf = !buf;
    }
    store_pending(ch, tiles[!buf], &prev, C * prev.units, samples, stream);
    save_state(ch, s1, s2, C, S, block);
}

/* Every chain of the call, a set at a time; item i is group i / B, signal i % B. */
GB_INLINE void run_bank(const float *packed, float *state, int signals, int samples, int filters, const float *x,
                        float *out, int frame, int stream, form fm, const int energy, const int S, const int block) {
    const int C = block ? BLOCK_CHAINS : energy ? CHAINS(S) : FULL_CHAINS(S);
    const int ngroups = groups(filters), items = ngroups * signals;
    const int64_t per_t = energy ? samples / frame : samples;
    const int64_t per_group = block ? gb_iir_block_floats(LANES, S, fm.length) : S * COEFFS * LANES;
    float dummy_state[MAX_CHAINS][GB_IIR_MAX_SECTIONS * 2 * LANES];
    for (int first = 0; first < items; first += C) {
        chain ch[MAX_CHAINS];
        for (int c = 0; c < C; ++c) {
            int item = first + c;
            if (item >= items) { /* dummy: reads chain 0's data, writes nothing that is kept */
                ch[c] = ch[0];
                ch[c].state = dummy_state[c];
                for (int i = 0; i < S * 2 * LANES; ++i) dummy_state[c][i] = 0.0f;
                ch[c].out = NULL;
                continue;
            }
            int g = item / signals, b = item % signals;
            ch[c].coef = packed + (int64_t)g * per_group;
            ch[c].x = x + (int64_t)b * samples;
            ch[c].state = state + ((int64_t)b * ngroups + g) * S * 2 * LANES;
            ch[c].out = out + ((int64_t)b * filters + (int64_t)g * LANES) * per_t;
            ch[c].lanes = filters - g * LANES < LANES ? filters - g * LANES : LANES;
        }
        if (energy)
            set_energy(ch, samples, frame, fm, C, S, block);
        else
            set_full(ch, samples, stream, fm, C, S, block);
    }
}

static int call_bank(const float *packed, float *state, int signals, int samples, int filters, int sections,
                     int length, const float *x, float *out, int energy, int frame, int flags) {
    if (sections < 1 || sections > GB_IIR_MAX_SECTIONS || length < 0) return -1;
    if (energy && (frame < 1 || samples % frame)) return -1;
    /* rows start on cache lines only when out does and a row is whole cache lines */
    int stream = (flags & GB_IIR_STREAM) && !energy && LANES > 1 && ((uintptr_t)out % 64 == 0) &&
                 ((int64_t)samples * 4 % 64 == 0);
    form fm = {length, samples};
    fp_control saved = fp_get();
    if (flags & GB_IIR_FTZ) fp_set(fp_flushing(saved));
#define RUN(E, S, B) run_bank(packed, state, signals, samples, filters, x, out, frame, stream, fm, E, S, B)
#define SECTIONS(S)                                                                                   \
    case 4 * (S - 1): RUN(0, S, 0); break;                                                            \
    case 4 * (S - 1) + 1: RUN(0, S, 1); break;                                                        \
    case 4 * (S - 1) + 2: RUN(1, S, 0); break;                                                        \
    case 4 * (S - 1) + 3: RUN(1, S, 1); break;
    switch (4 * (sections - 1) + 2 * !!energy + (length > 0)) {
        SECTIONS(1)
        SECTIONS(2)
        SECTIONS(3)
        SECTIONS(4)
    }
#undef SECTIONS
#undef RUN
#if defined(__x86_64__) || defined(__i386__)
    if (stream) _mm_sfence();
#endif
    fp_set(saved);
    return 0;
}

int gb_iir_bank(const float *packed, float *state, int signals, int samples, int filters, int sections,
                const float *x, float *out, int energy, int frame, int flags) {
    return call_bank(packed, state, signals, samples, filters, sections, 0, x, out, energy, frame, flags);
}

int gb_iir_block(const float *packed, float *state, int signals, int samples, int filters, int sections, int length,
                 const float *x, float *out, int energy, int frame, int flags) {
    if (length < 1) return -1;
    return call_bank(packed, state, signals, samples, filters, sections, length, x, out, energy, frame, flags);
}

int64_t gb_iir_bank_time(const float *packed, float *state, int signals, int samples, int filters, int sections,
                         const float *x, float *out, int energy, int frame, int flags, int64_t loops) {
    int64_t t0 = gb_now_ns();
    for (int64_t i = 0; i < loops; ++i) {
        call_bank(packed, state, signals, samples, filters, sections, 0, x, out, energy, frame, flags);
        GB_BARRIER();
    }
    return gb_now_ns() - t0;
}

int64_t gb_iir_block_time(const float *packed, float *state, int signals, int samples, int filters, int sections,
                          int length, const float *x, float *out, int energy, int frame, int flags, int64_t loops) {
    int64_t t0 = gb_now_ns();
    for (int64_t i = 0; i < loops; ++i) {
        call_bank(packed, state, signals, samples, filters, sections, length, x, out, energy, frame, flags);
        GB_BARRIER();
    }
    return gb_now_ns() - t0;
}

int64_t gb_iir_write_time(float *out, int64_t count, int stream, int64_t loops) {
    stream = stream && LANES > 1 && (uintptr_t)out % 64 == 0;
    vf one = vf_set1(1.0f);
    int64_t t0 = gb_now_ns();
    for (int64_t i = 0; i < loops; ++i) {
        int64_t j = 0;
        if (stream) {
            for (; j + LANES <= count; j += LANES) vf_stream(out + j, one);
        } else {
            for (; j + LANES <= count; j += LANES) vf_store(out + j, one);
        }
        for (; j < count; ++j) out[j] = 1.0f;
#if defined(__x86_64__) || defined(__i386__)
        if (stream) _mm_sfence();
#endif
        GB_BARRIER();
    }
    return gb_now_ns() - t0;
}
