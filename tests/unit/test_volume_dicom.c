/*
 * test_volume_dicom.c - DICOM folders to HU volumes: scan, group, choose,
 * assemble.
 *
 * Real data: the cip-ct64 DICOM series must equal ct-64.nrrd voxel for
 * voxel at the same world coordinates, and the IBSI phantom DICOM must
 * equal phantom.nii.gz (both references read by Nova's NRRD/NIfTI readers,
 * which test_volume_io.c checks against nibabel and numpy).
 *
 * Messy exports: tests/unit/make_messy.py (pydicom) writes scenarios whose
 * pixels follow HU = 7k + x + 20y - 500 (k the slice's rank along the
 * normal), so every voxel is checked against the formula, not against
 * another reader.
 */
#include "nova/volume.h"
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *messy_dir(void)
{
    static char dir[512];
    static int state; /* 0 not built, 1 built, 2 unavailable */
    if (state == 0) {
        snprintf(dir, sizeof dir, "%s/messy", test_tmp_dir());
        char cmd[1024];
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 %s/tests/unit/make_messy.py '%s' "
                 "2>/dev/null",
                 NOVA_SOURCE_DIR, dir);
        int rc = access("/usr/bin/python3", X_OK) == 0 ? system(cmd) : -1;
        state = rc == 0 ? 1 : 2;
        if (rc != 0 && !(WIFEXITED(rc) && WEXITSTATUS(rc) == 77))
            test_fail(__FILE__, __LINE__, "make_messy.py failed: %d", rc);
    }
    if (state != 1)
        SKIP("pydicom/numpy for /usr/bin/python3 unavailable");
    return dir;
}

static const char *messy(const char *name)
{
    static char path[600];
    snprintf(path, sizeof path, "%s/%s", messy_dir(), name);
    return path;
}

static NovaScan *scan_one(const char *path, NovaPool *pool)
{
    NovaError *err = NULL;
    NovaScan *scan = nova_scan_create(&err, &path, 1, pool);
    CHECK_OK(err);
    CHECK(scan != NULL);
    nova_error_free(err);
    return scan;
}

static NovaVolume *load_chosen(NovaScan *scan, const NovaLoadOptions *opt,
                               NovaLoadReport *report, NovaPool *pool)
{
    NovaError *err = NULL;
    size_t stack = 99;
    char reason[512];
    CHECK(nova_scan_choose(&err, scan, NULL, &stack, reason, sizeof reason));
    CHECK_OK(err);
    nova_error_free(err);
    err = NULL;
    if (stack == 99)
        return NULL;
    NovaVolume *v = nova_scan_load(&err, scan, stack, opt, pool, report);
    CHECK_OK(err);
    nova_error_free(err);
    return v;
}

/* Every voxel against 7k + x + 20y - 500; pixel (0,0) is -1024 where the
 * scenario stored the padding value there. */
static void check_pattern(const NovaVolume *v, size_t nx, size_t ny, size_t nz,
                          bool padding)
{
    size_t dims[3];
    nova_volume_get_dims(v, dims);
    CHECK_EQ_INT(dims[0], nx);
    CHECK_EQ_INT(dims[1], ny);
    CHECK_EQ_INT(dims[2], nz);
    CHECK_EQ_INT(nova_volume_get_dtype(v), NOVA_DTYPE_INT16);
    if (dims[0] != nx || dims[1] != ny || dims[2] != nz)
        return;
    const int16_t *d = nova_volume_get_const_data(v);
    size_t bad = 0;
    for (size_t k = 0; k < nz; k++)
        for (size_t y = 0; y < ny; y++)
            for (size_t x = 0; x < nx; x++) {
                long want = (long)(7 * k + x + 20 * y) - 500;
                if (padding && x == 0 && y == 0)
                    want = -1024;
                long got = d[(k * ny + y) * nx + x];
                if (got != want && bad++ < 3)
                    test_fail(__FILE__, __LINE__,
                              "voxel (%zu,%zu,%zu): %ld, want %ld", x, y, k,
                              got, want);
            }
    CHECK_EQ_INT(bad, 0);
    const NovaGeometry *g = nova_volume_get_geometry(v);
    CHECK_NEAR(g->origin[0], -8.0, 1e-9);
    CHECK_NEAR(g->origin[2], -30.0, 1e-9);
}

