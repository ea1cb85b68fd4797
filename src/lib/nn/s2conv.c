/*
 * s2conv.c - 2D convolution with a 3x3 kernel and stride 2 (the
 * downsampling convolutions of ResNets) on oneDNN's nChw8c layout, in
 * AVX2 + FMA.
 *
 * Why: Winograd does not apply to stride 2, and oneDNN 2.6's AVX2 direct
 * convolution reaches ~55 GFLOP/s on these layers against ~85 on the
 * 1x1 ones around them.
 *
 * How: the input is first copied, per 8-channel block, into a zero-padded
 * plane in the session's scratch, so the kernel never tests borders.  For
 * six neighbouring outputs of one row and 16 output channels, a register-
 * blocked micro-kernel (12 accumulators) runs over the 9 taps and all
 * input channels (K = 9 C), broadcasting inputs (which are 2 positions,
 * 16 floats, apart) against weights packed as [m/16][tap][c][16] (8 wide
 * for the last block when M % 16 is 8).  Bias, the residual already in the
 * output and ReLU/LeakyReLU are fused into the stores.  Output rows are
 * split statically over Nova's pool.
 */
#include "nn_internal.h"

#include <immintrin.h>

#define S2_TARGET __attribute__((target("avx2,fma")))

enum { ROWS = 6 };

struct NnS2Conv {
    int64_t N, C, M, H, W, OH, OW, pt, pl, Hp, Wp;
    float *U;    /* [M/16][9][C][16] */
    float *bias; /* [M] */
    NnActivation act;
    float alpha;
    bool sum;
};

bool nova__nn_s2conv_supported(const NnWinParams *p)
{
    if (p->nsp != 2 || p->group != 1 || p->C % 8 || p->M % 8 ||
        !nova__nn_wino_available())
        return false;
    for (int i = 0; i < 2; i++)
        if (p->k[i] != 3 || p->stride[i] != 2 || p->dil[i] != 1 ||
            p->pb[i] < 0 || p->pb[i] > 2 || p->pe[i] < 0 || p->pe[i] > 2 ||
            p->out[i] < 1)
            return false;
    /* Rows of at least 24 outputs: narrower ones waste much of the last
     * 6-wide group (ResNet's 14- and 7-wide layers measured slower than
     * oneDNN's). */
    return p->out[1] >= 24;
}

void nova__nn_s2conv_destroy(NnS2Conv *s)
{
    if (!s)
        return;
    nova_free(s->U);
    nova_free(s->bias);
    nova_free(s);
}

NnS2Conv *nova__nn_s2conv_create(NovaError **error, const NnWinParams *p,
                                 const float *weights, const float *bias,
                                 NnActivation act, float alpha, bool sum)
{
    NnS2Conv *s = nova_calloc(error, 1, sizeof *s);
    if (!s)
        return NULL;
    s->N = p->N;
    s->C = p->C;
    s->M = p->M;
    s->H = p->in[0];
    s->W = p->in[1];
    s->OH = p->out[0];
    s->OW = p->out[1];
    s->pt = p->pb[0];
    s->pl = p->pb[1];
    /* The padded plane holds every input an output reads. */
    s->Hp = 2 * (s->OH - 1) + 3;
    s->Wp = 2 * (s->OW - 1) + 3;
    s->act = act;
    s->alpha = alpha;
    s->sum = sum;
    size_t n = (size_t)s->M * 9 * (size_t)s->C;
    s->U = nova_malloc_aligned(error, 64, n * sizeof(float));
    s->bias = nova_malloc_aligned(error, 64, (size_t)s->M * sizeof(float));
    if (!s->U || !s->bias) {
        nova__nn_s2conv_destroy(s);
        return NULL;
    }
    for (int64_t m = 0; m < s->M; m++) {
        s->bias[m] = bias ? bias[m] : 0.0f;
        int64_t g = m / 16, width = s->M - g * 16 < 16 ? 8 : 16;
        float *u =
            s->U + (size_t)(g * 16) * 9 * (size_t)s->C + (size_t)(m % 16);
        for (int tap = 0; tap < 9; tap++)
            for (int64_t c = 0; c < s->C; c++)
                u[((size_t)tap * (size_t)s->C + (size_t)c) * (size_t)width] =
                    weights[((size_t)m * (size_t)s->C + (size_t)c) * 9 +
                            (size_t)tap];
    }
    return s;
}

size_t nova__nn_s2conv_scratch_bytes(const NnS2Conv *s)
{
    return (size_t)s->N * (size_t)s->C * (size_t)s->Hp * (size_t)s->Wp *
           sizeof(float);
}

typedef struct {
    const NnS2Conv *s;
    const float *src;
    float *dst;
    float *pad;
} S2Ctx;

/* Copy planes (image, channel block) into the zero-padded scratch. */
static void pad_planes(void *vctx, size_t begin, size_t end, int thread)
{
    const S2Ctx *c = vctx;
    const NnS2Conv *s = c->s;
    for (size_t pl = begin; pl < end; pl++) {
        float *d = c->pad + pl * (size_t)(s->Hp * s->Wp) * 8;
        const float *x = c->src + pl * (size_t)(s->H * s->W) * 8;
        for (int64_t y = 0; y < s->Hp; y++) {
            float *row = d + (size_t)(y * s->Wp) * 8;
            int64_t iy = y - s->pt;
            if (iy < 0 || iy >= s->H) {
                memset(row, 0, (size_t)s->Wp * 8 * sizeof(float));
                continue;
            }
            int64_t x0 = s->pl, n = s->W;
            if (x0 + n > s->Wp)
                n = s->Wp - x0; /* columns no output reads */
            memset(row, 0, (size_t)x0 * 8 * sizeof(float));
            memcpy(row + x0 * 8, x + (size_t)(iy * s->W) * 8,
                   (size_t)n * 8 * sizeof(float));
            memset(row + (x0 + n) * 8, 0,
                   (size_t)(s->Wp - x0 - n) * 8 * sizeof(float));
        }
    }
}

