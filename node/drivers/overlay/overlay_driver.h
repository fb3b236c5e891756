#pragma once
// The overlay driver's control half (docs/overlay.md): one network for the whole cluster, its
// VNI and subnet taken from this node's share of the cluster's owned spaces and its endpoints'
// addresses from this node's share of the network's space. When this node's share has nothing
// free but a live node's has, planning returns the space to ask for (SpaceWanted); when no
// live node has any, it throws overlay::NoSpaceReachableError. Its data-plane half is
// OverlayPlane (overlay_plane.h). Stateless; safe from any thread.

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "node/drivers/driver.h"

namespace trellis::node {

// The overlay driver's options (docs/overlay.md). Accepted keys (and Docker spellings):
//   vni=N                  com.docker.network.driver.overlay.vxlanid_list (one VNI, 4096 to
//                          16777215; default: picked from this node's share of the VNI space)
//   mtu=N                  com.docker.network.driver.mtu (default: underlay MTU - 50)
//   egress=true|false      a second interface on the per-host NAT bridge for containers'
//                          traffic out of the cluster (default: the node's --egress)
struct OverlayOptions {
  uint32_t vni = 0;            // 0: pick one
  uint32_t mtu = 0;            // 0: derived
  std::optional<bool> egress;  // unset: the node's default
};

inline constexpr uint32_t kMinUserVni = 4096;
inline constexpr uint32_t kMaxVni = (1u << 24) - 1;

// Parses a normalised option map (never throws for maps normalize_options produced;
// InvalidArgumentError otherwise).
OverlayOptions overlay_options(const std::map<std::string, std::string>& options);

class OverlayDriver final : public NetworkDriver {
 public:
  const DriverCapabilities& capabilities() const override;
  std::map<std::string, std::string> normalize_options(
      const std::map<std::string, std::string>& options) const override;
  // The VNI (the vni option, moved to ipam_result.vni, or a free one of this node's share)
  // and, without a subnet, a /24 of the cluster's pool from this node's share. A user's
  // subnet that overlaps another network fails before any donation is asked for.
  std::optional<SpaceWanted> plan_network(const PlanningContext& context,
                                          store::NetworkCreated& spec, store::IpamPoolConfig& pool,
                                          const std::string& what) const override;
  AddressPlan plan_address(const PlanningContext& context, const store::NetworkInfo& network,
                           const std::string& preferred, const std::string& what) const override;
};

}  // namespace trellis::node
