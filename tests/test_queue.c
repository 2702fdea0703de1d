/* Unit tests of weft_queue (include/weft/queue.h). */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <weft/queue.h>

#include "check.h"

enum { SEG = 2024, SEG_BYTES = 32768 }; /* src/queue.c's segment */

#define ITEM(i) ((void *)(uintptr_t)(i))

static void empty_queue_pops_nothing(void)
{
    weft_queue *q = weft_queue_create();
    REQUIRE(q != NULL);
    void *item = ITEM(7);
    CHECK(!weft_queue_try_pop(q, &item));
    CHECK_PTR_EQ(item, ITEM(7)); /* untouched */
    CHECK_EQ(weft_queue_try_pop_many(q, &item, 1), 0);
    CHECK_EQ(weft_queue_size(q), 0);
    CHECK_EQ_I(weft_queue_pop_timed(q, &item, 0), ETIMEDOUT);
    CHECK(!weft_queue_closed(q));
    CHECK_LE(weft_queue_memory(q), SEG_BYTES + 1024);
    weft_queue_destroy(q);
    weft_queue_destroy(NULL);
}

static void one_item_round_trips_and_null_is_an_item(void)
{
    weft_queue *q = weft_queue_create();
    REQUIRE(q != NULL);
    void *item = ITEM(1);
    CHECK_EQ_I(weft_queue_push(q, NULL), 0);
    CHECK_EQ(weft_queue_size(q), 1);
    CHECK(weft_queue_try_pop(q, &item));
    CHECK_PTR_EQ(item, NULL);
    CHECK_EQ_I(weft_queue_push(q, ITEM(UINTPTR_MAX)), 0);
    CHECK_EQ_I(weft_queue_pop(q, &item), 0);
    CHECK_PTR_EQ(item, ITEM(UINTPTR_MAX));
    CHECK(!weft_queue_try_pop(q, &item));
    weft_queue_destroy(q);
}

static void fifo_across_many_segment_boundaries(void)
{
    weft_queue *q = weft_queue_create();
    REQUIRE(q != NULL);
    const size_t n = 10 * SEG + 17;
    for (size_t i = 0; i < n; i++)
        REQUIRE(weft_queue_push(q, ITEM(i)) == 0);
    CHECK_EQ(weft_queue_size(q), n);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        void *item;
        if (!weft_queue_try_pop(q, &item) || item != ITEM(i))
            bad++;
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(weft_queue_size(q), 0);
    /* interleaved, so that head and tail cross boundaries together */
    for (size_t i = 0; i < 3 * SEG; i++) {
        void *item;
        REQUIRE(weft_queue_push(q, ITEM(i)) == 0);
        if (!weft_queue_try_pop(q, &item) || item != ITEM(i))
            bad++;
    }
    CHECK_EQ(bad, 0);
    weft_queue_destroy(q);
}

static void push_many_and_pop_many_keep_order_across_segments(void)
{
    weft_queue *q = weft_queue_create();
    REQUIRE(q != NULL);
    enum { N = 3 * SEG + 5 };
    static void *in[N], *out[N];
    for (size_t i = 0; i < N; i++)
        in[i] = ITEM(i + 1);
    CHECK_EQ(weft_queue_push_many(q, in, N), N);
    CHECK_EQ(weft_queue_push_many(q, in, 0), 0);
    size_t got = 0;
    while (got < N) {
        size_t k = weft_queue_try_pop_many(q, out + got, 1000);
        REQUIRE(k > 0);
        got += k;
    }
    size_t bad = 0;
    for (size_t i = 0; i < N; i++)
        bad += out[i] != in[i];
    CHECK_EQ(bad, 0);
    CHECK_EQ(weft_queue_try_pop_many(q, out, 10), 0);
    weft_queue_destroy(q);
}

