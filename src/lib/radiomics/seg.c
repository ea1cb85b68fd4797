/*
 * seg.c - DICOM Segmentation (SEG) objects onto an image grid, and the
 * dispatch between SEG and RTSTRUCT masks.
 *
 * PS3.3 A.51 / C.8.20: a SEG is a multi-frame image whose frames are one
 * plane of one segment each.  The Per-frame Functional Groups (5200,9230)
 * give each frame's Image Position (Patient) (Plane Position Sequence
 * (0020,9113)) and its Referenced Segment Number (Segment Identification
 * Sequence (0062,000A)); orientation and pixel spacing come from the Plane
 * Orientation (0020,9116) and Pixel Measures (0028,9110) sequences, per
 * frame or shared (5200,9229).  BINARY frames are 1-bit; FRACTIONAL frames
 * are 8-bit fractions of Maximum Fractional Value (0062,000E) and are
 * thresholded at one half (the IBSI partial-volume rule).
 *
 * Each pixel centre is mapped to the image's voxel indices; the frames must
 * lie on the image grid (every centre within 0.1 voxel of a voxel centre),
 * otherwise the SEG is refused with the offending frame named: resampling
 * a mask silently would change the features.
 */
#include "radiomics_internal.h"

#include "nova/codec.h"
#include "nova/dicom.h"

#include <string.h>

#define TAG_MODALITY 0x00080060u
#define TAG_SEGMENTATION_TYPE 0x00620001u
#define TAG_MAX_FRACTIONAL 0x0062000Eu
#define TAG_SHARED_FG 0x52009229u
#define TAG_PER_FRAME_FG 0x52009230u
#define TAG_PLANE_POSITION_SEQ 0x00209113u
#define TAG_PLANE_ORIENTATION_SEQ 0x00209116u
#define TAG_PIXEL_MEASURES_SEQ 0x00289110u
#define TAG_SEGMENT_ID_SEQ 0x0062000Au
#define TAG_REFERENCED_SEGMENT 0x0062000Bu
#define TAG_IMAGE_POSITION 0x00200032u
#define TAG_IMAGE_ORIENTATION 0x00200037u
#define TAG_PIXEL_SPACING 0x00280030u
#define TAG_PIXEL_DATA 0x7FE00010u

/* The first item of sequence seq inside functional-group item fg. */
static const NovaDataset *macro(const NovaDataset *fg, uint32_t seq)
{
    if (!fg || nova_dataset_get_item_count(fg, seq) < 1)
        return NULL;
    return nova_dataset_get_item(fg, seq, 0);
}

/* n doubles of tag from the per-frame macro, else the shared one. */
static bool frame_values(const NovaDataset *frame_fg,
                         const NovaDataset *shared_fg, uint32_t seq,
                         uint32_t tag, double *values, size_t n)
{
    const NovaDataset *m = macro(frame_fg, seq);
    if (m && nova_dataset_get_doubles(NULL, m, tag, values, n))
        return true;
    m = macro(shared_fg, seq);
    return m && nova_dataset_get_doubles(NULL, m, tag, values, n);
}

/* The largest decoded frame accepted from compressed Pixel Data (16384 x
 * 16384 one-byte pixels): a compressed frame of a few bytes can claim
 * 65535 x 65535 pixels, and the frame buffer is allocated before decoding. */
#define SEG_MAX_FRAME_BYTES ((size_t)1 << 28)

/* Before the frame buffer is allocated from Rows x Columns, check that
 * the Pixel Data can hold what the header claims: native data must hold
 * every frame's bits (PS3.5 8.1.1: 1-bit frames are packed without
 * padding), so the allocation is bounded by the file's size; compressed
 * frames are bounded by SEG_MAX_FRAME_BYTES. */
