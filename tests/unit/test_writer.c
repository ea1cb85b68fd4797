/*
 * test_writer.c - the DICOM writer: UIDs, the dataset builder's bytes
 * (checked by a small independent walker here and by DCMTK's dcmdump), and
 * CT Image Storage series checked by dicom3tools' dciodvfy (no errors),
 * pydicom (pixels and geometry equal what was written, native and RLE) and
 * Nova's own reader (a round trip through nova_volume_read_dicom).
 */
#include "test.h"

#include "nova/nova.h"

#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define PYTHON "/usr/bin/python3"

/* ------------------------------------------------------------ helpers */

/* Parse a decimal string into 16 big-endian bytes (test-only big int). */
static bool decimal_to_u128(const char *s, uint8_t out[16])
{
    memset(out, 0, 16);
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        unsigned carry = (unsigned)(*s - '0');
        for (int i = 15; i >= 0; i--) {
            unsigned v = out[i] * 10u + carry;
            out[i] = (uint8_t)v;
            carry = v >> 8;
        }
        if (carry)
            return false;
    }
    return true;
}

static bool tool_exists(const char *path)
{
    return access(path, X_OK) == 0;
}

/* Run a shell command, capture up to size-1 bytes of output; exit status
 * through *status. */
static void run_capture(const char *cmd, char *buf, size_t size, int *status)
{
    FILE *p = popen(cmd, "r");
    size_t n = 0;
    if (p) {
        size_t r;
        while (n + 1 < size && (r = fread(buf + n, 1, size - 1 - n, p)) > 0)
            n += r;
        char sink[4096];
        while (fread(sink, 1, sizeof sink, p) > 0) {
        }
        *status = pclose(p);
    } else {
        *status = -1;
    }
    buf[n] = '\0';
}

static NovaVolume *make_volume(void)
{
    size_t dims[3] = {48, 40, 4};
    NovaGeometry g;
    nova_geometry_init(&g);
    g.spacing[0] = 0.8;
    g.spacing[1] = 0.7;
    g.spacing[2] = 2.5;
    g.origin[0] = -20.5;
    g.origin[1] = -15.25;
    g.origin[2] = -30.0;
    NovaVolume *v = nova_volume_create(NULL, NOVA_DTYPE_INT16, dims, &g);
    int16_t *p = nova_volume_get_data(v);
    for (size_t k = 0; k < dims[2]; k++)
        for (size_t j = 0; j < dims[1]; j++)
            for (size_t i = 0; i < dims[0]; i++)
                p[(k * dims[1] + j) * dims[0] + i] =
                    (int16_t)(((int)(i * 97 + j * 31 + k * 1013) % 4000) -
                              1024);
    p[0] = -1024;
    p[1] = 3071;
    p[2] = -1;
    return v;
}

/* --------------------------------------------------------------- UIDs */

static void test_uid_valid(void)
{
    CHECK(nova_uid_is_valid("1.2.840.10008.1.2.1"));
    CHECK(nova_uid_is_valid("2.25.0"));
    CHECK(!nova_uid_is_valid(""));
    CHECK(!nova_uid_is_valid("1..2"));
    CHECK(!nova_uid_is_valid("1.2."));
    CHECK(!nova_uid_is_valid("1.02"));
    CHECK(!nova_uid_is_valid("1.2a"));
    char longer[80];
    memset(longer, '1', 65);
    longer[65] = '\0';
    CHECK(!nova_uid_is_valid(longer));
}

static void test_uid_random(void)
{
    char a[NOVA_UID_MAX + 1], b[NOVA_UID_MAX + 1];
    NovaError *e = NULL;
    CHECK(nova_uid_generate(&e, a));
    CHECK(nova_uid_generate(&e, b));
    CHECK_OK(e);
    CHECK(nova_uid_is_valid(a));
    CHECK(strncmp(a, "2.25.", 5) == 0);
    CHECK(strcmp(a, b) != 0);
    /* The suffix is a version 4, variant 10 UUID (RFC 9562). */
    uint8_t u[16];
    CHECK(decimal_to_u128(a + 5, u));
    CHECK_EQ_INT(u[6] >> 4, 4);
    CHECK_EQ_INT(u[8] >> 6, 2);
}

