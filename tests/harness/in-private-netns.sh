#!/bin/sh
# Runs a program inside a private network + mount namespace made for this run, so that a
# kernel-touching test can never change the machine's own network, even when it fails.
# Usage: in-private-netns.sh PROGRAM [ARGS...]   (as root; used as the ctest WRAPPER of
# tests labelled `netns` and by scripts/bench.sh for kernel benchmarks)
#
# Inside: /run is a private tmpfs (so /run/netns and $TRELLIS_TEST_RUN_DIR=/run/trellis-test
# are empty and vanish with the namespace), /sys is remounted to show the private network
# namespace, loopback is up, and TRELLIS_PRIVATE_NETNS=1 tells the harness it is safe.
set -eu

if [ $# -lt 1 ]; then
  echo "usage: $0 PROGRAM [ARGS...]" >&2
  exit 2
fi

if [ "${TRELLIS_PRIVATE_NETNS_STAGE:-}" != inner ]; then
  self=$(readlink -f "$0")
  # Remember the caller's namespaces: stage 2 proves it is in different ones before it mounts
  # anything (PID 1's namespaces are not always readable, so they cannot serve as reference).
  TRELLIS_OUTER_NETNS=$(readlink /proc/self/ns/net)
  TRELLIS_OUTER_MNTNS=$(readlink /proc/self/ns/mnt)
  export TRELLIS_PRIVATE_NETNS_STAGE=inner TRELLIS_OUTER_NETNS TRELLIS_OUTER_MNTNS
  exec unshare --net --mount --propagation private -- "$self" "$@"
fi

# Stage 2, inside unshare. Refuse to touch anything unless both namespaces really are new:
# the stage variable alone could have been set by hand in the machine's own namespaces.
here_net=$(readlink /proc/self/ns/net || true)
here_mnt=$(readlink /proc/self/ns/mnt || true)
if [ -z "${TRELLIS_OUTER_NETNS:-}" ] || [ -z "${TRELLIS_OUTER_MNTNS:-}" ] ||
   [ -z "$here_net" ] || [ -z "$here_mnt" ] ||
   [ "$here_net" = "$TRELLIS_OUTER_NETNS" ] || [ "$here_mnt" = "$TRELLIS_OUTER_MNTNS" ]; then
  echo "in-private-netns.sh: not in a private network + mount namespace; refusing" >&2
  exit 3
fi
unset TRELLIS_PRIVATE_NETNS_STAGE

mount -t tmpfs -o mode=0755,size=16m trellis-test-run /run
mkdir -p /run/netns /run/trellis-test
mount -t sysfs -o nosuid,nodev,noexec trellis-test-sys /sys 2>/dev/null || true
ip link set lo up

export TRELLIS_PRIVATE_NETNS=1
export TRELLIS_TEST_RUN_DIR=/run/trellis-test
exec "$@"
