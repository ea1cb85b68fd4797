/*
 * syntax.c - the transfer syntax table (PS3.6 Table A-1 and PS3.5 8.2) and
 * the frame-size arithmetic every codec shares.
 */
#include "nova/codec.h"

#include <string.h>

static const NovaTransferSyntax syntaxes[] = {
    /* uid, name, explicit, big endian, deflated, encapsulated, lossy, codec */
    {"1.2.840.10008.1.2", "Implicit VR Little Endian", false, false, false,
     false, false, NOVA_CODEC_NATIVE},
    {"1.2.840.10008.1.2.1", "Explicit VR Little Endian", true, false, false,
     false, false, NOVA_CODEC_NATIVE},
    {"1.2.840.10008.1.2.1.99", "Deflated Explicit VR Little Endian", true,
     false, true, false, false, NOVA_CODEC_NATIVE},
    {"1.2.840.10008.1.2.2", "Explicit VR Big Endian", true, true, false, false,
     false, NOVA_CODEC_NATIVE},
    {"1.2.840.10008.1.2.5", "RLE Lossless", true, false, false, true, false,
     NOVA_CODEC_RLE},
    {"1.2.840.10008.1.2.4.50", "JPEG Baseline (Process 1)", true, false, false,
     true, true, NOVA_CODEC_JPEG_BASELINE},
    {"1.2.840.10008.1.2.4.51", "JPEG Extended (Process 2 & 4)", true, false,
     false, true, true, NOVA_CODEC_JPEG_EXTENDED},
    {"1.2.840.10008.1.2.4.57", "JPEG Lossless, Non-Hierarchical (Process 14)",
     true, false, false, true, false, NOVA_CODEC_JPEG_LOSSLESS},
    {"1.2.840.10008.1.2.4.70",
     "JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 "
     "[Selection Value 1])",
     true, false, false, true, false, NOVA_CODEC_JPEG_LOSSLESS},
    {"1.2.840.10008.1.2.4.80", "JPEG-LS Lossless", true, false, false, true,
     false, NOVA_CODEC_JPEG_LS},
    {"1.2.840.10008.1.2.4.81", "JPEG-LS Lossy (Near-Lossless)", true, false,
     false, true, true, NOVA_CODEC_JPEG_LS},
    {"1.2.840.10008.1.2.4.90", "JPEG 2000 Image Compression (Lossless Only)",
     true, false, false, true, false, NOVA_CODEC_JPEG2000},
    {"1.2.840.10008.1.2.4.91", "JPEG 2000 Image Compression", true, false,
     false, true, true, NOVA_CODEC_JPEG2000},
    {"1.2.840.10008.1.2.4.201", "High-Throughput JPEG 2000 (Lossless Only)",
     true, false, false, true, false, NOVA_CODEC_UNSUPPORTED},
    {"1.2.840.10008.1.2.4.202",
     "High-Throughput JPEG 2000 with RPCL Options (Lossless Only)", true, false,
     false, true, false, NOVA_CODEC_UNSUPPORTED},
    {"1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000", true, false, false,
     true, true, NOVA_CODEC_UNSUPPORTED},
    {"1.2.840.10008.1.2.4.100", "MPEG2 Main Profile / Main Level", true, false,
     false, true, true, NOVA_CODEC_UNSUPPORTED},
    {"1.2.840.10008.1.2.4.101", "MPEG2 Main Profile / High Level", true, false,
     false, true, true, NOVA_CODEC_UNSUPPORTED},
    {"1.2.840.10008.1.2.4.102", "MPEG-4 AVC/H.264 High Profile", true, false,
     false, true, true, NOVA_CODEC_UNSUPPORTED},
    {"1.2.840.10008.1.2.4.103", "MPEG-4 AVC/H.264 BD-compatible High Profile",
     true, false, false, true, true, NOVA_CODEC_UNSUPPORTED},
    {"1.2.840.10008.1.2.4.104", "MPEG-4 AVC/H.264 High Profile For 2D Video",
     true, false, false, true, true, NOVA_CODEC_UNSUPPORTED},
    {"1.2.840.10008.1.2.4.105", "MPEG-4 AVC/H.264 High Profile For 3D Video",
     true, false, false, true, true, NOVA_CODEC_UNSUPPORTED},
    {"1.2.840.10008.1.2.4.106", "MPEG-4 AVC/H.264 Stereo High Profile", true,
     false, false, true, true, NOVA_CODEC_UNSUPPORTED},
    {"1.2.840.10008.1.2.4.107", "HEVC/H.265 Main Profile", true, false, false,
     true, true, NOVA_CODEC_UNSUPPORTED},
    {"1.2.840.10008.1.2.4.108", "HEVC/H.265 Main 10 Profile", true, false,
     false, true, true, NOVA_CODEC_UNSUPPORTED},
    {"1.2.840.10008.1.2.4.52", "JPEG Extended (Process 3 & 5) (Retired)", true,
     false, false, true, true, NOVA_CODEC_UNSUPPORTED},
    {"1.2.840.10008.1.2.4.53",
     "JPEG Spectral Selection, Non-Hierarchical (Process 6 & 8) (Retired)",
     true, false, false, true, true, NOVA_CODEC_UNSUPPORTED},
    {"1.2.840.10008.1.2.4.55",
     "JPEG Full Progression, Non-Hierarchical (Process 10 & 12) (Retired)",
     true, false, false, true, true, NOVA_CODEC_UNSUPPORTED},
    {"1.2.840.10008.1.2.4.92",
     "JPEG 2000 Part 2 Multi-component Image Compression (Lossless Only)", true,
     false, false, true, false, NOVA_CODEC_UNSUPPORTED},
    {"1.2.840.10008.1.2.4.93",
     "JPEG 2000 Part 2 Multi-component Image Compression", true, false, false,
     true, true, NOVA_CODEC_UNSUPPORTED},
    {"1.2.840.10008.1.2.4.94", "JPIP Referenced", true, false, false, false,
     true, NOVA_CODEC_UNSUPPORTED},
    {"1.2.840.10008.1.2.4.95", "JPIP Referenced Deflate", true, false, true,
     false, true, NOVA_CODEC_UNSUPPORTED},
};

