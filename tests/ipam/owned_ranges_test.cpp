#include "ipam/owned_ranges.h"

#include <gtest/gtest.h>

namespace trellis::ipam {
namespace {

using Ownership = std::vector<std::pair<Range, NodeId>>;

constexpr NodeId kA = 1;
constexpr NodeId kB = 2;
constexpr NodeId kC = 3;

TEST(OwnedRanges, FounderOwnsTheWholeSpace) {
  OwnedRanges r(100, 199, kA);
  EXPECT_EQ(r.space(), (Range{100, 199}));
  EXPECT_EQ(r.owner_of(100), kA);
  EXPECT_EQ(r.owner_of(199), kA);
  EXPECT_THROW(r.owner_of(99), bitseq::OutOfRangeError);
  EXPECT_THROW(r.owner_of(200), bitseq::OutOfRangeError);
  EXPECT_EQ(r.owned_count(kA), 100u);
  EXPECT_EQ(r.owned_count(kB), 0u);
  EXPECT_EQ(r.owners(), std::vector<NodeId>{kA});
  EXPECT_EQ(r.all(), (Ownership{{{100, 199}, kA}}));
}

TEST(OwnedRanges, RejectsEmptyAndFull64BitSpaces) {
  EXPECT_THROW(OwnedRanges(5, 4, kA), InvalidArgumentError);
  EXPECT_THROW(OwnedRanges(0, UINT64_MAX, kA), InvalidArgumentError);
  EXPECT_NO_THROW(OwnedRanges(1, UINT64_MAX, kA));
  EXPECT_NO_THROW(OwnedRanges(0, UINT64_MAX - 1, kA));
  EXPECT_NO_THROW(OwnedRanges(7, 7, kA));
}

TEST(OwnedRanges, DonationSplitsAndReturningItMergesBack) {
  OwnedRanges r(0, 99, kA);
  r.apply(Donation{kA, kB, {10, 19}});
  EXPECT_EQ(r.all(), (Ownership{{{0, 9}, kA}, {{10, 19}, kB}, {{20, 99}, kA}}));
  EXPECT_EQ(r.ranges_of(kA), (std::vector<Range>{{0, 9}, {20, 99}}));
  EXPECT_EQ(r.owner_of(15), kB);
  EXPECT_EQ(r.owned_count(kA), 90u);
  r.apply(Donation{kB, kA, {10, 19}});
  EXPECT_EQ(r, OwnedRanges(0, 99, kA));
  EXPECT_EQ(r.serialize(), OwnedRanges(0, 99, kA).serialize());
}

TEST(OwnedRanges, AdjacentDonationsToTheSameNodeMerge) {
  OwnedRanges r(0, 99, kA);
  r.apply(Donation{kA, kB, {90, 99}});
  r.apply(Donation{kA, kB, {80, 89}});
  r.apply(Donation{kA, kB, {0, 0}});
  EXPECT_EQ(r.all(), (Ownership{{{0, 0}, kB}, {{1, 79}, kA}, {{80, 99}, kB}}));
  EXPECT_TRUE(r.owns(kB, {80, 99}));
  EXPECT_FALSE(r.owns(kB, {79, 99}));
  EXPECT_FALSE(r.owns(kB, {80, 100}));
  EXPECT_FALSE(r.owns(kB, {90, 80}));
}

TEST(OwnedRanges, ApplyingTwiceIsApplyingOnce) {
  OwnedRanges once(0, 99, kA);
  once.apply(Donation{kA, kB, {40, 59}});
  OwnedRanges twice = once;
  twice.apply(Donation{kA, kB, {40, 59}});
  EXPECT_EQ(once, twice);
  // Also a sub-range of something already received is a no-op.
  twice.apply(Donation{kA, kB, {45, 50}});
  EXPECT_EQ(once, twice);
}

TEST(OwnedRanges, InvalidOrForeignDonationsChangeNothing) {
  OwnedRanges r(0, 99, kA);
  r.apply(Donation{kA, kB, {10, 19}});
  const OwnedRanges before = r;
  // C does not own it; A owns only part of it.
  EXPECT_THROW(r.apply(Donation{kC, kB, {30, 39}}), ConflictError);
  EXPECT_THROW(r.apply(Donation{kA, kC, {5, 14}}), ConflictError);
  // Partly owned by the recipient already, partly by the donor: not a replay, a conflict.
  EXPECT_THROW(r.apply(Donation{kA, kB, {15, 25}}), ConflictError);
  EXPECT_THROW(r.apply(Donation{kA, kA, {0, 5}}), InvalidArgumentError);
  EXPECT_THROW(r.apply(Donation{kA, kB, {90, 100}}), InvalidArgumentError);
  EXPECT_THROW(r.apply(Donation{kA, kB, {9, 8}}), InvalidArgumentError);
  EXPECT_EQ(r, before);
  try {
    r.apply(Donation{kC, kB, {30, 39}});
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kConflict);
    EXPECT_NE(std::string(e.what()).find("[30, 39]"), std::string::npos) << e.what();
  }
}

TEST(OwnedRanges, ReassignAllHandsEverythingToTheHeirAndMerges) {
  OwnedRanges r(0, 99, kA);
  r.apply(Donation{kA, kB, {10, 19}});
  r.apply(Donation{kA, kC, {20, 29}});
  r.apply(Donation{kA, kB, {30, 39}});
  r.reassign_all(kB, kC);
  EXPECT_EQ(r.all(), (Ownership{{{0, 9}, kA}, {{10, 39}, kC}, {{40, 99}, kA}}));
  r.reassign_all(kC, kA);
  EXPECT_EQ(r, OwnedRanges(0, 99, kA));
  r.reassign_all(kB, kA);  // owns nothing: no-op
  r.reassign_all(kA, kA);
  EXPECT_EQ(r, OwnedRanges(0, 99, kA));
}

TEST(OwnedRanges, SerializationRoundTripsByteExact) {
  OwnedRanges r(5, UINT64_MAX, kA);
  r.apply(Donation{kA, kB, {1000, 1999}});
  r.apply(Donation{kA, 0xFFFFFFFFFFFFFFFFull, {UINT64_MAX, UINT64_MAX}});
  const std::string bytes = r.serialize();
  const OwnedRanges back = OwnedRanges::deserialize(bytes);
  EXPECT_EQ(back, r);
  EXPECT_EQ(back.serialize(), bytes);
}

TEST(OwnedRanges, EqualOwnershipSerializesIdenticallyWhateverTheHistory) {
  OwnedRanges direct(0, 99, kA);
  direct.apply(Donation{kA, kB, {50, 99}});
  OwnedRanges piecewise(0, 99, kA);
  piecewise.apply(Donation{kA, kB, {75, 99}});
  piecewise.apply(Donation{kA, kC, {50, 74}});
  piecewise.apply(Donation{kC, kB, {50, 60}});
  piecewise.apply(Donation{kC, kB, {61, 74}});
  EXPECT_EQ(direct, piecewise);
  EXPECT_EQ(direct.serialize(), piecewise.serialize());
}

OwnedSpace space_of(uint64_t first, uint64_t last) { return OwnedSpace(first, last, kA); }

TEST(OwnedSpace, AllocationIsRestrictedToOwnedRanges) {
  OwnedSpace s = space_of(0, 99);
  s.apply(Donation{kA, kB, {50, 59}});
  EXPECT_EQ(s.allocate(kB, false), 50u);
  EXPECT_EQ(s.allocate(kA, false), 0u);
  s.allocate_specific(kB, 59);
  try {
    s.allocate_specific(kB, 10);
    FAIL();
  } catch (const NotOwnerError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kConflict);
  }
  EXPECT_THROW(s.allocate_specific(kA, 55), NotOwnerError);
  EXPECT_THROW(s.allocate_specific(kC, 0), NotOwnerError);
  EXPECT_THROW(s.allocate_specific(kA, 0), bitseq::AlreadyAllocatedError);
  EXPECT_THROW(s.allocate_specific(kA, 100), bitseq::OutOfRangeError);
  // B drains its ten and stops; A never gets B's integers.
  for (int i = 0; i < 8; ++i) {
    const uint64_t got = s.allocate(kB, i % 2 == 0);
    EXPECT_GE(got, 50u);
    EXPECT_LE(got, 59u);
  }
  EXPECT_EQ(s.free_count(kB), 0u);
  try {
    s.allocate(kB, false);
    FAIL();
  } catch (const bitseq::NoBitAvailableError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnavailable);
  }
  EXPECT_THROW(s.allocate(kC, false), bitseq::NoBitAvailableError);
  for (int i = 0; i < 89; ++i) {
    const uint64_t got = s.allocate(kA, false);
    EXPECT_TRUE(got < 50 || got > 59) << got;
  }
  EXPECT_THROW(s.allocate(kA, true), bitseq::NoBitAvailableError);
}

