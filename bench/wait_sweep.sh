#!/bin/sh
# wait_sweep.sh - the measurement behind the wait ladder's tuning
# (WAIT_SPINS, WAIT_YIELDS in src/wait.h), run by `make bench-wait`.
#
# Usage: wait_sweep.sh PROG...   where every PROG is bench_rings built with
# the rings compiled for one candidate; its name ends in _s<spins>_y<yields>.
#
# In each of ROUNDS rounds (default 5) every candidate runs the blocking
# rows of bench_rings once (weft_mpmc blocking at 1P1C 2P2C 4P4C 8P8C 1P4C
# 4P1C, weft_spsc blocking at 1P1C), WAIT_SECONDS per cell (default 0.25),
# twice: unpinned, and with every thread on CPU 0 (taskset), where the
# thread a waiter waits for can run only once the waiter gives up the CPU.
# The candidates take turns within a round, so a slow phase of the machine
# hits all of them.  Each cell is the median over the rounds of M items/s;
# every run checks exactly-once delivery and per-producer order, and a cell
# whose runs did not all end "ok" shows the verdict instead.
set -eu
ROUNDS=${ROUNDS:-5}
SECONDS_PER_CELL=${WAIT_SECONDS:-0.25}
[ $# -gt 0 ] || { echo "usage: $0 PROG..." >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

SETUPS="any-1024 any-16 core0-16"
pin() { # the setup's command prefix
    case $1 in
    core0-*) echo "taskset -c 0" ;;
    esac
}

r=1
while [ "$r" -le "$ROUNDS" ]; do
    for place in $SETUPS; do
        for prog in "$@"; do
            cand=s${prog##*_s}
            # shellcheck disable=SC2046
            $(pin $place) "$prog" --only blocking --capacity "${place#*-}" --runs 1 --seconds "$SECONDS_PER_CELL" \
                --csv "$tmp/$place.$cand.$r.csv" --png '' >/dev/null
        done
    done
    echo "bench-wait: round $r of $ROUNDS done" >&2
    r=$((r + 1))
done

# CSV: peer,scenario,...,median_mitems_s (7th field),...,verdict (last);
# a candidate's name goes in front, so the median is field 8.
for place in $SETUPS; do
    echo
    case $place in
    any-*) where="unpinned ($(getconf _NPROCESSORS_ONLN) CPUs)" ;;
    core0-*) where="every thread on CPU 0" ;;
    esac
    echo "Blocking rows, capacity ${place#*-}, $where; M items/s, median of $ROUNDS rounds:"
    for prog in "$@"; do
        c=s${prog##*_s}
        for f in "$tmp/$place.$c".*.csv; do
            awk -F, -v cand="$c" 'NR > 1 { print cand "," $0 }' "$f"
        done
    done | awk -F, '
        {
            cand = $1; row = $2 " " $3
            key = cand SUBSEP row
            if (!(cand in seenc)) { seenc[cand] = 1; cands[++nc] = cand }
            if (!(row in seenr)) { seenr[row] = 1; rows[++nr] = row }
            if ($NF != "ok") bad[key] = $NF
            else v[key, ++n[key]] = $8
        }
        function median(key,   i, j, t, m, a) {
            m = n[key]
            for (i = 1; i <= m; i++) a[i] = v[key, i]
            for (i = 2; i <= m; i++)
                for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
            return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
        }
        END {
            printf "| %-26s", "row"
            for (c = 1; c <= nc; c++) printf " | %9s", cands[c]
            print " |"
            printf "|---"
            for (c = 1; c <= nc; c++) printf "|---:"
            print "|"
            for (r = 1; r <= nr; r++) {
                printf "| %-26s", rows[r]
                for (c = 1; c <= nc; c++) {
                    key = cands[c] SUBSEP rows[r]
                    if (key in bad) printf " | %9s", bad[key]
                    else if (n[key]) printf " | %9.1f", median(key)
                    else printf " | %9s", "-"
                }
                print " |"
            }
        }'
done
echo
echo "Candidates: s<WAIT_SPINS>_y<WAIT_YIELDS>; the shipped tuning is the one src/wait.h defines."
