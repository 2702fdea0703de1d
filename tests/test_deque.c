/* Unit tests for weft/deque.h. */
#include "config.h"
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>

#include <weft/deque.h>

#include "check.h"

/* Huge requests must come back as NULL + ENOMEM, not as a sanitizer abort.
 * These are the sanitizer runtimes' option hooks: their reserved names are
 * fixed by the runtimes (the one exception to STYLE rule 17 here), and they
 * are unused in builds without the sanitizer. */
const char *__asan_default_options(void);
const char *__tsan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}
const char *__tsan_default_options(void)
{
    return "allocator_may_return_null=1";
}

#ifdef WEFT_TSAN
#define SCALE 4 /* TSan runs about 10x slower: do a quarter of the work */
#else
#define SCALE 1
#endif

#define ITEM(i) ((void *)(uintptr_t)(i))
#define IDX(p) ((uintptr_t)(p))

/* xorshift64: deterministic pseudo-random choices, no global state. */
static uint64_t rnd(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* ---- single-threaded semantics ----------------------------------------- */

static void pop_returns_items_newest_first(void)
{
    weft_deque *d = weft_deque_create(8);
    REQUIRE(d != NULL);
    for (uintptr_t i = 1; i <= 5; i++)
        CHECK_ERRNO(weft_deque_push(d, ITEM(i)), 0);
    for (uintptr_t i = 5; i >= 1; i--) {
        void *x = NULL;
        CHECK(weft_deque_pop(d, &x));
        CHECK_EQ(IDX(x), i);
    }
    void *x = ITEM(99);
    CHECK(!weft_deque_pop(d, &x));
    CHECK_EQ(IDX(x), 99); /* untouched when empty */
    weft_deque_destroy(d);
}

static void steal_returns_items_oldest_first(void)
{
    weft_deque *d = weft_deque_create(8);
    REQUIRE(d != NULL);
    for (uintptr_t i = 1; i <= 5; i++)
        CHECK_ERRNO(weft_deque_push(d, ITEM(i)), 0);
    for (uintptr_t i = 1; i <= 5; i++) {
        void *x = NULL;
        CHECK_EQ(weft_deque_steal(d, &x), WEFT_STEAL_OK);
        CHECK_EQ(IDX(x), i);
    }
    void *x = ITEM(99);
    CHECK_EQ(weft_deque_steal(d, &x), WEFT_STEAL_EMPTY);
    CHECK_EQ(IDX(x), 99);
    weft_deque_destroy(d);
}

static void empty_deque_reports_empty_to_every_call(void)
{
    weft_deque *d = weft_deque_create(4);
    REQUIRE(d != NULL);
    void *x, *batch[4];
    size_t n = 7;
    CHECK(!weft_deque_pop(d, &x));
    CHECK_EQ(weft_deque_steal(d, &x), WEFT_STEAL_EMPTY);
    CHECK_EQ(weft_deque_steal_batch(d, batch, 4, &n), WEFT_STEAL_EMPTY);
    CHECK_EQ(n, 0);
    CHECK_EQ(weft_deque_size(d), 0);
    /* popping an empty deque many times must not wrap the indices */
    for (int i = 0; i < 1000; i++)
        (void)weft_deque_pop(d, &x);
    CHECK_ERRNO(weft_deque_push(d, ITEM(1)), 0);
    CHECK_EQ(weft_deque_size(d), 1);
    CHECK_EQ(weft_deque_steal(d, &x), WEFT_STEAL_OK);
    CHECK_EQ(IDX(x), 1);
    weft_deque_destroy(d);
}

static void null_is_an_item(void)
{
    weft_deque *d = weft_deque_create(2);
    REQUIRE(d != NULL);
    void *x = ITEM(1);
    CHECK_ERRNO(weft_deque_push(d, NULL), 0);
    CHECK_ERRNO(weft_deque_push(d, NULL), 0);
    CHECK_EQ(weft_deque_size(d), 2);
    CHECK(weft_deque_pop(d, &x));
    CHECK_PTR_EQ(x, NULL);
    x = ITEM(1);
    CHECK_EQ(weft_deque_steal(d, &x), WEFT_STEAL_OK);
    CHECK_PTR_EQ(x, NULL);
    CHECK(!weft_deque_pop(d, &x));
    weft_deque_destroy(d);
}

/* Capacity 1 doubles ~17 times; steals in between move top, so the live
 * range wraps around the array while it grows. */
static void growth_from_capacity_one_keeps_every_item_in_order(void)
{
    enum { N = 100000 };
    weft_deque *d = weft_deque_create(1);
    REQUIRE(d != NULL);
    uintptr_t next_steal = 0, pushed = 0, bad_order = 0;
    for (uintptr_t i = 0; i < N; i++) {
        CHECK_ERRNO(weft_deque_push(d, ITEM(i)), 0);
        pushed++;
        if (i % 3 == 2) { /* steal one for every three pushed */
            void *x;
            if (weft_deque_steal(d, &x) != WEFT_STEAL_OK || IDX(x) != next_steal)
                bad_order++;
            next_steal++;
        }
    }
    CHECK_EQ(bad_order, 0);
    CHECK_EQ(weft_deque_size(d), pushed - next_steal);
    /* the rest: newest first from the owner */
    uintptr_t expect = N;
    void *x;
    while (weft_deque_pop(d, &x)) {
        expect--;
        if (IDX(x) != expect)
            bad_order++;
    }
    CHECK_EQ(bad_order, 0);
    CHECK_EQ(expect, next_steal);
    weft_deque_destroy(d);
}

/* Random push / pop / steal / steal_batch against a plain array model. */
static void interleaved_operations_match_a_model_deque(void)
{
    enum { OPS = 200000, MODEL = 1 << 16 };
    static uintptr_t model[MODEL]; /* items [lo, hi) */
    size_t lo = 0, hi = 0;
    uint64_t seed = 0x9e3779b97f4a7c15u;
    uintptr_t next = 0, mismatches = 0;
    weft_deque *d = weft_deque_create(2);
    REQUIRE(d != NULL);
    for (int op = 0; op < OPS; op++) {
        unsigned r = (unsigned)(rnd(&seed) % 10);
        void *x;
        if (r < 4 && hi < MODEL) {
            if (weft_deque_push(d, ITEM(next)) != 0)
                mismatches++;
            model[hi++] = next++;
        } else if (r < 6) {
            bool ok = weft_deque_pop(d, &x);
            if (ok != (hi > lo) || (ok && IDX(x) != model[--hi]))
                mismatches++;
        } else if (r < 8) {
            weft_steal_result s = weft_deque_steal(d, &x);
            if (s != (hi > lo ? WEFT_STEAL_OK : WEFT_STEAL_EMPTY) ||
                (s == WEFT_STEAL_OK && IDX(x) != model[lo++]))
                mismatches++;
        } else {
            void *b[8];
            size_t n = 99, max = (size_t)(rnd(&seed) % 8) + 1;
            size_t half = (hi - lo + 1) / 2;
            size_t want = half < max ? half : max;
            weft_steal_result s = weft_deque_steal_batch(d, b, max, &n);
            if (s != (want ? WEFT_STEAL_OK : WEFT_STEAL_EMPTY) || n != want)
                mismatches++;
            for (size_t i = 0; i < n && i < want; i++)
                if (IDX(b[i]) != model[lo++])
                    mismatches++;
        }
        if (lo == hi)
            lo = hi = 0; /* keep the model small; the deque keeps counting */
        if (weft_deque_size(d) != hi - lo)
            mismatches++;
    }
    CHECK_EQ(mismatches, 0);
    CHECK_GT(next, OPS / 4); /* the walk did push a lot */
    weft_deque_destroy(d);
}

static void steal_batch_takes_the_oldest_half_in_fifo_order(void)
{
    weft_deque *d = weft_deque_create(4);
    REQUIRE(d != NULL);
    for (uintptr_t i = 0; i < 11; i++)
        CHECK_ERRNO(weft_deque_push(d, ITEM(i)), 0);
    void *b[32];
    size_t n = 0;
    CHECK_EQ(weft_deque_steal_batch(d, b, 32, &n), WEFT_STEAL_OK);
    CHECK_EQ(n, 6); /* half of 11, rounded up */
    for (size_t i = 0; i < n; i++)
        CHECK_EQ(IDX(b[i]), i);
    CHECK_EQ(weft_deque_size(d), 5);
    void *x;
    CHECK(weft_deque_pop(d, &x));
    CHECK_EQ(IDX(x), 10); /* the owner kept the newest */
    weft_deque_destroy(d);
}

static void steal_batch_takes_no_more_than_max(void)
{
    weft_deque *d = weft_deque_create(64);
    REQUIRE(d != NULL);
    for (uintptr_t i = 0; i < 40; i++)
        CHECK_ERRNO(weft_deque_push(d, ITEM(i)), 0);
    void *b[8] = { 0 };
    b[3] = ITEM(777);
    size_t n = 0;
    CHECK_EQ(weft_deque_steal_batch(d, b, 3, &n), WEFT_STEAL_OK);
    CHECK_EQ(n, 3);
    CHECK_EQ(IDX(b[0]), 0);
    CHECK_EQ(IDX(b[2]), 2);
    CHECK_EQ(IDX(b[3]), 777); /* beyond *stolen: not written */
    CHECK_EQ(weft_deque_size(d), 37);
    weft_deque_destroy(d);
}

static void steal_batch_takes_a_lone_item(void)
{
    weft_deque *d = weft_deque_create(4);
    REQUIRE(d != NULL);
    CHECK_ERRNO(weft_deque_push(d, ITEM(5)), 0);
    void *b[4];
    size_t n = 0;
    CHECK_EQ(weft_deque_steal_batch(d, b, 4, &n), WEFT_STEAL_OK);
    CHECK_EQ(n, 1);
    CHECK_EQ(IDX(b[0]), 5);
    CHECK_EQ(weft_deque_size(d), 0);
    weft_deque_destroy(d);
}

static void steal_batch_with_max_zero_takes_nothing(void)
{
    weft_deque *d = weft_deque_create(4);
    REQUIRE(d != NULL);
    CHECK_ERRNO(weft_deque_push(d, ITEM(5)), 0);
    size_t n = 9;
    CHECK_EQ(weft_deque_steal_batch(d, NULL, 0, &n), WEFT_STEAL_EMPTY);
    CHECK_EQ(n, 0);
    CHECK_EQ(weft_deque_size(d), 1);
    weft_deque_destroy(d);
}

static void size_counts_pushed_minus_taken(void)
{
    weft_deque *d = weft_deque_create(0);
    REQUIRE(d != NULL);
    CHECK_EQ(weft_deque_size(d), 0);
    for (uintptr_t i = 0; i < 100; i++)
        CHECK_ERRNO(weft_deque_push(d, ITEM(i)), 0);
    CHECK_EQ(weft_deque_size(d), 100); /* grew past the default capacity */
    void *x;
    CHECK(weft_deque_pop(d, &x));
    CHECK_EQ(weft_deque_steal(d, &x), WEFT_STEAL_OK);
    CHECK_EQ(weft_deque_size(d), 98);
    weft_deque_destroy(d);
}

static void create_rejects_a_capacity_too_large_to_address(void)
{
    errno = 0;
    CHECK(weft_deque_create(SIZE_MAX) == NULL);
    CHECK_ERRNO(errno, EINVAL);
    errno = 0;
    CHECK(weft_deque_create((SIZE_MAX >> 4) + 2) == NULL);
    CHECK_ERRNO(errno, EINVAL);
}

static void create_reports_enomem_when_memory_is_short(void)
{
    /* the largest accepted capacity: 2^60 slots, 8 EiB */
    errno = 0;
    weft_deque *d = weft_deque_create((SIZE_MAX >> 4) + 1);
    CHECK(d == NULL);
    CHECK_ERRNO(errno, ENOMEM);
    if (d != NULL)
        weft_deque_destroy(d);
}

/* ASan and TSan reserve terabytes of address space: RLIMIT_AS cannot be
 * used under them, so this test exists only without them. */
#ifndef CHECK_SANITIZED_ADDRESS_SPACE

/* In a child process with little address space left, push until growth
 * fails; exit status 0 when push said ENOMEM and lost nothing. */
static int enomem_child(void)
{
    weft_deque *d = weft_deque_create(1024);
    if (d == NULL)
        return 10;
    int limited = check_limit_address_space((size_t)64u << 20);
    if (limited != 0)
        return limited;
    uintptr_t n = 0;
    int rc;
    while ((rc = weft_deque_push(d, ITEM(n))) == 0)
        if (++n > ((uintptr_t)1 << 26)) /* 512 MiB of slots: limit ignored */
            return 13;
    if (rc != ENOMEM)
        return 14;
    if (weft_deque_size(d) != n || weft_deque_push(d, ITEM(n)) != ENOMEM)
        return 15;
    void *x;
    if (weft_deque_steal(d, &x) != WEFT_STEAL_OK || IDX(x) != 0)
        return 16; /* thieves still see the oldest item */
    while (n > 1) {
        if (!weft_deque_pop(d, &x) || IDX(x) != --n)
            return 17; /* and the owner every other one, newest first */
    }
    if (weft_deque_pop(d, &x))
        return 18;
    weft_deque_destroy(d);
    return 0;
}

static void push_reports_enomem_and_loses_nothing_when_growth_fails(void)
{
    CHECK_EQ_I(check_in_child(enomem_child), 0); /* see enomem_child for the codes */
}
#define RLIMIT_CASES CASE(push_reports_enomem_and_loses_nothing_when_growth_fails),
#else
#define RLIMIT_CASES
#endif

/* ---- races ---------------------------------------------------------------- */

enum { RACE_THIEVES = 3 };

struct race {
    weft_deque *d;
    atomic_uchar *seen; /* takes per item id */
    atomic_uint stop;
    atomic_ulong by_thieves;
    atomic_ulong retries;
};

static void *race_thief(void *arg)
{
    struct race *r = arg;
    unsigned long mine = 0, retries = 0, empty = 0;
    /* acquire: pairs with the owner's release of stop; all pushes are done */
    while (!atomic_load_explicit(&r->stop, memory_order_acquire)) {
        void *x;
        weft_steal_result s = weft_deque_steal(r->d, &x);
        if (s == WEFT_STEAL_OK) {
            atomic_fetch_add_explicit(&r->seen[IDX(x)], 1, memory_order_relaxed);
            mine++;
        } else if (s == WEFT_STEAL_RETRY) {
            retries++;
        } else if (++empty % 256 == 0) {
            sched_yield(); /* more threads than cores: let the owner run */
        }
    }
    atomic_fetch_add_explicit(&r->by_thieves, mine, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->retries, retries, memory_order_relaxed);
    return NULL;
}

/* The owner pushes 1..max_items items and pops until empty, over and over,
 * while three thieves steal non-stop: the last item of each round is raced
 * for by the owner's pop and the thieves' steals.  Every item must be taken
 * exactly once.  Returns the number of items taken zero or several times. */
static unsigned long race_rounds(size_t n, unsigned max_items)
{
    struct race r;
    pthread_t th[RACE_THIEVES];
    r.d = weft_deque_create(4);
    r.seen = calloc(n, sizeof *r.seen);
    if (r.d == NULL || r.seen == NULL)
        return n;
    atomic_init(&r.stop, 0);
    atomic_init(&r.by_thieves, 0);
    atomic_init(&r.retries, 0);
    for (int i = 0; i < RACE_THIEVES; i++)
        pthread_create(&th[i], NULL, race_thief, &r);
    uint64_t seed = 12345;
    unsigned long popped = 0;
    for (size_t id = 0; id < n;) {
        unsigned items = 1 + (unsigned)(rnd(&seed) % max_items);
        for (unsigned i = 0; i < items && id < n; i++)
            (void)weft_deque_push(r.d, ITEM(id++));
        /* a random short pause (none half of the time) moves the point
         * where the thieves' steals land relative to the owner's pop */
        uint64_t coin = rnd(&seed);
        for (unsigned delay = coin & 1 ? (unsigned)(coin >> 1) % 64 : 0; delay; delay--)
            atomic_signal_fence(memory_order_seq_cst);
        void *x;
        while (weft_deque_pop(r.d, &x)) {
            atomic_fetch_add_explicit(&r.seen[IDX(x)], 1, memory_order_relaxed);
            popped++;
        }
    }
    /* release: pairs with the thieves' acquire of stop */
    atomic_store_explicit(&r.stop, 1, memory_order_release);
    for (int i = 0; i < RACE_THIEVES; i++)
        pthread_join(th[i], NULL);
    unsigned long wrong = 0;
    for (size_t i = 0; i < n; i++)
        wrong += atomic_load_explicit(&r.seen[i], memory_order_relaxed) != 1;
    printf("# %zu items: owner popped %lu, thieves stole %lu (%lu lost races)\n", n, popped,
           (unsigned long)atomic_load_explicit(&r.by_thieves, memory_order_relaxed),
           (unsigned long)atomic_load_explicit(&r.retries, memory_order_relaxed));
    free(r.seen);
    weft_deque_destroy(r.d);
    return wrong;
}

static void one_item_race_between_pop_and_steals_has_one_winner(void)
{
    CHECK_EQ(race_rounds(2000000 / SCALE, 1), 0);
}

static void last_few_items_race_hands_each_item_out_once(void)
{
    CHECK_EQ(race_rounds(2000000 / SCALE, 4), 0);
}

/* ---- exactly once, with payloads ------------------------------------------- */

enum { EO_THIEVES = 5, EO_BATCH_THIEVES = 2 };

struct payload {
    uint64_t id;
    uint64_t check; /* ~id * a constant: written before the push */
    char bytes[48];
};

struct eo {
    weft_deque *d;
    size_t n;
    atomic_uchar *seen;
    atomic_uint finished; /* the owner pushed everything and drained */
    atomic_ulong bad;     /* payloads that failed their check */
    atomic_ulong by_thieves;
    atomic_ulong batches;   /* steal_batch calls that returned > 1 item */
    atomic_ulong unordered; /* batches not in FIFO order */
};

static uint64_t payload_check(uint64_t id)
{
    return ~id * 0x9e3779b97f4a7c15u;
}

/* Check a payload, count it, free it (a missing release/acquire shows up
 * here under TSan: the thief reads what the owner wrote before the push). */
static void eo_take(struct eo *e, struct payload *p)
{
    bool ok = p->id < e->n && p->check == payload_check(p->id) && p->bytes[0] == (char)p->id &&
              p->bytes[47] == (char)~p->id;
    if (ok)
        atomic_fetch_add_explicit(&e->seen[p->id], 1, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&e->bad, 1, memory_order_relaxed);
    free(p);
}

struct eo_thief {
    struct eo *e;
    bool batch;
};

static void *eo_thief_run(void *arg)
{
    struct eo_thief *t = arg;
    struct eo *e = t->e;
    unsigned long mine = 0, spins = 0;
    for (;;) {
        /* acquire: pairs with the owner's release of finished; after it
         * nothing is pushed any more, so EMPTY is final */
        bool last = atomic_load_explicit(&e->finished, memory_order_acquire);
        weft_steal_result s;
        if (t->batch) {
            void *b[16];
            size_t n = 0;
            s = weft_deque_steal_batch(e->d, b, 16, &n);
            /* consecutive indices, oldest first: ids strictly increase
             * (checked before eo_take frees them) */
            for (size_t i = 1; i < n; i++)
                if (((struct payload *)b[i])->id <= ((struct payload *)b[i - 1])->id)
                    atomic_fetch_add_explicit(&e->unordered, 1, memory_order_relaxed);
            for (size_t i = 0; i < n; i++)
                eo_take(e, b[i]);
            mine += n;
            if (n > 1)
                atomic_fetch_add_explicit(&e->batches, 1, memory_order_relaxed);
        } else {
            void *x;
            s = weft_deque_steal(e->d, &x);
            if (s == WEFT_STEAL_OK) {
                eo_take(e, x);
                mine++;
            }
        }
        if (s == WEFT_STEAL_EMPTY) {
            if (last)
                break;
            if (++spins % 16 == 0)
                sched_yield();
        }
    }
    atomic_fetch_add_explicit(&e->by_thieves, mine, memory_order_relaxed);
    return NULL;
}

static void every_item_is_taken_exactly_once_by_owner_or_thieves(void)
{
    struct eo e;
    e.n = 2000000 / SCALE;
    e.d = weft_deque_create(2); /* grows many times while thieves steal */
    e.seen = calloc(e.n, sizeof *e.seen);
    REQUIRE(e.d != NULL && e.seen != NULL);
    atomic_init(&e.finished, 0);
    atomic_init(&e.bad, 0);
    atomic_init(&e.by_thieves, 0);
    atomic_init(&e.batches, 0);
    atomic_init(&e.unordered, 0);
    struct eo_thief args[EO_THIEVES];
    pthread_t th[EO_THIEVES];
    for (int i = 0; i < EO_THIEVES; i++) {
        args[i].e = &e;
        args[i].batch = i < EO_BATCH_THIEVES;
        pthread_create(&th[i], NULL, eo_thief_run, &args[i]);
    }
    uint64_t seed = 777;
    unsigned long popped = 0, push_failed = 0;
    size_t id = 0;
    while (id < e.n) {
        /* a burst of pushes (sizes vary widely so the array keeps growing
         * while thieves hold older arrays), then a few pops */
        size_t burst = (size_t)1 << (rnd(&seed) % 13);
        for (size_t i = 0; i < burst && id < e.n; i++, id++) {
            struct payload *p = malloc(sizeof *p);
            if (p == NULL)
                break;
            p->id = id;
            p->check = payload_check(id);
            memset(p->bytes, 0, sizeof p->bytes);
            p->bytes[0] = (char)id;
            p->bytes[47] = (char)~id;
            if (weft_deque_push(e.d, p) != 0) {
                push_failed++;
                free(p);
            }
        }
        for (size_t pops = (size_t)(rnd(&seed) % (burst + 1)); pops; pops--) {
            void *x;
            if (!weft_deque_pop(e.d, &x))
                break;
            eo_take(&e, x);
            popped++;
        }
    }
    void *x;
    while (weft_deque_pop(e.d, &x)) {
        eo_take(&e, x);
        popped++;
    }
    /* release: pairs with the thieves' acquire of finished */
    atomic_store_explicit(&e.finished, 1, memory_order_release);
    for (int i = 0; i < EO_THIEVES; i++)
        pthread_join(th[i], NULL);

    unsigned long missing = 0, twice = 0;
    for (size_t i = 0; i < e.n; i++) {
        unsigned c = atomic_load_explicit(&e.seen[i], memory_order_relaxed);
        missing += c == 0;
        twice += c > 1;
    }
    unsigned long stolen = atomic_load_explicit(&e.by_thieves, memory_order_relaxed);
    CHECK_EQ(push_failed, 0);
    CHECK_EQ(atomic_load_explicit(&e.bad, memory_order_relaxed), 0);
    CHECK_EQ(missing, 0);
    CHECK_EQ(twice, 0);
    CHECK_EQ(atomic_load_explicit(&e.unordered, memory_order_relaxed), 0);
    CHECK_EQ(popped + stolen, e.n);
    CHECK_GT(stolen, 0); /* the thieves did take part */
    printf("# owner popped %lu, thieves stole %lu (%lu batches of 2+)\n", popped, stolen,
           (unsigned long)atomic_load_explicit(&e.batches, memory_order_relaxed));
    free(e.seen);
    weft_deque_destroy(e.d);
}

CHECK_MAIN(CASE(pop_returns_items_newest_first), CASE(steal_returns_items_oldest_first),
           CASE(empty_deque_reports_empty_to_every_call), CASE(null_is_an_item),
           CASE(growth_from_capacity_one_keeps_every_item_in_order),
           CASE(interleaved_operations_match_a_model_deque),
           CASE(steal_batch_takes_the_oldest_half_in_fifo_order),
           CASE(steal_batch_takes_no_more_than_max), CASE(steal_batch_takes_a_lone_item),
           CASE(steal_batch_with_max_zero_takes_nothing), CASE(size_counts_pushed_minus_taken),
           CASE(create_rejects_a_capacity_too_large_to_address),
           CASE(create_reports_enomem_when_memory_is_short),
           RLIMIT_CASES CASE(one_item_race_between_pop_and_steals_has_one_winner),
           CASE(last_few_items_race_hands_each_item_out_once),
           CASE(every_item_is_taken_exactly_once_by_owner_or_thieves))