/* ------------------------------------------------------------ real data */

static void check_same_world(const NovaVolume *a, const NovaVolume *b,
                             double tol_mm)
{
    size_t da[3], db[3];
    nova_volume_get_dims(a, da);
    nova_volume_get_dims(b, db);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(da[i], db[i]);
    /* World coordinates of the eight corner voxels agree. */
    for (int corner = 0; corner < 8; corner++) {
        double idx[3], wa[3], wb[3];
        for (int i = 0; i < 3; i++)
            idx[i] = (corner >> i & 1) ? (double)(da[i] - 1) : 0.0;
        nova_geometry_index_to_world(nova_volume_get_geometry(a), idx, wa);
        nova_geometry_index_to_world(nova_volume_get_geometry(b), idx, wb);
        for (int i = 0; i < 3; i++)
            CHECK_NEAR(wa[i], wb[i], tol_mm);
    }
}

static void test_cip_ct64_equals_nrrd(void)
{
    char dicom[1024];
    snprintf(dicom, sizeof dicom, "%s",
             test_data_path("chest-ct/cip-ct64/dicom"));
    char nrrd[1024];
    snprintf(nrrd, sizeof nrrd, "%s",
             test_data_path("chest-ct/cip-ct64/ct-64.nrrd"));
    NovaError *err = NULL;
    NovaPool *pool = nova_pool_create(&err, 2);
    NovaVolume *ref = nova_volume_read(&err, nrrd);
    CHECK_OK(err);
    NovaVolume *v = nova_volume_read_dicom(&err, dicom, NULL, pool);
    CHECK_OK(err);
    CHECK(v && ref);
    if (v && ref) {
        CHECK_EQ_INT(nova_volume_get_dtype(ref), NOVA_DTYPE_INT16);
        size_t n = nova_volume_get_voxel_count(ref);
        CHECK_EQ_INT(nova_volume_get_voxel_count(v), n);
        if (nova_volume_get_voxel_count(v) == n)
            CHECK(memcmp(nova_volume_get_const_data(v),
                         nova_volume_get_const_data(ref), n * 2) == 0);
        /* DICOM positions are written to 3 decimals, the NRRD to 6+. */
        check_same_world(v, ref, 2e-3);
    }
    nova_volume_unref(v);
    nova_volume_unref(ref);
    nova_pool_destroy(pool);
}

static void test_ibsi_phantom_equals_nifti(void)
{
    char dicom[1024];
    snprintf(dicom, sizeof dicom, "%s",
             test_data_path("chest-ct/ibsi-ct-phantom/dicom/image"));
    char nii[1024];
    snprintf(
        nii, sizeof nii, "%s",
        test_data_path("chest-ct/ibsi-ct-phantom/nifti/image/phantom.nii.gz"));
    NovaError *err = NULL;
    NovaVolume *ref = nova_volume_read(&err, nii);
    CHECK_OK(err);
    NovaVolume *v = nova_volume_read_dicom(&err, dicom, NULL, NULL);
    CHECK_OK(err);
    CHECK(v && ref);
    if (v && ref) {
        size_t n = nova_volume_get_voxel_count(ref);
        CHECK_EQ_INT(nova_volume_get_voxel_count(v), n);
        if (nova_volume_get_voxel_count(v) == n)
            CHECK(memcmp(nova_volume_get_const_data(v),
                         nova_volume_get_const_data(ref), n * 2) == 0);
        /* The NIfTI stores float32: 1e-4 mm. */
        check_same_world(v, ref, 1e-3);
    }
    nova_volume_unref(v);
    nova_volume_unref(ref);
}

/* ------------------------------------------------------- messy exports */

