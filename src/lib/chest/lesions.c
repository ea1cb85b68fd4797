/*
 * lesions.c - ground-glass and consolidation inside the lungs, as lesions,
 * and the measures built on them (PO, PHO, zone involvement, severity).
 *
 * Method (docs/chest.md):
 *  1. Work in the bounding box of the lungs only.
 *  2. Smooth HU with a 3x3 in-plane mean to tame CT noise.
 *  3. Candidates: lung voxels whose smoothed HU lies in the opacity band,
 *     -750 to +100 HU (DOMAIN.md: GGO about -750 to -300, consolidation
 *     about -300 to +50).
 *  4. Vessel suppression: vessels are tubes a few mm across, lesions are
 *     blobs and patches.  A 2D opening with a disc of `vessel_radius_mm`
 *     (2.5 mm) removes tubes and the partial-volume shell along the pleura
 *     and fissures; the lesions' edges are then restored by keeping the
 *     candidates within that radius of what survived.
 *  5. 26-connected regions of at least `min_lesion_ml` are lesions.  Each is
 *     typed by the share of its voxels above -200 HU (the PHO threshold of
 *     Chaganti et al., Radiol Artif Intell 2020): below 25 % ground glass,
 *     above 75 % consolidation, mixed between.
 * Every stage runs over the thread pool (imgproc) or is one linear pass.
 */
#include "chest/analysis_private.h"

#include "nova/imgproc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *nova_lesion_kind_name(NovaLesionKind type)
{
    switch (type) {
    case NOVA_LESION_KIND_GGO: return "ggo";
    case NOVA_LESION_KIND_CONSOLIDATION: return "consolidation";
    case NOVA_LESION_KIND_MIXED: return "mixed";
    }
    return "unknown";
}

void nova_lesion_options_init(NovaLesionOptions *o)
{
    o->ggo_min_hu = -750;
    o->high_hu = -200;
    o->max_hu = 100;
    o->vessel_radius_mm = 2.5;
    o->min_lesion_ml = 0.1;
}

/* Bounding box of the lung labels, inclusive. */
static bool lung_bbox(const uint8_t *lab, const size_t d[3], size_t lo[3],
                      size_t hi[3])
{
    for (int a = 0; a < 3; a++) {
        lo[a] = SIZE_MAX;
        hi[a] = 0;
    }
    size_t i = 0;
    for (size_t z = 0; z < d[2]; z++)
        for (size_t y = 0; y < d[1]; y++)
            for (size_t x = 0; x < d[0]; x++, i++) {
                uint8_t l = lab[i];
                if (l != NOVA_LUNG_RIGHT && l != NOVA_LUNG_LEFT)
                    continue;
                if (x < lo[0]) lo[0] = x;
                if (x > hi[0]) hi[0] = x;
                if (y < lo[1]) lo[1] = y;
                if (y > hi[1]) hi[1] = y;
                if (z < lo[2]) lo[2] = z;
                if (z > hi[2]) hi[2] = z;
            }
    return lo[0] != SIZE_MAX;
}

typedef struct {
    const int16_t *hu;
    const uint8_t *lab;
    size_t d[3];      /* full volume */
    size_t lo[3];     /* crop origin */
    size_t c[3];      /* crop dims */
    int16_t band_lo, band_hi, dense_hu;
    uint8_t *cand;    /* crop: smoothed HU in the opacity band */
    uint8_t *dense;   /* crop: smoothed HU above dense_hu */
} CandCtx;

/* Per slice of the crop: 3x3 mean of HU (clamped at the crop edge), then
 * the band test inside the lungs. */
