/*
 * charset.c - DICOM text values to UTF-8.
 *
 * PS3.3 C.12.1.1.2 lists the character sets a dataset may declare in
 * Specific Character Set (0008,0005); PS3.5 6.1 says how they are used.
 * There are three cases:
 *
 *  - the default repertoire (no value, ISO_IR 6): ASCII;
 *  - one set without code extensions ("ISO_IR 100", "ISO_IR 13", ...) or
 *    several "ISO 2022 ..." terms with code extensions: the value is an ISO
 *    2022 stream.  G0 (bytes 0x21-0x7E) holds ASCII, JIS X 0201 romaji,
 *    JIS X 0208 or JIS X 0212; G1 (bytes 0xA1-0xFE) holds the upper half
 *    of an ISO 8859 set, JIS X 0201 katakana, KS X 1001 or GB 2312.
 *    Escape sequences (PS3.3 Tables C.12-3 and C.12-4) change what G0 and
 *    G1 hold, and delimiters reset both to what value 1 designates
 *    (PS3.5 6.1.2.5.3);
 *  - a stand-alone multi-byte encoding (ISO_IR 192 = UTF-8, GB18030, GBK)
 *    that allows no code extensions (PS3.5 6.1.2.5.4 d).
 *
 * We run the ISO 2022 state machine ourselves and hand each character to
 * glibc's iconv in the matching EUC or ISO 8859 form (iconv knows the
 * tables; it does not know DICOM's escape and delimiter rules).  Values that
 * are plain ASCII (no byte >= 0x80, no ESC) are copied without iconv: that
 * is nearly every value in a CT header.
 */
#include "dicom/charset.h"

#include <errno.h>
#include <iconv.h>
#include <string.h>

#define ESC 0x1B

/* What a defined term or an escape sequence puts into G0 (94-character
 * sets invoked in GL). */
typedef enum {
    G0_KEEP = 0,
    G0_ASCII,     /* ISO-IR 6 */
    G0_ROMAJI,    /* ISO-IR 14, JIS X 0201 romaji */
    G0_JIS_X0208, /* ISO-IR 87, 94x94 */
    G0_JIS_X0212  /* ISO-IR 159, 94x94 */
} G0Set;

/* What a defined term or an escape sequence puts into G1 (96- or
 * 94-character sets invoked in GR). */
typedef enum {
    G1_KEEP = 0,
    G1_NONE,     /* nothing designated: default repertoire */
    G1_SINGLE,   /* the upper half of a single-byte set (iconv name) */
    G1_KATAKANA, /* ISO-IR 13, JIS X 0201 katakana */
    G1_KS_X1001, /* ISO-IR 149, 94x94 */
    G1_GB2312    /* ISO-IR 58, 94x94 */
} G1Set;

typedef struct {
    const char *term; /* defined term, PS3.3 Tables C.12-2 to C.12-5 */
    G0Set g0;
    G1Set g1;
    const char *iconv_name; /* G1_SINGLE set, or the stand-alone encoding */
    bool standalone;        /* no code extensions (PS3.5 6.1.2.5.4 d) */
} CharsetTerm;

