// The overlay driver inside trellisd's kernel reconciler, end to end on two test hosts: two
// real stores act as two nodes (events appended with the store API, exchanged by hand), each
// node has a StateCache and a KernelReconciler running on threads inside its host's namespace,
// and containers (the reconcilers' own sandboxes) ping each other over VXLAN. Membership
// changes, leave/remove, restart adoption, foreign veths on the overlay bridge and egress NAT.
// Runs inside tests/harness/in-private-netns.sh (ctest label netns).

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "node/dataplane/kernel_reconciler.h"
#include "node/dataplane/netops.h"
#include "node/drivers/overlay/overlay_programmer.h"
#include "node/drivers/registry.h"
#include "node/model/state_cache.h"
#include "osl/links.h"
#include "osl/netns.h"
#include "osl/routes.h"
#include "overlay/overlay_network.h"
#include "overlay/space_planner.h"
#include "tests/harness/testbed.h"
#include "tests/overlay/cluster_fixture.h"
#include "vxlan/tables.h"

namespace trellis::node {
namespace {

using overlay::testing::Cluster;
using Testbed = trellis::testing::Testbed;

constexpr uint32_t kVni = 4242;

bool pings(const osl::Netns& ns, const std::string& target,
           std::chrono::milliseconds deadline = std::chrono::milliseconds(4000)) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    if (trellis::testing::run_command_in(ns, {"ping", "-c1", "-W1", "-q", target}) == 0)
      return true;
    if (std::chrono::steady_clock::now() >= until) return false;
  }
}

bool ping_fails(const osl::Netns& ns, const std::string& target) {
  return trellis::testing::run_command_in(ns, {"ping", "-c1", "-W1", "-q", target}) != 0;
}

// Ids whose first 11 characters differ (kernel names use them).
std::string make_id(char kind, int n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%c%010d", kind, n);
  return std::string(buf) + "abcdef0123456789";
}

// One trellisd's data-plane half: its store (of the Cluster), a StateCache kept current by
// the store's change listener, and a KernelReconciler that runs inside the host's namespace.
struct Node {
  int index = 0;
  store::Store* store = nullptr;
  Testbed::Host* host = nullptr;
  std::string run_dir;
  std::unique_ptr<StateCache> cache;
  std::unique_ptr<NetOps> ops;
  std::unique_ptr<KernelReconciler> reconciler;
  Dirty pending;
  bool egress_default = false;

  std::string netns_dir() const { return run_dir + "/netns"; }
  std::string sandbox_ns(const std::string& id) const { return netns_dir() + "/" + id; }

  // A new reconciler (a daemon start or restart), made inside the host namespace.
  void start() {
    reconciler.reset();
    ops.reset();
    osl::run_in_netns(host->ns, [&] {
      ops = make_kernel_netops();
      KernelReconcilerOptions o;
      o.run_dir = run_dir;
      o.node = store->identity().id;
      o.resolv_conf = "/dev/null";
      o.nft_table = "trellis";
      DataPlaneOptions d;
      d.run_dir = run_dir;
      d.node = o.node;
      d.egress_default = egress_default;
      d.make_overlay = make_overlay_host_programmer;
      reconciler = std::make_unique<KernelReconciler>(
          *ops, o, DriverRegistry::builtin().make_planes(*ops, d));
    });
  }

  Failures reconcile(bool all = false) {
    Dirty d = std::move(pending);
    pending = Dirty{};
    d.all = d.all || all;
    return osl::run_in_netns(host->ns, [&] { return reconciler->reconcile(*cache, d).failures; });
  }

  void stop() {
    reconciler.reset();
    ops.reset();
  }
};

std::string failures_text(const Failures& f) {
  std::string s;
  for (const auto& [k, v] : f) s += k.to_string() + ": " + v.message + "\n";
  return s;
}

class OverlayKernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    trellis::testing::require_private_netns();
    tb_ = std::make_unique<Testbed>("okr");
    cluster_ = std::make_unique<Cluster>(2);
    cluster_->found(0);
    cluster_->sync_all();
    std::string base =
        std::string(std::getenv("TRELLIS_TEST_RUN_DIR") ? std::getenv("TRELLIS_TEST_RUN_DIR")
                                                        : "/tmp") +
        "/okr-XXXXXX";
    ASSERT_NE(::mkdtemp(base.data()), nullptr);
    base_ = base;
    for (int i = 0; i < 2; ++i) {
      auto n = std::make_unique<Node>();
      n->index = i;
      n->store = &cluster_->node(i);
      n->host = &tb_->add_host();
      ASSERT_EQ(n->host->underlay_ip.to_string(), Cluster::address_of(i));
      n->run_dir = base_ + "/n" + std::to_string(i);
      n->cache = std::make_unique<StateCache>(*n->store, n->store->identity().id);
      n->cache->load_all();
      Node* raw = n.get();
      n->store->set_change_listener([raw](const store::ChangeSet& c) {
        raw->cache->apply(c);
        raw->pending.merge(c);
      });
      nodes_.push_back(std::move(n));
    }
  }

  void TearDown() override {
    // Remove everything from the state: the reconcilers must leave no overlay namespace,
    // sandbox or egress bridge behind.
    for (auto& n : nodes_) {
      if (!n->reconciler) continue;
      store::ReadView view = n->store->read();
      std::vector<store::Body> bodies;
      for (const auto& s : view.sandboxes()) {
        if (s.owner == n->store->identity().id) bodies.push_back(store::SandboxRemoved{s.spec.id});
      }
      for (const auto& e : view.endpoints()) {
        if (e.spec.owner == n->store->identity().id)
          bodies.push_back(store::EndpointRemoved{e.spec.id});
      }
      if (!bodies.empty()) n->store->append_local(std::move(bodies));
    }
    cluster_->sync_all();
    for (auto& n : nodes_) {
      if (!n->reconciler) continue;
      const Failures f = n->reconcile();
      EXPECT_TRUE(f.empty()) << failures_text(f);
      EXPECT_TRUE(osl::list_named_netns(n->netns_dir(), "trl-ov-").empty());
      osl::NetlinkSocket sock = tb_->socket(*n->host);
      EXPECT_FALSE(osl::find_link(sock, std::string(kEgressBridge)));
      n->stop();
    }
    for (auto& n : nodes_) n->store->set_change_listener(nullptr);
    nodes_.clear();
    tb_->cleanup();
    EXPECT_TRUE(tb_->leftovers().empty());
  }

  Node& node(int i) { return *nodes_.at(static_cast<size_t>(i)); }
  store::NodeId id_of(int i) { return Cluster::id_of(i); }

  // Node 0 creates an overlay network (VNI kVni, 10.42.0.0/24); everyone learns it.
  void create_network(const std::string& id, std::map<std::string, std::string> options = {},
                      uint32_t vni = kVni, const std::string& subnet = "10.42.0.0/24") {
    store::NetworkCreated n = overlay::testing::overlay_network(id, subnet, vni);
    n.options = std::move(options);
    node(0).store->append_local(n);
    cluster_->sync_all();
  }

  struct Ctr {
    int node = 0;
    std::string sandbox, endpoint, mac, address;
    std::string ip() const { return address.substr(0, address.find('/')); }
  };

  // An endpoint of `node` on `network` with an address the node owns (node 0 donates when it
  // owns none); everyone learns it.
  Ctr add_endpoint(int n, const std::string& network) {
    const overlay::Membership m{id_of(n), {id_of(0), id_of(1)}};
    store::Store& s = *node(n).store;
    overlay::SpacePick pick = overlay::pick_address(s.read(), network, 0, m);
    if (!pick.value) {
      store::NetworkInfo net = *node(0).store->read().network(network);
      auto space = node(0).store->read().space(store::network_space_key(network, 0));
      auto d = overlay::plan_address_donation(net, 0, space->space, id_of(0), m.self, 16);
      EXPECT_TRUE(d);
      node(0).store->append_local(*d);
      cluster_->sync_all();
      pick = overlay::pick_address(s.read(), network, 0, m);
    }
    EXPECT_TRUE(pick.value);
    store::NetworkInfo net = *s.read().network(network);
    const ipam::Prefix subnet = ipam::Prefix::parse(net.spec.ipam_result.pools[0].subnet);
    const ipam::IpAddress ip = subnet.address_at(*pick.value);
    Ctr c;
    c.node = n;
    c.endpoint = make_id('e', ++counter_);
    c.mac = overlay::testing::mac_for(ip);
    c.address = ip.to_string() + "/" + std::to_string(subnet.length());
    s.append_local(overlay::testing::endpoint(c.endpoint, network, c.mac, c.address));
    cluster_->sync_all();
    return c;
  }

  // A sandbox of `n` joined to a new endpoint on `network`.
  // Both nodes started and alive to each other, network "net1" (with `options`) created, one
  // container on each node, reconciled.
  std::pair<Ctr, Ctr> two_nodes_one_container_each(
      std::map<std::string, std::string> options = {}) {
    for (auto& n : nodes_) n->start();
    create_network("net1", std::move(options));
    Ctr a = add_container(0, "net1");
    Ctr b = add_container(1, "net1");
    reconcile_all();
    return {a, b};
  }

  Ctr add_container(int n, const std::string& network) {
    Ctr c = add_endpoint(n, network);
    c.sandbox = make_id('s', ++counter_);
    store::SandboxCreated sb;
    sb.id = c.sandbox;
    sb.hostname = "c" + std::to_string(counter_);
    node(n).store->append_local(sb);
    node(n).store->append_local(store::EndpointJoined{c.endpoint, c.sandbox});
    cluster_->sync_all();
    return c;
  }

  void reconcile_all(bool all = false) {
    for (auto& n : nodes_) {
      const Failures f = n->reconcile(all);
      EXPECT_TRUE(f.empty()) << "node " << n->index << ":\n" << failures_text(f);
    }
  }

  osl::Netns ns_of(const Ctr& c) { return osl::Netns::open(node(c.node).sandbox_ns(c.sandbox)); }
  osl::Netns overlay_ns(int n, uint32_t vni = kVni) {
    return osl::Netns::open(node(n).netns_dir() + "/" + overlay::overlay_netns_name(vni));
  }
  bool has_overlay(int n, uint32_t vni = kVni) {
    return osl::is_netns_file(node(n).netns_dir() + "/" + overlay::overlay_netns_name(vni));
  }
  std::vector<vxlan::FdbEntry> fdb(int n, uint32_t vni = kVni) {
    osl::NetlinkSocket sock(overlay_ns(n, vni));
    std::vector<vxlan::FdbEntry> out;
    for (const auto& e : vxlan::list_fdb(sock, overlay::overlay_vxlan_name(vni))) {
      if (e.permanent) out.push_back(e);
    }
    return out;
  }
  // Links of a container's namespace other than loopback.
  std::vector<osl::LinkInfo> links_of(const Ctr& c) {
    osl::NetlinkSocket sock(ns_of(c));
    std::vector<osl::LinkInfo> out;
    for (auto& l : osl::list_links(sock)) {
      if (l.name != "lo") out.push_back(std::move(l));
    }
    return out;
  }

  std::unique_ptr<Testbed> tb_;
  std::unique_ptr<Cluster> cluster_;
  std::string base_;
  std::vector<std::unique_ptr<Node>> nodes_;
  int counter_ = 0;
};

