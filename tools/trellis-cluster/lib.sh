# shellcheck shell=bash
# trellis-cluster library: N Trellis hosts inside ONE private network + mount (+ PID) namespace.
#
# Source it from bash, then call `trlc_enter "$0" "$@"` first thing: the script re-executes
# itself inside fresh namespaces (unshare --net --mount --pid --fork --propagation private),
# proves it is no longer in the caller's network and mount namespaces, and only then mounts or
# creates anything. The machine's own namespaces are never touched. Everything the cluster
# makes lives in that private world: a tmpfs over a temp dir (all files), the underlay bridge,
# the host namespaces; the exit trap kills the daemons and removes it all, and because the
# script is PID 1 of its own PID namespace, even a SIGKILL of the script takes every process of
# the cluster with it. See docs/cluster-harness.md for the function reference.
#
# Layout (TRLC_DIR, a tmpfs inside the private mount namespace):
#   $TRLC_DIR/hN/netns       host N's network namespace (bind-mounted nsfs file)
#   $TRLC_DIR/hN/{data,run}  trellisd --data-dir / --run-dir of host N
#   $TRLC_DIR/hN/log         trellisd's stderr (appended across restarts)
#   $TRLC_DIR/hN/pid         pid of the running trellisd (absent when stopped)
#   $TRLC_DIR/containers     registry "NAME HOST NETWORK" of containers made by run_container
# Underlay: bridge `ul0` 192.0.2.1/24 in the private namespace; host N = 192.0.2.(10+N) on its
# eth0, peer `ulhN` on ul0.

TRLC_LOG_LEVEL=${TRLC_LOG_LEVEL:-info}
TRLC_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TRLC_API="$TRLC_LIB_DIR/trlc-api.py"
TRLC_SUBNET_PREFIX=192.0.2

# ---- small helpers ---------------------------------------------------------------------------
trlc_log() { printf '[trellis-cluster %s] %s\n' "$(date +%H:%M:%S.%3N)" "$*" >&2; }
trlc_die() {
  printf 'trellis-cluster: FAIL: %s\n' "$*" >&2
  exit 1
}
trlc_ms() { date +%s%3N; }

# Evaluates a Python expression over JSON read from stdin (bound to `j`); prints the result
# (lists one item per line, None as nothing). Example: t 1 info --format json | trlc_json 'j["node_id"]'
trlc_json() {
  python3 -c '
import json, sys
j = json.load(sys.stdin)
r = eval(sys.argv[1])
if r is None: pass
elif isinstance(r, (list, tuple)):
    for x in r: print(x)
elif isinstance(r, bool): print("true" if r else "false")
elif isinstance(r, (dict,)): print(json.dumps(r, sort_keys=True))
else: print(r)
' "$1"
}

# Finds trellisd and trellis: explicit arguments, else $TRELLISD/$TRELLIS, else the build tree
# this script was installed into (build/<x>/tools/trellis-cluster/), else build/release.
trlc_bins() {
  local here
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  TRELLISD=${1:-${TRELLISD:-}}
  TRELLIS=${2:-${TRELLIS:-}}
  if [ -z "$TRELLISD" ]; then
    for c in "$here/../../node/daemon/trellisd" "$here/../../build/release/node/daemon/trellisd"; do
      [ -x "$c" ] && TRELLISD=$(readlink -f "$c") && break
    done
  fi
  if [ -z "$TRELLIS" ]; then
    for c in "$here/../trellis/trellis" "$here/../../build/release/tools/trellis/trellis"; do
      [ -x "$c" ] && TRELLIS=$(readlink -f "$c") && break
    done
  fi
  [ -n "$TRELLISD" ] && [ -x "$TRELLISD" ] || trlc_die "trellisd not found (give --trellisd PATH or TRELLISD=)"
  [ -n "$TRELLIS" ] && [ -x "$TRELLIS" ] || trlc_die "trellis not found (give --trellis PATH or TRELLIS=)"
  TRELLISD=$(readlink -f "$TRELLISD")
  TRELLIS=$(readlink -f "$TRELLIS")
  export TRELLISD TRELLIS
}

