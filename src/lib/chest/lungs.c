/*
 * lungs.c - lung segmentation: body and air, trachea and main bronchi, left
 * and right lungs, vessels, pleural lesions and lobar consolidation kept
 * in, zones.
 *
 * The decisions run on a coarse grid (block means of about 2 x 2 x 2.5 mm,
 * which also averages low-dose noise away) and the boundaries are then
 * refined on the CT's own grid:
 *   1. air = coarse HU below air_hu; its 3D components are classified: gas
 *      (median below gas_median_hu: outside air when it touches the
 *      in-plane edge of the field of view, else bowel, stomach or oesophagus
 *      gas) or lung candidates (aerated lung has a median of about -850);
 *   2. the trachea is found in the uppermost slices as a small, round,
 *      central, pure-air region and followed down slice by slice; a region
 *      that grows too fast is a leak into the lung and is not followed; the
 *      walk stops 40 mm below the carina (main bronchi only);
 *   3. without the airway the candidates fall apart into the lungs; the two
 *      largest are the lungs when they are comparable, otherwise the largest
 *      is split where it is thinnest (eroded by a growing distance until it
 *      splits, the pieces then grown back geodesically), and sides come from
 *      world x (LPS: +x is the patient's left);
 *   3b. diseased lung (ground glass, reticulation: block means between
 *      air_hu and dense_lung_hu) touching a lung joins it, grown in each
 *      slice on its own; the partial-volume rim and small crevices are
 *      given back;
 *   4. consolidation between a lung and its ribs joins it: straight
 *      in-plane paths from the lung outwards through soft tissue of 20 to
 *      45 HU that reach a rib (fill_consolidation); then each lung is
 *      closed with a ball (closing_mm) and its holes are filled slice by
 *      slice, so vessels and dense lesions touching the pleura stay inside,
 *      and wider dents along the costal pleura are closed per slice; fat,
 *      muscle and bone outside the closings stay out; in a single slice,
 *      dependent consolidation inside the rib arc behind the lung joins it
 *      before the closings (fill_rib_cage);
 *   5. on the full grid, voxels in coarse blocks at a lung's border take the
 *      lung's label when they are air-like, voxels inside take it as they
 *      are; zones (thirds along the lung's own extent, peripheral outer
 *      third of the in-slice depth) are written in the same pass.
 * Each stage is linear in the voxel count and the parallel parts split
 * statically, so the result does not depend on the thread count.
 * NOVA_DEBUG_LUNGS=1 prints each step's wall and CPU time to stderr.
 */
#include "chest_private.h"

#include "nova/imgproc.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Air touching the in-plane edge of the field of view is outside the body
 * when its median is below this.  Outside air is not always near -1000 HU
 * (resampled or filtered series read -900 to -950 there), while a lung cut
 * by a crop has a median of about -850 (the cip-ct64 and IBSI phantom
 * series measure -927 and -812). */
#define OUTSIDE_MEDIAN_HU (-900)

/* Coarse voxel classes. */
enum {
    CLS_TISSUE = 0,
    CLS_OUTSIDE = 1, /* gas touching the in-plane edge: outside the body */
    CLS_GAS = 2,     /* gas inside: bowel, stomach, oesophagus */
    CLS_CAND = 3,    /* lung or airway candidate */
    CLS_SMALL = 4    /* air pockets too small to matter */
};

void nova_lung_options_init(NovaLungOptions *o)
{
    o->air_hu = -400;
    o->airway_hu = -900;
    o->gas_median_hu = -960;
    o->closing_mm = 10;
    o->pleural_closing_mm = 40;
    o->pleural_depth_mm = 50;
    o->dense_lung_hu = -150;
    o->work_spacing_mm[0] = 2.5;
    o->work_spacing_mm[1] = 3.0;
}

void nova__lung_warn(NovaLungResult *r, const char *format, ...)
{
    if (r->n_warnings >= MAX_WARNINGS)
        return;
    char buf[512];
    va_list ap;
    va_start(ap, format);
    vsnprintf(buf, sizeof buf, format, ap);
    va_end(ap);
    char *s = nova_strdup(NULL, buf);
    if (s)
        r->warnings[r->n_warnings++] = s;
}

/* NOVA_DEBUG_LUNGS=1 prints each step's wall and process CPU time (both
 * threads together: the steadier figure on a shared machine). */
struct step_clock {
    bool on;
    double wall, cpu;
};

static void step_clock_start(struct step_clock *k)
{
    k->on = getenv("NOVA_DEBUG_LUNGS") != NULL;
    k->wall = k->on ? nova_time_now() : 0.0;
    k->cpu = k->on ? nova_cpu_time_now() : 0.0;
}

static void step_clock_lap(struct step_clock *k, const char *name)
{
    if (!k->on)
        return;
    double wall = nova_time_now(), cpu = nova_cpu_time_now();
    fprintf(stderr, "lungs %s: %.1f ms (CPU %.1f ms)\n", name,
            (wall - k->wall) * 1e3, (cpu - k->cpu) * 1e3);
    k->wall = wall;
    k->cpu = cpu;
}

static const char *const stage_names[STAGE_COUNT] = {
    "coarse", "air", "airway", "lungs", "fill", "refine", "zones"};

/* ------------------------------------------------------------ coarse grid */

struct coarse {
    size_t in[3]; /* full grid */
    size_t d[3];  /* coarse grid */
    size_t f[3];  /* block size */
    size_t n;
    double sp[3]; /* coarse spacing, mm */
    int16_t *hu;  /* block means */
    uint8_t *cls; /* CLS_* */
    uint8_t *lab; /* NOVA_LUNG_* */
};

struct down_ctx {
    const int16_t *src;
    struct coarse *c;
    int32_t **acc;
};

static void down_slices(void *vctx, size_t begin, size_t end, int thread)
{
    struct down_ctx *x = vctx;
    struct coarse *c = x->c;
    size_t nx = c->in[0], ny = c->in[1], nz = c->in[2];
    size_t cnx = c->d[0], cny = c->d[1];
    /* acc holds, per coarse row, the column sums over the block's full
     * rows (cny x nx): adding whole rows vectorises; the blocks along x
     * are summed at the end. */
    int32_t *acc = x->acc[thread];
    for (size_t cz = begin; cz < end; cz++) {
        size_t z0 = cz * c->f[2], z1 = z0 + c->f[2] < nz ? z0 + c->f[2] : nz;
        for (size_t z = z0; z < z1; z++)
            for (size_t y = 0; y < ny; y++) {
                const int16_t *row = x->src + (z * ny + y) * nx;
                int32_t *a = acc + (y / c->f[1]) * nx;
                /* The block's first row sets the sums (no zeroing pass). */
                if (z == z0 && y % c->f[1] == 0)
                    for (size_t i = 0; i < nx; i++)
                        a[i] = row[i];
                else
                    for (size_t i = 0; i < nx; i++)
                        a[i] += row[i];
            }
        for (size_t cy = 0; cy < cny; cy++) {
            size_t y0 = cy * c->f[1];
            size_t hy = (y0 + c->f[1] < ny ? c->f[1] : ny - y0);
            const int32_t *a = acc + cy * nx;
            for (size_t cx = 0; cx < cnx; cx++) {
                size_t x0 = cx * c->f[0];
                size_t x1 = x0 + c->f[0] < nx ? x0 + c->f[0] : nx;
                int32_t sum = 0;
                for (size_t i = x0; i < x1; i++)
                    sum += a[i];
                double count = (double)((x1 - x0) * hy * (z1 - z0));
                c->hu[(cz * cny + cy) * cnx + cx] = (int16_t)lrint(sum / count);
            }
        }
    }
}

static bool make_coarse(NovaError **error, NovaPool *pool, const NovaVolume *hu,
                        const NovaLungOptions *o, struct coarse *c)
{
    nova_volume_get_dims(hu, c->in);
    const NovaGeometry *g = nova_volume_get_geometry(hu);
    for (int a = 0; a < 3; a++) {
        double target = o->work_spacing_mm[a < 2 ? 0 : 1];
        /* Round a little upwards: 1.4 mm voxels become 2.8 mm blocks
         * rather than staying at full resolution. */
        long f = (long)ceil(target / g->spacing[a] - 0.3);
        if (f < 1 || !(g->spacing[a] > 0))
            f = 1;
        if ((size_t)f > c->in[a])
            f = (long)c->in[a];
        c->f[a] = (size_t)f;
        c->d[a] = (c->in[a] + c->f[a] - 1) / c->f[a];
        c->sp[a] = g->spacing[a] * (double)c->f[a];
    }
    c->n = c->d[0] * c->d[1] * c->d[2];
    c->hu = nova_malloc_array(error, c->n, sizeof *c->hu);
    c->cls = nova_calloc(error, c->n, 1);
    c->lab = nova_calloc(error, c->n, 1);
    if (!c->hu || !c->cls || !c->lab)
        return false;
    int T = pool ? nova_pool_get_threads(pool) : 1;
    struct down_ctx x = {nova_volume_get_const_data(hu), c, NULL};
    x.acc = nova_calloc(error, (size_t)T, sizeof *x.acc);
    bool ok = x.acc != NULL;
    for (int t = 0; ok && t < T; t++) {
        x.acc[t] =
            nova_malloc_array(error, c->in[0] * c->d[1], sizeof(int32_t));
        ok = x.acc[t] != NULL;
    }
    if (ok)
        nova_pool_parallel_for(pool, c->d[2], down_slices, &x);
    for (int t = 0; x.acc && t < T; t++)
        nova_free(x.acc[t]);
    nova_free(x.acc);
    return ok;
}

/* World position of a coarse continuous index. */
static void coarse_to_world(const struct coarse *c, const NovaGeometry *g,
                            const double ci[3], double w[3])
{
    double fi[3];
    for (int a = 0; a < 3; a++)
        fi[a] = (ci[a] + 0.5) * (double)c->f[a] - 0.5;
    nova_geometry_index_to_world(g, fi, w);
}

/* ------------------------------------------------------------ air classes */

struct comp_stats {
    size_t count, pure, below_outside, below_950;
    bool edge_xy;
    double sum[3];
};

/* The foreground's bounding box (inclusive lo..hi), grown by one voxel in
 * x and y within the grid; false when there is no foreground.  Every
 * in-grid voxel of the added ring is background, and for a voxel in the
 * box the nearest point of the ring is no farther than any voxel beyond it
 * in the same slice (clamping a position to the box shortens each of its
 * offsets), so in-slice distances to background need only the box. */
static bool ring_box(const uint8_t *mask, const size_t d[3], size_t lo[3],
                     size_t hi[3])
{
    if (!nova_imgproc_mask_box(mask, d, lo, hi))
        return false;
    for (int a = 0; a < 3; a++)
        hi[a]--; /* inclusive */
    for (int a = 0; a < 2; a++) {
        lo[a] = lo[a] > 0 ? lo[a] - 1 : 0;
        hi[a] = hi[a] + 1 < d[a] ? hi[a] + 1 : d[a] - 1;
    }
    return true;
}

/* In-slice squared distance (mm^2) from each foreground voxel of mask to
 * the nearest background voxel of its slice, as nova_imgproc_edt_sq with
 * per_slice, but computed on the foreground's bounding box grown by one
 * voxel in x and y (ring_box): that ring is background, so no nearer
 * background lies beyond it (a straight path out of the box crosses the
 * ring), and the result is the same for a fraction of the work.  On
 * success *bdist (caller frees) holds the box's distances, box x fastest,
 * lo and bd the box's corner and size; *bdist stays NULL when there is no
 * foreground. */
static bool edt_foreground_2d(NovaError **error, NovaPool *pool,
                              const uint8_t *mask, const size_t d[3],
                              const double sp[3], size_t lo[3], size_t bd[3],
                              float **bdist)
{
    size_t hi[3];
    *bdist = NULL;
    if (!ring_box(mask, d, lo, hi))
        return true;
    for (int a = 0; a < 3; a++)
        bd[a] = hi[a] - lo[a] + 1;
    size_t bn = bd[0] * bd[1] * bd[2];
    uint8_t *bm = nova_malloc(error, bn);
    float *dist = nova_malloc_array(error, bn, sizeof *dist);
    bool ok = bm && dist;
    if (ok) {
        for (size_t z = 0; z < bd[2]; z++)
            for (size_t y = 0; y < bd[1]; y++)
                memcpy(bm + (z * bd[1] + y) * bd[0],
                       mask + ((z + lo[2]) * d[1] + y + lo[1]) * d[0] + lo[0],
                       bd[0]);
        ok = nova_imgproc_edt_sq(error, pool, bm, bd, sp, false, true, dist);
    }
    nova_free(bm);
    if (!ok) {
        nova_free(dist);
        return false;
    }
    *bdist = dist;
    return true;
}

/* In-place in-slice erosion of mask (0/1) that keeps the voxels at least
 * radius_mm from every background voxel of their slice, counting only
 * voxels inside the grid (as nova_imgproc_edt_sq does; nova_imgproc_morph
 * treats what lies beyond the edges as background): the mask is framed by
 * foreground wider than the radius for the erosion. */
static bool erode_in_grid(NovaError **error, NovaPool *pool, uint8_t *mask,
                          const size_t d[3], const double sp[3],
                          double radius_mm)
{
    /* Only the foreground's ring box (ring_box) changes; the frame is
     * needed where that box meets the grid's edge. */
    size_t lo[3], hi[3];
    if (!ring_box(mask, d, lo, hi))
        return true;
    size_t bx = hi[0] - lo[0] + 1, by = hi[1] - lo[1] + 1,
           bz = hi[2] - lo[2] + 1;
    size_t fx = (size_t)ceil(radius_mm / sp[0]) + 1;
    size_t fy = (size_t)ceil(radius_mm / sp[1]) + 1;
    size_t px0 = lo[0] == 0 ? fx : 0, px1 = hi[0] == d[0] - 1 ? fx : 0;
    size_t py0 = lo[1] == 0 ? fy : 0, py1 = hi[1] == d[1] - 1 ? fy : 0;
    size_t pd[3] = {bx + px0 + px1, by + py0 + py1, bz};
    uint8_t *pad = nova_malloc(error, pd[0] * pd[1] * pd[2]);
    if (!pad)
        return false;
    memset(pad, 1, pd[0] * pd[1] * pd[2]);
    for (size_t z = 0; z < bz; z++)
        for (size_t y = 0; y < by; y++)
            memcpy(pad + (z * pd[1] + y + py0) * pd[0] + px0,
                   mask + ((z + lo[2]) * d[1] + y + lo[1]) * d[0] + lo[0], bx);
    /* The erosion keeps voxels farther than its radius; distances on a
     * grid are discrete, so just under radius_mm keeps those at it. */
    bool ok = nova_imgproc_morph(error, pool, NOVA_MORPH_ERODE, pad, pd, sp,
                                 radius_mm - 1e-3, true, pad);
    if (ok)
        for (size_t z = 0; z < bz; z++)
            for (size_t y = 0; y < by; y++)
                memcpy(mask + ((z + lo[2]) * d[1] + y + lo[1]) * d[0] + lo[0],
                       pad + (z * pd[1] + y + py0) * pd[0] + px0, bx);
    nova_free(pad);
    return ok;
}

/* The per-voxel steps of classify_air, split over the pool. */
enum { AIR_THRESHOLD, AIR_CLASSES, AIR_THIN };

struct air_step_ctx {
    struct coarse *c;
    int step;
    double air_hu;
    const uint32_t *labels;
    const uint8_t *of_label; /* class (AIR_CLASSES) or deep (AIR_THIN) */
};

static void air_step_range(void *vctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    const struct air_step_ctx *x = vctx;
    uint8_t *cls = x->c->cls;
    const int16_t *hu = x->c->hu;
    const uint32_t *labels = x->labels;
    if (x->step == AIR_THRESHOLD) {
        for (size_t i = begin; i < end; i++)
            cls[i] = hu[i] < x->air_hu;
    } else if (x->step == AIR_CLASSES) {
        for (size_t i = begin; i < end; i++)
            cls[i] = labels[i] ? x->of_label[labels[i]] : CLS_TISSUE;
    } else {
        for (size_t i = begin; i < end; i++)
            if (cls[i] == CLS_CAND && !x->of_label[labels[i]])
                cls[i] = CLS_SMALL;
    }
}

static bool classify_air(NovaError **error, NovaPool *pool,
                         const NovaLungOptions *o, struct coarse *c,
                         uint32_t *labels)
{
    struct step_clock k;
    step_clock_start(&k);
    struct air_step_ctx ax = {c, AIR_THRESHOLD, o->air_hu, labels, NULL};
    nova_pool_parallel_for(pool, c->n, air_step_range, &ax);
    uint32_t nl = 0;
    if (!nova_imgproc_label(error, pool, c->cls, c->d, 6, labels, &nl))
        return false;
    step_clock_lap(&k, "air: components");
    struct comp_stats *st = nova_calloc(error, (size_t)nl + 1, sizeof *st);
    uint8_t *cls_of = nova_calloc(error, (size_t)nl + 1, 1);
    if (!st || !cls_of) {
        nova_free(st);
        nova_free(cls_of);
        return false;
    }
    size_t nx = c->d[0], ny = c->d[1];
    /* Nested loops: no division per voxel on the hot paths.  hu below
     * gas_median_hu, for whole HU: below its ceiling, an integer compare
     * rather than a conversion per voxel (NaN: never). */
    double gas = o->gas_median_hu;
    int32_t gas_hu =
        isnan(gas) ? INT32_MIN : (int32_t)ceil(fmax(fmin(gas, 1e6), -1e6));
    const int16_t *hu = c->hu;
    for (size_t i = 0, zz = 0; zz < c->d[2]; zz++)
        for (size_t y = 0; y < ny; y++)
            for (size_t x = 0; x < nx; x++, i++) {
                uint32_t l = labels[i];
                if (!l)
                    continue;
                st[l].count++;
                st[l].pure += hu[i] < gas_hu;
                st[l].below_950 += hu[i] < -950;
                st[l].below_outside += hu[i] < OUTSIDE_MEDIAN_HU;
                if (x == 0 || y == 0 || x == nx - 1 || y == ny - 1)
                    st[l].edge_xy = true;
            }
    /* Pockets below 0.2 ml are noise or small bowel gas; lungs are litres,
     * and even a one-slice crop of a lung is several ml. */
    double voxel_ml = c->sp[0] * c->sp[1] * c->sp[2] / 1000.0;
    for (uint32_t l = 1; l <= nl; l++) {
        if (st[l].edge_xy && 2 * st[l].below_outside > st[l].count)
            cls_of[l] = CLS_OUTSIDE;
        else if (2 * st[l].pure > st[l].count)
            cls_of[l] = CLS_GAS;
        /* Stomach or colon gas over fluid or stool: a pocket of pure gas
         * with a partial-volume rim reads a median near -900 like lung, but
         * over a third of it is below -950 HU while aerated lung has a
         * fifth or less there (cip-ct64: 20%; TotalSegmentator example
         * stomach pockets: 40-42% at 17 and 13 ml).  Lungs that low
         * (emphysema) are large; only pockets under 100 ml count. */
        else if (3 * st[l].below_950 > st[l].count &&
                 (double)st[l].count * voxel_ml < 100)
            cls_of[l] = CLS_GAS;
        else if ((double)st[l].count * voxel_ml < 0.2)
            cls_of[l] = CLS_SMALL;
        else
            cls_of[l] = CLS_CAND;
    }
    ax.step = AIR_CLASSES;
    ax.of_label = cls_of;
    nova_pool_parallel_for(pool, c->n, air_step_range, &ax);
    step_clock_lap(&k, "air: classes");

    /* Thin air is not lung: the sliver between the patient's back and the
     * table, or air trapped in clothing, is a few millimetres deep, while
     * even a lung base shows more than 6 mm of depth in some slice.  A
     * candidate is deep enough when some voxel of it lies 6 mm or more
     * from the non-candidate voxels of its slice, that is when an in-slice
     * erosion by 6 mm leaves something of it. */
    uint8_t *cand = nova_malloc(error, c->n);
    uint8_t *deep = nova_calloc(error, (size_t)nl + 1, 1);
    bool ok = cand && deep;
    if (ok) {
        /* Local restrict pointers: a byte store may alias anything, and
         * the loop reloaded c->cls and c->n at every voxel instead of
         * vectorising. */
        const uint8_t *restrict cls = c->cls;
        uint8_t *restrict cd = cand;
        for (size_t i = 0, n = c->n; i < n; i++)
            cd[i] = cls[i] == CLS_CAND;
        ok = erode_in_grid(error, pool, cand, c->d, c->sp, 6.0);
        step_clock_lap(&k, "air: thin erosion");
    }
    if (ok) {
        /* Without a branch: label 0 (never a candidate's) takes the
         * stores of the other voxels. */
        for (size_t i = 0, n = c->n; i < n; i++)
            deep[cand[i] ? labels[i] : 0] = 1;
        ax.step = AIR_THIN;
        ax.of_label = deep;
        nova_pool_parallel_for(pool, c->n, air_step_range, &ax);
    }
    nova_free(cand);
    nova_free(deep);
    nova_free(st);
    nova_free(cls_of);
    return ok;
}

/* ----------------------------------------------------------------- airway */

struct slice_comp {
    size_t count;
    double cx, cy;
    size_t x0, x1, y0, y1;
    double sum_hu;
    bool edge;
};

/* 2D components (4-connected) of cand & hu < airway_hu in coarse slice z.
 * Returns the component count; labels2d receives them, comps their stats
 * (caller frees *comps). */
