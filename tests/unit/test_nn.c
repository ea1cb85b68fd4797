/*
 * test_nn.c - the ONNX engine's own checks: every broken model of
 * tests/nn/corpus (written by tools/nn/make_bad_models.py, also the fuzz
 * target's seed corpus) is refused with the expected error code and a
 * message naming the model and the node or tensor; a good Conv+Relu model
 * matches an independent numpy computation (explicit loops) with both
 * kernel paths; wrong inputs at run time are refused; .npy files round-trip
 * and broken ones are refused; allocation failures during loading and
 * compiling end in a NOMEM error, never a crash or leak; MaxPool's Indices
 * output (float32 and uint8, both storage orders, both paths) matches
 * loops written from the ONNX spec.
 */
#include "nova/nn.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>

static const char *corpus_path(const char *name)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s/tests/nn/corpus/%s", NOVA_SOURCE_DIR, name);
    return buf;
}

static const char *good_path(const char *name)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s/tests/nn/good/%s", NOVA_SOURCE_DIR, name);
    return buf;
}

/* Load and compile; returns the error (caller frees). */
static NovaError *load_and_compile(const char *path)
{
    NovaError *err = NULL;
    NovaNnModel *m = nova_nn_model_load_file(&err, path);
    NovaNnSession *s = m ? nova_nn_session_create(&err, m, NULL) : NULL;
    nova_nn_session_destroy(s);
    nova_nn_model_destroy(m);
    return err;
}

