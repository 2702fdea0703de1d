/*
 * msgq.cc - model checking of src/msgq.c (Vyukov's sequence numbers over
 * runs of 64-byte cells, a closed mark and two eventcounts) under Relacy.
 * The queue comes from weft_msgq_create (process-private).
 *
 * What every scenario asserts (include/weft/msgq.h is the contract):
 *  - exactly once and intact: every message whose send succeeded is
 *    received exactly once, by a thread or by the drain once all threads
 *    end, with its length and every byte as sent; nothing else is received;
 *  - order: in every receiver's receives, one sender's messages come in the
 *    order it sent them; the drain's come after the threads';
 *  - publication: each message's payload is an rl::var written before its
 *    send and read by whoever receives it (a missing release/acquire on a
 *    cell's seq is a data race); where a scenario says so, what a receiver
 *    wrote before its receive is read by the sender whose message reuses
 *    the cells, and what the closer wrote before close is read by whoever
 *    gets EPIPE;
 *  - EMSGSIZE tells the length of a message really at the head (never one
 *    read from a cell that moved on), and leaves it there;
 *  - no lost wake-up: every blocking call returns, and once all threads end
 *    nobody is announced on either eventcount.
 *
 * Sender s's k-th message is id s * PER_SENDER + k + 1; its length is the
 * scenario's len_of(id): 1 to 2 cells, so that a message may need cells
 * that two earlier ones held, and may wrap around the end of the data.
 */
#include "model.h"

#include "eventcount.c"
#include "msgq.c"
#include "lags.h"

/* Who is who for robust queues (src/msgq.c's owner records): a thread's
 * token is its index + 1; a robust scenario points model_dead at its
 * flags, which a "dying" thread sets once it stops in the middle of an
 * operation (the kernel's part: the process is gone).  Elsewhere every
 * thread is alive.  Relacy runs after() on one of the threads, perhaps the
 * dead one: past its death a thread is another process's (a new pid),
 * token index + 1 + REBORN, alive. */
static rl::atomic<bool> *model_dead;
static const uint64_t REBORN = 16;
/* Tokens from GHOST up: processes that died before the scenario began,
 * whose records a scenario may leave in the table (record_reuse); from
 * LIVE_GHOST to GHOST: processes alive all along that hold records and do
 * nothing (untracked_send). */
static const uint64_t LIVE_GHOST = 48;
static const uint64_t GHOST = 64;

/* The start time of a token's process: distinct for every token, so that a
 * record's owner read with a start that is not its own (a stale read of
 * the previous owner's) looks dead, as a reused pid does to /proc. */
static uint64_t start_of(uint64_t token)
{
    return 1000 + token;
}

uint64_t weft_model_msgq_token(void)
{
    uint64_t i = (uint64_t)rl::thread_index();
    /* relaxed: the thread's own flag (or the last writer's, after join) */
    bool dead = model_dead != nullptr && model_dead[i].load(memory_order_relaxed, $);
    return i + 1 + (dead ? REBORN : 0);
}

uint64_t weft_model_msgq_start(void)
{
    return start_of(weft_model_msgq_token());
}

bool weft_model_msgq_alive(uint64_t owner, uint64_t start)
{
    if (owner >= GHOST || start != start_of(owner))
        return false;
    if (owner >= LIVE_GHOST)
        return true;
    /* acquire: pairs with the dying thread's release store (its intent is
     * then visible, as the real kernel's exit makes it) */
    return model_dead == nullptr || owner > REBORN ||
           !model_dead[owner - 1].load(memory_order_acquire, $);
}

