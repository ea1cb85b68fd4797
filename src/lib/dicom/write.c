/*
 * write.c - the DICOM dataset builder and the Part 10 writer.
 *
 * A builder keeps each dataset as an array of elements sorted by tag
 * (insertion keeps the order, so writing needs no sort; PS3.5 7.1 requires
 * increasing tag order).  Values are stored already encoded: little endian
 * and padded to even length (PS3.5 6.2 and 7.1.1: UI and OB pad with NUL,
 * other text with a space).  Sequences are elements holding an array of
 * item datasets; open sequences and items form a stack, and new elements go
 * to the innermost open item.
 *
 * The writer emits explicit VR little endian (PS3.5 7.1.2): 2-byte lengths
 * for most VRs, a reserved word and 4-byte length for OB OD OF OL OV OW SQ
 * UC UN UR UT SV UV.  Sequences and items get defined lengths, computed
 * bottom-up before writing.  Encapsulated Pixel Data (PS3.5 A.4) is the one
 * undefined-length element: a Basic Offset Table item, one fragment per
 * frame, and a sequence delimiter.
 */
#include "nova/dicom_write.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct Element Element;

typedef struct {
    Element *elems;
    size_t n, cap;
} Dataset;

struct Element {
    uint32_t tag;
    NovaVR vr;
    uint8_t *value; /* encoded, even length */
    size_t length;
    /* SQ */
    Dataset *items;
    size_t n_items, cap_items;
    /* encapsulated Pixel Data: value holds the frames back to back, each
     * padded to even length; frame_len[i] the padded length of frame i */
    bool encapsulated;
    size_t *frame_len;
    size_t n_frames;
};

/* One open level: a sequence element and, when begun, its current item. */
typedef struct {
    Element *seq;
    Dataset *item;
} Level;

struct NovaDicomBuilder {
    Dataset root;
    Level stack[NOVA_DICOM_MAX_DEPTH];
    int depth;
};

static void dataset_clear(Dataset *ds);

static void element_clear(Element *e)
{
    nova_free(e->value);
    for (size_t i = 0; i < e->n_items; i++)
        dataset_clear(&e->items[i]);
    nova_free(e->items);
    nova_free(e->frame_len);
    memset(e, 0, sizeof *e);
}

static void dataset_clear(Dataset *ds)
{
    for (size_t i = 0; i < ds->n; i++)
        element_clear(&ds->elems[i]);
    nova_free(ds->elems);
    memset(ds, 0, sizeof *ds);
}

NovaDicomBuilder *nova_dicom_builder_create(NovaError **error)
{
    return nova_calloc(error, 1, sizeof(NovaDicomBuilder));
}

void nova_dicom_builder_destroy(NovaDicomBuilder *b)
{
    if (!b)
        return;
    dataset_clear(&b->root);
    nova_free(b);
}

static Dataset *current(NovaDicomBuilder *b)
{
    return b->depth == 0 ? &b->root : b->stack[b->depth - 1].item;
}

/* The slot for tag in the current dataset, kept sorted: an existing element
 * is cleared for replacement, otherwise a new zeroed slot is inserted. */
static Element *slot(NovaError **error, NovaDicomBuilder *b, uint32_t tag)
{
    if (NOVA_TAG_GROUP(tag) == 0x0002)
        return nova_error_set(error, NOVA_ERROR_INVALID, "invalid element",
                              "(0002,%04X): the File Meta Information group "
                              "is written by the writer",
                              NOVA_TAG_ELEMENT(tag)),
               NULL;
    if (b->depth > 0 && b->stack[b->depth - 1].item == NULL)
        return nova_error_set(error, NOVA_ERROR_INVALID, "builder misuse",
                              "element (%04X,%04X) added inside a sequence "
                              "with no open item",
                              NOVA_TAG_GROUP(tag), NOVA_TAG_ELEMENT(tag)),
               NULL;
    Dataset *ds = current(b);
    size_t lo = 0, hi = ds->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (ds->elems[mid].tag < tag)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < ds->n && ds->elems[lo].tag == tag) {
        element_clear(&ds->elems[lo]);
        ds->elems[lo].tag = tag;
        return &ds->elems[lo];
    }
    if (ds->n == ds->cap) {
        size_t cap = ds->cap ? ds->cap * 2 : 16;
        Element *e = nova_realloc(error, ds->elems, cap * sizeof *e);
        if (!e)
            return NULL;
        ds->elems = e;
        ds->cap = cap;
    }
    memmove(ds->elems + lo + 1, ds->elems + lo,
            (ds->n - lo) * sizeof *ds->elems);
    memset(&ds->elems[lo], 0, sizeof *ds->elems);
    ds->elems[lo].tag = tag;
    ds->n++;
    return &ds->elems[lo];
}

