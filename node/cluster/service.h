#pragma once
// The cluster service of trellisd: membership and log replication (docs/gossip.md,
// docs/event-format.md) wired to the event store. It runs a gossip::GossipNode (protocol core +
// ZeroMQ transport on its own thread) over the store (node/cluster/store_replicated_log.h), pushes
// this node's newly committed events out, applies remote events and snapshots into the store,
// persists the cluster id, and reports what happened to its ClusterEvents (in trellisd the cluster
// policy, node/cluster/cluster_policy.h).
//
// Threads:
//  - The gossip thread (inside GossipNode) reads the store and turns effects into tasks.
//  - Every store write and every ClusterEvents call runs on the store's writer thread:
//    ClusterOptions::post runs tasks there (in trellisd: asio::post to the I/O thread that
//    owns the controller). Without `post`, the service runs a writer thread of its own
//    (tests, tools).
//  - Public methods are thread-safe unless stated. start() and stop() are meant for the
//    owner's thread; neither may be called from inside a ClusterEvents call.
// The store must outlive the service. Logs to the "cluster" logger (common/log.h).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gossip/node.h"
#include "gossip/types.h"
#include "store/store.h"

namespace trellis::node {

class StoreReplicatedLog;

// One member as this node sees it.
struct ClusterMember {
  gossip::NodeId id = 0;
  std::string name;
  std::string address;  // gossip "host:port"
  gossip::MemberState state = gossip::MemberState::kAlive;
  uint64_t incarnation = 0;
  // When this node saw the state change (wall clock, derived from the gossip clock).
  std::chrono::system_clock::time_point state_since;
  // When the member was last known alive: now for alive members (the failure detector
  // vouches for them), the start of the suspicion for suspects, and state_since for dead and
  // left members (approximately when they stopped answering or left).
  std::chrono::system_clock::time_point last_seen;
  bool self = false;
};

struct MemberChange {
  ClusterMember member;
  gossip::MemberState previous = gossip::MemberState::kAlive;
  bool is_new = false;
};

// One origin's log as applied here.
struct OriginHead {
  gossip::NodeId origin = 0;
  std::string name;    // from the origin's node-announced event, if applied
  uint64_t head = 0;   // highest contiguous seq applied
  uint64_t floor = 0;  // compacted through this seq
  bool self = false;
};

struct LogStatus {
  gossip::NodeId self = 0;
  uint64_t cluster_id = 0;
  std::vector<OriginHead> origins;  // the version vector, ascending by origin
  uint64_t events = 0;              // events in the local log (after compaction)
  uint64_t pending = 0;             // remote events held (gap or unmet dependency)
  uint64_t published_seq = 0;       // highest local seq handed to gossip
  // A fresh store holds remote entries in case the join brings a snapshot
  // (ClusterOptions::fresh_store_hold).
  bool holding_for_snapshot = false;
};

// Counters of the service (monotonic), beside the gossip node's.
struct ClusterCounters {
  uint64_t apply_batches = 0;     // remote apply transactions
  uint64_t entries_received = 0;  // entries handed over by gossip for applying
  uint64_t events_applied = 0;    // of which newly appended to the log
  uint64_t entries_dropped = 0;   // undecodable or impossible entries
  uint64_t entries_overflow = 0;  // dropped because the apply queue was full (refetched)
  uint64_t apply_failures = 0;    // apply transactions that failed (store error)
  uint64_t snapshots_installed = 0;
  uint64_t snapshot_failures = 0;
  uint64_t local_published = 0;  // local events handed to gossip
};

struct ClusterStats {
  gossip::NodeStats gossip;
  ClusterCounters service;
};

struct SpaceRequest {
  gossip::NodeId from = 0;
  uint64_t request_id = 0;
  std::string payload;
};

// The answer to request_space(), or its failure (no answer within the gossip timeout).
struct SpaceAnswer {
  gossip::NodeId from = 0;
  uint64_t request_id = 0;
  std::optional<std::string> payload;  // nullopt: failed
};

struct ClusterOptions {
  // Member name; empty: the store identity's name.
  std::string node_name;
  // The gossip address peers use: "IP" or "IP:PORT" (the port defaults to the listen port).
  // Empty: the listen address, which then must name a specific IP.
  std::string advertise_addr;
  // Where the gossip socket binds: "IP" or "IP:PORT" (port default 7946, 0 = any free port).
  // Empty: the advertise IP, port 7946.
  std::string listen_addr;
  // Seeds "HOST[:PORT]" (port default 7946). Empty: found a cluster when the store has no
  // cluster id, otherwise wait to be contacted by the members.
  std::vector<std::string> join;
  // CURVE key file (gossip/cluster_key.h); empty: plaintext.
  std::string cluster_key_file;
  // How long start() waits for a seed to answer. After it, joining goes on in the background.
  std::chrono::milliseconds join_timeout{5000};
  // How long stop() keeps gossiping so the leave announcement spreads.
  std::chrono::milliseconds leave_grace{600};
  // Protocol timings and limits. Identity fields (node_id, name, address, cluster_id, seeds,
  // initial_incarnation, random_seed) are filled in by the service.
  gossip::Config protocol;
  // Transport limits; listen_address and keys are filled in by the service.
  gossip::TransportOptions transport;
  // Remote entries queued for the writer beyond this are dropped (anti-entropy refetches).
  size_t max_apply_queue = 100000;
  // A node that starts with an empty store holds remote entries this long after joining
  // before applying them: the join's sync may bring a snapshot (when peers compacted their
  // logs), which the store accepts only while empty, and entries piggybacked on the first
  // gossip must not get there first.
  std::chrono::milliseconds fresh_store_hold{2000};

