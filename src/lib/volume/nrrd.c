/*
 * nrrd.c - NRRD volume files (.nrrd with attached data, .nhdr with a
 * detached data file): read.
 *
 * Format: Teem's NRRD0001-NRRD0005 (teem.sourceforge.net/nrrd/format.html).
 * A text header of "field: value" lines ("#" comments, "key:=value" pairs
 * ignored) ends at an empty line; attached data follows it.  Read here:
 * type, dimension (2 or 3), sizes, endian, encoding (raw, gzip, ascii/text,
 * hex; bzip2 is refused clearly), data file (one detached file, relative to
 * the header's folder), line skip and byte skip (-1 for raw data at the end
 * of the file), space, space dimension, space directions, space origin and
 * spacings.  Gzip data is inflated with zlib (Debian zlib1g-dev).
 *
 * Geometry: the columns of the volume's direction matrix scaled by spacing
 * are the "space directions" vectors, converted to LPS: right-anterior-
 * superior negates x and y, left-anterior-superior negates y; LPS,
 * scanner-xyz and 3D-right-handed (scanner coordinates, which DICOM defines
 * as LPS) are taken as they are.  Without space directions, "spacings" (or
 * 1 mm) on identity directions.
 *
 * Values are narrowed to a Nova dtype as nova__volume_from_array documents
 * (e.g. an "unsigned short" mask of 0/1 becomes uint8).
 */
#include "volume_private.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { ENC_RAW, ENC_GZIP, ENC_ASCII, ENC_HEX } NrrdEncoding;

typedef struct {
    const char *path;
    int dimension;
    bool have_type, have_sizes, have_directions, have_origin, have_spacings;
    NovaSrcType type;
    size_t sizes[3];
    bool big_endian;
    NrrdEncoding encoding;
    char data_file[1024];
    long line_skip;
    long long byte_skip;
    double flip[3];          /* per world axis: +1, or -1 to reach LPS */
    double directions[3][3]; /* [axis][world] */
    double origin[3];
    double spacings[3];
} NrrdHeader;

static const struct {
    const char *name;
    NovaSrcType type;
} nrrd_types[] = {
    {"signed char", NOVA__SRC_INT8},
    {"int8", NOVA__SRC_INT8},
    {"int8_t", NOVA__SRC_INT8},
    {"uchar", NOVA__SRC_UINT8},
    {"unsigned char", NOVA__SRC_UINT8},
    {"uint8", NOVA__SRC_UINT8},
    {"uint8_t", NOVA__SRC_UINT8},
    {"short", NOVA__SRC_INT16},
    {"short int", NOVA__SRC_INT16},
    {"signed short", NOVA__SRC_INT16},
    {"signed short int", NOVA__SRC_INT16},
    {"int16", NOVA__SRC_INT16},
    {"int16_t", NOVA__SRC_INT16},
    {"ushort", NOVA__SRC_UINT16},
    {"unsigned short", NOVA__SRC_UINT16},
    {"unsigned short int", NOVA__SRC_UINT16},
    {"uint16", NOVA__SRC_UINT16},
    {"uint16_t", NOVA__SRC_UINT16},
    {"int", NOVA__SRC_INT32},
    {"signed int", NOVA__SRC_INT32},
    {"int32", NOVA__SRC_INT32},
    {"int32_t", NOVA__SRC_INT32},
    {"uint", NOVA__SRC_UINT32},
    {"unsigned int", NOVA__SRC_UINT32},
    {"uint32", NOVA__SRC_UINT32},
    {"uint32_t", NOVA__SRC_UINT32},
    {"longlong", NOVA__SRC_INT64},
    {"long long", NOVA__SRC_INT64},
    {"long long int", NOVA__SRC_INT64},
    {"signed long long", NOVA__SRC_INT64},
    {"signed long long int", NOVA__SRC_INT64},
    {"int64", NOVA__SRC_INT64},
    {"int64_t", NOVA__SRC_INT64},
    {"ulonglong", NOVA__SRC_UINT64},
    {"unsigned long long", NOVA__SRC_UINT64},
    {"unsigned long long int", NOVA__SRC_UINT64},
    {"uint64", NOVA__SRC_UINT64},
    {"uint64_t", NOVA__SRC_UINT64},
    {"float", NOVA__SRC_FLOAT32},
    {"double", NOVA__SRC_FLOAT64},
};

