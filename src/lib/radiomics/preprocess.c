/*
 * preprocess.c - IBSI 1 chapter 2 image processing: input checks,
 * interpolation, re-segmentation and discretisation, giving an NovaRoi.
 *
 * Interpolation follows IBSI 1 section 2.4 and the "notes on interpolation"
 * of section 5.2: the new grid has ceil(n * s_old / s_new) voxels along an
 * axis and its centre coincides with the centre of the original grid, so
 * voxel j of the new grid sits at original (continuous) index
 *   ((n_old - 1) - (n_new - 1) * s_new / s_old) / 2 + j * s_new / s_old.
 * Intensities outside the original grid take the nearest boundary value.
 * The image is interpolated (tri)linearly or with a cubic B-spline and then
 * optionally rounded; the 0/1 mask is interpolated linearly and voxels
 * whose value reaches the partial-volume threshold (0.5) are kept.  Only a
 * box around the mask (plus the 1 cm^3 local-intensity margin) is sampled.
 *
 * Re-segmentation (2.5) keeps intensity-mask voxels inside the range and,
 * after that, inside mean +- k sd of the remaining voxels.  Discretisation
 * (2.7): fixed bin number X_d = floor(N_g (X - X_min)/(X_max - X_min)) + 1
 * (X_max maps to N_g); fixed bin size X_d = floor((X - X_min)/w_b) + 1 with
 * X_min the lower re-segmentation bound when there is one.
 */
#include "radiomics_internal.h"

#include <string.h>

/* Radius of a 1 cm^3 sphere in mm (IBSI 1 section 3.2). */
#define PEAK_RADIUS_MM 6.2035049089940

static double voxel_value(const void *data, NovaDtype dtype, size_t i)
{
    switch (dtype) {
    case NOVA_DTYPE_UINT8: return ((const uint8_t *)data)[i];
    case NOVA_DTYPE_INT16: return ((const int16_t *)data)[i];
    default: return ((const float *)data)[i];
    }
}

