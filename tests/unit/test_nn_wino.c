/*
 * test_nn_wino.c - the Winograd convolution (src/lib/nn/wino.c) against a
 * direct convolution computed here in double precision, on the nChw8c /
 * nCdhw8c layouts the kernel reads and writes: F(4x4,3x3), F(2x2,3x3) and
 * F(2x2x2,3x3x3), with and without padding, bias, residual sum, ReLU and
 * LeakyReLU, batch 2, sizes that are not multiples of the tile, and the
 * same result bit for bit on 1 and 2 threads.  Also which convolutions the
 * kernel refuses; also the blocked GroupNormalization (gnorm.c), the
 * stride = kernel ConvTranspose (deconv.c), the 3x3 stride-2
 * convolution (s2conv.c) and the 1x1 convolution (conv1x1.c).
 */
#include "nn_internal.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>

static uint32_t rng = 12345;

static float frand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) / 16777216.0 * 2.0 - 1.0);
}

typedef struct {
    int nsp;
    int64_t N, C, M, in[3], pad;
    NnActivation act;
    bool bias, sum;
    int m; /* tile the kernel should choose */
    double tol;
} Case;

static void params_of(const Case *c, NnWinParams *p)
{
    memset(p, 0, sizeof *p);
    p->nsp = c->nsp;
    p->N = c->N;
    p->C = c->C;
    p->M = c->M;
    p->group = 1;
    p->insp = p->outsp = 1;
    p->ksize = 1;
    for (int i = 0; i < 3; i++) {
        bool sp = i < c->nsp;
        p->in[i] = sp ? c->in[i] : 1;
        p->k[i] = sp ? 3 : 1;
        p->stride[i] = p->dil[i] = 1;
        p->pb[i] = p->pe[i] = sp ? c->pad : 0;
        p->out[i] = sp ? c->in[i] + 2 * c->pad - 2 : 1;
        p->insp *= (size_t)p->in[i];
        p->outsp *= (size_t)p->out[i];
        p->ksize *= (size_t)p->k[i];
    }
}

/* Index of (n, c, z, y, x) in the 8-channel blocked layout. */
static size_t blk(int64_t C, const int64_t *d, int64_t n, int64_t c,
                  int64_t z, int64_t y, int64_t x)
{
    return ((((size_t)(n * (C / 8) + c / 8) * (size_t)d[0] + (size_t)z) *
                 (size_t)d[1] +
             (size_t)y) *
                (size_t)d[2] +
            (size_t)x) *
               8 +
           (size_t)(c % 8);
}