namespace
{

using namespace weft_model_lags;

const int PER_SENDER = 3;
const int MAX_SENDERS = 3;
const int MAX_ID = MAX_SENDERS * PER_SENDER;
const int MAX_TAKES = MAX_ID + 1;
const size_t MAX_LEN = 2 * WEFT_MSGQ_CELL;

int msg_id(int sender, int k)
{
    return sender * PER_SENDER + k + 1;
}

int sender_of(int id)
{
    return (id - 1) / PER_SENDER;
}

int rank_of(int id)
{
    return (id - 1) % PER_SENDER;
}

unsigned char byte_of(int id, size_t i)
{
    return (unsigned char)(id * 37 + (int)i);
}

template <class Derived, int Threads>
struct msgq_scenario : weft_model::scenario<Derived, Threads> {
    static const int ROWS = Threads + 1;
    weft_msgq *q;
    rl::var<int> payload[MAX_ID + 1];
    bool sent[MAX_ID + 1];
    int taken[ROWS][MAX_TAKES];
    int ntaken[ROWS];

    static size_t capacity()
    {
        return 2 * WEFT_MSGQ_CELL;
    }

    /* the default: every message takes one cell */
    static size_t len_of(int id)
    {
        return (size_t)id;
    }

    void before()
    {
        (void)weft_model::membarrier_ok_flag($);
        q = weft_msgq_create(Derived::capacity());
        RL_ASSERT(q != nullptr);
        RL_ASSERT(weft_msgq_capacity(q) == Derived::capacity());
        model_dead = nullptr;
        for (int i = 0; i <= MAX_ID; i++)
            sent[i] = false;
        for (int r = 0; r < ROWS; r++)
            ntaken[r] = 0;
    }

    /* ---- senders ---- */

    void make(int id, unsigned char *m)
    {
        payload[id]($) = id * 10;
        for (size_t i = 0; i < Derived::len_of(id); i++)
            m[i] = byte_of(id, i);
    }

    int try_send(int id)
    {
        unsigned char m[MAX_LEN];
        make(id, m);
        int r = weft_msgq_try_send(q, m, Derived::len_of(id));
        RL_ASSERT(r == 0 || r == EAGAIN || r == EPIPE);
        if (r == 0)
            sent[id] = true;
        return r;
    }

    int send(int id)
    {
        unsigned char m[MAX_LEN];
        make(id, m);
        int r = weft_msgq_send(q, m, Derived::len_of(id));
        RL_ASSERT(r == 0 || r == EPIPE);
        if (r == 0)
            sent[id] = true;
        return r;
    }

    /* send_many of sender s's messages k0 .. k0+n-1 */
    size_t try_send_many(int s, int k0, size_t n)
    {
        unsigned char m[PER_SENDER][MAX_LEN];
        const void *msgs[PER_SENDER];
        size_t lens[PER_SENDER];
        for (size_t i = 0; i < n; i++) {
            int id = msg_id(s, k0 + (int)i);
            make(id, m[i]);
            msgs[i] = m[i];
            lens[i] = Derived::len_of(id);
        }
        size_t k = weft_msgq_try_send_many(q, msgs, lens, n);
        RL_ASSERT(k <= n);
        for (size_t i = 0; i < k; i++) /* a prefix */
            sent[msg_id(s, k0 + (int)i)] = true;
        return k;
    }

    /* ---- receivers ---- */

    void record(unsigned row, const unsigned char *m, size_t len)
    {
        RL_ASSERT(len >= 1);
        int id = 0;
        /* which message: the one whose first byte and length match */
        for (int i = 1; i <= MAX_ID; i++)
            if (byte_of(i, 0) == m[0] && Derived::len_of(i) == len)
                id = i;
        RL_ASSERT(id != 0);
        for (size_t i = 0; i < len; i++)
            RL_ASSERT(m[i] == byte_of(id, i));
        /* the payload written before the send: a race if not published */
        RL_ASSERT(payload[id]($) == id * 10);
        RL_ASSERT(ntaken[row] < MAX_TAKES);
        taken[row][ntaken[row]++] = id;
    }

