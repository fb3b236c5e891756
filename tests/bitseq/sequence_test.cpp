#include "bitseq/sequence.h"

#include <gtest/gtest.h>
#include <msgpack.hpp>

#include <random>

namespace trellis::bitseq {
namespace {

TEST(Sequence, StartsEmptyAsOneRun) {
  Sequence seq(1000);
  EXPECT_EQ(seq.bits(), 1000u);
  EXPECT_EQ(seq.unselected(), 1000u);
  EXPECT_EQ(seq.run_count(), 1u);
  EXPECT_FALSE(seq.is_set(0));
  EXPECT_FALSE(seq.is_set(999));
}

TEST(Sequence, ZeroLengthIsRejected) { EXPECT_THROW(Sequence(0), InvalidArgumentError); }

TEST(Sequence, OrdinalZeroIsMostSignificantBitOfFirstBlock) {
  Sequence seq(64);
  seq.set(0);
  EXPECT_EQ(seq.to_string(), "bits=64 free=63 next=0 runs=[(0x80000000,1) (0x0,1)]");
  seq.set(63);
  EXPECT_EQ(seq.to_string(), "bits=64 free=62 next=0 runs=[(0x80000000,1) (0x1,1)]");
}

TEST(Sequence, SetUnsetIsSet) {
  Sequence seq(100);
  seq.set(42);
  EXPECT_TRUE(seq.is_set(42));
  EXPECT_EQ(seq.unselected(), 99u);
  seq.unset(42);
  EXPECT_FALSE(seq.is_set(42));
  EXPECT_EQ(seq.unselected(), 100u);
  EXPECT_EQ(seq.run_count(), 1u);
}

TEST(Sequence, SettingASetBitIsAlreadyAllocated) {
  Sequence seq(10);
  seq.set(3);
  EXPECT_THROW(seq.set(3), AlreadyAllocatedError);
  EXPECT_EQ(seq.unselected(), 9u);
}

TEST(Sequence, UnsettingAClearBitIsFine) {
  Sequence seq(10);
  seq.unset(3);
  EXPECT_EQ(seq.unselected(), 10u);
}

TEST(Sequence, OrdinalsPastTheEndAreOutOfRange) {
  Sequence seq(10);
  EXPECT_THROW(seq.set(10), OutOfRangeError);
  EXPECT_THROW(seq.unset(10), OutOfRangeError);
  EXPECT_THROW((void)seq.is_set(10), OutOfRangeError);
  // The out-of-range errors are invalid-argument errors for the API.
  try {
    seq.set(11);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("out of range"), std::string::npos);
  }
}

TEST(Sequence, OneBitSequence) {
  Sequence seq(1);
  EXPECT_EQ(seq.set_any(false), 0u);
  EXPECT_THROW(seq.set_any(false), NoBitAvailableError);
  EXPECT_THROW(seq.set_any(true), NoBitAvailableError);
  seq.unset(0);
  EXPECT_EQ(seq.set_any(true), 0u);
  EXPECT_EQ(seq.unselected(), 0u);
}

TEST(Sequence, ThirtyBitSequenceFillsExactlyAndNeverHandsOutPadding) {
  Sequence seq(30);
  for (uint64_t i = 0; i < 30; ++i) EXPECT_EQ(seq.set_any(false), i);
  EXPECT_THROW(seq.set_any(false), NoBitAvailableError);
  EXPECT_EQ(seq.unselected(), 0u);
  EXPECT_EQ(seq.run_count(), 1u);
}

TEST(Sequence, LastBitOfALargeSequence) {
  const uint64_t n = (1ull << 24) + 7;
  Sequence seq(n);
  seq.set(n - 1);
  EXPECT_TRUE(seq.is_set(n - 1));
  EXPECT_EQ(seq.set_any_in_range(n - 2, n - 1, false), n - 2);
  EXPECT_THROW(seq.set_any_in_range(n - 2, n - 1, false), NoBitAvailableError);
}

TEST(Sequence, MaximumLengthSequenceForIpv6) {
  const uint64_t n = UINT64_MAX;
  Sequence seq(n);
  EXPECT_EQ(seq.unselected(), n);
  seq.set(n - 1);
  seq.set(0);
  EXPECT_EQ(seq.set_any(false), 1u);
  EXPECT_EQ(seq.set_any_in_range(n - 40, n - 1, false), n - 40);
  EXPECT_EQ(seq.unselected(), n - 4);
  EXPECT_EQ(Sequence::deserialize(seq.serialize()), seq);
}

TEST(Sequence, SetAnyInRangeNotAlignedTo32) {
  Sequence seq(200);
  for (uint64_t i = 37; i <= 101; ++i) {
    EXPECT_EQ(seq.set_any_in_range(37, 101, false), i);
  }
  EXPECT_THROW(seq.set_any_in_range(37, 101, false), NoBitAvailableError);
  EXPECT_FALSE(seq.is_set(36));
  EXPECT_FALSE(seq.is_set(102));
  EXPECT_EQ(seq.unselected(), 200u - 65u);
  EXPECT_EQ(seq.set_any(false), 0u);
}

TEST(Sequence, InvalidRangesAreRejected) {
  Sequence seq(100);
  EXPECT_THROW(seq.set_any_in_range(10, 9, false), InvalidRangeError);
  EXPECT_THROW(seq.set_any_in_range(0, 100, false), InvalidRangeError);
  EXPECT_EQ(seq.unselected(), 100u);
}

TEST(Sequence, FirstAvailableSkipsHoles) {
  Sequence seq(100);
  for (uint64_t i = 0; i < 10; ++i) seq.set(i);
  seq.unset(4);
  EXPECT_EQ(seq.set_any(false), 4u);
  EXPECT_EQ(seq.set_any(false), 10u);
}

TEST(Sequence, SerialContinuesAfterLastAllocationAndWraps) {
  Sequence seq(8);
  EXPECT_EQ(seq.set_any(true), 0u);
  EXPECT_EQ(seq.set_any(true), 1u);
  seq.unset(0);
  // Serial mode does not go back to the freed bit until it wraps.
  EXPECT_EQ(seq.set_any(true), 2u);
  for (uint64_t i = 3; i < 8; ++i) EXPECT_EQ(seq.set_any(true), i);
  EXPECT_EQ(seq.set_any(true), 0u);  // wrapped
  EXPECT_THROW(seq.set_any(true), NoBitAvailableError);
}

TEST(Sequence, SerialWithinRangeWraps) {
  Sequence seq(100);
  EXPECT_EQ(seq.set_any_in_range(10, 12, true), 10u);
  EXPECT_EQ(seq.set_any_in_range(10, 12, true), 11u);
  seq.unset(10);
  EXPECT_EQ(seq.set_any_in_range(10, 12, true), 12u);
  EXPECT_EQ(seq.set_any_in_range(10, 12, true), 10u);
}

TEST(Sequence, SerialCursorSurvivesSerialization) {
  Sequence seq(1000);
  for (int i = 0; i < 5; ++i) seq.set_any(true);
  seq.unset(0);
  seq.unset(1);
  Sequence restored = Sequence::deserialize(seq.serialize());
  EXPECT_EQ(restored.serial_cursor(), 5u);
  // A restart must not start over at the freed bits.
  EXPECT_EQ(restored.set_any(true), 5u);
}

TEST(Sequence, AdjacentEqualRunsMergeBack) {
  Sequence seq(32 * 10);
  for (uint64_t i = 0; i < 32 * 10; ++i) seq.set(i);
  EXPECT_EQ(seq.run_count(), 1u) << seq.to_string();
  seq.unset(32 * 5 + 3);
  EXPECT_EQ(seq.run_count(), 3u);
  seq.set(32 * 5 + 3);
  EXPECT_EQ(seq.run_count(), 1u);
  for (uint64_t i = 0; i < 32 * 10; ++i) seq.unset(i);
  EXPECT_EQ(seq.run_count(), 1u);
  EXPECT_EQ(seq, Sequence(32 * 10));
}

TEST(Sequence, FullSlash8KeepsFewRuns) {
  Sequence seq(1ull << 24);
  for (uint64_t i = 0; i < (1ull << 24); ++i) seq.set_any(false);
  EXPECT_EQ(seq.run_count(), 1u);
  EXPECT_EQ(seq.unselected(), 0u);
  seq.unset(12345);
  EXPECT_EQ(seq.run_count(), 3u);
  EXPECT_EQ(seq.set_any(false), 12345u);
}

TEST(Sequence, SerializationRoundTripsExactly) {
  Sequence seq(5000);
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    const uint64_t bit = rng() % 5000;
    if (seq.is_set(bit)) {
      seq.unset(bit);
    } else {
      seq.set(bit);
    }
  }
  seq.set_any(true);
  const std::string bytes = seq.serialize();
  Sequence restored = Sequence::deserialize(bytes);
  EXPECT_EQ(restored, seq);
  EXPECT_EQ(restored.serialize(), bytes);
  EXPECT_EQ(restored.unselected(), seq.unselected());
}

