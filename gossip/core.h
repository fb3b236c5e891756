#pragma once
// The sans-IO gossip protocol core (docs/gossip.md sec. 2): SWIM membership with the Lifeguard
// refinements, piggybacked and eager dissemination of membership changes and log entries,
// version-vector anti-entropy with chunked catch-up and snapshots, and the space-request
// channel. It consumes messages, timer ticks and local appends, and produces messages to
// peers and effects for its owner. No sockets, threads or clocks: time is an argument, so the
// same code runs under the ZeroMQ transport (gossip/node.h) and the simulator (gossip/sim.h).
//
// Threads: a Core is not thread-safe; one thread drives it. The ReplicatedLog it reads must
// outlive it and is read only during the Core's calls.

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "gossip/message.h"
#include "gossip/replicated_log.h"
#include "gossip/types.h"

namespace trellis::gossip {

// A message the driver must send. `to` is 0 when only the address is known (join to a seed).
struct Outgoing {
  NodeId to = 0;
  std::string address;
  Message message;
};

// ---- effects: what the owner must do or may want to know ----

// A member appeared or changed state (alive / suspect / dead / left). `previous` equals
// member.state for a member seen for the first time.
struct MemberChanged {
  Member member;
  MemberState previous = MemberState::kAlive;
  bool is_new = false;
};
// Remote log entries to apply, in per-origin seq order (contiguous after what was handed
// before). Duplicates are possible after an anti-entropy resync; the log must ignore them.
struct ApplyRemote {
  NodeId from = 0;
  std::vector<LogEntry> entries;
};
// A peer's compacted log, for a log that reported can_install_snapshot().
struct InstallSnapshot {
  NodeId from = 0;
  LogSnapshot snapshot;
};
// A peer holds entries we lack only in compacted form and our log cannot install a snapshot.
struct SnapshotRequired {
  NodeId from = 0;
};
struct SpaceRequestReceived {
  NodeId from = 0;
  uint64_t request_id = 0;
  std::string payload;
};
struct SpaceAnswerReceived {
  NodeId from = 0;
  uint64_t request_id = 0;
  std::string payload;
};
// No answer within Config::space_request_timeout (the answer may still be lost or late).
struct SpaceRequestFailed {
  NodeId to = 0;
  uint64_t request_id = 0;
};
// The node founded a cluster or joined one (persist cluster_id).
struct ClusterJoined {
  uint64_t cluster_id = 0;
  bool founded = false;
};
// A seed answered that it belongs to another cluster.
struct JoinRefused {
  std::string address;
  uint64_t their_cluster_id = 0;
};

using Effect = std::variant<MemberChanged, ApplyRemote, InstallSnapshot, SnapshotRequired,
                            SpaceRequestReceived, SpaceAnswerReceived, SpaceRequestFailed,
                            ClusterJoined, JoinRefused>;

// Counters of what the core did and dropped (monotonic).
struct CoreStats {
  uint64_t messages_received = 0;
  uint64_t dropped_cluster_mismatch = 0;  // another cluster id (never merged)
  uint64_t dropped_not_joined = 0;        // arrived before this node had a cluster
  uint64_t dropped_from_self = 0;         // carries our own node id (a duplicate id?)
  uint64_t misdirected_pings = 0;         // ping for another node id at our address
  uint64_t probes = 0;
  uint64_t probe_failures = 0;
  uint64_t indirect_probes = 0;
  uint64_t suspicions = 0;       // members this node started suspecting
  uint64_t refutations = 0;      // times this node refuted its own suspicion/death
  uint64_t deaths_declared = 0;  // suspicion timeouts that fired here
  uint64_t entries_delivered = 0;
  uint64_t entries_duplicate = 0;
  uint64_t entries_held = 0;             // arrived after a gap
  uint64_t entries_dropped_pending = 0;  // over max_pending_entries
  uint64_t syncs_started = 0;
  uint64_t sync_entries_sent = 0;
  uint64_t snapshot_chunks_sent = 0;
  uint64_t snapshots_installed = 0;
};

// Lifeguard's suspicion timeout: `max` with no independent confirmation, shrinking
// logarithmically to `min` once `k` confirmations (beyond the first suspicion) arrived;
// `min` when k < 1.
Time suspicion_timeout(Time min, Time max, int k, size_t confirmations);

class Core {
 public:
  // Starts the node at `now`: founds a cluster (no seeds, no cluster id) or starts joining.
  // Throws InvalidArgumentError for a bad config (node id 0, empty address).
  Core(Config config, ReplicatedLog& log, Time now);
  Core(const Core&) = delete;
  Core& operator=(const Core&) = delete;

