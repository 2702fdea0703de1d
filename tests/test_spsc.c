/* Unit tests for weft/spsc.h. */
#include "config.h"
#include <errno.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <weft/spsc.h>

#include "check.h"
#include "refuse_membarrier.h"

#ifdef WEFT_TSAN
enum { SCALE = 10 }; /* TSan runs some 10x slower: fewer items */
#else
enum { SCALE = 1 };
#endif

static void *item_of(uintptr_t v)
{
    return (void *)v;
}

/* ---- construction ------------------------------------------------------- */

static void create_rounds_capacity_up_to_a_power_of_two(void)
{
    static const size_t asked[] = { 1, 2, 3, 5, 1000, 1024, 1025 };
    static const size_t real[] = { 1, 2, 4, 8, 1024, 1024, 2048 };
    for (size_t i = 0; i < sizeof asked / sizeof asked[0]; i++) {
        weft_spsc *q = weft_spsc_create(asked[i]);
        REQUIRE(q != NULL);
        CHECK_EQ(weft_spsc_capacity(q), real[i]);
        weft_spsc_destroy(q);
    }
}

static void create_rejects_zero_and_oversized_capacity(void)
{
    static const size_t bad[] = { 0, SIZE_MAX, (SIZE_MAX >> 1) + 2, SIZE_MAX / 8 };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        CHECK(weft_spsc_create(bad[i]) == NULL);
        CHECK_ERRNO(errno, EINVAL);
        CHECK_EQ(weft_spsc_footprint(bad[i]), 0);
    }
}

static void footprint_grows_with_the_rounded_capacity(void)
{
    size_t f1 = weft_spsc_footprint(1), f3 = weft_spsc_footprint(3);
    CHECK_GT(f1, 0);
    CHECK_EQ(f3, weft_spsc_footprint(4));
    /* the same header, and 64-byte lines of 7 slots: four slots per unit
     * of capacity, and at least capacity + 7 (see SLOTS_PER_ITEM and the
     * laps argument in spsc.c).  Capacity 1 needs 8 slots (2 lines), 4
     * needs 16 (3 lines), 64 needs 256 (37 lines). */
    CHECK_EQ(f3 - f1, 1 * 64);
    CHECK_EQ(weft_spsc_footprint(64) - f1, 35 * 64);
}

static void init_rejects_bad_arguments(void)
{
    static alignas(64) unsigned char mem[8192];
    size_t need = weft_spsc_footprint(8);
    REQUIRE(need <= sizeof mem - 64);
    errno = 0;
    CHECK(weft_spsc_init(NULL, 8, 0) == NULL);
    CHECK_ERRNO(errno, EINVAL);
    errno = 0;
    CHECK(weft_spsc_init(mem + 8, 8, 0) == NULL); /* misaligned */
    CHECK_ERRNO(errno, EINVAL);
    errno = 0;
    CHECK(weft_spsc_init(mem, 0, 0) == NULL);
    CHECK_ERRNO(errno, EINVAL);
    errno = 0;
    CHECK(weft_spsc_init(mem, 8, 2u) == NULL); /* unknown flag */
    CHECK_ERRNO(errno, EINVAL);
    weft_spsc_destroy(NULL); /* ignored, like free(NULL) */
}

static void init_builds_a_working_ring_in_caller_memory(void)
{
    static alignas(64) unsigned char mem[4096];
    REQUIRE(weft_spsc_footprint(5) <= sizeof mem);
    weft_spsc *q = weft_spsc_init(mem, 5, 0);
    REQUIRE(q != NULL);
    CHECK_PTR_EQ(q, mem);
    CHECK_EQ(weft_spsc_capacity(q), 8);
    CHECK(weft_spsc_try_push(q, item_of(42)));
    void *out = NULL;
    CHECK(weft_spsc_try_pop(q, &out));
    CHECK_PTR_EQ(out, item_of(42));
}

/* ---- single-threaded behaviour ------------------------------------------ */

static void pop_on_empty_ring_returns_false_and_leaves_item_alone(void)
{
    weft_spsc *q = weft_spsc_create(4);
    REQUIRE(q != NULL);
    void *out = item_of(7);
    CHECK(!weft_spsc_try_pop(q, &out));
    CHECK_PTR_EQ(out, item_of(7));
    CHECK_EQ(weft_spsc_size(q), 0);
    weft_spsc_destroy(q);
}

