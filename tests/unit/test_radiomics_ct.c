/*
 * test_radiomics_ct.c - IBSI 1 CT phantom (lung cancer CT, PAT1) under
 * configurations A to E (configs/radiomics/ibsi-a.conf ... ibsi-e.conf,
 * transcribed from 05_Reference_data_sets.rst) against the IBSI reference
 * values: at least 95% of the features with a reference value must match
 * within tolerance in each configuration.  Every mismatch is printed with
 * our value, the reference and the tolerance.
 *
 * The mask is the NIfTI conversion of the RTSTRUCT GTV shipped with the
 * phantom.  NOVA_RADIOMICS_MORAN=1 in the environment computes Moran's I
 * and Geary's C exactly (O(n^2), tens of seconds); by default they are
 * skipped here (spatial_max_voxels) and count as mismatches.
 */
#include "nova/nova.h"
#include "test.h"
#include "test_radiomics_ref.h"

#include <stdlib.h>

static NovaVolume *ct_image, *ct_mask;
static char ref_path[4096];

static bool load_phantom(void)
{
    if (ct_image && ct_mask)
        return true;
    snprintf(ref_path, sizeof ref_path, "%s",
             test_data_path(
                 "radiomics/ibsi-reference/ibsi1_reference_values.csv"));
    NovaError *error = NULL;
    ct_image = nova_volume_read(
        &error,
        test_data_path("chest-ct/ibsi-ct-phantom/nifti/image/phantom.nii.gz"));
    CHECK_OK(error);
    nova_error_clear(&error);
    ct_mask = nova_volume_read(
        &error,
        test_data_path("chest-ct/ibsi-ct-phantom/nifti/mask/mask.nii.gz"));
    CHECK_OK(error);
    nova_error_free(error);
    return ct_image && ct_mask;
}

static void run_config(char letter)
{
    if (!load_phantom())
        return;
    char path[4096], data[32];
    snprintf(path, sizeof path, "%s/configs/radiomics/ibsi-%c.conf",
             NOVA_SOURCE_DIR, letter - 'A' + 'a');
    snprintf(data, sizeof data, "config. %c", letter);
    NovaRadiomicsConfig config;
    NovaError *error = NULL;
    CHECK(nova_radiomics_config_load(&error, path, &config));
    CHECK_OK(error);
    nova_error_clear(&error);
    const char *moran = getenv("NOVA_RADIOMICS_MORAN");
    if (!moran || strcmp(moran, "1") != 0)
        config.spatial_max_voxels = 1;
    double t0 = nova_time_now();
    NovaRadiomicsFeatures *features =
        nova_radiomics_compute(&error, ct_image, ct_mask, 0, &config);
    double seconds = nova_time_now() - t0;
    CHECK_OK(error);
    nova_error_free(error);
    if (!features)
        return;
    size_t count = 0, total = 0;
    RefRow *rows = ref_load(ref_path, data, &count);
    CHECK(rows != NULL && count > 200);
    printf("# configuration %c: %zu voxels (morphological), %zu "
           "(intensity), %.2f s\n",
           letter, nova_radiomics_features_morph_voxels(features),
           nova_radiomics_features_intensity_voxels(features), seconds);
    size_t matched = ref_compare(features, rows, count, false, &total);
    printf("# configuration %c: %zu of %zu reference values match (%.1f%%)\n",
           letter, matched, total, 100.0 * (double)matched / (double)total);
    CHECK(matched * 100 >= total * 95);
    free(rows);
    nova_radiomics_features_destroy(features);
}

static void test_config_a(void) { run_config('A'); }
static void test_config_b(void) { run_config('B'); }
static void test_config_c(void) { run_config('C'); }
static void test_config_d(void) { run_config('D'); }
static void test_config_e(void) { run_config('E'); }

int main(void)
{
    RUN(test_config_a);
    RUN(test_config_b);
    RUN(test_config_c);
    RUN(test_config_d);
    RUN(test_config_e);
    nova_volume_unref(ct_image);
    nova_volume_unref(ct_mask);
    return test_done();
}
