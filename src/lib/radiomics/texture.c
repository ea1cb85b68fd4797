/*
 * texture.c - IBSI 1 sections 3.6-3.11: GLCM, GLRLM, GLSZM, GLDZM, NGTDM
 * and NGLDM features with their aggregation methods.
 *
 * 2D methods work slice by slice in the x-y plane (8-connected, GLCM and
 * GLRLM along (1,0), (1,1), (0,1), (-1,1)); 3D methods use the 13 unique
 * directions of the 26-neighbourhood.  GLCM and GLRLM aggregate as BTW3
 * (features per slice and direction, averaged), SUJT (directions merged
 * per slice, averaged over slices), JJUI (slices merged per direction,
 * averaged over directions), ZW7Z (all merged), ITBB (3D per direction,
 * averaged) and IAZD (3D merged).  GLSZM, GLDZM, NGTDM and NGLDM aggregate
 * as 8QNN (per slice, averaged), 62GR (slices merged) and KOBO (3D).
 * Averages skip slices or directions whose matrix is empty, and undefined
 * values (NaN), as the reference implementations do.
 *
 * GLRLM, GLSZM, GLDZM and NGLDM share one set of formulas over a matrix
 * m(i, j) of grey level i and "size" j (run length, zone size, zone
 * distance, dependence count); the feature tables list them in the same
 * order, so one function computes all four.
 */
#include "radiomics_internal.h"

#include <stdlib.h>
#include <string.h>

static const int dirs2d[4][3] = {{1, 0, 0}, {1, 1, 0}, {0, 1, 0}, {-1, 1, 0}};
static const int dirs3d[13][3] = {{0, 0, 1},  {0, 1, 0}, {1, 0, 0},  {0, 1, 1},
                                  {0, 1, -1}, {1, 0, 1}, {1, 0, -1}, {1, 1, 0},
                                  {1, -1, 0}, {1, 1, 1}, {1, 1, -1}, {1, -1, 1},
                                  {1, -1, -1}};

#define N_CM 25
#define N_SZ 16

/* Running mean that skips NaN. */
typedef struct {
    double sum[N_CM + 1];
    int count[N_CM + 1];
} Avg;

static void avg_add(Avg *a, const double *v, int n)
{
    for (int k = 0; k < n; k++)
        if (!isnan(v[k])) {
            a->sum[k] += v[k];
            a->count[k]++;
        }
}

static void avg_get(const Avg *a, double *v, int n)
{
    for (int k = 0; k < n; k++)
        v[k] = a->count[k] ? a->sum[k] / a->count[k] : NAN;
}

static bool emit(NovaError **error, NovaRadiomicsFeatures *features,
                 NovaRadiomicsFeatureId first, int n,
                 NovaRadiomicsAggregation agg, const double *v)
{
    for (int k = 0; k < n; k++)
        if (!nova__features_add(error, features,
                                (NovaRadiomicsFeatureId)(first + k), agg, v[k]))
            return false;
    return true;
}

static inline bool in_box(const NovaRoi *r, long x, long y, long z)
{
    return x >= 0 && y >= 0 && z >= 0 && x < (long)r->nx && y < (long)r->ny &&
           z < (long)r->nz;
}

static inline size_t idx(const NovaRoi *r, long x, long y, long z)
{
    return ((size_t)z * r->ny + (size_t)y) * r->nx + (size_t)x;
}

/* ------------------------------------------------------------------ GLCM */

/* Symmetric co-occurrence counts along d (scaled by distance) in slices
 * [z0, z1). */
static void glcm_count(const NovaRoi *r, size_t z0, size_t z1, const int *d,
                       int dist, double *m)
{
    int ng = r->ng;
    long dx = d[0] * dist, dy = d[1] * dist, dz = d[2] * dist;
    for (size_t z = z0; z < z1; z++)
        for (size_t y = 0; y < r->ny; y++)
            for (size_t x = 0; x < r->nx; x++) {
                int g = r->grey[idx(r, (long)x, (long)y, (long)z)];
                if (!g)
                    continue;
                long xx = (long)x + dx, yy = (long)y + dy, zz = (long)z + dz;
                if (!in_box(r, xx, yy, zz) || zz < (long)z0 || zz >= (long)z1)
                    continue;
                int h = r->grey[idx(r, xx, yy, zz)];
                if (!h)
                    continue;
                m[(g - 1) * ng + (h - 1)] += 1;
                m[(h - 1) * ng + (g - 1)] += 1;
            }
}

/* Scratch for GLCM features. */
typedef struct {
    double *pi, *pdiff, *psum;
} CmWork;

