/*
 * test_effusion.c - the pleural effusion of the phantom (nova/phantom.h,
 * effusion_ml) and its detector (src/lib/chest/effusion.c, the findings
 * of nova/analysis.h).
 *
 *   - the phantom's effusion: label 8 on the requested side only, behind
 *     that lung, 0-15 HU, its volume within 5 % of the request; phantoms
 *     without one keep the bytes they had before the option existed;
 *   - detection: 150 and 400 ml on one side (several seeds, sizes, both
 *     sides) found on that side with a volume within 25 % of the truth,
 *     absent on the other; normal, covid and bacterial phantoms absent;
 *   - real CT without a known effusion (cip-ct64, the TotalSegmentator
 *     example, the IBSI phantom): absent on both sides (skips, saying so,
 *     when ../shared/data is absent);
 *   - a single axial slice (covid-ny-sbu): not assessed.
 *
 * No real scan with a known effusion is available: docs/analysis.md.
 */
#include "nova/analysis.h"
#include "nova/chest.h"
#include "nova/nova.h"
#include "nova/phantom.h"
#include "test.h"
#include "test_chest.h"

#include <math.h>
#include <stdlib.h>

static NovaPhantom *make_noisy(NovaPool *pool, NovaPhantomKind kind,
                               uint64_t seed, size_t size, double right_ml,
                               double left_ml, double noise_hu)
{
    NovaError *err = NULL;
    NovaPhantomOptions po;
    nova_phantom_options_init(&po);
    po.kind = kind;
    po.seed = seed;
    po.dims[0] = po.dims[1] = size;
    po.dims[2] = size * 5 / 8;
    po.effusion_ml[0] = right_ml;
    po.effusion_ml[1] = left_ml;
    if (noise_hu > 0)
        po.noise_hu = noise_hu;
    NovaPhantom *ph = nova_phantom_create(&err, &po, pool);
    CHECK_OK(err);
    nova_error_free(err);
    return ph;
}

static NovaPhantom *make(NovaPool *pool, NovaPhantomKind kind, uint64_t seed,
                         size_t size, double right_ml, double left_ml)
{
    return make_noisy(pool, kind, seed, size, right_ml, left_ml, 0);
}

static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001B3ull;
    }
    return h;
}

/* Phantoms without an effusion are byte for byte those of main before the
 * option (commit 55f47d1): FNV-1a of the CT and label volumes and the UID
 * seed of 96 x 96 x 60 phantoms, seed 2, as that commit's library made
 * them.  A deliberate change of the phantom updates these figures. */
static void test_phantom_unchanged(void)
{
    static const struct {
        NovaPhantomKind kind;
        uint64_t hash, uid;
    } cases[] = {
        {NOVA_PHANTOM_NORMAL, 0x0158ab8686aae17full, 0xd5f2849f3a783e12ull},
        {NOVA_PHANTOM_COVID, 0xda9f67a83799d3c0ull, 0x616e9095131e5983ull},
        {NOVA_PHANTOM_BACTERIAL, 0x5824024f7c1a79dbull, 0xbf085b37bde16154ull},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        NovaPhantomOptions o;
        nova_phantom_options_init(&o);
        o.kind = cases[c].kind;
        o.seed = 2;
        o.dims[0] = o.dims[1] = 96;
        o.dims[2] = 60;
        NovaError *err = NULL;
        NovaPhantom *p = nova_phantom_create(&err, &o, NULL);
        CHECK_OK(err);
        nova_error_free(err);
        if (!p)
            continue;
        NovaVolume *ct = nova_phantom_get_ct(p);
        size_t n = nova_volume_get_voxel_count(ct);
        uint64_t h =
            fnv(0xCBF29CE484222325ull, nova_volume_get_const_data(ct), 2 * n);
        h = fnv(h, nova_volume_get_const_data(nova_phantom_get_labels(p)), n);
        CHECK(h == cases[c].hash);
        CHECK(nova_phantom_get_uid_seed(p) == cases[c].uid);
        CHECK(nova_phantom_get_effusion_voxels(p, 0) == 0);
        CHECK(nova_phantom_get_effusion_voxels(p, 1) == 0);
        char *json = nova_phantom_truth_json(NULL, p);
        CHECK(json && !strstr(json, "effusion"));
        nova_free(json);
        nova_phantom_destroy(p);
    }
}

