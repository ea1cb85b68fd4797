/*
 * team.c - the session's threads walking a stretch of the graph together.
 *
 * With the oneDNN path and more than one thread, a session runs each
 * stretch of nodes that can be split into chunks as one job of Nova's
 * pool: every pool thread walks the same nodes.  Each node is one or more
 * *steps* (a copy into the node's layout, the node's work, a copy out; a
 * kernel with two loops has two), and each step a fixed number of chunks
 * (one per team thread for split work, one for a small node).  A thread
 * arriving at step j waits until every chunk of step j - 1 is done, then
 * takes chunks of step j from an atomic counter until none is left, and
 * goes on to step j + 1 without waiting for the chunks others took.
 *
 * So a thread that the kernel has descheduled (a busy shared machine) does
 * not hold the others up: they take its chunks, and it skips the steps it
 * finds done when it runs again.  What a chunk computes depends only on
 * its index, never on the thread that takes it, so results are the same
 * bits whatever the timing (a kernel's per-thread scratch is the taking
 * thread's).  This replaces one OpenMP parallel region (oneDNN's threads)
 * or one pool job (Nova's kernels) per node, each of which woke a
 * sleeping thread (0.05-0.3 ms on the 2-vCPU benchmark VM).
 *
 * A waiting thread spins for a while (chunks of one step end close
 * together) and then sleeps on a futex, so a thread waiting through a long
 * small-node chunk does not hold a core another process could use.
 *
 * Thread rules: a team belongs to one session, and a session runs on one
 * caller thread at a time; the thread-local walk state is set only between
 * nova__nn_team_enter and nova__nn_team_leave on that thread.  Steps are
 * reset by nova__nn_team_reset before each stretch, when no thread uses
 * them (the pool job of the previous stretch has returned).
 */
#include "nn_internal.h"

#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef struct {
    _Alignas(64) atomic_int next; /* chunks handed out */
    atomic_int done;              /* chunks finished */
    atomic_int sleepers;          /* threads waiting on done */
} Step;

struct NnTeam {
    int n_threads;
    double spin_seconds;
    int n_steps; /* capacity */
    int used;    /* steps the last stretch used */
    Step *steps;
};

/* The calling thread's walk through the current stretch. */
static _Thread_local NnTeam *current_team;
static _Thread_local int current_thread;
static _Thread_local int cursor;     /* next step index */
static _Thread_local int prev_total; /* chunks of step cursor - 1 */

NnTeam *nova__nn_team_create(NovaError **error, int n_threads, int max_steps)
{
    NnTeam *t = nova_calloc(error, 1, sizeof *t);
    if (!t)
        return NULL;
    t->n_threads = n_threads;
    t->n_steps = max_steps;
    t->steps = nova_malloc_aligned(error, 64, (size_t)max_steps * sizeof(Step));
    if (!t->steps) {
        nova_free(t);
        return NULL;
    }
    t->used = max_steps;
    nova__nn_team_reset(t);
    /* NOVA_NN_SPIN_US: how long a waiting thread spins before it sleeps
     * (default 200 us, 0 sleeps at once). */
    t->spin_seconds = 200e-6;
    const char *env = getenv("NOVA_NN_SPIN_US");
    if (env && *env) {
        long us = strtol(env, NULL, 10);
        if (us >= 0 && us <= 1000000)
            t->spin_seconds = (double)us * 1e-6;
    }
    return t;
}

void nova__nn_team_destroy(NnTeam *t)
{
    if (!t)
        return;
    nova_free(t->steps);
    nova_free(t);
}

int nova__nn_team_threads(const NnTeam *t)
{
    return t->n_threads;
}