/* The 25 GLCM features of IBSI 1 3.6 in table order; false when empty. */
static bool glcm_features(const double *m, int ng, CmWork *w, double *f)
{
    double total = 0;
    for (int k = 0; k < ng * ng; k++)
        total += m[k];
    if (total <= 0)
        return false;
    double *pi = w->pi, *pd = w->pdiff, *ps = w->psum;
    memset(pi, 0, (size_t)ng * sizeof *pi);
    memset(pd, 0, (size_t)ng * sizeof *pd);
    memset(ps, 0, (size_t)(2 * ng + 1) * sizeof *ps);
    double jmax = 0, mu = 0, jent = 0, asm_ = 0, contrast = 0, dissim = 0,
           id = 0, idn = 0, idm = 0, idmn = 0, autoc = 0;
    double ngd = ng;
    for (int i = 1; i <= ng; i++)
        for (int j = 1; j <= ng; j++) {
            double p = m[(i - 1) * ng + (j - 1)] / total;
            if (p == 0)
                continue;
            pi[i - 1] += p;
            pd[abs(i - j)] += p;
            ps[i + j] += p;
            jmax = p > jmax ? p : jmax;
            mu += i * p;
            jent -= p * log2(p);
            asm_ += p * p;
            double dij = i - j, ad = fabs(dij);
            contrast += dij * dij * p;
            dissim += ad * p;
            id += p / (1 + ad);
            idn += p / (1 + ad / ngd);
            idm += p / (1 + dij * dij);
            idmn += p / (1 + dij * dij / (ngd * ngd));
            autoc += (double)i * j * p;
        }
    double jvar = 0, corr = 0, ctend = 0, cshade = 0, cprom = 0, hxy1 = 0,
           hxy2 = 0, hx = 0, var_i = 0;
    /* Marginals are equal (symmetric matrix): mu_i = mu_j = mu. */
    for (int i = 1; i <= ng; i++)
        if (pi[i - 1] > 0) {
            var_i += (i - mu) * (i - mu) * pi[i - 1];
            hx -= pi[i - 1] * log2(pi[i - 1]);
        }
    for (int i = 1; i <= ng; i++)
        for (int j = 1; j <= ng; j++) {
            double pp = pi[i - 1] * pi[j - 1];
            if (pp > 0)
                hxy2 -= pp * log2(pp);
            double p = m[(i - 1) * ng + (j - 1)] / total;
            if (p == 0)
                continue;
            jvar += (i - mu) * (i - mu) * p;
            corr += (i - mu) * (j - mu) * p;
            double t = i + j - 2 * mu;
            ctend += t * t * p;
            cshade += t * t * t * p;
            cprom += t * t * t * t * p;
            hxy1 -= p * log2(pp);
        }
    double davg = 0, dvar = 0, dent = 0, invvar = 0;
    for (int k = 0; k < ng; k++) {
        davg += k * pd[k];
        if (pd[k] > 0)
            dent -= pd[k] * log2(pd[k]);
        if (k > 0)
            invvar += pd[k] / ((double)k * k);
    }
    for (int k = 0; k < ng; k++)
        dvar += (k - davg) * (k - davg) * pd[k];
    double savg = 0, svar = 0, sent = 0;
    for (int k = 2; k <= 2 * ng; k++) {
        savg += k * ps[k];
        if (ps[k] > 0)
            sent -= ps[k] * log2(ps[k]);
    }
    for (int k = 2; k <= 2 * ng; k++)
        svar += (k - savg) * (k - savg) * ps[k];
    f[0] = jmax;
    f[1] = mu;
    f[2] = jvar;
    f[3] = jent;
    f[4] = davg;
    f[5] = dvar;
    f[6] = dent;
    f[7] = savg;
    f[8] = svar;
    f[9] = sent;
    f[10] = asm_;
    f[11] = contrast;
    f[12] = dissim;
    f[13] = id;
    f[14] = idn;
    f[15] = idm;
    f[16] = idmn;
    f[17] = invvar;
    f[18] = var_i > 0 ? corr / var_i : NAN;
    f[19] = autoc;
    f[20] = ctend;
    f[21] = cshade;
    f[22] = cprom;
    f[23] = hx > 0 ? (jent - hxy1) / hx : NAN;
    f[24] = sqrt(fmax(0, 1 - exp(-2 * (hxy2 - jent))));
    return true;
}

