/* Unit tests of weft_epoch (include/weft/epoch.h). */
#include "config.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <weft/epoch.h>

#include "check.h"

/* An object whose free is observable: free_fn sets freed. */
struct obj {
    atomic_int freed;
    atomic_int *counter; /* counts frees, when not NULL */
};

static void obj_free(void *p)
{
    struct obj *o = p;
    /* relaxed: the tests read it after synchronize or a join */
    atomic_store_explicit(&o->freed, 1, memory_order_relaxed);
    if (o->counter)
        atomic_fetch_add_explicit(o->counter, 1, memory_order_relaxed);
}

static bool freed(struct obj *o)
{
    return atomic_load_explicit(&o->freed, memory_order_relaxed) != 0;
}

static atomic_int heap_frees;

static void heap_free(void *p)
{
    atomic_fetch_add_explicit(&heap_frees, 1, memory_order_relaxed);
    free(p);
}

static void nap_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static void create_and_destroy_an_empty_domain(void)
{
    weft_epoch *d = weft_epoch_create();
    REQUIRE(d != NULL);
    weft_epoch_enter(d);
    weft_epoch_exit(d);
    weft_epoch_destroy(d);
    weft_epoch_destroy(NULL); /* a no-op, like free(NULL) */
    CHECK(true);
}

static void synchronize_frees_what_was_retired_before_it(void)
{
    weft_epoch *d = weft_epoch_create();
    REQUIRE(d != NULL);
    struct obj a = { 0 }, b = { 0 };
    weft_epoch_retire(d, &a, obj_free);
    weft_epoch_enter(d); /* retire inside a section is allowed */
    weft_epoch_retire(d, &b, obj_free);
    weft_epoch_exit(d);
    CHECK(!freed(&a)); /* too early: no advance has happened */
    weft_epoch_synchronize(d);
    CHECK(freed(&a));
    CHECK(freed(&b));
    weft_epoch_destroy(d);
}

static void destroy_runs_every_pending_free(void)
{
    weft_epoch *d = weft_epoch_create();
    REQUIRE(d != NULL);
    atomic_store(&heap_frees, 0);
    for (int i = 0; i < 1000; i++) /* several log blocks */
        weft_epoch_retire(d, malloc(16), heap_free);
    weft_epoch_destroy(d);
    CHECK_EQ_I(atomic_load(&heap_frees), 1000);
}

/* A reader that enters, says so, and stays until told to leave. */
struct holder {
    weft_epoch *d;
    atomic_int inside, leave, nested;
};

static void *hold_section(void *arg)
{
    struct holder *h = arg;
    weft_epoch_enter(h->d);
    if (h->nested) { /* enter twice, exit once: still inside */
        weft_epoch_enter(h->d);
        weft_epoch_exit(h->d);
    }
    atomic_store(&h->inside, 1);
    while (!atomic_load(&h->leave))
        nap_ms(1);
    weft_epoch_exit(h->d);
    return NULL;
}

static void an_open_section_holds_back_the_free(bool nested)
{
    weft_epoch *d = weft_epoch_create();
    REQUIRE(d != NULL);
    struct holder h = { .d = d };
    atomic_store(&h.nested, nested);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, hold_section, &h) == 0);
    while (!atomic_load(&h.inside))
        nap_ms(1);
    struct obj x = { 0 };
    weft_epoch_retire(d, &x, obj_free);
    /* many more retires: every 64th tries to advance and free */
    atomic_int n = 0;
    struct obj *more = calloc(1000, sizeof *more);
    REQUIRE(more != NULL);
    for (int i = 0; i < 1000; i++) {
        more[i].counter = &n;
        weft_epoch_retire(d, &more[i], obj_free);
    }
    CHECK(!freed(&x));
    CHECK_EQ_I(atomic_load(&n), 0);
    atomic_store(&h.leave, 1);
    pthread_join(t, NULL);
    weft_epoch_synchronize(d);
    CHECK(freed(&x));
    CHECK_EQ_I(atomic_load(&n), 1000);
    weft_epoch_destroy(d);
    free(more);
}

static void a_reader_inside_its_section_delays_the_free(void)
{
    an_open_section_holds_back_the_free(false);
}

static void a_nested_section_ends_with_its_outermost_exit(void)
{
    an_open_section_holds_back_the_free(true);
}

