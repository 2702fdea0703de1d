/*
 * stress/peer_mutex.c - a bounded ring behind one mutex and two condition
 * variables, with the whole ring interface (try, batch, blocking, timed,
 * close, in-place and process-shared): weft-stress --peer mutex runs every
 * ring scenario against it.  It is too simple to be wrong, so a failure
 * there is a bug of the checker, not of a ring: this is how the harness
 * itself is tested (the ck_ring peer covers only the try scenarios).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weft/common.h>

#include "rings.h"

struct mring {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
    size_t cap, head, tail; /* tail - head items, at slots[i % cap] */
    int closed;
    void *slots[];
};

static size_t round_cap(size_t c)
{
    size_t n = 1;
    while (n < c && n < ((size_t)1 << 30))
        n <<= 1;
    return n;
}

static size_t m_footprint(size_t capacity)
{
    if (capacity == 0 || capacity > ((size_t)1 << 30))
        return 0;
    return sizeof(struct mring) + round_cap(capacity) * sizeof(void *);
}

static void *m_init(void *mem, size_t capacity, unsigned flags)
{
    struct mring *m = mem;
    if (!m || m_footprint(capacity) == 0) {
        errno = EINVAL;
        return NULL;
    }
    pthread_mutexattr_t ma;
    pthread_condattr_t ca;
    pthread_mutexattr_init(&ma);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (flags & WEFT_SHARED) {
        pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
        pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
    }
    pthread_mutex_init(&m->lock, &ma);
    pthread_cond_init(&m->not_empty, &ca);
    pthread_cond_init(&m->not_full, &ca);
    pthread_mutexattr_destroy(&ma);
    pthread_condattr_destroy(&ca);
    m->cap = round_cap(capacity);
    m->head = m->tail = 0;
    m->closed = 0;
    return m;
}

static void *m_create(size_t capacity)
{
    size_t fp = m_footprint(capacity);
    if (fp == 0) {
        errno = EINVAL;
        return NULL;
    }
    void *mem = malloc(fp);
    return mem ? m_init(mem, capacity, 0) : NULL;
}

static void m_destroy(void *q)
{
    struct mring *m = q;
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->not_empty);
    pthread_cond_destroy(&m->not_full);
    free(m);
}

static size_t m_capacity(const void *q)
{
    return ((const struct mring *)q)->cap;
}

static size_t m_size(const void *q)
{
    struct mring *m = (struct mring *)q;
    pthread_mutex_lock(&m->lock);
    size_t n = m->tail - m->head;
    pthread_mutex_unlock(&m->lock);
    return n;
}

static bool m_closed(const void *q)
{
    struct mring *m = (struct mring *)q;
    pthread_mutex_lock(&m->lock);
    bool c = m->closed != 0;
    pthread_mutex_unlock(&m->lock);
    return c;
}

/* with the lock held */
static size_t put(struct mring *m, void *const *items, size_t n)
{
    size_t k = m->cap - (m->tail - m->head);
    if (m->closed)
        return 0;
    if (k > n)
        k = n;
    for (size_t i = 0; i < k; i++)
        m->slots[(m->tail + i) % m->cap] = items[i];
    m->tail += k;
    if (k)
        pthread_cond_broadcast(&m->not_empty);
    return k;
}

static size_t take(struct mring *m, void **items, size_t n)
{
    size_t k = m->tail - m->head;
    if (k > n)
        k = n;
    for (size_t i = 0; i < k; i++)
        items[i] = m->slots[(m->head + i) % m->cap];
    m->head += k;
    if (k)
        pthread_cond_broadcast(&m->not_full);
    return k;
}

static size_t m_push_many(void *q, void *const *items, size_t n)
{
    struct mring *m = q;
    pthread_mutex_lock(&m->lock);
    size_t k = put(m, items, n);
    pthread_mutex_unlock(&m->lock);
    return k;
}

