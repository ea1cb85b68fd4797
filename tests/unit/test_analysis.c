/*
 * test_analysis.c - the chest pipeline end to end on synthetic phantoms
 * whose truth is known (src/lib/phantom): lung Dice, lesion volume and
 * Dice, PO of a normal chest, and the category of each kind.
 *
 * Issue 6's bounds: lung Dice 0.98 (airway voxels left out, as in
 * test_chest_lungs, which holds more bacterial seeds and sizes); normal:
 * PO under 0.5 % and negative; covid seeds 1-6 at 160-256 voxels: lesion
 * Dice 0.85, volume within 10 %, typical, CO-RADS 4-5; bacterial: not
 * typical.  Each case prints its figures.  Allocation failures inside the
 * analysis end in a clean NOVA_ERROR_NOMEM.
 */
#include "nova/analysis.h"
#include "nova/chest.h"
#include "nova/nova.h"
#include "nova/phantom.h"
#include "test.h"

#include <stdlib.h>

typedef struct {
    double lung_dice, lesion_dice, lesion_ml, truth_lesion_ml, po;
    NovaRsnaCategory rsna;
    int corads;
} Outcome;

static bool run_kind(NovaPhantomKind kind, uint64_t seed, size_t size,
                     Outcome *out)
{
    NovaError *err = NULL;
    NovaPool *pool = nova_pool_create(&err, 2);
    NovaPhantomOptions po;
    nova_phantom_options_init(&po);
    po.kind = kind;
    po.seed = seed;
    po.dims[0] = po.dims[1] = size;
    po.dims[2] = size * 5 / 8;
    NovaPhantom *ph = nova_phantom_create(&err, &po, pool);
    CHECK_OK(err);
    if (!ph) {
        nova_error_free(err);
        nova_pool_destroy(pool);
        return false;
    }
    NovaVolume *ct = nova_phantom_get_ct(ph);
    NovaLungResult *lungs = nova_chest_segment_lungs(&err, pool, ct, NULL);
    CHECK_OK(err);
    NovaAnalysis *an =
        lungs ? nova_analysis_run(&err, pool, ct, lungs, NULL, NULL) : NULL;
    CHECK_OK(err);
    bool ok = an != NULL;
    if (ok) {
        const uint8_t *truth =
            nova_volume_get_const_data(nova_phantom_get_labels(ph));
        const uint8_t *lab =
            nova_volume_get_const_data(nova_lung_result_get_labels(lungs));
        const uint8_t *les =
            nova_volume_get_const_data(nova_analysis_get_lesion_mask(an));
        size_t n = nova_volume_get_voxel_count(ct);
        size_t lt = 0, lo = 0, lboth = 0, et = 0, eo = 0, eboth = 0;
        for (size_t i = 0; i < n; i++) {
            /* Truth lung: lobes, vessels inside them and lesions.  Airway
             * voxels (label 6: trachea and bronchi, lumen and wall, inside
             * the lungs or not) are left out of the lung comparison, as in
             * test_chest_lungs: the bronchi inside a lung belong to it in
             * a lung mask, the trachea does not, and the phantom does not
             * tell them apart. */
            bool airway = truth[i] == NOVA_LABEL_AIRWAY;
            bool t_lung = truth[i] != NOVA_LABEL_NONE && !airway;
            bool o_lung = !airway && (lab[i] == NOVA_LUNG_RIGHT ||
                                      lab[i] == NOVA_LUNG_LEFT);
            lt += t_lung;
            lo += o_lung;
            lboth += t_lung && o_lung;
            bool t_les = truth[i] >= NOVA_LABEL_LESION_FIRST;
            bool o_les = les[i] != 0;
            et += t_les;
            eo += o_les;
            eboth += t_les && o_les;
        }
        const NovaGeometry *g = nova_volume_get_geometry(ct);
        double vml = g->spacing[0] * g->spacing[1] * g->spacing[2] / 1000;
        out->lung_dice = 2.0 * (double)lboth / (double)(lt + lo);
        out->lesion_dice =
            et + eo ? 2.0 * (double)eboth / (double)(et + eo) : 1.0;
        out->lesion_ml = (double)eo * vml;
        out->truth_lesion_ml = (double)et * vml;
        out->po = nova_analysis_get_measures(an)->po[0];
        out->rsna = nova_analysis_get_rsna(an);
        out->corads = nova_analysis_get_corads(an);
        printf("# %s seed %llu %zu: lung Dice %.3f, lesion Dice %.3f, "
               "lesion %.1f ml (truth %.1f), PO %.2f %%, %s, CO-RADS %d\n",
               nova_phantom_kind_name(kind), (unsigned long long)seed, size,
               out->lung_dice, out->lesion_dice, out->lesion_ml,
               out->truth_lesion_ml, out->po,
               nova_rsna_category_name(out->rsna), out->corads);
    }
    nova_error_free(err);
    nova_analysis_destroy(an);
    nova_lung_result_destroy(lungs);
    nova_phantom_destroy(ph);
    nova_pool_destroy(pool);
    return ok;
}