static bool fail(NovaError **error, const NrrdHeader *h, int line,
                 const char *what)
{
    return nova_error_set(error, NOVA_ERROR_PARSE, "bad NRRD header",
                          "%s: header line %d: %s", h->path, line, what);
}

/* Parse "(x,y,z)" at *s into v; advance *s past it. */
static bool parse_vector(const char **s, double v[3])
{
    const char *p = *s;
    while (isspace((unsigned char)*p))
        p++;
    if (*p != '(')
        return false;
    p++;
    for (int i = 0; i < 3; i++) {
        char *end;
        errno = 0;
        v[i] = strtod(p, &end);
        /* strtod reads "nan" and "inf": a coordinate must be a number. */
        if (end == p || !isfinite(v[i]))
            return false;
        p = end;
        while (isspace((unsigned char)*p))
            p++;
        if (*p != (i < 2 ? ',' : ')'))
            return false;
        p++;
    }
    *s = p;
    return true;
}

static bool parse_field(NovaError **error, NrrdHeader *h, int line,
                        const char *key, const char *value)
{
    if (strcmp(key, "dimension") == 0) {
        h->dimension = atoi(value);
        if (h->dimension < 2 || h->dimension > 3)
            return nova_error_set(error, NOVA_ERROR_UNSUPPORTED,
                                  "NRRD dimension not supported",
                                  "%s: header line %d: dimension %s (Nova "
                                  "reads 2D and 3D scalar volumes)",
                                  h->path, line, value);
    } else if (strcmp(key, "type") == 0) {
        for (size_t i = 0; i < sizeof nrrd_types / sizeof nrrd_types[0]; i++)
            if (strcmp(value, nrrd_types[i].name) == 0) {
                h->type = nrrd_types[i].type;
                h->have_type = true;
            }
        if (!h->have_type)
            return nova_error_set(
                error, NOVA_ERROR_UNSUPPORTED, "NRRD type not supported",
                "%s: header line %d: type \"%s\"", h->path, line, value);
    } else if (strcmp(key, "sizes") == 0) {
        if (h->dimension == 0)
            return fail(error, h, line, "sizes before dimension");
        const char *p = value;
        for (int i = 0; i < h->dimension; i++) {
            char *end;
            errno = 0;
            long long n = strtoll(p, &end, 10);
            if (end == p || n < 1 || errno)
                return fail(error, h, line, "sizes must be positive integers");
            h->sizes[i] = (size_t)n;
            p = end;
        }
        h->have_sizes = true;
    } else if (strcmp(key, "endian") == 0) {
        if (strcmp(value, "little") == 0)
            h->big_endian = false;
        else if (strcmp(value, "big") == 0)
            h->big_endian = true;
        else
            return fail(error, h, line, "endian must be little or big");
    } else if (strcmp(key, "encoding") == 0) {
        if (strcmp(value, "raw") == 0)
            h->encoding = ENC_RAW;
        else if (strcmp(value, "gzip") == 0 || strcmp(value, "gz") == 0)
            h->encoding = ENC_GZIP;
        else if (strcmp(value, "ascii") == 0 || strcmp(value, "text") == 0 ||
                 strcmp(value, "txt") == 0)
            h->encoding = ENC_ASCII;
        else if (strcmp(value, "hex") == 0)
            h->encoding = ENC_HEX;
        else
            return nova_error_set(error, NOVA_ERROR_UNSUPPORTED,
                                  "NRRD encoding not supported",
                                  "%s: header line %d: encoding \"%s\" (Nova "
                                  "reads raw, gzip, ascii and hex)",
                                  h->path, line, value);
    } else if (strcmp(key, "space") == 0) {
        double f[3] = {1, 1, 1};
        if (strcmp(value, "left-posterior-superior") == 0 ||
            strcmp(value, "LPS") == 0 || strcmp(value, "scanner-xyz") == 0 ||
            strcmp(value, "3D-right-handed") == 0) {
        } else if (strcmp(value, "right-anterior-superior") == 0 ||
                   strcmp(value, "RAS") == 0) {
            f[0] = f[1] = -1;
        } else if (strcmp(value, "left-anterior-superior") == 0 ||
                   strcmp(value, "LAS") == 0) {
            f[1] = -1;
        } else {
            return nova_error_set(
                error, NOVA_ERROR_UNSUPPORTED, "NRRD space not supported",
                "%s: header line %d: space \"%s\"", h->path, line, value);
        }
        memcpy(h->flip, f, sizeof f);
    } else if (strcmp(key, "space dimension") == 0) {
        if (atoi(value) != 3)
            return nova_error_set(
                error, NOVA_ERROR_UNSUPPORTED, "NRRD space not supported",
                "%s: header line %d: space dimension %s", h->path, line, value);
    } else if (strcmp(key, "space directions") == 0) {
        if (h->dimension == 0)
            return fail(error, h, line, "space directions before dimension");
        const char *p = value;
        for (int i = 0; i < h->dimension; i++) {
            while (isspace((unsigned char)*p))
                p++;
            if (strncmp(p, "none", 4) == 0)
                return nova_error_set(error, NOVA_ERROR_UNSUPPORTED,
                                      "NRRD non-spatial axis",
                                      "%s: header line %d: axis %d is not "
                                      "spatial (\"none\"); Nova reads scalar "
                                      "volumes",
                                      h->path, line, i);
            if (!parse_vector(&p, h->directions[i]))
                return fail(error, h, line,
                            "space directions: expected (x,y,z) of finite "
                            "numbers per axis");
        }
        h->have_directions = true;
    } else if (strcmp(key, "space origin") == 0) {
        const char *p = value;
        if (!parse_vector(&p, h->origin))
            return fail(error, h, line,
                        "space origin: expected (x,y,z) of finite numbers");
        h->have_origin = true;
    } else if (strcmp(key, "spacings") == 0) {
        if (h->dimension == 0)
            return fail(error, h, line, "spacings before dimension");
        const char *p = value;
        for (int i = 0; i < h->dimension; i++) {
            char *end;
            h->spacings[i] = strtod(p, &end);
            if (end == p)
                return fail(error, h, line, "spacings: expected numbers");
            if (!isfinite(h->spacings[i]) || h->spacings[i] == 0.0)
                h->spacings[i] = 1.0;
            p = end;
        }
        h->have_spacings = true;
    } else if (strcmp(key, "data file") == 0 || strcmp(key, "datafile") == 0) {
        if (strncmp(value, "LIST", 4) == 0 || strchr(value, '%') ||
            strchr(value, ' '))
            return nova_error_set(error, NOVA_ERROR_UNSUPPORTED,
                                  "NRRD multi-file data not supported",
                                  "%s: header line %d: data file \"%s\" "
                                  "(Nova reads one data file)",
                                  h->path, line, value);
        if (strlen(value) >= sizeof h->data_file)
            return fail(error, h, line, "data file name too long");
        strcpy(h->data_file, value);
    } else if (strcmp(key, "line skip") == 0 || strcmp(key, "lineskip") == 0) {
        h->line_skip = atol(value);
        if (h->line_skip < 0)
            return fail(error, h, line, "line skip must be >= 0");
    } else if (strcmp(key, "byte skip") == 0 || strcmp(key, "byteskip") == 0) {
        h->byte_skip = atoll(value);
        if (h->byte_skip < -1)
            return fail(error, h, line, "byte skip must be >= -1");
    } else if (strcmp(key, "kinds") == 0) {
        /* Non-spatial kinds (vector, RGB-color, ...) on an axis of size > 1
         * are refused via sizes and space directions; a plain scalar volume
         * says domain or space. Nothing to keep. */
    }
    /* Other fields (content, centerings, measurement frame, units, ...)
     * do not change the voxels or the geometry. */
    return true;
}

