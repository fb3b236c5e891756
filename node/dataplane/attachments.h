#pragma once
// Attachments: the reconcile pass's model of the sandbox side of the data plane — each
// sandbox's namespace, default route and generated files as last programmed, and each joined
// endpoint's interface in it with the plane (driver) that made it. The pass rebuilds it from
// the kernel at start-up and owns it; the planes read it and record the interfaces they make.
// Removing an interface goes through the plane that made it (its outer end is that plane's
// business); one no plane claimed after a crash is removed by deleting its sandbox end.
//
// Threads: the daemon's I/O thread (owned by the KernelReconciler).

#include <map>
#include <optional>
#include <string>
#include <utility>

#include "node/dataplane/netops.h"
#include "node/dataplane/paths.h"

namespace trellis::node {

class NetworkPlane;

using DefaultRoute = std::pair<std::string, std::string>;  // (gateway, link)

struct SandboxRecord {
  bool ns = false;                      // the namespace file is bound
  std::optional<DefaultRoute> route;    // as programmed
  std::string hosts, resolv, hostname;  // last written contents
};

struct JoinRecord {
  std::string sandbox;    // "" for an outer end whose sandbox end was not found
  std::string network;    // network id ("" if unknown)
  std::string host_link;  // the outer end (for inspect), "" if none or unknown
  std::string ifname;     // ethN in the sandbox
  std::string address;
  std::string mac;
  bool up = false;
  NetworkPlane* plane = nullptr;  // made or adopted by; null: found after a crash, unclaimed
};

class Attachments {
 public:
  // `ops` must outlive the model.
  Attachments(NetOps& ops, RunPaths paths) : ops_(ops), paths_(std::move(paths)) {}

  void clear();

  std::map<std::string, SandboxRecord>& sandboxes() { return sandboxes_; }
  const std::map<std::string, SandboxRecord>& sandboxes() const { return sandboxes_; }
  std::map<std::string, JoinRecord>& joins() { return joins_; }
  const std::map<std::string, JoinRecord>& joins() const { return joins_; }
  // nullptr when not modelled.
  JoinRecord* join(const std::string& endpoint_id);
  const JoinRecord* join(const std::string& endpoint_id) const;
  SandboxRecord* sandbox(const std::string& sandbox_id);

  // The namespace file of a sandbox.
  std::string netns(const std::string& sandbox_id) const {
    return paths_.sandbox_netns(sandbox_id);
  }
  // The first ethN not used in the sandbox.
  std::string next_ifname(const std::string& sandbox_id) const;

  // Removes the endpoint's interface (through its plane) and forgets it; the sandbox's
  // default route goes with it when it used the interface (as the kernel drops it).
  void remove_join(const std::string& endpoint_id);
  // Forgets the interface without kernel work (the kernel removed it with its namespace).
  void forget_join(const std::string& endpoint_id);
  // Forgets the sandbox's default route when it goes through `link` (the link is gone).
  void forget_route_via(const std::string& sandbox_id, const std::string& link);

 private:
  NetOps& ops_;
  RunPaths paths_;
  std::map<std::string, SandboxRecord> sandboxes_;  // sandbox id -> namespace and files
  std::map<std::string, JoinRecord> joins_;         // endpoint id -> interface
};

}  // namespace trellis::node
