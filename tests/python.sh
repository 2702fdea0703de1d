#!/bin/sh
# The Python package's tests (python/tests) under pytest, as TAP: one line
# per pytest test, for configure's Python (WEFT_PYTHON) and again for the
# python3 on PATH when that is another interpreter of the same ABI (the
# machine's own, say), which imports the same extension; that one borrows
# WEFT_PYTHON's pytest when it has none.  Skipped when configure found no
# Python with headers (WEFT_PYTHON unset: sanitizer builds too) or that
# Python has no pytest (Debian: python3-pytest).
set -uf
py=${WEFT_PYTHON:-}
if test -z "$py"; then
  echo "1..0 # SKIP no Python with headers in this build (or a sanitizer build)"
  exit 0
fi
if ! "$py" -c "import pytest" 2> /dev/null; then
  echo "1..0 # SKIP $py has no pytest (Debian: python3-pytest)"
  exit 0
fi
PYTHONDONTWRITEBYTECODE=1
export PYTHONDONTWRITEBYTECODE
pkg="$top_builddir/python"
suffix() { "$1" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))' 2> /dev/null; }
other=""
if command -v python3 > /dev/null 2>&1 && ! test "$(command -v python3)" -ef "$py" &&
  test "$(suffix python3)" = "$(suffix "$py")"; then
  other=$(command -v python3)
fi
pytest_dir=$("$py" -c 'import os, pytest; print(os.path.dirname(os.path.dirname(pytest.__file__)))')

n=0
tap=$(mktemp)
out_file=$(mktemp)
trap 'rm -f "$tap" "$out_file" "$out_file.pid"' EXIT
# run_suite INTERPRETER EXTRA_PYTHONPATH: appends TAP lines to $tap
run_suite() {
  # in a session of its own, killed whole afterwards: a process the tests
  # leave behind must neither hold the output pipe open nor outlive the run
  PYTHONPATH="$pkg${2:+:$2}${PYTHONPATH:+:$PYTHONPATH}" setsid --wait sh -c \
    'echo $$ > "$0.pid"; exec "$@"' "$out_file" "$1" -m pytest -q -rA -p no:cacheprovider \
    "$top_srcdir/python/tests" > "$out_file" 2>&1
  rc=$?
  kill -KILL -- "-$(cat "$out_file.pid")" 2> /dev/null
  out=$(cat "$out_file")
  printf '%s\n' "$out" | sed "s|^|# [$1] |"
  count=0
  for line in $(printf '%s\n' "$out" | grep -E '^(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) ' |
    sed 's/ /@/g'); do
    status=${line%%@*}
    name=$(printf '%s' "${line#*@}" | sed 's/@/ /g')
    n=$((n + 1))
    count=$((count + 1))
    case $status in
      PASSED|XFAIL) echo "ok $n - $name ($1)" ;;
      SKIPPED) echo "ok $n - $name ($1) # SKIP" ;;
      *) echo "not ok $n - $name ($1)" ;;
    esac >> "$tap"
  done
  n=$((n + 1))
  if test $rc -eq 0 && test $count -gt 0; then
    echo "ok $n - pytest exited 0 under $1 ($("$1" --version 2>&1))" >> "$tap"
  else
    echo "not ok $n - pytest exited $rc under $1, $count results" >> "$tap"
  fi
}
run_suite "$py" ""
if test -n "$other"; then
  if "$other" -c "import pytest" 2> /dev/null; then run_suite "$other" ""
  else run_suite "$other" "$pytest_dir"; fi
fi
echo "1..$n"
cat "$tap"