/* Parse the header at buf; *data_offset gets the offset after it. */
static bool parse_header(NovaError **error, NrrdHeader *h, const char *buf,
                         size_t len, size_t *data_offset)
{
    if (len < 8 || memcmp(buf, "NRRD000", 7) != 0 || buf[7] < '1' ||
        buf[7] > '9')
        return nova_error_set(error, NOVA_ERROR_PARSE, "not a NRRD file",
                              "%s: offset 0: no \"NRRD000x\" magic", h->path);
    size_t pos = 0;
    int line = 0;
    char text[4096];
    while (pos < len) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len;
        size_t n = end - pos;
        if (n > 0 && buf[pos + n - 1] == '\r')
            n--;
        line++;
        size_t next = nl ? end + 1 : len;
        if (line == 1) {
            pos = next;
            continue;
        }
        if (n == 0) {
            pos = next;
            break; /* the blank line ending the header */
        }
        if (n >= sizeof text)
            return fail(error, h, line, "line longer than 4095 bytes");
        memcpy(text, buf + pos, n);
        text[n] = '\0';
        if (memchr(text, '\0', n))
            return fail(error, h, line,
                        "NUL byte in header (missing blank "
                        "line before binary data?)");
        pos = next;
        if (text[0] == '#')
            continue;
        char *sep = strstr(text, ":=");
        char *colon = strstr(text, ": ");
        if (sep && (!colon || sep < colon))
            continue; /* key/value pair */
        if (!colon)
            return fail(error, h, line, "expected \"field: value\"");
        *colon = '\0';
        char *value = colon + 2;
        while (*value == ' ')
            value++;
        size_t vl = strlen(value);
        while (vl > 0 && isspace((unsigned char)value[vl - 1]))
            value[--vl] = '\0';
        if (!parse_field(error, h, line, text, value))
            return false;
    }
    *data_offset = pos;
    if (h->dimension == 0 || !h->have_type || !h->have_sizes)
        return nova_error_set(error, NOVA_ERROR_PARSE, "bad NRRD header",
                              "%s: missing a required field (dimension, "
                              "type or sizes)",
                              h->path);
    return true;
}

