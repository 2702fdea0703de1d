#!/bin/sh
# Print the one-line summary "N passed, N failed[, N skipped]" from automake's
# test-suite.log (its header carries the harness's counts).  Exit status is
# that of the run: 1 when anything failed or the log is missing.
log=${1:-test-suite.log}
if ! test -f "$log"; then
  echo "0 passed, 1 failed, 0 skipped (no $log: the harness did not run)"
  exit 1
fi
count() { sed -n "s/^# $1: *\([0-9][0-9]*\).*/\1/p" "$log" | head -n 1; }
pass=$(count PASS); xfail=$(count XFAIL); fail=$(count FAIL)
xpass=$(count XPASS); error=$(count ERROR); skip=$(count SKIP)
passed=$(( ${pass:-0} + ${xfail:-0} ))
failed=$(( ${fail:-0} + ${xpass:-0} + ${error:-0} ))
echo "$passed passed, $failed failed, ${skip:-0} skipped"
test "$failed" -eq 0
