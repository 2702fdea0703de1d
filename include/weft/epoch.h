/*
 * weft/epoch.h - epoch-based reclamation: free memory that other threads may
 * still be reading, once none of them can be.
 *
 * A reader brackets every access to shared, lock-free linked memory with
 * weft_epoch_enter and weft_epoch_exit (a read-side section).  A writer that
 * unlinked an object hands it to weft_epoch_retire instead of freeing it;
 * the domain runs free_fn(p) once every section that was open when p was
 * retired has closed.  This is Fraser's epoch scheme ("Practical
 * lock-freedom", PhD thesis, Cambridge, 2004), as in ck_epoch and
 * crossbeam-epoch, with liburcu's asymmetric fences (urcu-memb) so that a
 * section costs the reader two plain stores and no fence.
 *
 * Threads need no registration: a thread's record in a domain is made on
 * its first call on that domain and handed back (for reuse by a later
 * thread) when the thread exits.
 *
 *   section                           writer
 *   -------                           ------
 *   weft_epoch_enter(d);              unlink p from the structure
 *   n = load a shared pointer         weft_epoch_retire(d, p, free);
 *   ...read *n...                     // free(p) runs later, after every
 *   weft_epoch_exit(d);               // section that could see p closed
 *
 * Concurrency: may two threads make these calls on one domain at once?
 *
 *                     | enter, exit | retire | synchronize
 *   enter, exit       | yes         |        |
 *   retire            | yes         | yes    |
 *   synchronize       | yes         | yes    | yes
 *
 * create: wait-free apart from malloc.  destroy: alone, with no thread inside
 * a section and no other call running (the caller's bug otherwise; debug
 * builds assert).  Sections nest; exit without enter is the caller's bug
 * (debug builds assert).  free_fn runs on whichever thread reclaims, never
 * inside that thread's own section; it may call retire but not synchronize.
 *
 * Progress: enter and exit are wait-free after a thread's first call on a
 * domain (which allocates its record and retire log, about 3.3 KB; the
 * process aborts if that allocation fails).  With nothing to reclaim they make no system
 * call and write only the calling thread's own record.  retire is
 * lock-free apart from malloc (one block per 128 retires); every 64th
 * retire of a thread tries to advance the epoch, which costs one
 * membarrier(2) and a scan of the domain's records, and frees what is old
 * enough.  synchronize blocks until every section open at its call has
 * closed, then frees everything retired before the call.
 *
 * Bound: an object is freed at the third epoch advance after its retire; an
 * advance needs every open section to have started in the current epoch.
 * So while every section closes, what is retired but not freed stays below
 * about 3 x 64 objects per retiring thread plus what is retired during the
 * longest section; a thread that stays inside a section holds back every
 * free of the domain retired from then on, until it exits the section.
 * Threads that exit hold nothing back, whether or not they called exit.
 *
 * Example (make check compiles and runs it: tests/snippets.sh):
 *
 * @code
 * #include <stdatomic.h>
 * #include <stdint.h>
 * #include <stdlib.h>
 * #include <weft/epoch.h>
 *
 * struct config { int version; };
 * static atomic_uintptr_t current; // a struct config *
 *
 * int main(void)
 * {
 *     weft_epoch *d = weft_epoch_create();
 *     struct config *c = malloc(sizeof *c), *next = malloc(sizeof *next);
 *     if (d == NULL || c == NULL || next == NULL)
 *         return 1;
 *     c->version = 1;
 *     atomic_store(&current, (uintptr_t)c);
 *
 *     weft_epoch_enter(d); // a reader
 *     int seen = ((struct config *)atomic_load(&current))->version;
 *     weft_epoch_exit(d);
 *
 *     next->version = 2; // a writer replaces the config
 *     void *old = (void *)atomic_exchange(&current, (uintptr_t)next);
 *     weft_epoch_retire(d, old, free); // freed once no reader can see it
 *
 *     weft_epoch_synchronize(d); // old has been freed now
 *     weft_epoch_destroy(d);
 *     free((void *)atomic_load(&current));
 *     return seen == 1 ? 0 : 1;
 * }
 * @endcode
 */
#ifndef WEFT_EPOCH_H
#define WEFT_EPOCH_H

#include <weft/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A reclamation domain (opaque). */
typedef struct weft_epoch weft_epoch;

/* A new domain; NULL with errno ENOMEM. */
WEFT_API weft_epoch *weft_epoch_create(void);

/* Runs every pending free_fn, then frees the domain.  No thread may be
 * inside a section of d or call anything on d any more. */
WEFT_API void weft_epoch_destroy(weft_epoch *d);

/* Begin a read-side section (nestable: only the outermost pair counts). */
WEFT_API void weft_epoch_enter(weft_epoch *d);

/* End the section begun by the matching weft_epoch_enter. */
WEFT_API void weft_epoch_exit(weft_epoch *d);

/* free_fn(p) runs once no section that began before this call is still
 * open (p must be unreachable for sections that begin after it).  May be
 * called inside or outside a section. */
WEFT_API void weft_epoch_retire(weft_epoch *d, void *p, void (*free_fn)(void *p));

/* Returns when everything retired before the call (by any thread) has been
 * freed.  Not inside a section of d (it would wait for itself: debug builds
 * assert) and not from a free_fn. */
WEFT_API void weft_epoch_synchronize(weft_epoch *d);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_EPOCH_H */
