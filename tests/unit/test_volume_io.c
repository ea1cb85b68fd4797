/*
 * test_volume_io.c - NIfTI-1 and NRRD volume files.
 *
 * Real files from ../shared/data are compared voxel for voxel and affine
 * for affine with independent readings made by tests/unit/volume_ref.py:
 * nibabel for NIfTI, a few lines of numpy for NRRD.  Files Nova writes are
 * read back by Nova and by nibabel; a file nibabel writes (qform only,
 * improper rotation, scaling) is read by Nova.  Small NRRD variants
 * (detached header, big endian, RAS space, byte skip -1, ascii) are built
 * here with known values.  Broken files must give clear errors.
 */
#include "nova/volume.h"
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define REF_SCRIPT NOVA_SOURCE_DIR "/tests/unit/volume_ref.py"

typedef struct {
    double affine[12]; /* LPS, 3 rows of 4 */
    size_t shape[3];
    double *data;
    size_t count;
} Ref;

/* Run volume_ref.py; SKIP when python3, numpy or nibabel is missing. */
static void ref_load(Ref *ref, const char *mode, const char *in)
{
    static int serial;
    char raw[512], cmd[2048];
    snprintf(raw, sizeof raw, "%s/ref-%d.raw", test_tmp_dir(), serial++);
    if (access("/usr/bin/python3", X_OK) != 0)
        SKIP("/usr/bin/python3 absent");
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s '%s' '%s'", REF_SCRIPT,
             mode, in, raw);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    if (!p)
        SKIP("popen failed");
    memset(ref, 0, sizeof *ref);
    int n = 0;
    for (int i = 0; i < 12; i++)
        n += fscanf(p, "%lf", &ref->affine[i]);
    for (int i = 0; i < 3; i++)
        n += fscanf(p, "%zu", &ref->shape[i]);
    int status = pclose(p);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
        SKIP("numpy or nibabel missing for /usr/bin/python3");
    CHECK_EQ_INT(status, 0);
    CHECK_EQ_INT(n, 15);
    ref->count = ref->shape[0] * ref->shape[1] * ref->shape[2];
    ref->data = calloc(ref->count ? ref->count : 1, sizeof(double));
    FILE *f = fopen(raw, "rb");
    CHECK(f != NULL);
    if (f) {
        CHECK_EQ_INT(fread(ref->data, sizeof(double), ref->count, f),
                     ref->count);
        fclose(f);
    }
    remove(raw);
}

static double voxel(const NovaVolume *v, size_t i)
{
    const void *d = nova_volume_get_const_data(v);
    switch (nova_volume_get_dtype(v)) {
    case NOVA_DTYPE_UINT8: return ((const uint8_t *)d)[i];
    case NOVA_DTYPE_INT16: return ((const int16_t *)d)[i];
    case NOVA_DTYPE_FLOAT32: return ((const float *)d)[i];
    }
    return NAN;
}

/* Compare a volume with a reference: shape, every voxel exactly (as
 * float64; float32 volumes against the float32 rounding), and the
 * index-to-world affine within tol mm. */
static void check_against_ref(const NovaVolume *v, const Ref *ref, double tol)
{
    size_t dims[3];
    nova_volume_get_dims(v, dims);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(dims[i], ref->shape[i]);
    if (dims[0] != ref->shape[0] || dims[1] != ref->shape[1] ||
        dims[2] != ref->shape[2])
        return;
    size_t bad = 0, first_bad = 0;
    bool f32 = nova_volume_get_dtype(v) == NOVA_DTYPE_FLOAT32;
    for (size_t i = 0; i < ref->count; i++) {
        double want = f32 ? (double)(float)ref->data[i] : ref->data[i];
        if (voxel(v, i) != want && bad++ == 0)
            first_bad = i;
    }
    if (bad)
        test_fail(__FILE__, __LINE__,
                  "%zu voxels differ; first at %zu: %g "
                  "vs %g",
                  bad, first_bad, voxel(v, first_bad), ref->data[first_bad]);
    /* Columns of the affine: world(e_c) - world(0); last: world(0). */
    const NovaGeometry *g = nova_volume_get_geometry(v);
    double zero[3] = {0, 0, 0}, w0[3];
    nova_geometry_index_to_world(g, zero, w0);
    for (int r = 0; r < 3; r++)
        CHECK_NEAR(w0[r], ref->affine[r * 4 + 3], tol);
    for (int c = 0; c < 3; c++) {
        double e[3] = {0, 0, 0}, w[3];
        e[c] = 1.0;
        nova_geometry_index_to_world(g, e, w);
        for (int r = 0; r < 3; r++)
            CHECK_NEAR(w[r] - w0[r], ref->affine[r * 4 + c], tol);
    }
}

