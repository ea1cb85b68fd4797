/*
 * nova/nn.h - the ONNX inference engine.
 *
 * A NovaNnModel is an ONNX file (opsets 11 to 17) parsed into an immutable
 * graph: its nodes, its initializers (weights) and its named inputs and
 * outputs.  A NovaNnSession compiles a model for one set of input shapes and
 * one kernel choice: it checks every node, infers every shape (static shapes
 * only), folds constants, fuses layers, plans one memory arena and then runs
 * any number of times without allocating.
 *
 *   NovaNnModel *m = nova_nn_model_load_file(&err, "net.onnx");
 *   NovaNnSession *s = nova_nn_session_create(&err, m, &options);
 *   nova_nn_session_run(&err, s, inputs, 1);
 *   const NovaNnTensor *y = nova_nn_session_get_output(s, 0);
 *
 * Tensors crossing the API are plain row-major (C order) arrays described by
 * NovaNnTensor.  Two kernel paths exist: portable C reference kernels for
 * every op, and oneDNN (Debian libdnnl) for convolution, deconvolution,
 * pooling and inner product, which keeps activations in its blocked layouts
 * between consecutive oneDNN layers.
 *
 * Threads: a model may be shared by sessions on different threads once
 * loaded; a session belongs to one thread at a time and uses the pool it was
 * given for its parallel kernels.
 */
#ifndef NOVA_NN_H
#define NOVA_NN_H

#include "nova/core.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NOVA_NN_MAX_RANK 8

/* Element types, numbered as ONNX's TensorProto.DataType. */
typedef enum {
    NOVA_NN_UNDEFINED = 0,
    NOVA_NN_FLOAT32 = 1,
    NOVA_NN_UINT8 = 2,
    NOVA_NN_INT8 = 3,
    NOVA_NN_UINT16 = 4,
    NOVA_NN_INT16 = 5,
    NOVA_NN_INT32 = 6,
    NOVA_NN_INT64 = 7,
    NOVA_NN_BOOL = 9,
    NOVA_NN_FLOAT16 = 10,
    NOVA_NN_FLOAT64 = 11,
    NOVA_NN_UINT32 = 12,
    NOVA_NN_UINT64 = 13
} NovaNnDtype;

/* A tensor view: plain data.  `data` points to product(dims) elements of
 * `dtype` in C order; name is used where tensors are matched to graph
 * inputs.  Who owns `data` is said by each function. */
typedef struct {
    const char *name;
    NovaNnDtype dtype;
    int rank;
    int64_t dims[NOVA_NN_MAX_RANK];
    void *data;
} NovaNnTensor;

/* Bytes of one element of dtype; 0 for an unknown dtype. */
size_t nova_nn_dtype_size(NovaNnDtype dtype);
const char *nova_nn_dtype_name(NovaNnDtype dtype);
/* Number of elements (1 for rank 0). */
size_t nova_nn_tensor_count(const NovaNnTensor *tensor);

/* ----------------------------------------------------------------- model */

typedef struct NovaNnModel NovaNnModel;

/* Parse an ONNX model.  External data (TensorProto.data_location EXTERNAL)
 * is read from files relative to the model's folder, within that folder
 * only; from memory it is refused.  Errors: NOVA_ERROR_IO, NOVA_ERROR_PARSE
 * (truncated or malformed protobuf, cycles, dangling names),
 * NOVA_ERROR_UNSUPPORTED (opset outside 11-17 for the default domain,
 * unknown op, unsupported type), NOVA_ERROR_RANGE (huge dims).  Messages
 * name the model and the node.  The caller owns the result. */
NovaNnModel *nova_nn_model_load_file(NovaError **error, const char *path);
/* `name` labels messages; the bytes are not kept. */
NovaNnModel *nova_nn_model_load_memory(NovaError **error, const void *data,
                                       size_t size, const char *name);
void nova_nn_model_destroy(NovaNnModel *model);

/* Graph inputs that are not initializers, and graph outputs.  The returned
 * tensors are borrowed (valid while the model lives) and have data NULL;
 * dims of -1 are symbolic (dim_param) and must be fixed by the session's
 * options. */
int nova_nn_model_get_input_count(const NovaNnModel *model);
const NovaNnTensor *nova_nn_model_get_input(const NovaNnModel *model, int i);
int nova_nn_model_get_output_count(const NovaNnModel *model);
const NovaNnTensor *nova_nn_model_get_output(const NovaNnModel *model, int i);
/* The default-domain opset the model imports. */
int64_t nova_nn_model_get_opset(const NovaNnModel *model);
int nova_nn_model_get_node_count(const NovaNnModel *model);

