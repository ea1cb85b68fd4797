/*
 * dnnl.c - the oneDNN backend (Debian libdnnl-dev 2.6, C API).
 *
 * At compile time this file claims the nodes oneDNN runs well -
 * convolution and deconvolution (with bias and fused residual sum and
 * activation post-ops), pooling, inner product (Gemm), batch
 * normalisation (with fused ReLU), concatenation on channels, activations
 * and same-shape Add - and builds one primitive per node.  Activations
 * stay in the blocked layout the primitives choose (nChw8c/nChw16c and
 * their 3D forms) as long as every reader of a tensor is a oneDNN node;
 * reorders to plain NC... layout happen only at the boundaries (a tensor
 * read by a reference kernel, or a graph output), and from plain layout
 * into a primitive's preferred source layout.  Weights are reordered once,
 * here.  oneDNN runs with a user scratchpad carved from the session's
 * scratch, so execution needs no allocation from Nova; its threads are
 * OpenMP's (Debian builds oneDNN with DNNL_CPU_RUNTIME=OMP), and the
 * thread count is set to the session pool's before each run.  With more
 * than one thread, convolutions, batch norms and pools that a team
 * stretch can split (team.c) are built instead as one primitive per team
 * thread, each for one OpenMP thread and a range of whole output-channel
 * blocks ("slices"), and run on that thread's stream.
 */
#include "nn_internal.h"

#include <float.h>
#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>

/* libgomp (oneDNN's runtime); declared here so no OpenMP compiler flags
 * are needed. */
extern void omp_set_num_threads(int n);

struct NnDnnl {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dnnl_stream_t *streams; /* one per team thread; streams[0] = stream */
    int n_threads;
    bool team; /* nodes split by thread index (team.c); NOVA_NN_TEAM=0: off */
    bool winograd;     /* 3x3 stride-1 convolutions by wino.c */
    bool serial_small; /* small nodes on one thread (see node_threads) */
    int conv1x1;       /* 1x1 convolutions by conv1x1.c: 0 never, 1 always,
                        * 2 on nodes with more than one thread */
};

enum { MAX_ARGS = 72, MAX_MEMS = 160, MAX_CONCAT = 64 };

typedef enum {
    KIND_CONV,
    KIND_DECONV,
    KIND_POOL,
    KIND_IP,
    KIND_BNORM,
    KIND_CONCAT,
    KIND_ELTWISE,
    KIND_BINARY
} Kind;

/* One argument of a slice primitive: a byte offset into a run-time
 * handle of the node (its source or destination), a constant, or scratch. */
typedef struct {
    int arg;
    dnnl_memory_t mem;
    int base;          /* index into the node's args, or -1 */
    const void *fixed; /* constant data (already offset), or NULL */
    long scratch;      /* scratch offset, or -1 */
    size_t offset;     /* bytes past base's handle */
} SliceArg;

enum { MAX_SLICE_ARGS = 8 };

/* One team thread's part of a oneDNN node: the same operation on a range
 * of whole channel blocks of the destination (and of the source where the
 * operation is per channel), as a primitive created for one thread. */
typedef struct {
    dnnl_primitive_t prim;
    int n_args;
    SliceArg a[MAX_SLICE_ARGS];
    dnnl_exec_arg_t args[MAX_SLICE_ARGS];
    void *weights; /* this slice's reordered weights, owned */
} Slice;

/* One run-time input copy: reorder from the tensor's layout into the
 * layout the primitive wants, in scratch. */
typedef struct {
    dnnl_primitive_t reorder;
    dnnl_memory_t from, to;
    size_t scratch_offset;
} InCopy;

typedef struct {
    Kind kind;
    dnnl_primitive_t prim;
    int n_args;
    dnnl_exec_arg_t args[MAX_ARGS];
    /* What each arg's handle is at run time. */
    int arg_value[MAX_ARGS];    /* value index, or -1 */
    long arg_scratch[MAX_ARGS]; /* scratch offset, or -1 */
    void *arg_const[MAX_ARGS];  /* fixed pointer, or NULL */
    InCopy copies[MAX_ARGS];
    int n_copies;
    int copy_value[MAX_ARGS]; /* the value each copy reads */
    /* Residual: reorder the residual tensor into dst before the sum. */
    dnnl_primitive_t res_reorder;
    dnnl_memory_t res_from, res_to;
    int res_value;
    /* Output to plain layout after the primitive. */
    dnnl_primitive_t out_reorder;
    dnnl_memory_t out_from, out_to;
    int out_value;
    long dst_scratch;   /* dst written to scratch first, or -1 */
    void *weights;      /* reordered weights, owned */
    NnWino *wino;       /* Winograd convolution instead of prim, owned */
    NnGnorm *gnorm;     /* blocked GroupNormalization (gnorm.c), owned */
    bool resize;        /* blocked Resize (ops_nn.c) */
    NnDeconv *deconv;   /* stride = kernel ConvTranspose (deconv.c), owned */
    int threads;        /* this node's thread count (node_threads) */
    NnS2Conv *s2;       /* 3x3 stride-2 convolution (s2conv.c), owned */
    NnConv1x1 *k1;      /* 1x1 convolution (conv1x1.c), owned */
    size_t own_scratch; /* scratch offset of wino.c, s2conv.c, conv1x1.c */
    void *bias;         /* owned copy for Gemm's C */
    Slice *slices;      /* one per team thread instead of prim, owned */
    int n_slices;
    dnnl_memory_t mems[MAX_MEMS];
    int n_mems;
} DnnlNode;

static bool dnnl_check(NovaError **error, const NnNode *node, dnnl_status_t st,
                       const char *what)
{
    if (st == dnnl_success)
        return true;
    return nova__nn_node_error(error, node, NOVA_ERROR_INTERNAL,
                               "oneDNN %s failed (status %d)", what, (int)st);
}

NnDnnl *nova__nn_dnnl_create(NovaError **error, int n_threads)
{
    NnDnnl *d = nova_calloc(error, 1, sizeof *d);
    if (!d)
        return NULL;
    d->n_threads = n_threads > 0 ? n_threads : 1;
    const char *team = getenv("NOVA_NN_TEAM");
    d->team = d->n_threads > 1 && !(team && strcmp(team, "0") == 0);
    /* NOVA_NN_WINOGRAD=0 keeps every convolution on oneDNN (to compare
     * the two, or to rule Winograd out when chasing a difference). */
    const char *wino = getenv("NOVA_NN_WINOGRAD");
    d->winograd =
        !(wino && strcmp(wino, "0") == 0) && nova__nn_wino_available();
    const char *serial = getenv("NOVA_NN_SMALL_SERIAL");
    d->serial_small = !(serial && strcmp(serial, "0") == 0);
    /* NOVA_NN_CONV1X1: 0 keeps 1x1 convolutions on oneDNN, 1 runs them
     * on conv1x1.c at any thread count; by default only nodes split over
     * more than one thread use it (on one thread oneDNN's primitive is
     * as fast, and there is no input to share). */
    const char *k1 = getenv("NOVA_NN_CONV1X1");
    d->conv1x1 = k1 && *k1 ? atoi(k1) : 2;
    /* Before anything runs (weights are reordered while compiling). */
    omp_set_num_threads(d->n_threads);
    if (dnnl_engine_create(&d->engine, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&d->stream, d->engine, dnnl_stream_default_flags) !=
            dnnl_success) {
        nova_error_set(error, NOVA_ERROR_UNSUPPORTED, "oneDNN unavailable",
                       "cannot create a oneDNN CPU engine");
        nova__nn_dnnl_destroy(d);
        return NULL;
    }
    d->streams = nova_calloc(error, (size_t)d->n_threads, sizeof *d->streams);
    if (!d->streams) {
        nova__nn_dnnl_destroy(d);
        return NULL;
    }
    d->streams[0] = d->stream;
    for (int t = 1; t < d->n_threads; t++)
        if (dnnl_stream_create(&d->streams[t], d->engine,
                               dnnl_stream_default_flags) != dnnl_success) {
            nova_error_set(error, NOVA_ERROR_UNSUPPORTED, "oneDNN unavailable",
                           "cannot create a oneDNN stream");
            nova__nn_dnnl_destroy(d);
            return NULL;
        }
    return d;
}

void nova__nn_dnnl_destroy(NnDnnl *d)
{
    if (!d)
        return;
    if (d->streams)
        for (int t = 1; t < d->n_threads; t++)
            if (d->streams[t])
                dnnl_stream_destroy(d->streams[t]);
    nova_free(d->streams);
    if (d->stream)
        dnnl_stream_destroy(d->stream);
    if (d->engine)
        dnnl_engine_destroy(d->engine);
    nova_free(d);
}

static void plain_md(dnnl_memory_desc_t *md, int rank, const int64_t *dims)
{
    dnnl_dims_t dd = {0}, st = {0};
    int64_t s = 1;
    for (int i = rank - 1; i >= 0; i--) {
        dd[i] = dims[i];
        st[i] = s;
        s *= dims[i];
    }
    dnnl_memory_desc_init_by_strides(md, rank, dd, dnnl_f32, st);
}

static void any_md(dnnl_memory_desc_t *md, int rank, const int64_t *dims)
{
    dnnl_dims_t dd = {0};
    for (int i = 0; i < rank; i++)
        dd[i] = dims[i];
    dnnl_memory_desc_init_by_tag(md, rank, dd, dnnl_f32, dnnl_format_tag_any);
}

/* The layout a value has at run time. */
static void value_md(const NnValue *v, dnnl_memory_desc_t *md)
{
    if (v->dnnl_md)
        *md = *(const dnnl_memory_desc_t *)v->dnnl_md;
    else
        plain_md(md, v->rank, v->dims);
}

/* ------------------------------------------------------------ claiming */

static bool is(const NnNode *n, const char *op)
{
    return strcmp(n->op_type, op) == 0;
}

