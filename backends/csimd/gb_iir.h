/* The filter-bank kernels of iir.c: a bank of F biquad cascades (S sections) over B signals.
 * Declared apart from gb_kernels.h; their ctypes signatures live in backends/iir/csimd_direct.py.
 *
 * Lanes are filters: GB_IIR_LANES of them per register (16 avx512, 8 avx2, 1 scalar). Filters
 * are padded to whole groups of lanes; padded lanes have zero coefficients and are never stored.
 *
 * packed coefficients: [group][section][b0 b1 b2 a1 a2][lane]          gb_iir_packed_floats(F, S)
 * state (s1, s2 of transposed direct form II, carried between calls):
 *                      [signal][group][section][s1 s2][lane]           gb_iir_state_floats(B, F, S)
 * x:   [B][T];  out:  energy [B][F][T / frame] (sum of squares per frame), full [B][F][T].
 *
 * flags: GB_IIR_FTZ sets flush-to-zero and denormals-are-zero for the call (the control word is
 * saved before and restored after, so the caller's floating-point environment is untouched);
 * GB_IIR_STREAM lets full outputs go out with non-temporal stores when every row is aligned. */
#ifndef GB_IIR_H
#define GB_IIR_H

#include <stdint.h>

#define GB_IIR_FTZ 1
#define GB_IIR_STREAM 2
#define GB_IIR_MAX_SECTIONS 4

int gb_iir_lanes(void);
int gb_iir_chains(int sections);
int64_t gb_iir_packed_floats(int filters, int sections);
int64_t gb_iir_state_floats(int signals, int filters, int sections);
void gb_iir_pack(const float *coeffs /* [F][S][5] */, int filters, int sections, float *packed);
/* Returns 0, or -1 when sections is outside 1..GB_IIR_MAX_SECTIONS. */
int gb_iir_bank(const float *packed, float *state, int signals, int samples, int filters, int sections,
                const float *x, float *out, int energy, int frame, int flags);
int64_t gb_iir_bank_time(const float *packed, float *state, int signals, int samples, int filters, int sections,
                         const float *x, float *out, int energy, int frame, int flags, int64_t loops);
/* The block form (L = length samples per block): packed per group as iir.c describes, state the
 * modal state (2S words per chain); the rest as gb_iir_bank. */
int64_t gb_iir_block_floats(int filters, int sections, int length);
int gb_iir_block(const float *packed, float *state, int signals, int samples, int filters, int sections, int length,
                 const float *x, float *out, int energy, int frame, int flags);
int64_t gb_iir_block_time(const float *packed, float *state, int signals, int samples, int filters, int sections,
                          int length, const float *x, float *out, int energy, int frame, int flags, int64_t loops);
/* Writes `count` floats into out `loops` times (non-temporal stores when `stream` and out is
 * aligned): the floor of any full-output kernel. */
int64_t gb_iir_write_time(float *out, int64_t count, int stream, int64_t loops);
/* The control word a call leaves behind (a test checks it is the one it found). */
uint32_t gb_iir_fp_control(void);

#endif
