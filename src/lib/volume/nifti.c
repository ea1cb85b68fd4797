/*
 * nifti.c - NIfTI-1 volume files (.nii and .nii.gz): read and write.
 *
 * Format: the NIfTI-1 header (nifti1.h, NIfTI DFWG 2004): 348 bytes, then
 * extensions, then voxels at vox_offset, x fastest.  zlib's gzopen/gzread
 * (Debian zlib1g-dev) reads plain and gzip files alike.
 *
 * Geometry: NIfTI world coordinates are RAS+ (+x towards the patient's
 * right, +y anterior, +z superior); Nova's are DICOM LPS (+x left, +y
 * posterior, +z superior).  The conversion negates the first two rows of the
 * affine (and of the origin).  The affine is the sform when sform_code > 0,
 * else the qform when qform_code > 0 (quaternion, nifti1.h "METHOD 2"), else
 * the Analyze fallback diag(pixdim) ("METHOD 1") - the same precedence as
 * nibabel's get_best_affine.  Spacing is the length of each affine column
 * and the direction is the column divided by it, so a sheared sform is kept
 * as it is.
 *
 * Values: scl_slope / scl_inter are applied when scl_slope is finite and
 * non-zero (nifti1.h: 0 means no scaling).  The element type is then
 * narrowed as nova__volume_from_array documents (uint8 when unsigned and
 * within 0..255, int16 when integral and within int16, else float32).
 *
 * Writing: one .nii or .nii.gz with both sform and qform (code 1, scanner
 * anatomical) when the direction is orthonormal, only the sform otherwise;
 * units mm; no scaling; datatype from the volume's dtype.
 */
#include "volume_private.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define NIFTI1_HEADER_SIZE 348
#define NIFTI1_VOX_OFFSET 352 /* header plus the 4-byte extension flag */

/* nifti1.h datatype codes. */
enum {
    DT_UINT8 = 2,
    DT_INT16 = 4,
    DT_INT32 = 8,
    DT_FLOAT32 = 16,
    DT_FLOAT64 = 64,
    DT_INT8 = 256,
    DT_UINT16 = 512,
    DT_UINT32 = 768,
    DT_INT64 = 1024,
    DT_UINT64 = 1280
};

static void swap_bytes(void *p, size_t n)
{
    uint8_t *b = p;
    for (size_t k = 0; k < n / 2; k++) {
        uint8_t t = b[k];
        b[k] = b[n - 1 - k];
        b[n - 1 - k] = t;
    }
}

static bool host_big_endian(void)
{
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 0;
}

static int16_t hdr_i16(const uint8_t *h, size_t off, bool swap)
{
    int16_t v;
    memcpy(&v, h + off, 2);
    if (swap)
        swap_bytes(&v, 2);
    return v;
}

static double hdr_f32(const uint8_t *h, size_t off, bool swap)
{
    float v;
    memcpy(&v, h + off, 4);
    if (swap)
        swap_bytes(&v, 4);
    return v;
}

static bool datatype_to_src(int datatype, NovaSrcType *type)
{
    switch (datatype) {
    case DT_UINT8: *type = NOVA__SRC_UINT8; return true;
    case DT_INT8: *type = NOVA__SRC_INT8; return true;
    case DT_INT16: *type = NOVA__SRC_INT16; return true;
    case DT_UINT16: *type = NOVA__SRC_UINT16; return true;
    case DT_INT32: *type = NOVA__SRC_INT32; return true;
    case DT_UINT32: *type = NOVA__SRC_UINT32; return true;
    case DT_INT64: *type = NOVA__SRC_INT64; return true;
    case DT_UINT64: *type = NOVA__SRC_UINT64; return true;
    case DT_FLOAT32: *type = NOVA__SRC_FLOAT32; return true;
    case DT_FLOAT64: *type = NOVA__SRC_FLOAT64; return true;
    }
    return false;
}

/* nifti1.h METHOD 2: the qform rotation from the quaternion (b, c, d),
 * scaled by pixdim, with qfac = pixdim[0] flipping the third axis. */
