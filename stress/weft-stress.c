/*
 * weft-stress - stress scenarios for weft's rings, deque and pool, meant to
 * run under ThreadSanitizer.  See stress/README.md.
 *
 *   weft-stress --list
 *   weft-stress --quick | --all
 *   weft-stress NAME... [--seconds S] [--threads P:C] [--capacity N]
 *               [--seed X] [--chaos[=PERMILLE]] [--peer ck] [--watchdog S]
 *
 * One line per scenario (name, setup, ops/s, verdict), then
 * "N passed, N failed".  Exit status: 0 all passed, 1 a check failed,
 * 3 the watchdog saw no progress (hang), 77 nothing could run (skipped),
 * 99 usage or resource error.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "stress.h"

bool stress_progress_setup(void);
void stress_progress_reset(void);
extern struct stress_progress *stress_progress_table;

/* Total seconds --quick spends in the scenarios' main phases; the rest of
 * the 60 s budget is left for set-up, draining and TSan's slowness.  (30 s
 * until the three *-lin scenarios came, with 4 of the 45 weight units: 33
 * kept every other scenario's share as it was; the queue and epoch
 * scenarios brought 11 more units, and 41 keeps the share of a unit at
 * 0.73 s.) */
#define QUICK_BUDGET_S 41.0
/* Seconds per unit of weight for --all. */
#define ALL_SECONDS_PER_WEIGHT 8.0
#define DEFAULT_PERMILLE 20

static const char *op_names[OP_COUNT] = {
    [OP_IDLE] = "idle",
    [OP_PUSH] = "push (blocking)",
    [OP_POP] = "pop (blocking)",
    [OP_TRY_PUSH] = "try_push",
    [OP_TRY_POP] = "try_pop",
    [OP_PUSH_MANY] = "try_push_many",
    [OP_POP_MANY] = "try_pop_many",
    [OP_PUSH_TIMED] = "push_timed",
    [OP_POP_TIMED] = "pop_timed",
    [OP_STEAL] = "steal",
    [OP_STEAL_BATCH] = "steal_batch",
    [OP_SUBMIT] = "submit",
    [OP_SPAWN] = "spawn",
    [OP_WAIT] = "wait",
    [OP_FOR] = "parallel_for",
    [OP_CLOSE] = "close",
    [OP_JOIN] = "join",
    [OP_DRAIN] = "drain",
    [OP_CHECK] = "check",
    [OP_DESTROY] = "destroy",
    [OP_BACKOFF] = "backoff (retry)",
    [OP_EXITED] = "exited",
};

/* ---- options ------------------------------------------------------------------ */
struct options {
    double seconds;  /* 0: from the budget */
    unsigned p, c;   /* 0: scenario default */
    size_t capacity; /* 0: scenario default */
    uint64_t seed;
    bool seed_given;
    bool chaos;
    unsigned permille;
    enum stress_peer peer;
    double watchdog_s;
    bool quick, all, list;
};
static struct options opt = { .watchdog_s = 10.0, .permille = DEFAULT_PERMILLE };

static char replay_args[256]; /* the options a replay needs besides the name */
/* The current scenario's replay line, formatted before it starts, so that a
 * crash or a sanitizer's halt_on_error still prints how to replay it. */
static char replay_line[512];
static size_t replay_len;

/* Sanitizer runtimes (TSan, ASan, UBSan) call this before they end the
 * process on a report; weak, so that plain builds need no runtime. */
extern void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

static void print_replay_raw(void)
{
    if (replay_len)
        (void)!write(STDOUT_FILENO, replay_line, replay_len);
}

