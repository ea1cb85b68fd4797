/*
 * test_chest_lungs.c - lung segmentation against references made by others
 * and against a synthetic chest whose truth is known exactly.
 *
 *   - cip-ct64 (COPDGene 10002K): Dice and volume against the Chest Imaging
 *     Platform's wholeLung-64 mask, sides against its region label map
 *     (lm-64: Chest Imaging Platform region codes 9-11 left thirds, 12-14
 *     right thirds, type in the high byte), the trachea against its airway
 *     code, zones against each lung's own extent, 1 vs 2 threads identical;
 *   - totalseg-example (example_ct with example_seg, TotalSegmentator
 *     labels): no lung voxel in the spleen (1), liver (5) or stomach (6),
 *     Dice against the TotalSegmentator lung lobes (10-14) and their sides;
 *   - ibsi-ct-phantom (a crop of one hemithorax): the lung is found and the
 *     crop is reported;
 *   - the phantom module's chests (normal, COVID-19 and bacterial lobar
 *     consolidation, several seeds and sizes) against their truth labels,
 *     and the bacterial one's reading (atypical, from its lobar
 *     consolidation);
 *   - a synthetic chest built here (ellipsoid lungs, trachea and bronchi,
 *     vessels, a dense lesion against the chest wall, noise, thick slices, a
 *     single slice, a lateral crop) with exact truth.
 */
#include "test.h"
#include "test_chest.h"

#include "nova/chest.h"
#include "nova/phantom.h"
#include "nova/volume.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static size_t count_lung(const uint8_t *lab, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += lab[i] == NOVA_LUNG_RIGHT || lab[i] == NOVA_LUNG_LEFT;
    return c;
}

/* World x (LPS) of the centroid of label l. */
static double centroid_x(const NovaVolume *labels, uint8_t l)
{
    size_t d[3];
    nova_volume_get_dims(labels, d);
    const uint8_t *p = nova_volume_get_const_data(labels);
    double s[3] = {0, 0, 0};
    size_t n = 0;
    for (size_t z = 0; z < d[2]; z++)
        for (size_t y = 0; y < d[1]; y++)
            for (size_t x = 0; x < d[0]; x++)
                if (p[(z * d[1] + y) * d[0] + x] == l) {
                    s[0] += (double)x;
                    s[1] += (double)y;
                    s[2] += (double)z;
                    n++;
                }
    if (!n)
        return NAN;
    double idx[3] = {s[0] / (double)n, s[1] / (double)n, s[2] / (double)n},
           w[3];
    nova_geometry_index_to_world(nova_volume_get_geometry(labels), idx, w);
    return w[0];
}

/* Every zone voxel's third must match the lung's own slice extent
 * (fraction of agreement returned), and zone volumes must add up. */
static double zone_agreement(const NovaLungResult *r)
{
    NovaVolume *labels = nova_lung_result_get_labels(r);
    const uint8_t *lab = nova_volume_get_const_data(labels);
    const uint8_t *zone =
        nova_volume_get_const_data(nova_lung_result_get_zones(r));
    size_t d[3];
    nova_volume_get_dims(labels, d);
    size_t plane = d[0] * d[1], n = plane * d[2];
    long kmin[3] = {LONG_MAX, LONG_MAX, LONG_MAX}, kmax[3] = {-1, -1, -1};
    for (size_t i = 0; i < n; i++)
        if (lab[i] == 1 || lab[i] == 2) {
            long k = (long)(i / plane);
            if (k < kmin[lab[i]])
                kmin[lab[i]] = k;
            if (k > kmax[lab[i]])
                kmax[lab[i]] = k;
        }
    bool top_high = nova_volume_get_geometry(labels)->direction[8] >= 0;
    size_t agree = 0, total = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t l = lab[i];
        if (l != 1 && l != 2) {
            CHECK_EQ_INT(zone[i], 0);
            if (zone[i])
                return 0;
            continue;
        }
        CHECK(zone[i] >= 1 && zone[i] <= NOVA_ZONE_COUNT);
        CHECK_EQ_INT(NOVA_ZONE_LUNG(zone[i]), l);
        double f = ((double)((long)(i / plane) - kmin[l]) + 0.5) /
                   (double)(kmax[l] - kmin[l] + 1);
        if (top_high)
            f = 1 - f;
        int want = f < 1.0 / 3 ? 0 : f < 2.0 / 3 ? 1 : 2;
        agree += NOVA_ZONE_THIRD(zone[i]) == want;
        total++;
    }
    double sum = 0;
    for (int z = 1; z <= NOVA_ZONE_COUNT; z++)
        sum += nova_lung_result_get_zone_volume_ml(r, z);
    CHECK_NEAR(sum, nova_lung_result_get_volume_ml(r, NOVA_LUNG_NONE),
               1e-6 * (1 + sum));
    return total ? (double)agree / (double)total : 1.0;
}

/* Fraction of lung voxels flagged peripheral, and a check that peripheral
 * voxels lie nearer the lung's edge (in-slice, 4-neighbour steps) than
 * central ones, by brute force on each slice. */
static void check_peripheral(const NovaLungResult *r)
{
    NovaVolume *labels = nova_lung_result_get_labels(r);
    const uint8_t *lab = nova_volume_get_const_data(labels);
    const uint8_t *zone =
        nova_volume_get_const_data(nova_lung_result_get_zones(r));
    size_t d[3];
    nova_volume_get_dims(labels, d);
    size_t plane = d[0] * d[1];
    double sum_p = 0, sum_c = 0;
    size_t np = 0, nc = 0;
    /* Sample every 7th voxel: distance (in voxels) to the nearest in-slice
     * voxel of another label, found by a growing square search. */
    for (size_t i = 0; i < plane * d[2]; i += 7) {
        uint8_t l = lab[i];
        if (l != 1 && l != 2)
            continue;
        size_t z = i / plane, y = i / d[0] % d[1], x = i % d[0];
        double best = INFINITY;
        for (long rr = 1; rr < 60 && best > (double)(rr - 1); rr++)
            for (long dy = -rr; dy <= rr; dy++)
                for (long dx = -rr; dx <= rr; dx++) {
                    if (labs(dx) != rr && labs(dy) != rr)
                        continue;
                    long xx = (long)x + dx, yy = (long)y + dy;
                    if (xx < 0 || yy < 0 || xx >= (long)d[0] ||
                        yy >= (long)d[1])
                        continue;
                    if (lab[z * plane + (size_t)yy * d[0] + (size_t)xx] != l) {
                        double e = sqrt((double)(dx * dx + dy * dy));
                        if (e < best)
                            best = e;
                    }
                }
        if (isinf(best))
            continue;
        if (NOVA_ZONE_PERIPHERAL(zone[i])) {
            sum_p += best;
            np++;
        } else {
            sum_c += best;
            nc++;
        }
    }
    CHECK(np > 0 && nc > 0);
    if (!np || !nc)
        return;
    double frac = (double)np / (double)(np + nc);
    /* The outer third of the depth of a convex section is between 5/9 (a
     * disc: 1 - (2/3)^2) and about 0.45 to 0.75 for real lung shapes. */
    CHECK(frac > 0.35 && frac < 0.8);
    CHECK(sum_p / (double)np < 0.5 * sum_c / (double)nc);
}

