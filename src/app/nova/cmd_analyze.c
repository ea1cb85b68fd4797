/*
 * cmd_analyze.c - `nova analyze PATH [-o DIR]`: the main job.
 *
 * Study in (a folder, files, DICOMDIR, zip, or a NIfTI/NRRD volume), the
 * chest pipeline run (lungs, zones, lesions, measures, assessment), and
 * result.json + report.html + overlay PNGs out.  Prints a short summary; a
 * progress line on a terminal.  Exit 0 on success, 1 on bad input, 2 on
 * usage.
 */
#include "commands.h"

#include "nova/analysis.h"
#include "nova/chest.h"
#include "nova/report.h"
#include "nova/volume.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: nova analyze PATH [-o DIR] [options]\n\n"
            "Find, measure and score lung lesions in a chest CT and write\n"
            "result.json, report.html and overlay PNGs into DIR.\n"
            "PATH: a folder (searched recursively), a DICOM file, a DICOMDIR,\n"
            "a .zip, or a volume file (.nii, .nii.gz, .nrrd) in HU.\n\n"
            "options:\n"
            "  -o, --output DIR     output folder (default: nova-result)\n"
            "      --series UID     analyse this series instead of the one\n"
            "                       the chest rule picks\n"
            "      --model FILE     probability model file (default: the\n"
            "                       built-in models/covid-probability)\n"
            "      --json           print result.json on stdout\n"
            "  -t, --threads N      threads (default: all cores)\n"
            "      --masks          also write lungs.nii.gz (1 right, 2\n"
            "                       left, 3 airway) and lesions.nii.gz\n"
            "                       (1 ground glass, 2 above -200 HU)\n"
            "  -q, --quiet          no summary\n"
            "  -h, --help           this text\n\n"
            "Decision support only: not validated for diagnosis.\n");
}

typedef struct {
    bool tty;
    int step, steps;
} Progress;

static void progress(Progress *p, const char *what)
{
    p->step++;
    if (p->tty)
        fprintf(stderr, "\r\033[K[%d/%d] %s...", p->step, p->steps, what);
}

static void progress_done(Progress *p)
{
    if (p->tty)
        fprintf(stderr, "\r\033[K");
}

static bool is_volume_file(const char *path)
{
    size_t n = strlen(path);
    return (n > 4 && strcmp(path + n - 4, ".nii") == 0) ||
           (n > 7 && strcmp(path + n - 7, ".nii.gz") == 0) ||
           (n > 5 && strcmp(path + n - 5, ".nrrd") == 0) ||
           (n > 5 && strcmp(path + n - 5, ".nhdr") == 0);
}

/* The chest rule, or, when no stack qualifies (a single slice, a short
 * crop), the CT stack with the most slices, with a warning. */
static bool pick_stack(NovaError **error, const NovaScan *scan,
                       const char *series, size_t *stack, char *reason,
                       size_t reason_size, char *warning, size_t warning_size)
{
    NovaError *err = NULL;
    if (nova_scan_choose(&err, scan, series, stack, reason, reason_size))
        return true;
    if (series || nova_error_code(err) != NOVA_ERROR_NOT_FOUND) {
        nova_error_set(error, nova_error_code(err), nova_error_summary(err),
                       "%s", nova_error_message(err));
        nova_error_free(err);
        return false;
    }
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < nova_scan_get_stack_count(scan); i++) {
        const NovaStackFingerprint *f = nova_scan_get_stack(scan, i);
        if (strcmp(f->modality, "CT") != 0 || f->localizer)
            continue;
        if (best == SIZE_MAX ||
            f->slice_count > nova_scan_get_stack(scan, best)->slice_count ||
            (f->orientation == NOVA_ORIENTATION_AXIAL &&
             nova_scan_get_stack(scan, best)->orientation !=
                 NOVA_ORIENTATION_AXIAL))
            best = i;
    }
    if (best == SIZE_MAX) {
        nova_error_set(error, NOVA_ERROR_NOT_FOUND, "no CT series", "%s",
                       nova_error_message(err));
        nova_error_free(err);
        return false;
    }
    *stack = best;
    snprintf(reason, reason_size,
             "no stack meets the chest rule (%s); using the CT stack with "
             "the most slices",
             nova_error_message(err));
    snprintf(warning, warning_size,
             "The study has no complete chest CT series; the analysis ran on "
             "a stack of %zu slice(s), so volumes and percentages describe "
             "only what it shows.",
             nova_scan_get_stack(scan, best)->slice_count);
    nova_error_free(err);
    return true;
}