/* The effusion: where it is, its density and its volume. */
static void test_phantom_effusion(void)
{
    NovaError *err = NULL;
    NovaPool *pool = nova_pool_create(&err, 2);
    NovaPhantom *p = make(pool, NOVA_PHANTOM_NORMAL, 1, 192, 400, 0);
    if (p) {
        const uint8_t *lab =
            nova_volume_get_const_data(nova_phantom_get_labels(p));
        const int16_t *hu = nova_volume_get_const_data(nova_phantom_get_ct(p));
        size_t d[3];
        nova_volume_get_dims(nova_phantom_get_ct(p), d);
        double sp =
            nova_volume_get_geometry(nova_phantom_get_ct(p))->spacing[0];
        size_t fluid = 0, fluid_left = 0, inner = 0;
        double sum = 0, y_fluid = 0, y_lung = 0, lung = 0;
        for (size_t k = 0; k < d[2]; k++)
            for (size_t j = 0; j < d[1]; j++)
                for (size_t i = 0; i < d[0]; i++) {
                    size_t at = (k * d[1] + j) * d[0] + i;
                    if (lab[at] == NOVA_LABEL_EFFUSION) {
                        fluid++;
                        /* x >= 3 mm is the phantom's left side (LPS) */
                        fluid_left += -180.0 + ((double)i + 0.5) * sp >= 3.0;
                        y_fluid += (double)j;
                        /* Density away from the partial volume of its
                         * edges: voxels whose in-plane neighbours are
                         * fluid too. */
                        if (i > 0 && j > 0 && i + 1 < d[0] && j + 1 < d[1] &&
                            lab[at - 1] == NOVA_LABEL_EFFUSION &&
                            lab[at + 1] == NOVA_LABEL_EFFUSION &&
                            lab[at - d[0]] == NOVA_LABEL_EFFUSION &&
                            lab[at + d[0]] == NOVA_LABEL_EFFUSION) {
                            sum += hu[at];
                            inner++;
                        }
                    } else if (lab[at] >= NOVA_LABEL_RIGHT_UPPER_LOBE &&
                               lab[at] <= NOVA_LABEL_RIGHT_LOWER_LOBE) {
                        lung++;
                        y_lung += (double)j;
                    }
                }
        double ml = nova_phantom_get_effusion_ml(p, 0);
        printf("# phantom effusion: %zu voxels, %.1f ml (asked 400), mean "
               "%.1f HU, rows %.0f (fluid) vs %.0f (right lung)\n",
               fluid, ml, inner ? sum / (double)inner : 0,
               fluid ? y_fluid / (double)fluid : 0, lung ? y_lung / lung : 0);
        CHECK(fluid == nova_phantom_get_effusion_voxels(p, 0));
        CHECK(nova_phantom_get_effusion_voxels(p, 1) == 0);
        CHECK(fluid_left == 0);
        CHECK_NEAR(ml, 400, 20);
        CHECK(inner > fluid / 2 && sum / (double)inner > 0 &&
              sum / (double)inner < 15);
        /* Dependent: behind the lung it displaces (rows run to the back). */
        CHECK(fluid && lung && y_fluid / (double)fluid > y_lung / lung + 20);
        char *json = nova_phantom_truth_json(NULL, p);
        CHECK(json && strstr(json, "\"effusion\"") &&
              strstr(json, "\"8\": \"effusion\""));
        nova_free(json);
    }
    nova_phantom_destroy(p);
    /* Out of range: negative, too large, more than half the lung. */
    double bad[3] = {-1, 5000, 1500};
    for (int b = 0; b < 3; b++) {
        NovaPhantomOptions po;
        nova_phantom_options_init(&po);
        po.dims[0] = po.dims[1] = 64;
        po.dims[2] = 40;
        po.effusion_ml[1] = bad[b];
        NovaError *e = NULL;
        NovaPhantom *q = nova_phantom_create(&e, &po, NULL);
        CHECK(q == NULL && e != NULL && nova_error_code(e) == NOVA_ERROR_RANGE);
        nova_error_free(e);
        nova_phantom_destroy(q);
    }
    nova_error_free(err);
    nova_pool_destroy(pool);
}

