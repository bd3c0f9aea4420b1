/* LPCNet's sample-rate network, one whole sample per call (the math: gemmbench/ops/lpcnet_step.py).
 *
 * The matrix products run the GEMV kernels of dense.c, sparse16.c and int8.c through their
 * internal entry points; everything element-wise is float32 on 16-lane vectors
 * (gb_vmath.h), fused so each gate's inputs are read once: the table gather and the
 * conditioning are added inside GRU-A's gate loop, the biases inside the gate loops.
 *
 * Every function below the entry points takes `fast` (the case's activation: 0 accurate,
 * 1 fast) as a constant the entry points branch on once, so each variant is compiled
 * straight, with no test per vector. */
#define _POSIX_C_SOURCE 199309L
#include <string.h>

#include "gb_internal.h"
#include "gb_kernels.h"
#include "gb_simd.h"
#include "gb_vmath.h"

/* backwards: see gb_internal.h; a matrix multiplied once per sample alternates by sample. */
GB_INLINE void product(const gb_product *p, const float *x, float *y, int64_t backwards) {
    gbi_product(p, x, y, 1, backwards);
}

GB_INLINE v16f sigmoid_of(v16f x, int fast) { return fast ? v16_sigmoid_fast(x) : v16_sigmoid(x); }
GB_INLINE v16f tanh_of(v16f x, int fast) { return fast ? v16_tanh_fast(x) : v16_tanh(x); }

/* Keras' GRU with reset_after on 16 lanes, from the update gate z and the candidate's
 * pre-activation u = x_h + reset (r_h + b_h): h = z h + (1 - z) tanh(u), written c + z (h - c). */
GB_INLINE v16f gru_update(v16f z, v16f u, v16f h, int fast) {
    v16f c = tanh_of(u, fast);
    return v16_fma(z, v16_sub(h, c), c);
}

/* Gate-major vectors (three gates of n) hold a slice at i, i + n, i + 2n. The ragged last
 * slice of a size that is not a multiple of 16 is copied into zero-padded stack vectors of
 * stride 16, so the slice functions always load whole vectors. */
GB_INLINE void pad_gates(const float *src, int64_t n, int64_t rows, float *dst /* 48 */) {
    for (int64_t g = 0; g < 3; ++g)
        for (int64_t j = 0; j < 16; ++j) dst[16 * g + j] = j < rows ? src[g * n + j] : 0.0f;
}

GB_INLINE void pad_rows(const float *src, int64_t rows, float fill, float *dst /* 16 */) {
    for (int64_t j = 0; j < 16; ++j) dst[j] = j < rows ? src[j] : fill;
}

/* y[0 .. 2n) += bias: the update and reset gates' biases ride with the conditioning, projected
 * once a frame, so the gates add one vector fewer each (the candidate's bias multiplies with
 * the reset gate and stays apart). */
static void add_gate_biases(float *restrict y, const float *restrict bias, int64_t n) {
    for (int64_t i = 0; i < 2 * n; ++i) y[i] += bias[i];
}

static void project(const gb_lpcnet *net, int64_t t) {
    const int64_t frame = t / net->frame_size, backwards = (net->per_sample ? t : frame) & 1;
    const float *feature = net->features + frame * net->cond_size;
    product(&net->cond_a, feature, net->cond_a_out, backwards);
    product(&net->cond_b, feature, net->cond_b_out, backwards);
    add_gate_biases(net->cond_a_out, net->bias_a, net->hidden_a);
    add_gate_biases(net->cond_b_out, net->bias_b, net->hidden_b);
}

/* Sample t's (signal, prediction, excitation) levels: the sequence's, or with sampling the
 * draw of t - 1 as excitation and, as signal, the prediction of t - 1 plus that excitation
 * around the middle level (clamped to the levels). A call's first sample reads the sequence. */
GB_INLINE void sample_inputs(const gb_lpcnet *net, int64_t t, int64_t in[3]) {
    const int32_t *seq = net->inputs + 3 * t;
    in[0] = seq[0], in[1] = seq[1], in[2] = seq[2];
    if (net->sampling && t > net->start) {
        const int64_t drawn = net->samples[t - 1 - net->start], signal = seq[-2] + drawn - net->levels / 2;
        in[0] = signal < 0 ? 0 : signal >= net->levels ? net->levels - 1 : signal;
        in[2] = drawn;
    }
}

