// The overlay driver's control plane with real trellisd processes (issue 7): three daemons
// gossiping on loopback inside the private-namespace harness. Proves that an overlay network
// created on one node appears on all; that endpoints created on every node get distinct
// addresses although only the creator owned the network's space at first (donations requested
// over gossip while the API request waits asynchronously); that concurrent network creates on
// three nodes get distinct VNIs and subnets; that `trellis node ls` shows who owns what; and
// that `trellis node rm` refuses a live node and reclaims a killed one.
//
// The daemons share the test's network namespace: each gossips on its own loopback address
// 127.0.0.(1+i) (its VTEP) and gets its own VXLAN port (their overlay devices would otherwise
// collide on VNI + port) and nftables table. No data plane is
// checked here (tests/node/dataplane/overlay_kernel_test.cpp and tests/cluster do that).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/node/support/temp_dir.h"
#include "tests/node/support/trellis_host.h"

namespace trellis::node {
namespace {

using nlohmann::json;
using testing::alive_members;
using testing::cli_json;
using testing::free_port;
using testing::member_state;
using testing::TrellisHost;
using testing::wait_for;
using Clock = std::chrono::steady_clock;

constexpr int kNodes = 3;

json network(const TrellisHost& h, const std::string& name) {
  const json list = cli_json(h, {"network", "ls"});
  if (list.is_array())
    for (const auto& n : list)
      if (n.value("name", "") == name) return n;
  return json();
}

size_t endpoint_count(const TrellisHost& h, const std::string& net) {
  const json list = cli_json(h, {"endpoint", "ls", "--network", net});
  return list.is_array() ? list.size() : 0;
}

// The node's entry in `node ls --format json` as `viewer` sees it.
json node_entry(const TrellisHost& viewer, const std::string& name) {
  const json list = cli_json(viewer, {"node", "ls"});
  if (list.is_array())
    for (const auto& n : list)
      if (n.value("name", "") == name) return n;
  return json();
}

uint64_t owned(const json& node, const std::string& kind, const std::string& network_name = "") {
  uint64_t total = 0;
  if (!node.is_object()) return 0;
  for (const auto& s : node["spaces"]) {
    if (s.value("kind", "") != kind) continue;
    if (!network_name.empty() && s.value("network_name", "") != network_name) continue;
    total += s.value("owned", uint64_t{0});
  }
  return total;
}

class OverlayProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::isolate();
    // The nodes' own addresses on lo (private namespace), so each finds its underlay device.
    for (int i = 1; i < kNodes; ++i) {
      const testing::Result r = testing::run_program(
          {"ip", "addr", "add", "127.0.0." + std::to_string(1 + i) + "/32", "dev", "lo"}, "/tmp");
      ASSERT_EQ(r.status, 0) << r.err;
    }
  }

  std::unique_ptr<TrellisHost> make_host(int i, int port, int seed) {
    auto h = std::make_unique<TrellisHost>();
    h->name = "node" + std::to_string(i);
    h->log_level = "info";
    // 127.0.0.(1+i): a VTEP address of its own per node, as on separate hosts.
    h->extra_args = {
        "--listen-addr", "127.0.0." + std::to_string(1 + i) + ":" + std::to_string(port),
        "--nft-table",   "trellis-" + h->name,
        "--vxlan-port",  std::to_string(47890 + i)};
    if (seed > 0) {
      h->extra_args.push_back("--join");
      h->extra_args.push_back("127.0.0.1:" + std::to_string(seed));
    }
    return h;
  }
};

