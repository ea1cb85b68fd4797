/*
 * onnx_load.c - ONNX model files into Nova's graph (nn_internal.h).
 *
 * The protobuf is decoded by protobuf-c with code generated at build time
 * from the onnx.proto that Debian's libonnx-dev installs (ONNX IR spec,
 * onnx/onnx.proto).  Allocation goes through nova_malloc so failures can
 * be injected.  The loader resolves names to value indices, turns
 * initializers and Constant nodes into constant values, sorts nodes
 * topologically (the IR requires sorted nodes, but a cycle or an unsorted
 * graph must give an error, not a hang), and checks op names and arity
 * against the op table.  Shapes are checked later, when a session is made.
 */
#include "nn_internal.h"

#include "onnx.pb-c.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

struct NovaNnModel {
    NnGraph *graph;
    NovaNnTensor *inputs; /* views for the public getters */
    NovaNnTensor *outputs;
};

/* ------------------------------------------------------------ graph utils */

NnGraph *nova__nn_graph_create(NovaError **error, const char *model_name)
{
    NnGraph *g = nova_calloc(error, 1, sizeof *g);
    if (!g)
        return NULL;
    g->model_name = nova_strdup(error, model_name ? model_name : "model");
    if (!g->model_name) {
        nova_free(g);
        return NULL;
    }
    return g;
}

static void free_attrs(NnAttr *attrs, int n)
{
    for (int i = 0; i < n; i++) {
        nova_free(attrs[i].name);
        nova_free(attrs[i].s);
        nova_free(attrs[i].ints);
        nova_free(attrs[i].floats);
        nova_nn_tensor_free(attrs[i].tensor);
    }
    nova_free(attrs);
}

void nova__nn_graph_destroy(NnGraph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n_values; i++) {
        nova_free(g->values[i].name);
        if (g->values[i].owns_data)
            nova_free(g->values[i].data);
    }
    for (int i = 0; i < g->n_nodes; i++) {
        NnNode *n = &g->nodes[i];
        nova_free(n->name);
        nova_free(n->op_type);
        nova_free(n->inputs);
        nova_free(n->outputs);
        free_attrs(n->attrs, n->n_attrs);
        nova_free(n->params);
    }
    nova_free(g->values);
    nova_free(g->nodes);
    nova_free(g->inputs);
    nova_free(g->outputs);
    nova_free(g->model_name);
    nova_free(g);
}

int nova__nn_graph_add_value(NovaError **error, NnGraph *g, const char *name)
{
    if (g->n_values == g->cap_values) {
        int cap = g->cap_values ? g->cap_values * 2 : 64;
        NnValue *v = nova_realloc(error, g->values, (size_t)cap * sizeof *v);
        if (!v)
            return -1;
        g->values = v;
        g->cap_values = cap;
    }
    NnValue *v = &g->values[g->n_values];
    memset(v, 0, sizeof *v);
    v->producer = -1;
    v->name = nova_strdup(error, name ? name : "");
    if (!v->name)
        return -1;
    return g->n_values++;
}

int nova__nn_graph_find_value(const NnGraph *g, const char *name)
{
    /* Linear search is only used by the API and tests; the loader keeps
     * its own hash of names. */
    for (int i = 0; i < g->n_values; i++)
        if (strcmp(g->values[i].name, name) == 0)
            return i;
    return -1;
}

NnNode *nova__nn_graph_add_node(NovaError **error, NnGraph *g)
{
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? g->cap_nodes * 2 : 64;
        NnNode *n = nova_realloc(error, g->nodes, (size_t)cap * sizeof *n);
        if (!n)
            return NULL;
        g->nodes = n;
        g->cap_nodes = cap;
    }
    NnNode *n = &g->nodes[g->n_nodes++];
    memset(n, 0, sizeof *n);
    n->residual = -1;
    return n;
}

static int *copy_ints(NovaError **error, const int *src, int n)
{
    int *dst = nova_malloc_array(error, n > 0 ? (size_t)n : 1, sizeof(int));
    if (dst && n > 0)
        memcpy(dst, src, (size_t)n * sizeof(int));
    return dst;
}

static bool copy_attr(NovaError **error, NnAttr *dst, const NnAttr *src)
{
    *dst = *src;
    dst->name = NULL;
    dst->s = NULL;
    dst->ints = NULL;
    dst->floats = NULL;
    dst->tensor = NULL;
    if (!(dst->name = nova_strdup(error, src->name)))
        return false;
    if (src->s && !(dst->s = nova_strdup(error, src->s)))
        return false;
    if (src->ints) {
        dst->ints = nova_malloc_array(error, src->n ? src->n : 1, 8);
        if (!dst->ints)
            return false;
        memcpy(dst->ints, src->ints, src->n * 8);
    }
    if (src->floats) {
        dst->floats = nova_malloc_array(error, src->n ? src->n : 1, 4);
        if (!dst->floats)
            return false;
        memcpy(dst->floats, src->floats, src->n * 4);
    }
    /* Tensor attributes are consumed by the loader (Constant); none
     * remain on nodes. */
    return true;
}

