/*
 * json.c - the streaming JSON writer of nova/json.h.
 *
 * Output goes into one growable buffer; a file writer empties it into its
 * FILE* whenever it passes FLUSH_BYTES, a buffer writer keeps it.  A small
 * stack records, per open container, whether it is an object, whether it
 * has members yet (for commas) and whether a key awaits its value.  The
 * first misuse or failure is stored and turns every later call into a no-op
 * (see nova/json.h).
 */
#include "nova/json.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FLUSH_BYTES 65536

enum {
    LEVEL_OBJECT = 1u << 0, /* else array */
    LEVEL_NONEMPTY = 1u << 1,
    LEVEL_KEY_DONE = 1u << 2 /* a key was written, its value is due */
};

struct NovaJson {
    FILE *file;
    unsigned flags;
    char *buf;
    size_t len, cap;
    uint8_t levels[NOVA_JSON_MAX_DEPTH];
    size_t depth;
    bool top_done; /* the one top-level value was written */
    NovaError *error;
};

static NovaJson *create(NovaError **error, FILE *file, unsigned flags)
{
    NovaJson *j = nova_calloc(error, 1, sizeof *j);
    if (!j)
        return NULL;
    j->file = file;
    j->flags = flags;
    j->cap = 4096;
    j->buf = nova_malloc(error, j->cap);
    if (!j->buf) {
        nova_free(j);
        return NULL;
    }
    j->buf[0] = '\0';
    return j;
}

NovaJson *nova_json_create_file(NovaError **error, FILE *out, unsigned flags)
{
    if (!out) {
        nova_error_set(error, NOVA_ERROR_INVALID, "invalid argument",
                       "JSON writer: no output file");
        return NULL;
    }
    return create(error, out, flags);
}

NovaJson *nova_json_create_buffer(NovaError **error, unsigned flags)
{
    return create(error, NULL, flags);
}

void nova_json_destroy(NovaJson *json)
{
    if (!json)
        return;
    nova_free(json->buf);
    nova_error_free(json->error);
    nova_free(json);
}

static bool failed(const NovaJson *j)
{
    return j == NULL || j->error != NULL;
}

static void flush(NovaJson *j)
{
    if (!j->file || j->len == 0 || j->error)
        return;
    if (fwrite(j->buf, 1, j->len, j->file) != j->len) {
        nova_error_set(&j->error, NOVA_ERROR_IO, "write failed",
                       "JSON output: %s", strerror(errno));
        return;
    }
    j->len = 0;
    j->buf[0] = '\0';
}

/* Make room for n more bytes plus a NUL. */
static bool reserve(NovaJson *j, size_t n)
{
    if (j->error)
        return false;
    size_t need;
    if (!nova_size_add(j->len, n, &need) || !nova_size_add(need, 1, &need)) {
        nova_error_set(&j->error, NOVA_ERROR_RANGE, "JSON too large",
                       "JSON output exceeds the address space");
        return false;
    }
    if (need <= j->cap)
        return true;
    size_t cap = j->cap;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *b = nova_realloc(&j->error, j->buf, cap);
    if (!b)
        return false;
    j->buf = b;
    j->cap = cap;
    return true;
}

static void put(NovaJson *j, const char *s, size_t n)
{
    if (!reserve(j, n))
        return;
    memcpy(j->buf + j->len, s, n);
    j->len += n;
    j->buf[j->len] = '\0';
    if (j->len >= FLUSH_BYTES)
        flush(j);
}

static void put_char(NovaJson *j, char c)
{
    put(j, &c, 1);
}

static void newline_indent(NovaJson *j)
{
    if (!(j->flags & NOVA_JSON_PRETTY))
        return;
    put_char(j, '\n');
    for (size_t i = 0; i < j->depth; i++)
        put(j, "  ", 2);
}

static void misuse(NovaJson *j, const char *what)
{
    nova_error_set(&j->error, NOVA_ERROR_INTERNAL, "JSON writer misuse", "%s",
                   what);
}

/* Everything a value needs before it: a comma and indentation in an
 * array, nothing after a key, a check at the top level. */
static bool begin_value(NovaJson *j)
{
    if (failed(j))
        return false;
    if (j->depth == 0) {
        if (j->top_done) {
            misuse(j, "a second top-level value");
            return false;
        }
        j->top_done = true;
        return true;
    }
    uint8_t *lv = &j->levels[j->depth - 1];
    if (*lv & LEVEL_OBJECT) {
        if (!(*lv & LEVEL_KEY_DONE)) {
            misuse(j, "a value in an object without a key");
            return false;
        }
        *lv &= (uint8_t)~LEVEL_KEY_DONE;
        return true;
    }
    if (*lv & LEVEL_NONEMPTY)
        put_char(j, ',');
    *lv |= LEVEL_NONEMPTY;
    newline_indent(j);
    return !j->error;
}

