/*
 * test_codec.c - pixel-data codecs (src/lib/codec) against independent
 * references.
 *
 *  - RLE: a hand-built PS3.5 G.3 segment, and encode/decode round trips for
 *    8, 16 and 32 bits, signed, colour.
 *  - Native: LSB-first 1-bit unpacking (PS3.5 8.1.1), big endian swap,
 *    planar to interleaved, bits-stored masking and sign extension, against
 *    values worked out by hand.
 *  - Real data: tests/unit/codec_make_data.py compresses real CT slices
 *    (and 8-bit, RGB and full-range 16-bit images derived from them) with
 *    DCMTK and GDCM and decompresses them again with those tools; every
 *    frame Nova decodes must equal the independent decoder's output
 *    (lossless: exactly, and also the original; lossy: within 2 grey
 *    levels).  Covers all seven JPEG lossless predictors, point transform,
 *    the 16-bit SSSS=16 case, JPEG baseline/extended (grey and YBR colour),
 *    JPEG-LS (lossless, near-lossless, three interleave modes), RLE and
 *    JPEG 2000 (lossless, lossy, the vendor's own stream).
 *  - JPEG lossless restart intervals: a stream written here with RSTn
 *    markers every few lines (T.81 H.1.2.1, E.1.4) must decode to the image.
 *  - Bad input: truncations and byte flips of every real compressed frame,
 *    and garbage, must return an error or an image, never crash or hang
 *    (this runs under the sanitizers in CI); unsupported syntaxes and 12-bit
 *    JPEG get errors that name them.
 */
#include "nova/codec.h"
#include "test.h"

#include <stdlib.h>
#include <sys/stat.h>

static const NovaTransferSyntax *ts_of(const char *uid)
{
    const NovaTransferSyntax *ts = nova_transfer_syntax_lookup(uid);
    if (!ts)
        test_fail(__FILE__, __LINE__, "unknown transfer syntax %s", uid);
    return ts;
}

static NovaImageInfo mono(uint32_t rows, uint32_t cols, unsigned ba,
                          unsigned bs, unsigned pr)
{
    NovaImageInfo info = {rows, cols, 1, 1, (uint16_t)ba, (uint16_t)bs,
                          (uint16_t)(bs - 1), (uint16_t)pr, 0,
                          NOVA_PHOTOMETRIC_MONOCHROME2};
    return info;
}

/* ------------------------------------------------------------- native */

static void test_native_bits1(void)
{
    NovaError *err = NULL;
    /* 0xB1 = 1011 0001: LSB first -> 1,0,0,0,1,1,0,1; 0x03 -> 1,1,0... */
    const uint8_t src[2] = {0xB1, 0x03};
    NovaImageInfo info = mono(2, 5, 1, 1, 0);
    uint8_t out[10];
    const uint8_t want[10] = {1, 0, 0, 0, 1, 1, 0, 1, 1, 1};
    CHECK(nova_codec_decode(&err, ts_of("1.2.840.10008.1.2.1"), &info, src,
                            2, out, sizeof out));
    CHECK_OK(err);
    CHECK(memcmp(out, want, 10) == 0);
    /* Big endian: the bits live in 16-bit words, so byte 1 comes first. */
    const uint8_t be[2] = {0x03, 0xB1};
    memset(out, 9, sizeof out);
    CHECK(nova_codec_decode(&err, ts_of("1.2.840.10008.1.2.2"), &info, be, 2,
                            out, sizeof out));
    CHECK_OK(err);
    CHECK(memcmp(out, want, 10) == 0);
    /* One byte short is an error, not a read past the end. */
    CHECK(!nova_codec_decode(&err, ts_of("1.2.840.10008.1.2.1"), &info, src,
                             1, out, sizeof out));
    CHECK(err && nova_error_code(err) == NOVA_ERROR_PARSE);
    nova_error_free(err);
}

