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
 * Dead processes (WEFT_MSGQ_ROBUST): see "Recovery" below.
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

#ifndef WEFT_MODEL
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "base.h"
#include "chaos.h"
#include "eventcount_internal.h"
#include "seq_cells.h"
#include "wait.h"

/* A marker in the header: the queue came from weft_msgq_create. */
#define CREATED_MAGIC 0x6d736771u /* "msgq" */

enum { CELL = WEFT_MSGQ_CELL };

/* The owner records of a robust queue (see "Recovery"); the model program
 * has at most four threads, and each record read is a step it explores. */
#ifndef WEFT_MODEL
enum { RECORDS = WEFT_MSGQ_RECORDS };
#else
enum { RECORDS = 4 };
/* model-check/msgq.cc: the calling thread's token (never 0) and its
 * process's start time, and whether the owner of a record is alive by its
 * token and the start time read beside it (as kill(2) and /proc say) */
uint64_t weft_model_msgq_token(void);
uint64_t weft_model_msgq_start(void);
bool weft_model_msgq_alive(uint64_t owner, uint64_t start);
#endif

/* Bit 63 of a record's end: the claim is a receive's. */
#define RECV_CLAIM ((uint64_t)1 << 63)

/* A record's end while its owner rewrites lo (op_intent): no position
 * with RECV_CLAIM reaches it. */
#define INTENT_BUSY UINT64_MAX

/* Bit 63 of a record's owner: the owner in it is taking the record and has
 * not written its start yet (tokens, (pid << 32) | tid, never reach it).
 * Until the owner word drops it, nobody judges that owner by the start:
 * the one there is the previous owner's, and a live thread would look dead
 * by it and lose its record to another taker.  A thread that dies in those
 * few instructions leaves the record taken for good (one of RECORDS). */
#define TAKING ((uint64_t)1 << 63)

/* How long a blocking call waits at one stranded-looking position before
 * it looks for dead owners (and the longest it parks meanwhile). */
#define RECOVER_NS (10 * 1000 * 1000)

/* One thread's record, on a line of its own: the owner writes its claims
 * here on every operation.  Read by recoverers (recover_dead_*) and by
 * threads looking for a record to take. */
struct record {
    /* (pid << 32) | tid of the thread that holds the record, 0 when none.
     * Written by CAS (a thread taking the record). */
    alignas(WEFT_CACHELINE) atomic_uint_least64_t owner;
    /* The owner process's start time (field 22 of /proc/PID/stat), which
     * tells a reused pid apart.  Written by the owner after taking it. */
    atomic_uint_least64_t start;
    /* The claim in progress: cells [lo, end & ~RECV_CLAIM) of the tail
     * (a send) or of the head (RECV_CLAIM: a receive); end 0 when none.
     * Written by the owner only (recoverers clear a dead owner's end). */
    atomic_uint_least64_t lo, end;
};

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
    uint32_t robust;                       /* WEFT_MSGQ_ROBUST was given */
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
    /* Robust queues: operations in flight without a record (the table was
     * full; they switch recovery off), and the dead owners' claims that
     * recovery cleared.  Written by RMW, rarely. */
    alignas(WEFT_CACHELINE) atomic_uint_least64_t untracked;
    atomic_uint_least64_t dropped;
    struct record records[RECORDS];
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
        (flags & ~(WEFT_SHARED | WEFT_MSGQ_ROBUST)) != 0) {
        errno = EINVAL;
        return NULL;
    }
    weft_msgq *q = (weft_msgq *)mem;
    q->mask = (uint64_t)n - 1;
    q->data_offset = HEADER_BYTES + n * sizeof(struct cell);
    q->created = 0;
    q->robust = (flags & WEFT_MSGQ_ROBUST) != 0;
    /* atomic_init: the queue is not shared yet; handing it to other threads
     * or processes is the caller's synchronisation */
    atomic_init(&q->tail, 0);
    atomic_init(&q->head, 0);
    atomic_init(&q->untracked, 0);
    atomic_init(&q->dropped, 0);
    for (size_t i = 0; i < RECORDS; i++) {
        atomic_init(&q->records[i].owner, 0);
        atomic_init(&q->records[i].start, 0);
        atomic_init(&q->records[i].lo, 0);
        atomic_init(&q->records[i].end, 0);
    }
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


