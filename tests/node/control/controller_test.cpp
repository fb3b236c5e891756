// The controller's CNM rules against a real store and a fake reconciler (no kernel).

#include "node/control/controller.h"

#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <set>

#include "ipam/ip.h"
#include "tests/node/fakes/fake_reconciler.h"
#include "tests/node/support/temp_dir.h"

namespace trellis::node {
namespace {

using testing::FakeReconciler;
using testing::TempDir;

store::Options fast_options() {
  store::Options o;
  o.durable = false;
  o.node_name = "test";
  return o;
}

class ControllerTest : public ::testing::Test {
 protected:
  ControllerTest() { open(); }

  void open(std::function<void()> schedule_reconcile = {}) {
    controller_.reset();
    store_.reset();
    store_.emplace(store::Store::open(dir_ / "data", fast_options()));
    ControllerOptions options;
    options.run_dir = dir_ / "run";
    options.dynamic_port_first = 40000;
    options.dynamic_port_last = 40002;
    options.schedule_reconcile = std::move(schedule_reconcile);
    controller_.emplace(*store_, reconciler_, options);
    controller_->start();
  }

  Controller& c() { return *controller_; }

  store::NetworkInfo bridge(const std::string& name, const std::string& subnet,
                            const std::string& ip_range = "") {
    NetworkRequest r;
    r.name = name;
    r.driver = "bridge";
    if (!subnet.empty()) r.ipam.pools.push_back({subnet, ip_range, "", {}});
    return c().create_network(r);
  }
  store::EndpointInfo endpoint(const std::string& network, const std::string& name,
                               const std::string& ip = "") {
    EndpointRequest r;
    r.network = network;
    r.name = name;
    r.ip = ip;
    return c().create_endpoint(r);
  }
  store::SandboxInfo sandbox(const std::string& name) {
    SandboxRequest r;
    r.name = name;
    return c().create_sandbox(r);
  }

