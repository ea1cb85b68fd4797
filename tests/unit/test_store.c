/*
 * test_store.c - the durable store (nova/store.h): an instance put as raw
 * dataset bytes is found at STORAGE/<study>/<series>/<sop>.dcm as a Part 10
 * file that Nova's reader parses back to the same UIDs, with the meta group
 * naming the transfer syntax it came in; a repeat is a duplicate; datasets
 * that differ from their command, lack UIDs, carry hostile UIDs or do not
 * parse are refused with the error codes the DIMSE statuses come from;
 * declared counts and timeouts complete series with their reason through
 * the queue; a reopened store finds the same counts.  After a crash (the
 * open-store marker left behind) and the loss of the index's last
 * transactions (here: the whole index), reopening re-indexes every stored
 * file from the files themselves, and leaves alone files it did not make.
 * Threads putting at once, into one series folder and into more folders
 * than the store keeps open, store every instance exactly once; a series
 * folder removed while the store is open is made again, a file left under
 * a final name without its index row is replaced, and a clean close leaves
 * no temporary file behind.
 */
#include <dirent.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nova/dicom.h"
#include "nova/dicom_write.h"
#include "nova/store.h"
#include "test.h"

#define CT "1.2.840.10008.5.1.4.1.1.2"

/* A small CT dataset in explicit VR LE, without its meta group. */
static uint8_t *make_dataset(const char *study, const char *series,
                             const char *sop, int declared, size_t *size)
{
    NovaError *error = NULL;
    NovaDicomBuilder *b = nova_dicom_builder_create(&error);
    nova_dicom_builder_add_string(&error, b, NOVA_TAG(0x0008, 0x0016),
                                  NOVA_VR_UI, CT);
    nova_dicom_builder_add_string(&error, b, NOVA_TAG(0x0008, 0x0018),
                                  NOVA_VR_UI, sop);
    nova_dicom_builder_add_string(&error, b, NOVA_TAG(0x0008, 0x0060),
                                  NOVA_VR_CS, "CT");
    nova_dicom_builder_add_string(&error, b, NOVA_TAG(0x0010, 0x0020),
                                  NOVA_VR_LO, "P1");
    if (study)
        nova_dicom_builder_add_string(&error, b, NOVA_TAG(0x0020, 0x000D),
                                      NOVA_VR_UI, study);
    nova_dicom_builder_add_string(&error, b, NOVA_TAG(0x0020, 0x000E),
                                  NOVA_VR_UI, series);
    if (declared > 0) {
        char text[16];
        snprintf(text, sizeof text, "%d", declared);
        nova_dicom_builder_add_string(&error, b, NOVA_TAG(0x0020, 0x1209),
                                      NOVA_VR_IS, text);
    }
    uint8_t *file = NULL;
    size_t n = 0;
    CHECK(nova_dicom_builder_write_memory(&error, b, NOVA_UID_EXPLICIT_VR_LE,
                                          &file, &n));
    nova_dicom_builder_destroy(b);
    CHECK(error == NULL);
    /* PS3.10 7.1: the meta group length value sits at offset 140. */
    size_t meta = 144 + ((size_t)file[140] | (size_t)file[141] << 8 |
                         (size_t)file[142] << 16 | (size_t)file[143] << 24);
    uint8_t *ds = malloc(n - meta);
    memcpy(ds, file + meta, n - meta);
    *size = n - meta;
    nova_free(file);
    return ds;
}

static NovaErrorCode put(NovaStore *s, const char *sop, const uint8_t *ds,
                         size_t n, bool *dup)
{
    NovaError *error = NULL;
    NovaErrorCode code = NOVA_ERROR_NONE;
    if (!nova_store_put(&error, s, "TESTER", CT, sop, "1.2.840.10008.1.2.1", ds,
                        n, dup))
        code = nova_error_code(error);
    nova_error_free(error);
    return code;
}

/* A store in the test's folder under name, opened with o (completion after
 * complete_after_s seconds of quiet); dir receives its path. */
static NovaStore *open_store(char *dir, size_t size, const char *name,
                             double complete_after_s, NovaStoreOptions *o,
                             NovaError **error)
{
    snprintf(dir, size, "%s/%s", test_tmp_dir(), name);
    nova_store_options_init(o);
    o->complete_after_s = complete_after_s;
    NovaStore *s = nova_store_open(error, dir, o);
    CHECK(s != NULL);
    return s;
}

