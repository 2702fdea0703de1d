/*
 * epoch_model.h - a weft_epoch domain for the model checker, as
 * weft_epoch_create and claim_record (src/epoch.c) make it, with one
 * record per model thread already claimed (the fibers share one OS thread,
 * so epoch.c's thread-local records cannot be used).  Included by
 * model-check/epoch.cc and queue.cc after src/epoch_sync.h; each defines
 * weft_model_epoch_rec as model_epoch_recs[rl::thread_index()].
 */
#ifndef WEFT_EPOCH_MODEL_H
#define WEFT_EPOCH_MODEL_H

namespace
{

struct epoch_rec *model_epoch_recs[4];

/* A domain in the model's arena with threads records in its list. */
weft_epoch *model_epoch_new(int threads, bool asym)
{
    weft_epoch *d = static_cast<weft_epoch *>(malloc(sizeof *d));
    atomic_init(&d->epoch, 0);
    atomic_init(&d->asym, asym ? 1u : 0u);
    atomic_init(&d->records, nullptr);
    d->asym_off_at = 0;
    struct epoch_rec *list = nullptr;
    for (int t = 0; t < threads; t++) {
        struct epoch_rec *r = static_cast<struct epoch_rec *>(malloc(sizeof *r));
        atomic_init(&r->state, 0);
        atomic_init(&r->in_use, 1);
        r->nest = 0;
        r->since_scan = 0;
        r->head = r->tail = log_new();
        r->head_i = 0;
        r->next = list;
        list = r;
        model_epoch_recs[t] = r;
    }
    atomic_store_explicit(&d->records, list, memory_order_release);
    return d;
}

} /* namespace */

#endif /* WEFT_EPOCH_MODEL_H */