static void on_fatal_signal(int sig)
{
    print_replay_raw();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* ---- the watchdog -------------------------------------------------------------- */
static pthread_mutex_t describe_lock = PTHREAD_MUTEX_INITIALIZER;
static void (*describe_fn)(void *ctx, FILE *out);
static void *describe_ctx;
static atomic_int watch_active; /* a scenario is running */
static _Atomic(const struct stress_run *) watch_run;

void stress_set_describe(void (*fn)(void *ctx, FILE *out), void *ctx)
{
    pthread_mutex_lock(&describe_lock);
    describe_fn = fn;
    describe_ctx = ctx;
    pthread_mutex_unlock(&describe_lock);
}

static uint64_t progress_signature(void)
{
    uint64_t sig = 0;
    for (unsigned i = 0; i < 512; i++) {
        struct stress_progress *p = &stress_progress_table[i];
        /* acquire: pairs with the release in stress_progress_claim */
        if (!atomic_load_explicit(&p->used, memory_order_acquire))
            continue;
        /* relaxed: progress counters are hints, not data */
        sig = stress_mix(sig ^ atomic_load_explicit(&p->ops, memory_order_relaxed)) ^
              (uint64_t)atomic_load_explicit(&p->op, memory_order_relaxed);
    }
    return sig;
}

static void print_replay(FILE *out, const struct stress_run *r)
{
    char cap[40] = "";
    if (r->capacity)
        snprintf(cap, sizeof cap, " --capacity %zu", r->capacity);
    fprintf(out,
            "    seed %#llx; replay: weft-stress %s --seconds %g --threads %u:%u%s "
            "--seed %#llx%s\n",
            (unsigned long long)r->seed, r->sc->name, r->seconds, r->p, r->c, cap,
            (unsigned long long)r->seed, replay_args);
}

static _Noreturn void watchdog_fire(double stalled)
{
    /* acquire: pairs with the release in run_one */
    const struct stress_run *r = atomic_load_explicit(&watch_run, memory_order_acquire);
    FILE *out = stdout;
    flockfile(out);
    fprintf(out,
            "\nWATCHDOG: no progress for %.1f s in scenario %s: deadlock, livelock or a "
            "lost wake-up\n",
            stalled, r ? r->sc->name : "?");
    fprintf(out, "  threads (role id: ops done, operation in progress):\n");
    for (unsigned i = 0; i < 512; i++) {
        struct stress_progress *p = &stress_progress_table[i];
        /* acquire: pairs with the release in stress_progress_claim */
        if (!atomic_load_explicit(&p->used, memory_order_acquire))
            continue;
        /* relaxed: a snapshot for the report */
        int op = atomic_load_explicit(&p->op, memory_order_relaxed);
        fprintf(out, "    %-10s %3u: %12llu ops, in %s\n", p->role, p->id,
                (unsigned long long)atomic_load_explicit(&p->ops, memory_order_relaxed),
                op >= 0 && op < OP_COUNT && op_names[op] ? op_names[op] : "?");
    }
    funlockfile(out);
    /* Do not block on the lock forever if its holder is the one stuck. */
    if (pthread_mutex_trylock(&describe_lock) == 0) {
        if (describe_fn) {
            fprintf(out, "  structure:\n");
            describe_fn(describe_ctx, out);
        }
        pthread_mutex_unlock(&describe_lock);
    }
    if (r)
        print_replay(out, r);
    fprintf(out, "  exit status %d (watchdog)\n", STRESS_EXIT_WATCHDOG);
    fflush(out);
    /* exit_group directly: sanitizer runtimes intercept _exit and would
     * report the hung threads as leaks, changing the exit status */
    syscall(SYS_exit_group, STRESS_EXIT_WATCHDOG);
    _exit(STRESS_EXIT_WATCHDOG);
}

static void *watchdog_main(void *arg)
{
    (void)arg;
    uint64_t last = 0;
    double since = stress_now();
    for (;;) {
        stress_sleep_us(100000);
        double now = stress_now();
        /* relaxed: a flag; stale reads only delay the watchdog by a tick */
        if (!atomic_load_explicit(&watch_active, memory_order_relaxed)) {
            since = now;
            continue;
        }
        uint64_t sig = progress_signature();
        if (sig != last) {
            last = sig;
            since = now;
        } else if (now - since >= opt.watchdog_s) {
            watchdog_fire(now - since);
        }
    }
    return NULL;
}

void stress_chaos_thread(struct stress_run *r, unsigned index)
{
#ifdef WEFT_CHAOS
    if (r->chaos)
        weft_internal_chaos_thread(index);
#else
    (void)r;
    (void)index;
#endif
}

/* ---- scenarios ------------------------------------------------------------------ */
struct entry {
    const struct scenario *sc;
    bool selected;
};
static struct entry *table;
static size_t ntable;

static void add_all(const struct scenario *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        table[ntable].sc = &s[i];
        table[ntable].selected = false;
        ntable++;
    }
}

