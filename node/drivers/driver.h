#pragma once
// NetworkDriver: the control half of a network driver — what the controller asks a driver when
// it creates a network or an endpoint: its capabilities, its options, its part of a new
// network's spec, and an endpoint's address. Planning never writes: it fills the spec or
// returns the space this node lacks, and the controller turns that into a SpaceShortage (a
// command that waits for a donation). The data-plane half is NetworkPlane
// (node/dataplane/network_plane.h); the registry (node/drivers/registry.h) pairs the two under
// the driver's name, and is the only place that spells driver names.
//
// Errors: InvalidArgumentError / ConflictError naming the operation (`what`) for a request the
// driver refuses; UnavailableError when this node cannot plan it at all.
// Threads: implementations are stateless; they read only the PlanningContext they are given
// (the daemon's I/O thread owns the state behind it).

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "node/model/host_prefixes.h"
#include "store/store.h"

namespace trellis::node {

class StateCache;

enum class DriverScope {
  kLocal,    // a network lives on the node that created it (its name is unique per node)
  kCluster,  // one network for the whole cluster
};

struct DriverCapabilities {
  DriverScope scope = DriverScope::kLocal;
  bool needs_clustering = false;  // refused on a node started without --advertise-addr
  bool needs_ipam = false;        // endpoints get addresses from the network's subnet; such
                                  // networks may be internal
  bool exclusive = false;         // one network per node; its sandboxes join nothing else
  bool publishes_ports = false;   // endpoints may publish host ports
  bool host_namespace = false;    // its sandboxes share the host's network namespace
};

// Space this node does not own but a live node does: ask `donor` (SpaceShortage).
struct SpaceWanted {
  store::NodeId donor = 0;
  std::string wanted;   // for messages: "addresses", "VNIs", "address 10.0.0.7"
  std::string space;    // the space key: "vni", "subnet-pool", "net/<id>/<pool>"
  std::string payload;  // overlay::encode_space_request
};

// An endpoint's address "a.b.c.d/len", or the space to ask for first.
struct AddressPlan {
  std::string address;
  std::optional<SpaceWanted> shortage;
};

// What a driver reads while planning (all owned by the caller, valid for the call).
struct PlanningContext {
  const StateCache& state;
  const store::Store& store;
  store::NodeId self = 0;
  std::set<store::NodeId> live;  // the other live nodes: possible donors
  // What this host's namespace uses (addresses, routes): new subnets avoid it. Filled when a
  // network is planned, empty for endpoints.
  std::vector<HostPrefix> host_prefixes;
};

class NetworkDriver {
 public:
  virtual ~NetworkDriver() = default;

  virtual const DriverCapabilities& capabilities() const = 0;

  // Docker spellings become the short keys, values are checked; the result is what the
  // network-created event stores. InvalidArgumentError for unknown keys or bad values
  // ("option vni=12: expected a number from 4096 to 16777215").
  virtual std::map<std::string, std::string> normalize_options(
      const std::map<std::string, std::string>& options) const = 0;

  // Fills the driver's part of a new network whose options are normalised, before the pool
  // rules (pool_rules.h) complete `pool` (the request's pool, maybe empty): e.g. the overlay's
  // VNI and, without a subnet, one from this node's share of the cluster's pool. Called only
  // for drivers that need IPAM. Returns the space to ask for when this node owns none that
  // fits (the caller discards `spec` then).
  virtual std::optional<SpaceWanted> plan_network(const PlanningContext& context,
                                                  store::NetworkCreated& spec,
                                                  store::IpamPoolConfig& pool,
                                                  const std::string& what) const = 0;

  // The address of a new endpoint on `network` (needs IPAM): `preferred` if given and free.
  virtual AddressPlan plan_address(const PlanningContext& context,
                                   const store::NetworkInfo& network, const std::string& preferred,
                                   const std::string& what) const = 0;

  // Fields of its own that `network inspect` shows (the bridge: its Linux bridge's name).
  virtual std::map<std::string, std::string> view_fields(const store::NetworkCreated&) const {
    return {};
  }
};

}  // namespace trellis::node