static void test_corpus_refused(void)
{
    static const struct {
        const char *file;
        NovaErrorCode code;
        const char *needle;
    } cases[] = {
        {"truncated.onnx", NOVA_ERROR_PARSE, "truncated or corrupt"},
        {"empty.onnx", NOVA_ERROR_PARSE, "no graph"},
        {"not_protobuf.onnx", NOVA_ERROR_PARSE, "not a valid ONNX"},
        {"unknown_op.onnx", NOVA_ERROR_UNSUPPORTED,
         "node 'mystery' (FooBar): unknown"},
        {"wrong_shapes.onnx", NOVA_ERROR_INVALID,
         "node 'add1' (Add): shapes do not broadcast"},
        {"cycle.onnx", NOVA_ERROR_PARSE, "cycle"},
        {"huge_dims.onnx", NOVA_ERROR_RANGE, "tensor 'w': dim 0"},
        {"huge_input.onnx", NOVA_ERROR_RANGE, "'x': 3 dims hold more"},
        {"dangling_input.onnx", NOVA_ERROR_PARSE,
         "input 'nowhere' is produced by no node"},
        {"conv_channels.onnx", NOVA_ERROR_INVALID,
         "node 'conv1' (Conv): channels"},
        {"external_escape.onnx", NOVA_ERROR_PARSE,
         "must be a relative path inside the model folder"},
        {"raw_size.onnx", NOVA_ERROR_PARSE, "tensor 'w': raw_data"},
        {"reshape_count.onnx", NOVA_ERROR_INVALID,
         "node 'reshape1' (Reshape): reshape of 6 elements to 25"},
        {"duplicate_output.onnx", NOVA_ERROR_PARSE,
         "output 'y' is already defined"},
        {"opset_99.onnx", NOVA_ERROR_UNSUPPORTED, "opset 99"},
        {"arity.onnx", NOVA_ERROR_INVALID, "2 inputs and 1 outputs"},
        {"symbolic_dim.onnx", NOVA_ERROR_INVALID, "symbolic"},
        {"gather_index.onnx", NOVA_ERROR_RANGE, "index 7 out of range"},
        {"omitted_input.onnx", NOVA_ERROR_INVALID,
         "node 'pool1' (MaxPool): input 0 is required"},
        {"string_attr_without_s.onnx", NOVA_ERROR_INVALID,
         "node 'pool1' (MaxPool): auto_pad ''"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *path = corpus_path(cases[i].file);
        NovaError *err = load_and_compile(path);
        CHECK(err != NULL);
        if (!err)
            continue;
        if (nova_error_code(err) != cases[i].code ||
            !strstr(nova_error_message(err), cases[i].needle) ||
            !strstr(nova_error_message(err), cases[i].file))
            test_fail(__FILE__, __LINE__, "%s: %s: %s", cases[i].file,
                      nova_error_code_name(nova_error_code(err)),
                      nova_error_message(err));
        nova_error_free(err);
    }
}

static void test_good_model_both_paths(void)
{
    NovaError *err = NULL;
    NovaNnModel *m = nova_nn_model_load_file(&err, good_path("conv_relu.onnx"));
    CHECK_OK(err);
    NovaNnTensor *x = nova_nn_npy_read(&err, good_path("conv_relu.input.npy"));
    NovaNnTensor *want =
        nova_nn_npy_read(&err, good_path("conv_relu.output.npy"));
    CHECK_OK(err);
    if (!m || !x || !want)
        goto done;
    CHECK_EQ_INT(nova_nn_model_get_input_count(m), 1);
    CHECK_STR(nova_nn_model_get_input(m, 0)->name, "x");
    CHECK_EQ_INT(nova_nn_model_get_input(m, 0)->dims[2], 6);
    CHECK_STR(nova_nn_model_get_output(m, 0)->name, "y");
    CHECK_EQ_INT(nova_nn_model_get_opset(m), 13);
    NovaPool *pool = nova_pool_create(&err, 2);
    for (int k = 0; k < 2; k++) {
        NovaNnOptions opt;
        nova_nn_options_init(&opt);
        opt.kernels = k ? NOVA_NN_KERNELS_DNNL : NOVA_NN_KERNELS_REF;
        opt.pool = pool;
        NovaNnSession *s = nova_nn_session_create(&err, m, &opt);
        CHECK_OK(err);
        if (!s)
            break;
        NovaNnStats st;
        nova_nn_session_get_stats(s, &st);
        CHECK_EQ_INT(st.n_nodes, 1); /* Relu fused into the Conv */
        CHECK_EQ_INT(st.n_fused, 1);
        CHECK_EQ_INT(st.n_dnnl, k ? 1 : 0);
        CHECK_NEAR(st.flops, 2.0 * 4 * 30 * 27, 0.5);
        NovaNnTensor in = *x;
        in.name = "x";
        CHECK(nova_nn_session_run(&err, s, &in, 1));
        CHECK_OK(err);
        const NovaNnTensor *y = nova_nn_session_get_output(s, 0);
        CHECK_EQ_INT(y->rank, 4);
        CHECK_EQ_INT(nova_nn_tensor_count(y), 120);
        double max_diff = 0;
        for (size_t i = 0; i < 120; i++) {
            double d = fabs(((float *)y->data)[i] - ((float *)want->data)[i]);
            max_diff = d > max_diff ? d : max_diff;
        }
        CHECK(max_diff < 1e-5);
        /* A wrong shape or name is refused with the expected shape. */
        in.dims[3] = 6;
        CHECK(!nova_nn_session_run(&err, s, &in, 1));
        CHECK_EQ_INT(nova_error_code(err), NOVA_ERROR_INVALID);
        CHECK(err && strstr(nova_error_message(err), "expected float32 "
                                                     "[1x3x6x5]"));
        nova_error_clear(&err);
        in.dims[3] = 5;
        in.name = "nope";
        CHECK(!nova_nn_session_run(&err, s, &in, 1));
        CHECK_EQ_INT(nova_error_code(err), NOVA_ERROR_NOT_FOUND);
        nova_error_clear(&err);
        nova_nn_session_destroy(s);
    }
    nova_pool_destroy(pool);
done:
    nova_nn_tensor_free(x);
    nova_nn_tensor_free(want);
    nova_nn_model_destroy(m);
}

static void test_npy_round_trip(void)
{
    NovaError *err = NULL;
    int64_t dims[3] = {2, 3, 4};
    NovaNnTensor *t = nova_nn_tensor_create(&err, NOVA_NN_FLOAT32, 3, dims);
    CHECK_OK(err);
    for (int i = 0; i < 24; i++)
        ((float *)t->data)[i] = (float)i * 0.5f - 3.0f;
    char path[512];
    snprintf(path, sizeof path, "%s/t.npy", test_tmp_dir());
    CHECK(nova_nn_npy_write(&err, path, t));
    NovaNnTensor *r = nova_nn_npy_read(&err, path);
    CHECK_OK(err);
    if (r) {
        CHECK_EQ_INT(r->rank, 3);
        CHECK_EQ_INT(r->dims[2], 4);
        CHECK(memcmp(r->data, t->data, 24 * 4) == 0);
    }
    nova_nn_tensor_free(r);
    /* numpy itself reads what we wrote. */
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import numpy as n,sys; a=n.load('%s'); "
             "sys.exit(0 if a.shape==(2,3,4) and a[1,2,3]==8.5 else 1)\" "
             "2>/dev/null",
             path);
    int rc = system(cmd);
    if (rc != 0 && system("/usr/bin/python3 -c 'import numpy' 2>/dev/null"))
        printf("# numpy absent: cross-check skipped\n");
    else
        CHECK_EQ_INT(rc, 0);
    /* Broken headers. */
    static const char *bad[] = {"\x93NUMPY\x01\x00\x10\x00{'descr': '<f4'",
                                "NOTNUMPY", "\x93NUMPY\x09\x00"};
    for (size_t i = 0; i < 3; i++) {
        NovaNnTensor *b =
            nova_nn_npy_read_memory(&err, bad[i], strlen(bad[i]) + 1, "bad");
        CHECK(b == NULL);
        CHECK_EQ_INT(nova_error_code(err), NOVA_ERROR_PARSE);
        nova_error_clear(&err);
    }
    /* Data shorter than the shape says. */
    const char hdr[] = "\x93NUMPY\x01\x00\x36\x00{'descr': '<f4', "
                       "'fortran_order': False, 'shape': (100,), }      \n";
    NovaNnTensor *b =
        nova_nn_npy_read_memory(&err, hdr, sizeof hdr - 1, "short.npy");
    CHECK(b == NULL);
    CHECK(err && strstr(nova_error_message(err), "short.npy"));
    nova_error_clear(&err);
    nova_nn_tensor_free(t);
}