static void push_on_full_ring_returns_false(void)
{
    weft_spsc *q = weft_spsc_create(3); /* real capacity 4 */
    REQUIRE(q != NULL);
    for (uintptr_t i = 0; i < 4; i++)
        CHECK(weft_spsc_try_push(q, item_of(i)));
    CHECK(!weft_spsc_try_push(q, item_of(99)));
    CHECK_EQ(weft_spsc_size(q), 4);
    void *out;
    CHECK(weft_spsc_try_pop(q, &out));
    CHECK_PTR_EQ(out, item_of(0));
    CHECK(weft_spsc_try_push(q, item_of(4))); /* one slot free again */
    CHECK(!weft_spsc_try_push(q, item_of(99)));
    weft_spsc_destroy(q);
}

static void capacity_one_ring_holds_exactly_one_item(void)
{
    weft_spsc *q = weft_spsc_create(1);
    REQUIRE(q != NULL);
    void *out;
    for (uintptr_t i = 0; i < 1000; i++) {
        CHECK(weft_spsc_try_push(q, item_of(i)));
        CHECK(!weft_spsc_try_push(q, item_of(i + 1)));
        CHECK(weft_spsc_try_pop(q, &out));
        CHECK_PTR_EQ(out, item_of(i));
        CHECK(!weft_spsc_try_pop(q, &out));
    }
    weft_spsc_destroy(q);
}

static void items_keep_fifo_order_over_many_laps(void)
{
    weft_spsc *q = weft_spsc_create(8);
    REQUIRE(q != NULL);
    uintptr_t next_in = 0, next_out = 0;
    unsigned long bad = 0;
    /* fill levels vary with i so every offset in the array is crossed */
    for (unsigned i = 0; i < 5000; i++) {
        unsigned burst = 1 + i % 8;
        for (unsigned k = 0; k < burst && weft_spsc_try_push(q, item_of(next_in)); k++)
            next_in++;
        unsigned drain = 1 + (i * 7) % 8;
        void *out;
        for (unsigned k = 0; k < drain && weft_spsc_try_pop(q, &out); k++)
            bad += out != item_of(next_out++);
    }
    CHECK_EQ(bad, 0);
    CHECK_GT(next_out, 8 * 1000); /* many laps of the array */
    CHECK_EQ(weft_spsc_size(q), next_in - next_out);
    weft_spsc_destroy(q);
}

static void null_is_an_item_like_any_other(void)
{
    weft_spsc *q = weft_spsc_create(2);
    REQUIRE(q != NULL);
    CHECK(weft_spsc_try_push(q, NULL));
    CHECK(weft_spsc_try_push(q, item_of(1)));
    CHECK_EQ(weft_spsc_size(q), 2);
    void *out = item_of(5);
    CHECK(weft_spsc_try_pop(q, &out));
    CHECK_PTR_EQ(out, NULL);
    CHECK(weft_spsc_try_pop(q, &out));
    CHECK_PTR_EQ(out, item_of(1));
    CHECK_ERRNO(weft_spsc_push(q, NULL), 0);
    CHECK_ERRNO(weft_spsc_pop(q, &out), 0);
    CHECK_PTR_EQ(out, NULL);
    weft_spsc_destroy(q);
}

static void push_many_fills_up_to_capacity_across_the_end(void)
{
    void *in[12], *out[12];
    for (uintptr_t i = 0; i < 12; i++)
        in[i] = item_of(100 + i);
    /* start the batch at every position from 0 to 47, so that one of them
     * crosses the end of the array whatever its layout (spsc.c keeps 35
     * slots for capacity 8: five lines of seven) */
    for (size_t start = 0; start < 48; start++) {
        weft_spsc *q = weft_spsc_create(8);
        REQUIRE(q != NULL);
        for (size_t i = 0; i < start; i++) {
            void *x;
            REQUIRE(weft_spsc_try_push(q, in[0]) && weft_spsc_try_pop(q, &x));
        }
        CHECK_EQ(weft_spsc_try_push_many(q, in, 12), 8);
        CHECK_EQ(weft_spsc_try_push_many(q, in, 1), 0);
        CHECK_EQ(weft_spsc_size(q), 8);
        CHECK_EQ(weft_spsc_try_pop_many(q, out, 12), 8);
        for (size_t i = 0; i < 8; i++)
            CHECK_PTR_EQ(out[i], in[i]);
        CHECK_EQ(weft_spsc_size(q), 0);
        weft_spsc_destroy(q);
    }
}

