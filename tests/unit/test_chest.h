/*
 * test_chest.h - helpers shared by the chest tests (test_chest_lungs,
 * test_analysis_ct, test_analysis_insert): a volume of ../shared/data or a
 * skip, and the whole analysis of a CT.  Include after test.h.
 */
#ifndef NOVA_TEST_CHEST_H
#define NOVA_TEST_CHEST_H

#include "nova/analysis.h"
#include "nova/chest.h"
#include "nova/volume.h"
#include "test.h"

#include <stdio.h>

/* The volume file at ../shared/data/REL; the case skips, saying why, when
 * the data folder is absent or the file cannot be read. */
static inline NovaVolume *read_or_skip(const char *rel)
{
    const char *path = test_data_path(rel);
    if (!path)
        SKIP("shared data absent: %s", rel);
    NovaError *err = NULL;
    NovaVolume *v = nova_volume_read(&err, path);
    CHECK_OK(err);
    if (!v) {
        nova_error_free(err);
        SKIP("cannot read %s", rel);
    }
    return v;
}

/* One DICOM slice at ../shared/data/REL (covid-ny-sbu), loaded as
 * `nova analyze` loads a lone file: nova_scan_load, not
 * nova_volume_read_dicom, whose series choice refuses a stack of fewer
 * than 20 slices as no chest CT.  NULL, with the failure recorded, when
 * loading fails; the case skips, saying so, when the file is absent. */
static inline NovaVolume *read_slice_or_skip(const char *rel)
{
    const char *path = test_data_path(rel);
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f)
        SKIP("%s absent (covid-ny-sbu data not installed)", rel);
    fclose(f);
    NovaError *err = NULL;
    const char *paths[1] = {path};
    NovaScan *scan = nova_scan_create(&err, paths, 1, NULL);
    CHECK_OK(err);
    NovaVolume *ct =
        scan ? nova_scan_load(&err, scan, 0, NULL, NULL, NULL) : NULL;
    CHECK_OK(err);
    nova_scan_destroy(scan);
    nova_error_free(err);
    return ct;
}

/* Lungs then analysis with default options; NULL (with the failure
 * recorded) when either fails.  *lungs_out gets the lung result (NULL when
 * the lung stage failed); the caller destroys both. */
static inline NovaAnalysis *analyse(NovaPool *pool, const NovaVolume *ct,
                                    NovaLungResult **lungs_out)
{
    NovaError *err = NULL;
    NovaLungResult *lungs = nova_chest_segment_lungs(&err, pool, ct, NULL);
    CHECK_OK(err);
    NovaAnalysis *an =
        lungs ? nova_analysis_run(&err, pool, ct, lungs, NULL, NULL) : NULL;
    CHECK_OK(err);
    nova_error_free(err);
    *lungs_out = lungs;
    return an;
}

#endif
