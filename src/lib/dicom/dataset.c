/*
 * dataset.c - reading values out of a parsed dataset.
 *
 * Elements are sorted by tag, so lookups are binary searches.  Values are
 * read in place from the root buffer and converted on request: numbers in
 * the dataset's byte order, text through the Specific Character Set in force
 * (charset.c), multi-valued strings split at backslashes (PS3.5 6.4).
 */
#include "dataset_private.h"
#include "dicom/charset.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

NovaElement *nova__dataset_lookup(const NovaDataset *ds, uint32_t tag)
{
    /* Lower bound: the first of equal tags (duplicates in broken files)
     * in O(log n) however many duplicates there are. */
    size_t lo = 0, hi = ds->count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (ds->elements[mid].tag < tag)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < ds->count && ds->elements[lo].tag == tag ? &ds->elements[lo]
                                                         : NULL;
}

const char *nova_dataset_get_source_name(const NovaDataset *ds)
{
    return ds->root->name;
}

const NovaTransferSyntax *
nova_dataset_get_transfer_syntax(const NovaDataset *ds)
{
    return &ds->root->ts;
}

bool nova_dataset_has_preamble(const NovaDataset *ds)
{
    return ds->root->preamble;
}

size_t nova_dataset_count(const NovaDataset *ds)
{
    return ds->count;
}

static void fill_info(const NovaElement *e, NovaElementInfo *info)
{
    info->tag = e->tag;
    info->vr = e->vr;
    info->length = e->length;
    info->offset = e->offset;
    info->count = e->count;
    info->encapsulated = e->encapsulated;
}

bool nova_dataset_element_at(const NovaDataset *ds, size_t index,
                             NovaElementInfo *info)
{
    if (index >= ds->count)
        return false;
    fill_info(&ds->elements[index], info);
    return true;
}

bool nova_dataset_find(const NovaDataset *ds, uint32_t tag,
                       NovaElementInfo *info)
{
    const NovaElement *e = nova__dataset_lookup(ds, tag);
    if (!e)
        return false;
    if (info)
        fill_info(e, info);
    return true;
}

bool nova_dataset_has(const NovaDataset *ds, uint32_t tag)
{
    return nova__dataset_lookup(ds, tag) != NULL;
}

static bool not_found(NovaError **error, const NovaDataset *ds, uint32_t tag)
{
    return nova_error_set(error, NOVA_ERROR_NOT_FOUND, "element absent",
                          "%s: element (%04X,%04X) is absent", ds->root->name,
                          NOVA_TAG_GROUP(tag), NOVA_TAG_ELEMENT(tag));
}

/* Value bytes of a plain element (not SQ, not encapsulated). */
static const uint8_t *value_of(NovaError **error, const NovaDataset *ds,
                               uint32_t tag, const NovaElement **out,
                               size_t *length)
{
    const NovaElement *e = nova__dataset_lookup(ds, tag);
    if (!e) {
        not_found(error, ds, tag);
        return NULL;
    }
    if (e->vr == NOVA_VR_SQ || e->encapsulated) {
        nova_error_set(error, NOVA_ERROR_INVALID, "not a plain value",
                       "%s: element (%04X,%04X) is a %s", ds->root->name,
                       NOVA_TAG_GROUP(tag), NOVA_TAG_ELEMENT(tag),
                       e->vr == NOVA_VR_SQ ? "sequence"
                                           : "encapsulated pixel data");
        return NULL;
    }
    if (e->deferred && !nova__dataset_load_deferred(error, ds))
        return NULL;
    if (out)
        *out = e;
    *length = e->length;
    return ds->root->data + e->offset;
}

const uint8_t *nova_dataset_get_bytes(NovaError **error, const NovaDataset *ds,
                                      uint32_t tag, size_t *length)
{
    size_t len = 0;
    const uint8_t *v = value_of(error, ds, tag, NULL, &len);
    if (length)
        *length = v ? len : 0;
    return v;
}

