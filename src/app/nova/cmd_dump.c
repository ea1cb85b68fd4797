/*
 * cmd_dump.c - `nova dump [--json] [--pixels -o OUT.raw] [--header-only]
 * FILE...`: a dataset as text, as DICOM JSON, or as raw decoded pixels.
 *
 * Text: one line per element in the style of DCMTK's dcmdump, nested
 * sequences indented, each line "(gggg,eeee) VR value  # length, VM
 * Keyword".  Long values are shortened.
 *
 * JSON: the DICOM JSON Model of PS3.18 Annex F: an object keyed by
 * "GGGGEEEE" per data set (an array of them for several files), each
 * attribute {"vr", "Value"} or {"vr", "InlineBinary"}; PN values as
 * component-group objects (F.2.2), DS/IS and binary numbers as JSON
 * numbers, AT as hex strings, sequences as arrays of data-set objects.  The
 * File Meta Information (group 0002) is not part of the data set and is
 * left out; encapsulated Pixel Data is written without a value (Annex F
 * would refer to it by BulkDataURI, which a file dump has no server for).
 *
 * Pixels: every frame decoded by nova_dataset_decode_frame (samples
 * interleaved, after masking and sign extension, before any rescale),
 * concatenated and written as little-endian samples; the frame geometry
 * goes to stdout as "key: value" lines so any tool can read the file.
 */
#include "commands.h"

#include "nova/nova.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Bytes of value text shown per element in the text dump, and binary
 * values shown before "...". */
#define TEXT_SHOWN 64
#define BINARY_SHOWN 16
#define VALUE_COLUMN 55

typedef struct {
    bool json;
    bool pixels;
    bool header_only;
    const char *output;
} DumpOptions;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: nova dump [--json] [--header-only] FILE...\n"
            "       nova dump --pixels -o OUT.raw FILE\n"
            "\n"
            "Print DICOM files element by element (tag, VR, length, value,\n"
            "VM and keyword, as dcmdump does), or as DICOM JSON.\n"
            "\n"
            "options:\n"
            "  --json          the DICOM JSON Model (PS3.18 Annex F); one\n"
            "                  object per file, an array for several files;\n"
            "                  the meta group and encapsulated pixel data\n"
            "                  are left out\n"
            "  --header-only   do not read Pixel Data\n"
            "  --pixels        decode every frame and write the samples\n"
            "                  (little endian, interleaved, before rescale)\n"
            "                  to the file given with -o; print rows,\n"
            "                  columns, frames, samples_per_pixel,\n"
            "                  bits_allocated, signed and photometric\n"
            "  -o, --output F  output file for --pixels\n"
            "  -h, --help      this help\n");
}

/* Put the file name in front of an error that does not name it yet. */
static void name_error(NovaError **err, const char *path)
{
    if (*err && strncmp(nova_error_message(*err), path, strlen(path)) != 0)
        nova_error_prefix(err, "%s: ", path);
}

static bool is_binary_vr(NovaVR vr)
{
    switch (vr) {
    case NOVA_VR_OB:
    case NOVA_VR_OD:
    case NOVA_VR_OF:
    case NOVA_VR_OL:
    case NOVA_VR_OV:
    case NOVA_VR_OW:
    case NOVA_VR_UN:
    case NOVA_VR_NONE: return true;
    default: return false;
    }
}

static bool is_numeric_vr(NovaVR vr)
{
    switch (vr) {
    case NOVA_VR_US:
    case NOVA_VR_SS:
    case NOVA_VR_UL:
    case NOVA_VR_SL:
    case NOVA_VR_SV:
    case NOVA_VR_UV:
    case NOVA_VR_FL:
    case NOVA_VR_FD:
    case NOVA_VR_AT: return true;
    default: return false;
    }
}

/* Bytes per value of binary numeric VRs (for counts and byte swapping). */
static size_t value_size(NovaVR vr)
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
    default: return 1;
    }
}