static void test_uid_seeded(void)
{
    char a[NOVA_UID_MAX + 1], b[NOVA_UID_MAX + 1], c[NOVA_UID_MAX + 1];
    NovaError *e = NULL;
    CHECK(nova_uid_from_seed(&e, NULL, 42, "series", a));
    CHECK(nova_uid_from_seed(&e, "2.25", 42, "series", b));
    CHECK(nova_uid_from_seed(&e, NULL, 42, "study", c));
    CHECK_OK(e);
    CHECK_STR(a, b);
    CHECK(strcmp(a, c) != 0);
    CHECK(nova_uid_is_valid(a));
    uint8_t u[16];
    CHECK(decimal_to_u128(a + 5, u));
    CHECK_EQ_INT(u[6] >> 4, 8);
    CHECK_EQ_INT(u[8] >> 6, 2);
    /* A configured root. */
    CHECK(nova_uid_from_seed(&e, "1.2.826.0.1.3680043.10.999", 1, "x", a));
    CHECK_OK(e);
    CHECK(strncmp(a, "1.2.826.0.1.3680043.10.999.", 27) == 0);
    CHECK(nova_uid_is_valid(a));
    CHECK(nova_uid_generate_under(&e, "1.2.3", b));
    CHECK_OK(e);
    CHECK(strncmp(b, "1.2.3.", 6) == 0 && nova_uid_is_valid(b));
    /* A root with no room left, and a bad root. */
    char root[64];
    memset(root, '1', 55);
    root[55] = '\0';
    CHECK(!nova_uid_from_seed(&e, root, 1, "x", a));
    CHECK(e && nova_error_code(e) == NOVA_ERROR_RANGE);
    nova_error_clear(&e);
    CHECK(!nova_uid_from_seed(&e, "1.02.3", 1, "x", a));
    CHECK(e && nova_error_code(e) == NOVA_ERROR_INVALID);
    nova_error_clear(&e);
}

/* ------------------------------------------------------------ builder */

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static bool long_vr(const uint8_t *vr)
{
    static const char *l[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ",
                              "UC", "UN", "UR", "UT", "SV", "UV"};
    for (size_t i = 0; i < sizeof l / sizeof l[0]; i++)
        if (vr[0] == l[i][0] && vr[1] == l[i][1])
            return true;
    return false;
}

/* Walk an explicit VR LE dataset of `len` bytes: tags strictly increasing,
 * every length even, nested items walked too; returns the element count or
 * -1 on a violation. */
static int walk(const uint8_t *p, size_t len, int depth)
{
    size_t at = 0;
    uint32_t last = 0;
    int count = 0;
    while (at < len) {
        if (at + 8 > len)
            return -1;
        uint32_t tag = (uint32_t)rd16(p + at) << 16 | rd16(p + at + 2);
        if (count > 0 && tag <= last)
            return -1;
        last = tag;
        const uint8_t *vr = p + at + 4;
        uint32_t vlen;
        size_t hdr;
        if (long_vr(vr)) {
            vlen = rd32(p + at + 8);
            hdr = 12;
        } else {
            vlen = rd16(p + at + 6);
            hdr = 8;
        }
        if (vlen == 0xFFFFFFFFu || (vlen & 1) || at + hdr + vlen > len)
            return -1;
        if (vr[0] == 'S' && vr[1] == 'Q') {
            size_t in = 0;
            const uint8_t *q = p + at + hdr;
            while (in < vlen) {
                if (rd16(q + in) != 0xFFFE || rd16(q + in + 2) != 0xE000)
                    return -1;
                uint32_t ilen = rd32(q + in + 4);
                if (in + 8 + ilen > vlen ||
                    walk(q + in + 8, ilen, depth + 1) < 0)
                    return -1;
                in += 8 + ilen;
            }
        }
        at += hdr + vlen;
        count++;
    }
    return count;
}

static const uint8_t *find_element(const uint8_t *p, size_t len, uint32_t tag,
                                   uint32_t *vlen)
{
    size_t at = 0;
    while (at + 8 <= len) {
        uint32_t t = (uint32_t)rd16(p + at) << 16 | rd16(p + at + 2);
        size_t hdr = long_vr(p + at + 4) ? 12 : 8;
        uint32_t l = hdr == 12 ? rd32(p + at + 8) : rd16(p + at + 6);
        if (t == tag) {
            *vlen = l;
            return p + at + hdr;
        }
        at += hdr + l;
    }
    return NULL;
}