static void pop_many_takes_what_is_there_across_the_end(void)
{
    weft_spsc *q = weft_spsc_create(4);
    REQUIRE(q != NULL);
    void *out[8];
    uintptr_t next_in = 0, next_out = 0;
    unsigned long bad = 0;
    for (int lap = 0; lap < 100; lap++) {
        for (int k = 0; k < 3; k++)
            CHECK(weft_spsc_try_push(q, item_of(next_in++)));
        size_t got = weft_spsc_try_pop_many(q, out, 8);
        CHECK_EQ(got, 3);
        for (size_t i = 0; i < got; i++)
            bad += out[i] != item_of(next_out++);
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(weft_spsc_try_pop_many(q, out, 8), 0);
    weft_spsc_destroy(q);
}

static void batches_of_zero_items_do_nothing(void)
{
    weft_spsc *q = weft_spsc_create(4);
    REQUIRE(q != NULL);
    CHECK_EQ(weft_spsc_try_push_many(q, NULL, 0), 0);
    CHECK_EQ(weft_spsc_try_pop_many(q, NULL, 0), 0);
    CHECK_EQ(weft_spsc_size(q), 0);
    weft_spsc_destroy(q);
}

/* ---- timed waits --------------------------------------------------------- */

static void pop_timed_times_out_on_an_empty_ring(void)
{
    weft_spsc *q = weft_spsc_create(4);
    REQUIRE(q != NULL);
    void *out = item_of(3);
    uint64_t t0 = check_now_ns();
    CHECK_ERRNO(weft_spsc_pop_timed(q, &out, 20 * 1000000u), ETIMEDOUT);
    CHECK_GE(check_now_ns() - t0, 20 * 1000000u);
    CHECK_PTR_EQ(out, item_of(3));
    CHECK_ERRNO(weft_spsc_pop_timed(q, &out, 0), ETIMEDOUT);
    weft_spsc_destroy(q);
}

static void push_timed_times_out_on_a_full_ring(void)
{
    weft_spsc *q = weft_spsc_create(1);
    REQUIRE(q != NULL);
    CHECK_ERRNO(weft_spsc_push_timed(q, item_of(1), 0), 0);
    uint64_t t0 = check_now_ns();
    CHECK_ERRNO(weft_spsc_push_timed(q, item_of(2), 20 * 1000000u), ETIMEDOUT);
    CHECK_GE(check_now_ns() - t0, 20 * 1000000u);
    CHECK_ERRNO(weft_spsc_push_timed(q, item_of(2), 0), ETIMEDOUT);
    void *out;
    CHECK_ERRNO(weft_spsc_pop_timed(q, &out, 0), 0);
    CHECK_PTR_EQ(out, item_of(1));
    weft_spsc_destroy(q);
}

/* A timed call with timeout 0 must try once.  A failed attempt writes
 * nothing and calls nothing, so no test can count attempts from outside;
 * what a timed call may do between its first attempt and a second one is
 * read the clock (to set its deadline).  This clock_gettime takes the place
 * of libc's for the whole program, libweft included (a shared library calls
 * it through the PLT, a static one links against this definition), passes
 * every call through to the kernel, and runs a hook at the first read after
 * it was armed, on the arming thread: the hook makes the ring ready (frees
 * a slot, supplies an item), so a call that tried once still fails, and a
 * call that tries again after reading the clock succeeds.  A call that
 * does not read the clock at all runs no hook and must fail too. */
struct clock_hook {
    void (*run)(weft_spsc *);
    weft_spsc *q;
    unsigned reads; /* clock reads on this thread since armed */
    bool ran;
};
static _Thread_local struct clock_hook *armed_clock_hook;

int clock_gettime(clockid_t id, struct timespec *ts)
{
    struct clock_hook *h = armed_clock_hook;
    if (h != NULL) {
        h->reads++;
        if (!h->ran) {
            h->ran = true;
            h->run(h->q);
        }
    }
    return (int)syscall(SYS_clock_gettime, id, ts);
}

static void take_one_item(weft_spsc *q)
{
    void *out;
    if (!weft_spsc_try_pop(q, &out))
        abort(); /* the test filled the ring */
}

static void add_one_item(weft_spsc *q)
{
    if (!weft_spsc_try_push(q, item_of(42)))
        abort(); /* the test left the ring empty */
}

static void push_timed_with_timeout_zero_tries_exactly_once(void)
{
    weft_spsc *q = weft_spsc_create(1);
    REQUIRE(q != NULL);
    CHECK(weft_spsc_try_push(q, item_of(1)));
    /* the hook frees the slot at the call's first clock read */
    struct clock_hook h = { take_one_item, q, 0, false };
    armed_clock_hook = &h;
    int rc = weft_spsc_push_timed(q, item_of(2), 0);
    armed_clock_hook = NULL;
    printf("# push_timed(full ring, 0) = %d (%s); clock reads %u; slot freed after the "
           "first attempt: %s\n",
           rc, strerror(rc), h.reads, h.ran ? "yes" : "no");
    CHECK_ERRNO(rc, ETIMEDOUT);
    /* item 2 was not pushed: what is left is what the hook left */
    size_t left = h.ran ? 0 : 1;
    CHECK_EQ(weft_spsc_size(q), left);
    weft_spsc_destroy(q);
}

static void pop_timed_with_timeout_zero_tries_exactly_once(void)
{
    weft_spsc *q = weft_spsc_create(4);
    REQUIRE(q != NULL);
    /* the hook pushes an item at the call's first clock read */
    struct clock_hook h = { add_one_item, q, 0, false };
    void *out = item_of(3);
    armed_clock_hook = &h;
    int rc = weft_spsc_pop_timed(q, &out, 0);
    armed_clock_hook = NULL;
    printf("# pop_timed(empty ring, 0) = %d (%s); clock reads %u; item pushed after the "
           "first attempt: %s\n",
           rc, strerror(rc), h.reads, h.ran ? "yes" : "no");
    CHECK_ERRNO(rc, ETIMEDOUT);
    CHECK_PTR_EQ(out, item_of(3));
    /* the item the hook pushed is still there */
    size_t left = h.ran ? 1 : 0;
    CHECK_EQ(weft_spsc_size(q), left);
    weft_spsc_destroy(q);
}

static void huge_timeout_waits_like_no_timeout(void)
{
    weft_spsc *q = weft_spsc_create(2);
    REQUIRE(q != NULL);
    CHECK(weft_spsc_try_push(q, item_of(9)));
    void *out;
    CHECK_ERRNO(weft_spsc_pop_timed(q, &out, UINT64_MAX), 0);
    CHECK_PTR_EQ(out, item_of(9));
    weft_spsc_destroy(q);
}

/* ---- close ----------------------------------------------------------------- */

static void push_after_close_fails_with_epipe(void)
{
    weft_spsc *q = weft_spsc_create(4);
    REQUIRE(q != NULL);
    CHECK(!weft_spsc_closed(q));
    weft_spsc_close(q);
    weft_spsc_close(q); /* idempotent */
    CHECK(weft_spsc_closed(q));
    void *in[2] = { NULL, NULL };
    CHECK(!weft_spsc_try_push(q, item_of(1)));
    CHECK_ERRNO(weft_spsc_push(q, item_of(1)), EPIPE);
    CHECK_ERRNO(weft_spsc_push_timed(q, item_of(1), 1000000), EPIPE);
    CHECK_EQ(weft_spsc_try_push_many(q, in, 2), 0);
    CHECK_EQ(weft_spsc_size(q), 0);
    weft_spsc_destroy(q);
}

static void push_on_a_full_closed_ring_fails_with_epipe(void)
{
    weft_spsc *q = weft_spsc_create(1);
    REQUIRE(q != NULL);
    CHECK(weft_spsc_try_push(q, item_of(1)));
    weft_spsc_close(q);
    CHECK_ERRNO(weft_spsc_push(q, item_of(2)), EPIPE);
    CHECK_ERRNO(weft_spsc_push_timed(q, item_of(2), 1000000), EPIPE);
    weft_spsc_destroy(q);
}

static void pops_drain_a_closed_ring_then_return_epipe(void)
{
    weft_spsc *q = weft_spsc_create(8);
    REQUIRE(q != NULL);
    for (uintptr_t i = 0; i < 5; i++)
        CHECK(weft_spsc_try_push(q, item_of(i)));
    weft_spsc_close(q);
    void *out, *many[2];
    CHECK(weft_spsc_try_pop(q, &out));
    CHECK_PTR_EQ(out, item_of(0));
    CHECK_ERRNO(weft_spsc_pop(q, &out), 0);
    CHECK_PTR_EQ(out, item_of(1));
    CHECK_ERRNO(weft_spsc_pop_timed(q, &out, 0), 0);
    CHECK_PTR_EQ(out, item_of(2));
    CHECK_EQ(weft_spsc_try_pop_many(q, many, 2), 2);
    CHECK_PTR_EQ(many[1], item_of(4));
    out = item_of(77);
    CHECK_ERRNO(weft_spsc_pop(q, &out), EPIPE);
    CHECK_ERRNO(weft_spsc_pop_timed(q, &out, 1000000), EPIPE);
    CHECK(!weft_spsc_try_pop(q, &out));
    CHECK_PTR_EQ(out, item_of(77));
    weft_spsc_destroy(q);
}

struct blocked_call {
    weft_spsc *q;
    int rc;
    void *item;
};

static void *blocking_pop_thread(void *arg)
{
    struct blocked_call *c = arg;
    c->rc = weft_spsc_pop(c->q, &c->item);
    return NULL;
}

static void *blocking_push_thread(void *arg)
{
    struct blocked_call *c = arg;
    c->rc = weft_spsc_push(c->q, c->item);
    return NULL;
}

static void close_wakes_a_consumer_parked_on_empty(void)
{
    struct blocked_call c = { weft_spsc_create(4), -1, item_of(5) };
    REQUIRE(c.q != NULL);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, blocking_pop_thread, &c) == 0);
    check_sleep_ms(30); /* long enough to park; the outcome does not depend on it */
    weft_spsc_close(c.q);
    pthread_join(t, NULL);
    CHECK_ERRNO(c.rc, EPIPE);
    CHECK_PTR_EQ(c.item, item_of(5));
    weft_spsc_destroy(c.q);
}

