/*
 * render.c - voxelising the phantom model, one axial slice at a time.
 *
 * Each slice is independent: the body wall, bones and organs are evaluated
 * analytically per pixel; tubes (airways, pulmonary and great vessels) are
 * rasterised from per-slice lists into coverage buffers; lesions into a
 * density and coverage buffer.  Every boundary is blended by its coverage
 * (the signed distance over the pixel size, clamped to [0,1]), which gives
 * partial volume at edges.  Noise is white Gaussian noise (from a hash of
 * the seed and voxel index, so no thread shares a generator) band-pass
 * filtered to the fine-grained, correlated texture of filtered back
 * projection (difference of two binomial blurs).  Random textures (lung
 * parenchyma, lesion density) are value noise on hashed lattices.
 *
 * The output of a slice depends only on the model and the slice index, so
 * the volume is the same for any thread count.
 */
#include "phantom_private.h"

#include <math.h>
#include <string.h>

static inline uint32_t hash3(uint32_t seed, int32_t x, int32_t y, int32_t z)
{
    uint32_t h = seed ^ ((uint32_t)x * 0x8DA6B343u) ^
                 ((uint32_t)y * 0xD8163841u) ^ ((uint32_t)z * 0xCB1AB31Fu);
    h ^= h >> 16;
    h *= 0x7FEB352Du;
    h ^= h >> 15;
    h *= 0x846CA68Bu;
    h ^= h >> 16;
    return h;
}

static inline float unit(uint32_t h) /* [-1, 1) */
{
    return (float)(h >> 8) * (2.0f / 16777216.0f) - 1.0f;
}

static inline float clampf(float v, float lo, float hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static inline float cover(float d, float px) /* d > 0 inside */
{
    return clampf(d / px + 0.5f, 0.0f, 1.0f);
}

static inline float mixf(float a, float b, float t)
{
    return a + (b - a) * t;
}

static inline float smooth01(float t)
{
    return t * t * (3 - 2 * t);
}

/* A value-noise lattice of cell `cell` mm sliced at height z: grid values
 * at the lattice columns, interpolated in z; sampled bilinearly. */
typedef struct {
    float *v;
    int gx, gy;
    float cell;
} Grid;

static void grid_fill(Grid *g, uint32_t seed, float z)
{
    float fz = (z + 400.0f) / g->cell;
    int iz = (int)floorf(fz);
    float t = smooth01(fz - (float)iz);
    for (int j = 0; j < g->gy; j++)
        for (int i = 0; i < g->gx; i++)
            g->v[j * g->gx + i] = mixf(unit(hash3(seed, i, j, iz)),
                                       unit(hash3(seed, i, j, iz + 1)), t);
}

static inline float grid_at(const Grid *g, float x, float y)
{
    float fx = (x + 200.0f) / g->cell, fy = (y + 200.0f) / g->cell;
    int ix = (int)fx, iy = (int)fy;
    float tx = smooth01(fx - (float)ix), ty = smooth01(fy - (float)iy);
    const float *r0 = g->v + iy * g->gx + ix, *r1 = r0 + g->gx;
    return mixf(mixf(r0[0], r0[1], tx), mixf(r1[0], r1[1], tx), ty);
}

/* Distance (mm, roughly) to the nearest cell wall of a 3D Voronoi pattern
 * with cells of `cell` mm: thickened interlobular septa (crazy paving). */
static float septa_distance(uint32_t seed, float x, float y, float z,
                            float cell)
{
    float px = x / cell + 100.0f, py = y / cell + 100.0f,
          pz = z / cell + 100.0f;
    int ix = (int)px, iy = (int)py, iz = (int)pz;
    float f1 = 1e9f, f2 = 1e9f;
    for (int dz = -1; dz <= 1; dz++)
        for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++) {
                uint32_t h = hash3(seed, ix + dx, iy + dy, iz + dz);
                float fx = (float)(ix + dx) + 0.5f + 0.4f * unit(h);
                float fy =
                    (float)(iy + dy) + 0.5f + 0.4f * unit(h * 0x9E3779B1u);
                float fzz =
                    (float)(iz + dz) + 0.5f + 0.4f * unit(h * 0x85EBCA77u);
                float d = (fx - px) * (fx - px) + (fy - py) * (fy - py) +
                          (fzz - pz) * (fzz - pz);
                if (d < f1) {
                    f2 = f1;
                    f1 = d;
                } else if (d < f2) {
                    f2 = d;
                }
            }
    return (sqrtf(f2) - sqrtf(f1)) * 0.5f * cell;
}

typedef struct {
    float *hu, *lumen, *wall, *ves, *great, *les_cov, *les_hu, *noise, *tmp;
    int16_t *les_id;
    void *cols;
    Grid lung_grid, les_grid;
} Scratch;

static void scratch_free(Scratch *s)
{
    nova_free(s->hu);
    nova_free(s->les_id);
    nova_free(s->cols);
    nova_free(s->lung_grid.v);
    nova_free(s->les_grid.v);
}

