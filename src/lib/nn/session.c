/*
 * session.c - compiling a model for one set of input shapes, and running it.
 *
 * Compilation: copy the model's graph, bind or shape the inputs the caller
 * named, then walk the nodes in topological order calling each op's infer
 * function (shape and type checks, static shape inference).  A node whose
 * inputs are all constant is evaluated there and then with the reference
 * kernel (constant folding, which also resolves the Shape -> Gather ->
 * Concat -> Reshape chains PyTorch exports).  With options.optimize the
 * passes fold BatchNormalization into the Conv before it, fuse a following
 * residual Add and activation into the Conv/Gemm epilogue, and drop nodes
 * whose outputs nobody reads.  The oneDNN backend then claims the nodes it
 * runs.  Last, the memory planner gives every temporary an offset in one
 * arena: values are placed first-fit in run order and their space is reused
 * once their last reader has run; reshaping ops alias their input.  A run
 * copies the inputs in, calls the kernels and allocates nothing.
 */
#include "nn_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

const NnGraph *nova__nn_model_graph(const NovaNnModel *model);

struct NovaNnSession {
    NnGraph *g;
    NovaNnKernels kernels;
    NovaPool *pool;
    int *order; /* alive nodes in run order */
    int n_order;
    uint8_t *arena;
    size_t arena_bytes;
    uint8_t *scratch;
    size_t scratch_bytes;
    NovaNnTensor *inputs;
    NovaNnTensor *outputs;
    NnDnnl *dnnl;
    NovaNnStats stats;
    double *node_seconds; /* per node, with options.profile */
    /* With options.profile: CPU seconds of each node on each thread
     * (node_cpu[t * n_nodes + node]); Nova's pool threads only, not
     * OpenMP's. */
    double *node_cpu;
    int profile_threads;
    int runs;
    /* Team stretches (team.c): stretch_end[r] > r when run position r
     * starts a stretch of nodes the pool's threads walk together. */
    NnTeam *team;
    int *stretch_end;
};

static bool find_stretches(NovaError **error, NovaNnSession *s);

/* ------------------------------------------------------------ helpers */

bool nova__nn_node_error(NovaError **error, const NnNode *node,
                         NovaErrorCode code, const char *format, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, format);
    vsnprintf(buf, sizeof buf, format, ap);
    va_end(ap);
    const char *summary = code == NOVA_ERROR_UNSUPPORTED ? "unsupported"
                          : code == NOVA_ERROR_PARSE     ? "malformed graph"
                          : code == NOVA_ERROR_RANGE     ? "out of range"
                                                         : "invalid node";
    return nova_error_set(error, code, summary, "node '%s' (%s): %s",
                          node->name, node->op_type, buf);
}

bool nova__nn_set_shape(NovaError **error, NnGraph *g, NnNode *node, int out,
                        NovaNnDtype dtype, int rank, const int64_t *dims)
{
    if (out >= node->n_outputs || node->outputs[out] < 0)
        return true; /* optional output not requested */
    if (rank < 0 || rank > NOVA_NN_MAX_RANK)
        return nova__nn_node_error(error, node, NOVA_ERROR_RANGE,
                                   "output rank %d exceeds %d", rank,
                                   NOVA_NN_MAX_RANK);
    NnValue *v = &g->values[node->outputs[out]];
    size_t count = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0 || dims[i] > NN_MAX_DIM ||
            !nova_size_mul(count, (size_t)dims[i], &count) ||
            count > (size_t)NN_MAX_ELEMENTS)
            return nova__nn_node_error(error, node, NOVA_ERROR_RANGE,
                                       "output dim %d = %lld is negative or "
                                       "beyond limits",
                                       i, (long long)dims[i]);
        v->dims[i] = dims[i];
    }
    v->rank = rank;
    v->dtype = dtype;
    v->shape_known = true;
    return true;
}

bool nova__nn_const_ints(NovaError **error, NnGraph *g, const NnNode *node,
                         int input, int64_t *out, int max, int *n)
{
    NnValue *v = nn_in(g, node, input);
    if (!v) {
        *n = 0;
        return true;
    }
    if (v->kind != NN_VALUE_CONST)
        return nova__nn_node_error(error, node, NOVA_ERROR_UNSUPPORTED,
                                   "input %d ('%s') must be constant (static "
                                   "shapes only)",
                                   input, v->name);
    if (v->dtype != NOVA_NN_INT64 && v->dtype != NOVA_NN_INT32)
        return nova__nn_node_error(error, node, NOVA_ERROR_INVALID,
                                   "input %d ('%s') must be int64 or int32",
                                   input, v->name);
    size_t count = nn_value_count(v);
    if (v->rank > 1 || count > (size_t)max)
        return nova__nn_node_error(error, node, NOVA_ERROR_INVALID,
                                   "input %d ('%s') must be a list of at "
                                   "most %d integers",
                                   input, v->name, max);
    for (size_t i = 0; i < count; i++)
        out[i] = v->dtype == NOVA_NN_INT64 ? ((int64_t *)v->data)[i]
                                           : ((int32_t *)v->data)[i];
    *n = (int)count;
    return true;
}

void nova__nn_apply_act(float *x, size_t n, NnActivation act, float alpha,
                        float beta)
{
    switch (act) {
    case NN_ACT_NONE: break;
    case NN_ACT_RELU:
        for (size_t i = 0; i < n; i++)
            x[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case NN_ACT_LEAKY_RELU:
        for (size_t i = 0; i < n; i++)
            x[i] = x[i] >= 0.0f ? x[i] : alpha * x[i];
        break;
    case NN_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++)
            x[i] = 1.0f / (1.0f + expf(-x[i]));
        break;
    case NN_ACT_TANH:
        for (size_t i = 0; i < n; i++)
            x[i] = tanhf(x[i]);
        break;
    case NN_ACT_ELU:
        for (size_t i = 0; i < n; i++)
            x[i] = x[i] >= 0.0f ? x[i] : alpha * (expf(x[i]) - 1.0f);
        break;
    case NN_ACT_CLIP:
        for (size_t i = 0; i < n; i++)
            x[i] = x[i] < alpha ? alpha : (x[i] > beta ? beta : x[i]);
        break;
    }
}

void nova_nn_options_init(NovaNnOptions *o)
{
    memset(o, 0, sizeof *o);
    o->kernels = NOVA_NN_KERNELS_REF;
    o->optimize = true;
}

/* ------------------------------------------------------------ compile */

