/*
 * stress/rings_shared.c - mpmc-shared and spsc-shared: a WEFT_SHARED ring in
 * mmap(MAP_SHARED) memory between fork()ed producer and consumer processes.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <weft/mpmc.h>

#include "rings.h"
#include "stress.h"

/* ---- a ring shared by fork()ed processes ----------------------------------------- */

/* Items cannot be heap pointers across processes: a producer writes its
 * payload into a slot of a shared table and pushes the slot's index; the
 * consumer verifies the slot and hands it back (state FREE).  Each producer
 * has SH_SLOTS slots used round-robin, more than the ring plus every
 * consumer can hold, so a producer waits for a slot only if an item is lost
 * or a consumer is stuck (both reported). */
#define SH_MAX_SEQ ((uint64_t)1 << 22) /* per producer; then it stops */
#define SH_MAX_PROCS 16

struct sh_slot {
    atomic_uint state; /* 0 free, 1 written by the producer */
    uint32_t producer;
    uint64_t seq;
    uint64_t body[3];
    uint64_t check;
};

struct sh_hdr {
    atomic_bool stop;
    atomic_uint producers_done;
    atomic_uint errors;
    uint64_t pushed[SH_MAX_PROCS];
    uint64_t got[SH_MAX_PROCS];
};

struct shared_run {
    struct sh_hdr *hdr;
    struct sh_slot *slots;       /* [P][nslots] */
    atomic_uint_least64_t *bits; /* [P][SH_MAX_SEQ / 64] */
    void *q;
    size_t nslots;
    size_t map_len;
    void *map;
    /* the parent's */
    const struct ring_ops *ops;
    unsigned P, C;
    unsigned n; /* children forked */
    pid_t pids[2 * SH_MAX_PROCS];
    struct stress_progress *progs[2 * SH_MAX_PROCS];
};

static uint64_t sh_sum(const struct sh_slot *s)
{
    uint64_t h = stress_mix(s->producer ^ 0x5a5a5a5a5a5aull);
    h = stress_mix(h ^ s->seq);
    for (int i = 0; i < 3; i++)
        h = stress_mix(h ^ s->body[i]);
    return h;
}

static void sh_producer(struct stress_run *r, const struct ring_ops *ops, struct shared_run *s,
                        unsigned id, unsigned P, struct stress_progress *prog)
{
    struct rng g;
    rng_seed(&g, r->seed, r->stream ^ (1000 + id));
    uint64_t seq = 0;
    /* relaxed: a time-out flag */
    while (!atomic_load_explicit(&s->hdr->stop, memory_order_relaxed) && seq < SH_MAX_SEQ) {
        size_t idx = (size_t)id * s->nslots + (size_t)(seq % s->nslots);
        struct sh_slot *sl = &s->slots[idx];
        unsigned spins = 0;
        double waited = 0;
        prog_op(prog, OP_BACKOFF);
        /* acquire: pairs with the release in sh_consumer, which finished
         * reading the slot's last payload */
        while (atomic_load_explicit(&sl->state, memory_order_acquire) != 0) {
            stress_backoff(&spins);
            if (spins > 1000000 && waited == 0)
                waited = 1;
        }
        sl->producer = id;
        sl->seq = seq;
        for (int i = 0; i < 3; i++)
            sl->body[i] = rng_next(&g);
        sl->check = sh_sum(sl);
        /* relaxed: the ring's push publishes the payload; this flag only
         * keeps the producer from reusing the slot too early */
        atomic_store_explicit(&sl->state, 1, memory_order_relaxed);
        void *item = (void *)(uintptr_t)idx;
        int e = 0;
        if (rng_below(&g, 2)) {
            prog_op(prog, OP_PUSH);
            e = ops->push(s->q, item);
        } else {
            prog_op(prog, OP_TRY_PUSH);
            while (!ops->try_push(s->q, item))
                stress_backoff(&spins);
        }
        if (e != 0) {
            stress_child_fail(&s->hdr->errors, "producer %u: push returned %d", id, e);
            break;
        }
        seq++;
        prog_done(prog, 1);
        stress_chaos();
    }
    (void)P;
    s->hdr->pushed[id] = seq;
    /* release: pairs with the acquire in the parent (after waitpid anyway) */
    atomic_fetch_add_explicit(&s->hdr->producers_done, 1, memory_order_release);
}