static void close_refuses_pushes_and_drains_then_epipe(void)
{
    weft_queue *q = weft_queue_create();
    REQUIRE(q != NULL);
    CHECK_EQ_I(weft_queue_push(q, ITEM(1)), 0);
    CHECK_EQ_I(weft_queue_push(q, ITEM(2)), 0);
    weft_queue_close(q);
    weft_queue_close(q); /* idempotent */
    CHECK(weft_queue_closed(q));
    CHECK_EQ_I(weft_queue_push(q, ITEM(3)), EPIPE);
    void *many[2] = { ITEM(4), ITEM(5) };
    errno = 0;
    CHECK_EQ(weft_queue_push_many(q, many, 2), 0);
    CHECK_EQ_I(errno, EPIPE);
    void *item;
    CHECK_EQ_I(weft_queue_pop(q, &item), 0);
    CHECK_PTR_EQ(item, ITEM(1));
    CHECK_EQ_I(weft_queue_pop_timed(q, &item, 0), 0);
    CHECK_PTR_EQ(item, ITEM(2));
    CHECK_EQ_I(weft_queue_pop(q, &item), EPIPE);
    CHECK_EQ_I(weft_queue_pop_timed(q, &item, 0), EPIPE);
    CHECK_EQ_I(weft_queue_pop_timed(q, &item, 1000000), EPIPE);
    weft_queue_destroy(q);
}

static void pop_timed_times_out_on_an_empty_queue(void)
{
    weft_queue *q = weft_queue_create();
    REQUIRE(q != NULL);
    void *item;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    CHECK_EQ_I(weft_queue_pop_timed(q, &item, 20000000), ETIMEDOUT); /* 20 ms */
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ms = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
    CHECK(ms >= 19.0); /* not before the deadline (no upper bound: timing) */
    weft_queue_destroy(q);
}

struct popper {
    weft_queue *q;
    int rc;
    void *item;
};

static void *pop_one(void *arg)
{
    struct popper *p = arg;
    p->rc = weft_queue_pop(p->q, &p->item);
    return NULL;
}

static void a_parked_pop_gets_a_later_push(void)
{
    weft_queue *q = weft_queue_create();
    REQUIRE(q != NULL);
    struct popper p = { q, -1, NULL };
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, pop_one, &p) == 0);
    struct timespec ts = { 0, 50000000 }; /* long enough to park */
    nanosleep(&ts, NULL);
    CHECK_EQ_I(weft_queue_push(q, ITEM(42)), 0);
    pthread_join(t, NULL);
    CHECK_EQ_I(p.rc, 0);
    CHECK_PTR_EQ(p.item, ITEM(42));
    weft_queue_destroy(q);
}

static void close_wakes_every_parked_consumer(void)
{
    weft_queue *q = weft_queue_create();
    REQUIRE(q != NULL);
    enum { N = 4 };
    struct popper p[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        p[i] = (struct popper){ q, -1, NULL };
        REQUIRE(pthread_create(&t[i], NULL, pop_one, &p[i]) == 0);
    }
    struct timespec ts = { 0, 50000000 };
    nanosleep(&ts, NULL);
    weft_queue_close(q);
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        CHECK_EQ_I(p[i].rc, EPIPE);
    }
    weft_queue_destroy(q);
}

/* Producers push (id, seq) items; consumers pop until EPIPE; every item is
 * seen once and each producer's items arrive in order. */
enum { MP = 4, MC = 4, PER_PRODUCER = 50000 };

struct mp_arg {
    weft_queue *q;
    int id;
    atomic_int *producers_left;
};

static void *mp_producer(void *arg)
{
    struct mp_arg *a = arg;
    for (uintptr_t s = 0; s < PER_PRODUCER; s++) {
        void *item = ITEM((uintptr_t)a->id << 32 | s);
        if (s % 64 == 0) {
            void *batch[1] = { item };
            if (weft_queue_push_many(a->q, batch, 1) != 1)
                abort();
        } else if (weft_queue_push(a->q, item) != 0) {
            abort();
        }
    }
    if (atomic_fetch_sub(a->producers_left, 1) == 1)
        weft_queue_close(a->q);
    return NULL;
}

