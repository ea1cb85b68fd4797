/*
 * label.c - threshold and 3D connected-component labelling.
 *
 * Labelling is union-find over voxel indices kept in the output array itself:
 * during the scan labels[v] holds parent(v) + 1 (0 = background).  Unions
 * always hang the larger root under the smaller, so a component's root is its
 * first voxel in raster order.  Pass 1 runs in parallel, one slab of whole
 * z-slices per thread, looking only at already-scanned neighbours inside the
 * slab; the T - 1 slab borders are then merged on one thread (a few slices);
 * pass 2 points every voxel straight at its root (parallel), roots receive
 * consecutive numbers in raster order from per-slab counts, and pass 3 copies
 * the numbers to the members.  Every pass is linear in the voxel count (with
 * path halving the union-find cost is near-linear in practice).
 *
 * Threads in passes 2 and 3 read entries other threads may be rewriting;
 * the value read is then either the old parent or the root, both correct, and
 * the accesses are relaxed atomics so the race is defined behaviour.
 */
#include "nova/imgproc.h"

#include <stdlib.h>
#include <string.h>

#define ROOT_MARK 0x80000000u

struct threshold_ctx {
    const int16_t *src;
    uint8_t *dst;
    int16_t lo, hi;
};

static void threshold_range(void *vctx, size_t begin, size_t end, int thread)
{
    const struct threshold_ctx *c = vctx;
    for (size_t i = begin; i < end; i++)
        c->dst[i] = (uint8_t)(c->src[i] >= c->lo && c->src[i] <= c->hi);
}

void nova_imgproc_threshold_i16(NovaPool *pool, const int16_t *src, size_t n,
                                int16_t lo, int16_t hi, uint8_t *dst)
{
    struct threshold_ctx c = {src, dst, lo, hi};
    nova_pool_parallel_for(pool, n, threshold_range, &c);
}

static inline uint32_t load(const uint32_t *a, size_t i)
{
    return __atomic_load_n(&a[i], __ATOMIC_RELAXED);
}

static inline void store(uint32_t *a, size_t i, uint32_t v)
{
    __atomic_store_n(&a[i], v, __ATOMIC_RELAXED);
}

/* Whether the 8 mask bytes from v are all background.  Passes 2 and 3
 * skip such runs (their labels are 0 from pass 1) without reading the
 * labels, 4 bytes a voxel; the masks labelled here are mostly background
 * in long runs. */
static inline bool zero8(const uint8_t *mask, size_t v)
{
    uint64_t w;
    memcpy(&w, mask + v, 8);
    return w == 0;
}

/* Root of v (an index), halving the path on the way. */
static inline size_t find_root(uint32_t *parent, size_t v)
{
    for (;;) {
        size_t p = (size_t)load(parent, v) - 1;
        if (p == v)
            return v;
        size_t gp = (size_t)load(parent, p) - 1;
        if (gp != p)
            store(parent, v, (uint32_t)(gp + 1));
        v = p;
    }
}

static inline void unite(uint32_t *parent, size_t a, size_t b)
{
    a = find_root(parent, a);
    b = find_root(parent, b);
    while (a != b) {
        /* Hang the larger root under the smaller one. */
        if (a < b) {
            size_t t = a;
            a = b;
            b = t;
        }
        store(parent, a, (uint32_t)(b + 1));
        a = find_root(parent, a);
        b = find_root(parent, b);
    }
}

struct label_ctx {
    const uint8_t *mask;
    uint32_t *labels;
    size_t nx, ny, nz;
    int connectivity;
    size_t n_slabs;
    size_t *root_counts; /* per slab */
};

/* Offsets of the already-scanned neighbours (dz <= 0, raster before). */
static int prior_offsets(int connectivity, int off[13][3])
{
    int n = 0;
    for (int dz = -1; dz <= 0; dz++)
        for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++) {
                if (dz == 0 && (dy > 0 || (dy == 0 && dx >= 0)))
                    continue;
                int manhattan = abs(dx) + abs(dy) + abs(dz);
                if (connectivity == 6 && manhattan != 1)
                    continue;
                off[n][0] = dx;
                off[n][1] = dy;
                off[n][2] = dz;
                n++;
            }
    return n;
}

/* Union v = (x, y, z) with its prior neighbours at z >= z_min. */
static inline void link_voxel(const struct label_ctx *c, int n_off,
                              int off[13][3], size_t x, size_t y, size_t z,
                              size_t z_min)
{
    size_t nx = c->nx, ny = c->ny;
    size_t v = (z * ny + y) * nx + x;
    for (int o = 0; o < n_off; o++) {
        long xx = (long)x + off[o][0], yy = (long)y + off[o][1];
        long zz = (long)z + off[o][2];
        if (xx < 0 || yy < 0 || xx >= (long)nx || yy >= (long)ny ||
            zz < (long)z_min)
            continue;
        size_t u = ((size_t)zz * ny + (size_t)yy) * nx + (size_t)xx;
        if (c->mask[u])
            unite(c->labels, u, v);
    }
}

