#pragma once
// Overlay egress (like Docker's docker_gwbridge): a way out of the cluster for containers on
// overlay networks, which are not routed from the host. One host bridge trlgw0
// (172.16.0.1/16, masqueraded, never replicated) and per sandbox that needs it a veth gw0
// (sandbox) / trlg<sandbox id> (on trlgw0) carrying the sandbox's default route (outbound
// only: overlay endpoints publish no ports). The bridge is removed when no
// sandbox uses it. Used by the overlay driver's data-plane half (OverlayPlane), which decides
// when a sandbox's route goes this way.
//
// Errors: trellis::Error naming the object (ConflictError when trlgw0 belongs to another
// trellisd in this namespace). Threads: the daemon's I/O thread.

#include <map>
#include <optional>
#include <set>
#include <string>

#include "node/dataplane/network_plane.h"

namespace trellis::node {

class Egress {
 public:
  // `ops` must outlive it.
  Egress(NetOps& ops, store::NodeId node) : ops_(ops), node_(node) {}

  // Forgets the model and adopts trlgw0 and the sandboxes' egress interfaces from `scan`
  // (claiming them); a host end without its sandbox end is left there as a stray.
  void adopt(AdoptionScan& scan);
  // trlgw0 and the host ends of this node's sandboxes.
  void unlabelled_names(const StateCache& state, std::set<std::string>& names) const;

  // Gives the sandbox its gw0 (making trlgw0 first); the default route that uses it.
  DefaultRoute ensure(Attachments& attachments, const std::string& sandbox_id);
  // Removes the sandbox's gw0, if it has one.
  void remove(Attachments& attachments, const std::string& sandbox_id);
  // Removes trlgw0 when no sandbox uses it.
  void remove_bridge_if_unused();

  // trlgw0's masquerade rule.
  void add_rules(NftRuleset& rules) const;
  // The bridge came or went since the last rules_applied().
  bool changed() const { return changed_; }
  void rules_applied() { changed_ = false; }

 private:
  struct Interface {
    std::string host_link;
    std::string address;  // "172.16.x.y/16" on gw0
    bool up = false;
  };
  struct Bridge {
    std::string gateway;  // "172.16.0.1/16" once on the bridge
    bool up = false;
  };

  void ensure_bridge();
  std::string next_address() const;

  NetOps& ops_;
  store::NodeId node_;
  bool forwarding_ = false;                      // net.ipv4.ip_forward set
  std::optional<Bridge> bridge_;                 // trlgw0, when it exists
  std::map<std::string, Interface> interfaces_;  // sandbox id -> gw0
  bool changed_ = false;
};

}  // namespace trellis::node
