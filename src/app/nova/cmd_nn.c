/*
 * cmd_nn.c - `nova nn run MODEL --input X --output Y.npy` and
 * `nova nn bench MODEL`: run or time an ONNX model with Nova's engine
 * (nova/nn.h).
 *
 * Inputs are .npy files, or volume files (.nii, .nii.gz, .nrrd) read as
 * float32 [1, 1, Z, Y, X] (the layout MONAI's 3D networks take; a model
 * with a rank-4 input gets [1, 1, Y, X] from a single-slice volume).
 * Without --input, bench feeds zeros of the model's input shape.  Symbolic
 * input dims take the input file's dims.  bench reports the median
 * latency over --runs after --warmup runs, and GFLOP/s from the FLOPs of
 * Conv, ConvTranspose, Gemm and MatMul nodes.
 */
#include "commands.h"

#include "nova/nova.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: nova nn run MODEL.onnx --input X --output Y.npy [options]\n"
            "       nova nn bench MODEL.onnx [--input X] [options]\n"
            "\n"
            "Run or time an ONNX model (opsets 11-17) with Nova's engine.\n"
            "X is a .npy file or a volume (.nii, .nii.gz, .nrrd) read as\n"
            "float32 [1, 1, Z, Y, X].\n"
            "\n"
            "options:\n"
            "  -i, --input X      input tensor (run: required)\n"
            "  -o, --output Y     output .npy (run: required; first output)\n"
            "  --kernels K        ref (portable C) or dnnl (oneDNN, default)\n"
            "  --threads N        threads (default: NOVA_THREADS or all CPUs)\n"
            "  --no-optimize      skip the graph passes\n"
            "  --runs N           bench: timed runs (default 20)\n"
            "  --warmup N         bench: untimed runs first (default 3)\n"
            "  --json             bench: one JSON object on stdout\n"
            "  --profile          bench: time per op type on stderr\n"
            "  -h, --help         this help\n");
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* A volume file as float32 [1, 1, Z, Y, X]. */
static NovaNnTensor *read_volume(NovaError **error, const char *path)
{
    NovaVolume *v = nova_volume_read(error, path);
    if (!v)
        return NULL;
    size_t d[3];
    nova_volume_get_dims(v, d);
    int64_t dims[5] = {1, 1, (int64_t)d[2], (int64_t)d[1], (int64_t)d[0]};
    NovaNnTensor *t = nova_nn_tensor_create(error, NOVA_NN_FLOAT32, 5, dims);
    if (t) {
        size_t n = nova_volume_get_voxel_count(v);
        float *dst = t->data;
        const void *src = nova_volume_get_const_data(v);
        switch (nova_volume_get_dtype(v)) {
        case NOVA_DTYPE_UINT8:
            for (size_t i = 0; i < n; i++)
                dst[i] = ((const uint8_t *)src)[i];
            break;
        case NOVA_DTYPE_INT16:
            for (size_t i = 0; i < n; i++)
                dst[i] = ((const int16_t *)src)[i];
            break;
        default: memcpy(dst, src, n * sizeof(float)); break;
        }
    }
    nova_volume_unref(v);
    return t;
}

static NovaNnTensor *read_input(NovaError **error, const char *path)
{
    if (ends_with(path, ".npy"))
        return nova_nn_npy_read(error, path);
    if (ends_with(path, ".nii") || ends_with(path, ".nii.gz") ||
        ends_with(path, ".nrrd") || ends_with(path, ".nhdr"))
        return read_volume(error, path);
    nova_error_set(error, NOVA_ERROR_UNSUPPORTED, "unknown input type",
                   "%s: expected .npy, .nii, .nii.gz or .nrrd", path);
    return NULL;
}

