/*
 * stress/msgq_kill.c - msgq-kill: a WEFT_MSGQ_ROBUST queue in
 * mmap(MAP_SHARED) memory between fork()ed sender and receiver processes,
 * while the parent SIGKILLs one of them at a random instant, over and over,
 * and forks a new one in its place (a new "generation").
 *
 * What include/weft/msgq.h promises ("Dead processes"), and how it is
 * checked here:
 *  - nobody is blocked forever: the queue keeps moving after every kill
 *    (the watchdog), and at the end the receivers drain it to EPIPE;
 *  - nothing is duplicated, nothing is torn: every message carries its
 *    generation and sequence number and a pattern computed from them; a
 *    receiver verifies it, marks it in a bitmap (a second mark is a
 *    duplicate) and checks per-sender FIFO;
 *  - nothing is invented: a received message's sequence number is below
 *    what its sender had announced before its send (attempted);
 *  - at most the messages of the operation a dead process was in are lost:
 *    every message whose send returned (below "sent") is received, except
 *    at most RECV_BATCH per receiver killed (the receive it was in, or the
 *    messages it held); a killed sender may lose only its unfinished send;
 *  - weft_msgq_dropped counts no more operations than there were kills.
 * Senders and receivers use every form (blocking, timed, try with
 * weft_msgq_recover now and then, batches), so that kills land in each.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <weft/msgq.h>

#include "stress.h"

enum {
    KILL_MAX_PROCS = 8,                 /* senders, and receivers */
    KILL_MAX_GENS = 4096,               /* processes forked over the run */
    KILL_MAX_SEQ = 1 << 16,             /* per generation; then the sender ends */
    KILL_MAX_MSG = 24 * WEFT_MSGQ_CELL, /* 1 to 24 cells */
    KILL_QUEUE_CELLS = 128,
    SEND_BATCH = 4,
    RECV_BATCH = 4,
    MSG_MAGIC = 0x6b696c6c, /* "kill" */
};
#define MS ((uint64_t)1000 * 1000)

struct kill_gen {
    /* Written by the generation's sender, read by receivers and the parent.
     * relaxed everywhere: a receiver reads attempted only after receiving a
     * message sent after the store (the queue's release/acquire orders
     * it); the parent reads both after the sender is reaped or killed. */
    atomic_uint_least64_t attempted; /* messages begun (a send was called) */
    atomic_uint_least64_t sent;      /* messages whose send returned 0 */
    /* Written by the generation's receiver, read by the parent once it is
     * killed: how many messages the receiver may be holding (the most its
     * receive in progress takes, until it has marked them seen); 0 outside
     * a receive. */
    atomic_uint holding;
};

struct kill_hdr {
    atomic_bool stop;          /* senders: end after the current send */
    atomic_uint errors;        /* checks failed in children */
    atomic_uint_least64_t got; /* messages received, all receivers */
    struct kill_gen gen[KILL_MAX_GENS];
};

struct kill_run {
    struct stress_run *r;
    struct kill_hdr *hdr;
    atomic_uint_least64_t *bits; /* [KILL_MAX_GENS][KILL_MAX_SEQ / 64] */
    weft_msgq *q;
    void *map;
    size_t map_len;
    unsigned P, C;
    /* the parent's: one entry per live child */
    pid_t pid[2 * KILL_MAX_PROCS];
    unsigned gen[2 * KILL_MAX_PROCS];
    struct stress_progress *prog[2 * KILL_MAX_PROCS];
    unsigned ngens;       /* generations forked */
    unsigned kills[2];    /* senders, receivers killed */
    unsigned kills_in_op; /* of them: inside a send or receive call */
    uint64_t may_lose;    /* sum of the killed receivers' holding */
    unsigned finished;    /* senders that reached KILL_MAX_SEQ */
};

/* Message (gen, seq): a header, then len - 16 bytes of pattern. */
static unsigned char pattern(uint32_t gen, uint64_t seq, size_t i)
{
    return (unsigned char)(stress_mix(((uint64_t)gen << 40) ^ seq) + i * 167u);
}