static void test_shuffled_renamed_with_junk(void)
{
    NovaError *err = NULL;
    NovaPool *pool = nova_pool_create(&err, 2);
    NovaScan *scan = scan_one(messy("shuffled"), pool);
    if (scan) {
        CHECK_EQ_INT(nova_scan_get_files_seen(scan), 26);
        CHECK_EQ_INT(nova_scan_get_image_files(scan), 24);
        CHECK_EQ_INT(nova_scan_get_skipped_files(scan), 2);
        CHECK_EQ_INT(nova_scan_get_stack_count(scan), 1);
        CHECK_EQ_INT(nova_scan_get_study_count(scan), 1);
        CHECK_STR(nova_scan_get_study(scan, 0)->patient_id, "MESSY1");
        NovaLoadReport rep;
        NovaVolume *v = load_chosen(scan, NULL, &rep, pool);
        if (v)
            check_pattern(v, 16, 16, 24, true);
        CHECK_EQ_INT(rep.padding_voxels, 24);
        CHECK_EQ_INT(rep.slices_read, 24);
        CHECK_STR(rep.warnings, "");
        nova_volume_unref(v);
    }
    nova_scan_destroy(scan);
    nova_pool_destroy(pool);
}

static void test_reversed_instance_numbers(void)
{
    NovaScan *scan = scan_one(messy("reversed"), NULL);
    if (scan) {
        NovaVolume *v = load_chosen(scan, NULL, NULL, NULL);
        if (v)
            check_pattern(v, 16, 16, 24, false);
        nova_volume_unref(v);
    }
    nova_scan_destroy(scan);
}

static void test_localizer_and_reformat_in_one_series(void)
{
    NovaScan *scan = scan_one(messy("mixed"), NULL);
    if (!scan)
        return;
    CHECK_EQ_INT(nova_scan_get_stack_count(scan), 3);
    int axial = 0, coronal = 0, localizer = 0, derived = 0;
    for (size_t i = 0; i < nova_scan_get_stack_count(scan); i++) {
        const NovaStackFingerprint *fp = nova_scan_get_stack(scan, i);
        axial += fp->orientation == NOVA_ORIENTATION_AXIAL;
        coronal += fp->orientation == NOVA_ORIENTATION_CORONAL;
        localizer += fp->localizer;
        derived += fp->derived;
        CHECK_EQ_INT(fp->series_number, 3);
    }
    CHECK_EQ_INT(axial, 1);
    CHECK_EQ_INT(coronal, 2);
    CHECK_EQ_INT(localizer, 1);
    CHECK_EQ_INT(derived, 1);
    NovaError *err = NULL;
    size_t stack = 99;
    CHECK(nova_scan_choose(&err, scan, NULL, &stack, NULL, 0));
    if (stack < 3) {
        const NovaStackFingerprint *fp = nova_scan_get_stack(scan, stack);
        CHECK_EQ_INT(fp->orientation, NOVA_ORIENTATION_AXIAL);
        CHECK_EQ_INT(fp->slice_count, 24);
        NovaVolume *v = nova_scan_load(&err, scan, stack, NULL, NULL, NULL);
        CHECK_OK(err);
        if (v)
            check_pattern(v, 16, 16, 24, false);
        nova_volume_unref(v);
    }
    nova_error_free(err);
    nova_scan_destroy(scan);
}

static void test_two_series_choice_and_override(void)
{
    NovaScan *scan = scan_one(messy("two_series"), NULL);
    if (!scan)
        return;
    CHECK_EQ_INT(nova_scan_get_stack_count(scan), 2);
    NovaError *err = NULL;
    size_t stack = 99;
    char reason[512] = "";
    CHECK(nova_scan_choose(&err, scan, NULL, &stack, reason, sizeof reason));
    if (stack < 2) {
        const NovaStackFingerprint *fp = nova_scan_get_stack(scan, stack);
        CHECK_EQ_INT(fp->slice_count, 40);
        CHECK_NEAR(fp->slice_spacing_mm, 2.5, 1e-6);
        CHECK_STR(fp->kernel, "B70f");
        CHECK(strstr(reason, "kernel is sharper") != NULL);
        /* Override by series UID: the other one. */
        const NovaStackFingerprint *other =
            nova_scan_get_stack(scan, 1 - stack);
        char uid[NOVA_FINGERPRINT_TEXT];
        snprintf(uid, sizeof uid, "%s", other->series_uid);
        size_t chosen = 99;
        CHECK(
            nova_scan_choose(&err, scan, uid, &chosen, reason, sizeof reason));
        CHECK_EQ_INT(chosen, 1 - stack);
        CHECK(strstr(reason, "requested") != NULL);
        CHECK(!nova_scan_choose(&err, scan, "1.2.3.4", &chosen, NULL, 0));
        CHECK_EQ_INT(nova_error_code(err), NOVA_ERROR_NOT_FOUND);
    }
    nova_error_free(err);
    nova_scan_destroy(scan);
}