/* Sample t's three table rows, as GRU-A's gates will read them. */
GB_INLINE void table_rows(const gb_lpcnet *net, int64_t t, const float *rows[3]) {
    int64_t in[3];
    sample_inputs(net, t, in);
    for (int64_t r = 0; r < 3; ++r) rows[r] = net->tables + (r * net->levels + in[r]) * 3 * net->hidden_a;
}

/* One gate's input part of GRU-A: the three table rows (the gather) and the conditioning. */
GB_INLINE v16f gathered(const float *t0, const float *t1, const float *t2, const float *cond, int64_t at) {
    return v16_add(v16_add(v16_loadu(t0 + at), v16_loadu(t1 + at)), v16_add(v16_loadu(t2 + at), v16_loadu(cond + at)));
}

/* GRU-A's gates in three passes over the lanes: the update gate z, then the candidate's
 * pre-activation u = x_h + reset (r_h + b_h), each from the gather, the conditioning (which holds
 * the z and r biases) and ra, into `gates`; then the candidate tanh(u) and the new h. A
 * pass's dependency chain is a third of the whole update's, so the core overlaps many more
 * slices of it (measured faster than one pass: docs/journal/2026-12-07-lpcnet-step.md). */
GB_INLINE v16f update_gate(const float *t0, const float *t1, const float *t2, const float *cond, const float *ra,
                           int fast) {
    return sigmoid_of(v16_add(gathered(t0, t1, t2, cond, 0), v16_loadu(ra)), fast);
}

GB_INLINE v16f candidate_input(const float *t0, const float *t1, const float *t2, const float *cond, const float *ra,
                               const float *bias, int64_t n, int fast) {
    v16f reset = sigmoid_of(v16_add(gathered(t0, t1, t2, cond, n), v16_loadu(ra + n)), fast);
    v16f rh = v16_add(v16_loadu(ra + 2 * n), v16_loadu(bias + 2 * n));
    return v16_fma(reset, rh, gathered(t0, t1, t2, cond, 2 * n));
}

GB_INLINE void gru_a_gates(const gb_lpcnet *net, int64_t t, int fast) {
    const int64_t n = net->hidden_a, whole = n / 16 * 16, rows = n - whole;
    const float *table[3];
    table_rows(net, t, table);
    const float *t0 = table[0], *t1 = table[1], *t2 = table[2];
    const float *cond = net->cond_a_out, *ra = net->ra, *bias = net->bias_a;
    float *h = net->ha, *z = net->gates, *u = net->gates + (n + 15) / 16 * 16;
    for (int64_t i = 0; i < whole; i += 16) v16_storeu(z + i, update_gate(t0 + i, t1 + i, t2 + i, cond + i, ra + i, fast));
    for (int64_t i = 0; i < whole; i += 16)
        v16_storeu(u + i, candidate_input(t0 + i, t1 + i, t2 + i, cond + i, ra + i, bias + i, n, fast));
    if (rows) { /* `gates` holds whole vectors, so the ragged slice writes its padding too */
        float p0[48], p1[48], p2[48], pc[48], pr[48], pb[48];
        pad_gates(t0 + whole, n, rows, p0), pad_gates(t1 + whole, n, rows, p1), pad_gates(t2 + whole, n, rows, p2);
        pad_gates(cond + whole, n, rows, pc), pad_gates(ra + whole, n, rows, pr), pad_gates(bias + whole, n, rows, pb);
        v16_storeu(z + whole, update_gate(p0, p1, p2, pc, pr, fast));
        v16_storeu(u + whole, candidate_input(p0, p1, p2, pc, pr, pb, 16, fast));
    }
    for (int64_t i = 0; i < whole; i += 16)
        v16_storeu(h + i, gru_update(v16_loadu(z + i), v16_loadu(u + i), v16_loadu(h + i), fast));
    if (rows) {
        float ph[16];
        pad_rows(h + whole, rows, 0.0f, ph);
        v16_store_rows(h + whole, gru_update(v16_loadu(z + whole), v16_loadu(u + whole), v16_loadu(ph), fast), rows);
    }
}