static void run_case(const Case *c, NovaPool *pool2)
{
    NnWinParams p;
    params_of(c, &p);
    int m = nova__nn_wino_choose(&p);
    CHECK_EQ_INT(m, c->m);
    if (m == 0)
        return;
    /* Spatial dims as (d, h, w), depth 1 for 2D. */
    int64_t id[3], od[3];
    int off = 3 - c->nsp;
    for (int i = 0; i < 3; i++) {
        id[i] = i < off ? 1 : p.in[i - off];
        od[i] = i < off ? 1 : p.out[i - off];
    }
    size_t nx = (size_t)(c->N * c->C * id[0] * id[1] * id[2]);
    size_t ny = (size_t)(c->N * c->M * od[0] * od[1] * od[2]);
    size_t nw = (size_t)(c->M * c->C) * p.ksize;
    float *x = nova_malloc_aligned(NULL, 64, nx * sizeof(float));
    float *res = malloc(ny * sizeof(float));
    float *y1 = nova_malloc_aligned(NULL, 64, ny * sizeof(float));
    float *y2 = nova_malloc_aligned(NULL, 64, ny * sizeof(float));
    float *w = malloc(nw * sizeof(float));
    float *b = malloc((size_t)c->M * sizeof(float));
    double *ref = malloc(ny * sizeof(double));
    for (size_t i = 0; i < nx; i++)
        x[i] = frand();
    for (size_t i = 0; i < nw; i++)
        w[i] = frand();
    for (int64_t i = 0; i < c->M; i++)
        b[i] = frand();
    for (size_t i = 0; i < ny; i++)
        res[i] = frand();

    /* Direct convolution in double, same blocked indexing. */
    int kd = c->nsp == 3 ? 3 : 1, pd = c->nsp == 3 ? (int)c->pad : 0;
    double max_ref = 0;
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t o = 0; o < c->M; o++)
            for (int64_t z = 0; z < od[0]; z++)
                for (int64_t yy = 0; yy < od[1]; yy++)
                    for (int64_t xx = 0; xx < od[2]; xx++) {
                        double s = c->bias ? b[o] : 0.0;
                        for (int64_t ci = 0; ci < c->C; ci++)
                            for (int a = 0; a < kd; a++)
                                for (int e = 0; e < 3; e++)
                                    for (int f = 0; f < 3; f++) {
                                        int64_t iz = z + a - pd,
                                                iy = yy + e - c->pad,
                                                ix = xx + f - c->pad;
                                        if (iz < 0 || iz >= id[0] || iy < 0 ||
                                            iy >= id[1] || ix < 0 ||
                                            ix >= id[2])
                                            continue;
                                        s += (double)w[((size_t)(o * c->C +
                                                                 ci) *
                                                            (size_t)kd +
                                                        (size_t)a) *
                                                           9 +
                                                       (size_t)(e * 3 + f)] *
                                             x[blk(c->C, id, n, ci, iz, iy,
                                                   ix)];
                                    }
                        size_t k = blk(c->M, od, n, o, z, yy, xx);
                        if (c->sum)
                            s += res[k];
                        if (c->act == NN_ACT_RELU && s < 0)
                            s = 0;
                        if (c->act == NN_ACT_LEAKY_RELU && s < 0)
                            s *= 0.1;
                        ref[k] = s;
                        if (fabs(s) > max_ref)
                            max_ref = fabs(s);
                    }

    NovaError *err = NULL;
    double max_diff = 0;
    for (int threads = 1; threads <= 2; threads++) {
        float *y = threads == 1 ? y1 : y2;
        NnWino *k = nova__nn_wino_create(&err, &p, m, w, c->bias ? b : NULL,
                                         c->act, 0.1f, c->sum, threads);
        CHECK_OK(err);
        if (!k)
            break;
        CHECK_EQ_INT(nova__nn_wino_tile(k), m);
        uint8_t *scratch =
            nova_malloc_aligned(NULL, 64, nova__nn_wino_scratch_bytes(k));
        memcpy(y, res, ny * sizeof(float));
        nova__nn_wino_run(k, threads == 1 ? NULL : pool2, x, y, scratch);
        nova_free(scratch);
        nova__nn_wino_destroy(k);
    }
    for (size_t i = 0; i < ny; i++) {
        double d = fabs(y1[i] - ref[i]);
        if (!(d <= max_diff))
            max_diff = d;
    }
    double rel = max_diff / (max_ref > 0 ? max_ref : 1);
    printf("# %dD F(%d,3) N=%d C=%d M=%d %dx%dx%d pad %d: max |diff| %.3g, "
           "relative %.3g\n",
           c->nsp, m, (int)c->N, (int)c->C, (int)c->M, (int)id[0],
           (int)id[1], (int)id[2], (int)c->pad, max_diff, rel);
    CHECK(rel <= c->tol);
    CHECK(memcmp(y1, y2, ny * sizeof(float)) == 0);
    nova_free(x);
    nova_free(y1);
    nova_free(y2);
    free(res);
    free(w);
    free(b);
    free(ref);
}

static void test_cases(void)
{
    if (!nova__nn_wino_available()) {
        printf("# skip: no AVX2/FMA on this CPU\n");
        return;
    }
    NovaPool *pool2 = nova_pool_create(NULL, 2);
    CHECK(pool2 != NULL);
    /* F(4x4,3x3) carries about one more digit of float error than
     * direct convolution; F(2,3) stays at direct's level. */
    const Case cases[] = {
        {2, 1, 16, 24, {22, 26}, 1, NN_ACT_RELU, true, false, 4, 1e-5},
        {2, 1, 64, 32, {32, 32}, 1, NN_ACT_NONE, true, true, 4, 1e-5},
        {2, 2, 8, 16, {23, 25}, 0, NN_ACT_LEAKY_RELU, true, true, 4, 1e-5},
        {2, 1, 32, 8, {11, 9}, 2, NN_ACT_NONE, false, false, 2, 2e-6},
        /* 7x7: one block of 16 tiles, output channels split (2 threads). */
        {2, 1, 64, 48, {7, 7}, 1, NN_ACT_RELU, true, true, 2, 2e-6},
        {3, 1, 8, 16, {9, 8, 7}, 1, NN_ACT_NONE, true, false, 2, 2e-6},
        {3, 2, 16, 8, {6, 7, 8}, 1, NN_ACT_RELU, true, true, 2, 2e-6},
        /* 343 tiles: three blocks of 144 for two threads, so each block's
         * output channels are split between them. */
        {3, 1, 8, 32, {14, 14, 14}, 1, NN_ACT_RELU, false, true, 2, 2e-6},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i], pool2);
    nova_pool_destroy(pool2);
}

