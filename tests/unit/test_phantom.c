/*
 * test_phantom.c - the synthetic chest CT (nova/phantom.h): same seed gives
 * the same bytes (whatever the thread count), another seed other anatomy;
 * the truth is consistent (label volume read back from NIfTI, by Nova and
 * by nibabel in tests/phantom/check_truth.py, against the JSON); normal
 * lungs peak between -900 and -800 HU; COVID lesions are bilateral and
 * mostly in the outer third of the lung; bacterial disease is unilateral
 * consolidation; series written are valid for dciodvfy.  Lesion insertion
 * into a real scan (shared data cip-ct64) changes only lung voxels darker
 * than the lesion, reports volumes equal to its labels, and its threshold
 * lung field matches the reference lung mask.
 *
 * Phantoms here are 96x96x64 so the whole program runs in seconds.
 */
#include "test.h"

#include "nova/nova.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#define PYTHON "/usr/bin/python3"

static NovaPhantom *make(NovaPhantomKind kind, uint64_t seed, NovaPool *pool)
{
    NovaPhantomOptions o;
    nova_phantom_options_init(&o);
    o.dims[0] = 96;
    o.dims[1] = 96;
    o.dims[2] = 64;
    o.kind = kind;
    o.seed = seed;
    NovaError *e = NULL;
    NovaPhantom *p = nova_phantom_create(&e, &o, pool);
    CHECK_OK(e);
    nova_error_free(e);
    return p;
}

static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001B3ull;
    }
    return h;
}

static uint64_t file_hash(uint64_t h, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return h ^ 0xDEAD;
    uint8_t buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        h = fnv(h, buf, n);
    fclose(f);
    return h;
}

static uint64_t study_hash(const char *dir, size_t slices)
{
    uint64_t h = 0xCBF29CE484222325ull;
    char path[700];
    for (size_t k = 1; k <= slices; k++) {
        snprintf(path, sizeof path, "%s/dicom/CT%06zu.dcm", dir, k);
        h = file_hash(h, path);
    }
    snprintf(path, sizeof path, "%s/labels.nii.gz", dir);
    h = file_hash(h, path);
    snprintf(path, sizeof path, "%s/truth.json", dir);
    return file_hash(h, path);
}

static void test_same_seed_same_bytes(void)
{
    NovaError *e = NULL;
    NovaPool *pool = nova_pool_create(&e, 2);
    NovaPhantom *a = make(NOVA_PHANTOM_COVID, 11, pool);
    NovaPhantom *b = make(NOVA_PHANTOM_COVID, 11, NULL); /* one thread */
    CHECK(a && b);
    if (a && b) {
        NovaVolume *ca = nova_phantom_get_ct(a), *cb = nova_phantom_get_ct(b);
        size_t n = nova_volume_get_voxel_count(ca);
        CHECK(memcmp(nova_volume_get_const_data(ca),
                     nova_volume_get_const_data(cb), n * 2) == 0);
        CHECK(memcmp(nova_volume_get_const_data(nova_phantom_get_labels(a)),
                     nova_volume_get_const_data(nova_phantom_get_labels(b)),
                     n) == 0);
        char da[512], db[512];
        snprintf(da, sizeof da, "%s/ph-same-a", test_tmp_dir());
        snprintf(db, sizeof db, "%s/ph-same-b", test_tmp_dir());
        CHECK(nova_phantom_write(&e, a, da, NULL, pool));
        CHECK(nova_phantom_write(&e, b, db, NULL, NULL));
        CHECK_OK(e);
        uint64_t ha = study_hash(da, 64), hb = study_hash(db, 64);
        CHECK(ha == hb);
        CHECK(nova_phantom_get_uid_seed(a) == nova_phantom_get_uid_seed(b));
        /* and something really was written */
        char p[600];
        snprintf(p, sizeof p, "%s/dicom/CT000064.dcm", da);
        CHECK(access(p, R_OK) == 0);
    }
    nova_phantom_destroy(a);
    nova_phantom_destroy(b);
    nova_pool_destroy(pool);
}