static uint32_t slice_components(NovaError **error, const struct coarse *c,
                                 const NovaLungOptions *o, size_t z,
                                 uint8_t *m2d, uint32_t *labels2d,
                                 struct slice_comp **comps)
{
    size_t nx = c->d[0], ny = c->d[1], plane = nx * ny;
    const int16_t *hu = c->hu + z * plane;
    const uint8_t *cls = c->cls + z * plane;
    for (size_t i = 0; i < plane; i++)
        m2d[i] = cls[i] == CLS_CAND && hu[i] < o->airway_hu;
    size_t d2[3] = {nx, ny, 1};
    uint32_t nl = 0;
    *comps = NULL;
    if (!nova_imgproc_label(error, NULL, m2d, d2, 6, labels2d, &nl) || !nl)
        return 0;
    struct slice_comp *s = nova_calloc(error, (size_t)nl + 1, sizeof *s);
    if (!s)
        return 0;
    for (uint32_t l = 1; l <= nl; l++) {
        s[l].x0 = s[l].y0 = SIZE_MAX;
    }
    for (size_t i = 0; i < plane; i++) {
        uint32_t l = labels2d[i];
        if (!l)
            continue;
        size_t x = i % nx, y = i / nx;
        struct slice_comp *p = &s[l];
        p->count++;
        p->cx += (double)x;
        p->cy += (double)y;
        p->sum_hu += hu[i];
        if (x < p->x0)
            p->x0 = x;
        if (x > p->x1)
            p->x1 = x;
        if (y < p->y0)
            p->y0 = y;
        if (y > p->y1)
            p->y1 = y;
        if (x == 0 || y == 0 || x == nx - 1 || y == ny - 1)
            p->edge = true;
    }
    for (uint32_t l = 1; l <= nl; l++) {
        s[l].cx /= (double)s[l].count;
        s[l].cy /= (double)s[l].count;
    }
    *comps = s;
    return nl;
}

/* Body centre and width along x in coarse slice z (everything that is not
 * outside air), or false for an empty slice. */
static bool body_extent_x(const struct coarse *c, size_t z, double *centre,
                          double *width)
{
    size_t nx = c->d[0], ny = c->d[1];
    size_t lo = SIZE_MAX, hi = 0;
    for (size_t y = 0; y < ny; y++)
        for (size_t x = 0; x < nx; x++) {
            size_t i = (z * ny + y) * nx + x;
            if (c->cls[i] != CLS_OUTSIDE && c->hu[i] > -500) {
                if (x < lo)
                    lo = x;
                if (x > hi)
                    hi = x;
            }
        }
    if (lo > hi)
        return false;
    *centre = 0.5 * (double)(lo + hi);
    *width = (double)(hi - lo + 1);
    return true;
}

/* Walk the trachea down from the top; marks NOVA_LUNG_AIRWAY in c->lab.
 * sup_step is +1 when higher k is superior, else -1. */
static bool find_airway(NovaError **error, NovaPool *pool,
                        const NovaLungOptions *o, struct coarse *c,
                        int sup_step, const uint32_t *air_labels,
                        NovaLungResult *r)
{
    size_t nx = c->d[0], ny = c->d[1], nz = c->d[2], plane = nx * ny;
    double px_mm2 = c->sp[0] * c->sp[1];
    uint8_t *m2d = nova_malloc(error, plane);
    uint8_t *prev = nova_calloc(error, plane, 1);
    uint8_t *next = nova_calloc(error, plane, 1);
    uint32_t *l2d = nova_malloc_array(error, plane, sizeof *l2d);
    uint8_t *airway = nova_calloc(error, c->n, 1);
    bool ok = false;
    if (!m2d || !prev || !next || !l2d || !airway)
        goto done;

        /* Slices from superior to inferior: index s -> z. */
#define Z_OF(s) (sup_step > 0 ? nz - 1 - (s) : (s))
    size_t top = SIZE_MAX;
    for (size_t s = 0; s < nz && top == SIZE_MAX; s++) {
        const uint8_t *cls = c->cls + Z_OF(s) * plane;
        for (size_t i = 0; i < plane; i++)
            if (cls[i] == CLS_CAND) {
                top = s;
                break;
            }
    }
    if (top == SIZE_MAX) {
        ok = true;
        goto done;
    }
    /* Seed: within 60 mm below the first slice with candidate air, a
     * pure-air region of 0.3 to 8 cm^2, roundish, near the body's midline
     * and away from the field's edge. */
    size_t seed_s = SIZE_MAX;
    size_t search = (size_t)ceil(30.0 / c->sp[2]);
    /* The trachea belongs to the largest candidate air region (it is joined
     * to the lungs through the bronchi); bowel gas below the lung bases of
     * an abdominal scan is not. */
    uint32_t main_region = 0;
    {
        uint32_t max_label = 0;
        for (size_t i = 0; i < c->n; i++)
            if (air_labels[i] > max_label)
                max_label = air_labels[i];
        size_t *sizes =
            nova_calloc(error, (size_t)max_label + 1, sizeof *sizes);
        if (!sizes)
            goto done;
        /* Counted a run of one label at a time: neighbours mostly share
         * their label, and an increment per voxel waited on the one
         * before it. */
        uint32_t run_label = 0;
        size_t run = 0;
        for (size_t i = 0; i < c->n; i++) {
            if (c->cls[i] != CLS_CAND)
                continue;
            if (air_labels[i] != run_label) {
                sizes[run_label] += run;
                run_label = air_labels[i];
                run = 0;
            }
            run++;
        }
        sizes[run_label] += run;
        for (uint32_t l = 1; l <= max_label; l++)
            if (sizes[l] > sizes[main_region])
                main_region = l;
        nova_free(sizes);
    }
    for (size_t s = top; s < nz && s <= top + search && seed_s == SIZE_MAX;
         s++) {
        size_t z = Z_OF(s);
        double bc, bw;
        if (!body_extent_x(c, z, &bc, &bw))
            continue;
        struct slice_comp *sc;
        uint32_t nl = slice_components(error, c, o, z, m2d, l2d, &sc);
        if (nl && !sc)
            goto done;
        uint32_t best = 0;
        double best_off = INFINITY;
        for (uint32_t l = 1; l <= nl; l++) {
            double area = (double)sc[l].count * px_mm2;
            double w = (double)(sc[l].x1 - sc[l].x0 + 1) * c->sp[0];
            double h = (double)(sc[l].y1 - sc[l].y0 + 1) * c->sp[1];
            double off = fabs(sc[l].cx - bc);
            bool in_main = false;
            for (size_t i = 0; i < plane && !in_main; i++)
                in_main =
                    l2d[i] == l && air_labels[z * plane + i] == main_region;
            if (!in_main || area < 30 || area > 800 || sc[l].edge ||
                w > 3 * h || h > 3 * w || off > 0.15 * bw ||
                sc[l].sum_hu / (double)sc[l].count > o->airway_hu - 20)
                continue;
            if (off < best_off) {
                best_off = off;
                best = l;
            }
        }
        if (best) {
            seed_s = s;
            for (size_t i = 0; i < plane; i++)
                prev[i] = l2d[i] == best;
            memcpy(airway + z * plane, prev, plane);
        }
        nova_free(sc);
    }
    if (seed_s == SIZE_MAX) {
        r->flags |= NOVA_LUNG_FLAG_NO_TRACHEA;
        nova__lung_warn(r, "trachea not found in the scan range: airways "
                           "were not separated from the lungs");
        ok = true;
        goto done;
    }
    size_t prev_count = 0;
    for (size_t i = 0; i < plane; i++)
        prev_count += prev[i];
    size_t carina_s = SIZE_MAX;
    size_t below = (size_t)ceil(40.0 / c->sp[2]);
    bool leaked = false;
    for (size_t s = seed_s + 1; s < nz; s++) {
        if (carina_s != SIZE_MAX && s > carina_s + below)
            break;
        size_t z = Z_OF(s);
        struct slice_comp *sc;
        uint32_t nl = slice_components(error, c, o, z, m2d, l2d, &sc);
        if (nl && !sc)
            goto done;
        /* A component continues the airway when it touches the previous
         * slice's airway (8-neighbourhood). */
        uint8_t *touch = nova_calloc(error, (size_t)nl + 1, 1);
        if (!touch) {
            nova_free(sc);
            goto done;
        }
        for (size_t i = 0; i < plane; i++) {
            uint32_t l = l2d[i];
            if (!l || touch[l])
                continue;
            size_t x = i % nx, y = i / nx;
            for (long dy = -1; dy <= 1 && !touch[l]; dy++)
                for (long dx = -1; dx <= 1; dx++) {
                    long xx = (long)x + dx, yy = (long)y + dy;
                    if (xx >= 0 && yy >= 0 && xx < (long)nx && yy < (long)ny &&
                        prev[(size_t)yy * nx + (size_t)xx]) {
                        touch[l] = 1;
                        break;
                    }
                }
        }
        size_t kept = 0, count = 0;
        memset(next, 0, plane);
        for (uint32_t l = 1; l <= nl; l++) {
            if (!touch[l])
                continue;
            /* Leak control: an airway cross-section does not grow by more
             * than half plus a little between slices, nor exceed 8 cm^2
             * below the seed; a region that does is lung parenchyma reached
             * through a bronchus, and is not followed. */
            double area = (double)sc[l].count * px_mm2;
            if ((double)sc[l].count > 1.5 * (double)prev_count + 4 ||
                area > 800) {
                leaked = true;
                continue;
            }
            kept++;
            count += sc[l].count;
            touch[l] = 2;
        }
        for (size_t i = 0; i < plane; i++)
            next[i] = l2d[i] && touch[l2d[i]] == 2;
        nova_free(touch);
        nova_free(sc);
        if (!kept)
            break;
        if (kept >= 2 && carina_s == SIZE_MAX)
            carina_s = s;
        memcpy(airway + z * plane, next, plane);
        memcpy(prev, next, plane);
        prev_count = count;
    }
    if (leaked)
        nova__lung_warn(r, "airway growing stopped where it leaked into the "
                           "lung (leak control)");
    /* The lumen threshold leaves the partial-volume rim of the airway wall;
     * a 2D dilation by 1.5 coarse voxels within the candidates takes it. */
    double sp2[3] = {c->sp[0], c->sp[1], c->sp[2]};
    if (!nova_imgproc_morph(error, pool, NOVA_MORPH_DILATE, airway, c->d, sp2,
                            1.5 * fmax(c->sp[0], c->sp[1]), true, airway))
        goto done;
    /* A select rather than a branch, so that the loop vectorises (it
     * runs over the whole coarse grid on one thread). */
    uint8_t *restrict lab = c->lab;
    const uint8_t *restrict cls = c->cls, *restrict aw = airway;
    for (size_t i = 0; i < c->n; i++)
        lab[i] =
            (aw[i] != 0) & (cls[i] == CLS_CAND) ? NOVA_LUNG_AIRWAY : lab[i];
    ok = true;
#undef Z_OF
done:
    nova_free(m2d);
    nova_free(prev);
    nova_free(next);
    nova_free(l2d);
    nova_free(airway);
    return ok;
}

/* ------------------------------------------------------------------ lungs */

struct region {
    uint32_t label;
    size_t count;
    double sum[3];
};

static int cmp_region(const void *a, const void *b)
{
    const struct region *ra = a, *rb = b;
    if (ra->count != rb->count)
        return ra->count < rb->count ? 1 : -1;
    return ra->label < rb->label ? -1 : 1;
}

/* Grow seeds (labels in seed[]) through mask in breadth-first order: each
 * voxel of mask takes the label of the seed it is geodesically nearest to
 * (6-connected steps). */
static bool geodesic_grow(NovaError **error, const size_t d[3],
                          const uint8_t *mask, uint8_t *seed)
{
    size_t n = d[0] * d[1] * d[2];
    uint32_t *queue = nova_malloc_array(error, n, sizeof *queue);
    if (!queue)
        return false;
    size_t head = 0, tail = 0;
    for (size_t i = 0; i < n; i++)
        if (seed[i])
            queue[tail++] = (uint32_t)i;
    size_t nx = d[0], plane = d[0] * d[1];
    while (head < tail) {
        size_t v = queue[head++];
        size_t x = v % nx, y = v / nx % d[1], z = v / plane;
        size_t nb[6];
        int k = 0;
        if (x > 0)
            nb[k++] = v - 1;
        if (x + 1 < nx)
            nb[k++] = v + 1;
        if (y > 0)
            nb[k++] = v - nx;
        if (y + 1 < d[1])
            nb[k++] = v + nx;
        if (z > 0)
            nb[k++] = v - plane;
        if (z + 1 < d[2])
            nb[k++] = v + plane;
        for (int j = 0; j < k; j++)
            if (mask[nb[j]] && !seed[nb[j]]) {
                seed[nb[j]] = seed[v];
                queue[tail++] = (uint32_t)nb[j];
            }
    }
    nova_free(queue);
    return true;
}

/* Try to split the region (mask) in two where it is thinnest: erode by a
 * growing distance until two comparable pieces appear, then grow them back.
 * out receives 1 and 2 for the two pieces; returns false in *split when no
 * split was found. */
static bool split_region(NovaError **error, NovaPool *pool,
                         const struct coarse *c, const uint8_t *mask,
                         uint8_t *out, bool *split)
{
    *split = false;
    float *dist = nova_malloc_array(error, c->n, sizeof *dist);
    uint8_t *er = nova_malloc(error, c->n);
    uint32_t *lab = nova_malloc_array(error, c->n, sizeof *lab);
    bool ok = false;
    if (!dist || !er || !lab)
        goto done;
    if (!nova_imgproc_edt_sq(error, pool, mask, c->d, c->sp, false, false,
                             dist))
        goto done;
    double step = fmin(c->sp[0], c->sp[1]);
    for (double rmm = step; rmm <= 20.0; rmm += step) {
        size_t total = 0;
        for (size_t i = 0; i < c->n; i++) {
            er[i] = mask[i] && dist[i] > rmm * rmm;
            total += er[i];
        }
        if (!total)
            break;
        uint32_t nl = 0;
        if (!nova_imgproc_label(error, pool, er, c->d, 6, lab, &nl))
            goto done;
        if (nl < 2)
            continue;
        size_t *sizes = nova_calloc(error, (size_t)nl + 1, sizeof *sizes);
        if (!sizes)
            goto done;
        nova_imgproc_label_sizes(lab, c->n, nl, sizes);
        uint32_t a = 0, b = 0;
        for (uint32_t l = 1; l <= nl; l++) {
            if (!a || sizes[l] > sizes[a]) {
                b = a;
                a = l;
            } else if (!b || sizes[l] > sizes[b]) {
                b = l;
            }
        }
        bool good = b && sizes[b] * 5 >= sizes[a] / 2 && sizes[b] * 10 >= total;
        nova_free(sizes);
        if (!good)
            continue;
        for (size_t i = 0; i < c->n; i++)
            out[i] = lab[i] == a ? 1 : lab[i] == b ? 2 : 0;
        if (!geodesic_grow(error, c->d, mask, out))
            goto done;
        *split = true;
        break;
    }
    ok = true;
done:
    nova_free(dist);
    nova_free(er);
    nova_free(lab);
    return ok;
}

/* Find the lungs among the candidates left after the airway; writes
 * NOVA_LUNG_RIGHT / LEFT into c->lab. */
static bool find_lungs(NovaError **error, NovaPool *pool, const NovaGeometry *g,
                       struct coarse *c, uint32_t *labels, NovaLungResult *r)
{
    uint8_t *m = nova_malloc(error, c->n);
    uint8_t *split = NULL;
    struct region *reg = NULL;
    bool ok = false;
    if (!m)
        goto done;
    /* Restrict locals and a bitwise and: the loop vectorises (a byte
     * store may alias c's fields, which were reloaded per voxel). */
    {
        const uint8_t *restrict cls = c->cls, *restrict lab = c->lab;
        uint8_t *restrict mm = m;
        for (size_t i = 0, n = c->n; i < n; i++)
            mm[i] = (cls[i] == CLS_CAND) & (lab[i] == 0);
    }
    uint32_t nl = 0;
    if (!nova_imgproc_label(error, pool, m, c->d, 6, labels, &nl))
        goto done;
    if (!nl) {
        r->flags |= NOVA_LUNG_FLAG_NO_RIGHT | NOVA_LUNG_FLAG_NO_LEFT;
        nova__lung_warn(r, "no lung found: the scan shows no aerated lung");
        ok = true;
        goto done;
    }
    reg = nova_calloc(error, (size_t)nl + 1, sizeof *reg);
    if (!reg)
        goto done;
    size_t nx = c->d[0], ny = c->d[1];
    /* Body midline: centre of everything that is not outside air. */
    /* The body's sums are integers: exact, as the sums in double were
     * (all below 2^53), without a floating-point add chain per voxel. */
    uint64_t body_int[3] = {0, 0, 0};
    size_t body_n = 0;
    const uint8_t *cls = c->cls;
    const int16_t *hu = c->hu;
    for (size_t i = 0, zz = 0; zz < c->d[2]; zz++)
        for (size_t yy = 0; yy < ny; yy++)
            for (size_t xx = 0; xx < nx; xx++, i++) {
                uint32_t l = labels[i];
                if (l) {
                    reg[l].count++;
                    reg[l].sum[0] += (double)xx;
                    reg[l].sum[1] += (double)yy;
                    reg[l].sum[2] += (double)zz;
                }
                size_t in = (cls[i] != CLS_OUTSIDE) &
                            ((hu[i] > -500) | (cls[i] == CLS_CAND));
                body_int[0] += xx * in;
                body_int[1] += yy * in;
                body_int[2] += zz * in;
                body_n += in;
            }
    double body_sum[3] = {(double)body_int[0], (double)body_int[1],
                          (double)body_int[2]};
    for (uint32_t l = 1; l <= nl; l++)
        reg[l].label = l;
    double body_ci[3], body_w[3];
    for (int a = 0; a < 3; a++)
        body_ci[a] =
            body_n ? body_sum[a] / (double)body_n : 0.5 * (double)c->d[a];
    coarse_to_world(c, g, body_ci, body_w);

    struct region *sorted = nova_malloc_array(error, nl, sizeof *sorted);
    if (!sorted)
        goto done;
    memcpy(sorted, reg + 1, nl * sizeof *sorted);
    qsort(sorted, nl, sizeof *sorted, cmp_region);
    uint32_t first = sorted[0].label;
    /* The second lung: the largest other region of at least a tenth of the
     * first whose centroid lies across the body's midline from it.  The
     * second largest region overall can be a piece of the same lung cut
     * off by consolidation (covid-ny-sbu A056642 19001229-053: the right
     * lung's anterior and posterior parts were taken for the two lungs and
     * the left lung, in two smaller pieces outside their box, was
     * dropped); pieces on the first's side join it below. */
    uint32_t second = 0;
    {
        double ci[3], w1[3];
        for (int a = 0; a < 3; a++)
            ci[a] = reg[first].sum[a] / (double)reg[first].count;
        coarse_to_world(c, g, ci, w1);
        for (uint32_t k = 1; k < nl && !second; k++) {
            if (sorted[k].count * 10 < sorted[0].count)
                break;
            double wk[3];
            for (int a = 0; a < 3; a++)
                ci[a] = sorted[k].sum[a] / (double)sorted[k].count;
            coarse_to_world(c, g, ci, wk);
            if ((wk[0] - body_w[0]) * (w1[0] - body_w[0]) < 0)
                second = sorted[k].label;
        }
    }
    size_t big = sorted[0].count;
    nova_free(sorted);