/* A float or uint8 volume file (HU as stored) rounded to int16 HU, the
 * pipeline's input type; values beyond int16 are clamped. */
static NovaVolume *to_hu_int16(NovaError **error, const NovaVolume *v)
{
    size_t dims[3];
    nova_volume_get_dims(v, dims);
    NovaVolume *out = nova_volume_create(error, NOVA_DTYPE_INT16, dims,
                                         nova_volume_get_geometry(v));
    if (!out)
        return NULL;
    int16_t *dst = nova_volume_get_data(out);
    size_t n = nova_volume_get_voxel_count(v);
    const void *src = nova_volume_get_const_data(v);
    for (size_t i = 0; i < n; i++) {
        double x = nova_volume_get_dtype(v) == NOVA_DTYPE_FLOAT32
                       ? (double)((const float *)src)[i]
                       : (double)((const uint8_t *)src)[i];
        x = x != x ? -1024 : x < -32768 ? -32768 : x > 32767 ? 32767 : x;
        dst[i] = (int16_t)lround(x);
    }
    return out;
}

int nova_cmd_analyze(int argc, char **argv)
{
    static const struct option options[] = {
        {"output", required_argument, NULL, 'o'},
        {"series", required_argument, NULL, 's'},
        {"model", required_argument, NULL, 'm'},
        {"json", no_argument, NULL, 'j'},
        {"threads", required_argument, NULL, 't'},
        {"quiet", no_argument, NULL, 'q'},
        {"masks", no_argument, NULL, 'M'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *out_dir = "nova-result", *series = NULL, *model = NULL;
    bool json = false, quiet = false, masks = false;
    int threads = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:t:qh", options, NULL)) != -1) {
        switch (c) {
        case 'o': out_dir = optarg; break;
        case 's': series = optarg; break;
        case 'm': model = optarg; break;
        case 'j': json = true; break;
        case 't': threads = atoi(optarg); break;
        case 'q': quiet = true; break;
        case 'M': masks = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    const char *path = argv[optind];
    NovaError *err = NULL;
    int rc = 1;
    Progress prog = {isatty(2) && !json, 0, 5};
    double t_start = nova_time_now();
    NovaScan *scan = NULL;
    NovaVolume *hu = NULL;
    NovaLungResult *lungs = NULL;
    NovaAnalysis *an = NULL;
    NovaReportInput in;
    memset(&in, 0, sizeof in);
    in.input_path = path;
    char reason[512] = "", warning[512] = "";
    NovaLoadReport load;
    memset(&load, 0, sizeof load);

    NovaPool *pool = nova_pool_create(&err, threads);
    if (!pool)
        goto done;

    progress(&prog, "reading");
    double t0 = nova_time_now();
    if (is_volume_file(path)) {
        hu = nova_volume_read(&err, path);
        if (hu && nova_volume_get_dtype(hu) != NOVA_DTYPE_INT16) {
            NovaVolume *i16 = to_hu_int16(&err, hu);
            nova_volume_unref(hu);
            hu = i16;
            if (hu)
                snprintf(warning, sizeof warning,
                         "The volume file holds non-integer values; they "
                         "were rounded to whole HU.");
        }
        snprintf(reason, sizeof reason, "volume file given");
        in.choice_reason = reason;
    } else {
        const char *paths[1] = {path};
        scan = nova_scan_create(&err, paths, 1, pool);
        size_t stack = 0;
        if (!scan || !pick_stack(&err, scan, series, &stack, reason,
                                 sizeof reason, warning, sizeof warning))
            goto done;
        NovaLoadOptions lo;
        nova_load_options_init(&lo);
        hu = nova_scan_load(&err, scan, stack, &lo, pool, &load);
        in.stack = nova_scan_get_stack(scan, stack);
        in.study = nova_scan_get_study(scan, in.stack->study_index);
        in.choice_reason = reason;
        in.load = &load;
        if (load.warnings[0])
            in.warnings[in.warning_count++] = load.warnings;
    }
    if (!hu)
        goto done;
    if (warning[0])
        in.warnings[in.warning_count++] = warning;
    double t1 = nova_time_now();

    progress(&prog, "lungs");
    lungs = nova_chest_segment_lungs(&err, pool, hu, NULL);
    if (!lungs)
        goto done;
    double t2 = nova_time_now();

    progress(&prog, "lesions");
    an = nova_analysis_run(&err, pool, hu, lungs, NULL, model);
    if (!an)
        goto done;

    in.hu = hu;
    in.lungs = lungs;
    in.analysis = an;
    size_t n = 0;
    in.timing_names[n] = "read";
    in.timing_ms[n++] = (t1 - t0) * 1000;
    in.timing_names[n] = "lungs";
    in.timing_ms[n++] = (t2 - t1) * 1000;
    in.timing_names[n] = "lesions";
    in.timing_ms[n++] = nova_analysis_get_seconds(an, "lesions") * 1000;
    in.timing_names[n] = "measures";
    in.timing_ms[n++] = nova_analysis_get_seconds(an, "measures") * 1000;
    in.timing_names[n] = "assessment";
    in.timing_ms[n++] = nova_analysis_get_seconds(an, "assessment") * 1000;
    in.timing_count = n;

    progress(&prog, "report");
    /* result.json's timings cover the stages before the report, which is
     * written while they are recorded (docs/result-schema.md). */
    double t_report = nova_time_now();
    if (!nova_report_write(&err, &in, out_dir))
        goto done;
    if (getenv("NOVA_DEBUG_TIMING"))
        fprintf(stderr, "report: %.1f ms\n",
                (nova_time_now() - t_report) * 1e3);
    if (masks) {
        /* The masks on the CT's grid, for a viewer or a researcher's own
         * measurements (docs/result-schema.md, "Masks"). */
        char mpath[4096];
        snprintf(mpath, sizeof mpath, "%s/lungs.nii.gz", out_dir);
        if (!nova_volume_write_nifti(&err, nova_lung_result_get_labels(lungs),
                                     mpath))
            goto done;
        snprintf(mpath, sizeof mpath, "%s/lesions.nii.gz", out_dir);
        if (!nova_volume_write_nifti(&err, nova_analysis_get_lesion_mask(an),
                                     mpath))
            goto done;
    }
    progress_done(&prog);
    if (json && !nova_report_write_json(&err, &in, stdout, out_dir))
        goto done;

    if (!quiet && !json) {
        const NovaMeasures *m = nova_analysis_get_measures(an);
        printf("lungs %.0f ml (right %.0f, left %.0f); %zu lesion(s), "
               "%.1f ml\n",
               m->lung_ml[0], m->lung_ml[1], m->lung_ml[2],
               nova_analysis_get_lesion_count(an), m->lesion_ml[0]);
        printf("PO %.2f %%, PHO %.2f %%, severity %d/30 (%s)\n", m->po[0],
               m->pho[0], m->severity_score, m->severity_scheme);
        printf("RSNA %s, CO-RADS %d, COVID-19 probability %.0f %% "
               "(decision support)\n",
               nova_rsna_category_name(nova_analysis_get_rsna(an)),
               nova_analysis_get_corads(an),
               100 * nova_analysis_get_probability(an));
        for (size_t i = 0; i < in.warning_count; i++)
            printf("warning: %s\n", in.warnings[i]);
        for (size_t i = 0; i < nova_lung_result_get_warning_count(lungs); i++)
            printf("warning: %s\n", nova_lung_result_get_warning(lungs, i));
        printf("report: %s/report.html (%.2f s)\n", out_dir,
               nova_time_now() - t_start);
    }
    rc = 0;
done:
    progress_done(&prog);
    if (err) {
        nova_app_print_error("analyze", err);
        rc = 1;
    }
    nova_error_free(err);
    nova_analysis_destroy(an);
    nova_lung_result_destroy(lungs);
    nova_volume_unref(hu);
    nova_scan_destroy(scan);
    nova_pool_destroy(pool);
    return rc;
}
