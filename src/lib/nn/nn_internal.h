/*
 * nn_internal.h - the engine's private graph representation, shared by the
 * loader (onnx_load.c), the compiler (session.c: shape inference, passes,
 * memory plan), the op table (ops_*.c) and the oneDNN backend (dnnl.c).
 *
 * A graph is an array of values (tensors, by index) and an array of nodes
 * (in topological order once loaded).  A value is a graph input, a constant
 * (initializer, Constant node, bound input or folded result) or a
 * temporary produced by a node; temporaries live in one arena at offsets the
 * planner chose.
 */
#ifndef NOVA_NN_INTERNAL_H
#define NOVA_NN_INTERNAL_H

#include "nova/nn.h"

#include <string.h>

/* Dims beyond this are refused as "huge" (a model built for CT volumes has
 * at most ~1e9 elements in one tensor). */
#define NN_MAX_DIM ((int64_t)1 << 31)
#define NN_MAX_ELEMENTS ((int64_t)1 << 32)

typedef enum { NN_VALUE_TEMP = 0, NN_VALUE_INPUT, NN_VALUE_CONST } NnValueKind;

typedef struct {
    char *name;
    NnValueKind kind;
    NovaNnDtype dtype;
    int rank;
    int64_t dims[NOVA_NN_MAX_RANK];
    bool shape_known;
    bool is_output;
    void *data;     /* CONST: its elements */
    bool owns_data; /* data freed with the graph */
    /* compile-time bookkeeping */
    int producer;  /* node index or -1 */
    int n_uses;    /* consuming nodes still alive */
    int last_use;  /* index in run order of the last reader */
    size_t offset; /* TEMP and INPUT: arena offset */
    size_t nbytes;
    void *dnnl_md; /* oneDNN blocked layout when produced by oneDNN */
} NnValue;

typedef enum {
    NN_ATTR_FLOAT = 1,
    NN_ATTR_INT = 2,
    NN_ATTR_STRING = 3,
    NN_ATTR_TENSOR = 4,
    NN_ATTR_FLOATS = 6,
    NN_ATTR_INTS = 7
} NnAttrType;

typedef struct {
    char *name;
    NnAttrType type;
    float f;
    int64_t i;
    char *s;
    int64_t *ints;
    float *floats;
    size_t n; /* count of ints or floats */
    NovaNnTensor *tensor;
} NnAttr;

typedef enum {
    NN_ACT_NONE = 0,
    NN_ACT_RELU,
    NN_ACT_LEAKY_RELU,
    NN_ACT_SIGMOID,
    NN_ACT_TANH,
    NN_ACT_ELU,
    NN_ACT_CLIP
} NnActivation;

struct NnOpDef;

typedef struct {
    char *name;
    char *op_type;
    const struct NnOpDef *def;
    int n_inputs, n_outputs;
    int *inputs; /* value indices, -1 for an omitted optional input */
    int *outputs;
    NnAttr *attrs;
    int n_attrs;
    bool dead;
    /* Fused epilogue (the passes): out = act(op(x) [+ residual]). */
    NnActivation act;
    float act_alpha, act_beta;
    int residual;          /* value index or -1: added before act */
    bool residual_inplace; /* oneDNN sums into the residual's own buffer */
    bool concat_inplace;   /* inputs already sit in the output: no-op */
    bool act_before_sum;   /* unused by the passes; kept false */
    /* Per-op parameters computed by the shape function. */
    void *params;
    size_t scratch_bytes; /* per-run scratch the kernel needs */
    /* Backend state (oneDNN primitives). */
    void *impl;
    bool use_dnnl;
    bool use_wino; /* a oneDNN-path Conv run by wino.c */
    bool use_k1;   /* a oneDNN-path Conv run by conv1x1.c */
} NnNode;

typedef struct {
    NnValue *values;
    int n_values, cap_values;
    NnNode *nodes;
    int n_nodes, cap_nodes;
    int *inputs; /* graph inputs that are not initializers */
    int n_inputs;
    int *outputs;
    int n_outputs;
    int64_t opset;
    char *model_name;
    int n_threads; /* of the session's pool: sizes per-thread scratch */
} NnGraph;

