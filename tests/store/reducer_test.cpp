// The reducer's fold rules (docs/event-format.md, "Reducer rules"), one body type at a time.
// Events are written by hand as their authors would have written them (or as a buggy or
// forged peer might) and fed to an observing store through apply_remote; what the rules say
// is read back through ReadView, the ChangeSet and the state digest.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <set>

#include "tests/store/test_support.h"

namespace trellis::store {
namespace {

using testing::endpoint;
using ::testing::HasSubstr;
using testing::network;
using testing::sandbox;

constexpr NodeId kA = 0xa1;
constexpr NodeId kB = 0xb2;
constexpr NodeId kC = 0xc3;
constexpr NodeId kObserver = 0x0b5;

// Writes events as nodes would, without their stores: seq counts up per origin and a shared
// Lamport clock advances with every event, so events written one after another are causally
// ordered (when applied in that order). write_at sets the lamport and the dependencies
// itself, for events whose authors had seen only some of the others.
class Authors {
 public:
  Event write(NodeId origin, Body body) { return write_at(origin, clock_ + 1, std::move(body)); }
  Event write_at(NodeId origin, uint64_t lamport, Body body, std::vector<EventId> deps = {}) {
    clock_ = std::max(clock_, lamport);
    return Event{origin, ++seq_[origin], lamport, 0, std::move(deps), std::move(body)};
  }

 private:
  uint64_t clock_ = 0;
  std::map<NodeId, uint64_t> seq_;
};

SpaceInitialised vni_space() {
  return SpaceInitialised{std::string(kVniSpace), kVniFirst, kVniLast};
}

NetworkCreated with_vni(NetworkCreated n, uint32_t vni) {
  n.ipam_result.vni = vni;
  return n;
}

NetworkCreated with_pool_index(NetworkCreated n, uint64_t index) {
  n.ipam_result.has_pool_index = true;
  n.ipam_result.pool_index = index;
  return n;
}

EndpointSpec with_addresses(EndpointSpec spec, std::vector<std::string> addresses) {
  spec.addresses = std::move(addresses);
  return spec;
}

class ReducerTest : public testing::StoreFixture {
 protected:
  // A store that authors nothing: every event reaches it through apply_remote.
  Store observer() { return open(kObserver, "observer-" + std::to_string(observers_++)); }

  // Applies `events` one call each, in order; the last call's ChangeSet.
  ChangeSet apply(Store& s, const std::vector<Event>& events) {
    ChangeSet last;
    for (const auto& e : events) last = s.apply_remote({e});
    return last;
  }

  // Applies `e` and returns why it was rejected ("" if it was not). A rejected event is
  // logged all the same.
  std::string rejection(Store& s, const Event& e) {
    ChangeSet cs = s.apply_remote({e});
    EXPECT_EQ(cs.applied, (std::vector<EventId>{e.id()}));
    return cs.rejected.empty() ? "" : cs.rejected[0].reason;
  }

  // The digests of the states reached by applying `events` in every order.
  std::set<std::string> digests_in_every_order(const std::vector<Event>& events) {
    std::vector<size_t> order(events.size());
    std::iota(order.begin(), order.end(), 0);
    std::set<std::string> digests;
    do {
      Store s = observer();
      for (size_t i : order) s.apply_remote({events[i]});
      digests.insert(s.state_digest());
    } while (std::next_permutation(order.begin(), order.end()));
    return digests;
  }

  Authors w;

