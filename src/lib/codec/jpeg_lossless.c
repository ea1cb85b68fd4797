/*
 * jpeg_lossless.c - JPEG lossless, process 14 (ITU-T T.81 Annex H, SOF3),
 * our own decoder: Debian's libjpeg-turbo 2.1 has no lossless mode.
 *
 * Supports precision 2..16, 1..4 components with sampling factors 1x1,
 * interleaved and non-interleaved scans, the seven predictors (H.1.2.1,
 * Table H.1), point transform (Al), restart intervals that are whole lines
 * (RSTn; the IJG encoders behind DCMTK only produce those) and the 16-bit
 * difference category (H.1.2.2: SSSS = 16 carries no extra bits and means
 * 32768).  DNL (a height given after the scan) is not supported.
 *
 * How it is fast:
 *  - Each scan's entropy-coded bytes are first copied into a clean buffer
 *    with the 0xFF00 stuffing removed and the restart markers turned into
 *    segment boundaries (memchr + memcpy, about memory speed), so the bit
 *    reader's hot path has no marker checks.
 *  - A 64-bit bit buffer refilled 32 bits at a time; every sample needs at
 *    most 16 code bits + 16 extra bits, so one refill check per sample.
 *  - A 2^10-entry lookahead table per Huffman table that gives, for short
 *    codes, the code length and the difference itself (code + extra bits
 *    both inside the lookahead); longer codes take the canonical
 *    maxcode/valoffset walk of T.81 F.2.2.3.
 *  - One loop per predictor, specialised at compile time.
 * Safety: all segment lengths are checked against the buffer, the clean
 * buffer is zero-padded by more than one line can consume, and the read
 * position is checked once per line, so garbage fails with an error in
 * bounded time.
 */
#include "codec_private.h"

#include <string.h>

#define LOOKAHEAD 10
#define FULL 0xFFu /* fast entry holds the whole difference */

typedef struct {
    int16_t diff;  /* when ssss == FULL */
    uint8_t len;   /* bits consumed (0: use the slow path) */
    uint8_t ssss;  /* category still to read, or FULL */
} FastEntry;

typedef struct {
    bool defined;
    uint8_t bits[17]; /* BITS: number of codes of each length */
    uint8_t vals[256];
    int32_t maxcode[18];
    int32_t valoffset[18];
    FastEntry fast[1u << LOOKAHEAD];
} HuffTable;

typedef struct {
    uint8_t id;
    uint8_t table; /* Td of the scan that decodes it */
    uint8_t pt;    /* point transform of that scan */
    bool decoded;
} Component;

typedef struct {
    NovaError **error;
    const NovaTransferSyntax *ts;
    const uint8_t *src;
    size_t len;
    unsigned precision;
    uint32_t width, height;
    unsigned ncomp;
    Component comp[4];
    unsigned restart_interval;
    HuffTable tables[4];
    uint16_t *planes[4]; /* decoded samples of each component */
    uint8_t *clean;      /* unstuffed scan data */
    size_t clean_cap;
    size_t *seg_start;   /* restart segment starts in clean */
    size_t seg_cap;
    bool seen_sof;
} Decoder;

typedef struct {
    uint64_t acc; /* next bit is the most significant */
    int nbits;
    const uint8_t *p;
    bool bad;
} BitReader;

static bool fail(Decoder *d, size_t offset, const char *fmt, const char *what)
{
    return nova_error_set(d->error, NOVA_ERROR_PARSE, "bad JPEG Lossless data",
                          "%s: offset %zu: %s%s", d->ts->name, offset, fmt,
                          what ? what : "");
}

static inline uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* ------------------------------------------------------------ Huffman */

/* Build the decoding tables of T.81 Annex C and F.2.2.3, plus the
 * lookahead table.  false when the code lengths overflow (not a prefix
 * code) or a category exceeds 16. */
