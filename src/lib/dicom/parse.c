/*
 * parse.c - the DICOM Part 10 parser (PS3.10 7, PS3.5 7).
 *
 * The source (file, memory, callback) becomes one byte buffer; the parser
 * walks it once and records each element's tag, VR, length and value offset,
 * recursing into sequence items (defined or undefined length) up to
 * NOVA_DICOM_MAX_DEPTH.  Values are not copied or converted here.
 *
 * Files are mapped (mmap) when read whole, so native pixel data is copied
 * once, from the page cache into the caller's array.  In header-only mode
 * the source is read in chunks until the Pixel Data element's header, and
 * the rest is read when a frame is first decoded.  Deflated datasets
 * (PS3.5 A.5) are inflated with zlib into a buffer after the meta group.
 *
 * Every length is checked against the bytes that remain before it is used;
 * errors name the source, the byte offset and the element.
 */
#include "dataset_private.h"
#include "dicom/dict.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define CHUNK_SIZE (64 * 1024)

typedef struct {
    NovaRoot *root;
    NovaError **error;
} Parser;

static bool fail(Parser *p, uint64_t offset, const char *format, ...)
    NOVA_PRINTF(3, 4);

static bool fail(Parser *p, uint64_t offset, const char *format, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, format);
    vsnprintf(msg, sizeof msg, format, ap);
    va_end(ap);
    return nova_error_set(p->error, NOVA_ERROR_PARSE, "invalid DICOM",
                          "%s: offset %llu: %s", p->root->name,
                          (unsigned long long)offset, msg);
}

/* ---------------------------------------------------------------- source */

static bool buffer_reserve(NovaError **error, NovaRoot *r, size_t need)
{
    if (need <= r->capacity)
        return true;
    size_t cap = r->capacity ? r->capacity : CHUNK_SIZE;
    while (cap < need) {
        if (cap > SIZE_MAX / 2)
            return nova_error_set(error, NOVA_ERROR_RANGE, "too large",
                                  "%s: buffer of %zu bytes", r->name, need);
        cap *= 2;
    }
    uint8_t *d = nova_realloc(error, r->data, cap);
    if (!d)
        return false;
    r->data = d;
    r->capacity = cap;
    return true;
}

/* Read more of a progressive source: at least until `end` bytes are held or
 * the source ends. */
static bool source_fill(NovaError **error, NovaRoot *r, size_t end)
{
    while (r->size < end && !r->eof) {
        size_t want = end - r->size;
        if (want < CHUNK_SIZE)
            want = CHUNK_SIZE;
        /* Grow at most geometrically: `end` comes from lengths in the
         * stream (or is SIZE_MAX for "to the end"), so reserving it at
         * once would let a lying length allocate gigabytes, or fail, before
         * the source turns out to be short. */
        size_t step = r->size > CHUNK_SIZE ? r->size : CHUNK_SIZE;
        if (want > step)
            want = step;
        size_t need;
        if (!nova_size_add(r->size, want, &need) ||
            !buffer_reserve(error, r, need))
            return false;
        ssize_t n;
        if (r->read_fn) {
            n = r->read_fn(r->read_user, r->data + r->size, want);
        } else if (r->fd >= 0) {
            do
                n = read(r->fd, r->data + r->size, want);
            while (n < 0 && errno == EINTR);
        } else {
            n = 0;
        }
        if (n < 0)
            return nova_error_set(
                error, NOVA_ERROR_IO, "read failed",
                "%s: read failed at offset %zu: %s", r->name, r->size,
                r->read_fn ? "callback error" : strerror(errno));
        if (n == 0)
            r->eof = true;
        r->size += (size_t)n;
    }
    return true;
}

/* True when bytes [0, end) are available (reading more if needed). */
static bool have(Parser *p, uint64_t end, bool *io_error)
{
    NovaRoot *r = p->root;
    *io_error = false;
    if (end <= r->size)
        return true;
    if (r->eof || end > SIZE_MAX)
        return false;
    if (!source_fill(p->error, r, (size_t)end)) {
        *io_error = true;
        return false;
    }
    return end <= r->size;
}

/* Require bytes [offset, offset + n); error naming what was being read. */
static bool need(Parser *p, uint64_t offset, uint64_t n, const char *what)
{
    bool io;
    if (have(p, offset + n, &io))
        return true;
    if (io)
        return false;
    uint64_t remain = p->root->size > offset ? p->root->size - offset : 0;
    return fail(p, offset, "truncated: %s needs %llu bytes, %llu remain", what,
                (unsigned long long)n, (unsigned long long)remain);
}

/* --------------------------------------------------------------- elements */

