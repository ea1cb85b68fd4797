/*
 * test_dicom.c - the Part 10 parser against pydicom as the independent
 * oracle, on the test files Debian's python3-pydicom ships: element values,
 * sequences, every transfer syntax family, the four input paths (file,
 * memory, callback, header-only), and errors on broken input.
 */
#include "nova/nova.h"
#include "test.h"

#include <stdlib.h>
#include <unistd.h>

#define PYDICOM_FILES "/usr/lib/python3/dist-packages/pydicom/data/test_files"

static const char *pyfile(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", PYDICOM_FILES, name);
    if (access(path, R_OK) != 0)
        SKIP("%s absent (install python3-pydicom)", path);
    return path;
}

/* Ask pydicom for str(ds[tag].value) of each tag (or the number of items
 * for sequences); one line per tag. */
static int oracle(const char *path, const uint32_t *tags, int n,
                  char out[][256])
{
    if (access("/usr/bin/python3", X_OK) != 0)
        SKIP("/usr/bin/python3 absent");
    char cmd[4096];
    int pos = snprintf(cmd, sizeof cmd,
                       "/usr/bin/python3 -c '\nimport pydicom,sys\n"
                       "d=pydicom.dcmread(sys.argv[1],force=True)\n"
                       "for t in sys.argv[2:]:\n"
                       " e=d[int(t,16)]\n"
                       " v=e.value\n"
                       " print(len(v) if e.VR==\"SQ\" else "
                       "(\"\\\\\".join(str(x) for x in v) if "
                       "isinstance(v,(list,pydicom.multival.MultiValue)) "
                       "else str(v)))\n' '%s'",
                       path);
    for (int i = 0; i < n; i++)
        pos += snprintf(cmd + pos, sizeof cmd - (size_t)pos, " %08X", tags[i]);
    FILE *f = popen(cmd, "r");
    if (!f)
        SKIP("cannot run python");
    int got = 0;
    while (got < n && fgets(out[got], 256, f)) {
        out[got][strcspn(out[got], "\n")] = '\0';
        got++;
    }
    int rc = pclose(f);
    if (rc != 0 || got != n)
        SKIP("pydicom oracle failed (rc %d)", rc);
    return got;
}

static void test_dictionary(void)
{
    const NovaDictEntry *e = nova_dict_lookup_keyword("PatientName");
    CHECK(e != NULL);
    if (e) {
        CHECK_EQ_INT(e->tag, NOVA_TAG(0x0010, 0x0010));
        CHECK_EQ_INT(e->vr, NOVA_VR_PN);
    }
    e = nova_dict_lookup_tag(NOVA_TAG(0x0028, 0x0030));
    CHECK(e && strcmp(e->keyword, "PixelSpacing") == 0 &&
          strcmp(e->vm, "2") == 0);
    /* Repeating group 60xx (PS3.6: Overlay Data). */
    e = nova_dict_lookup_tag(NOVA_TAG(0x6002, 0x3000));
    CHECK(e && strcmp(e->keyword, "OverlayData") == 0);
    e = nova_dict_lookup_tag(NOVA_TAG_PIXEL_DATA);
    CHECK(e && strcmp(e->vr_text, "OB or OW") == 0);
    CHECK(nova_dict_lookup_tag(NOVA_TAG(0x0009, 0x1001)) == NULL);
    CHECK(nova_dict_lookup_keyword("NoSuchKeyword") == NULL);
}

