// The kernel reconciler's logic against an in-memory kernel: what it creates for bridge
// networks, sandboxes and joins, interface naming, default routes, files, nftables, and how
// it adopts and cleans up after a restart.

#include "node/dataplane/kernel_reconciler.h"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <optional>

#include "node/control/controller.h"
#include "node/dataplane/names.h"
#include "node/dataplane/sandbox_files.h"
#include "node/drivers/overlay/overlay_programmer.h"
#include "node/drivers/registry.h"
#include "node/model/state_cache.h"
#include "overlay/overlay_network.h"
#include "overlay/space_planner.h"
#include "tests/node/fakes/fake_netops.h"
#include "tests/node/support/temp_dir.h"

namespace trellis::node {
namespace {

using testing::FakeNetOps;
using testing::TempDir;

class ReconcilerTest : public ::testing::Test {
 protected:
  ReconcilerTest() {
    store::Options o;
    o.durable = false;
    store_.emplace(store::Store::open(dir_ / "data", o));
    node_ = store_->identity().id;
    write_in_place(dir_ / "resolv.conf", "nameserver 127.0.0.53\nnameserver 192.0.2.53\n");
    restart();
  }

  // A new reconciler and controller over the same store and kernel (a daemon restart).
  void restart() {
    controller_.reset();
    KernelReconcilerOptions o;
    o.run_dir = dir_ / "run";
    o.node = node_;
    o.resolv_conf = dir_ / "resolv.conf";
    o.apply_nft = [this](const std::string& script) {
      if (nft_fails_) throw InternalError("nft: the kernel refused the ruleset");
      ++nft_applies_;
      nft_ = script;
    };
    DataPlaneOptions d;
    d.run_dir = o.run_dir;
    d.node = node_;
    reconciler_ =
        std::make_unique<KernelReconciler>(ops_, o, DriverRegistry::builtin().make_planes(ops_, d));
    ControllerOptions co;
    co.run_dir = dir_ / "run";
    controller_.emplace(*store_, *reconciler_, co);
    controller_->start();
    ASSERT_TRUE(controller_->failures().empty()) << controller_->failures().begin()->second.message;
  }

  Controller& c() { return *controller_; }
  std::string bridge(const std::string& name, const std::string& subnet, bool internal = false,
                     std::map<std::string, std::string> options = {}) {
    NetworkRequest r;
    r.name = name;
    r.internal = internal;
    r.options = std::move(options);
    r.ipam.pools.push_back({subnet, "", "", {}});
    return c().create_network(r).spec.id;
  }
  // A sandbox joined to endpoints named after it on the given networks.
  std::string container(const std::string& name, const std::vector<std::string>& networks,
                        std::vector<store::PortBinding> ports = {}) {
    SandboxRequest s;
    s.name = name;
    const std::string id = c().create_sandbox(s).spec.id;
    for (const auto& net : networks) {
      EndpointRequest e;
      e.network = net;
      e.name = name;
      e.ports = ports;
      ports.clear();
      const std::string ep = c().create_endpoint(e).spec.id;
      c().join(ep, "", id);
    }
    return id;
  }
  std::string ns(const std::string& sandbox) { return dir_ / ("run/netns/" + sandbox); }
  std::string ep_id(const std::string& name, const std::string& network) {
    return c().endpoint(name, network).spec.id;
  }