static bool glcm_all(NovaError **error, const NovaRoi *r,
                     const NovaRadiomicsConfig *c,
                     NovaRadiomicsFeatures *features)
{
    int ng = r->ng;
    size_t nn = (size_t)ng * (size_t)ng;
    double *mats = nova_calloc(error, nn * 10, sizeof *mats);
    CmWork w = {nova_calloc(error, (size_t)ng, sizeof(double)),
                nova_calloc(error, (size_t)ng, sizeof(double)),
                nova_calloc(error, 2 * (size_t)ng + 1, sizeof(double))};
    bool ok = mats && w.pi && w.pdiff && w.psum;
    double f[N_CM];
    if (ok && (c->texture & NOVA_RADIOMICS_TEXTURE_2D)) {
        /* mats: 0-3 per direction merged over slices, 4-7 one slice per
         * direction, 8 slice merged over directions, 9 everything. */
        Avg a_btw3 = {{0}, {0}}, a_sujt = {{0}, {0}}, a_jjui = {{0}, {0}};
        memset(mats, 0, nn * 10 * sizeof *mats);
        for (size_t z = 0; z < r->nz; z++) {
            double *slice_merged = mats + 8 * nn;
            memset(slice_merged, 0, nn * sizeof *mats);
            for (int d = 0; d < 4; d++) {
                double *md = mats + (size_t)(4 + d) * nn;
                memset(md, 0, nn * sizeof *mats);
                glcm_count(r, z, z + 1, dirs2d[d], c->glcm_distance, md);
                for (size_t k = 0; k < nn; k++) {
                    slice_merged[k] += md[k];
                    mats[(size_t)d * nn + k] += md[k];
                    mats[9 * nn + k] += md[k];
                }
                if (glcm_features(md, ng, &w, f))
                    avg_add(&a_btw3, f, N_CM);
            }
            if (glcm_features(slice_merged, ng, &w, f))
                avg_add(&a_sujt, f, N_CM);
        }
        for (int d = 0; d < 4; d++)
            if (glcm_features(mats + (size_t)d * nn, ng, &w, f))
                avg_add(&a_jjui, f, N_CM);
        avg_get(&a_btw3, f, N_CM);
        ok = emit(error, features, NOVA__F_cm_joint_maximum, N_CM,
                  NOVA__AGG_2D_AVG, f);
        avg_get(&a_sujt, f, N_CM);
        ok = ok && emit(error, features, NOVA__F_cm_joint_maximum, N_CM,
                        NOVA__AGG_2D_SMRG, f);
        avg_get(&a_jjui, f, N_CM);
        ok = ok && emit(error, features, NOVA__F_cm_joint_maximum, N_CM,
                        NOVA__AGG_25D_DMRG, f);
        if (!glcm_features(mats + 9 * nn, ng, &w, f))
            for (int k = 0; k < N_CM; k++)
                f[k] = NAN;
        ok = ok && emit(error, features, NOVA__F_cm_joint_maximum, N_CM,
                        NOVA__AGG_25D_MRG, f);
    }
    if (ok && (c->texture & NOVA_RADIOMICS_TEXTURE_3D)) {
        Avg a_itbb = {{0}, {0}};
        memset(mats, 0, nn * 10 * sizeof *mats);
        double *merged = mats + 9 * nn;
        for (int d = 0; d < 13; d++) {
            double *md = mats;
            memset(md, 0, nn * sizeof *mats);
            glcm_count(r, 0, r->nz, dirs3d[d], c->glcm_distance, md);
            for (size_t k = 0; k < nn; k++)
                merged[k] += md[k];
            if (glcm_features(md, ng, &w, f))
                avg_add(&a_itbb, f, N_CM);
        }
        avg_get(&a_itbb, f, N_CM);
        ok = emit(error, features, NOVA__F_cm_joint_maximum, N_CM,
                  NOVA__AGG_3D_AVG, f);
        if (!glcm_features(merged, ng, &w, f))
            for (int k = 0; k < N_CM; k++)
                f[k] = NAN;
        ok = ok && emit(error, features, NOVA__F_cm_joint_maximum, N_CM,
                        NOVA__AGG_3D_MRG, f);
    }
    nova_free(mats);
    nova_free(w.pi);
    nova_free(w.pdiff);
    nova_free(w.psum);
    return ok;
}

/* ------------------------------------------- size-type matrix features */

/* m: ng x nj counts of (grey level i, size j), j = 1..nj; nv the number of
 * voxels the matrix describes.  The 16 features of GLRLM/GLSZM/GLDZM (and
 * the first 16 of NGLDM) in table order, plus the energy (sum p^2) in
 * f[16].  False when the matrix is empty. */
static bool size_features(const double *m, int ng, int nj, double nv, double *f)
{
    double ns = 0;
    for (size_t k = 0; k < (size_t)ng * (size_t)nj; k++)
        ns += m[k];
    if (ns <= 0)
        return false;
    double se = 0, le = 0, lg = 0, hg = 0, slg = 0, shg = 0, llg = 0, lhg = 0,
           glnu = 0, snu = 0, mu_i = 0, mu_j = 0, ent = 0, energy = 0;
    for (int i = 1; i <= ng; i++) {
        double row = 0;
        for (int j = 1; j <= nj; j++) {
            double v = m[(size_t)(i - 1) * (size_t)nj + (size_t)(j - 1)];
            if (v == 0)
                continue;
            row += v;
            double ii = (double)i * i, jj = (double)j * j;
            se += v / jj;
            le += v * jj;
            lg += v / ii;
            hg += v * ii;
            slg += v / (ii * jj);
            shg += v * ii / jj;
            llg += v * jj / ii;
            lhg += v * ii * jj;
            double p = v / ns;
            mu_i += i * p;
            mu_j += j * p;
            ent -= p * log2(p);
            energy += p * p;
        }
        glnu += row * row;
    }
    for (int j = 1; j <= nj; j++) {
        double col = 0;
        for (int i = 1; i <= ng; i++)
            col += m[(size_t)(i - 1) * (size_t)nj + (size_t)(j - 1)];
        snu += col * col;
    }
    double var_i = 0, var_j = 0;
    for (int i = 1; i <= ng; i++)
        for (int j = 1; j <= nj; j++) {
            double v = m[(size_t)(i - 1) * (size_t)nj + (size_t)(j - 1)];
            if (v == 0)
                continue;
            double p = v / ns;
            var_i += (i - mu_i) * (i - mu_i) * p;
            var_j += (j - mu_j) * (j - mu_j) * p;
        }
    f[0] = se / ns;
    f[1] = le / ns;
    f[2] = lg / ns;
    f[3] = hg / ns;
    f[4] = slg / ns;
    f[5] = shg / ns;
    f[6] = llg / ns;
    f[7] = lhg / ns;
    f[8] = glnu / ns;
    f[9] = glnu / (ns * ns);
    f[10] = snu / ns;
    f[11] = snu / (ns * ns);
    f[12] = ns / nv;
    f[13] = var_i;
    f[14] = var_j;
    f[15] = ent;
    f[16] = energy;
    return true;
}

/* ----------------------------------------------------------------- GLRLM */

static int max_run(const NovaRoi *r)
{
    size_t m = r->nx > r->ny ? r->nx : r->ny;
    return (int)(m > r->nz ? m : r->nz);
}

/* Run lengths along d in slices [z0, z1), added to m (ng x nj). */
static void glrlm_count(const NovaRoi *r, size_t z0, size_t z1, const int *d,
                        double *m, int nj)
{
    for (size_t z = z0; z < z1; z++)
        for (size_t y = 0; y < r->ny; y++)
            for (size_t x = 0; x < r->nx; x++) {
                int g = r->grey[idx(r, (long)x, (long)y, (long)z)];
                if (!g)
                    continue;
                long px = (long)x - d[0], py = (long)y - d[1],
                     pz = (long)z - d[2];
                if (in_box(r, px, py, pz) && pz >= (long)z0 && pz < (long)z1 &&
                    r->grey[idx(r, px, py, pz)] == g)
                    continue; /* not the start of a run */
                int len = 0;
                long cx = (long)x, cy = (long)y, cz = (long)z;
                while (in_box(r, cx, cy, cz) && cz >= (long)z0 &&
                       cz < (long)z1 && r->grey[idx(r, cx, cy, cz)] == g) {
                    len++;
                    cx += d[0];
                    cy += d[1];
                    cz += d[2];
                }
                m[(size_t)(g - 1) * (size_t)nj + (size_t)(len - 1)] += 1;
            }
}

static size_t roi_count(const NovaRoi *r, size_t z0, size_t z1)
{
    size_t n = 0;
    for (size_t i = z0 * r->nx * r->ny; i < z1 * r->nx * r->ny; i++)
        n += r->grey[i] != 0;
    return n;
}

static bool glrlm_all(NovaError **error, const NovaRoi *r,
                      const NovaRadiomicsConfig *c,
                      NovaRadiomicsFeatures *features)
{
    int ng = r->ng, nj = max_run(r);
    size_t nn = (size_t)ng * (size_t)nj;
    double *mats = nova_calloc(error, nn * 10, sizeof *mats);
    if (!mats)
        return false;
    bool ok = true;
    double f[N_SZ + 1];
    if (c->texture & NOVA_RADIOMICS_TEXTURE_2D) {
        Avg a_btw3 = {{0}, {0}}, a_sujt = {{0}, {0}}, a_jjui = {{0}, {0}};
        double nv_dir = 0; /* voxels per direction, summed over slices */
        for (size_t z = 0; z < r->nz; z++) {
            double nv = (double)roi_count(r, z, z + 1);
            nv_dir += nv;
            double *slice_merged = mats + 8 * nn;
            memset(slice_merged, 0, nn * sizeof *mats);
            for (int d = 0; d < 4; d++) {
                double *md = mats + (size_t)(4 + d) * nn;
                memset(md, 0, nn * sizeof *mats);
                glrlm_count(r, z, z + 1, dirs2d[d], md, nj);
                for (size_t k = 0; k < nn; k++) {
                    slice_merged[k] += md[k];
                    mats[(size_t)d * nn + k] += md[k];
                    mats[9 * nn + k] += md[k];
                }
                if (size_features(md, ng, nj, nv, f))
                    avg_add(&a_btw3, f, N_SZ);
            }
            /* Merged matrices describe every voxel once per direction. */
            if (size_features(slice_merged, ng, nj, 4 * nv, f))
                avg_add(&a_sujt, f, N_SZ);
        }
        for (int d = 0; d < 4; d++)
            if (size_features(mats + (size_t)d * nn, ng, nj, nv_dir, f))
                avg_add(&a_jjui, f, N_SZ);
        avg_get(&a_btw3, f, N_SZ);
        ok = emit(error, features, NOVA__F_rlm_short_runs_emphasis, N_SZ,
                  NOVA__AGG_2D_AVG, f);
        avg_get(&a_sujt, f, N_SZ);
        ok = ok && emit(error, features, NOVA__F_rlm_short_runs_emphasis, N_SZ,
                        NOVA__AGG_2D_SMRG, f);
        avg_get(&a_jjui, f, N_SZ);
        ok = ok && emit(error, features, NOVA__F_rlm_short_runs_emphasis, N_SZ,
                        NOVA__AGG_25D_DMRG, f);
        if (!size_features(mats + 9 * nn, ng, nj, 4 * nv_dir, f))
            for (int k = 0; k < N_SZ; k++)
                f[k] = NAN;
        ok = ok && emit(error, features, NOVA__F_rlm_short_runs_emphasis, N_SZ,
                        NOVA__AGG_25D_MRG, f);
    }
    if (ok && (c->texture & NOVA_RADIOMICS_TEXTURE_3D)) {
        Avg a_itbb = {{0}, {0}};
        memset(mats, 0, nn * 10 * sizeof *mats);
        double *merged = mats + 9 * nn;
        double nv = (double)r->n_roi;
        for (int d = 0; d < 13; d++) {
            double *md = mats;
            memset(md, 0, nn * sizeof *mats);
            glrlm_count(r, 0, r->nz, dirs3d[d], md, nj);
            for (size_t k = 0; k < nn; k++)
                merged[k] += md[k];
            if (size_features(md, ng, nj, nv, f))
                avg_add(&a_itbb, f, N_SZ);
        }
        avg_get(&a_itbb, f, N_SZ);
        ok = emit(error, features, NOVA__F_rlm_short_runs_emphasis, N_SZ,
                  NOVA__AGG_3D_AVG, f);
        if (!size_features(merged, ng, nj, 13 * nv, f))
            for (int k = 0; k < N_SZ; k++)
                f[k] = NAN;
        ok = ok && emit(error, features, NOVA__F_rlm_short_runs_emphasis, N_SZ,
                        NOVA__AGG_3D_MRG, f);
    }
    nova_free(mats);
    return ok;
}

/* ---------------------------------------------------------- GLSZM, GLDZM */

/* Distance to the ROI edge (IBSI 1 3.9): 1 for morphological-mask voxels
 * with a 6-neighbour (4 in 2D) outside the mask or the box, then +1 per
 * step inward, by breadth-first search. */
static bool distance_map(NovaError **error, const NovaRoi *r, bool two_d,
                         int *dist)
{
    size_t *queue = nova_malloc_array(error, r->n ? r->n : 1, sizeof *queue);
    if (!queue)
        return false;
    static const int nb[6][3] = {{1, 0, 0},  {-1, 0, 0}, {0, 1, 0},
                                 {0, -1, 0}, {0, 0, 1},  {0, 0, -1}};
    int n_nb = two_d ? 4 : 6;
    size_t head = 0, tail = 0;
    for (size_t z = 0; z < r->nz; z++)
        for (size_t y = 0; y < r->ny; y++)
            for (size_t x = 0; x < r->nx; x++) {
                size_t i = idx(r, (long)x, (long)y, (long)z);
                dist[i] = 0;
                if (!r->morph[i])
                    continue;
                bool edge = false;
                for (int k = 0; k < n_nb && !edge; k++) {
                    long xx = (long)x + nb[k][0], yy = (long)y + nb[k][1],
                         zz = (long)z + nb[k][2];
                    edge =
                        !in_box(r, xx, yy, zz) || !r->morph[idx(r, xx, yy, zz)];
                }
                if (edge) {
                    dist[i] = 1;
                    queue[tail++] = i;
                }
            }
    while (head < tail) {
        size_t i = queue[head++];
        long x = (long)(i % r->nx), y = (long)(i / r->nx % r->ny),
             z = (long)(i / (r->nx * r->ny));
        for (int k = 0; k < n_nb; k++) {
            long xx = x + nb[k][0], yy = y + nb[k][1], zz = z + nb[k][2];
            if (!in_box(r, xx, yy, zz))
                continue;
            size_t j = idx(r, xx, yy, zz);
            if (r->morph[j] && dist[j] == 0) {
                dist[j] = dist[i] + 1;
                queue[tail++] = j;
            }
        }
    }
    nova_free(queue);
    return true;
}

typedef struct {
    double *szm, *dzm; /* ng x max_size, ng x max_dist */
    int max_size, max_dist;
} ZoneMats;

/* Zones (8-connected in a slice for 2D, 26-connected in 3D) of slices
 * [z0, z1), added to the GLSZM and GLDZM. */
static void zone_count(const NovaRoi *r, size_t z0, size_t z1, bool two_d,
                       const int *dist, uint8_t *visited, size_t *stack,
                       ZoneMats *zm)
{
    for (size_t z = z0; z < z1; z++)
        for (size_t y = 0; y < r->ny; y++)
            for (size_t x = 0; x < r->nx; x++) {
                size_t s = idx(r, (long)x, (long)y, (long)z);
                int g = r->grey[s];
                if (!g || visited[s])
                    continue;
                size_t top = 0, size = 0;
                int dmin = INT32_MAX;
                stack[top++] = s;
                visited[s] = 1;
                while (top) {
                    size_t i = stack[--top];
                    size++;
                    if (dist[i] < dmin)
                        dmin = dist[i];
                    long cx = (long)(i % r->nx), cy = (long)(i / r->nx % r->ny),
                         cz = (long)(i / (r->nx * r->ny));
                    for (int dz = two_d ? 0 : -1; dz <= (two_d ? 0 : 1); dz++)
                        for (int dy = -1; dy <= 1; dy++)
                            for (int dx = -1; dx <= 1; dx++) {
                                long xx = cx + dx, yy = cy + dy, zz = cz + dz;
                                if (!in_box(r, xx, yy, zz) || zz < (long)z0 ||
                                    zz >= (long)z1)
                                    continue;
                                size_t j = idx(r, xx, yy, zz);
                                if (!visited[j] && r->grey[j] == g) {
                                    visited[j] = 1;
                                    stack[top++] = j;
                                }
                            }
                }
                if (dmin < 1)
                    dmin = 1;
                zm->szm[(size_t)(g - 1) * (size_t)zm->max_size + size - 1] += 1;
                zm->dzm[(size_t)(g - 1) * (size_t)zm->max_dist +
                        (size_t)(dmin - 1)] += 1;
            }
}

/* The largest zone (8-connected per slice in 2D, 26-connected in 3D):
 * sizes the GLSZM to the zones present, not to the ROI, so a fine
 * discretisation of a large ROI does not allocate levels x voxels. */
static size_t largest_zone(const NovaRoi *r, bool two_d, uint8_t *visited,
                           size_t *stack)
{
    size_t largest = 1;
    memset(visited, 0, r->n);
    for (size_t s = 0; s < r->n; s++) {
        int g = r->grey[s];
        if (!g || visited[s])
            continue;
        size_t top = 0, size = 0;
        stack[top++] = s;
        visited[s] = 1;
        while (top) {
            size_t i = stack[--top];
            size++;
            long cx = (long)(i % r->nx), cy = (long)(i / r->nx % r->ny),
                 cz = (long)(i / (r->nx * r->ny));
            for (int dz = two_d ? 0 : -1; dz <= (two_d ? 0 : 1); dz++)
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++) {
                        long xx = cx + dx, yy = cy + dy, zz = cz + dz;
                        if (!in_box(r, xx, yy, zz))
                            continue;
                        size_t j = idx(r, xx, yy, zz);
                        if (!visited[j] && r->grey[j] == g) {
                            visited[j] = 1;
                            stack[top++] = j;
                        }
                    }
        }
        largest = size > largest ? size : largest;
    }
    memset(visited, 0, r->n);
    return largest;
}

static bool zones_all(NovaError **error, const NovaRoi *r,
                      const NovaRadiomicsConfig *c,
                      NovaRadiomicsFeatures *features)
{
    int ng = r->ng;
    int *dist = nova_malloc_array(error, r->n, sizeof *dist);
    uint8_t *visited = nova_calloc(error, r->n, 1);
    size_t *stack = nova_malloc_array(error, r->n, sizeof *stack);
    ZoneMats slice = {0}, merged = {0};
    bool ok = dist && visited && stack;
    int max_dist = (int)((r->nx + r->ny + r->nz) / 2 + 2);
    double f[N_SZ + 1];
    for (int pass = 0; ok && pass < 2; pass++) {
        bool two_d = pass == 0;
        if (!(c->texture &
              (two_d ? NOVA_RADIOMICS_TEXTURE_2D : NOVA_RADIOMICS_TEXTURE_3D)))
            continue;
        int max_size = (int)largest_zone(r, two_d, visited, stack);
        ok = distance_map(error, r, two_d, dist);
        if (!ok)
            break;
        memset(visited, 0, r->n);
        size_t nsz = (size_t)ng * (size_t)max_size,
               ndz = (size_t)ng * (size_t)max_dist;
        nova_free(slice.szm);
        nova_free(slice.dzm);
        nova_free(merged.szm);
        nova_free(merged.dzm);
        slice.szm = nova_calloc(error, nsz, sizeof(double));
        slice.dzm = nova_calloc(error, ndz, sizeof(double));
        merged.szm = nova_calloc(error, nsz, sizeof(double));
        merged.dzm = nova_calloc(error, ndz, sizeof(double));
        ok = slice.szm && slice.dzm && merged.szm && merged.dzm;
        if (!ok)
            break;
        slice.max_size = merged.max_size = max_size;
        slice.max_dist = merged.max_dist = max_dist;
        if (two_d) {
            Avg a_sz = {{0}, {0}}, a_dz = {{0}, {0}};
            for (size_t z = 0; z < r->nz; z++) {
                memset(slice.szm, 0, nsz * sizeof(double));
                memset(slice.dzm, 0, ndz * sizeof(double));
                zone_count(r, z, z + 1, true, dist, visited, stack, &slice);
                double nv = (double)roi_count(r, z, z + 1);
                for (size_t k = 0; k < nsz; k++)
                    merged.szm[k] += slice.szm[k];
                for (size_t k = 0; k < ndz; k++)
                    merged.dzm[k] += slice.dzm[k];
                if (size_features(slice.szm, ng, max_size, nv, f))
                    avg_add(&a_sz, f, N_SZ);
                if (size_features(slice.dzm, ng, max_dist, nv, f))
                    avg_add(&a_dz, f, N_SZ);
            }
            avg_get(&a_sz, f, N_SZ);
            ok = emit(error, features, NOVA__F_szm_small_zone_emphasis, N_SZ,
                      NOVA__AGG_2D, f);
            if (!size_features(merged.szm, ng, max_size, (double)r->n_roi, f))
                for (int k = 0; k < N_SZ; k++)
                    f[k] = NAN;
            ok = ok && emit(error, features, NOVA__F_szm_small_zone_emphasis,
                            N_SZ, NOVA__AGG_25D, f);
            avg_get(&a_dz, f, N_SZ);
            ok =
                ok && emit(error, features, NOVA__F_dzm_small_distance_emphasis,
                           N_SZ, NOVA__AGG_2D, f);
            if (!size_features(merged.dzm, ng, max_dist, (double)r->n_roi, f))
                for (int k = 0; k < N_SZ; k++)
                    f[k] = NAN;
            ok =
                ok && emit(error, features, NOVA__F_dzm_small_distance_emphasis,
                           N_SZ, NOVA__AGG_25D, f);
        } else {
            zone_count(r, 0, r->nz, false, dist, visited, stack, &merged);
            if (!size_features(merged.szm, ng, max_size, (double)r->n_roi, f))
                for (int k = 0; k < N_SZ; k++)
                    f[k] = NAN;
            ok = emit(error, features, NOVA__F_szm_small_zone_emphasis, N_SZ,
                      NOVA__AGG_3D, f);
            if (!size_features(merged.dzm, ng, max_dist, (double)r->n_roi, f))
                for (int k = 0; k < N_SZ; k++)
                    f[k] = NAN;
            ok =
                ok && emit(error, features, NOVA__F_dzm_small_distance_emphasis,
                           N_SZ, NOVA__AGG_3D, f);
        }
    }
    nova_free(slice.szm);
    nova_free(slice.dzm);
    nova_free(merged.szm);
    nova_free(merged.dzm);
    nova_free(dist);
    nova_free(visited);
    nova_free(stack);
    return ok;
}

