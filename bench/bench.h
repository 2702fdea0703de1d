/*
 * bench.h - what the benchmark programs share (not installed): the median
 * they report, and the label of a Rust peer's row.  The pause and the
 * clock come from src/wait.h.
 */
#ifndef WEFT_BENCH_H
#define WEFT_BENCH_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of v[0..n-1] (n >= 1); sorts v in place, so that v[0] and
 * v[n - 1] are then the minimum and the maximum. */
static inline double bench_median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* "<what> (rustc X.Y.Z-...)" in buf, from the rustc-version file that
 * build-aux/build-rust-peer leaves two levels above the peer's binary. */
static inline const char *bench_rust_label(const char *binary, const char *what, char *buf,
                                           size_t len)
{
    char file[400], version[100] = "rustc of unknown version";
    snprintf(file, sizeof file, "%s", binary);
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(file, '/');
        if (slash)
            *slash = '\0';
    }
    strncat(file, "/rustc-version", sizeof file - strlen(file) - 1);
    FILE *f = fopen(file, "r");
    if (f) {
        if (fgets(version, sizeof version, f))
            version[strcspn(version, "\n")] = '\0';
        fclose(f);
    }
    char *sp = strchr(version, ' '); /* "rustc 1.97.0-nightly (...)": two words */
    if (sp && (sp = strchr(sp + 1, ' ')))
        *sp = '\0';
    snprintf(buf, len, "%s (%s)", what, version);
    return buf;
}

#endif /* WEFT_BENCH_H */