static void test_nrrd_ct64(void)
{
    const char *path = test_data_path("chest-ct/cip-ct64/ct-64.nrrd");
    NovaError *err = NULL;
    NovaVolume *v = nova_volume_read(&err, path);
    CHECK_OK(err);
    CHECK(v != NULL);
    if (!v)
        return;
    /* The data README: 64x64x79 at 4.17 x 4.17 x 3.99 mm, HU as short. */
    size_t dims[3];
    nova_volume_get_dims(v, dims);
    CHECK_EQ_INT(dims[0], 64);
    CHECK_EQ_INT(dims[1], 64);
    CHECK_EQ_INT(dims[2], 79);
    CHECK_EQ_INT(nova_volume_get_dtype(v), NOVA_DTYPE_INT16);
    const NovaGeometry *g = nova_volume_get_geometry(v);
    CHECK_NEAR(g->spacing[0], 4.171872, 1e-9);
    CHECK_NEAR(g->spacing[2], 3.9873417721518987, 1e-12);
    CHECK_NEAR(g->origin[1], -264.413806, 1e-9);
    Ref ref;
    ref_load(&ref, "nrrd", path);
    check_against_ref(v, &ref, 1e-9);
    free(ref.data);
    nova_volume_unref(v);
}

static void test_nrrd_lung_mask(void)
{
    const char *path = test_data_path("chest-ct/cip-ct64/wholeLung-64.nrrd");
    NovaError *err = NULL;
    NovaVolume *v = nova_volume_read(&err, path);
    CHECK_OK(err);
    CHECK(v != NULL);
    if (!v)
        return;
    /* "unsigned short" 0/1 narrows to a uint8 mask. */
    CHECK_EQ_INT(nova_volume_get_dtype(v), NOVA_DTYPE_UINT8);
    Ref ref;
    ref_load(&ref, "nrrd", path);
    check_against_ref(v, &ref, 1e-9);
    free(ref.data);
    /* The README gives the lung volume as 4.55 L. */
    const uint8_t *m = nova_volume_get_const_data(v);
    size_t n = 0;
    for (size_t i = 0; i < nova_volume_get_voxel_count(v); i++)
        n += m[i] != 0;
    const NovaGeometry *g = nova_volume_get_geometry(v);
    double litres =
        (double)n * g->spacing[0] * g->spacing[1] * g->spacing[2] / 1e6;
    CHECK_NEAR(litres, 4.55, 0.005);
    nova_volume_unref(v);
}

static void test_nifti_ibsi_phantom(void)
{
    const char *path =
        test_data_path("chest-ct/ibsi-ct-phantom/nifti/image/phantom.nii.gz");
    NovaError *err = NULL;
    NovaVolume *v = nova_volume_read(&err, path);
    CHECK_OK(err);
    CHECK(v != NULL);
    if (!v)
        return;
    /* float32 HU that are all integers narrow to int16. */
    CHECK_EQ_INT(nova_volume_get_dtype(v), NOVA_DTYPE_INT16);
    Ref ref;
    ref_load(&ref, "nifti", path);
    check_against_ref(v, &ref, 1e-4);
    free(ref.data);
    nova_volume_unref(v);
}

/* A file nibabel writes: qform only, improper rotation, slope 2 inter -3. */
static void test_nifti_from_nibabel(void)
{
    char path[512], cmd[1024];
    snprintf(path, sizeof path, "%s/nibabel-qform.nii.gz", test_tmp_dir());
    if (access("/usr/bin/python3", X_OK) != 0)
        SKIP("/usr/bin/python3 absent");
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s write-nifti '%s' >/dev/null",
             REF_SCRIPT, path);
    int rc = system(cmd);
    if (WIFEXITED(rc) && WEXITSTATUS(rc) == 77)
        SKIP("nibabel missing for /usr/bin/python3");
    CHECK_EQ_INT(rc, 0);
    NovaError *err = NULL;
    NovaVolume *v = nova_volume_read(&err, path);
    CHECK_OK(err);
    CHECK(v != NULL);
    if (!v)
        return;
    CHECK_EQ_INT(nova_volume_get_dtype(v), NOVA_DTYPE_INT16);
    Ref ref;
    ref_load(&ref, "nifti", path);
    check_against_ref(v, &ref, 1e-4);
    free(ref.data);
    nova_volume_unref(v);
}

