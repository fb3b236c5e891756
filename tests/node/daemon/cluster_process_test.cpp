// Real trellisd processes forming a gossip cluster on loopback (issue 6, "Real processes on
// loopback"): five daemons join through the first; a network created on one appears on all;
// a SIGKILLed daemon is declared dead, and after a restart rejoins and catches up; a daemon
// holding another cluster key is refused and the refusal is logged; garbage sent to a gossip
// port is survived. Runs inside the private-namespace harness (label netns): the daemons
// share the test's network namespace (each with its own nftables table; kernel objects carry
// their owner's id, so no daemon touches another's).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gossip/cluster_key.h"
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

constexpr int kNodes = 5;

// Sends `bytes` to 127.0.0.1:port on a fresh TCP connection, then closes it.
void send_garbage(int port, const std::string& bytes) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;  // the peer may cut a garbage connection early
    off += static_cast<size_t>(n);
  }
  ::close(fd);
}

bool has_network(const TrellisHost& h, const std::string& name) {
  const json list = cli_json(h, {"network", "ls", "--all"});
  if (!list.is_array()) return false;
  for (const auto& n : list) {
    if (n.value("name", "") == name) return true;
  }
  return false;
}

class ClusterProcessTest : public ::testing::Test {
 protected:
  void SetUp() override { testing::isolate(); }

  // Configures a daemon named `name` gossiping on 127.0.0.1:port, joining `seed` if set.
  std::unique_ptr<TrellisHost> make_host(const std::string& name, int port, int seed,
                                         const std::string& key_file) {
    auto h = std::make_unique<TrellisHost>();
    h->name = name;
    h->log_level = "info";
    h->extra_args = {"--listen-addr", "127.0.0.1:" + std::to_string(port), "--nft-table",
                     "trellis-" + name};
    if (seed > 0) {
      h->extra_args.push_back("--join");
      h->extra_args.push_back("127.0.0.1:" + std::to_string(seed));
    }
    if (!key_file.empty()) {
      h->extra_args.push_back("--cluster-key");
      h->extra_args.push_back(key_file);
    }
    return h;
  }

  testing::TempDir keys_;
};