/* Skip `lines` newline-terminated lines from data[*off]. */
static bool skip_lines(const uint8_t *data, size_t len, size_t *off, long lines)
{
    for (long i = 0; i < lines; i++) {
        const uint8_t *nl = memchr(data + *off, '\n', len - *off);
        if (!nl)
            return false;
        *off = (size_t)(nl - data) + 1;
    }
    return true;
}

static uint8_t *decode_text(NovaError **error, const NrrdHeader *h,
                            const uint8_t *src, size_t src_len, size_t count,
                            size_t esize, bool hex)
{
    size_t bytes = count * esize; /* checked by the caller */
    /* Each value takes at least one character and a separator (two hex
     * digits per byte): refuse a header that promises more than the data
     * can hold before allocating for it. */
    if ((hex && bytes > src_len / 2) || (!hex && count > src_len / 2 + 1)) {
        nova_error_set(error, NOVA_ERROR_PARSE, "truncated NRRD data",
                       "%s: %zu bytes of %s data cannot hold %zu values",
                       h->path, src_len, hex ? "hex" : "ascii", count);
        return NULL;
    }
    uint8_t *out =
        hex ? nova_malloc(error, bytes ? bytes : 1)
            : nova_malloc_array(error, count ? count : 1, sizeof(double));
    if (!out)
        return NULL;
    size_t pos = 0, got = 0;
    if (hex) {
        int half = -1;
        for (; pos < src_len && got < bytes; pos++) {
            int c = src[pos], v;
            if (isspace(c))
                continue;
            if (c >= '0' && c <= '9')
                v = c - '0';
            else if (c >= 'a' && c <= 'f')
                v = c - 'a' + 10;
            else if (c >= 'A' && c <= 'F')
                v = c - 'A' + 10;
            else
                break;
            if (half < 0)
                half = v;
            else {
                out[got++] = (uint8_t)(half << 4 | v);
                half = -1;
            }
        }
    } else {
        /* strtod needs a terminated string: parse token by token. */
        char tok[64];
        while (got < count && pos < src_len) {
            while (pos < src_len && (isspace(src[pos]) || src[pos] == ','))
                pos++;
            size_t n = 0;
            while (pos < src_len && !isspace(src[pos]) && src[pos] != ',' &&
                   n < sizeof tok - 1)
                tok[n++] = (char)src[pos++];
            if (n == 0)
                break;
            tok[n] = '\0';
            char *end;
            double v = strtod(tok, &end);
            if (*end != '\0') {
                nova_free(out);
                nova_error_set(error, NOVA_ERROR_PARSE, "bad NRRD data",
                               "%s: value %zu \"%s\" is not a number", h->path,
                               got, tok);
                return NULL;
            }
            memcpy(out + got * sizeof v, &v, sizeof v);
            got++;
        }
        bytes = count;
    }
    if (got < bytes) {
        nova_free(out);
        nova_error_set(error, NOVA_ERROR_PARSE, "truncated NRRD data",
                       "%s: %s data ends after %zu of %zu %s", h->path,
                       hex ? "hex" : "ascii", got, bytes,
                       hex ? "bytes" : "values");
        return NULL;
    }
    return out;
}

