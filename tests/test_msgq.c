/* Unit tests for weft/msgq.h. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include <weft/msgq.h>

#define CHECK_TIMEOUT_S 120
#include "check.h"

/* The byte at index i of the message (producer p, number k): every byte is
 * checked by the receiver, so a torn or misplaced copy shows. */
static unsigned char pattern(unsigned p, uint64_t k, size_t i)
{
    return (unsigned char)(p * 131u + k * 7u + i * 13u + (i >> 8));
}

/* A message of len >= 12 bytes: producer, number, then the pattern. */
static void make_msg(unsigned char *m, size_t len, unsigned p, uint64_t k)
{
    memcpy(m, &p, 4);
    memcpy(m + 4, &k, 8);
    for (size_t i = 12; i < len; i++)
        m[i] = pattern(p, k, i);
}

/* Does m (len bytes) hold a message of make_msg?  Its producer and number
 * go to *p and *k. */
static bool good_msg(const unsigned char *m, size_t len, unsigned *p, uint64_t *k)
{
    *p = 0;
    *k = 0;
    if (len < 12)
        return false;
    memcpy(p, m, 4);
    memcpy(k, m + 4, 8);
    for (size_t i = 12; i < len; i++)
        if (m[i] != pattern(*p, *k, i))
            return false;
    return true;
}

/* ---- single-threaded behaviour ------------------------------------------ */

static void new_queue_is_empty_and_open(void)
{
    weft_msgq *q = weft_msgq_create(1024);
    REQUIRE(q != NULL);
    char buf[8];
    size_t len = 99;
    CHECK_EQ(weft_msgq_capacity(q), 1024);
    CHECK_EQ(weft_msgq_max_message(q), 1024);
    CHECK_EQ(weft_msgq_bytes_used(q), 0);
    CHECK(!weft_msgq_closed(q));
    CHECK_ERRNO(weft_msgq_try_recv(q, buf, sizeof buf, &len), EAGAIN);
    CHECK_EQ(len, 99); /* untouched when empty */
    weft_msgq_destroy(q);
}

static void capacity_is_rounded_up_to_a_power_of_two_cells(void)
{
    static const size_t asked[] = { 1, 63, 64, 65, 200, 4096, 4097 };
    static const size_t got[] = { 64, 64, 64, 128, 256, 4096, 8192 };
    for (size_t i = 0; i < sizeof asked / sizeof asked[0]; i++) {
        weft_msgq *q = weft_msgq_create(asked[i]);
        REQUIRE(q != NULL);
        CHECK_EQ(weft_msgq_capacity(q), got[i]);
        CHECK_EQ(weft_msgq_footprint(asked[i]), weft_msgq_footprint(got[i]));
        weft_msgq_destroy(q);
    }
}

static void messages_come_out_in_order_with_their_bytes(void)
{
    weft_msgq *q = weft_msgq_create(8192);
    REQUIRE(q != NULL);
    static const size_t lens[] = { 12, 13, 63, 64, 65, 127, 128, 129, 700, 1000 };
    enum { N = sizeof lens / sizeof lens[0] };
    unsigned char m[1024];
    for (size_t i = 0; i < N; i++) {
        make_msg(m, lens[i], 1, i);
        CHECK_ERRNO(weft_msgq_try_send(q, m, lens[i]), 0);
    }
    for (size_t i = 0; i < N; i++) {
        size_t len = 0;
        unsigned p;
        uint64_t k;
        memset(m, 0, sizeof m);
        CHECK_ERRNO(weft_msgq_try_recv(q, m, sizeof m, &len), 0);
        CHECK_EQ(len, lens[i]);
        CHECK(good_msg(m, len, &p, &k));
        CHECK_EQ(k, i);
    }
    CHECK_EQ(weft_msgq_bytes_used(q), 0);
    weft_msgq_destroy(q);
}

