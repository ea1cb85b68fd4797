/*
 * volume_private.h - helpers shared by the volume file readers (NIfTI,
 * NRRD) and the DICOM volume assembly; not part of the public API.
 */
#ifndef NOVA_VOLUME_PRIVATE_H
#define NOVA_VOLUME_PRIVATE_H

#include "nova/volume.h"

/* nova_volume_create without the zero fill, for callers that write every
 * voxel (the DICOM loader): the pages are first touched by the threads that
 * fill them. */
NovaVolume *nova__volume_create_uninit(NovaError **error, NovaDtype dtype,
                                       const size_t dims[3],
                                       const NovaGeometry *geometry);

/* Element types found in volume files. */
typedef enum {
    NOVA__SRC_INT8,
    NOVA__SRC_UINT8,
    NOVA__SRC_INT16,
    NOVA__SRC_UINT16,
    NOVA__SRC_INT32,
    NOVA__SRC_UINT32,
    NOVA__SRC_INT64,
    NOVA__SRC_UINT64,
    NOVA__SRC_FLOAT32,
    NOVA__SRC_FLOAT64
} NovaSrcType;

size_t nova__src_type_size(NovaSrcType type);

/*
 * Convert `count` elements of `type` at `src` (byte order: big_endian as
 * given) into a new volume of the given dims and geometry, applying
 * value * slope + inter (slope 1, inter 0 for none).  The Nova dtype is
 * chosen from the values (see nova/volume.h, "Element types"):
 *   - unsigned integer sources with every value in [0, 255]: uint8;
 *   - otherwise every (scaled) value an integer in [-32768, 32767]: int16;
 *   - otherwise float32.
 * `name` labels the source in error messages.  Returns a new volume or NULL.
 */
NovaVolume *nova__volume_from_array(NovaError **error, const char *name,
                                    const void *src, NovaSrcType type,
                                    bool big_endian, double slope, double inter,
                                    const size_t dims[3],
                                    const NovaGeometry *geometry);

/* Read a whole file into memory, transparently inflating gzip (zlib's
 * gzread also passes plain files through).  *size gets the byte count.
 * Caller frees with nova_free. */
uint8_t *nova__read_file(NovaError **error, const char *path, size_t *size,
                         bool inflate_gzip);

/* Inflate a gzip or zlib stream from memory into exactly `expected` bytes
 * (fails when the stream holds fewer).  Caller frees. */
uint8_t *nova__inflate(NovaError **error, const char *name, const uint8_t *src,
                       size_t src_len, size_t expected);

/* The readers on a memory buffer (`name` labels errors); NRRD from memory
 * must have attached data. */
NovaVolume *nova__read_nifti_memory(NovaError **error, const void *data,
                                    size_t size, const char *name);
NovaVolume *nova__read_nrrd_memory(NovaError **error, const void *data,
                                   size_t size, const char *name);

/* True when `path` ends with `suffix`, ignoring ASCII case. */
bool nova__has_suffix(const char *path, const char *suffix);

#endif
