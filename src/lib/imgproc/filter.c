/*
 * filter.c - separable Gaussian smoothing and resampling.
 *
 * The Gaussian runs one 1D convolution per axis with a kernel truncated at
 * 3 sigma (radius round(3 sigma), as scipy.ndimage does) and replicated
 * borders; x rows, y columns (per slice) and z columns (per y-row, gathered
 * into a block) are split statically over the pool.  Resampling maps output
 * voxel centres to input continuous indices so that both grids cover the
 * same box of voxel corners, then samples with nearest neighbour (masks) or
 * trilinear interpolation (images); per-axis index and weight tables keep the
 * inner loop to a few loads.
 */
#include "nova/imgproc.h"

#include <math.h>
#include <string.h>

struct gauss_ctx {
    float *data;
    size_t nx, ny, nz;
    const float *kernel[3];
    int radius[3];
    float **line;  /* per thread: max(nx, ny, nz) + 2 * max radius */
    float **block; /* per thread: nx * nz for the z pass */
};

/* Convolve n samples of line[r .. r + n) (with r replicated samples on each
 * side already in place) into out[0 .. n) with stride. */
static void convolve(const float *padded, size_t n, const float *k, int r,
                     float *out, size_t stride)
{
    for (size_t i = 0; i < n; i++) {
        const float *p = padded + i;
        double acc = 0.0;
        for (int j = 0; j <= 2 * r; j++)
            acc += (double)k[j] * p[j];
        out[i * stride] = (float)acc;
    }
}

static void pad_line(float *line, const float *src, size_t n, size_t stride,
                     int r)
{
    for (size_t i = 0; i < n; i++)
        line[r + i] = src[i * stride];
    for (int j = 0; j < r; j++) {
        line[j] = line[r];
        line[r + n + (size_t)j] = line[r + n - 1];
    }
}

static void gauss_x(void *vctx, size_t begin, size_t end, int thread)
{
    struct gauss_ctx *c = vctx;
    float *line = c->line[thread];
    int r = c->radius[0];
    for (size_t row = begin; row < end; row++) {
        float *p = c->data + row * c->nx;
        pad_line(line, p, c->nx, 1, r);
        convolve(line, c->nx, c->kernel[0], r, p, 1);
    }
}

static void gauss_y(void *vctx, size_t begin, size_t end, int thread)
{
    struct gauss_ctx *c = vctx;
    float *line = c->line[thread];
    int r = c->radius[1];
    for (size_t z = begin; z < end; z++)
        for (size_t x = 0; x < c->nx; x++) {
            float *p = c->data + z * c->nx * c->ny + x;
            pad_line(line, p, c->ny, c->nx, r);
            convolve(line, c->ny, c->kernel[1], r, p, c->nx);
        }
}

static void gauss_z(void *vctx, size_t begin, size_t end, int thread)
{
    struct gauss_ctx *c = vctx;
    float *line = c->line[thread], *block = c->block[thread];
    int r = c->radius[2];
    size_t nx = c->nx, ny = c->ny, nz = c->nz;
    for (size_t y = begin; y < end; y++) {
        for (size_t z = 0; z < nz; z++)
            memcpy(block + z * nx, c->data + (z * ny + y) * nx,
                   nx * sizeof *block);
        for (size_t x = 0; x < nx; x++) {
            pad_line(line, block + x, nz, nx, r);
            convolve(line, nz, c->kernel[2], r, block + x, nx);
        }
        for (size_t z = 0; z < nz; z++)
            memcpy(c->data + (z * ny + y) * nx, block + z * nx,
                   nx * sizeof *block);
    }
}

