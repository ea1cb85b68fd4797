/*
 * intensity.c - IBSI 1 sections 3.2-3.5: local intensity, intensity-based
 * statistics, intensity histogram and intensity-volume histogram features.
 *
 * Percentiles use linear interpolation between closest ranks (Hyndman and
 * Fan type 7), the convention of the IBSI reference implementations; on the
 * digital phantom every percentile falls on a sample.
 */
#include "radiomics_internal.h"

#include <stdlib.h>
#include <string.h>

#define PEAK_RADIUS_MM 6.2035049089940

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double nova__percentile_sorted(const double *sorted, size_t n, double q)
{
    if (n == 0)
        return NAN;
    double pos = q * (double)(n - 1);
    size_t i = (size_t)floor(pos);
    double f = pos - (double)i;
    if (i + 1 >= n)
        return sorted[n - 1];
    return sorted[i] + f * (sorted[i + 1] - sorted[i]);
}

#define ADD(id, v)                                                             \
    do {                                                                       \
        if (!nova__features_add(error, features, NOVA__F_##id,                 \
                                NOVA__AGG_3D_VOLUME, (v)))                     \
            goto fail;                                                         \
    } while (0)

/* ------------------------------------------------------- local intensity */

bool nova__local_intensity_features(NovaError **error, const NovaRoi *roi,
                                    NovaRadiomicsFeatures *features)
{
    /* Offsets of voxel centres within the 1 cm^3 sphere (IBSI 1 3.2). */
    int rx = (int)floor(PEAK_RADIUS_MM / roi->spacing[0]);
    int ry = (int)floor(PEAK_RADIUS_MM / roi->spacing[1]);
    int rz = (int)floor(PEAK_RADIUS_MM / roi->spacing[2]);
    size_t cap =
        (size_t)(2 * rx + 1) * (size_t)(2 * ry + 1) * (size_t)(2 * rz + 1);
    int(*off)[3] = nova_malloc_array(error, cap, sizeof *off);
    if (!off)
        return false;
    size_t n_off = 0;
    for (int dz = -rz; dz <= rz; dz++)
        for (int dy = -ry; dy <= ry; dy++)
            for (int dx = -rx; dx <= rx; dx++) {
                double d2 = pow(dx * roi->spacing[0], 2) +
                            pow(dy * roi->spacing[1], 2) +
                            pow(dz * roi->spacing[2], 2);
                if (d2 <= PEAK_RADIUS_MM * PEAK_RADIUS_MM) {
                    off[n_off][0] = dx;
                    off[n_off][1] = dy;
                    off[n_off][2] = dz;
                    n_off++;
                }
            }
    double vmax = -INFINITY;
    for (size_t i = 0; i < roi->n; i++)
        if (roi->roi[i] && roi->image[i] > vmax)
            vmax = roi->image[i];
    double local_peak = -INFINITY, global_peak = -INFINITY;
    for (size_t z = 0; z < roi->nz; z++)
        for (size_t y = 0; y < roi->ny; y++)
            for (size_t x = 0; x < roi->nx; x++) {
                size_t i = (z * roi->ny + y) * roi->nx + x;
                if (!roi->roi[i])
                    continue;
                double sum = 0;
                size_t count = 0;
                for (size_t k = 0; k < n_off; k++) {
                    long xx = (long)x + off[k][0], yy = (long)y + off[k][1],
                         zz = (long)z + off[k][2];
                    if (xx < 0 || yy < 0 || zz < 0 || xx >= (long)roi->nx ||
                        yy >= (long)roi->ny || zz >= (long)roi->nz)
                        continue;
                    sum += roi->image[((size_t)zz * roi->ny + (size_t)yy) *
                                          roi->nx +
                                      (size_t)xx];
                    count++;
                }
                double mean = sum / (double)count;
                if (mean > global_peak)
                    global_peak = mean;
                if (roi->image[i] == vmax && mean > local_peak)
                    local_peak = mean;
            }
    nova_free(off);
    ADD(loc_int_local_peak, local_peak);
    ADD(loc_int_global_peak, global_peak);
    return true;
fail:
    return false;
}

/* ---------------------------------------------------- shared statistics */

typedef struct {
    double mean, variance, skewness, kurtosis, median, minimum, p10, p90,
        maximum, iqr, range, mad, rmad, medad, cov, qcod, energy, rms;
} Stats;

