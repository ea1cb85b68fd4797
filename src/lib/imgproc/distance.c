/*
 * distance.c - exact Euclidean distance transform and the binary morphology
 * and hole filling built on it.
 *
 * The transform is separable (Felzenszwalb and Huttenlocher, Theory of
 * Computing 8, 2012, section 3): the squared distance is first exact along x
 * (0 on target voxels, infinity elsewhere), then each pass along y and z
 * takes the lower envelope of the parabolas f(q) + ((p - q) * spacing)^2
 * rooted at every sample, which is exact for squared Euclidean distance with
 * any spacing.  Each pass is linear in the line length, so the transform is
 * linear in the voxel count; lines are split statically over the pool.
 *
 * Morphology with a ball of radius r is then a comparison: dilation keeps
 * voxels whose squared distance to the foreground is at most r^2, erosion
 * keeps voxels whose squared distance to the background exceeds r^2, so the
 * cost does not depend on r (no loop over the structuring element).  Balls
 * of few rows (the lung closings: 10 mm on a 2.5 mm grid is about 45 rows)
 * go faster as byte compares over row runs (see "small balls" below), with
 * the same result.
 */
#include "nova/imgproc.h"

#include <math.h>
#include <string.h>

/* Squared radii compare with a small relative slack so that voxels exactly
 * on the sphere (sums of squared spacings) count as inside despite float
 * rounding. */
#define RADIUS_SLACK 1e-6

struct line_buf {
    double *f, *d, *z;
    size_t *v;
};

/* 1D lower envelope of parabolas, section 3 of Felzenszwalb and
 * Huttenlocher, with positions q * spacing; infinite samples root no
 * parabola.  d[p] = min_q f[q] + ((p - q) * spacing)^2. */
static void envelope_1d(const struct line_buf *b, size_t n, double spacing)
{
    const double *f = b->f;
    double *d = b->d, *z = b->z;
    size_t *v = b->v;
    size_t k = 0;
    bool any = false;
    for (size_t q = 0; q < n; q++) {
        if (isinf(f[q]))
            continue;
        double xq = (double)q * spacing;
        if (!any) {
            any = true;
            k = 0;
            v[0] = q;
            z[0] = -INFINITY;
            continue;
        }
        for (;;) {
            size_t p = v[k];
            double xp = (double)p * spacing;
            double s =
                ((f[q] + xq * xq) - (f[p] + xp * xp)) / (2.0 * (xq - xp));
            if (s <= z[k]) {
                if (k == 0) {
                    v[0] = q;
                    z[0] = -INFINITY;
                    goto next;
                }
                k--;
                continue;
            }
            k++;
            v[k] = q;
            z[k] = s;
            break;
        }
    next:;
    }
    if (!any) {
        for (size_t q = 0; q < n; q++)
            d[q] = INFINITY;
        return;
    }
    z[k + 1] = INFINITY;
    size_t j = 0;
    for (size_t q = 0; q < n; q++) {
        double xq = (double)q * spacing;
        while (z[j + 1] < xq)
            j++;
        double dx = xq - (double)v[j] * spacing;
        d[q] = dx * dx + f[v[j]];
    }
}

struct edt_ctx {
    const uint8_t *mask;
    float *out;
    size_t nx, ny, nz;
    double sp[3];
    bool target;
    struct line_buf *bufs; /* one per thread */
    float **tmp;           /* per thread nx * nz, for the z pass */
};

/* Pass along x, one row per index: distance to the nearest target in the
 * row, by a forward and a backward sweep (the input is binary, so the
 * lower envelope is not needed here). */
static void pass_x(void *vctx, size_t begin, size_t end, int thread)
{
    struct edt_ctx *c = vctx;
    size_t nx = c->nx;
    double sx2 = c->sp[0] * c->sp[0];
    for (size_t r = begin; r < end; r++) {
        const uint8_t *m = c->mask + r * nx;
        float *o = c->out + r * nx;
        /* o[x] first holds the index distance to the nearest target at or
         * before x (forward), then the minimum with the one after. */
        size_t last = SIZE_MAX;
        for (size_t x = 0; x < nx; x++) {
            if ((m[x] != 0) == c->target)
                last = x;
            o[x] = last == SIZE_MAX ? INFINITY : (float)(x - last);
        }
        size_t next = SIZE_MAX;
        for (size_t x = nx; x-- > 0;) {
            if ((m[x] != 0) == c->target)
                next = x;
            if (next != SIZE_MAX && (float)(next - x) < o[x])
                o[x] = (float)(next - x);
            if (!isinf(o[x]))
                o[x] = (float)((double)o[x] * (double)o[x] * sx2);
        }
    }
}

