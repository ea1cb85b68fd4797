/*
 * rle.c - RLE Lossless (PS3.5 Annex G), our own decoder and encoder.
 *
 * An RLE frame is a 64-byte header (G.5: sixteen little-endian uint32: the
 * number of segments, then up to 15 segment offsets from the start of the
 * header) followed by the segments.  Each segment holds one byte plane of
 * one sample: for samples s = 0..spp-1, and within a sample the most
 * significant byte first (G.2).  A segment is a PackBits byte stream
 * (G.3.1): a header byte n in 0..127 copies the next n+1 bytes, n in
 * -127..-1 repeats the next byte 1-n times, -128 does nothing.
 *
 * Decoding expands each segment straight into its byte of every output
 * sample (stride = bytes per pixel; runs are memset and literals memcpy
 * when the stride is 1), so there is no scratch plane and no second pass.  Every offset and run is checked against
 * the segment's bounds; a segment that expands to fewer bytes than the plane
 * is an error, extra bytes (padding some encoders add) are ignored.
 */
#include "codec_private.h"

#include <string.h>

static inline uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

/* Expand one PackBits segment into plane_len bytes at out, out + stride,
 * out + 2 * stride, ... (the byte of each sample that the segment holds).
 * Returns the number of bytes produced (stops when the plane is full or the
 * input ends).  Stride 1 uses memset/memcpy. */
static inline __attribute__((always_inline)) size_t
unpackbits(const uint8_t *in, size_t in_len, uint8_t *out, size_t stride,
           size_t plane_len, const uint8_t *lut)
{
    size_t i = 0, o = 0;
    while (i < in_len && o < plane_len) {
        int8_t h = (int8_t)in[i++];
        if (h >= 0) {
            size_t count = (size_t)h + 1;
            if (count > in_len - i)
                count = in_len - i;
            if (count > plane_len - o)
                count = plane_len - o;
            if (stride == 1 && !lut) {
                memcpy(out + o, in + i, count);
            } else {
                uint8_t *d = out + o * stride;
                if (lut)
                    for (size_t k = 0; k < count; k++)
                        d[k * stride] = lut[in[i + k]];
                else
                    for (size_t k = 0; k < count; k++)
                        d[k * stride] = in[i + k];
            }
            i += count;
            o += count;
        } else if (h != -128) {
            if (i >= in_len)
                break;
            size_t count = (size_t)(1 - h);
            if (count > plane_len - o)
                count = plane_len - o;
            uint8_t v = lut ? lut[in[i]] : in[i];
            i++;
            if (stride == 1) {
                memset(out + o, v, count);
            } else {
                uint8_t *d = out + o * stride;
                for (size_t k = 0; k < count; k++)
                    d[k * stride] = v;
            }
            o += count;
        }
    }
    return o;
}

/* Specialised copies so the compiler sees a constant stride for the usual
 * layouts (8-bit grey, 16-bit grey). */
static size_t unpackbits_1(const uint8_t *in, size_t n, uint8_t *out,
                           size_t plane_len, const uint8_t *lut)
{
    return unpackbits(in, n, out, 1, plane_len, lut);
}

static size_t unpackbits_2(const uint8_t *in, size_t n, uint8_t *out,
                           size_t plane_len, const uint8_t *lut)
{
    return unpackbits(in, n, out, 2, plane_len, lut);
}

static size_t unpackbits_any(const uint8_t *in, size_t n, uint8_t *out,
                             size_t stride, size_t plane_len,
                             const uint8_t *lut)
{
    return unpackbits(in, n, out, stride, plane_len, lut);
}

