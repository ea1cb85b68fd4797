/*
 * test_analysis_ct.c - the whole chest analysis (lungs, then lesions,
 * measures and assessment) on real CT from ../shared/data/chest-ct, for
 * issue 6's acceptance checks that need no inserted lesions:
 *
 *   - totalseg-example (TotalSegmentator's example, upper abdomen with the
 *     lung bases): no lesion voxel and no reported lesion inside the spleen
 *     (label 1), liver (5) or stomach (6, which holds gas) of its
 *     segmentation, on the JPEG 2000 DICOM series (example_seg_dicom.nii.gz,
 *     rows flipped as test_chest_lungs.c establishes) and on the NIfTI
 *     volume (example_seg.nii.gz on its top 30 slices), where lung bases are
 *     found and the lesion stage really runs next to those organs;
 *   - ibsi-ct-phantom (a crop of one hemithorax): the analysis runs without
 *     failing, the lung is found, the crop is reported in the lung flags
 *     and warnings, and the measures are consistent with the lungs.
 *
 * The inserted-lesion checks (cip-ct64, ibsi-ct-phantom, volume within 15 %
 * of the truth) are in test_analysis_insert.c.  Every case skips, saying
 * so, when the shared data is absent (NOVA_DATA_DIR points elsewhere).
 */
#include "nova/analysis.h"
#include "nova/chest.h"
#include "nova/volume.h"
#include "test.h"
#include "test_chest.h"

#include <math.h>
#include <stdlib.h>

/* Organ label of the segmentation at CT voxel (i, j, k): the segmentation
 * covers CT slices k0.. and its rows may run the other way. */
typedef struct {
    const uint8_t *seg;
    size_t dims[3]; /* of the segmentation */
    size_t k0;      /* first CT slice it covers */
    bool flip_rows;
} OrganMap;

static uint8_t organ_at(const OrganMap *m, size_t i, size_t j, size_t k)
{
    if (k < m->k0 || k - m->k0 >= m->dims[2] || i >= m->dims[0] ||
        j >= m->dims[1])
        return 0;
    size_t jj = m->flip_rows ? m->dims[1] - 1 - j : j;
    return m->seg[((k - m->k0) * m->dims[1] + jj) * m->dims[0] + i];
}

static bool is_checked_organ(uint8_t s)
{
    return s == 1 || s == 5 || s == 6; /* spleen, liver, stomach */
}

/* Lesion voxels and lesions inside the organs; prints the figures. */
static void check_no_lesion_in_organs(const char *what, const NovaVolume *ct,
                                      const NovaAnalysis *an,
                                      const OrganMap *map)
{
    size_t d[3];
    nova_volume_get_dims(ct, d);
    const uint8_t *les =
        nova_volume_get_const_data(nova_analysis_get_lesion_mask(an));
    size_t lesion_voxels = 0, in_organ = 0, organ_voxels = 0;
    for (size_t k = 0; k < d[2]; k++)
        for (size_t j = 0; j < d[1]; j++)
            for (size_t i = 0; i < d[0]; i++) {
                bool organ = is_checked_organ(organ_at(map, i, j, k));
                bool lesion = les[(k * d[1] + j) * d[0] + i] != 0;
                organ_voxels += organ;
                lesion_voxels += lesion;
                in_organ += organ && lesion;
            }
    /* Each reported lesion: none may have its centroid or its key-slice
     * bounding box centre inside one of the organs. */
    size_t n = nova_analysis_get_lesion_count(an), lesions_in_organ = 0;
    const NovaGeometry *g = nova_volume_get_geometry(ct);
    for (size_t l = 0; l < n; l++) {
        const NovaLesion *x = nova_analysis_get_lesion(an, l);
        double idx[3];
        nova_geometry_world_to_index(g, x->centroid_mm, idx);
        long c[3];
        bool inside = true;
        for (int a = 0; a < 3; a++) {
            c[a] = lround(idx[a]);
            inside = inside && c[a] >= 0 && (size_t)c[a] < d[a];
        }
        if (inside && is_checked_organ(organ_at(map, (size_t)c[0], (size_t)c[1],
                                                (size_t)c[2])))
            lesions_in_organ++;
    }
    printf("# %s: %zu organ voxels (spleen, liver, stomach), %zu lesion "
           "voxels, %zu of them in the organs; %zu lesions, %zu centred in "
           "the organs\n",
           what, organ_voxels, lesion_voxels, in_organ, n, lesions_in_organ);
    CHECK(organ_voxels > 10000);
    CHECK_EQ_INT(in_organ, 0);
    CHECK_EQ_INT(lesions_in_organ, 0);
}

