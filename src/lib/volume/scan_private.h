/*
 * scan_private.h - the scan's internal records, shared by scan.c (reading
 * and grouping), choose.c (the chest rule) and assemble.c (building the
 * volume).  Not public.
 */
#ifndef NOVA_SCAN_PRIVATE_H
#define NOVA_SCAN_PRIVATE_H

#include "nova/dicom.h"
#include "nova/volume.h"

#include <zip.h>

#define TXT NOVA_FINGERPRINT_TEXT

/* One source file (or zip member) holding an image. */
typedef struct {
    char *path;        /* file path, or member name for zip members */
    int64_t zip_index; /* -1: a plain file */
    size_t archive;    /* index into NovaScan.archives when zip_index >= 0 */
    /* Identity and description (first values, trimmed). */
    char study_uid[TXT], series_uid[TXT], frame_of_reference_uid[TXT];
    char patient_id[TXT], patient_name[TXT], study_date[TXT];
    char study_description[TXT], accession_number[TXT];
    char series_description[TXT], modality[TXT], body_part[TXT];
    char kernel[TXT], contrast_agent[TXT], image_type[TXT];
    char transfer_syntax[TXT];
    int64_t series_number;
    bool has_series_number;
    /* Pixels. */
    NovaImageInfo info;
    bool has_padding, has_padding_limit;
    int64_t padding, padding_limit; /* raw stored values */
    double gantry_tilt_deg;
    /* Native little-endian 16-bit pixel data of a plain file: where its
     * value starts in the file (0: not available, decode through the
     * dataset).  The loader reads frames from here straight into the
     * volume. */
    uint64_t pixel_offset;
    uint64_t pixel_length;
    /* Frames of this file in the slice list. */
    uint32_t frames;
} ScanFile;

/* One 2D image: a single-frame file, or one frame of a multi-frame one. */
typedef struct {
    size_t file;
    uint32_t frame;
    double ipp[3];
    double iop[6];
    double pixel_spacing[2];
    double thickness;
    double slope, intercept;
    int64_t acquisition_number;
    bool has_acquisition_number;
    int64_t instance_number;
    char frame_type[TXT]; /* Enhanced: (0008,9007); else = image type */
    size_t stack;
    double position; /* projection of ipp on the stack normal */
} ScanSlice;

typedef struct {
    NovaStackFingerprint fp;
    size_t *slices; /* indices into NovaScan.slices, sorted by position */
    size_t count;
    size_t series_index;
} ScanStack;

struct NovaScan {
    ScanFile *files;
    size_t file_count;
    ScanSlice *slices;
    size_t slice_count;
    ScanStack *stacks;
    size_t stack_count;
    NovaStudyInfo *studies;
    size_t study_count;
    char **archives; /* zip paths */
    size_t archive_count;
    size_t files_seen, skipped, non_image;
};

/* Read a zip member into *buf (grown as needed, capacity *cap). */
bool nova__zip_read_member(NovaError **error, zip_t *za, const char *archive,
                           int64_t index, uint8_t **buf, size_t *cap,
                           size_t *size);

/* Open a file record's dataset: plain files are read whole (mmap), zip
 * members from *buf through the per-thread archive handle za. */
NovaDataset *nova__scan_open_file(NovaError **error, const NovaScan *scan,
                                  const ScanFile *file, zip_t **za,
                                  uint8_t **buf, size_t *cap, unsigned flags);

/* Stack analysis shared with the loader: sorted gaps and their median. */
double nova__median(double *values, size_t n);

#endif
