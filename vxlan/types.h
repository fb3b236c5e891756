#pragma once
// Value types shared by the VXLAN programming code: MAC and IPv4 addresses, VNIs, and the
// rows of a VXLAN device's forwarding (FDB) and neighbour tables. Pure code: no kernel
// access, no libnl, so the diff logic built on them is unit-testable anywhere.

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

namespace trellis::vxlan {

// Largest VXLAN network identifier: the field is 24 bits wide. VNI 0 is reserved.
inline constexpr uint32_t kMaxVni = 0xFFFFFF;
// The IANA VXLAN port, the default destination port of our devices.
inline constexpr uint16_t kDefaultVxlanPort = 4789;

// Throws InvalidArgumentError naming `vni` unless 1 <= vni <= kMaxVni.
void validate_vni(uint32_t vni);

// A 48-bit Ethernet address. Value type; text form "aa:bb:cc:dd:ee:ff" (lower-case).
struct MacAddress {
  std::array<uint8_t, 6> bytes{};

  // Parses six colon-separated hex octets (either case). InvalidArgumentError otherwise.
  static MacAddress parse(std::string_view text);
  std::string to_string() const;
  // The all-zeros address: the VXLAN "default destination" (head-end replication) entry.
  bool is_zero() const;
  // Group bit set (multicast or broadcast): never a valid peer address.
  bool is_multicast() const { return (bytes[0] & 0x01) != 0; }

  auto operator<=>(const MacAddress&) const = default;
};

// An IPv4 address held in host byte order. Value type; text form dotted quad.
struct Ipv4Address {
  uint32_t value = 0;

  // Parses a dotted quad ("192.0.2.1"); InvalidArgumentError otherwise.
  static Ipv4Address parse(std::string_view text);
  std::string to_string() const;
  bool is_unspecified() const { return value == 0; }

  auto operator<=>(const Ipv4Address&) const = default;
};

// One row of a VXLAN device's own forwarding table (the kernel's NTF_SELF entries):
// frames for `mac` are encapsulated to the tunnel endpoint `vtep`. A zero `mac` is a default
// destination: broadcast and unknown unicast are replicated to every such `vtep`.
struct FdbEntry {
  MacAddress mac;
  Ipv4Address vtep;
  bool permanent = true;  // NUD_PERMANENT (ours); false for learned/reachable entries

  auto operator<=>(const FdbEntry&) const = default;
};

// One IPv4 neighbour (ARP) entry on a device: `ip` resolves to `mac`.
struct NeighborEntry {
  Ipv4Address ip;
  MacAddress mac;         // all-zeros while the kernel has no link-layer address
  bool permanent = true;  // NUD_PERMANENT (ours); false for dynamic entries

  auto operator<=>(const NeighborEntry&) const = default;
};

// A remote endpoint reachable through the overlay: its MAC, its IPv4 address and the
// underlay address of the host (VTEP) that carries it.
struct Peer {
  MacAddress mac;
  Ipv4Address ip;
  Ipv4Address vtep;

  auto operator<=>(const Peer&) const = default;
};

}  // namespace trellis::vxlan