/* Issue 6: on totalseg-example/dicom (JPEG 2000), no lesion inside the
 * stomach, liver or spleen. */
static void test_totalseg_dicom(void)
{
    const char *dir_rel = "chest-ct/totalseg-example/dicom";
    if (!test_data_path(dir_rel))
        SKIP("shared data absent: %s", dir_rel);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", test_data_path(dir_rel));
    NovaVolume *seg =
        read_or_skip("chest-ct/totalseg-example/example_seg_dicom.nii.gz");
    NovaError *err = NULL;
    NovaPool *pool = nova_pool_create(&err, 2);
    NovaVolume *ct = nova_volume_read_dicom(&err, dir, NULL, pool);
    CHECK_OK(err);
    nova_error_clear(&err);
    NovaLungResult *lungs = NULL;
    NovaAnalysis *an = ct ? analyse(pool, ct, &lungs) : NULL;
    CHECK(an != NULL);
    size_t dc[3] = {0}, ds[3];
    if (ct)
        nova_volume_get_dims(ct, dc);
    nova_volume_get_dims(seg, ds);
    CHECK(memcmp(dc, ds, sizeof dc) == 0);
    if (an && memcmp(dc, ds, sizeof dc) == 0) {
        /* test_chest_lungs.c: the label file's rows run the other way. */
        OrganMap map = {
            nova_volume_get_const_data(seg), {ds[0], ds[1], ds[2]}, 0, true};
        check_no_lesion_in_organs("totalseg DICOM", ct, an, &map);
        /* No aerated lung in these slices (test_chest_lungs.c): the
         * measures say so instead of dividing by zero. */
        const NovaMeasures *m = nova_analysis_get_measures(an);
        printf("# totalseg DICOM: lung %.1f ml, lesions %.1f ml, PO %.2f %%, "
               "%s\n",
               m->lung_ml[0], m->lesion_ml[0], m->po[0],
               nova_rsna_category_name(nova_analysis_get_rsna(an)));
        CHECK(isfinite(m->po[0]) && m->po[0] >= 0 && m->po[0] <= 100);
        CHECK_NEAR(m->lung_ml[0],
                   nova_lung_result_get_volume_ml(lungs, NOVA_LUNG_NONE),
                   1e-6 + 1e-9 * m->lung_ml[0]);
    }
    nova_analysis_destroy(an);
    nova_lung_result_destroy(lungs);
    nova_volume_unref(ct);
    nova_volume_unref(seg);
    nova_pool_destroy(pool);
}

/* The same on the NIfTI example, where the lung bases are found above the
 * liver and spleen, so lesion candidates next to them are really judged. */
static void test_totalseg_nifti(void)
{
    NovaVolume *ct =
        read_or_skip("chest-ct/totalseg-example/example_ct.nii.gz");
    NovaVolume *seg =
        read_or_skip("chest-ct/totalseg-example/example_seg.nii.gz");
    size_t dc[3], ds[3];
    nova_volume_get_dims(ct, dc);
    nova_volume_get_dims(seg, ds);
    /* test_chest_lungs.c: the 30 label slices match the CT's top 30. */
    bool fits = ds[0] == dc[0] && ds[1] == dc[1] && ds[2] <= dc[2];
    CHECK(fits);
    NovaError *err = NULL;
    NovaPool *pool = nova_pool_create(&err, 2);
    NovaLungResult *lungs = NULL;
    NovaAnalysis *an = fits ? analyse(pool, ct, &lungs) : NULL;
    CHECK(an != NULL);
    if (an) {
        OrganMap map = {nova_volume_get_const_data(seg),
                        {ds[0], ds[1], ds[2]},
                        dc[2] - ds[2],
                        false};
        check_no_lesion_in_organs("totalseg NIfTI", ct, an, &map);
        double lung_ml = nova_lung_result_get_volume_ml(lungs, NOVA_LUNG_NONE);
        printf("# totalseg NIfTI: lung %.1f ml, lesions %.2f ml in %zu "
               "lesions\n",
               lung_ml, nova_analysis_get_measures(an)->lesion_ml[0],
               nova_analysis_get_lesion_count(an));
        /* The lesion stage had lung to work on. */
        CHECK(lung_ml > 50);
    }
    nova_analysis_destroy(an);
    nova_lung_result_destroy(lungs);
    nova_volume_unref(ct);
    nova_volume_unref(seg);
    nova_pool_destroy(pool);
}

