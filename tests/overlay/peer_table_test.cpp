#include "overlay/peer_table.h"

#include <gtest/gtest.h>

#include "tests/overlay/cluster_fixture.h"

namespace trellis::overlay {
namespace {

using testing::Cluster;
using testing::endpoint;
using testing::overlay_network;

constexpr int kA = 0, kB = 1, kC = 2;

ipam::IpAddress ip(const char* text) { return ipam::IpAddress::parse(text); }

// Three nodes; node A creates overlay network "n1" (10.1.0.0/24, VNI 5000). After a full sync:
// A has endpoint a1, B has b1 and b2, C has c1.
class PeerTableTest : public ::testing::Test {
 protected:
  PeerTableTest() : cluster_(3) {
    cluster_.node(kA).append_local(overlay_network("n1", "10.1.0.0/24", 0));
    // A owns the network's addresses; B and C allocate from what A gives them.
    const std::string key = store::network_space_key("n1", 0);
    const auto b = Cluster::id_of(kB), c = Cluster::id_of(kC);
    for (const store::RangeDonated& d :
         {store::RangeDonated{key, b, 3, 4}, store::RangeDonated{key, b, 6, 6},
          store::RangeDonated{key, b, 10, 10}, store::RangeDonated{key, c, 5, 5},
          store::RangeDonated{key, c, 7, 9}}) {
      cluster_.node(kA).append_local(d);
    }
    cluster_.sync_all();
    cluster_.node(kA).append_local(endpoint("a1", "n1", "02:42:0a:01:00:02", "10.1.0.2/24"));
    cluster_.node(kB).append_local(endpoint("b1", "n1", "02:42:0a:01:00:03", "10.1.0.3/24"));
    cluster_.node(kB).append_local(endpoint("b2", "n1", "02:42:0A:01:00:04", "10.1.0.4/24"));
    cluster_.node(kC).append_local(endpoint("c1", "n1", "02:42:0a:01:00:05", "10.1.0.5/24"));
    EXPECT_TRUE(cluster_.sync_all().empty());
  }

  NetworkPeers peers_on(int self, const std::string& network = "n1") {
    return compute_network_peers(cluster_.node(self).read(), network, Cluster::id_of(self));
  }
  RemotePeer peer(const char* mac, const char* addr, int node, const char* id) const {
    return {mac, ip(addr), ip(Cluster::address_of(node).c_str()), Cluster::id_of(node), id};
  }

