#pragma once
// IP addresses and prefixes (IPv4 and IPv6) as small value types, with the integer
// arithmetic IPAM needs: a prefix maps its addresses to 64-bit offsets so a bit sequence or an
// owned space can track them. Values are immutable and cheap to copy; thread-compatible.

#include <array>
#include <compare>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/error.h"

namespace trellis::ipam {

// Text that is not an IPv4 dotted quad or an IPv6 address (RFC 4291 text forms, no zone).
class InvalidAddressError : public InvalidArgumentError {
 public:
  using InvalidArgumentError::InvalidArgumentError;
};

// Text that is not "address/length", a length beyond the family's width, or (for a prefix)
// host bits set below the length.
class InvalidCidrError : public InvalidArgumentError {
 public:
  using InvalidArgumentError::InvalidArgumentError;
};

// An address outside the prefix, pool or range it is used with, or an offset beyond it.
class AddressOutOfRangeError : public InvalidArgumentError {
 public:
  using InvalidArgumentError::InvalidArgumentError;
};

// An IPv4 or IPv6 address. Ordering: every IPv4 address sorts before every IPv6 address,
// then by numeric value. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) stays IPv6.
class IpAddress {
 public:
  // 0.0.0.0.
  IpAddress() = default;

  // Parses "192.0.2.1" or "2001:db8::1" (no leading zeros in IPv4 octets, no zone index,
  // no surrounding spaces). Throws InvalidAddressError.
  static IpAddress parse(std::string_view text);
  // IPv4 from its host-order 32-bit value (192.0.2.1 is 0xC0000201).
  static IpAddress v4(uint32_t value);
  // IPv6 from its 16 network-order bytes.
  static IpAddress v6(const std::array<uint8_t, 16>& bytes);
  // From 4 or 16 network-order bytes (as they sit in a packet or netlink attribute).
  // Throws InvalidAddressError for any other length.
  static IpAddress from_bytes(std::span<const uint8_t> bytes);

  bool is_v4() const { return !v6_; }
  bool is_v6() const { return v6_; }
  // 32 or 128.
  unsigned bit_width() const { return v6_ ? 128 : 32; }

  // Network-order bytes: 4 for IPv4, 16 for IPv6. Valid while this object lives.
  std::span<const uint8_t> bytes() const { return {bytes_.data(), v6_ ? 16u : 4u}; }
  // Host-order value of an IPv4 address. Throws InvalidArgumentError for IPv6.
  uint32_t to_v4_uint() const;

  // "192.0.2.1"; IPv6 in the RFC 5952 canonical form ("2001:db8::1").
  std::string to_string() const;

  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;

 private:
  bool v6_ = false;                  // declared first: IPv4 sorts before IPv6
  std::array<uint8_t, 16> bytes_{};  // IPv4 uses the first 4 bytes; the rest stay zero
};

// A network prefix "network/length" with no host bits set. Ordering: by network address,
// then by length (so a prefix sorts just before the longer prefixes it contains).
//
// Offsets: a prefix numbers its addresses from 0 (the network address) upwards.
// offset_of/address_at convert between addresses and these 64-bit offsets. An IPv6 prefix
// shorter than /64 has more than 2^64 addresses; only the first 2^64 (offsets 0..2^64-1)
// are reachable through offsets, and addresses beyond are AddressOutOfRangeError.
class Prefix {
 public:
  // 0.0.0.0/0.
  Prefix() = default;
  // Throws InvalidCidrError when length exceeds the family width or host bits are set.
  Prefix(IpAddress network, unsigned length);

  // Parses "10.0.0.0/24" or "2001:db8::/64". Throws InvalidCidrError (also when host bits
  // are set: "10.0.0.5/24" is an interface address, see InterfaceAddress).
  static Prefix parse(std::string_view cidr);
  // The prefix of the given length that contains `address` (host bits cleared).
  // Throws InvalidCidrError when length exceeds the family width.
  static Prefix containing(IpAddress address, unsigned length);

  const IpAddress& network() const { return network_; }
  unsigned length() const { return length_; }
  bool is_v4() const { return network_.is_v4(); }
  bool is_v6() const { return network_.is_v6(); }

  // The highest address in the prefix (the IPv4 broadcast address).
  IpAddress last() const;
  // Same family and inside. Addresses or prefixes of the other family are never contained.
  bool contains(const IpAddress& address) const;
  bool contains(const Prefix& other) const;
  // Whether the two share any address (for aligned prefixes: one contains the other).
  bool overlaps(const Prefix& other) const;

  // Number of addresses in the prefix, network and broadcast included (a /24 has 256),
  // saturating at UINT64_MAX (every IPv6 prefix of /64 or shorter).
  uint64_t host_count() const;
  // The offset of `address` from the network address. Throws AddressOutOfRangeError when
  // the address is not in the prefix or its offset does not fit in 64 bits (see above).
  uint64_t offset_of(const IpAddress& address) const;
  // The address at `offset`. Throws AddressOutOfRangeError when offset >= host_count()
  // (for prefixes of /64 and shorter every 64-bit offset is valid).
  IpAddress address_at(uint64_t offset) const;

  // The offsets IPAM may hand out to hosts, [first_host_offset, last_host_offset]:
  //  - IPv4 /0../30: the network address (offset 0) and the broadcast address are excluded;
  //  - IPv4 /31 (RFC 3021 point-to-point) and /32: every address is usable;
  //  - IPv6 /0../126: offset 0, the subnet-router anycast address (RFC 4291), is excluded;
  //  - IPv6 /127 (RFC 6164) and /128: every address is usable;
  //  - offsets are capped at 2^64-2, because a bit sequence holds at most 2^64-1 bits: in a
  //    /64 (or shorter) IPv6 prefix the address at offset 2^64-1 and beyond is never
  //    handed out.
  uint64_t first_host_offset() const;
  uint64_t last_host_offset() const;

  // "10.0.0.0/24".
  std::string to_string() const;

  friend auto operator<=>(const Prefix&, const Prefix&) = default;
  friend bool operator==(const Prefix&, const Prefix&) = default;

 private:
  IpAddress network_;
  uint8_t length_ = 0;
};

// An address together with the prefix of its link, as written on an interface:
// "10.0.0.5/24" is address 10.0.0.5 on 10.0.0.0/24.
struct InterfaceAddress {
  IpAddress address;
  Prefix prefix;

  // Parses "10.0.0.5/24" (host bits may be set). Throws InvalidCidrError.
  static InterfaceAddress parse(std::string_view text);
  // "10.0.0.5/24".
  std::string to_string() const;

  friend bool operator==(const InterfaceAddress&, const InterfaceAddress&) = default;
};

}  // namespace trellis::ipam
