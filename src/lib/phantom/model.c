/*
 * model.c - the phantom's anatomy, built from the seed.
 *
 * Solid organs and the body wall are analytic shapes (ellipses whose size
 * changes with height, layered by depth below the skin), so any voxel can
 * be evaluated on its own.  The lungs are the thoracic cavity minus the
 * mediastinum, heart and great vessels, above the diaphragm domes and below
 * the apices.  Fissures are gently curved surfaces: the right oblique and
 * horizontal fissures give three lobes, the left oblique fissure two.
 *
 * The bronchial, arterial and venous trees are grown into the lungs by the
 * space-filling method of Kitaoka et al. (J Appl Physiol 1999), simplified:
 * each branch heads for the centroid of the lung points it supplies; the
 * points are split in two by a plane through their centroid across their
 * widest axis, and each half is supplied by a child.  Radii follow
 * Murray's law (r^3 = r1^3 + r2^3) with flow proportional to the points
 * supplied, so the trees taper realistically.  Arteries run beside the
 * bronchi (the bronchovascular bundle); veins grow from the left atrium
 * through a different sample of points, so they lie between the bundles.
 */
#include "phantom_private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

uint64_t nova__ph_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double nova__ph_uniform(uint64_t *state, double lo, double hi)
{
    return lo + (hi - lo) *
                    ((double)(nova__ph_rand(state) >> 11) / 9007199254740992.0);
}

static double smoothstep(double e0, double e1, double x)
{
    double t = (x - e0) / (e1 - e0);
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    return t * t * (3 - 2 * t);
}

static double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* ------------------------------------------------------------- surfaces */

double nova__ph_skin_depth(const PhModel *m, double x, double y, double z,
                           double *cos_post)
{
    /* The chest narrows toward the neck and widens slightly toward the
     * abdomen. */
    double a = m->body_a * (1.0 - 0.16 * smoothstep(95, 165, z) +
                            0.05 * smoothstep(100, -60, z) +
                            0.03 * smoothstep(-60, -150, z));
    double b = m->body_b * (1.0 - 0.08 * smoothstep(95, 165, z));
    double dy = y - m->body_yc;
    double r = sqrt(x * x + dy * dy);
    if (r < 1e-6) {
        if (cos_post)
            *cos_post = 0;
        return b;
    }
    /* A flatter back: the ellipse is squared off posteriorly. */
    double bb = dy > 0 ? b * (1.0 + 0.06 * (dy / r)) : b;
    double rho = sqrt((x / a) * (x / a) + (dy / bb) * (dy / bb));
    if (cos_post)
        *cos_post = dy / r;
    /* Radial depth: the distance inward along the ray from the centre, a
     * good stand-in for the distance to the outline of a mild ellipse. */
    return r * (1.0 - rho) / rho;
}

/* Depths below the skin where the subcutaneous fat ends, the muscle ends
 * (and the rib band begins), and the thoracic cavity (inside the ribs and
 * the parietal pleura) begins, as functions of direction: fat is thicker
 * behind and at the sides, the paraspinal muscles are thick behind, the
 * pectorals in front of the upper chest. */
void nova__ph_wall_layers(const PhModel *m, double x, double cy, double cx,
                          double z, double *fat_end, double *muscle_end,
                          double *cavity)
{
    double post = cy > 0 ? cy : 0, ant = cy < 0 ? -cy : 0;
    double fat = m->fat_mm * (0.8 + 0.5 * post + 0.3 * cx);
    /* The paraspinal muscles lie either side of the spine only, so the
     * lungs reach back beside them (the paravertebral gutters). */
    double q = x / 42.0;
    double spinal = 1.0 / (1.0 + q * q * q * q);
    double muscle = 4.0 + 6.0 * post * post + 30.0 * post * spinal +
                    9.0 * ant * smoothstep(-20, 40, z);
    *fat_end = 2.0 + fat;
    *muscle_end = *fat_end + muscle;
    *cavity = *muscle_end + 8.0 + 1.5;
}

double nova__ph_cavity_depth_wall(const PhModel *m, double x, double cy,
                                  double cx, double z)
{
    double f, mu, c;
    nova__ph_wall_layers(m, x, cy, cx, z, &f, &mu, &c);
    return c;
}

/* Half-width of the mediastinum: thin in front (the anterior junction
 * line), wide behind (spine, aorta, oesophagus), wider at the hila, gently
 * waisted along z, with the aortic knob bulging into the left lung at the
 * level of the arch. */
double nova__ph_mediastinum_half_width(const PhModel *m, int side, double y,
                                       double z)
{
    double w = 5.0 + 17.0 * smoothstep(-70, -25, y) +
               8.0 * smoothstep(0, 35, y) +
               9.0 * smoothstep(10, 60, z) * smoothstep(20, -20, y) +
               4.0 * sin(z * 0.045 + m->fiss_phase);
    if (side == 1) {
        double dz = (z - 90.0) / 14.0;
        w += 12.0 * exp(-dz * dz) * smoothstep(-25, -5, y) *
             smoothstep(40, 20, y);
    }
    return w;
}

