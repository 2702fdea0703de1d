/* Unit tests for weft/mpmc.h. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include <weft/mpmc.h>

#define CHECK_TIMEOUT_S 120
#include "check.h"

static void *ptr(uintptr_t v)
{
    return (void *)v;
}

/* ---- single-threaded behaviour ------------------------------------------ */

static void new_ring_is_empty_and_open(void)
{
    weft_mpmc *q = weft_mpmc_create(4);
    REQUIRE(q != NULL);
    void *item = ptr(7);
    CHECK_EQ(weft_mpmc_capacity(q), 4);
    CHECK_EQ(weft_mpmc_size(q), 0);
    CHECK(!weft_mpmc_closed(q));
    CHECK(!weft_mpmc_try_pop(q, &item));
    CHECK_PTR_EQ(item, ptr(7)); /* untouched on failure */
    weft_mpmc_destroy(q);
}

static void capacity_is_rounded_up_to_a_power_of_two(void)
{
    static const size_t asked[] = { 1, 2, 3, 5, 7, 8, 9, 1000, 1024, 1025 };
    static const size_t got[] = { 1, 2, 4, 8, 8, 8, 16, 1024, 1024, 2048 };
    for (size_t i = 0; i < sizeof asked / sizeof asked[0]; i++) {
        weft_mpmc *q = weft_mpmc_create(asked[i]);
        REQUIRE(q != NULL);
        CHECK_EQ(weft_mpmc_capacity(q), got[i]);
        CHECK_EQ(weft_mpmc_footprint(asked[i]), weft_mpmc_footprint(got[i]));
        weft_mpmc_destroy(q);
    }
}

static void capacity_one_holds_exactly_one_item(void)
{
    weft_mpmc *q = weft_mpmc_create(1);
    REQUIRE(q != NULL);
    void *item = NULL;
    for (uintptr_t i = 1; i <= 100; i++) {
        CHECK(weft_mpmc_try_push(q, ptr(i)));
        CHECK(!weft_mpmc_try_push(q, ptr(i + 1000)));
        CHECK_EQ(weft_mpmc_size(q), 1);
        CHECK(weft_mpmc_try_pop(q, &item));
        CHECK_PTR_EQ(item, ptr(i));
        CHECK(!weft_mpmc_try_pop(q, &item));
    }
    weft_mpmc_destroy(q);
}

static void full_ring_refuses_try_push(void)
{
    weft_mpmc *q = weft_mpmc_create(8);
    REQUIRE(q != NULL);
    for (uintptr_t i = 0; i < 8; i++)
        CHECK(weft_mpmc_try_push(q, ptr(i)));
    CHECK_EQ(weft_mpmc_size(q), 8);
    CHECK(!weft_mpmc_try_push(q, ptr(99)));
    CHECK_EQ(weft_mpmc_size(q), 8);
    void *item;
    CHECK(weft_mpmc_try_pop(q, &item));
    CHECK(weft_mpmc_try_push(q, ptr(8))); /* one slot freed, one push fits */
    CHECK(!weft_mpmc_try_push(q, ptr(99)));
    weft_mpmc_destroy(q);
}

static void items_come_out_in_push_order(void)
{
    weft_mpmc *q = weft_mpmc_create(16);
    REQUIRE(q != NULL);
    for (uintptr_t i = 0; i < 16; i++)
        CHECK(weft_mpmc_try_push(q, ptr(i * 3)));
    for (uintptr_t i = 0; i < 16; i++) {
        void *item = NULL;
        CHECK(weft_mpmc_try_pop(q, &item));
        CHECK_PTR_EQ(item, ptr(i * 3));
    }
    CHECK_EQ(weft_mpmc_size(q), 0);
    weft_mpmc_destroy(q);
}

static void null_is_an_ordinary_item(void)
{
    weft_mpmc *q = weft_mpmc_create(4);
    REQUIRE(q != NULL);
    void *item = ptr(1);
    CHECK(weft_mpmc_try_push(q, NULL));
    CHECK_ERRNO(weft_mpmc_push(q, NULL), 0);
    CHECK_EQ(weft_mpmc_size(q), 2);
    CHECK(weft_mpmc_try_pop(q, &item));
    CHECK_PTR_EQ(item, NULL);
    item = ptr(1);
    CHECK_ERRNO(weft_mpmc_pop(q, &item), 0);
    CHECK_PTR_EQ(item, NULL);
    CHECK_EQ(weft_mpmc_size(q), 0);
    weft_mpmc_destroy(q);
}