static bool add_element(Parser *p, NovaDataset *ds, const NovaElement *e)
{
    if (ds->count == ds->capacity) {
        size_t cap = ds->capacity ? ds->capacity * 2 : 32;
        NovaElement *n =
            nova_realloc(p->error, ds->elements, cap * sizeof *ds->elements);
        if (!n)
            return false;
        ds->elements = n;
        ds->capacity = cap;
    }
    ds->elements[ds->count++] = *e;
    return true;
}

static void free_element(NovaElement *e);

static void dataset_free(NovaDataset *ds)
{
    if (!ds)
        return;
    for (size_t i = 0; i < ds->count; i++)
        free_element(&ds->elements[i]);
    nova_free(ds->elements);
    nova_free(ds->charset);
    nova_free(ds);
}

static void free_element(NovaElement *e)
{
    if (e->items) {
        for (uint32_t i = 0; i < e->count; i++)
            dataset_free(e->items[i]);
        nova_free(e->items);
    }
    nova_free(e->fragments);
}

static bool is_long_vr(NovaVR vr)
{
    /* PS3.5 Table 7.1-1: VRs with a 2-byte reserved field and 4-byte
     * length in explicit VR encoding. */
    switch (vr) {
    case NOVA_VR_OB:
    case NOVA_VR_OD:
    case NOVA_VR_OF:
    case NOVA_VR_OL:
    case NOVA_VR_OV:
    case NOVA_VR_OW:
    case NOVA_VR_SQ:
    case NOVA_VR_SV:
    case NOVA_VR_UC:
    case NOVA_VR_UN:
    case NOVA_VR_UR:
    case NOVA_VR_UT:
    case NOVA_VR_UV: return true;
    default: return false;
    }
}

static NovaVR implicit_vr(uint32_t tag)
{
    uint16_t group = NOVA_TAG_GROUP(tag), elem = NOVA_TAG_ELEMENT(tag);
    if (group & 1) {
        /* PS3.5 7.8.1: (gggg,0010-00FF) are private creator LO elements. */
        if (elem >= 0x0010 && elem <= 0x00FF)
            return NOVA_VR_LO;
        if (elem == 0x0000)
            return NOVA_VR_UL;
        return NOVA_VR_UN;
    }
    const NovaDictEntry *d = nova_dict_lookup_tag(tag);
    if (!d || d->vr == NOVA_VR_NONE)
        return NOVA_VR_UN;
    return d->vr;
}

/* The VR of an implicit VR element where PS3.6 lists several: Pixel Data
 * is OW when native (PS3.5 A.1), OB when encapsulated; "US or SS" follows
 * the Pixel Representation (0028,0103) already read in this dataset (1:
 * signed). */
static NovaVR implicit_vr_in(const NovaDataset *ds, uint32_t tag,
                             uint32_t length, bool big)
{
    NovaVR vr = implicit_vr(tag);
    if (tag == NOVA_TAG_PIXEL_DATA)
        return length == NOVA_UNDEFINED_LENGTH ? NOVA_VR_OB : NOVA_VR_OW;
    if (vr != NOVA_VR_US)
        return vr;
    const NovaDictEntry *d = nova_dict_lookup_tag(tag);
    if (!d || strncmp(d->vr_text, "US or SS", 8) != 0)
        return vr;
    for (size_t i = ds->count; i-- > 0;) {
        const NovaElement *pr = &ds->elements[i];
        if (pr->tag == NOVA_TAG(0x0028, 0x0103) && pr->length >= 2)
            return nova__get_u16(ds->root->data + pr->offset, big) == 1
                       ? NOVA_VR_SS
                       : NOVA_VR_US;
    }
    return vr;
}

static bool parse_items(Parser *p, NovaDataset *ds, NovaElement *e,
                        uint64_t *pos, uint64_t end, bool explicit_vr, bool big,
                        int depth);
static bool remember_charset(Parser *p, NovaDataset *ds);
static void sort_elements(NovaDataset *ds);
static bool elements_sorted(const NovaDataset *ds);
static bool parse_fragments(Parser *p, NovaElement *e, uint64_t *pos, bool big);

/*
 * Parse elements from *pos.  `end` is the end of a defined-length
 * container (UINT64_MAX for the top level or an undefined-length item).
 * `in_item_undefined` makes an Item Delimitation end the dataset.
 */
