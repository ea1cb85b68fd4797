/*
 * test_radiomics.c - IBSI 1 radiomics on the digital phantom, the
 * configuration files, the preprocessing steps and bad inputs.
 *
 * The digital phantom test computes every feature of the 5x4x4 IBSI
 * phantom and compares each against the IBSI reference table
 * (ibsi1_reference_values.csv, published by the IBSI, not by us), printing
 * the whole table of matches.  Preprocessing is checked on small arrays
 * built here against values worked out by hand from IBSI 1 chapter 2.
 */
#include "nova/nova.h"
#include "test.h"
#include "test_radiomics_ref.h"

#include <math.h>
#include <stdlib.h>

static NovaVolume *read_volume(const char *relative)
{
    NovaError *error = NULL;
    NovaVolume *v = nova_volume_read(&error, test_data_path(relative));
    CHECK_OK(error);
    nova_error_free(error);
    return v;
}

static void test_digital_phantom(void)
{
    char ref_path[4096];
    snprintf(
        ref_path, sizeof ref_path, "%s",
        test_data_path("radiomics/ibsi-reference/ibsi1_reference_values.csv"));
    NovaVolume *image = read_volume(
        "radiomics/ibsi-digital-phantom/nifti/image/phantom.nii.gz");
    NovaVolume *mask =
        read_volume("radiomics/ibsi-digital-phantom/nifti/mask/mask.nii.gz");
    CHECK(image && mask);
    if (!image || !mask) {
        nova_volume_unref(image);
        nova_volume_unref(mask);
        return;
    }
    /* IBSI 1 5.1: no discretisation, distance 1, alpha 0, 2D and 3D. */
    NovaRadiomicsConfig config;
    nova_radiomics_config_init(&config);
    NovaError *error = NULL;
    NovaRadiomicsFeatures *features =
        nova_radiomics_compute(&error, image, mask, 1, &config);
    CHECK_OK(error);
    nova_error_free(error);
    CHECK(features != NULL);
    if (features) {
        CHECK_EQ_INT(nova_radiomics_features_morph_voxels(features), 74);
        size_t count = 0, total = 0;
        RefRow *rows = ref_load(ref_path, "dig. phantom", &count);
        CHECK(rows != NULL);
        CHECK_EQ_INT(count, 482);
        size_t matched = ref_compare(features, rows, count, true, &total);
        printf("# digital phantom: %zu of %zu reference values match\n",
               matched, total);
        CHECK_EQ_INT(matched, total);
        free(rows);
        /* The pooled computation (Moran's I and Geary's C split over
         * threads) gives bit-identical values. */
        NovaPool *pool = nova_pool_create(NULL, 3);
        NovaRadiomicsFeatures *pooled =
            nova_radiomics_compute_pool(&error, image, mask, 1, &config, pool);
        nova_pool_destroy(pool);
        CHECK(pooled != NULL);
        if (pooled) {
            CHECK_EQ_INT(nova_radiomics_features_count(pooled),
                         nova_radiomics_features_count(features));
            size_t same = 0;
            for (size_t i = 0; i < nova_radiomics_features_count(features);
                 i++) {
                double a = nova_radiomics_features_get(features, i)->value;
                double b = nova_radiomics_features_get(pooled, i)->value;
                same += a == b || (isnan(a) && isnan(b));
            }
            CHECK_EQ_INT(same, nova_radiomics_features_count(features));
        }
        nova_radiomics_features_destroy(pooled);
    }
    nova_radiomics_features_destroy(features);
    nova_volume_unref(image);
    nova_volume_unref(mask);
}

/* A small volume from an array, x fastest. */
static NovaVolume *make_volume(NovaDtype dtype, size_t nx, size_t ny, size_t nz,
                               const double *values, const double spacing[3])
{
    size_t dims[3] = {nx, ny, nz};
    NovaGeometry g;
    nova_geometry_init(&g);
    for (int a = 0; a < 3; a++)
        g.spacing[a] = spacing[a];
    NovaVolume *v = nova_volume_create(NULL, dtype, dims, &g);
    if (!v)
        return NULL;
    void *d = nova_volume_get_data(v);
    for (size_t i = 0; i < nx * ny * nz; i++) {
        if (dtype == NOVA_DTYPE_UINT8)
            ((uint8_t *)d)[i] = (uint8_t)values[i];
        else if (dtype == NOVA_DTYPE_INT16)
            ((int16_t *)d)[i] = (int16_t)values[i];
        else
            ((float *)d)[i] = (float)values[i];
    }
    return v;
}