/* Phantom, lungs, analysis; the findings and the category.  False when a
 * stage failed. */
static bool detect(NovaPool *pool, NovaPhantom *p, NovaFindings *out,
                   NovaRsnaCategory *rsna)
{
    if (!p)
        return false;
    NovaLungResult *lungs = NULL;
    NovaAnalysis *an = analyse(pool, nova_phantom_get_ct(p), &lungs);
    if (an) {
        *out = *nova_analysis_get_findings(an);
        *rsna = nova_analysis_get_rsna(an);
    }
    nova_analysis_destroy(an);
    nova_lung_result_destroy(lungs);
    return an != NULL;
}

/* Issue: 150 and 400 ml on one side found there, volume within 25 %,
 * absent on the other side; also with 20 HU of noise (the default is 12),
 * found through the smoothed-spread test of effusion.c (docs/analysis.md:
 * at 25 HU 150 ml is missed). */
static void test_detect_phantom_effusion(void)
{
    static const struct {
        NovaPhantomKind kind;
        uint64_t seed;
        size_t size;
        int side;
        double ml, noise_hu;
    } cases[] = {
        {NOVA_PHANTOM_NORMAL, 1, 192, 0, 150, 0},
        {NOVA_PHANTOM_NORMAL, 2, 192, 0, 400, 0},
        {NOVA_PHANTOM_NORMAL, 3, 192, 0, 400, 0},
        {NOVA_PHANTOM_NORMAL, 1, 256, 1, 150, 0},
        {NOVA_PHANTOM_NORMAL, 3, 160, 1, 400, 0},
        {NOVA_PHANTOM_COVID, 4, 192, 0, 150, 0},
        {NOVA_PHANTOM_NORMAL, 1, 192, 0, 150, 20},
        {NOVA_PHANTOM_NORMAL, 2, 192, 0, 400, 20},
    };
    NovaError *err = NULL;
    NovaPool *pool = nova_pool_create(&err, 2);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int s = cases[c].side;
        NovaPhantom *p =
            make_noisy(pool, cases[c].kind, cases[c].seed, cases[c].size,
                       s == 0 ? cases[c].ml : 0, s == 1 ? cases[c].ml : 0,
                       cases[c].noise_hu);
        NovaFindings f;
        NovaRsnaCategory rsna;
        if (detect(pool, p, &f, &rsna)) {
            double truth = nova_phantom_get_effusion_ml(p, s);
            printf("# %s seed %llu %zu noise %.0f, %s %.0f ml (truth %.1f): "
                   "found %s %.1f ml (%+.1f %%), other side %s; %s\n",
                   nova_phantom_kind_name(cases[c].kind),
                   (unsigned long long)cases[c].seed, cases[c].size,
                   cases[c].noise_hu > 0 ? cases[c].noise_hu : 12,
                   s ? "left" : "right", cases[c].ml, truth,
                   f.effusion_present[s] ? "present" : "absent",
                   f.effusion_ml[s], 100 * (f.effusion_ml[s] / truth - 1),
                   f.effusion_present[1 - s] ? "present" : "absent",
                   nova_rsna_category_name(rsna));
            CHECK(f.effusion_assessed);
            CHECK(f.pleural_effusion);
            /* Fluid is not consolidation: a chest with an effusion and
             * no opacity is no pneumonia (lungs.c gives back the fluid
             * the closings took in; it read atypical before). */
            if (cases[c].kind == NOVA_PHANTOM_NORMAL)
                CHECK_EQ_INT(rsna, NOVA_RSNA_NEGATIVE);
            CHECK(f.effusion_present[s]);
            CHECK(!f.effusion_present[1 - s]);
            CHECK_NEAR(f.effusion_ml[s], truth, 0.25 * truth);
        }
        nova_phantom_destroy(p);
    }
    nova_error_free(err);
    nova_pool_destroy(pool);
}

