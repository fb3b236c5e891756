#pragma once
// Internal to ipam/*.cpp: addresses as 128-bit integers (GCC/Clang unsigned __int128), for
// prefix arithmetic. Not part of the public API; do not include from other components.

#include <array>
#include <cstdint>

#include "ipam/ip.h"

namespace trellis::ipam::detail {

using u128 = unsigned __int128;

inline u128 to_u128(const IpAddress& address) {
  u128 value = 0;
  for (uint8_t byte : address.bytes()) value = (value << 8) | byte;
  return value;
}

inline IpAddress from_u128(u128 value, bool v6) {
  if (!v6) return IpAddress::v4(static_cast<uint32_t>(value));
  std::array<uint8_t, 16> bytes{};
  for (int i = 15; i >= 0; --i) {
    bytes[static_cast<size_t>(i)] = static_cast<uint8_t>(value);
    value >>= 8;
  }
  return IpAddress::v6(bytes);
}

}  // namespace trellis::ipam::detail
