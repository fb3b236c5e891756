// ClusterService: several nodes in one process, each with a real store in a temp dir and a
// real ZeroMQ transport on 127.0.0.1 ephemeral ports (loopback only).

#include "node/cluster/service.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "common/log.h"
#include "gossip/cluster_key.h"
#include "gossip/transport.h"
#include "node/api/cluster_json.h"
#include "store/event.h"
#include "tests/node/support/loopback_cluster.h"

namespace trellis::node {
namespace {

using std::chrono::milliseconds;
using test_support::eventually;
using testing::LoopbackCluster;
using testing::percentile;
using testing::TestNode;

// The service logs to the "cluster" logger; quiet unless TRELLIS_TEST_LOG names a level.
void quiet_cluster_log() {
  const char* level = std::getenv("TRELLIS_TEST_LOG");
  log("cluster").set_level(level ? spdlog::level::from_str(level) : spdlog::level::warn);
}

class ClusterTest : public ::testing::Test, protected LoopbackCluster {
 protected:
  void SetUp() override { quiet_cluster_log(); }

  void form(size_t count, bool durable = false) {
    ASSERT_NO_THROW(LoopbackCluster::form(count, durable));
  }

  // Crashes `victim` and expects every other running node to declare it dead; returns ms.
  double measure_detection(TestNode& victim) {
    const std::optional<double> ms = LoopbackCluster::measure_detection(victim);
    EXPECT_TRUE(ms.has_value()) << "every node declared the crashed node dead";
    return ms.value_or(0);
  }
};

TEST_F(ClusterTest, FiveNodesJoinAndAnEventAppendedOnOneIsAppliedOnAll) {
  form(5);
  const uint64_t cluster = nodes[0]->svc->cluster_id();
  ASSERT_NE(cluster, 0u);
  for (auto& n : nodes) {
    EXPECT_TRUE(eventually([&] {
      std::lock_guard lock(n->mu);
      return n->ready_vv.has_value();
    })) << "ready() ran on every node";
    EXPECT_EQ(n->svc->cluster_id(), cluster);
    EXPECT_TRUE(eventually([&] { return n->store->identity().cluster_id == cluster; }))
        << "the cluster id is persisted in the store";
  }

  auto [e, t] = nodes[2]->append("hello");
  ASSERT_TRUE(eventually([&] { return propagation_ms(*nodes[2], e.id(), t).has_value(); }));
  std::printf("[ figures  ] one event reached all of 5 nodes in %.1f ms\n",
              *propagation_ms(*nodes[2], e.id(), t));
  for (auto& n : nodes) {
    EXPECT_TRUE(n->store->read().sandbox("hello").has_value());
    EXPECT_EQ(n->store->state_digest(), nodes[2]->store->state_digest());
  }

  // The views the API renders.
  const std::vector<ClusterMember> members = nodes[0]->svc->members();
  ASSERT_EQ(members.size(), 5u);
  EXPECT_EQ(std::count_if(members.begin(), members.end(), [](auto& m) { return m.self; }), 1);
  nlohmann::json mj = members_to_json(members);
  EXPECT_EQ(mj.size(), 5u);
  EXPECT_EQ(mj[0]["state"], "alive");
  EXPECT_EQ(mj[0]["id"].get<std::string>().size(), 16u);
  const LogStatus log = nodes[0]->svc->log_status();
  EXPECT_EQ(log.cluster_id, cluster);
  auto origin = std::find_if(log.origins.begin(), log.origins.end(),
                             [&](const OriginHead& o) { return o.origin == nodes[2]->id; });
  ASSERT_NE(origin, log.origins.end());
  EXPECT_EQ(origin->head, e.seq);
  nlohmann::json lj = log_status_to_json(log);
  EXPECT_EQ(lj["version_vector"][store::format_node_id(nodes[2]->id)], e.seq);
  EXPECT_GT(nodes[2]->svc->stats().service.local_published, 0u);
  EXPECT_GT(nodes[0]->svc->stats().service.events_applied, 0u);
}

TEST_F(ClusterTest, ACrashedNodeIsDeclaredDeadAndCatchesUpWhenRestarted) {
  form(4);
  TestNode& victim = *nodes[3];
  const double detect_ms = measure_detection(victim);
  std::printf("[ figures  ] crash of 1 of 4 nodes declared dead by all in %.0f ms\n", detect_ms);
  {
    std::lock_guard lock(nodes[0]->mu);
    EXPECT_TRUE(std::any_of(nodes[0]->changes.begin(), nodes[0]->changes.end(), [&](auto& c) {
      return c.member.id == victim.id && c.member.state == gossip::MemberState::kDead;
    })) << "the daemon's member-change callback heard of the death";
  }

  // Events appended while it is down.
  std::vector<store::EventId> missed;
  for (int i = 0; i < 10; ++i)
    missed.push_back(nodes[i % 3]->append("m" + std::to_string(i)).first.id());
  ASSERT_TRUE(eventually([&] { return everyone_up_has(missed.back()); }));

  // Same data dir and port: it rejoins and catches up.
  victim.start({nodes[0]->svc->address()});
  EXPECT_TRUE(victim.svc->joined());
  ASSERT_TRUE(eventually([&] {
    return std::all_of(missed.begin(), missed.end(), [&](auto& e) { return victim.has(e); });
  })) << "the restarted node caught up on what it missed";
  ASSERT_TRUE(eventually([&] {
    return std::all_of(nodes.begin(), nodes.end(),
                       [](const auto& n) { return n->alive_count() == 4; });
  })) << "every node sees it alive again";
  EXPECT_EQ(victim.store->state_digest(), nodes[0]->store->state_digest());

  // And what it appends now reaches the others.
  auto [e, t] = victim.append("back");
  EXPECT_TRUE(eventually([&] { return everyone_up_has(e.id()); }));
}

TEST_F(ClusterTest, ANewNodeInstallsTheCompactedSnapshotWhenLogsWereCompacted) {
  form(2);
  for (int i = 0; i < 20; ++i) {
    TestNode& n = *nodes[i % 2];
    n.append("s" + std::to_string(i));
    if (i % 3 == 0) {
      n.store->append_local(store::SandboxRemoved{"s" + std::to_string(i)});
      n.svc->local_committed();
    }
  }
  ASSERT_TRUE(eventually(
      [&] { return nodes[0]->store->version_vector() == nodes[1]->store->version_vector(); }));
  // Every member has everything: both compact through the common vector.
  const store::VersionVector stable = nodes[0]->store->version_vector();
  for (auto& n : nodes) EXPECT_GT(n->store->compact(stable).dropped, 0u);

  TestNode& fresh = add_node();
  fresh.start({nodes[0]->svc->address()});
  ASSERT_TRUE(eventually([&] { return fresh.svc->stats().service.snapshots_installed == 1; }))
      << "the empty store got the compacted log as a snapshot";
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(fresh.mu);
    return fresh.ready_vv.has_value();
  }));
  {
    std::lock_guard lock(fresh.mu);
    EXPECT_FALSE(fresh.ready_vv->empty()) << "ready() came after the snapshot";
  }
  EXPECT_EQ(fresh.store->version_vector(), stable);
  EXPECT_EQ(fresh.store->state_digest(), nodes[0]->store->state_digest());

  // Replication continues on top of the snapshot.
  auto [e, t] = nodes[1]->append("after-snapshot");
  EXPECT_TRUE(eventually([&] { return fresh.has(e.id()); }));
  EXPECT_EQ(fresh.store->state_digest(), nodes[1]->store->state_digest());
}

