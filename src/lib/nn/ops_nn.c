/*
 * ops_nn.c - reference kernels for the network ops: Conv and ConvTranspose
 * (1D/2D/3D, groups, dilation, padding modes), pooling, Gemm, MatMul,
 * normalisations, Softmax, reductions, ArgMax and Resize.  Semantics follow
 * the ONNX operator specification (opsets 11-17).  These kernels are the
 * portable reference: plain C that the compiler vectorises, split over the
 * pool by static ranges so results do not depend on timing.  Convolution
 * is im2col (in tiles of output positions, into per-thread scratch) plus
 * the sgemm below; the fast path is oneDNN (dnnl.c).
 */
#include "nn_internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

#define ERR(code, ...) nova__nn_node_error(error, node, code, __VA_ARGS__)

static void *params_alloc(NovaError **error, NnNode *node, size_t size)
{
    nova_free(node->params);
    node->params = nova_calloc(error, 1, size);
    return node->params;
}

static bool need_f32(NovaError **error, NnGraph *g, NnNode *node, int i)
{
    NnValue *v = nn_in(g, node, i);
    if (v && v->dtype != NOVA_NN_FLOAT32)
        return ERR(NOVA_ERROR_UNSUPPORTED,
                   "input %d is %s; only float32 is "
                   "supported",
                   i, nova_nn_dtype_name(v->dtype));
    return true;
}

static int norm_axis(int64_t axis, int rank)
{
    return (int)(axis < 0 ? axis + rank : axis);
}

/* ------------------------------------------------------------ sgemm */

/* C[M,N] += A[M,K] B[K,N]; A may be transposed (stored [K,M]).  Four rows
 * of C at a time over a 256-column band keep the C rows in L1 and let the
 * compiler vectorise the j loop. */
static void gemm_nn(bool trans_a, size_t M, size_t N, size_t K, float alpha,
                    const float *A, size_t lda, const float *B, size_t ldb,
                    float *C, size_t ldc)
{
    const size_t NB = 256;
    for (size_t j0 = 0; j0 < N; j0 += NB) {
        size_t nb = N - j0 < NB ? N - j0 : NB;
        size_t i = 0;
        for (; i + 4 <= M; i += 4) {
            float *restrict c0 = C + i * ldc + j0;
            float *restrict c1 = c0 + ldc;
            float *restrict c2 = c1 + ldc;
            float *restrict c3 = c2 + ldc;
            for (size_t k = 0; k < K; k++) {
                const float *restrict b = B + k * ldb + j0;
                float a0, a1, a2, a3;
                if (trans_a) {
                    const float *a = A + k * lda + i;
                    a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
                } else {
                    const float *a = A + i * lda + k;
                    a0 = a[0], a1 = a[lda], a2 = a[2 * lda], a3 = a[3 * lda];
                }
                a0 *= alpha, a1 *= alpha, a2 *= alpha, a3 *= alpha;
                for (size_t j = 0; j < nb; j++) {
                    float bj = b[j];
                    c0[j] += a0 * bj;
                    c1[j] += a1 * bj;
                    c2[j] += a2 * bj;
                    c3[j] += a3 * bj;
                }
            }
        }
        for (; i < M; i++) {
            float *restrict c0 = C + i * ldc + j0;
            for (size_t k = 0; k < K; k++) {
                const float *restrict b = B + k * ldb + j0;
                float a0 = alpha * (trans_a ? A[k * lda + i] : A[i * lda + k]);
                for (size_t j = 0; j < nb; j++)
                    c0[j] += a0 * b[j];
            }
        }
    }
}

/* C += A B^T: dot products along K, contiguous in both. */
static void gemm_nt(bool trans_a, size_t M, size_t N, size_t K, float alpha,
                    const float *A, size_t lda, const float *B, size_t ldb,
                    float *C, size_t ldc)
{
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++) {
            const float *b = B + j * ldb;
            float s = 0.0f;
            if (!trans_a) {
                const float *a = A + i * lda;
                for (size_t k = 0; k < K; k++)
                    s += a[k] * b[k];
            } else {
                for (size_t k = 0; k < K; k++)
                    s += A[k * lda + i] * b[k];
            }
            C[i * ldc + j] += alpha * s;
        }
}

typedef struct {
    bool ta, tb;
    size_t M, N, K;
    float alpha, beta;
    const float *A, *B;
    float *C;
    size_t lda, ldb, ldc;
    bool split_rows;
} GemmCtx;

static void gemm_range(void *vctx, size_t begin, size_t end, int thread)
{
    GemmCtx *c = vctx;
    size_t M = c->M, N = c->N;
    const float *A = c->A, *B = c->B;
    float *C = c->C;
    if (c->split_rows) {
        M = end - begin;
        A = c->ta ? A + begin : A + begin * c->lda;
        C = C + begin * c->ldc;
    } else {
        N = end - begin;
        B = c->tb ? B + begin * c->ldb : B + begin;
        C = C + begin;
    }
    for (size_t i = 0; i < M; i++) {
        float *row = C + i * c->ldc;
        if (c->beta == 0.0f)
            memset(row, 0, N * sizeof(float));
        else if (c->beta != 1.0f)
            for (size_t j = 0; j < N; j++)
                row[j] *= c->beta;
    }
    if (c->tb)
        gemm_nt(c->ta, M, N, c->K, c->alpha, A, c->lda, B, c->ldb, C, c->ldc);
    else
        gemm_nn(c->ta, M, N, c->K, c->alpha, A, c->lda, B, c->ldb, C, c->ldc);
}

void nova__nn_sgemm(NovaPool *pool, bool trans_a, bool trans_b, size_t M,
                    size_t N, size_t K, float alpha, const float *A, size_t lda,
                    const float *B, size_t ldb, float beta, float *C,
                    size_t ldc)
{
    if (M == 0 || N == 0)
        return;
    GemmCtx c = {trans_a, trans_b, M, N,   K,   alpha, beta,
                 A,       B,       C, lda, ldb, ldc,   M >= N};
    if (!pool || (double)M * N * K < 65536.0)
        gemm_range(&c, 0, c.split_rows ? M : N, 0);
    else
        nova_pool_parallel_for(pool, c.split_rows ? M : N, gemm_range, &c);
}

/* ------------------------------------------------------------ windows */

typedef NnWinParams WinParams;

/* Kernel, strides, dilations, pads and auto_pad (Conv-11, MaxPool-12,
 * AveragePool-11, ConvTranspose-11). */
static bool window_attrs(NovaError **error, NnNode *node, WinParams *p,
                         const int64_t *kernel, bool transpose)
{
    const NnAttr *a;
    for (int i = 0; i < p->nsp; i++) {
        p->k[i] = kernel[i];
        p->stride[i] = 1;
        p->dil[i] = 1;
        p->pb[i] = p->pe[i] = 0;
        p->outpad[i] = 0;
        if (p->k[i] <= 0 || p->k[i] > 1 << 20)
            return ERR(NOVA_ERROR_INVALID, "kernel dim %d is %lld", i,
                       (long long)p->k[i]);
    }
    if ((a = nova__nn_attr_ints(node, "strides"))) {
        if (a->n != (size_t)p->nsp)
            return ERR(NOVA_ERROR_INVALID, "strides has %zu entries", a->n);
        for (int i = 0; i < p->nsp; i++)
            p->stride[i] = a->ints[i];
    }
    if ((a = nova__nn_attr_ints(node, "dilations"))) {
        if (a->n != (size_t)p->nsp)
            return ERR(NOVA_ERROR_INVALID, "dilations has %zu entries", a->n);
        for (int i = 0; i < p->nsp; i++)
            p->dil[i] = a->ints[i];
    }
    for (int i = 0; i < p->nsp; i++)
        if (p->stride[i] <= 0 || p->dil[i] <= 0 || p->stride[i] > 1 << 20 ||
            p->dil[i] > 1 << 20)
            return ERR(NOVA_ERROR_INVALID, "bad stride or dilation");
    const char *auto_pad = nova__nn_attr_string(node, "auto_pad", "NOTSET");
    if ((a = nova__nn_attr_ints(node, "pads"))) {
        if (a->n != 2 * (size_t)p->nsp)
            return ERR(NOVA_ERROR_INVALID, "pads has %zu entries", a->n);
        for (int i = 0; i < p->nsp; i++) {
            p->pb[i] = a->ints[i];
            p->pe[i] = a->ints[i + p->nsp];
            if (p->pb[i] < 0 || p->pe[i] < 0 || p->pb[i] > 1 << 20 ||
                p->pe[i] > 1 << 20)
                return ERR(NOVA_ERROR_INVALID, "bad pads");
        }
    }
    if ((a = nova__nn_attr_ints(node, "output_padding")) && transpose) {
        if (a->n != (size_t)p->nsp)
            return ERR(NOVA_ERROR_INVALID, "output_padding size");
        for (int i = 0; i < p->nsp; i++) {
            p->outpad[i] = a->ints[i];
            if (p->outpad[i] < 0 || p->outpad[i] > 1 << 20)
                return ERR(NOVA_ERROR_INVALID, "bad output_padding");
        }
    }
    bool ceil_mode = nova__nn_attr_int(node, "ceil_mode", 0) != 0;
    for (int i = 0; i < p->nsp; i++) {
        int64_t in = p->in[i], s = p->stride[i];
        int64_t ek = p->dil[i] * (p->k[i] - 1) + 1;
        if (transpose)
            continue;
        if (!strcmp(auto_pad, "VALID")) {
            p->pb[i] = p->pe[i] = 0;
        } else if (!strcmp(auto_pad, "SAME_UPPER") ||
                   !strcmp(auto_pad, "SAME_LOWER")) {
            int64_t out = (in + s - 1) / s;
            int64_t total = (out - 1) * s + ek - in;
            if (total < 0)
                total = 0;
            bool upper = !strcmp(auto_pad, "SAME_UPPER");
            p->pb[i] = upper ? total / 2 : total - total / 2;
            p->pe[i] = total - p->pb[i];
        } else if (strcmp(auto_pad, "NOTSET") != 0) {
            return ERR(NOVA_ERROR_INVALID, "auto_pad '%s'", auto_pad);
        }
        int64_t span = in + p->pb[i] + p->pe[i] - ek;
        if (span < 0)
            return ERR(NOVA_ERROR_INVALID,
                       "kernel %lld (dilated) is larger "
                       "than padded input %lld at dim %d",
                       (long long)ek, (long long)(in + p->pb[i] + p->pe[i]), i);
        int64_t out = span / s + 1;
        if (ceil_mode) {
            out = (span + s - 1) / s + 1;
            /* The last window must start inside the input or its left
             * padding (as PyTorch and ONNX Runtime do). */
            if ((out - 1) * s >= in + p->pb[i])
                out--;
        }
        p->out[i] = out;
    }
    return true;
}