/* Pixel Data elements whose value --header-only leaves unread. */
static bool is_pixel_data(uint32_t tag)
{
    return tag == NOVA_TAG_PIXEL_DATA || tag == NOVA_TAG(0x7FE0, 0x0008) ||
           tag == NOVA_TAG(0x7FE0, 0x0009);
}

/* ------------------------------------------------------------ keywords */

/* The keyword column: the PS3.6 keyword; for private tags (odd group,
 * PS3.5 7.8.1) "PrivateCreator", or "PrivateTag" with the creator that
 * reserved the block when the dataset has it. */
static void keyword_of(const NovaDataset *ds, uint32_t tag, char *buf,
                       size_t size)
{
    uint16_t group = NOVA_TAG_GROUP(tag), elem = NOVA_TAG_ELEMENT(tag);
    if (group & 1) {
        if (elem == 0)
            snprintf(buf, size, "PrivateGroupLength");
        else if (elem >= 0x0010 && elem <= 0x00FF)
            snprintf(buf, size, "PrivateCreator");
        else {
            char creator[72];
            uint32_t creator_tag = NOVA_TAG(group, elem >> 8);
            if (elem >= 0x1000 &&
                nova_dataset_get_string_value(NULL, ds, creator_tag, 0, creator,
                                              sizeof creator))
                snprintf(buf, size, "PrivateTag [%s]", creator);
            else
                snprintf(buf, size, "PrivateTag");
        }
        return;
    }
    const NovaDictEntry *e = nova_dict_lookup_tag(tag);
    snprintf(buf, size, "%s", e ? e->keyword : "UnknownTag");
}

/* ---------------------------------------------------------- text dump */

typedef struct {
    char *s;
    size_t len, cap;
    bool failed;
} Text;

static void text_add(Text *t, const char *s, size_t n)
{
    if (t->failed)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *p = nova_realloc(NULL, t->s, cap);
        if (!p) {
            t->failed = true;
            return;
        }
        t->s = p;
        t->cap = cap;
    }
    memcpy(t->s + t->len, s, n);
    t->len += n;
    t->s[t->len] = '\0';
}

static void text_printf(Text *t, const char *fmt, ...) NOVA_PRINTF(2, 3);
static void text_printf(Text *t, const char *fmt, ...)
{
    char b[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    if (n > 0)
        text_add(t, b, (size_t)n < sizeof b ? (size_t)n : sizeof b - 1);
}

/* Add UTF-8 text shortened to about `limit` bytes (never inside a
 * character), control characters escaped so a value stays on one line. */
static void text_add_escaped(Text *t, const char *s, size_t limit)
{
    size_t n = strlen(s), shown = n;
    if (n > limit) {
        shown = limit;
        while (shown > 0 && ((unsigned char)s[shown] & 0xC0) == 0x80)
            shown--;
    }
    for (size_t i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != 0x7F) {
            text_add(t, (const char *)&s[i], 1);
        } else if (c == '\n') {
            text_add(t, "\\n", 2);
        } else if (c == '\r') {
            text_add(t, "\\r", 2);
        } else if (c == '\t') {
            text_add(t, "\\t", 2);
        } else {
            text_printf(t, "\\x%02x", c);
        }
    }
    if (shown < n)
        text_add(t, "...", 3);
}

