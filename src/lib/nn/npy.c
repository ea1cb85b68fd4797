/*
 * npy.c - NumPy .npy files in and out (the format of numpy/lib/format.py:
 * magic "\x93NUMPY", version major.minor, a little-endian header length of
 * 2 bytes (v1) or 4 bytes (v2, v3), then an ASCII Python dict literal with
 * 'descr', 'fortran_order' and 'shape', padded so the data starts on a
 * multiple of 64 bytes).  Only C-order, little-endian arrays of the types
 * the engine uses are read; float64 is narrowed to float32.  Every header
 * field is checked: a malformed file gets an error naming the problem.
 */
#include "nn_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static bool npy_error(NovaError **error, const char *name, const char *what)
{
    return nova_error_set(error, NOVA_ERROR_PARSE, "bad npy file", "%s: %s",
                          name, what);
}

/* Find 'key' in the dict literal and return the text after its colon. */
static const char *dict_value(const char *hdr, const char *key)
{
    char pat[32];
    snprintf(pat, sizeof pat, "'%s'", key);
    const char *p = strstr(hdr, pat);
    if (!p)
        return NULL;
    p = strchr(p + strlen(pat), ':');
    if (!p)
        return NULL;
    p++;
    while (*p == ' ')
        p++;
    return p;
}

NovaNnTensor *nova_nn_npy_read_memory(NovaError **error, const void *data,
                                      size_t size, const char *name)
{
    const uint8_t *b = data;
    if (!name)
        name = "(memory)";
    if (size < 10 || memcmp(b, "\x93NUMPY", 6) != 0)
        return npy_error(error, name, "no \\x93NUMPY magic"), NULL;
    size_t hlen, hstart;
    if (b[6] == 1) {
        hlen = (size_t)b[8] | (size_t)b[9] << 8;
        hstart = 10;
    } else if (b[6] == 2 || b[6] == 3) {
        if (size < 12)
            return npy_error(error, name, "truncated header"), NULL;
        hlen = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 |
               (size_t)b[11] << 24;
        hstart = 12;
    } else {
        return npy_error(error, name, "unknown format version"), NULL;
    }
    if (hlen > size - hstart || hlen > 65536)
        return npy_error(error, name, "header length beyond the file"), NULL;
    char *hdr = nova_strndup(error, (const char *)b + hstart, hlen);
    if (!hdr)
        return NULL;
    NovaNnTensor *t = NULL;
    const char *descr = dict_value(hdr, "descr");
    const char *fortran = dict_value(hdr, "fortran_order");
    const char *shape = dict_value(hdr, "shape");
    if (!descr || !fortran || !shape) {
        npy_error(error, name, "header lacks descr, fortran_order or shape");
        goto done;
    }
    if (strncmp(fortran, "False", 5) != 0) {
        nova_error_set(error, NOVA_ERROR_UNSUPPORTED, "unsupported npy",
                       "%s: Fortran-order arrays are not supported", name);
        goto done;
    }
    NovaNnDtype dtype;
    bool f64 = false;
    if (!strncmp(descr, "'<f4'", 5))
        dtype = NOVA_NN_FLOAT32;
    else if (!strncmp(descr, "'<f8'", 5))
        dtype = NOVA_NN_FLOAT32, f64 = true;
    else if (!strncmp(descr, "'<i8'", 5))
        dtype = NOVA_NN_INT64;
    else if (!strncmp(descr, "'<i4'", 5))
        dtype = NOVA_NN_INT32;
    else if (!strncmp(descr, "'|u1'", 5))
        dtype = NOVA_NN_UINT8;
    else if (!strncmp(descr, "'|b1'", 5))
        dtype = NOVA_NN_BOOL;
    else {
        nova_error_set(error, NOVA_ERROR_UNSUPPORTED, "unsupported npy",
                       "%s: dtype %.8s is not supported (<f4, <f8, <i8, <i4, "
                       "|u1, |b1)",
                       name, descr);
        goto done;
    }
    if (*shape != '(') {
        npy_error(error, name, "shape is not a tuple");
        goto done;
    }
    int64_t dims[NOVA_NN_MAX_RANK];
    int rank = 0;
    const char *p = shape + 1;
    for (;;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == ')')
            break;
        char *endp;
        errno = 0;
        long long v = strtoll(p, &endp, 10);
        if (endp == p || errno || v < 0 || v > NN_MAX_DIM) {
            npy_error(error, name, "bad dim in shape");
            goto done;
        }
        if (rank == NOVA_NN_MAX_RANK) {
            npy_error(error, name, "more than 8 dims");
            goto done;
        }
        dims[rank++] = v;
        p = endp;
    }
    t = nova_nn_tensor_create(error, dtype, rank, dims);
    if (!t)
        goto done;
    size_t count = nova_nn_tensor_count(t);
    size_t esize = f64 ? 8 : nova_nn_dtype_size(dtype);
    size_t avail = size - hstart - hlen;
    if (avail / esize < count) {
        nova_error_set(error, NOVA_ERROR_PARSE, "bad npy file",
                       "%s: %zu data bytes for %zu elements of %zu bytes", name,
                       avail, count, esize);
        nova_nn_tensor_free(t);
        t = NULL;
        goto done;
    }
    const uint8_t *src = b + hstart + hlen;
    if (f64) {
        float *dst = t->data;
        for (size_t i = 0; i < count; i++) {
            double v;
            memcpy(&v, src + i * 8, 8);
            dst[i] = (float)v;
        }
    } else {
        memcpy(t->data, src, count * esize);
    }
