/*
 * epoch.c - epoch-based reclamation; see include/weft/epoch.h for the
 * contract.
 *
 * The scheme is Fraser's ("Practical lock-freedom", PhD thesis, Cambridge,
 * 2004, section 5.2.3), in the form of crossbeam-epoch and ck_epoch: a
 * global epoch E; a thread announces "active in epoch e" when its outermost
 * section begins and "inactive" when it ends; an advance from e to e+1 is
 * allowed only when every active thread announced e; an object retired
 * while E was e is freed once E reached e + EPOCH_GRACE.
 *
 * Fences.  A section's announcement must be ordered before its loads of
 * shared pointers (a store-load pair), and an advance's scan after the
 * unlinks it protects.  As in liburcu's urcu-memb flavour, the reader's side
 * is only a compiler barrier and the advance pays: it issues membarrier(2)
 * (weft_internal_heavy_fence), a full barrier on every CPU running a thread
 * of this process, before it scans the records.  For every reader that
 * barrier falls somewhere in its program: before it, the announcement is
 * visible to the scan; after it, the reader's loads see everything the
 * advancer saw.  Without membarrier (the TSan build, or a kernel that
 * refuses it) both sides use seq_cst fences (struct weft_epoch's asym).
 *
 * Three advances, not two.  Fraser frees at E = e + 2, which needs a full
 * fence between the writer's unlink and its read of E in retire (crossbeam
 * issues a seq_cst fence there).  weft's retire has only the light fence:
 * on a store-buffer machine the writer's read of E may pass its own unlink
 * and return e while a reader already announced e + 1 and loaded the old
 * pointer; that reader would let E reach e + 2.  The membarrier of the
 * advance to e + 2 drains the writer's store buffer, so every reader that
 * announces e + 2 or later sees the unlink, and the advance to e + 3 waits
 * for the one in e + 1.  One more epoch of delay buys a retire without a
 * fence (and in the symmetric build retire's light fence is a real one).
 *
 * Records.  A thread's record in a domain is found through a small
 * thread-local cache (EPOCH_TLS_SLOTS entries keyed by the domain's id);
 * the first call of a thread claims a free record of the domain or adds a
 * new one.  A thread-specific-data destructor hands the thread's records
 * back when it exits, marks them inactive (so an exited thread never holds
 * an advance back) and tries to free what they retired.  Records are never
 * freed before the domain is.
 *
 * Retire log.  Each record keeps the objects its owner retired in a list of
 * blocks, filled by the owner alone and emptied from the front by whoever
 * holds the domain's mutex (a single-producer, single-consumer log: the
 * owner publishes an entry with a release store of the block's count), so
 * that synchronize and an exiting thread can free what other threads
 * retired, and a retire needs no read-modify-write.  Entries of one log are
 * in the order of their epochs, so a reclaimer stops at the first young one.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weft/epoch.h>

#include "epoch_internal.h"
#include "epoch_sync.h"
#include "wait.h"

_Thread_local struct epoch_slot weft_internal_epoch_cache[EPOCH_TLS_SLOTS]
    __attribute__((tls_model("initial-exec")));
static _Thread_local struct epoch_tls *tls_list; /* every domain this thread used */

/* The live domains, so that an exiting thread touches only records whose
 * domain still exists; and the key whose destructor runs at thread exit. */
static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static weft_epoch *registry;
static atomic_uint_least64_t next_id = 1;
static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

static void thread_exit(void *unused);

static void exit_key_create(void)
{
    if (pthread_key_create(&exit_key, thread_exit) != 0)
        abort(); /* only when the process ran out of keys */
}

void weft_internal_epoch_poll(weft_epoch *d, unsigned advances)
{
    if (pthread_mutex_trylock(&d->mu) != 0)
        return; /* someone else is reclaiming */
    for (unsigned i = 0; i < advances && try_advance(d); i++)
        ;
    free_old(d);
    pthread_mutex_unlock(&d->mu);
}

/* Advance until the epoch is at least target; the mutex is held. */
static void advance_to(weft_epoch *d, uint64_t target)
{
    unsigned round = 0;
    /* relaxed: we hold the mutex, under which every advance stored it */
    while (atomic_load_explicit(&d->epoch, memory_order_relaxed) < target) {
        if (try_advance(d))
            continue;
        if (round < 64) {
            wait_rung_no_park(&round); /* a section about to end */
        } else {
            struct timespec ts = { 0, 50000 }; /* a long one: 50 us naps */
            nanosleep(&ts, NULL);
        }
    }
}