static void empty_messages_are_ordinary_messages(void)
{
    weft_msgq *q = weft_msgq_create(128); /* two cells */
    REQUIRE(q != NULL);
    size_t len = 5;
    CHECK_ERRNO(weft_msgq_try_send(q, NULL, 0), 0);
    CHECK_ERRNO(weft_msgq_try_send(q, "x", 1), 0);
    CHECK_ERRNO(weft_msgq_try_send(q, NULL, 0), EAGAIN); /* each takes a cell */
    CHECK_EQ(weft_msgq_bytes_used(q), 128);
    CHECK_ERRNO(weft_msgq_try_recv(q, NULL, 0, &len), 0);
    CHECK_EQ(len, 0);
    char c = 0;
    CHECK_ERRNO(weft_msgq_try_recv(q, &c, 1, &len), 0);
    CHECK_EQ(len, 1);
    CHECK_EQ_I(c, 'x');
    weft_msgq_destroy(q);
}

static void a_message_as_long_as_the_queue_fits_and_a_longer_one_is_refused(void)
{
    weft_msgq *q = weft_msgq_create(256);
    REQUIRE(q != NULL);
    unsigned char m[257], out[257];
    make_msg(m, sizeof m, 3, 9);
    CHECK_ERRNO(weft_msgq_try_send(q, m, 257), EMSGSIZE);
    CHECK_ERRNO(weft_msgq_send(q, m, 257), EMSGSIZE);
    CHECK_ERRNO(weft_msgq_send_timed(q, m, 257, 1000), EMSGSIZE);
    CHECK_EQ(weft_msgq_bytes_used(q), 0); /* nothing half-sent */
    CHECK_ERRNO(weft_msgq_try_send(q, m, 256), 0);
    CHECK_ERRNO(weft_msgq_try_send(q, m, 1), EAGAIN);
    size_t len = 0;
    unsigned p;
    uint64_t k;
    CHECK_ERRNO(weft_msgq_try_recv(q, out, sizeof out, &len), 0);
    CHECK_EQ(len, 256);
    CHECK(good_msg(out, len, &p, &k) && p == 3 && k == 9);
    weft_msgq_destroy(q);
}

static void full_queue_refuses_try_send_until_a_receive(void)
{
    weft_msgq *q = weft_msgq_create(256); /* 4 cells */
    REQUIRE(q != NULL);
    unsigned char m[100] = { 0 }, out[100];
    CHECK_ERRNO(weft_msgq_try_send(q, m, 100), 0);     /* 2 cells */
    CHECK_ERRNO(weft_msgq_try_send(q, m, 64), 0);      /* 1 */
    CHECK_ERRNO(weft_msgq_try_send(q, m, 65), EAGAIN); /* needs 2, 1 left */
    CHECK_ERRNO(weft_msgq_try_send(q, m, 10), 0);
    CHECK_EQ(weft_msgq_bytes_used(q), 256);
    size_t len;
    CHECK_ERRNO(weft_msgq_try_recv(q, out, sizeof out, &len), 0);
    CHECK_EQ(len, 100);
    CHECK_ERRNO(weft_msgq_try_send(q, m, 65), 0); /* the two freed cells */
    weft_msgq_destroy(q);
}

static void a_too_small_buffer_gets_emsgsize_and_the_length_and_the_message_stays(void)
{
    weft_msgq *q = weft_msgq_create(1024);
    REQUIRE(q != NULL);
    unsigned char m[300], out[300];
    make_msg(m, sizeof m, 2, 5);
    CHECK_ERRNO(weft_msgq_try_send(q, m, sizeof m), 0);
    size_t len = 0;
    CHECK_ERRNO(weft_msgq_try_recv(q, out, 299, &len), EMSGSIZE);
    CHECK_EQ(len, 300);
    CHECK_ERRNO(weft_msgq_recv(q, out, 10, &len), EMSGSIZE);
    CHECK_ERRNO(weft_msgq_recv_timed(q, NULL, 0, &len, 1000000), EMSGSIZE);
    CHECK_EQ(len, 300);
    CHECK_EQ(weft_msgq_bytes_used(q), 320);
    unsigned p;
    uint64_t k;
    CHECK_ERRNO(weft_msgq_try_recv(q, out, sizeof out, &len), 0);
    CHECK(good_msg(out, len, &p, &k) && p == 2 && k == 5);
    weft_msgq_destroy(q);
}