static double feature(const NovaRadiomicsFeatures *f, const char *id)
{
    const NovaRadiomicsFeature *x = nova_radiomics_features_find(f, id, "");
    return x ? x->value : NAN;
}

/* Interpolation grid (IBSI 1 2.4): 4 voxels of 1 mm to 1.5 mm gives
 * ceil(4 / 1.5) = 3 voxels centred on the old grid, at old indices
 * 0, 1.5, 3; a linear ramp stays a ramp.  The mask (voxels 1..2 of 4) is
 * interpolated to 0.5*... and rounded at 0.5. */
static void test_interpolation_grid(void)
{
    /* 4 x 1 x 1, intensities 10, 20, 30, 40. */
    double img[4] = {10, 20, 30, 40}, msk[4] = {1, 1, 1, 1};
    double sp[3] = {1, 1, 1};
    NovaVolume *image = make_volume(NOVA_DTYPE_FLOAT32, 4, 1, 1, img, sp);
    NovaVolume *mask = make_volume(NOVA_DTYPE_UINT8, 4, 1, 1, msk, sp);
    NovaRadiomicsConfig c;
    nova_radiomics_config_init(&c);
    c.interpolation = NOVA_RADIOMICS_INTERP_LINEAR;
    c.spacing_mm[0] = 1.5;
    c.discretisation = NOVA_RADIOMICS_DISCRETISE_FBN;
    c.bin_count = 4;
    c.texture = NOVA_RADIOMICS_TEXTURE_3D;
    NovaError *error = NULL;
    NovaRadiomicsFeatures *f =
        nova_radiomics_compute(&error, image, mask, 1, &c);
    CHECK_OK(error);
    nova_error_free(error);
    if (f) {
        /* New samples at old indices 0, 1.5, 3: 10, 25, 40. */
        CHECK_EQ_INT(nova_radiomics_features_morph_voxels(f), 3);
        CHECK_NEAR(feature(f, "stat_mean"), 25.0, 1e-9);
        CHECK_NEAR(feature(f, "stat_minimum"), 10.0, 1e-9);
        CHECK_NEAR(feature(f, "stat_maximum"), 40.0, 1e-9);
        CHECK_NEAR(feature(f, "stat_median"), 25.0, 1e-9);
        CHECK_NEAR(feature(f, "morph_approx_volume"), 3 * 1.5, 1e-9);
    }
    nova_radiomics_features_destroy(f);

    /* Rounding: 2 voxels 1 mm -> ceil(2/0.5)=4 at old indices -0.25,
     * 0.25, 0.75, 1.25; values 0 and 3 give 0 (clamped), 0.75 -> 1,
     * 2.25 -> 2, 3 (clamped). */
    double img2[2] = {0, 3}, msk2[2] = {1, 1};
    NovaVolume *image2 = make_volume(NOVA_DTYPE_INT16, 2, 1, 1, img2, sp);
    NovaVolume *mask2 = make_volume(NOVA_DTYPE_UINT8, 2, 1, 1, msk2, sp);
    c.spacing_mm[0] = 0.5;
    c.round_intensities = true;
    f = nova_radiomics_compute(&error, image2, mask2, 1, &c);
    CHECK_OK(error);
    nova_error_free(error);
    error = NULL;
    if (f) {
        CHECK_EQ_INT(nova_radiomics_features_morph_voxels(f), 4);
        CHECK_NEAR(feature(f, "stat_mean"), (0 + 1 + 2 + 3) / 4.0, 1e-9);
        CHECK_NEAR(feature(f, "stat_variance"), 1.25, 1e-9);
    }
    nova_radiomics_features_destroy(f);

    /* Mask partial volume: a mask 0,1,1,0 resampled to 0.5 mm samples at
     * -0.25 .. 3.25 in steps of 0.5: 0,0,0.5,1,1,0.5,0,0 -> 4 voxels. */
    double img3[4] = {1, 2, 3, 4}, msk3[4] = {0, 1, 1, 0};
    NovaVolume *image3 = make_volume(NOVA_DTYPE_INT16, 4, 1, 1, img3, sp);
    NovaVolume *mask3 = make_volume(NOVA_DTYPE_UINT8, 4, 1, 1, msk3, sp);
    f = nova_radiomics_compute(&error, image3, mask3, 1, &c);
    CHECK_OK(error);
    nova_error_free(error);
    if (f)
        CHECK_EQ_INT(nova_radiomics_features_morph_voxels(f), 4);
    nova_radiomics_features_destroy(f);
    nova_volume_unref(image);
    nova_volume_unref(mask);
    nova_volume_unref(image2);
    nova_volume_unref(mask2);
    nova_volume_unref(image3);
    nova_volume_unref(mask3);
}

