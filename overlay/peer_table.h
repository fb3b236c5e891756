#pragma once
// The peer table of an overlay network: from the replicated state (networks, endpoints, nodes
// with their advertised VTEP address), what THIS node must program on its VXLAN device for one
// network — one peer (MAC, IP, VTEP) per address of every endpoint that lives on another node —
// and whether the network must exist on this node at all (it has at least one local endpoint).
//
// Membership plays no part: a node that gossip reports dead or that left gracefully usually has
// its daemon down or restarting while its containers, VXLAN devices and FDB entries still
// forward, so its endpoints stay programmed (withdrawing them would turn every daemon crash or
// upgrade into an outage for that host). Its addresses cannot be reused meanwhile: only their
// owner or a `node rm` frees them. Only a removed node's endpoints are withdrawn.
//
// Pure and deterministic: the same inputs give the same, sorted output on every node; nothing
// here writes state. Safe to call from any thread.

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "ipam/ip.h"
#include "store/store.h"

namespace trellis::overlay {

// The driver name of overlay networks (NetworkCreated::driver).
inline constexpr std::string_view kOverlayDriver = "overlay";

// One remote endpoint address to program: FDB entry mac -> vtep, neighbour entry ip -> mac.
// An endpoint with two IPv4 addresses yields two peers with the same MAC.
struct RemotePeer {
  std::string mac;       // lower-case "aa:bb:cc:dd:ee:ff"
  ipam::IpAddress ip;    // the endpoint's IPv4 address (no prefix length)
  ipam::IpAddress vtep;  // the advertised address of the node it lives on
  store::NodeId node = 0;
  std::string endpoint;  // endpoint id
  // Sorted by (ip, mac, vtep, ...): what the kernel tables are keyed by.
  friend auto operator<=>(const RemotePeer&, const RemotePeer&) = default;
  friend bool operator==(const RemotePeer&, const RemotePeer&) = default;
};

// An endpoint of the network that is left out of the peer set, and why (a node without a
// usable advertised address, a MAC or IP that clashes with another endpoint, a malformed
// record). Withdrawn endpoints of removed nodes are NOT listed here (NetworkPeers::withdrawn).
struct SkippedEndpoint {
  std::string endpoint;
  store::NodeId node = 0;
  std::string reason;
  friend bool operator==(const SkippedEndpoint&, const SkippedEndpoint&) = default;
};

// This node's view of one overlay network.
struct NetworkPeers {
  std::string network;  // network id
  uint32_t vni = 0;
  // Endpoints of this node on the network (ids ascending). The network is instantiated on this
  // node exactly when this is not empty.
  std::vector<std::string> local_endpoints;
  // What to program on the VXLAN device, sorted, without duplicates.
  std::vector<RemotePeer> peers;
  // Endpoints whose node record says removed (`node rm`; the removal deletes them, so these
  // are only records that arrived after it), ids ascending: absent from `peers`.
  std::vector<std::string> withdrawn;
  // Endpoints left out for another reason, by endpoint id.
  std::vector<SkippedEndpoint> skipped;
  // The distinct VTEPs of `peers`, ascending (for diagnostics and optional head-end
  // replication).
  std::vector<ipam::IpAddress> remote_vteps;

  bool instantiate() const { return !local_endpoints.empty(); }
  friend bool operator==(const NetworkPeers&, const NetworkPeers&) = default;
};

// Who is alive, from the membership layer (gossip). `self` is always treated as alive. Used by
// the space planner (space_planner.h) to choose donors; the peer table does not read it.
struct Membership {
  store::NodeId self = 0;
  std::set<store::NodeId> live;

  // Whether `node` counts as alive: self, or in `live`.
  bool alive(store::NodeId node) const { return node == self || live.count(node) > 0; }
};

// Whether `network` is an overlay network (driver "overlay").
bool is_overlay(const store::NetworkInfo& network);

// The VTEP address a node advertises, from its NodeInfo::address ("192.0.2.11"; an
// "ip:port" form is accepted and the port ignored). Nullopt when empty or not an IPv4 address.
std::optional<ipam::IpAddress> advertised_vtep(const store::NodeInfo& node);

// Computes the peer table of `network` for node `self` from explicit inputs:
// `endpoints` are the network's endpoints (others are ignored), `nodes` the node records.
//
// Rules, in order, per endpoint (sorted by id):
//  * owner == self: a local endpoint (listed in local_endpoints; never a peer).
//  * owner's node record says removed: withdrawn (dead, suspect or left owners are peers).
//  * owner without a record or without an IPv4 advertised address: skipped.
//  * no MAC, a malformed MAC, or no IPv4 address in the network's subnets: skipped.
//  * a MAC already used by a local endpoint, or by a remote endpoint with a lower id on
//    another VTEP; or an IP already used by an endpoint with a lower id: skipped (the kernel
//    tables cannot hold both, and the lowest id wins the same way on every node).
// Throws InvalidArgumentError if `network` is not an overlay network.
NetworkPeers compute_network_peers(const store::NetworkInfo& network,
                                   const std::vector<store::EndpointInfo>& endpoints,
                                   const std::vector<store::NodeInfo>& nodes, store::NodeId self);

// The same from one consistent store read. NotFoundError if there is no such network;
// InvalidArgumentError if it is not an overlay network.
NetworkPeers compute_network_peers(const store::ReadView& view, const std::string& network_id,
                                   store::NodeId self);

// The peer tables of every overlay network in the state, by network id ascending (networks
// this node does not instantiate included, with instantiate() == false).
std::vector<NetworkPeers> compute_all_network_peers(const store::ReadView& view,
                                                    store::NodeId self);

}  // namespace trellis::overlay
