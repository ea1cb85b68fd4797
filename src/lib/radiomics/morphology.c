/*
 * morphology.c - IBSI 1 section 3.1: morphological features.
 *
 * The surface mesh comes from marching cubes at iso-level 0.5 over the
 * morphological mask padded with one layer of background (IBSI 1 3.1,
 * "mesh-based representation").  For a 0/1 mask every vertex lies at the
 * midpoint of a cube edge.  Instead of the usual 256-case lookup table, the
 * polygon of each cube is built from its six faces: walking each face
 * counter-clockwise about its outward normal, every run of inside corners
 * is cut off by a segment from the crossing where the walk enters the
 * inside to the crossing where it leaves.  Segments chain into closed loops
 * (each crossed edge starts a segment in one face and ends one in the
 * other), which are fanned into triangles.  A face with two diagonal inside
 * corners thus separates them (the outside stays connected), the same
 * decision on both cubes sharing the face, so the mesh is closed and
 * consistently oriented with normals pointing out of the ROI.
 *
 * The convex hull (volume and area densities) comes from Qhull (Debian
 * libqhull-dev, reentrant API), a well-tested library; the maximum 3D
 * diameter is searched among the hull vertices, which contain the two most
 * distant mesh vertices.
 */
#include "radiomics_internal.h"

#include <libqhull_r/qhull_ra.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    double *tri; /* 9 doubles per triangle, mm */
    size_t n_tri, cap_tri;
    double *vert; /* unique vertices, 3 doubles each, mm */
    size_t n_vert;
} Mesh;

static bool push_tri(NovaError **error, Mesh *mesh, const double *a,
                     const double *b, const double *c)
{
    if (mesh->n_tri == mesh->cap_tri) {
        size_t cap = mesh->cap_tri ? mesh->cap_tri * 2 : 1024;
        double *t = nova_realloc(error, mesh->tri, cap * 9 * sizeof *t);
        if (!t)
            return false;
        mesh->tri = t;
        mesh->cap_tri = cap;
    }
    double *t = mesh->tri + mesh->n_tri * 9;
    memcpy(t, a, 3 * sizeof *t);
    memcpy(t + 3, b, 3 * sizeof *t);
    memcpy(t + 6, c, 3 * sizeof *t);
    mesh->n_tri++;
    return true;
}