static void test_cip_ct64(void)
{
    NovaVolume *ct = read_or_skip("chest-ct/cip-ct64/ct-64.nrrd");
    NovaVolume *ref = read_or_skip("chest-ct/cip-ct64/wholeLung-64.nrrd");
    NovaVolume *lm = read_or_skip("chest-ct/cip-ct64/lm-64.nrrd");
    NovaError *err = NULL;
    NovaPool *pool = nova_pool_create(&err, 2);
    NovaLungResult *r = nova_chest_segment_lungs(&err, pool, ct, NULL);
    CHECK_OK(err);
    CHECK(r != NULL);
    if (!r)
        return;
    NovaVolume *labels = nova_lung_result_get_labels(r);
    const uint8_t *lab = nova_volume_get_const_data(labels);
    const uint8_t *rp = nova_volume_get_const_data(ref);
    size_t n = nova_volume_get_voxel_count(ct);
    size_t a = 0, b = 0, ab = 0;
    for (size_t i = 0; i < n; i++) {
        bool x = lab[i] == 1 || lab[i] == 2, y = rp[i] != 0;
        a += x;
        b += y;
        ab += x && y;
    }
    double dice = 2.0 * (double)ab / (double)(a + b);
    const NovaGeometry *g = nova_volume_get_geometry(ct);
    double vox_ml = g->spacing[0] * g->spacing[1] * g->spacing[2] / 1000.0;
    double ref_ml = (double)b * vox_ml;
    double got_ml = nova_lung_result_get_volume_ml(r, NOVA_LUNG_NONE);
    printf("# cip-ct64: Dice %.4f, volume %.1f ml vs %.1f ml reference\n", dice,
           got_ml, ref_ml);
    CHECK(dice >= 0.95);
    CHECK(fabs(got_ml - ref_ml) <= 0.05 * ref_ml);
    CHECK_NEAR(got_ml, (double)a * vox_ml, 1e-6 * got_ml);

    /* Sides: Chest Imaging Platform region = code & 255; 9-11 are the left
     * lung's thirds, 12-14 the right's. */
    const int16_t *lmp = nova_volume_get_const_data(lm);
    size_t right_ok = 0, right_n = 0, left_ok = 0, left_n = 0;
    size_t trachea = 0, trachea_found = 0;
    for (size_t i = 0; i < n; i++) {
        int region = lmp[i] & 255, type = lmp[i] >> 8;
        bool ref_left = region >= 9 && region <= 11;
        bool ref_right = region >= 12 && region <= 14;
        if (lab[i] == NOVA_LUNG_RIGHT && (ref_left || ref_right)) {
            right_n++;
            right_ok += ref_right;
        }
        if (lab[i] == NOVA_LUNG_LEFT && (ref_left || ref_right)) {
            left_n++;
            left_ok += ref_left;
        }
        /* Type 2 (airway) with no region: the trachea and main bronchi. */
        if (type == 2 && region == 0) {
            trachea++;
            trachea_found += lab[i] == NOVA_LUNG_AIRWAY;
        }
    }
    CHECK(right_n > 10000 && left_n > 10000);
    CHECK((double)right_ok >= 0.99 * (double)right_n);
    CHECK((double)left_ok >= 0.99 * (double)left_n);
    /* LPS: the left lung lies at larger x. */
    CHECK(centroid_x(labels, NOVA_LUNG_LEFT) >
          centroid_x(labels, NOVA_LUNG_RIGHT) + 100);
    printf("# trachea: %zu of %zu reference airway voxels labelled airway\n",
           trachea_found, trachea);
    CHECK(trachea_found * 2 >= trachea);
    unsigned flags = nova_lung_result_get_flags(r);
    CHECK_EQ_INT(flags & (NOVA_LUNG_FLAG_NO_TRACHEA | NOVA_LUNG_FLAG_NO_LEFT |
                          NOVA_LUNG_FLAG_NO_RIGHT | NOVA_LUNG_FLAG_CROP_SIDE |
                          NOVA_LUNG_FLAG_NOT_SEPARATED),
                 0);

    CHECK(zone_agreement(r) >= 0.999);
    check_peripheral(r);

    /* One thread gives the same result. */
    NovaLungResult *r1 = nova_chest_segment_lungs(&err, NULL, ct, NULL);
    CHECK(r1 &&
          memcmp(nova_volume_get_const_data(nova_lung_result_get_labels(r1)),
                 lab, n) == 0);
    CHECK(r1 &&
          memcmp(nova_volume_get_const_data(nova_lung_result_get_zones(r1)),
                 nova_volume_get_const_data(nova_lung_result_get_zones(r)),
                 n) == 0);
    nova_lung_result_destroy(r1);
    nova_lung_result_destroy(r);
    nova_pool_destroy(pool);
    nova_volume_unref(ct);
    nova_volume_unref(ref);
    nova_volume_unref(lm);
}

static void test_totalseg_abdomen(void)
{
    NovaVolume *ct =
        read_or_skip("chest-ct/totalseg-example/example_ct.nii.gz");
    NovaVolume *seg =
        read_or_skip("chest-ct/totalseg-example/example_seg.nii.gz");
    size_t dc[3], ds[3];
    nova_volume_get_dims(ct, dc);
    nova_volume_get_dims(seg, ds);
    /* example_seg holds 30 slices with the CT's header origin, but its
     * organs match the CT's top 30 slices (Dice 0.965 of the lung lobes
     * there against 0.86 one slice off), so it is placed there. */
    CHECK(ds[0] == dc[0] && ds[1] == dc[1] && ds[2] < dc[2]);
    if (!(ds[0] == dc[0] && ds[1] == dc[1] && ds[2] < dc[2]))
        return;
    size_t offset = (dc[2] - ds[2]) * dc[0] * dc[1];
    NovaError *err = NULL;
    NovaPool *pool = nova_pool_create(&err, 2);
    NovaLungResult *r = nova_chest_segment_lungs(&err, pool, ct, NULL);
    CHECK_OK(err);
    if (!r)
        return;
    const uint8_t *lab =
        nova_volume_get_const_data(nova_lung_result_get_labels(r));
    const uint8_t *sp = nova_volume_get_const_data(seg);
    size_t n = nova_volume_get_voxel_count(ct), ns = ds[0] * ds[1] * ds[2];
    size_t in_organ = 0, lung_total = count_lung(lab, n);
    size_t a = 0, b = 0, ab = 0, side_ok = 0, side_n = 0;
    for (size_t i = 0; i < ns; i++) {
        uint8_t l = lab[offset + i], s = sp[i];
        bool lung = l == 1 || l == 2;
        if (lung && (s == 1 || s == 5 || s == 6))
            in_organ++;
        /* TotalSegmentator: 10, 11 left lobes; 12, 13, 14 right lobes. */
        bool ref = s >= 10 && s <= 14;
        a += lung;
        b += ref;
        ab += lung && ref;
        if (lung && ref) {
            side_n++;
            side_ok += (l == NOVA_LUNG_LEFT) == (s <= 11);
        }
    }
    double dice = b ? 2.0 * (double)ab / (double)(a + b) : 0;
    printf("# totalseg: %zu lung voxels, %zu in spleen/liver/stomach, Dice "
           "%.4f vs TotalSegmentator lobes\n",
           lung_total, in_organ, dice);
    CHECK_EQ_INT(in_organ, 0);
    /* All lung lies in the slices the segmentation covers (lung bases at
     * the top of an abdominal scan), none in the bowel below. */
    CHECK_EQ_INT(a, lung_total);
    CHECK(dice >= 0.9);
    CHECK(side_ok == side_n && side_n > 1000);
    CHECK(nova_lung_result_get_flags(r) & NOVA_LUNG_FLAG_NO_TRACHEA);
    CHECK(nova_lung_result_get_flags(r) & NOVA_LUNG_FLAG_CROP_TOP);
    nova_lung_result_destroy(r);
    nova_pool_destroy(pool);
    nova_volume_unref(ct);
    nova_volume_unref(seg);
}

/* The check on the DICOM series (JPEG 2000, 20 slices of the upper
 * abdomen): no lung voxel in the spleen (1), liver
 * (5) or stomach (6) of example_seg_dicom.nii.gz.  That label file's rows
 * run the other way (its j axis is flipped against the series; its header
 * x origin is not usable): placed row-flipped, its organs read liver 89 HU,
 * spleen 80 HU, stomach -56 HU (gas and fluid) on the series, against -75,
 * -377 and +45 HU unflipped. */
