/* Internal: 16-lane float vectors over whichever ISA the compiler flags enable, and the
 * timing helpers. The kernels are written once against these and compile to one zmm,
 * two ymm or sixteen scalars. */
#ifndef GB_SIMD_H
#define GB_SIMD_H

#include <stdint.h>
#include <time.h>

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

#define GB_INLINE static inline __attribute__((always_inline))
/* Keeps the timed loop honest: outputs must be stored and inputs reloaded each round. */
#define GB_BARRIER() __asm__ __volatile__("" ::: "memory")
#define GB_TIME_LOOP(loops, call)                                   \
    do {                                                            \
        int64_t t0_ = gb_now_ns();                                  \
        for (int64_t i_ = 0; i_ < (loops); ++i_) {                  \
            call;                                                   \
            GB_BARRIER();                                           \
        }                                                           \
        return gb_now_ns() - t0_;                                   \
    } while (0)

GB_INLINE int64_t gb_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

#if defined(__AVX512F__)
typedef __m512 v16f;
GB_INLINE v16f v16_zero(void) { return _mm512_setzero_ps(); }
GB_INLINE v16f v16_load(const float *p) { return _mm512_load_ps(p); }
GB_INLINE v16f v16_loadu(const float *p) { return _mm512_loadu_ps(p); }
GB_INLINE void v16_storeu(float *p, v16f a) { _mm512_storeu_ps(p, a); }
GB_INLINE v16f v16_set1(float a) { return _mm512_set1_ps(a); }
GB_INLINE v16f v16_fma(v16f a, v16f b, v16f c) { return _mm512_fmadd_ps(a, b, c); }
GB_INLINE v16f v16_mul(v16f a, v16f b) { return _mm512_mul_ps(a, b); }
GB_INLINE v16f v16_add(v16f a, v16f b) { return _mm512_add_ps(a, b); }
#elif defined(__AVX2__)
typedef struct { __m256 lo, hi; } v16f;
GB_INLINE v16f v16_zero(void) { return (v16f){_mm256_setzero_ps(), _mm256_setzero_ps()}; }
GB_INLINE v16f v16_load(const float *p) { return (v16f){_mm256_load_ps(p), _mm256_load_ps(p + 8)}; }
GB_INLINE v16f v16_loadu(const float *p) { return (v16f){_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
GB_INLINE void v16_storeu(float *p, v16f a) { _mm256_storeu_ps(p, a.lo); _mm256_storeu_ps(p + 8, a.hi); }
GB_INLINE v16f v16_set1(float a) { __m256 b = _mm256_set1_ps(a); return (v16f){b, b}; }
GB_INLINE v16f v16_fma(v16f a, v16f b, v16f c) {
    return (v16f){_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)};
}
GB_INLINE v16f v16_mul(v16f a, v16f b) { return (v16f){_mm256_mul_ps(a.lo, b.lo), _mm256_mul_ps(a.hi, b.hi)}; }
GB_INLINE v16f v16_add(v16f a, v16f b) { return (v16f){_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)}; }
#else
#define GB_SCALAR 1
typedef struct { float v[16]; } v16f;
GB_INLINE v16f v16_zero(void) { v16f r = {{0}}; return r; }
GB_INLINE v16f v16_loadu(const float *p) { v16f r; for (int i = 0; i < 16; ++i) r.v[i] = p[i]; return r; }
GB_INLINE v16f v16_load(const float *p) { return v16_loadu(p); }
GB_INLINE void v16_storeu(float *p, v16f a) { for (int i = 0; i < 16; ++i) p[i] = a.v[i]; }
GB_INLINE v16f v16_set1(float a) { v16f r; for (int i = 0; i < 16; ++i) r.v[i] = a; return r; }
GB_INLINE v16f v16_fma(v16f a, v16f b, v16f c) { for (int i = 0; i < 16; ++i) c.v[i] += a.v[i] * b.v[i]; return c; }
GB_INLINE v16f v16_mul(v16f a, v16f b) { for (int i = 0; i < 16; ++i) a.v[i] *= b.v[i]; return a; }
GB_INLINE v16f v16_add(v16f a, v16f b) { for (int i = 0; i < 16; ++i) a.v[i] += b.v[i]; return a; }
#endif

/* Store the first `rows` lanes: a full store, or through a stack buffer for the ragged last panel. */
GB_INLINE void v16_store_rows(float *y, v16f a, int rows) {
    if (rows >= 16) {
        v16_storeu(y, a);
        return;
    }
    float tmp[16];
    v16_storeu(tmp, a);
    for (int i = 0; i < rows; ++i) y[i] = tmp[i];
}

/* y[r] += diag[r] * x[r % k] for 16 rows starting at r0, shared by the sparse kernels. */
GB_INLINE v16f v16_diag_term(const float *diag, const float *x, int k, int r0) {
    int c0 = r0 % k;
    if (c0 + 16 <= k) return v16_mul(v16_loadu(diag + r0), v16_loadu(x + c0));
    float xs[16];
    for (int i = 0; i < 16; ++i) xs[i] = x[(r0 + i) % k];
    return v16_mul(v16_loadu(diag + r0), v16_loadu(xs));
}

#endif