/* Lengths that make messages start and end everywhere in the data area and
 * wrap around its end on many laps. */
static void messages_wrapping_around_the_end_keep_their_bytes(void)
{
    weft_msgq *q = weft_msgq_create(1024); /* 16 cells */
    REQUIRE(q != NULL);
    unsigned char m[600], out[600];
    uint64_t sent = 0, got = 0, bad = 0;
    uint64_t rng = 12345;
    for (int round = 0; round < 5000; round++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        size_t len = 12 + (size_t)(rng >> 33) % (sizeof m - 12);
        make_msg(m, len, 0, sent);
        if (weft_msgq_try_send(q, m, len) == 0)
            sent++;
        if ((rng >> 20) & 1) {
            size_t n;
            unsigned p;
            uint64_t k;
            if (weft_msgq_try_recv(q, out, sizeof out, &n) == 0) {
                bad += !good_msg(out, n, &p, &k) || k != got;
                got++;
            }
        }
    }
    size_t n;
    unsigned p;
    uint64_t k;
    while (weft_msgq_try_recv(q, out, sizeof out, &n) == 0) {
        bad += !good_msg(out, n, &p, &k) || k != got;
        got++;
    }
    CHECK_GT(sent, 2000);
    CHECK_EQ(got, sent);
    CHECK_EQ(bad, 0);
    weft_msgq_destroy(q);
}

static void send_many_sends_the_prefix_that_fits(void)
{
    weft_msgq *q = weft_msgq_create(256); /* 4 cells */
    REQUIRE(q != NULL);
    unsigned char a[64], b[100], c[64], out[256];
    make_msg(a, sizeof a, 1, 0);
    make_msg(b, sizeof b, 1, 1);
    make_msg(c, sizeof c, 1, 2);
    const void *msgs[] = { a, b, c, a };
    size_t lens[] = { sizeof a, sizeof b, sizeof c, sizeof a };
    CHECK_EQ(weft_msgq_try_send_many(q, msgs, lens, 0), 0);
    CHECK_EQ(weft_msgq_try_send_many(q, msgs, lens, 4), 3); /* 1 + 2 + 1 cells */
    CHECK_EQ(weft_msgq_try_send_many(q, msgs, lens, 4), 0); /* full */
    size_t got[4] = { 0 };
    /* packed one after the other, as many as fit in cap */
    CHECK_EQ(weft_msgq_try_recv_many(q, out, 170, got, 4), 2);
    CHECK_EQ(got[0], 64);
    CHECK_EQ(got[1], 100);
    unsigned p;
    uint64_t k;
    CHECK(good_msg(out, 64, &p, &k) && k == 0);
    CHECK(good_msg(out + 64, 100, &p, &k) && k == 1);
    CHECK_EQ(weft_msgq_try_recv_many(q, out, 10, got, 4), 0); /* too long for cap */
    CHECK_EQ(weft_msgq_try_recv_many(q, out, sizeof out, got, 4), 1);
    CHECK(good_msg(out, got[0], &p, &k) && k == 2);
    CHECK_EQ(weft_msgq_try_recv_many(q, out, sizeof out, got, 4), 0); /* empty */
    weft_msgq_destroy(q);
}

static void send_many_stops_before_a_message_that_never_fits(void)
{
    weft_msgq *q = weft_msgq_create(128);
    REQUIRE(q != NULL);
    unsigned char big[200] = { 0 };
    const void *msgs[] = { "ab", big, "cd" };
    size_t lens[] = { 2, sizeof big, 2 };
    CHECK_EQ(weft_msgq_try_send_many(q, msgs, lens, 3), 1);
    CHECK_EQ(weft_msgq_try_send_many(q, msgs + 1, lens + 1, 2), 0);
    CHECK_EQ(weft_msgq_bytes_used(q), 64);
    weft_msgq_destroy(q);
}