/* Parameters of windowed ops (Conv, ConvTranspose, pools), computed by
 * their infer functions in ops_nn.c and read by the oneDNN backend.
 * Spatial arrays hold nsp entries, then 1s. */
typedef struct {
    int nsp;
    int64_t N, C, M, group;
    int64_t in[3], out[3], k[3], stride[3], dil[3], pb[3], pe[3];
    size_t insp, outsp, ksize;
    /* conv: tiles of output positions */
    size_t tile, n_tiles, mblock, n_mblocks;
    /* pool */
    bool is_max, count_include_pad;
    bool col_major; /* MaxPool storage_order 1 (Indices output) */
    /* conv transpose */
    int64_t outpad[3];
} NnWinParams;

typedef struct {
    size_t M, N, K;
    bool ta, tb;
    float alpha, beta;
    int64_t cs_m, cs_n; /* C strides (0 = broadcast) */
} NnGemmParams;

/* Execution context handed to kernels. */
typedef struct {
    NnGraph *graph;
    uint8_t *arena;
    uint8_t *scratch;
    NovaPool *pool;
    int n_threads;
} NnExec;

typedef struct NnOpDef {
    const char *op_type;
    int min_inputs, max_inputs;
    int min_outputs, max_outputs;
    /* Check attributes and input shapes, set output dtype and shape, fill
     * node->params and node->scratch_bytes.  Inputs that must be constant
     * (shapes, axes) are read from their data here.  Errors name the
     * node (the caller prefixes the model). */
    bool (*infer)(NovaError **error, NnGraph *g, NnNode *node);
    void (*run)(NnExec *ex, NnNode *node);
    /* Output is a view of input 0 with a new shape (no copy needed). */
    bool is_reshape;
} NnOpDef;

/* The op table (ops.c). */
const NnOpDef *nova__nn_find_op(const char *op_type);

/* ------------------------------------------------------------ graph utils */

NnGraph *nova__nn_graph_create(NovaError **error, const char *model_name);
void nova__nn_graph_destroy(NnGraph *g);
/* Deep copy; constant data is shared (not owned) by the copy. */
NnGraph *nova__nn_graph_copy(NovaError **error, const NnGraph *g);
int nova__nn_graph_add_value(NovaError **error, NnGraph *g, const char *name);
int nova__nn_graph_find_value(const NnGraph *g, const char *name);
NnNode *nova__nn_graph_add_node(NovaError **error, NnGraph *g);

/* Convert a parsed ONNX TensorProto into dtype/dims/data (onnx_load.c).
 * base_dir: folder for external data, NULL to refuse it. */
struct Onnx__TensorProto;
bool nova__nn_tensor_from_proto(NovaError **error,
                                const struct Onnx__TensorProto *proto,
                                const char *base_dir, NovaNnTensor *out);

/* ------------------------------------------------------------ attributes */

const NnAttr *nova__nn_attr(const NnNode *node, const char *name);
int64_t nova__nn_attr_int(const NnNode *node, const char *name, int64_t def);
/* The attribute when it is a list of ints, else NULL (absent or another
 * type: a model cannot make a kernel read the wrong union member). */
const NnAttr *nova__nn_attr_ints(const NnNode *node, const char *name);
float nova__nn_attr_float(const NnNode *node, const char *name, float def);
const char *nova__nn_attr_string(const NnNode *node, const char *name,
                                 const char *def);

/* ------------------------------------------------------------ helpers */

static inline size_t nn_count(const int64_t *dims, int rank)
{
    size_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= (size_t)dims[i];
    return n;
}

static inline size_t nn_value_count(const NnValue *v)
{
    return nn_count(v->dims, v->rank);
}

static inline NnValue *nn_in(NnGraph *g, const NnNode *n, int i)
{
    return (i < n->n_inputs && n->inputs[i] >= 0) ? &g->values[n->inputs[i]]
                                                  : NULL;
}