    int try_recv(unsigned row, size_t cap = MAX_LEN)
    {
        unsigned char m[MAX_LEN];
        size_t len = 12345;
        int r = weft_msgq_try_recv(q, m, cap, &len);
        RL_ASSERT(r == 0 || r == EAGAIN || r == EPIPE || r == EMSGSIZE);
        if (r == 0)
            record(row, m, len);
        else if (r == EMSGSIZE)
            RL_ASSERT(len > cap && len <= MAX_LEN);
        else
            RL_ASSERT(len == 12345);
        return r;
    }

    int recv(unsigned row)
    {
        unsigned char m[MAX_LEN];
        size_t len = 12345;
        int r = weft_msgq_recv(q, m, sizeof m, &len);
        RL_ASSERT(r == 0 || r == EPIPE);
        if (r == 0)
            record(row, m, len);
        return r;
    }

    size_t try_recv_many(unsigned row, size_t n)
    {
        unsigned char m[MAX_TAKES * MAX_LEN];
        size_t lens[MAX_TAKES];
        size_t k = weft_msgq_try_recv_many(q, m, sizeof m, lens, n);
        RL_ASSERT(k <= n);
        size_t off = 0;
        for (size_t i = 0; i < k; i++) {
            record(row, m + off, lens[i]);
            off += lens[i];
        }
        return k;
    }

    /* ---- the end ---- */

    void after()
    {
        const int drain = Threads;
        unsigned char m[MAX_LEN];
        size_t len;
        static_cast<Derived *>(this)->before_drain();
        while (weft_msgq_try_recv(q, m, sizeof m, &len) == 0)
            record(drain, m, len);
        RL_ASSERT(weft_msgq_bytes_used(q) == 0);
        int seen[MAX_ID + 1] = { 0 };
        for (int r = 0; r < ROWS; r++)
            for (int a = 0; a < ntaken[r]; a++)
                seen[taken[r][a]]++;
        for (int i = 1; i <= MAX_ID; i++)
            RL_ASSERT(seen[i] == (sent[i] ? 1 : 0));
        for (int r = 0; r < ROWS; r++)
            for (int a = 0; a < ntaken[r]; a++)
                for (int b = a + 1; b < ntaken[r]; b++)
                    if (sender_of(taken[r][a]) == sender_of(taken[r][b]))
                        RL_ASSERT(rank_of(taken[r][a]) < rank_of(taken[r][b]));
        for (int r = 0; r < Threads; r++)
            for (int a = 0; a < ntaken[r]; a++)
                for (int b = 0; b < ntaken[drain]; b++)
                    if (sender_of(taken[r][a]) == sender_of(taken[drain][b]))
                        RL_ASSERT(rank_of(taken[r][a]) < rank_of(taken[drain][b]));
        RL_ASSERT(announced(not_empty(q)) == 0);
        RL_ASSERT(announced(not_full(q)) == 0);
        static_cast<Derived *>(this)->check();
        weft_msgq_destroy(q);
    }