static const CharsetTerm charset_terms[] = {
    /* Single-byte sets without code extensions (Table C.12-2). */
    {"ISO_IR 6", G0_ASCII, G1_NONE, NULL, false},
    {"ISO_IR 100", G0_ASCII, G1_SINGLE, "ISO-8859-1", false},
    {"ISO_IR 101", G0_ASCII, G1_SINGLE, "ISO-8859-2", false},
    {"ISO_IR 109", G0_ASCII, G1_SINGLE, "ISO-8859-3", false},
    {"ISO_IR 110", G0_ASCII, G1_SINGLE, "ISO-8859-4", false},
    {"ISO_IR 144", G0_ASCII, G1_SINGLE, "ISO-8859-5", false},
    {"ISO_IR 127", G0_ASCII, G1_SINGLE, "ISO-8859-6", false},
    {"ISO_IR 126", G0_ASCII, G1_SINGLE, "ISO-8859-7", false},
    {"ISO_IR 138", G0_ASCII, G1_SINGLE, "ISO-8859-8", false},
    {"ISO_IR 148", G0_ASCII, G1_SINGLE, "ISO-8859-9", false},
    {"ISO_IR 203", G0_ASCII, G1_SINGLE, "ISO-8859-15", false},
    {"ISO_IR 13", G0_ROMAJI, G1_KATAKANA, NULL, false},
    {"ISO_IR 166", G0_ASCII, G1_SINGLE, "TIS-620", false},
    /* Single-byte sets with code extensions (Table C.12-3). */
    {"ISO 2022 IR 6", G0_ASCII, G1_NONE, NULL, false},
    {"ISO 2022 IR 100", G0_ASCII, G1_SINGLE, "ISO-8859-1", false},
    {"ISO 2022 IR 101", G0_ASCII, G1_SINGLE, "ISO-8859-2", false},
    {"ISO 2022 IR 109", G0_ASCII, G1_SINGLE, "ISO-8859-3", false},
    {"ISO 2022 IR 110", G0_ASCII, G1_SINGLE, "ISO-8859-4", false},
    {"ISO 2022 IR 144", G0_ASCII, G1_SINGLE, "ISO-8859-5", false},
    {"ISO 2022 IR 127", G0_ASCII, G1_SINGLE, "ISO-8859-6", false},
    {"ISO 2022 IR 126", G0_ASCII, G1_SINGLE, "ISO-8859-7", false},
    {"ISO 2022 IR 138", G0_ASCII, G1_SINGLE, "ISO-8859-8", false},
    {"ISO 2022 IR 148", G0_ASCII, G1_SINGLE, "ISO-8859-9", false},
    {"ISO 2022 IR 203", G0_ASCII, G1_SINGLE, "ISO-8859-15", false},
    {"ISO 2022 IR 13", G0_ROMAJI, G1_KATAKANA, NULL, false},
    {"ISO 2022 IR 166", G0_ASCII, G1_SINGLE, "TIS-620", false},
    /* Multi-byte sets with code extensions (Table C.12-4).  PS3.3 does not
     * allow IR 87 or IR 159 as value 1; should a file put them there, G0
     * still starts as ASCII until an escape sequence invokes them. */
    {"ISO 2022 IR 87", G0_KEEP, G1_KEEP, NULL, false},
    {"ISO 2022 IR 159", G0_KEEP, G1_KEEP, NULL, false},
    {"ISO 2022 IR 149", G0_ASCII, G1_KS_X1001, NULL, false},
    {"ISO 2022 IR 58", G0_ASCII, G1_GB2312, NULL, false},
    /* Multi-byte sets without code extensions (Table C.12-5). */
    {"ISO_IR 192", G0_KEEP, G1_KEEP, "UTF-8", true},
    {"GB18030", G0_KEEP, G1_KEEP, "GB18030", true},
    {"GBK", G0_KEEP, G1_KEEP, "GBK", true},
};

/* Escape sequences of PS3.3 Tables C.12-3 and C.12-4 (the bytes after
 * ESC). */
typedef struct {
    const char *sequence;
    G0Set g0;
    G1Set g1;
    const char *iconv_name;
} EscapeSequence;

static const EscapeSequence escape_sequences[] = {
    {"(B", G0_ASCII, G1_KEEP, NULL},
    {"(J", G0_ROMAJI, G1_KEEP, NULL},
    {")I", G0_KEEP, G1_KATAKANA, NULL},
    {"-A", G0_KEEP, G1_SINGLE, "ISO-8859-1"},
    {"-B", G0_KEEP, G1_SINGLE, "ISO-8859-2"},
    {"-C", G0_KEEP, G1_SINGLE, "ISO-8859-3"},
    {"-D", G0_KEEP, G1_SINGLE, "ISO-8859-4"},
    {"-L", G0_KEEP, G1_SINGLE, "ISO-8859-5"},
    {"-G", G0_KEEP, G1_SINGLE, "ISO-8859-6"},
    {"-F", G0_KEEP, G1_SINGLE, "ISO-8859-7"},
    {"-H", G0_KEEP, G1_SINGLE, "ISO-8859-8"},
    {"-M", G0_KEEP, G1_SINGLE, "ISO-8859-9"},
    {"-b", G0_KEEP, G1_SINGLE, "ISO-8859-15"},
    {"-T", G0_KEEP, G1_SINGLE, "TIS-620"},
    /* ESC $ B is the short form ISO 2022 keeps for JIS X 0208 in G0; the
     * long form ESC $ ( B means the same. */
    {"$B", G0_JIS_X0208, G1_KEEP, NULL},
    {"$(B", G0_JIS_X0208, G1_KEEP, NULL},
    {"$(D", G0_JIS_X0212, G1_KEEP, NULL},
    {"$)C", G0_KEEP, G1_KS_X1001, NULL},
    {"$)A", G0_KEEP, G1_GB2312, NULL},
};