/* synchronize waits for a section that is open when it starts. */
struct sync_arg {
    weft_epoch *d;
    struct obj *x;
    atomic_int done;
};

static void *retire_and_synchronize(void *arg)
{
    struct sync_arg *s = arg;
    weft_epoch_retire(s->d, s->x, obj_free);
    weft_epoch_synchronize(s->d);
    atomic_store(&s->done, 1);
    return NULL;
}

static void synchronize_waits_for_an_open_section(void)
{
    weft_epoch *d = weft_epoch_create();
    REQUIRE(d != NULL);
    struct obj x = { 0 };
    struct sync_arg s = { .d = d, .x = &x };
    weft_epoch_enter(d);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, retire_and_synchronize, &s) == 0);
    nap_ms(50);
    CHECK(!atomic_load(&s.done));
    CHECK(!freed(&x));
    weft_epoch_exit(d);
    pthread_join(t, NULL);
    CHECK(atomic_load(&s.done));
    CHECK(freed(&x));
    weft_epoch_destroy(d);
}

/* A thread that retires and exits: its objects are freed without it, and
 * a thread that stays alive outside any section holds nothing back. */
static void *retire_some_and_exit(void *arg)
{
    weft_epoch *d = arg;
    weft_epoch_enter(d);
    for (int i = 0; i < 10; i++)
        weft_epoch_retire(d, malloc(8), heap_free);
    weft_epoch_exit(d);
    return NULL;
}

static void *enter_exit_then_idle(void *arg)
{
    struct holder *h = arg;
    weft_epoch_enter(h->d);
    weft_epoch_exit(h->d);
    atomic_store(&h->inside, 1);
    while (!atomic_load(&h->leave))
        nap_ms(1);
    return NULL;
}

static void exited_and_idle_threads_hold_nothing_back(void)
{
    weft_epoch *d = weft_epoch_create();
    REQUIRE(d != NULL);
    atomic_store(&heap_frees, 0);
    struct holder idle = { .d = d };
    pthread_t ti;
    REQUIRE(pthread_create(&ti, NULL, enter_exit_then_idle, &idle) == 0);
    while (!atomic_load(&idle.inside))
        nap_ms(1);
    for (int k = 0; k < 20; k++) { /* records are handed back and reused */
        pthread_t t;
        REQUIRE(pthread_create(&t, NULL, retire_some_and_exit, d) == 0);
        pthread_join(t, NULL);
    }
    weft_epoch_synchronize(d); /* would hang if the idle thread held it back */
    CHECK_EQ_I(atomic_load(&heap_frees), 200);
    atomic_store(&idle.leave, 1);
    pthread_join(ti, NULL);
    weft_epoch_destroy(d);
}

static void many_domains_on_one_thread(void)
{
    enum { N = 20 }; /* more than the thread's cache holds */
    weft_epoch *d[N];
    struct obj x[N] = { { 0 } };
    for (int i = 0; i < N; i++)
        REQUIRE((d[i] = weft_epoch_create()) != NULL);
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < N; i++) {
            weft_epoch_enter(d[i]);
            weft_epoch_exit(d[i]);
        }
    /* all open at once: each enter evicts another domain's cache slot, and
     * the sections must still end with their own exits */
    for (int i = 0; i < N; i++)
        weft_epoch_enter(d[i]);
    weft_epoch_retire(d[0], &x[0], obj_free);
    for (int i = N - 1; i > 0; i--)
        weft_epoch_exit(d[i]);
    CHECK(!freed(&x[0])); /* d[0]'s section is still open */
    weft_epoch_exit(d[0]);
    weft_epoch_synchronize(d[0]);
    CHECK(freed(&x[0]));
    atomic_store_explicit(&x[0].freed, 0, memory_order_relaxed); /* reused below */
    for (int i = 0; i < N; i++)
        weft_epoch_retire(d[i], &x[i], obj_free);
    for (int i = 0; i < N; i++) {
        weft_epoch_synchronize(d[i]);
        CHECK(freed(&x[i]));
    }
    for (int i = 0; i < N; i++)
        weft_epoch_destroy(d[i]);
    /* new domains, possibly at the old addresses: the stale cache entries
     * must not be taken for theirs */
    for (int i = 0; i < N; i++) {
        weft_epoch *e = weft_epoch_create();
        REQUIRE(e != NULL);
        struct obj y = { 0 };
        weft_epoch_enter(e);
        weft_epoch_retire(e, &y, obj_free);
        weft_epoch_exit(e);
        weft_epoch_synchronize(e);
        CHECK(freed(&y));
        weft_epoch_destroy(e);
    }
}