static void test_refused(void)
{
    Case c = {2, 1, 16, 16, {32, 32}, 1, NN_ACT_NONE, true, false, 4, 0};
    NnWinParams p;
    params_of(&c, &p);
    CHECK_EQ_INT(nova__nn_wino_choose(&p), 4);
    NnWinParams q = p;
    q.stride[0] = 2;
    CHECK_EQ_INT(nova__nn_wino_choose(&q), 0);
    q = p;
    q.group = 2;
    CHECK_EQ_INT(nova__nn_wino_choose(&q), 0);
    q = p;
    q.C = 3;
    CHECK_EQ_INT(nova__nn_wino_choose(&q), 0);
    q = p;
    q.k[1] = 1;
    CHECK_EQ_INT(nova__nn_wino_choose(&q), 0);
    q = p;
    q.dil[0] = 2;
    CHECK_EQ_INT(nova__nn_wino_choose(&q), 0);
    /* 4 tiles of 4x4 or 9 of 2x2 (6x6 map): refused; a 7x7 map makes 16
     * tiles of 2x2: taken. */
    q = p;
    q.in[0] = q.in[1] = 6;
    q.out[0] = q.out[1] = 6;
    CHECK_EQ_INT(nova__nn_wino_choose(&q), 0);
    q.in[0] = q.in[1] = 7;
    q.out[0] = q.out[1] = 7;
    CHECK_EQ_INT(nova__nn_wino_choose(&q), 2);
    /* Transformed weights: 1024 x 512 channels take 33.5 MB in F(2,3)
     * (75 in F(4,3)), 1024 x 1024 would take 67 MB: refused. */
    q = p;
    q.C = 1024;
    q.M = 512;
    CHECK_EQ_INT(nova__nn_wino_choose(&q), 2);
    q.M = 1024;
    CHECK_EQ_INT(nova__nn_wino_choose(&q), 0);
}

/* GroupNormalization on nChw8c / nCdhw8c (gnorm.c) against a
 * double-precision reference: groups of 4, 8 and 16 channels, per-group
 * and per-channel scale, ReLU, batch 2, a mean far from zero. */
