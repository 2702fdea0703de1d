/* Unit tests for weft/eventcount.h. */
#include "config.h"
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/membarrier.h>

#include <weft/eventcount.h>

#include "check.h"
#include "refuse_membarrier.h"

static void notify_without_waiters_leaves_the_epoch_alone(void)
{
    weft_eventcount ec;
    weft_eventcount_init(&ec, 0);
    uint32_t k1 = weft_eventcount_prepare(&ec);
    weft_eventcount_cancel(&ec);
    weft_eventcount_notify_one(&ec);
    weft_eventcount_notify_all(&ec);
    uint32_t k2 = weft_eventcount_prepare(&ec);
    weft_eventcount_cancel(&ec);
    CHECK_EQ(k1, k2);
}

static void zeroed_storage_is_a_valid_eventcount(void)
{
    weft_eventcount ec = WEFT_EVENTCOUNT_INITIALIZER;
    uint32_t k = weft_eventcount_prepare(&ec);
    weft_eventcount_notify_one(&ec); /* sees the announced waiter: bumps */
    weft_eventcount_wait(&ec, k);    /* stale key: returns at once */
    CHECK_NE(weft_eventcount_prepare(&ec), k);
    weft_eventcount_cancel(&ec);
}

static void wait_after_notify_returns_at_once(void)
{
    weft_eventcount ec;
    weft_eventcount_init(&ec, 0);
    uint32_t k = weft_eventcount_prepare(&ec);
    weft_eventcount_notify_all(&ec);
    int rc = weft_eventcount_wait_timed(&ec, k, 10ull * 1000000000u);
    CHECK_ERRNO(rc, 0);
}

static void wait_timed_times_out_without_notify(void)
{
    weft_eventcount ec;
    weft_eventcount_init(&ec, 0);
    uint64_t t0 = check_now_ns();
    uint32_t k = weft_eventcount_prepare(&ec);
    int rc = weft_eventcount_wait_timed(&ec, k, 20 * 1000000u);
    uint64_t waited = check_now_ns() - t0;
    CHECK_ERRNO(rc, ETIMEDOUT);
    CHECK_GE(waited, 20 * 1000000u); /* never early: the timeout is a minimum */
    /* the timed-out waiter withdrew: a later notify has nobody to bump for */
    uint32_t k1 = weft_eventcount_prepare(&ec);
    weft_eventcount_cancel(&ec);
    weft_eventcount_notify_one(&ec);
    CHECK_EQ(weft_eventcount_prepare(&ec), k1);
    weft_eventcount_cancel(&ec);
}

/* ---- threads parked on a flag ------------------------------------------ */

struct flag_wait {
    weft_eventcount ec;
    atomic_int flag;
    atomic_int woken;
};

static void *wait_for_flag(void *arg)
{
    struct flag_wait *fw = arg;
    for (;;) {
        uint32_t key = weft_eventcount_prepare(&fw->ec);
        /* acquire: pairs with the release store of flag by the notifier */
        if (atomic_load_explicit(&fw->flag, memory_order_acquire)) {
            weft_eventcount_cancel(&fw->ec);
            break;
        }
        weft_eventcount_wait(&fw->ec, key);
    }
    atomic_fetch_add_explicit(&fw->woken, 1, memory_order_relaxed);
    return NULL;
}

static void notify_all_wakes_every_parked_thread(void)
{
    enum { N = 8 }; /* four times the cores of the machine we develop on */
    struct flag_wait fw;
    pthread_t t[N];
    weft_eventcount_init(&fw.ec, 0);
    atomic_init(&fw.flag, 0);
    atomic_init(&fw.woken, 0);
    for (int i = 0; i < N; i++)
        REQUIRE(pthread_create(&t[i], NULL, wait_for_flag, &fw) == 0);
    check_sleep_ms(20); /* let most of them park; correctness does not need it */
    atomic_store_explicit(&fw.flag, 1, memory_order_release);
    weft_eventcount_notify_all(&fw.ec);
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ(atomic_load(&fw.woken), N);
}

/* Ping-pong: each side waits for the other's counter; a lost wake-up hangs
 * the test and the check.h alarm fails it. */
struct pingpong {
    weft_eventcount ec[2];
    atomic_ulong count[2];
};

enum { ROUNDS = 20000 };

static void wait_until_at_least(struct pingpong *pp, int side, unsigned long v)
{
    for (;;) {
        if (atomic_load_explicit(&pp->count[side], memory_order_acquire) >= v)
            return;
        uint32_t key = weft_eventcount_prepare(&pp->ec[side]);
        if (atomic_load_explicit(&pp->count[side], memory_order_acquire) >= v) {
            weft_eventcount_cancel(&pp->ec[side]);
            return;
        }
        weft_eventcount_wait(&pp->ec[side], key);
    }
}