static bool apply_input_options(NovaError **error, NnGraph *g,
                                const NovaNnOptions *o)
{
    for (int k = 0; k < o->n_inputs; k++) {
        const NovaNnTensor *t = &o->inputs[k];
        int slot = -1;
        for (int i = 0; i < g->n_inputs; i++)
            if (t->name && strcmp(g->values[g->inputs[i]].name, t->name) == 0)
                slot = i;
        if (slot < 0)
            return nova_error_set(error, NOVA_ERROR_NOT_FOUND, "no such input",
                                  "option input '%s' is not a graph input",
                                  t->name ? t->name : "(null)");
        NnValue *v = &g->values[g->inputs[slot]];
        if (t->rank < 0 || t->rank > NOVA_NN_MAX_RANK ||
            (v->rank >= 0 && v->rank != t->rank))
            return nova_error_set(error, NOVA_ERROR_INVALID, "wrong rank",
                                  "input '%s' has rank %d, option gives %d",
                                  v->name, v->rank, t->rank);
        for (int d = 0; d < t->rank; d++)
            if (t->dims[d] < 0 || t->dims[d] > NN_MAX_DIM ||
                (v->rank >= 0 && v->dims[d] >= 0 && v->dims[d] != t->dims[d]))
                return nova_error_set(error, NOVA_ERROR_INVALID, "wrong shape",
                                      "input '%s' dim %d: model says %lld, "
                                      "option gives %lld",
                                      v->name, d, (long long)v->dims[d],
                                      (long long)t->dims[d]);
        v->rank = t->rank;
        memcpy(v->dims, t->dims, sizeof v->dims);
        v->shape_known = true;
        if (t->data) {
            if (t->dtype != v->dtype)
                return nova_error_set(error, NOVA_ERROR_INVALID, "wrong type",
                                      "input '%s' is %s, option gives %s",
                                      v->name, nova_nn_dtype_name(v->dtype),
                                      nova_nn_dtype_name(t->dtype));
            size_t nbytes =
                nova_nn_tensor_count(t) * nova_nn_dtype_size(t->dtype);
            v->data = nova_malloc(error, nbytes ? nbytes : 1);
            if (!v->data)
                return false;
            memcpy(v->data, t->data, nbytes);
            v->owns_data = true;
            v->kind = NN_VALUE_CONST;
            memmove(&g->inputs[slot], &g->inputs[slot + 1],
                    (size_t)(g->n_inputs - slot - 1) * sizeof(int));
            g->n_inputs--;
        }
    }
    for (int i = 0; i < g->n_inputs; i++) {
        NnValue *v = &g->values[g->inputs[i]];
        if (!v->shape_known || v->rank < 0)
            return nova_error_set(error, NOVA_ERROR_INVALID,
                                  "input shape unknown",
                                  "input '%s' has a symbolic or unknown "
                                  "shape; give it in the options",
                                  v->name);
    }
    return true;
}

/* Evaluate a node whose inputs are all constant, making its outputs
 * constants. */
static bool fold_node(NovaError **error, NnGraph *g, NnNode *node)
{
    for (int k = 0; k < node->n_outputs; k++) {
        NnValue *v = nn_out(g, node, k);
        if (!v)
            continue;
        size_t nbytes = nn_value_count(v) * nova_nn_dtype_size(v->dtype);
        v->data = nova_calloc(error, 1, nbytes ? nbytes : 1);
        if (!v->data)
            return false;
        v->owns_data = true;
        v->kind = NN_VALUE_CONST;
    }
    NnExec ex = {0};
    ex.graph = g;
    ex.n_threads = 1;
    if (node->scratch_bytes > 0) {
        ex.scratch = nova_malloc_aligned(error, 64, node->scratch_bytes);
        if (!ex.scratch)
            return false;
    }
    node->def->run(&ex, node);
    nova_free(ex.scratch);
    node->dead = true;
    return true;
}

static bool node_all_const(NnGraph *g, const NnNode *node)
{
    for (int k = 0; k < node->n_inputs; k++)
        if (node->inputs[k] >= 0 &&
            g->values[node->inputs[k]].kind != NN_VALUE_CONST)
            return false;
    return true;
}

static bool infer_all(NovaError **error, NovaNnSession *s)
{
    NnGraph *g = s->g;
    for (int i = 0; i < g->n_nodes; i++) {
        NnNode *node = &g->nodes[i];
        /* Every supported op's first input is required (the infer
         * functions rely on it). */
        if (node->n_inputs > 0 && !nn_in(g, node, 0))
            return nova__nn_node_error(error, node, NOVA_ERROR_INVALID,
                                       "input 0 is required");
        for (int k = 0; k < node->n_inputs; k++) {
            NnValue *v = nn_in(g, node, k);
            if (v && !v->shape_known)
                return nova__nn_node_error(error, node, NOVA_ERROR_INVALID,
                                           "input '%s' has no known shape",
                                           v->name);
        }
        if (!node->def->infer(error, g, node))
            return false;
        for (int k = 0; k < node->n_outputs; k++) {
            NnValue *v = nn_out(g, node, k);
            if (v && !v->shape_known)
                return nova__nn_node_error(error, node, NOVA_ERROR_INTERNAL,
                                           "output %d shape not inferred", k);
        }
        bool outputs_const = true;
        for (int k = 0; k < node->n_outputs; k++) {
            NnValue *v = nn_out(g, node, k);
            if (v && v->kind != NN_VALUE_CONST)
                outputs_const = false;
        }
        if (outputs_const) {
            node->dead = true; /* infer made the outputs (Shape) */
            s->stats.n_folded++;
        } else if (node_all_const(g, node)) {
            if (!fold_node(error, g, node))
                return false;
            s->stats.n_folded++;
        }
    }
    return true;
}

static int count_uses(NnGraph *g, int value)
{
    int uses = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        NnNode *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int k = 0; k < n->n_inputs; k++)
            uses += n->inputs[k] == value;
        uses += n->residual == value;
    }
    return uses;
}

/* The single alive consumer of value, or NULL. */
static NnNode *sole_consumer(NnGraph *g, int value)
{
    if (g->values[value].is_output || count_uses(g, value) != 1)
        return NULL;
    for (int i = 0; i < g->n_nodes; i++) {
        NnNode *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] == value)
                return n;
    }
    return NULL;
}

static bool is_op(const NnNode *n, const char *op)
{
    return n && strcmp(n->op_type, op) == 0;
}

static bool is_const_f32(NnGraph *g, const NnNode *n, int i)
{
    NnValue *v = nn_in(g, n, i);
    return v && v->kind == NN_VALUE_CONST && v->dtype == NOVA_NN_FLOAT32;
}

/* New owned constant value holding a copy of src's layout. */
static int new_const(NovaError **error, NnGraph *g, const char *name, int like,
                     size_t count)
{
    char buf[300];
    snprintf(buf, sizeof buf, "%s:folded", name);
    int v = nova__nn_graph_add_value(error, g, buf);
    if (v < 0)
        return -1;
    NnValue *nv = &g->values[v];
    NnValue *src = &g->values[like];
    nv->kind = NN_VALUE_CONST;
    nv->dtype = NOVA_NN_FLOAT32;
    nv->rank = src->rank;
    memcpy(nv->dims, src->dims, sizeof nv->dims);
    nv->shape_known = true;
    nv->data = nova_calloc(error, count ? count : 1, sizeof(float));
    if (!nv->data)
        return -1;
    nv->owns_data = true;
    return v;
}

/* BatchNormalization (inference form, ONNX operators BatchNormalization-15:
 * y = scale * (x - mean) / sqrt(var + epsilon) + B) after a Conv is a
 * per-output-channel affine map, so it folds into the Conv's weights and
 * bias. */
