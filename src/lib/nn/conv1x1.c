/*
 * conv1x1.c - 2D convolution with a 1x1 kernel, stride 1 or 2 (ResNet's
 * and DenseNet's channel mixing, ResNet's stride-2 projections), on
 * oneDNN's nChw8c layout, in AVX2 + FMA, split over pixels.
 *
 * Why: oneDNN 2.6's 1x1 primitives are fast on one thread, but with Nova's
 * team (team.c) each thread runs a one-thread primitive for a range of
 * output channels, which reads the whole input: on layers whose input is
 * much larger than their weights, two threads stream the same megabytes.
 * A oneDNN primitive per pixel range would need a memory descriptor with
 * the whole tensor's strides, which oneDNN 2.6's jit convolutions check
 * against the dense layout of their own dims (expected to fall back to a
 * reference kernel; not tried), so this kernel does the split itself:
 * each thread takes a range of pixels, reads only its share of the input
 * and all of the weights.
 * Measured (bench/README.md, 2026-11-29 07:53, a machine at load 4-6):
 * per layer at 2 threads its CPU time is within 1-3 % of oneDNN's slices
 * on the layers it takes (nova__nn_conv1x1_pays); on 1 thread oneDNN's
 * primitive is as fast or faster in the network, so one-thread nodes keep
 * it (NOVA_NN_CONV1X1 in dnnl.c).
 *
 * How: a 1x1 convolution is a GEMM, out[p][m] = sum_c in[p][c] w[m][c],
 * over the flat output pixel index p of each image (no row boundaries).
 * Tiles of 6 neighbouring pixels (the last one of an image slides back to
 * stay inside it; only the pixels not stored yet are written) meet 16
 * output channels in a register-blocked micro-kernel (12 accumulators),
 * which runs over all input channels, 8 at a time as the layout holds
 * them: per channel a broadcast of each pixel's value (6 floats, 32 bytes
 * apart) against 16 packed weights ([m/16][c][16], 8 wide for the last
 * group when M % 16 is 8).  Cache blocking: a thread's tiles are taken in
 * blocks of about 128 KB of input (L2), and inside a block every group of
 * 16 output channels runs over all its tiles, so a group's weights (64 C
 * bytes) stay in L1 while the block's pixels stay in L2; the first group
 * prefetches the next tile's input (C / 8 scattered streams).  Stride 2:
 * a block's pixels are first gathered into a per-thread buffer in the
 * session scratch (as oneDNN does), and the same kernel reads them there.
 * Bias, the residual already in the output and ReLU/LeakyReLU are fused
 * into the stores.  Tiles are split over Nova's pool, four chunks per team
 * thread.
 */
#include "nn_internal.h"

#include <immintrin.h>

#define K1_TARGET __attribute__((target("avx2,fma")))

enum { TP = 6 }; /* pixels per micro-tile */

struct NnConv1x1 {
    int64_t N, C, M, P;       /* P: output pixels per image */
    int64_t H, W, OW, sy, sx; /* input size, output width, strides */
    bool gather;              /* stride > 1: pixels copied to scratch */
    int n_threads;            /* per-thread gather buffers */
    int64_t tiles;            /* per image: ceil(P / TP) */
    int64_t block;            /* tiles per cache block */
    float *U;                 /* [M/16][C][16] */
    float *bias;              /* [M] */
    NnActivation act;
    float alpha;
    bool sum;
};

bool nova__nn_conv1x1_supported(const NnWinParams *p)
{
    if (p->nsp != 2 || p->group != 1 || p->C % 8 || p->M % 8 || p->C < 8 ||
        !nova__nn_wino_available())
        return false;
    for (int i = 0; i < 2; i++)
        if (p->k[i] != 1 || p->stride[i] < 1 || p->stride[i] > 2 ||
            p->pb[i] != 0 || p->pe[i] != 0 || p->in[i] < 1 ||
            p->out[i] != (p->in[i] - 1) / p->stride[i] + 1)
            return false;
    /* A tile needs 6 pixels of one image. */
    return p->out[0] * p->out[1] >= TP;
}