static bool long_length_vr(NovaVR vr)
{
    switch (vr) {
    case NOVA_VR_OB:
    case NOVA_VR_OD:
    case NOVA_VR_OF:
    case NOVA_VR_OL:
    case NOVA_VR_OV:
    case NOVA_VR_OW:
    case NOVA_VR_SQ:
    case NOVA_VR_UC:
    case NOVA_VR_UN:
    case NOVA_VR_UR:
    case NOVA_VR_UT:
    case NOVA_VR_SV:
    case NOVA_VR_UV: return true;
    default: return false;
    }
}

/* Store value bytes padded to even length with pad. */
static bool set_value(NovaError **error, Element *e, NovaVR vr,
                      const void *data, size_t length, uint8_t pad)
{
    size_t padded = length + (length & 1);
    size_t limit = long_length_vr(vr) ? 0xFFFFFFFEu : 0xFFFEu;
    if (padded > limit)
        return nova_error_set(error, NOVA_ERROR_RANGE, "value too long",
                              "(%04X,%04X) %s: %zu bytes exceed the %zu a "
                              "%s length field holds",
                              NOVA_TAG_GROUP(e->tag), NOVA_TAG_ELEMENT(e->tag),
                              nova_vr_name(vr), length, limit,
                              long_length_vr(vr) ? "32-bit" : "16-bit");
    e->vr = vr;
    e->value = nova_malloc(error, padded ? padded : 1);
    if (!e->value)
        return false;
    if (length)
        memcpy(e->value, data, length);
    if (padded != length)
        e->value[length] = pad;
    e->length = padded;
    return true;
}

bool nova_dicom_builder_add_string(NovaError **error, NovaDicomBuilder *b,
                                   uint32_t tag, NovaVR vr, const char *value)
{
    if (!nova_vr_is_string(vr))
        return nova_error_set(error, NOVA_ERROR_INVALID, "invalid VR",
                              "(%04X,%04X): %s is not a text VR",
                              NOVA_TAG_GROUP(tag), NOVA_TAG_ELEMENT(tag),
                              nova_vr_name(vr));
    Element *e = slot(error, b, tag);
    if (!e)
        return false;
    /* PS3.5 6.2: UI values are padded with NUL, other text with a space. */
    return set_value(error, e, vr, value ? value : "",
                     value ? strlen(value) : 0, vr == NOVA_VR_UI ? 0 : ' ');
}

static bool add_binary(NovaError **error, NovaDicomBuilder *b, uint32_t tag,
                       NovaVR vr, const void *values, size_t n, size_t size)
{
    size_t bytes;
    if (!nova_size_mul(n, size, &bytes))
        return nova_error_set(error, NOVA_ERROR_RANGE, "value too long",
                              "(%04X,%04X): %zu values", NOVA_TAG_GROUP(tag),
                              NOVA_TAG_ELEMENT(tag), n);
    Element *e = slot(error, b, tag);
    if (!e)
        return false;
    if (!set_value(error, e, vr, NULL, 0, 0))
        return false;
    nova_free(e->value);
    e->value = nova_malloc(error, bytes ? bytes : 1);
    if (!e->value)
        return false;
    e->length = bytes;
    /* Little endian regardless of the host (PS3.5 7.3). */
    const uint8_t *src = values;
    for (size_t i = 0; i < n; i++) {
        uint64_t v;
        if (size == 2) {
            uint16_t x;
            memcpy(&x, src + i * size, 2);
            v = x;
        } else if (size == 4) {
            uint32_t x;
            memcpy(&x, src + i * size, 4);
            v = x;
        } else {
            memcpy(&v, src + i * size, 8);
        }
        for (size_t k = 0; k < size; k++)
            e->value[i * size + k] = (uint8_t)(v >> (8 * k));
    }
    return true;
}

