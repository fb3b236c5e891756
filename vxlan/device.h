#pragma once
// VXLAN devices over libnl-3: create one in a namespace (where its UDP socket will live) and
// optionally move it into another, read its configuration back, list and delete them.
//
// The overlay creates its VXLAN device in the host namespace, bound to the host's advertise
// address, and moves it into the network's overlay namespace next to the bridge: the kernel
// keeps the device's UDP socket in the namespace the device was created in, so encapsulated
// traffic uses the host's underlay while the device itself is enslaved in the overlay one.
//
// Every function takes the osl::NetlinkSocket of the namespace it works in and throws
// trellis::Error kinds naming the operation, device, namespace and the kernel's reason.
// Threads: like the socket, one thread at a time.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "osl/netlink.h"
#include "osl/netns.h"
#include "vxlan/types.h"

namespace trellis::vxlan {

// What to create. Fields without a default must be set.
struct VxlanConfig {
  std::string name;                   // 1..15 characters, no '/', ':' or whitespace
  uint32_t vni = 0;                   // 1..kMaxVni
  Ipv4Address local;                  // source address of encapsulated packets (required)
  uint16_t port = kDefaultVxlanPort;  // UDP destination (and listening) port, non-zero
  uint32_t mtu = 0;                   // 0: the kernel's default (1500 here); else 68..65535
  bool proxy_arp = false;             // answer ARP from the device's neighbour table
  std::string alias;                  // IFLA_IFALIAS (at most 255 bytes), "" for none
};

// A VXLAN device as the kernel reports it.
struct VxlanInfo {
  std::string name;
  int ifindex = 0;
  uint32_t vni = 0;
  Ipv4Address local;
  uint16_t port = 0;
  uint32_t mtu = 0;
  bool learning = false;
  bool proxy_arp = false;
  bool up = false;  // administratively up (IFF_UP)
  std::string alias;
  MacAddress mac;
};

// Throws InvalidArgumentError unless `config` is well-formed (name, VNI range, a local
// address, a non-zero port). Pure; create_vxlan calls it first.
void validate_config(const VxlanConfig& config);

// Creates the VXLAN device `config.name` in the namespace of `create_sock`, with learning off
// and the device down, sets its alias (a separate request: the kernel ignores IFLA_IFALIAS in
// a create request), then, if `move_to` is given and is another namespace, moves it there
// (under the same name). All or nothing: when any step fails, the device is deleted before
// the error is thrown.
// Errors: InvalidArgumentError (config), ConflictError (the name is taken in either
// namespace, or another device already uses this VNI and port), NotFoundError (`move_to` was
// deleted meanwhile), InternalError otherwise.
void create_vxlan(osl::NetlinkSocket& create_sock, const VxlanConfig& config,
                  const osl::Netns* move_to = nullptr);

// The VXLAN device `name` in the socket's namespace, or nullopt when there is no link of that
// name. ConflictError if `name` exists but is not a VXLAN device.
std::optional<VxlanInfo> find_vxlan(osl::NetlinkSocket& sock, const std::string& name);

// Every VXLAN device in the socket's namespace, sorted by name.
std::vector<VxlanInfo> list_vxlans(osl::NetlinkSocket& sock);

// Deletes the VXLAN device `name`. Returns false (and does nothing) when there is no link of
// that name; ConflictError if it exists but is not a VXLAN device.
bool delete_vxlan(osl::NetlinkSocket& sock, const std::string& name);

}  // namespace trellis::vxlan