/* ------------------------------------------------------------ the sink */

/* Converters opened during one call, and the output being built.  The
 * output is sized for the worst case up front (every input byte becomes
 * at most 3 UTF-8 bytes, see convert_value), so appends never check. */
#define MAX_CONVERTERS 6

typedef struct {
    char *out;
    size_t len;
    size_t capacity; /* bytes of out, the final NUL included */
    struct {
        const char *name;
        iconv_t cd;
    } conv[MAX_CONVERTERS];
    int n_conv;
} Sink;

static void put_utf8(Sink *s, uint32_t cp)
{
    char *o = s->out + s->len;
    if (cp < 0x80) {
        o[0] = (char)cp;
        s->len += 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        s->len += 2;
    } else {
        /* Only BMP code points are produced here (U+FFFD, katakana,
         * Latin-1). */
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        s->len += 3;
    }
}

#define REPLACEMENT 0xFFFDu

static iconv_t get_converter(NovaError **error, Sink *s, const char *name)
{
    for (int i = 0; i < s->n_conv; i++)
        if (strcmp(s->conv[i].name, name) == 0)
            return s->conv[i].cd;
    iconv_t cd = iconv_open("UTF-8", name);
    if (cd == (iconv_t)-1) {
        nova_error_set(error, NOVA_ERROR_UNSUPPORTED, "character set",
                       "the C library cannot convert %s to UTF-8 (iconv: %s)",
                       name, strerror(errno));
        return cd;
    }
    if (s->n_conv == MAX_CONVERTERS) {
        /* Cannot happen with the tables above (at most one G1 single-byte
         * set plus three EUC forms live at once), but stay bounded. */
        iconv_close(s->conv[0].cd);
        memmove(&s->conv[0], &s->conv[1],
                (MAX_CONVERTERS - 1) * sizeof s->conv[0]);
        s->n_conv--;
    }
    s->conv[s->n_conv].name = name;
    s->conv[s->n_conv].cd = cd;
    s->n_conv++;
    return cd;
}

static void close_converters(Sink *s)
{
    for (int i = 0; i < s->n_conv; i++)
        iconv_close(s->conv[i].cd);
    s->n_conv = 0;
}

/* Convert bytes [in, in + n) of encoding `name`, emitting U+FFFD for each
 * byte iconv rejects and carrying on after it. */
static bool put_converted(NovaError **error, Sink *s, const char *name,
                          const uint8_t *in, size_t n)
{
    iconv_t cd = get_converter(error, s, name);
    if (cd == (iconv_t)-1)
        return false;
    iconv(cd, NULL, NULL, NULL, NULL);
    char *inp = (char *)(uintptr_t)in;
    size_t in_left = n;
    while (in_left > 0) {
        char *outp = s->out + s->len;
        /* The buffer holds 3 bytes per input byte (see
         * nova__charset_to_utf8), which no conversion here exceeds. */
        size_t out_left = s->capacity - 1 - s->len;
        size_t r = iconv(cd, &inp, &in_left, &outp, &out_left);
        s->len = (size_t)(outp - s->out);
        if (r != (size_t)-1)
            break;
        if (errno == E2BIG) {
            /* Not reachable given the reserve; never loop forever. */
            break;
        }
        /* EILSEQ (invalid) or EINVAL (truncated at the end): replace one
         * byte and resume from a clean state. */
        put_utf8(s, REPLACEMENT);
        inp++;
        in_left--;
        iconv(cd, NULL, NULL, NULL, NULL);
    }
    /* Flush any shift state (none of our encodings has one; harmless). */
    char *outp = s->out + s->len;
    size_t out_left = s->capacity - 1 - s->len;
    iconv(cd, NULL, NULL, &outp, &out_left);
    s->len = (size_t)(outp - s->out);
    return true;
}

/* Copy UTF-8 (ISO_IR 192), replacing each maximal ill-formed subpart with
 * one U+FFFD (Unicode 15 section 3.9, "U+FFFD substitution of maximal
 * subparts", as Python does).  Our own code: glibc's iconv passes code
 * points above U+10FFFF through. */