TEST_F(OverlayKernelTest, ContainersOnTwoHostsPingAndPeersStayUntilTheNodeIsRemoved) {
  auto [a, b] = two_nodes_one_container_each();

  ASSERT_TRUE(has_overlay(0));
  ASSERT_TRUE(has_overlay(1));
  // eth0 with the endpoint's MAC and address, default route via the overlay gateway.
  auto links = links_of(a);
  ASSERT_EQ(links.size(), 1u);
  EXPECT_EQ(links[0].name, "eth0");
  EXPECT_EQ(links[0].mac, a.mac);
  EXPECT_EQ(links[0].mtu, 1450u);
  {
    osl::NetlinkSocket sock(ns_of(a));
    auto r = osl::default_route(sock, AF_INET);
    ASSERT_TRUE(r && r->gateway);
    EXPECT_EQ(r->gateway->to_string(), "10.42.0.1");
  }
  EXPECT_TRUE(pings(ns_of(a), b.ip()));
  EXPECT_TRUE(pings(ns_of(b), a.ip()));
  EXPECT_TRUE(pings(ns_of(a), "10.42.0.1"));  // the gateway on the local overlay bridge
  ASSERT_EQ(fdb(0).size(), 1u);
  EXPECT_EQ(fdb(0)[0].mac.to_string(), b.mac);

  // Node 1's daemon stops (a graceful leave; gossip declaring it dead changes nothing here
  // either): its containers still forward, so node 0 keeps its entry and the ping goes on.
  node(1).store->append_local(store::NodeLeft{});
  cluster_->sync_all();
  EXPECT_TRUE(node(0).pending.overlays);
  reconcile_all();
  EXPECT_EQ(fdb(0).size(), 1u);
  EXPECT_TRUE(pings(ns_of(a), b.ip()));

  // Removed for good (`node rm` on node 0): its endpoint leaves the state, the entry goes.
  node(0).store->append_local(
      store::NodeRemoved{id_of(1), node(0).store->version_vector().at(id_of(1))});
  cluster_->sync_all();
  reconcile_all();
  EXPECT_TRUE(fdb(0).empty());
}

