#!/usr/bin/env bash
# Chaos test 4 (issue 7): partition {1} vs {2,3} for 30 s while containers and networks are
# created on both sides: every side keeps working within the space it owns; after healing,
# all nodes converge to identical state (state digests of `trellis cluster log`), the
# all-pairs ping matrices are full, and no address, subnet or VNI appears twice.
# Usage: chaos-4-partition.sh TRELLISD TRELLIS   (PARTITION_SECONDS overrides the 30 s)
set -uo pipefail
. "$(dirname "$(readlink -f "$0")")/common.sh" "$0" "$@"
SECONDS_APART=${PARTITION_SECONDS:-30}

# sees I J REGEX: host I's view of host J matches REGEX (alive, dead, suspect, left).
sees() { member_states "$1" | grep -qxE "host$2 ($3)"; }

cluster_up 3 || fail "cluster did not form"
check "create p" t 1 network create -d overlay p
check "p reaches host 3" wait_for 10 eval "t 3 network inspect p >/dev/null 2>&1"
for i in 1 2 3; do check "run a$i" run_container "$i" "a$i" p; done
check "all pairs ping before" ping_matrix p 20

# ---- partition
t_part=$(trlc_ms)
partition "1" "2 3"
for j in 2 3; do
  check "host 1 loses host $j" wait_for 20 eval "sees 1 $j 'dead|left'"
  check "host $j loses host 1" wait_for 20 eval "sees $j 1 'dead|left'"
done
note "partition detected in $(($(trlc_ms) - t_part)) ms"

# Both sides keep working: containers on p, and a new network on each side (auto subnets,
# VNIs from each side's own share of the spaces).
check "host 1 runs a container while apart" run_container 1 b1 p
check "host 1 runs another" run_container 1 c1 p
check "host 2 runs a container while apart" run_container 2 b2 p
check "host 3 runs a container while apart" run_container 3 b3 p
check "host 1 creates a network while apart" t 1 network create -d overlay left
check "host 2 creates a network while apart" t 2 network create -d overlay right
check "run l1 on left" run_container 1 l1 left
check "run r2 on right" run_container 2 r2 right
check "right reaches host 3" wait_for 10 eval "t 3 network inspect right >/dev/null 2>&1"
check "run r3 on right" run_container 3 r3 right
# Inside each side the network still works.
check "side {1}: b1 reaches a1" can_ping b1 "$(container_ip a1 p)"
check "side {1}: c1 reaches b1" can_ping c1 "$(container_ip b1 p)"
check "side {2,3}: b2 reaches a3" wait_for 10 can_ping b2 "$(container_ip a3 p)"
check "side {2,3}: b3 reaches b2" wait_for 10 can_ping b3 "$(container_ip b2 p)"
check "side {2,3}: right works" ping_matrix right 10
# ... and not across.
can_ping a1 "$(container_ip a2 p)" && fail "a1 reaches a2 across the partition"
note "both sides worked while apart"
left=$((SECONDS_APART * 1000 - ($(trlc_ms) - t_part)))
[ "$left" -gt 0 ] && sleep "$((left / 1000)).$(printf '%03d' $((left % 1000)))"

# ---- heal
t_heal=$(trlc_ms)
heal
check "membership and state digests converge after healing" wait_converged 30
note "converged (identical state digests) $(($(trlc_ms) - t_heal)) ms after healing"
check "full ping matrix of p after healing" ping_matrix p 20
check "left reaches host 2" wait_for 10 eval "t 2 network inspect left >/dev/null 2>&1"
check "run l2 on left (host 2)" run_container 2 l2 left
check "run r1 on right (host 1)" run_container 1 r1 right
check "left across hosts" ping_matrix left 20
check "right across hosts" ping_matrix right 20

# No address, subnet or VNI twice.
{ all_addresses p; all_addresses left; all_addresses right; } | assert_unique "addresses"
nets=$(t 1 network ls --all --format json)
echo "$nets" | trlc_json '[n["vni"] for n in j if n.get("driver") == "overlay"]' | assert_unique "VNIs"
echo "$nets" | trlc_json '[s["subnet"] for n in j for s in n.get("subnets", [])]' | assert_unique "subnets"
check "digests still equal" digests_equal
pass "apart ${SECONDS_APART}s, both sides worked, converged after healing, no duplicates"