TEST(OwnedSpace, FreeCountsFollowAllocationsAndDonations) {
  OwnedSpace s = space_of(10, 109);
  EXPECT_EQ(s.free_by_owner(), (std::map<NodeId, uint64_t>{{kA, 100}}));
  s.allocate_specific(kA, 10);
  s.apply(Donation{kA, kB, {60, 109}});
  EXPECT_EQ(s.free_by_owner(), (std::map<NodeId, uint64_t>{{kA, 49}, {kB, 50}}));
  s.allocate(kB, false);
  s.release(10);
  s.release(10);  // releasing a free integer is fine
  EXPECT_EQ(s.free_by_owner(), (std::map<NodeId, uint64_t>{{kA, 50}, {kB, 49}}));
  EXPECT_THROW(s.release(110), bitseq::OutOfRangeError);
  EXPECT_THROW(s.is_allocated(9), bitseq::OutOfRangeError);
  s.reassign_all(kB, kC);
  EXPECT_EQ(s.free_by_owner(), (std::map<NodeId, uint64_t>{{kA, 50}, {kC, 49}}));
  EXPECT_EQ(s.free_count(kB), 0u);
  EXPECT_TRUE(s.is_allocated(60));
  // The deserialized space recounts the same.
  EXPECT_EQ(OwnedSpace::deserialize(s.serialize()).free_by_owner(), s.free_by_owner());
}

