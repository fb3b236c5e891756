#include "osl/addresses.h"

#include <linux/if_addr.h>

#include <algorithm>

#include "osl/internal.h"
#include "osl/links.h"

namespace trellis::osl {

namespace {

std::string describe(const NetlinkSocket& sock, const char* verb, const char* preposition,
                     const std::string& link, const ipam::InterfaceAddress& address) {
  return std::string(verb) + " address " + address.to_string() + " " + preposition + " " + link +
         " " + in_ns(sock);
}

RtnlAddrPtr address_object(int ifindex, const ipam::InterfaceAddress& address,
                           const std::string& op) {
  RtnlAddrPtr a(rtnl_addr_alloc());
  if (!a) throw UnavailableError(op + ": out of memory");
  rtnl_addr_set_ifindex(a.get(), ifindex);
  rtnl_addr_set_family(a.get(), address.address.is_v4() ? AF_INET : AF_INET6);
  const int len = static_cast<int>(address.prefix.length());
  NlAddrPtr local = internal::to_nl_addr(address.address, len);
  if (int err = rtnl_addr_set_local(a.get(), local.get()); err < 0) throw_netlink_error(err, op);
  rtnl_addr_set_prefixlen(a.get(), len);
  return a;
}

bool has_address(NetlinkSocket& sock, int ifindex, const ipam::InterfaceAddress& address,
                 const std::string& op) {
  const auto all = internal::addresses_of(sock, ifindex, true, op);
  return std::find(all.begin(), all.end(), address) != all.end();
}

}  // namespace

void add_address(NetlinkSocket& sock, const std::string& link,
                 const ipam::InterfaceAddress& address) {
  const std::string op = describe(sock, "add", "to", link, address);
  const int ifindex = link_index(sock, link);
  RtnlAddrPtr a = address_object(ifindex, address, op);
  if (address.address.is_v6()) rtnl_addr_set_flags(a.get(), IFA_F_NODAD);
  // IPv4: the kernel answers EEXIST for a duplicate itself; IPv6 addresses are replaced
  // silently only with NLM_F_REPLACE, which we never send, so EEXIST too.
  if (int err = rtnl_addr_add(sock.get(), a.get(), NLM_F_EXCL); err < 0)
    throw_netlink_error(err, op);
}

void remove_address(NetlinkSocket& sock, const std::string& link,
                    const ipam::InterfaceAddress& address) {
  if (!remove_address_if_present(sock, link, address))
    throw NotFoundError(describe(sock, "remove", "from", link, address) +
                        ": the link has no such address");
}

std::vector<ipam::InterfaceAddress> list_addresses(NetlinkSocket& sock, const std::string& link,
                                                   bool include_link_local) {
  const std::string op = "list addresses of " + link + " " + in_ns(sock);
  const int ifindex = link_index(sock, link);
  return internal::addresses_of(sock, ifindex, include_link_local, op);
}

bool ensure_address(NetlinkSocket& sock, const std::string& link,
                    const ipam::InterfaceAddress& address) {
  const std::string op = describe(sock, "ensure", "on", link, address);
  const int ifindex = link_index(sock, link);
  if (has_address(sock, ifindex, address, op)) return false;
  try {
    add_address(sock, link, address);
  } catch (const ConflictError&) {
    // Added meanwhile, or present with another prefix length (the kernel keys IPv4 addresses
    // by address and prefix, so that is a real conflict): decide by reading back.
    if (has_address(sock, ifindex, address, op)) return false;
    throw;
  }
  return true;
}

bool remove_address_if_present(NetlinkSocket& sock, const std::string& link,
                               const ipam::InterfaceAddress& address) {
  const std::string op = describe(sock, "remove", "from", link, address);
  const int ifindex = link_index(sock, link);
  RtnlAddrPtr a = address_object(ifindex, address, op);
  const int err = rtnl_addr_delete(sock.get(), a.get(), 0);
  if (err == -NLE_NOADDR || err == -NLE_OBJ_NOTFOUND) return false;
  if (err < 0) throw_netlink_error(err, op);
  return true;
}

}  // namespace trellis::osl
