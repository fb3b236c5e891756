# shellcheck shell=bash
# Shared start of the chaos tests (tests/cluster/chaos-*.sh). Usage, first lines of a test:
#   . "$(dirname "$(readlink -f "$0")")/common.sh" "$0" "$@"
# Arguments of the test: TRELLISD TRELLIS (ctest passes the ASan build's binaries).
# Re-executes the test inside a private network + mount + PID namespace (trlc_enter), loads
# the cluster functions and defines check/fail helpers.

_trlc_test=$1
shift
_trlc_root=$(cd "$(dirname "$(readlink -f "$_trlc_test")")/../.." && pwd)
# shellcheck source=../../tools/trellis-cluster/lib.sh
. "$_trlc_root/tools/trellis-cluster/lib.sh"
trlc_bins "${1:-}" "${2:-}"
trlc_enter "$_trlc_test" "$@"

TEST_NAME=$(basename "$_trlc_test" .sh)
TEST_T0=$(trlc_ms)
fail() { trlc_die "$TEST_NAME: $*"; }
check() {
  local what=$1
  shift
  "$@" || fail "$what"
}
note() { echo "[$TEST_NAME +$(($(trlc_ms) - TEST_T0)) ms] $*"; }
pass() { echo "PASS $TEST_NAME ($(($(trlc_ms) - TEST_T0)) ms): $*"; }

# node_id I: host I's node id.
node_id() { t "$1" info --format json | trlc_json 'j["node_id"]'; }

# endpoints_json I [NETWORK]: JSON list of host I's own endpoints (owner = host I).
own_endpoints_json() {
  local id
  id=$(node_id "$1")
  t "$1" endpoint ls ${2:+--network "$2"} --format json |
    python3 -c 'import json,sys; print(json.dumps([e for e in json.load(sys.stdin) if e.get("owner") == sys.argv[1]]))' "$id"
}

# all_addresses NETWORK: every endpoint address of NETWORK owned by any running host, one a line.
all_addresses() {
  local i
  for i in $(seq 1 "$(trlc_hosts)"); do
    host_up "$i" || continue
    own_endpoints_json "$i" "$1" | trlc_json '[a.split("/")[0] for e in j for a in e["addresses"]]'
  done
}

# assert_unique WHAT: fails if a line of stdin appears twice.
assert_unique() {
  local dups
  dups=$(sort | uniq -d)
  [ -z "$dups" ] || fail "$1 appear twice: $(echo "$dups" | tr '\n' ' ')"
}

# fdb_wait I VNI MAC present|absent SECONDS: until host I's overlay FDB has (or lacks) MAC.
fdb_wait() {
  local i=$1 vni=$2 mac=$3 want=$4 limit=$5
  if [ "$want" = present ]; then
    wait_for "$limit" fdb_has "$i" "$vni" "$mac"
  else
    wait_for "$limit" eval "! fdb_has $i $vni $mac"
  fi
}

# container_mac NAME NETWORK
container_mac() {
  local host
  host=$(container_host "$1")
  t "$host" endpoint inspect --network "$2" "$1" --format json | trlc_json 'j["mac"]'
}
