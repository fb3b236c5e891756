#pragma once
// Names of the kernel objects trellisd creates. Every one starts with "trl" (IFNAMSIZ
// leaves 15 characters) and carries an alias "trellis/<node id>/<kind>/<object id>", so the
// reconciler finds its own objects after a crash and never touches another daemon's.
// Namespace files a driver keeps beside the sandboxes' in <run>/netns start with "trl" too
// (the overlay's "trl-ov-<vni>"); a sandbox's is named by its id.
// Pure; safe from any thread.

#include <optional>
#include <string>
#include <string_view>

#include "store/event.h"

namespace trellis::node {

inline constexpr std::string_view kLinkPrefix = "trl";

// "trlb" + 11 hex digits of the network id: the network's bridge.
inline std::string bridge_name(std::string_view network_id) {
  return "trlb" + std::string(network_id.substr(0, 11));
}
// "trlv" + 11 hex digits of the endpoint id: the host end of the endpoint's veth pair.
inline std::string veth_host_name(std::string_view endpoint_id) {
  return "trlv" + std::string(endpoint_id.substr(0, 11));
}
// "trlc" + 11 hex digits: the sandbox end, before it is moved and renamed to ethN.
inline std::string veth_peer_name(std::string_view endpoint_id) {
  return "trlc" + std::string(endpoint_id.substr(0, 11));
}

// Alias kinds: a network's bridge, an endpoint's interface (both ends), the overlay egress
// bridge (id: its name) and a sandbox's egress interface (both ends; id: the sandbox id).
inline constexpr std::string_view kNetworkAliasKind = "net";
inline constexpr std::string_view kEndpointAliasKind = "ep";
inline constexpr std::string_view kEgressBridgeAliasKind = "egressbr";
inline constexpr std::string_view kEgressAliasKind = "egress";

inline std::string object_alias(store::NodeId node, std::string_view kind, std::string_view id) {
  return "trellis/" + store::format_node_id(node) + "/" + std::string(kind) + "/" + std::string(id);
}

// An alias taken apart; parse_object_alias(object_alias(n, k, i)) == {n, k, i}.
struct ObjectAlias {
  store::NodeId node = 0;
  std::string kind;
  std::string id;
};

// nullopt for anything that is not "trellis/<node id>/<kind>/<non-empty id>".
inline std::optional<ObjectAlias> parse_object_alias(std::string_view alias) {
  constexpr std::string_view kPrefix = "trellis/";
  if (alias.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  const std::string_view rest = alias.substr(kPrefix.size());
  const auto a = rest.find('/');
  if (a == std::string_view::npos) return std::nullopt;
  const auto b = rest.find('/', a + 1);
  if (b == std::string_view::npos || b + 1 == rest.size()) return std::nullopt;
  ObjectAlias out;
  try {
    out.node = store::parse_node_id(std::string(rest.substr(0, a)));
  } catch (const std::exception&) {
    return std::nullopt;
  }
  out.kind = std::string(rest.substr(a + 1, b - a - 1));
  out.id = std::string(rest.substr(b + 1));
  return out;
}

// Overlay egress (like docker_gwbridge): the host bridge, its subnet and gateway, the
// interface inside a sandbox, and the two ends of a sandbox's egress veth: "trlg" + 11
// characters of the sandbox id on the bridge, "trlq" + 11 before it is renamed to gw0.
inline constexpr std::string_view kEgressBridge = "trlgw0";
inline constexpr std::string_view kEgressSubnet = "172.16.0.0/16";
inline constexpr std::string_view kEgressGateway = "172.16.0.1";
inline constexpr std::string_view kEgressIfname = "gw0";
inline std::string egress_host_name(std::string_view sandbox_id) {
  return "trlg" + std::string(sandbox_id.substr(0, 11));
}
inline std::string egress_peer_name(std::string_view sandbox_id) {
  return "trlq" + std::string(sandbox_id.substr(0, 11));
}

}  // namespace trellis::node