    /* side_of[l]: the lung each kept region belongs to. */
    uint8_t *side_of = nova_calloc(error, (size_t)nl + 1, 1);
    if (!side_of)
        goto done;
    double lung_x[3] = {0, 0, 0}; /* world x of each lung's centroid */
    if (second) {
        double w1[3], w2[3], ci[3];
        for (int a = 0; a < 3; a++)
            ci[a] = reg[first].sum[a] / (double)reg[first].count;
        coarse_to_world(c, g, ci, w1);
        for (int a = 0; a < 3; a++)
            ci[a] = reg[second].sum[a] / (double)reg[second].count;
        coarse_to_world(c, g, ci, w2);
        /* LPS: the larger x is the patient's left. */
        side_of[first] = w1[0] > w2[0] ? NOVA_LUNG_LEFT : NOVA_LUNG_RIGHT;
        side_of[second] = w1[0] > w2[0] ? NOVA_LUNG_RIGHT : NOVA_LUNG_LEFT;
        lung_x[side_of[first]] = w1[0];
        lung_x[side_of[second]] = w2[0];
    } else {
        split = nova_malloc(error, c->n);
        if (!split) {
            nova_free(side_of);
            goto done;
        }
        for (size_t i = 0; i < c->n; i++)
            m[i] = labels[i] == first;
        bool did = false;
        if (!split_region(error, pool, c, m, split, &did)) {
            nova_free(side_of);
            goto done;
        }
        if (did) {
            /* Two lungs lie side by side: pieces one above the other are
             * one lung narrowed (by a mass, a fissure), not two. */
            double cs[3][3];
            size_t cn[3] = {0, 0, 0};
            memset(cs, 0, sizeof cs);
            for (size_t i = 0; i < c->n; i++)
                if (split[i]) {
                    cs[split[i]][0] += (double)(i % nx);
                    cs[split[i]][1] += (double)(i / nx % ny);
                    cs[split[i]][2] += (double)(i / (nx * ny));
                    cn[split[i]]++;
                }
            double wp[3][3];
            for (int p = 1; p <= 2; p++) {
                for (int a = 0; a < 3; a++)
                    cs[p][a] /= (double)cn[p];
                coarse_to_world(c, g, cs[p], wp[p]);
            }
            double dx = fabs(wp[1][0] - wp[2][0]);
            double dz = fabs(wp[1][2] - wp[2][2]);
            did = dx >= 50.0 && dx > dz;
        }
        if (did) {
            double sx[3] = {0, 0, 0}, sy[3] = {0, 0, 0}, sz[3] = {0, 0, 0};
            size_t sn[3] = {0, 0, 0};
            for (size_t i = 0; i < c->n; i++)
                if (split[i]) {
                    sx[split[i]] += (double)(i % nx);
                    sy[split[i]] += (double)(i / nx % ny);
                    sz[split[i]] += (double)(i / (nx * ny));
                    sn[split[i]]++;
                }
            double w[3][3];
            for (int p = 1; p <= 2; p++) {
                double ci[3] = {sx[p] / (double)sn[p], sy[p] / (double)sn[p],
                                sz[p] / (double)sn[p]};
                coarse_to_world(c, g, ci, w[p]);
            }
            uint8_t left_piece = w[1][0] > w[2][0] ? 1 : 2;
            for (size_t i = 0; i < c->n; i++)
                if (split[i])
                    c->lab[i] = split[i] == left_piece ? NOVA_LUNG_LEFT
                                                       : NOVA_LUNG_RIGHT;
            lung_x[NOVA_LUNG_LEFT] = w[left_piece][0];
            lung_x[NOVA_LUNG_RIGHT] = w[3 - left_piece][0];
            side_of[first] = 255; /* already written */
        } else {
            double ci[3], w[3];
            for (int a = 0; a < 3; a++)
                ci[a] = reg[first].sum[a] / (double)reg[first].count;
            coarse_to_world(c, g, ci, w);
            /* One air region that does not split where it is thin: one
             * lung (a crop, a pneumonectomy).  Its side: where the outside
             * air lies next to it, when that is clearly one side (a lung
             * faces the chest wall and the air beyond it laterally, the
             * mediastinum medially; this holds in crops whose body centre
             * is meaningless), else the side of the body's centre. */
            {
                size_t lo_side = 0, hi_side = 0;
                size_t rx0 = SIZE_MAX, rx1 = 0;
                for (size_t i = 0; i < c->n; i++)
                    if (labels[i] == first) {
                        size_t xx = i % nx;
                        if (xx < rx0)
                            rx0 = xx;
                        if (xx > rx1)
                            rx1 = xx;
                    }
                for (size_t row = 0; row < ny * c->d[2]; row++) {
                    const uint32_t *lr = labels + row * nx;
                    const uint8_t *cr = c->cls + row * nx;
                    bool has = false;
                    for (size_t xx = rx0; xx <= rx1 && !has; xx++)
                        has = lr[xx] == first;
                    if (!has)
                        continue;
                    for (size_t xx = 0; xx < rx0; xx++)
                        lo_side += cr[xx] == CLS_OUTSIDE;
                    for (size_t xx = rx1 + 1; xx < nx; xx++)
                        hi_side += cr[xx] == CLS_OUTSIDE;
                }
                /* +i runs towards +x (patient left) when direction[0] > 0. */
                bool plus_i_is_left = g->direction[0] >= 0;
                bool one_sided =
                    lo_side > 3 * hi_side + 10 || hi_side > 3 * lo_side + 10;
                /* Body centre as a coarse i index (for the cut below). */
                double body_i = 0;
                {
                    double wi[3];
                    nova_geometry_world_to_index(g, body_w, wi);
                    body_i = (wi[0] + 0.5) / (double)c->f[0] - 0.5;
                }
                size_t below = 0;
                for (size_t i = 0; i < c->n; i++)
                    below += labels[i] == first && (double)(i % nx) < body_i;
                double frac = (double)below / (double)reg[first].count;
                if (!one_sided && frac > 0.2 && frac < 0.8 && nx > 8) {
                    /* Both sides of the body's midline and air beyond both
                     * flanks: two lungs that touch (the junction line is
                     * thinner than the working grid).  Each slice is cut
                     * where the region is narrowest within 40 mm of the
                     * midline. */
                    r->flags |= NOVA_LUNG_FLAG_NOT_SEPARATED;
                    nova__lung_warn(r, "left and right lungs touch and "
                                       "could not be separated at the "
                                       "junction line; they were divided "
                                       "where narrowest near the midline");
                    size_t band = (size_t)(40.0 / c->sp[0]);
                    size_t b0 = body_i > (double)band
                                    ? (size_t)(body_i - (double)band)
                                    : 0;
                    size_t b1 = (size_t)(body_i + (double)band);
                    if (b1 > nx - 1)
                        b1 = nx - 1;
                    size_t plane = nx * ny;
                    size_t *hist = nova_calloc(error, nx, sizeof *hist);
                    if (!hist) {
                        nova_free(side_of);
                        goto done;
                    }
                    for (size_t zz = 0; zz < c->d[2]; zz++) {
                        memset(hist, 0, nx * sizeof *hist);
                        for (size_t i = zz * plane; i < (zz + 1) * plane; i++)
                            hist[i % nx] += labels[i] == first;
                        size_t cut = (size_t)(body_i < 0 ? 0 : body_i);
                        for (size_t xx = b0; xx <= b1 && xx < nx; xx++) {
                            double dx = fabs((double)xx - body_i);
                            double dc = fabs((double)cut - body_i);
                            if (hist[xx] < hist[cut] ||
                                (hist[xx] == hist[cut] && dx < dc))
                                cut = xx;
                        }
                        for (size_t i = zz * plane; i < (zz + 1) * plane; i++)
                            if (labels[i] == first) {
                                bool low = i % nx < cut;
                                bool is_left =
                                    low ? !plus_i_is_left : plus_i_is_left;
                                c->lab[i] =
                                    is_left ? NOVA_LUNG_LEFT : NOVA_LUNG_RIGHT;
                            }
                    }
                    nova_free(hist);
                    side_of[first] = 255;
                    lung_x[NOVA_LUNG_LEFT] =
                        body_w[0] + (plus_i_is_left ? 1 : -1) * 50.0;
                    lung_x[NOVA_LUNG_RIGHT] =
                        body_w[0] - (plus_i_is_left ? 1 : -1) * 50.0;
                } else {
                    bool left;
                    if (lo_side > 3 * hi_side + 10)
                        left = !plus_i_is_left;
                    else if (hi_side > 3 * lo_side + 10)
                        left = plus_i_is_left;
                    else
                        left = w[0] > body_w[0];
                    side_of[first] = left ? NOVA_LUNG_LEFT : NOVA_LUNG_RIGHT;
                    lung_x[side_of[first]] = w[0];
                    lung_x[3 - side_of[first]] = left ? -INFINITY : INFINITY;
                }
            }
        }
    }
    size_t lo[3] = {SIZE_MAX, SIZE_MAX, SIZE_MAX}, hi[3] = {0, 0, 0};
    /* Per row: whether it holds either lung (a reduction that
     * vectorises), then its first and last such voxel. */
    uint32_t want2 = second ? second : first;
    for (size_t i = 0, zz = 0; zz < c->d[2]; zz++)
        for (size_t yy = 0; yy < ny; yy++, i += nx) {
            const uint32_t *row = labels + i;
            unsigned any = 0;
            for (size_t xx = 0; xx < nx; xx++)
                any |= (row[xx] == first) | (row[xx] == want2);
            if (!any)
                continue;
            size_t x0 = 0, x1 = nx - 1;
            while (row[x0] != first && row[x0] != want2)
                x0++;
            while (row[x1] != first && row[x1] != want2)
                x1--;
            size_t p0[3] = {x0, yy, zz}, p1[3] = {x1, yy, zz};
            for (int a = 0; a < 3; a++) {
                if (p0[a] < lo[a])
                    lo[a] = p0[a];
                if (p1[a] > hi[a])
                    hi[a] = p1[a];
            }
        }
    /* Smaller regions (lung cut off by the airway removal, a lobe behind a
     * fissure at coarse resolution) join the nearer lung along x when they
     * are not negligible. */
    for (uint32_t l = 1; l <= nl; l++) {
        if (l == first || l == second || reg[l].count * 50 < big)
            continue;
        double ci[3], w[3];
        for (int a = 0; a < 3; a++)
            ci[a] = reg[l].sum[a] / (double)reg[l].count;
        /* Only pieces lying within the lungs' box: air elsewhere (bowel
         * below the diaphragm) is not lung. */
        bool inside = true;
        for (int a = 0; a < 3; a++)
            inside &= ci[a] >= (double)lo[a] && ci[a] <= (double)hi[a];
        if (!inside)
            continue;
        coarse_to_world(c, g, ci, w);
        side_of[l] = fabs(w[0] - lung_x[NOVA_LUNG_LEFT]) <
                             fabs(w[0] - lung_x[NOVA_LUNG_RIGHT])
                         ? NOVA_LUNG_LEFT
                         : NOVA_LUNG_RIGHT;
    }
    for (size_t i = 0; i < c->n; i++) {
        uint32_t l = labels[i];
        if (l && side_of[l] && side_of[l] != 255)
            c->lab[i] = side_of[l];
    }
    nova_free(side_of);
    ok = true;
done:
    nova_free(m);
    nova_free(split);
    nova_free(reg);
    return ok;
}

/* ------------------------------------------------------------- dense lung */

/* Severe COVID-19, fibrosis or oedema leave only islands of aerated lung:
 * block means of diseased lung read -600 to -250 (ground glass, reticulation)
 * and its air pockets fall apart at air_hu, so the mask covered only the
 * aerated part (covid-ny-sbu A046441).  Fat reads -100 and muscle, heart
 * and liver +40 or more, so lung-like blocks below dense_lung_hu that touch
 * a lung in the same slice join it.  The growth runs in each slice on its
 * own (in-plane, 4-connected, breadth-first from both lungs at once), so a
 * partial-volume path through the diaphragm dome into bowel below cannot
 * carry it across slices. */
/* Temporary marks of grown voxels in c->lab during the growth. */
#define GROWN 0x10u
#define RIM 0x20u
#define RIM2 0x40u
#define SEEN 0x80u
#define EXTERIOR 0x08u /* not grown: the wall a grown rim faces */
#define HOLE 0x04u     /* not grown, enclosed, small */
/* Smallest enclosed hole that still counts as the lung's wall. */
#define DENSE_HOLE_MM2 100.0
/* Smallest grown region kept in a slice. */
#define DENSE_MIN_MM2 300.0

struct grow_ctx {
    struct coarse *c;
    int16_t dense_hu;
    double px_mm2;    /* coarse pixel area */
    uint32_t **queue; /* per thread, one coarse plane */
    int32_t **tmp;    /* per thread, one plane */
    int16_t **sm;     /* per thread, one plane */
};

/* sm: the in-plane 3 x 3 mean of the block means (about 7.5 mm), so
 * that diseased lung whose air pockets and dense strands alternate from
 * block to block reads as one lung-like region; a block itself above
 * DENSE_BLOCK_MAX_HU (bone, contrast-filled vessels) never joins. */
#define DENSE_BLOCK_MAX_HU 150

/* Dense dependent consolidation with air bronchograms (covid-ny-sbu
 * A046441, A098752) alternates aerated blocks (-600 to -250) with solid
 * ones (0 to 60) and its 3 x 3 mean reads -150 to -50, the band of fat.
 * Fat is uniform and holds no air: a block whose 3 x 3 mean lies below
 * DENSE_AERATED_HU joins when at least DENSE_AERATED_MIN blocks of its
 * 3 x 3 window read below DENSE_AIR_BLOCK_HU.  (Fat at the lung's edge
 * has lung blocks in its window too; it is the rim given back below.) */
#define DENSE_AERATED_HU (-50)
#define DENSE_AIR_BLOCK_HU (-250)
#define DENSE_AERATED_MIN 3

static bool aerated_window(const struct coarse *c, size_t base, size_t p)
{
    size_t nx = c->d[0], ny = c->d[1], x = p % nx, y = p / nx;
    const int16_t *hu = c->hu + base;
    int n = 0;
    for (size_t yy = y > 0 ? y - 1 : 0; yy <= y + 1 && yy < ny; yy++)
        for (size_t xx = x > 0 ? x - 1 : 0; xx <= x + 1 && xx < nx; xx++)
            n += hu[yy * nx + xx] < DENSE_AIR_BLOCK_HU;
    return n >= DENSE_AERATED_MIN;
}

/* Block p of the slice that starts at base. */
static bool growable(const struct coarse *c, size_t base, size_t p, int16_t sm,
                     int16_t dense_hu)
{
    size_t i = base + p;
    return c->lab[i] == 0 && c->hu[i] < DENSE_BLOCK_MAX_HU &&
           c->cls[i] != CLS_OUTSIDE && c->cls[i] != CLS_GAS &&
           (sm < dense_hu ||
            (sm < DENSE_AERATED_HU && aerated_window(c, base, p)));
}

/* 3 x 3 in-plane mean of the block means of slice z into sm (one plane);
 * rows and columns at the edge average what exists. */
static void smooth_slice(const struct coarse *c, size_t z, int32_t *tmp,
                         int16_t *sm)
{
    size_t nx = c->d[0], ny = c->d[1];
    const int16_t *hu = c->hu + z * nx * ny;
    for (size_t y = 0; y < ny; y++)
        for (size_t x = 0; x < nx; x++) {
            const int16_t *r = hu + y * nx;
            int32_t v = r[x];
            int32_t n = 1;
            if (x > 0) {
                v += r[x - 1];
                n++;
            }
            if (x + 1 < nx) {
                v += r[x + 1];
                n++;
            }
            tmp[y * nx + x] = v * 16 / n;
        }
    for (size_t y = 0; y < ny; y++)
        for (size_t x = 0; x < nx; x++) {
            int32_t v = tmp[y * nx + x], n = 1;
            if (y > 0) {
                v += tmp[(y - 1) * nx + x];
                n++;
            }
            if (y + 1 < ny) {
                v += tmp[(y + 1) * nx + x];
                n++;
            }
            sm[y * nx + x] = (int16_t)(v / (16 * n));
        }
}

/* The in-plane face neighbours of plane index p on an nx x ny slice:
 * their indices in nb, their count returned. */
static int neighbours4(size_t p, size_t nx, size_t ny, size_t nb[4])
{
    size_t x = p % nx, y = p / nx;
    int k = 0;
    if (x > 0)
        nb[k++] = p - 1;
    if (x + 1 < nx)
        nb[k++] = p + 1;
    if (y > 0)
        nb[k++] = p - nx;
    if (y + 1 < ny)
        nb[k++] = p + nx;
    return k;
}

/* Marks the not-grown blocks next to grown ones in slice z: EXTERIOR
 * (the wall the rim faces) or HOLE (a small hole in grown lung).  A hole
 * is a 4-connected not-grown region under DENSE_HOLE_MM2 (limit blocks)
 * that touches neither the slice's edge, nor aerated lung or airway, nor
 * a block above DENSE_BLOCK_MAX_HU (a contrast-filled vessel): the dense
 * strands between the air bronchograms of consolidated lung.  A hilar
 * vessel or bronchus ringed by the partial volume grown around it is
 * larger (A048383), and the chest wall and mediastinum reach the edge.
 * Each flood stops at limit blocks or at a block already known to be
 * wall, so the work stays near the grown blocks. */
static void classify_holes(struct coarse *c, size_t z, const uint32_t *q,
                           size_t tail, uint32_t *st, size_t limit)
{
    size_t nx = c->d[0], ny = c->d[1], plane = nx * ny;
    uint8_t *lab = c->lab + z * plane;
    const int16_t *hu = c->hu + z * plane;
    for (size_t t = 0; t < tail; t++) {
        size_t nb0[4];
        if (!(lab[q[t]] & GROWN))
            continue;
        int k0 = neighbours4(q[t], nx, ny, nb0);
        for (int j0 = 0; j0 < k0; j0++) {
            if (lab[nb0[j0]] != 0)
                continue;
            size_t top = 0, count = 0;
            bool wall = false;
            st[top++] = (uint32_t)nb0[j0];
            lab[nb0[j0]] = HOLE;
            while (count < top && !wall) {
                size_t p = st[count++], nb[4];
                int k = neighbours4(p, nx, ny, nb);
                wall = k < 4 || hu[p] >= DENSE_BLOCK_MAX_HU;
                for (int j = 0; j < k && !wall; j++) {
                    uint8_t l = lab[nb[j]];
                    if (l == 0) {
                        wall = top >= limit;
                        lab[nb[j]] = HOLE;
                        st[top++] = (uint32_t)nb[j];
                    } else {
                        wall = l == EXTERIOR || l == NOVA_LUNG_RIGHT ||
                               l == NOVA_LUNG_LEFT || l == NOVA_LUNG_AIRWAY;
                    }
                }
            }
            if (wall)
                for (size_t j = 0; j < top; j++)
                    lab[st[j]] = EXTERIOR;
        }
    }
}

static void grow_slices(void *vctx, size_t begin, size_t end, int thread)
{
    struct grow_ctx *x = vctx;
    struct coarse *c = x->c;
    size_t nx = c->d[0], ny = c->d[1], plane = nx * ny;
    uint32_t *q = x->queue[thread];
    int16_t *sm = x->sm[thread];
    for (size_t z = begin; z < end; z++) {
        uint8_t *lab = c->lab + z * plane;
        smooth_slice(c, z, x->tmp[thread], sm);
        size_t head = 0, tail = 0;
        for (size_t p = 0; p < plane; p++)
            if (lab[p] == NOVA_LUNG_RIGHT || lab[p] == NOVA_LUNG_LEFT)
                q[tail++] = (uint32_t)p;
        while (head < tail) {
            size_t p = q[head++], nb[4];
            int k = neighbours4(p, nx, ny, nb);
            for (int j = 0; j < k; j++)
                if (growable(c, z * plane, nb[j], sm[nb[j]], x->dense_hu)) {
                    lab[nb[j]] = (uint8_t)(GROWN | (lab[p] & 3));
                    q[tail++] = (uint32_t)nb[j];
                }
        }
        /* The partial-volume rim between aerated lung and the chest wall,
         * mediastinum or diaphragm also reads -600 to -150, and the 3 x 3
         * mean reaches one block further into the fat beyond it: the two
         * grown layers that face what did not grow (tissue, outside air)
         * are given back.  What did not grow counts as the wall only
         * where it is not a small hole in grown lung (classify_holes):
         * giving back two layers around each dense strand between air
         * bronchograms erased dependent consolidation (covid-ny-sbu
         * A046441). */
        classify_holes(c, z, q, tail, (uint32_t *)x->tmp[thread],
                       (size_t)ceil(DENSE_HOLE_MM2 / x->px_mm2));
        for (int pass = 0; pass < 2; pass++) {
            uint8_t mark = pass ? RIM2 : RIM;
            for (size_t t = 0; t < tail; t++) {
                size_t p = q[t], xx = p % nx, yy = p / nx;
                if (!(lab[p] & GROWN) || (lab[p] & (RIM | RIM2)))
                    continue;
                uint8_t want = pass ? RIM : 0xff;
#define FACES(nb) (pass ? (lab[nb] & want) != 0 : lab[nb] == EXTERIOR)
                bool rim =
                    (xx > 0 && FACES(p - 1)) || (xx + 1 < nx && FACES(p + 1)) ||
                    (yy > 0 && FACES(p - nx)) || (yy + 1 < ny && FACES(p + nx));
#undef FACES
                if (rim)
                    lab[p] |= mark;
            }
        }
        /* What is left of a small growth is a crevice filled between
         * hilar vessels and bronchi or along the mediastinum, not diseased
         * lung (which is tens of cm^2 in a slice): grown regions under
         * DENSE_MIN_MM2 are given back too (COVID-19-NY-SBU A048383: hilar
         * vessels became "lesions"). */
        uint32_t *stack = (uint32_t *)x->tmp[thread];
        for (size_t t = 0; t < tail; t++) {
            size_t p0 = q[t];
            if ((lab[p0] & (GROWN | RIM | RIM2 | SEEN)) != GROWN)
                continue;
            size_t top = 0, count = 0;
            stack[top++] = (uint32_t)p0;
            lab[p0] |= SEEN;
            /* The stack's slots below `count` keep the region's voxels. */
            while (count < top) {
                size_t p = stack[count++], nb[4];
                int k = neighbours4(p, nx, ny, nb);
                for (int j = 0; j < k; j++)
                    if ((lab[nb[j]] & (GROWN | RIM | RIM2 | SEEN)) == GROWN) {
                        lab[nb[j]] |= SEEN;
                        stack[top++] = (uint32_t)nb[j];
                    }
            }
            if ((double)count * x->px_mm2 < DENSE_MIN_MM2)
                for (size_t j = 0; j < count; j++)
                    lab[stack[j]] |= RIM;
        }
        for (size_t t = 0; t < tail; t++) {
            size_t p = q[t];
            if (lab[p] & (RIM | RIM2))
                lab[p] = 0;
            else
                lab[p] &= 3;
        }
        for (size_t p = 0; p < plane && tail > 0; p++)
            lab[p] = lab[p] == EXTERIOR || lab[p] == HOLE ? 0 : lab[p];
    }
}

/* A single slice whose second lung is all diseased has no aerated
 * component big enough to be found (A046441: the left lung's air pockets
 * are each a few mm deep).  There, a lung-like region (below dense_lung_hu)
 * of at least 10 cm^2, an eighth of it below air_hu, away from the image
 * edge and on the other side of the body's midline from the lung that was
 * found, is the missing lung.  Only for one slice: in a volume the other
 * slices decide, and a region like that below the lungs is bowel. */