static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

enum { V_PASS, V_FAIL, V_SKIP };

/* The run of sc with the options applied to the scenario's defaults. */
static void run_init(struct stress_run *r, const struct scenario *sc, double seconds)
{
    memset(r, 0, sizeof *r);
    r->sc = sc;
    r->seconds = seconds;
    r->p = opt.p ? opt.p : sc->def_p;
    r->c = opt.c ? opt.c : sc->def_c;
    r->capacity = opt.capacity ? opt.capacity : sc->def_cap;
    r->seed = opt.seed;
    r->stream = name_hash(sc->name);
    r->chaos = opt.chaos;
    r->permille = opt.permille;
    r->peer = opt.peer;
    r->quick = opt.quick;
}

/* Format the replay line that a crash or a sanitizer's report prints. */
static void set_replay_line(const struct scenario *sc, double seconds)
{
    int len = snprintf(replay_line, sizeof replay_line,
                       "\n    (while running %s) seed %#llx; replay: weft-stress %s --seconds %g",
                       sc->name, (unsigned long long)opt.seed, sc->name, seconds);
    if (opt.p)
        len += snprintf(replay_line + len, sizeof replay_line - (size_t)len, " --threads %u:%u",
                        opt.p, opt.c);
    if (opt.capacity)
        len += snprintf(replay_line + len, sizeof replay_line - (size_t)len, " --capacity %zu",
                        opt.capacity);
    len += snprintf(replay_line + len, sizeof replay_line - (size_t)len, " --seed %#llx%s\n",
                    (unsigned long long)opt.seed, replay_args);
    replay_len = len > 0 && (size_t)len < sizeof replay_line ? (size_t)len : 0;
}

/* Run the scenario under the watchdog; returns its status (0 or 77) and
 * how long its function took. */
static int run_watched(struct stress_run *r, double *took)
{
    stress_progress_reset();
#ifdef WEFT_CHAOS
    weft_internal_chaos_configure(stress_mix(r->seed ^ r->stream), r->chaos ? r->permille : 0);
    stress_chaos_thread(r, 0);
#endif
    /* release: pairs with the acquire in watchdog_fire */
    atomic_store_explicit(&watch_run, r, memory_order_release);
    /* relaxed: see watchdog_main */
    atomic_store_explicit(&watch_active, 1, memory_order_relaxed);
    double t0 = stress_now();
    int rc = r->sc->fn(r);
    double t1 = stress_now();
    /* relaxed: see watchdog_main */
    atomic_store_explicit(&watch_active, 0, memory_order_relaxed);
    stress_set_describe(NULL, NULL);
#ifdef WEFT_CHAOS
    weft_internal_chaos_configure(0, 0);
#endif
    if (r->elapsed <= 0)
        r->elapsed = t1 - t0;
    *took = t1 - t0;
    return rc;
}

/* The verdict line (and the replay line of a failure). */
static int report(struct stress_run *r, int rc, double took)
{
    const struct scenario *sc = r->sc;
    /* relaxed: every thread of the run was joined */
    unsigned errors = atomic_load_explicit(&r->errors, memory_order_relaxed);
    char rate[32] = "-";
    if (rc != STRESS_EXIT_SKIP && r->elapsed > 0)
        snprintf(rate, sizeof rate, "%.0f", (double)r->ops / r->elapsed);
    if (rc == STRESS_EXIT_SKIP && errors == 0) {
        printf("%-20s %-30s %12s ops/s  SKIP (%s)\n", sc->name, r->setup, "-", r->skip);
        fflush(stdout);
        return V_SKIP;
    }
    printf("%-20s %-30s %12s ops/s  %s\n", sc->name, r->setup, rate, errors ? "FAIL" : "PASS");
    if (errors) {
        printf("    %u failed checks in %.2f s\n", errors, took);
        print_replay(stdout, r);
    }
    fflush(stdout);
    return errors ? V_FAIL : V_PASS;
}

