#!/usr/bin/env bash
# Chaos test 1 (issue 7): 3 hosts, one overlay network, 2 containers per host: every pair
# pings. Containers on a second overlay network cannot reach the first (and back). No address
# or VNI appears twice.
# Usage: chaos-1-all-pairs.sh TRELLISD TRELLIS   (as root; makes its own private namespaces)
set -uo pipefail
. "$(dirname "$(readlink -f "$0")")/common.sh" "$0" "$@"

cluster_up 3 || fail "cluster did not form"
check "create red" t 1 network create -d overlay red
check "create blue" t 2 network create -d overlay blue
for i in 1 2 3; do
  check "red/blue reach host $i" wait_for 10 eval "t $i network inspect red >/dev/null 2>&1 && t $i network inspect blue >/dev/null 2>&1"
done
for i in 1 2 3; do
  check "run r${i}a" run_container "$i" "r${i}a" red
  check "run r${i}b" run_container "$i" "r${i}b" red
  check "run b${i}" run_container "$i" "b${i}" blue
done
note "9 containers started"
check "red: all pairs ping" ping_matrix red 20
check "blue: all pairs ping" ping_matrix blue 20

# Isolation: from every blue container, no red address answers (and the other way), sent in
# parallel (each failing ping costs its 1 s timeout).
declare -A ip
for c in r1a r2b r3a; do ip[$c]=$(container_ip "$c" red); done
for c in b1 b2 b3; do ip[$c]=$(container_ip "$c" blue); done
pids=()
res="$TRLC_DIR/isolation"
mkdir -p "$res"
for b in b1 b2 b3; do
  for r in r1a r2b r3a; do
    (can_ping "$b" "${ip[$r]}" && touch "$res/$b-$r") &
    pids+=($!)
    (can_ping "$r" "${ip[$b]}" && touch "$res/$r-$b") &
    pids+=($!)
  done
done
wait "${pids[@]}"
leaks=$(ls "$res")
[ -z "$leaks" ] || fail "networks are not isolated: $leaks answered"
note "red and blue are isolated (18 pings across networks failed as they must)"

# Uniqueness across the cluster.
{ all_addresses red; all_addresses blue; } | assert_unique "addresses"
[ "$(network_vni 1 red)" != "$(network_vni 1 blue)" ] || fail "red and blue share a VNI"
for i in 2 3; do
  [ "$(network_vni "$i" red)" = "$(network_vni 1 red)" ] || fail "host $i sees another VNI for red"
done
pass "9 containers, red 30 pairs and blue 6 pairs ping; networks isolated; addresses and VNIs unique"
