/*
 * nova/phantom.h - synthetic chest CT with ground truth.
 *
 * A phantom is a chest CT volume (int16 HU) made from a seeded anatomical
 * model: body wall (skin, fat, muscle), ribs, spine, sternum, heart and
 * great vessels, trachea and a branching bronchial tree with walls, two
 * lungs (right: three lobes, left: two, with fissures), arterial and venous
 * trees that taper by Murray's law, lung parenchyma around -860 HU, CT-like
 * correlated noise and partial volume at every edge; plus pathology
 * (COVID-19 pattern pneumonia, bacterial lobar pneumonia, nodules) and,
 * on request, a layered pleural effusion on either side.  The
 * same options and seed always give the same bytes, whatever the thread
 * count; another seed gives different anatomy.
 *
 * Alongside the CT it keeps the truth: a uint8 label volume (codes below,
 * documented in docs/phantom.md) and per-lesion and per-lobe volumes.
 *
 * Thread safety: a NovaPhantom is immutable once created and may be read
 * from several threads.
 */
#ifndef NOVA_PHANTOM_H
#define NOVA_PHANTOM_H

#include "nova/core.h"
#include "nova/dicom_write.h"
#include "nova/volume.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    NOVA_PHANTOM_NORMAL = 0,
    NOVA_PHANTOM_COVID,
    NOVA_PHANTOM_BACTERIAL,
    NOVA_PHANTOM_NODULES
} NovaPhantomKind;

/* "normal", "covid", "bacterial", "nodules". */
const char *nova_phantom_kind_name(NovaPhantomKind kind);
bool nova_phantom_kind_from_name(const char *name, NovaPhantomKind *kind);

/* Label codes of the truth volume. */
enum {
    NOVA_LABEL_NONE = 0, /* outside the lungs */
    NOVA_LABEL_RIGHT_UPPER_LOBE = 1,
    NOVA_LABEL_RIGHT_MIDDLE_LOBE = 2,
    NOVA_LABEL_RIGHT_LOWER_LOBE = 3,
    NOVA_LABEL_LEFT_UPPER_LOBE = 4,
    NOVA_LABEL_LEFT_LOWER_LOBE = 5,
    NOVA_LABEL_AIRWAY = 6,        /* trachea and bronchi, lumen + wall */
    NOVA_LABEL_VESSEL = 7,        /* pulmonary vessels inside the lungs */
    NOVA_LABEL_EFFUSION = 8,      /* pleural effusion (either side) */
    NOVA_LABEL_LESION_FIRST = 100 /* lesion i has label 100 + i */
};
#define NOVA_PHANTOM_MAX_LESIONS 150

typedef enum {
    NOVA_LESION_GGO = 0,
    NOVA_LESION_CRAZY_PAVING,
    NOVA_LESION_CONSOLIDATION,
    NOVA_LESION_MIXED, /* ground glass with a consolidated core */
    NOVA_LESION_NODULE_SOLID,
    NOVA_LESION_NODULE_PART_SOLID
} NovaLesionType;

/* "ggo", "crazy_paving", "consolidation", "mixed", "nodule_solid",
 * "nodule_part_solid". */
const char *nova_lesion_type_name(NovaLesionType type);

typedef struct {
    size_t dims[3]; /* voxels; default 256 x 256 x 160, at most 1024^2 x
                       2000.  The anatomy spans a fixed 360 x 360 x 320 mm
                       field, so the size sets the resolution. */
    uint64_t seed;  /* default 1 */
    NovaPhantomKind kind;
    double severity; /* 0..1, default 0.5: lesion count, size, density */
    int lesions;     /* lesion count; -1 (default): from kind and severity */
    double noise_hu; /* noise standard deviation; default 12, 0: none */
    /* Pleural effusion per side (0 right, 1 left), ml; 0 (default): none.
     * A free effusion of a supine patient: fluid of 4-12 HU (plus the
     * noise) layered in the dependent (posterior) pleural space with a
     * surface that deepens toward the diaphragm and a meniscus along the
     * chest wall, in place of the lung it displaces (label
     * NOVA_LABEL_EFFUSION).  At most half the side's lung.  Phantoms
     * without it are byte for byte those of earlier versions. */
    double effusion_ml[2];
} NovaPhantomOptions;

void nova_phantom_options_init(NovaPhantomOptions *options);

typedef struct {
    int label; /* 100 + index */
    NovaLesionType type;
    int lobe;            /* the lobe label holding most of it */
    double center_mm[3]; /* LPS */
    double radius_mm[3]; /* of the generating ellipsoid */
    uint64_t voxels;     /* voxels labelled with `label` */
    double volume_ml;    /* voxels x voxel volume */
} NovaPhantomLesion;

typedef struct NovaPhantom NovaPhantom;

/* Build a phantom; slices are computed in parallel through pool (NULL: one
 * thread) with a static split.  Fails on out-of-range options. */
NovaPhantom *nova_phantom_create(NovaError **error,
                                 const NovaPhantomOptions *options,
                                 NovaPool *pool);
void nova_phantom_destroy(NovaPhantom *phantom);

