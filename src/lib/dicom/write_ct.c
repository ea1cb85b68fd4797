/*
 * write_ct.c - a NovaVolume of HU as a CT Image Storage series.
 *
 * One file per slice, each holding every mandatory module of the CT Image
 * IOD (PS3.3 A.3.3): Patient (C.7.1.1), General Study (C.7.2.1), General
 * Series (C.7.3.1), Frame of Reference (C.7.4.1), General Equipment
 * (C.7.5.1), General Image (C.7.6.1), Image Plane (C.7.6.2), Image Pixel
 * (C.7.6.3), CT Image (C.8.2.1), SOP Common (C.12.1), plus VOI LUT
 * (C.11.2) when a window is given.  Type 1 attributes always have a value;
 * type 2 attributes are present, empty when unknown.
 *
 * Slices are independent, so they are built and written in parallel with a
 * static split; UIDs are made before the split (or from the seed and the
 * slice index), so the bytes never depend on the thread count.
 */
#include "nova/dicom_write.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

void nova_ct_series_options_init(NovaCtSeriesOptions *o)
{
    memset(o, 0, sizeof *o);
    o->series_number = 1;
}

typedef struct {
    const NovaVolume *volume;
    const NovaCtSeriesOptions *opt;
    const char *dir;
    char study_uid[NOVA_UID_MAX + 1];
    char series_uid[NOVA_UID_MAX + 1];
    char for_uid[NOVA_UID_MAX + 1];
    NovaError **thread_errors; /* one slot per thread */
} Job;

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

#define TAG NOVA_TAG

