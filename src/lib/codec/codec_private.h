/*
 * codec_private.h - what the pixel-data codecs of src/lib/codec share: one
 * decode entry point per codec family (dispatched by decode.c) and the
 * sample post-processing every codec applies (bits-stored masking and sign
 * extension, PS3.5 8.1.1 / PS3.3 C.7.6.3.1.1).
 */
#ifndef NOVA_CODEC_PRIVATE_H
#define NOVA_CODEC_PRIVATE_H

#include "nova/codec.h"

/* Every decoder has this signature: src/src_len are the frame's bytes,
 * dst/dst_len the output (dst_len >= nova_image_frame_bytes(info), checked
 * by the caller), info already validated.  Errors name the codec. */
#define NOVA__DECODER_ARGS                                                   \
    NovaError **error, const NovaTransferSyntax *ts,                         \
        const NovaImageInfo *info, const uint8_t *src, size_t src_len,       \
        void *dst, size_t dst_len

bool nova__decode_native(NOVA__DECODER_ARGS);
bool nova__decode_rle(NOVA__DECODER_ARGS);
bool nova__decode_jpeg(NOVA__DECODER_ARGS);
bool nova__decode_jpeg_lossless(NOVA__DECODER_ARGS);
bool nova__decode_jpegls(NOVA__DECODER_ARGS);
bool nova__decode_j2k(NOVA__DECODER_ARGS);

/* Mask samples of `dst` (count samples of info->bits_allocated 8/16/32 bits
 * each, host order) to bits stored and sign extend them when pixel
 * representation is 1.  Does nothing when bits stored == bits allocated
 * (the stored value already is the sample). */
void nova__codec_fix_samples(const NovaImageInfo *info, void *dst,
                             size_t count);

/* Samples in one frame: rows * columns * samples per pixel (info is
 * validated, so this does not overflow). */
static inline size_t nova__frame_samples(const NovaImageInfo *info)
{
    return (size_t)info->rows * info->columns * info->samples_per_pixel;
}

#endif