/* The CT (int16 HU) and label (uint8) volumes, borrowed from the phantom
 * (take a reference to keep them). */
NovaVolume *nova_phantom_get_ct(const NovaPhantom *phantom);
NovaVolume *nova_phantom_get_labels(const NovaPhantom *phantom);
const NovaPhantomOptions *nova_phantom_get_options(const NovaPhantom *p);

size_t nova_phantom_get_lesion_count(const NovaPhantom *phantom);
const NovaPhantomLesion *nova_phantom_get_lesion(const NovaPhantom *phantom,
                                                 size_t index);
/* Voxels of lobe label 1..5 (every voxel of the lobe's region, including
 * the vessels, airways and lesions inside it) and lesion voxels in it. */
uint64_t nova_phantom_get_lobe_voxels(const NovaPhantom *phantom, int lobe);
uint64_t nova_phantom_get_lobe_lesion_voxels(const NovaPhantom *phantom,
                                             int lobe);
/* Voxels labelled NOVA_LABEL_EFFUSION on side 0 (right) or 1 (left), and
 * their volume in ml (0 without an effusion). */
uint64_t nova_phantom_get_effusion_voxels(const NovaPhantom *phantom, int side);
double nova_phantom_get_effusion_ml(const NovaPhantom *phantom, int side);

/* A seed for the study's UIDs derived from every option that changes the
 * pixels (seed, kind, size, severity, lesions, noise, effusion), so two
 * different phantoms never share UIDs and the same one always has the same. */
uint64_t nova_phantom_get_uid_seed(const NovaPhantom *phantom);

/* The truth as JSON text (schema "nova.phantom/1", see docs/phantom.md).
 * Caller frees with nova_free. */
char *nova_phantom_truth_json(NovaError **error, const NovaPhantom *phantom);

/* Write the study into folder dir (created): dir/dicom/CT000001.dcm ...
 * (one CT Image Storage file per slice, UIDs derived from the seed),
 * dir/labels.nii.gz and dir/truth.json.  series may be NULL (defaults:
 * patient "Phantom^Nova", deterministic UIDs from the seed); with rle the
 * pixel data is RLE Lossless. */
bool nova_phantom_write(NovaError **error, const NovaPhantom *phantom,
                        const char *dir, const NovaCtSeriesOptions *series,
                        NovaPool *pool);

/* ------------------------------------------------- lesion insertion */

/* Lesions of known shape and volume inserted into a real CT volume, inside
 * its lung field. */
typedef struct {
    NovaLesionType type; /* GGO (default), CRAZY_PAVING, CONSOLIDATION or
                            MIXED */
    int lesions;         /* default 3, at most NOVA_PHANTOM_MAX_LESIONS */
    double radius_mm;    /* mean radius, default 15 (each lesion 0.75-1.25x) */
    double hu;           /* density; default -550 (GGO, crazy paving) or
                            +25 (consolidation, mixed core) */
    uint64_t seed;       /* placement and shape, default 1 */
} NovaInsertOptions;

void nova_insert_options_init(NovaInsertOptions *options);

typedef struct NovaInsertion NovaInsertion;

/* Insert lesions into ct (int16 HU).  lung_mask (any dtype, nonzero =
 * lung, same dims) may be NULL: the lung field is then found by a simple
 * rule (-1024..-400 HU inside the body, the largest component above -400 HU
 * with holes filled per slice; 26-connected components of at least 0.5% of
 * the volume; their holes, such as vessels, filled per slice).  Each lesion is
 * an irregular ellipsoid placed at a random lung voxel at least 0.6 radius deep
 * (seeded), clipped to the lung field. Inside it, lung voxels darker than the
 * lesion density are raised toward it (their noise and texture kept); voxels
 * already as dense (vessels) are left as they were, so vessels stay brighter
 * than ground glass.  The truth labels are 1 = lung field, 100 + i = lesion i
 * (its voxels whose original value was below the lesion density).  Fails when
 * the lung field is empty or no lesion fits. */
NovaInsertion *nova_phantom_insert(NovaError **error, const NovaVolume *ct,
                                   const NovaVolume *lung_mask,
                                   const NovaInsertOptions *options,
                                   NovaPool *pool);
void nova_insertion_destroy(NovaInsertion *insertion);
/* The modified CT (int16) and the truth labels (uint8), borrowed. */
NovaVolume *nova_insertion_get_ct(const NovaInsertion *insertion);
NovaVolume *nova_insertion_get_labels(const NovaInsertion *insertion);
size_t nova_insertion_get_lesion_count(const NovaInsertion *insertion);
const NovaPhantomLesion *
nova_insertion_get_lesion(const NovaInsertion *insertion, size_t index);
/* Lung field voxels (the mask used). */
uint64_t nova_insertion_get_lung_voxels(const NovaInsertion *insertion);
/* The truth as JSON (schema "nova.insertion/1"); caller frees. */
char *nova_insertion_truth_json(NovaError **error,
                                const NovaInsertion *insertion);

#ifdef __cplusplus
}
#endif
#endif