  TempDir dir_;
  FakeReconciler reconciler_;
  std::optional<store::Store> store_;
  std::optional<Controller> controller_;
};

TEST_F(ControllerTest, CreatesBridgeNetworkWithFirstHostAsGateway) {
  const auto n = bridge("net1", "192.0.2.0/26");
  EXPECT_EQ(n.spec.driver, "bridge");
  ASSERT_EQ(n.spec.ipam_result.pools.size(), 1u);
  EXPECT_EQ(n.spec.ipam_result.pools[0].subnet, "192.0.2.0/26");
  EXPECT_EQ(n.spec.ipam_result.pools[0].gateway, "192.0.2.1");
  EXPECT_EQ(c().network("net1").spec.id, n.spec.id);
  EXPECT_EQ(c().network(n.spec.id.substr(0, 6)).spec.id, n.spec.id);
  EXPECT_FALSE(reconciler_.calls.empty());
  EXPECT_TRUE(reconciler_.calls.back().networks.count(n.spec.id));
}

TEST_F(ControllerTest, PicksDefaultSubnetsThatDoNotOverlap) {
  const auto a = bridge("a", "");
  const auto b = bridge("b", "");
  const auto pa = ipam::Prefix::parse(a.spec.ipam_result.pools[0].subnet);
  const auto pb = ipam::Prefix::parse(b.spec.ipam_result.pools[0].subnet);
  EXPECT_FALSE(pa.overlaps(pb));
}

TEST_F(ControllerTest, RejectsDuplicateNetworkName) {
  bridge("net1", "192.0.2.0/26");
  try {
    bridge("net1", "192.0.2.64/26");
    FAIL() << "expected a conflict";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kConflict);
    EXPECT_NE(std::string(e.what()).find("net1"), std::string::npos);
  }
}

TEST_F(ControllerTest, RejectsInvalidCidrAndBadGateway) {
  EXPECT_THROW(bridge("x", "192.0.2.0/33"), InvalidArgumentError);
  EXPECT_THROW(bridge("x", "192.0.2.1/24"), InvalidArgumentError);  // host bits set
  EXPECT_THROW(bridge("x", "banana"), InvalidArgumentError);
  NetworkRequest r;
  r.name = "x";
  r.ipam.pools.push_back({"192.0.2.0/26", "", "198.51.100.1", {}});
  EXPECT_THROW(c().create_network(r), InvalidArgumentError);
  r.ipam.pools[0] = {"192.0.2.0/26", "192.0.2.128/27", "", {}};
  EXPECT_THROW(c().create_network(r), InvalidArgumentError);  // range outside subnet
  EXPECT_TRUE(c().networks(false).empty());
}

TEST_F(ControllerTest, RejectsOverlappingBridgeSubnets) {
  bridge("a", "192.0.2.0/24");
  EXPECT_THROW(bridge("b", "192.0.2.128/25"), ConflictError);
  EXPECT_NO_THROW(bridge("c", "198.51.100.0/24"));
}

TEST_F(ControllerTest, RejectsUnknownDriversOptionsAndIpv6) {
  NetworkRequest r;
  r.name = "x";
  r.driver = "macvlan";
  EXPECT_THROW(c().create_network(r), InvalidArgumentError);
  r.driver = "overlay";
  EXPECT_THROW(c().create_network(r), InvalidArgumentError);
  r.driver = "bridge";
  r.options = {{"color", "blue"}};
  EXPECT_THROW(c().create_network(r), InvalidArgumentError);
  r.options = {{"icc", "maybe"}};
  EXPECT_THROW(c().create_network(r), InvalidArgumentError);
  r.options = {{"com.docker.network.bridge.enable_icc", "false"}, {"mtu", "1400"}};
  const auto n = c().create_network(r);
  EXPECT_EQ(n.spec.options.at("icc"), "false");
  EXPECT_EQ(n.spec.mtu, 1400u);
  NetworkRequest v6;
  v6.name = "v6";
  v6.enable_ipv6 = true;
  EXPECT_THROW(c().create_network(v6), InvalidArgumentError);
}

TEST_F(ControllerTest, AllowsOneHostAndOneNullNetwork) {
  NetworkRequest h;
  h.name = "host";
  h.driver = "host";
  c().create_network(h);
  h.name = "host2";
  EXPECT_THROW(c().create_network(h), ConflictError);
  NetworkRequest n;
  n.name = "none";
  n.driver = "null";
  c().create_network(n);
  n.ipam.pools.push_back({"192.0.2.0/24", "", "", {}});
  n.name = "none2";
  EXPECT_THROW(c().create_network(n), Error);
}

TEST_F(ControllerTest, EndpointsGetDistinctAddressesAndDerivedMacs) {
  bridge("net1", "192.0.2.0/28");
  std::set<std::string> seen;
  for (int i = 0; i < 13; ++i) {
    const auto e = endpoint("net1", "ep" + std::to_string(i));
    ASSERT_EQ(e.spec.addresses.size(), 1u);
    EXPECT_TRUE(seen.insert(e.spec.addresses[0]).second) << e.spec.addresses[0];
    EXPECT_NE(e.spec.addresses[0], "192.0.2.1/28");  // the gateway
  }
  EXPECT_EQ(*seen.begin(), "192.0.2.10/28");
  const auto first = c().endpoint("ep0");
  EXPECT_EQ(first.spec.addresses[0], "192.0.2.2/28");
  EXPECT_EQ(first.spec.mac, "02:42:c0:00:02:02");
  try {
    endpoint("net1", "full");
    FAIL() << "the /28 should be full";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnavailable);
  }
}

TEST_F(ControllerTest, ReusesAddressesOfRemovedEndpoints) {
  bridge("net1", "192.0.2.0/29");
  endpoint("net1", "a");
  const auto b = endpoint("net1", "b");
  c().remove_endpoint("b", "", false);
  EXPECT_EQ(endpoint("net1", "c").spec.addresses, b.spec.addresses);
}

