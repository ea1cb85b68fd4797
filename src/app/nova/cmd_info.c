/*
 * cmd_info.c - `nova info [--json] [--series UID] PATH...`: the study tree
 * of a folder, DICOMDIR, zip or file list, with each stack's fingerprint
 * and the stack `nova analyze` would use, and why.
 *
 * The scan reads headers only (nova_scan_create), in parallel; the choice
 * is nova_scan_choose, the rule documented in nova/volume.h.  JSON goes
 * through the streaming writer of nova/json.h.
 */
#include "commands.h"

#include "nova/json.h"
#include "nova/nova.h"

#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: nova info [--json] [--series UID] PATH...\n"
            "\n"
            "Scan DICOM folders (recursively), files, a DICOMDIR or a .zip;\n"
            "list studies, series and stacks with their fingerprints, and\n"
            "the stack `nova analyze` would use, with the reason.\n"
            "\n"
            "options:\n"
            "  --json          machine-readable output\n"
            "  --series UID    report the choice of this series instead\n"
            "  -h, --help      this help\n");
}

static const char *image_kind(const NovaStackFingerprint *fp)
{
    if (fp->localizer)
        return "LOCALIZER";
    if (fp->derived)
        return "DERIVED";
    if (fp->original)
        return "ORIGINAL";
    return "unknown";
}

static void json_stack(NovaJson *j, size_t index,
                       const NovaStackFingerprint *fp, bool chosen)
{
    nova_json_begin_object(j);
    nova_json_key(j, "index");
    nova_json_uint(j, index);
    nova_json_key(j, "chosen");
    nova_json_bool(j, chosen);
    nova_json_key(j, "series_uid");
    nova_json_string(j, fp->series_uid);
    nova_json_key(j, "series_number");
    nova_json_int(j, fp->series_number);
    nova_json_key(j, "series_description");
    nova_json_string(j, fp->series_description);
    nova_json_key(j, "modality");
    nova_json_string(j, fp->modality);
    nova_json_key(j, "body_part");
    nova_json_string(j, fp->body_part);
    nova_json_key(j, "orientation");
    nova_json_string(j, nova_orientation_name(fp->orientation));
    nova_json_key(j, "image_type");
    nova_json_string(j, fp->image_type);
    nova_json_key(j, "image_kind");
    nova_json_string(j, image_kind(fp));
    nova_json_key(j, "slice_count");
    nova_json_uint(j, fp->slice_count);
    nova_json_key(j, "file_count");
    nova_json_uint(j, fp->file_count);
    nova_json_key(j, "multiframe");
    nova_json_bool(j, fp->multiframe);
    nova_json_key(j, "rows");
    nova_json_uint(j, fp->rows);
    nova_json_key(j, "columns");
    nova_json_uint(j, fp->columns);
    nova_json_key(j, "pixel_spacing_mm");
    nova_json_begin_array(j);
    nova_json_double(j, fp->pixel_spacing_mm[0]);
    nova_json_double(j, fp->pixel_spacing_mm[1]);
    nova_json_end_array(j);
    nova_json_key(j, "slice_thickness_mm");
    nova_json_double(j, fp->slice_thickness_mm);
    nova_json_key(j, "slice_spacing_mm");
    nova_json_double(j, fp->slice_spacing_mm);
    nova_json_key(j, "z_coverage_mm");
    nova_json_double(j, fp->z_coverage_mm);
    nova_json_key(j, "kernel");
    nova_json_string(j, fp->kernel);
    nova_json_key(j, "contrast");
    nova_json_bool(j, fp->contrast);
    nova_json_key(j, "contrast_agent");
    nova_json_string(j, fp->contrast_agent);
    nova_json_key(j, "missing_slices");
    nova_json_uint(j, fp->missing_slices);
    nova_json_key(j, "duplicate_slices");
    nova_json_uint(j, fp->duplicate_slices);
    nova_json_key(j, "uneven_spacing");
    nova_json_bool(j, fp->uneven_spacing);
    nova_json_key(j, "tilt_deg");
    nova_json_double(j, fp->tilt_deg);
    nova_json_key(j, "transfer_syntax");
    nova_json_string(j, fp->transfer_syntax);
    nova_json_end_object(j);
}

static void print_stack(size_t index, const NovaStackFingerprint *fp,
                        bool chosen)
{
    printf("  %s stack %zu: series %lld \"%s\" %s %s %s, %zu slices of "
           "%ux%u at %.3gx%.3g mm, spacing %.3g mm, thickness %.3g mm, "
           "coverage %.1f mm, kernel %s, contrast %s\n",
           chosen ? "*" : " ", index, (long long)fp->series_number,
           fp->series_description, fp->modality,
           nova_orientation_name(fp->orientation), image_kind(fp),
           fp->slice_count, fp->columns, fp->rows, fp->pixel_spacing_mm[1],
           fp->pixel_spacing_mm[0], fp->slice_spacing_mm,
           fp->slice_thickness_mm, fp->z_coverage_mm,
           fp->kernel[0] ? fp->kernel : "-",
           fp->contrast ? fp->contrast_agent : "no");
    printf("      uid %s", fp->series_uid);
    if (fp->multiframe)
        printf(", multi-frame (%zu files)", fp->file_count);
    if (fp->missing_slices)
        printf(", %zu missing slices", fp->missing_slices);
    if (fp->duplicate_slices)
        printf(", %zu duplicates", fp->duplicate_slices);
    if (fp->uneven_spacing)
        printf(", uneven spacing");
    if (fp->tilt_deg > 0.05)
        printf(", tilt %.2f deg", fp->tilt_deg);
    printf("\n");
}