static void assert_outside(weft_epoch *d)
{
#ifndef NDEBUG
    struct epoch_rec *r = epoch_rec_of(d);
    assert((r == NULL || r->nest == 0) && "called inside a section of this domain");
#else
    (void)d;
#endif
}

void weft_internal_epoch_barrier(weft_epoch *d)
{
    assert_outside(d);
    pthread_mutex_lock(&d->mu);
    /* relaxed: under the mutex */
    advance_to(d, atomic_load_explicit(&d->epoch, memory_order_relaxed) + 2);
    pthread_mutex_unlock(&d->mu);
}

void weft_epoch_synchronize(weft_epoch *d)
{
    assert(d != NULL);
    assert_outside(d);
    pthread_mutex_lock(&d->mu);
    /* relaxed: under the mutex.  Whatever was retired before this call
     * carries an epoch at most this one */
    advance_to(d, atomic_load_explicit(&d->epoch, memory_order_relaxed) + EPOCH_GRACE);
    free_old(d);
    pthread_mutex_unlock(&d->mu);
}

/* ---- records ----------------------------------------------------------- */

/* A free record of d claimed for this thread, or a new one. */
static struct epoch_rec *claim_record(weft_epoch *d)
{
    for (struct epoch_rec *r = atomic_load_explicit(&d->records, memory_order_acquire); r;
         r = r->next) {
        int free_ = 0;
        /* acquire: pairs with the release store in release_record, so the
         * previous owner's log and counters are ours now; relaxed on
         * failure: we only move on */
        if (atomic_load_explicit(&r->in_use, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_strong_explicit(&r->in_use, &free_, 1, memory_order_acquire,
                                                    memory_order_relaxed))
            return r;
    }
    struct epoch_rec *r = aligned_alloc(LINE_PAIR_BYTES, sizeof *r);
    struct epoch_log *b = log_new();
    if (r == NULL || b == NULL) {
        free(r);
        free(b);
        return NULL;
    }
    memset(r, 0, sizeof *r);
    atomic_init(&r->state, 0);
    atomic_init(&r->in_use, 1);
    r->head = r->tail = b;
    /* relaxed: the first guess of the CAS below, which publishes r */
    struct epoch_rec *head = atomic_load_explicit(&d->records, memory_order_relaxed);
    do
        r->next = head;
    /* release: pairs with the acquire loads of records: r is initialised;
     * relaxed on failure: head is only the next guess */
    while (!atomic_compare_exchange_weak_explicit(&d->records, &head, r, memory_order_release,
                                                  memory_order_relaxed));
    return r;
}

static void release_record(struct epoch_rec *r)
{
    r->nest = 0;
    /* release: as epoch_exit (an exit inside a section is the caller's bug,
     * but it must not stall the domain) */
    atomic_store_explicit(&r->state, 0, memory_order_release);
    /* release: pairs with the acquire CAS in claim_record */
    atomic_store_explicit(&r->in_use, 0, memory_order_release);
}

static bool alive(const weft_epoch *d, uint64_t id)
{
    for (weft_epoch *x = registry; x; x = x->live_next)
        if (x == d && x->id == id)
            return true;
    return false;
}

static void cache_drop(struct epoch_tls *t)
{
    for (int i = 0; i < EPOCH_TLS_SLOTS; i++)
        if (weft_internal_epoch_cache[i].r == t->r)
            weft_internal_epoch_cache[i] = (struct epoch_slot){ NULL, 0, NULL };
}

/* Forget the domains of this thread's list that were destroyed. */
static void prune_dead(void)
{
    pthread_mutex_lock(&registry_mu);
    for (struct epoch_tls **pp = &tls_list; *pp;) {
        struct epoch_tls *t = *pp;
        if (alive(t->d, t->id)) {
            pp = &t->next;
            continue;
        }
        *pp = t->next;
        cache_drop(t);
        free(t);
    }
    pthread_mutex_unlock(&registry_mu);
}

struct epoch_rec *weft_internal_epoch_rec_slow(weft_epoch *d)
{
    prune_dead();
    for (struct epoch_tls *t = tls_list; t; t = t->next) {
        if (t->d == d && t->id == d->id) {
            weft_internal_epoch_cache[d->id % EPOCH_TLS_SLOTS] =
                (struct epoch_slot){ d, d->id, t->r };
            return t->r;
        }
    }
    pthread_once(&exit_key_once, exit_key_create);
    struct epoch_tls *t = malloc(sizeof *t);
    struct epoch_rec *r = t ? claim_record(d) : NULL;
    if (r == NULL || pthread_setspecific(exit_key, &tls_list) != 0) {
        if (r != NULL)
            release_record(r);
        free(t);
        return NULL;
    }
    *t = (struct epoch_tls){ d, d->id, r, tls_list };
    tls_list = t;
    weft_internal_epoch_cache[d->id % EPOCH_TLS_SLOTS] = (struct epoch_slot){ d, d->id, r };
    return r;
}

/* At thread exit: hand every record back and free what can be freed. */
static void thread_exit(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&registry_mu);
    while (tls_list) {
        struct epoch_tls *t = tls_list;
        tls_list = t->next;
        cache_drop(t);
        if (alive(t->d, t->id)) {
            release_record(t->r);
            weft_internal_epoch_poll(t->d, EPOCH_GRACE);
        }
        free(t);
    }
    pthread_mutex_unlock(&registry_mu);
}

