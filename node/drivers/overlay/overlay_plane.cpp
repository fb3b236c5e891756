#include "node/drivers/overlay/overlay_plane.h"

#include <spdlog/spdlog.h>

#include <vector>

#include "common/error.h"
#include "common/log.h"
#include "ipam/ip.h"
#include "node/dataplane/names.h"
#include "node/model/ids.h"
#include "node/model/state_cache.h"
#include "overlay/overlay_network.h"
#include "overlay/peer_table.h"

namespace trellis::node {

namespace {

spdlog::logger& logger() { return log("overlay"); }

// The overlay library names a network's veths by this prefix of the endpoint id.
std::string veth_prefix(const std::string& endpoint_id) { return endpoint_id.substr(0, 11); }

}  // namespace

OverlayPlane::OverlayPlane(NetOps& ops, OverlayPlaneOptions options)
    : ops_(ops), options_(std::move(options)), egress_(ops, options_.node) {}

void OverlayPlane::adopt(AdoptionScan& scan, Attachments&) {
  // The overlay namespaces are adopted by OverlayHost itself; the joins in them lazily, by
  // ensure_join (their sandbox ends are in Attachments, unclaimed).
  networks_.clear();
  attached_.clear();
  swept_ = false;
  egress_.adopt(scan);
}

void OverlayPlane::unlabelled_names(const StateCache& state, std::set<std::string>& names) const {
  egress_.unlabelled_names(state, names);
}

void OverlayPlane::begin_pass(const StateCache& state, PassScope& scope) {
  // The dirty ones are in scope already; add those of dirty endpoints, and all of them when
  // node records changed (or an endpoint of unknown network was removed).
  auto add = [&](const std::string& id) {
    const auto* n = state.network(id);
    if ((n && wants_network(state, *n)) || networks_.count(id)) scope.networks.insert(id);
  };
  bool every = scope.all || scope.dirty.overlays;
  scan_veths_ = scope.all;
  for (const auto& id : scope.dirty.endpoints) {
    const JoinRecord* j = scope.attachments.join(id);
    if (const auto* e = state.endpoint(id)) {
      add(e->spec.network);
    } else if (j && j->plane == this) {
      add(j->network);
    } else {
      every = true;  // removed: its network is not known any more
      scan_veths_ = true;
    }
  }
  if (every) {
    for (const auto& [id, n] : state.networks()) add(id);
    for (const auto& [id, vni] : networks_) scope.networks.insert(id);
  }
}

void OverlayPlane::sweep(const StateCache& state) {
  // Overlay namespaces of networks this node no longer instantiates (left by a crash), once
  // per start-up: as soon as the programmer exists (this node's address may be announced only
  // after the first pass).
  if (swept_) return;
  OverlayProgrammer* ov = programmer(state);
  if (!ov) return;
  std::set<uint32_t> keep;
  for (const auto& [id, n] : state.networks()) {
    if (!wants_network(state, n)) continue;
    for (const auto* e : state.endpoints_of_network(id)) {
      if (e->spec.owner == options_.node) {
        keep.insert(n.spec.ipam_result.vni);
        break;
      }
    }
  }
  for (uint32_t vni : ov->remove_others(keep))
    logger().info("removed the overlay namespace of VNI {} (no local endpoint)", vni);
  swept_ = true;
}

bool OverlayPlane::wants_network(const StateCache&, const store::NetworkInfo& n) const {
  return overlay::is_overlay(n) && n.spec.ipam_result.vni != 0 && !n.spec.ipam_result.pools.empty();
}

bool OverlayPlane::egress_enabled(const store::NetworkInfo& n) const {
  auto it = n.spec.options.find("egress");
  if (it == n.spec.options.end() || it->second.empty()) return options_.egress_default;
  const std::string& v = it->second;
  return v == "true" || v == "1" || v == "yes" || v == "on";
}

OverlayProgrammer* OverlayPlane::programmer(const StateCache& state) {
  if (!options_.make_overlay) return nullptr;
  const store::NodeInfo* me = state.node(options_.node);
  const std::optional<ipam::IpAddress> vtep =
      me ? overlay::advertised_vtep(*me) : std::optional<ipam::IpAddress>();
  if (!vtep) return programmer_.get();  // keep what we have (nothing, usually)
  if (programmer_ && programmer_->options().advertise == *vtep) return programmer_.get();
  overlay::HostOptions o;
  o.netns_dir = options_.netns_dir;
  o.node = options_.node;
  o.advertise = *vtep;
  o.vxlan_port = options_.vxlan_port;
  if (programmer_) {
    logger().info("VTEP address changed to {}: overlay devices will be rebuilt", vtep->to_string());
  }
  programmer_ = options_.make_overlay(o);
  return programmer_.get();
}

void OverlayPlane::ensure_network(const StateCache& state, Attachments& attachments,
                                  const std::string& id) {
  const store::NetworkInfo& n = *state.network(id);
  std::vector<store::EndpointInfo> endpoints;
  bool local = false;
  for (const auto* e : state.endpoints_of_network(id)) {
    endpoints.push_back(*e);
    local = local || e->spec.owner == options_.node;
  }
  OverlayProgrammer* ov = programmer(state);
  if (!ov) {
    if (!local) return;  // nothing to instantiate here
    if (!options_.make_overlay) {
      throw UnavailableError("overlay network " + n.spec.name +
                             ": the overlay driver is not available in this reconciler");
    }
    throw UnavailableError("overlay network " + n.spec.name +
                           ": this node has announced no IPv4 address to use as VTEP (start "
                           "trellisd with --advertise-addr)");
  }
  const overlay::OverlaySpec spec = overlay::OverlaySpec::from(n);
  if (auto old = networks_.find(id); old != networks_.end() && old->second != spec.vni)
    remove_network(attachments, id);
  const overlay::NetworkPeers peers =
      overlay::compute_network_peers(n, endpoints, state.node_records(), options_.node);
  for (const auto& skipped : peers.skipped) {
    logger().warn("network {}: endpoint {} of node {} not programmed: {}", n.spec.name,
                  short_id(skipped.endpoint), store::format_node_id(skipped.node), skipped.reason);
  }
  const overlay::ReconcileResult r = ov->reconcile(spec, peers);
  if (!r.instantiated) {
    if (networks_.count(id) || r.removed) remove_network(attachments, id);
    return;
  }
  networks_[id] = spec.vni;
  if (r.created || !r.peers.empty()) {
    logger().info("network {} (VNI {}): {} peers, {} withdrawn{}", n.spec.name, spec.vni,
                  peers.peers.size(), peers.withdrawn.size(),
                  r.created ? " (namespace created)" : "");
  }
  // Listed at start-up, when the namespace is new or unknown to the model, and when an
  // endpoint was removed; otherwise the model (kept by attach/detach) is current.
  if (scan_veths_ || r.created || !attached_.count(spec.vni))
    remove_gone_veths(n, endpoints, spec.vni);
}

void OverlayPlane::remove_gone_veths(const store::NetworkInfo& n,
                                     const std::vector<store::EndpointInfo>& endpoints,
                                     uint32_t vni) {
  // The veths on the bridge: those of joined local endpoints are ours (ensure_join adopts or
  // repairs them); those of local endpoints that are not joined belong to another tool (e.g.
  // trellis-ovrouter) and are left alone; those of endpoints that are gone are removed.
  std::set<std::string> on_bridge;
  for (auto& prefix : programmer_->attached(vni)) on_bridge.insert(std::move(prefix));
  for (auto it = on_bridge.begin(); it != on_bridge.end();) {
    bool known = false;
    for (const auto& e : endpoints) {
      if (e.spec.owner == options_.node && e.spec.id.compare(0, it->size(), *it) == 0) {
        known = true;
        break;
      }
    }
    if (known) {
      ++it;
      continue;
    }
    programmer_->detach(vni, *it);
    logger().info("network {}: removed the veth of gone endpoint {}", n.spec.name, *it);
    it = on_bridge.erase(it);
  }
  attached_[vni] = std::move(on_bridge);
}

void OverlayPlane::remove_network(Attachments& attachments, const std::string& id) {
  auto it = networks_.find(id);
  if (it == networks_.end()) return;
  const uint32_t vni = it->second;
  // The namespace takes the veths along; forget the joins that lived there.
  std::vector<std::string> gone;
  for (const auto& [ep, j] : attachments.joins()) {
    if (j.plane == this && j.network == id) gone.push_back(ep);
  }
  for (const auto& ep : gone) attachments.forget_join(ep);
  if (programmer_) programmer_->remove_network(vni);
  attached_.erase(vni);
  networks_.erase(it);
}

void OverlayPlane::ensure_join(const StateCache& state, Attachments& attachments,
                               const std::string& id) {
  const store::EndpointInfo& e = *state.endpoint(id);
  const store::NetworkInfo& n = *state.network(e.spec.network);
  auto net = networks_.find(n.spec.id);
  if (!programmer_ || net == networks_.end())
    throw UnavailableError("the overlay namespace of network " + n.spec.name + " is not set up");
  const uint32_t vni = net->second;
  if (e.spec.addresses.empty())
    throw InvalidArgumentError("endpoint " + e.spec.name + " on overlay network " + n.spec.name +
                               " has no address");
  const std::string& address = e.spec.addresses.front();
  const SandboxRecord* sb = attachments.sandbox(e.sandbox);
  if (!sb || !sb->ns)
    throw UnavailableError("the namespace of sandbox " + short_id(e.sandbox) + " is not set up");
  const std::string prefix = veth_prefix(id);
  std::set<std::string>& on_bridge = attached_[vni];
  if (JoinRecord* j = attachments.join(id)) {
    // Ours on this network, or a sandbox end found after a crash that no plane claimed.
    const bool adoptable = (j->plane == this && j->network == n.spec.id) ||
                           (!j->plane && j->host_link.empty() && j->network.empty());
    if (adoptable && j->sandbox == e.sandbox && j->address == address && j->mac == e.spec.mac &&
        j->up && on_bridge.count(prefix)) {
      j->plane = this;
      j->network = n.spec.id;
      j->host_link = overlay::overlay_veth_name(id);
      return;
    }
    attachments.remove_join(id);
  }
  // A veth without its sandbox end (crash between attach and labelling), or half-made.
  programmer_->detach(vni, id);
  on_bridge.erase(prefix);

  overlay::OverlaySpec spec = overlay::OverlaySpec::from(n);
  spec.internal = true;  // the default route is the pass's
  const std::string ns = attachments.netns(e.sandbox);
  const JoinRecord j{e.sandbox,
                     n.spec.id,
                     overlay::overlay_veth_name(id),
                     attachments.next_ifname(e.sandbox),
                     address,
                     e.spec.mac,
                     false,
                     this};
  programmer_->attach(spec, id, ns, j.ifname, e.spec.mac, ipam::InterfaceAddress::parse(address));
  attachments.joins()[id] = j;
  on_bridge.insert(prefix);
  // The sandbox end carries the endpoint's alias, so a restarted daemon adopts it.
  ops_.change_link(ns, j.ifname,
                   LinkChange{.alias = object_alias(options_.node, kEndpointAliasKind, id)});
  attachments.joins()[id].up = true;
}

void OverlayPlane::remove_join(const std::string& id, const JoinRecord& j) {
  auto net = networks_.find(j.network);
  if (programmer_ && net != networks_.end()) {
    // The outer end is in the overlay namespace; deleting it removes the pair.
    programmer_->detach(net->second, id);
    if (auto a = attached_.find(net->second); a != attached_.end())
      a->second.erase(veth_prefix(id));
  } else if (!j.sandbox.empty() && !j.ifname.empty()) {
    ops_.delete_link(options_.netns_dir + "/" + j.sandbox, j.ifname);
  }
}

std::optional<DefaultRoute> OverlayPlane::default_route(const StateCache&, Attachments& attachments,
                                                        const store::NetworkInfo& n,
                                                        const JoinRecord& j) {
  if (egress_enabled(n)) return egress_.ensure(attachments, j.sandbox);
  const std::string& gateway = n.spec.ipam_result.pools.front().gateway;
  if (gateway.empty()) return std::nullopt;
  return DefaultRoute{gateway, j.ifname};
}

void OverlayPlane::settle_route(Attachments& attachments, const std::string& sandbox_id,
                                const std::optional<DefaultRoute>& route) {
  if (!route || route->second != kEgressIfname) egress_.remove(attachments, sandbox_id);
}

void OverlayPlane::remove_sandbox(Attachments& attachments, const std::string& sandbox_id) {
  egress_.remove(attachments, sandbox_id);
}

void OverlayPlane::add_rules(const StateCache&, const Attachments&, NftRuleset& rules) const {
  // Only the egress bridge's masquerade: the controller refuses published ports on overlay
  // endpoints (the overlay is not routed from the host), so there is nothing to DNAT.
  egress_.add_rules(rules);
}

}  // namespace trellis::node
