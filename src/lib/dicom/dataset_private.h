/*
 * dataset_private.h - the in-memory form of a parsed dataset, shared by the
 * parser (parse.c), the getters (dataset.c) and pixel access (pixel.c).
 *
 * All values stay in the root's byte buffer; elements record offsets, not
 * pointers, because a progressively read buffer may move while it grows.
 */
#ifndef NOVA_DICOM_DATASET_PRIVATE_H
#define NOVA_DICOM_DATASET_PRIVATE_H

#include "nova/dicom.h"

#include <pthread.h>

typedef struct {
    uint64_t offset; /* of the fragment's value */
    uint32_t length;
} NovaFragment;

typedef struct {
    uint32_t tag;
    NovaVR vr;
    uint32_t length;     /* as encoded; NOVA_UNDEFINED_LENGTH if undefined */
    uint64_t offset;     /* value offset in the root buffer */
    uint32_t count;      /* items or fragments */
    bool encapsulated;   /* pixel data in fragments */
    bool deferred;       /* value not read yet (header-only mode) */
    NovaDataset **items; /* SQ items */
    NovaFragment *fragments; /* encapsulated pixel data, BOT first */
} NovaElement;

typedef enum { BUFFER_MALLOC, BUFFER_MMAP, BUFFER_BORROWED } BufferKind;

typedef struct {
    /* The bytes: for deflated datasets, the meta group followed by the
     * inflated dataset, so one offset space covers both. */
    uint8_t *data;
    size_t size;     /* bytes available */
    size_t capacity; /* for BUFFER_MALLOC */
    BufferKind kind;
    size_t map_size; /* for BUFFER_MMAP */

    char *name;
    char *path; /* set for file sources (header-only reloads) */
    NovaReadFn read_fn;
    void *read_user;
    int fd; /* open while reading progressively, else -1 */
    bool eof;
    unsigned flags;

    bool preamble;
    NovaTransferSyntax ts; /* copy; uid points into ts_uid */
    char ts_uid[68];
    bool pixels_loaded;           /* header-only: rest of source read */
    uint64_t pixel_header_offset; /* offset of the Pixel Data tag */
    pthread_mutex_t lock;         /* serialises loading deferred pixel data */
} NovaRoot;

struct NovaDataset {
    NovaRoot *root;
    const NovaDataset *parent;
    NovaElement *elements;
    size_t count;
    size_t capacity;
    bool explicit_vr;
    bool big_endian;
    char *charset; /* own Specific Character Set value, trimmed */
};

/* parse.c */
bool nova__dataset_load_deferred(NovaError **error, const NovaDataset *ds);
NovaElement *nova__dataset_lookup(const NovaDataset *ds, uint32_t tag);

static inline uint16_t nova__get_u16(const uint8_t *p, bool big)
{
    return big ? (uint16_t)(p[0] << 8 | p[1]) : (uint16_t)(p[1] << 8 | p[0]);
}

static inline uint32_t nova__get_u32(const uint8_t *p, bool big)
{
    return big ? ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
                  (uint32_t)p[2] << 8 | p[3])
               : ((uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 |
                  (uint32_t)p[1] << 8 | p[0]);
}

#endif