static bool const_f32(NnGraph *g, const NnNode *n, int i)
{
    NnValue *v = nn_in(g, n, i);
    return v && v->kind == NN_VALUE_CONST && v->dtype == NOVA_NN_FLOAT32;
}

static bool data_f32(NnGraph *g, const NnNode *n, int i)
{
    NnValue *v = nn_in(g, n, i);
    return v && v->kind != NN_VALUE_CONST && v->dtype == NOVA_NN_FLOAT32;
}

static bool eltwise_alg(NnActivation act, float *alpha, float *beta,
                        dnnl_alg_kind_t *alg)
{
    switch (act) {
    case NN_ACT_RELU:
        *alg = dnnl_eltwise_relu;
        *alpha = 0;
        return true;
    case NN_ACT_LEAKY_RELU: *alg = dnnl_eltwise_relu; return true;
    case NN_ACT_SIGMOID: *alg = dnnl_eltwise_logistic; return true;
    case NN_ACT_TANH: *alg = dnnl_eltwise_tanh; return true;
    case NN_ACT_ELU: *alg = dnnl_eltwise_elu; return true;
    case NN_ACT_CLIP: *alg = dnnl_eltwise_clip; return true;
    default: return false;
    }
}

static NnActivation act_of_node(const NnNode *n, float *alpha, float *beta,
                                NnGraph *g)
{
    *alpha = 0;
    *beta = 0;
    if (is(n, "Relu"))
        return NN_ACT_RELU;
    if (is(n, "LeakyRelu")) {
        *alpha = nova__nn_attr_float(n, "alpha", 0.01f);
        return NN_ACT_LEAKY_RELU;
    }
    if (is(n, "Sigmoid"))
        return NN_ACT_SIGMOID;
    if (is(n, "Tanh"))
        return NN_ACT_TANH;
    if (is(n, "Elu")) {
        *alpha = nova__nn_attr_float(n, "alpha", 1.0f);
        return NN_ACT_ELU;
    }
    if (is(n, "Clip")) {
        *alpha = -INFINITY;
        *beta = INFINITY;
        for (int k = 1; k < 3; k++) {
            NnValue *v = nn_in(g, n, k);
            if (!v)
                continue;
            if (v->kind != NN_VALUE_CONST)
                return NN_ACT_NONE;
            *(k == 1 ? alpha : beta) = *(float *)v->data;
        }
        /* oneDNN's clip takes finite bounds. */
        if (isinf(*alpha))
            *alpha = -FLT_MAX;
        if (isinf(*beta))
            *beta = FLT_MAX;
        return NN_ACT_CLIP;
    }
    return NN_ACT_NONE;
}

typedef NnWinParams Win;
typedef NnGemmParams GemmP;

/* InstanceNormalization is GroupNormalization with one channel per group:
 * gnorm.c runs it on the blocked layout with any batch and a fused
 * ReLU/LeakyReLU (oneDNN's batch norm form takes neither). */
static bool inorm_by_gnorm(NnGraph *g, const NnNode *n)
{
    NnValue *x = nn_in(g, n, 0);
    return x->rank >= 3 && x->rank <= 5 && const_f32(g, n, 1) &&
           const_f32(g, n, 2) && n->residual < 0 &&
           (n->act == NN_ACT_NONE || n->act == NN_ACT_RELU ||
            n->act == NN_ACT_LEAKY_RELU) &&
           nova__nn_gnorm_supported(x->dims[1], x->dims[1]);
}

static bool claimable(NnGraph *g, const NnNode *n)
{
    NnValue *x = nn_in(g, n, 0);
    NnValue *y = nn_out(g, n, 0);
    if (!x || !y || x->kind == NN_VALUE_CONST || x->dtype != NOVA_NN_FLOAT32)
        return false;
    if (n->n_outputs > 1 && n->outputs[1] >= 0)
        return false;
    if (is(n, "Conv") || is(n, "ConvTranspose")) {
        if (!const_f32(g, n, 1) ||
            (n->n_inputs > 2 && n->inputs[2] >= 0 && !const_f32(g, n, 2)))
            return false;
        if (is(n, "ConvTranspose")) {
            const Win *p = n->params;
            for (int i = 0; i < p->nsp; i++)
                if (p->pe[i] < 0)
                    return false;
            return n->act == NN_ACT_NONE && n->residual < 0;
        }
        return true;
    }
    if (is(n, "MaxPool") || is(n, "AveragePool")) {
        const Win *p = n->params;
        /* Past-the-padding positions that ceil_mode adds would count as
         * padding in oneDNN's include-padding average. */
        if (!p->is_max && p->count_include_pad)
            for (int i = 0; i < p->nsp; i++) {
                int64_t ek = p->dil[i] * (p->k[i] - 1) + 1;
                if ((p->out[i] - 1) * p->stride[i] + ek >
                    p->in[i] + p->pb[i] + p->pe[i])
                    return false;
            }
        return true;
    }
    if (is(n, "GlobalAveragePool") || is(n, "GlobalMaxPool"))
        return x->rank >= 3 && x->rank <= 5;
    if (is(n, "Gemm")) {
        const GemmP *p = n->params;
        NnValue *c = nn_in(g, n, 2);
        if (p->ta || p->alpha != 1.0f || !const_f32(g, n, 1) ||
            n->residual >= 0)
            return false;
        if (c && (c->kind != NN_VALUE_CONST || p->beta != 1.0f ||
                  p->cs_m != 0 || nn_value_count(c) != p->N))
            return false;
        return true;
    }
    if (is(n, "BatchNormalization")) {
        for (int k = 1; k < 5; k++)
            if (!const_f32(g, n, k))
                return false;
        return x->rank >= 3 && x->rank <= 5 && n->residual < 0 &&
               (n->act == NN_ACT_NONE || n->act == NN_ACT_RELU);
    }
    if (is(n, "InstanceNormalization") && inorm_by_gnorm(g, n))
        return true;
    if (is(n, "InstanceNormalization")) {
        /* With one image, instance norm is batch norm with the statistics
         * computed from the data (oneDNN's forward_training form: mean and
         * biased variance per channel over N x spatial). */
        return x->rank >= 3 && x->rank <= 5 && x->dims[0] == 1 &&
               const_f32(g, n, 1) && const_f32(g, n, 2) && n->residual < 0 &&
               n->act == NN_ACT_NONE;
    }
    if (is(n, "Concat")) {
        int64_t axis = nova__nn_attr_int(n, "axis", 0);
        if (axis < 0)
            axis += x->rank;
        if (axis != 1 || x->rank < 3 || x->rank > 5 || n->n_inputs > MAX_CONCAT)
            return false;
        for (int k = 0; k < n->n_inputs; k++)
            if (!data_f32(g, n, k))
                return false;
        return true;
    }
    if (is(n, "Add")) {
        NnValue *b = nn_in(g, n, 1);
        return data_f32(g, n, 1) && b->rank == x->rank &&
               !memcmp(b->dims, x->dims, sizeof(int64_t) * (size_t)x->rank) &&
               !memcmp(y->dims, x->dims, sizeof(int64_t) * (size_t)x->rank) &&
               x->rank >= 1 && x->rank <= 5;
    }
    if (is(n, "Resize") || is(n, "Upsample"))
        return nova__nn_resize_blocked_ok(g, n);
    if (is(n, "GroupNormalization")) {
        /* oneDNN has none; gnorm.c runs it on the blocked layout. */
        return x->rank >= 3 && x->rank <= 5 && const_f32(g, n, 1) &&
               const_f32(g, n, 2) && n->residual < 0 &&
               (n->act == NN_ACT_NONE || n->act == NN_ACT_RELU ||
                n->act == NN_ACT_LEAKY_RELU) &&
               nova__nn_gnorm_supported(x->dims[1],
                                        nova__nn_attr_int(n, "num_groups", 0));
    }
    float a, b;
    if (act_of_node(n, &a, &b, g) != NN_ACT_NONE)
        return x->rank >= 1 && x->rank <= 5;
    return false;
}

/* ------------------------------------------------------------ building */

/* Threads for one node.  Waking a second thread for a parallel region
 * cost 0.1-0.3 ms per oneDNN primitive on the 2-vCPU machine Nova is
 * benchmarked on (DenseNet-121 at 2 threads: its 76 primitives under
 * 0.1 ms took 3.1 ms on one thread and 24 ms on two), more than the
 * small nodes of a network take on one thread.  So a node whose work is
 * under ~0.3 ms on one core (20 MFLOP of convolution, 256 K output
 * elements otherwise) runs on one thread: its primitive is created for
 * one (oneDNN fixes a convolution's thread split when creating it) and
 * Nova's kernels skip the pool.  NOVA_NN_SMALL_SERIAL=0 turns this off. */
static int node_threads(const NnDnnl *d, NnGraph *g, const NnNode *n)
{
    if (d->n_threads <= 1 || !d->serial_small)
        return d->n_threads;
    /* Inside a team stretch a split costs a step (an atomic counter, and
     * a short wait when the threads are apart), not a wake-up, so smaller
     * nodes of the kinds that split there do; the others (Gemm, Add, ...)
     * leave the stretch when they take more than one thread. */
    bool splits = is(n, "Conv") || is(n, "ConvTranspose") ||
                  is(n, "BatchNormalization") || is(n, "MaxPool") ||
                  is(n, "AveragePool") || is(n, "GroupNormalization") ||
                  is(n, "InstanceNormalization") || is(n, "Resize") ||
                  is(n, "Upsample");
    bool team = d->team && splits;
    double min_flops = team ? 4e6 : 20e6;
    size_t min_count = team ? 32 * 1024 : 256 * 1024;
    double flops = nova__nn_node_flops(g, n);
    if (flops > 0)
        return flops < min_flops ? 1 : d->n_threads;
    NnValue *y = nn_out(g, n, 0);
    return y && nn_value_count(y) < min_count ? 1 : d->n_threads;
}