static void test_native_masking(void)
{
    NovaError *err = NULL;
    /* 12 bits stored, signed: 0x0FFF is -1, 0x1800 has a stray bit 12 and
     * is 0x800 = -2048, 0x07FF is 2047. */
    const uint16_t src[3] = {0x0FFF, 0x1800, 0x07FF};
    NovaImageInfo info = mono(1, 3, 16, 12, 1);
    int16_t out[3];
    CHECK(nova_codec_decode(&err, ts_of("1.2.840.10008.1.2"), &info,
                            (const uint8_t *)src, sizeof src, out,
                            sizeof out));
    CHECK_OK(err);
    CHECK_EQ_INT(out[0], -1);
    CHECK_EQ_INT(out[1], -2048);
    CHECK_EQ_INT(out[2], 2047);
    /* Unsigned: bits above 12 are dropped. */
    info.pixel_representation = 0;
    uint16_t uout[3];
    CHECK(nova_codec_decode(&err, ts_of("1.2.840.10008.1.2"), &info,
                            (const uint8_t *)src, sizeof src, uout,
                            sizeof uout));
    CHECK_EQ_INT(uout[1], 0x800);
    /* Big endian 16-bit with sign extension from bit 15 (no masking). */
    const uint8_t be[4] = {0xFF, 0xFE, 0x01, 0x02};
    NovaImageInfo info2 = mono(1, 2, 16, 16, 1);
    int16_t out2[2];
    CHECK(nova_codec_decode(&err, ts_of("1.2.840.10008.1.2.2"), &info2, be, 4,
                            out2, sizeof out2));
    CHECK_EQ_INT(out2[0], -2);
    CHECK_EQ_INT(out2[1], 0x0102);
    /* 32-bit big endian, 24 bits stored, signed: 0x00FFFFFF is -1. */
    const uint8_t be32[4] = {0x00, 0xFF, 0xFF, 0xFF};
    NovaImageInfo info3 = mono(1, 1, 32, 24, 1);
    int32_t out3;
    CHECK(nova_codec_decode(&err, ts_of("1.2.840.10008.1.2.2"), &info3, be32,
                            4, &out3, sizeof out3));
    CHECK_EQ_INT(out3, -1);
    /* 8-bit, 6 stored, signed: 0x20 -> -32, 0xDF -> 0x1F = 31. */
    const uint8_t b8[2] = {0x20, 0xDF};
    NovaImageInfo info4 = mono(1, 2, 8, 6, 1);
    int8_t out4[2];
    CHECK(nova_codec_decode(&err, ts_of("1.2.840.10008.1.2.1"), &info4, b8, 2,
                            out4, sizeof out4));
    CHECK_EQ_INT(out4[0], -32);
    CHECK_EQ_INT(out4[1], 31);
    CHECK_OK(err);
    nova_error_free(err);
}

static void test_native_planar(void)
{
    NovaError *err = NULL;
    /* 2 pixels RGB, planar: RR GG BB. */
    const uint8_t src[6] = {1, 2, 10, 20, 100, 200};
    NovaImageInfo info = mono(1, 2, 8, 8, 0);
    info.samples_per_pixel = 3;
    info.planar_configuration = 1;
    info.photometric = NOVA_PHOTOMETRIC_RGB;
    uint8_t out[6];
    const uint8_t want[6] = {1, 10, 100, 2, 20, 200};
    CHECK(nova_codec_decode(&err, ts_of("1.2.840.10008.1.2.1"), &info, src, 6,
                            out, sizeof out));
    CHECK_OK(err);
    CHECK(memcmp(out, want, 6) == 0);
    /* 16-bit planar big endian. */
    const uint8_t src16[12] = {0, 1, 0, 2, 0, 10, 0, 20, 1, 0, 2, 0};
    info.bits_allocated = 16;
    info.bits_stored = 16;
    uint16_t out16[6];
    const uint16_t want16[6] = {1, 10, 256, 2, 20, 512};
    CHECK(nova_codec_decode(&err, ts_of("1.2.840.10008.1.2.2"), &info, src16,
                            12, out16, sizeof out16));
    CHECK(memcmp(out16, want16, sizeof want16) == 0);
    /* A too small output buffer is refused. */
    CHECK(!nova_codec_decode(&err, ts_of("1.2.840.10008.1.2.2"), &info, src16,
                             12, out16, sizeof out16 - 1));
    CHECK(err && nova_error_code(err) == NOVA_ERROR_RANGE);
    nova_error_free(err);
}