/* The value column of one element. */
static bool format_value(NovaError **err, const NovaDataset *ds,
                         const NovaElementInfo *info, const DumpOptions *opt,
                         Text *t)
{
    NovaVR vr = info->vr;
    if (info->encapsulated) {
        text_printf(t, "(PixelSequence #=%" PRIu32 ")", info->count);
        return true;
    }
    if (opt->header_only && is_pixel_data(info->tag)) {
        text_add(t, "(not read: --header-only)", 25);
        return true;
    }
    if (info->length == 0) {
        text_add(t, "(no value available)", 20);
        return true;
    }
    if (nova_vr_is_string(vr)) {
        char *s = nova_dataset_get_string(err, ds, info->tag);
        if (!s)
            return false;
        text_add(t, "[", 1);
        text_add_escaped(t, s, TEXT_SHOWN);
        text_add(t, "]", 1);
        nova_free(s);
        return true;
    }
    if (vr == NOVA_VR_OB || vr == NOVA_VR_UN || vr == NOVA_VR_NONE) {
        size_t len;
        const uint8_t *b = nova_dataset_get_bytes(err, ds, info->tag, &len);
        if (!b)
            return false;
        for (size_t i = 0; i < len && i < BINARY_SHOWN; i++)
            text_printf(t, "%s%02x", i ? "\\" : "", b[i]);
        if (len > BINARY_SHOWN)
            text_add(t, "...", 3);
        return true;
    }
    /* Numbers, one by one through the getters (which know the byte order
     * of this data set). */
    size_t size = value_size(vr);
    size_t n = info->length / size;
    for (size_t i = 0; i < n && i < BINARY_SHOWN; i++) {
        if (i)
            text_add(t, "\\", 1);
        int64_t iv;
        double dv;
        switch (vr) {
        case NOVA_VR_FL:
        case NOVA_VR_OF:
            if (!nova_dataset_get_double(err, ds, info->tag, i, &dv))
                return false;
            text_printf(t, "%.8g", dv);
            break;
        case NOVA_VR_FD:
        case NOVA_VR_OD:
            if (!nova_dataset_get_double(err, ds, info->tag, i, &dv))
                return false;
            text_printf(t, "%.17g", dv);
            break;
        case NOVA_VR_OW:
            if (!nova_dataset_get_int(err, ds, info->tag, i, &iv))
                return false;
            text_printf(t, "%04" PRIx64, (uint64_t)iv & 0xFFFF);
            break;
        case NOVA_VR_AT:
            if (!nova_dataset_get_int(err, ds, info->tag, i, &iv))
                return false;
            text_printf(t, "(%04x,%04x)", (unsigned)((uint64_t)iv >> 16),
                        (unsigned)(iv & 0xFFFF));
            break;
        case NOVA_VR_UV:
        case NOVA_VR_OV:
            if (!nova_dataset_get_int(err, ds, info->tag, i, &iv))
                return false;
            text_printf(t, "%" PRIu64, (uint64_t)iv);
            break;
        default:
            if (!nova_dataset_get_int(err, ds, info->tag, i, &iv))
                return false;
            text_printf(t, "%" PRId64, iv);
        }
    }
    if (n > BINARY_SHOWN)
        text_add(t, "...", 3);
    return true;
}

/* Display width of UTF-8 text: characters, not bytes. */
static size_t utf8_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

static void print_line(int depth, uint32_t tag, const char *vr,
                       const char *value, const char *length, size_t vm,
                       const char *keyword)
{
    char head[32];
    snprintf(head, sizeof head, "(%04x,%04x) %s ", NOVA_TAG_GROUP(tag),
             NOVA_TAG_ELEMENT(tag), vr);
    size_t width = utf8_width(head) + utf8_width(value);
    printf("%*s%s%s", depth * 2, "", head, value);
    for (size_t i = width; i < VALUE_COLUMN; i++)
        putchar(' ');
    printf(" # %4s, %zu %s\n", length, vm, keyword);
}

