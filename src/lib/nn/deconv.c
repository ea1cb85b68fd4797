/*
 * deconv.c - ConvTranspose whose stride equals its kernel (the 2x2 and
 * 2x2x2 upsampling of U-Nets), on oneDNN's 8-channel blocked layouts, in
 * AVX2 + FMA.
 *
 * Why: oneDNN 2.6 runs these through its GEMM-based deconvolution in
 * plain layout (x64:gemm:jit), at a few GFLOP/s and with reorders of the
 * input and output around it; the 3D U-Net spent 12% of its time there.
 *
 * How: with stride = kernel the output windows do not overlap, so every
 * input position x (C channels) gives one output per kernel position p
 * and output channel m: y[p][m] = bias[m] + sum_c x[c] W[c][m][p].  That
 * is one GEMM, input positions x (C) times (C x P*M) weights, written
 * straight to the output positions.  Weights are packed once per kernel
 * position as [p][m/16][c][16] (8 wide for the last block when M % 16 is
 * 8); a 6-position x 16-channel micro-kernel reads the input's channels
 * from its 8-channel blocks and broadcasts them.  Chunks of positions are
 * split statically over Nova's pool; nothing is allocated at run time.
 */
#include "nn_internal.h"

#include <immintrin.h>

#define DC_TARGET __attribute__((target("avx2,fma")))

enum { ROWS = 6, CHUNK = 48 /* input positions per work item */ };

struct NnDeconv {
    int64_t N, C, M;
    int64_t in[3], out[3], k[3]; /* (d, h, w); 1 on a 2D depth axis */
    size_t in_sp, out_sp;
    int P;
    float *U;    /* [P][M/16][C][16] */
    float *bias; /* [M] */
    size_t chunks_per_image;
};

bool nova__nn_deconv_supported(const NnWinParams *p)
{
    if ((p->nsp != 2 && p->nsp != 3) || p->group != 1 || p->C % 8 || p->M % 8 ||
        !nova__nn_wino_available())
        return false;
    for (int i = 0; i < p->nsp; i++)
        if (p->stride[i] != p->k[i] || p->k[i] < 1 || p->k[i] > 4 ||
            p->dil[i] != 1 || p->pb[i] != 0 || p->pe[i] != 0 ||
            p->out[i] != p->in[i] * p->k[i])
            return false;
    return true;
}

void nova__nn_deconv_destroy(NnDeconv *d)
{
    if (!d)
        return;
    nova_free(d->U);
    nova_free(d->bias);
    nova_free(d);
}

NnDeconv *nova__nn_deconv_create(NovaError **error, const NnWinParams *p,
                                 const float *weights, const float *bias)
{
    NnDeconv *d = nova_calloc(error, 1, sizeof *d);
    if (!d)
        return NULL;
    int off = 3 - p->nsp;
    d->in_sp = d->out_sp = 1;
    d->P = 1;
    for (int i = 0; i < 3; i++) {
        bool sp = i >= off;
        d->in[i] = sp ? p->in[i - off] : 1;
        d->out[i] = sp ? p->out[i - off] : 1;
        d->k[i] = sp ? p->k[i - off] : 1;
        d->in_sp *= (size_t)d->in[i];
        d->out_sp *= (size_t)d->out[i];
        d->P *= (int)d->k[i];
    }
    d->N = p->N;
    d->C = p->C;
    d->M = p->M;
    d->chunks_per_image = (d->in_sp + CHUNK - 1) / CHUNK;
    size_t n = (size_t)d->P * (size_t)d->C * (size_t)d->M;
    d->U = nova_malloc_aligned(error, 64, n * sizeof(float));
    d->bias = nova_malloc_aligned(error, 64, (size_t)d->M * sizeof(float));
    if (!d->U || !d->bias) {
        nova__nn_deconv_destroy(d);
        return NULL;
    }
    for (int64_t m = 0; m < d->M; m++)
        d->bias[m] = bias ? bias[m] : 0.0f;
    /* ONNX ConvTranspose weights: [C][M][k...]. */
    for (int q = 0; q < d->P; q++)
        for (int64_t m = 0; m < d->M; m++) {
            int64_t g = m / 16, width = d->M - g * 16 < 16 ? 8 : 16;
            float *u = d->U + (size_t)q * (size_t)(d->M * d->C) +
                       (size_t)(g * 16 * d->C) + (size_t)(m % 16);
            for (int64_t c = 0; c < d->C; c++)
                u[c * width] = weights[((size_t)c * (size_t)d->M + (size_t)m) *
                                           (size_t)d->P +
                                       (size_t)q];
        }
    return d;
}

/* acc[r][0..16) = sum_c x_r[c] U[c][0..16) for the 6 input positions
 * whose channel block 0 starts at x + r * 8 (blocks cbs floats apart);
 * nw = 16 or 8 output channels. */