static bool scratch_alloc(Scratch *s, size_t n)
{
    memset(s, 0, sizeof *s);
    const int planes = 9;
    s->hu = nova_malloc_array(NULL, n * planes, sizeof(float));
    s->les_id = nova_malloc_array(NULL, n, sizeof(int16_t));
    s->lung_grid.cell = 4.5f;
    s->les_grid.cell = 3.5f;
    Grid *grids[2] = {&s->lung_grid, &s->les_grid};
    for (int i = 0; i < 2; i++) {
        grids[i]->gx = grids[i]->gy = (int)(400.0f / grids[i]->cell) + 3;
        grids[i]->v = nova_malloc_array(
            NULL, (size_t)grids[i]->gx * (size_t)grids[i]->gy, sizeof(float));
    }
    if (!s->hu || !s->les_id || !s->lung_grid.v || !s->les_grid.v) {
        scratch_free(s);
        return false;
    }
    float **p[8] = {&s->lumen,   &s->wall,   &s->ves,   &s->great,
                    &s->les_cov, &s->les_hu, &s->noise, &s->tmp};
    for (int i = 0; i < 8; i++)
        *p[i] = s->hu + (size_t)(i + 1) * n;
    return true;
}

/* ------------------------------------------------------------- prepare */

bool nova__ph_render_prepare(NovaError **error, PhRender *r)
{
    size_t nz = r->dims[2];
    double sz = r->spacing[2], px = r->spacing[0];
    r->slice_start = nova_calloc(error, nz + 1, sizeof(size_t));
    if (!r->slice_start)
        return false;
    const PhModel *m = r->model;
    /* Two passes over the segments: count per slice, then fill. */
    for (int pass = 0; pass < 2; pass++) {
        size_t *fill = NULL;
        if (pass == 1) {
            for (size_t k = 0; k < nz; k++)
                r->slice_start[k + 1] += r->slice_start[k];
            r->slice_segs = nova_malloc_array(
                error, r->slice_start[nz] ? r->slice_start[nz] : 1,
                sizeof(uint32_t));
            fill = nova_malloc_array(error, nz ? nz : 1, sizeof(size_t));
            if (!r->slice_segs || !fill) {
                nova_free(fill);
                return false;
            }
            memcpy(fill, r->slice_start, nz * sizeof(size_t));
        }
        for (size_t i = 0; i < m->n_segs; i++) {
            const PhSegment *s = &m->segs[i];
            double rmax = (s->ra > s->rb ? s->ra : s->rb) * 1.2 + 0.5 + px;
            double lo = (s->a[2] < s->b[2] ? s->a[2] : s->b[2]) - rmax;
            double hi = (s->a[2] > s->b[2] ? s->a[2] : s->b[2]) + rmax;
            double klo = ceil((lo + PH_FIELD_Z_MM / 2) / sz - 0.5);
            double khi = floor((hi + PH_FIELD_Z_MM / 2) / sz - 0.5);
            if (klo < 0)
                klo = 0;
            if (khi > (double)nz - 1)
                khi = (double)nz - 1;
            for (double k = klo; k <= khi; k++) {
                if (pass == 0)
                    r->slice_start[(size_t)k + 1]++;
                else
                    r->slice_segs[fill[(size_t)k]++] = (uint32_t)i;
            }
        }
        nova_free(fill);
    }
    return true;
}

/* --------------------------------------------------------------- tubes */

static void raster_segment(const PhSegment *s, float z, const PhRender *r,
                           Scratch *sc)
{
    const size_t nx = r->dims[0], ny = r->dims[1];
    const float px = (float)r->spacing[0], py = (float)r->spacing[1];
    const float x0 = (float)(-PH_FIELD_XY_MM / 2);
    float d[3] = {s->b[0] - s->a[0], s->b[1] - s->a[1], s->b[2] - s->a[2]};
    float rmax = (s->ra > s->rb ? s->ra : s->rb);
    float outer = s->kind == SEG_AIRWAY ? rmax * 1.15f + 0.3f : rmax;
    float reach = outer + px;
    /* Part of the centre line within reach of this plane. */
    float t0 = 0, t1 = 1;
    if (fabsf(d[2]) > 1e-4f) {
        float ta = (z - reach - s->a[2]) / d[2],
              tb = (z + reach - s->a[2]) / d[2];
        if (ta > tb) {
            float t = ta;
            ta = tb;
            tb = t;
        }
        t0 = ta > 0 ? ta : 0;
        t1 = tb < 1 ? tb : 1;
        if (t0 > t1)
            return;
    }
    float xa = s->a[0] + t0 * d[0], xb = s->a[0] + t1 * d[0];
    float ya = s->a[1] + t0 * d[1], yb = s->a[1] + t1 * d[1];
    float xlo = (xa < xb ? xa : xb) - reach, xhi = (xa > xb ? xa : xb) + reach;
    float ylo = (ya < yb ? ya : yb) - reach, yhi = (ya > yb ? ya : yb) + reach;
    long ilo = (long)floorf((xlo - x0) / px - 0.5f),
         ihi = (long)ceilf((xhi - x0) / px - 0.5f);
    long jlo = (long)floorf((ylo - x0) / py - 0.5f),
         jhi = (long)ceilf((yhi - x0) / py - 0.5f);
    if (ilo < 0)
        ilo = 0;
    if (jlo < 0)
        jlo = 0;
    if (ihi > (long)nx - 1)
        ihi = (long)nx - 1;
    if (jhi > (long)ny - 1)
        jhi = (long)ny - 1;
    float dd = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
    float inv = dd > 0 ? 1.0f / dd : 0;
    float pz = z - s->a[2];
    for (long j = jlo; j <= jhi; j++) {
        float py_ = x0 + ((float)j + 0.5f) * py - s->a[1];
        for (long i = ilo; i <= ihi; i++) {
            float px_ = x0 + ((float)i + 0.5f) * px - s->a[0];
            float t = (px_ * d[0] + py_ * d[1] + pz * d[2]) * inv;
            t = clampf(t, 0, 1);
            float ex = px_ - t * d[0], ey = py_ - t * d[1], ez = pz - t * d[2];
            float dist = sqrtf(ex * ex + ey * ey + ez * ez);
            float rad = s->ra + t * (s->rb - s->ra);
            size_t at = (size_t)j * nx + (size_t)i;
            if (s->kind == SEG_AIRWAY) {
                float cl = cover(rad - dist, px);
                float cw = cover(rad * 1.15f + 0.3f - dist, px);
                if (cl > sc->lumen[at])
                    sc->lumen[at] = cl;
                if (cw > sc->wall[at])
                    sc->wall[at] = cw;
            } else {
                float c = cover(rad - dist, px);
                float *buf = s->kind == SEG_VESSEL ? sc->ves : sc->great;
                if (c > buf[at])
                    buf[at] = c;
            }
        }
    }
}