double nova__ph_diaphragm_z(const PhModel *m, int side, double x, double y)
{
    double dome = side == 0 ? m->dome_right : m->dome_left;
    double xc = side == 0 ? -62.0 : 62.0;
    return dome - 0.0105 * (x - xc) * (x - xc) - 0.004 * (y - 5) * (y - 5) -
           24.0 * smoothstep(10, 70, y);
}

double nova__ph_heart_distance(const PhModel *m, double x, double y, double z)
{
    double dx = x - m->heart_c[0], dy = y - m->heart_c[1];
    double u = dx * m->heart_cos + dy * m->heart_sin;
    double v = -dx * m->heart_sin + dy * m->heart_cos;
    double w = z - m->heart_c[2];
    double q = sqrt((u / m->heart_r[0]) * (u / m->heart_r[0]) +
                    (v / m->heart_r[1]) * (v / m->heart_r[1]) +
                    (w / m->heart_r[2]) * (w / m->heart_r[2]));
    return (q - 1.0) * m->heart_r[1];
}

static double segment_distance(const PhSegment *s, double x, double y, double z,
                               double *radius)
{
    double d[3] = {s->b[0] - s->a[0], s->b[1] - s->a[1], s->b[2] - s->a[2]};
    double p[3] = {x - s->a[0], y - s->a[1], z - s->a[2]};
    double dd = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
    double t = dd > 0 ? (p[0] * d[0] + p[1] * d[1] + p[2] * d[2]) / dd : 0;
    t = clampd(t, 0, 1);
    double e[3] = {p[0] - t * d[0], p[1] - t * d[1], p[2] - t * d[2]};
    *radius = s->ra + t * (s->rb - s->ra);
    return sqrt(e[0] * e[0] + e[1] * e[1] + e[2] * e[2]);
}

double nova__ph_lung_depth(const PhModel *m, double x, double y, double z,
                           int *side_out, PhLungMargins *mg)
{
    int side = x < 3.0 ? 0 : 1;
    double cy;
    double skin = nova__ph_skin_depth(m, x, y, z, &cy);
    double r = sqrt(x * x + (y - m->body_yc) * (y - m->body_yc));
    double cx = r > 1e-6 ? fabs(x) / r : 0;
    PhLungMargins g;
    g.wall = skin - nova__ph_cavity_depth_wall(m, x, cy, cx, z);
    /* Mediastinum: a band around the midline, thin in front (the anterior
     * junction line), wide behind (spine, aorta, oesophagus) and in the
     * middle at the level of the hila and great vessels. */
    double w = nova__ph_mediastinum_half_width(m, side, y, z);
    g.med = fabs(x - 3.0) - w;
    g.base = z - nova__ph_diaphragm_z(m, side, x, y);
    /* The apex: a dome over a point above the lung's centre. */
    double xa = side == 0 ? -60.0 : 60.0;
    double r2 = (x - xa) * (x - xa) + (y - 18) * (y - 18);
    g.apex = m->apex_z - 0.010 * r2 - 2.0e-6 * r2 * r2 - z;
    g.heart = nova__ph_heart_distance(m, x, y, z) - 3.0;
    g.great = 1e9;
    if (fabs(x) < 80 && y < 70)
        for (size_t i = 0; i < m->n_great; i++) {
            const PhSegment *s = &m->segs[i];
            double lo = fminf(s->a[2], s->b[2]) - s->ra - 4,
                   hi = fmaxf(s->a[2], s->b[2]) + s->ra + 4;
            if (z < lo || z > hi)
                continue;
            double rad, dist = segment_distance(s, x, y, z, &rad);
            double v = dist - rad - 3.0;
            if (v < g.great)
                g.great = v;
        }
    double d = g.wall;
    if (g.med < d)
        d = g.med;
    if (g.base < d)
        d = g.base;
    if (g.apex < d)
        d = g.apex;
    if (g.heart < d)
        d = g.heart;
    if (g.great < d)
        d = g.great;
    if (side_out)
        *side_out = side;
    if (mg)
        *mg = g;
    return d;
}

int nova__ph_lobe(const PhModel *m, int side, double x, double y, double z,
                  double *fissure_mm)
{
    double wave = 5.0 * sin(x * 0.035 + m->fiss_phase) +
                  3.0 * sin(y * 0.05 + 2.0 * m->fiss_phase);
    if (side == 0) {
        /* Right oblique fissure: from about T4 behind to the diaphragm in
         * front; horizontal fissure: level with the fourth costal
         * cartilage, anterior to the oblique one. */
        /* In an axial slice the oblique fissure runs from posteromedial
         * to anterolateral: the plane also tilts with |x|. */
        double f =
            (z - m->fiss_right_z) - 1.05 * y - 0.525 * (fabs(x) - 80.0) + wave;
        double df = fabs(f) / 1.542;
        double h = z - (m->fiss_horizontal_z + 0.15 * y + 0.6 * wave);
        double dh = fabs(h) / 1.01;
        if (f < 0) {
            if (fissure_mm)
                *fissure_mm = df;
            return NOVA_LABEL_RIGHT_LOWER_LOBE;
        }
        if (fissure_mm)
            *fissure_mm = df < dh ? df : dh;
        return h > 0 ? NOVA_LABEL_RIGHT_UPPER_LOBE
                     : NOVA_LABEL_RIGHT_MIDDLE_LOBE;
    }
    double f =
        (z - m->fiss_left_z) - 1.15 * y - 0.575 * (fabs(x) - 80.0) + wave;
    if (fissure_mm)
        *fissure_mm = fabs(f) / 1.629;
    return f < 0 ? NOVA_LABEL_LEFT_LOWER_LOBE : NOVA_LABEL_LEFT_UPPER_LOBE;
}