static bool dump_text_dataset(NovaError **err, const NovaDataset *ds, int depth,
                              const DumpOptions *opt)
{
    size_t count = nova_dataset_count(ds);
    for (size_t i = 0; i < count; i++) {
        NovaElementInfo info;
        if (!nova_dataset_element_at(ds, i, &info))
            break;
        char keyword[128], length[16];
        keyword_of(ds, info.tag, keyword, sizeof keyword);
        if (info.length == NOVA_UNDEFINED_LENGTH)
            snprintf(length, sizeof length, "u/l");
        else
            snprintf(length, sizeof length, "%" PRIu32, info.length);
        const char *vr_name =
            info.vr == NOVA_VR_NONE ? "UN" : nova_vr_name(info.vr);
        if (info.vr == NOVA_VR_SQ) {
            char value[80];
            snprintf(
                value, sizeof value, "(Sequence with %s length #=%" PRIu32 ")",
                info.length == NOVA_UNDEFINED_LENGTH ? "undefined" : "explicit",
                info.count);
            print_line(depth, info.tag, vr_name, value, length, info.count,
                       keyword);
            size_t n_items = nova_dataset_get_item_count(ds, info.tag);
            for (size_t k = 0; k < n_items; k++) {
                const NovaDataset *item =
                    nova_dataset_get_item(ds, info.tag, k);
                if (!item)
                    break;
                snprintf(value, sizeof value, "(Item #=%zu)",
                         nova_dataset_count(item));
                print_line(depth + 1, NOVA_TAG_ITEM, "na", value, "-", 1,
                           "Item");
                if (!dump_text_dataset(err, item, depth + 2, opt))
                    return false;
                print_line(depth + 1, NOVA_TAG_ITEM_DELIMITATION, "na",
                           "(ItemDelimitationItem)", "0", 0,
                           "ItemDelimitationItem");
            }
            print_line(depth, NOVA_TAG_SEQUENCE_DELIMITATION, "na",
                       "(SequenceDelimitationItem)", "0", 0,
                       "SequenceDelimitationItem");
            continue;
        }
        Text value = {0};
        if (!format_value(err, ds, &info, opt, &value)) {
            nova_free(value.s);
            return false;
        }
        if (value.failed) {
            nova_free(value.s);
            return nova_error_set(err, NOVA_ERROR_NOMEM, "out of memory",
                                  "formatting element (%04X,%04X)",
                                  NOVA_TAG_GROUP(info.tag),
                                  NOVA_TAG_ELEMENT(info.tag));
        }
        size_t vm = info.encapsulated ? 1 : nova_dataset_get_vm(ds, info.tag);
        print_line(depth, info.tag, vr_name, value.s ? value.s : "", length, vm,
                   keyword);
        nova_free(value.s);
    }
    return true;
}

static bool dump_text(NovaError **err, const char *path, const NovaDataset *ds,
                      const DumpOptions *opt)
{
    const NovaTransferSyntax *ts = nova_dataset_get_transfer_syntax(ds);
    printf("# file: %s\n", path);
    printf("# transfer syntax: %s (%s)%s\n", ts->uid, ts->name,
           nova_dataset_has_preamble(ds) ? "" : ", no preamble");
    bool ok = dump_text_dataset(err, ds, 0, opt);
    printf("\n");
    return ok;
}

/* ---------------------------------------------------------- JSON dump */

/* One string-valued attribute's values (PS3.18 F.2.3 and F.2.5): split at
 * backslashes except for single-valued VRs, empty values as null, DS and IS
 * as numbers, PN as component-group objects (F.2.2). */
static void json_string_values(NovaJson *j, NovaVR vr, const char *s)
{
    bool single = vr == NOVA_VR_LT || vr == NOVA_VR_ST || vr == NOVA_VR_UT ||
                  vr == NOVA_VR_UR;
    nova_json_begin_array(j);
    const char *p = s;
    for (;;) {
        const char *end = single ? p + strlen(p) : strchr(p, '\\');
        if (!end)
            end = p + strlen(p);
        const char *a = p, *b = end;
        if (!single) {
            /* Each value carries its own padding (PS3.5 6.2). */
            while (a < b && *a == ' ')
                a++;
            while (b > a && (b[-1] == ' ' || b[-1] == '\0'))
                b--;
        }
        size_t n = (size_t)(b - a);
        if (n == 0) {
            nova_json_null(j);
        } else if (vr == NOVA_VR_DS || vr == NOVA_VR_IS) {
            nova_json_number_text(j, a, n);
        } else if (vr == NOVA_VR_PN) {
            /* Alphabetic=Ideographic=Phonetic (PS3.5 6.2.1.1). */
            static const char *const groups[] = {"Alphabetic", "Ideographic",
                                                 "Phonetic"};
            nova_json_begin_object(j);
            const char *g = a;
            for (int k = 0; k < 3 && g <= b; k++) {
                const char *ge = memchr(g, '=', (size_t)(b - g));
                if (!ge || k == 2)
                    ge = b;
                if (ge > g) {
                    nova_json_key(j, groups[k]);
                    nova_json_string_len(j, g, (size_t)(ge - g));
                }
                g = ge + 1;
            }
            nova_json_end_object(j);
        } else {
            nova_json_string_len(j, a, n);
        }
        if (*end == '\0')
            break;
        p = end + 1;
    }
    nova_json_end_array(j);
}

