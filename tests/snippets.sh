#!/bin/sh
# Every include/weft/*.h carries one complete example program in its top
# comment, between a line " * @code" and a line " * @endcode" (the lines in
# between are the program, each with its leading " * " or " *" stripped).
# This extracts each one, compiles it as C11 with -Wall -Wextra -Wpedantic
# -Werror against the source tree's headers, links it with libtool against
# the built libweft.la, runs it and checks that it exits 0.  A header with no
# example, or with more than one, fails too.  Examples use only // comments
# (a slash-star would end the header's comment).  Output is TAP: three
# results per header (extract, compile and link, run).
#
# Environment (mk/snippets.am sets it): CC, top_srcdir, top_builddir, and
# WEFT_SNIPPET_CFLAGS / WEFT_SNIPPET_LDFLAGS / WEFT_SNIPPET_LIBS, the build's
# CFLAGS (sanitizer flags included), LDFLAGS and LIBS.
: "${CC:=cc}" "${top_srcdir:=.}" "${top_builddir:=.}"
inc="$top_srcdir/include"
libtool="$top_builddir/libtool"
lib="$top_builddir/libweft.la"
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
headers=$(cd "$inc" && ls weft/*.h)
n=0
for h in $headers; do n=$((n + 3)); done
echo "1..$n"
if ! test -f "$lib" || ! test -f "$libtool"; then
  i=0
  while test $i -lt $n; do i=$((i + 1)); echo "not ok $i - $lib or $libtool is not built"; done
  exit 0
fi
i=0
for h in $headers; do
  name=$(basename "$h" .h)
  src="$tmp/$name.c"
  # awk: print the lines of the first @code block into $src, and say how
  # many blocks there are and how many of them an @endcode line closes.
  blocks=$(awk -v out="$src" '
    /^ \* @endcode$/ { if (inside) closed++; inside = 0; next }
    inside { line = $0; sub(/^ \* ?/, "", line); print line > out; next }
    /^ \* @code$/ { blocks++; inside = 1; if (blocks > 1) out = "/dev/null" }
    END { print blocks + 0, closed + 0 }' "$inc/$h")
  i=$((i + 1))
  if test "$blocks" = "1 1" && test -s "$src"; then
    echo "ok $i - $h has one example (@code ... @endcode)"
  else
    echo "# $h: @code blocks, closed ones: $blocks; it needs exactly one, closed and not empty"
    echo "not ok $i - $h has one example (@code ... @endcode)"
    i=$((i + 1)); echo "not ok $i - $h example compiles and links # no example"
    i=$((i + 1)); echo "not ok $i - $h example runs and exits 0 # no example"
    continue
  fi
  i=$((i + 1))
  # -UNDEBUG: the examples check their results with assert too.
  if $CC -std=c11 $WEFT_SNIPPET_CFLAGS -Wall -Wextra -Wpedantic -Werror -UNDEBUG \
       -I"$inc" -c "$src" -o "$tmp/$name.o" > "$tmp/err" 2>&1 &&
     $SHELL "$libtool" --quiet --tag=CC --mode=link $CC $WEFT_SNIPPET_CFLAGS \
       $WEFT_SNIPPET_LDFLAGS -o "$tmp/$name" "$tmp/$name.o" "$lib" $WEFT_SNIPPET_LIBS \
       >> "$tmp/err" 2>&1; then
    echo "ok $i - $h example compiles and links"
  else
    sed 's/^/# /' "$tmp/err"
    echo "not ok $i - $h example compiles and links"
    i=$((i + 1)); echo "not ok $i - $h example runs and exits 0 # not built"
    continue
  fi
  i=$((i + 1))
  if "$tmp/$name" > "$tmp/out" 2>&1; then
    echo "ok $i - $h example runs and exits 0"
  else
    rc=$?
    sed 's/^/# /' "$tmp/out"
    echo "not ok $i - $h example runs and exits 0 (exit status $rc)"
  fi
done
