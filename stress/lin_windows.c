/*
 * lin_windows.c - the window frame of the *-lin scenarios; see
 * lin_windows.h.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lin_windows.h"

void linw_record(struct lin_windows *w, unsigned who, enum lin_kind kind, enum lin_result res,
                 uint64_t t0, uint64_t t1, const uint64_t *v, size_t n, size_t asked)
{
    if (!lin_log_add(&w->log[who], kind, res, t0, t1, v, n, asked))
        stress_fail(w->r, "linearizability log of thread %u full (harness bug)", who);
}

/* linw_run between the barriers' init and destroy */
static bool linw_windows(struct lin_windows *w, struct team *t,
                         bool (*window)(void *, struct rng *, bool), void *arg)
{
    struct stress_run *r = w->r;
    struct rng g;
    rng_seed(&g, r->seed, r->stream);
    double t0 = stress_now(), end = t0 + r->seconds;
    if (!team_start(t))
        return false; /* (a partial team would hang the barriers) */
    while ((stress_now() < end || w->windows < 8) && !stress_failed(r))
        if (!window(arg, &g, w->windows % 4 != 3))
            break;
    /* relaxed: published to the workers by the barrier */
    atomic_store_explicit(&w->quit, true, memory_order_relaxed);
    pthread_barrier_wait(&w->start);
    team_join(t, NULL);
    r->elapsed = stress_now() - t0;
    r->ops = w->recorded;
    return true;
}

bool linw_run(struct lin_windows *w, struct team *t, bool (*window)(void *, struct rng *, bool),
              void *arg)
{
    /* every log's thread meets at both: main and the workers */
    pthread_barrier_init(&w->start, NULL, w->nlogs);
    pthread_barrier_init(&w->end, NULL, w->nlogs);
    bool started = linw_windows(w, t, window, arg);
    pthread_barrier_destroy(&w->start);
    pthread_barrier_destroy(&w->end);
    return started;
}

void linw_judge(struct lin_windows *w, const struct lin_spec *spec, bool search, int nodes,
                const char *what, const char *label, const char *threads)
{
    struct stress_run *r = w->r;
    size_t n = 0, nv = 0;
    for (unsigned who = 0; who < w->nlogs; who++) {
        const struct lin_log *lg = &w->log[who];
        for (size_t i = 0; i < lg->nops; i++) {
            w->hops[n] = lg->ops[i];
            w->hops[n++].first += (uint32_t)nv;
        }
        memcpy(w->hvals + nv, lg->vals, lg->nvals * sizeof *w->hvals);
        nv += lg->nvals;
    }
    w->recorded += n;
    struct lin_verdict v;
    int fast = lin_fast_check(w->ctx, spec, w->hops, n, w->hvals, &v);
    int full = -2;
    if (search && n <= LIN_EXHAUSTIVE_MAX_OPS) {
        full = lin_exhaustive_check(w->ctx, spec, w->hops, n, w->hvals, nodes);
        w->searched++;
        w->undecided += full < 0;
    }
    unsigned long long win = (unsigned long long)w->windows;
    bool bad = false;
    if (fast < 0) {
        stress_fail(r, "window %llu: harness error: %s", win, v.text);
        bad = true;
    } else if (fast == 0) {
        stress_fail(r, "window %llu (%s%zu ops): %s", win, what, n, v.text);
        bad = true;
    }
    if (fast >= 0 && full >= 0) {
        bool fast_rejects = fast == 0 && (v.rules & LIN_LINEARIZABILITY_RULES) != 0;
        if (fast_rejects != (full == 0)) {
            stress_fail(r,
                        "window %llu: the checkers disagree: the fast checker %s, the "
                        "exhaustive search %s",
                        win, fast_rejects ? "rejects" : "accepts",
                        full ? "finds a linearization" : "finds none");
            bad = true;
        }
    }
    if (bad && !w->printed) {
        w->printed = true;
        printf("    window %llu%s: its history (times in us from the first invocation; %s):\n", win,
               label, threads);
        lin_print_history(stdout, w->hops, n, w->hvals, 80);
        fflush(stdout);
    }
}

void linw_report_undecided(const struct lin_windows *w, int nodes)
{
    if (w->undecided)
        printf("    (%llu of %llu searched windows undecided: the search gave up after %d "
               "configurations)\n",
               (unsigned long long)w->undecided, (unsigned long long)w->searched, nodes);
}

void linw_free(struct lin_windows *w)
{
    for (unsigned who = 0; who < w->nlogs; who++) {
        free(w->log[who].ops);
        free(w->log[who].vals);
    }
    free(w->hops);
    free(w->hvals);
    lin_ctx_free(w->ctx);
}
