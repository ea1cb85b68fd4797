/*
 * pixel.c - from a dataset's Image Pixel module to decoded frames.
 *
 * Native Pixel Data: frame k starts at k * frame_size (in bits for 1-bit
 * data, PS3.5 8.1.1, where a frame may start mid-byte).  Encapsulated Pixel
 * Data (PS3.5 A.4): fragments are mapped to frames by, in order, the
 * Extended Offset Table (7FE0,0001/0002), the Basic Offset Table, one
 * fragment per frame, or the codestream start markers (SOI, SOC, JP2
 * signature) when a frame spans several fragments and no table says so.
 * The frame's bytes then go to the codec (src/lib/codec).
 */
#include "dataset_private.h"

#include <stdlib.h>
#include <string.h>

/* Where an error about the image points: the element at fault, or the
 * Pixel Data element when the fault is an absence (errors name the file,
 * the offset and the problem). */
static unsigned long long element_offset(const NovaDataset *ds, uint32_t tag)
{
    const NovaElement *e = nova__dataset_lookup(ds, tag);
    if (!e)
        e = nova__dataset_lookup(ds, NOVA_TAG_PIXEL_DATA);
    return e ? (unsigned long long)e->offset : 0;
}

static bool get_u16(NovaError **error, const NovaDataset *ds, uint32_t tag,
                    uint16_t *out, bool required, uint16_t fallback)
{
    int64_t v;
    if (!nova_dataset_has(ds, tag) || nova_dataset_get_vm(ds, tag) == 0) {
        if (required)
            return nova_error_set(error, NOVA_ERROR_INVALID, "invalid image",
                                  "%s: offset %llu: required element "
                                  "(%04X,%04X) is absent or empty",
                                  nova_dataset_get_source_name(ds),
                                  element_offset(ds, tag), NOVA_TAG_GROUP(tag),
                                  NOVA_TAG_ELEMENT(tag));
        *out = fallback;
        return true;
    }
    NovaError *inner = NULL;
    if (!nova_dataset_get_int(&inner, ds, tag, 0, &v)) {
        nova_error_set(error, NOVA_ERROR_INVALID, "invalid image",
                       "%s: offset %llu: element (%04X,%04X) has no usable "
                       "number (%s)",
                       nova_dataset_get_source_name(ds),
                       element_offset(ds, tag), NOVA_TAG_GROUP(tag),
                       NOVA_TAG_ELEMENT(tag),
                       inner ? nova_error_summary(inner) : "no value");
        nova_error_free(inner);
        return false;
    }
    if (v < 0 || v > 65535)
        return nova_error_set(error, NOVA_ERROR_INVALID, "invalid image",
                              "%s: offset %llu: element (%04X,%04X) value "
                              "%lld out of range",
                              nova_dataset_get_source_name(ds),
                              element_offset(ds, tag), NOVA_TAG_GROUP(tag),
                              NOVA_TAG_ELEMENT(tag), (long long)v);
    *out = (uint16_t)v;
    return true;
}

