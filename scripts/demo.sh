#!/bin/sh
# The main job. Until the daemon (trellisd) exists this builds everything (done by
# `make demo` before calling us) and runs the IPAM benchmark with a readable summary.
set -eu
build=${1:-build/release}
here=$(cd "$(dirname "$0")" && pwd)
bin="$build/bench/ipam/ipam_bench"
[ -x "$bin" ] || { echo "demo: $bin not built" >&2; exit 1; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "Trellis demo (foundation stage): the daemon is not built yet, so this runs the IPAM"
echo "benchmark: draining /24, /16 and /8 pools address by address, churn on a half-full /16,"
echo "and the memory a full /16 and a half-full /8 take. 5 repetitions each."
echo "For reference: libnetwork with its store needs about 23 s to drain a /16."
echo
"$bin" --benchmark_repetitions=5 --benchmark_format=json --benchmark_out="$out" \
  --benchmark_out_format=json >/dev/null
python3 "$here/bench_summary.py" "$out"
