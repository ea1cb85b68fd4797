/*
 * nova/core.h - errors, allocation, logging and the thread pool.
 *
 * Every fallible Nova call takes `NovaError **error` as its first argument and
 * returns NULL, false or -1 on failure.  The first error set wins: a later
 * nova_error_set() on an already-set error does nothing, so the innermost,
 * most precise message survives.  Callers that do not care pass NULL.
 *
 * All allocation goes through nova_malloc() and friends so tests can inject
 * failures (nova_alloc_fail_after()).
 */
#ifndef NOVA_CORE_H
#define NOVA_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define NOVA_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define NOVA_PRINTF(f, a)
#endif

/* ---------------------------------------------------------------- errors */

typedef enum {
    NOVA_ERROR_NONE = 0,
    NOVA_ERROR_NOMEM,       /* allocation failed */
    NOVA_ERROR_IO,          /* open/read/write failed */
    NOVA_ERROR_PARSE,       /* bytes do not follow the format */
    NOVA_ERROR_UNSUPPORTED, /* valid, but Nova does not handle it */
    NOVA_ERROR_INVALID,     /* bad argument or bad value */
    NOVA_ERROR_NOT_FOUND,   /* requested thing is absent */
    NOVA_ERROR_RANGE,       /* a size or index out of range */
    NOVA_ERROR_INTERNAL     /* a bug in Nova */
} NovaErrorCode;

typedef struct NovaError NovaError;

/* Set *error (if error is non-NULL and *error is NULL).  The summary is a
 * short fixed phrase ("parse error"); the message is the detail with the
 * location.  Always returns false so callers can `return nova_error_set(..)`.
 */
bool nova_error_set(NovaError **error, NovaErrorCode code, const char *summary,
                    const char *format, ...) NOVA_PRINTF(4, 5);
bool nova_error_setv(NovaError **error, NovaErrorCode code, const char *summary,
                     const char *format, va_list ap);

/* Prepend context to an existing error's message ("file x.dcm: ").  Does
 * nothing when error or *error is NULL. */
void nova_error_prefix(NovaError **error, const char *format, ...)
    NOVA_PRINTF(2, 3);

NovaErrorCode nova_error_code(const NovaError *error);
const char *nova_error_code_name(NovaErrorCode code);
/* Borrowed strings, valid until nova_error_free(). */
const char *nova_error_summary(const NovaError *error);
const char *nova_error_message(const NovaError *error);
void nova_error_free(NovaError *error);
/* Free *error and reset it to NULL. */
void nova_error_clear(NovaError **error);

/* ------------------------------------------------------------ allocation */

/* Allocation wrappers.  On failure they set NOVA_ERROR_NOMEM and return
 * NULL.  nova_calloc and nova_malloc_array check n * size for overflow. */
void *nova_malloc(NovaError **error, size_t size);
void *nova_calloc(NovaError **error, size_t n, size_t size);
void *nova_malloc_array(NovaError **error, size_t n, size_t size);
void *nova_realloc(NovaError **error, void *ptr, size_t size);
/* Aligned allocation (alignment a power of two, multiple of sizeof(void*));
 * free with nova_free. */
void *nova_malloc_aligned(NovaError **error, size_t alignment, size_t size);
/* Zero-filled memory straight from the kernel (anonymous mmap), aligned to
 * 2 MiB: nothing is written until first use, so the kernel zeroes each
 * page where a worker first touches it instead of one thread zeroing the
 * whole block up front.  huge asks for transparent huge pages while they
 * are cheap: 10x fewer faults when the kernel has recently freed memory at
 * hand, but on a virtual machine whose free memory has been handed back to
 * the host the first touch of a huge page costs 10-30x a warm one (256 MiB
 * measured here: 37-60 ms warm, 0.4-3.0 s cold, 170-230 ms with 4 KiB
 * pages either way).  So the block's huge pages are touched here, in
 * order, and from the first slow one on the rest is left to 4 KiB faults:
 * at worst one cold huge page.  For large buffers (volumes); free with
 * nova_free_pages(ptr, size). */
