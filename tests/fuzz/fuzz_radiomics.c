/*
 * fuzz_radiomics.c - libFuzzer target for the radiomics inputs read from
 * outside: the configuration text (config.c), DICOM RTSTRUCT contours
 * (rtstruct.c) and DICOM SEG frames (seg.c) rasterised onto an image grid.
 *
 * The first input byte selects the reader, the rest is the file:
 *   selector % 4 == 0  configuration: nova_radiomics_config_parse on the
 *                      text, and nova_radiomics_config_load on the same
 *                      bytes in a temporary file; they must agree;
 *                  1  nova_radiomics_rtstruct_rasterise
 *                  2  nova_radiomics_seg_rasterise
 *                  3  nova_radiomics_dicom_mask (the Modality dispatch)
 *   (selector >> 2) % 4 is the ROI / segment number (0: all).
 * The DICOM readers take a path only, so the bytes go through a temporary
 * file.  Rasterisation is onto a small fixed image (16 x 12 x 4 voxels,
 * spacing 0.5 0.5 2 mm, origin -4 -3 -3, identity direction; the seed
 * generator uses the same grid).  A mask that comes back must be uint8,
 * have the image's dims and geometry, hold only 0 and 1 and at least one 1
 * (both readers refuse an empty mask).  A configuration that parses must
 * hold values its documentation allows.  A failure must come with an error
 * message.
 *
 * Any error is fine; a crash, a sanitizer report, a leak, a hang, an
 * allocation beyond libFuzzer's -malloc_limit_mb or a violated check above
 * is a bug.  The seed corpus is tests/fuzz/corpus-radiomics, written by
 * tools/make_radiomics_corpus.py.
 *
 * Built twice: as the libFuzzer target (-Dfuzzing=true), and with
 * FUZZ_RADIOMICS_REPLAY as the unit test `fuzz_radiomics`, which runs the
 * seed corpus and tests/fuzz/regressions through exactly the same checks in
 * every `make check`, and asserts what the seeds rasterise to.
 */
#include "nova/radiomics.h"
#include "nova/volume.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { SEL_CONFIG, SEL_RTSTRUCT, SEL_SEG, SEL_DICOM_MASK };

#include "fuzz_tmpfile.h"

/* The fixed reference image (its voxels are never read, only its grid). */
static NovaVolume *reference_image(void)
{
    static const size_t dims[3] = {16, 12, 4};
    NovaGeometry g;
    nova_geometry_init(&g);
    g.spacing[0] = 0.5;
    g.spacing[1] = 0.5;
    g.spacing[2] = 2.0;
    g.origin[0] = -4.0;
    g.origin[1] = -3.0;
    g.origin[2] = -3.0;
    return nova_volume_create(NULL, NOVA_DTYPE_INT16, dims, &g);
}

static bool check_mask(const NovaVolume *mask, const NovaVolume *image,
                       size_t *count, char *why, size_t why_size)
{
    size_t dm[3], di[3];
    nova_volume_get_dims(mask, dm);
    nova_volume_get_dims(image, di);
    if (memcmp(dm, di, sizeof dm) != 0 ||
        nova_volume_get_dtype(mask) != NOVA_DTYPE_UINT8) {
        snprintf(why, why_size, "mask is %zux%zux%zu %s, not the image's grid",
                 dm[0], dm[1], dm[2],
                 nova_dtype_name(nova_volume_get_dtype(mask)));
        return false;
    }
    if (memcmp(nova_volume_get_geometry(mask), nova_volume_get_geometry(image),
               sizeof(NovaGeometry)) != 0) {
        snprintf(why, why_size, "mask geometry differs from the image's");
        return false;
    }
    const uint8_t *m = nova_volume_get_const_data(mask);
    size_t n = nova_volume_get_voxel_count(mask), ones = 0;
    for (size_t i = 0; i < n; i++) {
        if (m[i] > 1) {
            snprintf(why, why_size, "mask voxel %zu is %u", i, m[i]);
            return false;
        }
        ones += m[i];
    }
    if (ones == 0) {
        snprintf(why, why_size, "an empty mask returned without an error");
        return false;
    }
    *count = ones;
    return true;
}

