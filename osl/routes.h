#pragma once
// Routes of the main table, in the namespace of a NetlinkSocket: default gateways, connected
// (device) routes and next-hop routes, IPv4 and IPv6.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ipam/ip.h"
#include "osl/netlink.h"

namespace trellis::osl {

struct Route {
  ipam::Prefix destination = {};                // 0.0.0.0/0 or ::/0 for a default route
  std::optional<ipam::IpAddress> gateway = {};  // next hop; none: a connected route (scope link)
  std::string link = {};                        // output device; may be "" when a gateway is set
  uint32_t metric = 0;   // priority; IPv6 routes added with 0 read back as 1024
  uint8_t protocol = 4;  // RTPROT_STATIC on creation; as read on listing

  friend bool operator==(const Route&, const Route&) = default;
};

// Adds the route; ConflictError if the same (destination, metric) route exists.
// InvalidArgumentError for a route with neither gateway nor link, or a gateway of the other
// family. NotFoundError for a missing link.
void add_route(NetlinkSocket& sock, const Route& route);
// Adds or replaces (NLM_F_REPLACE) the route to `route.destination` with that metric: the
// idempotent form the reconciler uses.
void replace_route(NetlinkSocket& sock, const Route& route);
// Deletes the route to `destination` (with that metric, gateway and link if set in `route`).
// NotFoundError if there is none.
void delete_route(NetlinkSocket& sock, const Route& route);
// Returns whether a matching route was deleted.
bool delete_route_if_exists(NetlinkSocket& sock, const Route& route);

// Unicast routes of the main table of one family (AF_INET or AF_INET6; 0 = both).
std::vector<Route> list_routes(NetlinkSocket& sock, int family = 0);

// The default route via `gateway` on `link` (replace semantics; family from the gateway).
void set_default_gateway(NetlinkSocket& sock, const ipam::IpAddress& gateway,
                         const std::string& link);
// Removes the default route of the family (AF_INET/AF_INET6); returns whether there was one.
bool clear_default_gateway(NetlinkSocket& sock, int family);
// The default route of the family, if any.
std::optional<Route> default_route(NetlinkSocket& sock, int family);

}  // namespace trellis::osl