static void close_wakes_a_producer_parked_on_full(void)
{
    struct blocked_call c = { weft_spsc_create(2), -1, item_of(3) };
    REQUIRE(c.q != NULL);
    CHECK(weft_spsc_try_push(c.q, item_of(1)));
    CHECK(weft_spsc_try_push(c.q, item_of(2)));
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, blocking_push_thread, &c) == 0);
    check_sleep_ms(30);
    weft_spsc_close(c.q);
    pthread_join(t, NULL);
    CHECK_ERRNO(c.rc, EPIPE);
    CHECK_EQ(weft_spsc_size(c.q), 2); /* the parked item was not pushed */
    weft_spsc_destroy(c.q);
}

static void parked_consumer_wakes_for_a_push(void)
{
    struct blocked_call c = { weft_spsc_create(4), -1, NULL };
    REQUIRE(c.q != NULL);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, blocking_pop_thread, &c) == 0);
    check_sleep_ms(30);
    CHECK(weft_spsc_try_push(c.q, item_of(11)));
    pthread_join(t, NULL);
    CHECK_ERRNO(c.rc, 0);
    CHECK_PTR_EQ(c.item, item_of(11));
    weft_spsc_destroy(c.q);
}

static void parked_producer_wakes_for_a_pop(void)
{
    struct blocked_call c = { weft_spsc_create(1), -1, item_of(2) };
    REQUIRE(c.q != NULL);
    CHECK(weft_spsc_try_push(c.q, item_of(1)));
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, blocking_push_thread, &c) == 0);
    check_sleep_ms(30);
    void *out;
    CHECK(weft_spsc_try_pop(c.q, &out));
    pthread_join(t, NULL);
    CHECK_ERRNO(c.rc, 0);
    CHECK_ERRNO(weft_spsc_pop_timed(c.q, &out, 0), 0);
    CHECK_PTR_EQ(out, item_of(2));
    weft_spsc_destroy(c.q);
}

