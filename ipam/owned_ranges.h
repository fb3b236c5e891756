#pragma once
// Owned ranges (docs/overlay.md sec. 3): an integer space split into ranges, each owned by one
// node. Only a range's owner allocates from it, and only the owner can donate part of it to another
// node. A donation is a plain value that travels in the donor's event log; applying it is
// deterministic and idempotent, so every node that folds the same events agrees on who owns what.
// Pure data structures, no I/O; not thread-safe.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bitseq/sequence.h"
#include "common/error.h"

namespace trellis::ipam {

using NodeId = uint64_t;

// An inclusive range of integers [first, last].
struct Range {
  uint64_t first = 0;
  uint64_t last = 0;
  uint64_t size() const { return last - first + 1; }
  friend bool operator==(const Range&, const Range&) = default;
};

// `from` hands [range.first, range.last] to `to`. This is what a range-donated event carries.
struct Donation {
  NodeId from = 0;
  NodeId to = 0;
  Range range;
  friend bool operator==(const Donation&, const Donation&) = default;
};

// The integer is in a range owned by another node.
class NotOwnerError : public ConflictError {
 public:
  using ConflictError::ConflictError;
};

// Who owns which part of [first, last]. Adjacent ranges with the same owner are merged, so
// the representation is canonical: two maps with the same ownership compare equal.
class OwnedRanges {
 public:
  // The whole space [first, last] owned by `founder`. InvalidArgumentError if first > last or
  // the space is all 2^64 integers (at most 2^64-1, like a bit sequence).
  OwnedRanges(uint64_t first, uint64_t last, NodeId founder);

  Range space() const;
  // OutOfRangeError (bitseq's) when i is outside the space.
  NodeId owner_of(uint64_t i) const;
  // The ranges `node` owns, ascending.
  std::vector<Range> ranges_of(NodeId node) const;
  uint64_t owned_count(NodeId node) const;
  // Every node that owns something, ascending.
  std::vector<NodeId> owners() const;
  // All ranges in order, with their owners.
  std::vector<std::pair<Range, NodeId>> all() const;
  // Whether `node` owns every integer of `range` (false when range is empty or leaves the space).
  bool owns(NodeId node, const Range& range) const;

  // Applies a donation: if the range lies inside the space and is wholly owned by `from`, it
  // becomes `to`'s; if it is already wholly owned by `to`, nothing changes (idempotent).
  // Anything else (partly owned by a third node, outside the space, from == to) throws
  // ConflictError or InvalidArgumentError and changes nothing.
  void apply(const Donation& donation);
  // Hands everything `gone` owns to `heir` (operator removal of a dead node).
  void reassign_all(NodeId gone, NodeId heir);

  // msgpack: [format version, first, last, [[first, last, owner], ...]]; CorruptDataError.
  std::string serialize() const;
  static OwnedRanges deserialize(std::string_view buffer);

  friend bool operator==(const OwnedRanges&, const OwnedRanges&) = default;

 private:
  OwnedRanges() = default;
  void merge_around(uint64_t first);
  void split_at(uint64_t i);  // makes a range start at i (first_ < i <= last_)
  uint64_t first_ = 0;
  uint64_t last_ = 0;
  std::map<uint64_t, std::pair<uint64_t, NodeId>> ranges_;  // first -> (last, owner)
};

// Ownership plus allocation: the allocation state of one owned space (a network's
// addresses, the VNI space, the global subnet pool). Allocation on a node is restricted to
// the ranges it owns. Offsets are integers of the space (not bit ordinals).
// Costs: allocate walks the space's ranges (O(ranges + log runs); each of the node's ranges
// found full on the way costs one caught NoBitAvailableError); release and free_count are
// O(log) (free counts are kept up to date); plan_donation, apply and deserialize scan the
// bit sequence's run list, O(runs) (Sequence has no range queries, so they read its
// documented encoding).
class OwnedSpace {
 public:
  // InvalidArgumentError as for OwnedRanges.
  OwnedSpace(uint64_t first, uint64_t last, NodeId founder);

  const OwnedRanges& ownership() const { return owners_; }

  // A free integer from `node`'s ranges (first free, or next after its last serial pick).
  // NoBitAvailableError (bitseq's) when `node` owns nothing free.
  uint64_t allocate(NodeId node, bool serial);
  // Exactly i, on behalf of `node`. NotOwnerError if another node owns i; bitseq's
  // AlreadyAllocatedError / OutOfRangeError otherwise.
  void allocate_specific(NodeId node, uint64_t i);
  // Frees i; freeing a free integer is fine. OutOfRangeError.
  void release(uint64_t i);
  // OutOfRangeError.
  bool is_allocated(uint64_t i) const;

  uint64_t free_count(NodeId node) const;
  std::map<NodeId, uint64_t> free_by_owner() const;

  // Chooses what `from` should give `to` when asked for up to `wanted` integers: half of
  // from's largest free run (at least 1, at most `wanted`), aligned so the donor keeps the
  // start of the run (the donation is the run's upper part; among equally long runs the
  // lowest is used). Nullopt when from has nothing free or wanted is 0. Does not change
  // anything. InvalidArgumentError if from == to.
  std::optional<Donation> plan_donation(NodeId from, NodeId to, uint64_t wanted) const;
  // See OwnedRanges::apply. Also refuses (ConflictError) to move allocated integers.
  void apply(const Donation& donation);
  void reassign_all(NodeId gone, NodeId heir);

  // msgpack: [format version, <ownership bytes>, <allocation bytes>, serial cursors]
  std::string serialize() const;
  static OwnedSpace deserialize(std::string_view buffer);

  // Equal ownership, allocation and serial cursors.
  friend bool operator==(const OwnedSpace& a, const OwnedSpace& b);

 private:
  OwnedSpace(OwnedRanges owners, bitseq::Sequence allocated,
             std::map<NodeId, uint64_t> serial_cursors);
  bool try_allocate_in(uint64_t lo, uint64_t hi, uint64_t& found);
  void recount_free();
  OwnedRanges owners_;
  bitseq::Sequence allocated_;                 // bit (i - first) set when i is allocated
  std::map<NodeId, uint64_t> serial_cursors_;  // per node: where its next serial search starts
  std::map<NodeId, uint64_t> free_;  // derived: free integers per owner (every owner listed)
};

}  // namespace trellis::ipam
