/* Unit tests of weft_doorbell (include/weft/doorbell.h) and of the rings'
 * attachments (weft_mpmc/spsc/queue_set_doorbell). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <weft/doorbell.h>
#include <weft/mpmc.h>
#include <weft/queue.h>
#include <weft/spsc.h>

#include "check.h"
#include "doorbell_internal.h" /* the loop's mode, for the mode test */
#include "refuse_membarrier.h"

#define ITEM(i) ((void *)(uintptr_t)(i))

static bool readable(const weft_doorbell *db, int timeout_ms)
{
    struct pollfd p = { weft_doorbell_fd(db), POLLIN, 0 };
    return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

/* The eventfd's count, taken (what clear would read): the number of
 * write(2)s since the last read. */
static uint64_t take_count(const weft_doorbell *db)
{
    uint64_t v = 0;
    return read(weft_doorbell_fd(db), &v, sizeof v) == (ssize_t)sizeof v ? v : 0;
}

static void create_gives_a_quiet_nonblocking_cloexec_fd(void)
{
    weft_doorbell *db = weft_doorbell_create();
    REQUIRE(db != NULL);
    int fd = weft_doorbell_fd(db);
    CHECK_GE(fd, 0);
    CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK);
    CHECK(!readable(db, 0));
    weft_doorbell_clear(db); /* nothing to clear: no read, no block */
    CHECK(!readable(db, 0));
    weft_doorbell_destroy(db);
    weft_doorbell_destroy(NULL);
}

static void rings_while_the_loop_is_busy_write_nothing(void)
{
    weft_doorbell *db = weft_doorbell_create();
    REQUIRE(db != NULL);
    for (int i = 0; i < 1000; i++)
        weft_doorbell_ring(db);
    CHECK(!readable(db, 0));
    weft_doorbell_prepare(db);
    weft_doorbell_cancel(db);
    weft_doorbell_ring(db); /* after cancel: busy again */
    CHECK(!readable(db, 0));
    weft_doorbell_destroy(db);
}

static void a_burst_while_prepared_is_one_write(void)
{
    weft_doorbell *db = weft_doorbell_create();
    REQUIRE(db != NULL);
    weft_doorbell_prepare(db);
    for (int i = 0; i < 1000; i++)
        weft_doorbell_ring(db);
    CHECK(readable(db, 0));
    CHECK_EQ(take_count(db), 1); /* one write(2) for the whole burst */
    weft_doorbell_destroy(db);
}

static void clear_makes_it_quiet_until_the_next_prepare(void)
{
    weft_doorbell *db = weft_doorbell_create();
    REQUIRE(db != NULL);
    for (int round = 0; round < 5; round++) {
        weft_doorbell_prepare(db);
        weft_doorbell_ring(db);
        weft_doorbell_ring(db);
        CHECK(readable(db, 0));
        weft_doorbell_clear(db);
        CHECK(!readable(db, 0));
        weft_doorbell_ring(db); /* cleared: the loop is busy */
        CHECK(!readable(db, 0));
    }
    weft_doorbell_destroy(db);
}

static void a_ring_before_cancel_wakes_the_next_wait_once(void)
{
    weft_doorbell *db = weft_doorbell_create();
    REQUIRE(db != NULL);
    weft_doorbell_prepare(db);
    weft_doorbell_ring(db);
    weft_doorbell_cancel(db); /* the write stays */
    CHECK(readable(db, 0));
    weft_doorbell_prepare(db);
    weft_doorbell_ring(db); /* the pending write serves this round too */
    weft_doorbell_clear(db);
    CHECK(!readable(db, 0));
    weft_doorbell_prepare(db); /* a new round: rings write again */
    weft_doorbell_ring(db);
    CHECK_EQ(take_count(db), 1);
    weft_doorbell_destroy(db);
}

/* ---- the attachments, through one adapter --------------------------------- */