bool nova_dataset_get_image_info(NovaError **error, const NovaDataset *ds,
                                 NovaImageInfo *info)
{
    memset(info, 0, sizeof *info);
    uint16_t rows = 0, cols = 0;
    if (!get_u16(error, ds, NOVA_TAG(0x0028, 0x0010), &rows, true, 0) ||
        !get_u16(error, ds, NOVA_TAG(0x0028, 0x0011), &cols, true, 0) ||
        !get_u16(error, ds, NOVA_TAG(0x0028, 0x0002), &info->samples_per_pixel,
                 false, 1) ||
        !get_u16(error, ds, NOVA_TAG(0x0028, 0x0100), &info->bits_allocated,
                 true, 0) ||
        !get_u16(error, ds, NOVA_TAG(0x0028, 0x0101), &info->bits_stored, false,
                 info->bits_allocated) ||
        !get_u16(error, ds, NOVA_TAG(0x0028, 0x0102), &info->high_bit, false,
                 (uint16_t)(info->bits_stored ? info->bits_stored - 1 : 0)) ||
        !get_u16(error, ds, NOVA_TAG(0x0028, 0x0103),
                 &info->pixel_representation, false, 0) ||
        !get_u16(error, ds, NOVA_TAG(0x0028, 0x0006),
                 &info->planar_configuration, false, 0))
        return false;
    info->rows = rows;
    info->columns = cols;
    info->frames = 1;
    if (nova_dataset_get_vm(ds, NOVA_TAG(0x0028, 0x0008)) > 0) {
        int64_t frames;
        if (!nova_dataset_get_int(NULL, ds, NOVA_TAG(0x0028, 0x0008), 0,
                                  &frames))
            return nova_error_set(error, NOVA_ERROR_INVALID, "invalid image",
                                  "%s: offset %llu: Number of Frames is not "
                                  "an integer",
                                  nova_dataset_get_source_name(ds),
                                  element_offset(ds, NOVA_TAG(0x0028, 0x0008)));
        if (frames < 1 || frames > INT32_MAX)
            return nova_error_set(error, NOVA_ERROR_INVALID, "invalid image",
                                  "%s: offset %llu: Number of Frames is %lld",
                                  nova_dataset_get_source_name(ds),
                                  element_offset(ds, NOVA_TAG(0x0028, 0x0008)),
                                  (long long)frames);
        info->frames = (uint32_t)frames;
    }
    char photometric[20] = "";
    if (nova_dataset_get_vm(ds, NOVA_TAG(0x0028, 0x0004)) > 0 &&
        !nova_dataset_get_string_value(NULL, ds, NOVA_TAG(0x0028, 0x0004), 0,
                                       photometric, sizeof photometric))
        photometric[0] = '\0';
    info->photometric = nova_photometric_from_name(photometric);
    if (info->photometric == NOVA_PHOTOMETRIC_UNKNOWN)
        info->photometric = info->samples_per_pixel == 3
                                ? NOVA_PHOTOMETRIC_RGB
                                : NOVA_PHOTOMETRIC_MONOCHROME2;
    if (!nova_image_info_validate(error, info)) {
        nova_error_prefix(error, "%s: Image Pixel module at offset %llu: ",
                          nova_dataset_get_source_name(ds),
                          element_offset(ds, NOVA_TAG(0x0028, 0x0010)));
        return false;
    }
    return true;
}

static const NovaElement *pixel_element(NovaError **error,
                                        const NovaDataset *ds)
{
    const NovaElement *e = nova__dataset_lookup(ds, NOVA_TAG_PIXEL_DATA);
    if (!e) {
        nova_error_set(error, NOVA_ERROR_NOT_FOUND, "no pixel data",
                       "%s: Pixel Data (7FE0,0010) is absent",
                       nova_dataset_get_source_name(ds));
        return NULL;
    }
    if (e->deferred && !nova__dataset_load_deferred(error, ds))
        return NULL;
    return e;
}

static bool starts_codestream(const uint8_t *p, uint32_t len)
{
    if (len >= 2 && p[0] == 0xFF && (p[1] == 0xD8 || p[1] == 0x4F))
        return true; /* JPEG / JPEG-LS SOI, JPEG 2000 SOC */
    if (len >= 12 && memcmp(p, "\0\0\0\x0cjP  ", 8) == 0)
        return true; /* JP2 signature box */
    return false;
}

/* The fragments [first, first + n) that make up a frame (excluding the BOT,
 * which is fragment 0). */
