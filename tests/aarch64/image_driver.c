/* Runs csimd's kernels from a library built for another machine (aarch64, under qemu-aarch64),
 * on buffers the Python side prepared: tests/qemu_aarch64.py writes them as an "image".
 *
 *   image_driver LIB info                 the library's identity and struct layouts, as text
 *   image_driver LIB run IMAGE OUT ...    run each image's entry; its outputs, in order, into its OUT
 *
 * An image (all integers int64, little-endian; every byte run padded to 8):
 *   "GBIMAGE1"
 *   entry (0: gb_call_run, 1: gb_lpcnet_step), a0, a1
 *       call:   a0 = calls; y is written out after each
 *       lpcnet: a0 = first sample, a1 = samples, one gb_lpcnet_step each as lpcnet.py runs them
 *   struct size, struct bytes          a gb_call or gb_lpcnet as the Python mirror holds it
 *   blobs, then per blob: size, bytes  every array the struct points into (copied 64-byte aligned)
 *   relocations, then per one: field offset in the struct, blob, offset in the blob
 *   in blob, out blob                  (-1 for none) lpcnet: x read at the first sample, out
 *                                      written at the last; call: out is y's blob
 * No timing: this is a correctness check of cross-built code. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *what, const char *detail) {
    fprintf(stderr, "image_driver: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(2);
}

static void *symbol(void *lib, const char *name) {
    void *p = dlsym(lib, name);
    if (!p) die("missing symbol", name);
    return p;
}

static int64_t get64(FILE *f) {
    int64_t v;
    if (fread(&v, 8, 1, f) != 1) die("image truncated", NULL);
    return v;
}

/* n bytes into fresh 64-byte aligned, zero-padded memory; the file position moves past the padding. */
static uint8_t *get_bytes(FILE *f, int64_t n) {
    const int64_t padded = (n + 7) / 8 * 8;
    uint8_t *p = aligned_alloc(64, (size_t)((padded + 64) / 64 * 64));
    if (!p) die("out of memory", NULL);
    memset(p, 0, (size_t)padded);
    if (padded && fread(p, 1, (size_t)padded, f) != (size_t)padded) die("image truncated", NULL);
    return p;
}

static void info(void *lib) {
    int64_t (*abi)(void) = symbol(lib, "gb_abi_version");
    const char *(*isa)(void) = symbol(lib, "gb_isa");
    int64_t (*wmin)(void) = symbol(lib, "gb_int8_weight_min"), (*wmax)(void) = symbol(lib, "gb_int8_weight_max");
    int64_t (*offset)(void) = symbol(lib, "gb_int8_act_offset");
    int64_t (*rounds)(void) = symbol(lib, "gb_bf16_rounds_activations");
    int64_t (*size)(const char *) = symbol(lib, "gb_struct_size");
    const char *(*field)(const char *, int64_t, int64_t *, int64_t *) = symbol(lib, "gb_struct_field");
    printf("isa %s\nabi %lld\nint8_range %lld %lld\nint8_act_offset %lld\nbf16_rounds_activations %lld\n", isa(),
           (long long)abi(), (long long)wmin(), (long long)wmax(), (long long)offset(), (long long)rounds());
    static const char *const structs[] = {"gb_product", "gb_call", "gb_lpcnet"};
    for (size_t s = 0; s < sizeof structs / sizeof *structs; ++s) {
        printf("struct %s %lld\n", structs[s], (long long)size(structs[s]));
        int64_t off, width;
        const char *name;
        for (int64_t i = 0; (name = field(structs[s], i, &off, &width)); ++i)
            printf("field %s %s %lld %lld\n", structs[s], name, (long long)off, (long long)width);
    }
}

static void run(void *lib, const char *image, const char *out_path) {
    FILE *f = fopen(image, "rb");
    if (!f) die("cannot open", image);
    char magic[8];
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "GBIMAGE1", 8)) die("not an image", image);
    const int64_t entry = get64(f), a0 = get64(f), a1 = get64(f);
    const int64_t struct_size = get64(f);
    uint8_t *block = get_bytes(f, struct_size);
    const int64_t nblobs = get64(f);
    uint8_t **blobs = calloc((size_t)nblobs, sizeof *blobs);
    int64_t *sizes = calloc((size_t)nblobs, sizeof *sizes);
    for (int64_t b = 0; b < nblobs; ++b) {
        sizes[b] = get64(f);
        blobs[b] = get_bytes(f, sizes[b]);
    }
    const int64_t nrel = get64(f);
    for (int64_t r = 0; r < nrel; ++r) {
        const int64_t at = get64(f), b = get64(f), offset = get64(f);
        if (at < 0 || at + 8 > struct_size || b < 0 || b >= nblobs || offset < 0 || offset > sizes[b])
            die("relocation out of range", image);
        uint8_t *target = blobs[b] + offset;
        memcpy(block + at, &target, 8);
    }
    const int64_t in = get64(f), out = get64(f);
    fclose(f);
    if (out < 0 || out >= nblobs || in >= nblobs) die("no output blob", image);
    FILE *o = fopen(out_path, "wb");
    if (!o) die("cannot write", out_path);
    if (entry == 0) {
        void (*call_run)(void *) = symbol(lib, "gb_call_run");
        for (int64_t i = 0; i < a0; ++i) {
            call_run(block);
            fwrite(blobs[out], 1, (size_t)sizes[out], o);
        }
    } else if (entry == 1) {
        void (*step)(void *, int64_t, const float *, float *) = symbol(lib, "gb_lpcnet_step");
        const float *x = in >= 0 ? (const float *)blobs[in] : NULL;
        float *y = (float *)blobs[out];
        for (int64_t t = a0; t < a0 + a1; ++t) step(block, t, t == a0 ? x : NULL, t == a0 + a1 - 1 ? y : NULL);
        fwrite(blobs[out], 1, (size_t)sizes[out], o);
    } else {
        die("unknown entry", image);
    }
    if (fclose(o)) die("cannot write", out_path);
}

int main(int argc, char **argv) {
    if (argc < 3) die("usage: image_driver LIB info | image_driver LIB run IMAGE OUT [IMAGE OUT ...]", NULL);
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) die("dlopen failed", dlerror());
    if (!strcmp(argv[2], "info")) {
        info(lib);
    } else if (!strcmp(argv[2], "run") && argc >= 5 && argc % 2 == 1) {
        for (int i = 3; i < argc; i += 2) run(lib, argv[i], argv[i + 1]);
    } else {
        die("unknown command", argv[2]);
    }
    return 0;
}