/* ------------------------------------------------------------- lesions */

static void raster_lesion(const PhModel *m, size_t index, float z,
                          const PhRender *r, Scratch *sc)
{
    const PhLesion *l = &m->lesions[index];
    const float halo = 1.0f + 0.5f * (float)l->wave_amp;
    float dzn = (z - (float)l->c[2]) / (float)l->r[2];
    if (fabsf(dzn) > halo + (float)(l->edge_mm / l->r[2]))
        return;
    const size_t nx = r->dims[0], ny = r->dims[1];
    const float px = (float)r->spacing[0];
    const float x0 = (float)(-PH_FIELD_XY_MM / 2);
    float rx = (float)l->r[0] * halo + (float)l->edge_mm + px,
          ry = (float)l->r[1] * halo + (float)l->edge_mm + px;
    long ilo = (long)floorf(((float)l->c[0] - rx - x0) / px - 0.5f),
         ihi = (long)ceilf(((float)l->c[0] + rx - x0) / px - 0.5f);
    long jlo = (long)floorf(((float)l->c[1] - ry - x0) / px - 0.5f),
         jhi = (long)ceilf(((float)l->c[1] + ry - x0) / px - 0.5f);
    if (ilo < 0)
        ilo = 0;
    if (jlo < 0)
        jlo = 0;
    if (ihi > (long)nx - 1)
        ihi = (long)nx - 1;
    if (jhi > (long)ny - 1)
        jhi = (long)ny - 1;
    float rmin = (float)(l->r[0] < l->r[1] ? l->r[0] : l->r[1]);
    if ((float)l->r[2] < rmin)
        rmin = (float)l->r[2];
    float edge = (float)l->edge_mm > 0.5f * px ? (float)l->edge_mm : 0.5f * px;
    float pz = z - (float)l->c[2];
    uint32_t seed = m->hash_seed ^ (uint32_t)(index * 0x9E3779B1u);
    for (long j = jlo; j <= jhi; j++) {
        float y = x0 + ((float)j + 0.5f) * px;
        float py_ = y - (float)l->c[1];
        for (long i = ilo; i <= ihi; i++) {
            float x = x0 + ((float)i + 0.5f) * px;
            float px_ = x - (float)l->c[0];
            float q = sqrtf(px_ * px_ / (float)(l->r[0] * l->r[0]) +
                            py_ * py_ / (float)(l->r[1] * l->r[1]) +
                            pz * pz / (float)(l->r[2] * l->r[2]));
            float wave = 0;
            for (int w = 0; w < 3; w++)
                wave +=
                    sinf((float)l->wave_k[w][0] * px_ +
                         (float)l->wave_k[w][1] * py_ +
                         (float)l->wave_k[w][2] * pz + (float)l->wave_phase[w]);
            q += (float)l->wave_amp * wave / 3.0f * 1.7f;
            float depth = (1.0f - q) * rmin; /* mm inside the outline */
            float c = clampf((depth + edge) / (2 * edge), 0, 1);
            c = smooth01(c);
            if (c <= 0)
                continue;
            if (l->lobe_only) {
                int side = x < 3.0f ? 0 : 1;
                if (nova__ph_lobe(m, side, x, y, z, NULL) != l->lobe_only)
                    continue;
            }
            size_t at = (size_t)j * nx + (size_t)i;
            /* Density inside the lesion. */
            float tex = grid_at(&sc->les_grid, x, y);
            float hu;
            switch (l->type) {
            case NOVA_LESION_CONSOLIDATION:
                hu = (float)l->hu + 12.0f * tex;
                break;
            case NOVA_LESION_NODULE_SOLID:
                hu = (float)l->hu + 6.0f * tex;
                break;
            case NOVA_LESION_MIXED:
            case NOVA_LESION_NODULE_PART_SOLID: {
                float core =
                    clampf(((float)l->core - q) * rmin / edge + 0.5f, 0, 1);
                float solid = l->type == NOVA_LESION_MIXED ? 25.0f : 35.0f;
                hu = mixf((float)l->hu + 45.0f * tex, solid + 8.0f * tex,
                          smooth01(core));
                break;
            }
            case NOVA_LESION_CRAZY_PAVING: {
                float sd = septa_distance(seed, x, y, z, 9.0f);
                float line = clampf(1.0f - sd / (0.45f + 0.5f * px), 0, 1);
                hu = (float)l->hu + 45.0f * tex + 380.0f * line;
                break;
            }
            case NOVA_LESION_GGO:
            default: hu = (float)l->hu + 50.0f * tex; break;
            }
            if (c > sc->les_cov[at]) {
                sc->les_cov[at] = c;
                sc->les_hu[at] = hu;
            }
            /* The truth: inside the outline, first lesion wins. */
            if (q <= 1.0f && sc->les_id[at] < 0)
                sc->les_id[at] = (int16_t)index;
        }
    }
}

