#pragma once
// Neighbour (ARP / NDP) entries, in the namespace of a NetlinkSocket.

#include <string>
#include <vector>

#include "ipam/ip.h"
#include "osl/netlink.h"

namespace trellis::osl {

struct Neighbor {
  ipam::IpAddress ip = {};
  std::string mac = {};   // lower-case "aa:bb:cc:dd:ee:ff"
  std::string link = {};  // device name
  bool permanent = true;  // NUD_PERMANENT on creation; as read on listing

  friend bool operator==(const Neighbor&, const Neighbor&) = default;
};

// Adds a permanent entry; ConflictError if an entry for (ip, link) exists.
void add_neighbor(NetlinkSocket& sock, const Neighbor& neighbor);
// Adds or replaces the permanent entry for (ip, link): the reconciler's form.
void replace_neighbor(NetlinkSocket& sock, const Neighbor& neighbor);
// Deletes the entry for (ip, link); NotFoundError if none.
void delete_neighbor(NetlinkSocket& sock, const ipam::IpAddress& ip, const std::string& link);
bool delete_neighbor_if_exists(NetlinkSocket& sock, const ipam::IpAddress& ip,
                               const std::string& link);
// Entries on `link` ("" = every link) of `family` (AF_INET, AF_INET6, 0 = both); only
// permanent ones unless `include_dynamic`.
std::vector<Neighbor> list_neighbors(NetlinkSocket& sock, const std::string& link = "",
                                     int family = 0, bool include_dynamic = false);

}  // namespace trellis::osl
