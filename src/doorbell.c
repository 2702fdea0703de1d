/*
 * doorbell.c - an eventfd written only while its event loop waits.
 *
 * The protocol is the eventcount's (eventcount.c), with the loop's own wait
 * on the fd in place of the futex and one state word in place of the waiter
 * count and the epoch:
 *
 *   loop, prepare:  state |= PREPARED; heavy fence; look for work
 *   ringer:         make work visible; light fence; load state:
 *                   exactly PREPARED (SYM aside): CAS it to PREPARED|RUNG
 *                   and write(2); anything else: nothing
 *   loop, cancel:   state &= ~PREPARED (RUNG stays: a write may be on its
 *                   way; SYM stays)
 *   loop, clear:    old = exchange(state, SYM or 0); if old & RUNG: read(2)
 *
 * (SYM, the symmetric mode, and the ringer's second load in it: "Modes"
 * below; the argument that follows holds in each mode with that mode's
 * fence pair.)
 *
 * No lost wake-up.  The ringer's fence and the loop's heavy fence are a
 * Dekker pair (membarrier against a compiler barrier, or two seq_cst
 * fences): either the loop's look after prepare sees the work, or the
 * ringer's load sees the prepare's PREPARED or something later in the
 * state's modification order.  Later than the prepare, before the loop's
 * next cancel or clear, the state is PREPARED or PREPARED|RUNG (with the
 * round's SYM, which only prepare changes); RUNG means
 * some ring of this round claimed the write (its CAS succeeded), so the fd
 * is or will be readable; PREPARED alone means this ring's CAS can claim it
 * (or fails because another did, or because the round ended, and then the
 * loop's next prepare repeats the argument).
 *
 * One write per round, one read per write.  Only a CAS from exactly PREPARED
 * claims the write, and it sets RUNG, which only clear takes away.  clear's
 * read can find the eventfd empty when the claiming ringer has not made its
 * write(2) yet: clear then puts RUNG back, so that rings keep skipping the
 * write that is still on its way, and the clear after it reads it.  So the
 * fd never stays readable after a clear with nobody to read it, and it is
 * written once per round at most: a burst of rings costs one write(2).
 *
 * Modes.  membarrier(2) is cheap while the process's other threads sleep
 * and dear while they run: on this project's 2-vCPU VM it takes 0.5 us
 * alone and 15 us against one running thread (an IPI to its CPU, which
 * that thread pays too).  A loop that sleeps after every few items would
 * spend its life in it.  So the loop chooses, at each prepare, from how
 * long ago its previous prepare ran:
 *   asymmetric (the default): prepare issues membarrier, rings use a
 *     compiler barrier: a ring while the loop is busy is one load;
 *   symmetric (SYM in state): once prepares come less than SYM_ENTER_NS
 *     apart, prepare issues a seq_cst fence and rings a seq_cst fence
 *     (a load of state, the fence, a second load), until a prepare comes
 *     more than SYM_LEAVE_NS after the one before.
 * The loop alone writes SYM (prepare sets or clears it, clear keeps it),
 * so a ringer's first load tells it which fence pairs with the prepare it
 * races.  A ringer that read SYM fences for real, which pairs with either
 * kind of prepare.  A ringer R that read no SYM used a compiler barrier
 * only, and a symmetric prepare P issues no membarrier; but P's mode began
 * with a prepare P0 that stored SYM and then issued membarrier, and R's
 * load, having read no SYM, came before P0's store in the state's order.
 * The barrier membarrier forced on R's CPU cannot fall before R's load
 * (the load would then see P0's store), so it falls after it, after R's
 * publication too: P0's look and every later one, P's included, see R's
 * work.  The prepare that leaves the symmetric mode issues membarrier: it
 * is an asymmetric prepare.
 *
 * Processes.  The doorbell lives in a MAP_SHARED page, so a fork()ed child
 * shares it.  membarrier(2) reaches only the caller's process: after a fork
 * (an atfork handler notes it) weft_doorbell_ring fences for real in both
 * processes and prepare issues a seq_cst fence besides membarrier.  The
 * rings' own attachments rely on their notify fence, which is a seq_cst
 * fence for rings made with WEFT_SHARED, the only ones processes share.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#ifndef WEFT_MODEL
#include <sys/eventfd.h>
#include <sys/mman.h>
#endif

#include <weft/doorbell.h>

#include "base.h"
#include "doorbell_internal.h"
#include "eventcount_internal.h"
#include "wait.h" /* now_ns */

#ifndef WEFT_MODEL
/* 1 once this process forked after making a doorbell: rings fence for real.
 * relaxed everywhere: see note_fork. */
static atomic_uint forked;

