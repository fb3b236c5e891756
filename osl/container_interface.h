#pragma once
// The multi-step setup of one container interface — the hot path of endpoint join — as one
// call that rolls back on failure: a veth pair whose outer end stays in the socket's namespace
// (enslaved to a bridge) and whose inner end is created directly inside the container
// namespace with its final name, MAC and MTU, then addresses, up, default route.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ipam/ip.h"
#include "osl/netlink.h"
#include "osl/netns.h"

namespace trellis::osl {

struct ContainerInterfaceSpec {
  std::string outer_name = {};   // veth end left in the outer namespace (e.g. "trlv1a2b3c")
  std::string outer_alias = {};  // alias of the outer end (names the endpoint), "" for none
  std::string bridge = {};  // bridge in the outer namespace to enslave the outer end to ("" none)
  std::string inner_name = "eth0";                     // name inside the container
  std::optional<std::string> mac = {};                 // MAC of the inner end
  std::optional<uint32_t> mtu = {};                    // MTU of both ends
  std::vector<ipam::InterfaceAddress> addresses = {};  // on the inner end
  std::optional<ipam::IpAddress> gateway = {};         // default route inside (per its family)
  std::optional<ipam::IpAddress> gateway6 = {};        // IPv6 default route inside
};

// Sets the interface up: `outer` is bound to the outer namespace, `inner` to the container's
// namespace `container` (the same namespace that `inner` was opened in). On any failure the
// veth pair is deleted (which removes both ends and everything configured on them) and the
// error is rethrown.
void setup_container_interface(NetlinkSocket& outer, NetlinkSocket& inner, const Netns& container,
                               const ContainerInterfaceSpec& spec);

// Removes it: deletes the outer end (the kernel removes the pair). Returns whether it existed.
bool teardown_container_interface(NetlinkSocket& outer, const std::string& outer_name);

}  // namespace trellis::osl