static bool adopt_missing_lung(NovaError **error, const NovaLungOptions *o,
                               struct coarse *c, const int16_t *sm)
{
    size_t nx = c->d[0], ny = c->d[1], plane = nx * ny;
    double sum[3] = {0, 0, 0};
    size_t cnt[3] = {0, 0, 0};
    for (size_t i = 0; i < plane; i++) {
        uint8_t l = c->lab[i];
        if (l == NOVA_LUNG_RIGHT || l == NOVA_LUNG_LEFT) {
            sum[l] += (double)(i % nx);
            cnt[l]++;
        }
    }
    double bc, bw;
    if ((cnt[1] > 0) == (cnt[2] > 0) || !body_extent_x(c, 0, &bc, &bw))
        return true;
    uint8_t found = cnt[1] ? NOVA_LUNG_RIGHT : NOVA_LUNG_LEFT;
    double found_x = sum[found] / (double)cnt[found];
    uint8_t *m = nova_malloc(error, plane);
    uint32_t *lab = nova_malloc_array(error, plane, sizeof *lab);
    struct {
        size_t count, air;
        double sx;
        bool edge;
    } *st = NULL;
    uint32_t nl = 0;
    bool ok = m && lab;
    if (ok) {
        for (size_t i = 0; i < plane; i++)
            m[i] = growable(c, 0, i, sm[i], (int16_t)o->dense_lung_hu);
        size_t d2[3] = {nx, ny, 1};
        ok = nova_imgproc_label(error, NULL, m, d2, 6, lab, &nl);
    }
    if (ok && nl) {
        st = nova_calloc(error, (size_t)nl + 1, sizeof *st);
        ok = st != NULL;
    }
    if (ok && nl) {
        for (size_t i = 0; i < plane; i++) {
            uint32_t l = lab[i];
            if (!l)
                continue;
            size_t xx = i % nx, yy = i / nx;
            st[l].count++;
            st[l].air += c->hu[i] < o->air_hu;
            st[l].sx += (double)xx;
            st[l].edge |= xx == 0 || yy == 0 || xx == nx - 1 || yy == ny - 1;
        }
        double px_mm2 = c->sp[0] * c->sp[1];
        uint8_t missing =
            found == NOVA_LUNG_RIGHT ? NOVA_LUNG_LEFT : NOVA_LUNG_RIGHT;
        for (size_t i = 0; i < plane; i++) {
            uint32_t l = lab[i];
            if (!l || st[l].edge || (double)st[l].count * px_mm2 < 1000 ||
                8 * st[l].air < st[l].count)
                continue;
            double cx = st[l].sx / (double)st[l].count;
            if ((cx - bc) * (found_x - bc) < 0)
                c->lab[i] = missing;
        }
    }
    nova_free(m);
    nova_free(lab);
    nova_free(st);
    return ok;
}

static bool grow_dense_lung(NovaError **error, NovaPool *pool,
                            const NovaLungOptions *o, struct coarse *c)
{
    if (!(o->dense_lung_hu > o->air_hu))
        return true;
    int T = pool ? nova_pool_get_threads(pool) : 1;
    size_t plane = c->d[0] * c->d[1];
    struct grow_ctx x = {c,
                         (int16_t)lrint(fmax(o->dense_lung_hu, -1024)),
                         c->sp[0] * c->sp[1],
                         NULL,
                         NULL,
                         NULL};
    x.queue = nova_calloc(error, (size_t)T, sizeof *x.queue);
    x.tmp = nova_calloc(error, (size_t)T, sizeof *x.tmp);
    x.sm = nova_calloc(error, (size_t)T, sizeof *x.sm);
    bool ok = x.queue && x.tmp && x.sm;
    for (int t = 0; ok && t < T; t++) {
        x.queue[t] = nova_malloc_array(error, plane, sizeof(uint32_t));
        x.tmp[t] = nova_malloc_array(error, plane, sizeof(int32_t));
        x.sm[t] = nova_malloc_array(error, plane, sizeof(int16_t));
        ok = x.queue[t] && x.tmp[t] && x.sm[t];
    }
    if (ok && c->d[2] == 1) {
        smooth_slice(c, 0, x.tmp[0], x.sm[0]);
        ok = adopt_missing_lung(error, o, c, x.sm[0]);
    }
    if (ok)
        nova_pool_parallel_for(pool, c->d[2], grow_slices, &x);
    for (int t = 0; t < T; t++) {
        if (x.queue)
            nova_free(x.queue[t]);
        if (x.tmp)
            nova_free(x.tmp[t]);
        if (x.sm)
            nova_free(x.sm[t]);
    }
    nova_free(x.queue);
    nova_free(x.tmp);
    nova_free(x.sm);
    return ok;
}

/* Set mark[i] = 2 where lung `lung` lies within reach_mm both above and
 * below voxel i along z (a single-slice scan counts as both), leaving other
 * values alone; c may be a slab of slices holding all of that lung.  Two
 * sweeps along z per column (near[] holds each column's nearest lung slice
 * so far), over the columns p0..p1 of each slice, so memory is read in
 * order; columns are independent, so the pool splits them. */
struct above_below_ctx {
    const struct coarse *c;
    uint8_t lung;
    int32_t reach; /* slices */
    uint8_t *mark;
    int32_t *near;
    size_t chunk; /* columns per job */
};

static void above_below_columns(void *vctx, size_t begin, size_t end,
                                int thread)
{
    (void)thread;
    const struct above_below_ctx *x = vctx;
    const struct coarse *c = x->c;
    size_t plane = c->d[0] * c->d[1], nz = c->d[2];
    size_t p0 = begin * x->chunk, p1 = end * x->chunk;
    if (p1 > plane)
        p1 = plane;
    int32_t *restrict near = x->near;
    uint8_t lung = x->lung;
    int32_t reach = x->reach;
    /* Forward: slices since the last lung voxel below. */
    for (size_t p = p0; p < p1; p++)
        near[p] = -1000000;
    for (size_t z = 0; z < nz; z++) {
        const uint8_t *restrict lab = c->lab + z * plane;
        uint8_t *restrict mk = x->mark + z * plane;
        int32_t zz = (int32_t)z;
        /* Selects, not branches, so that the columns vectorise. */
        for (size_t p = p0; p < p1; p++) {
            near[p] = lab[p] == lung ? zz : near[p];
            mk[p] = mk[p] != 1 ? (zz - near[p] <= reach ? 3 : 0) : mk[p];
        }
    }
    /* Backward: slices to the next lung voxel above. */
    for (size_t p = p0; p < p1; p++)
        near[p] = 1000000;
    for (size_t z = nz; z-- > 0;) {
        const uint8_t *restrict lab = c->lab + z * plane;
        uint8_t *restrict mk = x->mark + z * plane;
        int32_t zz = (int32_t)z;
        for (size_t p = p0; p < p1; p++) {
            near[p] = lab[p] == lung ? zz : near[p];
            mk[p] = mk[p] == 3 ? (near[p] - zz <= reach ? 2 : 0) : mk[p];
        }
    }
}

static void mark_lung_above_below(NovaPool *pool, const struct coarse *c,
                                  uint8_t lung, double reach_mm,
                                  bool single_slice, uint8_t *mark,
                                  int32_t *near)
{
    size_t plane = c->d[0] * c->d[1];
    if (single_slice) {
        for (size_t i = 0; i < plane; i++)
            if (mark[i] != 1)
                mark[i] = 2;
        return;
    }
    struct above_below_ctx x = {c,    lung, (int32_t)(reach_mm / c->sp[2]),
                                mark, near, 1024};
    nova_pool_parallel_for(pool, (plane + x.chunk - 1) / x.chunk,
                           above_below_columns, &x);
}

/* ------------------------------------------------- consolidated lung */

/* Lobar consolidation (0 to +60 HU) has the density of the chest wall,
 * heart and liver, so no threshold keeps it, and the closings below fill
 * only dents narrower than their ball.  What places it in the lung is
 * where it lies: between the aerated lung and the rib cage.  From each
 * voxel of a lung that faces soft tissue, straight paths in
 * CONS_DIRECTIONS in-plane directions cross soft tissue (not fat, so the
 * mediastinal fat around the heart stops them; not air or bone).  A path
 * joins the lung when it
 *   - reaches a rib (bone here or within CONS_RIB_Z_MM along z: ribs
 *     cross an axial slice only in places) within CONS_REACH_MM, no
 *     deeper than CONS_WALL_MM below the skin (the spine and the scapula
 *     are not the pleura's wall);
 *   - goes outwards: its depth below the skin never grows (by more than
 *     half a block) and falls by at least CONS_OUTWARD of its length (a
 *     path that runs along the wall or dips into an organ does not);
 *   - is at least CONS_MIN_MM long (healthy lung is a block or two from
 *     its ribs);
 *   - reads CONS_MEAN_LO_HU to CONS_MEAN_HI_HU on average over its soft
 *     tissue: unenhanced consolidated lung 20 to 45 HU; pleural fluid
 *     (water) 0 to 15 HU; the liver 55 to 65 HU unenhanced and 70 or more
 *     with contrast (the IBSI phantom's liver dome reads 72); a solid
 *     tumour 40 to 60 (the IBSI phantom's: median 51).  Enhanced
 *     consolidation (40 to 80 HU) is therefore not taken (docs/chest.md).
 * The paths of a slice are joined by a closing (CONS_JOIN_MM) and opened
 * by a disc of CONS_OPEN_MM, which keeps a consolidation (thick) and drops
 * the thin layers of intercostal and paravertebral muscle that paths from
 * healthy lung cross to a rib a little further out.
 *
 * In front, the wall of the lower lobes and the middle lobe is costal
 * cartilage (100 to 200 HU uncalcified), not bone, so a consolidation
 * there has no rib to reach (phantom bacterial seed 4).  Cartilage
 * (CONS_CARTILAGE_HU up to bone) ends a path as a rib does when it lies
 * in front of the middle of the lungs' extent along y, more than
 * CONS_STERNUM_MM from the middle of their extent along x (beside the
 * sternum, not behind it, where the heart is), no deeper than
 * CONS_CARTILAGE_MM below the skin (it lies under the pectoral muscles;
 * at 25-30 mm the paths of cip-ct64 reached partial-volume bone beyond
 * the heart's right border and took in 3.4 ml there), and the path starts
 * from lung that goes on in the slice below (towards the feet): the
 * cartilage of the costal margin also covers the heart and the upper
 * abdomen under the lung base.  Elsewhere a cartilage block (a
 * contrast-filled vessel, a calcification) does not end the path, which
 * goes on to a rib as before.
 *
 * Between the cartilage and the heart, a middle lobe or lingula
 * consolidation is bounded medially by the pericardial fat, and the paths
 * through it run into that fat, not to the wall (phantom bacterial seed 4:
 * a third of its consolidation stayed out, lung Dice 0.977 at 128^2 x 80).
 * A fat block (CONS_FAT_LO_HU to CONS_FAT_HI_HU) ends a path as the wall
 * does when the path starts from lung that goes on in the slice below and
 * goes outwards (as for cartilage), the fat lies in the front half of the
 * lungs' extent along y and at least CONS_FAT_END_MM below the skin, and
 * the path's soft tissue is uniform consolidation: it averages at most
 * CONS_FAT_END_MEAN_HU and at most one block in ten reads below
 * CONS_FAT_END_FLOOR_HU; such paths are then kept only where they join a
 * consolidation that paths to the wall found in the same slice
 * (keep_fat_paths_at_wall).  Each condition, measured by leaving it out:
 *   - front half: 819 voxels of the IBSI phantom's solid tumour came in;
 *   - depth (the fat between and under the chest wall muscles is
 *     shallower): 484 more voxels of seed 4's chest wall at 192^2 x 120;
 *   - floor: 946 voxels of the IBSI tumour (before the join to the wall's
 *     consolidation, the partial volume at cip-ct64's right atrium too:
 *     Dice 0.9842 -> 0.9737);
 *   - ceiling: at 30 HU 189 voxels of the IBSI tumour (median 51 HU, block
 *     means 20-45 HU in places), at 35 HU 351; before the join to the
 *     wall's consolidation, 35 HU lowered the normal phantom's Dice 0.9948
 *     -> 0.9931 and 45 HU took in its heart (unenhanced blood and
 *     myocardium 35 to 60 HU).  At 26 HU seed 4 keeps 73 % of its
 *     consolidation at 128^2 x 80 (77 % at 28). */
#define CONS_DIRECTIONS 16
#define CONS_REACH_MM 90.0
#define CONS_RIB_Z_MM 12.0
#define CONS_MIN_MM 12.0
#define CONS_WALL_MM 50.0
#define CONS_OUTWARD 0.3
#define CONS_OPEN_MM 7.5
#define CONS_JOIN_MM 5.0
#define CONS_MEAN_LO_HU 20
#define CONS_MEAN_HI_HU 45
#define CONS_FAT_LO_HU (-150)
#define CONS_FAT_HI_HU (-50)
#define CONS_BONE_HU 300
#define CONS_CARTILAGE_HU 100
#define CONS_CARTILAGE_MM 20.0
#define CONS_STERNUM_MM 40.0
/* Pleural fluid: 0 to 20 HU (transudate; the phantom's effusion 4 to 12). */
#define FLUID_LO_HU (-10)
#define FLUID_HI_HU 18
#define CONS_FAT_END_MM 25.0
#define CONS_FAT_END_MEAN_HU 28
#define CONS_FAT_END_FLOOR_HU 10
enum { RIB_BONE = 1, RIB_CARTILAGE = 2 };

/* Soft tissue a path may cross: not air (outside, gas), bone or fat. */
static bool cons_passable(const struct coarse *c, size_t i)
{
    return c->lab[i] == 0 &&
           (c->cls[i] == CLS_TISSUE || c->cls[i] == CLS_SMALL) &&
           !(c->hu[i] >= CONS_FAT_LO_HU && c->hu[i] < CONS_FAT_HI_HU) &&
           c->hu[i] < CONS_BONE_HU;
}

/* rib[i] has RIB_BONE where a block within CONS_RIB_Z_MM along z (same
 * column) is bone, and RIB_CARTILAGE where one is costal cartilage
 * (CONS_CARTILAGE_HU to bone, in the columns cartilage_col marks), on
 * slices z0..z1: a forward and a backward sweep along z per column
 * (last[] holds each column's nearest bone slice so far, last[plane + p]
 * its nearest cartilage slice); columns are independent, so the pool
 * splits them. */
struct rib_ctx {
    const struct coarse *c;
    long lo, hi, reach; /* slices swept; reach in slices */
    const uint8_t *cartilage_col; /* columns where cartilage is the wall */
    size_t front_begin, front_end; /* the rows that hold such columns */
    uint8_t *rib;
    int16_t *last; /* two planes: bone, cartilage */
    size_t chunk;  /* columns per job */
};

/* One slice of a sweep over columns q0..q1: z the slice, fwd the
 * direction.  Without cartilage columns only the bone is followed (the
 * rows behind the lungs' middle, half the grid).  Slice numbers are kept
 * in int16 like the CT, so the loops vectorise over 8 columns at a time
 * (grids have at most 2000 slices). */
static inline void rib_sweep(const struct rib_ctx *x, long z, bool fwd,
                             size_t q0, size_t q1, bool cartilage)
{
    size_t plane = x->c->d[0] * x->c->d[1];
    const int16_t *h = x->c->hu + (size_t)z * plane;
    uint8_t *r = x->rib + (size_t)z * plane;
    int16_t *last = x->last, *lastc = x->last + plane;
    const uint8_t *cc = x->cartilage_col;
    int16_t zs = (int16_t)z, reach = (int16_t)x->reach;
    if (!cartilage) {
        for (size_t p = q0; p < q1; p++) {
            last[p] = h[p] >= CONS_BONE_HU ? zs : last[p];
            uint8_t near =
                (int16_t)(fwd ? zs - last[p] : last[p] - zs) <= reach;
            r[p] = fwd ? near : (uint8_t)(r[p] | near);
        }
        return;
    }
    for (size_t p = q0; p < q1; p++) {
        /* Branch-free, so the loop vectorises (bone also counts as
         * cartilage here; the path tests bone first). */
        last[p] = h[p] >= CONS_BONE_HU ? zs : last[p];
        lastc[p] = (h[p] >= CONS_CARTILAGE_HU) & cc[p] ? zs : lastc[p];
        uint8_t near = (uint8_t)(
            ((int16_t)(fwd ? zs - last[p] : last[p] - zs) <= reach) |
            ((int16_t)(fwd ? zs - lastc[p] : lastc[p] - zs) <= reach) << 1);
        r[p] = fwd ? near : (uint8_t)(r[p] | near);
    }
}

static void rib_columns(void *vctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    const struct rib_ctx *x = vctx;
    size_t plane = x->c->d[0] * x->c->d[1];
    size_t p0 = begin * x->chunk, p1 = end * x->chunk;
    if (p1 > plane)
        p1 = plane;
    /* last: each column's nearest bone slice so far; lastc: its nearest
     * cartilage slice (front columns only). */
    int16_t *last = x->last, *lastc = x->last + plane;
    size_t c0 = x->front_begin > p0 ? x->front_begin : p0;
    size_t c1 = x->front_end < p1 ? x->front_end : p1;
    if (c1 < c0)
        c1 = c0 = p1;
    for (size_t p = p0; p < p1; p++)
        last[p] = lastc[p] = INT16_MIN / 2;
    for (long z = x->lo; z <= x->hi; z++) {
        rib_sweep(x, z, true, p0, c0, false);
        rib_sweep(x, z, true, c0, c1, true);
        rib_sweep(x, z, true, c1, p1, false);
    }
    for (size_t p = p0; p < p1; p++)
        last[p] = lastc[p] = INT16_MAX / 2;
    for (long z = x->hi; z >= x->lo; z--) {
        rib_sweep(x, z, false, p0, c0, false);
        rib_sweep(x, z, false, c0, c1, true);
        rib_sweep(x, z, false, c1, p1, false);
    }
}

static void mark_ribs(NovaPool *pool, const struct coarse *c, size_t z0,
                      size_t z1, bool j_is_posterior, uint8_t *rib,
                      int16_t *last, uint8_t *cartilage_col, size_t front[2])
{
    front[0] = front[1] = 0;
    size_t nx = c->d[0], ny = c->d[1], plane = nx * ny;
    long reach = (long)(CONS_RIB_Z_MM / c->sp[2] + 0.5);
    long lo = (long)z0 - reach < 0 ? 0 : (long)z0 - reach;
    long hi = (long)z1 + reach > (long)c->d[2] - 1 ? (long)c->d[2] - 1
                                                   : (long)z1 + reach;
    /* Costal cartilage lies in front of the lungs (ahead of the middle of
     * their extent along y) and beside the sternum, not behind it, where
     * the heart and the mediastinum are: more than CONS_STERNUM_MM from
     * the middle of the lungs' extent along x. */
    size_t xlo = SIZE_MAX, xhi = 0, ylo = SIZE_MAX, yhi = 0;
    for (size_t z = z0; z <= z1; z++)
        for (size_t y = 0; y < ny; y++) {
            /* A vectorised test of the row first; most rows hold no
             * lung. */
            const uint8_t *row = c->lab + z * plane + y * nx;
            uint8_t any = 0;
            for (size_t xx = 0; xx < nx; xx++)
                any |= (row[xx] == NOVA_LUNG_RIGHT) |
                       (row[xx] == NOVA_LUNG_LEFT);
            if (!any)
                continue;
            ylo = y < ylo ? y : ylo;
            yhi = y > yhi ? y : yhi;
            size_t u = 0, v = nx - 1;
            while (row[u] != NOVA_LUNG_RIGHT && row[u] != NOVA_LUNG_LEFT)
                u++;
            while (row[v] != NOVA_LUNG_RIGHT && row[v] != NOVA_LUNG_LEFT)
                v--;
            xlo = u < xlo ? u : xlo;
            xhi = v > xhi ? v : xhi;
        }
    struct rib_ctx x = {c,   lo,   hi,  reach, cartilage_col, 0, 0,
                        rib, last, 1024};
    if (ylo <= yhi) {
        double xmid = 0.5 * (double)(xlo + xhi);
        size_t ymid = (ylo + yhi) / 2;
        size_t y0 = j_is_posterior ? 0 : ymid, y1 = j_is_posterior ? ymid : ny;
        for (size_t y = y0; y < y1; y++)
            for (size_t xx = 0; xx < nx; xx++)
                cartilage_col[y * nx + xx] =
                    fabs((double)xx - xmid) * c->sp[0] > CONS_STERNUM_MM;
        /* The rows in front of the lungs' middle: where fat can end a
         * path (cons_slices). */
        front[0] = y0;
        front[1] = y1;
        x.front_begin = y0 * nx;
        x.front_end = y1 * nx;
    }
    nova_pool_parallel_for(pool, (plane + x.chunk - 1) / x.chunk, rib_columns,
                           &x);
}

/* In-slice distance (mm) from each voxel to the nearest outside-air voxel
 * (cls CLS_OUTSIDE), by a chamfer transform with the 5 x 5 neighbourhood
 * (steps of 1, the diagonal and the knight's move, at the grid's
 * spacing): two raster passes, within 2 % of the Euclidean distance, and a
 * fraction of the cost of the exact transform.  Slices without outside air
 * read FLT_MAX. */
struct depth_ctx {
    const struct coarse *c;
    size_t z0;
    float *depth;     /* slab-relative */
    uint8_t *outside; /* slab-relative: the outside air */
    uint8_t *skin;    /* slab-relative: depth <= skin_mm */
    float skin_mm;
};

/* One raster pass of the chamfer transform over slice dp; dir +1 forward
 * (neighbours above and to the left), -1 backward.  Neighbour 0 is the
 * previous voxel of the same row; the others lie in rows already done, so
 * their minimum is taken first over the whole row (vectorised), then the
 * row is swept for neighbour 0.  Each voxel ends with the minimum of the
 * same sums as when all its neighbours are taken in turn. */
static void chamfer_pass(float *dp, long nx, long ny, const long *rel,
                         const int (*off)[2], const float *w, int dir)
{
    long y_first = dir > 0 ? 0 : ny - 1, y_end = dir > 0 ? ny : -1;
    for (long y = y_first; y != y_end; y += dir) {
        float *row = dp + y * nx;
        bool rows_ok = dir > 0 ? y >= 2 : y <= ny - 3;
        /* x in [2, nx - 3] with rows_ok: every neighbour exists. */
        long in0 = rows_ok ? 2 : nx, in1 = rows_ok ? nx - 3 : nx - 1;
        for (int k = 1; k < 8; k++) {
            const float *src = row - dir * rel[k];
            for (long x = in0; x <= in1; x++) {
                float u = src[x] + w[k];
                row[x] = u < row[x] ? u : row[x];
            }
        }
        /* The voxels outside [in0, in1] only (a jump over the inner ones,
         * not a test of each; on rows narrower than 5, none are inner). */
        long jump_to = in1 >= in0 ? in1 + 1 : in0;
        for (long x = 0; x < nx; x = x + 1 == in0 ? jump_to : x + 1) {
            float best = row[x];
            for (int k = 1; k < 8; k++) {
                long qx = x - dir * off[k][0], qy = y - dir * off[k][1];
                if (qx >= 0 && qx < nx && qy >= 0 && qy < ny) {
                    float u = dp[qy * nx + qx] + w[k];
                    best = u < best ? u : best;
                }
            }
            row[x] = best;
        }
        long x_first = dir > 0 ? 1 : nx - 2, x_end = dir > 0 ? nx : -1;
        for (long x = x_first; x != x_end; x += dir) {
            float u = row[x - dir] + w[0];
            row[x] = u < row[x] ? u : row[x];
        }
    }
}