static void test_store_roundtrip(void)
{
    char dir[512];
    NovaError *error = NULL;
    NovaStoreOptions o;
    NovaStore *s = open_store(dir, sizeof dir, "store-rt", 30, &o, &error);
    if (!s)
        return;
    size_t n = 0;
    bool dup = false;
    uint8_t *ds = make_dataset("1.2.3", "1.2.3.1", "1.2.3.1.1", 2, &n);
    CHECK_EQ_INT(put(s, "1.2.3.1.1", ds, n, &dup), NOVA_ERROR_NONE);
    CHECK(!dup);
    char path[1024];
    snprintf(path, sizeof path, "%s/1.2.3/1.2.3.1/1.2.3.1.1.dcm", dir);
    NovaDataset *back = nova_dataset_read_file(&error, path, NOVA_READ_STRICT);
    CHECK(back != NULL);
    char uid[65] = "";
    nova_dataset_get_string_value(&error, back, NOVA_TAG(0x0008, 0x0018), 0,
                                  uid, sizeof uid);
    CHECK(strcmp(uid, "1.2.3.1.1") == 0);
    nova_dataset_get_string_value(&error, back, NOVA_TAG(0x0002, 0x0010), 0,
                                  uid, sizeof uid);
    CHECK(strcmp(uid, "1.2.840.10008.1.2.1") == 0);
    nova_dataset_get_string_value(&error, back, NOVA_TAG(0x0002, 0x0016), 0,
                                  uid, sizeof uid);
    CHECK(strcmp(uid, "TESTER") == 0);
    nova_dataset_destroy(back);
    char *where = nova_store_instance_path(&error, s, "1.2.3.1.1");
    CHECK(where && strcmp(where, path) == 0);
    nova_free(where);

    /* The same instance again: success, flagged duplicate. */
    CHECK_EQ_INT(put(s, "1.2.3.1.1", ds, n, &dup), NOVA_ERROR_NONE);
    CHECK(dup);
    /* Command and dataset disagree: INVALID (A900). */
    CHECK_EQ_INT(put(s, "1.2.3.1.9", ds, n, &dup), NOVA_ERROR_INVALID);
    /* Hostile UID in the command: INVALID before any path is made. */
    CHECK_EQ_INT(put(s, "../../x", ds, n, &dup), NOVA_ERROR_INVALID);
    free(ds);
    /* No Study Instance UID: INVALID. */
    ds = make_dataset(NULL, "1.2.3.2", "1.2.3.2.1", 0, &n);
    CHECK_EQ_INT(put(s, "1.2.3.2.1", ds, n, &dup), NOVA_ERROR_INVALID);
    /* Cut in the middle of an element: PARSE (C000). */
    CHECK_EQ_INT(put(s, "1.2.3.2.1", ds, n - 3, &dup), NOVA_ERROR_PARSE);
    free(ds);
    int64_t st = 0, se = 0, in = 0;
    CHECK(nova_store_counts(&error, s, &st, &se, &in));
    CHECK_EQ_INT(st, 1);
    CHECK_EQ_INT(se, 1);
    CHECK_EQ_INT(in, 1);

    /* Second instance of the declared 2: complete at once. */
    ds = make_dataset("1.2.3", "1.2.3.1", "1.2.3.1.2", 2, &n);
    CHECK_EQ_INT(put(s, "1.2.3.1.2", ds, n, &dup), NOVA_ERROR_NONE);
    free(ds);
    NovaSeriesCompletion c;
    CHECK(nova_store_wait_completed(s, 2000, &c));
    CHECK(strcmp(c.series_uid, "1.2.3.1") == 0);
    CHECK(strcmp(c.reason, "declared-count") == 0);
    CHECK_EQ_INT(c.n_instances, 2);
    CHECK_EQ_INT(c.declared_instances, 2);

    /* A series without a declared count: complete after the timeout. */
    ds = make_dataset("1.2.3", "1.2.3.5", "1.2.3.5.1", 0, &n);
    CHECK_EQ_INT(put(s, "1.2.3.5.1", ds, n, &dup), NOVA_ERROR_NONE);
    free(ds);
    CHECK(!nova_store_wait_completed(s, 0, &c));
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    double t = (double)now.tv_sec;
    CHECK_EQ_INT(nova_store_check_completion(&error, s, t + 5), 0);
    CHECK_EQ_INT(nova_store_check_completion(&error, s, t + 60), 1);
    CHECK(nova_store_wait_completed(s, 0, &c));
    CHECK(strcmp(c.reason, "timeout") == 0);
    CHECK(strcmp(c.series_uid, "1.2.3.5") == 0);
    nova_store_close(s);

    /* Reopened: the index says the same; no temporary file is left. */
    s = nova_store_open(&error, dir, &o);
    CHECK(s != NULL);
    CHECK(nova_store_counts(&error, s, &st, &se, &in));
    CHECK_EQ_INT(st, 1);
    CHECK_EQ_INT(se, 2);
    CHECK_EQ_INT(in, 3);
    nova_store_close(s);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s/.tmp", dir);
    CHECK(rmdir(tmp) == 0); /* only succeeds when empty */
    nova_store_close(NULL);
}