/* Statistics of values (sorted in place). */
static void compute_stats(double *v, size_t n, Stats *s)
{
    qsort(v, n, sizeof *v, cmp_double);
    double sum = 0, energy = 0;
    for (size_t i = 0; i < n; i++) {
        sum += v[i];
        energy += v[i] * v[i];
    }
    double mean = sum / (double)n;
    double m2 = 0, m3 = 0, m4 = 0, mad = 0;
    for (size_t i = 0; i < n; i++) {
        double d = v[i] - mean;
        m2 += d * d;
        m3 += d * d * d;
        m4 += d * d * d * d;
        mad += fabs(d);
    }
    m2 /= (double)n;
    m3 /= (double)n;
    m4 /= (double)n;
    s->mean = mean;
    s->variance = m2;
    /* IBSI: skewness and kurtosis are 0 for a flat distribution. */
    s->skewness = m2 > 0 ? m3 / pow(m2, 1.5) : 0;
    s->kurtosis = m2 > 0 ? m4 / (m2 * m2) - 3.0 : 0;
    s->median = nova__percentile_sorted(v, n, 0.5);
    s->minimum = v[0];
    s->maximum = v[n - 1];
    s->p10 = nova__percentile_sorted(v, n, 0.10);
    s->p90 = nova__percentile_sorted(v, n, 0.90);
    double p25 = nova__percentile_sorted(v, n, 0.25);
    double p75 = nova__percentile_sorted(v, n, 0.75);
    s->iqr = p75 - p25;
    s->range = v[n - 1] - v[0];
    s->mad = mad / (double)n;
    /* Robust MAD over the voxels within [P10, P90]. */
    double rsum = 0;
    size_t rn = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] >= s->p10 && v[i] <= s->p90) {
            rsum += v[i];
            rn++;
        }
    double rmean = rn ? rsum / (double)rn : 0, rmad = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] >= s->p10 && v[i] <= s->p90)
            rmad += fabs(v[i] - rmean);
    s->rmad = rn ? rmad / (double)rn : 0;
    double medad = 0;
    for (size_t i = 0; i < n; i++)
        medad += fabs(v[i] - s->median);
    s->medad = medad / (double)n;
    s->cov = sqrt(m2) / mean;
    s->qcod = (p75 - p25) / (p75 + p25);
    s->energy = energy;
    s->rms = sqrt(energy / (double)n);
}

bool nova__statistics_features(NovaError **error, const NovaRoi *roi,
                               NovaRadiomicsFeatures *features)
{
    double *v = nova_malloc_array(error, roi->n_roi, sizeof *v);
    if (!v)
        return false;
    memcpy(v, roi->values, roi->n_roi * sizeof *v);
    Stats s;
    compute_stats(v, roi->n_roi, &s);
    nova_free(v);
    ADD(stat_mean, s.mean);
    ADD(stat_variance, s.variance);
    ADD(stat_skewness, s.skewness);
    ADD(stat_kurtosis, s.kurtosis);
    ADD(stat_median, s.median);
    ADD(stat_minimum, s.minimum);
    ADD(stat_p10, s.p10);
    ADD(stat_p90, s.p90);
    ADD(stat_maximum, s.maximum);
    ADD(stat_iqr, s.iqr);
    ADD(stat_range, s.range);
    ADD(stat_mean_absolute_dev, s.mad);
    ADD(stat_robust_mean_absolute_dev, s.rmad);
    ADD(stat_median_absolute_dev, s.medad);
    ADD(stat_coef_of_variation, s.cov);
    ADD(stat_quartile_coef_dispersion, s.qcod);
    ADD(stat_energy, s.energy);
    ADD(stat_root_mean_square, s.rms);
    return true;
fail:
    return false;
}

/* ---------------------------------------------------- intensity histogram */

