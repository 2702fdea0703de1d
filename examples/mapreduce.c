/* mapreduce.c - "split the input into chunks, Pool.map the worker, combine".
 *
 * The Python this mirrors:
 *
 *     def count(lines):                      # the worker, on one chunk
 *         c = Counter()
 *         for line in lines: c.update(ch for ch in line if ch.isalpha())
 *         return c
 *     with Pool() as pool:
 *         partial = pool.map(count, chunks(lines, 1000))
 *     total = reduce(operator.add, partial, Counter())
 *
 * With weft_parallel_reduce the chunks are index ranges over the lines, the
 * partial result of a chunk is an accumulator (here 26 letter counts)
 * that starts as a copy of the identity, and combine merges the partial
 * results pairwise, left chunk before right chunk.  A second reduction
 * shows that order is kept: it finds the first line (lowest index) that
 * contains "weft", which needs "left before right", not commutativity.
 * Checks both against a sequential loop. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft/pool.h>

#define LINES 200000
#define LINE_LEN 80

static char text[LINES][LINE_LEN + 1];

struct letters {
    uint64_t count[26];
};

/* map: fold lines [b, e) into the accumulator */
static void count_letters(size_t b, size_t e, void *acc, void *ctx)
{
    struct letters *l = acc;
    (void)ctx;
    for (size_t i = b; i < e; i++)
        for (const char *c = text[i]; *c; c++)
            if (*c >= 'a' && *c <= 'z')
                l->count[*c - 'a']++;
}

/* combine: left += right */
static void add_letters(void *left, const void *right, void *ctx)
{
    struct letters *l = left;
    const struct letters *r = right;
    (void)ctx;
    for (int k = 0; k < 26; k++)
        l->count[k] += r->count[k];
}

/* "first match": not commutative, correct only if left comes first */
static void first_weft(size_t b, size_t e, void *acc, void *ctx)
{
    size_t *first = acc;
    (void)ctx;
    for (size_t i = b; i < e && *first == SIZE_MAX; i++)
        if (strstr(text[i], "weft"))
            *first = i;
}

static void keep_left(void *left, const void *right, void *ctx)
{
    size_t *l = left;
    (void)ctx;
    if (*l == SIZE_MAX)
        *l = *(const size_t *)right;
}

int main(void)
{
    uint64_t x = 0x853c49e6748fea9bull;
    for (size_t i = 0; i < LINES; i++) {
        for (int j = 0; j < LINE_LEN; j++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            unsigned r = (unsigned)(x >> 59); /* 0..31: a few spaces */
            text[i][j] = r < 26 ? (char)('a' + r) : ' ';
        }
    }
    memcpy(text[LINES / 3] + 10, "weft", 4);
    memcpy(text[LINES / 2] + 20, "weft", 4);

    weft_pool *pool = weft_pool_create(0);
    if (!pool)
        return 1;
    const struct letters none = { { 0 } };
    struct letters total;
    /* grain 1000: chunks of 1000 lines, like chunksize=1000 */
    int rc = weft_parallel_reduce(pool, 0, LINES, 1000, &total, &none, sizeof total, count_letters,
                                  add_letters, NULL);
    const size_t not_found = SIZE_MAX;
    size_t first;
    int rc2 = weft_parallel_reduce(pool, 0, LINES, 0, &first, &not_found, sizeof first, first_weft,
                                   keep_left, NULL);
    weft_pool_destroy(pool);
    if (rc || rc2) {
        fprintf(stderr, "weft_parallel_reduce: %s\n", strerror(rc ? rc : rc2));
        return 1;
    }

    struct letters seq = none;
    count_letters(0, LINES, &seq, NULL);
    size_t seq_first = SIZE_MAX;
    first_weft(0, LINES, &seq_first, NULL);
    int ok = memcmp(&seq, &total, sizeof seq) == 0 && first == seq_first;
    printf("letters in %d lines: a=%llu e=%llu z=%llu; first \"weft\" on line %zu: %s\n", LINES,
           (unsigned long long)total.count[0], (unsigned long long)total.count[4],
           (unsigned long long)total.count[25], first,
           ok ? "matches the sequential loop" : "WRONG");
    return ok ? 0 : 1;
}