static COLD struct epoch_rec *rec_or_abort(weft_epoch *d)
{
    struct epoch_rec *r = epoch_rec_of(d);
    if (r == NULL) {
        fputs("weft_epoch: out of memory for this thread's record\n", stderr);
        abort();
    }
    return r;
}

/* ---- the public calls ------------------------------------------------------ */

weft_epoch *weft_epoch_create(void)
{
    weft_epoch *d = aligned_alloc(LINE_PAIR_BYTES, sizeof *d);
    if (d == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    memset(d, 0, sizeof *d);
    if (pthread_mutex_init(&d->mu, NULL) != 0) {
        free(d);
        errno = ENOMEM;
        return NULL;
    }
    /* relaxed: the domain is handed to other threads by the caller */
    atomic_init(&d->epoch, 0);
    atomic_init(&d->asym, weft_internal_asym_fences() ? 1u : 0u);
    atomic_init(&d->records, NULL);
    /* relaxed: only uniqueness matters */
    d->id = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed);
    pthread_mutex_lock(&registry_mu);
    d->live_next = registry;
    registry = d;
    pthread_mutex_unlock(&registry_mu);
    return d;
}

void weft_epoch_destroy(weft_epoch *d)
{
    if (d == NULL)
        return;
    pthread_mutex_lock(&registry_mu);
    for (weft_epoch **pp = &registry; *pp; pp = &(*pp)->live_next) {
        if (*pp == d) {
            *pp = d->live_next;
            break;
        }
    }
    pthread_mutex_unlock(&registry_mu);
    /* acquire: pairs with the release CAS in claim_record */
    struct epoch_rec *r = atomic_load_explicit(&d->records, memory_order_acquire);
    while (r) {
        /* relaxed: no thread may be inside any more (the caller's promise) */
        assert(!(atomic_load_explicit(&r->state, memory_order_relaxed) & EPOCH_ACTIVE) &&
               "weft_epoch_destroy with a thread inside a section");
        free_log(r, UINT64_MAX);
        free(r->head);
        struct epoch_rec *next = r->next;
        free(r);
        r = next;
    }
    pthread_mutex_destroy(&d->mu);
    free(d);
}

static COLD void enter_slow(weft_epoch *d)
{
    struct epoch_rec *r = epoch_rec_of(d);
    if (UNLIKELY(r == NULL))
        r = rec_or_abort(d); /* aborts unless the record exists now */
    epoch_enter_rec(d, r);
}

/* The hit path needs no stack frame: the miss is a tail call. */
void weft_epoch_enter(weft_epoch *d)
{
    assert(d != NULL);
    struct epoch_rec *r = epoch_rec_cached(d);
    if (LIKELY(r != NULL))
        epoch_enter_rec(d, r);
    else
        enter_slow(d);
}

void weft_epoch_exit(weft_epoch *d)
{
    assert(d != NULL);
    struct epoch_rec *r = epoch_rec_cached(d);
    if (UNLIKELY(r == NULL))
        r = weft_internal_epoch_rec_slow(d);
    assert(r != NULL && "weft_epoch_exit without weft_epoch_enter");
    epoch_exit(r);
}

void weft_epoch_retire(weft_epoch *d, void *p, void (*free_fn)(void *p))
{
    assert(d != NULL && free_fn != NULL);
    struct epoch_rec *r = epoch_rec_of(d);
    if (UNLIKELY(r == NULL))
        r = rec_or_abort(d);
    if (UNLIKELY(!log_append(d, r, p, free_fn))) {
        /* no memory for the log: wait for the grace period here */
        if (r->nest != 0) {
            fputs("weft_epoch_retire: out of memory inside a section\n", stderr);
            abort();
        }
        weft_epoch_synchronize(d);
        free_fn(p);
        return;
    }
    if (++r->since_scan >= EPOCH_RETIRE_SCAN) {
        r->since_scan = 0;
        weft_internal_epoch_poll(d, 1);
    }
}