static bool check_config(const NovaRadiomicsConfig *c, char *why,
                         size_t why_size)
{
    const char *bad = NULL;
    if (memchr(c->name, '\0', sizeof c->name) == NULL)
        bad = "name not terminated";
    else if (c->texture == 0 ||
             (c->texture &
              ~(NOVA_RADIOMICS_TEXTURE_2D | NOVA_RADIOMICS_TEXTURE_3D)) != 0)
        bad = "texture";
    else if (!(c->mask_partial_volume > 0 && c->mask_partial_volume <= 1))
        bad = "mask_partial_volume";
    else if (isnan(c->range_min) || isnan(c->range_max) ||
             !(c->range_min <= c->range_max))
        bad = "resegmentation range";
    else if (!(c->outlier_sigma >= 0) || !isfinite(c->outlier_sigma))
        bad = "outlier_sigma";
    else if (c->discretisation == NOVA_RADIOMICS_DISCRETISE_FBN &&
             c->bin_count < 1)
        bad = "fbn bin count";
    else if (c->discretisation == NOVA_RADIOMICS_DISCRETISE_FBS &&
             (!(c->bin_width > 0) || !isfinite(c->bin_width)))
        bad = "fbs bin width";
    else if (c->glcm_distance < 1 || c->ngtdm_distance < 1 ||
             c->ngldm_distance < 1 || c->ngldm_alpha < 0)
        bad = "texture distances";
    for (int i = 0; !bad && i < 3; i++)
        if (!(c->spacing_mm[i] >= 0) || !isfinite(c->spacing_mm[i]))
            bad = "spacing_mm";
    if (bad)
        snprintf(why, why_size, "configuration accepted with a bad %s", bad);
    return bad == NULL;
}

/* An error must say what was wrong. */
static bool check_error(const NovaError *err, const char *what, char *why,
                        size_t why_size)
{
    if (err && nova_error_message(err)[0])
        return true;
    snprintf(why, why_size, "%s failed without an error message", what);
    return false;
}

static bool fuzz_config(const uint8_t *data, size_t size, char *why,
                        size_t why_size)
{
    /* The text API wants a NUL-terminated string. */
    char *text = malloc(size + 1);
    if (!text)
        return true;
    memcpy(text, data, size);
    text[size] = '\0';
    NovaError *err = NULL;
    NovaRadiomicsConfig parsed, loaded;
    bool ok = true;
    bool parse_ok = nova_radiomics_config_parse(&err, text, "fuzz", &parsed);
    if (parse_ok)
        ok = check_config(&parsed, why, why_size);
    else
        ok = check_error(err, "nova_radiomics_config_parse", why, why_size);
    nova_error_clear(&err);
    free(text);

    /* The file reader refuses a NUL byte the text reader would take as
     * the end, so the two are compared only on text without one. */
    if (ok && tmp_fd >= 0 && write_tmp(data, size)) {
        bool load_ok = nova_radiomics_config_load(&err, tmp_path, &loaded);
        if (load_ok)
            ok = check_config(&loaded, why, why_size);
        else
            ok = check_error(err, "nova_radiomics_config_load", why, why_size);
        if (ok && memchr(data, '\0', size) == NULL) {
            if (load_ok != parse_ok) {
                snprintf(why, why_size,
                         "config_load %s what config_parse %s (%s)",
                         load_ok ? "accepts" : "refuses",
                         parse_ok ? "accepts" : "refuses",
                         err ? nova_error_message(err) : "no error");
                ok = false;
            } else if (load_ok &&
                       memcmp(&loaded, &parsed, sizeof loaded) != 0) {
                snprintf(why, why_size,
                         "config_load and config_parse give different "
                         "configurations");
                ok = false;
            }
        }
        nova_error_clear(&err);
    }
    return ok;
}

/* One input; false (with why) on a violation.  *mask_count gets the mask's
 * voxel count, 0 when the reader refused the input. */