std::string encode(uint64_t version, uint64_t bits, uint64_t next,
                   const std::vector<std::pair<uint64_t, uint64_t>>& runs) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  packer.pack_array(4);
  packer.pack(version);
  packer.pack(bits);
  packer.pack(next);
  packer.pack_array(static_cast<uint32_t>(runs.size()));
  for (auto [block, count] : runs) {
    packer.pack_array(2);
    packer.pack(block);
    packer.pack(count);
  }
  return std::string(buffer.data(), buffer.size());
}

TEST(Sequence, InconsistentBuffersAreRejected) {
  EXPECT_NO_THROW(Sequence::deserialize(encode(1, 64, 0, {{0, 2}})));
  EXPECT_THROW(Sequence::deserialize(encode(2, 64, 0, {{0, 2}})), CorruptDataError);   // version
  EXPECT_THROW(Sequence::deserialize(encode(1, 0, 0, {{0, 1}})), CorruptDataError);    // length
  EXPECT_THROW(Sequence::deserialize(encode(1, 64, 64, {{0, 2}})), CorruptDataError);  // cursor
  EXPECT_THROW(Sequence::deserialize(encode(1, 64, 0, {{0, 3}})), CorruptDataError);   // too long
  EXPECT_THROW(Sequence::deserialize(encode(1, 64, 0, {{0, 1}})), CorruptDataError);   // short
  EXPECT_THROW(Sequence::deserialize(encode(1, 64, 0, {{0, 1}, {0, 1}})), CorruptDataError);
  EXPECT_THROW(Sequence::deserialize(encode(1, 64, 0, {{1ull << 32, 2}})), CorruptDataError);
  EXPECT_THROW(Sequence::deserialize(encode(1, 64, 0, {{0, 0}, {1, 2}})), CorruptDataError);
  EXPECT_THROW(Sequence::deserialize(encode(1, 30, 0, {{1, 1}})), CorruptDataError);  // padding
  EXPECT_THROW(Sequence::deserialize(encode(1, 64, 0, {})), CorruptDataError);
  EXPECT_THROW(Sequence::deserialize(""), CorruptDataError);
  EXPECT_THROW(Sequence::deserialize(encode(1, 64, 0, {{0, 2}}) + "x"), CorruptDataError);
}

TEST(Sequence, GarbageAndTruncationNeverCrash) {
  Sequence seq(100000);
  std::mt19937_64 rng(99);
  for (uint64_t i = 0; i < 300; ++i) seq.set(i * 31);
  const std::string good = seq.serialize();
  for (size_t cut = 0; cut < good.size(); ++cut) {
    EXPECT_THROW(Sequence::deserialize(std::string_view(good).substr(0, cut)), CorruptDataError);
  }
  for (int trial = 0; trial < 3000; ++trial) {
    std::string bad = good;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) bad[rng() % bad.size()] = static_cast<char>(rng());
    try {
      Sequence decoded = Sequence::deserialize(bad);
      // Whatever decodes must be internally consistent.
      EXPECT_EQ(Sequence::deserialize(decoded.serialize()), decoded);
    } catch (const CorruptDataError&) {
    }
  }
  for (int trial = 0; trial < 2000; ++trial) {
    std::string noise(rng() % 64, '\0');
    for (auto& c : noise) c = static_cast<char>(rng());
    try {
      (void)Sequence::deserialize(noise);
    } catch (const CorruptDataError&) {
    }
  }
}

}  // namespace
}  // namespace trellis::bitseq
