#pragma once
// SpaceRequester over the cluster service: space requests travel over gossip
// (ClusterService::request_space). The answers come back through the cluster's callbacks and
// are handed to PendingOperations::on_answer by the daemon.

#include "node/cluster/service.h"
#include "node/control/pending_operations.h"

namespace trellis::node {

class ClusterSpaceRequester final : public SpaceRequester {
 public:
  // `cluster` must outlive the requester.
  explicit ClusterSpaceRequester(ClusterService& cluster) : cluster_(cluster) {}
  void request_space(store::NodeId owner, std::string payload,
                     std::function<void(uint64_t request_id)> on_sent) override {
    cluster_.request_space(owner, std::move(payload), std::move(on_sent));
  }

 private:
  ClusterService& cluster_;
};

}  // namespace trellis::node
