/* fib.c - fork-join with weft_group: fib(n) with a spawn at every call.
 *
 * Each call spawns fib(n-1) as a task, computes fib(n-2) itself, then
 * waits.  The task lives on the caller's stack (weft_spawn allocates
 * nothing); weft_group_wait runs tasks while it waits, usually the one just
 * spawned, so nesting goes as deep as the recursion with no extra threads.
 * Exits non-zero if the result is wrong. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft/pool.h>

struct fib {
    weft_pool *pool;
    unsigned n;
    uint64_t result;
};

static void fib(void *arg)
{
    struct fib *f = arg;
    if (f->n < 2) {
        f->result = f->n;
        return;
    }
    struct fib a = { f->pool, f->n - 1, 0 }, b = { f->pool, f->n - 2, 0 };
    weft_group g;
    weft_task t;
    weft_group_init(&g, f->pool);
    weft_spawn(&g, &t, fib, &a); /* fork */
    fib(&b);                     /* meanwhile, the other half here */
    weft_group_wait(&g);         /* join */
    f->result = a.result + b.result;
}

static uint64_t fib_seq(unsigned n)
{
    return n < 2 ? n : fib_seq(n - 1) + fib_seq(n - 2);
}

int main(int argc, char **argv)
{
    unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : 27;
    weft_pool *pool = weft_pool_create(0); /* one worker per CPU */
    if (!pool) {
        perror("weft_pool_create");
        return 1;
    }
    struct fib f = { pool, n, 0 };
    weft_group g;
    weft_task t;
    weft_group_init(&g, pool);
    weft_spawn(&g, &t, fib, &f); /* from main, an outside thread: it waits */
    weft_group_wait(&g);
    weft_pool_stats st;
    weft_pool_read_stats(pool, &st);
    weft_pool_destroy(pool);

    uint64_t want = fib_seq(n);
    printf("fib(%u) = %llu (%llu tasks, %llu stolen)\n", n, (unsigned long long)f.result,
           (unsigned long long)st.tasks_run, (unsigned long long)st.steals);
    if (f.result != want) {
        fprintf(stderr, "fib: wrong result, want %llu\n", (unsigned long long)want);
        return 1;
    }
    return 0;
}
