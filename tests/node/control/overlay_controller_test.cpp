// The controller's side of the overlay driver (issue 7) against real stores and a fake
// reconciler: two or three nodes in one process, each with its own store and controller, whose
// logs are exchanged by hand (what gossip does). Proves where VNIs, subnets and addresses come
// from (only this node's share of the owned spaces), the typed shortage that makes the API ask
// a donor, options validation, the refusal without clustering, and `node rm`'s rules.

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <memory>
#include <optional>
#include <set>
#include <string>

#include "ipam/ip.h"
#include "node/api/router.h"
#include "node/cluster/service.h"
#include "node/control/cluster_space_requester.h"
#include "node/control/controller.h"
#include "node/control/pending_operations.h"
#include "node/drivers/overlay/overlay_driver.h"
#include "node/drivers/registry.h"
#include "overlay/space_planner.h"
#include "overlay/space_request.h"
#include "tests/node/fakes/fake_reconciler.h"
#include "tests/node/support/temp_dir.h"

namespace trellis::node {
namespace {

using testing::FakeReconciler;
using testing::TempDir;

constexpr store::NodeId kA = 0xa1;
constexpr store::NodeId kB = 0xb2;
constexpr store::NodeId kC = 0xc3;

// One node: a store, a fake data plane and a controller.
struct Node {
  Node(store::NodeId id, const std::string& name, bool clustering) {
    store::Options o;
    o.durable = false;
    o.node_id = id;
    o.node_name = name;
    store.emplace(store::Store::open(dir / "data", o));
    store->append_local(store::NodeAnnounced{name, "192.0.2." + std::to_string(id & 0x3f)});
    ControllerOptions co;
    co.run_dir = dir / "run";
    co.clustering = clustering;
    co.live_nodes = &live;
    controller.emplace(*store, reconciler, co);
    controller->start();
  }
  Controller& c() { return *controller; }

  TempDir dir;
  FixedLiveNodes live;  // what gossip would say
  FakeReconciler reconciler;
  std::optional<store::Store> store;
  std::optional<Controller> controller;
};

// Hands every event `from` has and `to` lacks to `to` (one anti-entropy round).
void sync(Node& from, Node& to) {
  const store::VersionVector have = to.store->version_vector();
  for (const auto& [origin, head] : from.store->version_vector()) {
    const auto it = have.find(origin);
    const uint64_t after = it == have.end() ? 0 : it->second;
    if (head > after) to.store->apply_remote(from.store->events_after(origin, after, 1u << 30));
  }
  to.c().reconcile_changes();
}

void sync_all(const std::vector<Node*>& nodes) {
  for (int round = 0; round < 2; ++round)
    for (Node* a : nodes)
      for (Node* b : nodes)
        if (a != b) sync(*a, *b);
}

NetworkRequest overlay_request(const std::string& name, const std::string& subnet = "",
                               std::map<std::string, std::string> options = {}) {
  NetworkRequest r;
  r.name = name;
  r.driver = "overlay";
  r.options = std::move(options);
  if (!subnet.empty()) r.ipam.pools.push_back({subnet, "", "", {}});
  return r;
}

EndpointRequest endpoint_request(const std::string& network, const std::string& name,
                                 const std::string& ip = "") {
  EndpointRequest r;
  r.network = network;
  r.name = name;
  r.ip = ip;
  return r;
}

// What the donor's daemon does with a request (node/cluster/space_donor.cpp): decide, author.
overlay::SpaceAnswerBody serve(Node& donor, store::NodeId requester, const SpaceShortage& s) {
  const overlay::DonorDecision d =
      overlay::decide_space_request(donor.store->read(), donor.store->identity().id, requester,
                                    overlay::decode_space_request(s.payload()));
  if (d.donation) donor.c().append({*d.donation});
  return d.answer;
}

class OverlayControllerTest : public ::testing::Test {
 protected:
  OverlayControllerTest() : a_(kA, "a", true), b_(kB, "b", true) {
    // a founds the cluster and owns every VNI and pool subnet; b knows it.
    std::vector<store::Body> spaces;
    for (auto& s : overlay::missing_cluster_spaces(a_.store->read())) spaces.push_back(s);
    a_.c().append(std::move(spaces));
    sync_all({&a_, &b_});
    a_.live.set({kB});
    b_.live.set({kA});
  }