static void *pong(void *arg)
{
    struct pingpong *pp = arg;
    for (unsigned long i = 1; i <= ROUNDS; i++) {
        wait_until_at_least(pp, 0, i);
        atomic_store_explicit(&pp->count[1], i, memory_order_release);
        weft_eventcount_notify_one(&pp->ec[1]);
    }
    return NULL;
}

static void ping_pong_loses_no_wake_up(void)
{
    struct pingpong pp;
    pthread_t t;
    for (int s = 0; s < 2; s++) {
        weft_eventcount_init(&pp.ec[s], 0);
        atomic_init(&pp.count[s], 0);
    }
    REQUIRE(pthread_create(&t, NULL, pong, &pp) == 0);
    for (unsigned long i = 1; i <= ROUNDS; i++) {
        atomic_store_explicit(&pp.count[0], i, memory_order_release);
        weft_eventcount_notify_one(&pp.ec[0]);
        wait_until_at_least(&pp, 1, i);
    }
    pthread_join(t, NULL);
    CHECK_EQ(atomic_load(&pp.count[1]), ROUNDS);
}

static void shared_eventcount_wakes_another_process(void)
{
    struct flag_wait *fw =
        mmap(NULL, sizeof *fw, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    REQUIRE(fw != MAP_FAILED);
    weft_eventcount_init(&fw->ec, WEFT_SHARED);
    atomic_init(&fw->flag, 0);
    atomic_init(&fw->woken, 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        wait_for_flag(fw);
        _exit(0);
    }
    check_sleep_ms(20);
    atomic_store_explicit(&fw->flag, 1, memory_order_release);
    weft_eventcount_notify_one(&fw->ec);
    int status = 0;
    CHECK_EQ_I(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_EQ(atomic_load(&fw->woken), 1);
    munmap(fw, sizeof *fw);
}

/* Child of the test below.  Exit status: 0 passed; 1 the filter did not
 * take; 2 the ping-pong lost a wake-up count; killed by SIGALRM: a wait
 * that never returned. */
static int membarrier_refused_child(void)
{
    /* made while membarrier still works: asymmetric where the kernel has it */
    static weft_eventcount ec;
    static struct pingpong pp;
    weft_eventcount_init(&ec, 0);
    for (int s = 0; s < 2; s++) {
        weft_eventcount_init(&pp.ec[s], 0);
        atomic_init(&pp.count[s], 0);
    }
    long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    bool asym_possible = cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED);
    if (refuse_membarrier() != 0)
        return 1;
    alarm(60);    /* a wait that nobody ends kills the child */
#ifndef WEFT_TSAN /* the TSan build has no asymmetric fences */
    if (asym_possible) {
        /* prepare's membarrier is refused now: the eventcount falls back to
         * fences on both sides and parks for a bounded time, since a
         * notifier may still have skipped its fence during the switch.
         * Nobody notifies here: the wait must return by itself. */
        uint32_t key = weft_eventcount_prepare(&ec);
        weft_eventcount_wait(&ec, key);
    }
#else
    (void)asym_possible;
#endif
    /* and the fallen-back eventcounts lose no wake-up in a ping-pong */
    pthread_t t;
    if (pthread_create(&t, NULL, pong, &pp) != 0)
        return 3;
    for (unsigned long i = 1; i <= ROUNDS; i++) {
        atomic_store_explicit(&pp.count[0], i, memory_order_release);
        weft_eventcount_notify_one(&pp.ec[0]);
        wait_until_at_least(&pp, 1, i);
    }
    pthread_join(t, NULL);
    return atomic_load(&pp.count[1]) == ROUNDS ? 0 : 2;
}

static void membarrier_refused_after_init_falls_back_without_hanging(void)
{
    int status = check_in_child(membarrier_refused_child);
    if (status == 1)
        printf("# the kernel refused the seccomp filter: only the exit status is checked\n");
    CHECK(status == 0 || status == 1);
    if (status != 0 && status != 1)
        printf("# child status %d (-1: killed, e.g. by the 60 s alarm of a wait that "
               "never returned)\n",
               status);
}

CHECK_MAIN(CASE(notify_without_waiters_leaves_the_epoch_alone),
           CASE(zeroed_storage_is_a_valid_eventcount), CASE(wait_after_notify_returns_at_once),
           CASE(wait_timed_times_out_without_notify), CASE(notify_all_wakes_every_parked_thread),
           CASE(ping_pong_loses_no_wake_up), CASE(shared_eventcount_wakes_another_process),
           CASE(membarrier_refused_after_init_falls_back_without_hanging))
