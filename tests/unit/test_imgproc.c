/*
 * test_imgproc.c - image operations against independent references: a
 * brute-force flood fill for connected components, an O(n^2) nearest-voxel
 * search for the distance transform, a direct check of every voxel of the
 * ball for morphology, a direct 3D convolution for the Gaussian, exact
 * reproduction of linear functions for trilinear resampling, and SciPy's
 * ndimage (distance_transform_edt, label, gaussian_filter) when Debian's
 * python3-scipy is installed.  Every operation also runs with 1 and 3
 * threads and must give identical results.
 */
#include "test.h"

#include "nova/imgproc.h"

#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static uint8_t *random_mask(const size_t d[3], unsigned percent)
{
    size_t n = d[0] * d[1] * d[2];
    uint8_t *m = malloc(n);
    for (size_t i = 0; i < n; i++)
        m[i] = (uint8_t)(rnd() % 100 < percent);
    return m;
}

/* Reference labelling: flood fill from each unlabelled voxel in raster
 * order, which numbers components by their first voxel like Nova does. */
static uint32_t flood_label(const uint8_t *m, const size_t d[3], int conn,
                            uint32_t *lab)
{
    size_t n = d[0] * d[1] * d[2];
    size_t *stack = malloc(n * sizeof *stack);
    memset(lab, 0, n * sizeof *lab);
    uint32_t next = 0;
    for (size_t s = 0; s < n; s++) {
        if (!m[s] || lab[s])
            continue;
        lab[s] = ++next;
        size_t top = 0;
        stack[top++] = s;
        while (top) {
            size_t v = stack[--top];
            long x = (long)(v % d[0]), y = (long)(v / d[0] % d[1]),
                 z = (long)(v / (d[0] * d[1]));
            for (int dz = -1; dz <= 1; dz++)
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++) {
                        int man = abs(dx) + abs(dy) + abs(dz);
                        if (man == 0 || (conn == 6 && man != 1))
                            continue;
                        long xx = x + dx, yy = y + dy, zz = z + dz;
                        if (xx < 0 || yy < 0 || zz < 0 || xx >= (long)d[0] ||
                            yy >= (long)d[1] || zz >= (long)d[2])
                            continue;
                        size_t u = ((size_t)zz * d[1] + (size_t)yy) * d[0] +
                                   (size_t)xx;
                        if (m[u] && !lab[u]) {
                            lab[u] = next;
                            stack[top++] = u;
                        }
                    }
        }
    }
    free(stack);
    return next;
}