DC_TARGET static void kernel(const float *x, size_t cbs, int64_t C,
                             const float *U, int nw, __m256 acc[ROWS][2])
{
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00,
           c20 = c00, c21 = c00, c30 = c00, c31 = c00, c40 = c00, c41 = c00,
           c50 = c00, c51 = c00;
    for (int64_t cb = 0; cb < C / 8; cb++) {
        const float *xb = x + (size_t)cb * cbs;
        for (int l = 0; l < 8; l++) {
            __m256 b0 = _mm256_load_ps(U);
            __m256 b1 = nw == 16 ? _mm256_load_ps(U + 8) : b0;
            __m256 a = _mm256_broadcast_ss(xb + l);
            c00 = _mm256_fmadd_ps(a, b0, c00);
            c01 = _mm256_fmadd_ps(a, b1, c01);
            a = _mm256_broadcast_ss(xb + 8 + l);
            c10 = _mm256_fmadd_ps(a, b0, c10);
            c11 = _mm256_fmadd_ps(a, b1, c11);
            a = _mm256_broadcast_ss(xb + 16 + l);
            c20 = _mm256_fmadd_ps(a, b0, c20);
            c21 = _mm256_fmadd_ps(a, b1, c21);
            a = _mm256_broadcast_ss(xb + 24 + l);
            c30 = _mm256_fmadd_ps(a, b0, c30);
            c31 = _mm256_fmadd_ps(a, b1, c31);
            a = _mm256_broadcast_ss(xb + 32 + l);
            c40 = _mm256_fmadd_ps(a, b0, c40);
            c41 = _mm256_fmadd_ps(a, b1, c41);
            a = _mm256_broadcast_ss(xb + 40 + l);
            c50 = _mm256_fmadd_ps(a, b0, c50);
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

/* The same for an image of fewer than 6 positions (n of them). */
DC_TARGET static void small_kernel(const float *x, size_t n, int64_t C,
                                   const float *U, int nw, __m256 acc[ROWS][2])
{
    for (int r = 0; r < ROWS; r++)
        acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int64_t c = 0; c < C; c++) {
        __m256 b0 = _mm256_load_ps(U + (size_t)c * (size_t)nw);
        __m256 b1 = nw == 16 ? _mm256_load_ps(U + (size_t)c * 16 + 8) : b0;
        for (size_t r = 0; r < n; r++) {
            __m256 a =
                _mm256_broadcast_ss(x + ((size_t)(c / 8) * n + r) * 8 + c % 8);
            acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
        }
    }
}

typedef struct {
    const NnDeconv *d;
    const float *src;
    float *dst;
} DcCtx;

DC_TARGET static void dc_chunks(void *vctx, size_t begin, size_t end,
                                int thread)
{
    const DcCtx *c = vctx;
    const NnDeconv *d = c->d;
    const int64_t nb_in = d->C / 8, nb_out = d->M / 8;
    for (size_t item = begin; item < end; item++) {
        size_t n = item / d->chunks_per_image;
        size_t v0 = item % d->chunks_per_image * CHUNK;
        size_t v1 = v0 + CHUNK < d->in_sp ? v0 + CHUNK : d->in_sp;
        const float *x = c->src + (size_t)n * (size_t)nb_in * d->in_sp * 8;
        float *y = c->dst + (size_t)n * (size_t)nb_out * d->out_sp * 8;
        /* Where each input position's window starts in the output. */
        size_t obase[CHUNK];
        for (size_t v = v0; v < v1; v++) {
            size_t ix = v % (size_t)d->in[2];
            size_t iy = v / (size_t)d->in[2] % (size_t)d->in[1];
            size_t iz = v / (size_t)(d->in[2] * d->in[1]);
            obase[v - v0] = ((iz * (size_t)d->k[0]) * (size_t)d->out[1] +
                             iy * (size_t)d->k[1]) *
                                (size_t)d->out[2] +
                            ix * (size_t)d->k[2];
        }
        for (int q = 0; q < d->P; q++) {
            int64_t qa = q / (int)(d->k[1] * d->k[2]),
                    qb = q / (int)d->k[2] % d->k[1], qc = q % d->k[2];
            size_t poff = ((size_t)qa * (size_t)d->out[1] + (size_t)qb) *
                              (size_t)d->out[2] +
                          (size_t)qc;
            for (int64_t g = 0; g < (d->M + 15) / 16; g++) {
                int nw = d->M - g * 16 < 16 ? 8 : 16;
                const float *U = d->U + (size_t)q * (size_t)(d->M * d->C) +
                                 (size_t)(g * 16 * d->C);
                __m256 bias0 = _mm256_load_ps(d->bias + g * 16);
                __m256 bias1 =
                    nw == 16 ? _mm256_load_ps(d->bias + g * 16 + 8) : bias0;
                for (size_t v = v0; v < v1; v += ROWS) {
                    /* Six positions from v; at the end of the image the
                     * group slides back so it stays inside, and only the
                     * positions from v on are stored. */
                    size_t start = v;
                    __m256 acc[ROWS][2];
                    if (d->in_sp >= ROWS) {
                        if (start + ROWS > d->in_sp)
                            start = d->in_sp - ROWS;
                        kernel(x + start * 8, d->in_sp * 8, d->C, U, nw, acc);
                    } else {
                        start = 0;
                        small_kernel(x, d->in_sp, d->C, U, nw, acc);
                    }
                    size_t hi = v + ROWS < v1 ? v + ROWS : v1;
                    for (size_t pos = v; pos < hi; pos++) {
                        size_t r = pos - start;
                        size_t o = obase[pos - v0] + poff;
                        float *p0 = y + ((size_t)(g * 2) * d->out_sp + o) * 8;
                        _mm256_store_ps(p0, _mm256_add_ps(acc[r][0], bias0));
                        if (nw == 16)
                            _mm256_store_ps(p0 + d->out_sp * 8,
                                            _mm256_add_ps(acc[r][1], bias1));
                    }
                }
            }
        }
    }
}

void nova__nn_deconv_run(const NnDeconv *d, NovaPool *pool, const float *src,
                         float *dst)
{
    DcCtx c = {d, src, dst};
    nova__nn_par_for(pool, (size_t)d->N * d->chunks_per_image, dc_chunks, &c);
}