static bool frame_fragments(NovaError **error, const NovaDataset *ds,
                            const NovaElement *e, uint32_t frame,
                            uint32_t frames, uint32_t *first, uint32_t *n)
{
    const char *name = nova_dataset_get_source_name(ds);
    const uint8_t *data = ds->root->data;
    uint32_t nfrag = e->count - 1; /* data fragments */
    const NovaFragment *frag = e->fragments + 1;
    if (nfrag == 0)
        return nova_error_set(error, NOVA_ERROR_PARSE, "invalid DICOM",
                              "%s: offset %llu: encapsulated Pixel Data has "
                              "no fragments",
                              name, (unsigned long long)e->offset);
    if (frames == 1) {
        *first = 0;
        *n = nfrag;
        return true;
    }
    /* Extended Offset Table, PS3.3 C.7.6.3.1.8 (offsets to fragment item
     * tags, relative to the first fragment after the BOT). */
    /* Basic Offset Table, PS3.5 A.4: uint32 offsets of each frame's first
     * fragment item, relative to the first item after the table. */
    const NovaFragment *bot = e->fragments;
    uint64_t base = frag[0].offset - 8;
    uint32_t table_n = bot->length / 4;
    const NovaElement *eot = nova__dataset_lookup(ds, NOVA_TAG(0x7FE0, 0x0001));
    uint64_t start_rel = 0, end_rel = UINT64_MAX;
    bool use_table = false;
    if (eot && !eot->deferred && eot->vr != NOVA_VR_SQ &&
        eot->length / 8 >= frames) {
        const uint8_t *t = data + eot->offset + (size_t)frame * 8;
        start_rel = (uint64_t)nova__get_u32(t + 4, false) << 32 |
                    nova__get_u32(t, false);
        if (frame + 1 < frames) {
            t += 8;
            end_rel = (uint64_t)nova__get_u32(t + 4, false) << 32 |
                      nova__get_u32(t, false);
        }
        use_table = true;
    } else if (table_n >= frames) {
        const uint8_t *t = data + bot->offset;
        start_rel = nova__get_u32(t + (size_t)frame * 4, ds->big_endian);
        if (frame + 1 < frames)
            end_rel =
                nova__get_u32(t + (size_t)(frame + 1) * 4, ds->big_endian);
        use_table = true;
    }
    if (use_table) {
        uint32_t a = UINT32_MAX, b = nfrag;
        for (uint32_t i = 0; i < nfrag; i++) {
            uint64_t rel = frag[i].offset - 8 - base;
            if (rel == start_rel)
                a = i;
            if (end_rel != UINT64_MAX && rel == end_rel) {
                b = i;
                break;
            }
        }
        if (a == UINT32_MAX || b <= a)
            return nova_error_set(error, NOVA_ERROR_PARSE, "invalid DICOM",
                                  "%s: offset %llu: offset table entry %u "
                                  "(%llu) does not point at a fragment",
                                  name, (unsigned long long)bot->offset, frame,
                                  (unsigned long long)start_rel);
        *first = a;
        *n = b - a;
        return true;
    }
    if (nfrag == frames) {
        *first = frame;
        *n = 1;
        return true;
    }
    /* No table and more fragments than frames: a frame starts at each
     * fragment that begins a codestream. */
    uint32_t seen = 0, a = UINT32_MAX;
    for (uint32_t i = 0; i < nfrag; i++) {
        if (starts_codestream(data + frag[i].offset, frag[i].length)) {
            if (seen == frame)
                a = i;
            else if (seen == frame + 1) {
                *first = a;
                *n = i - a;
                return true;
            }
            seen++;
        }
    }
    if (a != UINT32_MAX && seen == frame + 1) {
        *first = a;
        *n = nfrag - a;
        return true;
    }
    return nova_error_set(error, NOVA_ERROR_PARSE, "invalid DICOM",
                          "%s: offset %llu: cannot find frame %u of %u among "
                          "%u fragments (no offset table)",
                          name, (unsigned long long)e->offset, frame + 1,
                          frames, nfrag);
}

