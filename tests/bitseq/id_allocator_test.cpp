#include "bitseq/id_allocator.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace trellis::bitseq {
namespace {

TEST(IdAllocator, HandsOutIdsFromStart) {
  IdAllocator ids(4096, 4100);
  EXPECT_EQ(ids.get(false), 4096u);
  EXPECT_EQ(ids.get(false), 4097u);
  EXPECT_EQ(ids.free_count(), 3u);
}

TEST(IdAllocator, InvalidRangeIsRejected) {
  EXPECT_THROW(IdAllocator(10, 9), InvalidRangeError);
  EXPECT_THROW(IdAllocator(0, UINT64_MAX), InvalidRangeError);
  EXPECT_NO_THROW(IdAllocator(1, UINT64_MAX));
}

TEST(IdAllocator, GetSpecificAndRelease) {
  IdAllocator ids(100, 199);
  ids.get_specific(150);
  EXPECT_TRUE(ids.is_allocated(150));
  EXPECT_THROW(ids.get_specific(150), AlreadyAllocatedError);
  EXPECT_THROW(ids.get_specific(99), OutOfRangeError);
  EXPECT_THROW(ids.get_specific(200), OutOfRangeError);
  ids.release(150);
  ids.release(150);  // releasing a free id is fine
  EXPECT_FALSE(ids.is_allocated(150));
  EXPECT_THROW(ids.release(200), OutOfRangeError);
}

TEST(IdAllocator, GetInRange) {
  IdAllocator ids(0, 99);
  EXPECT_EQ(ids.get_in_range(50, 51, false), 50u);
  EXPECT_EQ(ids.get_in_range(50, 51, false), 51u);
  EXPECT_THROW(ids.get_in_range(50, 51, false), NoBitAvailableError);
  EXPECT_THROW(ids.get_in_range(51, 50, false), InvalidRangeError);
  EXPECT_THROW(ids.get_in_range(90, 100, false), InvalidRangeError);
}

TEST(IdAllocator, SerialWrapsAndSurvivesRestart) {
  IdAllocator ids(10, 13);
  EXPECT_EQ(ids.get(true), 10u);
  EXPECT_EQ(ids.get(true), 11u);
  ids.release(10);
  IdAllocator restored = IdAllocator::deserialize(ids.serialize());
  EXPECT_EQ(restored, ids);
  EXPECT_EQ(restored.get(true), 12u);
  EXPECT_EQ(restored.get(true), 13u);
  EXPECT_EQ(restored.get(true), 10u);
  EXPECT_THROW(restored.get(true), NoBitAvailableError);
}

TEST(IdAllocator, VniSpaceDrainsWithoutDuplicates) {
  IdAllocator vnis(4096, 4096 + 9999);
  std::set<uint64_t> seen;
  for (int i = 0; i < 10000; ++i) ASSERT_TRUE(seen.insert(vnis.get(true)).second);
  EXPECT_THROW(vnis.get(false), NoBitAvailableError);
  EXPECT_EQ(*seen.begin(), 4096u);
  EXPECT_EQ(*seen.rbegin(), 4096u + 9999u);
}

TEST(IdAllocator, CorruptBuffersAreRejected) {
  IdAllocator ids(5, 500);
  ids.get_specific(77);
  const std::string good = ids.serialize();
  for (size_t cut = 0; cut < good.size(); ++cut) {
    EXPECT_THROW(IdAllocator::deserialize(good.substr(0, cut)), CorruptDataError);
  }
  std::mt19937 rng(1);
  for (int trial = 0; trial < 2000; ++trial) {
    std::string bad = good;
    bad[rng() % bad.size()] = static_cast<char>(rng());
    try {
      IdAllocator decoded = IdAllocator::deserialize(bad);
      EXPECT_EQ(IdAllocator::deserialize(decoded.serialize()), decoded);
    } catch (const CorruptDataError&) {
    }
  }
}

}  // namespace
}  // namespace trellis::bitseq
