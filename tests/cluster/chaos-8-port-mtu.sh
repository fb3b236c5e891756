#!/usr/bin/env bash
# Chaos test 8 (issue 7): the VXLAN port is configurable per cluster and the MTU is derived
# from the underlay. The 3-host scenario with --vxlan-port 4790 on every daemon and an
# underlay MTU of 9000: the VXLAN devices use port 4790, container interfaces get MTU 8950
# (underlay - 50), all pairs ping, and a 8922-byte ICMP payload (8950-byte packet, don't
# fragment) crosses hosts; VXLAN traffic is seen on UDP 4790 and none on 4789.
# Usage: chaos-8-port-mtu.sh TRELLISD TRELLIS
set -uo pipefail
. "$(dirname "$(readlink -f "$0")")/common.sh" "$0" "$@"
PORT=4790
MTU=9000

cluster_up 3 --mtu "$MTU" --vxlan-port "$PORT" || fail "cluster did not form"
# Count VXLAN packets per port on host 1's underlay (a table of our own in host 1's namespace).
host_exec 1 nft -f - <<EOF2 || fail "counter table"
table inet trlc_count {
  counter vx_custom {}
  counter vx_default {}
  chain in { type filter hook input priority -310; policy accept;
    udp dport $PORT counter name vx_custom; udp dport 4789 counter name vx_default; }
}
EOF2
check "create jumbo" t 1 network create -d overlay jumbo
for i in 2 3; do check "jumbo reaches host $i" wait_for 10 eval "t $i network inspect jumbo >/dev/null 2>&1"; done
for i in 1 2 3; do
  check "run j${i}a" run_container "$i" "j${i}a" jumbo
  check "run j${i}b" run_container "$i" "j${i}b" jumbo
done
vni=$(network_vni 1 jumbo)
for i in 1 2 3; do
  dev=$(nsenter --net="$(overlay_ns "$i" "$vni")" ip -d -o link show type vxlan)
  echo "$dev" | grep -q "dstport $PORT" || fail "host $i: VXLAN device not on port $PORT: $dev"
done
for c in j1a j2b j3a; do
  mtu=$(t "$(container_host "$c")" exec "$c" -- cat /sys/class/net/eth0/mtu)
  [ "$mtu" = $((MTU - 50)) ] || fail "$c: eth0 MTU $mtu, expected $((MTU - 50))"
done
note "VXLAN on UDP $PORT, container MTU $((MTU - 50))"
check "all pairs ping" ping_matrix jumbo 20
size=$((MTU - 50 - 28))
check "a $size-byte payload crosses hosts unfragmented" \
  t 1 exec j1a -- ping -n -q -c 2 -W 2 -M "do" -s "$size" "$(container_ip j3b jumbo)"
counts=$(host_exec 1 nft list counters table inet trlc_count)
custom=$(echo "$counts" | awk '/vx_custom/ { getline; print $2 }')
default=$(echo "$counts" | awk '/vx_default/ { getline; print $2 }')
[ "${custom:-0}" -gt 0 ] || fail "no VXLAN packets on UDP $PORT: $counts"
[ "${default:-0}" = 0 ] || fail "$default packets on UDP 4789"
pass "port $PORT ($custom packets seen, 0 on 4789), MTU $((MTU - 50)), jumbo ping across hosts"
