/* Unit tests for weft/msgq.h's robust queues (WEFT_MSGQ_ROBUST): a process
 * that dies between claim and publish, or between claim and release, is
 * recovered from.  The deaths are deterministic: the child passes a
 * PROT_NONE page as the message (or as the receive buffer), so its copy
 * faults after the claim, and its SIGSEGV handler kills it with SIGKILL
 * there, in the middle of the operation. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <weft/msgq.h>

#define CHECK_TIMEOUT_S 120
#include "check.h"

enum { CELL = WEFT_MSGQ_CELL };
#define SECOND ((uint64_t)1000 * 1000 * 1000)

/* A robust queue of cells * CELL bytes in shared memory. */
static weft_msgq *shared_queue(size_t cells, void **mem, size_t *size)
{
    *size = weft_msgq_footprint(cells * CELL);
    *mem = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (*mem == MAP_FAILED)
        return NULL;
    return weft_msgq_init(*mem, cells * CELL, WEFT_SHARED | WEFT_MSGQ_ROBUST);
}

static void die_now(int sig)
{
    (void)sig;
    (void)kill(getpid(), SIGKILL);
}

/* A page the child cannot touch. */
static void *forbidden_page(void)
{
    void *p = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* Fork a child that runs fn(q) and must die of SIGKILL inside it. */
static bool child_dies_in(weft_msgq *q, void (*fn)(weft_msgq *))
{
    pid_t pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = die_now;
        sigemptyset(&sa.sa_mask);
        (void)sigaction(SIGSEGV, &sa, NULL);
        (void)sigaction(SIGBUS, &sa, NULL);
        fn(q);
        _exit(0); /* it did not die: the parent's check fails */
    }
    int status;
    if (waitpid(pid, &status, 0) != pid)
        return false;
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

static void send_from_forbidden(weft_msgq *q)
{
    void *bad = forbidden_page();
    if (bad != NULL)
        (void)weft_msgq_send(q, bad, 3 * CELL - 5); /* three cells, then the fault */
}

static void recv_into_forbidden(weft_msgq *q)
{
    void *bad = forbidden_page();
    size_t len;
    if (bad != NULL)
        (void)weft_msgq_recv(q, bad, 4096, &len);
}

/* A sender dies holding three cells at the head: a blocking receive gets
 * the message sent after them, the dead claim's cells count as free
 * again, and dropped says one operation. */
static void dead_sender_is_recovered_by_a_blocking_receive(void)
{
    void *mem;
    size_t size;
    weft_msgq *q = shared_queue(8, &mem, &size);
    REQUIRE(q != NULL);
    REQUIRE(child_dies_in(q, send_from_forbidden));
    CHECK_EQ(weft_msgq_bytes_used(q), 3 * CELL);
    CHECK_EQ_I(weft_msgq_try_send(q, "after", 6), 0);
    char buf[64];
    size_t len = 0;
    CHECK_ERRNO(weft_msgq_try_recv(q, buf, sizeof buf, &len), EAGAIN); /* stranded */
    CHECK_EQ_I(weft_msgq_recv_timed(q, buf, sizeof buf, &len, 10 * SECOND), 0);
    CHECK_EQ(len, 6);
    CHECK(memcmp(buf, "after", 6) == 0);
    CHECK_EQ(weft_msgq_dropped(q), 1);
    CHECK_EQ(weft_msgq_bytes_used(q), 0);
    /* the queue goes on: a full lap over the recovered cells */
    for (int i = 0; i < 20; i++) {
        unsigned char m[2 * CELL];
        memset(m, i, sizeof m);
        CHECK_EQ_I(weft_msgq_try_send(q, m, sizeof m), 0);
        CHECK_EQ_I(weft_msgq_try_recv(q, buf, sizeof buf, &len), EMSGSIZE);
        unsigned char r[2 * CELL];
        CHECK_EQ_I(weft_msgq_try_recv(q, r, sizeof r, &len), 0);
        CHECK(len == sizeof m && memcmp(r, m, len) == 0);
    }
    CHECK_EQ(weft_msgq_dropped(q), 1);
    munmap(mem, size);
}

/* The same with the try_ forms only: weft_msgq_recover does it at once. */
static void dead_sender_is_recovered_by_recover(void)
{
    void *mem;
    size_t size;
    weft_msgq *q = shared_queue(8, &mem, &size);
    REQUIRE(q != NULL);
    CHECK_EQ_I(weft_msgq_try_send(q, "before", 7), 0);
    REQUIRE(child_dies_in(q, send_from_forbidden));
    CHECK_EQ_I(weft_msgq_try_send(q, "after", 6), 0);
    char buf[64];
    size_t len = 0;
    /* nothing to recover while a published message is at the head */
    CHECK_EQ(weft_msgq_recover(q), 0);
    CHECK_EQ_I(weft_msgq_try_recv(q, buf, sizeof buf, &len), 0);
    CHECK(len == 7 && memcmp(buf, "before", 7) == 0);
    CHECK_ERRNO(weft_msgq_try_recv(q, buf, sizeof buf, &len), EAGAIN);
    CHECK_EQ(weft_msgq_recover(q), 1);
    CHECK_EQ(weft_msgq_recover(q), 0); /* once */
    CHECK_EQ_I(weft_msgq_try_recv(q, buf, sizeof buf, &len), 0);
    CHECK(len == 6 && memcmp(buf, "after", 6) == 0);
    CHECK_EQ(weft_msgq_dropped(q), 1);
    CHECK_EQ(weft_msgq_bytes_used(q), 0);
    munmap(mem, size);
}

/* A receiver dies holding the first message of a full queue: a blocking
 * send that needs its cells succeeds, the other messages come in order,
 * and the dead receiver's message is the one lost. */
static void dead_receiver_is_recovered_by_a_blocking_send(void)
{
    void *mem;
    size_t size;
    weft_msgq *q = shared_queue(2, &mem, &size);
    REQUIRE(q != NULL);
    CHECK_EQ_I(weft_msgq_try_send(q, "one", 4), 0);
    CHECK_EQ_I(weft_msgq_try_send(q, "two", 4), 0);
    REQUIRE(child_dies_in(q, recv_into_forbidden));
    CHECK_ERRNO(weft_msgq_try_send(q, "three", 6), EAGAIN); /* cell 0 not handed on */
    CHECK_EQ_I(weft_msgq_send_timed(q, "three", 6, 10 * SECOND), 0);
    CHECK_EQ(weft_msgq_dropped(q), 1);
    char buf[64];
    size_t len = 0;
    CHECK_EQ_I(weft_msgq_try_recv(q, buf, sizeof buf, &len), 0);
    CHECK(len == 4 && memcmp(buf, "two", 4) == 0);
    CHECK_EQ_I(weft_msgq_try_recv(q, buf, sizeof buf, &len), 0);
    CHECK(len == 6 && memcmp(buf, "three", 6) == 0);
    CHECK_ERRNO(weft_msgq_try_recv(q, buf, sizeof buf, &len), EAGAIN);
    CHECK_EQ(weft_msgq_bytes_used(q), 0);
    munmap(mem, size);
}

/* Loops of timed calls shorter than RECOVER_NS each recover too: the wait
 * at one position adds up across the calls (a sender retrying every
 * millisecond once hung msgq-kill: no single call waited long enough to
 * look for the dead receiver).  Both directions; each loop gives up after
 * 10 s, a bound for a hang. */
static void short_timed_calls_in_a_loop_recover_too(void)
{
    void *mem;
    size_t size;
    weft_msgq *q = shared_queue(4, &mem, &size);
    REQUIRE(q != NULL);
    static const char *const msgs[] = { "one", "two", "six", "ten" };
    for (int i = 0; i < 4; i++)
        CHECK_EQ_I(weft_msgq_try_send(q, msgs[i], 4), 0);
    REQUIRE(child_dies_in(q, recv_into_forbidden)); /* takes "one" with it */
    int e = ETIMEDOUT;
    for (int i = 0; i < 10000 && e == ETIMEDOUT; i++)
        e = weft_msgq_send_timed(q, "new", 4, SECOND / 1000);
    CHECK_EQ_I(e, 0);
    CHECK_EQ(weft_msgq_dropped(q), 1);
    char buf[64];
    size_t len = 0;
    for (int i = 1; i < 4; i++) {
        CHECK_EQ_I(weft_msgq_try_recv(q, buf, sizeof buf, &len), 0);
        CHECK(len == 4 && memcmp(buf, msgs[i], 4) == 0);
    }
    CHECK_EQ_I(weft_msgq_try_recv(q, buf, sizeof buf, &len), 0);
    CHECK(len == 4 && memcmp(buf, "new", 4) == 0);
    /* a sender dies holding three cells at the head, with a message
     * behind them: receives of 1 ms each */
    REQUIRE(child_dies_in(q, send_from_forbidden));
    CHECK_EQ_I(weft_msgq_try_send(q, "end", 4), 0);
    e = ETIMEDOUT;
    for (int i = 0; i < 10000 && e == ETIMEDOUT; i++)
        e = weft_msgq_recv_timed(q, buf, sizeof buf, &len, SECOND / 1000);
    CHECK_EQ_I(e, 0);
    CHECK(len == 4 && memcmp(buf, "end", 4) == 0);
    CHECK_EQ(weft_msgq_dropped(q), 2);
    munmap(mem, size);
}

/* recover on a healthy robust queue and on a plain one finds nothing;
 * init takes WEFT_MSGQ_ROBUST (even without WEFT_SHARED) and refuses other
 * bits. */
static void live_owners_and_plain_queues_are_left_alone(void)
{
    void *mem;
    size_t size;
    weft_msgq *q = shared_queue(4, &mem, &size);
    REQUIRE(q != NULL);
    CHECK_EQ_I(weft_msgq_try_send(q, "x", 2), 0);
    CHECK_EQ(weft_msgq_recover(q), 0);
    CHECK_EQ(weft_msgq_dropped(q), 0);
    munmap(mem, size);

    weft_msgq *p = weft_msgq_create(4 * CELL);
    REQUIRE(p != NULL);
    CHECK_EQ(weft_msgq_recover(p), 0);
    CHECK_EQ(weft_msgq_dropped(p), 0);
    weft_msgq_destroy(p);

    static _Alignas(WEFT_MSGQ_ALIGN) unsigned char block[1 << 16];
    REQUIRE(weft_msgq_footprint(4 * CELL) <= sizeof block);
    CHECK(weft_msgq_init(block, 4 * CELL, WEFT_MSGQ_ROBUST) != NULL);
    errno = 0;
    CHECK(weft_msgq_init(block, 4 * CELL, 4u) == NULL);
    CHECK_EQ_I(errno, EINVAL);
}

CHECK_MAIN(CASE(dead_sender_is_recovered_by_a_blocking_receive),
           CASE(dead_sender_is_recovered_by_recover),
           CASE(dead_receiver_is_recovered_by_a_blocking_send),
           CASE(short_timed_calls_in_a_loop_recover_too),
           CASE(live_owners_and_plain_queues_are_left_alone))