/* Issue 6: on the cropped ibsi-ct-phantom the lungs are found and the crop
 * is reported instead of failing, through the whole analysis. */
static void test_ibsi_crop(void)
{
    NovaVolume *ct =
        read_or_skip("chest-ct/ibsi-ct-phantom/nifti/image/phantom.nii.gz");
    NovaError *err = NULL;
    NovaPool *pool = nova_pool_create(&err, 2);
    NovaLungResult *lungs = NULL;
    NovaAnalysis *an = analyse(pool, ct, &lungs);
    CHECK(an != NULL);
    if (an) {
        unsigned flags = nova_lung_result_get_flags(lungs);
        double right = nova_lung_result_get_volume_ml(lungs, NOVA_LUNG_RIGHT);
        double left = nova_lung_result_get_volume_ml(lungs, NOVA_LUNG_LEFT);
        const NovaMeasures *m = nova_analysis_get_measures(an);
        printf("# ibsi crop: right %.1f ml, left %.1f ml, flags %#x; "
               "lesions %.2f ml in %zu, PO %.2f %%, %s, CO-RADS %d\n",
               right, left, flags, m->lesion_ml[0],
               nova_analysis_get_lesion_count(an), m->po[0],
               nova_rsna_category_name(nova_analysis_get_rsna(an)),
               nova_analysis_get_corads(an));
        for (size_t i = 0; i < nova_lung_result_get_warning_count(lungs); i++)
            printf("#   %s\n", nova_lung_result_get_warning(lungs, i));
        /* One lung, the right, cut by the in-plane field of view. */
        CHECK(right > 500);
        CHECK(left == 0);
        CHECK(flags & NOVA_LUNG_FLAG_CROP_SIDE);
        CHECK(flags & NOVA_LUNG_FLAG_NO_LEFT);
        CHECK(nova_lung_result_get_warning_count(lungs) >= 2);
        /* The measures rest on that lung: per-lung volumes match the
         * segmentation, the absent lung has none, percentages are sane. */
        CHECK_NEAR(m->lung_ml[0], right + left, 1e-6 * (right + left));
        CHECK_NEAR(m->lung_ml[1], right, 1e-6 * right);
        CHECK(m->lung_ml[2] == 0);
        CHECK(m->lesion_ml[2] == 0);
        CHECK(isfinite(m->po[0]) && m->po[0] >= 0 && m->po[0] <= 100);
        CHECK(m->pho[0] <= m->po[0] + 1e-9);
        CHECK(m->lesion_ml[0] <= m->lung_ml[0]);
        /* Every lesion is in the right lung. */
        for (size_t i = 0; i < nova_analysis_get_lesion_count(an); i++)
            CHECK_EQ_INT(nova_analysis_get_lesion(an, i)->lung,
                         NOVA_LUNG_RIGHT);
        CHECK(nova_analysis_get_probability(an) >= 0 &&
              nova_analysis_get_probability(an) <= 1);
    }
    nova_analysis_destroy(an);
    nova_lung_result_destroy(lungs);
    nova_pool_destroy(pool);
    nova_volume_unref(ct);
}

int main(void)
{
    RUN(test_totalseg_dicom);
    RUN(test_totalseg_nifti);
    RUN(test_ibsi_crop);
    return test_done();
}
