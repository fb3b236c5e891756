#!/usr/bin/env bash
# Chaos test 3 (issues 7 and 18): a daemon that is down never cuts its host's traffic.
# Continuous pings (10/s) from containers on hosts 1 and 2 to host 3's containers while
#   (a) host 3's trellisd is killed (-9) for 30 s, declared dead, and restarted, and
#   (b) host 3's trellisd is stopped gracefully (left) and started again on the same data, as
#       an upgrade would;
# no ping may be lost, host 3's containers stay programmed on hosts 1 and 2 throughout, and no
# address changes.
# Usage: chaos-3-kill.sh TRELLISD TRELLIS
set -uo pipefail
. "$(dirname "$(readlink -f "$0")")/common.sh" "$0" "$@"

DOWN_SECONDS=${DOWN_SECONDS:-30}

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

# pings_start NAME FROM TO_IP SECONDS: 10 pings a second from container FROM to TO_IP for
# SECONDS, in the background; the summary goes to $TRLC_DIR/ping.NAME.
pings_start() {
  local name=$1 from=$2 ip=$3 seconds=$4 host
  host=$(container_host "$from")
  t "$host" exec "$from" -- ping -n -q -i 0.1 -W 1 -c $((seconds * 10)) "$ip" \
    >"$TRLC_DIR/ping.$name" 2>&1 &
  echo $! >"$TRLC_DIR/ping.$name.pid"
}
# pings_check NAME: waits for the pings to end and fails unless every one was answered.
pings_check() {
  local name=$1 sent got
  wait "$(cat "$TRLC_DIR/ping.$name.pid")"
  sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$TRLC_DIR/ping.$name")
  got=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$TRLC_DIR/ping.$name")
  [ -n "$sent" ] && [ "$sent" -gt 0 ] || fail "$name: no ping summary: $(cat "$TRLC_DIR/ping.$name")"
  note "$name: $got of $sent pings answered"
  [ "$got" = "$sent" ] || fail "$name lost $((sent - got)) of $sent pings"
}
# pings_cover NAME...: the pings are still running, so they span everything done so far.
pings_cover() {
  local name
  for name in "$@"; do
    kill -0 "$(cat "$TRLC_DIR/ping.$name.pid")" 2>/dev/null ||
      fail "$name: the pings ended before the daemon was back: lengthen their window"
  done
}
# still_programmed: host 3's container is in the FDB of hosts 1 and 2 right now.
still_programmed() {
  local i
  for i in 1 2; do fdb_has "$i" "$vni" "$mac3" || fail "host $i withdrew c3a: traffic to host 3 is cut"; done
}

# ---- (a) kill -9 host 3 for DOWN_SECONDS, then restart it
span=$((DOWN_SECONDS + 15))
pings_start kill-1 c1a "${before[c3a]}" "$span"
pings_start kill-2 c2b "${before[c3b]}" "$span"
sleep 1  # the first pings are under way before the kill
t0=$(trlc_ms)
node_kill 3
check "hosts 1 and 2 declare host 3 dead" wait_members 20
note "host 3 declared dead in $(($(trlc_ms) - t0)) ms"
still_programmed
while [ $(($(trlc_ms) - t0)) -lt $((DOWN_SECONDS * 1000)) ]; do sleep 0.5; done
still_programmed
check "restart host 3" node_start 3
check "membership converges" wait_members 20
note "host 3 back and alive everywhere $(($(trlc_ms) - t0)) ms after the kill"
still_programmed
pings_cover kill-1 kill-2
pings_check kill-1
pings_check kill-2

# ---- (b) graceful stop (left) and start on the same data: an upgrade
pings_start upgrade-1 c1b "${before[c3a]}" 15
pings_start upgrade-2 c2a "${before[c3b]}" 15
sleep 1
t0=$(trlc_ms)
node_stop 3
check "hosts 1 and 2 see host 3 gone" wait_members 20
still_programmed
check "start host 3 again" node_start 3
check "membership converges after the upgrade" wait_members 20
note "host 3 stopped and started again in $(($(trlc_ms) - t0)) ms"
still_programmed
pings_cover upgrade-1 upgrade-2
pings_check upgrade-1
pings_check upgrade-2

check "all pairs ping after the restarts" ping_matrix net 20
for c in c1a c1b c2a c2b c3a c3b; do
  now=$(container_ip "$c" net)
  [ "$now" = "${before[$c]}" ] || fail "$c changed address: ${before[$c]} -> $now"
done
pass "no ping lost while host 3's daemon was killed for ${DOWN_SECONDS}s and while it was upgraded"
