/*
 * nova/analysis.h - lung lesions, the measures built on them, and the
 * reading assessment (RSNA category, CO-RADS level, COVID-19 probability).
 *
 * Input: an int16 HU volume and the lung segmentation of nova/chest.h.
 * Lesions are the ground-glass and consolidation inside the lungs, with
 * vessels suppressed; each lesion is a connected region with its type,
 * volume, density and place.  Measures follow DOMAIN.md (PO, PHO, severity
 * score); the assessment turns the findings radiologists use into a
 * category and a probability from a versioned model file.  Definitions of
 * every number: docs/result-schema.md and docs/chest.md.
 *
 * Decision support only: nothing here is validated for diagnosis.
 */
#ifndef NOVA_ANALYSIS_H
#define NOVA_ANALYSIS_H

#include "nova/chest.h"
#include "nova/core.h"
#include "nova/volume.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    NOVA_LESION_KIND_GGO = 0,
    NOVA_LESION_KIND_CONSOLIDATION,
    NOVA_LESION_KIND_MIXED
} NovaLesionKind;

/* "ggo", "consolidation", "mixed". */
const char *nova_lesion_kind_name(NovaLesionKind type);

typedef struct {
    int id; /* 1-based, by decreasing volume */
    NovaLesionKind type;
    size_t voxels;
    double volume_ml;
    double mean_hu;
    double high_fraction; /* share of voxels above -200 HU */
    int lung;             /* NOVA_LUNG_RIGHT / NOVA_LUNG_LEFT (majority) */
    int third;            /* NovaZoneThird (majority) */
    double peripheral_fraction; /* share of voxels in the outer third */
    double posterior_fraction;  /* share behind the lung's mid-coronal plane */
    double centroid_mm[3];      /* LPS */
    size_t bbox_min[3], bbox_max[3]; /* voxel indices, inclusive */
    size_t key_slice;       /* axial index k of the largest cross-section */
    double sphericity;      /* 0..1, from voxel count and surface faces */
    double max_diameter_mm; /* largest bounding extent */
    bool cavitated;         /* encloses air (below -900 HU) */
} NovaLesion;

typedef struct {
    /* HU bands (DOMAIN.md): ground glass from ggo_min_hu, consolidation
     * above high_hu up to max_hu. */
    double ggo_min_hu;       /* -750 */
    double high_hu;          /* -200 (PHO threshold, Chaganti et al.) */
    double max_hu;           /* +100 */
    double vessel_radius_mm; /* opening radius that removes vessels, 2.5 */
    double min_lesion_ml;    /* smaller regions are dropped, 0.1 */
} NovaLesionOptions;

void nova_lesion_options_init(NovaLesionOptions *options);

/* The findings radiologists use (DOMAIN.md, Simpson et al. 2020). */
typedef struct {
    bool any_opacity; /* PO at least 0.5 % or a lesion of 1 ml */
    bool bilateral;
    bool peripheral_predominant;
    bool lower_predominant;
    bool posterior_predominant;
    int foci;                    /* lesions of at least 0.5 ml */
    int rounded_ggo;             /* GGO lesions with sphericity >= 0.55 */
    double ggo_to_consolidation; /* GGO volume / consolidation volume */
    bool lobar_consolidation;    /* one consolidation filling most of a zone */
    int discrete_nodules;        /* small, round, solid lesions */
    bool cavitation;
    /* Pleural effusion (docs/analysis.md): assessed on scans whose lungs
     * span 20 mm or more along z, on axial grids; effusion_note says why
     * not otherwise.  Per side (0 right, 1 left): present, its volume in
     * ml, its deepest run behind the lung and its extent along z in mm
     * (0 when absent); pleural_effusion: on either side. */
    bool pleural_effusion;
    bool effusion_assessed;
    bool effusion_present[2];
    double effusion_ml[2];
    double effusion_depth_mm[2];
    double effusion_extent_mm[2];
    char effusion_note[96];
} NovaFindings;

typedef enum {
    NOVA_RSNA_NEGATIVE = 0,
    NOVA_RSNA_TYPICAL,
    NOVA_RSNA_INDETERMINATE,
    NOVA_RSNA_ATYPICAL
} NovaRsnaCategory;

const char *nova_rsna_category_name(NovaRsnaCategory category);

typedef struct NovaAnalysis NovaAnalysis;

/* Find and measure lesions and assess them.  model_path is the probability
 * model file (models/covid-probability/model.json); NULL uses the copy
 * built into the binary.  The caller owns the result. */
NovaAnalysis *nova_analysis_run(NovaError **error, NovaPool *pool,
                                const NovaVolume *hu,
                                const NovaLungResult *lungs,
                                const NovaLesionOptions *options,
                                const char *model_path);
void nova_analysis_destroy(NovaAnalysis *analysis);

size_t nova_analysis_get_lesion_count(const NovaAnalysis *analysis);
const NovaLesion *nova_analysis_get_lesion(const NovaAnalysis *analysis,
                                           size_t i);
/* uint8 mask on the CT grid: 0 none, 1 GGO voxel, 2 voxel above -200 HU
 * (consolidation density); borrowed. */
NovaVolume *nova_analysis_get_lesion_mask(const NovaAnalysis *analysis);

typedef struct {
    double lung_ml[3]; /* both, right, left */
    double lesion_ml[3];
    double high_ml[3];    /* lesion voxels above -200 HU */
    double po[3], pho[3]; /* percent of lung volume */
    /* per zone third: [lung 0 right / 1 left][third] */
    double zone_lung_ml[2][3];
    double zone_lesion_ml[2][3];
    double zone_po[2][3];
    double zone_pho[2][3];
    int zone_score[2][3];        /* Pan et al. bins, 0..5 */
    int severity_score;          /* sum over the six zones, 0..30 */
    const char *severity_scheme; /* "six-zone" (no lobes yet) */
    /* lung HU histogram: bins of 10 HU from -1030 to +100 */
    size_t histogram[113];
    double histogram_start_hu, histogram_bin_hu;
    double ggo_ml, consolidation_ml; /* by lesion type */
} NovaMeasures;

const NovaMeasures *nova_analysis_get_measures(const NovaAnalysis *analysis);
const NovaFindings *nova_analysis_get_findings(const NovaAnalysis *analysis);
NovaRsnaCategory nova_analysis_get_rsna(const NovaAnalysis *analysis);
int nova_analysis_get_corads(const NovaAnalysis *analysis);
double nova_analysis_get_probability(const NovaAnalysis *analysis);
/* Model id and version of the probability model used. Borrowed. */
const char *nova_analysis_get_model_id(const NovaAnalysis *analysis);
const char *nova_analysis_get_model_version(const NovaAnalysis *analysis);
/* Sentences explaining the category, for the report; borrowed. */
size_t nova_analysis_get_reason_count(const NovaAnalysis *analysis);
const char *nova_analysis_get_reason(const NovaAnalysis *analysis, size_t i);
/* Seconds for "lesions", "measures", "assessment" (which includes the
 * pleural effusion detector) and "effusion" (that detector alone). */
double nova_analysis_get_seconds(const NovaAnalysis *analysis,
                                 const char *stage);

#ifdef __cplusplus
}
#endif
#endif
