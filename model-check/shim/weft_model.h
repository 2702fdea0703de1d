/*
 * weft_model.h - the seam between weft's C11 sources and the Relacy model
 * checker (Dmitry Vyukov's Relacy Race Detector, Debian's relacy-dev).
 *
 * The model-check programs compile the library's own src/*.c as C++17,
 * with this header forced in first (-include weft_model.h) and with
 * model-check/shim ahead of the system headers, so that <stdatomic.h>
 * resolves to our stdatomic.h.  Nothing in src/ is re-typed: every
 * atomic_load_explicit, fence and futex call that src/ makes is executed by
 * Relacy, which explores the schedules of a small test under the C++11
 * memory model (store->load reordering and seq_cst fences included) and
 * reports an assertion that fails, a thread left waiting forever on a
 * futex (a lost wake-up: "DEADLOCK"), or a livelock.
 *
 * What the seam maps:
 *  - C11 atomics: _Atomic(T), the atomic_* typedefs src/ uses, every
 *    atomic_*_explicit call and both fences, onto rl::atomic<T>, each access
 *    tagged with its line in src/ ($).  atomic_init constructs the
 *    rl::atomic in place (C code never runs constructors) and records it, so
 *    that the model's arena can destroy it when the test iteration ends.
 *  - Memory: malloc/calloc/aligned_alloc/free.  Blocks are returned to the
 *    system only when the iteration ends, after their atomics are destroyed
 *    (Relacy must see every atomic destroyed, and freeing early would reuse
 *    an address that still holds one).
 *  - System calls: syscall(SYS_futex, ...) becomes Relacy's futex model (a
 *    FUTEX_WAIT that nobody ends is a deadlock); syscall(SYS_membarrier,
 *    ...) succeeds or fails as the scenario chooses (weft_model_membarrier).
 *  - The asymmetric fence pair.  weft uses atomic_signal_fence only as the
 *    light half of a membarrier pair (a compiler barrier in the notifier,
 *    with membarrier() in the waiter).  C++11 has no asymmetric fences, so
 *    the model gives the pair the one property weft relies on: while
 *    membarrier works, the light half is a seq_cst fence (for a Dekker pair,
 *    membarrier() run against a compiler barrier orders exactly as two
 *    seq_cst fences do: the barrier it forces on the other thread falls
 *    before, between or after that thread's store and load, and in each
 *    case one side sees the other).  Once membarrier fails, the light half
 *    is what it is in the machine code: nothing.
 *  - Waiting: sched_yield() and cpu_relax() are rl::yield (so that a
 *    spinning thread lets the scheduler run the thread it waits for, and
 *    Relacy does not report a livelock), now_ns() a model clock that
 *    advances on every read (so every deadline passes eventually, and the
 *    same schedule replays the same times), pthread_once a plain call.
 */
#ifndef WEFT_MODEL_H
#define WEFT_MODEL_H

#ifndef __cplusplus
#error "weft_model.h is for the C++ model-check build only"
#endif

/* The system headers first, before any macro below can rename what they
 * declare. */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>
#include <linux/membarrier.h>

#include <new>

/* relacy.hpp without its macros (they rename new, delete, malloc, assert,
 * errno and memory_order_* for C++ tests written against it; we map the C
 * names ourselves) and without its pthread/windows emulation (its macros
 * would rename the pthread calls of src/). */
#include <relacy/base.hpp>
#include <relacy/context.hpp>
#include <relacy/context_base_impl.hpp>
#include <relacy/backoff.hpp>
#include <relacy/atomic_fence.hpp>
#include <relacy/atomic.hpp>
#include <relacy/var.hpp>
#include <relacy/thread_local.hpp>
#include <relacy/test_suite.hpp>
#include <relacy/dyn_thread.hpp>
#include <relacy/stdlib/mutex.hpp>
#include <relacy/stdlib/condition_variable.hpp>
#include <relacy/stdlib/semaphore.hpp>
#include <relacy/stdlib/event.hpp>

#define WEFT_MODEL 1

