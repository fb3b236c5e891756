// Thousands of random address operations on one pool (through its own id and a sub-pool's
// id), checked after every step against a plain model: a std::set of taken offsets plus the
// serial cursor the pool shares between its ids.

#include <gtest/gtest.h>

#include <optional>
#include <random>
#include <set>

#include "ipam/allocator.h"

namespace trellis::ipam {
namespace {

enum class Outcome { kOk, kInUse, kOutOfRange, kExhausted };

// The reference: offsets of a 10.0.0.0/23 pool; 0 and 511 are reserved for good.
class Model {
 public:
  static constexpr uint64_t kBits = 512;
  std::set<uint64_t> taken = {0, kBits - 1};
  uint64_t cursor = 0;  // where the next serial search starts

  // Lowest free offset in [lo, hi], serially from the cursor when asked.
  std::optional<uint64_t> pick(uint64_t lo, uint64_t hi, bool serial) {
    std::optional<uint64_t> found;
    if (serial && cursor > lo && cursor <= hi) {
      found = first_free(cursor, hi);
      if (!found) found = first_free(lo, cursor - 1);
    } else {
      found = first_free(lo, hi);
    }
    if (found) {
      taken.insert(*found);
      if (serial) cursor = *found + 1 == kBits ? 0 : *found + 1;
    }
    return found;
  }

 private:
  std::optional<uint64_t> first_free(uint64_t lo, uint64_t hi) const {
    for (uint64_t i = lo; i <= hi; ++i) {
      if (!taken.contains(i)) return i;
    }
    return std::nullopt;
  }
};

template <typename F>
Outcome run(F&& f) {
  try {
    f();
    return Outcome::kOk;
  } catch (const AddressInUseError&) {
    return Outcome::kInUse;
  } catch (const AddressOutOfRangeError&) {
    return Outcome::kOutOfRange;
  } catch (const NoAvailableAddressError&) {
    return Outcome::kExhausted;
  }
}

TEST(AllocatorRandom, MatchesASetModelAfterEveryStep) {
  const Prefix pool = Prefix::parse("10.0.0.0/23");
  const Prefix around = Prefix::parse("10.0.0.0/22");  // for addresses outside the pool
  constexpr uint64_t kSubFirst = 256;                  // sub-pool 10.0.1.0/25
  constexpr uint64_t kSubLast = 383;

  Allocator allocator;
  const std::string whole = allocator.request_pool(kLocalSpace, pool, std::nullopt).id;
  const std::string sub =
      allocator.request_pool(kLocalSpace, pool, Prefix::parse("10.0.1.0/25")).id;
  Model model;
  std::mt19937_64 rng(20240601);
  auto chance = [&](int percent) { return static_cast<int>(rng() % 100) < percent; };

  constexpr int kSteps = 6000;
  for (int step = 0; step < kSteps; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    const bool via_sub = chance(30);
    const std::string& id = via_sub ? sub : whole;
    const uint64_t lo = via_sub ? kSubFirst : 1;
    const uint64_t hi = via_sub ? kSubLast : Model::kBits - 2;
    const int op = static_cast<int>(rng() % 100);

    if (op < 35) {  // any address, serial or not
      const bool serial = chance(50);
      std::optional<IpAddress> got;
      const Outcome outcome =
          run([&] { got = allocator.request_address(id, std::nullopt, {.serial = serial}); });
      const auto expected = model.pick(lo, hi, serial);
      ASSERT_EQ(outcome, expected ? Outcome::kOk : Outcome::kExhausted);
      if (expected) {
        ASSERT_EQ(*got, pool.address_at(*expected));
      }
    } else if (op < 40) {  // gateway: lowest free of the whole pool, never serial
      std::optional<IpAddress> got;
      const Outcome outcome = run([&] {
        got = allocator.request_address(id, std::nullopt, {.role = AddressRole::kGateway});
      });
      const auto expected = model.pick(1, Model::kBits - 2, false);
      ASSERT_EQ(outcome, expected ? Outcome::kOk : Outcome::kExhausted);
      if (expected) {
        ASSERT_EQ(*got, pool.address_at(*expected));
      }
    } else if (op < 65) {  // a specific address, sometimes outside the pool
      const uint64_t offset = rng() % (chance(10) ? 1024 : Model::kBits);
      const IpAddress address = around.address_at(offset);
      const bool reserved_role = chance(10);
      const uint64_t role_lo = reserved_role ? 1 : lo;
      const uint64_t role_hi = reserved_role ? Model::kBits - 2 : hi;
      Outcome expected = Outcome::kOk;
      if (offset < role_lo || offset > role_hi) {
        expected = Outcome::kOutOfRange;
      } else if (model.taken.contains(offset)) {
        expected = Outcome::kInUse;
      }
      const AddressOptions options{
          .role = reserved_role ? AddressRole::kReserved : AddressRole::kHost, .serial = false};
      ASSERT_EQ(run([&] { allocator.request_address(id, address, options); }), expected);
      if (expected == Outcome::kOk) model.taken.insert(offset);
    } else {  // release: usually a taken address, sometimes anything
      uint64_t offset;
      if (chance(80) && model.taken.size() > 2) {
        auto it = model.taken.begin();
        std::advance(it, static_cast<long>(1 + rng() % (model.taken.size() - 2)));
        offset = *it;
      } else {
        offset = rng() % 1024;
      }
      const Outcome expected =
          offset == 0 || offset >= Model::kBits - 1 ? Outcome::kOutOfRange : Outcome::kOk;
      ASSERT_EQ(run([&] { allocator.release_address(id, around.address_at(offset)); }), expected);
      if (expected == Outcome::kOk) model.taken.erase(offset);
    }

    ASSERT_EQ(allocator.free_count(whole), Model::kBits - model.taken.size());
    for (uint64_t i = 0; i < Model::kBits; ++i) {
      ASSERT_EQ(allocator.is_allocated(whole, pool.address_at(i)), model.taken.contains(i))
          << pool.address_at(i).to_string();
    }
  }
}

}  // namespace
}  // namespace trellis::ipam