static void fill_test_geometry(NovaGeometry *g)
{
    /* Oblique: 15 degrees about the y axis, non-isotropic spacing. */
    double a = 15.0 * M_PI / 180.0;
    nova_geometry_init(g);
    double d[9] = {cos(a), 0, sin(a), 0, 1, 0, -sin(a), 0, cos(a)};
    memcpy(g->direction, d, sizeof d);
    g->spacing[0] = 0.75;
    g->spacing[1] = 0.8;
    g->spacing[2] = 1.25;
    g->origin[0] = -180.5;
    g->origin[1] = 20.25;
    g->origin[2] = -310.0;
}

static void roundtrip(NovaDtype dtype, const char *name)
{
    NovaError *err = NULL;
    size_t dims[3] = {17, 13, 11};
    NovaGeometry g;
    fill_test_geometry(&g);
    NovaVolume *v = nova_volume_create(&err, dtype, dims, &g);
    CHECK_OK(err);
    if (!v)
        return;
    void *d = nova_volume_get_data(v);
    for (size_t i = 0; i < nova_volume_get_voxel_count(v); i++) {
        if (dtype == NOVA_DTYPE_UINT8)
            ((uint8_t *)d)[i] = (uint8_t)(i * 7 % 251);
        else if (dtype == NOVA_DTYPE_INT16)
            ((int16_t *)d)[i] = (int16_t)((long)(i * 131 % 4001) - 1024);
        else
            ((float *)d)[i] = (float)i * 0.37f - 50.125f;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/%s", test_tmp_dir(), name);
    CHECK(nova_volume_write_nifti(&err, v, path));
    CHECK_OK(err);

    NovaVolume *back = nova_volume_read(&err, path);
    CHECK_OK(err);
    CHECK(back != NULL);
    if (back) {
        CHECK_EQ_INT(nova_volume_get_dtype(back), dtype);
        size_t bd[3];
        nova_volume_get_dims(back, bd);
        CHECK(memcmp(bd, dims, sizeof bd) == 0);
        CHECK(memcmp(nova_volume_get_const_data(back), d,
                     nova_volume_get_voxel_count(v) * nova_dtype_size(dtype)) ==
              0);
        const NovaGeometry *bg = nova_volume_get_geometry(back);
        for (int i = 0; i < 3; i++) {
            CHECK_NEAR(bg->origin[i], g.origin[i], 1e-4);
            CHECK_NEAR(bg->spacing[i], g.spacing[i], 1e-6);
        }
        for (int i = 0; i < 9; i++)
            CHECK_NEAR(bg->direction[i], g.direction[i], 1e-6);
        nova_volume_unref(back);
    }

    /* nibabel must see the same voxels and the same world (its sform),
     * and the qform we wrote must agree with the sform. */
    Ref ref;
    ref_load(&ref, "nifti", path);
    check_against_ref(v, &ref, 1e-4);
    free(ref.data);
    ref_load(&ref, "nifti-qform", path);
    check_against_ref(v, &ref, 1e-4);
    free(ref.data);
    nova_volume_unref(v);
}

static void test_nifti_roundtrip_int16_gz(void)
{
    roundtrip(NOVA_DTYPE_INT16, "rt-int16.nii.gz");
}

static void test_nifti_roundtrip_uint8(void)
{
    roundtrip(NOVA_DTYPE_UINT8, "rt-uint8.nii");
}

static void test_nifti_roundtrip_float32(void)
{
    roundtrip(NOVA_DTYPE_FLOAT32, "rt-float32.nii.gz");
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        CHECK_EQ_INT(fwrite(data, 1, n, f), n);
        fclose(f);
    }
}