static void wrap_around_over_many_laps_keeps_order(void)
{
    weft_mpmc *q = weft_mpmc_create(4);
    REQUIRE(q != NULL);
    uintptr_t next_in = 0, next_out = 0;
    unsigned bad = 0;
    /* fill levels 1..4 in turn, so head and tail meet every slot on every
     * lap in every relative position */
    for (unsigned round = 0; round < 20000; round++) {
        unsigned fill = 1 + round % 4;
        for (unsigned k = 0; k < fill; k++)
            bad += !weft_mpmc_try_push(q, ptr(next_in++));
        for (unsigned k = 0; k < fill; k++) {
            void *item = NULL;
            bad += !weft_mpmc_try_pop(q, &item);
            bad += item != ptr(next_out++);
        }
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(next_out, 50000);
    CHECK_EQ(weft_mpmc_size(q), 0);
    weft_mpmc_destroy(q);
}

static void size_counts_pushed_items_not_yet_popped(void)
{
    weft_mpmc *q = weft_mpmc_create(8);
    REQUIRE(q != NULL);
    void *item;
    CHECK(weft_mpmc_try_push(q, ptr(1)));
    CHECK(weft_mpmc_try_push(q, ptr(2)));
    CHECK(weft_mpmc_try_push(q, ptr(3)));
    CHECK_EQ(weft_mpmc_size(q), 3);
    CHECK(weft_mpmc_try_pop(q, &item));
    CHECK_EQ(weft_mpmc_size(q), 2);
    weft_mpmc_close(q);
    CHECK_EQ(weft_mpmc_size(q), 2); /* the closed mark is not counted */
    weft_mpmc_destroy(q);
}

/* ---- batches ---------------------------------------------------------------- */

static void push_many_pushes_only_the_prefix_that_fits(void)
{
    weft_mpmc *q = weft_mpmc_create(8);
    REQUIRE(q != NULL);
    void *in[10], *out[10];
    for (uintptr_t i = 0; i < 10; i++)
        in[i] = ptr(100 + i);
    for (uintptr_t i = 0; i < 5; i++)
        CHECK(weft_mpmc_try_push(q, ptr(i)));
    CHECK_EQ(weft_mpmc_try_push_many(q, in, 10), 3);
    CHECK_EQ(weft_mpmc_try_push_many(q, in, 10), 0);
    CHECK_EQ(weft_mpmc_try_pop_many(q, out, 10), 8);
    for (uintptr_t i = 0; i < 5; i++)
        CHECK_PTR_EQ(out[i], ptr(i));
    for (uintptr_t i = 5; i < 8; i++)
        CHECK_PTR_EQ(out[i], ptr(100 + i - 5));
    weft_mpmc_destroy(q);
}

static void pop_many_takes_what_is_there(void)
{
    weft_mpmc *q = weft_mpmc_create(8);
    REQUIRE(q != NULL);
    void *out[8] = { 0 };
    CHECK_EQ(weft_mpmc_try_pop_many(q, out, 8), 0);
    CHECK(weft_mpmc_try_push(q, ptr(1)));
    CHECK(weft_mpmc_try_push(q, ptr(2)));
    CHECK_EQ(weft_mpmc_try_pop_many(q, out, 1), 1);
    CHECK_PTR_EQ(out[0], ptr(1));
    CHECK_EQ(weft_mpmc_try_pop_many(q, out, 8), 1);
    CHECK_PTR_EQ(out[0], ptr(2));
    CHECK_EQ(weft_mpmc_size(q), 0);
    weft_mpmc_destroy(q);
}

static void batches_of_zero_do_nothing(void)
{
    weft_mpmc *q = weft_mpmc_create(2);
    REQUIRE(q != NULL);
    CHECK_EQ(weft_mpmc_try_push_many(q, NULL, 0), 0);
    CHECK_EQ(weft_mpmc_try_pop_many(q, NULL, 0), 0);
    CHECK_EQ(weft_mpmc_size(q), 0);
    weft_mpmc_destroy(q);
}

static void batches_crossing_the_end_of_the_array_keep_order(void)
{
    weft_mpmc *q = weft_mpmc_create(8);
    REQUIRE(q != NULL);
    void *in[8], *out[8];
    uintptr_t next_in = 0, next_out = 0;
    unsigned bad = 0;
    /* batch sizes 1..8 against capacity 8: the batches start at every
     * offset and many of them wrap past the last slot */
    for (unsigned round = 0; round < 5000; round++) {
        size_t n = 1 + round % 8;
        for (size_t i = 0; i < n; i++)
            in[i] = ptr(next_in + i);
        size_t pushed = weft_mpmc_try_push_many(q, in, n);
        bad += pushed != n;
        next_in += pushed;
        size_t popped = weft_mpmc_try_pop_many(q, out, 8);
        bad += popped != n;
        for (size_t i = 0; i < popped; i++)
            bad += out[i] != ptr(next_out++);
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(next_out, next_in);
    weft_mpmc_destroy(q);
}

static void batches_and_single_operations_mix(void)
{
    weft_mpmc *q = weft_mpmc_create(4);
    REQUIRE(q != NULL);
    void *in[3] = { ptr(2), ptr(3), ptr(4) }, *out[4], *item;
    CHECK(weft_mpmc_try_push(q, ptr(1)));
    CHECK_EQ(weft_mpmc_try_push_many(q, in, 3), 3);
    CHECK(weft_mpmc_try_pop(q, &item));
    CHECK_PTR_EQ(item, ptr(1));
    CHECK(weft_mpmc_try_push(q, ptr(5)));
    CHECK_EQ(weft_mpmc_try_pop_many(q, out, 4), 4);
    for (uintptr_t i = 0; i < 4; i++)
        CHECK_PTR_EQ(out[i], ptr(i + 2));
    weft_mpmc_destroy(q);
}

/* ---- bad arguments and in-place init ------------------------------------------ */

static void create_rejects_zero_and_huge_capacities(void)
{
    errno = 0;
    CHECK(weft_mpmc_create(0) == NULL);
    CHECK_ERRNO(errno, EINVAL);
    errno = 0;
    CHECK(weft_mpmc_create(SIZE_MAX) == NULL);
    CHECK_ERRNO(errno, EINVAL);
    errno = 0;
    CHECK(weft_mpmc_create(SIZE_MAX / 2 + 2) == NULL);
    CHECK_ERRNO(errno, EINVAL);
}

static void footprint_is_zero_when_invalid(void)
{
    CHECK_EQ(weft_mpmc_footprint(0), 0);
    CHECK_EQ(weft_mpmc_footprint(SIZE_MAX), 0);
    CHECK_EQ(weft_mpmc_footprint(SIZE_MAX / 4), 0);
    CHECK_GT(weft_mpmc_footprint(1), 0);
    CHECK_LT(weft_mpmc_footprint(1), weft_mpmc_footprint(2));
    CHECK_LT(weft_mpmc_footprint(1024), weft_mpmc_footprint(1025));
}

static void init_rejects_bad_arguments(void)
{
    size_t bytes = weft_mpmc_footprint(8);
    unsigned char *mem = aligned_alloc(WEFT_MPMC_ALIGN, bytes + WEFT_MPMC_ALIGN);
    REQUIRE(mem != NULL);
    errno = 0;
    CHECK(weft_mpmc_init(NULL, 8, 0) == NULL);
    CHECK_ERRNO(errno, EINVAL);
    errno = 0;
    CHECK(weft_mpmc_init(mem + 8, 8, 0) == NULL);
    CHECK_ERRNO(errno, EINVAL);
    errno = 0;
    CHECK(weft_mpmc_init(mem, 0, 0) == NULL);
    CHECK_ERRNO(errno, EINVAL);
    errno = 0;
    CHECK(weft_mpmc_init(mem, SIZE_MAX, 0) == NULL);
    CHECK_ERRNO(errno, EINVAL);
    errno = 0;
    CHECK(weft_mpmc_init(mem, 8, 2u) == NULL);
    CHECK_ERRNO(errno, EINVAL);
    errno = 0;
    CHECK(weft_mpmc_init(mem, 8, WEFT_SHARED | 0x100u) == NULL);
    CHECK_ERRNO(errno, EINVAL);
    free(mem);
}

static void init_builds_a_working_ring_in_given_memory(void)
{
    size_t bytes = weft_mpmc_footprint(5);
    void *mem = aligned_alloc(WEFT_MPMC_ALIGN,
                              (bytes + WEFT_MPMC_ALIGN - 1) / WEFT_MPMC_ALIGN * WEFT_MPMC_ALIGN);
    REQUIRE(mem != NULL);
    weft_mpmc *q = weft_mpmc_init(mem, 5, 0);
    REQUIRE(q != NULL);
    CHECK_PTR_EQ(q, mem);
    CHECK_EQ(weft_mpmc_capacity(q), 8);
    for (uintptr_t i = 0; i < 8; i++)
        CHECK(weft_mpmc_try_push(q, ptr(i)));
    CHECK(!weft_mpmc_try_push(q, ptr(8)));
    void *item;
    CHECK(weft_mpmc_try_pop(q, &item));
    CHECK_PTR_EQ(item, ptr(0));
    free(mem); /* an in-place ring is released with its memory */
}

static void destroy_of_null_does_nothing(void)
{
    weft_mpmc_destroy(NULL);
    CHECK(true); /* reaching this line is the test */
}

/* ---- close ----------------------------------------------------------------- */

static void push_after_close_fails(void)
{
    weft_mpmc *q = weft_mpmc_create(4);
    REQUIRE(q != NULL);
    void *in[2] = { ptr(1), ptr(2) };
    weft_mpmc_close(q);
    CHECK(weft_mpmc_closed(q));
    CHECK(!weft_mpmc_try_push(q, ptr(1)));
    CHECK_EQ(weft_mpmc_try_push_many(q, in, 2), 0);
    CHECK_ERRNO(weft_mpmc_push(q, ptr(1)), EPIPE);
    CHECK_ERRNO(weft_mpmc_push_timed(q, ptr(1), 0), EPIPE);
    CHECK_ERRNO(weft_mpmc_push_timed(q, ptr(1), 1000000), EPIPE);
    CHECK_EQ(weft_mpmc_size(q), 0);
    weft_mpmc_destroy(q);
}

static void pop_drains_a_closed_ring_then_fails_with_epipe(void)
{
    weft_mpmc *q = weft_mpmc_create(4);
    REQUIRE(q != NULL);
    void *item = NULL, *out[2];
    for (uintptr_t i = 1; i <= 4; i++)
        CHECK(weft_mpmc_try_push(q, ptr(i)));
    weft_mpmc_close(q);
    weft_mpmc_close(q); /* twice is harmless */
    CHECK(weft_mpmc_closed(q));
    CHECK_ERRNO(weft_mpmc_pop(q, &item), 0);
    CHECK_PTR_EQ(item, ptr(1));
    CHECK(weft_mpmc_try_pop(q, &item));
    CHECK_PTR_EQ(item, ptr(2));
    CHECK_ERRNO(weft_mpmc_pop_timed(q, &item, 1000000), 0);
    CHECK_PTR_EQ(item, ptr(3));
    CHECK_EQ(weft_mpmc_try_pop_many(q, out, 2), 1);
    CHECK_PTR_EQ(out[0], ptr(4));
    item = ptr(77);
    CHECK_ERRNO(weft_mpmc_pop(q, &item), EPIPE);
    CHECK_ERRNO(weft_mpmc_pop_timed(q, &item, 0), EPIPE);
    CHECK_ERRNO(weft_mpmc_pop_timed(q, &item, 1000000), EPIPE);
    CHECK(!weft_mpmc_try_pop(q, &item));
    CHECK_PTR_EQ(item, ptr(77));
    weft_mpmc_destroy(q);
}

/* ---- timed waits ---------------------------------------------------------------- */

static void pop_timed_times_out_on_an_empty_ring(void)
{
    weft_mpmc *q = weft_mpmc_create(4);
    REQUIRE(q != NULL);
    void *item = ptr(5);
    CHECK_ERRNO(weft_mpmc_pop_timed(q, &item, 0), ETIMEDOUT);
    uint64_t t0 = check_now_ns();
    CHECK_ERRNO(weft_mpmc_pop_timed(q, &item, 20 * 1000000u), ETIMEDOUT);
    CHECK_GE(check_now_ns() - t0, 20 * 1000000u); /* the timeout is a minimum */
    CHECK_PTR_EQ(item, ptr(5));
    weft_mpmc_destroy(q);
}

static void push_timed_times_out_on_a_full_ring(void)
{
    weft_mpmc *q = weft_mpmc_create(2);
    REQUIRE(q != NULL);
    CHECK(weft_mpmc_try_push(q, ptr(1)));
    CHECK(weft_mpmc_try_push(q, ptr(2)));
    CHECK_ERRNO(weft_mpmc_push_timed(q, ptr(3), 0), ETIMEDOUT);
    uint64_t t0 = check_now_ns();
    CHECK_ERRNO(weft_mpmc_push_timed(q, ptr(3), 20 * 1000000u), ETIMEDOUT);
    CHECK_GE(check_now_ns() - t0, 20 * 1000000u);
    CHECK_EQ(weft_mpmc_size(q), 2);
    weft_mpmc_destroy(q);
}

struct delayed {
    weft_mpmc *q;
    unsigned delay_ms;
    void *item;
    int rc;
};

static void *push_later(void *arg)
{
    struct delayed *d = arg;
    check_sleep_ms(d->delay_ms);
    d->rc = weft_mpmc_push(d->q, d->item);
    return NULL;
}

static void *pop_later(void *arg)
{
    struct delayed *d = arg;
    check_sleep_ms(d->delay_ms);
    d->rc = weft_mpmc_pop(d->q, &d->item);
    return NULL;
}

static void pop_timed_returns_an_item_pushed_while_waiting(void)
{
    weft_mpmc *q = weft_mpmc_create(4);
    REQUIRE(q != NULL);
    struct delayed d = { q, 30, ptr(42), -1 };
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, push_later, &d) == 0);
    void *item = NULL;
    CHECK_ERRNO(weft_mpmc_pop_timed(q, &item, 30ull * 1000000000u), 0);
    CHECK_PTR_EQ(item, ptr(42));
    pthread_join(t, NULL);
    CHECK_ERRNO(d.rc, 0);
    weft_mpmc_destroy(q);
}

