#include "ipam/ip.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "ipam/u128.h"

namespace trellis::ipam {
namespace {

using detail::from_u128;
using detail::to_u128;
using detail::u128;

constexpr uint64_t kMaxTrackedOffset = UINT64_MAX - 1;  // a bit sequence holds 2^64-1 bits

// Mask of the host bits of a prefix of `length` in a family of `width` bits.
u128 host_mask(unsigned width, unsigned length) {
  const unsigned host_bits = width - length;
  if (host_bits == 0) return 0;
  if (host_bits >= 128) return ~u128{0};
  return (u128{1} << host_bits) - 1;
}

// Parses a decimal prefix length without sign, spaces or leading zeros.
bool parse_length(std::string_view text, unsigned& length) {
  if (text.empty() || text.size() > 3 || (text.size() > 1 && text[0] == '0')) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), length);
  return ec == std::errc() && end == text.data() + text.size();
}

std::pair<IpAddress, unsigned> split_cidr(std::string_view cidr, std::string_view what) {
  const auto slash = cidr.find('/');
  if (slash == std::string_view::npos) {
    throw InvalidCidrError(std::string(what) + " '" + std::string(cidr) +
                           "': expected address/length");
  }
  IpAddress address;
  try {
    address = IpAddress::parse(cidr.substr(0, slash));
  } catch (const InvalidAddressError&) {
    throw InvalidCidrError(std::string(what) + " '" + std::string(cidr) + "': invalid address");
  }
  unsigned length = 0;
  if (!parse_length(cidr.substr(slash + 1), length) || length > address.bit_width()) {
    throw InvalidCidrError(std::string(what) + " '" + std::string(cidr) +
                           "': invalid prefix length");
  }
  return {address, length};
}

}  // namespace

IpAddress IpAddress::parse(std::string_view text) {
  // inet_pton needs a NUL-terminated string; the longest IPv6 text form is 45 characters.
  if (text.empty() || text.size() > 45 || text.find('\0') != std::string_view::npos) {
    throw InvalidAddressError("parse IP address '" + std::string(text) + "': malformed");
  }
  const std::string copy(text);
  IpAddress address;
  if (copy.find(':') == std::string::npos) {
    // glibc's inet_pton accepts only the strict dotted quad (no octal, no short forms).
    if (inet_pton(AF_INET, copy.c_str(), address.bytes_.data()) != 1) {
      throw InvalidAddressError("parse IP address '" + copy + "': not an IPv4 address");
    }
  } else {
    if (inet_pton(AF_INET6, copy.c_str(), address.bytes_.data()) != 1) {
      throw InvalidAddressError("parse IP address '" + copy + "': not an IPv6 address");
    }
    address.v6_ = true;
  }
  return address;
}

IpAddress IpAddress::v4(uint32_t value) {
  IpAddress address;
  address.bytes_[0] = static_cast<uint8_t>(value >> 24);
  address.bytes_[1] = static_cast<uint8_t>(value >> 16);
  address.bytes_[2] = static_cast<uint8_t>(value >> 8);
  address.bytes_[3] = static_cast<uint8_t>(value);
  return address;
}

IpAddress IpAddress::v6(const std::array<uint8_t, 16>& bytes) {
  IpAddress address;
  address.v6_ = true;
  address.bytes_ = bytes;
  return address;
}

IpAddress IpAddress::from_bytes(std::span<const uint8_t> bytes) {
  IpAddress address;
  if (bytes.size() == 16) {
    address.v6_ = true;
  } else if (bytes.size() != 4) {
    throw InvalidAddressError("IP address from " + std::to_string(bytes.size()) +
                              " bytes: expected 4 or 16");
  }
  std::copy(bytes.begin(), bytes.end(), address.bytes_.begin());
  return address;
}

uint32_t IpAddress::to_v4_uint() const {
  if (v6_) throw InvalidArgumentError("IPv4 value of " + to_string() + ": not an IPv4 address");
  return static_cast<uint32_t>(to_u128(*this));
}

std::string IpAddress::to_string() const {
  char text[INET6_ADDRSTRLEN] = {};
  // glibc's inet_ntop writes RFC 5952 text: lower case, longest zero run (of two or more
  // groups) compressed.
  inet_ntop(v6_ ? AF_INET6 : AF_INET, bytes_.data(), text, sizeof(text));
  return text;
}

