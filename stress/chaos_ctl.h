/*
 * stress/chaos_ctl.h - how weft-stress steers the library's chaos points.
 *
 * With --enable-chaos, libweft contains src/chaos.c: every WEFT_CHAOS_POINT()
 * in the library's hot paths (and the points weft-stress adds between
 * operations) may yield or sleep 1-50 us, driven by a seeded generator per
 * thread.  These two functions are internal (weft_internal_, hidden by
 * -fvisibility=hidden, never exported from libweft.so); weft-stress reaches
 * them because it links libweft statically (libtool -static in
 * mk/stress.am), where hidden symbols resolve like any other.  We chose that
 * over an exported weft_chaos_* function so that the shared library's ABI
 * never carries a test-only entry point that exists in some builds and not
 * in others.
 */
#ifndef WEFT_STRESS_CHAOS_CTL_H
#define WEFT_STRESS_CHAOS_CTL_H

#include <stdint.h>

#ifdef WEFT_CHAOS
/* Turn chaos on (permille > 0: probability per point, in 1/1000) or off (0).
 * Call before starting the threads of a run. */
void weft_internal_chaos_configure(uint64_t seed, unsigned permille);
/* Seed the calling thread's generator from the seed and index. */
void weft_internal_chaos_thread(unsigned index);
/* One perturbation point (also used by the library, see src/chaos.h). */
void weft_internal_chaos_point(void);
#endif

#endif /* WEFT_STRESS_CHAOS_CTL_H */