static bool fold_batchnorm(NovaError **error, NovaNnSession *s)
{
    NnGraph *g = s->g;
    for (int i = 0; i < g->n_nodes; i++) {
        NnNode *conv = &g->nodes[i];
        if (conv->dead || !is_op(conv, "Conv") || conv->residual >= 0 ||
            conv->act != NN_ACT_NONE || !is_const_f32(g, conv, 1) ||
            (conv->n_inputs > 2 && conv->inputs[2] >= 0 &&
             !is_const_f32(g, conv, 2)))
            continue;
        NnNode *bn = sole_consumer(g, conv->outputs[0]);
        if (!is_op(bn, "BatchNormalization") ||
            bn->inputs[0] != conv->outputs[0] || bn->n_outputs > 1)
            continue;
        bool consts = true;
        for (int k = 1; k < 5; k++)
            consts = consts && is_const_f32(g, bn, k);
        if (!consts)
            continue;
        NnValue *w = nn_in(g, conv, 1);
        int64_t m = w->dims[0];
        size_t per = nn_value_count(w) / (size_t)m;
        const float *scale = nn_in(g, bn, 1)->data;
        const float *beta = nn_in(g, bn, 2)->data;
        const float *mean = nn_in(g, bn, 3)->data;
        const float *var = nn_in(g, bn, 4)->data;
        float eps = nova__nn_attr_float(bn, "epsilon", 1e-5f);
        int nw =
            new_const(error, g, w->name, conv->inputs[1], nn_value_count(w));
        if (nw < 0)
            return false;
        int nb = new_const(error, g, bn->name, bn->inputs[2], (size_t)m);
        if (nb < 0)
            return false;
        /* new_const may have moved g->values; re-read pointers. */
        w = nn_in(g, conv, 1);
        const float *wold = w->data;
        const float *bold = conv->n_inputs > 2 && conv->inputs[2] >= 0
                                ? g->values[conv->inputs[2]].data
                                : NULL;
        scale = g->values[bn->inputs[1]].data;
        beta = g->values[bn->inputs[2]].data;
        mean = g->values[bn->inputs[3]].data;
        var = g->values[bn->inputs[4]].data;
        float *wnew = g->values[nw].data;
        float *bnew = g->values[nb].data;
        for (int64_t c = 0; c < m; c++) {
            double f = scale[c] / sqrt((double)var[c] + eps);
            for (size_t k = 0; k < per; k++)
                wnew[c * per + k] = (float)(wold[c * per + k] * f);
            double b0 = bold ? bold[c] : 0.0;
            bnew[c] = (float)((b0 - mean[c]) * f + beta[c]);
        }
        if (conv->n_inputs < 3) {
            int *in = nova_realloc(error, conv->inputs, 3 * sizeof(int));
            if (!in)
                return false;
            conv->inputs = in;
            conv->n_inputs = 3;
        }
        conv->inputs[1] = nw;
        conv->inputs[2] = nb;
        conv->outputs[0] = bn->outputs[0];
        g->values[bn->outputs[0]].producer = i;
        bn->dead = true;
        s->stats.n_fused++;
    }
    return true;
}

/* A float constant of C elements that broadcasts along axis 1 of a
 * rank-r tensor (PyTorch's GroupNorm affine: shape [C, 1, 1, 1]). */
static bool per_channel(NnGraph *g, const NnNode *n, int other, int64_t C,
                        int rank)
{
    NnValue *v = nn_in(g, n, other);
    if (!v || v->kind != NN_VALUE_CONST || v->dtype != NOVA_NN_FLOAT32 ||
        nn_value_count(v) != (size_t)C || v->rank > rank)
        return false;
    int axis = v->rank - (rank - 1); /* v's dim aligned with axis 1 */
    for (int i = 0; i < v->rank; i++)
        if (v->dims[i] != (i == axis ? C : 1))
            return false;
    return axis >= 0 || C == 1;
}

/* PyTorch exports GroupNorm (before opset 18) as Reshape to [N, G, -1],
 * InstanceNormalization over the G groups, Reshape back, Mul by gamma and
 * Add beta.  The chain becomes one GroupNormalization node (ONNX
 * GroupNormalization-18 semantics, per-channel scale and bias), which the
 * passes below can also fuse an activation into. */
static bool fuse_groupnorm(NovaError **error, NovaNnSession *s)
{
    NnGraph *g = s->g;
    for (int i = 0; i < g->n_nodes; i++) {
        NnNode *in = &g->nodes[i];
        if (in->dead || !is_op(in, "InstanceNormalization") ||
            !is_const_f32(g, in, 1) || !is_const_f32(g, in, 2))
            continue;
        NnValue *r1v = nn_in(g, in, 0);
        if (r1v->producer < 0)
            continue;
        NnNode *r1 = &g->nodes[r1v->producer];
        if (r1->dead || !is_op(r1, "Reshape") || r1v->rank != 3 ||
            sole_consumer(g, in->inputs[0]) != in)
            continue;
        int x = r1->inputs[0];
        NnValue *xv = &g->values[x];
        if (xv->rank < 3 || xv->dims[0] != r1v->dims[0] ||
            xv->dtype != NOVA_NN_FLOAT32)
            continue;
        int64_t C = xv->dims[1], G = r1v->dims[1];
        if (G <= 0 || C % G)
            continue;
        NnNode *r2 = sole_consumer(g, in->outputs[0]);
        if (!is_op(r2, "Reshape") || r2->inputs[0] != in->outputs[0])
            continue;
        NnValue *r2v = &g->values[r2->outputs[0]];
        if (r2v->rank != xv->rank ||
            memcmp(r2v->dims, xv->dims, sizeof(int64_t) * (size_t)xv->rank))
            continue;
        int last = r2->outputs[0];
        NnNode *mul = sole_consumer(g, last), *add = NULL;
        int mul_k = -1, add_k = -1;
        if (is_op(mul, "Mul")) {
            mul_k = mul->inputs[0] == last ? 1 : 0;
            if (mul->inputs[1 - mul_k] != last ||
                !per_channel(g, mul, mul_k, C, xv->rank))
                mul = NULL;
        } else {
            mul = NULL;
        }
        if (mul) {
            add = sole_consumer(g, mul->outputs[0]);
            if (is_op(add, "Add")) {
                add_k = add->inputs[0] == mul->outputs[0] ? 1 : 0;
                if (add->inputs[1 - add_k] != mul->outputs[0] ||
                    !per_channel(g, add, add_k, C, xv->rank))
                    add = NULL;
            } else {
                add = NULL;
            }
        }
        int ns = new_const(error, g, in->name, in->inputs[1], (size_t)C);
        if (ns < 0)
            return false;
        int nb = new_const(error, g, in->name, in->inputs[2], (size_t)C);
        if (nb < 0)
            return false;
        g->values[ns].dims[0] = C;
        g->values[nb].dims[0] = C;
        const float *sg = g->values[in->inputs[1]].data;
        const float *bg = g->values[in->inputs[2]].data;
        const float *gamma = mul ? g->values[mul->inputs[mul_k]].data : NULL;
        const float *beta = add ? g->values[add->inputs[add_k]].data : NULL;
        float *scale = g->values[ns].data, *bias = g->values[nb].data;
        for (int64_t c = 0; c < C; c++) {
            int64_t grp = c / (C / G);
            float gm = gamma ? gamma[c] : 1.0f;
            scale[c] = gm * sg[grp];
            bias[c] = gm * bg[grp] + (beta ? beta[c] : 0.0f);
        }
        NnAttr *attrs = nova_realloc(error, in->attrs,
                                     (size_t)(in->n_attrs + 1) * sizeof *attrs);
        if (!attrs)
            return false;
        in->attrs = attrs;
        NnAttr *a = &in->attrs[in->n_attrs];
        memset(a, 0, sizeof *a);
        if (!(a->name = nova_strdup(error, "num_groups")))
            return false;
        in->n_attrs++;
        a->type = NN_ATTR_INT;
        a->i = G;
        char *op = nova_strdup(error, "GroupNormalization");
        if (!op)
            return false;
        nova_free(in->op_type);
        in->op_type = op;
        in->def = nova__nn_find_op("GroupNormalization");
        in->inputs[0] = x;
        in->inputs[1] = ns;
        in->inputs[2] = nb;
        int out = add ? add->outputs[0] : mul ? mul->outputs[0] : last;
        in->outputs[0] = out;
        g->values[out].producer = i;
        r1->dead = r2->dead = true;
        if (mul)
            mul->dead = true;
        if (add)
            add->dead = true;
        if (!in->def->infer(error, g, in))
            return false;
        s->stats.n_fused += 2 + (mul != NULL) + (add != NULL);
    }
    return true;
}