static bool check_inputs(NovaError **error, const NovaVolume *image,
                         const NovaVolume *mask, int label,
                         const NovaRadiomicsConfig *config)
{
    if (!image || !mask || !config)
        return nova_error_set(error, NOVA_ERROR_INVALID, "invalid argument",
                              "radiomics needs an image, a mask and a "
                              "configuration");
    size_t di[3], dm[3];
    nova_volume_get_dims(image, di);
    nova_volume_get_dims(mask, dm);
    const NovaGeometry *gi = nova_volume_get_geometry(image);
    const NovaGeometry *gm = nova_volume_get_geometry(mask);
    if (di[0] != dm[0] || di[1] != dm[1] || di[2] != dm[2])
        return nova_error_set(
            error, NOVA_ERROR_INVALID, "grid mismatch",
            "mask and image are on different grids: image %zux%zux%zu "
            "voxels, mask %zux%zux%zu",
            di[0], di[1], di[2], dm[0], dm[1], dm[2]);
    for (int a = 0; a < 3; a++) {
        if (fabs(gi->spacing[a] - gm->spacing[a]) > 1e-3 ||
            fabs(gi->origin[a] - gm->origin[a]) > 1e-3)
            return nova_error_set(
                error, NOVA_ERROR_INVALID, "grid mismatch",
                "mask and image are on different grids: image spacing "
                "%g,%g,%g origin %g,%g,%g mm; mask spacing %g,%g,%g origin "
                "%g,%g,%g mm",
                gi->spacing[0], gi->spacing[1], gi->spacing[2], gi->origin[0],
                gi->origin[1], gi->origin[2], gm->spacing[0], gm->spacing[1],
                gm->spacing[2], gm->origin[0], gm->origin[1], gm->origin[2]);
        if (!(gi->spacing[a] > 0) || !isfinite(gi->spacing[a]))
            return nova_error_set(error, NOVA_ERROR_INVALID, "bad geometry",
                                  "image spacing along axis %d is %g", a,
                                  gi->spacing[a]);
    }
    for (int e = 0; e < 9; e++)
        if (fabs(gi->direction[e] - gm->direction[e]) > 1e-4)
            return nova_error_set(error, NOVA_ERROR_INVALID, "grid mismatch",
                                  "mask and image are on different grids: "
                                  "direction cosines differ");
    if (label < 0)
        return nova_error_set(error, NOVA_ERROR_INVALID, "invalid label",
                              "mask label %d is negative", label);
    if (config->interpolation != NOVA_RADIOMICS_INTERP_NONE)
        for (int a = 0; a < 3; a++)
            if (!isfinite(config->spacing_mm[a]))
                return nova_error_set(error, NOVA_ERROR_INVALID,
                                      "invalid configuration",
                                      "interpolation spacing is not finite");
    if (config->discretisation == NOVA_RADIOMICS_DISCRETISE_FBN &&
        config->bin_count < 1)
        return nova_error_set(error, NOVA_ERROR_INVALID,
                              "invalid configuration",
                              "fixed bin number needs at least one bin");
    if (config->discretisation == NOVA_RADIOMICS_DISCRETISE_FBS &&
        !(config->bin_width > 0))
        return nova_error_set(error, NOVA_ERROR_INVALID,
                              "invalid configuration",
                              "fixed bin size needs a positive width");
    if (config->ivh_discretisation == NOVA_RADIOMICS_DISCRETISE_FBN &&
        config->ivh_bin_count < 1)
        return nova_error_set(error, NOVA_ERROR_INVALID,
                              "invalid configuration",
                              "IVH fixed bin number needs at least one bin");
    if (config->ivh_discretisation == NOVA_RADIOMICS_DISCRETISE_FBS &&
        !(config->ivh_bin_width > 0))
        return nova_error_set(error, NOVA_ERROR_INVALID,
                              "invalid configuration",
                              "IVH fixed bin size needs a positive width");

    size_t n = nova_volume_get_voxel_count(image);
    if (nova_volume_get_dtype(image) == NOVA_DTYPE_FLOAT32) {
        const float *v = nova_volume_get_const_data(image);
        for (size_t i = 0; i < n; i++)
            if (!isfinite(v[i]))
                return nova_error_set(
                    error, NOVA_ERROR_INVALID, "invalid image",
                    "image voxel (%zu,%zu,%zu) is %s", i % di[0],
                    i / di[0] % di[1], i / (di[0] * di[1]),
                    isnan(v[i]) ? "NaN" : "infinite");
    }
    return true;
}

/* One axis of the resampling: output j of [0, count) reads original
 * continuous index start + (first + j) * step. */
typedef struct {
    size_t n_old;
    double start, step;
    size_t first, count;
    double spacing;
} Axis;

/* Cubic B-spline prefilter along one line (Unser 1999, mirror boundary):
 * pole z = sqrt(3) - 2, gain 6. */
static void bspline_prefilter_line(double *c, size_t n, size_t stride)
{
    if (n < 2)
        return;
    const double z = sqrt(3.0) - 2.0;
    /* Causal initialisation, truncated sum (|z|^k below 1e-12). */
    double sum = c[0], zk = z;
    size_t horizon = n < 30 ? n : 30;
    for (size_t k = 1; k < horizon; k++) {
        sum += zk * c[k * stride];
        zk *= z;
    }
    c[0] = sum;
    for (size_t k = 1; k < n; k++)
        c[k * stride] += z * c[(k - 1) * stride];
    c[(n - 1) * stride] =
        (z / (z * z - 1.0)) * (c[(n - 1) * stride] + z * c[(n - 2) * stride]);
    for (size_t k = n - 1; k-- > 0;)
        c[k * stride] = z * (c[(k + 1) * stride] - c[k * stride]);
    for (size_t k = 0; k < n; k++)
        c[k * stride] *= 6.0;
}

static void bspline_weights(double t, double w[4])
{
    /* t in [0,1): weights of samples floor-1 .. floor+2. */
    double t2 = t * t, t3 = t2 * t;
    w[0] = (1 - 3 * t + 3 * t2 - t3) / 6.0;
    w[1] = (4 - 6 * t2 + 3 * t3) / 6.0;
    w[2] = (1 + 3 * t + 3 * t2 - 3 * t3) / 6.0;
    w[3] = t3 / 6.0;
}