static bool json_dataset(NovaError **err, NovaJson *j, const NovaDataset *ds,
                         bool big_endian, const DumpOptions *opt);

static bool json_element(NovaError **err, NovaJson *j, const NovaDataset *ds,
                         const NovaElementInfo *info, bool big_endian,
                         const DumpOptions *opt)
{
    NovaVR vr = info->vr == NOVA_VR_NONE ? NOVA_VR_UN : info->vr;
    char key[12];
    snprintf(key, sizeof key, "%08X", info->tag);
    nova_json_key(j, key);
    nova_json_begin_object(j);
    nova_json_key(j, "vr");
    nova_json_string(j, nova_vr_name(vr));
    bool ok = true;
    if (vr == NOVA_VR_SQ) {
        size_t n = nova_dataset_get_item_count(ds, info->tag);
        if (n > 0) {
            nova_json_key(j, "Value");
            nova_json_begin_array(j);
            for (size_t k = 0; k < n && ok; k++) {
                const NovaDataset *item =
                    nova_dataset_get_item(ds, info->tag, k);
                if (item)
                    ok = json_dataset(err, j, item, big_endian, opt);
            }
            nova_json_end_array(j);
        }
    } else if (info->encapsulated || info->length == 0 ||
               (opt->header_only && is_pixel_data(info->tag))) {
        /* No value: empty (F.2.5), or encapsulated / unread pixel data. */
    } else if (nova_vr_is_string(vr)) {
        char *s = nova_dataset_get_string(err, ds, info->tag);
        if (!s)
            return false;
        if (*s) {
            nova_json_key(j, "Value");
            json_string_values(j, vr, s);
        }
        nova_free(s);
    } else if (is_numeric_vr(vr)) {
        size_t n = info->length / value_size(vr);
        nova_json_key(j, "Value");
        nova_json_begin_array(j);
        for (size_t i = 0; i < n && ok; i++) {
            int64_t iv;
            double dv;
            if (vr == NOVA_VR_FL || vr == NOVA_VR_FD) {
                ok = nova_dataset_get_double(err, ds, info->tag, i, &dv);
                if (ok && vr == NOVA_VR_FL)
                    nova_json_float(j, (float)dv);
                else if (ok)
                    nova_json_double(j, dv);
            } else {
                ok = nova_dataset_get_int(err, ds, info->tag, i, &iv);
                if (!ok)
                    break;
                if (vr == NOVA_VR_AT) {
                    char at[12];
                    snprintf(at, sizeof at, "%08" PRIX32, (uint32_t)iv);
                    nova_json_string(j, at);
                } else if (vr == NOVA_VR_UV) {
                    nova_json_uint(j, (uint64_t)iv);
                } else {
                    nova_json_int(j, iv);
                }
            }
        }
        nova_json_end_array(j);
    } else if (is_binary_vr(vr)) {
        /* F.2.7: InlineBinary holds the value base64-encoded, in little
         * endian byte order (the JSON model's transfer syntax). */
        size_t len;
        const uint8_t *b = nova_dataset_get_bytes(err, ds, info->tag, &len);
        if (!b)
            return false;
        size_t size = value_size(vr);
        nova_json_key(j, "InlineBinary");
        if (big_endian && size > 1) {
            uint8_t *swapped = nova_malloc(err, len ? len : 1);
            if (!swapped)
                return false;
            for (size_t i = 0; i + size <= len; i += size)
                for (size_t k = 0; k < size; k++)
                    swapped[i + k] = b[i + size - 1 - k];
            /* An odd tail (broken length) is kept as it is. */
            for (size_t i = len - len % size; i < len; i++)
                swapped[i] = b[i];
            nova_json_base64(j, swapped, len);
            nova_free(swapped);
        } else {
            nova_json_base64(j, b, len);
        }
    }
    nova_json_end_object(j);
    return ok;
}