bool nova__nn_conv1x1_pays(const NnWinParams *p)
{
    /* Where the weights outweigh the pixels (ResNet's 14x14 and 7x7
     * stages), a pixel split would make each thread read every weight,
     * and oneDNN's output-channel slices read less.  Where the output is
     * wider than the input (ResNet's 64 -> 256 and 128 -> 512 layers),
     * there is little input to share, and oneDNN's primitive measured
     * 3-10 % faster than this kernel at 2 threads (and up to 30 % at 1),
     * its stores of the wide output being cheaper; so the pixel split is
     * for layers that read at least as much as they write: DenseNet's
     * bottlenecks and transitions, ResNet's 256 -> 64 style reductions
     * and its stride-2 projections. */
    int64_t in_px = p->in[0] * p->in[1], out_px = p->out[0] * p->out[1];
    return p->N * out_px >= p->M && p->C * in_px >= p->M * out_px;
}

void nova__nn_conv1x1_destroy(NnConv1x1 *k)
{
    if (!k)
        return;
    nova_free(k->U);
    nova_free(k->bias);
    nova_free(k);
}

NnConv1x1 *nova__nn_conv1x1_create(NovaError **error, const NnWinParams *p,
                                   const float *weights, const float *bias,
                                   NnActivation act, float alpha, bool sum,
                                   int n_threads)
{
    NnConv1x1 *k = nova_calloc(error, 1, sizeof *k);
    if (!k)
        return NULL;
    k->N = p->N;
    k->C = p->C;
    k->M = p->M;
    k->P = p->out[0] * p->out[1];
    k->H = p->in[0];
    k->W = p->in[1];
    k->OW = p->out[1];
    k->sy = p->stride[0];
    k->sx = p->stride[1];
    k->gather = k->sy != 1 || k->sx != 1;
    k->n_threads = n_threads > 0 ? n_threads : 1;
    k->tiles = (k->P + TP - 1) / TP;
    /* About 128 KB of input per block (L2 is 512 KB on the benchmark
     * machine, and the weights of the wide layers share it). */
    k->block = (128 * 1024) / (TP * 4 * k->C);
    if (k->block < 1)
        k->block = 1;
    k->act = act;
    k->alpha = alpha;
    k->sum = sum;
    size_t n = (size_t)k->M * (size_t)k->C;
    k->U = nova_malloc_aligned(error, 64, n * sizeof(float));
    k->bias = nova_malloc_aligned(error, 64, (size_t)k->M * sizeof(float));
    if (!k->U || !k->bias) {
        nova__nn_conv1x1_destroy(k);
        return NULL;
    }
    for (int64_t m = 0; m < k->M; m++) {
        k->bias[m] = bias ? bias[m] : 0.0f;
        int64_t g = m / 16, width = k->M - g * 16 < 16 ? 8 : 16;
        float *u = k->U + (size_t)(g * 16) * (size_t)k->C + (size_t)(m % 16);
        for (int64_t c = 0; c < k->C; c++)
            u[(size_t)c * (size_t)width] =
                weights[(size_t)m * (size_t)k->C + (size_t)c];
    }
    return k;
}

size_t nova__nn_conv1x1_scratch_bytes(const NnConv1x1 *k)
{
    if (!k->gather)
        return 0;
    /* One block of gathered pixels per thread, 64-byte multiples. */
    size_t one = ((size_t)k->block * TP * (size_t)k->C * sizeof(float) + 63) &
                 ~(size_t)63;
    return one * (size_t)k->n_threads;
}

/* acc[r][h] += sum over channels of x[pixel r] * U[.][h]: x points at
 * the tile's first pixel in channel block 0, plane is one channel block's
 * size in floats; nw (16 or 8) is a constant at each call, so the loop is
 * compiled once for each width. */
