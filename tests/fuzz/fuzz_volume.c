/*
 * fuzz_volume.c - libFuzzer target for the volume file readers: NIfTI-1
 * (.nii and .nii.gz) and NRRD with attached data (src/lib/volume).
 *
 * Each input goes through nova_volume_read_memory (NRRD by its magic,
 * otherwise NIfTI-1, plain or gzip).  A volume that comes back must be
 * self-consistent (dims at least 1, voxel count their product, a Nova
 * dtype, finite positive spacing, finite origin and direction) and every
 * voxel is read, so the sanitizers see a buffer shorter than it claims.
 * NIfTI inputs are also written to a temporary file and read again through
 * the path reader (nova_volume_read_nifti, zlib's gzread: another code path
 * over the same format); when both readers accept the bytes they must give
 * the same volume, and they must agree on whether the bytes are a volume
 * (unless a gzip member is corrupt: see gzip_intact).
 * NRRD is read from memory only: a detached header may name any file (a
 * FIFO, /dev/stdin), which is the caller's trust decision, not a parser bug.
 *
 * Any error is fine; a crash, a sanitizer report, a leak, a hang, an
 * allocation beyond libFuzzer's -malloc_limit_mb or a violated check above
 * is a bug.  The seed corpus is tests/fuzz/corpus-volume, written by
 * tools/make_volume_corpus.py.
 *
 * Built twice: as the libFuzzer target (-Dfuzzing=true), and with
 * FUZZ_VOLUME_REPLAY as the unit test `fuzz_volume`, which runs the seed
 * corpus and tests/fuzz/regressions through exactly the same checks in
 * every `make check`.
 */
#include "nova/volume.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "fuzz_tmpfile.h"

/* Check what a reader returned; fills why and returns false on a violation.
 * The voxel sum touches every byte the volume claims to hold. */
static bool check_volume(const NovaVolume *v, char *why, size_t why_size)
{
    size_t dims[3];
    nova_volume_get_dims(v, dims);
    size_t count = 1;
    for (int i = 0; i < 3; i++) {
        if (dims[i] < 1) {
            snprintf(why, why_size, "dim %d is 0", i);
            return false;
        }
        count *= dims[i];
    }
    if (nova_volume_get_voxel_count(v) != count) {
        snprintf(why, why_size, "voxel count %zu != %zu x %zu x %zu",
                 nova_volume_get_voxel_count(v), dims[0], dims[1], dims[2]);
        return false;
    }
    NovaDtype dt = nova_volume_get_dtype(v);
    if (dt != NOVA_DTYPE_UINT8 && dt != NOVA_DTYPE_INT16 &&
        dt != NOVA_DTYPE_FLOAT32) {
        snprintf(why, why_size, "dtype %d", (int)dt);
        return false;
    }
    const NovaGeometry *g = nova_volume_get_geometry(v);
    for (int i = 0; i < 3; i++)
        if (!(g->spacing[i] > 0) || !isfinite(g->spacing[i]) ||
            !isfinite(g->origin[i])) {
            snprintf(why, why_size, "axis %d: spacing %g, origin %g", i,
                     g->spacing[i], g->origin[i]);
            return false;
        }
    for (int i = 0; i < 9; i++)
        if (!isfinite(g->direction[i])) {
            snprintf(why, why_size, "direction[%d] is %g", i, g->direction[i]);
            return false;
        }
    const uint8_t *p = nova_volume_get_const_data(v);
    size_t bytes = count * nova_dtype_size(dt);
    unsigned sum = 0;
    for (size_t i = 0; i < bytes; i++)
        sum += p[i];
    /* Keep the sum alive so the loop is not optimised away. */
    volatile unsigned sink = sum;
    (void)sink;
    return true;
}

static bool same_volume(const NovaVolume *a, const NovaVolume *b, char *why,
                        size_t why_size)
{
    size_t da[3], db[3];
    nova_volume_get_dims(a, da);
    nova_volume_get_dims(b, db);
    if (memcmp(da, db, sizeof da) != 0 ||
        nova_volume_get_dtype(a) != nova_volume_get_dtype(b)) {
        snprintf(why, why_size,
                 "memory and path readers differ: %zux%zux%zu %s vs "
                 "%zux%zux%zu %s",
                 da[0], da[1], da[2], nova_dtype_name(nova_volume_get_dtype(a)),
                 db[0], db[1], db[2],
                 nova_dtype_name(nova_volume_get_dtype(b)));
        return false;
    }
    if (memcmp(nova_volume_get_geometry(a), nova_volume_get_geometry(b),
               sizeof(NovaGeometry)) != 0) {
        snprintf(why, why_size, "memory and path readers differ in geometry");
        return false;
    }
    size_t bytes = nova_volume_get_voxel_count(a) *
                   nova_dtype_size(nova_volume_get_dtype(a));
    if (memcmp(nova_volume_get_const_data(a), nova_volume_get_const_data(b),
               bytes) != 0) {
        snprintf(why, why_size, "memory and path readers differ in voxels");
        return false;
    }
    return true;
}

