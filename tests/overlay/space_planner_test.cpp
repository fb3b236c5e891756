#include "overlay/space_planner.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "tests/overlay/cluster_fixture.h"

namespace trellis::overlay {
namespace {

using testing::Cluster;
using testing::endpoint;
using testing::overlay_network;

constexpr int kA = 0, kB = 1, kC = 2;

Membership members(int self, std::set<int> live) {
  Membership m;
  m.self = Cluster::id_of(self);
  for (int i : live) m.live.insert(Cluster::id_of(i));
  return m;
}

const std::set<int> kAll = {kA, kB, kC};

// What a node does to create an auto-allocated overlay network: pick a VNI and a pool index
// from its own ranges and author the creation.
store::NetworkInfo create_auto_network(store::Store& node, const Membership& m,
                                       const std::string& id) {
  SpacePick vni = pick_vni(node.read(), m);
  SpacePick pool = pick_pool_subnet(node.read(), m);
  if (!vni.value) throw_no_space(vni.shortage, "create " + id, SpaceKind::kVni);
  if (!pool.value) throw_no_space(pool.shortage, "create " + id, SpaceKind::kSubnet);
  node.append_local(overlay_network(id, pool_subnet(*pool.value).to_string(),
                                    static_cast<uint32_t>(*vni.value), *pool.value));
  return *node.read().network(id);
}

// Every node that is alive hands out the cluster spaces to the joiners, as the daemon does on
// a member-joined notification.
void run_join_donations(Cluster& c, int joiner, const std::set<int>& live) {
  for (int i : live) {
    if (i == joiner) continue;
    for (const auto& d :
         plan_join_donations(c.node(i).read(), members(i, live), Cluster::id_of(joiner)))
      c.node(i).append_local(d);
  }
  c.sync_all();
}

TEST(PoolSubnet, IndexMapsTo24sOf10Slash8) {
  EXPECT_EQ(pool_subnet(0).to_string(), "10.0.0.0/24");
  EXPECT_EQ(pool_subnet(258).to_string(), "10.1.2.0/24");
  EXPECT_EQ(pool_subnet(65535).to_string(), "10.255.255.0/24");
  EXPECT_EQ(pool_gateway(258).to_string(), "10.1.2.1");
  EXPECT_THROW(pool_subnet(65536), InvalidArgumentError);
}

TEST(SpacePlanner, PicksFailWithNotFoundBeforeAClusterIsFounded) {
  Cluster c(1);
  EXPECT_THROW(pick_vni(c.node(kA).read(), members(kA, {})), NotFoundError);
  EXPECT_THROW(pick_pool_subnet(c.node(kA).read(), members(kA, {})), NotFoundError);
  EXPECT_EQ(missing_cluster_spaces(c.node(kA).read()).size(), 2u);
  for (const auto& s : missing_cluster_spaces(c.node(kA).read())) c.node(kA).append_local(s);
  EXPECT_TRUE(missing_cluster_spaces(c.node(kA).read()).empty());
}

TEST(SpacePlanner, FounderTakesTheLowestFreeVniAndSubnetInTurn) {
  Cluster c(1);
  c.found(kA);
  const Membership m = members(kA, {});
  store::NetworkInfo n1 = create_auto_network(c.node(kA), m, "n1");
  EXPECT_EQ(n1.spec.ipam_result.vni, store::kVniFirst);
  EXPECT_EQ(n1.spec.ipam_result.pools[0].subnet, "10.0.0.0/24");
  EXPECT_EQ(n1.spec.ipam_result.pools[0].gateway, "10.0.0.1");
  store::NetworkInfo n2 = create_auto_network(c.node(kA), m, "n2");
  EXPECT_EQ(n2.spec.ipam_result.vni, store::kVniFirst + 1);
  EXPECT_EQ(n2.spec.ipam_result.pools[0].subnet, "10.0.1.0/24");
  // Removing n1 frees both; the next network takes them again.
  c.node(kA).append_local(store::NetworkRemoved{"n1"});
  store::NetworkInfo n3 = create_auto_network(c.node(kA), m, "n3");
  EXPECT_EQ(n3.spec.ipam_result.vni, store::kVniFirst);
  EXPECT_EQ(n3.spec.ipam_result.pools[0].subnet, "10.0.0.0/24");
}

TEST(SpacePlanner, AutoSubnetAvoidsSubnetsUsersChoseInsideThePool) {
  Cluster c(1);
  c.found(kA);
  // A user-chosen 10.0.0.0/23 (no pool index) covers indices 0 and 1; 10.0.3.128/25 covers 3.
  c.node(kA).append_local(overlay_network("u1", "10.0.0.0/23", 0));
  c.node(kA).append_local(overlay_network("u2", "10.0.3.128/25", 0));
  const Membership m = members(kA, {});
  EXPECT_EQ(create_auto_network(c.node(kA), m, "n1").spec.ipam_result.pool_index, 2u);
  EXPECT_EQ(create_auto_network(c.node(kA), m, "n2").spec.ipam_result.pool_index, 4u);
  // Other nodes' *local* networks do not matter (they never meet the overlay's containers).
}

TEST(SpacePlanner, ANodeWithoutShareIsToldWhomToAsk) {
  Cluster c(3);
  c.found(kA);
  c.sync_all();
  SpacePick vni = pick_vni(c.node(kB).read(), members(kB, kAll));
  EXPECT_FALSE(vni.value);
  ASSERT_TRUE(vni.shortage.donor);
  EXPECT_EQ(*vni.shortage.donor, Cluster::id_of(kA));
  EXPECT_EQ(vni.shortage.donor_free, store::kVniLast - store::kVniFirst + 1);
  EXPECT_EQ(vni.shortage.unreachable_free, 0u);
  // With A unreachable there is nobody to ask.
  SpacePick pool = pick_pool_subnet(c.node(kB).read(), members(kB, {kC}));
  EXPECT_FALSE(pool.shortage.donor);
  EXPECT_EQ(pool.shortage.unreachable_free, 65536u);
  try {
    throw_no_space(pool.shortage, "create network x", SpaceKind::kSubnet);
    FAIL();
  } catch (const NoSpaceReachableError& e) {
    EXPECT_STREQ(e.what(),
                 "create network x: no subnet space reachable: 65536 subnets owned by "
                 "unreachable nodes");
    EXPECT_EQ(e.kind(), ErrorKind::kUnavailable);
  }
}

TEST(SpacePlanner, JoinersGetADisjointShareFromTheMemberWithMostFreeSpace) {
  Cluster c(3);
  c.found(kA);
  c.sync_all();
  run_join_donations(c, kB, {kA, kB});
  // A held everything: A donated half of each space to B.
  auto shares = space_shares(c.node(kC).read());
  EXPECT_EQ(shares["subnet-pool"][Cluster::id_of(kA)].owned, 32768u);
  EXPECT_EQ(shares["subnet-pool"][Cluster::id_of(kB)].owned, 32768u);
  EXPECT_GT(shares["vni"][Cluster::id_of(kB)].owned, 0u);
  // C joins: A and B have equal free counts; the lower id (A) donates, a third of the total
  // capped at half its run; B does not.
  EXPECT_TRUE(
      plan_join_donations(c.node(kB).read(), members(kB, kAll), Cluster::id_of(kC)).empty());
  run_join_donations(c, kC, kAll);
  shares = space_shares(c.node(kB).read());
  EXPECT_EQ(shares["subnet-pool"][Cluster::id_of(kC)].owned, 16384u);
  EXPECT_EQ(shares["subnet-pool"][Cluster::id_of(kA)].owned, 16384u);
  EXPECT_EQ(shares["subnet-pool"][Cluster::id_of(kB)].owned, 32768u);
  EXPECT_GT(shares["vni"][Cluster::id_of(kC)].owned, 0u);
  // A member that already has a share gets nothing more on a re-join.
  for (int i : kAll)
    EXPECT_TRUE(
        plan_join_donations(c.node(i).read(), members(i, kAll), Cluster::id_of(kC)).empty());
}

TEST(SpacePlanner, ConcurrentCreatesOnThreeNodesWithDisjointSharesNeverCollide) {
  Cluster c(3);
  c.found(kA);
  c.sync_all();
  run_join_donations(c, kB, {kA, kB});
  run_join_donations(c, kC, kAll);
  // Partitioned: every node creates 20 networks having seen none of the others'.
  for (int i : kAll) {
    for (int k = 0; k < 20; ++k)
      create_auto_network(c.node(i), members(i, {i}),
                          "n" + std::to_string(i) + "-" + std::to_string(k));
  }
  EXPECT_TRUE(c.sync_all().empty()) << "a creation was rejected after healing";
  std::set<uint32_t> vnis;
  std::set<std::string> subnets;
  const auto networks = c.node(kA).read().networks();
  ASSERT_EQ(networks.size(), 60u);
  for (const auto& n : networks) {
    vnis.insert(n.spec.ipam_result.vni);
    subnets.insert(n.spec.ipam_result.pools[0].subnet);
  }
  EXPECT_EQ(vnis.size(), 60u);
  EXPECT_EQ(subnets.size(), 60u);
  EXPECT_EQ(c.node(kA).state_digest(), c.node(kB).state_digest());
  EXPECT_EQ(c.node(kA).state_digest(), c.node(kC).state_digest());
}

TEST(SpacePlanner, RequestedDonationIsHalfTheDonorsLargestRunAtMostWanted) {
  Cluster c(2);
  c.found(kA);
  c.sync_all();
  const auto space = c.node(kA).read().space("subnet-pool")->space;
  auto d = plan_requested_donation(space, "subnet-pool", Cluster::id_of(kA), Cluster::id_of(kB),
                                   kClusterSpaceRequestSize);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->to, Cluster::id_of(kB));
  EXPECT_EQ(d->last - d->first + 1, kClusterSpaceRequestSize);
  EXPECT_EQ(d->last, store::kSubnetPoolLast);  // the donor keeps the start of its run
  EXPECT_FALSE(
      plan_requested_donation(space, "subnet-pool", Cluster::id_of(kA), Cluster::id_of(kA), 5));
  EXPECT_FALSE(plan_requested_donation(space, "subnet-pool", Cluster::id_of(kB), Cluster::id_of(kA),
                                       5));  // B owns nothing
  c.node(kA).append_local(*d);
  c.sync_all();
  const SpacePick pick = pick_pool_subnet(c.node(kB).read(), members(kB, {kA}));
  ASSERT_TRUE(pick.value);
  EXPECT_EQ(*pick.value, d->first);
}

// --- addresses of one network ----------------------------------------------------------------

class AddressTest : public ::testing::Test {
 protected:
  AddressTest() : c_(3) {
    store::NetworkCreated n = overlay_network("net", "10.9.9.0/28", 0);
    n.ipam.pools[0].aux_addresses = {{"printer", "10.9.9.3"}};
    c_.node(kA).append_local(n);
    c_.sync_all();
  }
  ipam::OwnedSpace space(int node) {
    return c_.node(node).read().space(store::network_space_key("net", 0))->space;
  }
  store::NetworkInfo network(int node) { return *c_.node(node).read().network("net"); }