/* Compare the string form of several elements with pydicom's. */
static void compare_strings(const char *name, const uint32_t *tags, int n)
{
    const char *path = pyfile(name);
    char expect[16][256];
    oracle(path, tags, n, expect);
    NovaError *err = NULL;
    NovaDataset *ds = nova_dataset_read_file(&err, path, 0);
    CHECK_OK(err);
    if (!ds)
        return;
    for (int i = 0; i < n; i++) {
        NovaElementInfo info;
        CHECK(nova_dataset_find(ds, tags[i], &info));
        if (info.vr == NOVA_VR_SQ) {
            CHECK_EQ_INT(nova_dataset_get_item_count(ds, tags[i]),
                         atoi(expect[i]));
            continue;
        }
        char *s = nova_dataset_get_string(&err, ds, tags[i]);
        CHECK_OK(err);
        nova_error_clear(&err);
        if (info.vr == NOVA_VR_DS || info.vr == NOVA_VR_FD ||
            info.vr == NOVA_VR_FL) {
            double a, b;
            nova_dataset_get_double(&err, ds, tags[i], 0, &a);
            CHECK_OK(err);
            b = atof(expect[i]);
            CHECK_NEAR(a, b, 1e-6 * (b < 0 ? -b : b) + 1e-9);
        } else if (s && strcmp(s, expect[i]) != 0) {
            test_fail(__FILE__, __LINE__,
                      "%s (%08X): nova \"%s\" pydicom "
                      "\"%s\"",
                      name, tags[i], s, expect[i]);
        }
        nova_free(s);
    }
    nova_dataset_destroy(ds);
}

static void test_values_explicit_le(void)
{
    const uint32_t tags[] = {0x00100010, 0x00080060, 0x00280010, 0x00280011,
                             0x00200032, 0x00280030, 0x00200013, 0x00080016};
    compare_strings("CT_small.dcm", tags, 8);
}

static void test_values_implicit_sequences(void)
{
    /* rtplan.dcm: implicit VR little endian with nested sequences. */
    const uint32_t tags[] = {0x00100010, 0x300A0010, 0x300A00B0, 0x300A0070,
                             0x00080016};
    compare_strings("rtplan.dcm", tags, 5);
}

static void test_values_big_endian(void)
{
    const uint32_t tags[] = {0x00100010, 0x00280010, 0x00280030, 0x00200032};
    compare_strings("MR_small_bigendian.dcm", tags, 4);
}

static void test_values_deflate(void)
{
    const uint32_t tags[] = {0x00100010, 0x00280010, 0x00280011, 0x00080016};
    compare_strings("image_dfl.dcm", tags, 4);
    NovaError *err = NULL;
    NovaDataset *ds = nova_dataset_read_file(&err, pyfile("image_dfl.dcm"), 0);
    CHECK_OK(err);
    if (ds) {
        CHECK(nova_dataset_get_transfer_syntax(ds)->deflated);
        nova_dataset_destroy(ds);
    }
}

static void test_un_undefined_length(void)
{
    /* A UN element of undefined length holds implicit VR LE items
     * (PS3.5 6.2.2); the parser exposes it as a sequence. */
    NovaError *err = NULL;
    NovaDataset *ds =
        nova_dataset_read_file(&err, pyfile("UN_sequence.dcm"), 0);
    CHECK_OK(err);
    if (!ds)
        return;
    size_t found = 0;
    for (size_t i = 0; i < nova_dataset_count(ds); i++) {
        NovaElementInfo info;
        nova_dataset_element_at(ds, i, &info);
        if (info.vr == NOVA_VR_SQ && info.count > 0)
            found++;
    }
    CHECK(found > 0);
    nova_dataset_destroy(ds);
}

/* Big and little endian copies of the same MR image decode identically. */
static void test_big_endian_pixels(void)
{
    NovaError *err = NULL;
    NovaDataset *le = nova_dataset_read_file(&err, pyfile("MR_small.dcm"), 0);
    NovaDataset *be =
        nova_dataset_read_file(&err, pyfile("MR_small_bigendian.dcm"), 0);
    CHECK_OK(err);
    if (!le || !be) {
        nova_dataset_destroy(le);
        nova_dataset_destroy(be);
        return;
    }
    NovaImageInfo info;
    CHECK(nova_dataset_get_image_info(&err, le, &info));
    size_t n = nova_image_frame_bytes(&info);
    void *a = malloc(n), *b = malloc(n);
    CHECK(nova_dataset_decode_frame(&err, le, 0, a, n));
    CHECK(nova_dataset_decode_frame(&err, be, 0, b, n));
    CHECK_OK(err);
    CHECK(memcmp(a, b, n) == 0);
    free(a);
    free(b);
    nova_dataset_destroy(le);
    nova_dataset_destroy(be);
}

