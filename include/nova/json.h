/*
 * nova/json.h - a streaming JSON writer (RFC 8259).
 *
 * Values are written as they come, to a FILE* or to a growable memory
 * buffer, with no tree in memory:
 *
 *   NovaJson *j = nova_json_create_buffer(&err, NOVA_JSON_PRETTY);
 *   nova_json_begin_object(j);
 *   nova_json_key(j, "rows");   nova_json_int(j, 512);
 *   nova_json_key(j, "name");   nova_json_string(j, "Doe^John");
 *   nova_json_end_object(j);
 *   if (nova_json_finish(&err, j)) use(nova_json_get_buffer(j, &len));
 *   nova_json_destroy(j);
 *
 * The writing calls return nothing: the first problem (out of memory, a
 * write error, a value where a key is due, unbalanced ends, nesting deeper
 * than NOVA_JSON_MAX_DEPTH) is kept in the writer, later calls do nothing,
 * and nova_json_finish() reports it.  Strings are escaped as RFC 8259
 * requires; bytes that are not valid UTF-8 are written as U+FFFD so the
 * output is always valid JSON.  Numbers that JSON cannot hold (NaN,
 * infinities) are written as null.
 *
 * Thread safety: a writer belongs to one thread.
 */
#ifndef NOVA_JSON_H
#define NOVA_JSON_H

#include "nova/core.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct NovaJson NovaJson;

typedef enum {
    NOVA_JSON_COMPACT = 0,
    /* Newlines and two-space indentation. */
    NOVA_JSON_PRETTY = 1u << 0
} NovaJsonFlags;

#define NOVA_JSON_MAX_DEPTH 1024

/* A writer to `out` (not closed by the writer), or to a memory buffer.
 * Destroy with nova_json_destroy; NULL on allocation failure. */
NovaJson *nova_json_create_file(NovaError **error, FILE *out, unsigned flags);
NovaJson *nova_json_create_buffer(NovaError **error, unsigned flags);
/* NULL does nothing. */
void nova_json_destroy(NovaJson *json);

void nova_json_begin_object(NovaJson *json);
void nova_json_end_object(NovaJson *json);
void nova_json_begin_array(NovaJson *json);
void nova_json_end_array(NovaJson *json);
/* The key of the next member (inside an object only). */
void nova_json_key(NovaJson *json, const char *key);

/* Values: in an array, or after a key in an object, or one top-level
 * value. */
void nova_json_string(NovaJson *json, const char *s);
void nova_json_string_len(NovaJson *json, const char *s, size_t length);
void nova_json_int(NovaJson *json, int64_t value);
void nova_json_uint(NovaJson *json, uint64_t value);
/* The shortest decimal that reads back as the same double. */
void nova_json_double(NovaJson *json, double value);
/* The shortest decimal that reads back as the same float. */
void nova_json_float(NovaJson *json, float value);
void nova_json_bool(NovaJson *json, bool value);
void nova_json_null(NovaJson *json);
/* A number given as text.  Text that is not a JSON number (RFC 8259 6) is
 * parsed with strtod and written normalised; text that is no number at
 * all is written as a string. */
void nova_json_number_text(NovaJson *json, const char *text, size_t length);
/* Base64 (RFC 4648 section 4) of the bytes, as a string value. */
void nova_json_base64(NovaJson *json, const void *data, size_t length);

/* Check that the document is complete and balanced, write a final newline
 * in pretty mode and flush.  Returns false with the first error met. */
bool nova_json_finish(NovaError **error, NovaJson *json);

/* Buffer writers: the text so far, NUL-terminated, borrowed from the
 * writer (valid until the next call on it).  NULL for file writers. */
const char *nova_json_get_buffer(const NovaJson *json, size_t *length);

#ifdef __cplusplus
}
#endif
#endif