static void push_timed_succeeds_when_a_slot_is_freed_while_waiting(void)
{
    weft_mpmc *q = weft_mpmc_create(1);
    REQUIRE(q != NULL);
    CHECK(weft_mpmc_try_push(q, ptr(1)));
    struct delayed d = { q, 30, NULL, -1 };
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, pop_later, &d) == 0);
    CHECK_ERRNO(weft_mpmc_push_timed(q, ptr(2), 30ull * 1000000000u), 0);
    pthread_join(t, NULL);
    CHECK_ERRNO(d.rc, 0);
    CHECK_PTR_EQ(d.item, ptr(1));
    void *item = NULL;
    CHECK(weft_mpmc_try_pop(q, &item));
    CHECK_PTR_EQ(item, ptr(2));
    weft_mpmc_destroy(q);
}

static void blocking_pop_waits_for_a_push(void)
{
    weft_mpmc *q = weft_mpmc_create(4);
    REQUIRE(q != NULL);
    struct delayed d = { q, 30, ptr(9), -1 };
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, push_later, &d) == 0);
    void *item = NULL;
    CHECK_ERRNO(weft_mpmc_pop(q, &item), 0);
    CHECK_PTR_EQ(item, ptr(9));
    pthread_join(t, NULL);
    weft_mpmc_destroy(q);
}

