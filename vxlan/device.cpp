#include "vxlan/device.h"

#include <arpa/inet.h>
#include <linux/if.h>
#include <netlink/errno.h>
#include <netlink/route/link.h>
#include <netlink/route/link/vxlan.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "common/error.h"
#include "osl/links.h"
#include "vxlan/netlink_util.h"

namespace trellis::vxlan {

namespace {

bool valid_link_name(const std::string& name) {
  if (name.empty() || name.size() > 15 || name == "." || name == "..") return false;
  return std::none_of(name.begin(), name.end(), [](unsigned char c) {
    return c == '/' || c == ':' || std::isspace(c) || !std::isprint(c);
  });
}

// Reads a VxlanInfo out of a link the kernel returned; nullopt if it is not a VXLAN device.
std::optional<VxlanInfo> to_info(rtnl_link* link) {
  if (!rtnl_link_is_vxlan(link)) return std::nullopt;
  VxlanInfo info;
  info.name = rtnl_link_get_name(link) ? rtnl_link_get_name(link) : "";
  info.ifindex = rtnl_link_get_ifindex(link);
  rtnl_link_vxlan_get_id(link, &info.vni);
  nl_addr* raw_local = nullptr;
  if (rtnl_link_vxlan_get_local(link, &raw_local) == 0 && raw_local) {
    osl::NlAddrPtr local(raw_local);
    if (nl_addr_get_family(local.get()) == AF_INET && nl_addr_get_len(local.get()) == 4) {
      uint32_t net = 0;
      std::memcpy(&net, nl_addr_get_binary_addr(local.get()), 4);
      info.local = Ipv4Address{ntohl(net)};
    }
  }
  uint32_t port = 0;
  if (rtnl_link_vxlan_get_port(link, &port) == 0) info.port = static_cast<uint16_t>(port);
  info.mtu = rtnl_link_get_mtu(link);
  info.learning = rtnl_link_vxlan_get_learning(link) > 0;
  info.proxy_arp = rtnl_link_vxlan_get_proxy(link) > 0;
  info.up = (rtnl_link_get_flags(link) & IFF_UP) != 0;
  if (const char* alias = rtnl_link_get_ifalias(link)) info.alias = alias;
  if (nl_addr* mac = rtnl_link_get_addr(link); mac && nl_addr_get_len(mac) == 6) {
    std::memcpy(info.mac.bytes.data(), nl_addr_get_binary_addr(mac), 6);
  }
  return info;
}

std::string describe(const VxlanConfig& c) {
  return "vxlan " + c.name + " (vni " + std::to_string(c.vni) + ", local " + c.local.to_string() +
         ", port " + std::to_string(c.port) + ")";
}

}  // namespace

void validate_config(const VxlanConfig& config) {
  if (!valid_link_name(config.name)) {
    throw InvalidArgumentError("invalid VXLAN device name '" + config.name +
                               "': 1..15 printable characters, no '/', ':' or spaces");
  }
  try {
    validate_vni(config.vni);
  } catch (const InvalidArgumentError& e) {
    throw InvalidArgumentError("create vxlan " + config.name + ": " + e.what());
  }
  if (config.local.is_unspecified()) {
    throw InvalidArgumentError("create vxlan " + config.name +
                               ": a local (source) address is required");
  }
  if (config.port == 0) {
    throw InvalidArgumentError("create vxlan " + config.name + ": UDP port 0 is not valid");
  }
  if (config.alias.size() > 255) {
    throw InvalidArgumentError("create vxlan " + config.name + ": alias longer than 255 bytes");
  }
  if (config.mtu != 0 && (config.mtu < 68 || config.mtu > 65535)) {
    throw InvalidArgumentError("create vxlan " + config.name + ": MTU " +
                               std::to_string(config.mtu) + " is out of range 68..65535");
  }
}

void create_vxlan(osl::NetlinkSocket& create_sock, const VxlanConfig& config,
                  const osl::Netns* move_to) {
  validate_config(config);
  const std::string operation = "create " + describe(config) + " " + osl::in_ns(create_sock);

  osl::RtnlLinkPtr link(rtnl_link_vxlan_alloc());
  if (!link) throw UnavailableError(operation + ": out of memory");
  rtnl_link_set_name(link.get(), config.name.c_str());
  osl::NlAddrPtr local = internal::to_nl_addr(config.local);
  // The libnl setters fail only for a link that is not a VXLAN, which this one is.
  rtnl_link_vxlan_set_id(link.get(), config.vni);
  rtnl_link_vxlan_set_local(link.get(), local.get());
  rtnl_link_vxlan_set_port(link.get(), config.port);
  // Peers are programmed statically; a learning device would also add entries from
  // received traffic, which sync would then have to fight.
  rtnl_link_vxlan_set_learning(link.get(), 0);
  rtnl_link_vxlan_set_proxy(link.get(), config.proxy_arp ? 1 : 0);
  if (config.mtu != 0) rtnl_link_set_mtu(link.get(), config.mtu);

  if (int err = rtnl_link_add(create_sock.get(), link.get(), NLM_F_CREATE | NLM_F_EXCL); err < 0) {
    osl::throw_netlink_error(err, operation);
  }

  // From here on the device exists: any failure deletes it again before reporting.
  try {
    if (!config.alias.empty()) osl::set_link_alias(create_sock, config.name, config.alias);
    if (move_to != nullptr) osl::move_link(create_sock, config.name, *move_to);
  } catch (const Error& e) {
    try {
      osl::delete_link_if_exists(create_sock, config.name);
    } catch (const Error& cleanup) {
      internal::log().error("{}: rollback failed, device may be left behind: {}", operation,
                            cleanup.what());
    }
    throw;
  }
  internal::log().info("created {} {}{}", describe(config), osl::in_ns(create_sock),
                       move_to ? " and moved it to ns " + move_to->label() : std::string());
}

std::optional<VxlanInfo> find_vxlan(osl::NetlinkSocket& sock, const std::string& name) {
  const std::string operation = "look up vxlan " + internal::where(sock, name);
  if (!valid_link_name(name)) throw InvalidArgumentError(operation + ": invalid device name");
  rtnl_link* raw = nullptr;
  const int err = rtnl_link_get_kernel(sock.get(), 0, name.c_str(), &raw);
  osl::RtnlLinkPtr link(raw);
  if (err == -NLE_NODEV || err == -NLE_OBJ_NOTFOUND) return std::nullopt;
  if (err < 0) osl::throw_netlink_error(err, operation);
  auto info = to_info(link.get());
  if (!info) throw ConflictError(operation + ": the device exists but is not a VXLAN device");
  return info;
}

std::vector<VxlanInfo> list_vxlans(osl::NetlinkSocket& sock) {
  nl_cache* raw = nullptr;
  if (int err = rtnl_link_alloc_cache(sock.get(), AF_UNSPEC, &raw); err < 0) {
    osl::throw_netlink_error(err, "list vxlan devices " + osl::in_ns(sock));
  }
  osl::NlCachePtr cache(raw);
  std::vector<VxlanInfo> out;
  for (nl_object* obj = nl_cache_get_first(cache.get()); obj; obj = nl_cache_get_next(obj)) {
    if (auto info = to_info(reinterpret_cast<rtnl_link*>(obj))) out.push_back(std::move(*info));
  }
  std::sort(out.begin(), out.end(),
            [](const VxlanInfo& a, const VxlanInfo& b) { return a.name < b.name; });
  return out;
}

bool delete_vxlan(osl::NetlinkSocket& sock, const std::string& name) {
  if (!find_vxlan(sock, name)) return false;
  const bool deleted = osl::delete_link_if_exists(sock, name);
  if (deleted) internal::log().info("deleted vxlan {}", internal::where(sock, name));
  return deleted;
}

}  // namespace trellis::vxlan