  TempDir dir_;
  std::optional<store::Store> store_;
  store::NodeId node_ = 0;
  FakeNetOps ops_;
  std::unique_ptr<KernelReconciler> reconciler_;
  std::optional<Controller> controller_;
  int nft_applies_ = 0;
  bool nft_fails_ = false;  // apply_nft throws while set
  std::string nft_;
};

TEST_F(ReconcilerTest, BridgeNetworkGetsABridgeWithTheGateway) {
  const std::string id = bridge("net1", "192.0.2.0/26");
  const LinkInfo& b = ops_.get("", bridge_name(id));
  EXPECT_EQ(b.kind, "bridge");
  EXPECT_EQ(b.alias, object_alias(node_, "net", id));
  EXPECT_TRUE(b.up);
  EXPECT_EQ(b.mac, "02:42:c0:00:02:01");
  EXPECT_EQ(b.addresses, std::vector<std::string>{"192.0.2.1/26"});
  EXPECT_EQ(ops_.sysctls.at(":net/ipv4/ip_forward"), "1");
  EXPECT_EQ(ops_.sysctls.at(":net/ipv4/conf/" + bridge_name(id) + "/route_localnet"), "1");
  EXPECT_NE(nft_.find("ip saddr 192.0.2.0/26 oifname != \"" + bridge_name(id) + "\" masquerade"),
            std::string::npos);
  c().remove_network("net1");
  EXPECT_FALSE(ops_.link("", bridge_name(id)));
  // The table stays, empty of rules but naming its owner, so another daemon started in this
  // namespace finds it taken.
  EXPECT_EQ(nft_.find("masquerade"), std::string::npos);
  EXPECT_NE(nft_.find("comment \"trellis node " + store::format_node_id(node_) + "\""),
            std::string::npos);
}

TEST_F(ReconcilerTest, JoinCreatesEth0WithAddressMacAndDefaultRoute) {
  const std::string net = bridge("net1", "192.0.2.0/26");
  const std::string sb = container("web", {"net1"});
  const std::string ep = ep_id("web", "net1");
  const LinkInfo& eth0 = ops_.get(ns(sb), "eth0");
  EXPECT_EQ(eth0.addresses, std::vector<std::string>{"192.0.2.2/26"});
  EXPECT_EQ(eth0.mac, "02:42:c0:00:02:02");
  EXPECT_TRUE(eth0.up);
  const LinkInfo& host = ops_.get("", veth_host_name(ep));
  EXPECT_EQ(host.master, bridge_name(net));
  EXPECT_TRUE(host.up);
  EXPECT_EQ(ops_.at(ns(sb)).route, std::make_pair(std::string("192.0.2.1"), std::string("eth0")));
  EXPECT_EQ(c().endpoint_runtime(ep)->interface, "eth0");
  const std::string hosts = read_file(dir_ / ("run/sandboxes/" + sb + "/hosts"));
  EXPECT_NE(hosts.find("192.0.2.2\tweb\n"), std::string::npos);
  const std::string resolv = read_file(dir_ / ("run/sandboxes/" + sb + "/resolv.conf"));
  EXPECT_NE(resolv.find("nameserver 192.0.2.53"), std::string::npos);
  EXPECT_EQ(resolv.find("127.0.0.53"), std::string::npos);
}

TEST_F(ReconcilerTest, SecondNetworkIsEth1AndTheRouteFollowsTheFirstJoin) {
  bridge("a", "192.0.2.0/26");
  bridge("b", "192.0.2.64/26");
  bridge("internal", "192.0.2.128/26", true);
  const std::string sb = container("box", {"internal", "b", "a"});
  EXPECT_TRUE(ops_.link(ns(sb), "eth0"));
  EXPECT_EQ(ops_.get(ns(sb), "eth1").addresses[0], "192.0.2.66/26");
  EXPECT_EQ(ops_.get(ns(sb), "eth2").addresses[0], "192.0.2.2/26");
  // The internal network gives no route: the first non-internal join (b) does.
  EXPECT_EQ(ops_.at(ns(sb)).route->second, "eth1");
  c().leave(ep_id("box", "b"), "", "");
  EXPECT_FALSE(ops_.link(ns(sb), "eth1"));
  EXPECT_EQ(ops_.at(ns(sb)).route, std::make_pair(std::string("192.0.2.1"), std::string("eth2")));
  // The freed name is reused.
  c().join(ep_id("box", "b"), "", sb);
  EXPECT_EQ(ops_.get(ns(sb), "eth1").addresses[0], "192.0.2.66/26");
  EXPECT_EQ(ops_.at(ns(sb)).route->second, "eth2");
}

TEST_F(ReconcilerTest, InternalNetworkHasNoRouteAndNoMasquerade) {
  const std::string net = bridge("int", "192.0.2.0/26", true);
  const std::string sb = container("box", {"int"});
  EXPECT_FALSE(ops_.at(ns(sb)).route);
  EXPECT_EQ(nft_.find("masquerade\n    oifname \"" + bridge_name(net) + "\" ip saddr 127"),
            std::string::npos);
  EXPECT_NE(nft_.find("iifname \"" + bridge_name(net) + "\" oifname != \"" + bridge_name(net) +
                      "\" drop"),
            std::string::npos);
}

TEST_F(ReconcilerTest, PublishedPortsAndIccReachNftablesOnlyWhenChanged) {
  bridge("net1", "192.0.2.0/26", false, {{"icc", "false"}});
  EXPECT_EQ(ops_.sysctls.at(":net/bridge/bridge-nf-call-iptables"), "1");
  const int before = nft_applies_;
  container("plain", {"net1"});
  EXPECT_EQ(nft_applies_, before);  // no ports: same table
  container("web", {"net1"}, {{"tcp", 80, 8080, ""}});
  EXPECT_EQ(nft_applies_, before + 1);
  EXPECT_NE(nft_.find("tcp dport 8080 dnat ip to 192.0.2.3:80"), std::string::npos);
  c().remove_sandbox("web");
  EXPECT_EQ(nft_.find("dport 8080"), std::string::npos);
}

TEST_F(ReconcilerTest, RestartAdoptsEverythingWithoutChanges) {
  bridge("a", "192.0.2.0/26");
  bridge("b", "192.0.2.64/26");
  for (int i = 0; i < 5; ++i) container("c" + std::to_string(i), {"a", "b"});
  const auto kernel_before = ops_.namespaces;
  ops_.calls.clear();
  restart();
  EXPECT_EQ(ops_.calls["create_bridge"], 0);
  EXPECT_EQ(ops_.calls["create_veth"], 0);
  EXPECT_EQ(ops_.calls["create_netns"], 0);
  EXPECT_EQ(ops_.calls["delete_link"], 0);
  EXPECT_EQ(ops_.calls["set_default_route"], 0);
  EXPECT_EQ(ops_.namespaces.size(), kernel_before.size());
  // New containers after the restart get fresh names and addresses.
  const std::string sb = container("new", {"a"});
  EXPECT_EQ(ops_.get(ns(sb), "eth0").addresses[0], "192.0.2.7/26");
}

TEST_F(ReconcilerTest, RestartRemovesWhatStateDoesNotKnowAndKeepsOthers) {
  const std::string net = bridge("a", "192.0.2.0/26");
  const std::string sb = container("box", {"a"});
  // Leftovers of a crashed run, and objects that are not ours.
  ops_.add("", LinkInfo{"trlbdeadbeef000",
                        "bridge",
                        object_alias(node_, "net", "deadbeef"),
                        "",
                        "",
                        1500,
                        true,
                        {}});
  // Half-made before a crash (not yet labelled), named after an endpoint of the state.
  EndpointRequest spare;
  spare.network = "a";
  spare.name = "spare";
  const std::string spare_link = veth_host_name(c().create_endpoint(spare).spec.id);
  ops_.add("", LinkInfo{spare_link, "veth", "", "", "", 1500, false, {}});
  // Unlabelled and named after nothing of ours: possibly another daemon's, being created.
  ops_.add("", LinkInfo{"trlvforeign0000", "veth", "", "", "", 1500, false, {}});
  ops_.add("", LinkInfo{"trlbothernode00",
                        "bridge",
                        object_alias(node_ + 1, "net", "x"),
                        "",
                        "",
                        1500,
                        true,
                        {}});
  ops_.add("", LinkInfo{"eth0", "veth", "", "", "", 1500, true, {}});
  ops_.create_netns(dir_ / "run/netns/0123456789abcdef0123456789abcdef");
  // A kernel object of the state that vanished.
  ops_.delete_link("", veth_host_name(ep_id("box", "a")));
  restart();
  EXPECT_FALSE(ops_.link("", "trlbdeadbeef000"));
  EXPECT_FALSE(ops_.link("", spare_link));
  EXPECT_TRUE(ops_.link("", "trlvforeign0000"));
  EXPECT_TRUE(ops_.link("", "trlbothernode00"));
  EXPECT_TRUE(ops_.link("", "eth0"));
  EXPECT_FALSE(ops_.is_netns(dir_ / "run/netns/0123456789abcdef0123456789abcdef"));
  EXPECT_TRUE(ops_.link("", bridge_name(net)));
  // The vanished interface is back, with its route.
  EXPECT_EQ(ops_.get(ns(sb), "eth0").addresses[0], "192.0.2.2/26");
  EXPECT_EQ(ops_.at(ns(sb)).route->second, "eth0");
}

TEST_F(ReconcilerTest, SandboxFilesFollowJoinAndLeaveInPlace) {
  bridge("a", "192.0.2.0/26");
  bridge("b", "192.0.2.64/26");
  SandboxRequest r;
  r.name = "box";
  r.domain = "example.org";
  r.dns_search = {"example.org"};
  r.extra_hosts = {{"db", "192.0.2.9"}};
  const std::string sb = c().create_sandbox(r).spec.id;
  const std::string hosts_path = dir_ / ("run/sandboxes/" + sb + "/hosts");
  EXPECT_EQ(read_file(hosts_path).find("\tbox"), std::string::npos);  // no address yet
  EXPECT_NE(read_file(hosts_path).find("192.0.2.9\tdb\n"), std::string::npos);
  struct stat before {};
  ASSERT_EQ(::stat(hosts_path.c_str(), &before), 0);

  EndpointRequest e;
  e.name = "box";
  e.network = "a";
  c().join(c().create_endpoint(e).spec.id, "", sb);
  e.network = "b";
  c().join(c().create_endpoint(e).spec.id, "", sb);
  std::string hosts = read_file(hosts_path);
  EXPECT_NE(hosts.find("192.0.2.2\tbox.example.org box\n"), std::string::npos) << hosts;
  EXPECT_NE(hosts.find("192.0.2.66\tbox.example.org box\n"), std::string::npos) << hosts;

  c().leave(ep_id("box", "a"), "", "");
  hosts = read_file(hosts_path);
  EXPECT_EQ(hosts.find("192.0.2.2\t"), std::string::npos) << hosts;
  EXPECT_NE(hosts.find("192.0.2.66\tbox.example.org box\n"), std::string::npos) << hosts;
  // Rewritten in place: a bind mount of the file in a running container sees the change.
  struct stat after {};
  ASSERT_EQ(::stat(hosts_path.c_str(), &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino);
  const std::string resolv = read_file(dir_ / ("run/sandboxes/" + sb + "/resolv.conf"));
  EXPECT_NE(resolv.find("search example.org\n"), std::string::npos) << resolv;
  EXPECT_EQ(read_file(dir_ / ("run/sandboxes/" + sb + "/hostname")), "box\n");
}

TEST_F(ReconcilerTest, MtuReachesBridgeAndBothVethEnds) {
  NetworkRequest r;
  r.name = "small";
  r.mtu = 1400;
  r.ipam.pools.push_back({"192.0.2.0/26", "", "", {}});
  const std::string net = c().create_network(r).spec.id;
  EXPECT_EQ(ops_.get("", bridge_name(net)).mtu, 1400u);
  const std::string sb = container("box", {"small"});
  EXPECT_EQ(ops_.get(ns(sb), "eth0").mtu, 1400u);
  EXPECT_EQ(ops_.get("", veth_host_name(ep_id("box", "small"))).mtu, 1400u);
}

TEST_F(ReconcilerTest, SandboxRemovalRemovesNamespaceInterfacesAndFiles) {
  bridge("a", "192.0.2.0/26");
  const std::string sb = container("box", {"a"});
  const std::string ep = ep_id("box", "a");
  c().remove_sandbox("box");
  EXPECT_FALSE(ops_.is_netns(ns(sb)));
  EXPECT_FALSE(ops_.link("", veth_host_name(ep)));
  EXPECT_FALSE(std::filesystem::exists(dir_ / ("run/sandboxes/" + sb)));
  c().remove_network("a");
}

// A failed nftables apply stays a failure until nftables is applied again: a later pass that
// does not render the ruleset (a sandbox-only change) must not forget it, or retry_failed()
// never re-applies it and the rules stay missing.
TEST_F(ReconcilerTest, NftablesFailureSurvivesAPassThatDidNotApplyNftables) {
  const int applied = nft_applies_;  // the start-up's
  nft_fails_ = true;
  const std::string id = bridge("net1", "192.0.2.0/26");  // the bridge is fine, its rules not
  ASSERT_EQ(c().failures().size(), 1u);
  EXPECT_TRUE(c().failures().count(ObjectRef::nftables()));
  SandboxRequest s;
  s.name = "lonely";
  c().create_sandbox(s);  // touches no network and no endpoint: nftables is not rendered
  ASSERT_EQ(c().failures().size(), 1u) << "the nftables failure was forgotten";
  EXPECT_EQ(nft_applies_, applied);
  nft_fails_ = false;
  c().retry_failed();
  EXPECT_TRUE(c().failures().empty());
  EXPECT_EQ(nft_applies_, applied + 1);
  EXPECT_NE(nft_.find(bridge_name(id)), std::string::npos);
}

TEST_F(ReconcilerTest, HostAndNullNetworksProgramNoInterfaces) {
  NetworkRequest h;
  h.name = "host";
  h.driver = "host";
  c().create_network(h);
  const std::string sb = container("box", {"host"});
  EXPECT_EQ(ops_.at(ns(sb)).links.size(), 1u);  // lo only
  EXPECT_TRUE(c().host_mode(sb));
  EXPECT_EQ(ops_.calls["create_veth"], 0);
}

// ---- overlay networks, against an in-memory overlay host ---------------------------------------

// What the fake "kernel" of overlay namespaces holds; it outlives programmer objects, as the
// kernel outlives a daemon.
struct FakeOverlayKernel {
  struct Attached {
    std::string ns, ifname;
  };
  std::map<uint32_t, std::map<std::string, Attached>> networks;  // vni -> endpoint prefix -> ...
  std::map<uint32_t, overlay::NetworkPeers> peers;
  std::vector<overlay::OverlaySpec> attach_specs;
  int attaches = 0;
};

class FakeOverlay : public OverlayProgrammer {
 public:
  FakeOverlay(FakeOverlayKernel& k, FakeNetOps& ops, overlay::HostOptions o)
      : k_(k), ops_(ops), options_(std::move(o)) {}
  const overlay::HostOptions& options() const override { return options_; }
  overlay::ReconcileResult reconcile(const overlay::OverlaySpec& spec,
                                     const overlay::NetworkPeers& peers) override {
    overlay::ReconcileResult r;
    if (!peers.instantiate()) {
      r.removed = remove_network(spec.vni);
      return r;
    }
    r.created = !k_.networks.count(spec.vni);
    k_.networks[spec.vni];
    k_.peers[spec.vni] = peers;
    r.instantiated = true;
    return r;
  }
  bool remove_network(uint32_t vni) override {
    auto it = k_.networks.find(vni);
    if (it == k_.networks.end()) return false;
    for (const auto& [prefix, a] : it->second) ops_.delete_link(a.ns, a.ifname);
    k_.networks.erase(it);
    k_.peers.erase(vni);
    return true;
  }
  std::vector<uint32_t> remove_others(const std::set<uint32_t>& keep) override {
    std::vector<uint32_t> out;
    for (uint32_t vni : networks()) {
      if (!keep.count(vni)) {
        remove_network(vni);
        out.push_back(vni);
      }
    }
    return out;
  }
  std::vector<uint32_t> networks() override {
    std::vector<uint32_t> out;
    for (const auto& [vni, n] : k_.networks) out.push_back(vni);
    return out;
  }
  bool attach(const overlay::OverlaySpec& spec, const std::string& endpoint_id,
              const std::string& netns_path, const std::string& ifname, const std::string& mac,
              const ipam::InterfaceAddress& address) override {
    auto& net = k_.networks.at(spec.vni);
    const std::string prefix = endpoint_id.substr(0, 11);
    if (net.count(prefix)) return false;
    ++k_.attaches;
    k_.attach_specs.push_back(spec);
    ops_.at(netns_path).links[ifname] =
        LinkInfo{ifname, "veth", "", "", mac, 1450, true, {address.to_string()}};
    net[prefix] = {netns_path, ifname};
    return true;
  }
  bool detach(uint32_t vni, const std::string& endpoint_id) override {
    auto n = k_.networks.find(vni);
    if (n == k_.networks.end()) return false;
    auto it = n->second.find(endpoint_id.substr(0, 11));
    if (it == n->second.end()) return false;
    if (!it->second.ns.empty() && ops_.is_netns(it->second.ns))
      ops_.delete_link(it->second.ns, it->second.ifname);
    n->second.erase(it);
    return true;
  }
  std::vector<std::string> attached(uint32_t vni) override {
    std::vector<std::string> out;
    for (const auto& [prefix, a] : k_.networks.at(vni)) out.push_back(prefix);
    return out;
  }

 private:
  FakeOverlayKernel& k_;
  FakeNetOps& ops_;
  overlay::HostOptions options_;
};

constexpr store::NodeId kSelf = 0x100;
constexpr store::NodeId kPeer = 0x200;

class OverlayReconcilerTest : public ::testing::Test {
 protected:
  OverlayReconcilerTest() {
    store::Options o;
    o.durable = false;
    o.node_id = kSelf;
    o.node_name = "n1";
    store_.emplace(store::Store::open(dir_ / "data", o));
    store_->append_local(store::NodeAnnounced{"n1", "192.0.2.11"});
    store_->append_local(
        store::SpaceInitialised{std::string(store::kVniSpace), store::kVniFirst, store::kVniLast});
    cache_.emplace(*store_, kSelf);
    cache_->load_all();
    store_->set_change_listener([this](const store::ChangeSet& c) {
      cache_->apply(c);
      pending_.merge(c);
    });
    restart();
  }
  ~OverlayReconcilerTest() override { store_->set_change_listener(nullptr); }

  void restart(bool egress_default = false) {
    KernelReconcilerOptions o;
    o.run_dir = dir_ / "run";
    o.node = kSelf;
    o.resolv_conf = "/dev/null";
    o.apply_nft = [this](const std::string& script) { nft_ = script; };
    DataPlaneOptions d;
    d.run_dir = o.run_dir;
    d.node = kSelf;
    d.egress_default = egress_default;
    d.make_overlay = [this](const overlay::HostOptions& h) {
      host_options_ = h;
      return std::make_unique<FakeOverlay>(kernel_, ops_, h);
    };
    reconciler_ =
        std::make_unique<KernelReconciler>(ops_, o, DriverRegistry::builtin().make_planes(ops_, d));
    pending_.all = true;
    pass();
  }

  // One reconcile pass over what changed since the last one; no failures expected.
  void pass() {
    Dirty d = std::move(pending_);
    pending_ = Dirty{};
    const Failures f = reconciler_->reconcile(*cache_, d).failures;
    for (const auto& [k, v] : f) ADD_FAILURE() << k.to_string() << ": " << v.message;
  }

  // An overlay network 10.<vni % 256>.0.0/24 (gateway .1).
  void network(const std::string& id, uint32_t vni,
               std::map<std::string, std::string> options = {}) {
    const std::string base = "10." + std::to_string(vni % 256) + ".0.";
    bases_[id] = base;
    store::NetworkCreated n;
    n.id = id;
    n.name = id;
    n.driver = "overlay";
    n.cluster_scope = true;
    n.options = std::move(options);
    n.ipam.pools = {{base + "0/24", "", base + "1", {}}};
    n.ipam_result.pools = {{base + "0/24", base + "1"}};
    n.ipam_result.vni = vni;
    store_->append_local(n);
  }
  // A sandbox joined to a new endpoint of `network` with address <base>.<host>.
  std::string container(const std::string& name, const std::string& network, int host) {
    const std::string ep = "e" + name + "0000000000000000";
    store::EndpointCreated e;
    e.endpoint.id = ep;
    e.endpoint.network = network;
    e.endpoint.name = name;
    e.endpoint.mac = "02:42:0a:09:00:" + std::to_string(10 + host);
    e.endpoint.addresses = {bases_[network] + std::to_string(host) + "/24"};
    store_->append_local(e);
    store::SandboxCreated sb;
    sb.id = "s" + name + "0000000000000000";
    store_->append_local(sb);
    store_->append_local(store::EndpointJoined{ep, sb.id});
    pass();
    return sb.id;
  }
  void remove_container(const std::string& name) {
    const std::string ep = "e" + name + "0000000000000000";
    const std::string sb = "s" + name + "0000000000000000";
    store_->append_local(store::EndpointLeft{ep, sb});
    store_->append_local(store::EndpointRemoved{ep});
    store_->append_local(store::SandboxRemoved{sb});
    pass();
  }
  std::string ns(const std::string& sandbox) { return dir_ / ("run/netns/" + sandbox); }

  TempDir dir_;
  std::optional<store::Store> store_;
  std::optional<StateCache> cache_;
  Dirty pending_;
  FakeNetOps ops_;
  FakeOverlayKernel kernel_;
  overlay::HostOptions host_options_;
  std::unique_ptr<KernelReconciler> reconciler_;
  std::string nft_;
  std::map<std::string, std::string> bases_;
};

TEST_F(OverlayReconcilerTest, JoinAttachesEth0AndTheReconcilerOwnsTheDefaultRoute) {
  network("ov", 5000);
  const std::string sb = container("a", "ov", 5);
  EXPECT_EQ(host_options_.advertise.to_string(), "192.0.2.11");
  EXPECT_EQ(host_options_.netns_dir, dir_ / "run/netns");
  ASSERT_EQ(kernel_.attach_specs.size(), 1u);
  EXPECT_TRUE(kernel_.attach_specs[0].internal);  // attach itself sets no route
  EXPECT_EQ(ops_.get(ns(sb), "eth0").alias,
            "trellis/" + store::format_node_id(kSelf) + "/ep/ea0000000000000000");
  EXPECT_EQ(ops_.at(ns(sb)).route, std::make_pair(std::string("10.136.0.1"), std::string("eth0")));
  EXPECT_EQ(reconciler_->endpoint_runtime("ea0000000000000000")->interface, "eth0");
  EXPECT_FALSE(ops_.link("", std::string(kEgressBridge)));

  // A restart adopts the interface (no second attach) and the last endpoint's removal tears
  // the network down.
  restart();
  EXPECT_EQ(kernel_.attaches, 1);
  EXPECT_TRUE(ops_.link(ns(sb), "eth0"));
  remove_container("a");
  EXPECT_TRUE(kernel_.networks.empty());
}

TEST_F(OverlayReconcilerTest, NodeChangesMakeEveryOverlayNetworkDirty) {
  Dirty d;
  store::ChangeSet c;
  c.nodes = {kPeer};
  d.merge(c);
  EXPECT_TRUE(d.overlays);
  EXPECT_FALSE(d.empty());
  Dirty e;
  e.merge(d);
  EXPECT_TRUE(e.overlays);
}

// Whatever gossip says of their node (the reconciler does not even hear it), remote endpoints
// are programmed until the node is removed.
TEST_F(OverlayReconcilerTest, RemoteEndpointsArePeersUntilTheirNodeIsRemoved) {
  network("ov", 5000);
  container("a", "ov", 5);
  // An endpoint of node kPeer, authored in its own store with an address donated by us.
  store::Options o;
  o.durable = false;
  o.node_id = kPeer;
  o.node_name = "n2";
  store::Store peer = store::Store::open(dir_ / "peer", o);
  peer.append_local(store::NodeAnnounced{"n2", "192.0.2.12"});
  const store::NetworkInfo net = *store_->read().network("ov");
  const auto space = store_->read().space(store::network_space_key("ov", 0));
  const auto donation = overlay::plan_address_donation(net, 0, space->space, kSelf, kPeer, 8);
  ASSERT_TRUE(donation);
  store_->append_local(*donation);
  peer.apply_remote(store_->events_after(kSelf, 0, 1000));
  const auto pick = overlay::pick_address(peer.read(), "ov", 0, overlay::Membership{kPeer, {}});
  ASSERT_TRUE(pick.value);
  store::EndpointCreated e;
  e.endpoint.id = "eremote0000000000";
  e.endpoint.network = "ov";
  e.endpoint.name = "remote";
  e.endpoint.mac = "02:42:0a:09:00:99";
  e.endpoint.addresses = {ipam::Prefix::parse("10.136.0.0/24").address_at(*pick.value).to_string() +
                          "/24"};
  peer.append_local(e);
  store_->apply_remote(peer.events_after(kPeer, 0, 1000));
  pass();
  ASSERT_EQ(kernel_.peers[5000].peers.size(), 1u);
  EXPECT_EQ(kernel_.peers[5000].peers[0].vtep.to_string(), "192.0.2.12");
  EXPECT_EQ(kernel_.peers[5000].peers[0].mac, "02:42:0a:09:00:99");
  EXPECT_TRUE(kernel_.peers[5000].withdrawn.empty());

  // `node rm` of kPeer (here by this node): its endpoint leaves the state and the peer goes.
  store_->append_local(store::NodeRemoved{kPeer, store_->version_vector().at(kPeer)});
  pass();
  EXPECT_TRUE(kernel_.peers[5000].peers.empty());
}

TEST_F(OverlayReconcilerTest, EgressAddsGw0OnTrlgw0WithNatAndTheDefaultRoute) {
  network("ov", 5000, {{"egress", "true"}});
  const std::string a = container("a", "ov", 5);
  const std::string b = container("b", "ov", 6);
  const std::string bridge(kEgressBridge);
  EXPECT_EQ(ops_.get("", bridge).addresses, std::vector<std::string>{"172.16.0.1/16"});
  EXPECT_TRUE(ops_.get("", bridge).up);
  EXPECT_EQ(ops_.get(ns(a), "gw0").addresses, std::vector<std::string>{"172.16.0.2/16"});
  EXPECT_EQ(ops_.get(ns(b), "gw0").addresses, std::vector<std::string>{"172.16.0.3/16"});
  EXPECT_EQ(ops_.get("", "trlg" + a.substr(0, 11)).master, bridge);
  EXPECT_EQ(ops_.at(ns(a)).route, std::make_pair(std::string("172.16.0.1"), std::string("gw0")));
  EXPECT_NE(nft_.find("ip saddr 172.16.0.0/16 oifname != \"trlgw0\" masquerade"), std::string::npos)
      << nft_;

  // A restart adopts the egress interfaces (no new veth) and rebuilds the allocator from them.
  const int veths = ops_.calls["create_veth"];
  restart();
  EXPECT_EQ(ops_.calls["create_veth"], veths);
  EXPECT_EQ(kernel_.attaches, 2);
  const std::string c = container("c", "ov", 7);
  EXPECT_EQ(ops_.get(ns(c), "gw0").addresses, std::vector<std::string>{"172.16.0.4/16"});

  // The last user gone: the bridge and its NAT rule go.
  remove_container("a");
  remove_container("b");
  EXPECT_TRUE(ops_.link("", bridge));
  remove_container("c");
  EXPECT_FALSE(ops_.link("", bridge));
  EXPECT_EQ(nft_.find("172.16.0.0/16"), std::string::npos);
}

TEST_F(OverlayReconcilerTest, EgressFollowsTheNodeDefaultUnlessTheNetworkOptsOut) {
  restart(/*egress_default=*/true);
  network("ov", 5000);
  network("quiet", 5001, {{"egress", "false"}});
  const std::string a = container("a", "ov", 5);
  const std::string b = container("b", "quiet", 6);
  EXPECT_TRUE(ops_.link(ns(a), "gw0"));
  EXPECT_FALSE(ops_.link(ns(b), "gw0"));
  EXPECT_EQ(ops_.at(ns(b)).route, std::make_pair(std::string("10.137.0.1"), std::string("eth0")));
}

TEST_F(OverlayReconcilerTest, WithoutAnOverlayProgrammerOverlayJoinsFailClearly) {
  KernelReconcilerOptions o;
  o.run_dir = dir_ / "run2";
  o.node = kSelf;
  o.resolv_conf = "/dev/null";
  o.apply_nft = [](const std::string&) {};
  DataPlaneOptions d;  // no make_overlay
  d.run_dir = o.run_dir;
  d.node = kSelf;
  KernelReconciler bare(ops_, o, DriverRegistry::builtin().make_planes(ops_, d));
  network("ov", 5000);
  store::EndpointCreated e;
  e.endpoint.id = "ex0000000000000000";
  e.endpoint.network = "ov";
  e.endpoint.addresses = {"10.136.0.9/24"};
  store_->append_local(e);
  Dirty all;
  all.all = true;
  const Failures f = bare.reconcile(*cache_, all).failures;
  ASSERT_TRUE(f.count(ObjectRef::network("ov")));
  EXPECT_EQ(f.at(ObjectRef::network("ov")).kind, ErrorKind::kUnavailable);
  EXPECT_NE(f.at(ObjectRef::network("ov")).message.find("not available"), std::string::npos);
}

}  // namespace
}  // namespace trellis::node
