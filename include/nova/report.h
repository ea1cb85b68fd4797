/*
 * nova/report.h - writing the result of the chest pipeline: result.json
 * (schema nova.result/1, docs/result-schema.md), a self-contained
 * report.html and overlay PNGs (lung and lesion outlines on key slices).
 */
#ifndef NOVA_REPORT_H
#define NOVA_REPORT_H

#include "nova/analysis.h"
#include "nova/chest.h"
#include "nova/core.h"
#include "nova/volume.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NOVA_RESULT_SCHEMA "nova.result/1"
#define NOVA_CHEST_PIPELINE_ID "nova.chest-ct"
#define NOVA_CHEST_PIPELINE_VERSION "0.1.0"
#define NOVA_REPORT_MAX_TIMINGS 16
#define NOVA_REPORT_MAX_WARNINGS 16

/* Everything the report shows.  Pointers are borrowed for the call; any may
 * be NULL where it does not apply (study and stack for a NIfTI input, the
 * analysis when the lungs were not found). */
typedef struct {
    const char *input_path;
    const NovaStudyInfo *study;
    const NovaStackFingerprint *stack;
    const char *choice_reason;
    const NovaLoadReport *load;
    const NovaVolume *hu;
    const NovaLungResult *lungs;
    const NovaAnalysis *analysis;
    const char *timing_names[NOVA_REPORT_MAX_TIMINGS];
    double timing_ms[NOVA_REPORT_MAX_TIMINGS];
    size_t timing_count;
    const char *warnings[NOVA_REPORT_MAX_WARNINGS];
    size_t warning_count;
} NovaReportInput;

/* Write result.json, report.html and overlays/ (PNG) into out_dir (created
 * if absent).  The PNG paths and the HTML path are listed under "outputs"
 * in result.json.  Errors name the file that could not be written. */
bool nova_report_write(NovaError **error, const NovaReportInput *input,
                       const char *out_dir);

/* Write only result.json (to a FILE, e.g. stdout for --json). */
bool nova_report_write_json(NovaError **error, const NovaReportInput *input,
                            FILE *out, const char *out_dir);

#ifdef __cplusplus
}
#endif
#endif