/* Rewrite `count` doubles parsed from ascii data, in place, as host-order
 * elements of the header's integer type (each element is no wider than a
 * double, so the packed copy never overtakes the values still to read).
 * A value that is not an integer within the type's range is an error: the
 * header's type is what the file promises.  Float types stay doubles. */
static bool ascii_to_type(NovaError **error, const NrrdHeader *h, uint8_t *buf,
                          size_t count)
{
    double lo, hi;
    switch (h->type) {
    case NOVA__SRC_INT8: lo = INT8_MIN, hi = INT8_MAX; break;
    case NOVA__SRC_UINT8: lo = 0, hi = UINT8_MAX; break;
    case NOVA__SRC_INT16: lo = INT16_MIN, hi = INT16_MAX; break;
    case NOVA__SRC_UINT16: lo = 0, hi = UINT16_MAX; break;
    case NOVA__SRC_INT32: lo = INT32_MIN, hi = INT32_MAX; break;
    case NOVA__SRC_UINT32: lo = 0, hi = UINT32_MAX; break;
    /* 2^63 and 2^64 are exact doubles; the bounds are exclusive there. */
    case NOVA__SRC_INT64: lo = -0x1p63, hi = 0x1p63; break;
    case NOVA__SRC_UINT64: lo = 0, hi = 0x1p64; break;
    default: return true;
    }
    bool wide = h->type == NOVA__SRC_INT64 || h->type == NOVA__SRC_UINT64;
    size_t esize = nova__src_type_size(h->type);
    for (size_t i = 0; i < count; i++) {
        double v;
        memcpy(&v, buf + i * sizeof v, sizeof v);
        if (!isfinite(v) || v != floor(v) || v < lo || v > hi ||
            (wide && v == hi))
            return nova_error_set(error, NOVA_ERROR_PARSE, "bad NRRD data",
                                  "%s: ascii value %zu (%g) is not an "
                                  "integer the header's type holds",
                                  h->path, i, v);
        uint8_t *dst = buf + i * esize;
        switch (h->type) {
        case NOVA__SRC_INT8: {
            int8_t x = (int8_t)v;
            memcpy(dst, &x, 1);
            break;
        }
        case NOVA__SRC_UINT8: *dst = (uint8_t)v; break;
        case NOVA__SRC_INT16: {
            int16_t x = (int16_t)v;
            memcpy(dst, &x, 2);
            break;
        }
        case NOVA__SRC_UINT16: {
            uint16_t x = (uint16_t)v;
            memcpy(dst, &x, 2);
            break;
        }
        case NOVA__SRC_INT32: {
            int32_t x = (int32_t)v;
            memcpy(dst, &x, 4);
            break;
        }
        case NOVA__SRC_UINT32: {
            uint32_t x = (uint32_t)v;
            memcpy(dst, &x, 4);
            break;
        }
        case NOVA__SRC_INT64: {
            int64_t x = (int64_t)v;
            memcpy(dst, &x, 8);
            break;
        }
        case NOVA__SRC_UINT64: {
            uint64_t x = (uint64_t)v;
            memcpy(dst, &x, 8);
            break;
        }
        default: break;
        }
    }
    return true;
}

/* Parse a whole NRRD file held in memory; detached data is read from the
 * folder of `path` when allowed. */