static void fill_sizes(WinParams *p)
{
    p->insp = p->outsp = p->ksize = 1;
    for (int i = 0; i < p->nsp; i++) {
        p->insp *= (size_t)p->in[i];
        p->outsp *= (size_t)p->out[i];
        p->ksize *= (size_t)p->k[i];
    }
    for (int i = p->nsp; i < 3; i++) {
        p->in[i] = p->out[i] = p->k[i] = p->stride[i] = p->dil[i] = 1;
        p->pb[i] = p->pe[i] = 0;
    }
}

/* ------------------------------------------------------------ Conv */

bool nova__nn_infer_conv(NovaError **error, NnGraph *g, NnNode *node);
bool nova__nn_infer_conv(NovaError **error, NnGraph *g, NnNode *node)
{
    NnValue *x = nn_in(g, node, 0), *w = nn_in(g, node, 1),
            *b = nn_in(g, node, 2);
    if (!need_f32(error, g, node, 0) || !need_f32(error, g, node, 1) ||
        !need_f32(error, g, node, 2))
        return false;
    if (x->rank < 3 || x->rank > 5 || w->rank != x->rank)
        return ERR(NOVA_ERROR_INVALID,
                   "X rank %d and W rank %d: need 3-5 "
                   "(1D-3D) and equal",
                   x->rank, w->rank);
    WinParams *p = params_alloc(error, node, sizeof *p);
    if (!p)
        return false;
    p->nsp = x->rank - 2;
    p->N = x->dims[0];
    p->C = x->dims[1];
    p->M = w->dims[0];
    p->group = nova__nn_attr_int(node, "group", 1);
    if (p->group <= 0 || p->C % p->group || p->M % p->group ||
        w->dims[1] != p->C / p->group)
        return ERR(NOVA_ERROR_INVALID,
                   "channels: X has %lld, W is %lldx%lld, "
                   "group %lld",
                   (long long)p->C, (long long)w->dims[0],
                   (long long)w->dims[1], (long long)p->group);
    if (b && (b->rank != 1 || b->dims[0] != p->M))
        return ERR(NOVA_ERROR_INVALID, "bias must have %lld elements",
                   (long long)p->M);
    const NnAttr *ks = nova__nn_attr_ints(node, "kernel_shape");
    for (int i = 0; i < p->nsp; i++) {
        p->in[i] = x->dims[2 + i];
        if (ks && (ks->n != (size_t)p->nsp || ks->ints[i] != w->dims[2 + i]))
            return ERR(NOVA_ERROR_INVALID, "kernel_shape disagrees with W");
    }
    if (!window_attrs(error, node, p, w->dims + 2, false))
        return false;
    int64_t d[5] = {p->N, p->M, p->out[0], p->out[1], p->out[2]};
    fill_sizes(p);
    /* Tiles of output positions small enough for the im2col block to stay
     * in L2, and M blocks so that both threads get work on deep layers. */
    size_t ck = (size_t)(p->C / p->group) * p->ksize;
    size_t tile = 65536 / (ck ? ck : 1);
    tile = tile < 64 ? 64 : tile;
    if (tile > p->outsp)
        tile = p->outsp;
    p->tile = tile ? tile : 1;
    p->n_tiles = (p->outsp + p->tile - 1) / p->tile;
    size_t mg = (size_t)(p->M / p->group);
    size_t items = (size_t)(p->N * p->group) * p->n_tiles;
    size_t want = 4 * (size_t)(g->n_threads > 0 ? g->n_threads : 1);
    p->n_mblocks = 1;
    while (items * p->n_mblocks < want && mg / (p->n_mblocks * 2) >= 8)
        p->n_mblocks *= 2;
    p->mblock = (mg + p->n_mblocks - 1) / p->n_mblocks;
    size_t per = 0;
    if (!nova_size_mul(ck, p->tile * sizeof(float), &per) ||
        !nova_size_mul(per, (size_t)(g->n_threads > 0 ? g->n_threads : 1),
                       &node->scratch_bytes))
        return ERR(NOVA_ERROR_RANGE, "scratch too large");
    return nova__nn_set_shape(error, g, node, 0, NOVA_NN_FLOAT32, x->rank, d);
}

static bool conv_is_pointwise(const WinParams *p)
{
    for (int i = 0; i < 3; i++)
        if (p->k[i] != 1 || p->stride[i] != 1 || p->pb[i] || p->pe[i])
            return false;
    return true;
}

/* im2col for output positions [p0, p0+np) of channels [c0, c0+cg):
 * col[(c*K + kk) * np + j]. */
static void im2col(const WinParams *p, const float *x, int64_t c0, int64_t cg,
                   size_t p0, size_t np, float *col)
{
    size_t K = p->ksize;
    for (int64_t c = 0; c < cg; c++) {
        const float *xc = x + (size_t)(c0 + c) * p->insp;
        for (size_t kk = 0; kk < K; kk++) {
            int64_t kz = (int64_t)(kk / (size_t)(p->k[1] * p->k[2]));
            int64_t ky = (int64_t)(kk / (size_t)p->k[2]) % p->k[1];
            int64_t kx = (int64_t)(kk % (size_t)p->k[2]);
            float *dst = col + ((size_t)c * K + kk) * np;
            /* Walk output positions incrementally. */
            size_t pos = p0;
            int64_t ox = (int64_t)(pos % (size_t)p->out[2]);
            int64_t oy = (int64_t)(pos / (size_t)p->out[2]) % p->out[1];
            int64_t oz = (int64_t)(pos / (size_t)(p->out[1] * p->out[2]));
            for (size_t j = 0; j < np; j++) {
                int64_t iz = oz * p->stride[0] - p->pb[0] + kz * p->dil[0];
                int64_t iy = oy * p->stride[1] - p->pb[1] + ky * p->dil[1];
                int64_t ix = ox * p->stride[2] - p->pb[2] + kx * p->dil[2];
                dst[j] = (iz >= 0 && iz < p->in[0] && iy >= 0 &&
                          iy < p->in[1] && ix >= 0 && ix < p->in[2])
                             ? xc[((size_t)iz * (size_t)p->in[1] + (size_t)iy) *
                                      (size_t)p->in[2] +
                                  (size_t)ix]
                             : 0.0f;
                if (++ox == p->out[2]) {
                    ox = 0;
                    if (++oy == p->out[1]) {
                        oy = 0;
                        oz++;
                    }
                }
            }
        }
    }
}

/* Spatial dims are stored in p->in/out/k[0..nsp) but im2col indexes them
 * as (z, y, x) = [0], [1], [2] with the unused leading dims of size 1; this
 * view shifts them so that 1D and 2D convolutions use the trailing slots. */
static WinParams shifted(const WinParams *p)
{
    WinParams q = *p;
    int shift = 3 - p->nsp;
    for (int i = 0; i < 3; i++) {
        int src = i - shift;
        bool real = src >= 0;
        q.in[i] = real ? p->in[src] : 1;
        q.out[i] = real ? p->out[src] : 1;
        q.k[i] = real ? p->k[src] : 1;
        q.stride[i] = real ? p->stride[src] : 1;
        q.dil[i] = real ? p->dil[src] : 1;
        q.pb[i] = real ? p->pb[src] : 0;
        q.pe[i] = real ? p->pe[src] : 0;
        q.outpad[i] = real ? p->outpad[src] : 0;
    }
    return q;
}

typedef struct {
    const NnExec *ex;
    const NnNode *node;
    WinParams q;
} ConvCtx;

static void conv_items(void *vctx, size_t begin, size_t end, int thread)
{
    ConvCtx *c = vctx;
    const WinParams *p = &c->q;
    const NnNode *node = c->node;
    const float *x = nn_f32(c->ex, node, 0);
    const float *w = nn_f32(c->ex, node, 1);
    const float *bias = node->n_inputs > 2 && node->inputs[2] >= 0
                            ? nn_f32(c->ex, node, 2)
                            : NULL;
    float *y = nn_f32_out(c->ex, node, 0);
    int64_t cg = p->C / p->group, mg = p->M / p->group;
    size_t ck = (size_t)cg * p->ksize;
    float *col = (float *)c->ex->scratch + (size_t)thread * ck * p->tile;
    bool pointwise = conv_is_pointwise(p);
    for (size_t item = begin; item < end; item++) {
        size_t mb = item % p->n_mblocks;
        size_t t = (item / p->n_mblocks) % p->n_tiles;
        size_t ng = item / (p->n_mblocks * p->n_tiles);
        int64_t n = (int64_t)ng / p->group, gi = (int64_t)ng % p->group;
        size_t p0 = t * p->tile;
        size_t np = p->outsp - p0 < p->tile ? p->outsp - p0 : p->tile;
        size_t m0 = mb * p->mblock;
        if ((int64_t)m0 >= mg)
            continue;
        size_t mcount =
            (size_t)mg - m0 < p->mblock ? (size_t)mg - m0 : p->mblock;
        const float *xn = x + (size_t)n * (size_t)p->C * p->insp;
        const float *B;
        size_t ldb;
        if (pointwise) {
            B = xn + (size_t)(gi * cg) * p->insp + p0;
            ldb = p->insp;
        } else {
            im2col(p, xn, gi * cg, cg, p0, np, col);
            B = col;
            ldb = np;
        }
        size_t mabs = (size_t)(gi * mg) + m0;
        float *yt = y + ((size_t)n * (size_t)p->M + mabs) * p->outsp + p0;
        nova__nn_sgemm(NULL, false, false, mcount, np, ck, 1.0f, w + mabs * ck,
                       ck, B, ldb, 0.0f, yt, p->outsp);
        if (bias)
            for (size_t m = 0; m < mcount; m++) {
                float bv = bias[mabs + m];
                float *row = yt + m * p->outsp;
                for (size_t j = 0; j < np; j++)
                    row[j] += bv;
            }
    }
}