static size_t length_of(uint32_t gen, uint64_t seq)
{
    return 16 + (size_t)(stress_mix(seq * 31u + gen) % (KILL_MAX_MSG - 16 + 1));
}

static void build(unsigned char *m, uint32_t gen, uint64_t seq)
{
    uint32_t magic = MSG_MAGIC;
    memcpy(m, &magic, 4);
    memcpy(m + 4, &gen, 4);
    memcpy(m + 8, &seq, 8);
    size_t len = length_of(gen, seq);
    for (size_t i = 16; i < len; i++)
        m[i] = pattern(gen, seq, i);
}

/* ---- the children --------------------------------------------------------------- */

static void sender(struct kill_run *k, unsigned gen, struct stress_progress *prog)
{
    struct rng g;
    rng_seed(&g, k->r->seed, k->r->stream ^ (0x5e00000 + gen));
    struct kill_gen *kg = &k->hdr->gen[gen];
    static unsigned char buf[SEND_BATCH][KILL_MAX_MSG];
    uint64_t seq = 0;
    /* relaxed: a time-out flag */
    while (!atomic_load_explicit(&k->hdr->stop, memory_order_relaxed) &&
           seq + SEND_BATCH <= KILL_MAX_SEQ) {
        unsigned form = (unsigned)rng_below(&g, 8);
        size_t n = form == 7 ? 1 + (size_t)rng_below(&g, SEND_BATCH) : 1;
        const void *msgs[SEND_BATCH];
        size_t lens[SEND_BATCH];
        for (size_t i = 0; i < n; i++) {
            build(buf[i], gen, seq + i);
            msgs[i] = buf[i];
            lens[i] = length_of(gen, seq + i);
        }
        /* relaxed: see struct kill_gen */
        atomic_store_explicit(&kg->attempted, seq + n, memory_order_relaxed);
        int e = 0;
        size_t done = n;
        if (form < 4) {
            prog_op(prog, OP_PUSH);
            e = weft_msgq_send(k->q, msgs[0], lens[0]);
        } else if (form == 4) {
            prog_op(prog, OP_PUSH_TIMED);
            while ((e = weft_msgq_send_timed(k->q, msgs[0], lens[0], MS)) == ETIMEDOUT) {
            }
        } else if (form < 7) {
            prog_op(prog, OP_TRY_PUSH);
            unsigned spins = 0;
            while ((e = weft_msgq_try_send(k->q, msgs[0], lens[0])) == EAGAIN) {
                stress_backoff(&spins);
                if (spins % 4096 == 0)
                    (void)weft_msgq_recover(k->q);
            }
        } else {
            prog_op(prog, OP_PUSH_MANY);
            done = 0;
            unsigned spins = 0;
            while (done < n) {
                size_t m = weft_msgq_try_send_many(k->q, msgs + done, lens + done, n - done);
                done += m;
                if (m > 0)
                    continue;
                if (weft_msgq_closed(k->q)) {
                    e = EPIPE;
                    break;
                }
                stress_backoff(&spins);
                if (spins % 4096 == 0)
                    (void)weft_msgq_recover(k->q);
            }
        }
        if (e != 0) {
            stress_child_fail(&k->hdr->errors, "sender gen %u: send of seq %llu returned %d", gen,
                              (unsigned long long)seq, e);
            break;
        }
        seq += done;
        atomic_store_explicit(&kg->sent, seq, memory_order_relaxed);
        prog_done(prog, done);
    }
}