/* ---------------------------------------------------------------- RLE */

static void test_rle_hand_built(void)
{
    /* PS3.5 G.3.1: header byte -2 (0xFE) repeats the next byte 3 times,
     * 0x01 copies 2 literal bytes, -128 is a no-op. */
    uint8_t frame[64 + 8] = {0};
    frame[0] = 1;  /* one segment */
    frame[4] = 64; /* at offset 64 */
    const uint8_t seg[8] = {0xFE, 7, 0x80, 0x01, 1, 2, 0x00, 9};
    memcpy(frame + 64, seg, sizeof seg);
    NovaImageInfo info = mono(2, 3, 8, 8, 0);
    uint8_t out[6];
    const uint8_t want[6] = {7, 7, 7, 1, 2, 9};
    NovaError *err = NULL;
    CHECK(nova_codec_decode(&err, ts_of("1.2.840.10008.1.2.5"), &info, frame,
                            sizeof frame, out, sizeof out));
    CHECK_OK(err);
    CHECK(memcmp(out, want, 6) == 0);
    /* The segment is one byte short of the plane: an error. */
    CHECK(!nova_codec_decode(&err, ts_of("1.2.840.10008.1.2.5"), &info, frame,
                             sizeof frame - 1, out, sizeof out));
    CHECK(err != NULL);
    nova_error_clear(&err);
    /* Offset past the end. */
    frame[4] = 200;
    CHECK(!nova_codec_decode(&err, ts_of("1.2.840.10008.1.2.5"), &info, frame,
                             sizeof frame, out, sizeof out));
    CHECK(err != NULL);
    nova_error_free(err);
}

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static void rle_round_trip(unsigned ba, unsigned bs, unsigned pr,
                           unsigned spp)
{
    NovaImageInfo info = mono(37, 131, ba, bs, pr);
    info.samples_per_pixel = (uint16_t)spp;
    size_t n = (size_t)37 * 131 * spp, bytes = nova_image_frame_bytes(&info);
    uint8_t *img = malloc(bytes), *back = malloc(bytes);
    uint32_t seed = ba * 1000 + bs * 10 + pr + spp;
    /* Runs, ramps and noise, so both PackBits forms and the 128 limit
     * occur; values are valid samples (masked, sign extended). */
    for (size_t i = 0; i < n; i++) {
        uint32_t r = lcg(&seed), v;
        if ((i / 300) % 3 == 0)
            v = 5;
        else if ((i / 300) % 3 == 1)
            v = (uint32_t)i * 3;
        else
            v = r ^ (r << 9);
        uint64_t mask = bs == 32 ? 0xFFFFFFFFu : ((1ull << bs) - 1);
        v &= (uint32_t)mask;
        if (pr && bs < 32 && (v >> (bs - 1)) & 1u)
            v |= (uint32_t)~mask;
        if (ba == 8)
            img[i] = (uint8_t)v;
        else if (ba == 16)
            ((uint16_t *)img)[i] = (uint16_t)v;
        else
            ((uint32_t *)img)[i] = v;
    }
    NovaError *err = NULL;
    uint8_t *enc = NULL;
    size_t enc_len = 0;
    CHECK(nova_codec_encode_rle(&err, &info, img, bytes, &enc, &enc_len));
    CHECK_OK(err);
    if (enc) {
        CHECK_EQ_INT(enc[0], spp * ba / 8);
        CHECK_EQ_INT(enc_len % 2, 0);
        CHECK(nova_codec_decode(&err, ts_of("1.2.840.10008.1.2.5"), &info,
                                enc, enc_len, back, bytes));
        CHECK_OK(err);
        CHECK(memcmp(img, back, bytes) == 0);
        /* Bits above Bits Stored are not part of the sample (PS3.5 8.1.1):
         * encode a copy with garbage there; the decode must give img. */
        if (bs < ba) {
            uint8_t *dirty = malloc(bytes), *enc2 = NULL;
            size_t enc2_len = 0;
            memcpy(dirty, img, bytes);
            uint32_t s2 = 99;
            for (size_t i = 0; i < n; i++) {
                uint32_t junk = lcg(&s2) << bs;
                if (ba == 8)
                    dirty[i] = (uint8_t)((dirty[i] & ((1u << bs) - 1)) | junk);
                else if (ba == 16)
                    ((uint16_t *)dirty)[i] =
                        (uint16_t)((((uint16_t *)dirty)[i] &
                                    ((1u << bs) - 1)) |
                                   junk);
                else
                    ((uint32_t *)dirty)[i] =
                        (((uint32_t *)dirty)[i] & ((1u << bs) - 1)) | junk;
            }
            CHECK(nova_codec_encode_rle(&err, &info, dirty, bytes, &enc2,
                                        &enc2_len));
            memset(back, 0xA5, bytes);
            CHECK(nova_codec_decode(&err, ts_of("1.2.840.10008.1.2.5"), &info,
                                    enc2, enc2_len, back, bytes));
            CHECK_OK(err);
            if (memcmp(img, back, bytes) != 0)
                test_fail(__FILE__, __LINE__,
                          "RLE %u/%u bits, signed %u: bits above bits "
                          "stored not masked / sign extended",
                          ba, bs, pr);
            nova_free(enc2);
            free(dirty);
        }
        /* Every truncation is an error, never a crash. */
        for (size_t cut = 0; cut < enc_len; cut += 1 + enc_len / 97) {
            NovaError *e2 = NULL;
            CHECK(!nova_codec_decode(&e2, ts_of("1.2.840.10008.1.2.5"), &info,
                                     enc, cut, back, bytes));
            CHECK(e2 != NULL);
            nova_error_free(e2);
        }
    }
    nova_free(enc);
    nova_error_free(err);
    free(img);
    free(back);
}