void nova__nn_run_conv(NnExec *ex, NnNode *node);
void nova__nn_run_conv(NnExec *ex, NnNode *node)
{
    const WinParams *p = node->params;
    ConvCtx c = {ex, node, shifted(p)};
    size_t items = (size_t)(p->N * p->group) * p->n_tiles * p->n_mblocks;
    nova_pool_parallel_for(ex->pool, items, conv_items, &c);
}

/* ------------------------------------------------------------ ConvTranspose */

bool nova__nn_infer_conv_transpose(NovaError **error, NnGraph *g, NnNode *node);
bool nova__nn_infer_conv_transpose(NovaError **error, NnGraph *g, NnNode *node)
{
    NnValue *x = nn_in(g, node, 0), *w = nn_in(g, node, 1),
            *b = nn_in(g, node, 2);
    if (!need_f32(error, g, node, 0) || !need_f32(error, g, node, 1) ||
        !need_f32(error, g, node, 2))
        return false;
    if (x->rank < 3 || x->rank > 5 || w->rank != x->rank)
        return ERR(NOVA_ERROR_INVALID, "X rank %d and W rank %d", x->rank,
                   w->rank);
    WinParams *p = params_alloc(error, node, sizeof *p);
    if (!p)
        return false;
    p->nsp = x->rank - 2;
    p->N = x->dims[0];
    p->C = x->dims[1];
    p->group = nova__nn_attr_int(node, "group", 1);
    if (p->group <= 0 || w->dims[0] != p->C || p->C % p->group)
        return ERR(NOVA_ERROR_INVALID,
                   "W dim 0 (%lld) must equal channels "
                   "(%lld), divisible by group",
                   (long long)w->dims[0], (long long)p->C);
    p->M = w->dims[1] * p->group;
    if (b && (b->rank != 1 || b->dims[0] != p->M))
        return ERR(NOVA_ERROR_INVALID, "bias must have %lld elements",
                   (long long)p->M);
    for (int i = 0; i < p->nsp; i++)
        p->in[i] = x->dims[2 + i];
    if (!window_attrs(error, node, p, w->dims + 2, true))
        return false;
    /* ConvTranspose-11: output_shape, when given, decides the pads;
     * otherwise out = s*(in-1) + outpad + ((k-1)*d+1) - pb - pe, with
     * auto_pad SAME_* making out = in*s. */
    const NnAttr *os = nova__nn_attr_ints(node, "output_shape");
    const char *auto_pad = nova__nn_attr_string(node, "auto_pad", "NOTSET");
    for (int i = 0; i < p->nsp; i++) {
        int64_t ek = p->dil[i] * (p->k[i] - 1) + 1;
        int64_t full = p->stride[i] * (p->in[i] - 1) + p->outpad[i] + ek;
        int64_t target = -1;
        if (os) {
            if (os->n != (size_t)p->nsp && os->n != (size_t)x->rank)
                return ERR(NOVA_ERROR_INVALID, "output_shape size");
            target = os->ints[os->n == (size_t)p->nsp ? i : i + 2];
            if (target < 0 || target > NN_MAX_DIM)
                return ERR(NOVA_ERROR_INVALID, "bad output_shape");
        } else if (!strcmp(auto_pad, "SAME_UPPER") ||
                   !strcmp(auto_pad, "SAME_LOWER")) {
            target = p->in[i] * p->stride[i];
        }
        if (target >= 0) {
            int64_t total = full - target;
            /* ONNX: SAME_UPPER puts the extra pad at the end... of the
             * input; for the transpose that means the beginning gets
             * total/2 (the reference implementation's convention). */
            if (total < 0) {
                /* A larger output than the input covers: the extra
                 * positions at the end get only the bias. */
                p->pb[i] = 0;
                p->pe[i] = total;
            } else if (!strcmp(auto_pad, "SAME_UPPER")) {
                p->pb[i] = total / 2;
                p->pe[i] = total - total / 2;
            } else {
                p->pe[i] = total / 2;
                p->pb[i] = total - total / 2;
            }
        } else if (!strcmp(auto_pad, "VALID")) {
            p->pb[i] = p->pe[i] = 0;
        }
        p->out[i] = full - p->pb[i] - p->pe[i];
        if (p->out[i] <= 0)
            return ERR(NOVA_ERROR_INVALID, "output dim %d is %lld", i,
                       (long long)p->out[i]);
    }
    int64_t d[5] = {p->N, p->M, p->out[0], p->out[1], p->out[2]};
    fill_sizes(p);
    size_t rows = (size_t)(p->M / p->group) * p->ksize;
    if (!nova_size_mul(rows, p->insp * sizeof(float), &node->scratch_bytes))
        return ERR(NOVA_ERROR_RANGE, "scratch too large");
    return nova__nn_set_shape(error, g, node, 0, NOVA_NN_FLOAT32, x->rank, d);
}

typedef struct {
    const WinParams *q;
    const float *col;
    float *y; /* output of this batch and group */
} Col2ImCtx;

static void col2im_range(void *vctx, size_t begin, size_t end, int thread)
{
    Col2ImCtx *c = vctx;
    const WinParams *p = c->q;
    size_t K = p->ksize;
    for (size_t m = begin; m < end; m++) {
        float *ym = c->y + m * p->outsp;
        for (size_t kk = 0; kk < K; kk++) {
            int64_t kz = (int64_t)(kk / (size_t)(p->k[1] * p->k[2]));
            int64_t ky = (int64_t)(kk / (size_t)p->k[2]) % p->k[1];
            int64_t kx = (int64_t)(kk % (size_t)p->k[2]);
            const float *src = c->col + (m * K + kk) * p->insp;
            size_t i = 0;
            for (int64_t iz = 0; iz < p->in[0]; iz++) {
                int64_t oz = iz * p->stride[0] - p->pb[0] + kz * p->dil[0];
                for (int64_t iy = 0; iy < p->in[1]; iy++) {
                    int64_t oy = iy * p->stride[1] - p->pb[1] + ky * p->dil[1];
                    for (int64_t ix = 0; ix < p->in[2]; ix++, i++) {
                        int64_t ox =
                            ix * p->stride[2] - p->pb[2] + kx * p->dil[2];
                        if (oz < 0 || oz >= p->out[0] || oy < 0 ||
                            oy >= p->out[1] || ox < 0 || ox >= p->out[2])
                            continue;
                        ym[((size_t)oz * (size_t)p->out[1] + (size_t)oy) *
                               (size_t)p->out[2] +
                           (size_t)ox] += src[i];
                    }
                }
            }
        }
    }
}

void nova__nn_run_conv_transpose(NnExec *ex, NnNode *node);
void nova__nn_run_conv_transpose(NnExec *ex, NnNode *node)
{
    WinParams q = shifted(node->params);
    const float *x = nn_f32(ex, node, 0), *w = nn_f32(ex, node, 1);
    const float *bias =
        node->n_inputs > 2 && node->inputs[2] >= 0 ? nn_f32(ex, node, 2) : NULL;
    float *y = nn_f32_out(ex, node, 0);
    float *col = (float *)ex->scratch;
    int64_t cg = q.C / q.group, mg = q.M / q.group;
    size_t rows = (size_t)mg * q.ksize;
    for (int64_t n = 0; n < q.N; n++) {
        float *yn = y + (size_t)n * (size_t)q.M * q.outsp;
        for (int64_t m = 0; m < q.M; m++)
            for (size_t j = 0; j < q.outsp; j++)
                yn[(size_t)m * q.outsp + j] = bias ? bias[m] : 0.0f;
        for (int64_t gi = 0; gi < q.group; gi++) {
            /* col[mg*K, insp] = W_g^T [mg*K, cg] x X_g [cg, insp], with W
             * stored [C, M/group, k...]. */
            const float *wg = w + (size_t)(gi * cg) * rows;
            const float *xg =
                x + ((size_t)n * (size_t)q.C + (size_t)(gi * cg)) * q.insp;
            nova__nn_sgemm(ex->pool, true, false, rows, q.insp, (size_t)cg,
                           1.0f, wg, rows, xg, q.insp, 0.0f, col, q.insp);
            Col2ImCtx c = {&q, col, yn + (size_t)(gi * mg) * q.outsp};
            nova_pool_parallel_for(ex->pool, (size_t)mg, col2im_range, &c);
        }
    }
}

/* ------------------------------------------------------------ pooling */

bool nova__nn_infer_pool(NovaError **error, NnGraph *g, NnNode *node);
bool nova__nn_infer_pool(NovaError **error, NnGraph *g, NnNode *node)
{
    NnValue *x = nn_in(g, node, 0);
    bool is_max = !strcmp(node->op_type, "MaxPool");
    /* MaxPool-12 also takes int8 and uint8 (reference kernel only). */
    if (!(is_max && x &&
          (x->dtype == NOVA_NN_UINT8 || x->dtype == NOVA_NN_INT8)) &&
        !need_f32(error, g, node, 0))
        return false;
    if (x->rank < 3 || x->rank > 5)
        return ERR(NOVA_ERROR_INVALID, "X rank %d; need 3-5", x->rank);
    bool indices = node->n_outputs > 1 && node->outputs[1] >= 0;
    int64_t storage_order = nova__nn_attr_int(node, "storage_order", 0);
    if (storage_order != 0 && storage_order != 1)
        return ERR(NOVA_ERROR_INVALID, "storage_order %lld",
                   (long long)storage_order);
    /* Column-major indices are defined here for 1D and 2D only. */
    if (indices && storage_order == 1 && x->rank == 5)
        return ERR(NOVA_ERROR_UNSUPPORTED, "the Indices output with "
                                           "storage_order 1 in 3D");
    WinParams *p = params_alloc(error, node, sizeof *p);
    if (!p)
        return false;
    p->nsp = x->rank - 2;
    p->N = x->dims[0];
    p->C = p->M = x->dims[1];
    p->is_max = is_max;
    p->col_major = storage_order == 1;
    p->count_include_pad = nova__nn_attr_int(node, "count_include_pad", 0) != 0;
    const NnAttr *ks = nova__nn_attr_ints(node, "kernel_shape");
    if (!ks || ks->n != (size_t)p->nsp)
        return ERR(NOVA_ERROR_INVALID, "kernel_shape must have %d entries",
                   p->nsp);
    for (int i = 0; i < p->nsp; i++)
        p->in[i] = x->dims[2 + i];
    if (!window_attrs(error, node, p, ks->ints, false))
        return false;
    int64_t d[5] = {p->N, p->C, p->out[0], p->out[1], p->out[2]};
    fill_sizes(p);
    if (indices &&
        !nova__nn_set_shape(error, g, node, 1, NOVA_NN_INT64, x->rank, d))
        return false;
    return nova__nn_set_shape(error, g, node, 0, x->dtype, x->rank, d);
}

