#include "ipam/owned_ranges.h"

#include <algorithm>
#include <bit>
#include <iterator>
#include <set>

#include "common/msgpack_decode.h"

namespace trellis::ipam {
namespace {

constexpr uint64_t kRangesFormatVersion = 1;
constexpr uint64_t kSpaceFormatVersion = 1;
constexpr uint32_t kFullBlock = 0xFFFFFFFFu;

std::string range_text(uint64_t first, uint64_t last) {
  return "[" + std::to_string(first) + ", " + std::to_string(last) + "]";
}

std::string donation_text(const Donation& d) {
  return "donation of " + range_text(d.range.first, d.range.last) + " from node " +
         std::to_string(d.from) + " to node " + std::to_string(d.to);
}

void check_space(uint64_t first, uint64_t last, const char* operation) {
  if (first > last) {
    throw InvalidArgumentError(std::string(operation) + " " + range_text(first, last) +
                               ": first is above last");
  }
  if (first == 0 && last == UINT64_MAX) {
    throw InvalidArgumentError(std::string(operation) + " " + range_text(first, last) +
                               ": a space holds at most 2^64-1 integers");
  }
}

// The run list of a bit sequence, read through its documented encoding
// ([version, bits, cursor, [[block, count], ...]]): Sequence offers no range queries, and
// donations need "how many set bits in [a, b]" and "the longest clear stretch in [a, b]".
struct BlockRun {
  uint64_t first_block;
  uint64_t count;
  uint32_t block;
};

std::vector<BlockRun> runs_of(const bitseq::Sequence& seq) {
  constexpr std::string_view kWhat = "read bit sequence runs";
  const std::string bytes = seq.serialize();
  auto handle = msgpack_decode::unpack_whole(bytes, kWhat);
  const auto& top = msgpack_decode::array_of(handle.get(), 4, kWhat);
  const auto& runs = msgpack_decode::array_of(top.ptr[3], 1, kWhat, /*at_least=*/true);
  std::vector<BlockRun> out;
  out.reserve(runs.size);
  uint64_t at = 0;
  for (uint32_t i = 0; i < runs.size; ++i) {
    const auto& pair = msgpack_decode::array_of(runs.ptr[i], 2, kWhat);
    const uint64_t block = msgpack_decode::as_u64(pair.ptr[0], kWhat);
    const uint64_t count = msgpack_decode::as_u64(pair.ptr[1], kWhat);
    out.push_back(BlockRun{at, count, static_cast<uint32_t>(block)});
    at += count;
  }
  return out;
}

// Walks free (clear) bits in ordinal order, counting them and remembering the first longest
// stretch. Masks are "free" masks: bit set = ordinal free, most significant bit first.
class FreeScan {
 public:
  uint64_t free = 0;
  uint64_t best_start = 0;
  uint64_t best_length = 0;

  void feed(uint64_t base, uint32_t mask) {
    free += static_cast<uint64_t>(std::popcount(mask));
    unsigned pos = 0;
    while (pos < 32) {
      const uint32_t rest = mask << pos;
      if (rest == 0) {
        close();
        return;
      }
      const unsigned zeros = static_cast<unsigned>(std::countl_zero(rest));
      if (zeros != 0) {
        close();
        pos += zeros;
        continue;
      }
      const unsigned ones = static_cast<unsigned>(std::countl_one(rest));
      extend(base + pos, ones);
      pos += ones;
    }
  }

  // `count` consecutive blocks holding the same mask, without visiting each: from the third
  // repetition on, every stretch equals one already seen in the second (and is later, so it
  // never wins), except the stretch left open at the very end.
  void feed_repeated(uint64_t base, uint32_t mask, uint64_t count) {
    if (mask == 0) {
      close();
      return;
    }
    if (mask == kFullBlock) {
      free += 32 * count;
      extend(base, 32 * count);
      return;
    }
    feed(base, mask);
    if (count >= 2) feed(base + 32, mask);
    if (count > 2) {
      free += static_cast<uint64_t>(std::popcount(mask)) * (count - 2);
      const unsigned trailing = static_cast<unsigned>(std::countr_one(mask));
      open_length_ = trailing;
      open_start_ = base + 32 * count - trailing;
    }
  }

  void close() {
    if (open_length_ > best_length) {
      best_start = open_start_;
      best_length = open_length_;
    }
    open_length_ = 0;
  }