static void test_gnorm(void)
{
    if (!nova__nn_wino_available())
        return;
    NovaPool *pool2 = nova_pool_create(NULL, 2);
    const struct {
        int rank;
        int64_t dims[5], groups;
        bool per_channel;
        NnActivation act;
    } cases[] = {
        {4, {1, 32, 9, 7}, 8, true, NN_ACT_RELU},
        {5, {2, 16, 5, 6, 7}, 2, false, NN_ACT_NONE},
        {4, {2, 24, 5, 3}, 3, true, NN_ACT_LEAKY_RELU},
        {3, {1, 16, 50}, 16, true, NN_ACT_NONE},
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const int64_t *d = cases[t].dims;
        int64_t N = d[0], C = d[1], G = cases[t].groups, cpg = C / G;
        size_t sp = nn_count(d + 2, cases[t].rank - 2);
        size_t n = (size_t)(N * C) * sp;
        CHECK(nova__nn_gnorm_supported(C, G));
        float *x = nova_malloc_aligned(NULL, 64, n * sizeof(float));
        float *y = nova_malloc_aligned(NULL, 64, n * sizeof(float));
        float sc[64], bi[64];
        for (size_t i = 0; i < n; i++)
            x[i] = 100.0f + frand();
        for (int i = 0; i < 64; i++) {
            sc[i] = frand();
            bi[i] = frand();
        }
        NovaError *err = NULL;
        NnGnorm *g = nova__nn_gnorm_create(
            &err, d, cases[t].rank, G, 1e-5f, sc, bi, cases[t].per_channel,
            cases[t].act, 0.1f);
        CHECK_OK(err);
        if (!g)
            continue;
        nova__nn_gnorm_run(g, t % 2 ? pool2 : NULL, x, y);
        double max_diff = 0;
        for (int64_t b = 0; b < N; b++)
            for (int64_t k = 0; k < G; k++) {
                /* Blocked index of (b, channel c, position i). */
#define GN_AT(c, i)                                                            \
    ((((size_t)b * (size_t)(C / 8) + (size_t)(c) / 8) * sp + (i)) * 8 +        \
     (size_t)(c) % 8)
                double s = 0, s2 = 0;
                for (int64_t c = k * cpg; c < (k + 1) * cpg; c++)
                    for (size_t i = 0; i < sp; i++)
                        s += x[GN_AT(c, i)];
                double mean = s / (double)((size_t)cpg * sp);
                for (int64_t c = k * cpg; c < (k + 1) * cpg; c++)
                    for (size_t i = 0; i < sp; i++) {
                        double e = x[GN_AT(c, i)] - mean;
                        s2 += e * e;
                    }
                double inv = 1.0 / sqrt(s2 / (double)((size_t)cpg * sp) +
                                        1e-5);
                for (int64_t c = k * cpg; c < (k + 1) * cpg; c++)
                    for (size_t i = 0; i < sp; i++) {
                        int64_t j = cases[t].per_channel ? c : k;
                        double r = (x[GN_AT(c, i)] - mean) * inv * sc[j] +
                                   bi[j];
                        if (cases[t].act == NN_ACT_RELU && r < 0)
                            r = 0;
                        if (cases[t].act == NN_ACT_LEAKY_RELU && r < 0)
                            r *= 0.1;
                        double e = fabs(r - y[GN_AT(c, i)]);
                        if (!(e <= max_diff))
                            max_diff = e;
                    }
#undef GN_AT
            }
        printf("# gnorm case %zu: max |diff| %.3g\n", t, max_diff);
        /* x near 100 with unit spread: float input resolution is 8e-6,
         * normalised by a standard deviation of ~0.6. */
        CHECK(max_diff <= 1e-4);
        nova__nn_gnorm_destroy(g);
        nova_free(x);
        nova_free(y);
    }
    CHECK(!nova__nn_gnorm_supported(12, 4));
    CHECK(!nova__nn_gnorm_supported(48, 16)); /* groups of 3 */
    nova_pool_destroy(pool2);
}

/* ConvTranspose with stride = kernel (deconv.c) against a direct double
 * loop: 2x2x2 and 2x2 and 3x3 kernels, output channels not a multiple of
 * 16, images whose positions are not a multiple of the 6-row kernel or
 * fewer than 6, batch 2, 1 and 2 threads. */