static bool build_table(HuffTable *t)
{
    int32_t code = 0;
    int k = 0;
    uint16_t huffcode[256];
    uint8_t huffsize[256];
    for (int l = 1; l <= 16; l++) {
        t->valoffset[l] = k - code;
        for (int i = 0; i < t->bits[l]; i++) {
            huffcode[k] = (uint16_t)code;
            huffsize[k] = (uint8_t)l;
            code++;
            k++;
        }
        t->maxcode[l] = t->bits[l] ? code - 1 : -1;
        /* An all-ones code is disallowed by T.81 but tolerated; more codes
         * than the length can hold is not a prefix code. */
        if (code > (1 << l))
            return false;
        code <<= 1;
    }
    t->maxcode[17] = INT32_MAX;
    for (int i = 0; i < k; i++)
        if (t->vals[i] > 16)
            return false;
    memset(t->fast, 0, sizeof t->fast);
    for (int i = 0; i < k; i++) {
        int l = huffsize[i];
        if (l > LOOKAHEAD)
            break;
        unsigned ssss = t->vals[i];
        unsigned base = (unsigned)huffcode[i] << (LOOKAHEAD - l);
        for (unsigned e = base; e < base + (1u << (LOOKAHEAD - l)); e++) {
            FastEntry *f = &t->fast[e];
            if (ssss == 0) {
                *f = (FastEntry){0, (uint8_t)l, FULL};
            } else if (ssss == 16) {
                /* H.1.2.2: 32768, which is -32768 modulo 2^16. */
                *f = (FastEntry){INT16_MIN, (uint8_t)l, FULL};
            } else if (l + (int)ssss <= LOOKAHEAD) {
                unsigned v = (e >> (LOOKAHEAD - l - ssss)) & ((1u << ssss) - 1);
                int diff = v < (1u << (ssss - 1)) ? (int)v - (1 << ssss) + 1
                                                  : (int)v;
                *f = (FastEntry){(int16_t)diff, (uint8_t)(l + ssss), FULL};
            } else {
                *f = (FastEntry){0, (uint8_t)l, (uint8_t)ssss};
            }
        }
    }
    return true;
}

static bool parse_dht(Decoder *d, size_t pos, size_t seg_len)
{
    size_t end = pos + seg_len, p = pos + 2;
    while (p < end) {
        unsigned tc = d->src[p] >> 4, th = d->src[p] & 15;
        if (end - p < 17)
            return fail(d, p, "DHT table header runs past the segment", NULL);
        HuffTable tmp;
        unsigned total = 0;
        tmp.bits[0] = 0;
        for (int l = 1; l <= 16; l++) {
            tmp.bits[l] = d->src[p + (size_t)l];
            total += tmp.bits[l];
        }
        p += 17;
        if (total > 256 || total > end - p)
            return fail(d, p, "DHT table has more values than the segment",
                        NULL);
        memcpy(tmp.vals, d->src + p, total);
        p += total;
        /* Lossless uses DC-class tables only (T.81 H.2.1); a stray AC
         * table is skipped. */
        if (tc != 0)
            continue;
        if (th > 3)
            return fail(d, p, "DHT table destination above 3", NULL);
        if (!build_table(&tmp))
            return fail(d, p, "DHT table is not a valid Huffman code", NULL);
        tmp.defined = true;
        d->tables[th] = tmp;
    }
    return true;
}

/* ------------------------------------------------------------ bits */

static inline uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static inline void refill(BitReader *br)
{
    if (br->nbits < 32) {
        br->acc |= (uint64_t)be32(br->p) << (32 - br->nbits);
        br->p += 4;
        br->nbits += 32;
    }
}