static bool fuzz_radiomics_one(const uint8_t *data, size_t size,
                               const NovaVolume *image, size_t *mask_count,
                               char *why, size_t why_size)
{
    *mask_count = 0;
    if (size < 1)
        return true;
    int selector = data[0] % 4, number = (data[0] >> 2) % 4;
    data++;
    size--;
    if (selector == SEL_CONFIG)
        return fuzz_config(data, size, why, why_size);
    if (tmp_fd < 0 || !write_tmp(data, size))
        return true;
    NovaError *err = NULL;
    NovaVolume *mask = NULL;
    const char *what;
    switch (selector) {
    case SEL_RTSTRUCT:
        what = "nova_radiomics_rtstruct_rasterise";
        mask = nova_radiomics_rtstruct_rasterise(&err, tmp_path, image, number);
        break;
    case SEL_SEG:
        what = "nova_radiomics_seg_rasterise";
        mask = nova_radiomics_seg_rasterise(&err, tmp_path, image, number);
        break;
    default:
        what = "nova_radiomics_dicom_mask";
        mask = nova_radiomics_dicom_mask(&err, tmp_path, image, number);
        break;
    }
    bool ok = mask ? check_mask(mask, image, mask_count, why, why_size)
                   : check_error(err, what, why, why_size);
    nova_error_clear(&err);
    nova_volume_unref(mask);
    return ok;
}

#ifndef FUZZ_RADIOMICS_REPLAY

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Made once and kept for the process (libFuzzer's leak check looks at
     * what each input leaves behind, not at this). */
    static NovaVolume *image;
    if (!image)
        image = reference_image();
    if (tmp_fd < 0) {
        const char *dir = getenv("TMPDIR");
        open_tmp(dir && dir[0] ? dir : "/tmp", "fuzz_radiomics");
    }
    char why[512] = "";
    size_t count;
    if (image &&
        !fuzz_radiomics_one(data, size, image, &count, why, sizeof why)) {
        fprintf(stderr, "fuzz_radiomics: %s\n", why);
        abort();
    }
    return 0;
}

#else /* the replay test */

#include "test.h"

#include "fuzz_replay.h"

static NovaVolume *replay_image;

static bool check_radiomics(const char *path, const uint8_t *data, size_t size,
                            char *why, size_t why_size)
{
    (void)path;
    size_t count;
    return fuzz_radiomics_one(data, size, replay_image, &count, why, why_size);
}

static void test_corpus_replays(void)
{
    size_t n = replay_dir(NOVA_SOURCE_DIR "/tests/fuzz/corpus-radiomics",
                          check_radiomics);
    printf("# %zu seed files replayed\n", n);
    CHECK(n >= 25);
}

static void test_regressions_replay(void)
{
    size_t n =
        replay_dir(NOVA_SOURCE_DIR "/tests/fuzz/regressions", check_radiomics);
    printf("# %zu regression files replayed\n", n);
}

/* The corpus must reach the rasterisers' success paths, not only their
 * errors: each seed's mask has the voxel count the generator's geometry
 * gives (see tools/make_radiomics_corpus.py), 0 for seeds that must be
 * refused. */
static void test_seeds_rasterise(void)
{
    static const struct {
        const char *name;
        size_t voxels;
    } want[] = {
        {"rtstruct_two_rois_all.dcm", 98},
        {"rtstruct_two_rois_roi1.dcm", 24},
        {"rtstruct_two_rois_roi2.dcm", 74},
        {"rtstruct_roi3_absent.dcm", 0},
        {"rtstruct_via_dicom_mask.dcm", 98},
        {"rtstruct_implicit_vr.dcm", 24},
        {"rtstruct_big_endian.dcm", 24},
        {"rtstruct_off_grid.dcm", 0},
        {"rtstruct_bad_contour_data.dcm", 0},
        {"rtstruct_reader_given_seg.dcm", 0},
        {"seg_binary_all.dcm", 32},
        {"seg_binary_segment1.dcm", 12},
        {"seg_binary_segment2.dcm", 20},
        {"seg_segment3_absent.dcm", 0},
        {"seg_via_dicom_mask.dcm", 12},
        {"seg_binary_per_frame_geometry.dcm", 32},
        {"seg_binary_small_frames.dcm", 18},
        {"seg_fractional.dcm", 12},
        {"seg_fractional_rle.dcm", 12},
        {"seg_fractional_rle_two_frames.dcm", 24},
        {"seg_off_grid.dcm", 0},
        {"seg_16_bit_unsupported.dcm", 0},
        {"seg_reader_given_rtstruct.dcm", 0},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/tests/fuzz/corpus-radiomics/%s",
                 NOVA_SOURCE_DIR, want[i].name);
        static uint8_t buf[1 << 16];
        size_t size, count = 0;
        char why[512] = "";
        if (!read_input(path, buf, sizeof buf, &size)) {
            test_fail(__FILE__, __LINE__, "cannot open %s", path);
            continue;
        }
        if (!fuzz_radiomics_one(buf, size, replay_image, &count, why,
                                sizeof why))
            test_fail(__FILE__, __LINE__, "%s: %s", want[i].name, why);
        else if (count != want[i].voxels)
            test_fail(__FILE__, __LINE__, "%s: %zu mask voxels, want %zu",
                      want[i].name, count, want[i].voxels);
    }
}