static bool parse_dataset(Parser *p, NovaDataset *ds, uint64_t *pos,
                          uint64_t end, bool in_item_undefined, int depth)
{
    NovaRoot *r = p->root;
    bool big = ds->big_endian, explicit_vr = ds->explicit_vr;
    bool top = ds->parent == NULL;
    uint32_t last_tag = 0;
    bool sorted = true;

    for (;;) {
        uint64_t at = *pos;
        if (end != UINT64_MAX && at >= end) {
            if (in_item_undefined)
                return fail(p, at,
                            "item of undefined length has no Item "
                            "Delimitation before its container ends");
            break;
        }
        bool io;
        if (!have(p, at + 1, &io)) {
            if (io)
                return false;
            if (in_item_undefined)
                return fail(p, at,
                            "item of undefined length ends without "
                            "an Item Delimitation (FFFE,E00D)");
            if (end != UINT64_MAX)
                return fail(p, at,
                            "dataset ends before its declared "
                            "length (%llu)",
                            (unsigned long long)end);
            break; /* clean end of the top-level dataset */
        }
        if (!need(p, at, 8, "element header"))
            return false;
        const uint8_t *h = r->data + at;
        uint16_t group = nova__get_u16(h, big);
        uint16_t elem = nova__get_u16(h + 2, big);
        uint32_t tag = NOVA_TAG(group, elem);

        if (group == 0xFFFE) {
            uint32_t len = nova__get_u32(h + 4, big);
            if (tag == NOVA_TAG_ITEM_DELIMITATION && in_item_undefined) {
                *pos = at + 8;
                break;
            }
            if (tag == NOVA_TAG_SEQUENCE_DELIMITATION && top) {
                /* A stray delimiter at top level: tolerated, as DCMTK and
                 * pydicom do. */
                *pos = at + 8;
                continue;
            }
            return fail(p, at, "unexpected (FFFE,%04X) with length %u here",
                        elem, len);
        }

        NovaElement e = {0};
        e.tag = tag;
        uint64_t value_at;
        uint32_t length;
        if (explicit_vr) {
            NovaVR vr = nova_vr_from_chars((char)h[4], (char)h[5]);
            if (vr == NOVA_VR_NONE) {
                /* Some writers put implicit VR elements in explicit
                 * datasets; when the bytes are no VR, fall back to the
                 * dictionary with a 4-byte length (as DCMTK does). */
                if (h[4] >= 'A' && h[4] <= 'Z' && h[5] >= 'A' && h[5] <= 'Z')
                    return fail(p, at,
                                "element (%04X,%04X): unknown VR "
                                "\"%c%c\"",
                                group, elem, h[4], h[5]);
                vr = implicit_vr(tag);
                length = nova__get_u32(h + 4, big);
                value_at = at + 8;
            } else if (is_long_vr(vr)) {
                if (!need(p, at, 12, "element header"))
                    return false;
                length = nova__get_u32(r->data + at + 8, big);
                value_at = at + 12;
            } else {
                length = nova__get_u16(h + 6, big);
                value_at = at + 8;
            }
            e.vr = vr;
        } else {
            length = nova__get_u32(h + 4, big);
            e.vr = implicit_vr_in(ds, tag, length, big);
            value_at = at + 8;
        }
        e.length = length;
        e.offset = value_at;

        if (tag < last_tag)
            sorted = false;
        last_tag = tag;

        if (length == NOVA_UNDEFINED_LENGTH) {
            if (tag == NOVA_TAG_PIXEL_DATA && top) {
                e.encapsulated = true;
                e.vr = explicit_vr ? e.vr : NOVA_VR_OB;
                if (r->flags & NOVA_READ_HEADER_ONLY) {
                    e.deferred = true;
                    r->pixel_header_offset = at;
                    if (!add_element(p, ds, &e))
                        return false;
                    break; /* header-only: stop here */
                }
                *pos = value_at;
                if (!parse_fragments(p, &e, pos, big) ||
                    !add_element(p, ds, &e)) {
                    free_element(&e);
                    return false;
                }
                continue;
            }
            /* PS3.5 7.5.1: undefined length is for SQ, and for UN holding
             * a sequence (6.2.2: its items are implicit VR little endian).
             * Implicit-VR elements of undefined length are sequences. */
            bool items_explicit = explicit_vr, items_big = big;
            if (e.vr == NOVA_VR_UN) {
                items_explicit = false;
                items_big = false;
            } else if (e.vr != NOVA_VR_SQ && explicit_vr) {
                return fail(p, at,
                            "element (%04X,%04X) VR %s has undefined "
                            "length",
                            group, elem, nova_vr_name(e.vr));
            }
            e.vr = NOVA_VR_SQ;
            *pos = value_at;
            if (!parse_items(p, ds, &e, pos, UINT64_MAX, items_explicit,
                             items_big, depth) ||
                !add_element(p, ds, &e)) {
                free_element(&e);
                return false;
            }
            continue;
        }

        uint64_t value_end = value_at + length;
        if (end != UINT64_MAX && value_end > end)
            return fail(p, at,
                        "element (%04X,%04X) length %u exceeds its "
                        "container by %llu bytes",
                        group, elem, length,
                        (unsigned long long)(value_end - end));

        if (tag == NOVA_TAG_PIXEL_DATA && top &&
            (r->flags & NOVA_READ_HEADER_ONLY)) {
            /* Check the length against the file size when it is known so
             * a lie is caught now, not at decode time. */
            e.deferred = true;
            r->pixel_header_offset = at;
            if (!add_element(p, ds, &e))
                return false;
            break; /* header-only: stop here */
        }

        if (e.vr == NOVA_VR_SQ) {
            if (!need(p, value_at, length, "sequence"))
                return false;
            *pos = value_at;
            if (!parse_items(p, ds, &e, pos, value_end, explicit_vr, big,
                             depth) ||
                !add_element(p, ds, &e)) {
                free_element(&e);
                return false;
            }
            *pos = value_end;
            continue;
        }

        if (!have(p, value_end, &io)) {
            if (io)
                return false;
            uint64_t remain = r->size > value_at ? r->size - value_at : 0;
            return fail(p, at,
                        "truncated: element (%04X,%04X) length %u "
                        "exceeds the %llu bytes that remain",
                        group, elem, length, (unsigned long long)remain);
        }
        if (!add_element(p, ds, &e))
            return false;
        *pos = value_end;
    }

    /* The meta group is parsed one element per call, so check the whole
     * list, not only the tags this call saw. */
    if (!sorted || !elements_sorted(ds))
        sort_elements(ds);
    return remember_charset(p, ds);
}