static void slab_bounds(size_t nz, size_t n_slabs, size_t s, size_t *z0,
                        size_t *z1)
{
    *z0 = nz * s / n_slabs;
    *z1 = nz * (s + 1) / n_slabs;
}

/* Pass 1 on the voxels whose prior neighbours all lie in the grid and the
 * slab (x in 1..nx-2, y >= 1, z > z_min; for 26-connectivity also
 * y <= ny - 2): the neighbours are fixed index
 * offsets.  A voxel whose left neighbour is foreground starts under that
 * neighbour's parent (an index below its own, so roots stay the first
 * voxels of their components), and with 6-connectivity a neighbour above
 * (y - 1 or z - 1) that is already joined to the left one through their
 * common left neighbour needs no union: the partition, and so the output,
 * is the same as with a union per foreground neighbour. */
static void link_interior_row(const struct label_ctx *c, int n_off,
                              const long *rel, size_t row, size_t x_end)
{
    const uint8_t *mask = c->mask;
    uint32_t *labels = c->labels;
    size_t ox = c->nx, oz = c->nx * c->ny;
    for (size_t v = row + 1; v < row + x_end; v++) {
        if (!mask[v]) {
            labels[v] = 0;
            continue;
        }
        bool left = mask[v - 1];
        labels[v] = left ? labels[v - 1] : (uint32_t)(v + 1);
        if (c->connectivity == 6) {
            if (mask[v - ox] && !(left && mask[v - ox - 1]))
                unite(labels, v - ox, v);
            if (mask[v - oz] && !(left && mask[v - oz - 1]))
                unite(labels, v - oz, v);
        } else {
            for (int o = 0; o < n_off; o++) {
                size_t u = (size_t)((long)v + rel[o]);
                if (rel[o] != -1 && mask[u])
                    unite(labels, u, v);
            }
        }
    }
}

static void pass1(void *vctx, size_t begin, size_t end, int thread)
{
    struct label_ctx *c = vctx;
    int off[13][3];
    int n_off = prior_offsets(c->connectivity, off);
    size_t nx = c->nx, ny = c->ny;
    long rel[13];
    for (int o = 0; o < n_off; o++)
        rel[o] =
            ((long)off[o][2] * (long)ny + off[o][1]) * (long)nx + off[o][0];
    for (size_t s = begin; s < end; s++) {
        size_t z0, z1;
        slab_bounds(c->nz, c->n_slabs, s, &z0, &z1);
        for (size_t z = z0; z < z1; z++)
            for (size_t y = 0; y < ny; y++) {
                size_t row = (z * ny + y) * nx;
                /* An empty row: all 0, no links. */
                bool empty = true;
                for (size_t x = 0; x + 8 <= nx && empty; x += 8)
                    empty = zero8(c->mask, row + x);
                for (size_t x = nx & ~(size_t)7; x < nx && empty; x++)
                    empty = !c->mask[row + x];
                if (empty) {
                    memset(c->labels + row, 0, nx * sizeof *c->labels);
                    continue;
                }
                /* 26-connectivity also looks at y + 1 in slice z - 1. */
                bool interior = z > z0 && y > 0 && nx >= 3 &&
                                (c->connectivity == 6 || y + 1 < ny);
                for (size_t x = 0; x < nx; x++) {
                    if (interior && x == 1) {
                        /* x in 1..nx-2 */
                        link_interior_row(c, n_off, rel, row, nx - 1);
                        x = nx - 2;
                        continue;
                    }
                    size_t v = row + x;
                    if (!c->mask[v]) {
                        c->labels[v] = 0;
                        continue;
                    }
                    c->labels[v] = (uint32_t)(v + 1);
                    link_voxel(c, n_off, off, x, y, z, z0);
                }
            }
    }
}

/* Pass 2: point every voxel at its root and count roots per slab. */
static void pass2(void *vctx, size_t begin, size_t end, int thread)
{
    struct label_ctx *c = vctx;
    size_t plane = c->nx * c->ny;
    for (size_t s = begin; s < end; s++) {
        size_t z0, z1, roots = 0;
        slab_bounds(c->nz, c->n_slabs, s, &z0, &z1);
        size_t v1 = z1 * plane;
        for (size_t v = z0 * plane; v < v1; v++) {
            if ((v & 7) == 0 && v + 8 <= v1 && zero8(c->mask, v)) {
                v += 7;
                continue;
            }
            if (!load(c->labels, v))
                continue;
            size_t r = find_root(c->labels, v);
            if (r == v)
                roots++;
            else
                store(c->labels, v, (uint32_t)(r + 1));
        }
        c->root_counts[s] = roots;
    }
}