# ---- entering the private namespaces ---------------------------------------------------------
# trlc_enter PROGRAM [ARGS...]: on the first call re-executes PROGRAM ARGS inside new network,
# mount and PID namespaces (never returns); inside, verifies them and sets the cluster up
# (tmpfs, underlay bridge, exit trap), then returns.
trlc_enter() {
  local prog
  prog=$(readlink -f "$1")
  shift
  if [ "${TRLC_STAGE:-}" != inner ]; then
    [ "$(id -u)" -eq 0 ] || trlc_die "needs root (network namespaces)"
    command -v unshare >/dev/null || trlc_die "unshare (util-linux) is missing"
    TRLC_OUTER_NETNS=$(readlink /proc/self/ns/net)
    TRLC_OUTER_MNTNS=$(readlink /proc/self/ns/mnt)
    export TRLC_STAGE=inner TRLC_OUTER_NETNS TRLC_OUTER_MNTNS
    exec unshare --net --mount --pid --fork --kill-child --mount-proc --propagation private -- \
      bash "$prog" "$@"
  fi
  # Inside. Refuse unless both namespaces really are new (the stage variable alone could have
  # been set by hand in the machine's own namespaces).
  local here_net here_mnt
  here_net=$(readlink /proc/self/ns/net || true)
  here_mnt=$(readlink /proc/self/ns/mnt || true)
  if [ -z "${TRLC_OUTER_NETNS:-}" ] || [ -z "${TRLC_OUTER_MNTNS:-}" ] ||
    [ -z "$here_net" ] || [ -z "$here_mnt" ] ||
    [ "$here_net" = "$TRLC_OUTER_NETNS" ] || [ "$here_mnt" = "$TRLC_OUTER_MNTNS" ]; then
    echo "trellis-cluster: not in a private network + mount namespace; refusing" >&2
    exit 3
  fi
  unset TRLC_STAGE
  TRLC_PRIVATE_NETNS=$here_net
  export TRLC_PRIVATE_NETNS
  trlc_setup
}

# True when this process is in the private network namespace trlc_enter verified.
trlc_in_private_ns() {
  [ -n "${TRLC_PRIVATE_NETNS:-}" ] && [ "$(readlink /proc/self/ns/net)" = "$TRLC_PRIVATE_NETNS" ] &&
    [ "$(readlink /proc/self/ns/mnt)" != "${TRLC_OUTER_MNTNS:-}" ]
}