struct ring_ops {
    const char *name;
    void *(*make)(void);
    int (*attach)(void *q, weft_doorbell *db);
    bool (*push)(void *q, void *item);
    bool (*pop)(void *q, void **item);
    void (*close)(void *q);
    void (*destroy)(void *q);
};

static void *mpmc_make(void)
{
    return weft_mpmc_create(1024);
}
static int mpmc_attach(void *q, weft_doorbell *db)
{
    return weft_mpmc_set_doorbell(q, db);
}
static bool mpmc_push(void *q, void *item)
{
    return weft_mpmc_push(q, item) == 0;
}
static bool mpmc_pop(void *q, void **item)
{
    return weft_mpmc_try_pop(q, item);
}
static void mpmc_close(void *q)
{
    weft_mpmc_close(q);
}
static void mpmc_destroy(void *q)
{
    weft_mpmc_destroy(q);
}
static void *spsc_make(void)
{
    return weft_spsc_create(1024);
}
static int spsc_attach(void *q, weft_doorbell *db)
{
    return weft_spsc_set_doorbell(q, db);
}
static bool spsc_push(void *q, void *item)
{
    return weft_spsc_push(q, item) == 0;
}
static bool spsc_pop(void *q, void **item)
{
    return weft_spsc_try_pop(q, item);
}
static void spsc_close(void *q)
{
    weft_spsc_close(q);
}
static void spsc_destroy(void *q)
{
    weft_spsc_destroy(q);
}
static void *queue_make(void)
{
    return weft_queue_create();
}
static int queue_attach(void *q, weft_doorbell *db)
{
    return weft_queue_set_doorbell(q, db);
}
static bool queue_push(void *q, void *item)
{
    return weft_queue_push(q, item) == 0;
}
static bool queue_pop(void *q, void **item)
{
    return weft_queue_try_pop(q, item);
}
static void queue_close(void *q)
{
    weft_queue_close(q);
}
static void queue_destroy(void *q)
{
    weft_queue_destroy(q);
}

static const struct ring_ops rings[] = {
    { "mpmc", mpmc_make, mpmc_attach, mpmc_push, mpmc_pop, mpmc_close, mpmc_destroy },
    { "spsc", spsc_make, spsc_attach, spsc_push, spsc_pop, spsc_close, spsc_destroy },
    { "queue", queue_make, queue_attach, queue_push, queue_pop, queue_close, queue_destroy },
};

static void attached_pushes_and_close_ring_it(void)
{
    CHECK_EQ_I(weft_mpmc_set_doorbell(NULL, NULL), EINVAL);
    CHECK_EQ_I(weft_spsc_set_doorbell(NULL, NULL), EINVAL);
    CHECK_EQ_I(weft_queue_set_doorbell(NULL, NULL), EINVAL);
    for (size_t k = 0; k < sizeof rings / sizeof rings[0]; k++) {
        const struct ring_ops *r = &rings[k];
        weft_doorbell *db = weft_doorbell_create();
        void *q = r->make();
        REQUIRE(db != NULL && q != NULL);
        CHECK_EQ_I(r->attach(q, db), 0);
        void *item = NULL;
        CHECK(r->push(q, ITEM(1))); /* loop busy: no write */
        CHECK(!readable(db, 0));
        weft_doorbell_prepare(db);
        CHECK(r->push(q, ITEM(2)));
        CHECK(r->push(q, ITEM(3)));
        CHECK(readable(db, 0));
        weft_doorbell_clear(db);
        CHECK(!readable(db, 0));
        for (uintptr_t i = 1; i <= 3; i++)
            CHECK(r->pop(q, &item) && item == ITEM(i));
        weft_doorbell_prepare(db);
        r->close(q); /* the loop learns of the close too */
        CHECK(readable(db, 0));
        weft_doorbell_clear(db);
        r->destroy(q);
        /* detached: pushes leave the doorbell alone */
        q = r->make();
        REQUIRE(q != NULL);
        CHECK_EQ_I(r->attach(q, db), 0);
        CHECK_EQ_I(r->attach(q, NULL), 0);
        weft_doorbell_prepare(db);
        CHECK(r->push(q, ITEM(4)));
        CHECK(!readable(db, 0));
        weft_doorbell_cancel(db);
        r->destroy(q);
        weft_doorbell_destroy(db);
    }
}

