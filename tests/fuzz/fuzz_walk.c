/*
 * fuzz_walk.c - see fuzz_walk.h.  Reads one input through each entry point
 * of nova/dicom.h, calls every getter on every element (items recursively),
 * decodes a bounded set of frames, and feeds the raw bytes to each codec of
 * nova/codec.h directly, checking the API's promises on the way.
 */
#include "fuzz_walk.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void violate(char *violation, const char *format, ...) NOVA_PRINTF(2, 3);

static void violate(char *violation, const char *format, ...)
{
    if (violation[0] != '\0')
        return; /* keep the first */
    va_list ap;
    va_start(ap, format);
    vsnprintf(violation, 256, format, ap);
    va_end(ap);
}

/* Read the first and the last byte, so the sanitizers see a value that does
 * not lie inside its buffer and the optimiser cannot drop the read. */
static void touch(const uint8_t *p, size_t len)
{
    volatile uint8_t sink = 0;
    if (len > 0)
        sink = (uint8_t)(p[0] ^ p[len - 1]);
    (void)sink;
}

void fuzz_result_clear(FuzzResult *r)
{
    nova_error_free(r->error);
    memset(r, 0, sizeof *r);
}

/* A call that returned failure must say why (nova/core.h). */
static void check_failed_call(FuzzResult *r, NovaError **err, const char *call,
                              uint32_t tag)
{
    if (*err == NULL)
        violate(r->violation, "%s (%04X,%04X) failed without an error", call,
                NOVA_TAG_GROUP(tag), NOVA_TAG_ELEMENT(tag));
    nova_error_clear(err);
}

static void walk_element(const NovaDataset *ds, const NovaElementInfo *e,
                         FuzzResult *r, int depth);

/* VRs whose VM is the number of numeric values the getters can read (for
 * OB, OW, UN and the like the VM is 1 whatever the length). */
static bool counts_numbers(NovaVR vr)
{
    switch (vr) {
    case NOVA_VR_US:
    case NOVA_VR_SS:
    case NOVA_VR_UL:
    case NOVA_VR_SL:
    case NOVA_VR_SV:
    case NOVA_VR_UV:
    case NOVA_VR_FL:
    case NOVA_VR_FD:
    case NOVA_VR_AT:
    case NOVA_VR_IS:
    case NOVA_VR_DS: return true;
    default: return false;
    }
}

static void walk(const NovaDataset *ds, FuzzResult *r, int depth)
{
    size_t n = nova_dataset_count(ds);
    (void)nova_dataset_get_charset(ds);
    (void)nova_dataset_get_source_name(ds);
    for (size_t i = 0; i < n && i < FUZZ_MAX_ELEMENTS; i++) {
        NovaElementInfo e;
        if (!nova_dataset_element_at(ds, i, &e)) {
            violate(r->violation, "element_at(%zu) failed, count is %zu", i, n);
            return;
        }
        r->elements_visited++;
        walk_element(ds, &e, r, depth);
        NovaElementInfo found;
        if (!nova_dataset_find(ds, e.tag, &found) ||
            !nova_dataset_has(ds, e.tag))
            violate(r->violation, "element (%04X,%04X) listed but not found",
                    NOVA_TAG_GROUP(e.tag), NOVA_TAG_ELEMENT(e.tag));
    }
    NovaElementInfo past;
    if (nova_dataset_element_at(ds, n, &past))
        violate(r->violation, "element_at(count) succeeded");
}

