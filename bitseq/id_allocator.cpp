#include "bitseq/id_allocator.h"

#include "common/msgpack_decode.h"

namespace trellis::bitseq {
namespace {

constexpr uint64_t kFormatVersion = 1;

uint64_t span_bits(uint64_t start, uint64_t end) {
  if (start > end || end - start == UINT64_MAX) {
    throw InvalidRangeError("create id allocator [" + std::to_string(start) + ", " +
                            std::to_string(end) + "]: invalid range");
  }
  return end - start + 1;
}

}  // namespace

IdAllocator::IdAllocator(uint64_t start, uint64_t end)
    : start_(start), end_(end), bits_(span_bits(start, end)) {}

IdAllocator::IdAllocator(uint64_t start, uint64_t end, Sequence bits)
    : start_(start), end_(end), bits_(std::move(bits)) {}

uint64_t IdAllocator::get(bool serial) {
  try {
    return start_ + bits_.set_any(serial);
  } catch (const NoBitAvailableError&) {
    throw NoBitAvailableError("allocate id in [" + std::to_string(start_) + ", " +
                              std::to_string(end_) + "]: all ids are in use");
  }
}

void IdAllocator::get_specific(uint64_t id) {
  if (id < start_ || id > end_) {
    throw OutOfRangeError("allocate id " + std::to_string(id) + ": outside [" +
                          std::to_string(start_) + ", " + std::to_string(end_) + "]");
  }
  try {
    bits_.set(id - start_);
  } catch (const AlreadyAllocatedError&) {
    throw AlreadyAllocatedError("allocate id " + std::to_string(id) + ": already in use");
  }
}

uint64_t IdAllocator::get_in_range(uint64_t lo, uint64_t hi, bool serial) {
  if (lo > hi || lo < start_ || hi > end_) {
    throw InvalidRangeError("allocate id in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                            "]: not a range inside [" + std::to_string(start_) + ", " +
                            std::to_string(end_) + "]");
  }
  try {
    return start_ + bits_.set_any_in_range(lo - start_, hi - start_, serial);
  } catch (const NoBitAvailableError&) {
    throw NoBitAvailableError("allocate id in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                              "]: all ids in the range are in use");
  }
}

void IdAllocator::release(uint64_t id) {
  if (id < start_ || id > end_) {
    throw OutOfRangeError("release id " + std::to_string(id) + ": outside [" +
                          std::to_string(start_) + ", " + std::to_string(end_) + "]");
  }
  bits_.unset(id - start_);
}

bool IdAllocator::is_allocated(uint64_t id) const {
  if (id < start_ || id > end_) return false;
  return bits_.is_set(id - start_);
}

std::string IdAllocator::serialize() const {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  const std::string bits = bits_.serialize();
  packer.pack_array(4);
  packer.pack_uint64(kFormatVersion);
  packer.pack_uint64(start_);
  packer.pack_uint64(end_);
  packer.pack_bin(static_cast<uint32_t>(bits.size()));
  packer.pack_bin_body(bits.data(), static_cast<uint32_t>(bits.size()));
  return std::string(buffer.data(), buffer.size());
}

IdAllocator IdAllocator::deserialize(std::string_view buffer) {
  namespace md = msgpack_decode;
  constexpr std::string_view kWhat = "decode id allocator";
  auto handle = md::unpack_whole(buffer, kWhat);
  const auto& top = md::array_of(handle.get(), 4, kWhat);
  const uint64_t version = md::as_u64(top.ptr[0], kWhat);
  if (version != kFormatVersion) {
    throw CorruptDataError("decode id allocator: unsupported format version " +
                           std::to_string(version));
  }
  const uint64_t start = md::as_u64(top.ptr[1], kWhat);
  const uint64_t end = md::as_u64(top.ptr[2], kWhat);
  if (start > end || end - start == UINT64_MAX) {
    throw CorruptDataError("decode id allocator: invalid range");
  }
  Sequence bits = Sequence::deserialize(md::as_string(top.ptr[3], kWhat));
  if (bits.bits() != end - start + 1) {
    throw CorruptDataError("decode id allocator: sequence length does not match the range");
  }
  return IdAllocator(start, end, std::move(bits));
}

}  // namespace trellis::bitseq