K1_TARGET static inline __attribute__((always_inline)) void
kernel(const float *x, size_t plane, int64_t nb, const float *U, int nw,
       bool pf, __m256 acc[TP][2])
{
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00,
           c20 = c00, c21 = c00, c30 = c00, c31 = c00, c40 = c00, c41 = c00,
           c50 = c00, c51 = c00;
    for (int64_t cb = 0; cb < nb; cb++, x += plane) {
        if (pf) {
            /* The next tile's three cache lines of this channel block: on
             * the first pass over a block they come from L3 or memory,
             * scattered over C / 8 planes, more streams than the
             * hardware prefetchers follow (-20 % on a 256-channel layer
             * with cold caches without this). */
            _mm_prefetch((const char *)(x + 48), _MM_HINT_T0);
            _mm_prefetch((const char *)(x + 64), _MM_HINT_T0);
            _mm_prefetch((const char *)(x + 80), _MM_HINT_T0);
        }
#pragma GCC unroll 8
        for (int l = 0; l < 8; l++) {
            __m256 b0 = _mm256_load_ps(U);
            __m256 b1 = nw == 16 ? _mm256_load_ps(U + 8) : b0;
            __m256 a = _mm256_broadcast_ss(x + l);
            c00 = _mm256_fmadd_ps(a, b0, c00);
            if (nw == 16)
                c01 = _mm256_fmadd_ps(a, b1, c01);
            a = _mm256_broadcast_ss(x + 8 + l);
            c10 = _mm256_fmadd_ps(a, b0, c10);
            if (nw == 16)
                c11 = _mm256_fmadd_ps(a, b1, c11);
            a = _mm256_broadcast_ss(x + 16 + l);
            c20 = _mm256_fmadd_ps(a, b0, c20);
            if (nw == 16)
                c21 = _mm256_fmadd_ps(a, b1, c21);
            a = _mm256_broadcast_ss(x + 24 + l);
            c30 = _mm256_fmadd_ps(a, b0, c30);
            if (nw == 16)
                c31 = _mm256_fmadd_ps(a, b1, c31);
            a = _mm256_broadcast_ss(x + 32 + l);
            c40 = _mm256_fmadd_ps(a, b0, c40);
            if (nw == 16)
                c41 = _mm256_fmadd_ps(a, b1, c41);
            a = _mm256_broadcast_ss(x + 40 + l);
            c50 = _mm256_fmadd_ps(a, b0, c50);
            if (nw == 16)
                c51 = _mm256_fmadd_ps(a, b1, c51);
            U += nw;
        }
    }
    acc[0][0] = c00;
    acc[0][1] = c01;
    acc[1][0] = c10;
    acc[1][1] = c11;
    acc[2][0] = c20;
    acc[2][1] = c21;
    acc[3][0] = c30;
    acc[3][1] = c31;
    acc[4][0] = c40;
    acc[4][1] = c41;
    acc[5][0] = c50;
    acc[5][1] = c51;
}

K1_TARGET static inline __m256 epilogue(const NnConv1x1 *k, __m256 v, __m256 b,
                                        const float *old)
{
    const __m256 zero = _mm256_setzero_ps();
    v = _mm256_add_ps(v, b);
    if (k->sum)
        v = _mm256_add_ps(v, _mm256_load_ps(old));
    if (k->act == NN_ACT_RELU)
        v = _mm256_max_ps(v, zero);
    else if (k->act == NN_ACT_LEAKY_RELU)
        v = _mm256_blendv_ps(_mm256_mul_ps(v, _mm256_set1_ps(k->alpha)), v,
                             _mm256_cmp_ps(v, zero, _CMP_GT_OQ));
    return v;
}

typedef struct {
    const NnConv1x1 *k;
    const float *src;
    float *dst;
    uint8_t *scratch;
} K1Ctx;

/* Copy the input pixels of tiles [t0, t1) (stride > 1) into buf, tile
 * after tile, so the micro-kernel reads them as it reads a stride-1
 * input (oneDNN does the same for strided 1x1 convolutions). */
static void gather(const NnConv1x1 *k, const float *src, float *buf, size_t t0,
                   size_t t1)
{
    const size_t P = (size_t)k->P, Pin = (size_t)(k->H * k->W);
    const size_t nb = (size_t)(k->C / 8), bplane = (t1 - t0) * TP * 8;
    /* Channel blocks outside: each plane is read in order, one stream
     * at a time. */
    for (size_t cb = 0; cb < nb; cb++)
        for (size_t t = t0; t < t1; t++) {
            size_t n = t / (size_t)k->tiles;
            size_t p = (t % (size_t)k->tiles) * TP;
            size_t start = p + TP <= P ? p : P - TP;
            float *d = buf + cb * bplane + (t - t0) * TP * 8;
            const float *plane = src + (n * nb + cb) * Pin * 8;
            for (int r = 0; r < TP; r++) {
                size_t q = start + (size_t)r, oy = q / (size_t)k->OW,
                       ox = q % (size_t)k->OW;
                memcpy(d + r * 8,
                       plane + (oy * (size_t)k->sy * (size_t)k->W +
                                ox * (size_t)k->sx) *
                                   8,
                       8 * sizeof(float));
            }
        }
}

/* Tiles [t0, t1) (over all images) for output channels [16 g, 16 g + nw):
 * their inputs in src (stride 1) or gathered into buf (the block's tiles
 * one after the other, channel blocks bplane floats apart). */