/* 16 lanes of hb: xb + cond_b (with the z and r biases), rb and the candidate's bias. */
GB_INLINE void gru_b_slice(const float *xb, const float *cond, const float *rb, const float *bias, int64_t n, float *h,
                           int fast) {
    v16f z = sigmoid_of(v16_add(v16_add(v16_loadu(xb), v16_loadu(cond)), v16_loadu(rb)), fast);
    v16f reset = sigmoid_of(v16_add(v16_add(v16_loadu(xb + n), v16_loadu(cond + n)), v16_loadu(rb + n)), fast);
    v16f xh = v16_add(v16_loadu(xb + 2 * n), v16_loadu(cond + 2 * n));
    v16f u = v16_fma(reset, v16_add(v16_loadu(rb + 2 * n), v16_loadu(bias + 2 * n)), xh);
    v16_storeu(h, gru_update(z, u, v16_loadu(h), fast));
}

GB_INLINE void gru_b(const gb_lpcnet *net, int fast) {
    const int64_t n = net->hidden_b;
    product(&net->gru_b_in, net->ha, net->xb, 0); /* GRU-B and the output layer stay in L1 */
    product(&net->gru_b_rec, net->hb, net->rb, 0);
    const float *xb = net->xb, *cond = net->cond_b_out, *rb = net->rb, *bias = net->bias_b;
    float *h = net->hb;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) gru_b_slice(xb + i, cond + i, rb + i, bias + i, n, h + i, fast);
    if (i < n) {
        int64_t rows = n - i;
        float px[48], pc[48], pr[48], pb[48], ph[16];
        pad_gates(xb + i, n, rows, px), pad_gates(cond + i, n, rows, pc);
        pad_gates(rb + i, n, rows, pr), pad_gates(bias + i, n, rows, pb);
        pad_rows(h + i, rows, 0.0f, ph);
        gru_b_slice(px, pc, pr, pb, 16, ph, fast);
        memcpy(h + i, ph, sizeof(float) * rows);
    }
}

GB_INLINE v16f logit_slice(const float *a1, const float *a2, const float *o1, const float *o2, int fast) {
    return v16_add(v16_mul(v16_loadu(a1), tanh_of(v16_loadu(o1), fast)),
                   v16_mul(v16_loadu(a2), tanh_of(v16_loadu(o2), fast)));
}

/* p = softmax(a1 tanh(o1) + a2 tanh(o2)): logits into p, then exp(p - max) / sum. */
GB_INLINE void distribution(const gb_lpcnet *net, int fast) {
    const int64_t levels = net->levels, whole = levels / 16 * 16, rows = levels - whole;
    const float *a1 = net->out_gain, *a2 = net->out_gain + levels, *o1 = net->o, *o2 = net->o + levels;
    float *p = net->p;
    product(&net->out, net->hb, net->o, 0);
    v16f top = v16_set1(-3.4e38f);
    for (int64_t i = 0; i < whole; i += 16) {
        v16f logit = logit_slice(a1 + i, a2 + i, o1 + i, o2 + i, fast);
        v16_storeu(p + i, logit);
        top = v16_max(top, logit);
    }
    if (rows) {
        float q1[16], q2[16], u1[16], u2[16], tail[16];
        pad_rows(a1 + whole, rows, 0.0f, q1), pad_rows(a2 + whole, rows, 0.0f, q2);
        pad_rows(o1 + whole, rows, 0.0f, u1), pad_rows(o2 + whole, rows, 0.0f, u2);
        v16_store_rows(p + whole, logit_slice(q1, q2, u1, u2, fast), rows);
        pad_rows(p + whole, rows, -3.4e38f, tail);
        top = v16_max(top, v16_loadu(tail));
    }
    v16f shift = v16_set1(v16_hmax(top)), sum = v16_zero();
    for (int64_t i = 0; i < whole; i += 16) {
        v16f e = v16_exp(v16_sub(v16_loadu(p + i), shift));
        v16_storeu(p + i, e);
        sum = v16_add(sum, e);
    }
    if (rows) {
        float tail[16];
        pad_rows(p + whole, rows, 0.0f, tail);
        v16_store_rows(p + whole, v16_exp(v16_sub(v16_loadu(tail), shift)), rows);
        pad_rows(p + whole, rows, 0.0f, tail);
        sum = v16_add(sum, v16_loadu(tail));
    }
    float inv = 1.0f / v16_hsum(sum);
    for (int64_t i = 0; i < whole; i += 16) v16_storeu(p + i, v16_mul(v16_loadu(p + i), v16_set1(inv)));
    for (int64_t i = whole; i < levels; ++i) p[i] = p[i] * inv;
}