/* Detached header, big-endian int16 at the end of the data file (byte skip
 * -1), RAS space: x and y of directions and origin flip to LPS. */
static void test_nrrd_detached_big_endian_ras(void)
{
    char hdr[512], dat[512];
    snprintf(hdr, sizeof hdr, "%s/det.nhdr", test_tmp_dir());
    snprintf(dat, sizeof dat, "%s/det.raw", test_tmp_dir());
    const char *text = "NRRD0004\n# a comment\ntype: int16\ndimension: 3\n"
                       "space: right-anterior-superior\nsizes: 3 2 2\n"
                       "space directions: (0.5,0,0) (0,0.6,0) (0,0,2)\n"
                       "space origin: (10,20,30)\nendian: big\n"
                       "encoding: raw\nbyte skip: -1\ndata file: det.raw\n"
                       "key:=value\n";
    write_bytes(hdr, text, strlen(text));
    uint8_t raw[5 + 24];
    memset(raw, 0xEE, 5); /* junk before the data, skipped by -1 */
    for (int i = 0; i < 12; i++) {
        int16_t v = (int16_t)(i * 1000 - 5000);
        raw[5 + 2 * i] = (uint8_t)((uint16_t)v >> 8);
        raw[5 + 2 * i + 1] = (uint8_t)((uint16_t)v & 0xFF);
    }
    write_bytes(dat, raw, sizeof raw);
    NovaError *err = NULL;
    NovaVolume *v = nova_volume_read(&err, hdr);
    CHECK_OK(err);
    CHECK(v != NULL);
    if (!v)
        return;
    CHECK_EQ_INT(nova_volume_get_dtype(v), NOVA_DTYPE_INT16);
    const int16_t *d = nova_volume_get_const_data(v);
    for (int i = 0; i < 12; i++)
        CHECK_EQ_INT(d[i], i * 1000 - 5000);
    const NovaGeometry *g = nova_volume_get_geometry(v);
    CHECK_NEAR(g->origin[0], -10, 0);
    CHECK_NEAR(g->origin[1], -20, 0);
    CHECK_NEAR(g->origin[2], 30, 0);
    CHECK_NEAR(g->spacing[1], 0.6, 1e-15);
    CHECK_NEAR(g->direction[0], -1, 0);
    CHECK_NEAR(g->direction[4], -1, 0);
    CHECK_NEAR(g->direction[8], 1, 0);
    nova_volume_unref(v);
}

static void test_nrrd_ascii_float(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/ascii.nrrd", test_tmp_dir());
    const char *text = "NRRD0001\ntype: float\ndimension: 2\nsizes: 2 3\n"
                       "spacings: 0.25 0.5\nencoding: ascii\n\n"
                       "1.5 -2\n3.25 4\n5 6.125\n";
    write_bytes(path, text, strlen(text));
    NovaError *err = NULL;
    NovaVolume *v = nova_volume_read(&err, path);
    CHECK_OK(err);
    CHECK(v != NULL);
    if (!v)
        return;
    size_t dims[3];
    nova_volume_get_dims(v, dims);
    CHECK_EQ_INT(dims[0], 2);
    CHECK_EQ_INT(dims[1], 3);
    CHECK_EQ_INT(dims[2], 1);
    CHECK_EQ_INT(nova_volume_get_dtype(v), NOVA_DTYPE_FLOAT32);
    const float *d = nova_volume_get_const_data(v);
    const float want[6] = {1.5f, -2, 3.25f, 4, 5, 6.125f};
    for (int i = 0; i < 6; i++)
        CHECK_NEAR(d[i], want[i], 0);
    CHECK_NEAR(nova_volume_get_geometry(v)->spacing[1], 0.5, 0);
    nova_volume_unref(v);
}

static void expect_error(const char *path, NovaErrorCode code,
                         const char *needle)
{
    NovaError *err = NULL;
    NovaVolume *v = nova_volume_read(&err, path);
    CHECK(v == NULL);
    CHECK(err != NULL);
    if (err) {
        CHECK_EQ_INT(nova_error_code(err), code);
        if (!strstr(nova_error_message(err), needle))
            test_fail(__FILE__, __LINE__, "message \"%s\" lacks \"%s\"",
                      nova_error_message(err), needle);
    }
    nova_volume_unref(v);
    nova_error_free(err);
}