static void test_missing_slice(void)
{
    NovaScan *scan = scan_one(messy("missing"), NULL);
    if (!scan)
        return;
    const NovaStackFingerprint *fp = nova_scan_get_stack(scan, 0);
    CHECK_EQ_INT(fp->missing_slices, 1);
    CHECK_EQ_INT(fp->slice_count, 23);
    /* Default: resampled; the linear pattern makes the filled slice
     * exact. */
    NovaLoadReport rep;
    NovaVolume *v = load_chosen(scan, NULL, &rep, NULL);
    if (v)
        check_pattern(v, 16, 16, 24, false);
    CHECK(rep.resampled_spacing);
    CHECK_EQ_INT(rep.missing_slices, 1);
    nova_volume_unref(v);
    /* Strict: refused, clearly. */
    NovaLoadOptions opt;
    nova_load_options_init(&opt);
    opt.resample_uneven = false;
    NovaError *err = NULL;
    v = nova_scan_load(&err, scan, 0, &opt, NULL, NULL);
    CHECK(v == NULL);
    CHECK(err && nova_error_code(err) == NOVA_ERROR_UNSUPPORTED);
    CHECK(err && strstr(nova_error_message(err), "slices are missing"));
    nova_error_free(err);
    nova_scan_destroy(scan);
}

static void test_duplicate_slice(void)
{
    NovaScan *scan = scan_one(messy("duplicate"), NULL);
    if (!scan)
        return;
    const NovaStackFingerprint *fp = nova_scan_get_stack(scan, 0);
    CHECK_EQ_INT(fp->duplicate_slices, 1);
    NovaLoadReport rep;
    NovaVolume *v = load_chosen(scan, NULL, &rep, NULL);
    if (v)
        check_pattern(v, 16, 16, 24, false);
    CHECK_EQ_INT(rep.duplicates_dropped, 1);
    nova_volume_unref(v);
    NovaLoadOptions opt;
    nova_load_options_init(&opt);
    opt.drop_duplicates = false;
    NovaError *err = NULL;
    v = nova_scan_load(&err, scan, 0, &opt, NULL, NULL);
    CHECK(v == NULL);
    CHECK(err && strstr(nova_error_message(err), "are both at"));
    nova_error_free(err);
    nova_scan_destroy(scan);
}

static void test_uneven_spacing(void)
{
    NovaScan *scan = scan_one(messy("uneven"), NULL);
    if (!scan)
        return;
    const NovaStackFingerprint *fp = nova_scan_get_stack(scan, 0);
    CHECK(fp->uneven_spacing);
    CHECK_EQ_INT(fp->missing_slices, 0);
    NovaLoadOptions opt;
    nova_load_options_init(&opt);
    opt.resample_uneven = false;
    NovaError *err = NULL;
    NovaVolume *v = nova_scan_load(&err, scan, 0, &opt, NULL, NULL);
    CHECK(v == NULL);
    CHECK(err && strstr(nova_error_message(err), "3.200"));
    nova_error_free(err);
    err = NULL;
    /* Resampled: 24 slices over 58.2 mm; each output slice is the linear
     * blend of the two source slices around it. */
    v = nova_scan_load(&err, scan, 0, NULL, NULL, NULL);
    CHECK_OK(err);
    if (v) {
        size_t dims[3];
        nova_volume_get_dims(v, dims);
        CHECK_EQ_INT(dims[2], 24);
        double dz = nova_volume_get_geometry(v)->spacing[2];
        CHECK_NEAR(dz, 58.2 / 23.0, 1e-6);
        const int16_t *d = nova_volume_get_const_data(v);
        for (size_t m = 0; m < dims[2]; m++) {
            double z = m * dz, kf;
            if (z <= 27.5)
                kf = z / 2.5;
            else if (z < 30.7)
                kf = 11 + (z - 27.5) / 3.2;
            else
                kf = (z - 0.7) / 2.5;
            for (size_t y = 0; y < 16; y += 5)
                for (size_t x = 0; x < 16; x += 5) {
                    double want = 7 * kf + x + 20.0 * y - 500;
                    CHECK_NEAR(d[(m * 16 + y) * 16 + x], want, 0.5 + 1e-9);
                }
        }
    }
    nova_volume_unref(v);
    nova_scan_destroy(scan);
}

