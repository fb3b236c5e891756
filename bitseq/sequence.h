#pragma once
// A run-length encoded bit sequence with libnetwork's bitseq semantics: ordinal 0 is the
// most significant bit of the first 32-bit block, and runs of identical blocks are kept as
// (block, count). Used to track allocated addresses and ids in spaces of up to 2^64-1 bits.
// Not thread-safe: the owner serializes access.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "common/error.h"

namespace trellis::bitseq {

// No clear bit is left in the sequence (or in the requested range).
class NoBitAvailableError : public UnavailableError {
 public:
  using UnavailableError::UnavailableError;
};
// set() of a bit that is already set.
class AlreadyAllocatedError : public ConflictError {
 public:
  using ConflictError::ConflictError;
};
// An ordinal at or beyond bits().
class OutOfRangeError : public InvalidArgumentError {
 public:
  using InvalidArgumentError::InvalidArgumentError;
};
// A range with start > end or end beyond the sequence.
class InvalidRangeError : public InvalidArgumentError {
 public:
  using InvalidArgumentError::InvalidArgumentError;
};

class Sequence {
 public:
  // A sequence of num_bits clear bits; num_bits must be at least 1 (InvalidArgumentError).
  explicit Sequence(uint64_t num_bits);

  // Sets bit `ordinal`. Throws OutOfRangeError or AlreadyAllocatedError.
  void set(uint64_t ordinal);
  // Clears bit `ordinal`; clearing a clear bit is fine. Throws OutOfRangeError.
  void unset(uint64_t ordinal);
  // Throws OutOfRangeError.
  bool is_set(uint64_t ordinal) const;

  // Sets and returns the first clear bit. In serial mode the search starts after the last
  // bit handed out in serial mode and wraps around. Throws NoBitAvailableError.
  uint64_t set_any(bool serial);
  // As set_any, restricted to [start, end] (inclusive). Throws InvalidRangeError or
  // NoBitAvailableError.
  uint64_t set_any_in_range(uint64_t start, uint64_t end, bool serial);

  // Number of clear bits.
  uint64_t unselected() const { return unselected_; }
  // Length of the sequence.
  uint64_t bits() const { return bits_; }
  // Number of (block, count) runs; adjacent equal runs are always merged, so an empty or
  // a full sequence is one run.
  size_t run_count() const { return runs_.size(); }
  // Where the next serial search starts (persisted with the sequence).
  uint64_t serial_cursor() const { return next_serial_; }
  // Approximate heap bytes held by the run list.
  size_t memory_bytes() const;

  // msgpack encoding: [format version, bits, serial cursor, [[block, count], ...]].
  std::string serialize() const;
  // Rejects malformed, truncated or inconsistent buffers with CorruptDataError.
  static Sequence deserialize(std::string_view buffer);

  // Human-readable run list, e.g. "bits=64 free=63 runs=[(0x80000000,1) (0x0,1)]".
  std::string to_string() const;

  friend bool operator==(const Sequence&, const Sequence&) = default;

 private:
  struct Run {
    uint32_t block;
    uint64_t count;
    friend bool operator==(const Run&, const Run&) = default;
  };
  using RunMap = std::map<uint64_t, Run>;  // key: index of the run's first block

  // Returns the first clear ordinal in [start, end], or bits_ when there is none.
  uint64_t find_clear(uint64_t start, uint64_t end) const;
  // Replaces block `block_index` with `value`, splitting and re-merging runs.
  void write_block(uint64_t block_index, uint32_t value);
  RunMap::const_iterator run_containing(uint64_t block_index) const;
  uint32_t block_at(uint64_t block_index) const;
  void check_ordinal(uint64_t ordinal, const char* operation) const;

  uint64_t bits_;
  uint64_t unselected_;
  uint64_t next_serial_ = 0;
  RunMap runs_;
};

}  // namespace trellis::bitseq