static void qform_to_matrix(double b, double c, double d, double qfac,
                            const double pixdim[3], double m[9])
{
    double a = 1.0 - (b * b + c * c + d * d);
    if (a < 1.0e-7) {
        /* Special case in nifti1_io.c: a 180-degree rotation. */
        a = 1.0 / sqrt(b * b + c * c + d * d);
        b *= a;
        c *= a;
        d *= a;
        a = 0.0;
    } else {
        a = sqrt(a);
    }
    double xd = pixdim[0] > 0 ? pixdim[0] : 1.0;
    double yd = pixdim[1] > 0 ? pixdim[1] : 1.0;
    double zd = pixdim[2] > 0 ? pixdim[2] : 1.0;
    if (qfac < 0)
        zd = -zd;
    m[0] = (a * a + b * b - c * c - d * d) * xd;
    m[1] = 2.0 * (b * c - a * d) * yd;
    m[2] = 2.0 * (b * d + a * c) * zd;
    m[3] = 2.0 * (b * c + a * d) * xd;
    m[4] = (a * a + c * c - b * b - d * d) * yd;
    m[5] = 2.0 * (c * d - a * b) * zd;
    m[6] = 2.0 * (b * d - a * c) * xd;
    m[7] = 2.0 * (c * d + a * b) * yd;
    m[8] = (a * a + d * d - c * c - b * b) * zd;
}

/* RAS affine (3x3 linear part m, offset t) to an LPS NovaGeometry. */
static bool affine_to_geometry(NovaError **error, const char *path,
                               const double m[9], const double t[3],
                               NovaGeometry *g)
{
    nova_geometry_init(g);
    for (int c = 0; c < 3; c++) {
        double col[3] = {-m[0 * 3 + c], -m[1 * 3 + c], m[2 * 3 + c]};
        double len = sqrt(col[0] * col[0] + col[1] * col[1] + col[2] * col[2]);
        if (!(len > 0.0) || !isfinite(len))
            return nova_error_set(error, NOVA_ERROR_PARSE, "bad NIfTI geometry",
                                  "%s: affine column %d has length %g", path, c,
                                  len);
        g->spacing[c] = len;
        for (int r = 0; r < 3; r++)
            g->direction[r * 3 + c] = col[r] / len;
    }
    g->origin[0] = -t[0];
    g->origin[1] = -t[1];
    g->origin[2] = t[2];
    return true;
}

/* What the header says, parsed and checked. */
typedef struct {
    bool swap;
    size_t dims[3];
    NovaSrcType type;
    double slope, inter;
    NovaGeometry geometry;
    size_t vox_offset;
    size_t bytes; /* voxel data bytes */
} NiftiHeader;

