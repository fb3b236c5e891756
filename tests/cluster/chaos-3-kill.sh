#!/usr/bin/env bash
# Chaos test 3 (issue 7): kill -9 a node: the others withdraw its peers (FDB entries) once it
# is declared dead; restart it (same dirs): its containers are re-programmed everywhere and
# ping again, and no address changed.
# Usage: chaos-3-kill.sh TRELLISD TRELLIS
set -uo pipefail
. "$(dirname "$(readlink -f "$0")")/common.sh" "$0" "$@"

cluster_up 3 || fail "cluster did not form"
check "create net" t 1 network create -d overlay net
check "net reaches host 3" wait_for 10 eval "t 3 network inspect net >/dev/null 2>&1"
for i in 1 2 3; do
  check "run c${i}a" run_container "$i" "c${i}a" net
  check "run c${i}b" run_container "$i" "c${i}b" net
done
check "all pairs ping" ping_matrix net 20
vni=$(network_vni 1 net)
declare -A before
for c in c1a c1b c2a c2b c3a c3b; do before[$c]=$(container_ip "$c" net); done
mac3=$(container_mac c3a net)
for i in 1 2; do check "c3a programmed on host $i" fdb_wait "$i" "$vni" "$mac3" present 5; done

# ---- kill -9 host 3
t0=$(trlc_ms)
node_kill 3
check "hosts 1 and 2 declare host 3 dead" wait_members 20
note "host 3 declared dead in $(($(trlc_ms) - t0)) ms"
for i in 1 2; do
  fdb_wait "$i" "$vni" "$mac3" absent 10 || fail "host $i still programs c3a after host 3 died"
done
note "host 3's containers withdrawn from hosts 1 and 2 $(($(trlc_ms) - t0)) ms after the kill"
# The survivors still reach each other.
check "c1a reaches c2b" can_ping c1a "${before[c2b]}"
check "c2a reaches c1b" can_ping c2a "${before[c1b]}"

# ---- restart host 3
t0=$(trlc_ms)
check "restart host 3" node_start 3
check "membership converges" wait_members 20
for i in 1 2; do
  fdb_wait "$i" "$vni" "$mac3" present 10 || fail "host $i did not re-program c3a after the restart"
done
note "host 3 back and re-programmed everywhere in $(($(trlc_ms) - t0)) ms"
check "all pairs ping after the restart" ping_matrix net 20
for c in c1a c1b c2a c2b c3a c3b; do
  now=$(container_ip "$c" net)
  [ "$now" = "${before[$c]}" ] || fail "$c changed address: ${before[$c]} -> $now"
done
pass "peers withdrawn on death, re-programmed on restart, addresses unchanged"