/* ---- owner records (robust queues) -------------------------------------
 *
 * A thread takes a record of the queue's table the first time it operates
 * on a robust queue (claim_record) and keeps it: its thread-local cache
 * remembers which one for a few queues.  Before every claiming CAS of the
 * tail or the head it writes the cells it is claiming into the record
 * (intent), and clears them once the operation is over (op_end).  The CAS
 * is a release, so a recoverer that reads the tail or the head with
 * acquire and finds a position claimed also finds the claimer's intent
 * (or a later value of its record, written after the operation ended).
 */

#ifndef WEFT_MODEL
/* This process: its pid and start time, read once (and again in a child
 * after fork, by at_fork_child). */
static pid_t proc_pid;
static uint64_t proc_start;
static pthread_once_t proc_once = PTHREAD_ONCE_INIT;

/* This thread: its token ((pid << 32) | tid, 0 until known) and the
 * records it holds in the last few robust queues it used. */
enum { CACHED = 4 };
static _Thread_local uint64_t tls_token;
static _Thread_local struct {
    const weft_msgq *q;
    unsigned idx;
} tls_cache[CACHED];
static _Thread_local unsigned tls_next;

/* Field 3 (state) and field 22 (starttime) of /proc/PID/stat; false when
 * the file cannot be read (no such process, or no /proc). */
static bool read_stat(pid_t pid, char *state, uint64_t *start)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    /* the command name (field 2) is in parentheses and may hold anything:
     * the fields after it start after the last ')' */
    char *p = strrchr(buf, ')');
    if (p == NULL || p[1] != ' ')
        return false;
    p += 2;
    *state = *p;
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (p == NULL)
            return false;
        p++;
    }
    *start = strtoull(p, NULL, 10);
    return true;
}

static void at_fork_child(void)
{
    char state;
    proc_pid = getpid();
    if (!read_stat(proc_pid, &state, &proc_start))
        proc_start = 0;
    tls_token = 0;
    memset(tls_cache, 0, sizeof tls_cache);
}

static void proc_init(void)
{
    char state;
    proc_pid = getpid();
    if (!read_stat(proc_pid, &state, &proc_start))
        proc_start = 0;
    (void)pthread_atfork(NULL, NULL, at_fork_child);
}

static uint64_t my_token(void)
{
    if (UNLIKELY(tls_token == 0)) {
        (void)pthread_once(&proc_once, proc_init);
        uint64_t tid = (uint64_t)(uint32_t)syscall(SYS_gettid);
        tls_token = (uint64_t)(uint32_t)proc_pid << 32 | tid;
    }
    return tls_token;
}

static bool thread_gone(pid_t pid, pid_t tid)
{
    return syscall(SYS_tgkill, pid, tid, 0) == -1 && errno == ESRCH;
}

/* Is the thread of owner (with its process's start time) alive?  Errs on
 * the side of alive: a claim is recovered only when its owner is surely
 * gone. */
static bool owner_alive(uint64_t owner, uint64_t start)
{
    int saved = errno;
    pid_t pid = (pid_t)(owner >> 32), tid = (pid_t)(owner & 0xffffffffu);
    bool alive = true;
    char state;
    uint64_t st;
    if (pid == proc_pid) {
        alive = !thread_gone(pid, tid);
    } else if (kill(pid, 0) == -1 && errno == ESRCH) {
        alive = false;
    } else if (!read_stat(pid, &state, &st)) {
        alive = !(kill(pid, 0) == -1 && errno == ESRCH); /* no /proc: kill alone */
    } else if (state == 'Z' || state == 'X' || (start != 0 && st != start)) {
        alive = false; /* a zombie, or the pid of another process now */
    } else {
        alive = !thread_gone(pid, tid);
    }
    errno = saved;
    return alive;
}

static void cache_record(weft_msgq *q, unsigned idx)
{
    unsigned i = tls_next++ % CACHED;
    tls_cache[i].q = q;
    tls_cache[i].idx = idx;
}

static uint64_t my_start(void)
{
    return proc_start;
}
#else  /* WEFT_MODEL: the model program says who is who and who is dead */
static uint64_t my_token(void)
{
    return weft_model_msgq_token();
}
static bool owner_alive(uint64_t owner, uint64_t start)
{
    return weft_model_msgq_alive(owner, start);
}
static void cache_record(weft_msgq *q, unsigned idx)
{
    (void)q;
    (void)idx;
}
static uint64_t my_start(void)
{
    return weft_model_msgq_start();
}
#endif /* WEFT_MODEL */