static bool json_dataset(NovaError **err, NovaJson *j, const NovaDataset *ds,
                         bool big_endian, const DumpOptions *opt)
{
    nova_json_begin_object(j);
    size_t count = nova_dataset_count(ds);
    for (size_t i = 0; i < count; i++) {
        NovaElementInfo info;
        if (!nova_dataset_element_at(ds, i, &info))
            break;
        /* The File Meta Information is not part of the data set. */
        if (NOVA_TAG_GROUP(info.tag) == 0x0002)
            continue;
        if (!json_element(err, j, ds, &info, big_endian, opt))
            return false;
    }
    nova_json_end_object(j);
    return true;
}

/* --------------------------------------------------------- pixel dump */

static bool host_is_little_endian(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

static bool dump_pixels(NovaError **err, const char *path,
                        const NovaDataset *ds, const char *out_path)
{
    NovaImageInfo info;
    if (!nova_dataset_get_image_info(err, ds, &info))
        return false;
    size_t frame_bytes = nova_image_frame_bytes(&info);
    if (frame_bytes == 0)
        return nova_error_set(err, NOVA_ERROR_INVALID, "invalid image",
                              "%s: image of %" PRIu32 "x%" PRIu32 ", %u "
                              "samples of %u bits has no valid frame size",
                              path, info.rows, info.columns,
                              info.samples_per_pixel, info.bits_allocated);
    uint8_t *frame = nova_malloc(err, frame_bytes);
    if (!frame)
        return false;
    FILE *out = fopen(out_path, "wb");
    if (!out) {
        nova_free(frame);
        return nova_error_set(err, NOVA_ERROR_IO, "cannot write",
                              "output %s: %s", out_path, strerror(errno));
    }
    /* Decoded samples are in host order; the file is little endian. */
    size_t sample = info.bits_allocated <= 8 ? 1 : info.bits_allocated / 8;
    bool swap = !host_is_little_endian() && sample > 1;
    bool ok = true;
    for (uint32_t f = 0; f < info.frames && ok; f++) {
        ok = nova_dataset_decode_frame(err, ds, f, frame, frame_bytes);
        if (!ok) {
            /* The parser's pixel errors name the file and frame already;
             * others (a codec's) get both here. */
            if (*err && !strstr(nova_error_message(*err), path))
                nova_error_prefix(err, "%s: frame %" PRIu32 ": ", path, f);
            break;
        }
        if (swap)
            for (size_t i = 0; i + sample <= frame_bytes; i += sample)
                for (size_t k = 0; k < sample / 2; k++) {
                    uint8_t tmp = frame[i + k];
                    frame[i + k] = frame[i + sample - 1 - k];
                    frame[i + sample - 1 - k] = tmp;
                }
        if (fwrite(frame, 1, frame_bytes, out) != frame_bytes)
            ok = nova_error_set(err, NOVA_ERROR_IO, "cannot write",
                                "output %s: %s", out_path, strerror(errno));
    }
    if (fclose(out) != 0 && ok)
        ok = nova_error_set(err, NOVA_ERROR_IO, "cannot write", "output %s: %s",
                            out_path, strerror(errno));
    nova_free(frame);
    if (!ok) {
        unlink(out_path);
        return false;
    }
    const NovaTransferSyntax *ts = nova_dataset_get_transfer_syntax(ds);
    printf("rows: %" PRIu32 "\n", info.rows);
    printf("columns: %" PRIu32 "\n", info.columns);
    printf("frames: %" PRIu32 "\n", info.frames);
    printf("samples_per_pixel: %u\n", info.samples_per_pixel);
    printf("bits_allocated: %u\n", info.bits_allocated);
    printf("signed: %d\n", info.pixel_representation ? 1 : 0);
    printf("photometric: %s\n",
           nova_photometric_name(nova_codec_output_photometric(ts, &info)));
    return true;
}

/* ---------------------------------------------------------------- main */

/* Options may come before or after the files; "--" ends them.  Returns
 * -1 to go on, else the exit status.  files[] gets the file arguments. */
static int parse_args(int argc, char **argv, DumpOptions *opt, char **files,
                      int *n_files)
{
    bool options_done = false;
    *n_files = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (options_done || a[0] != '-' || a[1] == '\0') {
            files[(*n_files)++] = argv[i];
        } else if (strcmp(a, "--") == 0) {
            options_done = true;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--json") == 0) {
            opt->json = true;
        } else if (strcmp(a, "--pixels") == 0) {
            opt->pixels = true;
        } else if (strcmp(a, "--header-only") == 0) {
            opt->header_only = true;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "nova dump: %s needs a file name\n", a);
                return 2;
            }
            opt->output = argv[++i];
        } else if (strncmp(a, "--output=", 9) == 0) {
            opt->output = a + 9;
        } else {
            fprintf(stderr, "nova dump: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (*n_files == 0) {
        fprintf(stderr, "nova dump: no input file\n");
        usage(stderr);
        return 2;
    }
    if (opt->pixels && !opt->output) {
        fprintf(stderr, "nova dump: --pixels needs -o OUT.raw\n");
        return 2;
    }
    if (opt->output && !opt->pixels) {
        fprintf(stderr, "nova dump: -o is for --pixels\n");
        return 2;
    }
    if (opt->pixels && (opt->json || *n_files != 1)) {
        fprintf(stderr, "nova dump: --pixels takes one file and no --json\n");
        return 2;
    }
    return -1;
}

