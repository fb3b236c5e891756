// The overlay data plane end to end on two (or three) test hosts: replicated state in real
// stores → peer tables → OverlayHost on each host → real pings between containers over VXLAN.
// Runs inside tests/harness/in-private-netns.sh (ctest label netns).

#include "overlay/overlay_network.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <set>

#include "osl/links.h"
#include "osl/routes.h"
#include "overlay/space_planner.h"
#include "tests/harness/testbed.h"
#include "tests/overlay/cluster_fixture.h"
#include "vxlan/device.h"
#include "vxlan/tables.h"

namespace trellis::overlay {
namespace {

using testing::Cluster;
using testing::endpoint;
using testing::mac_for;
using testing::overlay_network;
using Testbed = trellis::testing::Testbed;

// True once `ping -c1 -W1 target` from `ns` is answered, trying until the deadline.
bool pings(const osl::Netns& ns, const std::string& target,
           std::chrono::milliseconds deadline = std::chrono::milliseconds(3000),
           const std::vector<std::string>& extra = {}) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  std::vector<std::string> argv = {"ping", "-c1", "-W1", "-q"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(target);
  for (;;) {
    if (trellis::testing::run_command_in(ns, argv) == 0) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
  }
}

// One ping attempt that must fail (a withdrawn peer is unreachable at once: no flooding).
bool ping_fails(const osl::Netns& ns, const std::string& target) {
  return trellis::testing::run_command_in(ns, {"ping", "-c1", "-W1", "-q", target}) != 0;
}

struct Container {
  Testbed::Container* box = nullptr;
  int node = 0;
  std::string network;
  std::string endpoint;
  std::string mac;
  std::string address;  // "10.x.y.z/24"
  std::string ip() const { return address.substr(0, address.find('/')); }
};

class OverlayNetworkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    trellis::testing::require_private_netns();
    tb_ = std::make_unique<Testbed>("ovn");
  }
  void TearDown() override {
    // Overlay namespaces live in the hosts' own directories, not under the Testbed's prefix.
    for (auto& h : hosts_) {
      EXPECT_NO_THROW(h->remove_others({}));
      EXPECT_TRUE(h->networks().empty());
    }
    hosts_.clear();
    tb_->cleanup();
    EXPECT_TRUE(tb_->leftovers().empty());
  }

  // `nodes` stores and as many test hosts; node i runs on host i+1 (same underlay address).
  void make_cluster(int nodes, uint16_t port = vxlan::kDefaultVxlanPort) {
    cluster_ = std::make_unique<Cluster>(nodes);
    cluster_->found(0);
    cluster_->sync_all();
    for (int i = 0; i < nodes; ++i) {
      Testbed::Host& h = tb_->add_host();
      EXPECT_EQ(h.underlay_ip.to_string(), Cluster::address_of(i));
      HostOptions o;
      o.netns_dir = tb_->netns_dir() + "/ov-h" + std::to_string(i + 1);
      o.node = Cluster::id_of(i);
      o.advertise = h.underlay_ip;
      o.vxlan_port = port;
      host_ns_.push_back(&h.ns);
      hosts_.push_back(std::make_unique<OverlayHost>(h.ns.duplicate(), o));
    }
  }

  Membership members(int self, std::set<int> live) const {
    Membership m;
    m.self = Cluster::id_of(self);
    for (int i : live) m.live.insert(Cluster::id_of(i));
    return m;
  }
  std::set<int> everyone() const {
    std::set<int> s;
    for (int i = 0; i < cluster_->size(); ++i) s.insert(i);
    return s;
  }

  // Node 0 creates an overlay network with an auto VNI and subnet; every node learns it.
  store::NetworkInfo create_network(const std::string& id) {
    SpacePick vni = pick_vni(cluster_->node(0).read(), members(0, {}));
    SpacePick pool = pick_pool_subnet(cluster_->node(0).read(), members(0, {}));
    cluster_->node(0).append_local(overlay_network(id, pool_subnet(*pool.value).to_string(),
                                                   static_cast<uint32_t>(*vni.value), *pool.value));
    cluster_->sync_all();
    return *cluster_->node(0).read().network(id);
  }