/* Is the claim in record r finished with, whoever owned it: a send's cells
 * all below the head (received or dropped), a receive's all handed on and
 * claimed again by a later lap's sender? */
static bool claim_obsolete(weft_msgq *q, struct record *r)
{
    /* acquire: pairs with the release stores of end (op_end, and the
     * recoverers' CAS), so that the dead owner's stores of lo and end
     * happen-before a taker's and so precede them in modification order:
     * without it a reader of the taker's intent could read the dead
     * owner's later-ordered lo beside the taker's end.  Relacy orders
     * stores as they run, so it cannot produce that inversion, and the
     * mutant to relaxed survives it. */
    uint64_t end = atomic_load_explicit(&r->end, memory_order_acquire);
    if (end == 0 || end == INTENT_BUSY) /* BUSY: it died before its CAS */
        return true;
    uint64_t e = end & ~RECV_CLAIM;
    /* relaxed: the positions only grow; a stale value errs on the side of
     * "still needed" */
    if (end & RECV_CLAIM)
        return (int64_t)((atomic_load_explicit(&q->tail, memory_order_relaxed) & ~CLOSED) -
                         (e + ncells(q))) >= 0;
    return (int64_t)(atomic_load_explicit(&q->head, memory_order_relaxed) - e) >= 0;
}

/* Take a record for this thread: the one it already holds, a free one, or
 * one whose owner is dead and whose claim is finished with.  NULL when
 * every record is held. */
COLD static struct record *claim_record(weft_msgq *q, uint64_t me)
{
    for (unsigned i = 0; i < RECORDS; i++)
        /* relaxed: only this thread writes its own token.  The same token
         * with another start time is a dead process's whose pid and tid
         * were reused (its claim may wait for recovery): not ours.  The
         * start read is ours when we hold the record (we wrote it); when a
         * dead predecessor does, any value it reads is an earlier owner's,
         * and those are not our process (it began after them). */
        if (atomic_load_explicit(&q->records[i].owner, memory_order_relaxed) == me &&
            atomic_load_explicit(&q->records[i].start, memory_order_relaxed) == my_start()) {
            cache_record(q, i);
            return &q->records[i];
        }
    for (unsigned i = 0; i < RECORDS; i++) {
        struct record *r = &q->records[i];
        /* acquire: pairs with the release store of owner below (another
         * thread's), so that the start it wrote before is read below */
        uint64_t o = atomic_load_explicit(&r->owner, memory_order_acquire);
        /* TAKING: being taken, its start not written yet (a live owner
         * would look dead by the start before its) */
        if ((o & TAKING) != 0 ||
            (o != 0 && (owner_alive(o, atomic_load_explicit(&r->start, memory_order_relaxed)) ||
                        !claim_obsolete(q, r))))
            continue;
        /* relaxed: no edge is needed here.  The last owner's take (its
         * start) happens-before us by the acquire load of o above, which
         * read the store this CAS replaces (only a taker writes owner, and
         * o's thread is dead: no ABA); its claims by claim_obsolete's
         * acquire of end; and what we write, o | TAKING, publishes
         * nothing: every reader that sees TAKING skips the record (our
         * start is published by the release store of owner below).  An
         * acquire or a release here was an ordering no execution needs:
         * mutants of this CAS to acquire and to release survived every
         * model scenario, record_reuse among them. */
        if (atomic_compare_exchange_strong_explicit(&r->owner, &o, me | TAKING,
                                                    memory_order_relaxed, memory_order_relaxed)) {
            /* relaxed: published by the release store of owner below */
            atomic_store_explicit(&r->start, my_start(), memory_order_relaxed);
            atomic_store_explicit(&r->end, 0, memory_order_relaxed);
            /* release: pairs with the acquire loads of owner above and in
             * snapshot, which then read this start */
            atomic_store_explicit(&r->owner, me, memory_order_release);
            cache_record(q, i);
            return r;
        }
    }
    return NULL;
}

/* The record this thread writes its claims into: NULL for a queue that is
 * not robust, and for one whose table is full (then the operation counts
 * in untracked instead: op_begin). */
static inline struct record *my_record(weft_msgq *q)
{
    uint64_t me = my_token();
#ifndef WEFT_MODEL
    for (unsigned i = 0; i < CACHED; i++)
        if (tls_cache[i].q == q) {
            struct record *r = &q->records[tls_cache[i].idx];
            /* relaxed: a record holding this thread's token (without
             * TAKING) is taken only from a dead owner, never from us */
            if (LIKELY(atomic_load_explicit(&r->owner, memory_order_relaxed) == me))
                return r;
        }
#endif
    return claim_record(q, me);
}