static int run_one(const struct scenario *sc, double seconds)
{
    struct stress_run r;
    run_init(&r, sc, seconds);
    set_replay_line(sc, seconds);
    fflush(stdout);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    r.ncpu = n > 0 ? (unsigned)n : 1;
    atomic_init(&r.errors, 0);
    double took;
    int rc = run_watched(&r, &took);
    return report(&r, rc, took);
}

static _Noreturn void usage(int status)
{
    FILE *out = status ? stderr : stdout;
    fprintf(out,
            "usage: weft-stress --list\n"
            "       weft-stress --quick | --all [options]\n"
            "       weft-stress NAME... [options]\n"
            "       weft-stress --features     (chaos/ck/tsan: yes or no, one per line)\n"
            "options:\n"
            "  --seconds S       main phase of each scenario lasts S seconds\n"
            "  --threads P:C     producers:consumers (owners:thieves for the deque,\n"
            "                    submitters:workers for the pool)\n"
            "  --capacity N      ring capacity / initial deque capacity\n"
            "  --seed X          seed (decimal or 0x hex); default: from the clock\n"
            "  --chaos[=PM]      inject yields and 1-50 us sleeps at the library's chaos\n"
            "                    points with probability PM per mille (default %d);\n"
            "                    needs a library configured with --enable-chaos\n"
            "  --peer ck         run the ring scenarios against ck_ring instead\n"
            "  --peer mutex      ... against a mutex-protected ring (tests the checker)\n"
            "  --watchdog S      exit with status %d after S seconds without progress\n"
            "                    (default 10)\n"
            "exit status: 0 passed, 1 failed, %d watchdog (hang), %d skipped, %d error\n",
            DEFAULT_PERMILLE, STRESS_EXIT_WATCHDOG, STRESS_EXIT_WATCHDOG, STRESS_EXIT_SKIP,
            STRESS_EXIT_HARD);
    exit(status);
}

static double parse_double(const char *s, const char *what)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v > 0) || v > 1e6) {
        fprintf(stderr, "weft-stress: bad %s '%s'\n", what, s);
        exit(STRESS_EXIT_HARD);
    }
    return v;
}

static unsigned long long parse_ull(const char *s, const char *what, unsigned long long max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end || v > max || s[0] == '-') {
        fprintf(stderr, "weft-stress: bad %s '%s'\n", what, s);
        exit(STRESS_EXIT_HARD);
    }
    return v;
}

/* --features: what this build can do, for scripts (tests/stress_quick.sh). */
static void print_features(void)
{
#ifdef WEFT_CHAOS
    printf("chaos yes\n");
#else
    printf("chaos no\n");
#endif
#if defined(HAVE_CK) && !defined(WEFT_TSAN)
    printf("ck yes\n");
#else
    printf("ck no\n");
#endif
#ifdef WEFT_TSAN
    printf("tsan yes\n");
#else
    printf("tsan no\n");
#endif
}

/* --threads P:C; returns -1, or the exit status of a bad value. */
static int parse_threads(struct options *o, const char *val)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%s", val);
    char *colon = strchr(buf, ':');
    if (!colon)
        usage(STRESS_EXIT_HARD);
    *colon = '\0';
    o->p = (unsigned)parse_ull(buf, "--threads", 200);
    o->c = (unsigned)parse_ull(colon + 1, "--threads", 200);
    if (o->p == 0 || o->c == 0) {
        fprintf(stderr, "weft-stress: --threads wants P:C with P, C >= 1\n");
        return STRESS_EXIT_HARD;
    }
    return -1;
}

/* --peer ck|mutex; returns -1, or the exit status of a bad value. */
static int parse_peer(struct options *o, const char *val)
{
    if (!strcmp(val, "ck")) {
        o->peer = STRESS_PEER_CK;
    } else if (!strcmp(val, "mutex")) {
        o->peer = STRESS_PEER_MUTEX;
    } else {
        fprintf(stderr, "weft-stress: --peer ck or --peer mutex\n");
        return STRESS_EXIT_HARD;
    }
    return -1;
}

/* An option that takes a value (val, never NULL); returns -1, or the exit
 * status of a bad value, or -2 when a is no such option. */