/* Fit a rank-5 volume tensor to a rank-4 model input by dropping Z=1. */
static void fit_rank(NovaNnTensor *t, const NovaNnTensor *want)
{
    if (t->rank == 5 && want->rank == 4 && t->dims[2] == 1) {
        t->dims[2] = t->dims[3];
        t->dims[3] = t->dims[4];
        t->rank = 4;
    }
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* oneDNN's threads are OpenMP's (Debian's build), and libgomp reads its
 * wait policy from the environment once, when it loads.  Its default spins
 * between parallel regions; a network is hundreds of them, and on a busy
 * machine a spinning or descheduled thread costs a time slice at every
 * barrier (DenseNet-121 on 2 threads under load: 7.4 s spinning, 0.12 s
 * passive).  So unless the user chose a policy, re-run this command with
 * OMP_WAIT_POLICY=PASSIVE. */
static void prefer_passive_openmp(int argc, char **argv)
{
    if (getenv("OMP_WAIT_POLICY") || argc > 250)
        return;
    if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0)
        return;
    char *args[256];
    args[0] = "nova";
    for (int i = 0; i < argc; i++)
        args[i + 1] = argv[i];
    args[argc + 1] = NULL;
    execv("/proc/self/exe", args);
    /* exec failed: carry on with the default policy. */
}

int nova_cmd_nn(int argc, char **argv)
{
    prefer_passive_openmp(argc, argv);
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *mode = argv[1];
    bool is_run = !strcmp(mode, "run"), is_bench = !strcmp(mode, "bench");
    if (!is_run && !is_bench) {
        fprintf(stderr, "nova nn: unknown mode '%s' (run or bench)\n", mode);
        usage(stderr);
        return 2;
    }
    const char *model_path = NULL, *input = NULL, *output = NULL;
    NovaNnOptions opt;
    nova_nn_options_init(&opt);
    opt.kernels = NOVA_NN_KERNELS_DNNL;
    int threads = 0, runs = 20, warmup = 3;
    bool json = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if ((!strcmp(a, "-i") || !strcmp(a, "--input")) && has)
            input = argv[++i];
        else if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && has)
            output = argv[++i];
        else if (!strcmp(a, "--kernels") && has) {
            const char *k = argv[++i];
            if (!strcmp(k, "ref"))
                opt.kernels = NOVA_NN_KERNELS_REF;
            else if (!strcmp(k, "dnnl"))
                opt.kernels = NOVA_NN_KERNELS_DNNL;
            else {
                fprintf(stderr, "nova nn: --kernels takes ref or dnnl\n");
                return 2;
            }
        } else if (!strcmp(a, "--threads") && has)
            threads = atoi(argv[++i]);
        else if (!strcmp(a, "--runs") && has)
            runs = atoi(argv[++i]);
        else if (!strcmp(a, "--warmup") && has)
            warmup = atoi(argv[++i]);
        else if (!strcmp(a, "--no-optimize"))
            opt.optimize = false;
        else if (!strcmp(a, "--json"))
            json = true;
        else if (!strcmp(a, "--profile"))
            opt.profile = true;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (a[0] != '-' && !model_path)
            model_path = a;
        else {
            fprintf(stderr, "nova nn: unexpected argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!model_path || (is_run && (!input || !output)) || runs < 1 ||
        warmup < 0 || threads < 0) {
        usage(stderr);
        return 2;
    }
    const char *cmd = is_run ? "nn run" : "nn bench";
    NovaError *err = NULL;
    NovaNnTensor *x = NULL;
    NovaNnSession *s = NULL;
    NovaPool *pool = NULL;
    int rc = 1;
    NovaNnModel *model = nova_nn_model_load_file(&err, model_path);
    if (!model)
        goto fail;
    if (nova_nn_model_get_input_count(model) != 1) {
        nova_error_set(&err, NOVA_ERROR_UNSUPPORTED, "unsupported model",
                       "%s: %d inputs; nova nn takes models with one input",
                       model_path, nova_nn_model_get_input_count(model));
        goto fail;
    }
    const NovaNnTensor *want = nova_nn_model_get_input(model, 0);
    if (input) {
        x = read_input(&err, input);
        if (!x)
            goto fail;
        fit_rank(x, want);
    } else {
        int64_t dims[NOVA_NN_MAX_RANK];
        for (int d = 0; d < want->rank; d++)
            dims[d] = want->dims[d] < 0 ? 1 : want->dims[d];
        x = nova_nn_tensor_create(&err, want->dtype, want->rank, dims);
        if (!x)
            goto fail;
    }
    NovaNnTensor shape = *x;
    shape.name = want->name;
    shape.data = NULL;
    opt.inputs = &shape;
    opt.n_inputs = 1;
    pool = nova_pool_create(&err, threads);
    if (!pool)
        goto fail;
    opt.pool = pool;
    s = nova_nn_session_create(&err, model, &opt);
    if (!s)
        goto fail;
    NovaNnTensor in = *x;
    in.name = NULL;
    if (is_run) {
        if (!nova_nn_session_run(&err, s, &in, 1) ||
            !nova_nn_npy_write(&err, output, nova_nn_session_get_output(s, 0)))
            goto fail;
        rc = 0;
        goto done;
    }
    double first_ms = 0;
    for (int i = 0; i < warmup; i++) {
        double t0 = nova_time_now();
        if (!nova_nn_session_run(&err, s, &in, 1))
            goto fail;
        if (i == 0)
            first_ms = (nova_time_now() - t0) * 1e3;
    }
    double *ms = calloc((size_t)runs, sizeof *ms);
    if (!ms)
        goto fail;
    for (int i = 0; i < runs; i++) {
        double t0 = nova_time_now();
        if (!nova_nn_session_run(&err, s, &in, 1)) {
            free(ms);
            goto fail;
        }
        ms[i] = (nova_time_now() - t0) * 1e3;
    }
    qsort(ms, (size_t)runs, sizeof *ms, compare_double);
    double median =
        runs % 2 ? ms[runs / 2] : 0.5 * (ms[runs / 2 - 1] + ms[runs / 2]);
    NovaNnStats st;
    nova_nn_session_get_stats(s, &st);
    double gflops = st.flops / (median * 1e-3) / 1e9;
    const char *kname = opt.kernels == NOVA_NN_KERNELS_DNNL ? "dnnl" : "ref";
    if (json)
        printf("{\"model\": \"%s\", \"kernels\": \"%s\", \"threads\": %d, "
               "\"runs\": %d, \"median_ms\": %.4f, \"min_ms\": %.4f, "
               "\"max_ms\": %.4f, \"first_ms\": %.4f, \"gflop\": %.6f, "
               "\"gflops_per_s\": %.3f, \"nodes\": %d, \"nodes_loaded\": %d, "
               "\"nodes_dnnl\": %d, \"arena_bytes\": %zu, "
               "\"weight_bytes\": %zu, \"scratch_bytes\": %zu}\n",
               model_path, kname, nova_pool_get_threads(pool), runs, median,
               ms[0], ms[runs - 1], first_ms, st.flops / 1e9, gflops,
               st.n_nodes, st.n_nodes_loaded, st.n_dnnl, st.arena_bytes,
               st.weight_bytes, st.scratch_bytes);
    else
        printf("%s: %s kernels, %d threads: median %.3f ms (min %.3f, max "
               "%.3f, %d runs), %.3f GFLOP, %.1f GFLOP/s; %d nodes (%d "
               "loaded, %d oneDNN), arena %.1f MB, weights %.1f MB\n",
               model_path, kname, nova_pool_get_threads(pool), median, ms[0],
               ms[runs - 1], runs, st.flops / 1e9, gflops, st.n_nodes,
               st.n_nodes_loaded, st.n_dnnl, st.arena_bytes / 1e6,
               st.weight_bytes / 1e6);
    free(ms);
    if (opt.profile)
        nova_nn_session_print_profile(s, stderr);
    rc = 0;
    goto done;
fail:
    nova_app_print_error(cmd, err);
    rc = 1;
done:
    nova_error_free(err);
    nova_nn_session_destroy(s);
    nova_pool_destroy(pool);
    nova_nn_tensor_free(x);
    nova_nn_model_destroy(model);
    return rc;
}
