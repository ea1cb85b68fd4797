/*
 * bench_nova.c - the volume benchmark's Nova reader: scan a folder,
 * choose the stack, load it as one sorted HU volume (the library's own
 * path, nova_scan_create + nova_scan_choose + nova_scan_load), and print
 * the voxel count and checksum so run.sh can check that every reader
 * built the same volume.  Threads: NOVA_THREADS or argv[2].
 */
#include "nova/nova.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_nova FOLDER [THREADS]\n");
        return 2;
    }
    NovaError *err = NULL;
    double t0 = nova_time_now();
    NovaPool *pool = nova_pool_create(&err, argc > 2 ? atoi(argv[2]) : 0);
    const char *path = argv[1];
    NovaScan *scan = pool ? nova_scan_create(&err, &path, 1, pool) : NULL;
    double t1 = nova_time_now();
    size_t stack;
    NovaVolume *v = NULL;
    if (scan && nova_scan_choose(&err, scan, NULL, &stack, NULL, 0))
        v = nova_scan_load(&err, scan, stack, NULL, pool, NULL);
    double t2 = nova_time_now();
    if (!v) {
        fprintf(stderr, "bench_nova: %s\n", nova_error_message(err));
        return 1;
    }
    const int16_t *d = nova_volume_get_const_data(v);
    size_t n = nova_volume_get_voxel_count(v);
    long long sum = 0;
    /* Every 61st voxel, weighted by its index: order matters, cost does
     * not (the same sample in every reader). */
    for (size_t i = 0; i < n; i += 61)
        sum += d[i] * (long long)(i % 7 + 1);
    printf("voxels %zu checksum %lld first %d scan_s %.4f load_s %.4f\n", n,
           sum, d[0], t1 - t0, t2 - t1);
    nova_volume_unref(v);
    nova_scan_destroy(scan);
    nova_pool_destroy(pool);
    return 0;
}
