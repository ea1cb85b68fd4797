/*
 * ops_basic.c - elementwise, activation and data-movement ops, and the op
 * table.  Semantics follow the ONNX operator specification (onnx/docs/
 * Operators.md) for opsets 11 to 17; each infer function checks what its
 * kernel relies on and refuses the rest with a message naming the node.
 * Data movement (Concat, Transpose, Slice, Gather, Split, Pad, reshapes)
 * works on raw elements of any fixed-size type; arithmetic is float32, and
 * int64/int32 (shape arithmetic) and uint8 for Add, Sub, Mul, Div, and
 * int8/uint8/int32/int64 for Clip (its own kernel, clip_int).
 */
#include "nn_internal.h"

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

/* ------------------------------------------------------------ broadcast */

typedef struct {
    int rank;
    int64_t dims[NOVA_NN_MAX_RANK];
    int64_t sa[NOVA_NN_MAX_RANK], sb[NOVA_NN_MAX_RANK]; /* element strides */
} Bcast;

/* Multidirectional (numpy) broadcasting, ONNX Broadcasting.md. */
static bool broadcast_shape(NovaError **error, NnNode *node, const NnValue *a,
                            const NnValue *b, Bcast *bc)
{
    int r = a->rank > b->rank ? a->rank : b->rank;
    bc->rank = r;
    int64_t st_a = 1, st_b = 1;
    for (int i = r - 1; i >= 0; i--) {
        int ia = i - (r - a->rank), ib = i - (r - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1;
        int64_t db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return ERR(NOVA_ERROR_INVALID,
                       "shapes do not broadcast: dim %d "
                       "is %lld vs %lld",
                       i, (long long)da, (long long)db);
        bc->dims[i] = da == 1 ? db : da;
        bc->sa[i] = da == 1 ? 0 : st_a;
        bc->sb[i] = db == 1 ? 0 : st_b;
        st_a *= da;
        st_b *= db;
    }
    return true;
}

typedef enum { BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV, BIN_PRELU, BIN_POW } BinOp;

typedef struct {
    Bcast bc;
    BinOp op;
} BinParams;

static BinOp bin_op_of(const char *t)
{
    if (!strcmp(t, "Add"))
        return BIN_ADD;
    if (!strcmp(t, "Sub"))
        return BIN_SUB;
    if (!strcmp(t, "Mul"))
        return BIN_MUL;
    if (!strcmp(t, "Div"))
        return BIN_DIV;
    if (!strcmp(t, "Pow"))
        return BIN_POW;
    return BIN_PRELU;
}

static bool infer_binary(NovaError **error, NnGraph *g, NnNode *node)
{
    NnValue *a = nn_in(g, node, 0), *b = nn_in(g, node, 1);
    if (!a || !b)
        return ERR(NOVA_ERROR_INVALID, "two inputs are required");
    BinOp op = bin_op_of(node->op_type);
    bool ints = a->dtype == NOVA_NN_INT64 || a->dtype == NOVA_NN_INT32 ||
                a->dtype == NOVA_NN_UINT8;
    if (a->dtype != b->dtype || !(a->dtype == NOVA_NN_FLOAT32 ||
                                  (ints && (op == BIN_ADD || op == BIN_SUB ||
                                            op == BIN_MUL || op == BIN_DIV))))
        return ERR(NOVA_ERROR_UNSUPPORTED,
                   "types %s and %s are not "
                   "supported",
                   nova_nn_dtype_name(a->dtype), nova_nn_dtype_name(b->dtype));
    BinParams *p = params_alloc(error, node, sizeof *p);
    if (!p)
        return false;
    p->op = op;
    if (op == BIN_PRELU) {
        /* PRelu-9+: slope broadcasts unidirectionally to X. */
        if (!broadcast_shape(error, node, a, b, &p->bc))
            return false;
        if (p->bc.rank != a->rank ||
            memcmp(p->bc.dims, a->dims, sizeof(int64_t) * (size_t)a->rank))
            return ERR(NOVA_ERROR_INVALID, "slope does not broadcast to X");
    } else if (!broadcast_shape(error, node, a, b, &p->bc)) {
        return false;
    }
    return nova__nn_set_shape(error, g, node, 0, a->dtype, p->bc.rank,
                              p->bc.dims);
}

typedef struct {
    const NnExec *ex;
    const NnNode *node;
} RunCtx;

static inline float bin_f(BinOp op, float x, float y)
{
    switch (op) {
    case BIN_ADD: return x + y;
    case BIN_SUB: return x - y;
    case BIN_MUL: return x * y;
    case BIN_DIV: return x / y;
    case BIN_POW: return powf(x, y);
    default: return x >= 0.0f ? x : x * y;
    }
}

static inline int64_t bin_i(BinOp op, int64_t x, int64_t y)
{
    switch (op) {
    case BIN_ADD: return (int64_t)((uint64_t)x + (uint64_t)y);
    case BIN_SUB: return (int64_t)((uint64_t)x - (uint64_t)y);
    case BIN_MUL: return (int64_t)((uint64_t)x * (uint64_t)y);
    default: return y == 0 ? 0 : (x == INT64_MIN && y == -1) ? x : x / y;
    }
}

/* Rows of the innermost dim: row r covers output [r*inner, (r+1)*inner). */
static void binary_rows(void *vctx, size_t begin, size_t end, int thread)
{
    RunCtx *c = vctx;
    const NnNode *node = c->node;
    const BinParams *p = node->params;
    const Bcast *bc = &p->bc;
    NnValue *av = &c->ex->graph->values[node->inputs[0]];
    int r = bc->rank;
    int64_t inner = r > 0 ? bc->dims[r - 1] : 1;
    int64_t ia = r > 0 ? bc->sa[r - 1] : 0, ib = r > 0 ? bc->sb[r - 1] : 0;
    const void *A = nn_ptr(c->ex, node->inputs[0]);
    const void *B = nn_ptr(c->ex, node->inputs[1]);
    void *O = nn_ptr(c->ex, node->outputs[0]);
    for (size_t row = begin; row < end; row++) {
        /* Decompose row into outer indices to find the input offsets. */
        int64_t oa = 0, ob = 0, rem = (int64_t)row;
        for (int d = r - 2; d >= 0; d--) {
            int64_t idx = rem % bc->dims[d];
            rem /= bc->dims[d];
            oa += idx * bc->sa[d];
            ob += idx * bc->sb[d];
        }
        size_t o = row * (size_t)inner;
        if (av->dtype == NOVA_NN_FLOAT32) {
            const float *a = (const float *)A + oa, *b = (const float *)B + ob;
            float *out = (float *)O + o;
            if (ia == 1 && ib == 1 && p->op == BIN_ADD)
                for (int64_t j = 0; j < inner; j++)
                    out[j] = a[j] + b[j];
            else if (ia == 1 && ib == 0 && p->op == BIN_MUL)
                for (int64_t j = 0; j < inner; j++)
                    out[j] = a[j] * b[0];
            else
                for (int64_t j = 0; j < inner; j++)
                    out[j] = bin_f(p->op, a[j * ia], b[j * ib]);
        } else if (av->dtype == NOVA_NN_INT64) {
            const int64_t *a = (const int64_t *)A + oa;
            const int64_t *b = (const int64_t *)B + ob;
            int64_t *out = (int64_t *)O + o;
            for (int64_t j = 0; j < inner; j++)
                out[j] = bin_i(p->op, a[j * ia], b[j * ib]);
        } else if (av->dtype == NOVA_NN_INT32) {
            const int32_t *a = (const int32_t *)A + oa;
            const int32_t *b = (const int32_t *)B + ob;
            int32_t *out = (int32_t *)O + o;
            for (int64_t j = 0; j < inner; j++)
                out[j] = (int32_t)bin_i(p->op, a[j * ia], b[j * ib]);
        } else {
            /* uint8: add, sub and mul wrap modulo 256 (the truncation
             * does it); division truncates (x / 0 gives 0). */
            const uint8_t *a = (const uint8_t *)A + oa;
            const uint8_t *b = (const uint8_t *)B + ob;
            uint8_t *out = (uint8_t *)O + o;
            for (int64_t j = 0; j < inner; j++)
                out[j] = (uint8_t)bin_i(p->op, a[j * ia], b[j * ib]);
        }
    }
}

static void run_binary(NnExec *ex, NnNode *node)
{
    const BinParams *p = node->params;
    size_t rows = 1;
    for (int d = 0; d + 1 < p->bc.rank; d++)
        rows *= (size_t)p->bc.dims[d];
    if (p->bc.rank > 0 && p->bc.dims[p->bc.rank - 1] == 0)
        return;
    RunCtx c = {ex, node};
    nova_pool_parallel_for(ex->pool, rows, binary_rows, &c);
}

/* ------------------------------------------------------------ unary */

typedef enum {
    UN_RELU,
    UN_LEAKY,
    UN_SIGMOID,
    UN_TANH,
    UN_ELU,
    UN_GELU,
    UN_GELU_TANH,
    UN_ERF,
    UN_SQRT,
    UN_EXP,
    UN_NEG,
    UN_ABS,
    UN_RECIPROCAL,
    UN_CLIP,
    UN_IDENTITY,
    UN_SOFTPLUS,
    UN_HARDSIGMOID,
    UN_SELU,
    UN_LOG,
    UN_FLOOR,
    UN_CEIL
} UnOp;

typedef struct {
    UnOp op;
    float alpha, beta, gamma;
} UnParams;

static bool is_clip_int(NovaNnDtype t)
{
    return t == NOVA_NN_INT8 || t == NOVA_NN_UINT8 || t == NOVA_NN_INT32 ||
           t == NOVA_NN_INT64;
}

/* Element i of an integer (or bool) tensor; load_num (Cast) reads these
 * through it too. */
static int64_t load_int(const void *p, NovaNnDtype t, size_t i)
{
    switch (t) {
    case NOVA_NN_INT8: return ((const int8_t *)p)[i];
    case NOVA_NN_UINT8:
    case NOVA_NN_BOOL: return ((const uint8_t *)p)[i];
    case NOVA_NN_INT32: return ((const int32_t *)p)[i];
    default: return ((const int64_t *)p)[i];
    }
}

static void store_int(void *p, NovaNnDtype t, size_t i, int64_t v)
{
    switch (t) {
    case NOVA_NN_INT8: ((int8_t *)p)[i] = (int8_t)v; break;
    case NOVA_NN_UINT8: ((uint8_t *)p)[i] = (uint8_t)v; break;
    case NOVA_NN_INT32: ((int32_t *)p)[i] = (int32_t)v; break;
    default: ((int64_t *)p)[i] = v; break;
    }
}

static bool infer_unary(NovaError **error, NnGraph *g, NnNode *node)
{
    NnValue *x = nn_in(g, node, 0);
    const char *t = node->op_type;
    /* Clip also takes integer inputs (run by clip_int below). */
    bool clip_int = !strcmp(t, "Clip") && x && is_clip_int(x->dtype);
    if (!clip_int && !need_f32(error, g, node, 0))
        return false;
    UnParams *p = params_alloc(error, node, sizeof *p);
    if (!p)
        return false;
    p->alpha = nova__nn_attr_float(node, "alpha", 0.0f);
    if (!strcmp(t, "Relu"))
        p->op = UN_RELU;
    else if (!strcmp(t, "LeakyRelu")) {
        p->op = UN_LEAKY;
        p->alpha = nova__nn_attr_float(node, "alpha", 0.01f);
    } else if (!strcmp(t, "Sigmoid"))
        p->op = UN_SIGMOID;
    else if (!strcmp(t, "Tanh"))
        p->op = UN_TANH;
    else if (!strcmp(t, "Elu")) {
        p->op = UN_ELU;
        p->alpha = nova__nn_attr_float(node, "alpha", 1.0f);
    } else if (!strcmp(t, "Selu")) {
        p->op = UN_SELU;
        p->alpha =
            nova__nn_attr_float(node, "alpha", 1.67326319217681884765625f);
        p->gamma =
            nova__nn_attr_float(node, "gamma", 1.05070102214813232421875f);
    } else if (!strcmp(t, "Gelu")) {
        const char *ap = nova__nn_attr_string(node, "approximate", "none");
        if (!strcmp(ap, "tanh"))
            p->op = UN_GELU_TANH;
        else if (!strcmp(ap, "none"))
            p->op = UN_GELU;
        else
            return ERR(NOVA_ERROR_UNSUPPORTED, "approximate '%s'", ap);
    } else if (!strcmp(t, "Erf"))
        p->op = UN_ERF;
    else if (!strcmp(t, "Sqrt"))
        p->op = UN_SQRT;
    else if (!strcmp(t, "Exp"))
        p->op = UN_EXP;
    else if (!strcmp(t, "Log"))
        p->op = UN_LOG;
    else if (!strcmp(t, "Neg"))
        p->op = UN_NEG;
    else if (!strcmp(t, "Abs"))
        p->op = UN_ABS;
    else if (!strcmp(t, "Floor"))
        p->op = UN_FLOOR;
    else if (!strcmp(t, "Ceil"))
        p->op = UN_CEIL;
    else if (!strcmp(t, "Reciprocal"))
        p->op = UN_RECIPROCAL;
    else if (!strcmp(t, "Softplus"))
        p->op = UN_SOFTPLUS;
    else if (!strcmp(t, "HardSigmoid")) {
        p->op = UN_HARDSIGMOID;
        p->alpha = nova__nn_attr_float(node, "alpha", 0.2f);
        p->beta = nova__nn_attr_float(node, "beta", 0.5f);
    } else if (!strcmp(t, "Clip")) {
        p->op = UN_CLIP;
        for (int k = 1; k < 3; k++) {
            NnValue *v = nn_in(g, node, k);
            if (v && (v->dtype != x->dtype || nn_value_count(v) != 1))
                return ERR(NOVA_ERROR_INVALID, "min/max must be scalars of "
                                               "the input's type");
        }
    } else {
        p->op = UN_IDENTITY; /* Identity, Dropout */
    }
    if (!strcmp(t, "Dropout")) {
        NnValue *tm = nn_in(g, node, 2);
        if (tm && (tm->kind != NN_VALUE_CONST || tm->dtype != NOVA_NN_BOOL ||
                   *(uint8_t *)tm->data != 0))
            return ERR(NOVA_ERROR_UNSUPPORTED,
                       "training_mode must be a "
                       "constant false (inference only)");
        if (!nova__nn_set_shape(error, g, node, 1, NOVA_NN_BOOL, x->rank,
                                x->dims))
            return false;
    }
    return nova__nn_set_shape(error, g, node, 0, x->dtype, x->rank, x->dims);
}

static float gelu(float x)
{
    return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
}

static void unary_range(void *vctx, size_t begin, size_t end, int thread)
{
    RunCtx *c = vctx;
    const NnNode *node = c->node;
    const UnParams *p = node->params;
    const float *x = nn_f32(c->ex, node, 0);
    float *y = nn_f32_out(c->ex, node, 0);
    float lo = -INFINITY, hi = INFINITY;
    if (p->op == UN_CLIP) {
        if (node->n_inputs > 1 && node->inputs[1] >= 0)
            lo = *nn_f32(c->ex, node, 1);
        if (node->n_inputs > 2 && node->inputs[2] >= 0)
            hi = *nn_f32(c->ex, node, 2);
    }
    for (size_t i = begin; i < end; i++) {
        float v = x[i], r;
        switch (p->op) {
        case UN_RELU: r = v > 0.0f ? v : 0.0f; break;
        case UN_LEAKY: r = v >= 0.0f ? v : p->alpha * v; break;
        case UN_SIGMOID: r = 1.0f / (1.0f + expf(-v)); break;
        case UN_TANH: r = tanhf(v); break;
        case UN_ELU: r = v >= 0.0f ? v : p->alpha * (expf(v) - 1.0f); break;
        case UN_SELU:
            r = v > 0.0f ? p->gamma * v
                         : p->gamma * p->alpha * (expf(v) - 1.0f);
            break;
        case UN_GELU: r = gelu(v); break;
        case UN_GELU_TANH:
            r = 0.5f * v *
                (1.0f +
                 tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
            break;
        case UN_ERF: r = erff(v); break;
        case UN_SQRT: r = sqrtf(v); break;
        case UN_EXP: r = expf(v); break;
        case UN_LOG: r = logf(v); break;
        case UN_NEG: r = -v; break;
        case UN_ABS: r = fabsf(v); break;
        case UN_FLOOR: r = floorf(v); break;
        case UN_CEIL: r = ceilf(v); break;
        case UN_RECIPROCAL: r = 1.0f / v; break;
        case UN_SOFTPLUS: r = log1pf(expf(v)); break;
        case UN_HARDSIGMOID: {
            float h = p->alpha * v + p->beta;
            r = h < 0.0f ? 0.0f : (h > 1.0f ? 1.0f : h);
            break;
        }
        case UN_CLIP: r = v < lo ? lo : (v > hi ? hi : v); break;
        default: r = v; break;
        }
        y[i] = r;
    }
}

/* Clip on integers: small tensors (no model's float path comes here). */
static void clip_int(NnExec *ex, NnNode *node)
{
    NnValue *xv = nn_in(ex->graph, node, 0);
    NovaNnDtype t = xv->dtype;
    const void *x = nn_ptr(ex, node->inputs[0]);
    void *y = nn_ptr(ex, node->outputs[0]);
    int64_t lo = INT64_MIN, hi = INT64_MAX;
    if (node->n_inputs > 1 && node->inputs[1] >= 0)
        lo = load_int(nn_ptr(ex, node->inputs[1]), t, 0);
    if (node->n_inputs > 2 && node->inputs[2] >= 0)
        hi = load_int(nn_ptr(ex, node->inputs[2]), t, 0);
    size_t n = nn_value_count(xv);
    for (size_t i = 0; i < n; i++) {
        int64_t v = load_int(x, t, i);
        store_int(y, t, i, v < lo ? lo : (v > hi ? hi : v));
    }
}

static void run_unary(NnExec *ex, NnNode *node)
{
    if (nn_in(ex->graph, node, 0)->dtype != NOVA_NN_FLOAT32) {
        clip_int(ex, node);
        return;
    }
    RunCtx c = {ex, node};
    nova_pool_parallel_for(ex->pool, nn_value_count(nn_out(ex->graph, node, 0)),
                           unary_range, &c);
}

/* Identity and Dropout (inference): a copy, or nothing when the planner
 * aliased the output to the input.  Dropout's mask output is all true. */
static void run_copy(NnExec *ex, NnNode *node)
{
    NnValue *x = nn_in(ex->graph, node, 0);
    void *src = nn_ptr(ex, node->inputs[0]);
    void *dst = nn_ptr(ex, node->outputs[0]);
    if (src != dst)
        memmove(dst, src, nn_value_count(x) * nova_nn_dtype_size(x->dtype));
    NnValue *mask = nn_out(ex->graph, node, 1);
    if (mask)
        memset(nn_ptr(ex, node->outputs[1]), 1, nn_value_count(mask));
}

static bool infer_identity(NovaError **error, NnGraph *g, NnNode *node)
{
    NnValue *x = nn_in(g, node, 0);
    if (!strcmp(node->op_type, "Dropout"))
        return infer_unary(error, g, node);
    return nova__nn_set_shape(error, g, node, 0, x->dtype, x->rank, x->dims);
}

/* ------------------------------------------------------------ reshapes */

static bool infer_reshape(NovaError **error, NnGraph *g, NnNode *node)
{
    NnValue *x = nn_in(g, node, 0);
    int64_t shape[NOVA_NN_MAX_RANK];
    int n;
    if (!nova__nn_const_ints(error, g, node, 1, shape, NOVA_NN_MAX_RANK, &n))
        return false;
    if (!nn_in(g, node, 1))
        return ERR(NOVA_ERROR_INVALID, "shape input is missing");
    bool allowzero = nova__nn_attr_int(node, "allowzero", 0) != 0;
    size_t total = nn_value_count(x), known = 1;
    int infer_at = -1;
    for (int i = 0; i < n; i++) {
        if (shape[i] == 0 && !allowzero) {
            if (i >= x->rank)
                return ERR(NOVA_ERROR_INVALID,
                           "0 at dim %d beyond input "
                           "rank",
                           i);
            shape[i] = x->dims[i];
        }
        if (shape[i] == -1) {
            if (infer_at >= 0)
                return ERR(NOVA_ERROR_INVALID, "more than one -1 in shape");
            infer_at = i;
        } else if (shape[i] < 0) {
            return ERR(NOVA_ERROR_INVALID, "negative dim %lld in shape",
                       (long long)shape[i]);
        } else {
            known *= (size_t)shape[i];
        }
    }
    if (infer_at >= 0) {
        if (known == 0 || total % known)
            return ERR(NOVA_ERROR_INVALID,
                       "cannot infer -1: %zu elements "
                       "into blocks of %zu",
                       total, known);
        shape[infer_at] = (int64_t)(total / known);
        known *= (size_t)shape[infer_at];
    }
    if (known != total)
        return ERR(NOVA_ERROR_INVALID, "reshape of %zu elements to %zu", total,
                   known);
    return nova__nn_set_shape(error, g, node, 0, x->dtype, n, shape);
}

static bool infer_flatten(NovaError **error, NnGraph *g, NnNode *node)
{
    NnValue *x = nn_in(g, node, 0);
    int axis = norm_axis(nova__nn_attr_int(node, "axis", 1), x->rank);
    if (axis < 0 || axis > x->rank)
        return ERR(NOVA_ERROR_INVALID, "axis out of range");
    int64_t d[2] = {(int64_t)nn_count(x->dims, axis),
                    (int64_t)nn_count(x->dims + axis, x->rank - axis)};
    return nova__nn_set_shape(error, g, node, 0, x->dtype, 2, d);
}

/* Squeeze/Unsqueeze axes: attribute before opset 13, input from 13. */
static bool get_axes(NovaError **error, NnGraph *g, NnNode *node, int64_t *axes,
                     int *n)
{
    const NnAttr *a = nova__nn_attr_ints(node, "axes");
    if (a && a->type == NN_ATTR_INTS) {
        if (a->n > NOVA_NN_MAX_RANK)
            return ERR(NOVA_ERROR_INVALID, "too many axes");
        memcpy(axes, a->ints, a->n * 8);
        *n = (int)a->n;
        return true;
    }
    return nova__nn_const_ints(error, g, node, 1, axes, NOVA_NN_MAX_RANK, n);
}

static bool infer_squeeze(NovaError **error, NnGraph *g, NnNode *node)
{
    NnValue *x = nn_in(g, node, 0);
    int64_t axes[NOVA_NN_MAX_RANK], d[NOVA_NN_MAX_RANK];
    int n, r = 0;
    if (!get_axes(error, g, node, axes, &n))
        return false;
    bool drop[NOVA_NN_MAX_RANK] = {false};
    for (int i = 0; i < n; i++) {
        int ax = norm_axis(axes[i], x->rank);
        if (ax < 0 || ax >= x->rank || x->dims[ax] != 1)
            return ERR(NOVA_ERROR_INVALID,
                       "axis %lld is not a dim of size "
                       "1",
                       (long long)axes[i]);
        drop[ax] = true;
    }
    for (int i = 0; i < x->rank; i++)
        if (!(n == 0 ? x->dims[i] == 1 : drop[i]))
            d[r++] = x->dims[i];
    return nova__nn_set_shape(error, g, node, 0, x->dtype, r, d);
}

static bool infer_unsqueeze(NovaError **error, NnGraph *g, NnNode *node)
{
    NnValue *x = nn_in(g, node, 0);
    int64_t axes[NOVA_NN_MAX_RANK], d[NOVA_NN_MAX_RANK];
    int n;
    if (!get_axes(error, g, node, axes, &n))
        return false;
    int r = x->rank + n;
    if (r > NOVA_NN_MAX_RANK)
        return ERR(NOVA_ERROR_RANGE, "rank %d too large", r);
    bool ins[NOVA_NN_MAX_RANK] = {false};
    for (int i = 0; i < n; i++) {
        int ax = norm_axis(axes[i], r);
        if (ax < 0 || ax >= r || ins[ax])
            return ERR(NOVA_ERROR_INVALID, "bad axis %lld", (long long)axes[i]);
        ins[ax] = true;
    }
    for (int i = 0, k = 0; i < r; i++)
        d[i] = ins[i] ? 1 : x->dims[k++];
    return nova__nn_set_shape(error, g, node, 0, x->dtype, r, d);
}

/* ------------------------------------------------------------ Shape */

static bool infer_shape_op(NovaError **error, NnGraph *g, NnNode *node)
{
    NnValue *x = nn_in(g, node, 0);
    /* Shape-15: optional start/end slice the dims. */
    int r = x->rank;
    int64_t start = nova__nn_attr_int(node, "start", 0);
    int64_t end = nova__nn_attr_int(node, "end", r);
    if (start < 0)
        start += r;
    if (end < 0)
        end += r;
    start = start < 0 ? 0 : (start > r ? r : start);
    end = end < 0 ? 0 : (end > r ? r : end);
    int64_t len = end > start ? end - start : 0;
    if (!nova__nn_set_shape(error, g, node, 0, NOVA_NN_INT64, 1, &len))
        return false;
    NnValue *out = nn_out(g, node, 0);
    out->data = nova_malloc(error, (size_t)(len ? len : 1) * 8);
    if (!out->data)
        return false;
    out->owns_data = true;
    out->kind = NN_VALUE_CONST;
    for (int64_t i = 0; i < len; i++)
        ((int64_t *)out->data)[i] = x->dims[start + i];
    return true;
}

static void run_nothing(NnExec *ex, NnNode *node)
{
}

/* ------------------------------------------------------------ Concat */

typedef struct {
    int axis;
    size_t outer, esize;
} AxisParams;

static bool infer_concat(NovaError **error, NnGraph *g, NnNode *node)
{
    NnValue *x = nn_in(g, node, 0);
    int axis = norm_axis(nova__nn_attr_int(node, "axis", 0), x->rank);
    if (!nova__nn_attr(node, "axis") || axis < 0 || axis >= x->rank)
        return ERR(NOVA_ERROR_INVALID, "axis missing or out of range");
    int64_t d[NOVA_NN_MAX_RANK];
    memcpy(d, x->dims, sizeof d);
    d[axis] = 0;
    for (int k = 0; k < node->n_inputs; k++) {
        NnValue *v = nn_in(g, node, k);
        if (!v)
            continue;
        if (v->rank != x->rank || v->dtype != x->dtype)
            return ERR(NOVA_ERROR_INVALID, "input %d rank/type differ", k);
        for (int i = 0; i < x->rank; i++)
            if (i != axis && v->dims[i] != x->dims[i])
                return ERR(NOVA_ERROR_INVALID,
                           "input %d dim %d is %lld, "
                           "expected %lld",
                           k, i, (long long)v->dims[i], (long long)x->dims[i]);
        d[axis] += v->dims[axis];
    }
    AxisParams *p = params_alloc(error, node, sizeof *p);
    if (!p)
        return false;
    p->axis = axis;
    p->outer = nn_count(x->dims, axis);
    p->esize = nova_nn_dtype_size(x->dtype);
    return nova__nn_set_shape(error, g, node, 0, x->dtype, x->rank, d);
}

static void run_concat(NnExec *ex, NnNode *node)
{
    const AxisParams *p = node->params;
    NnValue *y = nn_out(ex->graph, node, 0);
    size_t out_row = nn_count(y->dims + p->axis, y->rank - p->axis) * p->esize;
    uint8_t *out = nn_ptr(ex, node->outputs[0]);
    size_t off = 0;
    for (int k = 0; k < node->n_inputs; k++) {
        NnValue *v = nn_in(ex->graph, node, k);
        if (!v)
            continue;
        size_t row = nn_count(v->dims + p->axis, v->rank - p->axis) * p->esize;
        const uint8_t *in = nn_ptr(ex, node->inputs[k]);
        for (size_t o = 0; o < p->outer; o++)
            memcpy(out + o * out_row + off, in + o * row, row);
        off += row;
    }
}

/* ------------------------------------------------------------ Split */

typedef struct {
    int axis;
    int64_t sizes[64];
} SplitParams;

static bool infer_split(NovaError **error, NnGraph *g, NnNode *node)
{
    NnValue *x = nn_in(g, node, 0);
    int axis = norm_axis(nova__nn_attr_int(node, "axis", 0), x->rank);
    if (axis < 0 || axis >= x->rank)
        return ERR(NOVA_ERROR_INVALID, "axis out of range");
    if (node->n_outputs > 64)
        return ERR(NOVA_ERROR_UNSUPPORTED, "more than 64 outputs");
    SplitParams *p = params_alloc(error, node, sizeof *p);
    if (!p)
        return false;
    p->axis = axis;
    int n = 0;
    const NnAttr *a = nova__nn_attr_ints(node, "split");
    if (a && a->type == NN_ATTR_INTS) {
        n = (int)(a->n < 64 ? a->n : 64);
        memcpy(p->sizes, a->ints, (size_t)n * 8);
    } else if (nn_in(g, node, 1)) {
        if (!nova__nn_const_ints(error, g, node, 1, p->sizes, 64, &n))
            return false;
    }
    if (n == 0) {
        int64_t parts = node->n_outputs;
        int64_t len = x->dims[axis];
        /* Split-13: equal parts; the last may be smaller (Split-18). */
        int64_t each = (len + parts - 1) / parts;
        if (len % parts)
            return ERR(NOVA_ERROR_INVALID,
                       "dim %lld does not split into %lld "
                       "equal parts",
                       (long long)len, (long long)parts);
        for (int i = 0; i < parts; i++)
            p->sizes[i] = each;
        n = (int)parts;
    }
    if (n != node->n_outputs)
        return ERR(NOVA_ERROR_INVALID, "%d sizes for %d outputs", n,
                   node->n_outputs);
    int64_t sum = 0;
    for (int i = 0; i < n; i++) {
        if (p->sizes[i] < 0 || p->sizes[i] > NN_MAX_DIM)
            return ERR(NOVA_ERROR_INVALID, "bad split size");
        sum += p->sizes[i];
    }
    if (sum != x->dims[axis])
        return ERR(NOVA_ERROR_INVALID, "split sizes sum to %lld, dim is %lld",
                   (long long)sum, (long long)x->dims[axis]);
    for (int i = 0; i < n; i++) {
        int64_t d[NOVA_NN_MAX_RANK];
        memcpy(d, x->dims, sizeof d);
        d[axis] = p->sizes[i];
        if (!nova__nn_set_shape(error, g, node, i, x->dtype, x->rank, d))
            return false;
    }
    return true;
}

static void run_split(NnExec *ex, NnNode *node)
{
    const SplitParams *p = node->params;
    NnValue *x = nn_in(ex->graph, node, 0);
    size_t esize = nova_nn_dtype_size(x->dtype);
    size_t outer = nn_count(x->dims, p->axis);
    size_t inner = nn_count(x->dims + p->axis + 1, x->rank - p->axis - 1);
    size_t in_row = (size_t)x->dims[p->axis] * inner * esize;
    const uint8_t *in = nn_ptr(ex, node->inputs[0]);
    size_t off = 0;
    for (int k = 0; k < node->n_outputs; k++) {
        size_t row = (size_t)p->sizes[k] * inner * esize;
        if (node->outputs[k] >= 0) {
            uint8_t *out = nn_ptr(ex, node->outputs[k]);
            for (size_t o = 0; o < outer; o++)
                memcpy(out + o * row, in + o * in_row + off, row);
        }
        off += row;
    }
}

/* ------------------------------------------------------------ Transpose */

typedef struct {
    int perm[NOVA_NN_MAX_RANK];
} PermParams;

static bool infer_transpose(NovaError **error, NnGraph *g, NnNode *node)
{
    NnValue *x = nn_in(g, node, 0);
    PermParams *p = params_alloc(error, node, sizeof *p);
    if (!p)
        return false;
    const NnAttr *a = nova__nn_attr_ints(node, "perm");
    bool seen[NOVA_NN_MAX_RANK] = {false};
    int64_t d[NOVA_NN_MAX_RANK];
    if (a && a->n != (size_t)x->rank)
        return ERR(NOVA_ERROR_INVALID, "perm has %zu entries for rank %d", a->n,
                   x->rank);
    for (int i = 0; i < x->rank; i++) {
        int64_t q = a ? a->ints[i] : x->rank - 1 - i;
        if (q < 0 || q >= x->rank || seen[q])
            return ERR(NOVA_ERROR_INVALID, "perm is not a permutation");
        seen[q] = true;
        p->perm[i] = (int)q;
        d[i] = x->dims[q];
    }
    return nova__nn_set_shape(error, g, node, 0, x->dtype, x->rank, d);
}

static void run_transpose(NnExec *ex, NnNode *node)
{
    const PermParams *p = node->params;
    NnValue *x = nn_in(ex->graph, node, 0);
    NnValue *y = nn_out(ex->graph, node, 0);
    size_t esize = nova_nn_dtype_size(x->dtype);
    int r = x->rank;
    size_t in_stride[NOVA_NN_MAX_RANK], st[NOVA_NN_MAX_RANK];
    size_t s = 1;
    for (int i = r - 1; i >= 0; i--) {
        in_stride[i] = s;
        s *= (size_t)x->dims[i];
    }
    for (int i = 0; i < r; i++)
        st[i] = in_stride[p->perm[i]];
    const uint8_t *in = nn_ptr(ex, node->inputs[0]);
    uint8_t *out = nn_ptr(ex, node->outputs[0]);
    size_t n = nn_value_count(y);
    int64_t idx[NOVA_NN_MAX_RANK] = {0};
    size_t src = 0;
    for (size_t o = 0; o < n; o++) {
        memcpy(out + o * esize, in + src * esize, esize);
        for (int i = r - 1; i >= 0; i--) {
            idx[i]++;
            src += st[i];
            if (idx[i] < y->dims[i])
                break;
            src -= st[i] * (size_t)y->dims[i];
            idx[i] = 0;
        }
    }
}

/* ------------------------------------------------------------ Slice */

typedef struct {
    int64_t start[NOVA_NN_MAX_RANK], step[NOVA_NN_MAX_RANK];
} SliceParams;

static bool infer_slice(NovaError **error, NnGraph *g, NnNode *node)
{
    NnValue *x = nn_in(g, node, 0);
    int64_t starts[NOVA_NN_MAX_RANK], ends[NOVA_NN_MAX_RANK],
        axes[NOVA_NN_MAX_RANK], steps[NOVA_NN_MAX_RANK];
    int ns, ne, na, nst;
    if (!nova__nn_const_ints(error, g, node, 1, starts, NOVA_NN_MAX_RANK,
                             &ns) ||
        !nova__nn_const_ints(error, g, node, 2, ends, NOVA_NN_MAX_RANK, &ne) ||
        !nova__nn_const_ints(error, g, node, 3, axes, NOVA_NN_MAX_RANK, &na) ||
        !nova__nn_const_ints(error, g, node, 4, steps, NOVA_NN_MAX_RANK, &nst))
        return false;
    if (ns != ne || (na && na != ns) || (nst && nst != ns))
        return ERR(NOVA_ERROR_INVALID, "starts/ends/axes/steps lengths "
                                       "differ");
    SliceParams *p = params_alloc(error, node, sizeof *p);
    if (!p)
        return false;
    int64_t d[NOVA_NN_MAX_RANK];
    memcpy(d, x->dims, sizeof d);
    for (int i = 0; i < x->rank; i++)
        p->step[i] = 1;
    bool seen[NOVA_NN_MAX_RANK] = {false};
    for (int i = 0; i < ns; i++) {
        int ax = na ? norm_axis(axes[i], x->rank) : i;
        if (ax < 0 || ax >= x->rank || seen[ax])
            return ERR(NOVA_ERROR_INVALID, "bad or repeated axis");
        seen[ax] = true;
        int64_t step = nst ? steps[i] : 1;
        if (step == 0 || step < -NN_MAX_DIM || step > NN_MAX_DIM)
            return ERR(NOVA_ERROR_INVALID, "step %lld", (long long)step);
        /* Starts and ends are clamped to the dim below; keep the
         * arithmetic on them in range first. */
        starts[i] = starts[i] < -NN_MAX_DIM  ? -NN_MAX_DIM - 1
                    : starts[i] > NN_MAX_DIM ? NN_MAX_DIM + 1
                                             : starts[i];
        ends[i] = ends[i] < -NN_MAX_DIM  ? -NN_MAX_DIM - 1
                  : ends[i] > NN_MAX_DIM ? NN_MAX_DIM + 1
                                         : ends[i];
        int64_t dim = x->dims[ax], s = starts[i], e = ends[i];
        /* Slice-13 clamping rules. */
        if (s < 0)
            s += dim;
        if (e < 0)
            e += dim;
        if (step > 0) {
            s = s < 0 ? 0 : (s > dim ? dim : s);
            e = e < 0 ? 0 : (e > dim ? dim : e);
            d[ax] = e > s ? (e - s + step - 1) / step : 0;
        } else {
            s = s < 0 ? 0 : (s > dim - 1 ? dim - 1 : s);
            e = e < -1 ? -1 : (e > dim - 1 ? dim - 1 : e);
            d[ax] = s > e ? (s - e + (-step) - 1) / (-step) : 0;
        }
        p->start[ax] = s;
        p->step[ax] = step;
    }
    return nova__nn_set_shape(error, g, node, 0, x->dtype, x->rank, d);
}

static void run_slice(NnExec *ex, NnNode *node)
{
    const SliceParams *p = node->params;
    NnValue *x = nn_in(ex->graph, node, 0);
    NnValue *y = nn_out(ex->graph, node, 0);
    size_t esize = nova_nn_dtype_size(x->dtype);
    int r = x->rank;
    size_t st[NOVA_NN_MAX_RANK], s = 1;
    for (int i = r - 1; i >= 0; i--) {
        st[i] = s;
        s *= (size_t)x->dims[i];
    }
    size_t n = nn_value_count(y);
    if (n == 0)
        return;
    const uint8_t *in = nn_ptr(ex, node->inputs[0]);
    uint8_t *out = nn_ptr(ex, node->outputs[0]);
    int64_t idx[NOVA_NN_MAX_RANK] = {0};
    for (size_t o = 0; o < n; o++) {
        int64_t src = 0;
        for (int i = 0; i < r; i++)
            src += (p->start[i] + idx[i] * p->step[i]) * (int64_t)st[i];
        memcpy(out + o * esize, in + (size_t)src * esize, esize);
        for (int i = r - 1; i >= 0; i--) {
            if (++idx[i] < y->dims[i])
                break;
            idx[i] = 0;
        }
    }
}

/* ------------------------------------------------------------ Gather */

static bool infer_gather(NovaError **error, NnGraph *g, NnNode *node)
{
    NnValue *x = nn_in(g, node, 0), *ind = nn_in(g, node, 1);
    int axis = norm_axis(nova__nn_attr_int(node, "axis", 0), x->rank);
    if (axis < 0 || axis >= x->rank)
        return ERR(NOVA_ERROR_INVALID, "axis out of range");
    if (ind->dtype != NOVA_NN_INT64 && ind->dtype != NOVA_NN_INT32)
        return ERR(NOVA_ERROR_INVALID, "indices must be int64 or int32");
    int r = x->rank - 1 + ind->rank;
    if (r > NOVA_NN_MAX_RANK)
        return ERR(NOVA_ERROR_RANGE, "output rank %d too large", r);
    if (ind->kind == NN_VALUE_CONST) {
        size_t n = nn_value_count(ind);
        for (size_t i = 0; i < n; i++) {
            int64_t v = ind->dtype == NOVA_NN_INT64 ? ((int64_t *)ind->data)[i]
                                                    : ((int32_t *)ind->data)[i];
            if (v < -x->dims[axis] || v >= x->dims[axis])
                return ERR(NOVA_ERROR_RANGE,
                           "index %lld out of range for "
                           "dim %lld",
                           (long long)v, (long long)x->dims[axis]);
        }
    }
    AxisParams *p = params_alloc(error, node, sizeof *p);
    if (!p)
        return false;
    p->axis = axis;
    p->esize = nova_nn_dtype_size(x->dtype);
    int64_t d[NOVA_NN_MAX_RANK];
    int k = 0;
    for (int i = 0; i < axis; i++)
        d[k++] = x->dims[i];
    for (int i = 0; i < ind->rank; i++)
        d[k++] = ind->dims[i];
    for (int i = axis + 1; i < x->rank; i++)
        d[k++] = x->dims[i];
    return nova__nn_set_shape(error, g, node, 0, x->dtype, r, d);
}

static void run_gather(NnExec *ex, NnNode *node)
{
    const AxisParams *p = node->params;
    NnValue *x = nn_in(ex->graph, node, 0), *ind = nn_in(ex->graph, node, 1);
    size_t outer = nn_count(x->dims, p->axis);
    size_t inner =
        nn_count(x->dims + p->axis + 1, x->rank - p->axis - 1) * p->esize;
    int64_t dim = x->dims[p->axis];
    size_t ni = nn_value_count(ind);
    const uint8_t *in = nn_ptr(ex, node->inputs[0]);
    const void *iv = nn_ptr(ex, node->inputs[1]);
    uint8_t *out = nn_ptr(ex, node->outputs[0]);
    for (size_t o = 0; o < outer; o++)
        for (size_t j = 0; j < ni; j++) {
            int64_t v = ind->dtype == NOVA_NN_INT64 ? ((const int64_t *)iv)[j]
                                                    : ((const int32_t *)iv)[j];
            if (v < 0)
                v += dim;
            if (v < 0 || v >= dim) {
                memset(out + (o * ni + j) * inner, 0, inner);
                continue; /* run-time index out of range: zeros */
            }
            memcpy(out + (o * ni + j) * inner,
                   in + (o * (size_t)dim + (size_t)v) * inner, inner);
        }
}

/* ------------------------------------------------------------ Pad */

typedef struct {
    int mode; /* 0 constant, 1 reflect, 2 edge */
    int64_t pads[2 * NOVA_NN_MAX_RANK];
    double value;
} PadParams;

static bool infer_pad(NovaError **error, NnGraph *g, NnNode *node)
{
    NnValue *x = nn_in(g, node, 0);
    PadParams *p = params_alloc(error, node, sizeof *p);
    if (!p)
        return false;
    const char *mode = nova__nn_attr_string(node, "mode", "constant");
    p->mode = !strcmp(mode, "constant")  ? 0
              : !strcmp(mode, "reflect") ? 1
              : !strcmp(mode, "edge")    ? 2
                                         : -1;
    if (p->mode < 0)
        return ERR(NOVA_ERROR_UNSUPPORTED, "mode '%s'", mode);
    int n;
    if (!nova__nn_const_ints(error, g, node, 1, p->pads, 2 * NOVA_NN_MAX_RANK,
                             &n))
        return false;
    if (n != 2 * x->rank)
        return ERR(NOVA_ERROR_INVALID, "%d pads for rank %d", n, x->rank);
    for (int i = 0; i < n; i++)
        if (p->pads[i] < -NN_MAX_DIM || p->pads[i] > NN_MAX_DIM)
            return ERR(NOVA_ERROR_RANGE, "pad %lld out of range",
                       (long long)p->pads[i]);
    NnValue *cv = nn_in(g, node, 2);
    if (cv) {
        if (cv->kind != NN_VALUE_CONST || cv->dtype != x->dtype)
            return ERR(NOVA_ERROR_UNSUPPORTED, "constant_value must be a "
                                               "constant of the input type");
        if (x->dtype == NOVA_NN_FLOAT32)
            p->value = *(float *)cv->data;
        else if (x->dtype == NOVA_NN_INT64)
            p->value = (double)*(int64_t *)cv->data;
        else
            return ERR(NOVA_ERROR_UNSUPPORTED, "constant_value type");
    }
    if (x->dtype != NOVA_NN_FLOAT32 && x->dtype != NOVA_NN_INT64 &&
        x->dtype != NOVA_NN_INT32)
        return ERR(NOVA_ERROR_UNSUPPORTED, "type %s",
                   nova_nn_dtype_name(x->dtype));
    int64_t d[NOVA_NN_MAX_RANK];
    for (int i = 0; i < x->rank; i++) {
        d[i] = x->dims[i] + p->pads[i] + p->pads[i + x->rank];
        if (d[i] < 0)
            return ERR(NOVA_ERROR_INVALID, "negative output dim");
        if (p->mode == 1 &&
            (p->pads[i] >= x->dims[i] || p->pads[i + x->rank] >= x->dims[i]))
            return ERR(NOVA_ERROR_INVALID, "reflect pad larger than dim");
        if (p->mode != 0 && x->dims[i] == 0 && d[i] > 0)
            return ERR(NOVA_ERROR_INVALID, "cannot pad an empty dim");
    }
    return nova__nn_set_shape(error, g, node, 0, x->dtype, x->rank, d);
}

static void run_pad(NnExec *ex, NnNode *node)
{
    const PadParams *p = node->params;
    NnValue *x = nn_in(ex->graph, node, 0), *y = nn_out(ex->graph, node, 0);
    int r = x->rank;
    size_t esize = nova_nn_dtype_size(x->dtype);
    size_t st[NOVA_NN_MAX_RANK], s = 1;
    for (int i = r - 1; i >= 0; i--) {
        st[i] = s;
        s *= (size_t)x->dims[i];
    }
    const uint8_t *in = nn_ptr(ex, node->inputs[0]);
    uint8_t *out = nn_ptr(ex, node->outputs[0]);
    size_t n = nn_value_count(y);
    int64_t idx[NOVA_NN_MAX_RANK] = {0};
    float fv = (float)p->value;
    int64_t iv = (int64_t)p->value;
    int32_t i32 = (int32_t)p->value;
    for (size_t o = 0; o < n; o++) {
        bool outside = false;
        size_t src = 0;
        for (int i = 0; i < r; i++) {
            int64_t c = idx[i] - p->pads[i], dim = x->dims[i];
            if (c < 0 || c >= dim) {
                if (p->mode == 0)
                    outside = true;
                else if (p->mode == 1) /* reflect without edge repeat */
                    c = c < 0 ? -c : 2 * (dim - 1) - c;
                else
                    c = c < 0 ? 0 : dim - 1;
            }
            src += (size_t)c * st[i];
        }
        if (outside) {
            if (x->dtype == NOVA_NN_FLOAT32)
                memcpy(out + o * esize, &fv, 4);
            else if (x->dtype == NOVA_NN_INT64)
                memcpy(out + o * esize, &iv, 8);
            else
                memcpy(out + o * esize, &i32, 4);
        } else {
            memcpy(out + o * esize, in + src * esize, esize);
        }
        for (int i = r - 1; i >= 0; i--) {
            if (++idx[i] < y->dims[i])
                break;
            idx[i] = 0;
        }
    }
}

/* ------------------------------------------------------------ Cast */

static bool infer_cast(NovaError **error, NnGraph *g, NnNode *node)
{
    NnValue *x = nn_in(g, node, 0);
    NovaNnDtype to = (NovaNnDtype)nova__nn_attr_int(node, "to", 0);
    NovaNnDtype ok[] = {NOVA_NN_FLOAT32, NOVA_NN_INT64, NOVA_NN_INT32,
                        NOVA_NN_FLOAT64, NOVA_NN_BOOL,  NOVA_NN_UINT8,
                        NOVA_NN_INT8};
    bool from_ok = false, to_ok = false;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        from_ok |= x->dtype == ok[i];
        to_ok |= to == ok[i];
    }
    if (!from_ok || !to_ok)
        return ERR(NOVA_ERROR_UNSUPPORTED, "cast from %s to %s",
                   nova_nn_dtype_name(x->dtype), nova_nn_dtype_name(to));
    return nova__nn_set_shape(error, g, node, 0, to, x->rank, x->dims);
}

static double load_num(const void *p, NovaNnDtype t, size_t i)
{
    switch (t) {
    case NOVA_NN_FLOAT32: return ((const float *)p)[i];
    case NOVA_NN_FLOAT64: return ((const double *)p)[i];
    default: return (double)load_int(p, t, i);
    }
}

static void run_cast(NnExec *ex, NnNode *node)
{
    NnValue *x = nn_in(ex->graph, node, 0), *y = nn_out(ex->graph, node, 0);
    const void *in = nn_ptr(ex, node->inputs[0]);
    void *out = nn_ptr(ex, node->outputs[0]);
    size_t n = nn_value_count(x);
    for (size_t i = 0; i < n; i++) {
        /* Integer sources go straight to int64 so large values keep
         * their bits. */
        if (x->dtype == NOVA_NN_INT64 && y->dtype == NOVA_NN_INT32) {
            ((int32_t *)out)[i] = (int32_t)((const int64_t *)in)[i];
            continue;
        }
        if (x->dtype == NOVA_NN_INT64 && y->dtype == NOVA_NN_INT64) {
            ((int64_t *)out)[i] = ((const int64_t *)in)[i];
            continue;
        }
        double v = load_num(in, x->dtype, i);
        switch (y->dtype) {
        case NOVA_NN_FLOAT32: ((float *)out)[i] = (float)v; break;
        case NOVA_NN_FLOAT64: ((double *)out)[i] = v; break;
        case NOVA_NN_INT64:
            ((int64_t *)out)[i] = x->dtype == NOVA_NN_INT32
                                      ? ((const int32_t *)in)[i]
                                      : (int64_t)v;
            break;
        case NOVA_NN_INT32: ((int32_t *)out)[i] = (int32_t)v; break;
        case NOVA_NN_INT8: ((int8_t *)out)[i] = (int8_t)v; break;
        case NOVA_NN_BOOL: ((uint8_t *)out)[i] = v != 0.0; break;
        default: ((uint8_t *)out)[i] = (uint8_t)v; break;
        }
    }
}

/* ------------------------------------------------------------ table */

bool nova__nn_infer_conv(NovaError **, NnGraph *, NnNode *);
void nova__nn_run_conv(NnExec *, NnNode *);
bool nova__nn_infer_conv_transpose(NovaError **, NnGraph *, NnNode *);
void nova__nn_run_conv_transpose(NnExec *, NnNode *);
bool nova__nn_infer_pool(NovaError **, NnGraph *, NnNode *);
void nova__nn_run_pool(NnExec *, NnNode *);
bool nova__nn_infer_global_pool(NovaError **, NnGraph *, NnNode *);
void nova__nn_run_global_pool(NnExec *, NnNode *);
bool nova__nn_infer_gemm(NovaError **, NnGraph *, NnNode *);
void nova__nn_run_gemm(NnExec *, NnNode *);
bool nova__nn_infer_matmul(NovaError **, NnGraph *, NnNode *);
void nova__nn_run_matmul(NnExec *, NnNode *);
bool nova__nn_infer_batchnorm(NovaError **, NnGraph *, NnNode *);
void nova__nn_run_batchnorm(NnExec *, NnNode *);
bool nova__nn_infer_instancenorm(NovaError **, NnGraph *, NnNode *);
void nova__nn_run_instancenorm(NnExec *, NnNode *);
bool nova__nn_infer_softmax(NovaError **, NnGraph *, NnNode *);
void nova__nn_run_softmax(NnExec *, NnNode *);
bool nova__nn_infer_reduce(NovaError **, NnGraph *, NnNode *);
void nova__nn_run_reduce(NnExec *, NnNode *);
bool nova__nn_infer_argmax(NovaError **, NnGraph *, NnNode *);
void nova__nn_run_argmax(NnExec *, NnNode *);
bool nova__nn_infer_resize(NovaError **, NnGraph *, NnNode *);
void nova__nn_run_resize(NnExec *, NnNode *);

static const NnOpDef ops[] = {
    {"Add", 2, 2, 1, 1, infer_binary, run_binary, false},
    {"Sub", 2, 2, 1, 1, infer_binary, run_binary, false},
    {"Mul", 2, 2, 1, 1, infer_binary, run_binary, false},
    {"Div", 2, 2, 1, 1, infer_binary, run_binary, false},
    {"Pow", 2, 2, 1, 1, infer_binary, run_binary, false},
    {"PRelu", 2, 2, 1, 1, infer_binary, run_binary, false},
    {"Relu", 1, 1, 1, 1, infer_unary, run_unary, false},
    {"LeakyRelu", 1, 1, 1, 1, infer_unary, run_unary, false},
    {"Sigmoid", 1, 1, 1, 1, infer_unary, run_unary, false},
    {"HardSigmoid", 1, 1, 1, 1, infer_unary, run_unary, false},
    {"Tanh", 1, 1, 1, 1, infer_unary, run_unary, false},
    {"Elu", 1, 1, 1, 1, infer_unary, run_unary, false},
    {"Selu", 1, 1, 1, 1, infer_unary, run_unary, false},
    {"Gelu", 1, 1, 1, 1, infer_unary, run_unary, false},
    {"Erf", 1, 1, 1, 1, infer_unary, run_unary, false},
    {"Sqrt", 1, 1, 1, 1, infer_unary, run_unary, false},
    {"Exp", 1, 1, 1, 1, infer_unary, run_unary, false},
    {"Log", 1, 1, 1, 1, infer_unary, run_unary, false},
    {"Neg", 1, 1, 1, 1, infer_unary, run_unary, false},
    {"Abs", 1, 1, 1, 1, infer_unary, run_unary, false},
    {"Floor", 1, 1, 1, 1, infer_unary, run_unary, false},
    {"Ceil", 1, 1, 1, 1, infer_unary, run_unary, false},
    {"Reciprocal", 1, 1, 1, 1, infer_unary, run_unary, false},
    {"Softplus", 1, 1, 1, 1, infer_unary, run_unary, false},
    {"Clip", 1, 3, 1, 1, infer_unary, run_unary, false},
    {"Identity", 1, 1, 1, 1, infer_identity, run_copy, true},
    {"Dropout", 1, 3, 1, 2, infer_identity, run_copy, true},
    {"Reshape", 2, 2, 1, 1, infer_reshape, run_copy, true},
    {"Flatten", 1, 1, 1, 1, infer_flatten, run_copy, true},
    {"Squeeze", 1, 2, 1, 1, infer_squeeze, run_copy, true},
    {"Unsqueeze", 1, 2, 1, 1, infer_unsqueeze, run_copy, true},
    {"Shape", 1, 1, 1, 1, infer_shape_op, run_nothing, false},
    {"Concat", 1, 1024, 1, 1, infer_concat, run_concat, false},
    {"Split", 1, 2, 1, 64, infer_split, run_split, false},
    {"Transpose", 1, 1, 1, 1, infer_transpose, run_transpose, false},
    {"Slice", 3, 5, 1, 1, infer_slice, run_slice, false},
    {"Gather", 2, 2, 1, 1, infer_gather, run_gather, false},
    {"Pad", 2, 3, 1, 1, infer_pad, run_pad, false},
    {"Cast", 1, 1, 1, 1, infer_cast, run_cast, false},
    {"Conv", 2, 3, 1, 1, nova__nn_infer_conv, nova__nn_run_conv, false},
    {"ConvTranspose", 2, 3, 1, 1, nova__nn_infer_conv_transpose,
     nova__nn_run_conv_transpose, false},
    {"MaxPool", 1, 1, 1, 2, nova__nn_infer_pool, nova__nn_run_pool, false},
    {"AveragePool", 1, 1, 1, 1, nova__nn_infer_pool, nova__nn_run_pool, false},
    {"GlobalAveragePool", 1, 1, 1, 1, nova__nn_infer_global_pool,
     nova__nn_run_global_pool, false},
    {"GlobalMaxPool", 1, 1, 1, 1, nova__nn_infer_global_pool,
     nova__nn_run_global_pool, false},
    {"Gemm", 2, 3, 1, 1, nova__nn_infer_gemm, nova__nn_run_gemm, false},
    {"MatMul", 2, 2, 1, 1, nova__nn_infer_matmul, nova__nn_run_matmul, false},
    {"BatchNormalization", 5, 5, 1, 3, nova__nn_infer_batchnorm,
     nova__nn_run_batchnorm, false},
    {"InstanceNormalization", 3, 3, 1, 1, nova__nn_infer_instancenorm,
     nova__nn_run_instancenorm, false},
    {"GroupNormalization", 3, 3, 1, 1, nova__nn_infer_instancenorm,
     nova__nn_run_instancenorm, false},
    {"Softmax", 1, 1, 1, 1, nova__nn_infer_softmax, nova__nn_run_softmax,
     false},
    {"LogSoftmax", 1, 1, 1, 1, nova__nn_infer_softmax, nova__nn_run_softmax,
     false},
    {"ReduceMean", 1, 2, 1, 1, nova__nn_infer_reduce, nova__nn_run_reduce,
     false},
    {"ReduceMax", 1, 2, 1, 1, nova__nn_infer_reduce, nova__nn_run_reduce,
     false},
    {"ReduceSum", 1, 2, 1, 1, nova__nn_infer_reduce, nova__nn_run_reduce,
     false},
    {"ArgMax", 1, 1, 1, 1, nova__nn_infer_argmax, nova__nn_run_argmax, false},
    {"Resize", 1, 4, 1, 1, nova__nn_infer_resize, nova__nn_run_resize, false},
    {"Upsample", 2, 2, 1, 1, nova__nn_infer_resize, nova__nn_run_resize, false},
};

const NnOpDef *nova__nn_find_op(const char *op_type)
{
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(ops[i].op_type, op_type) == 0)
            return &ops[i];
    return NULL;
}