/* --------------------------------------------------------------- bones */

/* Bone density of a rib/cartilage cross-section: returns coverage and
 * sets *hu. u: depth within the rib band (0..8 mm), cy: cos of the angle
 * from straight back. */
static float rib_at(const PhModel *m, float u, float cy, float z, float px,
                    float *hu)
{
    float base = (float)m->rib_z0 - 15.0f * (1.0f - cy);
    float fi = (base - z) / (float)m->rib_dz;
    int i0 = (int)floorf(fi);
    float best = 0;
    for (int i = i0; i <= i0 + 1; i++) {
        if (i < 0 || i > 11)
            continue;
        /* How far round the chest each rib reaches before cartilage, and
         * whether it reaches the sternum at all (ribs 11-12 float). */
        float bone_to = i >= 10 ? -0.2f : i >= 7 ? -0.45f : -0.62f;
        float cart_to = i >= 10 ? -0.2f : i >= 7 ? -0.85f : -0.97f;
        if (cy < cart_to)
            continue;
        float zr = base - (float)i * (float)m->rib_dz;
        float half_h = i == 0 ? 4.0f : 5.5f;
        float qu = (u - 4.0f) / 4.0f, qz = (z - zr) / half_h;
        float q = sqrtf(qu * qu + qz * qz);
        float c = cover((1.0f - q) * 4.0f, px);
        if (c <= best)
            continue;
        best = c;
        if (cy < bone_to)
            *hu = 130.0f;
        else
            *hu = q > 0.7f ? 850.0f : 260.0f;
    }
    return best;
}

/* Per-slice constants of the analytic anatomy (everything that depends
 * on z only), so the per-pixel work is a few float operations. */
typedef struct {
    float z;
    float body_a, body_b;
    float ant_f;    /* pectoral thickness factor */
    bool disc;      /* at an intervertebral disc */
    bool arch_gap;  /* between two neural arches */
    float heart_w2; /* ((z - heart z) / heart rz)^2 */
    uint32_t great[32];
    int n_great;
} SliceC;

typedef struct {
    int side;
    float dia_x, apex_x, wave_x, obl_x;
} ColC;

typedef struct {
    float dy, med_w[2], dia_y, apex_y, wave_y, post;
} RowC;

static float smoothstepf(float e0, float e1, float x)
{
    return smooth01(clampf((x - e0) / (e1 - e0), 0, 1));
}

/* Spine: vertebral body, canal, arch, spinous and transverse processes;
 * discs every rib_dz.  Returns coverage, sets *hu. */
static float spine_at(const PhModel *m, const SliceC *sl, float x, float y,
                      float px, float *hu)
{
    float sy = (float)m->spine_y;
    float ax = fabsf(x);
    float ry = (y - sy) / 15.0f, rx = x / 19.0f;
    float qb2 = rx * rx + ry * ry;
    if (qb2 < 1.3225f) {
        float qb = sqrtf(qb2);
        *hu = sl->disc ? 85.0f : (qb > 0.85f ? 650.0f : 230.0f);
        return cover((1.0f - qb) * 15.0f, px);
    }
    float cyc = sy + 24.0f;
    float rc = sqrtf(x * x + (y - cyc) * (y - cyc));
    if (rc < 8.0f) {
        *hu = 15.0f;
        return cover(8.0f - rc, px);
    }
    if (!sl->arch_gap) {
        if (rc < 13.5f && y > sy + 12.0f) {
            *hu = 500.0f;
            return cover(fminf(rc - 8.0f, 13.5f - rc), px);
        }
        if (ax < 4.0f && y > cyc + 10.0f && y < cyc + 34.0f) {
            *hu = 480.0f;
            return cover(fminf(4.0f - ax, cyc + 34.0f - y), px);
        }
        /* transverse processes, angled backwards */
        float ty = sy + 16.0f + 0.45f * (ax - 8.0f);
        if (fabsf(y - ty) < 4.5f && ax > 8.0f && ax < 30.0f) {
            *hu = 480.0f;
            return cover(fminf(4.5f - fabsf(y - ty), 30.0f - ax), px);
        }
    }
    return 0;
}

/* Where a pixel sits relative to the skin and the chest wall. */
typedef struct {
    float skin, cy, cx, fat_end, muscle_end, cavity;
} Wall;

