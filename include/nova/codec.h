/*
 * nova/codec.h - transfer syntaxes and pixel-data codecs.
 *
 * A frame is decoded into a native array: rows x columns x samples, samples
 * interleaved (colour-by-pixel; planar input is interleaved on output), in
 * host byte order, one element per sample whose type follows bits allocated:
 *   1  -> uint8_t with value 0 or 1 (unpacked bit)
 *   8  -> uint8_t, or int8_t when pixel representation is 1
 *   16 -> uint16_t, or int16_t when pixel representation is 1
 *   32 -> uint32_t, or int32_t when pixel representation is 1
 * Bits above bits stored are masked off, and signed samples are sign
 * extended from bit (bits stored - 1).  No rescale is applied.
 *
 * Colour: codecs whose stream carries YCbCr that the standard requires the
 * decoder to convert (JPEG baseline with YBR_FULL_422 / YBR_FULL, JPEG 2000
 * with YBR_ICT / YBR_RCT) deliver RGB; nova_codec_output_photometric() says
 * what the decoded frame holds.
 */
#ifndef NOVA_CODEC_H
#define NOVA_CODEC_H

#include "nova/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    NOVA_CODEC_NATIVE = 0,    /* uncompressed */
    NOVA_CODEC_RLE,           /* RLE Lossless (PS3.5 G) - own code */
    NOVA_CODEC_JPEG_BASELINE, /* process 1 - libjpeg-turbo */
    NOVA_CODEC_JPEG_EXTENDED, /* processes 2 and 4 (8-bit only) */
    NOVA_CODEC_JPEG_LOSSLESS, /* process 14 and 14 SV1 - own code */
    NOVA_CODEC_JPEG_LS,       /* lossless and near-lossless - CharLS */
    NOVA_CODEC_JPEG2000,      /* lossless and lossy - OpenJPEG */
    NOVA_CODEC_UNSUPPORTED    /* known syntax Nova cannot decode */
} NovaCodecKind;

typedef struct {
    const char *uid;
    const char *name;
    bool explicit_vr;
    bool big_endian;
    bool deflated;
    bool encapsulated;
    bool lossy;
    NovaCodecKind codec;
} NovaTransferSyntax;

/* The table entry for a transfer syntax UID (trailing NUL/space padding
 * ignored), or NULL when the UID is not a known transfer syntax. Borrowed,
 * static. */
const NovaTransferSyntax *nova_transfer_syntax_lookup(const char *uid);

typedef enum {
    NOVA_PHOTOMETRIC_UNKNOWN = 0,
    NOVA_PHOTOMETRIC_MONOCHROME1,
    NOVA_PHOTOMETRIC_MONOCHROME2,
    NOVA_PHOTOMETRIC_PALETTE_COLOR,
    NOVA_PHOTOMETRIC_RGB,
    NOVA_PHOTOMETRIC_YBR_FULL,
    NOVA_PHOTOMETRIC_YBR_FULL_422,
    NOVA_PHOTOMETRIC_YBR_PARTIAL_422,
    NOVA_PHOTOMETRIC_YBR_PARTIAL_420,
    NOVA_PHOTOMETRIC_YBR_ICT,
    NOVA_PHOTOMETRIC_YBR_RCT
} NovaPhotometric;

NovaPhotometric nova_photometric_from_name(const char *name);
const char *nova_photometric_name(NovaPhotometric p);

/* What one image frame is, from the Image Pixel module. Plain data. */
typedef struct {
    uint32_t rows;
    uint32_t columns;
    uint32_t frames; /* Number of Frames, 1 when absent */
    uint16_t samples_per_pixel;
    uint16_t bits_allocated;
    uint16_t bits_stored;
    uint16_t high_bit;
    uint16_t pixel_representation; /* 0 unsigned, 1 two's complement */
    uint16_t planar_configuration; /* 0 interleaved, 1 planar (input) */
    NovaPhotometric photometric;
} NovaImageInfo;

/* Bytes of one decoded frame (see the layout above); 0 when the info is
 * invalid or the size overflows. */
size_t nova_image_frame_bytes(const NovaImageInfo *info);

/* Check that info describes something decodable (non-zero dimensions,
 * supported bits allocated, bits stored <= bits allocated, ...). */
bool nova_image_info_validate(NovaError **error, const NovaImageInfo *info);

/* The photometric interpretation of a decoded frame (RGB where the codec
 * converts YCbCr, otherwise the input's). */
NovaPhotometric nova_codec_output_photometric(const NovaTransferSyntax *ts,
                                              const NovaImageInfo *info);

/* Decode one frame's bytes (for encapsulated syntaxes: the frame's
 * fragments concatenated) into dst, which must hold
 * nova_image_frame_bytes(info) bytes.  For NOVA_CODEC_NATIVE, src is the
 * frame's native bytes in the transfer syntax's byte order; 1-bit frames
 * that start mid-byte are not supported here (see dicom pixel access).
 * Thread safe: no shared state. Errors name the codec and the problem. */
bool nova_codec_decode(NovaError **error, const NovaTransferSyntax *ts,
                       const NovaImageInfo *info, const uint8_t *src,
                       size_t src_len, void *dst, size_t dst_len);

/* RLE Lossless encoder (PS3.5 Annex G), for the DICOM writer: encodes one
 * frame laid out as nova_codec_decode produces it. *out is allocated with
 * nova_malloc; caller frees. */
bool nova_codec_encode_rle(NovaError **error, const NovaImageInfo *info,
                           const void *frame, size_t frame_len, uint8_t **out,
                           size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif
