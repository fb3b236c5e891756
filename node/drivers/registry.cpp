#include "node/drivers/registry.h"

#include "common/error.h"
#include "node/drivers/bridge/bridge_driver.h"
#include "node/drivers/bridge/bridge_plane.h"
#include "node/drivers/null_host/null_host_driver.h"
#include "node/drivers/overlay/overlay_driver.h"
#include "node/drivers/overlay/overlay_plane.h"
#include "overlay/peer_table.h"

namespace trellis::node {

namespace {

std::unique_ptr<NetworkPlane> no_plane(NetOps&, const DataPlaneOptions&) {
  return std::make_unique<NoNetworkPlane>();
}

std::unique_ptr<NetworkPlane> bridge_plane(NetOps& ops, const DataPlaneOptions& o) {
  return std::make_unique<BridgePlane>(ops, o.node);
}

std::unique_ptr<NetworkPlane> overlay_plane(NetOps& ops, const DataPlaneOptions& o) {
  return std::make_unique<OverlayPlane>(
      ops, OverlayPlaneOptions{o.node, RunPaths(o.run_dir).netns_dir(), o.vxlan_port,
                               o.egress_default, o.make_overlay});
}

std::vector<DriverRegistry::Entry> builtin_entries() {
  std::vector<DriverRegistry::Entry> e;
  e.push_back({"null", std::make_unique<NullHostDriver>("null", false), no_plane});
  e.push_back({"host", std::make_unique<NullHostDriver>("host", true), no_plane});
  e.push_back({std::string(DriverRegistry::kDefaultDriver), std::make_unique<BridgeDriver>(),
               bridge_plane});
  // The overlay library checks network records against the same name.
  e.push_back(
      {std::string(overlay::kOverlayDriver), std::make_unique<OverlayDriver>(), overlay_plane});
  return e;
}

}  // namespace

const DriverRegistry& DriverRegistry::builtin() {
  static const DriverRegistry registry(builtin_entries());
  return registry;
}

const NetworkDriver* DriverRegistry::find(std::string_view name) const {
  for (const auto& e : entries_) {
    if (e.name == name) return e.control.get();
  }
  return nullptr;
}

const NetworkDriver& DriverRegistry::get(std::string_view name) const {
  if (const NetworkDriver* d = find(name)) return *d;
  std::string expected;
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (i > 0) expected += i + 1 == entries_.size() ? " or " : ", ";
    expected += entries_[i].name;
  }
  throw InvalidArgumentError("unknown network driver '" + std::string(name) + "' (expected " +
                             expected + ")");
}

NetworkPlanes DriverRegistry::make_planes(NetOps& ops, const DataPlaneOptions& options) const {
  NetworkPlanes planes;
  for (const auto& e : entries_) planes.push_back({e.name, e.make_plane(ops, options)});
  return planes;
}

}  // namespace trellis::node
