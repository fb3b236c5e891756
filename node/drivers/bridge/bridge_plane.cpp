#include "node/drivers/bridge/bridge_plane.h"

#include <spdlog/spdlog.h>

#include "common/error.h"
#include "common/log.h"
#include "ipam/ip.h"
#include "node/dataplane/names.h"
#include "node/drivers/bridge/bridge_driver.h"
#include "node/model/ids.h"
#include "node/model/state_cache.h"

namespace trellis::node {

namespace {

spdlog::logger& logger() { return log("bridge"); }

constexpr uint32_t kDefaultMtu = 1500;

std::string gateway_cidr(const store::NetworkInfo& n) {
  const auto& pool = n.spec.ipam_result.pools.front();
  const ipam::Prefix p = ipam::Prefix::parse(pool.subnet);
  return pool.gateway + "/" + std::to_string(p.length());
}

uint32_t network_mtu(const store::NetworkInfo& n) { return n.spec.mtu ? n.spec.mtu : kDefaultMtu; }

}  // namespace

void BridgePlane::adopt(AdoptionScan& scan, Attachments& attachments) {
  bridges_.clear();
  std::map<std::string, std::string> bridge_by_name;  // link name -> network id
  std::map<std::string, LinkInfo> host_ends;          // endpoint id -> host end of its veth
  for (auto it = scan.host_links.begin(); it != scan.host_links.end();) {
    const auto& [link, alias] = it->second;
    if (alias.kind == kNetworkAliasKind && link.kind == "bridge") {
      Bridge b{link.name, "", link.mtu, {link.addresses.begin(), link.addresses.end()}, link.up};
      bridge_by_name[link.name] = alias.id;
      bridges_[alias.id] = std::move(b);
    } else if (alias.kind == kEndpointAliasKind) {
      host_ends[alias.id] = link;
    } else {
      ++it;
      continue;
    }
    it = scan.host_links.erase(it);
  }
  for (auto& [id, j] : attachments.joins()) {
    auto host = host_ends.find(id);
    if (host == host_ends.end()) continue;
    j.plane = this;
    j.host_link = host->second.name;
    j.up = j.up && host->second.up;
    if (auto b = bridge_by_name.find(host->second.master); b != bridge_by_name.end())
      j.network = b->second;
    host_ends.erase(host);
  }
  // Host ends whose sandbox end is gone: remembered so that they are removed.
  for (auto& [id, link] : host_ends)
    attachments.joins()[id] = JoinRecord{"", "", link.name, "", "", "", false, this};
}

void BridgePlane::unlabelled_names(const StateCache& state, std::set<std::string>& names) const {
  for (const auto& [id, n] : state.networks()) {
    if (n.owner == node_) names.insert(bridge_name(id));
  }
  for (const auto& [id, e] : state.endpoints()) {
    if (e.spec.owner == node_) names.insert(veth_host_name(id));
  }
}

void BridgePlane::begin_pass(const StateCache&, PassScope& scope) {
  if (!scope.all) return;
  for (const auto& [id, b] : bridges_) scope.networks.insert(id);
}

bool BridgePlane::wants_network(const StateCache&, const store::NetworkInfo& n) const {
  return n.owner == node_ && !n.spec.cluster_scope && !n.spec.ipam_result.pools.empty();
}

void BridgePlane::enable_forwarding_for(const store::NetworkInfo& n) {
  if (!bridge_options(n.spec.options).icc && !br_netfilter_) {
    try {
      ops_.set_sysctl("", "net/bridge/bridge-nf-call-iptables", "1");
    } catch (const NotFoundError&) {
      throw UnavailableError("network " + n.spec.name +
                             ": icc=false needs the br_netfilter kernel module");
    }
    br_netfilter_ = true;
  }
  if (!n.spec.internal && !forwarding_) {
    ops_.set_sysctl("", "net/ipv4/ip_forward", "1");
    forwarding_ = true;
  }
}

void BridgePlane::ensure_network(const StateCache& state, Attachments&, const std::string& id) {
  const store::NetworkInfo& n = *state.network(id);
  const std::string name = bridge_name(id);
  const std::string gw = gateway_cidr(n);
  const uint32_t mtu = network_mtu(n);
  enable_forwarding_for(n);
  auto it = bridges_.find(id);
  if (it == bridges_.end()) {
    ops_.delete_link("", name);  // a half-made bridge of a crashed run, without its alias
    ops_.create_bridge(name, object_alias(node_, kNetworkAliasKind, id), mtu);
    it = bridges_.emplace(id, Bridge{name, "", mtu, {}, false}).first;
    // A fixed MAC: otherwise the bridge takes the lowest MAC of its ports and changes it as
    // containers come and go, which invalidates the containers' ARP entries for the gateway.
    const ipam::IpAddress gw_address = ipam::InterfaceAddress::parse(gw).address;
    ops_.change_link("", name, LinkChange{.mac = mac_from_ipv4(gw_address)});
    logger().info("bridge {} created for network {} ({})", name, n.spec.name, gw);
  }
  Bridge& b = it->second;
  if (b.mtu != mtu) {
    ops_.change_link("", name, LinkChange{.mtu = mtu});
    b.mtu = mtu;
  }
  if (b.gateway != gw) {
    for (const auto& a : b.addresses) {
      if (a != gw) ops_.remove_address("", name, a);
    }
    b.addresses.clear();
    ops_.add_address("", name, gw);
    b.addresses.insert(gw);
    b.gateway = gw;
    // Published ports are reachable on 127.0.0.1 only if loopback-sourced packets may be
    // routed out of the bridge.
    ops_.set_sysctl("", "net/ipv4/conf/" + name + "/route_localnet", "1");
  }
  if (!b.up) {
    ops_.change_link("", name, LinkChange{.up = true});
    b.up = true;
  }
}

void BridgePlane::remove_network(Attachments&, const std::string& id) {
  auto it = bridges_.find(id);
  if (it == bridges_.end()) return;
  ops_.delete_link("", it->second.name);
  logger().info("bridge {} removed", it->second.name);
  bridges_.erase(it);
}

void BridgePlane::ensure_join(const StateCache& state, Attachments& attachments,
                              const std::string& id) {
  const store::EndpointInfo& e = *state.endpoint(id);
  const store::NetworkInfo& n = *state.network(e.spec.network);
  const std::string address = e.spec.addresses.empty() ? "" : e.spec.addresses.front();
  if (const JoinRecord* j = attachments.join(id)) {
    if (j->plane == this && j->sandbox == e.sandbox && j->network == n.spec.id &&
        j->address == address && j->mac == e.spec.mac && j->up && !j->host_link.empty()) {
      return;
    }
    attachments.remove_join(id);
  }
  auto bridge = bridges_.find(n.spec.id);
  if (bridge == bridges_.end() || !bridge->second.up)
    throw UnavailableError("the bridge of network " + n.spec.name + " is not set up");
  const SandboxRecord* sb = attachments.sandbox(e.sandbox);
  if (!sb || !sb->ns)
    throw UnavailableError("the namespace of sandbox " + short_id(e.sandbox) + " is not set up");

  const std::string ns = attachments.netns(e.sandbox);
  const std::string host = veth_host_name(id);
  const std::string alias = object_alias(node_, kEndpointAliasKind, id);
  JoinRecord j{e.sandbox, n.spec.id,  host,  attachments.next_ifname(e.sandbox),
               address,   e.spec.mac, false, this};
  ops_.delete_link("", host);  // a leftover without its alias (crash between create and alias)
  ops_.create_veth(host, alias, veth_peer_name(id), ns, network_mtu(n));
  // Record it at once, so a failure below tears down what exists.
  attachments.joins()[id] = j;
  ops_.change_link(ns, veth_peer_name(id),
                   LinkChange{.name = j.ifname, .mac = j.mac, .alias = alias});
  if (!address.empty()) ops_.add_address(ns, j.ifname, address);
  ops_.change_link(ns, j.ifname, LinkChange{.up = true});
  ops_.change_link("", host, LinkChange{.master = bridge->second.name, .up = true});
  attachments.joins()[id].up = true;
}

void BridgePlane::remove_join(const std::string&, const JoinRecord& j) {
  // Every join of this plane has its host end (made or adopted with it); deleting it deletes
  // the pair.
  if (!j.host_link.empty()) ops_.delete_link("", j.host_link);
}

std::optional<DefaultRoute> BridgePlane::default_route(const StateCache&, Attachments&,
                                                       const store::NetworkInfo& n,
                                                       const JoinRecord& j) {
  const std::string& gateway = n.spec.ipam_result.pools.front().gateway;
  if (gateway.empty()) return std::nullopt;
  return DefaultRoute{gateway, j.ifname};
}

void BridgePlane::add_rules(const StateCache& state, const Attachments& attachments,
                            NftRuleset& rules) const {
  for (const auto& [id, n] : state.networks()) {
    auto b = bridges_.find(id);
    if (b == bridges_.end() || !wants_network(state, n)) continue;
    const BridgeOptions opts = bridge_options(n.spec.options);
    rules.networks.push_back({b->second.name, n.spec.ipam_result.pools.front().subnet,
                              n.spec.internal, opts.icc, opts.masquerade});
  }
  for (const auto& [id, e] : state.endpoints()) {
    const JoinRecord* j = attachments.join(id);
    if (e.spec.ports.empty() || !j || j->plane != this || e.spec.addresses.empty()) continue;
    const auto* n = state.network(e.spec.network);
    if (!n) continue;
    const std::string ip =
        ipam::InterfaceAddress::parse(e.spec.addresses.front()).address.to_string();
    const std::string default_host_ip = bridge_options(n->spec.options).host_ip;
    for (const auto& p : e.spec.ports) {
      rules.ports.push_back({p.protocol, p.host_port,
                             p.host_ip.empty() ? default_host_ip : p.host_ip, ip,
                             p.container_port});
    }
  }
}

}  // namespace trellis::node
