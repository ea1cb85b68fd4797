/*
 * bench_lungs.c - times nova_chest_segment_lungs (lungs, airways, zones) on
 * a synthetic chest CT from the phantom module, against the 0.35 s budget of
 * ARCHITECTURE.md for a 512 x 512 x 500 study on 2 cores, and reports the
 * lung Dice against the phantom's truth so a speed-up that breaks the
 * segmentation shows.
 *
 * usage: bench_chest_lungs [NXxNYxNZ] [THREADS] [REPS] [KIND]
 * Prints one line per repetition (wall and CPU seconds of the call, and
 * per-stage wall seconds; CPU over threads bounds the wall time on an idle
 * machine when the host is shared), then the
 * median, the Dice, the volumes and the peak resident memory.
 */
#include "nova/chest.h"
#include "nova/phantom.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    NovaPhantomOptions po;
    nova_phantom_options_init(&po);
    po.dims[0] = 512;
    po.dims[1] = 512;
    po.dims[2] = 500;
    po.kind = NOVA_PHANTOM_COVID;
    if (argc > 1 && sscanf(argv[1], "%zux%zux%zu", &po.dims[0], &po.dims[1],
                           &po.dims[2]) != 3) {
        fprintf(stderr, "bad size %s (want NXxNYxNZ)\n", argv[1]);
        return 2;
    }
    int threads = argc > 2 ? atoi(argv[2]) : 2;
    int reps = argc > 3 ? atoi(argv[3]) : 5;
    if (argc > 4 && !nova_phantom_kind_from_name(argv[4], &po.kind)) {
        fprintf(stderr, "bad kind %s\n", argv[4]);
        return 2;
    }
    if (reps < 1 || reps > 100 || threads < 1) {
        fprintf(stderr, "bad threads or reps\n");
        return 2;
    }
    NovaError *err = NULL;
    NovaPool *pool = nova_pool_create(&err, threads);
    if (!pool) {
        fprintf(stderr, "%s\n", nova_error_message(err));
        return 1;
    }
    double t0 = nova_time_now();
    NovaPhantom *ph = nova_phantom_create(&err, &po, pool);
    if (!ph) {
        fprintf(stderr, "phantom: %s\n", nova_error_message(err));
        return 1;
    }
    printf("# phantom %s %zux%zux%zu built in %.2f s; %d threads\n",
           nova_phantom_kind_name(po.kind), po.dims[0], po.dims[1], po.dims[2],
           nova_time_now() - t0, threads);
    const NovaVolume *ct = nova_phantom_get_ct(ph);
    double *total = calloc((size_t)reps, sizeof *total);
    NovaLungResult *r = NULL;
    for (int i = 0; i < reps; i++) {
        nova_lung_result_destroy(r);
        struct rusage u0, u1;
        getrusage(RUSAGE_SELF, &u0);
        double s = nova_time_now();
        r = nova_chest_segment_lungs(&err, pool, ct, NULL);
        total[i] = nova_time_now() - s;
        getrusage(RUSAGE_SELF, &u1);
        double cpu =
            (double)(u1.ru_utime.tv_sec - u0.ru_utime.tv_sec) +
            1e-6 * (double)(u1.ru_utime.tv_usec - u0.ru_utime.tv_usec) +
            (double)(u1.ru_stime.tv_sec - u0.ru_stime.tv_sec) +
            1e-6 * (double)(u1.ru_stime.tv_usec - u0.ru_stime.tv_usec);
        if (!r) {
            fprintf(stderr, "segment: %s\n", nova_error_message(err));
            return 1;
        }
        const char *const *names;
        const double *sec;
        size_t ns = nova_lung_result_get_timings(r, &names, &sec);
        printf("run %d: wall %.3f s, cpu %.3f s;", i + 1, total[i], cpu);
        for (size_t k = 0; k < ns; k++)
            printf(" %s %.3f", names[k], sec[k]);
        printf("\n");
    }
    qsort(total, (size_t)reps, sizeof *total, cmp_double);
    printf("median: %.3f s (budget for lungs + airways + zones: 0.35 s)\n",
           total[reps / 2]);

    /* Dice against the truth: lung = lobes, vessels and lesions inside. */
    const uint8_t *truth =
        nova_volume_get_const_data(nova_phantom_get_labels(ph));
    const uint8_t *lab =
        nova_volume_get_const_data(nova_lung_result_get_labels(r));
    size_t n = nova_volume_get_voxel_count(ct), a = 0, b = 0, ab = 0;
    for (size_t i = 0; i < n; i++) {
        /* Airway voxels (lumen and wall, inside the lungs or not) are left
         * out, as in tests/unit/test_chest_lungs.c. */
        if (truth[i] == NOVA_LABEL_AIRWAY)
            continue;
        bool x = lab[i] == NOVA_LUNG_RIGHT || lab[i] == NOVA_LUNG_LEFT;
        bool y = (truth[i] >= 1 && truth[i] <= 5) || truth[i] == 7 ||
                 truth[i] >= 100;
        a += x;
        b += y;
        ab += x && y;
    }
    /* The truth's lung volume: its lobes, airways and vessels inside
     * included (nova_phantom_get_lobe_voxels). */
    uint64_t lobe_voxels = 0;
    for (int lobe = 1; lobe <= 5; lobe++)
        lobe_voxels += nova_phantom_get_lobe_voxels(ph, lobe);
    const NovaGeometry *g = nova_volume_get_geometry(ct);
    double vox_ml = g->spacing[0] * g->spacing[1] * g->spacing[2] / 1000.0;
    printf("truth lung volume (lobes) %.1f ml, segmented %.1f ml (%+.2f%%)\n",
           (double)lobe_voxels * vox_ml,
           nova_lung_result_get_volume_ml(r, NOVA_LUNG_NONE),
           100.0 * (nova_lung_result_get_volume_ml(r, NOVA_LUNG_NONE) /
                        ((double)lobe_voxels * vox_ml) -
                    1.0));
    printf("lung Dice vs phantom truth (lobe, vessel and lesion labels; "
           "airways excluded): %.4f; right %.1f ml, left %.1f ml, "
           "airway %.1f ml; flags %#x\n",
           2.0 * (double)ab / (double)(a + b),
           nova_lung_result_get_volume_ml(r, NOVA_LUNG_RIGHT),
           nova_lung_result_get_volume_ml(r, NOVA_LUNG_LEFT),
           nova_lung_result_get_volume_ml(r, NOVA_LUNG_AIRWAY),
           nova_lung_result_get_flags(r));
    for (size_t i = 0; i < nova_lung_result_get_warning_count(r); i++)
        printf("warning: %s\n", nova_lung_result_get_warning(r, i));
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak RSS %.0f MB (CT %.0f MB; includes the phantom's CT and "
           "truth)\n",
           (double)ru.ru_maxrss / 1024.0, (double)n * 2 / 1048576.0);
    nova_lung_result_destroy(r);
    nova_phantom_destroy(ph);
    nova_pool_destroy(pool);
    free(total);
    return 0;
}