struct mem_reader {
    const uint8_t *data;
    size_t size, pos, chunk;
};

static ssize_t read_chunks(void *user, void *buf, size_t n)
{
    struct mem_reader *r = user;
    size_t k = r->size - r->pos;
    if (k > n)
        k = n;
    if (k > r->chunk)
        k = r->chunk; /* short reads, as a socket gives */
    memcpy(buf, r->data + r->pos, k);
    r->pos += k;
    return (ssize_t)k;
}

static uint8_t *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *d = malloc((size_t)n);
    if (fread(d, 1, (size_t)n, f) != (size_t)n) {
        free(d);
        d = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return d;
}

static void *decode_all(const NovaDataset *ds, size_t *n)
{
    NovaError *err = NULL;
    NovaImageInfo info;
    if (!nova_dataset_get_image_info(&err, ds, &info)) {
        CHECK_OK(err);
        nova_error_free(err);
        return NULL;
    }
    *n = nova_image_frame_bytes(&info);
    void *buf = malloc(*n);
    if (!nova_dataset_decode_frame(&err, ds, 0, buf, *n)) {
        CHECK_OK(err);
        nova_error_free(err);
        free(buf);
        return NULL;
    }
    return buf;
}

/* File, memory, callback and header-only reads give the same dataset. */
static void test_sources_agree(void)
{
    const char *path = pyfile("CT_small.dcm");
    size_t size = 0;
    uint8_t *bytes = slurp(path, &size);
    CHECK(bytes != NULL);
    NovaError *err = NULL;
    struct mem_reader rd = {bytes, size, 0, 777};
    NovaDataset *ds[4] = {
        nova_dataset_read_file(&err, path, 0),
        nova_dataset_read_memory(&err, bytes, size, "mem", 0),
        nova_dataset_read_callback(&err, read_chunks, &rd, "cb", 0),
        nova_dataset_read_file(&err, path, NOVA_READ_HEADER_ONLY),
    };
    CHECK_OK(err);
    size_t n0 = 0;
    void *p0 = ds[0] ? decode_all(ds[0], &n0) : NULL;
    for (int i = 1; i < 4; i++) {
        if (!ds[i] || !ds[0])
            continue;
        /* Header-only parsing stops at Pixel Data (dicom.h): compare the
         * elements up to and including it. */
        size_t count = nova_dataset_count(ds[i]);
        if (i == 3) {
            NovaElementInfo last;
            nova_dataset_element_at(ds[3], count - 1, &last);
            CHECK_EQ_INT(last.tag, NOVA_TAG_PIXEL_DATA);
        } else {
            CHECK_EQ_INT(count, nova_dataset_count(ds[0]));
        }
        for (size_t k = 0; k < count; k++) {
            NovaElementInfo a, b;
            nova_dataset_element_at(ds[0], k, &a);
            nova_dataset_element_at(ds[i], k, &b);
            CHECK_EQ_INT(a.tag, b.tag);
            CHECK_EQ_INT(a.length, b.length);
        }
        size_t n;
        void *p = decode_all(ds[i], &n);
        CHECK(p && p0 && n == n0 && memcmp(p, p0, n) == 0);
        free(p);
    }
    free(p0);
    for (int i = 0; i < 4; i++)
        nova_dataset_destroy(ds[i]);
    free(bytes);
}

/* Every truncation of a real file fails cleanly, naming source and offset,
 * or (cut exactly between elements) parses a prefix. */
static void test_truncation_errors(void)
{
    size_t size = 0;
    uint8_t *bytes = slurp(pyfile("rtplan.dcm"), &size);
    CHECK(bytes != NULL);
    int errors = 0;
    for (size_t cut = 0; cut < size; cut += 7) {
        NovaError *err = NULL;
        NovaDataset *ds = nova_dataset_read_memory(&err, bytes, cut, "cut.dcm",
                                                   NOVA_READ_BORROW);
        if (!ds) {
            errors++;
            const char *m = nova_error_message(err);
            if (!strstr(m, "cut.dcm") || !strstr(m, "offset"))
                test_fail(__FILE__, __LINE__, "cut %zu: message \"%s\"", cut,
                          m);
        }
        nova_dataset_destroy(ds);
        nova_error_free(err);
    }
    CHECK(errors > 0);
    free(bytes);
}