/* Marching cubes over the morphological mask. */
static bool build_mesh(NovaError **error, const NovaRoi *roi, Mesh *mesh)
{
    memset(mesh, 0, sizeof *mesh);
    /* Pad by one background voxel on every side. */
    size_t px = roi->nx + 2, py = roi->ny + 2, pz = roi->nz + 2;
    size_t pn = px * py * pz;
    uint8_t *pad = nova_calloc(error, pn, 1);
    uint8_t *used = nova_calloc(error, pn, 3);
    if (!pad || !used) {
        nova_free(pad);
        nova_free(used);
        return false;
    }
    for (size_t z = 0; z < roi->nz; z++)
        for (size_t y = 0; y < roi->ny; y++)
            for (size_t x = 0; x < roi->nx; x++)
                pad[((z + 1) * py + y + 1) * px + x + 1] =
                    roi->morph[(z * roi->ny + y) * roi->nx + x];

    /* Face corner cycles, counter-clockwise about the outward normal:
     * for axis a and side s the corners with bit a == s, cycling through
     * the other two axes b = a+1, c = a+2 (reversed when s == 0). */
    int faces[6][4];
    for (int a = 0; a < 3; a++)
        for (int s = 0; s < 2; s++) {
            int b = (a + 1) % 3, c = (a + 2) % 3;
            int cyc[4][2] = {{0, 0}, {1, 0}, {1, 1}, {0, 1}};
            for (int k = 0; k < 4; k++) {
                int kk = s ? k : (4 - k) % 4;
                int corner = (s << a) | (cyc[kk][0] << b) | (cyc[kk][1] << c);
                faces[a * 2 + s][k] = corner;
            }
        }

    bool ok = true;
    for (size_t z = 0; ok && z + 1 < pz; z++)
        for (size_t y = 0; ok && y + 1 < py; y++)
            for (size_t x = 0; ok && x + 1 < px; x++) {
                int inside[8], count = 0;
                for (int c = 0; c < 8; c++) {
                    size_t cx = x + (c & 1), cy = y + ((c >> 1) & 1),
                           cz = z + ((c >> 2) & 1);
                    inside[c] = pad[(cz * py + cy) * px + cx];
                    count += inside[c];
                }
                if (count == 0 || count == 8)
                    continue;
                /* Segments keyed by cube edge: next[start edge] = end. A
                 * cube edge is named by its lower corner and axis. */
                int next[8 * 3];
                for (int e = 0; e < 24; e++)
                    next[e] = -1;
                for (int f = 0; f < 6; f++) {
                    int cross[4], type[4], nc = 0;
                    for (int k = 0; k < 4; k++) {
                        int c0 = faces[f][k], c1 = faces[f][(k + 1) % 4];
                        if (inside[c0] == inside[c1])
                            continue;
                        int lowc = c0 < c1 ? c0 : c1;
                        int axis = (c0 ^ c1) == 1 ? 0 : (c0 ^ c1) == 2 ? 1 : 2;
                        cross[nc] = lowc * 3 + axis;
                        type[nc] = inside[c1]; /* 1: out -> in */
                        nc++;
                    }
                    for (int k = 0; k < nc; k++)
                        if (type[k] == 1)
                            next[cross[k]] = cross[(k + 1) % nc];
                }
                /* Walk loops, fan-triangulate. */
                int seen[24] = {0};
                for (int e = 0; ok && e < 24; e++) {
                    if (next[e] < 0 || seen[e])
                        continue;
                    double pts[12][3], unit[12][3];
                    int np = 0, cur = e;
                    while (!seen[cur] && np < 12) {
                        seen[cur] = 1;
                        int lowc = cur / 3, axis = cur % 3;
                        size_t vx = x + (lowc & 1), vy = y + ((lowc >> 1) & 1),
                               vz = z + ((lowc >> 2) & 1);
                        size_t vid =
                            ((vz * py + vy) * px + vx) * 3 + (size_t)axis;
                        used[vid] = 1;
                        /* Padded index p maps to box index p - 1. */
                        double pos[3] = {(double)vx - 1, (double)vy - 1,
                                         (double)vz - 1};
                        pos[axis] += 0.5;
                        for (int a = 0; a < 3; a++) {
                            pts[np][a] = pos[a] * roi->spacing[a];
                            unit[np][a] = pos[a];
                        }
                        np++;
                        cur = next[cur];
                        if (cur < 0)
                            break;
                    }
                    /* Fan from the vertex whose fan has the largest area
                     * in index space (before spacing): a fixed choice per
                     * cube configuration, as a lookup table makes, and the
                     * one that reproduces the Lewiner tables' mesh (and
                     * the IBSI reference areas) on the phantoms. */
                    int apex = 0;
                    if (np > 3) {
                        double best = -1;
                        for (int a0 = 0; a0 < np; a0++) {
                            double area = 0;
                            for (int k = 1; k + 1 < np; k++) {
                                const double *p0 = unit[a0],
                                             *p1 = unit[(a0 + k) % np],
                                             *p2 = unit[(a0 + k + 1) % np];
                                double u[3], w[3];
                                for (int a = 0; a < 3; a++) {
                                    u[a] = p1[a] - p0[a];
                                    w[a] = p2[a] - p0[a];
                                }
                                double cx = u[1] * w[2] - u[2] * w[1],
                                       cy = u[2] * w[0] - u[0] * w[2],
                                       cz = u[0] * w[1] - u[1] * w[0];
                                area += sqrt(cx * cx + cy * cy + cz * cz);
                            }
                            if (area > best + 1e-9) {
                                best = area;
                                apex = a0;
                            }
                        }
                    }
                    for (int k = 1; ok && k + 1 < np; k++)
                        ok = push_tri(error, mesh, pts[apex],
                                      pts[(apex + k) % np],
                                      pts[(apex + k + 1) % np]);
                }
            }
    if (ok) {
        size_t nv = 0;
        for (size_t i = 0; i < pn * 3; i++)
            nv += used[i];
        mesh->vert = nova_malloc_array(error, nv ? nv : 1, 3 * sizeof(double));
        ok = mesh->vert != NULL;
        for (size_t i = 0; ok && i < pn * 3; i++) {
            if (!used[i])
                continue;
            size_t v = i / 3, axis = i % 3;
            double pos[3] = {(double)(v % px) - 1, (double)(v / px % py) - 1,
                             (double)(v / (px * py)) - 1};
            pos[axis] += 0.5;
            for (int a = 0; a < 3; a++)
                mesh->vert[mesh->n_vert * 3 + (size_t)a] =
                    pos[a] * roi->spacing[a];
            mesh->n_vert++;
        }
    }
    nova_free(pad);
    nova_free(used);
    if (!ok) {
        nova_free(mesh->tri);
        nova_free(mesh->vert);
        memset(mesh, 0, sizeof *mesh);
    }
    return ok;
}