static int parse_valued(struct options *o, const char *a, const char *val)
{
    if (!strcmp(a, "--seconds")) {
        o->seconds = parse_double(val, "--seconds");
    } else if (!strcmp(a, "--watchdog")) {
        o->watchdog_s = parse_double(val, "--watchdog");
    } else if (!strcmp(a, "--threads")) {
        return parse_threads(o, val);
    } else if (!strcmp(a, "--capacity")) {
        o->capacity = (size_t)parse_ull(val, "--capacity", (size_t)1 << 30);
        if (o->capacity == 0) {
            fprintf(stderr, "weft-stress: --capacity wants N >= 1\n");
            return STRESS_EXIT_HARD;
        }
    } else if (!strcmp(a, "--seed")) {
        o->seed = parse_ull(val, "--seed", ~0ull);
        o->seed_given = true;
    } else if (!strcmp(a, "--peer")) {
        return parse_peer(o, val);
    } else {
        return -2;
    }
    return -1;
}

/* A scenario's name on the command line: select it. */
static int select_named(const char *a)
{
    bool found = false;
    for (size_t k = 0; k < ntable; k++)
        if (!strcmp(table[k].sc->name, a)) {
            table[k].selected = found = true;
        }
    if (!found) {
        fprintf(stderr, "weft-stress: no scenario '%s' (see --list)\n", a);
        return STRESS_EXIT_HARD;
    }
    return -1;
}

/* An option without a value; returns -1, 0 after --features, or -2 when a
 * is no such option. */
static int parse_flag(struct options *o, const char *a)
{
    if (!strcmp(a, "--list")) {
        o->list = true;
    } else if (!strcmp(a, "--quick")) {
        o->quick = true;
    } else if (!strcmp(a, "--all")) {
        o->all = true;
    } else if (!strcmp(a, "--features")) {
        print_features();
        return 0;
    } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
        usage(0);
    } else if (!strcmp(a, "--chaos")) {
        o->chaos = true;
    } else if (!strncmp(a, "--chaos=", 8)) {
        o->chaos = true;
        o->permille = (unsigned)parse_ull(a + 8, "--chaos", 1000);
    } else {
        return -2;
    }
    return -1;
}

/* Parse the command line into o and the table's selection; *named counts
 * the scenarios named.  Returns -1 to go on, or the exit status. */
static int parse_args(struct options *o, int argc, char **argv, size_t *named)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        int st = parse_flag(o, a);
        if (st == -2 && val) {
            st = parse_valued(o, a, val);
            if (st != -2)
                i++;
        }
        if (st == -2 && a[0] == '-') {
            fprintf(stderr, "weft-stress: unknown option '%s'\n", a);
            usage(STRESS_EXIT_HARD);
        } else if (st == -2) {
            st = select_named(a);
            (*named)++;
        }
        if (st != -1)
            return st;
    }
    return -1;
}

/* After parsing: --list, the usage checks, what the build cannot do.
 * Returns -1 to go on, or the exit status. */
static int check_options(size_t named)
{
    if (opt.list) {
        for (size_t k = 0; k < ntable; k++)
            printf("%-20s %s\n", table[k].sc->name, table[k].sc->what);
        return 0;
    }
    if (!opt.quick && !opt.all && named == 0)
        usage(STRESS_EXIT_HARD);
    if (opt.quick && opt.all) {
        fprintf(stderr, "weft-stress: --quick or --all, not both\n");
        return STRESS_EXIT_HARD;
    }
    if (opt.quick || opt.all)
        for (size_t k = 0; k < ntable; k++)
            table[k].selected = true;
#ifndef WEFT_CHAOS
    if (opt.chaos) {
        printf("weft-stress: --chaos: chaos points are not compiled in "
               "(configure the library with --enable-chaos)\n0 passed, 0 failed\n");
        return STRESS_EXIT_SKIP;
    }
#endif
#ifndef HAVE_CK
    if (opt.peer == STRESS_PEER_CK) {
        printf("weft-stress: --peer ck: built without Concurrency Kit (ck_ring.h)\n"
               "0 passed, 0 failed\n");
        return STRESS_EXIT_SKIP;
    }
#endif
    return -1;
}

