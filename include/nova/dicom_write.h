/*
 * nova/dicom_write.h - writing DICOM: UIDs, a dataset builder, Part 10
 * files, and CT Image Storage series.
 *
 * A NovaDicomBuilder holds a dataset in memory as a tree of elements (items
 * of sequences are datasets of their own).  Elements may be added in any
 * order; the writer sorts each dataset by tag (PS3.5 7.1: elements appear
 * in increasing tag order), pads every value to an even length (PS3.5 6.2:
 * UI and OB with NUL, other text with a space) and gives every sequence and
 * item a defined length.  Files are Part 10 (PS3.10 7.1): a 128-byte
 * preamble, "DICM", a File Meta Information group built from the dataset's
 * SOP Class and Instance UIDs, then the dataset in explicit VR little
 * endian, or RLE Lossless (PS3.5 Annex G) for encapsulated Pixel Data.
 *
 * Files are written atomically: to a temporary file in the same folder,
 * then renamed over the target, so a reader never sees half a file.
 *
 * Thread safety: a builder belongs to one thread; different builders may be
 * used from different threads at once.  The UID functions are thread safe.
 */
#ifndef NOVA_DICOM_WRITE_H
#define NOVA_DICOM_WRITE_H

#include "nova/core.h"
#include "nova/dicom.h"
#include "nova/volume.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ UIDs */

/* PS3.5 9.1: a UID is at most 64 characters. */
#define NOVA_UID_MAX 64
/* Nova's implementation class UID and version name (PS3.7 D.3.3.2), written
 * into every File Meta Information group.  The class UID is UUID-derived
 * (2.25 root), fixed for the product. */
#define NOVA_IMPLEMENTATION_CLASS_UID                                          \
    "2.25.332198861172076274294318995076302473669"
#define NOVA_IMPLEMENTATION_VERSION_NAME "NOVA_010"

#define NOVA_UID_CT_IMAGE_STORAGE "1.2.840.10008.5.1.4.1.1.2"
#define NOVA_UID_EXPLICIT_VR_LE "1.2.840.10008.1.2.1"
#define NOVA_UID_RLE_LOSSLESS "1.2.840.10008.1.2.5"

/* A new random UID: "2.25." followed by the decimal value of a version 4
 * UUID (PS3.5 B.2, ITU-T X.667) made from getrandom(2).  out must hold
 * NOVA_UID_MAX + 1 bytes.  Fails only when the system has no randomness. */
bool nova_uid_generate(NovaError **error, char *out);

/* A deterministic UID: the same (seed, name) always gives the same UID and
 * different ones differ with overwhelming probability.  With root NULL or
 * "2.25", a version 8 (RFC 9562, hash-derived) UUID under 2.25; otherwise
 * root + "." + a decimal 64-bit hash of (seed, name).  Used for
 * reproducible phantoms.  Fails when the result would exceed 64 characters
 * or root is not a valid UID prefix. */
bool nova_uid_from_seed(NovaError **error, const char *root, uint64_t seed,
                        const char *name, char *out);

/* Like nova_uid_generate, under a configured root (NULL or "2.25" gives the
 * UUID form): root + "." + a random 64-bit decimal. */
bool nova_uid_generate_under(NovaError **error, const char *root, char *out);

/* True when s is a syntactically valid UID (PS3.5 9.1): 1-64 characters,
 * digits and dots, no empty component, no leading zero in a component. */
bool nova_uid_is_valid(const char *s);

/* --------------------------------------------------------------- builder */

typedef struct NovaDicomBuilder NovaDicomBuilder;

/* An empty dataset.  Destroy with nova_dicom_builder_destroy. */
NovaDicomBuilder *nova_dicom_builder_create(NovaError **error);
void nova_dicom_builder_destroy(NovaDicomBuilder *builder);

/* Adding an element whose tag is already present in the current dataset
 * replaces it.  Elements are added to the innermost open item (see
 * begin_sequence / begin_item), or to the root dataset.  Group 0002 is
 * written by the writer and may not be added. */

/* A text element (AE AS CS DA DS DT IS LO LT PN SH ST TM UC UI UR UT).  The
 * value is copied; multiple values are separated by backslashes.  Fails
 * when the VR is not text or the value is longer than 2^16 - 2 bytes for
 * VRs with a 16-bit length. */
bool nova_dicom_builder_add_string(NovaError **error, NovaDicomBuilder *builder,
                                   uint32_t tag, NovaVR vr, const char *value);
/* US, UL, SS, SL values (converted to little endian). */
bool nova_dicom_builder_add_uint16(NovaError **error, NovaDicomBuilder *builder,
                                   uint32_t tag, const uint16_t *values,
                                   size_t n);
bool nova_dicom_builder_add_uint32(NovaError **error, NovaDicomBuilder *builder,
                                   uint32_t tag, const uint32_t *values,
                                   size_t n);
bool nova_dicom_builder_add_int16(NovaError **error, NovaDicomBuilder *builder,
                                  uint32_t tag, const int16_t *values,
                                  size_t n);
/* n values as DS (decimal string), each formatted in at most 16 characters
 * (PS3.5 6.2) with as many significant digits as fit. */
bool nova_dicom_builder_add_ds(NovaError **error, NovaDicomBuilder *builder,
                               uint32_t tag, const double *values, size_t n);
/* n values as IS (integer string). */
bool nova_dicom_builder_add_is(NovaError **error, NovaDicomBuilder *builder,
                               uint32_t tag, const int32_t *values, size_t n);
/* FD values. */
bool nova_dicom_builder_add_doubles(NovaError **error,
                                    NovaDicomBuilder *builder, uint32_t tag,
                                    const double *values, size_t n);
