/*
 * nova/radiomics.h - IBSI 1 radiomics features for an image and a mask.
 *
 * Implements the Image Biomarker Standardisation Initiative reference manual
 * (Zwanenburg et al., Radiology 2020; "IBSI 1"): preprocessing (interpolation
 * to a voxel spacing on the IBSI grid, re-segmentation by range and by
 * outliers, discretisation by fixed bin number and fixed bin size) and the
 * feature families morphology, local intensity, intensity statistics,
 * intensity histogram, intensity-volume histogram, GLCM, GLRLM, GLSZM,
 * GLDZM, NGTDM and NGLDM with the aggregation methods the standard defines.
 * Every feature carries its IBSI identifier (e.g. RNU0 for the mesh volume)
 * and every texture value its aggregation code (e.g. BTW3, KOBO).
 *
 * A configuration is plain data; nova_radiomics_config_load() reads one from
 * a small "key = value" file (configs/radiomics/ holds IBSI configurations
 * A to E).  Computation is a pure function of image, mask and configuration;
 * it is thread safe for distinct outputs and runs single threaded (except
 * Moran's I and Geary's C with nova_radiomics_compute_pool), so a batch
 * runs cases in parallel over a NovaPool.
 */
#ifndef NOVA_RADIOMICS_H
#define NOVA_RADIOMICS_H

#include "nova/core.h"
#include "nova/volume.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    NOVA_RADIOMICS_DISCRETISE_NONE = 0, /* intensities are the grey levels */
    NOVA_RADIOMICS_DISCRETISE_FBN,      /* fixed bin number (IBSI K15C) */
    NOVA_RADIOMICS_DISCRETISE_FBS       /* fixed bin size (IBSI Q3RU) */
} NovaRadiomicsDiscretisation;

typedef enum {
    NOVA_RADIOMICS_INTERP_NONE = 0,
    NOVA_RADIOMICS_INTERP_LINEAR, /* (tri/bi)linear */
    NOVA_RADIOMICS_INTERP_CUBIC   /* cubic B-spline (tricubic spline) */
} NovaRadiomicsInterpolation;

/* Texture dimensionality: 2D computes the 2D and 2.5D aggregations, 3D the
 * 3D ones. */
enum { NOVA_RADIOMICS_TEXTURE_2D = 1, NOVA_RADIOMICS_TEXTURE_3D = 2 };

typedef struct {
    char name[64];
    int texture; /* NOVA_RADIOMICS_TEXTURE_2D | _3D */
    /* Interpolation (IBSI 1 section 2.4).  spacing_mm[i] <= 0 keeps that
     * axis: a 2D configuration resamples in plane only (spacing_mm[2] = 0). */
    NovaRadiomicsInterpolation interpolation;
    double spacing_mm[3];
    bool round_intensities;     /* round interpolated intensities */
    double mask_partial_volume; /* interpolated mask threshold, 0.5 */
    /* Re-segmentation (IBSI 1 section 2.5): the intensity mask keeps voxels
     * in [range_min, range_max] (either may be -/+INFINITY) and, with
     * outlier_sigma > 0, within mean +- outlier_sigma * sd. */
    bool range_enabled;
    double range_min, range_max;
    double outlier_sigma;
    /* Discretisation for texture and intensity histogram (section 2.7). */
    NovaRadiomicsDiscretisation discretisation;
    double bin_width;
    int bin_count;
    /* Discretisation for the intensity-volume histogram (section 4.5):
     * NONE is the "discrete calibrated" case, FBS the "continuous
     * calibrated" case, FBN the "arbitrary units" case. */
    NovaRadiomicsDiscretisation ivh_discretisation;
    double ivh_bin_width;
    int ivh_bin_count;
    /* Texture parameters (Chebyshev distances, NGLDM coarseness). */
    int glcm_distance;
    int ngtdm_distance;
    int ngldm_distance;
    int ngldm_alpha;
    /* Moran's I and Geary's C are O(n^2) in ROI voxels; they are computed
     * exactly when the intensity mask has at most this many voxels and
     * reported as NaN otherwise (0: no limit). */
    size_t spatial_max_voxels;
} NovaRadiomicsConfig;

/* IBSI digital phantom settings: no interpolation, no re-segmentation, no
 * discretisation, 2D and 3D texture, distances 1, alpha 0. */
void nova_radiomics_config_init(NovaRadiomicsConfig *config);

/* Read a configuration file ("key = value" lines, '#' comments; see
 * configs/radiomics/default.conf for every key).  Starts from
 * nova_radiomics_config_init().  Errors name the file, line and key. */
bool nova_radiomics_config_load(NovaError **error, const char *path,
                                NovaRadiomicsConfig *config);
/* The same from a NUL-terminated text (origin names it in errors). */
bool nova_radiomics_config_parse(NovaError **error, const char *text,
                                 const char *origin,
                                 NovaRadiomicsConfig *config);

/* One computed feature.  Strings are static. */
typedef struct {
    const char *family;      /* "morph", "loc", "stat", "int", "cm", ... */
    const char *id;          /* IBSI anchor, e.g. "morph_volume" */
    const char *code;        /* IBSI identifier, e.g. "RNU0" */
    const char *name;        /* "Volume (mesh)" */
    const char *aggregation; /* IBSI aggregation code: DHQ4, BTW3, KOBO ... */
    const char *aggregation_name; /* "3D", "2D, averaged", "2.5D" ... */
    double value;                 /* NaN where undefined (e.g. empty matrix) */
} NovaRadiomicsFeature;

