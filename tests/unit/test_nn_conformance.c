/*
 * test_nn_conformance.c - ONNX's own backend node tests, run through Nova's
 * engine with both kernel paths.
 *
 * The cases are generated at test time by tests/nn/gen_node_cases.py from
 * the generators Debian's python3-onnx ships (cached in the build folder),
 * so the expected outputs come from ONNX's numpy reference implementations,
 * not from us.  For each case and data set: the model is loaded, graph
 * input 0 is fed at run time and the other inputs are bound as constants
 * (as weights, shapes and axes are in exported models), and every output is
 * compared with ONNX's tolerance (|got - want| <= atol + rtol * |want|,
 * rtol 1e-3, atol 1e-7, as onnx/backend/test/runner does; integers exact).
 * A case whose model uses an op or feature Nova does not support is
 * skipped with the engine's own error message as the reason; any other
 * failure is a failed case.
 *
 * Usage: test_nn_conformance [CASES_DIR] (default: the build cache).
 */
#include "nova/nn.h"
#include "test.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>

#ifndef NN_CASES_DIR
#define NN_CASES_DIR "nn-node-cases"
#endif

static char case_dir[1024];
static char case_name[256];
static NovaNnKernels case_kernels;
static NovaPool *pool;
static int dnnl_cases, dnnl_nodes;

static NovaNnTensor *read_pb(const char *dir, const char *kind, int i)
{
    char path[1400];
    snprintf(path, sizeof path, "%s/%s_%d.pb", dir, kind, i);
    struct stat st;
    if (stat(path, &st) != 0)
        return NULL;
    NovaError *err = NULL;
    NovaNnTensor *t = nova_nn_tensor_read_pb(&err, path);
    if (!t) {
        test_fail(__FILE__, __LINE__, "%s: %s", path, nova_error_message(err));
        nova_error_free(err);
    }
    return t;
}

static double num(const NovaNnTensor *t, size_t i)
{
    switch (t->dtype) {
    case NOVA_NN_FLOAT32: return ((const float *)t->data)[i];
    case NOVA_NN_FLOAT64: return ((const double *)t->data)[i];
    case NOVA_NN_INT64: return (double)((const int64_t *)t->data)[i];
    case NOVA_NN_INT32: return ((const int32_t *)t->data)[i];
    case NOVA_NN_INT8: return ((const int8_t *)t->data)[i];
    case NOVA_NN_UINT8:
    case NOVA_NN_BOOL: return ((const uint8_t *)t->data)[i];
    default: return NAN;
    }
}

static void compare(const char *what, const NovaNnTensor *got,
                    const NovaNnTensor *want)
{
    if (got->dtype != want->dtype) {
        test_fail(__FILE__, __LINE__, "%s: dtype %s, want %s", what,
                  nova_nn_dtype_name(got->dtype),
                  nova_nn_dtype_name(want->dtype));
        return;
    }
    bool same = got->rank == want->rank;
    for (int d = 0; same && d < got->rank; d++)
        same = got->dims[d] == want->dims[d];
    if (!same) {
        test_fail(__FILE__, __LINE__, "%s: shape differs (rank %d vs %d)", what,
                  got->rank, want->rank);
        return;
    }
    size_t n = nova_nn_tensor_count(want);
    bool is_float =
        want->dtype == NOVA_NN_FLOAT32 || want->dtype == NOVA_NN_FLOAT64;
    int reported = 0;
    for (size_t i = 0; i < n; i++) {
        double a = num(got, i), b = num(want, i);
        bool ok;
        if (is_float)
            ok = (isnan(a) && isnan(b)) || (a == b) ||
                 fabs(a - b) <= 1e-7 + 1e-3 * fabs(b);
        else
            ok = a == b;
        if (!ok && reported++ < 3)
            test_fail(__FILE__, __LINE__, "%s[%zu]: got %.9g, want %.9g", what,
                      i, a, b);
    }
}

