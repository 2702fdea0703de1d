/*
 * chaos.h - schedule perturbation points (internal, not installed).
 *
 * WEFT_CHAOS_POINT() marks a place inside an operation where a badly timed
 * preemption is interesting: between claiming a slot and publishing it,
 * between reading an index and the CAS that commits it, before a park.  In
 * a build configured with --enable-chaos the point may yield or sleep
 * briefly, driven by a seeded per-thread generator (see src/chaos.c and
 * weft-stress --chaos), so rare interleavings show up on two cores and a
 * failing seed can be replayed.  In every other build it compiles to nothing.
 */
#ifndef WEFT_CHAOS_H
#define WEFT_CHAOS_H

#ifdef WEFT_CHAOS
void weft_internal_chaos_point(void);
#define WEFT_CHAOS_POINT() weft_internal_chaos_point()
#else
#define WEFT_CHAOS_POINT() ((void)0)
#endif

#endif /* WEFT_CHAOS_H */