  Cluster cluster_;
};

TEST_F(PeerTableTest, EveryEndpointOfAnotherNodeIsAPeerSortedByAddress) {
  NetworkPeers p = peers_on(kA);
  EXPECT_EQ(p.network, "n1");
  EXPECT_TRUE(p.instantiate());
  EXPECT_EQ(p.local_endpoints, std::vector<std::string>{"a1"});
  // b2's MAC was written in upper case: peers carry the normalised form.
  EXPECT_EQ(p.peers, (std::vector<RemotePeer>{peer("02:42:0a:01:00:03", "10.1.0.3", kB, "b1"),
                                              peer("02:42:0a:01:00:04", "10.1.0.4", kB, "b2"),
                                              peer("02:42:0a:01:00:05", "10.1.0.5", kC, "c1")}));
  EXPECT_EQ(p.remote_vteps, (std::vector<ipam::IpAddress>{ip("192.0.2.12"), ip("192.0.2.13")}));
  EXPECT_TRUE(p.withdrawn.empty());
  EXPECT_TRUE(p.skipped.empty());
}

TEST_F(PeerTableTest, LocalEndpointsAreNeverPeers) {
  NetworkPeers p = peers_on(kB);
  EXPECT_EQ(p.local_endpoints, (std::vector<std::string>{"b1", "b2"}));
  EXPECT_EQ(p.peers, (std::vector<RemotePeer>{peer("02:42:0a:01:00:02", "10.1.0.2", kA, "a1"),
                                              peer("02:42:0a:01:00:05", "10.1.0.5", kC, "c1")}));
}

TEST_F(PeerTableTest, NodeWithoutLocalEndpointDoesNotInstantiateTheNetwork) {
  ASSERT_NO_THROW(cluster_.node(kC).append_local(store::EndpointRemoved{"c1"}));
  cluster_.sync_all();
  NetworkPeers p = peers_on(kC);
  EXPECT_FALSE(p.instantiate());
  EXPECT_TRUE(p.local_endpoints.empty());
  EXPECT_EQ(p.peers.size(), 3u);  // still computed: what it would program
  // And the removed endpoint is no peer anywhere.
  NetworkPeers on_a = peers_on(kA);
  for (const auto& peer : on_a.peers) EXPECT_NE(peer.endpoint, "c1");
}

TEST_F(PeerTableTest, ANodeThatLeftStaysProgrammedItsRemovalTakesItsEndpointsAway) {
  const NetworkPeers before = peers_on(kA);
  ASSERT_EQ(before.peers.size(), 3u);
  // A graceful leave (a daemon stopped for an upgrade): its containers still forward.
  cluster_.node(kC).append_local(store::NodeLeft{});
  cluster_.sync_all();
  EXPECT_EQ(peers_on(kA), before);
  // `node rm` deletes its endpoints: nothing of it is programmed any more.
  const store::NodeId c = Cluster::id_of(kC);
  cluster_.node(kA).append_local(store::NodeRemoved{c, cluster_.node(kA).version_vector().at(c)});
  cluster_.sync_all();
  const NetworkPeers after = peers_on(kA);
  EXPECT_EQ(after.peers,
            (std::vector<RemotePeer>{peer("02:42:0a:01:00:03", "10.1.0.3", kB, "b1"),
                                     peer("02:42:0a:01:00:04", "10.1.0.4", kB, "b2")}));
  EXPECT_TRUE(after.withdrawn.empty()) << "the removal deleted them from the state";
  EXPECT_EQ(after.remote_vteps, std::vector<ipam::IpAddress>{ip("192.0.2.12")});
}

// A removal deletes the node's endpoints, so this is for records that outlive it: handed to
// the explicit-input form, an endpoint whose node record says removed is withdrawn.
TEST_F(PeerTableTest, AnEndpointOfARemovedNodeIsWithdrawn) {
  const store::ReadView view = cluster_.node(kA).read();
  std::vector<store::NodeInfo> nodes = view.nodes();
  for (auto& n : nodes) {
    if (n.id == Cluster::id_of(kC)) n.status = store::NodeStatus::kRemoved;
  }
  const NetworkPeers p = compute_network_peers(*view.network("n1"), view.endpoints_of_network("n1"),
                                               nodes, Cluster::id_of(kA));
  EXPECT_EQ(p.withdrawn, std::vector<std::string>{"c1"});
  EXPECT_EQ(p.peers.size(), 2u);
  for (const auto& peer : p.peers) EXPECT_NE(peer.endpoint, "c1");
}

TEST_F(PeerTableTest, ANodeMovingItsAddressMovesItsPeers) {
  cluster_.node(kC).append_local(store::NodeAnnounced{"n3", "198.51.100.7"});
  cluster_.sync_all();
  NetworkPeers p = peers_on(kA);
  ASSERT_EQ(p.peers.size(), 3u);
  EXPECT_EQ(p.peers[2].vtep, ip("198.51.100.7"));
}

TEST_F(PeerTableTest, EndpointsOfANodeWithoutUsableAddressAreSkippedWithAReason) {
  cluster_.node(kC).append_local(store::NodeAnnounced{"n3", ""});
  cluster_.sync_all();
  NetworkPeers p = peers_on(kA);
  EXPECT_EQ(p.peers.size(), 2u);
  ASSERT_EQ(p.skipped.size(), 1u);
  EXPECT_EQ(p.skipped[0].endpoint, "c1");
  EXPECT_EQ(p.skipped[0].node, Cluster::id_of(kC));
  EXPECT_NE(p.skipped[0].reason.find("advertises no IPv4 address"), std::string::npos);
}

TEST_F(PeerTableTest, AnIpPortAdvertiseAddressYieldsTheIp) {
  store::NodeInfo n;
  n.address = "192.0.2.44:7946";
  EXPECT_EQ(advertised_vtep(n), ip("192.0.2.44"));
  n.address = "2001:db8::1";
  EXPECT_EQ(advertised_vtep(n), std::nullopt);
  n.address = "0.0.0.0";
  EXPECT_EQ(advertised_vtep(n), std::nullopt);
  n.address = "not-an-ip";
  EXPECT_EQ(advertised_vtep(n), std::nullopt);
}

TEST_F(PeerTableTest, ADuplicateMacAcrossHostsKeepsTheLowestEndpointIdEverywhere) {
  // c0 on C reuses b1's MAC: the FDB can hold one VTEP per MAC. "b1" < "c0": b1 wins.
  cluster_.node(kC).append_local(endpoint("c0", "n1", "02:42:0a:01:00:03", "10.1.0.9/24"));
  cluster_.sync_all();
  NetworkPeers on_a = peers_on(kA);
  ASSERT_EQ(on_a.skipped.size(), 1u);
  EXPECT_EQ(on_a.skipped[0].endpoint, "c0");
  EXPECT_EQ(on_a.peers.size(), 3u);
  // A MAC that clashes with a local endpoint is never programmed on that node.
  cluster_.node(kB).append_local(endpoint("b9", "n1", "02:42:0a:01:00:02", "10.1.0.10/24"));
  cluster_.sync_all();
  on_a = peers_on(kA);
  std::vector<std::string> skipped;
  for (const auto& s : on_a.skipped) skipped.push_back(s.endpoint);
  EXPECT_EQ(skipped, (std::vector<std::string>{"b9", "c0"}));
}

TEST_F(PeerTableTest, EveryReplicaComputesTheSameTableFromTheSameState) {
  // B and C see all events, synced in different orders; A's table computed on each of their
  // stores (as if they were A) is identical.
  cluster_.node(kB).append_local(endpoint("b3", "n1", "02:42:0a:01:00:06", "10.1.0.6/24"));
  cluster_.node(kC).append_local(endpoint("c3", "n1", "02:42:0a:01:00:07", "10.1.0.7/24"));
  testing::sync(cluster_.node(kB), cluster_.node(kC));
  testing::sync(cluster_.node(kC), cluster_.node(kB));
  const store::NodeId as_a = Cluster::id_of(kA);
  NetworkPeers on_b = compute_network_peers(cluster_.node(kB).read(), "n1", as_a);
  NetworkPeers on_c = compute_network_peers(cluster_.node(kC).read(), "n1", as_a);
  EXPECT_EQ(on_b, on_c);
  EXPECT_EQ(on_b.peers.size(), 5u);  // b1 b2 b3 c1 c3
}

TEST_F(PeerTableTest, AllNetworksListsOverlayNetworksOnlyByIdAndUnknownOrBridgeIsAnError) {
  cluster_.node(kB).append_local(overlay_network("n0", "10.2.0.0/24", 0));
  store::NetworkCreated bridge;
  bridge.id = "br";
  bridge.name = "local";
  bridge.driver = "bridge";
  cluster_.node(kB).append_local(bridge);
  cluster_.sync_all();
  std::vector<NetworkPeers> all =
      compute_all_network_peers(cluster_.node(kA).read(), Cluster::id_of(kA));
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].network, "n0");
  EXPECT_FALSE(all[0].instantiate());
  EXPECT_EQ(all[1].network, "n1");
  EXPECT_TRUE(all[1].instantiate());
  EXPECT_THROW(peers_on(kA, "br"), InvalidArgumentError);
  EXPECT_THROW(peers_on(kA, "nope"), NotFoundError);
}

}  // namespace
}  // namespace trellis::overlay