/* ---- membarrier refused after init ---------------------------------------- */

/* Whether this process can issue membarrier(PRIVATE_EXPEDITED) (weft
 * registered it when it made its first private eventcount). */
static bool membarrier_works_now(void)
{
    return syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0;
}

/* In a child (the filter cannot be removed): items pushed before and after
 * the refusal are all popped, in order, before EPIPE. */
static int deliver_after_membarrier_refused(void)
{
    weft_spsc *q = weft_spsc_create(8);
    if (q == NULL)
        return 10;
    bool pushed = weft_spsc_try_push(q, item_of(1));
    int rc = refuse_membarrier();
    if (rc != 0)
        return rc == -1 ? 21 : 22;
    bool refused = !membarrier_works_now();
    pushed = weft_spsc_try_push(q, item_of(2)) && pushed;
    pushed = weft_spsc_push(q, item_of(3)) == 0 && pushed;
    weft_spsc_close(q);
    unsigned in_order = 0;
    void *out;
    for (uintptr_t i = 1; i <= 3; i++)
        in_order += weft_spsc_pop(q, &out) == 0 && out == item_of(i);
    int last = weft_spsc_pop(q, &out);
    printf("# membarrier refused: %s; pushed all: %s; popped in order: %u of 3; "
           "then pop = %d (%s)\n",
           refused ? "yes" : "no", pushed ? "yes" : "no", in_order, last, strerror(last));
    weft_spsc_destroy(q);
    return refused && pushed && in_order == 3 && last == EPIPE ? 0 : 13;
}

static void close_after_membarrier_is_refused_delivers_every_pushed_item(void)
{
    CHECK_EQ_I(check_in_child(deliver_after_membarrier_refused), 0);
}

/* In a child: a pop on a ring whose close had membarrier refused reports
 * EPIPE only 10 ms after it first found the ring drained (close_grace in
 * src/spsc.c); before that a try-once pop_timed says ETIMEDOUT; after
 * that, every pop says EPIPE at once.  Without membarrier at init, or in
 * the TSan build, rings use real fences and EPIPE comes at once. */