static void create_and_init_reject_bad_arguments(void)
{
    CHECK_EQ(weft_msgq_footprint(0), 0);
    CHECK_EQ(weft_msgq_footprint(SIZE_MAX), 0);
    CHECK_EQ(weft_msgq_footprint(SIZE_MAX / 2), 0);
    errno = 0;
    CHECK(weft_msgq_create(0) == NULL);
    CHECK_ERRNO(errno, EINVAL);
    errno = 0;
    CHECK(weft_msgq_create(SIZE_MAX) == NULL);
    CHECK_ERRNO(errno, EINVAL);
    static alignas(64) unsigned char mem[8192];
    errno = 0;
    CHECK(weft_msgq_init(NULL, 64, 0) == NULL);
    CHECK_ERRNO(errno, EINVAL);
    errno = 0;
    CHECK(weft_msgq_init(mem + 8, 64, 0) == NULL);
    CHECK_ERRNO(errno, EINVAL);
    errno = 0;
    CHECK(weft_msgq_init(mem, 64, 4u) == NULL);
    CHECK_ERRNO(errno, EINVAL);
    errno = 0;
    CHECK(weft_msgq_init(mem, 0, 0) == NULL);
    CHECK_ERRNO(errno, EINVAL);
    weft_msgq_destroy(NULL); /* does nothing */
}

static void init_builds_a_working_queue_in_given_memory(void)
{
    static alignas(64) unsigned char mem[8192];
    REQUIRE(weft_msgq_footprint(1024) <= sizeof mem);
    memset(mem, 0xA5, sizeof mem); /* garbage before init */
    weft_msgq *q = weft_msgq_init(mem, 1024, 0);
    REQUIRE(q != NULL);
    CHECK_PTR_EQ((void *)q, (void *)mem);
    CHECK_ERRNO(weft_msgq_try_send(q, "hello", 5), 0);
    char out[8];
    size_t len;
    CHECK_ERRNO(weft_msgq_try_recv(q, out, sizeof out, &len), 0);
    CHECK_EQ(len, 5);
    CHECK(memcmp(out, "hello", 5) == 0);
}

static void a_closed_queue_refuses_sends_and_drains_then_says_epipe(void)
{
    weft_msgq *q = weft_msgq_create(1024);
    REQUIRE(q != NULL);
    CHECK_ERRNO(weft_msgq_try_send(q, "a", 1), 0);
    CHECK_ERRNO(weft_msgq_try_send(q, "b", 1), 0);
    weft_msgq_close(q);
    weft_msgq_close(q); /* idempotent */
    CHECK(weft_msgq_closed(q));
    CHECK_ERRNO(weft_msgq_try_send(q, "c", 1), EPIPE);
    CHECK_ERRNO(weft_msgq_send(q, "c", 1), EPIPE);
    CHECK_ERRNO(weft_msgq_send_timed(q, "c", 1, 1000), EPIPE);
    const void *msgs[] = { "d" };
    size_t lens[] = { 1 };
    CHECK_EQ(weft_msgq_try_send_many(q, msgs, lens, 1), 0);
    char c = 0;
    size_t len;
    CHECK_ERRNO(weft_msgq_recv(q, &c, 1, &len), 0);
    CHECK_EQ_I(c, 'a');
    CHECK_ERRNO(weft_msgq_try_recv(q, &c, 1, &len), 0);
    CHECK_EQ_I(c, 'b');
    CHECK_ERRNO(weft_msgq_try_recv(q, &c, 1, &len), EPIPE);
    CHECK_ERRNO(weft_msgq_recv(q, &c, 1, &len), EPIPE);
    CHECK_ERRNO(weft_msgq_recv_timed(q, &c, 1, &len, 1000), EPIPE);
    CHECK_ERRNO(weft_msgq_recv_timed(q, &c, 1, &len, 0), EPIPE);
    weft_msgq_destroy(q);
}

