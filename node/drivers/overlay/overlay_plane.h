#pragma once
// The overlay driver's data-plane half (docs/overlay.md): per overlay network with a local
// endpoint, an overlay namespace with bridge, VXLAN device (local = this node's announced
// address) and the remote peers, through one OverlayProgrammer (overlay::OverlayHost) made once
// this node's own record names its address; joined endpoints get a veth ethN from the sandbox
// into the overlay bridge. Every remote endpoint in the state is programmed, whatever gossip
// says of its node (overlay/peer_table.h: a dead daemon's containers still forward; only a
// node removal takes them away). A sandbox whose
// default route comes from an overlay network with egress (option egress=true, or the node
// default) gets its route through Egress (gw0 on trlgw0) instead. Overlay namespaces of
// networks without a local endpoint left by a crash are swept once per start-up.
//
// Threads: the daemon's I/O thread.

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "node/dataplane/network_plane.h"
#include "node/drivers/egress/egress.h"
#include "node/drivers/overlay/overlay_programmer.h"

namespace trellis::node {

struct OverlayPlaneOptions {
  store::NodeId node = 0;
  std::string netns_dir;  // <run>/netns: the overlay namespaces live beside the sandboxes'
  uint16_t vxlan_port = 4789;
  bool egress_default = false;  // --egress: egress unless the network says otherwise
  // Makes the programmer once the VTEP address is known; unset: overlay networks with a local
  // endpoint fail as unavailable (so a pass over fake NetOps never programs the real kernel).
  OverlayProgrammerFactory make_overlay;
};

class OverlayPlane final : public NetworkPlane {
 public:
  // `ops` must outlive the plane.
  OverlayPlane(NetOps& ops, OverlayPlaneOptions options);

  void adopt(AdoptionScan& scan, Attachments& attachments) override;
  void unlabelled_names(const StateCache& state, std::set<std::string>& names) const override;
  void begin_pass(const StateCache& state, PassScope& scope) override;
  void sweep(const StateCache& state) override;
  bool wants_network(const StateCache& state, const store::NetworkInfo& network) const override;
  bool has_network(const std::string& network_id) const override {
    return networks_.count(network_id) > 0;
  }
  void ensure_network(const StateCache& state, Attachments& attachments,
                      const std::string& network_id) override;
  void remove_network(Attachments& attachments, const std::string& network_id) override;
  void ensure_join(const StateCache& state, Attachments& attachments,
                   const std::string& endpoint_id) override;
  void remove_join(const std::string& endpoint_id, const JoinRecord& join) override;
  std::optional<DefaultRoute> default_route(const StateCache& state, Attachments& attachments,
                                            const store::NetworkInfo& network,
                                            const JoinRecord& join) override;
  void settle_route(Attachments& attachments, const std::string& sandbox_id,
                    const std::optional<DefaultRoute>& route) override;
  void remove_sandbox(Attachments& attachments, const std::string& sandbox_id) override;
  void finish_pass() override { egress_.remove_bridge_if_unused(); }
  void add_rules(const StateCache& state, const Attachments& attachments,
                 NftRuleset& rules) const override;
  bool rules_changed() const override { return egress_.changed(); }
  void rules_applied() override { egress_.rules_applied(); }

 private:
  // The programmer for this node's current VTEP address (remade when it changes); null while
  // the node has announced no address or without a factory.
  OverlayProgrammer* programmer(const StateCache& state);
  bool egress_enabled(const store::NetworkInfo& network) const;
  // Lists the veths on the network's bridge into attached_, detaching those whose endpoint
  // is gone.
  void remove_gone_veths(const store::NetworkInfo& network,
                         const std::vector<store::EndpointInfo>& endpoints, uint32_t vni);

  NetOps& ops_;
  OverlayPlaneOptions options_;
  Egress egress_;
  std::unique_ptr<OverlayProgrammer> programmer_;
  bool scan_veths_ = false;                   // this pass lists the veths on the bridges
  bool swept_ = false;                        // stale overlay namespaces removed since the start-up
  std::map<std::string, uint32_t> networks_;  // network id -> VNI, instantiated here
  // Per instantiated VNI, the endpoint-id prefixes of the veths on its bridge.
  std::map<uint32_t, std::set<std::string>> attached_;
};

}  // namespace trellis::node