bool nova_imgproc_gaussian(NovaError **error, NovaPool *pool, const float *src,
                           const size_t dims[3], const double spacing_mm[3],
                           double sigma_mm, float *dst)
{
    if (!(sigma_mm >= 0))
        return nova_error_set(error, NOVA_ERROR_INVALID, "invalid argument",
                              "Gaussian sigma %g mm: must be >= 0", sigma_mm);
    size_t n = dims[0] * dims[1] * dims[2];
    if (dst != src)
        memcpy(dst, src, n * sizeof *dst);
    if (n == 0 || sigma_mm == 0)
        return true;
    int T = pool ? nova_pool_get_threads(pool) : 1;
    struct gauss_ctx c = {dst, dims[0], dims[1], dims[2], {0}, {0}, NULL, NULL};
    float *kernels[3] = {NULL, NULL, NULL};
    size_t max_len = 0;
    int max_r = 0;
    bool ok = false;
    for (int a = 0; a < 3; a++) {
        double sd = sigma_mm / spacing_mm[a];
        int r = (int)(3.0 * sd + 0.5);
        if (r > 100000)
            r = 100000;
        c.radius[a] = r;
        kernels[a] = nova_malloc_array(error, 2 * (size_t)r + 1, sizeof(float));
        if (!kernels[a])
            goto done;
        double sum = 0.0;
        for (int j = -r; j <= r; j++)
            sum += exp(-0.5 * (double)j * j / (sd * sd));
        for (int j = -r; j <= r; j++)
            kernels[a][j + r] =
                (float)(exp(-0.5 * (double)j * j / (sd * sd)) / sum);
        c.kernel[a] = kernels[a];
        if (dims[a] > max_len)
            max_len = dims[a];
        if (r > max_r)
            max_r = r;
    }
    c.line = nova_calloc(error, (size_t)T, sizeof *c.line);
    c.block = nova_calloc(error, (size_t)T, sizeof *c.block);
    if (!c.line || !c.block)
        goto done;
    for (int t = 0; t < T; t++) {
        c.line[t] = nova_malloc_array(error, max_len + 2 * (size_t)max_r,
                                      sizeof(float));
        c.block[t] = nova_malloc_array(error, dims[0] * dims[2], sizeof(float));
        if (!c.line[t] || !c.block[t])
            goto done;
    }
    if (c.radius[0] > 0)
        nova_pool_parallel_for(pool, dims[1] * dims[2], gauss_x, &c);
    if (c.radius[1] > 0)
        nova_pool_parallel_for(pool, dims[2], gauss_y, &c);
    if (c.radius[2] > 0)
        nova_pool_parallel_for(pool, dims[1], gauss_z, &c);
    ok = true;
done:
    for (int a = 0; a < 3; a++)
        nova_free(kernels[a]);
    for (int t = 0; t < T; t++) {
        if (c.line)
            nova_free(c.line[t]);
        if (c.block)
            nova_free(c.block[t]);
    }
    nova_free(c.line);
    nova_free(c.block);
    return ok;
}

/* ------------------------------------------------------------ resampling */

struct axis_table {
    size_t *i0; /* nearest index, or lower index for linear */
    float *w;   /* weight of i0 + 1 for linear */
};

struct resample_ctx {
    const void *src;
    void *dst;
    NovaDtype dtype;
    size_t in[3], out[3];
    struct axis_table ax[3];
    bool linear;
};

static double sample(const struct resample_ctx *c, size_t i)
{
    switch (c->dtype) {
    case NOVA_DTYPE_UINT8: return ((const uint8_t *)c->src)[i];
    case NOVA_DTYPE_INT16: return ((const int16_t *)c->src)[i];
    default: return ((const float *)c->src)[i];
    }
}

static void put(const struct resample_ctx *c, size_t i, double v)
{
    switch (c->dtype) {
    case NOVA_DTYPE_UINT8:
        ((uint8_t *)c->dst)[i] = (uint8_t)lrint(v < 0 ? 0 : v > 255 ? 255 : v);
        break;
    case NOVA_DTYPE_INT16:
        ((int16_t *)c->dst)[i] = (int16_t)lrint(v < -32768  ? -32768
                                                : v > 32767 ? 32767
                                                            : v);
        break;
    default: ((float *)c->dst)[i] = (float)v; break;
    }
}

