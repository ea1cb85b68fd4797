/*
 * j2k.c - JPEG 2000 lossless and lossy (PS3.5 8.2.4, ISO 15444-1) through
 * OpenJPEG 2.5.
 *
 * The frame is read from memory by a small opj_stream; a raw codestream
 * (starting with SOC+SIZ, FF4F FF51) or a JP2 file (signature box) is
 * detected from the first bytes.  OpenJPEG's messages go to handlers that
 * keep the last error in a per-call buffer (never stderr), so the failure
 * reaches the NovaError.  OpenJPEG applies the inverse RCT/ICT itself when
 * the codestream's COD says a multiple component transform was used, so
 * YBR_RCT / YBR_ICT frames come out RGB (PS3.5 8.2.4).
 *
 * Signedness: each component value is first clamped to the range of its
 * codestream precision and signedness (lossy decoding can overshoot), then
 * stored as the output type and masked / sign extended from Bits Stored.
 * So a codestream marked unsigned in a Pixel Representation 1 dataset (a
 * known encoder slip) is reinterpreted as two's complement in Bits Stored
 * bits - what pydicom (pylibjpeg-openjpeg's "J2K sign correction") and GDCM
 * do as well.
 */
#include "codec_private.h"

#include <openjpeg.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const uint8_t *data;
    size_t len, pos;
} MemStream;

typedef struct {
    char message[256];
} Messages;

static OPJ_SIZE_T mem_read(void *buf, OPJ_SIZE_T n, void *user)
{
    MemStream *m = user;
    if (m->pos >= m->len)
        return (OPJ_SIZE_T)-1;
    size_t k = m->len - m->pos < n ? m->len - m->pos : n;
    memcpy(buf, m->data + m->pos, k);
    m->pos += k;
    return k;
}

static OPJ_OFF_T mem_skip(OPJ_OFF_T n, void *user)
{
    MemStream *m = user;
    if (n < 0) {
        if ((size_t)-n > m->pos)
            return -1;
        m->pos -= (size_t)-n;
        return n;
    }
    size_t k = m->len - m->pos < (size_t)n ? m->len - m->pos : (size_t)n;
    m->pos += k;
    return (OPJ_OFF_T)k;
}

static OPJ_BOOL mem_seek(OPJ_OFF_T n, void *user)
{
    MemStream *m = user;
    if (n < 0 || (uint64_t)n > m->len)
        return OPJ_FALSE;
    m->pos = (size_t)n;
    return OPJ_TRUE;
}

static void on_error(const char *msg, void *user)
{
    Messages *m = user;
    if (m->message[0] == '\0') {
        snprintf(m->message, sizeof m->message, "%s", msg);
        size_t l = strlen(m->message);
        while (l > 0 && (m->message[l - 1] == '\n' || m->message[l - 1] == ' '))
            m->message[--l] = '\0';
    }
}

static void on_quiet(const char *msg, void *user)
{
    (void)msg;
    (void)user;
}

