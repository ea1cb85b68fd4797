/*
 * charset.h - private: DICOM text values to UTF-8 (PS3.5 6.1, PS3.3
 * C.12.1.1.2).
 */
#ifndef NOVA_DICOM_CHARSET_H
#define NOVA_DICOM_CHARSET_H

#include "nova/dicom.h"

/*
 * Convert the bytes of one element value to UTF-8.
 *
 * specific_charset: the raw Specific Character Set (0008,0005) value in
 *   force (backslash-separated terms, padding allowed), or NULL / "" for
 *   the default repertoire.  Only the text VRs SH LO ST LT UC UT PN use it;
 *   every other VR is decoded as the default repertoire (ISO-IR 6).
 * vr: the element's VR; it selects the delimiters that reset ISO 2022 code
 *   extensions (PS3.5 6.1.2.5.3).
 * bytes, length: the raw value (not trimmed here; padding passes through).
 *
 * Bytes that are invalid in the set in force become U+FFFD; an unknown
 * defined term logs a warning and is read as ISO_IR 100.  Fails only when
 * memory runs out or the C library lacks a converter it needs (iconv).
 * Returns a NUL-terminated string the caller frees with nova_free.
 * Thread safe (no shared state).
 */
char *nova__charset_to_utf8(NovaError **error, const char *specific_charset,
                            NovaVR vr, const uint8_t *bytes, size_t length);

#endif