static void test_rle_round_trip(void)
{
    rle_round_trip(8, 8, 0, 1);
    rle_round_trip(8, 6, 1, 1);
    rle_round_trip(8, 7, 0, 3);
    rle_round_trip(16, 10, 0, 1);
    rle_round_trip(16, 6, 1, 1);
    rle_round_trip(32, 28, 1, 1);
    rle_round_trip(8, 8, 0, 3);
    rle_round_trip(16, 16, 0, 1);
    rle_round_trip(16, 12, 1, 1);
    rle_round_trip(16, 16, 1, 3);
    rle_round_trip(32, 32, 0, 1);
    rle_round_trip(32, 20, 1, 3);
}

/* ------------------------------------------------------ unsupported */

static void test_unsupported(void)
{
    NovaError *err = NULL;
    NovaImageInfo info = mono(8, 8, 16, 12, 0);
    uint16_t out[64];
    /* A JPEG extended header (SOF1) at 12-bit precision. */
    const uint8_t j12[] = {0xFF, 0xD8, 0xFF, 0xC1, 0x00, 0x0B, 12,   0x00,
                           0x08, 0x00, 0x08, 0x01, 0x01, 0x11, 0x00, 0xFF,
                           0xD9};
    CHECK(!nova_codec_decode(&err, ts_of("1.2.840.10008.1.2.4.51"), &info,
                             j12, sizeof j12, out, sizeof out));
    CHECK(err && nova_error_code(err) == NOVA_ERROR_UNSUPPORTED);
    CHECK(err && strstr(nova_error_message(err),
                        "JPEG Extended 12-bit is not supported"));
    nova_error_clear(&err);
    const uint8_t junk[4] = {1, 2, 3, 4};
    CHECK(!nova_codec_decode(&err, ts_of("1.2.840.10008.1.2.4.201"), &info,
                             junk, 4, out, sizeof out));
    CHECK(err && strstr(nova_error_message(err), "High-Throughput JPEG 2000"));
    nova_error_clear(&err);
    /* Garbage for every codec: errors. */
    const char *uids[] = {"1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.50",
                          "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80",
                          "1.2.840.10008.1.2.4.90"};
    for (size_t i = 0; i < sizeof uids / sizeof *uids; i++) {
        CHECK(!nova_codec_decode(&err, ts_of(uids[i]), &info, junk, 4, out,
                                 sizeof out));
        CHECK(err != NULL);
        nova_error_clear(&err);
    }
}

