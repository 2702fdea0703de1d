#!/bin/sh
# The Python package's tests (python/tests) under pytest, as TAP: one line
# per pytest test.  Skipped when configure found no Python with headers
# (WEFT_PYTHON unset: sanitizer builds too) or that Python has no pytest
# (Debian: python3-pytest).  Also imports the package once with the
# python3 on PATH when it is another interpreter of the same ABI.
set -u
py=${WEFT_PYTHON:-}
if test -z "$py"; then
  echo "1..0 # SKIP no Python with headers in this build (or a sanitizer build)"
  exit 0
fi
if ! "$py" -c "import pytest" 2> /dev/null; then
  echo "1..0 # SKIP $py has no pytest (Debian: python3-pytest)"
  exit 0
fi
PYTHONPATH="$top_builddir/python${PYTHONPATH:+:$PYTHONPATH}"
PYTHONDONTWRITEBYTECODE=1
export PYTHONDONTWRITEBYTECODE
export PYTHONPATH
out=$("$py" -m pytest -q -rA -p no:cacheprovider "$top_srcdir/python/tests" 2>&1)
rc=$?
printf '%s\n' "$out" | sed 's/^/# /'
results=$(printf '%s\n' "$out" | grep -E '^(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) ')
n=0
tap=""
other=""
if command -v python3 > /dev/null 2>&1 && ! test "$(command -v python3)" -ef "$py" &&
  test "$(python3 -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))' 2>/dev/null)" = \
    "$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')"; then
  other=$(command -v python3)
fi
count=$(printf '%s\n' "$results" | grep -c . || true)
total=$((count + 1))
test -n "$other" && total=$((total + 1))
echo "1..$total"
printf '%s\n' "$results" | while read -r status name rest; do
  test -z "$status" && continue
  n=$((n + 1))
  case $status in
    PASSED|XFAIL) echo "ok $n - $name" ;;
    SKIPPED) echo "ok $n - $name # SKIP $rest" ;;
    *) echo "not ok $n - $name $rest" ;;
  esac
done
n=$((count + 1))
if test $rc -eq 0 && test "$count" -gt 0; then
  echo "ok $n - pytest exited 0 ($py)"
else
  echo "not ok $n - pytest exited $rc ($py), $count results"
fi
if test -n "$other"; then
  n=$((n + 1))
  if "$other" -c 'import weft; q = weft.Queue(); q.put({"a": 1}); assert q.get(timeout=5) == {"a": 1}'; then
    echo "ok $n - the package works under $other ($("$other" --version 2>&1)) too"
  else
    echo "not ok $n - the package fails under $other"
  fi
fi