static void open_container(NovaJson *j, bool object)
{
    if (!begin_value(j))
        return;
    if (j->depth == NOVA_JSON_MAX_DEPTH) {
        nova_error_set(&j->error, NOVA_ERROR_RANGE, "JSON too deep",
                       "JSON nesting deeper than %d", NOVA_JSON_MAX_DEPTH);
        return;
    }
    put_char(j, object ? '{' : '[');
    j->levels[j->depth++] = object ? LEVEL_OBJECT : 0;
}

static void close_container(NovaJson *j, bool object)
{
    if (failed(j))
        return;
    if (j->depth == 0 || !!(j->levels[j->depth - 1] & LEVEL_OBJECT) != object) {
        misuse(j, object ? "end_object without an open object"
                         : "end_array without an open array");
        return;
    }
    uint8_t lv = j->levels[j->depth - 1];
    if (lv & LEVEL_KEY_DONE) {
        misuse(j, "an object ends after a key without its value");
        return;
    }
    j->depth--;
    if (lv & LEVEL_NONEMPTY)
        newline_indent(j);
    put_char(j, object ? '}' : ']');
}

void nova_json_begin_object(NovaJson *json)
{
    open_container(json, true);
}

void nova_json_end_object(NovaJson *json)
{
    close_container(json, true);
}

void nova_json_begin_array(NovaJson *json)
{
    open_container(json, false);
}

void nova_json_end_array(NovaJson *json)
{
    close_container(json, false);
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid
 * (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF). */
static size_t utf8_sequence(const unsigned char *s, size_t n)
{
    unsigned char b = s[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b < 0x80)
        return 1;
    if (b >= 0xC2 && b <= 0xDF) {
        need = 1;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 2;
        lo = b == 0xE0 ? 0xA0 : 0x80;
        hi = b == 0xED ? 0x9F : 0xBF;
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 3;
        lo = b == 0xF0 ? 0x90 : 0x80;
        hi = b == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 0;
    }
    if (n < need + 1 || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t k = 2; k <= need; k++)
        if ((s[k] & 0xC0) != 0x80)
            return 0;
    return need + 1;
}

/* A quoted string, escaped per RFC 8259 section 7. */
static void put_string(NovaJson *j, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    put_char(j, '"');
    const unsigned char *p = (const unsigned char *)s;
    size_t run = 0; /* bytes of p[0..run) to copy as they are */
    size_t i = 0;
    while (i < n && !j->error) {
        unsigned char c = p[i];
        size_t seq = c >= 0x20 && c != '"' && c != '\\'
                         ? utf8_sequence(p + i, n - i)
                         : 1;
        if (c >= 0x20 && c != '"' && c != '\\' && seq > 0) {
            i += seq;
            run += seq;
            continue;
        }
        put(j, (const char *)p + i - run, run);
        run = 0;
        char esc[8];
        size_t elen = 2;
        esc[0] = '\\';
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            if (c < 0x20) {
                esc[1] = 'u';
                esc[2] = '0';
                esc[3] = '0';
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                elen = 6;
            } else {
                /* Not UTF-8: one U+FFFD per byte. */
                memcpy(esc, "\\ufffd", 6);
                elen = 6;
            }
        }
        put(j, esc, elen);
        i++;
    }
    put(j, (const char *)p + i - run, run);
    put_char(j, '"');
}

void nova_json_key(NovaJson *json, const char *key)
{
    if (failed(json))
        return;
    if (json->depth == 0 || !(json->levels[json->depth - 1] & LEVEL_OBJECT)) {
        misuse(json, "a key outside an object");
        return;
    }
    uint8_t *lv = &json->levels[json->depth - 1];
    if (*lv & LEVEL_KEY_DONE) {
        misuse(json, "two keys in a row");
        return;
    }
    if (*lv & LEVEL_NONEMPTY)
        put_char(json, ',');
    *lv |= LEVEL_NONEMPTY | LEVEL_KEY_DONE;
    newline_indent(json);
    put_string(json, key ? key : "", key ? strlen(key) : 0);
    if (json->flags & NOVA_JSON_PRETTY)
        put(json, ": ", 2);
    else
        put_char(json, ':');
}

void nova_json_string(NovaJson *json, const char *s)
{
    if (!s) {
        nova_json_null(json);
        return;
    }
    nova_json_string_len(json, s, strlen(s));
}

void nova_json_string_len(NovaJson *json, const char *s, size_t length)
{
    if (begin_value(json))
        put_string(json, s, length);
}