/* ---------------------------------------------------------- NGTDM, NGLDM */

/* Neighbourhood matrices of slices [z0, z1): NGTDM s_i and n_i (arrays of
 * ng) and the NGLDM (ng x nj, nj = neighbourhood size + 1). */
static void neighbourhood_count(const NovaRoi *r, size_t z0, size_t z1,
                                bool two_d, int dt, int dl, int alpha,
                                double *s, double *n, double *dm, int nj)
{
    int dmax = dt > dl ? dt : dl;
    for (size_t z = z0; z < z1; z++)
        for (size_t y = 0; y < r->ny; y++)
            for (size_t x = 0; x < r->nx; x++) {
                int g = r->grey[idx(r, (long)x, (long)y, (long)z)];
                if (!g)
                    continue;
                double sum = 0;
                int w = 0, dep = 1;
                int zr = two_d ? 0 : dmax;
                for (int dz = -zr; dz <= zr; dz++)
                    for (int dy = -dmax; dy <= dmax; dy++)
                        for (int dx = -dmax; dx <= dmax; dx++) {
                            if (!dx && !dy && !dz)
                                continue;
                            long xx = (long)x + dx, yy = (long)y + dy,
                                 zz = (long)z + dz;
                            if (!in_box(r, xx, yy, zz))
                                continue;
                            int h = r->grey[idx(r, xx, yy, zz)];
                            if (!h)
                                continue;
                            int cheb = abs(dx) > abs(dy) ? abs(dx) : abs(dy);
                            cheb = abs(dz) > cheb ? abs(dz) : cheb;
                            if (cheb <= dt) {
                                sum += h;
                                w++;
                            }
                            if (cheb <= dl && abs(h - g) <= alpha)
                                dep++;
                        }
                if (w > 0) {
                    s[g - 1] += fabs(g - sum / w);
                    n[g - 1] += 1;
                }
                dm[(size_t)(g - 1) * (size_t)nj + (size_t)(dep - 1)] += 1;
            }
}

/* NGTDM features (IBSI 1 3.10) in table order; false when no voxel has a
 * neighbour. */
static bool ngtdm_features(const double *s, const double *n, int ng, double *f)
{
    double nvc = 0, ssum = 0, ps = 0;
    int ngp = 0;
    for (int i = 0; i < ng; i++) {
        nvc += n[i];
        ssum += s[i];
        ngp += n[i] > 0;
    }
    if (nvc <= 0)
        return false;
    for (int i = 0; i < ng; i++)
        ps += n[i] / nvc * s[i];
    /* Coarseness: 10^6 for a flat ROI (IBSI 1 QCDE). */
    f[0] = ps > 0 ? 1 / ps : 1e6;
    double c1 = 0, busy = 0, cplx = 0, str = 0;
    for (int i = 0; i < ng; i++) {
        double pi = n[i] / nvc;
        if (pi == 0)
            continue;
        for (int j = 0; j < ng; j++) {
            double pj = n[j] / nvc;
            if (pj == 0)
                continue;
            double d = (double)(i - j);
            c1 += pi * pj * d * d;
            busy += fabs((i + 1) * pi - (j + 1) * pj);
            cplx += fabs(d) * (pi * s[i] + pj * s[j]) / (pi + pj);
            str += (pi + pj) * d * d;
        }
    }
    f[1] = ngp > 1 ? c1 / ((double)ngp * (ngp - 1)) * ssum / nvc : 0;
    f[2] = ngp > 1 && busy > 0 ? ps / busy : 0;
    f[3] = cplx / nvc;
    f[4] = ssum > 0 ? str / ssum : 0;
    return true;
}