  // Runs a task on the store's writer thread, in order. Empty: an internal writer thread.
  std::function<void(std::function<void()>)> post;
};

// What the service reports to its owner. Every call runs on the store's writer thread, in the
// order the gossip core produced the effects, and must not throw (an exception is logged and
// dropped) nor call start() or stop().
class ClusterEvents {
 public:
  virtual ~ClusterEvents() = default;
  // Remote events were applied (or a snapshot installed): what changed. The store's change
  // listener saw the same change set first, inside the write.
  virtual void state_changed(const store::ChangeSet& changes) = 0;
  // A member appeared or changed state (this node's own member included).
  virtual void member_changed(const MemberChange& change) = 0;
  // A peer asks this node for space (docs/overlay.md sec. 3); answer with answer_space(), or not at
  // all (the requester times out).
  virtual void space_requested(const SpaceRequest& request) = 0;
  // The answer to (or failure of) one of this node's request_space() calls.
  virtual void space_answered(const SpaceAnswer& answer) = 0;
  // Once per start(), when remote events may be applied: at once for a store that had events,
  // after the fresh-store hold (or the snapshot) for an empty one. The owner appends its own
  // first events (node-announced) here, so that a fresh store can still take a snapshot.
  virtual void ready() = 0;
};

class ClusterService {
 public:
  // Validates the options (InvalidArgumentError for malformed addresses, a missing
  // advertise address); loads nothing and binds nothing yet.
  ClusterService(store::Store& store, ClusterOptions options);
  // Stops without announcing a leave (as if the process died); call stop() for a graceful
  // leave first.
  ~ClusterService();
  ClusterService(const ClusterService&) = delete;
  ClusterService& operator=(const ClusterService&) = delete;

  // Loads the cluster key, binds the gossip socket (UnavailableError naming the address when
  // it cannot) and starts gossiping, reporting to `events` until stop() (null: to nobody, and
  // space requests are left unanswered); `events` must outlive the service. With seeds, waits
  // up to join_timeout for one to answer; throws ConflictError when the seeds refused us
  // because the store belongs to another cluster. Without an answer it logs a warning and
  // keeps trying in the background.
  void start(ClusterEvents* events = nullptr);
  // Announces a graceful leave, gossips for leave_grace, then stops. Idempotent.
  void stop();
  // Stops at once without a leave (peers will detect a failure). Idempotent.
  void stop_silently();

  bool running() const;
  // A cluster was founded or joined (cluster id known and a member answered).
  bool joined() const;
  // Waits until joined() or the timeout; returns joined().
  bool wait_joined(std::chrono::milliseconds timeout) const;

  // Hands this node's events committed since the last call to gossip (eager push to a few
  // peers). Call after every local commit (Store::append_local), from any thread; cheap when
  // nothing is new. Events not handed over still spread by anti-entropy within seconds.
  void local_committed();