/* A doorbell attached while another thread pushes: the pushing thread
 * learns of it only through the ring (the acquire in
 * weft_internal_doorbell_ring_fenced, paired with set_doorbell's release,
 * makes the doorbell's creation visible to it; TSan reports the pushes'
 * reads of it otherwise). */
struct busy_pusher {
    weft_mpmc *q;
    atomic_int stop;
};

static void *push_and_pop(void *arg)
{
    struct busy_pusher *b = arg;
    while (!atomic_load(&b->stop)) {
        void *item;
        if (!weft_mpmc_try_push(b->q, ITEM(1)))
            (void)weft_mpmc_try_pop(b->q, &item); /* keep room */
    }
    return NULL;
}

static void attached_while_pushes_run(void)
{
    static struct busy_pusher b;
    b.q = weft_mpmc_create(64);
    REQUIRE(b.q != NULL);
    atomic_init(&b.stop, 0);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, push_and_pop, &b) == 0);
    weft_doorbell *db = weft_doorbell_create(); /* after the pusher started */
    REQUIRE(db != NULL);
    weft_doorbell_prepare(db);
    CHECK_EQ_I(weft_mpmc_set_doorbell(b.q, db), 0);
    CHECK(readable(db, -1)); /* a push after the attach rang it */
    weft_doorbell_clear(db);
    CHECK_EQ_I(weft_mpmc_set_doorbell(b.q, NULL), 0);
    atomic_store(&b.stop, 1);
    pthread_join(t, NULL); /* no push may still see db */
    weft_mpmc_destroy(b.q);
    weft_doorbell_destroy(db);
}

/* ---- a loop against producer threads ------------------------------------- */

enum { PRODUCERS = 4, PER_PRODUCER = 20000 };

struct loop_run {
    const struct ring_ops *r;
    void *q;
    atomic_int producers_left;
    atomic_int loop_slept; /* the loop reached its poll once */
};

static void *produce(void *arg)
{
    struct loop_run *run = arg;
    /* no push before the loop has gone to sleep once: so that the wake-up
     * path runs in every run, whatever the scheduling */
    while (!atomic_load(&run->loop_slept))
        sched_yield();
    for (uintptr_t i = 1; i <= PER_PRODUCER; i++) {
        if (!run->r->push(run->q, ITEM(i)))
            abort();
        if (i % 64 == 0)
            sched_yield(); /* bursts, so that the loop goes to sleep */
    }
    if (atomic_fetch_sub(&run->producers_left, 1) == 1)
        run->r->close(run->q);
    return NULL;
}

/* The header's loop: drain, prepare, look again, cancel or wait, clear.
 * Counts the items and the waits; every item arrives and the loop ends
 * (a lost wake-up would leave it in poll: the test's watchdog). */