  // Runs `op` on `requester`; while it throws SpaceShortage, lets `donor` serve the request and
  // syncs the donation back (what the API's retry loop and gossip do).
  template <typename Op>
  auto with_donations(Node& requester, Node& donor, Op op) {
    for (int i = 0; i < 4; ++i) {
      try {
        return op();
      } catch (const SpaceShortage& s) {
        EXPECT_EQ(s.donor(), donor.store->identity().id);
        const auto answer = serve(donor, requester.store->identity().id, s);
        EXPECT_EQ(answer.status, overlay::SpaceAnswerStatus::kDonated) << answer.reason;
        sync(donor, requester);
      }
    }
    return op();
  }

  Node a_;
  Node b_;
};

TEST(OverlayDriverTest, RefusedWithoutClustering) {
  Node solo(kA, "solo", false);
  try {
    solo.c().create_network(overlay_request("ov"));
    FAIL() << "expected InvalidArgumentError";
  } catch (const InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("driver overlay needs clustering"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("--advertise-addr"), std::string::npos);
  }
}

TEST(OverlayDriverTest, OptionsAreNormalisedAndCheckedWithClearErrors) {
  EXPECT_TRUE(network_driver("overlay").capabilities().needs_ipam);
  EXPECT_FALSE(network_driver("overlay").capabilities().exclusive);
  const auto out = network_driver("overlay").normalize_options(
      {{"com.docker.network.driver.overlay.vxlanid_list", "5000"},
       {"com.docker.network.driver.mtu", "1400"},
       {"egress", "yes"}});
  EXPECT_EQ(out, (std::map<std::string, std::string>{
                     {"vni", "5000"}, {"mtu", "1400"}, {"egress", "true"}}));
  const OverlayOptions o = overlay_options(out);
  EXPECT_EQ(o.vni, 5000u);
  EXPECT_EQ(o.mtu, 1400u);
  EXPECT_EQ(o.egress, true);
  auto message = [](std::map<std::string, std::string> opts) -> std::string {
    try {
      network_driver("overlay").normalize_options(opts);
    } catch (const InvalidArgumentError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_EQ(message({{"vni", "100"}}), "option vni=100: expected a number from 4096 to 16777215");
  EXPECT_EQ(message({{"vni", "16777216"}}),
            "option vni=16777216: expected a number from 4096 to 16777215");
  EXPECT_EQ(message({{"vni", "-5000"}}),
            "option vni=-5000: expected a number from 4096 to 16777215");
  EXPECT_EQ(message({{"vni", "5000,5001"}}), "option vni=5000,5001: one VNI per network");
  EXPECT_EQ(message({{"mtu", "20"}}), "option mtu=20: expected a number from 68 to 65535");
  EXPECT_EQ(message({{"egress", "maybe"}}), "option egress=maybe: expected true or false");
  EXPECT_EQ(message({{"icc", "true"}}),
            "unknown overlay option 'icc' (expected vni, mtu or egress)");
}

TEST_F(OverlayControllerTest, NetworkTakesLowestOwnedVniAndPoolSubnetAndAppearsEverywhere) {
  const auto n1 = a_.c().create_network(overlay_request("front"));
  EXPECT_TRUE(n1.spec.cluster_scope);
  EXPECT_EQ(n1.spec.driver, "overlay");
  EXPECT_EQ(n1.spec.ipam_result.vni, store::kVniFirst);
  ASSERT_TRUE(n1.spec.ipam_result.has_pool_index);
  EXPECT_EQ(n1.spec.ipam_result.pool_index, 0u);
  ASSERT_EQ(n1.spec.ipam_result.pools.size(), 1u);
  EXPECT_EQ(n1.spec.ipam_result.pools[0].subnet, "10.0.0.0/24");
  EXPECT_EQ(n1.spec.ipam_result.pools[0].gateway, "10.0.0.1");
  EXPECT_EQ(n1.spec.options.count("vni"), 0u);

  const auto n2 = a_.c().create_network(overlay_request("back", "", {{"mtu", "1400"}}));
  EXPECT_EQ(n2.spec.ipam_result.vni, store::kVniFirst + 1);
  EXPECT_EQ(n2.spec.ipam_result.pools[0].subnet, "10.0.1.0/24");
  EXPECT_EQ(n2.spec.mtu, 1400u);

  sync_all({&a_, &b_});
  EXPECT_EQ(b_.c().network("front").spec.id, n1.spec.id);
  // Cluster scope: the name is taken on every node.
  EXPECT_THROW(b_.c().create_network(overlay_request("front")), ConflictError);
  // The address space starts owned by the creator: its endpoints allocate at once.
  const auto e = a_.c().create_endpoint(endpoint_request("front", "web1"));
  EXPECT_EQ(e.spec.addresses, std::vector<std::string>{"10.0.0.2/24"});
}

TEST_F(OverlayControllerTest, ExplicitVniAndSubnetAreCheckedAgainstTheCluster) {
  const auto n = a_.c().create_network(overlay_request("v", "", {{"vni", "5000"}}));
  EXPECT_EQ(n.spec.ipam_result.vni, 5000u);
  EXPECT_THROW(a_.c().create_network(overlay_request("v2", "", {{"vni", "5000"}})), ConflictError);
  EXPECT_THROW(a_.c().create_network(overlay_request("bad", "", {{"vni", "12"}})),
               InvalidArgumentError);

  // "v" took the pool's 10.0.0.0/24; a user takes 10.0.1.0/24 by hand.
  const auto s = a_.c().create_network(overlay_request("s", "10.0.1.0/24"));
  EXPECT_EQ(s.spec.ipam_result.pools[0].subnet, "10.0.1.0/24");
  EXPECT_EQ(s.spec.ipam_result.pools[0].gateway, "10.0.1.1");
  EXPECT_FALSE(s.spec.ipam_result.has_pool_index);
  sync_all({&a_, &b_});
  // No node may create a network overlapping a cluster-scope subnet, overlay or bridge.
  // (b owns no VNI: the overlap is reported before any donation is asked for.)
  EXPECT_THROW(b_.c().create_network(overlay_request("s2", "10.0.1.128/25")), ConflictError);
  NetworkRequest bridge;
  bridge.name = "br";
  bridge.ipam.pools.push_back({"10.0.0.0/23", "", "", {}});
  EXPECT_THROW(b_.c().create_network(bridge), ConflictError);
  // Pool picks skip the user's subnet too: index 1 (10.0.1.0/24) is free in the pool but used.
  EXPECT_EQ(a_.c().create_network(overlay_request("p")).spec.ipam_result.pools[0].subnet,
            "10.0.2.0/24");
  // A gateway without a subnet is refused as for bridges.
  NetworkRequest gw = overlay_request("gw");
  gw.ipam.pools.push_back({"", "", "10.0.0.1", {}});
  EXPECT_THROW(a_.c().create_network(gw), InvalidArgumentError);
}

TEST_F(OverlayControllerTest, NodeWithoutShareAsksTheOwnerForVnisAndSubnets) {
  try {
    b_.c().create_network(overlay_request("bnet"));
    FAIL() << "expected SpaceShortage";
  } catch (const SpaceShortage& s) {
    EXPECT_EQ(s.donor(), kA);
    EXPECT_EQ(s.space(), "vni");
    const auto body = overlay::decode_space_request(s.payload());
    EXPECT_EQ(body.space, "vni");
    EXPECT_EQ(body.wanted, overlay::kClusterSpaceRequestSize);
    EXPECT_EQ(s.kind(), ErrorKind::kUnavailable);
    EXPECT_NE(std::string(s.what()).find("waiting for node 00000000000000a1 to donate VNIs"),
              std::string::npos)
        << s.what();
  }
  const auto n =
      with_donations(b_, a_, [&] { return b_.c().create_network(overlay_request("bnet")); });
  sync_all({&a_, &b_});
  const auto m = a_.c().create_network(overlay_request("anet"));
  // Donations hand over the upper part of a's run: b's picks never meet a's.
  EXPECT_NE(n.spec.ipam_result.vni, m.spec.ipam_result.vni);
  EXPECT_NE(n.spec.ipam_result.pool_index, m.spec.ipam_result.pool_index);
  EXPECT_EQ(a_.store->read().space("vni")->space.ownership().owner_of(n.spec.ipam_result.vni), kB);
  // No live owner: the error says the space is unreachable.
  Node c(kC, "c", true);
  sync_all({&a_, &b_, &c});
  try {
    c.c().create_network(overlay_request("cnet"));
    FAIL() << "expected NoSpaceReachableError";
  } catch (const overlay::NoSpaceReachableError& e) {
    EXPECT_NE(std::string(e.what()).find("unreachable"), std::string::npos) << e.what();
  }
}

TEST_F(OverlayControllerTest, EndpointAddressesComeOnlyFromOwnedSpaceOrByDonation) {
  const auto net = a_.c().create_network(overlay_request("front"));
  const auto a1 = a_.c().create_endpoint(endpoint_request("front", "a1"));
  sync_all({&a_, &b_});
  std::string space;
  try {
    b_.c().create_endpoint(endpoint_request("front", "b1"));
    FAIL() << "expected SpaceShortage";
  } catch (const SpaceShortage& s) {
    EXPECT_EQ(s.donor(), kA);
    space = s.space();
    EXPECT_EQ(overlay::decode_space_request(s.payload()).wanted, overlay::kAddressRequestSize);
  }
  EXPECT_EQ(space, store::network_space_key(net.spec.id, 0));
  std::set<std::string> addresses = {a1.spec.addresses[0]};
  for (int i = 0; i < 3; ++i) {
    const auto e = with_donations(b_, a_, [&] {
      return b_.c().create_endpoint(endpoint_request("front", "b" + std::to_string(i)));
    });
    EXPECT_TRUE(addresses.insert(e.spec.addresses[0]).second) << e.spec.addresses[0];
  }
  sync_all({&a_, &b_});
  for (int i = 2; i < 5; ++i) {
    const auto e = a_.c().create_endpoint(endpoint_request("front", "a" + std::to_string(i)));
    EXPECT_TRUE(addresses.insert(e.spec.addresses[0]).second) << e.spec.addresses[0];
  }
  // A static address a owns is donated exactly; one b owns is claimed at once.
  const auto s = with_donations(b_, a_, [&] {
    return b_.c().create_endpoint(endpoint_request("front", "static", "10.0.0.200"));
  });
  EXPECT_EQ(s.spec.addresses[0], "10.0.0.200/24");
  EXPECT_THROW(b_.c().create_endpoint(endpoint_request("front", "twice", "10.0.0.200")),
               ConflictError);
  EXPECT_THROW(a_.c().create_endpoint(endpoint_request("front", "gw", "10.0.0.1")), ConflictError);
  EXPECT_THROW(a_.c().create_endpoint(endpoint_request("front", "out", "10.9.0.5")),
               InvalidArgumentError);
  // Ports of overlay endpoints are refused loudly.
  EndpointRequest ports = endpoint_request("front", "p");
  ports.ports.push_back({"tcp", 80, 8080, ""});
  EXPECT_THROW(a_.c().create_endpoint(ports), InvalidArgumentError);
}

TEST_F(OverlayControllerTest, ExhaustedOrUnreachableSpaceFailsClearly) {
  a_.c().create_network(overlay_request("tiny", "10.200.0.0/29"));  // 6 hosts, 1 gateway
  for (int i = 0; i < 5; ++i)
    a_.c().create_endpoint(endpoint_request("tiny", "e" + std::to_string(i)));
  try {
    a_.c().create_endpoint(endpoint_request("tiny", "e5"));
    FAIL() << "expected SpaceExhaustedError";
  } catch (const overlay::SpaceExhaustedError& e) {
    EXPECT_NE(std::string(e.what()).find("no free addresses left in the cluster"),
              std::string::npos)
        << e.what();
  }
  a_.c().create_network(overlay_request("wide"));
  sync_all({&a_, &b_});
  b_.live.set({});  // a is dead as b sees it
  try {
    b_.c().create_endpoint(endpoint_request("wide", "b1"));
    FAIL() << "expected NoSpaceReachableError";
  } catch (const overlay::NoSpaceReachableError& e) {
    EXPECT_NE(std::string(e.what()).find("no address space reachable: 253 addresses owned by "
                                         "unreachable nodes"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(OverlayControllerTest, NodeRemovalRefusesLiveNodesAndReclaimsGoneOnes) {
  a_.c().create_network(overlay_request("front"));
  sync_all({&a_, &b_});
  with_donations(b_, a_, [&] { return b_.c().create_endpoint(endpoint_request("front", "b1")); });
  sync_all({&a_, &b_});
  ASSERT_EQ(a_.c().endpoints("front").size(), 1u);

  EXPECT_THROW(a_.c().remove_node("b"), ConflictError);         // alive
  EXPECT_THROW(a_.c().remove_node("a"), InvalidArgumentError);  // itself
  EXPECT_THROW(a_.c().remove_node("nobody"), NotFoundError);
  a_.live.set({});  // b died
  const store::NodeInfo removed = a_.c().remove_node("00000000000000b2");
  EXPECT_EQ(removed.id, kB);
  EXPECT_TRUE(a_.c().endpoints("front").empty());
  const auto net = a_.c().network("front");
  const auto space = a_.store->read().space(store::network_space_key(net.spec.id, 0));
  ASSERT_TRUE(space);
  EXPECT_EQ(space->space.ownership().owned_count(kB), 0u);
  EXPECT_THROW(a_.c().remove_node("b"), ConflictError);  // already removed
}

TEST_F(OverlayControllerTest, LiveNodesExcludeThisNode) {
  a_.live.set({kB, kC, kA});
  EXPECT_EQ(a_.c().live_nodes(), (std::set<store::NodeId>{kB, kC}));
}

// The API's asynchronous path: a command that needs a donation waits in PendingOperations
// (other requests are served meanwhile), succeeds once the donation event is applied, and
// fails with 503 at the limit when none comes.
TEST_F(OverlayControllerTest, ApiRequestWaitsForTheDonationWithoutBlocking) {
  using namespace std::chrono_literals;
  const auto net = a_.c().create_network(overlay_request("front"));
  a_.c().create_network(overlay_request("back"));
  sync_all({&a_, &b_});
  boost::asio::io_context io;
  ClusterOptions co;
  co.listen_addr = "127.0.0.1:0";
  // Never started: every request to the donor fails (logged) and is re-sent; the donation
  // below is delivered by hand, as gossip would.
  ClusterService cluster(*b_.store, co);
  ClusterSpaceRequester requester(cluster);
  PendingOperations pending(&io, &requester, SpaceWaitOptions{100ms, 3000ms});
  b_.c().add_change_observer([&](const store::ChangeSet& c) { pending.on_change(c); });
  ApiRouter router(b_.c(), ApiInfo{}, &cluster, &pending);

  std::optional<ApiResponse> created;
  const auto t0 = std::chrono::steady_clock::now();
  router.handle({"POST", "/endpoints", R"({"network":"front","name":"b1"})"},
                [&](ApiResponse r) { created = std::move(r); });
  EXPECT_FALSE(created);
  EXPECT_EQ(pending.waiting(), 1u);
  std::optional<ApiResponse> info;
  router.handle({"GET", "/info", ""}, [&](ApiResponse r) { info = std::move(r); });
  ASSERT_TRUE(info);
  EXPECT_EQ(info->status, 200);

  boost::asio::steady_timer donate(io, 150ms);
  donate.async_wait([&](boost::system::error_code) {
    const overlay::DonorDecision d = overlay::decide_space_request(
        a_.store->read(), kA, kB,
        {store::network_space_key(net.spec.id, 0), overlay::kAddressRequestSize, std::nullopt});
    ASSERT_TRUE(d.donation);
    a_.c().append({*d.donation});
    sync(a_, b_);
  });
  while (!created && std::chrono::steady_clock::now() - t0 < 5s) io.run_one_for(100ms);
  ASSERT_TRUE(created);
  EXPECT_EQ(created->status, 201) << created->body;
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 150ms);
  EXPECT_EQ(pending.waiting(), 0u);

  PendingOperations quick_pending(&io, &requester, SpaceWaitOptions{100ms, 200ms});
  ApiRouter quick(b_.c(), ApiInfo{}, &cluster, &quick_pending);
  std::optional<ApiResponse> timed_out;
  quick.handle({"POST", "/endpoints", R"({"network":"back","name":"b2"})"},
               [&](ApiResponse r) { timed_out = std::move(r); });
  io.restart();  // it ran out of work after the first request
  while (!timed_out && std::chrono::steady_clock::now() - t0 < 10s) io.run_one_for(100ms);
  ASSERT_TRUE(timed_out);
  EXPECT_EQ(timed_out->status, 503);
  EXPECT_NE(timed_out->body.find("space request to node 00000000000000a1 timed out after 200 ms"),
            std::string::npos)
      << timed_out->body;
  // Without pending operations the shortage is answered at once.
  ApiRouter sync_router(b_.c(), ApiInfo{}, &cluster);
  const ApiResponse now =
      sync_router.handle_now({"POST", "/endpoints", R"({"network":"back","name":"b3"})"});
  EXPECT_EQ(now.status, 503);
  EXPECT_NE(now.body.find("waiting for node 00000000000000a1 to donate addresses"),
            std::string::npos)
      << now.body;
}

}  // namespace
}  // namespace trellis::node