typedef struct {
    NovaError **error;
    NnDnnl *d;
    NnGraph *g;
    NnNode *node;
    DnnlNode *dn;
    size_t scratch; /* bytes of this node's scratch used so far */
} Build;

static size_t align64(size_t x)
{
    return (x + 63) & ~(size_t)63;
}

static dnnl_memory_t new_mem(Build *b, const dnnl_memory_desc_t *md)
{
    dnnl_memory_t m = NULL;
    if (dnnl_memory_create(&m, md, b->d->engine, DNNL_MEMORY_NONE) !=
        dnnl_success)
        return NULL;
    if (b->dn->n_mems == MAX_MEMS) {
        dnnl_memory_destroy(m);
        return NULL;
    }
    b->dn->mems[b->dn->n_mems++] = m;
    return m;
}

static bool make_reorder(Build *b, const dnnl_memory_desc_t *from,
                         const dnnl_memory_desc_t *to, dnnl_primitive_t *prim,
                         dnnl_memory_t *mfrom, dnnl_memory_t *mto)
{
    dnnl_primitive_desc_t pd;
    dnnl_status_t st = dnnl_reorder_primitive_desc_create(
        &pd, from, b->d->engine, to, b->d->engine, NULL);
    if (!dnnl_check(b->error, b->node, st, "reorder"))
        return false;
    st = dnnl_primitive_create(prim, pd);
    dnnl_primitive_desc_destroy(pd);
    if (!dnnl_check(b->error, b->node, st, "reorder create"))
        return false;
    *mfrom = new_mem(b, from);
    *mto = new_mem(b, to);
    return *mfrom && *mto;
}

static bool add_arg(Build *b, int arg, const dnnl_memory_desc_t *md, int value,
                    long scratch, void *fixed)
{
    DnnlNode *dn = b->dn;
    if (dn->n_args >= MAX_ARGS)
        return nova__nn_node_error(b->error, b->node, NOVA_ERROR_INTERNAL,
                                   "too many oneDNN arguments");
    dnnl_memory_t m = new_mem(b, md);
    if (!m)
        return nova__nn_node_error(b->error, b->node, NOVA_ERROR_INTERNAL,
                                   "oneDNN memory");
    int i = dn->n_args++;
    dn->args[i].arg = arg;
    dn->args[i].memory = m;
    dn->arg_value[i] = value;
    dn->arg_scratch[i] = scratch;
    dn->arg_const[i] = fixed;
    return true;
}

/* A data input: if the primitive wants another layout than the value has,
 * add a reorder into scratch. */
static bool add_src(Build *b, int arg, int value,
                    const dnnl_memory_desc_t *want)
{
    dnnl_memory_desc_t have;
    value_md(&b->g->values[value], &have);
    if (dnnl_memory_desc_equal(&have, want))
        return add_arg(b, arg, want, value, -1, NULL);
    DnnlNode *dn = b->dn;
    InCopy *c = &dn->copies[dn->n_copies];
    if (!make_reorder(b, &have, want, &c->reorder, &c->from, &c->to))
        return false;
    c->scratch_offset = b->scratch;
    dn->copy_value[dn->n_copies++] = value;
    long off = (long)b->scratch;
    b->scratch += align64(dnnl_memory_desc_get_size(want));
    return add_arg(b, arg, want, -1, off, NULL);
}

/* Weights: reorder the constant now into the primitive's layout. */
static bool add_weights(Build *b, int arg, const dnnl_memory_desc_t *plain,
                        const dnnl_memory_desc_t *want, const void *data)
{
    size_t size = dnnl_memory_desc_get_size(want);
    void *buf = nova_malloc_aligned(b->error, 64, size ? size : 64);
    if (!buf)
        return false;
    b->dn->weights = buf;
    dnnl_primitive_t r;
    dnnl_memory_t mf, mt;
    if (!make_reorder(b, plain, want, &r, &mf, &mt))
        return false;
    dnnl_memory_set_data_handle(mf, (void *)data);
    dnnl_memory_set_data_handle(mt, buf);
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, mf}, {DNNL_ARG_TO, mt}};
    dnnl_status_t st = dnnl_primitive_execute(r, b->d->stream, 2, args);
    dnnl_stream_wait(b->d->stream);
    dnnl_primitive_destroy(r);
    if (!dnnl_check(b->error, b->node, st, "weights reorder"))
        return false;
    return add_arg(b, arg, want, -1, -1, buf);
}

/* The destination: kept in the primitive's layout when every reader is a
 * oneDNN node, else written to scratch and reordered to plain. */
static bool add_dst(Build *b, const dnnl_memory_desc_t *dst, bool keep)
{
    NnNode *n = b->node;
    NnValue *y = &b->g->values[n->outputs[0]];
    dnnl_memory_desc_t plain;
    plain_md(&plain, y->rank, y->dims);
    DnnlNode *dn = b->dn;
    dn->dst_scratch = -1;
    bool is_plain = dnnl_memory_desc_equal(dst, &plain);
    if (keep && !is_plain) {
        dnnl_memory_desc_t *md = nova_malloc(b->error, sizeof *md);
        if (!md)
            return false;
        *md = *dst;
        y->dnnl_md = md;
        y->nbytes = dnnl_memory_desc_get_size(dst);
    }
    if (keep || is_plain) {
        if (!add_arg(b, DNNL_ARG_DST, dst, n->outputs[0], -1, NULL))
            return false;
    } else {
        dn->dst_scratch = (long)b->scratch;
        b->scratch += align64(dnnl_memory_desc_get_size(dst));
        if (!add_arg(b, DNNL_ARG_DST, dst, -1, dn->dst_scratch, NULL) ||
            !make_reorder(b, dst, &plain, &dn->out_reorder, &dn->out_from,
                          &dn->out_to))
            return false;
        dn->out_value = n->outputs[0];
    }
    /* A fused residual is copied into dst before the sum post-op. */
    if (n->residual >= 0) {
        dnnl_memory_desc_t have;
        value_md(&b->g->values[n->residual], &have);
        if (!make_reorder(b, &have, dst, &dn->res_reorder, &dn->res_from,
                          &dn->res_to))
            return false;
        dn->res_value = n->residual;
    }
    return true;
}

/* ------------------------------------------------------------ slices */

/* For a descriptor of one image blocked on channels only, channel blocks
 * outermost (nChw8c and its 1D/3D forms): the block size, else 0. */
static int64_t md_channel_block(const dnnl_memory_desc_t *md)
{
    if (md->format_kind != dnnl_blocked || md->ndims < 3 || md->ndims > 5 ||
        md->dims[0] != 1 || md->data_type != dnnl_f32 || md->offset0 != 0)
        return 0;
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    if (b->inner_nblks != 1 || b->inner_idxs[0] != 1 ||
        md->padded_dims[1] != md->dims[1] || md->dims[1] % b->inner_blks[0])
        return 0;
    int64_t spatial = 1;
    for (int i = 2; i < md->ndims; i++) {
        if (md->padded_dims[i] != md->dims[i])
            return 0;
        spatial *= md->dims[i];
    }
    if (b->strides[1] != spatial * b->inner_blks[0])
        return 0;
    return b->inner_blks[0];
}

/* Channels [c0, c1) (whole blocks) of such a descriptor: a descriptor of
 * the same layout whose bytes start c0 * bytes-per-channel in. */
static dnnl_memory_desc_t slice_md(const dnnl_memory_desc_t *md, int64_t c0,
                                   int64_t c1)
{
    dnnl_memory_desc_t s = *md;
    dnnl_blocking_desc_t *b = &s.format_desc.blocking;
    s.dims[1] = s.padded_dims[1] = c1 - c0;
    b->strides[0] = (c1 - c0) / b->inner_blks[0] * b->strides[1];
    return s;
}

static size_t md_bytes_per_channel(const dnnl_memory_desc_t *md)
{
    size_t spatial = 1;
    for (int i = 2; i < md->ndims; i++)
        spatial *= (size_t)md->dims[i];
    return spatial * sizeof(float);
}

/* Whether this node should be split into slices: a team, more than one
 * thread for the node, and the layout copies before and after it small
 * (in a stretch each is one chunk, on one thread). */
static bool want_slices(Build *b)
{
    if (!b->d->team || b->dn->threads <= 1)
        return false;
    const size_t big = (size_t)1 << 20;
    NnValue *x = nn_in(b->g, b->node, 0), *y = nn_out(b->g, b->node, 0);
    if (b->dn->n_copies && nn_value_count(x) > big)
        return false;
    if ((b->dn->out_reorder || b->dn->res_reorder) && nn_value_count(y) > big)
        return false;
    return true;
}

static int arg_index(const DnnlNode *dn, int arg)
{
    for (int i = 0; i < dn->n_args; i++)
        if (dn->args[i].arg == arg)
            return i;
    return -1;
}

static bool slice_arg(Build *b, Slice *sl, int arg,
                      const dnnl_memory_desc_t *md, int base, size_t offset,
                      const void *fixed, long scratch)
{
    dnnl_memory_t m = NULL;
    if (sl->n_args == MAX_SLICE_ARGS ||
        dnnl_memory_create(&m, md, b->d->engine, DNNL_MEMORY_NONE) !=
            dnnl_success)
        return nova__nn_node_error(b->error, b->node, NOVA_ERROR_INTERNAL,
                                   "oneDNN slice memory");
    SliceArg *a = &sl->a[sl->n_args];
    a->arg = arg;
    a->mem = m;
    a->base = base;
    a->fixed = fixed;
    a->scratch = scratch;
    a->offset = offset;
    sl->args[sl->n_args].arg = arg;
    sl->args[sl->n_args].memory = m;
    sl->n_args++;
    return true;
}

/* Source and destination of a slice: the node's, offset (per-channel
 * operations) or not (src_offset 0: a convolution reads every channel). */