static void test_different_seed(void)
{
    NovaPhantom *a = make(NOVA_PHANTOM_NORMAL, 1, NULL);
    NovaPhantom *b = make(NOVA_PHANTOM_NORMAL, 2, NULL);
    CHECK(a && b);
    if (a && b) {
        const uint8_t *la =
            nova_volume_get_const_data(nova_phantom_get_labels(a));
        const uint8_t *lb =
            nova_volume_get_const_data(nova_phantom_get_labels(b));
        size_t n = nova_volume_get_voxel_count(nova_phantom_get_labels(a));
        size_t differ = 0;
        for (size_t i = 0; i < n; i++)
            differ += la[i] != lb[i];
        /* Different habitus, lobes and trees: several percent of voxels. */
        CHECK((double)differ / (double)n > 0.02);
        /* different phantoms, different UIDs */
        CHECK(nova_phantom_get_uid_seed(a) != nova_phantom_get_uid_seed(b));
        uint64_t va = 0, vb = 0;
        for (int l = 1; l <= 5; l++) {
            va += nova_phantom_get_lobe_voxels(a, l);
            vb += nova_phantom_get_lobe_voxels(b, l);
        }
        CHECK(va != vb);
        /* plausible lungs: 2.5-7 L in total */
        double ml =
            (double)va * (360.0 / 96) * (360.0 / 96) * (320.0 / 64) / 1000.0;
        CHECK(ml > 2500 && ml < 7000);
    }
    nova_phantom_destroy(a);
    nova_phantom_destroy(b);
}

/* Lung-parenchyma HU histogram peak (10 HU bins) from the CT and labels. */
static void test_normal_histogram(void)
{
    NovaPhantom *p = make(NOVA_PHANTOM_NORMAL, 5, NULL);
    CHECK(p != NULL);
    if (!p)
        return;
    const int16_t *ct = nova_volume_get_const_data(nova_phantom_get_ct(p));
    const uint8_t *lab = nova_volume_get_const_data(nova_phantom_get_labels(p));
    size_t n = nova_volume_get_voxel_count(nova_phantom_get_ct(p));
    static uint64_t hist[300];
    memset(hist, 0, sizeof hist);
    for (size_t i = 0; i < n; i++)
        if (lab[i] >= 1 && lab[i] <= 5) {
            int b = (ct[i] + 1500) / 10;
            if (b >= 0 && b < 300)
                hist[b]++;
        }
    int best = 0;
    for (int b = 1; b < 300; b++)
        if (hist[b] > hist[best])
            best = b;
    double peak = best * 10 - 1500 + 5;
    CHECK(peak >= -900 && peak <= -800);
    nova_phantom_destroy(p);
}

static void test_truth_consistent(void)
{
    NovaError *e = NULL;
    NovaPhantom *p = make(NOVA_PHANTOM_COVID, 21, NULL);
    CHECK(p != NULL);
    if (!p)
        return;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/ph-truth", test_tmp_dir());
    CHECK(nova_phantom_write(&e, p, dir, NULL, NULL));
    CHECK_OK(e);
    char path[600];
    snprintf(path, sizeof path, "%s/labels.nii.gz", dir);
    NovaVolume *lab = nova_volume_read_nifti(&e, path);
    CHECK_OK(e);
    nova_error_clear(&e);
    size_t n_les = nova_phantom_get_lesion_count(p);
    CHECK(n_les >= 4);
    if (lab) {
        const NovaGeometry *g = nova_volume_get_geometry(lab);
        double vox_ml = g->spacing[0] * g->spacing[1] * g->spacing[2] / 1000;
        static uint64_t count[256];
        memset(count, 0, sizeof count);
        const uint8_t *l = nova_volume_get_const_data(lab);
        size_t n = nova_volume_get_voxel_count(lab);
        for (size_t i = 0; i < n; i++)
            count[l[i]]++;
        for (size_t i = 0; i < n_les; i++) {
            const NovaPhantomLesion *les = nova_phantom_get_lesion(p, i);
            CHECK(les->voxels > 0);
            CHECK_NEAR((double)count[les->label] * vox_ml, les->volume_ml,
                       vox_ml);
        }
        nova_volume_unref(lab);
    }
    /* The JSON against the NIfTI and DICOM, with nibabel and pydicom. */
    if (access(PYTHON, X_OK) != 0)
        SKIP("%s not installed", PYTHON);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "%s %s/tests/phantom/check_truth.py '%s' 2>&1",
             PYTHON, NOVA_SOURCE_DIR, dir);
    FILE *f = popen(cmd, "r");
    char out[4096] = {0};
    size_t got = f ? fread(out, 1, sizeof out - 1, f) : 0;
    out[got] = '\0';
    int st = f ? pclose(f) : -1;
    if (strstr(out, "No module named"))
        SKIP("python modules missing: %s", out);
    if (st != 0 || !strstr(out, "truth-ok"))
        test_fail(__FILE__, __LINE__, "check_truth.py: %s", out);
    nova_phantom_destroy(p);
}