K1_TARGET static inline __attribute__((always_inline)) void
group_tiles(const NnConv1x1 *k, const float *src, const float *buf,
            size_t bplane, float *dst, int64_t g, int nw, bool pf, size_t t0,
            size_t t1)
{
    const size_t P = (size_t)k->P, plane = P * 8;
    const int64_t nb = k->C / 8;
    const float *U = k->U + (size_t)(g * 16) * (size_t)k->C;
    __m256 b0 = _mm256_load_ps(k->bias + g * 16);
    __m256 b1 = nw == 16 ? _mm256_load_ps(k->bias + g * 16 + 8) : b0;
    for (size_t t = t0; t < t1; t++) {
        size_t n = t / (size_t)k->tiles;
        size_t p = (t % (size_t)k->tiles) * TP;
        size_t start = p + TP <= P ? p : P - TP;
        __m256 acc[TP][2];
        float *out = dst + (n * (size_t)(k->M / 8) + (size_t)(g * 2)) * plane;
        if (k->sum && t + 1 < t1) {
            /* The next tile's residual, read in the stores. */
            const float *o = out + (start + TP) * 8;
            if (start + 2 * TP <= P) {
                _mm_prefetch((const char *)o, _MM_HINT_T0);
                _mm_prefetch((const char *)(o + 16), _MM_HINT_T0);
                _mm_prefetch((const char *)(o + 32), _MM_HINT_T0);
                if (nw == 16) {
                    _mm_prefetch((const char *)(o + plane), _MM_HINT_T0);
                    _mm_prefetch((const char *)(o + plane + 16), _MM_HINT_T0);
                    _mm_prefetch((const char *)(o + plane + 32), _MM_HINT_T0);
                }
            }
        }
        if (buf)
            kernel(buf + (t - t0) * TP * 8, bplane, nb, U, nw, false, acc);
        else if (pf)
            kernel(src + (n * (size_t)nb * P + start) * 8, plane, nb, U, nw,
                   true, acc);
        else
            kernel(src + (n * (size_t)nb * P + start) * 8, plane, nb, U, nw,
                   false, acc);
        for (size_t x = p; x < p + TP && x < P; x++) {
            int r = (int)(x - start);
            float *o0 = out + x * 8;
            _mm256_store_ps(o0, epilogue(k, acc[r][0], b0, o0));
            if (nw == 16) {
                float *o1 = o0 + plane;
                _mm256_store_ps(o1, epilogue(k, acc[r][1], b1, o1));
            }
        }
    }
}

K1_TARGET static void k1_tiles(void *vctx, size_t begin, size_t end, int thread)
{
    const K1Ctx *c = vctx;
    const NnConv1x1 *k = c->k;
    const int64_t groups = (k->M + 15) / 16;
    float *buf = NULL;
    if (k->gather)
        buf = (float *)(c->scratch + nova__nn_conv1x1_scratch_bytes(k) /
                                         (size_t)k->n_threads * (size_t)thread);
    for (size_t t0 = begin; t0 < end; t0 += (size_t)k->block) {
        size_t t1 = t0 + (size_t)k->block < end ? t0 + (size_t)k->block : end;
        size_t bplane = (t1 - t0) * TP * 8;
        if (buf)
            gather(k, c->src, buf, t0, t1);
        /* The first group reads the block from L3 or memory. */
        if (groups == 1 && k->M < 16)
            group_tiles(k, c->src, buf, bplane, c->dst, 0, 8, true, t0, t1);
        else
            group_tiles(k, c->src, buf, bplane, c->dst, 0, 16, true, t0, t1);
        for (int64_t g = 1; g < groups; g++) {
            if (k->M - g * 16 < 16)
                group_tiles(k, c->src, buf, bplane, c->dst, g, 8, false, t0,
                            t1);
            else
                group_tiles(k, c->src, buf, bplane, c->dst, g, 16, false, t0,
                            t1);
        }
    }
}

void nova__nn_conv1x1_run(const NnConv1x1 *k, NovaPool *pool, const float *src,
                          float *dst, uint8_t *scratch)
{
    K1Ctx c = {k, src, dst, scratch};
    /* Four chunks per team thread: a chunk costs only its share of the
     * weight reads, and a thread that the machine held up leaves the
     * others less to wait for. */
    nova__nn_par_for_fine(pool, (size_t)(k->N * k->tiles), 4, k1_tiles, &c);
}