/* Every allocation in loading and compiling, failed in turn, ends in a
 * clean NOMEM error (ASan reports any leak). */
static void test_allocation_failures(void)
{
    const char *path = good_path("conv_relu.onnx");
    int failures = 0;
    for (long n = 0; n < 2000; n++) {
        NovaError *err = NULL;
        nova_alloc_fail_after(n);
        NovaNnModel *m = nova_nn_model_load_file(&err, path);
        NovaNnSession *s = m ? nova_nn_session_create(&err, m, NULL) : NULL;
        nova_alloc_fail_after(-1);
        bool done = s != NULL;
        if (!done) {
            failures++;
            if (nova_error_code(err) != NOVA_ERROR_NOMEM)
                test_fail(__FILE__, __LINE__, "fail_after %ld: %s", n,
                          err ? nova_error_message(err) : "no error");
        }
        nova_nn_session_destroy(s);
        nova_nn_model_destroy(m);
        nova_error_free(err);
        if (done)
            break;
    }
    CHECK(failures > 20);
}

/* ------------------------------------------------ MaxPool's Indices output
 * A MaxPool model written here as protobuf bytes (ONNX's field numbers),
 * with N and C above 1 (the node cases have one image and one channel),
 * H != W, padding and ties, so the index formula is checked against loops
 * written from the spec: ((n*C + c)*H + h)*W + w for storage_order 0,
 * (n*C + c)*H*W + w*H + h for storage_order 1. */

typedef struct {
    uint8_t b[1024];
    size_t n;
} Pb;