/* Issue 6: seed 2 at 256 voxels read indeterminate (CO-RADS 3) while an
 * 8.5 ml branching vessel tree at the right hilum, compact by its axes
 * but filling a third of its ellipsoid of inertia, was kept as a
 * consolidation on the medial edge (lesions.c, drop_central_dense). */
static void test_normal(void)
{
    static const struct {
        uint64_t seed;
        size_t size;
    } cases[] = {{1, 192}, {2, 192}, {3, 192}, {1, 160}, {2, 160},
                 {3, 160}, {1, 256}, {2, 256}, {3, 256}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        Outcome o;
        if (!run_kind(NOVA_PHANTOM_NORMAL, cases[k].seed, cases[k].size, &o))
            continue;
        CHECK(o.lung_dice >= 0.98);
        CHECK(o.po < 0.5);
        CHECK_EQ_INT(o.rsna, NOVA_RSNA_NEGATIVE);
    }
}

/* Issue 6: on covid phantoms of several seeds and sizes, lesion volume
 * within 10 % of the truth and lesion Dice at least 0.85.  Seeds 1-6, at
 * 160, 192 and 256 voxels across (1.4-2.3 mm).  Seed 4 read 0.847 while
 * the top of the liver dome, ringed in three slices by the ground glass
 * of its largest lesion, was filled into the lung as a hole (17 ml) and
 * counted with that lesion; the hole filling now gives back a dome that
 * rises from the soft tissue below the lung base (docs/chest.md, step 5):
 * 0.867.  Seed 5 at 160 voxels read 0.835 while its posterior cluster of
 * crazy paving (41 ml) was taken for a vessel bundle by the thin-bright
 * test (lesions.c, is_lesion): 0.881.  Seed 6 at 192 voxels read 0.843
 * and -10.8 % while the lung mask cut the outer 2-4 mm of subpleural
 * lesions away (2103 of its 5026 missed voxels were outside the lung);
 * the edge of diseased lung is now placed halfway between it and the wall
 * (docs/chest.md, step 6): 0.862 and -7.0 %.  Every seed at every size is
 * held now (0.862-0.928 in the last sweep). */
static void test_covid(void)
{
    static const struct {
        uint64_t seed;
        size_t size;
        double min_dice;
    } cases[] = {{1, 192, 0.85}, {2, 192, 0.85}, {3, 192, 0.85}, {4, 192, 0.85},
                 {5, 256, 0.85}, {5, 160, 0.85}, {6, 160, 0.85}, {1, 160, 0.85},
                 {2, 160, 0.85}, {3, 160, 0.85}, {4, 160, 0.85}, {1, 256, 0.85},
                 {2, 256, 0.85}, {3, 256, 0.85}, {4, 256, 0.85}, {6, 256, 0.85},
                 {5, 192, 0.85}, {6, 192, 0.85}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        Outcome o;
        if (!run_kind(NOVA_PHANTOM_COVID, cases[k].seed, cases[k].size, &o))
            continue;
        CHECK(o.lung_dice >= 0.98);
        CHECK(o.lesion_dice >= cases[k].min_dice);
        CHECK_NEAR(o.lesion_ml, o.truth_lesion_ml, 0.10 * o.truth_lesion_ml);
        CHECK_EQ_INT(o.rsna, NOVA_RSNA_TYPICAL);
        CHECK(o.corads >= 4);
    }
}