const NovaTransferSyntax *nova_transfer_syntax_lookup(const char *uid)
{
    if (!uid)
        return NULL;
    size_t len = strlen(uid);
    while (len > 0 && (uid[len - 1] == ' ' || uid[len - 1] == '\0'))
        len--;
    for (size_t i = 0; i < sizeof syntaxes / sizeof syntaxes[0]; i++) {
        if (strlen(syntaxes[i].uid) == len &&
            memcmp(syntaxes[i].uid, uid, len) == 0)
            return &syntaxes[i];
    }
    return NULL;
}

static const char *const photometric_names[] = {
    [NOVA_PHOTOMETRIC_UNKNOWN] = "",
    [NOVA_PHOTOMETRIC_MONOCHROME1] = "MONOCHROME1",
    [NOVA_PHOTOMETRIC_MONOCHROME2] = "MONOCHROME2",
    [NOVA_PHOTOMETRIC_PALETTE_COLOR] = "PALETTE COLOR",
    [NOVA_PHOTOMETRIC_RGB] = "RGB",
    [NOVA_PHOTOMETRIC_YBR_FULL] = "YBR_FULL",
    [NOVA_PHOTOMETRIC_YBR_FULL_422] = "YBR_FULL_422",
    [NOVA_PHOTOMETRIC_YBR_PARTIAL_422] = "YBR_PARTIAL_422",
    [NOVA_PHOTOMETRIC_YBR_PARTIAL_420] = "YBR_PARTIAL_420",
    [NOVA_PHOTOMETRIC_YBR_ICT] = "YBR_ICT",
    [NOVA_PHOTOMETRIC_YBR_RCT] = "YBR_RCT",
};