TEST_F(OverlayKernelTest, LeaveDetachesAndTheLastEndpointTearsTheNamespaceDown) {
  auto [a, b] = two_nodes_one_container_each();
  ASSERT_TRUE(pings(ns_of(a), b.ip()));

  // Leave: the container loses its interface; the endpoint still exists, so does the network.
  node(1).store->append_local(store::EndpointLeft{b.endpoint, b.sandbox});
  cluster_->sync_all();
  reconcile_all();
  EXPECT_TRUE(links_of(b).empty());
  EXPECT_TRUE(has_overlay(1));
  {
    osl::NetlinkSocket sock(overlay_ns(1));
    EXPECT_FALSE(osl::find_link(sock, overlay::overlay_veth_name(b.endpoint)));
  }
  // Remove: the last local endpoint is gone, the namespace goes; node 0 drops the peer.
  node(1).store->append_local(store::EndpointRemoved{b.endpoint});
  cluster_->sync_all();
  reconcile_all();
  EXPECT_FALSE(has_overlay(1));
  EXPECT_TRUE(fdb(0).empty());
  // Rejoining with a new endpoint brings everything back.
  Ctr c = add_endpoint(1, "net1");
  node(1).store->append_local(store::EndpointJoined{c.endpoint, b.sandbox});
  cluster_->sync_all();
  c.sandbox = b.sandbox;
  reconcile_all();
  EXPECT_TRUE(has_overlay(1));
  EXPECT_TRUE(pings(ns_of(a), c.ip()));
}