  // A container on `node`: the address comes from what the node owns (node 0 donates to the
  // others as needed), the endpoint is authored by the node, and every node learns it.
  Container& add_container(int node, const store::NetworkInfo& net) {
    const Membership m = members(node, everyone());
    store::Store& s = cluster_->node(node);
    SpacePick pick = pick_address(s.read(), net.spec.id, 0, m);
    if (!pick.value) {
      const int donor = 0;
      auto space = cluster_->node(donor).read().space(store::network_space_key(net.spec.id, 0));
      auto d = plan_address_donation(net, 0, space->space, Cluster::id_of(donor), m.self, 8);
      EXPECT_TRUE(d);
      cluster_->node(donor).append_local(*d);
      cluster_->sync_all();
      pick = pick_address(s.read(), net.spec.id, 0, m);
    }
    EXPECT_TRUE(pick.value);
    const ipam::Prefix subnet = ipam::Prefix::parse(net.spec.ipam_result.pools[0].subnet);
    const ipam::IpAddress ip = subnet.address_at(*pick.value);
    Container c;
    c.box = &tb_->add_container();
    c.node = node;
    c.network = net.spec.id;
    c.endpoint = "ep" + std::to_string(containers_.size() + 1) + "0123456789abcdef";
    c.mac = mac_for(ip);
    c.address = ip.to_string() + "/" + std::to_string(subnet.length());
    s.append_local(endpoint(c.endpoint, net.spec.id, c.mac, c.address));
    cluster_->sync_all();
    containers_.push_back(c);
    return containers_.back();
  }

  // What the daemon does on every change: per node, the network's peer table from its own
  // store, reconciled into its host; local containers attached.
  std::vector<ReconcileResult> reconcile_all(const store::NetworkInfo& net) {
    std::vector<ReconcileResult> out;
    const OverlaySpec spec = OverlaySpec::from(net);
    for (int i = 0; i < cluster_->size(); ++i) {
      NetworkPeers peers =
          compute_network_peers(cluster_->node(i).read(), net.spec.id, Cluster::id_of(i));
      out.push_back(hosts_[i]->reconcile(spec, peers));
      if (!peers.instantiate()) continue;
      for (const Container& c : containers_) {
        if (c.node != i || c.network != net.spec.id) continue;
        if (!cluster_->node(i).read().endpoint(c.endpoint)) continue;
        Attachment a;
        a.endpoint_id = c.endpoint;
        a.container = &c.box->ns;
        a.mac = c.mac;
        a.address = ipam::InterfaceAddress::parse(c.address);
        hosts_[i]->attach(spec, a);
      }
    }
    return out;
  }

  void expect_all_pairs_ping(const std::vector<Container*>& set) {
    for (const Container* from : set) {
      for (const Container* to : set) {
        if (from == to) continue;
        EXPECT_TRUE(pings(from->box->ns, to->ip()))
            << from->ip() << " (node " << from->node << ") -> " << to->ip() << " (node " << to->node
            << ")";
      }
    }
  }

  std::unique_ptr<Testbed> tb_;
  std::unique_ptr<Cluster> cluster_;
  std::vector<const osl::Netns*> host_ns_;
  std::vector<std::unique_ptr<OverlayHost>> hosts_;
  std::deque<Container> containers_;
};

TEST_F(OverlayNetworkTest, NamesFitTheKernelAndRoundTrip) {
  EXPECT_EQ(overlay_netns_name(4096), "trl-ov-4096");
  EXPECT_EQ(vni_of_netns_name("trl-ov-16777215"), 16777215u);
  EXPECT_EQ(vni_of_netns_name("trl-ov-16777216"), std::nullopt);
  EXPECT_EQ(vni_of_netns_name("trl-ov-0042"), std::nullopt);
  EXPECT_EQ(vni_of_netns_name("trl-ov-"), std::nullopt);
  EXPECT_EQ(vni_of_netns_name("trl-x-1"), std::nullopt);
  EXPECT_TRUE(osl::is_valid_link_name(overlay_bridge_name(16777215)));
  EXPECT_TRUE(osl::is_valid_link_name(overlay_vxlan_name(16777215)));
  EXPECT_TRUE(osl::is_valid_link_name(overlay_veth_name("0123456789abcdef0123")));
}