static void put_utf8_checked(Sink *s, const uint8_t *in, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t b = in[i];
        if (b < 0x80) {
            s->out[s->len++] = (char)b;
            i++;
            continue;
        }
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF; /* range of the second byte */
        if (b >= 0xC2 && b <= 0xDF) {
            need = 1;
        } else if (b >= 0xE0 && b <= 0xEF) {
            need = 2;
            if (b == 0xE0)
                lo = 0xA0; /* no overlong forms */
            else if (b == 0xED)
                hi = 0x9F; /* no surrogates */
        } else if (b >= 0xF0 && b <= 0xF4) {
            need = 3;
            if (b == 0xF0)
                lo = 0x90;
            else if (b == 0xF4)
                hi = 0x8F; /* nothing above U+10FFFF */
        } else {
            put_utf8(s, REPLACEMENT);
            i++;
            continue;
        }
        size_t k = 1;
        while (k <= need && i + k < n) {
            uint8_t c = in[i + k];
            if (k == 1 ? (c < lo || c > hi) : (c & 0xC0) != 0x80)
                break;
            k++;
        }
        if (k == need + 1) {
            memcpy(s->out + s->len, in + i, k);
            s->len += k;
        } else {
            put_utf8(s, REPLACEMENT);
        }
        i += k;
    }
}

/* ---------------------------------------------------------- the terms */

/* Compare a term with a table entry ignoring case, spaces, '_' and '-':
 * real files write "ISO_IR_100", "ISO-IR 100" or "iso_ir 100". */
static bool loosely_equal(const char *a, size_t a_len, const char *b)
{
    size_t i = 0;
    for (;;) {
        while (i < a_len && (a[i] == ' ' || a[i] == '_' || a[i] == '-'))
            i++;
        while (*b == ' ' || *b == '_' || *b == '-')
            b++;
        if (i == a_len || *b == '\0')
            return i == a_len && *b == '\0';
        char ca = a[i], cb = *b;
        if (ca >= 'a' && ca <= 'z')
            ca = (char)(ca - 'a' + 'A');
        if (ca != cb)
            return false;
        i++;
        b++;
    }
}

static const CharsetTerm *find_term(const char *term, size_t len)
{
    size_t n = sizeof charset_terms / sizeof charset_terms[0];
    for (size_t i = 0; i < n; i++)
        if (strlen(charset_terms[i].term) == len &&
            memcmp(charset_terms[i].term, term, len) == 0)
            return &charset_terms[i];
    for (size_t i = 0; i < n; i++)
        if (loosely_equal(term, len, charset_terms[i].term)) {
            nova_log(NOVA_LOG_WARNING,
                     "Specific Character Set term '%.*s' read as '%s'",
                     (int)len, term, charset_terms[i].term);
            return &charset_terms[i];
        }
    return NULL;
}

/* The term that value 1 of the Specific Character Set designates. PS3.3
 * C.12.1.1.2: an empty value 1 means the default repertoire. */
static const CharsetTerm *first_term(const char *specific_charset)
{
    if (specific_charset == NULL)
        return &charset_terms[0];
    const char *p = specific_charset;
    while (*p == ' ')
        p++;
    const char *end = p;
    while (*end && *end != '\\')
        end++;
    while (end > p && (end[-1] == ' ' || end[-1] == '\0'))
        end--;
    if (end == p)
        return &charset_terms[0];
    const CharsetTerm *t = find_term(p, (size_t)(end - p));
    if (t == NULL) {
        /* Unknown term: reading the value as Latin-1 keeps every byte
         * visible, which beats refusing the whole value. */
        nova_log(NOVA_LOG_WARNING,
                 "unknown Specific Character Set term '%.*s'; "
                 "reading text as ISO_IR 100",
                 (int)(end - p), p);
        return &charset_terms[1]; /* ISO_IR 100 */
    }
    return t;
}

/* ----------------------------------------------------- ISO 2022 decoder */

typedef struct {
    G0Set g0;
    G1Set g1;
    const char *g1_name; /* iconv name for G1_SINGLE */
} CodeState;

/* PS3.5 6.1.2.5.3: the set of value 1 is active again before CR, LF, FF,
 * TAB and every other control character except ESC, before the '^' and
 * '=' of person names, and before the '\' separating values of elements
 * that may have several.  LT, ST, UT and UR have a single value and use
 * '\' as an ordinary character. */
