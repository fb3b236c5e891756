#!/bin/sh
# Leak check of the kernel tests (ctest `root_ns_clean`, run after every `netns` test):
# asserts that the machine's own network namespace holds no `trl`-prefixed link, that no
# Trellis test namespace file is bound where the machine can see it, and that no process of
# this build tree is still running. It only READS; it changes nothing.
# Usage: check-root-ns.sh BUILD_DIR
set -u
build=$(readlink -f "${1:?usage: check-root-ns.sh BUILD_DIR}")
fail=0

links=$(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep '^trl' || true)
if [ -n "$links" ]; then
  echo "FAIL: trl-prefixed links in the root network namespace: $(echo "$links" | tr '\n' ' ')"
  fail=1
fi

for f in /run/netns/trl*; do
  [ -e "$f" ] || continue
  echo "FAIL: leftover namespace file $f"
  fail=1
done
# The tests' run directory exists only inside the wrapper's private tmpfs on /run.
if [ -e /run/trellis-test ]; then
  echo "FAIL: /run/trellis-test exists outside a private test namespace"
  fail=1
fi

for proc in /proc/[0-9]*; do
  pid=${proc#/proc/}
  [ "$pid" = "$$" ] && continue
  exe=$(readlink "$proc/exe" 2>/dev/null || true)
  case "$exe" in
    "$build"/*)
      echo "FAIL: process $pid of this build still running: $exe"
      fail=1
      ;;
  esac
done

[ "$fail" = 0 ] && echo "root namespace clean (links, namespace files, processes of $build)"
exit "$fail"
