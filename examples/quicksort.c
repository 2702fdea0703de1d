/* quicksort.c - parallel quicksort with nested fork-join groups.
 *
 * Partition, spawn the left part, sort the right part here, wait.  Small
 * parts are sorted sequentially.  Checks the result against qsort. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft/pool.h>

#define CUTOFF 2048

struct part {
    weft_pool *pool;
    int *a;
    size_t n;
};

static int cmp_int(const void *x, const void *y)
{
    int a = *(const int *)x, b = *(const int *)y;
    return (a > b) - (a < b);
}

static void swap(int *a, int *b)
{
    int t = *a;
    *a = *b;
    *b = t;
}

/* Hoare partition around the median of three; returns the split point. */
static size_t partition(int *a, size_t n)
{
    size_t mid = n / 2;
    if (a[mid] < a[0])
        swap(&a[mid], &a[0]);
    if (a[n - 1] < a[0])
        swap(&a[n - 1], &a[0]);
    if (a[n - 1] < a[mid])
        swap(&a[n - 1], &a[mid]);
    int pivot = a[mid];
    size_t i = 0, j = n - 1;
    for (;;) {
        while (a[i] < pivot)
            i++;
        while (a[j] > pivot)
            j--;
        if (i >= j)
            return j + 1;
        swap(&a[i++], &a[j--]);
    }
}

static void sort(void *arg)
{
    struct part *p = arg;
    if (p->n <= CUTOFF) {
        qsort(p->a, p->n, sizeof *p->a, cmp_int);
        return;
    }
    size_t k = partition(p->a, p->n);
    struct part left = { p->pool, p->a, k }, right = { p->pool, p->a + k, p->n - k };
    weft_group g;
    weft_task t;
    weft_group_init(&g, p->pool);
    weft_spawn(&g, &t, sort, &left);
    sort(&right);
    weft_group_wait(&g);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)atol(argv[1]) : 2000000;
    int *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    if (!a || !b)
        return 1;
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        a[i] = b[i] = (int)(x % 1000000);
    }
    weft_pool *pool = weft_pool_create(0);
    if (!pool)
        return 1;
    struct part all = { pool, a, n };
    weft_group g;
    weft_task t;
    weft_group_init(&g, pool);
    weft_spawn(&g, &t, sort, &all);
    weft_group_wait(&g);
    weft_pool_destroy(pool);

    qsort(b, n, sizeof *b, cmp_int);
    int ok = memcmp(a, b, n * sizeof *a) == 0;
    printf("quicksort of %zu ints: %s\n", n, ok ? "sorted" : "WRONG");
    free(a);
    free(b);
    return ok ? 0 : 1;
}