typedef struct {
    const NnExec *ex;
    const NnNode *node;
    WinParams q;
} PoolCtx;

static void pool_planes(void *vctx, size_t begin, size_t end, int thread)
{
    PoolCtx *c = vctx;
    const WinParams *p = &c->q;
    const float *x = nn_f32(c->ex, c->node, 0);
    float *y = nn_f32_out(c->ex, c->node, 0);
    for (size_t plane = begin; plane < end; plane++) {
        const float *xp = x + plane * p->insp;
        float *yp = y + plane * p->outsp;
        size_t o = 0;
        for (int64_t oz = 0; oz < p->out[0]; oz++)
            for (int64_t oy = 0; oy < p->out[1]; oy++)
                for (int64_t ox = 0; ox < p->out[2]; ox++, o++) {
                    float acc = p->is_max ? -INFINITY : 0.0f;
                    size_t count = 0;
                    for (int64_t kz = 0; kz < p->k[0]; kz++) {
                        int64_t iz =
                            oz * p->stride[0] - p->pb[0] + kz * p->dil[0];
                        for (int64_t ky = 0; ky < p->k[1]; ky++) {
                            int64_t iy =
                                oy * p->stride[1] - p->pb[1] + ky * p->dil[1];
                            for (int64_t kx = 0; kx < p->k[2]; kx++) {
                                int64_t ix = ox * p->stride[2] - p->pb[2] +
                                             kx * p->dil[2];
                                bool inside = iz >= 0 && iz < p->in[0] &&
                                              iy >= 0 && iy < p->in[1] &&
                                              ix >= 0 && ix < p->in[2];
                                if (!inside) {
                                    /* count_include_pad counts pad
                                     * positions, not the ones past the
                                     * padding that ceil_mode adds. */
                                    if (p->count_include_pad &&
                                        iz < p->in[0] + p->pe[0] &&
                                        iy < p->in[1] + p->pe[1] &&
                                        ix < p->in[2] + p->pe[2])
                                        count++;
                                    continue;
                                }
                                float v = xp[((size_t)iz * (size_t)p->in[1] +
                                              (size_t)iy) *
                                                 (size_t)p->in[2] +
                                             (size_t)ix];
                                if (p->is_max)
                                    acc = v > acc ? v : acc;
                                else
                                    acc += v;
                                count++;
                            }
                        }
                    }
                    yp[o] =
                        p->is_max ? acc : (count ? acc / (float)count : 0.0f);
                }
    }
}

/* MaxPool with its Indices output, or on int8/uint8: a separate kernel,
 * so the float32 loop above is unchanged.  The index of the first
 * maximum of each window (padding never wins) is into the flattened
 * input, N and C included: ((n*C + c)*H + h)*W + w for storage_order 0,
 * (n*C + c)*H*W + w*H + h for storage_order 1 (1D and 2D). */
#define MAXPOOL_INDEXED(NAME, T)                                               \
    static void NAME(void *vctx, size_t begin, size_t end, int thread)         \
    {                                                                          \
        PoolCtx *c = vctx;                                                     \
        const WinParams *p = &c->q;                                            \
        const T *x = nn_ptr(c->ex, c->node->inputs[0]);                        \
        T *y = nn_ptr(c->ex, c->node->outputs[0]);                             \
        int64_t *ind = c->node->n_outputs > 1 && c->node->outputs[1] >= 0      \
                           ? nn_ptr(c->ex, c->node->outputs[1])                \
                           : NULL;                                             \
        (void)thread;                                                          \
        for (size_t plane = begin; plane < end; plane++) {                     \
            const T *xp = x + plane * p->insp;                                 \
            size_t o = plane * p->outsp;                                       \
            for (int64_t oz = 0; oz < p->out[0]; oz++)                         \
                for (int64_t oy = 0; oy < p->out[1]; oy++)                     \
                    for (int64_t ox = 0; ox < p->out[2]; ox++, o++) {          \
                        T acc = 0;                                             \
                        int64_t best = -1;                                     \
                        for (int64_t kz = 0; kz < p->k[0]; kz++) {             \
                            int64_t iz =                                       \
                                oz * p->stride[0] - p->pb[0] + kz * p->dil[0]; \
                            if (iz < 0 || iz >= p->in[0])                      \
                                continue;                                      \
                            for (int64_t ky = 0; ky < p->k[1]; ky++) {         \
                                int64_t iy = oy * p->stride[1] - p->pb[1] +    \
                                             ky * p->dil[1];                   \
                                if (iy < 0 || iy >= p->in[1])                  \
                                    continue;                                  \
                                for (int64_t kx = 0; kx < p->k[2]; kx++) {     \
                                    int64_t ix = ox * p->stride[2] -           \
                                                 p->pb[2] + kx * p->dil[2];    \
                                    if (ix < 0 || ix >= p->in[2])              \
                                        continue;                              \
                                    int64_t at =                               \
                                        (iz * p->in[1] + iy) * p->in[2] + ix;  \
                                    T v = xp[at];                              \
                                    if (best < 0 || v > acc) {                 \
                                        acc = v;                               \
                                        best = p->col_major                    \
                                                   ? ix * p->in[1] + iy        \
                                                   : at;                       \
                                    }                                          \
                                }                                              \
                            }                                                  \
                        }                                                      \
                        y[o] = best < 0 ? (T)0 : acc;                          \
                        if (ind)                                               \
                            ind[o] = best < 0                                  \
                                         ? -1                                  \
                                         : (int64_t)(plane * p->insp) + best;  \
                    }                                                          \
        }                                                                      \
    }

MAXPOOL_INDEXED(maxpool_f32, float)
MAXPOOL_INDEXED(maxpool_u8, uint8_t)
MAXPOOL_INDEXED(maxpool_i8, int8_t)

void nova__nn_run_pool(NnExec *ex, NnNode *node);
void nova__nn_run_pool(NnExec *ex, NnNode *node)
{
    const WinParams *p = node->params;
    PoolCtx c = {ex, node, shifted(p)};
    NovaNnDtype dt = nn_in(ex->graph, node, 0)->dtype;
    bool indices = node->n_outputs > 1 && node->outputs[1] >= 0;
    void (*fn)(void *, size_t, size_t, int) = pool_planes;
    if (dt == NOVA_NN_UINT8)
        fn = maxpool_u8;
    else if (dt == NOVA_NN_INT8)
        fn = maxpool_i8;
    else if (indices)
        fn = maxpool_f32;
    nova_pool_parallel_for(ex->pool, (size_t)(p->N * p->C), fn, &c);
}

bool nova__nn_infer_global_pool(NovaError **error, NnGraph *g, NnNode *node);
bool nova__nn_infer_global_pool(NovaError **error, NnGraph *g, NnNode *node)
{
    NnValue *x = nn_in(g, node, 0);
    if (!need_f32(error, g, node, 0))
        return false;
    if (x->rank < 3)
        return ERR(NOVA_ERROR_INVALID, "X rank %d; need >= 3", x->rank);
    int64_t d[NOVA_NN_MAX_RANK];
    for (int i = 0; i < x->rank; i++)
        d[i] = i < 2 ? x->dims[i] : 1;
    return nova__nn_set_shape(error, g, node, 0, NOVA_NN_FLOAT32, x->rank, d);
}

typedef struct {
    const float *x;
    float *y;
    size_t sp;
    bool is_max;
} GPoolCtx;

static void gpool_range(void *vctx, size_t begin, size_t end, int thread)
{
    GPoolCtx *c = vctx;
    for (size_t pl = begin; pl < end; pl++) {
        const float *xp = c->x + pl * c->sp;
        if (c->is_max) {
            float m = -INFINITY;
            for (size_t i = 0; i < c->sp; i++)
                m = xp[i] > m ? xp[i] : m;
            c->y[pl] = m;
        } else {
            double s = 0.0;
            for (size_t i = 0; i < c->sp; i++)
                s += xp[i];
            c->y[pl] = (float)(s / (double)c->sp);
        }
    }
}

void nova__nn_run_global_pool(NnExec *ex, NnNode *node);
void nova__nn_run_global_pool(NnExec *ex, NnNode *node)
{
    NnValue *x = nn_in(ex->graph, node, 0);
    GPoolCtx c = {nn_f32(ex, node, 0), nn_f32_out(ex, node, 0),
                  nn_count(x->dims + 2, x->rank - 2),
                  !strcmp(node->op_type, "GlobalMaxPool")};
    nova_pool_parallel_for(ex->pool, (size_t)(x->dims[0] * x->dims[1]),
                           gpool_range, &c);
}

/* ------------------------------------------------------------ Gemm */

typedef NnGemmParams GemmParams;

bool nova__nn_infer_gemm(NovaError **error, NnGraph *g, NnNode *node);
bool nova__nn_infer_gemm(NovaError **error, NnGraph *g, NnNode *node)
{
    NnValue *a = nn_in(g, node, 0), *b = nn_in(g, node, 1),
            *c = nn_in(g, node, 2);
    if (!need_f32(error, g, node, 0) || !need_f32(error, g, node, 1) ||
        !need_f32(error, g, node, 2))
        return false;
    if (a->rank != 2 || b->rank != 2)
        return ERR(NOVA_ERROR_INVALID, "A and B must be matrices");
    GemmParams *p = params_alloc(error, node, sizeof *p);
    if (!p)
        return false;
    p->ta = nova__nn_attr_int(node, "transA", 0) != 0;
    p->tb = nova__nn_attr_int(node, "transB", 0) != 0;
    p->alpha = nova__nn_attr_float(node, "alpha", 1.0f);
    p->beta = nova__nn_attr_float(node, "beta", 1.0f);
    p->M = (size_t)(p->ta ? a->dims[1] : a->dims[0]);
    p->K = (size_t)(p->ta ? a->dims[0] : a->dims[1]);
    size_t kb = (size_t)(p->tb ? b->dims[1] : b->dims[0]);
    p->N = (size_t)(p->tb ? b->dims[0] : b->dims[1]);
    if (kb != p->K)
        return ERR(NOVA_ERROR_INVALID, "inner dims %zu and %zu differ", p->K,
                   kb);
    if (c) {
        /* Unidirectional broadcast of C to [M, N]. */
        int64_t cm = c->rank == 2 ? c->dims[0] : 1;
        int64_t cn = c->rank >= 1 ? c->dims[c->rank - 1] : 1;
        if (c->rank > 2 || (cm != 1 && cm != (int64_t)p->M) ||
            (cn != 1 && cn != (int64_t)p->N))
            return ERR(NOVA_ERROR_INVALID, "C does not broadcast to %zux%zu",
                       p->M, p->N);
        p->cs_m = cm == 1 ? 0 : (int64_t)cn;
        p->cs_n = cn == 1 ? 0 : 1;
    }
    int64_t d[2] = {(int64_t)p->M, (int64_t)p->N};
    return nova__nn_set_shape(error, g, node, 0, NOVA_NN_FLOAT32, 2, d);
}