static void depth_slices(void *vctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    const struct depth_ctx *x = vctx;
    const struct coarse *c = x->c;
    long nx = (long)c->d[0], ny = (long)c->d[1];
    size_t plane = (size_t)(nx * ny);
    double sx = c->sp[0], sy = c->sp[1];
    /* The forward pass's half neighbourhood (dx, dy), as steps back. */
    static const int off[8][2] = {{1, 0}, {1, 1}, {0, 1},  {-1, 1},
                                  {2, 1}, {1, 2}, {-1, 2}, {-2, 1}};
    float w[8];
    long rel[8];
    for (int k = 0; k < 8; k++) {
        w[k] = (float)hypot(off[k][0] * sx, off[k][1] * sy);
        rel[k] = off[k][1] * nx + off[k][0];
    }
    for (size_t s = begin; s < end; s++) {
        const uint8_t *cls = c->cls + (x->z0 + s) * plane;
        float *dp = x->depth + s * plane;
        for (size_t i = 0; i < plane; i++)
            dp[i] = cls[i] == CLS_OUTSIDE ? 0.0f : FLT_MAX;
        chamfer_pass(dp, nx, ny, rel, off, w, 1);
        chamfer_pass(dp, nx, ny, rel, off, w, -1);
        uint8_t *out = x->outside + s * plane, *skin = x->skin + s * plane;
        for (size_t i = 0; i < plane; i++) {
            out[i] = cls[i] == CLS_OUTSIDE;
            skin[i] = dp[i] <= x->skin_mm;
        }
    }
}

struct cons_ctx {
    const struct coarse *c;
    uint8_t lung;
    size_t z0;          /* first slice of the slab */
    const uint8_t *rib; /* mark_ribs */
    const float *depth; /* depth_slices, whole grid */
    uint8_t *mark;      /* out: paths that join (slab-relative) */
    int reach;          /* steps */
    /* Per direction: the in-plane offsets of its steps 1..reach, and the
     * length of one step (mm). */
    int (*step)[2];
    double step_mm[CONS_DIRECTIONS];
    int sup_step; /* +1 when k runs towards the head */
    size_t front_lo, front_hi; /* rows in front of the lungs' middle */
};

static void cons_slices(void *vctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    const struct cons_ctx *x = vctx;
    const struct coarse *c = x->c;
    long nx = (long)c->d[0], ny = (long)c->d[1];
    size_t plane = c->d[0] * c->d[1];
    float tol_mm = (float)(0.5 * fmin(c->sp[0], c->sp[1]));
    for (size_t s = begin; s < end; s++) {
        size_t z = x->z0 + s;
        const uint8_t *lab = c->lab + z * plane;
        const uint8_t *cls = c->cls + z * plane;
        const int16_t *hu = c->hu + z * plane;
        const float *depth = x->depth + z * plane;
        const uint8_t *rib = x->rib + z * plane;
        uint8_t *mark = x->mark + s * plane;
        for (size_t p = 0; p < plane; p++) {
            if (lab[p] != x->lung)
                continue;
            size_t nb[4];
            int k = neighbours4(p, (size_t)nx, (size_t)ny, nb), faces = 0;
            for (int j = 0; j < k; j++)
                faces += cons_passable(c, z * plane + nb[j]);
            if (!faces)
                continue;
            long x0 = (long)(p % (size_t)nx), y0 = (long)(p / (size_t)nx);
            float d0 = depth[p];
            /* The costal margin's cartilage also covers the heart and
             * the upper abdomen under the lung base: it is the wall only
             * for paths from lung that goes on towards the feet. */
            long zb = (long)z - x->sup_step;
            bool below_is_lung =
                zb >= 0 && zb < (long)c->d[2] &&
                c->lab[(size_t)zb * plane + p] == x->lung;
            for (int d = 0; d < CONS_DIRECTIONS; d++) {
                const int(*st)[2] = x->step + (size_t)d * (size_t)x->reach;
                float low = d0;
                int t = 0, n_soft = 0, n_solid = 0, n_low = 0;
                long sum_soft = 0, sum_solid = 0;
                bool hit = false, fat_end = false;
                for (; t < x->reach; t++) {
                    long xx = x0 + st[t][0], yy = y0 + st[t][1];
                    if (xx < 0 || yy < 0 || xx >= nx || yy >= ny)
                        break;
                    size_t q = (size_t)(yy * nx + xx);
                    if (lab[q] != 0 || cls[q] == CLS_OUTSIDE ||
                        cls[q] == CLS_GAS)
                        break;
                    float dq = depth[q];
                    if (dq > low + tol_mm)
                        break;
                    if (dq < low)
                        low = dq;
                    if (rib[q] & RIB_BONE) {
                        hit = dq <= CONS_WALL_MM &&
                              d0 - dq >= CONS_OUTWARD * (t + 1) * x->step_mm[d];
                        break;
                    }
                    /* Costal cartilage ends a path only where it can be
                     * the wall (see above); otherwise the path goes on. */
                    if ((rib[q] & RIB_CARTILAGE) && below_is_lung &&
                        dq <= CONS_CARTILAGE_MM &&
                        d0 - dq >= CONS_OUTWARD * (t + 1) * x->step_mm[d]) {
                        hit = true;
                        break;
                    }
                    /* The pericardial fat beside a consolidation in front
                     * (see above). */
                    if (hu[q] >= CONS_FAT_LO_HU && hu[q] < CONS_FAT_HI_HU &&
                        cls[q] == CLS_TISSUE && below_is_lung &&
                        (size_t)yy >= x->front_lo && (size_t)yy < x->front_hi &&
                        dq >= CONS_FAT_END_MM &&
                        d0 - dq >= CONS_OUTWARD * (t + 1) * x->step_mm[d]) {
                        hit = fat_end = true;
                        break;
                    }
                    if (!cons_passable(c, z * plane + q))
                        break;
                    if (hu[q] > CONS_FAT_HI_HU) {
                        sum_soft += hu[q];
                        n_soft++;
                        n_low += hu[q] < CONS_FAT_END_FLOOR_HU;
                    }
                    if (hu[q] > FLUID_HI_HU) {
                        sum_solid += hu[q];
                        n_solid++;
                    }
                }
                /* t steps lie before the rib. */
                if (!hit || t * x->step_mm[d] < CONS_MIN_MM || !n_soft)
                    continue;
                long mean = sum_soft / n_soft;
                if (mean < CONS_MEAN_LO_HU || mean > CONS_MEAN_HI_HU)
                    continue;
                /* Pleural fluid pulls the mean of a path through the liver
                 * dome behind it into the consolidation band (a phantom
                 * effusion under the dome brought 7 ml of liver in): the
                 * blocks above fluid density must average in the band too.
                 * Consolidation's own blocks of fluid density are noise
                 * (20 HU of it at 2.8 mm blocks), and leaving them out
                 * raises its mean by about 6 HU; stopping paths at fluid
                 * blocks instead lost seed 4's consolidation (0.977 ->
                 * 0.967). */
                if (n_solid && sum_solid / n_solid > CONS_MEAN_HI_HU)
                    continue;
                if (fat_end &&
                    (mean > CONS_FAT_END_MEAN_HU || 10 * n_low > n_soft))
                    continue;
                uint8_t v = fat_end ? 2 : 1;
                for (int u = 0; u < t; u++)
                    mark[(size_t)((y0 + st[u][1]) * nx + x0 + st[u][0])] |= v;
            }
        }
    }
}

/* The paths that end at fat (2 in mark) only widen a consolidation that
 * paths to the wall (1) found in the same slice: per slice, a fat path's
 * blocks are kept where they are 4-connected through marked blocks to a
 * wall path's; mark becomes 0/1.  Without this, paths from the right lung
 * through a hilar vessel to the mediastinal fat in front of it took in
 * 288 voxels of the mediastinum of bacterial seed 3 at 128^2 x 80 (Dice
 * 0.9858 -> 0.9846).  Most slices hold no fat path and are only
 * scanned; stack holds a plane. */
static void keep_fat_paths_at_wall(uint8_t *mark, size_t nx, size_t ny,
                                   size_t nz, uint32_t *stack)
{
    size_t plane = nx * ny;
    for (size_t s = 0; s < nz; s++) {
        uint8_t *m = mark + s * plane, any = 0;
        for (size_t i = 0; i < plane; i++)
            any |= m[i];
        if (!(any & 2))
            continue;
        /* 4: reached from a wall path's block. */
        size_t top = 0;
        for (size_t i = 0; i < plane; i++)
            if (m[i] & 1) {
                m[i] = 4;
                stack[top++] = (uint32_t)i;
            }
        while (top) {
            size_t nb[4];
            int k = neighbours4(stack[--top], nx, ny, nb);
            for (int j = 0; j < k; j++)
                if (m[nb[j]] & 3) {
                    m[nb[j]] = 4;
                    stack[top++] = (uint32_t)nb[j];
                }
        }
        for (size_t i = 0; i < plane; i++)
            m[i] = m[i] == 4;
    }
}

/* Marks lung `lung`'s consolidated pieces on slices zlo..zhi and adds them
 * to it; mark is scratch of the coarse grid's size. */
static bool fill_consolidation(NovaError **error, NovaPool *pool,
                               struct coarse *c, uint8_t lung, size_t zlo,
                               size_t zhi, int sup_step, const uint8_t *rib,
                               const size_t front[2], const float *depth,
                               uint8_t *mark)
{
    size_t plane = c->d[0] * c->d[1], nz = zhi - zlo + 1;
    struct cons_ctx x = {c, lung, zlo, rib,      depth,    mark,
                         0, NULL, {0}, sup_step, front[0], front[1]};
    x.reach = (int)(CONS_REACH_MM / fmin(c->sp[0], c->sp[1]));
    if (x.reach < 1)
        return true;
    x.step = nova_malloc_array(error, (size_t)CONS_DIRECTIONS * (size_t)x.reach,
                               sizeof *x.step);
    if (!x.step)
        return false;
    for (int k = 0; k < CONS_DIRECTIONS; k++) {
        double a = 2 * M_PI * k / CONS_DIRECTIONS;
        double dx = cos(a) / c->sp[0], dy = sin(a) / c->sp[1];
        /* One block per step along the major axis. */
        double s = fmax(fabs(dx), fabs(dy));
        dx /= s;
        dy /= s;
        x.step_mm[k] = hypot(dx * c->sp[0], dy * c->sp[1]);
        for (int t = 0; t < x.reach; t++) {
            x.step[k * x.reach + t][0] = (int)lrint((t + 1) * dx);
            x.step[k * x.reach + t][1] = (int)lrint((t + 1) * dy);
        }
    }
    memset(mark, 0, nz * plane);
    nova_pool_parallel_for(pool, nz, cons_slices, &x);
    nova_free(x.step);
    uint32_t *stack = nova_malloc_array(error, plane, sizeof *stack);
    if (!stack)
        return false;
    keep_fat_paths_at_wall(mark, c->d[0], c->d[1], nz, stack);
    nova_free(stack);

    /* The paths fan out from the lung; a closing joins them.  A
     * consolidation is thick; the layer of intercostal and paravertebral
     * muscle that paths from healthy lung cross to a rib a little further
     * out is thin: an opening of the joined paths by a disc of
     * CONS_OPEN_MM keeps the first and drops the second. */
    size_t slab[3] = {c->d[0], c->d[1], nz};
    uint8_t *lab = c->lab + zlo * plane;
    if (!nova_imgproc_morph(error, pool, NOVA_MORPH_CLOSE, mark, slab, c->sp,
                            CONS_JOIN_MM, true, mark))
        return false;
    uint8_t *open = nova_malloc(error, nz * plane);
    if (!open)
        return false;
    memcpy(open, mark, nz * plane);
    if (!nova_imgproc_morph(error, pool, NOVA_MORPH_OPEN, open, slab, c->sp,
                            CONS_OPEN_MM, true, open)) {
        nova_free(open);
        return false;
    }
    /* A select, not a branch: this runs on one thread over the slab. */
    const uint8_t *cls = c->cls + zlo * plane;
    const int16_t *hu = c->hu + zlo * plane;
    for (size_t i = 0; i < nz * plane; i++)
        lab[i] = (mark[i] != 0) & (open[i] != 0) & (lab[i] == 0) &
                         (cls[i] != CLS_OUTSIDE) & (hu[i] < CONS_BONE_HU)
                     ? lung
                     : lab[i];
    nova_free(open);
    return true;
}

/* Per-slice hole filling keeps in what the lung rings in a slice: vessels
 * wider than the closing ball and lesions.  It would also keep the top of
 * an organ dome (liver, spleen): the costophrenic recesses ring the dome
 * of the diaphragm in the slices just above it, and ground glass at the
 * base rings it more often (covid phantom seed 4: 17 ml of liver in three
 * slices, merged with the lesion around it; the normal phantoms: 25-40 ml
 * per lung).  What tells the two apart is 3D: a dome rises from the soft
 * tissue under the lung base, with no lung below it in its column, while
 * a vessel or lesion has lung or more of itself below it.  A hole's
 * soft-tissue voxels (ORGAN_HU or more) are given back when this lung has
 * no voxel below them in their column and directly below them (towards
 * the feet) lies soft tissue outside this lung and its holes, or a hole
 * voxel already given back; the slices are taken from the feet up and each
 * such voxel spreads in-plane (4-connected) through the hole's soft
 * tissue, so the whole dome cap goes and a ground-glass ring (below
 * ORGAN_HU) stays.  pre holds m before the hole filling (slab only) and
 * becomes the hole mark; stack and lung_below are one plane of scratch.
 * A hand-written flood and not nova_imgproc_label: each slice depends on
 * the one below, and only the few slices with holes are flooded. */
#define ORGAN_HU (-50)

static void refuse_organ_holes(const struct coarse *c, uint8_t lung,
                               size_t zlo, size_t nz, int sup_step,
                               uint8_t *m, uint8_t *pre, uint32_t *stack,
                               uint8_t *lung_below)
{
    size_t nx = c->d[0], ny = c->d[1], plane = nx * ny;
    size_t a = zlo * plane;
    /* pre becomes the hole mark in the slices that have holes: 1 a hole
     * voxel of soft tissue, 0 else. */
    uint8_t *h = pre;
    memset(lung_below, 0, plane);
    /* Slices (in feet-up order) below s_done are in lung_below; slices
     * with given-back voxels lie in s_lo..s_hi. */
    size_t s_done = 0, s_lo = SIZE_MAX, s_hi = 0;
    for (size_t s = 0; s < nz; s++) {
        /* From the feet up. */
        size_t z = sup_step > 0 ? s : nz - 1 - s;
        size_t p0 = a + z * plane;
        uint8_t *hz = h + z * plane;
        const int16_t *hu = c->hu + p0;
        /* Most slices have no hole at all. */
        if (memcmp(m + p0, hz, plane) == 0)
            continue;
        for (; s_done < s; s_done++) {
            size_t zd = sup_step > 0 ? s_done : nz - 1 - s_done;
            const uint8_t *lab = c->lab + a + zd * plane;
            for (size_t p = 0; p < plane; p++)
                lung_below[p] |= lab[p] == lung;
        }
        for (size_t p = 0; p < plane; p++)
            hz[p] = (uint8_t)(m[p0 + p] & (hz[p] ^ 1) & (hu[p] >= ORGAN_HU));
        size_t gz = zlo + z;
        if (sup_step > 0 ? gz == 0 : gz + 1 >= c->d[2])
            continue;
        size_t below = sup_step > 0 ? p0 - plane : p0 + plane;
        size_t top = 0;
        for (size_t p = 0; p < plane; p++) {
            if (!hz[p] || lung_below[p])
                continue;
            size_t j = below + p;
            bool outside_tissue = !m[j] && c->lab[j] != lung &&
                                  c->cls[j] == CLS_TISSUE &&
                                  c->hu[j] >= ORGAN_HU &&
                                  c->hu[j] < CONS_BONE_HU;
            if (outside_tissue || m[j] == 2) {
                hz[p] = 0;
                m[p0 + p] = 2;
                stack[top++] = (uint32_t)p;
            }
        }
        if (top > 0) {
            s_lo = s < s_lo ? s : s_lo;
            s_hi = s;
        }
        while (top > 0) {
            size_t p = stack[--top], nb[4];
            int k = neighbours4(p, nx, ny, nb);
            for (int q = 0; q < k; q++)
                if (hz[nb[q]]) {
                    hz[nb[q]] = 0;
                    m[p0 + nb[q]] = 2;
                    stack[top++] = (uint32_t)nb[q];
                }
        }
    }
    /* 2 marks the given-back voxels while the slices above look down on
     * them; they leave the mask now. */
    for (size_t s = s_lo; s <= s_hi && s_lo != SIZE_MAX; s++) {
        uint8_t *mz = m + a + (sup_step > 0 ? s : nz - 1 - s) * plane;
        for (size_t p = 0; p < plane; p++)
            mz[p] = mz[p] == 2 ? 0 : mz[p];
    }
}

/* Close each lung and fill its holes slice by slice, within the body; then
 * fill the wider dents along the costal pleura. */
/* The per-voxel steps of fill_lungs, split by slices over the pool. */
enum { FILL_EXTENT, FILL_MASK, FILL_JOIN, FILL_PLEURAL };

struct fill_step_ctx {
    const struct coarse *c;
    int step;
    uint8_t lung;
    size_t z0;  /* first slice (FILL_JOIN, FILL_PLEURAL) */
    uint8_t *m; /* whole grid */
    uint8_t *outside;
    const uint8_t *skin;
    uint8_t *present; /* FILL_EXTENT: per slice, bit l for lung l */
};

static void fill_step_slices(void *vctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    const struct fill_step_ctx *x = vctx;
    const struct coarse *c = x->c;
    size_t plane = c->d[0] * c->d[1];
    /* The loops below are selects and bitwise ands over arrays that do not
     * overlap (restrict), not branches, so that they vectorise. */
    uint8_t *restrict lab = c->lab, *restrict m = x->m,
                      *restrict outside = x->outside;
    const uint8_t *restrict cls = c->cls, *restrict skin = x->skin;
    const int16_t *restrict hu = c->hu;
    uint8_t lung = x->lung;
    for (size_t s = begin; s < end; s++) {
        size_t a = (x->z0 + s) * plane, b = a + plane;
        if (x->step == FILL_EXTENT) {
            uint8_t right = 0, left = 0;
            for (size_t i = a; i < b; i++) {
                right |= lab[i] == NOVA_LUNG_RIGHT;
                left |= lab[i] == NOVA_LUNG_LEFT;
            }
            x->present[s] =
                (uint8_t)(right << NOVA_LUNG_RIGHT | left << NOVA_LUNG_LEFT);
        } else if (x->step == FILL_MASK) {
            for (size_t i = a; i < b; i++)
                m[i] = lab[i] == lung;
        } else if (x->step == FILL_JOIN) {
            /* Bone (above 300 HU) stays out: a rib inside the closing ball
             * is outside the pleura.  m becomes the lung as it now
             * stands. */
            for (size_t i = a; i < b; i++) {
                uint8_t l = lab[i], k = cls[i];
                l = (m[i] != 0) & (l == 0) & (k != CLS_OUTSIDE) &
                            (k != CLS_GAS) & (hu[i] < 300)
                        ? lung
                        : l;
                lab[i] = l;
                m[i] = l == lung;
            }
        } else {
            for (size_t i = a; i < b; i++) {
                uint8_t l = lab[i], k = cls[i];
                lab[i] = (m[i] != 0) & (l == 0) & (k == CLS_TISSUE) &
                                 (hu[i] < 300) & (skin[i] != 0) &
                                 (outside[i] == 2)
                             ? lung
                             : l;
                outside[i] = k == CLS_OUTSIDE;
            }
        }
    }
}

/* ------------------------------------------------------- pleural fluid */

/* Pleural fluid is not lung.  It reads 0 to 20 HU (transudate; the
 * phantom's effusion 4 to 12), below the 20 HU floor of step 5b's paths,
 * but the closings and the pleural join of step 5 fill into it where it
 * dents the lung: 18 % of a 400 ml phantom effusion came into the mask,
 * and the lesion stage read part of it as consolidation (a normal chest
 * with an effusion read atypical).  After the fill, in each slice, a
 * region of fluid-density blocks outside the lungs (3 x 3 mean and own
 * mean in FLUID_LO_HU..FLUID_HI_HU, soft tissue, at least FLUID_MIN_MM2)
 * takes back the fluid-density lung blocks it reaches, breadth-first
 * through fluid-density blocks only.  Consolidation reads 20 to 45 HU
 * (step 5b), vessels and the heart 35 to 60, muscle 40 to 60, fat -150 to
 * -50, so none of them carries the give-back. */
#define FLUID_MIN_MM2 300.0

struct fluid_ctx {
    struct coarse *c;
    uint8_t *lab;  /* c->lab (lungs 1 and 2), or a mask (lung: nonzero) */
    bool binary;
    size_t z0;     /* first slice */
    uint8_t **mark;
    uint32_t **queue;
    double px_mm2;
};

