/* futures.c - weft_async / weft_future_get, like concurrent.futures.
 *
 * Counts the primes below 2,000,000 in eight ranges as eight futures,
 * gets and adds their values; a ninth future is released without being
 * waited for (it still runs and frees itself).  Checks the count against
 * a sequential sieve. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft/pool.h>

#define LIMIT 2000000u
#define PARTS 8

struct range {
    uint32_t lo, hi;
};

static int is_prime(uint32_t n)
{
    if (n < 2)
        return 0;
    for (uint32_t d = 2; d * d <= n; d++)
        if (n % d == 0)
            return 0;
    return 1;
}

static void *count_primes(void *arg)
{
    const struct range *r = arg;
    uintptr_t c = 0;
    for (uint32_t n = r->lo; n < r->hi; n++)
        c += (uintptr_t)is_prime(n);
    return (void *)c;
}

static uintptr_t sieve(uint32_t limit)
{
    unsigned char *composite = calloc(limit, 1);
    uintptr_t c = 0;
    if (!composite)
        exit(1);
    for (uint32_t i = 2; i < limit; i++) {
        if (composite[i])
            continue;
        c++;
        for (uint64_t j = (uint64_t)i * i; j < limit; j += i)
            composite[j] = 1;
    }
    free(composite);
    return c;
}

int main(void)
{
    weft_pool *pool = weft_pool_create(0);
    if (!pool)
        return 1;
    struct range r[PARTS];
    weft_future *f[PARTS];
    for (unsigned i = 0; i < PARTS; i++) {
        r[i] = (struct range){ LIMIT / PARTS * i, LIMIT / PARTS * (i + 1) };
        f[i] = weft_async(pool, count_primes, &r[i]);
        if (!f[i]) {
            perror("weft_async");
            return 1;
        }
    }
    static struct range extra = { 0, 1000 };
    weft_future_release(weft_async(pool, count_primes, &extra)); /* fire and forget */

    uintptr_t total = 0;
    for (unsigned i = 0; i < PARTS; i++) {
        total += (uintptr_t)weft_future_get(f[i]);
        weft_future_release(f[i]);
    }
    weft_pool_destroy(pool);

    uintptr_t want = sieve(LIMIT);
    printf("primes below %u: %lu (%s)\n", LIMIT, (unsigned long)total,
           total == want ? "matches the sieve" : "WRONG");
    return total == want ? 0 : 1;
}