/* The selected mask voxels (1 where mask == label, or non-zero for label
 * 0), with the empty-mask and absent-label errors. */
static uint8_t *select_mask(NovaError **error, const NovaVolume *mask,
                            int label)
{
    size_t n = nova_volume_get_voxel_count(mask);
    NovaDtype dtype = nova_volume_get_dtype(mask);
    const void *data = nova_volume_get_const_data(mask);
    uint8_t *sel = nova_malloc(error, n ? n : 1);
    if (!sel)
        return NULL;
    size_t hits = 0;
    double present[8];
    int n_present = 0;
    bool more = false;
    for (size_t i = 0; i < n; i++) {
        double v = voxel_value(data, dtype, i);
        if (v != floor(v) || !isfinite(v)) {
            nova_free(sel);
            nova_error_set(error, NOVA_ERROR_INVALID, "invalid mask",
                           "mask voxel %zu is %g, not an integer label", i, v);
            return NULL;
        }
        sel[i] = label ? v == label : v != 0;
        hits += sel[i];
        if (v != 0 && !sel[i]) {
            bool seen = false;
            for (int k = 0; k < n_present; k++)
                seen = seen || present[k] == v;
            if (!seen && n_present < 8)
                present[n_present++] = v;
            else if (!seen)
                more = true;
        }
    }
    if (hits > 0)
        return sel;
    nova_free(sel);
    if (n_present == 0) {
        nova_error_set(error, NOVA_ERROR_INVALID, "empty mask",
                       "the mask has no non-zero voxel");
        return NULL;
    }
    char list[160] = "";
    size_t len = 0;
    for (int k = 0; k < n_present; k++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%g",
                                k ? ", " : "", present[k]);
    nova_error_set(error, NOVA_ERROR_INVALID, "label absent",
                   "mask label %d is absent; labels present: %s%s", label, list,
                   more ? ", ..." : "");
    return NULL;
}

static size_t clampi(long v, size_t n)
{
    return v < 0 ? 0 : (size_t)v >= n ? n - 1 : (size_t)v;
}

void nova__roi_free(NovaRoi *roi)
{
    nova_free(roi->image);
    nova_free(roi->morph);
    nova_free(roi->roi);
    nova_free(roi->grey);
    nova_free(roi->values);
    nova_free(roi->ivh_index);
    memset(roi, 0, sizeof *roi);
}

