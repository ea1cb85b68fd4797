/*
 * gnorm.c - GroupNormalization (and its fused activation) on oneDNN's
 * 8-channel blocked layouts (nCw8c, nChw8c, nCdhw8c), in AVX2.
 *
 * Why: oneDNN 2.6 has no group normalisation, so a SegResNet's GroupNorm
 * nodes ran on the reference kernel, in plain layout, and every
 * convolution around them paid a reorder in and out of the blocked layout
 * (two passes over a 32-channel 64^3 volume each).  Here the statistics
 * and the normalisation run on the blocked data directly, so the tensors
 * stay blocked from one convolution to the next.
 *
 * How: a unit of work is one image's group of channel blocks that holds
 * whole groups (one 8-channel block when a group has at most 8 channels,
 * else the group's blocks).  Pass 1 sums each lane (channel) over the
 * positions, in float over short runs and in double across them; the
 * lanes of a group give its mean.  Pass 2 sums squared deviations from
 * that mean (two passes, as the reference kernel, so large means do not
 * cancel).  Pass 3 writes x * f + o per channel and the activation.  Units
 * are split statically over Nova's pool.
 */
#include "nn_internal.h"

#include <immintrin.h>
#include <math.h>

#define GN_TARGET __attribute__((target("avx2,fma")))

enum { RUN = 64 }; /* positions summed in float before adding to double */

struct NnGnorm {
    int64_t N, C, G;
    size_t sp;       /* positions per channel */
    int64_t cpg;     /* channels per group */
    int64_t unit_cb; /* channel blocks per unit */
    float eps;
    const float *scale, *bias; /* borrowed constants */
    bool per_channel;
    NnActivation act;
    float alpha;
};

bool nova__nn_gnorm_supported(int64_t C, int64_t G)
{
    if (C % 8 || G <= 0 || C % G || !nova__nn_wino_available())
        return false;
    int64_t cpg = C / G;
    return cpg % 8 == 0 || 8 % cpg == 0;
}

NnGnorm *nova__nn_gnorm_create(NovaError **error, const int64_t *dims, int rank,
                               int64_t groups, float eps, const float *scale,
                               const float *bias, bool per_channel,
                               NnActivation act, float alpha)
{
    NnGnorm *g = nova_calloc(error, 1, sizeof *g);
    if (!g)
        return NULL;
    g->N = dims[0];
    g->C = dims[1];
    g->G = groups;
    g->sp = nn_count(dims + 2, rank - 2);
    g->cpg = g->C / groups;
    g->unit_cb = g->cpg > 8 ? g->cpg / 8 : 1;
    g->eps = eps;
    g->scale = scale;
    g->bias = bias;
    g->per_channel = per_channel;
    g->act = act;
    g->alpha = alpha;
    return g;
}

void nova__nn_gnorm_destroy(NnGnorm *g)
{
    nova_free(g);
}

/* Per-lane sums of (x - centre) (pass 1, centre 0) or of its square over
 * one 8-channel block of sp positions, in double. */
GN_TARGET static void lane_sums(const float *x, size_t sp, const double *centre,
                                bool square, double out[8])
{
    __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
    __m256 c = _mm256_set_ps(
        (float)centre[7], (float)centre[6], (float)centre[5], (float)centre[4],
        (float)centre[3], (float)centre[2], (float)centre[1], (float)centre[0]);
    for (size_t i = 0; i < sp;) {
        size_t end = i + RUN < sp ? i + RUN : sp;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0;
        for (; i + 1 < end; i += 2) {
            __m256 d0 = _mm256_sub_ps(_mm256_load_ps(x + 8 * i), c);
            __m256 d1 = _mm256_sub_ps(_mm256_load_ps(x + 8 * i + 8), c);
            if (square) {
                a0 = _mm256_fmadd_ps(d0, d0, a0);
                a1 = _mm256_fmadd_ps(d1, d1, a1);
            } else {
                a0 = _mm256_add_ps(a0, d0);
                a1 = _mm256_add_ps(a1, d1);
            }
        }
        for (; i < end; i++) {
            __m256 d0 = _mm256_sub_ps(_mm256_load_ps(x + 8 * i), c);
            a0 = square ? _mm256_fmadd_ps(d0, d0, a0) : _mm256_add_ps(a0, d0);
        }
        a0 = _mm256_add_ps(a0, a1);
        lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(a0)));
        hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(a0, 1)));
    }
    _mm256_storeu_pd(out, lo);
    _mm256_storeu_pd(out + 4, hi);
}