    void before_drain() {}
    void check() {}
};

/* ---- robust queues: dead owners' claims (src/msgq.c, "Recovery") ------ */

/* A robust queue whose thread 1 dies in the middle of an operation: it
 * claims (claim_send or claim_recv, the real code) and stops there, then
 * its dead flag goes up.  The drain calls weft_msgq_recover whenever it is
 * stuck (the threads' own calls may have found the owner still alive, or
 * the claim behind a message): it must then get every other message, and
 * the dead operation is counted in dropped exactly once. */
template <class Derived, int Threads> struct robust_scenario : msgq_scenario<Derived, Threads> {
    typedef msgq_scenario<Derived, Threads> base;
    rl::atomic<bool> dead[Threads];
    bool died_claiming;
    void before()
    {
        base::before();
        /* weft_msgq_init's WEFT_MSGQ_ROBUST, on the created queue */
        this->q->robust = 1;
        for (int i = 0; i < Threads; i++)
            dead[i].store(false, memory_order_relaxed, $);
        model_dead = dead;
        died_claiming = false;
    }
    void die()
    {
        /* release: pairs with the acquire in weft_model_msgq_alive */
        dead[rl::thread_index()].store(true, memory_order_release, $);
    }
    /* a sender that dies after its claim, before the publish */
    void die_sending(size_t len)
    {
        struct op o = op_begin(this->q);
        uint64_t t;
        died_claiming = claim_send(this->q, o, &len, 1, &t) == 1;
        die();
    }
    /* a receiver that dies after its claim, before the release: the
     * message it claimed is lost with it */
    void die_receiving()
    {
        struct op o = op_begin(this->q);
        size_t lens[1];
        uint64_t h, cells;
        int why;
        if (claim_recv(this->q, o, MAX_LEN, lens, 1, &h, &cells, &why) == 1) {
            died_claiming = true;
            for (int id = 1; id <= MAX_ID; id++)
                if (this->sent[id] && Derived::len_of(id) == lens[0])
                    this->sent[id] = false;
        }
        die();
    }
    /* Before the threads run: every record held by token base + i (a
     * ghost's or an idle live process's), with its own start. */
    void hold_every_record(uint64_t base)
    {
        for (unsigned i = 0; i < RECORDS; i++) {
            /* relaxed (init): no thread runs yet */
            atomic_store_explicit(&this->q->records[i].owner, base + i, memory_order_relaxed);
            atomic_store_explicit(&this->q->records[i].start, start_of(base + i),
                                  memory_order_relaxed);
        }
    }
    /* the drain, recovering whenever it is stuck (a dead claim behind
     * published messages is recovered once it is at the head) */
    void before_drain()
    {
        unsigned char m[MAX_LEN];
        size_t len;
        do
            while (weft_msgq_try_recv(this->q, m, sizeof m, &len) == 0)
                this->record(Threads, m, len);
        while (weft_msgq_recover(this->q) != 0);
        RL_ASSERT(weft_msgq_dropped(this->q) == (died_claiming ? 1u : 0u));
    }
};

/* A sender dies holding two cells (a 65-byte message) in a queue of four,
 * beside a sender of two one-cell messages and a receiver that recovers
 * and then tries twice: the live messages are never dropped, and one sent
 * behind the dead claim is received once the claim is recovered. */
struct dead_sender : robust_scenario<dead_sender, 3> {
    static size_t capacity()
    {
        return 4 * WEFT_MSGQ_CELL;
    }
    void thread(unsigned i)
    {
        if (i == 0) {
            try_send(msg_id(0, 0));
            try_send(msg_id(0, 1));
        } else if (i == 1) {
            die_sending(WEFT_MSGQ_CELL + 1);
        } else {
            (void)weft_msgq_recover(q);
            try_recv(2);
            try_recv(2);
        }
    }
};

/* A full queue of two one-cell messages; a receiver dies holding the
 * first it claims, beside a sender that tries a third message (it needs
 * the dead receiver's cell, one lap on) and a thread that recovers and
 * receives. */
struct dead_receiver : robust_scenario<dead_receiver, 3> {
    void before()
    {
        robust_scenario<dead_receiver, 3>::before();
        RL_ASSERT(try_send(msg_id(0, 0)) == 0);
        RL_ASSERT(try_send(msg_id(0, 1)) == 0);
    }
    void thread(unsigned i)
    {
        if (i == 0) {
            try_send(msg_id(1, 0));
        } else if (i == 1) {
            die_receiving();
        } else {
            (void)weft_msgq_recover(q);
            try_recv(2);
        }
    }
};

/* Every record is held by a process that died before (a ghost, its claim
 * finished with), so each thread must take a ghost's record, racing the
 * other for it: sender 0 dies holding a claim, sender 1 sends, a
 * receiver recovers and tries once, and the drain recovers the dead claim.  A taker that judged a live owner by the previous owner's start
 * (a record's start read without the owner word's acquire, or taken
 * before its start is written) could take sender 0's record while sender 0
 * is inside an operation; the two would then write their claims into one
 * record, the dead claim would be lost, and what was sent behind it
 * would never be received. */
struct record_reuse : robust_scenario<record_reuse, 3> {
    void before()
    {
        robust_scenario<record_reuse, 3>::before();
        hold_every_record(GHOST);
    }
    void thread(unsigned i)
    {
        if (i == 0) {
            die_sending(1);
        } else if (i == 1) {
            try_send(msg_id(1, 0));
        } else {
            (void)weft_msgq_recover(q);
            try_recv(2);
        }
    }
};

/* Every record is held by a live process that does nothing, so a sender
 * runs untracked (op_begin finds no record) while a receiver recovers and
 * tries: recovery must stay off while the untracked send is in flight, and
 * once its count is back to 0 it must see the message published (the
 * release decrement in op_end), or it would drop a live message as a dead
 * sender's cells. */
struct untracked_send : robust_scenario<untracked_send, 2> {
    void before()
    {
        robust_scenario<untracked_send, 2>::before();
        hold_every_record(LIVE_GHOST);
    }
    void thread(unsigned i)
    {
        if (i == 0) {
            try_send(msg_id(0, 0));
        } else {
            (void)weft_msgq_recover(q);
            try_recv(1);
            (void)weft_msgq_recover(q);
        }
    }
};

/* Messages of one and two cells, in a queue of two: a two-cell message
 * needs the cells of both earlier ones (and wraps when it starts at the
 * second cell). */
size_t mixed_len(int id)
{
    return rank_of(id) == 1 ? WEFT_MSGQ_CELL + 1 : (size_t)id;
}

/* ---- the fast path: no thread parks ------------------------------------ */

/* Sender 0 tries two messages (one cell, then two), sender 1 one; receiver
 * 2 tries twice, receiver 3 once. */
struct try_2s2r : msgq_scenario<try_2s2r, 4> {
    static size_t len_of(int id)
    {
        return mixed_len(id);
    }
    void thread(unsigned i)
    {
        if (i == 0) {
            try_send(msg_id(0, 0));
            try_send(msg_id(0, 1));
        } else if (i == 1) {
            try_send(msg_id(1, 0));
        } else if (i == 2) {
            try_recv(2);
            try_recv(2);
        } else {
            try_recv(3);
        }
    }
};

/* A one-cell message in cell 1 is received while a sender tries a
 * two-cell message over cells 0 and 1 (one lap on for cell 0): when the
 * send succeeds, what the receiver wrote before its receive is visible. */
struct cell_reuse : msgq_scenario<cell_reuse, 2> {
    static size_t len_of(int id)
    {
        return mixed_len(id);
    }
    rl::var<int> note;
    void before()
    {
        msgq_scenario<cell_reuse, 2>::before();
        unsigned char m[MAX_LEN];
        size_t len;
        RL_ASSERT(try_send(msg_id(1, 0)) == 0); /* cell 0, received at once */
        RL_ASSERT(weft_msgq_try_recv(q, m, sizeof m, &len) == 0);
        RL_ASSERT(len == len_of(msg_id(1, 0)) && m[0] == byte_of(msg_id(1, 0), 0));
        sent[msg_id(1, 0)] = false;             /* not a message of the threads' */
        RL_ASSERT(try_send(msg_id(1, 2)) == 0); /* cell 1 */
    }
    void thread(unsigned i)
    {
        if (i == 0) {
            note($) = 1;
            RL_ASSERT(try_recv(0) == 0);          /* nobody else receives */
        } else if (try_send(msg_id(0, 1)) == 0) { /* cells 2 and 3: 0 and 1 */
            RL_ASSERT(note($) == 1);
        }
    }
};

/* send_many of three messages (1 + 2 + 1 cells) into four cells against a
 * try_send, a recv_many(3) and a try_recv. */
struct batches : msgq_scenario<batches, 4> {
    static size_t capacity()
    {
        return 4 * WEFT_MSGQ_CELL;
    }
    static size_t len_of(int id)
    {
        return mixed_len(id);
    }
    void thread(unsigned i)
    {
        if (i == 0)
            try_send_many(0, 0, 3);
        else if (i == 1)
            try_send(msg_id(1, 0));
        else if (i == 2)
            try_recv_many(2, 3);
        else
            try_recv(3);
    }
};

/* A receiver with a buffer of 10 bytes against one with room for all: the
 * small one gets the short message, or EMSGSIZE with the length of the
 * long one (65 bytes), never a length read from a cell that moved on. */
struct too_small_buffer : msgq_scenario<too_small_buffer, 3> {
    static size_t len_of(int id)
    {
        return mixed_len(id);
    }
    void thread(unsigned i)
    {
        if (i == 0) {
            try_send(msg_id(0, 0)); /* 1 byte */
            try_send(msg_id(0, 1)); /* 65 bytes */
        } else if (i == 1) {
            size_t len = 0;
            unsigned char m[10];
            for (int k = 0; k < 2; k++) {
                int r = weft_msgq_try_recv(q, m, sizeof m, &len);
                if (r == 0)
                    record(1, m, len);
                else if (r == EMSGSIZE)
                    RL_ASSERT(len == WEFT_MSGQ_CELL + 1);
            }
        } else {
            try_recv(2);
            try_recv(2);
        }
    }
};

/* close against a receive on an empty queue: EPIPE sees the closer's
 * writes. */
struct close_vs_recv : msgq_scenario<close_vs_recv, 2> {
    rl::var<int> note;
    void thread(unsigned i)
    {
        if (i == 0) {
            RL_ASSERT(recv(0) == EPIPE);
            RL_ASSERT(note($) == 1);
        } else {
            note($) = 1;
            lag_any();
            weft_msgq_close(q);
        }
    }
};

/* A send racing close: EPIPE sees the closer's writes; a message sent is
 * drained. */
struct close_vs_send : msgq_scenario<close_vs_send, 2> {
    rl::var<int> note;
    void thread(unsigned i)
    {
        if (i == 0) {
            if (send(msg_id(0, 0)) == EPIPE)
                RL_ASSERT(note($) == 1);
        } else {
            note($) = 1;
            weft_msgq_close(q);
        }
    }
};

/* closed() true: what the closer wrote before close is visible. */
struct closed_flag : msgq_scenario<closed_flag, 2> {
    rl::var<int> note;
    void thread(unsigned i)
    {
        if (i == 0) {
            if (weft_msgq_closed(q))
                RL_ASSERT(note($) == 1);
        } else {
            note($) = 1;
            weft_msgq_close(q);
        }
    }
};

/* try_recv against close on an empty queue, without parking: EPIPE sees
 * the closer's writes (the acquire in drained). */
struct close_vs_try_recv : msgq_scenario<close_vs_try_recv, 2> {
    rl::var<int> note;
    void thread(unsigned i)
    {
        if (i == 0) {
            if (try_recv(0) == EPIPE)
                RL_ASSERT(note($) == 1);
        } else {
            note($) = 1;
            weft_msgq_close(q);
        }
    }
};

/* ---- parking ------------------------------------------------------------ */

/* A blocking receive on an empty queue, then (after a lag) a try_send or a
 * send_many: the receive returns the first message. */
struct parked_receiver : msgq_scenario<parked_receiver, 2> {
    void thread(unsigned i)
    {
        if (i == 0) {
            RL_ASSERT(recv(0) == 0);
        } else {
            lag_any();
            if (rl::rand(2))
                RL_ASSERT(try_send(msg_id(0, 0)) == 0);
            else
                RL_ASSERT(try_send_many(0, 0, 2) == 2);
        }
    }
};

/* A two-cell send into a queue of two cells holding two one-cell messages:
 * it parks until both are received (by two receives, after lags). */
struct parked_sender_needs_two_cells : msgq_scenario<parked_sender_needs_two_cells, 2> {
    static size_t len_of(int id)
    {
        return mixed_len(id);
    }
    void before()
    {
        msgq_scenario<parked_sender_needs_two_cells, 2>::before();
        RL_ASSERT(try_send(msg_id(1, 0)) == 0);
        RL_ASSERT(try_send(msg_id(1, 2)) == 0);
    }
    void thread(unsigned i)
    {
        if (i == 0) {
            RL_ASSERT(send(msg_id(0, 1)) == 0); /* 65 bytes */
        } else {
            lag_any();
            RL_ASSERT(try_recv(1) == 0);
            lag_any();
            RL_ASSERT(try_recv(1) == 0);
        }
    }
};

/* A sender parked on a full queue of two cells is woken by a recv_many
 * that takes both messages. */
struct parked_sender_woken_by_recv_many : msgq_scenario<parked_sender_woken_by_recv_many, 2> {
    void before()
    {
        msgq_scenario<parked_sender_woken_by_recv_many, 2>::before();
        RL_ASSERT(try_send(msg_id(1, 0)) == 0);
        RL_ASSERT(try_send(msg_id(1, 1)) == 0);
    }
    void thread(unsigned i)
    {
        if (i == 0) {
            RL_ASSERT(send(msg_id(0, 0)) == 0);
        } else {
            lag_any();
            RL_ASSERT(try_recv_many(1, 2) == 2);
        }
    }
};

/* Two receivers parked on an empty queue, then two senders send one
 * message each from the same moment: both receives return.  The second
 * position, published first, can wake a receiver that finds the first
 * unpublished and parks again; the receiver woken for the first must pass
 * the wake-up on (pass_on_receivers). */
struct parked_receivers : msgq_scenario<parked_receivers, 4> {
    gate g;
    void before()
    {
        msgq_scenario<parked_receivers, 4>::before();
        g.init();
    }
    void thread(unsigned i)
    {
        if (i == 0) {
            lag_until(2, not_empty(q));
            g.release();
            RL_ASSERT(try_send(msg_id(0, 0)) == 0);
        } else if (i == 1) {
            g.wait();
            RL_ASSERT(try_send(msg_id(1, 0)) == 0);
        } else {
            RL_ASSERT(recv(i) == 0);
        }
    }
    void check()
    {
        RL_ASSERT(ntaken[4] == 0);
    }
};

/* Two receivers parked on an empty queue while a send is half done; the
 * queue is closed; the send completes and wakes one of them, but a third
 * receiver (the closer) takes the message first.  The woken one finds the
 * queue closed and drained and must wake the other before it returns
 * EPIPE, as close's wake-up is spent.  Every receive returns. */
struct closed_while_pending : msgq_scenario<closed_while_pending, 4> {
    rl::atomic<int> done; /* the sender's send returned */
    void before()
    {
        msgq_scenario<closed_while_pending, 4>::before();
        done($).store(0, rl::mo_relaxed);
    }
    void thread(unsigned i)
    {
        if (i == 0) {
            try_send(msg_id(0, 0)); /* refused if the close came first */
            done($).store(1, rl::mo_release);
        } else if (i == 1) {
            weft_msgq_close(q);
            while (done($).load(rl::mo_acquire) == 0)
                rl::yield(1, $);
            try_recv(1);
        } else {
            recv(i);
        }
    }
};

/* Two parked senders, one needing one cell and one two, in a full queue of
 * two cells; one receiver frees the cells one message at a time: both
 * sends return (a receive wakes every parked sender). */
struct two_parked_senders : msgq_scenario<two_parked_senders, 3> {
    static size_t len_of(int id)
    {
        return mixed_len(id);
    }
    void before()
    {
        msgq_scenario<two_parked_senders, 3>::before();
        RL_ASSERT(try_send(msg_id(1, 0)) == 0);
        RL_ASSERT(try_send(msg_id(1, 2)) == 0);
    }
    void thread(unsigned i)
    {
        if (i == 0) {
            RL_ASSERT(send(msg_id(0, 1)) == 0); /* two cells */
        } else if (i == 1) {
            RL_ASSERT(send(msg_id(2, 0)) == 0); /* one cell, another sender */
        } else {
            lag_until(2, not_full(q));
            for (int k = 0; k < 4; k++)
                RL_ASSERT(recv(2) == 0);
        }
    }
    void check()
    {
        RL_ASSERT(ntaken[2] == 4);
    }
};

/* Each of two senders sends one message with send, each of two receivers
 * receives one with recv, no lags. */
struct blocking_2s2r : msgq_scenario<blocking_2s2r, 4> {
    static size_t len_of(int id)
    {
        return mixed_len(id);
    }
    void thread(unsigned i)
    {
        if (i < 2)
            RL_ASSERT(send(msg_id((int)i, (int)i)) == 0); /* 1 and 2 cells */
        else
            RL_ASSERT(recv(i) == 0);
    }
    void check()
    {
        RL_ASSERT(ntaken[4] == 0);
    }
};

} /* namespace */

