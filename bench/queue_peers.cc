// queue_peers.cc - the C++ peers of bench/bench_queue.c: moodycamel's
// ConcurrentQueue (with a producer or consumer token per thread, its
// fastest interface), oneTBB's concurrent_queue and boost::lockfree::queue
// (a node pool that grows on demand), each behind the struct qpeer of
// bench/bench_queue.h.  Compiled with g++ -O3 like the C harness's -O2
// build would not be: the peers are header-only templates, so they are
// built here the strongest way.
#include "config.h"

#include <cstdint>
#include <cstdlib>
#include <new>

#include "bench_queue.h"

#ifdef HAVE_MOODYCAMEL
#include <concurrentqueue/concurrentqueue.h>
#endif
#ifdef HAVE_TBB_QUEUE
#include <tbb/concurrent_queue.h>
#endif
#ifdef HAVE_BOOST_LOCKFREE
#include <boost/lockfree/queue.hpp>
#endif

namespace
{

#ifdef HAVE_MOODYCAMEL
using Moody = moodycamel::ConcurrentQueue<uintptr_t>;
void *moody_create()
{
    return new (std::nothrow) Moody();
}
void moody_destroy(void *q)
{
    delete static_cast<Moody *>(q);
}
struct MoodyTok {
    moodycamel::ProducerToken *p = nullptr;
    moodycamel::ConsumerToken *c = nullptr;
};
void *moody_begin(void *q, bool producer)
{
    auto *t = new MoodyTok;
    if (producer)
        t->p = new moodycamel::ProducerToken(*static_cast<Moody *>(q));
    else
        t->c = new moodycamel::ConsumerToken(*static_cast<Moody *>(q));
    return t;
}
void moody_end(void *, void *tok)
{
    auto *t = static_cast<MoodyTok *>(tok);
    delete t->p;
    delete t->c;
    delete t;
}
void moody_push(void *q, void *tok, uintptr_t v)
{
    if (!static_cast<Moody *>(q)->enqueue(*static_cast<MoodyTok *>(tok)->p, v))
        std::abort();
}
bool moody_pop(void *q, void *tok, uintptr_t *v)
{
    return static_cast<Moody *>(q)->try_dequeue(*static_cast<MoodyTok *>(tok)->c, *v);
}
#endif

#ifdef HAVE_TBB_QUEUE
using Tbbq = tbb::concurrent_queue<uintptr_t>;
void *tbb_create()
{
    return new (std::nothrow) Tbbq();
}
void tbb_destroy(void *q)
{
    delete static_cast<Tbbq *>(q);
}
void tbb_push(void *q, void *, uintptr_t v)
{
    static_cast<Tbbq *>(q)->push(v);
}
bool tbb_pop(void *q, void *, uintptr_t *v)
{
    return static_cast<Tbbq *>(q)->try_pop(*v);
}
#endif

#ifdef HAVE_BOOST_LOCKFREE
using Boostq = boost::lockfree::queue<uintptr_t>;
void *boost_create()
{
    return new (std::nothrow) Boostq(1024); // grows past it (push allocates)
}
void boost_destroy(void *q)
{
    delete static_cast<Boostq *>(q);
}
void boost_push(void *q, void *, uintptr_t v)
{
    if (!static_cast<Boostq *>(q)->push(v))
        std::abort();
}
bool boost_pop(void *q, void *, uintptr_t *v)
{
    return static_cast<Boostq *>(q)->pop(*v);
}
#endif

const qpeer cxx_peers[] = {
#ifdef HAVE_MOODYCAMEL
    { "moodycamel ConcurrentQueue 1.0.3", "tokens per thread; per-producer FIFO only", moody_create,
      moody_destroy, moody_begin, moody_end, moody_push, moody_pop },
#endif
#ifdef HAVE_TBB_QUEUE
    { "oneTBB concurrent_queue", nullptr, tbb_create, tbb_destroy, nullptr, nullptr, tbb_push,
      tbb_pop },
#endif
#ifdef HAVE_BOOST_LOCKFREE
    { "boost::lockfree::queue 1.74", "a node pool of 1024 that grows", boost_create, boost_destroy,
      nullptr, nullptr, boost_push, boost_pop },
#endif
    { nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr },
};

} // namespace

extern "C" const qpeer *bench_queue_cxx_peers(size_t *n)
{
    *n = sizeof cxx_peers / sizeof cxx_peers[0] - 1;
    return cxx_peers;
}