/* Verify message m of len bytes; mark it seen. */
static void take(struct kill_run *k, unsigned me, const unsigned char *m, size_t len,
                 uint64_t *last)
{
    uint32_t magic, gen;
    uint64_t seq;
    if (len < 16) {
        stress_child_fail(&k->hdr->errors, "receiver gen %u: a message of %zu bytes", me, len);
        return;
    }
    memcpy(&magic, m, 4);
    memcpy(&gen, m + 4, 4);
    memcpy(&seq, m + 8, 8);
    if (magic != MSG_MAGIC || gen >= KILL_MAX_GENS || seq >= KILL_MAX_SEQ ||
        len != length_of(gen, seq)) {
        stress_child_fail(&k->hdr->errors, "receiver gen %u: a torn header (%zu bytes)", me, len);
        return;
    }
    for (size_t i = 16; i < len; i++)
        if (m[i] != pattern(gen, seq, i)) {
            stress_child_fail(&k->hdr->errors, "receiver gen %u: gen %u seq %llu: byte %zu torn",
                              me, gen, (unsigned long long)seq, i);
            return;
        }
    /* relaxed: see struct kill_gen */
    uint64_t att = atomic_load_explicit(&k->hdr->gen[gen].attempted, memory_order_relaxed);
    if (seq >= att)
        stress_child_fail(&k->hdr->errors,
                          "receiver gen %u: gen %u seq %llu, but only %llu were begun", me, gen,
                          (unsigned long long)seq, (unsigned long long)att);
    uint64_t bit = (uint64_t)1 << (seq & 63);
    /* relaxed: the RMW alone decides who was first */
    uint64_t old = atomic_fetch_or_explicit(&k->bits[(size_t)gen * (KILL_MAX_SEQ / 64) + seq / 64],
                                            bit, memory_order_relaxed);
    if (old & bit)
        stress_child_fail(&k->hdr->errors, "receiver gen %u: gen %u seq %llu received twice", me,
                          gen, (unsigned long long)seq);
    if (last[gen] && seq < last[gen])
        stress_child_fail(&k->hdr->errors,
                          "receiver gen %u: gen %u seq %llu after seq %llu: FIFO broken", me, gen,
                          (unsigned long long)seq, (unsigned long long)(last[gen] - 1));
    last[gen] = seq + 1;
}

static void receiver(struct kill_run *k, unsigned me, struct stress_progress *prog)
{
    struct rng g;
    rng_seed(&g, k->r->seed, k->r->stream ^ (0xec00000 + me));
    uint64_t *last = calloc(KILL_MAX_GENS, sizeof *last);
    /* what one receive took: n messages packed one after the other */
    static unsigned char buf[RECV_BATCH * KILL_MAX_MSG];
    if (!last) {
        stress_child_fail(&k->hdr->errors, "receiver gen %u: out of memory", me);
        return;
    }
    for (;;) {
        unsigned form = (unsigned)rng_below(&g, 8);
        size_t lens[RECV_BATCH];
        size_t n = 1;
        unsigned spins = 0;
        int e;
        /* relaxed: see struct kill_gen */
        atomic_store_explicit(&k->hdr->gen[me].holding, form == 7 ? RECV_BATCH : 1,
                              memory_order_relaxed);
        if (form < 4) {
            prog_op(prog, OP_POP);
            e = weft_msgq_recv(k->q, buf, KILL_MAX_MSG, &lens[0]);
        } else if (form == 4) {
            prog_op(prog, OP_POP_TIMED);
            while ((e = weft_msgq_recv_timed(k->q, buf, KILL_MAX_MSG, &lens[0], MS)) == ETIMEDOUT) {
            }
        } else if (form < 7) {
            prog_op(prog, OP_TRY_POP);
            while ((e = weft_msgq_try_recv(k->q, buf, KILL_MAX_MSG, &lens[0])) == EAGAIN) {
                stress_backoff(&spins);
                if (spins % 4096 == 0)
                    (void)weft_msgq_recover(k->q);
            }
        } else {
            prog_op(prog, OP_POP_MANY);
            for (;;) {
                n = weft_msgq_try_recv_many(k->q, buf, sizeof buf, lens, RECV_BATCH);
                e = 0;
                if (n > 0)
                    break;
                /* empty, or closed and drained: try_recv tells which */
                n = 1;
                if (weft_msgq_closed(k->q) &&
                    (e = weft_msgq_try_recv(k->q, buf, KILL_MAX_MSG, &lens[0])) != EAGAIN)
                    break;
                stress_backoff(&spins);
                if (spins % 4096 == 0)
                    (void)weft_msgq_recover(k->q);
            }
        }
        if (e == EPIPE)
            break;
        if (e != 0) {
            stress_child_fail(&k->hdr->errors, "receiver gen %u: receive returned %d", me, e);
            break;
        }
        for (size_t i = 0, off = 0; i < n; off += lens[i++])
            take(k, me, buf + off, lens[i], last);
        atomic_store_explicit(&k->hdr->gen[me].holding, 0, memory_order_relaxed);
        /* relaxed: a counter for the parent's report */
        atomic_fetch_add_explicit(&k->hdr->got, n, memory_order_relaxed);
        prog_done(prog, n);
    }
    free(last);
}