static bool exists(const char *dir, const char *name)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

static void test_store_reconcile(void)
{
    char dir[512], p[1024];
    NovaError *error = NULL;
    NovaStoreOptions o;
    NovaStore *s = open_store(dir, sizeof dir, "store-rc", 0, &o, &error);
    if (!s)
        return;
    /* While open, the marker exists; a clean close removes it. */
    CHECK(exists(dir, ".running"));
    /* A second opener (another server on the same folder) is refused. */
    CHECK(nova_store_open(&error, dir, &o) == NULL);
    CHECK(error && strstr(nova_error_message(error), "another process"));
    nova_error_free(error);
    error = NULL;
    static const char *const sops[3] = {"1.9.1.1", "1.9.1.2", "1.9.2.1"};
    static const char *const series[3] = {"1.9.1", "1.9.1", "1.9.2"};
    bool dup = false;
    for (int i = 0; i < 3; i++) {
        size_t n = 0;
        uint8_t *ds = make_dataset("1.9", series[i], sops[i], 2, &n);
        CHECK_EQ_INT(put(s, sops[i], ds, n, &dup), NOVA_ERROR_NONE);
        free(ds);
    }
    nova_store_close(s);
    CHECK(!exists(dir, ".running"));

    /* A crash that also lost the index: the marker is back and the index
     * files are gone.  A stray file that does not parse and a file stored
     * under another instance's name sit among the real ones. */
    static const char *const gone[3] = {"index.sqlite", "index.sqlite-wal",
                                        "index.sqlite-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, gone[i]);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s/.running", dir);
    FILE *f = fopen(p, "w");
    CHECK(f != NULL);
    if (f)
        fclose(f);
    snprintf(p, sizeof p, "%s/1.9/1.9.1/1.9.1.7.dcm", dir);
    f = fopen(p, "w");
    if (f) {
        fputs("not DICOM", f);
        fclose(f);
    }
    char from[1024];
    snprintf(from, sizeof from, "%s/1.9/1.9.1/1.9.1.1.dcm", dir);
    snprintf(p, sizeof p, "%s/1.9/1.9.2/1.9.2.5.dcm", dir);
    CHECK(link(from, p) == 0);

    s = nova_store_open(&error, dir, &o);
    CHECK(s != NULL);
    if (!s)
        return;
    int64_t st = 0, se = 0, in = 0;
    CHECK(nova_store_counts(&error, s, &st, &se, &in));
    CHECK_EQ_INT(st, 1);
    CHECK_EQ_INT(se, 2);
    CHECK_EQ_INT(in, 3);
    for (int i = 0; i < 3; i++) {
        char *where = nova_store_instance_path(&error, s, sops[i]);
        snprintf(p, sizeof p, "%s/1.9/%s/%s.dcm", dir, series[i], sops[i]);
        CHECK(where && strcmp(where, p) == 0);
        nova_free(where);
    }
    /* The foreign files stayed where they were, unindexed. */
    CHECK(exists(dir, "1.9/1.9.1/1.9.1.7.dcm"));
    CHECK(exists(dir, "1.9/1.9.2/1.9.2.5.dcm"));
    char *where = nova_store_instance_path(&error, s, "1.9.2.5");
    CHECK(where == NULL);
    CHECK(error && nova_error_code(error) == NOVA_ERROR_NOT_FOUND);
    nova_error_free(error);
    error = NULL;
    /* The re-indexed rows carry the declared count: series 1.9.1 has both
     * of its 2 instances and completed while it was re-indexed. */
    NovaSeriesCompletion c;
    CHECK(nova_store_wait_completed(s, 0, &c));
    CHECK(strcmp(c.series_uid, "1.9.1") == 0);
    CHECK(strcmp(c.reason, "declared-count") == 0);
    CHECK_EQ_INT(c.n_instances, 2);
    CHECK(!nova_store_wait_completed(s, 0, &c));
    /* A re-sent instance is a duplicate, not a second row. */
    size_t n = 0;
    uint8_t *ds = make_dataset("1.9", "1.9.2", "1.9.2.1", 2, &n);
    CHECK_EQ_INT(put(s, "1.9.2.1", ds, n, &dup), NOVA_ERROR_NONE);
    CHECK(dup);
    free(ds);
    nova_store_close(s);
    CHECK(!exists(dir, ".running"));
}