static inline NnValue *nn_out(NnGraph *g, const NnNode *n, int i)
{
    return (i < n->n_outputs && n->outputs[i] >= 0) ? &g->values[n->outputs[i]]
                                                    : NULL;
}

/* Where a value's elements are during a run. */
static inline void *nn_ptr(const NnExec *ex, int value)
{
    const NnValue *v = &ex->graph->values[value];
    return v->kind == NN_VALUE_CONST ? v->data : ex->arena + v->offset;
}

static inline float *nn_f32(const NnExec *ex, const NnNode *n, int i)
{
    return (float *)nn_ptr(ex, n->inputs[i]);
}

static inline float *nn_f32_out(const NnExec *ex, const NnNode *n, int i)
{
    return (float *)nn_ptr(ex, n->outputs[i]);
}

/* Set an output's shape; checks element count limits. */
bool nova__nn_set_shape(NovaError **error, NnGraph *g, NnNode *node, int out,
                        NovaNnDtype dtype, int rank, const int64_t *dims);

/* Error helpers that name the node. */
bool nova__nn_node_error(NovaError **error, const NnNode *node,
                         NovaErrorCode code, const char *format, ...)
    NOVA_PRINTF(4, 5);

/* Read a constant int64 (or int32) input as a list; false (with error) when
 * the input is not constant.  *n receives the count; max limits it. */
bool nova__nn_const_ints(NovaError **error, NnGraph *g, const NnNode *node,
                         int input, int64_t *out, int max, int *n);

/* Apply a fused activation in place over n floats. */
void nova__nn_apply_act(float *x, size_t n, NnActivation act, float alpha,
                        float beta);

/* sgemm: C[M,N] = alpha * op(A)[M,K] op(B)[K,N] + beta * C, row-major with
 * leading dimensions; parallel over the pool when given.  Reference path. */
void nova__nn_sgemm(NovaPool *pool, bool trans_a, bool trans_b, size_t M,
                    size_t N, size_t K, float alpha, const float *A, size_t lda,
                    const float *B, size_t ldb, float beta, float *C,
                    size_t ldc);

/* FLOPs of one node (Conv, ConvTranspose, Gemm, MatMul), 0 otherwise. */
double nova__nn_node_flops(NnGraph *g, const NnNode *node);

/* ------------------------------------------------------------ oneDNN */

typedef struct NnDnnl NnDnnl;
/* ------------------------------------------------------------ team */
/* team.c: the session's threads walking a stretch of nodes together, in
 * steps of chunks that whichever thread comes first takes (see team.c). */
typedef struct NnTeam NnTeam;
/* max_steps: the most steps one stretch may take (4 per node). */
NnTeam *nova__nn_team_create(NovaError **error, int n_threads, int max_steps);
void nova__nn_team_destroy(NnTeam *t);
int nova__nn_team_threads(const NnTeam *t);
/* Before each stretch, with no thread inside one. */
void nova__nn_team_reset(NnTeam *t);
/* Mark the calling thread as team thread `thread` until leave. */
void nova__nn_team_enter(NnTeam *t, int thread);
void nova__nn_team_leave(void);
/* One step: after every chunk of the previous step is done, run chunks
 * [0, total) by fn(ctx, chunk, thread) on whichever team threads take
 * them (every team thread must make the same calls in the same order);
 * outside a team, all of them on the calling thread. */
typedef void (*NnChunkFn)(void *ctx, int chunk, int thread);
void nova__nn_team_step(int total, NnChunkFn fn, void *ctx);
/* The kernels' parallel loop: nova_pool_parallel_for's static split, or,
 * on a thread inside a team (and pool not NULL), one step whose chunks
 * are the static split's shares. */
void nova__nn_par_for(NovaPool *pool, size_t n, NovaRangeFn fn, void *ctx);
/* The same with `per_thread` chunks per team thread inside a team, so a
 * thread that runs ahead takes the chunks of one that was held up (for
 * kernels whose chunks cost nothing extra to cut finer). */