static void test_gantry_tilt(void)
{
    NovaScan *scan = scan_one(messy("tilted"), NULL);
    if (!scan)
        return;
    const NovaStackFingerprint *fp = nova_scan_get_stack(scan, 0);
    CHECK_NEAR(fp->tilt_deg, 10.0, 0.01);
    CHECK_EQ_INT(fp->orientation, NOVA_ORIENTATION_AXIAL);
    NovaLoadOptions opt;
    nova_load_options_init(&opt);
    opt.correct_tilt = false;
    NovaError *err = NULL;
    NovaVolume *v = nova_scan_load(&err, scan, 0, &opt, NULL, NULL);
    CHECK(v == NULL);
    CHECK(err && strstr(nova_error_message(err), "gantry tilt"));
    nova_error_free(err);
    err = NULL;
    NovaLoadReport rep;
    v = nova_scan_load(&err, scan, 0, NULL, NULL, &rep);
    CHECK_OK(err);
    CHECK(rep.corrected_tilt);
    if (!v) {
        nova_scan_destroy(scan);
        return;
    }
    /* Each voxel's world position lies in one source slice plane; there
     * the source pixel coordinates give the expected HU. */
    double t = 10.0 * M_PI / 180.0;
    double r[3] = {1, 0, 0}, c[3] = {0, cos(t), -sin(t)};
    double n[3] = {0, sin(t), cos(t)};
    size_t dims[3];
    nova_volume_get_dims(v, dims);
    CHECK_EQ_INT(dims[2], 20);
    const NovaGeometry *g = nova_volume_get_geometry(v);
    for (int i = 0; i < 3; i++)
        CHECK_NEAR(g->direction[i * 3 + 2], n[i], 1e-6);
    const int16_t *d = nova_volume_get_const_data(v);
    size_t checked = 0, bad = 0;
    for (size_t k = 0; k < dims[2]; k++)
        for (size_t y = 0; y < dims[1]; y++)
            for (size_t x = 0; x < dims[0]; x++) {
                double idx[3] = {(double)x, (double)y, (double)k}, w[3];
                nova_geometry_index_to_world(g, idx, w);
                double ipp[3] = {-16.0, -16.0, -10.0 + 1.25 * (double)k};
                double dv[3] = {w[0] - ipp[0], w[1] - ipp[1], w[2] - ipp[2]};
                double off = dv[0] * n[0] + dv[1] * n[1] + dv[2] * n[2];
                double i = dv[0] * r[0] + dv[1] * r[1] + dv[2] * r[2];
                double j = dv[0] * c[0] + dv[1] * c[1] + dv[2] * c[2];
                CHECK(fabs(off) < 1e-3);
                if (i < 0 || j < 0 || i > 31 || j > 31)
                    continue;
                double want = 7.0 * k + i + 20.0 * j - 500;
                checked++;
                if (fabs(d[(k * dims[1] + y) * dims[0] + x] - want) >
                        0.5 + 1e-6 &&
                    bad++ < 3)
                    test_fail(__FILE__, __LINE__,
                              "voxel (%zu,%zu,%zu): %d, want %.2f", x, y, k,
                              d[(k * dims[1] + y) * dims[0] + x], want);
            }
    CHECK(checked > 15000);
    CHECK_EQ_INT(bad, 0);
    nova_volume_unref(v);
    nova_scan_destroy(scan);
}

