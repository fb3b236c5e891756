// End to end: a two-host VXLAN overlay built only from osl + vxlan calls (and the test
// harness), proven with real pings (iputils) between containers.
//
// Per host (a namespace on the underlay bridge, 192.0.2.0/24), as the overlay driver lays it
// out: an overlay namespace holding a bridge and the VXLAN device (VNI 42), which is created in
// the host namespace — where its UDP socket stays — and moved into the overlay namespace; two
// containers with veth pairs into the bridge, addresses in 10.10.0.0/24. Each host's VXLAN
// device gets an FDB and a neighbour entry per remote container (sync_peers), so ARP is
// answered locally (proxy ARP) and nothing floods.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "ipam/ip.h"
#include "osl/container_interface.h"
#include "osl/links.h"
#include "osl/neighbors.h"
#include "osl/netlink.h"
#include "osl/netns.h"
#include "tests/harness/testbed.h"
#include "vxlan/device.h"
#include "vxlan/tables.h"

extern char** environ;

namespace trellis::vxlan {
namespace {

using testing::Testbed;

constexpr uint32_t kVni = 42;
constexpr uint32_t kOverlayMtu = 1450;  // underlay 1500 - 50

// Runs `ping -c1 -W1 <target>` inside the namespace bound at `netns_path`, entered with
// `nsenter --net=` (which, unlike `ip netns exec`, does not remount /sys). True if answered.
bool ping(const std::string& netns_path, const std::string& target) {
  const std::string net_arg = "--net=" + netns_path;
  std::vector<std::string> args = {"nsenter", net_arg, "ping", "-c1", "-W1", "-q", target};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, "nsenter", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return false;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

struct Endpoint {
  Testbed::Container* container = nullptr;
  int host = 0;  // index into Site list
  MacAddress mac;
  Ipv4Address ip;
};

struct Site {
  Testbed::Host* host = nullptr;
  Testbed::Container* overlay = nullptr;  // the overlay namespace of this host
};

class VxlanEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::require_private_netns();
    tb_ = std::make_unique<Testbed>("vxe");
  }

  std::string path(const Testbed::Container& c) const { return tb_->netns_dir() + "/" + c.name; }

  // Host namespace + overlay namespace with bridge "br0" and VXLAN "vx0" enslaved, all up.
  Site build_site() {
    Site site;
    site.host = &tb_->add_host();
    site.overlay = &tb_->add_container();
    osl::NetlinkSocket host_sock = tb_->socket(*site.host);
    osl::NetlinkSocket ov_sock = tb_->socket(*site.overlay);

    osl::LinkOptions bridge_options;
    bridge_options.mtu = kOverlayMtu;
    osl::create_bridge(ov_sock, "br0", bridge_options);

    VxlanConfig vx;
    vx.name = "vx0";
    vx.vni = kVni;
    vx.local = Ipv4Address::parse(site.host->underlay_ip.to_string());
    vx.mtu = kOverlayMtu;
    vx.proxy_arp = true;
    vx.alias = "e2e overlay";
    create_vxlan(host_sock, vx, &site.overlay->ns);

    osl::set_link_master(ov_sock, "vx0", "br0");
    osl::set_link_up(ov_sock, "vx0", true);
    osl::set_link_up(ov_sock, "br0", true);
    return site;
  }

  // A container on `site` with eth0 = `n`-th address of 10.10.0.0/24, veth into br0.
  Endpoint add_endpoint(const Site& site, int site_index, int n) {
    Endpoint ep;
    ep.container = &tb_->add_container();
    ep.host = site_index;
    ep.mac = MacAddress{{0x02, 0x42, 0x0a, 0x0a, 0x00, static_cast<uint8_t>(n)}};
    ep.ip = Ipv4Address{0x0A0A0000u + static_cast<uint32_t>(n)};

    osl::NetlinkSocket outer = tb_->socket(*site.overlay);
    osl::NetlinkSocket inner = tb_->socket(*ep.container);
    osl::ContainerInterfaceSpec spec;
    spec.outer_name = "ve" + std::to_string(n);
    spec.bridge = "br0";
    spec.mac = ep.mac.to_string();
    spec.mtu = kOverlayMtu;
    spec.addresses = {ipam::InterfaceAddress::parse(ep.ip.to_string() + "/24")};
    osl::setup_container_interface(outer, inner, ep.container->ns, spec);
    return ep;
  }