/* The triangle seed, voxel by voxel: centres strictly inside the triangle
 * (1.2, 0.7) (12.8, 2.3) (6.1, 10.9) in index space on slice 3, none
 * elsewhere (no centre lies on an edge, so the half-open rule does not
 * matter here). */
static void test_triangle_voxels(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fuzz/corpus-radiomics/%s",
             NOVA_SOURCE_DIR, "rtstruct_triangle.dcm");
    static uint8_t buf[1 << 16];
    size_t size = 0;
    if (!read_input(path, buf, sizeof buf, &size) || size < 2 ||
        !write_tmp(buf + 1, size - 1)) {
        test_fail(__FILE__, __LINE__, "cannot replay %s", path);
        return;
    }
    NovaError *err = NULL;
    NovaVolume *mask =
        nova_radiomics_rtstruct_rasterise(&err, tmp_path, replay_image, 7);
    CHECK_OK(err);
    nova_error_clear(&err);
    if (!mask)
        return;
    static const double t[3][2] = {{1.2, 0.7}, {12.8, 2.3}, {6.1, 10.9}};
    const uint8_t *m = nova_volume_get_const_data(mask);
    size_t wrong = 0, inside = 0;
    for (size_t k = 0; k < 4; k++)
        for (size_t j = 0; j < 12; j++)
            for (size_t i = 0; i < 16; i++) {
                bool in = k == 3;
                for (int e = 0; e < 3 && in; e++) {
                    const double *a = t[e], *b = t[(e + 1) % 3];
                    /* Counter-clockwise in (i, j): inside is left of
                     * every edge. */
                    double cross = (b[0] - a[0]) * ((double)j - a[1]) -
                                   (b[1] - a[1]) * ((double)i - a[0]);
                    in = cross > 0;
                }
                inside += in;
                wrong += m[(k * 12 + j) * 16 + i] != in;
            }
    printf("# triangle: %zu voxels inside\n", inside);
    CHECK(inside > 40);
    CHECK_EQ_INT((long long)wrong, 0);
    nova_volume_unref(mask);
}

