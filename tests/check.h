/*
 * tests/check.h - the shared helper every unit test is written with.
 *
 * A test file is a list of test functions, one behaviour each, named for it:
 *
 *     static void pop_on_empty_ring_returns_false(void)
 *     {
 *         weft_mpmc *q = weft_mpmc_create(4);
 *         void *item;
 *         CHECK(q != NULL);
 *         CHECK(!weft_mpmc_try_pop(q, &item));
 *         weft_mpmc_destroy(q);
 *     }
 *
 *     CHECK_MAIN(CASE(pop_on_empty_ring_returns_false), ...)
 *
 * The program prints TAP (one "ok"/"not ok" per test function) for automake's
 * tap-driver.sh.  A failed CHECK prints file:line, the expression and the
 * values it compared, marks the current test failed and carries on;
 * REQUIRE also stops the current test function.  A test function that checks
 * nothing is reported as failed: every test must assert something.
 * A watchdog alarm (CHECK_TIMEOUT_S, default 300 s) turns a hang into a
 * failure of the whole program instead of a stuck harness.
 */
#ifndef WEFT_TESTS_CHECK_H
#define WEFT_TESTS_CHECK_H

#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CHECK_TIMEOUT_S
#define CHECK_TIMEOUT_S 300
#endif

struct check_case {
    const char *name;
    void (*fn)(void);
};

struct check_state {
    unsigned long asserts;  /* checks evaluated in the current test */
    unsigned long failures; /* checks failed in the current test */
    const char *current;
    jmp_buf stop; /* where REQUIRE returns to */
};

/* One state per program; tests call CHECK only from the main thread or from
 * threads they join before returning, and threads report through the
 * CHECK_* macros only after join (count in locals, check afterwards). */
static struct check_state check_state;

static void check_fail_header(const char *file, int line, const char *expr)
{
    check_state.failures++;
    printf("# %s:%d: %s: check failed: %s\n", file, line,
           check_state.current ? check_state.current : "?", expr);
}

#define CHECK_RECORD_(ok, expr, ...)                                            \
    (check_state.asserts++, (ok)                                                \
                                ? 1                                             \
                                : (check_fail_header(__FILE__, __LINE__, expr), \
                                   printf("#     " __VA_ARGS__), printf("\n"), fflush(stdout), 0))

/* CHECK(cond): a boolean condition. */
#define CHECK(cond) ((void)CHECK_RECORD_((cond), #cond, "condition was false"))

/* CHECK_EQ / CHECK_NE / CHECK_LE ... on unsigned integers (printed as such). */
#define CHECK_CMP_U_(a, op, b)                                                            \
    do {                                                                                  \
        uintmax_t check_a_ = (uintmax_t)(a), check_b_ = (uintmax_t)(b);                   \
        CHECK_RECORD_(check_a_ op check_b_, #a " " #op " " #b, "left = %ju, right = %ju", \
                      check_a_, check_b_);                                                \
    } while (0)
#define CHECK_EQ(a, b) CHECK_CMP_U_(a, ==, b)
#define CHECK_NE(a, b) CHECK_CMP_U_(a, !=, b)
#define CHECK_LT(a, b) CHECK_CMP_U_(a, <, b)
#define CHECK_LE(a, b) CHECK_CMP_U_(a, <=, b)
#define CHECK_GT(a, b) CHECK_CMP_U_(a, >, b)
#define CHECK_GE(a, b) CHECK_CMP_U_(a, >=, b)

/* Signed integers. */
#define CHECK_EQ_I(a, b)                                                                       \
    do {                                                                                       \
        intmax_t check_a_ = (intmax_t)(a), check_b_ = (intmax_t)(b);                           \
        CHECK_RECORD_(check_a_ == check_b_, #a " == " #b, "left = %jd, right = %jd", check_a_, \
                      check_b_);                                                               \
    } while (0)