/* ---------------------------------------------------------------- trees */

static bool add_segment(NovaError **error, PhModel *m, const double a[3],
                        const double b[3], double ra, double rb, int kind)
{
    if (m->n_segs == m->cap_segs) {
        size_t cap = m->cap_segs ? m->cap_segs * 2 : 4096;
        PhSegment *s = nova_realloc(error, m->segs, cap * sizeof *s);
        if (!s)
            return false;
        m->segs = s;
        m->cap_segs = cap;
    }
    PhSegment *s = &m->segs[m->n_segs++];
    for (int i = 0; i < 3; i++) {
        s->a[i] = (float)a[i];
        s->b[i] = (float)b[i];
    }
    s->ra = (float)ra;
    s->rb = (float)rb;
    s->kind = (uint8_t)kind;
    return true;
}

typedef struct {
    float p[3];
} PhPoint;

typedef struct {
    PhModel *m;
    NovaError **error;
    bool ok;
    bool with_airway; /* bronchus + artery bundle, else a vein */
    double airway_min_mm, vessel_min_mm;
    int variant; /* veins split on another axis at the top levels */
} Grower;

static void centroid(const PhPoint *p, size_t n, double c[3])
{
    c[0] = c[1] = c[2] = 0;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 3; k++)
            c[k] += p[i].p[k];
    for (int k = 0; k < 3; k++)
        c[k] /= (double)n;
}

/* The principal axis of the points (power iteration on the covariance). */
static void principal_axis(const PhPoint *p, size_t n, const double c[3],
                           int which, double axis[3])
{
    double cov[9] = {0};
    for (size_t i = 0; i < n; i++) {
        double d[3] = {p[i].p[0] - c[0], p[i].p[1] - c[1], p[i].p[2] - c[2]};
        for (int r = 0; r < 3; r++)
            for (int s = 0; s < 3; s++)
                cov[r * 3 + s] += d[r] * d[s];
    }
    double v[3] = {0.3, 0.5, 0.8};
    for (int it = 0; it < 30; it++) {
        double w[3];
        for (int r = 0; r < 3; r++)
            w[r] = cov[r * 3] * v[0] + cov[r * 3 + 1] * v[1] +
                   cov[r * 3 + 2] * v[2];
        double len = sqrt(w[0] * w[0] + w[1] * w[1] + w[2] * w[2]);
        if (len < 1e-12)
            break;
        for (int r = 0; r < 3; r++)
            v[r] = w[r] / len;
    }
    if (which == 1) {
        /* Second axis: deflate the first and iterate again. */
        double lambda = 0;
        for (int r = 0; r < 3; r++)
            for (int s = 0; s < 3; s++)
                lambda += v[r] * cov[r * 3 + s] * v[s];
        for (int r = 0; r < 3; r++)
            for (int s = 0; s < 3; s++)
                cov[r * 3 + s] -= lambda * v[r] * v[s];
        double u[3] = {v[1], -v[2], v[0] + 0.1};
        for (int it = 0; it < 30; it++) {
            double w[3];
            for (int r = 0; r < 3; r++)
                w[r] = cov[r * 3] * u[0] + cov[r * 3 + 1] * u[1] +
                       cov[r * 3 + 2] * u[2];
            double len = sqrt(w[0] * w[0] + w[1] * w[1] + w[2] * w[2]);
            if (len < 1e-12)
                break;
            for (int r = 0; r < 3; r++)
                u[r] = w[r] / len;
        }
        memcpy(v, u, sizeof v);
    }
    memcpy(axis, v, sizeof v);
}

static void perpendicular(const double d[3], double out[3])
{
    double ref[3] = {0, 0, 1};
    if (fabs(d[2]) > 0.9) {
        ref[0] = 1;
        ref[2] = 0;
    }
    out[0] = d[1] * ref[2] - d[2] * ref[1];
    out[1] = d[2] * ref[0] - d[0] * ref[2];
    out[2] = d[0] * ref[1] - d[1] * ref[0];
    double len = sqrt(out[0] * out[0] + out[1] * out[1] + out[2] * out[2]);
    for (int i = 0; i < 3; i++)
        out[i] /= len;
}