/* The configuration seeds parse to what their text says. */
static void test_config_seeds(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fuzz/corpus-radiomics/%s",
             NOVA_SOURCE_DIR, "config_2d_fbn.conf");
    static uint8_t buf[1 << 16];
    size_t size = 0;
    CHECK(read_input(path, buf, sizeof buf - 1, &size) && size > 1);
    buf[size] = '\0';
    NovaError *err = NULL;
    NovaRadiomicsConfig c;
    CHECK(nova_radiomics_config_parse(&err, (const char *)buf + 1, "seed", &c));
    CHECK_OK(err);
    nova_error_clear(&err);
    CHECK_STR(c.name, "two d");
    CHECK_EQ_INT(c.texture, NOVA_RADIOMICS_TEXTURE_2D);
    CHECK_EQ_INT(c.interpolation, NOVA_RADIOMICS_INTERP_CUBIC);
    CHECK_NEAR(c.spacing_mm[0], 1.0, 0);
    CHECK_NEAR(c.spacing_mm[2], 0.0, 0);
    CHECK_EQ_INT(c.discretisation, NOVA_RADIOMICS_DISCRETISE_FBN);
    CHECK_EQ_INT(c.bin_count, 32);
    CHECK_EQ_INT(c.ivh_discretisation, NOVA_RADIOMICS_DISCRETISE_FBS);
    CHECK_NEAR(c.ivh_bin_width, 2.5, 0);
    CHECK(c.range_min == -INFINITY && c.range_max == INFINITY);
    CHECK_NEAR(c.outlier_sigma, 3.0, 0);
    CHECK_EQ_INT((long long)c.spatial_max_voxels, 1000);

    snprintf(path, sizeof path, "%s/tests/fuzz/corpus-radiomics/%s",
             NOVA_SOURCE_DIR, "config_bad_value.conf");
    size = 0;
    CHECK(read_input(path, buf, sizeof buf - 1, &size) && size > 1);
    buf[size] = '\0';
    CHECK(
        !nova_radiomics_config_parse(&err, (const char *)buf + 1, "seed", &c));
    CHECK(err && strstr(nova_error_message(err), "seed:1: invalid value "
                                                 "'65' for 'glcm_distance'"));
    nova_error_clear(&err);
}

/* Inputs of tests/fuzz/regressions that once misbehaved, each asserted on
 * its own (the replay above only shows they no longer crash). */
static bool regression_error(const char *name, const char *expect)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fuzz/regressions/%s", NOVA_SOURCE_DIR,
             name);
    static uint8_t buf[1 << 16];
    size_t size = 0;
    if (!read_input(path, buf, sizeof buf, &size) || size < 2 ||
        !write_tmp(buf + 1, size - 1)) {
        test_fail(__FILE__, __LINE__, "cannot replay %s", path);
        return false;
    }
    int number = (buf[0] >> 2) % 4;
    NovaError *err = NULL;
    NovaVolume *mask =
        buf[0] % 4 == SEL_SEG
            ? nova_radiomics_seg_rasterise(&err, tmp_path, replay_image, number)
            : nova_radiomics_dicom_mask(&err, tmp_path, replay_image, number);
    bool ok = mask == NULL && err && strstr(nova_error_message(err), expect);
    if (!ok)
        test_fail(__FILE__, __LINE__, "%s: want an error with '%s', got %s",
                  name, expect, err ? nova_error_message(err) : "a mask");
    else
        printf("# %s: %s\n", name, nova_error_message(err));
    nova_error_clear(&err);
    nova_volume_unref(mask);
    return ok;
}

static void test_fixed_findings(void)
{
    /* Contour x of +-1e308 mm: the indices overflowed to +-inf and an
     * edge crossing became 0 * inf = NaN, which the crossing sort cannot
     * order; now refused by name. */
    regression_error(
        "radiomics_rtstruct_huge_contour_coordinate_nan_crossing.dcm",
        "contour 1: Contour Data point 1 (1e+308, -1, -1) is too far from "
        "the image grid");
    /* Rows and Columns 65535 in a SEG of 24-byte frames: the 4 GiB frame
     * buffer was allocated before decoding (libFuzzer's malloc limit); now
     * native Pixel Data must hold every frame first, and compressed frames
     * are capped. */
    regression_error("radiomics_seg_rows_columns_claim_allocates_4gb.dcm",
                     "Pixel Data holds 48 bytes, too few for 2 frames of "
                     "65535 x 65535 pixels of 1 bits");
    regression_error("radiomics_seg_rle_rows_columns_claim_allocates_4gb.dcm",
                     "compressed frames of 65535 x 65535 pixels exceed the "
                     "256 MiB limit");
}

int main(void)
{
    replay_image = reference_image();
    CHECK(replay_image != NULL);
    CHECK(open_tmp(test_tmp_dir(), "fuzz_radiomics"));
    RUN(test_seeds_rasterise);
    RUN(test_triangle_voxels);
    RUN(test_config_seeds);
    RUN(test_corpus_replays);
    RUN(test_regressions_replay);
    RUN(test_fixed_findings);
    close_tmp();
    nova_volume_unref(replay_image);
    return test_done();
}

#endif