  // ---- inputs ----
  // A decoded message from a peer.
  void receive(Message message, Time now);
  // Runs every timer that is due. Call at (or after) next_deadline().
  void tick(Time now);
  // The owner appended these entries to the local log (origin = this node, ascending seq).
  void local_appended(const std::vector<LogEntry>& entries, Time now);
  // Joins through more seed addresses (in addition to Config::seeds).
  void join(const std::vector<std::string>& seeds, Time now);
  // Announces a graceful leave. Keep driving the core for a few gossip intervals so the
  // announcement spreads, then drop it.
  void leave(Time now);
  // Sends a space request to member `to`; the answer or the failure comes as an effect.
  // Returns the request id. NotFoundError if `to` is not a known live member.
  uint64_t request_space(NodeId to, std::string payload, Time now);
  // Answers a SpaceRequestReceived. NotFoundError if `to` is unknown.
  void answer_space(NodeId to, uint64_t request_id, std::string payload, Time now);

  // ---- outputs ----
  // When tick() must next be called.
  Time next_deadline() const;
  std::vector<Outgoing> take_messages();
  std::vector<Effect> take_effects();

  // ---- queries ----
  NodeId id() const { return config_.node_id; }
  uint64_t cluster_id() const { return cluster_id_; }
  bool joined() const { return cluster_id_ != 0 && !joining_; }
  uint64_t incarnation() const { return self_.incarnation; }
  const Config& config() const { return config_; }
  // Every known member, this node included, ascending by id.
  std::vector<Member> members() const;
  std::optional<Member> member(NodeId id) const;
  // Members alive or suspect, this node included.
  size_t live_count() const { return live_.size() + 1; }
  // Lifeguard local health: 0 (healthy) .. awareness_max - 1.
  int health_score() const { return awareness_; }
  const CoreStats& stats() const { return stats_; }
  // Entries held after a gap.
  size_t pending_entries() const { return pending_count_; }

 private:
  struct Suspicion {
    Time start{0};
    Time min{0}, max{0};
    int k = 0;
    std::set<NodeId> confirmers;
    Time deadline{0};
  };
  struct Rec {
    Member m;
    std::optional<Suspicion> suspicion;
  };
  struct Probe {
    NodeId target = 0;
    std::string address;
    uint64_t seq = 0;
    Time start{0}, indirect_at{0}, end{0};
    bool indirect_sent = false;
    int expected_nacks = 0;
    int nacks = 0;
  };
  struct Relay {
    NodeId requester = 0;
    std::string requester_address;
    uint64_t orig_seq = 0;
    Time deadline{0};
  };
  struct ServedSnapshot {
    VersionVector vv;
    std::vector<std::vector<LogEntry>> chunks;
    Time expires{0};
  };
  struct SnapshotPull {
    NodeId from = 0;
    std::string address;
    uint64_t id = 0;
    uint32_t next = 0;
    uint32_t total = 0;
    VersionVector vv;
    std::vector<LogEntry> entries;
    Time deadline{0};
  };
  struct PendingRequest {
    NodeId to = 0;
    Time deadline{0};
  };

  // A transmit-limited broadcast queue: fewest transmissions first, newest first among equals.
  template <typename T>
  class BroadcastQueue {
   public:
    void push(T item, size_t size, uint64_t key, bool keyed);
    // Appends items that fit `budget` (decremented) and counts a transmission for each;
    // items reaching `limit` transmissions are dropped.
    void fill(std::vector<T>& out, size_t& budget, int limit);
    bool empty() const { return order_.empty(); }
    size_t size() const { return order_.size(); }
    void trim(size_t max_items);

   private:
    struct Item {
      T value;
      size_t size;
      int transmits;
      uint64_t serial;
      uint64_t key;
      bool keyed;
    };
    struct Less {
      bool operator()(const Item* a, const Item* b) const {
        if (a->transmits != b->transmits) return a->transmits < b->transmits;
        return a->serial > b->serial;
      }
    };
    std::set<Item*, Less> order_;
    std::unordered_map<uint64_t, Item*> by_key_;
    std::unordered_map<uint64_t, std::unique_ptr<Item>> items_;  // by serial; owns the items
    uint64_t serial_ = 0;
    void erase(Item* item);
  };

