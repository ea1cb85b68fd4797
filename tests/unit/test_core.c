/*
 * test_core.c - errors, allocation failure injection, the thread pool.
 */
#include "nova/core.h"
#include "test.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void test_error_first_wins(void)
{
    NovaError *err = NULL;
    CHECK(!nova_error_set(&err, NOVA_ERROR_PARSE, "parse error",
                          "offset %d: bad", 12));
    nova_error_set(&err, NOVA_ERROR_IO, "io", "second");
    CHECK_EQ_INT(nova_error_code(err), NOVA_ERROR_PARSE);
    CHECK_STR(nova_error_message(err), "offset 12: bad");
    nova_error_prefix(&err, "file %s: ", "x.dcm");
    CHECK_STR(nova_error_message(err), "file x.dcm: offset 12: bad");
    CHECK_STR(nova_error_summary(err), "parse error");
    nova_error_clear(&err);
    CHECK(err == NULL);
    /* NULL means the caller does not care: must not crash. */
    nova_error_set(NULL, NOVA_ERROR_IO, NULL, "ignored");
}

static void test_alloc_failure_injection(void)
{
    NovaError *err = NULL;
    nova_alloc_fail_after(1);
    void *a = nova_malloc(&err, 16);
    void *b = nova_malloc(&err, 16);
    CHECK(a != NULL);
    CHECK(b == NULL);
    CHECK_EQ_INT(nova_error_code(err), NOVA_ERROR_NOMEM);
    nova_free(a);
    nova_error_clear(&err);
    nova_alloc_fail_after(-1);
    CHECK(nova_calloc(&err, SIZE_MAX / 2, 4) == NULL);
    CHECK_EQ_INT(nova_error_code(err), NOVA_ERROR_RANGE);
    nova_error_clear(&err);
}

/* Fresh pages: zero, 2 MiB aligned, usable to the last byte, whether huge
 * pages were taken (warm) or left to 4 KiB faults after a cold probe; an
 * odd size that is not a whole number of pages; failure injection. */
static void test_alloc_pages(void)
{
    NovaError *err = NULL;
    size_t sizes[] = {1, ((size_t)5 << 20) + 12345, (size_t)64 << 20};
    for (int h = 0; h < 2; h++)
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            size_t n = sizes[k];
            uint8_t *p = nova_alloc_pages(&err, n, h == 1);
            CHECK_OK(err);
            if (!p)
                continue;
            CHECK(((uintptr_t)p & (((uintptr_t)2 << 20) - 1)) == 0);
            size_t nonzero = 0;
            for (size_t i = 0; i < n; i += 4096)
                nonzero += p[i] != 0;
            nonzero += p[n - 1] != 0;
            CHECK_EQ_INT(nonzero, 0);
            p[0] = 9;
            p[n - 1] = 7;
            CHECK(p[n - 1] == 7 && (n == 1 || p[0] == 9));
            nova_free_pages(p, n);
        }
    nova_alloc_fail_after(0);
    CHECK(nova_alloc_pages(&err, 4096, true) == NULL);
    CHECK_EQ_INT(nova_error_code(err), NOVA_ERROR_NOMEM);
    nova_error_clear(&err);
    nova_alloc_fail_after(-1);
}

/* mkdir -p: nested parents made, an existing folder is fine, a file in the
 * way is an error that names it. */
static void test_make_dirs(void)
{
    NovaError *err = NULL;
    char base[] = "/tmp/nova-test-dirs-XXXXXX";
    CHECK(mkdtemp(base) != NULL);
    char path[256], file[256];
    snprintf(path, sizeof path, "%s/a/b/c/", base);
    CHECK(nova_make_dirs(&err, path));
    CHECK(nova_make_dirs(&err, path));
    CHECK_OK(err);
    struct stat st;
    snprintf(path, sizeof path, "%s/a/b/c", base);
    CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
    snprintf(file, sizeof file, "%s/f", base);
    FILE *f = fopen(file, "w");
    CHECK(f != NULL);
    if (f)
        fclose(f);
    snprintf(path, sizeof path, "%s/f/g", base);
    CHECK(!nova_make_dirs(&err, path));
    CHECK_EQ_INT(nova_error_code(err), NOVA_ERROR_IO);
    CHECK(err && strstr(nova_error_message(err), file) != NULL);
    nova_error_clear(&err);
    CHECK(!nova_make_dirs(&err, ""));
    nova_error_clear(&err);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", base);
    CHECK_EQ_INT(system(cmd), 0);
}

struct sum_ctx {
    const int *values;
    long long partial[64];
    atomic_int seen[1000];
};

static void sum_range(void *ctx, size_t begin, size_t end, int thread)
{
    struct sum_ctx *c = ctx;
    for (size_t i = begin; i < end; i++)
        c->partial[thread] += c->values[i];
}

static void mark_task(void *ctx, size_t i, int thread)
{
    struct sum_ctx *c = ctx;
    atomic_fetch_add(&c->seen[i], 1);
}

static void mark_range(void *ctx, size_t begin, size_t end, int thread)
{
    for (size_t i = begin; i < end; i++)
        mark_task(ctx, i, thread);
}

static void test_pool(void)
{
    static int values[1000];
    for (int i = 0; i < 1000; i++)
        values[i] = i;
    for (int threads = 1; threads <= 4; threads++) {
        NovaError *err = NULL;
        NovaPool *pool = nova_pool_create(&err, threads);
        CHECK_OK(err);
        CHECK_EQ_INT(nova_pool_get_threads(pool), threads);
        for (int rep = 0; rep < 50; rep++) {
            struct sum_ctx *c = calloc(1, sizeof *c);
            c->values = values;
            nova_pool_parallel_for(pool, 1000, sum_range, c);
            long long total = 0;
            for (int t = 0; t < 64; t++)
                total += c->partial[t];
            CHECK_EQ_INT(total, 999 * 1000 / 2);
            nova_pool_for_each(pool, 1000, mark_task, c);
            for (int i = 0; i < 1000; i++)
                if (atomic_load(&c->seen[i]) != 1)
                    test_fail(__FILE__, __LINE__, "index %d ran %d times", i,
                              atomic_load(&c->seen[i]));
            /* chunks of 7 (the last one shorter): each index once more;
             * n = 0 runs nothing, chunk 0 means 1 */
            nova_pool_parallel_chunks(pool, 1000, 7, mark_range, c);
            nova_pool_parallel_chunks(pool, 0, 7, mark_range, c);
            nova_pool_parallel_chunks(pool, 3, 0, mark_range, c);
            for (int i = 0; i < 1000; i++)
                if (atomic_load(&c->seen[i]) != (i < 3 ? 3 : 2))
                    test_fail(__FILE__, __LINE__, "index %d ran %d times", i,
                              atomic_load(&c->seen[i]));
            free(c);
        }
        nova_pool_destroy(pool);
    }
    nova_pool_destroy(NULL);
}

int main(void)
{
    RUN(test_error_first_wins);
    RUN(test_alloc_failure_injection);
    RUN(test_alloc_pages);
    RUN(test_make_dirs);
    RUN(test_pool);
    return test_done();
}
