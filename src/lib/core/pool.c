/*
 * pool.c - the thread pool: n-1 persistent workers plus the calling thread.
 *
 * One job at a time: a job is published under the mutex with a new
 * generation number, each worker runs its share and counts down, and the
 * caller (which runs share 0 itself) waits for the count to reach zero.
 * Static jobs (parallel_for) give thread t the chunk [t*n/T, (t+1)*n/T), so
 * the split never depends on timing.  Dynamic jobs (for_each) hand out
 * indices from an atomic counter.  Jobs from different caller threads are
 * serialised by job_lock; a job started from inside a worker runs inline,
 * which makes nested use safe instead of a deadlock.
 */
#include "nova/core.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

enum job_kind { JOB_RANGE, JOB_TASKS };

struct NovaPool {
    int n_threads;
    pthread_t *threads;
    pthread_mutex_t lock;
    pthread_mutex_t job_lock;
    pthread_cond_t work_cond;
    pthread_cond_t done_cond;
    uint64_t generation;
    int remaining;
    bool stop;
    /* the current job */
    enum job_kind kind;
    size_t n;
    NovaRangeFn range_fn;
    NovaTaskFn task_fn;
    void *ctx;
    atomic_size_t next;
};

struct worker_arg {
    NovaPool *pool;
    int index;
};

static _Thread_local const NovaPool *current_pool = NULL;

static void run_share(NovaPool *p, int t)
{
    if (p->kind == JOB_RANGE) {
        size_t T = (size_t)p->n_threads;
        size_t begin = p->n * (size_t)t / T;
        size_t end = p->n * ((size_t)t + 1) / T;
        if (begin < end)
            p->range_fn(p->ctx, begin, end, t);
    } else {
        for (;;) {
            size_t i = atomic_fetch_add(&p->next, 1);
            if (i >= p->n)
                break;
            p->task_fn(p->ctx, i, t);
        }
    }
}

static void *worker_main(void *arg)
{
    struct worker_arg *wa = arg;
    NovaPool *p = wa->pool;
    int t = wa->index;
    free(wa);
    current_pool = p;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->stop && p->generation == seen)
            pthread_cond_wait(&p->work_cond, &p->lock);
        if (p->stop)
            break;
        seen = p->generation;
        pthread_mutex_unlock(&p->lock);
        run_share(p, t);
        pthread_mutex_lock(&p->lock);
        if (--p->remaining == 0)
            pthread_cond_signal(&p->done_cond);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static int default_threads(void)
{
    const char *env = getenv("NOVA_THREADS");
    if (env && *env) {
        long v = strtol(env, NULL, 10);
        if (v > 0 && v <= 1024)
            return (int)v;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)(n > 1024 ? 1024 : n) : 1;
}

NovaPool *nova_pool_create(NovaError **error, int n_threads)
{
    if (n_threads <= 0)
        n_threads = default_threads();
    NovaPool *p = nova_calloc(error, 1, sizeof *p);
    if (!p)
        return NULL;
    p->n_threads = n_threads;
    pthread_mutex_init(&p->lock, NULL);
    pthread_mutex_init(&p->job_lock, NULL);
    pthread_cond_init(&p->work_cond, NULL);
    pthread_cond_init(&p->done_cond, NULL);
    if (n_threads > 1) {
        p->threads = nova_calloc(error, (size_t)n_threads, sizeof(pthread_t));
        if (!p->threads) {
            nova_pool_destroy(p);
            return NULL;
        }
        for (int t = 1; t < n_threads; t++) {
            struct worker_arg *wa = nova_malloc(error, sizeof *wa);
            if (!wa) {
                p->n_threads = t;
                nova_pool_destroy(p);
                return NULL;
            }
            wa->pool = p;
            wa->index = t;
            if (pthread_create(&p->threads[t], NULL, worker_main, wa) != 0) {
                free(wa);
                p->n_threads = t;
                nova_pool_destroy(p);
                nova_error_set(error, NOVA_ERROR_INTERNAL, "thread error",
                               "could not start pool thread %d", t);
                return NULL;
            }
        }
    }
    return p;
}

void nova_pool_destroy(NovaPool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_broadcast(&p->work_cond);
    pthread_mutex_unlock(&p->lock);
    if (p->threads)
        for (int t = 1; t < p->n_threads; t++)
            pthread_join(p->threads[t], NULL);
    nova_free(p->threads);
    pthread_mutex_destroy(&p->lock);
    pthread_mutex_destroy(&p->job_lock);
    pthread_cond_destroy(&p->work_cond);
    pthread_cond_destroy(&p->done_cond);
    nova_free(p);
}

int nova_pool_get_threads(const NovaPool *p)
{
    return p ? p->n_threads : 1;
}

static void run_job(NovaPool *p, enum job_kind kind, size_t n,
                    NovaRangeFn range_fn, NovaTaskFn task_fn, void *ctx)
{
    if (n == 0)
        return;
    /* Inline: no pool, one thread, or called from one of our workers. */
    if (!p || p->n_threads == 1 || current_pool == p) {
        if (kind == JOB_RANGE)
            range_fn(ctx, 0, n, 0);
        else
            for (size_t i = 0; i < n; i++)
                task_fn(ctx, i, 0);
        return;
    }
    pthread_mutex_lock(&p->job_lock);
    pthread_mutex_lock(&p->lock);
    p->kind = kind;
    p->n = n;
    p->range_fn = range_fn;
    p->task_fn = task_fn;
    p->ctx = ctx;
    atomic_store(&p->next, 0);
    p->remaining = p->n_threads - 1;
    p->generation++;
    pthread_cond_broadcast(&p->work_cond);
    pthread_mutex_unlock(&p->lock);

    const NovaPool *saved = current_pool;
    current_pool = p;
    run_share(p, 0);
    current_pool = saved;

    pthread_mutex_lock(&p->lock);
    while (p->remaining > 0)
        pthread_cond_wait(&p->done_cond, &p->lock);
    pthread_mutex_unlock(&p->lock);
    pthread_mutex_unlock(&p->job_lock);
}

void nova_pool_parallel_for(NovaPool *p, size_t n, NovaRangeFn fn, void *ctx)
{
    run_job(p, JOB_RANGE, n, fn, NULL, ctx);
}

void nova_pool_for_each(NovaPool *p, size_t n, NovaTaskFn fn, void *ctx)
{
    run_job(p, JOB_TASKS, n, NULL, fn, ctx);
}

typedef struct {
    NovaRangeFn fn;
    void *ctx;
    size_t n, chunk;
} ChunkJob;

static void chunk_task(void *vctx, size_t k, int thread)
{
    const ChunkJob *c = vctx;
    size_t begin = k * c->chunk;
    size_t end = c->n - begin < c->chunk ? c->n : begin + c->chunk;
    c->fn(c->ctx, begin, end, thread);
}

void nova_pool_parallel_chunks(NovaPool *p, size_t n, size_t chunk,
                               NovaRangeFn fn, void *ctx)
{
    if (n == 0)
        return;
    if (chunk == 0)
        chunk = 1;
    ChunkJob c = {fn, ctx, n, chunk};
    nova_pool_for_each(p, (n - 1) / chunk + 1, chunk_task, &c);
}
