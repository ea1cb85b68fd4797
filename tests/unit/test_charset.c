/*
 * test_charset.c - text values to UTF-8 (src/lib/dicom/charset.c).
 *
 * The oracle is pydicom: tests/unit/data/charset_golden.tsv holds every
 * text element of pydicom's character-set test files (PS3.5 Annexes H, I,
 * J and K examples among them) with pydicom's decoding; the TSV is made
 * only by tools/dicom/gen_charset_golden.py.  Hand-made cases cover what
 * those files lack (GB 2312, GBK, JIS X 0212, unknown terms, invalid
 * bytes); their expected bytes come from Python's codecs.  A random-input
 * case checks that any bytes give valid UTF-8 and never crash.
 */
#include "../../src/lib/dicom/charset.h"
#include "test.h"

#include <stdlib.h>

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode hex text [s, s+n) into out (n/2 bytes); false when malformed. */
static bool unhex(const char *s, size_t n, uint8_t *out)
{
    if (n % 2)
        return false;
    for (size_t i = 0; i < n; i += 2) {
        int hi = hex_value(s[i]), lo = hex_value(s[i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i / 2] = (uint8_t)(hi * 16 + lo);
    }
    return true;
}

static NovaVR vr_of(const char *s)
{
    return strlen(s) == 2 ? nova_vr_from_chars(s[0], s[1]) : NOVA_VR_NONE;
}

/* Split line at tabs into at most max fields (in place). */
static int split_tabs(char *line, char **fields, int max)
{
    int n = 0;
    char *p = line;
    while (n < max) {
        fields[n++] = p;
        char *tab = strchr(p, '\t');
        if (!tab)
            break;
        *tab = '\0';
        p = tab + 1;
    }
    return n;
}

static void test_pydicom_golden(void)
{
    const char *path = NOVA_SOURCE_DIR "/tests/unit/data/charset_golden.tsv";
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f)
        return;
    char line[8192];
    int n_rows = 0, n_non_ascii = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#')
            continue;
        line[strcspn(line, "\n")] = '\0';
        char *fld[7];
        if (split_tabs(line, fld, 7) < 6) {
            test_fail(__FILE__, __LINE__, "malformed golden row: %s", line);
            continue;
        }
        size_t raw_len = strlen(fld[4]) / 2, exp_len = strlen(fld[5]) / 2;
        uint8_t *raw = malloc(raw_len + 1);
        char *expected = malloc(exp_len + 1);
        CHECK(unhex(fld[4], strlen(fld[4]), raw));
        CHECK(unhex(fld[5], strlen(fld[5]), (uint8_t *)expected));
        expected[exp_len] = '\0';
        for (size_t i = 0; i < raw_len; i++)
            if (raw[i] >= 0x80 || raw[i] == 0x1B) {
                n_non_ascii++;
                break;
            }
        NovaError *err = NULL;
        char *got = nova__charset_to_utf8(&err, fld[3][0] ? fld[3] : NULL,
                                          vr_of(fld[2]), raw, raw_len);
        CHECK_OK(err);
        if (!got || strcmp(got, expected) != 0)
            test_fail(__FILE__, __LINE__,
                      "%s %s (%s, '%s'): got '%s', "
                      "pydicom '%s'",
                      fld[0], fld[1], fld[2], fld[3], got ? got : "(null)",
                      expected);
        nova_free(got);
        nova_error_free(err);
        free(raw);
        free(expected);
        n_rows++;
    }
    fclose(f);
    /* The TSV must really hold the charset files (178 values with pydicom
     * 2.3.1, 30-odd of them non-ASCII). */
    CHECK(n_rows >= 150);
    CHECK(n_non_ascii >= 25);
}

/* Convert and compare with expected UTF-8. */
static void check_convert(int line, const char *charset, NovaVR vr,
                          const char *bytes, size_t length,
                          const char *expected)
{
    NovaError *err = NULL;
    char *got = nova__charset_to_utf8(&err, charset, vr, (const uint8_t *)bytes,
                                      length);
    if (err)
        test_fail(__FILE__, line, "error: %s", nova_error_message(err));
    else if (!got || strcmp(got, expected) != 0)
        test_fail(__FILE__, line, "'%s' got '%s', expected '%s'",
                  charset ? charset : "(default)", got ? got : "(null)",
                  expected);
    nova_free(got);
    nova_error_free(err);
}

