#include "osl/links.h"

#include <linux/if.h>
#include <netlink/route/link/veth.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "osl/internal.h"

namespace trellis::osl {

using internal::check_link_name;
using internal::get_kernel_link;

namespace {

std::string describe(const NetlinkSocket& sock, const std::string& what) {
  return what + " " + in_ns(sock);
}

void apply_options(rtnl_link* link, const LinkOptions& options, const std::string& op) {
  if (options.mtu) rtnl_link_set_mtu(link, *options.mtu);
  if (options.mac) {
    NlAddrPtr mac = internal::parse_mac(*options.mac, op);
    rtnl_link_set_addr(link, mac.get());
  }
}

// Sends a creation request; on success applies the alias with a second request (the kernel
// ignores IFLA_IFALIAS when creating), deleting the new link if that fails.
void create_link(NetlinkSocket& sock, rtnl_link* link, const std::string& name,
                 const LinkOptions& options, const std::string& op) {
  if (int err = rtnl_link_add(sock.get(), link, NLM_F_CREATE | NLM_F_EXCL); err < 0)
    throw_netlink_error(err, op);
  if (options.alias && !options.alias->empty()) {
    try {
      set_link_alias(sock, name, *options.alias);
    } catch (...) {
      delete_link_if_exists(sock, name);
      throw;
    }
  }
  internal::log().debug("{}", op);
}

void check_options(const LinkOptions& options, const std::string& op) {
  if (options.mac && !is_valid_mac(*options.mac))
    throw InvalidArgumentError(op + ": invalid MAC address '" + *options.mac + "'");
  if (options.alias && options.alias->size() >= 256)
    throw InvalidArgumentError(op + ": alias longer than 255 bytes");
}

std::vector<ipam::InterfaceAddress> to_interface_addresses(nl_cache* addrs, int ifindex,
                                                           bool include_link_local);

LinkInfo to_info(rtnl_link* l, nl_cache* links, nl_cache* addrs) {
  LinkInfo info;
  info.index = rtnl_link_get_ifindex(l);
  if (const char* name = rtnl_link_get_name(l)) info.name = name;
  if (const char* type = rtnl_link_get_type(l)) info.kind = type;
  if (const char* alias = rtnl_link_get_ifalias(l)) info.alias = alias;
  if (int master = rtnl_link_get_master(l); master > 0 && links) {
    char buf[IFNAMSIZ + 1] = {};
    if (rtnl_link_i2name(links, master, buf, sizeof buf)) info.master = buf;
  }
  info.mac = internal::format_mac(rtnl_link_get_addr(l));
  info.mtu = rtnl_link_get_mtu(l);
  info.up = (rtnl_link_get_flags(l) & IFF_UP) != 0;
  if (addrs) info.addresses = to_interface_addresses(addrs, info.index, false);
  return info;
}

NlCachePtr link_cache(NetlinkSocket& sock, const std::string& op) {
  nl_cache* raw = nullptr;
  if (int err = rtnl_link_alloc_cache(sock.get(), AF_UNSPEC, &raw); err < 0)
    throw_netlink_error(err, op);
  return NlCachePtr(raw);
}

NlCachePtr addr_cache(NetlinkSocket& sock, const std::string& op) {
  nl_cache* raw = nullptr;
  if (int err = rtnl_addr_alloc_cache(sock.get(), &raw); err < 0) throw_netlink_error(err, op);
  return NlCachePtr(raw);
}

std::vector<ipam::InterfaceAddress> to_interface_addresses(nl_cache* addrs, int ifindex,
                                                           bool include_link_local) {
  std::vector<ipam::InterfaceAddress> v4, v6;
  for (nl_object* o = nl_cache_get_first(addrs); o; o = nl_cache_get_next(o)) {
    auto* a = reinterpret_cast<rtnl_addr*>(o);
    if (rtnl_addr_get_ifindex(a) != ifindex) continue;
    const auto ip = internal::ip_from_nl(rtnl_addr_get_local(a));
    if (!ip) continue;
    const unsigned len = static_cast<unsigned>(rtnl_addr_get_prefixlen(a));
    if (ip->is_v6() && !include_link_local && ip->bytes()[0] == 0xfe &&
        (ip->bytes()[1] & 0xc0) == 0x80)
      continue;
    ipam::InterfaceAddress ia{*ip, ipam::Prefix::containing(*ip, len)};
    (ip->is_v4() ? v4 : v6).push_back(ia);
  }
  v4.insert(v4.end(), v6.begin(), v6.end());
  return v4;
}

}  // namespace

namespace internal {

std::vector<ipam::InterfaceAddress> addresses_of(NetlinkSocket& sock, int ifindex,
                                                 bool include_link_local, const std::string& op) {
  NlCachePtr addrs = addr_cache(sock, op);
  return to_interface_addresses(addrs.get(), ifindex, include_link_local);
}

void set_link_up_by_name(nl_sock* sock, const std::string& name, const std::string& ns_label) {
  const std::string op = "set link " + name + " up in ns " + ns_label;
  rtnl_link* raw = nullptr;
  if (int err = rtnl_link_get_kernel(sock, 0, name.c_str(), &raw); err < 0)
    throw_netlink_error(err, op);
  RtnlLinkPtr orig(raw);
  RtnlLinkPtr change(rtnl_link_alloc());
  rtnl_link_set_flags(change.get(), IFF_UP);
  if (int err = rtnl_link_change(sock, orig.get(), change.get(), 0); err < 0)
    throw_netlink_error(err, op);
}

}  // namespace internal

bool is_valid_link_name(std::string_view name) {
  if (name.empty() || name.size() >= IFNAMSIZ || name == "." || name == "..") return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    return c == '/' || c == ':' || c == '\0' || std::isspace(static_cast<unsigned char>(c));
  });
}

