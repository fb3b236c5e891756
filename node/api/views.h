#pragma once
// JSON views of the control layer's objects for the HTTP API (docs/api.md): networks,
// endpoints, sandboxes, nodes with their shares of every space, and the node's info. Views
// only read; they never decide anything. Thread: the daemon's I/O thread (they read the
// controller's state cache).

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "node/cluster/service.h"
#include "node/control/controller.h"

namespace trellis::node::api {

using nlohmann::json;

// What /info says about the process besides the state.
struct ProcessInfo {
  std::string version;
  std::string data_dir;
  std::string run_dir;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

class Views {
 public:
  explicit Views(const Controller& c) : c_(c) {}

  json network(const store::NetworkInfo& n) const;
  json endpoint(const store::EndpointInfo& e) const;
  json sandbox(const store::SandboxInfo& sb) const;
  json info(const ProcessInfo& process) const;
  // GET /nodes: every node the state or the membership knows, with its share of every space.
  json nodes(const std::vector<ClusterMember>& members) const;
  // GET /cluster/members: gossip's view (members_to_json), except that a member whose node
  // record says removed shows "removed", whatever gossip says of it.
  json members(const std::vector<ClusterMember>& members) const;

 private:
  const Controller& c_;
};

}  // namespace trellis::node::api