/* -------------------------------------- JPEG lossless restart intervals */

typedef struct {
    uint8_t *buf;
    size_t len;
    uint64_t acc;
    int nbits;
} BitWriter;

static void put_byte(BitWriter *w, uint8_t b) { w->buf[w->len++] = b; }

static void put_bits(BitWriter *w, uint32_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        w->acc = w->acc << 1 | ((v >> i) & 1u);
        if (++w->nbits == 8) {
            uint8_t b = (uint8_t)w->acc;
            put_byte(w, b);
            if (b == 0xFF)
                put_byte(w, 0x00); /* T.81 F.1.2.3 byte stuffing */
            w->nbits = 0;
            w->acc = 0;
        }
    }
}

static void flush_bits(BitWriter *w)
{
    while (w->nbits)
        put_bits(w, 1, 1); /* pad with 1-bits (T.81 F.1.2.3) */
}

/* A T.81 process-14 encoder for one component, written from the standard
 * for this test: Huffman code = category k coded as k one-bits then a zero
 * (a valid prefix code of lengths 1..16 plus the all-ones 17th avoided by
 * giving category 16 fifteen ones and a zero too), restart markers every
 * `rows_per_restart` lines. */
static size_t encode_lossless(const uint16_t *img, uint32_t w, uint32_t h,
                              unsigned precision, unsigned pred,
                              unsigned rows_per_restart, uint8_t *out)
{
    BitWriter bw = {out, 0, 0, 0};
    const uint8_t head[] = {0xFF, 0xD8, 0xFF, 0xC3, 0, 11, (uint8_t)precision,
                            (uint8_t)(h >> 8), (uint8_t)h, (uint8_t)(w >> 8),
                            (uint8_t)w, 1, 1, 0x11, 0};
    memcpy(out, head, sizeof head);
    bw.len = sizeof head;
    /* DHT: categories 0..16 with code lengths 1..16 (category 15 and 16
     * both of length 16: 111..10 and 111..11). */
    uint8_t dht[4 + 1 + 16 + 17];
    size_t k = 0;
    dht[k++] = 0xFF;
    dht[k++] = 0xC4;
    dht[k++] = 0;
    dht[k++] = 2 + 1 + 16 + 17;
    dht[k++] = 0x00;
    for (int l = 1; l <= 16; l++)
        dht[k++] = (uint8_t)(l < 16 ? 1 : 2);
    for (int v = 0; v <= 16; v++)
        dht[k++] = (uint8_t)v;
    memcpy(out + bw.len, dht, k);
    bw.len += k;
    uint32_t ri = rows_per_restart * w;
    const uint8_t dri[] = {0xFF, 0xDD, 0, 4, (uint8_t)(ri >> 8), (uint8_t)ri};
    memcpy(out + bw.len, dri, sizeof dri);
    bw.len += sizeof dri;
    const uint8_t sos[] = {0xFF, 0xDA, 0, 8, 1, 1, 0x00, (uint8_t)pred, 0, 0};
    memcpy(out + bw.len, sos, sizeof sos);
    bw.len += sizeof sos;
    unsigned marker = 0;
    for (uint32_t y = 0; y < h; y++) {
        bool first_line = y % rows_per_restart == 0;
        if (first_line && y > 0) {
            flush_bits(&bw);
            put_byte(&bw, 0xFF);
            put_byte(&bw, (uint8_t)(0xD0 + (marker++ & 7)));
        }
        for (uint32_t x = 0; x < w; x++) {
            int ra = x ? img[y * w + x - 1] : 0;
            int rb = y ? img[(y - 1) * w + x] : 0;
            int rc = x && y ? img[(y - 1) * w + x - 1] : 0;
            int px;
            if (first_line)
                px = x ? ra : 1 << (precision - 1);
            else if (x == 0)
                px = rb;
            else
                switch (pred) {
                case 1: px = ra; break;
                case 2: px = rb; break;
                case 3: px = rc; break;
                case 4: px = ra + rb - rc; break;
                case 5: px = ra + ((rb - rc) >> 1); break;
                case 6: px = rb + ((ra - rc) >> 1); break;
                default: px = (ra + rb) >> 1; break;
                }
            int diff = (int16_t)(uint16_t)(img[y * w + x] - px);
            unsigned cat = 0, mag = (unsigned)(diff < 0 ? -diff : diff);
            while (mag >> cat)
                cat++;
            if (diff == -32768)
                cat = 16;
            /* Code of category c: c ones then a zero (c < 15); 15: fifteen
             * ones then 0; 16: sixteen ones. */
            if (cat < 15)
                put_bits(&bw, ((1u << cat) - 1) << 1, (int)cat + 1);
            else if (cat == 15)
                put_bits(&bw, 0xFFFE, 16);
            else
                put_bits(&bw, 0xFFFF, 16);
            if (cat && cat < 16) {
                uint32_t bits = diff < 0 ? (uint32_t)(diff + (1 << cat) - 1)
                                         : (uint32_t)diff;
                put_bits(&bw, bits, (int)cat);
            }
        }
    }
    flush_bits(&bw);
    put_byte(&bw, 0xFF);
    put_byte(&bw, 0xD9);
    return bw.len;
}

