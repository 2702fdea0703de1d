#!/bin/sh
# Every public header compiles on its own: as C11 with -Wpedantic
# -pedantic-errors -Werror, and as C++17 (liburcu's test_build idea).  Public
# headers must also hold no _Atomic.  Output is TAP.
: "${CC:=cc}" "${CXX:=c++}" "${top_srcdir:=.}"
inc="$top_srcdir/include"
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
headers=$(cd "$inc" && ls weft.h weft/*.h)
n=0
for h in $headers; do n=$((n + 3)); done
echo "1..$n"
i=0
for h in $headers; do
  printf '#include <%s>\n#include <%s>\nint weft_header_test_dummy;\n' "$h" "$h" > "$tmp/t.c"
  i=$((i + 1))
  if $CC -std=c11 -Wall -Wextra -Wpedantic -pedantic-errors -Werror \
       -I"$inc" -c "$tmp/t.c" -o "$tmp/t.o" 2> "$tmp/err"; then
    echo "ok $i - $h compiles alone as C11"
  else
    sed 's/^/# /' "$tmp/err"; echo "not ok $i - $h compiles alone as C11"
  fi
  cp "$tmp/t.c" "$tmp/t.cc"
  i=$((i + 1))
  if $CXX -std=c++17 -Wall -Wextra -Wpedantic -Werror \
       -I"$inc" -c "$tmp/t.cc" -o "$tmp/t.o" 2> "$tmp/err"; then
    echo "ok $i - $h compiles alone as C++17"
  else
    sed 's/^/# /' "$tmp/err"; echo "not ok $i - $h compiles alone as C++17"
  fi
  i=$((i + 1))
  if grep -n '_Atomic' "$inc/$h" > "$tmp/err"; then
    sed 's/^/# /' "$tmp/err"; echo "not ok $i - $h holds no _Atomic"
  else
    echo "ok $i - $h holds no _Atomic"
  fi
done