static bool slice_io(Build *b, Slice *sl, const dnnl_memory_desc_t *src,
                     size_t src_offset, const dnnl_memory_desc_t *dst,
                     size_t dst_offset)
{
    return slice_arg(b, sl, DNNL_ARG_SRC, src, arg_index(b->dn, DNNL_ARG_SRC),
                     src_offset, NULL, -1) &&
           slice_arg(b, sl, DNNL_ARG_DST, dst, arg_index(b->dn, DNNL_ARG_DST),
                     dst_offset, NULL, -1);
}

/* The primitive's user scratchpad, carved from the session scratch: its
 * descriptor (NULL when it needs none) and offset. */
static const dnnl_memory_desc_t *
reserve_scratch(Build *b, dnnl_primitive_desc_t pd, long *off)
{
    const dnnl_memory_desc_t *sp =
        dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t sp_size = sp ? dnnl_memory_desc_get_size(sp) : 0;
    if (!sp_size)
        return NULL;
    *off = (long)b->scratch;
    b->scratch += align64(sp_size);
    return sp;
}

static bool slice_finish(Build *b, Slice *sl, dnnl_primitive_desc_t pd)
{
    long off = 0;
    const dnnl_memory_desc_t *sp = reserve_scratch(b, pd, &off);
    if (sp && !slice_arg(b, sl, DNNL_ARG_SCRATCHPAD, sp, -1, 0, NULL, off))
        return false;
    dnnl_status_t st = dnnl_primitive_create(&sl->prim, pd);
    return dnnl_check(b->error, b->node, st, "slice primitive create");
}

static bool slice_weights(Build *b, Slice *sl, const dnnl_memory_desc_t *plain,
                          const dnnl_memory_desc_t *want, const void *data)
{
    size_t size = dnnl_memory_desc_get_size(want);
    sl->weights = nova_malloc_aligned(b->error, 64, size ? size : 64);
    if (!sl->weights)
        return false;
    dnnl_primitive_t r;
    dnnl_memory_t mf, mt;
    if (!make_reorder(b, plain, want, &r, &mf, &mt))
        return false;
    dnnl_memory_set_data_handle(mf, (void *)data);
    dnnl_memory_set_data_handle(mt, sl->weights);
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, mf}, {DNNL_ARG_TO, mt}};
    dnnl_status_t st = dnnl_primitive_execute(r, b->d->stream, 2, args);
    dnnl_stream_wait(b->d->stream);
    dnnl_primitive_destroy(r);
    if (!dnnl_check(b->error, b->node, st, "weights reorder"))
        return false;
    return slice_arg(b, sl, DNNL_ARG_WEIGHTS, want, -1, 0, sl->weights, -1);
}

static void free_slices(DnnlNode *dn)
{
    for (int i = 0; dn->slices && i < dn->n_slices; i++) {
        Slice *sl = &dn->slices[i];
        if (sl->prim)
            dnnl_primitive_destroy(sl->prim);
        for (int k = 0; k < sl->n_args; k++)
            dnnl_memory_destroy(sl->a[k].mem);
        nova_free(sl->weights);
    }
    nova_free(dn->slices);
    dn->slices = NULL;
    dn->n_slices = 0;
}

/* Channel blocks [t * nb / T, (t + 1) * nb / T) for slice t, as channels. */
static void slice_range(int64_t nb, int64_t blk, int t, int T, int64_t *c0,
                        int64_t *c1)
{
    *c0 = nb * t / T * blk;
    *c1 = nb * (t + 1) / T * blk;
}

/* Slices need every thread to get at least one channel block. */
static bool slices_fit(const Build *b, int64_t channels, int64_t blk)
{
    return blk > 0 && channels % blk == 0 && channels / blk >= b->d->n_threads;
}

static bool alloc_slices(Build *b)
{
    int T = b->d->n_threads;
    b->dn->slices = nova_calloc(b->error, (size_t)T, sizeof(Slice));
    if (!b->dn->slices)
        return false;
    b->dn->n_slices = T;
    return true;
}

static bool finish(Build *b, dnnl_primitive_desc_t pd)
{
    long off = 0;
    const dnnl_memory_desc_t *sp = reserve_scratch(b, pd, &off);
    if (sp && !add_arg(b, DNNL_ARG_SCRATCHPAD, sp, -1, off, NULL))
        return false;
    dnnl_status_t st = dnnl_primitive_create(&b->dn->prim, pd);
    return dnnl_check(b->error, b->node, st, "primitive create");
}

static dnnl_primitive_attr_t make_attr(Build *b, bool sum, NnActivation act,
                                       float alpha, float beta)
{
    dnnl_primitive_attr_t attr;
    dnnl_primitive_attr_create(&attr);
    dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    dnnl_post_ops_t po;
    dnnl_post_ops_create(&po);
    if (sum)
        dnnl_post_ops_append_sum(po, 1.0f);
    dnnl_alg_kind_t alg = dnnl_eltwise_relu;
    if (act != NN_ACT_NONE && eltwise_alg(act, &alpha, &beta, &alg))
        dnnl_post_ops_append_eltwise(po, 1.0f, alg, alpha, beta);
    dnnl_primitive_attr_set_post_ops(attr, po);
    dnnl_post_ops_destroy(po);
    return attr;
}

/* The 8-channel blocked layout of a value's shape (nCw8c, nChw8c,
 * nCdhw8c). */
static void blocked8_md(dnnl_memory_desc_t *md, const NnValue *v)
{
    dnnl_dims_t dd;
    for (int i = 0; i < v->rank; i++)
        dd[i] = v->dims[i];
    dnnl_format_tag_t tag = v->rank == 3   ? dnnl_aBc8b
                            : v->rank == 4 ? dnnl_aBcd8b
                                           : dnnl_aBcde8b;
    dnnl_memory_desc_init_by_tag(md, v->rank, dd, dnnl_f32, tag);
}

/* A 3x3 (3x3x3) stride-1 convolution by wino.c, on nChw8c (nCdhw8c)
 * source and destination; m is the output tile (2 or 4). */
static bool build_wino(Build *b, bool keep, int m)
{
    NnGraph *g = b->g;
    NnNode *n = b->node;
    NnValue *x = nn_in(g, n, 0), *w = nn_in(g, n, 1), *bias = nn_in(g, n, 2);
    NnValue *y = nn_out(g, n, 0);
    dnnl_memory_desc_t src, dst;
    blocked8_md(&src, x);
    blocked8_md(&dst, y);
    DnnlNode *dn = b->dn;
    dn->kind = KIND_CONV;
    dn->wino = nova__nn_wino_create(
        b->error, n->params, m, w->data, bias ? bias->data : NULL, n->act,
        n->act_alpha, n->residual >= 0, b->dn->threads);
    if (!dn->wino || !add_src(b, DNNL_ARG_SRC, n->inputs[0], &src) ||
        !add_dst(b, &dst, keep))
        return false;
    dn->own_scratch = b->scratch;
    b->scratch += align64(nova__nn_wino_scratch_bytes(dn->wino));
    n->use_wino = true;
    return true;
}

/* Resize by ops_nn.c on the blocked layout: a U-Net's upsampling no
 * longer forces its neighbours out of oneDNN's layout and back. */
static bool build_resize(Build *b, bool keep)
{
    NnValue *x = nn_in(b->g, b->node, 0), *y = nn_out(b->g, b->node, 0);
    dnnl_memory_desc_t src, dst;
    blocked8_md(&src, x);
    blocked8_md(&dst, y);
    b->dn->kind = KIND_ELTWISE;
    b->dn->resize = true;
    return add_src(b, DNNL_ARG_SRC, b->node->inputs[0], &src) &&
           add_dst(b, &dst, keep);
}

/* ConvTranspose with stride = kernel by deconv.c on the blocked layout
 * (oneDNN 2.6 runs it in plain layout through a slow GEMM path). */
static bool build_deconv(Build *b, bool keep)
{
    NnGraph *g = b->g;
    NnNode *n = b->node;
    NnValue *x = nn_in(g, n, 0), *w = nn_in(g, n, 1), *bias = nn_in(g, n, 2);
    dnnl_memory_desc_t src, dst;
    blocked8_md(&src, x);
    blocked8_md(&dst, nn_out(g, n, 0));
    b->dn->kind = KIND_DECONV;
    b->dn->deconv = nova__nn_deconv_create(b->error, n->params, w->data,
                                           bias ? bias->data : NULL);
    return b->dn->deconv && add_src(b, DNNL_ARG_SRC, n->inputs[0], &src) &&
           add_dst(b, &dst, keep);
}

static bool build_gnorm(Build *b, bool keep, int64_t groups)
{
    NnGraph *g = b->g;
    NnNode *n = b->node;
    NnValue *x = nn_in(g, n, 0), *sc = nn_in(g, n, 1), *bi = nn_in(g, n, 2);
    dnnl_memory_desc_t md;
    blocked8_md(&md, x);
    DnnlNode *dn = b->dn;
    dn->kind = KIND_BNORM;
    dn->gnorm = nova__nn_gnorm_create(
        b->error, x->dims, x->rank, groups,
        nova__nn_attr_float(n, "epsilon", 1e-5f), sc->data, bi->data,
        sc->dims[0] == x->dims[1], n->act, n->act_alpha);
    return dn->gnorm && add_src(b, DNNL_ARG_SRC, n->inputs[0], &md) &&
           add_dst(b, &md, keep);
}

