#pragma once
// The event store (docs/event-format.md, docs/overlay.md sec. 3): per-origin append-only event logs
// in LMDB, the state tables folded from them, and the one write path that applies local and remote
// events in a single transaction. Deterministic: any interleaving of the per-origin logs that
// respects each origin's order and the events' dependencies yields byte-identical state
// (state_digest()). No networking here; gossip moves events between stores.
//
// Threads: all writes (append_local, apply_remote, install_snapshot, compact,
// set_cluster_id) are serialized by an internal mutex and are meant to come from one writer
// thread. Reads (read(), snapshot(), version_vector(), events_after(), ...) may come from any
// thread at any time; each ReadView is a consistent LMDB snapshot. Change listeners run on the
// writer's thread after commit and must not call the store's write methods.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/error.h"
#include "ipam/owned_ranges.h"
#include "store/event.h"

namespace trellis::store {

// Version of the on-disk layout written by this build. Opening a store written by a newer
// layout fails with SchemaTooNewError.
inline constexpr uint32_t kStoreSchemaVersion = 1;

// The LMDB map reached Options::max_map_size.
class MapFullError : public UnavailableError {
 public:
  using UnavailableError::UnavailableError;
};
// The file system is full (ENOSPC / EDQUOT) while writing.
class DiskFullError : public UnavailableError {
 public:
  using UnavailableError::UnavailableError;
};
// The store directory was written by a newer Trellis.
class SchemaTooNewError : public InvalidArgumentError {
 public:
  using InvalidArgumentError::InvalidArgumentError;
};
// events_after() was asked for events that compaction dropped: sync from a snapshot.
class LogCompactedError : public UnavailableError {
 public:
  using UnavailableError::UnavailableError;
};
// This node was removed from the cluster (a node-removed event names it); it may not author.
class NodeRemovedError : public ConflictError {
 public:
  using ConflictError::ConflictError;
};

using VersionVector = std::map<NodeId, uint64_t>;

struct Options {
  bool create_if_missing = true;
  bool read_only = false;  // open an existing store for inspection only
  bool durable = true;     // fsync every commit; false only for tests and tools
  uint64_t initial_map_size = uint64_t{64} << 20;
  uint64_t max_map_size = uint64_t{1} << 40;  // the map doubles up to this, then MapFullError
  // Identity used when the store is created (ignored for an existing store): a random
  // non-zero id unless node_id is set.
  NodeId node_id = 0;
  std::string node_name;
  // Events held aside (gaps, unmet dependencies) beyond this are dropped: anti-entropy
  // delivers them again.
  uint64_t max_pending = 100000;
  // Wall clock in ms for new events; defaults to the system clock.
  std::function<int64_t()> wall_clock_ms;
};

struct NodeIdentity {
  NodeId id = 0;
  std::string name;
  uint64_t cluster_id = 0;  // 0 until the node founds or joins a cluster
};

// ---- state records (what reads return) -------------------------------------------------------

struct NetworkInfo {
  NetworkCreated spec;
  NodeId creator = 0;
  NodeId owner = 0;  // the creator, or its heir after the creator was removed
  uint64_t lamport = 0;
  EventId writer;
  // Derived at read time: another network with the same name (and scope) has a lower
  // (lamport, creator) and keeps the name.
  bool name_conflict = false;
};

struct EndpointInfo {
  EndpointSpec spec;
  EventId writer;
  bool orphaned = false;  // derived: its network no longer exists
  std::string sandbox;    // the sandbox it joined, empty if none
};

struct SandboxInfo {
  SandboxCreated spec;
  NodeId owner = 0;
  EventId writer;
  std::vector<std::string> endpoints;  // joined endpoints, ascending
};

enum class NodeStatus { kActive = 0, kLeft = 1, kRemoved = 2 };
std::string to_string(NodeStatus status);

struct NodeInfo {
  NodeId id = 0;
  std::string name;
  std::string address;
  NodeStatus status = NodeStatus::kActive;
  NodeId removed_by = 0;  // kRemoved: the remover, heir of its ranges and networks
  uint64_t last_seq = 0;  // kRemoved: its events after this seq are ignored
};

struct SpaceInfo {
  std::string key;  // "vni", "subnet-pool", or network_space_key(network, pool)
  ipam::OwnedSpace space;
  EventId writer;  // the event that created the space
};

// An event that was logged but not folded because it broke a rule (ownership, unknown
// reference, duplicate id). Kept for diagnostics; not part of the state digest.
struct Rejection {
  EventId event;
  std::string body_type;
  std::string reason;
};

// What one committed write did, for the reconciler and gossip.
struct ChangeSet {
  std::vector<EventId> applied;  // appended to the log (in apply order)
  uint64_t held = 0;             // held aside (gap or unmet dependency)
  uint64_t duplicates = 0;
  std::vector<Rejection> rejected;
  std::set<std::string> networks, endpoints, sandboxes, spaces;  // ids / keys touched
  std::set<NodeId> nodes;
  bool rebuilt = false;  // the state was refolded from the log: re-read everything
};

struct Counts {
  uint64_t events = 0;  // in the log
  uint64_t pending = 0;
  uint64_t networks = 0, endpoints = 0, sandboxes = 0, joins = 0, nodes = 0, spaces = 0;
  uint64_t rejections = 0;
  uint64_t map_size = 0, map_used = 0;  // bytes
};

struct CompactionStats {
  uint64_t examined = 0;
  uint64_t dropped = 0;
};

class Store;

// A consistent read-only view of the state (an LMDB read transaction). Cheap to create;
// create one per thread and keep it briefly: the store must outlive it, and an open view
// delays map growth.
class ReadView {
 public:
  ReadView(ReadView&&) noexcept;
  ReadView& operator=(ReadView&&) noexcept;
  ~ReadView();