bool nova_dicom_builder_add_uint16(NovaError **error, NovaDicomBuilder *b,
                                   uint32_t tag, const uint16_t *values,
                                   size_t n)
{
    return add_binary(error, b, tag, NOVA_VR_US, values, n, 2);
}

bool nova_dicom_builder_add_int16(NovaError **error, NovaDicomBuilder *b,
                                  uint32_t tag, const int16_t *values, size_t n)
{
    return add_binary(error, b, tag, NOVA_VR_SS, values, n, 2);
}

bool nova_dicom_builder_add_uint32(NovaError **error, NovaDicomBuilder *b,
                                   uint32_t tag, const uint32_t *values,
                                   size_t n)
{
    return add_binary(error, b, tag, NOVA_VR_UL, values, n, 4);
}

bool nova_dicom_builder_add_doubles(NovaError **error, NovaDicomBuilder *b,
                                    uint32_t tag, const double *values,
                                    size_t n)
{
    return add_binary(error, b, tag, NOVA_VR_FD, values, n, 8);
}

/* PS3.5 6.2 DS: at most 16 bytes; use the most significant digits that
 * fit, and never "-0". */
static void format_ds(double v, char out[17])
{
    if (v == 0.0 || (v > -1e-300 && v < 1e-300)) {
        strcpy(out, "0");
        return;
    }
    for (int prec = 15; prec >= 1; prec--) {
        char buf[40];
        int n = snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (n > 0 && n <= 16) {
            memcpy(out, buf, (size_t)n + 1);
            return;
        }
    }
    snprintf(out, 17, "%.1e", v);
}

bool nova_dicom_builder_add_ds(NovaError **error, NovaDicomBuilder *b,
                               uint32_t tag, const double *values, size_t n)
{
    size_t cap;
    if (!nova_size_mul(n, 17, &cap) || !nova_size_add(cap, 1, &cap))
        return nova_error_set(error, NOVA_ERROR_RANGE, "too many values",
                              "DS with %zu values", n);
    char *text = nova_malloc(error, cap);
    if (!text)
        return false;
    size_t len = 0;
    text[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        char one[17];
        format_ds(values[i], one);
        if (i)
            text[len++] = '\\';
        size_t l = strlen(one);
        memcpy(text + len, one, l + 1);
        len += l;
    }
    bool ok = nova_dicom_builder_add_string(error, b, tag, NOVA_VR_DS, text);
    nova_free(text);
    return ok;
}

bool nova_dicom_builder_add_is(NovaError **error, NovaDicomBuilder *b,
                               uint32_t tag, const int32_t *values, size_t n)
{
    size_t cap;
    if (!nova_size_mul(n, 13, &cap) || !nova_size_add(cap, 1, &cap))
        return nova_error_set(error, NOVA_ERROR_RANGE, "too many values",
                              "IS with %zu values", n);
    char *text = nova_malloc(error, cap);
    if (!text)
        return false;
    size_t len = 0;
    text[0] = '\0';
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(text + len, cap - len, i ? "\\%d" : "%d",
                                (int)values[i]);
    bool ok = nova_dicom_builder_add_string(error, b, tag, NOVA_VR_IS, text);
    nova_free(text);
    return ok;
}

bool nova_dicom_builder_add_bytes(NovaError **error, NovaDicomBuilder *b,
                                  uint32_t tag, NovaVR vr, const void *data,
                                  size_t length)
{
    if (vr == NOVA_VR_SQ || vr == NOVA_VR_NONE || vr >= NOVA_VR_COUNT)
        return nova_error_set(error, NOVA_ERROR_INVALID, "invalid VR",
                              "(%04X,%04X): raw bytes cannot have VR %s",
                              NOVA_TAG_GROUP(tag), NOVA_TAG_ELEMENT(tag),
                              nova_vr_name(vr));
    Element *e = slot(error, b, tag);
    if (!e)
        return false;
    uint8_t pad = (vr == NOVA_VR_UI || vr == NOVA_VR_OB || vr == NOVA_VR_UN ||
                   !nova_vr_is_string(vr))
                      ? 0
                      : ' ';
    return set_value(error, e, vr, data, length, pad);
}

