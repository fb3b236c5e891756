#!/usr/bin/env bash
# Chaos test 2 (issue 7): removing a container removes its FDB and neighbor entries on the
# other hosts within a bound (5 s), and the host's overlay namespace goes with its last
# endpoint on the network; the remaining containers still ping each other.
# Usage: chaos-2-remove.sh TRELLISD TRELLIS
set -uo pipefail
. "$(dirname "$(readlink -f "$0")")/common.sh" "$0" "$@"
BOUND=5

cluster_up 3 || fail "cluster did not form"
check "create net" t 1 network create -d overlay net
check "net reaches host 3" wait_for 10 eval "t 3 network inspect net >/dev/null 2>&1"
check "run x1" run_container 1 x1 net
check "run y1" run_container 1 y1 net
check "run x2" run_container 2 x2 net
check "run x3" run_container 3 x3 net
check "all pairs ping" ping_matrix net 20
vni=$(network_vni 1 net)
[ -n "$vni" ] || fail "no VNI for net"

# y1 (host 1) goes: its MAC leaves the FDB and its address the neighbor table of hosts 2, 3.
mac=$(container_mac y1 net)
ip=$(container_ip y1 net)
for i in 2 3; do check "y1's FDB entry on host $i" fdb_wait "$i" "$vni" "$mac" present 5; done
t0=$(trlc_ms)
check "rm y1" rm_container y1
for i in 2 3; do
  fdb_wait "$i" "$vni" "$mac" absent "$BOUND" ||
    fail "y1's FDB entry still on host $i after ${BOUND}s: $(fdb_show "$i" "$vni" | grep -i "$mac")"
  wait_for "$BOUND" eval "! nsenter --net=$(overlay_ns "$i" "$vni") ip neigh show | grep -q '^$ip '" ||
    fail "y1's neighbor entry still on host $i"
done
note "y1's entries withdrawn from hosts 2 and 3 in $(($(trlc_ms) - t0)) ms"
check "x1 still reaches x2 and x3" ping_matrix net 10

# x1 was host 1's last endpoint on net: host 1's overlay namespace goes, and x1's entries too.
mac=$(container_mac x1 net)
t0=$(trlc_ms)
check "rm x1" rm_container x1
for i in 2 3; do
  fdb_wait "$i" "$vni" "$mac" absent "$BOUND" || fail "x1's FDB entry still on host $i after ${BOUND}s"
done
wait_for "$BOUND" eval "[ ! -e $(overlay_ns 1 "$vni") ]" ||
  fail "host 1 kept its overlay namespace after its last endpoint left"
note "x1 withdrawn and host 1's overlay namespace removed in $(($(trlc_ms) - t0)) ms"
check "x2 and x3 still ping" ping_matrix net 10
pass "removals withdrawn from the other hosts within ${BOUND}s"