/* Add the attributes shared by every slice plus the slice's own. */
static bool build_slice(NovaError **error, NovaDicomBuilder *b, const Job *job,
                        size_t k, const char *sop_uid)
{
    const NovaCtSeriesOptions *o = job->opt;
    size_t dims[3];
    nova_volume_get_dims(job->volume, dims);
    const NovaGeometry *g = nova_volume_get_geometry(job->volume);
    const char *date = or_empty(o->study_date);
    const char *time = or_empty(o->study_time);
    bool ok = true;
#define S(tag, vr, v)                                                          \
    ok = ok && nova_dicom_builder_add_string(error, b, tag, vr, v)
    /* SOP Common (C.12.1) */
    S(TAG(0x0008, 0x0016), NOVA_VR_UI, NOVA_UID_CT_IMAGE_STORAGE);
    S(TAG(0x0008, 0x0018), NOVA_VR_UI, sop_uid);
    /* General Image (C.7.6.1) and CT Image (C.8.2.1): Image Type is type 1
     * in the CT Image module, value 3 AXIAL for axial slices. */
    S(TAG(0x0008, 0x0008), NOVA_VR_CS,
      o->image_type ? o->image_type : "ORIGINAL\\PRIMARY\\AXIAL");
    /* General Study (C.7.2.1) */
    S(TAG(0x0008, 0x0020), NOVA_VR_DA, date);
    S(TAG(0x0008, 0x0030), NOVA_VR_TM, time);
    S(TAG(0x0008, 0x0050), NOVA_VR_SH, or_empty(o->accession_number));
    S(TAG(0x0008, 0x0090), NOVA_VR_PN, "");
    if (o->study_description)
        S(TAG(0x0008, 0x1030), NOVA_VR_LO, o->study_description);
    S(TAG(0x0020, 0x000D), NOVA_VR_UI, job->study_uid);
    S(TAG(0x0020, 0x0010), NOVA_VR_SH, or_empty(o->study_id));
    /* General Series (C.7.3.1); Patient Position is type 2C, required for
     * CT when Patient Orientation Code Sequence is absent. */
    if (date[0])
        S(TAG(0x0008, 0x0021), NOVA_VR_DA, date);
    if (time[0])
        S(TAG(0x0008, 0x0031), NOVA_VR_TM, time);
    S(TAG(0x0008, 0x0060), NOVA_VR_CS, "CT");
    if (o->series_description)
        S(TAG(0x0008, 0x103E), NOVA_VR_LO, o->series_description);
    if (o->body_part)
        S(TAG(0x0018, 0x0015), NOVA_VR_CS, o->body_part);
    S(TAG(0x0018, 0x5100), NOVA_VR_CS, "HFS");
    S(TAG(0x0020, 0x000E), NOVA_VR_UI, job->series_uid);
    int32_t series_number = o->series_number;
    ok = ok && nova_dicom_builder_add_is(error, b, TAG(0x0020, 0x0011),
                                         &series_number, 1);
    /* General Equipment (C.7.5.1) */
    S(TAG(0x0008, 0x0070), NOVA_VR_LO, or_empty(o->manufacturer));
    if (o->model_name)
        S(TAG(0x0008, 0x1090), NOVA_VR_LO, o->model_name);
    /* Patient (C.7.1.1) */
    S(TAG(0x0010, 0x0010), NOVA_VR_PN, or_empty(o->patient_name));
    S(TAG(0x0010, 0x0020), NOVA_VR_LO, or_empty(o->patient_id));
    S(TAG(0x0010, 0x0030), NOVA_VR_DA, or_empty(o->patient_birth_date));
    S(TAG(0x0010, 0x0040), NOVA_VR_CS, or_empty(o->patient_sex));
    /* Frame of Reference (C.7.4.1) */
    S(TAG(0x0020, 0x0052), NOVA_VR_UI, job->for_uid);
    S(TAG(0x0020, 0x1040), NOVA_VR_LO, "");
    /* General Image: Instance Number (type 2), content date and time
     * (type 2C: the image is part of a series whose images are temporally
     * related), derivation when derived. */
    int32_t instance = (int32_t)(k + 1);
    ok = ok &&
         nova_dicom_builder_add_is(error, b, TAG(0x0020, 0x0013), &instance, 1);
    if (date[0])
        S(TAG(0x0008, 0x0023), NOVA_VR_DA, date);
    if (time[0])
        S(TAG(0x0008, 0x0033), NOVA_VR_TM, time);
    if (o->derivation)
        S(TAG(0x0008, 0x2111), NOVA_VR_ST, o->derivation);
    /* CT Image (C.8.2.1) */
    double kvp = o->kvp;
    if (kvp > 0)
        ok = ok &&
             nova_dicom_builder_add_ds(error, b, TAG(0x0018, 0x0060), &kvp, 1);
    else
        S(TAG(0x0018, 0x0060), NOVA_VR_DS, "");
    int32_t acquisition = 1;
    ok = ok && nova_dicom_builder_add_is(error, b, TAG(0x0020, 0x0012),
                                         &acquisition, 1);
    double zero = 0.0, one = 1.0;
    ok = ok &&
         nova_dicom_builder_add_ds(error, b, TAG(0x0028, 0x1052), &zero, 1);
    ok =
        ok && nova_dicom_builder_add_ds(error, b, TAG(0x0028, 0x1053), &one, 1);
    S(TAG(0x0028, 0x1054), NOVA_VR_LO, "HU");
    /* Image Plane (C.7.6.2).  Columns run along voxel axis i, rows along j
     * (PS3.3 C.7.6.2.1.1: the first three orientation values are the row
     * direction, i.e. the direction of increasing column index). */
    double thickness =
        o->slice_thickness_mm > 0 ? o->slice_thickness_mm : g->spacing[2];
    ok = ok && nova_dicom_builder_add_ds(error, b, TAG(0x0018, 0x0050),
                                         &thickness, 1);
    double index[3] = {0, 0, (double)k}, position[3];
    nova_geometry_index_to_world(g, index, position);
    ok = ok &&
         nova_dicom_builder_add_ds(error, b, TAG(0x0020, 0x0032), position, 3);
    double orient[6] = {g->direction[0], g->direction[3], g->direction[6],
                        g->direction[1], g->direction[4], g->direction[7]};
    ok = ok &&
         nova_dicom_builder_add_ds(error, b, TAG(0x0020, 0x0037), orient, 6);
    /* Slice Location (type 3): position along the slice normal. */
    double normal[3] = {orient[1] * orient[5] - orient[2] * orient[4],
                        orient[2] * orient[3] - orient[0] * orient[5],
                        orient[0] * orient[4] - orient[1] * orient[3]};
    double location = position[0] * normal[0] + position[1] * normal[1] +
                      position[2] * normal[2];
    ok = ok &&
         nova_dicom_builder_add_ds(error, b, TAG(0x0020, 0x1041), &location, 1);
    double pixel_spacing[2] = {g->spacing[1], g->spacing[0]};
    ok = ok && nova_dicom_builder_add_ds(error, b, TAG(0x0028, 0x0030),
                                         pixel_spacing, 2);
    /* Image Pixel (C.7.6.3), with the CT Image module's constraints:
     * one sample, MONOCHROME2, 16 bits allocated. */
    uint16_t us[1];
    us[0] = 1;
    ok = ok &&
         nova_dicom_builder_add_uint16(error, b, TAG(0x0028, 0x0002), us, 1);
    S(TAG(0x0028, 0x0004), NOVA_VR_CS, "MONOCHROME2");
    us[0] = (uint16_t)dims[1];
    ok = ok &&
         nova_dicom_builder_add_uint16(error, b, TAG(0x0028, 0x0010), us, 1);
    us[0] = (uint16_t)dims[0];
    ok = ok &&
         nova_dicom_builder_add_uint16(error, b, TAG(0x0028, 0x0011), us, 1);
    const uint16_t bits[4] = {16, 16, 15, 1};
    for (int i = 0; i < 4; i++)
        ok = ok &&
             nova_dicom_builder_add_uint16(
                 error, b, TAG(0x0028, (uint16_t)(0x0100 + i)), &bits[i], 1);
    if (o->window_width > 0) {
        double wc = o->window_center, ww = o->window_width;
        ok = ok &&
             nova_dicom_builder_add_ds(error, b, TAG(0x0028, 0x1050), &wc, 1);
        ok = ok &&
             nova_dicom_builder_add_ds(error, b, TAG(0x0028, 0x1051), &ww, 1);
    }
#undef S
    if (!ok)
        return false;

    /* Pixel data: little endian int16 (PS3.5 8.1.1). */
    size_t n = dims[0] * dims[1];
    const int16_t *src =
        (const int16_t *)nova_volume_get_const_data(job->volume) + k * n;
    if (o->rle) {
        NovaImageInfo info = {0};
        info.rows = (uint32_t)dims[1];
        info.columns = (uint32_t)dims[0];
        info.frames = 1;
        info.samples_per_pixel = 1;
        info.bits_allocated = 16;
        info.bits_stored = 16;
        info.high_bit = 15;
        info.pixel_representation = 1;
        info.photometric = NOVA_PHOTOMETRIC_MONOCHROME2;
        uint8_t *rle = NULL;
        size_t rle_len = 0;
        if (!nova_codec_encode_rle(error, &info, src, n * 2, &rle, &rle_len))
            return false;
        const uint8_t *frames[1] = {rle};
        ok = nova_dicom_builder_set_pixel_fragments(error, b, frames, &rle_len,
                                                    1);
        nova_free(rle);
        return ok;
    }
    uint8_t *le = nova_malloc_array(error, n, 2);
    if (!le)
        return false;
    for (size_t i = 0; i < n; i++) {
        uint16_t v = (uint16_t)src[i];
        le[2 * i] = (uint8_t)v;
        le[2 * i + 1] = (uint8_t)(v >> 8);
    }
    ok = nova_dicom_builder_set_pixel_data(error, b, NOVA_VR_OW, le, n * 2);
    nova_free(le);
    return ok;
}