TEST_F(ClusterTest, AGracefulStopIsSeenAsLeft) {
  form(3);
  const store::NodeId id = nodes[2]->id;
  nodes[2]->stop();
  EXPECT_TRUE(eventually(
      [&] {
        return nodes[0]->state_of(id) == gossip::MemberState::kLeft &&
               nodes[1]->state_of(id) == gossip::MemberState::kLeft;
      },
      milliseconds(5000)));
}

TEST_F(ClusterTest, PeersWithoutTheClusterKeyAreRefused) {
  if (!gossip::curve_available()) GTEST_SKIP() << "libzmq without CURVE";
  const std::string key_file = root / "cluster.key";
  const std::string other_key_file = root / "other.key";
  std::ofstream(key_file) << "# cluster key\n" << gossip::generate_cluster_key() << "\n";
  std::ofstream(other_key_file) << gossip::generate_cluster_key() << "\n";

  auto keyed = [&](TestNode& n, std::vector<std::string> seeds, const std::string& file) {
    ClusterOptions o = n.options(std::move(seeds));
    o.cluster_key_file = file;
    o.join_timeout = milliseconds(1500);
    n.start_with(std::move(o));
  };
  TestNode& a = add_node();
  keyed(a, {}, key_file);
  TestNode& b = add_node();
  keyed(b, {a.svc->address()}, key_file);
  ASSERT_TRUE(b.svc->joined()) << "holders of the key talk";

  // A peer holding another key fails the CURVE handshake (it expects another server key).
  TestNode& rogue = add_node();
  keyed(rogue, {a.svc->address()}, other_key_file);
  EXPECT_FALSE(rogue.svc->joined()) << "a wrong key never gets an answer";
  EXPECT_TRUE(eventually([&] { return a.svc->stats().gossip.transport.handshake_failures > 0; }))
      << "the refusal is counted";
  // So does a peer without encryption.
  const uint64_t failures = a.svc->stats().gossip.transport.handshake_failures;
  TestNode& plain = add_node();
  plain.start_with([&] {
    ClusterOptions o = plain.options({a.svc->address()});
    o.join_timeout = milliseconds(500);
    return o;
  }());
  EXPECT_FALSE(plain.svc->joined()) << "neither does a peer without encryption";
  EXPECT_TRUE(
      eventually([&] { return a.svc->stats().gossip.transport.handshake_failures > failures; }));

  EXPECT_EQ(a.svc->members().size(), 2u);
  EXPECT_EQ(rogue.svc->members().size(), 1u);

  // The keyed pair keeps replicating.
  auto [e, t] = a.append("secret");
  EXPECT_TRUE(eventually([&] { return b.has(e.id()); }));
  EXPECT_FALSE(rogue.has(e.id()));
}

