/*
 * convert.c - element conversion and file helpers for the volume readers.
 *
 * Volume files store many element types (NIfTI datatype, NRRD type); Nova
 * volumes hold uint8, int16 or float32.  nova__volume_from_array scans the
 * values once to pick the narrowest Nova type that holds every value exactly
 * (after the file's scaling), then converts in a second pass.  File reading
 * and gzip inflation use zlib (Debian zlib1g-dev).
 */
#include "volume_private.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

size_t nova__src_type_size(NovaSrcType type)
{
    switch (type) {
    case NOVA__SRC_INT8:
    case NOVA__SRC_UINT8: return 1;
    case NOVA__SRC_INT16:
    case NOVA__SRC_UINT16: return 2;
    case NOVA__SRC_INT32:
    case NOVA__SRC_UINT32:
    case NOVA__SRC_FLOAT32: return 4;
    case NOVA__SRC_INT64:
    case NOVA__SRC_UINT64:
    case NOVA__SRC_FLOAT64: return 8;
    }
    return 0;
}

static bool host_big_endian(void)
{
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 0;
}

/* Element i as a double, swapping bytes when the file's order differs. */
static double element_at(const uint8_t *src, NovaSrcType type, bool swap,
                         size_t i)
{
    size_t n = nova__src_type_size(type);
    uint8_t b[8];
    memcpy(b, src + i * n, n);
    if (swap)
        for (size_t k = 0; k < n / 2; k++) {
            uint8_t t = b[k];
            b[k] = b[n - 1 - k];
            b[n - 1 - k] = t;
        }
    switch (type) {
    case NOVA__SRC_INT8: {
        int8_t v;
        memcpy(&v, b, 1);
        return v;
    }
    case NOVA__SRC_UINT8: return b[0];
    case NOVA__SRC_INT16: {
        int16_t v;
        memcpy(&v, b, 2);
        return v;
    }
    case NOVA__SRC_UINT16: {
        uint16_t v;
        memcpy(&v, b, 2);
        return v;
    }
    case NOVA__SRC_INT32: {
        int32_t v;
        memcpy(&v, b, 4);
        return v;
    }
    case NOVA__SRC_UINT32: {
        uint32_t v;
        memcpy(&v, b, 4);
        return v;
    }
    case NOVA__SRC_INT64: {
        int64_t v;
        memcpy(&v, b, 8);
        return (double)v;
    }
    case NOVA__SRC_UINT64: {
        uint64_t v;
        memcpy(&v, b, 8);
        return (double)v;
    }
    case NOVA__SRC_FLOAT32: {
        float v;
        memcpy(&v, b, 4);
        return v;
    }
    case NOVA__SRC_FLOAT64: {
        double v;
        memcpy(&v, b, 8);
        return v;
    }
    }
    return 0.0;
}

static bool is_unsigned(NovaSrcType type)
{
    return type == NOVA__SRC_UINT8 || type == NOVA__SRC_UINT16 ||
           type == NOVA__SRC_UINT32 || type == NOVA__SRC_UINT64;
}

NovaVolume *nova__volume_from_array(NovaError **error, const char *name,
                                    const void *src_void, NovaSrcType type,
                                    bool big_endian, double slope, double inter,
                                    const size_t dims[3],
                                    const NovaGeometry *geometry)
{
    const uint8_t *src = src_void;
    size_t count = dims[0] * dims[1] * dims[2];
    bool swap =
        big_endian != host_big_endian() && nova__src_type_size(type) > 1;
    bool scaled = !(slope == 1.0 && inter == 0.0);

    /* Pass 1: can every value be held exactly by uint8 or int16? */
    bool fits_u8 = is_unsigned(type) && !scaled;
    bool fits_i16 = true;
    for (size_t i = 0; i < count && (fits_u8 || fits_i16); i++) {
        double v = element_at(src, type, swap, i) * slope + inter;
        if (!isfinite(v) || v != floor(v)) {
            fits_u8 = fits_i16 = false;
            break;
        }
        if (v < 0.0 || v > 255.0)
            fits_u8 = false;
        if (v < -32768.0 || v > 32767.0)
            fits_i16 = false;
    }
    NovaDtype dtype = fits_u8    ? NOVA_DTYPE_UINT8
                      : fits_i16 ? NOVA_DTYPE_INT16
                                 : NOVA_DTYPE_FLOAT32;
    NovaVolume *v = nova_volume_create(error, dtype, dims, geometry);
    if (!v) {
        nova_error_prefix(error, "%s: ", name);
        return NULL;
    }
    void *out = nova_volume_get_data(v);

    /* Pass 2, with fast paths for the common exact copies. */
    if (!swap && !scaled && dtype == NOVA_DTYPE_INT16 &&
        type == NOVA__SRC_INT16) {
        memcpy(out, src, count * 2);
    } else if (!scaled && dtype == NOVA_DTYPE_UINT8 &&
               type == NOVA__SRC_UINT8) {
        memcpy(out, src, count);
    } else {
        for (size_t i = 0; i < count; i++) {
            double x = element_at(src, type, swap, i) * slope + inter;
            switch (dtype) {
            case NOVA_DTYPE_UINT8: ((uint8_t *)out)[i] = (uint8_t)x; break;
            case NOVA_DTYPE_INT16: ((int16_t *)out)[i] = (int16_t)x; break;
            case NOVA_DTYPE_FLOAT32: ((float *)out)[i] = (float)x; break;
            }
        }
    }
    return v;
}

