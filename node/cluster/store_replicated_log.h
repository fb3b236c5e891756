#pragma once
// The event store as the gossip core's replicated log: gossip::ReplicatedLog over
// store::Store for the reads the core makes (version vector, entries to send, the compacted
// snapshot), plus the two writes the core asks for through its effects (apply remote entries,
// install a snapshot). gossip/ never links store/; this adapter is where the two meet.
//
// Threads: the ReplicatedLog methods are called on the gossip thread and only read the store
// (store reads are safe from any thread). apply() and install() write: call them on the
// store's writer thread (the daemon's I/O thread), never on the gossip thread.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "gossip/replicated_log.h"
#include "store/store.h"

namespace trellis::node {

// What StoreReplicatedLog::apply did.
struct RemoteApply {
  store::ChangeSet changes;
  // Entries dropped because they could not be decoded or named an impossible identity
  // (a newer schema, corrupt bytes, a forged event of ours). The rest were applied.
  size_t dropped = 0;
};

class StoreReplicatedLog : public gossip::ReplicatedLog {
 public:
  // `store` must outlive the adapter.
  explicit StoreReplicatedLog(store::Store& store);

  // ---- gossip::ReplicatedLog (gossip thread, reads only) ----
  // The store's heads (origin -> highest contiguous seq applied; held events do not count).
  gossip::VersionVector version_vector() const override;
  // The origin's events after `after`, each re-encoded with store::encode_event, stopping
  // before the encoded total would pass max_bytes (at least one entry when any exists);
  // `compacted` when `after` is below the origin's compaction floor.
  gossip::LogRead entries_after(gossip::NodeId origin, uint64_t after,
                                size_t max_bytes) const override;
  // The store's compacted log (store::Store::snapshot), encoded, in apply order.
  gossip::LogSnapshot snapshot() const override;
  // True while the store has applied nothing (store::Store::install_snapshot's condition).
  bool can_install_snapshot() const override;

  // ---- writes (store writer thread) ----
  // Applies remote entries in one transaction: duplicates are ignored, entries after a gap or
  // with unmet dependencies are held by the store. An entry that cannot be decoded or is
  // impossible would fail the whole batch, so on such a failure the batch is applied again
  // without it (entry by entry) and it is counted in `dropped`. Store failures other than bad
  // input (disk full, LMDB errors) propagate.
  RemoteApply apply(const std::vector<gossip::LogEntry>& entries);
  // Installs a peer's compacted log. ConflictError when the store already has events;
  // CorruptDataError / InconsistentEventError for bad entries (nothing written).
  void install(const gossip::LogSnapshot& snapshot);

  store::Store& store() const { return store_; }

 private:
  store::Store& store_;
};

}  // namespace trellis::node
