#!/usr/bin/env bash
# Overlay benchmarks (issue 7), on real trellisd processes in the cluster harness (a private
# network + mount + PID namespace; the machine's own network is never touched):
#  1. propagation: endpoint created on host 1 -> its FDB entry present on all 4 other hosts
#     (5 hosts, 200 endpoints created one every 50 ms; arrival seen by `bridge monitor fdb` in
#     each host's overlay namespace); p50/p99/max
#  2. data plane: iperf3 TCP container<->container across hosts over the overlay vs host<->host
#     on the underlay, alternating, same run; median and spread, ratio of medians
#  3. time from `trellis run` on a fresh host (no endpoint on the network yet) to the first
#     successful ping of a container on another host
# Usage: scripts/bench-overlay.sh [BUILD_DIR]   (default build/release; as root)
# Env: BENCH_ENDPOINTS (200), BENCH_IPERF_SECONDS (4), BENCH_IPERF_ROUNDS (3), BENCH_RUNS (10)
set -uo pipefail

if [ "${TRLC_STAGE:-}" != inner ]; then
  build=${1:-build/release}
  case "$build" in /*) ;; *) build="$(pwd)/$build" ;; esac
  export TRELLISD="$build/node/daemon/trellisd" TRELLIS="$build/tools/trellis/trellis"
fi
root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
# shellcheck source=../tools/trellis-cluster/lib.sh
. "$root/tools/trellis-cluster/lib.sh"
trlc_bins
trlc_enter "$0" "$@"
api="$root/tools/trellis-cluster/trlc-api.py"
N_EP=${BENCH_ENDPOINTS:-200}
IPERF_S=${BENCH_IPERF_SECONDS:-4}
IPERF_ROUNDS=${BENCH_IPERF_ROUNDS:-3}
RUNS=${BENCH_RUNS:-10}
export TRLC_LOG_LEVEL=warn

# stats LABEL UNIT: reads numbers, prints n, median, p99, min, max.
stats() {
  python3 -c '
import statistics, sys
label, unit = sys.argv[1], sys.argv[2]
v = sorted(float(x) for x in sys.stdin.read().split())
if not v:
    print(f"{label}: no samples"); sys.exit(1)
p = lambda q: v[min(len(v) - 1, int(round(q * (len(v) - 1))))]
print(f"{label}: n={len(v)} median {statistics.median(v):.1f} {unit}, p99 {p(0.99):.1f}, "
      f"min {v[0]:.1f}, max {v[-1]:.1f} (p10 {p(0.1):.1f}, p90 {p(0.9):.1f})")
' "$1" "$2"
}

echo "== overlay benchmarks: $(nproc) cores, $(uname -r), $TRELLISD"
cluster_up 5 || trlc_die "cluster did not form"
t 1 network create -d overlay --subnet 10.90.0.0/22 bench >/dev/null || trlc_die "network create"
for i in 2 3 4 5; do wait_for 10 eval "t $i network inspect bench >/dev/null 2>&1" || trlc_die "network on host $i"; done
for i in 1 2 3 4 5; do run_container "$i" "s$i" bench || trlc_die "run s$i"; done
vni=$(network_vni 1 bench)
ping_matrix bench 20 >/dev/null || trlc_die "the bench network does not work"

# ---- 1. propagation -----------------------------------------------------------------------
for i in 2 3 4 5; do
  nsenter --net="$(overlay_ns "$i" "$vni")" bridge monitor fdb 2>/dev/null |
    while read -r line; do printf '%s %s\n' "${EPOCHREALTIME/./}" "$line"; done >"$TRLC_DIR/mon$i" &
done
sleep 0.5
python3 "$api" endpoints "$(host_sock 1)" bench p "$N_EP" 50 >"$TRLC_DIR/created.json" ||
  trlc_die "endpoint creates failed: $(head -c 300 "$TRLC_DIR/created.json")"
all_seen() {
  local i
  for i in 2 3 4 5; do [ "$(grep -c ' dst ' "$TRLC_DIR/mon$i")" -ge "$N_EP" ] || return 1; done
}
wait_for 30 all_seen || echo "warning: not every FDB entry arrived within 30 s"
python3 - "$TRLC_DIR" "$N_EP" >"$TRLC_DIR/prop" <<'EOF'
import json, sys
d, n = sys.argv[1], int(sys.argv[2])
created = json.load(open(f"{d}/created.json"))["records"]
seen = {}
for i in (2, 3, 4, 5):
    first = {}
    for line in open(f"{d}/mon{i}"):
        parts = line.split()
        if len(parts) < 3 or " dst " not in line or parts[1] == "Deleted":
            continue
        first.setdefault(parts[1].lower(), int(parts[0]) / 1000.0)
    seen[i] = first
for name, mac, ip, t_sent, t_done in created:
    arrivals = [seen[i].get(mac.lower()) for i in seen]
    if None in arrivals:
        continue
    print(f"{max(arrivals) - t_sent:.2f}")
EOF
echo "-- propagation (endpoint create on host 1 -> FDB entry on all 4 other hosts, $N_EP endpoints, 5 hosts)"
stats "propagation to all hosts" ms <"$TRLC_DIR/prop"
echo "   ($(wc -l <"$TRLC_DIR/prop") of $N_EP endpoints seen on every host; API create call median $(
  python3 -c 'import json,statistics,sys; r=json.load(open(sys.argv[1]))["records"]; print(f"{statistics.median(x[4]-x[3] for x in r):.1f}")' "$TRLC_DIR/created.json") ms)"

# ---- 2. iperf3 ----------------------------------------------------------------------------
echo "-- iperf3 TCP, $IPERF_S s per run, $IPERF_ROUNDS rounds each, alternating"
t 2 run -d --name iperf-srv --network bench -- iperf3 -s >/dev/null || trlc_die "iperf3 server container"
echo "iperf-srv 2 bench" >>"$TRLC_DIR/containers"
host_exec 2 iperf3 -s -D --logfile "$TRLC_DIR/iperf-host.log" || trlc_die "iperf3 server on host 2"
srv_ip=$(container_ip iperf-srv bench)
sleep 0.5
gbps() { trlc_json '"%.3f" % (j["end"]["sum_received"]["bits_per_second"] / 1e9)'; }
: >"$TRLC_DIR/ovl" ; : >"$TRLC_DIR/ul"
for r in $(seq 1 "$IPERF_ROUNDS"); do
  t 1 exec s1 -- iperf3 -c "$srv_ip" -t "$IPERF_S" -J 2>/dev/null | gbps >>"$TRLC_DIR/ovl"
  host_exec 1 iperf3 -c "$(host_addr 2)" -t "$IPERF_S" -J 2>/dev/null | gbps >>"$TRLC_DIR/ul"
done
stats "overlay container->container" Gbit/s <"$TRLC_DIR/ovl"
stats "underlay host->host          " Gbit/s <"$TRLC_DIR/ul"
python3 -c '
import statistics, sys
o = [float(x) for x in open(sys.argv[1]).read().split()]
u = [float(x) for x in open(sys.argv[2]).read().split()]
print(f"ratio overlay/underlay (medians): {statistics.median(o) / statistics.median(u):.2f}")
' "$TRLC_DIR/ovl" "$TRLC_DIR/ul"

# ---- 3. run on a fresh host -> first ping of a remote container -----------------------------
echo "-- trellis run on a fresh host -> first successful ping of a container on host 1 ($RUNS runs)"
target=$(container_ip s1 bench)
# Hosts 2..5 lose their sample containers: each is then "fresh" (no endpoint, no overlay
# namespace) at the start of every run.
for i in 2 3 4 5; do rm_container "s$i" || trlc_die "rm s$i"; done
t 2 rm iperf-srv >/dev/null
: >"$TRLC_DIR/first"
for r in $(seq 1 "$RUNS"); do
  h=$((2 + (r - 1) % 4))
  wait_for 10 eval "[ ! -e $(overlay_ns "$h" "$vni") ]" || trlc_die "host $h is not fresh"
  t0=$(trlc_ms)
  t "$h" run --rm --name "probe$r" --network bench -- \
    sh -c "until ping -n -q -c 1 -W 0.05 $target >/dev/null 2>&1; do :; done" ||
    trlc_die "probe $r failed"
  echo $(($(trlc_ms) - t0)) >>"$TRLC_DIR/first"
done
stats "run -> first remote ping" ms <"$TRLC_DIR/first"