/* Activation nodes that fold into a Conv/Gemm epilogue. */
static bool act_of(NnGraph *g, const NnNode *n, NnActivation *act, float *alpha,
                   float *beta)
{
    if (is_op(n, "Relu")) {
        *act = NN_ACT_RELU;
    } else if (is_op(n, "LeakyRelu")) {
        *act = NN_ACT_LEAKY_RELU;
        *alpha = nova__nn_attr_float(n, "alpha", 0.01f);
    } else if (is_op(n, "Sigmoid")) {
        *act = NN_ACT_SIGMOID;
    } else if (is_op(n, "Tanh")) {
        *act = NN_ACT_TANH;
    } else if (is_op(n, "Elu")) {
        *act = NN_ACT_ELU;
        *alpha = nova__nn_attr_float(n, "alpha", 1.0f);
    } else if (is_op(n, "Clip")) {
        /* Clip-11+: min and max are optional constant inputs. */
        *act = NN_ACT_CLIP;
        *alpha = -INFINITY;
        *beta = INFINITY;
        for (int k = 1; k < 3; k++) {
            NnValue *v = nn_in(g, n, k);
            if (!v)
                continue;
            if (v->kind != NN_VALUE_CONST || v->dtype != NOVA_NN_FLOAT32)
                return false;
            *(k == 1 ? alpha : beta) = *(float *)v->data;
        }
    } else {
        return false;
    }
    return true;
}

static bool fuse_epilogues(NovaNnSession *s)
{
    NnGraph *g = s->g;
    for (int i = 0; i < g->n_nodes; i++) {
        NnNode *n = &g->nodes[i];
        if (n->dead ||
            !(is_op(n, "Conv") || is_op(n, "Gemm") ||
              is_op(n, "BatchNormalization") ||
              is_op(n, "GroupNormalization") ||
              is_op(n, "InstanceNormalization")) ||
            g->values[n->outputs[0]].dtype != NOVA_NN_FLOAT32)
            continue;
        /* Residual: Add(conv_out, other) with the same shape. */
        NnNode *c = sole_consumer(g, n->outputs[0]);
        if (is_op(n, "Conv") && is_op(c, "Add") && n->residual < 0 &&
            n->act == NN_ACT_NONE) {
            int other =
                c->inputs[0] == n->outputs[0] ? c->inputs[1] : c->inputs[0];
            NnValue *ov = &g->values[other];
            NnValue *cv = &g->values[n->outputs[0]];
            if (other >= 0 && other != n->outputs[0] &&
                ov->kind != NN_VALUE_CONST && ov->rank == cv->rank &&
                ov->dtype == NOVA_NN_FLOAT32 &&
                memcmp(ov->dims, cv->dims,
                       sizeof(int64_t) * (size_t)cv->rank) == 0) {
                /* The residual must be computed before this node runs:
                 * in topological order its producer precedes the Add; it
                 * must also precede the Conv. */
                int prod = ov->producer;
                if (prod < i) {
                    n->residual = other;
                    n->outputs[0] = c->outputs[0];
                    g->values[c->outputs[0]].producer = i;
                    c->dead = true;
                    s->stats.n_fused++;
                    c = sole_consumer(g, n->outputs[0]);
                }
            }
        }
        NnActivation act;
        float alpha = 0, beta = 0;
        if (n->act == NN_ACT_NONE && c && c->n_inputs >= 1 &&
            c->inputs[0] == n->outputs[0] &&
            act_of(g, c, &act, &alpha, &beta)) {
            n->act = act;
            n->act_alpha = alpha;
            n->act_beta = beta;
            n->outputs[0] = c->outputs[0];
            g->values[c->outputs[0]].producer = i;
            c->dead = true;
            s->stats.n_fused++;
        }
    }
    return true;
}

/* Pad with all pads zero (PyTorch's average-pool export adds one) is a
 * copy: its readers read its input instead. */
static void skip_empty_pads(NovaNnSession *s)
{
    NnGraph *g = s->g;
    for (int i = 0; i < g->n_nodes; i++) {
        NnNode *n = &g->nodes[i];
        if (n->dead || !is_op(n, "Pad"))
            continue;
        NnValue *pads = nn_in(g, n, 1);
        NnValue *out = nn_out(g, n, 0);
        if (!pads || pads->kind != NN_VALUE_CONST || out->is_output ||
            pads->dtype != NOVA_NN_INT64)
            continue;
        bool zero = true;
        for (size_t k = 0; k < nn_value_count(pads); k++)
            zero = zero && ((int64_t *)pads->data)[k] == 0;
        if (!zero)
            continue;
        int from = n->outputs[0], to = n->inputs[0];
        for (int j = 0; j < g->n_nodes; j++) {
            NnNode *m = &g->nodes[j];
            for (int k = 0; k < m->n_inputs; k++)
                if (m->inputs[k] == from)
                    m->inputs[k] = to;
            if (m->residual == from)
                m->residual = to;
        }
        n->dead = true;
        s->stats.n_fused++;
    }
}

static void remove_dead(NnGraph *g)
{
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        NnNode *n = &g->nodes[i];
        if (n->dead)
            continue;
        bool used = false;
        for (int k = 0; k < n->n_outputs && !used; k++) {
            int v = n->outputs[k];
            used = v >= 0 && (g->values[v].is_output || count_uses(g, v) > 0);
        }
        if (!used)
            n->dead = true;
    }
}