/* Re-segmentation and discretisation on 10 voxels 0..900 step 100. */
static void test_resegmentation_discretisation(void)
{
    double img[10], msk[10], sp[3] = {1, 1, 1};
    for (int i = 0; i < 10; i++) {
        img[i] = i * 100;
        msk[i] = 1;
    }
    img[9] = 5000; /* an outlier */
    NovaVolume *image = make_volume(NOVA_DTYPE_INT16, 10, 1, 1, img, sp);
    NovaVolume *mask = make_volume(NOVA_DTYPE_UINT8, 10, 1, 1, msk, sp);
    NovaRadiomicsConfig c;
    nova_radiomics_config_init(&c);
    c.texture = NOVA_RADIOMICS_TEXTURE_3D;
    c.range_enabled = true;
    c.range_min = 150;
    c.range_max = 10000;
    c.discretisation = NOVA_RADIOMICS_DISCRETISE_FBS;
    c.bin_width = 100;
    NovaError *error = NULL;
    NovaRadiomicsFeatures *f =
        nova_radiomics_compute(&error, image, mask, 1, &c);
    CHECK_OK(error);
    nova_error_free(error);
    error = NULL;
    if (f) {
        /* Kept: 200..800 and 5000 = 8 voxels; FBS from 150: 200 -> bin 1,
         * 800 -> 7, 5000 -> 49; the morphological mask keeps all 10. */
        CHECK_EQ_INT(nova_radiomics_features_intensity_voxels(f), 8);
        CHECK_EQ_INT(nova_radiomics_features_morph_voxels(f), 10);
        CHECK_NEAR(feature(f, "int_hist_minimum"), 1, 0);
        CHECK_NEAR(feature(f, "int_hist_maximum"), 49, 0);
    }
    nova_radiomics_features_destroy(f);
    /* Outliers: 3 sigma removes 5000 (mean 1100, sd ~1596 over the 8
     * kept voxels gives an upper limit of ~5888, so take 1.5 sigma:
     * 1100 + 2394 = 3494 < 5000). */
    c.outlier_sigma = 1.5;
    c.discretisation = NOVA_RADIOMICS_DISCRETISE_FBN;
    c.bin_count = 4;
    f = nova_radiomics_compute(&error, image, mask, 1, &c);
    CHECK_OK(error);
    nova_error_free(error);
    if (f) {
        CHECK_EQ_INT(nova_radiomics_features_intensity_voxels(f), 7);
        /* FBN 4 bins over 200..800: floor(4 (x-200)/600)+1 ->
         * 1,1,2,3,3,4,4 -> mean 18/7. */
        CHECK_NEAR(feature(f, "int_hist_mean"), 18.0 / 7.0, 1e-12);
        CHECK_NEAR(feature(f, "stat_maximum"), 800, 0);
    }
    nova_radiomics_features_destroy(f);
    nova_volume_unref(image);
    nova_volume_unref(mask);
}

static void expect_error(const NovaVolume *image, const NovaVolume *mask,
                         int label, const char *summary, const char *needle)
{
    NovaRadiomicsConfig c;
    nova_radiomics_config_init(&c);
    c.discretisation = NOVA_RADIOMICS_DISCRETISE_FBN;
    c.bin_count = 8;
    NovaError *error = NULL;
    NovaRadiomicsFeatures *f =
        nova_radiomics_compute(&error, image, mask, label, &c);
    CHECK(f == NULL);
    CHECK(error != NULL);
    if (error) {
        CHECK_STR(nova_error_summary(error), summary);
        CHECK(strstr(nova_error_message(error), needle) != NULL);
        printf("# %s: %s\n", nova_error_summary(error),
               nova_error_message(error));
    }
    nova_error_free(error);
    nova_radiomics_features_destroy(f);
}