void nova__nn_par_for_fine(NovaPool *pool, size_t n, int per_thread,
                           NovaRangeFn fn, void *ctx);

/* How a node claimed by oneDNN runs inside a team stretch. */
typedef enum {
    NN_TEAM_NO,   /* not in a stretch: a oneDNN primitive on its threads */
    NN_TEAM_SOLO, /* one chunk (small nodes) */
    NN_TEAM_SPLIT /* one chunk per team thread */
} NnTeamMode;
NnTeamMode nova__nn_dnnl_team_mode(const NnNode *node);
/* A team thread's walk through one node (all threads call it, in the same
 * node order). */
void nova__nn_dnnl_run_team(NnDnnl *d, NnExec *ex, NnNode *node);
/* Called by each team thread as it starts a stretch: oneDNN on this thread
 * runs on one thread. */
void nova__nn_dnnl_team_enter(void);

/* Create the backend (engine, stream) for n_threads; NULL with error when
 * oneDNN is unavailable. */
NnDnnl *nova__nn_dnnl_create(NovaError **error, int n_threads);
void nova__nn_dnnl_destroy(NnDnnl *d);
/* Claim the nodes oneDNN runs, build primitives and reorders; sets
 * node->use_dnnl and node->impl, and may add scratch.  Called after the
 * passes and before memory planning; values produced in a blocked layout
 * get v->dnnl_md and a larger nbytes. */
bool nova__nn_dnnl_compile(NovaError **error, NnDnnl *d, NnGraph *g,
                           const int *order, int n_order);
/* Run one claimed node. */
void nova__nn_dnnl_run(NnDnnl *d, NnExec *ex, NnNode *node);
/* True when both values are in the same oneDNN blocked layout. */
bool nova__nn_dnnl_same_layout(const NnValue *a, const NnValue *b);
/* For a N=1 tensor in a oneDNN layout blocked on channels only, with the
 * channel blocks outermost (nChw8c and its 1D/3D forms): any prefix of
 * whole channel blocks is a contiguous prefix of the bytes.  Gives the
 * channel block size and the bytes per channel. */
bool nova__nn_dnnl_channel_prefix(const NnValue *v, int64_t *block,
                                  size_t *bytes_per_channel);
/* Free per-node state. */
void nova__nn_dnnl_release(NnDnnl *d, NnGraph *g);

/* ------------------------------------------------------------ Winograd */
/* wino.c: 3x3 / 3x3x3 stride-1 convolution on nChw8c / nCdhw8c data. */
typedef struct NnWino NnWino;
/* True when this CPU has AVX2 and FMA. */
bool nova__nn_wino_available(void);
/* The output tile (4 for F(4x4,3x3), 2 for F(2x2,3x3) and F(2x2x2,3x3x3))
 * Winograd would use for this Conv, or 0 when it does not apply (kernel,
 * stride, dilation, groups, channels not multiples of 8, too few tiles,
 * transformed weights too large). */
int nova__nn_wino_choose(const NnWinParams *p);
/* Transform the weights (ONNX [M][C][k...]) for tile m; bias may be NULL;
 * act is NONE, RELU or LEAKY_RELU (alpha); sum adds what dst holds. */
NnWino *nova__nn_wino_create(NovaError **error, const NnWinParams *p, int m,
                             const float *weights, const float *bias,
                             NnActivation act, float alpha, bool sum,
                             int n_threads);
void nova__nn_wino_destroy(NnWino *w);
/* Per-run scratch (per-thread buffers, 64-byte aligned base). */
size_t nova__nn_wino_scratch_bytes(const NnWino *w);
size_t nova__nn_wino_weight_bytes(const NnWino *w);
int nova__nn_wino_tile(const NnWino *w);
/* dst = act(conv(src) + bias [+ dst]), split over pool (which must have
 * the n_threads given at create, or be NULL when that was 1). */
void nova__nn_wino_run(const NnWino *w, NovaPool *pool, const float *src,
                       float *dst, uint8_t *scratch);