NnGraph *nova__nn_graph_copy(NovaError **error, const NnGraph *src)
{
    NnGraph *g = nova__nn_graph_create(error, src->model_name);
    if (!g)
        return NULL;
    g->opset = src->opset;
    for (int i = 0; i < src->n_values; i++) {
        if (nova__nn_graph_add_value(error, g, src->values[i].name) < 0)
            goto fail;
        char *name = g->values[i].name;
        g->values[i] = src->values[i];
        g->values[i].name = name;
        g->values[i].owns_data = false;
    }
    for (int i = 0; i < src->n_nodes; i++) {
        const NnNode *s = &src->nodes[i];
        NnNode *n = nova__nn_graph_add_node(error, g);
        if (!n)
            goto fail;
        n->def = s->def;
        n->n_inputs = s->n_inputs;
        n->n_outputs = s->n_outputs;
        n->residual = -1;
        if (!(n->name = nova_strdup(error, s->name)) ||
            !(n->op_type = nova_strdup(error, s->op_type)) ||
            !(n->inputs = copy_ints(error, s->inputs, s->n_inputs)) ||
            !(n->outputs = copy_ints(error, s->outputs, s->n_outputs)))
            goto fail;
        if (s->n_attrs > 0) {
            n->attrs = nova_calloc(error, (size_t)s->n_attrs, sizeof(NnAttr));
            if (!n->attrs)
                goto fail;
            for (int a = 0; a < s->n_attrs; a++) {
                n->n_attrs = a + 1;
                if (!copy_attr(error, &n->attrs[a], &s->attrs[a]))
                    goto fail;
            }
        }
    }
    if (!(g->inputs = copy_ints(error, src->inputs, src->n_inputs)) ||
        !(g->outputs = copy_ints(error, src->outputs, src->n_outputs)))
        goto fail;
    g->n_inputs = src->n_inputs;
    g->n_outputs = src->n_outputs;
    return g;
fail:
    nova__nn_graph_destroy(g);
    return NULL;
}

/* ------------------------------------------------------------ attributes */

const NnAttr *nova__nn_attr(const NnNode *node, const char *name)
{
    for (int i = 0; i < node->n_attrs; i++)
        if (strcmp(node->attrs[i].name, name) == 0)
            return &node->attrs[i];
    return NULL;
}

const NnAttr *nova__nn_attr_ints(const NnNode *node, const char *name)
{
    const NnAttr *a = nova__nn_attr(node, name);
    return a && a->type == NN_ATTR_INTS && a->ints ? a : NULL;
}

int64_t nova__nn_attr_int(const NnNode *node, const char *name, int64_t def)
{
    const NnAttr *a = nova__nn_attr(node, name);
    return a && a->type == NN_ATTR_INT ? a->i : def;
}

float nova__nn_attr_float(const NnNode *node, const char *name, float def)
{
    const NnAttr *a = nova__nn_attr(node, name);
    return a && a->type == NN_ATTR_FLOAT ? a->f : def;
}

const char *nova__nn_attr_string(const NnNode *node, const char *name,
                                 const char *def)
{
    const NnAttr *a = nova__nn_attr(node, name);
    return a && a->type == NN_ATTR_STRING && a->s ? a->s : def;
}

/* ------------------------------------------------------------ tensors */

size_t nova_nn_dtype_size(NovaNnDtype dtype)
{
    switch (dtype) {
    case NOVA_NN_FLOAT32:
    case NOVA_NN_INT32:
    case NOVA_NN_UINT32: return 4;
    case NOVA_NN_UINT8:
    case NOVA_NN_INT8:
    case NOVA_NN_BOOL: return 1;
    case NOVA_NN_UINT16:
    case NOVA_NN_INT16:
    case NOVA_NN_FLOAT16: return 2;
    case NOVA_NN_INT64:
    case NOVA_NN_FLOAT64:
    case NOVA_NN_UINT64: return 8;
    default: return 0;
    }
}

const char *nova_nn_dtype_name(NovaNnDtype dtype)
{
    switch (dtype) {
    case NOVA_NN_FLOAT32: return "float32";
    case NOVA_NN_UINT8: return "uint8";
    case NOVA_NN_INT8: return "int8";
    case NOVA_NN_UINT16: return "uint16";
    case NOVA_NN_INT16: return "int16";
    case NOVA_NN_INT32: return "int32";
    case NOVA_NN_INT64: return "int64";
    case NOVA_NN_BOOL: return "bool";
    case NOVA_NN_FLOAT16: return "float16";
    case NOVA_NN_FLOAT64: return "float64";
    case NOVA_NN_UINT32: return "uint32";
    case NOVA_NN_UINT64: return "uint64";
    default: return "unknown";
    }
}

size_t nova_nn_tensor_count(const NovaNnTensor *t)
{
    return nn_count(t->dims, t->rank);
}

NovaNnTensor *nova_nn_tensor_create(NovaError **error, NovaNnDtype dtype,
                                    int rank, const int64_t *dims)
{
    size_t esize = nova_nn_dtype_size(dtype);
    if (esize == 0)
        return (void *)(uintptr_t)nova_error_set(
            error, NOVA_ERROR_UNSUPPORTED, "unsupported type",
            "tensor type %d is not supported", (int)dtype);
    if (rank < 0 || rank > NOVA_NN_MAX_RANK)
        return (void *)(uintptr_t)nova_error_set(
            error, NOVA_ERROR_RANGE, "rank out of range",
            "tensor rank %d exceeds %d", rank, NOVA_NN_MAX_RANK);
    size_t count = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0 || dims[i] > NN_MAX_DIM ||
            !nova_size_mul(count, (size_t)dims[i], &count) ||
            count > (size_t)NN_MAX_ELEMENTS)
            return (void *)(uintptr_t)nova_error_set(
                error, NOVA_ERROR_RANGE, "size out of range",
                "tensor dim %d = %lld is negative or too large", i,
                (long long)dims[i]);
    }
    NovaNnTensor *t = nova_calloc(error, 1, sizeof *t);
    if (!t)
        return NULL;
    t->dtype = dtype;
    t->rank = rank;
    for (int i = 0; i < rank; i++)
        t->dims[i] = dims[i];
    t->data = nova_calloc(error, count ? count : 1, esize);
    if (!t->data) {
        nova_free(t);
        return NULL;
    }
    return t;
}

void nova_nn_tensor_free(NovaNnTensor *t)
{
    if (!t)
        return;
    nova_free((void *)t->name);
    nova_free(t->data);
    nova_free(t);
}

/* protobuf-c allocations through Nova's wrapper (failure injection); a
 * failure is remembered so that it is reported as NOMEM, not as a corrupt
 * file. */
