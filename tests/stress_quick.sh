#!/bin/sh
# make check's run of the stress suite: weft-stress --quick (every scenario,
# briefly; under a minute on 2 cores, also under TSan; with --chaos when the
# library has chaos points), turned into TAP:
# one test per scenario line, failure details as comments.  A watchdog
# timeout (status 3), a sanitizer report or a crash fails the last test.
: "${top_builddir:=.}"
prog="$top_builddir/stress/weft-stress"
if ! test -x "$prog"; then
  echo "1..0 # SKIP $prog not built"
  exit 0
fi
out=$(mktemp) || exit 99
trap 'rm -f "$out"' EXIT
# Extra options: WEFT_STRESS_FLAGS when set; otherwise --chaos when the
# library was configured with --enable-chaos (that is what it is for).
if test "${WEFT_STRESS_FLAGS+set}" = set; then
  flags=$WEFT_STRESS_FLAGS
elif "$prog" --features 2>/dev/null | grep -q '^chaos yes'; then
  flags=--chaos
else
  flags=
fi
echo "# $prog --quick $flags"
t0=$(date +%s)
"$prog" --quick $flags > "$out" 2>&1
status=$?
t1=$(date +%s)
n=0
while IFS= read -r line; do
  case $line in
    *" PASS") n=$((n + 1)); echo "ok $n - $line" ;;
    *" FAIL") n=$((n + 1)); echo "not ok $n - $line" ;;
    *" SKIP ("*) n=$((n + 1)); echo "ok $n - ${line%% *} # SKIP ${line#*SKIP }" ;;
    *) echo "# $line" ;;
  esac
done < "$out"
echo "# weft-stress --quick took $((t1 - t0)) s"
n=$((n + 1))
case $status in
  0) echo "ok $n - weft-stress --quick exited with status 0" ;;
  77) echo "ok $n - weft-stress --quick # SKIP status 77" ;;
  3) echo "not ok $n - weft-stress --quick: WATCHDOG (no progress; hang or lost wake-up), status 3" ;;
  *) echo "not ok $n - weft-stress --quick exited with status $status" ;;
esac
echo "1..$n"