static void test_totalseg_dicom(void)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s",
             test_data_path("chest-ct/totalseg-example/dicom"));
    NovaVolume *seg =
        read_or_skip("chest-ct/totalseg-example/example_seg_dicom.nii.gz");
    NovaError *err = NULL;
    NovaPool *pool = nova_pool_create(&err, 2);
    NovaVolume *ct = nova_volume_read_dicom(&err, dir, NULL, pool);
    CHECK_OK(err);
    if (!ct) {
        nova_error_clear(&err);
        nova_volume_unref(seg);
        nova_pool_destroy(pool);
        return;
    }
    size_t dc[3], ds[3];
    nova_volume_get_dims(ct, dc);
    nova_volume_get_dims(seg, ds);
    CHECK(dc[0] == ds[0] && dc[1] == ds[1] && dc[2] == ds[2]);
    NovaLungResult *r = nova_chest_segment_lungs(&err, pool, ct, NULL);
    CHECK_OK(err);
    if (r && dc[0] == ds[0] && dc[1] == ds[1] && dc[2] == ds[2]) {
        const uint8_t *lab =
            nova_volume_get_const_data(nova_lung_result_get_labels(r));
        const uint8_t *sp = nova_volume_get_const_data(seg);
        const int16_t *hu = nova_volume_get_const_data(ct);
        size_t in_organ = 0, lung = 0, organ = 0;
        double liver_hu = 0;
        size_t liver_n = 0;
        for (size_t k = 0; k < dc[2]; k++)
            for (size_t j = 0; j < dc[1]; j++)
                for (size_t i = 0; i < dc[0]; i++) {
                    size_t v = (k * dc[1] + j) * dc[0] + i;
                    uint8_t s = sp[(k * dc[1] + (dc[1] - 1 - j)) * dc[0] + i];
                    bool is_lung =
                        lab[v] == NOVA_LUNG_RIGHT || lab[v] == NOVA_LUNG_LEFT;
                    bool is_organ = s == 1 || s == 5 || s == 6;
                    lung += is_lung;
                    organ += is_organ;
                    in_organ += is_lung && is_organ;
                    if (s == 5) {
                        liver_hu += hu[v];
                        liver_n++;
                    }
                }
        printf("# totalseg DICOM: %zu lung voxels (%.1f ml right, %.1f ml "
               "left), %zu organ voxels, %zu lung voxels inside them; liver "
               "%.0f HU\n",
               lung, nova_lung_result_get_volume_ml(r, NOVA_LUNG_RIGHT),
               nova_lung_result_get_volume_ml(r, NOVA_LUNG_LEFT), organ,
               in_organ, liver_n ? liver_hu / (double)liver_n : 0);
        /* The placement is right: the liver label holds liver. */
        CHECK(liver_n > 0 && liver_hu / (double)liver_n > 40);
        CHECK_EQ_INT(in_organ, 0);
        /* These 40 mm hold no aerated lung at all (the only air inside the
         * body is gas in the stomach and colon: 2D regions of median -966
         * and -833 HU, 0.3 to 1.2 cm^2 per slice), so the result says no
         * lung was found instead of calling the gas lung. */
        CHECK_EQ_INT(lung, 0);
        CHECK(nova_lung_result_get_flags(r) & NOVA_LUNG_FLAG_NO_RIGHT);
        CHECK(nova_lung_result_get_flags(r) & NOVA_LUNG_FLAG_NO_LEFT);
        CHECK(nova_lung_result_get_warning_count(r) >= 1);
    }
    nova_lung_result_destroy(r);
    nova_volume_unref(ct);
    nova_volume_unref(seg);
    nova_pool_destroy(pool);
}

static void test_ibsi_crop(void)
{
    NovaVolume *ct =
        read_or_skip("chest-ct/ibsi-ct-phantom/nifti/image/phantom.nii.gz");
    NovaError *err = NULL;
    NovaLungResult *r = nova_chest_segment_lungs(&err, NULL, ct, NULL);
    CHECK_OK(err);
    if (!r)
        return;
    unsigned flags = nova_lung_result_get_flags(r);
    double right = nova_lung_result_get_volume_ml(r, NOVA_LUNG_RIGHT);
    printf("# ibsi crop: right %.1f ml, left %.1f ml, flags %#x, %zu "
           "warnings\n",
           right, nova_lung_result_get_volume_ml(r, NOVA_LUNG_LEFT), flags,
           nova_lung_result_get_warning_count(r));
    for (size_t i = 0; i < nova_lung_result_get_warning_count(r); i++)
        printf("#   %s\n", nova_lung_result_get_warning(r, i));
    /* The crop shows the right hemithorax (the spine and mediastinum at
     * larger x, LPS): one lung, on the right, cut by the field of view. */
    CHECK(right > 500);
    CHECK(nova_lung_result_get_volume_ml(r, NOVA_LUNG_LEFT) == 0);
    CHECK(flags & NOVA_LUNG_FLAG_NO_LEFT);
    CHECK(flags & NOVA_LUNG_FLAG_CROP_SIDE);
    CHECK(nova_lung_result_get_warning_count(r) >= 2);
    /* Aerated lung only: the labelled region is mostly below -500 HU and
     * holds no outside air (-1000 at the crop's corners). */
    const int16_t *hu = nova_volume_get_const_data(ct);
    const uint8_t *lab =
        nova_volume_get_const_data(nova_lung_result_get_labels(r));
    size_t n = nova_volume_get_voxel_count(ct), lung = 0, airlike = 0;
    size_t pure = 0;
    for (size_t i = 0; i < n; i++)
        if (lab[i] == NOVA_LUNG_RIGHT) {
            lung++;
            airlike += hu[i] < -500;
            pure += hu[i] < -980;
        }
    printf("# ibsi: %.3f of the lung below -500 HU, %.4f below -980 HU\n",
           (double)airlike / (double)lung, (double)pure / (double)lung);
    CHECK((double)airlike > 0.7 * (double)lung);
    CHECK((double)pure < 0.03 * (double)lung);
    nova_lung_result_destroy(r);
    nova_volume_unref(ct);
}

/* ------------------------------------------------------- synthetic chest */

struct phantom {
    NovaVolume *ct;
    uint8_t *truth;  /* 1 right, 2 left, 3 trachea/bronchi, 0 else */
    uint8_t *lesion; /* the pleural lesion's voxels inside the lung */
};

static uint64_t rng = 0x243F6A8885A308D3ull;

static double noise(void)
{
    /* Sum of 4 uniforms: near-Gaussian with unit variance. */
    double s = 0;
    for (int i = 0; i < 4; i++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        s += (double)(rng >> 11) / 9007199254740992.0 - 0.5;
    }
    return s * sqrt(3.0);
}

static double seg_dist2(const double p[3], const double a[3], const double b[3])
{
    double ab[3], ap[3], t = 0, l2 = 0;
    for (int i = 0; i < 3; i++) {
        ab[i] = b[i] - a[i];
        ap[i] = p[i] - a[i];
        t += ab[i] * ap[i];
        l2 += ab[i] * ab[i];
    }
    t = l2 > 0 ? t / l2 : 0;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    double d2 = 0;
    for (int i = 0; i < 3; i++) {
        double e = ap[i] - t * ab[i];
        d2 += e * e;
    }
    return d2;
}

/* Diffuse disease in the synthetic chest's left lung. */
enum { DISEASE_NONE = 0, DISEASE_LEFT_POSTERIOR, DISEASE_LEFT_ALL };

/* Diseased lung as in severe COVID-19 or fibrosis: ground glass at -280 HU
 * with one 5 mm cell in six still aerated (-880 HU), so the 2.5 mm block
 * means read about -380 to -280 and the air pockets are too small and thin
 * to be found as lung on their own. */
static double diseased_hu(const double w[3])
{
    uint64_t h = (uint64_t)(w[0] / 5) * 73856093u ^
                 (uint64_t)(w[1] / 5) * 19349663u ^
                 (uint64_t)(w[2] / 5) * 83492791u;
    h ^= h >> 13;
    h *= 0x9E3779B97F4A7C15ull;
    return (h >> 32) % 6 == 0 ? -880 : -280;
}

/* A chest in mm: body ellipse 320 x 240 mm, lungs ellipsoids centred
 * 75 mm either side (right at smaller x, LPS), trachea down the middle to a
 * carina, bronchi into each lung, vessels, a 16 mm lesion against the right
 * lung's lateral wall.  Identity direction, z up (superior).  disease puts
 * diffuse ground glass (diseased_hu) into the back half or all of the left
 * lung. */