static bool resets_code_state(NovaVR vr, uint8_t b)
{
    if (b < 0x20)
        return b != ESC;
    if (b == '\\')
        return vr != NOVA_VR_LT && vr != NOVA_VR_ST && vr != NOVA_VR_UT &&
               vr != NOVA_VR_UR;
    if (vr == NOVA_VR_PN)
        return b == '^' || b == '=';
    return false;
}

/* Parse the escape sequence at bytes[i] (ISO 2022: ESC, intermediate bytes
 * 0x20-0x2F, one final byte 0x30-0x7E) and apply it.  Returns the bytes
 * consumed.  Unknown or truncated sequences emit U+FFFD. */
static size_t apply_escape(Sink *s, CodeState *st, const uint8_t *bytes,
                           size_t length, size_t i)
{
    size_t j = i + 1;
    while (j < length && bytes[j] >= 0x20 && bytes[j] <= 0x2F)
        j++;
    if (j >= length || bytes[j] < 0x30 || bytes[j] > 0x7E) {
        /* Not a complete escape sequence: drop the ESC alone. */
        put_utf8(s, REPLACEMENT);
        return 1;
    }
    size_t seq_len = j - i; /* bytes after ESC, final byte included */
    size_t n = sizeof escape_sequences / sizeof escape_sequences[0];
    for (size_t k = 0; k < n; k++) {
        const EscapeSequence *e = &escape_sequences[k];
        if (strlen(e->sequence) == seq_len &&
            memcmp(e->sequence, bytes + i + 1, seq_len) == 0) {
            if (e->g0 != G0_KEEP)
                st->g0 = e->g0;
            if (e->g1 != G1_KEEP) {
                st->g1 = e->g1;
                st->g1_name = e->iconv_name;
            }
            return seq_len + 1;
        }
    }
    put_utf8(s, REPLACEMENT);
    return seq_len + 1;
}

static bool in_94(uint8_t b)
{
    return b >= 0x21 && b <= 0x7E;
}

static bool in_94_high(uint8_t b)
{
    return b >= 0xA1 && b <= 0xFE;
}

/* Decode one value as an ISO 2022 stream (PS3.5 6.1.2.5).  `text` is true
 * for the VRs that use the declared set; for the others only the default
 * repertoire applies and any byte >= 0x80 is invalid. */
static bool decode_iso2022(NovaError **error, Sink *s, const CharsetTerm *t,
                           bool text, NovaVR vr, const uint8_t *bytes,
                           size_t length)
{
    CodeState initial = {G0_ASCII, G1_NONE, NULL};
    if (t->g0 == G0_ASCII || t->g0 == G0_ROMAJI)
        initial.g0 = t->g0;
    if (t->g1 != G1_KEEP) {
        initial.g1 = t->g1;
        initial.g1_name = t->iconv_name;
    }
    CodeState st = initial;
    size_t i = 0;
    while (i < length) {
        uint8_t b = bytes[i];
        if (b == ESC && text) {
            i += apply_escape(s, &st, bytes, length, i);
            continue;
        }
        if (b < 0x80 && (b < 0x21 || b == 0x7F ||
                         (st.g0 != G0_JIS_X0208 && st.g0 != G0_JIS_X0212))) {
            /* A single-byte G0 character, space or control.  JIS X 0201
             * romaji differs from ASCII only at 0x5C (yen) and 0x7E
             * (overline); DICOM keeps 0x5C as its value delimiter in every
             * set (PS3.5 6.1.3), so both are read as ASCII, as pydicom and
             * DCMTK do. */
            if (text && resets_code_state(vr, b))
                st = initial;
            s->out[s->len++] = (char)b;
            i++;
            continue;
        }
        if (b < 0x80) {
            /* A 94x94 set in G0: two bytes per character, sent to iconv in
             * their EUC-JP form (JIS X 0212 behind the SS3 byte 0x8F). */
            if (i + 1 >= length || !in_94(bytes[i + 1])) {
                put_utf8(s, REPLACEMENT);
                i++;
                continue;
            }
            uint8_t euc[3];
            size_t n = 0;
            if (st.g0 == G0_JIS_X0212)
                euc[n++] = 0x8F;
            euc[n++] = (uint8_t)(b | 0x80);
            euc[n++] = (uint8_t)(bytes[i + 1] | 0x80);
            if (!put_converted(error, s, "EUC-JP", euc, n))
                return false;
            i += 2;
            continue;
        }
        /* b >= 0x80: G1. */
        if (!text) {
            put_utf8(s, REPLACEMENT);
            i++;
            continue;
        }
        switch (st.g1) {
        case G1_SINGLE:
            if (!put_converted(error, s, st.g1_name, &bytes[i], 1))
                return false;
            i++;
            break;
        case G1_KATAKANA:
            /* JIS X 0201 katakana 0xA1-0xDF are U+FF61-U+FF9F. */
            put_utf8(s, b >= 0xA1 && b <= 0xDF ? 0xFF61u + (b - 0xA1u)
                                               : REPLACEMENT);
            i++;
            break;
        case G1_KS_X1001:
        case G1_GB2312:
            if (!in_94_high(b) || i + 1 >= length ||
                !in_94_high(bytes[i + 1])) {
                put_utf8(s, REPLACEMENT);
                i++;
                break;
            }
            if (!put_converted(error, s,
                               st.g1 == G1_KS_X1001 ? "EUC-KR" : "EUC-CN",
                               &bytes[i], 2))
                return false;
            i += 2;
            break;
        default:
            /* Nothing in G1: the default repertoire has no byte >= 0x80
             * (PS3.5 6.1.2.1).  Real files often hold undeclared Latin-1
             * here; reading it as Latin-1 (as pydicom does) keeps the text
             * legible and loses nothing. */
            put_utf8(s, b);
            i++;
            break;
        }
    }
    return true;
}

