// The driver registry: every registered driver has both halves, names are unique, and an
// unknown name is refused with the list of known ones.

#include "node/drivers/registry.h"

#include <gtest/gtest.h>

#include <set>

#include "common/error.h"
#include "tests/node/fakes/fake_netops.h"

namespace trellis::node {
namespace {

TEST(DriverRegistryTest, EveryDriverHasAControlHalfAndADataPlaneHalf) {
  testing::FakeNetOps ops;
  DataPlaneOptions options;
  options.run_dir = "/nonexistent";
  const DriverRegistry& registry = DriverRegistry::builtin();
  const NetworkPlanes planes = registry.make_planes(ops, options);
  ASSERT_EQ(planes.size(), registry.entries().size());
  std::set<std::string> names;
  for (size_t i = 0; i < planes.size(); ++i) {
    const auto& entry = registry.entries()[i];
    EXPECT_TRUE(names.insert(entry.name).second) << entry.name << " is registered twice";
    ASSERT_NE(entry.control, nullptr) << entry.name;
    EXPECT_EQ(&registry.get(entry.name), entry.control.get());
    EXPECT_EQ(planes[i].driver, entry.name);
    EXPECT_NE(planes[i].plane, nullptr) << entry.name;
  }
  EXPECT_EQ(names, (std::set<std::string>{"null", "host", "bridge", "overlay"}));
}

TEST(DriverRegistryTest, UnknownDriverNamesTheKnownOnes) {
  EXPECT_EQ(DriverRegistry::builtin().find("macvlan"), nullptr);
  try {
    DriverRegistry::builtin().get("macvlan");
    FAIL() << "expected InvalidArgumentError";
  } catch (const InvalidArgumentError& e) {
    EXPECT_STREQ(e.what(),
                 "unknown network driver 'macvlan' (expected null, host, bridge or overlay)");
  }
}

TEST(DriverRegistryTest, CapabilitiesSayWhatTheControllerMayDo) {
  const auto& null = network_driver("null").capabilities();
  const auto& host = network_driver("host").capabilities();
  const auto& bridge = network_driver("bridge").capabilities();
  const auto& overlay = network_driver("overlay").capabilities();
  EXPECT_TRUE(null.exclusive && host.exclusive);
  EXPECT_FALSE(null.needs_ipam || host.needs_ipam);
  EXPECT_TRUE(host.host_namespace);
  EXPECT_FALSE(null.host_namespace);
  EXPECT_TRUE(bridge.needs_ipam && bridge.publishes_ports);
  EXPECT_EQ(bridge.scope, DriverScope::kLocal);
  EXPECT_TRUE(overlay.needs_ipam && overlay.needs_clustering);
  EXPECT_FALSE(overlay.publishes_ports);
  EXPECT_EQ(overlay.scope, DriverScope::kCluster);
}

}  // namespace
}  // namespace trellis::node
