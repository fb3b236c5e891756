#pragma once
// Internal to store/: the LMDB tables, the write batch (one write transaction with its caches)
// and the reducer that folds events into the state tables. Included only by store's .cpp
// files. The table layout is documented in docs/event-format.md ("Store layout").

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "ipam/owned_ranges.h"
#include "store/lmdb_handles.h"
#include "store/store.h"

namespace trellis::store {

// Named databases. The state tables are exactly those listed in kStateTables; everything
// else is the log, its indexes, or local bookkeeping.
struct Tables {
  MDB_dbi meta = 0;        // "schema", "identity", "lamport", "counter", "authored"
  MDB_dbi log = 0;         // origin|seq -> counter(8) + encoded event
  MDB_dbi order = 0;       // counter -> origin|seq (apply order)
  MDB_dbi heads = 0;       // origin -> seq
  MDB_dbi floors = 0;      // origin -> compacted-through seq
  MDB_dbi pending = 0;     // origin|seq -> encoded event (held aside)
  MDB_dbi rejections = 0;  // origin|seq -> [body type, reason]
  MDB_dbi tombstones = 0;  // tombstone origin|seq -> origin|seq of the record writer it deleted
  // State.
  MDB_dbi networks = 0;              // id -> record
  MDB_dbi network_names = 0;         // scope(8)|name|0|lamport(8)|creator(8)|id -> ""
  MDB_dbi endpoints = 0;             // id -> record
  MDB_dbi endpoints_by_network = 0;  // network|0|endpoint -> ""
  MDB_dbi sandboxes = 0;             // id -> record
  MDB_dbi joins = 0;                 // endpoint -> record
  MDB_dbi joins_by_sandbox = 0;      // sandbox|0|endpoint -> ""
  MDB_dbi spaces = 0;                // key -> record
  MDB_dbi space_events = 0;          // key|0|origin|seq -> "" (effective donations)
  MDB_dbi nodes = 0;                 // id(8) -> record
};

// State tables in digest order, with their names.
std::vector<std::pair<const char*, MDB_dbi Tables::*>> state_tables();

// ---- records --------------------------------------------------------------------------------

struct NetworkRecord {
  NodeId creator = 0;
  NodeId owner = 0;
  uint64_t lamport = 0;
  EventId writer;
  NetworkCreated spec;
};
std::string encode_network(const NetworkRecord& r);
NetworkRecord decode_network(std::string_view bytes);

struct EndpointRecord {
  EventId writer;
  EndpointSpec spec;
};
std::string encode_endpoint(const EndpointRecord& r);
EndpointRecord decode_endpoint(std::string_view bytes);

struct SandboxRecord {
  NodeId owner = 0;
  EventId writer;
  SandboxCreated spec;
};
std::string encode_sandbox(const SandboxRecord& r);
SandboxRecord decode_sandbox(std::string_view bytes);

struct JoinRecord {
  std::string sandbox;
  EventId writer;
};
std::string encode_join(const JoinRecord& r);
JoinRecord decode_join(std::string_view bytes);

struct SpaceRecord {
  EventId writer;
  uint64_t writer_lamport = 0;
  ipam::OwnedSpace space{0, 0, 1};
};
std::string encode_space(const SpaceRecord& r);
SpaceRecord decode_space(std::string_view bytes);

struct NodeRecord {
  std::string name;
  std::string address;
  NodeStatus status = NodeStatus::kActive;
  NodeId removed_by = 0;
  uint64_t last_seq = 0;
  EventId info_writer;    // node-announced
  EventId status_writer;  // node-announced / node-left / node-removed
};
std::string encode_node(const NodeRecord& r);
NodeRecord decode_node(std::string_view bytes);

std::string name_key(NodeId scope, std::string_view name, uint64_t lamport, NodeId creator,
                     std::string_view id);
std::string name_prefix(NodeId scope, std::string_view name);
std::string pair_key(std::string_view a, std::string_view b);  // a|0|b

// ---- the write path -------------------------------------------------------------------------

// The outcome of folding one event.
struct FoldResult {
  enum Kind { kApplied, kSkipped, kRejected, kRebuilt } kind = kApplied;
  ErrorKind error_kind = ErrorKind::kInternal;
  bool not_owner = false;
  std::string reason;
};

// Which node-removed and space-initialised events are effective: a function of the set of
// events in the log, so that any apply order agrees (see docs/event-format.md).
struct Prescan {
  struct Removal {
    EventId event;
    NodeId heir = 0;
    uint64_t last_seq = 0;
  };
  std::map<NodeId, Removal> removals;          // removed node -> effective removal
  std::map<std::string, EventId> space_inits;  // space -> effective initialisation
};

class Reducer;  // the fold rules (reducer.cpp)

class WriteBatch {
 public:
  WriteBatch(Store::Impl& store);