static void *pb_alloc(void *data, size_t size)
{
    void *p = nova_malloc(NULL, size ? size : 1);
    if (!p)
        *(bool *)data = true;
    return p;
}

static void pb_free(void *data, void *ptr)
{
    nova_free(ptr);
}

static bool read_whole_file(NovaError **error, const char *path, uint8_t **data,
                            size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return nova_error_set(error, NOVA_ERROR_IO, "cannot open file",
                              "%s: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return nova_error_set(error, NOVA_ERROR_IO, "cannot read file",
                              "%s: not a seekable file", path);
    }
    long len = ftell(f);
    rewind(f);
    if (len < 0) {
        fclose(f);
        return nova_error_set(error, NOVA_ERROR_IO, "cannot read file",
                              "%s: %s", path, strerror(errno));
    }
    uint8_t *buf = nova_malloc(error, (size_t)len + 1);
    if (!buf) {
        fclose(f);
        return false;
    }
    if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
        nova_free(buf);
        fclose(f);
        return nova_error_set(error, NOVA_ERROR_IO, "cannot read file",
                              "%s: short read", path);
    }
    fclose(f);
    *data = buf;
    *size = (size_t)len;
    return true;
}

/* External data (ONNX IR: TensorProto.external_data with keys location,
 * offset, length): read from base_dir/location.  The location must be a
 * relative path without "..", so a model cannot read files outside its
 * folder. */
static bool read_external(NovaError **error, const Onnx__TensorProto *p,
                          const char *base_dir, size_t nbytes, void *dst)
{
    const char *location = NULL;
    long long offset = 0, length = -1;
    for (size_t i = 0; i < p->n_external_data; i++) {
        const char *k = p->external_data[i]->key;
        const char *v = p->external_data[i]->value;
        if (!k || !v)
            continue;
        if (strcmp(k, "location") == 0)
            location = v;
        else if (strcmp(k, "offset") == 0)
            offset = strtoll(v, NULL, 10);
        else if (strcmp(k, "length") == 0)
            length = strtoll(v, NULL, 10);
    }
    if (!base_dir)
        return nova_error_set(error, NOVA_ERROR_UNSUPPORTED, "external data",
                              "tensor '%s': external data "
                              "needs a model loaded from a file",
                              p->name ? p->name : "");
    if (!location || location[0] == '/' || strstr(location, ".."))
        return nova_error_set(error, NOVA_ERROR_PARSE, "bad external data",
                              "tensor '%s': external location '%s' must be "
                              "a relative path inside the model folder",
                              p->name ? p->name : "",
                              location ? location : "(none)");
    if (offset < 0 || (length >= 0 && (size_t)length != nbytes))
        return nova_error_set(error, NOVA_ERROR_PARSE, "bad external data",
                              "tensor '%s': external offset %lld / length "
                              "%lld do not match %zu bytes",
                              p->name ? p->name : "", offset, length, nbytes);
    char *path = nova_strdup_printf(error, "%s/%s", base_dir, location);
    if (!path)
        return false;
    FILE *f = fopen(path, "rb");
    bool ok = f && fseek(f, (long)offset, SEEK_SET) == 0 &&
              fread(dst, 1, nbytes, f) == nbytes;
    if (!ok)
        nova_error_set(error, NOVA_ERROR_IO, "cannot read external data",
                       "tensor '%s': %zu bytes at offset %lld of %s",
                       p->name ? p->name : "", nbytes, offset, path);
    if (f)
        fclose(f);
    nova_free(path);
    return ok;
}

bool nova__nn_tensor_from_proto(NovaError **error, const Onnx__TensorProto *p,
                                const char *base_dir, NovaNnTensor *out)
{
    const char *name = p->name ? p->name : "";
    memset(out, 0, sizeof *out);
    NovaNnDtype dtype = (NovaNnDtype)p->data_type;
    size_t esize = nova_nn_dtype_size(dtype);
    if (esize == 0)
        return nova_error_set(error, NOVA_ERROR_UNSUPPORTED, "unsupported type",
                              "tensor '%s': data type %d is not supported",
                              name, (int)p->data_type);
    if (p->n_dims > NOVA_NN_MAX_RANK)
        return nova_error_set(error, NOVA_ERROR_RANGE, "rank out of range",
                              "tensor '%s': rank %zu exceeds %d", name,
                              p->n_dims, NOVA_NN_MAX_RANK);
    size_t count = 1;
    for (size_t i = 0; i < p->n_dims; i++) {
        if (p->dims[i] < 0 || p->dims[i] > NN_MAX_DIM ||
            !nova_size_mul(count, (size_t)p->dims[i], &count) ||
            count > (size_t)NN_MAX_ELEMENTS)
            return nova_error_set(error, NOVA_ERROR_RANGE, "huge tensor",
                                  "tensor '%s': dim %zu = %lld is negative "
                                  "or beyond limits",
                                  name, i, (long long)p->dims[i]);
        out->dims[i] = p->dims[i];
    }
    out->rank = (int)p->n_dims;
    out->dtype = dtype;
    size_t nbytes = count * esize;
    uint8_t *data = nova_malloc(error, nbytes ? nbytes : 1);
    if (!data)
        return false;
    bool ok = true;
    size_t have = 0;
    const char *field = "";
    if (p->has_data_location &&
        p->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        ok = read_external(error, p, base_dir, nbytes, data);
        have = count;
        field = "external";
    } else if (p->has_raw_data) {
        field = "raw_data";
        if (p->raw_data.len != nbytes)
            have = p->raw_data.len / esize + (p->raw_data.len % esize != 0);
        else {
            /* ONNX IR: raw_data is little-endian, which x86 and arm64
             * hosts are. */
            if (nbytes)
                memcpy(data, p->raw_data.data, nbytes);
            have = count;
        }
        if (p->raw_data.len != nbytes)
            have = (size_t)-1;
    } else {
        switch (dtype) {
        case NOVA_NN_FLOAT32:
            field = "float_data";
            have = p->n_float_data;
            if (have == count && nbytes)
                memcpy(data, p->float_data, nbytes);
            break;
        case NOVA_NN_INT64:
            field = "int64_data";
            have = p->n_int64_data;
            if (have == count && nbytes)
                memcpy(data, p->int64_data, nbytes);
            break;
        case NOVA_NN_FLOAT64:
            field = "double_data";
            have = p->n_double_data;
            if (have == count && nbytes)
                memcpy(data, p->double_data, nbytes);
            break;
        case NOVA_NN_UINT32:
        case NOVA_NN_UINT64:
            field = "uint64_data";
            have = p->n_uint64_data;
            if (have == count)
                for (size_t i = 0; i < count; i++) {
                    if (dtype == NOVA_NN_UINT32)
                        ((uint32_t *)data)[i] = (uint32_t)p->uint64_data[i];
                    else
                        ((uint64_t *)data)[i] = p->uint64_data[i];
                }
            break;
        default:
            /* int32_data carries INT32, INT16, INT8, UINT16, UINT8, BOOL
             * and FLOAT16 (bits), one element per entry (onnx.proto). */
            field = "int32_data";
            have = p->n_int32_data;
            if (have == count)
                for (size_t i = 0; i < count; i++) {
                    int32_t v = p->int32_data[i];
                    switch (esize) {
                    case 1: data[i] = (uint8_t)v; break;
                    case 2: ((uint16_t *)data)[i] = (uint16_t)v; break;
                    default: ((int32_t *)data)[i] = v; break;
                    }
                }
            break;
        }
    }
    if (ok && have != count) {
        ok = nova_error_set(error, NOVA_ERROR_PARSE, "tensor size mismatch",
                            "tensor '%s': %s holds %s elements, dims say %zu",
                            name, field,
                            have == (size_t)-1 ? "a different number of"
                                               : "too few or too many",
                            count);
    }
    if (!ok) {
        nova_free(data);
        return false;
    }
    out->data = data;
    return true;
}

