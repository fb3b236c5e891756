#pragma once
// StateCache: the controller's in-memory mirror of the store's state tables (networks,
// endpoints, sandboxes, the address spaces of networks, the node records with their advertised
// addresses — the overlay's VTEPs), kept current from the store's change
// sets, so lookups by name and the reconciler's reads cost no LMDB transaction. It also
// remembers the order in which endpoints joined their sandboxes (the store keeps joins as a
// set; the order decides interface names and which network gives the default route).
//
// Threads: owned by the daemon's I/O thread (the store's writer thread). Not thread-safe.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "store/store.h"

namespace trellis::node {

class StateCache {
 public:
  // `store` must outlive the cache.
  StateCache(const store::Store& store, store::NodeId self);

  store::NodeId self() const { return self_; }

  // Reads everything from the store (start-up, or after the store refolded its state).
  // Join order comes from the order in which the store applied the live join events.
  void load_all();
  // Re-reads what `changes` touched. Never throws for a missing object (it was removed).
  void apply(const store::ChangeSet& changes);

  const store::NetworkInfo* network(const std::string& id) const;
  const store::EndpointInfo* endpoint(const std::string& id) const;
  const store::SandboxInfo* sandbox(const std::string& id) const;
  const store::SpaceInfo* space(const std::string& key) const;
  // A node record (announced, left or removed), nullptr if the node never announced itself.
  const store::NodeInfo* node(store::NodeId id) const;

  const std::map<std::string, store::NetworkInfo>& networks() const { return networks_; }
  const std::map<std::string, store::EndpointInfo>& endpoints() const { return endpoints_; }
  const std::map<std::string, store::SandboxInfo>& sandboxes() const { return sandboxes_; }
  const std::map<store::NodeId, store::NodeInfo>& nodes() const { return nodes_; }
  // The node records as a list (ids ascending), the form overlay::compute_network_peers takes.
  std::vector<store::NodeInfo> node_records() const;

  // The endpoints of a network (ids ascending).
  std::vector<const store::EndpointInfo*> endpoints_of_network(const std::string& id) const;
  // The endpoints joined to a sandbox, in join order (first joined first).
  std::vector<const store::EndpointInfo*> joined_endpoints(const std::string& sandbox) const;
  // Position of an endpoint's join among all joins this node saw (larger = later); 0 when
  // not joined.
  uint64_t join_order(const std::string& endpoint) const;

  // Whether this node instantiates the network (a local network it owns, or a cluster one).
  bool is_local_network(const store::NetworkInfo& network) const;

 private:
  void refresh_endpoint(const store::ReadView& view, const std::string& id);

  const store::Store& store_;
  store::NodeId self_;
  std::map<std::string, store::NetworkInfo> networks_;
  std::map<std::string, store::EndpointInfo> endpoints_;
  std::map<std::string, store::SandboxInfo> sandboxes_;
  std::map<std::string, store::SpaceInfo> spaces_;
  std::map<store::NodeId, store::NodeInfo> nodes_;
  std::map<std::string, uint64_t> join_order_;  // endpoint id -> order of its current join
  uint64_t next_join_ = 1;
};

}  // namespace trellis::node