static struct phantom make_phantom_at(double sxy, double sz, double sigma_hu,
                                      double lung_dx, int disease)
{
    struct phantom p;
    size_t d[3] = {(size_t)(360 / sxy), (size_t)(300 / sxy),
                   (size_t)(260 / sz)};
    NovaGeometry g;
    nova_geometry_init(&g);
    g.spacing[0] = sxy;
    g.spacing[1] = sxy;
    g.spacing[2] = sz;
    NovaError *err = NULL;
    p.ct = nova_volume_create(&err, NOVA_DTYPE_INT16, d, &g);
    size_t n = d[0] * d[1] * d[2];
    p.truth = calloc(n, 1);
    p.lesion = calloc(n, 1);
    int16_t *hu = nova_volume_get_data(p.ct);
    double cx = 180, cy = 150;
    double carina[3] = {cx, cy - 20, 190}, top[3] = {cx, cy - 20, 260};
    double bro_r[3] = {cx - 55, cy - 10, 150},
           bro_l[3] = {cx + 55, cy - 10, 150};
    double lesion_c[3] = {cx - 75 - 62, cy, 110};
    for (size_t k = 0; k < d[2]; k++)
        for (size_t j = 0; j < d[1]; j++)
            for (size_t i = 0; i < d[0]; i++) {
                double w[3] = {((double)i + 0.5) * sxy, ((double)j + 0.5) * sxy,
                               ((double)k + 0.5) * sz};
                size_t v = (k * d[1] + j) * d[0] + i;
                double ex = (w[0] - cx) / 160, ey = (w[1] - cy) / 120;
                double value = ex * ex + ey * ey <= 1 ? 40 : -1000;
                uint8_t t = 0;
                for (int side = 0; side < 2; side++) {
                    double lx = cx + (side ? lung_dx : -lung_dx);
                    double qx = (w[0] - lx) / 62, qy = (w[1] - cy) / 95,
                           qz = (w[2] - 130) / 110;
                    if (qx * qx + qy * qy + qz * qz <= 1) {
                        value = -850;
                        /* Where the lungs touch, the midline divides. */
                        t = (uint8_t)(t ? (w[0] < cx ? 1 : 2) : (side ? 2 : 1));
                    }
                }
                if (t == 2 &&
                    (disease == DISEASE_LEFT_ALL ||
                     (disease == DISEASE_LEFT_POSTERIOR && w[1] > cy)))
                    value = diseased_hu(w);
                /* Vessels: tubes inside each lung. */
                if (t) {
                    double lx = cx + (t == 2 ? lung_dx : -lung_dx);
                    double va[3] = {lx + 10, cy + 20, 60},
                           vb[3] = {lx + 10, cy + 20, 200};
                    if (seg_dist2(w, va, vb) <= 3.0 * 3.0)
                        value = 40;
                    double dl[3] = {w[0] - lesion_c[0], w[1] - lesion_c[1],
                                    w[2] - lesion_c[2]};
                    if (dl[0] * dl[0] + dl[1] * dl[1] + dl[2] * dl[2] <=
                        16.0 * 16.0) {
                        value = 20;
                        /* Truth for the check: the lesion more than 3 mm
                         * inside the pleural surface (the outermost layer
                         * of voxels is as much chest wall as lesion). */
                        double ix = (w[0] - lx) / 59, iy = (w[1] - cy) / 92,
                               iz = (w[2] - 130) / 107;
                        p.lesion[v] = ix * ix + iy * iy + iz * iz <= 1;
                    }
                }
                if (seg_dist2(w, top, carina) <= 9.0 * 9.0 ||
                    seg_dist2(w, carina, bro_r) <= 6.0 * 6.0 ||
                    seg_dist2(w, carina, bro_l) <= 6.0 * 6.0) {
                    value = -1000;
                    t = 3;
                }
                p.truth[v] = t;
                value += sigma_hu * noise();
                hu[v] = (int16_t)lrint(value);
            }
    return p;
}

static struct phantom make_phantom(double sxy, double sz, double sigma_hu)
{
    return make_phantom_at(sxy, sz, sigma_hu, 75, DISEASE_NONE);
}

static void free_phantom(struct phantom *p)
{
    nova_volume_unref(p->ct);
    free(p->truth);
    free(p->lesion);
}

static void check_phantom(const struct phantom *p, const NovaLungResult *r,
                          double min_dice, const char *what)
{
    const uint8_t *lab =
        nova_volume_get_const_data(nova_lung_result_get_labels(r));
    size_t n = nova_volume_get_voxel_count(p->ct);
    for (uint8_t l = 1; l <= 2; l++) {
        size_t a = 0, b = 0, ab = 0;
        for (size_t i = 0; i < n; i++) {
            a += lab[i] == l;
            b += p->truth[i] == l;
            ab += lab[i] == l && p->truth[i] == l;
        }
        double dice = 2.0 * (double)ab / (double)(a + b);
        printf("# %s: lung %d Dice %.4f\n", what, l, dice);
        CHECK(dice >= min_dice);
    }
    size_t les = 0, les_in = 0;
    for (size_t i = 0; i < n; i++)
        if (p->lesion[i]) {
            les++;
            les_in += lab[i] == NOVA_LUNG_RIGHT;
        }
    printf("# %s: pleural lesion %zu of %zu voxels inside the right lung\n",
           what, les_in, les);
    CHECK((double)les_in >= 0.9 * (double)les);
}

static void test_synthetic_chest(void)
{
    NovaError *err = NULL;
    NovaPool *pool = nova_pool_create(&err, 2);
    /* Standard dose, 2.5 mm slices. */
    struct phantom p = make_phantom(2.5, 2.5, 15);
    NovaLungResult *r = nova_chest_segment_lungs(&err, pool, p.ct, NULL);
    CHECK_OK(err);
    if (r) {
        check_phantom(&p, r, 0.97, "standard");
        CHECK(!(nova_lung_result_get_flags(r) & NOVA_LUNG_FLAG_NO_TRACHEA));
        const uint8_t *lab =
            nova_volume_get_const_data(nova_lung_result_get_labels(r));
        size_t tr = 0, tr_found = 0;
        for (size_t i = 0; i < nova_volume_get_voxel_count(p.ct); i++)
            if (p.truth[i] == 3) {
                tr++;
                tr_found += lab[i] == NOVA_LUNG_AIRWAY;
            }
        CHECK((double)tr_found >= 0.7 * (double)tr);
        CHECK(zone_agreement(r) >= 0.98);
        check_peripheral(r);
        nova_lung_result_destroy(r);
    }
    free_phantom(&p);

    /* Lungs that touch: centres 120 mm apart with 62 mm half-widths meet
     * over a 4 mm thick lens in the midline, about 48 x 56 mm wide (no
     * mediastinum between them there), too wide to split by erosion; they
     * must still come out as two lungs on their sides. */
    p = make_phantom_at(2.5, 2.5, 15, 60, DISEASE_NONE);
    r = nova_chest_segment_lungs(&err, pool, p.ct, NULL);
    CHECK_OK(err);
    if (r) {
        check_phantom(&p, r, 0.97, "touching");
        /* No junction line is drawn in this phantom, so the result says the
         * lungs were divided rather than separated. */
        unsigned f = nova_lung_result_get_flags(r);
        CHECK(f & NOVA_LUNG_FLAG_NOT_SEPARATED);
        CHECK(!(f & (NOVA_LUNG_FLAG_NO_LEFT | NOVA_LUNG_FLAG_NO_RIGHT)));
        nova_lung_result_destroy(r);
    }
    free_phantom(&p);

    /* Low dose (noise 80 HU) with thick 5 mm slices. */
    p = make_phantom(2.0, 5.0, 80);
    r = nova_chest_segment_lungs(&err, pool, p.ct, NULL);
    CHECK_OK(err);
    if (r) {
        check_phantom(&p, r, 0.95, "low dose, 5 mm");
        nova_lung_result_destroy(r);
    }
    free_phantom(&p);
    nova_pool_destroy(pool);
}

/* Sub-volume [x0, x1) x all y x [z0, z1) of a volume, same geometry
 * otherwise (origin moved). */
static NovaVolume *crop(const NovaVolume *v, size_t x0, size_t x1, size_t z0,
                        size_t z1)
{
    size_t d[3];
    nova_volume_get_dims(v, d);
    NovaGeometry g = *nova_volume_get_geometry(v);
    double idx[3] = {(double)x0, 0, (double)z0};
    nova_geometry_index_to_world(nova_volume_get_geometry(v), idx, g.origin);
    size_t cd[3] = {x1 - x0, d[1], z1 - z0};
    NovaVolume *c = nova_volume_create(NULL, NOVA_DTYPE_INT16, cd, &g);
    const int16_t *s = nova_volume_get_const_data(v);
    int16_t *o = nova_volume_get_data(c);
    for (size_t z = z0; z < z1; z++)
        for (size_t y = 0; y < d[1]; y++)
            memcpy(o + ((z - z0) * d[1] + y) * cd[0],
                   s + (z * d[1] + y) * d[0] + x0, cd[0] * sizeof *o);
    return c;
}

