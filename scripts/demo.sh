#!/bin/sh
# The main job (`make demo`, after the optimized build): the single-host demo of trellisd,
# run inside a private network + mount namespace made for it (scripts/demo-single-host.sh).
# The 3-host overlay demo replaces it when the overlay driver is wired into the daemon.
set -eu
build=${1:-build/release}
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/demo-single-host.sh" "$build"