static void resample_slices(void *vctx, size_t begin, size_t end, int thread)
{
    const struct resample_ctx *c = vctx;
    size_t inx = c->in[0], iny = c->in[1];
    for (size_t z = begin; z < end; z++)
        for (size_t y = 0; y < c->out[1]; y++) {
            size_t o = (z * c->out[1] + y) * c->out[0];
            size_t z0 = c->ax[2].i0[z], y0 = c->ax[1].i0[y];
            if (!c->linear) {
                size_t base = (z0 * iny + y0) * inx;
                if (c->dtype == NOVA_DTYPE_UINT8) {
                    const uint8_t *s = (const uint8_t *)c->src + base;
                    uint8_t *d = (uint8_t *)c->dst + o;
                    for (size_t x = 0; x < c->out[0]; x++)
                        d[x] = s[c->ax[0].i0[x]];
                } else {
                    for (size_t x = 0; x < c->out[0]; x++)
                        put(c, o + x, sample(c, base + c->ax[0].i0[x]));
                }
                continue;
            }
            double wz = c->ax[2].w[z], wy = c->ax[1].w[y];
            size_t z1 = z0 + (c->in[2] > 1), y1 = y0 + (iny > 1);
            size_t r00 = (z0 * iny + y0) * inx, r01 = (z0 * iny + y1) * inx;
            size_t r10 = (z1 * iny + y0) * inx, r11 = (z1 * iny + y1) * inx;
            for (size_t x = 0; x < c->out[0]; x++) {
                size_t x0 = c->ax[0].i0[x], x1 = x0 + (inx > 1);
                double wx = c->ax[0].w[x];
                double a =
                    sample(c, r00 + x0) * (1 - wx) + sample(c, r00 + x1) * wx;
                double b =
                    sample(c, r01 + x0) * (1 - wx) + sample(c, r01 + x1) * wx;
                double cc =
                    sample(c, r10 + x0) * (1 - wx) + sample(c, r10 + x1) * wx;
                double d =
                    sample(c, r11 + x0) * (1 - wx) + sample(c, r11 + x1) * wx;
                double lo = a * (1 - wy) + b * wy, hi = cc * (1 - wy) + d * wy;
                put(c, o + x, lo * (1 - wz) + hi * wz);
            }
        }
}

NovaVolume *nova_imgproc_resample(NovaError **error, NovaPool *pool,
                                  const NovaVolume *src, const size_t dims[3],
                                  const double spacing_mm[3], NovaInterp interp)
{
    size_t in[3];
    nova_volume_get_dims(src, in);
    for (int a = 0; a < 3; a++)
        if (dims[a] == 0 || in[a] == 0 || !(spacing_mm[a] > 0)) {
            nova_error_set(error, NOVA_ERROR_INVALID, "invalid argument",
                           "resample axis %d: %zu -> %zu voxels at %g mm", a,
                           in[a], dims[a], spacing_mm[a]);
            return NULL;
        }
    const NovaGeometry *g = nova_volume_get_geometry(src);
    NovaGeometry out_g = *g;
    double shift[3];
    for (int a = 0; a < 3; a++) {
        /* Voxel corners coincide: the first output centre sits half an
         * output voxel inside the input box. */
        shift[a] = 0.5 * spacing_mm[a] - 0.5 * g->spacing[a];
        out_g.spacing[a] = spacing_mm[a];
    }
    for (int r = 0; r < 3; r++)
        for (int a = 0; a < 3; a++)
            out_g.origin[r] += g->direction[r * 3 + a] * shift[a];
    NovaDtype dtype = nova_volume_get_dtype(src);
    NovaVolume *out = nova_volume_create(error, dtype, dims, &out_g);
    if (!out)
        return NULL;
    struct resample_ctx c = {nova_volume_get_const_data(src),
                             nova_volume_get_data(out),
                             dtype,
                             {in[0], in[1], in[2]},
                             {dims[0], dims[1], dims[2]},
                             {{NULL, NULL}, {NULL, NULL}, {NULL, NULL}},
                             interp == NOVA_INTERP_LINEAR};
    bool ok = true;
    for (int a = 0; a < 3 && ok; a++) {
        c.ax[a].i0 = nova_malloc_array(error, dims[a], sizeof(size_t));
        c.ax[a].w = nova_malloc_array(error, dims[a], sizeof(float));
        ok = c.ax[a].i0 && c.ax[a].w;
        for (size_t i = 0; ok && i < dims[a]; i++) {
            double x = ((double)i + 0.5) * spacing_mm[a] / g->spacing[a] - 0.5;
            if (x < 0)
                x = 0;
            if (x > (double)(in[a] - 1))
                x = (double)(in[a] - 1);
            if (!c.linear) {
                c.ax[a].i0[i] = (size_t)floor(x + 0.5);
                c.ax[a].w[i] = 0;
            } else {
                size_t i0 = (size_t)floor(x);
                if (in[a] > 1 && i0 > in[a] - 2)
                    i0 = in[a] - 2;
                if (in[a] == 1)
                    i0 = 0;
                c.ax[a].i0[i] = i0;
                c.ax[a].w[i] = (float)(in[a] > 1 ? x - (double)i0 : 0.0);
            }
        }
    }
    if (ok)
        nova_pool_parallel_for(pool, dims[2], resample_slices, &c);
    for (int a = 0; a < 3; a++) {
        nova_free(c.ax[a].i0);
        nova_free(c.ax[a].w);
    }
    if (!ok) {
        nova_volume_unref(out);
        return NULL;
    }
    return out;
}