TEST_F(ControllerTest, AllocatesInsideIpRangeAndHonoursPreferredAddress) {
  bridge("net1", "192.0.2.0/24", "192.0.2.128/25");
  EXPECT_EQ(endpoint("net1", "a").spec.addresses[0], "192.0.2.128/24");
  EXPECT_EQ(endpoint("net1", "b", "192.0.2.7").spec.addresses[0], "192.0.2.7/24");
  EXPECT_THROW(endpoint("net1", "c", "192.0.2.7"), ConflictError);
  EXPECT_THROW(endpoint("net1", "d", "192.0.2.1"), ConflictError);  // gateway
  EXPECT_THROW(endpoint("net1", "e", "198.51.100.7"), InvalidArgumentError);
  EXPECT_THROW(endpoint("net1", "f", "192.0.2.255"), InvalidArgumentError);  // broadcast
}

TEST_F(ControllerTest, EndpointNamesAreUniquePerNetwork) {
  bridge("a", "192.0.2.0/26");
  bridge("b", "192.0.2.64/26");
  endpoint("a", "web");
  EXPECT_THROW(endpoint("a", "web"), ConflictError);
  EXPECT_NO_THROW(endpoint("b", "web"));
  // The bare name is now ambiguous; the network narrows it.
  EXPECT_THROW(c().endpoint("web"), InvalidArgumentError);
  EXPECT_EQ(c().endpoint("web", "b").spec.addresses[0], "192.0.2.66/26");
}

TEST_F(ControllerTest, PublishedPortsConflictAndDynamicPortsAreDistinct) {
  bridge("net1", "192.0.2.0/26");
  EndpointRequest r;
  r.network = "net1";
  r.name = "a";
  r.ports = {{"tcp", 80, 8080, ""}, {"tcp", 81, 0, ""}, {"udp", 53, 0, ""}};
  const auto a = c().create_endpoint(r);
  EXPECT_EQ(a.spec.ports[1].host_port, 40000u);
  EXPECT_EQ(a.spec.ports[2].host_port, 40000u);  // other protocol
  r.name = "b";
  r.ports = {{"tcp", 80, 8080, "127.0.0.1"}};
  EXPECT_THROW(c().create_endpoint(r), ConflictError);
  r.ports = {{"tcp", 80, 0, ""}, {"tcp", 80, 0, ""}};
  const auto b = c().create_endpoint(r);
  EXPECT_EQ(b.spec.ports[0].host_port, 40001u);
  EXPECT_EQ(b.spec.ports[1].host_port, 40002u);
  r.name = "c";
  r.ports = {{"tcp", 80, 0, ""}};
  EXPECT_THROW(c().create_endpoint(r), UnavailableError);
  r.ports = {{"sctp", 80, 0, ""}};
  EXPECT_THROW(c().create_endpoint(r), InvalidArgumentError);
  r.ports = {{"tcp", 0, 1, ""}};
  EXPECT_THROW(c().create_endpoint(r), InvalidArgumentError);
}

TEST_F(ControllerTest, NetworkWithEndpointsCannotBeRemoved) {
  bridge("net1", "192.0.2.0/26");
  endpoint("net1", "a");
  EXPECT_THROW(c().remove_network("net1"), ConflictError);
  c().remove_endpoint("a", "net1", false);
  c().remove_network("net1");
  EXPECT_THROW(c().network("net1"), NotFoundError);
}

TEST_F(ControllerTest, JoinedEndpointIsRemovedOnlyWhenForced) {
  bridge("net1", "192.0.2.0/26");
  const auto e = endpoint("net1", "a");
  const auto s = sandbox("box");
  c().join("a", "", "box");
  EXPECT_EQ(c().endpoint("a").sandbox, s.spec.id);
  EXPECT_THROW(c().join("a", "", "box"), ConflictError);
  EXPECT_THROW(c().remove_endpoint("a", "", false), ConflictError);
  c().remove_endpoint("a", "", true);
  EXPECT_THROW(c().endpoint(e.spec.id), NotFoundError);
  EXPECT_TRUE(c().sandbox("box").endpoints.empty());
}

TEST_F(ControllerTest, LeaveChecksTheSandbox) {
  bridge("net1", "192.0.2.0/26");
  endpoint("net1", "a");
  sandbox("one");
  sandbox("two");
  EXPECT_THROW(c().leave("a", "", ""), ConflictError);  // not joined
  c().join("a", "", "one");
  EXPECT_THROW(c().leave("a", "", "two"), ConflictError);
  c().leave("a", "", "one");
  EXPECT_TRUE(c().endpoint("a").sandbox.empty());
}