static void run_loop(const struct ring_ops *r, int producers, uint64_t *waits)
{
    struct loop_run run = { r, r->make(), 0, 0 };
    weft_doorbell *db = weft_doorbell_create();
    REQUIRE(run.q != NULL && db != NULL);
    REQUIRE(r->attach(run.q, db) == 0);
    atomic_init(&run.producers_left, producers);
    atomic_init(&run.loop_slept, 0);
    pthread_t t[PRODUCERS];
    for (int i = 0; i < producers; i++)
        REQUIRE(pthread_create(&t[i], NULL, produce, &run) == 0);
    uint64_t sum = 0, n = 0;
    *waits = 0;
    for (;;) {
        void *item;
        while (r->pop(run.q, &item)) {
            sum += (uintptr_t)item;
            n++;
        }
        weft_doorbell_prepare(db);
        bool closed = atomic_load(&run.producers_left) == 0;
        if (r->pop(run.q, &item)) {
            weft_doorbell_cancel(db);
            sum += (uintptr_t)item;
            n++;
            continue;
        }
        if (closed) { /* closed before the look: nothing more comes */
            weft_doorbell_cancel(db);
            break;
        }
        struct pollfd p = { weft_doorbell_fd(db), POLLIN, 0 };
        atomic_store(&run.loop_slept, 1);
        REQUIRE(poll(&p, 1, -1) == 1);
        (*waits)++;
        weft_doorbell_clear(db);
    }
    for (int i = 0; i < producers; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ(n, (uint64_t)producers * PER_PRODUCER);
    CHECK_EQ(sum, (uint64_t)producers * PER_PRODUCER * (PER_PRODUCER + 1) / 2);
    /* a ring after the loop's last look may have written the fd (the
     * loop cancelled that round); with every producer joined, one clear
     * reads whatever is left: never more than one pending write */
    weft_doorbell_clear(db);
    CHECK(!readable(db, 0));
    r->destroy(run.q);
    weft_doorbell_destroy(db);
}

static void a_loop_gets_every_item_from_many_producers(void)
{
    for (size_t k = 0; k < sizeof rings / sizeof rings[0]; k++) {
        uint64_t waits;
        int producers = k == 1 ? 1 : PRODUCERS; /* spsc: one producer */
        run_loop(&rings[k], producers, &waits);
        CHECK_GT(waits, 0); /* the loop slept on the fd: a push woke it */
    }
}

static void a_loop_without_membarrier_gets_every_item(void)
{
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        if (refuse_membarrier() != 0)
            _exit(77);
        uint64_t waits;
        run_loop(&rings[0], PRODUCERS, &waits);
        run_loop(&rings[2], PRODUCERS, &waits);
        _exit(check_state.failures == 0 ? 0 : 1);
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 77);
}

/* ---- fence modes --------------------------------------------------------------- */

/* The header's loop on an mpmc ring, in two steps.  drain: take what is
 * there, adding it to *sum; false once the ring is closed and drained. */
static bool drain(weft_mpmc *q, uint64_t *sum)
{
    void *item;
    int rc;
    while ((rc = weft_mpmc_pop_timed(q, &item, 0)) == 0)
        *sum += (uintptr_t)item;
    return rc != EPIPE;
}

/* The look after prepare: a pop (not a size), or the close.  true when it
 * cancelled the round (work after all, or closed: drain again). */
static bool look_or_cancel(weft_mpmc *q, weft_doorbell *db, uint64_t *sum)
{
    void *item;
    bool got = weft_mpmc_try_pop(q, &item);
    if (got)
        *sum += (uintptr_t)item;
    if (!got && !weft_mpmc_closed(q))
        return false;
    weft_doorbell_cancel(db);
    return true;
}

enum { MODE_ITEMS = 6000, MODE_PHASE = 1000 };

static void *produce_in_phases(void *q)
{
    for (uintptr_t i = 1; i <= MODE_ITEMS; i++) {
        if (weft_mpmc_push(q, ITEM(i)) != 0)
            abort();
        if (i % 8 == 0)
            sched_yield(); /* the loop sleeps often: prepares close together */
        if (i % MODE_PHASE == 0)
            usleep(5000); /* and then once after a long gap */
    }
    weft_mpmc_close(q);
    return NULL;
}

/* A loop whose prepares come close together switches its doorbell to the
 * symmetric mode (prepare fences, rings fence; doorbell.c "Modes"), and a
 * prepare after a long gap switches it back; the items pushed across the
 * switches all arrive (a lost wake-up leaves the loop in poll: the
 * watchdog).  Without membarrier (the TSan build, a kernel without it)
 * there is one mode, and only the items are checked. */
