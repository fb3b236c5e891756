#include "osl/neighbors.h"

#include <linux/neighbour.h>

#include "osl/internal.h"
#include "osl/links.h"

namespace trellis::osl {

namespace {

RtnlNeighPtr build(NetlinkSocket& sock, const ipam::IpAddress& ip, const std::string& link,
                   const std::string& op) {
  const int ifindex = link_index(sock, link);
  RtnlNeighPtr n(rtnl_neigh_alloc());
  if (!n) throw UnavailableError(op + ": out of memory");
  rtnl_neigh_set_ifindex(n.get(), ifindex);
  rtnl_neigh_set_family(n.get(), ip.is_v4() ? AF_INET : AF_INET6);
  NlAddrPtr dst = internal::to_nl_addr(ip);
  if (int err = rtnl_neigh_set_dst(n.get(), dst.get()); err < 0) throw_netlink_error(err, op);
  return n;
}

void write(NetlinkSocket& sock, const Neighbor& neighbor, int flags, const char* verb) {
  const std::string op = std::string(verb) + " neighbor " + neighbor.ip.to_string() + " lladdr " +
                         neighbor.mac + " dev " + neighbor.link + " " + in_ns(sock);
  NlAddrPtr mac = internal::parse_mac(neighbor.mac, op);
  RtnlNeighPtr n = build(sock, neighbor.ip, neighbor.link, op);
  rtnl_neigh_set_lladdr(n.get(), mac.get());
  rtnl_neigh_set_state(n.get(), neighbor.permanent ? NUD_PERMANENT : NUD_REACHABLE);
  if (int err = rtnl_neigh_add(sock.get(), n.get(), flags); err < 0) throw_netlink_error(err, op);
}

}  // namespace

void add_neighbor(NetlinkSocket& sock, const Neighbor& neighbor) {
  write(sock, neighbor, NLM_F_CREATE | NLM_F_EXCL, "add");
}

void replace_neighbor(NetlinkSocket& sock, const Neighbor& neighbor) {
  write(sock, neighbor, NLM_F_CREATE | NLM_F_REPLACE, "replace");
}

void delete_neighbor(NetlinkSocket& sock, const ipam::IpAddress& ip, const std::string& link) {
  if (!delete_neighbor_if_exists(sock, ip, link))
    throw NotFoundError("delete neighbor " + ip.to_string() + " dev " + link + " " + in_ns(sock) +
                        ": no such entry");
}

bool delete_neighbor_if_exists(NetlinkSocket& sock, const ipam::IpAddress& ip,
                               const std::string& link) {
  const std::string op = "delete neighbor " + ip.to_string() + " dev " + link + " " + in_ns(sock);
  RtnlNeighPtr n = build(sock, ip, link, op);
  const int err = rtnl_neigh_delete(sock.get(), n.get(), 0);
  if (err == -NLE_OBJ_NOTFOUND || err == -NLE_NOADDR) return false;
  if (err < 0) throw_netlink_error(err, op);
  return true;
}

std::vector<Neighbor> list_neighbors(NetlinkSocket& sock, const std::string& link, int family,
                                     bool include_dynamic) {
  const std::string op =
      "list neighbors" + (link.empty() ? "" : " dev " + link) + " " + in_ns(sock);
  const int ifindex = link.empty() ? 0 : link_index(sock, link);
  nl_cache* raw = nullptr;
  if (int err = rtnl_link_alloc_cache(sock.get(), AF_UNSPEC, &raw); err < 0)
    throw_netlink_error(err, op);
  NlCachePtr links(raw);
  raw = nullptr;
  if (int err = rtnl_neigh_alloc_cache(sock.get(), &raw); err < 0) throw_netlink_error(err, op);
  NlCachePtr neighs(raw);
  std::vector<Neighbor> out;
  for (nl_object* o = nl_cache_get_first(neighs.get()); o; o = nl_cache_get_next(o)) {
    auto* n = reinterpret_cast<rtnl_neigh*>(o);
    const int f = rtnl_neigh_get_family(n);
    if (f != AF_INET && f != AF_INET6) continue;
    if (family && f != family) continue;
    if (ifindex && rtnl_neigh_get_ifindex(n) != ifindex) continue;
    const bool permanent = (rtnl_neigh_get_state(n) & NUD_PERMANENT) != 0;
    if (!permanent && !include_dynamic) continue;
    const auto ip = internal::ip_from_nl(rtnl_neigh_get_dst(n));
    if (!ip) continue;
    Neighbor entry{.ip = *ip, .mac = internal::format_mac(rtnl_neigh_get_lladdr(n))};
    char buf[IFNAMSIZ + 1] = {};
    if (rtnl_link_i2name(links.get(), rtnl_neigh_get_ifindex(n), buf, sizeof buf)) entry.link = buf;
    entry.permanent = permanent;
    out.push_back(std::move(entry));
  }
  return out;
}

}  // namespace trellis::osl