/* Pass 3a: roots take their final number, marked so members can tell. */
static void pass3a(void *vctx, size_t begin, size_t end, int thread)
{
    struct label_ctx *c = vctx;
    size_t plane = c->nx * c->ny;
    for (size_t s = begin; s < end; s++) {
        size_t z0, z1, next = c->root_counts[s];
        slab_bounds(c->nz, c->n_slabs, s, &z0, &z1);
        size_t v1 = z1 * plane;
        for (size_t v = z0 * plane; v < v1; v++) {
            if ((v & 7) == 0 && v + 8 <= v1 && zero8(c->mask, v)) {
                v += 7;
                continue;
            }
            uint32_t l = load(c->labels, v);
            if (l && (size_t)l - 1 == v)
                store(c->labels, v, (uint32_t)(++next) | ROOT_MARK);
        }
    }
}

/* Pass 3b: members copy their root's number; roots drop the mark.  Only
 * a root's own thread rewrites it, and a member (which after pass 2
 * points straight at its root) reads the root's number with or without
 * the mark, so the roots drop it here rather than in a third pass over
 * every voxel. */
static void pass3b(void *vctx, size_t begin, size_t end, int thread)
{
    struct label_ctx *c = vctx;
    size_t plane = c->nx * c->ny;
    for (size_t s = begin; s < end; s++) {
        size_t z0, z1;
        slab_bounds(c->nz, c->n_slabs, s, &z0, &z1);
        size_t v1 = z1 * plane;
        for (size_t v = z0 * plane; v < v1; v++) {
            if ((v & 7) == 0 && v + 8 <= v1 && zero8(c->mask, v)) {
                v += 7;
                continue;
            }
            uint32_t l = load(c->labels, v);
            if (!l)
                continue;
            if (l & ROOT_MARK) {
                store(c->labels, v, l & ~ROOT_MARK);
                continue;
            }
            uint32_t root = load(c->labels, (size_t)l - 1);
            store(c->labels, v, root & ~ROOT_MARK);
        }
    }
}

bool nova_imgproc_label(NovaError **error, NovaPool *pool, const uint8_t *mask,
                        const size_t dims[3], int connectivity,
                        uint32_t *labels, uint32_t *n_labels)
{
    if (connectivity != 6 && connectivity != 26)
        return nova_error_set(error, NOVA_ERROR_INVALID, "invalid argument",
                              "connectivity %d: must be 6 or 26", connectivity);
    size_t n;
    if (!nova_size_mul(dims[0], dims[1], &n) ||
        !nova_size_mul(n, dims[2], &n) || n >= (size_t)ROOT_MARK)
        return nova_error_set(error, NOVA_ERROR_RANGE, "too large",
                              "labelling %zux%zux%zu voxels: at most 2^31 - 1",
                              dims[0], dims[1], dims[2]);
    if (n_labels)
        *n_labels = 0;
    if (n == 0)
        return true;
    size_t n_slabs = (size_t)(pool ? nova_pool_get_threads(pool) : 1);
    if (n_slabs > dims[2])
        n_slabs = dims[2];
    size_t *root_counts = nova_calloc(error, n_slabs, sizeof *root_counts);
    if (!root_counts)
        return false;
    struct label_ctx c = {mask,    labels,       dims[0], dims[1],
                          dims[2], connectivity, n_slabs, root_counts};
    nova_pool_parallel_for(pool, n_slabs, pass1, &c);

    /* Merge each slab's first slice with the slice before it. */
    int off[13][3];
    int n_off = prior_offsets(connectivity, off);
    for (size_t s = 1; s < n_slabs; s++) {
        size_t z0, z1;
        slab_bounds(dims[2], n_slabs, s, &z0, &z1);
        for (size_t y = 0; y < dims[1]; y++)
            for (size_t x = 0; x < dims[0]; x++) {
                size_t v = (z0 * dims[1] + y) * dims[0] + x;
                if (mask[v])
                    link_voxel(&c, n_off, off, x, y, z0, z0 - 1);
            }
    }

    nova_pool_parallel_for(pool, n_slabs, pass2, &c);
    size_t total = 0;
    for (size_t s = 0; s < n_slabs; s++) {
        size_t count = root_counts[s];
        root_counts[s] = total;
        total += count;
    }
    nova_pool_parallel_for(pool, n_slabs, pass3a, &c);
    nova_pool_parallel_for(pool, n_slabs, pass3b, &c);
    nova_free(root_counts);
    if (n_labels)
        *n_labels = (uint32_t)total;
    return true;
}

void nova_imgproc_label_sizes(const uint32_t *labels, size_t n,
                              uint32_t n_labels, size_t *sizes)
{
    memset(sizes, 0, ((size_t)n_labels + 1) * sizeof *sizes);
    for (size_t i = 0; i < n; i++)
        if (labels[i] <= n_labels)
            sizes[labels[i]]++;
}