TEST(OwnedSpace, DonationOfAllocatedIntegersIsRefused) {
  OwnedSpace s = space_of(0, 99);
  s.allocate_specific(kA, 70);
  const OwnedSpace before = s;
  EXPECT_THROW(s.apply(Donation{kA, kB, {60, 79}}), ConflictError);
  EXPECT_EQ(s, before);
  s.apply(Donation{kA, kB, {71, 99}});
  s.allocate_specific(kB, 80);
  // A replay after the recipient allocated is still a no-op, not a conflict.
  const OwnedSpace after = s;
  s.apply(Donation{kA, kB, {71, 99}});
  EXPECT_EQ(s, after);
}

TEST(OwnedSpace, PlanGivesHalfOfTheLargestFreeRunKeepingItsStart) {
  OwnedSpace s = space_of(0, 99);
  EXPECT_EQ(s.plan_donation(kA, kB, 1000), (Donation{kA, kB, {50, 99}}));
  EXPECT_EQ(s.plan_donation(kA, kB, 10), (Donation{kA, kB, {90, 99}}));
  EXPECT_EQ(s.plan_donation(kA, kB, 0), std::nullopt);
  EXPECT_THROW(s.plan_donation(kA, kA, 10), InvalidArgumentError);
  EXPECT_EQ(s.plan_donation(kB, kA, 10), std::nullopt);  // B owns nothing
  // Runs: [0,9] taken, [10,29] free (20), [30] taken, [31,59] free (29), [60,99] B's.
  for (uint64_t i = 0; i < 10; ++i) s.allocate_specific(kA, i);
  s.allocate_specific(kA, 30);
  s.apply(Donation{kA, kB, {60, 99}});
  EXPECT_EQ(s.plan_donation(kA, kC, 1000), (Donation{kA, kC, {46, 59}}));  // 29 / 2 = 14
  // Equal longest runs: the lowest one is used.
  OwnedSpace t = space_of(0, 20);
  t.allocate_specific(kA, 10);
  EXPECT_EQ(t.plan_donation(kA, kB, 100), (Donation{kA, kB, {5, 9}}));
  // A run of one is donated whole.
  OwnedSpace u = space_of(0, 2);
  u.allocate_specific(kA, 0);
  u.allocate_specific(kA, 2);
  EXPECT_EQ(u.plan_donation(kA, kB, 100), (Donation{kA, kB, {1, 1}}));
  u.allocate_specific(kA, 1);
  EXPECT_EQ(u.plan_donation(kA, kB, 100), std::nullopt);
  // Planning changes nothing.
  EXPECT_EQ(s, OwnedSpace::deserialize(s.serialize()));
}