NovaNnTensor *nova_nn_tensor_read_pb(NovaError **error, const char *path)
{
    uint8_t *bytes;
    size_t size;
    if (!read_whole_file(error, path, &bytes, &size))
        return NULL;
    bool oom = false;
    ProtobufCAllocator pb_allocator = {pb_alloc, pb_free, &oom};
    Onnx__TensorProto *p =
        onnx__tensor_proto__unpack(&pb_allocator, size, bytes);
    nova_free(bytes);
    if (!p && oom) {
        nova_error_set(error, NOVA_ERROR_NOMEM, "out of memory",
                       "%s: out of memory decoding the protobuf", path);
        return NULL;
    }
    if (!p) {
        nova_error_set(error, NOVA_ERROR_PARSE, "not a TensorProto",
                       "%s: not a valid ONNX TensorProto (truncated or "
                       "corrupt)",
                       path);
        return NULL;
    }
    NovaNnTensor *t = nova_calloc(error, 1, sizeof *t);
    if (t && !nova__nn_tensor_from_proto(error, p, NULL, t)) {
        nova_free(t);
        t = NULL;
    }
    if (t && p->name && !(t->name = nova_strdup(error, p->name))) {
        nova_nn_tensor_free(t);
        t = NULL;
    }
    if (!t)
        nova_error_prefix(error, "%s: ", path);
    onnx__tensor_proto__free_unpacked(p, &pb_allocator);
    return t;
}

/* ------------------------------------------------------------ loading */

/* Name -> value index, open addressing (models have up to ~10^4 names). */
typedef struct {
    int *slots;
    size_t cap;
} NameMap;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static int name_lookup(const NnGraph *g, const NameMap *m, const char *name)
{
    size_t i = hash_str(name) & (m->cap - 1);
    while (m->slots[i] >= 0) {
        if (strcmp(g->values[m->slots[i]].name, name) == 0)
            return m->slots[i];
        i = (i + 1) & (m->cap - 1);
    }
    return -1;
}

static void name_insert(const NnGraph *g, NameMap *m, int value)
{
    size_t i = hash_str(g->values[value].name) & (m->cap - 1);
    while (m->slots[i] >= 0)
        i = (i + 1) & (m->cap - 1);
    m->slots[i] = value;
}

static int value_for(NovaError **error, NnGraph *g, NameMap *m,
                     const char *name)
{
    int v = name_lookup(g, m, name);
    if (v >= 0)
        return v;
    v = nova__nn_graph_add_value(error, g, name);
    if (v >= 0)
        name_insert(g, m, v);
    return v;
}

static bool convert_attr(NovaError **error, const Onnx__AttributeProto *a,
                         NnAttr *dst, const char *base_dir)
{
    memset(dst, 0, sizeof *dst);
    if (!(dst->name = nova_strdup(error, a->name ? a->name : "")))
        return false;
    dst->type = (NnAttrType)a->type;
    switch (a->type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT:
        dst->f = a->f;
        return true;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: dst->i = a->i; return true;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING:
        /* A STRING attribute without its s field has no data pointer. */
        dst->s = a->s.data
                     ? nova_strndup(error, (const char *)a->s.data, a->s.len)
                     : nova_strdup(error, "");
        return dst->s != NULL;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
        dst->n = a->n_ints;
        dst->ints = nova_malloc_array(error, a->n_ints ? a->n_ints : 1, 8);
        if (!dst->ints)
            return false;
        if (a->n_ints)
            memcpy(dst->ints, a->ints, a->n_ints * 8);
        return true;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
        dst->n = a->n_floats;
        dst->floats =
            nova_malloc_array(error, a->n_floats ? a->n_floats : 1, 4);
        if (!dst->floats)
            return false;
        if (a->n_floats)
            memcpy(dst->floats, a->floats, a->n_floats * 4);
        return true;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR:
        if (!a->t)
            return nova_error_set(error, NOVA_ERROR_PARSE, "bad attribute",
                                  "attribute '%s' has no tensor", dst->name);
        dst->tensor = nova_calloc(error, 1, sizeof *dst->tensor);
        if (!dst->tensor)
            return false;
        if (!nova__nn_tensor_from_proto(error, a->t, base_dir, dst->tensor)) {
            nova_free(dst->tensor);
            dst->tensor = NULL;
            return false;
        }
        return true;
    default:
        return nova_error_set(error, NOVA_ERROR_UNSUPPORTED,
                              "unsupported attribute",
                              "attribute '%s' of type %d (graphs, strings, "
                              "sparse tensors) is not supported",
                              dst->name, (int)a->type);
    }
}