  // messages
  // Queues a message; false (nothing queued) when the address is empty.
  bool send(NodeId to, const std::string& address, Body body, bool piggyback);
  // Where to answer a message: its sender address, or the member table's.
  std::string reply_address(const Message& m) const;
  void handle(const Ping& b, const Message& m, Time now);
  void handle(const Ack& b, const Message& m, Time now);
  void handle(const PingReq& b, const Message& m, Time now);
  void handle(const Nack& b, const Message& m, Time now);
  void handle(const Gossip& b, const Message& m, Time now);
  void handle(const SyncDigest& b, const Message& m, Time now);
  void handle(const SyncVector& b, const Message& m, Time now);
  void handle(const SyncEntries& b, const Message& m, Time now);
  void handle(const SnapshotRequest& b, const Message& m, Time now);
  void handle(const SnapshotChunk& b, const Message& m, Time now);
  void handle(const SpaceRequest& b, const Message& m, Time now);
  void handle(const SpaceAnswer& b, const Message& m, Time now);
  void handle(const Refuse& b, const Message& m, Time now);

  // membership
  void apply_update(const MemberUpdate& u, Time now, bool from_merge, NodeId sender);
  void apply_alive(const MemberUpdate& u, Time now);
  void apply_suspect(NodeId id, uint64_t incarnation, NodeId from, Time now);
  void apply_dead(const MemberUpdate& u, Time now);
  void refute(uint64_t accused_incarnation, Time now);
  void set_state(Rec& rec, MemberState state, Time now, bool is_new = false);
  void broadcast_member(const Rec& rec, MemberUpdate::Kind kind, NodeId from, bool eager);
  MemberUpdate update_of(const Member& m, NodeId from) const;
  std::vector<MemberUpdate> full_state(Time now) const;
  void clear_suspicion(Rec& rec);
  void set_suspicion_deadline(Rec& rec, Time deadline);
  void add_live(NodeId id);
  void remove_live(NodeId id);
  NodeId next_probe_target();
  std::vector<NodeId> random_live(size_t k, NodeId exclude_a, NodeId exclude_b);
  Time scaled(Time t) const { return t * (awareness_ + 1); }
  void adjust_awareness(int delta);
  int retransmit_limit(int mult) const;
  const Rec* find(NodeId id) const;

  // log
  // Returns true when some entry arrived after a gap.
  bool receive_entries(NodeId from, const std::vector<LogEntry>& entries, bool fresh);
  void start_sync(NodeId peer, const std::string& address, bool push_pull, bool join, Time now);
  struct Missing {
    std::vector<LogEntry> entries;
    bool more = false;
    bool compacted = false;
  };
  Missing collect_missing(const VersionVector& theirs, const VersionVector& mine);
  void on_snapshot_offer(NodeId from, const std::string& address, Time now);
  void resync_handed();

  // timers
  void run_probe(Time now);
  void run_gossip(Time now);
  void flush_eager(Time now);
  void found_cluster(Time now);
  void send_joins(Time now);

  Config config_;
  ReplicatedLog& log_;
  std::mt19937_64 rng_;
  uint64_t cluster_id_ = 0;
  bool joining_ = false;
  bool leaving_ = false;
  std::vector<std::string> seeds_;

  Member self_;
  std::map<NodeId, Rec> members_;                       // others, not self
  std::vector<NodeId> live_;                            // alive or suspect others
  std::set<std::pair<Time, NodeId>> suspicion_timers_;  // deadline of every suspicion
  std::unordered_map<NodeId, size_t> live_index_;
  std::vector<NodeId> probe_order_;
  std::vector<NodeId> verify_next_;  // suspects to probe before the round-robin order
  size_t probe_pos_ = 0;
  std::deque<std::pair<Time, NodeId>> recently_dead_;
  int awareness_ = 0;

  std::optional<Probe> probe_;
  std::map<uint64_t, Relay> relays_;
  uint64_t next_seq_ = 1;

  BroadcastQueue<MemberUpdate> member_queue_;
  BroadcastQueue<LogEntry> event_queue_;
  std::vector<MemberUpdate> eager_updates_;
  std::vector<LogEntry> eager_entries_;

  VersionVector handed_;  // per origin: highest seq handed to the owner (or in the log)
  VersionVector stale_handed_;
  std::map<NodeId, std::map<uint64_t, LogEntry>> pending_;
  size_t pending_count_ = 0;

  std::map<uint64_t, ServedSnapshot> served_;
  std::optional<SnapshotPull> pull_;
  std::map<NodeId, Time> snapshot_required_reported_;
  std::map<uint64_t, PendingRequest> requests_;
  uint64_t next_request_id_ = 1;

  Time last_gap_pull_{-1000000000};
  Time next_probe_{0}, next_gossip_{0}, next_ae_{0}, next_push_pull_{0}, next_reconnect_{0},
      next_join_{0};

  std::vector<Outgoing> outbox_;
  std::vector<Effect> effects_;
  CoreStats stats_;
};

}  // namespace trellis::gossip
