#!/bin/sh
# The main job (`make demo`, after the optimized build): the 3-host overlay demo. Three
# Trellis hosts (network namespaces on an underlay bridge, one trellisd each, joined in a
# cluster) inside a private network + mount + PID namespace made for the run; an overlay
# network created on host 1, two containers per host, the all-pairs ping matrix,
# `trellis node ls`, clean up. The machine's own network is never touched.
# Usage: scripts/demo.sh [BUILD_DIR]   (default build/release; as root)
# The single-host demo of the bridge driver stays available: scripts/demo-single-host.sh.
set -eu
build=${1:-build/release}
case "$build" in /*) ;; *) build="$(pwd)/$build" ;; esac
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../tools/trellis-cluster/trellis-cluster" \
  --trellisd "$build/node/daemon/trellisd" --trellis "$build/tools/trellis/trellis" demo