static void walk_element(const NovaDataset *ds, const NovaElementInfo *e,
                         FuzzResult *r, int depth)
{
    uint32_t tag = e->tag;
    NovaError *err = NULL;
    (void)nova_vr_name(e->vr);
    (void)nova_vr_is_string(e->vr);
    const NovaDictEntry *d = nova_dict_lookup_tag(tag);
    /* Entries for one tag (not repeating groups such as the generic group
     * length (gggg,0000)) must be found again by keyword. */
    if (d && d->mask == 0xFFFFFFFFu && d->keyword && d->keyword[0] &&
        nova_dict_lookup_keyword(d->keyword) == NULL)
        violate(r->violation, "keyword %s of (%04X,%04X) not found", d->keyword,
                NOVA_TAG_GROUP(tag), NOVA_TAG_ELEMENT(tag));
    size_t vm = nova_dataset_get_vm(ds, tag);

    if (e->vr == NOVA_VR_SQ) {
        size_t items = nova_dataset_get_item_count(ds, tag);
        size_t limit = items < FUZZ_MAX_ITEMS ? items : FUZZ_MAX_ITEMS;
        for (size_t i = 0; i < limit; i++) {
            const NovaDataset *item = nova_dataset_get_item(ds, tag, i);
            if (!item) {
                violate(r->violation, "item %zu of %zu of (%04X,%04X) NULL", i,
                        items, NOVA_TAG_GROUP(tag), NOVA_TAG_ELEMENT(tag));
                continue;
            }
            if (nova_dataset_get_parent(item) != ds)
                violate(r->violation, "item's parent is not its dataset");
            if (depth > NOVA_DICOM_MAX_DEPTH + 1)
                violate(r->violation, "items nested %d deep, limit %d", depth,
                        NOVA_DICOM_MAX_DEPTH);
            else
                walk(item, r, depth + 1);
        }
        if (nova_dataset_get_item(ds, tag, items) != NULL)
            violate(r->violation, "item past the last one returned");
        /* Sequence values are not bytes or text; the getters must refuse
         * them cleanly, whatever they answer. */
        size_t len;
        (void)nova_dataset_get_bytes(&err, ds, tag, &len);
        nova_error_clear(&err);
        return;
    }
    if (e->encapsulated) {
        size_t len;
        (void)nova_dataset_get_bytes(&err, ds, tag, &len);
        nova_error_clear(&err);
        return;
    }

    size_t len = 0;
    const uint8_t *bytes = nova_dataset_get_bytes(&err, ds, tag, &len);
    if (!bytes) {
        check_failed_call(r, &err, "get_bytes", tag);
        return; /* e.g. deferred pixel data past the end of a stream */
    }
    touch(bytes, len);

    /* Text forms: skip megabytes of pixel data formatted as numbers. */
    if (len <= 65536) {
        char *s = nova_dataset_get_string(&err, ds, tag);
        if (s)
            nova_free(s);
        else
            check_failed_call(r, &err, "get_string", tag);
    }
    size_t limit = vm < 4 ? vm : 4;
    for (size_t i = 0; i <= limit; i++) {
        char buf[72];
        char tiny[2];
        if (!nova_dataset_get_string_value(&err, ds, tag, i, buf, sizeof buf))
            check_failed_call(r, &err, "get_string_value", tag);
        if (!nova_dataset_get_string_value(&err, ds, tag, i, tiny, sizeof tiny))
            check_failed_call(r, &err, "get_string_value", tag);
        int64_t iv;
        double dv;
        bool ok_i = nova_dataset_get_int(&err, ds, tag, i, &iv);
        if (!ok_i)
            check_failed_call(r, &err, "get_int", tag);
        bool ok_d = nova_dataset_get_double(&err, ds, tag, i, &dv);
        if (!ok_d)
            check_failed_call(r, &err, "get_double", tag);
        if (i == vm && vm > 0 && (ok_i || ok_d) && counts_numbers(e->vr))
            violate(r->violation, "value %zu of (%04X,%04X) read, VM is %zu", i,
                    NOVA_TAG_GROUP(tag), NOVA_TAG_ELEMENT(tag), vm);
    }
    if (vm > 0) {
        double values[6];
        size_t n = vm < 6 ? vm : 6;
        if (!nova_dataset_get_doubles(&err, ds, tag, values, n))
            check_failed_call(r, &err, "get_doubles", tag);
    }
}

void fuzz_walk_dataset(const NovaDataset *ds, FuzzResult *r)
{
    walk(ds, r, 1);
}

static void record(FuzzResult *r, NovaError **err, const char *stage)
{
    if (*err == NULL) {
        violate(r->violation, "%s failed without an error", stage);
        return;
    }
    if (r->error == NULL) {
        r->error = *err;
        r->stage = stage;
        *err = NULL;
    } else {
        nova_error_clear(err);
    }
}