bool is_valid_mac(std::string_view mac) {
  if (mac.size() != 17) return false;
  for (size_t i = 0; i < mac.size(); ++i) {
    if (i % 3 == 2) {
      if (mac[i] != ':') return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(mac[i]))) {
      return false;
    }
  }
  return true;
}

void create_bridge(NetlinkSocket& sock, const std::string& name, const LinkOptions& options) {
  const std::string op = describe(sock, "create bridge " + name);
  check_link_name(name, op);
  check_options(options, op);
  RtnlLinkPtr link(rtnl_link_alloc());
  if (!link) throw UnavailableError(op + ": out of memory");
  rtnl_link_set_name(link.get(), name.c_str());
  if (int err = rtnl_link_set_type(link.get(), "bridge"); err < 0) throw_netlink_error(err, op);
  apply_options(link.get(), options, op);
  create_link(sock, link.get(), name, options, op);
}

void create_dummy(NetlinkSocket& sock, const std::string& name, const LinkOptions& options) {
  const std::string op = describe(sock, "create dummy link " + name);
  check_link_name(name, op);
  check_options(options, op);
  RtnlLinkPtr link(rtnl_link_alloc());
  if (!link) throw UnavailableError(op + ": out of memory");
  rtnl_link_set_name(link.get(), name.c_str());
  if (int err = rtnl_link_set_type(link.get(), "dummy"); err < 0) throw_netlink_error(err, op);
  apply_options(link.get(), options, op);
  try {
    create_link(sock, link.get(), name, options, op);
  } catch (const UnavailableError& e) {
    throw UnavailableError(std::string(e.what()) +
                           " - link kind dummy is not supported by this kernel");
  }
}

void create_veth(NetlinkSocket& sock, const std::string& name, const LinkOptions& options,
                 const std::string& peer_name, const Netns* peer_ns,
                 const LinkOptions& peer_options) {
  const std::string where = peer_ns ? " in ns " + peer_ns->label() : "";
  const std::string op = describe(sock, "create veth " + name) + " with peer " + peer_name + where;
  check_link_name(name, op);
  check_link_name(peer_name, op);
  check_options(options, op);
  check_options(peer_options, op);
  if (!peer_ns && peer_name == name) throw InvalidArgumentError(op + ": both ends have one name");
  RtnlLinkPtr link(rtnl_link_veth_alloc());
  if (!link) throw UnavailableError(op + ": out of memory");
  rtnl_link_set_name(link.get(), name.c_str());
  apply_options(link.get(), options, op);
  RtnlLinkPtr peer(rtnl_link_veth_get_peer(link.get()));
  rtnl_link_set_name(peer.get(), peer_name.c_str());
  apply_options(peer.get(), peer_options, op);
  if (peer_ns) rtnl_link_set_ns_fd(peer.get(), peer_ns->fd());
  create_link(sock, link.get(), name, options, op);
  if (peer_options.alias && !peer_options.alias->empty()) {
    try {
      if (peer_ns) {
        NetlinkSocket peer_sock(*peer_ns);
        set_link_alias(peer_sock, peer_name, *peer_options.alias);
      } else {
        set_link_alias(sock, peer_name, *peer_options.alias);
      }
    } catch (...) {
      delete_link_if_exists(sock, name);
      throw;
    }
  }
}