/* free_fn may retire again (a node that owns another). */
static weft_epoch *chain_domain;
static struct obj chain_tail;

static void free_and_retire_tail(void *p)
{
    obj_free(p);
    weft_epoch_retire(chain_domain, &chain_tail, obj_free);
}

static void free_fn_may_retire(void)
{
    chain_domain = weft_epoch_create();
    REQUIRE(chain_domain != NULL);
    struct obj head = { 0 };
    atomic_store(&chain_tail.freed, 0);
    weft_epoch_retire(chain_domain, &head, free_and_retire_tail);
    weft_epoch_synchronize(chain_domain);
    CHECK(freed(&head));
    weft_epoch_synchronize(chain_domain);
    CHECK(freed(&chain_tail));
    weft_epoch_destroy(chain_domain);
}

/* Readers dereference a shared pointer that a writer keeps replacing and
 * retiring; free_fn poisons the object before freeing it.  A reader that
 * ever sees the poison (or, under ASan, touches freed memory) fails. */
enum { MAGIC = 0x5eed, POISON = 0xdead };

struct node {
    atomic_int value;
};

static _Atomic(struct node *) shared_node;
static atomic_int stop_readers;

static void node_free(void *p)
{
    struct node *n = p;
    atomic_store_explicit(&n->value, POISON, memory_order_relaxed);
    free(n);
}

struct reader_result {
    weft_epoch *d;
    long reads, bad;
};

static void *reader(void *arg)
{
    struct reader_result *r = arg;
    while (!atomic_load_explicit(&stop_readers, memory_order_relaxed)) {
        weft_epoch_enter(r->d);
        /* acquire: pairs with the writer's release exchange */
        struct node *n = atomic_load_explicit(&shared_node, memory_order_acquire);
        for (int i = 0; i < 4; i++)
            if (atomic_load_explicit(&n->value, memory_order_relaxed) != MAGIC)
                r->bad++;
        weft_epoch_exit(r->d);
        r->reads++;
    }
    return NULL;
}

static void readers_never_see_a_freed_object(void)
{
    weft_epoch *d = weft_epoch_create();
    REQUIRE(d != NULL);
    struct node *first = malloc(sizeof *first);
    REQUIRE(first != NULL);
    atomic_init(&first->value, MAGIC);
    atomic_store(&shared_node, first);
    atomic_store(&stop_readers, 0);
    enum { READERS = 3 }; /* with the writer: more threads than cores */
    struct reader_result res[READERS];
    pthread_t t[READERS];
    for (int i = 0; i < READERS; i++) {
        res[i] = (struct reader_result){ d, 0, 0 };
        REQUIRE(pthread_create(&t[i], NULL, reader, &res[i]) == 0);
    }
    for (int i = 0; i < 200000; i++) {
        struct node *n = malloc(sizeof *n);
        REQUIRE(n != NULL);
        atomic_init(&n->value, MAGIC);
        /* release: publishes value to the readers' acquire load */
        struct node *old = atomic_exchange_explicit(&shared_node, n, memory_order_acq_rel);
        weft_epoch_retire(d, old, node_free);
    }
    atomic_store(&stop_readers, 1);
    long reads = 0, bad = 0;
    for (int i = 0; i < READERS; i++) {
        pthread_join(t[i], NULL);
        reads += res[i].reads;
        bad += res[i].bad;
    }
    CHECK_GT(reads, 0);
    CHECK_EQ(bad, 0);
    weft_epoch_destroy(d);
    free(atomic_load(&shared_node));
}

CHECK_MAIN(CASE(create_and_destroy_an_empty_domain),
           CASE(synchronize_frees_what_was_retired_before_it),
           CASE(destroy_runs_every_pending_free), CASE(a_reader_inside_its_section_delays_the_free),
           CASE(a_nested_section_ends_with_its_outermost_exit),
           CASE(synchronize_waits_for_an_open_section),
           CASE(exited_and_idle_threads_hold_nothing_back), CASE(many_domains_on_one_thread),
           CASE(free_fn_may_retire), CASE(readers_never_see_a_freed_object))
