/*
 * nova/volume.h - 3D volumes with geometry, and volume files.
 *
 * A NovaVolume holds voxels x fastest, then y, then z, with a geometry in
 * DICOM patient coordinates (LPS, millimetres):
 *   world = origin + D * diag(spacing) * (i, j, k)
 * where column c of the 3x3 direction matrix D (direction[r*3 + c], r the
 * world axis) is the unit direction of voxel axis c.  CT images are int16
 * Hounsfield units; masks are uint8 labels on the same geometry; float32 is
 * for derived images (radiomics interpolation, probability maps).
 *
 * Volumes are reference counted and treated as immutable once built and
 * shared: writers fill the data right after nova_volume_create and before
 * handing the volume on.  nova_volume_ref/unref are thread safe.
 */
#ifndef NOVA_VOLUME_H
#define NOVA_VOLUME_H

#include "nova/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    NOVA_DTYPE_UINT8 = 0,
    NOVA_DTYPE_INT16,
    NOVA_DTYPE_FLOAT32
} NovaDtype;

size_t nova_dtype_size(NovaDtype dtype);
const char *nova_dtype_name(NovaDtype dtype);

typedef struct {
    double origin[3];     /* mm, LPS, centre of voxel (0,0,0) */
    double spacing[3];    /* mm between voxel centres along i, j, k */
    double direction[9];  /* row-major 3x3, columns are the axis directions */
} NovaGeometry;

/* Identity direction, unit spacing, zero origin. */
void nova_geometry_init(NovaGeometry *geometry);
/* world (mm, LPS) of a continuous voxel index. */
void nova_geometry_index_to_world(const NovaGeometry *geometry,
                                  const double index[3], double world[3]);
void nova_geometry_world_to_index(const NovaGeometry *geometry,
                                  const double world[3], double index[3]);

typedef struct NovaVolume NovaVolume;

/* A zero-filled volume of dims[0] x dims[1] x dims[2] voxels; geometry may be
 * NULL (identity).  Refcount 1; the caller owns it. */
NovaVolume *nova_volume_create(NovaError **error, NovaDtype dtype,
                               const size_t dims[3],
                               const NovaGeometry *geometry);
NovaVolume *nova_volume_ref(NovaVolume *volume);
/* Drop a reference; frees at zero.  NULL does nothing. */
void nova_volume_unref(NovaVolume *volume);

NovaDtype nova_volume_get_dtype(const NovaVolume *volume);
void nova_volume_get_dims(const NovaVolume *volume, size_t dims[3]);
size_t nova_volume_get_voxel_count(const NovaVolume *volume);
const NovaGeometry *nova_volume_get_geometry(const NovaVolume *volume);
void nova_volume_set_geometry(NovaVolume *volume,
                              const NovaGeometry *geometry);
/* The voxel array (64-byte aligned), borrowed. */
void *nova_volume_get_data(NovaVolume *volume);
const void *nova_volume_get_const_data(const NovaVolume *volume);

/* ---------------------------------------------------------- volume files
 *
 * Element types: a file's values (after NIfTI scl_slope/scl_inter) become
 * the narrowest Nova dtype that holds every one of them exactly:
 *   - unsigned integer files (NIfTI uint8/16/32/64, NRRD uchar/ushort/...)
 *     with every value in 0..255: NOVA_DTYPE_UINT8 (masks, label maps);
 *   - otherwise, every value an integer in -32768..32767 (int16 CT, HU
 *     stored as float, int32 labels, a slope of 1 and an intercept of
 *     -1024): NOVA_DTYPE_INT16;
 *   - otherwise NOVA_DTYPE_FLOAT32 (rounded to the nearest float).
 * Geometry is converted to LPS (NIfTI is RAS: the first two rows of its
 * affine are negated; NRRD follows its "space" field).
 */

/* Read a volume file, by extension: .nii / .nii.gz (NIfTI-1), .nrrd /
 * .nhdr (NRRD); other names are recognised by their first bytes.  The
 * caller owns the result.  Errors name the file, the offset or header line,
 * and the problem.  Thread safe (no shared state). */
NovaVolume *nova_volume_read(NovaError **error, const char *path);
/* NIfTI-1 single file (.nii, or gzip .nii.gz), either byte order.  The
 * affine is the sform when sform_code > 0, else the qform, else pixdim. */
NovaVolume *nova_volume_read_nifti(NovaError **error, const char *path);
/* NRRD (attached .nrrd or detached .nhdr): raw, gzip, ascii, hex data. */
NovaVolume *nova_volume_read_nrrd(NovaError **error, const char *path);

/* Write a NIfTI-1 file: gzip-compressed when path ends in ".gz", else a
 * plain .nii.  Datatype uint8, int16 or float32 as the volume's; the LPS
 * geometry becomes a RAS sform (and qform when the direction matrix is
 * orthonormal), code 1 (scanner anatomical), units mm.  Returns false with
 * NOVA_ERROR_IO when the file cannot be written. */
bool nova_volume_write_nifti(NovaError **error, const NovaVolume *volume,
                             const char *path);

#ifdef __cplusplus
}
#endif
#endif