static void test_bacterial(void)
{
    Outcome o;
    if (!run_kind(NOVA_PHANTOM_BACTERIAL, 3, 192, &o))
        return;
    CHECK(o.lung_dice >= 0.98);
    CHECK(o.rsna != NOVA_RSNA_TYPICAL);
}

/* Every allocation of the analysis that fails (on the calling thread)
 * makes nova_analysis_run return NULL with NOVA_ERROR_NOMEM and nothing
 * leaked (the sanitizer build checks that); once none fails, the result
 * is the reference run's.  A 448 x 448 x 24 covid phantom: in-plane voxels
 * under 0.9 mm, so the lesion stage takes its detection grid and
 * full-resolution path, in about 30 ms a run. */
static void test_allocation_failures(void)
{
    NovaError *err = NULL;
    NovaPool *pool = nova_pool_create(&err, 2);
    NovaPhantomOptions po;
    nova_phantom_options_init(&po);
    po.kind = NOVA_PHANTOM_COVID;
    po.seed = 1;
    po.dims[0] = po.dims[1] = 448;
    po.dims[2] = 24;
    NovaPhantom *ph = nova_phantom_create(&err, &po, pool);
    CHECK_OK(err);
    NovaVolume *ct = ph ? nova_phantom_get_ct(ph) : NULL;
    NovaLungResult *lungs =
        ct ? nova_chest_segment_lungs(&err, pool, ct, NULL) : NULL;
    CHECK_OK(err);
    NovaAnalysis *ref =
        lungs ? nova_analysis_run(&err, pool, ct, lungs, NULL, NULL) : NULL;
    CHECK_OK(err);
    CHECK(ref != NULL && nova_analysis_get_lesion_count(ref) > 0);
    bool succeeded = false;
    long failures = 0;
    for (long k = 0; ref && k < 2000 && !succeeded; k++) {
        NovaError *e = NULL;
        nova_alloc_fail_after(k);
        NovaAnalysis *an = nova_analysis_run(&e, pool, ct, lungs, NULL, NULL);
        nova_alloc_fail_after(-1);
        if (an) {
            succeeded = true;
            CHECK(e == NULL);
            CHECK_EQ_INT(nova_analysis_get_lesion_count(an),
                         nova_analysis_get_lesion_count(ref));
            CHECK(nova_analysis_get_measures(an)->lesion_ml[0] ==
                  nova_analysis_get_measures(ref)->lesion_ml[0]);
        } else {
            failures++;
            CHECK(e != NULL && nova_error_code(e) == NOVA_ERROR_NOMEM);
        }
        nova_error_free(e);
        nova_analysis_destroy(an);
    }
    printf("# allocation failures: %ld runs failed cleanly before one "
           "succeeded\n",
           failures);
    CHECK(succeeded);
    CHECK(failures > 0);
    nova_analysis_destroy(ref);
    nova_lung_result_destroy(lungs);
    nova_phantom_destroy(ph);
    nova_error_free(err);
    nova_pool_destroy(pool);
}

/* The model file in the repository is the one built into the binary, and
 * its checksum is the one recorded beside it. */
static void test_model_file(void)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "cd %s/models/covid-probability && sha256sum -c --quiet "
             "SHA256SUMS",
             NOVA_SOURCE_DIR);
    CHECK_EQ_INT(system(cmd), 0);
}

int main(void)
{
    RUN(test_model_file);
    RUN(test_normal);
    RUN(test_covid);
    RUN(test_bacterial);
    RUN(test_allocation_failures);
    return test_done();
}