static void timed_calls_time_out(void)
{
    weft_msgq *q = weft_msgq_create(64);
    REQUIRE(q != NULL);
    char c;
    size_t len;
    CHECK_ERRNO(weft_msgq_recv_timed(q, &c, 1, &len, 0), ETIMEDOUT);
    CHECK_ERRNO(weft_msgq_recv_timed(q, &c, 1, &len, 2000000), ETIMEDOUT);
    CHECK_ERRNO(weft_msgq_send_timed(q, "x", 1, 0), 0);
    CHECK_ERRNO(weft_msgq_send_timed(q, "y", 1, 0), ETIMEDOUT);
    CHECK_ERRNO(weft_msgq_send_timed(q, "y", 1, 2000000), ETIMEDOUT);
    CHECK_ERRNO(weft_msgq_recv_timed(q, &c, 1, &len, 2000000), 0);
    CHECK_EQ_I(c, 'x');
    weft_msgq_destroy(q);
}

/* ---- blocking, between threads ------------------------------------------ */

struct later {
    weft_msgq *q;
    int rc;
    size_t len;
    char buf[128];
};

static void *send_later(void *arg)
{
    struct later *l = arg;
    check_sleep_ms(30);
    l->rc = weft_msgq_send(l->q, "late", 4);
    return NULL;
}

static void *recv_later(void *arg)
{
    struct later *l = arg;
    check_sleep_ms(30);
    l->rc = weft_msgq_recv(l->q, l->buf, sizeof l->buf, &l->len);
    return NULL;
}

static void *close_later(void *arg)
{
    struct later *l = arg;
    check_sleep_ms(30);
    weft_msgq_close(l->q);
    return NULL;
}

static void a_blocking_receive_waits_for_a_send(void)
{
    weft_msgq *q = weft_msgq_create(64);
    REQUIRE(q != NULL);
    struct later l = { .q = q, .rc = -1 };
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, send_later, &l) == 0);
    char buf[8];
    size_t len = 0;
    CHECK_ERRNO(weft_msgq_recv(q, buf, sizeof buf, &len), 0);
    pthread_join(t, NULL);
    CHECK_EQ(len, 4);
    CHECK(memcmp(buf, "late", 4) == 0);
    CHECK_ERRNO(l.rc, 0);
    weft_msgq_destroy(q);
}

static void a_blocking_send_waits_for_room(void)
{
    weft_msgq *q = weft_msgq_create(128);
    REQUIRE(q != NULL);
    unsigned char big[128] = { 7 };
    CHECK_ERRNO(weft_msgq_try_send(q, big, 100), 0);
    struct later l = { .q = q, .rc = -1 };
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, recv_later, &l) == 0);
    CHECK_ERRNO(weft_msgq_send_timed(q, big, 128, 10ull * 1000000000), 0); /* needs both cells */
    pthread_join(t, NULL);
    CHECK_ERRNO(l.rc, 0);
    CHECK_EQ(l.len, 100);
    weft_msgq_destroy(q);
}

static void close_wakes_parked_receivers_and_senders(void)
{
    weft_msgq *q = weft_msgq_create(64);
    REQUIRE(q != NULL);
    struct later l = { .q = q };
    pthread_t t;
    char c;
    size_t len;
    REQUIRE(pthread_create(&t, NULL, close_later, &l) == 0);
    CHECK_ERRNO(weft_msgq_recv(q, &c, 1, &len), EPIPE);
    pthread_join(t, NULL);
    weft_msgq_destroy(q);

    q = weft_msgq_create(64);
    REQUIRE(q != NULL);
    l.q = q;
    CHECK_ERRNO(weft_msgq_try_send(q, "x", 1), 0);
    REQUIRE(pthread_create(&t, NULL, close_later, &l) == 0);
    CHECK_ERRNO(weft_msgq_send(q, "y", 1), EPIPE);
    pthread_join(t, NULL);
    CHECK_ERRNO(weft_msgq_recv(q, &c, 1, &len), 0); /* sent before close: kept */
    CHECK_EQ_I(c, 'x');
    weft_msgq_destroy(q);
}

/* ---- many threads ------------------------------------------------------- */

enum mode { TRY, BLOCKING, BATCH };

enum { MT_MAX_THREADS = 8, MT_MAX_LEN = 300 };

