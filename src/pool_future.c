/*
 * pool_future.c - futures: weft_async and the rest of the future API; the
 * contract is in include/weft/pool.h, the pool's layout in pool_internal.h.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>

#include "pool_internal.h"

weft_future *weft_async(weft_pool *p, void *(*fn)(void *), void *arg)
{
    assert(p != NULL && fn != NULL);
    struct weft_future *f = malloc(sizeof *f);
    if (!f) {
        errno = ENOMEM;
        return NULL;
    }
    f->task.fn = NULL;
    f->task.arg = arg;
    f->task.owner = p;
    f->task.kind = KIND_FUTURE;
    f->fn = fn;
    f->value = NULL;
    /* relaxed: not shared yet; the push in submit_task publishes it */
    future_sync_init(&f->sync);
    atomic_init(&f->refs, 2);
    weft_eventcount_init(&f->ec, 0);
    int rc = weft_internal_pool_submit(p, &f->task);
    if (rc) {
        free(f);
        errno = rc;
        return NULL;
    }
    return f;
}

bool weft_future_done(const weft_future *f)
{
    assert(f != NULL);
    /* the acquire of F1 (pool_sync.h); the load wants a non-const pointer */
    return future_sync_done(&((struct weft_future *)(uintptr_t)f)->sync);
}

/* weft_future_get on any other thread: only wait, as in
 * group_wait_outside: spin briefly, then park on f->ec. */
static void future_wait_outside(struct weft_future *f)
{
    unsigned round = 0;
    while (!weft_future_done(f)) {
        if (wait_rung(&round, deadline_none()) == WAIT_PARK && future_sync_park(&f->sync, &f->ec))
            return;
    }
}

void *weft_future_get(weft_future *f)
{
    assert(f != NULL);
    struct worker *w = worker_of(f->task.owner);
    if (w)
        weft_internal_pool_worker_wait(w, NULL, f);
    else
        future_wait_outside(f);
    return f->value;
}

void weft_future_release(weft_future *f)
{
    if (f)
        future_unref(f);
}