 private:
  int observers_ = 0;
};

// ---- network-created ------------------------------------------------------------------------

TEST_F(ReducerTest, NetworkWithAnIdThatExistsIsRejected) {
  Store s = observer();
  apply(s, {w.write(kA, network("n1", "web", "10.1.0.0/24"))});
  const std::string before = s.state_digest();
  EXPECT_THAT(rejection(s, w.write(kB, network("n1", "db", "10.2.0.0/24"))),
              HasSubstr("network n1 already exists"));
  EXPECT_EQ(s.read().network("n1")->creator, kA);
  EXPECT_EQ(s.state_digest(), before);
}

TEST_F(ReducerTest, SameNameNetworksLeaveTheNameToTheLowestLamportThenOrigin) {
  // B and C wrote at the same lamport, before A: B keeps the name though A's id is lowest.
  const std::vector<Event> events{w.write_at(kA, 5, network("na", "web", "10.1.0.0/24")),
                                  w.write_at(kC, 3, network("nc", "web", "10.3.0.0/24")),
                                  w.write_at(kB, 3, network("nb", "web", "10.2.0.0/24"))};
  EXPECT_EQ(digests_in_every_order(events).size(), 1u);
  Store s = observer();
  apply(s, events);
  auto view = s.read();
  EXPECT_EQ(view.network_by_name("web", 0)->spec.id, "nb");
  EXPECT_FALSE(view.network("nb")->name_conflict);
  EXPECT_TRUE(view.network("na")->name_conflict);
  EXPECT_TRUE(view.network("nc")->name_conflict);
  EXPECT_EQ(view.networks().size(), 3u) << "every same-name network is kept";
}

TEST_F(ReducerTest, LocalNetworksOfDifferentNodesMayShareAName) {
  Store s = observer();
  apply(s, {w.write(kA, network("na", "web", "10.1.0.0/24", /*cluster=*/false)),
            w.write(kB, network("nb", "web", "10.2.0.0/24", /*cluster=*/false))});
  auto view = s.read();
  EXPECT_FALSE(view.network("na")->name_conflict);
  EXPECT_FALSE(view.network("nb")->name_conflict);
  EXPECT_EQ(view.network_by_name("web", kA)->spec.id, "na");
  EXPECT_EQ(view.network_by_name("web", kB)->spec.id, "nb");
  EXPECT_FALSE(view.network_by_name("web", kC));
}

TEST_F(ReducerTest, NetworkClaimsItsVniAndPoolIndexOnlyFromRangesItsCreatorOwns) {
  Store s = observer();
  apply(s, {w.write(kA, vni_space()),
            w.write(kA, SpaceInitialised{std::string(kSubnetPoolSpace), kSubnetPoolFirst,
                                         kSubnetPoolLast}),
            w.write(kA, RangeDonated{std::string(kVniSpace), kB, 5000, 5009})});
  EXPECT_EQ(rejection(s, w.write(kB, with_vni(network("n1", "a", "10.1.0.0/24"), 5000))), "");
  EXPECT_THAT(rejection(s, w.write(kB, with_vni(network("n2", "b", "10.2.0.0/24"), 4096))),
              HasSubstr("4096 in space 'vni' is owned by node 00000000000000a1"));
  EXPECT_THAT(rejection(s, w.write(kB, with_vni(network("n3", "c", "10.3.0.0/24"), 5000))),
              HasSubstr("5000 in space 'vni' is already allocated"));
  EXPECT_EQ(rejection(s, w.write(kA, with_pool_index(
                                         with_vni(network("n4", "d", "10.0.1.0/24"), 4096), 1))),
            "");
  // Everything is checked before anything changes: the VNI B owns stays free.
  EXPECT_THAT(rejection(s, w.write(kB, with_pool_index(
                                           with_vni(network("n5", "e", "10.0.2.0/24"), 5001), 2))),
              HasSubstr("subnet pool index: 2 in space 'subnet-pool' is owned by node"));
  auto view = s.read();
  const auto vni = view.space(std::string(kVniSpace))->space;
  EXPECT_TRUE(vni.is_allocated(5000));
  EXPECT_TRUE(vni.is_allocated(4096));
  EXPECT_FALSE(vni.is_allocated(5001));
  EXPECT_TRUE(view.space(std::string(kSubnetPoolSpace))->space.is_allocated(1));
  EXPECT_FALSE(view.space(std::string(kSubnetPoolSpace))->space.is_allocated(2));
  EXPECT_FALSE(view.network("n5"));
}

TEST_F(ReducerTest, NetworkWithAVniBeforeTheVniSpaceExistsIsRejected) {
  Store s = observer();
  EXPECT_THAT(rejection(s, w.write(kA, with_vni(network("n1", "web", "10.1.0.0/24"), 4096))),
              HasSubstr("vni: space 'vni' does not exist"));
  EXPECT_FALSE(s.read().network("n1"));
}

TEST_F(ReducerTest, NetworkWithABadNameSubnetOrGatewayIsRejected) {
  NetworkCreated outside = network("n1", "web", "10.1.0.0/24");
  outside.ipam_result.pools[0].gateway = "10.9.0.1";
  NetworkCreated bad_subnet = network("n2", "web", "10.1.0.0/24");
  bad_subnet.ipam_result.pools[0].subnet = "10.1.0.0";
  NetworkCreated unnamed = network("n3", "", "10.1.0.0/24");
  NetworkCreated nul_id = network(std::string("n\0x", 3), "web", "10.1.0.0/24");
  Store s = observer();
  const std::string empty = s.state_digest();
  EXPECT_THAT(rejection(s, w.write(kA, outside)), HasSubstr("gateway 10.9.0.1 is not in"));
  EXPECT_THAT(rejection(s, w.write(kA, bad_subnet)), HasSubstr("bad subnet '10.1.0.0'"));
  EXPECT_THAT(rejection(s, w.write(kA, unnamed)), HasSubstr("network name is empty"));
  EXPECT_THAT(rejection(s, w.write(kA, nul_id)), HasSubstr("network id contains a NUL byte"));
  EXPECT_EQ(s.state_digest(), empty);
}

TEST_F(ReducerTest, GatewayIsClaimedForTheCreatorOnlyWhenItIsAHostAddress) {
  NetworkCreated broadcast_gw = network("n2", "b", "10.2.0.0/24");
  broadcast_gw.ipam_result.pools[0].gateway = "10.2.0.255";
  Store s = observer();
  apply(s, {w.write(kA, network("n1", "a", "10.1.0.0/24")), w.write(kA, broadcast_gw)});
  auto view = s.read();
  const auto first = view.space(network_space_key("n1", 0))->space;
  EXPECT_TRUE(first.is_allocated(1));
  EXPECT_EQ(first.ownership().space(), (ipam::Range{1, 254}));
  EXPECT_EQ(first.ownership().owners(), (std::vector<NodeId>{kA}));
  EXPECT_EQ(view.space(network_space_key("n2", 0))->space.free_count(kA), 254u);
}

// ---- network-removed ------------------------------------------------------------------------

TEST_F(ReducerTest, RemovingANetworkReleasesItsVniAndNameAndDropsItsAddressSpace) {
  Store s = observer();
  apply(s,
        {w.write(kA, vni_space()), w.write(kA, with_vni(network("n1", "web", "10.1.0.0/24"), 4100)),
         w.write(kA, EndpointCreated{endpoint("e1", "n1", "10.1.0.5/24", kA)}),
         w.write(kA, RangeDonated{network_space_key("n1", 0), kB, 100, 150})});
  ChangeSet cs = apply(s, {w.write(kA, NetworkRemoved{"n1"})});
  EXPECT_TRUE(cs.rejected.empty());
  auto view = s.read();
  EXPECT_FALSE(view.network("n1"));
  EXPECT_FALSE(view.network_by_name("web", 0));
  EXPECT_FALSE(view.space(std::string(kVniSpace))->space.is_allocated(4100));
  EXPECT_FALSE(view.space(network_space_key("n1", 0)));
  EXPECT_EQ(view.space_keys(), (std::vector<std::string>{std::string(kVniSpace)}));
  EXPECT_TRUE(view.endpoint("e1")->orphaned) << "the endpoint is its owner's fact";
}

TEST_F(ReducerTest, NetworkRemovedByANodeThatDoesNotOwnItIsRejected) {
  Store s = observer();
  apply(s, {w.write(kA, network("n1", "web", "10.1.0.0/24"))});
  EXPECT_THAT(rejection(s, w.write(kB, NetworkRemoved{"n1"})),
              HasSubstr("remove network n1: owned by node 00000000000000a1"));
  EXPECT_TRUE(s.read().network("n1"));
}

TEST_F(ReducerTest, RemovalsOfRecordsThatDoNotExistAreNoOpsNotRejections) {
  Store s = observer();
  const std::string empty = s.state_digest();
  for (Body body : std::vector<Body>{NetworkRemoved{"n9"}, EndpointRemoved{"e9"},
                                     SandboxRemoved{"s9"}, EndpointLeft{"e9", "s9"}}) {
    EXPECT_EQ(rejection(s, w.write(kB, body)), "");
  }
  EXPECT_EQ(s.state_digest(), empty);
  EXPECT_EQ(s.version_vector(), (VersionVector{{kB, 4}}));
  EXPECT_TRUE(s.rejections(10).empty());
}

// ---- endpoint-created / endpoint-updated / endpoint-removed ---------------------------------

TEST_F(ReducerTest, EndpointNamingAnOwnerOtherThanItsAuthorIsRejected) {
  Store s = observer();
  apply(s, {w.write(kB, network("nb", "web", "10.2.0.0/24"))});
  EXPECT_THAT(rejection(s, w.write(kB, EndpointCreated{endpoint("e1", "nb", "10.2.0.5/24", kC)})),
              HasSubstr("endpoint e1: owner 00000000000000c3 is not the author 00000000000000b2"));
  EXPECT_FALSE(s.read().endpoint("e1"));
}

TEST_F(ReducerTest, RemoteEndpointFromNonOwnerIsRejected) {
  Store s = observer();
  const Event created = w.write(kB, EndpointCreated{endpoint("e1", "nb", "10.2.0.5/24", kB)});
  apply(s, {w.write(kB, network("nb", "web", "10.2.0.0/24")), created});
  const std::string before = s.state_digest();
  EXPECT_THAT(rejection(s, w.write(kC, EndpointUpdated{endpoint("e1", "nb", "10.2.0.5/24", kC)})),
              HasSubstr("endpoint e1 belongs to node 00000000000000b2"));
  EXPECT_THAT(rejection(s, w.write(kC, EndpointCreated{endpoint("e1", "nb", "10.2.0.6/24", kC)})),
              HasSubstr("endpoint e1 belongs to node 00000000000000b2"));
  EXPECT_THAT(rejection(s, w.write(kC, EndpointRemoved{"e1"})),
              HasSubstr("remove endpoint e1: owned by node 00000000000000b2"));
  EXPECT_EQ(s.read().endpoint("e1")->writer, created.id());
  EXPECT_EQ(s.state_digest(), before);
}

TEST_F(ReducerTest, CreatingAnEndpointThatExistsIsRejectedButUpdatingItIsNot) {
  Store s = observer();
  apply(s, {w.write(kA, network("n1", "web", "10.1.0.0/24")),
            w.write(kA, EndpointCreated{endpoint("e1", "n1", "10.1.0.5/24", kA)})});
  EXPECT_THAT(rejection(s, w.write(kA, EndpointCreated{endpoint("e1", "n1", "10.1.0.6/24", kA)})),
              HasSubstr("endpoint e1 already exists"));
  const Event update = w.write(kA, EndpointUpdated{endpoint("e1", "n1", "10.1.0.6/24", kA)});
  EXPECT_EQ(rejection(s, update), "");
  EXPECT_EQ(s.read().endpoint("e1")->writer, update.id());
}

TEST_F(ReducerTest, EndpointUpdateMovesItsAddressClaimAndMayKeepItsOwnAddress) {
  Store s = observer();
  apply(s, {w.write(kA, network("n1", "web", "10.1.0.0/24")),
            w.write(kA, EndpointCreated{endpoint("e1", "n1", "10.1.0.5/24", kA)}),
            w.write(kA, EndpointUpdated{endpoint("e1", "n1", "10.1.0.6/24", kA)})});
  auto space = [&] { return s.read().space(network_space_key("n1", 0))->space; };
  EXPECT_FALSE(space().is_allocated(5));
  EXPECT_TRUE(space().is_allocated(6));
  EndpointSpec same_address = endpoint("e1", "n1", "10.1.0.6/24", kA);
  same_address.aliases.push_back("web");
  EXPECT_EQ(rejection(s, w.write(kA, EndpointUpdated{same_address})), "");
  EXPECT_TRUE(space().is_allocated(6));
  EXPECT_THAT(rejection(s, w.write(kA, EndpointCreated{endpoint("e2", "n1", "10.1.0.6/24", kA)})),
              HasSubstr("6 in space 'net/n1/0' is already allocated"));
}

TEST_F(ReducerTest, EndpointWithADuplicateBadOrForeignAddressIsRejected) {
  Store s = observer();
  apply(s, {w.write(kA, network("n1", "web", "10.1.0.0/24"))});
  const std::string before = s.state_digest();
  const EndpointSpec e = endpoint("e1", "n1", "10.1.0.7/24", kA);
  EXPECT_THAT(
      rejection(s, w.write(kA, EndpointCreated{with_addresses(e, {"10.1.0.7/24", "10.1.0.7"})})),
      HasSubstr("endpoint e1: duplicate address"));
  EXPECT_THAT(rejection(s, w.write(kA, EndpointCreated{with_addresses(e, {"10.9.0.7/24"})})),
              HasSubstr("address 10.9.0.7/24 is in no subnet of network n1"));
  EXPECT_THAT(rejection(s, w.write(kA, EndpointCreated{with_addresses(e, {"ten.one"})})),
              HasSubstr("bad address 'ten.one'"));
  EXPECT_EQ(s.state_digest(), before);
}

TEST_F(ReducerTest, EndpointOnANetworkThatDoesNotExistIsKeptAsAnOrphanWithoutClaims) {
  Store s = observer();
  EXPECT_EQ(rejection(s, w.write(kB, EndpointCreated{endpoint("e1", "gone", "10.1.0.5/24", kB)})),
            "");
  auto view = s.read();
  EXPECT_TRUE(view.endpoint("e1")->orphaned);
  EXPECT_TRUE(view.space_keys().empty());
}

TEST_F(ReducerTest, RemovingAnEndpointReleasesItsAddressAndItsJoin) {
  Store s = observer();
  apply(s, {w.write(kA, network("n1", "web", "10.1.0.0/24")),
            w.write(kA, EndpointCreated{endpoint("e1", "n1", "10.1.0.5/24", kA)}),
            w.write(kA, sandbox("s1")), w.write(kA, EndpointJoined{"e1", "s1"})});
  ASSERT_EQ(s.read().sandbox("s1")->endpoints, (std::vector<std::string>{"e1"}));
  ChangeSet cs = apply(s, {w.write(kA, EndpointRemoved{"e1"})});
  EXPECT_EQ(cs.sandboxes, (std::set<std::string>{"s1"}));
  auto view = s.read();
  EXPECT_FALSE(view.endpoint("e1"));
  EXPECT_TRUE(view.sandbox("s1")->endpoints.empty());
  EXPECT_FALSE(view.space(network_space_key("n1", 0))->space.is_allocated(5));
}

// ---- sandboxes and joins --------------------------------------------------------------------

TEST_F(ReducerTest, SandboxWithAnIdThatExistsIsRejected) {
  Store s = observer();
  apply(s, {w.write(kA, sandbox("s1"))});
  EXPECT_THAT(rejection(s, w.write(kB, sandbox("s1"))), HasSubstr("sandbox s1 already exists"));
  EXPECT_EQ(s.read().sandbox("s1")->owner, kA);
}

TEST_F(ReducerTest, SandboxRemovedByANodeThatDoesNotOwnItIsRejected) {
  Store s = observer();
  apply(s, {w.write(kA, sandbox("s1"))});
  EXPECT_THAT(rejection(s, w.write(kB, SandboxRemoved{"s1"})),
              HasSubstr("remove sandbox s1: owned by node 00000000000000a1"));
  EXPECT_TRUE(s.read().sandbox("s1"));
}

TEST_F(ReducerTest, RemovingASandboxDetachesItsEndpointsButKeepsThem) {
  Store s = observer();
  apply(s, {w.write(kA, network("n1", "web", "10.1.0.0/24")),
            w.write(kA, EndpointCreated{endpoint("e1", "n1", "10.1.0.5/24", kA)}),
            w.write(kA, sandbox("s1")), w.write(kA, EndpointJoined{"e1", "s1"}),
            w.write(kA, SandboxRemoved{"s1"})});
  auto view = s.read();
  EXPECT_FALSE(view.sandbox("s1"));
  ASSERT_TRUE(view.endpoint("e1"));
  EXPECT_EQ(view.endpoint("e1")->sandbox, "");
}

TEST_F(ReducerTest, JoinToAnotherNodesSandboxOrOfAnotherNodesEndpointIsRejected) {
  Store s = observer();
  apply(s, {w.write(kA, network("na", "a", "10.1.0.0/24")),
            w.write(kA, EndpointCreated{endpoint("ea", "na", "10.1.0.5/24", kA)}),
            w.write(kA, sandbox("sa")), w.write(kB, network("nb", "b", "10.2.0.0/24")),
            w.write(kB, EndpointCreated{endpoint("eb", "nb", "10.2.0.5/24", kB)}),
            w.write(kB, sandbox("sb"))});
  EXPECT_THAT(rejection(s, w.write(kB, EndpointJoined{"eb", "sa"})),
              HasSubstr("join endpoint eb to sandbox sa: sandbox owned by another node"));
  EXPECT_THAT(rejection(s, w.write(kB, EndpointJoined{"ea", "sb"})),
              HasSubstr("join endpoint ea to sandbox sb: endpoint owned by another node"));
  EXPECT_THAT(rejection(s, w.write(kB, EndpointJoined{"eb", "nowhere"})),
              HasSubstr("no such sandbox"));
  EXPECT_TRUE(s.read().sandbox("sa")->endpoints.empty());
  EXPECT_TRUE(s.read().sandbox("sb")->endpoints.empty());
}

TEST_F(ReducerTest, AnEndpointIsJoinedToOneSandboxAtATime) {
  Store s = observer();
  apply(s, {w.write(kA, network("n1", "web", "10.1.0.0/24")),
            w.write(kA, EndpointCreated{endpoint("e1", "n1", "10.1.0.5/24", kA)}),
            w.write(kA, sandbox("s1")), w.write(kA, sandbox("s2")),
            w.write(kA, EndpointJoined{"e1", "s1"})});
  EXPECT_THAT(rejection(s, w.write(kA, EndpointJoined{"e1", "s2"})),
              HasSubstr("already joined to s1"));
  EXPECT_EQ(rejection(s, w.write(kA, EndpointJoined{"e1", "s1"})), "") << "joining again is fine";
  EXPECT_THAT(rejection(s, w.write(kA, EndpointLeft{"e1", "s2"})),
              HasSubstr("leave: endpoint e1 is joined to s1"));
  EXPECT_EQ(rejection(s, w.write(kA, EndpointLeft{"e1", "s1"})), "");
  EXPECT_EQ(rejection(s, w.write(kA, EndpointJoined{"e1", "s2"})), "");
  EXPECT_EQ(s.read().endpoint("e1")->sandbox, "s2");
}

TEST_F(ReducerTest, LeaveByANodeThatDidNotWriteTheJoinIsRejected) {
  Store s = observer();
  apply(s, {w.write(kA, sandbox("s1")), w.write(kA, EndpointJoined{"e1", "s1"})});
  EXPECT_THAT(rejection(s, w.write(kB, EndpointLeft{"e1", "s1"})),
              HasSubstr("leave: join written by another node"));
  EXPECT_EQ(s.read().sandbox("s1")->endpoints, (std::vector<std::string>{"e1"}));
}

// ---- space-initialised and range-donated ----------------------------------------------------

TEST_F(ReducerTest, ConcurrentSpaceInitialisationsFoundTheSpaceForTheLowestLamportThenOrigin) {
  const Event by_a = w.write_at(kA, 4, vni_space());
  const Event a_donates = w.write_at(kA, 5, RangeDonated{std::string(kVniSpace), kC, 5000, 5009});
  const Event by_c = w.write_at(kC, 2, vni_space());
  const Event by_b = w.write_at(kB, 2, vni_space());
  EXPECT_EQ(digests_in_every_order({by_a, a_donates, by_c, by_b}).size(), 1u);

  // B's arrives last: what was folded on A's initialisation is undone by a refold.
  Store s = observer();
  apply(s, {by_a, a_donates, by_c});
  EXPECT_EQ(s.read().space(std::string(kVniSpace))->writer, by_c.id());
  ChangeSet cs = apply(s, {by_b});
  EXPECT_TRUE(cs.rebuilt);
  ASSERT_EQ(cs.rejected.size(), 1u);
  EXPECT_EQ(cs.rejected[0].event, a_donates.id()) << "A no longer owns what it donated";
  auto vni = s.read().space(std::string(kVniSpace));
  EXPECT_EQ(vni->writer, by_b.id());
  EXPECT_EQ(vni->space.ownership().owners(), (std::vector<NodeId>{kB}));

  // The losers arriving after the winner change nothing and are not errors.
  Store t = observer();
  apply(t, {by_b});
  EXPECT_EQ(rejection(t, by_c), "");
  EXPECT_EQ(rejection(t, by_a), "");
  EXPECT_EQ(t.read().space(std::string(kVniSpace))->writer, by_b.id());
}

TEST_F(ReducerTest, SpaceInitialisationWithBadBoundsOrANetworkSpaceNameIsRejected) {
  Store s = observer();
  for (const SpaceInitialised& bad :
       {SpaceInitialised{"vni", 10, 5}, SpaceInitialised{network_space_key("n1", 0), 1, 10},
        SpaceInitialised{"", 1, 2}, SpaceInitialised{"all", 0, UINT64_MAX}}) {
    EXPECT_THAT(rejection(s, w.write(kA, bad)), HasSubstr("bad name or bounds")) << bad.space;
  }
  EXPECT_TRUE(s.read().space_keys().empty());
}

TEST_F(ReducerTest, DonationOfARangeTheDonorDoesNotOwnIsRejected) {
  Store s = observer();
  apply(s, {w.write(kA, vni_space())});
  EXPECT_THAT(rejection(s, w.write(kB, RangeDonated{std::string(kVniSpace), kC, 4096, 4100})),
              HasSubstr("donate [4096, 4100] of vni"));
  EXPECT_EQ(s.read().space(std::string(kVniSpace))->space.ownership().owners(),
            (std::vector<NodeId>{kA}));
}

TEST_F(ReducerTest, DonationOfAllocatedIntegersIsRejected) {
  Store s = observer();
  apply(s, {w.write(kA, vni_space()),
            w.write(kA, with_vni(network("n1", "web", "10.1.0.0/24"), 4098))});
  EXPECT_THAT(rejection(s, w.write(kA, RangeDonated{std::string(kVniSpace), kB, 4096, 4100})),
              HasSubstr("donate [4096, 4100] of vni"));
  EXPECT_EQ(s.read().space(std::string(kVniSpace))->space.ownership().owner_of(4096), kA);
  EXPECT_EQ(rejection(s, w.write(kA, RangeDonated{std::string(kVniSpace), kB, 4099, 4100})), "")
      << "the free part may go";
}

TEST_F(ReducerTest, DonationToItselfToNodeZeroOfAnEmptyRangeOrOfNoSpaceIsRejected) {
  Store s = observer();
  apply(s, {w.write(kA, vni_space())});
  const std::string vni(kVniSpace);
  EXPECT_THAT(rejection(s, w.write(kA, RangeDonated{vni, kA, 5000, 5001})),
              HasSubstr("bad recipient"));
  EXPECT_THAT(rejection(s, w.write(kA, RangeDonated{vni, 0, 5000, 5001})),
              HasSubstr("bad recipient"));
  EXPECT_THAT(rejection(s, w.write(kA, RangeDonated{vni, kB, 5001, 5000})), HasSubstr("bad range"));
  EXPECT_THAT(rejection(s, w.write(kA, RangeDonated{"elsewhere", kB, 1, 2})),
              HasSubstr("no such space"));
  EXPECT_EQ(s.read().space(vni)->space.ownership().owners(), (std::vector<NodeId>{kA}));
}

TEST_F(ReducerTest, DonationToARemovedNodeGoesToItsHeir) {
  Store s = observer();
  apply(s, {w.write(kA, vni_space()), w.write(kC, NodeRemoved{kB, 0}),
            w.write(kA, RangeDonated{std::string(kVniSpace), kB, 5000, 5009})});
  auto vni = s.read().space(std::string(kVniSpace));
  EXPECT_EQ(vni->space.ownership().owner_of(5000), kC);
  EXPECT_EQ(vni->space.ownership().owned_count(kB), 0u);
}

// ---- nodes ----------------------------------------------------------------------------------

TEST_F(ReducerTest, AnnouncingSetsANodesNameAndAddressAndLeavingMarksItLeft) {
  Store s = observer();
  apply(s, {w.write(kA, NodeAnnounced{"alpha", "192.0.2.1"}), w.write(kA, NodeLeft{})});
  auto node = s.read().node(kA);
  EXPECT_EQ(node->status, NodeStatus::kLeft);
  EXPECT_EQ(node->name, "alpha");
  apply(s, {w.write(kA, NodeAnnounced{"alpha", "192.0.2.9"})});
  node = s.read().node(kA);
  EXPECT_EQ(node->status, NodeStatus::kActive) << "a node that comes back announces itself";
  EXPECT_EQ(node->address, "192.0.2.9");
}

TEST_F(ReducerTest, ANodeCannotRemoveItselfOrNodeZero) {
  Store s = observer();
  EXPECT_THAT(rejection(s, w.write(kA, NodeRemoved{kA, 0})),
              HasSubstr("a node cannot remove itself or node 0"));
  EXPECT_THAT(rejection(s, w.write(kA, NodeRemoved{0, 0})),
              HasSubstr("a node cannot remove itself or node 0"));
  EXPECT_FALSE(s.read().node(kA));
}

TEST_F(ReducerTest, ConcurrentRemovalsOfOneNodeCountTheLowestLamportThenOrigin) {
  const Event vni = w.write_at(kA, 1, vni_space());
  const Event donation = w.write_at(kA, 2, RangeDonated{std::string(kVniSpace), kB, 5000, 5009});
  const Event b1 = w.write_at(kB, 3, NodeAnnounced{"b1", "192.0.2.2"});
  const Event b2 = w.write_at(kB, 4, NodeAnnounced{"b2", "192.0.2.2"});
  // A had seen B's first event, C both; C's removal is the earlier one.
  const Event by_a = w.write_at(kA, 10, NodeRemoved{kB, 1}, {b1.id()});
  const Event by_c = w.write_at(kC, 8, NodeRemoved{kB, 2}, {donation.id(), b2.id()});
  std::set<std::string> digests;
  for (const auto& order : std::vector<std::vector<Event>>{{vni, donation, b1, b2, by_a, by_c},
                                                           {vni, donation, b1, b2, by_c, by_a},
                                                           {vni, donation, b1, by_a, b2, by_c}}) {
    Store s = observer();
    for (const auto& e : order) {
      EXPECT_TRUE(s.apply_remote({e}).rejected.empty());
    }
    auto view = s.read();
    auto b = view.node(kB);
    EXPECT_EQ(b->status, NodeStatus::kRemoved);
    EXPECT_EQ(b->removed_by, kC);
    EXPECT_EQ(b->last_seq, 2u);
    EXPECT_EQ(b->name, "b2") << "B's second event is within the effective cutoff";
    EXPECT_EQ(view.space(std::string(kVniSpace))->space.ownership().owner_of(5000), kC);
    digests.insert(s.state_digest());
  }
  EXPECT_EQ(digests.size(), 1u);
}

TEST_F(ReducerTest, OfTwoNodesRemovingEachOtherOnlyTheEarlierRemovalCounts) {
  const Event a1 = w.write_at(kA, 1, NodeAnnounced{"a", "192.0.2.1"});
  const Event b1 = w.write_at(kB, 1, NodeAnnounced{"b", "192.0.2.2"});
  const Event a_removes_b = w.write_at(kA, 5, NodeRemoved{kB, 1}, {b1.id()});
  const Event b_removes_a = w.write_at(kB, 3, NodeRemoved{kA, 1}, {a1.id()});
  EXPECT_EQ(digests_in_every_order({a1, b1, a_removes_b, b_removes_a}).size(), 1u);
  Store s = observer();
  apply(s, {a1, b1, a_removes_b, b_removes_a});
  auto view = s.read();
  EXPECT_EQ(view.node(kA)->status, NodeStatus::kRemoved);
  EXPECT_EQ(view.node(kA)->removed_by, kB);
  EXPECT_EQ(view.node(kB)->status, NodeStatus::kActive)
      << "A's removal of B came after A's own cutoff";
}

TEST_F(ReducerTest, EventsOfARemovedNodeAfterItsCutoffAreLoggedButIgnored) {
  Store s = observer();
  apply(s, {w.write(kB, sandbox("s1")), w.write(kA, NodeRemoved{kB, 1})});
  const std::string before = s.state_digest();
  EXPECT_EQ(rejection(s, w.write(kB, sandbox("s2"))), "");
  EXPECT_EQ(s.version_vector()[kB], 2u);
  EXPECT_FALSE(s.read().sandbox("s1")) << "a removed node's sandboxes go";
  EXPECT_FALSE(s.read().sandbox("s2"));
  EXPECT_EQ(s.state_digest(), before);
}

TEST_F(ReducerTest, ARemovedNodesNetworksPassToItsRemover) {
  Store s = observer();
  apply(s, {w.write(kB, network("nb", "web", "10.2.0.0/24")), w.write(kA, NodeRemoved{kB, 1})});
  auto net = s.read().network("nb");
  EXPECT_EQ(net->owner, kA);
  EXPECT_EQ(net->creator, kB);
  EXPECT_EQ(s.read().space(network_space_key("nb", 0))->space.ownership().owner_of(1), kA);
  EXPECT_EQ(rejection(s, w.write(kA, NetworkRemoved{"nb"})), "") << "the heir may remove it";
  EXPECT_FALSE(s.read().network("nb"));
  EXPECT_FALSE(s.read().network_by_name("web", 0));
}

// ---- tombstones and rejections --------------------------------------------------------------

TEST_F(ReducerTest, TombstoneIsKeptWhileTheEventThatWroteTheDeletedRecordIsInTheLog) {
  Store s = observer();
  const Event created = w.write(kB, network("nb", "web", "10.2.0.0/24"));
  const Event removal = w.write(kA, NodeRemoved{kB, 1});
  const Event tombstone = w.write(kA, NetworkRemoved{"nb"});  // deletes B's record
  apply(s, {created, removal, tombstone});
  const std::string digest = s.state_digest();
  // A's log is stable, B's is not: B's creation stays, and so must the tombstone that
  // cancels it, or a node syncing from this log would see the network come back.
  s.compact({{kA, 2}});
  EXPECT_TRUE(s.event(created.id()));
  EXPECT_TRUE(s.event(tombstone.id()));
  s.compact({{kA, 2}, {kB, 1}});
  EXPECT_FALSE(s.event(created.id()));
  EXPECT_FALSE(s.event(tombstone.id()));
  EXPECT_TRUE(s.event(removal.id())) << "it wrote B's node status";
  EXPECT_EQ(s.state_digest(), digest);
  EXPECT_EQ(s.digest_from_scratch(), digest);
}

TEST_F(ReducerTest, RejectedRemoteEventIsLoggedAndReportedAndChangesNoState) {
  Store s = observer();
  apply(s, {w.write(kB, sandbox("s1"))});
  const std::string before = s.state_digest();
  const Event bad = w.write(kC, SandboxRemoved{"s1"});
  ChangeSet cs = s.apply_remote({bad});
  ASSERT_EQ(cs.rejected.size(), 1u);
  EXPECT_EQ(cs.rejected[0].event, bad.id());
  EXPECT_EQ(cs.rejected[0].body_type, "sandbox-removed");
  EXPECT_EQ(s.state_digest(), before);
  EXPECT_EQ(s.version_vector()[kC], 1u) << "the origin's head still advances";
  EXPECT_EQ(*s.event(bad.id()), bad);
  ASSERT_EQ(s.rejections(10).size(), 1u);
  EXPECT_EQ(s.rejections(10)[0].reason, cs.rejected[0].reason);
  EXPECT_EQ(s.counts().rejections, 1u);
}

TEST_F(ReducerTest, LocalEventThatBreaksARuleThrowsTheMatchingErrorWithNothingWritten) {
  Store a = open(kA);
  Store b = open(kB);
  b.apply_remote(
      {a.append_local(network("n1", "web", "10.1.0.0/24")), a.append_local(sandbox("sa"))});
  const VersionVector vv = b.version_vector();
  const std::string digest = b.state_digest();
  NetworkCreated bad_subnet = network("n2", "db", "10.2.0.0/24");
  bad_subnet.ipam_result.pools[0].subnet = "ten.two";

  EXPECT_THROW(b.append_local(EndpointJoined{"e1", "nowhere"}), NotFoundError);
  EXPECT_THROW(b.append_local(bad_subnet), InvalidArgumentError);
  EXPECT_THROW(b.append_local(SandboxRemoved{"sa"}), ipam::NotOwnerError);
  try {
    b.append_local(sandbox("sa"));
    ADD_FAILURE() << "created a sandbox that exists";
  } catch (const ipam::NotOwnerError&) {
    ADD_FAILURE() << "a duplicate id is a conflict, not an ownership error";
  } catch (const ConflictError&) {
  }
  // Several bodies are all or nothing.
  EXPECT_THROW(b.append_local(std::vector<Body>{sandbox("sb"), SandboxRemoved{"sa"}}),
               ipam::NotOwnerError);
  EXPECT_FALSE(b.read().sandbox("sb"));
  EXPECT_EQ(b.version_vector(), vv);
  EXPECT_EQ(b.state_digest(), digest);
  EXPECT_TRUE(b.rejections(10).empty());
}

}  // namespace
}  // namespace trellis::store
