#include "bitseq/sequence.h"

#include <bit>
#include <iterator>
#include <sstream>

#include "common/msgpack_decode.h"

namespace trellis::bitseq {
namespace {

constexpr uint32_t kFullBlock = 0xFFFFFFFFu;
constexpr uint64_t kBlockBits = 32;
constexpr uint64_t kFormatVersion = 1;

uint64_t block_count(uint64_t bits) { return bits / kBlockBits + (bits % kBlockBits != 0); }

// Ordinal 0 is the most significant bit of block 0.
uint32_t mask_of(uint64_t ordinal) { return 0x80000000u >> (ordinal % kBlockBits); }

}  // namespace

Sequence::Sequence(uint64_t num_bits) : bits_(num_bits), unselected_(num_bits) {
  if (num_bits == 0) {
    throw InvalidArgumentError("create bit sequence: length must be at least 1 bit");
  }
  runs_.emplace(0, Run{0, block_count(num_bits)});
}

void Sequence::check_ordinal(uint64_t ordinal, const char* operation) const {
  if (ordinal >= bits_) {
    throw OutOfRangeError(std::string(operation) + " bit " + std::to_string(ordinal) +
                          ": out of range for a sequence of " + std::to_string(bits_) + " bits");
  }
}

Sequence::RunMap::const_iterator Sequence::run_containing(uint64_t block_index) const {
  auto it = runs_.upper_bound(block_index);
  return std::prev(it);  // runs_ always starts at block 0
}

uint32_t Sequence::block_at(uint64_t block_index) const {
  return run_containing(block_index)->second.block;
}

void Sequence::write_block(uint64_t block_index, uint32_t value) {
  auto found = run_containing(block_index);
  const uint64_t run_start = found->first;
  const Run run = found->second;
  if (run.block == value) return;
  const uint64_t run_end = run_start + run.count;  // exclusive

  // Split the run into [run_start, block_index) + [block_index] + (block_index, run_end).
  // The outer pieces keep the old value, which already differed from the neighbours.
  runs_.erase(found);
  if (block_index > run_start) runs_.emplace(run_start, Run{run.block, block_index - run_start});
  auto current = runs_.emplace(block_index, Run{value, 1}).first;
  if (block_index + 1 < run_end) {
    runs_.emplace(block_index + 1, Run{run.block, run_end - block_index - 1});
  }

  // The new single-block run may now equal a neighbour: merge so the encoding stays
  // canonical (a full or empty sequence is always one run).
  auto next = std::next(current);
  if (next != runs_.end() && next->second.block == value) {
    current->second.count += next->second.count;
    runs_.erase(next);
  }
  if (current != runs_.begin()) {
    auto prev = std::prev(current);
    if (prev->second.block == value) {
      prev->second.count += current->second.count;
      runs_.erase(current);
    }
  }
}

void Sequence::set(uint64_t ordinal) {
  check_ordinal(ordinal, "set");
  const uint64_t index = ordinal / kBlockBits;
  const uint32_t block = block_at(index);
  if (block & mask_of(ordinal)) {
    throw AlreadyAllocatedError("set bit " + std::to_string(ordinal) + ": already allocated");
  }
  write_block(index, block | mask_of(ordinal));
  --unselected_;
}

void Sequence::unset(uint64_t ordinal) {
  check_ordinal(ordinal, "unset");
  const uint64_t index = ordinal / kBlockBits;
  const uint32_t block = block_at(index);
  if (!(block & mask_of(ordinal))) return;
  write_block(index, block & ~mask_of(ordinal));
  ++unselected_;
}

bool Sequence::is_set(uint64_t ordinal) const {
  check_ordinal(ordinal, "test");
  return block_at(ordinal / kBlockBits) & mask_of(ordinal);
}

uint64_t Sequence::find_clear(uint64_t start, uint64_t end) const {
  const uint64_t first_block = start / kBlockBits;
  const uint64_t last_block = end / kBlockBits;
  for (auto it = run_containing(first_block); it != runs_.end() && it->first <= last_block; ++it) {
    const uint32_t block = it->second.block;
    if (block == kFullBlock) continue;
    const uint64_t run_last = it->first + it->second.count - 1;
    const uint64_t index = std::max(it->first, first_block);
    // In the block holding `start`, positions before start % 32 do not count.
    const uint32_t lead = index == first_block ? static_cast<uint32_t>(start % kBlockBits) : 0;
    const uint32_t free_bits = ~block & (kFullBlock >> lead);
    uint64_t candidate;
    if (free_bits != 0) {
      candidate = index * kBlockBits + static_cast<uint64_t>(std::countl_zero(free_bits));
    } else if (index < run_last) {
      // Every later block of this run holds the same value, which has a clear bit.
      candidate = (index + 1) * kBlockBits + static_cast<uint64_t>(std::countl_zero(~block));
    } else {
      continue;
    }
    // Candidates only grow from here on, so the first one past `end` ends the search.
    return candidate <= end ? candidate : bits_;
  }
  return bits_;
}

uint64_t Sequence::set_any(bool serial) { return set_any_in_range(0, bits_ - 1, serial); }

uint64_t Sequence::set_any_in_range(uint64_t start, uint64_t end, bool serial) {
  if (start > end || end >= bits_) {
    throw InvalidRangeError("allocate bit in [" + std::to_string(start) + ", " +
                            std::to_string(end) + "]: invalid range for a sequence of " +
                            std::to_string(bits_) + " bits");
  }
  uint64_t found = bits_;
  if (unselected_ != 0) {
    if (serial && next_serial_ > start && next_serial_ <= end) {
      found = find_clear(next_serial_, end);
      if (found == bits_) found = find_clear(start, next_serial_ - 1);
    } else {
      found = find_clear(start, end);
    }
  }
  if (found == bits_) {
    throw NoBitAvailableError("allocate bit in [" + std::to_string(start) + ", " +
                              std::to_string(end) + "]: no bit available");
  }
  const uint64_t index = found / kBlockBits;
  write_block(index, block_at(index) | mask_of(found));
  --unselected_;
  if (serial) next_serial_ = found + 1 == bits_ ? 0 : found + 1;
  return found;
}

size_t Sequence::memory_bytes() const {
  // A std::map node holds the value plus three pointers and a colour word.
  constexpr size_t kNodeBytes = sizeof(RunMap::value_type) + 4 * sizeof(void*);
  return sizeof(*this) + runs_.size() * kNodeBytes;
}

std::string Sequence::serialize() const {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  packer.pack_array(4);
  packer.pack_uint64(kFormatVersion);
  packer.pack_uint64(bits_);
  packer.pack_uint64(next_serial_);
  packer.pack_array(static_cast<uint32_t>(runs_.size()));
  for (const auto& [start, run] : runs_) {
    packer.pack_array(2);
    packer.pack_uint32(run.block);
    packer.pack_uint64(run.count);
  }
  return std::string(buffer.data(), buffer.size());
}

Sequence Sequence::deserialize(std::string_view buffer) {
  namespace md = msgpack_decode;
  constexpr std::string_view kWhat = "decode bit sequence";
  auto handle = md::unpack_whole(buffer, kWhat);
  const auto& top = md::array_of(handle.get(), 4, kWhat);
  const uint64_t version = md::as_u64(top.ptr[0], kWhat);
  if (version != kFormatVersion) {
    throw CorruptDataError("decode bit sequence: unsupported format version " +
                           std::to_string(version));
  }
  const uint64_t bits = md::as_u64(top.ptr[1], kWhat);
  const uint64_t next_serial = md::as_u64(top.ptr[2], kWhat);
  if (bits == 0) throw CorruptDataError("decode bit sequence: zero length");
  if (next_serial >= bits) throw CorruptDataError("decode bit sequence: serial cursor past end");

  const auto& runs = md::array_of(top.ptr[3], 1, kWhat, /*at_least=*/true);
  const uint64_t blocks = block_count(bits);
  Sequence seq(bits);
  seq.runs_.clear();
  uint64_t covered = 0;
  uint64_t set_bits = 0;
  for (uint32_t i = 0; i < runs.size; ++i) {
    const auto& pair = md::array_of(runs.ptr[i], 2, kWhat);
    const uint64_t block = md::as_u64(pair.ptr[0], kWhat);
    const uint64_t count = md::as_u64(pair.ptr[1], kWhat);
    if (block > kFullBlock) throw CorruptDataError("decode bit sequence: block exceeds 32 bits");
    if (count == 0 || count > blocks - covered) {
      throw CorruptDataError("decode bit sequence: run lengths do not add up to the length");
    }
    if (!seq.runs_.empty() && std::prev(seq.runs_.end())->second.block == block) {
      throw CorruptDataError("decode bit sequence: adjacent runs are not merged");
    }
    seq.runs_.emplace(covered, Run{static_cast<uint32_t>(block), count});
    covered += count;
    // count <= blocks and popcount <= 32, so this cannot overflow before the check below.
    set_bits += static_cast<uint64_t>(std::popcount(static_cast<uint32_t>(block))) * count;
  }
  if (covered != blocks) {
    throw CorruptDataError("decode bit sequence: run lengths do not add up to the length");
  }
  const uint64_t tail = bits % kBlockBits;
  if (tail != 0 && (std::prev(seq.runs_.end())->second.block & (kFullBlock >> tail)) != 0) {
    throw CorruptDataError("decode bit sequence: bits set beyond the end");
  }
  if (set_bits > bits) throw CorruptDataError("decode bit sequence: more bits set than exist");
  seq.unselected_ = bits - set_bits;
  seq.next_serial_ = next_serial;
  return seq;
}

std::string Sequence::to_string() const {
  std::ostringstream out;
  out << "bits=" << bits_ << " free=" << unselected_ << " next=" << next_serial_ << " runs=[";
  bool first = true;
  for (const auto& [start, run] : runs_) {
    out << (first ? "" : " ") << "(0x" << std::hex << run.block << std::dec << "," << run.count
        << ")";
    first = false;
  }
  out << "]";
  return out.str();
}

}  // namespace trellis::bitseq