/* The same CT with its rows stored back to front (direction of j along
 * -y, as in the TotalSegmentator NIfTI): the detector steps toward the
 * back whichever way the rows run, so it finds the same effusion. */
static void test_rows_reversed(void)
{
    NovaError *err = NULL;
    NovaPool *pool = nova_pool_create(&err, 2);
    NovaPhantom *p = make(pool, NOVA_PHANTOM_NORMAL, 1, 192, 400, 0);
    NovaVolume *flip = NULL;
    if (p) {
        const NovaVolume *ct = nova_phantom_get_ct(p);
        size_t d[3];
        nova_volume_get_dims(ct, d);
        NovaGeometry g = *nova_volume_get_geometry(ct);
        for (int r = 0; r < 3; r++)
            g.origin[r] +=
                g.direction[r * 3 + 1] * g.spacing[1] * (double)(d[1] - 1);
        for (int r = 0; r < 3; r++)
            g.direction[r * 3 + 1] = -g.direction[r * 3 + 1];
        flip = nova_volume_create(&err, NOVA_DTYPE_INT16, d, &g);
        CHECK_OK(err);
        if (flip) {
            const int16_t *src = nova_volume_get_const_data(ct);
            int16_t *dst = nova_volume_get_data(flip);
            for (size_t k = 0; k < d[2]; k++)
                for (size_t j = 0; j < d[1]; j++)
                    memcpy(dst + (k * d[1] + d[1] - 1 - j) * d[0],
                           src + (k * d[1] + j) * d[0], d[0] * sizeof *dst);
        }
    }
    NovaFindings a, b;
    NovaRsnaCategory rsna;
    NovaLungResult *lungs = NULL;
    NovaAnalysis *an = flip ? analyse(pool, flip, &lungs) : NULL;
    if (an && detect(pool, p, &a, &rsna)) {
        b = *nova_analysis_get_findings(an);
        printf("# rows reversed: right %s %.1f ml (rows forward %.1f ml), "
               "left %s\n",
               b.effusion_present[0] ? "present" : "absent", b.effusion_ml[0],
               a.effusion_ml[0], b.effusion_present[1] ? "present" : "absent");
        CHECK(b.effusion_assessed);
        CHECK(b.effusion_present[0] && !b.effusion_present[1]);
        CHECK_NEAR(b.effusion_ml[0], a.effusion_ml[0], 0.05 * a.effusion_ml[0]);
    }
    nova_analysis_destroy(an);
    nova_lung_result_destroy(lungs);
    nova_volume_unref(flip);
    nova_phantom_destroy(p);
    nova_error_free(err);
    nova_pool_destroy(pool);
}

static void test_phantoms_without_effusion(void)
{
    static const struct {
        NovaPhantomKind kind;
        uint64_t seed;
    } cases[] = {
        {NOVA_PHANTOM_NORMAL, 1},    {NOVA_PHANTOM_NORMAL, 2},
        {NOVA_PHANTOM_NORMAL, 3},    {NOVA_PHANTOM_COVID, 1},
        {NOVA_PHANTOM_COVID, 3},     {NOVA_PHANTOM_COVID, 5},
        {NOVA_PHANTOM_BACTERIAL, 2}, {NOVA_PHANTOM_BACTERIAL, 3},
    };
    NovaError *err = NULL;
    NovaPool *pool = nova_pool_create(&err, 2);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        NovaPhantom *p = make(pool, cases[c].kind, cases[c].seed, 192, 0, 0);
        NovaFindings f;
        NovaRsnaCategory rsna;
        if (detect(pool, p, &f, &rsna)) {
            printf("# %s seed %llu: effusion %s\n",
                   nova_phantom_kind_name(cases[c].kind),
                   (unsigned long long)cases[c].seed,
                   f.pleural_effusion ? "present" : "absent");
            CHECK(f.effusion_assessed);
            CHECK(!f.pleural_effusion);
        }
        nova_phantom_destroy(p);
    }
    nova_error_free(err);
    nova_pool_destroy(pool);
}