/* Grow a branch from `start` (with the artery beside it at start + off *
 * off_len) supplying points p[0..n). r is the bronchial lumen radius (or
 * the vein radius). */
static void grow(Grower *g, const double start[3], const double off[3],
                 double r_air, double r_vessel, PhPoint *p, size_t n, int depth)
{
    if (!g->ok || n == 0 || depth > 40)
        return;
    bool air = g->with_airway && r_air >= g->airway_min_mm;
    bool ves = r_vessel >= g->vessel_min_mm;
    if (!air && !ves)
        return;
    double c[3];
    centroid(p, n, c);
    double v[3] = {c[0] - start[0], c[1] - start[1], c[2] - start[2]};
    double len = sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    double end[3];
    if (len < 1e-6)
        return;
    double frac = n <= 2 ? 1.0 : 0.42;
    double want = len * frac;
    double min_len = 2.5 * (r_air > r_vessel ? r_air : r_vessel);
    if (want < min_len)
        want = min_len < len ? min_len : len;
    for (int i = 0; i < 3; i++)
        end[i] = start[i] + v[i] / len * want;
    double dir[3] = {v[0] / len, v[1] / len, v[2] / len};
    double off_end[3];
    perpendicular(dir, off_end);
    /* keep the artery on a consistent side of its bronchus */
    if (off_end[0] * off[0] + off_end[1] * off[1] + off_end[2] * off[2] < 0)
        for (int i = 0; i < 3; i++)
            off_end[i] = -off_end[i];
    double wall = 0.15 * r_air + 0.3;
    double gap = g->with_airway ? r_air + wall + r_vessel + 0.4 : 0;
    if (air && !add_segment(g->error, g->m, start, end, r_air, r_air * 0.97,
                            SEG_AIRWAY))
        g->ok = false;
    if (ves) {
        double a[3], b[3];
        for (int i = 0; i < 3; i++) {
            a[i] = start[i] + off[i] * gap;
            b[i] = end[i] + off_end[i] * gap;
        }
        if (!add_segment(g->error, g->m, a, b, r_vessel, r_vessel * 0.97,
                         SEG_VESSEL))
            g->ok = false;
    }
    if (n <= 1)
        return;
    double axis[3];
    principal_axis(p, n, c, (g->variant && depth < 2) ? 1 : 0, axis);
    /* Partition around the plane through the centroid. */
    size_t lo = 0, hi = n;
    while (lo < hi) {
        double s = (p[lo].p[0] - c[0]) * axis[0] +
                   (p[lo].p[1] - c[1]) * axis[1] +
                   (p[lo].p[2] - c[2]) * axis[2];
        if (s < 0) {
            lo++;
        } else {
            PhPoint t = p[lo];
            p[lo] = p[--hi];
            p[hi] = t;
        }
    }
    if (lo == 0 || lo == n)
        lo = n / 2;
    size_t n1 = lo, n2 = n - lo;
    double f1 = cbrt((double)n1 / (double)n), f2 = cbrt((double)n2 / (double)n);
    grow(g, end, off_end, r_air * f1, r_vessel * f1, p, n1, depth + 1);
    grow(g, end, off_end, r_air * f2, r_vessel * f2, p + n1, n2, depth + 1);
}

/* n points inside one lung, at least margin_mm inside. */
static bool sample_lung(NovaError **error, const PhModel *m, int side, size_t n,
                        double margin_mm, uint64_t *rng, PhPoint **out)
{
    PhPoint *p = nova_malloc_array(error, n, sizeof *p);
    if (!p)
        return false;
    size_t got = 0;
    for (size_t tries = 0; got < n && tries < n * 400; tries++) {
        double x = side == 0 ? nova__ph_uniform(rng, -175, 5)
                             : nova__ph_uniform(rng, -5, 175);
        double y = nova__ph_uniform(rng, -150, 130);
        double z = nova__ph_uniform(rng, -160, 160);
        int s;
        if (nova__ph_lung_depth(m, x, y, z, &s, NULL) < margin_mm || s != side)
            continue;
        p[got].p[0] = (float)x;
        p[got].p[1] = (float)y;
        p[got].p[2] = (float)z;
        got++;
    }
    if (got < n) {
        nova_free(p);
        return nova_error_set(error, NOVA_ERROR_INTERNAL, "phantom model",
                              "could not place points in the %s lung",
                              side ? "left" : "right");
    }
    *out = p;
    return true;
}

