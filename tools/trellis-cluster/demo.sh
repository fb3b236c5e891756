# shellcheck shell=bash
# The 3-host overlay demo (`trellis-cluster demo`, `make demo`): sourced by trellis-cluster
# inside the private namespaces, with lib.sh loaded.

trlc_demo_step() { printf '\n== %s\n' "$*"; }
trlc_demo_cmd() {
  local i=$1
  shift
  echo "host$i\$ trellis $*"
  t "$i" "$@"
}

# trlc_demo [cluster_up options]: fails (exit status 1) when any step fails.
trlc_demo() {
  local t_start t_up t_net t_run t_ping i c
  t_start=$(trlc_ms)
  trlc_demo_step "3 hosts on an underlay bridge (192.0.2.0/24), one trellisd each"
  cluster_up 3 "$@" || trlc_die "the cluster did not form"
  t_up=$(trlc_ms)
  trlc_demo_cmd 1 cluster members || trlc_die "cluster members"

  trlc_demo_step "an overlay network, created on host 1"
  trlc_demo_cmd 1 network create -d overlay demo >/dev/null || trlc_die "network create -d overlay failed"
  for i in 2 3; do
    wait_for 10 eval "t $i network inspect demo >/dev/null 2>&1" ||
      trlc_die "network demo did not reach host $i"
  done
  t_net=$(trlc_ms)
  trlc_demo_cmd 3 network ls || trlc_die "network ls"

  trlc_demo_step "two containers on each host"
  for i in 1 2 3; do
    for c in a b; do
      echo "host$i\$ trellis run -d --name c$i$c --network demo -- sleep 1000000"
      run_container "$i" "c$i$c" demo || trlc_die "trellis run on host $i failed"
    done
  done
  t_run=$(trlc_ms)
  for i in 1 2 3; do trlc_demo_cmd "$i" endpoint ls --network demo || trlc_die "endpoint ls"; done

  trlc_demo_step "all-pairs ping (trellis exec ROW -- ping COLUMN)"
  t_ping=$(trlc_ms)
  ping_matrix demo 20 || trlc_die "some containers cannot reach each other"
  t_ping=$(($(trlc_ms) - t_ping))

  trlc_demo_step "nodes and the address space they own"
  trlc_demo_cmd 1 node ls || trlc_die "node ls"

  trlc_demo_step "summary"
  echo "cluster up:          $((t_up - t_start)) ms (3 daemons joined)"
  echo "network on all:      $((t_net - t_up)) ms (vni $(network_vni 1 demo))"
  echo "6 containers:        $((t_run - t_net)) ms"
  echo "full ping matrix:    $t_ping ms (30 pairs, 24 across hosts over VXLAN)"
  echo "total so far:        $(($(trlc_ms) - t_start)) ms"

  trlc_demo_step "clean up"
  for i in 1 2 3; do
    for c in a b; do rm_container "c$i$c" || trlc_die "rm c$i$c"; done
  done
  trlc_demo_cmd 1 network rm demo || trlc_die "network rm"
  echo "(daemons, namespaces, underlay and files are removed on exit)"
}
