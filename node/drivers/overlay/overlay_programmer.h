#pragma once
// OverlayProgrammer: the seam between the overlay driver's data-plane half (OverlayPlane) and its
// kernel half (overlay::OverlayHost, docs/overlay.md). Production forwards to one OverlayHost; the
// reconciler's unit tests use an in-memory fake. Containers are named by the path of their
// bound namespace file, as in NetOps.
//
// Threads: the daemon's I/O thread (the thread that created it: its namespace is the host's).

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "ipam/ip.h"
#include "overlay/overlay_network.h"
#include "overlay/peer_table.h"

namespace trellis::node {

class OverlayProgrammer {
 public:
  virtual ~OverlayProgrammer() = default;

  virtual const overlay::HostOptions& options() const = 0;
  // OverlayHost::reconcile: the network's namespace, bridge, VXLAN device and peers, or its
  // removal when no local endpoint is left.
  virtual overlay::ReconcileResult reconcile(const overlay::OverlaySpec& spec,
                                             const overlay::NetworkPeers& peers) = 0;
  virtual bool remove_network(uint32_t vni) = 0;
  // Removes the overlay namespaces whose VNI is not in `keep`; the VNIs removed.
  virtual std::vector<uint32_t> remove_others(const std::set<uint32_t>& keep) = 0;
  // VNIs of the overlay namespaces present.
  virtual std::vector<uint32_t> networks() = 0;
  // OverlayHost::attach into the namespace bound at `netns_path` (`spec.internal` decides
  // whether attach sets a default route; the reconciler passes true and owns the route).
  virtual bool attach(const overlay::OverlaySpec& spec, const std::string& endpoint_id,
                      const std::string& netns_path, const std::string& ifname,
                      const std::string& mac, const ipam::InterfaceAddress& address) = 0;
  // Removes the veth pair of `endpoint_id` (or of an endpoint-id prefix) from the network.
  virtual bool detach(uint32_t vni, const std::string& endpoint_id) = 0;
  // Endpoint-id prefixes of the veths on the network's bridge.
  virtual std::vector<std::string> attached(uint32_t vni) = 0;
};

// Makes the programmer once the node's VTEP address is known (the host namespace is the
// calling thread's).
using OverlayProgrammerFactory =
    std::function<std::unique_ptr<OverlayProgrammer>(const overlay::HostOptions& options)>;

// The production programmer: an overlay::OverlayHost in the calling thread's namespace.
std::unique_ptr<OverlayProgrammer> make_overlay_host_programmer(
    const overlay::HostOptions& options);

}  // namespace trellis::node