namespace weft_model
{

/* ---- the arena: what an iteration constructed and allocated ----------- */

/* Fixed arrays, not std containers: Relacy replaces the global operator
 * new while a test runs.  Enough for the small objects of a scenario. */
const int MAX_ATOMICS = 8192, MAX_BLOCKS = 1024;

struct arena {
    void *atomic_at[MAX_ATOMICS];
    void (*destroy[MAX_ATOMICS])(void *);
    int natomics;
    void *block[MAX_BLOCKS];
    int nblocks;
};

inline arena &the_arena()
{
    static arena a;
    return a;
}

/* End of an iteration (called from the scenarios' destructor, see
 * model-check/model.h): destroy every atomic, then return every block. */
inline void arena_reset()
{
    arena &a = the_arena();
    for (int i = 0; i < a.natomics; i++)
        a.destroy[i](a.atomic_at[i]);
    a.natomics = 0;
    for (int i = 0; i < a.nblocks; i++)
        ::free(a.block[i]);
    a.nblocks = 0;
}

/* After a failed run: Relacy abandons the failing iteration without
 * destroying its suite, and its context (which owns the atomics' state) is
 * gone; forget the atomics, return the blocks. */
inline void arena_forget()
{
    arena &a = the_arena();
    a.natomics = 0;
    for (int i = 0; i < a.nblocks; i++)
        ::free(a.block[i]);
    a.nblocks = 0;
}

inline void *alloc_block(void *p)
{
    arena &a = the_arena();
    if (p != nullptr) {
        RL_VERIFY(a.nblocks < MAX_BLOCKS);
        a.block[a.nblocks++] = p;
    }
    return p;
}

inline bool constructed(const void *p)
{
    arena &a = the_arena();
    for (int i = 0; i < a.natomics; i++)
        if (a.atomic_at[i] == p)
            return true;
    return false;
}

template <class T> void destroy_atomic(void *p)
{
    static_cast<rl::atomic<T> *>(p)->~atomic();
}

/* atomic_init: construct in place (once per iteration and address), then a
 * relaxed store of the initial value. */
template <class T, class U> void init(rl::atomic<T> *p, U v, rl::debug_info_param info)
{
    arena &a = the_arena();
    if (!constructed(p)) {
        RL_VERIFY(a.natomics < MAX_ATOMICS);
        new (p) rl::atomic<T>();
        a.atomic_at[a.natomics] = p;
        a.destroy[a.natomics++] = &destroy_atomic<T>;
    }
    (*p)(info).store((T)v, rl::mo_relaxed);
}

template <class T> T load(const rl::atomic<T> *p, rl::memory_order mo, rl::debug_info_param info)
{
    return (*const_cast<rl::atomic<T> *>(p))(info).load(mo);
}

template <class T, class U>
void store(rl::atomic<T> *p, U v, rl::memory_order mo, rl::debug_info_param info)
{
    (*p)(info).store((T)v, mo);
}

template <class T, class U>
T exchange(rl::atomic<T> *p, U v, rl::memory_order mo, rl::debug_info_param info)
{
    return (*p)(info).exchange((T)v, mo);
}

template <class T, class U>
T fetch_add(rl::atomic<T> *p, U v, rl::memory_order mo, rl::debug_info_param info)
{
    return (*p)(info).fetch_add((typename rl::atomic_add_type<T>::type)v, mo);
}

template <class T, class U>
T fetch_sub(rl::atomic<T> *p, U v, rl::memory_order mo, rl::debug_info_param info)
{
    return (*p)(info).fetch_sub((typename rl::atomic_add_type<T>::type)v, mo);
}

template <class T, class U>
T fetch_or(rl::atomic<T> *p, U v, rl::memory_order mo, rl::debug_info_param info)
{
    return (*p)(info).fetch_or((T)v, mo);
}

template <class T, class U>
T fetch_and(rl::atomic<T> *p, U v, rl::memory_order mo, rl::debug_info_param info)
{
    return (*p)(info).fetch_and((T)v, mo);
}

template <class T, class U>
bool cas_strong(rl::atomic<T> *p, T *expected, U desired, rl::memory_order s, rl::memory_order f,
                rl::debug_info_param info)
{
    return (*p)(info).compare_exchange_strong(*expected, (T)desired, s, f);
}

template <class T, class U>
bool cas_weak(rl::atomic<T> *p, T *expected, U desired, rl::memory_order s, rl::memory_order f,
              rl::debug_info_param info)
{
    return (*p)(info).compare_exchange_weak(*expected, (T)desired, s, f);
}

/* ---- membarrier and the asymmetric fence pair ------------------------- */

enum membarrier_mode {
    MEMBARRIER_WORKS,       /* registration and every barrier succeed */
    MEMBARRIER_NEVER,       /* the kernel has none: registration fails */
    MEMBARRIER_FAILS_LATER, /* registration succeeds, barriers fail (a
                                seccomp filter installed after init) */
    MEMBARRIER_NOT_CALLED,  /* registration succeeds, but the code under
                                test must not call it (a doorbell settled
                                in its symmetric mode): a call fails the
                                run, and light fences are what they are in
                                the machine code, nothing */
};

inline membarrier_mode &membarrier()
{
    static membarrier_mode m = MEMBARRIER_WORKS;
    return m;
}

/* atomic_signal_fence: the light half of a membarrier pair (see the top). */
inline void light_fence(rl::memory_order mo, rl::debug_info_param info)
{
    if (membarrier() == MEMBARRIER_WORKS)
        rl::atomic_thread_fence(rl::mo_seq_cst, info);
    else
        rl::atomic_signal_fence(mo, info);
}

/* src/eventcount.c's process-wide "membarrier still works" flag: an
 * atomic must live inside a test iteration, so each iteration gets its own,
 * made on first use, set to 1 as the process starts with it. */
inline rl::atomic<unsigned> *membarrier_ok_flag(rl::debug_info_param info)
{
    static rl::atomic<unsigned> *flag;
    alignas(rl::atomic<unsigned>) static char storage[sizeof(rl::atomic<unsigned>)];
    rl::atomic<unsigned> *f = reinterpret_cast<rl::atomic<unsigned> *>(storage);
    if (flag == nullptr || !constructed(f)) {
        init(f, 1u, info);
        flag = f;
    }
    return flag;
}

/* ---- system calls --------------------------------------------------------- */

/* FUTEX_WAIT / FUTEX_WAKE on a 32-bit atomic word, as Relacy's own futex
 * model (relacy/stdlib/pthread.hpp) does it, for words of any type: each
 * call begins with a full barrier (the kernel's smp_mb() on both sides),
 * a WAIT whose word still holds val blocks until a WAKE or a timeout (only
 * when one was given), and a WAKE that wakes a thread synchronises with
 * that thread's return (the scheduler's wake-up is a full barrier).  The
 * kernel's read of the word is a plain load: a WAIT that returns EAGAIN
 * because the word changed does NOT acquire the store that changed it
 * (futex(2) promises no such ordering), so a caller that needs the
 * changer's writes must acquire them itself.  The model read it with an
 * acquire, right after a Relacy seq_cst fence (which synchronises with
 * every earlier one, more than C11 says) until issue #12's mutation run
 * showed that this hid the eventcount's own release and acquire of the
 * epoch (mutants src/eventcount.c:136:43 and :162:45 of commit 8dce5c4). */
/* Whether a FUTEX_WAIT with a time-out may time out.  A scenario that
 * must not need its time-outs (a bounded sleep that only covers a window
 * the scenario excludes) turns it off, so that a wait nobody ends is a
 * deadlock again. */
inline bool &timeouts_fire()
{
    static bool fire = true;
    return fire;
}

template <class W>
long futex(rl::atomic<W> *word, int op, unsigned val, const struct timespec *ts,
           rl::debug_info_param info)
{
    rl::context &c = rl::ctx();
    switch (op & ~FUTEX_PRIVATE_FLAG) {
    case FUTEX_WAIT: {
        c.sched();
        c.atomic_thread_fence_seq_cst();
        /* The read of the word, as a separate step (the kernel's barrier
         * and its read under the hash bucket's lock are two: others may
         * run in between; Relacy makes every seq_cst fence synchronise
         * with the ones before it, which C11 does not, so a read glued to
         * the fence would always be handed what the waker wrote before
         * its own fences).  It reads the word's current value (the
         * kernel's compare is atomic with respect to wakers: both hold the
         * bucket's lock), so it is a read-modify-write that changes
         * nothing; relaxed: it acquires nothing for the caller. */
        W v0 = word->fetch_add(0, rl::mo_relaxed, info);
        if ((unsigned)v0 != val) {
            errno = EAGAIN;
            return -1;
        }
        /* no spurious wake-ups: they come from signals, and a search that
         * allowed them could spin a waiter forever */
        rl::unpark_reason r = word->wait(c, ts != nullptr && timeouts_fire(), false, info);
        if (r == rl::unpark_reason_normal)
            return 0;
        errno = r == rl::unpark_reason_timeout ? ETIMEDOUT : EINTR;
        return -1;
    }
    case FUTEX_WAKE: {
        if ((int)val <= 0)
            return 0;
        c.sched();
        c.atomic_thread_fence_seq_cst();
        return (long)word->wake(c, (rl::thread_id_t)val, info);
    }
    default:
        errno = ENOSYS;
        return -1;
    }
}

inline long membarrier_call(long cmd, rl::debug_info_param info)
{
    switch (cmd) {
    case MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED:
        if (membarrier() == MEMBARRIER_NEVER)
            break;
        return 0;
    case MEMBARRIER_CMD_PRIVATE_EXPEDITED:
        RL_ASSERT(membarrier() != MEMBARRIER_NOT_CALLED);
        if (membarrier() != MEMBARRIER_WORKS)
            break;
        /* the caller's own full barrier; what it forces on the other
         * threads is modelled by light_fence */
        rl::atomic_thread_fence(rl::mo_seq_cst, info);
        return 0;
    default:
        break;
    }
    errno = EPERM;
    return -1;
}

template <class W>
long syscall(long nr, rl::atomic<W> *word, int op, unsigned val, const struct timespec *ts,
             const void *, int, rl::debug_info_param info)
{
    if (nr == SYS_futex)
        return futex(word, op, val, ts, info);
    errno = ENOSYS;
    return -1;
}

template <class A, class B> long syscall(long nr, long cmd, A, B, rl::debug_info_param info)
{
    if (nr == SYS_membarrier)
        return membarrier_call(cmd, info);
    errno = ENOSYS;
    return -1;
}

/* ---- waiting and time ---------------------------------------------------- */

inline void yield(rl::debug_info_param info)
{
    rl::yield(1, info);
}

/* The model clock: 1 microsecond per read. */
inline uint64_t now_ns()
{
    static uint64_t t;
    return t += 1000;
}

/* pthread_once for the one caller src/ has (the eventcount's membarrier
 * registration): the model runs it once per program. */
inline int once(pthread_once_t *o, void (*f)(void))
{
    static pthread_once_t *done[8];
    for (pthread_once_t *d : done)
        if (d == o)
            return 0;
    for (pthread_once_t *&d : done)
        if (d == nullptr) {
            d = o;
            break;
        }
    f();
    return 0;
}

} /* namespace weft_model */

/* src/wait.h's two helpers (it leaves them to us in this build) */
static inline void cpu_relax(void)
{
    ::weft_model::yield($);
}

static inline uint64_t now_ns(void)
{
    return ::weft_model::now_ns();
}

/* ---- the C names src/ uses ---------------------------------------------- */

/* The layout assertions of src/ are about the C types (an rl::atomic is
 * larger than the atomic it models); the real builds check them. */
#define _Static_assert(cond, msg) static_assert(true, msg)

#define malloc(n) ::weft_model::alloc_block(::malloc(n))
#define calloc(n, m) ::weft_model::alloc_block(::calloc((n), (m)))
#define aligned_alloc(a, n) ::weft_model::alloc_block(::aligned_alloc((a), (n)))
#define free(p) ((void)(p)) /* returned at the end of the iteration */
#define syscall(...) ::weft_model::syscall(__VA_ARGS__, $)
#define sched_yield() (::weft_model::yield($), 0)
#define pthread_once(o, f) ::weft_model::once((o), (f))
#define weft_internal_membarrier_ok (*::weft_model::membarrier_ok_flag($))

#endif /* WEFT_MODEL_H */