static NovaVolume *read_buffer(NovaError **error, const char *path,
                               const uint8_t *file, size_t file_len,
                               bool allow_detached)
{
    NrrdHeader h;
    memset(&h, 0, sizeof h);
    h.path = path;
    h.flip[0] = h.flip[1] = h.flip[2] = 1.0;
    h.sizes[2] = 1;
    h.spacings[0] = h.spacings[1] = h.spacings[2] = 1.0;

    size_t data_offset = 0;
    NovaVolume *volume = NULL;
    uint8_t *detached = NULL, *decoded = NULL;
    char *data_path = NULL;
    if (!parse_header(error, &h, (const char *)file, file_len, &data_offset))
        goto done;

    const uint8_t *data = file;
    size_t data_len = file_len;
    const char *data_name = path;
    if (h.data_file[0] && !allow_detached) {
        nova_error_set(error, NOVA_ERROR_UNSUPPORTED,
                       "NRRD detached data not supported here",
                       "%s: data file \"%s\" named in a header read from "
                       "memory",
                       path, h.data_file);
        goto done;
    }
    if (h.data_file[0]) {
        if (h.data_file[0] == '/') {
            data_path = nova_strdup(error, h.data_file);
        } else {
            const char *slash = strrchr(path, '/');
            int dir_len = slash ? (int)(slash - path + 1) : 0;
            data_path =
                nova_strdup_printf(error, "%.*s%s", dir_len, path, h.data_file);
        }
        if (!data_path)
            goto done;
        detached = nova__read_file(error, data_path, &data_len, false);
        if (!detached) {
            nova_error_prefix(error, "%s: data file: ", path);
            goto done;
        }
        data = detached;
        data_name = data_path;
        data_offset = 0;
    } else if (data_offset >= file_len && file_len > 0 &&
               file[file_len - 1] != '\n') {
        nova_error_set(error, NOVA_ERROR_PARSE, "bad NRRD header",
                       "%s: no blank line ends the header and no data file "
                       "is named",
                       path);
        goto done;
    }

    size_t esize = nova__src_type_size(h.type);
    size_t count, bytes;
    if (!nova_size_mul(h.sizes[0], h.sizes[1], &count) ||
        !nova_size_mul(count, h.sizes[2], &count) ||
        !nova_size_mul(count, esize, &bytes)) {
        nova_error_set(error, NOVA_ERROR_RANGE, "volume too large",
                       "%s: sizes overflow", path);
        goto done;
    }
    size_t off = data_offset;
    if (!skip_lines(data, data_len, &off, h.line_skip)) {
        nova_error_set(error, NOVA_ERROR_PARSE, "truncated NRRD data",
                       "%s: fewer than %ld lines to skip", data_name,
                       h.line_skip);
        goto done;
    }
    const uint8_t *payload = NULL;
    NovaSrcType type = h.type;
    bool big_endian = h.big_endian;
    switch (h.encoding) {
    case ENC_RAW:
        if (h.byte_skip == -1) {
            /* format.html: byte skip -1 means the data are the last
             * bytes of the file. */
            if (data_len - off < bytes) {
                nova_error_set(error, NOVA_ERROR_PARSE, "truncated NRRD data",
                               "%s: %zu data bytes, need %zu", data_name,
                               data_len - off, bytes);
                goto done;
            }
            off = data_len - bytes;
        } else {
            if ((unsigned long long)h.byte_skip > data_len - off) {
                nova_error_set(error, NOVA_ERROR_PARSE, "truncated NRRD data",
                               "%s: byte skip %lld past the end", data_name,
                               h.byte_skip);
                goto done;
            }
            off += (size_t)h.byte_skip;
        }
        if (data_len - off < bytes) {
            nova_error_set(error, NOVA_ERROR_PARSE, "truncated NRRD data",
                           "%s: raw data at offset %zu holds %zu bytes, need "
                           "%zu (%zu x %zu x %zu x %zu)",
                           data_name, off, data_len - off, bytes, h.sizes[0],
                           h.sizes[1], h.sizes[2], esize);
            goto done;
        }
        payload = data + off;
        break;
    case ENC_GZIP: {
        if (h.byte_skip < 0) {
            nova_error_set(error, NOVA_ERROR_PARSE, "bad NRRD header",
                           "%s: byte skip -1 is only valid for raw data", path);
            goto done;
        }
        /* Teem applies byte skip to the inflated stream. */
        size_t total;
        if (!nova_size_add(bytes, (size_t)h.byte_skip, &total)) {
            nova_error_set(error, NOVA_ERROR_RANGE, "volume too large",
                           "%s: byte skip overflows", path);
            goto done;
        }
        decoded =
            nova__inflate(error, data_name, data + off, data_len - off, total);
        if (!decoded)
            goto done;
        payload = decoded + h.byte_skip;
        break;
    }
    case ENC_ASCII:
    case ENC_HEX: {
        bool hex = h.encoding == ENC_HEX;
        decoded = decode_text(error, &h, data + off, data_len - off, count,
                              esize, hex);
        if (!decoded)
            goto done;
        payload = decoded;
        if (!hex) {
            const uint16_t one = 1;
            uint8_t b;
            memcpy(&b, &one, 1);
            big_endian = b == 0; /* host order */
            /* Text values of an integer type go back to that type, so an
             * ascii "uchar" mask narrows to uint8 exactly as raw data of
             * the same type would (nova/volume.h, "Element types"). */
            if (!ascii_to_type(error, &h, decoded, count))
                goto done;
            if (h.type == NOVA__SRC_FLOAT32)
                type = NOVA__SRC_FLOAT64; /* doubles kept as parsed */
        }
        break;
    }
    }

    NovaGeometry g;
    nova_geometry_init(&g);
    if (h.have_directions) {
        double cols[3][3];
        for (int a = 0; a < h.dimension; a++)
            for (int w = 0; w < 3; w++)
                cols[a][w] = h.flip[w] * h.directions[a][w];
        if (h.dimension == 2) {
            /* A single slice: the third axis is the normal, 1 mm. */
            cols[2][0] = cols[0][1] * cols[1][2] - cols[0][2] * cols[1][1];
            cols[2][1] = cols[0][2] * cols[1][0] - cols[0][0] * cols[1][2];
            cols[2][2] = cols[0][0] * cols[1][1] - cols[0][1] * cols[1][0];
            double n = sqrt(cols[2][0] * cols[2][0] + cols[2][1] * cols[2][1] +
                            cols[2][2] * cols[2][2]);
            for (int w = 0; w < 3 && n > 0; w++)
                cols[2][w] /= n;
        }
        for (int a = 0; a < 3; a++) {
            double len =
                sqrt(cols[a][0] * cols[a][0] + cols[a][1] * cols[a][1] +
                     cols[a][2] * cols[a][2]);
            if (!(len > 0.0) || !isfinite(len)) {
                nova_error_set(error, NOVA_ERROR_PARSE, "bad NRRD header",
                               "%s: space direction of axis %d has length "
                               "%g",
                               path, a, len);
                goto done;
            }
            g.spacing[a] = len;
            for (int w = 0; w < 3; w++)
                g.direction[w * 3 + a] = cols[a][w] / len;
        }
    } else if (h.have_spacings) {
        for (int a = 0; a < 3; a++)
            g.spacing[a] = fabs(h.spacings[a]);
    }
    if (h.have_origin)
        for (int w = 0; w < 3; w++)
            g.origin[w] = h.flip[w] * h.origin[w];

    volume = nova__volume_from_array(error, path, payload, type, big_endian,
                                     1.0, 0.0, h.sizes, &g);
done:
    nova_free(decoded);
    nova_free(detached);
    nova_free(data_path);
    return volume;
}

NovaVolume *nova_volume_read_nrrd(NovaError **error, const char *path)
{
    size_t len = 0;
    uint8_t *file = nova__read_file(error, path, &len, false);
    if (!file)
        return NULL;
    NovaVolume *v = read_buffer(error, path, file, len, true);
    nova_free(file);
    return v;
}

NovaVolume *nova__read_nrrd_memory(NovaError **error, const void *data,
                                   size_t size, const char *name)
{
    return read_buffer(error, name, data, size, false);
}