/* Constant (ONNX operators: Constant-13): exactly one of value,
 * value_float, value_floats, value_int, value_ints becomes the tensor. */
static bool constant_value(NovaError **error, NnNode *node, NnValue *out)
{
    if (node->n_attrs != 1)
        return nova__nn_node_error(error, node, NOVA_ERROR_INVALID,
                                   "Constant needs exactly one attribute");
    NnAttr *a = &node->attrs[0];
    NovaNnTensor t = {0};
    if (strcmp(a->name, "value") == 0 && a->tensor) {
        t = *a->tensor;
        nova_free(a->tensor); /* the data moves into the value */
        a->tensor = NULL;
    } else if (strcmp(a->name, "value_float") == 0 ||
               strcmp(a->name, "value_int") == 0) {
        bool is_f = a->type == NN_ATTR_FLOAT;
        t.dtype = is_f ? NOVA_NN_FLOAT32 : NOVA_NN_INT64;
        t.data = nova_malloc(error, 8);
        if (!t.data)
            return false;
        if (is_f)
            *(float *)t.data = a->f;
        else
            *(int64_t *)t.data = a->i;
    } else if (strcmp(a->name, "value_floats") == 0 ||
               strcmp(a->name, "value_ints") == 0) {
        bool is_f = a->type == NN_ATTR_FLOATS;
        t.dtype = is_f ? NOVA_NN_FLOAT32 : NOVA_NN_INT64;
        t.rank = 1;
        t.dims[0] = (int64_t)a->n;
        t.data = nova_malloc(error, a->n ? a->n * 8 : 8);
        if (!t.data)
            return false;
        if (a->n)
            memcpy(t.data, is_f ? (void *)a->floats : (void *)a->ints,
                   a->n * (is_f ? 4 : 8));
    } else {
        return nova__nn_node_error(error, node, NOVA_ERROR_UNSUPPORTED,
                                   "Constant attribute '%s' is not supported",
                                   a->name);
    }
    out->kind = NN_VALUE_CONST;
    out->dtype = t.dtype;
    out->rank = t.rank;
    memcpy(out->dims, t.dims, sizeof out->dims);
    out->shape_known = true;
    out->data = t.data;
    out->owns_data = true;
    return true;
}

/* Ops whose form before opset 11 differs from what the kernels implement
 * (ONNX Changelog.md): Pad-2 and Clip-6 take attributes instead of inputs,
 * Slice-1 attributes, Resize-10 has no roi input, Upsample-7 a scales
 * attribute. */
static const char *old_form_refused(const NnNode *node, int64_t opset)
{
    /* The opset from which each op has the form implemented here; ops not
     * listed since opset 7 (broadcasting Add/Mul, no consumed_inputs). */
    static const struct {
        const char *op;
        int64_t since;
    } changed[] = {{"Pad", 11},
                   {"Clip", 11},
                   {"Slice", 10},
                   {"Resize", 11},
                   {"Conv", 1},
                   {"GlobalAveragePool", 1},
                   {"GlobalMaxPool", 1},
                   {"Elu", 6},
                   {"Relu", 6},
                   {"LeakyRelu", 6},
                   {"Sigmoid", 6},
                   {"Tanh", 6},
                   {"InstanceNormalization", 6},
                   {"Softmax", 1},
                   {"Transpose", 1},
                   {"Flatten", 1},
                   {"Concat", 4},
                   {"Reshape", 5},
                   {"Gather", 1},
                   {"Shape", 1},
                   {"Squeeze", 1},
                   {"Unsqueeze", 1},
                   {"Split", 2},
                   {"Identity", 1},
                   {"MaxPool", 1},
                   {"AveragePool", 7}};
    int64_t since = 7;
    for (size_t i = 0; i < sizeof changed / sizeof changed[0]; i++)
        if (strcmp(node->op_type, changed[i].op) == 0)
            since = changed[i].since;
    if (opset < since)
        return "this op's form before that opset is not supported";
    if (strcmp(node->op_type, "Upsample") == 0 && nova__nn_attr(node, "scales"))
        return "Upsample-7 (scales attribute) is not supported";
    return NULL;
}

/* Kahn's algorithm over producer/consumer edges; an error names a node on
 * a cycle when some nodes never become ready. */
