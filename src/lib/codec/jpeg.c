/*
 * jpeg.c - JPEG baseline (process 1) and extended 8-bit (processes 2 and 4)
 * through libjpeg-turbo (Debian's libjpeg62-turbo, an 8-bit build).
 *
 * Before handing the frame to libjpeg we walk its markers to the SOF
 * (T.81 B.2.2): a SOF3 lossless stream mislabelled as baseline goes to our
 * process 14 decoder, and 12-bit precision (process 4 at 12 bits) gets a
 * clear "not supported" error because this libjpeg build has no 12-bit
 * path.  libjpeg's fatal errors return through longjmp into a NovaError
 * (the jmp_buf lives in the per-call error manager, so this is thread
 * safe); its warnings are ignored except "premature end of JPEG file",
 * which means the frame is truncated and is an error.
 *
 * Colour (PS3.5 8.2.1): for YBR_FULL_422 / YBR_FULL the stream holds
 * YCbCr and libjpeg's colour transform yields RGB; for RGB the stream holds
 * RGB and no transform is applied, whatever JFIF/Adobe markers suggest (as
 * DCMTK does by default); other YBR variants are delivered as decoded
 * (YCbCr, upsampled).  Monochrome is decoded as greyscale.
 */
#include "codec_private.h"

#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
    bool truncated;
} ErrorMgr;

static void error_exit(j_common_ptr cinfo)
{
    ErrorMgr *err = (ErrorMgr *)cinfo->err;
    err->pub.format_message(cinfo, err->message);
    longjmp(err->jump, 1);
}

static void emit_message(j_common_ptr cinfo, int level)
{
    ErrorMgr *err = (ErrorMgr *)cinfo->err;
    if (level < 0 && err->pub.msg_code == JWRN_JPEG_EOF && !err->truncated) {
        err->truncated = true;
        err->pub.format_message(cinfo, err->message);
    }
}

static void output_message(j_common_ptr cinfo) { (void)cinfo; }

/* Find the first SOFn marker: its code and sample precision. */
static bool find_sof(const uint8_t *s, size_t len, int *marker,
                     int *precision)
{
    size_t pos = 2;
    if (len < 4 || s[0] != 0xFF || s[1] != 0xD8)
        return false;
    while (pos + 4 <= len) {
        if (s[pos] != 0xFF) {
            pos++;
            continue;
        }
        uint8_t m = s[pos + 1];
        if (m == 0xFF) {
            pos++;
            continue;
        }
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD8)) {
            pos += 2;
            continue;
        }
        size_t seg = (size_t)s[pos + 2] << 8 | s[pos + 3];
        if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
            if (pos + 5 > len)
                return false;
            *marker = m;
            *precision = s[pos + 4];
            return true;
        }
        if (m == 0xDA || m == 0xD9 || seg < 2)
            return false;
        pos += 2 + seg;
    }
    return false;
}

bool nova__decode_jpeg(NOVA__DECODER_ARGS)
{
    int sof = 0, precision = 0;
    if (!find_sof(src, src_len, &sof, &precision))
        return nova_error_set(error, NOVA_ERROR_PARSE, "bad JPEG data",
                              "%s: no SOI/SOF marker found in the %zu-byte "
                              "frame",
                              ts->name, src_len);
    if (sof == 0xC3 && ts->codec != NOVA_CODEC_JPEG_LOSSLESS)
        return nova__decode_jpeg_lossless(error, ts, info, src, src_len, dst,
                                          dst_len);
    if (precision != 8)
        return nova_error_set(error, NOVA_ERROR_UNSUPPORTED,
                              "unsupported JPEG precision",
                              "%s: JPEG Extended %d-bit is not supported "
                              "(Nova's libjpeg-turbo decodes 8-bit DCT "
                              "JPEG only)",
                              ts->name, precision);
    if (info->bits_allocated != 8 && info->bits_allocated != 16)
        return nova_error_set(error, NOVA_ERROR_UNSUPPORTED,
                              "unsupported pixel data",
                              "%s: 8-bit JPEG with Bits Allocated %u",
                              ts->name, info->bits_allocated);

    struct jpeg_decompress_struct cinfo;
    ErrorMgr err;
    memset(&err, 0, sizeof err);
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = error_exit;
    err.pub.emit_message = emit_message;
    err.pub.output_message = output_message;
    /* Variables live across setjmp must be volatile or not modified. */
    uint8_t *volatile row16 = NULL;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        nova_free(row16);
        return nova_error_set(error, NOVA_ERROR_PARSE, "bad JPEG data",
                              "%s: libjpeg: %s", ts->name, err.message);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, src, (unsigned long)src_len);
    jpeg_read_header(&cinfo, TRUE);

    unsigned spp = info->samples_per_pixel;
    if (spp == 1) {
        cinfo.out_color_space = JCS_GRAYSCALE;
    } else if (cinfo.num_components == 3) {
        switch (info->photometric) {
        case NOVA_PHOTOMETRIC_RGB:
            cinfo.jpeg_color_space = JCS_RGB;
            cinfo.out_color_space = JCS_RGB;
            break;
        case NOVA_PHOTOMETRIC_YBR_FULL:
        case NOVA_PHOTOMETRIC_YBR_FULL_422:
            cinfo.jpeg_color_space = JCS_YCbCr;
            cinfo.out_color_space = JCS_RGB;
            break;
        default:
            cinfo.jpeg_color_space = JCS_YCbCr;
            cinfo.out_color_space = JCS_YCbCr;
            break;
        }
    }
    jpeg_start_decompress(&cinfo);
    if (cinfo.output_width != info->columns ||
        cinfo.output_height != info->rows ||
        (unsigned)cinfo.output_components != spp) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "stream is %ux%u with %d components, the dataset says "
                 "%ux%u with %u samples",
                 cinfo.output_width, cinfo.output_height,
                 cinfo.output_components, info->columns, info->rows, spp);
        jpeg_destroy_decompress(&cinfo);
        return nova_error_set(error, NOVA_ERROR_PARSE, "bad JPEG data",
                              "%s: %s", ts->name, msg);
    }
    size_t stride = (size_t)info->columns * spp;
    if (info->bits_allocated == 16) {
        row16 = nova_malloc(error, stride);
        if (!row16) {
            jpeg_destroy_decompress(&cinfo);
            return false;
        }
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        size_t y = cinfo.output_scanline;
        JSAMPROW row = row16 ? row16 : (uint8_t *)dst + y * stride;
        if (jpeg_read_scanlines(&cinfo, &row, 1) != 1)
            break;
        if (row16) {
            uint16_t *o = (uint16_t *)dst + y * stride;
            for (size_t i = 0; i < stride; i++)
                o[i] = row16[i];
        }
        if (err.truncated)
            break;
    }
    bool truncated = err.truncated ||
                     cinfo.output_scanline < cinfo.output_height;
    if (!truncated)
        jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    nova_free(row16);
    if (truncated || err.truncated)
        return nova_error_set(error, NOVA_ERROR_PARSE, "truncated JPEG data",
                              "%s: libjpeg: %s", ts->name,
                              err.message[0] ? err.message
                                             : "not all lines decoded");
    nova__codec_fix_samples(info, dst, nova__frame_samples(info));
    return true;
}