/* Real CT without a known effusion: absent on both sides.  Volumes are
 * read as `nova analyze` reads them (DICOM folders), plus the NIfTI of the
 * TotalSegmentator example, whose DICOM series holds no aerated lung for
 * the lung stage (test_analysis_ct.c) and so is not assessed. */
static void check_real(NovaVolume *ct, const char *what, bool assessed)
{
    NovaError *err = NULL;
    NovaPool *pool = nova_pool_create(&err, 2);
    NovaLungResult *lungs = NULL;
    NovaAnalysis *an = ct ? analyse(pool, ct, &lungs) : NULL;
    CHECK(an != NULL);
    if (an) {
        const NovaFindings *f = nova_analysis_get_findings(an);
        printf("# %s: %s%s, right %s, left %s\n", what,
               f->effusion_assessed ? "assessed" : "not assessed: ",
               f->effusion_assessed ? "" : f->effusion_note,
               f->effusion_present[0] ? "present" : "absent",
               f->effusion_present[1] ? "present" : "absent");
        CHECK(f->effusion_assessed == assessed);
        CHECK(!f->pleural_effusion);
        CHECK(!f->effusion_present[0] && !f->effusion_present[1]);
    }
    nova_analysis_destroy(an);
    nova_lung_result_destroy(lungs);
    nova_error_free(err);
    nova_pool_destroy(pool);
}

static NovaVolume *read_dicom_or_skip(const char *rel)
{
    const char *path = test_data_path(rel);
    if (!path)
        SKIP("shared data absent: %s", rel);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    NovaError *err = NULL;
    NovaVolume *ct = nova_volume_read_dicom(&err, dir, NULL, NULL);
    CHECK_OK(err);
    nova_error_free(err);
    return ct;
}

static void test_cip_ct64(void)
{
    NovaVolume *ct = read_dicom_or_skip("chest-ct/cip-ct64/dicom");
    check_real(ct, "cip-ct64", true);
    nova_volume_unref(ct);
}

static void test_ibsi(void)
{
    NovaVolume *ct = read_dicom_or_skip("chest-ct/ibsi-ct-phantom/dicom/image");
    check_real(ct, "ibsi-ct-phantom", true);
    nova_volume_unref(ct);
}

static void test_totalseg(void)
{
    NovaVolume *ct = read_dicom_or_skip("chest-ct/totalseg-example/dicom");
    check_real(ct, "totalseg-example DICOM", false);
    nova_volume_unref(ct);
    ct = read_or_skip("chest-ct/totalseg-example/example_ct.nii.gz");
    check_real(ct, "totalseg-example NIfTI", true);
    nova_volume_unref(ct);
}

/* One axial slice cannot show the fluid's extent along z: not assessed. */
static void test_single_slice(void)
{
    NovaVolume *ct = read_slice_or_skip(
        "chest-ct/covid-ny-sbu/A046441/axial/19001111-045.dcm");
    NovaLungResult *lungs = NULL;
    NovaAnalysis *an = ct ? analyse(NULL, ct, &lungs) : NULL;
    CHECK(an != NULL);
    if (an) {
        const NovaFindings *fd = nova_analysis_get_findings(an);
        printf("# single slice: %s (%s)\n",
               fd->effusion_assessed ? "assessed" : "not assessed",
               fd->effusion_note);
        CHECK(!fd->effusion_assessed);
        CHECK(!fd->pleural_effusion);
        CHECK(strstr(fd->effusion_note, "along z") != NULL);
    }
    nova_analysis_destroy(an);
    nova_lung_result_destroy(lungs);
    nova_volume_unref(ct);
}

int main(void)
{
    RUN(test_phantom_unchanged);
    RUN(test_phantom_effusion);
    RUN(test_detect_phantom_effusion);
    RUN(test_rows_reversed);
    RUN(test_phantoms_without_effusion);
    RUN(test_cip_ct64);
    RUN(test_ibsi);
    RUN(test_totalseg);
    RUN(test_single_slice);
    return test_done();
}