static bool sort_nodes(NovaError **error, NnGraph *g)
{
    int n = g->n_nodes;
    if (n == 0)
        return true;
    int *pending = nova_calloc(error, (size_t)n, sizeof(int));
    int *order = nova_malloc_array(error, (size_t)n, sizeof(int));
    int *ready = nova_malloc_array(error, (size_t)n, sizeof(int));
    NnNode *sorted = nova_malloc_array(error, (size_t)n, sizeof(NnNode));
    /* consumers: CSR over values */
    int *start = nova_calloc(error, (size_t)g->n_values + 1, sizeof(int));
    int n_edges = 0;
    for (int i = 0; i < n; i++)
        n_edges += g->nodes[i].n_inputs;
    int *cons =
        nova_malloc_array(error, (size_t)(n_edges ? n_edges : 1), sizeof(int));
    bool ok = false;
    if (!pending || !order || !ready || !sorted || !start || !cons)
        goto done;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < g->nodes[i].n_inputs; k++) {
            int v = g->nodes[i].inputs[k];
            if (v >= 0 && g->values[v].producer >= 0) {
                start[v + 1]++;
                pending[i]++;
            }
        }
    for (int v = 0; v < g->n_values; v++)
        start[v + 1] += start[v];
    {
        int *fill =
            nova_malloc_array(error, (size_t)g->n_values + 1, sizeof(int));
        if (!fill)
            goto done;
        memcpy(fill, start, ((size_t)g->n_values + 1) * sizeof(int));
        for (int i = 0; i < n; i++)
            for (int k = 0; k < g->nodes[i].n_inputs; k++) {
                int v = g->nodes[i].inputs[k];
                if (v >= 0 && g->values[v].producer >= 0)
                    cons[fill[v]++] = i;
            }
        nova_free(fill);
    }
    int head = 0, tail = 0, done_count = 0;
    for (int i = 0; i < n; i++)
        if (pending[i] == 0)
            ready[tail++] = i;
    while (head < tail) {
        int i = ready[head++];
        order[done_count++] = i;
        for (int k = 0; k < g->nodes[i].n_outputs; k++) {
            int v = g->nodes[i].outputs[k];
            if (v < 0)
                continue;
            for (int c = start[v]; c < start[v + 1]; c++)
                if (--pending[cons[c]] == 0)
                    ready[tail++] = cons[c];
        }
    }
    if (done_count != n) {
        for (int i = 0; i < n; i++)
            if (pending[i] > 0) {
                nova__nn_node_error(error, &g->nodes[i], NOVA_ERROR_PARSE,
                                    "the graph has a cycle through this "
                                    "node");
                break;
            }
        goto done;
    }
    for (int i = 0; i < n; i++)
        sorted[i] = g->nodes[order[i]];
    memcpy(g->nodes, sorted, (size_t)n * sizeof(NnNode));
    for (int i = 0; i < n; i++)
        for (int k = 0; k < g->nodes[i].n_outputs; k++)
            if (g->nodes[i].outputs[k] >= 0)
                g->values[g->nodes[i].outputs[k]].producer = i;
    ok = true;
done:
    nova_free(pending);
    nova_free(order);
    nova_free(ready);
    nova_free(sorted);
    nova_free(start);
    nova_free(cons);
    return ok;
}

static bool value_info_shape(NovaError **error, const Onnx__ValueInfoProto *vi,
                             NnValue *v)
{
    const char *name = vi->name ? vi->name : "";
    if (!vi->type ||
        vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ||
        !vi->type->tensor_type)
        return nova_error_set(error, NOVA_ERROR_UNSUPPORTED,
                              "unsupported input type",
                              "'%s' is not a tensor (sequences, maps and "
                              "optionals are not supported)",
                              name);
    const Onnx__TypeProto__Tensor *tt = vi->type->tensor_type;
    v->dtype = (NovaNnDtype)tt->elem_type;
    if (nova_nn_dtype_size(v->dtype) == 0)
        return nova_error_set(error, NOVA_ERROR_UNSUPPORTED, "unsupported type",
                              "'%s': element type %d is not supported", name,
                              (int)tt->elem_type);
    if (!tt->shape) {
        v->rank = -1; /* unknown rank: the session must fix it */
        return true;
    }
    if (tt->shape->n_dim > NOVA_NN_MAX_RANK)
        return nova_error_set(error, NOVA_ERROR_RANGE, "rank out of range",
                              "'%s': rank %zu exceeds %d", name,
                              tt->shape->n_dim, NOVA_NN_MAX_RANK);
    v->rank = (int)tt->shape->n_dim;
    v->shape_known = true;
    size_t count = 1;
    for (size_t i = 0; i < tt->shape->n_dim; i++) {
        const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
        if (d->value_case ==
            ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
            if (d->dim_value < 0 || d->dim_value > NN_MAX_DIM)
                return nova_error_set(error, NOVA_ERROR_RANGE, "huge dim",
                                      "'%s': dim %zu = %lld is out of range",
                                      name, i, (long long)d->dim_value);
            v->dims[i] = d->dim_value;
            if (!nova_size_mul(count, (size_t)d->dim_value, &count) ||
                count > (size_t)NN_MAX_ELEMENTS)
                return nova_error_set(error, NOVA_ERROR_RANGE, "huge tensor",
                                      "'%s': %zu dims hold more than 2^32 "
                                      "elements",
                                      name, tt->shape->n_dim);
        } else {
            v->dims[i] = -1;
            v->shape_known = false;
        }
    }
    return true;
}

