/*
 * nova/dicom.h - DICOM Part 10 datasets: parse, inspect, decode pixels.
 *
 * A NovaDataset is the parsed content of one file or stream.  Parsing
 * indexes every element (tag, VR, length, value offset) without copying
 * values; values are read and converted on request.  With
 * NOVA_READ_HEADER_ONLY the parse stops before Pixel Data, and pixel data is
 * read from the source only when a frame is decoded.
 *
 * Supported encodings: Part 10 files with or without the 128-byte preamble
 * and with or without a File Meta Information group; explicit VR little
 * endian, implicit VR little endian, explicit VR big endian and deflated
 * explicit VR little endian; sequences and items of defined and undefined
 * length, nested to any depth the limits allow; UN of undefined length
 * (parsed as implicit VR little endian, PS3.5 6.2.2).
 *
 * Strings: text values are converted from the dataset's Specific Character
 * Set (0008,0005) to UTF-8 (items inherit their parent's set unless they
 * declare their own).
 *
 * Thread safety: a dataset may be read from several threads at once
 * (getters do not mutate it), except that the first decode of a frame of a
 * NOVA_READ_HEADER_ONLY dataset loads pixel data and must not race with
 * other calls on that dataset.
 */
#ifndef NOVA_DICOM_H
#define NOVA_DICOM_H

#include "nova/codec.h"
#include "nova/core.h"

#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NOVA_TAG(group, element)                                               \
    ((uint32_t)(((uint32_t)(group) << 16) | (uint32_t)(element)))
#define NOVA_TAG_GROUP(tag) ((uint16_t)((tag) >> 16))
#define NOVA_TAG_ELEMENT(tag) ((uint16_t)((tag)&0xFFFF))
#define NOVA_UNDEFINED_LENGTH 0xFFFFFFFFu

/* Tags Nova itself uses often. */
#define NOVA_TAG_TRANSFER_SYNTAX_UID NOVA_TAG(0x0002, 0x0010)
#define NOVA_TAG_SPECIFIC_CHARACTER_SET NOVA_TAG(0x0008, 0x0005)
#define NOVA_TAG_PIXEL_DATA NOVA_TAG(0x7FE0, 0x0010)
#define NOVA_TAG_ITEM NOVA_TAG(0xFFFE, 0xE000)
#define NOVA_TAG_ITEM_DELIMITATION NOVA_TAG(0xFFFE, 0xE00D)
#define NOVA_TAG_SEQUENCE_DELIMITATION NOVA_TAG(0xFFFE, 0xE0DD)

typedef enum {
    NOVA_VR_NONE = 0, /* unknown VR (implicit dataset, tag not in dictionary) */
    NOVA_VR_AE,
    NOVA_VR_AS,
    NOVA_VR_AT,
    NOVA_VR_CS,
    NOVA_VR_DA,
    NOVA_VR_DS,
    NOVA_VR_DT,
    NOVA_VR_FD,
    NOVA_VR_FL,
    NOVA_VR_IS,
    NOVA_VR_LO,
    NOVA_VR_LT,
    NOVA_VR_OB,
    NOVA_VR_OD,
    NOVA_VR_OF,
    NOVA_VR_OL,
    NOVA_VR_OV,
    NOVA_VR_OW,
    NOVA_VR_PN,
    NOVA_VR_SH,
    NOVA_VR_SL,
    NOVA_VR_SQ,
    NOVA_VR_SS,
    NOVA_VR_ST,
    NOVA_VR_SV,
    NOVA_VR_TM,
    NOVA_VR_UC,
    NOVA_VR_UI,
    NOVA_VR_UL,
    NOVA_VR_UN,
    NOVA_VR_UR,
    NOVA_VR_US,
    NOVA_VR_UT,
    NOVA_VR_UV,
    NOVA_VR_COUNT
} NovaVR;

/* "OB", "UN", ...; "??" for NOVA_VR_NONE. Static string. */
const char *nova_vr_name(NovaVR vr);
/* The VR for two characters, or NOVA_VR_NONE if they name no VR. */
NovaVR nova_vr_from_chars(char c0, char c1);
/* True for VRs whose value is text (converted through the character set
 * where it may hold non-ASCII: SH LO ST LT UC UT PN). */
