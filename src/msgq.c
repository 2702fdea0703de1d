/*
 * msgq.c - bounded multi-producer/multi-consumer queue of byte messages in
 * one position-independent block; the contract is in include/weft/msgq.h.
 *
 * The algorithm
 * -------------
 * Dmitry Vyukov's bounded MPMC queue (1024cores.net, 2010; src/mpmc.c
 * explains it), generalised from one slot per item to a run of cells per
 * message.  Positions are 64-bit cell counters; position p lives in cell
 * p mod ncells, whose sequence number says whose turn it is, as in
 * mpmc.c: free_for(p) = 2p, full_of(p) = 2p + 1 (the doubling keeps the two
 * states apart even with one cell).
 *
 * A sender of a message that needs k cells reads the tail t, checks that
 * the k cells t .. t+k-1 all say free_for(their position), claims them
 * with one CAS tail: t -> t+k, copies the bytes into the data area (cell c
 * owns bytes [64c, 64c + 64) of it; a message that runs past the last cell
 * goes on at the first), writes the length into the first cell and
 * publishes the message with a release store of that cell's sequence
 * number: full_of(t).  The other k-1 cells keep free_for(their position):
 * nobody looks at them until the receiver hands them on, because the head
 * only ever rests on a message's first cell.  A receiver reads the head h,
 * checks that cell h says full_of(h), reads the length there, claims the
 * message's k cells with one CAS head: h -> h+k, copies the bytes out and
 * hands every cell to the sender of the next lap (free_for(position +
 * ncells), release).  A batch claims several whole messages with one CAS
 * in the same way as mpmc.c's claim_run.
 *
 * Why checking the k cells before the CAS is enough: a cell changes from
 * free_for(p) only after position p was claimed, and the CAS succeeding
 * proves that nobody claimed t or anything after it since our scan.  The
 * receiver reads the length before its CAS, while a later lap could in
 * principle rewrite it (if our head is stale): the length is a relaxed
 * atomic, so that read is no data race, and its value is used only if the
 * CAS from h succeeds, which proves that cell h still held our message.
 *
 * The closed mark is bit 63 of the tail, as in mpmc.c (after
 * crossbeam-channel's bounded channel): every claiming CAS expects a tail
 * without it, so the tail position frozen at close is final.
 *
 * What a dead process leaves behind is in the header ("Progress"): this
 * version records no owners, so it cannot recover stranded cells.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <weft/eventcount.h>
#include <weft/msgq.h>

#include "base.h"
#include "chaos.h"
#include "eventcount_internal.h"
#include "wait.h"

/* Bit 63 of the tail word: the queue is closed. */
#define CLOSED ((uint64_t)1 << 63)

/* A marker in the header: the queue came from weft_msgq_create. */
#define CREATED_MAGIC 0x6d736771u /* "msgq" */

enum { CELL = WEFT_MSGQ_CELL };

struct cell {
    /* Whose turn (see the top).  Written by the sender that claimed the
     * cell (publish, first cells only) and the receiver that claimed it
     * (release); read by everyone scanning the queue. */
    atomic_uint_least64_t seq;
    /* The message's length in bytes, in its first cell.  Written by the
     * sender before its publication, read by receivers (ordered by seq). */
    atomic_uint_least64_t len;
};

struct weft_msgq {
    /* Read-only after init. */
    alignas(WEFT_CACHELINE) uint64_t mask; /* ncells - 1 */
    uint64_t data_offset;                  /* of the data area, from the block's start */
    uint32_t created;                      /* CREATED_MAGIC when from create */
    alignas(WEFT_CACHELINE) char pad_ro[LINE_PAIR_BYTES - WEFT_CACHELINE];
    /* Next position to send to | CLOSED.  Written by senders (CAS), close. */
    alignas(WEFT_CACHELINE) atomic_uint_least64_t tail;
    alignas(WEFT_CACHELINE) char pad_tail[LINE_PAIR_BYTES - WEFT_CACHELINE];
    /* Next position to receive from.  Written by receivers (CAS). */
    alignas(WEFT_CACHELINE) atomic_uint_least64_t head;
    alignas(WEFT_CACHELINE) char pad_head[LINE_PAIR_BYTES - WEFT_CACHELINE];
    /* Receivers park here; senders notify. */
    alignas(WEFT_CACHELINE) weft_eventcount not_empty;
    /* Senders park here; receivers notify. */
    alignas(WEFT_CACHELINE) weft_eventcount not_full;
    alignas(WEFT_CACHELINE) struct cell cells[];
    /* then, at data_offset, ncells * CELL bytes of data */
};