uint8_t *nova__read_file(NovaError **error, const char *path, size_t *size,
                         bool inflate_gzip)
{
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    if (!inflate_gzip) {
        FILE *f = fopen(path, "rb");
        if (!f) {
            nova_error_set(error, NOVA_ERROR_IO, "cannot open file", "%s: %s",
                           path, strerror(errno));
            return NULL;
        }
        if (fseeko(f, 0, SEEK_END) == 0) {
            off_t end = ftello(f);
            if (end > 0)
                cap = (size_t)end;
            rewind(f);
        }
        buf = nova_malloc(error, cap + 1);
        if (!buf) {
            fclose(f);
            return NULL;
        }
        len = fread(buf, 1, cap, f);
        bool bad = ferror(f);
        fclose(f);
        if (bad || len != cap) {
            nova_free(buf);
            nova_error_set(error, NOVA_ERROR_IO, "read failed",
                           "%s: read %zu of %zu bytes", path, len, cap);
            return NULL;
        }
        *size = len;
        return buf;
    }
    gzFile gz = gzopen(path, "rb");
    if (!gz) {
        nova_error_set(error, NOVA_ERROR_IO, "cannot open file", "%s: %s", path,
                       strerror(errno));
        return NULL;
    }
    gzbuffer(gz, 1 << 17);
    cap = 1 << 20;
    buf = nova_malloc(error, cap);
    while (buf) {
        if (len == cap) {
            size_t ncap;
            if (!nova_size_mul(cap, 2, &ncap)) {
                nova_error_set(error, NOVA_ERROR_RANGE, "file too large",
                               "%s: more than %zu bytes", path, cap);
                nova_free(buf);
                buf = NULL;
                break;
            }
            uint8_t *nb = nova_realloc(error, buf, ncap);
            if (!nb) {
                nova_free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap = ncap;
        }
        size_t want = cap - len > (size_t)INT_MAX ? (size_t)INT_MAX : cap - len;
        int got = gzread(gz, buf + len, (unsigned)want);
        if (got < 0) {
            int zerr;
            const char *msg = gzerror(gz, &zerr);
            nova_error_set(error, NOVA_ERROR_PARSE, "gzip error",
                           "%s: after %zu inflated bytes: %s", path, len, msg);
            nova_free(buf);
            buf = NULL;
            break;
        }
        if (got == 0)
            break;
        len += (size_t)got;
    }
    gzclose(gz);
    if (buf)
        *size = len;
    return buf;
}

uint8_t *nova__inflate(NovaError **error, const char *name, const uint8_t *src,
                       size_t src_len, size_t expected)
{
    /* Deflate expands at most 1032:1 (zlib's technical details), so a
     * claim beyond that is a lie of the header: refuse before allocating. */
    if (expected / 1032 > src_len + 64) {
        nova_error_set(error, NOVA_ERROR_PARSE, "truncated stream",
                       "%s: %zu compressed bytes cannot hold the %zu bytes "
                       "the header announces",
                       name, src_len, expected);
        return NULL;
    }
    uint8_t *out = nova_malloc(error, expected ? expected : 1);
    if (!out)
        return NULL;
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    /* 15 + 32: zlib or gzip header, detected automatically (zlib.h). */
    if (inflateInit2(&zs, 15 + 32) != Z_OK) {
        nova_free(out);
        nova_error_set(error, NOVA_ERROR_INTERNAL, "zlib error",
                       "%s: inflateInit2 failed", name);
        return NULL;
    }
    size_t in_done = 0, out_done = 0;
    int rc = Z_OK;
    while (out_done < expected) {
        /* avail_in/avail_out are 32-bit: feed at most 1 GiB at a time. */
        size_t in_chunk = src_len - in_done;
        size_t out_chunk = expected - out_done;
        if (in_chunk > (1u << 30))
            in_chunk = 1u << 30;
        if (out_chunk > (1u << 30))
            out_chunk = 1u << 30;
        zs.next_in = (Bytef *)(src + in_done);
        zs.avail_in = (uInt)in_chunk;
        zs.next_out = out + out_done;
        zs.avail_out = (uInt)out_chunk;
        rc = inflate(&zs, Z_NO_FLUSH);
        in_done += in_chunk - zs.avail_in;
        out_done += out_chunk - zs.avail_out;
        if (rc == Z_STREAM_END) {
            /* Concatenated gzip members (gzip -c a >> b) continue. */
            if (out_done < expected && in_done < src_len &&
                inflateReset(&zs) == Z_OK)
                continue;
            break;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            break;
        /* No progress with input and room left: give up, never spin. */
        if (zs.avail_in == in_chunk && zs.avail_out == out_chunk)
            break;
    }
    inflateEnd(&zs);
    if (out_done < expected) {
        const char *why = rc == Z_DATA_ERROR   ? "corrupt deflate data"
                          : rc == Z_STREAM_END ? "stream ended early"
                                               : "truncated stream";
        nova_error_set(error, NOVA_ERROR_PARSE, "gzip error",
                       "%s: %s after %zu of %zu inflated bytes (input "
                       "offset %zu)",
                       name, why, out_done, expected, in_done);
        nova_free(out);
        return NULL;
    }
    return out;
}

bool nova__has_suffix(const char *path, const char *suffix)
{
    size_t n = strlen(path), m = strlen(suffix);
    return n >= m && strcasecmp(path + n - m, suffix) == 0;
}