/* Reshape-like nodes whose output can share the input's bytes. */
static bool aliases_input(NnGraph *g, const NnNode *n)
{
    if (!n->def->is_reshape || n->use_dnnl ||
        (n->n_outputs > 1 && n->outputs[1] >= 0))
        return false;
    NnValue *in = nn_in(g, n, 0);
    return in && in->kind != NN_VALUE_CONST && !in->dnnl_md;
}

typedef struct {
    size_t offset, size;
    int free_after; /* run index of last use */
} Block;

static bool plan_memory(NovaError **error, NovaNnSession *s)
{
    NnGraph *g = s->g;
    int nv = g->n_values;
    int *root = nova_malloc_array(error, (size_t)nv, sizeof(int));
    int *last = nova_malloc_array(error, (size_t)nv, sizeof(int));
    Block *blocks = nova_malloc_array(error, (size_t)nv + 1, sizeof(Block));
    int *block_of = nova_malloc_array(error, (size_t)nv, sizeof(int));
    size_t *sub = nova_calloc(error, (size_t)nv + 1, sizeof(size_t));
    size_t *extent = nova_calloc(error, (size_t)nv + 1, sizeof(size_t));
    bool *placed = nova_calloc(error, (size_t)nv + 1, sizeof(bool));
    bool ok = false;
    if (!root || !last || !blocks || !block_of || !sub || !extent || !placed)
        goto done;
    for (int v = 0; v < nv; v++) {
        root[v] = v;
        last[v] = -1;
        block_of[v] = -1;
        NnValue *val = &g->values[v];
        if (val->kind != NN_VALUE_CONST && val->shape_known) {
            size_t nbytes =
                nn_value_count(val) * nova_nn_dtype_size(val->dtype);
            if (val->nbytes < nbytes)
                val->nbytes = nbytes; /* oneDNN may have asked for more */
        }
    }
    /* A oneDNN node that sums a residual which nobody reads afterwards can
     * write its result over the residual (the sum post-op reads dst before
     * writing it), saving a copy per residual block. */
    for (int r = 0; r < s->n_order; r++) {
        NnNode *n = &g->nodes[s->order[r]];
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0)
                last[n->inputs[k]] = r;
        if (n->residual >= 0)
            last[n->residual] = r;
    }
    for (int r = 0; r < s->n_order; r++) {
        NnNode *n = &g->nodes[s->order[r]];
        n->residual_inplace = false;
        if (n->residual < 0 || !n->use_dnnl)
            continue;
        NnValue *res = &g->values[n->residual];
        NnValue *out = &g->values[n->outputs[0]];
        bool also_input = false;
        for (int k = 0; k < n->n_inputs; k++)
            also_input |= n->inputs[k] == n->residual;
        if (res->kind == NN_VALUE_TEMP && !res->is_output && !also_input &&
            last[n->residual] == r && res->nbytes >= out->nbytes &&
            (res->producer < 0 ||
             !aliases_input(g, &g->nodes[res->producer])) &&
            nova__nn_dnnl_same_layout(res, out))
            n->residual_inplace = true;
    }
    /* Channel concatenation in place (DenseNet's growing concats, U-Net
     * skips): when every input of a oneDNN Concat of one image is in a
     * channel-outermost blocked layout, each input can live at its channel
     * offset inside the output, so its producer writes there and the
     * Concat copies nothing.  Concats whose inputs already form a prefix
     * group (the previous concat of a dense block) extend that group. */
    for (int r = 0; r < s->n_order; r++) {
        NnNode *n = &g->nodes[s->order[r]];
        n->concat_inplace = false;
        if (!n->use_dnnl || !is_op(n, "Concat"))
            continue;
        int o = n->outputs[0];
        int64_t block, b2;
        size_t per, per2;
        if (g->values[o].is_output ||
            !nova__nn_dnnl_channel_prefix(&g->values[o], &block, &per))
            continue;
        bool ok_group = true;
        int group = -1;
        size_t prefix = 0;
        for (int k = 0; k < n->n_inputs && ok_group; k++) {
            int v = n->inputs[k];
            NnValue *iv = &g->values[v];
            for (int j = 0; j < k; j++)
                ok_group = ok_group && n->inputs[j] != v;
            ok_group = ok_group && iv->kind == NN_VALUE_TEMP &&
                       !iv->is_output &&
                       nova__nn_dnnl_channel_prefix(iv, &b2, &per2) &&
                       b2 == block && per2 == per;
            if (!ok_group)
                break;
            bool member = root[v] != v;
            for (int u = 0; u < nv && !member; u++)
                member = u != v && root[u] == v;
            if (member) {
                if (group < 0)
                    group = root[v];
                ok_group = root[v] == group && sub[v] == prefix;
            } else {
                /* A free value: produced by a node that writes it whole,
                 * not an alias of something else. */
                NnValue *pv = iv;
                ok_group = pv->producer >= 0 &&
                           !aliases_input(g, &g->nodes[pv->producer]) &&
                           !g->nodes[pv->producer].residual_inplace;
            }
            prefix += (size_t)iv->dims[1] * per;
        }
        if (!ok_group || prefix != (size_t)g->values[o].dims[1] * per)
            continue;
        for (int u = 0; u < nv; u++)
            if (group >= 0 && root[u] == group)
                root[u] = o; /* the old group is a prefix of this one */
        prefix = 0;
        for (int k = 0; k < n->n_inputs; k++) {
            int v = n->inputs[k];
            if (root[v] == v) {
                root[v] = o;
                sub[v] = prefix;
            }
            prefix += (size_t)g->values[v].dims[1] * per;
        }
        n->concat_inplace = true;
        s->stats.n_fused++;
    }
    for (int v = 0; v < nv; v++)
        last[v] = -1;
    for (int r = 0; r < s->n_order; r++) {
        NnNode *n = &g->nodes[s->order[r]];
        if (aliases_input(g, n)) {
            root[n->outputs[0]] = root[n->inputs[0]];
            sub[n->outputs[0]] = sub[n->inputs[0]];
        }
        if (n->residual_inplace) {
            root[n->outputs[0]] = root[n->residual];
            sub[n->outputs[0]] = sub[n->residual];
        }
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0)
                last[root[n->inputs[k]]] = r;
        if (n->residual >= 0)
            last[root[n->residual]] = r;
        for (int k = 0; k < n->n_outputs; k++)
            if (n->outputs[k] >= 0 && last[root[n->outputs[k]]] < r)
                last[root[n->outputs[k]]] = r;
    }
    for (int v = 0; v < nv; v++)
        if (g->values[v].is_output || g->values[v].kind == NN_VALUE_INPUT)
            last[root[v]] = s->n_order; /* live to the end */
    /* A root's block holds all values sharing it. */
    for (int v = 0; v < nv; v++) {
        size_t end = sub[v] + g->values[v].nbytes;
        if (g->values[v].kind != NN_VALUE_CONST && end > extent[root[v]])
            extent[root[v]] = end;
    }
    int n_blocks = 0;
    size_t top = 0;
    /* Place graph inputs first, then, in run order, the block of each
     * node output's root the first time one of its values is produced. */
    for (int step = -1; step < s->n_order; step++) {
        int cand[64];
        int n_cand = 0;
        if (step < 0) {
            for (int i = 0; i < g->n_inputs && n_cand < 64; i++)
                cand[n_cand++] = g->inputs[i];
        } else {
            NnNode *n = &g->nodes[s->order[step]];
            for (int k = 0; k < n->n_outputs && n_cand < 64; k++) {
                int v = n->outputs[k];
                if (v >= 0 && !placed[root[v]]) {
                    bool dup = false;
                    for (int c = 0; c < n_cand; c++)
                        dup |= cand[c] == root[v];
                    if (!dup)
                        cand[n_cand++] = root[v];
                }
            }
            /* Blocks whose last reader ran before this step are free:
             * a node may not write over its own inputs. */
            int w = 0;
            for (int b = 0; b < n_blocks; b++)
                if (blocks[b].free_after >= step)
                    blocks[w++] = blocks[b];
            n_blocks = w;
        }
        for (int c = 0; c < n_cand; c++) {
            NnValue *val = &g->values[cand[c]];
            placed[cand[c]] = true;
            size_t size = (extent[cand[c]] + 63) & ~(size_t)63;
            if (size == 0)
                size = 64;
            /* First fit among gaps between live blocks (sorted). */
            size_t off = 0;
            int pos = 0;
            for (; pos < n_blocks; pos++) {
                if (blocks[pos].offset >= off + size)
                    break;
                if (blocks[pos].offset + blocks[pos].size > off)
                    off = blocks[pos].offset + blocks[pos].size;
            }
            memmove(&blocks[pos + 1], &blocks[pos],
                    (size_t)(n_blocks - pos) * sizeof(Block));
            blocks[pos].offset = off;
            blocks[pos].size = size;
            blocks[pos].free_after = last[cand[c]];
            n_blocks++;
            val->offset = off;
            if (off + size > top)
                top = off + size;
        }
    }
    for (int v = 0; v < nv; v++)
        if (root[v] != v)
            g->values[v].offset = g->values[root[v]].offset + sub[v];
    s->arena_bytes = top;
    ok = true;