static void test_broken_files(void)
{
    char path[512];
    expect_error("/nonexistent/x.nii.gz", NOVA_ERROR_IO, "/nonexistent");

    /* A NIfTI file cut inside its voxels. */
    NovaError *err = NULL;
    size_t dims[3] = {8, 8, 8};
    NovaVolume *v = nova_volume_create(&err, NOVA_DTYPE_INT16, dims, NULL);
    snprintf(path, sizeof path, "%s/cut.nii", test_tmp_dir());
    CHECK(nova_volume_write_nifti(&err, v, path));
    nova_volume_unref(v);
    CHECK(truncate(path, 352 + 100) == 0);
    expect_error(path, NOVA_ERROR_PARSE, "after 100 of 1024 bytes");

    /* A NIfTI header with a bad dim[0]. */
    uint8_t h[352] = {0};
    int32_t sz = 348;
    memcpy(h, &sz, 4);
    memcpy(h + 344, "n+1", 4);
    int16_t ndim = 9;
    memcpy(h + 40, &ndim, 2);
    snprintf(path, sizeof path, "%s/baddim.nii", test_tmp_dir());
    write_bytes(path, h, sizeof h);
    expect_error(path, NOVA_ERROR_PARSE, "dim[0] = 9");

    /* NRRD: gzip data cut short, unknown encoding, 4D. */
    snprintf(path, sizeof path, "%s/cut.nrrd", test_tmp_dir());
    const char *t1 = "NRRD0004\ntype: short\ndimension: 3\nsizes: 4 4 4\n"
                     "encoding: gzip\n\n\x1f\x8b\x08\x00";
    write_bytes(path, t1, strlen(t1) + 1);
    expect_error(path, NOVA_ERROR_PARSE, "of 128 inflated bytes");
    snprintf(path, sizeof path, "%s/bz.nrrd", test_tmp_dir());
    const char *t2 = "NRRD0004\ntype: short\ndimension: 3\nsizes: 4 4 4\n"
                     "encoding: bzip2\n\n";
    write_bytes(path, t2, strlen(t2));
    expect_error(path, NOVA_ERROR_UNSUPPORTED, "bzip2");
    snprintf(path, sizeof path, "%s/raw-short.nrrd", test_tmp_dir());
    const char *t3 = "NRRD0004\ntype: short\ndimension: 3\nsizes: 4 4 4\n"
                     "encoding: raw\n\nabc";
    write_bytes(path, t3, strlen(t3));
    expect_error(path, NOVA_ERROR_PARSE, "holds 3 bytes, need 128");
    snprintf(path, sizeof path, "%s/junk.vol", test_tmp_dir());
    write_bytes(path, "hello world", 11);
    expect_error(path, NOVA_ERROR_UNSUPPORTED, "neither NIfTI-1 nor NRRD");
}

static uint8_t *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    *size = b ? fread(b, 1, (size_t)n, f) : 0;
    fclose(f);
    return b;
}

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64*: deterministic mutations, the same on every run. */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* Memory reading equals file reading; then thousands of truncations and
 * byte mutations of small NIfTI (plain, gzip) and NRRD (raw, gzip) files
 * must each give a volume or an error with a message, never a crash (the
 * sanitizer build checks memory safety). */