bool nova_dicom_builder_set_pixel_data(NovaError **error, NovaDicomBuilder *b,
                                       NovaVR vr, const void *data,
                                       size_t length)
{
    if (vr != NOVA_VR_OB && vr != NOVA_VR_OW)
        return nova_error_set(error, NOVA_ERROR_INVALID, "invalid VR",
                              "Pixel Data must be OB or OW, not %s",
                              nova_vr_name(vr));
    return nova_dicom_builder_add_bytes(error, b, NOVA_TAG_PIXEL_DATA, vr, data,
                                        length);
}

bool nova_dicom_builder_set_pixel_fragments(NovaError **error,
                                            NovaDicomBuilder *b,
                                            const uint8_t *const *frames,
                                            const size_t *lengths,
                                            size_t n_frames)
{
    if (n_frames == 0)
        return nova_error_set(error, NOVA_ERROR_INVALID, "no frames",
                              "encapsulated Pixel Data needs at least one "
                              "frame");
    size_t total = 0;
    for (size_t i = 0; i < n_frames; i++) {
        size_t padded = lengths[i] + (lengths[i] & 1);
        if (padded > 0xFFFFFFF0u || !nova_size_add(total, padded, &total) ||
            total > 0xFFFFFFF0u)
            return nova_error_set(error, NOVA_ERROR_RANGE, "frame too large",
                                  "frame %zu: %zu bytes do not fit a "
                                  "fragment",
                                  i, lengths[i]);
    }
    Element *e = slot(error, b, NOVA_TAG_PIXEL_DATA);
    if (!e)
        return false;
    e->vr = NOVA_VR_OB;
    e->encapsulated = true;
    e->value = nova_malloc(error, total ? total : 1);
    e->frame_len = nova_malloc_array(error, n_frames, sizeof(size_t));
    if (!e->value || !e->frame_len)
        return false;
    size_t at = 0;
    for (size_t i = 0; i < n_frames; i++) {
        memcpy(e->value + at, frames[i], lengths[i]);
        size_t padded = lengths[i] + (lengths[i] & 1);
        /* PS3.5 A.4: fragments have even length; pad with a NUL (the RLE
         * header's segment offsets make the pad byte harmless). */
        if (padded != lengths[i])
            e->value[at + lengths[i]] = 0;
        e->frame_len[i] = padded;
        at += padded;
    }
    e->length = total;
    e->n_frames = n_frames;
    return true;
}

bool nova_dicom_builder_begin_sequence(NovaError **error, NovaDicomBuilder *b,
                                       uint32_t tag)
{
    if (b->depth >= NOVA_DICOM_MAX_DEPTH)
        return nova_error_set(error, NOVA_ERROR_RANGE, "nesting too deep",
                              "sequence (%04X,%04X) nested deeper than %d",
                              NOVA_TAG_GROUP(tag), NOVA_TAG_ELEMENT(tag),
                              NOVA_DICOM_MAX_DEPTH);
    Element *e = slot(error, b, tag);
    if (!e)
        return false;
    e->vr = NOVA_VR_SQ;
    b->stack[b->depth].seq = e;
    b->stack[b->depth].item = NULL;
    b->depth++;
    return true;
}

bool nova_dicom_builder_begin_item(NovaError **error, NovaDicomBuilder *b)
{
    if (b->depth == 0 || b->stack[b->depth - 1].item != NULL)
        return nova_error_set(
            error, NOVA_ERROR_INVALID, "builder misuse", "begin_item %s",
            b->depth == 0 ? "with no open sequence" : "while an item is open");
    Element *seq = b->stack[b->depth - 1].seq;
    if (seq->n_items == seq->cap_items) {
        size_t cap = seq->cap_items ? seq->cap_items * 2 : 4;
        Dataset *items = nova_realloc(error, seq->items, cap * sizeof *items);
        if (!items)
            return false;
        seq->items = items;
        seq->cap_items = cap;
    }
    memset(&seq->items[seq->n_items], 0, sizeof(Dataset));
    b->stack[b->depth - 1].item = &seq->items[seq->n_items++];
    return true;
}

