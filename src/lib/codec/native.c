/*
 * native.c - uncompressed pixel data (PS3.5 8.1.1 and 8.2 "native format").
 *
 * Samples are copied into the output layout of nova/codec.h: byte-swapped
 * when the transfer syntax is big endian (PS3.5 7.3), planar configuration 1
 * (colour-by-plane, PS3.3 C.7.6.3.1.3) interleaved, masked to Bits Stored
 * and sign extended.  Bits Allocated 1 is unpacked to one uint8_t 0/1 per
 * sample; PS3.5 8.1.1 packs such pixels with the first pixel in the least
 * significant bit of the first byte.  The common case (little endian,
 * interleaved, bits stored == bits allocated) is a plain memcpy so a CT
 * series decodes at memory speed.
 */
#include "codec_private.h"

#include <string.h>

static inline uint16_t load16(const uint8_t *p, bool swap)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return swap ? __builtin_bswap16(v) : v;
}

static inline uint32_t load32(const uint8_t *p, bool swap)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return swap ? __builtin_bswap32(v) : v;
}

/* Bits Allocated 1: one output byte per bit, LSB first.  In a big endian
 * transfer syntax the packed bits are held in 16-bit words (OW), so the
 * byte holding pixel i is byte (i / 8) ^ 1 of the stream (PS3.5 8.1.1). */
static void unpack_bits(uint8_t *dst, const uint8_t *src, size_t n,
                        bool big_endian)
{
    size_t full = n / 8;
    for (size_t b = 0; b < full; b++) {
        uint8_t v = src[big_endian ? b ^ 1u : b];
        for (unsigned k = 0; k < 8; k++)
            dst[b * 8 + k] = (uint8_t)((v >> k) & 1u);
    }
    for (size_t i = full * 8; i < n; i++) {
        size_t b = i / 8;
        uint8_t v = src[big_endian ? b ^ 1u : b];
        dst[i] = (uint8_t)((v >> (i % 8)) & 1u);
    }
}

bool nova__decode_native(NOVA__DECODER_ARGS)
{
    size_t n = nova__frame_samples(info);
    unsigned ba = info->bits_allocated;
    size_t need;
    if (ba == 1) {
        need = n / 8 + (n % 8 != 0);
        /* A big endian word-swapped final byte lives in the next word. */
        if (ts->big_endian && (need & 1u))
            need++;
    } else {
        need = n * (ba / 8);
    }
    if (src_len < need)
        return nova_error_set(error, NOVA_ERROR_PARSE, "truncated pixel data",
                              "%s: frame needs %zu bytes of native pixel "
                              "data, only %zu present",
                              ts->name, need, src_len);
    if (ba == 1) {
        unpack_bits(dst, src, n, ts->big_endian);
        return true;
    }
    bool swap = ts->big_endian && ba > 8;
    bool planar = info->planar_configuration == 1 &&
                  info->samples_per_pixel > 1;
    size_t bps = ba / 8;
    unsigned bs = info->bits_stored;
    if (!planar && !swap && ba == 16 && bs < 16) {
        /* The usual CT case (12 bits stored in 16): copy and mask or sign
         * extend in one pass instead of memcpy plus a second pass. */
        uint16_t *d = dst;
        unsigned shift = 16 - bs;
        if (info->pixel_representation == 1) {
            for (size_t i = 0; i < n; i++)
                d[i] = (uint16_t)((int16_t)(uint16_t)(load16(src + 2 * i,
                                                               false)
                                                        << shift) >>
                                  shift);
        } else {
            uint16_t mask = (uint16_t)((1u << bs) - 1u);
            for (size_t i = 0; i < n; i++)
                d[i] = load16(src + 2 * i, false) & mask;
        }
        return true;
    }
    if (!planar) {
        if (!swap) {
            memcpy(dst, src, need);
        } else if (ba == 16) {
            uint16_t *d = dst;
            for (size_t i = 0; i < n; i++)
                d[i] = load16(src + 2 * i, true);
        } else {
            uint32_t *d = dst;
            for (size_t i = 0; i < n; i++)
                d[i] = load32(src + 4 * i, true);
        }
    } else {
        /* PS3.3 C.7.6.3.1.3: planar configuration 1 stores each colour
         * plane in turn; interleave them. */
        size_t spp = info->samples_per_pixel;
        size_t pixels = n / spp;
        for (size_t c = 0; c < spp; c++) {
            const uint8_t *plane = src + c * pixels * bps;
            if (ba == 8) {
                uint8_t *d = (uint8_t *)dst + c;
                for (size_t i = 0; i < pixels; i++)
                    d[i * spp] = plane[i];
            } else if (ba == 16) {
                uint16_t *d = (uint16_t *)dst + c;
                for (size_t i = 0; i < pixels; i++)
                    d[i * spp] = load16(plane + 2 * i, swap);
            } else {
                uint32_t *d = (uint32_t *)dst + c;
                for (size_t i = 0; i < pixels; i++)
                    d[i * spp] = load32(plane + 4 * i, swap);
            }
        }
    }
    nova__codec_fix_samples(info, dst, n);
    return true;
}