static bool great_vessels(NovaError **error, PhModel *m,
                          const double hilum[2][3])
{
    /* Aorta: ascending from the heart, arch, descending beside the spine;
     * pulmonary trunk to its branches at the hila; superior and inferior
     * venae cavae; the arch's branches toward the neck. */
    struct {
        double a[3], b[3], ra, rb;
    } tubes[] = {
        {{-3, -16, -8}, {-6, -16, 62}, 15, 15},
        {{-6, -16, 62}, {-1, -8, 88}, 15, 14},
        {{-1, -8, 88}, {14, 12, 95}, 14, 13},
        {{14, 12, 95}, {26, 30, 80}, 13, 12.5},
        {{26, 30, 80}, {22, 34, -170}, 12.5, 11.5},
        {{12, -42, -8}, {16, -30, 34}, 14, 14},
        {{16, -30, 34}, {10, -10, 44}, 14, 12},
        {{-30, -18, 170}, {-25, -16, 22}, 9, 10},
        {{-12, 18, -170}, {-10, 2, -62}, 11, 12},
        {{-2, -10, 90}, {-16, -8, 170}, 6.5, 6},
        {{6, -6, 94}, {10, -8, 170}, 4.5, 4},
        {{16, 6, 94}, {26, 4, 170}, 5, 5},
    };
    for (size_t i = 0; i < sizeof tubes / sizeof tubes[0]; i++)
        if (!add_segment(error, m, tubes[i].a, tubes[i].b, tubes[i].ra,
                         tubes[i].rb, SEG_GREAT))
            return false;
    /* Right and left pulmonary arteries from the bifurcation to the hila
     * (the right one passes behind the ascending aorta). */
    double bif[3] = {10, -10, 44};
    double mid_r[3] = {-10, 4, 46};
    if (!add_segment(error, m, bif, mid_r, 11, 10.5, SEG_GREAT) ||
        !add_segment(error, m, mid_r, hilum[0], 10.5, 9.5, SEG_GREAT) ||
        !add_segment(error, m, bif, hilum[1], 11, 9.5, SEG_GREAT))
        return false;
    m->n_great = m->n_segs;
    return true;
}

/* -------------------------------------------------------------- lesions */

static void lesion_waves(PhLesion *l, uint64_t *rng, double amp)
{
    for (int w = 0; w < 3; w++) {
        double f = nova__ph_uniform(rng, 0.15, 0.35);
        double th = nova__ph_uniform(rng, 0, 2 * M_PI);
        double ph = acos(nova__ph_uniform(rng, -1, 1));
        double rmean = (l->r[0] + l->r[1] + l->r[2]) / 3.0;
        double k = f * 6.0 / rmean; /* about 1-2 bumps per radius */
        l->wave_k[w][0] = k * sin(ph) * cos(th);
        l->wave_k[w][1] = k * sin(ph) * sin(th);
        l->wave_k[w][2] = k * cos(ph);
        l->wave_phase[w] = nova__ph_uniform(rng, 0, 2 * M_PI);
    }
    l->wave_amp = amp;
}

typedef struct {
    PhPoint *pts[2];
    size_t n[2];
} Clouds;

static bool place_covid(PhModel *m, const NovaPhantomOptions *o, int count,
                        const Clouds *cl, uint64_t *rng)
{
    double sev = o->severity;
    for (int i = 0; i < count; i++) {
        PhLesion *l = &m->lesions[m->n_lesions];
        int side = i % 2; /* alternate lungs: bilateral */
        double rmax = 18 + 26 * sev, rmin = 9 + 10 * sev;
        double R = nova__ph_uniform(rng, rmin, rmax);
        /* Subpleural, posterior and lower-zone predominant: pick lung
         * points near the costal or diaphragmatic pleura, away from the
         * mediastinum, with acceptance weighted toward the back and the
         * bases. */
        bool placed = false;
        for (int tries = 0; tries < 20000 && !placed; tries++) {
            const PhPoint *pt =
                &cl->pts[side][nova__ph_rand(rng) % cl->n[side]];
            PhLungMargins g;
            int s;
            double x = pt->p[0], y = pt->p[1], z = pt->p[2];
            nova__ph_lung_depth(m, x, y, z, &s, &g);
            double near_pleura = g.wall < g.base ? g.wall : g.base;
            if (near_pleura < 0.15 * R || near_pleura > 0.6 * R || g.med < 35 ||
                g.heart < 20 || g.apex < 10)
                continue;
            double post = clampd((y + 80) / 150, 0, 1);
            double low = clampd((110 - z) / 220, 0, 1);
            double w = (0.08 + 0.92 * post) * (0.08 + 0.92 * post) *
                       (0.15 + 0.85 * low) * (0.15 + 0.85 * low);
            if (nova__ph_uniform(rng, 0, 1) > w)
                continue;
            l->c[0] = x;
            l->c[1] = y;
            l->c[2] = z;
            placed = true;
        }
        if (!placed)
            continue;
        for (int k = 0; k < 3; k++)
            l->r[k] = R * nova__ph_uniform(rng, 0.75, 1.25);
        double u = nova__ph_uniform(rng, 0, 1);
        double p_cons = 0.45 * sev * sev, p_mixed = 0.35 * sev;
        if (u < p_cons)
            l->type = NOVA_LESION_CONSOLIDATION;
        else if (u < p_cons + p_mixed)
            l->type = NOVA_LESION_MIXED;
        else if (u < p_cons + p_mixed + 0.25)
            l->type = NOVA_LESION_CRAZY_PAVING;
        else
            l->type = NOVA_LESION_GGO;
        l->hu = l->type == NOVA_LESION_CONSOLIDATION
                    ? nova__ph_uniform(rng, 10, 40)
                    : nova__ph_uniform(rng, -660, -540) + 160 * sev;
        l->core = nova__ph_uniform(rng, 0.35, 0.6);
        l->edge_mm = l->type == NOVA_LESION_CONSOLIDATION ? 1.5 : 3.0;
        lesion_waves(l, rng, 0.16);
        m->n_lesions++;
    }
    return true;
}