static NovaDicomBuilder *sample_builder(void)
{
    NovaError *e = NULL;
    NovaDicomBuilder *b = nova_dicom_builder_create(&e);
    uint16_t rows = 7;
    /* Added out of order on purpose. */
    CHECK(nova_dicom_builder_add_uint16(&e, b, NOVA_TAG(0x0028, 0x0010), &rows,
                                        1));
    CHECK(nova_dicom_builder_add_string(&e, b, NOVA_TAG(0x0010, 0x0010),
                                        NOVA_VR_PN, "Doe^J"));
    CHECK(nova_dicom_builder_add_string(&e, b, NOVA_TAG(0x0008, 0x0018),
                                        NOVA_VR_UI, "1.2.3.4.5"));
    CHECK(nova_dicom_builder_add_string(&e, b, NOVA_TAG(0x0008, 0x0016),
                                        NOVA_VR_UI,
                                        "1.2.840.10008.5.1.4.1.1.7"));
    CHECK(nova_dicom_builder_begin_sequence(&e, b, NOVA_TAG(0x0008, 0x1140)));
    for (int i = 0; i < 2; i++) {
        CHECK(nova_dicom_builder_begin_item(&e, b));
        CHECK(nova_dicom_builder_add_string(&e, b, NOVA_TAG(0x0008, 0x1155),
                                            NOVA_VR_UI,
                                            i ? "1.2.33" : "1.2.3"));
        CHECK(nova_dicom_builder_add_string(&e, b, NOVA_TAG(0x0008, 0x1150),
                                            NOVA_VR_UI,
                                            "1.2.840.10008.5.1.4.1.1.2"));
        /* a nested, empty sequence */
        CHECK(
            nova_dicom_builder_begin_sequence(&e, b, NOVA_TAG(0x0040, 0xA170)));
        CHECK(nova_dicom_builder_end_sequence(&e, b));
        CHECK(nova_dicom_builder_end_item(&e, b));
    }
    CHECK(nova_dicom_builder_end_sequence(&e, b));
    double ds[3] = {1.0 / 3.0, -123456.789012345, 1e-20};
    CHECK(nova_dicom_builder_add_ds(&e, b, NOVA_TAG(0x0020, 0x0032), ds, 3));
    /* replacing an element keeps one copy */
    CHECK(nova_dicom_builder_add_string(&e, b, NOVA_TAG(0x0010, 0x0010),
                                        NOVA_VR_PN, "Roe^Jane"));
    CHECK(nova_dicom_builder_add_string(&e, b, NOVA_TAG(0x0010, 0x0020),
                                        NOVA_VR_LO, "ABC"));
    CHECK_OK(e);
    return b;
}

