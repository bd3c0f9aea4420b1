/* The layout of every struct kernels.py mirrors with ctypes, as this compiler lays it out:
 * the wrapper compares each field's offset and size with its mirror's when it loads the
 * library (kernels.check_layout), so a field moved, retyped or missing on either side is an
 * error naming the field, not a silent misread. */
#include <stddef.h>
#include <string.h>

#include "gb_kernels.h"

typedef struct {
    const char *name;
    int64_t offset, size;
} field;

#define FIELD(type, f) {#f, offsetof(type, f), sizeof(((type *)0)->f)}
#define END {.name = NULL}

static const field product_fields[] = {
    FIELD(gb_product, kind),  FIELD(gb_product, m),     FIELD(gb_product, k),    FIELD(gb_product, bytes),
    FIELD(gb_product, w),     FIELD(gb_product, idx),   FIELD(gb_product, diag), FIELD(gb_product, scale),
    FIELD(gb_product, corr),  FIELD(gb_product, act),   END};

static const field call_fields[] = {
    FIELD(gb_call, a), FIELD(gb_call, n), FIELD(gb_call, x), FIELD(gb_call, y), FIELD(gb_call, backwards), END};

static const field lpcnet_fields[] = {
    FIELD(gb_lpcnet, hidden_a), FIELD(gb_lpcnet, hidden_b), FIELD(gb_lpcnet, cond_size),
    FIELD(gb_lpcnet, levels), FIELD(gb_lpcnet, frame_size), FIELD(gb_lpcnet, per_sample),
    FIELD(gb_lpcnet, start), FIELD(gb_lpcnet, steps), FIELD(gb_lpcnet, gru_a), FIELD(gb_lpcnet, cond_a),
    FIELD(gb_lpcnet, gru_b_in), FIELD(gb_lpcnet, gru_b_rec), FIELD(gb_lpcnet, cond_b), FIELD(gb_lpcnet, out),
    FIELD(gb_lpcnet, bias_a), FIELD(gb_lpcnet, bias_b), FIELD(gb_lpcnet, tables), FIELD(gb_lpcnet, out_gain),
    FIELD(gb_lpcnet, features), FIELD(gb_lpcnet, inputs), FIELD(gb_lpcnet, ha), FIELD(gb_lpcnet, hb),
    FIELD(gb_lpcnet, ra), FIELD(gb_lpcnet, cond_a_out), FIELD(gb_lpcnet, xb), FIELD(gb_lpcnet, rb),
    FIELD(gb_lpcnet, cond_b_out), FIELD(gb_lpcnet, o), FIELD(gb_lpcnet, p), FIELD(gb_lpcnet, gates), FIELD(gb_lpcnet, activation),
    FIELD(gb_lpcnet, output), FIELD(gb_lpcnet, sampling), FIELD(gb_lpcnet, depth), FIELD(gb_lpcnet, draw_key),
    FIELD(gb_lpcnet, tree), FIELD(gb_lpcnet, thresholds), FIELD(gb_lpcnet, samples), END};

static const struct {
    const char *name;
    int64_t size;
    const field *fields;
} structs[] = {
    {"gb_product", sizeof(gb_product), product_fields},
    {"gb_call", sizeof(gb_call), call_fields},
    {"gb_lpcnet", sizeof(gb_lpcnet), lpcnet_fields},
};

static int64_t find(const char *type) {
    for (size_t i = 0; i < sizeof structs / sizeof structs[0]; ++i)
        if (strcmp(structs[i].name, type) == 0) return i;
    return -1;
}

int64_t gb_struct_size(const char *type) {
    int64_t s = find(type);
    return s < 0 ? -1 : structs[s].size;
}

const char *gb_struct_field(const char *type, int64_t i, int64_t *offset, int64_t *size) {
    int64_t s = find(type);
    if (s < 0 || i < 0) return NULL;
    for (const field *f = structs[s].fields; f->name; ++f, --i)
        if (i == 0) {
            *offset = f->offset;
            *size = f->size;
            return f->name;
        }
    return NULL;
}
