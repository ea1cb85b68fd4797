/*
 * test_nn_models.c - the field's networks, Nova against PyTorch.
 *
 * tools/nn/export_models.py (run here on first use, cached in the build
 * folder) builds ResNet-50, DenseNet-121, the lungmask R231 2D U-Net, a 3D
 * U-Net, a 3D classifier and a SegResNet-style 3D net with Debian's
 * python3-torch and random weights, exports them to ONNX and saves
 * PyTorch's output for a random input.  Each network is run here with
 * both kernel paths on a 2-thread pool; the largest difference from
 * PyTorch, relative to the largest PyTorch output magnitude, must be at
 * most 1e-4.  A second run must succeed with every allocation failing
 * (a run allocates nothing after the first).  The oneDNN path runs once
 * more on a 3-thread pool with NOVA_NN_SMALL_SERIAL=0, so every node that
 * can be split over the team threads (team.c) is, in uneven shares, and
 * from inside a job of its own pool (which runs the stretches inline on
 * one thread) it must give the same bits.
 */
#include "nova/nn.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef NN_MODELS_DIR
#define NN_MODELS_DIR "nn-models-small"
#endif

static const char *models_dir;
static NovaPool *pool, *pool3;
static const char *current;

static char *path_of(const char *suffix)
{
    static char buf[1200];
    snprintf(buf, sizeof buf, "%s/%s%s", models_dir, current, suffix);
    return buf;
}

typedef struct {
    NovaNnSession *s;
    NovaNnTensor *in;
    bool ok;
} NestedRun;

static void nested_run(void *ctx, size_t begin, size_t end, int thread)
{
    NestedRun *c = ctx;
    NovaError *err = NULL;
    c->ok = nova_nn_session_run(&err, c->s, c->in, 1);
    nova_error_free(err);
}

static void check_kernels(NovaNnModel *model, const NovaNnTensor *x,
                          const NovaNnTensor *want, NovaNnKernels kernels,
                          NovaPool *threads)
{
    NovaError *err = NULL;
    NovaNnOptions opt;
    nova_nn_options_init(&opt);
    opt.kernels = kernels;
    opt.pool = threads;
    NovaNnSession *s = nova_nn_session_create(&err, model, &opt);
    CHECK_OK(err);
    if (!s) {
        nova_error_free(err);
        return;
    }
    NovaNnTensor in = *x;
    in.name = NULL;
    CHECK(nova_nn_session_run(&err, s, &in, 1));
    CHECK_OK(err);
    nova_error_clear(&err);
    /* Second run with every allocation failing. */
    nova_alloc_fail_after(0);
    bool ok = nova_nn_session_run(&err, s, &in, 1);
    nova_alloc_fail_after(-1);
    CHECK(ok);
    CHECK_OK(err);
    nova_error_clear(&err);
    const NovaNnTensor *y = nova_nn_session_get_output(s, 0);
    CHECK_EQ_INT(nova_nn_tensor_count(y), nova_nn_tensor_count(want));
    if (nova_nn_tensor_count(y) == nova_nn_tensor_count(want)) {
        const float *a = y->data, *b = want->data;
        double max_diff = 0, max_ref = 0;
        for (size_t i = 0; i < nova_nn_tensor_count(want); i++) {
            double d = fabs((double)a[i] - b[i]);
            if (!(d <= max_diff))
                max_diff = d; /* NaN propagates as a failure */
            if (fabs(b[i]) > max_ref)
                max_ref = fabs(b[i]);
        }
        double rel = max_diff / (max_ref > 0 ? max_ref : 1);
        NovaNnStats st;
        nova_nn_session_get_stats(s, &st);
        printf("# %s %s %dT: max |diff| %.3g, relative %.3g; %d nodes (%d "
               "loaded, %d folded, %d fused, %d oneDNN), %.3f GFLOP, arena "
               "%.1f MB\n",
               current, kernels ? "dnnl" : "ref",
               nova_pool_get_threads(threads), max_diff, rel, st.n_nodes,
               st.n_nodes_loaded, st.n_folded, st.n_fused, st.n_dnnl,
               st.flops / 1e9, st.arena_bytes / 1e6);
        CHECK(rel <= 1e-4);
        if (kernels == NOVA_NN_KERNELS_DNNL)
            CHECK(st.n_dnnl > 0);
        size_t bytes = nova_nn_tensor_count(y) * sizeof(float);
        float *first = malloc(bytes);
        if (kernels == NOVA_NN_KERNELS_DNNL && first) {
            memcpy(first, y->data, bytes);
            NestedRun c = {s, &in, false};
            nova_pool_parallel_for(threads, 1, nested_run, &c);
            CHECK(c.ok);
            CHECK(memcmp(first, nova_nn_session_get_output(s, 0)->data,
                         bytes) == 0);
        }
        free(first);
    }
    nova_nn_session_destroy(s);
}

static void run_model(void)
{
    NovaError *err = NULL;
    NovaNnModel *model = nova_nn_model_load_file(&err, path_of(".onnx"));
    CHECK_OK(err);
    NovaNnTensor *x = nova_nn_npy_read(&err, path_of(".input.npy"));
    CHECK_OK(err);
    NovaNnTensor *want = nova_nn_npy_read(&err, path_of(".output.npy"));
    CHECK_OK(err);
    nova_error_clear(&err);
    if (model && x && want) {
        check_kernels(model, x, want, NOVA_NN_KERNELS_REF, pool);
        check_kernels(model, x, want, NOVA_NN_KERNELS_DNNL, pool);
        setenv("NOVA_NN_SMALL_SERIAL", "0", 1);
        check_kernels(model, x, want, NOVA_NN_KERNELS_DNNL, pool3);
        unsetenv("NOVA_NN_SMALL_SERIAL");
    }
    nova_nn_tensor_free(x);
    nova_nn_tensor_free(want);
    nova_nn_model_destroy(model);
}

int main(int argc, char **argv)
{
    models_dir = argc > 1 ? argv[1] : NN_MODELS_DIR;
    char marker[1100];
    snprintf(marker, sizeof marker, "%s/.complete", models_dir);
    struct stat st;
    if (stat(marker, &st) != 0) {
        char cmd[2400];
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 %s/tools/nn/export_models.py --size small "
                 "'%s' >/dev/null 2>&1",
                 NOVA_SOURCE_DIR, models_dir);
        if (system(cmd) != 0 || stat(marker, &st) != 0) {
            printf("1..0 # SKIP cannot export the models (needs Debian "
                   "python3-torch and python3-torchvision)\n");
            return 0;
        }
    }
    NovaError *err = NULL;
    pool = nova_pool_create(&err, 2);
    pool3 = nova_pool_create(&err, 3);
    static const char *names[] = {"resnet50", "densenet121", "unet2d_r231",
                                  "unet3d",   "cls3d",       "segresnet"};
    const char *only = getenv("NN_MODEL_FILTER");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (only && !strstr(names[i], only))
            continue;
        current = names[i];
        test_run(names[i], run_model);
    }
    nova_pool_destroy(pool);
    nova_pool_destroy(pool3);
    return test_done();
}
