/*
 * analysis_private.h - the NovaAnalysis object shared by lesions.c
 * (lesions and measures) and assess.c (findings, category, probability).
 */
#ifndef NOVA_CHEST_ANALYSIS_PRIVATE_H
#define NOVA_CHEST_ANALYSIS_PRIVATE_H

#include "nova/analysis.h"

#define NOVA_MAX_REASONS 16

typedef struct {
    char id[64];
    char version[32];
    double corads_probability[6]; /* index 1..5 */
} NovaProbabilityModel;

/* What the measures count, per lung (0 right, 1 left) and zone third:
 * gathered by the lesion stage's passes over the lungs' box (the lung
 * voxels and their histogram while it reads the CT, the lesion voxels as
 * it writes the mask), so that nova__measure need not read the volume
 * again. */
typedef struct {
    size_t lung[2], zone_lung[2][3];
    size_t hist[113]; /* 10-HU bins from -1030 HU */
    size_t lesion[2], high[2], zone_lesion[2][3], zone_high[2][3];
} NovaMeasureCounts;

/* The effusion stage's result (effusion.c), copied into the findings by
 * assess.c; per side 0 right, 1 left. */
typedef struct {
    bool assessed;
    char note[96]; /* why not assessed */
    bool present[2];
    double ml[2], depth_mm[2], extent_mm[2]; /* 0 when absent */
} NovaEffusionResult;

struct NovaAnalysis {
    NovaLesion *lesions;
    size_t lesion_count;
    NovaVolume *lesion_mask;
    NovaMeasures measures;
    NovaFindings findings;
    NovaRsnaCategory rsna;
    int corads;
    double probability;
    NovaProbabilityModel model;
    char reasons[NOVA_MAX_REASONS][200];
    size_t reason_count;
    double seconds_lesions, seconds_measures, seconds_assessment;
    /* the lungs' bounding box (inclusive), found by the lesion stage;
     * has_lungs false when there is no lung voxel */
    bool has_lungs;
    size_t lung_lo[3], lung_hi[3];
    NovaMeasureCounts counts; /* all zero without lungs */
    NovaEffusionResult effusion;
    double seconds_effusion;
};

bool nova__find_lesions(NovaError **error, NovaPool *pool, const NovaVolume *hu,
                        const NovaLungResult *lungs,
                        const NovaLesionOptions *options, NovaAnalysis *an);
bool nova__measure(NovaError **error, NovaPool *pool, const NovaVolume *hu,
                   const NovaLungResult *lungs,
                   const NovaLesionOptions *options, NovaAnalysis *an);

/* Pleural effusion per side into an->effusion (effusion.c); fails only
 * when memory runs out. */
bool nova__find_effusion(NovaError **error, NovaPool *pool,
                         const NovaVolume *hu, const NovaLungResult *lungs,
                         NovaAnalysis *an);

#endif