/* For each lesion voxel: its lung's cross-section centroid c in that slice,
 * and the distance R from c to the lung edge along the ray through the
 * voxel; outer third when |p - c| > 2R/3. */
static void test_covid_distribution(void)
{
    NovaPhantom *p = make(NOVA_PHANTOM_COVID, 8, NULL);
    CHECK(p != NULL);
    if (!p)
        return;
    const uint8_t *lab = nova_volume_get_const_data(nova_phantom_get_labels(p));
    size_t d[3];
    nova_volume_get_dims(nova_phantom_get_labels(p), d);
    const NovaGeometry *g =
        nova_volume_get_geometry(nova_phantom_get_labels(p));
    uint64_t side_count[2] = {0, 0}, outer = 0, total = 0;
    for (size_t k = 0; k < d[2]; k++) {
        const uint8_t *s = lab + k * d[0] * d[1];
        double cx[2] = {0, 0}, cy[2] = {0, 0}, cn[2] = {0, 0};
        for (size_t j = 0; j < d[1]; j++)
            for (size_t i = 0; i < d[0]; i++) {
                uint8_t v = s[j * d[0] + i];
                if (v == 0 || v == NOVA_LABEL_AIRWAY)
                    continue;
                double x = g->origin[0] + (double)i * g->spacing[0];
                int side = x < 0 ? 0 : 1;
                cx[side] += (double)i;
                cy[side] += (double)j;
                cn[side]++;
            }
        for (size_t j = 0; j < d[1]; j++)
            for (size_t i = 0; i < d[0]; i++) {
                uint8_t v = s[j * d[0] + i];
                if (v < NOVA_LABEL_LESION_FIRST)
                    continue;
                double x = g->origin[0] + (double)i * g->spacing[0];
                int side = x < 0 ? 0 : 1;
                side_count[side]++;
                total++;
                if (cn[side] == 0)
                    continue;
                double c0 = cx[side] / cn[side], c1 = cy[side] / cn[side];
                double dx = (double)i - c0, dy = (double)j - c1;
                double r = sqrt(dx * dx + dy * dy);
                if (r < 1e-9)
                    continue;
                /* march outward until leaving the lung */
                double R = r;
                for (double t = r; t < 400; t += 0.25) {
                    long ii = lround(c0 + dx / r * t),
                         jj = lround(c1 + dy / r * t);
                    if (ii < 0 || jj < 0 || ii >= (long)d[0] ||
                        jj >= (long)d[1])
                        break;
                    uint8_t w = s[(size_t)jj * d[0] + (size_t)ii];
                    if (w == 0 || w == NOVA_LABEL_AIRWAY)
                        break;
                    R = t;
                }
                if (r > 2.0 * R / 3.0)
                    outer++;
            }
    }
    CHECK(side_count[0] > 0 && side_count[1] > 0);
    CHECK(total > 0);
    if (total > 0) {
        double frac = (double)outer / (double)total;
        if (frac <= 0.6)
            test_fail(__FILE__, __LINE__, "outer-third fraction %.3f", frac);
    }
    /* posterior and lower predominance: lesion centroids */
    double zc = 0, yc = 0, wsum = 0;
    for (size_t i = 0; i < nova_phantom_get_lesion_count(p); i++) {
        const NovaPhantomLesion *l = nova_phantom_get_lesion(p, i);
        zc += l->center_mm[2] * (double)l->voxels;
        yc += l->center_mm[1] * (double)l->voxels;
        wsum += (double)l->voxels;
    }
    CHECK(wsum > 0 && zc / wsum < 20.0 && yc / wsum > 0.0);
    nova_phantom_destroy(p);
}