#define HEADER_BYTES offsetof(struct weft_msgq, cells)

_Static_assert(offsetof(struct weft_msgq, head) - offsetof(struct weft_msgq, tail) >=
                   LINE_PAIR_BYTES,
               "senders' and receivers' counters must not share a line pair");
_Static_assert(offsetof(struct weft_msgq, tail) - offsetof(struct weft_msgq, mask) >=
                   LINE_PAIR_BYTES,
               "the read-only header must not share a line pair with the tail");
_Static_assert(offsetof(struct weft_msgq, not_empty) - offsetof(struct weft_msgq, head) >=
                   LINE_PAIR_BYTES,
               "the eventcounts must not share a line pair with the head");
_Static_assert(HEADER_BYTES % WEFT_CACHELINE == 0, "cells start on a cache line");
_Static_assert(alignof(struct weft_msgq) <= WEFT_MSGQ_ALIGN, "WEFT_MSGQ_ALIGN is enough");
_Static_assert(WEFT_CACHELINE % sizeof(struct cell) == 0, "cells never straddle a line");
_Static_assert(CELL % WEFT_CACHELINE == 0, "data cells are whole lines");

enum { OP_OK, OP_WOULD_BLOCK, OP_CLOSED, OP_TOO_BIG };

static inline uint64_t free_for(uint64_t p)
{
    return 2 * p;
}

static inline uint64_t full_of(uint64_t p)
{
    return 2 * p + 1;
}

static inline struct weft_internal_ec *not_empty(weft_msgq *q)
{
    return weft_internal_ec(&q->not_empty);
}

static inline struct weft_internal_ec *not_full(weft_msgq *q)
{
    return weft_internal_ec(&q->not_full);
}

static inline struct cell *cell_of(weft_msgq *q, uint64_t p)
{
    return &q->cells[p & q->mask];
}

static inline unsigned char *data_of(weft_msgq *q)
{
    return (unsigned char *)q + q->data_offset;
}

static inline uint64_t ncells(const weft_msgq *q)
{
    return q->mask + 1;
}

/* Cells a message of len bytes takes (len <= the capacity). */
static inline uint64_t cells_for(uint64_t len)
{
    return len == 0 ? 1 : (len + CELL - 1) / CELL;
}

/* ---- sizes and construction --------------------------------------------- */

/* Bytes of the block for n cells (a power of two), or 0 on overflow. */
static size_t block_bytes(size_t n)
{
    size_t per = sizeof(struct cell) + CELL;
    if (n > (SIZE_MAX - HEADER_BYTES) / per)
        return 0;
    return HEADER_BYTES + n * per;
}

/* capacity_bytes as a power-of-two number of cells, or 0 when 0 or too
 * large (positions stay below 2^62 apart, as in mpmc.c). */
static size_t round_cells(size_t capacity_bytes)
{
    if (capacity_bytes == 0)
        return 0;
    size_t want = capacity_bytes / CELL + (capacity_bytes % CELL != 0);
    size_t limit = (SIZE_MAX - HEADER_BYTES) / (sizeof(struct cell) + CELL);
    if (want > limit / 2 || (uint64_t)want > ((uint64_t)1 << 56))
        return 0;
    return pow2_at_least(want);
}

size_t weft_msgq_footprint(size_t capacity_bytes)
{
    size_t n = round_cells(capacity_bytes);
    return n ? block_bytes(n) : 0;
}

weft_msgq *weft_msgq_init(void *mem, size_t capacity_bytes, unsigned flags)
{
    size_t n = round_cells(capacity_bytes);
    if (mem == NULL || (uintptr_t)mem % WEFT_MSGQ_ALIGN != 0 || n == 0 ||
        (flags & ~WEFT_SHARED) != 0) {
        errno = EINVAL;
        return NULL;
    }
    weft_msgq *q = (weft_msgq *)mem;
    q->mask = (uint64_t)n - 1;
    q->data_offset = HEADER_BYTES + n * sizeof(struct cell);
    q->created = 0;
    /* atomic_init: the queue is not shared yet; handing it to other threads
     * or processes is the caller's synchronisation */
    atomic_init(&q->tail, 0);
    atomic_init(&q->head, 0);
    weft_eventcount_init(&q->not_empty, flags);
    weft_eventcount_init(&q->not_full, flags);
    for (size_t i = 0; i < n; i++) {
        atomic_init(&q->cells[i].seq, free_for((uint64_t)i));
        atomic_init(&q->cells[i].len, 0);
    }
    return q;
}

