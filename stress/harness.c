/*
 * stress/harness.c - workers, progress slots, payload items and the
 * exactly-once bitmap shared by every scenario (see stress.h).
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "stress.h"
#include "wait.h"

/* ---- random numbers ----------------------------------------------------- */

uint64_t stress_mix(uint64_t z)
{
    /* splitmix64's finaliser */
    z += 0x9e3779b97f4a7c15u;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

void rng_seed(struct rng *r, uint64_t seed, uint64_t stream)
{
    r->s = stress_mix(seed ^ stress_mix(stream + 0x51ed));
    if (r->s == 0)
        r->s = 1;
}

/* ---- time ----------------------------------------------------------------- */

double stress_now(void)
{
    return (double)now_ns() * 1e-9; /* src/wait.h */
}

void stress_sleep_us(unsigned us)
{
    struct timespec ts = { (time_t)(us / 1000000u), (long)(us % 1000000u) * 1000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

void stress_backoff(unsigned *spins)
{
    if (++*spins < 8) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    } else {
        /* on 2 cores the thread we wait for may need our CPU */
        sched_yield();
    }
}

/* ---- failures ------------------------------------------------------------- */

static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;
enum { MAX_PRINTED_FAILURES = 8 };

void stress_child_fail(atomic_uint *errors, const char *fmt, ...)
{
    /* relaxed: a counter the parent reads after every child is reaped */
    if (atomic_fetch_add_explicit(errors, 1, memory_order_relaxed) < 8) {
        va_list ap;
        va_start(ap, fmt);
        printf("    FAIL (child %d): ", (int)getpid());
        vprintf(fmt, ap);
        printf("\n");
        fflush(stdout);
        va_end(ap);
    }
}

void stress_fail(struct stress_run *r, const char *fmt, ...)
{
    /* relaxed: a counter; the verdict is read after the threads are joined */
    unsigned n = atomic_fetch_add_explicit(&r->errors, 1, memory_order_relaxed);
    if (n >= MAX_PRINTED_FAILURES)
        return;
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&print_lock);
    printf("    FAIL %s: ", r->sc ? r->sc->name : "?");
    vprintf(fmt, ap);
    printf("\n");
    if (n + 1 == MAX_PRINTED_FAILURES)
        printf("    (further failures are counted, not printed)\n");
    fflush(stdout);
    pthread_mutex_unlock(&print_lock);
    va_end(ap);
}

/* ---- progress slots ----------------------------------------------------- */

enum { MAX_SLOTS = 512 };
struct stress_progress *stress_progress_table; /* MAP_SHARED: children report too */
struct stress_progress *stress_main_progress;

bool stress_progress_setup(void);
void stress_progress_reset(void);

bool stress_progress_setup(void)
{
    void *m = mmap(NULL, sizeof(struct stress_progress) * MAX_SLOTS, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return false;
    stress_progress_table = m; /* zero-filled: every slot unused */
    stress_main_progress = &stress_progress_table[0];
    snprintf(stress_main_progress->role, sizeof stress_main_progress->role, "main");
    /* relaxed: before any other thread exists */
    atomic_store_explicit(&stress_main_progress->used, 1, memory_order_relaxed);
    return true;
}

/* Between scenarios, with no worker alive: free every slot but main's. */
void stress_progress_reset(void)
{
    for (unsigned i = 1; i < MAX_SLOTS; i++) {
        struct stress_progress *p = &stress_progress_table[i];
        /* relaxed: no worker exists; the watchdog only reads */
        atomic_store_explicit(&p->used, 0, memory_order_relaxed);
    }
}

struct stress_progress *stress_progress_claim(const char *role, unsigned id)
{
    for (unsigned i = 1; i < MAX_SLOTS; i++) {
        struct stress_progress *p = &stress_progress_table[i];
        /* relaxed: slots are claimed by the main thread only */
        if (atomic_load_explicit(&p->used, memory_order_relaxed))
            continue;
        snprintf(p->role, sizeof p->role, "%s", role);
        p->id = id;
        /* relaxed: published by the release store of used below */
        atomic_store_explicit(&p->ops, 0, memory_order_relaxed);
        atomic_store_explicit(&p->op, OP_IDLE, memory_order_relaxed);
        /* release: pairs with the acquire in the watchdog, which then reads
         * role and id */
        atomic_store_explicit(&p->used, 1, memory_order_release);
        return p;
    }
    return NULL;
}

/* ---- workers -------------------------------------------------------------- */

/* The start gate: workers wait on it until every worker exists, so the
 * scenario's threads really run together (creating 16 threads under TSan
 * takes long enough for the first ones to finish otherwise). */
static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t start_cond = PTHREAD_COND_INITIALIZER;
static unsigned gate_arrived;     /* workers waiting at the gate */
static unsigned long gate_opened; /* bumped each time the gate opens */
static bool gate_abort;           /* the team could not be started */

static void *worker_main(void *arg)
{
    struct stress_worker *w = arg;
    stress_chaos_thread(w->run, w->index);
    pthread_mutex_lock(&start_lock);
    unsigned long seen_open = gate_opened;
    gate_arrived++;
    pthread_cond_broadcast(&start_cond);
    while (gate_opened == seen_open)
        pthread_cond_wait(&start_cond, &start_lock);
    bool abort_run = gate_abort;
    pthread_mutex_unlock(&start_lock);
    if (!abort_run)
        w->fn(w);
    prog_op(w->prog, OP_EXITED);
    return NULL;
}

bool team_init(struct team *t, struct stress_run *r, unsigned max)
{
    memset(t, 0, sizeof *t);
    t->run = r;
    t->max = max;
    t->w = calloc(max, sizeof *t->w);
    if (!t->w) {
        stress_fail(r, "out of memory for %u workers", max);
        return false;
    }
    return true;
}

struct stress_worker *team_add(struct team *t, const char *role, unsigned id,
                               void (*fn)(struct stress_worker *w), void *ctx)
{
    if (t->n == t->max) {
        stress_fail(t->run, "team full (%u workers)", t->max);
        return NULL;
    }
    struct stress_worker *w = &t->w[t->n];
    w->prog = stress_progress_claim(role, id);
    if (!w->prog) {
        stress_fail(t->run, "no progress slot left for %s %u", role, id);
        return NULL;
    }
    w->run = t->run;
    w->role = role;
    w->id = id;
    w->index = t->n + 1; /* 0 is the main thread */
    w->fn = fn;
    w->ctx = ctx;
    rng_seed(&w->rng, t->run->seed, stress_mix(t->run->stream) ^ (t->n + 1));
    t->n++;
    return w;
}

bool team_start(struct team *t)
{
    bool ok = true;
    unsigned created = 0;
    pthread_mutex_lock(&start_lock);
    gate_arrived = 0;
    gate_abort = false;
    pthread_mutex_unlock(&start_lock);
    for (unsigned i = 0; i < t->n; i++) {
        struct stress_worker *w = &t->w[i];
        int rc = pthread_create(&w->tid, NULL, worker_main, w);
        if (rc != 0) {
            stress_fail(t->run, "pthread_create: %s (worker %u of %u)", strerror(rc), i, t->n);
            ok = false;
            break;
        }
        w->started = true;
        created++;
    }
    pthread_mutex_lock(&start_lock);
    while (gate_arrived < created)
        pthread_cond_wait(&start_cond, &start_lock);
    gate_abort = !ok;
    gate_opened++;
    pthread_cond_broadcast(&start_cond);
    pthread_mutex_unlock(&start_lock);
    prog_done(stress_main_progress, 1);
    return ok;
}

void team_join(struct team *t, const char *role)
{
    for (unsigned i = 0; i < t->n; i++) {
        struct stress_worker *w = &t->w[i];
        if (!w->started || (role && strcmp(w->role, role) != 0))
            continue;
        pthread_join(w->tid, NULL);
        w->started = false;
    }
}

void stress_progress_release(struct stress_progress *p)
{
    if (p)
        /* relaxed: the slot's thread has ended (joined or reaped) */
        atomic_store_explicit(&p->used, 0, memory_order_relaxed);
}

void team_free(struct team *t)
{
    for (unsigned i = 0; i < t->n; i++)
        stress_progress_release(t->w[i].prog);
    free(t->w);
    t->w = NULL;
    t->n = 0;
}

/* ---- payload items ----------------------------------------------------------- */

#define ITEM_MAGIC 0x57454654a11c0de5u /* "WEFT" ... */
#define ITEM_MAGIC2 0x600dcafe5eed1e55u
#define ITEM_FREED 0xdeadbeefdeadbeefu

static uint64_t item_sum(const struct item *it)
{
    uint64_t h = stress_mix(it->magic ^ ((uint64_t)it->producer << 32 | it->tag));
    h = stress_mix(h ^ it->seq);
    for (int i = 0; i < 4; i++)
        h = stress_mix(h ^ it->body[i]);
    return h;
}

struct item *item_new(struct rng *rng, unsigned producer, uint64_t seq, uint32_t tag)
{
    struct item *it = malloc(sizeof *it);
    if (!it)
        return NULL;
    it->magic = ITEM_MAGIC;
    it->producer = producer;
    it->tag = tag;
    it->seq = seq;
    for (int i = 0; i < 4; i++)
        it->body[i] = rng_next(rng);
    it->check = item_sum(it);
    it->magic2 = ITEM_MAGIC2;
    return it;
}

bool item_verify(struct stress_run *r, const struct item *it, const char *who)
{
    if (it->magic == ITEM_FREED || it->magic2 == ITEM_FREED) {
        stress_fail(r, "%s received item %p that was already freed (duplicate delivery)", who,
                    (const void *)it);
        return false;
    }
    if (it->magic != ITEM_MAGIC || it->magic2 != ITEM_MAGIC2 || it->check != item_sum(it)) {
        stress_fail(r,
                    "%s received a torn or bogus item %p (magic %#llx/%#llx, "
                    "producer %u seq %llu, checksum %s)",
                    who, (const void *)it, (unsigned long long)it->magic,
                    (unsigned long long)it->magic2, it->producer, (unsigned long long)it->seq,
                    it->check == item_sum(it) ? "ok" : "WRONG");
        return false;
    }
    return true;
}

void item_free(struct item *it)
{
    it->magic = ITEM_FREED;
    it->magic2 = ITEM_FREED;
    free(it);
}

/* ---- exactly-once bitmap --------------------------------------------------------- */

#define SEEN_WORDS ((1u << SEEN_CHUNK_BITS) / 64)

struct seen *seen_new(unsigned producers)
{
    return calloc(producers ? producers : 1, sizeof(struct seen));
}

void seen_free(struct seen *s, unsigned producers)
{
    if (!s)
        return;
    for (unsigned p = 0; p < producers; p++)
        for (unsigned c = 0; c < SEEN_MAX_CHUNKS; c++)
            /* relaxed: every thread that used the map was joined */
            free(atomic_load_explicit(&s[p].chunk[c], memory_order_relaxed));
    free(s);
}

bool seen_prepare(struct seen *s, unsigned producer, uint64_t seq)
{
    uint64_t c = seq >> SEEN_CHUNK_BITS;
    if (c >= SEEN_MAX_CHUNKS)
        return false;
    /* acquire: pairs with the CAS below when another thread installed it */
    if (atomic_load_explicit(&s[producer].chunk[c], memory_order_acquire))
        return true;
    atomic_uint_least64_t *words = calloc(SEEN_WORDS, sizeof *words), *expected = NULL;
    if (!words)
        return false;
    /* release on success: pairs with the acquire in seen_mark/seen_test and
     * above; the zeroed words are visible to whoever finds the pointer.
     * acquire on failure: we use the other thread's chunk instead (several
     * threads may share one producer index, e.g. tasks submitting tasks).
     * The checker synchronises through its own pointer, never through the
     * structure under test. */
    if (!atomic_compare_exchange_strong_explicit(&s[producer].chunk[c], &expected, words,
                                                 memory_order_release, memory_order_acquire))
        free(words);
    return true;
}

int seen_mark(struct seen *s, unsigned producer, uint64_t seq)
{
    uint64_t c = seq >> SEEN_CHUNK_BITS;
    if (c >= SEEN_MAX_CHUNKS)
        return -1;
    /* acquire: pairs with the release in seen_prepare */
    atomic_uint_least64_t *words =
        atomic_load_explicit(&s[producer].chunk[c], memory_order_acquire);
    if (!words)
        return -1;
    uint64_t bit = (uint64_t)1 << (seq & 63);
    /* relaxed: the RMW alone decides who was first; no data hangs on it */
    uint64_t old = atomic_fetch_or_explicit(&words[(seq & ((1u << SEEN_CHUNK_BITS) - 1)) >> 6], bit,
                                            memory_order_relaxed);
    return (old & bit) ? 0 : 1;
}

bool seen_test(struct seen *s, unsigned producer, uint64_t seq)
{
    uint64_t c = seq >> SEEN_CHUNK_BITS;
    if (c >= SEEN_MAX_CHUNKS)
        return false;
    /* acquire: pairs with the release in seen_prepare */
    atomic_uint_least64_t *words =
        atomic_load_explicit(&s[producer].chunk[c], memory_order_acquire);
    if (!words)
        return false;
    /* relaxed: a snapshot */
    uint64_t w = atomic_load_explicit(&words[(seq & ((1u << SEEN_CHUNK_BITS) - 1)) >> 6],
                                      memory_order_relaxed);
    return (w >> (seq & 63)) & 1;
}

uint64_t seen_check(struct stress_run *r, struct seen *s, unsigned producer, uint64_t n,
                    const char *what)
{
    uint64_t missing = 0, extra = 0, first_missing = UINT64_MAX, first_extra = UINT64_MAX;
    for (uint64_t c = 0; c < SEEN_MAX_CHUNKS; c++) {
        /* relaxed: all users were joined */
        atomic_uint_least64_t *words =
            atomic_load_explicit(&s[producer].chunk[c], memory_order_relaxed);
        uint64_t base = c << SEEN_CHUNK_BITS;
        if (base >= n && !words)
            break;
        for (uint64_t i = 0; i < SEEN_WORDS; i++) {
            /* relaxed: every receiver was joined */
            uint64_t w = words ? atomic_load_explicit(&words[i], memory_order_relaxed) : 0;
            uint64_t lo = base + i * 64;
            uint64_t want;
            if (lo + 64 <= n)
                want = ~(uint64_t)0;
            else if (lo >= n)
                want = 0;
            else
                want = ((uint64_t)1 << (n - lo)) - 1;
            if (w == want)
                continue;
            uint64_t miss = want & ~w, more = w & ~want;
            if (miss) {
                missing += (uint64_t)__builtin_popcountll(miss);
                if (first_missing == UINT64_MAX)
                    first_missing = lo + (uint64_t)__builtin_ctzll(miss);
            }
            if (more) {
                extra += (uint64_t)__builtin_popcountll(more);
                if (first_extra == UINT64_MAX)
                    first_extra = lo + (uint64_t)__builtin_ctzll(more);
            }
        }
    }
    if (missing)
        stress_fail(r, "%s: producer %u: %llu of %llu items never delivered (lost), first seq %llu",
                    what, producer, (unsigned long long)missing, (unsigned long long)n,
                    (unsigned long long)first_missing);
    if (extra)
        stress_fail(r,
                    "%s: producer %u: %llu items delivered that were never accepted, "
                    "first seq %llu",
                    what, producer, (unsigned long long)extra, (unsigned long long)first_extra);
    return missing + extra;
}

bool item_receive(struct stress_run *r, struct seen *s, unsigned nproducers, void *p,
                  const char *who, unsigned *producer, uint64_t *seq, uint32_t *tag)
{
    struct item *it = p;
    if (!it) {
        stress_fail(r, "%s received NULL, which no producer sent", who);
        return false;
    }
    if (!item_verify(r, it, who))
        return false;
    if (it->producer >= nproducers) {
        stress_fail(r, "%s received an item of producer %u (only %u exist)", who, it->producer,
                    nproducers);
        return false;
    }
    unsigned pr = it->producer;
    uint64_t sq = it->seq;
    uint32_t tg = it->tag;
    int m = seen_mark(s, pr, sq);
    if (m == 0) {
        /* the other receiver frees it; we must not touch it again */
        stress_fail(r, "%s received producer %u seq %llu a second time (duplicate)", who, pr,
                    (unsigned long long)sq);
        return false;
    }
    if (m < 0) {
        stress_fail(r, "%s received producer %u seq %llu, which was never prepared", who, pr,
                    (unsigned long long)sq);
        return false;
    }
    item_free(it);
    *producer = pr;
    *seq = sq;
    if (tag)
        *tag = tg;
    return true;
}
