/*
 * nova/image.h - 2D pictures for reports and overlays: an RGB canvas,
 * CT windowing, mask outlines and fills, and PNG files.
 *
 * A NovaImage is a plain RGB8 raster (row-major, 3 bytes a pixel).  PNG
 * encoding is libpng's (Debian libpng-dev): a well-kept library, and PNG is
 * not where Nova's speed is decided.
 */
#ifndef NOVA_IMAGE_H
#define NOVA_IMAGE_H

#include "nova/core.h"
#include "nova/volume.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint32_t width;
    uint32_t height;
    uint8_t *rgb; /* width * height * 3 bytes, owned */
} NovaImage;

/* A black image; free with nova_image_destroy. */
NovaImage *nova_image_create(NovaError **error, uint32_t width,
                             uint32_t height);
void nova_image_destroy(NovaImage *image);

/* Axis of a 2D cut through a volume. */
typedef enum {
    NOVA_CUT_AXIAL = 0,   /* fixed k: x to the right, y down */
    NOVA_CUT_CORONAL = 1, /* fixed j: x to the right, z up */
    NOVA_CUT_SAGITTAL = 2 /* fixed i: y to the right, z up */
} NovaCut;

/* Render one cut of an int16 HU volume with a window (centre, width in HU)
 * as grey, resampled so pixels are square in mm (the cut's in-plane spacing
 * decides the scale; the output is `scale` pixels per smallest-spacing mm
 * step, at least 1).  Radiological convention: the patient's right on the
 * image's left for axial and coronal cuts. */
NovaImage *nova_image_from_cut(NovaError **error, const NovaVolume *hu,
                               NovaCut cut, size_t index, double window_center,
                               double window_width, double scale);

/* Draw on an image made by nova_image_from_cut with the same arguments:
 * the outline (1 pixel where a voxel of `label` touches another value) or a
 * translucent fill (alpha 0..1) of the voxels of mask == label (label 0
 * means any non-zero value). */
void nova_image_draw_outline(NovaImage *image, const NovaVolume *mask,
                             NovaCut cut, size_t index, uint8_t label,
                             const uint8_t color[3]);
void nova_image_draw_fill(NovaImage *image, const NovaVolume *mask, NovaCut cut,
                          size_t index, uint8_t label, const uint8_t color[3],
                          double alpha);

/* Write an 8-bit RGB PNG; or encode it into memory (*png allocated with
 * nova_malloc, caller frees). */
bool nova_image_write_png(NovaError **error, const NovaImage *image,
                          const char *path);
bool nova_image_encode_png(NovaError **error, const NovaImage *image,
                           uint8_t **png, size_t *png_size);

#ifdef __cplusplus
}
#endif
#endif