static bool place_bacterial(PhModel *m, const NovaPhantomOptions *o, int count,
                            const Clouds *cl, uint64_t *rng)
{
    double sev = o->severity;
    int side = (int)(nova__ph_rand(rng) % 2);
    static const int lobes[2][3] = {
        {NOVA_LABEL_RIGHT_LOWER_LOBE, NOVA_LABEL_RIGHT_MIDDLE_LOBE,
         NOVA_LABEL_RIGHT_UPPER_LOBE},
        {NOVA_LABEL_LEFT_LOWER_LOBE, NOVA_LABEL_LEFT_UPPER_LOBE,
         NOVA_LABEL_LEFT_LOWER_LOBE}};
    for (int i = 0; i < count; i++) {
        PhLesion *l = &m->lesions[m->n_lesions];
        int lobe = lobes[side][(nova__ph_rand(rng) % 2 + (size_t)i) % 3];
        /* Centre: a lobe point, peripheral for segmental disease. */
        bool placed = false;
        for (int tries = 0; tries < 20000 && !placed; tries++) {
            const PhPoint *pt =
                &cl->pts[side][nova__ph_rand(rng) % cl->n[side]];
            PhLungMargins g;
            int s;
            nova__ph_lung_depth(m, pt->p[0], pt->p[1], pt->p[2], &s, &g);
            if (nova__ph_lobe(m, s, pt->p[0], pt->p[1], pt->p[2], NULL) != lobe)
                continue;
            if (i == 0 && g.wall > 30)
                continue;
            for (int k = 0; k < 3; k++)
                l->c[k] = pt->p[k];
            placed = true;
        }
        if (!placed)
            continue;
        /* The first lesion is lobar (whole lobe at high severity),
         * further ones segmental. */
        double R = i == 0 ? 30 + 120 * sev * sev : 18 + 20 * sev;
        for (int k = 0; k < 3; k++)
            l->r[k] = R * nova__ph_uniform(rng, 0.8, 1.2);
        l->type = NOVA_LESION_CONSOLIDATION;
        l->lobe_only = lobe;
        l->hu = nova__ph_uniform(rng, 20, 45);
        l->edge_mm = 4.0;
        lesion_waves(l, rng, 0.12);
        m->n_lesions++;
    }
    return true;
}

static bool place_nodules(PhModel *m, const NovaPhantomOptions *o, int count,
                          const Clouds *cl, uint64_t *rng)
{
    for (int i = 0; i < count; i++) {
        PhLesion *l = &m->lesions[m->n_lesions];
        bool solid = i % 2 == 0;
        double R = solid ? nova__ph_uniform(rng, 3, 6 + 6 * o->severity)
                         : nova__ph_uniform(rng, 5, 8 + 7 * o->severity);
        /* at least most of a voxel, so every nodule is in the labels */
        double voxel = fmax(PH_FIELD_XY_MM / (double)o->dims[0],
                            PH_FIELD_Z_MM / (double)o->dims[2]);
        if (R < 0.8 * voxel)
            R = 0.8 * voxel;
        int side = (int)(nova__ph_rand(rng) % 2);
        bool placed = false;
        for (int tries = 0; tries < 20000 && !placed; tries++) {
            const PhPoint *pt =
                &cl->pts[side][nova__ph_rand(rng) % cl->n[side]];
            if (nova__ph_lung_depth(m, pt->p[0], pt->p[1], pt->p[2], NULL,
                                    NULL) < R + 3)
                continue;
            bool clash = false;
            for (size_t j = 0; j < m->n_lesions; j++) {
                double d = 0;
                for (int k = 0; k < 3; k++)
                    d += (m->lesions[j].c[k] - pt->p[k]) *
                         (m->lesions[j].c[k] - pt->p[k]);
                if (sqrt(d) < m->lesions[j].r[0] + R + 10)
                    clash = true;
            }
            if (clash)
                continue;
            for (int k = 0; k < 3; k++)
                l->c[k] = pt->p[k];
            placed = true;
        }
        if (!placed)
            continue;
        for (int k = 0; k < 3; k++)
            l->r[k] = R * nova__ph_uniform(rng, 0.9, 1.1);
        l->type =
            solid ? NOVA_LESION_NODULE_SOLID : NOVA_LESION_NODULE_PART_SOLID;
        l->hu = solid ? nova__ph_uniform(rng, 25, 50)
                      : nova__ph_uniform(rng, -600, -450);
        l->core = nova__ph_uniform(rng, 0.35, 0.55);
        l->edge_mm = solid ? 0.3 : 1.0;
        lesion_waves(l, rng, solid ? 0.08 : 0.12);
        m->n_lesions++;
    }
    return true;
}