static void the_loop_switches_fence_modes_and_misses_nothing(void)
{
    weft_mpmc *q = weft_mpmc_create(64);
    weft_doorbell *db = weft_doorbell_create();
    REQUIRE(q != NULL && db != NULL && weft_mpmc_set_doorbell(q, db) == 0);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, produce_in_phases, q) == 0);
    uint64_t sum = 0, entered = 0, left = 0;
    bool sym = false;
    while (drain(q, &sum)) {
        weft_doorbell_prepare(db);
        entered += !sym && db->loop_sym;
        left += sym && !db->loop_sym;
        sym = db->loop_sym;
        if (look_or_cancel(q, db, &sum))
            continue;
        REQUIRE(readable(db, -1));
        weft_doorbell_clear(db);
    }
    pthread_join(t, NULL);
    CHECK_EQ(sum, (uint64_t)MODE_ITEMS * (MODE_ITEMS + 1) / 2);
    if (db->asym && !db->loop_fenced) {
        /* one entry per phase of quick prepares, one exit per long gap
         * (six of each when every phase has its quick prepares); at least
         * one of each unless the VM stalls the loop through every phase */
        CHECK_GE(entered, 1);
        CHECK_GE(left, 1);
    } else {
        CHECK_EQ(entered, 0);
    }
    weft_mpmc_destroy(q);
    weft_doorbell_destroy(db);
}

/* ---- processes ------------------------------------------------------------- */

static void a_forked_child_wakes_the_parents_loop(void)
{
    enum { N = 5000 };
    size_t bytes = weft_mpmc_footprint(64);
    void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    REQUIRE(mem != MAP_FAILED);
    weft_mpmc *q = weft_mpmc_init(mem, 64, WEFT_SHARED);
    weft_doorbell *db = weft_doorbell_create();
    REQUIRE(q != NULL && db != NULL);
    REQUIRE(weft_mpmc_set_doorbell(q, db) == 0);
    int go[2]; /* the parent's first sleep, told to the child */
    REQUIRE(pipe(go) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        char c;
        if (read(go[0], &c, 1) != 1) /* no push before the parent sleeps */
            _exit(2);
        for (uintptr_t i = 1; i <= N; i++) {
            if (weft_mpmc_push(q, ITEM(i)) != 0)
                _exit(1);
            if (i % 100 == 0)
                usleep(100); /* let the parent's loop sleep */
        }
        weft_mpmc_close(q);
        _exit(0);
    }
    uint64_t sum = 0, waits = 0;
    while (drain(q, &sum)) {
        weft_doorbell_prepare(db);
        if (look_or_cancel(q, db, &sum))
            continue;
        if (waits == 0)
            REQUIRE(write(go[1], "g", 1) == 1);
        REQUIRE(readable(db, -1));
        waits++;
        weft_doorbell_clear(db);
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_EQ(sum, (uint64_t)N * (N + 1) / 2);
    CHECK_GT(waits, 0);
    close(go[0]);
    close(go[1]);
    weft_doorbell_destroy(db);
    munmap(mem, bytes);
}

CHECK_MAIN(CASE(create_gives_a_quiet_nonblocking_cloexec_fd),
           CASE(rings_while_the_loop_is_busy_write_nothing),
           CASE(a_burst_while_prepared_is_one_write),
           CASE(clear_makes_it_quiet_until_the_next_prepare),
           CASE(a_ring_before_cancel_wakes_the_next_wait_once),
           CASE(attached_pushes_and_close_ring_it), CASE(attached_while_pushes_run),
           CASE(a_loop_gets_every_item_from_many_producers),
           CASE(a_loop_without_membarrier_gets_every_item),
           CASE(the_loop_switches_fence_modes_and_misses_nothing),
           CASE(a_forked_child_wakes_the_parents_loop))
