/*
 * decode.c - nova_codec_decode(): checks the frame description and the
 * output buffer, then dispatches on the transfer syntax's codec family.
 * Also the sample post-processing shared by every codec: masking to Bits
 * Stored and sign extension for Pixel Representation 1 (PS3.3 C.7.6.3.1.1:
 * bits above the stored bits are not part of the sample).
 */
#include "codec_private.h"

#include <string.h>

void nova__codec_fix_samples(const NovaImageInfo *info, void *dst,
                             size_t count)
{
    unsigned ba = info->bits_allocated, bs = info->bits_stored;
    if (bs >= ba || ba == 1)
        return;
    bool is_signed = info->pixel_representation == 1;
    unsigned shift = ba - bs;
    /* Two simple loops per width that the compiler vectorises: the signed
     * one shifts the sign bit to the top and back (arithmetic shift). */
    if (ba == 8) {
        uint8_t *p = dst;
        if (is_signed)
            for (size_t i = 0; i < count; i++)
                p[i] = (uint8_t)(int8_t)((int8_t)(uint8_t)(p[i] << shift) >>
                                         shift);
        else {
            uint8_t mask = (uint8_t)((1u << bs) - 1u);
            for (size_t i = 0; i < count; i++)
                p[i] &= mask;
        }
    } else if (ba == 16) {
        uint16_t *p = dst;
        if (is_signed)
            for (size_t i = 0; i < count; i++)
                p[i] = (uint16_t)(int16_t)((int16_t)(uint16_t)(p[i] << shift) >>
                                           shift);
        else {
            uint16_t mask = (uint16_t)((1u << bs) - 1u);
            for (size_t i = 0; i < count; i++)
                p[i] &= mask;
        }
    } else if (ba == 32) {
        uint32_t *p = dst;
        if (is_signed)
            for (size_t i = 0; i < count; i++)
                p[i] = (uint32_t)((int32_t)(p[i] << shift) >> shift);
        else {
            uint32_t mask = (uint32_t)((1ull << bs) - 1u);
            for (size_t i = 0; i < count; i++)
                p[i] &= mask;
        }
    }
}

bool nova_codec_decode(NovaError **error, const NovaTransferSyntax *ts,
                       const NovaImageInfo *info, const uint8_t *src,
                       size_t src_len, void *dst, size_t dst_len)
{
    if (!ts || !info || !dst || (!src && src_len > 0))
        return nova_error_set(error, NOVA_ERROR_INVALID, "invalid argument",
                              "nova_codec_decode: NULL argument");
    if (!nova_image_info_validate(error, info))
        return false;
    size_t need = nova_image_frame_bytes(info);
    if (dst_len < need)
        return nova_error_set(error, NOVA_ERROR_RANGE, "buffer too small",
                              "%s: output buffer of %zu bytes is smaller than "
                              "the frame (%zu bytes)",
                              ts->name, dst_len, need);
    if (info->bits_allocated == 1 && ts->codec != NOVA_CODEC_NATIVE)
        return nova_error_set(error, NOVA_ERROR_UNSUPPORTED,
                              "unsupported pixel data",
                              "%s: Bits Allocated 1 is only supported for "
                              "uncompressed transfer syntaxes",
                              ts->name);
    if (src_len == 0 && ts->codec != NOVA_CODEC_NATIVE)
        return nova_error_set(error, NOVA_ERROR_PARSE, "empty frame",
                              "%s: the frame has no compressed bytes",
                              ts->name);
    bool ok;
    switch (ts->codec) {
    case NOVA_CODEC_NATIVE:
        ok = nova__decode_native(error, ts, info, src, src_len, dst, need);
        break;
    case NOVA_CODEC_RLE:
        ok = nova__decode_rle(error, ts, info, src, src_len, dst, need);
        break;
    case NOVA_CODEC_JPEG_BASELINE:
    case NOVA_CODEC_JPEG_EXTENDED:
        ok = nova__decode_jpeg(error, ts, info, src, src_len, dst, need);
        break;
    case NOVA_CODEC_JPEG_LOSSLESS:
        ok = nova__decode_jpeg_lossless(error, ts, info, src, src_len, dst,
                                        need);
        break;
    case NOVA_CODEC_JPEG_LS:
        ok = nova__decode_jpegls(error, ts, info, src, src_len, dst, need);
        break;
    case NOVA_CODEC_JPEG2000:
        ok = nova__decode_j2k(error, ts, info, src, src_len, dst, need);
        break;
    case NOVA_CODEC_UNSUPPORTED:
    default:
        return nova_error_set(error, NOVA_ERROR_UNSUPPORTED,
                              "unsupported transfer syntax",
                              "transfer syntax %s (%s) is not supported by "
                              "Nova's decoders",
                              ts->name, ts->uid);
    }
    return ok;
}
