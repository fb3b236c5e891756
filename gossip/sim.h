#pragma once
// The gossip simulator: N protocol cores (gossip::Core) in one process on virtual time, over a
// seeded network model with latency, loss, partitions and node crashes/restarts. Every message
// is really encoded and decoded, so the wire codec and byte counts are the real ones.
// Deterministic: the same SimConfig (seed included) gives the same SimReport.
// Single-threaded; a Simulator is used from one thread.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gossip/types.h"

namespace trellis::gossip {

struct SimPartition {
  Time start{0};
  Time duration{0};
  double fraction = 0.5;  // this share of the nodes (chosen at random) is cut from the rest
};

struct SimCrash {
  Time at{0};
  size_t count = 1;  // random live nodes (never node 0, the seed) that crash at `at`
  std::optional<Time> restart_after;  // restarted (same id and log) after this long
};

struct SimConfig {
  size_t nodes = 10;
  uint64_t seed = 1;
  Time duration = seconds(30);
  // Nodes join through node 0 at random times in [0, join_spread]; bandwidth is measured
  // from `warmup` on.
  Time join_spread = seconds(1);
  Time warmup = seconds(5);

  // Network: one-way latency = latency_min + Exp(latency_mean - latency_min), capped at
  // latency_max; each message is lost with probability `loss`.
  Time latency_min = std::chrono::microseconds(200);
  Time latency_mean = std::chrono::microseconds(1000);
  Time latency_max = milliseconds(50);
  double loss = 0.0;
  std::vector<SimPartition> partitions;
  std::vector<SimCrash> crashes;

  // Workload: `events` events of `event_bytes` at random live nodes, spread evenly over
  // [events_at, events_at + events_spread].
  size_t events = 0;
  Time events_at = seconds(6);
  Time events_spread = Time{0};
  size_t event_bytes = 128;

  // Protocol configuration of every node (identity fields are filled in per node).
  Config protocol;
};

// Times are in microseconds of virtual time; -1 means "never reached".
struct SimPercentiles {
  int64_t p50 = -1, p99 = -1, p999 = -1, max = -1;
  size_t count = 0;    // samples that reached the target
  size_t missing = 0;  // samples that never did
  friend bool operator==(const SimPercentiles&, const SimPercentiles&) = default;
};

struct SimCrashResult {
  uint64_t node = 0;  // index
  int64_t at_us = 0;
  int64_t first_detected_us = -1;  // since the crash: first node to declare it dead
  // Since the crash: every node that was up at the crash (and did not crash itself before
  // declaring) declared it dead.
  int64_t all_detected_us = -1;
  friend bool operator==(const SimCrashResult&, const SimCrashResult&) = default;
};

struct SimReport {
  uint64_t seed = 0;
  size_t nodes = 0;
  int64_t duration_us = 0;
  size_t live_nodes_at_end = 0;

  // Dissemination: per event, time from append until applied at 50/99/99.9/100% of the nodes
  // that were live at the append and at the end; distribution over events.
  size_t events = 0;
  SimPercentiles to_50, to_99, to_999, to_100;

  std::vector<SimCrashResult> crashes;
  SimPercentiles detection_all;  // over crashes: until every live node declared it dead

  // A live, reachable node declared dead (or suspected) by another node.
  uint64_t false_dead = 0;
  uint64_t false_suspect = 0;

  // Traffic sent after warm-up, per node per second (payload bytes: the encoded frames).
  double msgs_per_node_s = 0;
  double bytes_per_node_s = 0;
  double max_bytes_per_node_s = 0;
  uint64_t messages_sent = 0;  // whole run
  uint64_t messages_lost = 0;  // loss, partitions, down nodes
  uint64_t bytes_sent = 0;

  // At the end: every live node has every event of every origin that was appended, and every
  // live node sees exactly the live nodes as alive (and the crashed as dead or gone).
  bool log_converged = false;
  bool membership_converged = false;
  size_t nodes_missing_events = 0;
  size_t nodes_with_wrong_view = 0;
  int64_t membership_converged_at_us = -1;  // first check (every 100 ms) with one view

  friend bool operator==(const SimReport&, const SimReport&) = default;
};

// Runs one simulation.
SimReport run_simulation(const SimConfig& config);

// Human-readable and JSON renderings of a report.
std::string format_report_text(const SimReport& report);
std::string format_report_json(const SimReport& report);

}  // namespace trellis::gossip