bool nova_vr_is_string(NovaVR vr);

/* ------------------------------------------------------------ dictionary */

/* One data element of PS3.6 (generated at build time). Plain static data. */
typedef struct {
    uint32_t tag;        /* with the repeating-group bits as 0 (e.g. 60xx) */
    uint32_t mask;       /* bits of tag that must match (0xFF00FFFF for 60xx) */
    NovaVR vr;           /* the first VR where PS3.6 lists several */
    const char *vr_text; /* as PS3.6 lists it: "US or SS" */
    const char *vm;      /* "1", "1-n", "3" ... */
    const char *keyword;
    const char *name;
    bool retired;
} NovaDictEntry;

/* Look up a tag (repeating groups and private creator ranges handled) or a
 * keyword ("PatientName").  NULL when absent.  Borrowed, static. */
const NovaDictEntry *nova_dict_lookup_tag(uint32_t tag);
const NovaDictEntry *nova_dict_lookup_keyword(const char *keyword);

/* --------------------------------------------------------------- reading */

typedef struct NovaDataset NovaDataset;

typedef enum {
    NOVA_READ_DEFAULT = 0,
    /* Stop before Pixel Data; frames are read from the source on demand. */
    NOVA_READ_HEADER_ONLY = 1u << 0,
    /* nova_dataset_read_memory: use the caller's buffer instead of copying
     * it; it must outlive the dataset. */
    NOVA_READ_BORROW = 1u << 1,
    /* Require the "DICM" preamble (default: accept files without it and
     * datasets with no meta group, guessing the encoding). */
    NOVA_READ_STRICT = 1u << 2
} NovaReadFlags;

/* Read callback: fill up to n bytes into buf; return the count (0 at end of
 * stream) or -1 on error. */
typedef ssize_t (*NovaReadFn)(void *user, void *buf, size_t n);

/* Parse a dataset from a file, a memory buffer or a read callback.  `name`
 * labels the source in error messages.  Errors name the source, the byte
 * offset and the problem.  The caller owns the result (destroy with
 * nova_dataset_destroy). */
NovaDataset *nova_dataset_read_file(NovaError **error, const char *path,
                                    unsigned flags);
NovaDataset *nova_dataset_read_memory(NovaError **error, const void *data,
                                      size_t size, const char *name,
                                      unsigned flags);
NovaDataset *nova_dataset_read_callback(NovaError **error, NovaReadFn fn,
                                        void *user, const char *name,
                                        unsigned flags);
/* Destroy a dataset returned by a read function (items are owned by their
 * root and must not be destroyed).  NULL does nothing. */
void nova_dataset_destroy(NovaDataset *ds);

/* The source's name as given to the reader (borrowed). */
const char *nova_dataset_get_source_name(const NovaDataset *ds);
/* The transfer syntax of the dataset (after the meta group), never NULL for
 * a root dataset that parsed. Borrowed, static. */
const NovaTransferSyntax *
nova_dataset_get_transfer_syntax(const NovaDataset *ds);
/* True when the file had a 128-byte preamble and "DICM". */
bool nova_dataset_has_preamble(const NovaDataset *ds);

/* ------------------------------------------------------------- elements */

typedef struct {
    uint32_t tag;
    NovaVR vr;
    uint32_t length;   /* value length, NOVA_UNDEFINED_LENGTH if undefined */
    uint64_t offset;   /* offset of the value in the (inflated) stream */
    uint32_t count;    /* SQ: number of items; encapsulated Pixel Data:
                          number of fragments (offset table included) */
    bool encapsulated; /* Pixel Data in fragments */
} NovaElementInfo;

/* Elements in tag order, meta group included.  A NOVA_READ_HEADER_ONLY
 * dataset holds the elements up to and including Pixel Data; elements after
 * it (trailing padding, signatures) are not indexed. */
size_t nova_dataset_count(const NovaDataset *ds);
bool nova_dataset_element_at(const NovaDataset *ds, size_t index,
                             NovaElementInfo *info);
