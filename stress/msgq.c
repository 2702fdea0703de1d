/*
 * stress/msgq.c - weft_msgq behind the ring interface (stress/rings.h), so
 * that the ring scenarios' checker (exactly-once, per-producer FIFO,
 * payload, close, linearizable windows, processes) runs over it.
 *
 * An item becomes a message of msg_bytes bytes: the item's value, then a
 * pattern computed from it, which the receiving side verifies before it
 * hands the item back (a torn or misplaced copy is an error).  A message
 * takes exactly three cells, so that the queue holds exactly
 * floor(cells / 3) messages whatever the positions (what the checker's
 * capacity means), and messages start anywhere in the data area and wrap
 * around its end, unlike a message of one cell.
 *
 * Except in msgq-lin, where a message takes two cells.  The linearizability
 * checker's model of a two-phase receive says that a send needs the slot of
 * the message `capacity` places back released; with three-cell messages in
 * a power-of-two number of cells, a send may also need the last cells of
 * the message one place further back (8 cells: a message at [p, p + 3)
 * needs [p - 8, p - 5), two cells of the message three places back), so a
 * send behind a slow receive of that message is refused while the model
 * counts a free slot, and the exhaustive search rightly finds no
 * linearization of the model (the queue keeps its contract, which counts
 * bytes).  Two-cell messages fill the cells exactly, and the model holds.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft/msgq.h>

#include "lincheck.h"
#include "rings.h"

enum { MSG_BYTES = 2 * WEFT_MSGQ_CELL + 22, LIN_MSG_BYTES = WEFT_MSGQ_CELL + 22 };
_Static_assert(MSG_BYTES > 2 * WEFT_MSGQ_CELL && MSG_BYTES <= 3 * WEFT_MSGQ_CELL,
               "a message takes exactly three cells");
_Static_assert(LIN_MSG_BYTES > WEFT_MSGQ_CELL && LIN_MSG_BYTES <= 2 * WEFT_MSGQ_CELL,
               "an msgq-lin message takes exactly two cells");

/* The scenario's message: set by stress_msgq_ops before its threads start
 * (scenarios run one at a time), read by them. */
static size_t msg_bytes = MSG_BYTES, cells_per_msg = 3;

static unsigned char pattern(uintptr_t v, size_t i)
{
    return (unsigned char)((v >> 3) * 131u + i * 29u + (i >> 5));
}

static void encode(unsigned char *m, void *item)
{
    uintptr_t v = (uintptr_t)item;
    memcpy(m, &v, sizeof v);
    for (size_t i = sizeof v; i < msg_bytes; i++)
        m[i] = pattern(v, i);
}

static void *decode(const unsigned char *m, size_t len)
{
    uintptr_t v = 0;
    bool ok = len == msg_bytes;
    if (ok) {
        memcpy(&v, m, sizeof v);
        for (size_t i = sizeof v; i < msg_bytes && ok; i++)
            ok = m[i] == pattern(v, i);
    }
    if (!ok) {
        fprintf(stderr, "msgq: a message of %zu bytes does not match its pattern\n", len);
        abort(); /* the harness reports the child's death; never hand on garbage */
    }
    return (void *)v;
}

static size_t bytes_for(size_t capacity)
{
    return capacity * cells_per_msg * WEFT_MSGQ_CELL;
}

static void *m_create(size_t capacity)
{
    return weft_msgq_create(bytes_for(capacity));
}
static void m_destroy(void *q)
{
    weft_msgq_destroy(q);
}
static size_t m_footprint(size_t capacity)
{
    return weft_msgq_footprint(bytes_for(capacity));
}
static void *m_init(void *mem, size_t capacity, unsigned flags)
{
    return weft_msgq_init(mem, bytes_for(capacity), flags);
}
static size_t m_capacity(const void *q)
{
    return weft_msgq_capacity(q) / WEFT_MSGQ_CELL / cells_per_msg;
}
static size_t m_size(const void *q)
{
    return weft_msgq_bytes_used(q) / WEFT_MSGQ_CELL / cells_per_msg;
}
static bool m_try_push(void *q, void *item)
{
    unsigned char m[MSG_BYTES];
    encode(m, item);
    return weft_msgq_try_send(q, m, msg_bytes) == 0;
}
static bool m_try_pop(void *q, void **item)
{
    unsigned char m[MSG_BYTES];
    size_t len;
    if (weft_msgq_try_recv(q, m, sizeof m, &len) != 0)
        return false;
    *item = decode(m, len);
    return true;
}

enum { MAX_BATCH = 64 };