static bool forked_now(void)
{
    /* relaxed: see note_fork */
    return atomic_load_explicit(&forked, memory_order_relaxed) != 0;
}
#else
/* the model has one process (and no static atomics outside its tests) */
static bool forked_now(void)
{
    return false;
}
#endif

#ifndef WEFT_MODEL
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* Runs in the parent before fork(): from now on every ring fences.  A ring
 * that read 0 just before: the membarrier below is a full barrier on its
 * CPU either before its store of the work (then its load of forked, after
 * it, reads 1) or after that store (then the work is visible to everyone
 * before the fork, so the child's loop sees it without a wake-up). */
static void note_fork(void)
{
    atomic_store_explicit(&forked, 1, memory_order_relaxed);
    (void)weft_internal_heavy_fence();
}

static void atfork_register(void)
{
    (void)pthread_atfork(note_fork, NULL, NULL); /* ENOMEM: rings stay light */
}

static weft_doorbell *db_alloc(size_t *bytes)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t n = page > 0 ? (size_t)page : 4096;
    while (n < sizeof(weft_doorbell))
        n *= 2;
    void *m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    *bytes = n;
    return m == MAP_FAILED ? NULL : (weft_doorbell *)m;
}

static void db_free(weft_doorbell *db)
{
    munmap(db, db->map_bytes);
}

