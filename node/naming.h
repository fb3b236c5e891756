#pragma once
// Names of the kernel objects trellisd creates. Every one starts with "trl" (IFNAMSIZ
// leaves 15 characters) and carries an alias "trellis/<node id>/<kind>/<object id>", so the
// reconciler finds its own objects after a crash and never touches another daemon's.
// Pure; safe from any thread.

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

inline std::string object_alias(store::NodeId node, std::string_view kind, std::string_view id) {
  return "trellis/" + store::format_node_id(node) + "/" + std::string(kind) + "/" + std::string(id);
}

}  // namespace trellis::node
