#include "osl/internal.h"

#include <spdlog/spdlog.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <span>

#include "common/error.h"
#include "common/log.h"
#include "osl/links.h"

namespace trellis::osl::internal {

// The shared component logger (common/log.h): one format and level for the process.
spdlog::logger& log() { return trellis::log("osl"); }

void throw_errno(int err, const std::string& operation) {
  std::string message = operation + ": " + std::strerror(err);
  switch (err) {
    case ENOENT:
    case ENODEV:
      throw NotFoundError(std::move(message));
    case EEXIST:
      throw ConflictError(std::move(message));
    case EINVAL:
    case ERANGE:
      throw InvalidArgumentError(std::move(message));
    case EOPNOTSUPP:
      throw UnavailableError(std::move(message));
    default:
      throw InternalError(std::move(message));
  }
}

}  // namespace trellis::osl::internal

namespace trellis::osl::internal {

NlAddrPtr to_nl_addr(const ipam::IpAddress& ip, int prefixlen) {
  const auto bytes = ip.bytes();
  NlAddrPtr a(nl_addr_build(ip.is_v4() ? AF_INET : AF_INET6, bytes.data(), bytes.size()));
  if (!a) throw UnavailableError("build address " + ip.to_string() + ": out of memory");
  nl_addr_set_prefixlen(a.get(), prefixlen < 0 ? static_cast<int>(ip.bit_width()) : prefixlen);
  return a;
}

std::optional<ipam::IpAddress> ip_from_nl(nl_addr* a) {
  if (!a) return std::nullopt;
  const int family = nl_addr_get_family(a);
  const unsigned len = nl_addr_get_len(a);
  if (!((family == AF_INET && len == 4) || (family == AF_INET6 && len == 16))) return std::nullopt;
  const auto* p = static_cast<const uint8_t*>(nl_addr_get_binary_addr(a));
  return ipam::IpAddress::from_bytes(std::span<const uint8_t>(p, len));
}

std::string format_mac(nl_addr* a) {
  if (!a || nl_addr_get_len(a) != 6) return "";
  const auto* b = static_cast<const unsigned char*>(nl_addr_get_binary_addr(a));
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4],
                b[5]);
  return buf;
}

NlAddrPtr parse_mac(const std::string& mac, const std::string& operation) {
  if (!is_valid_mac(mac))
    throw InvalidArgumentError(operation + ": invalid MAC address '" + mac + "'");
  nl_addr* raw = nullptr;
  if (int err = nl_addr_parse(mac.c_str(), AF_LLC, &raw); err < 0)
    throw_netlink_error(err, operation + ": MAC " + mac);
  return NlAddrPtr(raw);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

void check_link_name(const std::string& name, const std::string& operation) {
  if (!is_valid_link_name(name))
    throw InvalidArgumentError(operation + ": invalid link name '" + name +
                               "' (1-15 bytes, no '/', ':' or whitespace)");
}

RtnlLinkPtr get_kernel_link(NetlinkSocket& sock, const std::string& name,
                            const std::string& operation) {
  check_link_name(name, operation);
  rtnl_link* raw = nullptr;
  const int err = rtnl_link_get_kernel(sock.get(), 0, name.c_str(), &raw);
  if (err == -NLE_NODEV || err == -NLE_OBJ_NOTFOUND)
    throw NotFoundError(operation + ": no link " + name + " " + in_ns(sock));
  if (err < 0) throw_netlink_error(err, operation);
  return RtnlLinkPtr(raw);
}

}  // namespace trellis::osl::internal
