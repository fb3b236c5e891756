#!/usr/bin/env bash
# Chaos test 7 (issue 7): scale of one network. 2,000 endpoints spread over 3 hosts (created
# through the API without sandboxes, plus one real container per host) are all programmed:
# every host's VXLAN device holds an FDB entry and a permanent neighbor entry for each
# endpoint of the other hosts (Docker's overlay broke at about 1,000 because of the neighbor
# table's gc_thresh3); the sample containers still ping across hosts.
# Usage: chaos-7-scale.sh TRELLISD TRELLIS   (SCALE_ENDPOINTS overrides 2000)
set -uo pipefail
. "$(dirname "$(readlink -f "$0")")/common.sh" "$0" "$@"
TOTAL=${SCALE_ENDPOINTS:-2000}
api="$(dirname "$(readlink -f "$0")")/../../tools/trellis-cluster/trlc-api.py"

cluster_up 3 || fail "cluster did not form"
check "create big" t 1 network create -d overlay --subnet 10.80.0.0/20 big
for i in 2 3; do check "big reaches host $i" wait_for 10 eval "t $i network inspect big >/dev/null 2>&1"; done
for i in 1 2 3; do check "run s$i" run_container "$i" "s$i" big; done
vni=$(network_vni 1 big)

# The endpoints: TOTAL - 3 through the API, split over the hosts, all at once.
t0=$(trlc_ms)
bulk=$((TOTAL - 3))
pids=()
for i in 1 2 3; do
  share=$((bulk / 3 + (i <= bulk % 3 ? 1 : 0)))
  python3 "$api" endpoints "$(host_sock "$i")" big "e$i-" "$share" >"$TRLC_DIR/bulk$i.json" &
  pids+=($!)
done
for i in 1 2 3; do
  wait "${pids[$((i - 1))]}" ||
    fail "host $i: $(trlc_json '[j["created"], j["failed"], j["errors"]]' <"$TRLC_DIR/bulk$i.json" | tr '\n' ' ')"
done
note "$bulk endpoints created through 3 APIs in $(($(trlc_ms) - t0)) ms"

# remote_count I: endpoints of big on the other hosts = TOTAL - host I's own.
own() { trlc_json 'j["created"]' <"$TRLC_DIR/bulk$1.json"; }
fdb_count() { fdb_show "$1" "$vni" | grep ' dst ' | grep -vc '^00:00:00:00:00:00'; }
neigh_count() { nsenter --net="$(overlay_ns "$1" "$vni")" ip neigh show nud permanent | grep -c lladdr; }
programmed() {
  local i want
  for i in 1 2 3; do
    want=$((TOTAL - $(own "$i") - 1))
    [ "$(fdb_count "$i")" -ge "$want" ] && [ "$(neigh_count "$i")" -ge "$want" ] || return 1
  done
}
if ! wait_for 90 programmed; then
  for i in 1 2 3; do echo "host $i: fdb $(fdb_count "$i") neigh $(neigh_count "$i") want $((TOTAL - $(own "$i") - 1))" >&2; done
  fail "not every endpoint was programmed on every other host within 90 s"
fi
note "all programmed $(($(trlc_ms) - t0)) ms after the first create"
for i in 1 2 3; do note "host $i: $(fdb_count "$i") FDB entries, $(neigh_count "$i") permanent neighbors"; done
check "samples ping across hosts" ping_matrix big 20
{ all_addresses big; } | assert_unique "addresses"
pass "$TOTAL endpoints on one network programmed everywhere; samples ping"
