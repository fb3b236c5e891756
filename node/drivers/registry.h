#pragma once
// The driver registry: every network driver by name, with its control half (NetworkDriver,
// used by the controller) and a factory for its data-plane half (NetworkPlane, handed by the
// daemon to the reconcile pass). The only place driver names are spelled; adding a driver is
// adding its directory under node/drivers/ and one entry in registry.cpp.
//
// Threads: builtin() is immutable after its first use and safe from any thread; the planes it
// makes belong to the daemon's I/O thread.

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "node/dataplane/network_plane.h"
#include "node/drivers/driver.h"
#include "node/drivers/overlay/overlay_programmer.h"

namespace trellis::node {

// What the data-plane halves need from the daemon.
struct DataPlaneOptions {
  std::string run_dir;
  store::NodeId node = 0;
  // The overlay driver: the VXLAN port (--vxlan-port), the egress default (--egress) and how
  // the programmer is made (production: make_overlay_host_programmer; unset: overlay networks
  // fail as unavailable).
  uint16_t vxlan_port = 4789;
  bool egress_default = false;
  OverlayProgrammerFactory make_overlay;
};

class DriverRegistry {
 public:
  // The driver of a network created without one (Docker's default too).
  static constexpr std::string_view kDefaultDriver = "bridge";

  using PlaneFactory =
      std::function<std::unique_ptr<NetworkPlane>(NetOps& ops, const DataPlaneOptions& options)>;
  struct Entry {
    std::string name;
    std::unique_ptr<NetworkDriver> control;
    PlaneFactory make_plane;
  };

  // null, host, bridge and overlay.
  static const DriverRegistry& builtin();

  explicit DriverRegistry(std::vector<Entry> entries) : entries_(std::move(entries)) {}

  // InvalidArgumentError for an unknown name ("unknown network driver 'x' (expected null,
  // host, bridge or overlay)").
  const NetworkDriver& get(std::string_view name) const;
  // nullptr for an unknown name.
  const NetworkDriver* find(std::string_view name) const;
  const std::vector<Entry>& entries() const { return entries_; }
  // Every driver's data-plane half over `ops` (which must outlive them), in registry order.
  NetworkPlanes make_planes(NetOps& ops, const DataPlaneOptions& options) const;

 private:
  std::vector<Entry> entries_;
};

// The builtin registry's control half of `name` (InvalidArgumentError when unknown).
inline const NetworkDriver& network_driver(std::string_view name) {
  return DriverRegistry::builtin().get(name);
}

}  // namespace trellis::node