static int epipe_waits_out_the_grace(void)
{
    bool asymmetric = membarrier_works_now();
#ifdef WEFT_TSAN
    asymmetric = false; /* TSan builds never use membarrier */
#endif
    weft_spsc *q = weft_spsc_create(4);
    if (q == NULL)
        return 10;
    int rc = refuse_membarrier();
    if (rc != 0)
        return rc == -1 ? 21 : 22;
    void *out;
    uint64_t t0 = check_now_ns();
    weft_spsc_close(q);
    int first = weft_spsc_pop_timed(q, &out, 0);
    int second = weft_spsc_pop(q, &out);
    uint64_t waited = check_now_ns() - t0;
    int third = weft_spsc_pop_timed(q, &out, 0);
    printf("# asymmetric ring: %s; pop_timed(0) = %d (%s), pop = %d (%s) after %ju us, "
           "pop_timed(0) = %d (%s)\n",
           asymmetric ? "yes" : "no", first, strerror(first), second, strerror(second),
           (uintmax_t)(waited / 1000), third, strerror(third));
    weft_spsc_destroy(q);
    if (second != EPIPE || third != EPIPE)
        return 14;
    if (asymmetric)
        return first == ETIMEDOUT && waited >= 10000000u ? 0 : 15;
    return first == EPIPE ? 0 : 16;
}

static void epipe_comes_10_ms_after_close_when_membarrier_was_refused(void)
{
    CHECK_EQ_I(check_in_child(epipe_waits_out_the_grace), 0);
}

/* ---- two threads ------------------------------------------------------------ */

/* Busy threads that keep both cores occupied while a test runs, so the
 * producer and consumer are preempted at arbitrary points. */
struct busy_load {
    atomic_bool stop;
    pthread_t t[3];
};

static void *spin_until_stopped(void *arg)
{
    struct busy_load *b = arg;
    unsigned long n = 0;
    /* relaxed: only the flag's value matters */
    while (!atomic_load_explicit(&b->stop, memory_order_relaxed))
        if (++n % 4096 == 0)
            sched_yield();
    return NULL;
}

static void busy_start(struct busy_load *b)
{
    atomic_init(&b->stop, false);
    for (int i = 0; i < 3; i++)
        if (pthread_create(&b->t[i], NULL, spin_until_stopped, b) != 0)
            abort();
}

static void busy_stop(struct busy_load *b)
{
    atomic_store_explicit(&b->stop, true, memory_order_relaxed);
    for (int i = 0; i < 3; i++)
        pthread_join(b->t[i], NULL);
}

/* Items carry a pointer to a payload written before the push: the consumer
 * checks that it sees the payload (the push/pop happens-before edge). */
struct fifo_run {
    weft_spsc *q;
    unsigned long n;
    uintptr_t *payload;
    unsigned long out_of_order, bad_payload, popped;
};

static void *fifo_producer(void *arg)
{
    struct fifo_run *r = arg;
    unsigned long i = 0;
    while (i < r->n) {
        r->payload[i] = i * 3 + 1;
        switch (i % 4) {
        case 0: /* blocking */
            if (weft_spsc_push(r->q, &r->payload[i]) != 0)
                abort();
            i++;
            break;
        case 1: /* try */
            if (weft_spsc_try_push(r->q, &r->payload[i]))
                i++;
            break;
        case 2: /* timed */
            if (weft_spsc_push_timed(r->q, &r->payload[i], 1000) == 0)
                i++;
            break;
        default: { /* a batch of up to 3 */
            void *b[3];
            size_t k = r->n - i < 3 ? r->n - i : 3;
            for (size_t j = 0; j < k; j++) {
                r->payload[i + j] = (i + j) * 3 + 1;
                b[j] = &r->payload[i + j];
            }
            i += weft_spsc_try_push_many(r->q, b, k);
            break;
        }
        }
    }
    weft_spsc_close(r->q);
    return NULL;
}

static void *fifo_consumer(void *arg)
{
    struct fifo_run *r = arg;
    unsigned long next = 0;
    for (unsigned long round = 0;; round++) {
        void *got[4];
        size_t k = 0;
        if (round % 3 == 0) {
            k = weft_spsc_try_pop_many(r->q, got, 4);
        } else {
            int rc = weft_spsc_pop(r->q, &got[0]);
            if (rc == EPIPE)
                break;
            k = 1;
        }
        for (size_t j = 0; j < k; j++) {
            uintptr_t *p = got[j];
            if (p != &r->payload[next])
                r->out_of_order++;
            else if (*p != next * 3 + 1)
                r->bad_payload++;
            next++;
        }
    }
    r->popped = next;
    return NULL;
}

/* size() from the consumer counts only items a pop can take: a push in
 * progress is not counted before it published.  The producer pushes single
 * items and batches; the consumer checks that every time size() says
 * non-empty, its next try_pop succeeds. */
struct size_run {
    weft_spsc *q;
    uintptr_t n;
};

static void *size_producer(void *arg)
{
    struct size_run *r = arg;
    void *batch[5];
    uintptr_t next = 1;
    while (next <= r->n) {
        if (next % 3 == 0) {
            size_t k = 0;
            while (k < 5 && next + k <= r->n) {
                batch[k] = item_of(next + k);
                k++;
            }
            next += weft_spsc_try_push_many(r->q, batch, k);
        } else if (weft_spsc_try_push(r->q, item_of(next))) {
            next++;
        }
    }
    return NULL;
}