static void blocking_push_waits_for_a_pop(void)
{
    weft_mpmc *q = weft_mpmc_create(2);
    REQUIRE(q != NULL);
    CHECK(weft_mpmc_try_push(q, ptr(1)));
    CHECK(weft_mpmc_try_push(q, ptr(2)));
    struct delayed d = { q, 30, NULL, -1 };
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, pop_later, &d) == 0);
    CHECK_ERRNO(weft_mpmc_push(q, ptr(3)), 0);
    pthread_join(t, NULL);
    CHECK_PTR_EQ(d.item, ptr(1));
    CHECK_EQ(weft_mpmc_size(q), 2);
    weft_mpmc_destroy(q);
}

/* ---- close while threads are parked ------------------------------------------ */

enum { PARKERS = 6 }; /* three times the cores of the development machine */

struct parked {
    weft_mpmc *q;
    atomic_int started;
    atomic_int results[PARKERS];
    atomic_uint popped;
};

struct parked_arg {
    struct parked *p;
    int index;
};

static void *park_in_pop(void *arg)
{
    struct parked_arg *a = arg;
    void *item;
    int rc;
    atomic_fetch_add_explicit(&a->p->started, 1, memory_order_relaxed);
    while ((rc = weft_mpmc_pop(a->p->q, &item)) == 0)
        atomic_fetch_add_explicit(&a->p->popped, 1, memory_order_relaxed);
    atomic_store_explicit(&a->p->results[a->index], rc, memory_order_relaxed);
    return NULL;
}

