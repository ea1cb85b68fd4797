/*
 * test_nn.c - the ONNX engine's own checks: every broken model of
 * tests/nn/corpus (written by tools/nn/make_bad_models.py, also the fuzz
 * target's seed corpus) is refused with the expected error code and a
 * message naming the model and the node or tensor; a good Conv+Relu model
 * matches an independent numpy computation (explicit loops) with both
 * kernel paths; wrong inputs at run time are refused; .npy files round-trip
 * and broken ones are refused; allocation failures during loading and
 * compiling end in a NOMEM error, never a crash or leak.
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

int main(void)
{
    RUN(test_corpus_refused);
    RUN(test_good_model_both_paths);
    RUN(test_npy_round_trip);
    RUN(test_allocation_failures);
    return test_done();
}