static void candidates_slices(void *ctx, size_t begin, size_t end, int t)
{
    CandCtx *c = ctx;
    size_t W = c->d[0], H = c->d[1];
    for (size_t kz = begin; kz < end; kz++) {
        size_t z = c->lo[2] + kz;
        const int16_t *s = c->hu + z * W * H;
        const uint8_t *l = c->lab + z * W * H;
        uint8_t *out = c->cand + kz * c->c[0] * c->c[1];
        for (size_t ky = 0; ky < c->c[1]; ky++) {
            size_t y = c->lo[1] + ky;
            size_t y0 = y > 0 ? y - 1 : y, y1 = y + 1 < H ? y + 1 : y;
            for (size_t kx = 0; kx < c->c[0]; kx++) {
                size_t x = c->lo[0] + kx;
                uint8_t lv = l[y * W + x];
                uint8_t *dense = c->dense + (out - c->cand);
                if (lv != NOVA_LUNG_RIGHT && lv != NOVA_LUNG_LEFT) {
                    out[ky * c->c[0] + kx] = 0;
                    dense[ky * c->c[0] + kx] = 0;
                    continue;
                }
                size_t x0 = x > 0 ? x - 1 : x, x1 = x + 1 < W ? x + 1 : x;
                /* Mean over lung voxels only: the chest wall and the
                 * mediastinum must not brighten the lung's edge into a
                 * false ground-glass rim. */
                int sum = 0, n = 0;
                for (size_t yy = y0; yy <= y1; yy++)
                    for (size_t xx = x0; xx <= x1; xx++) {
                        uint8_t ln = l[yy * W + xx];
                        if (ln == NOVA_LUNG_RIGHT || ln == NOVA_LUNG_LEFT) {
                            sum += s[yy * W + xx];
                            n++;
                        }
                    }
                int m = sum / n;
                out[ky * c->c[0] + kx] = m >= c->band_lo && m <= c->band_hi;
                dense[ky * c->c[0] + kx] = m > c->dense_hu;
            }
        }
    }
}

/* Per-lesion accumulators. */
typedef struct {
    size_t voxels, high, right, left, thirds[3], peripheral, posterior;
    double sum_hu, sum_idx[3];
    size_t bbox_min[3], bbox_max[3];
    size_t faces;
} Acc;

static size_t crop_index(const size_t c[3], size_t x, size_t y, size_t z)
{
    return (z * c[1] + y) * c[0] + x;
}

/* Cavitation: air (below -900 HU) enclosed by the lesion in an axial slice
 * (holes of the lesion's cross-section), at least 0.1 ml in all. */
static bool has_cavity(NovaError **error, const CandCtx *cc,
                       const uint32_t *labels, uint32_t id, const Acc *a,
                       double voxel_ml)
{
    size_t w = a->bbox_max[0] - a->bbox_min[0] + 1;
    size_t h = a->bbox_max[1] - a->bbox_min[1] + 1;
    size_t n = a->bbox_max[2] - a->bbox_min[2] + 1;
    size_t dims[3] = {w, h, n}, total = w * h * n;
    if (w < 3 || h < 3)
        return false;
    uint8_t *m = nova_malloc(error, total * 2);
    if (!m)
        return false;
    uint8_t *filled = m + total;
    for (size_t z = 0; z < n; z++)
        for (size_t y = 0; y < h; y++)
            for (size_t x = 0; x < w; x++)
                m[(z * h + y) * w + x] =
                    labels[crop_index(cc->c, a->bbox_min[0] + x,
                                      a->bbox_min[1] + y,
                                      a->bbox_min[2] + z)] == id;
    bool cavity = false;
    if (nova_imgproc_fill_holes(NULL, NULL, m, dims, true, filled)) {
        size_t air = 0;
        for (size_t z = 0; z < n; z++)
            for (size_t y = 0; y < h; y++)
                for (size_t x = 0; x < w; x++) {
                    size_t i = (z * h + y) * w + x;
                    if (!filled[i] || m[i])
                        continue;
                    size_t gx = cc->lo[0] + a->bbox_min[0] + x;
                    size_t gy = cc->lo[1] + a->bbox_min[1] + y;
                    size_t gz = cc->lo[2] + a->bbox_min[2] + z;
                    if (cc->hu[(gz * cc->d[1] + gy) * cc->d[0] + gx] < -900)
                        air++;
                }
        cavity = (double)air * voxel_ml >= 0.1;
    }
    nova_free(m);
    return cavity;
}

static int compare_volume(const void *a, const void *b)
{
    const NovaLesion *x = a, *y = b;
    return x->voxels < y->voxels ? 1 : x->voxels > y->voxels ? -1 : 0;
}

/*
 * Vessels are the dense (above -300 HU) lung voxels that are not lesions.
 * Thin ones vanish under a 3D opening of 3 mm; thick ones that touch the
 * mediastinum between the lungs are the hilar vessels.  Both, with a
 * partial-volume halo, are taken out of the candidates; thick dense regions
 * away from the hilum (consolidation) stay.
 */
