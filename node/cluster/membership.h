#pragma once
// The live set, held once (node/model/live_nodes.h): the other members gossip reports alive or
// suspect, kept up to date from the cluster service's member changes. The controller reads it
// to choose donors of space and to refuse removing a live node, the join donations to find the
// donor. Nobody copies it. (The data plane does not read it: see overlay/peer_table.h.)
//
// Threads: the store's writer thread (the daemon's I/O thread), where member changes arrive
// and the readers run. Never throws.

#include <set>

#include "node/cluster/service.h"
#include "node/model/live_nodes.h"

namespace trellis::node {

// What one member change did to the live set.
struct MembershipUpdate {
  // The live set gained or lost a member.
  bool live_set_changed = false;
  // Another member became alive (new, or back from suspect, dead or left): the moment a join
  // donation may be owed to it.
  bool appeared_alive = false;
};

class Membership final : public LiveNodes {
 public:
  // Takes one member change into account. This node's own member (ClusterMember::self) is
  // never in the live set, whatever gossip reports about it.
  MembershipUpdate apply(const MemberChange& change);
  std::set<store::NodeId> live_nodes() const override { return live_; }

 private:
  std::set<store::NodeId> live_;
};

}  // namespace trellis::node