static void test_builder_bytes(void)
{
    NovaError *e = NULL;
    NovaDicomBuilder *b = sample_builder();
    uint8_t *out;
    size_t len;
    CHECK(nova_dicom_builder_write_memory(&e, b, NOVA_UID_EXPLICIT_VR_LE, &out,
                                          &len));
    CHECK_OK(e);
    if (!out) {
        nova_dicom_builder_destroy(b);
        return;
    }
    CHECK(len > 132 && memcmp(out + 128, "DICM", 4) == 0);
    for (int i = 0; i < 128; i++)
        CHECK_EQ_INT(out[i], 0);
    /* (0002,0000) UL holds the length of the rest of the meta group. */
    CHECK_EQ_INT(rd16(out + 132), 0x0002);
    CHECK_EQ_INT(rd16(out + 134), 0x0000);
    uint32_t meta_len = rd32(out + 140);
    size_t ds_at = 144 + meta_len;
    CHECK_EQ_INT(rd16(out + ds_at), 0x0008); /* first non-meta group */
    int n_meta = walk(out + 132, 12 + meta_len, 0);
    CHECK_EQ_INT(n_meta, 7);
    uint32_t vl;
    const uint8_t *v =
        find_element(out + 132, 12 + meta_len, NOVA_TAG(0x0002, 0x0010), &vl);
    CHECK(v && vl == 20 && memcmp(v, "1.2.840.10008.1.2.1\0", 20) == 0);
    v = find_element(out + 132, 12 + meta_len, NOVA_TAG(0x0002, 0x0003), &vl);
    CHECK(v && vl == 10 && memcmp(v, "1.2.3.4.5\0", 10) == 0);
    v = find_element(out + 132, 12 + meta_len, NOVA_TAG(0x0002, 0x0001), &vl);
    CHECK(v && vl == 2 && v[0] == 0 && v[1] == 1);
    /* the dataset: sorted, even, sequences walkable */
    int n = walk(out + ds_at, len - ds_at, 0);
    CHECK_EQ_INT(n, 7);
    v = find_element(out + ds_at, len - ds_at, NOVA_TAG(0x0010, 0x0010), &vl);
    CHECK(v && vl == 8 && memcmp(v, "Roe^Jane", 8) == 0);
    v = find_element(out + ds_at, len - ds_at, NOVA_TAG(0x0010, 0x0020), &vl);
    CHECK(v && vl == 4 && memcmp(v, "ABC ", 4) == 0); /* space pad */
    v = find_element(out + ds_at, len - ds_at, NOVA_TAG(0x0008, 0x0018), &vl);
    CHECK(v && vl == 10 && v[9] == 0); /* UI: NUL pad */
    v = find_element(out + ds_at, len - ds_at, NOVA_TAG(0x0020, 0x0032), &vl);
    CHECK(v != NULL);
    if (v) {
        /* each DS value at most 16 characters and parses back close */
        char text[128];
        size_t tl = vl < sizeof text - 1 ? vl : sizeof text - 1;
        memcpy(text, v, tl);
        text[tl] = '\0';
        char *save = NULL, *tok = strtok_r(text, "\\", &save);
        double want[3] = {1.0 / 3.0, -123456.789012345, 1e-20};
        for (int i = 0; i < 3; i++) {
            CHECK(tok != NULL);
            if (!tok)
                break;
            while (tok[strlen(tok) - 1] == ' ')
                tok[strlen(tok) - 1] = '\0';
            CHECK(strlen(tok) <= 16);
            CHECK_NEAR(strtod(tok, NULL), want[i], fabs(want[i]) * 1e-9);
            tok = strtok_r(NULL, "\\", &save);
        }
    }
    /* DCMTK reads it: write a file and dump it. */
    char path[512];
    snprintf(path, sizeof path, "%s/builder.dcm", test_tmp_dir());
    CHECK(nova_dicom_builder_write_file(&e, b, NOVA_UID_EXPLICIT_VR_LE, path));
    CHECK_OK(e);
    if (tool_exists("/usr/bin/dcmdump")) {
        char cmd[700], buf[8192];
        int st;
        snprintf(cmd, sizeof cmd, "/usr/bin/dcmdump -E '%s' 2>&1", path);
        run_capture(cmd, buf, sizeof buf, &st);
        CHECK_EQ_INT(st, 0);
        CHECK(strstr(buf, "[Roe^Jane]") != NULL);
        CHECK(strstr(buf, "(fffe,e000) na (Item with explicit length #=3)") !=
              NULL);
        CHECK(strstr(buf, "E:") == NULL && strstr(buf, "W:") == NULL);
    }
    nova_free(out);
    nova_dicom_builder_destroy(b);
}