static void test_bad_inputs(void)
{
    double img[8] = {1, 2, 3, 4, 5, 6, 7, 8}, msk[8] = {0, 1, 1, 0, 0, 2, 0, 0};
    double zero[8] = {0}, sp[3] = {1, 1, 1}, sp2[3] = {1, 1, 2};
    NovaVolume *image = make_volume(NOVA_DTYPE_FLOAT32, 2, 2, 2, img, sp);
    NovaVolume *mask = make_volume(NOVA_DTYPE_UINT8, 2, 2, 2, msk, sp);
    NovaVolume *mask_small = make_volume(NOVA_DTYPE_UINT8, 2, 2, 1, msk, sp);
    NovaVolume *mask_spacing = make_volume(NOVA_DTYPE_UINT8, 2, 2, 2, msk, sp2);
    NovaVolume *empty = make_volume(NOVA_DTYPE_UINT8, 2, 2, 2, zero, sp);
    expect_error(image, mask_small, 1, "grid mismatch", "2x2x2");
    expect_error(image, mask_spacing, 1, "grid mismatch", "spacing");
    expect_error(image, empty, 1, "empty mask", "no non-zero");
    expect_error(image, mask, 7, "label absent", "labels present: 1, 2");
    float *d = nova_volume_get_data(image);
    d[5] = NAN;
    expect_error(image, mask, 1, "invalid image", "(1,0,1) is NaN");
    d[5] = 6;
    /* Re-segmentation that removes everything. */
    NovaRadiomicsConfig c;
    nova_radiomics_config_init(&c);
    c.range_enabled = true;
    c.range_min = 100;
    c.range_max = 200;
    NovaError *error = NULL;
    CHECK(nova_radiomics_compute(&error, image, mask, 1, &c) == NULL);
    CHECK(error && strstr(nova_error_message(error), "re-segmentation"));
    nova_error_free(error);
    nova_volume_unref(image);
    nova_volume_unref(mask);
    nova_volume_unref(mask_small);
    nova_volume_unref(mask_spacing);
    nova_volume_unref(empty);
}

static void test_config_files(void)
{
    const char *names[] = {"A", "B", "C", "D", "E"};
    for (int i = 0; i < 5; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/configs/radiomics/ibsi-%c.conf",
                 NOVA_SOURCE_DIR, 'a' + i);
        NovaRadiomicsConfig c;
        NovaError *error = NULL;
        CHECK(nova_radiomics_config_load(&error, path, &c));
        CHECK_OK(error);
        nova_error_free(error);
        CHECK_STR(c.name, names[i]);
    }
    /* Configuration A of IBSI 1 5.2 in full. */
    NovaRadiomicsConfig a;
    char path[4096];
    snprintf(path, sizeof path, "%s/configs/radiomics/ibsi-a.conf",
             NOVA_SOURCE_DIR);
    CHECK(nova_radiomics_config_load(NULL, path, &a));
    CHECK_EQ_INT(a.texture, NOVA_RADIOMICS_TEXTURE_2D);
    CHECK_EQ_INT(a.interpolation, NOVA_RADIOMICS_INTERP_NONE);
    CHECK(a.range_enabled && a.range_min == -500 && a.range_max == 400);
    CHECK_EQ_INT(a.discretisation, NOVA_RADIOMICS_DISCRETISE_FBS);
    CHECK_NEAR(a.bin_width, 25, 0);
    /* Configuration E: cubic spline, 3 sigma, FBN 32, IVH 1000 bins. */
    snprintf(path, sizeof path, "%s/configs/radiomics/ibsi-e.conf",
             NOVA_SOURCE_DIR);
    NovaRadiomicsConfig e;
    CHECK(nova_radiomics_config_load(NULL, path, &e));
    CHECK_EQ_INT(e.interpolation, NOVA_RADIOMICS_INTERP_CUBIC);
    CHECK_NEAR(e.outlier_sigma, 3, 0);
    CHECK_EQ_INT(e.bin_count, 32);
    CHECK_EQ_INT(e.ivh_discretisation, NOVA_RADIOMICS_DISCRETISE_FBN);
    CHECK_EQ_INT(e.ivh_bin_count, 1000);
    CHECK_NEAR(e.spacing_mm[2], 2, 0);

    /* Errors name origin, line and key. */
    NovaRadiomicsConfig c;
    NovaError *error = NULL;
    CHECK(!nova_radiomics_config_parse(&error, "name = x\nbinz = 3\n", "t.conf",
                                       &c));
    CHECK(error && strstr(nova_error_message(error), "t.conf:2: unknown key "
                                                     "'binz'"));
    nova_error_clear(&error);
    CHECK(!nova_radiomics_config_parse(&error, "discretisation = fbs -1\n",
                                       "t.conf", &c));
    CHECK(error && strstr(nova_error_message(error), "t.conf:1: invalid"));
    nova_error_clear(&error);
    CHECK(!nova_radiomics_config_load(&error, "/nonexistent.conf", &c));
    CHECK(error && nova_error_code(error) == NOVA_ERROR_IO);
    nova_error_free(error);
}