static bool build_graph(NovaError **error, NnGraph *g,
                        const Onnx__ModelProto *m, const char *base_dir)
{
    g->opset = -1;
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[i];
        const char *d = o->domain ? o->domain : "";
        if (d[0] == '\0' || strcmp(d, "ai.onnx") == 0)
            g->opset = o->version;
    }
    if (g->opset < 0 && m->n_opset_import == 0)
        g->opset = 1; /* IR: no import means opset 1 */
    /* Opsets 11-17 are the target; older models load too, node by node,
     * where the op already had today's meaning (see old_form_refused). */
    if (g->opset < 1 || g->opset > 17)
        return nova_error_set(error, NOVA_ERROR_UNSUPPORTED,
                              "unsupported opset",
                              "default-domain opset %lld is outside the "
                              "supported 1-17",
                              (long long)g->opset);
    const Onnx__GraphProto *gp = m->graph;
    if (!gp)
        return nova_error_set(error, NOVA_ERROR_PARSE, "no graph",
                              "the model has no graph");
    size_t n_names = gp->n_input + gp->n_output + gp->n_initializer + 16;
    for (size_t i = 0; i < gp->n_node; i++)
        n_names += gp->node[i]->n_input + gp->node[i]->n_output;
    NameMap map;
    map.cap = 64;
    while (map.cap < 2 * n_names)
        map.cap *= 2;
    map.slots = nova_malloc_array(error, map.cap, sizeof(int));
    if (!map.slots)
        return false;
    for (size_t i = 0; i < map.cap; i++)
        map.slots[i] = -1;
    bool ok = false;

    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *tp = gp->initializer[i];
        const char *name = tp->name ? tp->name : "";
        if (name_lookup(g, &map, name) >= 0) {
            nova_error_set(error, NOVA_ERROR_PARSE, "duplicate name",
                           "initializer '%s' is defined twice", name);
            goto done;
        }
        int v = value_for(error, g, &map, name);
        if (v < 0)
            goto done;
        NovaNnTensor t;
        if (!nova__nn_tensor_from_proto(error, tp, base_dir, &t))
            goto done;
        NnValue *val = &g->values[v];
        val->kind = NN_VALUE_CONST;
        val->dtype = t.dtype;
        val->rank = t.rank;
        memcpy(val->dims, t.dims, sizeof val->dims);
        val->shape_known = true;
        val->data = t.data;
        val->owns_data = true;
    }
    if (gp->n_sparse_initializer > 0) {
        nova_error_set(error, NOVA_ERROR_UNSUPPORTED, "sparse initializer",
                       "sparse initializers are not supported");
        goto done;
    }
    g->inputs = nova_malloc_array(error, gp->n_input + 1, sizeof(int));
    g->outputs = nova_malloc_array(error, gp->n_output + 1, sizeof(int));
    if (!g->inputs || !g->outputs)
        goto done;
    for (size_t i = 0; i < gp->n_input; i++) {
        const char *name = gp->input[i]->name ? gp->input[i]->name : "";
        int v = name_lookup(g, &map, name);
        if (v >= 0 && g->values[v].kind == NN_VALUE_CONST)
            continue; /* IR < 4: initializers are listed as inputs too */
        if (v >= 0) {
            nova_error_set(error, NOVA_ERROR_PARSE, "duplicate name",
                           "graph input '%s' is listed twice", name);
            goto done;
        }
        v = value_for(error, g, &map, name);
        if (v < 0)
            goto done;
        g->values[v].kind = NN_VALUE_INPUT;
        if (!value_info_shape(error, gp->input[i], &g->values[v])) {
            nova_error_prefix(error, "graph input: ");
            goto done;
        }
        g->inputs[g->n_inputs++] = v;
    }

    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        const char *op_type = np->op_type ? np->op_type : "";
        NnNode *node = nova__nn_graph_add_node(error, g);
        if (!node)
            goto done;
        node->residual = -1;
        node->name = np->name && np->name[0]
                         ? nova_strdup(error, np->name)
                         : nova_strdup_printf(error, "#%zu", i);
        node->op_type = nova_strdup(error, op_type);
        node->inputs = nova_malloc_array(error, np->n_input + 1, sizeof(int));
        node->outputs = nova_malloc_array(error, np->n_output + 1, sizeof(int));
        if (!node->name || !node->op_type || !node->inputs || !node->outputs)
            goto done;
        const char *domain = np->domain ? np->domain : "";
        if (domain[0] && strcmp(domain, "ai.onnx") != 0) {
            nova__nn_node_error(error, node, NOVA_ERROR_UNSUPPORTED,
                                "domain '%s' is not supported", domain);
            goto done;
        }
        if (np->n_attribute > 0) {
            node->attrs = nova_calloc(error, np->n_attribute, sizeof(NnAttr));
            if (!node->attrs)
                goto done;
        }
        for (size_t a = 0; a < np->n_attribute; a++) {
            node->n_attrs = (int)a + 1;
            if (!convert_attr(error, np->attribute[a], &node->attrs[a],
                              base_dir)) {
                nova_error_prefix(error, "node '%s' (%s): ", node->name,
                                  op_type);
                goto done;
            }
        }
        if (strcmp(op_type, "Constant") != 0) {
            node->def = nova__nn_find_op(op_type);
            if (!node->def) {
                nova__nn_node_error(error, node, NOVA_ERROR_UNSUPPORTED,
                                    "unknown or unsupported op '%s'", op_type);
                goto done;
            }
            const char *why = old_form_refused(node, g->opset);
            if (why) {
                nova__nn_node_error(error, node, NOVA_ERROR_UNSUPPORTED,
                                    "%s (opset %lld)", why,
                                    (long long)g->opset);
                goto done;
            }
            if ((int)np->n_input < node->def->min_inputs ||
                (int)np->n_input > node->def->max_inputs ||
                (int)np->n_output < node->def->min_outputs ||
                (int)np->n_output > node->def->max_outputs) {
                nova__nn_node_error(
                    error, node, NOVA_ERROR_INVALID,
                    "%zu inputs and %zu outputs; %s takes "
                    "%d-%d inputs and %d-%d outputs",
                    np->n_input, np->n_output, op_type, node->def->min_inputs,
                    node->def->max_inputs, node->def->min_outputs,
                    node->def->max_outputs);
                goto done;
            }
        }
        for (size_t k = 0; k < np->n_input; k++) {
            const char *name = np->input[k] ? np->input[k] : "";
            int v = name[0] ? value_for(error, g, &map, name) : -2;
            if (v == -1)
                goto done;
            node->inputs[node->n_inputs++] = v < 0 ? -1 : v;
        }
        for (size_t k = 0; k < np->n_output; k++) {
            const char *name = np->output[k] ? np->output[k] : "";
            int v = -1;
            if (name[0]) {
                v = value_for(error, g, &map, name);
                if (v < 0)
                    goto done;
                NnValue *val = &g->values[v];
                if (val->producer >= 0 || val->kind != NN_VALUE_TEMP) {
                    nova__nn_node_error(error, node, NOVA_ERROR_PARSE,
                                        "output '%s' is already defined", name);
                    goto done;
                }
                val->producer = g->n_nodes - 1;
            }
            node->outputs[node->n_outputs++] = v;
        }
        if (strcmp(op_type, "Constant") == 0) {
            if (node->n_outputs != 1 || node->outputs[0] < 0) {
                nova__nn_node_error(error, node, NOVA_ERROR_INVALID,
                                    "Constant needs one output");
                goto done;
            }
            NnValue *out = &g->values[node->outputs[0]];
            if (!constant_value(error, node, out))
                goto done;
            out->producer = -1;
            /* The node is gone: its output is a constant. */
            nova_free(node->name);
            nova_free(node->op_type);
            nova_free(node->inputs);
            nova_free(node->outputs);
            free_attrs(node->attrs, node->n_attrs);
            g->n_nodes--;
        }
    }
    for (size_t i = 0; i < gp->n_output; i++) {
        const char *name = gp->output[i]->name ? gp->output[i]->name : "";
        int v = name_lookup(g, &map, name);
        if (v < 0) {
            nova_error_set(error, NOVA_ERROR_PARSE, "dangling output",
                           "graph output '%s' is produced by no node", name);
            goto done;
        }
        g->values[v].is_output = true;
        g->outputs[g->n_outputs++] = v;
    }
    /* Every value read must come from somewhere. */
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_inputs; k++) {
            int v = g->nodes[i].inputs[k];
            if (v >= 0 && g->values[v].kind == NN_VALUE_TEMP &&
                g->values[v].producer < 0) {
                nova__nn_node_error(error, &g->nodes[i], NOVA_ERROR_PARSE,
                                    "input '%s' is produced by no node, "
                                    "initializer or graph input",
                                    g->values[v].name);
                goto done;
            }
        }
    ok = sort_nodes(error, g);