static void pb_varint(Pb *p, uint64_t v)
{
    do {
        p->b[p->n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
}

static void pb_int(Pb *p, int field, uint64_t v)
{
    pb_varint(p, (uint64_t)field << 3);
    pb_varint(p, v);
}

static void pb_bytes(Pb *p, int field, const void *data, size_t n)
{
    pb_varint(p, (uint64_t)field << 3 | 2);
    pb_varint(p, n);
    memcpy(p->b + p->n, data, n);
    p->n += n;
}

static void pb_str(Pb *p, int field, const char *s)
{
    pb_bytes(p, field, s, strlen(s));
}

static void pb_sub(Pb *p, int field, const Pb *sub)
{
    pb_bytes(p, field, sub->b, sub->n);
}

/* ValueInfoProto: name, tensor type of elem_type with dims. */
static void pb_value_info(Pb *p, int field, const char *name, int elem,
                          const int64_t *dims, int rank)
{
    Pb shape = {0}, tensor = {0}, type = {0}, vi = {0};
    for (int i = 0; i < rank; i++) {
        Pb dim = {0};
        pb_int(&dim, 1, (uint64_t)dims[i]);
        pb_sub(&shape, 1, &dim);
    }
    pb_int(&tensor, 1, (uint64_t)elem);
    pb_sub(&tensor, 2, &shape);
    pb_sub(&type, 1, &tensor);
    pb_str(&vi, 1, name);
    pb_sub(&vi, 2, &type);
    pb_sub(p, field, &vi);
}

static void pb_attr_ints(Pb *p, const char *name, const int64_t *v, int n)
{
    Pb a = {0};
    pb_str(&a, 1, name);
    for (int i = 0; i < n; i++)
        pb_int(&a, 8, (uint64_t)v[i]);
    pb_int(&a, 20, 7); /* INTS */
    pb_sub(p, 5, &a);
}

static void pb_attr_int(Pb *p, const char *name, int64_t v)
{
    Pb a = {0};
    pb_str(&a, 1, name);
    pb_int(&a, 3, (uint64_t)v);
    pb_int(&a, 20, 2); /* INT */
    pb_sub(p, 5, &a);
}

enum { MP_N = 2, MP_C = 3, MP_H = 5, MP_W = 4, MP_KH = 3, MP_KW = 2 };
static const int64_t mp_strides[2] = {2, 1};
static const int64_t mp_pads[4] = {1, 0, 1, 1}; /* h begin, w begin, ends */

static void maxpool_model(Pb *m, int elem, int storage_order)
{
    int64_t xd[4] = {MP_N, MP_C, MP_H, MP_W};
    int64_t oh = (MP_H + mp_pads[0] + mp_pads[2] - MP_KH) / mp_strides[0] + 1;
    int64_t ow = (MP_W + mp_pads[1] + mp_pads[3] - MP_KW) / mp_strides[1] + 1;
    int64_t yd[4] = {MP_N, MP_C, oh, ow};
    int64_t ks[2] = {MP_KH, MP_KW};
    Pb node = {0}, graph = {0}, opset = {0};
    pb_str(&node, 1, "x");
    pb_str(&node, 2, "y");
    pb_str(&node, 2, "z");
    pb_str(&node, 3, "pool");
    pb_str(&node, 4, "MaxPool");
    pb_attr_ints(&node, "kernel_shape", ks, 2);
    pb_attr_ints(&node, "strides", mp_strides, 2);
    pb_attr_ints(&node, "pads", mp_pads, 4);
    pb_attr_int(&node, "storage_order", storage_order);
    pb_sub(&graph, 1, &node);
    pb_str(&graph, 2, "maxpool_indices");
    pb_value_info(&graph, 11, "x", elem, xd, 4);
    pb_value_info(&graph, 12, "y", elem, yd, 4);
    pb_value_info(&graph, 12, "z", NOVA_NN_INT64, yd, 4);
    pb_int(&opset, 2, 12);
    *m = (Pb){0};
    pb_int(m, 1, 8); /* ir_version */
    pb_sub(m, 7, &graph);
    pb_sub(m, 8, &opset);
}

static void test_maxpool_indices(void)
{
    float xf[MP_N * MP_C * MP_H * MP_W];
    uint8_t xu[MP_N * MP_C * MP_H * MP_W];
    uint32_t r = 12345;
    for (size_t i = 0; i < sizeof xf / sizeof xf[0]; i++) {
        r = r * 1103515245u + 12345u;
        int v = (int)((r >> 16) % 7); /* few values: ties */
        xf[i] = (float)v - 3.0f;
        xu[i] = (uint8_t)(200 + v);
    }
    for (int so = 0; so < 2; so++)
        for (int u8 = 0; u8 < 2; u8++)
            for (int k = 0; k < 2; k++) {
                Pb m;
                maxpool_model(&m, u8 ? NOVA_NN_UINT8 : NOVA_NN_FLOAT32, so);
                NovaError *err = NULL;
                NovaNnModel *model =
                    nova_nn_model_load_memory(&err, m.b, m.n, "maxpool");
                NovaNnOptions o;
                nova_nn_options_init(&o);
                o.kernels = k ? NOVA_NN_KERNELS_DNNL : NOVA_NN_KERNELS_REF;
                NovaNnSession *s =
                    model ? nova_nn_session_create(&err, model, &o) : NULL;
                NovaNnTensor in = {"x",
                                   u8 ? NOVA_NN_UINT8 : NOVA_NN_FLOAT32,
                                   4,
                                   {MP_N, MP_C, MP_H, MP_W},
                                   u8 ? (void *)xu : (void *)xf};
                bool ok = s && nova_nn_session_run(&err, s, &in, 1);
                if (!ok) {
                    test_fail(__FILE__, __LINE__, "maxpool so=%d u8=%d: %s", so,
                              u8, err ? nova_error_message(err) : "?");
                    nova_error_free(err);
                    nova_nn_session_destroy(s);
                    nova_nn_model_destroy(model);
                    continue;
                }
                const NovaNnTensor *y = nova_nn_session_get_output(s, 0);
                const NovaNnTensor *z = nova_nn_session_get_output(s, 1);
                CHECK(z->dtype == NOVA_NN_INT64 && z->rank == 4);
                CHECK(y->dtype == in.dtype);
                int64_t oh = y->dims[2], ow = y->dims[3];
                CHECK(oh == 3 && ow == 4);
                int bad = 0;
                for (int64_t n = 0; n < MP_N; n++)
                    for (int64_t c = 0; c < MP_C; c++)
                        for (int64_t i = 0; i < oh; i++)
                            for (int64_t j = 0; j < ow; j++) {
                                double best = -INFINITY;
                                int64_t at = -1;
                                for (int64_t a = 0; a < MP_KH; a++)
                                    for (int64_t b = 0; b < MP_KW; b++) {
                                        int64_t h =
                                            i * mp_strides[0] - mp_pads[0] + a;
                                        int64_t w =
                                            j * mp_strides[1] - mp_pads[1] + b;
                                        if (h < 0 || h >= MP_H || w < 0 ||
                                            w >= MP_W)
                                            continue;
                                        int64_t e =
                                            ((n * MP_C + c) * MP_H + h) * MP_W +
                                            w;
                                        double v = u8 ? xu[e] : xf[e];
                                        if (v > best) {
                                            best = v;
                                            at = so ? (n * MP_C + c) * MP_H *
                                                              MP_W +
                                                          w * MP_H + h
                                                    : e;
                                        }
                                    }
                                size_t at_o =
                                    (size_t)(((n * MP_C + c) * oh + i) * ow +
                                             j);
                                double got =
                                    u8 ? ((const uint8_t *)y->data)[at_o]
                                       : ((const float *)y->data)[at_o];
                                int64_t gi = ((const int64_t *)z->data)[at_o];
                                if ((got != best || gi != at) && bad++ < 3)
                                    test_fail(__FILE__, __LINE__,
                                              "maxpool so=%d u8=%d k=%d "
                                              "[%zu]: %g/%lld, want %g/%lld",
                                              so, u8, k, at_o, got,
                                              (long long)gi, best,
                                              (long long)at);
                            }
                nova_nn_session_destroy(s);
                nova_nn_model_destroy(model);
            }
}

int main(void)
{
    RUN(test_corpus_refused);
    RUN(test_good_model_both_paths);
    RUN(test_npy_round_trip);
    RUN(test_allocation_failures);
    RUN(test_maxpool_indices);
    return test_done();
}