  // Programs every site's VXLAN device with the endpoints of the other sites.
  void sync_all(const std::vector<Site>& sites, const std::vector<Endpoint>& endpoints,
                const Endpoint* withdrawn = nullptr) {
    for (size_t s = 0; s < sites.size(); ++s) {
      DesiredPeers want;
      for (const Endpoint& ep : endpoints) {
        if (ep.host == static_cast<int>(s) || &ep == withdrawn) continue;
        want.peers.push_back(
            {ep.mac, ep.ip,
             Ipv4Address::parse(
                 sites[static_cast<size_t>(ep.host)].host->underlay_ip.to_string())});
      }
      osl::NetlinkSocket ov_sock = tb_->socket(*sites[s].overlay);
      sync_peers(ov_sock, "vx0", want);
    }
  }

  std::unique_ptr<Testbed> tb_;
};

TEST_F(VxlanEndToEndTest, ContainersOnTwoHostsReachEachOtherOnlyThroughProgrammedPeers) {
  const auto started = std::chrono::steady_clock::now();
  std::vector<Site> sites = {build_site(), build_site()};
  std::vector<Endpoint> endpoints;
  endpoints.reserve(4);
  endpoints.push_back(add_endpoint(sites[0], 0, 11));
  endpoints.push_back(add_endpoint(sites[0], 0, 12));
  endpoints.push_back(add_endpoint(sites[1], 1, 21));
  endpoints.push_back(add_endpoint(sites[1], 1, 22));

  // Before any peer is programmed, the hosts' containers cannot see each other: the VXLAN
  // device is the only path between the overlay namespaces, and it floods nothing.
  EXPECT_FALSE(ping(path(*endpoints[0].container), endpoints[2].ip.to_string()));
  {
    // Forget the unanswered ARP attempt: an entry still INCOMPLETE would hold the next ping's
    // packet until its next probe (up to a second later), longer than ping -W1 waits.
    osl::NetlinkSocket c11 = tb_->socket(*endpoints[0].container);
    osl::delete_neighbor_if_exists(c11, ipam::IpAddress::parse(endpoints[2].ip.to_string()),
                                   "eth0");
  }

  sync_all(sites, endpoints);

  // Each host's device holds exactly the two remote containers.
  for (const Site& site : sites) {
    osl::NetlinkSocket ov_sock = tb_->socket(*site.overlay);
    EXPECT_EQ(list_fdb(ov_sock, "vx0").size(), 2u);
    EXPECT_EQ(list_neighbor_entries(ov_sock, "vx0").size(), 2u);
  }

  // Every container reaches every other one, on its own host and across the overlay.
  for (const Endpoint& from : endpoints) {
    for (const Endpoint& to : endpoints) {
      if (&from == &to) continue;
      EXPECT_TRUE(ping(path(*from.container), to.ip.to_string()))
          << from.ip.to_string() << " -> " << to.ip.to_string();
    }
  }

  // Withdraw 10.10.0.21 (on host 2) from host 1's device: host 1's containers lose it, and
  // only it.
  const Endpoint& gone = endpoints[2];
  sync_all(sites, endpoints, &gone);
  {
    osl::NetlinkSocket ov1 = tb_->socket(*sites[0].overlay);
    EXPECT_EQ(list_fdb(ov1, "vx0").size(), 1u);
    EXPECT_EQ(list_neighbor_entries(ov1, "vx0").size(), 1u);
  }
  EXPECT_FALSE(ping(path(*endpoints[0].container), gone.ip.to_string()));
  EXPECT_TRUE(ping(path(*endpoints[0].container), endpoints[3].ip.to_string()));
  EXPECT_TRUE(ping(path(*endpoints[1].container), endpoints[3].ip.to_string()));
  EXPECT_TRUE(ping(path(*gone.container), endpoints[3].ip.to_string()));  // same host: bridge

  // Leave nothing behind: every namespace file of the test is gone, and so are the devices.
  std::vector<std::string> namespace_paths;
  for (const auto& c : tb_->containers()) namespace_paths.push_back(path(*c));
  for (const auto& h : tb_->hosts()) namespace_paths.push_back(tb_->netns_dir() + "/" + h->name);
  tb_->cleanup();
  EXPECT_TRUE(tb_->leftovers().empty());
  for (const std::string& p : namespace_paths) {
    EXPECT_FALSE(osl::is_netns_file(p)) << p;
    EXPECT_NE(::access(p.c_str(), F_OK), 0) << p;
  }
  EXPECT_TRUE(osl::list_named_netns(tb_->netns_dir(), "vxe").empty());
  const auto elapsed = std::chrono::steady_clock::now() - started;
  RecordProperty(
      "elapsed_ms",
      static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()));
}

}  // namespace
}  // namespace trellis::vxlan