  lmdb::Txn& txn() { return txn_; }
  const Tables& tables() const;

  // The per-event write path. Returns the fold result for appended events; nullopt when the
  // event was a duplicate or was held aside.
  std::optional<FoldResult> apply(const Event& event, std::string_view encoded, bool local);
  // Applies whatever pending events became applicable.
  void drain_pending();
  // Appends + folds an event during snapshot installation (no contiguity/deps checks).
  void install(const Event& event, std::string_view encoded);

  // Clears the state tables and refolds the whole log in apply order.
  void rebuild();
  // Writes cached spaces, heads, clocks; the caller commits.
  void flush();

  uint64_t head(NodeId origin) const;
  void set_head(NodeId origin, uint64_t seq);
  std::map<NodeId, uint64_t>& heads() { return heads_; }
  uint64_t lamport() const { return lamport_; }
  uint64_t counter() const { return counter_; }
  void witness(uint64_t lamport) { lamport_ = std::max(lamport_, lamport); }
  ChangeSet& changes() { return changes_; }

 private:
  friend class Reducer;  // folds through the caches and the prescan below

  void append(const Event& event, std::string_view encoded);
  FoldResult fold(const Event& event, bool rebuilding);
  bool deps_met(const Event& event) const;
  void hold(const Event& event, std::string_view encoded);
  void reject(const Event& event, const FoldResult& r);
  // Remembers which event wrote the record a tombstone deleted (compaction keeps the
  // tombstone while that event is still in the log).
  void note_tombstone(const Event& tombstone, const EventId& deleted_writer);

  // Space cache: loaded on first use, written by flush().
  struct CachedSpace {
    std::optional<SpaceRecord> record;  // nullopt: absent / deleted
    bool dirty = false;
  };
  CachedSpace& space_entry(const std::string& key);
  // Network records read during this batch (decoding one per endpoint event is the
  // dominant cost of a batch otherwise); writes go through network_put/network_del.
  const std::optional<NetworkRecord>& network_get(const std::string& id);
  void network_put(const NetworkRecord& r);
  void network_del(const std::string& id);
  // Cutoff of a removed node (nullopt: not removed), cached per batch.
  std::optional<uint64_t> removed_cutoff(NodeId node);
  void load_all_spaces();

  Store::Impl& store_;
  lmdb::Txn txn_;
  std::map<NodeId, uint64_t> heads_;
  std::set<NodeId> dirty_heads_;
  uint64_t lamport_ = 0;
  uint64_t counter_ = 0;
  uint64_t pending_count_ = 0;
  std::map<std::string, CachedSpace> spaces_;
  std::map<std::string, std::optional<NetworkRecord>> networks_;
  std::map<NodeId, std::optional<uint64_t>> removed_;
  std::optional<Prescan> prescan_;  // set while rebuilding
  ChangeSet changes_;
};

struct Store::Impl {
  std::string dir;
  Options options;
  lmdb::Env env;
  Tables tables;
  NodeIdentity identity;

  // Committed values, updated only after a successful commit.
  std::map<NodeId, uint64_t> heads;
  uint64_t lamport = 0;
  uint64_t counter = 0;
  uint64_t map_size = 0;

  std::mutex write_mutex;                  // serializes writers
  mutable std::shared_mutex resize_mutex;  // shared: live read txns; exclusive: map growth
  mutable std::mutex committed_mutex;      // guards heads/lamport/counter for readers
  std::function<void(const ChangeSet&)> listener;

  // Runs `body` in a write transaction, committing at the end; grows the map and retries
  // when it is full. `body` must be restartable (it sees a fresh batch each attempt).
  void write(const std::function<void(WriteBatch&)>& body);
  lmdb::Txn begin_read() const;
  void grow_map();
};

}  // namespace trellis::store