static bool neighbourhood_all(NovaError **error, const NovaRoi *r,
                              const NovaRadiomicsConfig *c,
                              NovaRadiomicsFeatures *features)
{
    int ng = r->ng;
    int dl = c->ngldm_distance;
    int nj = (2 * dl + 1) * (2 * dl + 1) * (2 * dl + 1);
    size_t nn = (size_t)ng * (size_t)nj;
    double *s = nova_calloc(error, (size_t)ng * 4, sizeof *s);
    double *dm = nova_calloc(error, nn * 2, sizeof *dm);
    bool ok = s && dm;
    double f[N_SZ + 1];
    for (int pass = 0; ok && pass < 2; pass++) {
        bool two_d = pass == 0;
        if (!(c->texture &
              (two_d ? NOVA_RADIOMICS_TEXTURE_2D : NOVA_RADIOMICS_TEXTURE_3D)))
            continue;
        double *ss = s, *sn = s + ng, *ms = s + 2 * ng, *mn = s + 3 * ng;
        double *sdm = dm, *mdm = dm + nn;
        memset(s, 0, (size_t)ng * 4 * sizeof *s);
        memset(dm, 0, nn * 2 * sizeof *dm);
        if (two_d) {
            Avg a_t = {{0}, {0}}, a_d = {{0}, {0}};
            for (size_t z = 0; z < r->nz; z++) {
                memset(ss, 0, (size_t)ng * 2 * sizeof *s);
                memset(sdm, 0, nn * sizeof *dm);
                neighbourhood_count(r, z, z + 1, true, c->ngtdm_distance, dl,
                                    c->ngldm_alpha, ss, sn, sdm, nj);
                for (int i = 0; i < ng; i++) {
                    ms[i] += ss[i];
                    mn[i] += sn[i];
                }
                for (size_t k = 0; k < nn; k++)
                    mdm[k] += sdm[k];
                if (ngtdm_features(ss, sn, ng, f))
                    avg_add(&a_t, f, 5);
                double nv = (double)roi_count(r, z, z + 1);
                if (size_features(sdm, ng, nj, nv, f))
                    avg_add(&a_d, f, N_SZ + 1);
            }
            avg_get(&a_t, f, 5);
            ok = emit(error, features, NOVA__F_ngtdm_coarseness, 5,
                      NOVA__AGG_2D, f);
            if (!ngtdm_features(ms, mn, ng, f))
                for (int k = 0; k < 5; k++)
                    f[k] = NAN;
            ok = ok && emit(error, features, NOVA__F_ngtdm_coarseness, 5,
                            NOVA__AGG_25D, f);
            avg_get(&a_d, f, N_SZ + 1);
            ok = ok &&
                 emit(error, features, NOVA__F_ngldm_low_dependence_emphasis,
                      N_SZ + 1, NOVA__AGG_2D, f);
            if (!size_features(mdm, ng, nj, (double)r->n_roi, f))
                for (int k = 0; k < N_SZ + 1; k++)
                    f[k] = NAN;
            ok = ok &&
                 emit(error, features, NOVA__F_ngldm_low_dependence_emphasis,
                      N_SZ + 1, NOVA__AGG_25D, f);
        } else {
            neighbourhood_count(r, 0, r->nz, false, c->ngtdm_distance, dl,
                                c->ngldm_alpha, ms, mn, mdm, nj);
            if (!ngtdm_features(ms, mn, ng, f))
                for (int k = 0; k < 5; k++)
                    f[k] = NAN;
            ok = emit(error, features, NOVA__F_ngtdm_coarseness, 5,
                      NOVA__AGG_3D, f);
            if (!size_features(mdm, ng, nj, (double)r->n_roi, f))
                for (int k = 0; k < N_SZ + 1; k++)
                    f[k] = NAN;
            ok = ok &&
                 emit(error, features, NOVA__F_ngldm_low_dependence_emphasis,
                      N_SZ + 1, NOVA__AGG_3D, f);
        }
    }
    nova_free(s);
    nova_free(dm);
    return ok;
}

bool nova__texture_features(NovaError **error, const NovaRoi *roi,
                            const NovaRadiomicsConfig *config,
                            NovaRadiomicsFeatures *features)
{
    return glcm_all(error, roi, config, features) &&
           glrlm_all(error, roi, config, features) &&
           zones_all(error, roi, config, features) &&
           neighbourhood_all(error, roi, config, features);
}