static void test_jpeg_lossless_restart(void)
{
    const uint32_t w = 67, h = 45;
    uint16_t img[67 * 45], out[67 * 45];
    uint32_t seed = 7;
    for (size_t i = 0; i < sizeof img / sizeof *img; i++)
        img[i] = (uint16_t)((i % 67) * 40 + (i / 67) * 13 + (lcg(&seed) & 31));
    img[100] = 0;
    img[101] = 0x8000; /* a difference of 32768: category 16 */
    img[102] = 0xFFFF;
    uint8_t *buf = malloc(w * h * 8 + 1024);
    NovaImageInfo info = mono(h, w, 16, 16, 0);
    for (unsigned pred = 1; pred <= 7; pred++) {
        for (unsigned rpr = 1; rpr <= 7; rpr += 3) {
            size_t len = encode_lossless(img, w, h, 16, pred, rpr, buf);
            NovaError *err = NULL;
            memset(out, 0, sizeof out);
            CHECK(nova_codec_decode(&err, ts_of("1.2.840.10008.1.2.4.57"),
                                    &info, buf, len, out, sizeof out));
            CHECK_OK(err);
            nova_error_free(err);
            if (memcmp(img, out, sizeof img) != 0)
                test_fail(__FILE__, __LINE__,
                          "restart stream, predictor %u, %u lines per "
                          "interval: decoded image differs",
                          pred, rpr);
            /* Dropping the last restart interval is an error. */
            err = NULL;
            size_t cut = len;
            while (cut > 2 && !(buf[cut - 2] == 0xFF && buf[cut - 1] >= 0xD0 &&
                                buf[cut - 1] <= 0xD7))
                cut--;
            CHECK(!nova_codec_decode(&err, ts_of("1.2.840.10008.1.2.4.57"),
                                     &info, buf, cut - 2, out, sizeof out));
            CHECK(err != NULL);
            nova_error_free(err);
        }
    }
    free(buf);
}

/* ---------------------------------------------------------- real data */

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = n > 0 ? (size_t)n : 0;
    return buf;
}

static int64_t sample_at(const NovaImageInfo *info, const void *p, size_t i)
{
    bool s = info->pixel_representation == 1;
    switch (info->bits_allocated) {
    case 8: return s ? ((const int8_t *)p)[i] : ((const uint8_t *)p)[i];
    case 16: return s ? ((const int16_t *)p)[i] : ((const uint16_t *)p)[i];
    default:
        return s ? (int64_t)((const int32_t *)p)[i]
                 : (int64_t)((const uint32_t *)p)[i];
    }
}

