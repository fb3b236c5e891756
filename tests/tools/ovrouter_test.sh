#!/bin/bash
# trellis-ovrouter on a real 2-host cluster (tools/trellis-cluster, private namespaces):
#  - host 2's own namespace attached as a router endpoint reaches a container on host 1 over
#    the overlay, and the container reaches the router's address;
#  - the router endpoint is an ordinary endpoint of the network, visible on every node;
#  - forwarding is on while attached, restored after;
#  - SIGTERM detaches: interface and endpoint gone, the container unreachable again;
#  - --netns attaches a separate gateway namespace the same way, and a second router with
#    the same interface name in the same namespace is refused without side effects.
# Usage: ovrouter_test.sh TRELLISD TRELLIS TRELLIS-OVROUTER
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../tools/trellis-cluster/lib.sh
. "$here/../../tools/trellis-cluster/lib.sh"
trlc_enter "$0" "$@"
[ $# -eq 3 ] || trlc_die "usage: $0 TRELLISD TRELLIS TRELLIS-OVROUTER"
trlc_bins "$1" "$2"
OVROUTER=$(readlink -f "$3")

fail() { trlc_die "ovrouter_test: $*"; }
check() {
  local what=$1
  shift
  "$@" || fail "$what"
  trlc_log "ok: $what"
}

cluster_up 2 || fail "cluster did not come up"
t 1 network create -d overlay ovr >/dev/null || fail "overlay network create"
run_container 1 c1 ovr || fail "run c1"
c1=$(container_ip c1 ovr)
[ -n "$c1" ] || fail "no address for c1"
vni=$(network_vni 2 ovr)
[ -n "$vni" ] || fail "host 2 does not know network ovr"

# ---- the host's own namespace as a router -----------------------------------------------------
out="$TRLC_DIR/ovrouter.out"
nsenter --net="$TRLC_DIR/h2/netns" "$OVROUTER" -H "unix://$(host_sock 2)" --network ovr --name rtr2 >"$out" 2>&1 &
router=$!  # nsenter execs the router: this is its pid
wait_for 15 grep -q '^attached' "$out" || { cat "$out" >&2; fail "router did not attach"; }
raddr=$(sed -n 's/.*: \([0-9.]*\)\/[0-9]*, MAC.*/\1/p' "$out")
[ -n "$raddr" ] || { cat "$out" >&2; fail "no router address in its output"; }
trlc_log "router rtr2 at $raddr (VNI $vni), container c1 at $c1"

check "host 2 pings container c1 on host 1 through the router interface" \
  wait_for 10 host_exec 2 ping -n -q -c 1 -W 1 "$c1"
check "container c1 pings the router address" wait_for 10 can_ping c1 "$raddr"
check "the router endpoint is known on host 1" \
  wait_for 10 sh -c "'$TRELLIS' -H 'unix://$(host_sock 1)' endpoint ls --network ovr | grep -q rtr2"
check "forwarding is on in host 2" test "$(host_exec 2 cat /proc/sys/net/ipv4/ip_forward)" = 1
check "a second router with the same interface name is refused" \
  sh -c "! nsenter --net='$TRLC_DIR/h2/netns' '$OVROUTER' -H 'unix://$(host_sock 2)' --network ovr --name rtr2b >/dev/null 2>&1"
check "the refused router left no endpoint" \
  sh -c "! '$TRELLIS' -H 'unix://$(host_sock 2)' endpoint inspect --network ovr rtr2b >/dev/null 2>&1"

kill -TERM "$router"
wait "$router" || { cat "$out" >&2; fail "router exited with an error"; }
check "the router said it detached" grep -q '^detached' "$out"
check "the router interface is gone" sh -c "! nsenter --net='$TRLC_DIR/h2/netns' ip link show ovr$vni >/dev/null 2>&1"
check "the router endpoint is gone" \
  sh -c "! '$TRELLIS' -H 'unix://$(host_sock 2)' endpoint inspect --network ovr rtr2 >/dev/null 2>&1"
check "forwarding is restored in host 2" test "$(host_exec 2 cat /proc/sys/net/ipv4/ip_forward)" = 0
check "host 2 no longer reaches c1" sh -c "! nsenter --net='$TRLC_DIR/h2/netns' ping -n -q -c 1 -W 1 '$c1' >/dev/null 2>&1"

# ---- a gateway namespace (--netns) ------------------------------------------------------------
gw="$TRLC_DIR/gw.netns"
: >"$gw"
unshare --net="$gw" true || fail "cannot create the gateway namespace"
out2="$TRLC_DIR/ovrouter2.out"
nsenter --net="$TRLC_DIR/h2/netns" "$OVROUTER" -H "unix://$(host_sock 2)" --network ovr --name gw2 --netns "$gw" \
  --ifname ovl0 >"$out2" 2>&1 &
router2=$!
wait_for 15 grep -q '^attached' "$out2" || { cat "$out2" >&2; fail "gateway router did not attach"; }
check "the gateway namespace pings c1" wait_for 10 nsenter --net="$gw" ping -n -q -c 1 -W 1 "$c1"
check "host 2's own namespace got no interface" sh -c "! nsenter --net='$TRLC_DIR/h2/netns' ip link show ovl0 >/dev/null 2>&1"
kill -INT "$router2"
wait "$router2" || { cat "$out2" >&2; fail "gateway router exited with an error"; }
check "the gateway interface is gone" sh -c "! nsenter --net='$gw' ip link show ovl0 >/dev/null 2>&1"
umount "$gw" 2>/dev/null || true

trlc_log "PASS"