TEST_F(OverlayNetworkTest, ContainersOnTwoHostsPingEachOtherOverVxlan) {
  make_cluster(2);
  const store::NetworkInfo net = create_network("n1");
  Container& c1 = add_container(0, net);
  Container& c2 = add_container(0, net);
  Container& c3 = add_container(1, net);
  Container& c4 = add_container(1, net);
  auto results = reconcile_all(net);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(results[0].created);
  EXPECT_EQ(results[0].peers.fdb.added.size(), 2u);
  EXPECT_EQ(results[0].peers.neighbors.added.size(), 2u);

  // The layout: the VXLAN device in the overlay namespace, bound to the advertise address.
  const OverlaySpec spec = OverlaySpec::from(net);
  osl::Netns ov =
      osl::Netns::open(hosts_[0]->options().netns_dir + "/" + overlay_netns_name(spec.vni));
  osl::NetlinkSocket ov_sock(ov);
  auto vx = vxlan::find_vxlan(ov_sock, overlay_vxlan_name(spec.vni));
  ASSERT_TRUE(vx);
  EXPECT_EQ(vx->vni, spec.vni);
  EXPECT_EQ(vx->local.to_string(), "192.0.2.11");
  EXPECT_EQ(vx->port, vxlan::kDefaultVxlanPort);
  EXPECT_FALSE(vx->learning);
  EXPECT_TRUE(vx->up);
  EXPECT_EQ(vx->mtu, 1450u);
  EXPECT_EQ(osl::get_link(ov_sock, overlay_vxlan_name(spec.vni)).master,
            overlay_bridge_name(spec.vni));
  osl::LinkInfo br = osl::get_link(ov_sock, overlay_bridge_name(spec.vni));
  ASSERT_EQ(br.addresses.size(), 1u);
  EXPECT_EQ(br.addresses[0].to_string(), net.spec.ipam_result.pools[0].gateway + "/24");
  // Nothing stays in the host namespace but the underlay.
  osl::NetlinkSocket host_sock(*host_ns_[0]);
  EXPECT_FALSE(osl::find_link(host_sock, overlay_vxlan_name(spec.vni)));
  // Container side: MTU = underlay - 50, default route via the gateway.
  osl::NetlinkSocket c1_sock(c1.box->ns);
  EXPECT_EQ(osl::get_link(c1_sock, "eth0").mtu, 1450u);
  auto route = osl::default_route(c1_sock, AF_INET);
  ASSERT_TRUE(route);
  EXPECT_EQ(route->gateway->to_string(), net.spec.ipam_result.pools[0].gateway);

  expect_all_pairs_ping({&c1, &c2, &c3, &c4});
  EXPECT_TRUE(pings(c3.box->ns, net.spec.ipam_result.pools[0].gateway));

  // Idempotent: a second pass changes nothing.
  results = reconcile_all(net);
  for (const auto& r : results) {
    EXPECT_FALSE(r.created);
    EXPECT_TRUE(r.peers.empty());
  }
  EXPECT_EQ(hosts_[1]->attached(spec.vni).size(), 2u);
}

TEST_F(OverlayNetworkTest, ContainersOfAnotherOverlayNetworkCannotReachThisOne) {
  make_cluster(2);
  const store::NetworkInfo n1 = create_network("n1");
  const store::NetworkInfo n2 = create_network("n2");
  ASSERT_NE(n1.spec.ipam_result.vni, n2.spec.ipam_result.vni);
  Container& a = add_container(0, n1);
  Container& b = add_container(1, n1);
  Container& c = add_container(0, n2);
  Container& d = add_container(1, n2);
  reconcile_all(n1);
  reconcile_all(n2);
  expect_all_pairs_ping({&a, &b});
  expect_all_pairs_ping({&c, &d});
  EXPECT_TRUE(ping_fails(c.box->ns, b.ip()));
  EXPECT_TRUE(ping_fails(a.box->ns, d.ip()));
  EXPECT_EQ(hosts_[0]->networks(),
            (std::vector<uint32_t>{n1.spec.ipam_result.vni, n2.spec.ipam_result.vni}));
}

TEST_F(OverlayNetworkTest, ALeftNodesPeersStayProgrammedUntilItIsRemoved) {
  make_cluster(3);
  const store::NetworkInfo net = create_network("n1");
  Container& a = add_container(0, net);
  Container& b = add_container(1, net);
  Container& c = add_container(2, net);
  reconcile_all(net);
  expect_all_pairs_ping({&a, &b, &c});

  // Node 2's daemon stops gracefully (an upgrade): its containers keep forwarding, and the
  // others keep its peers, so nothing is interrupted.
  cluster_->node(2).append_local(store::NodeLeft{});
  cluster_->sync_all();
  auto results = reconcile_all(net);
  EXPECT_TRUE(results[0].peers.fdb.removed.empty());
  EXPECT_TRUE(results[1].peers.neighbors.removed.empty());
  expect_all_pairs_ping({&a, &b, &c});

  // Removed for good (`node rm` on node 0): its endpoints leave the state, its peer entries go.
  const store::NodeId gone = Cluster::id_of(2);
  cluster_->node(0).append_local(
      store::NodeRemoved{gone, cluster_->node(0).version_vector().at(gone)});
  cluster_->sync_all();
  results = reconcile_all(net);
  EXPECT_EQ(results[0].peers.fdb.removed.size(), 1u);
  EXPECT_EQ(results[0].peers.neighbors.removed.size(), 1u);
  EXPECT_TRUE(ping_fails(a.box->ns, c.ip()));
  EXPECT_TRUE(pings(a.box->ns, b.ip()));
}