/* ------------------------------------------------------ concurrency */

/* Entries of DIR/SUB whose names end in `suffix`. */
static int count_entries(const char *dir, const char *sub, const char *suffix)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, sub);
    DIR *d = opendir(p);
    int n = 0;
    struct dirent *e;
    size_t k = strlen(suffix);
    while (d && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        n += len > k && strcmp(e->d_name + len - k, suffix) == 0;
    }
    if (d)
        closedir(d);
    return n;
}

/* rm -r of a folder of files. */
static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    char p[1024];
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", path, e->d_name);
            unlink(p);
        }
    if (d)
        closedir(d);
    rmdir(path);
}

enum { PUT_THREADS = 8, PUTS_PER_THREAD = 40 };

typedef struct {
    NovaStore *store;
    int thread;
    int failed;
} PutJob;

/* Even instances go to one series shared by every thread (their folder
 * syncs are shared), odd ones each to a series of their own: 160 folders,
 * more than the store keeps open, so folders are closed and reopened. */
static void put_uids(int thread, int i, char series[32], char sop[40])
{
    if (i % 2 == 0)
        snprintf(series, 32, "1.7.1");
    else
        snprintf(series, 32, "1.7.2.%d.%d", thread, i);
    snprintf(sop, 40, "1.7.3.%d.%d", thread, i);
}

static void *put_main(void *arg)
{
    PutJob *job = arg;
    for (int i = 0; i < PUTS_PER_THREAD; i++) {
        char series[32], sop[40];
        put_uids(job->thread, i, series, sop);
        size_t n = 0;
        bool dup = true;
        uint8_t *ds = make_dataset("1.7", series, sop, 0, &n);
        if (put(job->store, sop, ds, n, &dup) != NOVA_ERROR_NONE || dup)
            job->failed++;
        free(ds);
    }
    return NULL;
}

