/*
 * fuzz_onnx.c - libFuzzer target for Nova's ONNX loader and compiler.
 *
 * Each input is parsed as an ONNX model from memory; when it loads, a
 * session is compiled with the reference kernels (shape inference, folding,
 * passes, memory plan) and, when the model is small (at most 10 MFLOP and
 * a 64 MB arena) and has fixed input shapes, run once on zeros.  Any
 * error is fine; a crash, a sanitizer report, a leak or a hang is a bug.
 * Its seed corpus is tests/nn/corpus (broken models; also replayed by
 * tests/unit/test_nn.c in `make check`), linked as tests/fuzz/corpus-onnx.
 */
#include "nova/nn.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    NovaError *err = NULL;
    NovaNnModel *m = nova_nn_model_load_memory(&err, data, size, "fuzz");
    NovaNnSession *s = m ? nova_nn_session_create(&err, m, NULL) : NULL;
    if (s) {
        NovaNnStats st;
        nova_nn_session_get_stats(s, &st);
        int n = nova_nn_session_get_input_count(s);
        if (st.flops <= 1e7 && st.arena_bytes <= ((size_t)64 << 20) &&
            n <= 8) {
            NovaNnTensor in[8];
            bool ok = true;
            for (int i = 0; i < n; i++) {
                in[i] = *nova_nn_session_get_input(s, i);
                size_t bytes = nova_nn_tensor_count(&in[i]) *
                               nova_nn_dtype_size(in[i].dtype);
                in[i].data = calloc(1, bytes ? bytes : 1);
                ok = ok && in[i].data;
            }
            if (ok)
                nova_nn_session_run(&err, s, in, n);
            for (int i = 0; i < n; i++)
                free(in[i].data);
        }
    }
    nova_nn_session_destroy(s);
    nova_nn_model_destroy(m);
    nova_error_free(err);
    return 0;
}