static inline void wall_at(const PhModel *m, const SliceC *sl, float x,
                           float dy, Wall *w)
{
    float r = sqrtf(x * x + dy * dy);
    if (r < 1e-3f) {
        w->skin = sl->body_b;
        w->cy = 0;
        w->cx = 0;
    } else {
        float inv_r = 1.0f / r;
        float cy = dy * inv_r;
        float bb = dy > 0 ? sl->body_b * (1.0f + 0.06f * cy) : sl->body_b;
        float xa = x / sl->body_a, yb = dy / bb;
        float rho = sqrtf(xa * xa + yb * yb);
        w->skin = r * (1.0f - rho) / rho;
        w->cy = cy;
        w->cx = fabsf(x) * inv_r;
    }
    float post = w->cy > 0 ? w->cy : 0, ant = w->cy < 0 ? -w->cy : 0;
    float fat = (float)m->fat_mm * (0.8f + 0.5f * post + 0.3f * w->cx);
    float q = x * (1.0f / 42.0f);
    float spinal = 1.0f / (1.0f + q * q * q * q);
    float muscle = 4.0f + 6.0f * post * post + 30.0f * post * spinal +
                   9.0f * ant * sl->ant_f;
    w->fat_end = 2.0f + fat;
    w->muscle_end = w->fat_end + muscle;
    w->cavity = w->muscle_end + 9.5f;
}

static inline float heart_dist(const PhModel *m, const SliceC *sl, float x,
                               float y)
{
    float dx = x - (float)m->heart_c[0], dy = y - (float)m->heart_c[1];
    float u = (dx * (float)m->heart_cos + dy * (float)m->heart_sin) /
              (float)m->heart_r[0];
    float v = (-dx * (float)m->heart_sin + dy * (float)m->heart_cos) /
              (float)m->heart_r[1];
    return (sqrtf(u * u + v * v + sl->heart_w2) - 1.0f) * (float)m->heart_r[1];
}

/* The lung depth (mirrors nova__ph_lung_depth in model.c, in float with
 * the z- and y-only terms precomputed). */
static inline float lung_depth_fast(const PhModel *m, const SliceC *sl,
                                    const RowC *row, const ColC *col, float x,
                                    float y, const Wall *w, float px)
{
    float d = w->skin - w->cavity;
    if (d < -3.0f * px)
        return d;
    float med = fabsf(x - 3.0f) - row->med_w[col->side];
    if (med < d)
        d = med;
    float base = sl->z - (col->dia_x + row->dia_y);
    if (base < d)
        d = base;
    float r2 = col->apex_x + row->apex_y;
    float apex = (float)m->apex_z - 0.010f * r2 - 2.0e-6f * r2 * r2 - sl->z;
    if (apex < d)
        d = apex;
    if (d < -3.0f * px)
        return d;
    float heart = heart_dist(m, sl, x, y) - 3.0f;
    if (heart < d)
        d = heart;
    if (d > -3.0f * px && fabsf(x) < 80.0f && y < 70.0f)
        for (int i = 0; i < sl->n_great; i++) {
            const PhSegment *s = &m->segs[sl->great[i]];
            float e[3] = {s->b[0] - s->a[0], s->b[1] - s->a[1],
                          s->b[2] - s->a[2]};
            float p[3] = {x - s->a[0], y - s->a[1], sl->z - s->a[2]};
            float ee = e[0] * e[0] + e[1] * e[1] + e[2] * e[2];
            float t =
                ee > 0 ? (p[0] * e[0] + p[1] * e[1] + p[2] * e[2]) / ee : 0;
            t = clampf(t, 0, 1);
            float q0 = p[0] - t * e[0], q1 = p[1] - t * e[1],
                  q2 = p[2] - t * e[2];
            float g = sqrtf(q0 * q0 + q1 * q1 + q2 * q2) -
                      (s->ra + t * (s->rb - s->ra)) - 3.0f;
            if (g < d)
                d = g;
        }
    return d;
}