static void size_seen_by_the_consumer_counts_only_poppable_items(void)
{
    struct size_run r = { weft_spsc_create(4), 200000 };
    REQUIRE(r.q != NULL);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, size_producer, &r) == 0);
    uintptr_t next = 1;
    unsigned long said_nonempty = 0, pop_failed = 0, out_of_order = 0;
    while (next <= r.n) {
        bool nonempty = weft_spsc_size(r.q) > 0;
        void *item;
        bool got = weft_spsc_try_pop(r.q, &item);
        said_nonempty += nonempty;
        pop_failed += nonempty && !got;
        if (got)
            out_of_order += item != item_of(next++);
    }
    pthread_join(t, NULL);
    CHECK_GT(said_nonempty, 0);
    CHECK_EQ(pop_failed, 0);
    CHECK_EQ(out_of_order, 0);
    weft_spsc_destroy(r.q);
}

/* Pushes that fail on a closed ring add nothing to size(), even while
 * they run. */
static void *failing_pusher(void *arg)
{
    weft_spsc *q = arg;
    void *batch[8] = { 0 };
    for (int i = 0; i < 200000; i++) {
        (void)weft_spsc_try_push(q, batch[0]);
        (void)weft_spsc_try_push_many(q, batch, 8);
    }
    return NULL;
}

static void failed_pushes_on_a_closed_ring_do_not_show_in_size(void)
{
    weft_spsc *q = weft_spsc_create(16);
    REQUIRE(q != NULL);
    weft_spsc_close(q);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, failing_pusher, q) == 0);
    unsigned long nonzero = 0;
    for (int i = 0; i < 400000; i++)
        nonzero += weft_spsc_size(q) != 0;
    pthread_join(t, NULL);
    CHECK_EQ(nonzero, 0);
    weft_spsc_destroy(q);
}

static void two_threads_pass_every_item_once_in_order_with_tiny_capacity(void)
{
    struct fifo_run r = { weft_spsc_create(2), 200000 / SCALE, NULL, 0, 0, 0 };
    REQUIRE(r.q != NULL);
    r.payload = calloc(r.n, sizeof *r.payload);
    REQUIRE(r.payload != NULL);
    struct busy_load busy;
    busy_start(&busy);
    pthread_t p, c;
    REQUIRE(pthread_create(&c, NULL, fifo_consumer, &r) == 0);
    REQUIRE(pthread_create(&p, NULL, fifo_producer, &r) == 0);
    pthread_join(p, NULL);
    pthread_join(c, NULL);
    busy_stop(&busy);
    CHECK_EQ(r.popped, r.n);
    CHECK_EQ(r.out_of_order, 0);
    CHECK_EQ(r.bad_payload, 0);
    free(r.payload);
    weft_spsc_destroy(r.q);
}

/* Close races with a producer that is pushing as fast as it can: every
 * push that succeeded must be popped, exactly once, in order. */
struct close_race {
    weft_spsc *q;
    unsigned long pushed, popped, out_of_order;
};

static void *racing_producer(void *arg)
{
    struct close_race *r = arg;
    uintptr_t i = 0;
    for (;;) {
        if (i % 3 == 0) { /* try: false means full or closed */
            if (weft_spsc_try_push(r->q, item_of(i)))
                i++;
            else if (weft_spsc_closed(r->q))
                break;
        } else if (i % 3 == 1) { /* blocking: fails only once closed */
            if (weft_spsc_push(r->q, item_of(i)) != 0)
                break;
            i++;
        } else {
            void *b[2] = { item_of(i), item_of(i + 1) };
            size_t k = weft_spsc_try_push_many(r->q, b, 2);
            i += k;
            if (k == 0 && weft_spsc_closed(r->q))
                break;
        }
    }
    r->pushed = i;
    return NULL;
}

static void *racing_consumer(void *arg)
{
    struct close_race *r = arg;
    uintptr_t next = 0;
    void *out;
    while (weft_spsc_pop(r->q, &out) == 0) {
        r->out_of_order += out != item_of(next);
        next++;
    }
    r->popped = next;
    return NULL;
}