TEST(OwnedSpace, PlanFindsRunsAcrossRepeatedBlocks) {
  // Every fourth integer taken over 4,096 integers: runs of 3 everywhere, except at the end
  // where a long free run starts; the repeated blocks must not hide it or its length.
  OwnedSpace s = space_of(0, 8191);
  for (uint64_t i = 0; i < 4096; i += 4) s.allocate_specific(kA, i);
  s.allocate_specific(kA, 4100);
  // Free runs: [1,3], [5,7], ..., [4093,4095]+[4096,4099] = [4093,4099] (7), [4101,8191].
  EXPECT_EQ(s.plan_donation(kA, kB, UINT64_MAX), (Donation{kA, kB, {8191 - 2044, 8191}}));
  OwnedSpace t = space_of(0, 8191);
  for (uint64_t i = 0; i < 8192; i += 4) t.allocate_specific(kA, i);
  EXPECT_EQ(t.plan_donation(kA, kB, UINT64_MAX), (Donation{kA, kB, {3, 3}}));  // 3 / 2 = 1
}

TEST(OwnedSpace, SerialCursorsArePerNode) {
  OwnedSpace s = space_of(0, 9);
  s.apply(Donation{kA, kB, {5, 9}});
  EXPECT_EQ(s.allocate(kA, true), 0u);
  EXPECT_EQ(s.allocate(kB, true), 5u);
  EXPECT_EQ(s.allocate(kA, true), 1u);
  EXPECT_EQ(s.allocate(kA, true), 2u);
  s.release(1);
  EXPECT_EQ(s.allocate(kA, true), 3u);  // not 1 again at once
  EXPECT_EQ(s.allocate(kA, true), 4u);
  EXPECT_EQ(s.allocate(kA, true), 1u);  // wrapped
  EXPECT_EQ(s.allocate(kB, true), 6u);
  s.release(0);
  EXPECT_EQ(s.allocate(kA, false), 0u);
}

TEST(OwnedSpace, SerialCursorSurvivesSerialization) {
  OwnedSpace s = space_of(0, 9);
  s.allocate(kA, true);
  s.allocate(kA, true);
  s.release(0);
  OwnedSpace back = OwnedSpace::deserialize(s.serialize());
  EXPECT_EQ(back, s);
  EXPECT_EQ(back.allocate(kA, true), 2u);
}

TEST(OwnedSpace, SerializationRoundTripsByteExact) {
  OwnedSpace s = space_of(1000, 1000 + 65535);
  s.apply(Donation{kA, kB, {2000, 2999}});
  s.apply(Donation{kA, kC, {60000, 66535}});
  for (int i = 0; i < 100; ++i) s.allocate(kB, i % 3 == 0);
  for (int i = 0; i < 77; ++i) s.allocate(kC, true);
  s.allocate_specific(kA, 1500);
  const std::string bytes = s.serialize();
  const OwnedSpace back = OwnedSpace::deserialize(bytes);
  EXPECT_EQ(back, s);
  EXPECT_EQ(back.serialize(), bytes);
  EXPECT_EQ(back.free_by_owner(), s.free_by_owner());
}

TEST(OwnedSpace, RejectsTooLargeSpaces) {
  EXPECT_THROW(OwnedSpace(0, UINT64_MAX, kA), InvalidArgumentError);
  EXPECT_THROW(OwnedSpace(3, 2, kA), InvalidArgumentError);
  OwnedSpace huge(1, UINT64_MAX, kA);  // 2^64-1 integers, e.g. an IPv6 /64's offsets
  EXPECT_EQ(huge.allocate(kA, false), 1u);
  huge.apply(Donation{kA, kB, {UINT64_MAX / 2, UINT64_MAX}});
  EXPECT_EQ(huge.allocate(kB, true), UINT64_MAX / 2);
  huge.allocate_specific(kB, UINT64_MAX);
  EXPECT_EQ(huge.plan_donation(kB, kC, 8), (Donation{kB, kC, {UINT64_MAX - 8, UINT64_MAX - 1}}));
  EXPECT_EQ(OwnedSpace::deserialize(huge.serialize()), huge);
}

}  // namespace
}  // namespace trellis::ipam