bool nova__histogram_features(NovaError **error, const NovaRoi *roi,
                              NovaRadiomicsFeatures *features)
{
    size_t n = roi->n_roi;
    int ng = roi->ng;
    double *v = nova_malloc_array(error, n, sizeof *v);
    double *hist = nova_calloc(error, (size_t)ng + 1, sizeof *hist);
    if (!v || !hist) {
        nova_free(v);
        nova_free(hist);
        return false;
    }
    for (size_t i = 0, k = 0; i < roi->n; i++)
        if (roi->roi[i]) {
            v[k++] = roi->grey[i];
            hist[roi->grey[i]] += 1;
        }
    Stats s;
    compute_stats(v, n, &s);
    nova_free(v);

    /* Mode: the most frequent level, ties to the one closest to the mean,
     * then the lower one (IBSI 1 AMMC). */
    int mode = 1;
    for (int i = 1; i <= ng; i++) {
        if (hist[i] > hist[mode] ||
            (hist[i] == hist[mode] && fabs(i - s.mean) < fabs(mode - s.mean)))
            mode = i;
    }
    double entropy = 0, uniformity = 0;
    for (int i = 1; i <= ng; i++) {
        double p = hist[i] / (double)n;
        if (p > 0)
            entropy -= p * log2(p);
        uniformity += p * p;
    }
    /* Histogram gradient over the non-sparse histogram 1..N_g (12CE). */
    double gmax = -INFINITY, gmin = INFINITY;
    int imax = 1, imin = 1;
    for (int i = 1; i <= ng; i++) {
        double g;
        if (ng == 1)
            g = 0;
        else if (i == 1)
            g = hist[2] - hist[1];
        else if (i == ng)
            g = hist[ng] - hist[ng - 1];
        else
            g = (hist[i + 1] - hist[i - 1]) / 2.0;
        if (g > gmax) {
            gmax = g;
            imax = i;
        }
        if (g < gmin) {
            gmin = g;
            imin = i;
        }
    }
    nova_free(hist);
    ADD(int_hist_mean, s.mean);
    ADD(int_hist_variance, s.variance);
    ADD(int_hist_skewness, s.skewness);
    ADD(int_hist_kurtosis, s.kurtosis);
    ADD(int_hist_median, s.median);
    ADD(int_hist_minimum, s.minimum);
    ADD(int_hist_p10, s.p10);
    ADD(int_hist_p90, s.p90);
    ADD(int_hist_maximum, s.maximum);
    ADD(int_hist_mode, mode);
    ADD(int_hist_iqr, s.iqr);
    ADD(int_hist_range, s.range);
    ADD(int_hist_mean_absolute_dev, s.mad);
    ADD(int_hist_robust_mean_absolute_dev, s.rmad);
    ADD(int_hist_median_absolute_dev, s.medad);
    ADD(int_hist_coef_of_variation, s.cov);
    ADD(int_quartile_coef_dispersion, s.qcod);
    ADD(int_hist_entropy, entropy);
    ADD(int_hist_uniformity, uniformity);
    ADD(int_hist_max_gradient, gmax);
    ADD(int_hist_max_gradient_intensity, imax);
    ADD(int_hist_min_gradient, gmin);
    ADD(int_hist_min_gradient_intensity, imin);
    return true;
fail:
    return false;
}

/* ------------------------------------------------ intensity-volume histogram
 */

bool nova__ivh_features(NovaError **error, const NovaRoi *roi,
                        NovaRadiomicsFeatures *features)
{
    int levels = roi->ivh_levels;
    double *count = nova_calloc(error, (size_t)levels + 1, sizeof *count);
    if (!count)
        return false;
    for (size_t k = 0; k < roi->n_roi; k++) {
        int t = roi->ivh_index[k];
        t = t < 0 ? 0 : t >= levels ? levels - 1 : t;
        count[t] += 1;
    }
    /* nu[t]: fraction of voxels with intensity >= level t (IBSI 1 4.5). */
    double n = (double)roi->n_roi;
    double *nu = nova_malloc_array(error, (size_t)levels, sizeof *nu);
    if (!nu) {
        nova_free(count);
        return false;
    }
    double above = n;
    for (int t = 0; t < levels; t++) {
        nu[t] = above / n;
        above -= count[t];
    }
    double span = (double)(levels - 1) * roi->ivh_step;
    /* V_x: volume fraction at the first level whose intensity fraction
     * gamma = (i - min G)/(max G - min G) reaches x. */
    double vx[2] = {0, 0}, ix[2] = {NAN, NAN};
    const double x[2] = {0.10, 0.90};
    for (int q = 0; q < 2; q++) {
        vx[q] = 0;
        for (int t = 0; t < levels; t++) {
            double gamma = span > 0 ? (double)t * roi->ivh_step / span : 0;
            if (gamma >= x[q] - 1e-12) {
                vx[q] = nu[t];
                break;
            }
        }
        /* I_x: the smallest intensity present in at most x of the volume;
         * past the top of G, the maximum plus one step. */
        ix[q] = roi->ivh_min + (double)levels * roi->ivh_step;
        for (int t = 0; t < levels; t++)
            if (nu[t] <= x[q] + 1e-12) {
                ix[q] = roi->ivh_min + (double)t * roi->ivh_step;
                break;
            }
    }
    nova_free(nu);
    nova_free(count);
    ADD(int_vol_hist_volume_at_intensity_v10, vx[0]);
    ADD(int_vol_hist_volume_at_intensity_v90, vx[1]);
    ADD(int_vol_hist_intensity_at_volume_i10, ix[0]);
    ADD(int_vol_hist_intensity_at_volume_i90, ix[1]);
    ADD(int_vol_hist_volume_at_intensity_difference, vx[0] - vx[1]);
    ADD(int_vol_hist_intensity_at_volume_difference, ix[0] - ix[1]);
    return true;
fail:
    return false;
}