Prefix::Prefix(IpAddress network, unsigned length) : network_(network) {
  if (length > network.bit_width()) {
    throw InvalidCidrError("prefix " + network.to_string() + "/" + std::to_string(length) +
                           ": length exceeds " + std::to_string(network.bit_width()) + " bits");
  }
  if ((to_u128(network) & host_mask(network.bit_width(), length)) != 0) {
    throw InvalidCidrError("prefix " + network.to_string() + "/" + std::to_string(length) +
                           ": host bits are set (did you mean " +
                           containing(network, length).to_string() + "?)");
  }
  length_ = static_cast<uint8_t>(length);
}

Prefix Prefix::parse(std::string_view cidr) {
  const auto [address, length] = split_cidr(cidr, "parse prefix");
  return Prefix(address, length);
}

Prefix Prefix::containing(IpAddress address, unsigned length) {
  if (length > address.bit_width()) {
    throw InvalidCidrError("prefix of " + address.to_string() + " with length " +
                           std::to_string(length) + ": length exceeds " +
                           std::to_string(address.bit_width()) + " bits");
  }
  const u128 masked = to_u128(address) & ~host_mask(address.bit_width(), length);
  return Prefix(from_u128(masked, address.is_v6()), length);
}

IpAddress Prefix::last() const {
  return from_u128(to_u128(network_) | host_mask(network_.bit_width(), length_), is_v6());
}

bool Prefix::contains(const IpAddress& address) const {
  if (address.is_v6() != is_v6()) return false;
  return (to_u128(address) & ~host_mask(network_.bit_width(), length_)) == to_u128(network_);
}

bool Prefix::contains(const Prefix& other) const {
  return other.length_ >= length_ && contains(other.network_);
}

bool Prefix::overlaps(const Prefix& other) const {
  return contains(other) || other.contains(*this);
}

uint64_t Prefix::host_count() const {
  const unsigned host_bits = network_.bit_width() - length_;
  return host_bits >= 64 ? UINT64_MAX : uint64_t{1} << host_bits;
}

uint64_t Prefix::offset_of(const IpAddress& address) const {
  if (!contains(address)) {
    throw AddressOutOfRangeError("offset of " + address.to_string() + " in " + to_string() +
                                 ": not in the prefix");
  }
  const u128 offset = to_u128(address) - to_u128(network_);
  if (offset > UINT64_MAX) {
    throw AddressOutOfRangeError("offset of " + address.to_string() + " in " + to_string() +
                                 ": beyond the first 2^64 addresses of the prefix");
  }
  return static_cast<uint64_t>(offset);
}

IpAddress Prefix::address_at(uint64_t offset) const {
  const unsigned host_bits = network_.bit_width() - length_;
  if (host_bits < 64 && offset >= (uint64_t{1} << host_bits)) {
    throw AddressOutOfRangeError("address at offset " + std::to_string(offset) + " of " +
                                 to_string() + ": beyond the prefix");
  }
  return from_u128(to_u128(network_) + offset, is_v6());
}

uint64_t Prefix::first_host_offset() const {
  const unsigned host_bits = network_.bit_width() - length_;
  return host_bits >= 2 ? 1 : 0;
}

uint64_t Prefix::last_host_offset() const {
  const unsigned host_bits = network_.bit_width() - length_;
  if (host_bits >= 64) return kMaxTrackedOffset;
  const uint64_t last = (uint64_t{1} << host_bits) - 1;
  // IPv4 keeps its broadcast address out; IPv6 has no broadcast.
  return is_v4() && host_bits >= 2 ? last - 1 : last;
}

std::string Prefix::to_string() const {
  return network_.to_string() + "/" + std::to_string(length_);
}

InterfaceAddress InterfaceAddress::parse(std::string_view text) {
  const auto [address, length] = split_cidr(text, "parse interface address");
  return InterfaceAddress{address, Prefix::containing(address, length)};
}

std::string InterfaceAddress::to_string() const {
  return address.to_string() + "/" + std::to_string(prefix.length());
}

}  // namespace trellis::ipam