  // Space requests (docs/overlay.md sec. 3), passed through to gossip.
  void request_space(gossip::NodeId to, std::string payload,
                     std::function<void(uint64_t request_id)> on_sent = {});
  void answer_space(gossip::NodeId to, uint64_t request_id, std::string payload);

  gossip::NodeId node_id() const { return node_id_; }
  // The advertised gossip "host:port" (after start()).
  std::string address() const;
  uint64_t cluster_id() const;
  // Every known member, this node included, ascending by id. Empty before start().
  std::vector<ClusterMember> members() const;
  LogStatus log_status() const;
  ClusterStats stats() const;

 private:
  struct Guard;
  class WriterThread;
  // Remote entries, or a snapshot, waiting for the writer (kept in arrival order).
  struct InboxItem {
    std::vector<gossip::LogEntry> entries;
    std::optional<gossip::LogSnapshot> snapshot;
  };

  // One handler per gossip effect (gossip thread): record, then post the store work.
  void on_effect(const gossip::Effect& effect);
  void handle(const gossip::ApplyRemote& apply);
  void handle(const gossip::InstallSnapshot& install);
  void handle(const gossip::ClusterJoined& joined);
  void handle(const gossip::JoinRefused& refused);
  void handle(const gossip::MemberChanged& changed);
  void handle(const gossip::SnapshotRequired& required);
  void handle(const gossip::SpaceRequestReceived& request);
  void handle(const gossip::SpaceAnswerReceived& answer);
  void handle(const gossip::SpaceRequestFailed& failed);

  // Start-up steps.
  gossip::NodeOptions node_options(const store::NodeIdentity& identity,
                                   std::optional<gossip::ClusterKeys> keys) const;
  void reset_run_state(const store::NodeIdentity& identity);
  void wait_for_join(const store::NodeIdentity& identity);

  void post(std::function<void()> task);  // to the writer thread, guarded
  void drain_inbox();                     // writer thread
  bool holding() const;                   // a fresh store still holds remote entries
  void apply_held();                      // writer thread
  void install_snapshot(const gossip::LogSnapshot& snapshot);  // writer thread
  void run_hold_timer();                                       // hold timer thread
  void maybe_ready();                                          // writer thread
  ClusterMember convert(const gossip::Member& m) const;
  void stop_impl(bool leave);
  std::shared_ptr<gossip::GossipNode> current_node() const;

  store::Store& store_;
  ClusterOptions options_;
  ClusterEvents* events_ = nullptr;  // set by start(); calls run on the writer thread
  gossip::NodeId node_id_ = 0;
  std::string listen_address_;     // resolved "ip:port"
  std::string advertise_address_;  // resolved "ip:port" (port may be 0 until bound)
  std::vector<std::string> seeds_;

  std::unique_ptr<StoreReplicatedLog> log_;
  std::unique_ptr<WriterThread> writer_;  // only without options_.post
  std::shared_ptr<Guard> guard_;          // lets queued tasks outlive the service safely
  // The wall clock when the gossip clock (steady, from the node's construction) read zero.
  std::chrono::system_clock::time_point wall_epoch_;

  mutable std::mutex mu_;  // guards everything below
  mutable std::condition_variable joined_cv_;
  std::shared_ptr<gossip::GossipNode> node_;  // set while running
  bool running_ = false;
  bool joined_ = false;
  uint64_t cluster_id_ = 0;
  std::vector<gossip::JoinRefused> refusals_;  // seeds that answered "another cluster"
  std::deque<InboxItem> inbox_;
  size_t inbox_entries_ = 0;
  bool drain_scheduled_ = false;
  ClusterCounters counters_;

  // Writer thread only: remote entries waiting to be applied (held while the store is fresh).
  std::vector<gossip::LogEntry> held_;
  // The store was empty at start and nothing was applied yet (written on the writer thread,
  // read anywhere).
  std::atomic<bool> fresh_{false};
  bool ready_ = false;  // ready() was reported for this start (writer thread)
  // Fresh stores: when holding ends (set on joining; guarded by mu_), and the thread that
  // drains the held entries then.
  std::optional<std::chrono::steady_clock::time_point> hold_until_;
  bool hold_timer_stop_ = false;
  std::condition_variable hold_cv_;
  std::thread hold_timer_;

  mutable std::mutex publish_mu_;  // serializes local_committed(); guards published_seq_
  uint64_t published_seq_ = 0;
};

}  // namespace trellis::node