bool nova__roi_build(NovaError **error, const NovaVolume *image,
                     const NovaVolume *mask, int label,
                     const NovaRadiomicsConfig *config, NovaRoi *roi)
{
    memset(roi, 0, sizeof *roi);
    if (!check_inputs(error, image, mask, label, config))
        return false;
    size_t dims[3];
    nova_volume_get_dims(image, dims);
    const NovaGeometry *geometry = nova_volume_get_geometry(image);
    uint8_t *m = select_mask(error, mask, label);
    if (!m)
        return false;
    const void *img = nova_volume_get_const_data(image);
    NovaDtype dtype = nova_volume_get_dtype(image);
    size_t nxy = dims[0] * dims[1];

    /* Bounding box of the mask in original indices. */
    size_t lo[3] = {dims[0], dims[1], dims[2]}, hi[3] = {0, 0, 0};
    for (size_t z = 0; z < dims[2]; z++)
        for (size_t y = 0; y < dims[1]; y++)
            for (size_t x = 0; x < dims[0]; x++) {
                if (!m[z * nxy + y * dims[0] + x])
                    continue;
                size_t p[3] = {x, y, z};
                for (int a = 0; a < 3; a++) {
                    if (p[a] < lo[a])
                        lo[a] = p[a];
                    if (p[a] > hi[a])
                        hi[a] = p[a];
                }
            }

    bool interpolate = config->interpolation != NOVA_RADIOMICS_INTERP_NONE;
    Axis ax[3];
    for (int a = 0; a < 3; a++) {
        Axis *A = &ax[a];
        double s_old = geometry->spacing[a];
        A->n_old = dims[a];
        if (interpolate && config->spacing_mm[a] > 0) {
            double s_new = config->spacing_mm[a];
            double n_new_real = (double)dims[a] * s_old / s_new;
            /* Ceiling (IBSI); a hair of tolerance so that 100.0000000001
             * from rounding does not become 101. */
            size_t n_new = (size_t)ceil(n_new_real - 1e-9);
            if (n_new < 1)
                n_new = 1;
            A->step = s_new / s_old;
            A->start =
                ((double)(dims[a] - 1) - (double)(n_new - 1) * A->step) / 2.0;
            A->spacing = s_new;
            /* Sample only around the mask: the interpolated mask is zero
             * farther than one original voxel from it, and the local
             * intensity sphere reaches PEAK_RADIUS_MM beyond. */
            long margin = (long)ceil(PEAK_RADIUS_MM / s_new) + 2;
            long j0 = (long)floor(((double)lo[a] - 1.0 - A->start) / A->step) -
                      margin;
            long j1 =
                (long)ceil(((double)hi[a] + 1.0 - A->start) / A->step) + margin;
            if (j0 < 0)
                j0 = 0;
            if (j1 > (long)n_new - 1)
                j1 = (long)n_new - 1;
            A->first = (size_t)j0;
            A->count = (size_t)(j1 - j0 + 1);
        } else {
            A->step = 1.0;
            A->start = 0.0;
            A->spacing = s_old;
            long margin = (long)ceil(PEAK_RADIUS_MM / s_old) + 1;
            long j0 = (long)lo[a] - margin, j1 = (long)hi[a] + margin;
            if (j0 < 0)
                j0 = 0;
            if (j1 > (long)dims[a] - 1)
                j1 = (long)dims[a] - 1;
            A->first = (size_t)j0;
            A->count = (size_t)(j1 - j0 + 1);
        }
    }
    roi->nx = ax[0].count;
    roi->ny = ax[1].count;
    roi->nz = ax[2].count;
    roi->n = roi->nx * roi->ny * roi->nz;
    for (int a = 0; a < 3; a++)
        roi->spacing[a] = ax[a].spacing;

    roi->image = nova_malloc_array(error, roi->n, sizeof *roi->image);
    roi->morph = nova_calloc(error, roi->n, 1);
    roi->roi = nova_calloc(error, roi->n, 1);
    roi->grey = nova_calloc(error, roi->n, sizeof *roi->grey);
    if (!roi->image || !roi->morph || !roi->roi || !roi->grey)
        goto fail;

    /* Original-index source region that the box reads (with the cubic
     * spline's support and a margin for its prefilter). */
    size_t src_lo[3], src_hi[3];
    for (int a = 0; a < 3; a++) {
        double p0 = ax[a].start + (double)ax[a].first * ax[a].step;
        double p1 = p0 + (double)(ax[a].count - 1) * ax[a].step;
        long margin =
            config->interpolation == NOVA_RADIOMICS_INTERP_CUBIC ? 24 : 2;
        src_lo[a] = clampi((long)floor(p0) - margin, dims[a]);
        src_hi[a] = clampi((long)ceil(p1) + margin, dims[a]);
    }
    size_t sx = src_hi[0] - src_lo[0] + 1, sy = src_hi[1] - src_lo[1] + 1,
           sz = src_hi[2] - src_lo[2] + 1;
    size_t sn = sx * sy * sz;
    double *src = nova_malloc_array(error, sn, sizeof *src);
    double *srcm = nova_malloc_array(error, sn, sizeof *srcm);
    if (!src || !srcm) {
        nova_free(src);
        nova_free(srcm);
        goto fail;
    }
    for (size_t z = 0; z < sz; z++)
        for (size_t y = 0; y < sy; y++)
            for (size_t x = 0; x < sx; x++) {
                size_t o = (z + src_lo[2]) * nxy + (y + src_lo[1]) * dims[0] +
                           x + src_lo[0];
                size_t d = (z * sy + y) * sx + x;
                src[d] = voxel_value(img, dtype, o);
                srcm[d] = m[o];
            }
    if (config->interpolation == NOVA_RADIOMICS_INTERP_CUBIC) {
        /* Only axes that are resampled are filtered: a kept axis is
         * sampled at its knots, where the spline interpolates. */
        if (config->spacing_mm[0] > 0)
            for (size_t z = 0; z < sz; z++)
                for (size_t y = 0; y < sy; y++)
                    bspline_prefilter_line(src + (z * sy + y) * sx, sx, 1);
        if (config->spacing_mm[1] > 0)
            for (size_t z = 0; z < sz; z++)
                for (size_t x = 0; x < sx; x++)
                    bspline_prefilter_line(src + z * sy * sx + x, sy, sx);
        if (config->spacing_mm[2] > 0)
            for (size_t y = 0; y < sy; y++)
                for (size_t x = 0; x < sx; x++)
                    bspline_prefilter_line(src + y * sx + x, sz, sx * sy);
    }

    /* Sample. */
    for (size_t k = 0; k < roi->nz; k++) {
        double pz = ax[2].start + (double)(ax[2].first + k) * ax[2].step -
                    (double)src_lo[2];
        for (size_t j = 0; j < roi->ny; j++) {
            double py = ax[1].start + (double)(ax[1].first + j) * ax[1].step -
                        (double)src_lo[1];
            for (size_t i = 0; i < roi->nx; i++) {
                double px = ax[0].start +
                            (double)(ax[0].first + i) * ax[0].step -
                            (double)src_lo[0];
                size_t o = (k * roi->ny + j) * roi->nx + i;
                double p[3] = {px, py, pz};
                size_t sd[3] = {sx, sy, sz};
                /* Linear weights (also for the mask). */
                size_t i0[3], i1[3];
                double f[3];
                for (int a = 0; a < 3; a++) {
                    double fl = floor(p[a]);
                    f[a] = p[a] - fl;
                    i0[a] = clampi((long)fl, sd[a]);
                    i1[a] = clampi((long)fl + 1, sd[a]);
                }
#define AT(arr, X, Y, Z) arr[((Z)*sy + (Y)) * sx + (X)]
#define TRILINEAR(arr)                                                         \
    ((1 - f[2]) * ((1 - f[1]) * ((1 - f[0]) * AT(arr, i0[0], i0[1], i0[2]) +   \
                                 f[0] * AT(arr, i1[0], i0[1], i0[2])) +        \
                   f[1] * ((1 - f[0]) * AT(arr, i0[0], i1[1], i0[2]) +         \
                           f[0] * AT(arr, i1[0], i1[1], i0[2]))) +             \
     f[2] * ((1 - f[1]) * ((1 - f[0]) * AT(arr, i0[0], i0[1], i1[2]) +         \
                           f[0] * AT(arr, i1[0], i0[1], i1[2])) +              \
             f[1] * ((1 - f[0]) * AT(arr, i0[0], i1[1], i1[2]) +               \
                     f[0] * AT(arr, i1[0], i1[1], i1[2]))))
                double value, mval;
                if (!interpolate) {
                    value = AT(src, i0[0], i0[1], i0[2]);
                    mval = AT(srcm, i0[0], i0[1], i0[2]);
                } else {
                    mval = TRILINEAR(srcm);
                    if (config->interpolation == NOVA_RADIOMICS_INTERP_LINEAR) {
                        value = TRILINEAR(src);
                    } else {
                        double w[3][4];
                        long base[3];
                        for (int a = 0; a < 3; a++) {
                            double fl = floor(p[a]);
                            base[a] = (long)fl - 1;
                            bspline_weights(p[a] - fl, w[a]);
                            if (config->spacing_mm[a] <= 0) {
                                /* Kept axis: sample the knot itself. */
                                base[a] = (long)fl;
                                w[a][0] = 1;
                                w[a][1] = w[a][2] = w[a][3] = 0;
                            }
                        }
                        value = 0;
                        for (int c = 0; c < 4; c++) {
                            if (w[2][c] == 0)
                                continue;
                            size_t zz = clampi(base[2] + c, sz);
                            for (int b = 0; b < 4; b++) {
                                if (w[1][b] == 0)
                                    continue;
                                size_t yy = clampi(base[1] + b, sy);
                                double row = 0;
                                for (int a = 0; a < 4; a++)
                                    row += w[0][a] * AT(src,
                                                        clampi(base[0] + a, sx),
                                                        yy, zz);
                                value += w[2][c] * w[1][b] * row;
                            }
                        }
                    }
                    if (config->round_intensities)
                        value = nearbyint(value);
                }
#undef TRILINEAR
#undef AT
                roi->image[o] = value;
                /* IBSI 1 2.4: the interpolated mask is rounded at the
                 * partial volume fraction; the small tolerance keeps an
                 * exact 0.5 that arithmetic made 0.49999999 (section 5.2
                 * warns about exactly this). */
                roi->morph[o] = interpolate
                                    ? mval >= config->mask_partial_volume - 1e-9
                                    : mval > 0.5;
            }
        }
    }
    nova_free(src);
    nova_free(srcm);

    /* Re-segmentation (IBSI 1 section 2.5). */
    size_t n_morph = 0, n_roi = 0;
    for (size_t i = 0; i < roi->n; i++) {
        if (!roi->morph[i])
            continue;
        n_morph++;
        double v = roi->image[i];
        bool keep = !config->range_enabled ||
                    (v >= config->range_min && v <= config->range_max);
        roi->roi[i] = keep;
        n_roi += keep;
    }
    if (n_morph == 0) {
        nova_error_set(error, NOVA_ERROR_INVALID, "empty mask",
                       "the mask is empty after interpolation to %g x %g x "
                       "%g mm",
                       roi->spacing[0], roi->spacing[1], roi->spacing[2]);
        goto fail;
    }
    if (config->outlier_sigma > 0 && n_roi > 0) {
        double sum = 0, sum2 = 0;
        for (size_t i = 0; i < roi->n; i++)
            if (roi->roi[i])
                sum += roi->image[i];
        double mean = sum / (double)n_roi;
        for (size_t i = 0; i < roi->n; i++)
            if (roi->roi[i])
                sum2 += (roi->image[i] - mean) * (roi->image[i] - mean);
        double sd = sqrt(sum2 / (double)n_roi);
        double lo_v = mean - config->outlier_sigma * sd,
               hi_v = mean + config->outlier_sigma * sd;
        n_roi = 0;
        for (size_t i = 0; i < roi->n; i++) {
            if (!roi->roi[i])
                continue;
            if (roi->image[i] < lo_v || roi->image[i] > hi_v)
                roi->roi[i] = 0;
            else
                n_roi++;
        }
    }
    if (n_roi == 0) {
        nova_error_set(error, NOVA_ERROR_INVALID, "empty mask",
                       "no mask voxel remains after re-segmentation");
        goto fail;
    }
    roi->n_morph = n_morph;
    roi->n_roi = n_roi;

    roi->values = nova_malloc_array(error, n_roi, sizeof *roi->values);
    roi->ivh_index = nova_malloc_array(error, n_roi, sizeof *roi->ivh_index);
    if (!roi->values || !roi->ivh_index)
        goto fail;
    double vmin = INFINITY, vmax = -INFINITY;
    for (size_t i = 0, k = 0; i < roi->n; i++)
        if (roi->roi[i]) {
            double v = roi->image[i];
            roi->values[k++] = v;
            vmin = v < vmin ? v : vmin;
            vmax = v > vmax ? v : vmax;
        }

    /* Discretisation for texture and the intensity histogram. */
    int ng = 0;
    for (size_t i = 0; i < roi->n; i++) {
        if (!roi->roi[i])
            continue;
        double v = roi->image[i];
        double d;
        switch (config->discretisation) {
        case NOVA_RADIOMICS_DISCRETISE_FBN:
            d = vmax > vmin ? floor((double)config->bin_count * (v - vmin) /
                                    (vmax - vmin)) +
                                  1
                            : 1;
            if (d > config->bin_count)
                d = config->bin_count;
            break;
        case NOVA_RADIOMICS_DISCRETISE_FBS: {
            double base = config->range_enabled && isfinite(config->range_min)
                              ? config->range_min
                              : vmin;
            d = floor((v - base) / config->bin_width) + 1;
            break;
        }
        default:
            d = v;
            if (d != floor(d) || d < 1) {
                nova_error_set(error, NOVA_ERROR_INVALID,
                               "needs discretisation",
                               "intensity %g in the mask is not an integer "
                               ">= 1; set a discretisation",
                               v);
                goto fail;
            }
            break;
        }
        if (d > 1e6) {
            nova_error_set(error, NOVA_ERROR_RANGE, "too many grey levels",
                           "discretisation gives grey level %g (over "
                           "1000000); use a larger bin or fewer bins",
                           d);
            goto fail;
        }
        roi->grey[i] = (int)d;
        if ((int)d > ng)
            ng = (int)d;
    }
    roi->ng = config->discretisation == NOVA_RADIOMICS_DISCRETISE_FBN
                  ? config->bin_count
                  : ng;

    /* Intensity-volume histogram discretisation (IBSI 1 section 4.5). */
    switch (config->ivh_discretisation) {
    case NOVA_RADIOMICS_DISCRETISE_NONE: {
        /* Discrete calibrated intensities: G is the re-segmentation range
         * (its open end replaced by the ROI extreme), step 1. */
        double g0 = config->range_enabled && isfinite(config->range_min)
                        ? config->range_min
                        : vmin;
        double g1 = config->range_enabled && isfinite(config->range_max)
                        ? config->range_max
                        : vmax;
        roi->ivh_min = g0;
        roi->ivh_step = 1;
        roi->ivh_levels = (int)floor(g1 - g0 + 1e-9) + 1;
        for (size_t k = 0; k < n_roi; k++)
            roi->ivh_index[k] = (int)floor(roi->values[k] - g0 + 1e-9);
        break;
    }
    case NOVA_RADIOMICS_DISCRETISE_FBS: {
        /* Continuous calibrated: bins of width w from the lower bound,
         * replaced by their centres; G = [X_min + w/2, X_max - w/2]. */
        double w = config->ivh_bin_width;
        double x0 = config->range_enabled && isfinite(config->range_min)
                        ? config->range_min
                        : vmin;
        double x1 = config->range_enabled && isfinite(config->range_max)
                        ? config->range_max
                        : vmax;
        roi->ivh_min = x0 + 0.5 * w;
        roi->ivh_step = w;
        roi->ivh_levels = (int)floor((x1 - x0) / w - 1 + 1e-9) + 1;
        for (size_t k = 0; k < n_roi; k++)
            roi->ivh_index[k] = (int)floor((roi->values[k] - x0) / w);
        break;
    }
    case NOVA_RADIOMICS_DISCRETISE_FBN: {
        /* Arbitrary units: N_g bins over the ROI range, G = [1, N_g]. */
        int nb = config->ivh_bin_count;
        roi->ivh_min = 1;
        roi->ivh_step = 1;
        roi->ivh_levels = nb;
        for (size_t k = 0; k < n_roi; k++) {
            double v = roi->values[k];
            int d =
                vmax > vmin ? (int)floor(nb * (v - vmin) / (vmax - vmin)) : 0;
            roi->ivh_index[k] = d >= nb ? nb - 1 : d;
        }
        break;
    }
    }
    if (roi->ivh_levels < 1 || roi->ivh_levels > 10000000) {
        nova_error_set(error, NOVA_ERROR_RANGE, "bad IVH range",
                       "the intensity-volume histogram range has %d levels",
                       roi->ivh_levels);
        goto fail;
    }
    nova_free(m);
    return true;
fail:
    nova_free(m);
    nova__roi_free(roi);
    return false;
}
