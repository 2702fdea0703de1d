/*
 * pool_parallel.c - weft_parallel_for and weft_parallel_reduce, built on
 * weft_join (pool_group.c), the calling worker's deque size and the pool's
 * worker count; the contract is in include/weft/pool.h, the pool's layout
 * in pool_internal.h.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdalign.h>
#include <stdint.h>
#include <string.h>

#include "pool_internal.h"

enum {
    REDUCE_CHUNKS_PER_THREAD = 64,
    /* grain 0 cuts a loop into this many chunks per worker: enough that
     * the last chunk, which may run alone, is a small part of the loop
     * (a fork-join costs tens of nanoseconds, a chunk usually far more) */
    AUTO_CHUNKS_PER_THREAD = 32
};

/* ---- parallel_for ------------------------------------------------------- */

struct pfor {
    weft_pool *p;
    size_t grain;
    void (*body)(size_t, size_t, void *);
    void *ctx;
};

struct pfor_part {
    const struct pfor *pf;
    size_t b, e;
};

static void pfor_rec(const struct pfor *pf, size_t b, size_t e);

static void pfor_task(void *arg)
{
    struct pfor_part *r = arg;
    pfor_rec(r->pf, r->b, r->e);
}

/* Lazy binary splitting: Alexandros Tzannes, George C. Caragea, Rajeev
 * Barua and Uzi Vishkin, "Lazy binary-splitting: a run-time adaptive
 * work-stealing scheduler", PPoPP 2010.  Eager splitting (halve the range
 * down to grain, a spawn per chunk) pays a spawn and a join for every
 * chunk, which dominates with small grains and tiny bodies.  Instead a
 * worker halves its range only when its own deque is empty, that is, when
 * nothing it spawned earlier is still there for an idle worker to steal;
 * otherwise it runs the next chunk of its range itself and looks again.
 * The paper runs a fixed number of iterations (its profitable parallelism
 * threshold, our grain) between two looks; we start with grain and double
 * the chunk after every look that found the deque still holding work, up
 * to half of what is left, so that a long unstolen range costs O(log n)
 * body calls instead of n / grain, while a thief that empties the deque is
 * served by a split within half of the remaining range.  The look is two
 * relaxed loads (deque_size) of lines that change only on pushes,
 * pops and steals.  With one worker the range is split about log2(n / grain)
 * times; with more, every steal leaves the victim's deque empty, and its
 * next look splits what is left, so work spreads as with eager splitting. */
static void pfor_rec(const struct pfor *pf, size_t b, size_t e)
{
    /* always a task of the pool (run_in_pool, or a half split off here) */
    struct worker *w = worker_of(pf->p);
    assert(w != NULL);
    size_t grain = pf->grain, chunk = grain;
    /* every piece cut off below, and what is left, holds >= grain indices */
    while ((e - b) / 2 >= grain) {
        if (deque_size(w->dq) == 0) {
            size_t mid = b + (e - b) / 2;
            struct pfor_part left = { pf, b, mid };
            struct pfor_part right = { pf, mid, e };
            weft_join(pf->p, pfor_task, &left, pfor_task, &right);
            return;
        }
        size_t half = (e - b) / 2; /* >= grain */
        chunk = chunk <= half / 2 ? chunk * 2 : half;
        if (chunk < grain)
            chunk = grain;
        pf->body(b, b + chunk, pf->ctx);
        b += chunk;
    }
    pf->body(b, e, pf->ctx);
}

static size_t auto_grain(const weft_pool *p, size_t n)
{
    size_t g = n / (AUTO_CHUNKS_PER_THREAD * (size_t)p->n);
    return g ? g : 1;
}

/* Run fn(arg) so that it starts on a worker of p: directly when called on
 * one, else as one task waited for from outside. */