static void test_label_vs_flood_fill(void)
{
    NovaError *err = NULL;
    NovaPool *pool3 = nova_pool_create(&err, 3);
    CHECK_OK(err);
    /* Dense masks (80 %) take most voxels through pass 1's interior path
     * with a foreground left neighbour. */
    const size_t shapes[][3] = {{13, 11, 9}, {1, 1, 1},   {40, 3, 2},
                                {7, 9, 17},  {5, 5, 1},   {2, 6, 7},
                                {3, 2, 5},   {31, 29, 23}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (unsigned pct = 20; pct <= 80; pct += 20)
            for (int conn = 6; conn <= 26; conn += 20) {
                const size_t *d = shapes[s];
                size_t n = d[0] * d[1] * d[2];
                uint8_t *m = random_mask(d, pct);
                uint32_t *ref = malloc(n * 4), *a = malloc(n * 4),
                         *b = malloc(n * 4);
                uint32_t n_ref = flood_label(m, d, conn, ref), na = 0, nb = 0;
                CHECK(nova_imgproc_label(&err, NULL, m, d, conn, a, &na));
                CHECK(nova_imgproc_label(&err, pool3, m, d, conn, b, &nb));
                CHECK_OK(err);
                CHECK_EQ_INT(na, n_ref);
                CHECK_EQ_INT(nb, n_ref);
                CHECK(memcmp(a, ref, n * 4) == 0);
                CHECK(memcmp(b, ref, n * 4) == 0);
                free(m);
                free(ref);
                free(a);
                free(b);
            }
    uint8_t one = 1;
    uint32_t lab;
    size_t d1[3] = {1, 1, 1};
    CHECK(!nova_imgproc_label(&err, NULL, &one, d1, 8, &lab, NULL));
    CHECK(err && nova_error_code(err) == NOVA_ERROR_INVALID);
    nova_error_clear(&err);
    nova_pool_destroy(pool3);
}

/* A mask where a long spiral forces many unions across slab borders. */
static void test_label_spiral(void)
{
    size_t d[3] = {20, 20, 30};
    size_t n = d[0] * d[1] * d[2];
    uint8_t *m = calloc(n, 1);
    for (size_t z = 0; z < d[2]; z++) {
        /* Alternate rows joined at alternating ends, and the slices joined
         * only through one corner voxel. */
        for (size_t y = 0; y < d[1]; y += 2)
            for (size_t x = 0; x < d[0]; x++)
                m[(z * d[1] + y) * d[0] + x] = 1;
        for (size_t y = 1; y < d[1]; y += 2)
            m[(z * d[1] + y) * d[0] + ((y / 2) % 2 ? 0 : d[0] - 1)] = 1;
    }
    NovaError *err = NULL;
    NovaPool *pool = nova_pool_create(&err, 4);
    uint32_t *lab = malloc(n * 4), *ref = malloc(n * 4), nl = 0;
    CHECK(nova_imgproc_label(&err, pool, m, d, 6, lab, &nl));
    CHECK_EQ_INT(nl, flood_label(m, d, 6, ref));
    CHECK_EQ_INT(nl, 1);
    CHECK(memcmp(lab, ref, n * 4) == 0);
    size_t sizes[2];
    nova_imgproc_label_sizes(lab, n, nl, sizes);
    size_t fg = 0;
    for (size_t i = 0; i < n; i++)
        fg += m[i];
    CHECK_EQ_INT(sizes[1], fg);
    CHECK_EQ_INT(sizes[0], n - fg);
    free(m);
    free(lab);
    free(ref);
    nova_pool_destroy(pool);
}

/* Brute force squared distance from each voxel to the nearest target. */
static void brute_edt(const uint8_t *m, const size_t d[3], const double sp[3],
                      bool target, bool per_slice, double *out)
{
    size_t n = d[0] * d[1] * d[2];
    for (size_t v = 0; v < n; v++) {
        double best = INFINITY;
        size_t vx = v % d[0], vy = v / d[0] % d[1], vz = v / (d[0] * d[1]);
        for (size_t u = 0; u < n; u++) {
            if ((m[u] != 0) != target)
                continue;
            size_t ux = u % d[0], uy = u / d[0] % d[1], uz = u / (d[0] * d[1]);
            if (per_slice && uz != vz)
                continue;
            double dx = ((double)ux - (double)vx) * sp[0];
            double dy = ((double)uy - (double)vy) * sp[1];
            double dz = ((double)uz - (double)vz) * sp[2];
            double s = dx * dx + dy * dy + dz * dz;
            if (s < best)
                best = s;
        }
        out[v] = best;
    }
}

static void test_edt_vs_brute_force(void)
{
    NovaError *err = NULL;
    NovaPool *pool = nova_pool_create(&err, 3);
    const size_t shapes[][3] = {{12, 10, 8}, {9, 1, 1}, {6, 7, 11}};
    const double sp[3] = {0.7, 1.3, 2.1};
    for (size_t s = 0; s < 3; s++)
        for (unsigned pct = 2; pct <= 50; pct += 48)
            for (int target = 0; target <= 1; target++)
                for (int per_slice = 0; per_slice <= 1; per_slice++) {
                    const size_t *d = shapes[s];
                    size_t n = d[0] * d[1] * d[2];
                    uint8_t *m = random_mask(d, pct);
                    double *ref = malloc(n * sizeof *ref);
                    float *a = malloc(n * 4), *b = malloc(n * 4);
                    brute_edt(m, d, sp, target, per_slice, ref);
                    CHECK(nova_imgproc_edt_sq(&err, NULL, m, d, sp, target,
                                              per_slice, a));
                    CHECK(nova_imgproc_edt_sq(&err, pool, m, d, sp, target,
                                              per_slice, b));
                    CHECK_OK(err);
                    size_t bad = 0;
                    for (size_t i = 0; i < n; i++) {
                        bool ok = isinf(ref[i]) ? isinf(a[i])
                                                : fabs(a[i] - ref[i]) <=
                                                      1e-5 * (1 + ref[i]);
                        bad += !ok;
                    }
                    CHECK_EQ_INT(bad, 0);
                    CHECK(memcmp(a, b, n * 4) == 0);
                    free(m);
                    free(ref);
                    free(a);
                    free(b);
                }
    nova_pool_destroy(pool);
}

/* Brute force morphology: visit every voxel of the ball; voxels outside
 * the grid are background. */
static void brute_morph(const uint8_t *m, const size_t d[3], const double sp[3],
                        double r, bool dilate, uint8_t *out)
{
    double r2 = r * r * (1 + 1e-6) + 1e-12;
    long R[3];
    for (int a = 0; a < 3; a++)
        R[a] = (long)ceil(r / sp[a]);
    for (size_t z = 0; z < d[2]; z++)
        for (size_t y = 0; y < d[1]; y++)
            for (size_t x = 0; x < d[0]; x++) {
                bool hit = !dilate;
                for (long dz = -R[2]; dz <= R[2]; dz++)
                    for (long dy = -R[1]; dy <= R[1]; dy++)
                        for (long dx = -R[0]; dx <= R[0]; dx++) {
                            double e = (dx * sp[0]) * (dx * sp[0]) +
                                       (dy * sp[1]) * (dy * sp[1]) +
                                       (dz * sp[2]) * (dz * sp[2]);
                            long xx = (long)x + dx, yy = (long)y + dy,
                                 zz = (long)z + dz;
                            if (e > r2)
                                continue;
                            /* Outside the grid is background. */
                            if (xx < 0 || yy < 0 || zz < 0 ||
                                xx >= (long)d[0] || yy >= (long)d[1] ||
                                zz >= (long)d[2]) {
                                if (!dilate)
                                    hit = false;
                                continue;
                            }
                            uint8_t v =
                                m[((size_t)zz * d[1] + (size_t)yy) * d[0] +
                                  (size_t)xx];
                            if (dilate && v)
                                hit = true;
                            if (!dilate && !v)
                                hit = false;
                        }
                out[(z * d[1] + y) * d[0] + x] = hit;
            }
}

static void test_morph_vs_brute_force(void)
{
    NovaError *err = NULL;
    NovaPool *pool = nova_pool_create(&err, 2);
    const size_t d[3] = {17, 15, 12};
    const double sp[3] = {0.8, 1.0, 1.6};
    size_t n = d[0] * d[1] * d[2];
    const double radii[] = {0.0, 1.0, 1.6, 2.9, 4.5};
    for (unsigned pct = 10; pct <= 70; pct += 60)
        for (size_t ri = 0; ri < sizeof radii / sizeof radii[0]; ri++) {
            uint8_t *m = random_mask(d, pct);
            uint8_t *ref = malloc(n), *tmp = malloc(n), *got = malloc(n);
            double r = radii[ri];
            for (int op = 0; op < 4; op++) {
                switch (op) {
                case NOVA_MORPH_DILATE:
                    brute_morph(m, d, sp, r, true, ref);
                    break;
                case NOVA_MORPH_ERODE:
                    brute_morph(m, d, sp, r, false, ref);
                    break;
                case NOVA_MORPH_OPEN:
                    brute_morph(m, d, sp, r, false, tmp);
                    brute_morph(tmp, d, sp, r, true, ref);
                    break;
                default:
                    brute_morph(m, d, sp, r, true, tmp);
                    brute_morph(tmp, d, sp, r, false, ref);
                }
                CHECK(nova_imgproc_morph(&err, pool, (NovaMorphOp)op, m, d, sp,
                                         r, false, got));
                CHECK_OK(err);
                size_t diff = 0;
                for (size_t i = 0; i < n; i++)
                    diff += ref[i] != got[i];
                if (diff)
                    test_fail(__FILE__, __LINE__,
                              "op %d radius %g: %zu voxels differ", op, r,
                              diff);
            }
            /* In place gives the same as out of place. */
            memcpy(tmp, m, n);
            CHECK(nova_imgproc_morph(&err, NULL, NOVA_MORPH_CLOSE, tmp, d, sp,
                                     r, false, tmp));
            CHECK(nova_imgproc_morph(&err, pool, NOVA_MORPH_CLOSE, m, d, sp, r,
                                     false, got));
            CHECK(memcmp(tmp, got, n) == 0);
            free(m);
            free(ref);
            free(tmp);
            free(got);
        }
    /* Thin foreground (one row, a 2 x 2 rod along z): the work box is
     * thinner than the ball, so the ball's rows reach beyond the box on
     * both sides (the row-run kernel clips them per slice). */
    for (int shape = 0; shape < 2; shape++) {
        uint8_t *m = calloc(n, 1), *ref = malloc(n), *tmp = malloc(n),
                *got = malloc(n);
        for (size_t z = 0; z < d[2]; z++)
            for (size_t y = 0; y < d[1]; y++)
                for (size_t x = 0; x < d[0]; x++)
                    m[(z * d[1] + y) * d[0] + x] =
                        shape == 0 ? z == 5 && y == 7 && x >= 3 && x < 14
                                   : y >= 6 && y < 8 && x >= 8 && x < 10;
        for (int op = 0; op < 4; op++) {
            bool dil = op == NOVA_MORPH_DILATE || op == NOVA_MORPH_CLOSE;
            if (op == NOVA_MORPH_DILATE || op == NOVA_MORPH_ERODE) {
                brute_morph(m, d, sp, 4.5, dil, ref);
            } else {
                brute_morph(m, d, sp, 4.5, dil, tmp);
                brute_morph(tmp, d, sp, 4.5, !dil, ref);
            }
            CHECK(nova_imgproc_morph(&err, pool, (NovaMorphOp)op, m, d, sp, 4.5,
                                     false, got));
            CHECK(memcmp(ref, got, n) == 0);
        }
        free(m);
        free(ref);
        free(tmp);
        free(got);
    }
    /* Per-slice dilation of one voxel is a disc in its slice only. */
    uint8_t *m = calloc(n, 1), *got = malloc(n);
    m[(6 * d[1] + 7) * d[0] + 8] = 1;
    CHECK(nova_imgproc_morph(&err, pool, NOVA_MORPH_DILATE, m, d, sp, 2.05,
                             true, got));
    size_t count = 0, off_slice = 0;
    for (size_t i = 0; i < n; i++) {
        count += got[i];
        off_slice += got[i] && i / (d[0] * d[1]) != 6;
    }
    /* Disc of radius 2.05 mm at 0.8 x 1.0 mm: |dx| <= 2 (1.6 mm) with
     * |dy| <= 1 rows and the rest; counted by hand: dy=0: dx -2..2 (5),
     * dy=+-1: (0.8 dx)^2 <= 3.2025 -> |dx| <= 2 (5 each), dy=+-2:
     * (0.8 dx)^2 <= 0.2025 -> dx = 0 (1 each). */
    CHECK_EQ_INT(count, 17);
    CHECK_EQ_INT(off_slice, 0);
    CHECK(!nova_imgproc_morph(&err, pool, NOVA_MORPH_DILATE, m, d, sp, -1,
                              false, got));
    nova_error_clear(&err);
    free(m);
    free(got);
    nova_pool_destroy(pool);
}

static void test_fill_holes(void)
{
    NovaError *err = NULL;
    NovaPool *pool = nova_pool_create(&err, 2);
    const size_t d[3] = {16, 14, 10};
    size_t n = d[0] * d[1] * d[2];
    for (unsigned pct = 30; pct <= 70; pct += 20) {
        uint8_t *m = random_mask(d, pct);
        uint8_t *got = malloc(n), *bg = malloc(n), *ref = malloc(n);
        uint32_t *lab = malloc(n * 4);
        /* 3D reference: background components (flood fill) that touch a
         * face stay background. */
        for (size_t i = 0; i < n; i++)
            bg[i] = !m[i];
        uint32_t nl = flood_label(bg, d, 6, lab);
        uint8_t *outside = calloc(nl + 1, 1);
        for (size_t i = 0; i < n; i++) {
            size_t x = i % d[0], y = i / d[0] % d[1], z = i / (d[0] * d[1]);
            if (x == 0 || y == 0 || z == 0 || x == d[0] - 1 || y == d[1] - 1 ||
                z == d[2] - 1)
                outside[lab[i]] = 1;
        }
        for (size_t i = 0; i < n; i++)
            ref[i] = m[i] || !outside[lab[i]];
        CHECK(nova_imgproc_fill_holes(&err, pool, m, d, false, got));
        CHECK(memcmp(got, ref, n) == 0);
        /* 2D reference: the same per slice with a 1-slice grid. */
        size_t d2[3] = {d[0], d[1], 1};
        size_t plane = d[0] * d[1];
        for (size_t z = 0; z < d[2]; z++) {
            uint32_t nl2 = flood_label(bg + z * plane, d2, 6, lab);
            uint8_t *out2 = calloc(nl2 + 1, 1);
            for (size_t i = 0; i < plane; i++) {
                size_t x = i % d[0], y = i / d[0];
                if (x == 0 || y == 0 || x == d[0] - 1 || y == d[1] - 1)
                    out2[lab[i]] = 1;
            }
            for (size_t i = 0; i < plane; i++)
                ref[z * plane + i] = m[z * plane + i] || !out2[lab[i]];
            free(out2);
        }
        CHECK(nova_imgproc_fill_holes(&err, pool, m, d, true, got));
        CHECK(memcmp(got, ref, n) == 0);
        CHECK_OK(err);
        free(m);
        free(got);
        free(bg);
        free(ref);
        free(lab);
        free(outside);
    }
    /* Per slice, foreground in part of each slice only (the flood runs on
     * its box grown by one pixel): boxes inside, at an edge, at a corner,
     * one pixel wide, and empty slices; in place (dst == src). */
    {
        const size_t e[3] = {23, 19, 7};
        const size_t boxes[7][4] = {
            {5, 16, 4, 13}, {0, 9, 3, 11}, {14, 23, 0, 19}, {0, 23, 0, 19},
            {7, 8, 2, 17},  {0, 0, 0, 0},  {20, 23, 15, 19}};
        size_t en = e[0] * e[1] * e[2], eplane = e[0] * e[1];
        for (unsigned pct = 40; pct <= 80; pct += 20) {
            uint8_t *r = random_mask(e, pct);
            uint8_t *m2 = calloc(en, 1), *ref = malloc(en), *bg = malloc(en);
            uint32_t *lab = malloc(en * 4);
            for (size_t z = 0; z < e[2]; z++)
                for (size_t y = boxes[z][2]; y < boxes[z][3]; y++)
                    for (size_t x = boxes[z][0]; x < boxes[z][1]; x++) {
                        size_t i = (z * e[1] + y) * e[0] + x;
                        m2[i] = r[i] ? 3 : 0;
                    }
            for (size_t i = 0; i < en; i++)
                bg[i] = !m2[i];
            size_t e2[3] = {e[0], e[1], 1};
            for (size_t z = 0; z < e[2]; z++) {
                uint32_t nl2 = flood_label(bg + z * eplane, e2, 6, lab);
                uint8_t *out2 = calloc(nl2 + 1, 1);
                for (size_t i = 0; i < eplane; i++) {
                    size_t x = i % e[0], y = i / e[0];
                    if (x == 0 || y == 0 || x == e[0] - 1 || y == e[1] - 1)
                        out2[lab[i]] = 1;
                }
                for (size_t i = 0; i < eplane; i++)
                    ref[z * eplane + i] = m2[z * eplane + i] || !out2[lab[i]];
                free(out2);
            }
            CHECK(nova_imgproc_fill_holes(&err, pool, m2, e, true, m2));
            CHECK(memcmp(m2, ref, en) == 0);
            free(r);
            free(m2);
            free(ref);
            free(bg);
            free(lab);
        }
    }
    /* A closed hollow box: its 4x4x4 cavity is filled in 3D. */
    uint8_t *m = calloc(n, 1), *got = malloc(n);
    for (size_t z = 2; z <= 7; z++)
        for (size_t y = 2; y <= 7; y++)
            for (size_t x = 2; x <= 7; x++)
                m[(z * d[1] + y) * d[0] + x] =
                    x == 2 || x == 7 || y == 2 || y == 7 || z == 2 || z == 7;
    CHECK(nova_imgproc_fill_holes(&err, NULL, m, d, false, got));
    size_t filled = 0;
    for (size_t i = 0; i < n; i++)
        filled += got[i] && !m[i];
    CHECK_EQ_INT(filled, 64);
    free(m);
    free(got);
    nova_pool_destroy(pool);
}

static void test_gaussian_vs_direct(void)
{
    NovaError *err = NULL;
    NovaPool *pool = nova_pool_create(&err, 3);
    const size_t d[3] = {11, 9, 7};
    const double sp[3] = {0.9, 1.1, 2.0};
    const double sigma = 1.7;
    size_t n = d[0] * d[1] * d[2];
    float *src = malloc(n * 4), *got = malloc(n * 4), *got1 = malloc(n * 4);
    for (size_t i = 0; i < n; i++)
        src[i] = (float)(rnd() % 2001) - 1000.0f;
    CHECK(nova_imgproc_gaussian(&err, pool, src, d, sp, sigma, got));
    CHECK(nova_imgproc_gaussian(&err, NULL, src, d, sp, sigma, got1));
    CHECK_OK(err);
    CHECK(memcmp(got, got1, n * 4) == 0);
    /* Direct 3D sum of the product kernel with clamped indices. */
    int R[3];
    double *k[3];
    for (int a = 0; a < 3; a++) {
        double sd = sigma / sp[a];
        R[a] = (int)(3 * sd + 0.5);
        k[a] = malloc((2 * (size_t)R[a] + 1) * sizeof(double));
        double s = 0;
        for (int j = -R[a]; j <= R[a]; j++)
            s += k[a][j + R[a]] = exp(-0.5 * j * j / (sd * sd));
        for (int j = 0; j <= 2 * R[a]; j++)
            k[a][j] /= s;
    }
    double max_err = 0;
    for (long z = 0; z < (long)d[2]; z++)
        for (long y = 0; y < (long)d[1]; y++)
            for (long x = 0; x < (long)d[0]; x++) {
                double acc = 0;
                for (int dz = -R[2]; dz <= R[2]; dz++)
                    for (int dy = -R[1]; dy <= R[1]; dy++)
                        for (int dx = -R[0]; dx <= R[0]; dx++) {
                            long xx = x + dx, yy = y + dy, zz = z + dz;
                            xx = xx < 0             ? 0
                                 : xx >= (long)d[0] ? (long)d[0] - 1
                                                    : xx;
                            yy = yy < 0             ? 0
                                 : yy >= (long)d[1] ? (long)d[1] - 1
                                                    : yy;
                            zz = zz < 0             ? 0
                                 : zz >= (long)d[2] ? (long)d[2] - 1
                                                    : zz;
                            acc += k[0][dx + R[0]] * k[1][dy + R[1]] *
                                   k[2][dz + R[2]] *
                                   src[((size_t)zz * d[1] + (size_t)yy) * d[0] +
                                       (size_t)xx];
                        }
                double e = fabs(
                    acc -
                    got[((size_t)z * d[1] + (size_t)y) * d[0] + (size_t)x]);
                if (e > max_err)
                    max_err = e;
            }
    CHECK(max_err < 1e-3);
    for (int a = 0; a < 3; a++)
        free(k[a]);
    free(src);
    free(got);
    free(got1);
    nova_pool_destroy(pool);
}

static void test_resample(void)
{
    NovaError *err = NULL;
    NovaPool *pool = nova_pool_create(&err, 2);
    NovaGeometry g;
    nova_geometry_init(&g);
    g.spacing[0] = 1.0;
    g.spacing[1] = 2.0;
    g.spacing[2] = 3.0;
    g.origin[0] = 10;
    g.origin[1] = -5;
    g.origin[2] = 100;
    size_t in[3] = {20, 10, 8};
    NovaVolume *v = nova_volume_create(&err, NOVA_DTYPE_FLOAT32, in, &g);
    float *p = nova_volume_get_data(v);
    /* A linear function of world position. */
    for (size_t z = 0; z < in[2]; z++)
        for (size_t y = 0; y < in[1]; y++)
            for (size_t x = 0; x < in[0]; x++) {
                double idx[3] = {(double)x, (double)y, (double)z}, w[3];
                nova_geometry_index_to_world(&g, idx, w);
                p[(z * in[1] + y) * in[0] + x] =
                    (float)(2 * w[0] - 3 * w[1] + 0.5 * w[2]);
            }
    size_t out_d[3] = {40, 20, 12};
    double out_sp[3] = {0.5, 1.0, 2.0};
    NovaVolume *r =
        nova_imgproc_resample(&err, pool, v, out_d, out_sp, NOVA_INTERP_LINEAR);
    CHECK_OK(err);
    const NovaGeometry *rg = nova_volume_get_geometry(r);
    /* Same box: origin moves by half a voxel of each grid. */
    CHECK_NEAR(rg->origin[0], 10 - 0.25, 1e-9);
    CHECK_NEAR(rg->origin[1], -5 - 0.5, 1e-9);
    CHECK_NEAR(rg->origin[2], 100 - 0.5, 1e-9);
    const float *q = nova_volume_get_const_data(r);
    double max_err = 0;
    size_t checked = 0;
    for (size_t z = 0; z < out_d[2]; z++)
        for (size_t y = 0; y < out_d[1]; y++)
            for (size_t x = 0; x < out_d[0]; x++) {
                double idx[3] = {(double)x, (double)y, (double)z}, w[3], ii[3];
                nova_geometry_index_to_world(rg, idx, w);
                nova_geometry_world_to_index(&g, w, ii);
                /* Inside the input's centre box the function is exact. */
                if (ii[0] < 0 || ii[1] < 0 || ii[2] < 0 || ii[0] > in[0] - 1 ||
                    ii[1] > in[1] - 1 || ii[2] > in[2] - 1)
                    continue;
                double want = 2 * w[0] - 3 * w[1] + 0.5 * w[2];
                double e = fabs(want - q[(z * out_d[1] + y) * out_d[0] + x]);
                if (e > max_err)
                    max_err = e;
                checked++;
            }
    CHECK(checked > 5000);
    CHECK(max_err < 1e-3);
    nova_volume_unref(r);
    nova_volume_unref(v);

    /* Nearest on a mask: halving the resolution picks the voxel holding the
     * output centre. */
    size_t md[3] = {8, 6, 4};
    NovaVolume *m = nova_volume_create(&err, NOVA_DTYPE_UINT8, md, NULL);
    uint8_t *mp = nova_volume_get_data(m);
    for (size_t i = 0; i < 8 * 6 * 4; i++)
        mp[i] = (uint8_t)(rnd() % 3);
    size_t up[3] = {16, 12, 8};
    double up_sp[3] = {0.5, 0.5, 0.5};
    NovaVolume *mu =
        nova_imgproc_resample(&err, NULL, m, up, up_sp, NOVA_INTERP_NEAREST);
    const uint8_t *mup = nova_volume_get_const_data(mu);
    size_t bad = 0;
    for (size_t z = 0; z < 8; z++)
        for (size_t y = 0; y < 12; y++)
            for (size_t x = 0; x < 16; x++)
                bad += mup[(z * 12 + y) * 16 + x] !=
                       mp[(z / 2 * 6 + y / 2) * 8 + x / 2];
    CHECK_EQ_INT(bad, 0);
    nova_volume_unref(mu);
    size_t zero[3] = {0, 1, 1};
    CHECK(!nova_imgproc_resample(&err, NULL, m, zero, up_sp,
                                 NOVA_INTERP_NEAREST));
    nova_error_clear(&err);
    nova_volume_unref(m);
    nova_pool_destroy(pool);
}

/* SciPy as an independent oracle: write a mask and an image, let
 * scipy.ndimage compute labels counts, EDT and Gaussian, compare. */
static void test_scipy_oracle(void)
{
    if (system("/usr/bin/python3 -c 'import scipy.ndimage' 2>/dev/null") != 0)
        SKIP("Debian python3-scipy not installed");
    const size_t d[3] = {23, 19, 15};
    const double sp[3] = {0.6, 0.9, 2.5};
    size_t n = d[0] * d[1] * d[2];
    uint8_t *m = random_mask(d, 35);
    float *img = malloc(n * 4);
    for (size_t i = 0; i < n; i++)
        img[i] = (float)(rnd() % 1001) - 500.0f;
    char in_path[512], out_path[512], cmd[2048];
    snprintf(in_path, sizeof in_path, "%s/imgproc_in.bin", test_tmp_dir());
    snprintf(out_path, sizeof out_path, "%s/imgproc_out.bin", test_tmp_dir());
    FILE *f = fopen(in_path, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    fwrite(m, 1, n, f);
    fwrite(img, 4, n, f);
    fclose(f);
    snprintf(
        cmd, sizeof cmd,
        "/usr/bin/python3 -c \""
        "import numpy as np, scipy.ndimage as nd\n"
        "s=(%zu,%zu,%zu); n=%zu; sp=(%g,%g,%g)\n"
        "raw=open('%s','rb').read()\n"
        "m=np.frombuffer(raw[:n],np.uint8).reshape(s)\n"
        "img=np.frombuffer(raw[n:],np.float32).reshape(s).astype(np.float64)\n"
        "_,n6=nd.label(m,nd.generate_binary_structure(3,1))\n"
        "_,n26=nd.label(m,nd.generate_binary_structure(3,3))\n"
        "e=nd.distance_transform_edt(m,sampling=sp)**2\n"
        "g=nd.gaussian_filter(img,[1.3/x for x in "
        "sp],mode='nearest',truncate=3.0)\n"
        "o=open('%s','wb'); o.write(np.array([n6,n26],np.uint32).tobytes())\n"
        "o.write(e.astype(np.float64).tobytes()); "
        "o.write(g.astype(np.float64).tobytes())\n"
        "\"",
        d[2], d[1], d[0], n, sp[2], sp[1], sp[0], in_path, out_path);
    CHECK_EQ_INT(system(cmd), 0);
    f = fopen(out_path, "rb");
    CHECK(f != NULL);
    if (!f)
        return;
    uint32_t counts[2];
    double *edt_ref = malloc(n * 8), *g_ref = malloc(n * 8);
    CHECK_EQ_INT(fread(counts, 4, 2, f), 2);
    CHECK_EQ_INT(fread(edt_ref, 8, n, f), n);
    CHECK_EQ_INT(fread(g_ref, 8, n, f), n);
    fclose(f);

    NovaError *err = NULL;
    NovaPool *pool = nova_pool_create(&err, 2);
    uint32_t *lab = malloc(n * 4), nl = 0;
    CHECK(nova_imgproc_label(&err, pool, m, d, 6, lab, &nl));
    CHECK_EQ_INT(nl, counts[0]);
    CHECK(nova_imgproc_label(&err, pool, m, d, 26, lab, &nl));
    CHECK_EQ_INT(nl, counts[1]);
    /* scipy's EDT: distance from foreground to the nearest zero. */
    float *e = malloc(n * 4);
    CHECK(nova_imgproc_edt_sq(&err, pool, m, d, sp, false, false, e));
    double max_e = 0;
    for (size_t i = 0; i < n; i++)
        max_e = fmax(max_e, fabs(e[i] - edt_ref[i]) / (1 + edt_ref[i]));
    CHECK(max_e < 1e-5);
    float *g = malloc(n * 4);
    CHECK(nova_imgproc_gaussian(&err, pool, img, d, sp, 1.3, g));
    double max_g = 0;
    for (size_t i = 0; i < n; i++)
        max_g = fmax(max_g, fabs(g[i] - g_ref[i]));
    CHECK(max_g < 1e-3);
    CHECK_OK(err);
    free(m);
    free(img);
    free(edt_ref);
    free(g_ref);
    free(lab);
    free(e);
    free(g);
    nova_pool_destroy(pool);
}

static void test_threshold(void)
{
    int16_t src[6] = {-1000, -500, -499, 0, 100, 3000};
    uint8_t dst[6];
    nova_imgproc_threshold_i16(NULL, src, 6, -500, 100, dst);
    const uint8_t want[6] = {0, 1, 1, 1, 1, 0};
    CHECK(memcmp(dst, want, 6) == 0);
}

/* nova_imgproc_mask_box against a scan of every voxel: sparse masks (a few
 * voxels, so most rows and slices are empty and skipped by word), row
 * lengths that are and are not multiples of 8, a voxel on each face, and
 * an empty mask. */
static void test_mask_box(void)
{
    static const size_t dims[][3] = {
        {1, 1, 1}, {7, 5, 3}, {8, 8, 2}, {13, 9, 6}, {64, 3, 5}, {33, 40, 7}};
    for (size_t c = 0; c < sizeof dims / sizeof dims[0]; c++) {
        const size_t *d = dims[c];
        size_t n = d[0] * d[1] * d[2];
        uint8_t *m = calloc(n, 1);
        size_t lo[3], hi[3];
        CHECK(!nova_imgproc_mask_box(m, d, lo, hi));
        for (int round = 0; round < 20; round++) {
            memset(m, 0, n);
            size_t k = 1 + rnd() % 4;
            for (size_t j = 0; j < k; j++)
                m[rnd() % n] = (uint8_t)(1 + rnd() % 255);
            if (round == 19) { /* the grid's corners */
                m[0] = 1;
                m[n - 1] = 1;
            }
            size_t rlo[3] = {SIZE_MAX, SIZE_MAX, SIZE_MAX}, rhi[3] = {0, 0, 0};
            for (size_t z = 0; z < d[2]; z++)
                for (size_t y = 0; y < d[1]; y++)
                    for (size_t x = 0; x < d[0]; x++) {
                        if (!m[(z * d[1] + y) * d[0] + x])
                            continue;
                        size_t p[3] = {x, y, z};
                        for (int a = 0; a < 3; a++) {
                            if (p[a] < rlo[a])
                                rlo[a] = p[a];
                            if (p[a] + 1 > rhi[a])
                                rhi[a] = p[a] + 1;
                        }
                    }
            CHECK(nova_imgproc_mask_box(m, d, lo, hi));
            for (int a = 0; a < 3; a++) {
                CHECK_EQ_INT((long long)lo[a], (long long)rlo[a]);
                CHECK_EQ_INT((long long)hi[a], (long long)rhi[a]);
            }
        }
        free(m);
    }
}

int main(void)
{
    RUN(test_threshold);
    RUN(test_mask_box);
    RUN(test_label_vs_flood_fill);
    RUN(test_label_spiral);
    RUN(test_edt_vs_brute_force);
    RUN(test_morph_vs_brute_force);
    RUN(test_fill_holes);
    RUN(test_gaussian_vs_direct);
    RUN(test_resample);
    RUN(test_scipy_oracle);
    return test_done();
}