static bool suppress_vessels(NovaError **error, NovaPool *pool,
                             const CandCtx *cc, const double sp[3],
                             double min_step, uint8_t *cand,
                             const uint8_t *dense, uint8_t *thick,
                             uint8_t *tmp, uint8_t *vessels, uint32_t *labels)
{
    const size_t *c = cc->c;
    size_t n = c[0] * c[1] * c[2], plane = c[0] * c[1];
    double r_dense = 3.0 > 1.01 * min_step ? 3.0 : 1.01 * min_step;
    uint32_t n_labels = 0;
    if (!nova_imgproc_morph(error, pool, NOVA_MORPH_OPEN, dense, c, sp,
                            r_dense, false, thick) ||
        !nova_imgproc_label(error, pool, thick, c, 26, labels, &n_labels))
        return false;
    uint8_t *touch = nova_calloc(error, (size_t)n_labels + 1, 1);
    if (!touch)
        return false;
    /* The mediastinum, row by row: non-lung voxels between the medial
     * edges of the two lungs. */
    for (size_t z = 0; z < c[2]; z++)
        for (size_t y = 0; y < c[1]; y++) {
            const uint8_t *row = cc->lab + ((cc->lo[2] + z) * cc->d[1] +
                                            cc->lo[1] + y) * cc->d[0] +
                                 cc->lo[0];
            long rmin = -1, rmax = -1, lmin = -1, lmax = -1;
            for (size_t x = 0; x < c[0]; x++) {
                if (row[x] == NOVA_LUNG_RIGHT) {
                    if (rmin < 0)
                        rmin = (long)x;
                    rmax = (long)x;
                } else if (row[x] == NOVA_LUNG_LEFT) {
                    if (lmin < 0)
                        lmin = (long)x;
                    lmax = (long)x;
                }
            }
            if (rmin < 0 || lmin < 0)
                continue;
            long gap_lo = rmax < lmin ? rmax : lmax;
            long gap_hi = rmax < lmin ? lmin : rmin;
            if (gap_hi - gap_lo < 2)
                continue;
            const uint32_t *lr = labels + z * plane + y * c[0];
            for (long x = gap_lo; x <= gap_hi; x++) {
                if (x < 0 || (size_t)x >= c[0])
                    continue;
                /* A thick dense voxel at the medial edge, or next to a
                 * mediastinal voxel in the rows above and below. */
                if (lr[x])
                    touch[lr[x]] = 1;
                if (y > 0 && lr[x - (long)c[0]] &&
                    row[x - (long)cc->d[0]] != NOVA_LUNG_RIGHT &&
                    row[x - (long)cc->d[0]] != NOVA_LUNG_LEFT)
                    touch[lr[x - (long)c[0]]] = 1;
                if (y + 1 < c[1] && lr[x + (long)c[0]] &&
                    row[x + (long)cc->d[0]] != NOVA_LUNG_RIGHT &&
                    row[x + (long)cc->d[0]] != NOVA_LUNG_LEFT)
                    touch[lr[x + (long)c[0]]] = 1;
            }
        }
    for (size_t i = 0; i < n; i++)
        thick[i] = thick[i] && !touch[labels[i]];
    nova_free(touch);
    /* Thick dense regions back to their full extent within the dense
     * voxels; the rest of the dense voxels are vessels. */
    if (!nova_imgproc_morph(error, pool, NOVA_MORPH_DILATE, thick, c, sp,
                            r_dense, false, tmp))
        return false;
    for (size_t i = 0; i < n; i++)
        vessels[i] = dense[i] && !tmp[i];
    /* The partial-volume halo around vessels looks like ground glass. */
    double r_halo = 1.5 > 1.01 * min_step ? 1.5 : 1.01 * min_step;
    if (!nova_imgproc_morph(error, pool, NOVA_MORPH_DILATE, vessels, c, sp,
                            r_halo, true, tmp))
        return false;
    for (size_t i = 0; i < n; i++)
        cand[i] = cand[i] && !tmp[i];
    return true;
}

