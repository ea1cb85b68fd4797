/*
 * phantom_private.h - private: the phantom's anatomical model, shared by
 * model.c (building it from the seed), render.c (voxelising it slice by
 * slice) and phantom.c (the object, truth JSON and files).
 *
 * World coordinates are DICOM patient coordinates (LPS, mm) with the
 * origin at the centre of the field: x to the patient's left, y to the
 * back, z to the head.  The field is 360 x 360 x 320 mm whatever the voxel
 * count, so the anatomy does not change with the resolution.
 */
#ifndef NOVA_PHANTOM_PRIVATE_H
#define NOVA_PHANTOM_PRIVATE_H

#include "nova/phantom.h"

#include <math.h>

#define PH_FIELD_XY_MM 360.0
#define PH_FIELD_Z_MM 320.0

enum { SEG_AIRWAY = 0, SEG_VESSEL, SEG_GREAT };

/* A tapered tube (a capsule whose radius varies linearly from a to b). */
typedef struct {
    float a[3], b[3];
    float ra, rb;
    uint8_t kind;
} PhSegment;

typedef struct {
    double c[3], r[3];
    NovaLesionType type;
    int lobe_only;       /* 0, or the only lobe label it may occupy */
    double hu;           /* main density */
    double core;         /* mixed / part-solid: core size as a fraction */
    double edge_mm;      /* half-width of the soft margin */
    double wave_k[3][3]; /* irregular outline: three plane waves */
    double wave_phase[3];
    double wave_amp;
} PhLesion;

typedef struct {
    uint64_t seed;
    uint32_t hash_seed;
    /* body */
    double body_a, body_b, body_yc;
    double fat_mm;
    /* spine, ribs */
    double spine_y;
    double rib_z0, rib_dz;
    /* diaphragm domes and lung apices */
    double dome_right, dome_left, apex_z;
    /* heart ellipsoid */
    double heart_c[3], heart_r[3], heart_cos, heart_sin;
    /* fissures */
    double fiss_right_z, fiss_left_z, fiss_horizontal_z, fiss_phase;
    /* tubes */
    PhSegment *segs;
    size_t n_segs, cap_segs;
    size_t n_great; /* the first n_great segments are great vessels */
    /* lesions */
    PhLesion lesions[NOVA_PHANTOM_MAX_LESIONS];
    size_t n_lesions;
    /* pleural effusion per side (0 right, 1 left): a lung point is fluid
     * where nova__ph_effusion_key exceeds effusion_level (model.c) */
    bool effusion[2];
    double effusion_level[2];
} PhModel;

/* Random numbers for the model: splitmix64. */
uint64_t nova__ph_rand(uint64_t *state);
double nova__ph_uniform(uint64_t *state, double lo, double hi);

/* Margins of the lung at a point: how far (mm) inside each constraint it
 * is; the lung is where all are positive. */
typedef struct {
    double wall, med, base, apex, heart, great;
} PhLungMargins;

/* Signed depth (mm, > 0 inside) of the point in the lungs, side 0 right, 1
 * left; margins optional. */
double nova__ph_lung_depth(const PhModel *m, double x, double y, double z,
                           int *side, PhLungMargins *margins);
/* Lobe label (1..5) of a point in the lungs, and its distance (mm) to the
 * nearest fissure. */
int nova__ph_lobe(const PhModel *m, int side, double x, double y, double z,
                  double *fissure_mm);
/* Skin depth (mm, > 0 inside the body) and the body-wall layer depths. */
double nova__ph_skin_depth(const PhModel *m, double x, double y, double z,
                           double *cos_post);
void nova__ph_wall_layers(const PhModel *m, double x, double cy, double cx,
                          double z, double *fat_end, double *muscle_end,
                          double *cavity);
double nova__ph_cavity_depth_wall(const PhModel *m, double x, double y_over_r,
                                  double abs_x_over_r, double z);
/* Signed distance-like value to the heart surface (mm, < 0 inside). */
double nova__ph_heart_distance(const PhModel *m, double x, double y, double z);
double nova__ph_mediastinum_half_width(const PhModel *m, int side, double y,
                                       double z);
double nova__ph_diaphragm_z(const PhModel *m, int side, double x, double y);

/* The height of a lung point above the fluid surface of a layered
 * effusion, negated (mm; fluid where it exceeds the side's level): y
 * (toward the back, the dependent side of a supine patient), plus a
 * meniscus that climbs the chest wall (wall_mm: the point's distance to
 * it), minus a tilt that deepens the fluid toward the diaphragm. */
static inline double nova__ph_effusion_key(const PhModel *m, int side, double y,
                                           double z, double wall_mm)
{
    double dome = side == 0 ? m->dome_right : m->dome_left;
    double wall = wall_mm > 0 ? wall_mm : 0;
    return y + 6.0 * exp(-wall / 5.0) - 0.35 * (z - dome);
}

/* Build the whole model (anatomy, trees, lesions) from the options. */
bool nova__ph_model_build(NovaError **error, PhModel *m,
                          const NovaPhantomOptions *o);
void nova__ph_model_free(PhModel *m);

/* Render slices [begin, end) into ct (int16) and labels (uint8); counts
 * voxels into the arrays (indexed by label for lobes 0..7, by lesion index
 * for lesions, [lesion][lobe] for lesion_lobe). */
typedef struct {
    uint64_t lobe[8];
    uint64_t lobe_lesion[8];
    uint64_t lesion[NOVA_PHANTOM_MAX_LESIONS];
    uint64_t lesion_lobe[NOVA_PHANTOM_MAX_LESIONS][6];
    uint64_t effusion[2]; /* right, left */
} PhCounts;

typedef struct {
    const PhModel *model;
    const NovaPhantomOptions *opt;
    size_t dims[3];
    double spacing[3];
    int16_t *ct;
    uint8_t *labels;
    /* per-slice segment lists (CSR) */
    size_t *slice_start;
    uint32_t *slice_segs;
    PhCounts *counts; /* one per thread */
    bool *failed;     /* one per thread: scratch allocation failed */
} PhRender;

void nova__ph_render_range(void *ctx, size_t begin, size_t end, int thread);
bool nova__ph_render_prepare(NovaError **error, PhRender *r);

#endif