bool nova_dataset_find(const NovaDataset *ds, uint32_t tag,
                       NovaElementInfo *info);
bool nova_dataset_has(const NovaDataset *ds, uint32_t tag);

/* Raw value bytes, in the dataset's byte order, borrowed from the dataset
 * (valid while it lives).  Not for SQ or encapsulated pixel data.  NULL with
 * NOVA_ERROR_NOT_FOUND when absent (a zero-length value returns a non-NULL
 * pointer and *length 0).  Loads deferred pixel data (see thread safety). */
const uint8_t *nova_dataset_get_bytes(NovaError **error, const NovaDataset *ds,
                                      uint32_t tag, size_t *length);

/* Number of values: backslash-separated for strings, length / size for
 * binary VRs, items for SQ.  0 when absent or empty. */
size_t nova_dataset_get_vm(const NovaDataset *ds, uint32_t tag);

/* The whole value as UTF-8 text, trailing spaces and NULs removed (leading
 * spaces too for the VRs that allow them).  Binary VRs are formatted as
 * values separated by backslashes.  Caller frees with nova_free. */
char *nova_dataset_get_string(NovaError **error, const NovaDataset *ds,
                              uint32_t tag);

/* Value number `index` (0-based) of a string element, trimmed, into buf
 * without allocating (for ASCII VRs: UI CS DS IS DA TM AS AE ...).
 * Fails with NOVA_ERROR_RANGE when it does not fit. */
bool nova_dataset_get_string_value(NovaError **error, const NovaDataset *ds,
                                   uint32_t tag, size_t index, char *buf,
                                   size_t buf_size);

/* Numeric value number `index`: from binary VRs (US SS UL SL SV UV FL FD AT)
 * or from text (IS DS). */
bool nova_dataset_get_int(NovaError **error, const NovaDataset *ds,
                          uint32_t tag, size_t index, int64_t *value);
bool nova_dataset_get_double(NovaError **error, const NovaDataset *ds,
                             uint32_t tag, size_t index, double *value);
/* Exactly n numeric values (e.g. 3 for Image Position, 6 for Image
 * Orientation); fails if fewer are present. */
bool nova_dataset_get_doubles(NovaError **error, const NovaDataset *ds,
                              uint32_t tag, double *values, size_t n);

/* Sequences: item count (0 when absent or not a sequence) and the item
 * datasets, borrowed from the root. */
size_t nova_dataset_get_item_count(const NovaDataset *ds, uint32_t tag);
const NovaDataset *nova_dataset_get_item(const NovaDataset *ds, uint32_t tag,
                                         size_t index);
/* The dataset this item belongs to, NULL for the root. */
const NovaDataset *nova_dataset_get_parent(const NovaDataset *ds);

/* The raw Specific Character Set value in force for this dataset (own or
 * inherited), NULL when none (default repertoire).  Borrowed. */
const char *nova_dataset_get_charset(const NovaDataset *ds);

/* ---------------------------------------------------------------- pixels */

/* Image Pixel module of the dataset. Fails when Rows/Columns/Bits Allocated
 * are missing or inconsistent. */
bool nova_dataset_get_image_info(NovaError **error, const NovaDataset *ds,
                                 NovaImageInfo *info);

/* Decode frame `frame` (0-based) into out (see nova/codec.h for layout);
 * out_size must be at least nova_image_frame_bytes(info). */
bool nova_dataset_decode_frame(NovaError **error, const NovaDataset *ds,
                               uint32_t frame, void *out, size_t out_size);

/* The compressed bytes of one frame of encapsulated Pixel Data (fragments
 * concatenated when a frame spans several).  *data is borrowed when
 * *must_free is false, else allocated for the caller (free with nova_free).
 */
bool nova_dataset_get_frame_bytes(NovaError **error, const NovaDataset *ds,
                                  uint32_t frame, const uint8_t **data,
                                  size_t *length, bool *must_free);

/* The deepest sequence nesting the parser accepts; deeper input fails with
 * a parse error rather than exhausting the stack. */
#define NOVA_DICOM_MAX_DEPTH 64

#ifdef __cplusplus
}
#endif
#endif