static bool write_slice(NovaError **error, const Job *job, size_t k)
{
    const NovaCtSeriesOptions *o = job->opt;
    char sop_uid[NOVA_UID_MAX + 1];
    char name[NOVA_UID_MAX + 32];
    snprintf(name, sizeof name, "sop/%s/%zu", job->series_uid, k);
    if (o->deterministic
            ? !nova_uid_from_seed(error, o->uid_root, o->uid_seed, name,
                                  sop_uid)
            : !nova_uid_generate_under(error, o->uid_root, sop_uid))
        return false;
    NovaDicomBuilder *b = nova_dicom_builder_create(error);
    if (!b)
        return false;
    char *path = nova_strdup_printf(error, "%s/CT%06zu.dcm", job->dir, k + 1);
    bool ok = path && build_slice(error, b, job, k, sop_uid) &&
              nova_dicom_builder_write_file(error, b,
                                            o->rle ? NOVA_UID_RLE_LOSSLESS
                                                   : NOVA_UID_EXPLICIT_VR_LE,
                                            path);
    nova_dicom_builder_destroy(b);
    nova_free(path);
    return ok;
}

static void write_range(void *ctx, size_t begin, size_t end, int thread)
{
    Job *job = ctx;
    NovaError **err = &job->thread_errors[thread];
    for (size_t k = begin; k < end && *err == NULL; k++)
        write_slice(err, job, k);
}