static void test_deconv(void)
{
    if (!nova__nn_wino_available())
        return;
    NovaPool *pool2 = nova_pool_create(NULL, 2);
    const struct {
        int nsp;
        int64_t N, C, M, in[3], k;
    } cases[] = {
        {3, 1, 16, 24, {5, 4, 3}, 2},
        {2, 2, 8, 16, {7, 5}, 2},
        {2, 1, 16, 8, {2, 2}, 2},
        {2, 1, 8, 32, {4, 3}, 3},
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        NnWinParams p;
        memset(&p, 0, sizeof p);
        p.nsp = cases[t].nsp;
        p.N = cases[t].N;
        p.C = cases[t].C;
        p.M = cases[t].M;
        p.group = 1;
        int64_t id[3] = {1, 1, 1}, od[3] = {1, 1, 1}, kd[3] = {1, 1, 1};
        int off = 3 - p.nsp;
        for (int i = 0; i < 3; i++) {
            bool sp = i < p.nsp;
            p.in[i] = sp ? cases[t].in[i] : 1;
            p.k[i] = p.stride[i] = sp ? cases[t].k : 1;
            p.dil[i] = 1;
            p.out[i] = p.in[i] * p.k[i];
            if (sp) {
                id[i + off] = p.in[i];
                od[i + off] = p.out[i];
                kd[i + off] = p.k[i];
            }
        }
        CHECK(nova__nn_deconv_supported(&p));
        int64_t N = p.N, C = p.C, M = p.M;
        size_t isp = (size_t)(id[0] * id[1] * id[2]),
               osp = (size_t)(od[0] * od[1] * od[2]);
        size_t ksz = (size_t)(kd[0] * kd[1] * kd[2]);
        size_t nx = (size_t)(N * C) * isp, ny = (size_t)(N * M) * osp;
        float *x = nova_malloc_aligned(NULL, 64, nx * sizeof(float));
        float *y1 = nova_malloc_aligned(NULL, 64, ny * sizeof(float));
        float *y2 = nova_malloc_aligned(NULL, 64, ny * sizeof(float));
        float *w = malloc((size_t)(C * M) * ksz * sizeof(float));
        float *b = malloc((size_t)M * sizeof(float));
        for (size_t i = 0; i < nx; i++)
            x[i] = frand();
        for (size_t i = 0; i < (size_t)(C * M) * ksz; i++)
            w[i] = frand();
        for (int64_t i = 0; i < M; i++)
            b[i] = frand();
        NovaError *err = NULL;
        NnDeconv *d = nova__nn_deconv_create(&err, &p, w, b);
        CHECK_OK(err);
        if (!d)
            continue;
        nova__nn_deconv_run(d, NULL, x, y1);
        nova__nn_deconv_run(d, pool2, x, y2);
        CHECK(memcmp(y1, y2, ny * sizeof(float)) == 0);
        double max_diff = 0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t m = 0; m < M; m++)
                for (size_t o = 0; o < osp; o++) {
                    int64_t oz = (int64_t)(o / (size_t)(od[1] * od[2]));
                    int64_t oy = (int64_t)(o / (size_t)od[2]) % od[1];
                    int64_t ox = (int64_t)(o % (size_t)od[2]);
                    int64_t iz = oz / kd[0], iy = oy / kd[1], ix = ox / kd[2];
                    size_t q = (size_t)(((oz % kd[0]) * kd[1] + oy % kd[1]) *
                                            kd[2] +
                                        ox % kd[2]);
                    size_t ipos = (size_t)((iz * id[1] + iy) * id[2] + ix);
                    double s = b[m];
                    for (int64_t c = 0; c < C; c++)
                        s += (double)w[((size_t)c * (size_t)M + (size_t)m) *
                                           ksz +
                                       q] *
                             x[(((size_t)(n * (C / 8) + c / 8)) * isp +
                                ipos) *
                                   8 +
                               (size_t)(c % 8)];
                    double e = fabs(
                        s - y1[(((size_t)(n * (M / 8) + m / 8)) * osp + o) * 8 +
                               (size_t)(m % 8)]);
                    if (!(e <= max_diff))
                        max_diff = e;
                }
        printf("# deconv case %zu: max |diff| %.3g\n", t, max_diff);
        CHECK(max_diff <= 1e-5);
        nova__nn_deconv_destroy(d);
        nova_free(x);
        nova_free(y1);
        nova_free(y2);
        free(w);
        free(b);
    }
    NnWinParams q;
    memset(&q, 0, sizeof q);
    q.nsp = 2;
    q.N = 1;
    q.C = q.M = 8;
    q.group = 1;
    for (int i = 0; i < 3; i++) {
        q.in[i] = 4;
        q.k[i] = q.stride[i] = 2;
        q.dil[i] = 1;
        q.out[i] = 8;
    }
    CHECK(nova__nn_deconv_supported(&q));
    q.pb[0] = 1; /* overlapping or cropped windows: oneDNN's */
    CHECK(!nova__nn_deconv_supported(&q));
    q.pb[0] = 0;
    q.stride[1] = 1;
    CHECK(!nova__nn_deconv_supported(&q));
    nova_pool_destroy(pool2);
}

/* 3x3 stride-2 convolution (s2conv.c) against a direct double loop:
 * pads 1 and 0, output rows not a multiple of 6, channels not a multiple
 * of 16, bias, residual sum and ReLU, 1 and 2 threads. */
