// Randomized checks of owned ranges: donations, allocations and removals between several
// nodes against a per-integer model, and decoding of corrupted buffers.

#include <gtest/gtest.h>
#include <msgpack.hpp>

#include <random>

#include "ipam/owned_ranges.h"

namespace trellis::ipam {
namespace {

constexpr uint64_t kFirst = 1000;
constexpr uint64_t kSize = 3000;
const std::vector<NodeId> kNodes = {11, 22, 33, 44, 55};

// The reference: one owner and one allocated flag per integer.
struct Model {
  std::vector<NodeId> owner = std::vector<NodeId>(kSize, kNodes[0]);
  std::vector<bool> allocated = std::vector<bool>(kSize, false);

  uint64_t free_of(NodeId node) const {
    uint64_t n = 0;
    for (uint64_t i = 0; i < kSize; ++i) n += owner[i] == node && !allocated[i];
    return n;
  }
  // First longest stretch of integers free and owned by `node`: (start, length).
  std::pair<uint64_t, uint64_t> largest_free_run(NodeId node) const {
    uint64_t best_start = 0, best_length = 0, start = 0, length = 0;
    for (uint64_t i = 0; i <= kSize; ++i) {
      if (i < kSize && owner[i] == node && !allocated[i]) {
        if (length++ == 0) start = i;
      } else {
        if (length > best_length) best_start = start, best_length = length;
        length = 0;
      }
    }
    return {kFirst + best_start, best_length};
  }
};

// Every integer has exactly one owner: the ranges tile the space without gaps or overlaps,
// are canonical, and agree with the model.
void expect_ownership_matches(const OwnedSpace& space, const Model& model) {
  const auto all = space.ownership().all();
  uint64_t next = kFirst;
  NodeId previous_owner = 0;
  bool first = true;
  for (const auto& [range, owner] : all) {
    ASSERT_EQ(range.first, next) << "gap or overlap";
    ASSERT_LE(range.first, range.last);
    ASSERT_TRUE(first || owner != previous_owner) << "adjacent ranges of one owner not merged";
    for (uint64_t i = range.first; i <= range.last; ++i) {
      ASSERT_EQ(owner, model.owner[i - kFirst]) << "integer " << i;
    }
    next = range.last + 1;
    previous_owner = owner;
    first = false;
  }
  ASSERT_EQ(next, kFirst + kSize);
  std::map<NodeId, uint64_t> expected_free;
  for (uint64_t i = 0; i < kSize; ++i) {
    if (!expected_free.contains(model.owner[i])) expected_free[model.owner[i]] = 0;
    if (!model.allocated[i]) ++expected_free[model.owner[i]];
  }
  ASSERT_EQ(space.free_by_owner(), expected_free);
}

TEST(OwnedRangesRandom, DonationNeverCreatesTwoOwnersAndReplaysAgree) {
  std::mt19937_64 rng(777);
  auto pick_node = [&] { return kNodes[rng() % kNodes.size()]; };
  auto chance = [&](int percent) { return static_cast<int>(rng() % 100) < percent; };

  OwnedSpace space(kFirst, kFirst + kSize - 1, kNodes[0]);
  OwnedRanges replica(kFirst, kFirst + kSize - 1, kNodes[0]);  // folds only the log
  Model model;
  int donations = 0;

  for (int step = 0; step < 4000; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    const int op = static_cast<int>(rng() % 100);
    if (op < 30) {  // allocate on a node: only from what it owns
      const NodeId node = pick_node();
      const bool serial = chance(50);
      if (model.free_of(node) == 0) {
        ASSERT_THROW(space.allocate(node, serial), bitseq::NoBitAvailableError);
      } else {
        const uint64_t got = space.allocate(node, serial);
        ASSERT_EQ(model.owner[got - kFirst], node);
        ASSERT_FALSE(model.allocated[got - kFirst]);
        if (!serial) {  // the lowest free integer the node owns
          for (uint64_t i = 0; i < got - kFirst; ++i) {
            ASSERT_FALSE(model.owner[i] == node && !model.allocated[i]) << i;
          }
        }
        model.allocated[got - kFirst] = true;
      }
    } else if (op < 45) {  // allocate a specific integer
      const NodeId node = pick_node();
      const uint64_t i = kFirst + rng() % kSize;
      if (model.owner[i - kFirst] != node) {
        ASSERT_THROW(space.allocate_specific(node, i), NotOwnerError);
      } else if (model.allocated[i - kFirst]) {
        ASSERT_THROW(space.allocate_specific(node, i), bitseq::AlreadyAllocatedError);
      } else {
        space.allocate_specific(node, i);
        model.allocated[i - kFirst] = true;
      }
    } else if (op < 65) {  // release
      const uint64_t i = kFirst + rng() % kSize;
      space.release(i);
      model.allocated[i - kFirst] = false;
    } else if (op < 85) {  // a planned donation, applied twice
      const NodeId from = pick_node();
      NodeId to = pick_node();
      while (to == from) to = pick_node();
      const uint64_t wanted = 1 + rng() % 600;
      const auto plan = space.plan_donation(from, to, wanted);
      const auto [run_start, run_length] = model.largest_free_run(from);
      if (run_length == 0) {
        ASSERT_EQ(plan, std::nullopt);
        continue;
      }
      ASSERT_TRUE(plan.has_value());
      const uint64_t size = std::min(wanted, std::max<uint64_t>(1, run_length / 2));
      ASSERT_EQ(*plan,
                (Donation{from, to, {run_start + run_length - size, run_start + run_length - 1}}));
      space.apply(*plan);
      const OwnedSpace once = space;
      space.apply(*plan);  // apply twice = once
      ASSERT_EQ(space, once);
      ASSERT_EQ(space.serialize(), once.serialize());
      replica.apply(*plan);
      for (uint64_t i = plan->range.first; i <= plan->range.last; ++i) {
        model.owner[i - kFirst] = to;
      }
      ++donations;
    } else if (op < 98) {  // an arbitrary donation: accepted or refused exactly as the model says
      Donation donation{pick_node(), pick_node(), {}};
      donation.range.first = kFirst + rng() % (kSize + 50);
      donation.range.last = donation.range.first + rng() % 40;
      enum { kApplied, kNoop, kInvalid, kConflict } expected;
      if (donation.from == donation.to || donation.range.last >= kFirst + kSize) {
        expected = kInvalid;
      } else {
        bool all_to = true, all_from = true, any_allocated = false;
        for (uint64_t i = donation.range.first; i <= donation.range.last; ++i) {
          all_to &= model.owner[i - kFirst] == donation.to;
          all_from &= model.owner[i - kFirst] == donation.from;
          any_allocated |= model.allocated[i - kFirst];
        }
        expected = all_to ? kNoop : (all_from && !any_allocated ? kApplied : kConflict);
      }
      const OwnedSpace before = space;
      switch (expected) {
        case kInvalid:
          ASSERT_THROW(space.apply(donation), InvalidArgumentError);
          ASSERT_EQ(space, before);
          break;
        case kConflict:
          ASSERT_THROW(space.apply(donation), ConflictError);
          ASSERT_EQ(space, before);
          break;
        case kNoop:
          space.apply(donation);
          ASSERT_EQ(space, before);
          break;
        case kApplied:
          space.apply(donation);
          replica.apply(donation);
          for (uint64_t i = donation.range.first; i <= donation.range.last; ++i) {
            model.owner[i - kFirst] = donation.to;
          }
          ++donations;
          break;
      }
    } else {  // an operator removes a node: its ranges go to the heir
      const NodeId gone = pick_node();
      const NodeId heir = pick_node();
      space.reassign_all(gone, heir);
      replica.reassign_all(gone, heir);
      for (NodeId& owner : model.owner) {
        if (owner == gone) owner = heir;
      }
    }

    ASSERT_NO_FATAL_FAILURE(expect_ownership_matches(space, model));
    if (step % 20 == 0) {
      for (uint64_t i = 0; i < kSize; ++i) {
        ASSERT_EQ(space.is_allocated(kFirst + i), model.allocated[i]) << kFirst + i;
      }
      const std::string bytes = space.serialize();
      ASSERT_EQ(OwnedSpace::deserialize(bytes).serialize(), bytes);
    }
  }
  EXPECT_GT(donations, 500);
  EXPECT_EQ(replica, space.ownership());
  EXPECT_EQ(replica.serialize(), space.ownership().serialize());
}

// Periodic allocation patterns make the bit sequence store long runs of one repeated
// block, which plan_donation reads without visiting each block; random ownership cuts make
// the scanned windows start and end inside blocks. Checked against the per-integer model.
TEST(OwnedRangesRandom, PlanMatchesModelOnPeriodicPatternsAndCutWindows) {
  std::mt19937_64 rng(4242);
  for (int round = 0; round < 60; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    OwnedSpace space(kFirst, kFirst + kSize - 1, kNodes[0]);
    Model model;
    // The first rounds use periods that divide the 32-bit block: identical blocks repeat.
    const uint64_t period = round < 6 ? uint64_t{2} << round : 2 + rng() % 70;
    const uint64_t phase = rng() % period;
    const uint64_t hole_at = rng() % kSize;  // one longer free stretch somewhere
    const uint64_t hole_length = rng() % 200;
    for (uint64_t i = 0; i < kSize; ++i) {
      const bool in_hole = i >= hole_at && i < hole_at + hole_length;
      if (i % period == phase && !in_hole) {
        space.allocate_specific(kNodes[0], kFirst + i);
        model.allocated[i] = true;
      }
    }
    // Cut ownership at random points (only free integers can move).
    for (int cut = 0; cut < 12; ++cut) {
      const uint64_t first = rng() % kSize;
      const uint64_t last = std::min(kSize - 1, first + rng() % 300);
      const NodeId to = kNodes[1 + rng() % (kNodes.size() - 1)];
      bool movable = true;
      for (uint64_t i = first; i <= last; ++i) {
        movable &= model.owner[i] == kNodes[0] && !model.allocated[i];
      }
      if (!movable) continue;
      space.apply(Donation{kNodes[0], to, {kFirst + first, kFirst + last}});
      for (uint64_t i = first; i <= last; ++i) model.owner[i] = to;
    }
    for (NodeId from : kNodes) {
      const NodeId to = from == kNodes[0] ? kNodes[1] : kNodes[0];
      const auto [run_start, run_length] = model.largest_free_run(from);
      const auto plan = space.plan_donation(from, to, UINT64_MAX);
      if (run_length == 0) {
        ASSERT_EQ(plan, std::nullopt);
        continue;
      }
      const uint64_t size = std::max<uint64_t>(1, run_length / 2);
      ASSERT_EQ(plan,
                (Donation{from, to, {run_start + run_length - size, run_start + run_length - 1}}))
          << "period " << period << " node " << from;
      ASSERT_EQ(space.free_count(from), model.free_of(from));
    }
  }
}

// --- Corrupt buffers -------------------------------------------------------------------

template <typename Packer>
std::string pack(Packer&& write) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  write(packer);
  return std::string(buffer.data(), buffer.size());
}

std::string ranges_buffer(uint64_t version, uint64_t first, uint64_t last,
                          const std::vector<std::array<uint64_t, 3>>& ranges) {
  return pack([&](auto& p) {
    p.pack_array(4);
    p.pack_uint64(version);
    p.pack_uint64(first);
    p.pack_uint64(last);
    p.pack_array(static_cast<uint32_t>(ranges.size()));
    for (const auto& r : ranges) {
      p.pack_array(3);
      for (uint64_t v : r) p.pack_uint64(v);
    }
  });
}

TEST(OwnedRangesDecode, RejectsInconsistentRangeLists) {
  EXPECT_NO_THROW(OwnedRanges::deserialize(ranges_buffer(1, 0, 9, {{0, 4, 1}, {5, 9, 2}})));
  const std::vector<std::string> bad = {
      ranges_buffer(2, 0, 9, {{0, 9, 1}}),                         // version
      ranges_buffer(1, 9, 0, {{0, 9, 1}}),                         // first > last
      ranges_buffer(1, 0, UINT64_MAX, {{0, UINT64_MAX, 1}}),       // 2^64 integers
      ranges_buffer(1, 0, 9, {}),                                  // no ranges
      ranges_buffer(1, 0, 9, {{0, 4, 1}}),                         // does not reach last
      ranges_buffer(1, 0, 9, {{1, 9, 1}}),                         // does not start at first
      ranges_buffer(1, 0, 9, {{0, 4, 1}, {6, 9, 2}}),              // gap
      ranges_buffer(1, 0, 9, {{0, 5, 1}, {5, 9, 2}}),              // overlap
      ranges_buffer(1, 0, 9, {{0, 4, 1}, {5, 9, 1}}),              // not merged
      ranges_buffer(1, 0, 9, {{0, 12, 1}}),                        // beyond last
      ranges_buffer(1, 0, 9, {{0, 9, 1}, {10, 12, 2}}),            // after the end
      ranges_buffer(1, 0, 9, {{5, 4, 1}}),                         // reversed
      ranges_buffer(1, 0, 9, {{0, 9, 1}}) + std::string(1, '\0'),  // trailing byte
      pack([](auto& p) {
        p.pack_array(3);
        p.pack_uint64(1);
        p.pack_uint64(0);
        p.pack_uint64(9);
      }),
      pack([](auto& p) { p.pack(std::string("hello")); }),
      pack([](auto& p) {
        p.pack_array(4);
        p.pack_uint64(1);
        p.pack_uint64(0);
        p.pack_uint64(9);
        p.pack_array(1);
        p.pack_array(3);
        p.pack_uint64(0);
        p.pack_uint64(9);
        p.pack_int64(-1);
      }),
      "",
  };
  for (size_t i = 0; i < bad.size(); ++i) {
    EXPECT_THROW(OwnedRanges::deserialize(bad[i]), CorruptDataError) << "case " << i;
  }
}

TEST(OwnedSpaceDecode, RejectsInconsistentParts) {
  OwnedSpace good(0, 99, 1);
  good.allocate(1, true);
  const std::string owners = good.ownership().serialize();
  auto space_buffer = [&](const std::string& own, const std::string& bits,
                          const std::vector<std::pair<uint64_t, uint64_t>>& cursors) {
    return pack([&](auto& p) {
      p.pack_array(4);
      p.pack_uint64(1);
      p.pack_bin(static_cast<uint32_t>(own.size()));
      p.pack_bin_body(own.data(), static_cast<uint32_t>(own.size()));
      p.pack_bin(static_cast<uint32_t>(bits.size()));
      p.pack_bin_body(bits.data(), static_cast<uint32_t>(bits.size()));
      p.pack_array(static_cast<uint32_t>(cursors.size()));
      for (const auto& [node, cursor] : cursors) {
        p.pack_array(2);
        p.pack_uint64(node);
        p.pack_uint64(cursor);
      }
    });
  };
  const std::string bits100 = bitseq::Sequence(100).serialize();
  EXPECT_EQ(OwnedSpace::deserialize(space_buffer(owners, bits100, {{1, 5}})).free_count(1), 100u);
  bitseq::Sequence with_cursor(100);
  with_cursor.set_any(true);
  const std::vector<std::string> bad = {
      space_buffer(owners, bitseq::Sequence(101).serialize(), {}),      // size mismatch
      space_buffer(owners, with_cursor.serialize(), {}),                // sequence-level cursor
      space_buffer(owners, bits100, {{1, 100}}),                        // cursor outside
      space_buffer(owners, bits100, {{2, 5}, {1, 5}}),                  // cursors out of order
      space_buffer(owners, bits100, {{1, 5}, {1, 6}}),                  // repeated node
      space_buffer(owners.substr(1), bits100, {}),                      // bad ownership bytes
      space_buffer(owners, bits100.substr(0, bits100.size() - 1), {}),  // bad sequence bytes
      good.serialize() + "x",
  };
  for (size_t i = 0; i < bad.size(); ++i) {
    EXPECT_THROW(OwnedSpace::deserialize(bad[i]), CorruptDataError) << "case " << i;
  }
}

// Decoding must end in a value or a CorruptDataError: never a crash, never another error.
template <typename T>
void expect_decodes_or_rejects(const std::string& buffer) {
  try {
    const T value = T::deserialize(buffer);
    // Whatever decodes must encode and decode again to the same value.
    EXPECT_EQ(T::deserialize(value.serialize()), value);
  } catch (const CorruptDataError&) {
  } catch (const std::exception& e) {
    ADD_FAILURE() << "unexpected exception: " << e.what();
  }
}

template <typename T>
void fuzz(const std::string& valid, std::mt19937_64& rng, int rounds) {
  for (size_t n = 0; n < valid.size(); ++n) {
    EXPECT_THROW(T::deserialize(valid.substr(0, n)), CorruptDataError) << "truncated to " << n;
  }
  for (int round = 0; round < rounds; ++round) {
    std::string mutated = valid;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      mutated[rng() % mutated.size()] = static_cast<char>(rng());
    }
    if (rng() % 4 == 0) mutated.resize(rng() % (mutated.size() + 1));
    expect_decodes_or_rejects<T>(mutated);
    std::string garbage(rng() % 80, '\0');
    for (char& c : garbage) c = static_cast<char>(rng());
    expect_decodes_or_rejects<T>(garbage);
  }
}

TEST(OwnedRangesDecode, RandomBytesAndTruncationsNeverCrash) {
  std::mt19937_64 rng(99);
  OwnedRanges r(100, 100000, 7);
  r.apply(Donation{7, 8, {200, 299}});
  r.apply(Donation{7, 9, {50000, 100000}});
  r.apply(Donation{9, 8, {60000, 60010}});
  fuzz<OwnedRanges>(r.serialize(), rng, 3000);
}

TEST(OwnedSpaceDecode, RandomBytesAndTruncationsNeverCrash) {
  std::mt19937_64 rng(98);
  OwnedSpace s(0, 4095, 7);
  s.apply(Donation{7, 8, {1000, 1999}});
  for (int i = 0; i < 300; ++i) s.allocate(i % 2 ? 7 : 8, i % 3 == 0);
  for (uint64_t i = 0; i < 4096; i += 7) s.release(i);
  fuzz<OwnedSpace>(s.serialize(), rng, 3000);
}

}  // namespace
}  // namespace trellis::ipam
