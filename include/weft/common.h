/*
 * weft/common.h - what every part of weft shares.
 *
 * Only three things live here: the WEFT_API export macro, the WEFT_SHARED flag
 * for process-shared in-place initialisation, and the cache-line size that
 * contended fields are padded to.  Nothing here needs linking.
 *
 * Example (make check compiles and runs it: tests/snippets.sh):
 *
 * @code
 * #include <stdalign.h>
 * #include <weft/common.h>
 *
 * struct counters {
 *     alignas(WEFT_CACHELINE) unsigned long produced; // written by one thread
 *     alignas(WEFT_CACHELINE) unsigned long consumed; // written by another: its own line
 * };
 *
 * int main(void)
 * {
 *     struct counters c = { 0, 0 };
 *     c.produced++;
 *     return sizeof c == 2 * WEFT_CACHELINE && c.consumed == 0 ? 0 : 1;
 * }
 * @endcode
 */
#ifndef WEFT_COMMON_H
#define WEFT_COMMON_H

/* WEFT_API marks the symbols libweft exports; everything else is hidden
 * (the library is built with -fvisibility=hidden). */
#if defined(WEFT_BUILDING) && defined(__GNUC__)
#define WEFT_API __attribute__((visibility("default")))
#else
#define WEFT_API
#endif

/* Flag for the in-place initialisers (weft_mpmc_init, weft_spsc_init,
 * weft_eventcount_init): the object lives in memory shared between processes
 * (mmap MAP_SHARED), so waiters are parked and woken with non-private futexes. */
#define WEFT_SHARED 1u

/* Bytes per cache line on the targets we build for; contended fields are
 * aligned and padded to it so that two writers never share a line. */
#define WEFT_CACHELINE 64

#endif /* WEFT_COMMON_H */