void nova__nn_run_gemm(NnExec *ex, NnNode *node);
void nova__nn_run_gemm(NnExec *ex, NnNode *node)
{
    const GemmParams *p = node->params;
    float *y = nn_f32_out(ex, node, 0);
    const float *c =
        node->n_inputs > 2 && node->inputs[2] >= 0 ? nn_f32(ex, node, 2) : NULL;
    float beta = 0.0f;
    if (c && p->beta != 0.0f) {
        for (size_t i = 0; i < p->M; i++)
            for (size_t j = 0; j < p->N; j++)
                y[i * p->N + j] =
                    p->beta * c[(int64_t)i * p->cs_m + (int64_t)j * p->cs_n];
        beta = 1.0f;
    }
    NnValue *a = nn_in(ex->graph, node, 0), *b = nn_in(ex->graph, node, 1);
    nova__nn_sgemm(ex->pool, p->ta, p->tb, p->M, p->N, p->K, p->alpha,
                   nn_f32(ex, node, 0), (size_t)a->dims[1], nn_f32(ex, node, 1),
                   (size_t)b->dims[1], beta, y, p->N);
}

/* ------------------------------------------------------------ MatMul */

typedef struct {
    size_t M, N, K, batch;
    int brank;
    int64_t bdims[NOVA_NN_MAX_RANK];
    int64_t sa[NOVA_NN_MAX_RANK], sb[NOVA_NN_MAX_RANK]; /* batch strides */
} MatMulParams;

bool nova__nn_infer_matmul(NovaError **error, NnGraph *g, NnNode *node);
bool nova__nn_infer_matmul(NovaError **error, NnGraph *g, NnNode *node)
{
    NnValue *a = nn_in(g, node, 0), *b = nn_in(g, node, 1);
    if (!need_f32(error, g, node, 0) || !need_f32(error, g, node, 1))
        return false;
    if (a->rank < 1 || b->rank < 1)
        return ERR(NOVA_ERROR_INVALID, "scalars cannot be multiplied");
    MatMulParams *p = params_alloc(error, node, sizeof *p);
    if (!p)
        return false;
    /* numpy.matmul: 1-D operands gain a dim that is dropped again. */
    int ra = a->rank, rb = b->rank;
    p->M = ra == 1 ? 1 : (size_t)a->dims[ra - 2];
    p->K = (size_t)a->dims[ra - 1];
    size_t kb = rb == 1 ? (size_t)b->dims[0] : (size_t)b->dims[rb - 2];
    p->N = rb == 1 ? 1 : (size_t)b->dims[rb - 1];
    if (kb != p->K)
        return ERR(NOVA_ERROR_INVALID, "inner dims %zu and %zu differ", p->K,
                   kb);
    int ba = ra > 2 ? ra - 2 : 0, bb = rb > 2 ? rb - 2 : 0;
    int br = ba > bb ? ba : bb;
    p->brank = br;
    int64_t st_a = (int64_t)(p->M * p->K), st_b = (int64_t)(p->K * p->N);
    p->batch = 1;
    for (int i = br - 1; i >= 0; i--) {
        int ia = i - (br - ba), ib = i - (br - bb);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return ERR(NOVA_ERROR_INVALID, "batch dims do not broadcast");
        p->bdims[i] = da > db ? da : db;
        p->sa[i] = da == 1 ? 0 : st_a;
        p->sb[i] = db == 1 ? 0 : st_b;
        st_a *= da;
        st_b *= db;
        p->batch *= (size_t)p->bdims[i];
    }
    int64_t d[NOVA_NN_MAX_RANK];
    int r = 0;
    for (int i = 0; i < br; i++)
        d[r++] = p->bdims[i];
    if (ra > 1)
        d[r++] = (int64_t)p->M;
    if (rb > 1)
        d[r++] = (int64_t)p->N;
    return nova__nn_set_shape(error, g, node, 0, NOVA_NN_FLOAT32, r, d);
}

void nova__nn_run_matmul(NnExec *ex, NnNode *node);
void nova__nn_run_matmul(NnExec *ex, NnNode *node)
{
    const MatMulParams *p = node->params;
    const float *a = nn_f32(ex, node, 0), *b = nn_f32(ex, node, 1);
    float *y = nn_f32_out(ex, node, 0);
    for (size_t bi = 0; bi < p->batch; bi++) {
        int64_t oa = 0, ob = 0;
        size_t rem = bi;
        for (int i = p->brank - 1; i >= 0; i--) {
            size_t idx = rem % (size_t)p->bdims[i];
            rem /= (size_t)p->bdims[i];
            oa += (int64_t)idx * p->sa[i];
            ob += (int64_t)idx * p->sb[i];
        }
        nova__nn_sgemm(ex->pool, false, false, p->M, p->N, p->K, 1.0f, a + oa,
                       p->K, b + ob, p->N, 0.0f, y + bi * p->M * p->N, p->N);
    }
}

/* ------------------------------------------------------------ norms */

bool nova__nn_infer_batchnorm(NovaError **error, NnGraph *g, NnNode *node);
bool nova__nn_infer_batchnorm(NovaError **error, NnGraph *g, NnNode *node)
{
    NnValue *x = nn_in(g, node, 0);
    for (int k = 0; k < 5; k++)
        if (!need_f32(error, g, node, k))
            return false;
    if (x->rank < 2)
        return ERR(NOVA_ERROR_INVALID, "X rank %d; need >= 2", x->rank);
    if (nova__nn_attr_int(node, "training_mode", 0) != 0 ||
        (node->n_outputs > 1 && node->outputs[1] >= 0))
        return ERR(NOVA_ERROR_UNSUPPORTED, "training mode is not supported "
                                           "(inference only)");
    for (int k = 1; k < 5; k++) {
        NnValue *v = nn_in(g, node, k);
        if (v->rank != 1 || v->dims[0] != x->dims[1])
            return ERR(NOVA_ERROR_INVALID,
                       "input %d must have %lld "
                       "elements",
                       k, (long long)x->dims[1]);
    }
    return nova__nn_set_shape(error, g, node, 0, NOVA_NN_FLOAT32, x->rank,
                              x->dims);
}

typedef struct {
    const NnExec *ex;
    const NnNode *node;
    size_t C, sp;
    int groups;
} NormCtx;

static void bn_planes(void *vctx, size_t begin, size_t end, int thread)
{
    NormCtx *c = vctx;
    const NnNode *node = c->node;
    const float *x = nn_f32(c->ex, node, 0);
    const float *scale = nn_f32(c->ex, node, 1), *bias = nn_f32(c->ex, node, 2);
    const float *mean = nn_f32(c->ex, node, 3), *var = nn_f32(c->ex, node, 4);
    float *y = nn_f32_out(c->ex, node, 0);
    float eps = nova__nn_attr_float(node, "epsilon", 1e-5f);
    for (size_t pl = begin; pl < end; pl++) {
        size_t ch = pl % c->C;
        float f = scale[ch] / sqrtf(var[ch] + eps);
        float o = bias[ch] - mean[ch] * f;
        const float *xp = x + pl * c->sp;
        float *yp = y + pl * c->sp;
        for (size_t i = 0; i < c->sp; i++)
            yp[i] = xp[i] * f + o;
    }
}

void nova__nn_run_batchnorm(NnExec *ex, NnNode *node);
void nova__nn_run_batchnorm(NnExec *ex, NnNode *node)
{
    NnValue *x = nn_in(ex->graph, node, 0);
    NormCtx c = {ex, node, (size_t)x->dims[1],
                 nn_count(x->dims + 2, x->rank - 2), 0};
    nova_pool_parallel_for(ex->pool, (size_t)(x->dims[0] * x->dims[1]),
                           bn_planes, &c);
}

/* InstanceNormalization-6 and GroupNormalization-18: mean and variance
 * over each (n, group) block of channels and positions; the scale and bias
 * are per channel (InstanceNorm) or per group or per channel (GroupNorm,
 * whose scale changed from [G] in opset 18 to [C] in 21). */
bool nova__nn_infer_instancenorm(NovaError **error, NnGraph *g, NnNode *node);
bool nova__nn_infer_instancenorm(NovaError **error, NnGraph *g, NnNode *node)
{
    NnValue *x = nn_in(g, node, 0);
    for (int k = 0; k < 3; k++)
        if (!need_f32(error, g, node, k))
            return false;
    if (x->rank < 3)
        return ERR(NOVA_ERROR_INVALID, "X rank %d; need >= 3", x->rank);
    int64_t C = x->dims[1];
    int64_t G = C;
    if (!strcmp(node->op_type, "GroupNormalization")) {
        G = nova__nn_attr_int(node, "num_groups", 0);
        if (G <= 0 || C % G)
            return ERR(NOVA_ERROR_INVALID,
                       "num_groups %lld does not divide "
                       "%lld channels",
                       (long long)G, (long long)C);
    }
    for (int k = 1; k < 3; k++) {
        NnValue *v = nn_in(g, node, k);
        if (v->rank != 1 || (v->dims[0] != C && v->dims[0] != G))
            return ERR(NOVA_ERROR_INVALID,
                       "input %d must have %lld "
                       "elements",
                       k, (long long)C);
    }
    NormCtx *p = params_alloc(error, node, sizeof *p);
    if (!p)
        return false;
    p->groups = (int)G;
    return nova__nn_set_shape(error, g, node, 0, NOVA_NN_FLOAT32, x->rank,
                              x->dims);
}