static void fluid_slices(void *vctx, size_t begin, size_t end, int thread)
{
    struct fluid_ctx *x = vctx;
    struct coarse *c = x->c;
    size_t nx = c->d[0], ny = c->d[1], plane = nx * ny;
    uint32_t *q = x->queue[thread];
    uint8_t *mark = x->mark[thread];
    size_t min_blocks = (size_t)ceil(FLUID_MIN_MM2 / x->px_mm2);
    for (size_t s = begin; s < end; s++) {
        size_t z = x->z0 + s;
        uint8_t *lab = x->lab + z * plane;
        const uint8_t *cls = c->cls + z * plane;
        const int16_t *hu = c->hu + z * plane;
        bool any = false;
        for (size_t p = 0; p < plane && !any; p++)
            any = x->binary ? lab[p] != 0
                            : lab[p] == NOVA_LUNG_RIGHT ||
                                  lab[p] == NOVA_LUNG_LEFT;
        if (!any)
            continue;
        /* 1: fluid outside the lungs, 2: fluid in a lung, 4: seen.  The
         * 3 x 3 mean only for blocks whose own mean is near the band
         * (air, fat, muscle and bone fail that first): smoothing whole
         * slices cost 10 ms on the 512 phantom. */
        memset(mark, 0, plane);
        for (size_t p = 0; p < plane; p++) {
            if (hu[p] < FLUID_LO_HU - 10 || hu[p] > FLUID_HI_HU + 10 ||
                cls[p] != CLS_TISSUE)
                continue;
            size_t px = p % nx, py = p / nx;
            long sum = 0, n = 0;
            for (size_t yy = py ? py - 1 : 0; yy <= py + 1 && yy < ny; yy++)
                for (size_t xx = px ? px - 1 : 0; xx <= px + 1 && xx < nx;
                     xx++) {
                    sum += hu[yy * nx + xx];
                    n++;
                }
            if (sum < FLUID_LO_HU * n || sum > FLUID_HI_HU * n)
                continue;
            mark[p] = lab[p] == 0                  ? 1
                      : (x->binary || lab[p] <= 2) ? 2
                                                   : 0;
        }
        for (size_t p0 = 0; p0 < plane; p0++) {
            if (mark[p0] != 1)
                continue;
            /* the outside region of p0, then what it reaches in the lung */
            size_t head = 0, tail = 0, outside = 0;
            q[tail++] = (uint32_t)p0;
            mark[p0] |= 4;
            while (head < tail) {
                size_t p = q[head++], nb[4];
                outside += (mark[p] & 3) == 1;
                int k = neighbours4(p, nx, ny, nb);
                for (int j = 0; j < k; j++)
                    if ((mark[nb[j]] & 3) && !(mark[nb[j]] & 4)) {
                        mark[nb[j]] |= 4;
                        q[tail++] = (uint32_t)nb[j];
                    }
            }
            if (outside < min_blocks)
                continue;
            for (size_t t = 0; t < tail; t++)
                if ((mark[q[t]] & 3) == 2)
                    lab[q[t]] = 0;
        }
    }
}

/* Over slices z0 .. z0 + nz - 1 of lab: c->lab, or (binary) one lung's
 * mask on c's grid. */
static bool give_back_fluid(NovaError **error, NovaPool *pool,
                            struct coarse *c, uint8_t *lab, bool binary,
                            size_t z0, size_t nz)
{
    int T = pool ? nova_pool_get_threads(pool) : 1;
    size_t plane = c->d[0] * c->d[1];
    struct fluid_ctx x = {c, lab, binary, z0, NULL, NULL, c->sp[0] * c->sp[1]};
    x.mark = nova_calloc(error, (size_t)T, sizeof *x.mark);
    x.queue = nova_calloc(error, (size_t)T, sizeof *x.queue);
    bool ok = x.mark && x.queue;
    for (int t = 0; ok && t < T; t++) {
        x.mark[t] = nova_malloc(error, plane);
        x.queue[t] = nova_malloc_array(error, plane, sizeof(uint32_t));
        ok = x.mark[t] && x.queue[t];
    }
    if (ok)
        nova_pool_parallel_for(pool, nz, fluid_slices, &x);
    for (int t = 0; t < T; t++) {
        if (x.mark)
            nova_free(x.mark[t]);
        if (x.queue)
            nova_free(x.queue[t]);
    }
    nova_free(x.mark);
    nova_free(x.queue);
    return ok;
}

/* ------------------------------------------------ the rib cage as a wall */

/* Dependent consolidation in a single slice (docs/chest.md, step 5c).
 * Inside the ribs lie only pleura, thin extrapleural fat and lung; the
 * chest wall muscles and the scapula lie outside the rib arc.  The arc is
 * found along CAGE_RAYS rays from the lung's centroid (the first block of
 * CAGE_BONE_HU or more: a rib's block mean at 2.5 mm reads 150 to 300 HU
 * where it crosses the slice obliquely), and a rib gap takes the nearer
 * hits on either side: each ray's wall is at most a neighbour's hit plus
 * CAGE_SLOPE times the arc length between them (a lower envelope; a
 * 45 degree wall), so a ray through a gap does not reach the scapula
 * (A098752 19010127-128: the first hit through the gap beside its left
 * lung lay 86 mm out, the rib before it 43 mm).  The lung takes the
 * blocks that lie CAGE_MARGIN_MM inside that wall, behind its centroid
 * within CAGE_MEDIAL_DEG medially and CAGE_LATERAL_DEG laterally of
 * straight back, under the lung or under a block already taken (within
 * CAGE_UNDER_MM along y: the dependent side of a supine patient), whose
 * 3 x 3 mean is below CAGE_CEIL_HU and own mean below CAGE_OWN_MAX_HU,
 * that are not uniform fluid (the 3 x 3 window within CAGE_FLUID_SLACK_HU
 * of the fluid band), not within CAGE_SPINE_MARGIN_MM of bone near the
 * body's midline (the vertebra), that survive an opening by a disc of
 * CONS_OPEN_MM (thin extrapleural fat) and are joined in-plane to the
 * lung.  Figures for each constant in docs/chest.md. */
#define CAGE_RAYS 96
#define CAGE_REACH_MM 160.0
#define CAGE_BONE_HU 150
#define CAGE_SLOPE 1.0
#define CAGE_GAP_RAYS 12
#define CAGE_MARGIN_MM 6.0
#define CAGE_MEDIAL_DEG 20.0
#define CAGE_LATERAL_DEG 60.0
#define CAGE_UNDER_MM 20.0
#define CAGE_CEIL_HU (-10)
#define CAGE_OWN_MAX_HU 100
#define CAGE_FLUID_SLACK_HU 10
#define CAGE_SPINE_HALF_MM 30.0
#define CAGE_SPINE_MARGIN_MM 10.0
#define CAGE_MIN_LUNG_MM2 2500.0

/* The distance (mm) from (mx, my) to the first block of CAGE_BONE_HU or
 * more along each ray, after the lower envelope; -1 where no hit lies
 * within CAGE_GAP_RAYS. */
static void cage_arc(const struct coarse *c, double mx, double my,
                     double r[CAGE_RAYS])
{
    size_t nx = c->d[0], ny = c->d[1];
    double sx = c->sp[0], sy = c->sp[1], raw[CAGE_RAYS];
    double step = 0.5 * fmin(sx, sy), dth = 2 * M_PI / CAGE_RAYS;
    for (int k = 0; k < CAGE_RAYS; k++) {
        double a = k * dth, ca = cos(a), sa = sin(a);
        raw[k] = -1;
        for (double t = step; t < CAGE_REACH_MM; t += step) {
            long xx = lrint(mx + t * ca / sx), yy = lrint(my + t * sa / sy);
            if (xx < 0 || yy < 0 || xx >= (long)nx || yy >= (long)ny)
                break;
            size_t q = (size_t)yy * nx + (size_t)xx;
            if (c->cls[q] == CLS_OUTSIDE)
                break;
            if (c->hu[q] >= CAGE_BONE_HU) {
                raw[k] = t;
                break;
            }
        }
    }
    for (int k = 0; k < CAGE_RAYS; k++) {
        double best = raw[k] > 0 ? raw[k] : DBL_MAX;
        for (int j = 1; j <= CAGE_GAP_RAYS; j++)
            for (int s = -1; s <= 1; s += 2) {
                double v = raw[(k + s * j + 2 * CAGE_RAYS) % CAGE_RAYS];
                double w = v + CAGE_SLOPE * v * dth * j;
                if (v > 0 && w < best)
                    best = w;
            }
        r[k] = best < DBL_MAX ? best : -1;
    }
}

/* Whether block p (in-plane, slice 0) passes the density tests of the
 * rib-cage rule; sm is the slice's 3 x 3 mean. */
static bool cage_density(const struct coarse *c, const int16_t *sm, size_t p)
{
    size_t nx = c->d[0], ny = c->d[1];
    const int16_t *hu = c->hu;
    if (c->lab[p] != 0 || hu[p] >= CAGE_OWN_MAX_HU || sm[p] >= CAGE_CEIL_HU ||
        (c->cls[p] != CLS_TISSUE && c->cls[p] != CLS_SMALL))
        return false;
    if (hu[p] < FLUID_LO_HU || hu[p] > FLUID_HI_HU)
        return true;
    /* Uniform fluid: the whole 3 x 3 window near the fluid band. */
    long x0 = (long)(p % nx), y0 = (long)(p / nx);
    for (long yy = y0 - 1; yy <= y0 + 1; yy++)
        for (long xx = x0 - 1; xx <= x0 + 1; xx++)
            if (xx >= 0 && yy >= 0 && xx < (long)nx && yy < (long)ny) {
                int16_t v = hu[(size_t)yy * nx + (size_t)xx];
                if (v < FLUID_LO_HU - CAGE_FLUID_SLACK_HU ||
                    v > FLUID_HI_HU + CAGE_FLUID_SLACK_HU)
                    return true;
            }
    return false;
}

/* The rule on a single-slice grid (c->d[2] == 1) for lung `lung`. */
static bool fill_rib_cage(NovaError **error, NovaPool *pool, struct coarse *c,
                          uint8_t lung, bool j_is_posterior)
{
    size_t nx = c->d[0], ny = c->d[1], plane = nx * ny;
    uint8_t *lab = c->lab;
    double sx = c->sp[0], sy = c->sp[1], mx = 0, my = 0;
    size_t n = 0;
    for (size_t p = 0; p < plane; p++)
        if (lab[p] == lung) {
            mx += (double)(p % nx);
            my += (double)(p / nx);
            n++;
        }
    /* Colon loops taken for a lung in abdominal slices are small (A058062
     * 19010108-078: 2642 voxels, 16 cm^2; without this 8071 voxels of
     * bowel wall joined). */
    double body_c, body_w;
    if ((double)n * sx * sy < CAGE_MIN_LUNG_MM2 ||
        !body_extent_x(c, 0, &body_c, &body_w))
        return true;
    mx /= (double)n;
    my /= (double)n;
    double r[CAGE_RAYS];
    cage_arc(c, mx, my, r);
    uint8_t *ok = nova_malloc(error, plane);
    uint32_t *stack = nova_malloc_array(error, plane, sizeof *stack);
    int16_t *sm = nova_malloc_array(error, plane, sizeof *sm);
    int32_t *tmp = nova_malloc_array(error, plane, sizeof *tmp);
    bool good = ok && stack && sm && tmp;
    if (good) {
        smooth_slice(c, 0, tmp, sm);
        memset(ok, 0, plane);
    }
    long under = (long)(CAGE_UNDER_MM / sy), back_dir = j_is_posterior ? -1 : 1;
    /* From the front backwards, so a block under a taken one is under the
     * lung too. */
    for (size_t idx = 0; good && idx < plane; idx++) {
        size_t p = j_is_posterior ? idx : plane - 1 - idx;
        if (!cage_density(c, sm, p))
            continue;
        long x0 = (long)(p % nx), y0 = (long)(p / nx);
        double dx = ((double)x0 - mx) * sx, dy = ((double)y0 - my) * sy;
        double lat = mx >= body_c ? dx : -dx, back = j_is_posterior ? dy : -dy;
        double deg = atan2(lat, back) * 180 / M_PI;
        if (back <= 0 || deg < -CAGE_MEDIAL_DEG || deg > CAGE_LATERAL_DEG)
            continue;
        bool below = false;
        for (long t = 1; t <= under && !below; t++) {
            long yy = y0 + back_dir * t;
            if (yy < 0 || yy >= (long)ny)
                break;
            size_t q = (size_t)yy * nx + (size_t)x0;
            below = lab[q] == lung || ok[q];
        }
        if (!below)
            continue;
        double a = atan2(dy, dx);
        if (a < 0)
            a += 2 * M_PI;
        double f = a / (2 * M_PI) * CAGE_RAYS;
        int k0 = (int)floor(f) % CAGE_RAYS, k1 = (k0 + 1) % CAGE_RAYS;
        double w = f - floor(f);
        if (r[k0] < 0 || r[k1] < 0 ||
            hypot(dx, dy) >= (1 - w) * r[k0] + w * r[k1] - CAGE_MARGIN_MM)
            continue;
        ok[p] = 1;
    }
    /* Keep clear of the vertebra. */
    long sr = (long)ceil(CAGE_SPINE_MARGIN_MM / fmin(sx, sy));
    for (size_t p = 0; good && p < plane; p++) {
        if (c->hu[p] < CONS_BONE_HU ||
            fabs((double)(p % nx) - body_c) * sx > CAGE_SPINE_HALF_MM)
            continue;
        long x0 = (long)(p % nx), y0 = (long)(p / nx);
        for (long yy = y0 - sr; yy <= y0 + sr; yy++)
            for (long xx = x0 - sr; xx <= x0 + sr; xx++)
                if (xx >= 0 && yy >= 0 && xx < (long)nx && yy < (long)ny &&
                    hypot((double)(xx - x0) * sx, (double)(yy - y0) * sy) <=
                        CAGE_SPINE_MARGIN_MM)
                    ok[(size_t)yy * nx + (size_t)xx] = 0;
    }
    size_t d1[3] = {nx, ny, 1};
    good = good && nova_imgproc_morph(error, pool, NOVA_MORPH_OPEN, ok, d1,
                                      c->sp, CONS_OPEN_MM, true, ok);
    /* Joined in-plane to the lung. */
    size_t top = 0;
    for (size_t p = 0; good && p < plane; p++)
        if (lab[p] == lung)
            stack[top++] = (uint32_t)p;
    while (top) {
        size_t nb[4];
        int k = neighbours4(stack[--top], nx, ny, nb);
        for (int j = 0; j < k; j++)
            if (ok[nb[j]]) {
                ok[nb[j]] = 0;
                lab[nb[j]] = lung;
                stack[top++] = (uint32_t)nb[j];
            }
    }
    nova_free(ok);
    nova_free(stack);
    nova_free(sm);
    nova_free(tmp);
    return good;
}

static bool fill_lungs(NovaError **error, NovaPool *pool,
                       const NovaLungOptions *o, struct coarse *c,
                       int sup_step, bool j_is_posterior)
{
    size_t plane = c->d[0] * c->d[1];
    struct step_clock k;
    step_clock_start(&k);
    /* Each lung's slice range: its closings stay inside its bounding box
     * (a closing by a ball lies within the convex hull), and the per-slice
     * steps (hole filling, skin distance, the pleural fill) need only those
     * slices, so they run on that slab. */
    size_t zlo[3] = {SIZE_MAX, SIZE_MAX, SIZE_MAX}, zhi[3] = {0, 0, 0};
    uint8_t *present = nova_malloc(error, c->d[2]);
    if (!present)
        return false;
    struct fill_step_ctx fx = {.c = c, .step = FILL_EXTENT, .present = present};
    nova_pool_parallel_for(pool, c->d[2], fill_step_slices, &fx);
    for (size_t z = 0; z < c->d[2]; z++)
        for (uint8_t l = NOVA_LUNG_RIGHT; l <= NOVA_LUNG_LEFT; l++)
            if (present[z] & (1u << l)) {
                if (z < zlo[l])
                    zlo[l] = z;
                zhi[l] = z;
            }
    nova_free(present);
    size_t z0 = zlo[1] < zlo[2] ? zlo[1] : zlo[2];
    size_t z1 = zhi[1] > zhi[2] ? zhi[1] : zhi[2];
    if (z0 == SIZE_MAX)
        return true;
    uint8_t *m = nova_malloc(error, c->n);
    uint8_t *outside = nova_malloc(error, c->n);
    /* depth: in-slice distance (mm) to outside air, on the lungs' slab;
     * skin: within pleural_depth_mm of it (outside air included). */
    float *depth = nova_malloc_array(error, c->n, sizeof *depth);
    uint8_t *skin = nova_malloc(error, c->n);
    uint8_t *rib = nova_malloc(error, c->n);
    /* near: one plane of int32 (mark_lung_above_below), also two of int16
     * (mark_ribs' bone and cartilage sweeps). */
    int32_t *near = nova_malloc_array(error, plane, sizeof *near);
    uint8_t *pre = nova_malloc(error, c->n);
    uint32_t *stack = nova_malloc_array(error, plane, sizeof *stack);
    uint8_t *lung_below = nova_malloc(error, plane);
    bool ok = m && outside && depth && skin && rib && near && pre && stack &&
              lung_below;
    size_t s0 = z0 * plane, front[2] = {0, 0};
    if (ok) {
        step_clock_lap(&k, "fill: extent, buffers");
        struct depth_ctx dx = {c,          z0,
                               depth + s0, outside + s0,
                               skin + s0,  (float)o->pleural_depth_mm};
        nova_pool_parallel_for(pool, z1 - z0 + 1, depth_slices, &dx);
        step_clock_lap(&k, "fill: skin depth");
        mark_ribs(pool, c, z0, z1, j_is_posterior, rib, (int16_t *)near,
                  lung_below, front);
        step_clock_lap(&k, "fill: ribs");
    }
    for (uint8_t lung = NOVA_LUNG_RIGHT; ok && lung <= NOVA_LUNG_LEFT; lung++) {
        if (zlo[lung] == SIZE_MAX)
            continue;
        size_t a = zlo[lung] * plane, b = (zhi[lung] + 1) * plane;
        size_t slab[3] = {c->d[0], c->d[1], zhi[lung] - zlo[lung] + 1};
        if (!fill_consolidation(error, pool, c, lung, zlo[lung], zhi[lung],
                                sup_step, rib, front, depth, m)) {
            ok = false;
            break;
        }
        /* Dependent consolidation of a single slice (step 5c). */
        if (c->d[2] == 1 &&
            !fill_rib_cage(error, pool, c, lung, j_is_posterior)) {
            ok = false;
            break;
        }
        step_clock_lap(&k, "fill: consolidation");
        struct fill_step_ctx jx = {.c = c,
                                   .step = FILL_MASK,
                                   .lung = lung,
                                   .z0 = zlo[lung],
                                   .m = m,
                                   .outside = outside,
                                   .skin = skin};
        memset(m, 0, a);
        memset(m + b, 0, c->n - b);
        nova_pool_parallel_for(pool, slab[2], fill_step_slices, &jx);
        ok = nova_imgproc_morph(error, pool, NOVA_MORPH_CLOSE, m, c->d, c->sp,
                                o->closing_mm, false, m);
        /* Fluid the closing took in goes before the organ-dome test, which
         * needs the tissue under a dome to be outside the lung (a liver
         * dome over a phantom effusion stayed in: 7 ml of consolidation). */
        ok = ok && give_back_fluid(error, pool, c, m, true, zlo[lung],
                                   slab[2]);
        step_clock_lap(&k, "fill: ball closing");
        if (ok)
            memcpy(pre, m + a, b - a);
        ok = ok &&
             nova_imgproc_fill_holes(error, pool, m + a, slab, true, m + a);
        if (ok)
            refuse_organ_holes(c, lung, zlo[lung], slab[2], sup_step, m, pre,
                               stack, lung_below);
        step_clock_lap(&k, "fill: holes");
        if (!ok)
            break;
        jx.step = FILL_JOIN;
        nova_pool_parallel_for(pool, slab[2], fill_step_slices, &jx);
        step_clock_lap(&k, "fill: join");
        /* A consolidation against the chest wall leaves a dent wider than
         * the closing ball; the classic failure of threshold methods is to
         * cut it out.  A wider disc closing in each slice fills such dents,
         * but only within pleural_depth_mm of the skin, so the mediastinum
         * and hilum (deep inside) are not swept in. */
        if (o->pleural_closing_mm > 0) {
            ok = nova_imgproc_morph(error, pool, NOVA_MORPH_CLOSE, m, c->d,
                                    c->sp, o->pleural_closing_mm, true, m);
            step_clock_lap(&k, "fill: disc closing");
            /* A dent in the costal pleura has lung above and below it; the
             * top of the liver or spleen under the lung base has lung only
             * above, so it is not filled.  The mark (2) is on voxels with
             * this lung within pleural_depth_mm in both directions along z
             * (or where the scan has only one slice); it goes into the
             * outside map's spare values and is cleared after. */
            if (ok) {
                struct coarse sub = *c;
                sub.d[2] = slab[2];
                sub.lab = c->lab + a;
                mark_lung_above_below(pool, &sub, lung, o->pleural_depth_mm,
                                      c->d[2] == 1, outside + a, near);
            }
            if (ok) {
                jx.step = FILL_PLEURAL;
                nova_pool_parallel_for(pool, slab[2], fill_step_slices, &jx);
            }
            step_clock_lap(&k, "fill: pleural join");
        }
    }
    nova_free(m);
    nova_free(outside);
    nova_free(depth);
    nova_free(skin);
    nova_free(rib);
    nova_free(near);
    nova_free(pre);
    nova_free(stack);
    nova_free(lung_below);
    return ok;
}

/* ------------------------------------------------------- refine and zones */

/* Refinement codes per coarse voxel: the label to give, and whether only
 * air-like full-resolution voxels take it. */
#define REFINE_AIR 0x80u
/* A border block of lung-like density (dense_lung_hu): only voxels below
 * dense_lung_hu take the label, so fat and muscle next to diseased lung
 * stay out. */
#define REFINE_DENSE 0x40u