NovaPhotometric nova_photometric_from_name(const char *name)
{
    if (!name)
        return NOVA_PHOTOMETRIC_UNKNOWN;
    for (size_t i = 1; i < sizeof photometric_names / sizeof *photometric_names;
         i++)
        if (strcmp(name, photometric_names[i]) == 0)
            return (NovaPhotometric)i;
    return NOVA_PHOTOMETRIC_UNKNOWN;
}

const char *nova_photometric_name(NovaPhotometric p)
{
    if ((size_t)p < sizeof photometric_names / sizeof *photometric_names)
        return photometric_names[p];
    return "";
}

size_t nova_image_frame_bytes(const NovaImageInfo *info)
{
    size_t n, bytes_per_sample;
    switch (info->bits_allocated) {
    case 1:
    case 8: bytes_per_sample = 1; break;
    case 16: bytes_per_sample = 2; break;
    case 32: bytes_per_sample = 4; break;
    default: return 0;
    }
    if (!nova_size_mul(info->rows, info->columns, &n) ||
        !nova_size_mul(n, info->samples_per_pixel, &n) ||
        !nova_size_mul(n, bytes_per_sample, &n))
        return 0;
    return n;
}

bool nova_image_info_validate(NovaError **error, const NovaImageInfo *info)
{
    const char *why = NULL;
    if (info->rows == 0 || info->columns == 0)
        why = "Rows or Columns is zero";
    else if (info->bits_allocated != 1 && info->bits_allocated != 8 &&
             info->bits_allocated != 16 && info->bits_allocated != 32)
        why = "Bits Allocated is not 1, 8, 16 or 32";
    else if (info->bits_stored == 0 || info->bits_stored > info->bits_allocated)
        why = "Bits Stored is zero or exceeds Bits Allocated";
    else if (info->samples_per_pixel != 1 && info->samples_per_pixel != 3)
        why = "Samples per Pixel is not 1 or 3";
    else if (info->pixel_representation > 1)
        why = "Pixel Representation is not 0 or 1";
    else if (info->frames == 0)
        why = "Number of Frames is zero";
    else if (nova_image_frame_bytes(info) == 0)
        why = "frame size overflows";
    if (why)
        return nova_error_set(error, NOVA_ERROR_INVALID, "invalid image",
                              "%s (rows %u, columns %u, samples %u, bits "
                              "allocated %u, bits stored %u)",
                              why, info->rows, info->columns,
                              info->samples_per_pixel, info->bits_allocated,
                              info->bits_stored);
    return true;
}

NovaPhotometric nova_codec_output_photometric(const NovaTransferSyntax *ts,
                                              const NovaImageInfo *info)
{
    /* PS3.3 C.7.6.3.1.2: native YBR_FULL_422 stores two luminance samples
     * per chroma pair; decoding expands it to full YBR. */
    if (info->samples_per_pixel == 3 && ts && !ts->encapsulated &&
        info->photometric == NOVA_PHOTOMETRIC_YBR_FULL_422)
        return NOVA_PHOTOMETRIC_YBR_FULL;
    if (info->samples_per_pixel == 3 && ts) {
        /* PS3.5 8.2.1: JPEG baseline colour is YCbCr in the stream and the
         * decoder's colour transform yields RGB; PS3.5 8.2.4: J2K ICT/RCT are
         * reversed by the decoder's inverse component transform. */
        if ((ts->codec == NOVA_CODEC_JPEG_BASELINE ||
             ts->codec == NOVA_CODEC_JPEG_EXTENDED) &&
            (info->photometric == NOVA_PHOTOMETRIC_YBR_FULL_422 ||
             info->photometric == NOVA_PHOTOMETRIC_YBR_FULL))
            return NOVA_PHOTOMETRIC_RGB;
        if (ts->codec == NOVA_CODEC_JPEG2000 &&
            (info->photometric == NOVA_PHOTOMETRIC_YBR_ICT ||
             info->photometric == NOVA_PHOTOMETRIC_YBR_RCT))
            return NOVA_PHOTOMETRIC_RGB;
    }
    return info->photometric;
}
