/*
 * bench_queue.h - the peer interface of bench/bench_queue.c, shared with
 * the C++ peers of bench/queue_peers.cc (not installed).
 */
#ifndef WEFT_BENCH_QUEUE_H
#define WEFT_BENCH_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An unbounded MPMC queue of nonzero uintptr_t values. */
struct qpeer {
    const char *name; /* the table's row: the library and how it is built */
    const char *note; /* printed under the table, or NULL */
    void *(*create)(void);
    void (*destroy)(void *q);
    /* per thread, before its first and after its last operation (NULL:
     * none); what begin returns is the thread's token */
    void *(*begin)(void *q, bool producer);
    void (*end)(void *q, void *tok);
    void (*push)(void *q, void *tok, uintptr_t v); /* never fails */
    bool (*pop)(void *q, void *tok, uintptr_t *v); /* false: found empty */
};

/* The peers written in C++ (moodycamel, oneTBB, boost), as many as were
 * found at configure time; *n is set. */
const struct qpeer *bench_queue_cxx_peers(size_t *n);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_BENCH_QUEUE_H */