/* Pass along y, one z-slice per index. */
static void pass_y(void *vctx, size_t begin, size_t end, int thread)
{
    struct edt_ctx *c = vctx;
    const struct line_buf *b = &c->bufs[thread];
    size_t nx = c->nx, ny = c->ny;
    for (size_t zz = begin; zz < end; zz++) {
        float *slice = c->out + zz * nx * ny;
        for (size_t x = 0; x < nx; x++) {
            for (size_t y = 0; y < ny; y++)
                b->f[y] = slice[y * nx + x];
            envelope_1d(b, ny, c->sp[1]);
            for (size_t y = 0; y < ny; y++)
                slice[y * nx + x] = (float)b->d[y];
        }
    }
}

/* Pass along z, one y-row per index: the rows (z, y, :) are gathered into a
 * contiguous nz x nx block first so the strided reads stay in cache. */
static void pass_z(void *vctx, size_t begin, size_t end, int thread)
{
    struct edt_ctx *c = vctx;
    const struct line_buf *b = &c->bufs[thread];
    float *tmp = c->tmp[thread];
    size_t nx = c->nx, ny = c->ny, nz = c->nz;
    for (size_t y = begin; y < end; y++) {
        for (size_t zz = 0; zz < nz; zz++)
            memcpy(tmp + zz * nx, c->out + (zz * ny + y) * nx,
                   nx * sizeof *tmp);
        for (size_t x = 0; x < nx; x++) {
            for (size_t zz = 0; zz < nz; zz++)
                b->f[zz] = tmp[zz * nx + x];
            envelope_1d(b, nz, c->sp[2]);
            for (size_t zz = 0; zz < nz; zz++)
                tmp[zz * nx + x] = (float)b->d[zz];
        }
        for (size_t zz = 0; zz < nz; zz++)
            memcpy(c->out + (zz * ny + y) * nx, tmp + zz * nx,
                   nx * sizeof *tmp);
    }
}

bool nova_imgproc_edt_sq(NovaError **error, NovaPool *pool, const uint8_t *mask,
                         const size_t dims[3], const double spacing_mm[3],
                         bool target_nonzero, bool per_slice,
                         float *dist_sq_mm2)
{
    size_t nx = dims[0], ny = dims[1], nz = dims[2];
    if (nx == 0 || ny == 0 || nz == 0)
        return true;
    int T = pool ? nova_pool_get_threads(pool) : 1;
    size_t max_len = nx > ny ? nx : ny;
    if (nz > max_len)
        max_len = nz;
    struct edt_ctx c = {mask,
                        dist_sq_mm2,
                        nx,
                        ny,
                        nz,
                        {spacing_mm[0], spacing_mm[1], spacing_mm[2]},
                        target_nonzero,
                        NULL,
                        NULL};
    bool ok = false;
    c.bufs = nova_calloc(error, (size_t)T, sizeof *c.bufs);
    c.tmp = nova_calloc(error, (size_t)T, sizeof *c.tmp);
    if (!c.bufs || !c.tmp)
        goto done;
    for (int t = 0; t < T; t++) {
        struct line_buf *b = &c.bufs[t];
        b->f = nova_malloc_array(error, max_len, sizeof *b->f);
        b->d = nova_malloc_array(error, max_len, sizeof *b->d);
        b->z = nova_malloc_array(error, max_len + 1, sizeof *b->z);
        b->v = nova_malloc_array(error, max_len, sizeof *b->v);
        if (!b->f || !b->d || !b->z || !b->v)
            goto done;
        if (!per_slice && nz > 1) {
            c.tmp[t] = nova_malloc_array(error, nx * nz, sizeof *c.tmp[t]);
            if (!c.tmp[t])
                goto done;
        }
    }
    nova_pool_parallel_for(pool, ny * nz, pass_x, &c);
    if (ny > 1)
        nova_pool_parallel_for(pool, nz, pass_y, &c);
    if (!per_slice && nz > 1)
        nova_pool_parallel_for(pool, ny, pass_z, &c);
    ok = true;
done:
    if (c.bufs)
        for (int t = 0; t < T; t++) {
            nova_free(c.bufs[t].f);
            nova_free(c.bufs[t].d);
            nova_free(c.bufs[t].z);
            nova_free(c.bufs[t].v);
        }
    if (c.tmp)
        for (int t = 0; t < T; t++)
            nova_free(c.tmp[t]);
    nova_free(c.bufs);
    nova_free(c.tmp);
    return ok;
}