static void test_store_concurrent(void)
{
    char dir[512], p[1024];
    NovaError *error = NULL;
    NovaStoreOptions o;
    NovaStore *s = open_store(dir, sizeof dir, "store-mt", 0, &o, &error);
    if (!s)
        return;
    pthread_t t[PUT_THREADS];
    PutJob jobs[PUT_THREADS];
    for (int i = 0; i < PUT_THREADS; i++) {
        jobs[i] = (PutJob){.store = s, .thread = i};
        CHECK(pthread_create(&t[i], NULL, put_main, &jobs[i]) == 0);
    }
    for (int i = 0; i < PUT_THREADS; i++) {
        pthread_join(t[i], NULL);
        CHECK_EQ_INT(jobs[i].failed, 0);
    }
    int64_t st = 0, se = 0, in = 0;
    CHECK(nova_store_counts(&error, s, &st, &se, &in));
    CHECK_EQ_INT(st, 1);
    CHECK_EQ_INT(se, 1 + PUT_THREADS * PUTS_PER_THREAD / 2);
    CHECK_EQ_INT(in, PUT_THREADS * PUTS_PER_THREAD);
    /* The per-study and per-series counts in the index, read the way an
     * outside reader would (the store keeps its own connection). */
    snprintf(p, sizeof p, "%s/index.sqlite", dir);
    sqlite3 *db = NULL;
    CHECK(sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    sqlite3_stmt *q = NULL;
    CHECK(sqlite3_prepare_v2(db,
                             "SELECT s.n_series, s.n_instances, r.n_instances "
                             "FROM studies s, series r WHERE s.study_uid = "
                             "'1.7' AND r.series_uid = '1.7.1'",
                             -1, &q, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(q) == SQLITE_ROW);
    CHECK_EQ_INT(sqlite3_column_int64(q, 0),
                 1 + PUT_THREADS * PUTS_PER_THREAD / 2);
    CHECK_EQ_INT(sqlite3_column_int64(q, 1), PUT_THREADS * PUTS_PER_THREAD);
    CHECK_EQ_INT(sqlite3_column_int64(q, 2), PUT_THREADS * PUTS_PER_THREAD / 2);
    sqlite3_finalize(q);
    sqlite3_close(db);
    /* Every instance parses back from where the index says it is. */
    for (int th = 0; th < PUT_THREADS; th++)
        for (int i = 0; i < PUTS_PER_THREAD; i++) {
            char series[32], sop[40], uid[65] = "";
            put_uids(th, i, series, sop);
            char *where = nova_store_instance_path(&error, s, sop);
            snprintf(p, sizeof p, "%s/1.7/%s/%s.dcm", dir, series, sop);
            CHECK(where && strcmp(where, p) == 0);
            nova_free(where);
            NovaDataset *back = nova_dataset_read_file(NULL, p, 0);
            CHECK(back != NULL);
            nova_dataset_get_string_value(NULL, back, NOVA_TAG(0x0008, 0x0018),
                                          0, uid, sizeof uid);
            CHECK(strcmp(uid, sop) == 0);
            nova_dataset_destroy(back);
        }
    /* The shared folder holds its 160 instances. */
    CHECK_EQ_INT(count_entries(dir, "1.7/1.7.1", ".dcm"),
                 PUT_THREADS * PUTS_PER_THREAD / 2);

    /* A series folder removed while the store holds it open: the next put
     * into that series makes the folder again. */
    size_t n = 0;
    bool dup = true;
    uint8_t *ds = make_dataset("1.7", "1.7.9", "1.7.9.1", 0, &n);
    CHECK_EQ_INT(put(s, "1.7.9.1", ds, n, &dup), NOVA_ERROR_NONE);
    free(ds);
    snprintf(p, sizeof p, "%s/1.7/1.7.9", dir);
    remove_tree(p);
    CHECK(access(p, F_OK) != 0);
    ds = make_dataset("1.7", "1.7.9", "1.7.9.2", 0, &n);
    CHECK_EQ_INT(put(s, "1.7.9.2", ds, n, &dup), NOVA_ERROR_NONE);
    CHECK(!dup);
    free(ds);
    CHECK(exists(dir, "1.7/1.7.9/1.7.9.2.dcm"));
    /* A file under an instance's final name that the index lacks (its row
     * lost) is replaced by the instance when it comes. */
    snprintf(p, sizeof p, "%s/1.7/1.7.9/1.7.9.3.dcm", dir);
    FILE *junk = fopen(p, "w");
    CHECK(junk != NULL);
    if (junk) {
        fputs("left over", junk);
        fclose(junk);
    }
    ds = make_dataset("1.7", "1.7.9", "1.7.9.3", 0, &n);
    CHECK_EQ_INT(put(s, "1.7.9.3", ds, n, &dup), NOVA_ERROR_NONE);
    CHECK(!dup);
    free(ds);
    NovaDataset *again = nova_dataset_read_file(NULL, p, NOVA_READ_STRICT);
    CHECK(again != NULL);
    nova_dataset_destroy(again);
    nova_store_close(s);
    /* A clean close leaves no temporary file, spare or partial. */
    CHECK_EQ_INT(count_entries(dir, "1.7/1.7.1", ".part"), 0);
    CHECK_EQ_INT(count_entries(dir, "1.7/1.7.9", ".part"), 0);
    CHECK_EQ_INT(count_entries(dir, "1.7/1.7.9", ".dcm"), 2);
}

int main(void)
{
    RUN(test_store_roundtrip);
    RUN(test_store_reconcile);
    RUN(test_store_concurrent);
    return test_done();
}