void change_link(NetlinkSocket& sock, const std::string& name, const LinkChange& change) {
  const std::string op = describe(sock, "change link " + name);
  if (change.name) check_link_name(*change.name, op);
  if (change.master && !change.master->empty()) check_link_name(*change.master, op);
  if (change.alias && change.alias->size() >= 256)
    throw InvalidArgumentError(op + ": alias longer than 255 bytes");
  RtnlLinkPtr orig = get_kernel_link(sock, name, op);
  RtnlLinkPtr c(rtnl_link_alloc());
  if (!c) throw UnavailableError(op + ": out of memory");
  std::string what;  // the parts of the change, for the message
  if (change.name) {
    rtnl_link_set_name(c.get(), change.name->c_str());
    what += " name=" + *change.name;
  }
  if (change.mac) {
    NlAddrPtr mac = internal::parse_mac(*change.mac, op);
    rtnl_link_set_addr(c.get(), mac.get());
    what += " mac=" + *change.mac;
  }
  if (change.mtu) {
    rtnl_link_set_mtu(c.get(), *change.mtu);
    what += " mtu=" + std::to_string(*change.mtu);
  }
  if (change.alias) {
    rtnl_link_set_ifalias(c.get(), change.alias->c_str());
    what += " alias=" + *change.alias;
  }
  if (change.master) {
    int index = 0;
    if (!change.master->empty()) {
      RtnlLinkPtr master = get_kernel_link(sock, *change.master, op + ": master");
      index = rtnl_link_get_ifindex(master.get());
    }
    rtnl_link_set_master(c.get(), index);
    what += " master=" + (change.master->empty() ? std::string("none") : *change.master);
  }
  if (change.up) {
    if (*change.up) {
      rtnl_link_set_flags(c.get(), IFF_UP);
    } else {
      rtnl_link_unset_flags(c.get(), IFF_UP);
    }
    what += *change.up ? " up" : " down";
  }
  if (what.empty()) return;
  if (int err = rtnl_link_change(sock.get(), orig.get(), c.get(), 0); err < 0)
    throw_netlink_error(err, op + " (" + what.substr(1) + ")");
}

void set_link_up(NetlinkSocket& sock, const std::string& name, bool up) {
  change_link(sock, name, LinkChange{.up = up});
}
void set_link_mtu(NetlinkSocket& sock, const std::string& name, uint32_t mtu) {
  change_link(sock, name, LinkChange{.mtu = mtu});
}
void set_link_mac(NetlinkSocket& sock, const std::string& name, const std::string& mac) {
  change_link(sock, name, LinkChange{.mac = mac});
}
void set_link_alias(NetlinkSocket& sock, const std::string& name, const std::string& alias) {
  change_link(sock, name, LinkChange{.alias = alias});
}
void set_link_master(NetlinkSocket& sock, const std::string& name, const std::string& master) {
  change_link(sock, name, LinkChange{.master = master});
}

void set_link_name(NetlinkSocket& sock, const std::string& name, const std::string& new_name) {
  const std::string op = describe(sock, "rename link " + name + " to " + new_name);
  check_link_name(new_name, op);
  RtnlLinkPtr orig = get_kernel_link(sock, name, op);
  const bool was_up = (rtnl_link_get_flags(orig.get()) & IFF_UP) != 0;
  if (was_up) set_link_up(sock, name, false);
  try {
    change_link(sock, name, LinkChange{.name = new_name});
  } catch (...) {
    if (was_up) set_link_up(sock, name, true);
    throw;
  }
  if (was_up) set_link_up(sock, new_name, true);
}

void move_link(NetlinkSocket& sock, const std::string& name, const Netns& target,
               const std::optional<std::string>& new_name) {
  std::string op = describe(sock, "move link " + name) + " to ns " + target.label();
  if (new_name) op += " as " + *new_name;
  if (new_name) check_link_name(*new_name, op);
  RtnlLinkPtr orig = get_kernel_link(sock, name, op);
  RtnlLinkPtr c(rtnl_link_alloc());
  if (!c) throw UnavailableError(op + ": out of memory");
  rtnl_link_set_ns_fd(c.get(), target.fd());
  if (new_name) rtnl_link_set_name(c.get(), new_name->c_str());
  if (int err = rtnl_link_change(sock.get(), orig.get(), c.get(), 0); err < 0)
    throw_netlink_error(err, op);
  internal::log().debug("{}", op);
}

void delete_link(NetlinkSocket& sock, const std::string& name) {
  if (!delete_link_if_exists(sock, name))
    throw NotFoundError(describe(sock, "delete link " + name) + ": no such link");
}