static size_t binary_size(NovaVR vr)
{
    switch (vr) {
    case NOVA_VR_US:
    case NOVA_VR_SS:
    case NOVA_VR_OW: return 2;
    case NOVA_VR_UL:
    case NOVA_VR_SL:
    case NOVA_VR_FL:
    case NOVA_VR_OF:
    case NOVA_VR_OL:
    case NOVA_VR_AT: return 4;
    case NOVA_VR_FD:
    case NOVA_VR_OD:
    case NOVA_VR_SV:
    case NOVA_VR_UV:
    case NOVA_VR_OV: return 8;
    case NOVA_VR_OB:
    case NOVA_VR_UN: return 1;
    default: return 0;
    }
}

/* VRs whose single value may contain backslashes (PS3.5 6.2: LT, ST, UT,
 * UR are single-valued and the backslash is an ordinary character). */
static bool is_single_valued_text(NovaVR vr)
{
    return vr == NOVA_VR_LT || vr == NOVA_VR_ST || vr == NOVA_VR_UT ||
           vr == NOVA_VR_UR;
}

size_t nova_dataset_get_vm(const NovaDataset *ds, uint32_t tag)
{
    const NovaElement *e = nova__dataset_lookup(ds, tag);
    if (!e)
        return 0;
    if (e->vr == NOVA_VR_SQ)
        return e->count;
    if (e->encapsulated)
        return 1;
    if (e->length == 0)
        return 0;
    if (nova_vr_is_string(e->vr)) {
        if (is_single_valued_text(e->vr))
            return 1;
        if (e->deferred)
            return 1;
        const uint8_t *v = ds->root->data + e->offset;
        size_t n = 1;
        for (uint32_t i = 0; i < e->length; i++)
            n += v[i] == '\\';
        return n;
    }
    size_t size = binary_size(e->vr);
    if (e->vr == NOVA_VR_OB || e->vr == NOVA_VR_OW || e->vr == NOVA_VR_UN ||
        e->vr == NOVA_VR_OF || e->vr == NOVA_VR_OD || e->vr == NOVA_VR_OL ||
        e->vr == NOVA_VR_OV)
        return 1;
    return size ? e->length / size : 1;
}

/* Trim DICOM padding: trailing spaces and NULs always, leading spaces for
 * VRs where they are not significant (PS3.5 6.2: all but LT, ST, UT). */
static void trim(NovaVR vr, const uint8_t **v, size_t *len)
{
    while (*len > 0 && ((*v)[*len - 1] == ' ' || (*v)[*len - 1] == '\0'))
        (*len)--;
    if (vr == NOVA_VR_LT || vr == NOVA_VR_ST || vr == NOVA_VR_UT)
        return;
    while (*len > 0 && (*v)[0] == ' ') {
        (*v)++;
        (*len)--;
    }
}

const char *nova_dataset_get_charset(const NovaDataset *ds)
{
    for (; ds; ds = ds->parent)
        if (ds->charset)
            return ds->charset;
    return NULL;
}

