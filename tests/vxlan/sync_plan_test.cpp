// The pure diff behind sync_peers: which FDB and neighbour rows to add, update and remove.

#include "vxlan/sync_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "common/error.h"

namespace trellis::vxlan {
namespace {

MacAddress mac(uint8_t n) { return MacAddress{{0x02, 0x42, 0x0a, 0x0a, 0x00, n}}; }
Ipv4Address ip(uint8_t n) { return Ipv4Address{0x0A0A0000u | n}; }    // 10.10.0.n
Ipv4Address vtep(uint8_t n) { return Ipv4Address{0xC0000200u | n}; }  // 192.0.2.n
Peer peer(uint8_t n, uint8_t host) { return Peer{mac(n), ip(n), vtep(host)}; }

TEST(SyncPlanTest, EmptyTablesGetOneFdbAndOneNeighborEntryPerPeer) {
  const DesiredPeers want{{peer(3, 2), peer(2, 2), peer(4, 3)}, std::nullopt};
  const SyncPlan plan = plan_sync(want, {}, {});
  EXPECT_EQ(plan.fdb.added,
            (std::vector<FdbEntry>{{mac(2), vtep(2)}, {mac(3), vtep(2)}, {mac(4), vtep(3)}}));
  EXPECT_EQ(plan.neighbors.added,
            (std::vector<NeighborEntry>{{ip(2), mac(2)}, {ip(3), mac(3)}, {ip(4), mac(4)}}));
  EXPECT_TRUE(plan.fdb.updated.empty());
  EXPECT_TRUE(plan.fdb.removed.empty());
  EXPECT_TRUE(plan.flood.empty());
  EXPECT_EQ(plan.size(), 6u);
}

TEST(SyncPlanTest, MatchingTablesNeedNoChange) {
  const DesiredPeers want{{peer(2, 2), peer(3, 3)}, std::nullopt};
  const SyncPlan plan =
      plan_sync(want, {{mac(3), vtep(3)}, {mac(2), vtep(2)}}, {{ip(2), mac(2)}, {ip(3), mac(3)}});
  EXPECT_TRUE(plan.empty());
}

TEST(SyncPlanTest, ExtraPermanentRowsAreRemovedAndDynamicRowsAreLeftAlone) {
  const DesiredPeers want{{peer(2, 2)}, std::nullopt};
  const std::vector<FdbEntry> fdb{{mac(2), vtep(2)},
                                  {mac(7), vtep(9)},          // ours, no longer wanted
                                  {mac(8), vtep(9), false}};  // learned by the kernel
  const std::vector<NeighborEntry> neigh{
      {ip(2), mac(2)}, {ip(7), mac(7)}, {ip(8), mac(8), false}};  // resolved by ARP
  const SyncPlan plan = plan_sync(want, fdb, neigh);
  EXPECT_EQ(plan.fdb.removed, (std::vector<FdbEntry>{{mac(7), vtep(9)}}));
  EXPECT_EQ(plan.neighbors.removed, (std::vector<NeighborEntry>{{ip(7), mac(7)}}));
  EXPECT_EQ(plan.size(), 2u);
}

TEST(SyncPlanTest, PeerThatMovedHostIsAnUpdateNotARemoveAndAdd) {
  const DesiredPeers want{{peer(2, 5)}, std::nullopt};
  const SyncPlan plan = plan_sync(want, {{mac(2), vtep(2)}}, {{ip(2), mac(2)}});
  EXPECT_EQ(plan.fdb.updated, (std::vector<FdbEntry>{{mac(2), vtep(5)}}));
  EXPECT_TRUE(plan.fdb.added.empty());
  EXPECT_TRUE(plan.fdb.removed.empty());
  EXPECT_TRUE(plan.neighbors.empty());
}

TEST(SyncPlanTest, AddressReusedByAnotherMacIsANeighborUpdate) {
  const DesiredPeers want{{Peer{mac(9), ip(2), vtep(2)}}, std::nullopt};
  const SyncPlan plan = plan_sync(want, {{mac(2), vtep(2)}}, {{ip(2), mac(2)}});
  EXPECT_EQ(plan.neighbors.updated, (std::vector<NeighborEntry>{{ip(2), mac(9)}}));
  EXPECT_EQ(plan.fdb.added, (std::vector<FdbEntry>{{mac(9), vtep(2)}}));
  EXPECT_EQ(plan.fdb.removed, (std::vector<FdbEntry>{{mac(2), vtep(2)}}));
}

TEST(SyncPlanTest, DesiredKeyHeldByADynamicRowIsAddedAsPermanent) {
  const DesiredPeers want{{peer(2, 2)}, std::nullopt};
  const SyncPlan plan = plan_sync(want, {{mac(2), vtep(2), false}}, {{ip(2), mac(2), false}});
  EXPECT_EQ(plan.fdb.added, (std::vector<FdbEntry>{{mac(2), vtep(2)}}));
  EXPECT_EQ(plan.neighbors.added, (std::vector<NeighborEntry>{{ip(2), mac(2)}}));
}

TEST(SyncPlanTest, ExtraRemotesOfOneMacAreRemoved) {
  const DesiredPeers want{{peer(2, 2)}, std::nullopt};
  const SyncPlan plan = plan_sync(want, {{mac(2), vtep(3)}, {mac(2), vtep(2)}}, {{ip(2), mac(2)}});
  EXPECT_EQ(plan.fdb.removed, (std::vector<FdbEntry>{{mac(2), vtep(3)}}));
  EXPECT_TRUE(plan.fdb.added.empty());
  EXPECT_TRUE(plan.fdb.updated.empty());
}

TEST(SyncPlanTest, FloodEntriesAreLeftAloneUnlessAFloodSetIsGiven) {
  const std::vector<FdbEntry> fdb{{MacAddress{}, vtep(2)}, {MacAddress{}, vtep(3)}};
  EXPECT_TRUE(plan_sync(DesiredPeers{}, fdb, {}).empty());

  const DesiredPeers want{{}, std::vector<Ipv4Address>{vtep(3), vtep(4), vtep(4)}};
  const SyncPlan plan = plan_sync(want, fdb, {});
  EXPECT_EQ(plan.flood.added, (std::vector<FdbEntry>{{MacAddress{}, vtep(4)}}));
  EXPECT_EQ(plan.flood.removed, (std::vector<FdbEntry>{{MacAddress{}, vtep(2)}}));
  EXPECT_TRUE(plan.fdb.empty());
  EXPECT_TRUE(plan.neighbors.empty());

  const DesiredPeers none{{}, std::vector<Ipv4Address>{}};
  EXPECT_EQ(plan_sync(none, fdb, {}).flood.removed.size(), 2u);
}

TEST(SyncPlanTest, ExactDuplicatePeersCollapse) {
  const DesiredPeers want{{peer(2, 2), peer(2, 2)}, std::nullopt};
  const SyncPlan plan = plan_sync(want, {}, {});
  EXPECT_EQ(plan.fdb.added.size(), 1u);
  EXPECT_EQ(plan.neighbors.added.size(), 1u);
}

TEST(SyncPlanTest, OneMacWithTwoAddressesGetsOneFdbEntryAndTwoNeighbors) {
  const DesiredPeers want{{Peer{mac(2), ip(2), vtep(2)}, Peer{mac(2), ip(3), vtep(2)}},
                          std::nullopt};
  const SyncPlan plan = plan_sync(want, {}, {});
  EXPECT_EQ(plan.fdb.added.size(), 1u);
  EXPECT_EQ(plan.neighbors.added.size(), 2u);
}

TEST(SyncPlanTest, InconsistentOrMalformedPeersAreInvalidArguments) {
  auto rejects = [](DesiredPeers want) {
    EXPECT_THROW(plan_sync(want, {}, {}), InvalidArgumentError);
  };
  rejects({{peer(2, 2), Peer{mac(2), ip(2), vtep(3)}}, std::nullopt});  // MAC on two VTEPs
  rejects({{peer(2, 2), Peer{mac(3), ip(2), vtep(2)}}, std::nullopt});  // IP with two MACs
  rejects({{Peer{MacAddress{}, ip(2), vtep(2)}}, std::nullopt});        // zero MAC
  rejects({{Peer{MacAddress::parse("ff:ff:ff:ff:ff:ff"), ip(2), vtep(2)}}, std::nullopt});
  rejects({{Peer{mac(2), Ipv4Address{}, vtep(2)}}, std::nullopt});  // no IP
  rejects({{Peer{mac(2), ip(2), Ipv4Address{}}}, std::nullopt});    // no VTEP
  rejects({{}, std::vector<Ipv4Address>{Ipv4Address{}}});           // no flood VTEP
}

// A model of the kernel tables with the semantics sync relies on: an add of a unicast MAC
// replaces (one remote of) an existing entry and makes it permanent; an add of the zero MAC
// appends a remote; a removal names one remote and tolerates its absence.
struct ModelTables {
  std::vector<FdbEntry> fdb;
  std::map<Ipv4Address, NeighborEntry> neigh;