static size_t m_pop_many(void *q, void **items, size_t n)
{
    struct mring *m = q;
    pthread_mutex_lock(&m->lock);
    size_t k = take(m, items, n);
    pthread_mutex_unlock(&m->lock);
    return k;
}

static bool m_try_push(void *q, void *item)
{
    return m_push_many(q, &item, 1) == 1;
}

static bool m_try_pop(void *q, void **item)
{
    return m_pop_many(q, item, 1) == 1;
}

static struct timespec deadline(uint64_t ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ns += (uint64_t)ts.tv_nsec;
    ts.tv_sec += (time_t)(ns / 1000000000u);
    ts.tv_nsec = (long)(ns % 1000000000u);
    return ts;
}

/* forever when timed is false */
static int push_wait(void *q, void *item, bool timed, uint64_t ns)
{
    struct mring *m = q;
    struct timespec ts = deadline(ns);
    int rc = 0;
    pthread_mutex_lock(&m->lock);
    for (;;) {
        if (m->closed) {
            rc = EPIPE;
            break;
        }
        if (put(m, &item, 1) == 1)
            break;
        if (!timed)
            pthread_cond_wait(&m->not_full, &m->lock);
        else if (pthread_cond_timedwait(&m->not_full, &m->lock, &ts) == ETIMEDOUT &&
                 m->tail - m->head == m->cap && !m->closed) {
            rc = ETIMEDOUT;
            break;
        }
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int pop_wait(void *q, void **item, bool timed, uint64_t ns)
{
    struct mring *m = q;
    struct timespec ts = deadline(ns);
    int rc = 0;
    pthread_mutex_lock(&m->lock);
    for (;;) {
        if (take(m, item, 1) == 1)
            break;
        if (m->closed) {
            rc = EPIPE;
            break;
        }
        if (!timed)
            pthread_cond_wait(&m->not_empty, &m->lock);
        else if (pthread_cond_timedwait(&m->not_empty, &m->lock, &ts) == ETIMEDOUT &&
                 m->tail == m->head && !m->closed) {
            rc = ETIMEDOUT;
            break;
        }
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int m_push(void *q, void *item)
{
    return push_wait(q, item, false, 0);
}
static int m_pop(void *q, void **item)
{
    return pop_wait(q, item, false, 0);
}
static int m_push_timed(void *q, void *item, uint64_t ns)
{
    return push_wait(q, item, true, ns);
}
static int m_pop_timed(void *q, void **item, uint64_t ns)
{
    return pop_wait(q, item, true, ns);
}

static void m_close(void *q)
{
    struct mring *m = q;
    pthread_mutex_lock(&m->lock);
    m->closed = 1;
    pthread_cond_broadcast(&m->not_empty);
    pthread_cond_broadcast(&m->not_full);
    pthread_mutex_unlock(&m->lock);
}

/* One ring serves both roles: only the multi flag (which thread counts a
 * scenario may use) differs. */
#define MUTEX_RING_OPS(is_multi)                                                              \
    {                                                                                         \
        .name = "mutex_ring", .multi = (is_multi), .align = alignof(struct mring),            \
        .create = m_create, .destroy = m_destroy, .footprint = m_footprint, .init = m_init,   \
        .capacity = m_capacity, .size = m_size, .try_push = m_try_push, .try_pop = m_try_pop, \
        .push_many = m_push_many, .pop_many = m_pop_many, .push = m_push, .pop = m_pop,       \
        .push_timed = m_push_timed, .pop_timed = m_pop_timed, .close = m_close,               \
        .closed = m_closed,                                                                   \
    }
static const struct ring_ops mutex_mpmc = MUTEX_RING_OPS(true);
static const struct ring_ops mutex_spsc = MUTEX_RING_OPS(false);

const struct ring_ops *stress_mutex_ops(bool multi)
{
    return multi ? &mutex_mpmc : &mutex_spsc;
}
