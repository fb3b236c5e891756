#pragma once
// Which other nodes count as alive: gossip's alive and suspect members (a suspect may still
// answer). The cluster's membership holds this set once (node/cluster/membership.h); the
// controller reads it to choose donors of space and to refuse removing a live node. The data
// plane does not: a dead node's endpoints stay programmed (overlay/peer_table.h). Nobody
// pushes copies of it around.
//
// Threads: read on the daemon's I/O thread, where the membership is updated too.

#include <set>

#include "store/event.h"

namespace trellis::node {

class LiveNodes {
 public:
  virtual ~LiveNodes() = default;
  // The other live nodes; never contains this node.
  virtual std::set<store::NodeId> live_nodes() const = 0;
};

// A node without clustering: no other node is alive.
class NoLiveNodes final : public LiveNodes {
 public:
  std::set<store::NodeId> live_nodes() const override { return {}; }
};

// A set held by the caller (tests, tools): what was last set.
class FixedLiveNodes final : public LiveNodes {
 public:
  std::set<store::NodeId> live_nodes() const override { return live_; }
  void set(std::set<store::NodeId> live) { live_ = std::move(live); }

 private:
  std::set<store::NodeId> live_;
};

}  // namespace trellis::node
