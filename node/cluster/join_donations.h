#pragma once
// Join donations (docs/overlay.md sec. 3): when a member appears alive, the live member with the
// most free integers of a cluster space ("vni", "subnet-pool") donates it a share, so every node
// can create overlay networks even while partitioned. Each node runs this for itself and authors
// only its own share (overlay::plan_join_donations decides; usually nothing). Members whose
// appearance raced with another donation, or whose donor's view differed, are caught by
// owe_all(), which the cluster policy runs periodically.
//
// Threads: the store's writer thread. Never throws: failures are logged and the next member
// change or owe_all() tries again.

#include "node/model/live_nodes.h"
#include "node/model/local_log.h"
#include "store/store.h"

namespace trellis::node {

class JoinDonations {
 public:
  // All three must outlive this. `store` is read (and its identity is self); events are
  // authored through `writer`.
  JoinDonations(const store::Store& store, const LiveNodes& live, LocalEventWriter& writer)
      : store_(store), live_(live), writer_(writer) {}

  // `joiner` appeared alive: author this node's donations to it, if any are owed.
  void member_appeared(store::NodeId joiner);
  // The same for every live member (a no-op for those that hold their share already).
  void owe_all();

 private:
  void donate(store::NodeId joiner, const std::set<store::NodeId>& live);

  const store::Store& store_;
  const LiveNodes& live_;
  LocalEventWriter& writer_;
};

}  // namespace trellis::node
