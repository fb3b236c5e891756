#pragma once
// Per-namespace sysctls. /proc/sys/net shows the network namespace of the thread that opens
// the file, so every access runs on a dedicated thread inside the namespace (run_in_netns).

#include <string>

#include "osl/netns.h"

namespace trellis::osl {

// Writes `value` to /proc/sys/<key> in `ns`; `key` is a relative path such as
// "net/ipv4/ip_forward" (only "net/..." keys: others are not per-namespace).
// InvalidArgumentError for a malformed key ("..", absolute, not under net/) or a value the
// kernel rejects; NotFoundError if the sysctl does not exist (e.g. a missing interface).
void write_sysctl(const Netns& ns, const std::string& key, const std::string& value);
// The value of /proc/sys/<key> in `ns`, without the trailing newline.
std::string read_sysctl(const Netns& ns, const std::string& key);

// The sysctls the drivers need. `link` is an interface name, "all" or "default".
void set_ip_forward(const Netns& ns, bool on);  // net.ipv4.ip_forward
void set_ipv6_forwarding(const Netns& ns, const std::string& link, bool on);
void set_accept_ra(const Netns& ns, const std::string& link, int value);  // 0, 1 or 2
void set_disable_ipv6(const Netns& ns, const std::string& link, bool disable);
void set_route_localnet(const Netns& ns, const std::string& link, bool on);

}  // namespace trellis::osl