/* A 3x3 stride-2 2D convolution by s2conv.c on nChw8c. */
static bool build_s2conv(Build *b, bool keep)
{
    NnGraph *g = b->g;
    NnNode *n = b->node;
    NnValue *x = nn_in(g, n, 0), *w = nn_in(g, n, 1), *bias = nn_in(g, n, 2);
    dnnl_memory_desc_t src, dst;
    blocked8_md(&src, x);
    blocked8_md(&dst, nn_out(g, n, 0));
    DnnlNode *dn = b->dn;
    dn->kind = KIND_CONV;
    dn->s2 = nova__nn_s2conv_create(b->error, n->params, w->data,
                                    bias ? bias->data : NULL, n->act,
                                    n->act_alpha, n->residual >= 0);
    if (!dn->s2 || !add_src(b, DNNL_ARG_SRC, n->inputs[0], &src) ||
        !add_dst(b, &dst, keep))
        return false;
    dn->own_scratch = b->scratch;
    b->scratch += align64(nova__nn_s2conv_scratch_bytes(dn->s2));
    return true;
}

/* A 1x1 stride-1 or stride-2 2D convolution by conv1x1.c on nChw8c. */
static bool build_conv1x1(Build *b, bool keep)
{
    NnGraph *g = b->g;
    NnNode *n = b->node;
    NnValue *x = nn_in(g, n, 0), *w = nn_in(g, n, 1), *bias = nn_in(g, n, 2);
    dnnl_memory_desc_t src, dst;
    blocked8_md(&src, x);
    blocked8_md(&dst, nn_out(g, n, 0));
    DnnlNode *dn = b->dn;
    dn->kind = KIND_CONV;
    dn->k1 = nova__nn_conv1x1_create(
        b->error, n->params, w->data, bias ? bias->data : NULL, n->act,
        n->act_alpha, n->residual >= 0, dn->threads);
    n->use_k1 = dn->k1 != NULL;
    if (!dn->k1 || !add_src(b, DNNL_ARG_SRC, n->inputs[0], &src) ||
        !add_dst(b, &dst, keep))
        return false;
    dn->own_scratch = b->scratch;
    b->scratch += align64(nova__nn_conv1x1_scratch_bytes(dn->k1));
    return true;
}

/* A (de)convolution primitive descriptor with the node's geometry and
 * post-ops, for the given memory descriptors. */
static dnnl_status_t
conv_pd(Build *b, bool deconv, const dnnl_memory_desc_t *src,
        const dnnl_memory_desc_t *wei, const dnnl_memory_desc_t *bias,
        const dnnl_memory_desc_t *dst, dnnl_primitive_desc_t *pd)
{
    const NnNode *n = b->node;
    const Win *p = n->params;
    dnnl_dims_t strides, dil, pl, pr;
    for (int i = 0; i < p->nsp; i++) {
        strides[i] = p->stride[i];
        dil[i] = p->dil[i] - 1;
        pl[i] = p->pb[i];
        pr[i] = p->pe[i];
    }
    dnnl_primitive_attr_t attr =
        make_attr(b, n->residual >= 0, n->act, n->act_alpha, n->act_beta);
    dnnl_status_t st;
    *pd = NULL;
    if (!deconv) {
        dnnl_convolution_desc_t cd;
        st = dnnl_dilated_convolution_forward_desc_init(
            &cd, dnnl_forward_inference, dnnl_convolution_direct, src, wei,
            bias, dst, strides, dil, pl, pr);
        if (st == dnnl_success)
            st = dnnl_primitive_desc_create(pd, &cd, attr, b->d->engine, NULL);
    } else {
        dnnl_deconvolution_desc_t dd;
        st = dnnl_dilated_deconvolution_forward_desc_init(
            &dd, dnnl_forward_inference, dnnl_deconvolution_direct, src, wei,
            bias, dst, strides, dil, pl, pr);
        if (st == dnnl_success)
            st = dnnl_primitive_desc_create(pd, &dd, attr, b->d->engine, NULL);
    }
    dnnl_primitive_attr_destroy(attr);
    return st;
}

static bool build_conv(Build *b, bool keep)
{
    NnGraph *g = b->g;
    NnNode *n = b->node;
    const Win *p = n->params;
    bool deconv = is(n, "ConvTranspose");
    if (deconv && nova__nn_deconv_supported(p))
        return build_deconv(b, keep);
    if (!deconv && b->d->winograd &&
        (n->act == NN_ACT_NONE || n->act == NN_ACT_RELU ||
         n->act == NN_ACT_LEAKY_RELU)) {
        int m = nova__nn_wino_choose(p);
        if (m)
            return build_wino(b, keep, m);
        if (nova__nn_s2conv_supported(p))
            return build_s2conv(b, keep);
    }
    if (!deconv &&
        (b->d->conv1x1 == 1 || (b->d->conv1x1 == 2 && b->dn->threads > 1)) &&
        (n->act == NN_ACT_NONE || n->act == NN_ACT_RELU ||
         n->act == NN_ACT_LEAKY_RELU) &&
        nova__nn_conv1x1_supported(p) && nova__nn_conv1x1_pays(p))
        return build_conv1x1(b, keep);
    NnValue *x = nn_in(g, n, 0), *w = nn_in(g, n, 1), *bias = nn_in(g, n, 2);
    NnValue *y = nn_out(g, n, 0);
    int r = x->rank;
    dnnl_memory_desc_t src, wei, dst, bmd, wplain;
    any_md(&src, r, x->dims);
    any_md(&dst, r, y->dims);
    /* Weights dims: [G,] O, I, k... in oneDNN; ONNX stores Conv W as
     * [M, C/G, k...] and ConvTranspose W as [C, M/G, k...]. */
    int64_t G = p->group;
    int64_t O = p->M / G, I = p->C / G;
    int wr = (G > 1 ? 1 : 0) + 2 + p->nsp;
    dnnl_dims_t wd, ws;
    int64_t ksz = (int64_t)p->ksize;
    int k0 = G > 1 ? 1 : 0;
    if (G > 1)
        wd[0] = G;
    wd[k0] = O;
    wd[k0 + 1] = I;
    for (int i = 0; i < p->nsp; i++)
        wd[k0 + 2 + i] = w->dims[2 + i];
    /* Strides of the ONNX layout in those dims. */
    int64_t s = 1;
    for (int i = p->nsp - 1; i >= 0; i--) {
        ws[k0 + 2 + i] = s;
        s *= w->dims[2 + i];
    }
    if (!deconv) {
        ws[k0 + 1] = ksz; /* I */
        ws[k0] = I * ksz; /* O */
        if (G > 1)
            ws[0] = O * I * ksz;
    } else {
        ws[k0] = ksz;         /* O (within group) */
        ws[k0 + 1] = O * ksz; /* I */
        if (G > 1)
            ws[0] = I * O * ksz;
    }
    dnnl_memory_desc_init_by_strides(&wplain, wr, wd, dnnl_f32, ws);
    dnnl_memory_desc_init_by_tag(&wei, wr, wd, dnnl_f32, dnnl_format_tag_any);
    if (bias) {
        dnnl_dims_t bd = {p->M};
        dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_a);
    }
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t st =
        conv_pd(b, deconv, &src, &wei, bias ? &bmd : NULL, &dst, &pd);
    if (!dnnl_check(b->error, n, st, deconv ? "deconvolution" : "convolution"))
        return false;
    const dnnl_memory_desc_t *src_q =
        dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *wei_q =
        dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *dst_q =
        dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    bool ok = add_src(b, DNNL_ARG_SRC, n->inputs[0], src_q) &&
              add_dst(b, dst_q, keep);
    if (ok && !deconv && G == 1 && want_slices(b) &&
        slices_fit(b, p->M, md_channel_block(dst_q))) {
        /* Each team thread: output channels [c0, c1) from all inputs, by
         * a primitive for one thread with that slice of the weights. */
        int64_t blk = md_channel_block(dst_q);
        size_t per_c = md_bytes_per_channel(dst_q);
        ok = alloc_slices(b);
        omp_set_num_threads(1);
        for (int t = 0; ok && t < b->dn->n_slices; t++) {
            Slice *sl = &b->dn->slices[t];
            int64_t c0, c1;
            slice_range(p->M / blk, blk, t, b->dn->n_slices, &c0, &c1);
            dnnl_memory_desc_t dst_s = slice_md(dst_q, c0, c1), wpl_s, wei_s,
                               bmd_s;
            dnnl_dims_t wd_s;
            memcpy(wd_s, wd, sizeof wd_s);
            wd_s[0] = c1 - c0;
            dnnl_memory_desc_init_by_strides(&wpl_s, wr, wd_s, dnnl_f32, ws);
            dnnl_memory_desc_init_by_tag(&wei_s, wr, wd_s, dnnl_f32,
                                         dnnl_format_tag_any);
            dnnl_dims_t bd_s = {c1 - c0};
            dnnl_memory_desc_init_by_tag(&bmd_s, 1, bd_s, dnnl_f32, dnnl_a);
            dnnl_primitive_desc_t spd = NULL;
            st = conv_pd(b, false, src_q, &wei_s, bias ? &bmd_s : NULL, &dst_s,
                         &spd);
            ok = dnnl_check(b->error, n, st, "convolution slice");
            if (!ok)
                break;
            ok = slice_io(b, sl, src_q, 0, &dst_s, (size_t)c0 * per_c) &&
                 slice_weights(b, sl, &wpl_s,
                               dnnl_primitive_desc_query_md(
                                   spd, dnnl_query_weights_md, 0),
                               (const float *)w->data + c0 * ws[0]) &&
                 (!bias || slice_arg(b, sl, DNNL_ARG_BIAS, &bmd_s, -1, 0,
                                     (const float *)bias->data + c0, -1)) &&
                 slice_finish(b, sl, spd);
            dnnl_primitive_desc_destroy(spd);
        }
        omp_set_num_threads(b->dn->threads);
    } else if (ok) {
        ok = add_weights(b, DNNL_ARG_WEIGHTS, &wplain, wei_q, w->data) &&
             (!bias || add_arg(b, DNNL_ARG_BIAS, &bmd, -1, -1, bias->data)) &&
             finish(b, pd);
    }
    dnnl_primitive_desc_destroy(pd);
    return ok;
}