TEST_F(OverlayKernelTest, RestartAdoptsWithoutDuplicatesAndRespectsForeignVeths) {
  auto [a, b] = two_nodes_one_container_each();
  ASSERT_TRUE(pings(ns_of(a), b.ip()));
  const int ifindex = links_of(a).at(0).index;

  // An endpoint of node 0 that is not joined, whose veth another tool (trellis-ovrouter) put
  // on the bridge; and a veth of an endpoint that does not exist.
  Ctr router = add_endpoint(0, "net1");
  Testbed::Container& box = tb_->add_container();
  {
    osl::NetlinkSocket sock(overlay_ns(0));
    osl::LinkOptions opts;
    osl::create_veth(sock, overlay::overlay_veth_name(router.endpoint), opts, "rtr0", &box.ns);
    osl::change_link(sock, overlay::overlay_veth_name(router.endpoint),
                     {.master = overlay::overlay_bridge_name(kVni), .up = true});
    osl::create_veth(sock, overlay::overlay_veth_name(make_id('e', 999)), opts, "gone0", &box.ns);
    osl::change_link(sock, overlay::overlay_veth_name(make_id('e', 999)),
                     {.master = overlay::overlay_bridge_name(kVni), .up = true});
  }

  // A restart (new reconciler objects, `all`) adopts the namespace and the container's veth.
  node(0).start();
  const Failures f = node(0).reconcile(true);
  EXPECT_TRUE(f.empty()) << failures_text(f);
  auto links = links_of(a);
  ASSERT_EQ(links.size(), 1u);
  EXPECT_EQ(links[0].index, ifindex);
  EXPECT_EQ(osl::list_named_netns(node(0).netns_dir(), "trl-ov-").size(), 1u);
  {
    osl::NetlinkSocket sock(overlay_ns(0));
    EXPECT_TRUE(osl::find_link(sock, overlay::overlay_veth_name(router.endpoint)));
    EXPECT_FALSE(osl::find_link(sock, overlay::overlay_veth_name(make_id('e', 999))));
    EXPECT_TRUE(osl::find_link(sock, overlay::overlay_veth_name(a.endpoint)));
  }
  EXPECT_EQ(fdb(0).size(), 1u);
  EXPECT_TRUE(pings(ns_of(a), b.ip()));
  // A second pass changes nothing.
  EXPECT_TRUE(node(0).reconcile(true).empty());
  EXPECT_EQ(links_of(a).at(0).index, ifindex);

  // A restart after the daemon was down while an overlay network lost its last endpoint here.
  node(1).stop();
  node(1).store->append_local(store::EndpointLeft{b.endpoint, b.sandbox});
  node(1).store->append_local(store::EndpointRemoved{b.endpoint});
  node(1).pending = Dirty{};  // the stopped daemon saw nothing
  node(1).start();
  const Failures f1 = node(1).reconcile(true);
  EXPECT_TRUE(f1.empty()) << failures_text(f1);
  EXPECT_FALSE(has_overlay(1));
  EXPECT_TRUE(links_of(b).empty());
}

TEST_F(OverlayKernelTest, EgressGivesAContainerNatToTheUnderlay) {
  auto [a, b] = two_nodes_one_container_each({{"egress", "true"}});

  // gw0 on trlgw0, default route via the egress gateway; the overlay still works.
  auto links = links_of(a);
  ASSERT_EQ(links.size(), 2u);
  std::set<std::string> names;
  for (const auto& l : links) names.insert(l.name);
  EXPECT_EQ(names, (std::set<std::string>{"eth0", "gw0"}));
  {
    osl::NetlinkSocket sock(ns_of(a));
    auto r = osl::default_route(sock, AF_INET);
    ASSERT_TRUE(r && r->gateway);
    EXPECT_EQ(r->gateway->to_string(), std::string(kEgressGateway));
    EXPECT_EQ(r->link, "gw0");
  }
  EXPECT_TRUE(pings(ns_of(a), b.ip()));
  // The underlay's gateway (in the test namespace) is reached through NAT on the host.
  EXPECT_TRUE(pings(ns_of(a), Testbed::underlay_gateway().to_string()));
  EXPECT_TRUE(pings(ns_of(b), Testbed::underlay_gateway().to_string()));

  // A restart adopts the egress interface.
  const int ifindex = [&] {
    for (const auto& l : links_of(a))
      if (l.name == "gw0") return l.index;
    return 0;
  }();
  node(0).start();
  EXPECT_TRUE(node(0).reconcile(true).empty());
  for (const auto& l : links_of(a)) {
    if (l.name == "gw0") {
      EXPECT_EQ(l.index, ifindex);
    }
  }
  EXPECT_TRUE(pings(ns_of(a), Testbed::underlay_gateway().to_string()));

  // Without egress (a network without the option on a node without the default), no gw0.
  create_network("net2", {}, kVni + 1, "10.43.0.0/24");
  Ctr c = add_container(0, "net2");
  reconcile_all();
  names.clear();
  for (const auto& l : links_of(c)) names.insert(l.name);
  EXPECT_EQ(names, (std::set<std::string>{"eth0"}));
  EXPECT_TRUE(ping_fails(ns_of(c), Testbed::underlay_gateway().to_string()));
}

}  // namespace
}  // namespace trellis::node