static void in_blocks(void *vctx, size_t begin, size_t end, int thread)
{
    NormCtx *c = vctx;
    const NnNode *node = c->node;
    const float *x = nn_f32(c->ex, node, 0);
    const float *scale = nn_f32(c->ex, node, 1), *bias = nn_f32(c->ex, node, 2);
    float *y = nn_f32_out(c->ex, node, 0);
    float eps = nova__nn_attr_float(node, "epsilon", 1e-5f);
    size_t G = (size_t)c->groups, cpg = c->C / G;
    NnValue *sv = nn_in(c->ex->graph, node, 1);
    bool per_channel = (size_t)sv->dims[0] == c->C;
    size_t len = cpg * c->sp;
    for (size_t blk = begin; blk < end; blk++) {
        size_t gi = blk % G;
        const float *xb = x + blk * len;
        float *yb = y + blk * len;
        double s = 0.0, s2 = 0.0;
        for (size_t i = 0; i < len; i++)
            s += xb[i];
        double mean = s / (double)len;
        for (size_t i = 0; i < len; i++) {
            double d = xb[i] - mean;
            s2 += d * d;
        }
        double inv = 1.0 / sqrt(s2 / (double)len + eps);
        for (size_t cc = 0; cc < cpg; cc++) {
            size_t ch = gi * cpg + cc;
            float sc = per_channel ? scale[ch] : scale[gi];
            float bi = per_channel ? bias[ch] : bias[gi];
            float f = (float)(sc * inv);
            float o = (float)(bi - mean * sc * inv);
            const float *xp = xb + cc * c->sp;
            float *yp = yb + cc * c->sp;
            for (size_t i = 0; i < c->sp; i++)
                yp[i] = xp[i] * f + o;
        }
    }
}

void nova__nn_run_instancenorm(NnExec *ex, NnNode *node);
void nova__nn_run_instancenorm(NnExec *ex, NnNode *node)
{
    NnValue *x = nn_in(ex->graph, node, 0);
    const NormCtx *p = node->params;
    NormCtx c = {ex, node, (size_t)x->dims[1],
                 nn_count(x->dims + 2, x->rank - 2), p->groups};
    nova_pool_parallel_for(ex->pool, (size_t)x->dims[0] * (size_t)p->groups,
                           in_blocks, &c);
}

/* ------------------------------------------------------------ Softmax */

typedef struct {
    size_t outer, len, inner;
    bool log;
} SoftmaxParams;

bool nova__nn_infer_softmax(NovaError **error, NnGraph *g, NnNode *node);
bool nova__nn_infer_softmax(NovaError **error, NnGraph *g, NnNode *node)
{
    NnValue *x = nn_in(g, node, 0);
    if (!need_f32(error, g, node, 0))
        return false;
    SoftmaxParams *p = params_alloc(error, node, sizeof *p);
    if (!p)
        return false;
    p->log = !strcmp(node->op_type, "LogSoftmax");
    int r = x->rank;
    if (g->opset < 13) {
        /* Softmax-11: the input is coerced to 2D at axis (default 1). */
        int axis = norm_axis(nova__nn_attr_int(node, "axis", 1), r);
        if (axis < 0 || axis > r)
            return ERR(NOVA_ERROR_INVALID, "axis out of range");
        p->outer = nn_count(x->dims, axis);
        p->len = nn_count(x->dims + axis, r - axis);
        p->inner = 1;
    } else {
        int axis = norm_axis(nova__nn_attr_int(node, "axis", -1), r);
        if (axis < 0 || axis >= r)
            return ERR(NOVA_ERROR_INVALID, "axis out of range");
        p->outer = nn_count(x->dims, axis);
        p->len = (size_t)x->dims[axis];
        p->inner = nn_count(x->dims + axis + 1, r - axis - 1);
    }
    return nova__nn_set_shape(error, g, node, 0, NOVA_NN_FLOAT32, r, x->dims);
}

typedef struct {
    const NnExec *ex;
    const NnNode *node;
} Ctx;

static void softmax_range(void *vctx, size_t begin, size_t end, int thread)
{
    Ctx *c = vctx;
    const SoftmaxParams *p = c->node->params;
    const float *x = nn_f32(c->ex, c->node, 0);
    float *y = nn_f32_out(c->ex, c->node, 0);
    for (size_t r = begin; r < end; r++) {
        size_t o = r / p->inner, in = r % p->inner;
        const float *xr = x + o * p->len * p->inner + in;
        float *yr = y + o * p->len * p->inner + in;
        float m = -INFINITY;
        for (size_t i = 0; i < p->len; i++)
            m = xr[i * p->inner] > m ? xr[i * p->inner] : m;
        double s = 0.0;
        for (size_t i = 0; i < p->len; i++) {
            float e = expf(xr[i * p->inner] - m);
            if (!p->log)
                yr[i * p->inner] = e;
            s += e;
        }
        for (size_t i = 0; i < p->len; i++) {
            if (p->log)
                yr[i * p->inner] = (float)(xr[i * p->inner] - m - log(s));
            else
                yr[i * p->inner] = (float)(yr[i * p->inner] / s);
        }
    }
}

void nova__nn_run_softmax(NnExec *ex, NnNode *node);
void nova__nn_run_softmax(NnExec *ex, NnNode *node)
{
    const SoftmaxParams *p = node->params;
    Ctx c = {ex, node};
    nova_pool_parallel_for(ex->pool, p->outer * p->inner, softmax_range, &c);
}

/* ------------------------------------------------------------ reductions */

typedef struct {
    bool reduce[NOVA_NN_MAX_RANK];
    int kind; /* 0 mean, 1 max, 2 sum */
    bool noop;
} ReduceParams;

bool nova__nn_infer_reduce(NovaError **error, NnGraph *g, NnNode *node);
bool nova__nn_infer_reduce(NovaError **error, NnGraph *g, NnNode *node)
{
    NnValue *x = nn_in(g, node, 0);
    if (!need_f32(error, g, node, 0))
        return false;
    ReduceParams *p = params_alloc(error, node, sizeof *p);
    if (!p)
        return false;
    p->kind = !strcmp(node->op_type, "ReduceMean")  ? 0
              : !strcmp(node->op_type, "ReduceMax") ? 1
                                                    : 2;
    int64_t axes[NOVA_NN_MAX_RANK];
    int n = 0;
    const NnAttr *a = nova__nn_attr_ints(node, "axes");
    if (a) {
        if (a->n > NOVA_NN_MAX_RANK)
            return ERR(NOVA_ERROR_INVALID, "too many axes");
        n = (int)a->n;
        memcpy(axes, a->ints, a->n * 8);
    } else if (nn_in(g, node, 1)) {
        /* ReduceSum-13 takes axes as an input. */
        if (!nova__nn_const_ints(error, g, node, 1, axes, NOVA_NN_MAX_RANK, &n))
            return false;
    }
    bool keep = nova__nn_attr_int(node, "keepdims", 1) != 0;
    if (n == 0 && nova__nn_attr_int(node, "noop_with_empty_axes", 0))
        p->noop = true;
    for (int i = 0; i < n; i++) {
        int ax = norm_axis(axes[i], x->rank);
        if (ax < 0 || ax >= x->rank)
            return ERR(NOVA_ERROR_INVALID, "axis %lld out of range",
                       (long long)axes[i]);
        p->reduce[ax] = true;
    }
    if (n == 0 && !p->noop)
        for (int i = 0; i < x->rank; i++)
            p->reduce[i] = true;
    int64_t d[NOVA_NN_MAX_RANK];
    int r = 0;
    for (int i = 0; i < x->rank; i++) {
        if (!p->reduce[i])
            d[r++] = x->dims[i];
        else if (keep)
            d[r++] = 1;
    }
    return nova__nn_set_shape(error, g, node, 0, NOVA_NN_FLOAT32, r, d);
}

void nova__nn_run_reduce(NnExec *ex, NnNode *node);
void nova__nn_run_reduce(NnExec *ex, NnNode *node)
{
    const ReduceParams *p = node->params;
    NnValue *x = nn_in(ex->graph, node, 0), *y = nn_out(ex->graph, node, 0);
    const float *in = nn_f32(ex, node, 0);
    float *out = nn_f32_out(ex, node, 0);
    size_t n_out = nn_value_count(y), n_in = nn_value_count(x);
    if (p->noop) {
        memcpy(out, in, n_in * sizeof(float));
        return;
    }
    for (size_t i = 0; i < n_out; i++)
        out[i] = p->kind == 1 ? -INFINITY : 0.0f;
    /* Output strides over the kept dims. */
    size_t ost[NOVA_NN_MAX_RANK], s = 1;
    for (int i = x->rank - 1; i >= 0; i--) {
        ost[i] = p->reduce[i] ? 0 : s;
        if (!p->reduce[i])
            s *= (size_t)x->dims[i];
    }
    int64_t idx[NOVA_NN_MAX_RANK] = {0};
    size_t o = 0;
    for (size_t i = 0; i < n_in; i++) {
        if (p->kind == 1)
            out[o] = in[i] > out[o] ? in[i] : out[o];
        else
            out[o] += in[i];
        for (int d = x->rank - 1; d >= 0; d--) {
            idx[d]++;
            o += ost[d];
            if (idx[d] < x->dims[d])
                break;
            o -= ost[d] * (size_t)x->dims[d];
            idx[d] = 0;
        }
    }
    if (p->kind == 0 && n_out > 0) {
        float count = (float)(n_in / n_out);
        for (size_t i = 0; i < n_out; i++)
            out[i] /= count;
    }
}

/* ------------------------------------------------------------ ArgMax */

typedef struct {
    size_t outer, len, inner;
    bool last;
} ArgParams;

bool nova__nn_infer_argmax(NovaError **error, NnGraph *g, NnNode *node);
bool nova__nn_infer_argmax(NovaError **error, NnGraph *g, NnNode *node)
{
    NnValue *x = nn_in(g, node, 0);
    if (!need_f32(error, g, node, 0))
        return false;
    int axis = norm_axis(nova__nn_attr_int(node, "axis", 0), x->rank);
    if (axis < 0 || axis >= x->rank)
        return ERR(NOVA_ERROR_INVALID, "axis out of range");
    ArgParams *p = params_alloc(error, node, sizeof *p);
    if (!p)
        return false;
    p->outer = nn_count(x->dims, axis);
    p->len = (size_t)x->dims[axis];
    p->inner = nn_count(x->dims + axis + 1, x->rank - axis - 1);
    p->last = nova__nn_attr_int(node, "select_last_index", 0) != 0;
    bool keep = nova__nn_attr_int(node, "keepdims", 1) != 0;
    int64_t d[NOVA_NN_MAX_RANK];
    int r = 0;
    for (int i = 0; i < x->rank; i++) {
        if (i != axis)
            d[r++] = x->dims[i];
        else if (keep)
            d[r++] = 1;
    }
    return nova__nn_set_shape(error, g, node, 0, NOVA_NN_INT64, r, d);
}