/* Sequences nested far deeper than the limit fail with a parse error, not
 * a stack overflow. */
static void test_deep_nesting(void)
{
    const int depth = 10000;
    size_t size = (size_t)depth * 24 + 16;
    uint8_t *b = calloc(1, size), *p = b;
    for (int i = 0; i < depth; i++) {
        /* (0008,1115) SQ undefined length, then an item of undefined
         * length, in implicit VR little endian. */
        const uint8_t sq[] = {0x08, 0x00, 0x15, 0x11, 0xFF, 0xFF, 0xFF, 0xFF,
                              0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF};
        memcpy(p, sq, sizeof sq);
        p += sizeof sq;
    }
    NovaError *err = NULL;
    NovaDataset *ds = nova_dataset_read_memory(&err, b, (size_t)(p - b),
                                               "deep.dcm", NOVA_READ_BORROW);
    CHECK(ds == NULL);
    CHECK(strstr(nova_error_message(err), "nested deeper") != NULL);
    CHECK(strstr(nova_error_message(err), "deep.dcm") != NULL);
    nova_error_free(err);
    nova_dataset_destroy(ds);
    free(b);
}

static void test_absurd_length(void)
{
    /* Implicit VR: (0010,0010) with length 0xFFFFFFF0. */
    const uint8_t b[] = {0x08, 0x00, 0x05, 0x00, 0x0A, 0x00, 0x00,
                         0x00, 'I',  'S',  'O',  '_',  'I',  'R',
                         ' ',  '1',  '0',  '0',  0x10, 0x00, 0x10,
                         0x00, 0xF0, 0xFF, 0xFF, 0xFF, 'A',  'B'};
    NovaError *err = NULL;
    NovaDataset *ds = nova_dataset_read_memory(&err, b, sizeof b, "abs.dcm",
                                               NOVA_READ_BORROW);
    CHECK(ds == NULL);
    CHECK(strstr(nova_error_message(err), "offset 18") != NULL);
    CHECK(strstr(nova_error_message(err), "(0010,0010)") != NULL);
    nova_error_free(err);
}

static void test_not_dicom(void)
{
    const char text[] = "This is a README, not a DICOM file at all.\n";
    NovaError *err = NULL;
    NovaDataset *ds = nova_dataset_read_memory(&err, text, sizeof text,
                                               "README", NOVA_READ_BORROW);
    CHECK(ds == NULL);
    CHECK(strstr(nova_error_message(err), "not a DICOM file") != NULL);
    nova_error_free(err);
}

/* Allocation failures anywhere in a parse give an error, never a crash or
 * a leak (checked under ASan). */
static void test_alloc_failures(void)
{
    const char *path = pyfile("rtplan.dcm");
    for (long n = 0; n < 400; n++) {
        NovaError *err = NULL;
        nova_alloc_fail_after(n);
        NovaDataset *ds = nova_dataset_read_file(&err, path, 0);
        long used = nova_alloc_fail_after(-1);
        if (ds) {
            nova_dataset_destroy(ds);
            if (used <= n)
                break; /* the failure point was past the last allocation */
        } else {
            CHECK(err != NULL);
        }
        nova_error_free(err);
    }
}

int main(void)
{
    RUN(test_dictionary);
    RUN(test_values_explicit_le);
    RUN(test_values_implicit_sequences);
    RUN(test_values_big_endian);
    RUN(test_values_deflate);
    RUN(test_un_undefined_length);
    RUN(test_big_endian_pixels);
    RUN(test_sources_agree);
    RUN(test_truncation_errors);
    RUN(test_deep_nesting);
    RUN(test_absurd_length);
    RUN(test_not_dicom);
    RUN(test_alloc_failures);
    return test_done();
}