/* Decode one difference (T.81 H.1.2.2 / F.2.2.1).  Needs nbits >= 32. */
static inline int decode_diff(BitReader *br, const HuffTable *t)
{
    FastEntry e = t->fast[br->acc >> (64 - LOOKAHEAD)];
    if (__builtin_expect(e.ssss == FULL, 1)) {
        br->acc <<= e.len;
        br->nbits -= e.len;
        return e.diff;
    }
    unsigned ssss;
    if (e.len) {
        br->acc <<= e.len;
        br->nbits -= e.len;
        ssss = e.ssss;
    } else {
        int l = LOOKAHEAD + 1;
        int32_t code = (int32_t)(br->acc >> (64 - l));
        while (l <= 16 && code > t->maxcode[l]) {
            l++;
            code = (int32_t)(br->acc >> (64 - l));
        }
        if (l > 16) {
            br->bad = true;
            return 0;
        }
        ssss = t->vals[code + t->valoffset[l]];
        br->acc <<= l;
        br->nbits -= l;
        if (ssss == 0)
            return 0;
        if (ssss == 16)
            return INT16_MIN;
    }
    unsigned v = (unsigned)(br->acc >> (64 - ssss));
    br->acc <<= ssss;
    br->nbits -= (int)ssss;
    return v < (1u << (ssss - 1)) ? (int)v - (1 << ssss) + 1 : (int)v;
}

/* ------------------------------------------------------------ predictors */

static inline int predict(int pred, int ra, int rb, int rc)
{
    switch (pred) {
    case 1: return ra;
    case 2: return rb;
    case 3: return rc;
    case 4: return ra + rb - rc;
    case 5: return ra + ((rb - rc) >> 1);
    case 6: return rb + ((ra - rc) >> 1);
    default: return (ra + rb) >> 1;
    }
}

/* One line of a single-component scan.  H.1.2.1: the first line of a scan
 * or restart interval predicts from the left (first sample: 2^(P-Pt-1));
 * other lines predict their first sample from above and the rest with the
 * selected predictor.  Arithmetic is modulo 2^16 (H.1.2.1). */
static inline __attribute__((always_inline)) void
line_1(BitReader *br, const HuffTable *t, uint16_t *cur, const uint16_t *prev,
       uint32_t w, int pred, int initial)
{
    refill(br);
    if (!prev) {
        cur[0] = (uint16_t)(initial + decode_diff(br, t));
        for (uint32_t x = 1; x < w; x++) {
            refill(br);
            cur[x] = (uint16_t)(cur[x - 1] + decode_diff(br, t));
        }
        return;
    }
    cur[0] = (uint16_t)(prev[0] + decode_diff(br, t));
    for (uint32_t x = 1; x < w; x++) {
        refill(br);
        int px = predict(pred, cur[x - 1], prev[x], prev[x - 1]);
        cur[x] = (uint16_t)(px + decode_diff(br, t));
    }
}

#define LINES_FN(n)                                                          \
    static void lines_p##n(BitReader *br, const HuffTable *t, uint16_t *cur, \
                           const uint16_t *prev, uint32_t w, int initial)    \
    {                                                                        \
        line_1(br, t, cur, prev, w, n, initial);                             \
    }
LINES_FN(1)
LINES_FN(2)
LINES_FN(3)
LINES_FN(4)
LINES_FN(5)
LINES_FN(6)
LINES_FN(7)

typedef void (*LineFn)(BitReader *, const HuffTable *, uint16_t *,
                       const uint16_t *, uint32_t, int);
static const LineFn line_fns[8] = {NULL,      lines_p1, lines_p2, lines_p3,
                                   lines_p4, lines_p5, lines_p6, lines_p7};

/* ------------------------------------------------------------ scans */

/* Copy entropy-coded data starting at pos into d->clean without stuffing,
 * recording restart-segment starts.  Returns the offset of the marker that
 * ends the scan (or the end of the data). */