static void close_racing_with_a_busy_producer_loses_no_item(void)
{
    unsigned long lost = 0, disorder = 0, rounds = 40 / SCALE + 4;
    for (unsigned long round = 0; round < rounds; round++) {
        struct close_race r = { weft_spsc_create(1 + round % 16), 0, 0, 0 };
        REQUIRE(r.q != NULL);
        pthread_t p, c;
        REQUIRE(pthread_create(&c, NULL, racing_consumer, &r) == 0);
        REQUIRE(pthread_create(&p, NULL, racing_producer, &r) == 0);
        /* vary the moment of close from "at once" to a few ms */
        for (unsigned long k = 0; k < (round % 8) * 1000; k++)
            sched_yield();
        weft_spsc_close(r.q);
        pthread_join(p, NULL);
        pthread_join(c, NULL);
        lost += r.pushed != r.popped;
        disorder += r.out_of_order;
        if (r.pushed != r.popped)
            printf("# round %lu: pushed %lu popped %lu\n", round, r.pushed, r.popped);
        weft_spsc_destroy(r.q);
    }
    CHECK_EQ(lost, 0);
    CHECK_EQ(disorder, 0);
}

/* ---- two processes ------------------------------------------------------------ */

struct shared_area {
    unsigned long popped, out_of_order;
};

static void ring_in_shared_memory_works_between_processes(void)
{
    enum { N = 100000 };
    size_t ring_bytes = (weft_spsc_footprint(8) + 4095) & ~(size_t)4095;
    unsigned char *mem =
        mmap(NULL, ring_bytes + 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    REQUIRE(mem != MAP_FAILED);
    weft_spsc *q = weft_spsc_init(mem, 8, WEFT_SHARED);
    REQUIRE(q != NULL);
    struct shared_area *area = (struct shared_area *)(void *)(mem + ring_bytes);
    pid_t producer = fork();
    REQUIRE(producer >= 0);
    if (producer == 0) {
        for (uintptr_t i = 0; i < N / SCALE; i++)
            if (weft_spsc_push(q, item_of(i)) != 0)
                _exit(1);
        weft_spsc_close(q);
        _exit(0);
    }
    pid_t consumer = fork();
    if (consumer == 0) {
        void *out;
        uintptr_t next = 0;
        while (weft_spsc_pop(q, &out) == 0) {
            area->out_of_order += out != item_of(next);
            next++;
        }
        area->popped = next;
        _exit(0);
    }
    int ps = 0, cs = 0;
    CHECK_EQ_I(waitpid(producer, &ps, 0), producer);
    if (consumer > 0)
        CHECK_EQ_I(waitpid(consumer, &cs, 0), consumer);
    CHECK(consumer > 0);
    CHECK(WIFEXITED(ps) && WEXITSTATUS(ps) == 0);
    CHECK(WIFEXITED(cs) && WEXITSTATUS(cs) == 0);
    CHECK_EQ(area->popped, N / SCALE);
    CHECK_EQ(area->out_of_order, 0);
    munmap(mem, ring_bytes + 4096);
}

CHECK_MAIN(CASE(create_rounds_capacity_up_to_a_power_of_two),
           CASE(create_rejects_zero_and_oversized_capacity),
           CASE(footprint_grows_with_the_rounded_capacity), CASE(init_rejects_bad_arguments),
           CASE(init_builds_a_working_ring_in_caller_memory),
           CASE(pop_on_empty_ring_returns_false_and_leaves_item_alone),
           CASE(push_on_full_ring_returns_false), CASE(capacity_one_ring_holds_exactly_one_item),
           CASE(items_keep_fifo_order_over_many_laps), CASE(null_is_an_item_like_any_other),
           CASE(push_many_fills_up_to_capacity_across_the_end),
           CASE(pop_many_takes_what_is_there_across_the_end),
           CASE(batches_of_zero_items_do_nothing), CASE(pop_timed_times_out_on_an_empty_ring),
           CASE(push_timed_times_out_on_a_full_ring),
           CASE(push_timed_with_timeout_zero_tries_exactly_once),
           CASE(pop_timed_with_timeout_zero_tries_exactly_once),
           CASE(huge_timeout_waits_like_no_timeout), CASE(push_after_close_fails_with_epipe),
           CASE(push_on_a_full_closed_ring_fails_with_epipe),
           CASE(pops_drain_a_closed_ring_then_return_epipe),
           CASE(close_wakes_a_consumer_parked_on_empty),
           CASE(close_wakes_a_producer_parked_on_full), CASE(parked_consumer_wakes_for_a_push),
           CASE(parked_producer_wakes_for_a_pop),
           CASE(close_after_membarrier_is_refused_delivers_every_pushed_item),
           CASE(epipe_comes_10_ms_after_close_when_membarrier_was_refused),
           CASE(size_seen_by_the_consumer_counts_only_poppable_items),
           CASE(failed_pushes_on_a_closed_ring_do_not_show_in_size),
           CASE(two_threads_pass_every_item_once_in_order_with_tiny_capacity),
           CASE(close_racing_with_a_busy_producer_loses_no_item),
           CASE(ring_in_shared_memory_works_between_processes))