bool nova_dicom_builder_end_item(NovaError **error, NovaDicomBuilder *b)
{
    if (b->depth == 0 || b->stack[b->depth - 1].item == NULL)
        return nova_error_set(error, NOVA_ERROR_INVALID, "builder misuse",
                              "end_item with no open item");
    b->stack[b->depth - 1].item = NULL;
    return true;
}

bool nova_dicom_builder_end_sequence(NovaError **error, NovaDicomBuilder *b)
{
    if (b->depth == 0 || b->stack[b->depth - 1].item != NULL)
        return nova_error_set(
            error, NOVA_ERROR_INVALID, "builder misuse", "end_sequence %s",
            b->depth == 0 ? "with no open sequence" : "while an item is open");
    b->depth--;
    return true;
}

/* ------------------------------------------------------------ encoding */

static uint64_t dataset_length(const Dataset *ds);

/* Encoded size of one element, header included. */
static uint64_t element_length(const Element *e)
{
    uint64_t header = long_length_vr(e->vr) ? 12 : 8;
    if (e->vr == NOVA_VR_SQ) {
        uint64_t v = 0;
        for (size_t i = 0; i < e->n_items; i++)
            v += 8 + dataset_length(&e->items[i]);
        return header + v;
    }
    if (e->encapsulated)
        /* offset table item + one item per frame + sequence delimiter */
        return header + 8 + 4 * (uint64_t)e->n_frames +
               8 * (uint64_t)e->n_frames + e->length + 8;
    return header + e->length;
}

static uint64_t dataset_length(const Dataset *ds)
{
    uint64_t n = 0;
    for (size_t i = 0; i < ds->n; i++)
        n += element_length(&ds->elems[i]);
    return n;
}

typedef struct {
    uint8_t *p;
    size_t at;
} Out;

static void put16(Out *o, uint16_t v)
{
    o->p[o->at++] = (uint8_t)v;
    o->p[o->at++] = (uint8_t)(v >> 8);
}

static void put32(Out *o, uint32_t v)
{
    put16(o, (uint16_t)v);
    put16(o, (uint16_t)(v >> 16));
}

static void put_bytes(Out *o, const void *d, size_t n)
{
    if (n)
        memcpy(o->p + o->at, d, n);
    o->at += n;
}

static void put_header(Out *o, uint32_t tag, NovaVR vr, uint32_t length)
{
    put16(o, NOVA_TAG_GROUP(tag));
    put16(o, NOVA_TAG_ELEMENT(tag));
    const char *name = nova_vr_name(vr);
    o->p[o->at++] = (uint8_t)name[0];
    o->p[o->at++] = (uint8_t)name[1];
    if (long_length_vr(vr)) {
        put16(o, 0); /* reserved (PS3.5 7.1.2) */
        put32(o, length);
    } else {
        put16(o, (uint16_t)length);
    }
}

static void put_dataset(Out *o, const Dataset *ds);

static void put_element(Out *o, const Element *e)
{
    if (e->vr == NOVA_VR_SQ) {
        uint64_t len = element_length(e) - 12;
        put_header(o, e->tag, NOVA_VR_SQ, (uint32_t)len);
        for (size_t i = 0; i < e->n_items; i++) {
            put16(o, 0xFFFE);
            put16(o, 0xE000);
            put32(o, (uint32_t)dataset_length(&e->items[i]));
            put_dataset(o, &e->items[i]);
        }
        return;
    }
    if (e->encapsulated) {
        put_header(o, e->tag, NOVA_VR_OB, NOVA_UNDEFINED_LENGTH);
        /* PS3.5 A.4: Basic Offset Table item: offset of each frame's first
         * fragment, measured from the first byte of the first fragment's
         * item tag. */
        put16(o, 0xFFFE);
        put16(o, 0xE000);
        put32(o, (uint32_t)(4 * e->n_frames));
        uint64_t off = 0;
        for (size_t i = 0; i < e->n_frames; i++) {
            put32(o, (uint32_t)off);
            off += 8 + e->frame_len[i];
        }
        size_t at = 0;
        for (size_t i = 0; i < e->n_frames; i++) {
            put16(o, 0xFFFE);
            put16(o, 0xE000);
            put32(o, (uint32_t)e->frame_len[i]);
            put_bytes(o, e->value + at, e->frame_len[i]);
            at += e->frame_len[i];
        }
        put16(o, 0xFFFE);
        put16(o, 0xE0DD);
        put32(o, 0);
        return;
    }
    put_header(o, e->tag, e->vr, (uint32_t)e->length);
    put_bytes(o, e->value, e->length);
}