/* ---- the parent ----------------------------------------------------------------- */

static void kill_describe(void *ctx, FILE *out)
{
    struct kill_run *k = ctx;
    /* relaxed: a snapshot for the report */
    fprintf(out,
            "    robust msgq: %zu bytes queued, %llu dropped, %llu received; %u generations, "
            "kills %u senders %u receivers\n",
            weft_msgq_bytes_used(k->q), (unsigned long long)weft_msgq_dropped(k->q),
            (unsigned long long)atomic_load_explicit(&k->hdr->got, memory_order_relaxed), k->ngens,
            k->kills[0], k->kills[1]);
}

/* Fork child i (a sender when i < P) as a new generation; false when it
 * could not (reported). */
static bool fork_child(struct kill_run *k, unsigned i)
{
    bool is_sender = i < k->P;
    if (k->ngens == KILL_MAX_GENS) {
        stress_fail(k->r, "out of generations");
        return false;
    }
    unsigned gen = k->ngens++;
    struct stress_progress *prog = stress_progress_claim(is_sender ? "sender" : "receiver", gen);
    if (!prog) {
        stress_fail(k->r, "no progress slot");
        return false;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        stress_fail(k->r, "fork: %s", strerror(errno));
        stress_progress_release(prog);
        return false;
    }
    if (pid == 0) {
        stress_chaos_thread(k->r, gen + 1);
        if (is_sender)
            sender(k, gen, prog);
        else
            receiver(k, gen, prog);
        prog_op(prog, OP_EXITED);
        fflush(stdout);
        _exit(0);
    }
    k->pid[i] = pid;
    k->gen[i] = gen;
    k->prog[i] = prog;
    return true;
}

/* Reap child i; true when it ended as expected (by SIGKILL when killed,
 * with status 0 otherwise). */
