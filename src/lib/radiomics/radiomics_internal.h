/*
 * radiomics_internal.h - shared types of the radiomics module.
 *
 * After preprocessing (preprocess.c) a case is an NovaRoi: a box of the
 * (possibly interpolated) image, cropped around the mask with a margin wide
 * enough for the 1 cm^3 local-intensity sphere, holding the intensities,
 * the morphological mask (the interpolated ROI), the intensity mask (the
 * re-segmented ROI) and the discretised grey levels of the intensity mask.
 * Each feature family (morphology.c, intensity.c, texture.c) reads it and
 * appends values to a NovaRadiomicsFeatures list (features.c).
 */
#ifndef NOVA_RADIOMICS_INTERNAL_H
#define NOVA_RADIOMICS_INTERNAL_H

#include "nova/radiomics.h"

#include <math.h>
#include <stdint.h>

/* Feature identifiers: index into the table in features.c. */
typedef enum {
#define NOVA__RF(fam, id, code, name) NOVA__F_##id,
#include "feature_table.h"
#undef NOVA__RF
    NOVA__F_COUNT
} NovaRadiomicsFeatureId;

/* Aggregation methods (IBSI 1 sections 4.7-4.12). */
typedef enum {
    NOVA__AGG_3D_VOLUME = 0, /* DHQ4: computed over the 3D volume */
    NOVA__AGG_2D_AVG,        /* BTW3 */
    NOVA__AGG_2D_SMRG,       /* SUJT */
    NOVA__AGG_25D_DMRG,      /* JJUI */
    NOVA__AGG_25D_MRG,       /* ZW7Z */
    NOVA__AGG_3D_AVG,        /* ITBB */
    NOVA__AGG_3D_MRG,        /* IAZD */
    NOVA__AGG_2D,            /* 8QNN */
    NOVA__AGG_25D,           /* 62GR */
    NOVA__AGG_3D,            /* KOBO */
    NOVA__AGG_COUNT
} NovaRadiomicsAggregation;

typedef struct {
    size_t nx, ny, nz, n;  /* box dimensions and voxel count */
    double spacing[3];     /* mm */
    double *image;         /* intensities of every voxel of the box */
    uint8_t *morph;        /* morphological mask */
    uint8_t *roi;          /* intensity mask */
    int *grey;             /* discretised level (1..ng) where roi, else 0 */
    int ng;                /* number of grey levels (levels 1..ng) */
    size_t n_morph, n_roi; /* voxel counts */
    double *values;        /* intensities of the n_roi voxels, raster order */
    /* Intensity-volume histogram (IBSI 1 section 4.5): the range G is
     * ivh_min + t * ivh_step for t = 0 .. ivh_levels - 1, and ivh_index
     * holds t of each of the n_roi voxels (raster order). */
    int *ivh_index;
    int ivh_levels;
    double ivh_min, ivh_step;
} NovaRoi;

/* Append one value; false on allocation failure. */
bool nova__features_add(NovaError **error, NovaRadiomicsFeatures *features,
                        NovaRadiomicsFeatureId id,
                        NovaRadiomicsAggregation aggregation, double value);
void nova__features_set_counts(NovaRadiomicsFeatures *features, size_t n_morph,
                               size_t n_roi);

/* preprocess.c */
bool nova__roi_build(NovaError **error, const NovaVolume *image,
                     const NovaVolume *mask, int label,
                     const NovaRadiomicsConfig *config, NovaRoi *roi);
void nova__roi_free(NovaRoi *roi);

/* Family calculators. */
bool nova__morphology_features(NovaError **error, const NovaRoi *roi,
                               const NovaRadiomicsConfig *config,
                               NovaPool *pool, NovaRadiomicsFeatures *features);
bool nova__local_intensity_features(NovaError **error, const NovaRoi *roi,
                                    NovaRadiomicsFeatures *features);
bool nova__statistics_features(NovaError **error, const NovaRoi *roi,
                               NovaRadiomicsFeatures *features);
bool nova__histogram_features(NovaError **error, const NovaRoi *roi,
                              NovaRadiomicsFeatures *features);
bool nova__ivh_features(NovaError **error, const NovaRoi *roi,
                        NovaRadiomicsFeatures *features);
bool nova__texture_features(NovaError **error, const NovaRoi *roi,
                            const NovaRadiomicsConfig *config,
                            NovaRadiomicsFeatures *features);

/* Percentile of sorted values, linear interpolation between closest ranks
 * (the "linear" method of Hyndman and Fan type 7). */
double nova__percentile_sorted(const double *sorted, size_t n, double q);

#endif