static void test_builder_errors(void)
{
    NovaError *e = NULL;
    NovaDicomBuilder *b = nova_dicom_builder_create(&e);
    CHECK(!nova_dicom_builder_add_string(&e, b, NOVA_TAG(0x0002, 0x0010),
                                         NOVA_VR_UI, "1.2"));
    CHECK(e && nova_error_code(e) == NOVA_ERROR_INVALID);
    nova_error_clear(&e);
    CHECK(!nova_dicom_builder_end_item(&e, b));
    CHECK(e != NULL);
    nova_error_clear(&e);
    CHECK(!nova_dicom_builder_add_string(&e, b, NOVA_TAG(0x0010, 0x0010),
                                         NOVA_VR_US, "x"));
    CHECK(e != NULL);
    nova_error_clear(&e);
    /* a 16-bit length VR cannot hold 70000 bytes */
    char *big = malloc(70001);
    memset(big, 'A', 70000);
    big[70000] = '\0';
    CHECK(!nova_dicom_builder_add_string(&e, b, NOVA_TAG(0x0010, 0x4000),
                                         NOVA_VR_LO, big));
    CHECK(e && nova_error_code(e) == NOVA_ERROR_RANGE);
    nova_error_clear(&e);
    CHECK(nova_dicom_builder_add_string(&e, b, NOVA_TAG(0x0010, 0x4000),
                                        NOVA_VR_LT, "short"));
    free(big);
    uint8_t *out = NULL;
    size_t len = 0;
    /* no SOP Class / Instance UID */
    CHECK(!nova_dicom_builder_write_memory(&e, b, NOVA_UID_EXPLICIT_VR_LE, &out,
                                           &len));
    CHECK(e && strstr(nova_error_message(e), "(0008,0016)") != NULL);
    nova_error_clear(&e);
    CHECK(nova_dicom_builder_add_string(&e, b, NOVA_TAG(0x0008, 0x0016),
                                        NOVA_VR_UI, "1.2"));
    CHECK(nova_dicom_builder_add_string(&e, b, NOVA_TAG(0x0008, 0x0018),
                                        NOVA_VR_UI, "1.2.3"));
    /* an open sequence */
    CHECK(nova_dicom_builder_begin_sequence(&e, b, NOVA_TAG(0x0008, 0x1140)));
    CHECK(!nova_dicom_builder_add_string(&e, b, NOVA_TAG(0x0008, 0x1150),
                                         NOVA_VR_UI, "1.2"));
    nova_error_clear(&e);
    CHECK(!nova_dicom_builder_write_memory(&e, b, NOVA_UID_EXPLICIT_VR_LE, &out,
                                           &len));
    CHECK(e != NULL);
    nova_error_clear(&e);
    CHECK(nova_dicom_builder_end_sequence(&e, b));
    /* native pixel data with an encapsulated syntax, unknown syntax */
    uint8_t px[4] = {1, 2, 3, 4};
    CHECK(nova_dicom_builder_set_pixel_data(&e, b, NOVA_VR_OW, px, 4));
    CHECK(!nova_dicom_builder_write_memory(&e, b, NOVA_UID_RLE_LOSSLESS, &out,
                                           &len));
    CHECK(e != NULL);
    nova_error_clear(&e);
    CHECK(!nova_dicom_builder_write_memory(&e, b, "1.2.3.4", &out, &len));
    CHECK(e && nova_error_code(e) == NOVA_ERROR_UNSUPPORTED);
    nova_error_clear(&e);
    CHECK(nova_dicom_builder_write_memory(&e, b, NOVA_UID_EXPLICIT_VR_LE, &out,
                                          &len));
    CHECK_OK(e);
    nova_free(out);
    /* a file in a folder that does not exist */
    CHECK(!nova_dicom_builder_write_file(&e, b, NOVA_UID_EXPLICIT_VR_LE,
                                         "/nonexistent-nova/x.dcm"));
    CHECK(e && nova_error_code(e) == NOVA_ERROR_IO &&
          strstr(nova_error_message(e), "/nonexistent-nova/x.dcm") != NULL);
    nova_error_clear(&e);
    nova_dicom_builder_destroy(b);
    nova_dicom_builder_destroy(NULL);
}

/* ------------------------------------------------------------ CT series */

static char last_series_uid[NOVA_UID_MAX + 1];

static bool write_series(const char *name, bool rle, char *dir, size_t size)
{
    snprintf(dir, size, "%s/%s", test_tmp_dir(), name);
    NovaVolume *v = make_volume();
    NovaCtSeriesOptions o;
    nova_ct_series_options_init(&o);
    o.patient_name = "Test^Writer";
    o.patient_id = "W1";
    o.study_date = "20240102";
    o.study_time = "101112";
    o.study_id = "7";
    o.body_part = "CHEST";
    o.kvp = 120;
    o.window_center = -600;
    o.window_width = 1500;
    o.deterministic = true;
    o.uid_seed = 99;
    o.rle = rle;
    NovaError *e = NULL;
    NovaPool *pool = nova_pool_create(&e, 2);
    bool ok = nova_ct_series_write(&e, v, dir, &o, pool, NULL, last_series_uid);
    CHECK_OK(e);
    nova_error_free(e);
    nova_pool_destroy(pool);
    /* the expected voxels for the python check */
    char raw[600];
    snprintf(raw, sizeof raw, "%s.raw", dir);
    FILE *f = fopen(raw, "wb");
    if (f) {
        fwrite(nova_volume_get_const_data(v), 2, nova_volume_get_voxel_count(v),
               f);
        fclose(f);
    }
    nova_volume_unref(v);
    return ok;
}

static void check_dciodvfy(const char *dir)
{
    if (!tool_exists("/usr/bin/dciodvfy"))
        SKIP("dciodvfy (dicom3tools) not installed");
    for (int k = 1; k <= 4; k++) {
        char cmd[700], buf[16384];
        int st;
        snprintf(cmd, sizeof cmd, "/usr/bin/dciodvfy '%s/CT%06d.dcm' 2>&1", dir,
                 k);
        run_capture(cmd, buf, sizeof buf, &st);
        if (strstr(buf, "Error") != NULL)
            test_fail(__FILE__, __LINE__, "dciodvfy reports errors:\n%s", buf);
        CHECK(strstr(buf, "CTImage") != NULL);
    }
}