/* Every allocation of the computation may fail: the call then returns
 * NULL with NOVA_ERROR_NOMEM and frees what it had (the sanitizer build
 * checks for leaks), and never crashes. */
static void test_allocation_failures(void)
{
    double img[27], msk[27], sp[3] = {1, 1, 1};
    for (int i = 0; i < 27; i++) {
        img[i] = 1 + (i * 7) % 5;
        msk[i] = i != 13 && i % 4 != 0;
    }
    NovaVolume *image = make_volume(NOVA_DTYPE_INT16, 3, 3, 3, img, sp);
    NovaVolume *mask = make_volume(NOVA_DTYPE_UINT8, 3, 3, 3, msk, sp);
    NovaRadiomicsConfig c;
    nova_radiomics_config_init(&c);
    int failures = 0;
    bool succeeded = false;
    for (long n = 0; n < 2000 && !succeeded; n++) {
        NovaError *error = NULL;
        nova_alloc_fail_after(n);
        NovaRadiomicsFeatures *f =
            nova_radiomics_compute(&error, image, mask, 1, &c);
        nova_alloc_fail_after(-1);
        if (f) {
            succeeded = true;
            CHECK(error == NULL);
        } else {
            failures++;
            CHECK(error != NULL);
            if (error && nova_error_code(error) != NOVA_ERROR_NOMEM)
                printf("# allocation %ld: %s\n", n, nova_error_message(error));
            CHECK(error && nova_error_code(error) == NOVA_ERROR_NOMEM);
        }
        nova_error_free(error);
        nova_radiomics_features_destroy(f);
    }
    printf("# %d failing allocations handled before success\n", failures);
    CHECK(succeeded);
    CHECK(failures > 20);
    nova_volume_unref(image);
    nova_volume_unref(mask);
}

/* Degenerate ROIs: one voxel, one row, and a ROI filling the whole image
 * (touching every border) compute without error.  The mesh of one 1 mm
 * voxel is the octahedron on its face centres, volume 4/3 r^3 with
 * r = 0.5 mm. */
static void test_degenerate_rois(void)
{
    double img[27], sp[3] = {1, 1, 1};
    for (int i = 0; i < 27; i++)
        img[i] = 1 + i % 3;
    double one[27] = {0}, row[27] = {0}, all[27];
    one[13] = 1;
    for (int i = 0; i < 3; i++)
        row[9 + i] = 1;
    for (int i = 0; i < 27; i++)
        all[i] = 1;
    const double *masks[3] = {one, row, all};
    NovaVolume *image = make_volume(NOVA_DTYPE_INT16, 3, 3, 3, img, sp);
    for (int k = 0; k < 3; k++) {
        NovaVolume *mask = make_volume(NOVA_DTYPE_UINT8, 3, 3, 3, masks[k], sp);
        NovaRadiomicsConfig c;
        nova_radiomics_config_init(&c);
        NovaError *error = NULL;
        NovaRadiomicsFeatures *f =
            nova_radiomics_compute(&error, image, mask, 1, &c);
        CHECK_OK(error);
        nova_error_free(error);
        CHECK(f != NULL);
        if (f) {
            double v = feature(f, "morph_volume");
            CHECK(isfinite(v) && v > 0);
            if (k == 0) /* octahedron with vertices 0.5 from the centre */
                CHECK_NEAR(v, 4.0 / 3.0 * 0.125, 1e-12);
            if (k == 2)
                CHECK_NEAR(feature(f, "morph_approx_volume"), 27, 1e-12);
            CHECK(isfinite(feature(f, "stat_mean")));
        }
        nova_radiomics_features_destroy(f);
        nova_volume_unref(mask);
    }
    nova_volume_unref(image);
}

int main(void)
{
    RUN(test_digital_phantom);
    RUN(test_interpolation_grid);
    RUN(test_resegmentation_discretisation);
    RUN(test_bad_inputs);
    RUN(test_config_files);
    RUN(test_allocation_failures);
    RUN(test_degenerate_rois);
    return test_done();
}
