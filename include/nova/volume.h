/*
 * nova/volume.h - 3D volumes with geometry, and volume files.
 *
 * A NovaVolume holds voxels x fastest, then y, then z, with a geometry in
 * DICOM patient coordinates (LPS, millimetres):
 *   world = origin + D * diag(spacing) * (i, j, k)
 * where column c of the 3x3 direction matrix D (direction[r*3 + c], r the
 * world axis) is the unit direction of voxel axis c.  CT images are int16
 * Hounsfield units; masks are uint8 labels on the same geometry; float32 is
 * for derived images (radiomics interpolation, probability maps).
 *
 * Volumes are reference counted and treated as immutable once built and
 * shared: writers fill the data right after nova_volume_create and before
 * handing the volume on.  nova_volume_ref/unref are thread safe.
 */
#ifndef NOVA_VOLUME_H
#define NOVA_VOLUME_H

#include "nova/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    NOVA_DTYPE_UINT8 = 0,
    NOVA_DTYPE_INT16,
    NOVA_DTYPE_FLOAT32
} NovaDtype;

size_t nova_dtype_size(NovaDtype dtype);
const char *nova_dtype_name(NovaDtype dtype);

typedef struct {
    double origin[3];    /* mm, LPS, centre of voxel (0,0,0) */
    double spacing[3];   /* mm between voxel centres along i, j, k */
    double direction[9]; /* row-major 3x3, columns are the axis directions */
} NovaGeometry;

/* Identity direction, unit spacing, zero origin. */
void nova_geometry_init(NovaGeometry *geometry);
/* world (mm, LPS) of a continuous voxel index. */
void nova_geometry_index_to_world(const NovaGeometry *geometry,
                                  const double index[3], double world[3]);
void nova_geometry_world_to_index(const NovaGeometry *geometry,
                                  const double world[3], double index[3]);

typedef struct NovaVolume NovaVolume;

/* A zero-filled volume of dims[0] x dims[1] x dims[2] voxels; geometry may be
 * NULL (identity).  Refcount 1; the caller owns it. */
NovaVolume *nova_volume_create(NovaError **error, NovaDtype dtype,
                               const size_t dims[3],
                               const NovaGeometry *geometry);
NovaVolume *nova_volume_ref(NovaVolume *volume);
/* Drop a reference; frees at zero.  NULL does nothing. */
void nova_volume_unref(NovaVolume *volume);

NovaDtype nova_volume_get_dtype(const NovaVolume *volume);
void nova_volume_get_dims(const NovaVolume *volume, size_t dims[3]);
size_t nova_volume_get_voxel_count(const NovaVolume *volume);
const NovaGeometry *nova_volume_get_geometry(const NovaVolume *volume);
void nova_volume_set_geometry(NovaVolume *volume, const NovaGeometry *geometry);
/* The voxel array (64-byte aligned), borrowed. */
void *nova_volume_get_data(NovaVolume *volume);
const void *nova_volume_get_const_data(const NovaVolume *volume);

/* ---------------------------------------------------------- volume files
 *
 * Element types: a file's values (after NIfTI scl_slope/scl_inter) become
 * the narrowest Nova dtype that holds every one of them exactly:
 *   - unsigned integer files (NIfTI uint8/16/32/64, NRRD uchar/ushort/...)
 *     with every value in 0..255: NOVA_DTYPE_UINT8 (masks, label maps);
 *   - otherwise, every value an integer in -32768..32767 (int16 CT, HU
 *     stored as float, int32 labels, a slope of 1 and an intercept of
 *     -1024): NOVA_DTYPE_INT16;
 *   - otherwise NOVA_DTYPE_FLOAT32 (rounded to the nearest float).
 * Geometry is converted to LPS (NIfTI is RAS: the first two rows of its
 * affine are negated; NRRD follows its "space" field).
 */

/* Read a volume file, by extension: .nii / .nii.gz (NIfTI-1), .nrrd /
 * .nhdr (NRRD); other names are recognised by their first bytes.  DICOM
 * (a folder, a DICOMDIR, a .zip, a .dcm or a file with the DICM preamble)
 * goes through nova_volume_read_dicom on one thread.  The
 * caller owns the result.  Errors name the file, the offset or header line,
 * and the problem.  Thread safe (no shared state). */
NovaVolume *nova_volume_read(NovaError **error, const char *path);
/* The same from a memory buffer: NRRD with attached data (by its magic),
 * otherwise NIfTI-1 (plain or gzip).  `name` labels errors (may be NULL).
 * For servers and fuzzers. */
NovaVolume *nova_volume_read_memory(NovaError **error, const void *data,
                                    size_t size, const char *name);
/* NIfTI-1 single file (.nii, or gzip .nii.gz), either byte order.  The
 * affine is the sform when sform_code > 0, else the qform, else pixdim. */