static size_t format_binary(char *out, size_t size, NovaVR vr, const uint8_t *v,
                            size_t len, bool big)
{
    size_t esize = binary_size(vr), pos = 0;
    if (!esize || vr == NOVA_VR_OB || vr == NOVA_VR_UN)
        esize = 1;
    for (size_t i = 0; i + esize <= len; i += esize) {
        char item[64];
        const uint8_t *p = v + i;
        switch (vr) {
        case NOVA_VR_US:
        case NOVA_VR_OW:
            snprintf(item, sizeof item, "%u", nova__get_u16(p, big));
            break;
        case NOVA_VR_SS:
            snprintf(item, sizeof item, "%d", (int16_t)nova__get_u16(p, big));
            break;
        case NOVA_VR_UL:
        case NOVA_VR_OL:
            snprintf(item, sizeof item, "%" PRIu32, nova__get_u32(p, big));
            break;
        case NOVA_VR_SL:
            snprintf(item, sizeof item, "%" PRId32,
                     (int32_t)nova__get_u32(p, big));
            break;
        case NOVA_VR_AT:
            snprintf(item, sizeof item, "(%04X,%04X)", nova__get_u16(p, big),
                     nova__get_u16(p + 2, big));
            break;
        case NOVA_VR_FL:
        case NOVA_VR_OF: {
            uint32_t u = nova__get_u32(p, big);
            float f;
            memcpy(&f, &u, 4);
            snprintf(item, sizeof item, "%.9g", (double)f);
            break;
        }
        case NOVA_VR_FD:
        case NOVA_VR_OD:
        case NOVA_VR_SV:
        case NOVA_VR_UV:
        case NOVA_VR_OV: {
            uint64_t u = big ? ((uint64_t)nova__get_u32(p, true) << 32 |
                                nova__get_u32(p + 4, true))
                             : ((uint64_t)nova__get_u32(p + 4, false) << 32 |
                                nova__get_u32(p, false));
            if (vr == NOVA_VR_FD || vr == NOVA_VR_OD) {
                double d;
                memcpy(&d, &u, 8);
                snprintf(item, sizeof item, "%.17g", d);
            } else if (vr == NOVA_VR_SV) {
                snprintf(item, sizeof item, "%" PRId64, (int64_t)u);
            } else {
                snprintf(item, sizeof item, "%" PRIu64, u);
            }
            break;
        }
        default: snprintf(item, sizeof item, "%u", p[0]);
        }
        size_t n = strlen(item);
        if (out && pos + (pos ? 1 : 0) + n + 1 <= size) {
            if (pos)
                out[pos] = '\\';
            memcpy(out + pos + (pos ? 1 : 0), item, n);
        }
        pos += n + (pos ? 1 : 0);
    }
    if (out && size)
        out[pos < size ? pos : size - 1] = '\0';
    return pos;
}

char *nova_dataset_get_string(NovaError **error, const NovaDataset *ds,
                              uint32_t tag)
{
    const NovaElement *e;
    size_t len;
    const uint8_t *v = value_of(error, ds, tag, &e, &len);
    if (!v)
        return NULL;
    if (nova_vr_is_string(e->vr) || e->vr == NOVA_VR_NONE) {
        trim(e->vr, &v, &len);
        const char *charset = NULL;
        switch (e->vr) {
        case NOVA_VR_SH:
        case NOVA_VR_LO:
        case NOVA_VR_ST:
        case NOVA_VR_LT:
        case NOVA_VR_UC:
        case NOVA_VR_UT:
        case NOVA_VR_PN: charset = nova_dataset_get_charset(ds); break;
        default: break;
        }
        return nova__charset_to_utf8(error, charset, e->vr, v, len);
    }
    if (e->vr == NOVA_VR_OB || e->vr == NOVA_VR_UN) {
        nova_error_set(error, NOVA_ERROR_INVALID, "binary value",
                       "%s: element (%04X,%04X) has binary VR %s",
                       ds->root->name, NOVA_TAG_GROUP(tag),
                       NOVA_TAG_ELEMENT(tag), nova_vr_name(e->vr));
        return NULL;
    }
    size_t n = format_binary(NULL, 0, e->vr, v, len, ds->big_endian);
    char *s = nova_malloc(error, n + 1);
    if (s)
        format_binary(s, n + 1, e->vr, v, len, ds->big_endian);
    return s;
}

/* Locate value `index` of a backslash-separated string, trimmed. */
static bool string_value(NovaError **error, const NovaDataset *ds, uint32_t tag,
                         size_t index, const uint8_t **out, size_t *out_len,
                         const NovaElement **elem)
{
    const NovaElement *e;
    size_t len;
    const uint8_t *v = value_of(error, ds, tag, &e, &len);
    if (!v)
        return false;
    *elem = e;
    if (!nova_vr_is_string(e->vr) && e->vr != NOVA_VR_NONE &&
        e->vr != NOVA_VR_UN)
        return nova_error_set(error, NOVA_ERROR_INVALID, "not a string",
                              "%s: element (%04X,%04X) has VR %s",
                              ds->root->name, NOVA_TAG_GROUP(tag),
                              NOVA_TAG_ELEMENT(tag), nova_vr_name(e->vr));
    const uint8_t *start = v, *end = v + len;
    if (!is_single_valued_text(e->vr)) {
        for (size_t i = 0; i < index; i++) {
            const uint8_t *bs = memchr(start, '\\', (size_t)(end - start));
            if (!bs)
                return nova_error_set(
                    error, NOVA_ERROR_RANGE, "no such value",
                    "%s: element (%04X,%04X) has no value %zu", ds->root->name,
                    NOVA_TAG_GROUP(tag), NOVA_TAG_ELEMENT(tag), index + 1);
            start = bs + 1;
        }
        const uint8_t *bs = memchr(start, '\\', (size_t)(end - start));
        if (bs)
            end = bs;
    } else if (index > 0) {
        return nova_error_set(error, NOVA_ERROR_RANGE, "no such value",
                              "%s: element (%04X,%04X) has one value",
                              ds->root->name, NOVA_TAG_GROUP(tag),
                              NOVA_TAG_ELEMENT(tag));
    }
    size_t n = (size_t)(end - start);
    trim(e->vr, &start, &n);
    *out = start;
    *out_len = n;
    return true;
}

