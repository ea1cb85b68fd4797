/*
 * chest_private.h - the lung result's layout, shared by the files of the
 * chest module.
 */
#ifndef NOVA_CHEST_PRIVATE_H
#define NOVA_CHEST_PRIVATE_H

#include "nova/chest.h"

enum {
    STAGE_COARSE = 0,
    STAGE_AIR,
    STAGE_AIRWAY,
    STAGE_LUNGS,
    STAGE_FILL,
    STAGE_REFINE,
    STAGE_ZONES,
    STAGE_COUNT
};

#define MAX_WARNINGS 16

struct NovaLungResult {
    NovaVolume *labels;
    NovaVolume *zones;
    double volume_ml[4]; /* index: NOVA_LUNG_* (0 = both lungs) */
    double zone_ml[NOVA_ZONE_COUNT + 1];
    unsigned flags;
    bool has_box; /* nova_lung_result_get_box */
    size_t box_lo[3], box_hi[3];
    char *warnings[MAX_WARNINGS];
    size_t n_warnings;
    double seconds[STAGE_COUNT];
};

/* Append a warning (formatted); silently drops beyond MAX_WARNINGS or when
 * memory runs out, since a warning must never turn a result into a
 * failure. */
void nova__lung_warn(NovaLungResult *result, const char *format, ...)
    NOVA_PRINTF(2, 3);

#endif
