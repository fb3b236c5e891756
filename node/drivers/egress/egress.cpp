#include "node/drivers/egress/egress.h"

#include <spdlog/spdlog.h>

#include "common/error.h"
#include "common/log.h"
#include "ipam/ip.h"
#include "node/dataplane/names.h"
#include "node/model/ids.h"
#include "node/model/state_cache.h"

namespace trellis::node {

namespace {

spdlog::logger& logger() { return log("overlay"); }

constexpr uint32_t kDefaultMtu = 1500;

std::string gateway_cidr() {
  return std::string(kEgressGateway) + "/" +
         std::to_string(ipam::Prefix::parse(std::string(kEgressSubnet)).length());
}

}  // namespace

void Egress::adopt(AdoptionScan& scan) {
  bridge_.reset();
  interfaces_.clear();
  changed_ = false;
  if (auto it = scan.host_links.find(std::string(kEgressBridge));
      it != scan.host_links.end() && it->second.alias.kind == kEgressBridgeAliasKind &&
      it->second.link.kind == "bridge") {
    const LinkInfo& link = it->second.link;
    Bridge b;
    b.up = link.up;
    for (const auto& a : link.addresses) {
      if (a == gateway_cidr()) b.gateway = a;
    }
    bridge_ = b;
    scan.host_links.erase(it);
  }
  std::map<std::string, std::string> host_ends;  // sandbox id -> name of its host end
  for (const auto& [name, l] : scan.host_links) {
    if (l.alias.kind == kEgressAliasKind) host_ends[l.alias.id] = name;
  }
  for (const auto& [sandbox, links] : scan.sandbox_links) {
    for (const auto& [link, alias] : links) {
      if (alias.kind != kEgressAliasKind || alias.id != sandbox) continue;
      Interface g;
      g.up = link.up;
      if (!link.addresses.empty()) g.address = link.addresses.front();
      if (auto end = host_ends.find(sandbox); end != host_ends.end()) {
        const LinkInfo& host = scan.host_links.at(end->second).link;
        g.host_link = host.name;
        g.up = g.up && host.up && host.master == kEgressBridge;
        scan.host_links.erase(end->second);
        host_ends.erase(end);
      }
      interfaces_[sandbox] = std::move(g);
    }
  }
}

void Egress::unlabelled_names(const StateCache& state, std::set<std::string>& names) const {
  for (const auto& [id, sb] : state.sandboxes()) {
    if (sb.owner == node_) names.insert(egress_host_name(id));
  }
  names.insert(std::string(kEgressBridge));
}

void Egress::ensure_bridge() {
  if (!forwarding_) {
    ops_.set_sysctl("", "net/ipv4/ip_forward", "1");
    forwarding_ = true;
  }
  const std::string name(kEgressBridge);
  const std::string gw = gateway_cidr();
  if (!bridge_) {
    if (auto existing = ops_.link("", name)) {
      const auto alias = parse_object_alias(existing->alias);
      if (alias && alias->node != node_) {
        throw ConflictError("egress bridge " + name + " belongs to another trellisd (" +
                            existing->alias + ")");
      }
      ops_.delete_link("", name);  // half-made by a crashed run
    }
    ops_.create_bridge(name, object_alias(node_, kEgressBridgeAliasKind, name), kDefaultMtu);
    bridge_ = Bridge{};
    ops_.change_link(
        "", name,
        LinkChange{.mac = mac_from_ipv4(ipam::IpAddress::parse(std::string(kEgressGateway)))});
    changed_ = true;
    log("bridge").info("egress bridge {} created ({})", name, gw);
  }
  if (bridge_->gateway != gw) {
    ops_.add_address("", name, gw);
    bridge_->gateway = gw;
  }
  if (!bridge_->up) {
    ops_.change_link("", name, LinkChange{.up = true});
    bridge_->up = true;
  }
}

void Egress::remove_bridge_if_unused() {
  if (!bridge_ || !interfaces_.empty()) return;
  ops_.delete_link("", std::string(kEgressBridge));
  log("bridge").info("egress bridge {} removed", kEgressBridge);
  bridge_.reset();
  changed_ = true;
}

std::string Egress::next_address() const {
  const ipam::Prefix subnet = ipam::Prefix::parse(std::string(kEgressSubnet));
  std::set<std::string> used;
  for (const auto& [id, g] : interfaces_) used.insert(g.address);
  const std::string suffix = "/" + std::to_string(subnet.length());
  // Host offsets 2 .. size-2: .1 is the gateway, the last one the broadcast address.
  const uint64_t size = uint64_t{1} << (32 - subnet.length());
  for (uint64_t offset = 2; offset + 1 < size; ++offset) {
    std::string a = subnet.address_at(offset).to_string() + suffix;
    if (!used.count(a)) return a;
  }
  throw UnavailableError("overlay egress: no free address left in " + std::string(kEgressSubnet));
}

DefaultRoute Egress::ensure(Attachments& attachments, const std::string& sandbox_id) {
  const DefaultRoute route{std::string(kEgressGateway), std::string(kEgressIfname)};
  ensure_bridge();
  if (auto it = interfaces_.find(sandbox_id); it != interfaces_.end()) {
    if (it->second.up && !it->second.host_link.empty() && !it->second.address.empty()) return route;
    remove(attachments, sandbox_id);
  }
  const std::string ns = attachments.netns(sandbox_id);
  const std::string host = egress_host_name(sandbox_id);
  const std::string peer = egress_peer_name(sandbox_id);
  const std::string ifname(kEgressIfname);
  const std::string alias = object_alias(node_, kEgressAliasKind, sandbox_id);
  const std::string address = next_address();
  // Leftovers without the alias (a crash between creating and labelling).
  ops_.delete_link("", host);
  ops_.delete_link(ns, ifname);
  ops_.create_veth(host, alias, peer, ns, kDefaultMtu);
  interfaces_[sandbox_id] = Interface{host, address, false};
  changed_ = true;
  ops_.change_link(ns, peer,
                   LinkChange{.name = ifname,
                              .mac = mac_from_ipv4(ipam::InterfaceAddress::parse(address).address),
                              .alias = alias});
  ops_.add_address(ns, ifname, address);
  ops_.change_link(ns, ifname, LinkChange{.up = true});
  ops_.change_link("", host, LinkChange{.master = std::string(kEgressBridge), .up = true});
  interfaces_[sandbox_id].up = true;
  logger().info("sandbox {}: egress interface {} {} on {}", short_id(sandbox_id), ifname, address,
                kEgressBridge);
  return route;
}

void Egress::remove(Attachments& attachments, const std::string& sandbox_id) {
  auto it = interfaces_.find(sandbox_id);
  if (it == interfaces_.end()) return;
  const Interface g = it->second;
  if (!g.host_link.empty()) {
    ops_.delete_link("", g.host_link);
  } else if (ops_.is_netns(attachments.netns(sandbox_id))) {
    ops_.delete_link(attachments.netns(sandbox_id), std::string(kEgressIfname));
  }
  interfaces_.erase(it);
  changed_ = true;
  attachments.forget_route_via(sandbox_id, std::string(kEgressIfname));
}

void Egress::add_rules(NftRuleset& rules) const {
  // The sandboxes' gw0 addresses leave through the host, masqueraded.
  if (bridge_)
    rules.networks.push_back(
        {std::string(kEgressBridge), std::string(kEgressSubnet), false, true, true});
}

}  // namespace trellis::node