struct mt {
    weft_msgq *q;
    enum mode mode;
    unsigned producers;
    uint64_t per_producer;
    atomic_uint producers_left;
};

struct mt_consumer {
    struct mt *mt;
    uint64_t got, bad, order_errors;
    uint64_t sum[MT_MAX_THREADS]; /* of message numbers, per producer */
    int64_t last[MT_MAX_THREADS];
};

static size_t mt_len(unsigned p, uint64_t k)
{
    return 12 + (size_t)((p * 7919u + k * 104729u) % (MT_MAX_LEN - 12));
}

static void *mt_produce(void *arg)
{
    struct mt *mt = ((void **)arg)[0];
    unsigned p = (unsigned)(uintptr_t)((void **)arg)[1];
    unsigned char m[4][MT_MAX_LEN];
    for (uint64_t k = 0; k < mt->per_producer;) {
        if (mt->mode == BATCH) {
            const void *msgs[4];
            size_t lens[4], n = 0;
            for (; n < 4 && k + n < mt->per_producer; n++) {
                lens[n] = mt_len(p, k + n);
                make_msg(m[n], lens[n], p, k + n);
                msgs[n] = m[n];
            }
            size_t s = weft_msgq_try_send_many(mt->q, msgs, lens, n);
            if (s == 0)
                sched_yield();
            k += s;
            continue;
        }
        size_t len = mt_len(p, k);
        make_msg(m[0], len, p, k);
        int rc = mt->mode == TRY ? weft_msgq_try_send(mt->q, m[0], len)
                                 : weft_msgq_send(mt->q, m[0], len);
        if (rc == 0)
            k++;
        else if (rc == EAGAIN)
            sched_yield();
        else
            break; /* a failure the counts will show */
    }
    if (atomic_fetch_sub_explicit(&mt->producers_left, 1, memory_order_acq_rel) == 1)
        weft_msgq_close(mt->q);
    return NULL;
}

static void mt_take(struct mt_consumer *c, const unsigned char *m, size_t len)
{
    unsigned p;
    uint64_t k;
    if (!good_msg(m, len, &p, &k) || p >= c->mt->producers || len != mt_len(p, k)) {
        c->bad++;
        return;
    }
    if ((int64_t)k <= c->last[p])
        c->order_errors++;
    c->last[p] = (int64_t)k;
    c->sum[p] += k;
    c->got++;
}

static void *mt_consume(void *arg)
{
    struct mt_consumer *c = arg;
    for (unsigned p = 0; p < MT_MAX_THREADS; p++)
        c->last[p] = -1;
    unsigned char buf[4 * MT_MAX_LEN];
    for (;;) {
        size_t len;
        int rc;
        if (c->mt->mode == BATCH) {
            size_t lens[4];
            size_t n = weft_msgq_try_recv_many(c->mt->q, buf, sizeof buf, lens, 4);
            if (n == 0) {
                rc = weft_msgq_try_recv(c->mt->q, buf, sizeof buf, &len);
                if (rc == EPIPE)
                    break;
                if (rc == EAGAIN) {
                    sched_yield();
                    continue;
                }
                mt_take(c, buf, len);
                continue;
            }
            size_t off = 0;
            for (size_t i = 0; i < n; i++) {
                mt_take(c, buf + off, lens[i]);
                off += lens[i];
            }
            continue;
        }
        rc = c->mt->mode == TRY ? weft_msgq_try_recv(c->mt->q, buf, sizeof buf, &len)
                                : weft_msgq_recv(c->mt->q, buf, sizeof buf, &len);
        if (rc == EPIPE)
            break;
        if (rc == EAGAIN) {
            sched_yield();
            continue;
        }
        if (rc != 0) {
            c->bad++;
            break;
        }
        mt_take(c, buf, len);
    }
    return NULL;
}