static void *park_in_push(void *arg)
{
    struct parked_arg *a = arg;
    atomic_fetch_add_explicit(&a->p->started, 1, memory_order_relaxed);
    int rc = weft_mpmc_push(a->p->q, ptr((uintptr_t)a->index));
    atomic_store_explicit(&a->p->results[a->index], rc, memory_order_relaxed);
    return NULL;
}

static void run_parked(struct parked *p, void *(*fn)(void *))
{
    pthread_t t[PARKERS];
    struct parked_arg a[PARKERS];
    atomic_init(&p->started, 0);
    atomic_init(&p->popped, 0);
    for (int i = 0; i < PARKERS; i++) {
        atomic_init(&p->results[i], -1);
        a[i].p = p;
        a[i].index = i;
        REQUIRE(pthread_create(&t[i], NULL, fn, &a[i]) == 0);
    }
    while (atomic_load(&p->started) < PARKERS)
        sched_yield();
    check_sleep_ms(50); /* let them park; correctness does not depend on it */
    weft_mpmc_close(p->q);
    for (int i = 0; i < PARKERS; i++)
        pthread_join(t[i], NULL);
}

static void close_wakes_consumers_parked_on_an_empty_ring(void)
{
    struct parked p;
    p.q = weft_mpmc_create(4);
    REQUIRE(p.q != NULL);
    run_parked(&p, park_in_pop);
    for (int i = 0; i < PARKERS; i++)
        CHECK_ERRNO(atomic_load(&p.results[i]), EPIPE);
    CHECK_EQ(atomic_load(&p.popped), 0);
    weft_mpmc_destroy(p.q);
}

static void close_wakes_producers_parked_on_a_full_ring(void)
{
    struct parked p;
    p.q = weft_mpmc_create(2);
    REQUIRE(p.q != NULL);
    CHECK(weft_mpmc_try_push(p.q, ptr(100)));
    CHECK(weft_mpmc_try_push(p.q, ptr(101)));
    run_parked(&p, park_in_push);
    for (int i = 0; i < PARKERS; i++)
        CHECK_ERRNO(atomic_load(&p.results[i]), EPIPE);
    /* the two items pushed before close are still there, in order */
    void *item = NULL;
    CHECK_ERRNO(weft_mpmc_pop(p.q, &item), 0);
    CHECK_PTR_EQ(item, ptr(100));
    CHECK_ERRNO(weft_mpmc_pop(p.q, &item), 0);
    CHECK_PTR_EQ(item, ptr(101));
    CHECK_ERRNO(weft_mpmc_pop(p.q, &item), EPIPE);
    weft_mpmc_destroy(p.q);
}

/* Producers race with close: every push that reported success must be
 * popped, nothing else. */
struct close_race {
    weft_mpmc *q;
    atomic_ulong pushed;
    atomic_ulong popped;
    atomic_int go;
};

static void *push_until_closed(void *arg)
{
    struct close_race *r = arg;
    unsigned long n = 0;
    while (!atomic_load_explicit(&r->go, memory_order_acquire))
        sched_yield();
    for (unsigned i = 0;; i++) {
        int rc;
        if (i & 1) {
            rc = weft_mpmc_push(r->q, ptr(i));
        } else if (weft_mpmc_try_push(r->q, ptr(i))) {
            rc = 0;
        } else if (weft_mpmc_closed(r->q)) {
            rc = EPIPE;
        } else {
            sched_yield();
            rc = -1;
        }
        if (rc == EPIPE)
            break;
        if (rc == 0)
            n++;
    }
    atomic_fetch_add(&r->pushed, n);
    return NULL;
}

static void *pop_until_epipe(void *arg)
{
    struct close_race *r = arg;
    unsigned long n = 0;
    void *item;
    while (weft_mpmc_pop(r->q, &item) == 0)
        n++;
    atomic_fetch_add(&r->popped, n);
    return NULL;
}

static void every_push_that_succeeded_before_close_is_popped(void)
{
    enum { P = 4, C = 4 };
    for (int round = 0; round < 5; round++) {
        struct close_race r;
        pthread_t tp[P], tc[C];
        r.q = weft_mpmc_create(8);
        REQUIRE(r.q != NULL);
        atomic_init(&r.pushed, 0);
        atomic_init(&r.popped, 0);
        atomic_init(&r.go, 0);
        for (int i = 0; i < P; i++)
            REQUIRE(pthread_create(&tp[i], NULL, push_until_closed, &r) == 0);
        for (int i = 0; i < C; i++)
            REQUIRE(pthread_create(&tc[i], NULL, pop_until_epipe, &r) == 0);
        atomic_store_explicit(&r.go, 1, memory_order_release);
        check_sleep_ms(5 + 5 * round);
        weft_mpmc_close(r.q);
        for (int i = 0; i < P; i++)
            pthread_join(tp[i], NULL);
        for (int i = 0; i < C; i++)
            pthread_join(tc[i], NULL);
        CHECK_EQ(atomic_load(&r.popped), atomic_load(&r.pushed));
        CHECK_EQ(weft_mpmc_size(r.q), 0);
        weft_mpmc_destroy(r.q);
    }
}

/* ---- many producers and consumers ------------------------------------------------ */

enum mode { MODE_TRY, MODE_BLOCKING, MODE_TIMED, MODE_BATCH, MODE_MIXED };
enum { MAX_THREADS = 8 };

struct mt {
    weft_mpmc *q;
    enum mode mode;
    unsigned producers, consumers;
    unsigned long per_producer;
    atomic_uchar *seen; /* [producer * per_producer + index]: times popped */
    atomic_ulong order_errors;
    atomic_ulong foreign; /* items that were never pushed */
    atomic_ulong popped;
};