bool nova_dataset_get_string_value(NovaError **error, const NovaDataset *ds,
                                   uint32_t tag, size_t index, char *buf,
                                   size_t buf_size)
{
    const uint8_t *v;
    size_t n;
    const NovaElement *e;
    if (!string_value(error, ds, tag, index, &v, &n, &e))
        return false;
    if (n + 1 > buf_size)
        return nova_error_set(error, NOVA_ERROR_RANGE, "value too long",
                              "%s: element (%04X,%04X) value %zu has %zu "
                              "bytes, buffer holds %zu",
                              ds->root->name, NOVA_TAG_GROUP(tag),
                              NOVA_TAG_ELEMENT(tag), index + 1, n,
                              buf_size ? buf_size - 1 : 0);
    memcpy(buf, v, n);
    buf[n] = '\0';
    return true;
}

/* Numbers: binary VRs directly, IS/DS by parsing the text. */
static bool number(NovaError **error, const NovaDataset *ds, uint32_t tag,
                   size_t index, double *d, int64_t *i, bool *is_int)
{
    const NovaElement *e = nova__dataset_lookup(ds, tag);
    if (!e)
        return not_found(error, ds, tag);
    if (nova_vr_is_string(e->vr) || e->vr == NOVA_VR_NONE) {
        const uint8_t *v;
        size_t n;
        const NovaElement *ee;
        if (!string_value(error, ds, tag, index, &v, &n, &ee))
            return false;
        char buf[72];
        if (n == 0 || n >= sizeof buf)
            return nova_error_set(error, NOVA_ERROR_INVALID, "not a number",
                                  "%s: element (%04X,%04X) value %zu is %s",
                                  ds->root->name, NOVA_TAG_GROUP(tag),
                                  NOVA_TAG_ELEMENT(tag), index + 1,
                                  n == 0 ? "empty" : "too long for a number");
        memcpy(buf, v, n);
        buf[n] = '\0';
        char *endp;
        double dv = strtod(buf, &endp);
        while (*endp == ' ')
            endp++;
        if (*endp != '\0' || !isfinite(dv))
            return nova_error_set(error, NOVA_ERROR_INVALID, "not a number",
                                  "%s: element (%04X,%04X) value %zu \"%s\" "
                                  "is not a number",
                                  ds->root->name, NOVA_TAG_GROUP(tag),
                                  NOVA_TAG_ELEMENT(tag), index + 1, buf);
        *d = dv;
        *is_int = false;
        if (e->vr == NOVA_VR_IS || e->vr == NOVA_VR_NONE) {
            long long iv = strtoll(buf, &endp, 10);
            while (*endp == ' ')
                endp++;
            if (*endp == '\0') {
                *i = iv;
                *is_int = true;
            }
        }
        return true;
    }
    size_t len;
    const uint8_t *v = value_of(error, ds, tag, NULL, &len);
    if (!v)
        return false;
    size_t esize = binary_size(e->vr);
    if (esize == 0 || e->vr == NOVA_VR_OB || e->vr == NOVA_VR_UN)
        return nova_error_set(error, NOVA_ERROR_INVALID, "not a number",
                              "%s: element (%04X,%04X) has VR %s",
                              ds->root->name, NOVA_TAG_GROUP(tag),
                              NOVA_TAG_ELEMENT(tag), nova_vr_name(e->vr));
    if ((index + 1) * esize > len)
        return nova_error_set(error, NOVA_ERROR_RANGE, "no such value",
                              "%s: element (%04X,%04X) has %zu values, "
                              "value %zu requested",
                              ds->root->name, NOVA_TAG_GROUP(tag),
                              NOVA_TAG_ELEMENT(tag), len / esize, index + 1);
    const uint8_t *p = v + index * esize;
    bool big = ds->big_endian;
    *is_int = true;
    switch (e->vr) {
    case NOVA_VR_US:
    case NOVA_VR_OW: *i = nova__get_u16(p, big); break;
    case NOVA_VR_SS: *i = (int16_t)nova__get_u16(p, big); break;
    case NOVA_VR_UL:
    case NOVA_VR_OL: *i = nova__get_u32(p, big); break;
    case NOVA_VR_SL: *i = (int32_t)nova__get_u32(p, big); break;
    case NOVA_VR_AT:
        *i = (int64_t)((uint32_t)nova__get_u16(p, big) << 16 |
                       nova__get_u16(p + 2, big));
        break;
    case NOVA_VR_FL:
    case NOVA_VR_OF: {
        uint32_t u = nova__get_u32(p, big);
        float f;
        memcpy(&f, &u, 4);
        *d = f;
        *is_int = false;
        return true;
    }
    default: {
        uint64_t u = big ? ((uint64_t)nova__get_u32(p, true) << 32 |
                            nova__get_u32(p + 4, true))
                         : ((uint64_t)nova__get_u32(p + 4, false) << 32 |
                            nova__get_u32(p, false));
        if (e->vr == NOVA_VR_FD || e->vr == NOVA_VR_OD) {
            memcpy(d, &u, 8);
            *is_int = false;
            return true;
        }
        *i = (int64_t)u;
        if (e->vr == NOVA_VR_UV || e->vr == NOVA_VR_OV) {
            *d = (double)u;
            return true;
        }
    }
    }
    *d = (double)*i;
    return true;
}