bool nova__find_lesions(NovaError **error, NovaPool *pool,
                        const NovaVolume *hu, const NovaLungResult *lungs,
                        const NovaLesionOptions *o, NovaAnalysis *an)
{
    size_t d[3];
    nova_volume_get_dims(hu, d);
    const NovaGeometry *g = nova_volume_get_geometry(hu);
    const int16_t *vox = nova_volume_get_const_data(hu);
    NovaVolume *labv = nova_lung_result_get_labels(lungs);
    NovaVolume *zonev = nova_lung_result_get_zones(lungs);
    const uint8_t *lab = nova_volume_get_const_data(labv);
    const uint8_t *zones = zonev ? nova_volume_get_const_data(zonev) : NULL;
    double voxel_ml = g->spacing[0] * g->spacing[1] * g->spacing[2] / 1000.0;

    an->lesion_mask = nova_volume_create(error, NOVA_DTYPE_UINT8, d, g);
    if (!an->lesion_mask)
        return false;
    CandCtx cc = {.hu = vox, .lab = lab};
    memcpy(cc.d, d, sizeof d);
    size_t hi[3];
    if (!lung_bbox(lab, d, cc.lo, hi))
        return true; /* no lungs: no lesions */
    for (int a = 0; a < 3; a++)
        cc.c[a] = hi[a] - cc.lo[a] + 1;
    size_t n = cc.c[0] * cc.c[1] * cc.c[2];
    cc.band_lo = (int16_t)o->ggo_min_hu;
    cc.band_hi = (int16_t)o->max_hu;

    uint8_t *cand = nova_malloc(error, n * 5);
    uint32_t *labels = nova_malloc_array(error, n, sizeof *labels);
    if (!cand || !labels) {
        nova_free(cand);
        nova_free(labels);
        return false;
    }
    uint8_t *opened = cand + n, *kept = cand + 2 * n;
    cc.cand = cand;
    cc.dense = cand + 3 * n;
    cc.dense_hu = -300;
    nova_pool_parallel_for(pool, cc.c[2], candidates_slices, &cc);

    /* On coarse grids a radius below one voxel would remove nothing: open
     * with at least the in-plane voxel size. */
    double radius = o->vessel_radius_mm;
    double min_step = g->spacing[0] < g->spacing[1] ? g->spacing[0]
                                                     : g->spacing[1];
    if (radius < 1.01 * min_step)
        radius = 1.01 * min_step;
    bool ok = suppress_vessels(error, pool, &cc, g->spacing, min_step, cand,
                               cc.dense, opened, kept, cand + 4 * n, labels) &&
              nova_imgproc_morph(error, pool, NOVA_MORPH_OPEN, cand, cc.c,
                                 g->spacing, radius, false, opened) &&
              nova_imgproc_morph(error, pool, NOVA_MORPH_DILATE, opened, cc.c,
                                 g->spacing, radius, false, kept);
    uint32_t n_labels = 0;
    if (ok) {
        for (size_t i = 0; i < n; i++)
            kept[i] = kept[i] && cand[i];
        ok = nova_imgproc_label(error, pool, kept, cc.c, 26, labels,
                                &n_labels);
    }
    Acc *acc = NULL;
    if (ok && n_labels > 0) {
        acc = nova_calloc(error, (size_t)n_labels + 1, sizeof *acc);
        ok = acc != NULL;
    }
    if (!ok || n_labels == 0) {
        nova_free(cand);
        nova_free(labels);
        return ok;
    }
    for (uint32_t l = 0; l <= n_labels; l++)
        for (int a = 0; a < 3; a++)
            acc[l].bbox_min[a] = SIZE_MAX;

    /* Posterior half: behind each lung's own centroid along world y (LPS:
     * +y is posterior). */
    double lung_y_sum[3] = {0}, lung_n[3] = {0};
    double wy_i = g->direction[3] * g->spacing[0];
    double wy_j = g->direction[4] * g->spacing[1];
    double wy_k = g->direction[5] * g->spacing[2];
    for (size_t z = 0; z < cc.c[2]; z++)
        for (size_t y = 0; y < cc.c[1]; y++)
            for (size_t x = 0; x < cc.c[0]; x++) {
                size_t gi = ((cc.lo[2] + z) * d[1] + cc.lo[1] + y) * d[0] +
                            cc.lo[0] + x;
                uint8_t l = lab[gi];
                if (l == NOVA_LUNG_RIGHT || l == NOVA_LUNG_LEFT) {
                    lung_y_sum[l] += wy_i * (double)(cc.lo[0] + x) +
                                     wy_j * (double)(cc.lo[1] + y) +
                                     wy_k * (double)(cc.lo[2] + z);
                    lung_n[l] += 1;
                }
            }
    double lung_y_mid[3] = {0, lung_n[1] ? lung_y_sum[1] / lung_n[1] : 0,
                            lung_n[2] ? lung_y_sum[2] / lung_n[2] : 0};

    size_t i = 0;
    for (size_t z = 0; z < cc.c[2]; z++)
        for (size_t y = 0; y < cc.c[1]; y++)
            for (size_t x = 0; x < cc.c[0]; x++, i++) {
                uint32_t l = labels[i];
                if (!l)
                    continue;
                Acc *a = &acc[l];
                size_t gx = cc.lo[0] + x, gy = cc.lo[1] + y,
                       gz = cc.lo[2] + z;
                size_t gi = (gz * d[1] + gy) * d[0] + gx;
                int16_t v = vox[gi];
                a->voxels++;
                a->sum_hu += v;
                a->high += v > o->high_hu;
                uint8_t side = lab[gi];
                if (side == NOVA_LUNG_RIGHT)
                    a->right++;
                else if (side == NOVA_LUNG_LEFT)
                    a->left++;
                if (zones && zones[gi]) {
                    a->thirds[NOVA_ZONE_THIRD(zones[gi])]++;
                    a->peripheral += NOVA_ZONE_PERIPHERAL(zones[gi]);
                }
                double wy = wy_i * (double)gx + wy_j * (double)gy +
                            wy_k * (double)gz;
                if ((side == 1 || side == 2) && wy > lung_y_mid[side])
                    a->posterior++;
                a->sum_idx[0] += (double)gx;
                a->sum_idx[1] += (double)gy;
                a->sum_idx[2] += (double)gz;
                size_t p[3] = {x, y, z};
                for (int ax = 0; ax < 3; ax++) {
                    if (p[ax] < a->bbox_min[ax])
                        a->bbox_min[ax] = p[ax];
                    if (p[ax] > a->bbox_max[ax])
                        a->bbox_max[ax] = p[ax];
                }
                /* exposed faces, for the surface area */
                if (x == 0 || labels[i - 1] != l) a->faces++;
                if (x + 1 == cc.c[0] || labels[i + 1] != l) a->faces++;
                if (y == 0 || labels[i - cc.c[0]] != l) a->faces++;
                if (y + 1 == cc.c[1] || labels[i + cc.c[0]] != l) a->faces++;
                if (z == 0 || labels[i - cc.c[0] * cc.c[1]] != l) a->faces++;
                if (z + 1 == cc.c[2] || labels[i + cc.c[0] * cc.c[1]] != l)
                    a->faces++;
            }

    /* Keep lesions above the minimum size. */
    size_t keep = 0;
    for (uint32_t l = 1; l <= n_labels; l++)
        if ((double)acc[l].voxels * voxel_ml >= o->min_lesion_ml)
            keep++;
    an->lesions = keep ? nova_calloc(error, keep, sizeof *an->lesions) : NULL;
    uint32_t *new_id = nova_calloc(error, (size_t)n_labels + 1, sizeof *new_id);
    if ((keep && !an->lesions) || !new_id) {
        nova_free(new_id);
        nova_free(acc);
        nova_free(cand);
        nova_free(labels);
        return false;
    }
    /* Face area: mean of the three face areas weighted by how many faces
     * of each orientation a region has would be exact; the mean face area is
     * a close approximation for near-isotropic voxels. */
    double face_mm2 = (g->spacing[0] * g->spacing[1] +
                       g->spacing[1] * g->spacing[2] +
                       g->spacing[0] * g->spacing[2]) / 3.0;
    size_t k = 0;
    for (uint32_t l = 1; l <= n_labels; l++) {
        Acc *a = &acc[l];
        if ((double)a->voxels * voxel_ml < o->min_lesion_ml)
            continue;
        NovaLesion *les = &an->lesions[k++];
        new_id[l] = (uint32_t)k;
        les->voxels = a->voxels;
        les->volume_ml = (double)a->voxels * voxel_ml;
        les->mean_hu = a->sum_hu / (double)a->voxels;
        les->high_fraction = (double)a->high / (double)a->voxels;
        les->type = les->high_fraction < 0.25   ? NOVA_LESION_KIND_GGO
                    : les->high_fraction > 0.75 ? NOVA_LESION_KIND_CONSOLIDATION
                                                : NOVA_LESION_KIND_MIXED;
        les->lung = a->left > a->right ? NOVA_LUNG_LEFT : NOVA_LUNG_RIGHT;
        int third = 0;
        for (int t = 1; t < 3; t++)
            if (a->thirds[t] > a->thirds[third])
                third = t;
        les->third = third;
        les->peripheral_fraction =
            (double)a->peripheral / (double)a->voxels;
        les->posterior_fraction = (double)a->posterior / (double)a->voxels;
        double cidx[3];
        for (int ax = 0; ax < 3; ax++) {
            cidx[ax] = a->sum_idx[ax] / (double)a->voxels;
            les->bbox_min[ax] = cc.lo[ax] + a->bbox_min[ax];
            les->bbox_max[ax] = cc.lo[ax] + a->bbox_max[ax];
        }
        nova_geometry_index_to_world(g, cidx, les->centroid_mm);
        double area = (double)a->faces * face_mm2;
        double vol = (double)a->voxels * voxel_ml * 1000.0;
        les->sphericity =
            area > 0 ? cbrt(M_PI) * pow(6.0 * vol, 2.0 / 3.0) / area : 0;
        double ext = 0;
        for (int ax = 0; ax < 3; ax++) {
            double e = (double)(a->bbox_max[ax] - a->bbox_min[ax] + 1) *
                       g->spacing[ax];
            if (e > ext)
                ext = e;
        }
        les->max_diameter_mm = ext;
        les->cavitated = has_cavity(NULL, &cc, labels, l, a, voxel_ml);
    }
    an->lesion_count = keep;

    /* Key slice: the axial slice with the largest cross-section. */
    size_t *area_k = keep ? nova_calloc(error, keep * cc.c[2], sizeof *area_k)
                          : NULL;
    uint8_t *mask = nova_volume_get_data(an->lesion_mask);
    i = 0;
    for (size_t z = 0; z < cc.c[2]; z++)
        for (size_t y = 0; y < cc.c[1]; y++)
            for (size_t x = 0; x < cc.c[0]; x++, i++) {
                uint32_t id = labels[i] ? new_id[labels[i]] : 0;
                if (!id)
                    continue;
                size_t gi = ((cc.lo[2] + z) * d[1] + cc.lo[1] + y) * d[0] +
                            cc.lo[0] + x;
                mask[gi] = vox[gi] > o->high_hu ? 2 : 1;
                if (area_k)
                    area_k[(size_t)(id - 1) * cc.c[2] + z]++;
            }
    for (size_t l = 0; l < keep && area_k; l++) {
        size_t best = 0;
        for (size_t z = 1; z < cc.c[2]; z++)
            if (area_k[l * cc.c[2] + z] > area_k[l * cc.c[2] + best])
                best = z;
        an->lesions[l].key_slice = cc.lo[2] + best;
    }
    nova_free(area_k);
    qsort(an->lesions, keep, sizeof *an->lesions, compare_volume);
    for (size_t l = 0; l < keep; l++)
        an->lesions[l].id = (int)l + 1;
    nova_free(new_id);
    nova_free(acc);
    nova_free(cand);
    nova_free(labels);
    return true;
}