static bool parse_header(NovaError **error, const char *path, const uint8_t *h,
                         size_t have, NiftiHeader *out)
{
    memset(out, 0, sizeof *out);
    if (have < NIFTI1_HEADER_SIZE)
        return nova_error_set(error, NOVA_ERROR_PARSE, "not a NIfTI file",
                              "%s: %zu bytes, shorter than the %d-byte "
                              "NIfTI-1 header",
                              path, have, NIFTI1_HEADER_SIZE);
    /* nifti1.h: sizeof_hdr is 348; byte-swapped means the other endian. */
    int32_t sizeof_hdr;
    memcpy(&sizeof_hdr, h, 4);
    bool swap = false;
    if (sizeof_hdr != NIFTI1_HEADER_SIZE) {
        swap_bytes(&sizeof_hdr, 4);
        swap = true;
    }
    if (sizeof_hdr != NIFTI1_HEADER_SIZE) {
        int32_t v;
        memcpy(&v, h, 4);
        if (v == 540 || (swap_bytes(&v, 4), v == 540))
            return nova_error_set(error, NOVA_ERROR_UNSUPPORTED,
                                  "NIfTI-2 not supported",
                                  "%s: NIfTI-2 header (sizeof_hdr 540); only "
                                  "NIfTI-1 is read",
                                  path);
        return nova_error_set(error, NOVA_ERROR_PARSE, "not a NIfTI file",
                              "%s: offset 0: sizeof_hdr is not 348", path);
    }
    if (memcmp(h + 344, "n+1", 4) != 0) {
        if (memcmp(h + 344, "ni1", 4) == 0)
            return nova_error_set(error, NOVA_ERROR_UNSUPPORTED,
                                  "NIfTI pair not supported",
                                  "%s: magic \"ni1\" (separate .hdr/.img "
                                  "pair); only single-file \"n+1\" NIfTI is "
                                  "read",
                                  path);
        return nova_error_set(error, NOVA_ERROR_PARSE, "not a NIfTI file",
                              "%s: offset 344: magic is not \"n+1\"", path);
    }
    out->swap = swap;
    int ndim = hdr_i16(h, 40, swap);
    if (ndim < 1 || ndim > 7)
        return nova_error_set(error, NOVA_ERROR_PARSE, "bad NIfTI header",
                              "%s: offset 40: dim[0] = %d, expected 1..7", path,
                              ndim);
    out->dims[0] = out->dims[1] = out->dims[2] = 1;
    for (int i = 1; i <= ndim; i++) {
        int d = hdr_i16(h, 40 + 2 * (size_t)i, swap);
        if (d < 1)
            return nova_error_set(error, NOVA_ERROR_PARSE, "bad NIfTI header",
                                  "%s: dim[%d] = %d, expected >= 1", path, i,
                                  d);
        if (i <= 3)
            out->dims[i - 1] = (size_t)d;
        else if (d != 1)
            return nova_error_set(error, NOVA_ERROR_UNSUPPORTED,
                                  "NIfTI with more than 3 dimensions",
                                  "%s: dim[%d] = %d; Nova reads 3D volumes "
                                  "only",
                                  path, i, d);
    }
    int datatype = hdr_i16(h, 70, swap);
    if (!datatype_to_src(datatype, &out->type))
        return nova_error_set(error, NOVA_ERROR_UNSUPPORTED,
                              "NIfTI datatype not supported",
                              "%s: offset 70: datatype %d (Nova reads "
                              "integer and real scalar types)",
                              path, datatype);
    double pixdim[8];
    for (int i = 0; i < 8; i++)
        pixdim[i] = hdr_f32(h, 76 + 4 * (size_t)i, swap);
    double vox_offset = hdr_f32(h, 108, swap);
    double slope = hdr_f32(h, 112, swap), inter = hdr_f32(h, 116, swap);
    if (!isfinite(slope) || slope == 0.0) {
        slope = 1.0;
        inter = 0.0;
    }
    if (!isfinite(inter))
        inter = 0.0;
    out->slope = slope;
    out->inter = inter;
    int qform_code = hdr_i16(h, 252, swap);
    int sform_code = hdr_i16(h, 254, swap);

    double m[9], t[3];
    if (sform_code > 0) {
        for (int r = 0; r < 3; r++) {
            for (int c = 0; c < 3; c++)
                m[r * 3 + c] = hdr_f32(h, 280 + 16 * (size_t)r + 4 * c, swap);
            t[r] = hdr_f32(h, 280 + 16 * (size_t)r + 12, swap);
        }
    } else if (qform_code > 0) {
        double qfac = pixdim[0] < 0 ? -1.0 : 1.0;
        qform_to_matrix(hdr_f32(h, 256, swap), hdr_f32(h, 260, swap),
                        hdr_f32(h, 264, swap), qfac, pixdim + 1, m);
        for (int r = 0; r < 3; r++)
            t[r] = hdr_f32(h, 268 + 4 * (size_t)r, swap);
    } else {
        /* METHOD 1 (Analyze 7.5 compatibility): scaling only. */
        memset(m, 0, sizeof m);
        for (int i = 0; i < 3; i++) {
            double sp = fabs(pixdim[i + 1]);
            m[i * 3 + i] = sp > 0 && isfinite(sp) ? sp : 1.0;
            t[i] = 0.0;
        }
    }
    for (int i = 0; i < 3; i++)
        if (!isfinite(t[i]))
            return nova_error_set(error, NOVA_ERROR_PARSE, "bad NIfTI geometry",
                                  "%s: the affine offset is not finite", path);
    if (!affine_to_geometry(error, path, m, t, &out->geometry))
        return false;

    size_t count;
    if (!nova_size_mul(out->dims[0], out->dims[1], &count) ||
        !nova_size_mul(count, out->dims[2], &count) ||
        !nova_size_mul(count, nova__src_type_size(out->type), &out->bytes))
        return nova_error_set(error, NOVA_ERROR_RANGE, "volume too large",
                              "%s: %zu x %zu x %zu voxels overflow", path,
                              out->dims[0], out->dims[1], out->dims[2]);
    /* nifti1.h: vox_offset >= 352 for single files; nibabel and the
     * reference library accept 0 written by some tools and use 352. */
    if (!isfinite(vox_offset) || vox_offset < NIFTI1_VOX_OFFSET)
        vox_offset = NIFTI1_VOX_OFFSET;
    if (vox_offset > 1e9)
        return nova_error_set(error, NOVA_ERROR_PARSE, "bad NIfTI header",
                              "%s: offset 108: vox_offset %g", path,
                              vox_offset);
    out->vox_offset = (size_t)vox_offset;
    return true;
}