/* Largest absolute difference; *where gets the first index of it. */
static int64_t max_diff(const NovaImageInfo *info, const void *a,
                        const void *b, size_t n, size_t *where)
{
    int64_t worst = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t d = sample_at(info, a, i) - sample_at(info, b, i);
        if (d < 0)
            d = -d;
        if (d > worst) {
            worst = d;
            *where = i;
        }
    }
    return worst;
}

/* Raw reference samples through the native path, so both sides are masked
 * and sign extended the same way. */
static bool load_reference(const char *path, const NovaImageInfo *info,
                           void *out, size_t out_len)
{
    size_t len;
    uint8_t *raw = read_all(path, &len);
    if (!raw)
        return false;
    NovaImageInfo ri = *info;
    ri.planar_configuration = 0;
    NovaError *err = NULL;
    bool ok = nova_codec_decode(&err, ts_of("1.2.840.10008.1.2.1"), &ri, raw,
                                len, out, out_len);
    if (!ok)
        test_fail(__FILE__, __LINE__, "reference %s: %s", path,
                  nova_error_message(err));
    nova_error_free(err);
    free(raw);
    return ok;
}

static const char *prepared_dir(void)
{
    static char dir[1024];
    static int state = 0; /* 0 not tried, 1 ready, 2 unavailable */
    if (state == 1)
        return dir;
    if (state == 2)
        return NULL;
    state = 2;
    const char *data = test_data_dir();
    if (!data)
        return NULL;
    snprintf(dir, sizeof dir, "%s/codec-data", test_tmp_dir());
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 %s/tests/unit/codec_make_data.py '%s' '%s' "
             ">'%s.log' 2>&1",
             NOVA_SOURCE_DIR, data, dir, dir);
    int rc = system(cmd);
    if (rc != 0) {
        printf("# codec_make_data.py failed (status %d), see %s.log\n", rc,
               dir);
        return NULL;
    }
    state = 1;
    return dir;
}

typedef struct {
    char name[128], uid[80], photometric[32], out_photometric[32];
    char frame[512], ref[512], orig[512];
    NovaImageInfo info;
    int tol;
} Case;

