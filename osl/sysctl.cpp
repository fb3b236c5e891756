#include "osl/sysctl.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "osl/internal.h"
#include "osl/links.h"

namespace trellis::osl {

namespace {

void check_key(const std::string& key, const std::string& op) {
  bool ok = key.rfind("net/", 0) == 0 && key.size() > 4 && key.back() != '/';
  for (size_t start = 0; ok && start <= key.size();) {
    const size_t end = std::min(key.find('/', start), key.size());
    const std::string_view part(key.data() + start, end - start);
    if (part.empty() || part == "." || part == "..") ok = false;
    start = end + 1;
  }
  for (char c : key) {
    if (c == '\0' || c == '\n') ok = false;
  }
  if (!ok) throw InvalidArgumentError(op + ": invalid sysctl key (want net/...)");
}

std::string conf_key(const char* family, const std::string& link, const char* name,
                     const std::string& op) {
  if (link != "all" && link != "default" && !is_valid_link_name(link))
    throw InvalidArgumentError(op + ": invalid link name '" + link + "'");
  return std::string("net/") + family + "/conf/" + link + "/" + name;
}

}  // namespace

void write_sysctl(const Netns& ns, const std::string& key, const std::string& value) {
  const std::string op = "set sysctl " + key + "=" + value + " in ns " + ns.label();
  check_key(key, op);
  run_in_netns(ns, [&] {
    const std::string path = "/proc/sys/" + key;
    internal::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (fd.get() < 0) {
      if (errno == ENOENT) throw NotFoundError(op + ": no such sysctl");
      internal::throw_errno(errno, op);
    }
    if (::write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size()))
      internal::throw_errno(errno, op);
  });
}

std::string read_sysctl(const Netns& ns, const std::string& key) {
  const std::string op = "read sysctl " + key + " in ns " + ns.label();
  check_key(key, op);
  return run_in_netns(ns, [&] {
    const std::string path = "/proc/sys/" + key;
    internal::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
      if (errno == ENOENT) throw NotFoundError(op + ": no such sysctl");
      internal::throw_errno(errno, op);
    }
    std::string value;
    char buf[256];
    for (;;) {
      const ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n < 0) internal::throw_errno(errno, op);
      if (n == 0) break;
      value.append(buf, static_cast<size_t>(n));
    }
    while (!value.empty() && value.back() == '\n') value.pop_back();
    return value;
  });
}

void set_ip_forward(const Netns& ns, bool on) {
  write_sysctl(ns, "net/ipv4/ip_forward", on ? "1" : "0");
}

void set_ipv6_forwarding(const Netns& ns, const std::string& link, bool on) {
  const std::string op = "set ipv6 forwarding on " + link + " in ns " + ns.label();
  write_sysctl(ns, conf_key("ipv6", link, "forwarding", op), on ? "1" : "0");
}

void set_accept_ra(const Netns& ns, const std::string& link, int value) {
  const std::string op = "set accept_ra on " + link + " in ns " + ns.label();
  if (value < 0 || value > 2) throw InvalidArgumentError(op + ": value must be 0, 1 or 2");
  write_sysctl(ns, conf_key("ipv6", link, "accept_ra", op), std::to_string(value));
}

void set_disable_ipv6(const Netns& ns, const std::string& link, bool disable) {
  const std::string op = "set disable_ipv6 on " + link + " in ns " + ns.label();
  write_sysctl(ns, conf_key("ipv6", link, "disable_ipv6", op), disable ? "1" : "0");
}

void set_route_localnet(const Netns& ns, const std::string& link, bool on) {
  const std::string op = "set route_localnet on " + link + " in ns " + ns.label();
  write_sysctl(ns, conf_key("ipv4", link, "route_localnet", op), on ? "1" : "0");
}

}  // namespace trellis::osl