static bool unstuff(Decoder *d, size_t pos, size_t pad, size_t *end_pos,
                    size_t *clean_len, size_t *nseg, size_t max_seg)
{
    size_t avail = d->len - pos, cap;
    if (!nova_size_add(avail, pad, &cap))
        return fail(d, pos, "scan too large", NULL);
    if (cap > d->clean_cap) {
        nova_free(d->clean);
        d->clean = nova_malloc(d->error, cap);
        if (!d->clean)
            return false;
        d->clean_cap = cap;
    }
    if (max_seg + 1 > d->seg_cap) {
        nova_free(d->seg_start);
        d->seg_start = nova_malloc_array(d->error, max_seg + 1, sizeof(size_t));
        if (!d->seg_start)
            return false;
        d->seg_cap = max_seg + 1;
    }
    const uint8_t *s = d->src;
    size_t i = pos, o = 0, n = 1;
    d->seg_start[0] = 0;
    while (i < d->len) {
        const uint8_t *ff = memchr(s + i, 0xFF, d->len - i);
        size_t chunk = ff ? (size_t)(ff - (s + i)) : d->len - i;
        memcpy(d->clean + o, s + i, chunk);
        o += chunk;
        i += chunk;
        if (!ff)
            break;
        if (i + 1 >= d->len) {
            i = d->len;
            break;
        }
        uint8_t m = s[i + 1];
        if (m == 0x00) {
            d->clean[o++] = 0xFF; /* F.1.2.3: stuffed zero */
            i += 2;
        } else if (m == 0xFF) {
            i++; /* B.1.1.2: fill byte before a marker */
        } else if (m >= 0xD0 && m <= 0xD7) {
            if (n < max_seg)
                d->seg_start[n++] = o;
            i += 2;
        } else {
            break;
        }
    }
    memset(d->clean + o, 0, pad);
    *end_pos = i;
    *clean_len = o;
    *nseg = n;
    return true;
}