static void run_mt(unsigned producers, unsigned consumers, size_t capacity, enum mode mode,
                   uint64_t per_producer)
{
    struct mt mt = { .mode = mode, .producers = producers, .per_producer = per_producer };
    mt.q = weft_msgq_create(capacity);
    REQUIRE(mt.q != NULL);
    atomic_init(&mt.producers_left, producers);
    pthread_t pt[MT_MAX_THREADS], ct[MT_MAX_THREADS];
    void *pa[MT_MAX_THREADS][2];
    static struct mt_consumer cs[MT_MAX_THREADS];
    memset(cs, 0, sizeof cs);
    for (unsigned i = 0; i < consumers; i++) {
        cs[i].mt = &mt;
        REQUIRE(pthread_create(&ct[i], NULL, mt_consume, &cs[i]) == 0);
    }
    for (unsigned i = 0; i < producers; i++) {
        pa[i][0] = &mt;
        pa[i][1] = (void *)(uintptr_t)i;
        REQUIRE(pthread_create(&pt[i], NULL, mt_produce, pa[i]) == 0);
    }
    for (unsigned i = 0; i < producers; i++)
        pthread_join(pt[i], NULL);
    for (unsigned i = 0; i < consumers; i++)
        pthread_join(ct[i], NULL);
    uint64_t got = 0, bad = 0, order = 0;
    for (unsigned i = 0; i < consumers; i++) {
        got += cs[i].got;
        bad += cs[i].bad;
        order += cs[i].order_errors;
    }
    CHECK_EQ(got, producers * per_producer);
    CHECK_EQ(bad, 0);
    CHECK_EQ(order, 0); /* each consumer sees each producer's messages in order */
    for (unsigned p = 0; p < producers; p++) {
        uint64_t sum = 0;
        for (unsigned i = 0; i < consumers; i++)
            sum += cs[i].sum[p];
        CHECK_EQ(sum, per_producer * (per_producer - 1) / 2); /* each exactly once */
    }
    CHECK_EQ(weft_msgq_bytes_used(mt.q), 0);
    weft_msgq_destroy(mt.q);
}

static void try_ops_4p4c_deliver_each_message_once_intact_and_in_order(void)
{
    run_mt(4, 4, 4096, TRY, 20000);
}

static void blocking_ops_4p4c_deliver_each_message_once_intact_and_in_order(void)
{
    run_mt(4, 4, 4096, BLOCKING, 20000);
}

static void blocking_ops_8p8c_on_a_queue_of_one_long_message_lose_no_wake_up(void)
{
    run_mt(8, 8, 512, BLOCKING, 5000); /* 8 cells; messages take 1 to 5 */
}

static void batches_4p4c_deliver_each_message_once_intact_and_in_order(void)
{
    run_mt(4, 4, 2048, BATCH, 20000);
}

/* ---- processes ---------------------------------------------------------- */

struct shared_result {
    uint64_t got, bad, sum;
    int last_rc;
};

