/*
 * cmd_convert.c - `nova convert PATH... -o OUT.nii[.gz] [--series UID]
 * [--strict]`: a DICOM series (the one `nova analyze` would use, or the one
 * named) to a NIfTI-1 volume in HU; NIfTI and NRRD inputs are re-written.
 *
 * DICOM goes through nova_scan_create, nova_scan_choose and nova_scan_load
 * (nova/volume.h), so the volume is exactly what the pipeline reads.
 */
#include "commands.h"

#include "nova/nova.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: nova convert PATH... -o OUT.nii.gz [--series UID] "
            "[--strict]\n"
            "\n"
            "Write the CT volume of DICOM folders, files, a DICOMDIR or a\n"
            ".zip (or of a .nii/.nrrd file) as NIfTI-1 (.nii or .nii.gz),\n"
            "int16 HU, RAS affine as NIfTI requires.\n"
            "\n"
            "options:\n"
            "  -o, --output F  the output file (.nii or .nii.gz)\n"
            "  --series UID    this series instead of the automatic choice\n"
            "  --strict        refuse uneven spacing, missing or duplicate\n"
            "                  slices and gantry tilt instead of correcting\n"
            "  -q, --quiet     print nothing on success\n"
            "  -h, --help      this help\n");
}

static bool is_volume_file(const char *p)
{
    size_t n = strlen(p);
    const char *ext[] = {".nii", ".nii.gz", ".nrrd", ".nhdr"};
    for (size_t i = 0; i < 4; i++) {
        size_t m = strlen(ext[i]);
        if (n >= m && strcasecmp(p + n - m, ext[i]) == 0)
            return true;
    }
    return false;
}

int nova_cmd_convert(int argc, char **argv)
{
    const char *output = NULL, *series = NULL;
    bool strict = false, quiet = false;
    const char **paths = calloc((size_t)argc + 1, sizeof *paths);
    size_t n_paths = 0;
    if (!paths)
        return 1;
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) &&
            i + 1 < argc) {
            output = argv[++i];
        } else if (strcmp(argv[i], "--series") == 0 && i + 1 < argc) {
            series = argv[++i];
        } else if (strcmp(argv[i], "--strict") == 0) {
            strict = true;
        } else if (strcmp(argv[i], "-q") == 0 ||
                   strcmp(argv[i], "--quiet") == 0) {
            quiet = true;
        } else if (strcmp(argv[i], "-h") == 0 ||
                   strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            free(paths);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "nova convert: unknown option '%s'\n", argv[i]);
            usage(stderr);
            free(paths);
            return 2;
        } else {
            paths[n_paths++] = argv[i];
        }
    }
    if (n_paths == 0 || !output) {
        fprintf(stderr, "nova convert: %s\n",
                n_paths ? "-o OUT.nii.gz is required" : "no input given");
        usage(stderr);
        free(paths);
        return 2;
    }
    size_t olen = strlen(output);
    if (!((olen >= 4 && strcasecmp(output + olen - 4, ".nii") == 0) ||
          (olen >= 7 && strcasecmp(output + olen - 7, ".nii.gz") == 0))) {
        fprintf(stderr,
                "nova convert: output '%s' must end in .nii or "
                ".nii.gz\n",
                output);
        free(paths);
        return 2;
    }

    NovaError *err = NULL;
    NovaPool *pool = NULL;
    NovaScan *scan = NULL;
    NovaVolume *volume = NULL;
    NovaLoadReport report;
    memset(&report, 0, sizeof report);
    char reason[1024] = "";
    int rc = 1;
    if (n_paths == 1 && is_volume_file(paths[0])) {
        volume = nova_volume_read(&err, paths[0]);
    } else {
        pool = nova_pool_create(&err, 0);
        scan = pool ? nova_scan_create(&err, paths, n_paths, pool) : NULL;
        size_t stack;
        if (scan && nova_scan_choose(&err, scan, series, &stack, reason,
                                     sizeof reason)) {
            NovaLoadOptions opt;
            nova_load_options_init(&opt);
            if (strict) {
                opt.resample_uneven = false;
                opt.correct_tilt = false;
                opt.drop_duplicates = false;
            }
            volume = nova_scan_load(&err, scan, stack, &opt, pool, &report);
        }
    }
    if (volume && nova_volume_write_nifti(&err, volume, output)) {
        rc = 0;
        if (!quiet) {
            size_t d[3];
            nova_volume_get_dims(volume, d);
            const NovaGeometry *g = nova_volume_get_geometry(volume);
            printf("wrote %s: %zu x %zu x %zu %s, spacing %.4g x %.4g x "
                   "%.4g mm\n",
                   output, d[0], d[1], d[2],
                   nova_dtype_name(nova_volume_get_dtype(volume)),
                   g->spacing[0], g->spacing[1], g->spacing[2]);
            if (reason[0])
                printf("series: %s\n", reason);
            if (report.warnings[0])
                printf("warnings: %s\n", report.warnings);
        }
    } else {
        nova_app_print_error("convert", err);
    }
    nova_error_free(err);
    nova_volume_unref(volume);
    nova_scan_destroy(scan);
    nova_pool_destroy(pool);
    free(paths);
    return rc;
}