/* acc[r] for outputs ox0 .. ox0 + 5 of one row: in points at the padded
 * plane of channel block 0, row 2 oy, column 2 ox0. */
S2_TARGET static void kernel(const NnS2Conv *s, const float *in, const float *U,
                             int nw, __m256 acc[ROWS][2])
{
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00,
           c20 = c00, c21 = c00, c30 = c00, c31 = c00, c40 = c00, c41 = c00,
           c50 = c00, c51 = c00;
    const size_t plane = (size_t)(s->Hp * s->Wp) * 8;
    for (int ky = 0; ky < 3; ky++)
        for (int kx = 0; kx < 3; kx++)
            for (int64_t cb = 0; cb < s->C / 8; cb++) {
                const float *x =
                    in + (size_t)cb * plane + (size_t)(ky * s->Wp + kx) * 8;
                for (int l = 0; l < 8; l++) {
                    __m256 b0 = _mm256_load_ps(U);
                    __m256 b1 = nw == 16 ? _mm256_load_ps(U + 8) : b0;
                    __m256 a = _mm256_broadcast_ss(x + l);
                    c00 = _mm256_fmadd_ps(a, b0, c00);
                    c01 = _mm256_fmadd_ps(a, b1, c01);
                    a = _mm256_broadcast_ss(x + 16 + l);
                    c10 = _mm256_fmadd_ps(a, b0, c10);
                    c11 = _mm256_fmadd_ps(a, b1, c11);
                    a = _mm256_broadcast_ss(x + 32 + l);
                    c20 = _mm256_fmadd_ps(a, b0, c20);
                    c21 = _mm256_fmadd_ps(a, b1, c21);
                    a = _mm256_broadcast_ss(x + 48 + l);
                    c30 = _mm256_fmadd_ps(a, b0, c30);
                    c31 = _mm256_fmadd_ps(a, b1, c31);
                    a = _mm256_broadcast_ss(x + 64 + l);
                    c40 = _mm256_fmadd_ps(a, b0, c40);
                    c41 = _mm256_fmadd_ps(a, b1, c41);
                    a = _mm256_broadcast_ss(x + 80 + l);
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

S2_TARGET static __m256 epilogue(const NnS2Conv *s, __m256 v, __m256 b,
                                 const float *old)
{
    const __m256 zero = _mm256_setzero_ps();
    v = _mm256_add_ps(v, b);
    if (s->sum)
        v = _mm256_add_ps(v, _mm256_load_ps(old));
    if (s->act == NN_ACT_RELU)
        v = _mm256_max_ps(v, zero);
    else if (s->act == NN_ACT_LEAKY_RELU)
        v = _mm256_blendv_ps(_mm256_mul_ps(v, _mm256_set1_ps(s->alpha)), v,
                             _mm256_cmp_ps(v, zero, _CMP_GT_OQ));
    return v;
}

/* Output rows (image, oy) [begin, end).  Output channel groups outside,
 * rows inside: a group's weights (9 C x 16 floats) stay in L2 while the
 * rows stream past. */
S2_TARGET static void s2_rows(void *vctx, size_t begin, size_t end, int thread)
{
    const S2Ctx *c = vctx;
    const NnS2Conv *s = c->s;
    const size_t osp = (size_t)(s->OH * s->OW);
    for (int64_t g = 0; g < (s->M + 15) / 16; g++) {
        int nw = s->M - g * 16 < 16 ? 8 : 16;
        const float *U = s->U + (size_t)(g * 16) * 9 * (size_t)s->C;
        __m256 b0 = _mm256_load_ps(s->bias + g * 16);
        __m256 b1 = nw == 16 ? _mm256_load_ps(s->bias + g * 16 + 8) : b0;
        for (size_t row = begin; row < end; row++) {
            size_t n = row / (size_t)s->OH;
            int64_t oy = (int64_t)(row % (size_t)s->OH);
            const float *in =
                c->pad + (n * (size_t)(s->C / 8) * (size_t)(s->Hp * s->Wp) +
                          (size_t)(2 * oy * s->Wp)) *
                             8;
            float *out =
                c->dst +
                (n * (size_t)(s->M / 8) * osp + (size_t)(oy * s->OW)) * 8;
            for (int64_t ox = 0; ox < s->OW; ox += ROWS) {
                /* The last group slides back to stay inside the row; only
                 * the outputs from ox on are stored. */
                int64_t start = ox + ROWS <= s->OW ? ox : s->OW - ROWS;
                __m256 acc[ROWS][2];
                kernel(s, in + (size_t)(2 * start) * 8, U, nw, acc);
                for (int64_t x = ox; x < ox + ROWS && x < s->OW; x++) {
                    int r = (int)(x - start);
                    float *o0 = out + ((size_t)(g * 2) * osp + (size_t)x) * 8;
                    _mm256_store_ps(o0, epilogue(s, acc[r][0], b0, o0));
                    if (nw == 16) {
                        float *o1 = o0 + osp * 8;
                        _mm256_store_ps(o1, epilogue(s, acc[r][1], b1, o1));
                    }
                }
            }
        }
    }
}

void nova__nn_s2conv_run(const NnS2Conv *s, NovaPool *pool, const float *src,
                         float *dst, uint8_t *scratch)
{
    S2Ctx c = {s, src, dst, (float *)scratch};
    nova__nn_par_for(pool, (size_t)(s->N * (s->C / 8)), pad_planes, &c);
    nova__nn_par_for(pool, (size_t)(s->N * s->OH), s2_rows, &c);
}
