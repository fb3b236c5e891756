// StoreReplicatedLog: the gossip core's view of a real LMDB store (temp dirs).

#include "node/cluster/store_replicated_log.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "store/event.h"
#include "store/store.h"
#include "tests/node/support/temp_dir.h"

namespace trellis::node {
namespace {

using testing::TempDir;

constexpr store::NodeId kA = 0xa1;
constexpr store::NodeId kB = 0xb2;
constexpr store::NodeId kC = 0xc3;

store::Options options(store::NodeId id) {
  store::Options o;
  o.node_id = id;
  o.node_name = "node-" + std::to_string(id);
  o.durable = false;
  o.wall_clock_ms = [] { return int64_t{1700000000000}; };
  return o;
}

store::SandboxCreated sandbox(const std::string& id, size_t padding = 0) {
  store::SandboxCreated s;
  s.id = id;
  s.container_id = "c-" + id;
  s.hostname = "h" + std::string(padding, 'x');
  return s;
}

struct StoreReplicatedLogTest : ::testing::Test {
  TempDir dir;
  store::Store open(store::NodeId id) {
    return store::Store::open(dir / store::format_node_id(id), options(id));
  }
  // Entries of `origin` as gossip carries them.
  static std::vector<gossip::LogEntry> entries(const store::Store& s, store::NodeId origin,
                                               uint64_t after = 0) {
    std::vector<gossip::LogEntry> out;
    for (const store::Event& e : s.events_after(origin, after, 1 << 20)) {
      out.push_back({e.origin, e.seq, store::encode_event(e)});
    }
    return out;
  }
};

TEST_F(StoreReplicatedLogTest, VersionVectorMirrorsTheStoreHeads) {
  store::Store a = open(kA);
  store::Store b = open(kB);
  StoreReplicatedLog la(a), lb(b);
  EXPECT_TRUE(lb.version_vector().empty());
  for (int i = 0; i < 3; ++i) a.append_local(sandbox("s" + std::to_string(i)));
  EXPECT_EQ(la.version_vector(), (gossip::VersionVector{{kA, 3}}));
  lb.apply(entries(a, kA));
  b.append_local(sandbox("b0"));
  EXPECT_EQ(lb.version_vector(), (gossip::VersionVector{{kA, 3}, {kB, 1}}));
}

TEST_F(StoreReplicatedLogTest, EntriesAfterAreContiguousExactAndByteBounded) {
  store::Store a = open(kA);
  StoreReplicatedLog log(a);
  std::vector<store::Event> written;
  for (int i = 0; i < 150; ++i)
    written.push_back(a.append_local(sandbox("s" + std::to_string(i), 100)));

  gossip::LogRead all = log.entries_after(kA, 0, size_t{1} << 30);
  EXPECT_FALSE(all.compacted);
  ASSERT_EQ(all.entries.size(), 150u) << "reads span several cursor batches";
  for (size_t i = 0; i < all.entries.size(); ++i) {
    EXPECT_EQ(all.entries[i].origin, kA);
    EXPECT_EQ(all.entries[i].seq, i + 1);
    EXPECT_EQ(store::decode_event(all.entries[i].encoded), written[i]);
  }

  // A budget of exactly three entries' bytes gives three entries, one byte less gives two.
  const size_t three =
      all.entries[5].encoded.size() + all.entries[6].encoded.size() + all.entries[7].encoded.size();
  gossip::LogRead r = log.entries_after(kA, 5, three);
  ASSERT_EQ(r.entries.size(), 3u);
  EXPECT_EQ(r.entries.front().seq, 6u);
  EXPECT_EQ(r.entries.back().seq, 8u);
  EXPECT_EQ(log.entries_after(kA, 5, three - 1).entries.size(), 2u);
  // At least one entry even when it alone exceeds the budget.
  EXPECT_EQ(log.entries_after(kA, 5, 1).entries.size(), 1u);

  EXPECT_TRUE(log.entries_after(kA, 150, 1 << 20).entries.empty());
  gossip::LogRead unknown = log.entries_after(kB, 0, 1 << 20);
  EXPECT_TRUE(unknown.entries.empty());
  EXPECT_FALSE(unknown.compacted);
}

TEST_F(StoreReplicatedLogTest, ReadsBelowTheCompactionFloorReportCompacted) {
  store::Store a = open(kA);
  StoreReplicatedLog log(a);
  for (int i = 0; i < 10; ++i) {
    a.append_local(sandbox("s" + std::to_string(i)));
    a.append_local(store::SandboxRemoved{"s" + std::to_string(i)});
  }
  a.append_local(sandbox("kept"));
  const store::CompactionStats st = a.compact({{kA, 21}});
  EXPECT_GT(st.dropped, 0u);

  gossip::LogRead below = log.entries_after(kA, 0, 1 << 20);
  EXPECT_TRUE(below.compacted);
  EXPECT_TRUE(below.entries.empty());
  EXPECT_TRUE(log.entries_after(kA, 20, 1 << 20).compacted);

  gossip::LogRead at_floor = log.entries_after(kA, 21, 1 << 20);
  EXPECT_FALSE(at_floor.compacted);
  EXPECT_TRUE(at_floor.entries.empty());
  a.append_local(sandbox("later"));
  gossip::LogRead after = log.entries_after(kA, 21, 1 << 20);
  ASSERT_EQ(after.entries.size(), 1u);
  EXPECT_EQ(after.entries[0].seq, 22u);
}

TEST_F(StoreReplicatedLogTest, SnapshotInstalledIntoAnEmptyStoreGivesTheSameState) {
  store::Store a = open(kA);
  store::Store b = open(kB);
  StoreReplicatedLog la(a), lb(b);
  for (int i = 0; i < 20; ++i) a.append_local(sandbox("a" + std::to_string(i)));
  for (int i = 0; i < 15; ++i) a.append_local(store::SandboxRemoved{"a" + std::to_string(i)});
  lb.apply(entries(a, kA));
  for (int i = 0; i < 5; ++i) b.append_local(sandbox("b" + std::to_string(i)));
  la.apply(entries(b, kB));
  a.compact(a.version_vector());

  gossip::LogSnapshot snap = la.snapshot();
  EXPECT_EQ(snap.vv, la.version_vector());
  EXPECT_LT(snap.entries.size(), 40u) << "compacted: superseded events are not shipped";

  store::Store c = open(kC);
  StoreReplicatedLog lc(c);
  EXPECT_TRUE(lc.can_install_snapshot());
  lc.install(snap);
  EXPECT_FALSE(lc.can_install_snapshot());
  EXPECT_EQ(c.state_digest(), a.state_digest());
  EXPECT_EQ(c.version_vector(), a.version_vector());
  EXPECT_EQ(c.digest_from_scratch(), c.state_digest());
  // Below the snapshot's floors the new store also reports compacted.
  EXPECT_TRUE(lc.entries_after(kA, 0, 1 << 20).compacted);
  EXPECT_THROW(lc.install(snap), ConflictError);

  // Afterwards it keeps replicating normally.
  a.append_local(sandbox("a-new"));
  lc.apply(la.entries_after(kA, snap.vv.at(kA), 1 << 20).entries);
  EXPECT_EQ(c.state_digest(), a.state_digest());
}

TEST_F(StoreReplicatedLogTest, DuplicatesAreIgnoredAndGapsHeldUntilFilled) {
  store::Store a = open(kA);
  store::Store b = open(kB);
  StoreReplicatedLog lb(b);
  for (int i = 0; i < 8; ++i) a.append_local(sandbox("s" + std::to_string(i)));
  const std::vector<gossip::LogEntry> all = entries(a, kA);

  RemoteApply r = lb.apply({all[0], all[1], all[2]});
  EXPECT_EQ(r.changes.applied.size(), 3u);
  r = lb.apply({all[1], all[2], all[3], all[4]});
  EXPECT_EQ(r.changes.applied.size(), 2u);
  EXPECT_EQ(r.changes.duplicates, 2u);
  EXPECT_EQ(r.dropped, 0u);

  r = lb.apply({all[6]});  // seq 7 after a gap at 6
  EXPECT_TRUE(r.changes.applied.empty());
  EXPECT_EQ(r.changes.held, 1u);
  EXPECT_EQ(lb.version_vector(), (gossip::VersionVector{{kA, 5}}));
  r = lb.apply({all[5]});
  EXPECT_EQ(r.changes.applied.size(), 2u) << "the held event follows its gap";
  EXPECT_EQ(lb.version_vector(), (gossip::VersionVector{{kA, 7}}));
  lb.apply({all[7]});
  EXPECT_EQ(b.read().sandboxes().size(), 8u);
}

TEST_F(StoreReplicatedLogTest, GarbageAndForgedEntriesAreDroppedAndTheRestApplied) {
  store::Store a = open(kA);
  store::Store b = open(kB);
  StoreReplicatedLog lb(b);
  b.append_local(sandbox("mine"));
  for (int i = 0; i < 3; ++i) a.append_local(sandbox("s" + std::to_string(i)));
  std::vector<gossip::LogEntry> all = entries(a, kA);

  // Garbage bytes, an entry whose label does not match its content, and an event claiming to
  // be B's own seq 9 (B wrote only seq 1).
  gossip::LogEntry garbage{kA, 2, std::string("\xc1\xff\x00garbage", 10)};
  gossip::LogEntry mislabelled{kA, 3, all[0].encoded};
  store::Event forged = store::decode_event(all[0].encoded);
  forged.origin = kB;
  forged.seq = 9;
  gossip::LogEntry forged_entry{kB, 9, store::encode_event(forged)};

  RemoteApply r = lb.apply({all[0], garbage, mislabelled, forged_entry, all[1], all[2]});
  EXPECT_EQ(r.dropped, 3u);
  EXPECT_EQ(r.changes.applied.size(), 3u);
  EXPECT_EQ(lb.version_vector(), (gossip::VersionVector{{kA, 3}, {kB, 1}}));
  EXPECT_EQ(b.digest_from_scratch(), b.state_digest());
}

}  // namespace
}  // namespace trellis::node