static void sh_consumer(const struct ring_ops *ops, struct shared_run *s, unsigned id, unsigned P,
                        struct stress_progress *prog)
{
    uint64_t last[SH_MAX_PROCS] = { 0 }, got = 0;
    for (;;) {
        void *item;
        prog_op(prog, OP_POP);
        int e = ops->pop(s->q, &item);
        if (e == EPIPE)
            break;
        if (e != 0) {
            stress_child_fail(&s->hdr->errors, "consumer %u: pop returned %d", id, e);
            break;
        }
        uintptr_t idx = (uintptr_t)item;
        if (idx >= (uintptr_t)P * s->nslots) {
            stress_child_fail(&s->hdr->errors, "consumer %u: bogus item %#lx", id,
                              (unsigned long)idx);
            continue;
        }
        struct sh_slot *sl = &s->slots[idx];
        unsigned prod = (unsigned)(idx / s->nslots);
        if (sl->producer != prod || sl->seq % s->nslots != idx % s->nslots ||
            sl->check != sh_sum(sl) || sl->seq >= SH_MAX_SEQ) {
            stress_child_fail(&s->hdr->errors,
                              "consumer %u: torn payload in slot %lu (producer %u seq %llu)", id,
                              (unsigned long)idx, sl->producer, (unsigned long long)sl->seq);
            continue;
        }
        uint64_t seq = sl->seq;
        uint64_t bit = (uint64_t)1 << (seq & 63);
        atomic_uint_least64_t *word = &s->bits[(size_t)prod * (SH_MAX_SEQ / 64) + seq / 64];
        /* relaxed: the RMW alone decides who was first */
        uint64_t old = atomic_fetch_or_explicit(word, bit, memory_order_relaxed);
        if (old & bit)
            stress_child_fail(&s->hdr->errors, "consumer %u: producer %u seq %llu delivered twice",
                              id, prod, (unsigned long long)seq);
        if (last[prod] && seq < last[prod])
            stress_child_fail(&s->hdr->errors,
                              "consumer %u: producer %u seq %llu after seq %llu: FIFO broken", id,
                              prod, (unsigned long long)seq, (unsigned long long)(last[prod] - 1));
        last[prod] = seq + 1;
        /* release: pairs with the acquire in sh_producer; our reads of the
         * payload are done before the producer rewrites the slot */
        atomic_store_explicit(&sl->state, 0, memory_order_release);
        got++;
        prog_done(prog, 1);
        stress_chaos();
    }
    s->hdr->got[id] = got;
}

static void shared_describe(void *ctx, FILE *out)
{
    struct shared_run *s = ctx;
    (void)s;
    fprintf(out, "    shared ring (see the progress of the child processes above)\n");
}

/* Lay out and map the shared memory (header, slots, seen bits, ring) and
 * build the ring in it; false (reported) on failure. */
static bool sh_map(struct stress_run *r, struct shared_run *s)
{
    const struct ring_ops *ops = s->ops;
    unsigned P = s->P, C = s->C;
    size_t fp = ops->footprint(r->capacity);
    if (fp == 0) {
        stress_fail(r, "footprint(%zu) is 0", r->capacity);
        return false;
    }
    s->nslots = 2 * r->capacity + 4 * (size_t)C + 64;
    size_t off_slots = (sizeof(struct sh_hdr) + 63) & ~(size_t)63;
    size_t off_bits = off_slots + ((sizeof(struct sh_slot) * P * s->nslots + 63) & ~(size_t)63);
    size_t off_ring = off_bits + sizeof(uint64_t) * P * (SH_MAX_SEQ / 64);
    off_ring = (off_ring + 4095) & ~(size_t)4095;
    s->map_len = off_ring + fp;
    s->map = mmap(NULL, s->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s->map == MAP_FAILED) {
        stress_fail(r, "mmap(%zu): %s", s->map_len, strerror(errno));
        return false;
    }
    s->hdr = s->map;
    s->slots = (struct sh_slot *)(void *)((char *)s->map + off_slots);
    s->bits = (atomic_uint_least64_t *)(void *)((char *)s->map + off_bits);
    s->q = ops->init((char *)s->map + off_ring, r->capacity, WEFT_SHARED);
    if (!s->q) {
        stress_fail(r, "%s init(WEFT_SHARED): %s", ops->name, strerror(errno));
        munmap(s->map, s->map_len);
        return false;
    }
    return true;
}

/* Fork the producer and consumer processes (s->n of them, all unless a
 * failure is reported). */
static void sh_fork_all(struct stress_run *r, struct shared_run *s)
{
    unsigned P = s->P;
    for (unsigned i = 0; i < P + s->C; i++) {
        bool prod = i < P;
        unsigned id = prod ? i : i - P;
        struct stress_progress *prog = stress_progress_claim(prod ? "producer" : "consumer", id);
        if (!prog) {
            stress_fail(r, "no progress slot");
            break;
        }
        pid_t pid = fork();
        if (pid < 0) {
            stress_fail(r, "fork: %s", strerror(errno));
            break;
        }
        if (pid == 0) {
            stress_chaos_thread(r, i + 1);
            if (prod)
                sh_producer(r, s->ops, s, id, P, prog);
            else
                sh_consumer(s->ops, s, id, P, prog);
            prog_op(prog, OP_EXITED);
            fflush(stdout);
            _exit(0);
        }
        s->progs[s->n] = prog;
        s->pids[s->n++] = pid;
    }
}