/* Who is doing an operation: its record (NULL: none), or untracked. */
struct op {
    struct record *r;
    bool untracked;
};

static inline struct op op_begin(weft_msgq *q)
{
    struct op o = { NULL, false };
    if (LIKELY(!q->robust))
        return o;
    o.r = my_record(q);
    if (UNLIKELY(o.r == NULL)) {
        o.untracked = true;
        /* relaxed: published by the release CAS of the claim (as an intent
         * is); a recoverer that reads the claimed position with acquire
         * sees this count or a later one */
        atomic_fetch_add_explicit(&q->untracked, 1, memory_order_relaxed);
    }
    return o;
}

/* The claim about to be made: cells [lo, end) (| RECV_CLAIM for a receive).
 * The release CAS that follows publishes it to recoverers (see the top of
 * "Recovery"). */
static inline void op_intent(struct op o, uint64_t lo, uint64_t end)
{
    if (o.r != NULL) {
        /* A seqlock over (lo, end) (Boehm, "Can seqlocks get along with
         * programming language memory models?", MSPC 2012, the fence
         * form): end goes BUSY, a release fence, lo, then end.  A reader
         * (read_intent) that reads this lo also reads BUSY or this end
         * after its acquire fence, and so never pairs this lo with an
         * earlier end: the model checker found that torn pair dropping a
         * published message (model-check/msgq.cc, dead_sender). */
        /* relaxed: ordered before lo by the fence */
        atomic_store_explicit(&o.r->end, INTENT_BUSY, memory_order_relaxed);
        /* release fence: pairs with the acquire fence in read_intent */
        atomic_thread_fence(memory_order_release);
        /* relaxed: ordered by the fence above and the release below */
        atomic_store_explicit(&o.r->lo, lo, memory_order_relaxed);
        /* release: pairs with the acquire load of end in read_intent.  A
         * recoverer that reads this intent of our NEXT operation (it read
         * the tail or the head after our previous claim) must also see how
         * the previous one ended, its publish or its release of the cells:
         * only a release here orders them (a plain store after op_end's
         * release would not carry it), and lo with it.  On x86 a plain
         * mov. */
        atomic_store_explicit(&o.r->end, end, memory_order_release);
    }
}

/* The operation is over: its message published, or its cells handed on
 * (or it claimed nothing). */