  Cluster c_;
};

TEST_F(AddressTest, PicksSkipTheGatewayAndAuxAddresses) {
  SpacePick p = pick_address(c_.node(kA).read(), "net", 0, members(kA, kAll));
  ASSERT_TRUE(p.value);
  EXPECT_EQ(*p.value, 2u);  // .1 is the gateway
  c_.node(kA).append_local(endpoint("e1", "net", "02:42:0a:09:09:02", "10.9.9.2/28"));
  p = pick_address(c_.node(kA).read(), "net", 0, members(kA, kAll));
  EXPECT_EQ(*p.value, 4u);  // .3 is the aux address
  EXPECT_THROW(pick_address(c_.node(kA).read(), "net", 1, members(kA, kAll)), NotFoundError);
  EXPECT_THROW(pick_address(c_.node(kA).read(), "nope", 0, members(kA, kAll)), NotFoundError);
}

TEST_F(AddressTest, PicksStayInsideTheIpRange) {
  store::NetworkCreated n = overlay_network("ranged", "10.8.0.0/24", 0);
  n.ipam.pools[0].ip_range = "10.8.0.128/25";
  c_.node(kA).append_local(n);
  SpacePick p = pick_address(c_.node(kA).read(), "ranged", 0, members(kA, {}));
  ASSERT_TRUE(p.value);
  EXPECT_EQ(*p.value, 128u);
}

// A /28 has 14 host addresses; the gateway takes one. Three nodes allocate round-robin, asking
// a live owner for a donation whenever they own nothing free, until every node fails.
TEST_F(AddressTest, ExhaustingASlash28AcrossThreeOwnersHandsOutEveryAddressExactlyOnce) {
  std::multiset<std::string> handed;
  std::map<int, std::string> final_error;
  int serial = 0;
  for (int round = 0; round < 100 && final_error.size() < 3; ++round) {
    for (int i : kAll) {
      if (final_error.count(i)) continue;
      const Membership m = members(i, kAll);
      SpacePick p = pick_address(c_.node(i).read(), "net", 0, m);
      if (!p.value && p.shortage.donor) {
        // Ask the donor (in the daemon: a space request over gossip) and wait for its event.
        int donor = -1;
        for (int j : kAll)
          if (Cluster::id_of(j) == *p.shortage.donor) donor = j;
        auto d = plan_requested_donation(space(donor), store::network_space_key("net", 0),
                                         Cluster::id_of(donor), m.self, kAddressRequestSize);
        ASSERT_TRUE(d) << "the chosen donor has free space";
        c_.node(donor).append_local(*d);
        c_.sync_all();
        p = pick_address(c_.node(i).read(), "net", 0, m);
        ASSERT_TRUE(p.value) << "a donation gives at least one address";
      }
      if (!p.value) {
        try {
          throw_no_space(p.shortage, "endpoint on net");
        } catch (const SpaceExhaustedError& e) {
          final_error[i] = e.what();
        }
        continue;
      }
      const ipam::Prefix subnet = ipam::Prefix::parse("10.9.9.0/28");
      const std::string addr = subnet.address_at(*p.value).to_string();
      handed.insert(addr);
      const std::string id = "e" + std::to_string(++serial);
      c_.node(i).append_local(
          endpoint(id, "net", "02:42:0a:09:09:" + std::to_string(10 + serial), addr + "/28"));
      c_.sync_all();
    }
  }
  ASSERT_EQ(final_error.size(), 3u);
  for (const auto& [node, text] : final_error)
    EXPECT_EQ(text, "endpoint on net: no free addresses left in the cluster");
  // 14 hosts - gateway - aux address = 12, each exactly once.
  std::multiset<std::string> expected;
  for (int host = 2; host <= 14; ++host)
    if (host != 3) expected.insert("10.9.9." + std::to_string(host));
  EXPECT_EQ(handed, expected);
  // Every node took part (each got a donation).
  auto shares = space_shares(c_.node(kA).read())[store::network_space_key("net", 0)];
  EXPECT_EQ(shares.size(), 3u);
  EXPECT_EQ(c_.node(kA).state_digest(), c_.node(kC).state_digest());
}

TEST_F(AddressTest, AddressesHeldByUnreachableOwnersGiveTheTypedError) {
  // B and C get shares, then A uses up its own and both are unreachable.
  auto key = store::network_space_key("net", 0);
  auto d1 = plan_requested_donation(space(kA), key, Cluster::id_of(kA), Cluster::id_of(kB), 4);
  c_.node(kA).append_local(*d1);
  auto d2 = plan_requested_donation(space(kA), key, Cluster::id_of(kA), Cluster::id_of(kC), 3);
  c_.node(kA).append_local(*d2);
  c_.sync_all();
  int n = 0;
  for (;;) {
    SpacePick p = pick_address(c_.node(kA).read(), "net", 0, members(kA, {}));
    if (!p.value) {
      EXPECT_FALSE(p.shortage.donor);
      EXPECT_EQ(p.shortage.unreachable_free, 7u);
      try {
        throw_no_space(p.shortage, "");
        FAIL();
      } catch (const NoSpaceReachableError& e) {
        EXPECT_STREQ(e.what(),
                     "no address space reachable: 7 addresses owned by unreachable nodes");
      }
      break;
    }
    const std::string addr = ipam::Prefix::parse("10.9.9.0/28").address_at(*p.value).to_string();
    ++n;
    c_.node(kA).append_local(endpoint("a" + std::to_string(n), "net",
                                      "02:42:0a:09:09:" + std::to_string(20 + n), addr + "/28"));
  }
  EXPECT_EQ(n, 12 - 7);
  // With B alive again, B is the one to ask (it holds more than C).
  SpacePick p = pick_address(c_.node(kA).read(), "net", 0, members(kA, {kB}));
  ASSERT_TRUE(p.shortage.donor);
  EXPECT_EQ(*p.shortage.donor, Cluster::id_of(kB));
  EXPECT_EQ(p.shortage.donor_free, 4u);
  EXPECT_EQ(p.shortage.unreachable_free, 3u);
}

TEST_F(AddressTest, AStaticAddressIsGrantedOnlyByItsOwner) {
  const auto key = store::network_space_key("net", 0);
  const store::NetworkInfo net = network(kB);
  const ipam::IpAddress five = ipam::IpAddress::parse("10.9.9.5");
  // A owns everything: B must ask A for exactly .5.
  StaticAddressPlan plan = plan_static_address(net, 0, space(kB), five, members(kB, kAll));
  EXPECT_FALSE(plan.mine);
  EXPECT_EQ(plan.owner, Cluster::id_of(kA));
  EXPECT_EQ(plan.offset, 5u);
  auto d = plan_specific_donation(space(kA), key, Cluster::id_of(kA), Cluster::id_of(kB), 5);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->first, 5u);
  EXPECT_EQ(d->last, 5u);
  c_.node(kA).append_local(*d);
  c_.sync_all();
  plan = plan_static_address(net, 0, space(kB), five, members(kB, kAll));
  EXPECT_TRUE(plan.mine);
  c_.node(kB).append_local(endpoint("b5", "net", "02:42:0a:09:09:05", "10.9.9.5/28"));
  c_.sync_all();
  // Now it is taken, for everybody; and A can no longer donate it.
  EXPECT_THROW(plan_static_address(net, 0, space(kA), five, members(kA, kAll)), ConflictError);
  EXPECT_FALSE(plan_specific_donation(space(kB), key, Cluster::id_of(kB), Cluster::id_of(kA), 5));
  EXPECT_FALSE(plan_specific_donation(space(kA), key, Cluster::id_of(kA), Cluster::id_of(kC), 5));
  // The gateway, the aux address, outside the subnet, the broadcast address.
  EXPECT_THROW(
      plan_static_address(net, 0, space(kA), ipam::IpAddress::parse("10.9.9.1"), members(kA, kAll)),
      ConflictError);
  EXPECT_THROW(
      plan_static_address(net, 0, space(kA), ipam::IpAddress::parse("10.9.9.3"), members(kA, kAll)),
      ConflictError);
  EXPECT_THROW(plan_static_address(net, 0, space(kA), ipam::IpAddress::parse("10.9.10.3"),
                                   members(kA, kAll)),
               InvalidArgumentError);
  EXPECT_THROW(plan_static_address(net, 0, space(kA), ipam::IpAddress::parse("10.9.9.15"),
                                   members(kA, kAll)),
               InvalidArgumentError);
  // An address whose owner is unreachable.
  EXPECT_THROW(
      plan_static_address(net, 0, space(kC), ipam::IpAddress::parse("10.9.9.6"), members(kC, {kB})),
      NoSpaceReachableError);
}

}  // namespace
}  // namespace trellis::overlay