/* Keep the dataset's own Specific Character Set as a C string (items
 * without one inherit their parent's, PS3.5 6.1.2.3). */
static bool remember_charset(Parser *p, NovaDataset *ds)
{
    NovaElement *e = nova__dataset_lookup(ds, NOVA_TAG_SPECIFIC_CHARACTER_SET);
    if (!e || e->vr == NOVA_VR_SQ || e->deferred || ds->charset)
        return true;
    const char *v = (const char *)p->root->data + e->offset;
    size_t n = e->length;
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\0'))
        n--;
    while (n > 0 && *v == ' ') {
        v++;
        n--;
    }
    ds->charset = nova_strndup(p->error, v, n);
    return ds->charset != NULL;
}

static int compare_elements(const void *a, const void *b)
{
    const NovaElement *x = a, *y = b;
    if (x->tag != y->tag)
        return x->tag < y->tag ? -1 : 1;
    /* Equal tags keep file order (value offsets grow along the file), so
     * the first of duplicates wins as with a stable sort. */
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static bool elements_sorted(const NovaDataset *ds)
{
    for (size_t i = 1; i < ds->count; i++)
        if (ds->elements[i - 1].tag > ds->elements[i].tag)
            return false;
    return true;
}

static void sort_elements(NovaDataset *ds)
{
    /* PS3.5 7.1: elements shall be in ascending order; sort so lookups
     * work on files that break the rule.  O(n log n): an insertion sort
     * let a file of many descending tags take hours. */
    qsort(ds->elements, ds->count, sizeof *ds->elements, compare_elements);
}

static bool parse_items(Parser *p, NovaDataset *parent, NovaElement *e,
                        uint64_t *pos, uint64_t end, bool explicit_vr, bool big,
                        int depth)
{
    NovaRoot *r = p->root;
    if (depth + 1 > NOVA_DICOM_MAX_DEPTH)
        return fail(p, *pos, "sequence (%04X,%04X) nested deeper than %d",
                    NOVA_TAG_GROUP(e->tag), NOVA_TAG_ELEMENT(e->tag),
                    NOVA_DICOM_MAX_DEPTH);
    uint32_t cap = 0;
    for (;;) {
        uint64_t at = *pos;
        if (end != UINT64_MAX && at >= end)
            break;
        if (!need(p, at, 8, "item header"))
            return false;
        uint16_t group = nova__get_u16(r->data + at, big);
        uint16_t elem = nova__get_u16(r->data + at + 2, big);
        uint32_t len = nova__get_u32(r->data + at + 4, big);
        uint32_t tag = NOVA_TAG(group, elem);
        if (tag == NOVA_TAG_SEQUENCE_DELIMITATION) {
            if (end != UINT64_MAX)
                return fail(p, at,
                            "Sequence Delimitation in a sequence of "
                            "defined length");
            *pos = at + 8;
            return true;
        }
        if (tag != NOVA_TAG_ITEM)
            return fail(p, at,
                        "expected an Item (FFFE,E000) in sequence "
                        "(%04X,%04X), found (%04X,%04X)",
                        NOVA_TAG_GROUP(e->tag), NOVA_TAG_ELEMENT(e->tag), group,
                        elem);
        if (e->count == cap) {
            uint32_t ncap = cap ? cap * 2 : 4;
            if (ncap > (1u << 30))
                return fail(p, at, "too many items");
            NovaDataset **items =
                nova_realloc(p->error, e->items, ncap * sizeof *items);
            if (!items)
                return false;
            e->items = items;
            cap = ncap;
        }
        NovaDataset *item = nova_calloc(p->error, 1, sizeof *item);
        if (!item)
            return false;
        item->root = r;
        item->parent = parent;
        item->explicit_vr = explicit_vr;
        item->big_endian = big;
        e->items[e->count++] = item;
        *pos = at + 8;
        if (len == NOVA_UNDEFINED_LENGTH) {
            if (!parse_dataset(p, item, pos, end, true, depth + 1))
                return false;
        } else {
            uint64_t item_end = at + 8 + (uint64_t)len;
            if (end != UINT64_MAX && item_end > end)
                return fail(p, at, "item length %u exceeds its sequence", len);
            if (!need(p, at + 8, len, "item"))
                return false;
            if (!parse_dataset(p, item, pos, item_end, false, depth + 1))
                return false;
            *pos = item_end;
        }
    }
    if (end == UINT64_MAX)
        return fail(p, *pos,
                    "sequence of undefined length has no Sequence "
                    "Delimitation");
    return true;
}

/* Encapsulated Pixel Data (PS3.5 A.4): items until the Sequence
 * Delimitation; the first item is the Basic Offset Table. */
static bool parse_fragments(Parser *p, NovaElement *e, uint64_t *pos, bool big)
{
    NovaRoot *r = p->root;
    uint32_t cap = 0;
    for (;;) {
        uint64_t at = *pos;
        if (!need(p, at, 8, "pixel data fragment header"))
            return false;
        uint16_t group = nova__get_u16(r->data + at, big);
        uint16_t elem = nova__get_u16(r->data + at + 2, big);
        uint32_t len = nova__get_u32(r->data + at + 4, big);
        uint32_t tag = NOVA_TAG(group, elem);
        if (tag == NOVA_TAG_SEQUENCE_DELIMITATION) {
            *pos = at + 8;
            break;
        }
        if (tag != NOVA_TAG_ITEM)
            return fail(p, at,
                        "expected a pixel data fragment (FFFE,E000), "
                        "found (%04X,%04X)",
                        group, elem);
        if (len == NOVA_UNDEFINED_LENGTH)
            return fail(p, at, "pixel data fragment of undefined length");
        if (!need(p, at + 8, len, "pixel data fragment"))
            return false;
        if (e->count == cap) {
            uint32_t ncap = cap ? cap * 2 : 8;
            if (ncap > (1u << 28))
                return fail(p, at, "too many pixel data fragments");
            NovaFragment *f =
                nova_realloc(p->error, e->fragments, ncap * sizeof *f);
            if (!f)
                return false;
            e->fragments = f;
            cap = ncap;
        }
        e->fragments[e->count].offset = at + 8;
        e->fragments[e->count].length = len;
        e->count++;
        *pos = at + 8 + (uint64_t)len;
    }
    if (e->count == 0)
        return fail(p, e->offset,
                    "encapsulated Pixel Data has no Basic "
                    "Offset Table item");
    return true;
}

/* ------------------------------------------------------------ meta group */

static bool set_transfer_syntax(Parser *p, const char *uid, size_t len)
{
    NovaRoot *r = p->root;
    while (len > 0 && (uid[len - 1] == ' ' || uid[len - 1] == '\0'))
        len--;
    if (len >= sizeof r->ts_uid)
        len = sizeof r->ts_uid - 1;
    memcpy(r->ts_uid, uid, len);
    r->ts_uid[len] = '\0';
    const NovaTransferSyntax *known = nova_transfer_syntax_lookup(r->ts_uid);
    if (known) {
        r->ts = *known;
    } else {
        /* PS3.5 10: every transfer syntax other than the implicit default
         * and the retired big endian one is explicit VR little endian, so
         * an unknown one still parses; its pixels will not decode. */
        r->ts = (NovaTransferSyntax){
            NULL,  "unknown transfer syntax", true, false, false, true,
            false, NOVA_CODEC_UNSUPPORTED};
    }
    r->ts.uid = r->ts_uid;
    return true;
}

/* Guess the encoding of a dataset with no meta group from its first
 * element: explicit VR shows two VR letters after the tag; big endian shows
 * a byte-swapped small group number. */
static void guess_encoding(NovaRoot *r, uint64_t at, bool *explicit_vr,
                           bool *big)
{
    *explicit_vr = false;
    *big = false;
    if (r->size < at + 8)
        return;
    const uint8_t *h = r->data + at;
    bool vr_letters =
        nova_vr_from_chars((char)h[4], (char)h[5]) != NOVA_VR_NONE;
    uint16_t le_group = nova__get_u16(h, false);
    uint16_t be_group = nova__get_u16(h, true);
    if (le_group > 0x00FF && be_group <= 0x00FF) {
        *big = true;
        *explicit_vr = vr_letters;
        return;
    }
    *explicit_vr = vr_letters;
}

static void set_guessed_syntax(Parser *p, uint64_t at)
{
    bool ex, big;
    guess_encoding(p->root, at, &ex, &big);
    const char *uid = ex ? (big ? "1.2.840.10008.1.2.2" : "1.2.840.10008.1.2.1")
                         : "1.2.840.10008.1.2";
    set_transfer_syntax(p, uid, strlen(uid));
}

static bool inflate_dataset(Parser *p, uint64_t start)
{
    NovaRoot *r = p->root;
    /* Read the whole deflated stream first. */
    if (!source_fill(p->error, r, SIZE_MAX))
        return false;
    size_t in_len = r->size - (size_t)start;
    size_t out_cap = in_len * 4 + 4096, out_len = 0;
    uint8_t *out = nova_malloc(p->error, out_cap);
    if (!out)
        return false;
    z_stream z;
    memset(&z, 0, sizeof z);
    /* PS3.5 A.5: raw deflate (RFC 1951) without zlib header. */
    if (inflateInit2(&z, -15) != Z_OK) {
        nova_free(out);
        return fail(p, start, "zlib inflateInit2 failed");
    }
    z.next_in = r->data + start;
    z.avail_in = (uInt)(in_len > UINT32_MAX ? UINT32_MAX : in_len);
    int zr;
    for (;;) {
        if (out_len == out_cap) {
            if (out_cap > ((size_t)1 << 34)) {
                inflateEnd(&z);
                nova_free(out);
                return fail(p, start,
                            "deflated dataset inflates to more "
                            "than 16 GiB");
            }
            uint8_t *n = nova_realloc(p->error, out, out_cap * 2);
            if (!n) {
                inflateEnd(&z);
                nova_free(out);
                return false;
            }
            out = n;
            out_cap *= 2;
        }
        z.next_out = out + out_len;
        z.avail_out =
            (uInt)(out_cap - out_len > UINT32_MAX ? UINT32_MAX
                                                  : out_cap - out_len);
        uInt before = z.avail_out;
        zr = inflate(&z, Z_NO_FLUSH);
        out_len += before - z.avail_out;
        if (zr == Z_STREAM_END)
            break;
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            inflateEnd(&z);
            nova_free(out);
            return fail(p, start + z.total_in, "deflate stream: %s",
                        z.msg ? z.msg : "corrupt data");
        }
        if (zr == Z_BUF_ERROR && z.avail_in == 0) {
            inflateEnd(&z);
            nova_free(out);
            return fail(p, start + z.total_in, "deflate stream truncated");
        }
    }
    inflateEnd(&z);
    /* New buffer: the meta group bytes, then the inflated dataset. */
    size_t total;
    if (!nova_size_add((size_t)start, out_len, &total)) {
        nova_free(out);
        return fail(p, start, "inflated size overflows");
    }
    uint8_t *joined = nova_malloc(p->error, total ? total : 1);
    if (!joined) {
        nova_free(out);
        return false;
    }
    memcpy(joined, r->data, (size_t)start);
    memcpy(joined + start, out, out_len);
    nova_free(out);
    if (r->kind == BUFFER_MALLOC)
        nova_free(r->data);
    else if (r->kind == BUFFER_MMAP)
        munmap(r->data, r->map_size);
    r->data = joined;
    r->size = total;
    r->capacity = total;
    r->kind = BUFFER_MALLOC;
    return true;
}