static bool build_pool(Build *b, bool keep)
{
    NnGraph *g = b->g;
    NnNode *n = b->node;
    NnValue *x = nn_in(g, n, 0), *y = nn_out(g, n, 0);
    int r = x->rank, nsp = r - 2;
    dnnl_dims_t strides, kernel, dil, pl, pr;
    dnnl_alg_kind_t alg = dnnl_eltwise_relu;
    if (is(n, "GlobalAveragePool") || is(n, "GlobalMaxPool")) {
        for (int i = 0; i < nsp; i++) {
            strides[i] = 1;
            kernel[i] = x->dims[2 + i];
            dil[i] = pl[i] = pr[i] = 0;
        }
        alg = is(n, "GlobalMaxPool") ? dnnl_pooling_max
                                     : dnnl_pooling_avg_exclude_padding;
    } else {
        const Win *p = n->params;
        for (int i = 0; i < nsp; i++) {
            strides[i] = p->stride[i];
            kernel[i] = p->k[i];
            dil[i] = p->dil[i] - 1;
            pl[i] = p->pb[i];
            /* oneDNN derives the output size from the pads: extend the
             * right pad to cover ceil_mode's last window. */
            int64_t ek = p->dil[i] * (p->k[i] - 1) + 1;
            pr[i] = (p->out[i] - 1) * p->stride[i] + ek - p->in[i] - p->pb[i];
        }
        alg = p->is_max              ? dnnl_pooling_max
              : p->count_include_pad ? dnnl_pooling_avg_include_padding
                                     : dnnl_pooling_avg_exclude_padding;
    }
    dnnl_memory_desc_t src, dst;
    value_md(x, &src);
    any_md(&dst, r, y->dims);
    dnnl_pooling_v2_desc_t pdsc;
    dnnl_status_t st = dnnl_pooling_v2_forward_desc_init(
        &pdsc, dnnl_forward_inference, alg, &src, &dst, strides, kernel, dil,
        pl, pr);
    dnnl_primitive_attr_t attr = make_attr(b, false, NN_ACT_NONE, 0, 0);
    dnnl_primitive_desc_t pd = NULL;
    if (st == dnnl_success)
        st = dnnl_primitive_desc_create(&pd, &pdsc, attr, b->d->engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (!dnnl_check(b->error, n, st, "pooling"))
        return false;
    const dnnl_memory_desc_t *dst_q =
        dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    bool ok =
        add_src(b, DNNL_ARG_SRC, n->inputs[0], &src) && add_dst(b, dst_q, keep);
    int64_t blk = md_channel_block(&src);
    if (ok && want_slices(b) && slices_fit(b, x->dims[1], blk) &&
        md_channel_block(dst_q) == blk) {
        /* Each team thread pools a range of channel blocks. */
        size_t in_c = md_bytes_per_channel(&src);
        size_t out_c = md_bytes_per_channel(dst_q);
        ok = alloc_slices(b);
        omp_set_num_threads(1);
        for (int t = 0; ok && t < b->dn->n_slices; t++) {
            Slice *sl = &b->dn->slices[t];
            int64_t c0, c1;
            slice_range(x->dims[1] / blk, blk, t, b->dn->n_slices, &c0, &c1);
            dnnl_memory_desc_t src_s = slice_md(&src, c0, c1);
            dnnl_memory_desc_t dst_s = slice_md(dst_q, c0, c1);
            dnnl_pooling_v2_desc_t pd_s;
            dnnl_primitive_desc_t spd = NULL;
            st = dnnl_pooling_v2_forward_desc_init(
                &pd_s, dnnl_forward_inference, alg, &src_s, &dst_s, strides,
                kernel, dil, pl, pr);
            dnnl_primitive_attr_t sattr =
                make_attr(b, false, NN_ACT_NONE, 0, 0);
            if (st == dnnl_success)
                st = dnnl_primitive_desc_create(&spd, &pd_s, sattr,
                                                b->d->engine, NULL);
            dnnl_primitive_attr_destroy(sattr);
            ok = dnnl_check(b->error, n, st, "pooling slice") &&
                 slice_io(b, sl, &src_s, (size_t)c0 * in_c, &dst_s,
                          (size_t)c0 * out_c) &&
                 slice_finish(b, sl, spd);
            if (spd)
                dnnl_primitive_desc_destroy(spd);
        }
        omp_set_num_threads(b->dn->threads);
    } else if (ok) {
        ok = finish(b, pd);
    }
    dnnl_primitive_desc_destroy(pd);
    return ok;
}

static bool build_ip(Build *b, bool keep)
{
    NnGraph *g = b->g;
    NnNode *n = b->node;
    const GemmP *p = n->params;
    NnValue *w = nn_in(g, n, 1), *c = nn_in(g, n, 2);
    int64_t sd[2] = {(int64_t)p->M, (int64_t)p->K};
    int64_t dd[2] = {(int64_t)p->M, (int64_t)p->N};
    dnnl_memory_desc_t src, wei, wplain, dst, bmd;
    any_md(&src, 2, sd);
    any_md(&dst, 2, dd);
    dnnl_dims_t wdims = {(dnnl_dim_t)p->N, (dnnl_dim_t)p->K};
    /* B is [K, N] (or [N, K] with transB); oneDNN weights are O x I. */
    dnnl_dims_t wst = {p->tb ? (dnnl_dim_t)p->K : 1,
                       p->tb ? 1 : (dnnl_dim_t)p->N};
    dnnl_memory_desc_init_by_strides(&wplain, 2, wdims, dnnl_f32, wst);
    dnnl_memory_desc_init_by_tag(&wei, 2, wdims, dnnl_f32, dnnl_format_tag_any);
    if (c) {
        dnnl_dims_t bd = {(dnnl_dim_t)p->N};
        dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_a);
    }
    dnnl_inner_product_desc_t ipd;
    dnnl_status_t st = dnnl_inner_product_forward_desc_init(
        &ipd, dnnl_forward_inference, &src, &wei, c ? &bmd : NULL, &dst);
    dnnl_primitive_attr_t attr =
        make_attr(b, false, n->act, n->act_alpha, n->act_beta);
    dnnl_primitive_desc_t pd = NULL;
    if (st == dnnl_success)
        st = dnnl_primitive_desc_create(&pd, &ipd, attr, b->d->engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (!dnnl_check(b->error, n, st, "inner product"))
        return false;
    const dnnl_memory_desc_t *src_q =
        dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *wei_q =
        dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *dst_q =
        dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    bool ok = add_src(b, DNNL_ARG_SRC, n->inputs[0], src_q) &&
              add_weights(b, DNNL_ARG_WEIGHTS, &wplain, wei_q, w->data) &&
              (!c || add_arg(b, DNNL_ARG_BIAS, &bmd, -1, -1, c->data)) &&
              add_dst(b, dst_q, keep) && finish(b, pd);
    dnnl_primitive_desc_destroy(pd);
    return ok;
}

static bool build_bnorm(Build *b, bool keep)
{
    NnGraph *g = b->g;
    NnNode *n = b->node;
    NnValue *x = nn_in(g, n, 0);
    bool instance = is(n, "InstanceNormalization");
    dnnl_memory_desc_t src;
    value_md(x, &src);
    unsigned flags = dnnl_use_scale | dnnl_use_shift;
    if (!instance)
        flags |= dnnl_use_global_stats;
    if (n->act == NN_ACT_RELU)
        flags |= dnnl_fuse_norm_relu;
    dnnl_batch_normalization_desc_t bd;
    dnnl_status_t st = dnnl_batch_normalization_forward_desc_init(
        &bd, instance ? dnnl_forward_training : dnnl_forward_inference, &src,
        nova__nn_attr_float(n, "epsilon", 1e-5f), flags);
    dnnl_primitive_attr_t attr = make_attr(b, false, NN_ACT_NONE, 0, 0);
    dnnl_primitive_desc_t pd = NULL;
    if (st == dnnl_success)
        st = dnnl_primitive_desc_create(&pd, &bd, attr, b->d->engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (!dnnl_check(b->error, n, st, "batch normalization"))
        return false;
    dnnl_memory_desc_t vec;
    dnnl_dims_t vd = {x->dims[1]};
    dnnl_memory_desc_init_by_tag(&vec, 1, vd, dnnl_f32, dnnl_a);
    const dnnl_memory_desc_t *dst_q =
        dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    bool ok =
        add_src(b, DNNL_ARG_SRC, n->inputs[0], &src) && add_dst(b, dst_q, keep);
    int64_t blk = md_channel_block(&src);
    if (ok && !instance && want_slices(b) && slices_fit(b, x->dims[1], blk) &&
        dnnl_memory_desc_equal(dst_q, &src)) {
        /* Each team thread normalises a range of channel blocks. */
        size_t per_c = md_bytes_per_channel(&src);
        ok = alloc_slices(b);
        omp_set_num_threads(1);
        for (int t = 0; ok && t < b->dn->n_slices; t++) {
            Slice *sl = &b->dn->slices[t];
            int64_t c0, c1;
            slice_range(x->dims[1] / blk, blk, t, b->dn->n_slices, &c0, &c1);
            dnnl_memory_desc_t src_s = slice_md(&src, c0, c1), vec_s;
            dnnl_dims_t vd_s = {c1 - c0};
            dnnl_memory_desc_init_by_tag(&vec_s, 1, vd_s, dnnl_f32, dnnl_a);
            dnnl_batch_normalization_desc_t bd_s;
            dnnl_primitive_desc_t spd = NULL;
            st = dnnl_batch_normalization_forward_desc_init(
                &bd_s, dnnl_forward_inference, &src_s,
                nova__nn_attr_float(n, "epsilon", 1e-5f), flags);
            dnnl_primitive_attr_t sattr =
                make_attr(b, false, NN_ACT_NONE, 0, 0);
            if (st == dnnl_success)
                st = dnnl_primitive_desc_create(&spd, &bd_s, sattr,
                                                b->d->engine, NULL);
            dnnl_primitive_attr_destroy(sattr);
            ok = dnnl_check(b->error, n, st, "batch normalization slice");
            if (!ok)
                break;
            size_t off = (size_t)c0 * per_c;
            ok = slice_io(b, sl, &src_s, off, &src_s, off);
            for (int k = 1; ok && k < 5; k++) {
                static const int which[5] = {0, DNNL_ARG_SCALE, DNNL_ARG_SHIFT,
                                             DNNL_ARG_MEAN, DNNL_ARG_VARIANCE};
                ok = slice_arg(b, sl, which[k], &vec_s, -1, 0,
                               (const float *)nn_in(g, n, k)->data + c0, -1);
            }
            ok = ok && slice_finish(b, sl, spd);
            dnnl_primitive_desc_destroy(spd);
        }
        omp_set_num_threads(b->dn->threads);
        dnnl_primitive_desc_destroy(pd);
        return ok;
    }
    ok = ok && add_arg(b, DNNL_ARG_SCALE, &vec, -1, -1, nn_in(g, n, 1)->data) &&
         add_arg(b, DNNL_ARG_SHIFT, &vec, -1, -1, nn_in(g, n, 2)->data);
    if (ok && instance) {
        /* The statistics oneDNN computes go to scratch. */
        size_t vbytes = align64((size_t)x->dims[1] * sizeof(float));
        long mean_off = (long)b->scratch;
        b->scratch += 2 * vbytes;
        ok = add_arg(b, DNNL_ARG_MEAN, &vec, -1, mean_off, NULL) &&
             add_arg(b, DNNL_ARG_VARIANCE, &vec, -1, mean_off + (long)vbytes,
                     NULL);
    } else if (ok) {
        ok = add_arg(b, DNNL_ARG_MEAN, &vec, -1, -1, nn_in(g, n, 3)->data) &&
             add_arg(b, DNNL_ARG_VARIANCE, &vec, -1, -1, nn_in(g, n, 4)->data);
    }
    ok = ok && finish(b, pd);
    dnnl_primitive_desc_destroy(pd);
    return ok;
}

static bool build_concat(Build *b, bool keep)
{
    NnGraph *g = b->g;
    NnNode *n = b->node;
    NnValue *y = nn_out(g, n, 0);
    dnnl_memory_desc_t srcs[MAX_CONCAT], dst;
    int k = 0;
    for (int i = 0; i < n->n_inputs; i++)
        value_md(&g->values[n->inputs[i]], &srcs[k++]);
    any_md(&dst, y->rank, y->dims);
    dnnl_primitive_attr_t attr = make_attr(b, false, NN_ACT_NONE, 0, 0);
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t st = dnnl_concat_primitive_desc_create(&pd, &dst, k, 1, srcs,
                                                         attr, b->d->engine);
    dnnl_primitive_attr_destroy(attr);
    if (!dnnl_check(b->error, n, st, "concat"))
        return false;
    const dnnl_memory_desc_t *dst_q =
        dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    bool ok = true;
    for (int i = 0; ok && i < k; i++)
        ok = add_src(b, DNNL_ARG_MULTIPLE_SRC + i, n->inputs[i], &srcs[i]);
    ok = ok && add_dst(b, dst_q, keep) && finish(b, pd);
    dnnl_primitive_desc_destroy(pd);
    return ok;
}

static bool build_eltwise(Build *b, bool keep)
{
    NnGraph *g = b->g;
    NnNode *n = b->node;
    float alpha, beta;
    NnActivation act = act_of_node(n, &alpha, &beta, g);
    dnnl_alg_kind_t alg = dnnl_eltwise_relu;
    eltwise_alg(act, &alpha, &beta, &alg);
    dnnl_memory_desc_t src;
    value_md(nn_in(g, n, 0), &src);
    dnnl_eltwise_desc_t ed;
    dnnl_status_t st = dnnl_eltwise_forward_desc_init(
        &ed, dnnl_forward_inference, alg, &src, alpha, beta);
    dnnl_primitive_attr_t attr = make_attr(b, false, NN_ACT_NONE, 0, 0);
    dnnl_primitive_desc_t pd = NULL;
    if (st == dnnl_success)
        st = dnnl_primitive_desc_create(&pd, &ed, attr, b->d->engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (!dnnl_check(b->error, n, st, "eltwise"))
        return false;
    const dnnl_memory_desc_t *dst_q =
        dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    bool ok = add_src(b, DNNL_ARG_SRC, n->inputs[0], &src) &&
              add_dst(b, dst_q, keep) && finish(b, pd);
    dnnl_primitive_desc_destroy(pd);
    return ok;
}

static bool build_binary(Build *b, bool keep)
{
    NnGraph *g = b->g;
    NnNode *n = b->node;
    dnnl_memory_desc_t s0, s1, dst;
    value_md(nn_in(g, n, 0), &s0);
    value_md(nn_in(g, n, 1), &s1);
    dst = s0;
    dnnl_binary_desc_t bd;
    /* The second source is reordered to the first's layout if needed. */
    (void)s1;
    dnnl_status_t st =
        dnnl_binary_desc_init(&bd, dnnl_binary_add, &s0, &s0, &dst);
    dnnl_primitive_attr_t attr =
        make_attr(b, false, n->act, n->act_alpha, n->act_beta);
    dnnl_primitive_desc_t pd = NULL;
    if (st == dnnl_success)
        st = dnnl_primitive_desc_create(&pd, &bd, attr, b->d->engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (!dnnl_check(b->error, n, st, "binary"))
        return false;
    const dnnl_memory_desc_t *dst_q =
        dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    bool ok = add_src(b, DNNL_ARG_SRC_0, n->inputs[0], &s0) &&
              add_src(b, DNNL_ARG_SRC_1, n->inputs[1], &s0) &&
              add_dst(b, dst_q, keep) && finish(b, pd);
    dnnl_primitive_desc_destroy(pd);
    return ok;
}

bool nova__nn_dnnl_compile(NovaError **error, NnDnnl *d, NnGraph *g,
                           const int *order, int n_order)
{
    /* Which nodes oneDNN runs. */
    for (int r = 0; r < n_order; r++) {
        NnNode *n = &g->nodes[order[r]];
        n->use_dnnl = claimable(g, n);
    }
    /* Which outputs may stay blocked: every alive reader is a oneDNN node
     * reading it as a data input (not a Gemm, whose 2D source is plain),
     * and it is not a graph output. */
    int nv = g->n_values;
    bool *keep = nova_calloc(error, (size_t)nv + 1, sizeof(bool));
    if (!keep)
        return false;
    for (int v = 0; v < nv; v++)
        keep[v] = !g->values[v].is_output;
    for (int r = 0; r < n_order; r++) {
        NnNode *n = &g->nodes[order[r]];
        for (int k = 0; k < n->n_inputs; k++) {
            int v = n->inputs[k];
            if (v >= 0 && (!n->use_dnnl || is(n, "Gemm")))
                keep[v] = false;
        }
    }
    bool ok = true;
    for (int r = 0; ok && r < n_order; r++) {
        NnNode *n = &g->nodes[order[r]];
        if (!n->use_dnnl)
            continue;
        DnnlNode *dn = nova_calloc(error, 1, sizeof *dn);
        if (!dn) {
            ok = false;
            break;
        }
        n->impl = dn;
        dn->res_value = -1;
        dn->out_value = -1;
        dn->dst_scratch = -1;
        Build b = {error, d, g, n, dn, 0};
        bool kp = keep[n->outputs[0]];
        dn->threads = node_threads(d, g, n);
        omp_set_num_threads(dn->threads);
        if (is(n, "Conv") || is(n, "ConvTranspose"))
            ok = build_conv(&b, kp);
        else if (is(n, "MaxPool") || is(n, "AveragePool") ||
                 is(n, "GlobalAveragePool") || is(n, "GlobalMaxPool"))
            ok = build_pool(&b, kp);
        else if (is(n, "Gemm"))
            ok = build_ip(&b, kp);
        else if (is(n, "InstanceNormalization") && inorm_by_gnorm(g, n))
            ok = build_gnorm(&b, kp, nn_in(g, n, 0)->dims[1]);
        else if (is(n, "BatchNormalization") || is(n, "InstanceNormalization"))
            ok = build_bnorm(&b, kp);
        else if (is(n, "Concat"))
            ok = build_concat(&b, kp);
        else if (is(n, "GroupNormalization"))
            ok = build_gnorm(&b, kp, nova__nn_attr_int(n, "num_groups", 0));
        else if (is(n, "Resize") || is(n, "Upsample"))
            ok = build_resize(&b, kp);
        else if (is(n, "Add"))
            ok = build_binary(&b, kp);
        else
            ok = build_eltwise(&b, kp);
        n->scratch_bytes = b.scratch;
    }
    omp_set_num_threads(d->n_threads);
    nova_free(keep);
    return ok;
}

bool nova__nn_dnnl_same_layout(const NnValue *a, const NnValue *b)
{
    return a->dnnl_md && b->dnnl_md &&
           dnnl_memory_desc_equal(a->dnnl_md, b->dnnl_md);
}

bool nova__nn_dnnl_channel_prefix(const NnValue *v, int64_t *block,
                                  size_t *bytes_per_channel)
{
    const dnnl_memory_desc_t *md = v->dnnl_md;
    int64_t blk = md ? md_channel_block(md) : 0;
    if (!blk)
        return false;
    *block = blk;
    *bytes_per_channel = md_bytes_per_channel(md);
    return true;
}

static void *handle_of(NnExec *ex, const DnnlNode *dn, int i)
{
    if (dn->arg_const[i])
        return dn->arg_const[i];
    if (dn->arg_scratch[i] >= 0)
        return ex->scratch + dn->arg_scratch[i];
    return nn_ptr(ex, dn->arg_value[i]);
}

static void exec_reorder(dnnl_stream_t stream, dnnl_primitive_t r,
                         dnnl_memory_t from, void *pfrom, dnnl_memory_t to,
                         void *pto)
{
    dnnl_memory_set_data_handle(from, pfrom);
    dnnl_memory_set_data_handle(to, pto);
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    dnnl_primitive_execute(r, stream, 2, args);
}

/* Input copies and the residual's copy into dst, before the node. */
static void run_pre(NnDnnl *d, NnExec *ex, NnNode *node, dnnl_stream_t stream)
{
    DnnlNode *dn = node->impl;
    for (int i = 0; i < dn->n_copies; i++) {
        const InCopy *c = &dn->copies[i];
        exec_reorder(stream, c->reorder, c->from, nn_ptr(ex, dn->copy_value[i]),
                     c->to, ex->scratch + c->scratch_offset);
    }
    /* In place, the residual already is the destination's content. */
    if (dn->res_reorder && !node->residual_inplace) {
        void *dst = dn->dst_scratch >= 0 ? ex->scratch + dn->dst_scratch
                                         : nn_ptr(ex, node->outputs[0]);
        exec_reorder(stream, dn->res_reorder, dn->res_from,
                     nn_ptr(ex, dn->res_value), dn->res_to, dst);
    }
    dnnl_stream_wait(stream);
}

static bool has_pre(const NnNode *node)
{
    const DnnlNode *dn = node->impl;
    return dn->n_copies > 0 || (dn->res_reorder && !node->residual_inplace);
}

static bool own_kernel(const DnnlNode *dn)
{
    return dn->wino || dn->gnorm || dn->resize || dn->deconv || dn->s2 ||
           dn->k1;
}

/* Nova's own kernels on the blocked layout; pool NULL runs on the calling
 * thread, and inside a team stretch pool's loops split by team thread. */
static void run_own(NnExec *ex, NnNode *node, NovaPool *pool)
{
    DnnlNode *dn = node->impl;
    const float *src = NULL;
    float *dst = NULL;
    for (int i = 0; i < dn->n_args; i++) {
        if (dn->args[i].arg == DNNL_ARG_SRC)
            src = handle_of(ex, dn, i);
        else if (dn->args[i].arg == DNNL_ARG_DST)
            dst = handle_of(ex, dn, i);
    }
    if (dn->wino)
        nova__nn_wino_run(dn->wino, pool, src, dst,
                          ex->scratch + dn->own_scratch);
    else if (dn->gnorm)
        nova__nn_gnorm_run(dn->gnorm, pool, src, dst);
    else if (dn->deconv)
        nova__nn_deconv_run(dn->deconv, pool, src, dst);
    else if (dn->s2)
        nova__nn_s2conv_run(dn->s2, pool, src, dst,
                            ex->scratch + dn->own_scratch);
    else if (dn->k1)
        nova__nn_conv1x1_run(dn->k1, pool, src, dst,
                             ex->scratch + dn->own_scratch);
    else {
        NnExec one = *ex;
        one.pool = pool;
        nova__nn_resize_blocked(&one, node, src, dst);
    }
}

static void run_slice(NnExec *ex, DnnlNode *dn, Slice *sl, dnnl_stream_t stream)
{
    for (int i = 0; i < sl->n_args; i++) {
        const SliceArg *a = &sl->a[i];
        void *h = a->fixed ? (void *)a->fixed
                  : a->scratch >= 0
                      ? (void *)(ex->scratch + a->scratch)
                      : (uint8_t *)handle_of(ex, dn, a->base) + a->offset;
        dnnl_memory_set_data_handle(a->mem, h);
    }
    dnnl_primitive_execute(sl->prim, stream, sl->n_args, sl->args);
}

/* The primitive (or the slices, one after the other) on the stream. */
static void run_prim(NnExec *ex, DnnlNode *dn, dnnl_stream_t stream)
{
    if (dn->n_slices) {
        for (int i = 0; i < dn->n_slices; i++)
            run_slice(ex, dn, &dn->slices[i], stream);
        return;
    }
    for (int i = 0; i < dn->n_args; i++)
        dnnl_memory_set_data_handle(dn->args[i].memory, handle_of(ex, dn, i));
    dnnl_primitive_execute(dn->prim, stream, dn->n_args, dn->args);
}

static void run_post(NnDnnl *d, NnExec *ex, DnnlNode *dn, dnnl_stream_t stream)
{
    (void)d;
    if (dn->out_reorder)
        exec_reorder(stream, dn->out_reorder, dn->out_from,
                     ex->scratch + dn->dst_scratch, dn->out_to,
                     nn_ptr(ex, dn->out_value));
    dnnl_stream_wait(stream);
}

void nova__nn_dnnl_run(NnDnnl *d, NnExec *ex, NnNode *node)
{
    DnnlNode *dn = node->impl;
    omp_set_num_threads(dn->threads);
    run_pre(d, ex, node, d->stream);
    if (own_kernel(dn))
        run_own(ex, node, dn->threads > 1 ? ex->pool : NULL);
    else
        run_prim(ex, dn, d->stream);
    run_post(d, ex, dn, d->stream);
}

static size_t mem_bytes(dnnl_memory_t m)
{
    const dnnl_memory_desc_t *md = NULL;
    if (!m || dnnl_memory_get_memory_desc(m, &md) != dnnl_success || !md)
        return 0;
    return dnnl_memory_desc_get_size(md);
}

NnTeamMode nova__nn_dnnl_team_mode(const NnNode *node)
{
    const DnnlNode *dn = node->impl;
    if (!dn)
        return NN_TEAM_NO;
    if (dn->threads <= 1)
        return NN_TEAM_SOLO;
    if (dn->n_slices)
        return NN_TEAM_SPLIT; /* want_slices checked the copies */
    if (!own_kernel(dn))
        return NN_TEAM_NO;
    /* Thread 0 makes the copies before and after the node alone; large
     * ones (a 3D network's residual that could not be summed in place)
     * keep the node out of the stretch, where oneDNN's reorders run on
     * all threads. */
    const size_t big = (size_t)4 << 20;
    size_t copies = 0;
    for (int i = 0; i < dn->n_copies; i++)
        copies += mem_bytes(dn->copies[i].to);
    if (dn->res_reorder && !node->residual_inplace)
        copies += mem_bytes(dn->res_to);
    if (dn->out_reorder)
        copies += mem_bytes(dn->out_to);
    return copies > big ? NN_TEAM_NO : NN_TEAM_SPLIT;
}

void nova__nn_dnnl_team_enter(void)
{
    omp_set_num_threads(1);
}

typedef struct {
    NnDnnl *d;
    NnExec *ex;
    NnNode *node;
} TeamNode;

static void chunk_pre(void *ctx, int chunk, int thread)
{
    TeamNode *tn = ctx;
    run_pre(tn->d, tn->ex, tn->node, tn->d->streams[thread]);
}

static void chunk_post(void *ctx, int chunk, int thread)
{
    TeamNode *tn = ctx;
    run_post(tn->d, tn->ex, tn->node->impl, tn->d->streams[thread]);
}

/* A small node whole, on whichever thread takes it. */
static void chunk_solo(void *ctx, int chunk, int thread)
{
    TeamNode *tn = ctx;
    DnnlNode *dn = tn->node->impl;
    dnnl_stream_t stream = tn->d->streams[thread];
    run_pre(tn->d, tn->ex, tn->node, stream);
    if (own_kernel(dn))
        run_own(tn->ex, tn->node, NULL);
    else
        run_prim(tn->ex, dn, stream);
    run_post(tn->d, tn->ex, dn, stream);
}

static void chunk_slice(void *ctx, int chunk, int thread)
{
    TeamNode *tn = ctx;
    DnnlNode *dn = tn->node->impl;
    dnnl_stream_t stream = tn->d->streams[thread];
    run_slice(tn->ex, dn, &dn->slices[chunk], stream);
    dnnl_stream_wait(stream);
}

void nova__nn_dnnl_run_team(NnDnnl *d, NnExec *ex, NnNode *node)
{
    DnnlNode *dn = node->impl;
    TeamNode tn = {d, ex, node};
    if (dn->threads <= 1) {
        nova__nn_team_step(1, chunk_solo, &tn);
        return;
    }
    if (has_pre(node))
        nova__nn_team_step(1, chunk_pre, &tn);
    if (dn->n_slices)
        nova__nn_team_step(dn->n_slices, chunk_slice, &tn);
    else
        run_own(ex, node, ex->pool); /* its loops are steps */
    if (dn->out_reorder)
        nova__nn_team_step(1, chunk_post, &tn);
}

void nova__nn_dnnl_release(NnDnnl *d, NnGraph *g)
{
    for (int i = 0; i < g->n_nodes; i++) {
        DnnlNode *dn = g->nodes[i].impl;
        if (!dn)
            continue;
        if (dn->prim)
            dnnl_primitive_destroy(dn->prim);
        free_slices(dn);
        for (int k = 0; k < dn->n_copies; k++)
            dnnl_primitive_destroy(dn->copies[k].reorder);
        if (dn->res_reorder)
            dnnl_primitive_destroy(dn->res_reorder);
        if (dn->out_reorder)
            dnnl_primitive_destroy(dn->out_reorder);
        for (int k = 0; k < dn->n_mems; k++)
            dnnl_memory_destroy(dn->mems[k]);
        nova_free(dn->weights);
        nova__nn_wino_destroy(dn->wino);
        nova__nn_gnorm_destroy(dn->gnorm);
        nova__nn_deconv_destroy(dn->deconv);
        nova__nn_s2conv_destroy(dn->s2);
        nova__nn_conv1x1_destroy(dn->k1);
        nova_free(dn->bias);
        nova_free(dn);
        g->nodes[i].impl = NULL;
    }
    for (int v = 0; v < g->n_values; v++) {
        nova_free(g->values[v].dnnl_md);
        g->values[v].dnnl_md = NULL;
    }
}