TEST_F(ClusterTest, ANodeOfAnotherClusterIsRefusedAtStart) {
  form(2);
  // A node that founded a cluster of its own (its store remembers the id)...
  TestNode& other = add_node();
  other.start({});
  ASSERT_TRUE(eventually([&] { return other.store->identity().cluster_id != 0; }));
  const uint64_t its_cluster = other.store->identity().cluster_id;
  other.svc->stop_silently();
  other.svc.reset();
  // ...is refused by the first cluster's seed: clusters never merge.
  ClusterOptions o = other.options({nodes[0]->svc->address()});
  o.join_timeout = milliseconds(3000);
  ClusterService svc(*other.store, std::move(o));
  EXPECT_THROW(svc.start(), ConflictError);
  EXPECT_FALSE(svc.running());
  EXPECT_EQ(other.store->identity().cluster_id, its_cluster);
  EXPECT_EQ(nodes[0]->svc->members().size(), 2u);
  EXPECT_GT(nodes[0]->svc->stats().gossip.core.dropped_cluster_mismatch, 0u);
}

TEST_F(ClusterTest, GarbageSentToTheGossipPortIsSurvived) {
  form(3);
  const auto [host, port] = gossip::split_host_port(nodes[0]->svc->address());
  std::mt19937_64 rng(7);
  const std::string zmtp_like = std::string("\xff\0\0\0\0\0\0\0\x01\x7f", 10) + "\x03\x00NULL";
  for (int round = 0; round < 20; ++round) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    std::string junk = round % 2 ? zmtp_like : std::string();
    junk.resize(junk.size() + 1 + rng() % 8192);
    for (size_t i = round % 2 ? zmtp_like.size() : 0; i < junk.size(); ++i)
      junk[i] = static_cast<char>(rng());
    (void)!::write(fd, junk.data(), junk.size());
    ::close(fd);
  }
  EXPECT_TRUE(eventually([&] {
    const auto t = nodes[0]->svc->stats().gossip.transport;
    return t.handshake_failures + t.dropped_malformed + t.disconnects > 0;
  })) << "the garbage was noticed";
  auto [e, t] = nodes[1]->append("after-garbage");
  EXPECT_TRUE(eventually([&] { return everyone_up_has(e.id()); }));
  EXPECT_EQ(nodes[0]->alive_count(), 3u);
}

TEST_F(ClusterTest, PropagationAcrossFiveNodes) {
  form(5, /*durable=*/true);
  std::vector<double> ms = measure_propagation(100, milliseconds(20), 1);
  ASSERT_EQ(ms.size(), 100u);
  std::printf(
      "[ figures  ] 100 events at random nodes of 5 (durable stores): all applied after "
      "p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
      percentile(ms, 0.5), percentile(ms, 0.99), percentile(ms, 1.0));
  // Generous: this runs under sanitizers on a shared 2-core machine.
  EXPECT_LT(percentile(ms, 0.5), 1000.0);
}

}  // namespace
}  // namespace trellis::node