/* The tissue outside the lungs at one point. */
static float body_hu(const PhModel *m, const SliceC *sl, const ColC *col,
                     const RowC *row, float x, float y, const Wall *w, float px)
{
    float z = sl->z;
    if (w->skin < -1.5f * px) {
        /* Air, and the curved table top under the patient. */
        float ty = 150.0f - 0.0012f * x * x;
        if (y > ty && y < ty + 7.0f && fabsf(x) < 170.0f)
            return -400.0f + 500.0f * cover(fminf(y - ty, ty + 7.0f - y), px);
        return -1000.0f;
    }
    float hu = -1000.0f;
    hu = mixf(hu, 25.0f, cover(w->skin, px));
    hu = mixf(hu, -105.0f, cover(w->skin - 2.0f, px));
    hu = mixf(hu, 48.0f, cover(w->skin - w->fat_end, px));
    float u = w->skin - w->muscle_end;
    if (u > -px && u < 8.0f + px) {
        float bone_hu = 0;
        float c = rib_at(m, u, w->cy, z, px, &bone_hu);
        hu = mixf(hu, bone_hu, c);
        /* sternum, in front */
        if (fabsf(x) < 24.0f && w->cy < -0.8f && z > -75.0f && z < 118.0f) {
            float sw = z > 70.0f ? 24.0f : 15.0f;
            float q = sqrtf((x / sw) * (x / sw) +
                            ((u - 4.5f) / 6.0f) * ((u - 4.5f) / 6.0f));
            float cs = cover((1.0f - q) * 6.0f, px);
            hu = mixf(hu, q > 0.7f ? 700.0f : 250.0f, cs);
        }
    }
    float in_cav = w->skin - w->cavity;
    if (in_cav > -px) {
        float c = cover(in_cav, px);
        /* mediastinal and extrapleural fat by default */
        float inner = -95.0f;
        float zd = col->dia_x + row->dia_y;
        if (z < zd + px) {
            /* diaphragm, then the upper abdomen */
            inner = mixf(inner, 42.0f, cover(zd - z, px));
            float organ;
            if (x < 25.0f)
                organ = 58.0f; /* liver */
            else if (y > 5.0f)
                organ = 48.0f; /* spleen */
            else
                organ = 30.0f; /* stomach */
            inner = mixf(inner, organ, cover(zd - 5.0f - z, px));
            float gx = (x - 62.0f) / 45.0f, gy = (y + 25.0f) / 30.0f,
                  gz = (z - (zd - 14.0f)) / 9.0f;
            float gq = gx * gx + gy * gy + gz * gz;
            if (gq < 1.3f) /* gas in the stomach fundus */
                inner =
                    mixf(inner, -990.0f, cover((1.0f - sqrtf(gq)) * 9.0f, px));
        }
        float dh = heart_dist(m, sl, x, y);
        if (dh < px) {
            float chamber = dh < -9.0f ? 36.0f : 46.0f;
            inner = mixf(inner, chamber, cover(-dh, px));
        }
        /* oesophagus, with a little air */
        float ex = x - 6.0f, ey = y - ((float)m->spine_y - 27.0f);
        float re2 = ex * ex + ey * ey;
        if (re2 < (8.0f + px) * (8.0f + px) && z < 150.0f && z > zd - 20.0f) {
            float re = sqrtf(re2);
            inner = mixf(inner, 40.0f, cover(8.0f - re, px));
            inner = mixf(inner, -900.0f, cover(1.8f - re, px));
        }
        hu = mixf(hu, inner, c);
    }
    if (fabsf(x) < 40.0f && y > (float)m->spine_y - 20.0f &&
        y < (float)m->spine_y + 62.0f) {
        float bone_hu = 0;
        float c = spine_at(m, sl, x, y, px, &bone_hu);
        hu = mixf(hu, bone_hu, c);
    }
    return hu;
}

/* Lobe of a lung pixel (mirrors nova__ph_lobe) and fissure distance. */
static inline int lobe_fast(const PhModel *m, const ColC *col, const RowC *row,
                            float y, float z, float *fiss)
{
    float wave = col->wave_x + row->wave_y;
    if (col->side == 0) {
        float f = (z - (float)m->fiss_right_z) - 1.05f * y + col->obl_x + wave;
        float df = fabsf(f) * (1.0f / 1.542f);
        if (f < 0) {
            *fiss = df;
            return NOVA_LABEL_RIGHT_LOWER_LOBE;
        }
        float h = z - ((float)m->fiss_horizontal_z + 0.15f * y + 0.6f * wave);
        float dh = fabsf(h) * (1.0f / 1.01f);
        *fiss = df < dh ? df : dh;
        return h > 0 ? NOVA_LABEL_RIGHT_UPPER_LOBE
                     : NOVA_LABEL_RIGHT_MIDDLE_LOBE;
    }
    float f = (z - (float)m->fiss_left_z) - 1.15f * y + col->obl_x + wave;
    *fiss = fabsf(f) * (1.0f / 1.629f);
    return f < 0 ? NOVA_LABEL_LEFT_LOWER_LOBE : NOVA_LABEL_LEFT_UPPER_LOBE;
}

/* ---------------------------------------------------------------- slice */

static void blur3(const float *in, float *out, size_t nx, size_t ny, float *tmp)
{
    /* binomial (1 2 1)/4 along x then y, clamped at the borders */
    for (size_t j = 0; j < ny; j++) {
        const float *r = in + j * nx;
        float *o = tmp + j * nx;
        o[0] = 0.75f * r[0] + 0.25f * r[nx > 1 ? 1 : 0];
        for (size_t i = 1; i + 1 < nx; i++)
            o[i] = 0.25f * (r[i - 1] + r[i + 1]) + 0.5f * r[i];
        if (nx > 1)
            o[nx - 1] = 0.25f * r[nx - 2] + 0.75f * r[nx - 1];
    }
    for (size_t j = 0; j < ny; j++) {
        const float *a = tmp + (j > 0 ? j - 1 : 0) * nx, *b = tmp + j * nx,
                    *c = tmp + (j + 1 < ny ? j + 1 : ny - 1) * nx;
        float *o = out + j * nx;
        for (size_t i = 0; i < nx; i++)
            o[i] = 0.25f * (a[i] + c[i]) + 0.5f * b[i];
    }
}

