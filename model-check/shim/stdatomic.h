/*
 * stdatomic.h for the model-check build: C11's <stdatomic.h>, as src/ uses
 * it, on Relacy's atomics (see weft_model.h for the whole seam).  Found
 * ahead of the system's header because the model-check programs put
 * model-check/shim first on the include path.
 */
#ifndef WEFT_MODEL_STDATOMIC_H
#define WEFT_MODEL_STDATOMIC_H

#include "weft_model.h"

#define _Atomic(T) ::rl::atomic<T>

typedef ::rl::atomic<bool> atomic_bool;
typedef ::rl::atomic<int> atomic_int;
typedef ::rl::atomic<unsigned> atomic_uint;
typedef ::rl::atomic<size_t> atomic_size_t;
typedef ::rl::atomic<uintptr_t> atomic_uintptr_t;
typedef ::rl::atomic<uint_least32_t> atomic_uint_least32_t;
typedef ::rl::atomic<uint_least64_t> atomic_uint_least64_t;

typedef ::rl::memory_order memory_order;
#define memory_order_relaxed ::rl::mo_relaxed
#define memory_order_consume ::rl::mo_consume
#define memory_order_acquire ::rl::mo_acquire
#define memory_order_release ::rl::mo_release
#define memory_order_acq_rel ::rl::mo_acq_rel
#define memory_order_seq_cst ::rl::mo_seq_cst

#define atomic_init(p, v) ::weft_model::init((p), (v), $)
#define atomic_load_explicit(p, mo) ::weft_model::load((p), (mo), $)
#define atomic_store_explicit(p, v, mo) ::weft_model::store((p), (v), (mo), $)
#define atomic_exchange_explicit(p, v, mo) ::weft_model::exchange((p), (v), (mo), $)
#define atomic_fetch_add_explicit(p, v, mo) ::weft_model::fetch_add((p), (v), (mo), $)
#define atomic_fetch_sub_explicit(p, v, mo) ::weft_model::fetch_sub((p), (v), (mo), $)
#define atomic_fetch_or_explicit(p, v, mo) ::weft_model::fetch_or((p), (v), (mo), $)
#define atomic_fetch_and_explicit(p, v, mo) ::weft_model::fetch_and((p), (v), (mo), $)
#define atomic_compare_exchange_strong_explicit(p, e, d, s, f) \
    ::weft_model::cas_strong((p), (e), (d), (s), (f), $)
#define atomic_compare_exchange_weak_explicit(p, e, d, s, f) \
    ::weft_model::cas_weak((p), (e), (d), (s), (f), $)
#define atomic_thread_fence(mo) ::rl::atomic_thread_fence((mo), $)
/* weft's only signal fences are the light halves of membarrier pairs */
#define atomic_signal_fence(mo) ::weft_model::light_fence((mo), $)

#endif /* WEFT_MODEL_STDATOMIC_H */
