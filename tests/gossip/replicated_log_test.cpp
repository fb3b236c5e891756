#include "gossip/replicated_log.h"

#include <gtest/gtest.h>

namespace trellis::gossip {
namespace {

TEST(MemoryLogTest, AppliesInOrderHoldsGapsAndIgnoresDuplicates) {
  MemoryLog log;
  auto added = log.apply({{7, 2, "b"}, {7, 4, "d"}});
  EXPECT_TRUE(added.empty());
  EXPECT_EQ(log.held_entries(), 2u);
  added = log.apply({{7, 1, "a"}, {7, 1, "a"}});
  ASSERT_EQ(added.size(), 2u);
  EXPECT_EQ(added[0].seq, 1u);
  EXPECT_EQ(added[1].seq, 2u);
  EXPECT_EQ(log.head(7), 2u);
  added = log.apply({{7, 3, "c"}});
  ASSERT_EQ(added.size(), 2u);
  EXPECT_EQ(log.head(7), 4u);
  EXPECT_EQ(log.held_entries(), 0u);
  EXPECT_EQ(log.version_vector(), (VersionVector{{7, 4}}));
}

TEST(MemoryLogTest, EntriesAfterStopsAtTheByteLimitButReturnsAtLeastOne) {
  MemoryLog log;
  for (int i = 0; i < 10; ++i) log.append(1, std::string(100, 'x'));
  EXPECT_EQ(log.entries_after(1, 0, 350).entries.size(), 3u);
  EXPECT_EQ(log.entries_after(1, 0, 10).entries.size(), 1u);
  auto read = log.entries_after(1, 8, 10000);
  ASSERT_EQ(read.entries.size(), 2u);
  EXPECT_EQ(read.entries[0].seq, 9u);
  EXPECT_TRUE(log.entries_after(2, 0, 100).entries.empty());
}

TEST(MemoryLogTest, CompactionReportsCompactedReadsAndSnapshotsReinstall) {
  MemoryLog log;
  for (int i = 0; i < 10; ++i) {
    std::string body = "e";  // (not "e" + ...: GCC 12 -O3 warns falsely, -Wrestrict)
    body += std::to_string(i + 1);
    log.append(1, std::move(body));
  }
  log.compact({{1, 6}});
  EXPECT_TRUE(log.entries_after(1, 3, 1000).compacted);
  EXPECT_FALSE(log.entries_after(1, 6, 1000).compacted);
  LogSnapshot snap = log.snapshot();
  EXPECT_EQ(snap.vv, (VersionVector{{1, 10}}));
  EXPECT_EQ(snap.entries.size(), 4u);

  MemoryLog fresh;
  fresh.install(snap);
  EXPECT_EQ(fresh.head(1), 10u);
  EXPECT_TRUE(fresh.entries_after(1, 0, 1000).compacted);
  EXPECT_EQ(fresh.entries_after(1, 6, 1000).entries.size(), 4u);
}

}  // namespace
}  // namespace trellis::gossip