static void test_s2conv(void)
{
    if (!nova__nn_wino_available())
        return;
    NovaPool *pool2 = nova_pool_create(NULL, 2);
    const struct {
        int64_t N, C, M, H, W, pad;
        bool sum;
    } cases[] = {{1, 16, 24, 50, 49, 1, true}, {2, 8, 16, 57, 60, 0, false}};
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        int64_t N = cases[t].N, C = cases[t].C, M = cases[t].M,
                H = cases[t].H, W = cases[t].W, pad = cases[t].pad;
        NnWinParams p;
        memset(&p, 0, sizeof p);
        p.nsp = 2;
        p.N = N;
        p.C = C;
        p.M = M;
        p.group = 1;
        p.in[0] = H;
        p.in[1] = W;
        for (int i = 0; i < 2; i++) {
            p.k[i] = 3;
            p.stride[i] = 2;
            p.dil[i] = 1;
            p.pb[i] = p.pe[i] = pad;
            p.out[i] = (p.in[i] + 2 * pad - 3) / 2 + 1;
        }
        int64_t OH = p.out[0], OW = p.out[1];
        CHECK(nova__nn_s2conv_supported(&p));
        size_t nx = (size_t)(N * C * H * W), ny = (size_t)(N * M * OH * OW);
        float *x = nova_malloc_aligned(NULL, 64, nx * sizeof(float));
        float *y1 = nova_malloc_aligned(NULL, 64, ny * sizeof(float));
        float *y2 = nova_malloc_aligned(NULL, 64, ny * sizeof(float));
        float *res = malloc(ny * sizeof(float));
        float *w = malloc((size_t)(M * C * 9) * sizeof(float));
        float *b = malloc((size_t)M * sizeof(float));
        for (size_t i = 0; i < nx; i++)
            x[i] = frand();
        for (size_t i = 0; i < ny; i++)
            res[i] = frand();
        for (size_t i = 0; i < (size_t)(M * C * 9); i++)
            w[i] = frand();
        for (int64_t i = 0; i < M; i++)
            b[i] = frand();
        NovaError *err = NULL;
        NnS2Conv *k = nova__nn_s2conv_create(&err, &p, w, b, NN_ACT_RELU, 0,
                                             cases[t].sum);
        CHECK_OK(err);
        if (!k)
            continue;
        uint8_t *scratch =
            nova_malloc_aligned(NULL, 64, nova__nn_s2conv_scratch_bytes(k));
        memcpy(y1, res, ny * sizeof(float));
        memcpy(y2, res, ny * sizeof(float));
        nova__nn_s2conv_run(k, NULL, x, y1, scratch);
        nova__nn_s2conv_run(k, pool2, x, y2, scratch);
        CHECK(memcmp(y1, y2, ny * sizeof(float)) == 0);
        double max_diff = 0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t m = 0; m < M; m++)
                for (int64_t oy = 0; oy < OH; oy++)
                    for (int64_t ox = 0; ox < OW; ox++) {
                        double acc = b[m];
                        for (int64_t c = 0; c < C; c++)
                            for (int ky = 0; ky < 3; ky++)
                                for (int kx = 0; kx < 3; kx++) {
                                    int64_t iy = 2 * oy + ky - pad,
                                            ix = 2 * ox + kx - pad;
                                    if (iy < 0 || iy >= H || ix < 0 || ix >= W)
                                        continue;
                                    acc += (double)w[(m * C + c) * 9 + ky * 3 +
                                                     kx] *
                                           x[(((n * (C / 8) + c / 8) * H + iy) *
                                                  W +
                                              ix) *
                                                 8 +
                                             c % 8];
                                }
                        size_t o = (size_t)((((n * (M / 8) + m / 8) * OH + oy) *
                                                 OW +
                                             ox) *
                                                8 +
                                            m % 8);
                        if (cases[t].sum)
                            acc += res[o];
                        if (acc < 0)
                            acc = 0;
                        double e = fabs(acc - y1[o]);
                        if (!(e <= max_diff))
                            max_diff = e;
                    }
        printf("# s2conv case %zu: max |diff| %.3g\n", t, max_diff);
        CHECK(max_diff <= 2e-5);
        nova_free(scratch);
        nova__nn_s2conv_destroy(k);
        nova_free(x);
        nova_free(y1);
        nova_free(y2);
        free(res);
        free(w);
        free(b);
    }
    nova_pool_destroy(pool2);
}