/* gnorm.c: GroupNormalization (+ ReLU/LeakyReLU) on 8-channel blocked
 * data.  Supported when C is a multiple of 8, the groups divide C, a group
 * has a multiple of 8 channels or a divisor of 8, and the CPU has AVX2. */
typedef struct NnGnorm NnGnorm;
bool nova__nn_gnorm_supported(int64_t C, int64_t groups);
/* dims/rank: the input's; scale and bias (per channel, or per group when
 * !per_channel) are borrowed and must outlive the kernel. */
NnGnorm *nova__nn_gnorm_create(NovaError **error, const int64_t *dims, int rank,
                               int64_t groups, float eps, const float *scale,
                               const float *bias, bool per_channel,
                               NnActivation act, float alpha);
void nova__nn_gnorm_destroy(NnGnorm *g);
void nova__nn_gnorm_run(const NnGnorm *g, NovaPool *pool, const float *x,
                        float *y);

/* deconv.c: ConvTranspose with stride = kernel (<= 4), no pads, one
 * group, channels multiples of 8, on 8-channel blocked data. */
typedef struct NnDeconv NnDeconv;
bool nova__nn_deconv_supported(const NnWinParams *p);
/* weights: ONNX [C][M][k...]; bias may be NULL. */
NnDeconv *nova__nn_deconv_create(NovaError **error, const NnWinParams *p,
                                 const float *weights, const float *bias);
void nova__nn_deconv_destroy(NnDeconv *d);
void nova__nn_deconv_run(const NnDeconv *d, NovaPool *pool, const float *src,
                         float *dst);

/* s2conv.c: 2D 3x3 stride-2 convolution (pads <= 2, one group, channels
 * multiples of 8, at least 6 output columns) on nChw8c data; act NONE,
 * RELU or LEAKY_RELU; sum adds what dst holds. */
typedef struct NnS2Conv NnS2Conv;
bool nova__nn_s2conv_supported(const NnWinParams *p);
NnS2Conv *nova__nn_s2conv_create(NovaError **error, const NnWinParams *p,
                                 const float *weights, const float *bias,
                                 NnActivation act, float alpha, bool sum);
void nova__nn_s2conv_destroy(NnS2Conv *s);
/* The zero-padded copy of the input (64-byte aligned scratch). */
size_t nova__nn_s2conv_scratch_bytes(const NnS2Conv *s);
void nova__nn_s2conv_run(const NnS2Conv *s, NovaPool *pool, const float *src,
                         float *dst, uint8_t *scratch);

/* conv1x1.c: 2D 1x1 convolution, stride 1 or 2 (no pads, one group,
 * channels multiples of 8, at least 6 output pixels) on nChw8c data,
 * split over pixels;
 * act NONE, RELU or LEAKY_RELU; sum adds what dst holds. */
typedef struct NnConv1x1 NnConv1x1;
bool nova__nn_conv1x1_supported(const NnWinParams *p);
/* Whether the pixel split reads less than oneDNN's output-channel slices:
 * at least as many pixels (all images) as output channels. */
bool nova__nn_conv1x1_pays(const NnWinParams *p);
NnConv1x1 *nova__nn_conv1x1_create(NovaError **error, const NnWinParams *p,
                                   const float *weights, const float *bias,
                                   NnActivation act, float alpha, bool sum,
                                   int n_threads);
void nova__nn_conv1x1_destroy(NnConv1x1 *k);
/* Per-run scratch for stride 2 (per-thread gather buffers; 0 for stride
 * 1), 64-byte aligned. */
size_t nova__nn_conv1x1_scratch_bytes(const NnConv1x1 *k);
void nova__nn_conv1x1_run(const NnConv1x1 *k, NovaPool *pool, const float *src,
                          float *dst, uint8_t *scratch);

/* Resize (ops_nn.c) over 8-channel blocked data, for a node whose only
 * resized dims are spatial, rank 4 or 5, channels a multiple of 8. */
bool nova__nn_resize_blocked_ok(NnGraph *g, const NnNode *node);
void nova__nn_resize_blocked(NnExec *ex, const NnNode *node, const float *in,
                             float *out);

#endif