/* ---------------------------------------------------------------- build */

static int compare_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

/* The fluid level of a layered effusion of `ml` on one side: the lung of
 * that side sampled at the centres of 2 mm cells, each point keyed by
 * nova__ph_effusion_key; the level is the key of the point that makes the
 * fluid's sampled volume `ml`, so the points above it hold that volume.
 * The rendered volume (truth.json) differs from the request by the
 * sampling and the partial-volume rule of the labels: within 3 % on seeds
 * 1-3 at 192 voxels for 150-400 ml. */
static bool effusion_level(NovaError **error, PhModel *m, int side, double ml)
{
    const double cell = 2.0, cell_ml = cell * cell * cell / 1000.0;
    const double half = PH_FIELD_XY_MM / 2, zhalf = PH_FIELD_Z_MM / 2;
    size_t nx = (size_t)(half / cell), ny = (size_t)(2 * half / cell),
           nz = (size_t)(2 * zhalf / cell);
    size_t cap = nx * ny * nz / 2, n = 0;
    float *keys = nova_malloc_array(error, cap, sizeof(float));
    if (!keys)
        return false;
    for (size_t k = 0; k < nz; k++) {
        double z = -zhalf + ((double)k + 0.5) * cell;
        for (size_t j = 0; j < ny; j++) {
            double y = -half + ((double)j + 0.5) * cell;
            for (size_t i = 0; i < nx; i++) {
                double x = ((double)i + 0.5) * cell;
                if (side == 0)
                    x = -x;
                int s;
                PhLungMargins g;
                if (nova__ph_lung_depth(m, x, y, z, &s, &g) < 0 || s != side)
                    continue;
                if (n == cap) {
                    float *t =
                        nova_realloc(error, keys, cap * 2 * sizeof(float));
                    if (!t) {
                        nova_free(keys);
                        return false;
                    }
                    keys = t;
                    cap *= 2;
                }
                keys[n++] = (float)nova__ph_effusion_key(m, side, y, z, g.wall);
            }
        }
    }
    size_t want = (size_t)lround(ml / cell_ml);
    if (want >= n / 2) {
        nova_free(keys);
        return nova_error_set(error, NOVA_ERROR_RANGE, "effusion too large",
                              "%.0f ml of effusion in the %s lung of %.0f ml: "
                              "at most half of it",
                              ml, side ? "left" : "right", (double)n * cell_ml);
    }
    qsort(keys, n, sizeof(float), compare_desc);
    m->effusion[side] = true;
    m->effusion_level[side] = 0.5 * ((double)keys[want - 1] + keys[want]);
    nova_free(keys);
    return true;
}

void nova__ph_model_free(PhModel *m)
{
    nova_free(m->segs);
    m->segs = NULL;
    m->n_segs = m->cap_segs = 0;
}