bool nova__decode_j2k(NOVA__DECODER_ARGS)
{
    static const uint8_t jp2_sig[12] = {0, 0, 0, 12, 'j', 'P', ' ', ' ',
                                        0x0D, 0x0A, 0x87, 0x0A};
    OPJ_CODEC_FORMAT fmt;
    if (src_len >= 12 && memcmp(src, jp2_sig, 12) == 0)
        fmt = OPJ_CODEC_JP2;
    else if (src_len >= 4 && src[0] == 0xFF && src[1] == 0x4F &&
             src[2] == 0xFF && src[3] == 0x51)
        fmt = OPJ_CODEC_J2K;
    else
        return nova_error_set(error, NOVA_ERROR_PARSE, "bad JPEG 2000 data",
                              "%s: frame starts with neither a J2K "
                              "codestream (FF4F FF51) nor a JP2 signature",
                              ts->name);

    Messages msgs = {{0}};
    MemStream mem = {src, src_len, 0};
    opj_codec_t *codec = opj_create_decompress(fmt);
    opj_stream_t *stream = opj_stream_create(1 << 16, OPJ_TRUE);
    opj_image_t *image = NULL;
    bool ok = false;
    if (!codec || !stream) {
        nova_error_set(error, NOVA_ERROR_NOMEM, "out of memory",
                       "%s: cannot create the OpenJPEG decoder", ts->name);
        goto out;
    }
    opj_set_error_handler(codec, on_error, &msgs);
    opj_set_warning_handler(codec, on_quiet, &msgs);
    opj_set_info_handler(codec, on_quiet, &msgs);
    opj_stream_set_user_data(stream, &mem, NULL);
    opj_stream_set_user_data_length(stream, src_len);
    opj_stream_set_read_function(stream, mem_read);
    opj_stream_set_skip_function(stream, mem_skip);
    opj_stream_set_seek_function(stream, mem_seek);

    opj_dparameters_t params;
    opj_set_default_decoder_parameters(&params);
    if (!opj_setup_decoder(codec, &params) ||
        !opj_read_header(stream, codec, &image) || !image ||
        !opj_decode(codec, stream, image) ||
        !opj_end_decompress(codec, stream)) {
        nova_error_set(error, NOVA_ERROR_PARSE, "bad JPEG 2000 data",
                       "%s: OpenJPEG: %s", ts->name,
                       msgs.message[0] ? msgs.message : "decoding failed");
        goto out;
    }
    size_t spp = info->samples_per_pixel;
    if (image->numcomps != spp) {
        nova_error_set(error, NOVA_ERROR_PARSE, "bad JPEG 2000 data",
                       "%s: codestream has %u components, the dataset has "
                       "%zu samples per pixel",
                       ts->name, image->numcomps, spp);
        goto out;
    }
    size_t pixels = (size_t)info->rows * info->columns;
    for (size_t c = 0; c < spp; c++) {
        const opj_image_comp_t *comp = &image->comps[c];
        if (comp->w != info->columns || comp->h != info->rows ||
            !comp->data || comp->prec < 1 || comp->prec > 32) {
            nova_error_set(error, NOVA_ERROR_PARSE, "bad JPEG 2000 data",
                           "%s: component %zu is %ux%u (precision %u), the "
                           "dataset says %ux%u",
                           ts->name, c, comp->w, comp->h, comp->prec,
                           info->columns, info->rows);
            goto out;
        }
        if (comp->prec > info->bits_allocated) {
            nova_error_set(error, NOVA_ERROR_PARSE, "bad JPEG 2000 data",
                           "%s: component precision %u exceeds Bits "
                           "Allocated %u",
                           ts->name, comp->prec, info->bits_allocated);
            goto out;
        }
    }
    for (size_t c = 0; c < spp; c++) {
        const opj_image_comp_t *comp = &image->comps[c];
        int64_t lo, hi;
        if (comp->sgnd) {
            lo = -((int64_t)1 << (comp->prec - 1));
            hi = ((int64_t)1 << (comp->prec - 1)) - 1;
        } else {
            lo = 0;
            hi = ((int64_t)1 << comp->prec) - 1;
        }
        const OPJ_INT32 *in = comp->data;
        for (size_t i = 0; i < pixels; i++) {
            int64_t v = in[i];
            v = v < lo ? lo : v > hi ? hi : v;
            size_t to = i * spp + c;
            switch (info->bits_allocated) {
            case 8: ((uint8_t *)dst)[to] = (uint8_t)v; break;
            case 16: ((uint16_t *)dst)[to] = (uint16_t)v; break;
            default: ((uint32_t *)dst)[to] = (uint32_t)v; break;
            }
        }
    }
    nova__codec_fix_samples(info, dst, pixels * spp);
    ok = true;
out:
    if (image)
        opj_image_destroy(image);
    if (stream)
        opj_stream_destroy(stream);
    if (codec)
        opj_destroy_codec(codec);
    return ok;
}