static void test_bacterial(void)
{
    NovaPhantom *p = make(NOVA_PHANTOM_BACTERIAL, 4, NULL);
    CHECK(p != NULL);
    if (!p)
        return;
    size_t n_les = nova_phantom_get_lesion_count(p);
    CHECK(n_les >= 1);
    int lung = -1;
    for (size_t i = 0; i < n_les; i++) {
        const NovaPhantomLesion *l = nova_phantom_get_lesion(p, i);
        CHECK_EQ_INT(l->type, NOVA_LESION_CONSOLIDATION);
        CHECK(l->lobe >= 1 && l->lobe <= 5);
        int side = l->lobe >= 4;
        if (lung < 0)
            lung = side;
        CHECK_EQ_INT(side, lung); /* unilateral */
    }
    /* consolidation density inside the lesion labels, and air bronchograms:
     * airway voxels surrounded by lesion */
    const int16_t *ct = nova_volume_get_const_data(nova_phantom_get_ct(p));
    const uint8_t *lab = nova_volume_get_const_data(nova_phantom_get_labels(p));
    size_t n = nova_volume_get_voxel_count(nova_phantom_get_ct(p));
    double sum = 0, cnt = 0;
    for (size_t i = 0; i < n; i++)
        if (lab[i] >= NOVA_LABEL_LESION_FIRST) {
            sum += ct[i];
            cnt++;
        }
    CHECK(cnt > 0);
    if (cnt > 0)
        CHECK(sum / cnt > -150 && sum / cnt < 100);
    nova_phantom_destroy(p);
}

static void test_nodules(void)
{
    NovaPhantom *p = make(NOVA_PHANTOM_NODULES, 6, NULL);
    CHECK(p != NULL);
    if (!p)
        return;
    size_t n_les = nova_phantom_get_lesion_count(p);
    CHECK(n_les >= 2);
    bool solid = false, part = false;
    for (size_t i = 0; i < n_les; i++) {
        const NovaPhantomLesion *l = nova_phantom_get_lesion(p, i);
        solid |= l->type == NOVA_LESION_NODULE_SOLID;
        part |= l->type == NOVA_LESION_NODULE_PART_SOLID;
        CHECK(l->voxels > 0);
    }
    CHECK(solid && part);
    nova_phantom_destroy(p);
}

static void test_dciodvfy(void)
{
    if (access("/usr/bin/dciodvfy", X_OK) != 0)
        SKIP("dciodvfy (dicom3tools) not installed");
    NovaError *e = NULL;
    NovaPhantom *p = make(NOVA_PHANTOM_NODULES, 2, NULL);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/ph-dciodvfy", test_tmp_dir());
    NovaCtSeriesOptions so;
    nova_ct_series_options_init(&so);
    so.deterministic = true;
    so.uid_seed = 2;
    so.rle = true;
    CHECK(p && nova_phantom_write(&e, p, dir, &so, NULL));
    CHECK_OK(e);
    char cmd[700], out[16384] = {0};
    snprintf(cmd, sizeof cmd, "/usr/bin/dciodvfy '%s/dicom/CT000032.dcm' 2>&1",
             dir);
    FILE *f = popen(cmd, "r");
    size_t got = f ? fread(out, 1, sizeof out - 1, f) : 0;
    out[got] = '\0';
    if (f)
        pclose(f);
    if (strstr(out, "Error"))
        test_fail(__FILE__, __LINE__, "dciodvfy: %s", out);
    CHECK(strstr(out, "CTImage") != NULL);
    nova_phantom_destroy(p);
}