static void check_dcmdump(const char *dir)
{
    if (!tool_exists("/usr/bin/dcmdump"))
        SKIP("dcmdump (DCMTK) not installed");
    char cmd[700], buf[32768];
    int st;
    snprintf(cmd, sizeof cmd, "/usr/bin/dcmdump -E '%s/CT000002.dcm' 2>&1",
             dir);
    run_capture(cmd, buf, sizeof buf, &st);
    CHECK_EQ_INT(st, 0);
    CHECK(strstr(buf, "=CTImageStorage") != NULL);
    CHECK(strstr(buf, "(0020,0013) IS [2]") != NULL);
    CHECK(strstr(buf, "(0020,0032) DS [-20.5\\-15.25\\-27.5]") != NULL);
    CHECK(strstr(buf, "(0028,0030) DS [0.7\\0.8]") != NULL);
}

static void check_pydicom(const char *dir)
{
    if (!tool_exists(PYTHON))
        SKIP("%s not installed", PYTHON);
    char cmd[2000], buf[8192];
    int st;
    snprintf(
        cmd, sizeof cmd,
        "%s -c \"import pydicom, numpy, glob, sys\n"
        "d = '%s'\n"
        "want = numpy.fromfile(d + '.raw', dtype='<i2').reshape(4, 40, 48)\n"
        "fs = [pydicom.dcmread(f) for f in sorted(glob.glob(d + '/*.dcm'))]\n"
        "fs.sort(key=lambda x: float(x.ImagePositionPatient[2]))\n"
        "assert len(fs) == 4, len(fs)\n"
        "for k, ds in enumerate(fs):\n"
        "    a = ds.pixel_array.astype('i4') * int(ds.RescaleSlope) + "
        "int(ds.RescaleIntercept)\n"
        "    assert (a == want[k]).all(), ('pixels differ', k)\n"
        "    assert [float(v) for v in ds.ImagePositionPatient] == [-20.5, "
        "-15.25, -30.0 + 2.5 * k], ds.ImagePositionPatient\n"
        "    assert [float(v) for v in ds.PixelSpacing] == [0.7, 0.8]\n"
        "    assert ds.Rows == 40 and ds.Columns == 48\n"
        "print('pydicom-ok', fs[0].file_meta.TransferSyntaxUID)\n\" 2>&1",
        PYTHON, dir);
    run_capture(cmd, buf, sizeof buf, &st);
    if (strstr(buf, "No module named") != NULL)
        SKIP("pydicom or numpy missing: %s", buf);
    if (st != 0 || strstr(buf, "pydicom-ok") == NULL)
        test_fail(__FILE__, __LINE__, "pydicom check failed:\n%s", buf);
}

static void test_ct_dciodvfy(void)
{
    char dir[512];
    CHECK(write_series("ct-native", false, dir, sizeof dir));
    check_dciodvfy(dir);
}

static void test_ct_dciodvfy_rle(void)
{
    char dir[512];
    CHECK(write_series("ct-rle", true, dir, sizeof dir));
    check_dciodvfy(dir);
}

static void test_ct_dcmdump(void)
{
    char dir[512];
    CHECK(write_series("ct-native", false, dir, sizeof dir));
    check_dcmdump(dir);
}

static void test_ct_pydicom(void)
{
    char dir[512];
    CHECK(write_series("ct-native", false, dir, sizeof dir));
    check_pydicom(dir);
}

static void test_ct_pydicom_rle(void)
{
    char dir[512];
    CHECK(write_series("ct-rle", true, dir, sizeof dir));
    check_pydicom(dir);
}