struct mt_arg {
    struct mt *mt;
    unsigned id;
};

/* item = producer << 32 | (index + 1): never 0, so a NULL-filled slot shows */
static uintptr_t encode(unsigned producer, unsigned long index)
{
    return ((uintptr_t)producer << 32) | (uintptr_t)(index + 1);
}

static void *mt_producer(void *arg)
{
    struct mt_arg *a = arg;
    struct mt *mt = a->mt;
    enum mode mode = mt->mode;
    unsigned long i = 0;
    void *batch[7];
    while (i < mt->per_producer) {
        enum mode m = mode == MODE_MIXED ? (enum mode)(i % 4) : mode;
        uintptr_t item = encode(a->id, i);
        switch (m) {
        case MODE_TRY:
            if (weft_mpmc_try_push(mt->q, (void *)item))
                i++;
            else
                sched_yield();
            break;
        case MODE_BLOCKING:
            if (weft_mpmc_push(mt->q, (void *)item) == 0)
                i++;
            break;
        case MODE_TIMED:
            if (weft_mpmc_push_timed(mt->q, (void *)item, 1000000) == 0)
                i++;
            break;
        default: {
            size_t n = 1 + (i / 3 + a->id) % 7;
            if (n > mt->per_producer - i)
                n = mt->per_producer - i;
            for (size_t k = 0; k < n; k++)
                batch[k] = (void *)encode(a->id, i + k);
            size_t got = weft_mpmc_try_push_many(mt->q, batch, n);
            i += got;
            if (got == 0)
                sched_yield();
            break;
        }
        }
    }
    return NULL;
}

static void mt_take(struct mt *mt, void *item, unsigned long *last)
{
    uintptr_t v = (uintptr_t)item;
    unsigned p = (unsigned)(v >> 32);
    unsigned long idx = (unsigned long)(v & 0xffffffffu);
    if (p >= mt->producers || idx == 0 || idx > mt->per_producer) {
        atomic_fetch_add_explicit(&mt->foreign, 1, memory_order_relaxed);
        return;
    }
    if (idx <= last[p]) /* one producer's items must come in push order */
        atomic_fetch_add_explicit(&mt->order_errors, 1, memory_order_relaxed);
    last[p] = idx;
    atomic_fetch_add_explicit(&mt->seen[p * mt->per_producer + idx - 1], 1, memory_order_relaxed);
}

static void *mt_consumer(void *arg)
{
    struct mt_arg *a = arg;
    struct mt *mt = a->mt;
    unsigned long last[MAX_THREADS] = { 0 };
    unsigned long n = 0;
    void *batch[5];
    for (unsigned long k = 0;; k++) {
        enum mode m = mt->mode == MODE_MIXED ? (enum mode)((k + a->id) % 4) : mt->mode;
        void *item;
        int rc;
        switch (m) {
        case MODE_TRY:
            if (weft_mpmc_try_pop(mt->q, &item)) {
                mt_take(mt, item, last);
                n++;
            } else if (weft_mpmc_closed(mt->q)) {
                /* closed after every producer finished: what is left is
                 * published; one more look, then stop */
                if (!weft_mpmc_try_pop(mt->q, &item))
                    goto done;
                mt_take(mt, item, last);
                n++;
            } else {
                sched_yield();
            }
            break;
        case MODE_BLOCKING:
            if ((rc = weft_mpmc_pop(mt->q, &item)) == EPIPE)
                goto done;
            mt_take(mt, item, last);
            n++;
            break;
        case MODE_TIMED:
            rc = weft_mpmc_pop_timed(mt->q, &item, 1000000);
            if (rc == EPIPE)
                goto done;
            if (rc == 0) {
                mt_take(mt, item, last);
                n++;
            }
            break;
        default: {
            size_t got = weft_mpmc_try_pop_many(mt->q, batch, 1 + (k + a->id) % 5);
            for (size_t i = 0; i < got; i++)
                mt_take(mt, batch[i], last);
            n += got;
            if (got == 0) {
                if (weft_mpmc_closed(mt->q) && weft_mpmc_size(mt->q) == 0)
                    goto done;
                sched_yield();
            }
            break;
        }
        }
    }
done:
    atomic_fetch_add_explicit(&mt->popped, n, memory_order_relaxed);
    return NULL;
}

static void run_mt(unsigned producers, unsigned consumers, size_t capacity, enum mode mode,
                   unsigned long per_producer)
{
    struct mt mt;
    pthread_t tp[MAX_THREADS], tc[MAX_THREADS];
    struct mt_arg ap[MAX_THREADS], ac[MAX_THREADS];
    size_t total = (size_t)producers * per_producer;
    mt.q = weft_mpmc_create(capacity);
    REQUIRE(mt.q != NULL);
    mt.mode = mode;
    mt.producers = producers;
    mt.consumers = consumers;
    mt.per_producer = per_producer;
    mt.seen = calloc(total, sizeof *mt.seen);
    REQUIRE(mt.seen != NULL);
    atomic_init(&mt.order_errors, 0);
    atomic_init(&mt.foreign, 0);
    atomic_init(&mt.popped, 0);
    for (unsigned i = 0; i < consumers; i++) {
        ac[i].mt = &mt;
        ac[i].id = i;
        REQUIRE(pthread_create(&tc[i], NULL, mt_consumer, &ac[i]) == 0);
    }
    for (unsigned i = 0; i < producers; i++) {
        ap[i].mt = &mt;
        ap[i].id = i;
        REQUIRE(pthread_create(&tp[i], NULL, mt_producer, &ap[i]) == 0);
    }
    for (unsigned i = 0; i < producers; i++)
        pthread_join(tp[i], NULL);
    weft_mpmc_close(mt.q);
    for (unsigned i = 0; i < consumers; i++)
        pthread_join(tc[i], NULL);
    size_t missing = 0, duplicated = 0;
    for (size_t i = 0; i < total; i++) {
        unsigned char s = atomic_load_explicit(&mt.seen[i], memory_order_relaxed);
        missing += s == 0;
        duplicated += s > 1;
    }
    CHECK_EQ(atomic_load(&mt.popped), total);
    CHECK_EQ(missing, 0);
    CHECK_EQ(duplicated, 0);
    CHECK_EQ(atomic_load(&mt.order_errors), 0);
    CHECK_EQ(atomic_load(&mt.foreign), 0);
    CHECK_EQ(weft_mpmc_size(mt.q), 0);
    free(mt.seen);
    weft_mpmc_destroy(mt.q);
}