static bool reap(struct kill_run *k, unsigned i, bool killed)
{
    int st;
    while (waitpid(k->pid[i], &st, 0) < 0)
        if (errno != EINTR) {
            stress_fail(k->r, "waitpid: %s", strerror(errno));
            return false;
        }
    stress_progress_release(k->prog[i]);
    k->pid[i] = 0;
    bool ok = killed ? (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) ||
                           (WIFEXITED(st) && WEXITSTATUS(st) == 0)
                     : WIFEXITED(st) && WEXITSTATUS(st) == 0;
    if (!ok)
        stress_fail(k->r, "%s gen %u ended with %s %d", i < k->P ? "sender" : "receiver", k->gen[i],
                    WIFEXITED(st) ? "status" : "signal",
                    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    return ok;
}

/* The main phase: kill a random child every 0-3 ms, fork its successor;
 * replace senders that ended on their own (KILL_MAX_SEQ). */
static void kill_phase(struct kill_run *k, double seconds)
{
    struct rng g;
    rng_seed(&g, k->r->seed, k->r->stream ^ 0x4b111);
    unsigned n = k->P + k->C;
    double end = stress_now() + seconds;
    while (stress_now() < end && !stress_failed(k->r) && k->ngens + 1 < KILL_MAX_GENS) {
        stress_sleep_us((unsigned)rng_below(&g, 3000));
        for (unsigned i = 0; i < k->P; i++) {
            int st;
            if (waitpid(k->pid[i], &st, WNOHANG) == k->pid[i]) {
                /* a sender that reached KILL_MAX_SEQ: reap it as ended */
                stress_progress_release(k->prog[i]);
                k->pid[i] = 0;
                if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                    stress_fail(k->r, "sender gen %u ended with %s %d", k->gen[i],
                                WIFEXITED(st) ? "status" : "signal",
                                WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
                    return;
                }
                k->finished++;
                if (!fork_child(k, i))
                    return;
            }
        }
        /* a victim that has begun to work (one that is still starting up
         * holds nothing: killing it tests little) */
        unsigned i = (unsigned)rng_below(&g, n);
        for (unsigned tries = 0; tries < 1000 && !prog_ops(k->prog[i]); tries++)
            stress_sleep_us(100);
        (void)kill(k->pid[i], SIGKILL);
        if (!reap(k, i, true))
            return;
        /* relaxed: the child was reaped (waitpid orders) */
        struct kill_gen *kg = &k->hdr->gen[k->gen[i]];
        uint64_t att = atomic_load_explicit(&kg->attempted, memory_order_relaxed);
        unsigned held = atomic_load_explicit(&kg->holding, memory_order_relaxed);
        bool in_op =
            i < k->P ? att != atomic_load_explicit(&kg->sent, memory_order_relaxed) : held != 0;
        k->kills[i < k->P ? 0 : 1]++;
        k->kills_in_op += in_op;
        k->may_lose += held;
        if (!fork_child(k, i))
            return;
    }
}

/* Stop the senders and reap them, close, reap the receivers (which drain
 * the queue to EPIPE). */
static void kill_end(struct kill_run *k)
{
    /* relaxed: see sender */
    atomic_store_explicit(&k->hdr->stop, true, memory_order_relaxed);
    prog_op(stress_main_progress, OP_JOIN);
    for (unsigned i = 0; i < k->P + k->C; i++) {
        if (i == k->P) {
            prog_op(stress_main_progress, OP_CLOSE);
            weft_msgq_close(k->q);
        }
        if (k->pid[i] > 0)
            (void)reap(k, i, false);
    }
    weft_msgq_close(k->q);
}

/* After every child was reaped: the queue is drained, and every message
 * whose send returned was received but for the dead receivers' share. */
static void kill_check(struct kill_run *k)
{
    struct stress_run *r = k->r;
    unsigned char buf[KILL_MAX_MSG];
    size_t len;
    (void)weft_msgq_recover(k->q);
    int e = weft_msgq_try_recv(k->q, buf, sizeof buf, &len);
    if (e != EPIPE)
        stress_fail(r, "try_recv after the receivers saw EPIPE returned %d, not EPIPE", e);
    uint64_t lost = 0, sent = 0, first_gen = 0, first_seq = 0;
    for (unsigned gen = 0; gen < k->ngens; gen++) {
        /* relaxed: every child was reaped (waitpid orders) */
        uint64_t s = atomic_load_explicit(&k->hdr->gen[gen].sent, memory_order_relaxed);
        sent += s;
        for (uint64_t q = 0; q < s; q++) {
            uint64_t w = atomic_load_explicit(&k->bits[(size_t)gen * (KILL_MAX_SEQ / 64) + q / 64],
                                              memory_order_relaxed);
            if (!((w >> (q & 63)) & 1) && lost++ == 0) {
                first_gen = gen;
                first_seq = q;
            }
        }
    }
    if (lost > k->may_lose)
        stress_fail(r,
                    "%llu messages whose send returned were never received (first: gen %llu seq "
                    "%llu); the killed receivers' receives could hold at most %llu",
                    (unsigned long long)lost, (unsigned long long)first_gen,
                    (unsigned long long)first_seq, (unsigned long long)k->may_lose);
    uint64_t dropped = weft_msgq_dropped(k->q);
    unsigned kills = k->kills[0] + k->kills[1];
    if (dropped > k->kills_in_op)
        stress_fail(r,
                    "weft_msgq_dropped says %llu operations, but only %u kills were inside a call",
                    (unsigned long long)dropped, k->kills_in_op);
    if (kills == 0)
        stress_fail(r, "no process was killed");
    printf("    %u kills (%u senders, %u receivers; %u inside a call), %llu operations "
           "recovered, %llu of %llu sent messages lost (at most %llu allowed), %u senders "
           "finished\n",
           kills, k->kills[0], k->kills[1], k->kills_in_op, (unsigned long long)dropped,
           (unsigned long long)lost, (unsigned long long)sent, (unsigned long long)k->may_lose,
           k->finished);
    /* relaxed: every child was reaped */
    r->ops = atomic_load_explicit(&k->hdr->got, memory_order_relaxed);
}

int run_msgq_kill(struct stress_run *r)
{
    if (r->peer != STRESS_PEER_NONE) {
        snprintf(r->skip, sizeof r->skip, "the message queue has no peer here");
        return STRESS_EXIT_SKIP;
    }
    struct kill_run k;
    memset(&k, 0, sizeof k);
    k.r = r;
    k.P = r->p > KILL_MAX_PROCS ? KILL_MAX_PROCS : r->p ? r->p : 1;
    k.C = r->c > KILL_MAX_PROCS ? KILL_MAX_PROCS : r->c ? r->c : 1;
    r->p = k.P;
    r->c = k.C;
    size_t cells = r->capacity ? r->capacity : KILL_QUEUE_CELLS;
    size_t fp = weft_msgq_footprint(cells * WEFT_MSGQ_CELL);
    size_t off_bits = (sizeof(struct kill_hdr) + 63) & ~(size_t)63;
    size_t off_q = off_bits + sizeof(uint64_t) * KILL_MAX_GENS * (KILL_MAX_SEQ / 64);
    off_q = (off_q + 4095) & ~(size_t)4095;
    k.map_len = off_q + fp;
    k.map = mmap(NULL, k.map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (fp == 0 || k.map == MAP_FAILED) {
        stress_fail(r, "mmap of %zu bytes: %s", k.map_len, strerror(errno));
        return 0;
    }
    k.hdr = k.map;
    k.bits = (atomic_uint_least64_t *)(void *)((char *)k.map + off_bits);
    k.q = weft_msgq_init((char *)k.map + off_q, cells * WEFT_MSGQ_CELL,
                         WEFT_SHARED | WEFT_MSGQ_ROBUST);
    if (!k.q) {
        stress_fail(r, "weft_msgq_init(ROBUST): %s", strerror(errno));
        munmap(k.map, k.map_len);
        return 0;
    }
    snprintf(r->setup, sizeof r->setup, "%uP%uC procs, %zu cells", k.P, k.C,
             weft_msgq_capacity(k.q) / WEFT_MSGQ_CELL);
    stress_set_describe(kill_describe, &k);
    double t0 = stress_now();
    bool all = true;
    for (unsigned i = 0; i < k.P + k.C && all; i++)
        all = fork_child(&k, i);
    if (all)
        kill_phase(&k, r->seconds);
    kill_end(&k);
    r->elapsed = stress_now() - t0;
    prog_op(stress_main_progress, OP_CHECK);
    /* relaxed: every child was reaped (waitpid orders) */
    unsigned child_errors = atomic_load_explicit(&k.hdr->errors, memory_order_relaxed);
    if (child_errors)
        stress_fail(r, "%u failed checks in the child processes (printed above)", child_errors);
    if (all)
        kill_check(&k);
    stress_set_describe(NULL, NULL);
    munmap(k.map, k.map_len);
    return 0;
}