static void put_text(NovaJson *j, const char *s)
{
    put(j, s, strlen(s));
}

void nova_json_int(NovaJson *json, int64_t value)
{
    char b[32];
    snprintf(b, sizeof b, "%lld", (long long)value);
    if (begin_value(json))
        put_text(json, b);
}

void nova_json_uint(NovaJson *json, uint64_t value)
{
    char b[32];
    snprintf(b, sizeof b, "%llu", (unsigned long long)value);
    if (begin_value(json))
        put_text(json, b);
}

void nova_json_double(NovaJson *json, double value)
{
    if (!isfinite(value)) {
        nova_json_null(json);
        return;
    }
    char b[40];
    /* 17 significant digits always read back exactly; try fewer first so
     * 0.1 prints as 0.1. */
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(b, sizeof b, "%.*g", digits, value);
        if (strtod(b, NULL) == value)
            break;
    }
    if (begin_value(json))
        put_text(json, b);
}

void nova_json_float(NovaJson *json, float value)
{
    if (!isfinite(value)) {
        nova_json_null(json);
        return;
    }
    char b[40];
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(b, sizeof b, "%.*g", digits, (double)value);
        if (strtof(b, NULL) == value)
            break;
    }
    if (begin_value(json))
        put_text(json, b);
}

void nova_json_bool(NovaJson *json, bool value)
{
    if (begin_value(json))
        put_text(json, value ? "true" : "false");
}

void nova_json_null(NovaJson *json)
{
    if (begin_value(json))
        put_text(json, "null");
}

/* Does [s, s+n) follow the number grammar of RFC 8259 section 6? */
static bool is_json_number(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    if (i == n)
        return false;
    if (s[i] == '0') {
        i++;
    } else if (s[i] >= '1' && s[i] <= '9') {
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    } else {
        return false;
    }
    if (i < n && s[i] == '.') {
        i++;
        size_t start = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start)
            return false;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t start = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start)
            return false;
    }
    return i == n;
}

void nova_json_number_text(NovaJson *json, const char *text, size_t length)
{
    if (failed(json))
        return;
    if (is_json_number(text, length)) {
        if (begin_value(json))
            put(json, text, length);
        return;
    }
    /* "+1", ".5", "1.", "007": numbers JSON spells differently. */
    char b[80];
    if (length > 0 && length < sizeof b) {
        memcpy(b, text, length);
        b[length] = '\0';
        char *end;
        errno = 0;
        double d = strtod(b, &end);
        if (end != b && *end == '\0' && isfinite(d) &&
            strspn(b, "+-.0123456789eE") == length) {
            nova_json_double(json, d);
            return;
        }
    }
    nova_json_string_len(json, text, length);
}

void nova_json_base64(NovaJson *json, const void *data, size_t length)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (!begin_value(json))
        return;
    const uint8_t *p = data;
    put_char(json, '"');
    char chunk[256];
    size_t c = 0;
    for (size_t i = 0; i < length && !json->error; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < length)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < length)
            v |= p[i + 2];
        chunk[c++] = alphabet[(v >> 18) & 63];
        chunk[c++] = alphabet[(v >> 12) & 63];
        chunk[c++] = i + 1 < length ? alphabet[(v >> 6) & 63] : '=';
        chunk[c++] = i + 2 < length ? alphabet[v & 63] : '=';
        if (c + 4 > sizeof chunk) {
            put(json, chunk, c);
            c = 0;
        }
    }
    put(json, chunk, c);
    put_char(json, '"');
}

bool nova_json_finish(NovaError **error, NovaJson *json)
{
    if (!json)
        return nova_error_set(error, NOVA_ERROR_INVALID, "invalid argument",
                              "JSON writer: NULL");
    if (!json->error && (json->depth > 0 || !json->top_done))
        misuse(json, json->depth > 0 ? "unclosed object or array"
                                     : "no value written");
    if (!json->error && (json->flags & NOVA_JSON_PRETTY))
        put_char(json, '\n');
    flush(json);
    if (!json->error && json->file && fflush(json->file) != 0)
        nova_error_set(&json->error, NOVA_ERROR_IO, "write failed",
                       "JSON output: %s", strerror(errno));
    if (json->error) {
        nova_error_set(error, nova_error_code(json->error),
                       nova_error_summary(json->error), "%s",
                       nova_error_message(json->error));
        return false;
    }
    return true;
}

const char *nova_json_get_buffer(const NovaJson *json, size_t *length)
{
    if (!json || json->file) {
        if (length)
            *length = 0;
        return NULL;
    }
    if (length)
        *length = json->len;
    return json->buf;
}
