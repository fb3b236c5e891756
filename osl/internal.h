#pragma once
// Helpers shared by osl's .cpp files (not part of the public API; vxlan must not include it).

#include <unistd.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ipam/ip.h"
#include "osl/netlink.h"
#include "osl/nl_ptr.h"

namespace spdlog {
class logger;
}

namespace trellis::osl::internal {

// The "osl" spdlog logger.
spdlog::logger& log();

// Owns a file descriptor.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_ = -1;
};

// Throws the Trellis error for an errno value: "<operation>: <strerror>". ENOENT/ENODEV ->
// NotFoundError, EEXIST -> ConflictError, EINVAL/ERANGE -> InvalidArgumentError,
// EOPNOTSUPP -> UnavailableError, else InternalError.
[[noreturn]] void throw_errno(int err, const std::string& operation);

// Connects a NETLINK_ROUTE socket in the calling thread's namespace, with extended acks
// recorded for throw_netlink_error.
NlSockPtr connect_route_socket(const std::string& ns_label);

// create_named_netns; if `socket_out` is set, it receives the route socket opened inside the
// new namespace by the creating thread (used by create_named_netns_with_socket).
Netns create_named_netns(const std::string& run_dir, const std::string& name,
                         NlSockPtr* socket_out);

// Sets IFF_UP on link `name` through `sock` (used for "lo" of a new namespace).
void set_link_up_by_name(nl_sock* sock, const std::string& name, const std::string& ns_label);

// The addresses on link `ifindex` (see list_addresses).
std::vector<ipam::InterfaceAddress> addresses_of(NetlinkSocket& sock, int ifindex,
                                                 bool include_link_local,
                                                 const std::string& operation);

// ---- values <-> libnl

// An nl_addr for `ip` with prefix length `prefixlen` (the full width if negative).
NlAddrPtr to_nl_addr(const ipam::IpAddress& ip, int prefixlen = -1);
// The IP address in `a`; nullopt if it is not a 4- or 16-byte IPv4/IPv6 address.
std::optional<ipam::IpAddress> ip_from_nl(nl_addr* a);
// "aa:bb:cc:dd:ee:ff" of a 6-byte link-layer address, "" otherwise.
std::string format_mac(nl_addr* a);
// A link-layer nl_addr; InvalidArgumentError "<operation>: invalid MAC address '...'".
NlAddrPtr parse_mac(const std::string& mac, const std::string& operation);
// Lower-cased copy.
std::string lower(std::string s);

// InvalidArgumentError "<operation>: invalid link name '...'" unless is_valid_link_name.
void check_link_name(const std::string& name, const std::string& operation);
// The kernel's view of link `name`; NotFoundError "<operation>: no link <name> in ns <label>".
RtnlLinkPtr get_kernel_link(NetlinkSocket& sock, const std::string& name,
                            const std::string& operation);

}  // namespace trellis::osl::internal