static int fd_make(void)
{
    return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

static void fd_close(int fd)
{
    close(fd);
}

static void fd_write(weft_doorbell *db)
{
    uint64_t one = 1;
    /* EAGAIN: the counter is full, so the fd is readable already */
    while (write(db->fd, &one, sizeof one) < 0 && errno == EINTR)
        ;
}

/* true when the read took the counter; false when it was empty */
static bool fd_read(weft_doorbell *db)
{
    uint64_t v;
    ssize_t n;
    while ((n = read(db->fd, &v, sizeof v)) < 0 && errno == EINTR)
        ;
    return n == (ssize_t)sizeof v;
}
#else
/* The model's fd is the harness's (model-check/doorbell.cc). */
static void atfork_register(void) {}
static weft_doorbell *db_alloc(size_t *bytes)
{
    *bytes = sizeof(weft_doorbell);
    return (weft_doorbell *)aligned_alloc(LINE_PAIR_BYTES, sizeof(weft_doorbell));
}
static void db_free(weft_doorbell *db)
{
    free(db);
}
static int fd_make(void)
{
    return weft_model_fd_make();
}
static void fd_close(int fd)
{
    (void)fd;
}
static void fd_write(weft_doorbell *db)
{
    weft_model_fd_write(db->fd);
}
static bool fd_read(weft_doorbell *db)
{
    return weft_model_fd_read(db->fd);
}
#endif

weft_doorbell *weft_doorbell_create(void)
{
#ifndef WEFT_MODEL
    pthread_once(&atfork_once, atfork_register);
#else
    atfork_register();
#endif
    size_t bytes;
    weft_doorbell *db = db_alloc(&bytes);
    if (db == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    int fd = fd_make();
    if (fd < 0) {
        int e = errno;
        db_free(db);
        errno = e;
        return NULL;
    }
    /* relaxed: create happens before the doorbell is handed to anyone (the
     * caller's hand-off, or set_doorbell's release store) */
    atomic_init(&db->state, 0);
    db->fd = fd;
    db->asym = weft_internal_asym_fences();
    db->map_bytes = bytes;
    db->loop_fenced = false;
    db->loop_sym = false;
    db->last_prepare_ns = 0;
    return db;
}

void weft_doorbell_destroy(weft_doorbell *db)
{
    if (db == NULL)
        return;
    fd_close(db->fd);
    db_free(db);
}

int weft_doorbell_fd(const weft_doorbell *db)
{
    assert(db != NULL);
    return db->fd;
}

/* Prepares closer together than this switch the doorbell to the symmetric
 * mode; one further apart than SYM_LEAVE_NS switches it back ("Modes"
 * above: at 200 us a 15 us membarrier would be 7% of the loop's time). */
#define SYM_ENTER_NS 200000u
#define SYM_LEAVE_NS 2000000u

/* The mode this prepare runs in (the loop's own bookkeeping, no atomics). */
static bool choose_sym(weft_doorbell *db)
{
    if (!db->asym || db->loop_fenced)
        return false; /* no membarrier in play: rings fence for real already */
    uint64_t now = now_ns(), last = db->last_prepare_ns;
    db->last_prepare_ns = now;
    if (last == 0)
        return false;
    uint64_t gap = now - last;
    return db->loop_sym ? gap <= SYM_LEAVE_NS : gap < SYM_ENTER_NS;
}

void weft_doorbell_prepare(weft_doorbell *db)
{
    assert(db != NULL);
    bool was_sym = db->loop_sym, sym = choose_sym(db);
    db->loop_sym = sym;
    /* Leaving the symmetric mode: relaxed, as the RMW below; a ringer that
     * reads its result (no SYM, no PREPARED) rings nothing, and its work
     * is seen by this prepare's look, after the membarrier below.  Only
     * the loop writes SYM, and no ring writes state while PREPARED is
     * clear, so the switch needs no care beyond these RMWs. */
    if (was_sym && !sym)
        atomic_fetch_and_explicit(&db->state, ~DOORBELL_SYM, memory_order_relaxed);
    /* The store half of the Dekker pair: this RMW, the fence, then the
     * loop's look for work; pairs with the ringer's fence before its load
     * of state (its light fence or its seq_cst fence,
     * weft_internal_doorbell_ring_after_fence).  relaxed: the fence orders
     * it, as in weft_eventcount_prepare. */
    atomic_fetch_or_explicit(&db->state, DOORBELL_PREPARED | (sym ? DOORBELL_SYM : 0),
                             memory_order_relaxed);
    bool shared = forked_now();
    /* pairs with the compiler barrier of this process's ringers (their
     * weft_internal_fence_light), and with the seq_cst fence of those that
     * read a stale SYM; falls back to a seq_cst fence itself.
     * Not in the symmetric mode, except in the prepare that enters it: a
     * ringer that read the state before this prepare's SYM skipped its
     * fence ("Modes" above) */
    bool heavy = false;
    if (db->asym && !db->loop_fenced && !(sym && was_sym)) {
        heavy = weft_internal_heavy_fence();
        if (!heavy) {
            /* membarrier was refused just now: a ringer that read
             * membarrier_works before the switch may have skipped its fence
             * and missed this prepare.  Wake the loop once, so that it looks
             * again after that ring's stores have drained (the eventcount's
             * bounded park, eventcount.c, covers the same window) */
            db->loop_fenced = true;
            weft_internal_doorbell_ring_slow(db, DOORBELL_PREPARED | (sym ? DOORBELL_SYM : 0));
        }
    }
    if (!heavy || shared)
        /* pairs with the seq_cst fence of the ringers that do not rely on
         * membarrier (those that read SYM, another process's, the TSan
         * build, a kernel without it); when membarrier failed heavy_fence
         * issued one already, and a second costs nothing that matters here */
        atomic_thread_fence(memory_order_seq_cst);
}

void weft_doorbell_cancel(weft_doorbell *db)
{
    assert(db != NULL);
    /* relaxed: ending the round orders nothing (the loop found its work on
     * its own); RUNG stays, for the clear after the write it announces, and
     * SYM stays, the mode of the loop's next rounds until a prepare says */
    atomic_fetch_and_explicit(&db->state, ~DOORBELL_PREPARED, memory_order_relaxed);
}

void weft_doorbell_clear(weft_doorbell *db)
{
    assert(db != NULL);
    /* relaxed: reading RUNG (set by a ring's CAS, or put back below) is all
     * this needs; SYM stays as the loop's last prepare set it.  What the
     * ringer that wrote the fd did before its ring is visible after clear
     * through the eventfd itself: its write(2) and our read(2) take the
     * same kernel lock (model-check/doorbell_model.h models them as a
     * release bump and an acquire take) */
    unsigned old =
        atomic_exchange_explicit(&db->state, db->loop_sym ? DOORBELL_SYM : 0, memory_order_relaxed);
    if ((old & DOORBELL_RUNG) && !fd_read(db))
        /* the claimed write(2) has not landed: keep it claimed, so that no
         * ring writes a second time and the next clear reads it.  relaxed:
         * a ring that reads RUNG does nothing, and this thread's next
         * exchange reads it back in the state's modification order */
        atomic_fetch_or_explicit(&db->state, DOORBELL_RUNG, memory_order_relaxed);
}

void weft_internal_doorbell_ring_slow(weft_doorbell *db, unsigned seen)
{
    unsigned expect = seen;
    /* relaxed: the CAS only decides who writes this round (an RMW, so one
     * ring wins); the work reaches the loop through the write(2) that
     * follows (see weft_doorbell_clear) or through the rings' own release
     * and acquire.  relaxed on failure: another ring claimed this round, or
     * the loop ended it (then its next prepare sees our work, see the top
     * comment) */
    if (atomic_compare_exchange_strong_explicit(&db->state, &expect, seen | DOORBELL_RUNG,
                                                memory_order_relaxed, memory_order_relaxed))
        fd_write(db);
}

void weft_doorbell_ring(weft_doorbell *db)
{
    assert(db != NULL);
    bool real = !db->asym || forked_now() || !weft_internal_membarrier_works();
    /* the ringer's half of the Dekker pair: pairs with prepare's heavy
     * fence (a compiler barrier against membarrier, else seq_cst fences) */
    weft_internal_fence_light(real);
    weft_internal_doorbell_ring_after_fence(db, real);
}
