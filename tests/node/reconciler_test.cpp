// The kernel reconciler's logic against an in-memory kernel: what it creates for bridge
// networks, sandboxes and joins, interface naming, default routes, files, nftables, and how
// it adopts and cleans up after a restart.

#include "node/kernel_reconciler.h"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <optional>

#include "fake_netops.h"
#include "node/controller.h"
#include "node/naming.h"
#include "node/sandbox_files.h"
#include "temp_dir.h"

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
      ++nft_applies_;
      nft_ = script;
    };
    reconciler_ = std::make_unique<KernelReconciler>(ops_, o);
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
  EXPECT_NE(nft_.find("delete table inet trellis"), std::string::npos);
  EXPECT_EQ(nft_.find("chain"), std::string::npos);
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

}  // namespace
}  // namespace trellis::node