/* Stop the producers, reap them, close the ring, reap the consumers. */
static void sh_reap(struct stress_run *r, struct shared_run *s)
{
    unsigned P = s->P;
    /* relaxed: see sh_producer */
    atomic_store_explicit(&s->hdr->stop, true, memory_order_relaxed);
    prog_op(stress_main_progress, OP_JOIN);
    bool closed = false;
    for (unsigned i = 0; i < s->n; i++) {
        if (i >= P && !closed) {
            prog_op(stress_main_progress, OP_CLOSE);
            s->ops->close(s->q);
            closed = true;
        }
        int st;
        while (waitpid(s->pids[i], &st, 0) < 0 && errno == EINTR) {
        }
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            stress_fail(r, "%s process %u ended with %s %d", i < P ? "producer" : "consumer",
                        i < P ? i : i - P, WIFEXITED(st) ? "status" : "signal",
                        WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    }
    if (!closed)
        s->ops->close(s->q);
    for (unsigned i = 0; i < s->n; i++)
        stress_progress_release(s->progs[i]);
}

/* After every child ran and was reaped: nothing left in the ring, no item
 * lost, as many popped as pushed. */
static void sh_check(struct stress_run *r, struct shared_run *s)
{
    void *it;
    uint64_t left = 0;
    while (s->ops->try_pop(s->q, &it))
        left++;
    if (left)
        stress_fail(r, "%llu items left in the shared ring after the consumers saw EPIPE",
                    (unsigned long long)left);
    uint64_t pushed = 0, got = 0;
    for (unsigned i = 0; i < s->P; i++) {
        pushed += s->hdr->pushed[i];
        uint64_t missing = 0, first = 0;
        for (uint64_t q = 0; q < s->hdr->pushed[i]; q++) {
            /* relaxed: every child was reaped (waitpid orders) */
            uint64_t w = atomic_load_explicit(&s->bits[(size_t)i * (SH_MAX_SEQ / 64) + q / 64],
                                              memory_order_relaxed);
            if (!((w >> (q & 63)) & 1) && missing++ == 0)
                first = q;
        }
        if (missing)
            stress_fail(r, "producer %u: %llu of %llu items lost, first seq %llu", i,
                        (unsigned long long)missing, (unsigned long long)s->hdr->pushed[i],
                        (unsigned long long)first);
    }
    for (unsigned i = 0; i < s->C; i++)
        got += s->hdr->got[i];
    if (got != pushed && !stress_failed(r))
        stress_fail(r, "%llu pushed, %llu popped", (unsigned long long)pushed,
                    (unsigned long long)got);
    r->ops = got;
}

int run_shared(struct stress_run *r)
{
    const struct ring_arg *a = r->sc->arg;
    const struct ring_ops *ops = ring_pick_ops(r, a, M_BLOCK);
    if (!ops)
        return STRESS_EXIT_SKIP;
    unsigned P = r->p > SH_MAX_PROCS ? SH_MAX_PROCS : r->p;
    unsigned C = r->c > SH_MAX_PROCS ? SH_MAX_PROCS : r->c;
    r->p = P;
    r->c = C;
    struct shared_run s;
    memset(&s, 0, sizeof s);
    s.ops = ops;
    s.P = P;
    s.C = C;
    if (!sh_map(r, &s))
        return 0;
    snprintf(r->setup, sizeof r->setup, "%uP%uC procs cap %zu", P, C, ops->capacity(s.q));
    fflush(stdout);
    stress_set_describe(shared_describe, &s);
    double t0 = stress_now();
    sh_fork_all(r, &s);
    if (s.n == P + C)
        ring_main_phase(r, r->seconds);
    sh_reap(r, &s);
    r->elapsed = stress_now() - t0;
    prog_op(stress_main_progress, OP_CHECK);
    /* relaxed: every child was reaped (waitpid orders) */
    unsigned child_errors = atomic_load_explicit(&s.hdr->errors, memory_order_relaxed);
    if (child_errors)
        stress_fail(r, "%u failed checks in the child processes (printed above)", child_errors);
    if (s.n == P + C)
        sh_check(r, &s);
    stress_set_describe(NULL, NULL);
    munmap(s.map, s.map_len);
    return 0;
}