static NovaDataset *parse_root(Parser *p)
{
    NovaRoot *r = p->root;
    NovaError **error = p->error;
    NovaDataset *ds = nova_calloc(error, 1, sizeof *ds);
    if (!ds)
        return NULL;
    ds->root = r;
    uint64_t pos = 0;
    bool io;

    /* PS3.10 7.1: 128-byte preamble then "DICM". */
    if (have(p, 132, &io) && memcmp(r->data + 128, "DICM", 4) == 0) {
        r->preamble = true;
        pos = 132;
    } else if (io) {
        goto fail;
    } else if (r->flags & NOVA_READ_STRICT) {
        fail(p, 128, "no \"DICM\" prefix after the 128-byte preamble");
        goto fail;
    }

    /* File Meta Information: always explicit VR little endian. */
    bool have_meta = false;
    if (have(p, pos + 8, &io) &&
        nova__get_u16(r->data + pos, false) == 0x0002) {
        have_meta = true;
        ds->explicit_vr = true;
        ds->big_endian = false;
        /* Parse element by element while the group is 0002: the group
         * length (0002,0000) is often wrong in real files, so it is read
         * but not trusted to find the group's end. */
        for (;;) {
            if (!have(p, pos + 8, &io)) {
                if (io)
                    goto fail;
                break;
            }
            if (nova__get_u16(r->data + pos, false) != 0x0002)
                break;
            const uint8_t *h = r->data + pos;
            NovaVR vr = nova_vr_from_chars((char)h[4], (char)h[5]);
            /* An implicit VR meta group (non-conformant, seen in the wild)
             * has no VR letters and a 4-byte length. */
            uint64_t hdr = (vr != NOVA_VR_NONE && is_long_vr(vr)) ? 12 : 8;
            if (!need(p, pos, hdr, "meta element header"))
                goto fail;
            h = r->data + pos;
            uint64_t len = vr == NOVA_VR_NONE ? nova__get_u32(h + 4, false)
                           : hdr == 12        ? nova__get_u32(h + 8, false)
                                              : nova__get_u16(h + 6, false);
            if (len == NOVA_UNDEFINED_LENGTH) {
                fail(p, pos, "meta element of undefined length");
                goto fail;
            }
            ds->explicit_vr = vr != NOVA_VR_NONE;
            if (!parse_dataset(p, ds, &pos, pos + hdr + len, false, 0))
                goto fail;
        }
        NovaElement *tse =
            nova__dataset_lookup(ds, NOVA_TAG_TRANSFER_SYNTAX_UID);
        if (tse && tse->length > 0) {
            set_transfer_syntax(p, (const char *)r->data + tse->offset,
                                tse->length);
        } else {
            /* No transfer syntax: guess from the dataset's bytes. */
            set_guessed_syntax(p, pos);
        }
    }
    if (!have_meta) {
        if (r->flags & NOVA_READ_STRICT) {
            fail(p, pos, "no File Meta Information group");
            goto fail;
        }
        have(p, pos + 8, &io);
        if (r->size < pos + 8) {
            fail(p, pos, "too short to be DICOM (%zu bytes)", r->size);
            goto fail;
        }
        /* Without preamble and meta group, a dataset must start with a
         * low group number (PS3.5 7.1: ascending order; real headerless
         * files start with group 0008).  Anything else is not DICOM. */
        uint16_t g_le = nova__get_u16(r->data + pos, false);
        uint16_t g_be = nova__get_u16(r->data + pos, true);
        if (g_le > 0x0100 && g_be > 0x0100) {
            fail(p, pos,
                 "not a DICOM file: no preamble, no File Meta "
                 "Information, and the first bytes are no "
                 "plausible element (%04X,%04X)",
                 g_le, nova__get_u16(r->data + pos + 2, false));
            goto fail;
        }
        set_guessed_syntax(p, pos);
    }

    if (r->ts.deflated) {
        if (!inflate_dataset(p, pos))
            goto fail;
    }
    ds->explicit_vr = r->ts.explicit_vr;
    ds->big_endian = r->ts.big_endian;
    if (!parse_dataset(p, ds, &pos, UINT64_MAX, false, 0))
        goto fail;
    if (!(r->flags & NOVA_READ_HEADER_ONLY) ||
        !nova__dataset_lookup(ds, NOVA_TAG_PIXEL_DATA))
        r->pixels_loaded = true;
    return ds;
fail:
    dataset_free(ds);
    return NULL;
}

