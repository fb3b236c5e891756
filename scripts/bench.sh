#!/bin/sh
# Runs every benchmark program of an optimized build and prints a summary per program.
# Usage: scripts/bench.sh [BUILD_DIR] [REPETITIONS]
# Benchmarks that touch the kernel run inside a private network + mount namespace.
set -eu
build=${1:-build/release}
reps=${2:-5}
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
found=0
for bin in $(find "$build/bench" -type f -name '*_bench' -perm -u+x | sort); do
  found=1
  name=$(basename "$bin")
  echo "== $name"
  wrapper=""
  case "$name" in
    osl_*|vxlan_*|overlay_*|node_*) wrapper="$here/../tests/harness/in-private-netns.sh" ;;
  esac
  $wrapper "$bin" --benchmark_repetitions="$reps" --benchmark_format=json \
    --benchmark_out="$out/$name.json" --benchmark_out_format=json >/dev/null
  python3 "$here/bench_summary.py" "$out/$name.json"
done
[ "$found" = 1 ] || { echo "no benchmarks found under $build/bench" >&2; exit 1; }