done:
    nova_free(hdr);
    return t;
}

NovaNnTensor *nova_nn_npy_read(NovaError **error, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return nova_error_set(error, NOVA_ERROR_IO, "cannot open file",
                              "%s: %s", path, strerror(errno)),
               NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    rewind(f);
    uint8_t *buf = len >= 0 ? nova_malloc(error, (size_t)len + 1) : NULL;
    if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
        if (buf)
            nova_error_set(error, NOVA_ERROR_IO, "cannot read file",
                           "%s: short read", path);
        nova_free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    NovaNnTensor *t = nova_nn_npy_read_memory(error, buf, (size_t)len, path);
    nova_free(buf);
    return t;
}

bool nova_nn_npy_write(NovaError **error, const char *path,
                       const NovaNnTensor *t)
{
    const char *descr;
    switch (t->dtype) {
    case NOVA_NN_FLOAT32: descr = "<f4"; break;
    case NOVA_NN_INT64: descr = "<i8"; break;
    case NOVA_NN_INT32: descr = "<i4"; break;
    case NOVA_NN_UINT8: descr = "|u1"; break;
    case NOVA_NN_BOOL: descr = "|b1"; break;
    default:
        return nova_error_set(error, NOVA_ERROR_UNSUPPORTED, "unsupported type",
                              "%s: cannot write %s", path,
                              nova_nn_dtype_name(t->dtype));
    }
    char hdr[256];
    int n =
        snprintf(hdr, sizeof hdr,
                 "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int i = 0; i < t->rank; i++)
        n += snprintf(hdr + n, sizeof hdr - (size_t)n, "%lld%s",
                      (long long)t->dims[i],
                      t->rank == 1 ? "," : (i + 1 < t->rank ? ", " : ""));
    n += snprintf(hdr + n, sizeof hdr - (size_t)n, "), }");
    /* Pad with spaces and a newline so that 10 + header is a multiple of
     * 64 (format 1.0). */
    int total = ((10 + n + 1 + 63) / 64) * 64;
    while (10 + n + 1 < total)
        hdr[n++] = ' ';
    hdr[n++] = '\n';
    FILE *f = fopen(path, "wb");
    if (!f)
        return nova_error_set(error, NOVA_ERROR_IO, "cannot write file",
                              "%s: %s", path, strerror(errno));
    uint8_t pre[10] = {0x93,
                       'N',
                       'U',
                       'M',
                       'P',
                       'Y',
                       1,
                       0,
                       (uint8_t)(n & 0xff),
                       (uint8_t)(n >> 8)};
    size_t nbytes = nova_nn_tensor_count(t) * nova_nn_dtype_size(t->dtype);
    bool ok = fwrite(pre, 1, 10, f) == 10 &&
              fwrite(hdr, 1, (size_t)n, f) == (size_t)n &&
              fwrite(t->data, 1, nbytes, f) == nbytes;
    ok = (fclose(f) == 0) && ok;
    if (!ok)
        return nova_error_set(error, NOVA_ERROR_IO, "cannot write file",
                              "%s: write failed", path);
    return true;
}