TEST_F(OverlayProcessTest, NetworksAddressesAndNodeRemovalAcrossThreeDaemons) {
  std::vector<int> ports;
  for (int i = 0; i < kNodes; ++i) ports.push_back(free_port());
  std::vector<std::unique_ptr<TrellisHost>> hosts;
  for (int i = 0; i < kNodes; ++i) hosts.push_back(make_host(i, ports[i], i == 0 ? 0 : ports[0]));
  hosts[0]->start();
  for (int i = 1; i < kNodes; ++i) hosts[i]->spawn();
  for (int i = 1; i < kNodes; ++i) hosts[i]->wait_ready();
  for (int i = 0; i < kNodes; ++i) {
    ASSERT_TRUE(
        wait_for([&] { return alive_members(*hosts[i]) == kNodes; }, std::chrono::seconds(15)))
        << "node" << i << " sees " << hosts[i]->cli({"cluster", "members"}).out;
  }
  // The founder donated a share of the VNIs and subnets to each joiner.
  for (int i = 1; i < kNodes; ++i) {
    ASSERT_TRUE(wait_for(
        [&] {
          const json n = node_entry(*hosts[0], "node" + std::to_string(i));
          return owned(n, "vni") > 0 && owned(n, "subnet") > 0;
        },
        std::chrono::seconds(10)))
        << hosts[0]->cli({"node", "ls"}).out << hosts[0]->log();
  }

  // ---- an overlay network created on node0 appears on all
  const testing::Result created = hosts[0]->cli({"network", "create", "-d", "overlay", "ov"});
  ASSERT_EQ(created.status, 0) << created.err;
  for (int i = 0; i < kNodes; ++i) {
    ASSERT_TRUE(
        wait_for([&] { return network(*hosts[i], "ov").is_object(); }, std::chrono::seconds(10)))
        << "ov never reached node" << i;
  }
  const json ov = network(*hosts[1], "ov");
  EXPECT_EQ(ov["driver"], "overlay");
  EXPECT_EQ(ov["scope"], "cluster");
  EXPECT_EQ(ov["vni"], 4096);
  EXPECT_EQ(ov["subnets"][0]["subnet"], "10.0.0.0/24");

  // ---- endpoints on every node: node1 and node2 own nothing of ov's space at first and must
  // get donations from node0 over gossip while their request waits.
  constexpr int kPerNode = 3;
  for (int round = 0; round < kPerNode; ++round) {
    for (int i = 0; i < kNodes; ++i) {
      const auto t0 = Clock::now();
      const std::string name = "e" + std::to_string(i) + "-" + std::to_string(round);
      const testing::Result r = hosts[i]->cli({"endpoint", "create", "--network", "ov", name});
      ASSERT_EQ(r.status, 0) << name << ": " << r.err << hosts[i]->log();
      // The first one on node1 and node2 includes a donation over gossip; later ones do not.
      std::printf(
          "endpoint %d on node%d (CLI round trip): %lld ms\n", round, i,
          static_cast<long long>(
              std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count()));
    }
  }
  for (int i = 0; i < kNodes; ++i) {
    ASSERT_TRUE(wait_for([&] { return endpoint_count(*hosts[i], "ov") == kNodes * kPerNode; },
                         std::chrono::seconds(10)))
        << "node" << i << ": " << hosts[i]->cli({"endpoint", "ls"}).out;
  }
  std::set<std::string> addresses;
  for (const auto& e : cli_json(*hosts[0], {"endpoint", "ls", "--network", "ov"})) {
    ASSERT_EQ(e["addresses"].size(), 1u);
    EXPECT_TRUE(addresses.insert(e["addresses"][0].get<std::string>()).second)
        << "duplicate " << e["addresses"][0];
  }
  EXPECT_EQ(addresses.size(), static_cast<size_t>(kNodes * kPerNode));
  EXPECT_EQ(addresses.count("10.0.0.1/24"), 0u);  // the gateway

  // ---- node ls: each node owns a share of ov's addresses now
  for (int i = 0; i < kNodes; ++i) {
    const json n = node_entry(*hosts[0], "node" + std::to_string(i));
    EXPECT_GE(owned(n, "address", "ov"), static_cast<uint64_t>(kPerNode)) << n.dump();
    EXPECT_EQ(n["state"], "alive");
  }
  const testing::Result table = hosts[1]->cli({"node", "ls"});
  ASSERT_EQ(table.status, 0) << table.err;
  EXPECT_NE(table.out.find("ov:"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("node1 (self)"), std::string::npos) << table.out;
  std::printf("%s", table.out.c_str());

  // ---- concurrent creates on all nodes: distinct VNIs and subnets
  {
    std::string script;
    for (int i = 0; i < kNodes; ++i) {
      for (int k = 0; k < 3; ++k) {
        script += std::string(TRELLIS_BIN) + " -H unix://" + hosts[i]->socket() +
                  " network create -d overlay c" + std::to_string(i) + "-" + std::to_string(k) +
                  " >/dev/null & ";
      }
    }
    script += "wait";
    const testing::Result r = hosts[0]->run({"sh", "-c", script});
    ASSERT_EQ(r.status, 0) << r.err;
  }
  ASSERT_TRUE(wait_for(
      [&] {
        const json list = cli_json(*hosts[0], {"network", "ls"});
        return list.is_array() && list.size() == static_cast<size_t>(1 + kNodes * 3);
      },
      std::chrono::seconds(10)))
      << hosts[0]->cli({"network", "ls"}).out;
  std::set<int> vnis;
  std::set<std::string> subnets;
  for (const auto& n : cli_json(*hosts[0], {"network", "ls"})) {
    EXPECT_TRUE(vnis.insert(n["vni"].get<int>()).second) << n.dump();
    EXPECT_TRUE(subnets.insert(n["subnets"][0]["subnet"].get<std::string>()).second) << n.dump();
  }

  // ---- the cluster log names the state digest; converged nodes agree on it
  ASSERT_TRUE(wait_for(
      [&] {
        std::set<std::string> digests;
        for (const auto& h : hosts)
          digests.insert(cli_json(*h, {"cluster", "log"}).value("state_digest", ""));
        return digests.size() == 1 && !digests.begin()->empty();
      },
      std::chrono::seconds(10)));
  EXPECT_NE(hosts[0]->cli({"cluster", "log"}).out.find("state digest "), std::string::npos);

  // ---- node rm: refused for a live node, reclaims a killed one
  const testing::Result live = hosts[0]->cli({"node", "rm", "node1"});
  EXPECT_NE(live.status, 0);
  EXPECT_NE(live.err.find("alive"), std::string::npos) << live.err;
  EXPECT_NE(live.err.find("gone for good"), std::string::npos) << live.err;

  hosts[2]->kill9();
  ASSERT_TRUE(wait_for([&] { return member_state(*hosts[0], "node2") == "dead"; },
                       std::chrono::seconds(20)));
  const testing::Result rm = hosts[0]->cli({"node", "rm", "node2"});
  ASSERT_EQ(rm.status, 0) << rm.err;
  EXPECT_EQ(endpoint_count(*hosts[0], "ov"), static_cast<size_t>((kNodes - 1) * kPerNode));
  const json gone = node_entry(*hosts[0], "node2");
  EXPECT_EQ(gone.value("state", ""), "removed") << gone.dump();
  EXPECT_EQ(owned(gone, "address") + owned(gone, "vni") + owned(gone, "subnet"), 0u) << gone.dump();
  // node1 learns it too.
  ASSERT_TRUE(wait_for([&] { return endpoint_count(*hosts[1], "ov") == (kNodes - 1) * kPerNode; },
                       std::chrono::seconds(10)));
  // Space that was node2's serves node0 again: an endpoint can still be created.
  EXPECT_EQ(hosts[0]->cli({"endpoint", "create", "--network", "ov", "after"}).status, 0);

  // ---- the removed node comes back with its old data directory: it learns of its removal
  // from the cluster and stops with one clear line (exit 3); the members show it removed; a
  // second start refuses at once, from what its store now knows.
  hosts[2]->spawn();
  const std::optional<int> code = hosts[2]->wait_exit(std::chrono::seconds(20));
  ASSERT_TRUE(code.has_value()) << "the removed node kept running:\n" << hosts[2]->log();
  EXPECT_EQ(*code, 3) << hosts[2]->log();
  EXPECT_NE(hosts[2]->log().find("was removed from cluster"), std::string::npos) << hosts[2]->log();
  EXPECT_NE(hosts[2]->log().find("start with an empty --data-dir"), std::string::npos);
  EXPECT_TRUE(wait_for([&] { return member_state(*hosts[0], "node2") == "removed"; },
                       std::chrono::seconds(10)))
      << member_state(*hosts[0], "node2");
  hosts[2]->spawn();
  EXPECT_EQ(hosts[2]->wait_exit(std::chrono::seconds(10)), std::optional<int>(3));

  // For diagnosis: what the daemons complained about (the data plane is not checked here).
  for (int i = 0; i < kNodes; ++i) {
    std::istringstream log(hosts[i]->log());
    int shown = 0;
    for (std::string line; std::getline(log, line) && shown < 5;) {
      if (line.find(" error ") != std::string::npos ||
          line.find(" warning ") != std::string::npos) {
        std::printf("node%d: %s\n", i, line.c_str());
        ++shown;
      }
    }
  }
}

}  // namespace
}  // namespace trellis::node