/* --------------------------------------------------------------- session */

typedef enum {
    NOVA_NN_KERNELS_REF = 0, /* portable C kernels for every op */
    NOVA_NN_KERNELS_DNNL = 1 /* oneDNN where it has a primitive */
} NovaNnKernels;

typedef struct {
    NovaNnKernels kernels;
    /* Borrowed; NULL runs on the calling thread only.  oneDNN's own thread
     * count (OpenMP in Debian's build) is set to the pool's. */
    NovaPool *pool;
    /* Graph passes (constant folding beyond shapes, BatchNorm into Conv,
     * Conv+bias+activation+residual fusion, dead node removal). */
    bool optimize;
    /* Input overrides, matched by name: a tensor with data NULL fixes the
     * shape of a graph input (for symbolic dims); a tensor with data binds
     * the input to that constant (copied), so shape inputs such as
     * Reshape's become known when the session is made. */
    const NovaNnTensor *inputs;
    int n_inputs;
    /* Time every node (nova_nn_session_print_profile). */
    bool profile;
} NovaNnOptions;

/* Default options: reference kernels, no pool, optimize on. */
void nova_nn_options_init(NovaNnOptions *options);

typedef struct NovaNnSession NovaNnSession;

/* Compile a model.  Errors name the model and node: unsupported attribute
 * values or types (NOVA_ERROR_UNSUPPORTED), shapes that do not agree
 * (NOVA_ERROR_INVALID), sizes beyond limits (NOVA_ERROR_RANGE).  The model
 * must outlive the session. */
NovaNnSession *nova_nn_session_create(NovaError **error,
                                      const NovaNnModel *model,
                                      const NovaNnOptions *options);
void nova_nn_session_destroy(NovaNnSession *session);

/* Run once.  inputs are matched by name (or by position when a name is
 * NULL), must have the session's shapes and dtypes, and are copied.  No
 * allocation happens after the first run. */
bool nova_nn_session_run(NovaError **error, NovaNnSession *session,
                         const NovaNnTensor *inputs, int n_inputs);

/* The session's inputs (unbound graph inputs, shapes fixed) and outputs.
 * Output data is borrowed and valid until the next run or destroy. */
int nova_nn_session_get_input_count(const NovaNnSession *session);
const NovaNnTensor *nova_nn_session_get_input(const NovaNnSession *session,
                                              int i);
int nova_nn_session_get_output_count(const NovaNnSession *session);
const NovaNnTensor *nova_nn_session_get_output(const NovaNnSession *session,
                                               int i);

typedef struct {
    int n_nodes;        /* nodes left to run after the passes */
    int n_nodes_loaded; /* nodes in the model */
    int n_folded;       /* nodes evaluated at compile time */
    int n_fused;        /* BatchNorm, activations and Adds merged */
    int n_dnnl;         /* nodes run by oneDNN */
    double flops;       /* multiply-adds x2 of Conv/ConvTranspose/Gemm/MatMul */
    size_t arena_bytes; /* activations arena */
    size_t weight_bytes;  /* constants the session keeps */
    size_t scratch_bytes; /* per-node scratch (im2col, oneDNN) */
} NovaNnStats;

void nova_nn_session_get_stats(const NovaNnSession *session,
                               NovaNnStats *stats);

/* With options.profile: time per op type (and kernel path) summed over
 * the runs so far, largest first, as text. */
void nova_nn_session_print_profile(const NovaNnSession *session, FILE *out);

/* --------------------------------------------------------------- tensors */

/* Allocate a tensor with rank/dims/dtype as given (data zeroed); free it
 * with nova_nn_tensor_free, which frees data and name. */
NovaNnTensor *nova_nn_tensor_create(NovaError **error, NovaNnDtype dtype,
                                    int rank, const int64_t *dims);
void nova_nn_tensor_free(NovaNnTensor *tensor);

/* NumPy .npy files (format 1.0-3.0, C order, little-endian <f4, <f8
 * (converted to float32), <i8, <i4, |u1, |b1).  The caller frees the
 * result. */
NovaNnTensor *nova_nn_npy_read(NovaError **error, const char *path);
NovaNnTensor *nova_nn_npy_read_memory(NovaError **error, const void *data,
                                      size_t size, const char *name);
bool nova_nn_npy_write(NovaError **error, const char *path,
                       const NovaNnTensor *tensor);

/* A serialized ONNX TensorProto (the input_N.pb / output_N.pb files of
 * ONNX's backend tests).  The caller frees the result. */
NovaNnTensor *nova_nn_tensor_read_pb(NovaError **error, const char *path);

#ifdef __cplusplus
}
#endif
#endif