/* Pointers (void * items are compared by value). */
#define CHECK_PTR_EQ(a, b)                                                                   \
    do {                                                                                     \
        const void *check_a_ = (const void *)(a);                                            \
        const void *check_b_ = (const void *)(b);                                            \
        CHECK_RECORD_(check_a_ == check_b_, #a " == " #b, "left = %p, right = %p", check_a_, \
                      check_b_);                                                             \
    } while (0)

/* errno-style results: prints both codes by name. */
#define CHECK_ERRNO(a, b)                                                                    \
    do {                                                                                     \
        int check_a_ = (a), check_b_ = (b);                                                  \
        CHECK_RECORD_(check_a_ == check_b_, #a " == " #b, "left = %d (%s), right = %d (%s)", \
                      check_a_, strerror(check_a_), check_b_, strerror(check_b_));           \
    } while (0)

/* REQUIRE(cond): like CHECK, and ends the current test function when false
 * (use it where continuing would crash, e.g. after a failed create). */
#define REQUIRE(cond)                                                      \
    do {                                                                   \
        if (!CHECK_RECORD_((cond), #cond, "required condition was false")) \
            longjmp(check_state.stop, 1);                                  \
    } while (0)

#define CASE(fn) \
    {            \
#fn, fn  \
    }

/* ---- helpers shared by the test files ------------------------------------ */

/* CLOCK_MONOTONIC in nanoseconds (to check that a timed wait lasted at least
 * its time-out; never used as an upper bound). */
static inline uint64_t check_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sleep for ms milliseconds (to let other threads reach a state, such as
 * parked; never to decide a result), resumed after a signal. */
static inline void check_sleep_ms(unsigned ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* CHECK_SANITIZED_ADDRESS_SPACE is defined under ASan and TSan, whose
 * shadow memory makes an RLIMIT_AS limit meaningless (out-of-memory tests
 * are compiled out there). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CHECK_SANITIZED_ADDRESS_SPACE 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CHECK_SANITIZED_ADDRESS_SPACE 1
#endif
#endif

/* For out-of-memory tests, in a child process: limit the address space to
 * what the process maps now plus headroom bytes.  Returns 0, or 11/12 (the
 * child's exit status) when the limit could not be read or set. */
static inline int check_limit_address_space(size_t headroom)
{
    long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return 11;
    int got = fscanf(f, "%ld", &pages);
    fclose(f);
    if (got != 1)
        return 11;
    rlim_t limit = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (rlim_t)headroom;
    struct rlimit rl = { limit, limit };
    return setrlimit(RLIMIT_AS, &rl) == 0 ? 0 : 12;
}

/* Run fn in a fork()ed child and return its exit status (what fn
 * returned), or -1 when the fork failed or the child did not exit normally
 * (a signal, an abort).  For tests that must change the process (its
 * resource limits, its heap) without harming the others. */
static inline int check_in_child(int (*fn)(void))
{
    fflush(stdout); /* the child must not print the parent's buffer again */
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0)
        _exit(fn());
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* Run one test function; REQUIRE longjmps back here. */
static void check_run_one(void (*fn)(void))
{
    if (setjmp(check_state.stop) == 0)
        fn();
}

static int check_run(const struct check_case *cases, size_t n)
{
    size_t failed = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    alarm(CHECK_TIMEOUT_S); /* default action of SIGALRM ends the program */
    printf("1..%zu\n", n);
    for (size_t i = 0; i < n; i++) {
        check_state.asserts = 0;
        check_state.failures = 0;
        check_state.current = cases[i].name;
        check_run_one(cases[i].fn);
        if (check_state.asserts == 0) {
            printf("# %s: asserted nothing\n", cases[i].name);
            check_state.failures++;
        }
        if (check_state.failures)
            failed++;
        printf("%s %zu - %s\n", check_state.failures ? "not ok" : "ok", i + 1, cases[i].name);
    }
    return failed ? 1 : 0;
}

#define CHECK_MAIN(...)                                           \
    int main(void)                                                \
    {                                                             \
        static const struct check_case cases[] = { __VA_ARGS__ }; \
        return check_run(cases, sizeof cases / sizeof cases[0]);  \
    }

#endif /* WEFT_TESTS_CHECK_H */