/* Raw little-endian value bytes with any non-SQ VR (OB, OW, UN, ...);
 * copied. */
bool nova_dicom_builder_add_bytes(NovaError **error, NovaDicomBuilder *builder,
                                  uint32_t tag, NovaVR vr, const void *data,
                                  size_t length);

/* Sequences: begin_sequence opens an SQ element in the current dataset;
 * begin_item opens a new item in the innermost open sequence, and elements
 * go there until end_item; end_sequence closes the sequence.  Calls must
 * nest properly (an error says which call was out of place).  An empty
 * sequence (no items) is valid (type 2 sequences). */
bool nova_dicom_builder_begin_sequence(NovaError **error,
                                       NovaDicomBuilder *builder, uint32_t tag);
bool nova_dicom_builder_begin_item(NovaError **error,
                                   NovaDicomBuilder *builder);
bool nova_dicom_builder_end_item(NovaError **error, NovaDicomBuilder *builder);
bool nova_dicom_builder_end_sequence(NovaError **error,
                                     NovaDicomBuilder *builder);

/* Native Pixel Data (7FE0,0010) as OW (bits allocated > 8) or OB, little
 * endian bytes; copied. */
bool nova_dicom_builder_set_pixel_data(NovaError **error,
                                       NovaDicomBuilder *builder, NovaVR vr,
                                       const void *data, size_t length);
/* Encapsulated Pixel Data (PS3.5 A.4): one compressed frame per entry, each
 * written as one fragment after a Basic Offset Table holding the frame
 * offsets.  The bytes are copied.  The file must then be written with an
 * encapsulated transfer syntax. */
bool nova_dicom_builder_set_pixel_fragments(NovaError **error,
                                            NovaDicomBuilder *builder,
                                            const uint8_t *const *frames,
                                            const size_t *lengths,
                                            size_t n_frames);

/* Serialise as a Part 10 file with the given transfer syntax
 * (NOVA_UID_EXPLICIT_VR_LE, or NOVA_UID_RLE_LOSSLESS when the pixel data is
 * encapsulated).  The meta group takes the Media Storage SOP Class and
 * Instance UIDs from the dataset's (0008,0016) and (0008,0018), which must
 * be present.  All sequences must be closed.  *out is allocated with
 * nova_malloc (caller frees). */
bool nova_dicom_builder_write_memory(NovaError **error,
                                     const NovaDicomBuilder *builder,
                                     const char *transfer_syntax_uid,
                                     uint8_t **out, size_t *out_len);
/* The same, written atomically to path (temporary file + rename). */
bool nova_dicom_builder_write_file(NovaError **error,
                                   const NovaDicomBuilder *builder,
                                   const char *transfer_syntax_uid,
                                   const char *path);

/* Write bytes to path atomically: a temporary file beside it, then
 * rename(2).  With sync, the file is fsync'ed before the rename. */
bool nova_write_file_atomic(NovaError **error, const char *path,
                            const void *data, size_t length, bool sync);

/* --------------------------------------------------------- CT Image IOD */

/* What a CT series says about itself.  NULL strings get defaults (empty
 * for type 2 attributes); NULL UIDs are generated (from uid_seed when
 * deterministic, else at random, under uid_root or 2.25). */
typedef struct {
    const char *patient_name;       /* (0010,0010) */
    const char *patient_id;         /* (0010,0020) */
    const char *patient_birth_date; /* (0010,0030) YYYYMMDD */
    const char *patient_sex;        /* (0010,0040) M, F, O */
    const char *study_instance_uid;
    const char *series_instance_uid;
    const char *frame_of_reference_uid;
    const char *study_date; /* YYYYMMDD (also series/content date) */
    const char *study_time; /* HHMMSS */
    const char *study_id;
    const char *accession_number;
    const char *study_description;
    const char *series_description;
    const char *manufacturer;
    const char *model_name;
    const char *body_part;  /* (0018,0015), e.g. CHEST */
    const char *image_type; /* default ORIGINAL\PRIMARY\AXIAL */
    const char *derivation; /* (0008,2111) when derived, else NULL */
    int32_t series_number;
    double kvp;                         /* 0: written empty (type 2) */
    double slice_thickness_mm;          /* 0: the slice spacing */
    double window_center, window_width; /* both 0: not written */
    bool deterministic;                 /* UIDs from uid_seed (reproducible) */
    uint64_t uid_seed;
    const char *uid_root; /* NULL: 2.25 */
    bool rle;             /* RLE Lossless instead of native */
    bool sync;            /* fsync each file before rename */
} NovaCtSeriesOptions;

/* Defaults: everything NULL/0, series_number 1, image type
 * ORIGINAL\PRIMARY\AXIAL. */
void nova_ct_series_options_init(NovaCtSeriesOptions *options);

/* Write an int16 (HU) volume as a CT Image Storage series, one file per
 * slice (k), into folder dir (created if missing), named "CT%06u.dcm" with
 * Instance Number k + 1.  Pixel values are stored signed with rescale 1, 0.
 * Image Position/Orientation and Pixel Spacing follow the volume geometry
 * (columns along i, rows along j).  Slices are written in parallel through
 * pool (NULL: one thread); the file bytes do not depend on the thread
 * count.  With options->deterministic the output is identical for the
 * same inputs.  The UIDs used can be read back through the out pointers
 * (each NOVA_UID_MAX + 1 bytes, may be NULL). */
bool nova_ct_series_write(NovaError **error, const NovaVolume *volume,
                          const char *dir, const NovaCtSeriesOptions *options,
                          NovaPool *pool, char *study_uid_out,
                          char *series_uid_out);

#ifdef __cplusplus
}
#endif
#endif