static double lung_dice(const struct phantom *p, const NovaLungResult *r,
                        uint8_t l)
{
    const uint8_t *lab =
        nova_volume_get_const_data(nova_lung_result_get_labels(r));
    size_t n = nova_volume_get_voxel_count(p->ct), a = 0, b = 0, ab = 0;
    for (size_t i = 0; i < n; i++) {
        a += lab[i] == l;
        b += p->truth[i] == l;
        ab += lab[i] == l && p->truth[i] == l;
    }
    return 2.0 * (double)ab / (double)(a + b);
}

/* Diffuse ground glass with small air pockets (severe COVID-19): the
 * diseased lung must be inside the mask, which thresholding at air_hu
 * alone misses; with the growth turned off the same phantom fails.  The
 * diseased lung reads 0.980 since small dense holes in the growth no
 * longer count as its wall (0.970 before; docs/chest.md, step 4). */
static void test_dense_lung(void)
{
    NovaError *err = NULL;
    NovaPool *pool = nova_pool_create(&err, 2);
    struct phantom p =
        make_phantom_at(2.5, 2.5, 15, 75, DISEASE_LEFT_POSTERIOR);
    NovaLungResult *r = nova_chest_segment_lungs(&err, pool, p.ct, NULL);
    CHECK_OK(err);
    double with = 0;
    if (r) {
        check_phantom(&p, r, 0.975, "diseased left lung");
        with = lung_dice(&p, r, NOVA_LUNG_LEFT);
        /* Nothing outside the lungs joins them: voxels labelled lung where
         * the truth has body tissue. */
        const uint8_t *lab =
            nova_volume_get_const_data(nova_lung_result_get_labels(r));
        size_t n = nova_volume_get_voxel_count(p.ct), fp = 0, lung = 0;
        for (size_t i = 0; i < n; i++) {
            bool x = lab[i] == NOVA_LUNG_RIGHT || lab[i] == NOVA_LUNG_LEFT;
            lung += p.truth[i] == 1 || p.truth[i] == 2;
            fp += x && p.truth[i] == 0;
        }
        printf("# diseased left lung: %zu voxels outside the lungs labelled "
               "lung (%.2f%% of the lungs)\n",
               fp, 100.0 * (double)fp / (double)lung);
        CHECK(fp * 50 < lung);
        /* The growth runs slice by slice over the pool: one thread gives
         * the same labels and zones. */
        NovaLungResult *r1 = nova_chest_segment_lungs(&err, NULL, p.ct, NULL);
        CHECK_OK(err);
        if (r1) {
            CHECK(memcmp(lab,
                         nova_volume_get_const_data(
                             nova_lung_result_get_labels(r1)),
                         n) == 0);
            CHECK(
                memcmp(
                    nova_volume_get_const_data(nova_lung_result_get_zones(r)),
                    nova_volume_get_const_data(nova_lung_result_get_zones(r1)),
                    n) == 0);
            nova_lung_result_destroy(r1);
        }
        nova_lung_result_destroy(r);
    }
    NovaLungOptions o;
    nova_lung_options_init(&o);
    o.dense_lung_hu = o.air_hu;
    r = nova_chest_segment_lungs(&err, pool, p.ct, &o);
    CHECK_OK(err);
    if (r) {
        double without = lung_dice(&p, r, NOVA_LUNG_LEFT);
        printf("# diseased left lung without the growth: Dice %.4f\n", without);
        CHECK(without < with - 0.05);
        nova_lung_result_destroy(r);
    }
    free_phantom(&p);

    /* One slice whose left lung is diseased all through: no aerated
     * component is big enough to be found, yet both lungs come out with
     * their section areas. */
    p = make_phantom_at(2.5, 2.5, 15, 75, DISEASE_LEFT_ALL);
    size_t d[3];
    nova_volume_get_dims(p.ct, d);
    size_t k = (size_t)(110 / 2.5);
    NovaVolume *slice = crop(p.ct, 0, d[0], k, k + 1);
    r = nova_chest_segment_lungs(&err, NULL, slice, NULL);
    CHECK_OK(err);
    if (r) {
        unsigned f = nova_lung_result_get_flags(r);
        CHECK(!(f & (NOVA_LUNG_FLAG_NO_LEFT | NOVA_LUNG_FLAG_NO_RIGHT)));
        double s = 1 - (20.0 / 110) * (20.0 / 110);
        double want_ml = M_PI * 62 * 95 * s * 2.5 / 1000;
        double left = nova_lung_result_get_volume_ml(r, NOVA_LUNG_LEFT);
        printf("# diseased left lung, one slice: left %.2f ml, right %.2f "
               "ml, section %.2f ml\n",
               left, nova_lung_result_get_volume_ml(r, NOVA_LUNG_RIGHT),
               want_ml);
        CHECK_NEAR(left, want_ml, 0.08 * want_ml);
        CHECK_NEAR(nova_lung_result_get_volume_ml(r, NOVA_LUNG_RIGHT), want_ml,
                   0.06 * want_ml);
        nova_lung_result_destroy(r);
    }
    nova_volume_unref(slice);
    free_phantom(&p);
    nova_pool_destroy(pool);
}

/* The lungs of one DICOM slice of ../shared/data/REL (covid-ny-sbu):
 * *ct gets the slice's volume (the caller unrefs it, NULL on failure); the
 * result is NULL, with the failure recorded, when a stage fails.  The case
 * skips, saying so, when the file is absent. */
static NovaLungResult *segment_slice_or_skip(const char *rel, NovaVolume **ct)
{
    *ct = read_slice_or_skip(rel);
    NovaError *err = NULL;
    NovaLungResult *r =
        *ct ? nova_chest_segment_lungs(&err, NULL, *ct, NULL) : NULL;
    CHECK_OK(err);
    nova_error_free(err);
    return r;
}

/* Real severe COVID-19 (TCIA COVID-19-NY-SBU, A046441): diffuse ground glass
 * and reticulation in both lungs, single 2.5 mm axial slices.  Without a
 * reference mask, the image itself is the check: air-like voxels (below
 * -500 HU) not connected to the image's edge are lung, airway or the odd
 * bit of oesophagus, so at least 90% of them must be labelled; and the mask
 * must not take the chest wall or mediastinum (at most 2% of it above
 * 0 HU).  Both lungs must be found, each on its own side and neither
 * under 0.4 of the other (only an aerated part of the right lung was found
 * before the dense-lung growth: 73% and 60% of that air). */