int nova_cmd_info(int argc, char **argv)
{
    bool json = false;
    const char *series = NULL;
    const char **paths = calloc((size_t)argc + 1, sizeof *paths);
    size_t n_paths = 0;
    if (!paths)
        return 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--series") == 0 && i + 1 < argc) {
            series = argv[++i];
        } else if (strcmp(argv[i], "-h") == 0 ||
                   strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            free(paths);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "nova info: unknown option '%s'\n", argv[i]);
            usage(stderr);
            free(paths);
            return 2;
        } else {
            paths[n_paths++] = argv[i];
        }
    }
    if (n_paths == 0) {
        usage(stderr);
        free(paths);
        return 2;
    }
    NovaError *err = NULL;
    NovaPool *pool = nova_pool_create(&err, 0);
    NovaScan *scan = pool ? nova_scan_create(&err, paths, n_paths, pool) : NULL;
    free(paths);
    if (!scan) {
        nova_app_print_error("info", err);
        nova_error_free(err);
        nova_pool_destroy(pool);
        return 1;
    }
    size_t chosen = SIZE_MAX;
    char reason[1024] = "";
    NovaError *choice_err = NULL;
    if (!nova_scan_choose(&choice_err, scan, series, &chosen, reason,
                          sizeof reason))
        chosen = SIZE_MAX;

    int rc = 0;
    size_t n_stacks = nova_scan_get_stack_count(scan);
    if (json) {
        NovaJson *j = nova_json_create_file(&err, stdout, NOVA_JSON_PRETTY);
        if (!j) {
            nova_app_print_error("info", err);
            rc = 1;
            goto done;
        }
        nova_json_begin_object(j);
        nova_json_key(j, "files");
        nova_json_begin_object(j);
        nova_json_key(j, "seen");
        nova_json_uint(j, nova_scan_get_files_seen(scan));
        nova_json_key(j, "images");
        nova_json_uint(j, nova_scan_get_image_files(scan));
        nova_json_key(j, "skipped_not_dicom");
        nova_json_uint(j, nova_scan_get_skipped_files(scan));
        nova_json_key(j, "dicom_without_image");
        nova_json_uint(j, nova_scan_get_non_image_files(scan));
        nova_json_end_object(j);
        nova_json_key(j, "studies");
        nova_json_begin_array(j);
        for (size_t s = 0; s < nova_scan_get_study_count(scan); s++) {
            const NovaStudyInfo *st = nova_scan_get_study(scan, s);
            nova_json_begin_object(j);
            nova_json_key(j, "study_uid");
            nova_json_string(j, st->study_uid);
            nova_json_key(j, "patient_id");
            nova_json_string(j, st->patient_id);
            nova_json_key(j, "patient_name");
            nova_json_string(j, st->patient_name);
            nova_json_key(j, "study_date");
            nova_json_string(j, st->study_date);
            nova_json_key(j, "study_description");
            nova_json_string(j, st->study_description);
            nova_json_key(j, "accession_number");
            nova_json_string(j, st->accession_number);
            nova_json_key(j, "series_count");
            nova_json_uint(j, st->series_count);
            nova_json_key(j, "stacks");
            nova_json_begin_array(j);
            for (size_t i = 0; i < n_stacks; i++) {
                const NovaStackFingerprint *fp = nova_scan_get_stack(scan, i);
                if (fp->study_index == s)
                    json_stack(j, i, fp, i == chosen);
            }
            nova_json_end_array(j);
            nova_json_end_object(j);
        }
        nova_json_end_array(j);
        nova_json_key(j, "choice");
        nova_json_begin_object(j);
        if (chosen != SIZE_MAX) {
            nova_json_key(j, "stack");
            nova_json_uint(j, chosen);
            nova_json_key(j, "series_uid");
            nova_json_string(j, nova_scan_get_stack(scan, chosen)->series_uid);
            nova_json_key(j, "reason");
            nova_json_string(j, reason);
        } else {
            nova_json_key(j, "stack");
            nova_json_null(j);
            nova_json_key(j, "error");
            nova_json_string(j, nova_error_message(choice_err));
        }
        nova_json_end_object(j);
        nova_json_end_object(j);
        if (!nova_json_finish(&err, j)) {
            nova_app_print_error("info", err);
            rc = 1;
        }
        nova_json_destroy(j);
    } else {
        printf("%zu files: %zu DICOM images, %zu skipped (not DICOM or "
               "unreadable), %zu DICOM without an image\n",
               nova_scan_get_files_seen(scan), nova_scan_get_image_files(scan),
               nova_scan_get_skipped_files(scan),
               nova_scan_get_non_image_files(scan));
        for (size_t s = 0; s < nova_scan_get_study_count(scan); s++) {
            const NovaStudyInfo *st = nova_scan_get_study(scan, s);
            printf("study %s: patient %s \"%s\", date %s, \"%s\", %zu "
                   "series, %zu stacks\n",
                   st->study_uid, st->patient_id, st->patient_name,
                   st->study_date, st->study_description, st->series_count,
                   st->stack_count);
            for (size_t i = 0; i < n_stacks; i++) {
                const NovaStackFingerprint *fp = nova_scan_get_stack(scan, i);
                if (fp->study_index == s)
                    print_stack(i, fp, i == chosen);
            }
        }
        if (chosen != SIZE_MAX)
            printf("analyze would use stack %zu: %s\n", chosen, reason);
        else
            printf("analyze would find nothing to use: %s\n",
                   nova_error_message(choice_err));
    }
done:
    nova_error_free(choice_err);
    nova_error_free(err);
    nova_scan_destroy(scan);
    nova_pool_destroy(pool);
    return rc;
}