static bool check_pixel_data(NovaError **error, const NovaDataset *ds,
                             const char *path, const NovaImageInfo *info,
                             size_t frame_bytes)
{
    NovaElementInfo pd;
    if (!nova_dataset_find(ds, TAG_PIXEL_DATA, &pd))
        return nova_error_set(error, NOVA_ERROR_PARSE, "bad SEG",
                              "%s: no Pixel Data (7FE0,0010)", path);
    if (frame_bytes == 0)
        return nova_error_set(error, NOVA_ERROR_PARSE, "bad SEG",
                              "%s: frames of %u x %u pixels have no size", path,
                              info->rows, info->columns);
    if (pd.encapsulated) {
        if (frame_bytes > SEG_MAX_FRAME_BYTES)
            return nova_error_set(
                error, NOVA_ERROR_UNSUPPORTED, "unsupported SEG",
                "%s: compressed frames of %u x %u pixels "
                "exceed the %zu MiB limit",
                path, info->rows, info->columns, SEG_MAX_FRAME_BYTES >> 20);
        return true;
    }
    /* Per frame at most 65535^2 x 8 bits, so no overflow; the frame count
     * (up to 2^32 - 1) divides instead of multiplying. */
    uint64_t frame_bits =
        (uint64_t)info->rows * info->columns * info->bits_allocated;
    uint64_t have_bits = (uint64_t)pd.length * 8;
    if (pd.length == NOVA_UNDEFINED_LENGTH || frame_bits == 0 ||
        have_bits / frame_bits < info->frames)
        return nova_error_set(
            error, NOVA_ERROR_PARSE, "truncated pixel data",
            "%s: Pixel Data holds %u bytes, too few for "
            "%u frames of %u x %u pixels of %u bits",
            path, pd.length == NOVA_UNDEFINED_LENGTH ? 0 : pd.length,
            info->frames, info->rows, info->columns, info->bits_allocated);
    return true;
}