done:
    nova_free(root);
    nova_free(last);
    nova_free(blocks);
    nova_free(block_of);
    nova_free(sub);
    nova_free(extent);
    nova_free(placed);
    return ok;
}

static bool make_views(NovaError **error, NovaNnSession *s)
{
    NnGraph *g = s->g;
    s->inputs =
        nova_calloc(error, (size_t)g->n_inputs + 1, sizeof(NovaNnTensor));
    s->outputs =
        nova_calloc(error, (size_t)g->n_outputs + 1, sizeof(NovaNnTensor));
    if (!s->inputs || !s->outputs)
        return false;
    for (int i = 0; i < g->n_inputs + g->n_outputs; i++) {
        bool is_in = i < g->n_inputs;
        NnValue *v =
            &g->values[is_in ? g->inputs[i] : g->outputs[i - g->n_inputs]];
        NovaNnTensor *t = is_in ? &s->inputs[i] : &s->outputs[i - g->n_inputs];
        t->name = v->name;
        t->dtype = v->dtype;
        t->rank = v->rank;
        memcpy(t->dims, v->dims, sizeof t->dims);
        t->data = v->kind == NN_VALUE_CONST ? v->data : s->arena + v->offset;
    }
    return true;
}

NovaNnSession *nova_nn_session_create(NovaError **error,
                                      const NovaNnModel *model,
                                      const NovaNnOptions *options)
{
    NovaNnOptions defaults;
    if (!options) {
        nova_nn_options_init(&defaults);
        options = &defaults;
    }
    const NnGraph *mg = nova__nn_model_graph(model);
    NovaNnSession *s = nova_calloc(error, 1, sizeof *s);
    if (!s)
        return NULL;
    s->kernels = options->kernels;
    s->pool = options->pool;
    if (options->profile) {
        s->node_seconds =
            nova_calloc(error, (size_t)nova__nn_model_graph(model)->n_nodes + 1,
                        sizeof(double));
        if (!s->node_seconds)
            goto fail;
        s->profile_threads = s->pool ? nova_pool_get_threads(s->pool) : 1;
        s->node_cpu =
            nova_calloc(error,
                        (size_t)s->profile_threads *
                            ((size_t)nova__nn_model_graph(model)->n_nodes + 1),
                        sizeof(double));
        if (!s->node_cpu)
            goto fail;
    }
    s->g = nova__nn_graph_copy(error, mg);
    if (!s->g)
        goto fail;
    NnGraph *g = s->g;
    g->n_threads = s->pool ? nova_pool_get_threads(s->pool) : 1;
    s->stats.n_nodes_loaded = g->n_nodes;
    if (!apply_input_options(error, g, options) || !infer_all(error, s))
        goto fail;
    if (options->optimize) {
        skip_empty_pads(s);
        if (!fuse_groupnorm(error, s) || !fold_batchnorm(error, s) ||
            !fuse_epilogues(s))
            goto fail;
    }
    remove_dead(g);
    s->order = nova_malloc_array(error, (size_t)g->n_nodes + 1, sizeof(int));
    if (!s->order)
        goto fail;
    for (int i = 0; i < g->n_nodes; i++)
        if (!g->nodes[i].dead)
            s->order[s->n_order++] = i;
    if (s->kernels == NOVA_NN_KERNELS_DNNL) {
        int threads = s->pool ? nova_pool_get_threads(s->pool) : 1;
        s->dnnl = nova__nn_dnnl_create(error, threads);
        if (!s->dnnl ||
            !nova__nn_dnnl_compile(error, s->dnnl, g, s->order, s->n_order))
            goto fail;
    }
    if (!plan_memory(error, s))
        goto fail;
    size_t scratch = 0;
    for (int r = 0; r < s->n_order; r++) {
        NnNode *n = &g->nodes[s->order[r]];
        if (n->scratch_bytes > scratch)
            scratch = n->scratch_bytes;
        s->stats.flops += nova__nn_node_flops(g, n);
        s->stats.n_dnnl += n->use_dnnl;
    }
    s->scratch_bytes = scratch;
    if (s->dnnl && !find_stretches(error, s))
        goto fail;
    s->arena =
        nova_malloc_aligned(error, 64, s->arena_bytes ? s->arena_bytes : 64);
    if (!s->arena)
        goto fail;
    memset(s->arena, 0, s->arena_bytes);
    if (scratch) {
        s->scratch = nova_malloc_aligned(error, 64, scratch);
        if (!s->scratch)
            goto fail;
    }
    if (!make_views(error, s))
        goto fail;
    s->stats.n_nodes = s->n_order;
    s->stats.arena_bytes = s->arena_bytes;
    s->stats.scratch_bytes = scratch;
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].kind == NN_VALUE_CONST && count_uses(g, v) > 0)
            s->stats.weight_bytes += nn_value_count(&g->values[v]) *
                                     nova_nn_dtype_size(g->values[v].dtype);
    return s;
