/* The measured call: a gb_call (a prepared product bound to x and y) run once or `loops` times. */
#define _GNU_SOURCE /* RUSAGE_THREAD */
#include <sys/resource.h>
#include "gb_internal.h"
#include "gb_kernels.h"
#include "gb_simd.h"

int64_t gb_abi_version(void) { return GB_ABI_VERSION; }
const char *gb_isa(void) { return GB_ISA; }

static gbi_kernel *const kernels[GB_KINDS] = {
    [GB_DENSE_F32] = gbi_dense_f32,   [GB_SPARSE16_F32] = gbi_sparse16_f32,   [GB_DENSE_INT8] = gbi_dense_int8,
    [GB_SPARSE8X4_INT8] = gbi_sparse8x4_int8, [GB_DENSE_BF16] = gbi_dense_bf16, [GB_SPARSE16_BF16] = gbi_sparse16_bf16,
#if defined(GBI_AMX_INT8)
    [GB_AMX_INT8] = gbi_amx_int8,
#endif
#if defined(GBI_AMX_BF16)
    [GB_AMX_BF16] = gbi_amx_bf16,
#endif
    [GB_DENSE_FP16] = gbi_dense_fp16, [GB_SPARSE16_FP16] = gbi_sparse16_fp16,
};

void gbi_product(const gb_product *a, const float *x, float *y, int64_t n, int64_t backwards) {
    kernels[a->kind](a, x, y, n, backwards);
}

/* This call's direction, and the next one's (see gb_internal.h). */
GB_INLINE int64_t next_direction(gb_call *c) {
    if (c->a.bytes <= GB_ALTERNATE_BYTES) return 0;
    const int64_t now = c->backwards;
    c->backwards = !now;
    return now;
}

void gb_call_run(gb_call *c) { kernels[c->a.kind](&c->a, c->x, c->y, c->n, next_direction(c)); }

int64_t gb_call_time(gb_call *c, int64_t loops) {
    gbi_kernel *const kernel = kernels[c->a.kind];
    const int64_t t0 = gb_now_ns();
    for (int64_t i = 0; i < loops; ++i) {
        kernel(&c->a, c->x, c->y, c->n, next_direction(c));
        GB_BARRIER();
    }
    return gb_now_ns() - t0;
}

/* The thread's involuntary context switches so far; -1 where the OS does not count them per thread. */
static int64_t switches(void) {
#if defined(RUSAGE_THREAD)
    struct rusage usage;
    return getrusage(RUSAGE_THREAD, &usage) == 0 ? (int64_t)usage.ru_nivcsw : -1;
#else
    return -1;
#endif
}

static int64_t thread_cpu_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Nested windows: switches around CPU time around the wall-clock loop. */
void gb_call_sample(gb_call *c, int64_t loops, int64_t *clocks) {
    const int64_t switches0 = switches();
    const int64_t cpu0 = thread_cpu_ns();
    clocks[0] = gb_call_time(c, loops);
    clocks[1] = thread_cpu_ns() - cpu0;
    const int64_t switches1 = switches();
    clocks[2] = switches0 < 0 || switches1 < 0 ? -1 : switches1 - switches0;
}

void gb_noop(gb_call *c) { (void)c; }

static int64_t round_up(int64_t v, int64_t to) { return (v + to - 1) / to * to; }

int64_t gb_act_bytes(int64_t kind, int64_t k) {
    switch (kind) {
    case GB_DENSE_INT8: return round_up(k, 4) * 64; /* the GEMM's pass of 64 quantized columns (gemm.c) */
    case GB_SPARSE8X4_INT8: return round_up(k, 64);
    case GB_DENSE_BF16:
    case GB_SPARSE16_BF16: return 2 * round_up(k, 32);
    case GB_AMX_INT8:
    case GB_AMX_BF16: return gbi_amx_act_bytes(kind, k);
    case GB_DENSE_FP16:
    case GB_SPARSE16_FP16: return 32 * round_up(k, 2);
    default: return 0;
    }
}
