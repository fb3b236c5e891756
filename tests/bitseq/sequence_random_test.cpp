// Randomized comparison of Sequence against a trivially correct model (a std::set of set
// ordinals plus a serial cursor), checked after every operation.
#include <gtest/gtest.h>

#include <optional>
#include <random>
#include <set>

#include "bitseq/sequence.h"

namespace trellis::bitseq {
namespace {

class Model {
 public:
  explicit Model(uint64_t bits) : bits_(bits) {}

  std::optional<uint64_t> first_clear(uint64_t start, uint64_t end) const {
    for (uint64_t i = start; i <= end; ++i) {
      if (!set_.count(i)) return i;
    }
    return std::nullopt;
  }
  std::optional<uint64_t> set_any_in_range(uint64_t start, uint64_t end, bool serial) {
    std::optional<uint64_t> found;
    if (serial && next_ > start && next_ <= end) {
      found = first_clear(next_, end);
      if (!found) found = first_clear(start, next_ - 1);
    } else {
      found = first_clear(start, end);
    }
    if (found) {
      set_.insert(*found);
      if (serial) next_ = *found + 1 == bits_ ? 0 : *found + 1;
    }
    return found;
  }
  std::set<uint64_t> set_;
  uint64_t bits_;
  uint64_t next_ = 0;
};

void expect_same(const Sequence& seq, const Model& model) {
  ASSERT_EQ(seq.unselected(), model.bits_ - model.set_.size());
  ASSERT_EQ(seq.serial_cursor(), model.next_);
  for (uint64_t i = 0; i < model.bits_; ++i) {
    ASSERT_EQ(seq.is_set(i), model.set_.count(i) == 1) << "bit " << i;
  }
}

void run_random_ops(uint64_t bits, uint32_t seed, int operations) {
  std::mt19937 rng(seed);
  Sequence seq(bits);
  Model model(bits);
  for (int op = 0; op < operations; ++op) {
    const uint32_t kind = rng() % 10;
    const uint64_t a = rng() % bits;
    const uint64_t b = rng() % bits;
    if (kind < 3) {  // set a specific bit
      const bool was_set = model.set_.count(a) == 1;
      if (was_set) {
        EXPECT_THROW(seq.set(a), AlreadyAllocatedError);
      } else {
        seq.set(a);
        model.set_.insert(a);
      }
    } else if (kind < 6) {  // unset
      seq.unset(a);
      model.set_.erase(a);
    } else {  // allocate any, in a range or not, serial or not
      const bool serial = rng() % 2;
      const bool ranged = rng() % 2;
      const uint64_t lo = ranged ? std::min(a, b) : 0;
      const uint64_t hi = ranged ? std::max(a, b) : bits - 1;
      const auto expected = model.set_any_in_range(lo, hi, serial);
      if (expected) {
        ASSERT_EQ(seq.set_any_in_range(lo, hi, serial), *expected) << "op " << op;
      } else {
        EXPECT_THROW(seq.set_any_in_range(lo, hi, serial), NoBitAvailableError);
      }
    }
    expect_same(seq, model);
    if (op % 97 == 0) {
      ASSERT_EQ(Sequence::deserialize(seq.serialize()), seq);
    }
  }
}

TEST(SequenceRandom, MatchesSetModelOnSmallSequences) {
  for (uint64_t bits : {1u, 2u, 31u, 32u, 33u, 64u, 100u}) {
    run_random_ops(bits, static_cast<uint32_t>(bits), 2000);
  }
}

TEST(SequenceRandom, MatchesSetModelOnAMediumSequence) { run_random_ops(700, 12345, 6000); }

TEST(SequenceRandom, DenseSequenceStaysCanonical) {
  // Fill most of the space so runs split and merge constantly; the encoding must stay
  // canonical, i.e. equal to a sequence rebuilt bit by bit.
  std::mt19937 rng(4);
  const uint64_t bits = 32 * 40 + 5;
  Sequence seq(bits);
  Model model(bits);
  for (int op = 0; op < 20000; ++op) {
    const uint64_t a = rng() % bits;
    if (rng() % 4 == 0) {
      seq.unset(a);
      model.set_.erase(a);
    } else if (!model.set_.count(a)) {
      seq.set(a);
      model.set_.insert(a);
    }
    if (op % 500 == 0) {
      Sequence rebuilt(bits);
      for (uint64_t i : model.set_) rebuilt.set(i);
      ASSERT_EQ(seq.serialize(), rebuilt.serialize());
    }
  }
}

}  // namespace
}  // namespace trellis::bitseq
