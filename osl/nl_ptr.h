#pragma once
// Owning smart pointers for libnl-3 objects: every rtnl_*/nl_* object osl or vxlan touches is
// held by one of these, so no error path leaks a reference. Each deleter drops exactly the
// reference the matching *_alloc / *_get_kernel / *_alloc_cache call handed out.

#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/route.h>

#include <memory>

namespace trellis::osl {

struct RtnlLinkDeleter {
  void operator()(rtnl_link* p) const { rtnl_link_put(p); }
};
struct RtnlAddrDeleter {
  void operator()(rtnl_addr* p) const { rtnl_addr_put(p); }
};
struct RtnlRouteDeleter {
  void operator()(rtnl_route* p) const { rtnl_route_put(p); }
};
struct RtnlNexthopDeleter {
  void operator()(rtnl_nexthop* p) const { rtnl_route_nh_free(p); }
};
struct RtnlNeighDeleter {
  void operator()(rtnl_neigh* p) const { rtnl_neigh_put(p); }
};
struct NlAddrDeleter {
  void operator()(nl_addr* p) const { nl_addr_put(p); }
};
struct NlCacheDeleter {
  void operator()(nl_cache* p) const { nl_cache_free(p); }
};
struct NlSockDeleter {
  void operator()(nl_sock* p) const { nl_socket_free(p); }
};

using RtnlLinkPtr = std::unique_ptr<rtnl_link, RtnlLinkDeleter>;
using RtnlAddrPtr = std::unique_ptr<rtnl_addr, RtnlAddrDeleter>;
using RtnlRoutePtr = std::unique_ptr<rtnl_route, RtnlRouteDeleter>;
// Only for a next hop not (yet) handed to rtnl_route_add_nexthop, which takes ownership.
using RtnlNexthopPtr = std::unique_ptr<rtnl_nexthop, RtnlNexthopDeleter>;
using RtnlNeighPtr = std::unique_ptr<rtnl_neigh, RtnlNeighDeleter>;
using NlAddrPtr = std::unique_ptr<nl_addr, NlAddrDeleter>;
using NlCachePtr = std::unique_ptr<nl_cache, NlCacheDeleter>;
using NlSockPtr = std::unique_ptr<nl_sock, NlSockDeleter>;

}  // namespace trellis::osl