struct mc_result {
    weft_queue *q;
    uint64_t last[MP]; /* next sequence expected per producer */
    long got, order_errors;
    unsigned char *seen;
};

static void *mc_consumer(void *arg)
{
    struct mc_result *r = arg;
    void *item;
    while (weft_queue_pop(r->q, &item) == 0) {
        uintptr_t v = (uintptr_t)item;
        int id = (int)(v >> 32);
        uint64_t s = v & 0xffffffffu;
        if (s < r->last[id])
            r->order_errors++;
        r->last[id] = s + 1;
        /* relaxed-free: each consumer writes distinct bytes (items are
         * popped once), read after join */
        r->seen[id * PER_PRODUCER + s]++;
        r->got++;
    }
    return NULL;
}

static void producers_and_consumers_exactly_once_in_producer_order(void)
{
    weft_queue *q = weft_queue_create();
    REQUIRE(q != NULL);
    unsigned char *seen = calloc(MP * PER_PRODUCER, MC);
    REQUIRE(seen != NULL);
    atomic_int left = MP;
    struct mp_arg pa[MP];
    struct mc_result cr[MC];
    pthread_t pt[MP], ct[MC];
    for (int i = 0; i < MC; i++) {
        cr[i] = (struct mc_result){ .q = q, .seen = seen + (size_t)i * MP * PER_PRODUCER };
        REQUIRE(pthread_create(&ct[i], NULL, mc_consumer, &cr[i]) == 0);
    }
    for (int i = 0; i < MP; i++) {
        pa[i] = (struct mp_arg){ q, i, &left };
        REQUIRE(pthread_create(&pt[i], NULL, mp_producer, &pa[i]) == 0);
    }
    long got = 0, order = 0;
    for (int i = 0; i < MP; i++)
        pthread_join(pt[i], NULL);
    for (int i = 0; i < MC; i++) {
        pthread_join(ct[i], NULL);
        got += cr[i].got;
        order += cr[i].order_errors;
    }
    long once = 0;
    for (size_t k = 0; k < (size_t)MP * PER_PRODUCER; k++) {
        int n = 0;
        for (int c = 0; c < MC; c++)
            n += seen[(size_t)c * MP * PER_PRODUCER + k];
        once += n == 1;
    }
    CHECK_EQ(got, (long)MP * PER_PRODUCER);
    CHECK_EQ(once, (long)MP * PER_PRODUCER);
    CHECK_EQ(order, 0);
    free(seen);
    weft_queue_destroy(q);
}