/* ------------------------------------------------------------ public API */

static NovaRoot *root_create(NovaError **error, const char *name,
                             unsigned flags)
{
    NovaRoot *r = nova_calloc(error, 1, sizeof *r);
    if (!r)
        return NULL;
    r->fd = -1;
    r->flags = flags;
    r->name = nova_strdup(error, name ? name : "(memory)");
    if (!r->name) {
        nova_free(r);
        return NULL;
    }
    pthread_mutex_init(&r->lock, NULL);
    return r;
}

static void root_free(NovaRoot *r)
{
    if (!r)
        return;
    if (r->kind == BUFFER_MALLOC)
        nova_free(r->data);
    else if (r->kind == BUFFER_MMAP && r->data)
        munmap(r->data, r->map_size);
    if (r->fd >= 0)
        close(r->fd);
    pthread_mutex_destroy(&r->lock);
    nova_free(r->name);
    nova_free(r->path);
    nova_free(r);
}

static NovaDataset *finish(NovaError **error, NovaRoot *r)
{
    Parser p = {r, error};
    NovaDataset *ds = parse_root(&p);
    if (r->fd >= 0 && (!ds || r->pixels_loaded)) {
        close(r->fd);
        r->fd = -1;
    }
    if (!ds) {
        root_free(r);
        return NULL;
    }
    if (r->fd >= 0) {
        /* header-only file: reopened by path on demand */
        close(r->fd);
        r->fd = -1;
    }
    return ds;
}