bool nova__decode_rle(NOVA__DECODER_ARGS)
{
    size_t pixels = (size_t)info->rows * info->columns;
    size_t spp = info->samples_per_pixel;
    size_t bps = info->bits_allocated / 8;
    size_t nseg = spp * bps;
    if (src_len < 64)
        return nova_error_set(error, NOVA_ERROR_PARSE, "bad RLE frame",
                              "%s: frame of %zu bytes is shorter than the "
                              "64-byte RLE header",
                              ts->name, src_len);
    uint32_t count = le32(src);
    if (count != nseg)
        return nova_error_set(error, NOVA_ERROR_PARSE, "bad RLE frame",
                              "%s: header at offset 0 declares %u segments, "
                              "the image needs %zu (samples %zu x bytes %zu)",
                              ts->name, count, nseg, spp, bps);
    if (nseg > 15)
        return nova_error_set(error, NOVA_ERROR_UNSUPPORTED, "bad RLE frame",
                              "%s: %zu segments exceed the 15 of PS3.5 G.5",
                              ts->name, nseg);
    uint32_t offsets[16];
    for (size_t s = 0; s < nseg; s++) {
        offsets[s] = le32(src + 4 + 4 * s);
        if (offsets[s] < 64 || offsets[s] > src_len ||
            (s > 0 && offsets[s] < offsets[s - 1]))
            return nova_error_set(error, NOVA_ERROR_PARSE, "bad RLE frame",
                                  "%s: segment %zu offset %u (header offset "
                                  "%zu) is outside 64..%zu or out of order",
                                  ts->name, s, offsets[s], 4 + 4 * s, src_len);
    }
    offsets[nseg] = (uint32_t)(src_len > UINT32_MAX ? UINT32_MAX : src_len);

    /* Each segment expands straight into its byte of every sample of the
     * output (no scratch planes): G.2 puts byte k (most significant first)
     * of sample s in segment s * bps + k. */
    size_t stride = spp * bps;
    /* When every bit above Bits Stored lies in the most significant byte
     * (bits stored > 8 * (bytes - 1)), masking and sign extension are a
     * function of that byte alone: apply them as a table on the MSB
     * segment and skip the separate pass over the frame. */
    unsigned ba = info->bits_allocated, bs = info->bits_stored;
    bool lut_fix = bs < ba && bs > ba - 8;
    uint8_t lut[256];
    if (lut_fix) {
        unsigned top = bs - (ba - 8); /* stored bits in the top byte */
        for (unsigned v = 0; v < 256; v++) {
            unsigned m = v & ((1u << top) - 1u);
            if (info->pixel_representation == 1 && (m >> (top - 1)) & 1u)
                m |= ~((1u << top) - 1u) & 0xFFu;
            lut[v] = (uint8_t)m;
        }
    }
    for (size_t s = 0; s < nseg; s++) {
        size_t sample = s / bps, k = s % bps;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        size_t byte = k;
#else
        size_t byte = bps - 1 - k;
#endif
        uint8_t *out = (uint8_t *)dst + sample * bps + byte;
        const uint8_t *seg = src + offsets[s];
        size_t seg_len = offsets[s + 1] - offsets[s], got;
        const uint8_t *seg_lut = lut_fix && k == 0 ? lut : NULL;
        if (stride == 1)
            got = unpackbits_1(seg, seg_len, out, pixels, seg_lut);
        else if (stride == 2)
            got = unpackbits_2(seg, seg_len, out, pixels, seg_lut);
        else
            got = unpackbits_any(seg, seg_len, out, stride, pixels, seg_lut);
        if (got < pixels)
            return nova_error_set(error, NOVA_ERROR_PARSE,
                                  "truncated RLE segment",
                                  "%s: segment %zu at offset %u expands to %zu "
                                  "bytes, the plane needs %zu",
                                  ts->name, s, offsets[s], got, pixels);
    }
    if (!lut_fix)
        nova__codec_fix_samples(info, dst, pixels * spp);
    return true;
}

/* PackBits-encode one row of a byte plane (G.3.1: rows are encoded
 * separately).  Runs of 2 or more equal bytes that start a chunk become
 * replicate runs; a literal run is cut only where 3 equal bytes follow, so a
 * literal of 1 byte (2 bytes out) is always followed by a replicate run that
 * saves at least as much, and the output never exceeds
 * len + ceil(len / 128) bytes; out must hold len + len / 128 + 2 bytes.
 * Returns bytes written. */