static bool decode_scan(Decoder *d, size_t pos, size_t seg_len,
                        size_t *next_pos)
{
    const uint8_t *s = d->src + pos;
    if (!d->seen_sof)
        return fail(d, pos, "SOS before SOF3", NULL);
    if (seg_len < 3)
        return fail(d, pos, "SOS segment too short", NULL);
    unsigned ns = s[2];
    if (ns < 1 || ns > d->ncomp || seg_len != 6 + 2 * (size_t)ns)
        return fail(d, pos, "SOS component count does not match its length",
                    NULL);
    unsigned ci[4];
    for (unsigned k = 0; k < ns; k++) {
        uint8_t id = s[3 + 2 * k];
        unsigned td = s[4 + 2 * k] >> 4;
        unsigned c;
        for (c = 0; c < d->ncomp; c++)
            if (d->comp[c].id == id)
                break;
        if (c == d->ncomp)
            return fail(d, pos, "SOS names a component not in SOF3", NULL);
        for (unsigned j = 0; j < k; j++)
            if (ci[j] == c)
                return fail(d, pos, "SOS names a component twice", NULL);
        if (td > 3 || !d->tables[td].defined)
            return fail(d, pos, "SOS uses an undefined Huffman table", NULL);
        ci[k] = c;
        d->comp[c].table = (uint8_t)td;
    }
    unsigned pred = s[3 + 2 * ns];
    unsigned pt = s[5 + 2 * ns] & 15;
    if (pred < 1 || pred > 7)
        return fail(d, pos,
                    "predictor selection value (Ss) is not 1..7 (T.81 "
                    "Table H.1)",
                    NULL);
    if (pt >= d->precision)
        return fail(d, pos, "point transform is not below the precision",
                    NULL);
    for (unsigned k = 0; k < ns; k++) {
        d->comp[ci[k]].pt = (uint8_t)pt;
        d->comp[ci[k]].decoded = true;
    }

    uint32_t w = d->width, h = d->height;
    uint32_t rows_per_interval = h;
    if (d->restart_interval) {
        /* MCUs are single samples (or one sample of each component) with
         * 1x1 sampling, so a line holds `w` MCUs. */
        if (d->restart_interval % w != 0)
            return nova_error_set(
                d->error, NOVA_ERROR_UNSUPPORTED, "unsupported JPEG Lossless",
                "%s: restart interval %u is not a multiple of the line width "
                "%u",
                d->ts->name, d->restart_interval, w);
        rows_per_interval = d->restart_interval / w;
    }
    size_t intervals = (h + rows_per_interval - 1) / rows_per_interval;
    /* A line consumes at most 32 bits per sample; pad more than that. */
    size_t pad = (size_t)w * ns * 4 + 64;
    size_t end_pos = pos + seg_len, clean_len = 0, nseg = 0;
    if (!unstuff(d, pos + seg_len, pad, &end_pos, &clean_len, &nseg,
                 intervals))
        return false;
    if (nseg < intervals)
        return fail(d, end_pos,
                    "entropy-coded data ends before the last restart "
                    "interval",
                    NULL);
    int initial = 1 << (d->precision - pt - 1);
    const uint8_t *limit = d->clean + clean_len + 8;

    for (size_t iv = 0; iv < intervals; iv++) {
        size_t seg_begin = d->seg_start[iv];
        size_t seg_end = iv + 1 < nseg ? d->seg_start[iv + 1] : clean_len;
        BitReader br = {0, 0, d->clean + seg_begin, false};
        uint32_t y0 = (uint32_t)(iv * rows_per_interval);
        uint32_t y1 = y0 + rows_per_interval < h ? y0 + rows_per_interval : h;
        for (uint32_t y = y0; y < y1; y++) {
            if (br.p > limit || br.bad)
                return fail(d, end_pos,
                            br.bad ? "invalid Huffman code in scan data"
                                   : "scan data ends early",
                            NULL);
            if (ns == 1) {
                uint16_t *plane = d->planes[ci[0]];
                uint16_t *cur = plane + (size_t)y * w;
                line_fns[pred](&br, &d->tables[d->comp[ci[0]].table], cur,
                               y == y0 ? NULL : cur - w, w, initial);
                continue;
            }
            /* Interleaved scan: one sample of each component per MCU. */
            for (uint32_t x = 0; x < w; x++) {
                for (unsigned k = 0; k < ns; k++) {
                    uint16_t *cur = d->planes[ci[k]] + (size_t)y * w;
                    int px;
                    if (y == y0) {
                        px = x == 0 ? initial : cur[x - 1];
                    } else {
                        const uint16_t *prev = cur - w;
                        px = x == 0 ? prev[0]
                                    : predict((int)pred, cur[x - 1], prev[x],
                                              prev[x - 1]);
                    }
                    refill(&br);
                    cur[x] = (uint16_t)(px + decode_diff(
                                                 &br, &d->tables[d->comp[ci[k]]
                                                                     .table]));
                }
            }
        }
        size_t consumed_bits =
            (size_t)(br.p - (d->clean + seg_begin)) * 8 - (size_t)br.nbits;
        if (br.bad || consumed_bits > (seg_end - seg_begin) * 8)
            return fail(d, end_pos,
                        br.bad ? "invalid Huffman code in scan data"
                               : "scan data ends early (truncated stream)",
                        NULL);
    }
    *next_pos = end_pos;
    return true;
}

/* ------------------------------------------------------------ frame */