/* Fast path: int16 or uint8 in host order without scaling is exactly a
 * Nova dtype, so the voxels can be read straight into the volume. */
static bool is_direct(const NiftiHeader *hd)
{
    return !hd->swap && hd->slope == 1.0 && hd->inter == 0.0 &&
           (hd->type == NOVA__SRC_INT16 || hd->type == NOVA__SRC_UINT8);
}

static NovaVolume *from_buffer(NovaError **error, const char *path,
                               const NiftiHeader *hd, const uint8_t *data)
{
    return nova__volume_from_array(error, path, data, hd->type,
                                   hd->swap != host_big_endian(), hd->slope,
                                   hd->inter, hd->dims, &hd->geometry);
}

/* stat() of a regular file; false for anything else (a pipe, a device),
 * whose size says nothing, so no bound is applied to those. */
static bool regular_file_stat(const char *path, struct stat *st)
{
    return stat(path, st) == 0 && S_ISREG(st->st_mode);
}

NovaVolume *nova_volume_read_nifti(NovaError **error, const char *path)
{
    gzFile gz = gzopen(path, "rb");
    if (!gz) {
        nova_error_set(error, NOVA_ERROR_IO, "cannot open file", "%s: %s", path,
                       errno ? strerror(errno) : "gzopen failed");
        return NULL;
    }
    gzbuffer(gz, 1 << 17);
    NovaVolume *volume = NULL;
    uint8_t *raw = NULL;
    uint8_t h[NIFTI1_HEADER_SIZE];
    int got = gzread(gz, h, sizeof h);
    if (got < 0) {
        /* zlib checks the gzip trailer (CRC-32, length) when a read reaches
         * it, so a small corrupt .nii.gz fails here, before any header.
         * gzerror's text starts with the path. */
        int zerr = Z_OK;
        nova_error_set(error, NOVA_ERROR_PARSE, "gzip error",
                       "%s (gzip stream, reading the NIfTI-1 header)",
                       gzerror(gz, &zerr));
        goto done;
    }
    NiftiHeader hd;
    if (!parse_header(error, path, h, (size_t)got, &hd))
        goto done;
    /* A header may claim up to 32767^3 voxels of 8 bytes; refuse a claim
     * the file cannot hold before allocating for it.  Plain files hold the
     * voxels after vox_offset; deflate expands at most 1032:1 (zlib's
     * technical details), so a gzip file of n bytes inflates to at most
     * about 1032 n. */
    struct stat st;
    if (regular_file_stat(path, &st)) {
        size_t file_size = (size_t)st.st_size;
        bool plain = gzdirect(gz) != 0;
        size_t need;
        bool fits = nova_size_add(hd.vox_offset, hd.bytes, &need) &&
                    (plain ? need <= file_size : need / 1032 <= file_size + 64);
        if (!fits && plain) {
            /* The same words as a plain file cut short below. */
            size_t have =
                file_size > hd.vox_offset ? file_size - hd.vox_offset : 0;
            nova_error_set(error, NOVA_ERROR_PARSE, "truncated NIfTI file",
                           "%s: voxel data at offset %zu: the file ends "
                           "after %zu of %zu bytes",
                           path, hd.vox_offset, have, hd.bytes);
            goto done;
        }
        if (!fits) {
            nova_error_set(error, NOVA_ERROR_PARSE, "truncated NIfTI file",
                           "%s: the header announces %zu x %zu x %zu voxels "
                           "(%zu bytes at offset %zu); a gzip file of %zu "
                           "bytes cannot hold them",
                           path, hd.dims[0], hd.dims[1], hd.dims[2], hd.bytes,
                           hd.vox_offset, file_size);
            goto done;
        }
    }
    size_t skip = hd.vox_offset - NIFTI1_HEADER_SIZE;
    uint8_t scratch[4096];
    while (skip > 0) {
        size_t n = skip < sizeof scratch ? skip : sizeof scratch;
        if (gzread(gz, scratch, (unsigned)n) != (int)n) {
            nova_error_set(error, NOVA_ERROR_PARSE, "truncated NIfTI file",
                           "%s: file ends before vox_offset %zu", path,
                           hd.vox_offset);
            goto done;
        }
        skip -= n;
    }
    bool direct = is_direct(&hd);
    uint8_t *dst;
    if (direct) {
        volume = nova_volume_create(
            error,
            hd.type == NOVA__SRC_INT16 ? NOVA_DTYPE_INT16 : NOVA_DTYPE_UINT8,
            hd.dims, &hd.geometry);
        if (!volume)
            goto done;
        dst = nova_volume_get_data(volume);
    } else {
        raw = nova_malloc(error, hd.bytes ? hd.bytes : 1);
        if (!raw)
            goto done;
        dst = raw;
    }
    size_t have = 0;
    while (have < hd.bytes) {
        size_t want = hd.bytes - have;
        if (want > (size_t)1 << 30)
            want = (size_t)1 << 30;
        int n = gzread(gz, dst + have, (unsigned)want);
        if (n <= 0) {
            int zerr = Z_OK;
            const char *msg = n < 0 ? gzerror(gz, &zerr) : "end of file";
            nova_error_set(error, NOVA_ERROR_PARSE, "truncated NIfTI file",
                           "%s: voxel data at offset %zu: %s after %zu of "
                           "%zu bytes",
                           path, hd.vox_offset, msg, have, hd.bytes);
            nova_volume_unref(volume);
            volume = NULL;
            goto done;
        }
        have += (size_t)n;
    }
    if (!direct)
        volume = from_buffer(error, path, &hd, raw);
done:
    nova_free(raw);
    gzclose(gz);
    return volume;
}