static void test_covid_ny_sbu(void)
{
    static const char *const slices[] = {
        "chest-ct/covid-ny-sbu/A046441/axial/19001111-045.dcm",
        "chest-ct/covid-ny-sbu/A046441/axial/19010101-23.dcm",
        /* Consolidation cuts the right lung into an anterior and a
         * posterior piece, each larger than either piece of the left lung:
         * the two largest pieces were taken for the two lungs and the left
         * lung was dropped (0.667 of the inner air labelled; 0.972 now).
         * The heart leaves the left lung the smaller one in this slice
         * (10.0 against 20.6 ml). */
        "chest-ct/covid-ny-sbu/A056642/axial/19001229-053.dcm",
    };
    for (size_t s = 0; s < sizeof slices / sizeof slices[0]; s++) {
        NovaVolume *ct = NULL;
        NovaLungResult *r = segment_slice_or_skip(slices[s], &ct);
        if (r) {
            size_t d[3];
            nova_volume_get_dims(ct, d);
            size_t plane = d[0] * d[1];
            const int16_t *hu = nova_volume_get_const_data(ct);
            const uint8_t *lab =
                nova_volume_get_const_data(nova_lung_result_get_labels(r));
            /* Flood the air-like voxels from the edge of the slice. */
            uint8_t *edge_air = calloc(plane, 1);
            size_t *stack = malloc(plane * sizeof *stack), top = 0;
            for (size_t i = 0; i < plane; i++) {
                size_t x = i % d[0], y = i / d[0];
                if ((x == 0 || y == 0 || x == d[0] - 1 || y == d[1] - 1) &&
                    hu[i] < -500) {
                    edge_air[i] = 1;
                    stack[top++] = i;
                }
            }
            while (top) {
                size_t i = stack[--top], x = i % d[0], y = i / d[0];
                size_t nb[4], k = 0;
                if (x > 0)
                    nb[k++] = i - 1;
                if (x + 1 < d[0])
                    nb[k++] = i + 1;
                if (y > 0)
                    nb[k++] = i - d[0];
                if (y + 1 < d[1])
                    nb[k++] = i + d[0];
                for (size_t j = 0; j < k; j++)
                    if (!edge_air[nb[j]] && hu[nb[j]] < -500) {
                        edge_air[nb[j]] = 1;
                        stack[top++] = nb[j];
                    }
            }
            size_t inner = 0, inner_lab = 0, mask = 0, mask_dense = 0;
            double col_sum[3] = {0, 0, 0}, col_n[3] = {0, 0, 0};
            for (size_t i = 0; i < plane; i++) {
                bool lung =
                    lab[i] == NOVA_LUNG_RIGHT || lab[i] == NOVA_LUNG_LEFT;
                if (lung) {
                    col_sum[lab[i]] += (double)(i % d[0]);
                    col_n[lab[i]]++;
                }
                if (hu[i] < -500 && !edge_air[i]) {
                    inner++;
                    inner_lab += lab[i] != 0;
                }
                mask += lung;
                mask_dense += lung && hu[i] > 0;
            }
            free(edge_air);
            free(stack);
            double right = nova_lung_result_get_volume_ml(r, NOVA_LUNG_RIGHT);
            double left = nova_lung_result_get_volume_ml(r, NOVA_LUNG_LEFT);
            printf("# %s: right %.1f ml, left %.1f ml; %.3f of the inner air "
                   "labelled; %.4f of the mask above 0 HU\n",
                   slices[s], right, left, (double)inner_lab / (double)inner,
                   (double)mask_dense / (double)mask);
            CHECK(right > 0.4 * left && left > 0.4 * right);
            CHECK((double)inner_lab >= 0.9 * (double)inner);
            /* Axial slices in the standard orientation (rows along +x,
             * the patient's left): the left lung lies at larger columns. */
            CHECK(col_n[1] > 0 && col_n[2] > 0 &&
                  col_sum[2] / col_n[2] > col_sum[1] / col_n[1] + 100);
            CHECK(mask_dense * 50 <= mask);
            nova_lung_result_destroy(r);
        }
        nova_volume_unref(ct);
    }
}

/* A 7 x 7 voxel patch of a covid-ny-sbu slice, read from the image (row
 * and column of the DICOM pixel matrix), whose mean HU must lie in
 * hu_lo..hu_hi (so that a change in how the slice is loaded cannot make
 * the check pass on something else): with want 0 no voxel of it may be
 * labelled; otherwise all must carry label want. */
struct patch_probe {
    const char *slice;
    size_t row, col;
    double hu_lo, hu_hi; /* the patch's mean HU, as read */
};

static void check_patch(const struct patch_probe *p, uint8_t want)
{
    NovaVolume *ct = NULL;
    NovaLungResult *r = segment_slice_or_skip(p->slice, &ct);
    if (r) {
        size_t d[3];
        nova_volume_get_dims(ct, d);
        const int16_t *hu = nova_volume_get_const_data(ct);
        const uint8_t *lab =
            nova_volume_get_const_data(nova_lung_result_get_labels(r));
        long sum = 0;
        size_t n = 0, in = 0;
        for (size_t y = p->row - 3; y <= p->row + 3; y++)
            for (size_t x = p->col - 3; x <= p->col + 3; x++) {
                size_t i = y * d[0] + x;
                sum += hu[i];
                n++;
                in += want ? lab[i] == want : lab[i] != 0;
            }
        double mean = (double)sum / (double)n;
        printf("# %s: patch at row %zu, column %zu: mean %.0f HU, %zu of "
               "%zu voxels %s\n",
               p->slice, p->row, p->col, mean, in, n,
               want ? "of that lung" : "labelled");
        CHECK(d[0] == 512 && d[1] == 512);
        CHECK(mean >= p->hu_lo && mean <= p->hu_hi);
        CHECK(want ? in == n : in == 0);
        nova_lung_result_destroy(r);
    }
    nova_volume_unref(ct);
}

/* Chest wall and heart that widened consolidation rules took in (issue 6,
 * round 2; docs/chest.md, limits): a 7 x 7 voxel patch must stay outside
 * the lungs.  The patches were read from the images (HU window -1000..200
 * and -100..200, row and column of the DICOM pixel matrix) and hold soft
 * tissue: the test checks their mean HU too, so that a change in how the
 * slice is loaded cannot make the check pass on air.
 *   - A098752 19010127-128 (contrast study), row 317, column 84: the
 *     lateral chest wall between the scapula and the ribs of the right
 *     side (mean 34 HU).  Letting the paths of step 5b cross fat-band
 *     blocks (-150 to -50 HU) that have aerated blocks around them took
 *     in 931 voxels around it, and letting paths that run backwards cross
 *     any fat-band block took in 1536.
 *   - A046441 19001111-045, row 205, column 330: the heart beside the left
 *     lung, in front (mean 43 HU).  Counting blocks below -175 HU as
 *     aerated in the growth of step 4 took in 2756 voxels here. */
static void test_covid_ny_sbu_wall(void)
{
    static const struct patch_probe probes[] = {
        {"chest-ct/covid-ny-sbu/A098752/axial/19010127-128.dcm", 317, 84, 20,
         50},
        {"chest-ct/covid-ny-sbu/A046441/axial/19001111-045.dcm", 205, 330, 30,
         60},
    };
    for (size_t s = 0; s < sizeof probes / sizeof probes[0]; s++)
        check_patch(&probes[s], 0);
}

/* An abdominal slice (covid-ny-sbu A058062 19010108-078, kidneys and
 * colon): its only air is gas in the transverse colon, in front of the
 * body's centre.  The two largest pockets on one side were taken for one
 * lung, the closing joined them across the bowel wall and the analysis
 * read it as consolidation (atypical, CO-RADS 2).  No voxel may be lung. */
static void test_covid_ny_sbu_bowel(void)
{
    NovaVolume *ct = NULL;
    NovaLungResult *r = segment_slice_or_skip(
        "chest-ct/covid-ny-sbu/A058062/axial/19010108-078.dcm", &ct);
    if (r) {
        const uint8_t *lab =
            nova_volume_get_const_data(nova_lung_result_get_labels(r));
        size_t n = nova_volume_get_voxel_count(ct), lung = 0;
        for (size_t i = 0; i < n; i++)
            lung += lab[i] == NOVA_LUNG_RIGHT || lab[i] == NOVA_LUNG_LEFT;
        unsigned f = nova_lung_result_get_flags(r);
        printf("# A058062 19010108-078: %zu lung voxels, flags 0x%x\n", lung,
               f);
        CHECK(lung == 0);
        CHECK((f & NOVA_LUNG_FLAG_NO_RIGHT) && (f & NOVA_LUNG_FLAG_NO_LEFT));
        nova_lung_result_destroy(r);
    }
    nova_volume_unref(ct);
}

/* Dependent consolidation between the lung and the posterior ribs of a
 * single slice (step 5c of docs/chest.md): patches that were outside the
 * lungs before the rib-cage rule and must now be lung; the mean HU checks
 * that the patch is the consolidation, not aerated lung. */
static void test_covid_ny_sbu_dependent(void)
{
    static const struct patch_probe probes[] = {
        /* The dependent band of the right lung: -84 HU. */
        {"chest-ct/covid-ny-sbu/A046441/axial/19001111-045.dcm", 369, 144,
         -110, -60},
        /* The posterior half of the right lung: -180 HU. */
        {"chest-ct/covid-ny-sbu/A046441/axial/19010101-23.dcm", 320, 139,
         -210, -150},
    };
    for (size_t s = 0; s < sizeof probes / sizeof probes[0]; s++)
        check_patch(&probes[s], NOVA_LUNG_RIGHT);
}