bool nova__ph_model_build(NovaError **error, PhModel *m,
                          const NovaPhantomOptions *o)
{
    memset(m, 0, sizeof *m);
    uint64_t rng = o->seed * 0x2545F4914F6CDD1Dull + 0x1234567ull;
    m->seed = o->seed;
    m->hash_seed = (uint32_t)(nova__ph_rand(&rng) >> 32);
    /* Body habitus and organ positions vary by a few percent per seed. */
    m->body_a = 150 * nova__ph_uniform(&rng, 0.93, 1.06);
    m->body_b = 108 * nova__ph_uniform(&rng, 0.93, 1.06);
    m->body_yc = 6;
    m->fat_mm = nova__ph_uniform(&rng, 5, 13);
    m->spine_y = 46;
    m->rib_dz = nova__ph_uniform(&rng, 23, 26);
    m->rib_z0 = nova__ph_uniform(&rng, 140, 150);
    m->dome_right = nova__ph_uniform(&rng, -70, -52);
    m->dome_left = m->dome_right - nova__ph_uniform(&rng, 8, 20);
    m->apex_z = nova__ph_uniform(&rng, 142, 152);
    m->heart_c[0] = nova__ph_uniform(&rng, 18, 26);
    m->heart_c[1] = nova__ph_uniform(&rng, -32, -24);
    m->heart_c[2] = m->dome_left + nova__ph_uniform(&rng, 40, 50);
    m->heart_r[0] = nova__ph_uniform(&rng, 46, 54);
    m->heart_r[1] = nova__ph_uniform(&rng, 34, 40);
    m->heart_r[2] = nova__ph_uniform(&rng, 44, 52);
    double ang = nova__ph_uniform(&rng, 0.45, 0.7);
    m->heart_cos = cos(ang);
    m->heart_sin = sin(ang);
    m->fiss_right_z = nova__ph_uniform(&rng, -12, 0);
    m->fiss_left_z = nova__ph_uniform(&rng, -2, 10);
    m->fiss_horizontal_z = nova__ph_uniform(&rng, 0, 12);
    m->fiss_phase = nova__ph_uniform(&rng, 0, 6.28);

    /* Airway roots: trachea to the carina, main bronchi to the hila. */
    double carina[3] = {0, 4, nova__ph_uniform(&rng, 38, 48)};
    double trachea_top[3] = {0, -4, 175};
    double main_end[2][3] = {
        {-30, 14, carina[2] - 14},
        {40, 18, carina[2] - 24},
    };
    double off0[2][3] = {{0, -1, 0}, {0, -1, 0}};
    double hilum[2][3];
    for (int s = 0; s < 2; s++)
        for (int k = 0; k < 3; k++)
            hilum[s][k] = main_end[s][k] + off0[s][k] * (7.0 + 1.4 + 9.0);
    if (!great_vessels(error, m, hilum))
        return false;
    if (!add_segment(error, m, trachea_top, carina, 8.5, 8.5, SEG_AIRWAY) ||
        !add_segment(error, m, carina, main_end[0], 7.0, 6.5, SEG_AIRWAY) ||
        !add_segment(error, m, carina, main_end[1], 6.0, 5.5, SEG_AIRWAY))
        return false;

    Clouds arteries = {{NULL, NULL}, {0, 0}}, veins = {{NULL, NULL}, {0, 0}};
    bool ok = true;
    const size_t n_points = 10000;
    for (int s = 0; s < 2 && ok; s++) {
        arteries.n[s] = veins.n[s] = n_points;
        ok = sample_lung(error, m, s, n_points, 2.0, &rng, &arteries.pts[s]) &&
             sample_lung(error, m, s, n_points, 2.0, &rng, &veins.pts[s]);
    }
    for (int s = 0; s < 2 && ok; s++) {
        /* Bronchi with their arteries; the points are reordered by the
         * partition, which is deterministic. */
        Grower g = {m, error, true, true, 0.65, 0.45, 0};
        grow(&g, main_end[s], off0[s], s == 0 ? 6.5 : 5.5, 7.5, arteries.pts[s],
             arteries.n[s], 0);
        /* Veins from the left atrium, behind the heart. */
        Grower gv = {m, error, true, false, 99, 0.45, 1};
        double la[3] = {s == 0 ? -22.0 : 34.0, 8.0, m->heart_c[2] + 22.0};
        double offv[3] = {0, 0, 1};
        grow(&gv, la, offv, 0, 7.0, veins.pts[s], veins.n[s], 0);
        ok = g.ok && gv.ok;
    }
    /* Small peripheral vessels below the trees' resolution: short tapered
     * segments pointing away from the hilum, thinner toward the pleura, so
     * the parenchyma shows the dots and short lines of real CT. */
    for (int s = 0; s < 2 && ok; s++) {
        for (size_t i = 0; i < n_points && ok; i++) {
            const PhPoint *pt = &veins.pts[s][i];
            double p[3] = {pt->p[0], pt->p[1], pt->p[2]};
            double dir[3], len = 0;
            for (int k = 0; k < 3; k++) {
                dir[k] = p[k] - hilum[s][k] + nova__ph_uniform(&rng, -25, 25);
                len += dir[k] * dir[k];
            }
            len = sqrt(len);
            if (len < 30)
                continue;
            double depth = nova__ph_lung_depth(m, p[0], p[1], p[2], NULL, NULL);
            double r = nova__ph_uniform(&rng, 0.35, 0.6) *
                       (0.6 + 0.4 * fmin(1.0, depth / 25.0));
            double half = nova__ph_uniform(&rng, 2.0, 4.5);
            double a[3], b[3];
            for (int k = 0; k < 3; k++) {
                a[k] = p[k] - dir[k] / len * half;
                b[k] = p[k] + dir[k] / len * half;
            }
            ok = add_segment(error, m, a, b, r, r * 0.75, SEG_VESSEL);
        }
    }
    if (ok) {
        int count = o->lesions;
        double sev = o->severity;
        switch (o->kind) {
        case NOVA_PHANTOM_NORMAL: break;
        case NOVA_PHANTOM_COVID:
            if (count < 0)
                count = (int)lround(4 + 14 * sev);
            ok = place_covid(m, o, count, &veins, &rng);
            break;
        case NOVA_PHANTOM_BACTERIAL:
            if (count < 0)
                count = sev > 0.6 ? 2 : 1;
            ok = place_bacterial(m, o, count, &veins, &rng);
            break;
        case NOVA_PHANTOM_NODULES:
            if (count < 0)
                count = (int)lround(2 + 4 * sev);
            ok = place_nodules(m, o, count, &veins, &rng);
            break;
        }
    }
    for (int s = 0; s < 2 && ok; s++)
        if (o->effusion_ml[s] > 0)
            ok = effusion_level(error, m, s, o->effusion_ml[s]);
    for (int s = 0; s < 2; s++) {
        nova_free(arteries.pts[s]);
        nova_free(veins.pts[s]);
    }
    if (!ok)
        nova__ph_model_free(m);
    return ok;
}