struct refine_ctx {
    const struct coarse *c;
    const int16_t *hu;
    uint8_t *labels, *zones;
    const uint8_t *code;   /* per coarse voxel: label | REFINE_AIR */
    const uint8_t *periph; /* per coarse voxel */
    int16_t air_hu, dense_hu;
    size_t *x_to_cx;
    long kmin[3], kmax[3]; /* full-grid slice extent per lung */
    bool top_is_high;
    size_t (*counts)[4]; /* per thread */
    size_t (*zcounts)[NOVA_ZONE_COUNT + 1];
    size_t (*box)[6];    /* per thread: lo x, y, z, hi x, y, z of lung rows */
    uint8_t **row_buf;   /* per thread: 2 * (nx + 8) template bytes */
    size_t **border_buf; /* per thread: border block starts */
    int16_t **limit_buf; /* per thread: HU limit of each border block */
    size_t n_threads;    /* refine_slices: jobs, each a residue of slices */
};

static int third_of(const struct refine_ctx *x, int lung, long k)
{
    long lo = x->kmin[lung], hi = x->kmax[lung];
    if (hi <= lo)
        return NOVA_ZONE_MIDDLE;
    double f = ((double)(k - lo) + 0.5) / (double)(hi - lo + 1);
    if (x->top_is_high)
        f = 1.0 - f;
    int t = (int)floor(f * 3.0);
    return t < 0 ? 0 : t > 2 ? 2 : t;
}

/* Fills tpl[x0 .. x0 + len) with v.  Blocks of up to 8 voxels (all
 * in-plane block sizes in practice) take one 8-byte store, which the
 * next block's store or the template's 8 bytes of padding absorb;
 * the compiler would otherwise call memset for each 4-byte block, which
 * was a tenth of this pass's own time. */
static inline void fill_block(uint8_t *tpl, size_t x0, size_t len, uint8_t v)
{
    if (len <= 8) {
        uint64_t pat = 0x0101010101010101ull * v;
        memcpy(tpl + x0, &pat, 8);
    } else {
        memset(tpl + x0, v, len);
    }
}

/* Writes the full-grid labels and zones of coarse slices begin..end: each
 * coarse row becomes a template of labels (and of zones, which also depend
 * on the full-grid slice through its third) that is copied to the f[1]
 * rows of each of the block's f[2] slices; only blocks at a lung's border
 * are then decided voxel by voxel.  The templates cover only the coarse
 * row's non-zero span [span_lo, span_hi): outside it the rows stay zero. */
static void refine_slices(void *vctx, size_t begin, size_t end, int thread)
{
    struct refine_ctx *x = vctx;
    const struct coarse *c = x->c;
    size_t nx = c->in[0], ny = c->in[1], nz = c->in[2];
    size_t cnx = c->d[0];
    size_t fx = c->f[0], fy = c->f[1];
    size_t *cnt = x->counts[thread];
    size_t *zc = x->zcounts[thread];
    uint8_t *tl = x->row_buf[thread], *tz = tl + nx + 8;
    size_t *border = x->border_buf[thread];
    int16_t *limit = x->limit_buf[thread];
    /* Job r takes coarse slices r, r + T, r + 2T, ... (a static split, so
     * that which thread writes what never depends on timing): the lungs
     * fill the slices unevenly, and contiguous halves left one thread
     * waiting for the other.  The counts are sums and the box a min/max,
     * so the result is the same for any split. */
    size_t T = x->n_threads, per = (c->d[2] + T - 1) / T;
    for (size_t j = begin * per; j < end * per; j++) {
        size_t cz = j / per + j % per * T;
        if (cz >= c->d[2])
            continue;
        size_t z0 = cz * c->f[2], z1 = z0 + c->f[2] < nz ? z0 + c->f[2] : nz;
        for (size_t cy = 0; cy * fy < ny; cy++) {
            size_t crow = (cz * c->d[1] + cy) * cnx;
            const uint8_t *code_row = x->code + crow;
            size_t y0 = cy * fy, y1 = y0 + fy < ny ? y0 + fy : ny;
            size_t rows = (y1 - y0) * (z1 - z0);
            /* The volumes start zeroed, so rows with nothing to write are
             * left alone: the pages of slices far from the lungs are never
             * touched (first touch of fresh memory is most of this pass's
             * cost, docs/chest.md).  A code is 0 exactly when its label
             * is. */
            size_t ca = 0, cb = cnx;
            while (ca < cnx && !code_row[ca])
                ca++;
            if (ca == cnx) {
                cnt[0] += nx * rows;
                zc[0] += nx * rows;
                continue;
            }
            while (!code_row[cb - 1])
                cb--;
            size_t span_lo = ca * fx;
            size_t span_hi = cb * fx < nx ? cb * fx : nx;
            size_t n_border = 0, tcnt[4] = {0, 0, 0, 0};
            size_t first = nx, last = 0;
            for (size_t cx = ca; cx < cb; cx++) {
                size_t x0 = cx * fx;
                size_t len = x0 + fx <= nx ? fx : nx - x0;
                uint8_t code = code_row[cx];
                uint8_t l = code & 3;
                fill_block(tl, x0, len, l);
                tcnt[l] += len;
                if (l == NOVA_LUNG_RIGHT || l == NOVA_LUNG_LEFT) {
                    if (first == nx)
                        first = x0;
                    last = x0 + len - 1;
                }
                if (l && (code & (REFINE_AIR | REFINE_DENSE))) {
                    limit[n_border] =
                        code & REFINE_AIR ? x->air_hu : x->dense_hu;
                    border[n_border++] = x0;
                }
            }
            tcnt[0] += nx - (span_hi - span_lo);
            if (first < nx) {
                /* the box of the lung blocks (refinement only removes) */
                size_t *bx = x->box[thread];
                size_t lo[3] = {first, y0, z0}, hi[3] = {last, y1 - 1, z1 - 1};
                for (int a = 0; a < 3; a++) {
                    if (lo[a] < bx[a])
                        bx[a] = lo[a];
                    if (hi[a] > bx[3 + a])
                        bx[3 + a] = hi[a];
                }
            }
            int third_done[3] = {-1, -1, -1};
            size_t tzc[NOVA_ZONE_COUNT + 1];
            for (size_t z = z0; z < z1; z++) {
                int third[3] = {0, third_of(x, 1, (long)z),
                                third_of(x, 2, (long)z)};
                if (third[1] != third_done[1] || third[2] != third_done[2]) {
                    memset(tzc, 0, sizeof tzc);
                    for (size_t cx = ca; cx < cb; cx++) {
                        size_t x0 = cx * fx;
                        size_t len = x0 + fx <= nx ? fx : nx - x0;
                        uint8_t l = tl[x0], zone = 0;
                        if (l == NOVA_LUNG_RIGHT || l == NOVA_LUNG_LEFT)
                            zone = (uint8_t)NOVA_ZONE_CODE(
                                l, third[l], x->periph[crow + cx]);
                        fill_block(tz, x0, len, zone);
                        tzc[zone] += len;
                    }
                    tzc[0] += nx - (span_hi - span_lo);
                    memcpy(third_done, third, sizeof third);
                }
                for (size_t y = y0; y < y1; y++) {
                    size_t row = (z * ny + y) * nx;
                    uint8_t *lab = x->labels + row, *zon = x->zones + row;
                    const int16_t *hu = x->hu + row;
                    /* The border blocks read the CT at scattered places,
                     * which the hardware prefetcher does not follow: the
                     * next row's are requested now (the loads waiting on
                     * memory were half of this pass's own time; perf on
                     * the 512 phantom). */
                    const int16_t *next = NULL;
                    if (y + 1 < y1)
                        next = hu + nx;
                    else if (z + 1 < z1)
                        next = x->hu + ((z + 1) * ny + y0) * nx;
                    if (next)
                        for (size_t b = 0; b < n_border; b++)
                            __builtin_prefetch(next + border[b]);
                    memcpy(lab + span_lo, tl + span_lo, span_hi - span_lo);
                    memcpy(zon + span_lo, tz + span_lo, span_hi - span_lo);
                    for (int k = 0; k < 4; k++)
                        cnt[k] += tcnt[k];
                    for (int k = 0; k <= NOVA_ZONE_COUNT; k++)
                        zc[k] += tzc[k];
                    /* A border block's voxels all hold the block's label
                     * and zone, so those at or above the limit are
                     * counted and cleared without a branch per voxel. */
                    for (size_t b = 0; b < n_border; b++) {
                        size_t xa = border[b];
                        size_t xb = xa + fx <= nx ? xa + fx : nx;
                        int16_t lim = limit[b];
                        uint8_t l = lab[xa], zo = zon[xa];
                        size_t drop = 0;
                        for (size_t i = xa; i < xb; i++) {
                            uint8_t keep = hu[i] < lim;
                            drop += (size_t)(1u - keep);
                            lab[i] = (uint8_t)(l & (0u - keep));
                            zon[i] = (uint8_t)(zo & (0u - keep));
                        }
                        cnt[l] -= drop;
                        cnt[0] += drop;
                        zc[zo] -= drop;
                        zc[0] += drop;
                    }
                }
            }
        }
    }
}

/* Peripheral flags on the coarse grid: per slice and lung, in-plane
 * distance to the nearest non-lung voxel below a third of the slice's
 * largest.  The distances exist only on the lungs' ring box
 * (edt_foreground_2d), and the flags are computed there: a full-grid
 * distance map, written on one thread, cost more than the transform. */
struct periph_ctx {
    const struct coarse *c;
    const float *bdist; /* NULL: write the lung mask m and zero periph */
    size_t lo[3], bd[3];
    uint8_t *m, *periph;
};

static void periph_slices(void *vctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    const struct periph_ctx *x = vctx;
    const struct coarse *c = x->c;
    size_t nx = c->d[0], plane = nx * c->d[1];
    if (!x->bdist) {
        for (size_t i = begin * plane; i < end * plane; i++) {
            x->m[i] =
                c->lab[i] == NOVA_LUNG_RIGHT || c->lab[i] == NOVA_LUNG_LEFT;
            x->periph[i] = 0;
        }
        return;
    }
    /* Box slices begin..end. */
    size_t bx = x->bd[0], by = x->bd[1];
    for (size_t s = begin; s < end; s++) {
        const float *dist = x->bdist + s * bx * by;
        size_t base = (s + x->lo[2]) * plane + x->lo[1] * nx + x->lo[0];
        float dmax[3] = {0, 0, 0};
        for (size_t y = 0; y < by; y++) {
            const uint8_t *lab = c->lab + base + y * nx;
            const float *dr = dist + y * bx;
            for (size_t i = 0; i < bx; i++) {
                uint8_t l = lab[i];
                if ((l == 1 || l == 2) && dr[i] > dmax[l] && !isinf(dr[i]))
                    dmax[l] = dr[i];
            }
        }
        /* Squared distances: a third of the depth is a ninth. */
        for (size_t y = 0; y < by; y++) {
            const uint8_t *lab = c->lab + base + y * nx;
            const float *dr = dist + y * bx;
            uint8_t *pr = x->periph + base + y * nx;
            for (size_t i = 0; i < bx; i++) {
                uint8_t l = lab[i];
                pr[i] = (l == 1 || l == 2) && dr[i] < dmax[l] / 9.0f;
            }
        }
    }
}

static bool peripheral_map(NovaError **error, NovaPool *pool,
                           const struct coarse *c, uint8_t *periph)
{
    uint8_t *m = nova_malloc(error, c->n);
    if (!m)
        return false;
    /* One transform for both lungs: they touch at most along a line, where
     * depth measured to the other lung's voxels would hardly differ. */
    struct periph_ctx px = {c, NULL, {0, 0, 0}, {0, 0, 0}, m, periph};
    nova_pool_parallel_for(pool, c->d[2], periph_slices, &px);
    float *bdist = NULL;
    bool ok =
        edt_foreground_2d(error, pool, m, c->d, c->sp, px.lo, px.bd, &bdist);
    if (ok && bdist) {
        px.bdist = bdist;
        nova_pool_parallel_for(pool, px.bd[2], periph_slices, &px);
    }
    nova_free(bdist);
    nova_free(m);
    return ok;
}

/* Refinement code of each coarse voxel (label | REFINE_*), for coarse
 * slices [begin, end). */
#define CODE_TODO 0xFFu
struct code_ctx {
    const struct coarse *c;
    const NovaLungOptions *o;
    uint8_t *code;
};

static void code_slices(void *vctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    const struct code_ctx *x = vctx;
    const struct coarse *c = x->c;
    const NovaLungOptions *o = x->o;
    uint8_t *code = x->code;
    size_t nx = c->d[0], ny = c->d[1], nz = c->d[2], plane = nx * ny;
    for (size_t zz = begin, i = begin * plane; zz < end; zz++)
        for (size_t yy = 0; yy < ny; yy++) {
            /* Inside the grid with all six neighbours alike (most voxels):
             * no border, no other label; the code is l.  That test runs
             * first over the row's inner voxels in a loop that vectorises
             * (restrict locals, bitwise ands), leaving CODE_TODO (no code
             * has all bits set) where the loop below decides. */
            if (yy > 0 && yy + 1 < ny && zz > 0 && zz + 1 < nz && nx > 2) {
                const uint8_t *restrict lab = c->lab + i;
                uint8_t *restrict cr = code + i;
                for (size_t xx = 1; xx + 1 < nx; xx++) {
                    uint8_t l = lab[xx];
                    unsigned same = (lab[xx - 1] == l) & (lab[xx + 1] == l) &
                                    (lab[xx - nx] == l) & (lab[xx + nx] == l) &
                                    (lab[xx - plane] == l) &
                                    (lab[xx + plane] == l);
                    cr[xx] = same ? l : CODE_TODO;
                }
            } else {
                memset(code + i, CODE_TODO, nx);
            }
            code[i] = code[i + nx - 1] = CODE_TODO;
            for (size_t xx = 0; xx < nx; xx++, i++) {
                uint8_t l = c->lab[i];
                if (code[i] != CODE_TODO)
                    continue;
                size_t nb[6];
                int k = neighbours4(yy * nx + xx, nx, ny, nb);
                for (int j = 0; j < k; j++)
                    nb[j] += zz * plane;
                if (zz > 0)
                    nb[k++] = i - plane;
                if (zz + 1 < nz)
                    nb[k++] = i + plane;
                uint8_t other = 0;
                for (int j = 0; j < k; j++)
                    if (c->lab[nb[j]] != l) {
                        other = c->lab[nb[j]];
                        if (other == NOVA_LUNG_RIGHT || other == NOVA_LUNG_LEFT)
                            break;
                    }
                if (l == NOVA_LUNG_RIGHT || l == NOVA_LUNG_LEFT) {
                    bool border = false;
                    for (int j = 0; j < k; j++)
                        border |= c->lab[nb[j]] != l;
                    code[i] = l | (!border                       ? 0
                                   : c->hu[i] < o->air_hu        ? REFINE_AIR
                                   : c->hu[i] < o->dense_lung_hu ? REFINE_DENSE
                                                                 : 0);
                } else if (l == 0 &&
                           (other == NOVA_LUNG_RIGHT ||
                            other == NOVA_LUNG_LEFT) &&
                           c->cls[i] != CLS_OUTSIDE && c->cls[i] != CLS_GAS) {
                    code[i] = other | REFINE_AIR;
                } else {
                    code[i] = l;
                }
            }
        }
}

/* ------------------------------------------------- dense edge restoration */

/* The edge of diseased lung against the wall, on the CT's own grid.  The
 * growth of step 4 gives back the two grown layers that face the wall
 * (the partial-volume rim of aerated lung reads like ground glass), and the
 * refinement keeps a border block's voxels only below dense_lung_hu; where
 * ground glass or crazy paving itself meets the pleura or the diaphragm,
 * that takes the lesion's outer 2-4 mm with it (covid phantom seed 6 at
 * 192^2 x 120: 2103 of 5026 missed lesion voxels lay outside the lung mask,
 * median -268 HU, in a strip along the chest wall and the liver dome).
 * The edge of an object lies where the CT crosses halfway between the two
 * sides: a voxel outside the lungs, next to a lung (4-connected, in-plane)
 * whose lung neighbours (3 x 3) average above EDGE_INSIDE_HU (diseased, not
 * aerated: aerated lung's edge is already placed by air_hu), joins that
 * lung when it reads below EDGE_MAX_HU (fat reads -150 to -50, so the
 * mediastinal fat and the muscle beyond never join) and below the midpoint
 * between its lung neighbours' mean and soft tissue (EDGE_WALL_HU).  Two
 * passes (about 2 voxels): the rim that step 4 gave back is two blocks.
 * Airway voxels (label 3), outside air and gas never join: they are not
 * next to diseased lung above -600 HU with the wall between. */
#define EDGE_INSIDE_HU (-500)
#define EDGE_MAX_HU (-200)
#define EDGE_WALL_HU 30
#define EDGE_PASSES 2

struct edge_ctx {
    const struct coarse *c;
    uint8_t *flag;         /* per coarse voxel: EDGE_NEAR where to look */
    uint32_t *span;        /* per coarse row: first, last + 1 NEAR block */
    const int16_t *hu;
    uint8_t *labels, *zones;
    size_t n[3];
    size_t lo[3], hi[3];   /* lung box, grown by EDGE_PASSES in-plane */
    /* per thread: a slice's candidate voxels (uint32), then their lung
     * and zone (2 bytes each), then a byte per row */
    uint32_t **cand;
    size_t (*counts)[4];   /* per thread, added */
    size_t (*zcounts)[NOVA_ZONE_COUNT + 1];
    size_t (*box)[6];
};

/* Coarse blocks where the full grid is searched: a lung block beside a
 * block outside the lungs, where the block across from that one is lung
 * with a mean above EDGE_BLOCK_HU, and the outside block; with blocks of
 * one voxel, both grown by one block in-plane (two passes reach two
 * voxels).  Elsewhere the pass would read the
 * whole lung box for nothing: 123 ms on the 512 phantom when it did. */
#define EDGE_BLOCK_HU (-600)
#define EDGE_SEED 1u
#define EDGE_NEAR 2u

static void edge_flag_slices(void *vctx, size_t begin, size_t end,
                             int thread)
{
    (void)thread;
    struct edge_ctx *x = vctx;
    const struct coarse *c = x->c;
    size_t nx = c->d[0], ny = c->d[1], plane = nx * ny;
    for (size_t z = begin; z < end; z++) {
        const uint8_t *lab = c->lab + z * plane;
        const int16_t *hu = c->hu + z * plane;
        uint8_t *f = x->flag + z * plane;
        for (size_t p = 0; p < plane; p++) {
            uint8_t l = lab[p];
            if (l != NOVA_LUNG_RIGHT && l != NOVA_LUNG_LEFT)
                continue;
            if (hu[p] <= EDGE_BLOCK_HU)
                continue;
            /* Diseased, not partial volume: the block across from the
             * outside one is lung of that density too (along the
             * border, the neighbours are partial volume as well). */
            size_t xx = p % nx, yy = p / nx;
            if (xx < 2 || yy < 2 || xx + 2 >= nx || yy + 2 >= ny)
                continue;
            const long step[2] = {1, (long)nx};
            for (int a = 0; a < 2; a++)
                for (int sgn = -1; sgn <= 1; sgn += 2) {
                    size_t o = (size_t)((long)p + sgn * step[a]);
                    size_t in = (size_t)((long)p - sgn * step[a]);
                    size_t in2 = (size_t)((long)p - 2 * sgn * step[a]);
                    if (lab[o] != l && lab[in] == l && lab[in2] == l &&
                        hu[in] > EDGE_BLOCK_HU && hu[in2] > EDGE_BLOCK_HU) {
                        f[p] |= EDGE_SEED;
                        f[o] |= EDGE_SEED;
                    }
                }
        }
        /* Blocks of two voxels or more hold both passes' reach; single
         * voxel blocks need one more block around. */
        size_t grow = c->f[0] < EDGE_PASSES || c->f[1] < EDGE_PASSES;
        for (size_t y = 0; y < ny; y++)
            for (size_t i = 0; i < nx; i++) {
                if (!(f[y * nx + i] & EDGE_SEED))
                    continue;
                if (!grow) {
                    f[y * nx + i] |= EDGE_NEAR;
                    continue;
                }
                size_t y0 = y ? y - 1 : 0, y1 = y + 1 < ny ? y + 1 : y;
                size_t x0 = i ? i - 1 : 0, x1 = i + 1 < nx ? i + 1 : i;
                for (size_t yy = y0; yy <= y1; yy++)
                    for (size_t xx = x0; xx <= x1; xx++)
                        f[yy * nx + xx] |= EDGE_NEAR;
            }
        for (size_t y = 0; y < ny; y++) {
            uint32_t *sp = x->span + 2 * (z * ny + y);
            sp[0] = sp[1] = 0;
            for (size_t i = 0; i < nx; i++)
                if (f[y * nx + i] & EDGE_NEAR) {
                    if (sp[1] == 0)
                        sp[0] = (uint32_t)i;
                    sp[1] = (uint32_t)i + 1;
                }
        }
    }
}

