/*
 * team.c - the session's threads walking a stretch of the graph together.
 *
 * With the oneDNN path and more than one thread, a session runs each
 * stretch of nodes that can be split by thread index as one job of Nova's
 * pool: every pool thread walks the same nodes, does its share of each
 * (nova__nn_par_for, or its slice of a oneDNN primitive, dnnl.c) and meets
 * the others at a barrier before the next node.  This replaces one pool job
 * (a condition-variable wake-up of each worker) or one OpenMP parallel
 * region per node by one barrier per node.  On the 2-vCPU benchmark VM a
 * wake-up cost 0.05-0.3 ms, a barrier between threads that are both
 * running about a microsecond.
 *
 * The barrier spins for a while (threads that just did equal shares of a
 * node arrive close together) and then sleeps on a futex, so a thread
 * waiting through a long serial node does not hold a core that another
 * process could use.
 *
 * Thread rules: a team belongs to one session, and a session runs on one
 * caller thread at a time; the thread-local "current team" is set only
 * between nova__nn_team_enter and nova__nn_team_leave on that thread.
 */
#include "nn_internal.h"

#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

struct NnTeam {
    int n_threads;
    double spin_seconds;
    _Alignas(64) atomic_uint arrived;
    _Alignas(64) atomic_uint generation;
    atomic_int sleepers;
};

/* The team and thread index of the calling thread while it walks a
 * stretch of nodes, so the kernels' parallel loops split by thread index
 * instead of starting pool jobs. */
static _Thread_local NnTeam *current_team;
static _Thread_local int current_thread;

NnTeam *nova__nn_team_create(NovaError **error, int n_threads)
{
    NnTeam *t = nova_malloc_aligned(error, 64, sizeof *t);
    if (!t)
        return NULL;
    memset(t, 0, sizeof *t);
    t->n_threads = n_threads;
    atomic_init(&t->arrived, 0);
    atomic_init(&t->generation, 0);
    atomic_init(&t->sleepers, 0);
    /* NOVA_NN_SPIN_US: how long a barrier spins before it sleeps
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
    nova_free(t);
}

int nova__nn_team_threads(const NnTeam *t)
{
    return t->n_threads;
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

void nova__nn_team_barrier(NnTeam *t)
{
    if (t->n_threads <= 1)
        return;
    unsigned gen = atomic_load_explicit(&t->generation, memory_order_acquire);
    if (atomic_fetch_add_explicit(&t->arrived, 1, memory_order_acq_rel) ==
        (unsigned)t->n_threads - 1) {
        /* Last to arrive: reset the count before releasing the others, so
         * none of them can arrive at the next barrier before the reset. */
        atomic_store_explicit(&t->arrived, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&t->generation, 1, memory_order_seq_cst);
        if (atomic_load_explicit(&t->sleepers, memory_order_seq_cst) > 0)
            syscall(SYS_futex, &t->generation, FUTEX_WAKE_PRIVATE, INT_MAX,
                    NULL, NULL, 0);
        return;
    }
    double until = -1;
    for (unsigned i = 1;; i++) {
        if (atomic_load_explicit(&t->generation, memory_order_acquire) != gen)
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
    atomic_fetch_add_explicit(&t->sleepers, 1, memory_order_seq_cst);
    while (atomic_load_explicit(&t->generation, memory_order_seq_cst) == gen)
        syscall(SYS_futex, &t->generation, FUTEX_WAIT_PRIVATE, gen, NULL, NULL,
                0);
    atomic_fetch_sub_explicit(&t->sleepers, 1, memory_order_relaxed);
}

void nova__nn_team_enter(NnTeam *t, int thread)
{
    current_team = t;
    current_thread = thread;
}

void nova__nn_team_leave(void)
{
    current_team = NULL;
    current_thread = 0;
}

void nova__nn_par_for(NovaPool *pool, size_t n, NovaRangeFn fn, void *ctx)
{
    NnTeam *t = current_team;
    if (!pool || !t) {
        nova_pool_parallel_for(pool, n, fn, ctx);
        return;
    }
    /* The same static split as the pool's, so results do not depend on
     * which of the two ran the loop. */
    size_t T = (size_t)t->n_threads, k = (size_t)current_thread;
    size_t begin = n * k / T, end = n * (k + 1) / T;
    if (begin < end)
        fn(ctx, begin, end, current_thread);
    nova__nn_team_barrier(t);
}