typedef struct {
    const NnGnorm *g;
    const float *x;
    float *y;
} GnCtx;

GN_TARGET static void gn_units(void *vctx, size_t begin, size_t end, int thread)
{
    const GnCtx *c = vctx;
    const NnGnorm *g = c->g;
    const int64_t nb = g->C / 8;
    const size_t sp = g->sp, blk = 8 * sp;
    const __m256 zero = _mm256_setzero_ps(), al = _mm256_set1_ps(g->alpha);
    for (size_t u = begin; u < end; u++) {
        int64_t units_per_image = nb / g->unit_cb;
        int64_t n = (int64_t)u / units_per_image;
        int64_t cb0 = (int64_t)u % units_per_image * g->unit_cb;
        const float *x = c->x + ((size_t)n * (size_t)nb + (size_t)cb0) * blk;
        float *y = c->y + ((size_t)n * (size_t)nb + (size_t)cb0) * blk;
        /* The groups this unit covers, and each lane's group in it. */
        int64_t ch0 = cb0 * 8, nch = g->unit_cb * 8;
        int64_t n_groups = nch / g->cpg;
        double gsum[8] = {0}, gmean[8], gvar[8] = {0};
        double centre[8] = {0}, s[8];
        for (int64_t b = 0; b < g->unit_cb; b++) {
            lane_sums(x + (size_t)b * blk, sp, centre, false, s);
            for (int l = 0; l < 8; l++)
                gsum[(b * 8 + l) / g->cpg] += s[l];
        }
        double count = (double)g->cpg * (double)sp;
        for (int64_t k = 0; k < n_groups; k++)
            gmean[k] = gsum[k] / count;
        for (int64_t b = 0; b < g->unit_cb; b++) {
            for (int l = 0; l < 8; l++)
                centre[l] = gmean[(b * 8 + l) / g->cpg];
            lane_sums(x + (size_t)b * blk, sp, centre, true, s);
            for (int l = 0; l < 8; l++)
                gvar[(b * 8 + l) / g->cpg] += s[l];
        }
        for (int64_t b = 0; b < g->unit_cb; b++) {
            float f[8], o[8];
            for (int l = 0; l < 8; l++) {
                int64_t ch = ch0 + b * 8 + l;
                int64_t k = (b * 8 + l) / g->cpg; /* group in the unit */
                int64_t gi = ch / g->cpg;         /* group in the tensor */
                double inv = 1.0 / sqrt(gvar[k] / count + g->eps);
                double sc = g->per_channel ? g->scale[ch] : g->scale[gi];
                double bi = g->per_channel ? g->bias[ch] : g->bias[gi];
                f[l] = (float)(sc * inv);
                o[l] = (float)(bi - gmean[k] * sc * inv);
            }
            __m256 vf = _mm256_loadu_ps(f), vo = _mm256_loadu_ps(o);
            const float *xb = x + (size_t)b * blk;
            float *yb = y + (size_t)b * blk;
            for (size_t i = 0; i < sp; i++) {
                __m256 v = _mm256_fmadd_ps(_mm256_load_ps(xb + 8 * i), vf, vo);
                if (g->act == NN_ACT_RELU)
                    v = _mm256_max_ps(v, zero);
                else if (g->act == NN_ACT_LEAKY_RELU)
                    v = _mm256_blendv_ps(_mm256_mul_ps(v, al), v,
                                         _mm256_cmp_ps(v, zero, _CMP_GT_OQ));
                _mm256_store_ps(yb + 8 * i, v);
            }
        }
    }
}

void nova__nn_gnorm_run(const NnGnorm *g, NovaPool *pool, const float *x,
                        float *y)
{
    GnCtx c = {g, x, y};
    size_t units = (size_t)g->N * (size_t)(g->C / 8 / g->unit_cb);
    nova__nn_par_for(pool, units, gn_units, &c);
}
