#pragma once
// What the controller knows about each network driver: whether it needs addresses, whether
// it is exclusive (a sandbox on it joins nothing else), and which options it accepts. The
// kernel side of the drivers lives in the reconciler (node/kernel_reconciler.h).
// Pure; safe from any thread.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace trellis::node {

struct DriverTraits {
  std::string_view name;
  bool needs_ipam = false;  // endpoints get addresses from the network's subnet
  bool exclusive = false;   // at most one network per node; its sandboxes join nothing else
};

// "null", "host", "bridge" or "overlay"; anything else InvalidArgumentError.
const DriverTraits& driver_traits(std::string_view name);

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

// Normalises an option map for `driver`: Docker spellings become the short keys, values are
// checked. Returns the normalised map (what the network-created event stores).
// InvalidArgumentError for unknown keys or bad values (null and host accept no options):
// "option vni=12: expected a number from 4096 to 16777215".
std::map<std::string, std::string> normalize_driver_options(
    std::string_view driver, const std::map<std::string, std::string>& options);

// Parses a normalised option map (never throws for maps normalize_driver_options produced;
// InvalidArgumentError otherwise).
BridgeOptions bridge_options(const std::map<std::string, std::string>& options);
OverlayOptions overlay_options(const std::map<std::string, std::string>& options);

}  // namespace trellis::node