/* False when data is gzip whose deflate data or trailer check (CRC-32,
 * length) is wrong in some member before any trailing bytes.  The memory
 * reader inflates only the bytes the header needs and does not reach the
 * trailer; zlib's gzread checks it whenever its buffered reads get there,
 * which for small files is at the first read.  So on such input the two
 * readers may legitimately disagree. */
static bool gzip_intact(const uint8_t *data, size_t size)
{
    if (size < 2 || data[0] != 0x1f || data[1] != 0x8b)
        return true;
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 15 + 16) != Z_OK)
        return true;
    uint8_t out[16384];
    size_t off = 0;
    bool intact = true;
    while (off < size && size - off >= 2 && data[off] == 0x1f &&
           data[off + 1] == 0x8b) {
        zs.next_in = (Bytef *)(data + off);
        zs.avail_in = (uInt)(size - off);
        int rc;
        do {
            zs.next_out = out;
            zs.avail_out = sizeof out;
            rc = inflate(&zs, Z_NO_FLUSH);
        } while (rc == Z_OK && zs.avail_in > 0);
        if (rc == Z_DATA_ERROR) {
            intact = false;
            break;
        }
        if (rc != Z_STREAM_END)
            break; /* truncated: both readers see the same missing bytes */
        off = size - zs.avail_in;
        inflateReset(&zs);
    }
    inflateEnd(&zs);
    return intact;
}

/* One input through both readers; false (with why) on a violation. */
static bool fuzz_volume_one(const uint8_t *data, size_t size, char *why,
                            size_t why_size)
{
    NovaError *err = NULL;
    NovaVolume *mem = nova_volume_read_memory(&err, data, size, "fuzz");
    bool ok = true;
    if (mem)
        ok = check_volume(mem, why, why_size);
    else if (!err || !nova_error_message(err)[0]) {
        snprintf(why, why_size, "NULL without an error message");
        ok = false;
    }
    nova_error_clear(&err);

    bool nrrd = size >= 7 && memcmp(data, "NRRD000", 7) == 0;
    if (ok && !nrrd && tmp_fd >= 0 && write_tmp(data, size)) {
        NovaVolume *file = nova_volume_read_nifti(&err, tmp_path);
        if (file)
            ok = check_volume(file, why, why_size);
        if (ok && (file != NULL) != (mem != NULL) && gzip_intact(data, size)) {
            snprintf(why, why_size,
                     "the path reader %s what the memory reader %s (%s)",
                     file ? "accepts" : "refuses", mem ? "accepts" : "refuses",
                     err ? nova_error_message(err) : "no error");
            ok = false;
        }
        if (ok && file && mem)
            ok = same_volume(mem, file, why, why_size);
        nova_error_clear(&err);
        nova_volume_unref(file);
    }
    nova_volume_unref(mem);
    return ok;
}

#ifndef FUZZ_VOLUME_REPLAY

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (tmp_fd < 0) {
        const char *dir = getenv("TMPDIR");
        open_tmp(dir && dir[0] ? dir : "/tmp", "fuzz_volume");
    }
    char why[512] = "";
    if (!fuzz_volume_one(data, size, why, sizeof why)) {
        fprintf(stderr, "fuzz_volume: %s\n", why);
        abort();
    }
    return 0;
}

#else /* the replay test */

#include "test.h"

#include "fuzz_replay.h"

static bool check_volume_file(const char *path, const uint8_t *data,
                              size_t size, char *why, size_t why_size)
{
    (void)path;
    return fuzz_volume_one(data, size, why, why_size);
}

static void test_corpus_replays(void)
{
    CHECK(open_tmp(test_tmp_dir(), "fuzz_volume"));
    size_t n = replay_dir(NOVA_SOURCE_DIR "/tests/fuzz/corpus-volume",
                          check_volume_file);
    printf("# %zu seed files replayed\n", n);
    CHECK(n >= 20);
}

static void test_regressions_replay(void)
{
    CHECK(open_tmp(test_tmp_dir(), "fuzz_volume"));
    size_t n = replay_dir(NOVA_SOURCE_DIR "/tests/fuzz/regressions",
                          check_volume_file);
    printf("# %zu regression files replayed\n", n);
}

/* The corpus must reach the readers' success paths, not only their
 * errors: a few seeds read back to known values. */