/* Pan et al., Radiology 2020: 0 none, 1 below 5 %, 2 5-25 %, 3 26-49 %,
 * 4 50-75 %, 5 above 75 % involvement. */
static int pan_score(double percent)
{
    if (percent <= 0)
        return 0;
    if (percent < 5)
        return 1;
    if (percent <= 25)
        return 2;
    if (percent < 50)
        return 3;
    if (percent <= 75)
        return 4;
    return 5;
}

bool nova__measure(NovaError **error, const NovaVolume *hu,
                   const NovaLungResult *lungs, const NovaLesionOptions *o,
                   NovaAnalysis *an)
{
    NovaMeasures *m = &an->measures;
    memset(m, 0, sizeof *m);
    size_t d[3];
    nova_volume_get_dims(hu, d);
    const NovaGeometry *g = nova_volume_get_geometry(hu);
    double voxel_ml = g->spacing[0] * g->spacing[1] * g->spacing[2] / 1000.0;
    const int16_t *vox = nova_volume_get_const_data(hu);
    const uint8_t *lab =
        nova_volume_get_const_data(nova_lung_result_get_labels(lungs));
    NovaVolume *zv = nova_lung_result_get_zones(lungs);
    const uint8_t *zones = zv ? nova_volume_get_const_data(zv) : NULL;
    const uint8_t *les = nova_volume_get_const_data(an->lesion_mask);
    size_t lung_n[2] = {0}, les_n[2] = {0}, high_n[2] = {0};
    size_t zl[2][3] = {{0}}, zles[2][3] = {{0}}, zhigh[2][3] = {{0}};
    m->histogram_start_hu = -1030;
    m->histogram_bin_hu = 10;
    size_t total = d[0] * d[1] * d[2];
    for (size_t i = 0; i < total; i++) {
        uint8_t l = lab[i];
        if (l != NOVA_LUNG_RIGHT && l != NOVA_LUNG_LEFT)
            continue;
        int s = l - 1;
        lung_n[s]++;
        int bin = (int)floor((vox[i] + 1030) / 10.0);
        if (bin >= 0 && bin < 113)
            m->histogram[bin]++;
        int third = zones && zones[i] ? NOVA_ZONE_THIRD(zones[i]) : -1;
        if (third >= 0)
            zl[s][third]++;
        if (les[i]) {
            les_n[s]++;
            bool high = les[i] == 2;
            high_n[s] += high;
            if (third >= 0) {
                zles[s][third]++;
                zhigh[s][third] += high;
            }
        }
    }
    for (int s = 0; s < 2; s++) {
        m->lung_ml[s + 1] = (double)lung_n[s] * voxel_ml;
        m->lesion_ml[s + 1] = (double)les_n[s] * voxel_ml;
        m->high_ml[s + 1] = (double)high_n[s] * voxel_ml;
        for (int t = 0; t < 3; t++) {
            m->zone_lung_ml[s][t] = (double)zl[s][t] * voxel_ml;
            m->zone_lesion_ml[s][t] = (double)zles[s][t] * voxel_ml;
            m->zone_po[s][t] = zl[s][t] ? 100.0 * (double)zles[s][t] /
                                              (double)zl[s][t]
                                        : 0;
            m->zone_pho[s][t] = zl[s][t] ? 100.0 * (double)zhigh[s][t] /
                                               (double)zl[s][t]
                                         : 0;
            m->zone_score[s][t] = pan_score(m->zone_po[s][t]);
            m->severity_score += m->zone_score[s][t];
        }
    }
    m->lung_ml[0] = m->lung_ml[1] + m->lung_ml[2];
    m->lesion_ml[0] = m->lesion_ml[1] + m->lesion_ml[2];
    m->high_ml[0] = m->high_ml[1] + m->high_ml[2];
    for (int s = 0; s < 3; s++) {
        m->po[s] = m->lung_ml[s] > 0 ? 100.0 * m->lesion_ml[s] / m->lung_ml[s]
                                     : 0;
        m->pho[s] = m->lung_ml[s] > 0 ? 100.0 * m->high_ml[s] / m->lung_ml[s]
                                      : 0;
    }
    m->severity_scheme = "six-zone";
    for (size_t l = 0; l < an->lesion_count; l++) {
        const NovaLesion *x = &an->lesions[l];
        if (x->type == NOVA_LESION_KIND_CONSOLIDATION)
            m->consolidation_ml += x->volume_ml;
        else if (x->type == NOVA_LESION_KIND_GGO)
            m->ggo_ml += x->volume_ml;
        else {
            m->consolidation_ml += x->volume_ml * x->high_fraction;
            m->ggo_ml += x->volume_ml * (1 - x->high_fraction);
        }
    }
    (void)error;
    (void)o;
    return true;
}