NovaVolume *nova_volume_read_nifti(NovaError **error, const char *path);
/* NRRD (attached .nrrd or detached .nhdr): raw, gzip, ascii, hex data. */
NovaVolume *nova_volume_read_nrrd(NovaError **error, const char *path);

/* Write a NIfTI-1 file: gzip-compressed when path ends in ".gz", else a
 * plain .nii.  Datatype uint8, int16 or float32 as the volume's; the LPS
 * geometry becomes a RAS sform (and qform when the direction matrix is
 * orthonormal), code 1 (scanner anatomical), units mm.  Returns false with
 * NOVA_ERROR_IO when the file cannot be written. */
bool nova_volume_write_nifti(NovaError **error, const NovaVolume *volume,
                             const char *path);

/* ------------------------------------------------------ DICOM: scan, pick
 *
 * nova_scan_create reads the headers of every file it is given (folders
 * recursively, single files, a DICOMDIR, a .zip archive) in parallel and
 * groups the images into studies (Study Instance UID), series (Series
 * Instance UID) and stacks: a series is split where image orientation,
 * rows/columns, pixel spacing or Image Type differ, and where the same
 * position repeats under different Acquisition Numbers.  A multi-frame
 * (Enhanced CT) file contributes one slice per frame, with the position,
 * orientation and rescale of its functional groups.  Files that are not
 * DICOM are skipped and counted; DICOM files without pixel data (reports,
 * DICOMDIR, presentation states) are counted apart.
 *
 * Each stack gets a fingerprint (below).  nova_scan_choose applies the
 * chest rule and says why; nova_scan_load builds the HU volume.
 */

typedef enum {
    NOVA_ORIENTATION_UNKNOWN = 0,
    NOVA_ORIENTATION_AXIAL,
    NOVA_ORIENTATION_CORONAL,
    NOVA_ORIENTATION_SAGITTAL,
    NOVA_ORIENTATION_OBLIQUE
} NovaOrientation;

/* "axial", "coronal", ... Static string. */
const char *nova_orientation_name(NovaOrientation orientation);

#define NOVA_FINGERPRINT_TEXT 68

/* One stack: what a reader needs to pick a series.  Plain data.  Numbers
 * that the headers do not give are 0 (text: empty). */
typedef struct {
    size_t study_index; /* into nova_scan_get_study */
    char study_uid[NOVA_FINGERPRINT_TEXT];
    char series_uid[NOVA_FINGERPRINT_TEXT];
    char frame_of_reference_uid[NOVA_FINGERPRINT_TEXT];
    int64_t series_number;
    char series_description[NOVA_FINGERPRINT_TEXT];
    char modality[NOVA_FINGERPRINT_TEXT];
    char body_part[NOVA_FINGERPRINT_TEXT];      /* (0018,0015) */
    char kernel[NOVA_FINGERPRINT_TEXT];         /* (0018,1210), values "\" */
    char contrast_agent[NOVA_FINGERPRINT_TEXT]; /* (0018,0010) */
    bool contrast;                              /* a contrast agent is named */
    char image_type[NOVA_FINGERPRINT_TEXT];     /* (0008,0008) as written */
    bool original;   /* Image Type value 1 ORIGINAL */
    bool derived;    /* Image Type value 1 DERIVED */
    bool localizer;  /* LOCALIZER in Image Type, or 1-2 slices of a
                        scout */
    bool multiframe; /* slices come from multi-frame files */
    NovaOrientation orientation;
    double row_direction[3], column_direction[3], normal[3]; /* LPS */
    uint32_t rows, columns;
    double pixel_spacing_mm[2]; /* row spacing (between rows), column */
    size_t slice_count;         /* slices in the stack, duplicates included */
    size_t file_count;
    double slice_thickness_mm;
    double slice_spacing_mm; /* median distance between slice positions */
    double z_coverage_mm;    /* first to last slice centre along normal */
    size_t duplicate_slices; /* positions present more than once */
    size_t missing_slices;   /* gaps of about k spacings count k - 1 */
    bool uneven_spacing;     /* some gap off the median beyond tolerance */
    double tilt_deg;         /* angle between the stack axis and normal */
    char transfer_syntax[NOVA_FINGERPRINT_TEXT];
} NovaStackFingerprint;

typedef struct {
    char study_uid[NOVA_FINGERPRINT_TEXT];
    char patient_id[NOVA_FINGERPRINT_TEXT];
    char patient_name[NOVA_FINGERPRINT_TEXT];
    char study_date[NOVA_FINGERPRINT_TEXT];
    char study_description[NOVA_FINGERPRINT_TEXT];
    char accession_number[NOVA_FINGERPRINT_TEXT];
    size_t series_count;
    size_t stack_count;
} NovaStudyInfo;

typedef struct NovaScan NovaScan;

/* Scan paths: each a folder (recursed; symbolic links are not followed
 * into folders), a DICOM file, a DICOMDIR (its referenced files), or a .zip
 * archive (its members).  Headers are read with NOVA_READ_HEADER_ONLY, in
 * parallel over pool (NULL: one thread).  Fails only when a path cannot be
 * read at all; unreadable or non-DICOM files are counted, not fatal.  The
 * caller owns the result. */