static void test_single_slice_and_crop(void)
{
    struct phantom p = make_phantom(2.5, 2.5, 15);
    size_t d[3];
    nova_volume_get_dims(p.ct, d);
    NovaError *err = NULL;
    /* One axial slice through the lesion (z = 110 mm). */
    size_t k = (size_t)(110 / 2.5);
    NovaVolume *slice = crop(p.ct, 0, d[0], k, k + 1);
    NovaLungResult *r = nova_chest_segment_lungs(&err, NULL, slice, NULL);
    CHECK_OK(err);
    if (r) {
        unsigned f = nova_lung_result_get_flags(r);
        CHECK(f & NOVA_LUNG_FLAG_SINGLE_SLICE);
        CHECK(!(f & (NOVA_LUNG_FLAG_NO_LEFT | NOVA_LUNG_FLAG_NO_RIGHT)));
        /* Each lung's section is an ellipse of 62 x 95 mm scaled by the
         * ellipsoid's height at 110 mm: sqrt(1 - (20/110)^2). */
        double s = 1 - (20.0 / 110) * (20.0 / 110);
        double area_mm2 = M_PI * 62 * 95 * s;
        double want_ml = area_mm2 * 2.5 / 1000;
        CHECK_NEAR(nova_lung_result_get_volume_ml(r, NOVA_LUNG_LEFT), want_ml,
                   0.06 * want_ml);
        CHECK_NEAR(nova_lung_result_get_volume_ml(r, NOVA_LUNG_RIGHT), want_ml,
                   0.06 * want_ml);
        nova_lung_result_destroy(r);
    }
    nova_volume_unref(slice);

    /* A lateral crop through the right lung (x < 150 mm): the right lung
     * only, reported as cut by the field of view. */
    NovaVolume *half = crop(p.ct, 0, (size_t)(150 / 2.5), 0, d[2]);
    r = nova_chest_segment_lungs(&err, NULL, half, NULL);
    CHECK_OK(err);
    if (r) {
        unsigned f = nova_lung_result_get_flags(r);
        CHECK(f & NOVA_LUNG_FLAG_NO_LEFT);
        CHECK(f & NOVA_LUNG_FLAG_CROP_SIDE);
        CHECK(nova_lung_result_get_volume_ml(r, NOVA_LUNG_RIGHT) > 500);
        CHECK(nova_lung_result_get_warning_count(r) >= 2);
        nova_lung_result_destroy(r);
    }
    nova_volume_unref(half);

    /* Soft tissue only (no air at all): no lungs, said so, no failure. */
    NovaVolume *body = crop(p.ct, 0, d[0], 0, 5);
    r = nova_chest_segment_lungs(&err, NULL, body, NULL);
    CHECK_OK(err);
    if (r) {
        CHECK_EQ_INT(nova_lung_result_get_volume_ml(r, NOVA_LUNG_NONE), 0);
        CHECK(nova_lung_result_get_flags(r) & NOVA_LUNG_FLAG_NO_LEFT);
        CHECK(nova_lung_result_get_warning_count(r) >= 1);
        nova_lung_result_destroy(r);
    }
    nova_volume_unref(body);
    free_phantom(&p);

    /* Wrong dtype is an error, not a crash. */
    size_t fd[3] = {4, 4, 4};
    NovaVolume *fv = nova_volume_create(&err, NOVA_DTYPE_FLOAT32, fd, NULL);
    CHECK(nova_chest_segment_lungs(&err, NULL, fv, NULL) == NULL);
    CHECK(err && nova_error_code(err) == NOVA_ERROR_INVALID);
    nova_error_clear(&err);
    nova_volume_unref(fv);
}

/* nova_lung_result_get_box holds every lung voxel and is no more than a
 * coarse block (at most 8 voxels) larger than their exact extent. */
static void check_box(const NovaLungResult *r)
{
    const NovaVolume *v = nova_lung_result_get_labels(r);
    const uint8_t *lab = nova_volume_get_const_data(v);
    size_t d[3], lo[3], hi[3], elo[3] = {SIZE_MAX, SIZE_MAX, SIZE_MAX},
                               ehi[3] = {0, 0, 0};
    nova_volume_get_dims(v, d);
    for (size_t z = 0, i = 0; z < d[2]; z++)
        for (size_t y = 0; y < d[1]; y++)
            for (size_t x = 0; x < d[0]; x++, i++) {
                if (lab[i] != NOVA_LUNG_RIGHT && lab[i] != NOVA_LUNG_LEFT)
                    continue;
                size_t p[3] = {x, y, z};
                for (int a = 0; a < 3; a++) {
                    if (p[a] < elo[a])
                        elo[a] = p[a];
                    if (p[a] > ehi[a])
                        ehi[a] = p[a];
                }
            }
    bool has = nova_lung_result_get_box(r, lo, hi);
    CHECK_EQ_INT(has, elo[0] != SIZE_MAX);
    for (int a = 0; has && a < 3; a++) {
        CHECK(lo[a] <= elo[a] && hi[a] >= ehi[a]);
        CHECK(elo[a] - lo[a] <= 8 && hi[a] - ehi[a] <= 8);
    }
}

/* A phantom of kind made with the options po (dims, seed); NULL, reported
 * as a failure, if it cannot be made. */
static NovaPhantom *make_nova_phantom(NovaPool *pool, NovaPhantomOptions *po,
                                      const size_t dims[3], uint64_t seed,
                                      NovaPhantomKind kind)
{
    NovaError *err = NULL;
    nova_phantom_options_init(po);
    memcpy(po->dims, dims, sizeof po->dims);
    po->seed = seed;
    po->kind = kind;
    NovaPhantom *ph = nova_phantom_create(&err, po, pool);
    CHECK_OK(err);
    nova_error_clear(&err);
    return ph;
}

/* Phantoms: Dice of both lungs against the truth's lobes, vessels and
 * lesions, airway voxels (label 6: lumen and wall, inside the lungs or not)
 * left out of the comparison (the issue asks for 0.98); both lungs on their
 * side; the volume within 3% of the truth's lobe volumes where no lobar
 * consolidation changes what "lung" covers.
 *
 * Bacterial lobar consolidation fills much of a lobe against the chest
 * wall (issue 6: it must not be cut out).  Seeds 1 (right lower lobe,
 * posterior) and 3 (left lower lobe, lateral, against the heart) are held
 * to 0.98 at three sizes with three quarters of the consolidation inside.
 * Seed 2 (consolidation lateral to the stomach and spleen with aerated
 * lung only behind it) reaches 0.98 at three sizes since the liver and
 * spleen domes are no longer filled in as holes (0.977-0.980 before), but
 * only about half of its consolidation is inside (held to 45 %).  Seed 4
 * (right middle lobe between the costal cartilage, the heart and the
 * diaphragm) gains from the cartilage counting as the wall (docs/chest.md,
 * step 5b): 0.966 -> 0.977 at 128 voxels, 0.968 -> 0.981 at 160 with two
 * thirds inside (38 % before); and from the pericardial fat ending paths
 * through the wedge against the heart: 0.977 -> 0.981 at 128, 0.980 ->
 * 0.984 at 160, 0.978 -> 0.985 at 192, 77-81 % inside (62-69 % before),
 * so it is held to 0.98 and three quarters at three sizes too. */