NovaVolume *nova__read_nifti_memory(NovaError **error, const void *data,
                                    size_t size, const char *name)
{
    const uint8_t *bytes = data;
    NiftiHeader hd;
    if (size >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b) {
        /* .nii.gz in memory: inflate the header, then exactly the file. */
        uint8_t *head =
            nova__inflate(error, name, bytes, size, NIFTI1_HEADER_SIZE);
        if (!head)
            return NULL;
        bool ok = parse_header(error, name, head, NIFTI1_HEADER_SIZE, &hd);
        nova_free(head);
        size_t total;
        if (!ok)
            return NULL;
        if (!nova_size_add(hd.vox_offset, hd.bytes, &total)) {
            nova_error_set(error, NOVA_ERROR_RANGE, "volume too large",
                           "%s: voxel data size overflows", name);
            return NULL;
        }
        uint8_t *all = nova__inflate(error, name, bytes, size, total);
        if (!all)
            return NULL;
        NovaVolume *v = from_buffer(error, name, &hd, all + hd.vox_offset);
        nova_free(all);
        return v;
    }
    if (!parse_header(error, name, bytes, size, &hd))
        return NULL;
    if (hd.vox_offset > size || size - hd.vox_offset < hd.bytes) {
        nova_error_set(error, NOVA_ERROR_PARSE, "truncated NIfTI file",
                       "%s: voxel data at offset %zu needs %zu bytes, %zu "
                       "present",
                       name, hd.vox_offset, hd.bytes,
                       size > hd.vox_offset ? size - hd.vox_offset : 0);
        return NULL;
    }
    return from_buffer(error, name, &hd, bytes + hd.vox_offset);
}

