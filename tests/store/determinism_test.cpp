// Any interleaving of the per-origin logs yields byte-identical state, and state built from a
// (compacted) snapshot equals state built from the full history.

#include <gtest/gtest.h>

#include "tests/store/sim_cluster.h"

namespace trellis::store {
namespace {

using testing::SimCluster;
using testing::TempDir;
using testing::test_options;

struct History {
  std::map<NodeId, std::vector<Event>> logs;
  std::string digest;  // of the fully synced simulated nodes
  size_t events = 0;
};

History make_history(const TempDir& dir, uint64_t seed, int steps) {
  SimCluster cluster(dir, 4, seed);
  for (int i = 0; i < steps; ++i) cluster.step();
  cluster.full_sync();
  History h;
  h.logs = cluster.logs();
  for (const auto& [o, l] : h.logs) h.events += l.size();
  h.digest = cluster.node(0).state_digest();
  for (int i = 1; i < cluster.size(); ++i) {
    EXPECT_EQ(cluster.node(i).state_digest(), h.digest) << "simulated node " << i;
  }
  return h;
}

class DeterminismTest : public ::testing::TestWithParam<uint64_t> {};

TEST_P(DeterminismTest, EveryInterleavingOfTheLogsYieldsTheSameState) {
  TempDir dir;
  const History h = make_history(dir, GetParam(), 700);
  ASSERT_GT(h.events, 250u);
  std::map<std::string, int> kinds;
  size_t cross = 0;
  for (const auto& [o, l] : h.logs) {
    for (const auto& e : l) {
      ++kinds[body_type_name(e.body)];
      if (!e.deps.empty()) ++cross;
    }
  }
  for (const char* k :
       {"network-created", "network-removed", "endpoint-created", "endpoint-updated",
        "endpoint-removed", "range-donated", "endpoint-joined", "node-removed"}) {
    EXPECT_GT(kinds[k], 0) << k;
  }
  EXPECT_GT(cross, 20u) << "events with cross-origin dependencies";
  std::mt19937_64 rng(GetParam() * 31 + 1);
  for (int round = 0; round < 8; ++round) {
    Store s = Store::open(dir.sub("replay" + std::to_string(round)), test_options(0x77));
    testing::feed_random(s, h.logs, rng, /*shuffle=*/round % 2 == 1);
    EXPECT_TRUE(s.pending().empty());
    EXPECT_EQ(s.state_digest(), h.digest) << "round " << round;
    if (round == 0) {
      EXPECT_EQ(s.digest_from_scratch(), h.digest);
    }
  }
}

TEST_P(DeterminismTest, StateFromASnapshotEqualsStateFromHistory) {
  TempDir dir;
  const History h = make_history(dir, GetParam(), 700);
  std::mt19937_64 rng(GetParam());
  Store full = Store::open(dir.sub("full"), test_options(0x77));
  testing::feed_random(full, h.logs, rng, false);
  ASSERT_EQ(full.state_digest(), h.digest);

  // Snapshot of the uncompacted store, then of the compacted one.
  for (int compacted = 0; compacted < 2; ++compacted) {
    if (compacted) {
      const uint64_t before = full.counts().events;
      CompactionStats st = full.compact(full.version_vector());
      EXPECT_GT(st.dropped, 0u);
      EXPECT_EQ(full.counts().events, before - st.dropped);
      EXPECT_EQ(full.state_digest(), h.digest);
      EXPECT_EQ(full.digest_from_scratch(), h.digest);
    }
    Snapshot snap = full.snapshot();
    std::vector<Event> events;
    for (auto c = snap.next(64); !c.empty(); c = snap.next(64))
      events.insert(events.end(), c.begin(), c.end());
    EXPECT_LT(events.size(), h.events);
    Store fresh = Store::open(dir.sub("fresh" + std::to_string(compacted)), test_options(0x88));
    fresh.install_snapshot(snap.version_vector(), events);
    EXPECT_EQ(fresh.state_digest(), h.digest) << (compacted ? "compacted" : "full");
    EXPECT_EQ(fresh.version_vector(), full.version_vector());
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, DeterminismTest, ::testing::Values(1, 2, 3, 4, 5));

}  // namespace
}  // namespace trellis::store