/* Eigenvalues of a symmetric 3x3 matrix (Jacobi rotations), descending. */
static void eigen_symmetric3(const double in[3][3], double eig[3])
{
    double a[3][3];
    memcpy(a, in, sizeof a);
    for (int sweep = 0; sweep < 64; sweep++) {
        double off = fabs(a[0][1]) + fabs(a[0][2]) + fabs(a[1][2]);
        if (off <
            1e-15 * (fabs(a[0][0]) + fabs(a[1][1]) + fabs(a[2][2]) + 1e-300))
            break;
        for (int p = 0; p < 2; p++)
            for (int q = p + 1; q < 3; q++) {
                if (a[p][q] == 0)
                    continue;
                double theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
                double t = (theta >= 0 ? 1 : -1) /
                           (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < 3; k++) {
                    double akp = a[k][p], akq = a[k][q];
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for (int k = 0; k < 3; k++) {
                    double apk = a[p][k], aqk = a[q][k];
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
            }
    }
    eig[0] = a[0][0];
    eig[1] = a[1][1];
    eig[2] = a[2][2];
    for (int i = 0; i < 3; i++)
        for (int j = i + 1; j < 3; j++)
            if (eig[j] > eig[i]) {
                double t = eig[i];
                eig[i] = eig[j];
                eig[j] = t;
            }
}

/* Surface area of an ellipsoid with semi-axes a >= b >= c by the Legendre
 * series of IBSI 1 (RDD2), stopped after nu = 20.  With
 * Q_nu = (alpha beta)^nu P_nu((alpha^2 + beta^2) / (2 alpha beta)) the
 * Legendre recurrence becomes division free:
 * (nu+1) Q_{nu+1} = (2nu+1) (alpha^2+beta^2)/2 Q_nu - nu (alpha beta)^2
 * Q_{nu-1}. */
static double ellipsoid_area(double a, double b, double c)
{
    double alpha = sqrt(fmax(0, 1 - b * b / (a * a)));
    double beta = sqrt(fmax(0, 1 - c * c / (a * a)));
    double h = (alpha * alpha + beta * beta) / 2, g = alpha * beta;
    double q_prev = 1, q = h, sum = 1; /* nu = 0 term: 1/(1-0) * 1 */
    sum += q / (1 - 4.0);
    for (int nu = 1; nu < 20; nu++) {
        double q_next = ((2 * nu + 1) * h * q - nu * g * g * q_prev) / (nu + 1);
        q_prev = q;
        q = q_next;
        double k = nu + 1;
        sum += q / (1 - 4 * k * k);
    }
    return 4 * M_PI * a * b * sum;
}

/* Convex hull of the mesh vertices: volume, area, and the largest vertex
 * distance among hull vertices. */
static bool convex_hull(NovaError **error, const Mesh *mesh, double *volume,
                        double *area, double *diameter)
{
    *volume = *area = *diameter = NAN;
    if (mesh->n_vert < 4)
        return true;
    qhT qh_storage;
    qhT *qh = &qh_storage;
    QHULL_LIB_CHECK
    qh_zero(qh, stderr);
    double *points = nova_malloc_array(error, mesh->n_vert, 3 * sizeof *points);
    if (!points)
        return false;
    memcpy(points, mesh->vert, mesh->n_vert * 3 * sizeof *points);
    char options[] = "qhull FA";
    FILE *devnull = fopen("/dev/null", "w");
    int code = qh_new_qhull(qh, 3, (int)mesh->n_vert, points, False, options,
                            NULL, devnull ? devnull : stderr);
    bool ok = true;
    if (code == 0) {
        *volume = qh->totvol;
        *area = qh->totarea;
        size_t nh = (size_t)qh->num_vertices, k = 0;
        double *hv = nova_malloc_array(error, nh ? nh : 1, 3 * sizeof *hv);
        if (hv) {
            vertexT *vertex;
            FORALLvertices
            {
                if (k < nh) {
                    memcpy(hv + 3 * k, vertex->point, 3 * sizeof *hv);
                    k++;
                }
            }
            double best = 0;
            for (size_t i = 0; i < k; i++)
                for (size_t j = i + 1; j < k; j++) {
                    double dx = hv[3 * i] - hv[3 * j],
                           dy = hv[3 * i + 1] - hv[3 * j + 1],
                           dz = hv[3 * i + 2] - hv[3 * j + 2];
                    double d2 = dx * dx + dy * dy + dz * dz;
                    if (d2 > best)
                        best = d2;
                }
            *diameter = sqrt(best);
            nova_free(hv);
        } else {
            ok = false;
        }
    }
    qh_freeqhull(qh, !qh_ALL);
    int curlong, totlong;
    qh_memfreeshort(qh, &curlong, &totlong);
    if (devnull)
        fclose(devnull);
    nova_free(points);
    return ok;
}

/* Moran's I and Geary's C over the intensity mask with inverse Euclidean
 * distance weights (IBSI 1 N365, NPT7), exact over all unordered pairs
 * (every sum is half the ordered one; the ratios agree).
 *
 * The voxels lie on a grid, so the weight of a pair depends only on its
 * offset: a table of 1/d by (|dx|, |dy|, |dz|) replaces the square roots.
 * The intensity mask is cut into runs (consecutive voxels of one row); for
 * two runs dy and dz are fixed, and the weights of one voxel against the
 * other run are a contiguous stretch of one table row, which keeps the
 * inner loop to loads and multiply-adds.  Pairs stay O(n^2) and exact.
 * First runs are dealt round-robin to SPATIAL_BLOCKS blocks (balancing the
 * triangle); blocks run over the pool and are summed in block order, so the
 * result does not depend on the thread count. */
#define SPATIAL_BLOCKS 64

typedef struct {
    uint32_t x0, y, z, len;
    size_t first; /* index of the run's first voxel in a[] */
} Run;

typedef struct {
    const double *a;   /* intensity - mean, raster order */
    const double *inv; /* 1/d by (dz * ny + dy) * nx + dx */
    const Run *runs;
    size_t n_runs, nx, ny;
    double sums[SPATIAL_BLOCKS][3];
} SpatialWork;

/* Sums of w, w a_j and w (a_i - a_j)^2 for voxel i against run r2's voxels
 * with index >= j_from (within r2). */
static inline void against_run(const SpatialWork *w, double ai, uint32_t xi,
                               const double *row, const Run *r2,
                               uint32_t j_from, double *ws, double *ms,
                               double *gs)
{
    const double *a = w->a + r2->first;
    double s0 = 0, m0 = 0, g0 = 0, s1 = 0, m1 = 0, g1 = 0;
    uint32_t j = j_from, end = r2->len;
    /* Voxels left of xi: dx = xi - x. */
    uint32_t split = xi > r2->x0 ? xi - r2->x0 : 0;
    if (split > end)
        split = end;
    for (; j < split; j++) {
        double q = row[xi - (r2->x0 + j)], e = ai - a[j];
        s0 += q;
        m0 += q * a[j];
        g0 += q * e * e;
    }
    /* Voxels at or right of xi: dx = x - xi, contiguous in the table. */
    if (j < end) {
        const double *t = row + (r2->x0 + j - xi);
        uint32_t k = 0, cnt = end - j;
        const double *aj = a + j;
        for (; k + 1 < cnt; k += 2) {
            double q0 = t[k], q1 = t[k + 1];
            double e0 = ai - aj[k], e1 = ai - aj[k + 1];
            s0 += q0;
            s1 += q1;
            m0 += q0 * aj[k];
            m1 += q1 * aj[k + 1];
            g0 += q0 * e0 * e0;
            g1 += q1 * e1 * e1;
        }
        for (; k < cnt; k++) {
            double q = t[k], e = ai - aj[k];
            s0 += q;
            m0 += q * aj[k];
            g0 += q * e * e;
        }
    }
    *ws += s0 + s1;
    *ms += m0 + m1;
    *gs += g0 + g1;
}

static void spatial_block(void *ctx, size_t begin, size_t end, int thread)
{
    SpatialWork *w = ctx;
    for (size_t b = begin; b < end; b++) {
        double wsum = 0, msum = 0, gsum = 0;
        for (size_t r1 = b; r1 < w->n_runs; r1 += SPATIAL_BLOCKS) {
            const Run *ra = &w->runs[r1];
            for (uint32_t i = 0; i < ra->len; i++) {
                double ai = w->a[ra->first + i];
                uint32_t xi = ra->x0 + i;
                double ws = 0, ms = 0, gs = 0;
                /* The rest of its own run (dy = dz = 0). */
                against_run(w, ai, xi, w->inv, ra, i + 1, &ws, &ms, &gs);
                for (size_t r2 = r1 + 1; r2 < w->n_runs; r2++) {
                    const Run *rb = &w->runs[r2];
                    size_t dy = rb->y > ra->y ? rb->y - ra->y : ra->y - rb->y;
                    size_t dz = rb->z - ra->z;
                    const double *row = w->inv + (dz * w->ny + dy) * w->nx;
                    against_run(w, ai, xi, row, rb, 0, &ws, &ms, &gs);
                }
                wsum += ws;
                msum += ai * ms;
                gsum += gs;
            }
        }
        w->sums[b][0] = wsum;
        w->sums[b][1] = msum;
        w->sums[b][2] = gsum;
    }
}

static bool spatial_autocorrelation(NovaError **error, const NovaRoi *roi,
                                    NovaPool *pool, double *moran,
                                    double *geary)
{
    size_t n = roi->n_roi;
    *moran = *geary = NAN;
    if (n < 2)
        return true;
    double *a = nova_malloc_array(error, n, sizeof *a);
    double *inv = nova_malloc_array(error, roi->n, sizeof *inv);
    Run *runs = nova_malloc_array(error, n, sizeof *runs);
    SpatialWork *work = nova_calloc(error, 1, sizeof *work);
    if (!a || !inv || !runs || !work) {
        nova_free(a);
        nova_free(inv);
        nova_free(runs);
        nova_free(work);
        return false;
    }
    const double *v = roi->values;
    double mean = 0;
    for (size_t i = 0; i < n; i++)
        mean += v[i];
    mean /= (double)n;
    double denom = 0;
    for (size_t i = 0; i < n; i++) {
        a[i] = v[i] - mean;
        denom += a[i] * a[i];
    }
    for (size_t z = 0; z < roi->nz; z++)
        for (size_t y = 0; y < roi->ny; y++)
            for (size_t x = 0; x < roi->nx; x++) {
                double d = sqrt(pow((double)x * roi->spacing[0], 2) +
                                pow((double)y * roi->spacing[1], 2) +
                                pow((double)z * roi->spacing[2], 2));
                inv[(z * roi->ny + y) * roi->nx + x] = d > 0 ? 1 / d : 0;
            }
    /* Runs in raster order; a[] is in raster order too. */
    size_t n_runs = 0, k = 0;
    for (size_t z = 0; z < roi->nz; z++)
        for (size_t y = 0; y < roi->ny; y++) {
            const uint8_t *row = roi->roi + (z * roi->ny + y) * roi->nx;
            for (size_t x = 0; x < roi->nx;) {
                if (!row[x]) {
                    x++;
                    continue;
                }
                Run *r = &runs[n_runs++];
                r->x0 = (uint32_t)x;
                r->y = (uint32_t)y;
                r->z = (uint32_t)z;
                r->first = k;
                while (x < roi->nx && row[x]) {
                    x++;
                    k++;
                }
                r->len = (uint32_t)(k - r->first);
            }
        }
    work->a = a;
    work->inv = inv;
    work->runs = runs;
    work->n_runs = n_runs;
    work->nx = roi->nx;
    work->ny = roi->ny;
    nova_pool_parallel_for(pool, SPATIAL_BLOCKS, spatial_block, work);
    double wsum = 0, msum = 0, gsum = 0;
    for (size_t b = 0; b < SPATIAL_BLOCKS; b++) {
        wsum += work->sums[b][0];
        msum += work->sums[b][1];
        gsum += work->sums[b][2];
    }
    nova_free(a);
    nova_free(inv);
    nova_free(runs);
    nova_free(work);
    if (denom > 0 && wsum > 0) {
        *moran = (double)n / wsum * msum / denom;
        *geary = (double)(n - 1) / (2 * wsum) * gsum / denom;
    }
    return true;
}

#define ADD(id, v)                                                             \
    do {                                                                       \
        if (!nova__features_add(error, features, NOVA__F_##id,                 \
                                NOVA__AGG_3D_VOLUME, (v)))                     \
            goto fail;                                                         \
    } while (0)

bool nova__morphology_features(NovaError **error, const NovaRoi *roi,
                               const NovaRadiomicsConfig *config,
                               NovaPool *pool, NovaRadiomicsFeatures *features)
{
    Mesh mesh;
    if (!build_mesh(error, roi, &mesh))
        return false;
    bool ok = false;
    double volume = 0, area = 0;
    for (size_t t = 0; t < mesh.n_tri; t++) {
        const double *a = mesh.tri + 9 * t, *b = a + 3, *c = a + 6;
        double ab[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
        double ac[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
        double cr[3] = {ab[1] * ac[2] - ab[2] * ac[1],
                        ab[2] * ac[0] - ab[0] * ac[2],
                        ab[0] * ac[1] - ab[1] * ac[0]};
        area += 0.5 * sqrt(cr[0] * cr[0] + cr[1] * cr[1] + cr[2] * cr[2]);
        /* Signed tetrahedron volume with the origin (IBSI 1 RNU0). */
        volume += (a[0] * (b[1] * c[2] - b[2] * c[1]) -
                   a[1] * (b[0] * c[2] - b[2] * c[0]) +
                   a[2] * (b[0] * c[1] - b[1] * c[0])) /
                  6.0;
    }
    volume = fabs(volume);
    double voxel_volume = roi->spacing[0] * roi->spacing[1] * roi->spacing[2];
    double approx_volume = (double)roi->n_morph * voxel_volume;

    /* Voxel point sets: morphological mask (geometry, PCA) and intensity
     * mask (intensity-weighted centre). */
    double sum[3] = {0, 0, 0}, wsum[3] = {0, 0, 0}, wtot = 0;
    double cov[3][3] = {{0}};
    for (int pass = 0; pass < 2; pass++) {
        double mean[3] = {sum[0] / (double)roi->n_morph,
                          sum[1] / (double)roi->n_morph,
                          sum[2] / (double)roi->n_morph};
        for (size_t z = 0; z < roi->nz; z++)
            for (size_t y = 0; y < roi->ny; y++)
                for (size_t x = 0; x < roi->nx; x++) {
                    size_t i = (z * roi->ny + y) * roi->nx + x;
                    double p[3] = {x * roi->spacing[0], y * roi->spacing[1],
                                   z * roi->spacing[2]};
                    if (pass == 0) {
                        if (roi->morph[i])
                            for (int a = 0; a < 3; a++)
                                sum[a] += p[a];
                        if (roi->roi[i]) {
                            for (int a = 0; a < 3; a++)
                                wsum[a] += roi->image[i] * p[a];
                            wtot += roi->image[i];
                        }
                    } else if (roi->morph[i]) {
                        for (int a = 0; a < 3; a++)
                            for (int b = 0; b < 3; b++)
                                cov[a][b] +=
                                    (p[a] - mean[a]) * (p[b] - mean[b]);
                    }
                }
    }
    double com_shift = 0;
    for (int a = 0; a < 3; a++) {
        double d = sum[a] / (double)roi->n_morph - wsum[a] / wtot;
        com_shift += d * d;
    }
    com_shift = sqrt(com_shift);
    /* Sample covariance (n - 1) of the voxel centres, as the IBSI
     * reference implementations compute it (numpy.cov). */
    double dof = roi->n_morph > 1 ? (double)(roi->n_morph - 1) : 1.0;
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            cov[a][b] /= dof;
    double eig[3];
    eigen_symmetric3(cov, eig);
    for (int a = 0; a < 3; a++)
        eig[a] = eig[a] > 0 ? eig[a] : 0;
    double major = 4 * sqrt(eig[0]), minor = 4 * sqrt(eig[1]),
           least = 4 * sqrt(eig[2]);

    /* Axis-aligned bounding box of the mesh vertices. */
    double lo[3] = {INFINITY, INFINITY, INFINITY},
           hi[3] = {-INFINITY, -INFINITY, -INFINITY};
    for (size_t k = 0; k < mesh.n_vert; k++)
        for (int a = 0; a < 3; a++) {
            double v = mesh.vert[3 * k + (size_t)a];
            lo[a] = v < lo[a] ? v : lo[a];
            hi[a] = v > hi[a] ? v : hi[a];
        }
    double ex = hi[0] - lo[0], ey = hi[1] - lo[1], ez = hi[2] - lo[2];
    double aabb_volume = ex * ey * ez;
    double aabb_area = 2 * (ex * ey + ex * ez + ey * ez);

    double hull_volume, hull_area, diameter;
    if (!convex_hull(error, &mesh, &hull_volume, &hull_area, &diameter))
        goto done;

    double mean_intensity = 0;
    for (size_t k = 0; k < roi->n_roi; k++)
        mean_intensity += roi->values[k];
    mean_intensity /= (double)roi->n_roi;

    double moran = NAN, geary = NAN;
    if (config->spatial_max_voxels == 0 ||
        roi->n_roi <= config->spatial_max_voxels)
        if (!spatial_autocorrelation(error, roi, pool, &moran, &geary))
            goto done;

    double sa = 2 * sqrt(eig[0]), sb = 2 * sqrt(eig[1]), sc = 2 * sqrt(eig[2]);
    double aee_volume = 4 * M_PI * sa * sb * sc / 3;
    double aee_area = ellipsoid_area(sa, sb, sc);

    ADD(morph_volume, volume);
    ADD(morph_approx_volume, approx_volume);
    ADD(morph_area, area);
    ADD(morph_surface_volume_ratio, area / volume);
    ADD(morph_comp_1, volume / (sqrt(M_PI) * pow(area, 1.5)));
    ADD(morph_comp_2, 36 * M_PI * volume * volume / pow(area, 3));
    ADD(morph_sph_dispr, area / pow(36 * M_PI * volume * volume, 1.0 / 3));
    ADD(morph_sphericity, pow(36 * M_PI * volume * volume, 1.0 / 3) / area);
    ADD(morph_asphericity,
        pow(pow(area, 3) / (36 * M_PI * volume * volume), 1.0 / 3) - 1);
    ADD(morph_centre_of_mass_shift, com_shift);
    ADD(morph_max_3d_diam, diameter);
    ADD(morph_pca_major, major);
    ADD(morph_pca_minor, minor);
    ADD(morph_pca_least, least);
    ADD(morph_pca_elongation, eig[0] > 0 ? sqrt(eig[1] / eig[0]) : NAN);
    ADD(morph_pca_flatness, eig[0] > 0 ? sqrt(eig[2] / eig[0]) : NAN);
    ADD(morph_vol_dens_aabb, volume / aabb_volume);
    ADD(morph_area_dens_aab, area / aabb_area);
    ADD(morph_vol_dens_aee, volume / aee_volume);
    ADD(morph_area_dens_aee, area / aee_area);
    ADD(morph_vol_dens_conv_hull, volume / hull_volume);
    ADD(morph_area_dens_conv_hull, area / hull_area);
    ADD(morph_integrated_intensity, volume * mean_intensity);
    ADD(morph_moran_i, moran);
    ADD(morph_geary_c, geary);
    ok = true;
    goto done;
fail:
    ok = false;
done:
    nova_free(mesh.tri);
    nova_free(mesh.vert);
    return ok;
}