void nova__nn_team_reset(NnTeam *t)
{
    for (int i = 0; i < t->used && i < t->n_steps; i++) {
        atomic_init(&t->steps[i].next, 0);
        atomic_init(&t->steps[i].done, 0);
        atomic_init(&t->steps[i].sleepers, 0);
    }
    t->used = 0;
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Until every one of step s's total chunks is done. */
static void wait_done(const NnTeam *t, Step *s, int total)
{
    if (atomic_load_explicit(&s->done, memory_order_acquire) >= total)
        return;
    double until = -1;
    for (unsigned i = 1;; i++) {
        if (atomic_load_explicit(&s->done, memory_order_acquire) >= total)
            return;
        cpu_relax();
        if ((i & 255) == 0) {
            double now = nova_time_now();
            if (until < 0)
                until = now + t->spin_seconds;
            else if (now >= until)
                break;
        }
    }
    atomic_fetch_add_explicit(&s->sleepers, 1, memory_order_seq_cst);
    for (;;) {
        int d = atomic_load_explicit(&s->done, memory_order_seq_cst);
        if (d >= total)
            break;
        syscall(SYS_futex, &s->done, FUTEX_WAIT_PRIVATE, d, NULL, NULL, 0);
    }
    atomic_fetch_sub_explicit(&s->sleepers, 1, memory_order_relaxed);
}

void nova__nn_team_step(int total, NnChunkFn fn, void *ctx)
{
    NnTeam *t = current_team;
    if (!t) {
        for (int c = 0; c < total; c++)
            fn(ctx, c, 0);
        return;
    }
    int j = cursor++;
    /* Session planning gives every node room for its steps (at most
     * four); running past them would break the walk for all threads. */
    if (j >= t->n_steps)
        abort();
    if (j > 0)
        wait_done(t, &t->steps[j - 1], prev_total);
    Step *s = &t->steps[j];
    for (;;) {
        int c = atomic_fetch_add_explicit(&s->next, 1, memory_order_relaxed);
        if (c >= total)
            break;
        fn(ctx, c, current_thread);
        if (atomic_fetch_add_explicit(&s->done, 1, memory_order_seq_cst) + 1 ==
                total &&
            atomic_load_explicit(&s->sleepers, memory_order_seq_cst) > 0)
            syscall(SYS_futex, &s->done, FUTEX_WAKE_PRIVATE, INT_MAX, NULL,
                    NULL, 0);
    }
    prev_total = total;
}

void nova__nn_team_enter(NnTeam *t, int thread)
{
    current_team = t;
    current_thread = thread;
    cursor = 0;
    prev_total = 0;
}

void nova__nn_team_leave(void)
{
    NnTeam *t = current_team;
    /* Every thread walked the same steps; record how many to reset. */
    if (t && current_thread == 0)
        t->used = cursor;
    current_team = NULL;
    current_thread = 0;
}

typedef struct {
    size_t n;
    int chunks;
    NovaRangeFn fn;
    void *ctx;
} RangeChunks;

static void range_chunk(void *ctx, int c, int thread)
{
    const RangeChunks *r = ctx;
    size_t begin = r->n * (size_t)c / (size_t)r->chunks;
    size_t end = r->n * ((size_t)c + 1) / (size_t)r->chunks;
    if (begin < end)
        r->fn(r->ctx, begin, end, thread);
}

void nova__nn_par_for(NovaPool *pool, size_t n, NovaRangeFn fn, void *ctx)
{
    NnTeam *t = current_team;
    if (!pool || !t) {
        nova_pool_parallel_for(pool, n, fn, ctx);
        return;
    }
    /* The pool's static split, one chunk per team thread, taken by
     * whichever thread comes first. */
    RangeChunks r = {n, t->n_threads, fn, ctx};
    nova__nn_team_step(t->n_threads, range_chunk, &r);
}

void nova__nn_par_for_fine(NovaPool *pool, size_t n, int per_thread,
                           NovaRangeFn fn, void *ctx)
{
    NnTeam *t = current_team;
    if (!pool || !t) {
        nova_pool_parallel_for(pool, n, fn, ctx);
        return;
    }
    size_t chunks =
        (size_t)t->n_threads * (size_t)(per_thread > 1 ? per_thread : 1);
    if (chunks > n)
        chunks = n > 0 ? n : 1;
    RangeChunks r = {n, (int)chunks, fn, ctx};
    nova__nn_team_step((int)chunks, range_chunk, &r);
}