NovaScan *nova_scan_create(NovaError **error, const char *const *paths,
                           size_t n_paths, NovaPool *pool);
void nova_scan_destroy(NovaScan *scan);

/* Files looked at; DICOM image files; files skipped as not DICOM (or
 * unreadable); DICOM files without an image. */
size_t nova_scan_get_files_seen(const NovaScan *scan);
size_t nova_scan_get_image_files(const NovaScan *scan);
size_t nova_scan_get_skipped_files(const NovaScan *scan);
size_t nova_scan_get_non_image_files(const NovaScan *scan);

size_t nova_scan_get_study_count(const NovaScan *scan);
const NovaStudyInfo *nova_scan_get_study(const NovaScan *scan, size_t i);
/* Stacks ordered by study, then series number, then series UID. */
size_t nova_scan_get_stack_count(const NovaScan *scan);
const NovaStackFingerprint *nova_scan_get_stack(const NovaScan *scan, size_t i);

/* The chest rule.  Candidates: CT stacks that are not localizers and have
 * at least NOVA_CHEST_MIN_SLICES slices; axial before oblique (coronal and
 * sagittal reformats are not candidates).  Among candidates, in order:
 *   1. ORIGINAL before DERIVED;
 *   2. complete before incomplete (no missing slices);
 *   3. coverage: stacks covering at least 80% of the largest coverage
 *      (a chest needs about 250-350 mm; a stack that covers less is a
 *      partial or a slab);
 *   4. lung kernel (names matching LUNG, B60-B80/Bl, FC5x, "YA" ... see
 *      chest_kernel_score in choose.c) before soft-tissue kernels;
 *   5. thinnest slice spacing;
 *   6. most slices, then lowest series number (stable).
 * With series_uid non-NULL, that series' largest stack is chosen instead
 * (NOVA_ERROR_NOT_FOUND when absent).  *stack gets the index; reason
 * (may be NULL) a sentence saying why.  Fails with NOVA_ERROR_NOT_FOUND
 * when there is no candidate, saying what was seen. */
#define NOVA_CHEST_MIN_SLICES 20
bool nova_scan_choose(NovaError **error, const NovaScan *scan,
                      const char *series_uid, size_t *stack, char *reason,
                      size_t reason_size);

/* What to do with a stack that is not a clean, evenly spaced, orthogonal
 * set of slices. */
typedef struct {
    /* Uneven spacing or missing slices: resample along the normal to even
     * spacing (linear), or refuse with NOVA_ERROR_UNSUPPORTED. */
    bool resample_uneven;
    /* Gantry tilt: shift each slice in plane onto an orthogonal grid
     * (bilinear; exact in the slice direction), or refuse. */
    bool correct_tilt;
    /* Duplicated positions: keep the first (by file order), or refuse. */
    bool drop_duplicates;
    /* A gap is uneven when it differs from the median gap by more than
     * this many mm plus spacing_tolerance_fraction of the median. */
    double spacing_tolerance_mm;
    double spacing_tolerance_fraction;
    /* Gantry tilt below this angle (degrees) is ignored. */
    double tilt_tolerance_deg;
} NovaLoadOptions;

/* Defaults: resample, correct tilt, drop duplicates, tolerance 0.01 mm +
 * 2 %, tilt tolerance 0.05 degrees. */
void nova_load_options_init(NovaLoadOptions *options);

/* What loading did. Plain data. */
typedef struct {
    size_t slices_read; /* slices decoded */
    size_t duplicates_dropped;
    size_t missing_slices;
    bool resampled_spacing;
    bool corrected_tilt;
    double tilt_deg;
    double min_gap_mm, max_gap_mm;
    size_t padding_voxels; /* set to -1024 from Pixel Padding Value */
    char warnings[512];    /* sentences, empty when clean */
} NovaLoadReport;

/* Build the HU volume of a stack: slices ordered by the projection of
 * Image Position (Patient) on the slice normal (never by instance number or
 * file name), rescale slope/intercept applied and rounded to int16 (values
 * outside int16 are clamped), Pixel Padding Value (and Range Limit) set to
 * -1024; geometry in LPS with the first slice (lowest along the normal) at
 * k = 0.  Files are decoded in parallel over pool straight into the
 * volume.  report may be NULL.  Errors name the file and the problem. */
NovaVolume *nova_scan_load(NovaError **error, const NovaScan *scan,
                           size_t stack, const NovaLoadOptions *options,
                           NovaPool *pool, NovaLoadReport *report);

/* Scan path, choose (series_uid may be NULL) and load with default
 * options: the one call for "this folder to an HU volume". */
NovaVolume *nova_volume_read_dicom(NovaError **error, const char *path,
                                   const char *series_uid, NovaPool *pool);

#ifdef __cplusplus
}
#endif
#endif