  void apply(const SyncPlan& plan) {
    for (const auto* list : {&plan.fdb.added, &plan.fdb.updated}) {
      for (const FdbEntry& e : *list) {
        auto it = std::find_if(fdb.begin(), fdb.end(), [&](auto& r) { return r.mac == e.mac; });
        if (it == fdb.end()) {
          fdb.push_back(e);
        } else {
          it->vtep = e.vtep;
          for (auto& r : fdb) {
            if (r.mac == e.mac) r.permanent = true;
          }
        }
      }
    }
    for (const FdbEntry& e : plan.flood.added) fdb.push_back(e);
    for (const auto* list : {&plan.neighbors.added, &plan.neighbors.updated}) {
      for (const NeighborEntry& n : *list) neigh[n.ip] = n;
    }
    for (const NeighborEntry& n : plan.neighbors.removed) neigh.erase(n.ip);
    for (const auto* list : {&plan.fdb.removed, &plan.flood.removed}) {
      for (const FdbEntry& e : *list) {
        std::erase_if(fdb, [&](auto& r) { return r.mac == e.mac && r.vtep == e.vtep; });
      }
    }
  }
  std::vector<NeighborEntry> neighbors() const {
    std::vector<NeighborEntry> out;
    for (const auto& [k, v] : neigh) out.push_back(v);
    return out;
  }
};

TEST(SyncPlanTest, RandomPlansConvergeToTheDesiredTablesAndThenAreEmpty) {
  std::mt19937 rng(20240601);
  auto pick = [&](int n) { return static_cast<uint8_t>(rng() % n + 1); };
  for (int round = 0; round < 300; ++round) {
    ModelTables tables;
    // Random starting state: ours and the kernel's own rows.
    for (int i = 0; i < 12; ++i) {
      const uint8_t n = pick(20);
      // The kernel keeps one state per FDB entry (per MAC), whatever its remotes.
      const bool permanent = n % 4 != 0;
      // The kernel holds each (MAC, remote) pair at most once.
      const FdbEntry row = rng() % 5 == 0 ? FdbEntry{MacAddress{}, vtep(pick(4)), true}
                                          : FdbEntry{mac(n), vtep(pick(4)), permanent};
      if (std::find(tables.fdb.begin(), tables.fdb.end(), row) == tables.fdb.end()) {
        tables.fdb.push_back(row);
      }
      tables.neigh[ip(n)] = {ip(n), mac(pick(20)), rng() % 4 != 0};
    }
    // Random desired state, consistent by construction (MAC n always behind host f(n)).
    DesiredPeers want;
    std::map<uint8_t, uint8_t> host;
    for (int i = 0; i < 10; ++i) {
      const uint8_t n = pick(20);
      host.emplace(n, pick(4));
      want.peers.push_back(Peer{mac(n), ip(n), vtep(host[n])});
    }
    if (rng() % 2) want.flood_vteps = std::vector<Ipv4Address>{vtep(pick(4)), vtep(pick(4))};

    const SyncPlan plan = plan_sync(want, tables.fdb, tables.neighbors());
    tables.apply(plan);

    std::set<std::pair<MacAddress, Ipv4Address>> want_fdb, have_fdb;
    for (const Peer& p : want.peers) want_fdb.emplace(p.mac, p.vtep);
    for (const FdbEntry& e : tables.fdb) {
      if (e.permanent && !e.mac.is_zero()) have_fdb.emplace(e.mac, e.vtep);
    }
    ASSERT_EQ(have_fdb, want_fdb) << "round " << round;
    for (const Peer& p : want.peers) {
      ASSERT_EQ(tables.neigh.at(p.ip).mac, p.mac);
      ASSERT_TRUE(tables.neigh.at(p.ip).permanent);
    }
    for (const auto& [k, n] : tables.neigh) {
      if (n.permanent) {
        ASSERT_TRUE(std::any_of(want.peers.begin(), want.peers.end(),
                                [&](const Peer& p) { return p.ip == k; }));
      }
    }
    ASSERT_TRUE(plan_sync(want, tables.fdb, tables.neighbors()).empty()) << "round " << round;
  }
}

}  // namespace
}  // namespace trellis::vxlan
