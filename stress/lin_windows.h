/*
 * lin_windows.h - what the *-lin scenarios (stress/rings_lin.c, the
 * deque's in stress/deque.c) share: the window frame (the barriers that
 * start and end a window, the logs, the history buffers and the checker's
 * context, the counters of the run) and the loop that runs windows until
 * the time is up.  Each scenario embeds a struct lin_windows and points
 * its logs at its own array.
 */
#ifndef WEFT_STRESS_LIN_WINDOWS_H
#define WEFT_STRESS_LIN_WINDOWS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "lincheck.h"
#include "stress.h"

struct lin_windows {
    struct stress_run *r;
    pthread_barrier_t start, end;
    atomic_bool quit;    /* read after the start barrier */
    struct lin_log *log; /* nlogs of them, the scenario's: [0] is main's */
    unsigned nlogs;
    struct lin_op *hops; /* the window's history, assembled by main */
    uint64_t *hvals;
    struct lin_ctx *ctx;
    uint64_t windows, searched, undecided, recorded;
    bool printed;
};

/* Add an operation to log who (failing the run if the log is full). */
void linw_record(struct lin_windows *w, unsigned who, enum lin_kind kind, enum lin_result res,
                 uint64_t t0, uint64_t t1, const uint64_t *v, size_t n, size_t asked);

/* Run windows (window(arg, g, short_window); false stops) on team t (its
 * workers added, one per log but main's), with the barriers made for the
 * nlogs threads, until the run's time is up, at least 8, every fourth long; then
 * tell the workers to quit, join them and record the time and the ops.
 * false when the team could not start (reported). */
bool linw_run(struct lin_windows *w, struct team *t, bool (*window)(void *, struct rng *, bool),
              void *arg);

/* Assemble the window's history from the logs and check it: the fast
 * checker, and the exhaustive search too (nodes configurations at most)
 * when search is set and the window is short enough.  Report a violation
 * (naming the window's setup, what: "capacity 4, " or "") or a
 * disagreement of the two, and print the first bad window's history, its
 * header naming the window (label) and the threads (threads). */
void linw_judge(struct lin_windows *w, const struct lin_spec *spec, bool search, int nodes,
                const char *what, const char *label, const char *threads);

/* Say how many searched windows were undecided (the search gave up after
 * nodes configurations), if any. */
void linw_report_undecided(const struct lin_windows *w, int nodes);

/* Free the logs' buffers, the history and the context. */
void linw_free(struct lin_windows *w);

#endif /* WEFT_STRESS_LIN_WINDOWS_H */
