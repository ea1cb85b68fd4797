/*
 * alloc.c - the one allocation wrapper.
 *
 * Every Nova allocation passes here so that a failure is reported as a
 * NovaError and so that tests can make the n-th allocation fail
 * (nova_alloc_fail_after) to prove that every path cleans up.  The failure
 * counter is thread-local: it is test state, not shared state.
 */
#include "nova/core.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static _Thread_local long fail_countdown = -1;
static _Thread_local long alloc_count = 0;

long nova_alloc_fail_after(long n)
{
    long counted = alloc_count;
    alloc_count = 0;
    fail_countdown = n;
    return counted;
}

static bool should_fail(void)
{
    alloc_count++;
    if (fail_countdown < 0)
        return false;
    if (fail_countdown == 0) {
        fail_countdown = -1;
        return true;
    }
    fail_countdown--;
    return false;
}

bool nova_size_mul(size_t a, size_t b, size_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

bool nova_size_add(size_t a, size_t b, size_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

static void *oom(NovaError **error, size_t size)
{
    nova_error_set(error, NOVA_ERROR_NOMEM, "out of memory",
                   "could not allocate %zu bytes", size);
    return NULL;
}

void *nova_malloc(NovaError **error, size_t size)
{
    if (should_fail())
        return oom(error, size);
    void *p = malloc(size ? size : 1);
    return p ? p : oom(error, size);
}

void *nova_calloc(NovaError **error, size_t n, size_t size)
{
    size_t total;
    if (!nova_size_mul(n, size, &total)) {
        nova_error_set(error, NOVA_ERROR_RANGE, "size overflow",
                       "allocation of %zu x %zu bytes overflows", n, size);
        return NULL;
    }
    if (should_fail())
        return oom(error, total);
    void *p = calloc(n ? n : 1, size ? size : 1);
    return p ? p : oom(error, total);
}

void *nova_malloc_array(NovaError **error, size_t n, size_t size)
{
    size_t total;
    if (!nova_size_mul(n, size, &total)) {
        nova_error_set(error, NOVA_ERROR_RANGE, "size overflow",
                       "allocation of %zu x %zu bytes overflows", n, size);
        return NULL;
    }
    return nova_malloc(error, total);
}

void *nova_realloc(NovaError **error, void *ptr, size_t size)
{
    if (should_fail())
        return oom(error, size);
    void *p = realloc(ptr, size ? size : 1);
    return p ? p : oom(error, size);
}

void *nova_malloc_aligned(NovaError **error, size_t alignment, size_t size)
{
    if (should_fail())
        return oom(error, size);
    void *p = NULL;
    if (posix_memalign(&p, alignment, size ? size : 1) != 0)
        return oom(error, size);
    return p;
}

#define PAGES_ALIGN ((size_t)2 << 20)

#ifdef MADV_HUGEPAGE
/* A huge page whose zeroing takes longer than this was not backed by the
 * host: warm ones take 0.3 ms per 2 MiB here (7 GB/s), cold ones 3-20 ms. */
#define COLD_HUGE_PAGE_SECONDS 1.5e-3

static double seconds_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Huge pages only while they are cheap.  On a virtual machine the guest's
 * free memory is handed back to the host a few seconds after it is freed
 * (free page reporting); the first touch of such a huge page costs 10-30x
 * a warm one, and far more than 4 KiB pages (256 MiB measured here: 37-60
 * ms with warm huge pages, 0.4-3.0 s with cold ones, 170-230 ms with 4 KiB
 * pages whichever).  The kernel hands out the warm (recently freed) pages
 * first, so the pages are touched here in order, one huge page at a time,
 * and at the first slow one the rest of the block is left to 4 KiB faults
 * where the workers first write.  Worst case: one cold huge page.  Kernel
 * behaviour, not something a library offers, hence our own code. */
static void take_warm_huge_pages(uint8_t *p, size_t len)
{
    if (madvise(p, len, MADV_HUGEPAGE) != 0)
        return; /* advice: failure leaves 4 KiB pages */
    for (size_t at = 0; at < len; at += PAGES_ALIGN) {
        double t0 = seconds_now();
        *(volatile uint8_t *)(p + at) = 0;
        if (seconds_now() - t0 > COLD_HUGE_PAGE_SECONDS) {
            size_t next = at + PAGES_ALIGN;
            if (next < len)
                madvise(p + next, len - next, MADV_NOHUGEPAGE);
            return;
        }
    }
}
#endif

void *nova_alloc_pages(NovaError **error, size_t size, bool huge)
{
    if (should_fail() || size > SIZE_MAX - 2 * PAGES_ALIGN)
        return oom(error, size);
    size_t len = (size + PAGES_ALIGN - 1) / PAGES_ALIGN * PAGES_ALIGN;
    /* over-map by the alignment, then give back the ends */
    uint8_t *raw = mmap(NULL, len + PAGES_ALIGN, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return oom(error, size);
    uintptr_t at = ((uintptr_t)raw + PAGES_ALIGN - 1) & ~(PAGES_ALIGN - 1);
    uint8_t *p = (uint8_t *)at;
    if (p > raw)
        munmap(raw, (size_t)(p - raw));
    size_t tail = (size_t)(raw + len + PAGES_ALIGN - (p + len));
    if (tail)
        munmap(p + len, tail);
#ifdef MADV_HUGEPAGE
    if (huge)
        take_warm_huge_pages(p, len);
#endif
    return p;
}

void nova_free_pages(void *ptr, size_t size)
{
    if (!ptr)
        return;
    size_t len = (size + PAGES_ALIGN - 1) / PAGES_ALIGN * PAGES_ALIGN;
    munmap(ptr, len);
}

char *nova_strdup(NovaError **error, const char *s)
{
    return nova_strndup(error, s, strlen(s));
}

char *nova_strndup(NovaError **error, const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = nova_malloc(error, len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

char *nova_strdup_printf(NovaError **error, const char *format, ...)
{
    va_list ap, ap2;
    va_start(ap, format);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, format, ap);
    va_end(ap);
    char *s = NULL;
    if (n >= 0 && (s = nova_malloc(error, (size_t)n + 1)) != NULL)
        vsnprintf(s, (size_t)n + 1, format, ap2);
    va_end(ap2);
    return s;
}

void nova_free(void *ptr)
{
    free(ptr);
}
