#pragma once
// IPv4 and IPv6 addresses on links, in the namespace of a NetlinkSocket.

#include <string>
#include <vector>

#include "ipam/ip.h"
#include "osl/netlink.h"

namespace trellis::osl {

// Adds `address` (e.g. 10.0.0.2/24 or 2001:db8::2/64) to `link`. IPv6 addresses are added
// with IFA_F_NODAD: containers must be able to use them at once, and the addresses come from
// IPAM, so duplicate detection has nothing to find. ConflictError if the link already has it;
// NotFoundError if the link is missing.
void add_address(NetlinkSocket& sock, const std::string& link,
                 const ipam::InterfaceAddress& address);
// NotFoundError if the link does not carry it (or is missing).
void remove_address(NetlinkSocket& sock, const std::string& link,
                    const ipam::InterfaceAddress& address);
// The addresses on `link` (IPv4 and IPv6; IPv6 link-local fe80::/10 ones are left out unless
// `include_link_local`). NotFoundError if the link is missing.
std::vector<ipam::InterfaceAddress> list_addresses(NetlinkSocket& sock, const std::string& link,
                                                   bool include_link_local = false);

// Idempotent: adds the address unless the link already has it (same address and prefix
// length). Returns true if it was added.
bool ensure_address(NetlinkSocket& sock, const std::string& link,
                    const ipam::InterfaceAddress& address);
// Idempotent: returns true if the address was there and is now removed. A missing link is
// still NotFoundError.
bool remove_address_if_present(NetlinkSocket& sock, const std::string& link,
                               const ipam::InterfaceAddress& address);

}  // namespace trellis::osl