static inline void op_end(weft_msgq *q, struct op o)
{
    if (o.r != NULL)
        /* release: pairs with the acquire loads of end in recoverers
         * (snapshot) and claim_obsolete: a recoverer that finds the claim
         * over also finds its publish or its release of the cells */
        atomic_store_explicit(&o.r->end, 0, memory_order_release);
    else if (o.untracked)
        /* release: as op_end's store of end */
        atomic_fetch_sub_explicit(&q->untracked, 1, memory_order_release);
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
static size_t claim_send(weft_msgq *q, struct op o, const size_t *lens, size_t n, uint64_t *at)
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
        /* Success proves nobody claimed p or later since the scan; it
         * fails once close set the mark. */
        bool won;
        if (UNLIKELY(q->robust)) {
            op_intent(o, p, p + cells);
            /* release: publishes the intent just written (pairs with the
             * acquire load of the tail in recover_dead_senders) */
            won = atomic_compare_exchange_weak_explicit(&q->tail, &p, p + cells,
                                                        memory_order_release, memory_order_relaxed);
        } else {
            /* relaxed: the CAS only decides who owns the cells (a total
             * order on the tail); the data hand-off is ordered by seq */
            won = atomic_compare_exchange_weak_explicit(&q->tail, &p, p + cells,
                                                        memory_order_relaxed, memory_order_relaxed);
        }
        if (won) {
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
static size_t claim_recv(weft_msgq *q, struct op o, size_t cap, size_t *lens, size_t n,
                         uint64_t *at, uint64_t *cells_out, int *why)
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
        /* success proves that none of them was received since the scan, so
         * the lengths read are theirs */
        bool won;
        if (UNLIKELY(q->robust)) {
            op_intent(o, h, (h + cells) | RECV_CLAIM);
            /* release: publishes the intent (pairs with the acquire load
             * of the head in recover_dead_receivers), and, through the
             * acquire of seq above, the sender's writes to the cells, which
             * a recoverer hands on (see there) */
            won = atomic_compare_exchange_weak_explicit(&q->head, &h, h + cells,
                                                        memory_order_release, memory_order_relaxed);
        } else {
            /* relaxed: the CAS only decides who owns the messages */
            won = atomic_compare_exchange_weak_explicit(&q->head, &h, h + cells,
                                                        memory_order_relaxed, memory_order_relaxed);
        }
        if (won) {
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
    struct op o = op_begin(q);
    if (claim_send(q, o, &len, 1, &t) == 0) {
        op_end(q, o);
        *seen = t;
        return (t & CLOSED) ? OP_CLOSED : OP_WOULD_BLOCK;
    }
    WEFT_CHAOS_POINT(); /* claimed, not yet published */
    publish(q, t, msg, len);
    op_end(q, o);
    return OP_OK;
}

static int recv_one(weft_msgq *q, void *buf, size_t cap, size_t *len, uint64_t *seen)
{
    uint64_t h, cells;
    int why = OP_WOULD_BLOCK;
    size_t n; /* claim_recv writes lengths it may drop: *len changes only on success or TOO_BIG */
    struct op o = op_begin(q);
    if (claim_recv(q, o, cap, &n, 1, &h, &cells, &why) == 0) {
        op_end(q, o);
        *seen = h;
        if (why == OP_TOO_BIG)
            *len = n;
        return why;
    }
    *len = n;
    WEFT_CHAOS_POINT(); /* claimed, not yet released */
    copy_out(q, h, buf, n);
    release_cells(q, h, cells);
    op_end(q, o);
    return OP_OK;
}

/* Closed and drained, given that a receiver found position h empty (see
 * seq_cells.h). */
static bool drained(weft_msgq *q, uint64_t h)
{
    return seq_drained(&q->tail, h);
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
    struct op o = op_begin(q);
    size_t m = claim_send(q, o, lens, ok, &t);
    if (m == 0) {
        op_end(q, o);
        return 0;
    }
    WEFT_CHAOS_POINT(); /* claimed, not yet published */
    for (size_t i = 0; i < m; i++) {
        publish(q, t, msgs[i], lens[i]);
        t += cells_for(lens[i]);
    }
    op_end(q, o);
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
    struct op o = op_begin(q);
    size_t m = claim_recv(q, o, cap, lens, n, &h, &cells, &why);
    if (m == 0) {
        op_end(q, o);
        return 0;
    }
    WEFT_CHAOS_POINT(); /* claimed, not yet released */
    size_t off = 0;
    uint64_t p = h;
    for (size_t i = 0; i < m; i++) {
        copy_out(q, p, (unsigned char *)buf + off, lens[i]);
        off += lens[i];
        p += cells_for(lens[i]);
    }
    release_cells(q, h, cells);
    op_end(q, o);
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


/* ---- recovery from dead owners (robust queues) ---------------------------
 *
 * Why the rule "no live owner's intent covers position p" is enough to take
 * a claimed, stranded position p from its claimer: the claimer wrote its
 * intent covering p before the CAS that claimed p, a release; the recoverer
 * read the tail (or the head) past p with acquire, and every later change
 * of that word is a read-modify-write, which continues the claimer's
 * release sequence; so the recoverer's snapshot of the records, made after
 * that load, sees the claimer's intent, or a later value of its record,
 * which the claimer writes only once its operation is over (op_end, a
 * release: the recoverer then sees the cell published or handed on, and
 * leaves it).  With no untracked operation in flight every claimer has a
 * record, so if no live owner's intent covers p, p's claimer is dead.  A
 * record is taken over only from a dead owner whose claim is finished with
 * (claim_obsolete), so a stranded claim keeps its record until recovered.
 * Recoveries race each other only through CASes on the head or on a
 * cell's seq, which sequence numbers keep free of ABA.
 */

/* A claim read from a record. */
struct span {
    uint64_t lo, end, raw; /* cells [lo, end); raw: the record's end word */
    unsigned idx;          /* which record */
};

struct claims {
    struct span live[RECORDS], dead[RECORDS];
    size_t nlive, ndead;
};

/* Read record r's intent whole: false when its owner kept rewriting it
 * (or died doing so, between BUSY and the end). */
static bool read_intent(struct record *r, uint64_t *lo, uint64_t *end)
{
    for (int tries = 0; tries < 16; tries++) {
        /* acquire: pairs with the release stores of end in op_intent and
         * op_end */
        uint64_t e1 = atomic_load_explicit(&r->end, memory_order_acquire);
        if (e1 == INTENT_BUSY)
            continue;
        /* relaxed: checked by the second read of end */
        uint64_t l = atomic_load_explicit(&r->lo, memory_order_relaxed);
        /* acquire fence: pairs with the release fence in op_intent: a lo
         * written after e1 makes the read below see BUSY or later */
        atomic_thread_fence(memory_order_acquire);
        /* relaxed: ordered by the fence */
        if (atomic_load_explicit(&r->end, memory_order_relaxed) == e1) {
            *lo = l;
            *end = e1;
            return true;
        }
    }
    return false;
}

/* The claims in progress of one kind (receives when recv), split by
 * whether their owners are alive. */
static void snapshot(weft_msgq *q, bool recv, struct claims *c)
{
    c->nlive = c->ndead = 0;
    for (unsigned i = 0; i < RECORDS; i++) {
        struct record *r = &q->records[i];
        /* acquire: pairs with the release store of owner in claim_record
         * (its start is then read below) */
        uint64_t o = atomic_load_explicit(&r->owner, memory_order_acquire);
        /* TAKING: being taken; the claim there was finished with (the
         * taker checked), and the new owner's are not begun */
        if (o == 0 || (o & TAKING) != 0)
            continue;
        uint64_t lo, end;
        bool whole = read_intent(r, &lo, &end);
        bool alive = owner_alive(o, atomic_load_explicit(&r->start, memory_order_relaxed));
        if (!whole) {
            /* a live owner busy rewriting its intent: it covers all (we
             * look again later); a dead one died before its CAS */
            if (alive)
                c->live[c->nlive++] = (struct span){ 0, UINT64_MAX >> 1, INTENT_BUSY, i };
            continue;
        }
        if (end == 0 || ((end & RECV_CLAIM) != 0) != recv)
            continue;
        struct span sp = { lo, end & ~RECV_CLAIM, end, i };
        if (alive)
            c->live[c->nlive++] = sp;
        else
            c->dead[c->ndead++] = sp;
    }
}

static bool covers(const struct span *sp, size_t n, uint64_t p)
{
    for (size_t i = 0; i < n; i++)
        if ((int64_t)(p - sp[i].lo) >= 0 && (int64_t)(sp[i].end - p) > 0)
            return true;
    return false;
}

/* Clear the dead owners' claims that lie below limit and met [from, to):
 * each is an operation recovered.  Returns how many this call cleared (a
 * claim is counted once, by the recoverer whose CAS clears it; a claim
 * recovered in parts, by two recoverers or because a live claim stopped
 * one, is cleared by the one that finds it all below limit). */
static size_t clear_dead(weft_msgq *q, const struct claims *c, uint64_t from, uint64_t to,
                         uint64_t limit)
{
    size_t n = 0;
    for (size_t i = 0; i < c->ndead; i++) {
        const struct span *sp = &c->dead[i];
        if ((int64_t)(sp->end - from) <= 0 || (int64_t)(to - sp->lo) <= 0 ||
            (int64_t)(limit - sp->end) < 0)
            continue;
        uint64_t raw = sp->raw;
        /* relaxed: the dead owner writes nothing any more; the CAS makes
         * one clearer count it */
        if (atomic_compare_exchange_strong_explicit(&q->records[sp->idx].end, &raw, 0,
                                                    memory_order_relaxed, memory_order_relaxed))
            n++;
    }
    if (n != 0)
        /* relaxed: a statistic */
        atomic_fetch_add_explicit(&q->dropped, n, memory_order_relaxed);
    return n;
}

/* The head h is claimed by a send (h < tail) and not published: if its
 * sender is dead, take the stranded cells from h on as one receive that
 * drops them.  Returns the operations recovered (0: none). */
COLD static size_t recover_dead_senders(weft_msgq *q, uint64_t h)
{
    /* acquire: pairs with the release claiming CAS in claim_send (see the
     * top of this section) */
    uint64_t t = atomic_load_explicit(&q->tail, memory_order_acquire) & ~CLOSED;
    /* acquire: an untracked claim below t was counted before its release
     * CAS, which the acquire above synchronised with, so 0 here means it
     * is over; pairs with the release decrement in op_end, whose publish
     * we must then see */
    if ((int64_t)(t - h) <= 0 || atomic_load_explicit(&q->untracked, memory_order_acquire) != 0)
        return 0;
    struct claims c;
    snapshot(q, false, &c);
    uint64_t p = h;
    /* the dead sender's cells, and any dead senders' after them, up to a
     * published message, a live claim or the tail */
    while ((int64_t)(t - p) > 0 && !covers(c.live, c.nlive, p) &&
           /* relaxed: only a dead claimer could change it (its claim is
            * not covered by a live intent) */
           atomic_load_explicit(&cell_of(q, p)->seq, memory_order_relaxed) == free_for(p))
        p++;
    if (p == h)
        return 0;
    /* Count (and clear) the dead claims first: once the head passes them
     * their records look finished with, and a thread may take one over
     * before we clear it (the model checker found that lost count).  If
     * our CAS below fails, the recoverer that moved the head took these
     * same dead cells (nobody else can move it past them), and finds them
     * counted. */
    size_t n = clear_dead(q, &c, h, p, p);
    struct op o = op_begin(q);
    op_intent(o, h, p | RECV_CLAIM);
    uint64_t expect = h;
    /* release: publishes our intent, as claim_recv's CAS (a recoverer can
     * die too); fails when another recoverer or a receiver moved on */
    bool won = atomic_compare_exchange_strong_explicit(&q->head, &expect, p, memory_order_release,
                                                       memory_order_relaxed);
    if (won)
        release_cells(q, h, p - h);
    op_end(q, o);
    if (won)
        notify_senders(q);
    return n;
}

/* A sender is held up by cells of the previous lap: hand on every cell
 * that a dead receiver claimed (below the head) and did not release.
 * Returns the operations recovered (0: none). */
COLD static size_t recover_dead_receivers(weft_msgq *q)
{
    /* acquire: pairs with the release claiming CASes of the head
     * (claim_recv, recover_dead_senders): their intents, and the writes of
     * the senders whose messages they claimed (acquired from seq before
     * their CAS), are visible from here */
    uint64_t h = atomic_load_explicit(&q->head, memory_order_acquire);
    /* acquire: as in recover_dead_senders */
    if (atomic_load_explicit(&q->untracked, memory_order_acquire) != 0)
        return 0;
    /* relaxed: the cells below tail - ncells were handed on already, and
     * a stale tail only widens the range (their CASes then fail) */
    uint64_t t = atomic_load_explicit(&q->tail, memory_order_relaxed) & ~CLOSED;
    uint64_t from = t > ncells(q) ? t - ncells(q) : 0;
    if ((int64_t)(h - from) <= 0)
        return 0;
    struct claims c;
    snapshot(q, true, &c);
    if (c.ndead == 0)
        return 0;
    /* the cells not handed on whose claimers are dead: [lo, hi) holds them */
    uint64_t lo = h, hi = from;
    for (uint64_t p = from; p != h; p++) {
        /* relaxed: a filter; the CASes below decide */
        uint64_t seq = atomic_load_explicit(&cell_of(q, p)->seq, memory_order_relaxed);
        if (!covers(c.live, c.nlive, p) && (seq == full_of(p) || seq == free_for(p))) {
            lo = (int64_t)(p - lo) < 0 ? p : lo;
            hi = p + 1;
        }
    }
    if ((int64_t)(hi - lo) <= 0)
        return 0;
    /* count first, as in recover_dead_senders: a sender may reuse the
     * cells, and then a thread take the dead record over, before a count
     * after the CASes */
    size_t n = clear_dead(q, &c, lo, hi, h);
    bool any = false;
    for (uint64_t p = lo; p != hi; p++) {
        if (covers(c.live, c.nlive, p))
            continue;
        struct cell *cl = cell_of(q, p);
        /* relaxed: a filter; the CAS decides */
        uint64_t seq = atomic_load_explicit(&cl->seq, memory_order_relaxed);
        if (seq != full_of(p) && seq != free_for(p))
            continue; /* handed on already */
        /* release: pairs with the acquire in scan_free: the last sender's
         * writes to the cell (visible here through the head, see above)
         * happen-before the next one's */
        any |= atomic_compare_exchange_strong_explicit(&cl->seq, &seq, free_for(p + ncells(q)),
                                                       memory_order_release, memory_order_relaxed);
    }
    if (any)
        notify_senders(q);
    return n;
}

/* Where this thread's blocking and timed calls of one direction have been
 * waiting, and since when.  Kept across calls, per thread: a loop of timed
 * calls shorter than RECOVER_NS each (a sender retrying every millisecond)
 * must add up to RECOVER_NS at one position as one long call does, or
 * nobody would look for the dead receiver whose cells it waits for (the
 * hang msgq-kill found).  A position left and met again means the queue
 * never moved past it, so an old since is still true; another queue later
 * mapped at the same address can only have its first recovery come sooner,
 * and a recovery is safe at any time (it takes only dead owners' claims). */
struct stuck {
    const weft_msgq *q;
    uint64_t at, since; /* since 0: not waiting yet */
};

#ifndef WEFT_MODEL
static _Thread_local struct stuck tls_stuck[2]; /* [0] sends, [1] receives */
#endif

/* This thread's struct stuck for q in direction recv (local: the
 * caller's, for the model program, whose threads share one OS thread). */
static struct stuck *stuck_of(const weft_msgq *q, bool recv, struct stuck *local)
{
#ifndef WEFT_MODEL
    struct stuck *st = &tls_stuck[recv];
    (void)local;
#else
    struct stuck *st = local;
    (void)recv;
#endif
    if (st->q != q) {
        st->q = q;
        st->since = 0;
    }
    return st;
}

/* Has this thread waited RECOVER_NS at position at? */
static bool waited_long(struct stuck *st, uint64_t at)
{
    uint64_t now = now_ns();
    if (st->since == 0 || st->at != at) {
        st->at = at;
        st->since = now;
        return false;
    }
    if (now - st->since < RECOVER_NS)
        return false;
    st->since = now;
    return true;
}

/* A receiver at head h: is the message there claimed and not published? */
static bool head_stranded(weft_msgq *q, uint64_t h)
{
    /* relaxed: a hint for when to look (recover_dead_senders re-checks) */
    return (int64_t)((atomic_load_explicit(&q->tail, memory_order_relaxed) & ~CLOSED) - h) > 0;
}

/* A sender at tail t: did receivers claim cells of the previous lap that
 * it may be waiting for? */
static bool tail_stranded(weft_msgq *q, uint64_t t)
{
    /* relaxed: a hint, as above */
    uint64_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
    return (int64_t)(h - ((t & ~CLOSED) - ncells(q))) > 0;
}

/* The park of a robust queue's blocking call where a claim might be
 * stranded: at most RECOVER_NS, so that it comes back to look. */
static struct deadline park_deadline(weft_msgq *q, bool stranded, struct deadline d)
{
    if (!q->robust || !stranded)
        return d;
    struct deadline slice = deadline_in(RECOVER_NS);
    return slice.at < d.at ? slice : d;
}

size_t weft_msgq_recover(weft_msgq *q)
{
    assert(q != NULL);
    if (!q->robust)
        return 0;
    /* relaxed: where to look; recover_dead_senders re-checks */
    uint64_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
    size_t n = 0;
    /* relaxed: as above */
    if (atomic_load_explicit(&cell_of(q, h)->seq, memory_order_relaxed) == free_for(h))
        n += recover_dead_senders(q, h);
    return n + recover_dead_receivers(q);
}

uint64_t weft_msgq_dropped(const weft_msgq *q)
{
    assert(q != NULL);
    weft_msgq *m = (weft_msgq *)(uintptr_t)q;
    /* relaxed: a statistic */
    return atomic_load_explicit(&m->dropped, memory_order_relaxed);
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
    struct stuck local = { NULL, 0, 0 }, *st = stuck_of(q, false, &local);
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
            /* the send below tries once more */
            (void)wait_park(ec, key, park_deadline(q, tail_stranded(q, seen), d));
        }
        r = send_one(q, msg, len, &seen);
        if (UNLIKELY(q->robust) && r == OP_WOULD_BLOCK && tail_stranded(q, seen) &&
            waited_long(st, seen))
            (void)recover_dead_receivers(q); /* the loop tries again */
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
    struct stuck local = { NULL, 0, 0 }, *st = stuck_of(q, true, &local);
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
            /* the receive below tries once more */
            (void)wait_park(ec, key, park_deadline(q, head_stranded(q, seen), d));
        }
        r = recv_one(q, buf, cap, len, &seen);
        if (r != OP_WOULD_BLOCK)
            break;
        if (drained(q, seen))
            return recv_closed(q);
        if (UNLIKELY(q->robust) && head_stranded(q, seen) && waited_long(st, seen))
            (void)recover_dead_senders(q, seen); /* the loop tries again */
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