static void test_bad_options(void)
{
    NovaError *e = NULL;
    NovaPhantomOptions o;
    nova_phantom_options_init(&o);
    o.dims[0] = 5000;
    CHECK(nova_phantom_create(&e, &o, NULL) == NULL);
    CHECK(e && nova_error_code(e) == NOVA_ERROR_RANGE);
    nova_error_clear(&e);
    nova_phantom_options_init(&o);
    o.severity = 1.5;
    CHECK(nova_phantom_create(&e, &o, NULL) == NULL);
    CHECK(e != NULL);
    nova_error_clear(&e);
    nova_phantom_options_init(&o);
    o.lesions = 1000;
    CHECK(nova_phantom_create(&e, &o, NULL) == NULL);
    CHECK(e != NULL);
    nova_error_clear(&e);
    NovaPhantomKind k;
    CHECK(nova_phantom_kind_from_name("covid", &k) && k == NOVA_PHANTOM_COVID);
    CHECK(!nova_phantom_kind_from_name("flu", &k));
    nova_phantom_destroy(NULL);
}

/* ------------------------------------------------------------ insertion */

static NovaVolume *load_cip(NovaVolume **mask)
{
    /* test_data_path returns a static buffer: copy each result */
    char d[600], m[600];
    const char *p = test_data_path("chest-ct/cip-ct64/dicom");
    if (!p)
        SKIP("shared data chest-ct/cip-ct64 absent");
    snprintf(d, sizeof d, "%s", p);
    p = test_data_path("chest-ct/cip-ct64/wholeLung-64.nrrd");
    if (!p)
        SKIP("shared data chest-ct/cip-ct64 absent");
    snprintf(m, sizeof m, "%s", p);
    NovaError *e = NULL;
    NovaVolume *ct = nova_volume_read_dicom(&e, d, NULL, NULL);
    CHECK_OK(e);
    nova_error_clear(&e);
    *mask = nova_volume_read(&e, m);
    CHECK_OK(e);
    nova_error_free(e);
    return ct;
}

static bool mask_at(const NovaVolume *m, size_t v)
{
    const void *p = nova_volume_get_const_data(m);
    switch (nova_volume_get_dtype(m)) {
    case NOVA_DTYPE_UINT8: return ((const uint8_t *)p)[v] != 0;
    case NOVA_DTYPE_INT16: return ((const int16_t *)p)[v] != 0;
    default: return ((const float *)p)[v] != 0;
    }
}

static void test_insert_with_mask(void)
{
    NovaVolume *mask = NULL;
    NovaVolume *ct = load_cip(&mask);
    CHECK(ct && mask);
    if (!ct || !mask) {
        nova_volume_unref(ct);
        nova_volume_unref(mask);
        return;
    }
    NovaInsertOptions o;
    nova_insert_options_init(&o);
    o.lesions = 3;
    o.radius_mm = 15;
    o.seed = 3;
    NovaError *e = NULL;
    NovaInsertion *ins = nova_phantom_insert(&e, ct, mask, &o, NULL);
    CHECK_OK(e);
    nova_error_free(e);
    if (!ins) {
        nova_volume_unref(ct);
        nova_volume_unref(mask);
        return;
    }
    const int16_t *a = nova_volume_get_const_data(ct);
    const int16_t *b = nova_volume_get_const_data(nova_insertion_get_ct(ins));
    const uint8_t *lab =
        nova_volume_get_const_data(nova_insertion_get_labels(ins));
    size_t n = nova_volume_get_voxel_count(ct);
    size_t changed_outside = 0, dense_changed = 0;
    static uint64_t count[256];
    memset(count, 0, sizeof count);
    double sum_new = 0, sum_old = 0, cnt = 0;
    for (size_t v = 0; v < n; v++) {
        count[lab[v]]++;
        if (a[v] != b[v] && !mask_at(mask, v))
            changed_outside++;
        if (a[v] >= -550 + 40 && a[v] != b[v])
            dense_changed++; /* vessels and other dense voxels untouched */
        if (lab[v] >= NOVA_LABEL_LESION_FIRST) {
            CHECK(mask_at(mask, v));
            sum_new += b[v];
            sum_old += a[v];
            cnt++;
        }
    }
    CHECK_EQ_INT(changed_outside, 0);
    CHECK_EQ_INT(dense_changed, 0);
    CHECK_EQ_INT(nova_insertion_get_lesion_count(ins), 3);
    const NovaGeometry *g = nova_volume_get_geometry(ct);
    double vox_ml = g->spacing[0] * g->spacing[1] * g->spacing[2] / 1000;
    for (size_t i = 0; i < nova_insertion_get_lesion_count(ins); i++) {
        const NovaPhantomLesion *l = nova_insertion_get_lesion(ins, i);
        CHECK(l->voxels > 0);
        CHECK_EQ_INT(count[l->label], l->voxels);
        CHECK_NEAR(l->volume_ml, (double)l->voxels * vox_ml, 1e-9);
        /* about the volume of the ellipsoid it came from (irregular
         * outline, clipped to the lung) */
        double ell = 4.0 / 3.0 * M_PI * l->radius_mm[0] * l->radius_mm[1] *
                     l->radius_mm[2] / 1000.0;
        CHECK(l->volume_ml > 0.3 * ell && l->volume_ml < 1.6 * ell);
    }
    CHECK(cnt > 0);
    if (cnt > 0) {
        CHECK(sum_old / cnt < -650);         /* it was lung */
        CHECK_NEAR(sum_new / cnt, -550, 90); /* now ground glass */
    }
    char *json = nova_insertion_truth_json(&e, ins);
    CHECK(json && strstr(json, "\"schema\": \"nova.insertion/1\""));
    nova_free(json);
    nova_insertion_destroy(ins);
    nova_volume_unref(ct);
    nova_volume_unref(mask);
}