  std::optional<NetworkInfo> network(const std::string& id) const;
  // The network that holds `name`: cluster-scope first, then `local_node`'s local networks.
  std::optional<NetworkInfo> network_by_name(const std::string& name, NodeId local_node) const;
  std::vector<NetworkInfo> networks() const;
  std::optional<EndpointInfo> endpoint(const std::string& id) const;
  std::vector<EndpointInfo> endpoints() const;
  std::vector<EndpointInfo> endpoints_of_network(const std::string& network_id) const;
  std::optional<SandboxInfo> sandbox(const std::string& id) const;
  std::vector<SandboxInfo> sandboxes() const;
  std::optional<NodeInfo> node(NodeId id) const;
  std::vector<NodeInfo> nodes() const;
  std::optional<SpaceInfo> space(const std::string& key) const;
  std::vector<std::string> space_keys() const;

  VersionVector version_vector() const;
  // Hex digest of every state table (not the log, heads or diagnostics).
  std::string state_digest() const;

 private:
  friend class Store;
  struct Impl;
  explicit ReadView(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The compacted log for syncing a new node: the events that still contribute to the state,
// in the order this store applied them (a causal order), plus the version vector they
// represent. Installing them (Store::install_snapshot) yields this store's state. Holds an
// LMDB read transaction (like ReadView): the store must outlive it, and the thread holding it
// must not write to the store.
class Snapshot {
 public:
  Snapshot(Snapshot&&) noexcept;
  Snapshot& operator=(Snapshot&&) noexcept;
  ~Snapshot();

  const VersionVector& version_vector() const;
  // Up to `limit` further events; empty when done.
  std::vector<Event> next(size_t limit);

 private:
  friend class Store;
  struct Impl;
  explicit Snapshot(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class Store {
 public:
  // Opens (or creates) the store in directory `dir` (created if missing). Throws
  // SchemaTooNewError for a newer layout, NotFoundError when it does not exist and
  // create_if_missing is false, InternalError for LMDB failures.
  static Store open(const std::string& dir, Options options = {});

  Store(Store&&) noexcept;
  Store& operator=(Store&&) noexcept;
  ~Store();

  NodeIdentity identity() const;
  void set_cluster_id(uint64_t cluster_id);

  // Authors an event in this node's log: assigns seq, lamport, wall time and dependencies,
  // applies it, and returns once it is durable. Throws what the reducer would reject it for
  // (ipam::NotOwnerError, ConflictError, InvalidArgumentError, NotFoundError) with nothing
  // written; NodeRemovedError if this node was removed.
  Event append_local(Body body);
  // Several events in one transaction; all or nothing.
  std::vector<Event> append_local(std::vector<Body> bodies);

  // Applies other nodes' events in one transaction. Duplicates are ignored, events after a
  // gap or with unmet dependencies are held aside until they can be applied, events that
  // break a rule are logged and reported (ChangeSet::rejected). An event whose identity is
  // impossible (InconsistentEventError) fails the whole call with nothing written.
  ChangeSet apply_remote(const std::vector<Event>& events);
  // As apply_remote, from encoded events; CorruptDataError / UnsupportedSchemaError for a
  // bad buffer, with nothing written.
  ChangeSet apply_remote_encoded(const std::vector<std::string>& encoded);

  VersionVector version_vector() const;
  // Below this per origin, events may have been compacted away.
  VersionVector compacted_floors() const;
  uint64_t lamport() const;
  // Events of `origin` with seq > after, ascending, at most `limit`. LogCompactedError when
  // after < compacted floor of the origin.
  std::vector<Event> events_after(NodeId origin, uint64_t after, size_t limit) const;
  std::optional<Event> event(EventId id) const;

  ReadView read() const;
  std::string state_digest() const;
  // Refolds the whole log from scratch in a scratch transaction (discarded) and returns the
  // digest of that state; equals state_digest() unless something is broken.
  std::string digest_from_scratch() const;

  // The compacted log (see Snapshot).
  Snapshot snapshot() const;
  // Installs a snapshot into a store that has applied nothing yet (ConflictError otherwise):
  // folds `events` in the given order and sets the heads and compacted floors to `vv`. One
  // transaction: very large snapshots are bounded by LMDB's dirty-page limit.
  void install_snapshot(const VersionVector& vv, const std::vector<Event>& events);

  // Drops events at or below `stable` (per origin) that no longer contribute to the state:
  // older events of a resource superseded by a later one, and tombstones. State is
  // unchanged; events_after() below the new floors throws LogCompactedError.
  CompactionStats compact(const VersionVector& stable);

  Counts counts() const;
  std::vector<Rejection> rejections(size_t limit) const;
  // Events held aside, ascending by (origin, seq).
  std::vector<EventId> pending() const;

  // Called after each committed write with what changed. One listener; nullptr clears it.
  void set_change_listener(std::function<void(const ChangeSet&)> listener);

  struct Impl;

 private:
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace trellis::store
