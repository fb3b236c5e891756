#include "vxlan/types.h"

#include <arpa/inet.h>

#include <cstdio>

#include "common/error.h"

namespace trellis::vxlan {

void validate_vni(uint32_t vni) {
  if (vni == 0 || vni > kMaxVni) {
    throw InvalidArgumentError("VNI " + std::to_string(vni) + " is out of range 1.." +
                               std::to_string(kMaxVni));
  }
}

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

MacAddress MacAddress::parse(std::string_view text) {
  // Exactly "xx:xx:xx:xx:xx:xx": 17 characters, two hex digits per octet.
  MacAddress mac;
  bool ok = text.size() == 17;
  for (std::size_t i = 0; ok && i < 6; ++i) {
    const int hi = hex_value(text[i * 3]);
    const int lo = hex_value(text[i * 3 + 1]);
    if (hi < 0 || lo < 0 || (i < 5 && text[i * 3 + 2] != ':')) {
      ok = false;
      break;
    }
    mac.bytes[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  if (!ok) throw InvalidArgumentError("invalid MAC address '" + std::string(text) + "'");
  return mac;
}

std::string MacAddress::to_string() const {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", bytes[0], bytes[1], bytes[2],
                bytes[3], bytes[4], bytes[5]);
  return buf;
}

bool MacAddress::is_zero() const {
  for (uint8_t b : bytes) {
    if (b != 0) return false;
  }
  return true;
}

Ipv4Address Ipv4Address::parse(std::string_view text) {
  // inet_pton accepts only the strict dotted quad (no shorthand, no leading zeros).
  const std::string copy(text);
  in_addr addr{};
  if (copy.size() > 15 || inet_pton(AF_INET, copy.c_str(), &addr) != 1) {
    throw InvalidArgumentError("invalid IPv4 address '" + copy + "'");
  }
  return Ipv4Address{ntohl(addr.s_addr)};
}

std::string Ipv4Address::to_string() const {
  return std::to_string(value >> 24) + "." + std::to_string((value >> 16) & 0xFF) + "." +
         std::to_string((value >> 8) & 0xFF) + "." + std::to_string(value & 0xFF);
}

}  // namespace trellis::vxlan
