#!/bin/sh
# The event-loop examples serve their own clients and check every answer:
# run them small (8 clients x 100 requests), so that the doorbell's whole
# path (pool worker -> ring -> doorbell -> epoll / libuv loop) runs in every
# build, ThreadSanitizer's included.  Output is TAP.
: "${top_builddir:=.}"
echo "1..2"
n=0
for e in epoll_offload uv_offload; do
  n=$((n + 1))
  prog="$top_builddir/examples/$e"
  if ! test -x "$prog"; then
    echo "ok $n # SKIP $e not built (libuv missing)"
    continue
  fi
  if out=$("$prog" 8 100 2>&1); then
    echo "ok $n - $e: every client got every answer"
  else
    printf '%s\n' "$out" | sed 's/^/# /'
    echo "not ok $n - $e: every client got every answer"
  fi
done
