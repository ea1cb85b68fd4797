/*
 * transcode.c - explicit VR little endian to implicit VR little endian
 * (PS3.5 7.1.2 and 7.1.3), so that `nova send` can deliver an explicit-LE
 * file to a peer that accepted only implicit LE (the default transfer
 * syntax every node supports, PS3.5 10.1).
 *
 * The walk is recursive over sequences and items (depth-limited): an
 * element header of 8 (short VRs) or 12 bytes (OB OD OF OL OV OW SQ UC UN
 * UR UT SV UV, PS3.5 7.1.2) becomes tag + 32-bit length; values are copied
 * as they are (both syntaxes are little endian).  A sequence or item of
 * defined length is converted first and written with its new length, since
 * long-VR headers shrink by 4 bytes.  Every length is checked against what
 * remains before it is used.
 */
#include <string.h>

#include "nova/net.h"

typedef struct {
    uint8_t *data;
    size_t size, cap;
} Out;

static bool out_put(NovaError **error, Out *o, const void *p, size_t n)
{
    if (o->size + n > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->size + n)
            cap *= 2;
        uint8_t *q = nova_realloc(error, o->data, cap);
        if (!q)
            return false;
        o->data = q;
        o->cap = cap;
    }
    memcpy(o->data + o->size, p, n);
    o->size += n;
    return true;
}

static bool out_header(NovaError **error, Out *o, uint16_t group, uint16_t elem,
                       uint32_t length)
{
    uint8_t h[8] = {(uint8_t)group,          (uint8_t)(group >> 8),
                    (uint8_t)elem,           (uint8_t)(elem >> 8),
                    (uint8_t)length,         (uint8_t)(length >> 8),
                    (uint8_t)(length >> 16), (uint8_t)(length >> 24)};
    return out_put(error, o, h, 8);
}

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static bool long_vr(uint8_t a, uint8_t b)
{
    static const char *const vrs[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ",
                                      "UC", "UN", "UR", "UT", "SV", "UV"};
    for (size_t i = 0; i < sizeof vrs / sizeof vrs[0]; i++)
        if (vrs[i][0] == a && vrs[i][1] == b)
            return true;
    return false;
}

/* Convert [*pos, end).  With until_delim, stop after the delimiter tag
 * (item or sequence delimitation) that ends an undefined-length container;
 * *pos is left after it. */
static bool walk(NovaError **error, const uint8_t *b, size_t *pos, size_t end,
                 Out *o, int depth, uint32_t until_delim);

/* The items of a sequence: each (FFFE,E000) with its content. */
static bool walk_items(NovaError **error, const uint8_t *b, size_t *pos,
                       size_t end, Out *o, int depth, bool undefined)
{
    while (*pos < end) {
        if (end - *pos < 8)
            return nova_error_set(error, NOVA_ERROR_PARSE, "cannot transcode",
                                  "item header at offset %zu truncated", *pos);
        uint16_t g = le16(b + *pos), e = le16(b + *pos + 2);
        uint32_t len = le32(b + *pos + 4);
        *pos += 8;
        if (g == 0xFFFE && e == 0xE0DD) {
            if (!undefined)
                return nova_error_set(
                    error, NOVA_ERROR_PARSE, "cannot transcode",
                    "sequence delimiter inside a defined-length sequence "
                    "at offset %zu",
                    *pos - 8);
            return out_header(error, o, g, e, 0);
        }
        if (g != 0xFFFE || e != 0xE000)
            return nova_error_set(error, NOVA_ERROR_PARSE, "cannot transcode",
                                  "(%04x,%04x) at offset %zu where an item "
                                  "was due",
                                  g, e, *pos - 8);
        if (len == 0xFFFFFFFFu) {
            if (!out_header(error, o, g, e, len) ||
                !walk(error, b, pos, end, o, depth + 1, 0xFFFEE00Du))
                return false;
        } else {
            if (len > end - *pos)
                return nova_error_set(error, NOVA_ERROR_PARSE,
                                      "cannot transcode",
                                      "item at offset %zu: length %u exceeds "
                                      "the remaining %zu bytes",
                                      *pos - 8, len, end - *pos);
            Out inner = {0};
            size_t p = *pos;
            bool ok = walk(error, b, &p, *pos + len, &inner, depth + 1, 0) &&
                      out_header(error, o, g, e, (uint32_t)inner.size) &&
                      out_put(error, o, inner.data, inner.size);
            nova_free(inner.data);
            if (!ok)
                return false;
            *pos += len;
        }
    }
    if (undefined)
        return nova_error_set(error, NOVA_ERROR_PARSE, "cannot transcode",
                              "sequence without its delimiter");
    return true;
}