NovaDataset *nova_dataset_read_file(NovaError **error, const char *path,
                                    unsigned flags)
{
    NovaRoot *r = root_create(error, path, flags);
    if (!r)
        return NULL;
    r->path = nova_strdup(error, path);
    if (!r->path) {
        root_free(r);
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        nova_error_set(error, NOVA_ERROR_IO, "cannot open file", "%s: %s", path,
                       strerror(errno));
        root_free(r);
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        nova_error_set(error, NOVA_ERROR_IO, "cannot read file",
                       "%s: not a regular file", path);
        close(fd);
        root_free(r);
        return NULL;
    }
    if (!(flags & NOVA_READ_HEADER_ONLY) && st.st_size > 0) {
        /* Whole file: map it (one copy of pixel data, into the caller's
         * array, at decode time). */
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ,
                       MAP_PRIVATE | MAP_POPULATE, fd, 0);
        if (m != MAP_FAILED) {
            r->data = m;
            r->size = (size_t)st.st_size;
            r->map_size = (size_t)st.st_size;
            r->kind = BUFFER_MMAP;
            r->eof = true;
            close(fd);
            return finish(error, r);
        }
    }
    r->fd = fd;
    r->kind = BUFFER_MALLOC;
    return finish(error, r);
}

NovaDataset *nova_dataset_read_memory(NovaError **error, const void *data,
                                      size_t size, const char *name,
                                      unsigned flags)
{
    NovaRoot *r = root_create(error, name, flags & ~NOVA_READ_HEADER_ONLY);
    if (!r)
        return NULL;
    if (flags & NOVA_READ_BORROW) {
        r->data = (uint8_t *)data;
        r->kind = BUFFER_BORROWED;
    } else {
        r->data = nova_malloc(error, size ? size : 1);
        if (!r->data) {
            root_free(r);
            return NULL;
        }
        if (size)
            memcpy(r->data, data, size);
        r->kind = BUFFER_MALLOC;
        r->capacity = size;
    }
    r->size = size;
    r->eof = true;
    return finish(error, r);
}