fail:
    nova_error_prefix(error, "model %s: ", mg->model_name);
    nova_nn_session_destroy(s);
    return NULL;
}

void nova_nn_session_destroy(NovaNnSession *s)
{
    if (!s)
        return;
    if (s->dnnl) {
        nova__nn_dnnl_release(s->dnnl, s->g);
        nova__nn_dnnl_destroy(s->dnnl);
    }
    nova__nn_graph_destroy(s->g);
    nova__nn_team_destroy(s->team);
    nova_free(s->stretch_end);
    nova_free(s->order);
    nova_free(s->arena);
    nova_free(s->scratch);
    nova_free(s->inputs);
    nova_free(s->outputs);
    nova_free(s->node_seconds);
    nova_free(s->node_cpu);
    nova_free(s);
}

/* ------------------------------------------------------------ run */

/* Whether a node can be part of a team stretch; *split when its work is
 * shared (not only thread 0's). */
static bool team_node(NnGraph *g, NnNode *n, bool *split)
{
    if (n->concat_inplace)
        return true;
    if (n->use_dnnl) {
        NnTeamMode m = nova__nn_dnnl_team_mode(n);
        *split |= m == NN_TEAM_SPLIT;
        return m != NN_TEAM_NO;
    }
    return aliases_input(g, n);
}

/* Maximal runs of team nodes with at least one split node become
 * stretches; everything else runs node by node as before. */
static bool find_stretches(NovaError **error, NovaNnSession *s)
{
    int threads = s->pool ? nova_pool_get_threads(s->pool) : 1;
    const char *env = getenv("NOVA_NN_TEAM");
    if (threads <= 1 || (env && strcmp(env, "0") == 0))
        return true;
    s->stretch_end = nova_calloc(error, (size_t)s->n_order + 1, sizeof(int));
    if (!s->stretch_end)
        return false;
    bool any = false;
    for (int r = 0; r < s->n_order;) {
        bool split = false;
        int e = r;
        while (e < s->n_order &&
               team_node(s->g, &s->g->nodes[s->order[e]], &split))
            e++;
        if (e > r && split) {
            s->stretch_end[r] = e;
            any = true;
        }
        r = e > r ? e : r + 1;
    }
    if (any) {
        /* At most four steps a node: a copy in, two loops, a copy out. */
        s->team = nova__nn_team_create(error, threads, 4 * s->n_order + 4);
        if (!s->team)
            return false;
    } else {
        nova_free(s->stretch_end);
        s->stretch_end = NULL;
    }
    return true;
}

typedef struct {
    NovaNnSession *s;
    NnExec *ex;
    int r0, r1;
} StretchCtx;

/* CPU time of the calling thread, for the profile: unlike wall time it
 * leaves out what other processes on a busy machine take. */
static double thread_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One pool thread's walk through a stretch (the pool gives thread t the
 * range [t, t + 1)). */
static void stretch_thread(void *ctx, size_t begin, size_t end, int thread)
{
    StretchCtx *c = ctx;
    NovaNnSession *s = c->s;
    NnGraph *g = s->g;
    if (end - begin != 1) {
        /* The pool ran the job inline (a session run from inside one of
         * its own jobs): one thread, node by node. */
        for (int r = c->r0; r < c->r1; r++) {
            NnNode *n = &g->nodes[s->order[r]];
            if (!n->concat_inplace && n->use_dnnl)
                nova__nn_dnnl_run(s->dnnl, c->ex, n);
        }
        return;
    }
    nova__nn_team_enter(s->team, thread);
    nova__nn_dnnl_team_enter();
    for (int r = c->r0; r < c->r1; r++) {
        NnNode *n = &g->nodes[s->order[r]];
        if (n->concat_inplace || !n->use_dnnl)
            continue; /* in place, or an alias of its input */
        bool timed = s->node_seconds && thread == 0;
        double t0 = timed ? nova_time_now() : 0.0;
        double c0 = s->node_cpu ? thread_cpu_now() : 0.0;
        nova__nn_dnnl_run_team(s->dnnl, c->ex, n);
        if (s->node_cpu)
            s->node_cpu[(size_t)thread * (size_t)g->n_nodes + s->order[r]] +=
                thread_cpu_now() - c0;
        if (timed)
            s->node_seconds[s->order[r]] += nova_time_now() - t0;
    }
    nova__nn_team_leave();
}

typedef struct {
    float *out;
    const float *res;
    NnActivation act;
    float alpha, beta;
} EpilogueCtx;

static void epilogue_range(void *ctx, size_t begin, size_t end, int thread)
{
    EpilogueCtx *c = ctx;
    if (c->res)
        for (size_t i = begin; i < end; i++)
            c->out[i] += c->res[i];
    nova__nn_apply_act(c->out + begin, end - begin, c->act, c->alpha, c->beta);
}

bool nova_nn_session_run(NovaError **error, NovaNnSession *s,
                         const NovaNnTensor *inputs, int n_inputs)
{
    NnGraph *g = s->g;
    if (n_inputs != g->n_inputs)
        return nova_error_set(error, NOVA_ERROR_INVALID, "wrong inputs",
                              "model %s takes %d inputs, got %d", g->model_name,
                              g->n_inputs, n_inputs);
    for (int i = 0; i < n_inputs; i++) {
        const NovaNnTensor *t = &inputs[i];
        int slot = i;
        if (t->name) {
            slot = -1;
            for (int k = 0; k < g->n_inputs; k++)
                if (strcmp(g->values[g->inputs[k]].name, t->name) == 0)
                    slot = k;
            if (slot < 0)
                return nova_error_set(
                    error, NOVA_ERROR_NOT_FOUND, "no such input",
                    "model %s has no input '%s'", g->model_name, t->name);
        }
        NnValue *v = &g->values[g->inputs[slot]];
        bool same = t->dtype == v->dtype && t->rank == v->rank && t->data;
        for (int d = 0; same && d < v->rank; d++)
            same = t->dims[d] == v->dims[d];
        if (!same) {
            char want[128] = "", got[128] = "";
            for (int d = 0; d < v->rank; d++)
                snprintf(want + strlen(want), sizeof want - strlen(want),
                         "%s%lld", d ? "x" : "", (long long)v->dims[d]);
            for (int d = 0; d < t->rank && d < NOVA_NN_MAX_RANK; d++)
                snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld",
                         d ? "x" : "", (long long)t->dims[d]);
            return nova_error_set(error, NOVA_ERROR_INVALID, "wrong input",
                                  "model %s input '%s': expected %s [%s], "
                                  "got %s [%s]",
                                  g->model_name, v->name,
                                  nova_nn_dtype_name(v->dtype), want,
                                  nova_nn_dtype_name(t->dtype), got);
        }
        memcpy(s->arena + v->offset, t->data,
               nn_value_count(v) * nova_nn_dtype_size(v->dtype));
    }
    NnExec ex = {g, s->arena, s->scratch, s->pool,
                 s->pool ? nova_pool_get_threads(s->pool) : 1};
    for (int r = 0; r < s->n_order; r++) {
        if (s->stretch_end && s->stretch_end[r] > r) {
            StretchCtx c = {s, &ex, r, s->stretch_end[r]};
            nova__nn_team_reset(s->team);
            nova_pool_parallel_for(s->pool,
                                   (size_t)nova__nn_team_threads(s->team),
                                   stretch_thread, &c);
            r = s->stretch_end[r] - 1;
            continue;
        }
        NnNode *n = &g->nodes[s->order[r]];
        double t0 = s->node_seconds ? nova_time_now() : 0.0;
        double c0 = s->node_cpu ? thread_cpu_now() : 0.0;
        if (n->concat_inplace)
            continue; /* its inputs were written in place */
        if (n->use_dnnl) {
            nova__nn_dnnl_run(s->dnnl, &ex, n);
            if (s->node_seconds) {
                s->node_seconds[s->order[r]] += nova_time_now() - t0;
                s->node_cpu[s->order[r]] += thread_cpu_now() - c0;
            }
            continue;
        }
        if (aliases_input(g, n))
            continue; /* the output shares the input's bytes */
        n->def->run(&ex, n);
        if (n->residual >= 0 || n->act != NN_ACT_NONE) {
            EpilogueCtx c = {nn_ptr(&ex, n->outputs[0]),
                             n->residual >= 0 ? nn_ptr(&ex, n->residual) : NULL,
                             n->act, n->act_alpha, n->act_beta};
            nova_pool_parallel_for(s->pool,
                                   nn_value_count(&g->values[n->outputs[0]]),
                                   epilogue_range, &c);
        }
        if (s->node_seconds) {
            s->node_seconds[s->order[r]] += nova_time_now() - t0;
            s->node_cpu[s->order[r]] += thread_cpu_now() - c0;
        }
    }
    s->runs++;
    return true;
}