void nova__nn_run_argmax(NnExec *ex, NnNode *node);
void nova__nn_run_argmax(NnExec *ex, NnNode *node)
{
    const ArgParams *p = node->params;
    const float *x = nn_f32(ex, node, 0);
    int64_t *y = nn_ptr(ex, node->outputs[0]);
    for (size_t o = 0; o < p->outer; o++)
        for (size_t in = 0; in < p->inner; in++) {
            const float *xr = x + o * p->len * p->inner + in;
            size_t best = 0;
            for (size_t i = 1; i < p->len; i++) {
                float v = xr[i * p->inner], b = xr[best * p->inner];
                if (v > b || (p->last && v == b))
                    best = i;
            }
            y[o * p->inner + in] = (int64_t)best;
        }
}

/* ------------------------------------------------------------ Resize */

typedef struct {
    int rank;
    bool linear;
    float extrapolation;
    size_t offset[NOVA_NN_MAX_RANK]; /* into the tables, per dim */
    /* Tables: for each dim and output index, i0, i1 (i1 == -1: outside,
     * extrapolate) and the weight of i1. */
    size_t n_entries;
    int64_t *i0;
    int64_t *i1;
    float *w;
} ResizeParams;

static int64_t nearest(double x, const char *mode)
{
    if (!strcmp(mode, "floor"))
        return (int64_t)floor(x);
    if (!strcmp(mode, "ceil"))
        return (int64_t)ceil(x);
    double f = floor(x);
    if (x - f == 0.5)
        return !strcmp(mode, "round_prefer_ceil") ? (int64_t)f + 1 : (int64_t)f;
    return (int64_t)floor(x + 0.5);
}

bool nova__nn_infer_resize(NovaError **error, NnGraph *g, NnNode *node);
bool nova__nn_infer_resize(NovaError **error, NnGraph *g, NnNode *node)
{
    NnValue *x = nn_in(g, node, 0);
    bool upsample = !strcmp(node->op_type, "Upsample");
    const char *mode = nova__nn_attr_string(node, "mode", "nearest");
    const char *ctm =
        upsample ? "asymmetric"
                 : nova__nn_attr_string(node, "coordinate_transformation_mode",
                                        "half_pixel");
    const char *nmode = upsample ? "floor"
                                 : nova__nn_attr_string(node, "nearest_mode",
                                                        "round_prefer_floor");
    bool linear = !strcmp(mode, "linear") || !strcmp(mode, "bilinear") ||
                  !strcmp(mode, "trilinear");
    if (!linear && strcmp(mode, "nearest") != 0)
        return ERR(NOVA_ERROR_UNSUPPORTED,
                   "mode '%s' (nearest and linear "
                   "are supported)",
                   mode);
    if (x->dtype != NOVA_NN_FLOAT32)
        return ERR(NOVA_ERROR_UNSUPPORTED, "type %s",
                   nova_nn_dtype_name(x->dtype));
    int r = x->rank;
    double scales[NOVA_NN_MAX_RANK];
    int64_t out[NOVA_NN_MAX_RANK];
    float roi[2 * NOVA_NN_MAX_RANK];
    for (int i = 0; i < r; i++) {
        roi[i] = 0.0f;
        roi[i + r] = 1.0f;
    }
    int scale_input = upsample ? 1 : 2;
    NnValue *sv = nn_in(g, node, scale_input);
    NnValue *zv = upsample ? NULL : nn_in(g, node, 3);
    NnValue *rv = upsample ? NULL : nn_in(g, node, 1);
    if (rv && nn_value_count(rv) > 0 && !strcmp(ctm, "tf_crop_and_resize")) {
        if (rv->kind != NN_VALUE_CONST || rv->dtype != NOVA_NN_FLOAT32 ||
            nn_value_count(rv) != 2 * (size_t)r)
            return ERR(NOVA_ERROR_UNSUPPORTED,
                       "roi must be a constant of %d "
                       "floats",
                       2 * r);
        memcpy(roi, rv->data, 2 * (size_t)r * sizeof(float));
    }
    if (zv && nn_value_count(zv) > 0) {
        int n;
        if (!nova__nn_const_ints(error, g, node, 3, out, NOVA_NN_MAX_RANK, &n))
            return false;
        if (n != r)
            return ERR(NOVA_ERROR_INVALID, "sizes has %d entries", n);
        for (int i = 0; i < r; i++)
            scales[i] = x->dims[i] ? (double)out[i] / (double)x->dims[i] : 1;
    } else if (sv && nn_value_count(sv) > 0) {
        if (sv->kind != NN_VALUE_CONST || sv->dtype != NOVA_NN_FLOAT32 ||
            nn_value_count(sv) != (size_t)r)
            return ERR(NOVA_ERROR_UNSUPPORTED,
                       "scales must be a constant of "
                       "%d floats",
                       r);
        for (int i = 0; i < r; i++) {
            scales[i] = ((float *)sv->data)[i];
            if (!(scales[i] > 0.0) || scales[i] > 1e6)
                return ERR(NOVA_ERROR_INVALID, "scale %g", scales[i]);
            out[i] = (int64_t)floor((double)x->dims[i] * scales[i]);
        }
    } else {
        return ERR(NOVA_ERROR_INVALID, "neither scales nor sizes given");
    }
    if (!nova__nn_set_shape(error, g, node, 0, NOVA_NN_FLOAT32, r, out))
        return false;
    size_t entries = 0;
    for (int i = 0; i < r; i++)
        entries += (size_t)out[i];
    ResizeParams *p = params_alloc(
        error, node,
        sizeof *p + entries * (2 * sizeof(int64_t) + sizeof(float)));
    if (!p)
        return false;
    p->rank = r;
    p->linear = linear;
    p->extrapolation = nova__nn_attr_float(node, "extrapolation_value", 0.0f);
    p->i0 = (int64_t *)(p + 1);
    p->i1 = p->i0 + entries;
    p->w = (float *)(p->i1 + entries);
    size_t e = 0;
    for (int d = 0; d < r; d++) {
        p->offset[d] = e;
        int64_t in = x->dims[d];
        double s = scales[d];
        /* ONNX's reference uses the unrounded resized length in * scale
         * where the transformation needs the output length. */
        double len_out = (double)in * s;
        for (int64_t o = 0; o < out[d]; o++, e++) {
            double xo;
            /* Resize-13 coordinate_transformation_mode. */
            if (!strcmp(ctm, "half_pixel"))
                xo = (o + 0.5) / s - 0.5;
            else if (!strcmp(ctm, "pytorch_half_pixel"))
                xo = len_out > 1 ? (o + 0.5) / s - 0.5 : 0.0;
            else if (!strcmp(ctm, "align_corners"))
                xo = len_out == 1
                         ? 0.0
                         : (double)o * (double)(in - 1) / (len_out - 1);
            else if (!strcmp(ctm, "asymmetric"))
                xo = o / s;
            else if (!strcmp(ctm, "tf_half_pixel_for_nn"))
                xo = (o + 0.5) / s;
            else if (!strcmp(ctm, "tf_crop_and_resize")) {
                double st = roi[d], en = roi[d + r];
                xo = len_out > 1 ? st * (in - 1) +
                                       o * (en - st) * (in - 1) / (len_out - 1)
                                 : 0.5 * (st + en) * (in - 1);
                if (xo < 0 || xo > in - 1) {
                    p->i0[e] = 0;
                    p->i1[e] = -1;
                    p->w[e] = 0;
                    continue;
                }
            } else
                return ERR(NOVA_ERROR_UNSUPPORTED,
                           "coordinate_transformation_mode '%s'", ctm);
            if (linear) {
                double c = xo < 0 ? 0 : (xo > in - 1 ? (double)(in - 1) : xo);
                int64_t f = (int64_t)floor(c);
                if (f > in - 1)
                    f = in - 1;
                p->i0[e] = f;
                p->i1[e] = f + 1 < in ? f + 1 : f;
                p->w[e] = (float)(c - (double)f);
            } else {
                int64_t k = nearest(xo, nmode);
                k = k < 0 ? 0 : (k >= in ? in - 1 : k);
                p->i0[e] = k;
                p->i1[e] = k;
                p->w[e] = 0.0f;
            }
        }
    }
    return true;
}

typedef struct {
    const NnExec *ex;
    const NnNode *node;
} ResizeCtx;

static void resize_range(void *vctx, size_t begin, size_t end, int thread)
{
    ResizeCtx *c = vctx;
    const ResizeParams *p = c->node->params;
    NnValue *x = nn_in(c->ex->graph, c->node, 0);
    NnValue *y = nn_out(c->ex->graph, c->node, 0);
    const float *in = nn_f32(c->ex, c->node, 0);
    float *out = nn_f32_out(c->ex, c->node, 0);
    int r = p->rank;
    size_t st[NOVA_NN_MAX_RANK], s = 1;
    for (int i = r - 1; i >= 0; i--) {
        st[i] = s;
        s *= (size_t)x->dims[i];
    }
    for (size_t o = begin; o < end; o++) {
        size_t e[NOVA_NN_MAX_RANK], rem = o;
        bool outside = false;
        for (int d = r - 1; d >= 0; d--) {
            e[d] = p->offset[d] + rem % (size_t)y->dims[d];
            rem /= (size_t)y->dims[d];
            outside |= p->i1[e[d]] < 0;
        }
        if (outside) {
            out[o] = p->extrapolation;
            continue;
        }
        if (!p->linear) {
            size_t src = 0;
            for (int d = 0; d < r; d++)
                src += (size_t)p->i0[e[d]] * st[d];
            out[o] = in[src];
            continue;
        }
        /* n-linear: sum over the 2^r corners (dims with weight 0 only
         * contribute their first corner). */
        double acc = 0.0;
        for (unsigned corner = 0; corner < (1u << r); corner++) {
            double wt = 1.0;
            size_t src = 0;
            for (int d = 0; d < r && wt != 0.0; d++) {
                bool hi = (corner >> d) & 1;
                float w = p->w[e[d]];
                wt *= hi ? w : 1.0f - w;
                src += (size_t)(hi ? p->i1[e[d]] : p->i0[e[d]]) * st[d];
            }
            if (wt != 0.0)
                acc += wt * in[src];
        }
        out[o] = (float)acc;
    }
}