static void try_ops_4p4c_deliver_each_item_once_in_producer_order(void)
{
    run_mt(4, 4, 8, MODE_TRY, 40000);
}

static void blocking_ops_4p4c_deliver_each_item_once_in_producer_order(void)
{
    run_mt(4, 4, 8, MODE_BLOCKING, 40000);
}

static void blocking_ops_8p8c_on_a_tiny_ring_lose_no_wake_up(void)
{
    run_mt(8, 8, 2, MODE_BLOCKING, 20000);
}

static void timed_ops_8p8c_deliver_each_item_once(void)
{
    run_mt(8, 8, 4, MODE_TIMED, 10000);
}

static void batches_8p8c_deliver_each_item_once_in_producer_order(void)
{
    run_mt(8, 8, 16, MODE_BATCH, 20000);
}

static void mixed_ops_8p8c_deliver_each_item_once_in_producer_order(void)
{
    run_mt(8, 8, 8, MODE_MIXED, 20000);
}

static void uneven_1p8c_and_8p1c_deliver_each_item_once(void)
{
    run_mt(1, 8, 4, MODE_BLOCKING, 40000);
    run_mt(8, 1, 4, MODE_BLOCKING, 5000);
}

/* Consumers that each wait for exactly one item, and producers that push
 * exactly that many: every consumer must get one.  This is where a wake-up
 * spent on a consumer that could not use it (the slot before it was
 * claimed but not yet published) would leave a consumer parked next to an
 * item, as nobody else comes back to pop; the same with roles swapped for
 * producers waiting for one free slot each. */
struct one_each {
    weft_mpmc *q;
    atomic_ulong done;
};

static void *pop_one_item(void *arg)
{
    struct one_each *o = arg;
    void *item;
    if (weft_mpmc_pop(o->q, &item) == 0)
        atomic_fetch_add_explicit(&o->done, 1, memory_order_relaxed);
    return NULL;
}

static void *push_one_item(void *arg)
{
    struct one_each *o = arg;
    if (weft_mpmc_push(o->q, NULL) == 0)
        atomic_fetch_add_explicit(&o->done, 1, memory_order_relaxed);
    return NULL;
}

static void *push_two_items(void *arg)
{
    struct one_each *o = arg;
    weft_mpmc_push(o->q, NULL);
    weft_mpmc_push(o->q, NULL);
    return NULL;
}

static void *pop_two_items(void *arg)
{
    struct one_each *o = arg;
    void *item;
    weft_mpmc_pop(o->q, &item);
    weft_mpmc_pop(o->q, &item);
    return NULL;
}

/* waiters: threads running wait_fn (one operation each); actors: threads
 * running act_fn (two operations each) that satisfy them all. */
static unsigned long one_each_rounds(void *(*wait_fn)(void *), void *(*act_fn)(void *),
                                     bool start_full)
{
    enum { WAITERS = 8, ACTORS = 4, ROUNDS = 300 };
    unsigned long stuck = 0;
    for (int round = 0; round < ROUNDS && stuck == 0; round++) {
        struct one_each o;
        pthread_t tw[WAITERS], ta[ACTORS];
        o.q = weft_mpmc_create(WAITERS);
        REQUIRE(o.q != NULL);
        atomic_init(&o.done, 0);
        for (int i = 0; start_full && i < WAITERS; i++)
            weft_mpmc_try_push(o.q, NULL);
        for (int i = 0; i < WAITERS; i++)
            REQUIRE(pthread_create(&tw[i], NULL, wait_fn, &o) == 0);
        if (round % 2)
            check_sleep_ms(1); /* every other round, let the waiters park first */
        for (int i = 0; i < ACTORS; i++)
            REQUIRE(pthread_create(&ta[i], NULL, act_fn, &o) == 0);
        for (int i = 0; i < ACTORS; i++)
            pthread_join(ta[i], NULL);
        /* a watchdog, not a performance bound: what the waiters wait for is
         * there; 10 s without it means a waiter was never woken */
        uint64_t give_up = check_now_ns() + 10ull * 1000000000u;
        while (atomic_load(&o.done) < WAITERS && check_now_ns() < give_up)
            check_sleep_ms(1);
        stuck += WAITERS - atomic_load(&o.done);
        weft_mpmc_close(o.q); /* releases stuck waiters, if any */
        for (int i = 0; i < WAITERS; i++)
            pthread_join(tw[i], NULL);
        weft_mpmc_destroy(o.q);
    }
    return stuck;
}