static void run_in_pool(weft_pool *p, void (*fn)(void *), void *arg)
{
    if (worker_of(p)) {
        fn(arg);
        return;
    }
    weft_group g;
    weft_task t;
    weft_group_init(&g, p);
    weft_spawn(&g, &t, fn, arg);
    weft_group_wait(&g);
}

void weft_parallel_for(weft_pool *p, size_t begin, size_t end, size_t grain,
                       void (*body)(size_t, size_t, void *), void *ctx)
{
    assert(p != NULL && body != NULL);
    if (begin >= end)
        return;
    struct pfor pf = { p, grain ? grain : auto_grain(p, end - begin), body, ctx };
    struct pfor_part all = { &pf, begin, end };
    if ((end - begin) / 2 < pf.grain) { /* too short to split */
        body(begin, end, ctx);
        return;
    }
    run_in_pool(p, pfor_task, &all);
}

/* ---- parallel_reduce ---------------------------------------------------- */

struct preduce {
    weft_pool *p;
    size_t begin, end, chunk;
    const void *identity;
    size_t acc_size, stride;
    unsigned char *accs; /* one accumulator per chunk, stride bytes apart */
    void (*map)(size_t, size_t, void *, void *);
    void (*combine)(void *, const void *, void *);
    void *ctx;
};

struct preduce_part {
    const struct preduce *r;
    size_t c0, c1; /* chunks [c0, c1); the result goes to accumulator c0 */
};

static void reduce_rec(const struct preduce *r, size_t c0, size_t c1);

static void reduce_task(void *arg)
{
    struct preduce_part *part = arg;
    reduce_rec(part->r, part->c0, part->c1);
}

static void reduce_rec(const struct preduce *r, size_t c0, size_t c1)
{
    void *acc = r->accs + c0 * r->stride;
    if (c1 - c0 == 1) {
        size_t b = r->begin + c0 * r->chunk;
        size_t e = r->end - b > r->chunk ? b + r->chunk : r->end;
        memcpy(acc, r->identity, r->acc_size);
        r->map(b, e, acc, r->ctx);
        return;
    }
    size_t mid = c0 + (c1 - c0) / 2;
    struct preduce_part left = { r, c0, mid }, right = { r, mid, c1 };
    weft_join(r->p, reduce_task, &left, reduce_task, &right);
    r->combine(acc, r->accs + mid * r->stride, r->ctx);
}

int weft_parallel_reduce(weft_pool *p, size_t begin, size_t end, size_t grain, void *result,
                         const void *identity, size_t acc_size,
                         void (*map)(size_t, size_t, void *, void *),
                         void (*combine)(void *, const void *, void *), void *ctx)
{
    assert(p != NULL && result != NULL && identity != NULL && map != NULL && combine != NULL);
    if (acc_size == 0)
        return EINVAL;
    if (begin >= end) {
        memmove(result, identity, acc_size);
        return 0;
    }
    size_t n = end - begin;
    size_t chunk = grain ? grain : auto_grain(p, n);
    size_t max_chunks = (size_t)REDUCE_CHUNKS_PER_THREAD * p->n;
    size_t min_chunk = n / max_chunks + (n % max_chunks != 0);
    if (chunk < min_chunk)
        chunk = min_chunk;
    size_t nchunks = n / chunk + (n % chunk != 0);
    size_t align = alignof(max_align_t);
    if (acc_size > SIZE_MAX - align)
        return ENOMEM;
    size_t stride = (acc_size + align - 1) / align * align;
    if (nchunks > SIZE_MAX / stride)
        return ENOMEM;
    unsigned char *accs = aligned_alloc(align, nchunks * stride);
    if (!accs)
        return ENOMEM;
    struct preduce r = {
        p, begin, end, chunk, identity, acc_size, stride, accs, map, combine, ctx
    };
    struct preduce_part all = { &r, 0, nchunks };
    if (nchunks == 1)
        reduce_task(&all);
    else
        run_in_pool(p, reduce_task, &all);
    memcpy(result, accs, acc_size);
    free(accs);
    return 0;
}