done:
    nova_free(map.slots);
    return ok;
}

static NovaNnModel *load(NovaError **error, const uint8_t *data, size_t size,
                         const char *name, const char *base_dir)
{
    bool oom = false;
    ProtobufCAllocator pb_allocator = {pb_alloc, pb_free, &oom};
    Onnx__ModelProto *m = onnx__model_proto__unpack(&pb_allocator, size, data);
    if (!m && oom) {
        nova_error_set(error, NOVA_ERROR_NOMEM, "out of memory",
                       "model %s: out of memory decoding the protobuf", name);
        return NULL;
    }
    if (!m) {
        nova_error_set(error, NOVA_ERROR_PARSE, "not an ONNX model",
                       "model %s: %zu bytes are not a valid ONNX ModelProto "
                       "(truncated or corrupt protobuf)",
                       name, size);
        return NULL;
    }
    NovaNnModel *model = nova_calloc(error, 1, sizeof *model);
    if (model)
        model->graph = nova__nn_graph_create(error, name);
    bool ok =
        model && model->graph && build_graph(error, model->graph, m, base_dir);
    onnx__model_proto__free_unpacked(m, &pb_allocator);
    if (ok) {
        NnGraph *g = model->graph;
        model->inputs =
            nova_calloc(error, (size_t)g->n_inputs + 1, sizeof(NovaNnTensor));
        model->outputs =
            nova_calloc(error, (size_t)g->n_outputs + 1, sizeof(NovaNnTensor));
        ok = model->inputs && model->outputs;
        for (int i = 0; ok && i < g->n_inputs + g->n_outputs; i++) {
            bool is_in = i < g->n_inputs;
            const NnValue *v =
                &g->values[is_in ? g->inputs[i] : g->outputs[i - g->n_inputs]];
            NovaNnTensor *t =
                is_in ? &model->inputs[i] : &model->outputs[i - g->n_inputs];
            t->name = v->name;
            t->dtype = v->dtype;
            t->rank = v->rank < 0 ? 0 : v->rank;
            memcpy(t->dims, v->dims, sizeof t->dims);
        }
    }
    if (!ok) {
        nova_error_prefix(error, "model %s: ", name);
        nova_nn_model_destroy(model);
        return NULL;
    }
    return model;
}

NovaNnModel *nova_nn_model_load_memory(NovaError **error, const void *data,
                                       size_t size, const char *name)
{
    return load(error, data, size, name ? name : "(memory)", NULL);
}

NovaNnModel *nova_nn_model_load_file(NovaError **error, const char *path)
{
    uint8_t *bytes;
    size_t size;
    if (!read_whole_file(error, path, &bytes, &size))
        return NULL;
    char *dir = nova_strdup(error, path);
    if (!dir) {
        nova_free(bytes);
        return NULL;
    }
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        strcpy(dir, ".");
    NovaNnModel *m = load(error, bytes, size, path, dir);
    nova_free(dir);
    nova_free(bytes);
    return m;
}

void nova_nn_model_destroy(NovaNnModel *model)
{
    if (!model)
        return;
    nova__nn_graph_destroy(model->graph);
    nova_free(model->inputs);
    nova_free(model->outputs);
    nova_free(model);
}

int nova_nn_model_get_input_count(const NovaNnModel *m)
{
    return m->graph->n_inputs;
}

const NovaNnTensor *nova_nn_model_get_input(const NovaNnModel *m, int i)
{
    return i >= 0 && i < m->graph->n_inputs ? &m->inputs[i] : NULL;
}

int nova_nn_model_get_output_count(const NovaNnModel *m)
{
    return m->graph->n_outputs;
}

const NovaNnTensor *nova_nn_model_get_output(const NovaNnModel *m, int i)
{
    return i >= 0 && i < m->graph->n_outputs ? &m->outputs[i] : NULL;
}

int64_t nova_nn_model_get_opset(const NovaNnModel *m)
{
    return m->graph->opset;
}

int nova_nn_model_get_node_count(const NovaNnModel *m)
{
    return m->graph->n_nodes;
}

/* For session.c: the model's graph. */
const NnGraph *nova__nn_model_graph(const NovaNnModel *model);
const NnGraph *nova__nn_model_graph(const NovaNnModel *model)
{
    return model->graph;
}