static void test_phantoms(void)
{
    struct {
        size_t dims[3];
        uint64_t seed;
        NovaPhantomKind kind;
        double min_dice;
        double min_inside; /* share of the consolidation in the mask */
    } cases[] = {
        {{160, 160, 100}, 1, NOVA_PHANTOM_NORMAL, 0.98, 0},
        {{160, 160, 100}, 2, NOVA_PHANTOM_COVID, 0.98, 0},
        {{200, 200, 128}, 3, NOVA_PHANTOM_COVID, 0.98, 0},
        {{128, 128, 80}, 1, NOVA_PHANTOM_BACTERIAL, 0.98, 0.75},
        {{160, 160, 100}, 1, NOVA_PHANTOM_BACTERIAL, 0.98, 0.75},
        {{192, 192, 120}, 1, NOVA_PHANTOM_BACTERIAL, 0.98, 0.75},
        {{160, 160, 100}, 3, NOVA_PHANTOM_BACTERIAL, 0.98, 0.75},
        {{192, 192, 120}, 3, NOVA_PHANTOM_BACTERIAL, 0.98, 0.75},
        {{128, 128, 80}, 2, NOVA_PHANTOM_BACTERIAL, 0.98, 0.45},
        {{160, 160, 100}, 2, NOVA_PHANTOM_BACTERIAL, 0.98, 0.45},
        {{192, 192, 120}, 2, NOVA_PHANTOM_BACTERIAL, 0.98, 0.45},
        {{128, 128, 80}, 4, NOVA_PHANTOM_BACTERIAL, 0.98, 0.75},
        {{160, 160, 100}, 4, NOVA_PHANTOM_BACTERIAL, 0.98, 0.75},
        {{192, 192, 120}, 4, NOVA_PHANTOM_BACTERIAL, 0.98, 0.75},
    };
    NovaError *err = NULL;
    NovaPool *pool = nova_pool_create(&err, 2);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        NovaPhantomOptions po;
        NovaPhantom *ph = make_nova_phantom(pool, &po, cases[c].dims,
                                            cases[c].seed, cases[c].kind);
        if (!ph)
            continue;
        const NovaVolume *ct = nova_phantom_get_ct(ph);
        NovaLungResult *r = nova_chest_segment_lungs(&err, pool, ct, NULL);
        CHECK_OK(err);
        if (!r) {
            nova_phantom_destroy(ph);
            continue;
        }
        const uint8_t *t =
            nova_volume_get_const_data(nova_phantom_get_labels(ph));
        const uint8_t *lab =
            nova_volume_get_const_data(nova_lung_result_get_labels(r));
        check_box(r);
        size_t n = nova_volume_get_voxel_count(ct), a = 0, b = 0, ab = 0;
        size_t wrong_side = 0, lesion = 0, lesion_in = 0;
        for (size_t i = 0; i < n; i++) {
            if (t[i] == NOVA_LABEL_AIRWAY)
                continue;
            bool x = lab[i] == NOVA_LUNG_RIGHT || lab[i] == NOVA_LUNG_LEFT;
            bool y = (t[i] >= NOVA_LABEL_RIGHT_UPPER_LOBE &&
                      t[i] <= NOVA_LABEL_LEFT_LOWER_LOBE) ||
                     t[i] == NOVA_LABEL_VESSEL ||
                     t[i] >= NOVA_LABEL_LESION_FIRST;
            a += x;
            b += y;
            ab += x && y;
            lesion += t[i] >= NOVA_LABEL_LESION_FIRST;
            lesion_in += x && t[i] >= NOVA_LABEL_LESION_FIRST;
            /* Lobes 1-3 are the right lung, 4-5 the left. */
            if (x && t[i] >= 1 && t[i] <= 5)
                wrong_side += (lab[i] == NOVA_LUNG_RIGHT) != (t[i] <= 3);
        }
        double dice = 2.0 * (double)ab / (double)(a + b);
        uint64_t lobes = 0;
        for (int lobe = 1; lobe <= 5; lobe++)
            lobes += nova_phantom_get_lobe_voxels(ph, lobe);
        const NovaGeometry *g = nova_volume_get_geometry(ct);
        double truth_ml = (double)lobes * g->spacing[0] * g->spacing[1] *
                          g->spacing[2] / 1000.0;
        double got_ml = nova_lung_result_get_volume_ml(r, NOVA_LUNG_NONE);
        printf("# phantom %s seed %llu %zux%zux%zu: Dice %.4f, %.1f ml vs "
               "%.1f ml, %zu voxels on the wrong side, %.1f %% of the "
               "lesion voxels in the lungs\n",
               nova_phantom_kind_name(po.kind), (unsigned long long)po.seed,
               po.dims[0], po.dims[1], po.dims[2], dice, got_ml, truth_ml,
               wrong_side,
               lesion ? 100.0 * (double)lesion_in / (double)lesion : 100.0);
        CHECK(dice >= cases[c].min_dice);
        if (po.kind != NOVA_PHANTOM_BACTERIAL)
            CHECK(fabs(got_ml - truth_ml) <= 0.03 * truth_ml);
        else
            /* Seeds 1, 3 and 4: at least three quarters of the
             * consolidation is inside the lung mask (1 % before the
             * consolidation fill). */
            CHECK((double)lesion_in >=
                  cases[c].min_inside * (double)lesion);
        CHECK(wrong_side * 1000 < ab);
        nova_lung_result_destroy(r);
        nova_phantom_destroy(ph);
    }
    nova_pool_destroy(pool);
}

/* A bacterial pneumonia phantom is lobar consolidation without ground
 * glass: RSNA "atypical" for COVID-19 (Simpson et al. 2020; DOMAIN.md),
 * CO-RADS 2, not negative as when the lung mask cut the consolidation
 * out.  The findings behind it: one consolidation, on the truth lesion's
 * side, its volume within 15 % of the truth's, filling a lobe (the
 * lobar/segmental consolidation finding), and far more consolidation than
 * ground glass. */
static void test_bacterial_assessment(void)
{
    struct {
        size_t dims[3];
        uint64_t seed;
    } cases[] = {{{128, 128, 80}, 1}, {{160, 160, 100}, 3}};
    NovaError *err = NULL;
    NovaPool *pool = nova_pool_create(&err, 2);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        NovaPhantomOptions po;
        NovaPhantom *ph = make_nova_phantom(
            pool, &po, cases[c].dims, cases[c].seed, NOVA_PHANTOM_BACTERIAL);
        if (!ph)
            continue;
        /* The lobar lesion is the phantom's first (src/lib/phantom/model.c,
         * place_bacterial). */
        CHECK(nova_phantom_get_lesion_count(ph) >= 1);
        const NovaPhantomLesion *truth = nova_phantom_get_lesion(ph, 0);
        NovaLungResult *lungs = NULL;
        NovaAnalysis *an = analyse(pool, nova_phantom_get_ct(ph), &lungs);
        if (an && truth) {
            const NovaFindings *f = nova_analysis_get_findings(an);
            const NovaMeasures *m = nova_analysis_get_measures(an);
            const NovaLesion *big = nova_analysis_get_lesion(an, 0);
            int truth_lung = truth->lobe <= NOVA_LABEL_RIGHT_LOWER_LOBE
                                 ? NOVA_LUNG_RIGHT
                                 : NOVA_LUNG_LEFT;
            printf("# bacterial seed %llu %zux%zux%zu: %s, CO-RADS %d; "
                   "largest lesion %s %.1f ml (truth %.1f ml), "
                   "consolidation %.1f ml, ground glass %.1f ml, lobar %d\n",
                   (unsigned long long)po.seed, po.dims[0], po.dims[1],
                   po.dims[2],
                   nova_rsna_category_name(nova_analysis_get_rsna(an)),
                   nova_analysis_get_corads(an),
                   big ? nova_lesion_kind_name(big->type) : "none",
                   big ? big->volume_ml : 0.0, truth->volume_ml,
                   m->consolidation_ml, m->ggo_ml, f->lobar_consolidation);
            CHECK_EQ_INT(nova_analysis_get_rsna(an), NOVA_RSNA_ATYPICAL);
            CHECK_EQ_INT(nova_analysis_get_corads(an), 2);
            CHECK(f->lobar_consolidation);
            CHECK(m->consolidation_ml > 10 * m->ggo_ml);
            CHECK(big != NULL);
            if (big) {
                CHECK_EQ_INT(big->type, NOVA_LESION_KIND_CONSOLIDATION);
                CHECK_EQ_INT(big->lung, truth_lung);
                CHECK(fabs(big->volume_ml - truth->volume_ml) <=
                      0.15 * truth->volume_ml);
            }
        }
        nova_analysis_destroy(an);
        nova_lung_result_destroy(lungs);
        nova_phantom_destroy(ph);
    }
    nova_pool_destroy(pool);
}

int main(void)
{
    RUN(test_phantoms);
    RUN(test_bacterial_assessment);
    RUN(test_synthetic_chest);
    RUN(test_single_slice_and_crop);
    RUN(test_dense_lung);
    RUN(test_covid_ny_sbu);
    RUN(test_covid_ny_sbu_wall);
    RUN(test_covid_ny_sbu_bowel);
    RUN(test_covid_ny_sbu_dependent);
    RUN(test_cip_ct64);
    RUN(test_totalseg_abdomen);
    RUN(test_totalseg_dicom);
    RUN(test_ibsi_crop);
    return test_done();
}