trlc_setup() {
  trlc_in_private_ns || trlc_die "trlc_setup outside the private namespaces"
  # /sys must show this namespace's links (bridge port listings); private mount ns only.
  mount -t sysfs -o nosuid,nodev,noexec trlc-sys /sys 2>/dev/null || true
  ip link set lo up
  TRLC_DIR=$(mktemp -d /tmp/trlc.XXXXXX)
  # Everything below lives on a tmpfs of this mount namespace: it vanishes with it.
  mount -t tmpfs -o mode=0755 trlc "$TRLC_DIR"
  export TRLC_DIR
  : >"$TRLC_DIR/containers"
  printf 'nameserver 192.0.2.1\n' >"$TRLC_DIR/resolv.conf"
  trap trlc_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# Exit trap: stop daemons (SIGKILL: the run is over), unmount, remove the temp dir. On failure
# the tail of every daemon log goes to stderr; TRLC_KEEP_LOGS=DIR copies the logs there.
trlc_cleanup() {
  local status=$? h
  trap - EXIT INT TERM
  [ -n "${TRLC_DIR:-}" ] && [ -d "$TRLC_DIR" ] || exit "$status"
  if [ -n "${TRLC_KEEP_LOGS:-}" ]; then
    mkdir -p "$TRLC_KEEP_LOGS"
    for h in "$TRLC_DIR"/h*/log; do
      [ -f "$h" ] && cp "$h" "$TRLC_KEEP_LOGS/$(basename "$(dirname "$h")").log"
    done
  fi
  if [ "$status" -ne 0 ] && [ "${TRLC_QUIET_FAIL:-}" != 1 ]; then
    for h in "$TRLC_DIR"/h*/log; do
      [ -f "$h" ] || continue
      echo "---- last lines of $(basename "$(dirname "$h")") trellisd log" >&2
      tail -n 25 "$h" >&2
    done
  fi
  for h in "$TRLC_DIR"/h*/pid; do
    [ -f "$h" ] && kill -9 "$(cat "$h")" 2>/dev/null
  done
  # Every other process of this PID namespace (containers), never anything else: only when
  # this script is PID 1 of its own PID namespace and /proc is that namespace's, and only
  # processes whose PID namespace is ours.
  local p
  if [ "$$" = 1 ] && [ /proc/1/ns/pid -ef /proc/self/ns/pid ]; then
    for p in /proc/[0-9]*; do
      [ "$p/ns/pid" -ef /proc/self/ns/pid ] || continue
      p=${p#/proc/}
      [ "$p" = 1 ] || [ "$p" = "$BASHPID" ] || kill -9 "$p" 2>/dev/null
    done
  fi
  wait 2>/dev/null
  # The private namespaces (and every mount and link in them) disappear with this process;
  # remove what we can explicitly anyway so a reused shell leaks nothing.
  umount -R -l "$TRLC_DIR" 2>/dev/null
  rmdir "$TRLC_DIR" 2>/dev/null
  exit "$status"
}

# ---- hosts -----------------------------------------------------------------------------------
trlc_hosts() { cat "$TRLC_DIR/nhosts" 2>/dev/null || echo 0; }
host_addr() { echo "$TRLC_SUBNET_PREFIX.$((10 + $1))"; }
host_dir() { echo "$TRLC_DIR/h$1"; }
host_sock() { echo "$TRLC_DIR/h$1/run/trellis.sock"; }
host_up() { [ -f "$TRLC_DIR/h$1/pid" ] && trlc_pid_alive "$(cat "$TRLC_DIR/h$1/pid")"; }
# trlc_pid_alive PID: running (not a zombie).
trlc_pid_alive() {
  local st
  st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}
# trlc_wait_gone PID [SECONDS]: until PID is gone (or a zombie).
trlc_wait_gone() {
  local i=0
  while trlc_pid_alive "$1"; do
    i=$((i + 1))
    [ "$i" -lt $((${2:-10} * 20)) ] || return 1
    sleep 0.05
  done
}

# host_exec I CMD...: runs CMD in host I's network namespace (same mount namespace).
host_exec() {
  local i=$1
  shift
  nsenter --net="$TRLC_DIR/h$i/netns" "$@"
}

# t I ARGS...: the trellis CLI against host I's daemon.
t() {
  local i=$1
  shift
  "$TRELLIS" -H "unix://$TRLC_DIR/h$i/run/trellis.sock" "$@"
}
trellis_on() { t "$@"; }

# cluster_up N [--mtu M] [--vxlan-port P] [--sequential-joins] [--no-daemons] [-- TRELLISD_ARGS...]
# Builds N hosts on the underlay, starts trellisd on each (host 1 founds, the others join
# 192.0.2.11) and waits until each knows the cluster's VNI/subnet spaces and every daemon
# sees N alive members.
cluster_up() {
  local n=$1
  shift
  local mtu="" daemons=1 parallel=1
  TRLC_VXLAN_PORT=${TRLC_VXLAN_PORT:-}
  TRLC_EXTRA_ARGS=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --mtu) mtu=$2; shift 2 ;;
      --vxlan-port) TRLC_VXLAN_PORT=$2; shift 2 ;;
      --no-daemons) daemons=0; shift ;;
      --sequential-joins) parallel=0; shift ;;
      --) shift; TRLC_EXTRA_ARGS=("$@"); break ;;
      *) trlc_die "cluster_up: unknown option $1" ;;
    esac
  done
  trlc_in_private_ns || trlc_die "cluster_up outside the private namespaces"
  echo "$n" >"$TRLC_DIR/nhosts"
  echo "$TRLC_VXLAN_PORT" >"$TRLC_DIR/vxlan_port"
  : >"$TRLC_DIR/extra_args"
  [ ${#TRLC_EXTRA_ARGS[@]} -eq 0 ] || printf '%s\n' "${TRLC_EXTRA_ARGS[@]}" >"$TRLC_DIR/extra_args"
  ip link add ul0 type bridge
  [ -n "$mtu" ] && ip link set ul0 mtu "$mtu"
  ip addr add "$TRLC_SUBNET_PREFIX.1/24" dev ul0
  ip link set ul0 up
  local i
  for i in $(seq 1 "$n"); do
    local d="$TRLC_DIR/h$i"
    mkdir -p "$d/data" "$d/run" "$d/scratch"
    : >"$d/netns"
    unshare --net="$d/netns" true || trlc_die "cannot create host $i's namespace"
    host_exec "$i" ip link add eth0 type veth peer name "ulh$i" netns "$$" ||
      trlc_die "cannot create host $i's underlay veth"
    if [ -n "$mtu" ]; then
      ip link set "ulh$i" mtu "$mtu"
      host_exec "$i" ip link set eth0 mtu "$mtu"
    fi
    ip link set "ulh$i" master ul0 up
    host_exec "$i" ip link set lo up
    host_exec "$i" ip addr add "$(host_addr "$i")/24" dev eth0
    host_exec "$i" ip link set eth0 up
    host_exec "$i" ip route add default via "$TRLC_SUBNET_PREFIX.1"
  done
  trlc_log "underlay: ul0 $TRLC_SUBNET_PREFIX.1/24${mtu:+ mtu $mtu}, hosts $(host_addr 1)..$(host_addr "$n")"
  [ "$daemons" = 1 ] || return 0
  node_start 1 || return 1
  # A host is ready for overlay work once it knows the cluster's VNI space and subnet pool
  # (the founder's, replicated to a joining node after its fresh-store hold of about 2 s).
  # The joiners start together (their holds overlap) unless --sequential-joins (one after the
  # other, each waiting until it knows the spaces).
  local spaces=0
  python3 "$TRLC_API" get "$(host_sock 1)" /nodes >/dev/null 2>&1 && spaces=1
  if [ "$parallel" = 1 ]; then
    for i in $(seq 2 "$n"); do node_start "$i" --no-wait || return 1; done
    for i in $(seq 2 "$n"); do wait_ready "$i" || return 1; done
  fi
  for i in $(seq 2 "$n"); do
    [ "$parallel" = 1 ] || node_start "$i" || return 1
    [ "$spaces" = 1 ] || continue
    wait_for 15 node_knows_spaces "$i" || { trlc_log "host $i does not know the VNI/subnet spaces after 15 s"; return 1; }
  done
  wait_members 30 || return 1
  trlc_log "cluster of $n up"
}

# node_knows_spaces I: host I knows the cluster's VNI space and subnet pool (GET /nodes lists
# an owner of each): it can create overlay networks (asking an owner for a share if needed).
node_knows_spaces() {
  [ "$(python3 "$TRLC_API" get "$(host_sock "$1")" /nodes 2>/dev/null | trlc_json '
all(any(s.get("kind") == k and s.get("owned", 0) > 0 for n in j for s in n.get("spaces", []))
    for k in ("vni", "subnet"))')" = true ]
}
# node_owns_spaces I: host I itself owns part of the VNI space and of the subnet pool.
node_owns_spaces() {
  [ "$(python3 "$TRLC_API" get "$(host_sock "$1")" /nodes 2>/dev/null | trlc_json '
all(any(s.get("kind") == k and s.get("owned", 0) > 0 for n in j if n.get("self") for s in n.get("spaces", []))
    for k in ("vni", "subnet"))')" = true ]
}

# node_start I [--no-wait]: starts (or restarts, same dirs) trellisd on host I. Host 1 founds
# the cluster on its first start; every other start joins through all other hosts.
node_start() {
  local i=$1 wait=1
  [ "${2:-}" = --no-wait ] && wait=0
  host_up "$i" && trlc_die "node_start: host $i is already running"
  local d="$TRLC_DIR/h$i" n join="" j port
  n=$(trlc_hosts)
  port=$(cat "$TRLC_DIR/vxlan_port" 2>/dev/null || true)
  local args=(--data-dir "$d/data" --run-dir "$d/run" --name "host$i" --log-level "$TRLC_LOG_LEVEL"
    --resolv-conf "$TRLC_DIR/resolv.conf" --advertise-addr "$(host_addr "$i")")
  if [ "$i" != 1 ] || [ -f "$d/started" ]; then
    for j in $(seq 1 "$n"); do
      [ "$j" = "$i" ] || join="$join${join:+,}$(host_addr "$j")"
    done
    [ -n "$join" ] && args+=(--join "$join")
  fi
  [ -n "$port" ] && args+=(--vxlan-port "$port")
  local extra=()
  [ -s "$TRLC_DIR/extra_args" ] && mapfile -t extra <"$TRLC_DIR/extra_args"
  args+=("${extra[@]}")
  echo "==== start $(date +%T.%3N): trellisd ${args[*]}" >>"$d/log"
  (cd "$d/scratch" && exec nsenter --net="$d/netns" "$TRELLISD" "${args[@]}") >>"$d/log" 2>&1 &
  echo $! >"$d/pid"
  disown $!  # no job-control chatter; bash (PID 1 of the namespace) still reaps it
  touch "$d/started"
  [ "$wait" = 1 ] || return 0
  wait_ready "$i"
}

# wait_ready I [SECONDS]: until host I's API answers.
wait_ready() {
  local i=$1 limit=${2:-20} t0
  t0=$(date +%s)
  until t "$i" info >/dev/null 2>&1; do
    host_up "$i" || { trlc_log "host $i: trellisd exited"; tail -n 20 "$TRLC_DIR/h$i/log" >&2; return 1; }
    [ $(($(date +%s) - t0)) -lt "$limit" ] || { trlc_log "host $i: API not up after ${limit}s"; return 1; }
    sleep 0.05
  done
}

# node_kill I: SIGKILL host I's trellisd (containers and kernel objects stay, as on a crash).
node_kill() {
  local f="$TRLC_DIR/h$1/pid"
  [ -f "$f" ] || return 0
  kill -9 "$(cat "$f")" 2>/dev/null
  trlc_wait_gone "$(cat "$f")"
  rm -f "$f"
  trlc_log "host $1: trellisd killed (-9)"
}
# node_stop I: SIGTERM (graceful leave) and wait.
node_stop() {
  local f="$TRLC_DIR/h$1/pid"
  [ -f "$f" ] || return 0
  kill -TERM "$(cat "$f")" 2>/dev/null
  trlc_wait_gone "$(cat "$f")" 20 || kill -9 "$(cat "$f")" 2>/dev/null
  rm -f "$f"
  trlc_log "host $1: trellisd stopped"
}
node_restart() { node_kill "$1"; node_start "$1"; }

# member_states I: "name state" lines as host I sees the cluster.
member_states() {
  t "$1" cluster members --format json 2>/dev/null |
    trlc_json '[m["name"] + " " + m["state"] for m in j]'
}

# wait_members [SECONDS]: until every running host sees every running host alive and every
# stopped host dead or left (not alive, not suspect).
wait_members() {
  local limit=${1:-30} t0 ok i j n states
  t0=$(date +%s)
  n=$(trlc_hosts)
  while :; do
    ok=1
    for i in $(seq 1 "$n"); do
      host_up "$i" || continue
      states=$(member_states "$i") || { ok=0; break; }
      for j in $(seq 1 "$n"); do
        if host_up "$j"; then
          grep -qx "host$j alive" <<<"$states" || { ok=0; break; }
        else
          grep -qxE "host$j (alive|suspect)" <<<"$states" && { ok=0; break; }
        fi
      done
      [ "$ok" = 1 ] || break
    done
    [ "$ok" = 1 ] && return 0
    if [ $(($(date +%s) - t0)) -ge "$limit" ]; then
      trlc_log "membership did not converge in ${limit}s; host $i sees:"
      member_states "$i" >&2
      return 1
    fi
    sleep 0.2
  done
}

# wait_for SECONDS CMD...: polls CMD every 0.2 s until it succeeds; fails after SECONDS.
wait_for() {
  local limit=$1 t0
  shift
  t0=$(trlc_ms)
  until "$@"; do
    [ $(($(trlc_ms) - t0)) -lt $((limit * 1000)) ] || return 1
    sleep 0.2
  done
}

# ---- state convergence -----------------------------------------------------------------------
# state_digest I: the state digest of host I (`trellis cluster log --format json`).
state_digest() { t "$1" cluster log --format json 2>/dev/null | trlc_json 'j.get("state_digest")'; }

# digests_equal: true when every running host reports the same non-empty state digest.
digests_equal() {
  local i first="" d
  for i in $(seq 1 "$(trlc_hosts)"); do
    host_up "$i" || continue
    d=$(state_digest "$i")
    [ -n "$d" ] || return 1
    [ -z "$first" ] && first=$d
    [ "$d" = "$first" ] || return 1
  done
}
# wait_converged [SECONDS]: membership converged and identical state digests everywhere.
wait_converged() {
  local limit=${1:-30}
  wait_members "$limit" || return 1
  wait_for "$limit" digests_equal || {
    local i
    trlc_log "state digests differ after ${limit}s:"
    for i in $(seq 1 "$(trlc_hosts)"); do host_up "$i" && echo "  host$i $(state_digest "$i")" >&2; done
    return 1
  }
}

# ---- partitions ------------------------------------------------------------------------------
# partition "1" "2 3" [...]: drops all underlay traffic between hosts of different groups
# (nftables table `inet trlc_partition` inside each host's namespace; never elsewhere).
partition() {
  local groups=("$@") g h other addrs
  heal >/dev/null 2>&1
  for g in "${!groups[@]}"; do
    addrs=""
    for other in "${!groups[@]}"; do
      [ "$other" = "$g" ] && continue
      for h in ${groups[$other]}; do addrs="$addrs${addrs:+, }$(host_addr "$h")"; done
    done
    [ -n "$addrs" ] || continue
    for h in ${groups[$g]}; do
      host_exec "$h" nft -f - <<EOF || return 1
table inet trlc_partition {
  chain in { type filter hook input priority -300; policy accept; ip saddr { $addrs } drop; }
  chain out { type filter hook output priority -300; policy accept; ip daddr { $addrs } drop; }
}
EOF
    done
  done
  trlc_log "partition: $(printf '{%s} ' "${groups[@]}")"
}
# heal: removes every partition.
heal() {
  local h
  for h in $(seq 1 "$(trlc_hosts)"); do
    host_exec "$h" nft delete table inet trlc_partition 2>/dev/null || true
  done
  trlc_log "partition healed"
}

# ---- containers ------------------------------------------------------------------------------
# run_container I NAME NETWORK [TRELLIS_RUN_OPTIONS...]: `trellis run -d --name NAME --network
# NETWORK [options] -- sleep 1000000` on host I; registered for ping_matrix.
run_container() {
  local i=$1 name=$2 net=$3
  shift 3
  t "$i" run -d --name "$name" --network "$net" "$@" -- sleep 1000000 >/dev/null || return 1
  echo "$name $i $net" >>"$TRLC_DIR/containers"
}
# rm_container NAME: removes a registered container (on its host).
rm_container() {
  local name=$1 host
  host=$(awk -v n="$name" '$1 == n { print $2; exit }' "$TRLC_DIR/containers")
  [ -n "$host" ] || { trlc_log "rm_container: unknown $name"; return 1; }
  t "$host" rm "$name" >/dev/null || return 1
  awk -v n="$name" '$1 != n' "$TRLC_DIR/containers" >"$TRLC_DIR/containers.new"
  mv "$TRLC_DIR/containers.new" "$TRLC_DIR/containers"
}
# containers_of NETWORK: "NAME HOST" lines of registered containers on NETWORK.
containers_of() { awk -v n="$1" '$3 == n { print $1, $2 }' "$TRLC_DIR/containers"; }
container_host() { awk -v n="$1" '$1 == n { print $2; exit }' "$TRLC_DIR/containers"; }

# container_ip NAME NETWORK: the container's address on NETWORK (asked of its host).
container_ip() {
  local host
  host=$(container_host "$1")
  [ -n "$host" ] || return 1
  t "$host" endpoint inspect --network "$2" "$1" --format json 2>/dev/null |
    trlc_json 'j["addresses"][0].split("/")[0]'
}

# can_ping NAME IP: one ping from container NAME (1 s timeout).
can_ping() {
  local host
  host=$(container_host "$1")
  t "$host" exec "$1" -- ping -n -q -c 1 -W 1 "$2" >/dev/null 2>&1
}

# ping_matrix NETWORK [SECONDS]: pings every container's address on NETWORK from every other
# container on it (rows: source, columns: destination), retrying failed pairs until SECONDS
# (default 0: one round) pass; prints the matrix and fails if any pair never answered.
ping_matrix() {
  local net=$1 limit=${2:-0}
  local names=() hosts=() ips=() name host ip
  while read -r name host; do
    ip=$(container_ip "$name" "$net") || true
    [ -n "$ip" ] || { trlc_log "ping_matrix: no address for $name on $net"; return 1; }
    names+=("$name"); hosts+=("$host"); ips+=("$ip")
  done < <(containers_of "$net")
  local n=${#names[@]} a b res="$TRLC_DIR/pm.$net" t0 pending
  [ "$n" -ge 2 ] || { trlc_log "ping_matrix: fewer than 2 containers on $net"; return 1; }
  rm -rf "$res"; mkdir -p "$res"
  t0=$(trlc_ms)
  while :; do
    # One row per source container, rows in parallel; each pair is tried until it worked once.
    local jobs=()
    for a in $(seq 0 $((n - 1))); do
      (
        for b in $(seq 0 $((n - 1))); do
          [ "$a" = "$b" ] && continue
          [ -f "$res/$a.$b" ] && continue
          can_ping "${names[$a]}" "${ips[$b]}" && touch "$res/$a.$b"
        done
      ) &
      jobs+=($!)
    done
    wait "${jobs[@]}"  # (a bare `wait` would wait for the daemons too)
    pending=$(($(find "$res" -type f | wc -l) - n * (n - 1)))
    [ "$pending" -eq 0 ] && break
    [ $(($(trlc_ms) - t0)) -lt $((limit * 1000)) ] || break
    sleep 0.3
  done
  # Print.
  local w=4 fails=0
  for a in "${names[@]}"; do [ ${#a} -gt $w ] && w=${#a}; done
  printf "ping matrix of network %s (row pings column; %d containers, %d ms)\n" "$net" "$n" $(($(trlc_ms) - t0))
  printf "%-*s %-15s" "$w" "" ""
  for b in $(seq 0 $((n - 1))); do printf " %*s" "$w" "${names[$b]}"; done
  printf "\n"
  for a in $(seq 0 $((n - 1))); do
    printf "%-*s %-15s" "$w" "${names[$a]}@h${hosts[$a]}" "${ips[$a]}"
    for b in $(seq 0 $((n - 1))); do
      if [ "$a" = "$b" ]; then printf " %*s" "$w" "-"
      elif [ -f "$res/$a.$b" ]; then printf " %*s" "$w" "ok"
      else printf " %*s" "$w" "FAIL"; fails=$((fails + 1)); fi
    done
    printf "\n"
  done
  rm -rf "$res"
  if [ "$fails" -gt 0 ]; then
    echo "ping matrix of $net: $fails of $((n * (n - 1))) pairs FAILED"
    overlay_diag "$net"
    return 1
  fi
  echo "ping matrix of $net: all $((n * (n - 1))) pairs ok"
}

# ---- overlay inspection ----------------------------------------------------------------------
# network_vni I NETWORK: the VNI of an overlay network as host I sees it.
network_vni() {
  t "$1" network inspect "$2" --format json 2>/dev/null |
    trlc_json 'j.get("vni") or j.get("options", {}).get("vni") or (j.get("ipam_result") or {}).get("vni")'
}
# overlay_ns I VNI: path of host I's overlay namespace file for VNI.
overlay_ns() { echo "$TRLC_DIR/h$1/run/netns/trl-ov-$2"; }
# fdb_show I VNI: `bridge fdb show` inside host I's overlay namespace of VNI (empty if none).
fdb_show() {
  local f
  f=$(overlay_ns "$1" "$2")
  [ -e "$f" ] || return 0
  nsenter --net="$f" bridge fdb show 2>/dev/null
}
# fdb_has I VNI MAC: true if host I's overlay namespace of VNI has an FDB entry for MAC
# pointing at a remote VTEP (dst). (grep reads everything: with -q it would exit at the first
# match, `bridge` would die of SIGPIPE, and under pipefail a present entry would read as absent.)
fdb_has() { fdb_show "$1" "$2" | grep -i "^$3 .*dst " >/dev/null; }

# overlay_diag NETWORK: per running host, the endpoints of NETWORK in its state and the remote
# MACs programmed on its VXLAN device (printed by ping_matrix when a pair fails).
overlay_diag() {
  local i vni eps fdb
  for i in $(seq 1 "$(trlc_hosts)"); do
    host_up "$i" || continue
    vni=$(network_vni "$i" "$1")
    eps=$(t "$i" endpoint ls --network "$1" --format json 2>/dev/null |
      trlc_json '" ".join(sorted(e["name"] for e in j))')
    fdb=$(fdb_show "$i" "$vni" | awk '/ dst / && $1 != "00:00:00:00:00:00" { print $1 }' | sort | tr '\n' ' ')
    echo "  host$i: vni $vni; endpoints in state: $eps; FDB remote MACs: ${fdb:-none}"
    echo "    nodes: $(python3 "$TRLC_API" get "$(host_sock "$i")" /nodes 2>/dev/null |
      trlc_json '"; ".join(n["name"] + " " + n["address"] + " " + n["state"] + "/" + n["status"] for n in j)')"
  done
}

# trlc_summary: one line per host (state, pid, containers).
trlc_status() {
  local i
  for i in $(seq 1 "$(trlc_hosts)"); do
    printf 'host%d %s %s pid=%s\n' "$i" "$(host_addr "$i")" \
      "$(host_up "$i" && echo up || echo down)" "$(cat "$TRLC_DIR/h$i/pid" 2>/dev/null || echo -)"
  done
}