/* The threshold lung field against the reference whole-lung mask. */
static void test_insert_threshold_field(void)
{
    NovaVolume *mask = NULL;
    NovaVolume *ct = load_cip(&mask);
    CHECK(ct && mask);
    if (!ct || !mask) {
        nova_volume_unref(ct);
        nova_volume_unref(mask);
        return;
    }
    NovaInsertOptions o;
    nova_insert_options_init(&o);
    o.type = NOVA_LESION_CONSOLIDATION;
    NovaError *e = NULL;
    NovaInsertion *ins = nova_phantom_insert(&e, ct, NULL, &o, NULL);
    CHECK_OK(e);
    nova_error_free(e);
    if (ins) {
        const uint8_t *lab =
            nova_volume_get_const_data(nova_insertion_get_labels(ins));
        size_t n = nova_volume_get_voxel_count(ct);
        double inter = 0, sa = 0, sb = 0;
        for (size_t v = 0; v < n; v++) {
            bool x = lab[v] != 0, y = mask_at(mask, v);
            inter += x && y;
            sa += x;
            sb += y;
        }
        double dice = 2 * inter / (sa + sb);
        if (dice < 0.85)
            test_fail(__FILE__, __LINE__, "threshold lung field Dice %.3f",
                      dice);
        /* consolidation: lesion voxels near soft tissue density */
        const int16_t *b =
            nova_volume_get_const_data(nova_insertion_get_ct(ins));
        double s = 0, c = 0;
        for (size_t v = 0; v < n; v++)
            if (lab[v] >= NOVA_LABEL_LESION_FIRST) {
                s += b[v];
                c++;
            }
        CHECK(c > 0 && s / c > -150);
    }
    nova_insertion_destroy(ins);
    /* errors: a mask on another grid, a silly radius */
    size_t dims[3] = {4, 4, 4};
    NovaVolume *small = nova_volume_create(NULL, NOVA_DTYPE_UINT8, dims, NULL);
    CHECK(nova_phantom_insert(&e, ct, small, NULL, NULL) == NULL);
    CHECK(e && nova_error_code(e) == NOVA_ERROR_INVALID);
    nova_error_clear(&e);
    o.radius_mm = 500;
    CHECK(nova_phantom_insert(&e, ct, NULL, &o, NULL) == NULL);
    CHECK(e && nova_error_code(e) == NOVA_ERROR_RANGE);
    nova_error_clear(&e);
    nova_volume_unref(small);
    nova_volume_unref(ct);
    nova_volume_unref(mask);
}

int main(void)
{
    RUN(test_same_seed_same_bytes);
    RUN(test_different_seed);
    RUN(test_normal_histogram);
    RUN(test_truth_consistent);
    RUN(test_covid_distribution);
    RUN(test_bacterial);
    RUN(test_nodules);
    RUN(test_dciodvfy);
    RUN(test_bad_options);
    RUN(test_insert_with_mask);
    RUN(test_insert_threshold_field);
    return test_done();
}
