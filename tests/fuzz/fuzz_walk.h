/*
 * fuzz_walk.h - drive every reader, getter and decoder of Nova's DICOM
 * module over one input, for the libFuzzer target (fuzz_dicom.c) and the
 * bad-input replay test (test_bad_input.c), so that both exercise the same
 * code and a fuzz crash replays identically in `make check`.
 *
 * Besides "does not crash", the walk checks API contracts that a broken file
 * must not be able to violate (a failing call sets its error; an index past
 * the end is refused; a frame past the last one does not decode) and reports
 * a violation as text; the fuzz target aborts on one, the test fails.
 */
#ifndef NOVA_FUZZ_WALK_H
#define NOVA_FUZZ_WALK_H

#include "nova/dicom.h"

/* Frames larger than this are not decoded (the allocation would dominate
 * the run and hide nothing the smaller frames do not show). */
#define FUZZ_MAX_FRAME_BYTES ((size_t)64 << 20)
/* Frames decoded per dataset: the first ones and the last. */
#define FUZZ_MAX_FRAMES 8
/* Elements walked per dataset (a deflate bomb of zeros parses into
 * millions). */
#define FUZZ_MAX_ELEMENTS 20000
/* Items visited per sequence. */
#define FUZZ_MAX_ITEMS 256

typedef struct {
    /* The first error of the read, the image info or a frame decode; NULL
     * when everything succeeded. Owned; free with fuzz_result_clear(). */
    NovaError *error;
    const char *stage;       /* "read", "image info", "decode" or NULL */
    bool parsed;             /* the read succeeded */
    bool has_pixels;         /* Pixel Data present */
    size_t elements_visited; /* items included */
    uint32_t frames_decoded;
    char violation[256]; /* a broken API contract, "" when none */
} FuzzResult;

void fuzz_result_clear(FuzzResult *r);

/* Visit every element of ds and its items: each getter, each value. */
void fuzz_walk_dataset(const NovaDataset *ds, FuzzResult *r);

/* Image info, then decode the first FUZZ_MAX_FRAMES frames and the last;
 * the first failure goes to r->error. */
void fuzz_decode_frames(const NovaDataset *ds, FuzzResult *r);

/* Read data (size bytes, labelled name) with the given NovaReadFlags, or
 * through a read callback that returns at most chunk bytes per call when
 * chunk > 0, then walk and decode. */
void fuzz_run_memory(const uint8_t *data, size_t size, const char *name,
                     unsigned flags, size_t chunk, FuzzResult *r);

/* The same for a file (nova_dataset_read_file). */
void fuzz_run_file(const char *path, unsigned flags, FuzzResult *r);

/* Hand the raw bytes to every codec as one frame of a small image whose
 * shape is chosen from the input.  Returns false (with the text in
 * violation, size bytes at least 256) on a broken contract. */
bool fuzz_codecs_raw(const uint8_t *data, size_t size, char *violation);

/* Everything the fuzz target does with one input; violation as above. */
bool fuzz_one_input(const uint8_t *data, size_t size, char *violation);

#endif