static int read_cases(Case **cases)
{
    const char *dir = prepared_dir();
    if (!dir)
        return -1;
    char path[1100];
    snprintf(path, sizeof path, "%s/manifest.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int n = 0, cap = 256;
    *cases = calloc((size_t)cap, sizeof **cases);
    char line[4096];
    while (n < cap && fgets(line, sizeof line, f)) {
        Case *c = &(*cases)[n];
        unsigned rows, cols, spp, ba, bs, pr, pc;
        if (sscanf(line, "%127s %79s %u %u %u %u %u %u %u %31s %31s %511s "
                         "%511s %511s %d",
                   c->name, c->uid, &rows, &cols, &spp, &ba, &bs, &pr, &pc,
                   c->photometric, c->out_photometric, c->frame, c->ref,
                   c->orig, &c->tol) != 15)
            continue;
        c->info = mono(rows, cols, ba, bs, pr);
        c->info.samples_per_pixel = (uint16_t)spp;
        c->info.planar_configuration = (uint16_t)pc;
        c->info.photometric = nova_photometric_from_name(c->photometric);
        n++;
    }
    fclose(f);
    return n;
}

static void test_real_frames(void)
{
    if (!test_data_dir())
        SKIP("shared data folder absent");
    Case *cases = NULL;
    int n = read_cases(&cases);
    if (n < 0) {
        free(cases);
        SKIP("DCMTK/GDCM tools or pydicom unavailable (codec_make_data.py)");
    }
    CHECK(n >= 60);
    int lossless = 0, lossy = 0;
    for (int i = 0; i < n; i++) {
        Case *c = &cases[i];
        const NovaTransferSyntax *ts = ts_of(c->uid);
        size_t flen, bytes = nova_image_frame_bytes(&c->info);
        uint8_t *frame = read_all(c->frame, &flen);
        void *out = malloc(bytes), *ref = malloc(bytes);
        NovaError *err = NULL;
        if (!ts || !frame || !out || !ref) {
            test_fail(__FILE__, __LINE__, "%s: cannot load", c->name);
            goto next;
        }
        if (!nova_codec_decode(&err, ts, &c->info, frame, flen, out, bytes)) {
            test_fail(__FILE__, __LINE__, "%s: %s", c->name,
                      nova_error_message(err));
            goto next;
        }
        CHECK_STR(nova_photometric_name(
                      nova_codec_output_photometric(ts, &c->info)),
                  c->out_photometric);
        size_t where = 0, count = (size_t)c->info.rows * c->info.columns *
                                  c->info.samples_per_pixel;
        if (load_reference(c->ref, &c->info, ref, bytes)) {
            int64_t d = max_diff(&c->info, out, ref, count, &where);
            if (d > c->tol)
                test_fail(__FILE__, __LINE__,
                          "%s (%s): differs from the independent decoder by "
                          "%lld at sample %zu (tolerance %d)",
                          c->name, ts->name, (long long)d, where, c->tol);
        }
        if (strcmp(c->orig, "-") != 0 &&
            load_reference(c->orig, &c->info, ref, bytes)) {
            int64_t d = max_diff(&c->info, out, ref, count, &where);
            if (d != 0)
                test_fail(__FILE__, __LINE__,
                          "%s: lossless decode differs from the original by "
                          "%lld at sample %zu",
                          c->name, (long long)d, where);
            lossless++;
        } else {
            lossy++;
        }
    next:
        nova_error_free(err);
        free(frame);
        free(out);
        free(ref);
    }
    printf("# %d real frames: %d lossless (identical to original and "
           "reference), %d lossy/point-transform\n",
           n, lossless, lossy);
    free(cases);
}

/* Truncate and corrupt every real compressed frame: each decode must end
 * with an image or an error, never a crash, hang or sanitizer report. */
static void test_bad_frames(void)
{
    if (!test_data_dir())
        SKIP("shared data folder absent");
    Case *cases = NULL;
    int n = read_cases(&cases);
    if (n < 0) {
        free(cases);
        SKIP("DCMTK/GDCM tools or pydicom unavailable (codec_make_data.py)");
    }
    uint32_t seed = 12345;
    int errors = 0, decodes = 0;
    for (int i = 0; i < n; i++) {
        Case *c = &cases[i];
        /* Small images only keep this fast; one of each codec is enough. */
        if (c->info.rows > 256 && strstr(c->name, "itk_") != c->name)
            continue;
        const NovaTransferSyntax *ts = ts_of(c->uid);
        size_t flen, bytes = nova_image_frame_bytes(&c->info);
        uint8_t *frame = read_all(c->frame, &flen);
        uint8_t *work = malloc(flen + 1);
        void *out = malloc(bytes);
        if (!frame || !work || !out || !ts)
            goto next;
        for (int t = 0; t < 24; t++) {
            size_t len = flen;
            memcpy(work, frame, flen);
            if (t < 8) {
                len = flen * (size_t)t / 8; /* truncations */
            } else {
                for (int k = 0; k < 1 + t / 4; k++) /* byte flips */
                    work[lcg(&seed) % flen] ^= (uint8_t)(1u + lcg(&seed) % 255);
            }
            NovaError *err = NULL;
            if (!nova_codec_decode(&err, ts, &c->info, work, len, out, bytes)) {
                CHECK(err != NULL && nova_error_message(err)[0] != '\0');
                errors++;
            }
            if (t < 8 && len < flen / 2)
                CHECK(err != NULL); /* half a frame is never an image */
            decodes++;
            nova_error_free(err);
        }
    next:
        free(frame);
        free(work);
        free(out);
    }
    printf("# %d corrupted decodes, %d errors, no crash\n", decodes, errors);
    CHECK(decodes > 100);
    free(cases);
}

int main(void)
{
    RUN(test_native_bits1);
    RUN(test_native_masking);
    RUN(test_native_planar);
    RUN(test_rle_hand_built);
    RUN(test_rle_round_trip);
    RUN(test_unsupported);
    RUN(test_jpeg_lossless_restart);
    RUN(test_real_frames);
    RUN(test_bad_frames);
    return test_done();
}