void fuzz_decode_frames(const NovaDataset *ds, FuzzResult *r)
{
    NovaError *err = NULL;
    NovaImageInfo info;
    r->has_pixels = nova_dataset_has(ds, NOVA_TAG_PIXEL_DATA);
    if (!nova_dataset_get_image_info(&err, ds, &info)) {
        if (r->has_pixels)
            record(r, &err, "image info");
        nova_error_clear(&err);
        return;
    }
    if (!r->has_pixels)
        return;
    size_t frame_bytes = nova_image_frame_bytes(&info);
    if (frame_bytes == 0 || frame_bytes > FUZZ_MAX_FRAME_BYTES)
        return;
    uint8_t *out = malloc(frame_bytes);
    if (!out)
        return;
    /* The frames to decode: the first few and the last, which exercises
     * the offset arithmetic at the far end of the pixel data. */
    uint32_t list[FUZZ_MAX_FRAMES + 1];
    uint32_t n = 0;
    for (uint32_t f = 0; f < info.frames && f < FUZZ_MAX_FRAMES; f++)
        list[n++] = f;
    if (info.frames > FUZZ_MAX_FRAMES)
        list[n++] = info.frames - 1;
    for (uint32_t i = 0; i < n; i++) {
        if (!nova_dataset_decode_frame(&err, ds, list[i], out, frame_bytes)) {
            record(r, &err, "decode");
            break;
        }
        r->frames_decoded++;
        touch(out, frame_bytes);
    }
    if (info.frames < UINT32_MAX &&
        nova_dataset_decode_frame(&err, ds, info.frames, out, frame_bytes))
        violate(r->violation, "frame %u of %u decoded", info.frames + 1,
                info.frames);
    nova_error_clear(&err);
    if (frame_bytes > 1 &&
        nova_dataset_decode_frame(&err, ds, 0, out, frame_bytes - 1))
        violate(r->violation, "frame decoded into a buffer too small");
    nova_error_clear(&err);
    const uint8_t *bytes;
    size_t len;
    bool must_free;
    if (nova_dataset_get_frame_bytes(&err, ds, 0, &bytes, &len, &must_free)) {
        touch(bytes, len);
        if (must_free)
            nova_free((void *)bytes);
    }
    nova_error_clear(&err);
    free(out);
}

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t pos;
    size_t chunk;
} ChunkSource;

static ssize_t read_chunk(void *user, void *buf, size_t n)
{
    ChunkSource *s = user;
    size_t left = s->size - s->pos;
    if (n > s->chunk)
        n = s->chunk;
    if (n > left)
        n = left;
    memcpy(buf, s->data + s->pos, n);
    s->pos += n;
    return (ssize_t)n;
}

static void after_read(NovaDataset *ds, NovaError **err, FuzzResult *r)
{
    if (!ds) {
        record(r, err, "read");
        return;
    }
    r->parsed = true;
    if (nova_dataset_get_transfer_syntax(ds) == NULL)
        violate(r->violation, "parsed dataset without a transfer syntax");
    fuzz_walk_dataset(ds, r);
    fuzz_decode_frames(ds, r);
    nova_dataset_destroy(ds);
}

void fuzz_run_memory(const uint8_t *data, size_t size, const char *name,
                     unsigned flags, size_t chunk, FuzzResult *r)
{
    NovaError *err = NULL;
    NovaDataset *ds;
    /* The source outlives the dataset: a header-only dataset reads its
     * pixel data through the callback later. */
    ChunkSource src = {data, size, 0, chunk};
    if (chunk > 0) {
        ds = nova_dataset_read_callback(&err, read_chunk, &src, name, flags);
    } else {
        ds = nova_dataset_read_memory(&err, data, size, name, flags);
    }
    after_read(ds, &err, r);
}

void fuzz_run_file(const char *path, unsigned flags, FuzzResult *r)
{
    NovaError *err = NULL;
    NovaDataset *ds = nova_dataset_read_file(&err, path, flags);
    after_read(ds, &err, r);
}