/* nifti1_io.c nifti_mat44_to_quatern, for an orthonormal r (row-major):
 * the quaternion (b, c, d) and qfac of a proper or improper rotation. */
static void matrix_to_quaternion(const double rin[9], double *qb, double *qc,
                                 double *qd, double *qfac)
{
    double r[9];
    memcpy(r, rin, sizeof r);
    double det = r[0] * (r[4] * r[8] - r[5] * r[7]) -
                 r[1] * (r[3] * r[8] - r[5] * r[6]) +
                 r[2] * (r[3] * r[7] - r[4] * r[6]);
    *qfac = 1.0;
    if (det < 0) {
        /* An improper rotation: flip the third column, record qfac -1. */
        r[2] = -r[2];
        r[5] = -r[5];
        r[8] = -r[8];
        *qfac = -1.0;
    }
    double a = r[0] + r[4] + r[8] + 1.0, b, c, d;
    if (a > 0.5) {
        a = 0.5 * sqrt(a);
        b = 0.25 * (r[7] - r[5]) / a;
        c = 0.25 * (r[2] - r[6]) / a;
        d = 0.25 * (r[3] - r[1]) / a;
    } else {
        double xd = 1.0 + r[0] - (r[4] + r[8]);
        double yd = 1.0 + r[4] - (r[0] + r[8]);
        double zd = 1.0 + r[8] - (r[0] + r[4]);
        if (xd > 1.0) {
            b = 0.5 * sqrt(xd);
            c = 0.25 * (r[1] + r[3]) / b;
            d = 0.25 * (r[2] + r[6]) / b;
            a = 0.25 * (r[7] - r[5]) / b;
        } else if (yd > 1.0) {
            c = 0.5 * sqrt(yd);
            b = 0.25 * (r[1] + r[3]) / c;
            d = 0.25 * (r[5] + r[7]) / c;
            a = 0.25 * (r[2] - r[6]) / c;
        } else {
            d = 0.5 * sqrt(zd);
            b = 0.25 * (r[2] + r[6]) / d;
            c = 0.25 * (r[5] + r[7]) / d;
            a = 0.25 * (r[3] - r[1]) / d;
        }
        if (a < 0.0) {
            b = -b;
            c = -c;
            d = -d;
        }
    }
    *qb = b;
    *qc = c;
    *qd = d;
}

static bool is_orthonormal(const double m[9])
{
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double dot = 0.0;
            for (int r = 0; r < 3; r++)
                dot += m[r * 3 + i] * m[r * 3 + j];
            if (fabs(dot - (i == j ? 1.0 : 0.0)) > 1e-5)
                return false;
        }
    return true;
}

static void put_i16(uint8_t *h, size_t off, int v)
{
    int16_t x = (int16_t)v;
    memcpy(h + off, &x, 2);
}

static void put_f32(uint8_t *h, size_t off, double v)
{
    float x = (float)v;
    memcpy(h + off, &x, 4);
}