bool nova_dataset_get_int(NovaError **error, const NovaDataset *ds,
                          uint32_t tag, size_t index, int64_t *value)
{
    double d;
    int64_t i = 0;
    bool is_int;
    if (!number(error, ds, tag, index, &d, &i, &is_int))
        return false;
    if (!is_int) {
        if (d != floor(d) || d < -9.2e18 || d > 9.2e18)
            return nova_error_set(error, NOVA_ERROR_INVALID, "not an integer",
                                  "%s: element (%04X,%04X) value %zu is %g",
                                  ds->root->name, NOVA_TAG_GROUP(tag),
                                  NOVA_TAG_ELEMENT(tag), index + 1, d);
        i = (int64_t)d;
    }
    *value = i;
    return true;
}

bool nova_dataset_get_double(NovaError **error, const NovaDataset *ds,
                             uint32_t tag, size_t index, double *value)
{
    int64_t i;
    bool is_int;
    return number(error, ds, tag, index, value, &i, &is_int);
}

bool nova_dataset_get_doubles(NovaError **error, const NovaDataset *ds,
                              uint32_t tag, double *values, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (!nova_dataset_get_double(error, ds, tag, k, &values[k]))
            return false;
    return true;
}

size_t nova_dataset_get_item_count(const NovaDataset *ds, uint32_t tag)
{
    const NovaElement *e = nova__dataset_lookup(ds, tag);
    return e && e->vr == NOVA_VR_SQ ? e->count : 0;
}

const NovaDataset *nova_dataset_get_item(const NovaDataset *ds, uint32_t tag,
                                         size_t index)
{
    const NovaElement *e = nova__dataset_lookup(ds, tag);
    if (!e || e->vr != NOVA_VR_SQ || index >= e->count)
        return NULL;
    return e->items[index];
}

const NovaDataset *nova_dataset_get_parent(const NovaDataset *ds)
{
    return ds->parent;
}