/* The seed (from the clock unless given) and the options every replay
 * line repeats. */
static void set_seed_and_replay_args(void)
{
    if (!opt.seed_given) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        opt.seed = stress_mix((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^
                   (uint64_t)getpid();
    }
    size_t len = 0;
    if (opt.chaos)
        len += (size_t)snprintf(replay_args + len, sizeof replay_args - len, " --chaos=%u",
                                opt.permille);
    const char *peer = stress_peer_name(opt.peer);
    if (peer)
        len += (size_t)snprintf(replay_args + len, sizeof replay_args - len, " --peer %s", peer);
    if (opt.watchdog_s != 10.0)
        snprintf(replay_args + len, sizeof replay_args - len, " --watchdog %g", opt.watchdog_s);
}

/* The replay line on a crash or a sanitizer's report, and the watchdog. */
static bool start_guards(void)
{
    if (__sanitizer_set_death_callback)
        __sanitizer_set_death_callback(print_replay_raw);
    signal(SIGSEGV, on_fatal_signal);
    signal(SIGBUS, on_fatal_signal);
    signal(SIGABRT, on_fatal_signal);
    signal(SIGFPE, on_fatal_signal);

    pthread_t wd;
    if (pthread_create(&wd, NULL, watchdog_main, NULL) != 0) {
        fprintf(stderr, "weft-stress: cannot start the watchdog\n");
        return false;
    }
    return true;
}

/* The main phase of sc: --seconds, or its share of the budget. */
static double scenario_seconds(const struct scenario *sc, unsigned weight)
{
    double s = opt.seconds;
    if (s == 0) {
        if (opt.all)
            s = ALL_SECONDS_PER_WEIGHT * sc->weight;
        else if (opt.quick)
            s = QUICK_BUDGET_S * sc->weight / (weight ? weight : 1);
        else
            s = 2.0 * sc->weight;
    }
    return s;
}

/* Run the selected scenarios; returns the exit status. */
static int run_selected(void)
{
    unsigned weight = 0;
    for (size_t k = 0; k < ntable; k++)
        if (table[k].selected)
            weight += table[k].sc->weight;

    unsigned passed = 0, failed = 0, skipped = 0;
    for (size_t k = 0; k < ntable; k++) {
        if (!table[k].selected)
            continue;
        const struct scenario *sc = table[k].sc;
        switch (run_one(sc, scenario_seconds(sc, weight))) {
        case V_PASS:
            passed++;
            break;
        case V_FAIL:
            failed++;
            break;
        default:
            skipped++;
            break;
        }
    }
    if (skipped)
        printf("%u passed, %u failed, %u skipped\n", passed, failed, skipped);
    else
        printf("%u passed, %u failed\n", passed, failed);
    fflush(stdout);
    if (failed)
        return STRESS_EXIT_FAIL;
    return passed ? STRESS_EXIT_PASS : STRESS_EXIT_SKIP;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    size_t total = stress_ring_count + stress_deque_count + stress_pool_count + stress_queue_count +
                   stress_msgq_count;
    table = calloc(total, sizeof *table);
    if (!table || !stress_progress_setup()) {
        fprintf(stderr, "weft-stress: out of memory\n");
        return STRESS_EXIT_HARD;
    }
    add_all(stress_ring_scenarios, stress_ring_count);
    add_all(stress_deque_scenarios, stress_deque_count);
    add_all(stress_pool_scenarios, stress_pool_count);
    add_all(stress_queue_scenarios, stress_queue_count);
    add_all(stress_msgq_scenarios, stress_msgq_count);

    size_t named = 0;
    int st = parse_args(&opt, argc, argv, &named);
    if (st == -1)
        st = check_options(named);
    if (st != -1)
        return st;
    set_seed_and_replay_args();
    if (!start_guards())
        return STRESS_EXIT_HARD;
    const char *peer = stress_peer_name(opt.peer);
    printf("weft-stress: seed %#llx, chaos %s, watchdog %g s%s%s\n", (unsigned long long)opt.seed,
           opt.chaos ? "on" : "off", opt.watchdog_s, peer ? ", peer " : "", peer ? peer : "");
    return run_selected();
}