/* ------------------------------------------------------------ morphology */

/* Whether n bytes are all zero: an OR over 8-byte words, which the
 * compiler vectorises.  A byte-by-byte scan of the empty rows was a third
 * of nova_imgproc_morph's time on the coarse lung grid, and as much of the
 * lung stage's own box searches (perf, 512 phantom). */
static bool all_zero(const uint8_t *p, size_t n)
{
    uint64_t acc = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        acc |= w;
    }
    for (; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

bool nova_imgproc_mask_box(const uint8_t *m, const size_t dims[3], size_t lo[3],
                           size_t hi[3])
{
    lo[0] = lo[1] = lo[2] = SIZE_MAX;
    hi[0] = hi[1] = hi[2] = 0;
    size_t nx = dims[0], ny = dims[1];
    for (size_t z = 0; z < dims[2]; z++) {
        if (all_zero(m + z * ny * nx, ny * nx))
            continue;
        for (size_t y = 0; y < ny; y++) {
            const uint8_t *row = m + (z * ny + y) * nx;
            if (all_zero(row, nx))
                continue;
            size_t x0 = 0;
            while (!row[x0])
                x0++;
            size_t x1 = nx;
            while (!row[x1 - 1])
                x1--;
            if (x0 < lo[0])
                lo[0] = x0;
            if (x1 > hi[0])
                hi[0] = x1;
            if (y < lo[1])
                lo[1] = y;
            if (y + 1 > hi[1])
                hi[1] = y + 1;
            if (z < lo[2])
                lo[2] = z;
            if (z + 1 > hi[2])
                hi[2] = z + 1;
        }
    }
    return hi[0] > 0;
}

/* ------------------------------------------- small balls: row runs
 *
 * A ball of a few voxels' radius is a short list of rows: for each offset
 * (dy, dz) inside it, the half-width w of its row (the largest dx with
 * (dx sx)^2 + (dy sy)^2 + (dz sz)^2 within the squared radius, the same
 * double sum as the definition).  With, for every row of the work box, the
 * distance in voxels to the nearest target voxel of that row (foreground
 * for a dilation, background for an erosion, where everything beyond the
 * box is background), a voxel is in the dilation when some offset row has
 * that distance <= w, and in the erosion when every offset row has it > w.
 * That is byte compares over contiguous rows instead of three distance
 * passes in floating point; used when the ball has at most ROWS_MAX rows
 * whose half-widths fit a byte. */
#define ROWS_MAX 256
#define ROWS_CAP 255

struct rows_ctx {
    const uint8_t *box;
    uint8_t *near; /* per box voxel: distance along x to the nearest target */
    uint8_t *out;
    size_t bd[3];
    bool dilate;
    const long (*off)[3]; /* dy, dz, w */
    size_t n_off;
};

/* One row of rows_near; always_inline with a constant dilate so that each
 * operation gets its own loop without the tests per voxel. */
static inline __attribute__((always_inline)) void
near_row(const uint8_t *b, uint8_t *o, size_t nx, bool dilate)
{
    /* Forward then backward sweep; an erosion's target (background) also
     * lies just beyond both ends of the row. */
    unsigned d = dilate ? ROWS_CAP : 0;
    for (size_t x = 0; x < nx; x++) {
        bool target = dilate ? b[x] != 0 : b[x] == 0;
        d = target ? 0 : d < ROWS_CAP ? d + 1 : ROWS_CAP;
        o[x] = (uint8_t)d;
    }
    d = dilate ? ROWS_CAP : 0;
    for (size_t x = nx; x-- > 0;) {
        bool target = dilate ? b[x] != 0 : b[x] == 0;
        d = target ? 0 : d < ROWS_CAP ? d + 1 : ROWS_CAP;
        if (d < o[x])
            o[x] = (uint8_t)d;
    }
}

static void rows_near(void *vctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    const struct rows_ctx *c = vctx;
    size_t nx = c->bd[0];
    for (size_t r = begin * c->bd[1]; r < end * c->bd[1]; r++) {
        if (c->dilate)
            near_row(c->box + r * nx, c->near + r * nx, nx, true);
        else
            near_row(c->box + r * nx, c->near + r * nx, nx, false);
    }
}

/* For each offset row (dy, dz) the rows it reads for a whole output slice
 * are contiguous, so each offset is one loop over the slice's valid rows
 * rather than one per row: the box rows are short (50-80 bytes on the
 * coarse lung grid), and the per-row loops spent more on their ends than
 * on the bytes. */
static void rows_apply(void *vctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    const struct rows_ctx *c = vctx;
    size_t nx = c->bd[0], ny = c->bd[1], nz = c->bd[2];
    for (size_t z = begin; z < end; z++) {
        uint8_t *o = c->out + z * ny * nx;
        memset(o, c->dilate ? 0 : 1, ny * nx);
        for (size_t k = 0; k < c->n_off; k++) {
            long dy = c->off[k][0], zz = (long)z + c->off[k][1];
            if (zz < 0 || zz >= (long)nz) {
                /* Beyond the box: no foreground, all background. */
                if (!c->dilate)
                    memset(o, 0, ny * nx);
                continue;
            }
            /* Output rows y in [y0, y1) read row y + dy of slice zz; the
             * others read beyond the box. */
            long y0 = dy < 0 ? -dy : 0;
            long y1 = dy > 0 ? (long)ny - dy : (long)ny;
            if (y0 > (long)ny)
                y0 = (long)ny;
            if (y1 < y0)
                y1 = y0;
            if (!c->dilate) {
                memset(o, 0, (size_t)y0 * nx);
                memset(o + (size_t)y1 * nx, 0, (ny - (size_t)y1) * nx);
            }
            if (y1 == y0)
                continue;
            const uint8_t *nr =
                c->near + ((size_t)zz * ny + (size_t)(y0 + dy)) * nx;
            uint8_t *op = o + (size_t)y0 * nx;
            size_t len = (size_t)(y1 - y0) * nx;
            uint8_t w = (uint8_t)c->off[k][2];
            if (c->dilate)
                for (size_t i = 0; i < len; i++)
                    op[i] |= nr[i] <= w;
            else
                for (size_t i = 0; i < len; i++)
                    op[i] &= nr[i] > w;
        }
    }
}

/* The ball's rows for radius_mm, or 0 when it has more than ROWS_MAX rows
 * or a half-width beyond the byte range (then the distance transform is
 * used). */
static size_t ball_rows(const double sp[3], double radius_mm, bool per_slice,
                        long (*off)[3])
{
    double r2 = radius_mm * radius_mm * (1.0 + RADIUS_SLACK) + 1e-12;
    long ry = (long)ceil(radius_mm / sp[1]);
    long rz = per_slice ? 0 : (long)ceil(radius_mm / sp[2]);
    size_t n = 0;
    for (long dz = -rz; dz <= rz; dz++)
        for (long dy = -ry; dy <= ry; dy++) {
            /* The squared length summed in the definition's order. */
#define BALL_E2(dx)                                                            \
    (((dx)*sp[0]) * ((dx)*sp[0]) + (dy * sp[1]) * (dy * sp[1]) +               \
     (dz * sp[2]) * (dz * sp[2]))
            if (BALL_E2(0L) > r2)
                continue;
            long w = 0;
            while (BALL_E2(w + 1) <= r2)
                if (++w >= ROWS_CAP)
                    return 0;
#undef BALL_E2
            if (n == ROWS_MAX)
                return 0;
            off[n][0] = dy;
            off[n][1] = dz;
            off[n][2] = w;
            n++;
        }
    return n;
}

/* One dilation (grow) or erosion of src into dst (both full grids). */
static bool morph_once(NovaError **error, NovaPool *pool, bool dilate,
                       const uint8_t *src, const size_t dims[3],
                       const double sp[3], double radius_mm, bool per_slice,
                       uint8_t *dst)
{
    size_t n = dims[0] * dims[1] * dims[2];
    size_t lo[3], hi[3];
    if (!nova_imgproc_mask_box(src, dims, lo, hi)) {
        memset(dst, 0, n);
        return true;
    }
    /* Work box: for dilation the foreground box grown by the radius, for
     * erosion grown by one voxel (the nearest background of a voxel in the
     * box is never farther than that layer), which may lie beyond the grid:
     * voxels outside the grid are background. */
    long plo[3], phi[3];
    for (int a = 0; a < 3; a++) {
        long grow = 1;
        if (dilate)
            grow = (long)ceil(radius_mm / sp[a]) + 1;
        if (per_slice && a == 2)
            grow = 0;
        plo[a] = (long)lo[a] - grow;
        phi[a] = (long)hi[a] + grow;
        long min = dilate ? 0 : -1, max = (long)dims[a] + (dilate ? 0 : 1);
        if (per_slice && a == 2) {
            min = 0;
            max = (long)dims[a];
        }
        if (plo[a] < min)
            plo[a] = min;
        if (phi[a] > max)
            phi[a] = max;
    }
    size_t bd[3] = {(size_t)(phi[0] - plo[0]), (size_t)(phi[1] - plo[1]),
                    (size_t)(phi[2] - plo[2])};
    size_t bn = bd[0] * bd[1] * bd[2];
    uint8_t *box = nova_calloc(error, bn, 1);
    float *dist = nova_malloc_array(error, bn, sizeof *dist);
    if (!box || !dist) {
        nova_free(box);
        nova_free(dist);
        return false;
    }
    /* The part of each box row inside the grid: x from gx0 to gx1. */
    long gx0 = plo[0] < 0 ? 0 : plo[0];
    long gx1 = phi[0] > (long)dims[0] ? (long)dims[0] : phi[0];
    size_t row_off = (size_t)(gx0 - plo[0]), row_len = (size_t)(gx1 - gx0);
    for (size_t z = 0; z < bd[2]; z++)
        for (size_t y = 0; y < bd[1]; y++) {
            long gz = (long)z + plo[2], gy = (long)y + plo[1];
            if (gz < 0 || gy < 0 || gz >= (long)dims[2] || gy >= (long)dims[1])
                continue;
            memcpy(box + (z * bd[1] + y) * bd[0] + row_off,
                   src + ((size_t)gz * dims[1] + (size_t)gy) * dims[0] +
                       (size_t)gx0,
                   row_len);
        }
    long off[ROWS_MAX][3];
    size_t n_off = ball_rows(sp, radius_mm, per_slice, off);
    bool ok = true;
    if (n_off) {
        /* dist's bytes hold the row distances (bn floats >= bn bytes). */
        struct rows_ctx rc = {
            box,  (uint8_t *)dist, box, {bd[0], bd[1], bd[2]}, dilate, off,
            n_off};
        nova_pool_parallel_for(pool, bd[2], rows_near, &rc);
        nova_pool_parallel_for(pool, bd[2], rows_apply, &rc);
    } else {
        ok = nova_imgproc_edt_sq(error, pool, box, bd, sp, dilate, per_slice,
                                 dist);
        if (ok) {
            double r2 = radius_mm * radius_mm * (1.0 + RADIUS_SLACK) + 1e-12;
            for (size_t i = 0; i < bn; i++)
                box[i] =
                    dilate ? (uint8_t)(dist[i] <= r2) : (uint8_t)(dist[i] > r2);
        }
    }
    if (ok) {
        memset(dst, 0, n);
        for (size_t z = 0; z < bd[2]; z++)
            for (size_t y = 0; y < bd[1]; y++) {
                long gz = (long)z + plo[2], gy = (long)y + plo[1];
                if (gz < 0 || gy < 0 || gz >= (long)dims[2] ||
                    gy >= (long)dims[1])
                    continue;
                memcpy(dst + ((size_t)gz * dims[1] + (size_t)gy) * dims[0] +
                           (size_t)gx0,
                       box + (z * bd[1] + y) * bd[0] + row_off, row_len);
            }
    }
    nova_free(box);
    nova_free(dist);
    return ok;
}

bool nova_imgproc_morph(NovaError **error, NovaPool *pool, NovaMorphOp op,
                        const uint8_t *src, const size_t dims[3],
                        const double spacing_mm[3], double radius_mm,
                        bool per_slice, uint8_t *dst)
{
    if (!(radius_mm >= 0))
        return nova_error_set(error, NOVA_ERROR_INVALID, "invalid argument",
                              "morphology radius %g mm: must be >= 0",
                              radius_mm);
    switch (op) {
    case NOVA_MORPH_DILATE:
        return morph_once(error, pool, true, src, dims, spacing_mm, radius_mm,
                          per_slice, dst);
    case NOVA_MORPH_ERODE:
        return morph_once(error, pool, false, src, dims, spacing_mm, radius_mm,
                          per_slice, dst);
    case NOVA_MORPH_OPEN:
        return morph_once(error, pool, false, src, dims, spacing_mm, radius_mm,
                          per_slice, dst) &&
               morph_once(error, pool, true, dst, dims, spacing_mm, radius_mm,
                          per_slice, dst);
    case NOVA_MORPH_CLOSE:
        return morph_once(error, pool, true, src, dims, spacing_mm, radius_mm,
                          per_slice, dst) &&
               morph_once(error, pool, false, dst, dims, spacing_mm, radius_mm,
                          per_slice, dst);
    }
    return nova_error_set(error, NOVA_ERROR_INVALID, "invalid argument",
                          "morphology operation %d", (int)op);
}

/* ---------------------------------------------------------- hole filling */

struct fill2d_ctx {
    const uint8_t *src;
    uint8_t *dst;
    size_t nx, ny;
    uint32_t **stacks; /* per thread, nx * ny */
};

/* Flood the 4-connected background of each slice from its edges; what the
 * flood does not reach is a hole.  The flood runs on the box of the
 * slice's foreground grown by one pixel (clipped to the slice): each pixel
 * on that box's border is foreground, on the slice's edge, or in the ring
 * around the foreground whence a straight path leads out to the edge, so
 * its background pixels are exactly the reached ones there, and a path
 * from inside the box to the edge crosses one of them.  Everything beyond
 * the box is reached background.  The border is marked before the flood,
 * which then never pushes a border pixel and needs no bounds checks. */
static void fill_slices(void *vctx, size_t begin, size_t end, int thread)
{
    struct fill2d_ctx *c = vctx;
    size_t nx = c->nx, ny = c->ny, plane = nx * ny;
    uint32_t *stack = c->stacks[thread];
    for (size_t zz = begin; zz < end; zz++) {
        const uint8_t *s = c->src + zz * plane;
        uint8_t *d = c->dst + zz * plane;
        size_t x0 = nx, x1 = 0, y0 = ny, y1 = 0;
        for (size_t y = 0; y < ny; y++) {
            const uint8_t *row = s + y * nx;
            size_t a = 0, b = nx;
            while (a < nx && !row[a])
                a++;
            if (a == nx)
                continue;
            while (!row[b - 1])
                b--;
            x0 = a < x0 ? a : x0;
            x1 = b > x1 ? b : x1;
            y0 = y < y0 ? y : y0;
            y1 = y + 1;
        }
        if (x0 == nx) {
            memset(d, 0, plane);
            continue;
        }
        /* The grown box [x0, x1) x [y0, y1). */
        x0 = x0 > 0 ? x0 - 1 : 0;
        y0 = y0 > 0 ? y0 - 1 : 0;
        x1 = x1 < nx ? x1 + 1 : nx;
        y1 = y1 < ny ? y1 + 1 : ny;
        /* d: 2 = reached background, later 0; else 1.  Rows are written in
         * order, so dst may equal src. */
        memset(d, 0, y0 * nx);
        for (size_t y = y0; y < y1; y++) {
            const uint8_t *sr = s + y * nx;
            uint8_t *dr = d + y * nx;
            memset(dr, 0, x0);
            bool border_row = y == y0 || y == y1 - 1;
            for (size_t x = x0; x < x1; x++)
                dr[x] = sr[x]                                  ? 1
                        : border_row || x == x0 || x == x1 - 1 ? 2
                                                               : 0;
            memset(dr + x1, 0, nx - x1);
        }
        memset(d + y1 * nx, 0, (ny - y1) * nx);
        size_t top = 0;
        /* Seeds: background next to the reached border. */
        for (size_t y = y0 + 1; y + 1 < y1; y++)
            for (size_t x = x0 + 1; x + 1 < x1; x++) {
                if (x != x0 + 1 && x != x1 - 2 && y != y0 + 1 && y != y1 - 2)
                    x = x1 - 2;
                size_t i = y * nx + x;
                if (d[i] == 0 && (d[i - 1] == 2 || d[i + 1] == 2 ||
                                  d[i - nx] == 2 || d[i + nx] == 2)) {
                    d[i] = 2;
                    stack[top++] = (uint32_t)i;
                }
            }
        while (top) {
            size_t i = stack[--top];
            size_t nb[4] = {i - 1, i + 1, i - nx, i + nx};
            for (int j = 0; j < 4; j++)
                if (d[nb[j]] == 0) {
                    d[nb[j]] = 2;
                    stack[top++] = (uint32_t)nb[j];
                }
        }
        for (size_t y = y0; y < y1; y++) {
            uint8_t *dr = d + y * nx;
            for (size_t x = x0; x < x1; x++)
                dr[x] = dr[x] != 2;
        }
    }
}

bool nova_imgproc_fill_holes(NovaError **error, NovaPool *pool,
                             const uint8_t *src, const size_t dims[3],
                             bool per_slice, uint8_t *dst)
{
    size_t nx = dims[0], ny = dims[1], nz = dims[2];
    size_t n = nx * ny * nz;
    if (n == 0)
        return true;
    if (per_slice) {
        int T = pool ? nova_pool_get_threads(pool) : 1;
        struct fill2d_ctx c = {src, dst, nx, ny, NULL};
        c.stacks = nova_calloc(error, (size_t)T, sizeof *c.stacks);
        bool ok = c.stacks != NULL;
        for (int t = 0; ok && t < T; t++) {
            c.stacks[t] = nova_malloc_array(error, nx * ny, sizeof(uint32_t));
            ok = c.stacks[t] != NULL;
        }
        if (ok)
            nova_pool_parallel_for(pool, nz, fill_slices, &c);
        for (int t = 0; c.stacks && t < T; t++)
            nova_free(c.stacks[t]);
        nova_free(c.stacks);
        return ok;
    }
    /* 3D: label the 6-connected background; components touching a face are
     * the outside. */
    uint8_t *bg = nova_malloc(error, n);
    uint32_t *labels = nova_malloc_array(error, n, sizeof *labels);
    uint8_t *outside = NULL;
    bool ok = false;
    uint32_t n_labels = 0;
    if (!bg || !labels)
        goto done;
    for (size_t i = 0; i < n; i++)
        bg[i] = !src[i];
    if (!nova_imgproc_label(error, pool, bg, dims, 6, labels, &n_labels))
        goto done;
    outside = nova_calloc(error, (size_t)n_labels + 1, 1);
    if (!outside)
        goto done;
    for (size_t z = 0; z < nz; z++)
        for (size_t y = 0; y < ny; y++) {
            bool face_row = z == 0 || z == nz - 1 || y == 0 || y == ny - 1;
            const uint32_t *row = labels + (z * ny + y) * nx;
            if (face_row) {
                for (size_t x = 0; x < nx; x++)
                    outside[row[x]] = 1;
            } else {
                outside[row[0]] = 1;
                outside[row[nx - 1]] = 1;
            }
        }
    for (size_t i = 0; i < n; i++)
        dst[i] = labels[i] ? !outside[labels[i]] : 1;
    ok = true;
done:
    nova_free(bg);
    nova_free(labels);
    nova_free(outside);
    return ok;
}