static long resident_kb(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void memory_is_given_back_after_a_burst(void)
{
    weft_queue *q = weft_queue_create();
    REQUIRE(q != NULL);
    long rss0 = resident_kb();
    enum { INSIDE = 1000000 };
    for (uintptr_t i = 0; i < INSIDE; i++)
        REQUIRE(weft_queue_push(q, ITEM(i)) == 0);
    size_t held = weft_queue_memory(q);
    CHECK_LE(held, (size_t)INSIDE * 24); /* at most 24 bytes per queued item */
    long rss1 = resident_kb();
    size_t bad = 0;
    void *item;
    for (uintptr_t i = 0; i < INSIDE; i++)
        bad += !weft_queue_try_pop(q, &item) || item != ITEM(i);
    CHECK_EQ(bad, 0);
    CHECK(!weft_queue_try_pop(q, &item)); /* empty: frees what it retired */
    CHECK_LE(weft_queue_memory(q), 2 * SEG_BYTES + 1024);
    long rss2 = resident_kb();
#ifdef CHECK_SANITIZED_ADDRESS_SPACE
    rss0 = -1; /* the sanitizers' shadow memory grows with the burst and stays */
#endif
    if (rss0 >= 0) {
        CHECK_GT(rss1 - rss0, INSIDE * 16 / 1024 / 2); /* the burst was resident */
        CHECK_LT(rss2 - rss0, 2048);                   /* and went back */
    }
    weft_queue_destroy(q);
}

/* 10^7 items through 2 producers and 2 consumers; once they exited, the
 * queue holds at most two segments. */
enum { BIG_PER_PRODUCER = 5000000 };

static void *big_producer(void *arg)
{
    weft_queue *q = arg;
    for (uintptr_t s = 0; s < BIG_PER_PRODUCER; s++)
        if (weft_queue_push(q, ITEM(s)) != 0)
            abort();
    return NULL;
}

static void *big_consumer(void *arg)
{
    weft_queue *q = arg;
    long got = 0;
    void *item;
    while (weft_queue_pop(q, &item) == 0)
        got++;
    return (void *)(intptr_t)got;
}

static void ten_million_items_leave_two_segments(void)
{
    weft_queue *q = weft_queue_create();
    REQUIRE(q != NULL);
    pthread_t p[2], c[2];
    for (int i = 0; i < 2; i++) {
        REQUIRE(pthread_create(&c[i], NULL, big_consumer, q) == 0);
        REQUIRE(pthread_create(&p[i], NULL, big_producer, q) == 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(p[i], NULL);
    weft_queue_close(q);
    long got = 0;
    for (int i = 0; i < 2; i++) {
        void *r;
        pthread_join(c[i], &r);
        got += (long)(intptr_t)r;
    }
    CHECK_EQ(got, 2L * BIG_PER_PRODUCER);
    CHECK_EQ(weft_queue_size(q), 0);
    CHECK_LE(weft_queue_memory(q), 2 * SEG_BYTES + 1024);
    weft_queue_destroy(q);
}

/* Under an address-space limit pushes fail with ENOMEM, lose nothing, and
 * the queue works again once memory is there.  In a child process. */
static void push_reports_enomem_under_an_address_space_limit(void)
{
#ifdef CHECK_SANITIZED_ADDRESS_SPACE
    CHECK(true); /* the sanitizers reserve terabytes of address space */
    return;
#else
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        weft_queue *q = weft_queue_create();
        if (q == NULL)
            _exit(10);
        struct rlimit rl;
        getrlimit(RLIMIT_AS, &rl);
        FILE *f = fopen("/proc/self/statm", "r");
        long pages = 0;
        if (f == NULL || fscanf(f, "%ld", &pages) != 1)
            _exit(11);
        fclose(f);
        rl.rlim_cur = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (16u << 20);
        if (setrlimit(RLIMIT_AS, &rl) != 0)
            _exit(12);
        uintptr_t n = 0;
        int rc;
        while ((rc = weft_queue_push(q, ITEM(n))) == 0)
            n++;
        if (rc != ENOMEM || n < SEG)
            _exit(13);
        void *many[1] = { ITEM(n) };
        errno = 0;
        if (weft_queue_push_many(q, many, 1) != 0 || errno != ENOMEM)
            _exit(14);
        for (uintptr_t i = 0; i < n; i++) { /* nothing lost, in order */
            void *item;
            if (!weft_queue_try_pop(q, &item) || item != ITEM(i))
                _exit(15);
        }
        if (weft_queue_push(q, ITEM(1)) != 0) /* memory came back */
            _exit(16);
        weft_queue_destroy(q);
        _exit(0);
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK_EQ_I(WEXITSTATUS(status), 0);
#endif
}

CHECK_MAIN(CASE(empty_queue_pops_nothing), CASE(one_item_round_trips_and_null_is_an_item),
           CASE(fifo_across_many_segment_boundaries),
           CASE(push_many_and_pop_many_keep_order_across_segments),
           CASE(close_refuses_pushes_and_drains_then_epipe),
           CASE(pop_timed_times_out_on_an_empty_queue), CASE(a_parked_pop_gets_a_later_push),
           CASE(close_wakes_every_parked_consumer),
           CASE(producers_and_consumers_exactly_once_in_producer_order),
           CASE(memory_is_given_back_after_a_burst), CASE(ten_million_items_leave_two_segments),
           CASE(push_reports_enomem_under_an_address_space_limit))
