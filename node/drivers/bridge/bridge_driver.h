#pragma once
// The bridge driver's control half: a local network with addresses from its own space (owned
// by the node that created it), whose endpoints may publish host ports. Its data-plane half is
// BridgePlane (bridge_plane.h). Stateless; safe from any thread.

#include <cstdint>
#include <map>
#include <string>

#include "node/drivers/driver.h"

namespace trellis::node {

// The bridge driver's options, parsed from a network's option map. Accepted keys (and the
// Docker spellings they stand for):
//   icc=true|false         com.docker.network.bridge.enable_icc
//   masquerade=true|false  com.docker.network.bridge.enable_ip_masquerade
//   host_ip=ADDR           com.docker.network.bridge.host_binding_ipv4 (default host IP of
//                          published ports)
//   mtu=N                  com.docker.network.driver.mtu (same as the network's MTU field)
struct BridgeOptions {
  bool icc = true;
  bool masquerade = true;
  std::string host_ip;  // empty: every local address
  uint32_t mtu = 0;     // 0: 1500
};

// Parses a normalised option map (never throws for maps normalize_options produced;
// InvalidArgumentError otherwise).
BridgeOptions bridge_options(const std::map<std::string, std::string>& options);

class BridgeDriver final : public NetworkDriver {
 public:
  const DriverCapabilities& capabilities() const override;
  std::map<std::string, std::string> normalize_options(
      const std::map<std::string, std::string>& options) const override;
  // Nothing of its own: the pool rules allocate a subnet from the local default pools.
  std::optional<SpaceWanted> plan_network(const PlanningContext& context,
                                          store::NetworkCreated& spec, store::IpamPoolConfig& pool,
                                          const std::string& what) const override;
  // The network's space is its creator's: never a shortage.
  AddressPlan plan_address(const PlanningContext& context, const store::NetworkInfo& network,
                           const std::string& preferred, const std::string& what) const override;
  // {"bridge": the network's Linux bridge name}.
  std::map<std::string, std::string> view_fields(const store::NetworkCreated& spec) const override;
};

}  // namespace trellis::node