TEST_F(ControllerTest, SandboxIsRemovedWithItsEndpoints) {
  bridge("a", "192.0.2.0/26");
  bridge("b", "192.0.2.64/26");
  endpoint("a", "x");
  endpoint("b", "y");
  const auto kept = endpoint("b", "z");
  sandbox("box");
  c().join("x", "", "box");
  c().join("y", "", "box");
  c().remove_sandbox("box");
  EXPECT_THROW(c().sandbox("box"), NotFoundError);
  const auto left = c().endpoints();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].spec.id, kept.spec.id);
  c().remove_network("a");  // now unused
}

TEST_F(ControllerTest, SandboxNamesAreUniqueAndValidated) {
  sandbox("box");
  EXPECT_THROW(sandbox("box"), ConflictError);
  EXPECT_THROW(sandbox("-bad"), InvalidArgumentError);
  EXPECT_THROW(sandbox(""), InvalidArgumentError);
  SandboxRequest r;
  r.name = "dns";
  r.dns_servers = {"not-an-ip"};
  EXPECT_THROW(c().create_sandbox(r), InvalidArgumentError);
  r.dns_servers = {"192.0.2.53"};
  r.extra_hosts = {{"db", "192.0.2.9"}};
  r.hostname = "web";
  r.domain = "example.test";
  const auto s = c().create_sandbox(r);
  EXPECT_EQ(s.spec.hostname, "web");
  EXPECT_EQ(c().sandbox("dns").spec.extra_hosts.size(), 1u);
  EXPECT_EQ(sandbox("with_underscore").spec.hostname.size(), 12u);  // not a host name: short id
}

TEST_F(ControllerTest, HostSandboxJoinsNothingElse) {
  NetworkRequest h;
  h.name = "host";
  h.driver = "host";
  c().create_network(h);
  bridge("net1", "192.0.2.0/26");
  endpoint("host", "h");
  endpoint("net1", "b");
  endpoint("net1", "b2");
  sandbox("box");
  c().join("h", "", "box");
  EXPECT_TRUE(c().host_mode(c().sandbox("box").spec.id));
  EXPECT_EQ(c().netns_path(c().sandbox("box").spec.id), c().paths().host_netns());
  EXPECT_THROW(c().join("b", "", "box"), ConflictError);
  sandbox("other");
  c().join("b", "", "other");
  EXPECT_THROW(c().join("b2", "", "other"), ConflictError);  // same network twice
  EndpointRequest r;
  r.network = "host";
  r.name = "h2";
  r.ports = {{"tcp", 80, 80, ""}};
  EXPECT_THROW(c().create_endpoint(r), InvalidArgumentError);
}

TEST_F(ControllerTest, FailedJoinIsRolledBack) {
  bridge("net1", "192.0.2.0/26");
  const auto e = endpoint("net1", "a");
  sandbox("box");
  reconciler_.fail = [&](const StateCache& state, const Dirty& dirty) {
    Failures f;
    if (dirty.endpoints.count(e.spec.id) && !state.endpoint(e.spec.id)->sandbox.empty())
      f[ObjectRef::endpoint(e.spec.id)] = {ErrorKind::kUnavailable, "no veth today"};
    return f;
  };
  try {
    c().join("a", "", "box");
    FAIL() << "join should fail";
  } catch (const Error& err) {
    EXPECT_EQ(err.kind(), ErrorKind::kUnavailable);
    EXPECT_NE(std::string(err.what()).find("no veth today"), std::string::npos);
  }
  EXPECT_TRUE(c().endpoint("a").sandbox.empty());
  EXPECT_TRUE(c().sandbox("box").endpoints.empty());
}