TEST_F(OverlayNetworkTest, TheLastLocalEndpointLeavingTearsTheNetworkDown) {
  make_cluster(2);
  const store::NetworkInfo net = create_network("n1");
  Container& a = add_container(0, net);
  Container& b = add_container(1, net);
  reconcile_all(net);
  ASSERT_TRUE(pings(a.box->ns, b.ip()));
  const uint32_t vni = net.spec.ipam_result.vni;

  cluster_->node(1).append_local(store::EndpointRemoved{b.endpoint});
  cluster_->sync_all();
  auto results = reconcile_all(net);
  EXPECT_TRUE(results[1].removed);
  EXPECT_FALSE(hosts_[1]->has_network(vni));
  EXPECT_TRUE(hosts_[1]->networks().empty());
  EXPECT_EQ(results[0].peers.fdb.removed.size(), 1u);
  // Its container lost its interface with the namespace's veth.
  osl::NetlinkSocket b_sock(b.box->ns);
  EXPECT_FALSE(osl::find_link(b_sock, "eth0"));
  // Removing again is a no-op; re-creating at once works (the VNI and port were released).
  EXPECT_FALSE(hosts_[1]->remove_network(vni));
  Container& b2 = add_container(1, net);
  results = reconcile_all(net);
  EXPECT_TRUE(results[1].created);
  EXPECT_TRUE(pings(a.box->ns, b2.ip()));
}

TEST_F(OverlayNetworkTest, ANonDefaultPortAndAJumboUnderlayCarryFullSizeFrames) {
  make_cluster(2, 4790);
  // Underlay MTU 9000 everywhere: the hosts' eth0, their bridge ports and the bridge.
  osl::NetlinkSocket test_sock = tb_->test_socket();
  for (const auto& h : tb_->hosts()) {
    osl::set_link_mtu(test_sock, h->bridge_port, 9000);
    osl::NetlinkSocket hs(h->ns);
    osl::set_link_mtu(hs, h->underlay_link, 9000);
  }
  osl::set_link_mtu(test_sock, tb_->underlay_bridge(), 9000);
  EXPECT_EQ(hosts_[0]->underlay_mtu(), 9000u);

  const store::NetworkInfo net = create_network("n1");
  Container& a = add_container(0, net);
  Container& b = add_container(1, net);
  reconcile_all(net);
  osl::NetlinkSocket a_sock(a.box->ns);
  EXPECT_EQ(osl::get_link(a_sock, "eth0").mtu, 8950u);
  // 8922 bytes of ICMP payload + 28 of headers = 8950: a full frame, not fragmented.
  EXPECT_TRUE(
      pings(a.box->ns, b.ip(), std::chrono::milliseconds(3000), {"-M", "do", "-s", "8922"}));
  osl::Netns ov = osl::Netns::open(hosts_[1]->options().netns_dir + "/" +
                                   overlay_netns_name(net.spec.ipam_result.vni));
  osl::NetlinkSocket ov_sock(ov);
  EXPECT_EQ(vxlan::find_vxlan(ov_sock, overlay_vxlan_name(net.spec.ipam_result.vni))->port, 4790);
}

TEST_F(OverlayNetworkTest, ANamespaceLeftByAnotherNetworkOfTheSameVniIsRebuilt) {
  make_cluster(1);
  const store::NetworkInfo net = create_network("n1");
  add_container(0, net);
  reconcile_all(net);
  OverlaySpec other = OverlaySpec::from(net);
  other.network_id = "someone-else";
  EXPECT_TRUE(hosts_[0]->ensure_network(other));   // rebuilt: created anew
  EXPECT_FALSE(hosts_[0]->ensure_network(other));  // and then stable
  EXPECT_TRUE(hosts_[0]->attached(other.vni).empty());
}

TEST_F(OverlayNetworkTest, StartUpRemovesNamespacesOfNetworksNoLongerWanted) {
  make_cluster(1);
  const store::NetworkInfo n1 = create_network("n1");
  const store::NetworkInfo n2 = create_network("n2");
  add_container(0, n1);
  add_container(0, n2);
  reconcile_all(n1);
  reconcile_all(n2);
  const uint32_t v1 = n1.spec.ipam_result.vni, v2 = n2.spec.ipam_result.vni;
  EXPECT_EQ(hosts_[0]->networks(), (std::vector<uint32_t>{v1, v2}));
  // A restarted daemon (a new OverlayHost on the same directory) keeps n1, drops n2.
  OverlayHost restarted(host_ns_[0]->duplicate(), hosts_[0]->options());
  EXPECT_EQ(restarted.remove_others({v1}), std::vector<uint32_t>{v2});
  EXPECT_EQ(restarted.networks(), std::vector<uint32_t>{v1});
  EXPECT_FALSE(restarted.ensure_network(OverlaySpec::from(n1)));
}

}  // namespace
}  // namespace trellis::overlay