static size_t m_push_many(void *q, void *const *items, size_t n)
{
    if (n > MAX_BATCH)
        n = MAX_BATCH;
    unsigned char m[MAX_BATCH][MSG_BYTES];
    const void *msgs[MAX_BATCH];
    size_t lens[MAX_BATCH];
    for (size_t i = 0; i < n; i++) {
        encode(m[i], items[i]);
        msgs[i] = m[i];
        lens[i] = msg_bytes;
    }
    return weft_msgq_try_send_many(q, msgs, lens, n);
}
static size_t m_pop_many(void *q, void **items, size_t n)
{
    if (n > MAX_BATCH)
        n = MAX_BATCH;
    unsigned char buf[MAX_BATCH * MSG_BYTES];
    size_t lens[MAX_BATCH];
    size_t k = weft_msgq_try_recv_many(q, buf, n * msg_bytes, lens, n);
    for (size_t i = 0; i < k; i++)
        items[i] = decode(buf + i * msg_bytes, lens[i]);
    return k;
}
static int m_push(void *q, void *item)
{
    unsigned char m[MSG_BYTES];
    encode(m, item);
    return weft_msgq_send(q, m, msg_bytes);
}
static int m_pop(void *q, void **item)
{
    unsigned char m[MSG_BYTES];
    size_t len;
    int r = weft_msgq_recv(q, m, sizeof m, &len);
    if (r == 0)
        *item = decode(m, len);
    return r;
}
static int m_push_timed(void *q, void *item, uint64_t timeout_ns)
{
    unsigned char m[MSG_BYTES];
    encode(m, item);
    return weft_msgq_send_timed(q, m, msg_bytes, timeout_ns);
}
static int m_pop_timed(void *q, void **item, uint64_t timeout_ns)
{
    unsigned char m[MSG_BYTES];
    size_t len;
    int r = weft_msgq_recv_timed(q, m, sizeof m, &len, timeout_ns);
    if (r == 0)
        *item = decode(m, len);
    return r;
}
static void m_close(void *q)
{
    weft_msgq_close(q);
}
static bool m_closed(const void *q)
{
    return weft_msgq_closed(q);
}

/* The contract (include/weft/msgq.h, "What the results mean"): as the
 * mpmc ring's, a send claims, then publishes; a receive claims, then
 * releases. */
static const struct ring_ops msgq_ops = {
    .name = "weft_msgq",
    .multi = true,
    .align = WEFT_MSGQ_ALIGN,
    .create = m_create,
    .destroy = m_destroy,
    .footprint = m_footprint,
    .init = m_init,
    .capacity = m_capacity,
    .size = m_size,
    .try_push = m_try_push,
    .try_pop = m_try_pop,
    .push_many = m_push_many,
    .pop_many = m_pop_many,
    .push = m_push,
    .pop = m_pop,
    .push_timed = m_push_timed,
    .pop_timed = m_pop_timed,
    .close = m_close,
    .closed = m_closed,
    .lin_flags = LIN_PUSH_TWO_PHASE | LIN_POP_TWO_PHASE,
};

const struct ring_ops *stress_msgq_ops(bool two_cells)
{
    msg_bytes = two_cells ? LIN_MSG_BYTES : MSG_BYTES;
    cells_per_msg = two_cells ? 2 : 3;
    return &msgq_ops;
}

static const struct ring_arg a_msgq_mixed = { .multi = true, .msgq = true, .modes = M_ALL };
static const struct ring_arg a_msgq_lin = {
    .multi = true, .msgq = true, .msgq_two_cells = true, .modes = M_ALL
};
static const struct ring_arg a_msgq_block = { .multi = true, .msgq = true, .modes = M_BLOCK };
static const struct ring_arg a_msgq_batch = { .multi = true, .msgq = true, .modes = M_BATCH };

const struct scenario stress_msgq_scenarios[] = {
    { .name = "msgq-flow",
      .what = "weft_msgq, 3-cell messages, 4P4C, every op kind: exactly-once, FIFO, bytes",
      .fn = run_flow,
      .arg = &a_msgq_mixed,
      .def_p = 4,
      .def_c = 4,
      .def_cap = 2,
      .weight = 2 },
    { .name = "msgq-batch",
      .what = "weft_msgq, send_many/recv_many of 1-32 messages, 4P4C, capacity 8",
      .fn = run_flow,
      .arg = &a_msgq_batch,
      .def_p = 4,
      .def_c = 4,
      .def_cap = 8,
      .weight = 1 },
    { .name = "msgq-close-race",
      .what = "weft_msgq, closes racing sends and receives in flight, 3P2C",
      .fn = run_close_race,
      .arg = &a_msgq_block,
      .def_p = 3,
      .def_c = 2,
      .def_cap = 0,
      .weight = 1 },
    { .name = "msgq-shared",
      .what = "weft_msgq, WEFT_SHARED in mmap(MAP_SHARED) between fork()ed processes, 2P2C",
      .fn = run_shared,
      .arg = &a_msgq_block,
      .def_p = 2,
      .def_c = 2,
      .def_cap = 4,
      .weight = 1 },
    { .name = "msgq-kill",
      .what = "weft_msgq ROBUST between processes, 2P2C, SIGKILLed at random instants: "
              "recovery",
      .fn = run_msgq_kill,
      .def_p = 2,
      .def_c = 2,
      .def_cap = 0,
      .weight = 2 },
    { .name = "msgq-lin",
      .what = "weft_msgq, 2-cell messages, recorded windows of every op kind, 4P4C: "
              "linearizability",
      .fn = run_lin,
      .arg = &a_msgq_lin,
      .def_p = 4,
      .def_c = 4,
      .def_cap = 4,
      .weight = 2 },
};
const size_t stress_msgq_count = sizeof stress_msgq_scenarios / sizeof stress_msgq_scenarios[0];
