/* dnnl.c - oneDNN backend (in progress). */
#include "nn_internal.h"
NnDnnl *nova__nn_dnnl_create(NovaError **error, int n_threads)
{
    nova_error_set(error, NOVA_ERROR_UNSUPPORTED, "unsupported", "oneDNN kernels are not built yet");
    return NULL;
}
void nova__nn_dnnl_destroy(NnDnnl *d) {}
bool nova__nn_dnnl_compile(NovaError **error, NnDnnl *d, NnGraph *g, const int *order, int n_order) { return false; }
void nova__nn_dnnl_run(NnDnnl *d, NnExec *ex, NnNode *node) {}
void nova__nn_dnnl_release(NnDnnl *d, NnGraph *g) {}