NovaVolume *nova_radiomics_seg_rasterise(NovaError **error, const char *path,
                                         const NovaVolume *image, int segment)
{
    NovaDataset *ds = nova_dataset_read_file(error, path, 0);
    if (!ds)
        return NULL;
    NovaVolume *mask = NULL;
    uint8_t *frame = NULL;
    char text[64] = "";
    if (!nova_dataset_get_string_value(NULL, ds, TAG_MODALITY, 0, text,
                                       sizeof text) ||
        strcmp(text, "SEG") != 0) {
        nova_error_set(error, NOVA_ERROR_INVALID, "not a SEG",
                       "%s: Modality is '%s', not SEG", path, text);
        goto done;
    }
    NovaImageInfo info;
    if (!nova_dataset_get_image_info(error, ds, &info))
        goto done;
    bool fractional = false;
    double max_fraction = 1;
    if (nova_dataset_get_string_value(NULL, ds, TAG_SEGMENTATION_TYPE, 0, text,
                                      sizeof text) &&
        strcmp(text, "FRACTIONAL") == 0) {
        fractional = true;
        int64_t mf = 0;
        if (!nova_dataset_get_int(NULL, ds, TAG_MAX_FRACTIONAL, 0, &mf) ||
            mf <= 0) {
            nova_error_set(error, NOVA_ERROR_PARSE, "bad SEG",
                           "%s: FRACTIONAL segmentation without a valid "
                           "Maximum Fractional Value (0062,000E)",
                           path);
            goto done;
        }
        max_fraction = (double)mf;
    }
    if (info.samples_per_pixel != 1 ||
        (info.bits_allocated != 1 && info.bits_allocated != 8)) {
        nova_error_set(error, NOVA_ERROR_UNSUPPORTED, "unsupported SEG",
                       "%s: %u samples of %u bits; a SEG has one sample of "
                       "1 (BINARY) or 8 (FRACTIONAL) bits",
                       path, info.samples_per_pixel, info.bits_allocated);
        goto done;
    }
    size_t frame_bytes = nova_image_frame_bytes(&info);
    if (!check_pixel_data(error, ds, path, &info, frame_bytes))
        goto done;
    frame = nova_malloc(error, frame_bytes ? frame_bytes : 1);
    if (!frame)
        goto done;
    size_t dims[3];
    nova_volume_get_dims(image, dims);
    const NovaGeometry *geometry = nova_volume_get_geometry(image);
    mask = nova_volume_create(error, NOVA_DTYPE_UINT8, dims, geometry);
    if (!mask)
        goto done;
    uint8_t *m = nova_volume_get_data(mask);
    const NovaDataset *shared = macro(ds, TAG_SHARED_FG);
    size_t n_fg = nova_dataset_get_item_count(ds, TAG_PER_FRAME_FG);
    if (n_fg < info.frames) {
        nova_error_set(error, NOVA_ERROR_PARSE, "bad SEG",
                       "%s: %u frames but %zu per-frame functional groups",
                       path, info.frames, n_fg);
        goto fail;
    }
    size_t set = 0, used_frames = 0;
    for (uint32_t f = 0; f < info.frames; f++) {
        const NovaDataset *fg = nova_dataset_get_item(ds, TAG_PER_FRAME_FG, f);
        const NovaDataset *sid = macro(fg, TAG_SEGMENT_ID_SEQ);
        int64_t number = 1;
        if (sid)
            nova_dataset_get_int(NULL, sid, TAG_REFERENCED_SEGMENT, 0, &number);
        if (segment != 0 && number != segment)
            continue;
        double pos[3], ori[6], spacing[2];
        if (!frame_values(fg, shared, TAG_PLANE_POSITION_SEQ,
                          TAG_IMAGE_POSITION, pos, 3) ||
            !frame_values(fg, shared, TAG_PLANE_ORIENTATION_SEQ,
                          TAG_IMAGE_ORIENTATION, ori, 6) ||
            !frame_values(fg, shared, TAG_PIXEL_MEASURES_SEQ, TAG_PIXEL_SPACING,
                          spacing, 2)) {
            nova_error_set(error, NOVA_ERROR_PARSE, "bad SEG",
                           "%s: frame %u lacks its plane position, "
                           "orientation or pixel spacing",
                           path, f + 1);
            goto fail;
        }
        if (!nova_dataset_decode_frame(error, ds, f, frame, frame_bytes))
            goto fail;
        used_frames++;
        for (uint32_t r = 0; r < info.rows; r++)
            for (uint32_t c = 0; c < info.columns; c++) {
                double v = frame[(size_t)r * info.columns + c];
                bool inside = fractional ? v / max_fraction >= 0.5 : v != 0;
                if (!inside)
                    continue;
                /* PS3.3 C.7.6.2.1.1: the first orientation triplet runs
                 * along a row (increasing column), spacing[1] apart. */
                double w[3], idx[3];
                for (int a = 0; a < 3; a++)
                    w[a] = pos[a] + ori[a] * spacing[1] * c +
                           ori[3 + a] * spacing[0] * r;
                nova_geometry_world_to_index(geometry, w, idx);
                long ii[3];
                bool on_grid = true;
                for (int a = 0; a < 3; a++) {
                    ii[a] = lround(idx[a]);
                    on_grid = on_grid && fabs(idx[a] - (double)ii[a]) <= 0.1;
                }
                if (!on_grid) {
                    nova_error_set(error, NOVA_ERROR_INVALID, "grid mismatch",
                                   "%s: frame %u pixel (%u,%u) falls at "
                                   "voxel (%.2f,%.2f,%.2f), off the image "
                                   "grid",
                                   path, f + 1, r, c, idx[0], idx[1], idx[2]);
                    goto fail;
                }
                if (ii[0] < 0 || ii[1] < 0 || ii[2] < 0 ||
                    ii[0] >= (long)dims[0] || ii[1] >= (long)dims[1] ||
                    ii[2] >= (long)dims[2])
                    continue;
                m[((size_t)ii[2] * dims[1] + (size_t)ii[1]) * dims[0] +
                  (size_t)ii[0]] = 1;
                set++;
            }
    }
    if (used_frames == 0) {
        nova_error_set(error, NOVA_ERROR_NOT_FOUND, "segment absent",
                       "%s: no frame of segment %d", path, segment);
        goto fail;
    }
    if (set == 0) {
        nova_error_set(error, NOVA_ERROR_INVALID, "empty mask",
                       "%s: segment %d has no pixel inside the image", path,
                       segment);
        goto fail;
    }
    goto done;
fail:
    nova_volume_unref(mask);
    mask = NULL;
done:
    nova_free(frame);
    nova_dataset_destroy(ds);
    return mask;
}

NovaVolume *nova_radiomics_dicom_mask(NovaError **error, const char *path,
                                      const NovaVolume *image, int number)
{
    NovaDataset *ds = nova_dataset_read_file(error, path, 0);
    if (!ds)
        return NULL;
    char modality[32] = "";
    nova_dataset_get_string_value(NULL, ds, TAG_MODALITY, 0, modality,
                                  sizeof modality);
    nova_dataset_destroy(ds);
    if (strcmp(modality, "SEG") == 0)
        return nova_radiomics_seg_rasterise(error, path, image, number);
    if (strcmp(modality, "RTSTRUCT") == 0)
        return nova_radiomics_rtstruct_rasterise(error, path, image, number);
    nova_error_set(error, NOVA_ERROR_UNSUPPORTED, "not a mask",
                   "%s: Modality '%s' is neither SEG nor RTSTRUCT", path,
                   modality);
    return NULL;
}