/* ---- the tree sampler ----
 *
 * Sample t's draws are the (t + 1)-th output of SplitMix64 seeded with draw_key, so a call
 * that continues a sequence draws what the whole sequence would; byte b (from the least
 * significant) is the draw of the tree's level b, and thresholds[byte] = logit((byte + 0.5) / 256),
 * so `logit > threshold` is `sigmoid(logit) > u` without a sigmoid. */
GB_INLINE uint64_t draw_word(uint64_t key, int64_t t) {
    uint64_t z = key + (uint64_t)(t + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The walk goes down ROUND levels at a time: a round rooted at node n computes the dual FC of
 * all 2^ROUND - 1 = 15 nodes it might visit (n; 2n, 2n + 1; ...; 8n .. 8n + 7) at once, node q's
 * channel 1 in lane q of one vector and its channel 2 in lane q of another, so a round costs
 * the latency of one node's dot products and one tanh, and the 8 levels of 256 outputs two
 * rounds. The wrapper packs, per possible root in round order, a block of hidden_b (padded to
 * 16) rows of 2 x 16 lanes of weights and a row of 2 x 16 gains (lpcnet.py, tree_blocks). */
#define ROUND 4

/* The round's 16-bit mask of decisions: bit q set where node q's logit is above thr[q]. */
GB_INLINE int64_t round_mask(const gb_lpcnet *net, const float *block, const float *thr, int fast) {
    const int64_t cols = (net->hidden_b + 15) / 16 * 16;
    const float *h = net->hb;
    v16f a0 = v16_zero(), a1 = v16_zero(), b0 = v16_zero(), b1 = v16_zero();
    for (int64_t j = 0; j < cols; j += 2, block += 64) {
        v16f h0 = v16_set1(h[j]), h1 = v16_set1(h[j + 1]);
        a0 = v16_fma(v16_load(block), h0, a0), b0 = v16_fma(v16_load(block + 16), h0, b0);
        a1 = v16_fma(v16_load(block + 32), h1, a1), b1 = v16_fma(v16_load(block + 48), h1, b1);
    }
    v16f one = v16_mul(tanh_of(v16_add(a0, a1), fast), v16_load(block));
    v16f two = v16_mul(tanh_of(v16_add(b0, b1), fast), v16_load(block + 16));
    return v16_above(v16_add(one, two), thr);
}

GB_INLINE int64_t draw(const gb_lpcnet *net, int64_t t, int fast) {
    const int64_t cols = (net->hidden_b + 15) / 16 * 16, block_floats = 32 * (cols + 1);
    const uint64_t word = draw_word((uint64_t)net->draw_key, t);
    int64_t node = 1, first_block = 0, roots = 1;
    for (int64_t level = 0; level < net->depth; level += ROUND) {
        const int64_t span = net->depth - level < ROUND ? net->depth - level : ROUND;
        float thr[16] = {0}; /* lanes of nodes below the tree's last level decide nothing */
        for (int64_t l = 0; l < span; ++l) {
            const float th = net->thresholds[(word >> (8 * (level + l))) & 255];
            for (int64_t lane = (1 << l) - 1; lane < (2 << l) - 1; ++lane) thr[lane] = th;
        }
        const float *block = net->tree + (first_block + node - roots) * block_floats;
        const int64_t mask = round_mask(net, block, thr, fast);
        int64_t below = 0; /* the path within the round */
        for (int64_t l = 0; l < span; ++l) below = 2 * below + ((mask >> ((1 << l) - 1 + below)) & 1);
        node = (node << span) + below;
        first_block += roots, roots <<= ROUND;
    }
    return node - net->levels;
}

GB_INLINE void output(const gb_lpcnet *net, int64_t t, int fast) {
    if (net->output == GB_OUTPUT_TREE)
        net->samples[t - net->start] = (int32_t)draw(net, t, fast);
    else
        distribution(net, fast);
}

static int projects(const gb_lpcnet *net, int64_t t) {
    return net->per_sample || t % net->frame_size == 0 || t == net->start;
}

GB_INLINE void step(const gb_lpcnet *net, int64_t t, int fast) {
    if (projects(net, t)) project(net, t);
    product(&net->gru_a, net->ha, net->ra, t & 1);
    gru_a_gates(net, t, fast);
    gru_b(net, fast);
    output(net, t, fast);
}

static void begin(const gb_lpcnet *net, const float *x) {
    memcpy(net->ha, x, sizeof(float) * net->hidden_a);
    memcpy(net->hb, x + net->hidden_a, sizeof(float) * net->hidden_b);
}

/* [ha, hb] and the last distribution, or every sample the call drew (as floats). */
static void end(const gb_lpcnet *net, float *out) {
    memcpy(out, net->ha, sizeof(float) * net->hidden_a);
    memcpy(out + net->hidden_a, net->hb, sizeof(float) * net->hidden_b);
    float *tail = out + net->hidden_a + net->hidden_b;
    if (net->output == GB_OUTPUT_TREE)
        for (int64_t i = 0; i < net->steps; ++i) tail[i] = (float)net->samples[i];
    else
        memcpy(tail, net->p, sizeof(float) * net->levels);
}

static void step_accurate(const gb_lpcnet *net, int64_t t) { step(net, t, 0); }
static void step_fast(const gb_lpcnet *net, int64_t t) { step(net, t, 1); }

void gb_lpcnet_step(gb_lpcnet *net, int64_t t, const float *from, float *to) {
    if (from) begin(net, from);
    (net->activation == GB_ACTIVATION_FAST ? step_fast : step_accurate)(net, t);
    if (to) end(net, to);
}

GB_INLINE void run(const gb_lpcnet *net, const float *x, float *out, int fast) {
    begin(net, x);
    for (int64_t t = net->start; t < net->start + net->steps; ++t) step(net, t, fast);
    end(net, out);
}

static int64_t run_time(const gb_lpcnet *net, const float *x, float *out, int64_t loops, int fast) {
    const int64_t t0 = gb_now_ns();
    for (int64_t i = 0; i < loops; ++i) {
        run(net, x, out, fast);
        GB_BARRIER();
    }
    return gb_now_ns() - t0;
}

int64_t gb_lpcnet_run_time(gb_lpcnet *net, const float *x, float *out, int64_t loops) {
    return net->activation == GB_ACTIVATION_FAST ? run_time(net, x, out, loops, 1) : run_time(net, x, out, loops, 0);
}

GB_INLINE void part(const gb_lpcnet *net, int64_t which, int64_t t, int fast) {
    switch (which) {
    case GB_PART_CONDITIONING: project(net, t); break;
    case GB_PART_GRU_A_PRODUCT: product(&net->gru_a, net->ha, net->ra, t & 1); break;
    case GB_PART_GRU_A_GATES: gru_a_gates(net, t, fast); break;
    case GB_PART_GRU_B: gru_b(net, fast); break;
    case GB_PART_OUTPUT: output(net, t, fast); break;
    }
}

/* t cycles over the call's samples, so the gather reads the tables rows the sequence reads
 * and the tree draws what the sequence draws. */
static int64_t part_time(const gb_lpcnet *net, int64_t which, int64_t loops, int fast) {
    int64_t t = net->start;
    int64_t t0 = gb_now_ns();
    for (int64_t i = 0; i < loops; ++i) {
        part(net, which, t, fast);
        GB_BARRIER();
        if (++t == net->start + net->steps) t = net->start;
    }
    return gb_now_ns() - t0;
}

int64_t gb_lpcnet_part_time(gb_lpcnet *net, int64_t which, int64_t loops) {
    return net->activation == GB_ACTIVATION_FAST ? part_time(net, which, loops, 1) : part_time(net, which, loops, 0);
}

GB_INLINE v16f activation(int64_t fn, v16f v) {
    switch (fn) {
    case GB_FN_EXP: return v16_exp(v);
    case GB_FN_SIGMOID: return v16_sigmoid(v);
    case GB_FN_TANH: return v16_tanh(v);
    case GB_FN_SIGMOID_FAST: return v16_sigmoid_fast(v);
    default: return v16_tanh_fast(v);
    }
}

void gb_activation(int64_t fn, const float *x, int64_t n, float *y) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) v16_storeu(y + i, activation(fn, v16_loadu(x + i)));
    if (i < n) {
        float lanes[16];
        pad_rows(x + i, n - i, 0.0f, lanes);
        v16_store_rows(y + i, activation(fn, v16_loadu(lanes)), n - i);
    }
}
