#pragma once
// The bridge driver's data-plane half: per local bridge network this node owns, a Linux bridge
// trlb<id> in the host namespace holding the gateway address (MAC derived from it,
// route_localnet on, so published ports answer on 127.0.0.1); per joined endpoint a veth pair
// trlv<id> (host end, enslaved to the bridge) / ethN in the sandbox (MAC, address, MTU); the
// sandbox's default route via the gateway; and the network's masquerade, isolation, ICC and
// published-port rules in Trellis's nftables table. After a crash it adopts the bridges and
// host ends labelled with this node's alias and matches them to the sandbox ends the pass found.
//
// Threads: the daemon's I/O thread.

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "node/dataplane/network_plane.h"

namespace trellis::node {

class BridgePlane final : public NetworkPlane {
 public:
  // `ops` must outlive the plane.
  BridgePlane(NetOps& ops, store::NodeId node) : ops_(ops), node_(node) {}

  void adopt(AdoptionScan& scan, Attachments& attachments) override;
  void unlabelled_names(const StateCache& state, std::set<std::string>& names) const override;
  void begin_pass(const StateCache& state, PassScope& scope) override;
  bool wants_network(const StateCache& state, const store::NetworkInfo& network) const override;
  bool has_network(const std::string& network_id) const override {
    return bridges_.count(network_id) > 0;
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
  void add_rules(const StateCache& state, const Attachments& attachments,
                 NftRuleset& rules) const override;

 private:
  struct Bridge {
    std::string name;
    std::string gateway;  // "a.b.c.d/len" on the bridge
    uint32_t mtu = 0;
    std::set<std::string> addresses;
    bool up = false;
  };

  // Sysctls the networks need, set once per run.
  void enable_forwarding_for(const store::NetworkInfo& network);

  NetOps& ops_;
  store::NodeId node_;
  bool forwarding_ = false;                // net.ipv4.ip_forward set
  bool br_netfilter_ = false;              // net.bridge.bridge-nf-call-iptables set
  std::map<std::string, Bridge> bridges_;  // network id -> bridge
};

}  // namespace trellis::node
