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
};

bool nova__find_lesions(NovaError **error, NovaPool *pool, const NovaVolume *hu,
                        const NovaLungResult *lungs,
                        const NovaLesionOptions *options, NovaAnalysis *an);
bool nova__measure(NovaError **error, NovaPool *pool, const NovaVolume *hu,
                   const NovaLungResult *lungs,
                   const NovaLesionOptions *options, NovaAnalysis *an);

#endif
