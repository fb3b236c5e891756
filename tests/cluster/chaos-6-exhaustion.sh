#!/usr/bin/env bash
# Chaos test 6 (issue 7): address exhaustion. A /28 overlay network across 3 nodes hands out
# every usable address (16 - network - broadcast - gateway = 13) exactly once, whichever node
# asks (donations between nodes), and then every node fails clearly.
# Usage: chaos-6-exhaustion.sh TRELLISD TRELLIS
set -uo pipefail
. "$(dirname "$(readlink -f "$0")")/common.sh" "$0" "$@"
USABLE=13

cluster_up 3 || fail "cluster did not form"
check "create small" t 1 network create -d overlay --subnet 10.77.0.0/28 small
for i in 2 3; do check "small reaches host $i" wait_for 10 eval "t $i network inspect small >/dev/null 2>&1"; done

# Round robin over the hosts until each has failed twice in a row (so that a node waiting for
# a donation that cannot come is not mistaken for the end).
got=0 k=0
declare -A failed
errors="$TRLC_DIR/errors"
: >"$errors"
while :; do
  i=$((k % 3 + 1))
  k=$((k + 1))
  if t "$i" endpoint create --network small "e$k" >/dev/null 2>>"$errors"; then
    got=$((got + 1))
    failed[$i]=0
  else
    failed[$i]=$((${failed[$i]:-0} + 1))
  fi
  [ "${failed[1]:-0}" -ge 2 ] && [ "${failed[2]:-0}" -ge 2 ] && [ "${failed[3]:-0}" -ge 2 ] && break
  [ "$k" -lt 60 ] || fail "still allocating after 60 requests ($got granted)"
done
note "$got endpoints granted, then every node refused; the refusals said:"
sed "s/'e[0-9]*'/'eN'/" "$errors" | sort | uniq -c | sed 's/^/    /'
[ "$got" = "$USABLE" ] || fail "$got addresses handed out, expected $USABLE"
grep -qiE 'exhausted|no address|no free' "$errors" || fail "the refusal does not say the space is exhausted"
addrs=$(all_addresses small)
echo "$addrs" | assert_unique "addresses"
[ "$(echo "$addrs" | wc -l)" = "$USABLE" ] || fail "the nodes own $(echo "$addrs" | wc -l) endpoints, expected $USABLE"
echo "$addrs" | python3 -c '
import ipaddress, sys
net = ipaddress.ip_network("10.77.0.0/28")
for a in sys.stdin.read().split():
    ip = ipaddress.ip_address(a)
    assert ip in net and ip not in (net.network_address, net.broadcast_address), a
' || fail "an address outside the usable range"
pass "a /28 across 3 nodes: $USABLE addresses exactly once, then a clear refusal"