static void put_dataset(Out *o, const Dataset *ds)
{
    for (size_t i = 0; i < ds->n; i++)
        put_element(o, &ds->elems[i]);
}

static bool find_uid(NovaError **error, const Dataset *ds, uint32_t tag,
                     char *out)
{
    for (size_t i = 0; i < ds->n; i++) {
        const Element *e = &ds->elems[i];
        if (e->tag != tag)
            continue;
        size_t n = e->length;
        while (n > 0 && (e->value[n - 1] == 0 || e->value[n - 1] == ' '))
            n--;
        if (e->vr != NOVA_VR_UI || n == 0 || n > NOVA_UID_MAX)
            break;
        memcpy(out, e->value, n);
        out[n] = '\0';
        return true;
    }
    return nova_error_set(error, NOVA_ERROR_INVALID, "missing UID",
                          "the dataset needs (%04X,%04X) as a UI value to "
                          "build the File Meta Information",
                          NOVA_TAG_GROUP(tag), NOVA_TAG_ELEMENT(tag));
}

static bool has_encapsulated(const Dataset *ds)
{
    for (size_t i = 0; i < ds->n; i++)
        if (ds->elems[i].encapsulated)
            return true;
    return false;
}

/* A meta element with a UI value, NUL padded. */
static size_t meta_ui_length(const char *uid)
{
    size_t n = strlen(uid);
    return 8 + n + (n & 1);
}

static void put_meta_ui(Out *o, uint16_t element, const char *uid)
{
    size_t n = strlen(uid);
    put_header(o, NOVA_TAG(0x0002, element), NOVA_VR_UI,
               (uint32_t)(n + (n & 1)));
    put_bytes(o, uid, n);
    if (n & 1)
        o->p[o->at++] = 0;
}