TEST_F(ClusterProcessTest, FiveDaemonsReplicateSurviveACrashAndRefuseStrangers) {
  const bool curve = gossip::curve_available();
  const std::string key_file = curve ? keys_ / "cluster.key" : "";
  const std::string other_key_file = curve ? keys_ / "other.key" : "";
  if (curve) {
    std::ofstream(key_file) << gossip::generate_cluster_key() << "\n";
    std::ofstream(other_key_file) << gossip::generate_cluster_key() << "\n";
  }

  std::vector<int> ports;
  for (int i = 0; i <= kNodes; ++i) ports.push_back(free_port());
  std::vector<std::unique_ptr<TrellisHost>> hosts;
  for (int i = 0; i < kNodes; ++i) {
    hosts.push_back(
        make_host("node" + std::to_string(i), ports[i], i == 0 ? 0 : ports[0], key_file));
  }
  hosts[0]->start();
  for (int i = 1; i < kNodes; ++i) hosts[i]->spawn();
  for (int i = 1; i < kNodes; ++i) hosts[i]->wait_ready();

  // ---- all five join
  for (int i = 0; i < kNodes; ++i) {
    ASSERT_TRUE(
        wait_for([&] { return alive_members(*hosts[i]) == kNodes; }, std::chrono::seconds(15)))
        << "node" << i << " sees " << hosts[i]->cli({"cluster", "members"}).out;
  }

  // The stranger (another key) starts now: its join waits out its timeout in the background.
  std::unique_ptr<TrellisHost> rogue;
  if (curve) {
    rogue = make_host("rogue", ports[kNodes], ports[0], other_key_file);
    rogue->spawn();
  }

  // ---- a network created on one node appears on all
  ASSERT_EQ(hosts[2]->cli({"network", "create", "--subnet", "10.1.0.0/24", "net-a"}).status, 0);
  for (int i = 0; i < kNodes; ++i) {
    const auto took =
        wait_for([&] { return has_network(*hosts[i], "net-a"); }, std::chrono::seconds(10));
    ASSERT_TRUE(took) << "net-a never reached node" << i;
  }
  // The CLI table names it too (another node's local network needs --all).
  EXPECT_NE(hosts[0]->cli({"network", "ls", "--all"}).out.find("net-a"), std::string::npos);
  EXPECT_EQ(hosts[0]->cli({"network", "ls"}).out.find("net-a"), std::string::npos);

  // ---- SIGKILL one: the others declare it dead
  const int victim = kNodes - 1;
  hosts[victim]->kill9();
  const auto detect_t0 = Clock::now();
  for (int i = 0; i < victim; ++i) {
    ASSERT_TRUE(wait_for([&] { return member_state(*hosts[i], "node4") == "dead"; },
                         std::chrono::seconds(20)))
        << "node" << i << " still sees " << hosts[i]->cli({"cluster", "members"}).out;
  }
  const auto detected =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - detect_t0);
  std::printf("crash detected by all %d survivors in %lld ms\n", victim,
              static_cast<long long>(detected.count()));

  // ---- a network created while it is down reaches it after the restart
  ASSERT_EQ(
      hosts[1]->cli({"network", "create", "--subnet", "10.2.0.0/24", "net-while-down"}).status, 0);
  hosts[victim]->start();
  for (int i = 0; i < kNodes; ++i) {
    ASSERT_TRUE(wait_for([&] { return member_state(*hosts[i], "node4") == "alive"; },
                         std::chrono::seconds(15)))
        << "node" << i << " sees " << hosts[i]->cli({"cluster", "members"}).out;
  }
  ASSERT_TRUE(wait_for([&] { return has_network(*hosts[victim], "net-while-down"); },
                       std::chrono::seconds(15)))
      << hosts[victim]->cli({"network", "ls", "--all"}).out << hosts[victim]->log();
  EXPECT_TRUE(has_network(*hosts[victim], "net-a"));

  // ---- the stranger is a member nowhere, and the refusal is logged
  if (rogue) {
    rogue->wait_ready();
    // Give it time to try: its joins go on in the background, and each one is refused.
    ASSERT_TRUE(
        wait_for([&] { return hosts[0]->log().find("refused gossip peers") != std::string::npos; },
                 std::chrono::seconds(15)))
        << hosts[0]->log();
    for (int i = 0; i < kNodes; ++i) {
      EXPECT_EQ(member_state(*hosts[i], "rogue"), "") << "node" << i;
    }
    EXPECT_EQ(alive_members(*rogue), 1u) << rogue->cli({"cluster", "members"}).out;
    const std::string log = hosts[0]->log();
    const auto at = log.find("refused gossip peers");
    std::printf("node0 logged: %s\n", log.substr(at, log.find('\n', at) - at).c_str());
  } else {
    std::printf("CURVE unavailable in this libzmq: wrong-key refusal not tested\n");
  }

  // ---- garbage on a gossip port is survived
  std::mt19937 gen(42);
  for (int round = 0; round < 20; ++round) {
    std::string bytes(1 + gen() % 8192, '\0');
    for (auto& b : bytes) b = static_cast<char>(gen());
    send_garbage(ports[0], bytes);
  }
  // ZMTP-looking garbage: a valid signature start, then noise.
  send_garbage(ports[0], std::string("\xff\0\0\0\0\0\0\0\x01\x7f", 10) + std::string(300, 'x'));
  ASSERT_EQ(hosts[0]->cli({"info"}).status, 0) << hosts[0]->log();
  ASSERT_EQ(
      hosts[0]->cli({"network", "create", "--subnet", "10.3.0.0/24", "net-after-garbage"}).status,
      0);
  for (int i = 0; i < kNodes; ++i) {
    ASSERT_TRUE(wait_for([&] { return has_network(*hosts[i], "net-after-garbage"); },
                         std::chrono::seconds(10)))
        << "node" << i;
    EXPECT_EQ(alive_members(*hosts[i]), static_cast<size_t>(kNodes)) << "node" << i;
  }

  // The log API answers, with every origin that wrote events.
  const json log = cli_json(*hosts[0], {"cluster", "log"});
  ASSERT_TRUE(log.is_object()) << hosts[0]->cli({"cluster", "log"}).err;
  EXPECT_GE(log["origins"].size(), static_cast<size_t>(kNodes));
  EXPECT_EQ(hosts[0]->cli({"cluster", "log"}).status, 0);
  // The hosts' destructors stop every daemon (SIGTERM: graceful leave).
}

TEST_F(ClusterProcessTest, ClusterRoutesAreUnavailableWithoutClustering) {
  TrellisHost h;
  h.start();
  const testing::Result r = h.cli({"cluster", "members"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("clustering is off"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace trellis::node
