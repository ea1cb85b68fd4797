/*
 * bench_nova.c - the DICOM decode benchmark's Nova side: parse every file
 * of a folder and decode its first frame (nova_dataset_read_file +
 * nova_dataset_decode_frame), files handed to THREADS pool threads, RUNS
 * times; prints the median wall time, the mean CPU time (user + system,
 * all threads) per run and a checksum of all samples (so the
 * peers can be checked to decode the same pixels).
 * Usage: bench_nova FOLDER THREADS RUNS
 */
#include "nova/dicom.h"

#include <dirent.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char **paths;
    uint64_t *sums;
    int failures;
} Ctx;

static void decode_one(void *user, size_t i, int thread)
{
    Ctx *ctx = user;
    NovaError *err = NULL;
    NovaDataset *ds = nova_dataset_read_file(&err, ctx->paths[i], 0);
    NovaImageInfo info;
    void *buf = NULL;
    uint64_t sum = 0;
    if (ds && nova_dataset_get_image_info(&err, ds, &info)) {
        size_t bytes = nova_image_frame_bytes(&info);
        buf = nova_malloc(&err, bytes);
        if (buf && nova_dataset_decode_frame(&err, ds, 0, buf, bytes)) {
            const uint16_t *p = buf;
            for (size_t k = 0; k < bytes / 2; k++)
                sum += p[k];
        }
    }
    if (err) {
        fprintf(stderr, "%s: %s\n", ctx->paths[i], nova_error_message(err));
        __atomic_add_fetch(&ctx->failures, 1, __ATOMIC_RELAXED);
    }
    ctx->sums[i] = sum;
    nova_free(buf);
    nova_dataset_destroy(ds);
    nova_error_free(err);
}

/* User + system CPU seconds of the whole process so far. */
static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_nova FOLDER THREADS RUNS\n");
        return 2;
    }
    int threads = atoi(argv[2]), runs = atoi(argv[3]);
    DIR *d = opendir(argv[1]);
    if (!d)
        return 1;
    size_t n = 0, cap = 1024;
    char **paths = malloc(cap * sizeof *paths);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap)
            paths = realloc(paths, (cap *= 2) * sizeof *paths);
        size_t len = strlen(argv[1]) + strlen(e->d_name) + 2;
        paths[n] = malloc(len);
        snprintf(paths[n], len, "%s/%s", argv[1], e->d_name);
        n++;
    }
    closedir(d);
    qsort(paths, n, sizeof *paths, cmp_str);
    NovaError *err = NULL;
    NovaPool *pool = nova_pool_create(&err, threads);
    if (!pool)
        return 1;
    Ctx ctx = {paths, calloc(n, sizeof(uint64_t)), 0};
    double *times = calloc((size_t)runs, sizeof *times);
    double cpu0 = cpu_seconds();
    for (int r = 0; r < runs; r++) {
        double t0 = nova_time_now();
        nova_pool_for_each(pool, n, decode_one, &ctx);
        times[r] = nova_time_now() - t0;
    }
    double cpu = (cpu_seconds() - cpu0) / runs;
    qsort(times, (size_t)runs, sizeof *times, cmp_dbl);
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += ctx.sums[i];
    printf("nova files=%zu threads=%d median_s=%.4f cpu_s=%.4f checksum=%llu "
           "failures=%d\n",
           n, threads, times[runs / 2], cpu, (unsigned long long)total,
           ctx.failures);
    nova_pool_destroy(pool);
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
    free(ctx.sums);
    free(times);
    return ctx.failures ? 1 : 0;
}
