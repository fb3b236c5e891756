#include "tests/harness/testbed.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "osl/addresses.h"
#include "osl/container_interface.h"
#include "osl/links.h"

namespace trellis::testing {

namespace {

std::string own_netns_id() {
  std::error_code ec;
  const auto target = std::filesystem::read_symlink("/proc/thread-self/ns/net", ec);
  return ec ? std::string() : target.string();
}

bool valid_prefix(const std::string& prefix) {
  if (prefix.empty() || prefix.size() > 6) return false;
  for (char c : prefix) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

}  // namespace

void require_private_netns() {
  const char* flag = std::getenv("TRELLIS_PRIVATE_NETNS");
  const char* outer = std::getenv("TRELLIS_OUTER_NETNS");
  const std::string here = own_netns_id();
  if (flag && std::string(flag) == "1" && outer && *outer && !here.empty() && here != outer) return;
  std::fprintf(stderr,
               "FATAL: this kernel test must run inside tests/harness/in-private-netns.sh "
               "(a private network + mount namespace); refusing to touch this namespace.\n");
  std::fflush(stderr);
  std::abort();
}

std::string test_netns_dir() {
  const char* dir = std::getenv("TRELLIS_TEST_RUN_DIR");
  return std::string(dir && *dir ? dir : "/run/trellis-test") + "/netns";
}

Testbed::Testbed(std::string prefix)
    : prefix_(std::move(prefix)), netns_dir_(test_netns_dir()), test_ns_([] {
        require_private_netns();
        return osl::Netns::current();
      }()) {
  if (!valid_prefix(prefix_))
    throw InvalidArgumentError("testbed prefix '" + prefix_ + "': want 1-6 of [a-z0-9]");
  bridge_ = prefix_ + "ul0";
  try {
    osl::NetlinkSocket sock(test_ns_);
    osl::create_bridge(sock, bridge_);
    osl::add_address(sock, bridge_, ipam::InterfaceAddress::parse("192.0.2.1/24"));
    osl::set_link_up(sock, bridge_, true);
  } catch (...) {
    cleanup();
    throw;
  }
}

Testbed::~Testbed() { cleanup(); }

Testbed::Host& Testbed::add_host() {
  const int i = static_cast<int>(hosts_.size()) + 1;
  if (i > 200) throw InvalidArgumentError("testbed: at most 200 hosts");
  auto host = std::make_unique<Host>(Host{
      .index = i,
      .name = prefix_ + "-h" + std::to_string(i),
      .ns = osl::create_named_netns(netns_dir_, prefix_ + "-h" + std::to_string(i)),
      .underlay_ip = ipam::IpAddress::v4(0xC0000200u + 10u + static_cast<uint32_t>(i)),
      .underlay_link = "eth0",
      .bridge_port = prefix_ + "h" + std::to_string(i),
  });
  try {
    char mac[18];
    std::snprintf(mac, sizeof mac, "02:00:c0:00:02:%02x", 10 + i);
    osl::NetlinkSocket outer(test_ns_);
    osl::NetlinkSocket inner(host->ns);
    osl::setup_container_interface(
        outer, inner, host->ns,
        osl::ContainerInterfaceSpec{
            .outer_name = host->bridge_port,
            .outer_alias = "testbed host " + host->name,
            .bridge = bridge_,
            .inner_name = host->underlay_link,
            .mac = std::string(mac),
            .addresses = {ipam::InterfaceAddress{host->underlay_ip,
                                                 ipam::Prefix::containing(host->underlay_ip, 24)}},
        });
  } catch (...) {
    osl::delete_named_netns(netns_dir_, host->name);
    throw;
  }
  hosts_.push_back(std::move(host));
  return *hosts_.back();
}

Testbed::Container& Testbed::add_container() {
  const int j = static_cast<int>(containers_.size()) + 1;
  const std::string name = prefix_ + "-c" + std::to_string(j);
  containers_.push_back(std::make_unique<Container>(
      Container{.index = j, .name = name, .ns = osl::create_named_netns(netns_dir_, name)}));
  return *containers_.back();
}

void Testbed::attach_container(const Container& container, const Host& host,
                               const std::string& bridge, const ipam::InterfaceAddress& address,
                               const std::optional<std::string>& mac,
                               const std::optional<uint32_t>& mtu,
                               const std::optional<ipam::IpAddress>& gateway,
                               const std::string& ifname) {
  osl::NetlinkSocket outer(host.ns);
  osl::NetlinkSocket inner(container.ns);
  osl::ContainerInterfaceSpec spec{
      .outer_name = prefix_ + "v" + std::to_string(++veth_count_),
      .outer_alias = "testbed container " + container.name,
      .bridge = bridge,
      .inner_name = ifname,
      .mac = mac,
      .mtu = mtu,
      .addresses = {address},
  };
  if (gateway && gateway->is_v4()) spec.gateway = gateway;
  if (gateway && gateway->is_v6()) spec.gateway6 = gateway;
  osl::setup_container_interface(outer, inner, container.ns, spec);
}

void Testbed::cleanup() {
  auto warn = [](const std::string& what, const std::exception& e) {
    std::fprintf(stderr, "testbed cleanup: %s: %s\n", what.c_str(), e.what());
  };
  // Links of the test namespace first, synchronously: a namespace's own links disappear only
  // when the kernel gets round to destroying it, which is asynchronous.
  try {
    osl::NetlinkSocket sock(test_ns_);
    for (const auto& link : osl::list_links(sock, prefix_)) {
      try {
        osl::delete_link_if_exists(sock, link.name);
      } catch (const std::exception& e) {
        warn("delete link " + link.name, e);
      }
    }
  } catch (const std::exception& e) {
    warn("list links", e);
  }
  std::vector<std::string> names;
  for (const auto& c : containers_) names.push_back(c->name);
  for (const auto& h : hosts_) names.push_back(h->name);
  containers_.clear();  // closes the namespace fds
  hosts_.clear();
  try {
    for (const auto& name : osl::list_named_netns(netns_dir_, prefix_ + "-")) names.push_back(name);
  } catch (const std::exception& e) {
    warn("list namespaces", e);
  }
  for (const auto& name : names) {
    try {
      osl::delete_named_netns(netns_dir_, name);
    } catch (const std::exception& e) {
      warn("delete namespace " + name, e);
    }
  }
}

std::vector<std::string> Testbed::leftovers() const {
  std::vector<std::string> out;
  for (const auto& name : osl::list_named_netns(netns_dir_, prefix_ + "-"))
    out.push_back("namespace " + netns_dir_ + "/" + name);
  osl::NetlinkSocket sock(test_ns_);
  for (const auto& link : osl::list_links(sock, prefix_)) out.push_back("link " + link.name);
  return out;
}

int run_command_in(const osl::Netns& ns, const std::vector<std::string>& argv, bool quiet) {
  if (argv.empty()) throw InvalidArgumentError("run_command_in: empty command");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  return osl::run_in_netns(ns, [&]() -> int {
    const pid_t pid = ::fork();
    if (pid < 0) return -1;
    if (pid == 0) {
      // Child of a multi-threaded process: only async-signal-safe calls until exec.
      if (quiet) {
        const int devnull = ::open("/dev/null", O_WRONLY);
        if (devnull >= 0) {
          ::dup2(devnull, 1);
          ::dup2(devnull, 2);
        }
      }
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
      if (errno != EINTR) return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  });
}

}  // namespace trellis::testing