/* The common case, scaling only the spatial dims (N and C kept): per
 * output row, the table entries of the spatial dims combine separably,
 * with no per-element index arithmetic.  Rows are (plane, z, y). */
static bool resize_spatial_only(const ResizeParams *p, const NnValue *x,
                                const NnValue *y)
{
    if (p->rank < 3 || p->rank > 5)
        return false;
    for (int d = 0; d < 2; d++) {
        if (x->dims[d] != y->dims[d])
            return false;
        for (int64_t o = 0; o < y->dims[d]; o++) {
            size_t e = p->offset[d] + (size_t)o;
            if (p->i0[e] != o || (p->linear && p->w[e] != 0.0f))
                return false;
        }
    }
    size_t entries = 0;
    for (int d = 0; d < p->rank; d++)
        entries += (size_t)y->dims[d];
    for (size_t e = 0; e < entries; e++)
        if (p->i1[e] < 0)
            return false; /* extrapolation: the general path */
    return true;
}

static void resize_rows(void *vctx, size_t begin, size_t end, int thread)
{
    ResizeCtx *c = vctx;
    const ResizeParams *p = c->node->params;
    NnValue *x = nn_in(c->ex->graph, c->node, 0);
    NnValue *y = nn_out(c->ex->graph, c->node, 0);
    const float *in = nn_f32(c->ex, c->node, 0);
    float *out = nn_f32_out(c->ex, c->node, 0);
    int r = p->rank;
    /* Spatial dims padded to (z, y, x). */
    int64_t iz = r == 5 ? x->dims[2] : 1, iy = r >= 4 ? x->dims[r - 2] : 1,
            ix = x->dims[r - 1];
    int64_t oz = r == 5 ? y->dims[2] : 1, oy = r >= 4 ? y->dims[r - 2] : 1,
            ox = y->dims[r - 1];
    size_t ez = r == 5 ? p->offset[2] : 0, ey = r >= 4 ? p->offset[r - 2] : 0,
           ex_ = p->offset[r - 1];
    const int64_t *xi0 = p->i0 + ex_, *xi1 = p->i1 + ex_;
    const float *xw = p->w + ex_;
    for (size_t row = begin; row < end; row++) {
        size_t plane = row / (size_t)(oz * oy);
        int64_t zz = (int64_t)(row / (size_t)oy) % oz;
        int64_t yy = (int64_t)(row % (size_t)oy);
        const float *ip = in + plane * (size_t)(iz * iy * ix);
        float *op = out + row * (size_t)ox;
        int64_t z0 = r == 5 ? p->i0[ez + zz] : 0,
                z1 = r == 5 ? p->i1[ez + zz] : 0;
        float wz = r == 5 ? p->w[ez + zz] : 0.0f;
        int64_t y0 = r >= 4 ? p->i0[ey + yy] : 0,
                y1 = r >= 4 ? p->i1[ey + yy] : 0;
        float wy = r >= 4 ? p->w[ey + yy] : 0.0f;
        const float *r00 = ip + (z0 * iy + y0) * ix;
        if (!p->linear) {
            for (int64_t o = 0; o < ox; o++)
                op[o] = r00[xi0[o]];
            continue;
        }
        const float *r01 = ip + (z0 * iy + y1) * ix;
        const float *r10 = ip + (z1 * iy + y0) * ix;
        const float *r11 = ip + (z1 * iy + y1) * ix;
        float w00 = (1 - wz) * (1 - wy), w01 = (1 - wz) * wy;
        float w10 = wz * (1 - wy), w11 = wz * wy;
        for (int64_t o = 0; o < ox; o++) {
            int64_t a = xi0[o], b = xi1[o];
            float w = xw[o];
            float v00 = r00[a] + w * (r00[b] - r00[a]);
            float v01 = r01[a] + w * (r01[b] - r01[a]);
            float v10 = r10[a] + w * (r10[b] - r10[a]);
            float v11 = r11[a] + w * (r11[b] - r11[a]);
            op[o] = w00 * v00 + w01 * v01 + w10 * v10 + w11 * v11;
        }
    }
}

/* The same over oneDNN's 8-channel blocked layout (nChw8c, nCdhw8c):
 * planes are (image, channel block) and an element is 8 channels. */
typedef struct {
    const ResizeParams *p;
    const float *in;
    float *out;
    int64_t iz, iy, ix, oz, oy, ox;
} Resize8Ctx;

static void resize_rows8(void *vctx, size_t begin, size_t end, int thread)
{
    const Resize8Ctx *c = vctx;
    const ResizeParams *p = c->p;
    int r = p->rank;
    size_t ez = r == 5 ? p->offset[2] : 0, ey = p->offset[r - 2],
           ex_ = p->offset[r - 1];
    const int64_t *xi0 = p->i0 + ex_, *xi1 = p->i1 + ex_;
    const float *xw = p->w + ex_;
    const int64_t iy = c->iy, ix = c->ix;
    for (size_t row = begin; row < end; row++) {
        size_t plane = row / (size_t)(c->oz * c->oy);
        int64_t zz = (int64_t)(row / (size_t)c->oy) % c->oz;
        int64_t yy = (int64_t)(row % (size_t)c->oy);
        const float *ip = c->in + plane * (size_t)(c->iz * iy * ix) * 8;
        float *op = c->out + row * (size_t)c->ox * 8;
        int64_t z0 = r == 5 ? p->i0[ez + zz] : 0,
                z1 = r == 5 ? p->i1[ez + zz] : 0;
        float wz = r == 5 ? p->w[ez + zz] : 0.0f;
        int64_t y0 = p->i0[ey + yy], y1 = p->i1[ey + yy];
        float wy = p->w[ey + yy];
        const float *r00 = ip + (z0 * iy + y0) * ix * 8;
        if (!p->linear) {
            for (int64_t o = 0; o < c->ox; o++)
                memcpy(op + o * 8, r00 + xi0[o] * 8, 8 * sizeof(float));
            continue;
        }
        const float *r01 = ip + (z0 * iy + y1) * ix * 8;
        const float *r10 = ip + (z1 * iy + y0) * ix * 8;
        const float *r11 = ip + (z1 * iy + y1) * ix * 8;
        float w00 = (1 - wz) * (1 - wy), w01 = (1 - wz) * wy;
        float w10 = wz * (1 - wy), w11 = wz * wy;
        for (int64_t o = 0; o < c->ox; o++) {
            const int64_t a = xi0[o] * 8, b = xi1[o] * 8;
            const float w = xw[o];
            for (int l = 0; l < 8; l++) {
                float v00 = r00[a + l] + w * (r00[b + l] - r00[a + l]);
                float v01 = r01[a + l] + w * (r01[b + l] - r01[a + l]);
                float v10 = r10[a + l] + w * (r10[b + l] - r10[a + l]);
                float v11 = r11[a + l] + w * (r11[b + l] - r11[a + l]);
                op[o * 8 + l] = w00 * v00 + w01 * v01 + w10 * v10 + w11 * v11;
            }
        }
    }
}

bool nova__nn_resize_blocked_ok(NnGraph *g, const NnNode *node)
{
    NnValue *x = nn_in(g, node, 0), *y = nn_out(g, node, 0);
    return node->params && x && y && x->dtype == NOVA_NN_FLOAT32 &&
           (x->rank == 4 || x->rank == 5) && x->dims[1] % 8 == 0 &&
           resize_spatial_only(node->params, x, y);
}

void nova__nn_resize_blocked(NnExec *ex, const NnNode *node, const float *in,
                             float *out)
{
    NnValue *x = nn_in(ex->graph, node, 0), *y = nn_out(ex->graph, node, 0);
    int r = x->rank;
    Resize8Ctx c = {node->params,
                    in,
                    out,
                    r == 5 ? x->dims[2] : 1,
                    x->dims[r - 2],
                    x->dims[r - 1],
                    r == 5 ? y->dims[2] : 1,
                    y->dims[r - 2],
                    y->dims[r - 1]};
    size_t rows = (size_t)(y->dims[0] * (y->dims[1] / 8) * c.oz * c.oy);
    nova__nn_par_for(ex->pool, rows, resize_rows8, &c);
}

void nova__nn_run_resize(NnExec *ex, NnNode *node);
void nova__nn_run_resize(NnExec *ex, NnNode *node)
{
    ResizeCtx c = {ex, node};
    NnValue *x = nn_in(ex->graph, node, 0), *y = nn_out(ex->graph, node, 0);
    if (resize_spatial_only(node->params, x, y)) {
        int64_t ox = y->dims[y->rank - 1];
        size_t rows = ox ? nn_value_count(y) / (size_t)ox : 0;
        nova_pool_parallel_for(ex->pool, rows, resize_rows, &c);
        return;
    }
    nova_pool_parallel_for(ex->pool, nn_value_count(y), resize_range, &c);
}

/* ------------------------------------------------------------ FLOPs */

double nova__nn_node_flops(NnGraph *g, const NnNode *node)
{
    if (!node->params)
        return 0.0;
    if (!strcmp(node->op_type, "Conv")) {
        const WinParams *p = node->params;
        return 2.0 * (double)p->N * (double)p->M * (double)p->outsp *
               (double)(p->C / p->group) * (double)p->ksize;
    }
    if (!strcmp(node->op_type, "ConvTranspose")) {
        const WinParams *p = node->params;
        return 2.0 * (double)p->N * (double)p->C * (double)p->insp *
               (double)(p->M / p->group) * (double)p->ksize;
    }
    if (!strcmp(node->op_type, "Gemm")) {
        const GemmParams *p = node->params;
        return 2.0 * (double)p->M * (double)p->N * (double)p->K;
    }
    if (!strcmp(node->op_type, "MatMul")) {
        const MatMulParams *p = node->params;
        return 2.0 * (double)p->batch * (double)p->M * (double)p->N *
               (double)p->K;
    }
    return 0.0;
}
