#pragma once
// An allocator of integer ids in [start, end] on top of a bitseq::Sequence, the equivalent
// of libnetwork's idm. Used for VNIs. Not thread-safe.

#include <cstdint>
#include <string>
#include <string_view>

#include "bitseq/sequence.h"

namespace trellis::bitseq {

class IdAllocator {
 public:
  // Ids start..end inclusive; start <= end, and the span must be below 2^64-1 ids
  // (InvalidRangeError otherwise).
  IdAllocator(uint64_t start, uint64_t end);

  // Any free id (first free, or next after the last in serial mode). NoBitAvailableError.
  uint64_t get(bool serial);
  // Exactly `id`. OutOfRangeError, AlreadyAllocatedError.
  void get_specific(uint64_t id);
  // A free id in [lo, hi] ⊆ [start, end]. InvalidRangeError, NoBitAvailableError.
  uint64_t get_in_range(uint64_t lo, uint64_t hi, bool serial);
  // Frees `id`; freeing a free id is fine. OutOfRangeError.
  void release(uint64_t id);
  bool is_allocated(uint64_t id) const;

  uint64_t start() const { return start_; }
  uint64_t end() const { return end_; }
  uint64_t free_count() const { return bits_.unselected(); }

  // msgpack: [format version, start, end, <sequence bytes>]; CorruptDataError on bad input.
  std::string serialize() const;
  static IdAllocator deserialize(std::string_view buffer);

  friend bool operator==(const IdAllocator&, const IdAllocator&) = default;

 private:
  IdAllocator(uint64_t start, uint64_t end, Sequence bits);
  uint64_t start_;
  uint64_t end_;
  Sequence bits_;
};

}  // namespace trellis::bitseq
