/*
 * stress/peer_ck.c - ck_ring (Concurrency Kit) as a ring under test, for
 * weft-stress --peer ck: the same producers, consumers and checks as for
 * weft's rings, against a ring we trust, to show that the checker raises no
 * false alarm.  ck_ring's MPMC is meant for no more threads than cores (a
 * producer waits for the previous one's commit), so rings.c limits the
 * thread count for it.
 */
#include "config.h"

#include <stdio.h>

#include "rings.h"

#if defined(HAVE_CK) && !defined(WEFT_TSAN)
#include <errno.h>
#include <stdlib.h>

#include <ck_ring.h>

struct ck_box {
    struct ck_ring ring;
    size_t cap;
    struct ck_ring_buffer buf[];
};

static void *ck_create(size_t capacity)
{
    /* ck_ring holds size - 1 items in a power-of-two array */
    size_t n = 2;
    while (n - 1 < capacity && n < ((size_t)1 << 30))
        n <<= 1;
    if (capacity == 0 || n - 1 < capacity) {
        errno = EINVAL;
        return NULL;
    }
    struct ck_box *b = calloc(1, sizeof *b + n * sizeof b->buf[0]);
    if (!b)
        return NULL;
    ck_ring_init(&b->ring, (unsigned)n);
    b->cap = n - 1;
    return b;
}

static void ck_destroy(void *q)
{
    free(q);
}
static size_t ck_capacity(const void *q)
{
    return ((const struct ck_box *)q)->cap;
}
static size_t ck_size(const void *q)
{
    return ck_ring_size(&((const struct ck_box *)q)->ring);
}

static bool ck_push_mpmc(void *q, void *item)
{
    struct ck_box *b = q;
    return ck_ring_enqueue_mpmc(&b->ring, b->buf, item);
}

static bool ck_pop_mpmc(void *q, void **item)
{
    struct ck_box *b = q;
    return ck_ring_dequeue_mpmc(&b->ring, b->buf, item);
}

static bool ck_push_spsc(void *q, void *item)
{
    struct ck_box *b = q;
    return ck_ring_enqueue_spsc(&b->ring, b->buf, item);
}

static bool ck_pop_spsc(void *q, void **item)
{
    struct ck_box *b = q;
    return ck_ring_dequeue_spsc(&b->ring, b->buf, item);
}

static const struct ring_ops ck_mpmc = {
    .name = "ck_ring_mpmc",
    .multi = true,
    .create = ck_create,
    .destroy = ck_destroy,
    .capacity = ck_capacity,
    .size = ck_size,
    .try_push = ck_push_mpmc,
    .try_pop = ck_pop_mpmc,
};
static const struct ring_ops ck_spsc = {
    .name = "ck_ring_spsc",
    .multi = false,
    .create = ck_create,
    .destroy = ck_destroy,
    .capacity = ck_capacity,
    .size = ck_size,
    .try_push = ck_push_spsc,
    .try_pop = ck_pop_spsc,
};

const struct ring_ops *stress_ck_ops(bool multi, char *why, size_t whylen)
{
    (void)why;
    (void)whylen;
    return multi ? &ck_mpmc : &ck_spsc;
}

#else

const struct ring_ops *stress_ck_ops(bool multi, char *why, size_t whylen)
{
    (void)multi;
#ifdef WEFT_TSAN
    snprintf(why, whylen, "ck_ring's inline-assembly atomics are invisible to TSan");
#else
    snprintf(why, whylen, "built without Concurrency Kit");
#endif
    return NULL;
}

#endif
