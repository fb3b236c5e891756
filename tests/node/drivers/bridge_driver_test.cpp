// The bridge driver's control half: option normalisation (Docker spellings, checked values)
// and address planning from the network's own space.

#include "node/drivers/bridge/bridge_driver.h"

#include <gtest/gtest.h>

#include <optional>

#include "common/error.h"
#include "node/drivers/null_host/null_host_driver.h"
#include "node/drivers/pool_rules.h"
#include "node/model/state_cache.h"
#include "tests/node/support/temp_dir.h"

namespace trellis::node {
namespace {

using testing::TempDir;

TEST(BridgeDriverTest, OptionsAreNormalised) {
  const BridgeDriver bridge;
  auto o = bridge.normalize_options(
      {{"com.docker.network.bridge.enable_icc", "0"}, {"host_ip", "127.0.0.1"}});
  EXPECT_EQ(o.at("icc"), "false");
  const BridgeOptions b = bridge_options(o);
  EXPECT_FALSE(b.icc);
  EXPECT_TRUE(b.masquerade);
  EXPECT_EQ(b.host_ip, "127.0.0.1");
  EXPECT_THROW(bridge.normalize_options({{"mtu", "20"}}), InvalidArgumentError);
  EXPECT_THROW(bridge.normalize_options({{"vni", "5000"}}), InvalidArgumentError);
  EXPECT_THROW(NullHostDriver("host", true).normalize_options({{"icc", "true"}}),
               InvalidArgumentError);
}

class BridgePlanningTest : public ::testing::Test {
 protected:
  BridgePlanningTest() {
    store::Options o;
    o.durable = false;
    store_.emplace(store::Store::open(dir_ / "data", o));
    self_ = store_->identity().id;
    cache_.emplace(*store_, self_);
  }

  // A bridge network of `subnet` with the pool rules applied, committed.
  store::NetworkInfo network(const std::string& name, const std::string& subnet,
                             std::string ip_range = "") {
    store::NetworkCreated spec;
    spec.id = name + "0000000000";
    spec.name = name;
    spec.driver = "bridge";
    store::IpamPoolConfig pool;
    pool.subnet = subnet;
    pool.ip_range = std::move(ip_range);
    complete_pool(*cache_, self_, {}, spec, pool, "create network");
    store_->append_local(spec);
    cache_->load_all();
    return *cache_->network(spec.id);
  }
  PlanningContext context() const { return {*cache_, *store_, self_, {}, {}}; }

  TempDir dir_;
  std::optional<store::Store> store_;
  store::NodeId self_ = 0;
  std::optional<StateCache> cache_;
  BridgeDriver bridge_;
};

TEST_F(BridgePlanningTest, AddressesSkipTheGatewayAndStayInTheRange) {
  const store::NetworkInfo net = network("a", "192.0.2.0/26");
  EXPECT_EQ(net.spec.ipam_result.pools.front().gateway, "192.0.2.1");
  const AddressPlan first = bridge_.plan_address(context(), net, "", "create endpoint");
  EXPECT_EQ(first.address, "192.0.2.2/26");
  EXPECT_FALSE(first.shortage);
  EXPECT_EQ(bridge_.plan_address(context(), net, "192.0.2.9", "x").address, "192.0.2.9/26");
  EXPECT_THROW(bridge_.plan_address(context(), net, "192.0.2.1", "x"), ConflictError);
  EXPECT_THROW(bridge_.plan_address(context(), net, "198.51.100.1", "x"), InvalidArgumentError);
  const store::NetworkInfo ranged = network("b", "192.0.2.64/26", "192.0.2.80/28");
  EXPECT_EQ(bridge_.plan_address(context(), ranged, "", "x").address, "192.0.2.80/26");
}

TEST_F(BridgePlanningTest, PoolRulesRefuseAnOverlappingSubnet) {
  network("a", "192.0.2.0/26");
  store::NetworkCreated spec;
  store::IpamPoolConfig pool;
  pool.subnet = "192.0.2.32/27";
  EXPECT_THROW(complete_pool(*cache_, self_, {}, spec, pool, "create network"), ConflictError);
  pool.subnet.clear();
  complete_pool(*cache_, self_, {}, spec, pool, "create network");  // from the default pools
  ASSERT_EQ(spec.ipam_result.pools.size(), 1u);
  EXPECT_NE(spec.ipam_result.pools.front().subnet, "");
}

// Docker's docker0 holds 172.17.0.1/16, the first of the default pools: a network must not
// take it (a second bridge with that address cuts both off), and asking for it is refused
// with the interface named.
TEST_F(BridgePlanningTest, DefaultPoolsSkipWhatTheHostUsesAndAnOverlapNamesIt) {
  const std::vector<HostPrefix> host = {
      {ipam::Prefix::parse("172.17.0.0/16"), "address 172.17.0.1/16 on docker0"},
      {ipam::Prefix::parse("172.18.0.0/16"), "route 172.18.0.0/16 on tun0"}};
  store::NetworkCreated spec;
  store::IpamPoolConfig pool;
  complete_pool(*cache_, self_, host, spec, pool, "create network");
  ASSERT_EQ(spec.ipam_result.pools.size(), 1u);
  const ipam::Prefix chosen = ipam::Prefix::parse(spec.ipam_result.pools.front().subnet);
  for (const HostPrefix& h : host) EXPECT_FALSE(chosen.overlaps(h.prefix)) << chosen.to_string();

  pool.subnet = "172.17.5.0/24";
  try {
    complete_pool(*cache_, self_, host, spec, pool, "create network");
    ADD_FAILURE() << "an explicit subnet over docker0's was accepted";
  } catch (const ConflictError& e) {
    EXPECT_NE(std::string(e.what()).find("overlaps 172.17.0.0/16 of address 172.17.0.1/16 on "
                                         "docker0 (on this host)"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(BridgePlanningTest, ReservedRangesAreRefusedForEveryNetwork) {
  for (const char* subnet :
       {"127.0.0.0/24", "0.0.0.0/16", "169.254.1.0/24", "224.1.0.0/16", "240.0.0.0/8"}) {
    store::NetworkCreated spec;
    store::IpamPoolConfig pool;
    pool.subnet = subnet;
    try {
      complete_pool(*cache_, self_, {}, spec, pool, "create network");
      ADD_FAILURE() << subnet << " was accepted";
    } catch (const ConflictError& e) {
      EXPECT_NE(std::string(e.what()).find("reserved"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace trellis::node
