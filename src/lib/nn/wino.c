/*
 * wino.c - Winograd convolution for 3x3 (2D) and 3x3x3 (3D) kernels with
 * stride 1, on oneDNN's channel-blocked layouts (nChw8c, nCdhw8c), in
 * AVX2 + FMA.
 *
 * Why: oneDNN 2.6 has Winograd only for AVX-512, and its AVX2 direct
 * convolution does 9 (27) multiply-adds per output and input channel.
 * F(m, 3) computes m outputs along an axis from m + 2 inputs with m + 2
 * multiplications instead of 3m, so F(4x4, 3x3) does 36 instead of 144 per
 * 16 outputs (4x fewer), F(2x2, 3x3) 16 instead of 36 and F(2x2x2, 3x3x3)
 * 64 instead of 216.  (Lavin and Gray, "Fast Algorithms for Convolutional
 * Neural Networks", 2016; the matrices B^T, G, A^T below are theirs.)
 *
 * How: the output is cut into tiles of m (m x m, m x m x m) positions.
 * Weights are transformed once (U = G g G^T per output and input channel,
 * in double, stored per transform position p as [p][oc/16][ic][16]).  At
 * run time a block of tb tiles is transformed (V = B^T d B on 8-channel
 * vectors, as the blocked layout holds them: V_p[tile][ic]); for every p
 * one small GEMM M_p[tile][oc] = V_p[tile][ic] U_p[ic][oc] runs in a
 * 6-tile x 16-channel register-blocked micro-kernel (broadcast V, FMA into
 * 12 accumulators), and the result, again 8 channels per vector, is
 * transformed (Y = A^T M A) with bias, the residual sum and the activation
 * fused, into the output tiles.  Channels stay in the vector lanes from
 * input to output, so nothing is transposed.  Blocks (and, when there
 * are few, output-channel ranges of a block) are split statically
 * over Nova's pool; each thread has its own V and M buffers in the
 * session's scratch, so a run allocates nothing.
 *
 * Accuracy: F(2, 3) uses only 0, +-1/2, +-1 and is as accurate as direct
 * convolution; F(4, 3) (points 0, +-1, +-2) loses about one decimal digit
 * in float32, which the model tests' tolerance absorbs (docs/nn.md).
 */
#include "nn_internal.h"

#include <immintrin.h>

#define WINO_TARGET __attribute__((target("avx2,fma")))
/* The transforms are written once for any tile shape and instantiated for
 * the three used ones with constant sizes, so the compiler can unroll them
 * and keep a slice in registers (20-30% less CPU than with run-time
 * sizes, measured on the 3D transforms). */
#define WINO_INLINE WINO_TARGET __attribute__((always_inline)) static inline

enum {
    MR_TILES = 6, /* micro-kernel: 6 tiles ... */
    NR_OC = 16,   /* ... by 16 output channels (8 for the last of M % 16) */
    MAX_P = 64    /* transform positions: 6x6 or 4x4x4 */
};

struct NnWino {
    int m[3], a[3]; /* per axis (d, h, w): outputs per tile, inputs m + 2 */
    int P;          /* a[0] * a[1] * a[2] */
    int64_t N, C, M;
    int64_t in[3], out[3], pad[3];
    int64_t nt[3];
    size_t tiles_per_image, total_tiles;
    size_t tb;       /* tiles per block, a multiple of MR_TILES */
    int64_t n16;     /* 16-channel output groups (the last maybe 8) */
    size_t n_blocks; /* ceil(total_tiles / tb) */
    int osplit;      /* output-channel ranges per block */
    int n_threads;
    float *U;    /* [P][M/16][C][16], the last block 8 wide if M % 16 */
    float *bias; /* [M], zeros when the node has none */
    NnActivation act;
    float alpha;
    bool sum;
    size_t vq, mq;             /* floats per transform position in V, M */
    size_t v_floats, m_floats; /* per thread */
};