static bool walk(NovaError **error, const uint8_t *b, size_t *pos, size_t end,
                 Out *o, int depth, uint32_t until_delim)
{
    if (depth > 64)
        return nova_error_set(error, NOVA_ERROR_RANGE, "cannot transcode",
                              "sequences nested deeper than 64");
    while (*pos < end) {
        if (end - *pos < 8)
            return nova_error_set(error, NOVA_ERROR_PARSE, "cannot transcode",
                                  "element header at offset %zu truncated",
                                  *pos);
        uint16_t g = le16(b + *pos), e = le16(b + *pos + 2);
        uint32_t tag = (uint32_t)g << 16 | e;
        if (g == 0xFFFE) {
            /* Only the delimiter that closes this container may appear. */
            if (tag != until_delim)
                return nova_error_set(
                    error, NOVA_ERROR_PARSE, "cannot transcode",
                    "unexpected (FFFE,%04x) at offset %zu", e, *pos);
            *pos += 8;
            return out_header(error, o, g, e, 0);
        }
        uint8_t v0 = b[*pos + 4], v1 = b[*pos + 5];
        size_t h;
        uint32_t len;
        if (long_vr(v0, v1)) {
            if (end - *pos < 12)
                return nova_error_set(error, NOVA_ERROR_PARSE,
                                      "cannot transcode",
                                      "element header at offset %zu "
                                      "truncated",
                                      *pos);
            len = le32(b + *pos + 8);
            h = 12;
        } else {
            len = le16(b + *pos + 6);
            h = 8;
        }
        size_t at = *pos;
        *pos += h;
        if (v0 == 'S' && v1 == 'Q') {
            if (len == 0xFFFFFFFFu) {
                if (!out_header(error, o, g, e, len) ||
                    !walk_items(error, b, pos, end, o, depth + 1, true))
                    return false;
                continue;
            }
            if (len > end - *pos)
                return nova_error_set(error, NOVA_ERROR_PARSE,
                                      "cannot transcode",
                                      "sequence (%04x,%04x) at offset %zu: "
                                      "length %u exceeds the remaining %zu",
                                      g, e, at, len, end - *pos);
            Out inner = {0};
            size_t p = *pos;
            bool ok = walk_items(error, b, &p, *pos + len, &inner, depth + 1,
                                 false) &&
                      out_header(error, o, g, e, (uint32_t)inner.size) &&
                      out_put(error, o, inner.data, inner.size);
            nova_free(inner.data);
            if (!ok)
                return false;
            *pos += len;
            continue;
        }
        if (len == 0xFFFFFFFFu)
            return nova_error_set(error, NOVA_ERROR_UNSUPPORTED,
                                  "cannot transcode",
                                  "(%04x,%04x) at offset %zu has undefined "
                                  "length (encapsulated or UN sequence)",
                                  g, e, at);
        if (len > end - *pos)
            return nova_error_set(error, NOVA_ERROR_PARSE, "cannot transcode",
                                  "(%04x,%04x) at offset %zu: length %u "
                                  "exceeds the remaining %zu bytes",
                                  g, e, at, len, end - *pos);
        if (!out_header(error, o, g, e, len) ||
            !out_put(error, o, b + *pos, len))
            return false;
        *pos += len;
    }
    if (until_delim)
        return nova_error_set(error, NOVA_ERROR_PARSE, "cannot transcode",
                              "item without its delimiter");
    return true;
}

bool nova_dimse_explicit_to_implicit(NovaError **error, const uint8_t *bytes,
                                     size_t size, uint8_t **out,
                                     size_t *out_size)
{
    Out o = {0};
    size_t pos = 0;
    if (!walk(error, bytes, &pos, size, &o, 0, 0)) {
        nova_free(o.data);
        return false;
    }
    if (!o.data) {
        o.data = nova_malloc(error, 1);
        if (!o.data)
            return false;
    }
    *out = o.data;
    *out_size = o.size;
    return true;
}