/* ------------------------------------------------------------ the API */

static bool vr_uses_charset(NovaVR vr)
{
    switch (vr) {
    case NOVA_VR_SH:
    case NOVA_VR_LO:
    case NOVA_VR_ST:
    case NOVA_VR_LT:
    case NOVA_VR_UC:
    case NOVA_VR_UT:
    case NOVA_VR_PN: return true;
    default: return false;
    }
}

char *nova__charset_to_utf8(NovaError **error, const char *specific_charset,
                            NovaVR vr, const uint8_t *bytes, size_t length)
{
    if (length > 0 && bytes == NULL) {
        nova_error_set(error, NOVA_ERROR_INVALID, "invalid argument",
                       "charset conversion of %zu bytes from NULL", length);
        return NULL;
    }
    /* Fast path: ASCII is the same in every set DICOM allows (G0 starts as
     * ASCII, or as romaji which we read as ASCII), so a value without
     * bytes >= 0x80 and without ESC needs no conversion. */
    bool plain = true;
    for (size_t i = 0; i < length; i++)
        if (bytes[i] >= 0x80 || bytes[i] == ESC) {
            plain = false;
            break;
        }
    if (plain) {
        char *out = nova_malloc(error, length + 1);
        if (out) {
            if (length)
                memcpy(out, bytes, length);
            out[length] = '\0';
        }
        return out;
    }

    /* Worst case output: 3 UTF-8 bytes per input byte (U+FFFD for one
     * byte, a CJK character for two, 4 bytes only for 4-byte GB18030 and
     * UTF-8 sequences), plus slack for the conversion loop and the NUL. */
    size_t capacity;
    if (!nova_size_mul(length, 3, &capacity) ||
        !nova_size_add(capacity, 16, &capacity)) {
        nova_error_set(error, NOVA_ERROR_RANGE, "value too long",
                       "text value of %zu bytes is too long to convert",
                       length);
        return NULL;
    }
    Sink s = {0};
    s.capacity = capacity;
    s.out = nova_malloc(error, capacity);
    if (s.out == NULL)
        return NULL;

    bool text = vr_uses_charset(vr);
    const CharsetTerm *t =
        text ? first_term(specific_charset) : &charset_terms[0];
    bool ok;
    if (t->standalone && strcmp(t->iconv_name, "UTF-8") == 0) {
        put_utf8_checked(&s, bytes, length);
        ok = true;
    } else if (t->standalone) {
        ok = put_converted(error, &s, t->iconv_name, bytes, length);
    } else {
        ok = decode_iso2022(error, &s, t, text, vr, bytes, length);
    }
    close_converters(&s);
    if (!ok) {
        nova_free(s.out);
        return NULL;
    }
    s.out[s.len] = '\0';
    if (capacity - s.len > 4096) {
        /* Give back the worst-case reserve of a long value. */
        char *shrunk = nova_realloc(NULL, s.out, s.len + 1);
        if (shrunk)
            s.out = shrunk;
    }
    return s.out;
}
