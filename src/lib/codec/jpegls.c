/*
 * jpegls.c - JPEG-LS lossless and near-lossless (ITU-T T.87, PS3.5 8.2.3)
 * through CharLS 2.4's C API.
 *
 * CharLS decodes samples of 2..8 bits into bytes and 9..16 bits into
 * 16-bit words; with interleave mode "none" (ILV 0) the components come out
 * plane after plane and are interleaved here, with line and sample
 * interleave (ILV 1, 2) they come out by pixel.  The result is widened to
 * the dataset's Bits Allocated when that is wider, then masked and sign
 * extended: JPEG-LS codes signed data as its unsigned bit pattern, so sign
 * extension from Bits Stored restores the value (as pydicom and GDCM do).
 */
#include "codec_private.h"

#include <charls/charls.h>
#include <string.h>

static bool charls_fail(NovaError **error, const NovaTransferSyntax *ts,
                        const char *step, charls_jpegls_errc rc)
{
    return nova_error_set(error, NOVA_ERROR_PARSE, "bad JPEG-LS data",
                          "%s: CharLS %s: %s", ts->name, step,
                          charls_get_error_message(rc));
}

bool nova__decode_jpegls(NOVA__DECODER_ARGS)
{
    /* The stream must end with EOI: CharLS 2.4.1 can spend tens of seconds
     * on some truncated streams.  Writers pad the fragment (00 to even
     * length) and DCMTK 3.6.7's near-lossless encoder leaves a few
     * uninitialised bytes after the EOI, so look for it among the last 64
     * bytes rather than at the very end. */
    size_t end = src_len;
    while (end >= 2 && src_len - end < 64 &&
           !(src[end - 2] == 0xFF && src[end - 1] == 0xD9))
        end--;
    if (end < 4 || src[end - 2] != 0xFF || src[end - 1] != 0xD9)
        return nova_error_set(error, NOVA_ERROR_PARSE, "truncated JPEG-LS data",
                              "%s: the %zu-byte frame does not end with an "
                              "EOI marker (FFD9): truncated stream",
                              ts->name, src_len);
    charls_jpegls_decoder *dec = charls_jpegls_decoder_create();
    if (!dec)
        return nova_error_set(error, NOVA_ERROR_NOMEM, "out of memory",
                              "%s: cannot create a CharLS decoder", ts->name);
    bool ok = false;
    uint8_t *tmp = NULL;
    charls_jpegls_errc rc;
    charls_frame_info fi;
    charls_interleave_mode ilv;
    rc = charls_jpegls_decoder_set_source_buffer(dec, src, src_len);
    if (rc) {
        charls_fail(error, ts, "source", rc);
        goto out;
    }
    rc = charls_jpegls_decoder_read_header(dec);
    if (rc) {
        charls_fail(error, ts, "header", rc);
        goto out;
    }
    rc = charls_jpegls_decoder_get_frame_info(dec, &fi);
    if (!rc)
        rc = charls_jpegls_decoder_get_interleave_mode(dec, &ilv);
    if (rc) {
        charls_fail(error, ts, "frame info", rc);
        goto out;
    }
    if (fi.width != info->columns || fi.height != info->rows ||
        fi.component_count != (int32_t)info->samples_per_pixel) {
        nova_error_set(error, NOVA_ERROR_PARSE, "bad JPEG-LS data",
                       "%s: stream is %ux%u with %d components, the dataset "
                       "says %ux%u with %u samples",
                       ts->name, fi.width, fi.height, fi.component_count,
                       info->columns, info->rows, info->samples_per_pixel);
        goto out;
    }
    unsigned ba = info->bits_allocated;
    if (fi.bits_per_sample < 2 || fi.bits_per_sample > 16 ||
        (fi.bits_per_sample > 8 && ba == 8)) {
        nova_error_set(error, NOVA_ERROR_PARSE, "bad JPEG-LS data",
                       "%s: %d-bit samples do not fit Bits Allocated %u",
                       ts->name, fi.bits_per_sample, ba);
        goto out;
    }
    size_t n = nova__frame_samples(info);
    size_t out_bps = fi.bits_per_sample > 8 ? 2 : 1;
    size_t spp = info->samples_per_pixel;
    bool planar = ilv == CHARLS_INTERLEAVE_MODE_NONE && spp > 1;
    bool direct = out_bps == ba / 8 && !planar;
    uint8_t *target = dst;
    if (!direct) {
        tmp = nova_malloc_array(error, n, out_bps);
        if (!tmp)
            goto out;
        target = tmp;
    }
    rc = charls_jpegls_decoder_decode_to_buffer(dec, target, n * out_bps, 0);
    if (rc) {
        charls_fail(error, ts, "decode", rc);
        goto out;
    }
    if (!direct) {
        /* Sample i of component c is at c * pixels + i (planar) or
         * i * spp + c (by pixel). */
        size_t pixels = n / spp;
        for (size_t c = 0; c < spp; c++) {
            for (size_t i = 0; i < pixels; i++) {
                size_t from = planar ? c * pixels + i : i * spp + c;
                uint32_t v;
                if (out_bps == 1) {
                    v = tmp[from];
                } else {
                    uint16_t v16;
                    memcpy(&v16, tmp + 2 * from, 2);
                    v = v16;
                }
                size_t to = i * spp + c;
                if (ba == 8)
                    ((uint8_t *)dst)[to] = (uint8_t)v;
                else if (ba == 16)
                    ((uint16_t *)dst)[to] = (uint16_t)v;
                else
                    ((uint32_t *)dst)[to] = v;
            }
        }
    }
    nova__codec_fix_samples(info, dst, n);
    ok = true;
out:
    nova_free(tmp);
    charls_jpegls_decoder_destroy(dec);
    return ok;
}