int main()
{
    using namespace weft_model;
    const char *kb = getenv("MSGQ_K");
    unsigned K = kb ? (unsigned)atoi(kb) : 1;
    /* As in mpmc.cc: the scenarios where nobody parks run with the light
     * fences as compiled (a compiler barrier), so that a seq_cst fence of
     * the shim cannot hide a missing acquire or release. */
    const membarrier_mode COMPILED = MEMBARRIER_FAILS_LATER;
#if MSGQ_ROBUST_SCENARIOS
    /* model-check/msgq_robust: the robust scenarios, a program of their
     * own so that make -j2 check runs them (about 195 s) beside the rest.
     * dead_sender at bound 2 takes about 7 minutes (34 million
     * schedules); it found the torn read of an intent that op_intent's
     * seqlock now prevents.  make check runs bound 1. */
    run<dead_sender>("msgq robust: a sender dies holding 2 cells; recover vs live send/recv",
                     bounded(K), COMPILED);
    run<dead_receiver>("msgq robust: a receiver dies holding a cell; recover vs live send/recv",
                       bounded(K + 1), COMPILED);
    run<record_reuse>("msgq robust: every record a ghost's; two takers, one dies in a send",
                      bounded(K), COMPILED);
    run<untracked_send>(
        "msgq robust: every record held by a live idler; an untracked send vs recover",
        bounded(K + 1), COMPILED);
#else
    run<try_2s2r>("msgq: 2S x 2R try_send/try_recv, 1- and 2-cell messages, 2 cells", bounded(K),
                  COMPILED);
    run<cell_reuse>("msgq: a receive vs a 2-cell send into its cell, one lap on", full, COMPILED);
    run<batches>("msgq: send_many/recv_many vs try_send/try_recv, 4 cells", bounded(K), COMPILED);
    run<too_small_buffer>("msgq: EMSGSIZE tells the length of the message at the head",
                          bounded(K + 1), COMPILED);
    run<closed_flag>("msgq: close vs closed()", full, COMPILED);
    run<close_vs_try_recv>("msgq: close vs try_recv, EPIPE sees the closer's writes", full,
                           COMPILED);
    run<close_vs_send>("msgq: close vs send, EPIPE sees the closer's writes", full, COMPILED);
    run<close_vs_recv>("msgq: close wakes a parked receiver", bounded(K + 2));
    run<parked_receiver>("msgq: parked receiver woken by a send", bounded(K + 2));
    run<parked_sender_needs_two_cells>("msgq: a 2-cell sender parked until two receives",
                                       bounded(K + 1));
    run<parked_sender_woken_by_recv_many>("msgq: a parked sender woken by a recv_many",
                                          bounded(K + 2));
    run<parked_receivers>("msgq: 2 parked receivers, 2 sends", bounded(K));
    run<closed_while_pending>("msgq: close while a send is pending, 2 parked receivers",
                              bounded(K));
    run<two_parked_senders>("msgq: two parked senders of 1 and 2 cells, one receiver", bounded(K));
    run<blocking_2s2r>("msgq: 2S x 2R send/recv, 2 cells", bounded(K));
#endif
    return exit_status();
}