static bool parse_sof3(Decoder *d, size_t pos, size_t seg_len,
                       const NovaImageInfo *info)
{
    const uint8_t *s = d->src + pos;
    if (d->seen_sof)
        return fail(d, pos, "second SOF marker", NULL);
    if (seg_len < 8)
        return fail(d, pos, "SOF3 segment too short", NULL);
    d->precision = s[2];
    d->height = be16(s + 3);
    d->width = be16(s + 5);
    d->ncomp = s[7];
    if (d->ncomp < 1 || d->ncomp > 4 || seg_len != 8 + 3 * (size_t)d->ncomp)
        return fail(d, pos, "SOF3 component count does not match its length",
                    NULL);
    if (d->precision < 2 || d->precision > 16)
        return fail(d, pos, "SOF3 precision is not 2..16", NULL);
    if (d->height == 0)
        return nova_error_set(d->error, NOVA_ERROR_UNSUPPORTED,
                              "unsupported JPEG Lossless",
                              "%s: offset %zu: SOF3 height 0 (lines defined "
                              "by DNL) is not supported",
                              d->ts->name, pos);
    if (d->width != info->columns || d->height != info->rows ||
        d->ncomp != info->samples_per_pixel)
        return nova_error_set(
            d->error, NOVA_ERROR_PARSE, "bad JPEG Lossless data",
            "%s: offset %zu: SOF3 says %ux%u with %u components, the dataset "
            "says %ux%u with %u samples per pixel",
            d->ts->name, pos, d->width, d->height, d->ncomp, info->columns,
            info->rows, info->samples_per_pixel);
    if (d->precision > 8 && info->bits_allocated == 8)
        return nova_error_set(
            d->error, NOVA_ERROR_PARSE, "bad JPEG Lossless data",
            "%s: offset %zu: precision %u does not fit Bits Allocated 8",
            d->ts->name, pos, d->precision);
    for (unsigned c = 0; c < d->ncomp; c++) {
        d->comp[c].id = s[8 + 3 * c];
        if (s[9 + 3 * c] != 0x11)
            return nova_error_set(d->error, NOVA_ERROR_UNSUPPORTED,
                                  "unsupported JPEG Lossless",
                                  "%s: offset %zu: component sampling "
                                  "factors other than 1x1 are not supported",
                                  d->ts->name, pos);
        for (unsigned j = 0; j < c; j++)
            if (d->comp[j].id == d->comp[c].id)
                return fail(d, pos, "SOF3 repeats a component id", NULL);
    }
    d->seen_sof = true;
    return true;
}

/* Move planes into dst: interleave, apply the point transform (H.1.2.3: the
 * decoder shifts the reconstructed value left by Pt), narrow or widen to the
 * output sample type. */
static void emit(Decoder *d, const NovaImageInfo *info, void *dst)
{
    size_t pixels = (size_t)d->width * d->height, nc = d->ncomp;
    for (size_t c = 0; c < nc; c++) {
        const uint16_t *p = d->planes[c];
        unsigned pt = d->comp[c].pt;
        if (info->bits_allocated == 8) {
            uint8_t *o = (uint8_t *)dst + c;
            for (size_t i = 0; i < pixels; i++)
                o[i * nc] = (uint8_t)(p[i] << pt);
        } else if (info->bits_allocated == 16) {
            uint16_t *o = (uint16_t *)dst + c;
            if ((void *)o == (const void *)p) {
                if (pt)
                    for (size_t i = 0; i < pixels; i++)
                        o[i] = (uint16_t)(o[i] << pt);
            } else {
                for (size_t i = 0; i < pixels; i++)
                    o[i * nc] = (uint16_t)(p[i] << pt);
            }
        } else {
            uint32_t *o = (uint32_t *)dst + c;
            for (size_t i = 0; i < pixels; i++)
                o[i * nc] = (uint16_t)(p[i] << pt);
        }
    }
}