static void test_memory_and_mutations(void)
{
    NovaError *err = NULL;
    size_t dims[3] = {6, 5, 4};
    NovaGeometry g;
    fill_test_geometry(&g);
    NovaVolume *v = nova_volume_create(&err, NOVA_DTYPE_INT16, dims, &g);
    int16_t *d = nova_volume_get_data(v);
    for (size_t i = 0; i < 120; i++)
        d[i] = (int16_t)(i * 37 - 900);
    char paths[4][512];
    snprintf(paths[0], 512, "%s/m.nii", test_tmp_dir());
    snprintf(paths[1], 512, "%s/m.nii.gz", test_tmp_dir());
    snprintf(paths[2], 512, "%s/m-raw.nrrd", test_tmp_dir());
    snprintf(paths[3], 512, "%s/m-gz.nrrd", test_tmp_dir());
    CHECK(nova_volume_write_nifti(&err, v, paths[0]));
    CHECK(nova_volume_write_nifti(&err, v, paths[1]));
    CHECK_OK(err);
    const char *nrrd_head = "NRRD0004\ntype: short\ndimension: 3\n"
                            "sizes: 6 5 4\nspace: left-posterior-superior\n"
                            "space directions: (0.75,0,0) (0,0.8,0) "
                            "(0,0,1.25)\nspace origin: (1,2,3)\n"
                            "endian: little\nencoding: %s\n\n";
    for (int gz = 0; gz < 2; gz++) {
        char head[512];
        snprintf(head, sizeof head, nrrd_head, gz ? "gzip" : "raw");
        uint8_t body[1024];
        size_t body_len = 240;
        if (gz) {
            /* A stored (uncompressed) gzip member written by hand keeps
             * the test free of another compressor: RFC 1952 header, one
             * final stored deflate block (RFC 1951 3.2.4), CRC32, ISIZE. */
            static const uint8_t gzhead[10] = {0x1f, 0x8b, 8, 0, 0,
                                               0,    0,    0, 0, 3};
            memcpy(body, gzhead, 10);
            body[10] = 1;
            body[11] = 240;
            body[12] = 0;
            body[13] = (uint8_t)~240;
            body[14] = 0xff;
            memcpy(body + 15, d, 240);
            uint32_t crc = 0xffffffffu;
            for (size_t i = 0; i < 240; i++) {
                crc ^= ((const uint8_t *)d)[i];
                for (int k = 0; k < 8; k++)
                    crc = crc & 1 ? (crc >> 1) ^ 0xedb88320u : crc >> 1;
            }
            crc = ~crc;
            uint32_t isize = 240;
            memcpy(body + 255, &crc, 4);
            memcpy(body + 259, &isize, 4);
            body_len = 263;
        } else {
            memcpy(body, d, 240);
        }
        FILE *f = fopen(paths[2 + gz], "wb");
        CHECK(f != NULL);
        if (f) {
            fwrite(head, 1, strlen(head), f);
            fwrite(body, 1, body_len, f);
            fclose(f);
        }
    }
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    for (int fi = 0; fi < 4; fi++) {
        size_t size = 0;
        uint8_t *orig = slurp(paths[fi], &size);
        CHECK(orig != NULL);
        if (!orig)
            continue;
        /* Memory equals file. */
        NovaVolume *a = nova_volume_read_memory(&err, orig, size, paths[fi]);
        CHECK_OK(err);
        nova_error_clear(&err);
        CHECK(a != NULL);
        if (a) {
            CHECK(memcmp(nova_volume_get_const_data(a), d, 240) == 0);
            CHECK_NEAR(nova_volume_get_geometry(a)->spacing[2], 1.25, 1e-6);
        }
        nova_volume_unref(a);
        uint8_t *m = malloc(size);
        size_t ok = 0, failed = 0;
        for (int round = 0; round < 1500; round++) {
            memcpy(m, orig, size);
            size_t len = size;
            if (round % 3 == 0) {
                len = rng_next(&seed) % (size + 1);
            } else {
                int flips = 1 + (int)(rng_next(&seed) % 4);
                for (int k = 0; k < flips; k++) {
                    size_t at = rng_next(&seed) % size;
                    m[at] = (uint8_t)rng_next(&seed);
                }
            }
            NovaVolume *r = nova_volume_read_memory(&err, m, len, "mutant");
            if (r) {
                ok++;
            } else {
                failed++;
                CHECK(err != NULL && nova_error_message(err)[0] != '\0');
            }
            nova_volume_unref(r);
            nova_error_clear(&err);
        }
        CHECK(failed > 0);
        CHECK_EQ_INT(ok + failed, 1500);
        free(m);
        free(orig);
    }
    nova_volume_unref(v);
}

int main(void)
{
    RUN(test_nrrd_ct64);
    RUN(test_nrrd_lung_mask);
    RUN(test_nifti_ibsi_phantom);
    RUN(test_nifti_from_nibabel);
    RUN(test_nifti_roundtrip_int16_gz);
    RUN(test_nifti_roundtrip_uint8);
    RUN(test_nifti_roundtrip_float32);
    RUN(test_nrrd_detached_big_endian_ras);
    RUN(test_nrrd_ascii_float);
    RUN(test_broken_files);
    RUN(test_memory_and_mutations);
    return test_done();
}