static void slice_constants(const PhModel *m, float z, SliceC *sl)
{
    sl->z = z;
    sl->body_a = (float)(m->body_a * (1.0 - 0.16 * smoothstepf(95, 165, z) +
                                      0.05 * smoothstepf(100, -60, z) +
                                      0.03 * smoothstepf(-60, -150, z)));
    sl->body_b = (float)(m->body_b * (1.0 - 0.08 * smoothstepf(95, 165, z)));
    sl->ant_f = smoothstepf(-20, 40, z);
    float ph = fmodf(z - (float)m->rib_z0 + 2000.0f, (float)m->rib_dz);
    sl->disc = ph < 5.0f;
    sl->arch_gap = ph < 3.0f;
    float w = (z - (float)m->heart_c[2]) / (float)m->heart_r[2];
    sl->heart_w2 = w * w;
    sl->n_great = 0;
    for (size_t i = 0; i < m->n_great && sl->n_great < 32; i++) {
        const PhSegment *s = &m->segs[i];
        float lo = fminf(s->a[2], s->b[2]) - s->ra - 4,
              hi = fmaxf(s->a[2], s->b[2]) + s->ra + 4;
        if (z >= lo && z <= hi)
            sl->great[sl->n_great++] = (uint32_t)i;
    }
}

static void render_slice(const PhRender *r, size_t k, Scratch *sc,
                         PhCounts *counts)
{
    const PhModel *m = r->model;
    const size_t nx = r->dims[0], ny = r->dims[1], n = nx * ny;
    const float px = (float)r->spacing[0];
    const float x0 = (float)(-PH_FIELD_XY_MM / 2);
    const float z =
        (float)(-PH_FIELD_Z_MM / 2 + ((double)k + 0.5) * r->spacing[2]);

    memset(sc->lumen, 0, 6 * n * sizeof(float)); /* lumen..les_hu */
    for (size_t i = 0; i < n; i++)
        sc->les_id[i] = -1;
    grid_fill(&sc->lung_grid, m->hash_seed ^ 0x1111u, z);
    grid_fill(&sc->les_grid, m->hash_seed ^ 0x2222u, z);
    for (size_t s = r->slice_start[k]; s < r->slice_start[k + 1]; s++)
        raster_segment(&m->segs[r->slice_segs[s]], z, r, sc);
    for (size_t l = 0; l < m->n_lesions; l++)
        raster_lesion(m, l, z, r, sc);

    SliceC sl;
    slice_constants(m, z, &sl);
    ColC *cols = sc->cols;
    for (size_t i = 0; i < nx; i++) {
        float x = x0 + ((float)i + 0.5f) * px;
        ColC *c = &cols[i];
        c->side = x < 3.0f ? 0 : 1;
        float xc = c->side == 0 ? -62.0f : 62.0f;
        float dome = (float)(c->side == 0 ? m->dome_right : m->dome_left);
        c->dia_x = dome - 0.0105f * (x - xc) * (x - xc);
        float xa = c->side == 0 ? -60.0f : 60.0f;
        c->apex_x = (x - xa) * (x - xa); /* apex: squared distances */
        c->wave_x = 5.0f * sinf(x * 0.035f + (float)m->fiss_phase);
        c->obl_x = (c->side == 0 ? -0.525f : -0.575f) * (fabsf(x) - 80.0f);
    }

    uint8_t *lab = r->labels + k * n;
    for (size_t j = 0; j < ny; j++) {
        float y = x0 + ((float)j + 0.5f) * px;
        RowC row;
        row.dy = y - (float)m->body_yc;
        for (int side = 0; side < 2; side++)
            row.med_w[side] =
                (float)nova__ph_mediastinum_half_width(m, side, y, z);
        row.dia_y =
            -0.004f * (y - 5) * (y - 5) - 24.0f * smoothstepf(10, 70, y);
        row.apex_y = (y - 18) * (y - 18);
        row.wave_y = 3.0f * sinf(y * 0.05f + 2.0f * (float)m->fiss_phase);
        float post = clampf((y + 90.0f) / 180.0f, 0, 1);
        row.post = -878.0f + 38.0f * post * post;
        for (size_t i = 0; i < nx; i++) {
            size_t at = j * nx + i;
            float x = x0 + ((float)i + 0.5f) * px;
            const ColC *col = &cols[i];
            Wall w;
            wall_at(m, &sl, x, row.dy, &w);
            float depth = lung_depth_fast(m, &sl, &row, col, x, y, &w, px);
            float lc = cover(depth, px);
            float hu = 0;
            int lobe = 0;
            /* Effusion coverage of a lung pixel (0 on sides without one,
             * so those phantoms keep their bytes). */
            float fluid = 0;
            if (m->effusion[col->side] && lc > 0.0f) {
                float key = (float)nova__ph_effusion_key(m, col->side, y, z,
                                                         w.skin - w.cavity);
                fluid = cover(key - (float)m->effusion_level[col->side], px);
            }
            if (lc < 1.0f)
                hu = body_hu(m, &sl, col, &row, x, y, &w, px);
            if (lc > 0.0f) {
                float fiss;
                lobe = lobe_fast(m, col, &row, y, z, &fiss);
                /* Parenchyma: about -860 HU, denser toward the back
                 * (gravity-dependent), with a soft mottled texture. */
                float lung = row.post + 16.0f * grid_at(&sc->lung_grid, x, y);
                /* Fissure: a thin tissue plane, partial volume. */
                if (fiss < 1.5f * px + 1.0f) {
                    float vis = 0.45f * fminf(1.0f, 1.2f / px);
                    lung = mixf(
                        lung, -100.0f,
                        vis * clampf(1.0f - fiss / (0.5f + 0.5f * px), 0, 1));
                }
                if (sc->les_cov[at] > 0)
                    lung = mixf(lung, sc->les_hu[at], sc->les_cov[at]);
                /* Transudate, 4-12 HU before noise; the vessels and
                 * bronchi of the displaced lung are gone with it. */
                if (fluid > 0) {
                    float tex = grid_at(&sc->les_grid, x, y);
                    lung = mixf(lung, 8.0f + 4.0f * tex, fluid);
                    sc->ves[at] *= 1.0f - fluid;
                    sc->lumen[at] *= 1.0f - fluid;
                    sc->wall[at] *= 1.0f - fluid;
                }
                hu = mixf(hu, lung, lc);
            }
            if (sc->great[at] > 0)
                hu = mixf(hu, 40.0f, sc->great[at]);
            if (sc->wall[at] > 0) {
                hu = mixf(hu, 25.0f, sc->wall[at]);
                hu = mixf(hu, -1000.0f, sc->lumen[at]);
            }
            if (sc->ves[at] > 0)
                hu = mixf(hu, 42.0f, sc->ves[at]);
            sc->hu[at] = hu;

            /* The truth (precedence: airway, vessel, lesion, lobe). */
            uint8_t label = 0;
            bool in_lung = depth >= 0.0f;
            if (in_lung && fluid >= 0.5f) {
                label = NOVA_LABEL_EFFUSION;
            } else if (sc->lumen[at] >= 0.5f || sc->wall[at] >= 0.5f) {
                label = NOVA_LABEL_AIRWAY;
            } else if (in_lung) {
                /* Nodules are solid lumps: no vessel runs through them. */
                bool nodule =
                    sc->les_id[at] >= 0 &&
                    m->lesions[sc->les_id[at]].type >= NOVA_LESION_NODULE_SOLID;
                if (sc->ves[at] >= 0.5f && !nodule)
                    label = NOVA_LABEL_VESSEL;
                else if (sc->les_id[at] >= 0)
                    label = (uint8_t)(NOVA_LABEL_LESION_FIRST + sc->les_id[at]);
                else
                    label = (uint8_t)lobe;
            }
            lab[at] = label;
            if (label == NOVA_LABEL_EFFUSION) {
                counts->effusion[col->side]++;
            } else if (in_lung) {
                counts->lobe[lobe]++;
                if (label >= NOVA_LABEL_LESION_FIRST) {
                    int id = label - NOVA_LABEL_LESION_FIRST;
                    counts->lobe_lesion[lobe]++;
                    counts->lesion[id]++;
                    counts->lesion_lobe[id][lobe]++;
                }
            }
        }
    }

    /* Noise: white Gaussian (sum of four uniforms) band-passed. */
    float sigma = (float)r->opt->noise_hu;
    int16_t *out = r->ct + k * n;
    if (sigma > 0) {
        uint32_t seed = m->hash_seed ^ 0x5EEDu;
        for (size_t j = 0; j < ny; j++)
            for (size_t i = 0; i < nx; i++) {
                uint32_t h1 = hash3(seed, (int32_t)i, (int32_t)j, (int32_t)k);
                uint32_t h2 = h1 * 0x9E3779B1u ^ (h1 >> 13);
                float s = (float)(h1 & 0xFFFF) + (float)(h1 >> 16) +
                          (float)(h2 & 0xFFFF) + (float)(h2 >> 16);
                sc->noise[j * nx + i] = (s / 65536.0f - 2.0f) * 1.7320508f;
            }
        /* n1 = B w, n2 = B n1; texture = n1 - 0.55 n2.  The std of that
         * filter on unit white noise is 0.2363 (root of the sum of squared
         * taps of B - 0.55 B^2). */
        float *n1 = sc->les_cov, *n2 = sc->les_hu; /* free by now */
        blur3(sc->noise, n1, nx, ny, sc->tmp);
        blur3(n1, n2, nx, ny, sc->tmp);
        float scale = sigma / 0.2363f;
        for (size_t i = 0; i < n; i++)
            sc->hu[i] += scale * (n1[i] - 0.55f * n2[i]);
    }
    for (size_t i = 0; i < n; i++) {
        float v = sc->hu[i];
        v = v < -1024.0f ? -1024.0f : v > 3071.0f ? 3071.0f : v;
        out[i] = (int16_t)lrintf(v);
    }
}

void nova__ph_render_range(void *ctx, size_t begin, size_t end, int thread)
{
    PhRender *r = ctx;
    Scratch sc;
    if (!scratch_alloc(&sc, r->dims[0] * r->dims[1])) {
        r->failed[thread] = true;
        return;
    }
    sc.cols = nova_malloc_array(NULL, r->dims[0], sizeof(ColC));
    if (!sc.cols) {
        scratch_free(&sc);
        r->failed[thread] = true;
        return;
    }
    for (size_t k = begin; k < end; k++)
        render_slice(r, k, &sc, &r->counts[thread]);
    scratch_free(&sc);
}