bool delete_link_if_exists(NetlinkSocket& sock, const std::string& name) {
  const std::string op = describe(sock, "delete link " + name);
  check_link_name(name, op);
  RtnlLinkPtr l(rtnl_link_alloc());
  if (!l) throw UnavailableError(op + ": out of memory");
  rtnl_link_set_name(l.get(), name.c_str());
  const int err = rtnl_link_delete(sock.get(), l.get());
  if (err == -NLE_NODEV || err == -NLE_OBJ_NOTFOUND) return false;
  if (err < 0) throw_netlink_error(err, op);
  internal::log().debug("{}", op);
  return true;
}

std::vector<LinkInfo> list_links(NetlinkSocket& sock, std::string_view prefix) {
  const std::string op = describe(sock, "list links");
  NlCachePtr links = link_cache(sock, op);
  NlCachePtr addrs = addr_cache(sock, op);
  std::vector<LinkInfo> out;
  for (nl_object* o = nl_cache_get_first(links.get()); o; o = nl_cache_get_next(o)) {
    auto* l = reinterpret_cast<rtnl_link*>(o);
    const char* name = rtnl_link_get_name(l);
    if (!name || std::string_view(name).substr(0, prefix.size()) != prefix) continue;
    out.push_back(to_info(l, links.get(), addrs.get()));
  }
  std::sort(out.begin(), out.end(),
            [](const LinkInfo& a, const LinkInfo& b) { return a.index < b.index; });
  return out;
}

std::optional<LinkInfo> find_link(NetlinkSocket& sock, const std::string& name) {
  const std::string op = describe(sock, "get link " + name);
  check_link_name(name, op);
  rtnl_link* raw = nullptr;
  const int err = rtnl_link_get_kernel(sock.get(), 0, name.c_str(), &raw);
  if (err == -NLE_NODEV || err == -NLE_OBJ_NOTFOUND) return std::nullopt;
  if (err < 0) throw_netlink_error(err, op);
  RtnlLinkPtr l(raw);
  LinkInfo info = to_info(l.get(), nullptr, nullptr);
  if (int master = rtnl_link_get_master(l.get()); master > 0) {
    rtnl_link* m = nullptr;
    if (rtnl_link_get_kernel(sock.get(), master, nullptr, &m) >= 0) {
      RtnlLinkPtr ml(m);
      if (const char* mn = rtnl_link_get_name(m)) info.master = mn;
    }
  }
  info.addresses = internal::addresses_of(sock, info.index, false, op);
  return info;
}

LinkInfo get_link(NetlinkSocket& sock, const std::string& name) {
  auto info = find_link(sock, name);
  if (!info) throw NotFoundError(describe(sock, "get link " + name) + ": no such link");
  return std::move(*info);
}

int link_index(NetlinkSocket& sock, const std::string& name) {
  RtnlLinkPtr l = get_kernel_link(sock, name, describe(sock, "get link " + name));
  return rtnl_link_get_ifindex(l.get());
}

bool ensure_bridge(NetlinkSocket& sock, const std::string& name, const LinkOptions& options,
                   bool up) {
  const std::string op = describe(sock, "ensure bridge " + name);
  check_link_name(name, op);
  check_options(options, op);
  auto existing = find_link(sock, name);
  if (!existing) {
    try {
      create_bridge(sock, name, options);
      if (up) set_link_up(sock, name, true);
    } catch (const ConflictError&) {
      // Created concurrently by someone else: fall through to reconcile it.
      existing = find_link(sock, name);
      if (!existing) throw;
    } catch (...) {
      delete_link_if_exists(sock, name);
      throw;
    }
    if (!existing) return true;
  }
  if (existing->kind != "bridge")
    throw ConflictError(op + ": a link of kind '" + existing->kind + "' has that name");
  ensure_link(sock, name,
              LinkChange{.mac = options.mac,
                         .mtu = options.mtu,
                         .alias = options.alias,
                         .up = up ? std::optional<bool>(true) : std::nullopt});
  return false;
}

bool ensure_link(NetlinkSocket& sock, const std::string& name, const LinkChange& want) {
  const LinkInfo have = get_link(sock, name);
  LinkChange diff;
  if (want.mac && internal::lower(*want.mac) != have.mac) diff.mac = want.mac;
  if (want.mtu && *want.mtu != have.mtu) diff.mtu = want.mtu;
  if (want.alias && *want.alias != have.alias) diff.alias = want.alias;
  if (want.master && *want.master != have.master) diff.master = want.master;
  if (want.up && *want.up != have.up) diff.up = want.up;
  const bool rename = want.name && *want.name != name;
  if (!diff.mac && !diff.mtu && !diff.alias && !diff.master && !diff.up && !rename) return false;
  change_link(sock, name, diff);
  if (rename) set_link_name(sock, name, *want.name);
  return true;
}

}  // namespace trellis::osl