bool nova_dataset_get_frame_bytes(NovaError **error, const NovaDataset *ds,
                                  uint32_t frame, const uint8_t **data,
                                  size_t *length, bool *must_free)
{
    NovaImageInfo info;
    *must_free = false;
    if (!nova_dataset_get_image_info(error, ds, &info))
        return false;
    if (frame >= info.frames)
        return nova_error_set(error, NOVA_ERROR_RANGE, "no such frame",
                              "%s: frame %u requested, the image has %u",
                              nova_dataset_get_source_name(ds), frame + 1,
                              info.frames);
    const NovaElement *e = pixel_element(error, ds);
    if (!e)
        return false;
    if (!e->encapsulated)
        return nova_error_set(error, NOVA_ERROR_INVALID, "not encapsulated",
                              "%s: Pixel Data is native, not encapsulated",
                              nova_dataset_get_source_name(ds));
    uint32_t first = 0, n = 0;
    if (!frame_fragments(error, ds, e, frame, info.frames, &first, &n))
        return false;
    const NovaFragment *frag = e->fragments + 1 + first;
    if (n == 1) {
        *data = ds->root->data + frag->offset;
        *length = frag->length;
        return true;
    }
    size_t total = 0;
    for (uint32_t i = 0; i < n; i++)
        total += frag[i].length;
    uint8_t *buf = nova_malloc(error, total);
    if (!buf)
        return false;
    size_t pos = 0;
    for (uint32_t i = 0; i < n; i++) {
        memcpy(buf + pos, ds->root->data + frag[i].offset, frag[i].length);
        pos += frag[i].length;
    }
    *data = buf;
    *length = total;
    *must_free = true;
    return true;
}

/* PS3.3 C.7.6.3.1.2: native YBR_FULL_422 holds Y1 Y2 Cb Cr for each pair
 * of pixels in a row; expand to Y Cb Cr per pixel (YBR_FULL). */
static bool decode_native_422(NovaError **error, const NovaDataset *ds,
                              const NovaElement *e, const NovaImageInfo *info,
                              uint32_t frame, uint8_t *out)
{
    const char *name = nova_dataset_get_source_name(ds);
    if (info->columns % 2 != 0)
        return nova_error_set(error, NOVA_ERROR_INVALID, "invalid image",
                              "%s: offset %llu: YBR_FULL_422 with an odd "
                              "number of columns (%u)",
                              name, (unsigned long long)e->offset,
                              info->columns);
    uint64_t in_frame = (uint64_t)info->rows * info->columns * 2;
    uint64_t offset = in_frame * frame;
    if (offset + in_frame > e->length)
        return nova_error_set(error, NOVA_ERROR_PARSE, "truncated pixel data",
                              "%s: offset %llu: Pixel Data holds %u bytes, "
                              "frame %u needs bytes %llu to %llu",
                              name, (unsigned long long)e->offset, e->length,
                              frame + 1, (unsigned long long)offset,
                              (unsigned long long)(offset + in_frame));
    const uint8_t *src = ds->root->data + e->offset + offset;
    size_t pairs = (size_t)info->rows * info->columns / 2;
    for (size_t i = 0; i < pairs; i++, src += 4, out += 6) {
        out[0] = src[0];
        out[1] = src[2];
        out[2] = src[3];
        out[3] = src[1];
        out[4] = src[2];
        out[5] = src[3];
    }
    return true;
}

