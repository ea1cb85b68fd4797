/*
 * nova/chest.h - the chest-CT pipeline: lungs, airways and lung zones.
 *
 * nova_chest_segment_lungs() takes a CT volume in Hounsfield units and
 * returns a NovaLungResult: a label volume on the CT's grid (0 nothing,
 * NOVA_LUNG_RIGHT, NOVA_LUNG_LEFT, NOVA_LUNG_AIRWAY for the trachea and main
 * bronchi that were found and taken out of the lungs), a zone volume (each
 * lung cut into upper, middle and lower thirds along its own cranio-caudal
 * extent, and into peripheral and central parts), volumes in millilitres,
 * flags and warnings saying what could not be done (no trachea in the scan
 * range, lungs cut by the field of view, one lung only), and stage timings.
 * Method and limits: docs/chest.md.
 *
 * Sides follow the patient (DICOM LPS, +x is the patient's left): the right
 * lung is the one on the patient's right, whatever the display orientation.
 */
#ifndef NOVA_CHEST_H
#define NOVA_CHEST_H

#include "nova/core.h"
#include "nova/volume.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Values of the label volume. */
enum {
    NOVA_LUNG_NONE = 0,
    NOVA_LUNG_RIGHT = 1,
    NOVA_LUNG_LEFT = 2,
    NOVA_LUNG_AIRWAY = 3
};

/* Thirds along each lung's own cranio-caudal extent. */
typedef enum {
    NOVA_ZONE_UPPER = 0,
    NOVA_ZONE_MIDDLE = 1,
    NOVA_ZONE_LOWER = 2
} NovaZoneThird;

/* Values of the zone volume: 0 outside the lungs, else
 * 1 + (lung - 1) * 6 + third * 2 + peripheral, so 1..6 are the right lung
 * (upper central, upper peripheral, middle central, ...) and 7..12 the left.
 * Peripheral is the outer third of the lung's depth in each axial slice: the
 * in-plane distance to the nearest non-lung voxel below one third of the
 * largest such distance in that slice of that lung. */
#define NOVA_ZONE_CODE(lung, third, peripheral)                                \
    (1 + ((lung)-1) * 6 + (third)*2 + ((peripheral) ? 1 : 0))
#define NOVA_ZONE_LUNG(code) (((code)-1) / 6 + 1)
#define NOVA_ZONE_THIRD(code) ((((code)-1) % 6) / 2)
#define NOVA_ZONE_PERIPHERAL(code) (((code)-1) % 2)
#define NOVA_ZONE_COUNT 12

/* Flags: what the segmentation saw and what it could not do. */
enum {
    NOVA_LUNG_FLAG_NO_RIGHT = 1u << 0,     /* no right lung found */
    NOVA_LUNG_FLAG_NO_LEFT = 1u << 1,      /* no left lung found */
    NOVA_LUNG_FLAG_NO_TRACHEA = 1u << 2,   /* trachea not in the scan */
    NOVA_LUNG_FLAG_CROP_SIDE = 1u << 3,    /* lung cut by the in-plane FOV */
    NOVA_LUNG_FLAG_CROP_TOP = 1u << 4,     /* apex cut by the scan range */
    NOVA_LUNG_FLAG_CROP_BOTTOM = 1u << 5,  /* base cut by the scan range */
    NOVA_LUNG_FLAG_SINGLE_SLICE = 1u << 6, /* one slice: no thirds */
    NOVA_LUNG_FLAG_NOT_SEPARATED = 1u << 7 /* one air region, side guessed */
};

typedef struct {
    /* Voxels below this are air-like (lung, airway, gas): -400 HU keeps
     * aerated lung (-950 to -700) and most ground glass. */
    double air_hu;
    /* Airway lumen threshold for the trachea and main bronchi. */
    double airway_hu;
    /* Air regions whose median is below this are gas (outside air, bowel,
     * stomach), not lung. */
    double gas_median_hu;
    /* Radius of the closing that brings vessels and lesions against the
     * pleura into the lung mask. */
    double closing_mm;
    /* Radius of the per-slice disc closing that fills wider dents along the
     * costal pleura (juxtapleural consolidation), applied only within
     * pleural_depth_mm of the skin; 0 turns it off. */
    double pleural_closing_mm;
    double pleural_depth_mm;
    /* Lung with ground glass or fibrosis (coarse block means between air_hu
     * and this) that touches a lung in the same slice joins it, grown
     * breadth-first in the slice; fat (-100) and soft tissue stay out.
     * Set it to air_hu or lower to turn the growth off. */
    double dense_lung_hu;
    /* Working resolution of the coarse stages (mm in-plane, mm along z);
     * boundaries are refined on the full grid. */
    double work_spacing_mm[2];
} NovaLungOptions;

/* Fill options with the defaults documented in docs/chest.md. */
void nova_lung_options_init(NovaLungOptions *options);

typedef struct NovaLungResult NovaLungResult;

/* Segment the lungs of a CT (int16 HU volume).  options may be NULL for the
 * defaults; pool may be NULL.  Never fails for a valid CT that simply shows
 * no lungs or only part of them: the result then carries flags and
 * warnings.  Errors: INVALID (not int16), NOMEM.  The caller owns the
 * result; the input is not modified.  Thread safety: calls on different
 * inputs may run concurrently (a pool runs one job at a time); a result is
 * immutable once returned and may be read from several threads. */
NovaLungResult *nova_chest_segment_lungs(NovaError **error, NovaPool *pool,
                                         const NovaVolume *hu,
                                         const NovaLungOptions *options);
void nova_lung_result_destroy(NovaLungResult *result);

/* Label volume (uint8, the CT's grid), borrowed: valid until destroy; take
 * a reference with nova_volume_ref to keep it. */
NovaVolume *nova_lung_result_get_labels(const NovaLungResult *result);
/* Zone volume (uint8, NOVA_ZONE_CODE values), borrowed likewise. */
NovaVolume *nova_lung_result_get_zones(const NovaLungResult *result);
/* Volume in ml of NOVA_LUNG_RIGHT, NOVA_LUNG_LEFT or NOVA_LUNG_AIRWAY;
 * NOVA_LUNG_NONE gives both lungs together. */
double nova_lung_result_get_volume_ml(const NovaLungResult *result, int label);
/* Volume in ml of one zone code (1..NOVA_ZONE_COUNT). */
double nova_lung_result_get_zone_volume_ml(const NovaLungResult *result,
                                           int zone_code);
/* A box (voxel indices, inclusive) that holds every voxel labelled right
 * or left lung: the blocks of the coarse grid the labels were refined
 * from, so it may exceed the exact extent by under a block.  False, and
 * lo/hi untouched, when there is no lung. */
bool nova_lung_result_get_box(const NovaLungResult *result, size_t lo[3],
                              size_t hi[3]);
unsigned nova_lung_result_get_flags(const NovaLungResult *result);
size_t nova_lung_result_get_warning_count(const NovaLungResult *result);
/* The i-th warning, a sentence for the report; borrowed. */
const char *nova_lung_result_get_warning(const NovaLungResult *result,
                                         size_t i);
/* Seconds spent in each stage: names are "coarse", "air", "airway",
 * "lungs", "fill", "refine", "zones"; returns the count and sets *names and
 * *seconds to borrowed arrays. */
size_t nova_lung_result_get_timings(const NovaLungResult *result,
                                    const char *const **names,
                                    const double **seconds);

#ifdef __cplusplus
}
#endif
#endif
