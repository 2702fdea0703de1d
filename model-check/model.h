/*
 * model.h - what every model-check program shares: the scenario base class
 * and the runner that prints one TAP line per scenario.
 *
 * A program includes the part's own source (src/<part>.c) and defines its
 * scenarios as Relacy test suites deriving from weft_model::scenario, so
 * that the objects an iteration built are destroyed with it.  main() lists
 * them with run<...>(name, search) and returns exit_status().
 */
#ifndef WEFT_MODEL_CHECK_H
#define WEFT_MODEL_CHECK_H

#include "weft_model.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <ostream>
#include <streambuf>

namespace weft_model
{

/* Base of every scenario: destroying the suite (Relacy does it at the end of
 * each iteration, after after()) returns the iteration's atomics and blocks. */
template <class Derived, int Threads> struct scenario : rl::test_suite<Derived, Threads> {
    /* Relacy abandons a failing iteration without destroying its suite,
     * then replays the failing schedule: drop what the abandoned one left
     * in the arena, or the replay finds membarrier_ok_flag "constructed"
     * with the failed run's value and prints a different schedule.  (Every
     * other iteration starts with an empty arena.) */
    scenario()
    {
        arena_forget();
    }
    ~scenario()
    {
        arena_reset();
    }
};

/* How to search: exhaustively, or with at most `bound` preemptions (context
 * bounding: Musuvathi and Qadeer, PLDI 2007), or `iterations` random
 * schedules. */
struct search {
    rl::scheduler_type_e type;
    unsigned bound;
    unsigned iterations;
};
static const search full = { rl::sched_full, 0, 0 };
inline search bounded(unsigned k)
{
    return search{ rl::sched_bound, k, 0 };
}
inline search random_runs(unsigned n)
{
    return search{ rl::sched_random, 0, n };
}

/* Relacy's report, as TAP comments: "# " before every line.  Unbuffered
 * (no allocation: Relacy replaces operator new while a test runs). */
struct tap_comment_buf : std::streambuf {
    bool line_start = true;
    int overflow(int c) override
    {
        if (c == EOF)
            return 0;
        if (line_start)
            fputs("# ", stdout);
        line_start = c == '\n';
        return fputc(c, stdout);
    }
};

struct tally {
    int n = 0, failed = 0;
};
inline tally &results()
{
    static tally t;
    return t;
}

/* Run scenario T; print "ok N - name (...)" or "not ok", with Relacy's
 * report (the failing schedule) as TAP comments.  WEFT_MODEL_ONLY=substring
 * runs only the scenarios whose name contains it. */
template <class T> bool run(const char *name, search s, membarrier_mode mb = MEMBARRIER_WORKS)
{
    const char *only = getenv("WEFT_MODEL_ONLY");
    if (only != nullptr && *only != '\0' && strstr(name, only) == nullptr)
        return true;
    membarrier() = mb;
    rl::test_params p;
    static tap_comment_buf buf;
    static std::ostream out(&buf);
    p.search_type = s.type;
    if (s.type == rl::sched_bound)
        p.context_bound = s.bound;
    if (s.type == rl::sched_random)
        p.iteration_count = s.iterations;
    p.output_stream = &out;
    static std::ostream quiet(nullptr); /* progress reports: discarded */
    p.progress_stream = &quiet;
    auto t0 = std::chrono::steady_clock::now();
    bool ok = rl::simulate<T>(p);
    arena_forget();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    tally &t = results();
    t.n++;
    const char *how = s.type == rl::sched_full    ? "full search"
                      : s.type == rl::sched_bound ? "context bound"
                                                  : "random schedules";
    if (ok) {
        if (s.type == rl::sched_bound)
            printf("ok %d - %s (%s %u: %llu schedules, %.1f s)\n", t.n, name, how, s.bound,
                   (unsigned long long)p.stop_iteration, secs);
        else
            printf("ok %d - %s (%s: %llu schedules, %.1f s)\n", t.n, name, how,
                   (unsigned long long)p.stop_iteration, secs);
    } else {
        t.failed++;
        printf("not ok %d - %s (%s: failed at schedule %llu, %.1f s)\n", t.n, name, how,
               (unsigned long long)p.stop_iteration, secs);
    }
    fflush(stdout);
    return ok;
}

/* The TAP plan goes last; the exit status is 1 when a scenario failed. */
inline int exit_status()
{
    printf("1..%d\n", results().n);
    return results().failed ? 1 : 0;
}

} /* namespace weft_model */

#endif /* WEFT_MODEL_CHECK_H */
