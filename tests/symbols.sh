#!/bin/sh
# libweft.so exports only the public API: every defined dynamic symbol starts
# with weft_ and none is weft_internal_.  Output is TAP.
: "${top_builddir:=.}"
so="$top_builddir/.libs/libweft.so"
echo "1..2"
if ! test -f "$so"; then
  echo "ok 1 # SKIP no shared library built"; echo "ok 2 # SKIP no shared library built"; exit 0
fi
syms=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVW]$/ { print $3 }')
bad=$(printf '%s\n' "$syms" | grep -v '^weft_' | grep -v '^$')
if test -z "$bad"; then echo "ok 1 - every exported symbol starts with weft_"
else printf '# %s\n' $bad; echo "not ok 1 - every exported symbol starts with weft_"; fi
internal=$(printf '%s\n' "$syms" | grep '^weft_internal_')
if test -z "$internal"; then echo "ok 2 - no weft_internal_ symbol is exported"
else printf '# %s\n' $internal; echo "not ok 2 - no weft_internal_ symbol is exported"; fi