bool nova_ct_series_write(NovaError **error, const NovaVolume *volume,
                          const char *dir, const NovaCtSeriesOptions *options,
                          NovaPool *pool, char *study_uid_out,
                          char *series_uid_out)
{
    NovaCtSeriesOptions defaults;
    if (!options) {
        nova_ct_series_options_init(&defaults);
        options = &defaults;
    }
    if (nova_volume_get_dtype(volume) != NOVA_DTYPE_INT16)
        return nova_error_set(error, NOVA_ERROR_INVALID, "wrong volume type",
                              "a CT series needs an int16 volume, not %s",
                              nova_dtype_name(nova_volume_get_dtype(volume)));
    size_t dims[3];
    nova_volume_get_dims(volume, dims);
    if (dims[0] == 0 || dims[1] == 0 || dims[0] > 65535 || dims[1] > 65535)
        return nova_error_set(error, NOVA_ERROR_RANGE, "bad image size",
                              "slices of %zu x %zu pixels cannot be written "
                              "(Rows and Columns are 16-bit)",
                              dims[0], dims[1]);
    if (!nova_make_dirs(error, dir))
        return false;
    Job job = {.volume = volume, .opt = options, .dir = dir};
    const char *given[3] = {options->study_instance_uid,
                            options->series_instance_uid,
                            options->frame_of_reference_uid};
    char *slots[3] = {job.study_uid, job.series_uid, job.for_uid};
    static const char *const names[3] = {"study", "series", "for"};
    for (int i = 0; i < 3; i++) {
        if (given[i]) {
            if (!nova_uid_is_valid(given[i]))
                return nova_error_set(error, NOVA_ERROR_INVALID, "invalid UID",
                                      "'%s' is not a valid "
                                      "UID (PS3.5 9.1)",
                                      given[i]);
            snprintf(slots[i], NOVA_UID_MAX + 1, "%s", given[i]);
        } else if (options->deterministic
                       ? !nova_uid_from_seed(error, options->uid_root,
                                             options->uid_seed, names[i],
                                             slots[i])
                       : !nova_uid_generate_under(error, options->uid_root,
                                                  slots[i])) {
            return false;
        }
    }
    int threads = pool ? nova_pool_get_threads(pool) : 1;
    job.thread_errors =
        nova_calloc(error, (size_t)threads, sizeof(NovaError *));
    if (!job.thread_errors)
        return false;
    nova_pool_parallel_for(pool, dims[2], write_range, &job);
    bool ok = true;
    for (int t = 0; t < threads; t++) {
        if (job.thread_errors[t]) {
            if (ok) {
                nova_error_set(error, nova_error_code(job.thread_errors[t]),
                               nova_error_summary(job.thread_errors[t]), "%s",
                               nova_error_message(job.thread_errors[t]));
                ok = false;
            }
            nova_error_free(job.thread_errors[t]);
        }
    }
    nova_free(job.thread_errors);
    if (ok && study_uid_out)
        memcpy(study_uid_out, job.study_uid, NOVA_UID_MAX + 1);
    if (ok && series_uid_out)
        memcpy(series_uid_out, job.series_uid, NOVA_UID_MAX + 1);
    return ok;
}