 private:
  void extend(uint64_t at, uint64_t length) {
    if (open_length_ != 0 && open_start_ + open_length_ == at) {
      open_length_ += length;
    } else {
      close();
      open_start_ = at;
      open_length_ = length;
    }
  }
  uint64_t open_start_ = 0;
  uint64_t open_length_ = 0;
};

// Scans ordinals [s, e] of the sequence whose runs are `runs`.
FreeScan scan(const std::vector<BlockRun>& runs, uint64_t s, uint64_t e) {
  FreeScan scanner;
  const uint64_t bs = s / 32;
  const uint64_t be = e / 32;
  const uint32_t keep_first = kFullBlock >> (s % 32);
  const uint32_t keep_last = e % 32 == 31 ? kFullBlock : ~(kFullBlock >> (e % 32 + 1));
  auto r = std::upper_bound(runs.begin(), runs.end(), bs,
                            [](uint64_t b, const BlockRun& run) { return b < run.first_block; });
  --r;  // runs start at block 0
  for (; r != runs.end() && r->first_block <= be; ++r) {
    const uint32_t mask = ~r->block;
    uint64_t b = std::max(r->first_block, bs);
    const uint64_t hi = std::min(r->first_block + r->count - 1, be);
    if (b == bs) {
      scanner.feed(b * 32, mask & keep_first & (b == be ? keep_last : kFullBlock));
      ++b;
    }
    if (b > hi) continue;
    const uint64_t middle_last = hi == be ? hi - 1 : hi;
    if (middle_last >= b) scanner.feed_repeated(b * 32, mask, middle_last - b + 1);
    if (hi == be) scanner.feed(be * 32, mask & keep_last);
  }
  scanner.close();
  return scanner;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// OwnedRanges

OwnedRanges::OwnedRanges(uint64_t first, uint64_t last, NodeId founder)
    : first_(first), last_(last) {
  check_space(first, last, "create owned ranges");
  ranges_.emplace(first, std::make_pair(last, founder));
}

Range OwnedRanges::space() const { return Range{first_, last_}; }

NodeId OwnedRanges::owner_of(uint64_t i) const {
  if (i < first_ || i > last_) {
    throw bitseq::OutOfRangeError("owner of " + std::to_string(i) + ": outside the space " +
                                  range_text(first_, last_));
  }
  return std::prev(ranges_.upper_bound(i))->second.second;
}

std::vector<Range> OwnedRanges::ranges_of(NodeId node) const {
  std::vector<Range> out;
  for (const auto& [first, entry] : ranges_) {
    if (entry.second == node) out.push_back(Range{first, entry.first});
  }
  return out;
}

uint64_t OwnedRanges::owned_count(NodeId node) const {
  uint64_t total = 0;
  for (const auto& [first, entry] : ranges_) {
    if (entry.second == node) total += entry.first - first + 1;
  }
  return total;
}

std::vector<NodeId> OwnedRanges::owners() const {
  std::set<NodeId> nodes;
  for (const auto& [first, entry] : ranges_) nodes.insert(entry.second);
  return {nodes.begin(), nodes.end()};
}

std::vector<std::pair<Range, NodeId>> OwnedRanges::all() const {
  std::vector<std::pair<Range, NodeId>> out;
  out.reserve(ranges_.size());
  for (const auto& [first, entry] : ranges_)
    out.emplace_back(Range{first, entry.first}, entry.second);
  return out;
}

bool OwnedRanges::owns(NodeId node, const Range& range) const {
  if (range.first > range.last || range.first < first_ || range.last > last_) return false;
  for (auto it = std::prev(ranges_.upper_bound(range.first));
       it != ranges_.end() && it->first <= range.last; ++it) {
    if (it->second.second != node) return false;
  }
  return true;
}

void OwnedRanges::split_at(uint64_t i) {
  auto it = std::prev(ranges_.upper_bound(i));
  if (it->first == i) return;
  const auto [last, owner] = it->second;
  it->second.first = i - 1;
  ranges_.emplace(i, std::make_pair(last, owner));
}

void OwnedRanges::merge_around(uint64_t first) {
  auto it = ranges_.find(first);
  auto next = std::next(it);
  if (next != ranges_.end() && next->second.second == it->second.second) {
    it->second.first = next->second.first;
    ranges_.erase(next);
  }
  if (it != ranges_.begin()) {
    auto prev = std::prev(it);
    if (prev->second.second == it->second.second) {
      prev->second.first = it->second.first;
      ranges_.erase(it);
    }
  }
}

void OwnedRanges::apply(const Donation& donation) {
  const Range& r = donation.range;
  if (donation.from == donation.to) {
    throw InvalidArgumentError("apply " + donation_text(donation) + ": donor and recipient are " +
                               "the same node");
  }
  if (r.first > r.last || r.first < first_ || r.last > last_) {
    throw InvalidArgumentError("apply " + donation_text(donation) + ": not a range inside " +
                               range_text(first_, last_));
  }
  if (owns(donation.to, r)) return;  // already applied
  if (!owns(donation.from, r)) {
    throw ConflictError("apply " + donation_text(donation) + ": the donor does not own all of it");
  }
  split_at(r.first);
  if (r.last < last_) split_at(r.last + 1);
  ranges_.erase(ranges_.find(r.first), ranges_.upper_bound(r.last));
  ranges_.emplace(r.first, std::make_pair(r.last, donation.to));
  merge_around(r.first);
}

void OwnedRanges::reassign_all(NodeId gone, NodeId heir) {
  if (gone == heir) return;
  for (auto it = ranges_.begin(); it != ranges_.end();) {
    if (it->second.second == gone) {
      it->second.second = heir;
      const uint64_t first = it->first;
      merge_around(first);
      // merge_around may have erased the entry `it` pointed to: find where `first` ended up.
      it = std::prev(ranges_.upper_bound(first));
    }
    ++it;
  }
}

std::string OwnedRanges::serialize() const {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  packer.pack_array(4);
  packer.pack_uint64(kRangesFormatVersion);
  packer.pack_uint64(first_);
  packer.pack_uint64(last_);
  packer.pack_array(static_cast<uint32_t>(ranges_.size()));
  for (const auto& [first, entry] : ranges_) {
    packer.pack_array(3);
    packer.pack_uint64(first);
    packer.pack_uint64(entry.first);
    packer.pack_uint64(entry.second);
  }
  return std::string(buffer.data(), buffer.size());
}

OwnedRanges OwnedRanges::deserialize(std::string_view buffer) {
  namespace md = msgpack_decode;
  constexpr std::string_view kWhat = "decode owned ranges";
  auto handle = md::unpack_whole(buffer, kWhat);
  const auto& top = md::array_of(handle.get(), 4, kWhat);
  const uint64_t version = md::as_u64(top.ptr[0], kWhat);
  if (version != kRangesFormatVersion) {
    throw CorruptDataError("decode owned ranges: unsupported format version " +
                           std::to_string(version));
  }
  OwnedRanges out;
  out.first_ = md::as_u64(top.ptr[1], kWhat);
  out.last_ = md::as_u64(top.ptr[2], kWhat);
  if (out.first_ > out.last_ || (out.first_ == 0 && out.last_ == UINT64_MAX)) {
    throw CorruptDataError("decode owned ranges: invalid space " +
                           range_text(out.first_, out.last_));
  }
  const auto& ranges = md::array_of(top.ptr[3], 1, kWhat, /*at_least=*/true);
  uint64_t expected = out.first_;
  bool complete = false;
  for (uint32_t i = 0; i < ranges.size; ++i) {
    const auto& triple = md::array_of(ranges.ptr[i], 3, kWhat);
    const uint64_t first = md::as_u64(triple.ptr[0], kWhat);
    const uint64_t last = md::as_u64(triple.ptr[1], kWhat);
    const NodeId owner = md::as_u64(triple.ptr[2], kWhat);
    if (complete || first != expected || last < first || last > out.last_) {
      throw CorruptDataError("decode owned ranges: range " + range_text(first, last) +
                             " does not continue the ranges before it");
    }
    if (!out.ranges_.empty() && std::prev(out.ranges_.end())->second.second == owner) {
      throw CorruptDataError("decode owned ranges: adjacent ranges of node " +
                             std::to_string(owner) + " are not merged");
    }
    out.ranges_.emplace(first, std::make_pair(last, owner));
    if (last == out.last_) {
      complete = true;
    } else {
      expected = last + 1;
    }
  }
  if (!complete) throw CorruptDataError("decode owned ranges: ranges do not cover the space");
  return out;
}

// ---------------------------------------------------------------------------------------
// OwnedSpace

OwnedSpace::OwnedSpace(uint64_t first, uint64_t last, NodeId founder)
    : owners_(first, last, founder), allocated_(last - first + 1) {
  free_[founder] = last - first + 1;
}

OwnedSpace::OwnedSpace(OwnedRanges owners, bitseq::Sequence allocated,
                       std::map<NodeId, uint64_t> serial_cursors)
    : owners_(std::move(owners)),
      allocated_(std::move(allocated)),
      serial_cursors_(std::move(serial_cursors)) {
  recount_free();
}

void OwnedSpace::recount_free() {
  free_.clear();
  const auto runs = runs_of(allocated_);
  const uint64_t base = owners_.space().first;
  for (const auto& [range, owner] : owners_.all()) {
    free_[owner] += scan(runs, range.first - base, range.last - base).free;
  }
}

bool OwnedSpace::try_allocate_in(uint64_t lo, uint64_t hi, uint64_t& found) {
  const uint64_t base = owners_.space().first;
  try {
    // Never serial at the sequence level: cursors are per node and live in serial_cursors_.
    found = base + allocated_.set_any_in_range(lo - base, hi - base, /*serial=*/false);
    return true;
  } catch (const bitseq::NoBitAvailableError&) {
    return false;
  }
}

uint64_t OwnedSpace::allocate(NodeId node, bool serial) {
  const Range space = owners_.space();
  if (free_count(node) == 0) {
    throw bitseq::NoBitAvailableError("allocate in space " + range_text(space.first, space.last) +
                                      " for node " + std::to_string(node) +
                                      ": it owns no free integer");
  }
  const std::vector<Range> ranges = owners_.ranges_of(node);
  uint64_t found = 0;
  bool ok = false;
  if (!serial) {
    for (const Range& r : ranges) {
      if ((ok = try_allocate_in(r.first, r.last, found))) break;
    }
  } else {
    auto cursor_it = serial_cursors_.find(node);
    const uint64_t cursor = cursor_it == serial_cursors_.end() ? space.first : cursor_it->second;
    // From the cursor to the end of the space, then from the start up to the cursor.
    for (const Range& r : ranges) {
      if (r.last < cursor) continue;
      if ((ok = try_allocate_in(std::max(r.first, cursor), r.last, found))) break;
    }
    for (size_t i = 0; !ok && i < ranges.size() && ranges[i].first < cursor; ++i) {
      ok = try_allocate_in(ranges[i].first, std::min(ranges[i].last, cursor - 1), found);
    }
    if (ok) serial_cursors_[node] = found == space.last ? space.first : found + 1;
  }
  if (!ok) {
    // free_ said there was room: the bookkeeping is broken.
    throw InternalError("allocate in space " + range_text(space.first, space.last) + " for node " +
                        std::to_string(node) + ": free count out of step");
  }
  --free_[node];
  return found;
}

void OwnedSpace::allocate_specific(NodeId node, uint64_t i) {
  const NodeId owner = owners_.owner_of(i);  // OutOfRangeError
  if (owner != node) {
    throw NotOwnerError("allocate " + std::to_string(i) + " for node " + std::to_string(node) +
                        ": owned by node " + std::to_string(owner));
  }
  try {
    allocated_.set(i - owners_.space().first);
  } catch (const bitseq::AlreadyAllocatedError&) {
    throw bitseq::AlreadyAllocatedError("allocate " + std::to_string(i) + " for node " +
                                        std::to_string(node) + ": already allocated");
  }
  --free_[node];
}

void OwnedSpace::release(uint64_t i) {
  const NodeId owner = owners_.owner_of(i);  // OutOfRangeError
  const uint64_t ordinal = i - owners_.space().first;
  if (!allocated_.is_set(ordinal)) return;
  allocated_.unset(ordinal);
  ++free_[owner];
}

bool OwnedSpace::is_allocated(uint64_t i) const {
  owners_.owner_of(i);  // OutOfRangeError
  return allocated_.is_set(i - owners_.space().first);
}

uint64_t OwnedSpace::free_count(NodeId node) const {
  auto it = free_.find(node);
  return it == free_.end() ? 0 : it->second;
}

std::map<NodeId, uint64_t> OwnedSpace::free_by_owner() const { return free_; }

std::optional<Donation> OwnedSpace::plan_donation(NodeId from, NodeId to, uint64_t wanted) const {
  if (from == to) {
    throw InvalidArgumentError("plan donation from node " + std::to_string(from) + " to itself");
  }
  if (wanted == 0 || free_count(from) == 0) return std::nullopt;
  const auto runs = runs_of(allocated_);
  const uint64_t base = owners_.space().first;
  uint64_t best_start = 0;
  uint64_t best_length = 0;
  for (const Range& r : owners_.ranges_of(from)) {
    const FreeScan s = scan(runs, r.first - base, r.last - base);
    if (s.best_length > best_length) {
      best_start = base + s.best_start;
      best_length = s.best_length;
    }
  }
  if (best_length == 0) return std::nullopt;
  const uint64_t give = std::min(wanted, std::max<uint64_t>(1, best_length / 2));
  const uint64_t last = best_start + best_length - 1;
  return Donation{from, to, Range{last - give + 1, last}};
}

void OwnedSpace::apply(const Donation& donation) {
  const Range& r = donation.range;
  if (donation.from != donation.to && owners_.owns(donation.from, r)) {
    const uint64_t base = owners_.space().first;
    const FreeScan s = scan(runs_of(allocated_), r.first - base, r.last - base);
    if (s.free != r.size()) {
      throw ConflictError("apply " + donation_text(donation) + ": " +
                          std::to_string(r.size() - s.free) + " of its integers are allocated");
    }
    owners_.apply(donation);
    free_[donation.from] -= r.size();
    free_[donation.to] += r.size();
    if (free_[donation.from] == 0 && owners_.owned_count(donation.from) == 0) {
      free_.erase(donation.from);
    }
    return;
  }
  owners_.apply(donation);  // validates; a no-op when already applied, else throws
}

void OwnedSpace::reassign_all(NodeId gone, NodeId heir) {
  if (gone == heir) return;
  owners_.reassign_all(gone, heir);
  auto it = free_.find(gone);
  if (it == free_.end()) return;
  const uint64_t moved = it->second;
  free_.erase(it);
  free_[heir] += moved;
}

std::string OwnedSpace::serialize() const {
  const std::string owners = owners_.serialize();
  const std::string allocated = allocated_.serialize();
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  packer.pack_array(4);
  packer.pack_uint64(kSpaceFormatVersion);
  packer.pack_bin(static_cast<uint32_t>(owners.size()));
  packer.pack_bin_body(owners.data(), static_cast<uint32_t>(owners.size()));
  packer.pack_bin(static_cast<uint32_t>(allocated.size()));
  packer.pack_bin_body(allocated.data(), static_cast<uint32_t>(allocated.size()));
  packer.pack_array(static_cast<uint32_t>(serial_cursors_.size()));
  for (const auto& [node, cursor] : serial_cursors_) {
    packer.pack_array(2);
    packer.pack_uint64(node);
    packer.pack_uint64(cursor);
  }
  return std::string(buffer.data(), buffer.size());
}

OwnedSpace OwnedSpace::deserialize(std::string_view buffer) {
  namespace md = msgpack_decode;
  constexpr std::string_view kWhat = "decode owned space";
  auto handle = md::unpack_whole(buffer, kWhat);
  const auto& top = md::array_of(handle.get(), 4, kWhat);
  const uint64_t version = md::as_u64(top.ptr[0], kWhat);
  if (version != kSpaceFormatVersion) {
    throw CorruptDataError("decode owned space: unsupported format version " +
                           std::to_string(version));
  }
  OwnedRanges owners = OwnedRanges::deserialize(md::as_string(top.ptr[1], kWhat));
  bitseq::Sequence allocated = bitseq::Sequence::deserialize(md::as_string(top.ptr[2], kWhat));
  const Range space = owners.space();
  if (allocated.bits() != space.size()) {
    throw CorruptDataError("decode owned space: allocation covers " +
                           std::to_string(allocated.bits()) + " integers, the space " +
                           std::to_string(space.size()));
  }
  if (allocated.serial_cursor() != 0) {
    throw CorruptDataError("decode owned space: unexpected cursor in the allocation bits");
  }
  const auto& cursors = md::array_of(top.ptr[3], 0, kWhat, /*at_least=*/true);
  std::map<NodeId, uint64_t> serial_cursors;
  for (uint32_t i = 0; i < cursors.size; ++i) {
    const auto& pair = md::array_of(cursors.ptr[i], 2, kWhat);
    const NodeId node = md::as_u64(pair.ptr[0], kWhat);
    const uint64_t cursor = md::as_u64(pair.ptr[1], kWhat);
    if (!serial_cursors.empty() && std::prev(serial_cursors.end())->first >= node) {
      throw CorruptDataError("decode owned space: serial cursors are not in node order");
    }
    if (cursor < space.first || cursor > space.last) {
      throw CorruptDataError("decode owned space: serial cursor " + std::to_string(cursor) +
                             " outside the space");
    }
    serial_cursors.emplace(node, cursor);
  }
  return OwnedSpace(std::move(owners), std::move(allocated), std::move(serial_cursors));
}

bool operator==(const OwnedSpace& a, const OwnedSpace& b) {
  return a.owners_ == b.owners_ && a.allocated_ == b.allocated_ &&
         a.serial_cursors_ == b.serial_cursors_;
}

}  // namespace trellis::ipam