TEST_F(ControllerTest, FailedNetworkSetupIsRolledBack) {
  reconciler_.fail = [](const StateCache& state, const Dirty& dirty) {
    Failures f;
    for (const auto& id : dirty.networks)
      if (state.network(id)) f[ObjectRef::network(id)] = {ErrorKind::kInternal, "bridge exploded"};
    return f;
  };
  EXPECT_THROW(bridge("net1", "192.0.2.0/26"), InternalError);
  EXPECT_TRUE(c().networks(true).empty());
  reconciler_.fail = nullptr;
  EXPECT_NO_THROW(bridge("net1", "192.0.2.0/26"));  // name and subnet are free again
}

TEST_F(ControllerTest, JoinOrderIsKeptAcrossRestart) {
  bridge("a", "192.0.2.0/26");
  bridge("b", "192.0.2.64/26");
  bridge("c", "192.0.2.128/26");
  endpoint("c", "z");
  endpoint("a", "x");
  endpoint("b", "y");
  const auto s = sandbox("box");
  c().join("y", "", "box");
  c().join("z", "", "box");
  c().join("x", "", "box");
  auto names = [&] {
    std::vector<std::string> out;
    for (const auto* e : c().state().joined_endpoints(s.spec.id)) out.push_back(e->spec.name);
    return out;
  };
  const std::vector<std::string> expected{"y", "z", "x"};
  EXPECT_EQ(names(), expected);
  open();  // a new controller over the same store
  EXPECT_EQ(names(), expected);
  EXPECT_TRUE(reconciler_.calls.back().all);
  // New endpoints after the restart get addresses nobody holds.
  EXPECT_EQ(endpoint("a", "w").spec.addresses[0], "192.0.2.3/26");
}

TEST_F(ControllerTest, RemoteEventsReachTheCacheAndAreReconciledWhenScheduled) {
  int scheduled = 0;
  std::vector<store::ChangeSet> observed;
  open([&] { ++scheduled; });
  c().add_change_observer([&](const store::ChangeSet& changes) { observed.push_back(changes); });
  // Another node's local bridge network arrives as remote events (what gossip delivers).
  store::Store other = store::Store::open(dir_ / "other", fast_options());
  store::NetworkCreated n;
  n.id = "0123456789abcdef0123456789abcdef";
  n.name = "theirs";
  n.driver = "bridge";
  n.ipam.pools = {{"192.0.2.0/26", "", "192.0.2.1", {}}};
  n.ipam_result.pools = {{"192.0.2.0/26", "192.0.2.1"}};
  other.append_local(n);
  const size_t calls = reconciler_.calls.size();
  store_->apply_remote(other.events_after(other.identity().id, 0, 100));
  EXPECT_EQ(scheduled, 1);
  EXPECT_EQ(reconciler_.calls.size(), calls);  // never inside the store's write
  ASSERT_EQ(observed.size(), 1u);
  EXPECT_TRUE(observed[0].networks.count(n.id));
  EXPECT_TRUE(c().state().network(n.id));
  EXPECT_TRUE(c().networks(false).empty());  // another node's local network: hidden
  EXPECT_EQ(c().networks(true).size(), 1u);
  c().reconcile_changes();
  ASSERT_EQ(reconciler_.calls.size(), calls + 1);
  EXPECT_TRUE(reconciler_.calls.back().networks.count(n.id));
  c().reconcile_changes();  // nothing pending: no call
  EXPECT_EQ(reconciler_.calls.size(), calls + 1);
  // The controller's own changes are reconciled at once and schedule nothing; its name
  // space is per node, so "theirs" is free here.
  bridge("theirs", "198.51.100.0/24");
  EXPECT_EQ(scheduled, 1);
  EXPECT_EQ(reconciler_.calls.size(), calls + 2);
}

TEST_F(ControllerTest, UnknownObjectsAreNotFound) {
  EXPECT_THROW(c().network("nope"), NotFoundError);
  EXPECT_THROW(c().endpoint("nope"), NotFoundError);
  EXPECT_THROW(c().sandbox("nope"), NotFoundError);
  EXPECT_THROW(c().remove_network("nope"), NotFoundError);
  EndpointRequest r;
  r.network = "nope";
  r.name = "a";
  EXPECT_THROW(c().create_endpoint(r), NotFoundError);
}

}  // namespace
}  // namespace trellis::node