static void run_case(void)
{
    char path[1400];
    snprintf(path, sizeof path, "%s/model.onnx", case_dir);
    NovaError *err = NULL;
    NovaNnModel *model = nova_nn_model_load_file(&err, path);
    if (!model) {
        if (nova_error_code(err) == NOVA_ERROR_UNSUPPORTED) {
            char reason[240];
            snprintf(reason, sizeof reason, "%s", nova_error_message(err));
            nova_error_free(err);
            SKIP("%s", reason);
        }
        test_fail(__FILE__, __LINE__, "load: %s", nova_error_message(err));
        nova_error_free(err);
        return;
    }
    for (int set = 0;; set++) {
        char ds[1300];
        snprintf(ds, sizeof ds, "%s/test_data_set_%d", case_dir, set);
        struct stat st;
        if (stat(ds, &st) != 0)
            break;
        int n_in = nova_nn_model_get_input_count(model);
        NovaNnTensor *ins[16] = {0};
        NovaNnTensor bound[16];
        bool have_all = n_in <= 16;
        for (int i = 0; have_all && i < n_in; i++) {
            ins[i] = read_pb(ds, "input", i);
            have_all = ins[i] != NULL;
        }
        if (!have_all) {
            for (int i = 0; i < n_in && i < 16; i++)
                nova_nn_tensor_free(ins[i]);
            nova_nn_model_destroy(model);
            SKIP("inputs are not all tensors");
        }
        for (int i = 0; i < n_in; i++) {
            bound[i] = *ins[i];
            bound[i].name = nova_nn_model_get_input(model, i)->name;
        }
        NovaNnOptions opt;
        nova_nn_options_init(&opt);
        opt.kernels = case_kernels;
        opt.pool = pool;
        /* Input 0 at run time; the rest bound as constants.  Input 0 also
         * fixes its own shape (node tests declare them all). */
        opt.inputs = bound + 1;
        opt.n_inputs = n_in > 0 ? n_in - 1 : 0;
        NovaNnSession *s = nova_nn_session_create(&err, model, &opt);
        if (!s) {
            bool unsupported = nova_error_code(err) == NOVA_ERROR_UNSUPPORTED;
            char reason[240];
            snprintf(reason, sizeof reason, "%s", nova_error_message(err));
            nova_error_free(err);
            err = NULL;
            for (int i = 0; i < n_in; i++)
                nova_nn_tensor_free(ins[i]);
            nova_nn_model_destroy(model);
            if (unsupported)
                SKIP("%s", reason);
            test_fail(__FILE__, __LINE__, "session: %s", reason);
            return;
        }
        NovaNnStats stats;
        nova_nn_session_get_stats(s, &stats);
        if (set == 0 && stats.n_dnnl > 0) {
            dnnl_cases++;
            dnnl_nodes += stats.n_dnnl;
        }
        bool ran = true;
        if (nova_nn_session_get_input_count(s) > 0) {
            NovaNnTensor in0 = bound[0];
            ran = nova_nn_session_run(&err, s, &in0, 1);
        } else {
            ran = nova_nn_session_run(&err, s, NULL, 0);
        }
        if (!ran) {
            test_fail(__FILE__, __LINE__, "run: %s", nova_error_message(err));
            nova_error_clear(&err);
        } else {
            int n_out = nova_nn_session_get_output_count(s);
            for (int k = 0; k < n_out; k++) {
                NovaNnTensor *want = read_pb(ds, "output", k);
                if (!want) {
                    test_fail(__FILE__, __LINE__, "output_%d.pb missing", k);
                    continue;
                }
                char what[300];
                snprintf(what, sizeof what, "set %d output %d", set, k);
                compare(what, nova_nn_session_get_output(s, k), want);
                nova_nn_tensor_free(want);
            }
        }
        nova_nn_session_destroy(s);
        for (int i = 0; i < n_in; i++)
            nova_nn_tensor_free(ins[i]);
    }
    nova_nn_model_destroy(model);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    const char *root = argc > 1 ? argv[1] : NN_CASES_DIR;
    char marker[1100];
    snprintf(marker, sizeof marker, "%s/.complete", root);
    struct stat st;
    if (stat(marker, &st) != 0) {
        char cmd[2400];
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 %s/tests/nn/gen_node_cases.py '%s' "
                 ">&2",
                 NOVA_SOURCE_DIR, root);
        if (system(cmd) != 0 || stat(marker, &st) != 0) {
            printf("1..0 # SKIP cannot generate ONNX node cases (needs "
                   "Debian python3-onnx)\n");
            return 0;
        }
    }
    char nodes[1100];
    snprintf(nodes, sizeof nodes, "%s/node", root);
    DIR *d = opendir(nodes);
    if (!d) {
        printf("1..0 # SKIP %s missing\n", nodes);
        return 0;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            names = realloc(names, cap * sizeof *names);
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    NovaError *err = NULL;
    pool = nova_pool_create(&err, 2);
    const char *only = getenv("NN_CASE_FILTER");
    const char *kernels = getenv("NN_KERNELS"); /* ref, dnnl or both */
    for (int k = 0; k < 2; k++) {
        if (kernels && strcmp(kernels, k ? "dnnl" : "ref") != 0 &&
            strcmp(kernels, "both") != 0)
            continue;
        case_kernels = k ? NOVA_NN_KERNELS_DNNL : NOVA_NN_KERNELS_REF;
        for (size_t i = 0; i < n; i++) {
            if (only && !strstr(names[i], only))
                continue;
            snprintf(case_dir, sizeof case_dir, "%s/%s", nodes, names[i]);
            snprintf(case_name, sizeof case_name, "%s/%s", k ? "dnnl" : "ref",
                     names[i]);
            test_run(case_name, run_case);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    nova_pool_destroy(pool);
    printf("# oneDNN primitives ran %d nodes in %d cases\n", dnnl_nodes,
           dnnl_cases);
    return test_done();
}