#define CONVERT(cs, vr, lit, expected)                                         \
    check_convert(__LINE__, cs, vr, lit, sizeof(lit) - 1, expected)

static void test_hand_made(void)
{
    /* Plain ASCII under every set, and empty values. */
    CONVERT(NULL, NOVA_VR_PN, "Doe^John", "Doe^John");
    CONVERT("ISO_IR 192", NOVA_VR_LO, "", "");
    /* GB 2312 in G1 (PS3.5 Annex K example 2 spelling): 王^小东. */
    CONVERT("\\ISO 2022 IR 58", NOVA_VR_PN,
            "Wang^XiaoDong=\x1b$)A\xcd\xf5^\x1b$)A\xd0\xa1\xb6\xab=",
            "Wang^XiaoDong=\xe7\x8e\x8b^\xe5\xb0\x8f\xe4\xb8\x9c=");
    /* GBK (stand-alone): 王小東. */
    CONVERT("GBK", NOVA_VR_LO, "\xcd\xf5\xd0\xa1\x96\x7c",
            "\xe7\x8e\x8b\xe5\xb0\x8f\xe6\x9d\xb1");
    /* GB18030 four-byte sequence: U+20000. */
    CONVERT("GB18030", NOVA_VR_LO, "\x95\x32\x82\x36", "\xf0\xa0\x80\x80");
    /* JIS X 0212 in G0 (ISO 2022 IR 159): U+4E02. */
    CONVERT("\\ISO 2022 IR 87\\ISO 2022 IR 159", NOVA_VR_LO, "\x1b$(D0!\x1b(B",
            "\xe4\xb8\x82");
    /* Katakana through ISO_IR 13 without code extensions: ｱ. */
    CONVERT("ISO_IR 13", NOVA_VR_SH, "\xb1", "\xef\xbd\xb1");
    /* A switch to Greek G1 inside an ISO 2022 IR 100 value. */
    CONVERT("ISO 2022 IR 100\\ISO 2022 IR 126", NOVA_VR_LO,
            "\xe9\x1b-F\xc5\xeb", "\xc3\xa9\xce\x95\xce\xbb");
    /* PS3.5 6.1.2.5.3: '^' resets G1 to value 1's set (Latin-1), so the
     * second 0xC5 is Å, not Ε. */
    CONVERT("ISO 2022 IR 100\\ISO 2022 IR 126", NOVA_VR_PN, "\x1b-F\xc5^\xc5",
            "\xce\x95^\xc3\x85");
    /* In LT the backslash is text and does not reset. */
    CONVERT("ISO 2022 IR 100\\ISO 2022 IR 126", NOVA_VR_LT, "\x1b-F\xc5\\\xc5",
            "\xce\x95\\\xce\x95");
    /* Unknown term: read as ISO_IR 100 (with a warning). */
    CONVERT("ISO_IR 999", NOVA_VR_LO, "\xe9", "\xc3\xa9");
    /* Non-standard spelling of a known term. */
    CONVERT("ISO_IR_144", NOVA_VR_LO, "\xbb", "\xd0\x9b");
    /* Invalid bytes become U+FFFD. */
    CONVERT("ISO_IR 192", NOVA_VR_LO,
            "a\xff"
            "b",
            "a\xef\xbf\xbd"
            "b");
    /* A truncated sequence is one maximal subpart: one U+FFFD (as Python);
     * a code point above U+10FFFF is four. */
    CONVERT("ISO_IR 192", NOVA_VR_LO, "\xe4\xb8", "\xef\xbf\xbd");
    CONVERT("ISO_IR 192", NOVA_VR_LO, "a\xf4\x9b\xa1\x92",
            "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    CONVERT("ISO_IR 13", NOVA_VR_SH, "\xe0", "\xef\xbf\xbd");
    CONVERT("\\ISO 2022 IR 149", NOVA_VR_LO, "\x1b$)C\xb0", "\xef\xbf\xbd");
    CONVERT("\\ISO 2022 IR 87", NOVA_VR_LO, "\x1b$B\x30", "\xef\xbf\xbd");
    /* Truncated and unknown escape sequences. */
    CONVERT("\\ISO 2022 IR 87", NOVA_VR_LO, "ab\x1b", "ab\xef\xbf\xbd");
    CONVERT("\\ISO 2022 IR 87", NOVA_VR_LO, "\x1b$)Zx", "\xef\xbf\xbdx");
    /* ISO-8859-8 leaves 0xA1 unassigned. */
    CONVERT("ISO_IR 138", NOVA_VR_LO, "\xa1", "\xef\xbf\xbd");
    /* Only text VRs use the declared set: CS is ASCII. */
    CONVERT("ISO_IR 100", NOVA_VR_CS, "\xe9", "\xef\xbf\xbd");
    /* Undeclared high bytes in a text VR read as Latin-1, as pydicom. */
    CONVERT(NULL, NOVA_VR_LO, "\xe9", "\xc3\xa9");
}

/* Is s (NUL-terminated) well-formed UTF-8 (RFC 3629)? */
static bool valid_utf8(const unsigned char *s)
{
    while (*s) {
        uint32_t c = *s;
        int n = c < 0x80             ? 0
                : (c & 0xE0) == 0xC0 ? 1
                : (c & 0xF0) == 0xE0 ? 2
                : (c & 0xF8) == 0xF0 ? 3
                                     : -1;
        if (n < 0 || (n == 1 && c < 0xC2) || c > 0xF4)
            return false;
        uint32_t cp = n == 0 ? c : c & (0x3Fu >> n);
        for (int i = 1; i <= n; i++) {
            if ((s[i] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i] & 0x3Fu);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return false;
        s += n + 1;
    }
    return true;
}

static void test_random_bytes(void)
{
    static const char *const sets[] = {NULL,
                                       "ISO_IR 100",
                                       "ISO_IR 13",
                                       "ISO_IR 192",
                                       "GB18030",
                                       "GBK",
                                       "\\ISO 2022 IR 87\\ISO 2022 IR 159",
                                       "ISO 2022 IR 13\\ISO 2022 IR 87",
                                       "\\ISO 2022 IR 149",
                                       "\\ISO 2022 IR 58",
                                       "ISO_IR 166",
                                       "bogus"};
    static const NovaVR vrs[] = {NOVA_VR_PN, NOVA_VR_LO, NOVA_VR_LT,
                                 NOVA_VR_CS};
    uint32_t seed = 12345;
    uint8_t buf[64];
    int bad = 0;
    /* Warnings for the bogus term would flood stderr. */
    nova_log_set_level(NOVA_LOG_ERROR);
    for (int iter = 0; iter < 1000; iter++) {
        size_t len = (size_t)(iter % 64);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            uint8_t b = (uint8_t)(seed >> 16);
            /* Favour ESC and the bytes of escape sequences. */
            if ((seed >> 8) % 7 == 0)
                b = "\x1b$()-BJIA^=\\\r"[(seed >> 4) % 14];
            buf[i] = b;
        }
        for (size_t s = 0; s < sizeof sets / sizeof sets[0]; s++)
            for (size_t v = 0; v < sizeof vrs / sizeof vrs[0]; v++) {
                NovaError *err = NULL;
                char *out =
                    nova__charset_to_utf8(&err, sets[s], vrs[v], buf, len);
                if (!out || !valid_utf8((const unsigned char *)out)) {
                    if (bad++ < 3) {
                        printf("# invalid UTF-8 from '%s' %s:",
                               sets[s] ? sets[s] : "", nova_vr_name(vrs[v]));
                        for (size_t i = 0; i < len; i++)
                            printf(" %02x", buf[i]);
                        printf("\n");
                    }
                }
                nova_free(out);
                nova_error_free(err);
            }
    }
    nova_log_set_level(NOVA_LOG_WARNING);
    CHECK_EQ_INT(bad, 0);
}

static void test_alloc_failure(void)
{
    NovaError *err = NULL;
    nova_alloc_fail_after(0);
    char *out = nova__charset_to_utf8(&err, "ISO_IR 100", NOVA_VR_PN,
                                      (const uint8_t *)"\xe9", 1);
    nova_alloc_fail_after(-1);
    CHECK(out == NULL);
    CHECK_EQ_INT(nova_error_code(err), NOVA_ERROR_NOMEM);
    nova_error_free(err);
}

int main(void)
{
    RUN(test_pydicom_golden);
    RUN(test_hand_made);
    RUN(test_random_bytes);
    RUN(test_alloc_failure);
    return test_done();
}