bool nova__nn_wino_available(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static size_t round_up(size_t x, size_t to)
{
    return (x + to - 1) / to * to;
}

/* Tiles of the output for tile size m on each spatial axis. */
static size_t count_tiles(const NnWinParams *p, int m)
{
    size_t t = (size_t)p->N;
    for (int i = 0; i < p->nsp; i++)
        t *= (size_t)((p->out[i] + m - 1) / m);
    return t;
}

int nova__nn_wino_choose(const NnWinParams *p)
{
    if ((p->nsp != 2 && p->nsp != 3) || p->group != 1 || p->C % 8 || p->M % 8 ||
        p->N < 1)
        return 0;
    for (int i = 0; i < p->nsp; i++)
        if (p->k[i] != 3 || p->stride[i] != 1 || p->dil[i] != 1 ||
            p->pb[i] < 0 || p->pb[i] > 2 || p->out[i] < 1)
            return 0;
    /* With very few tiles the transforms and the short GEMMs cost more
     * than they save: at least 16 (a 7x7 map in F(2,3), where streaming
     * the transformed weights once still beats direct convolution). */
    size_t cm = (size_t)p->C * (size_t)p->M;
    if (p->nsp == 2) {
        /* Transformed weights take 36 (F(4,3)) or 16 (F(2,3)) floats per
         * channel pair instead of 9, and the session keeps them besides
         * the model's own: F(4x4, 3x3) only up to 16 MB of them, F(2x2,
         * 3x3) up to 36 MB (1024 x 512 channels); the widest layers (a
         * U-Net's 1024 x 1024 bottom at 16x16 positions) stay on oneDNN,
         * which keeps peak memory below ONNX Runtime's on the lungmask
         * U-Net at a small cost in speed. */
        size_t t4 = count_tiles(p, 4), t2 = count_tiles(p, 2);
        if (cm * 36 * sizeof(float) <= ((size_t)16 << 20) && t4 >= 16)
            return 4;
        if (cm * 16 * sizeof(float) <= ((size_t)36 << 20) && t2 >= 16)
            return 2;
        return 0;
    }
    size_t t2 = count_tiles(p, 2);
    if (cm * 64 * sizeof(float) <= ((size_t)20 << 20) && t2 >= 16)
        return 2;
    return 0;
}

/* ------------------------------------------------------ weight transform */

/* G for F(2, 3) and F(4, 3); a = 1 is the identity (the depth axis of a 2D
 * convolution). */
static const double G2[4][3] = {
    {1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
static const double G4[6][3] = {{1.0 / 4, 0, 0},
                                {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                {0, 0, 1}};

static double gval(int a, int r, int k)
{
    if (a == 1)
        return 1.0;
    return a == 4 ? G2[r][k] : G4[r][k];
}

/* U[p] = (G_d x G_h x G_w) g for one (oc, ic) pair; k[i] is 1 on a 2D
 * depth axis, 3 otherwise. */
static void transform_weight(const NnWino *w, const float *g, double *u)
{
    int kd = w->a[0] == 1 ? 1 : 3;
    double t1[3][3][6], t2[3][6][6];
    for (int d = 0; d < kd; d++)
        for (int h = 0; h < 3; h++)
            for (int x = 0; x < w->a[2]; x++) {
                double s = 0;
                for (int k = 0; k < 3; k++)
                    s += gval(w->a[2], x, k) * g[(d * 3 + h) * 3 + k];
                t1[d][h][x] = s;
            }
    for (int d = 0; d < kd; d++)
        for (int y = 0; y < w->a[1]; y++)
            for (int x = 0; x < w->a[2]; x++) {
                double s = 0;
                for (int k = 0; k < 3; k++)
                    s += gval(w->a[1], y, k) * t1[d][k][x];
                t2[d][y][x] = s;
            }
    for (int z = 0; z < w->a[0]; z++)
        for (int y = 0; y < w->a[1]; y++)
            for (int x = 0; x < w->a[2]; x++) {
                double s = 0;
                for (int k = 0; k < kd; k++)
                    s += (kd == 1 ? 1.0 : gval(w->a[0], z, k)) * t2[k][y][x];
                u[(z * w->a[1] + y) * w->a[2] + x] = s;
            }
}

/* Work of the busiest thread when blocks of tb tiles are shared out
 * (osplit 1: thread t gets blocks [t nb / T, (t + 1) nb / T)) or when every
 * thread takes all blocks for 1/T of the output channels (osplit T), in
 * units of 6 tiles x 16 channels of GEMM.  A 6-tile row costs its GEMM
 * rounded up to whole rows, plus the input transform, about a third of one
 * 16-channel group's GEMM and repeated by every thread with osplit T. */
static double split_work(const NnWino *w, size_t tb, int osplit)
{
    const int T = w->n_threads;
    const size_t tiles = w->total_tiles, nb = (tiles + tb - 1) / tb;
    double worst = 0;
    for (int t = 0; t < T; t++) {
        size_t b0 = osplit > 1 ? 0 : nb * (size_t)t / (size_t)T;
        size_t b1 = osplit > 1 ? nb : nb * ((size_t)t + 1) / (size_t)T;
        int64_t groups =
            osplit > 1 ? w->n16 * (t + 1) / T - w->n16 * t / T : w->n16;
        double work = 0;
        for (size_t b = b0; b < b1; b++) {
            size_t n = tiles - b * tb < tb ? tiles - b * tb : tb;
            work += (double)round_up(n, MR_TILES) / MR_TILES *
                    ((double)groups + 1.0 / 3.0);
        }
        worst = work > worst ? work : worst;
    }
    return worst;
}

/* With several threads: the tiles per block (tb as chosen for one thread,
 * or a little larger or smaller so the blocks share out evenly), and
 * whether to split output channels instead of blocks (w->osplit). */
static size_t split_for_threads(NnWino *w, size_t tb)
{
    const int T = w->n_threads;
    size_t best_tb = tb;
    double best = split_work(w, tb, 1);
    /* k blocks per thread, each at most a quarter over the chosen size
     * (their slices of V then still fit L1/L2 as well). */
    for (int k = 1; k <= 4; k++) {
        size_t want = (w->total_tiles + (size_t)(T * k) - 1) / (size_t)(T * k);
        size_t c = round_up(want, MR_TILES);
        if (c > tb + tb / 4 || c < MR_TILES)
            continue;
        double work = split_work(w, c, 1);
        if (work < best * 0.99) {
            best = work;
            best_tb = c;
        }
    }
    if (w->n16 >= T && split_work(w, tb, T) < best * 0.97) {
        w->osplit = T;
        return tb;
    }
    return best_tb;
}

NnWino *nova__nn_wino_create(NovaError **error, const NnWinParams *p, int m,
                             const float *weights, const float *bias,
                             NnActivation act, float alpha, bool sum,
                             int n_threads)
{
    NnWino *w = nova_calloc(error, 1, sizeof *w);
    if (!w)
        return NULL;
    int off = 3 - p->nsp;
    for (int i = 0; i < 3; i++) {
        bool sp = i >= off;
        w->m[i] = sp ? m : 1;
        w->a[i] = sp ? m + 2 : 1;
        w->in[i] = sp ? p->in[i - off] : 1;
        w->out[i] = sp ? p->out[i - off] : 1;
        w->pad[i] = sp ? p->pb[i - off] : 0;
        w->nt[i] = (w->out[i] + w->m[i] - 1) / w->m[i];
    }
    w->P = w->a[0] * w->a[1] * w->a[2];
    w->N = p->N;
    w->C = p->C;
    w->M = p->M;
    w->tiles_per_image = (size_t)(w->nt[0] * w->nt[1] * w->nt[2]);
    w->total_tiles = w->tiles_per_image * (size_t)w->N;
    w->act = act;
    w->alpha = alpha;
    w->sum = sum;
    w->n_threads = n_threads > 0 ? n_threads : 1;
    /* Tiles per block (measured on the U-Net layers): each block streams
     * all of U, so with more than ~1 MB of it (beyond L2) a block needs
     * many tiles to pay for that; with less, blocks whose V_p (tb x C)
     * stays in L1 across the channel groups are fastest.  The per-thread
     * V and M stay within 4 MB. */
    size_t per_tile = (size_t)w->P * (size_t)(w->C + w->M) * sizeof(float);
    size_t tb = (size_t)24576 / ((size_t)w->C * sizeof(float));
    if (nova__nn_wino_weight_bytes(w) > ((size_t)1 << 20) && tb < 96)
        tb = 96;
    if (tb > ((size_t)4 << 20) / per_tile)
        tb = ((size_t)4 << 20) / per_tile;
    tb = tb / MR_TILES * MR_TILES;
    tb = tb < 12 ? 12 : tb > 144 ? 144 : tb;
    /* Enough blocks for every thread when the image is small; with very
     * few tiles (a 7x7 map) one block whose output channels the threads
     * share, so each streams only its part of the weights. */
    size_t per_thread = round_up((w->total_tiles + (size_t)w->n_threads - 1) /
                                     (size_t)w->n_threads,
                                 MR_TILES);
    if (w->total_tiles <= 36)
        per_thread = round_up(w->total_tiles, MR_TILES);
    if (per_thread < tb)
        tb = per_thread;
    w->n16 = (w->M + 15) / 16;
    w->osplit = 1;
    if (w->n_threads > 1)
        tb = split_for_threads(w, tb);
    w->tb = tb;
    w->n_blocks = (w->total_tiles + tb - 1) / tb;
    /* One transform position's slice of V (or M) is tb x C floats, often
     * a multiple of 4 KB: the P vectors of a tile would then fall in one
     * L1 set and evict each other (3-6x slower transforms, measured).  A
     * 64-byte pad per slice spreads them. */
    w->vq = (size_t)w->C * tb + 16;
    w->mq = (size_t)w->M * tb + 16;
    w->v_floats = (size_t)w->P * w->vq;
    w->m_floats = (size_t)w->P * w->mq;

    size_t n_u = (size_t)w->P * (size_t)w->M * (size_t)w->C;
    w->U = nova_malloc_aligned(error, 64, n_u * sizeof(float));
    w->bias = nova_malloc_aligned(error, 64, (size_t)w->M * sizeof(float));
    if (!w->U || !w->bias) {
        nova__nn_wino_destroy(w);
        return NULL;
    }
    for (int64_t o = 0; o < w->M; o++)
        w->bias[o] = bias ? bias[o] : 0.0f;
    size_t ksz = p->nsp == 3 ? 27 : 9;
    double u[MAX_P];
    for (int64_t o = 0; o < w->M; o++)
        for (int64_t c = 0; c < w->C; c++) {
            transform_weight(
                w, weights + ((size_t)o * (size_t)w->C + (size_t)c) * ksz, u);
            for (int q = 0; q < w->P; q++) {
                int64_t g = o / NR_OC;
                int64_t width = w->M - g * NR_OC < NR_OC ? 8 : NR_OC;
                w->U[(size_t)q * (size_t)w->M * (size_t)w->C +
                     (size_t)(g * NR_OC) * (size_t)w->C +
                     (size_t)(c * width + o % NR_OC)] = (float)u[q];
            }
        }
    return w;
}

void nova__nn_wino_destroy(NnWino *w)
{
    if (!w)
        return;
    nova_free(w->U);
    nova_free(w->bias);
    nova_free(w);
}

size_t nova__nn_wino_scratch_bytes(const NnWino *w)
{
    return (size_t)w->n_threads * (w->v_floats + w->m_floats) * sizeof(float);
}

size_t nova__nn_wino_weight_bytes(const NnWino *w)
{
    return (size_t)w->P * (size_t)w->M * (size_t)w->C * sizeof(float);
}

int nova__nn_wino_tile(const NnWino *w)
{
    return w->m[2];
}

/* ------------------------------------------------------ 1D transforms */

/* In place over a vectors at x[0], x[s], ...: B^T d. */
WINO_INLINE void in_tf(int a, __m256 *x, int s)
{
    if (a == 4) {
        __m256 d0 = x[0], d1 = x[s], d2 = x[2 * s], d3 = x[3 * s];
        x[0] = _mm256_sub_ps(d0, d2);
        x[s] = _mm256_add_ps(d1, d2);
        x[2 * s] = _mm256_sub_ps(d2, d1);
        x[3 * s] = _mm256_sub_ps(d1, d3);
    } else if (a == 6) {
        const __m256 four = _mm256_set1_ps(4.0f), m5 = _mm256_set1_ps(-5.0f),
                     m4 = _mm256_set1_ps(-4.0f), two = _mm256_set1_ps(2.0f);
        __m256 d0 = x[0], d1 = x[s], d2 = x[2 * s], d3 = x[3 * s],
               d4 = x[4 * s], d5 = x[5 * s];
        __m256 t0 = _mm256_fmadd_ps(m4, d2, d4); /* d4 - 4 d2 */
        __m256 t1 = _mm256_fmadd_ps(m4, d1, d3); /* d3 - 4 d1 */
        __m256 t2 = _mm256_sub_ps(d4, d2);
        __m256 t3 = _mm256_mul_ps(two, _mm256_sub_ps(d3, d1));
        x[0] = _mm256_fmadd_ps(four, d0, _mm256_fmadd_ps(m5, d2, d4));
        x[s] = _mm256_add_ps(t0, t1);
        x[2 * s] = _mm256_sub_ps(t0, t1);
        x[3 * s] = _mm256_add_ps(t2, t3);
        x[4 * s] = _mm256_sub_ps(t2, t3);
        x[5 * s] = _mm256_fmadd_ps(four, d1, _mm256_fmadd_ps(m5, d3, d5));
    }
}

/* In place: the first m of the a vectors become A^T x. */
WINO_INLINE void out_tf(int a, __m256 *x, int s)
{
    if (a == 4) {
        __m256 m0 = x[0], m1 = x[s], m2 = x[2 * s], m3 = x[3 * s];
        x[0] = _mm256_add_ps(_mm256_add_ps(m0, m1), m2);
        x[s] = _mm256_sub_ps(_mm256_sub_ps(m1, m2), m3);
    } else if (a == 6) {
        const __m256 two = _mm256_set1_ps(2.0f), four = _mm256_set1_ps(4.0f),
                     eight = _mm256_set1_ps(8.0f);
        __m256 m0 = x[0], m5 = x[5 * s];
        __m256 s12 = _mm256_add_ps(x[s], x[2 * s]);
        __m256 d12 = _mm256_sub_ps(x[s], x[2 * s]);
        __m256 s34 = _mm256_add_ps(x[3 * s], x[4 * s]);
        __m256 d34 = _mm256_sub_ps(x[3 * s], x[4 * s]);
        x[0] = _mm256_add_ps(_mm256_add_ps(m0, s12), s34);
        x[s] = _mm256_fmadd_ps(two, d34, d12);
        x[2 * s] = _mm256_fmadd_ps(four, s34, s12);
        x[3 * s] = _mm256_add_ps(_mm256_fmadd_ps(eight, d34, d12), m5);
    }
}

/* ------------------------------------------------------ tiles */

typedef struct {
    int64_t n, o[3]; /* image, first output position per axis */
} Tile;

static Tile tile_of(const NnWino *w, size_t t)
{
    Tile r;
    r.n = (int64_t)(t / w->tiles_per_image);
    size_t l = t % w->tiles_per_image;
    int64_t tw = (int64_t)(l % (size_t)w->nt[2]);
    l /= (size_t)w->nt[2];
    int64_t th = (int64_t)(l % (size_t)w->nt[1]);
    int64_t td = (int64_t)(l / (size_t)w->nt[1]);
    r.o[0] = td * w->m[0];
    r.o[1] = th * w->m[1];
    r.o[2] = tw * w->m[2];
    return r;
}

/* One z slice (a1 x a2 vectors) of a tile's input box, zeros outside the
 * image. */
WINO_INLINE void load_slice(const NnWino *w, const float *img, int64_t iz,
                            int64_t b1, int64_t b2, bool inside, __m256 *s,
                            const int a1, const int a2)
{
    for (int y = 0; y < a1; y++) {
        int64_t iy = b1 + y;
        if (inside) {
            const float *p =
                img + (((size_t)iz * (size_t)w->in[1] + (size_t)iy) *
                           (size_t)w->in[2] +
                       (size_t)b2) *
                          8;
            for (int k = 0; k < a2; k++)
                s[y * a2 + k] = _mm256_load_ps(p + 8 * k);
            continue;
        }
        bool row_ok = iz >= 0 && iz < w->in[0] && iy >= 0 && iy < w->in[1];
        for (int k = 0; k < a2; k++) {
            int64_t ix = b2 + k;
            s[y * a2 + k] =
                row_ok && ix >= 0 && ix < w->in[2]
                    ? _mm256_load_ps(
                          img + (((size_t)iz * (size_t)w->in[1] + (size_t)iy) *
                                     (size_t)w->in[2] +
                                 (size_t)ix) *
                                    8)
                    : _mm256_setzero_ps();
        }
    }
}

/* V = B^T d B of one tile and 8 input channels (channel block cb), the
 * transform position q stored at v + q * vstride.  A z slice is
 * transformed along x and y in a local array the compiler keeps in
 * registers (the sizes are constants); the z pass, in 3D, goes through a
 * small buffer straight into V, so each vector is stored twice at most. */
WINO_INLINE void input_tile(const NnWino *w, const float *src, const Tile *t,
                            int64_t cb, float *v, size_t vstride, const int a0,
                            const int a1, const int a2)
{
    int64_t b0 = t->o[0] - w->pad[0], b1 = t->o[1] - w->pad[1],
            b2 = t->o[2] - w->pad[2];
    const float *img = src + (((size_t)t->n * (size_t)(w->C / 8) + (size_t)cb) *
                              (size_t)(w->in[0] * w->in[1] * w->in[2])) *
                                 8;
    bool inside = b0 >= 0 && b0 + a0 <= w->in[0] && b1 >= 0 &&
                  b1 + a1 <= w->in[1] && b2 >= 0 && b2 + a2 <= w->in[2];
    __m256 buf[MAX_P];
    for (int z = 0; z < a0; z++) {
        __m256 s[36];
        load_slice(w, img, b0 + z, b1, b2, inside, s, a1, a2);
        for (int y = 0; y < a1; y++)
            in_tf(a2, s + y * a2, 1);
        for (int k = 0; k < a2; k++)
            in_tf(a1, s + k, a2);
        if (a0 == 1) {
            for (int q = 0; q < a1 * a2; q++)
                _mm256_store_ps(v + (size_t)q * vstride, s[q]);
            return;
        }
        for (int q = 0; q < a1 * a2; q++)
            buf[z * a1 * a2 + q] = s[q];
    }
    for (int r = 0; r < a1 * a2; r++) {
        __m256 d[4];
        for (int z = 0; z < a0; z++)
            d[z] = buf[z * a1 * a2 + r];
        in_tf(a0, d, 1);
        for (int z = 0; z < a0; z++)
            _mm256_store_ps(v + (size_t)(z * a1 * a2 + r) * vstride, d[z]);
    }
}

/* Transform the tiles [t0, t0 + nb) into V[p][tile][c]; rows up to the
 * next multiple of MR_TILES get zeros. */
WINO_INLINE void input_block_t(const NnWino *w, const float *src, size_t t0,
                               size_t nb, float *V, const int a0, const int a1,
                               const int a2)
{
    const int P = a0 * a1 * a2;
    const size_t C = (size_t)w->C;
    for (size_t i = 0; i < nb; i++) {
        Tile tl = tile_of(w, t0 + i);
        for (int64_t cb = 0; cb < w->C / 8; cb++)
            input_tile(w, src, &tl, cb, V + i * C + (size_t)cb * 8, w->vq, a0,
                       a1, a2);
    }
    for (size_t i = nb; i < round_up(nb, MR_TILES); i++)
        for (int q = 0; q < P; q++)
            memset(V + (size_t)q * w->vq + i * C, 0, C * sizeof(float));
}

WINO_TARGET static void input_block(const NnWino *w, const float *src,
                                    size_t t0, size_t nb, float *V)
{
    if (w->a[0] == 4)
        input_block_t(w, src, t0, nb, V, 4, 4, 4);
    else if (w->a[2] == 6)
        input_block_t(w, src, t0, nb, V, 1, 6, 6);
    else
        input_block_t(w, src, t0, nb, V, 1, 4, 4);
}

/* Mo[i][0..16) = sum_k V[i][k] U[k][0..16), i < 6: V rows ldv apart, U
 * packed 16 wide, Mo rows ldm apart. */
WINO_TARGET static void gemm_6x16(size_t K, const float *V, size_t ldv,
                                  const float *U, float *Mo, size_t ldm)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00,
           c20 = c00, c21 = c00, c30 = c00, c31 = c00, c40 = c00, c41 = c00,
           c50 = c00, c51 = c00;
    const float *v0 = V, *v1 = V + ldv, *v2 = V + 2 * ldv, *v3 = V + 3 * ldv,
                *v4 = V + 4 * ldv, *v5 = V + 5 * ldv;
    for (size_t k = 0; k < K; k++) {
        __m256 b0 = _mm256_load_ps(U), b1 = _mm256_load_ps(U + 8);
        __m256 a = _mm256_broadcast_ss(v0 + k);
        c00 = _mm256_fmadd_ps(a, b0, c00);
        c01 = _mm256_fmadd_ps(a, b1, c01);
        a = _mm256_broadcast_ss(v1 + k);
        c10 = _mm256_fmadd_ps(a, b0, c10);
        c11 = _mm256_fmadd_ps(a, b1, c11);
        a = _mm256_broadcast_ss(v2 + k);
        c20 = _mm256_fmadd_ps(a, b0, c20);
        c21 = _mm256_fmadd_ps(a, b1, c21);
        a = _mm256_broadcast_ss(v3 + k);
        c30 = _mm256_fmadd_ps(a, b0, c30);
        c31 = _mm256_fmadd_ps(a, b1, c31);
        a = _mm256_broadcast_ss(v4 + k);
        c40 = _mm256_fmadd_ps(a, b0, c40);
        c41 = _mm256_fmadd_ps(a, b1, c41);
        a = _mm256_broadcast_ss(v5 + k);
        c50 = _mm256_fmadd_ps(a, b0, c50);
        c51 = _mm256_fmadd_ps(a, b1, c51);
        U += 16;
    }
    _mm256_store_ps(Mo, c00);
    _mm256_store_ps(Mo + 8, c01);
    _mm256_store_ps(Mo + ldm, c10);
    _mm256_store_ps(Mo + ldm + 8, c11);
    _mm256_store_ps(Mo + 2 * ldm, c20);
    _mm256_store_ps(Mo + 2 * ldm + 8, c21);
    _mm256_store_ps(Mo + 3 * ldm, c30);
    _mm256_store_ps(Mo + 3 * ldm + 8, c31);
    _mm256_store_ps(Mo + 4 * ldm, c40);
    _mm256_store_ps(Mo + 4 * ldm + 8, c41);
    _mm256_store_ps(Mo + 5 * ldm, c50);
    _mm256_store_ps(Mo + 5 * ldm + 8, c51);
}

/* The same for the last 8 channels when M % 16 == 8 (U packed 8 wide). */
WINO_TARGET static void gemm_6x8(size_t K, const float *V, size_t ldv,
                                 const float *U, float *Mo, size_t ldm)
{
    __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0,
           c5 = c0;
    for (size_t k = 0; k < K; k++) {
        __m256 b = _mm256_load_ps(U);
        c0 = _mm256_fmadd_ps(_mm256_broadcast_ss(V + k), b, c0);
        c1 = _mm256_fmadd_ps(_mm256_broadcast_ss(V + ldv + k), b, c1);
        c2 = _mm256_fmadd_ps(_mm256_broadcast_ss(V + 2 * ldv + k), b, c2);
        c3 = _mm256_fmadd_ps(_mm256_broadcast_ss(V + 3 * ldv + k), b, c3);
        c4 = _mm256_fmadd_ps(_mm256_broadcast_ss(V + 4 * ldv + k), b, c4);
        c5 = _mm256_fmadd_ps(_mm256_broadcast_ss(V + 5 * ldv + k), b, c5);
        U += 8;
    }
    _mm256_store_ps(Mo, c0);
    _mm256_store_ps(Mo + ldm, c1);
    _mm256_store_ps(Mo + 2 * ldm, c2);
    _mm256_store_ps(Mo + 3 * ldm, c3);
    _mm256_store_ps(Mo + 4 * ldm, c4);
    _mm256_store_ps(Mo + 5 * ldm, c5);
}

/* Bias, residual (already in dst), activation; store the valid part of
 * one tile's outputs y (channel vectors at the tile's positions). */
WINO_INLINE void store_tile(const NnWino *w, float *dst, const Tile *t,
                            int64_t ob, __m256 *y, const int m0, const int m1,
                            const int m2, const int a1, const int a2)
{
    __m256 bias = _mm256_load_ps(w->bias + ob * 8);
    __m256 zero = _mm256_setzero_ps(), al = _mm256_set1_ps(w->alpha);
    float *img = dst + (((size_t)t->n * (size_t)(w->M / 8) + (size_t)ob) *
                        (size_t)(w->out[0] * w->out[1] * w->out[2])) *
                           8;
    for (int z = 0; z < m0 && t->o[0] + z < w->out[0]; z++)
        for (int yy = 0; yy < m1 && t->o[1] + yy < w->out[1]; yy++) {
            float *row = img + (((size_t)(t->o[0] + z) * (size_t)w->out[1] +
                                 (size_t)(t->o[1] + yy)) *
                                    (size_t)w->out[2] +
                                (size_t)t->o[2]) *
                                   8;
            for (int x = 0; x < m2 && t->o[2] + x < w->out[2]; x++) {
                __m256 v = _mm256_add_ps(y[(z * a1 + yy) * a2 + x], bias);
                if (w->sum)
                    v = _mm256_add_ps(v, _mm256_load_ps(row + 8 * x));
                if (w->act == NN_ACT_RELU)
                    v = _mm256_max_ps(v, zero);
                else if (w->act == NN_ACT_LEAKY_RELU)
                    v = _mm256_blendv_ps(_mm256_mul_ps(v, al), v,
                                         _mm256_cmp_ps(v, zero, _CMP_GT_OQ));
                _mm256_store_ps(row + 8 * x, v);
            }
        }
}

/* Output channel blocks [ob0, ob1) of the tiles [t0, t0 + nb) from
 * Mb[p][tile][oc].  As for the input, a z slice is reduced along x and y
 * in registers; in 3D the z pass follows on the m x m results. */
WINO_INLINE void output_block_t(const NnWino *w, float *dst, size_t t0,
                                size_t nb, const float *Mb, int64_t ob0,
                                int64_t ob1, const int a0, const int a1,
                                const int a2)
{
    const int m0 = a0 == 1 ? 1 : a0 - 2, m1 = a1 - 2, m2 = a2 - 2;
    const size_t M = (size_t)w->M;
    for (size_t i = 0; i < nb; i++) {
        Tile tl = tile_of(w, t0 + i);
        for (int64_t ob = ob0; ob < ob1; ob++) {
            const float *m = Mb + i * M + (size_t)ob * 8;
            /* y[(z * a1 + yy) * a2 + x], as store_tile reads it. */
            __m256 y[MAX_P], part[4][16];
            for (int z = 0; z < a0; z++) {
                __m256 s[36];
                for (int q = 0; q < a1 * a2; q++)
                    s[q] =
                        _mm256_load_ps(m + (size_t)(z * a1 * a2 + q) * w->mq);
                for (int r = 0; r < a1; r++)
                    out_tf(a2, s + r * a2, 1);
                for (int k = 0; k < m2; k++)
                    out_tf(a1, s + k, a2);
                for (int yy = 0; yy < m1; yy++)
                    for (int x = 0; x < m2; x++) {
                        if (a0 == 1)
                            y[yy * a2 + x] = s[yy * a2 + x];
                        else
                            part[z][yy * m2 + x] = s[yy * a2 + x];
                    }
            }
            if (a0 > 1)
                for (int r = 0; r < m1 * m2; r++) {
                    __m256 d[4];
                    for (int z = 0; z < a0; z++)
                        d[z] = part[z][r];
                    out_tf(a0, d, 1);
                    for (int z = 0; z < m0; z++)
                        y[(z * a1 + r / m2) * a2 + r % m2] = d[z];
                }
            store_tile(w, dst, &tl, ob, y, m0, m1, m2, a1, a2);
        }
    }
}

WINO_TARGET static void output_block(const NnWino *w, float *dst, size_t t0,
                                     size_t nb, const float *Mb, int64_t ob0,
                                     int64_t ob1)
{
    if (w->a[0] == 4)
        output_block_t(w, dst, t0, nb, Mb, ob0, ob1, 4, 4, 4);
    else if (w->a[2] == 6)
        output_block_t(w, dst, t0, nb, Mb, ob0, ob1, 1, 6, 6);
    else
        output_block_t(w, dst, t0, nb, Mb, ob0, ob1, 1, 4, 4);
}

typedef struct {
    const NnWino *w;
    const float *src;
    float *dst;
    uint8_t *scratch;
} RunCtx;

WINO_TARGET static void run_range(void *ctx, size_t begin, size_t end,
                                  int thread)
{
    const RunCtx *r = ctx;
    const NnWino *w = r->w;
    float *V =
        (float *)(r->scratch +
                  (size_t)thread * (w->v_floats + w->m_floats) * sizeof(float));
    float *Mb = V + w->v_floats;
    const size_t tb = w->tb, C = (size_t)w->C, M = (size_t)w->M;
    size_t last = (size_t)-1;
    for (size_t item = begin; item < end; item++) {
        /* With output ranges, item order is range-major: each thread's
         * share is one range over all blocks. */
        size_t b = w->osplit > 1 ? item % w->n_blocks : item;
        int s = w->osplit > 1 ? (int)(item / w->n_blocks) : 0;
        size_t t0 = b * tb;
        size_t nb = w->total_tiles - t0 < tb ? w->total_tiles - t0 : tb;
        if (b != last) {
            input_block(w, r->src, t0, nb, V);
            last = b;
        }
        /* This item's 16-channel groups. */
        int64_t g0 = w->n16 * s / w->osplit, g1 = w->n16 * (s + 1) / w->osplit;
        size_t rows = round_up(nb, MR_TILES);
        for (int q = 0; q < w->P; q++) {
            const float *Vq = V + (size_t)q * w->vq;
            float *Mq = Mb + (size_t)q * w->mq;
            for (int64_t g = g0; g < g1; g++) {
                const float *Uq =
                    w->U + ((size_t)q * M + (size_t)g * NR_OC) * C;
                bool narrow = w->M - g * NR_OC < NR_OC;
                for (size_t t = 0; t < rows; t += MR_TILES) {
                    if (narrow)
                        gemm_6x8(C, Vq + t * C, C, Uq,
                                 Mq + t * M + (size_t)g * NR_OC, M);
                    else
                        gemm_6x16(C, Vq + t * C, C, Uq,
                                  Mq + t * M + (size_t)g * NR_OC, M);
                }
            }
        }
        int64_t ob1 = g1 * 2 < w->M / 8 ? g1 * 2 : w->M / 8;
        output_block(w, r->dst, t0, nb, Mb, g0 * 2, ob1);
    }
}

void nova__nn_wino_run(const NnWino *w, NovaPool *pool, const float *src,
                       float *dst, uint8_t *scratch)
{
    RunCtx r = {w, src, dst, scratch};
    size_t items = w->n_blocks * (size_t)w->osplit;
    /* The pool's thread count is the one the scratch was sized for. */
    nova__nn_par_for(w->n_threads > 1 ? pool : NULL, items, run_range, &r);
}
