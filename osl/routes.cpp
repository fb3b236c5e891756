#include "osl/routes.h"

#include <linux/rtnetlink.h>

#include "osl/internal.h"
#include "osl/links.h"

namespace trellis::osl {

namespace {

std::string describe(const NetlinkSocket& sock, const char* verb, const Route& route) {
  std::string s = std::string(verb) + " route " + route.destination.to_string();
  if (route.gateway) s += " via " + route.gateway->to_string();
  if (!route.link.empty()) s += " dev " + route.link;
  if (route.metric) s += " metric " + std::to_string(route.metric);
  return s + " " + in_ns(sock);
}

int family_of(const ipam::Prefix& p) { return p.is_v4() ? AF_INET : AF_INET6; }

ipam::Prefix default_destination(int family) {
  return family == AF_INET6 ? ipam::Prefix(ipam::IpAddress::parse("::"), 0) : ipam::Prefix();
}

void validate(const Route& route, const std::string& op) {
  if (!route.gateway && route.link.empty())
    throw InvalidArgumentError(op + ": a route needs a gateway or a link");
  if (route.gateway && route.gateway->is_v4() != route.destination.is_v4())
    throw InvalidArgumentError(op + ": gateway and destination are of different families");
}

RtnlRoutePtr build(NetlinkSocket& sock, const Route& route, const std::string& op) {
  validate(route, op);
  RtnlRoutePtr r(rtnl_route_alloc());
  if (!r) throw UnavailableError(op + ": out of memory");
  rtnl_route_set_family(r.get(), static_cast<uint8_t>(family_of(route.destination)));
  rtnl_route_set_table(r.get(), RT_TABLE_MAIN);
  rtnl_route_set_type(r.get(), RTN_UNICAST);
  rtnl_route_set_protocol(r.get(), route.protocol);
  rtnl_route_set_scope(r.get(), route.gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
  NlAddrPtr dst = internal::to_nl_addr(route.destination.network(),
                                       static_cast<int>(route.destination.length()));
  if (int err = rtnl_route_set_dst(r.get(), dst.get()); err < 0) throw_netlink_error(err, op);
  if (route.metric) rtnl_route_set_priority(r.get(), route.metric);
  RtnlNexthopPtr nh(rtnl_route_nh_alloc());
  if (!nh) throw UnavailableError(op + ": out of memory");
  if (!route.link.empty()) rtnl_route_nh_set_ifindex(nh.get(), link_index(sock, route.link));
  if (route.gateway) {
    NlAddrPtr gw = internal::to_nl_addr(*route.gateway);
    rtnl_route_nh_set_gateway(nh.get(), gw.get());
  }
  rtnl_route_add_nexthop(r.get(), nh.release());  // the route owns it now
  return r;
}

NlCachePtr route_cache(NetlinkSocket& sock, int family, const std::string& op) {
  nl_cache* raw = nullptr;
  if (int err = rtnl_route_alloc_cache(sock.get(), family, 0, &raw); err < 0)
    throw_netlink_error(err, op);
  return NlCachePtr(raw);
}

std::optional<Route> to_route(rtnl_route* r, nl_cache* links) {
  const int family = rtnl_route_get_family(r);
  if (family != AF_INET && family != AF_INET6) return std::nullopt;
  if (rtnl_route_get_table(r) != RT_TABLE_MAIN || rtnl_route_get_type(r) != RTN_UNICAST)
    return std::nullopt;
  Route out;
  nl_addr* dst = rtnl_route_get_dst(r);
  const auto network = internal::ip_from_nl(dst);
  if (network) {
    out.destination =
        ipam::Prefix::containing(*network, static_cast<unsigned>(nl_addr_get_prefixlen(dst)));
  } else {
    out.destination = default_destination(family);
  }
  out.metric = rtnl_route_get_priority(r);
  out.protocol = rtnl_route_get_protocol(r);
  if (rtnl_route_get_nnexthops(r) > 0) {
    rtnl_nexthop* nh = rtnl_route_nexthop_n(r, 0);
    out.gateway = internal::ip_from_nl(rtnl_route_nh_get_gateway(nh));
    if (int index = rtnl_route_nh_get_ifindex(nh); index > 0) {
      char buf[IFNAMSIZ + 1] = {};
      if (rtnl_link_i2name(links, index, buf, sizeof buf)) out.link = buf;
    }
  }
  return out;
}

bool matches(const Route& want, const Route& have) {
  if (want.destination != have.destination) return false;
  if (want.metric && want.metric != have.metric) return false;
  if (want.gateway && want.gateway != have.gateway) return false;
  if (!want.link.empty() && want.link != have.link) return false;
  return true;
}

NlCachePtr links_of(NetlinkSocket& sock, const std::string& op) {
  nl_cache* raw = nullptr;
  if (int err = rtnl_link_alloc_cache(sock.get(), AF_UNSPEC, &raw); err < 0)
    throw_netlink_error(err, op);
  return NlCachePtr(raw);
}

}  // namespace

void add_route(NetlinkSocket& sock, const Route& route) {
  const std::string op = describe(sock, "add", route);
  RtnlRoutePtr r = build(sock, route, op);
  if (int err = rtnl_route_add(sock.get(), r.get(), NLM_F_CREATE | NLM_F_EXCL); err < 0)
    throw_netlink_error(err, op);
}

void replace_route(NetlinkSocket& sock, const Route& route) {
  const std::string op = describe(sock, "replace", route);
  RtnlRoutePtr r = build(sock, route, op);
  if (int err = rtnl_route_add(sock.get(), r.get(), NLM_F_CREATE | NLM_F_REPLACE); err < 0)
    throw_netlink_error(err, op);
}

void delete_route(NetlinkSocket& sock, const Route& route) {
  if (!delete_route_if_exists(sock, route))
    throw NotFoundError(describe(sock, "delete", route) + ": no such route");
}

bool delete_route_if_exists(NetlinkSocket& sock, const Route& route) {
  const std::string op = describe(sock, "delete", route);
  if (!route.link.empty()) link_index(sock, route.link);  // NotFoundError for a missing link
  // Delete the kernel's own objects: a request built from `route` would carry a guessed scope
  // and protocol, which the kernel matches strictly.
  NlCachePtr links = links_of(sock, op);
  NlCachePtr routes = route_cache(sock, family_of(route.destination), op);
  bool deleted = false;
  for (nl_object* o = nl_cache_get_first(routes.get()); o; o = nl_cache_get_next(o)) {
    auto* r = reinterpret_cast<rtnl_route*>(o);
    const auto have = to_route(r, links.get());
    if (!have || !matches(route, *have)) continue;
    const int err = rtnl_route_delete(sock.get(), r, 0);
    if (err == -NLE_OBJ_NOTFOUND) continue;  // gone meanwhile
    if (err < 0) throw_netlink_error(err, op);
    deleted = true;
  }
  return deleted;
}

std::vector<Route> list_routes(NetlinkSocket& sock, int family) {
  const std::string op = "list routes " + in_ns(sock);
  NlCachePtr links = links_of(sock, op);
  NlCachePtr routes = route_cache(sock, family, op);
  std::vector<Route> out;
  for (nl_object* o = nl_cache_get_first(routes.get()); o; o = nl_cache_get_next(o)) {
    if (auto r = to_route(reinterpret_cast<rtnl_route*>(o), links.get())) {
      if (family == 0 || family_of(r->destination) == family) out.push_back(std::move(*r));
    }
  }
  return out;
}

void set_default_gateway(NetlinkSocket& sock, const ipam::IpAddress& gateway,
                         const std::string& link) {
  replace_route(sock,
                Route{.destination = default_destination(gateway.is_v4() ? AF_INET : AF_INET6),
                      .gateway = gateway,
                      .link = link});
}

bool clear_default_gateway(NetlinkSocket& sock, int family) {
  if (family != AF_INET && family != AF_INET6)
    throw InvalidArgumentError("clear default route " + in_ns(sock) + ": bad address family");
  return delete_route_if_exists(sock, Route{.destination = default_destination(family)});
}

std::optional<Route> default_route(NetlinkSocket& sock, int family) {
  for (auto& r : list_routes(sock, family)) {
    if (r.destination.length() == 0) return r;
  }
  return std::nullopt;
}

}  // namespace trellis::osl