void nova_nn_session_print_profile(const NovaNnSession *s, FILE *out)
{
    if (!s->node_seconds || s->runs == 0) {
        fprintf(out, "no profile (options.profile off or no run)\n");
        return;
    }
    /* Sum per op type and path; at most one row per distinct pair.  Besides
     * wall time: the CPU time of the busiest of Nova's threads on each
     * node (when each thread took its own chunks, about what the node
     * would take on an idle machine; waits count while they spin, so
     * NOVA_NN_SPIN_US=0 for this) and of all Nova's threads. */
    const NnGraph *g = s->g;
    struct {
        const char *op;
        const char *path;
        double seconds, cpu_max, cpu_sum;
        int count;
    } rows[128];
    int n_rows = 0;
    double total = 0, total_max = 0, total_sum = 0;
    bool each = getenv("NOVA_NN_PROFILE_NODES") != NULL;
    int T = s->profile_threads;
    for (int r = 0; r < s->n_order; r++) {
        int id = s->order[r];
        const NnNode *n = &g->nodes[id];
        double t = s->node_seconds[id] / s->runs;
        double cmax = 0, csum = 0;
        for (int k = 0; k < T; k++) {
            double c =
                s->node_cpu[(size_t)k * (size_t)g->n_nodes + id] / s->runs;
            csum += c;
            cmax = c > cmax ? c : cmax;
        }
        total += t;
        total_max += cmax;
        total_sum += csum;
        const char *path = n->use_wino   ? "wino"
                           : n->use_k1   ? "k1x1"
                           : n->use_dnnl ? "dnnl"
                                         : "ref";
        if (each) {
            const char *mode = "-";
            if (s->stretch_end && n->use_dnnl && !n->concat_inplace) {
                NnTeamMode m = nova__nn_dnnl_team_mode(n);
                mode = m == NN_TEAM_SPLIT  ? "split"
                       : m == NN_TEAM_SOLO ? "solo"
                                           : "omp";
            }
            fprintf(out, "node %-40.40s %-18s %-5s %-5s %8.3f %8.3f %8.3f\n",
                    n->name, n->op_type, path, mode, t * 1e3, cmax * 1e3,
                    csum * 1e3);
        }
        int k = 0;
        while (k < n_rows &&
               !(strcmp(rows[k].op, n->op_type) == 0 && rows[k].path == path))
            k++;
        if (k == n_rows) {
            if (n_rows == 128)
                continue;
            rows[k].op = n->op_type;
            rows[k].path = path;
            rows[k].seconds = rows[k].cpu_max = rows[k].cpu_sum = 0;
            rows[k].count = 0;
            n_rows++;
        }
        rows[k].seconds += t;
        rows[k].cpu_max += cmax;
        rows[k].cpu_sum += csum;
        rows[k].count++;
    }
    for (int i = 0; i < n_rows; i++)
        for (int j = i + 1; j < n_rows; j++)
            if (rows[j].seconds > rows[i].seconds) {
                __typeof__(rows[0]) tmp = rows[i];
                rows[i] = rows[j];
                rows[j] = tmp;
            }
    fprintf(out, "%-24s %-5s %6s %10s %6s %10s %10s\n", "op", "path", "nodes",
            "ms/run", "share", "cpu-max ms", "cpu-all ms");
    for (int i = 0; i < n_rows; i++)
        fprintf(out, "%-24s %-5s %6d %10.3f %5.1f%% %10.3f %10.3f\n",
                rows[i].op, rows[i].path, rows[i].count, rows[i].seconds * 1e3,
                total > 0 ? 100.0 * rows[i].seconds / total : 0.0,
                rows[i].cpu_max * 1e3, rows[i].cpu_sum * 1e3);
    fprintf(out, "%-24s %-5s %6d %10.3f %6s %10.3f %10.3f\n", "total", "",
            s->n_order, total * 1e3, "", total_max * 1e3, total_sum * 1e3);
    /* Per thread: with chunks taken by whichever thread comes first, the
     * busiest thread's total is the better estimate of an idle machine's
     * run (waits spin, so they count) than the sum of per-node maxima. */
    fprintf(out, "cpu ms per thread:");
    for (int k = 0; k < T; k++) {
        double c = 0;
        for (int r = 0; r < s->n_order; r++)
            c += s->node_cpu[(size_t)k * (size_t)g->n_nodes + s->order[r]];
        fprintf(out, " %.3f", c / s->runs * 1e3);
    }
    fprintf(out, "\n");
}

int nova_nn_session_get_input_count(const NovaNnSession *s)
{
    return s->g->n_inputs;
}

const NovaNnTensor *nova_nn_session_get_input(const NovaNnSession *s, int i)
{
    return i >= 0 && i < s->g->n_inputs ? &s->inputs[i] : NULL;
}

int nova_nn_session_get_output_count(const NovaNnSession *s)
{
    return s->g->n_outputs;
}

const NovaNnTensor *nova_nn_session_get_output(const NovaNnSession *s, int i)
{
    return i >= 0 && i < s->g->n_outputs ? &s->outputs[i] : NULL;
}

void nova_nn_session_get_stats(const NovaNnSession *s, NovaNnStats *stats)
{
    *stats = s->stats;
}