void *nova_alloc_pages(NovaError **error, size_t size, bool huge);
void nova_free_pages(void *ptr, size_t size);
char *nova_strdup(NovaError **error, const char *s);
char *nova_strndup(NovaError **error, const char *s, size_t n);
void nova_free(void *ptr);
/* malloc-style formatted string, caller frees with nova_free. */
char *nova_strdup_printf(NovaError **error, const char *format, ...)
    NOVA_PRINTF(2, 3);

/* Overflow-checked size arithmetic: false on overflow. */
bool nova_size_mul(size_t a, size_t b, size_t *out);
bool nova_size_add(size_t a, size_t b, size_t *out);

/* Test hook: make the n-th following allocation (0 = the next one) fail,
 * in the calling thread only; negative disables.  Returns the number of
 * allocations counted since the last call. */
long nova_alloc_fail_after(long n);

/* --------------------------------------------------------------- logging */

typedef enum {
    NOVA_LOG_ERROR = 0,
    NOVA_LOG_WARNING,
    NOVA_LOG_INFO,
    NOVA_LOG_DEBUG
} NovaLogLevel;

typedef void (*NovaLogHandler)(NovaLogLevel level, const char *message,
                               void *user);

/* Process-wide log configuration: set once at start-up, before threads. The
 * default handler writes "nova: level: message" to stderr for levels up to
 * NOVA_LOG_WARNING. */
void nova_log_set_level(NovaLogLevel level);
void nova_log_set_handler(NovaLogHandler handler, void *user);
void nova_log(NovaLogLevel level, const char *format, ...) NOVA_PRINTF(2, 3);

/* ------------------------------------------------------------ thread pool */

typedef struct NovaPool NovaPool;

/* Create a pool of n_threads workers (the calling thread counts as one:
 * n_threads - 1 threads are started).  n_threads <= 0 means the number of
 * online CPUs, or the NOVA_THREADS environment variable when set. */
NovaPool *nova_pool_create(NovaError **error, int n_threads);
void nova_pool_destroy(NovaPool *pool);
int nova_pool_get_threads(const NovaPool *pool);

/* Static split: [0, n) is cut into contiguous chunks, one per thread, and
 * fn(ctx, begin, end, thread_index) runs on each.  The split depends only on
 * n and the thread count, so results never depend on timing.  Blocks until
 * all chunks finish.  pool may be NULL (runs inline on one thread).  Not
 * reentrant: fn must not call into the same pool. */
typedef void (*NovaRangeFn)(void *ctx, size_t begin, size_t end, int thread);
void nova_pool_parallel_for(NovaPool *pool, size_t n, NovaRangeFn fn,
                            void *ctx);

/* Dynamic split for tasks of uneven cost (decoding files): each index in
 * [0, n) is handed to fn(ctx, index, thread_index) exactly once, in order
 * of availability.  Use only where the result of each index does not depend
 * on which thread runs it. */
typedef void (*NovaTaskFn)(void *ctx, size_t index, int thread);
void nova_pool_for_each(NovaPool *pool, size_t n, NovaTaskFn fn, void *ctx);

/* Dynamic split of a range: [0, n) is cut into contiguous chunks of
 * `chunk` indices (the last may be shorter), handed out in order of
 * availability as fn(ctx, begin, end, thread_index), for loops whose cost
 * is uneven along the range (the slices that hold lesions).  Use only where
 * the result does not depend on which thread runs a chunk (per-index
 * writes, integer sums per thread). */
void nova_pool_parallel_chunks(NovaPool *pool, size_t n, size_t chunk,
                               NovaRangeFn fn, void *ctx);

/* --------------------------------------------------------------- version */

const char *nova_version(void);

/* ------------------------------------------------------------- folders */

/* mkdir -p: the folder and any missing parents (mode 0755); an error names
 * the part that could not be made or exists and is not a folder. */
bool nova_make_dirs(NovaError **error, const char *path);

/* Monotonic clock in seconds, for timings reported in results. */
double nova_time_now(void);
/* CPU time of the whole process (all threads) in seconds, for per-step
 * debug timings: steadier than wall time on a shared machine. */
double nova_cpu_time_now(void);

#ifdef __cplusplus
}
#endif
#endif
