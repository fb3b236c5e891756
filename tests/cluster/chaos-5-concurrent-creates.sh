#!/usr/bin/env bash
# Chaos test 5 (issue 7): concurrent overlay network creates on all 3 nodes (20 each, auto
# subnets and VNIs, all at once): every create succeeds, the nodes converge, and no two
# networks share a subnet or a VNI.
# Usage: chaos-5-concurrent-creates.sh TRELLISD TRELLIS
set -uo pipefail
. "$(dirname "$(readlink -f "$0")")/common.sh" "$0" "$@"
PER_NODE=20

cluster_up 3 || fail "cluster did not form"
t0=$(trlc_ms)
pids=()
for i in 1 2 3; do
  (
    for k in $(seq 1 "$PER_NODE"); do
      t "$i" network create -d overlay "n$i-$k" >/dev/null || { echo "create n$i-$k on host $i failed" >&2; exit 1; }
    done
  ) &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent create failed"; done
note "$((3 * PER_NODE)) networks created concurrently in $(($(trlc_ms) - t0)) ms"
check "state converges" wait_converged 30

total=$((3 * PER_NODE))
for i in 1 2 3; do
  nets=$(t "$i" network ls --all --format json)
  count=$(echo "$nets" | trlc_json 'len([n for n in j if n.get("driver") == "overlay"])')
  [ "$count" = "$total" ] || fail "host $i sees $count overlay networks, not $total"
  echo "$nets" | trlc_json '[n["vni"] for n in j if n.get("driver") == "overlay"]' | assert_unique "VNIs (host $i)"
  echo "$nets" | trlc_json '[s["subnet"] for n in j if n.get("driver") == "overlay" for s in n.get("subnets", [])]' |
    assert_unique "subnets (host $i)"
done
# The same network has the same subnet and VNI everywhere.
view() { t "$1" network ls --all --format json | trlc_json 'sorted(n["name"] + " " + str(n["vni"]) + " " + ",".join(s["subnet"] for s in n.get("subnets", [])) for n in j if n.get("driver") == "overlay")'; }
v1=$(view 1)
for i in 2 3; do [ "$(view "$i")" = "$v1" ] || fail "host $i disagrees on subnets/VNIs"; done
echo "$v1" | head -n 3
pass "$total concurrent creates: distinct subnets and VNIs, identical on every node"