static size_t packbits_row(const uint8_t *in, size_t len, uint8_t *out)
{
    size_t i = 0, o = 0;
    while (i < len) {
        size_t run = 1;
        while (i + run < len && run < 128 && in[i + run] == in[i])
            run++;
        if (run >= 2) {
            out[o++] = (uint8_t)(int8_t)(1 - (int)run);
            out[o++] = in[i];
            i += run;
            continue;
        }
        /* Literal: extend until 3 equal bytes start or 128 bytes. */
        size_t start = i, lit = 0;
        while (i < len && lit < 128) {
            if (lit > 0 && i + 2 < len && in[i] == in[i + 1] &&
                in[i] == in[i + 2])
                break;
            i++;
            lit++;
        }
        out[o++] = (uint8_t)(lit - 1);
        memcpy(out + o, in + start, lit);
        o += lit;
    }
    return o;
}

bool nova_codec_encode_rle(NovaError **error, const NovaImageInfo *info,
                           const void *frame, size_t frame_len, uint8_t **out,
                           size_t *out_len)
{
    if (!info || !frame || !out || !out_len)
        return nova_error_set(error, NOVA_ERROR_INVALID, "invalid argument",
                              "nova_codec_encode_rle: NULL argument");
    *out = NULL;
    *out_len = 0;
    if (!nova_image_info_validate(error, info))
        return false;
    if (info->bits_allocated == 1)
        return nova_error_set(error, NOVA_ERROR_UNSUPPORTED,
                              "unsupported pixel data",
                              "RLE Lossless encoder: Bits Allocated 1 is not "
                              "supported");
    size_t need = nova_image_frame_bytes(info);
    if (frame_len < need)
        return nova_error_set(error, NOVA_ERROR_RANGE, "frame too small",
                              "RLE Lossless encoder: frame of %zu bytes, the "
                              "image needs %zu",
                              frame_len, need);
    size_t rows = info->rows, cols = info->columns;
    size_t spp = info->samples_per_pixel, bps = info->bits_allocated / 8;
    size_t nseg = spp * bps;
    /* Worst case per row: cols + cols/128 + 2 bytes, plus one pad byte per
     * segment; checked arithmetic since the result sizes an allocation. */
    size_t row_max = cols + cols / 128 + 2, cap, seg_max;
    if (!nova_size_mul(row_max, rows, &seg_max) ||
        !nova_size_add(seg_max, 1, &seg_max) ||
        !nova_size_mul(seg_max, nseg, &cap) || !nova_size_add(cap, 64, &cap))
        return nova_error_set(error, NOVA_ERROR_RANGE, "image too large",
                              "RLE Lossless encoder: output size overflows");
    uint8_t *buf = nova_malloc(error, cap);
    uint8_t *row = nova_malloc(error, cols);
    if (!buf || !row) {
        nova_free(buf);
        nova_free(row);
        return false;
    }
    memset(buf, 0, 64);
    buf[0] = (uint8_t)nseg;
    size_t pos = 64;
    const uint8_t *bytes = frame;
    for (size_t s = 0; s < spp; s++) {
        for (size_t k = 0; k < bps; k++) {
            size_t seg = s * bps + k;
            if (pos > UINT32_MAX) {
                nova_free(buf);
                nova_free(row);
                return nova_error_set(error, NOVA_ERROR_RANGE,
                                      "image too large",
                                      "RLE Lossless encoder: segment offset "
                                      "exceeds 32 bits");
            }
            uint32_t off = (uint32_t)pos;
            for (unsigned b = 0; b < 4; b++)
                buf[4 + 4 * seg + b] = (uint8_t)(off >> (8 * b));
            /* Byte k (most significant first) of a host little-endian
             * sample is at byte offset bps - 1 - k. */
            size_t byte_in_sample = bps - 1 - k;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
            byte_in_sample = k;
#endif
            for (size_t r = 0; r < rows; r++) {
                const uint8_t *src = bytes + ((r * cols) * spp + s) * bps +
                                     byte_in_sample;
                for (size_t c = 0; c < cols; c++)
                    row[c] = src[c * spp * bps];
                pos += packbits_row(row, cols, buf + pos);
            }
            /* G.5: each segment has an even length. */
            if (pos & 1u)
                buf[pos++] = 0;
        }
    }
    nova_free(row);
    *out = buf;
    *out_len = pos;
    return true;
}
