/*
 * volume.c - NovaVolume: a refcounted 3D array with geometry.  The voxels
 * are one aligned block (huge pages for large volumes, see create()).
 */
#include "volume_private.h"

#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_THRESHOLD ((size_t)8 << 20)

struct NovaVolume {
    atomic_int refcount;
    NovaDtype dtype;
    size_t dims[3];
    size_t count;
    NovaGeometry geometry;
    void *data;
    size_t pages; /* bytes mapped by nova_alloc_pages, 0 for the heap */
};

size_t nova_dtype_size(NovaDtype dtype)
{
    switch (dtype) {
    case NOVA_DTYPE_UINT8: return 1;
    case NOVA_DTYPE_INT16: return 2;
    case NOVA_DTYPE_FLOAT32: return 4;
    }
    return 0;
}

const char *nova_dtype_name(NovaDtype dtype)
{
    switch (dtype) {
    case NOVA_DTYPE_UINT8: return "uint8";
    case NOVA_DTYPE_INT16: return "int16";
    case NOVA_DTYPE_FLOAT32: return "float32";
    }
    return "?";
}

void nova_geometry_init(NovaGeometry *g)
{
    memset(g, 0, sizeof *g);
    for (int i = 0; i < 3; i++) {
        g->spacing[i] = 1.0;
        g->direction[i * 3 + i] = 1.0;
    }
}

void nova_geometry_index_to_world(const NovaGeometry *g, const double index[3],
                                  double world[3])
{
    for (int r = 0; r < 3; r++) {
        double w = g->origin[r];
        for (int c = 0; c < 3; c++)
            w += g->direction[r * 3 + c] * g->spacing[c] * index[c];
        world[r] = w;
    }
}

void nova_geometry_world_to_index(const NovaGeometry *g, const double world[3],
                                  double index[3])
{
    /* Invert D * diag(spacing) by the adjugate: D need not be orthonormal
     * (a gantry-tilted stack before resampling is sheared). */
    double m[9];
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            m[r * 3 + c] = g->direction[r * 3 + c] * g->spacing[c];
    double det = m[0] * (m[4] * m[8] - m[5] * m[7]) -
                 m[1] * (m[3] * m[8] - m[5] * m[6]) +
                 m[2] * (m[3] * m[7] - m[4] * m[6]);
    double inv[9] = {(m[4] * m[8] - m[5] * m[7]), -(m[1] * m[8] - m[2] * m[7]),
                     (m[1] * m[5] - m[2] * m[4]), -(m[3] * m[8] - m[5] * m[6]),
                     (m[0] * m[8] - m[2] * m[6]), -(m[0] * m[5] - m[2] * m[3]),
                     (m[3] * m[7] - m[4] * m[6]), -(m[0] * m[7] - m[1] * m[6]),
                     (m[0] * m[4] - m[1] * m[3])};
    double d[3] = {world[0] - g->origin[0], world[1] - g->origin[1],
                   world[2] - g->origin[2]};
    for (int r = 0; r < 3; r++)
        index[r] = det != 0.0 ? (inv[r * 3] * d[0] + inv[r * 3 + 1] * d[1] +
                                 inv[r * 3 + 2] * d[2]) /
                                    det
                              : 0.0;
}

static NovaVolume *create(NovaError **error, NovaDtype dtype,
                          const size_t dims[3], const NovaGeometry *geometry,
                          bool zero)
{
    size_t count, bytes;
    if (!nova_size_mul(dims[0], dims[1], &count) ||
        !nova_size_mul(count, dims[2], &count) ||
        !nova_size_mul(count, nova_dtype_size(dtype), &bytes)) {
        nova_error_set(error, NOVA_ERROR_RANGE, "volume too large",
                       "volume of %zu x %zu x %zu voxels overflows", dims[0],
                       dims[1], dims[2]);
        return NULL;
    }
    NovaVolume *v = nova_calloc(error, 1, sizeof *v);
    if (!v)
        return NULL;
    /* Large volumes: fresh kernel pages, 2 MiB aligned.  First touch of
     * fresh memory costs a page fault per page; on virtual machines that
     * is most of the time of filling a CT volume (measured here: 0.55 s
     * for 250 MiB with 4 KiB pages from one thread, 0.07 s with huge
     * pages when the kernel has them at hand), hence huge pages for what
     * the loader fills (see nova_alloc_pages for when they cost more). */
    bool huge = bytes >= HUGE_THRESHOLD;
    if (huge) {
        /* Fresh pages are zero: no memset, whichever `zero` asks.  Huge
         * pages for the volumes the loader fills with pread (one thread
         * per file range, where 4 KiB faults dominated: bench/volume);
         * not for the zeroed outputs of the analysis, which workers write
         * in parallel and where a cold huge page stalls them. */
        v->data = nova_alloc_pages(error, bytes, !zero);
        v->pages = bytes;
    } else {
        v->data = nova_malloc_aligned(error, 64, bytes);
        if (v->data && zero)
            memset(v->data, 0, bytes);
    }
    if (!v->data) {
        nova_free(v);
        return NULL;
    }
    atomic_init(&v->refcount, 1);
    v->dtype = dtype;
    memcpy(v->dims, dims, sizeof v->dims);
    v->count = count;
    if (geometry)
        v->geometry = *geometry;
    else
        nova_geometry_init(&v->geometry);
    return v;
}

NovaVolume *nova_volume_create(NovaError **error, NovaDtype dtype,
                               const size_t dims[3],
                               const NovaGeometry *geometry)
{
    return create(error, dtype, dims, geometry, true);
}

NovaVolume *nova__volume_create_uninit(NovaError **error, NovaDtype dtype,
                                       const size_t dims[3],
                                       const NovaGeometry *geometry)
{
    return create(error, dtype, dims, geometry, false);
}

NovaVolume *nova_volume_ref(NovaVolume *v)
{
    if (v)
        atomic_fetch_add(&v->refcount, 1);
    return v;
}

void nova_volume_unref(NovaVolume *v)
{
    if (v && atomic_fetch_sub(&v->refcount, 1) == 1) {
        if (v->pages)
            nova_free_pages(v->data, v->pages);
        else
            nova_free(v->data);
        nova_free(v);
    }
}

NovaDtype nova_volume_get_dtype(const NovaVolume *v)
{
    return v->dtype;
}

void nova_volume_get_dims(const NovaVolume *v, size_t dims[3])
{
    memcpy(dims, v->dims, sizeof v->dims);
}

size_t nova_volume_get_voxel_count(const NovaVolume *v)
{
    return v->count;
}

const NovaGeometry *nova_volume_get_geometry(const NovaVolume *v)
{
    return &v->geometry;
}

void nova_volume_set_geometry(NovaVolume *v, const NovaGeometry *geometry)
{
    v->geometry = *geometry;
}

void *nova_volume_get_data(NovaVolume *v)
{
    return v->data;
}

const void *nova_volume_get_const_data(const NovaVolume *v)
{
    return v->data;
}
