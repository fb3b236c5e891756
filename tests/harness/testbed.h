#pragma once
// Test harness for kernel-touching tests: builds "hosts" (namespaces attached by veth to an
// underlay bridge in the test's own private namespace) and "containers" (bare namespaces, or
// namespaces wired by veth to a bridge inside a host), using osl only, and removes all of it
// in its destructor.
//
// Safety: the test process must run inside tests/harness/in-private-netns.sh (ctest WRAPPER),
// which unshares a private network + mount namespace, mounts a private tmpfs on /run and sets
// TRELLIS_PRIVATE_NETNS=1 and TRELLIS_TEST_RUN_DIR. require_private_netns() (called by the
// Testbed constructor; call it in every kernel test's SetUp) aborts the process otherwise, so
// a test run by hand can never touch the machine's own network.
//
// Layout (prefix P, default "tb"):
//   test namespace ("root of the test"): bridge "<P>ul0" 192.0.2.1/24, up; one veth end
//     "<P>h<i>" per host enslaved to it.
//   host i (i = 1, 2, ...): namespace file <run_dir>/<P>-h<i>, its veth end "eth0" with MAC
//     02:00:c0:00:02:<10+i>, address 192.0.2.(10+i)/24, up; loopback up.
//   container j: namespace file <run_dir>/<P>-c<j>; attach_container() gives it an "eth0".
// Names stay within the kernel's 15-byte limit for prefixes of up to 6 characters.
// Threads: a Testbed is used from one thread (the test's).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ipam/ip.h"
#include "osl/netlink.h"
#include "osl/netns.h"

namespace trellis::testing {

// Aborts the process (with a message on stderr) unless it runs in a private network namespace
// created by in-private-netns.sh: TRELLIS_PRIVATE_NETNS=1 and a network namespace different
// from PID 1's.
void require_private_netns();

// Directory for the tests' named namespace files: $TRELLIS_TEST_RUN_DIR/netns (a private tmpfs
// under the wrapper), or /run/trellis-test/netns.
std::string test_netns_dir();

class Testbed {
 public:
  struct Host {
    int index = 0;                // 1-based
    std::string name;             // "<P>-h<i>" (namespace file name)
    osl::Netns ns;                // the host's namespace
    ipam::IpAddress underlay_ip;  // 192.0.2.(10+i)
    std::string underlay_link;    // "eth0" (inside the host)
    std::string bridge_port;      // "<P>h<i>" (in the test namespace, on the underlay bridge)
  };
  struct Container {
    int index = 0;     // 1-based
    std::string name;  // "<P>-c<j>"
    osl::Netns ns;
  };

  // `prefix`: 1-6 characters of [a-z0-9], distinct per Testbed alive at the same time in one
  // process. Creates the underlay bridge. Throws trellis::Error on failure (after cleaning up).
  explicit Testbed(std::string prefix = "tb");
  ~Testbed();  // removes every namespace and link it created (errors are logged, not thrown)
  Testbed(const Testbed&) = delete;
  Testbed& operator=(const Testbed&) = delete;

  const std::string& prefix() const { return prefix_; }
  // The namespace the test runs in (the private root of the test) and its bridge.
  const osl::Netns& test_ns() const { return test_ns_; }
  const std::string& underlay_bridge() const { return bridge_; }
  static ipam::IpAddress underlay_gateway() { return ipam::IpAddress::parse("192.0.2.1"); }
  const std::string& netns_dir() const { return netns_dir_; }

  // A new host on the underlay (see the layout above). At most 200 hosts.
  Host& add_host();
  // A new bare container namespace (loopback up).
  Container& add_container();

  // Wires a container into a host: a veth pair whose host end "<P>v<n>" (n counts attachments)
  // is created in the host
  // namespace, enslaved to `bridge` (which must exist there) and up, and whose other end is
  // created directly in the container as `ifname`, with `mac` (optional), `mtu` (optional),
  // `address`, up, and a default route via `gateway` if given. Uses osl's
  // setup_container_interface, so a failure leaves nothing behind.
  void attach_container(const Container& container, const Host& host, const std::string& bridge,
                        const ipam::InterfaceAddress& address,
                        const std::optional<std::string>& mac = std::nullopt,
                        const std::optional<uint32_t>& mtu = std::nullopt,
                        const std::optional<ipam::IpAddress>& gateway = std::nullopt,
                        const std::string& ifname = "eth0");

  // A netlink socket bound to a host's / container's / the test's namespace.
  osl::NetlinkSocket socket(const Host& host) const { return osl::NetlinkSocket(host.ns); }
  osl::NetlinkSocket socket(const Container& c) const { return osl::NetlinkSocket(c.ns); }
  osl::NetlinkSocket test_socket() const { return osl::NetlinkSocket(test_ns_); }

  const std::vector<std::unique_ptr<Host>>& hosts() const { return hosts_; }
  const std::vector<std::unique_ptr<Container>>& containers() const { return containers_; }

  // Removes everything now (the destructor calls it). Idempotent.
  void cleanup();
  // What of this Testbed still exists: namespace files "<run_dir>/<P>-..." and links "<P>..."
  // in the test namespace. Empty after cleanup().
  std::vector<std::string> leftovers() const;

 private:
  std::string prefix_;
  std::string netns_dir_;
  osl::Netns test_ns_;
  std::string bridge_;
  std::vector<std::unique_ptr<Host>> hosts_;
  std::vector<std::unique_ptr<Container>> containers_;
  int veth_count_ = 0;  // for unique names of attach_container's host ends
};

// Runs `argv` (argv[0] looked up in PATH) inside `ns` — on a dedicated thread that enters `ns`
// and forks — and returns its exit status (-1 if it could not run). Output goes to the test's
// stdout/stderr unless `quiet`. For tools like ping that the tests use as real traffic.
int run_command_in(const osl::Netns& ns, const std::vector<std::string>& argv, bool quiet = true);

}  // namespace trellis::testing
