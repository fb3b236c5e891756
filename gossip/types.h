#pragma once
// Value types shared by the gossip protocol core, its wire codec, the ZeroMQ transport and the
// simulator: node identity, time, members, log entries and the core's configuration.
// Pure values, no I/O; safe to use from any thread.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace trellis::gossip {

using NodeId = uint64_t;

// Protocol time: microseconds since an arbitrary epoch chosen by the driver (a steady clock in
// the daemon, virtual time in the simulator). The core never reads a clock.
using Time = std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::seconds;

// origin -> highest contiguous seq known (the store's version vector).
using VersionVector = std::map<NodeId, uint64_t>;

// One event of the replicated log, carried opaquely: `encoded` is the store's encoding of the
// event (store::encode_event); gossip only reads the identity.
struct LogEntry {
  NodeId origin = 0;
  uint64_t seq = 0;
  std::string encoded;
  friend bool operator==(const LogEntry&, const LogEntry&) = default;
};

enum class MemberState : uint8_t { kAlive = 0, kSuspect = 1, kDead = 2, kLeft = 3 };
const char* to_string(MemberState state);

struct Member {
  NodeId id = 0;
  std::string name;
  std::string address;  // "host:port", where the member's transport listens
  uint64_t incarnation = 0;
  MemberState state = MemberState::kAlive;
  Time state_since{0};  // when this node last saw the state change
  friend bool operator==(const Member&, const Member&) = default;
};

// Timings and limits of the protocol. The defaults are the LAN profile documented in
// docs/gossip.md next to memberlist's; the simulator measures them.
struct Config {
  // ---- identity ----
  NodeId node_id = 0;  // must be non-zero
  std::string name;
  std::string address;  // advertised "host:port"
  // 0: found a new cluster when started without seeds, adopt the seed's when joining.
  uint64_t cluster_id = 0;
  // Start incarnation. A restarted node refutes its own death anyway; a larger start (for
  // example the wall clock in seconds) saves that round trip.
  uint64_t initial_incarnation = 0;
  // Seed addresses to join through; empty: found a cluster (if cluster_id is 0) or wait to be
  // contacted.
  std::vector<std::string> seeds;
  // Seeds the core's random choices (probe order, gossip targets). Same seed, same inputs ->
  // same outputs.
  uint64_t random_seed = 1;

  // ---- failure detection (SWIM + Lifeguard) ----
  Time probe_interval = milliseconds(400);
  Time probe_timeout = milliseconds(100);  // direct ack wait before indirect probes
  int indirect_checks = 3;
  // A probe fails when neither the direct ping (sent twice) nor the indirect probes were
  // answered within 2 * probe_timeout (both scaled by the local health multiplier).
  // Suspicion timeout: min = suspicion_mult * log10(max(N, 10)) * probe_interval, starts at
  // suspicion_max_mult * min and shrinks towards min as independent confirmations arrive,
  // reaching it after suspicion_confirmations of them (Lifeguard).
  double suspicion_mult = 1.5;
  double suspicion_max_mult = 6.0;
  int suspicion_confirmations = 3;
  // A node that learns of a suspicion probes the suspect next (instead of its next
  // round-robin target) with probability suspicion_verifiers / N: a real failure gathers
  // confirmations within one probe period, a false one is refuted by the suspect as soon as
  // the first verifying ping (which carries the suspicion) reaches it.
  int suspicion_verifiers = 6;
  int awareness_max = 8;  // Lifeguard local health multiplier ceiling

  // ---- dissemination ----
  Time gossip_interval = milliseconds(200);
  int gossip_nodes = 3;
  int eager_fanout = 4;  // peers that get a new event (or membership change) at once
  // Each membership update is piggybacked retransmit_mult * ceil(log10(N + 1)) times, each
  // log entry event_retransmit_mult * ceil(log10(N + 1)) times.
  int retransmit_mult = 4;
  int event_retransmit_mult = 2;
  size_t piggyback_bytes = 8 * 1024;       // budget for piggybacked data per message
  Time gossip_to_dead_time = seconds(10);  // keep gossiping to newly dead members this long

  // ---- anti-entropy ----
  Time anti_entropy_interval = seconds(2);  // version-vector exchange with one random peer
  Time push_pull_interval = seconds(30);    // full membership exchange (scaled up with N)
  size_t sync_chunk_bytes = 256 * 1024;     // entries per anti-entropy or snapshot message
  size_t max_pending_entries = 100000;      // out-of-order entries held per node
  Time snapshot_cache_time = seconds(30);   // how long a served snapshot stays cached

  // ---- joining, reconnecting, requests ----
  Time join_retry_interval = seconds(1);
  Time reconnect_interval = seconds(2);                 // retry one random dead member this often
  Time dead_member_retention = std::chrono::hours(24);  // then a dead member is forgotten
  Time space_request_timeout = seconds(2);
};

}  // namespace trellis::gossip