static int run_dump(const DumpOptions *options, char **files, int n_files);

int nova_cmd_dump(int argc, char **argv)
{
    DumpOptions opt = {0};
    char **files =
        nova_malloc_array(NULL, (size_t)(argc > 0 ? argc : 1), sizeof *files);
    if (!files) {
        fprintf(stderr, "nova dump: out of memory\n");
        return 1;
    }
    int n_files = 0;
    int rc = parse_args(argc, argv, &opt, files, &n_files);
    if (rc >= 0) {
        nova_free(files);
        return rc;
    }
    int status = run_dump(&opt, files, n_files);
    nova_free(files);
    return status;
}

static int run_dump(const DumpOptions *options, char **files, int n_files)
{
    DumpOptions opt = *options;
    unsigned flags = opt.header_only ? NOVA_READ_HEADER_ONLY : 0;
    int status = 0;
    NovaJson *json = NULL;
    if (opt.json) {
        NovaError *err = NULL;
        json = nova_json_create_file(&err, stdout, NOVA_JSON_PRETTY);
        if (!json) {
            nova_app_print_error("dump", err);
            nova_error_free(err);
            return 1;
        }
        if (n_files > 1)
            nova_json_begin_array(json);
    }
    for (int f = 0; f < n_files; f++) {
        const char *path = files[f];
        NovaError *err = NULL;
        NovaDataset *ds = nova_dataset_read_file(&err, path, flags);
        bool ok = ds != NULL;
        if (ok && opt.pixels)
            ok = dump_pixels(&err, path, ds, opt.output);
        else if (ok && opt.json)
            ok = json_dataset(&err, json, ds,
                              nova_dataset_get_transfer_syntax(ds)->big_endian,
                              &opt);
        else if (ok)
            ok = dump_text(&err, path, ds, &opt);
        if (!ok) {
            fflush(stdout);
            name_error(&err, path);
            nova_app_print_error("dump", err);
            status = 1;
            if (opt.json) {
                /* A half-written object cannot be closed meaningfully. */
                nova_error_free(err);
                nova_dataset_destroy(ds);
                nova_json_destroy(json);
                return 1;
            }
        }
        nova_error_free(err);
        nova_dataset_destroy(ds);
    }
    if (json) {
        if (n_files > 1)
            nova_json_end_array(json);
        NovaError *err = NULL;
        if (!nova_json_finish(&err, json)) {
            nova_app_print_error("dump", err);
            nova_error_free(err);
            status = 1;
        }
        nova_json_destroy(json);
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "nova dump: writing output: %s\n", strerror(errno));
        status = 1;
    }
    return status;
}
