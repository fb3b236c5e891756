#include "overlay/peer_table.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <utility>

#include "common/error.h"

namespace trellis::overlay {
namespace {

// "aa:bb:cc:dd:ee:ff" (either case) -> lower case; nullopt if malformed, multicast or zero.
std::optional<std::string> unicast_mac(std::string_view text) {
  if (text.size() != 17) return std::nullopt;
  std::string out(text);
  bool nonzero = false;
  for (size_t i = 0; i < out.size(); ++i) {
    const char c = out[i];
    if (i % 3 == 2) {
      if (c != ':') return std::nullopt;
      continue;
    }
    if (!std::isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
    out[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (c != '0') nonzero = true;
  }
  const int first = std::stoi(out.substr(0, 2), nullptr, 16);
  if (!nonzero || (first & 1) != 0) return std::nullopt;
  return out;
}

std::optional<ipam::IpAddress> parse_address(const std::string& text) {
  try {
    if (text.find('/') == std::string::npos) return ipam::IpAddress::parse(text);
    return ipam::InterfaceAddress::parse(text).address;
  } catch (const Error&) {
    return std::nullopt;
  }
}

// The endpoint's IPv4 addresses that lie in one of the network's subnets, ascending.
std::vector<ipam::IpAddress> ipv4_in_network(const store::EndpointSpec& spec,
                                             const std::vector<ipam::Prefix>& subnets) {
  std::vector<ipam::IpAddress> out;
  for (const auto& text : spec.addresses) {
    auto a = parse_address(text);
    if (!a || !a->is_v4()) continue;
    for (const auto& p : subnets) {
      if (p.contains(*a)) {
        out.push_back(*a);
        break;
      }
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace

bool is_overlay(const store::NetworkInfo& network) { return network.spec.driver == kOverlayDriver; }

std::optional<ipam::IpAddress> advertised_vtep(const store::NodeInfo& node) {
  std::string text = node.address;
  if (text.empty()) return std::nullopt;
  // "ip:port" (IPv4 only: one colon); a bare IPv6 address has several colons.
  if (auto colon = text.find(':');
      colon != std::string::npos && text.find(':', colon + 1) == std::string::npos) {
    text.resize(colon);
  }
  try {
    ipam::IpAddress a = ipam::IpAddress::parse(text);
    if (!a.is_v4() || a.to_v4_uint() == 0) return std::nullopt;
    return a;
  } catch (const Error&) {
    return std::nullopt;
  }
}

NetworkPeers compute_network_peers(const store::NetworkInfo& network,
                                   const std::vector<store::EndpointInfo>& endpoints,
                                   const std::vector<store::NodeInfo>& nodes, store::NodeId self) {
  if (!is_overlay(network)) {
    throw InvalidArgumentError("peer table of network " + network.spec.name + " (" +
                               network.spec.id + "): driver " + network.spec.driver +
                               " is not overlay");
  }
  NetworkPeers out;
  out.network = network.spec.id;
  out.vni = network.spec.ipam_result.vni;

  std::vector<ipam::Prefix> subnets;
  for (const auto& pool : network.spec.ipam_result.pools) {
    try {
      subnets.push_back(ipam::Prefix::parse(pool.subnet));
    } catch (const Error&) {
      // A malformed subnet cannot be in the state (the reducer checks it); ignore it.
    }
  }
  std::map<store::NodeId, const store::NodeInfo*> node_by_id;
  for (const auto& n : nodes) node_by_id[n.id] = &n;
  std::optional<ipam::IpAddress> self_vtep;
  if (auto it = node_by_id.find(self); it != node_by_id.end())
    self_vtep = advertised_vtep(*it->second);

  std::vector<const store::EndpointInfo*> mine;
  for (const auto& e : endpoints) {
    if (e.spec.network == network.spec.id) mine.push_back(&e);
  }
  std::sort(mine.begin(), mine.end(),
            [](const auto* a, const auto* b) { return a->spec.id < b->spec.id; });

  // Local endpoints first: their MACs and IPs sit on the local bridge, so a remote endpoint
  // claiming one of them cannot be programmed without breaking a local one.
  std::set<std::string> local_macs;
  std::set<ipam::IpAddress> local_ips;
  for (const auto* e : mine) {
    if (e->spec.owner != self) continue;
    out.local_endpoints.push_back(e->spec.id);
    if (auto mac = unicast_mac(e->spec.mac)) local_macs.insert(*mac);
    for (const auto& ip : ipv4_in_network(e->spec, subnets)) local_ips.insert(ip);
  }

  std::map<std::string, ipam::IpAddress> vtep_of_mac;  // remote MAC -> its VTEP
  std::map<ipam::IpAddress, std::string> owner_of_ip;  // remote IP -> endpoint id
  std::set<ipam::IpAddress> vteps;
  for (const auto* e : mine) {
    const store::EndpointSpec& spec = e->spec;
    if (spec.owner == self) continue;
    auto skip = [&](std::string reason) {
      out.skipped.push_back({spec.id, spec.owner, std::move(reason)});
    };
    auto nit = node_by_id.find(spec.owner);
    const store::NodeInfo* node = nit == node_by_id.end() ? nullptr : nit->second;
    // Liveness does not matter: a node dead to gossip (daemon down or restarting) or gone with
    // a graceful leave still forwards for its containers; only a removal withdraws.
    if (node && node->status == store::NodeStatus::kRemoved) {
      out.withdrawn.push_back(spec.id);
      continue;
    }
    if (!node) {
      skip("node " + store::format_node_id(spec.owner) + " has not announced itself");
      continue;
    }
    const std::optional<ipam::IpAddress> vtep = advertised_vtep(*node);
    if (!vtep) {
      skip("node " + store::format_node_id(spec.owner) + " advertises no IPv4 address ('" +
           node->address + "')");
      continue;
    }
    if (self_vtep && *vtep == *self_vtep) {
      skip("node " + store::format_node_id(spec.owner) + " advertises this node's address " +
           vtep->to_string());
      continue;
    }
    const std::optional<std::string> mac = unicast_mac(spec.mac);
    if (!mac) {
      skip("MAC '" + spec.mac + "' is not a unicast Ethernet address");
      continue;
    }
    const std::vector<ipam::IpAddress> ips = ipv4_in_network(spec, subnets);
    if (ips.empty()) {
      skip("no IPv4 address in the network's subnets");
      continue;
    }
    if (local_macs.count(*mac)) {
      skip("MAC " + *mac + " is used by an endpoint of this node");
      continue;
    }
    if (auto it = vtep_of_mac.find(*mac); it != vtep_of_mac.end() && it->second != *vtep) {
      skip("MAC " + *mac + " is used by an endpoint behind " + it->second.to_string());
      continue;
    }
    bool clash = false;
    for (const auto& ip : ips) {
      if (local_ips.count(ip)) {
        skip("address " + ip.to_string() + " is used by an endpoint of this node");
        clash = true;
        break;
      }
      if (auto it = owner_of_ip.find(ip); it != owner_of_ip.end()) {
        skip("address " + ip.to_string() + " is used by endpoint " + it->second);
        clash = true;
        break;
      }
    }
    if (clash) continue;
    vtep_of_mac.emplace(*mac, *vtep);
    for (const auto& ip : ips) {
      owner_of_ip.emplace(ip, spec.id);
      out.peers.push_back({*mac, ip, *vtep, spec.owner, spec.id});
    }
    vteps.insert(*vtep);
  }
  std::sort(out.peers.begin(), out.peers.end());
  out.remote_vteps.assign(vteps.begin(), vteps.end());
  return out;
}

NetworkPeers compute_network_peers(const store::ReadView& view, const std::string& network_id,
                                   store::NodeId self) {
  std::optional<store::NetworkInfo> network = view.network(network_id);
  if (!network) throw NotFoundError("peer table: no network " + network_id);
  return compute_network_peers(*network, view.endpoints_of_network(network_id), view.nodes(), self);
}

std::vector<NetworkPeers> compute_all_network_peers(const store::ReadView& view,
                                                    store::NodeId self) {
  std::vector<store::NetworkInfo> networks = view.networks();
  std::sort(networks.begin(), networks.end(),
            [](const auto& a, const auto& b) { return a.spec.id < b.spec.id; });
  const std::vector<store::NodeInfo> nodes = view.nodes();
  std::vector<NetworkPeers> out;
  for (const auto& n : networks) {
    if (!is_overlay(n)) continue;
    out.push_back(compute_network_peers(n, view.endpoints_of_network(n.spec.id), nodes, self));
  }
  return out;
}

}  // namespace trellis::overlay