static void edge_slices(void *vctx, size_t begin, size_t end, int thread)
{
    struct edge_ctx *x = vctx;
    size_t nx = x->n[0], ny = x->n[1];
    uint32_t *cand = x->cand[thread];
    uint8_t *cl = (uint8_t *)(cand + nx * ny);
    /* Rows that gained voxels in the last pass (after the candidates'
     * lung and zone bytes): later passes look only around them. */
    uint8_t *hit = cl + 2 * nx * ny;
    size_t *bx = x->box[thread];
    for (size_t z = x->lo[2] + begin; z < x->lo[2] + end; z++) {
        size_t base = z * nx * ny;
        uint8_t *lab = x->labels + base, *zon = x->zones + base;
        const int16_t *hu = x->hu + base;
        for (int pass = 0; pass < EDGE_PASSES; pass++) {
            size_t n = 0;
            if (pass)
                for (size_t y = x->lo[1]; y <= x->hi[1]; y++)
                    hit[y] |= (uint8_t)((((y > 0 ? hit[y - 1] : 0) |
                                          (y + 1 < ny ? hit[y + 1] : 0)) &
                                         1u)
                                        << 1);
            const struct coarse *c = x->c;
            size_t fx = c->f[0];
            for (size_t y = x->lo[1]; y <= x->hi[1]; y++) {
                const uint8_t *r = lab + y * nx;
                const uint8_t *up = y > 0 ? r - nx : r;
                const uint8_t *dn = y + 1 < ny ? r + nx : r;
                if (pass && !(hit[y] & 3u))
                    continue;
                const int16_t *h = hu + y * nx;
                size_t crow = z / c->f[2] * c->d[1] + y / c->f[1];
                const uint8_t *frow = x->flag + crow * c->d[0];
                const uint32_t *sp = x->span + 2 * crow;
                if (sp[1] == 0)
                    continue;
                size_t xa = x->lo[0] > 0 ? x->lo[0] : 1;
                size_t xb = x->hi[0] + 1 < nx ? x->hi[0] : nx - 2;
                if (xa < sp[0] * fx)
                    xa = sp[0] * fx;
                if (xb + 1 > sp[1] * fx)
                    xb = sp[1] * fx - 1;
                for (size_t cx = sp[0]; cx < sp[1]; cx++) {
                  if (!(frow[cx] & EDGE_NEAR))
                      continue;
                  size_t ia = cx * fx > xa ? cx * fx : xa;
                  size_t ib = cx * fx + fx - 1 < xb ? cx * fx + fx - 1 : xb;
                  for (size_t i = ia; i <= ib; i++) {
                    /* cheap tests first: outside, low, a lung beside */
                    if (r[i] || h[i] >= EDGE_MAX_HU)
                        continue;
                    unsigned nb = (1u << r[i - 1]) | (1u << r[i + 1]) |
                                  (1u << up[i]) | (1u << dn[i]);
                    unsigned lungs = nb & 6u;
                    if (lungs != 2u && lungs != 4u)
                        continue;
                    uint8_t l = lungs == 2u ? 1 : 2;
                    long sum = 0, cnt = 0;
                    uint8_t zo = 0;
                    for (long dy = -1; dy <= 1; dy++) {
                        long yy = (long)y + dy;
                        if (yy < 0 || yy >= (long)ny)
                            continue;
                        for (long dx = -1; dx <= 1; dx++) {
                            size_t q = (size_t)yy * nx + i + (size_t)dx;
                            if (lab[q] != l)
                                continue;
                            sum += hu[q];
                            cnt++;
                            if (!zo || (dx == 0 || dy == 0))
                                zo = zon[q];
                        }
                    }
                    if (cnt < 2 || sum <= (long)EDGE_INSIDE_HU * cnt ||
                        2 * (long)h[i] * cnt >= sum + (long)EDGE_WALL_HU * cnt)
                        continue;
                    cand[n] = (uint32_t)(y * nx + i);
                    cl[2 * n] = l;
                    cl[2 * n + 1] = zo;
                    n++;
                  }
                }
            }
            memset(hit + x->lo[1], 0, x->hi[1] - x->lo[1] + 1);
            for (size_t j = 0; j < n; j++) {
                size_t p = cand[j];
                hit[p / nx] = 1;
                lab[p] = cl[2 * j];
                zon[p] = cl[2 * j + 1];
                x->counts[thread][cl[2 * j]]++;
                x->counts[thread][0]--;
                x->zcounts[thread][cl[2 * j + 1]]++;
                x->zcounts[thread][0]--;
                size_t xx = p % nx, yy = p / nx;
                if (xx < bx[0]) bx[0] = xx;
                if (xx > bx[3]) bx[3] = xx;
                if (yy < bx[1]) bx[1] = yy;
                if (yy > bx[4]) bx[4] = yy;
            }
            if (!n)
                break;
        }
    }
}

static bool restore_dense_edge(NovaError **error, NovaPool *pool,
                               const NovaVolume *hu, struct refine_ctx *r)
{
    int T = pool ? nova_pool_get_threads(pool) : 1;
    struct edge_ctx x;
    memset(&x, 0, sizeof x);
    x.c = r->c;
    nova_volume_get_dims(hu, x.n);
    x.hu = r->hu;
    x.labels = r->labels;
    x.zones = r->zones;
    x.counts = r->counts;
    x.zcounts = r->zcounts;
    x.box = r->box;
    for (int a = 0; a < 3; a++) {
        x.lo[a] = SIZE_MAX;
        x.hi[a] = 0;
    }
    for (int t = 0; t < T; t++)
        for (int a = 0; a < 3; a++) {
            if (r->box[t][a] < x.lo[a])
                x.lo[a] = r->box[t][a];
            if (r->box[t][3 + a] > x.hi[a])
                x.hi[a] = r->box[t][3 + a];
        }
    if (x.lo[0] == SIZE_MAX)
        return true;
    for (int a = 0; a < 2; a++) {
        x.lo[a] = x.lo[a] > EDGE_PASSES ? x.lo[a] - EDGE_PASSES : 0;
        x.hi[a] = x.hi[a] + EDGE_PASSES < x.n[a] ? x.hi[a] + EDGE_PASSES
                                                  : x.n[a] - 1;
    }
    size_t plane = x.n[0] * x.n[1];
    x.cand = nova_calloc(error, (size_t)T, sizeof *x.cand);
    x.flag = nova_calloc(error, x.c->n, 1);
    x.span = nova_malloc_array(error, x.c->d[1] * x.c->d[2],
                               2 * sizeof *x.span);
    bool ok = x.cand && x.flag && x.span;
    if (ok)
        nova_pool_parallel_for(pool, x.c->d[2], edge_flag_slices, &x);
    for (int t = 0; ok && t < T; t++) {
        x.cand[t] = nova_malloc(error, plane * (sizeof(uint32_t) + 2) +
                                           x.n[1]);
        ok = x.cand[t] != NULL;
    }
    if (ok)
        nova_pool_parallel_for(pool, x.hi[2] - x.lo[2] + 1, edge_slices, &x);
    for (int t = 0; x.cand && t < T; t++)
        nova_free(x.cand[t]);
    nova_free(x.cand);
    nova_free(x.flag);
    nova_free(x.span);
    return ok;
}

static bool refine(NovaError **error, NovaPool *pool, const NovaVolume *hu,
                   const NovaLungOptions *o, const struct coarse *c,
                   NovaLungResult *r, double *t_zones)
{
    double t0 = nova_time_now();
    struct step_clock k;
    step_clock_start(&k);
    const NovaGeometry *g = nova_volume_get_geometry(hu);
    int T = pool ? nova_pool_get_threads(pool) : 1;
    uint8_t *code = nova_malloc(error, c->n);
    uint8_t *periph = nova_malloc(error, c->n);
    uint8_t *present = nova_malloc(error, c->d[2]); /* per coarse slice */
    struct refine_ctx x;
    memset(&x, 0, sizeof x);
    x.x_to_cx = nova_malloc_array(error, c->in[0], sizeof *x.x_to_cx);
    x.counts = nova_calloc(error, (size_t)T, sizeof *x.counts);
    x.row_buf = nova_calloc(error, (size_t)T, sizeof *x.row_buf);
    x.border_buf = nova_calloc(error, (size_t)T, sizeof *x.border_buf);
    x.limit_buf = nova_calloc(error, (size_t)T, sizeof *x.limit_buf);
    x.zcounts = nova_calloc(error, (size_t)T, sizeof *x.zcounts);
    x.box = nova_malloc_array(error, (size_t)T, sizeof *x.box);
    bool ok = false;
    if (!code || !periph || !present || !x.x_to_cx || !x.counts || !x.zcounts ||
        !x.row_buf || !x.border_buf || !x.limit_buf || !x.box)
        goto done;
    for (int t = 0; t < T; t++)
        for (int a = 0; a < 3; a++) {
            x.box[t][a] = SIZE_MAX;
            x.box[t][3 + a] = 0;
        }
    for (int t = 0; t < T; t++) {
        x.row_buf[t] = nova_malloc_array(error, c->in[0] + 8, 2);
        x.border_buf[t] = nova_malloc_array(error, c->d[0] + 1, sizeof(size_t));
        x.limit_buf[t] = nova_malloc_array(error, c->d[0] + 1, sizeof(int16_t));
        if (!x.row_buf[t] || !x.border_buf[t] || !x.limit_buf[t])
            goto done;
    }
    /* Zeroed volumes: large ones are fresh pages from the kernel, zero
     * without being written, so the refinement pass writes only rows that
     * hold lung and the pages it touches first are touched by its
     * threads. */
    r->labels = nova_volume_create(error, NOVA_DTYPE_UINT8, c->in, g);
    r->zones = nova_volume_create(error, NOVA_DTYPE_UINT8, c->in, g);
    if (!r->labels || !r->zones)
        goto done;
    step_clock_lap(&k, "refine: buffers");
    if (!peripheral_map(error, pool, c, periph))
        goto done;
    *t_zones = nova_time_now() - t0;
    step_clock_lap(&k, "refine: peripheral map");

    /* Border blocks of a lung refine by threshold unless they are dense
     * (filled in by the closing: a lesion or vessel against the pleura);
     * tissue blocks next to a lung may give it their air-like voxels. */
    size_t nz = c->d[2];
    struct code_ctx cx = {c, o, code};
    nova_pool_parallel_for(pool, nz, code_slices, &cx);
    for (size_t i = 0; i < c->in[0]; i++)
        x.x_to_cx[i] = i / c->f[0];
    /* Each lung's slice extent on the full grid, from its coarse extent. */
    for (int l = 1; l <= 2; l++) {
        x.kmin[l] = LONG_MAX;
        x.kmax[l] = -1;
    }
    struct fill_step_ctx fx = {.c = c, .step = FILL_EXTENT, .present = present};
    nova_pool_parallel_for(pool, nz, fill_step_slices, &fx);
    for (size_t cz = 0; cz < nz; cz++) {
        long lo = (long)cz * (long)c->f[2];
        long hi = lo + (long)c->f[2] - 1;
        if (hi > (long)c->in[2] - 1)
            hi = (long)c->in[2] - 1;
        for (int l = 1; l <= 2; l++) {
            if (!(present[cz] & (1u << l)))
                continue;
            if (lo < x.kmin[l])
                x.kmin[l] = lo;
            if (hi > x.kmax[l])
                x.kmax[l] = hi;
        }
    }
    x.top_is_high = g->direction[8] >= 0;
    x.c = c;
    x.hu = nova_volume_get_const_data(hu);
    x.labels = nova_volume_get_data(r->labels);
    x.zones = nova_volume_get_data(r->zones);
    x.code = code;
    x.periph = periph;
    x.air_hu = (int16_t)o->air_hu;
    x.dense_hu = (int16_t)lrint(fmax(o->dense_lung_hu, o->air_hu));
    step_clock_lap(&k, "refine: codes");
    x.n_threads = (size_t)T;
    nova_pool_parallel_for(pool, (size_t)T, refine_slices, &x);
    step_clock_lap(&k, "refine: full grid");
    if (!restore_dense_edge(error, pool, hu, &x))
        goto done;
    step_clock_lap(&k, "refine: dense edge");
    double voxel_ml = g->spacing[0] * g->spacing[1] * g->spacing[2] / 1000.0;
    for (int t = 0; t < T; t++) {
        for (int l = 1; l <= 3; l++)
            r->volume_ml[l] += (double)x.counts[t][l] * voxel_ml;
        for (int z = 1; z <= NOVA_ZONE_COUNT; z++)
            r->zone_ml[z] += (double)x.zcounts[t][z] * voxel_ml;
    }
    r->volume_ml[0] = r->volume_ml[1] + r->volume_ml[2];
    for (int a = 0; a < 3; a++) {
        r->box_lo[a] = SIZE_MAX;
        r->box_hi[a] = 0;
    }
    for (int t = 0; t < T; t++)
        for (int a = 0; a < 3; a++) {
            if (x.box[t][a] < r->box_lo[a])
                r->box_lo[a] = x.box[t][a];
            if (x.box[t][3 + a] > r->box_hi[a])
                r->box_hi[a] = x.box[t][3 + a];
        }
    r->has_box = r->box_lo[0] != SIZE_MAX;
    ok = true;
done:
    nova_free(x.box);
    nova_free(code);
    nova_free(periph);
    nova_free(present);
    nova_free(x.x_to_cx);
    nova_free(x.counts);
    for (int t = 0; t < T; t++) {
        if (x.row_buf)
            nova_free(x.row_buf[t]);
        if (x.border_buf)
            nova_free(x.border_buf[t]);
        if (x.limit_buf)
            nova_free(x.limit_buf[t]);
    }
    nova_free(x.limit_buf);
    nova_free(x.row_buf);
    nova_free(x.border_buf);
    nova_free(x.zcounts);
    return ok;
}

/* A single slice whose lungs, grown and filled, lie wholly in front of
 * the body's centre shows bowel, not lung: the lungs reach the back of the
 * chest in every slice, down to the posterior costophrenic recesses, and
 * consolidation that hides the posterior lung from the air classes is
 * grown back in by step 4 (covid-ny-sbu A046441 19010101-23: only the
 * anterior lung is aerated).  covid-ny-sbu A058062: two abdominal slices
 * where gas in the transverse colon was taken for both lungs, one read as
 * atypical pneumonia from the bowel wall between two loops.  The same test
 * on the air candidates alone (find_lungs) dropped A046441 19010101-23. */
static void drop_anterior_slice(const NovaGeometry *g, struct coarse *c,
                                NovaLungResult *r)
{
    if (c->d[2] != 1)
        return;
    size_t nx = c->d[0];
    double body[3] = {0, 0, 0}, ci[3], w[3];
    size_t n = 0;
    for (size_t i = 0; i < c->n; i++)
        if (c->cls[i] != CLS_OUTSIDE &&
            (c->hu[i] > -500 || c->cls[i] == CLS_CAND)) {
            body[0] += (double)(i % nx);
            body[1] += (double)(i / nx);
            n++;
        }
    if (!n)
        return;
    ci[0] = body[0] / (double)n;
    ci[1] = body[1] / (double)n;
    ci[2] = 0;
    double body_w[3];
    coarse_to_world(c, g, ci, body_w);
    bool any = false;
    for (size_t i = 0; i < c->n; i++) {
        if (c->lab[i] != NOVA_LUNG_RIGHT && c->lab[i] != NOVA_LUNG_LEFT)
            continue;
        any = true;
        ci[0] = (double)(i % nx);
        ci[1] = (double)(i / nx);
        coarse_to_world(c, g, ci, w);
        if (w[1] > body_w[1]) /* LPS: +y is posterior */
            return;
    }
    if (!any)
        return;
    for (size_t i = 0; i < c->n; i++)
        if (c->lab[i] == NOVA_LUNG_RIGHT || c->lab[i] == NOVA_LUNG_LEFT)
            c->lab[i] = 0;
    r->flags |= NOVA_LUNG_FLAG_NO_RIGHT | NOVA_LUNG_FLAG_NO_LEFT;
    nova__lung_warn(r, "no lung found: the air-filled regions of this slice "
                       "lie only in front of the body's centre (bowel)");
}

/* What the field of view cut off, from the coarse labels. */
static void report_extent(const struct coarse *c, bool top_is_high,
                          NovaLungResult *r)
{
    size_t nx = c->d[0], ny = c->d[1], nz = c->d[2];
    bool side = false, low = false, high = false,
         any[3] = {false, false, false};
    for (size_t i = 0, z = 0; z < nz; z++)
        for (size_t y = 0; y < ny; y++)
            for (size_t x = 0; x < nx; x++, i++) {
                uint8_t l = c->lab[i];
                if (l != 1 && l != 2)
                    continue;
                any[l] = true;
                side |= x == 0 || y == 0 || x == nx - 1 || y == ny - 1;
                low |= z == 0;
                high |= z == nz - 1;
            }
    if (!any[1] && !any[2])
        return;
    if (!any[1] && !(r->flags & NOVA_LUNG_FLAG_NO_RIGHT)) {
        r->flags |= NOVA_LUNG_FLAG_NO_RIGHT;
        nova__lung_warn(r, "only the left lung was found (crop, "
                           "pneumonectomy or collapse)");
    }
    if (!any[2] && !(r->flags & NOVA_LUNG_FLAG_NO_LEFT)) {
        r->flags |= NOVA_LUNG_FLAG_NO_LEFT;
        nova__lung_warn(r, "only the right lung was found (crop, "
                           "pneumonectomy or collapse)");
    }
    if (side) {
        r->flags |= NOVA_LUNG_FLAG_CROP_SIDE;
        nova__lung_warn(r, "the lungs reach the edge of the field of view: "
                           "the image is a crop and lung volumes are lower "
                           "bounds");
    }
    if (c->in[2] == 1) {
        r->flags |= NOVA_LUNG_FLAG_SINGLE_SLICE;
        nova__lung_warn(r, "single slice: volumes are of this slice and "
                           "upper/middle/lower zones are not defined (all "
                           "reported as middle)");
        return;
    }
    bool cut_top = top_is_high ? high : low;
    bool cut_bottom = top_is_high ? low : high;
    if (cut_top) {
        r->flags |= NOVA_LUNG_FLAG_CROP_TOP;
        nova__lung_warn(r, "the scan range cuts the lung apices: zones are "
                           "thirds of the visible extent");
    }
    if (cut_bottom) {
        r->flags |= NOVA_LUNG_FLAG_CROP_BOTTOM;
        nova__lung_warn(r, "the scan range cuts the lung bases: zones are "
                           "thirds of the visible extent");
    }
}

NovaLungResult *nova_chest_segment_lungs(NovaError **error, NovaPool *pool,
                                         const NovaVolume *hu,
                                         const NovaLungOptions *options)
{
    if (nova_volume_get_dtype(hu) != NOVA_DTYPE_INT16) {
        nova_error_set(error, NOVA_ERROR_INVALID, "invalid argument",
                       "lung segmentation needs an int16 HU volume, not %s",
                       nova_dtype_name(nova_volume_get_dtype(hu)));
        return NULL;
    }
    NovaLungOptions o;
    if (options)
        o = *options;
    else
        nova_lung_options_init(&o);
    NovaLungResult *r = nova_calloc(error, 1, sizeof *r);
    if (!r)
        return NULL;
    const NovaGeometry *g = nova_volume_get_geometry(hu);
    struct coarse c;
    memset(&c, 0, sizeof c);
    uint32_t *labels = NULL;
    bool ok = false;
    double t = nova_time_now(), t_zones = 0;
    struct step_clock k;
    step_clock_start(&k);
#define LAP(stage)                                                             \
    do {                                                                       \
        double now_ = nova_time_now();                                         \
        r->seconds[stage] = now_ - t;                                          \
        t = now_;                                                              \
        step_clock_lap(&k, stage_names[stage]);                                \
    } while (0)
    if (!make_coarse(error, pool, hu, &o, &c))
        goto done;
    LAP(STAGE_COARSE);
    labels = nova_malloc_array(error, c.n, sizeof *labels);
    if (!labels || !classify_air(error, pool, &o, &c, labels))
        goto done;
    LAP(STAGE_AIR);
    int sup_step = g->direction[8] >= 0 ? 1 : -1;
    if (!find_airway(error, pool, &o, &c, sup_step, labels, r))
        goto done;
    LAP(STAGE_AIRWAY);
    if (!find_lungs(error, pool, g, &c, labels, r) ||
        !grow_dense_lung(error, pool, &o, &c))
        goto done;
    LAP(STAGE_LUNGS);
    if (!fill_lungs(error, pool, &o, &c, sup_step, g->direction[4] >= 0) ||
        !give_back_fluid(error, pool, &c, c.lab, false, 0, c.d[2]))
        goto done;
    drop_anterior_slice(g, &c, r);
    LAP(STAGE_FILL);
    report_extent(&c, sup_step > 0, r);
    if (!refine(error, pool, hu, &o, &c, r, &t_zones))
        goto done;
    LAP(STAGE_REFINE);
    /* The zone map is built inside the refinement pass; its own cost is the
     * peripheral distance maps. */
    r->seconds[STAGE_ZONES] = t_zones;
    r->seconds[STAGE_REFINE] -= t_zones;
    ok = true;
#undef LAP
done:
    nova_free(c.hu);
    nova_free(c.cls);
    nova_free(c.lab);
    nova_free(labels);
    if (!ok) {
        nova_lung_result_destroy(r);
        return NULL;
    }
    return r;
}

/* ----------------------------------------------------------------- result */

void nova_lung_result_destroy(NovaLungResult *r)
{
    if (!r)
        return;
    nova_volume_unref(r->labels);
    nova_volume_unref(r->zones);
    for (size_t i = 0; i < r->n_warnings; i++)
        nova_free(r->warnings[i]);
    nova_free(r);
}

NovaVolume *nova_lung_result_get_labels(const NovaLungResult *r)
{
    return r->labels;
}

NovaVolume *nova_lung_result_get_zones(const NovaLungResult *r)
{
    return r->zones;
}

double nova_lung_result_get_volume_ml(const NovaLungResult *r, int label)
{
    return label >= 0 && label <= 3 ? r->volume_ml[label] : 0.0;
}

double nova_lung_result_get_zone_volume_ml(const NovaLungResult *r,
                                           int zone_code)
{
    return zone_code >= 1 && zone_code <= NOVA_ZONE_COUNT
               ? r->zone_ml[zone_code]
               : 0.0;
}

bool nova_lung_result_get_box(const NovaLungResult *r, size_t lo[3],
                              size_t hi[3])
{
    if (!r->has_box)
        return false;
    memcpy(lo, r->box_lo, sizeof r->box_lo);
    memcpy(hi, r->box_hi, sizeof r->box_hi);
    return true;
}

unsigned nova_lung_result_get_flags(const NovaLungResult *r)
{
    return r->flags;
}

size_t nova_lung_result_get_warning_count(const NovaLungResult *r)
{
    return r->n_warnings;
}

const char *nova_lung_result_get_warning(const NovaLungResult *r, size_t i)
{
    return i < r->n_warnings ? r->warnings[i] : NULL;
}

size_t nova_lung_result_get_timings(const NovaLungResult *r,
                                    const char *const **names,
                                    const double **seconds)
{
    *names = stage_names;
    *seconds = r->seconds;
    return STAGE_COUNT;
}