NovaDataset *nova_dataset_read_callback(NovaError **error, NovaReadFn fn,
                                        void *user, const char *name,
                                        unsigned flags)
{
    NovaRoot *r = root_create(error, name ? name : "(stream)", flags);
    if (!r)
        return NULL;
    r->read_fn = fn;
    r->read_user = user;
    r->kind = BUFFER_MALLOC;
    return finish(error, r);
}

void nova_dataset_destroy(NovaDataset *ds)
{
    if (!ds || ds->parent)
        return;
    NovaRoot *r = ds->root;
    dataset_free(ds);
    root_free(r);
}

/* Read the rest of a header-only source and index the pixel data. */
bool nova__dataset_load_deferred(NovaError **error, const NovaDataset *ds)
{
    while (ds->parent)
        ds = ds->parent;
    NovaRoot *r = ds->root;
    bool ok = true;
    pthread_mutex_lock(&r->lock);
    if (r->pixels_loaded)
        goto done;
    Parser p = {r, error};
    if (r->path) {
        int fd = open(r->path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            ok = nova_error_set(error, NOVA_ERROR_IO, "cannot open file",
                                "%s: %s (reading pixel data)", r->path,
                                strerror(errno));
            goto done;
        }
        struct stat st;
        void *m = MAP_FAILED;
        if (fstat(fd, &st) == 0 && (size_t)st.st_size >= r->size &&
            st.st_size > 0)
            m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            close(fd);
            ok = nova_error_set(error, NOVA_ERROR_IO, "cannot read file",
                                "%s: could not map the file to read pixel "
                                "data",
                                r->path);
            goto done;
        }
        close(fd);
        nova_free(r->data);
        r->data = m;
        r->size = (size_t)st.st_size;
        r->map_size = r->size;
        r->kind = BUFFER_MMAP;
        r->eof = true;
    } else if (!source_fill(error, r, SIZE_MAX)) {
        ok = false;
        goto done;
    }
    NovaElement *e = nova__dataset_lookup(ds, NOVA_TAG_PIXEL_DATA);
    if (e && e->deferred) {
        if (e->encapsulated) {
            uint64_t pos = e->offset;
            ok = parse_fragments(&p, e, &pos, ds->big_endian);
        } else {
            ok = need(&p, e->offset, e->length, "Pixel Data value");
        }
        if (ok)
            e->deferred = false;
    }
    if (ok)
        r->pixels_loaded = true;
done:
    pthread_mutex_unlock(&r->lock);
    return ok;
}