bool nova__decode_jpeg_lossless(NOVA__DECODER_ARGS)
{
    Decoder *d = nova_calloc(error, 1, sizeof *d);
    if (!d)
        return false;
    d->error = error;
    d->ts = ts;
    d->src = src;
    d->len = src_len;
    uint16_t *scratch = NULL;
    bool ok = false;
    size_t pos = 0;

    if (src_len < 4 || src[0] != 0xFF || src[1] != 0xD8) {
        fail(d, 0, "no SOI marker (FFD8) at the start of the frame", NULL);
        goto out;
    }
    pos = 2;
    for (;;) {
        /* B.1.1.2: markers may be preceded by fill bytes 0xFF. */
        while (pos < src_len && src[pos] != 0xFF)
            pos++; /* tolerate garbage between segments, as IJG does */
        while (pos + 1 < src_len && src[pos + 1] == 0xFF)
            pos++;
        if (pos + 1 >= src_len)
            break;
        uint8_t m = src[pos + 1];
        pos += 2;
        if (m == 0xD9)
            break;
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD8))
            continue; /* TEM, stray RSTn, repeated SOI: no length */
        if (pos + 2 > src_len) {
            fail(d, pos, "marker segment length runs past the end", NULL);
            goto out;
        }
        size_t seg_len = be16(src + pos);
        if (seg_len < 2 || seg_len > src_len - pos) {
            fail(d, pos, "marker segment length runs past the end", NULL);
            goto out;
        }
        switch (m) {
        case 0xC3:
            if (!parse_sof3(d, pos, seg_len, info))
                goto out;
            {
                size_t pixels = (size_t)d->width * d->height;
                bool direct = d->ncomp == 1 && info->bits_allocated == 16;
                scratch = direct ? NULL
                                 : nova_malloc_array(error, pixels * d->ncomp,
                                                     sizeof(uint16_t));
                if (!direct && !scratch)
                    goto out;
                for (unsigned c = 0; c < d->ncomp; c++)
                    d->planes[c] = direct ? (uint16_t *)dst
                                          : scratch + c * pixels;
            }
            pos += seg_len;
            break;
        case 0xC4:
            if (!parse_dht(d, pos, seg_len))
                goto out;
            pos += seg_len;
            break;
        case 0xDD:
            if (seg_len != 4) {
                fail(d, pos, "DRI segment length is not 4", NULL);
                goto out;
            }
            d->restart_interval = be16(src + pos + 2);
            pos += seg_len;
            break;
        case 0xDA: {
            size_t next = pos;
            if (!decode_scan(d, pos, seg_len, &next))
                goto out;
            pos = next;
            break;
        }
        case 0xDC:
            nova_error_set(error, NOVA_ERROR_UNSUPPORTED,
                           "unsupported JPEG Lossless",
                           "%s: offset %zu: DNL marker is not supported",
                           ts->name, pos - 2);
            goto out;
        case 0xC0:
        case 0xC1:
        case 0xC2:
        case 0xC5:
        case 0xC6:
        case 0xC7:
        case 0xC9:
        case 0xCA:
        case 0xCB:
        case 0xCD:
        case 0xCE:
        case 0xCF:
            if (m <= 0xC1 && !d->seen_sof) {
                /* Some writers label baseline/extended DCT streams as
                 * lossless; libjpeg decodes those. */
                nova_free(d->clean);
                nova_free(d->seg_start);
                nova_free(d);
                return nova__decode_jpeg(error, ts, info, src, src_len, dst,
                                         dst_len);
            }
            nova_error_set(error, NOVA_ERROR_UNSUPPORTED,
                           "unsupported JPEG process",
                           "%s: offset %zu: SOF%d marker: only lossless "
                           "process 14 (SOF3) is supported here",
                           ts->name, pos - 2, m - 0xC0);
            goto out;
        default:
            pos += seg_len; /* APPn, COM, DQT, ...: not needed */
            break;
        }
    }
    if (!d->seen_sof) {
        fail(d, pos, "no SOF3 frame header before the end of the stream", NULL);
        goto out;
    }
    for (unsigned c = 0; c < d->ncomp; c++) {
        if (!d->comp[c].decoded) {
            fail(d, pos, "a component has no scan", NULL);
            goto out;
        }
    }
    emit(d, info, dst);
    nova__codec_fix_samples(info, dst, nova__frame_samples(info));
    ok = true;
out:
    nova_free(scratch);
    nova_free(d->clean);
    nova_free(d->seg_start);
    nova_free(d);
    return ok;
}