static void test_seeds_read(void)
{
    static const struct {
        const char *name;
        NovaDtype dtype;
        size_t dims[3];
    } want[] = {
        {"nifti_int16_le.nii", NOVA_DTYPE_INT16, {5, 4, 3}},
        {"nifti_int16_be.nii", NOVA_DTYPE_INT16, {5, 4, 3}},
        {"nifti_uint8.nii.gz", NOVA_DTYPE_UINT8, {6, 5, 4}},
        {"nifti_float32_scaled.nii", NOVA_DTYPE_FLOAT32, {4, 3, 2}},
        {"nrrd_short_raw.nrrd", NOVA_DTYPE_INT16, {5, 4, 3}},
        {"nrrd_gzip.nrrd", NOVA_DTYPE_INT16, {6, 5, 4}},
        {"nrrd_ascii_2d.nrrd", NOVA_DTYPE_UINT8, {3, 2, 1}},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/tests/fuzz/corpus-volume/%s",
                 NOVA_SOURCE_DIR, want[i].name);
        NovaError *err = NULL;
        NovaVolume *v = nova_volume_read(&err, path);
        CHECK_OK(err);
        nova_error_clear(&err);
        if (!v)
            continue;
        size_t d[3];
        nova_volume_get_dims(v, d);
        CHECK_EQ_INT(nova_volume_get_dtype(v), want[i].dtype);
        CHECK(memcmp(d, want[i].dims, sizeof d) == 0);
        /* Every seed holds voxel i = (i % 7) * 11 - 20 (uint8: i % 7 *
         * 11), scaled seeds after scaling (see the generator). */
        const void *p = nova_volume_get_const_data(v);
        size_t n = nova_volume_get_voxel_count(v), bad = 0;
        for (size_t k = 0; k < n; k++) {
            double x =
                want[i].dtype == NOVA_DTYPE_UINT8   ? ((const uint8_t *)p)[k]
                : want[i].dtype == NOVA_DTYPE_INT16 ? ((const int16_t *)p)[k]
                                                    : ((const float *)p)[k];
            double expect = want[i].dtype == NOVA_DTYPE_UINT8
                                ? (double)(k % 7 * 11)
                            : want[i].dtype == NOVA_DTYPE_INT16
                                ? (double)(k % 7) * 11 - 20
                                : ((double)(k % 7) * 11 - 20) * 0.5 + 0.25;
            bad += fabs(x - expect) > 1e-6;
        }
        if (bad)
            test_fail(__FILE__, __LINE__, "%s: %zu of %zu voxels wrong",
                      want[i].name, bad, n);
        nova_volume_unref(v);
    }
}

/* The fuzzer's findings, each asserted on its own (the replay above only
 * shows they no longer crash or disagree). */
static void test_fixed_findings(void)
{
    const char *dir = NOVA_SOURCE_DIR "/tests/fuzz/regressions";
    char path[1024];
    NovaError *err = NULL;
    /* A 465-byte file whose header claims 7.99 GB of voxels: refused from
     * the file's size, before nova_malloc (libFuzzer's malloc limit caught
     * the 8 GB allocation). */
    snprintf(path, sizeof path, "%s/%s", dir,
             "nifti_path_reader_allocates_8gb_header_claim.nii");
    NovaVolume *v = nova_volume_read_nifti(&err, path);
    CHECK(v == NULL);
    CHECK(err && strstr(nova_error_message(err), "the file ends after"));
    nova_error_clear(&err);
    nova_volume_unref(v);
    /* A .nii.gz with a wrong CRC-32: the path reader names the gzip error
     * instead of "0 bytes, shorter than the header". */
    snprintf(path, sizeof path, "%s/%s", dir,
             "nifti_gz_bad_crc_path_and_memory_readers_disagree.nii.gz");
    v = nova_volume_read_nifti(&err, path);
    CHECK(v == NULL);
    CHECK(err && strstr(nova_error_message(err), "gzip") &&
          strstr(nova_error_message(err), "incorrect data check"));
    if (err)
        printf("# %s\n", nova_error_message(err));
    nova_error_clear(&err);
    nova_volume_unref(v);
    /* "space origin: (-nan,...)" was taken as it was: a NaN origin. */
    snprintf(path, sizeof path, "%s/%s", dir,
             "nrrd_space_origin_nan_accepted.nrrd");
    v = nova_volume_read(&err, path);
    CHECK(v == NULL);
    CHECK(err && strstr(nova_error_message(err), "finite"));
    nova_error_clear(&err);
    nova_volume_unref(v);
    /* An ascii "uchar" NRRD narrows to uint8 like raw uchar data. */
    snprintf(path, sizeof path, "%s/%s", dir,
             "nrrd_ascii_uchar_read_as_int16.nrrd");
    v = nova_volume_read(&err, path);
    CHECK_OK(err);
    nova_error_clear(&err);
    CHECK(v && nova_volume_get_dtype(v) == NOVA_DTYPE_UINT8);
    nova_volume_unref(v);
}

int main(void)
{
    RUN(test_seeds_read);
    RUN(test_corpus_replays);
    RUN(test_regressions_replay);
    RUN(test_fixed_findings);
    close_tmp();
    return test_done();
}

#endif