bool nova_volume_write_nifti(NovaError **error, const NovaVolume *volume,
                             const char *path)
{
    size_t dims[3];
    nova_volume_get_dims(volume, dims);
    for (int i = 0; i < 3; i++)
        if (dims[i] > 32767)
            return nova_error_set(error, NOVA_ERROR_RANGE,
                                  "volume too large for NIfTI-1",
                                  "%s: dimension %d is %zu (NIfTI-1 allows "
                                  "32767)",
                                  path, i, dims[i]);
    NovaDtype dtype = nova_volume_get_dtype(volume);
    const NovaGeometry *g = nova_volume_get_geometry(volume);

    uint8_t h[NIFTI1_VOX_OFFSET];
    memset(h, 0, sizeof h);
    int32_t sizeof_hdr = NIFTI1_HEADER_SIZE;
    memcpy(h, &sizeof_hdr, 4);
    h[38] = 'r'; /* "regular", as the reference library writes */
    put_i16(h, 40, 3);
    for (int i = 0; i < 3; i++)
        put_i16(h, 42 + 2 * (size_t)i, (int)dims[i]);
    for (int i = 3; i < 7; i++)
        put_i16(h, 42 + 2 * (size_t)i, 1);
    int datatype = dtype == NOVA_DTYPE_UINT8   ? DT_UINT8
                   : dtype == NOVA_DTYPE_INT16 ? DT_INT16
                                               : DT_FLOAT32;
    put_i16(h, 70, datatype);
    put_i16(h, 72, (int)(8 * nova_dtype_size(dtype)));
    put_f32(h, 108, NIFTI1_VOX_OFFSET);
    put_f32(h, 112, 1.0); /* scl_slope: values are stored as they are */
    put_f32(h, 116, 0.0);
    h[123] = 2; /* xyzt_units: NIFTI_UNITS_MM */
    snprintf((char *)h + 148, 80, "Nova %s", nova_version());

    /* LPS -> RAS: negate the first two rows of the affine. */
    double m[9], t[3];
    for (int r = 0; r < 3; r++) {
        double sign = r < 2 ? -1.0 : 1.0;
        for (int c = 0; c < 3; c++)
            m[r * 3 + c] = sign * g->direction[r * 3 + c] * g->spacing[c];
        t[r] = sign * g->origin[r];
    }
    /* sform (nifti1.h METHOD 3), code 1 = NIFTI_XFORM_SCANNER_ANAT. */
    put_i16(h, 254, 1);
    for (int r = 0; r < 3; r++) {
        for (int c = 0; c < 3; c++)
            put_f32(h, 280 + 16 * (size_t)r + 4 * (size_t)c, m[r * 3 + c]);
        put_f32(h, 280 + 16 * (size_t)r + 12, t[r]);
    }
    double rot[9];
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            rot[r * 3 + c] = (r < 2 ? -1.0 : 1.0) * g->direction[r * 3 + c];
    double qfac = 1.0;
    if (is_orthonormal(rot)) {
        double qb, qc, qd;
        matrix_to_quaternion(rot, &qb, &qc, &qd, &qfac);
        put_i16(h, 252, 1);
        put_f32(h, 256, qb);
        put_f32(h, 260, qc);
        put_f32(h, 264, qd);
        for (int r = 0; r < 3; r++)
            put_f32(h, 268 + 4 * (size_t)r, t[r]);
    }
    put_f32(h, 76, qfac);
    for (int i = 0; i < 3; i++)
        put_f32(h, 80 + 4 * (size_t)i, g->spacing[i]);
    memcpy(h + 344, "n+1", 4);

    /* gzip level 1: a CT volume compresses nearly as well as at level 6 in
     * a fraction of the time; "T" writes a plain file through zlib. */
    const char *mode = nova__has_suffix(path, ".gz") ? "wb1" : "wbT";
    gzFile gz = gzopen(path, mode);
    if (!gz)
        return nova_error_set(error, NOVA_ERROR_IO, "cannot create file",
                              "%s: %s", path,
                              errno ? strerror(errno) : "gzopen failed");
    gzbuffer(gz, 1 << 17);
    bool ok = gzwrite(gz, h, sizeof h) == (int)sizeof h;
    const uint8_t *data = nova_volume_get_const_data(volume);
    size_t bytes = nova_volume_get_voxel_count(volume) * nova_dtype_size(dtype);
    size_t done = 0;
    while (ok && done < bytes) {
        size_t n = bytes - done;
        if (n > (size_t)1 << 30)
            n = (size_t)1 << 30;
        ok = gzwrite(gz, data + done, (unsigned)n) == (int)n;
        done += n;
    }
    int zerr = Z_OK;
    const char *msg = ok ? NULL : gzerror(gz, &zerr);
    char saved[160] = "";
    if (msg)
        snprintf(saved, sizeof saved, "%s", msg);
    if (gzclose(gz) != Z_OK && ok) {
        ok = false;
        snprintf(saved, sizeof saved, "%s", "close failed (disk full?)");
    }
    if (!ok)
        return nova_error_set(error, NOVA_ERROR_IO, "write failed", "%s: %s",
                              path, saved);
    return true;
}
