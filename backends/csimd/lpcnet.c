/* LPCNet's sample-rate network, one whole sample per call (the math: gemmbench/ops/lpcnet_step.py).
 *
 * The matrix products run the GEMV kernels of dense.c, sparse16.c and int8.c through their
 * internal entry points; everything element-wise is float32 on 16-lane vectors
 * (gb_vmath.h), fused so each gate's inputs are read once: the table gather and the
 * conditioning are added inside GRU-A's gate loop, the biases inside the gate loops. */
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

/* Keras' GRU with reset_after: h = z h + (1 - z) c, written c + z (h - c) as vocoder.py does. */
GB_INLINE v16f gru_lanes(v16f h, const v16f x[3], const v16f r[3]) {
    v16f z = v16_sigmoid(v16_add(x[0], r[0]));
    v16f reset = v16_sigmoid(v16_add(x[1], r[1]));
    v16f c = v16_tanh(v16_add(x[2], v16_mul(reset, r[2])));
    return v16_add(c, v16_mul(z, v16_sub(h, c)));
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

static void project(const gb_lpcnet *net, int64_t t) {
    const int64_t frame = t / net->frame_size, backwards = (net->per_sample ? t : frame) & 1;
    const float *feature = net->features + frame * net->cond_size;
    product(&net->cond_a, feature, net->cond_a_out, backwards);
    product(&net->cond_b, feature, net->cond_b_out, backwards);
}

/* xa = t0 + t1 + t2 + cond (the table gather), ra + bias; the gates update 16 lanes of h. */
GB_INLINE void gru_a_slice(const float *t0, const float *t1, const float *t2, const float *cond, const float *ra,
                           const float *bias, int64_t n, float *h) {
    v16f x[3], r[3];
    for (int64_t g = 0; g < 3; ++g) {
        int64_t at = g * n;
        x[g] = v16_add(v16_add(v16_loadu(t0 + at), v16_loadu(t1 + at)), v16_add(v16_loadu(t2 + at), v16_loadu(cond + at)));
        r[g] = v16_add(v16_loadu(ra + at), v16_loadu(bias + at));
    }
    v16_storeu(h, gru_lanes(v16_loadu(h), x, r));
}

static void gru_a_gates(const gb_lpcnet *net, int64_t t) {
    const int64_t n = net->hidden_a;
    const int64_t row = 3 * n;
    const int32_t *in = net->inputs + 3 * t;
    const float *t0 = net->tables + in[0] * row;
    const float *t1 = net->tables + (net->levels + in[1]) * row;
    const float *t2 = net->tables + (2 * net->levels + in[2]) * row;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        gru_a_slice(t0 + i, t1 + i, t2 + i, net->cond_a_out + i, net->ra + i, net->bias_a + i, n, net->ha + i);
    if (i < n) {
        int64_t rows = n - i;
        float p0[48], p1[48], p2[48], pc[48], pr[48], pb[48], ph[16];
        pad_gates(t0 + i, n, rows, p0), pad_gates(t1 + i, n, rows, p1), pad_gates(t2 + i, n, rows, p2);
        pad_gates(net->cond_a_out + i, n, rows, pc), pad_gates(net->ra + i, n, rows, pr);
        pad_gates(net->bias_a + i, n, rows, pb), pad_rows(net->ha + i, rows, 0.0f, ph);
        gru_a_slice(p0, p1, p2, pc, pr, pb, 16, ph);
        memcpy(net->ha + i, ph, sizeof(float) * rows);
    }
}

/* xb + cond_b, rb + bias_b; the gates update 16 lanes of h. */
GB_INLINE void gru_b_slice(const float *xb, const float *cond, const float *rb, const float *bias, int64_t n, float *h) {
    v16f x[3], r[3];
    for (int64_t g = 0; g < 3; ++g) {
        int64_t at = g * n;
        x[g] = v16_add(v16_loadu(xb + at), v16_loadu(cond + at));
        r[g] = v16_add(v16_loadu(rb + at), v16_loadu(bias + at));
    }
    v16_storeu(h, gru_lanes(v16_loadu(h), x, r));
}

static void gru_b(const gb_lpcnet *net) {
    const int64_t n = net->hidden_b;
    product(&net->gru_b_in, net->ha, net->xb, 0); /* GRU-B and the output layer stay in L1 */
    product(&net->gru_b_rec, net->hb, net->rb, 0);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        gru_b_slice(net->xb + i, net->cond_b_out + i, net->rb + i, net->bias_b + i, n, net->hb + i);
    if (i < n) {
        int64_t rows = n - i;
        float px[48], pc[48], pr[48], pb[48], ph[16];
        pad_gates(net->xb + i, n, rows, px), pad_gates(net->cond_b_out + i, n, rows, pc);
        pad_gates(net->rb + i, n, rows, pr), pad_gates(net->bias_b + i, n, rows, pb);
        pad_rows(net->hb + i, rows, 0.0f, ph);
        gru_b_slice(px, pc, pr, pb, 16, ph);
        memcpy(net->hb + i, ph, sizeof(float) * rows);
    }
}

GB_INLINE v16f logit_slice(const float *a1, const float *a2, const float *o1, const float *o2) {
    return v16_add(v16_mul(v16_loadu(a1), v16_tanh(v16_loadu(o1))), v16_mul(v16_loadu(a2), v16_tanh(v16_loadu(o2))));
}

/* p = softmax(a1 tanh(o1) + a2 tanh(o2)): logits into p, then exp(p - max) / sum. */
static void output(const gb_lpcnet *net) {
    const int64_t levels = net->levels, whole = levels / 16 * 16, rows = levels - whole;
    const float *a1 = net->out_gain, *a2 = net->out_gain + levels, *o1 = net->o, *o2 = net->o + levels;
    float *p = net->p;
    product(&net->out, net->hb, net->o, 0);
    v16f top = v16_set1(-3.4e38f);
    for (int64_t i = 0; i < whole; i += 16) {
        v16f logit = logit_slice(a1 + i, a2 + i, o1 + i, o2 + i);
        v16_storeu(p + i, logit);
        top = v16_max(top, logit);
    }
    if (rows) {
        float q1[16], q2[16], u1[16], u2[16], tail[16];
        pad_rows(a1 + whole, rows, 0.0f, q1), pad_rows(a2 + whole, rows, 0.0f, q2);
        pad_rows(o1 + whole, rows, 0.0f, u1), pad_rows(o2 + whole, rows, 0.0f, u2);
        v16_store_rows(p + whole, logit_slice(q1, q2, u1, u2), rows);
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
    for (int64_t i = whole; i < levels; ++i) p[i] *= inv;
}

static int projects(const gb_lpcnet *net, int64_t t) {
    return net->per_sample || t % net->frame_size == 0 || t == net->start;
}

static void step(const gb_lpcnet *net, int64_t t) {
    if (projects(net, t)) project(net, t);
    product(&net->gru_a, net->ha, net->ra, t & 1);
    gru_a_gates(net, t);
    gru_b(net);
    output(net);
}

static void begin(const gb_lpcnet *net, const float *x) {
    memcpy(net->ha, x, sizeof(float) * net->hidden_a);
    memcpy(net->hb, x + net->hidden_a, sizeof(float) * net->hidden_b);
}

static void end(const gb_lpcnet *net, float *out) {
    memcpy(out, net->ha, sizeof(float) * net->hidden_a);
    memcpy(out + net->hidden_a, net->hb, sizeof(float) * net->hidden_b);
    memcpy(out + net->hidden_a + net->hidden_b, net->p, sizeof(float) * net->levels);
}

void gb_lpcnet_step(gb_lpcnet *net, int64_t t, const float *from, float *to) {
    if (from) begin(net, from);
    step(net, t);
    if (to) end(net, to);
}

static void run(const gb_lpcnet *net, const float *x, float *out) {
    begin(net, x);
    for (int64_t t = net->start; t < net->start + net->steps; ++t) step(net, t);
    end(net, out);
}

int64_t gb_lpcnet_run_time(gb_lpcnet *net, const float *x, float *out, int64_t loops) {
    const int64_t t0 = gb_now_ns();
    for (int64_t i = 0; i < loops; ++i) {
        run(net, x, out);
        GB_BARRIER();
    }
    return gb_now_ns() - t0;
}

static void part(const gb_lpcnet *net, int64_t which, int64_t t) {
    switch (which) {
    case GB_PART_CONDITIONING: project(net, t); break;
    case GB_PART_GRU_A_PRODUCT: product(&net->gru_a, net->ha, net->ra, t & 1); break;
    case GB_PART_GRU_A_GATES: gru_a_gates(net, t); break;
    case GB_PART_GRU_B: gru_b(net); break;
    case GB_PART_OUTPUT: output(net); break;
    }
}

/* t cycles over the call's samples, so the gather reads the tables rows the sequence reads. */
int64_t gb_lpcnet_part_time(gb_lpcnet *net, int64_t which, int64_t loops) {
    int64_t t = net->start;
    int64_t t0 = gb_now_ns();
    for (int64_t i = 0; i < loops; ++i) {
        part(net, which, t);
        GB_BARRIER();
        if (++t == net->start + net->steps) t = net->start;
    }
    return gb_now_ns() - t0;
}

GB_INLINE v16f activation(int64_t fn, v16f v) { return fn == 0 ? v16_exp(v) : fn == 1 ? v16_sigmoid(v) : v16_tanh(v); }

void gb_activation(int64_t fn, const float *x, int64_t n, float *y) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) v16_storeu(y + i, activation(fn, v16_loadu(x + i)));
    if (i < n) {
        float lanes[16];
        pad_rows(x + i, n - i, 0.0f, lanes);
        v16_store_rows(y + i, activation(fn, v16_loadu(lanes)), n - i);
    }
}
