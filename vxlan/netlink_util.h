#pragma once
// Private helpers of vxlan/ (not part of its API): conversions between vxlan value types and
// libnl addresses, device lookup, and a raw RTM_GETNEIGH dump. osl has no public neighbour
// dump that reports the AF_BRIDGE rows (NTF_SELF vs NTF_MASTER, one row per remote) the way
// the FDB sync needs them, hence this small one.

#include <linux/neighbour.h>

#include <string>
#include <vector>

#include "osl/netlink.h"
#include "osl/nl_ptr.h"
#include "vxlan/types.h"

namespace spdlog {
class logger;
}

namespace trellis::vxlan::internal {

// The "vxlan" spdlog logger.
spdlog::logger& log();

osl::NlAddrPtr to_nl_addr(Ipv4Address ip);
osl::NlAddrPtr to_nl_addr(const MacAddress& mac);

// "<device> in ns <label>".
std::string where(const osl::NetlinkSocket& sock, const std::string& device);

// The ifindex of link `device`; NotFoundError "<operation>: no device <device> in ns <ns>".
int device_index(osl::NetlinkSocket& sock, const std::string& device, const std::string& operation);

// The ifindex of the VXLAN device `device`: as device_index, and InvalidArgumentError if the
// link is not a VXLAN device (an FDB request with NTF_SELF would otherwise reach, say, a
// bridge's own table).
int vxlan_index(osl::NetlinkSocket& sock, const std::string& device, const std::string& operation);

// One row of a neighbour dump, decoded from the raw message.
struct NeighRow {
  int family = 0;
  int ifindex = 0;
  uint16_t state = 0;
  uint8_t flags = 0;
  bool has_dst = false;
  Ipv4Address dst;  // NDA_DST when it is 4 bytes long
  bool has_lladdr = false;
  MacAddress lladdr;  // NDA_LLADDR when it is 6 bytes long
};

// Dumps the neighbour table of `family` (AF_BRIDGE: FDBs; AF_INET: ARP) in the socket's
// namespace and returns the rows of link `ifindex`. Throws (naming `operation`) on a
// netlink failure.
std::vector<NeighRow> dump_neighbors(osl::NetlinkSocket& sock, int family, int ifindex,
                                     const std::string& operation);

}  // namespace trellis::vxlan::internal
