/*
 * uv_offload.c - epoll_offload.c's server on a libuv loop: the doorbell's
 * fd is one more uv_poll_t of an existing loop, and the loop's prepare and
 * check phases carry the doorbell's protocol:
 *
 *   uv_prepare_t (just before the loop blocks for I/O): answer what is in
 *       the results ring, then weft_doorbell_prepare and look once more;
 *       results there: cancel, and keep an idle handle running so that
 *       the loop does not block;
 *   uv_poll_t on the doorbell's fd (readable): weft_doorbell_clear, then
 *       answer the results;
 *   uv_check_t (just after the loop's I/O wait): a prepare that no ring
 *       woke is cancelled (a client's request woke the loop).
 *
 * The clients and the work are epoll_offload's (offload_clients.h).  Exits
 * 0 when every client got every answer right.
 *
 * Usage: uv_offload [CLIENTS [REQUESTS]]   (default 16 and 200)
 */
#define _GNU_SOURCE /* uv.h needs pthread_rwlock_t */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <uv.h>

#include <weft/doorbell.h>
#include <weft/mpmc.h>
#include <weft/pool.h>

#include "offload_clients.h"

static weft_pool *pool;
static weft_mpmc *results;
static weft_doorbell *db;
static bool prepared;  /* between weft_doorbell_prepare and its cancel/clear */
static uv_idle_t idle; /* running: the loop polls instead of blocking */
static uint64_t answered, waits, wakes;
static unsigned closed;

struct conn {
    uv_tcp_t tcp;
    unsigned have;
    unsigned char buf[8];
};

struct job {
    struct conn *c;
    uint64_t n, answer;
    uv_write_t wr;
};

static void compute(void *arg)
{
    struct job *j = arg;
    j->answer = work(j->n);
    if (weft_mpmc_push(results, j) != 0) /* rings the doorbell when the loop waits */
        abort();
}

static void written(uv_write_t *w, int status)
{
    if (status != 0)
        abort();
    free(w->data);
}

/* Answer every result in the ring; returns how many. */
static unsigned answer_results(void)
{
    unsigned n = 0;
    void *item;
    while (weft_mpmc_try_pop(results, &item)) {
        struct job *j = item;
        uv_buf_t b = uv_buf_init((char *)&j->answer, sizeof j->answer);
        j->wr.data = j;
        if (uv_write(&j->wr, (uv_stream_t *)&j->c->tcp, &b, 1, written) != 0)
            abort();
        answered++;
        n++;
    }
    return n;
}

static void on_alloc(uv_handle_t *h, size_t want, uv_buf_t *b)
{
    struct conn *c = (struct conn *)h;
    (void)want;
    *b = uv_buf_init((char *)c->buf + c->have, (unsigned)(sizeof c->buf - c->have));
}

/* Every client served and gone: end uv_run. */
static void maybe_stop(uv_loop_t *loop)
{
    if (closed == clients && answered == (uint64_t)clients * requests)
        uv_stop(loop);
}

static void conn_closed(uv_handle_t *h)
{
    uv_loop_t *loop = h->loop;
    free(h);
    closed++;
    maybe_stop(loop); /* close callbacks run after the check phase */
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct conn *c = (struct conn *)s;
    (void)b;
    if (n < 0) {
        uv_close((uv_handle_t *)s, conn_closed);
        return;
    }
    c->have += (unsigned)n;
    if (c->have < sizeof c->buf)
        return;
    struct job *j = malloc(sizeof *j);
    if (j == NULL)
        abort();
    j->c = c;
    memcpy(&j->n, c->buf, sizeof j->n);
    c->have = 0;
    if (weft_pool_submit(pool, compute, j) != 0)
        abort();
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status != 0)
        abort();
    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL || uv_tcp_init(server->loop, &c->tcp) != 0 ||
        uv_accept(server, (uv_stream_t *)&c->tcp) != 0)
        abort();
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_idle(uv_idle_t *h)
{
    (void)h; /* its being active keeps the loop from blocking */
}

/* Just before the loop blocks: the doorbell's prepare and look. */
static void before_wait(uv_prepare_t *h)
{
    (void)h;
    (void)answer_results();
    weft_doorbell_prepare(db);
    if (answer_results() > 0) { /* the look: a pop, not a size */
        weft_doorbell_cancel(db);
        uv_idle_start(&idle, on_idle); /* results came in: do not block */
        return;
    }
    uv_idle_stop(&idle);
    prepared = true;
    waits++;
}

/* The doorbell's fd is readable: a ring woke the loop. */
static void on_doorbell(uv_poll_t *h, int status, int events)
{
    (void)h;
    (void)events;
    if (status != 0)
        abort();
    weft_doorbell_clear(db); /* before taking the results */
    prepared = false;
    wakes++;
    (void)answer_results();
}

/* Just after the loop's I/O wait: a prepare nothing rang ends here. */
static void after_wait(uv_check_t *h)
{
    if (prepared) {
        weft_doorbell_cancel(db);
        prepared = false;
    }
    maybe_stop(h->loop);
}

int main(int argc, char **argv)
{
    if (!parse_args(argc, argv))
        return 2;
    pool = weft_pool_create(0);
    db = weft_doorbell_create();
    results = weft_mpmc_create(1024);
    int ls = listen_local();
    if (!pool || !db || !results || ls < 0 || weft_mpmc_set_doorbell(results, db) != 0)
        return perror("setup"), 1;
    uv_loop_t *loop = uv_default_loop();
    uv_tcp_t server;
    uv_poll_t bell;
    uv_prepare_t prep;
    uv_check_t check;
    if (uv_tcp_init(loop, &server) != 0 || uv_tcp_open(&server, ls) != 0 ||
        uv_listen((uv_stream_t *)&server, 128, on_connection) != 0 ||
        uv_poll_init(loop, &bell, weft_doorbell_fd(db)) != 0 ||
        uv_poll_start(&bell, UV_READABLE, on_doorbell) != 0 || uv_idle_init(loop, &idle) != 0 ||
        uv_prepare_init(loop, &prep) != 0 || uv_prepare_start(&prep, before_wait) != 0 ||
        uv_check_init(loop, &check) != 0 || uv_check_start(&check, after_wait) != 0)
        return fputs("uv setup failed\n", stderr), 1;
    pthread_t *t = start_clients();
    if (t == NULL)
        return perror("clients"), 1;
    uv_run(loop, UV_RUN_DEFAULT);
    uintptr_t bad = join_clients(t);
    printf("uv_offload: %u clients x %u requests: %" PRIu64 " answered, %lu wrong; "
           "the loop slept %" PRIu64 " times, %" PRIu64 " doorbell wake-ups\n",
           clients, requests, answered, (unsigned long)bad, waits, wakes);
    uv_poll_stop(&bell); /* before the doorbell's fd goes */
    uv_close((uv_handle_t *)&bell, NULL);
    uv_close((uv_handle_t *)&server, NULL);
    uv_close((uv_handle_t *)&idle, NULL);
    uv_close((uv_handle_t *)&prep, NULL);
    uv_close((uv_handle_t *)&check, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    /* the pool first: a worker may still be inside the push (ringing the
     * doorbell) of a result the loop already took */
    weft_pool_destroy(pool);
    weft_mpmc_destroy(results);
    weft_doorbell_destroy(db);
    return bad == 0 && answered == (uint64_t)clients * requests ? 0 : 1;
}