typedef struct NovaRadiomicsFeatures NovaRadiomicsFeatures;

/* Compute every feature of the configuration for the voxels of mask equal
 * to label (label 0: every non-zero voxel).
 *
 * image: int16, uint8 or float32; mask: integer labels (any dtype) on the
 * same grid (same dimensions, spacing, origin and direction within
 * 1e-3 mm).
 * Errors (NOVA_ERROR_INVALID): grids differ, mask empty, label absent (the
 * message lists the labels present), a NaN or infinite image voxel (with
 * its index), an empty intensity mask after re-segmentation, invalid
 * configuration values.  Returns a new list owned by the caller.  Thread
 * safe: inputs are only read. */
NovaRadiomicsFeatures *
nova_radiomics_compute(NovaError **error, const NovaVolume *image,
                       const NovaVolume *mask, int label,
                       const NovaRadiomicsConfig *config);

/* The same, with the O(n^2) Moran's I and Geary's C split over pool
 * (NULL: inline).  The result does not depend on the thread count.  Not
 * reentrant in the pool: do not call from a task of the same pool. */
NovaRadiomicsFeatures *
nova_radiomics_compute_pool(NovaError **error, const NovaVolume *image,
                            const NovaVolume *mask, int label,
                            const NovaRadiomicsConfig *config, NovaPool *pool);

void nova_radiomics_features_destroy(NovaRadiomicsFeatures *features);
size_t nova_radiomics_features_count(const NovaRadiomicsFeatures *features);
/* Borrowed; valid until destroy. */
const NovaRadiomicsFeature *
nova_radiomics_features_get(const NovaRadiomicsFeatures *features, size_t i);
/* Find by IBSI anchor id and aggregation name ("" or NULL for the 3D
 * non-texture families, "2D, averaged", "3D" ...); NULL when absent. */
const NovaRadiomicsFeature *
nova_radiomics_features_find(const NovaRadiomicsFeatures *features,
                             const char *id, const char *aggregation_name);

/* Diagnostics of the preprocessing (IBSI 1 section 5 "diagnostic
 * features"): voxel counts of the interpolated morphological mask and of
 * the re-segmented intensity mask. */
size_t nova_radiomics_features_morph_voxels(const NovaRadiomicsFeatures *f);
size_t nova_radiomics_features_intensity_voxels(const NovaRadiomicsFeatures *f);

/* Write one row per feature: family,code,id,name,aggregation,
 * aggregation_name,value (CSV, RFC 4180 quoting), with a header line when
 * header is true; case_id, when non-NULL, adds a leading "case" column. */
bool nova_radiomics_features_write_csv(NovaError **error,
                                       const NovaRadiomicsFeatures *features,
                                       FILE *out, const char *case_id,
                                       bool header);
/* Write a JSON array of objects with the same fields. */
bool nova_radiomics_features_write_json(NovaError **error,
                                        const NovaRadiomicsFeatures *features,
                                        FILE *out);

/* Rasterise the closed planar contours of a DICOM RTSTRUCT file onto the
 * grid of image: a uint8 mask (1 inside) with image's geometry.
 *
 * Rule: each contour point (LPS mm) is mapped to continuous voxel indices
 * of image; a contour belongs to the slice nearest its mean index k, and
 * one whose nearest slice lies outside the image is skipped (an error
 * only when no contour lands on the grid).
 * Within a slice, a voxel is inside when its centre is inside the contours
 * of the ROI by the even-odd rule over all of them together (so a contour
 * inside another is a hole): along each row the edge crossings are sorted
 * and centres with x in [x_2m, x_2m+1) are set (half-open, so a centre on a
 * left edge is in, on a right edge out).  roi_number selects the ROI
 * (Referenced ROI Number); 0 takes every ROI.  Errors: not an RTSTRUCT,
 * ROI absent (the message lists those present), malformed Contour Data,
 * no contour point on the image grid.  The caller owns the result. */
NovaVolume *nova_radiomics_rtstruct_rasterise(NovaError **error,
                                              const char *path,
                                              const NovaVolume *image,
                                              int roi_number);

/* Map the frames of a DICOM Segmentation (SEG) onto the grid of image: a
 * uint8 mask, 1 where a frame of the segment (0: every segment) covers the
 * voxel.  BINARY frames count where 1, FRACTIONAL where at least half of
 * Maximum Fractional Value.  The frames must lie on the image grid (pixel
 * centres within 0.1 voxel of voxel centres); otherwise NOVA_ERROR_INVALID
 * names the frame.  Errors also for: not a SEG, missing plane position /
 * orientation / spacing, absent segment, empty result. */
NovaVolume *nova_radiomics_seg_rasterise(NovaError **error, const char *path,
                                         const NovaVolume *image, int segment);

/* A DICOM mask file of either kind, by its Modality: SEG (number selects
 * the segment) or RTSTRUCT (number selects the ROI); 0 takes all. */
NovaVolume *nova_radiomics_dicom_mask(NovaError **error, const char *path,
                                      const NovaVolume *image, int number);

#ifdef __cplusplus
}
#endif
#endif