bool nova_dicom_builder_write_memory(NovaError **error,
                                     const NovaDicomBuilder *b,
                                     const char *ts_uid, uint8_t **out,
                                     size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (b->depth != 0)
        return nova_error_set(error, NOVA_ERROR_INVALID, "builder misuse",
                              "write with %d sequence(s) still open", b->depth);
    const NovaTransferSyntax *ts = nova_transfer_syntax_lookup(ts_uid);
    if (!ts || !ts->explicit_vr || ts->big_endian || ts->deflated)
        return nova_error_set(error, NOVA_ERROR_UNSUPPORTED,
                              "unsupported transfer syntax",
                              "the writer writes explicit VR little endian "
                              "encodings only, not '%s'",
                              ts_uid ? ts_uid : "(null)");
    bool encapsulated = has_encapsulated(&b->root);
    if (encapsulated != ts->encapsulated)
        return nova_error_set(error, NOVA_ERROR_INVALID,
                              "pixel data does not match transfer syntax",
                              "transfer syntax %s is %s but the Pixel Data "
                              "is %s",
                              ts_uid,
                              ts->encapsulated ? "encapsulated" : "native",
                              encapsulated ? "encapsulated" : "native");
    char sop_class[NOVA_UID_MAX + 1], sop_instance[NOVA_UID_MAX + 1];
    if (!find_uid(error, &b->root, NOVA_TAG(0x0008, 0x0016), sop_class) ||
        !find_uid(error, &b->root, NOVA_TAG(0x0008, 0x0018), sop_instance))
        return false;

    /* PS3.10 7.1: the meta group, explicit VR little endian. */
    size_t version_len = strlen(NOVA_IMPLEMENTATION_VERSION_NAME);
    uint64_t meta = 12 + 2 /* (0002,0001) OB 00\01 */ +
                    meta_ui_length(sop_class) + meta_ui_length(sop_instance) +
                    meta_ui_length(ts_uid) +
                    meta_ui_length(NOVA_IMPLEMENTATION_CLASS_UID) + 8 +
                    version_len + (version_len & 1);
    uint64_t total = 128 + 4 + 12 + meta + dataset_length(&b->root);
    if (total > SIZE_MAX / 2)
        return nova_error_set(error, NOVA_ERROR_RANGE, "dataset too large",
                              "%llu bytes", (unsigned long long)total);
    Out o = {nova_malloc(error, (size_t)total), 0};
    if (!o.p)
        return false;
    memset(o.p, 0, 128);
    o.at = 128;
    put_bytes(&o, "DICM", 4);
    put_header(&o, NOVA_TAG(0x0002, 0x0000), NOVA_VR_UL, 4);
    put32(&o, (uint32_t)meta);
    put_header(&o, NOVA_TAG(0x0002, 0x0001), NOVA_VR_OB, 2);
    o.p[o.at++] = 0x00;
    o.p[o.at++] = 0x01;
    put_meta_ui(&o, 0x0002, sop_class);
    put_meta_ui(&o, 0x0003, sop_instance);
    put_meta_ui(&o, 0x0010, ts_uid);
    put_meta_ui(&o, 0x0012, NOVA_IMPLEMENTATION_CLASS_UID);
    put_header(&o, NOVA_TAG(0x0002, 0x0013), NOVA_VR_SH,
               (uint32_t)(version_len + (version_len & 1)));
    put_bytes(&o, NOVA_IMPLEMENTATION_VERSION_NAME, version_len);
    if (version_len & 1)
        o.p[o.at++] = ' ';
    put_dataset(&o, &b->root);
    if (o.at != total) {
        nova_free(o.p);
        return nova_error_set(error, NOVA_ERROR_INTERNAL, "length mismatch",
                              "wrote %zu bytes, computed %llu", o.at,
                              (unsigned long long)total);
    }
    *out = o.p;
    *out_len = o.at;
    return true;
}

bool nova_write_file_atomic(NovaError **error, const char *path,
                            const void *data, size_t length, bool sync)
{
    char *tmp = nova_strdup_printf(error, "%s.tmp-XXXXXX", path);
    if (!tmp)
        return false;
    int fd = mkstemp(tmp);
    if (fd < 0) {
        nova_error_set(error, NOVA_ERROR_IO, "cannot write file",
                       "%s: cannot create temporary file: %s", path,
                       strerror(errno));
        nova_free(tmp);
        return false;
    }
    const uint8_t *p = data;
    size_t left = length;
    bool ok = true;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            ok = nova_error_set(error, NOVA_ERROR_IO, "cannot write file",
                                "%s: %s", tmp, strerror(errno));
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    /* mkstemp makes 0600 files; DICOM output is meant to be shared like
     * any other file the user writes. */
    if (ok && fchmod(fd, 0644) != 0)
        ok = nova_error_set(error, NOVA_ERROR_IO, "cannot write file",
                            "%s: chmod: %s", tmp, strerror(errno));
    if (ok && sync && fsync(fd) != 0)
        ok = nova_error_set(error, NOVA_ERROR_IO, "cannot write file",
                            "%s: fsync: %s", tmp, strerror(errno));
    if (close(fd) != 0 && ok)
        ok = nova_error_set(error, NOVA_ERROR_IO, "cannot write file",
                            "%s: close: %s", tmp, strerror(errno));
    if (ok && rename(tmp, path) != 0)
        ok = nova_error_set(error, NOVA_ERROR_IO, "cannot write file",
                            "%s: rename from temporary: %s", path,
                            strerror(errno));
    if (!ok)
        unlink(tmp);
    nova_free(tmp);
    return ok;
}

bool nova_dicom_builder_write_file(NovaError **error, const NovaDicomBuilder *b,
                                   const char *ts_uid, const char *path)
{
    uint8_t *bytes;
    size_t len;
    if (!nova_dicom_builder_write_memory(error, b, ts_uid, &bytes, &len)) {
        nova_error_prefix(error, "file %s: ", path);
        return false;
    }
    bool ok = nova_write_file_atomic(error, path, bytes, len, false);
    nova_free(bytes);
    return ok;
}
