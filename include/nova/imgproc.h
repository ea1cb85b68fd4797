/*
 * nova/imgproc.h - 3D image operations on voxel arrays: threshold,
 * connected components, Euclidean distance transform, binary morphology with
 * spherical elements, hole filling, Gaussian smoothing and resampling.
 *
 * The operations work on plain arrays laid out like a NovaVolume (x fastest,
 * then y, then z; dims[0] x dims[1] x dims[2] voxels) so that pipelines can
 * run them on scratch buffers and sub-grids without wrapping each one in a
 * volume; nova_imgproc_resample() is the one that takes and returns a
 * NovaVolume because it changes the geometry.  Masks are uint8, 0 is
 * background and anything else is foreground.  Distances are in millimetres
 * with anisotropic spacing.
 *
 * Every operation is linear in the voxel count and runs over a NovaPool with
 * static splits, so results are identical for any thread count.  pool may be
 * NULL (one thread).  The functions are reentrant; a pool runs one job at a
 * time.
 */
#ifndef NOVA_IMGPROC_H
#define NOVA_IMGPROC_H

#include "nova/core.h"
#include "nova/volume.h"

#ifdef __cplusplus
extern "C" {
#endif

/* dst[i] = lo <= src[i] <= hi ? 1 : 0 for n voxels. */
void nova_imgproc_threshold_i16(NovaPool *pool, const int16_t *src, size_t n,
                                int16_t lo, int16_t hi, uint8_t *dst);

/* Connected components of the foreground of mask with 6 (faces) or 26
 * (faces, edges, corners) connectivity.  labels (caller-allocated, one per
 * voxel) receives 0 for background and 1..n for the components, numbered in
 * the raster order of each component's first voxel, so the numbering does
 * not depend on the thread count.  *n_labels (may be NULL) receives n.
 * Union-find over voxel indices: each thread scans a slab of z-slices, the
 * slab borders are merged, then labels are flattened.  Errors: INVALID for a
 * connectivity other than 6 or 26, RANGE for more than 2^31 - 1 voxels. */
bool nova_imgproc_label(NovaError **error, NovaPool *pool, const uint8_t *mask,
                        const size_t dims[3], int connectivity,
                        uint32_t *labels, uint32_t *n_labels);

/* Voxel count of each label: sizes[0..n_labels] (caller-allocated, n_labels
 * + 1 entries; sizes[0] counts background). */
void nova_imgproc_label_sizes(const uint32_t *labels, size_t n,
                              uint32_t n_labels, size_t *sizes);

/* Exact Euclidean distance transform (Felzenszwalb and Huttenlocher,
 * "Distance transforms of sampled functions", Theory of Computing 8, 2012):
 * dist_sq_mm2[v] is the squared distance in mm^2 from voxel v to the nearest
 * voxel whose (mask != 0) equals target_nonzero, computed by three separable
 * passes of the 1D lower-envelope algorithm, or INFINITY where there is no
 * such voxel.  Only voxels inside the grid count (nothing is assumed beyond
 * its faces).  With per_slice, distances are 2D within each z-slice.
 * Errors: NOMEM. */
bool nova_imgproc_edt_sq(NovaError **error, NovaPool *pool, const uint8_t *mask,
                         const size_t dims[3], const double spacing_mm[3],
                         bool target_nonzero, bool per_slice,
                         float *dist_sq_mm2);

/* The bounding box [lo, hi) of the non-zero voxels of mask (x fastest);
 * false, with lo and hi unspecified, when there is none.  Empty slices and
 * rows are skipped eight bytes at a time: the masks it is asked about are
 * mostly empty (a lung on a whole grid). */
bool nova_imgproc_mask_box(const uint8_t *mask, const size_t dims[3],
                           size_t lo[3], size_t hi[3]);

typedef enum {
    NOVA_MORPH_DILATE = 0,
    NOVA_MORPH_ERODE,
    NOVA_MORPH_OPEN,
    NOVA_MORPH_CLOSE
} NovaMorphOp;

/* Binary morphology with the ball {d : |d| <= radius_mm} (anisotropic
 * spacing; with per_slice a disc in each z-slice), computed from the exact
 * distance transform, so the cost does not depend on the radius: dilation
 * keeps voxels within radius of the foreground, erosion keeps voxels farther
 * than radius from the background.  Voxels outside the grid are background
 * (as scipy.ndimage's default border_value=0): erosion eats in from the
 * faces, and a closing does not grow into them.  dst (0/1) may equal src.  Work
 * is limited to the foreground's bounding box grown by the radius.  Errors:
 * NOMEM, INVALID (radius < 0). */
bool nova_imgproc_morph(NovaError **error, NovaPool *pool, NovaMorphOp op,
                        const uint8_t *src, const size_t dims[3],
                        const double spacing_mm[3], double radius_mm,
                        bool per_slice, uint8_t *dst);

/* Fill holes: background regions not connected to the grid's faces become
 * foreground (dst is 0/1, may equal src).  per_slice: in each z-slice, with
 * 4-connected background and the slice's four edges as border; otherwise in
 * 3D with 6-connected background.  Errors: NOMEM. */
bool nova_imgproc_fill_holes(NovaError **error, NovaPool *pool,
                             const uint8_t *src, const size_t dims[3],
                             bool per_slice, uint8_t *dst);

/* Separable Gaussian smoothing of a float image with standard deviation
 * sigma_mm (per axis in voxels sigma_mm / spacing), kernel truncated at 3
 * sigma and renormalised, borders replicated (like scipy.ndimage
 * gaussian_filter with mode='nearest', truncate=3).  dst may equal src.
 * Errors: NOMEM, INVALID (sigma < 0). */
bool nova_imgproc_gaussian(NovaError **error, NovaPool *pool, const float *src,
                           const size_t dims[3], const double spacing_mm[3],
                           double sigma_mm, float *dst);

typedef enum {
    NOVA_INTERP_NEAREST = 0, /* masks */
    NOVA_INTERP_LINEAR       /* images: trilinear */
} NovaInterp;

/* Resample a volume onto a grid of dims voxels at spacing_mm covering the
 * same box (voxel corners): output voxel i samples the input at continuous
 * index (i + 0.5) * spacing_out / spacing_in - 0.5 on each axis, clamped to
 * the grid; the origin moves accordingly and the direction is kept.  Any
 * dtype; linear rounds to nearest for integer types.  Caller owns the result.
 * Errors: NOMEM, INVALID (zero dims or spacing). */
NovaVolume *nova_imgproc_resample(NovaError **error, NovaPool *pool,
                                  const NovaVolume *src, const size_t dims[3],
                                  const double spacing_mm[3],
                                  NovaInterp interp);

#ifdef __cplusplus
}
#endif
#endif