bool fuzz_codecs_raw(const uint8_t *data, size_t size, char *violation)
{
    static const char *const uids[] = {
        "1.2.840.10008.1.2.5",    /* RLE Lossless */
        "1.2.840.10008.1.2.4.50", /* JPEG Baseline */
        "1.2.840.10008.1.2.4.57", /* JPEG Lossless */
        "1.2.840.10008.1.2.4.80", /* JPEG-LS */
        "1.2.840.10008.1.2.4.90", /* JPEG 2000 */
    };
    /* A few small shapes; the input's last byte picks one, so mutations
     * reach each. */
    static const NovaImageInfo shapes[] = {
        {8, 8, 1, 1, 8, 8, 7, 0, 0, NOVA_PHOTOMETRIC_MONOCHROME2},
        {8, 8, 1, 1, 16, 12, 11, 1, 0, NOVA_PHOTOMETRIC_MONOCHROME2},
        {4, 4, 1, 3, 8, 8, 7, 0, 0, NOVA_PHOTOMETRIC_YBR_FULL_422},
        {3, 5, 1, 1, 16, 16, 15, 0, 0, NOVA_PHOTOMETRIC_MONOCHROME2},
        {4, 6, 1, 3, 8, 8, 7, 0, 1, NOVA_PHOTOMETRIC_RGB},
    };
    if (size == 0)
        return true;
    const NovaImageInfo *info =
        &shapes[data[size - 1] % (sizeof shapes / sizeof shapes[0])];
    size_t need = nova_image_frame_bytes(info);
    uint8_t *out = malloc(need);
    if (!out)
        return true;
    bool ok = true;
    for (size_t i = 0; i < sizeof uids / sizeof uids[0]; i++) {
        const NovaTransferSyntax *ts = nova_transfer_syntax_lookup(uids[i]);
        if (!ts) {
            violate(violation, "transfer syntax %s unknown", uids[i]);
            ok = false;
            continue;
        }
        NovaError *err = NULL;
        if (!nova_codec_decode(&err, ts, info, data, size, out, need)) {
            if (!err) {
                violate(violation, "%s failed without an error", ts->name);
                ok = false;
            }
            nova_error_free(err);
        }
    }
    free(out);
    return ok;
}

static bool check_read_error(const FuzzResult *r, const char *name,
                             char *violation)
{
    if (!r->error || strcmp(r->stage, "read") != 0 ||
        nova_error_code(r->error) == NOVA_ERROR_NOMEM)
        return true;
    const char *msg = nova_error_message(r->error);
    if (!strstr(msg, name) || !strstr(msg, "offset ")) {
        violate(violation, "read error without the name or an offset: %s", msg);
        return false;
    }
    return true;
}

bool fuzz_one_input(const uint8_t *data, size_t size, char *violation)
{
    static const char name[] = "fuzz-input";
    FuzzResult whole = {0}, header = {0};
    /* The whole input, borrowed, so every read past its end is a
     * sanitizer error rather than a read of slack in a copy. */
    fuzz_run_memory(data, size, name, NOVA_READ_BORROW, 0, &whole);
    /* Header only, through small reads: the progressive reader and the
     * deferred pixel load.  The chunk size varies with the input. */
    unsigned strict = (size & 1) ? NOVA_READ_STRICT : 0;
    fuzz_run_memory(data, size, name, NOVA_READ_HEADER_ONLY | strict,
                    1 + size % 61, &header);
    bool ok = true;
    if (whole.violation[0]) {
        violate(violation, "%s", whole.violation);
        ok = false;
    } else if (header.violation[0]) {
        violate(violation, "header-only: %s", header.violation);
        ok = false;
    }
    ok = check_read_error(&whole, name, violation) && ok;
    ok = check_read_error(&header, name, violation) && ok;
    /* A header-only read stops before Pixel Data, so it parses a prefix of
     * what the whole read parsed. */
    if (whole.parsed && !header.parsed && !strict) {
        violate(violation, "whole input parses, header-only read fails: %s",
                nova_error_message(header.error));
        ok = false;
    }
    fuzz_result_clear(&whole);
    fuzz_result_clear(&header);
    return fuzz_codecs_raw(data, size, violation) && ok;
}