static void each_parked_consumer_gets_its_item(void)
{
    CHECK_EQ(one_each_rounds(pop_one_item, push_two_items, false), 0);
}

static void each_parked_producer_gets_its_slot(void)
{
    CHECK_EQ(one_each_rounds(push_one_item, pop_two_items, true), 0);
}

/* ---- shared between processes -------------------------------------------------- */

struct shared_result {
    unsigned long popped;
    unsigned long order_errors;
    int last_rc;
};

static void shared_ring_carries_items_between_forked_processes(void)
{
    enum { ITEMS = 50000 };
    size_t bytes = weft_mpmc_footprint(4) + sizeof(struct shared_result);
    void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    REQUIRE(mem != MAP_FAILED);
    weft_mpmc *q = weft_mpmc_init(mem, 4, WEFT_SHARED);
    REQUIRE(q != NULL);
    struct shared_result *res =
        (struct shared_result *)(void *)((char *)mem + weft_mpmc_footprint(4));
    res->popped = 0;
    res->order_errors = 0;
    res->last_rc = -1;

    pid_t consumer = fork();
    REQUIRE(consumer >= 0);
    if (consumer == 0) {
        /* blocking pops park on the shared eventcount and must be woken by
         * the other process */
        void *item;
        unsigned long expect = 1;
        int rc;
        while ((rc = weft_mpmc_pop(q, &item)) == 0) {
            res->order_errors += (uintptr_t)item != expect;
            expect++;
            res->popped++;
        }
        res->last_rc = rc;
        _exit(0);
    }
    pid_t producer = fork();
    REQUIRE(producer >= 0);
    if (producer == 0) {
        for (uintptr_t i = 1; i <= ITEMS; i++)
            if (weft_mpmc_push(q, ptr(i)) != 0)
                _exit(1);
        weft_mpmc_close(q);
        _exit(0);
    }
    int status = 0;
    CHECK_EQ_I(waitpid(producer, &status, 0), producer);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_EQ_I(waitpid(consumer, &status, 0), consumer);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_EQ(res->popped, ITEMS);
    CHECK_EQ(res->order_errors, 0);
    CHECK_ERRNO(res->last_rc, EPIPE);
    munmap(mem, bytes);
}

static void shared_ring_wakes_a_consumer_parked_in_another_process(void)
{
    size_t bytes = weft_mpmc_footprint(2);
    void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    REQUIRE(mem != MAP_FAILED);
    weft_mpmc *q = weft_mpmc_init(mem, 2, WEFT_SHARED);
    REQUIRE(q != NULL);
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        void *item = NULL;
        int rc = weft_mpmc_pop(q, &item); /* parks: the parent pushes later */
        _exit(rc == 0 && item == ptr(5) ? 0 : 1);
    }
    check_sleep_ms(50);
    CHECK_ERRNO(weft_mpmc_push(q, ptr(5)), 0);
    int status = 0;
    CHECK_EQ_I(waitpid(child, &status, 0), child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    munmap(mem, bytes);
}

CHECK_MAIN(CASE(new_ring_is_empty_and_open), CASE(capacity_is_rounded_up_to_a_power_of_two),
           CASE(capacity_one_holds_exactly_one_item), CASE(full_ring_refuses_try_push),
           CASE(items_come_out_in_push_order), CASE(null_is_an_ordinary_item),
           CASE(wrap_around_over_many_laps_keeps_order),
           CASE(size_counts_pushed_items_not_yet_popped),
           CASE(push_many_pushes_only_the_prefix_that_fits), CASE(pop_many_takes_what_is_there),
           CASE(batches_of_zero_do_nothing), CASE(batches_crossing_the_end_of_the_array_keep_order),
           CASE(batches_and_single_operations_mix), CASE(create_rejects_zero_and_huge_capacities),
           CASE(footprint_is_zero_when_invalid), CASE(init_rejects_bad_arguments),
           CASE(init_builds_a_working_ring_in_given_memory), CASE(destroy_of_null_does_nothing),
           CASE(push_after_close_fails), CASE(pop_drains_a_closed_ring_then_fails_with_epipe),
           CASE(pop_timed_times_out_on_an_empty_ring), CASE(push_timed_times_out_on_a_full_ring),
           CASE(pop_timed_returns_an_item_pushed_while_waiting),
           CASE(push_timed_succeeds_when_a_slot_is_freed_while_waiting),
           CASE(blocking_pop_waits_for_a_push), CASE(blocking_push_waits_for_a_pop),
           CASE(close_wakes_consumers_parked_on_an_empty_ring),
           CASE(close_wakes_producers_parked_on_a_full_ring),
           CASE(every_push_that_succeeded_before_close_is_popped),
           CASE(try_ops_4p4c_deliver_each_item_once_in_producer_order),
           CASE(blocking_ops_4p4c_deliver_each_item_once_in_producer_order),
           CASE(blocking_ops_8p8c_on_a_tiny_ring_lose_no_wake_up),
           CASE(timed_ops_8p8c_deliver_each_item_once),
           CASE(batches_8p8c_deliver_each_item_once_in_producer_order),
           CASE(mixed_ops_8p8c_deliver_each_item_once_in_producer_order),
           CASE(uneven_1p8c_and_8p1c_deliver_each_item_once),
           CASE(each_parked_consumer_gets_its_item), CASE(each_parked_producer_gets_its_slot),
           CASE(shared_ring_carries_items_between_forked_processes),
           CASE(shared_ring_wakes_a_consumer_parked_in_another_process))