weft_msgq *weft_msgq_create(size_t capacity_bytes)
{
    size_t bytes = weft_msgq_footprint(capacity_bytes);
    if (bytes == 0) {
        errno = EINVAL;
        return NULL;
    }
    if (bytes > SIZE_MAX - LINE_PAIR_BYTES) {
        errno = ENOMEM;
        return NULL;
    }
    bytes = (bytes + LINE_PAIR_BYTES - 1) / LINE_PAIR_BYTES * LINE_PAIR_BYTES;
    void *mem = aligned_alloc(LINE_PAIR_BYTES, bytes);
    if (mem == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    weft_msgq *q = weft_msgq_init(mem, capacity_bytes, 0);
    q->created = CREATED_MAGIC;
    return q;
}

void weft_msgq_destroy(weft_msgq *q)
{
    if (q == NULL)
        return;
    assert(q->created == CREATED_MAGIC && "destroy on a queue from weft_msgq_init");
    free(q);
}

size_t weft_msgq_capacity(const weft_msgq *q)
{
    assert(q != NULL);
    return (size_t)ncells(q) * CELL;
}

size_t weft_msgq_max_message(const weft_msgq *q)
{
    return weft_msgq_capacity(q);
}

size_t weft_msgq_bytes_used(const weft_msgq *q)
{
    assert(q != NULL);
    weft_msgq *m = (weft_msgq *)(uintptr_t)q; /* C11 atomic loads take non-const */
    /* relaxed: a snapshot (head first, so that the difference is rarely
     * negative; clamped for the rest) */
    uint64_t h = atomic_load_explicit(&m->head, memory_order_relaxed);
    uint64_t t = atomic_load_explicit(&m->tail, memory_order_relaxed) & ~CLOSED;
    int64_t n = (int64_t)(t - h);
    if (n < 0)
        return 0;
    if ((uint64_t)n > ncells(m))
        n = (int64_t)ncells(m);
    return (size_t)n * CELL;
}

bool weft_msgq_closed(const weft_msgq *q)
{
    assert(q != NULL);
    weft_msgq *m = (weft_msgq *)(uintptr_t)q;
    /* acquire: pairs with the release fetch_or in weft_msgq_close */
    return (atomic_load_explicit(&m->tail, memory_order_acquire) & CLOSED) != 0;
}

/* ---- copying in and out of the ring of data ------------------------------ */

static void copy_in(weft_msgq *q, uint64_t p, const void *msg, size_t len)
{
    size_t size = (size_t)ncells(q) * CELL, at = (size_t)(p & q->mask) * CELL;
    size_t first = len < size - at ? len : size - at;
    if (first)
        memcpy(data_of(q) + at, msg, first);
    if (len > first)
        memcpy(data_of(q), (const unsigned char *)msg + first, len - first);
}

static void copy_out(weft_msgq *q, uint64_t p, void *buf, size_t len)
{
    size_t size = (size_t)ncells(q) * CELL, at = (size_t)(p & q->mask) * CELL;
    size_t first = len < size - at ? len : size - at;
    if (first)
        memcpy(buf, data_of(q) + at, first);
    if (len > first)
        memcpy((unsigned char *)buf + first, data_of(q), len - first);
}

/* ---- the non-blocking core ----------------------------------------------- */

/* Are the k cells from position p all free for their positions?  Returns
 * 0 when they are; < 0 when one is still held by the previous lap (no
 * room); > 0 when one was claimed for its position already (the caller's
 * tail is stale). */
static inline int scan_free(weft_msgq *q, uint64_t p, uint64_t k)
{
    for (uint64_t j = 0; j < k; j++) {
        /* acquire: pairs with the release store of seq in release_cells:
         * the last lap's receiver finished copying out of this cell before
         * we copy into it */
        uint64_t seq = atomic_load_explicit(&cell_of(q, p + j)->seq, memory_order_acquire);
        int64_t d = (int64_t)(seq - free_for(p + j));
        if (d != 0)
            return d < 0 ? -1 : 1;
    }
    return 0;
}

/* Claim cells for messages lens[0 .. n) at the tail: the longest prefix of
 * them whose cells are all free, with one CAS.  Returns how many messages
 * (0 when not even the first fits, *at is then the tail, with CLOSED set
 * when closed), their first position in *at. */
static size_t claim_send(weft_msgq *q, const size_t *lens, size_t n, uint64_t *at)
{
    /* relaxed: a guess; the cells' seq (acquire) and the CAS decide */
    uint64_t p = atomic_load_explicit(&q->tail, memory_order_relaxed);
    for (;;) {
        if (UNLIKELY((p & CLOSED) != 0)) {
            /* acquire fence, on this path only: pairs with the release
             * fetch_or in weft_msgq_close (close happens-before a send
             * that reports the queue closed) */
            atomic_thread_fence(memory_order_acquire);
            *at = p;
            return 0;
        }
        size_t m = 0;
        uint64_t cells = 0;
        int state = 0;
        while (m < n) {
            uint64_t k = cells_for(lens[m]);
            if (cells + k > ncells(q))
                break; /* the batch alone would wrap onto itself */
            state = scan_free(q, p + cells, k);
            if (state != 0)
                break;
            cells += k;
            m++;
        }
        if (m == 0) {
            if (state <= 0) {
                *at = p; /* no room */
                return 0;
            }
            /* stale tail; relaxed as above */
            p = atomic_load_explicit(&q->tail, memory_order_relaxed);
            continue;
        }
        WEFT_CHAOS_POINT();
        /* relaxed: the CAS only decides who owns the cells (a total order
         * on the tail); the data hand-off is ordered by seq.  Success
         * proves nobody claimed p or later since the scan; it fails once
         * close set the mark. */
        if (atomic_compare_exchange_weak_explicit(&q->tail, &p, p + cells, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            *at = p;
            return m;
        }
    }
}

/* Write the message of claimed position p and publish it to its receiver. */
static inline void publish(weft_msgq *q, uint64_t p, const void *msg, size_t len)
{
    copy_in(q, p, msg, len);
    struct cell *c = cell_of(q, p);
    /* release, although the release store of seq below publishes it: a
     * receiver under a stale head may read this length before it checks
     * that the cell still holds its message (the EMSGSIZE path of
     * claim_recv); pairs with the acquire fence there, which then orders
     * our earlier acquire of the cell (the previous receiver's release)
     * before its second load of seq, so that load cannot return the old
     * full_of(h) (C11's fence rules, N1570 7.17.4p2, need a release on
     * this side; on x86 it is the same plain store) */
    atomic_store_explicit(&c->len, len, memory_order_release);
    /* release: pairs with a receiver's acquire load of seq in claim_recv;
     * the bytes, the length and all the sender wrote before are visible to
     * the receiver that sees full_of(p) */
    atomic_store_explicit(&c->seq, full_of(p), memory_order_release);
}

/* Hand the k cells from claimed position h to the next lap's senders. */
static inline void release_cells(weft_msgq *q, uint64_t h, uint64_t k)
{
    for (uint64_t j = 0; j < k; j++)
        /* release: pairs with a sender's acquire load in scan_free: our
         * copy out of the cell happens-before its copy in */
        atomic_store_explicit(&cell_of(q, h + j)->seq, free_for(h + j + ncells(q)),
                              memory_order_release);
}

/* Claim up to n (>= 1) of the oldest published messages at the head whose
 * lengths sum to at most cap, with one CAS; their lengths go to lens.
 * Returns how many, their first position in *at and their cells in
 * *cells; or 0 with *at the head: OP_WOULD_BLOCK in *why when empty,
 * OP_TOO_BIG when the oldest alone is longer than cap (its length in
 * lens[0]). */
static size_t claim_recv(weft_msgq *q, size_t cap, size_t *lens, size_t n, uint64_t *at,
                         uint64_t *cells_out, int *why)
{
    /* relaxed: a guess; the cells' seq (acquire) and the CAS decide */
    uint64_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
    for (;;) {
        size_t m = 0, bytes = 0;
        uint64_t cells = 0;
        int64_t first_state = 0;
        while (m < n) {
            struct cell *c = cell_of(q, h + cells);
            /* acquire: pairs with the release store of seq in publish */
            uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
            int64_t d = (int64_t)(seq - full_of(h + cells));
            if (d != 0) {
                if (m == 0)
                    first_state = d;
                break;
            }
            /* relaxed: ordered after the acquire above; counts only if the
             * CAS below succeeds (see the top) */
            uint64_t len = atomic_load_explicit(&c->len, memory_order_relaxed);
            if (len > cap - bytes || len > weft_msgq_capacity(q)) {
                if (m == 0) {
                    /* too long for cap, unless the cell moved on under a
                     * stale head: the length counts only if seq still says
                     * full_of(h) after it was read (sequence numbers only
                     * grow, so no ABA).  acquire fence: pairs with the
                     * release store of len in publish (a later lap's),
                     * so that the second load of seq sees the cell moved
                     * on whenever len was a later lap's.  Relacy never
                     * returns such a stale value, so removing the fence
                     * survives the model (fence.remove in claim_recv, 2026-12-02) */
                    atomic_thread_fence(memory_order_acquire);
                    /* relaxed: ordered by the fence */
                    if (atomic_load_explicit(&c->seq, memory_order_relaxed) != seq)
                        break; /* moved on: m == 0, first_state 0: retry */
                    lens[0] = (size_t)len;
                    *at = h;
                    *why = OP_TOO_BIG;
                    return 0;
                }
                break;
            }
            if (cells + cells_for(len) > ncells(q))
                break; /* only under a stale head; the CAS would fail */
            lens[m++] = (size_t)len;
            bytes += (size_t)len;
            cells += cells_for(len);
        }
        if (m == 0) {
            if (first_state < 0) {
                *at = h;
                *why = OP_WOULD_BLOCK;
                return 0;
            }
            /* stale head (or a length read under it); relaxed as above */
            h = atomic_load_explicit(&q->head, memory_order_relaxed);
            continue;
        }
        WEFT_CHAOS_POINT();
        /* relaxed: the CAS only decides who owns the messages; success
         * proves that none of them was received since the scan, so the
         * lengths read are theirs */
        if (atomic_compare_exchange_weak_explicit(&q->head, &h, h + cells, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            *at = h;
            *cells_out = cells;
            return m;
        }
    }
}

static inline void notify_receivers(weft_msgq *q, int n)
{
    weft_internal_ec_notify(not_empty(q), n);
}

/* Every parked sender is woken: each waits for room for its own message,
 * and a receive cannot tell which of them the freed cells can take (a
 * woken sender that still finds no room parks again; see the parking
 * section below).  The fast path is the same fence and load as notify 1. */
static inline void notify_senders(weft_msgq *q)
{
    weft_internal_ec_notify(not_full(q), INT_MAX);
}

static int send_one(weft_msgq *q, const void *msg, size_t len, uint64_t *seen)
{
    uint64_t t;
    if (claim_send(q, &len, 1, &t) == 0) {
        *seen = t;
        return (t & CLOSED) ? OP_CLOSED : OP_WOULD_BLOCK;
    }
    WEFT_CHAOS_POINT(); /* claimed, not yet published */
    publish(q, t, msg, len);
    return OP_OK;
}

static int recv_one(weft_msgq *q, void *buf, size_t cap, size_t *len, uint64_t *seen)
{
    uint64_t h, cells;
    int why = OP_WOULD_BLOCK;
    size_t n; /* claim_recv writes lengths it may drop: *len changes only on success or TOO_BIG */
    if (claim_recv(q, cap, &n, 1, &h, &cells, &why) == 0) {
        *seen = h;
        if (why == OP_TOO_BIG)
            *len = n;
        return why;
    }
    *len = n;
    WEFT_CHAOS_POINT(); /* claimed, not yet released */
    copy_out(q, h, buf, n);
    release_cells(q, h, cells);
    return OP_OK;
}

/* The queue is closed and every position below the frozen tail was
 * claimed by a receiver, given that a receiver found position h empty. */
static bool drained(weft_msgq *q, uint64_t h)
{
    /* acquire: pairs with the release fetch_or in close */
    uint64_t t = atomic_load_explicit(&q->tail, memory_order_acquire);
    return (t & CLOSED) != 0 && (int64_t)(h - (t & ~CLOSED)) >= 0;
}

static int send_errno(int r)
{
    return r == OP_CLOSED ? EPIPE : EAGAIN;
}

int weft_msgq_try_send(weft_msgq *q, const void *msg, size_t len)
{
    assert(q != NULL && (msg != NULL || len == 0));
    if (len > weft_msgq_max_message(q))
        return EMSGSIZE;
    uint64_t seen;
    int r = send_one(q, msg, len, &seen);
    if (r != OP_OK)
        return send_errno(r);
    notify_receivers(q, 1);
    return 0;
}

int weft_msgq_try_recv(weft_msgq *q, void *buf, size_t cap, size_t *len)
{
    assert(q != NULL && (buf != NULL || cap == 0) && len != NULL);
    uint64_t seen;
    int r = recv_one(q, buf, cap, len, &seen);
    if (r == OP_OK) {
        notify_senders(q);
        return 0;
    }
    if (r == OP_TOO_BIG)
        return EMSGSIZE;
    return drained(q, seen) ? EPIPE : EAGAIN;
}

size_t weft_msgq_try_send_many(weft_msgq *q, const void *const *msgs, const size_t *lens, size_t n)
{
    assert(q != NULL && ((msgs != NULL && lens != NULL) || n == 0));
    size_t ok = 0, max = weft_msgq_max_message(q);
    while (ok < n && lens[ok] <= max)
        ok++;
    if (ok == 0)
        return 0;
    uint64_t t;
    size_t m = claim_send(q, lens, ok, &t);
    if (m == 0)
        return 0;
    WEFT_CHAOS_POINT(); /* claimed, not yet published */
    for (size_t i = 0; i < m; i++) {
        publish(q, t, msgs[i], lens[i]);
        t += cells_for(lens[i]);
    }
    notify_receivers(q, m > INT_MAX ? INT_MAX : (int)m);
    return m;
}

size_t weft_msgq_try_recv_many(weft_msgq *q, void *buf, size_t cap, size_t *lens, size_t n)
{
    assert(q != NULL && (buf != NULL || cap == 0) && (lens != NULL || n == 0));
    if (n == 0)
        return 0;
    uint64_t h, cells;
    int why;
    size_t m = claim_recv(q, cap, lens, n, &h, &cells, &why);
    if (m == 0)
        return 0;
    WEFT_CHAOS_POINT(); /* claimed, not yet released */
    size_t off = 0;
    uint64_t p = h;
    for (size_t i = 0; i < m; i++) {
        copy_out(q, p, (unsigned char *)buf + off, lens[i]);
        off += lens[i];
        p += cells_for(lens[i]);
    }
    release_cells(q, h, cells);
    notify_senders(q);
    return m;
}

void weft_msgq_close(weft_msgq *q)
{
    assert(q != NULL);
    /* release: the closer's writes are visible to whoever sees the mark
     * (pairs with the acquire loads of the tail in weft_msgq_closed,
     * drained and claim_send's fence); as an RMW it is ordered with every
     * claiming CAS in the tail's modification order, which freezes the
     * tail position */
    atomic_fetch_or_explicit(&q->tail, CLOSED, memory_order_release);
    /* notify's fence orders the mark before the waiter counts; pairs with
     * the fence in weft_eventcount_prepare */
    weft_internal_ec_notify(not_empty(q), INT_MAX);
    weft_internal_ec_notify(not_full(q), INT_MAX);
}

/* ---- parking ----------------------------------------------------------------
 *
 * As in mpmc.c: a blocking call tries, climbs the ladder of wait.h (spin,
 * yield), then announces itself on an eventcount, tries once more and
 * sleeps.  Every successful send notifies not_empty and every successful
 * receive notifies not_full, after its store of seq, so the Dekker pair
 * (prepare's fence against notify's fence) wakes a thread whose last try
 * missed that store.  Receivers pass a wake-up on as mpmc.c's consumers
 * do (a wake-up for message p+1 can reach a receiver that finds p not yet
 * published).  Senders need no passing on: a receive wakes all of them
 * (notify_senders), since it cannot know which one the freed cells fit.
 */

static void pass_on_receivers(weft_msgq *q)
{
    /* relaxed loads: a hint of whether waking is useful; the woken receiver
     * re-checks everything itself */
    uint64_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
    uint64_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
    uint64_t seq = atomic_load_explicit(&cell_of(q, h)->seq, memory_order_relaxed);
    if (t & CLOSED)
        notify_receivers(q, INT_MAX);
    else if (seq == full_of(h))
        notify_receivers(q, 1);
}

COLD static int send_slow(weft_msgq *q, const void *msg, size_t len, struct deadline d)
{
    weft_eventcount *ec = &q->not_full;
    uint64_t seen;
    int r = OP_WOULD_BLOCK;
    for (unsigned round = 0; r == OP_WOULD_BLOCK;) {
        enum wait_rung rung = wait_rung(&round, d);
        if (rung == WAIT_TIMEOUT)
            return ETIMEDOUT;
        if (rung == WAIT_PARK) {
            uint32_t key = weft_eventcount_prepare(ec);
            /* the re-check after announcing: prepare's fence pairs with
             * the light fence of notify_senders */
            r = send_one(q, msg, len, &seen);
            if (r != OP_WOULD_BLOCK) {
                weft_eventcount_cancel(ec);
                break;
            }
            (void)wait_park(ec, key, d); /* the send below tries once more */
        }
        r = send_one(q, msg, len, &seen);
    }
    if (r == OP_CLOSED)
        return EPIPE;
    notify_receivers(q, 1);
    return 0;
}

static int send_until(weft_msgq *q, const void *msg, size_t len, struct deadline d)
{
    assert(q != NULL && (msg != NULL || len == 0));
    if (len > weft_msgq_max_message(q))
        return EMSGSIZE;
    uint64_t seen;
    int r = send_one(q, msg, len, &seen);
    if (LIKELY(r == OP_OK)) {
        notify_receivers(q, 1);
        return 0;
    }
    if (r == OP_CLOSED)
        return EPIPE;
    return send_slow(q, msg, len, d);
}

int weft_msgq_send(weft_msgq *q, const void *msg, size_t len)
{
    return send_until(q, msg, len, deadline_none());
}

int weft_msgq_send_timed(weft_msgq *q, const void *msg, size_t len, uint64_t timeout_ns)
{
    if (timeout_ns == 0) {
        int r = weft_msgq_try_send(q, msg, len);
        return r == EAGAIN ? ETIMEDOUT : r;
    }
    return send_until(q, msg, len, deadline_in(timeout_ns));
}

static int recv_closed(weft_msgq *q)
{
    notify_receivers(q, INT_MAX); /* every parked receiver must see EPIPE */
    return EPIPE;
}

COLD static int recv_slow(weft_msgq *q, void *buf, size_t cap, size_t *len, uint64_t seen,
                          struct deadline d)
{
    weft_eventcount *ec = &q->not_empty;
    if (drained(q, seen))
        return recv_closed(q);
    int r;
    for (unsigned round = 0;;) {
        enum wait_rung rung = wait_rung(&round, d);
        if (rung == WAIT_TIMEOUT)
            return ETIMEDOUT;
        if (rung == WAIT_PARK) {
            uint32_t key = weft_eventcount_prepare(ec);
            /* the re-check after announcing (light fence of
             * notify_receivers) */
            r = recv_one(q, buf, cap, len, &seen);
            if (r != OP_WOULD_BLOCK || drained(q, seen)) {
                weft_eventcount_cancel(ec);
                if (r == OP_WOULD_BLOCK)
                    return recv_closed(q);
                break;
            }
            (void)wait_park(ec, key, d); /* the receive below tries once more */
        }
        r = recv_one(q, buf, cap, len, &seen);
        if (r != OP_WOULD_BLOCK)
            break;
        if (drained(q, seen))
            return recv_closed(q);
    }
    if (r == OP_TOO_BIG) {
        pass_on_receivers(q); /* we leave the message: another may take it */
        return EMSGSIZE;
    }
    notify_senders(q);
    pass_on_receivers(q);
    return 0;
}

static int recv_until(weft_msgq *q, void *buf, size_t cap, size_t *len, struct deadline d)
{
    assert(q != NULL && (buf != NULL || cap == 0) && len != NULL);
    uint64_t seen;
    int r = recv_one(q, buf, cap, len, &seen);
    if (LIKELY(r == OP_OK)) {
        notify_senders(q);
        return 0;
    }
    if (r == OP_TOO_BIG)
        return EMSGSIZE;
    return recv_slow(q, buf, cap, len, seen, d);
}

int weft_msgq_recv(weft_msgq *q, void *buf, size_t cap, size_t *len)
{
    return recv_until(q, buf, cap, len, deadline_none());
}

int weft_msgq_recv_timed(weft_msgq *q, void *buf, size_t cap, size_t *len, uint64_t timeout_ns)
{
    if (timeout_ns == 0) {
        int r = weft_msgq_try_recv(q, buf, cap, len);
        return r == EAGAIN ? ETIMEDOUT : r;
    }
    return recv_until(q, buf, cap, len, deadline_in(timeout_ns));
}
