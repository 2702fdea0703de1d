/*
 * epoll_offload.c - an epoll server that hands CPU-bound requests to a
 * weft_pool and gets the results back through a weft_mpmc with a doorbell:
 * the C counterpart of asyncio's loop.run_in_executor, with no thread
 * blocked on the loop's behalf and no system call per result while the loop
 * is busy.
 *
 * The program starts its own clients (threads, on 127.0.0.1 only): each
 * connects, sends REQUESTS requests one at a time (an 8-byte number) and
 * checks every answer.  The loop (the main thread) accepts, reads requests,
 * submits each to the pool, and writes the answers the workers push into
 * the results ring.  Exits 0 when every client got every answer right.
 *
 * Usage: epoll_offload [CLIENTS [REQUESTS]]   (default 16 and 200)
 */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <weft/doorbell.h>
#include <weft/mpmc.h>
#include <weft/pool.h>

#include "offload_clients.h"

/* ---- the server ------------------------------------------------------------ */

struct job {
    int fd; /* the connection to answer */
    uint64_t n, answer;
};

struct conn {
    int fd;
    unsigned have; /* bytes of the next request read so far */
    unsigned char buf[8];
};

static weft_mpmc *results;

/* On a pool worker: compute, then hand the answer back to the loop.  The
 * push rings the loop's doorbell when the loop is waiting in epoll_wait. */
static void compute(void *arg)
{
    struct job *j = arg;
    j->answer = work(j->n);
    if (weft_mpmc_push(results, j) != 0)
        abort();
}

/* Read what the connection has; submit every whole request.  false on EOF. */
static bool serve_readable(struct conn *c, weft_pool *pool)
{
    for (;;) {
        ssize_t k = read(c->fd, c->buf + c->have, sizeof c->buf - c->have);
        if (k == 0)
            return false;
        if (k < 0)
            return errno == EAGAIN || errno == EINTR;
        c->have += (unsigned)k;
        if (c->have < sizeof c->buf)
            continue;
        struct job *j = malloc(sizeof *j);
        if (j == NULL)
            abort();
        j->fd = c->fd;
        memcpy(&j->n, c->buf, sizeof j->n);
        c->have = 0;
        if (weft_pool_submit(pool, compute, j) != 0)
            abort();
    }
}

/* Answer every result in the ring; returns how many. */
static unsigned answer_results(void)
{
    unsigned n = 0;
    void *item;
    while (weft_mpmc_try_pop(results, &item)) {
        struct job *j = item;
        if (write(j->fd, &j->answer, sizeof j->answer) != (ssize_t)sizeof j->answer)
            abort(); /* the client waits for it: its socket buffer is empty */
        free(j);
        n++;
    }
    return n;
}

static void accept_all(int ep, int ls)
{
    int fd;
    while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = calloc(1, sizeof *c);
        if (c == NULL)
            abort();
        c->fd = fd;
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
            abort();
    }
}

int main(int argc, char **argv)
{
    if (!parse_args(argc, argv))
        return 2;
    weft_pool *pool = weft_pool_create(0);
    weft_doorbell *db = weft_doorbell_create();
    results = weft_mpmc_create(1024);
    int ls = listen_local(), ep = epoll_create1(EPOLL_CLOEXEC);
    if (!pool || !db || !results || ls < 0 || ep < 0 || weft_mpmc_set_doorbell(results, db) != 0)
        return perror("setup"), 1;
    static int ls_tag, db_tag; /* epoll data for the two fds that are no connection */
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &ls_tag };
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    ev.data.ptr = &db_tag;
    epoll_ctl(ep, EPOLL_CTL_ADD, weft_doorbell_fd(db), &ev);

    pthread_t *t = start_clients();
    if (t == NULL)
        return perror("clients"), 1;

    uint64_t answered = 0, total = (uint64_t)clients * requests, waits = 0, wakes = 0;
    unsigned closed = 0;
    while (answered < total || closed < clients) {
        answered += answer_results();
        /* about to wait: announce it, then look at the ring once more */
        weft_doorbell_prepare(db);
        int timeout = -1;
        unsigned late = answer_results(); /* the look: a pop, not a size */
        if (late > 0) {
            weft_doorbell_cancel(db); /* results came in: poll, do not sleep */
            answered += late;
            timeout = 0;
        } else {
            waits++;
        }
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, timeout);
        bool rung = false;
        for (int i = 0; i < n; i++) {
            void *tag = evs[i].data.ptr;
            if (tag == &db_tag) {
                weft_doorbell_clear(db); /* before taking the results */
                rung = true;
                wakes++;
            } else if (tag == &ls_tag) {
                accept_all(ep, ls);
            } else if (!serve_readable(tag, pool)) {
                struct conn *c = tag;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                free(c);
                closed++;
            }
        }
        if (timeout != 0 && !rung)
            weft_doorbell_cancel(db); /* a client woke us: busy again */
    }
    uintptr_t bad = join_clients(t);
    printf("epoll_offload: %u clients x %u requests: %" PRIu64 " answered, %lu wrong; "
           "the loop slept %" PRIu64 " times, %" PRIu64 " doorbell wake-ups\n",
           clients, requests, answered, (unsigned long)bad, waits, wakes);
    close(ep);
    close(ls);
    /* the pool first: a worker may still be inside the push (ringing the
     * doorbell) of a result the loop already took */
    weft_pool_destroy(pool);
    weft_mpmc_destroy(results);
    weft_doorbell_destroy(db);
    return bad == 0 && answered == total ? 0 : 1;
}