/* 1x1 convolution (conv1x1.c) against a direct double loop on the nChw8c
 * layout, stride 1 and 2 (gathered): pixel counts that are and are not multiples of the
 * 6-pixel tile (the last tile slides back), channels that are multiples
 * of 8 but not of 16 (the 8-wide last group), input channels deep enough
 * for several cache blocks, batch 2, with and without bias, residual sum,
 * ReLU and LeakyReLU; 1, 2 and 3 threads give the same bits. */
static void test_conv1x1(void)
{
    if (!nova__nn_wino_available())
        return;
    NovaPool *pool2 = nova_pool_create(NULL, 2);
    NovaPool *pool3 = nova_pool_create(NULL, 3);
    const struct {
        int64_t N, C, M, H, W, sy, sx;
        bool bias, sum;
        NnActivation act;
    } cases[] = {
        {1, 16, 24, 7, 9, 1, 1, true, true, NN_ACT_RELU},
        {2, 8, 8, 2, 3, 1, 1, false, false, NN_ACT_NONE},
        {1, 24, 40, 5, 5, 1, 1, true, false, NN_ACT_LEAKY_RELU},
        {2, 64, 32, 6, 6, 1, 1, true, true, NN_ACT_NONE},
        {1, 2056, 16, 3, 5, 1, 1, true, true, NN_ACT_RELU},
        {1, 40, 56, 13, 11, 1, 1, false, true, NN_ACT_LEAKY_RELU},
        {2, 24, 40, 9, 8, 2, 2, true, true, NN_ACT_RELU},
        {1, 2056, 24, 6, 9, 2, 2, true, false, NN_ACT_NONE},
        {1, 16, 16, 13, 5, 2, 1, false, true, NN_ACT_LEAKY_RELU},
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        int64_t N = cases[t].N, C = cases[t].C, M = cases[t].M,
                H = cases[t].H, W = cases[t].W, sy = cases[t].sy,
                sx = cases[t].sx, OH = (H - 1) / sy + 1, OW = (W - 1) / sx + 1;
        NnWinParams p;
        memset(&p, 0, sizeof p);
        p.nsp = 2;
        p.N = N;
        p.C = C;
        p.M = M;
        p.group = 1;
        p.in[0] = H;
        p.in[1] = W;
        p.out[0] = OH;
        p.out[1] = OW;
        for (int i = 0; i < 2; i++)
            p.k[i] = p.dil[i] = 1;
        p.stride[0] = sy;
        p.stride[1] = sx;
        CHECK(nova__nn_conv1x1_supported(&p));
        size_t Pin = (size_t)(H * W), P = (size_t)(OH * OW),
               nx = (size_t)(N * C) * Pin, ny = (size_t)(N * M) * P;
        float *x = nova_malloc_aligned(NULL, 64, nx * sizeof(float));
        float *y1 = nova_malloc_aligned(NULL, 64, ny * sizeof(float));
        float *y2 = nova_malloc_aligned(NULL, 64, ny * sizeof(float));
        float *y3 = nova_malloc_aligned(NULL, 64, ny * sizeof(float));
        float *res = malloc(ny * sizeof(float));
        float *w = malloc((size_t)(M * C) * sizeof(float));
        float *b = malloc((size_t)M * sizeof(float));
        for (size_t i = 0; i < nx; i++)
            x[i] = frand();
        for (size_t i = 0; i < ny; i++)
            res[i] = frand();
        for (size_t i = 0; i < (size_t)(M * C); i++)
            w[i] = frand();
        for (int64_t i = 0; i < M; i++)
            b[i] = frand();
        NovaError *err = NULL;
        NnConv1x1 *k = nova__nn_conv1x1_create(
            &err, &p, w, cases[t].bias ? b : NULL, cases[t].act, 0.1f,
            cases[t].sum, 3);
        CHECK_OK(err);
        if (!k)
            continue;
        size_t sb = nova__nn_conv1x1_scratch_bytes(k);
        CHECK((sb > 0) == (sy > 1 || sx > 1));
        uint8_t *scratch = nova_malloc_aligned(NULL, 64, sb ? sb : 64);
        memcpy(y1, res, ny * sizeof(float));
        memcpy(y2, res, ny * sizeof(float));
        memcpy(y3, res, ny * sizeof(float));
        nova__nn_conv1x1_run(k, NULL, x, y1, scratch);
        nova__nn_conv1x1_run(k, pool2, x, y2, scratch);
        nova__nn_conv1x1_run(k, pool3, x, y3, scratch);
        CHECK(memcmp(y1, y2, ny * sizeof(float)) == 0);
        CHECK(memcmp(y1, y3, ny * sizeof(float)) == 0);
        double max_rel = 0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t m = 0; m < M; m++)
                for (size_t px = 0; px < P; px++) {
                    double acc = cases[t].bias ? b[m] : 0.0, mag = fabs(acc);
                    size_t ipx = (px / (size_t)OW) * (size_t)(sy * W) +
                                 (px % (size_t)OW) * (size_t)sx;
                    for (int64_t c = 0; c < C; c++) {
                        double v =
                            (double)w[m * C + c] *
                            x[((size_t)(n * (C / 8) + c / 8) * Pin + ipx) * 8 +
                              (size_t)(c % 8)];
                        acc += v;
                        mag += fabs(v);
                    }
                    size_t o =
                        ((size_t)(n * (M / 8) + m / 8) * P + px) * 8 +
                        (size_t)(m % 8);
                    if (cases[t].sum) {
                        acc += res[o];
                        mag += fabs(res[o]);
                    }
                    if (cases[t].act == NN_ACT_RELU && acc < 0)
                        acc = 0;
                    else if (cases[t].act == NN_ACT_LEAKY_RELU && acc < 0)
                        acc *= (double)0.1f;
                    /* Error relative to the sum of magnitudes, which
                     * bounds float rounding whatever the cancellation. */
                    double e = fabs(acc - y1[o]) / (mag > 1 ? mag : 1);
                    if (!(e <= max_rel))
                        max_rel = e;
                }
        printf("# conv1x1 case %zu (N %d C %d M %d %dx%d stride %dx%d): max "
               "rel %.3g\n",
               t, (int)N, (int)C, (int)M, (int)H, (int)W, (int)sy, (int)sx,
               max_rel);
        CHECK(max_rel <= 1e-6);
        nova_free(scratch);
        nova__nn_conv1x1_destroy(k);
        nova_free(x);
        nova_free(y1);
        nova_free(y2);
        nova_free(y3);
        free(res);
        free(w);
        free(b);
    }
    /* What it refuses: 3x3, stride 3, pads, groups, channels not a
     * multiple of 8, fewer than 6 pixels. */
    NnWinParams q;
    memset(&q, 0, sizeof q);
    q.nsp = 2;
    q.N = 1;
    q.C = 16;
    q.M = 16;
    q.group = 1;
    for (int i = 0; i < 2; i++) {
        q.in[i] = q.out[i] = 8;
        q.k[i] = q.stride[i] = q.dil[i] = 1;
    }
    CHECK(nova__nn_conv1x1_supported(&q));
    q.k[0] = 3;
    CHECK(!nova__nn_conv1x1_supported(&q));
    q.k[0] = 1;
    q.stride[1] = 3;
    q.out[1] = 3;
    CHECK(!nova__nn_conv1x1_supported(&q));
    q.out[1] = 8;
    q.stride[1] = 1;
    q.pb[0] = 1;
    CHECK(!nova__nn_conv1x1_supported(&q));
    q.pb[0] = 0;
    q.group = 2;
    CHECK(!nova__nn_conv1x1_supported(&q));
    q.group = 1;
    q.C = 12;
    CHECK(!nova__nn_conv1x1_supported(&q));
    q.C = 16;
    q.in[0] = q.out[0] = 1;
    q.in[1] = q.out[1] = 5;
    CHECK(!nova__nn_conv1x1_supported(&q));
    nova_pool_destroy(pool2);
    nova_pool_destroy(pool3);
}

int main(void)
{
    RUN(test_cases);
    RUN(test_refused);
    RUN(test_gnorm);
    RUN(test_deconv);
    RUN(test_s2conv);
    RUN(test_conv1x1);
    return test_done();
}