static void a_shared_queue_carries_messages_between_forked_processes(void)
{
    enum { SENDERS = 2, RECEIVERS = 2, PER_SENDER = 20000 };
    size_t qbytes = weft_msgq_footprint(1024);
    size_t bytes = qbytes + RECEIVERS * sizeof(struct shared_result);
    void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    REQUIRE(mem != MAP_FAILED);
    weft_msgq *q = weft_msgq_init(mem, 1024, WEFT_SHARED);
    REQUIRE(q != NULL);
    struct shared_result *res = (struct shared_result *)(void *)((char *)mem + qbytes);
    pid_t pids[SENDERS + RECEIVERS];
    for (int r = 0; r < RECEIVERS; r++) {
        res[r] = (struct shared_result){ .last_rc = -1 };
        REQUIRE((pids[r] = fork()) >= 0);
        if (pids[r] == 0) {
            unsigned char buf[MT_MAX_LEN];
            size_t len;
            int rc;
            while ((rc = weft_msgq_recv(q, buf, sizeof buf, &len)) == 0) {
                unsigned p;
                uint64_t k;
                if (good_msg(buf, len, &p, &k) && len == mt_len(p, k)) {
                    res[r].got++;
                    res[r].sum += k;
                } else {
                    res[r].bad++;
                }
            }
            res[r].last_rc = rc;
            _exit(0);
        }
    }
    for (int s = 0; s < SENDERS; s++) {
        REQUIRE((pids[RECEIVERS + s] = fork()) >= 0);
        if (pids[RECEIVERS + s] == 0) {
            unsigned char m[MT_MAX_LEN];
            for (uint64_t k = 0; k < PER_SENDER; k++) {
                size_t len = mt_len((unsigned)s, k);
                make_msg(m, len, (unsigned)s, k);
                if (weft_msgq_send(q, m, len) != 0)
                    _exit(1);
            }
            _exit(0);
        }
    }
    int status = 0;
    for (int s = 0; s < SENDERS; s++) {
        CHECK_EQ_I(waitpid(pids[RECEIVERS + s], &status, 0), pids[RECEIVERS + s]);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    weft_msgq_close(q); /* the parent closes: the receivers drain and stop */
    uint64_t got = 0, bad = 0, sum = 0;
    for (int r = 0; r < RECEIVERS; r++) {
        CHECK_EQ_I(waitpid(pids[r], &status, 0), pids[r]);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        CHECK_ERRNO(res[r].last_rc, EPIPE);
        got += res[r].got;
        bad += res[r].bad;
        sum += res[r].sum;
    }
    CHECK_EQ(got, SENDERS * PER_SENDER);
    CHECK_EQ(bad, 0);
    CHECK_EQ(sum, (uint64_t)SENDERS * PER_SENDER * (PER_SENDER - 1) / 2);
    munmap(mem, bytes);
}

static void a_shared_queue_wakes_a_receiver_parked_in_another_process(void)
{
    size_t bytes = weft_msgq_footprint(64);
    void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    REQUIRE(mem != MAP_FAILED);
    weft_msgq *q = weft_msgq_init(mem, 64, WEFT_SHARED);
    REQUIRE(q != NULL);
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        char buf[8];
        size_t len = 0;
        int rc = weft_msgq_recv(q, buf, sizeof buf, &len); /* parks: the parent sends later */
        _exit(rc == 0 && len == 3 && memcmp(buf, "hey", 3) == 0 ? 0 : 1);
    }
    check_sleep_ms(50);
    CHECK_ERRNO(weft_msgq_send(q, "hey", 3), 0);
    int status = 0;
    CHECK_EQ_I(waitpid(child, &status, 0), child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    munmap(mem, bytes);
}

CHECK_MAIN(CASE(new_queue_is_empty_and_open), CASE(capacity_is_rounded_up_to_a_power_of_two_cells),
           CASE(messages_come_out_in_order_with_their_bytes),
           CASE(empty_messages_are_ordinary_messages),
           CASE(a_message_as_long_as_the_queue_fits_and_a_longer_one_is_refused),
           CASE(full_queue_refuses_try_send_until_a_receive),
           CASE(a_too_small_buffer_gets_emsgsize_and_the_length_and_the_message_stays),
           CASE(messages_wrapping_around_the_end_keep_their_bytes),
           CASE(send_many_sends_the_prefix_that_fits),
           CASE(send_many_stops_before_a_message_that_never_fits),
           CASE(create_and_init_reject_bad_arguments),
           CASE(init_builds_a_working_queue_in_given_memory),
           CASE(a_closed_queue_refuses_sends_and_drains_then_says_epipe),
           CASE(timed_calls_time_out), CASE(a_blocking_receive_waits_for_a_send),
           CASE(a_blocking_send_waits_for_room), CASE(close_wakes_parked_receivers_and_senders),
           CASE(try_ops_4p4c_deliver_each_message_once_intact_and_in_order),
           CASE(blocking_ops_4p4c_deliver_each_message_once_intact_and_in_order),
           CASE(blocking_ops_8p8c_on_a_queue_of_one_long_message_lose_no_wake_up),
           CASE(batches_4p4c_deliver_each_message_once_intact_and_in_order),
           CASE(a_shared_queue_carries_messages_between_forked_processes),
           CASE(a_shared_queue_wakes_a_receiver_parked_in_another_process))