static void roundtrip(bool rle)
{
    char dir[512];
    CHECK(write_series(rle ? "ct-rt-rle" : "ct-rt", rle, dir, sizeof dir));
    NovaError *e = NULL;
    /* Named series: the automatic chest choice wants 20+ slices. */
    NovaVolume *back = nova_volume_read_dicom(&e, dir, last_series_uid, NULL);
    CHECK_OK(e);
    nova_error_free(e);
    if (!back)
        return;
    NovaVolume *want = make_volume();
    size_t d1[3], d2[3];
    nova_volume_get_dims(back, d1);
    nova_volume_get_dims(want, d2);
    CHECK_EQ_INT(d1[0], d2[0]);
    CHECK_EQ_INT(d1[1], d2[1]);
    CHECK_EQ_INT(d1[2], d2[2]);
    if (d1[0] == d2[0] && d1[1] == d2[1] && d1[2] == d2[2] &&
        nova_volume_get_dtype(back) == NOVA_DTYPE_INT16) {
        const int16_t *a = nova_volume_get_const_data(back);
        const int16_t *b = nova_volume_get_const_data(want);
        size_t n = nova_volume_get_voxel_count(want), bad = 0;
        for (size_t i = 0; i < n; i++)
            bad += a[i] != b[i];
        CHECK_EQ_INT(bad, 0);
    }
    const NovaGeometry *g1 = nova_volume_get_geometry(back);
    const NovaGeometry *g2 = nova_volume_get_geometry(want);
    for (int i = 0; i < 3; i++) {
        CHECK_NEAR(g1->origin[i], g2->origin[i], 1e-6);
        CHECK_NEAR(g1->spacing[i], g2->spacing[i], 1e-6);
    }
    for (int i = 0; i < 9; i++)
        CHECK_NEAR(g1->direction[i], g2->direction[i], 1e-9);
    nova_volume_unref(back);
    nova_volume_unref(want);
}

static void test_ct_roundtrip(void)
{
    roundtrip(false);
}
static void test_ct_roundtrip_rle(void)
{
    roundtrip(true);
}

static void test_ct_deterministic(void)
{
    char a[512], b[512];
    CHECK(write_series("ct-det-a", false, a, sizeof a));
    CHECK(write_series("ct-det-b", false, b, sizeof b));
    for (int k = 1; k <= 4; k++) {
        char pa[600], pb[600];
        snprintf(pa, sizeof pa, "%s/CT%06d.dcm", a, k);
        snprintf(pb, sizeof pb, "%s/CT%06d.dcm", b, k);
        FILE *fa = fopen(pa, "rb"), *fb = fopen(pb, "rb");
        CHECK(fa && fb);
        if (fa && fb) {
            int ca, cb;
            long same = 0, pos = 0;
            do {
                ca = fgetc(fa);
                cb = fgetc(fb);
                same += ca == cb;
                pos++;
            } while (ca != EOF && cb != EOF);
            CHECK_EQ_INT(same, pos);
        }
        if (fa)
            fclose(fa);
        if (fb)
            fclose(fb);
    }
    /* random UIDs: a second series differs */
    NovaVolume *v = make_volume();
    NovaCtSeriesOptions o;
    nova_ct_series_options_init(&o);
    char s1[NOVA_UID_MAX + 1], s2[NOVA_UID_MAX + 1];
    char d1[512], d2[512];
    snprintf(d1, sizeof d1, "%s/ct-rand-1", test_tmp_dir());
    snprintf(d2, sizeof d2, "%s/ct-rand-2", test_tmp_dir());
    NovaError *e = NULL;
    CHECK(nova_ct_series_write(&e, v, d1, &o, NULL, NULL, s1));
    CHECK(nova_ct_series_write(&e, v, d2, &o, NULL, NULL, s2));
    CHECK_OK(e);
    CHECK(strcmp(s1, s2) != 0);
    /* a wrong volume type */
    size_t dims[3] = {4, 4, 1};
    NovaVolume *u8 = nova_volume_create(NULL, NOVA_DTYPE_UINT8, dims, NULL);
    CHECK(!nova_ct_series_write(&e, u8, d1, &o, NULL, NULL, NULL));
    CHECK(e && nova_error_code(e) == NOVA_ERROR_INVALID);
    nova_error_clear(&e);
    nova_volume_unref(u8);
    nova_volume_unref(v);
}

int main(void)
{
    RUN(test_uid_valid);
    RUN(test_uid_random);
    RUN(test_uid_seeded);
    RUN(test_builder_bytes);
    RUN(test_builder_errors);
    RUN(test_ct_dciodvfy);
    RUN(test_ct_dciodvfy_rle);
    RUN(test_ct_dcmdump);
    RUN(test_ct_pydicom);
    RUN(test_ct_pydicom_rle);
    RUN(test_ct_roundtrip);
    RUN(test_ct_roundtrip_rle);
    RUN(test_ct_deterministic);
    return test_done();
}