bool nova_dataset_decode_frame(NovaError **error, const NovaDataset *ds,
                               uint32_t frame, void *out, size_t out_size)
{
    NovaImageInfo info;
    if (!nova_dataset_get_image_info(error, ds, &info))
        return false;
    const char *name = nova_dataset_get_source_name(ds);
    size_t frame_bytes = nova_image_frame_bytes(&info);
    if (out_size < frame_bytes)
        return nova_error_set(error, NOVA_ERROR_RANGE, "buffer too small",
                              "%s: frame needs %zu bytes, buffer has %zu", name,
                              frame_bytes, out_size);
    if (frame >= info.frames)
        return nova_error_set(error, NOVA_ERROR_RANGE, "no such frame",
                              "%s: frame %u requested, the image has %u", name,
                              frame + 1, info.frames);
    const NovaTransferSyntax *ts = nova_dataset_get_transfer_syntax(ds);
    const NovaElement *e = pixel_element(error, ds);
    if (!e)
        return false;
    bool ok;
    if (e->encapsulated) {
        const uint8_t *src;
        size_t len;
        bool must_free;
        if (ts->codec == NOVA_CODEC_NATIVE)
            return nova_error_set(error, NOVA_ERROR_PARSE, "invalid DICOM",
                                  "%s: offset %llu: encapsulated Pixel Data "
                                  "in the native transfer syntax %s",
                                  name, (unsigned long long)e->offset, ts->uid);
        if (!nova_dataset_get_frame_bytes(error, ds, frame, &src, &len,
                                          &must_free))
            return false;
        ok = nova_codec_decode(error, ts, &info, src, len, out, out_size);
        if (must_free)
            nova_free((void *)src);
    } else {
        if (e->vr == NOVA_VR_SQ || e->length == NOVA_UNDEFINED_LENGTH)
            return nova_error_set(error, NOVA_ERROR_PARSE, "invalid DICOM",
                                  "%s: offset %llu: Pixel Data is not a "
                                  "plain value",
                                  name, (unsigned long long)e->offset);
        /* Native data with a compressed transfer syntax's UID is decoded as
         * native: the dataset says what it is. */
        NovaTransferSyntax native = *ts;
        native.codec = NOVA_CODEC_NATIVE;
        native.encapsulated = false;
        const uint8_t *value = ds->root->data + e->offset;
        uint64_t samples =
            (uint64_t)info.rows * info.columns * info.samples_per_pixel;
        if (info.bits_allocated == 1) {
            /* PS3.5 8.1.1: only OW in big endian holds its bits in 16-bit
             * words; OB is a byte stream in every transfer syntax. */
            if (e->vr != NOVA_VR_OW)
                native.big_endian = false;
            uint64_t first_bit = samples * frame;
            uint64_t last_byte = (first_bit + samples + 7) / 8;
            if (last_byte > e->length)
                return nova_error_set(
                    error, NOVA_ERROR_PARSE, "truncated pixel data",
                    "%s: offset %llu: Pixel Data holds %u bytes, frame %u "
                    "needs %llu",
                    name, (unsigned long long)e->offset, e->length, frame + 1,
                    (unsigned long long)last_byte);
            const uint8_t *src = value + first_bit / 8;
            unsigned shift = (unsigned)(first_bit % 8);
            size_t nbytes = (size_t)((samples + 7) / 8);
            if (shift == 0)
                return nova_codec_decode(error, &native, &info, src, nbytes,
                                         out, out_size);
            /* PS3.5 8.1.1: bits are packed LSB first across frames; realign
             * a frame that starts mid-byte. */
            uint8_t *tmp = nova_malloc(error, nbytes);
            if (!tmp)
                return false;
            size_t avail = (size_t)(last_byte - first_bit / 8);
            for (size_t i = 0; i < nbytes; i++) {
                unsigned lo = src[i] >> shift;
                unsigned hi =
                    i + 1 < avail ? (unsigned)src[i + 1] << (8 - shift) : 0;
                tmp[i] = (uint8_t)(lo | hi);
            }
            ok = nova_codec_decode(error, &native, &info, tmp, nbytes, out,
                                   out_size);
            nova_free(tmp);
            return ok;
        }
        if (info.photometric == NOVA_PHOTOMETRIC_YBR_FULL_422 &&
            info.samples_per_pixel == 3 && info.bits_allocated == 8)
            return decode_native_422(error, ds, e, &info, frame, out);
        uint64_t offset = (uint64_t)frame * frame_bytes;
        if (offset + frame_bytes > e->length)
            return nova_error_set(
                error, NOVA_ERROR_PARSE, "truncated pixel data",
                "%s: offset %llu: Pixel Data holds %u bytes, frame %u of %u "
                "needs bytes %llu to %llu",
                name, (unsigned long long)e->offset, e->length, frame + 1,
                info.frames, (unsigned long long)offset,
                (unsigned long long)(offset + frame_bytes));
        ok = nova_codec_decode(error, &native, &info, value + offset,
                               frame_bytes, out, out_size);
    }
    if (!ok)
        nova_error_prefix(error,
                          "%s: frame %u (Pixel Data at offset %llu): ", name,
                          frame + 1, (unsigned long long)e->offset);
    return ok;
}