static void test_enhanced_multiframe(void)
{
    NovaError *err = NULL;
    NovaPool *pool = nova_pool_create(&err, 2);
    NovaScan *scan = scan_one(messy("enhanced"), pool);
    if (scan) {
        CHECK_EQ_INT(nova_scan_get_image_files(scan), 1);
        CHECK_EQ_INT(nova_scan_get_stack_count(scan), 1);
        const NovaStackFingerprint *fp = nova_scan_get_stack(scan, 0);
        CHECK(fp->multiframe);
        CHECK_EQ_INT(fp->slice_count, 24);
        NovaVolume *v = load_chosen(scan, NULL, NULL, pool);
        if (v)
            check_pattern(v, 16, 16, 24, false);
        nova_volume_unref(v);
    }
    nova_scan_destroy(scan);
    nova_pool_destroy(pool);
}

static void test_zip_and_dicomdir(void)
{
    NovaError *err = NULL;
    NovaPool *pool = nova_pool_create(&err, 2);
    NovaScan *scan = scan_one(messy("export.zip"), pool);
    if (scan) {
        CHECK_EQ_INT(nova_scan_get_image_files(scan), 24);
        CHECK_EQ_INT(nova_scan_get_skipped_files(scan), 2);
        NovaVolume *v = load_chosen(scan, NULL, NULL, pool);
        if (v)
            check_pattern(v, 16, 16, 24, true);
        nova_volume_unref(v);
    }
    nova_scan_destroy(scan);
    struct stat st;
    if (stat(messy("dicomdir/DICOMDIR"), &st) == 0) {
        scan = scan_one(messy("dicomdir/DICOMDIR"), NULL);
        if (scan) {
            CHECK_EQ_INT(nova_scan_get_image_files(scan), 24);
            NovaVolume *v = load_chosen(scan, NULL, NULL, NULL);
            if (v)
                check_pattern(v, 16, 16, 24, true);
            nova_volume_unref(v);
        }
        nova_scan_destroy(scan);
    } else {
        test_fail(__FILE__, __LINE__, "make_messy.py wrote no DICOMDIR");
    }
    /* The whole messy tree at once: every scenario is found. */
    const char *all = messy_dir();
    scan = scan_one(all, pool);
    if (scan)
        CHECK(nova_scan_get_stack_count(scan) >= 12);
    nova_scan_destroy(scan);
    nova_pool_destroy(pool);
}

static void test_bad_paths(void)
{
    NovaError *err = NULL;
    const char *p = "/nonexistent/folder";
    CHECK(nova_scan_create(&err, &p, 1, NULL) == NULL);
    CHECK(err && nova_error_code(err) == NOVA_ERROR_IO);
    CHECK(err && strstr(nova_error_message(err), "/nonexistent/folder"));
    nova_error_clear(&err);
    /* A folder with no DICOM: scanned, nothing to choose, a clear error. */
    char dir[512];
    snprintf(dir, sizeof dir, "%s/empty-scan", test_tmp_dir());
    mkdir(dir, 0755);
    const char *d = dir;
    NovaScan *scan = nova_scan_create(&err, &d, 1, NULL);
    CHECK_OK(err);
    size_t stack;
    CHECK(scan && !nova_scan_choose(&err, scan, NULL, &stack, NULL, 0));
    CHECK(err && nova_error_code(err) == NOVA_ERROR_NOT_FOUND);
    nova_error_free(err);
    nova_scan_destroy(scan);
}

int main(void)
{
    RUN(test_cip_ct64_equals_nrrd);
    RUN(test_ibsi_phantom_equals_nifti);
    RUN(test_shuffled_renamed_with_junk);
    RUN(test_reversed_instance_numbers);
    RUN(test_localizer_and_reformat_in_one_series);
    RUN(test_two_series_choice_and_override);
    RUN(test_missing_slice);
    RUN(test_duplicate_slice);
    RUN(test_uneven_spacing);
    RUN(test_gantry_tilt);
    RUN(test_enhanced_multiframe);
    RUN(test_zip_and_dicomdir);
    RUN(test_bad_paths);
    return test_done();
}
